//! The sandbox's own endpoints, for tests and operators; no GHL authentication, never faulted
//! or logged. JSON bodies use snake_case and are strict about unknown fields.
//!
//! | route | does |
//! |---|---|
//! | `GET /healthz` | 200 `ok` |
//! | `GET /metrics` | Prometheus text |
//! | `GET /_sandbox/requests?since=<seq>&limit=<n>` | `{requests: [RequestRecord]}` |
//! | `GET /_sandbox/requests/counts` | `{counts: [RequestCount]}` per method, route, status |
//! | `DELETE /_sandbox/requests` | forget the log and counts (204) |
//! | `GET /_sandbox/locations` | `{locations: [LocationView]}` |
//! | `POST /_sandbox/locations` | create one from a `NewLocation` (201 `LocationView`) |
//! | `GET /_sandbox/locations/{id}` | `LocationView` |
//! | `GET /_sandbox/locations/{id}/contacts` | `{contacts: [ContactView]}` |
//! | `GET /_sandbox/locations/{id}/entities` | `LocationEntities` (tags, businesses, tasks, notes, ...) |
//! | `POST /_sandbox/locations/{id}/seed` | add users, campaigns, workflows, appointments (`LocationSeed`) |
//! | `GET /_sandbox/faults` | `{faults: [FaultView]}` |
//! | `POST /_sandbox/faults` | add a `FaultSpec` (201 `FaultView`) |
//! | `DELETE /_sandbox/faults` | remove all (`{cleared: n}`) |
//! | `DELETE /_sandbox/faults/{id}` | remove one (204, 404) |
//! | `GET /_sandbox/clock` | `{now, mode}` |
//! | `POST /_sandbox/clock` | `{advance_ms}`: move the clock forward |
//! | `GET /_sandbox/search` | `{index_lag_ms, pending}` |
//! | `PUT /_sandbox/search` | `{index_lag_ms}`: change the index lag |
//! | `POST /_sandbox/oauth/apps` | register an app (`NewOAuthApp`, 201 `OAuthAppView`) |
//! | `POST /_sandbox/oauth/codes` | install an app in a location, or with `company_id` for an agency, and issue the authorization code (`NewAuthCode`, 201 `AuthCodeView`) |
//! | `GET /_sandbox/oauth/tokens` | `{tokens: [AccessTokenView]}` |
//! | `POST /_sandbox/oauth/expire` | `{token?, location_id?}`: force expiry (`{expired: n}`) |
//! | `GET /_sandbox/shift4shop/stores` | `{stores: [ShopView]}` |
//! | `POST /_sandbox/shift4shop/stores` | create one from a `NewShop` (201 `ShopView`) |
//! | `POST /_sandbox/reset` | back to the initial state (204) |

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::entities::{LocationEntities, LocationSeed};
use crate::error::{Error, Result};
use crate::faults::{FaultSpec, FaultView};
use crate::oauth::{AuthCodeView, NewAuthCode, NewOAuthApp, OAuthAppView};
use crate::shift4shop::{NewShop, ShopView};
use crate::state::SandboxState;
use crate::store::{LocationView, NewLocation};

/// The control and probe routes.
pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/_sandbox/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/_sandbox/requests/counts", get(request_counts))
        .route(
            "/_sandbox/locations",
            get(list_locations).post(create_location),
        )
        .route("/_sandbox/locations/{locationId}", get(get_location))
        .route(
            "/_sandbox/locations/{locationId}/contacts",
            get(location_contacts),
        )
        .route(
            "/_sandbox/locations/{locationId}/entities",
            get(location_entities),
        )
        .route("/_sandbox/locations/{locationId}/seed", post(seed_location))
        .route(
            "/_sandbox/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_sandbox/faults/{id}", delete(remove_fault))
        .route("/_sandbox/clock", get(get_clock).post(advance_clock))
        .route("/_sandbox/search", get(get_search).put(set_search))
        .route("/_sandbox/oauth/apps", post(add_app))
        .route("/_sandbox/oauth/codes", post(issue_code))
        .route("/_sandbox/oauth/tokens", get(oauth_tokens))
        .route("/_sandbox/oauth/expire", post(expire_tokens))
        .route(
            "/_sandbox/shift4shop/stores",
            get(list_shops).post(add_shop),
        )
        .route("/_sandbox/reset", post(reset))
}

/// Reads a control body; an empty body is `{}`.
fn control_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| Error::Control(e.to_string()))
}

fn location_not_found() -> Error {
    Error::NotFound("Location not found".into())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics() -> String {
    relay_common::metrics::install().render()
}

/// Filters of `GET /_sandbox/requests`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RequestsQuery {
    /// Only records with a greater `seq`.
    since: u64,
    /// At most this many records.
    limit: Option<usize>,
}

async fn list_requests(
    State(state): State<SandboxState>,
    query: std::result::Result<Query<RequestsQuery>, QueryRejection>,
) -> Result<Json<Value>> {
    let Query(q) = query.map_err(|e| Error::Control(e.body_text()))?;
    let mut requests = state.requests_since(q.since);
    if let Some(limit) = q.limit {
        requests.truncate(limit);
    }
    Ok(Json(json!({ "requests": requests })))
}

async fn request_counts(State(state): State<SandboxState>) -> Json<Value> {
    Json(json!({ "counts": state.request_counts() }))
}

async fn clear_requests(State(state): State<SandboxState>) -> StatusCode {
    state.clear_requests();
    StatusCode::NO_CONTENT
}

async fn list_locations(State(state): State<SandboxState>) -> Json<Value> {
    Json(json!({ "locations": state.locations() }))
}

async fn create_location(
    State(state): State<SandboxState>,
    body: Bytes,
) -> Result<(StatusCode, Json<LocationView>)> {
    let new: NewLocation = control_body(&body)?;
    Ok((StatusCode::CREATED, Json(state.add_location(new)?)))
}

async fn get_location(
    State(state): State<SandboxState>,
    Path(location_id): Path<String>,
) -> Result<Json<LocationView>> {
    state
        .location(&location_id)
        .map(Json)
        .ok_or_else(location_not_found)
}

async fn location_contacts(
    State(state): State<SandboxState>,
    Path(location_id): Path<String>,
) -> Result<Json<Value>> {
    if state.location(&location_id).is_none() {
        return Err(location_not_found());
    }
    Ok(Json(json!({ "contacts": state.contacts(&location_id) })))
}

async fn location_entities(
    State(state): State<SandboxState>,
    Path(location_id): Path<String>,
) -> Result<Json<LocationEntities>> {
    state
        .location_entities(&location_id)
        .map(Json)
        .ok_or_else(location_not_found)
}

async fn seed_location(
    State(state): State<SandboxState>,
    Path(location_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<LocationEntities>)> {
    let seed: LocationSeed = control_body(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(state.seed_location(&location_id, seed)?),
    ))
}

async fn list_faults(State(state): State<SandboxState>) -> Json<Value> {
    Json(json!({ "faults": state.faults() }))
}

async fn add_fault(
    State(state): State<SandboxState>,
    body: Bytes,
) -> Result<(StatusCode, Json<FaultView>)> {
    let spec: FaultSpec = control_body(&body)?;
    Ok((StatusCode::CREATED, Json(state.inject_fault(spec)?)))
}

async fn clear_faults(State(state): State<SandboxState>) -> Json<Value> {
    Json(json!({ "cleared": state.clear_faults() }))
}

async fn remove_fault(
    State(state): State<SandboxState>,
    Path(id): Path<u64>,
) -> Result<StatusCode> {
    if state.remove_fault(id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound("Fault not found".into()))
    }
}

fn clock_view(state: &SandboxState) -> Value {
    let clock = state.clock();
    let now = clock
        .now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    json!({ "now": now, "mode": clock.mode() })
}

async fn get_clock(State(state): State<SandboxState>) -> Json<Value> {
    Json(clock_view(&state))
}

/// `POST /_sandbox/clock` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    /// Milliseconds to move forward.
    advance_ms: u64,
}

async fn advance_clock(State(state): State<SandboxState>, body: Bytes) -> Result<Json<Value>> {
    let a: Advance = control_body(&body)?;
    state.advance_clock(Duration::from_millis(a.advance_ms));
    Ok(Json(clock_view(&state)))
}

fn search_view(state: &SandboxState) -> Value {
    json!({
        "index_lag_ms": u64::try_from(state.search_index_lag().as_millis()).unwrap_or(u64::MAX),
        "pending": state.pending_index_writes(),
    })
}

async fn get_search(State(state): State<SandboxState>) -> Json<Value> {
    Json(search_view(&state))
}

/// `PUT /_sandbox/search` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchSettings {
    /// New index lag, in milliseconds.
    index_lag_ms: u64,
}

async fn set_search(State(state): State<SandboxState>, body: Bytes) -> Result<Json<Value>> {
    let s: SearchSettings = control_body(&body)?;
    state.set_search_index_lag(Duration::from_millis(s.index_lag_ms));
    Ok(Json(search_view(&state)))
}

async fn add_app(
    State(state): State<SandboxState>,
    body: Bytes,
) -> Result<(StatusCode, Json<OAuthAppView>)> {
    let app: NewOAuthApp = control_body(&body)?;
    Ok((StatusCode::CREATED, Json(state.add_oauth_app(app)?)))
}

async fn issue_code(
    State(state): State<SandboxState>,
    body: Bytes,
) -> Result<(StatusCode, Json<AuthCodeView>)> {
    let code: NewAuthCode = control_body(&body)?;
    Ok((StatusCode::CREATED, Json(state.issue_auth_code(code)?)))
}

async fn oauth_tokens(State(state): State<SandboxState>) -> Json<Value> {
    Json(json!({ "tokens": state.oauth_tokens() }))
}

/// `POST /_sandbox/oauth/expire` body: which access tokens to expire (all when empty).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Expire {
    /// One access token.
    token: Option<String>,
    /// Every token of one location.
    location_id: Option<String>,
}

async fn expire_tokens(State(state): State<SandboxState>, body: Bytes) -> Result<Json<Value>> {
    let e: Expire = control_body(&body)?;
    let n = state.expire_tokens(e.token.as_deref(), e.location_id.as_deref());
    Ok(Json(json!({ "expired": n })))
}

async fn list_shops(State(state): State<SandboxState>) -> Json<Value> {
    Json(json!({ "stores": state.shops() }))
}

async fn add_shop(
    State(state): State<SandboxState>,
    body: Bytes,
) -> Result<(StatusCode, Json<ShopView>)> {
    let shop: NewShop = control_body(&body)?;
    Ok((StatusCode::CREATED, Json(state.add_shop(shop)?)))
}

async fn reset(State(state): State<SandboxState>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}
