//! `POST /contacts/search`, the deprecated `GET /contacts/` and `GET /contacts/business/{id}`:
//! everything that reads the (lagging) search index.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::{QueryParams, trace_id};
use crate::auth::Caller;
use crate::error::Result;
use crate::state::SandboxState;
use crate::store::search::{BusinessQuery, CompiledSearch, ListQuery, search_body};

/// Largest `limit` of the deprecated list.
const MAX_LIST_LIMIT: usize = 100;

/// The search routes (the deprecated list shares `/contacts/` with create; see `contacts`).
pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route("/contacts/search", post(search))
        .route("/contacts/business/{businessId}", get(by_business))
}

/// `POST /contacts/search` → 200 `{contacts, total, traceId}`; every contact carries its
/// `searchAfter` cursor.
async fn search(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response> {
    let req = search_body(&body)?;
    let mut search = CompiledSearch::new(&req)?;
    let now = state.now();
    // Only taking the snapshot needs the lock; the search itself runs beside other requests.
    let visible = state.with_store(|s| s.search_docs(&caller.location_id, &mut search, now))?;
    let json = search.run(&visible).json(&trace_id());
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        json,
    )
        .into_response())
}

/// `GET /contacts/?locationId=&limit=&startAfter=&startAfterId=&query=` (deprecated) → 200
/// `{contacts, count, meta}`; `meta` carries the keyset cursor clients page with.
pub(crate) async fn list(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    let location_id = q.required("locationId").unwrap_or_default();
    let limit = q.number("limit", Some(MAX_LIST_LIMIT)).unwrap_or(20);
    if limit == 0 {
        q.error("limit must not be less than 1");
    }
    let start_after_id = q.optional("startAfterId").filter(|s| !s.is_empty());
    let start_after = match q.optional("startAfter").filter(|s| !s.is_empty()) {
        Some(s) => match s.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                q.error("startAfter must be a number conforming to the specified constraints");
                None
            }
        },
        None => None,
    };
    let query = q.optional("query").filter(|s| !s.is_empty());
    q.finish()?;
    let list = ListQuery {
        location_id: location_id.clone(),
        limit,
        start_after_id,
        start_after,
        query: query.clone(),
    };
    let now = state.now();
    let page = state.with_store(|s| s.list_contacts(&caller.location_id, &list, now))?;
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let next_url = match (&page.cursor, page.has_more) {
        (Some((at, id)), true) => {
            let mut url = format!(
                "http://{host}/contacts/?locationId={location_id}&limit={limit}&startAfter={at}&startAfterId={id}"
            );
            if let Some(q) = &query {
                url.push_str("&query=");
                url.push_str(&percent_encode(q));
            }
            Value::String(url)
        }
        _ => Value::Null,
    };
    let (start_after, start_after_id) =
        page.cursor.map_or((Value::Null, Value::Null), |(at, id)| {
            (json!(at), json!(id))
        });
    Ok(Json(json!({
        "contacts": page.contacts,
        "count": page.total,
        "meta": {
            "total": page.total,
            "nextPageUrl": next_url,
            "startAfterId": start_after_id,
            "startAfter": start_after,
            "currentPage": page.current_page,
            "nextPage": if page.has_more { json!(page.current_page + 1) } else { Value::Null },
            "prevPage": if page.current_page > 1 { json!(page.current_page - 1) } else { Value::Null },
        },
    })))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET /contacts/business/{businessId}?locationId=&limit=&skip=&query=` → 200
/// `{contacts, count}` (`limit` and `skip` are numeric strings, default 25 and 0).
async fn by_business(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    Path(business_id): Path<String>,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    let location_id = q.required("locationId").unwrap_or_default();
    let limit = q.number("limit", None).unwrap_or(25);
    let skip = q.number("skip", None).unwrap_or(0);
    let query = q.optional("query").filter(|s| !s.is_empty());
    q.finish()?;
    let now = state.now();
    let q = BusinessQuery {
        location_id,
        business_id,
        query,
        limit,
        skip,
    };
    let (contacts, count) =
        state.with_store(|s| s.contacts_by_business(&caller.location_id, &q, now))?;
    Ok(Json(json!({ "contacts": contacts, "count": count })))
}
