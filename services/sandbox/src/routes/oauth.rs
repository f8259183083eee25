//! OAuth: `POST /oauth/token` exchanges an authorization code or a refresh token for an access
//! token (form-encoded, no bearer token, no `Version`); with an agency token,
//! `POST /oauth/locationToken` gets a location's access token and
//! `GET /oauth/installedLocations` lists where the app is installed.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::QueryParams;
use crate::auth;
use crate::error::{Error, Result};
use crate::oauth::{AccessGrant, InstalledQuery, LocationTokenGrant, TokenGrant, TokenRequest};
use crate::state::SandboxState;

/// `POST /oauth/locationToken`: exchanges an agency token for a location's.
const LOCATION_TOKEN: &str = "/oauth/locationToken";
/// `GET /oauth/installedLocations`: where an agency's app is installed.
const INSTALLED_LOCATIONS: &str = "/oauth/installedLocations";

/// The OAuth routes.
pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route("/oauth/token", post(token))
        .route(LOCATION_TOKEN, post(location_token))
        .route(INSTALLED_LOCATIONS, get(installed_locations))
}

/// Whether `path` is an endpoint for agency tokens (`Agency-Access-Only` in the spec).
pub(crate) fn is_agency_path(path: &str) -> bool {
    path == LOCATION_TOKEN || path == INSTALLED_LOCATIONS
}

/// Reads the form body; a JSON object is accepted too (some clients send one).
fn form_pairs(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>> {
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        let map = crate::dto::parse_object(body)?;
        return Ok(map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect());
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::BadRequest("The form body is not UTF-8".into()))?;
    let uri: axum::http::Uri = format!("/?{text}")
        .parse()
        .map_err(|_| Error::BadRequest("The form body is not URL-encoded".into()))?;
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map_err(|e| Error::BadRequest(e.body_text()))?;
    Ok(pairs)
}

/// `POST /oauth/token` → 200 `GetAccessCodeSuccessfulResponseDto`.
async fn token(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TokenGrant>> {
    let req = TokenRequest::parse(form_pairs(&headers, &body)?)?;
    let now = state.now();
    let cfg = state.oauth_config().clone();
    let grant = state.with_store(|s| {
        let sites = s.sites();
        s.oauth.token(req, &sites, now.utc, &cfg)
    })?;
    Ok(Json(grant))
}

/// The grant of the request's (agency) token; the gate let it through, so it is valid.
fn agency_grant(state: &SandboxState, headers: &HeaderMap) -> Result<AccessGrant> {
    let token = auth::bearer(headers).ok_or(Error::InvalidToken)?;
    let now = state.now();
    state
        .with_store(|s| s.oauth.check(token, now.utc))
        .map_err(|_| Error::InvalidToken)
}

/// `POST /oauth/locationToken` (form `companyId`, `locationId`) → 200
/// `GetLocationAccessTokenSuccessfulResponseDto`: a location access token, no refresh token.
async fn location_token(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<LocationTokenGrant>> {
    let (mut company_id, mut location_id) = (None, None);
    let mut errors = Vec::new();
    for (k, v) in form_pairs(&headers, &body)? {
        match k.as_str() {
            "companyId" => company_id = Some(v).filter(|v| !v.is_empty()),
            "locationId" => location_id = Some(v).filter(|v| !v.is_empty()),
            _ => errors.push(format!("property {k} should not exist")),
        }
    }
    for (value, key) in [(&company_id, "companyId"), (&location_id, "locationId")] {
        if value.is_none() {
            errors.push(format!("{key} should not be empty"));
        }
    }
    let (Some(company_id), Some(location_id), true) = (company_id, location_id, errors.is_empty())
    else {
        return Err(Error::Validation(errors));
    };
    let agency = agency_grant(&state, &headers)?;
    let now = state.now();
    let cfg = state.oauth_config().clone();
    let grant = state.with_store(|s| {
        let sites = s.sites();
        s.oauth
            .location_token(&agency, &company_id, &location_id, &sites, now.utc, &cfg)
    })?;
    Ok(Json(grant))
}

/// `GET /oauth/installedLocations?companyId=&appId=&skip=&limit=&query=&isInstalled=&locationId=`
/// → 200 `{locations, count, installToFutureLocations}` (`versionId`, `onTrial` and `planId`
/// are accepted and ignored: the sandbox has no app versions or plans).
async fn installed_locations(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    let company_id = q.required("companyId").unwrap_or_default();
    let app_id = q.required("appId").unwrap_or_default();
    let skip = q.number("skip", None).unwrap_or(0);
    let limit = q.number("limit", None).unwrap_or(20);
    let query = q.optional("query").filter(|s| !s.is_empty());
    let location_id = q.optional("locationId").filter(|s| !s.is_empty());
    let is_installed = match q.optional("isInstalled").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            q.error("isInstalled must be a boolean value");
            None
        }
    };
    for ignored in ["versionId", "onTrial", "planId"] {
        q.optional(ignored);
    }
    q.finish()?;
    let query = InstalledQuery {
        company_id,
        app_id,
        location_id,
        is_installed,
        query,
        skip,
        limit,
    };
    let agency = agency_grant(&state, &headers)?;
    let (locations, count, future) = state.with_store(|s| {
        let sites = s.sites();
        s.oauth.installed_locations(&agency, &query, &sites)
    })?;
    Ok(Json(json!({
        "locations": locations,
        "count": count,
        "installToFutureLocations": future,
    })))
}
