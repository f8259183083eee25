//! Location-level resources a contacts integration resolves ids through: the location and its
//! `allowDuplicateContact` setting, custom field definitions, the tag catalogue, businesses,
//! campaigns, workflows and users. A token reaches only its own location (403 otherwise).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::QueryParams;
use crate::auth::Caller;
use crate::dto::{Fields, Patch};
use crate::entities::Business;
use crate::error::{Error, Result};
use crate::state::SandboxState;
use crate::store::{DataType, FieldInput};

/// The location, catalogue and user routes.
pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route("/locations/{locationId}", get(get_location))
        .route(
            "/locations/{locationId}/customFields",
            get(list_custom_fields).post(create_custom_field),
        )
        .route(
            "/locations/{locationId}/customFields/{id}",
            get(get_custom_field)
                .put(update_custom_field)
                .delete(delete_custom_field),
        )
        .route(
            "/locations/{locationId}/tags",
            get(list_tags).post(create_tag),
        )
        .route("/locations/{locationId}/tasks/search", post(search_tasks))
        .route(
            "/locations/{locationId}/tags/{tagId}",
            get(get_tag).put(update_tag).delete(delete_tag),
        )
        .route("/businesses/", get(list_businesses).post(create_business))
        .route("/businesses", get(list_businesses).post(create_business))
        .route(
            "/businesses/{businessId}",
            get(get_business)
                .put(update_business)
                .delete(delete_business),
        )
        .route("/campaigns/", get(campaigns))
        .route("/campaigns", get(campaigns))
        .route("/workflows/", get(workflows))
        .route("/workflows", get(workflows))
        .route("/users/", get(users))
        .route("/users", get(users))
        .route("/users/search", get(search_users))
        .route("/users/{userId}", get(get_user))
}

type Authed = Extension<Caller>;

/// `GET /locations/{locationId}` → `{location}` (with `settings.allowDuplicateContact`).
async fn get_location(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(location_id): Path<String>,
) -> Result<Json<Value>> {
    let location = state.with_store(|s| s.get_location(&caller.location_id, &location_id))?;
    Ok(Json(json!({ "location": location })))
}

/// `GET /locations/{locationId}/customFields?model=contact|opportunity|all`.
async fn list_custom_fields(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(location_id): Path<String>,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    let model = q.optional("model").unwrap_or_else(|| "all".into());
    if !["contact", "opportunity", "all"].contains(&model.as_str()) {
        q.error("model must be one of the following values: contact, opportunity, all");
    }
    q.finish()?;
    let fields =
        state.with_store(|s| s.custom_fields(&caller.location_id, &location_id, &model))?;
    Ok(Json(json!({ "customFields": fields })))
}

/// `GET /locations/{locationId}/customFields/{id}` (id or field key) → `{customField}`.
async fn get_custom_field(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((location_id, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let field = state.with_store(|s| s.custom_field(&caller.location_id, &location_id, &id))?;
    Ok(Json(json!({ "customField": field })))
}

/// The optional fields shared by the create and update DTOs; returns
/// `(placeholder, position, options)`.
fn custom_field_extras(f: &mut Fields) -> (Option<String>, Option<u32>, Vec<String>) {
    let placeholder = f.string("placeholder", false).as_set().cloned();
    let position = f.integer("position", false);
    f.strings("acceptedFormat", false);
    f.boolean("isMultipleFile", false);
    f.integer("maxNumberOfFiles", false);
    let options = match f.string("model", false) {
        Patch::Set(m) if m != "contact" && m != "opportunity" => {
            f.error("model must be one of the following values: contact, opportunity");
            Vec::new()
        }
        _ => Vec::new(),
    };
    (placeholder, position, options)
}

/// `POST /locations/{locationId}/customFields` → 201 `{customField}`.
async fn create_custom_field(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(location_id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let mut f = Fields::parse(&body)?;
    let name = f.string("name", true).as_set().cloned();
    let data_type = f.string("dataType", true).as_set().cloned();
    let parsed = data_type.as_deref().and_then(DataType::parse);
    if data_type.is_some() && parsed.is_none() {
        f.error("dataType must be one of the following values: TEXT, LARGE_TEXT, NUMERICAL, PHONE, MONETORY, CHECKBOX, SINGLE_OPTIONS, MULTIPLE_OPTIONS, DATE, TEXTBOX_LIST, FILE_UPLOAD, RADIO, EMAIL");
    }
    // Options of option fields come as textBoxListOptions [{label, prefillValue}].
    let options = f_take_options(&mut f).unwrap_or_default();
    let (placeholder, position, _) = custom_field_extras(&mut f);
    f.finish()?;
    let (Some(name), Some(data_type)) = (name, parsed) else {
        return Err(Error::Validation(vec![
            "name and dataType are required".into(),
        ]));
    };
    let input = FieldInput {
        name,
        data_type,
        placeholder,
        position,
        options,
    };
    let field =
        state.with_store(|s| s.create_custom_field(&caller.location_id, &location_id, input))?;
    Ok((StatusCode::CREATED, Json(json!({ "customField": field }))))
}

/// Reads `textBoxListOptions` (`[{label, prefillValue}]`) as option labels.
fn f_take_options(f: &mut Fields) -> Option<Vec<String>> {
    let raw = f.take_raw("textBoxListOptions")?;
    let Value::Array(items) = raw else {
        f.error("textBoxListOptions must be an array");
        return None;
    };
    Some(
        items
            .iter()
            .filter_map(|i| i.get("label").and_then(Value::as_str).map(str::to_owned))
            .collect(),
    )
}

/// `PUT /locations/{locationId}/customFields/{id}` → `{customField}` (`name` required; the
/// data type cannot change).
async fn update_custom_field(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((location_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>> {
    let mut f = Fields::parse(&body)?;
    let name = f.string("name", true).as_set().cloned();
    f_take_options(&mut f);
    let (placeholder, position, _) = custom_field_extras(&mut f);
    f.finish()?;
    let name = name.unwrap_or_default();
    let field = state.with_store(|s| {
        s.update_custom_field(
            &caller.location_id,
            &location_id,
            &id,
            name,
            placeholder,
            position,
        )
    })?;
    Ok(Json(json!({ "customField": field })))
}

/// `DELETE /locations/{locationId}/customFields/{id}` → `{succeded: true}`.
async fn delete_custom_field(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((location_id, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let now = state.now();
    state.with_store(|s| s.delete_custom_field(&caller.location_id, &location_id, &id, now))?;
    Ok(Json(json!({ "succeded": true })))
}

/// `GET /locations/{locationId}/tags` → `{tags}`.
async fn list_tags(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(location_id): Path<String>,
) -> Result<Json<Value>> {
    let tags = state.with_store(|s| s.location_tags(&caller.location_id, &location_id))?;
    Ok(Json(json!({ "tags": tags })))
}

fn tag_body(body: &[u8]) -> Result<String> {
    let mut f = Fields::parse(body)?;
    let name = f.string("name", true).as_set().cloned();
    f.finish()?;
    Ok(name.unwrap_or_default())
}

/// `POST /locations/{locationId}/tags` → 200 `{tag}` (the spec declares 200, not 201).
async fn create_tag(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(location_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let name = tag_body(&body)?;
    let tag =
        state.with_store(|s| s.create_location_tag(&caller.location_id, &location_id, &name))?;
    Ok(Json(json!({ "tag": tag })))
}

/// `GET /locations/{locationId}/tags/{tagId}` → `{tag}`.
async fn get_tag(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((location_id, tag_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let tag = state.with_store(|s| s.location_tag(&caller.location_id, &location_id, &tag_id))?;
    Ok(Json(json!({ "tag": tag })))
}

/// `PUT /locations/{locationId}/tags/{tagId}` → `{tag}`.
async fn update_tag(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((location_id, tag_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>> {
    let name = tag_body(&body)?;
    let tag = state
        .with_store(|s| s.update_location_tag(&caller.location_id, &location_id, &tag_id, &name))?;
    Ok(Json(json!({ "tag": tag })))
}

/// `DELETE /locations/{locationId}/tags/{tagId}` → `{succeded: true}`.
async fn delete_tag(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path((location_id, tag_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    state.with_store(|s| s.delete_location_tag(&caller.location_id, &location_id, &tag_id))?;
    Ok(Json(json!({ "succeded": true })))
}

/// `POST /locations/{locationId}/tasks/search` → `{tasks}`: every task of the location's
/// contacts matching the body's criteria.
async fn search_tasks(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(location_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let q = crate::dto::task_search_body(&body)?;
    let tasks = state.with_store(|s| s.search_tasks(&caller.location_id, &location_id, &q))?;
    Ok(Json(json!({ "tasks": tasks })))
}

/// `GET /businesses/?locationId=&limit=&skip=` → `{businesses}`.
async fn list_businesses(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    let location_id = q.required("locationId").unwrap_or_default();
    let limit = q.number("limit", None).unwrap_or(100);
    let skip = q.number("skip", None).unwrap_or(0);
    q.finish()?;
    let businesses =
        state.with_store(|s| s.businesses(&caller.location_id, &location_id, limit, skip))?;
    Ok(Json(json!({ "businesses": businesses })))
}

/// The optional business fields of `CreateBusinessDto` / `UpdateBusinessDto`.
fn business_fields(f: &mut Fields) -> [(&'static str, Patch<String>); 9] {
    [
        "phone",
        "email",
        "website",
        "address",
        "city",
        "postalCode",
        "state",
        "country",
        "description",
    ]
    .map(|k| (k, f.string(k, false)))
}

fn set_business_field(b: &mut Business, key: &str, value: Patch<String>) {
    let slot = match key {
        "phone" => &mut b.phone,
        "email" => &mut b.email,
        "website" => &mut b.website,
        "address" => &mut b.address,
        "city" => &mut b.city,
        "postalCode" => &mut b.postal_code,
        "state" => &mut b.state,
        "country" => &mut b.country,
        _ => &mut b.description,
    };
    value.apply(slot);
}

/// `POST /businesses/` → 201 `{success: true, buiseness}` (sic).
async fn create_business(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let mut f = Fields::parse(&body)?;
    let name = f.string("name", true).as_set().cloned().unwrap_or_default();
    let location_id = f
        .string("locationId", true)
        .as_set()
        .cloned()
        .unwrap_or_default();
    let fields = business_fields(&mut f);
    f.finish()?;
    let mut business = Business {
        name,
        location_id,
        ..Business::default()
    };
    for (k, v) in fields {
        set_business_field(&mut business, k, v);
    }
    let now = state.now();
    let business = state.with_store(|s| s.create_business(&caller.location_id, business, now))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "success": true, "buiseness": business })),
    ))
}

/// `GET /businesses/{businessId}` → `{business}`.
async fn get_business(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(business_id): Path<String>,
) -> Result<Json<Value>> {
    let business = state.with_store(|s| s.business(&caller.location_id, &business_id))?;
    Ok(Json(json!({ "business": business })))
}

/// `PUT /businesses/{businessId}` → `{success: true, buiseness}`.
async fn update_business(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(business_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let mut f = Fields::parse(&body)?;
    let name = f.string("name", false).as_set().cloned();
    let fields = business_fields(&mut f);
    f.finish()?;
    let now = state.now();
    let business = state.with_store(|s| {
        s.update_business(
            &caller.location_id,
            &business_id,
            |b| {
                if let Some(n) = name {
                    b.name = n;
                }
                for (k, v) in fields {
                    set_business_field(b, k, v);
                }
            },
            now,
        )
    })?;
    Ok(Json(json!({ "success": true, "buiseness": business })))
}

/// `DELETE /businesses/{businessId}` → `{success: true}`.
async fn delete_business(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(business_id): Path<String>,
) -> Result<Json<Value>> {
    let now = state.now();
    state.with_store(|s| s.delete_business(&caller.location_id, &business_id, now))?;
    Ok(Json(json!({ "success": true })))
}

/// `GET /campaigns/?locationId=&status=` → `{campaigns}`.
async fn campaigns(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    let location_id = q.required("locationId").unwrap_or_default();
    let status = q.optional("status");
    q.finish()?;
    let campaigns =
        state.with_store(|s| s.campaigns(&caller.location_id, &location_id, status.as_deref()))?;
    Ok(Json(json!({ "campaigns": campaigns })))
}

/// `GET /workflows/?locationId=` → `{workflows}`.
async fn workflows(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    let location_id = q.required("locationId").unwrap_or_default();
    q.finish()?;
    let workflows = state.with_store(|s| s.workflows(&caller.location_id, &location_id))?;
    Ok(Json(json!({ "workflows": workflows })))
}

/// `GET /users/?locationId=` (deprecated in GHL) → `{users}`.
async fn users(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    let location_id = q.required("locationId").unwrap_or_default();
    q.finish()?;
    if location_id != caller.location_id {
        return Err(Error::Forbidden);
    }
    let users = state.with_store(|s| s.users(&caller.location_id))?;
    Ok(Json(json!({ "users": users })))
}

/// `GET /users/search?companyId=&locationId=&query=&skip=&limit=&ids=` → `{users, count}`
/// (`companyId` is required even with a location token).
async fn search_users(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    uri: Uri,
) -> Result<Json<Value>> {
    let mut q = QueryParams::parse(&uri)?;
    q.required("companyId");
    let location_id = q.optional("locationId");
    let query = q.optional("query").map(|s| s.to_lowercase());
    let ids = q.optional("ids");
    let skip = q.number("skip", None).unwrap_or(0);
    let limit = q.number("limit", None).unwrap_or(25);
    for k in ["type", "role", "sort", "sortDirection", "enabled2waySync"] {
        q.optional(k);
    }
    q.finish()?;
    if location_id
        .as_ref()
        .is_some_and(|l| *l != caller.location_id)
    {
        return Err(Error::Forbidden);
    }
    let mut users = state.with_store(|s| s.users(&caller.location_id))?;
    users.retain(|u| {
        query
            .as_deref()
            .is_none_or(|t| u.name.to_lowercase().contains(t) || u.email.to_lowercase().contains(t))
            && ids
                .as_deref()
                .is_none_or(|ids| ids.split(',').any(|i| i.trim() == u.id))
    });
    let count = users.len();
    let users: Vec<_> = users.into_iter().skip(skip).take(limit).collect();
    Ok(Json(json!({ "users": users, "count": count })))
}

/// `GET /users/{userId}` → the user.
async fn get_user(
    State(state): State<SandboxState>,
    Extension(caller): Authed,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    let user = state.with_store(|s| s.user(&caller.location_id, &user_id))?;
    Ok(Json(serde_json::to_value(user).unwrap_or_default()))
}
