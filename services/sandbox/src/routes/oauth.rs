//! `POST /oauth/token`: exchange an authorization code or a refresh token for a Location
//! access token (form-encoded, no bearer token, no `Version`).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::oauth::{TokenGrant, TokenRequest};
use crate::state::SandboxState;

/// The OAuth routes.
pub(crate) fn router() -> Router<SandboxState> {
    Router::new().route("/oauth/token", post(token))
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
        let companies: std::collections::HashMap<String, String> = s
            .location_views()
            .into_iter()
            .map(|l| (l.id, l.company_id))
            .collect();
        s.oauth
            .token(req, |l| companies.get(l).cloned(), now.utc, &cfg)
    })?;
    Ok(Json(grant))
}
