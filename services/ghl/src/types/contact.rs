//! Contact bodies: the create, update and upsert DTOs and the contact read shapes.

use serde::{Deserialize, Serialize};

/// A custom field value on write (`customFields[]` of the create, update and upsert DTOs):
/// `{id | key, field_value}`. The value's JSON type follows the field's data type: a string
/// for text and option fields, a number for `NUMERICAL`/`MONETORY`, an array of strings for
/// `CHECKBOX`/`MULTIPLE_OPTIONS`, an object for `FILE_UPLOAD`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomFieldInput {
    /// The field definition's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The field key (`contact.<name>` or the bare name), when the id is not known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub field_value: serde_json::Value,
}

impl CustomFieldInput {
    /// A value for the field with this id.
    pub fn by_id(id: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        Self {
            id: Some(id.into()),
            key: None,
            field_value: value.into(),
        }
    }

    /// A value for the field with this key.
    pub fn by_key(key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        Self {
            id: None,
            key: Some(key.into()),
            field_value: value.into(),
        }
    }
}

/// A custom field value on read: `{id, value}` (reads never carry the key).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CustomFieldValue {
    pub id: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// A channel's do-not-disturb status (`DndSettingSchema.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DndStatus {
    Active,
    Inactive,
    Permanent,
}

/// `DndSettingSchema`: one channel's setting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DndSetting {
    pub status: DndStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `DndSettingsSchema`: per-channel do-not-disturb (the v2 keys are capitalised).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DndSettings {
    #[serde(rename = "Call", default, skip_serializing_if = "Option::is_none")]
    pub call: Option<DndSetting>,
    #[serde(rename = "Email", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<DndSetting>,
    #[serde(rename = "SMS", default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<DndSetting>,
    #[serde(rename = "WhatsApp", default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<DndSetting>,
    #[serde(rename = "GMB", default, skip_serializing_if = "Option::is_none")]
    pub gmb: Option<DndSetting>,
    #[serde(rename = "FB", default, skip_serializing_if = "Option::is_none")]
    pub fb: Option<DndSetting>,
}

/// `InboundDndSettingSchema.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundDndStatus {
    Active,
    Inactive,
}

/// `InboundDndSettingSchema`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundDndSetting {
    pub status: InboundDndStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `InboundDndSettingsSchema`: `{all: {status, message?}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundDndSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<InboundDndSetting>,
}

/// `CreateContactDto` (`POST /contacts/`). At least one of email, phone, first and last name
/// is needed (GHL answers 422 otherwise). On a location that refuses duplicates a match is a
/// 400 naming the existing contact ([`crate::GhlError::duplicate_contact_id`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateContact {
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
    pub gender: Option<String>,
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
    /// IANA name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnd: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnd_settings: Option<DndSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_dnd_settings: Option<InboundDndSettings>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomFieldInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `YYYY-MM-DD` (or one of the other seven layouts GHL accepts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// Two-letter country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// User id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

/// `UpsertContactDto` (`POST /contacts/upsert`): matches by email/phone per the location's
/// duplicate settings. `tags` here replaces every tag, so Relay adds tags with the tag
/// endpoints instead and leaves this unset.
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
    /// Applied when the upsert creates; GHL ignores it for an existing contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
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
    pub dnd: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnd_settings: Option<DndSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_dnd_settings: Option<InboundDndSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// Replaces every tag of a matched contact (`Some(vec![])` clears them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomFieldInput>,
    /// `true` on a location that allows duplicates: always create, without matching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_new_if_duplicate_allowed: Option<bool>,
}

/// `UpdateContactDto` (`PUT /contacts/{contactId}`). It declares neither `locationId`,
/// `gender` nor `companyName` (GHL answers 422 to them).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateContact {
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
    pub dnd: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnd_settings: Option<DndSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_dnd_settings: Option<InboundDndSettings>,
    /// Replaces every tag (`Some(vec![])` clears them); the tag endpoints add and remove.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomFieldInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

/// The contact as get, create, update and upsert return it (`GetContectByIdSchema`,
/// `CreateContactSchema`). Only the fields Relay reads are typed; the rest is kept in `extra`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    #[serde(default)]
    pub location_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// E.164.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub assigned_to: Option<String>,
    #[serde(default)]
    pub dnd: Option<bool>,
    #[serde(default)]
    pub dnd_settings: Option<DndSettings>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(default)]
    pub business_id: Option<String>,
    /// Follower user ids (observed on reads; not in the spec schema).
    #[serde(default)]
    pub followers: Vec<String>,
    /// ISO 8601.
    #[serde(default)]
    pub date_added: Option<String>,
    /// ISO 8601.
    #[serde(default)]
    pub date_updated: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Contact {
    /// The value of the custom field with this id, if the contact has one.
    pub fn custom_field(&self, id: &str) -> Option<&serde_json::Value> {
        self.custom_fields
            .iter()
            .find(|f| f.id == id)
            .map(|f| &f.value)
    }
}

/// `UpsertContactsSuccessfulResponseDto`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertContactResponse {
    /// Whether the upsert created the contact.
    pub new: bool,
    pub contact: Contact,
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// `{contact}`: get (`ContactsByIdSuccessfulResponseDto`) and create
/// (`CreateContactsSuccessfulResponseDto`).
#[derive(Clone, Debug, Deserialize)]
pub struct ContactResponse {
    pub contact: Contact,
}

/// `UpdateContactsSuccessfulResponseDto`: `{succeded, contact}`.
#[derive(Clone, Debug, Deserialize)]
pub struct UpdateContactResponse {
    /// `succeded` on the wire (sic).
    #[serde(rename = "succeded", alias = "succeeded", default)]
    pub succeeded: bool,
    pub contact: Contact,
}

/// `GET /contacts/search/duplicate`: `{contact | null}` (no schema in the spec).
#[derive(Clone, Debug, Deserialize)]
pub struct DuplicateContactResponse {
    #[serde(default)]
    pub contact: Option<Contact>,
}

/// `{succeded}` (sic): delete contact, task and note; campaign and workflow enrolment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct SucceededResponse {
    /// `succeded` on the wire (sic; v3 spells it `succeeded`).
    #[serde(rename = "succeded", alias = "succeeded", default)]
    pub succeeded: bool,
}

/// `ContactsBusinessUpdate` (`POST /contacts/bulk/business`): links contacts to a business,
/// or with `business_id: None` (sent as `null`, the field is required) detaches them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessContactsUpdate {
    pub location_id: String,
    /// Contact ids.
    pub ids: Vec<String>,
    pub business_id: Option<String>,
}

/// `ContactsBulkUpateResponse` (sic).
#[derive(Clone, Debug, Deserialize)]
pub struct BusinessContactsUpdateResponse {
    #[serde(default)]
    pub success: bool,
    /// The contacts updated.
    #[serde(default)]
    pub ids: Vec<String>,
}

/// `GetEventSchema`: an appointment of the contact. Times are as GHL writes them
/// (`2021-07-16 11:00:00`, not ISO).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    pub id: String,
    #[serde(default)]
    pub calendar_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub appointment_status: Option<String>,
    #[serde(default)]
    pub assigned_user_id: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub date_added: Option<String>,
    #[serde(default)]
    pub date_updated: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `GetEventsSuccessfulResponseDto`.
#[derive(Clone, Debug, Deserialize)]
pub struct AppointmentsResponse {
    #[serde(default)]
    pub events: Vec<Appointment>,
}
