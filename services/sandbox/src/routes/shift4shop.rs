//! The Shift4Shop REST customers API under `/shift4shop/3dCartWebAPI/{v1,v2}/`: `GET/POST
//! /Customers`, `GET/PUT /Customers/{id}`, authenticated by the `SecureURL`, `PrivateKey` and
//! `Token` headers. Errors are Shift4Shop's `[{"Key", "Message"}]` arrays.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::QueryParams;
use crate::error::{Error, Result};
use crate::shift4shop::{CustomerQuery, ShopKey};
use crate::state::SandboxState;

/// The Shift4Shop routes (both API versions answer alike).
pub(crate) fn router() -> Router<SandboxState> {
    let mut r = Router::new();
    for v in ["v1", "v2"] {
        r = r
            .route(
                &format!("/shift4shop/3dCartWebAPI/{v}/Customers"),
                get(list).post(create),
            )
            .route(
                &format!("/shift4shop/3dCartWebAPI/{v}/Customers/{{id}}"),
                get(get_one).put(update),
            );
    }
    r
}

fn authenticate(state: &SandboxState, headers: &HeaderMap) -> Result<ShopKey> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    state.with_store(|s| {
        s.shops
            .authenticate(h("secureurl"), h("privatekey"), h("token"))
    })
}

fn customer_id(raw: &str) -> Result<u64> {
    raw.parse().map_err(|_| Error::Shift4Shop {
        status: StatusCode::NOT_FOUND,
        key: "Error".into(),
        message: "Not Found".into(),
    })
}

fn json_body(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::Shift4Shop {
        status: StatusCode::BAD_REQUEST,
        key: "Error".into(),
        message: format!("Invalid JSON: {e}"),
    })
}

/// `GET /Customers?limit=&offset=&email=&...&countonly=`.
async fn list(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>> {
    let key = authenticate(&state, &headers)?;
    let query = CustomerQuery::parse(QueryParams::parse(&uri)?.into_pairs())?;
    let customers = state.with_store(|s| s.shops.list(&key, &query))?;
    Ok(Json(customers))
}

/// `GET /Customers/{id}` → an array of one customer.
async fn get_one(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let key = authenticate(&state, &headers)?;
    let id = customer_id(&id)?;
    Ok(Json(state.with_store(|s| s.shops.get(&key, id))?))
}

/// `POST /Customers` → 201 `[{Key: "CustomerID", Value, Status: "201", Message}]`.
async fn create(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let key = authenticate(&state, &headers)?;
    let body = json_body(&body)?;
    let now = state.now().utc;
    let out = state.with_store(|s| s.shops.create(&key, body, now))?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// `PUT /Customers/{id}` → 200 `[{Key: "CustomerID", Value, Status: "200", Message}]`.
async fn update(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let key = authenticate(&state, &headers)?;
    let id = customer_id(&id)?;
    let body = json_body(&body)?;
    let now = state.now().utc;
    Ok(Json(
        state.with_store(|s| s.shops.update(&key, id, body, now))?,
    ))
}
