//! `GET /locations/{locationId}` (`apps/locations.json`).

use serde::Deserialize;

/// `SettingsSchema`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationSettings {
    /// "Allow Duplicate Contact": when false, create refuses a contact matching an existing
    /// one (400 with `meta.contactId`), and upsert and duplicate search match by the
    /// location's unique identifier. `None` when GHL did not say.
    #[serde(default)]
    pub allow_duplicate_contact: Option<bool>,
    #[serde(default)]
    pub allow_duplicate_opportunity: Option<bool>,
    #[serde(default)]
    pub allow_facebook_name_merge: Option<bool>,
    #[serde(default)]
    pub disable_contact_timezone: Option<bool>,
}

/// `GetLocationByIdSchema`, the fields Relay reads; the rest is in `extra`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub id: String,
    #[serde(default)]
    pub company_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// IANA name.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub settings: LocationSettings,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `GetLocationByIdSuccessfulResponseDto`: `{location}`.
#[derive(Clone, Debug, Deserialize)]
pub struct LocationResponse {
    pub location: Location,
}
