//! The sandbox's own endpoints, for tests and operators; no GHL authentication. JSON bodies use
//! snake_case and are strict about unknown fields.
//!
//! | route | does |
//! |---|---|
//! | `GET /healthz` | 200 `ok` |
//! | `GET /metrics` | Prometheus text |
//! | `GET /_sandbox/requests?since=<seq>&limit=<n>` | `{requests: [RequestRecord]}` |
//! | `DELETE /_sandbox/requests` | forget the log (204) |
//! | `GET /_sandbox/locations` | `{locations: [LocationView]}` |
//! | `POST /_sandbox/locations` | create one from a `NewLocation` (201 `LocationView`) |
//! | `GET /_sandbox/locations/{id}` | `LocationView` |
//! | `GET /_sandbox/locations/{id}/contacts` | `{contacts: [ContactView]}` |
//! | `GET /_sandbox/faults` | `{faults: [FaultView]}` |
//! | `POST /_sandbox/faults` | add a `FaultSpec` (201 `FaultView`) |
//! | `DELETE /_sandbox/faults` | remove all (`{cleared: n}`) |
//! | `POST /_sandbox/reset` | back to the initial state (204) |

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::faults::{FaultSpec, FaultView};
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
            "/_sandbox/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
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
        .ok_or_else(|| Error::NotFound("Location not found".into()))
}

async fn location_contacts(
    State(state): State<SandboxState>,
    Path(location_id): Path<String>,
) -> Result<Json<Value>> {
    if state.location(&location_id).is_none() {
        return Err(Error::NotFound("Location not found".into()));
    }
    Ok(Json(json!({ "contacts": state.contacts(&location_id) })))
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

async fn reset(State(state): State<SandboxState>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}
