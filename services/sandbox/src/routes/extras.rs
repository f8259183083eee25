//! Everything under a contact besides its fields (tasks, notes, appointments, followers,
//! campaigns, workflows), and the two bulk operations.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::dto::{self, Fields, TaskDto};
use crate::entities::{Note, Task};
use crate::error::{Error, Result};
use crate::state::SandboxState;
use crate::store::contacts::ContactRecord;

/// Routes under `/contacts/{contactId}/...` and `/contacts/bulk/...`.
pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route(
            "/contacts/{contactId}/tasks",
            get(list_records::<Task>).post(create_record::<Task>),
        )
        .route(
            "/contacts/{contactId}/tasks/{taskId}",
            get(get_record::<Task>)
                .put(update_record::<Task>)
                .delete(delete_record::<Task>),
        )
        .route(
            "/contacts/{contactId}/tasks/{taskId}/completed",
            put(complete_task),
        )
        .route(
            "/contacts/{contactId}/notes",
            get(list_records::<Note>).post(create_record::<Note>),
        )
        .route(
            "/contacts/{contactId}/notes/{id}",
            get(get_record::<Note>)
                .put(update_record::<Note>)
                .delete(delete_record::<Note>),
        )
        .route("/contacts/{contactId}/appointments", get(appointments))
        .route(
            "/contacts/{contactId}/followers",
            post(add_followers).delete(remove_followers),
        )
        .route(
            "/contacts/{contactId}/campaigns/removeAll",
            delete(remove_from_all_campaigns),
        )
        .route(
            "/contacts/{contactId}/campaigns/{campaignId}",
            post(add_to_campaign).delete(remove_from_campaign),
        )
        .route(
            "/contacts/{contactId}/workflow/{workflowId}",
            post(add_to_workflow).delete(remove_from_workflow),
        )
        .route("/contacts/bulk/tags/update/{type}", post(bulk_tags))
        .route("/contacts/bulk/business", post(bulk_business))
}

type Authed = Extension<Caller>;

fn succeded() -> Json<Value> {
    Json(json!({ "succeded": true }))
}

/// `GET /contacts/{contactId}/tasks` (`/notes`) → `{tasks}` (`{notes}`).
async fn list_records<T: ContactRecord>(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(contact_id): Path<String>,
) -> Result<Json<Value>> {
    let records = state.with_store(|s| s.records::<T>(&caller.location_id, &contact_id))?;
    Ok(Json(json!({ T::MANY: records })))
}

/// `POST /contacts/{contactId}/tasks` (`/notes`) → 201 `{task}` (`{note}`).
async fn create_record<T: ContactRecord>(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let input = T::parse(&body, true)?;
    let now = state.now();
    let record =
        state.with_store(|s| s.add_record::<T>(&caller.location_id, &contact_id, input, now))?;
    Ok((StatusCode::CREATED, Json(json!({ T::ONE: record }))))
}

/// `GET /contacts/{contactId}/tasks/{taskId}` (`/notes/{id}`) → `{task}` (`{note}`).
async fn get_record<T: ContactRecord>(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((contact_id, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let record = state.with_store(|s| s.record::<T>(&caller.location_id, &contact_id, &id))?;
    Ok(Json(json!({ T::ONE: record })))
}

/// `PUT /contacts/{contactId}/tasks/{taskId}` (`/notes/{id}`) → `{task}` (`{note}`).
async fn update_record<T: ContactRecord>(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((contact_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>> {
    let input = T::parse(&body, false)?;
    let record =
        state.with_store(|s| s.update_record::<T>(&caller.location_id, &contact_id, &id, input))?;
    Ok(Json(json!({ T::ONE: record })))
}

/// `PUT /contacts/{contactId}/tasks/{taskId}/completed` → `{task}`.
async fn complete_task(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((contact_id, task_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>> {
    let input = dto::task_body(&body, TaskDto::Completed)?;
    let task = state.with_store(|s| {
        s.update_record::<Task>(&caller.location_id, &contact_id, &task_id, input)
    })?;
    Ok(Json(json!({ "task": task })))
}

/// `DELETE /contacts/{contactId}/tasks/{taskId}` (`/notes/{id}`) → `{succeded: true}`.
async fn delete_record<T: ContactRecord>(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((contact_id, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    state.with_store(|s| s.delete_record::<T>(&caller.location_id, &contact_id, &id))?;
    Ok(succeded())
}

/// `GET /contacts/{contactId}/appointments` → `{events}`.
async fn appointments(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(contact_id): Path<String>,
) -> Result<Json<Value>> {
    let events = state.with_store(|s| s.appointments(&caller.location_id, &contact_id))?;
    Ok(Json(json!({ "events": events })))
}

/// `POST /contacts/{contactId}/followers` → 201 `{followers, followersAdded}`.
async fn add_followers(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let followers = dto::followers_body(&body)?;
    let now = state.now();
    let (all, added) =
        state.with_store(|s| s.add_followers(&caller.location_id, &contact_id, followers, now))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "followers": all, "followersAdded": added })),
    ))
}

/// `DELETE /contacts/{contactId}/followers` (JSON body) → `{followers, followersRemoved}`.
async fn remove_followers(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(contact_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let followers = dto::followers_body(&body)?;
    let now = state.now();
    let (all, removed) = state
        .with_store(|s| s.remove_followers(&caller.location_id, &contact_id, &followers, now))?;
    Ok(Json(
        json!({ "followers": all, "followersRemoved": removed }),
    ))
}

/// `POST /contacts/{contactId}/campaigns/{campaignId}` with `{}` (required, empty) → 201
/// `{succeded: true}`.
async fn add_to_campaign(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((contact_id, campaign_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    Fields::parse(&body)?.finish()?;
    state.with_store(|s| s.add_to_campaign(&caller.location_id, &contact_id, &campaign_id))?;
    Ok((StatusCode::CREATED, succeded()))
}

/// `DELETE /contacts/{contactId}/campaigns/{campaignId}` → `{succeded: true}`.
async fn remove_from_campaign(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((contact_id, campaign_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    state.with_store(|s| {
        s.remove_from_campaign(&caller.location_id, &contact_id, Some(&campaign_id))
    })?;
    Ok(succeded())
}

/// `DELETE /contacts/{contactId}/campaigns/removeAll` → `{succeded: true}`.
async fn remove_from_all_campaigns(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(contact_id): Path<String>,
) -> Result<Json<Value>> {
    state.with_store(|s| s.remove_from_campaign(&caller.location_id, &contact_id, None))?;
    Ok(succeded())
}

/// `CreateWorkflowDto`: `{eventStartTime?}` (a date-time with offset).
fn workflow_body(body: &[u8]) -> Result<Option<String>> {
    let mut f = Fields::parse(body)?;
    let start = f.string("eventStartTime", false).as_set().cloned();
    if let Some(s) = &start
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_err()
    {
        f.error("eventStartTime must be a valid ISO 8601 date string");
    }
    f.finish()?;
    Ok(start)
}

/// `POST /contacts/{contactId}/workflow/{workflowId}` → 200 `{succeded: true}`.
async fn add_to_workflow(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((contact_id, workflow_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>> {
    let start = workflow_body(&body)?;
    state
        .with_store(|s| s.add_to_workflow(&caller.location_id, &contact_id, &workflow_id, start))?;
    Ok(succeded())
}

/// `DELETE /contacts/{contactId}/workflow/{workflowId}` (same body) → 200 `{succeded: true}`.
async fn remove_from_workflow(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((contact_id, workflow_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>> {
    workflow_body(&body)?;
    state.with_store(|s| s.remove_from_workflow(&caller.location_id, &contact_id, &workflow_id))?;
    Ok(succeded())
}

/// `POST /contacts/bulk/tags/update/{type}` (`add` | `remove`) → 201
/// `{succeded, errorCount, responses}`, even when some contacts failed.
async fn bulk_tags(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(kind): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let add = match kind.as_str() {
        "add" => true,
        "remove" => false,
        _ => {
            return Err(Error::Validation(vec![
                "type must be one of the following values: add, remove".into(),
            ]));
        }
    };
    let body = dto::bulk_tags_body(&body, add)?;
    let now = state.now();
    let (errors, responses) =
        state.with_store(|s| s.bulk_tags(&caller.location_id, add, body, now))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "succeded": true, "errorCount": errors, "responses": responses })),
    ))
}

/// `POST /contacts/bulk/business` → 200 `{success: true, ids}` (the contacts updated).
async fn bulk_business(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    body: Bytes,
) -> Result<Json<Value>> {
    let body = dto::bulk_business_body(&body)?;
    let now = state.now();
    let ids = state.with_store(|s| s.bulk_business(&caller.location_id, body, now))?;
    Ok(Json(json!({ "success": true, "ids": ids })))
}
