//! Request and response bodies, typed from `apps/contacts.json`. Unset fields are omitted.

use serde::{Deserialize, Serialize};

/// A custom field value on write: `{id | key, field_value}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomFieldInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub field_value: serde_json::Value,
}

/// A custom field value on read: `{id, value}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CustomFieldValue {
    pub id: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// `UpsertContactDto` (`POST /contacts/upsert`). `tags` here replaces every tag, so Relay adds
/// tags with the tag endpoints instead and leaves this unset.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertContact {
    pub location_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomFieldInput>,
}

/// The contact as `GET /contacts/{id}`, `PUT` and upsert return it (`GetContectByIdSchema`).
/// Only the fields Relay reads are typed; the rest is kept in `extra`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    #[serde(default)]
    pub location_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(default)]
    pub date_added: Option<String>,
    #[serde(default)]
    pub date_updated: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct UpsertContactResponse {
    pub new: bool,
    pub contact: Contact,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ContactResponse {
    pub contact: Contact,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DuplicateContactResponse {
    #[serde(default)]
    pub contact: Option<Contact>,
}

/// `TagsDTO`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tags {
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TagsResponse {
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `NotesDTO` (only what Relay sends; GHL answers 422 to unknown fields).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewNote {
    pub body: String,
}

/// `GetNoteSchema`, the fields Relay reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub id: String,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct NoteResponse {
    pub note: Note,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_omits_unset_fields() {
        let body = UpsertContact {
            location_id: "loc".into(),
            email: Some("a@b.c".into()),
            ..Default::default()
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"locationId": "loc", "email": "a@b.c"})
        );
    }
}
