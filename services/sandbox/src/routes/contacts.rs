//! The core Contacts operations (contacts-endpoints.md §1): create, get, update, delete,
//! upsert, duplicate search, add and remove tags. Authentication, `Version` and rate limits are
//! checked before these run (see `server.rs`); the caller arrives as an extension.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::{QueryParams, trace_id};
use crate::auth::Caller;
use crate::contact::normalize_phone;
use crate::dto::{self, ContactDto, looks_like_email};
use crate::error::Result;
use crate::state::SandboxState;

/// The core Contacts routes.
pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route("/contacts/upsert", post(upsert))
        // Express routing is not strict about the trailing slash.
        .route("/contacts/", post(create).get(super::search::list))
        .route("/contacts", post(create).get(super::search::list))
        .route("/contacts/search/duplicate", get(search_duplicate))
        .route(
            "/contacts/{contactId}",
            get(get_contact).put(update_contact).delete(delete_contact),
        )
        .route(
            "/contacts/{contactId}/tags",
            post(add_tags).delete(remove_tags),
        )
}

/// `POST /contacts/upsert` → 200 `{new, contact, traceId}`.
async fn upsert(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<UpsertResponse>> {
    let body = dto::contact_body(&body, ContactDto::Upsert)?;
    let now = state.now();
    let outcome = state.with_store(|s| s.upsert(&caller.location_id, body, now))?;
    Ok(Json(UpsertResponse {
        new: outcome.created,
        contact: outcome.contact,
        trace_id: trace_id(),
    }))
}

/// `UpsertContactsSuccessfulResponseDto`, serialized without an intermediate `Value`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct UpsertResponse {
    new: bool,
    contact: crate::contact::ContactView,
    trace_id: String,
}

/// `POST /contacts/` → 201 `{contact}`.
async fn create(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let body = dto::contact_body(&body, ContactDto::Create)?;
    let now = state.now();
    let contact = state.with_store(|s| s.create(&caller.location_id, body, now))?;
    Ok((StatusCode::CREATED, Json(json!({ "contact": contact }))))
}

/// `GET /contacts/{contactId}` → 200 `{contact}`.
async fn get_contact(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> Result<Json<Value>> {
    let contact = state.with_store(|s| s.get(&caller.location_id, &contact_id))?;
    Ok(Json(json!({ "contact": contact })))
}

/// `PUT /contacts/{contactId}` → 200 `{succeded: true, contact}` (sic).
async fn update_contact(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let body = dto::contact_body(&body, ContactDto::Update)?;
    let now = state.now();
    let contact =
        state.with_store(|s| s.update(&caller.location_id, &contact_id, body.patch, now))?;
    Ok(Json(json!({ "succeded": true, "contact": contact })))
}

/// `DELETE /contacts/{contactId}` → 200 `{succeded: true}`.
async fn delete_contact(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> Result<Json<Value>> {
    let now = state.now();
    state.with_store(|s| s.delete(&caller.location_id, &contact_id, now))?;
    Ok(Json(json!({ "succeded": true })))
}

/// `GET /contacts/search/duplicate?locationId=&email=&number=` → 200 `{contact | null}`.
///
/// Query parameters are whitelisted like bodies (`phone=` is a 422). A literal `+` in `number`
/// decodes to a space, as on GHL, so an unencoded `+1555…` finds nothing: the spec requires
/// `%2B`.
async fn search_duplicate(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    let location_id = q.required("locationId");
    let email = q.optional("email");
    let number = q.optional("number");
    q.finish()?;
    let location_id = location_id.unwrap_or_default();
    let raw_plus = raw_param(&uri, "number").is_some_and(|raw| raw.contains('+'));
    if raw_plus {
        tracing::warn!(
            "duplicate search with an unencoded '+' in number: it decodes to a space; send %2B"
        );
    }
    let email = email.filter(|e| looks_like_email(e));
    let phone = number
        .filter(|_| !raw_plus)
        .and_then(|n| normalize_phone(&n).ok().flatten());
    let contact = state.with_store(|s| {
        s.find_duplicate(
            &caller.location_id,
            &location_id,
            email.as_deref(),
            phone.as_deref(),
        )
    })?;
    Ok(Json(json!({ "contact": contact })))
}

/// The still-encoded value of query parameter `name`.
fn raw_param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// `POST /contacts/{contactId}/tags` → 201 `{tags}` (every tag the contact now has).
async fn add_tags(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let tags = dto::tags_body(&body)?;
    let now = state.now();
    let tags = state.with_store(|s| s.add_tags(&caller.location_id, &contact_id, tags, now))?;
    Ok((StatusCode::CREATED, Json(json!({ "tags": tags }))))
}

/// `DELETE /contacts/{contactId}/tags` (JSON body) → 200 `{tags}` (the tags left).
async fn remove_tags(
    State(state): State<SandboxState>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let tags = dto::tags_body(&body)?;
    let now = state.now();
    let tags = state.with_store(|s| s.remove_tags(&caller.location_id, &contact_id, &tags, now))?;
    Ok(Json(json!({ "tags": tags })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_params_stay_encoded() {
        let uri: Uri = "/contacts/search/duplicate?locationId=l&number=+1555&email=a%40b.c"
            .parse()
            .unwrap();
        assert_eq!(raw_param(&uri, "number"), Some("+1555"));
        assert_eq!(raw_param(&uri, "email"), Some("a%40b.c"));
        assert_eq!(raw_param(&uri, "phone"), None);
    }
}
