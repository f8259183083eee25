//! Request bodies, validated the way GHL's NestJS `ValidationPipe` (with `whitelist` and
//! `forbidNonWhitelisted`) does: every problem is collected and answered at once as a 422 whose
//! `message` is an array of class-validator style strings.
//!
//! Bodies are read as JSON objects and checked field by field against the DTO's whitelist
//! (contacts-endpoints.md §2) instead of through `#[serde(deny_unknown_fields)]`, which stops at
//! the first unknown field and words it differently.

use serde_json::{Map, Value};
use time::Date;
use time::format_description::well_known::Rfc3339;

use crate::contact::{normalize_phone, normalize_tags, parse_date_of_birth};
use crate::error::{Error, Result};

/// A change to one optional field: leave it, clear it (`null`) or set it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Patch<T> {
    /// The field was absent: keep the stored value.
    #[default]
    Keep,
    /// The field was `null` (or an empty phone): clear the stored value.
    Clear,
    /// The field carried a value.
    Set(T),
}

impl<T> Patch<T> {
    /// Applies the change to `slot`.
    pub(crate) fn apply(self, slot: &mut Option<T>) {
        match self {
            Self::Keep => {}
            Self::Clear => *slot = None,
            Self::Set(v) => *slot = Some(v),
        }
    }

    /// The value being set, if any.
    pub(crate) fn as_set(&self) -> Option<&T> {
        match self {
            Self::Set(v) => Some(v),
            Self::Keep | Self::Clear => None,
        }
    }
}

/// One `customFields[]` item as written: `{id | key, field_value | fieldValue | value}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CustomFieldInput {
    /// The field's id, when given.
    pub(crate) id: Option<String>,
    /// The field's key (`contact.x` or bare `x`), when given.
    pub(crate) key: Option<String>,
    /// The value; `null`, `""` and `[]` clear the field.
    pub(crate) value: Value,
}

/// The contact fields of the create, upsert and update DTOs, parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ContactPatch {
    pub(crate) first_name: Patch<String>,
    pub(crate) last_name: Patch<String>,
    pub(crate) name: Patch<String>,
    pub(crate) email: Patch<String>,
    /// Already normalised to E.164-ish (see [`normalize_phone`]).
    pub(crate) phone: Patch<String>,
    pub(crate) gender: Patch<String>,
    pub(crate) address1: Patch<String>,
    pub(crate) city: Patch<String>,
    pub(crate) state: Patch<String>,
    pub(crate) postal_code: Patch<String>,
    pub(crate) website: Patch<String>,
    pub(crate) timezone: Patch<String>,
    pub(crate) country: Patch<String>,
    pub(crate) company_name: Patch<String>,
    pub(crate) source: Patch<String>,
    pub(crate) assigned_to: Patch<String>,
    pub(crate) date_of_birth: Patch<Date>,
    pub(crate) dnd: Option<bool>,
    pub(crate) dnd_settings: Patch<Value>,
    pub(crate) inbound_dnd_settings: Patch<Value>,
    /// Already lower-cased and de-duplicated; replaces the whole tag set.
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) custom_fields: Vec<CustomFieldInput>,
}

impl ContactPatch {
    /// The email being set, lower-cased for matching.
    pub(crate) fn email_lower(&self) -> Option<String> {
        self.email.as_set().map(|e| e.to_lowercase())
    }

    /// The (normalised) phone being set.
    pub(crate) fn phone(&self) -> Option<&str> {
        self.phone.as_set().map(String::as_str)
    }
}

/// Which contact DTO a body is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContactDto {
    /// `CreateContactDto` (`POST /contacts/`).
    Create,
    /// `UpsertContactDto` (`POST /contacts/upsert`).
    Upsert,
    /// `UpdateContactDto` (`PUT /contacts/{id}`): no `locationId`, `gender`, `companyName`.
    Update,
}

impl ContactDto {
    fn allows(self, field: &str) -> bool {
        match field {
            "locationId" | "gender" | "companyName" => self != Self::Update,
            "createNewIfDuplicateAllowed" => self == Self::Upsert,
            _ => true,
        }
    }
}

/// A parsed create/upsert/update body.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ContactBody {
    /// `locationId` (required, non-empty on create and upsert; never present on update).
    pub(crate) location_id: String,
    /// `createNewIfDuplicateAllowed` (upsert only, default false).
    pub(crate) create_new_if_duplicate_allowed: bool,
    /// Everything else.
    pub(crate) patch: ContactPatch,
}

/// Reads a JSON object body. An empty body is `{}` (as Express' `json()` leaves it).
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::Validation(vec![
            "request body must be a JSON object".into(),
        ])),
        Err(e) => Err(Error::MalformedJson(e.to_string())),
    }
}

/// Parses and validates a contact body against `dto`.
pub(crate) fn contact_body(bytes: &[u8], dto: ContactDto) -> Result<ContactBody> {
    let map = parse_object(bytes)?;
    let mut errors = Vec::new();
    let mut body = ContactBody::default();
    let mut location_seen = false;
    let p = &mut body.patch;
    for (key, value) in map {
        if !dto.allows(&key) {
            errors.push(format!("property {key} should not exist"));
            continue;
        }
        let e = &mut errors;
        match key.as_str() {
            "locationId" => {
                location_seen = true;
                match value {
                    Value::String(s) if s.is_empty() => {
                        e.push("locationId should not be empty".into())
                    }
                    Value::String(s) => body.location_id = s,
                    _ => e.push("locationId must be a string".into()),
                }
            }
            "createNewIfDuplicateAllowed" => match value {
                Value::Bool(b) => body.create_new_if_duplicate_allowed = b,
                Value::Null => {}
                _ => e.push("createNewIfDuplicateAllowed must be a boolean value".into()),
            },
            "firstName" => p.first_name = string(e, &key, value),
            "lastName" => p.last_name = string(e, &key, value),
            "name" => p.name = string(e, &key, value),
            "gender" => p.gender = string(e, &key, value),
            "address1" => p.address1 = string(e, &key, value),
            "city" => p.city = string(e, &key, value),
            "state" => p.state = string(e, &key, value),
            "postalCode" => p.postal_code = string(e, &key, value),
            "website" => p.website = string(e, &key, value),
            "timezone" => p.timezone = string(e, &key, value),
            "country" => p.country = string(e, &key, value),
            "companyName" => p.company_name = string(e, &key, value),
            "source" => p.source = string(e, &key, value),
            "assignedTo" => p.assigned_to = string(e, &key, value),
            "email" => p.email = email(e, value),
            "phone" => p.phone = phone(e, value),
            "dateOfBirth" => p.date_of_birth = date_of_birth(e, value),
            "dnd" => match value {
                Value::Bool(b) => p.dnd = Some(b),
                _ => e.push("dnd must be a boolean value".into()),
            },
            "dndSettings" => p.dnd_settings = dnd_settings(e, value),
            "inboundDndSettings" => p.inbound_dnd_settings = inbound_dnd_settings(e, value),
            "tags" => p.tags = tags(e, "tags", value),
            "customFields" => p.custom_fields = custom_fields(e, value),
            _ => e.push(format!("property {key} should not exist")),
        }
    }
    if dto != ContactDto::Update && !location_seen {
        errors.push("locationId should not be empty".into());
        errors.push("locationId must be a string".into());
    }
    if errors.is_empty() {
        Ok(body)
    } else {
        Err(Error::Validation(errors))
    }
}

/// Parses `TagsDTO` (`{tags: string[]}`, required): the tags, lower-cased and de-duplicated.
pub(crate) fn tags_body(bytes: &[u8]) -> Result<Vec<String>> {
    let map = parse_object(bytes)?;
    let mut errors = Vec::new();
    let mut seen = false;
    let mut result = None;
    for (key, value) in map {
        if key == "tags" {
            seen = true;
            result = tags(&mut errors, "tags", value);
        } else {
            errors.push(format!("property {key} should not exist"));
        }
    }
    if !seen {
        errors.push("tags must be an array".into());
    }
    match result {
        Some(tags) if errors.is_empty() => Ok(tags),
        _ => Err(Error::Validation(errors)),
    }
}

/// A JSON object body being checked field by field: each accessor takes its field out and
/// records class-validator style messages; [`Fields::finish`] reports what is left as
/// `property X should not exist` and answers every message at once (422).
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    errors: Vec<String>,
}

impl Fields {
    /// Reads a JSON object body (empty = `{}`).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self> {
        Ok(Self::from_map(parse_object(bytes)?))
    }

    /// Wraps an already parsed object.
    pub(crate) fn from_map(map: Map<String, Value>) -> Self {
        Self {
            map,
            errors: Vec::new(),
        }
    }

    /// Adds a message.
    pub(crate) fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    fn take(&mut self, key: &str, required: bool, missing: &[&str]) -> Option<Value> {
        match self.map.remove(key) {
            None | Some(Value::Null) if required => {
                for m in missing {
                    self.errors.push(format!("{key} {m}"));
                }
                None
            }
            None => None,
            Some(v) => Some(v),
        }
    }

    /// Takes a field as it is, unchecked.
    pub(crate) fn take_raw(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// A string field; `Patch::Clear` for `null`.
    pub(crate) fn string(&mut self, key: &str, required: bool) -> Patch<String> {
        match self.take(key, required, &["should not be empty", "must be a string"]) {
            None => Patch::Keep,
            Some(Value::Null) => Patch::Clear,
            Some(Value::String(s)) if required && s.is_empty() => {
                self.errors.push(format!("{key} should not be empty"));
                Patch::Keep
            }
            Some(Value::String(s)) => Patch::Set(s),
            Some(_) => {
                self.errors.push(format!("{key} must be a string"));
                Patch::Keep
            }
        }
    }

    /// A boolean field.
    pub(crate) fn boolean(&mut self, key: &str, required: bool) -> Option<bool> {
        match self.take(key, required, &["must be a boolean value"]) {
            Some(Value::Bool(b)) => Some(b),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors.push(format!("{key} must be a boolean value"));
                None
            }
        }
    }

    /// A non-negative integer field.
    pub(crate) fn integer(&mut self, key: &str, required: bool) -> Option<u32> {
        match self.take(
            key,
            required,
            &["must be a number conforming to the specified constraints"],
        ) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Some(n),
                None => {
                    self.errors.push(format!(
                        "{key} must be a number conforming to the specified constraints"
                    ));
                    None
                }
            },
        }
    }

    /// An array-of-strings field (values kept as given).
    pub(crate) fn strings(&mut self, key: &str, required: bool) -> Option<Vec<String>> {
        match self.take(key, required, &["must be an array"]) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => {
                            self.errors
                                .push(format!("each value in {key} must be a string"));
                            return None;
                        }
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.errors.push(format!("{key} must be an array"));
                None
            }
        }
    }

    /// An ISO 8601 date-time field, normalised to milliseconds UTC.
    pub(crate) fn date_time(&mut self, key: &str, required: bool) -> Option<String> {
        match self.string(key, required) {
            Patch::Set(s) => match time::OffsetDateTime::parse(&s, &Rfc3339) {
                Ok(t) => Some(crate::contact::iso_millis(t)),
                Err(_) => {
                    self.errors
                        .push(format!("{key} must be a valid ISO 8601 date string"));
                    None
                }
            },
            Patch::Clear | Patch::Keep => None,
        }
    }

    /// Reports unknown properties and collected messages.
    pub(crate) fn finish(mut self) -> Result<()> {
        let leftovers: Vec<String> = self.map.keys().cloned().collect();
        for key in leftovers {
            self.errors.push(format!("property {key} should not exist"));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// A task body (`CreateTaskParams`, `UpdateTaskBody`, `UpdateTaskStatusParams`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TaskInput {
    pub(crate) title: Option<String>,
    pub(crate) body: Patch<String>,
    pub(crate) due_date: Option<String>,
    pub(crate) completed: Option<bool>,
    pub(crate) assigned_to: Patch<String>,
}

/// Which task DTO a body is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskDto {
    /// `POST .../tasks`: `title`, `dueDate`, `completed` required.
    Create,
    /// `PUT .../tasks/{id}`: everything optional.
    Update,
    /// `PUT .../tasks/{id}/completed`: only `completed`, required.
    Completed,
}

impl TaskInput {
    /// Writes the given fields into `task`.
    pub(crate) fn apply(self, task: &mut crate::entities::Task) {
        if let Some(t) = self.title {
            task.title = t;
        }
        self.body.apply(&mut task.body);
        if let Some(d) = self.due_date {
            task.due_date = d;
        }
        if let Some(c) = self.completed {
            task.completed = c;
        }
        self.assigned_to.apply(&mut task.assigned_to);
    }
}

/// Parses a task body against `dto`.
pub(crate) fn task_body(bytes: &[u8], dto: TaskDto) -> Result<TaskInput> {
    let mut f = Fields::parse(bytes)?;
    let create = dto == TaskDto::Create;
    let input = if dto == TaskDto::Completed {
        TaskInput {
            completed: f.boolean("completed", true),
            ..TaskInput::default()
        }
    } else {
        TaskInput {
            title: f.string("title", create).as_set().cloned(),
            body: f.string("body", false),
            due_date: f.date_time("dueDate", create),
            completed: f.boolean("completed", create),
            assigned_to: f.string("assignedTo", false),
        }
    };
    f.finish()?;
    Ok(input)
}

/// A location-wide task search (`TaskSearchParamsDto`); every criterion is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TaskSearch {
    /// `contactId`: tasks of these contacts.
    pub(crate) contact_ids: Option<Vec<String>>,
    /// `completed`: done or pending tasks.
    pub(crate) completed: Option<bool>,
    /// `assignedTo`: tasks assigned to these users.
    pub(crate) assigned_to: Option<Vec<String>>,
    /// `query`: text in the title or body, ignoring case.
    pub(crate) query: Option<String>,
    /// `businessId`: tasks of the business's contacts.
    pub(crate) business_id: Option<String>,
    /// `limit` (default 25).
    pub(crate) limit: usize,
    /// `skip` (default 0).
    pub(crate) skip: usize,
}

/// Parses a `POST /locations/{id}/tasks/search` body.
pub(crate) fn task_search_body(bytes: &[u8]) -> Result<TaskSearch> {
    let mut f = Fields::parse(bytes)?;
    let search = TaskSearch {
        contact_ids: f.strings("contactId", false),
        completed: f.boolean("completed", false),
        assigned_to: f.strings("assignedTo", false),
        query: f.string("query", false).as_set().cloned(),
        business_id: f.string("businessId", false).as_set().cloned(),
        limit: f.integer("limit", false).map_or(25, |n| n as usize),
        skip: f.integer("skip", false).map_or(0, |n| n as usize),
    };
    f.finish()?;
    Ok(search)
}

/// A note body (`NotesDTO`, `UpdateNoteDTO`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NoteInput {
    pub(crate) body: Option<String>,
    pub(crate) user_id: Patch<String>,
    pub(crate) title: Patch<String>,
    pub(crate) color: Patch<String>,
    pub(crate) pinned: Option<bool>,
}

impl NoteInput {
    /// Writes the given fields into `note`.
    pub(crate) fn apply(self, note: &mut crate::entities::Note) {
        if let Some(b) = self.body {
            note.body = b;
        }
        self.user_id.apply(&mut note.user_id);
        self.title.apply(&mut note.title);
        self.color.apply(&mut note.color);
        if let Some(p) = self.pinned {
            note.pinned = p;
        }
    }
}

/// Parses a note body; `body` is required on create.
pub(crate) fn note_body(bytes: &[u8], create: bool) -> Result<NoteInput> {
    let mut f = Fields::parse(bytes)?;
    let input = NoteInput {
        body: f.string("body", create).as_set().cloned(),
        user_id: f.string("userId", false),
        title: f.string("title", false),
        color: f.string("color", false),
        pinned: f.boolean("pinned", false),
    };
    f.finish()?;
    Ok(input)
}

/// Parses `FollowersDTO` (`{followers: string[]}`, required).
pub(crate) fn followers_body(bytes: &[u8]) -> Result<Vec<String>> {
    let mut f = Fields::parse(bytes)?;
    let followers = f.strings("followers", true);
    f.finish()?;
    Ok(followers.unwrap_or_default())
}

/// `POST /contacts/bulk/tags/update/{type}` (`UpdateTagsDTO`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct BulkTags {
    pub(crate) location_id: String,
    pub(crate) contacts: Vec<String>,
    /// Normalised like contact tags.
    pub(crate) tags: Vec<String>,
    pub(crate) remove_all_tags: bool,
}

/// Parses `UpdateTagsDTO`; `removeAllTags` only goes with `remove`.
pub(crate) fn bulk_tags_body(bytes: &[u8], add: bool) -> Result<BulkTags> {
    let mut f = Fields::parse(bytes)?;
    let location_id = f
        .string("locationId", true)
        .as_set()
        .cloned()
        .unwrap_or_default();
    let contacts = f.strings("contacts", true).unwrap_or_default();
    let tags = f.strings("tags", true).unwrap_or_default();
    let remove_all_tags = f.boolean("removeAllTags", false).unwrap_or(false);
    if add && remove_all_tags {
        f.error("removeAllTags can only be used with type remove");
    }
    f.finish()?;
    Ok(BulkTags {
        location_id,
        contacts,
        tags: normalize_tags(tags.iter().map(String::as_str)),
        remove_all_tags,
    })
}

/// `POST /contacts/bulk/business` (`ContactsBusinessUpdate`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct BulkBusiness {
    pub(crate) location_id: String,
    pub(crate) ids: Vec<String>,
    /// `None` detaches the contacts.
    pub(crate) business_id: Option<String>,
}

/// Parses `ContactsBusinessUpdate`: `businessId` is required but may be `null`.
pub(crate) fn bulk_business_body(bytes: &[u8]) -> Result<BulkBusiness> {
    let mut f = Fields::parse(bytes)?;
    let location_id = f
        .string("locationId", true)
        .as_set()
        .cloned()
        .unwrap_or_default();
    let ids = f.strings("ids", true).unwrap_or_default();
    for (i, id) in ids.iter().enumerate() {
        if id.chars().count() > 50 {
            f.error(format!(
                "ids.{i} must be shorter than or equal to 50 characters"
            ));
        }
    }
    let present = f.map.contains_key("businessId");
    let business_id = match f.string("businessId", false) {
        Patch::Set(s) => Some(s),
        Patch::Clear | Patch::Keep => None,
    };
    if !present {
        f.error("businessId must be a string");
    }
    f.finish()?;
    Ok(BulkBusiness {
        location_id,
        ids,
        business_id,
    })
}

/// A nullable string field: `null` clears it, a string goes through `read` (a value, or the
/// message for a string it refuses), anything else is `not_string`.
fn nullable<T>(
    errors: &mut Vec<String>,
    value: Value,
    not_string: impl FnOnce() -> String,
    read: impl FnOnce(String) -> Result<Patch<T>, String>,
) -> Patch<T> {
    let read = match value {
        Value::Null => return Patch::Clear,
        Value::String(s) => read(s),
        _ => Err(not_string()),
    };
    read.unwrap_or_else(|message| {
        errors.push(message);
        Patch::Keep
    })
}

fn string(errors: &mut Vec<String>, key: &str, value: Value) -> Patch<String> {
    nullable(
        errors,
        value,
        || format!("{key} must be a string"),
        |s| Ok(Patch::Set(s)),
    )
}

fn email(errors: &mut Vec<String>, value: Value) -> Patch<String> {
    let message = || "email must be an email".to_owned();
    nullable(errors, value, message, |s| {
        if looks_like_email(&s) {
            Ok(Patch::Set(s))
        } else {
            Err(message())
        }
    })
}

fn phone(errors: &mut Vec<String>, value: Value) -> Patch<String> {
    nullable(
        errors,
        value,
        || "phone must be a string".into(),
        |s| match normalize_phone(&s) {
            Ok(Some(p)) => Ok(Patch::Set(p)),
            Ok(None) => Ok(Patch::Clear),
            Err(()) => Err("phone must be a valid phone number".into()),
        },
    )
}

/// The `dateOfBirth` layouts GHL accepts, as its validation message lists them.
const DATE_OF_BIRTH_LAYOUTS: &str = "dateOfBirth must be a date in one of the formats \
     YYYY-MM-DD, MM-DD-YYYY, YYYY/MM/DD, MM/DD/YYYY, YYYY.MM.DD, MM.DD.YYYY, YYYY_MM_DD, MM_DD_YYYY";

fn date_of_birth(errors: &mut Vec<String>, value: Value) -> Patch<Date> {
    nullable(
        errors,
        value,
        || "dateOfBirth must be a string".into(),
        |s| match parse_date_of_birth(&s) {
            _ if s.trim().is_empty() => Ok(Patch::Clear),
            Some(d) => Ok(Patch::Set(d)),
            None => Err(DATE_OF_BIRTH_LAYOUTS.into()),
        },
    )
}

/// `dndSettings`: channels `Call`, `Email`, `SMS`, `WhatsApp`, `GMB`, `FB`, each
/// `{status: active|inactive|permanent, message?, code?}` (contacts-endpoints.md §5).
fn dnd_settings(errors: &mut Vec<String>, value: Value) -> Patch<Value> {
    dnd_object(
        errors,
        "dndSettings",
        value,
        &["Call", "Email", "SMS", "WhatsApp", "GMB", "FB"],
        &["active", "inactive", "permanent"],
    )
}

/// `inboundDndSettings`: `{all: {status: active|inactive, message?}}`.
fn inbound_dnd_settings(errors: &mut Vec<String>, value: Value) -> Patch<Value> {
    dnd_object(
        errors,
        "inboundDndSettings",
        value,
        &["all"],
        &["active", "inactive"],
    )
}

/// An object of DND settings per channel: `null` clears it; each of `channels` takes a
/// setting with one of `statuses`.
fn dnd_object(
    errors: &mut Vec<String>,
    key: &str,
    value: Value,
    channels: &[&str],
    statuses: &[&str],
) -> Patch<Value> {
    let Some(map) = object_or_clear(errors, key, &value) else {
        return if value.is_null() {
            Patch::Clear
        } else {
            Patch::Keep
        };
    };
    let before = errors.len();
    for (channel, setting) in map {
        if channels.contains(&channel.as_str()) {
            dnd_channel(errors, &format!("{key}.{channel}"), setting, statuses);
        } else {
            errors.push(format!("{key}.property {channel} should not exist"));
        }
    }
    if errors.len() == before {
        Patch::Set(value)
    } else {
        Patch::Keep
    }
}

fn object_or_clear<'a>(
    errors: &mut Vec<String>,
    key: &str,
    value: &'a Value,
) -> Option<&'a Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        Value::Null => None,
        _ => {
            errors.push(format!("{key} must be an object"));
            None
        }
    }
}

fn dnd_channel(errors: &mut Vec<String>, prefix: &str, setting: &Value, statuses: &[&str]) {
    let Value::Object(fields) = setting else {
        errors.push(format!("{prefix} must be an object"));
        return;
    };
    match fields.get("status") {
        Some(Value::String(s)) if statuses.contains(&s.as_str()) => {}
        _ => errors.push(format!(
            "{prefix}.status must be one of the following values: {}",
            statuses.join(", ")
        )),
    }
    for (k, v) in fields {
        match k.as_str() {
            "status" => {}
            "message" | "code" if v.is_string() || v.is_null() => {}
            "message" | "code" => errors.push(format!("{prefix}.{k} must be a string")),
            _ => errors.push(format!("{prefix}.property {k} should not exist")),
        }
    }
}

fn tags(errors: &mut Vec<String>, key: &str, value: Value) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        errors.push(format!("{key} must be an array"));
        return None;
    };
    let mut strings = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(s) => strings.push(s),
            _ => {
                errors.push(format!("each value in {key} must be a string"));
                return None;
            }
        }
    }
    Some(normalize_tags(strings.iter().map(String::as_str)))
}

fn custom_fields(errors: &mut Vec<String>, value: Value) -> Vec<CustomFieldInput> {
    let Value::Array(items) = value else {
        errors.push("customFields must be an array".into());
        return Vec::new();
    };
    let mut inputs = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("customFields.{i}");
        let Value::Object(fields) = item else {
            errors.push(format!("{prefix} must be an object"));
            continue;
        };
        let mut input = CustomFieldInput {
            id: None,
            key: None,
            value: Value::Null,
        };
        // v2 documents `field_value`; v3 (and integrators on v2) use `fieldValue`; reads say
        // `value`. The first present wins, in that order.
        let mut value_slot: (u8, Option<Value>) = (u8::MAX, None);
        for (k, v) in fields {
            match (k.as_str(), v) {
                ("id", Value::String(s)) => input.id = Some(s),
                ("key", Value::String(s)) => input.key = Some(s),
                ("id" | "key", Value::Null) => {}
                ("id" | "key", _) => errors.push(format!("{prefix}.{k} must be a string")),
                ("field_value", v) => take_if_higher(&mut value_slot, 0, v),
                ("fieldValue", v) => take_if_higher(&mut value_slot, 1, v),
                ("value", v) => take_if_higher(&mut value_slot, 2, v),
                (other, _) => errors.push(format!("{prefix}.property {other} should not exist")),
            }
        }
        if input.id.is_none() && input.key.is_none() {
            errors.push(format!(
                "{prefix}: pass either id or key of the custom field"
            ));
        }
        match value_slot.1 {
            Some(v) => input.value = v,
            None => errors.push(format!("{prefix}.field_value should not be undefined")),
        }
        inputs.push(input);
    }
    inputs
}

fn take_if_higher(slot: &mut (u8, Option<Value>), rank: u8, value: Value) {
    if rank < slot.0 {
        *slot = (rank, Some(value));
    }
}

/// A lenient email check (one `@`, a non-empty local part, a dotted domain, no whitespace),
/// close to what class-validator's `IsEmail` accepts for ordinary addresses.
pub(crate) fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(r: Result<ContactBody>) -> Vec<String> {
        match r {
            Err(Error::Validation(m)) => m,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn upsert_body_parses_every_documented_field() {
        let body = json!({
            "locationId": "loc", "firstName": "Jo", "lastName": null, "name": "Jo Doe",
            "email": "Jo@Example.com", "phone": "+1 888-888-8888", "gender": "female",
            "address1": "1 Main St", "city": "Springfield", "state": "IL", "postalCode": "62701",
            "website": "https://jo.example", "timezone": "America/Chicago", "country": "US",
            "companyName": "Acme", "source": "public api", "assignedTo": "user1",
            "dateOfBirth": "1990/09/25", "dnd": false,
            "dndSettings": {"Email": {"status": "active", "message": "no", "code": "x"}},
            "inboundDndSettings": {"all": {"status": "inactive"}},
            "tags": ["VIP", "vip", " Buyer "],
            "customFields": [{"key": "contact.a", "field_value": "1"}, {"id": "abc", "fieldValue": 2}],
            "createNewIfDuplicateAllowed": true
        });
        let parsed = contact_body(body.to_string().as_bytes(), ContactDto::Upsert).unwrap();
        assert_eq!(parsed.location_id, "loc");
        assert!(parsed.create_new_if_duplicate_allowed);
        let p = parsed.patch;
        assert_eq!(p.last_name, Patch::Clear);
        assert_eq!(p.email_lower().as_deref(), Some("jo@example.com"));
        assert_eq!(p.phone(), Some("+18888888888"));
        assert_eq!(p.tags, Some(vec!["vip".to_owned(), "buyer".to_owned()]));
        assert_eq!(p.custom_fields.len(), 2);
        assert_eq!(p.custom_fields[1].value, json!(2));
        assert_eq!(
            p.date_of_birth,
            Patch::Set(Date::from_calendar_date(1990, time::Month::September, 25).unwrap())
        );
    }

    #[test]
    fn unknown_and_dto_excluded_properties_are_listed() {
        let body = json!({"locationId": "l", "foo": 1, "additionalEmails": []});
        let mut m = messages(contact_body(
            body.to_string().as_bytes(),
            ContactDto::Create,
        ));
        m.sort();
        assert_eq!(
            m,
            [
                "property additionalEmails should not exist",
                "property foo should not exist"
            ]
        );

        let body =
            json!({"locationId": "l", "gender": "male", "companyName": "x", "firstName": "a"});
        let mut m = messages(contact_body(
            body.to_string().as_bytes(),
            ContactDto::Update,
        ));
        m.sort();
        assert_eq!(
            m,
            [
                "property companyName should not exist",
                "property gender should not exist",
                "property locationId should not exist"
            ]
        );

        let body = json!({"locationId": "l", "createNewIfDuplicateAllowed": true});
        let m = messages(contact_body(
            body.to_string().as_bytes(),
            ContactDto::Create,
        ));
        assert_eq!(m, ["property createNewIfDuplicateAllowed should not exist"]);
    }

    #[test]
    fn type_errors_use_class_validator_wording() {
        let body = json!({
            "firstName": 1, "email": "not-an-email", "dnd": "yes", "tags": "vip",
            "phone": "call me", "dndSettings": {"Email": {"status": "maybe"}, "Pager": {}},
            "customFields": [{"foo": 1}]
        });
        let mut m = messages(contact_body(
            body.to_string().as_bytes(),
            ContactDto::Upsert,
        ));
        m.sort();
        assert_eq!(
            m,
            [
                "customFields.0.field_value should not be undefined",
                "customFields.0.property foo should not exist",
                "customFields.0: pass either id or key of the custom field",
                "dnd must be a boolean value",
                "dndSettings.Email.status must be one of the following values: active, inactive, permanent",
                "dndSettings.property Pager should not exist",
                "email must be an email",
                "firstName must be a string",
                "locationId must be a string",
                "locationId should not be empty",
                "phone must be a valid phone number",
                "tags must be an array",
            ]
        );
    }

    #[test]
    fn empty_body_is_an_empty_object_and_bad_json_is_400() {
        let m = messages(contact_body(b"", ContactDto::Upsert));
        assert_eq!(
            m,
            [
                "locationId should not be empty",
                "locationId must be a string"
            ]
        );
        let e = contact_body(b"{\"locationId\": ", ContactDto::Upsert).unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        let e = contact_body(b"[1]", ContactDto::Upsert).unwrap_err();
        assert_eq!(e.status().as_u16(), 422);
    }

    #[test]
    fn tags_body_requires_an_array_of_strings() {
        assert_eq!(tags_body(br#"{"tags":["A","b"]}"#).unwrap(), ["a", "b"]);
        assert_eq!(
            tags_body(b"{}").unwrap_err(),
            Error::Validation(vec!["tags must be an array".into()])
        );
        assert_eq!(
            tags_body(br#"{"tags":[1]}"#).unwrap_err(),
            Error::Validation(vec!["each value in tags must be a string".into()])
        );
        assert_eq!(
            tags_body(br#"{"tags":[],"x":1}"#).unwrap_err(),
            Error::Validation(vec!["property x should not exist".into()])
        );
    }

    #[test]
    fn task_and_note_bodies() {
        let t = task_body(
            br#"{"title":"Call","dueDate":"2020-10-25T11:00:00Z","completed":false,"body":"hi"}"#,
            TaskDto::Create,
        )
        .unwrap();
        assert_eq!(t.due_date.as_deref(), Some("2020-10-25T11:00:00.000Z"));
        let mut m = match task_body(br#"{"dueDate":"tomorrow","x":1}"#, TaskDto::Create) {
            Err(Error::Validation(m)) => m,
            other => panic!("{other:?}"),
        };
        m.sort();
        assert_eq!(
            m,
            [
                "completed must be a boolean value",
                "dueDate must be a valid ISO 8601 date string",
                "property x should not exist",
                "title must be a string",
                "title should not be empty",
            ]
        );
        assert!(task_body(br#"{"title":"x"}"#, TaskDto::Completed).is_err());
        assert_eq!(
            task_body(br#"{"completed":true}"#, TaskDto::Completed)
                .unwrap()
                .completed,
            Some(true)
        );
        assert!(note_body(b"{}", true).is_err());
        assert!(note_body(b"{}", false).is_ok());
    }

    #[test]
    fn bulk_bodies() {
        let b = bulk_business_body(br#"{"locationId":"l","ids":["a"],"businessId":null}"#).unwrap();
        assert_eq!(b.business_id, None);
        assert!(bulk_business_body(br#"{"locationId":"l","ids":["a"]}"#).is_err());
        let t =
            bulk_tags_body(br#"{"locationId":"l","contacts":["a"],"tags":["X"]}"#, true).unwrap();
        assert_eq!(t.tags, ["x"]);
        assert!(
            bulk_tags_body(
                br#"{"locationId":"l","contacts":[],"tags":[],"removeAllTags":true}"#,
                true
            )
            .is_err()
        );
    }

    #[test]
    fn email_check_is_lenient_but_not_empty() {
        assert!(looks_like_email("a.b+c@example.co.uk"));
        for bad in ["", "a", "a@b", "@b.com", "a@@b.com", "a b@c.com", "a@.com"] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
