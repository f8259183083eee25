//! The stored contact, its normalisation rules, and the read shape GHL returns
//! (`GetContectByIdSchema`, contacts-endpoints.md §4.1).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, Month, OffsetDateTime, UtcOffset};

use crate::dto::ContactPatch;

/// The `type` every contact created through the API gets.
const DEFAULT_CONTACT_TYPE: &str = "lead";

/// A contact as the sandbox stores it (and persists it: see `SandboxConfig::data_file`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Contact {
    pub(crate) id: String,
    /// Creation sequence within the sandbox: matching prefers the oldest contact.
    pub(crate) seq: u64,
    pub(crate) location_id: String,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    /// The `name` given explicitly; otherwise the name is derived from first and last name.
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) gender: Option<String>,
    pub(crate) address1: Option<String>,
    pub(crate) city: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) postal_code: Option<String>,
    pub(crate) website: Option<String>,
    pub(crate) timezone: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) company_name: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) assigned_to: Option<String>,
    pub(crate) date_of_birth: Option<Date>,
    pub(crate) dnd: bool,
    pub(crate) dnd_settings: Option<Value>,
    pub(crate) inbound_dnd_settings: Option<Value>,
    /// Lower-case, unique, in the order they were added.
    pub(crate) tags: Vec<String>,
    /// `(custom field id, value)`, in the order they were first set.
    pub(crate) custom_fields: Vec<(String, Value)>,
    /// Follower user ids, in the order they were added.
    pub(crate) followers: Vec<String>,
    /// The business the contact belongs to (`POST /contacts/bulk/business`).
    pub(crate) business_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) date_added: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) date_updated: OffsetDateTime,
}

impl Contact {
    /// An empty contact.
    pub(crate) fn new(id: String, seq: u64, location_id: String, now: OffsetDateTime) -> Self {
        Self {
            id,
            seq,
            location_id,
            first_name: None,
            last_name: None,
            name: None,
            email: None,
            phone: None,
            gender: None,
            address1: None,
            city: None,
            state: None,
            postal_code: None,
            website: None,
            timezone: None,
            country: None,
            company_name: None,
            source: None,
            assigned_to: None,
            date_of_birth: None,
            dnd: false,
            dnd_settings: None,
            inbound_dnd_settings: None,
            tags: Vec::new(),
            custom_fields: Vec::new(),
            followers: Vec::new(),
            business_id: None,
            date_added: now,
            date_updated: now,
        }
    }

    /// Applies a validated patch whose custom fields were already resolved to ids.
    pub(crate) fn apply(
        &mut self,
        patch: ContactPatch,
        custom_fields: Vec<(String, Value)>,
        now: OffsetDateTime,
    ) {
        patch.first_name.apply(&mut self.first_name);
        patch.last_name.apply(&mut self.last_name);
        patch.name.apply(&mut self.name);
        patch.email.apply(&mut self.email);
        patch.phone.apply(&mut self.phone);
        patch.gender.apply(&mut self.gender);
        patch.address1.apply(&mut self.address1);
        patch.city.apply(&mut self.city);
        patch.state.apply(&mut self.state);
        patch.postal_code.apply(&mut self.postal_code);
        patch.website.apply(&mut self.website);
        patch.timezone.apply(&mut self.timezone);
        patch.country.apply(&mut self.country);
        patch.company_name.apply(&mut self.company_name);
        patch.source.apply(&mut self.source);
        patch.assigned_to.apply(&mut self.assigned_to);
        patch.date_of_birth.apply(&mut self.date_of_birth);
        if let Some(dnd) = patch.dnd {
            self.dnd = dnd;
        }
        patch.dnd_settings.apply(&mut self.dnd_settings);
        patch
            .inbound_dnd_settings
            .apply(&mut self.inbound_dnd_settings);
        if let Some(tags) = patch.tags {
            self.tags = tags;
        }
        for (id, value) in custom_fields {
            self.set_custom_field(id, value);
        }
        self.date_updated = now;
    }

    /// Sets one custom field; `null`, `""` and `[]` remove it.
    fn set_custom_field(&mut self, id: String, value: Value) {
        let clears = match &value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        let existing = self.custom_fields.iter().position(|(f, _)| *f == id);
        match (existing, clears) {
            (Some(i), true) => {
                self.custom_fields.remove(i);
            }
            (Some(i), false) => self.custom_fields[i].1 = value,
            (None, true) => {}
            (None, false) => self.custom_fields.push((id, value)),
        }
    }

    /// Adds tags (already normalised), keeping the existing order; returns the full set.
    pub(crate) fn add_tags(&mut self, tags: Vec<String>, now: OffsetDateTime) -> Vec<String> {
        for tag in tags {
            if !self.tags.contains(&tag) {
                self.tags.push(tag);
            }
        }
        self.date_updated = now;
        self.tags.clone()
    }

    /// Removes tags (already normalised); returns the remaining set.
    pub(crate) fn remove_tags(&mut self, tags: &[String], now: OffsetDateTime) -> Vec<String> {
        self.tags.retain(|t| !tags.contains(t));
        self.date_updated = now;
        self.tags.clone()
    }

    /// The email lower-cased, as GHL matches it.
    pub(crate) fn email_lower(&self) -> Option<String> {
        self.email.as_deref().map(str::to_lowercase)
    }

    /// The name shown for the contact: the explicit `name`, or first and last name joined.
    pub(crate) fn display_name(&self) -> Option<String> {
        if let Some(n) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            return Some(n.to_owned());
        }
        let joined = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    }

    /// Custom field values in the read shape, `{id, value}`.
    fn custom_field_values(&self) -> Vec<CustomFieldValue> {
        self.custom_fields
            .iter()
            .map(|(id, value)| CustomFieldValue {
                id: id.clone(),
                value: value.clone(),
            })
            .collect()
    }

    /// `dateOfBirth` as GHL reads it back: ISO midnight.
    fn date_of_birth_iso(&self) -> Option<String> {
        self.date_of_birth
            .map(|d| format!("{}T00:00:00.000Z", iso_date(d)))
    }

    /// The read shape.
    pub(crate) fn view(&self) -> ContactView {
        ContactView {
            id: self.id.clone(),
            location_id: self.location_id.clone(),
            name: self.display_name(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            first_name_lower_case: lower(self.first_name.as_ref()),
            last_name_lower_case: lower(self.last_name.as_ref()),
            full_name_lower_case: self.display_name().map(|n| n.to_lowercase()),
            email: self.email.clone(),
            email_lower_case: self.email_lower(),
            phone: self.phone.clone(),
            gender: self.gender.clone(),
            address1: self.address1.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            website: self.website.clone(),
            timezone: self.timezone.clone(),
            company_name: self.company_name.clone(),
            source: self.source.clone(),
            assigned_to: self.assigned_to.clone(),
            date_of_birth: self.date_of_birth_iso(),
            dnd: self.dnd,
            dnd_settings: self.dnd_settings.clone(),
            inbound_dnd_settings: self.inbound_dnd_settings.clone(),
            contact_type: DEFAULT_CONTACT_TYPE.to_owned(),
            tags: self.tags.clone(),
            custom_fields: self.custom_field_values(),
            business_id: self.business_id.clone(),
            followers: self.followers.clone(),
            date_added: iso_millis(self.date_added),
            date_updated: iso_millis(self.date_updated),
        }
    }

    /// The shape search results and contact lists carry (the initial spec's `Contact` with
    /// `searchAfter`, plus the names clients read): no `dndSettings` (issue #43), `address`
    /// rather than `address1`.
    pub(crate) fn search_view(&self, search_after: Option<Vec<Value>>) -> SearchContactView {
        SearchContactView {
            id: self.id.clone(),
            location_id: self.location_id.clone(),
            contact_name: self.display_name(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            first_name_lower_case: lower(self.first_name.as_ref()),
            last_name_lower_case: lower(self.last_name.as_ref()),
            email: self.email.clone(),
            phone: self.phone.clone(),
            company_name: self.company_name.clone(),
            address: self.address1.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            country: self.country.clone(),
            postal_code: self.postal_code.clone(),
            timezone: self.timezone.clone(),
            website: self.website.clone(),
            source: self.source.clone(),
            assigned_to: self.assigned_to.clone(),
            date_of_birth: self.date_of_birth_iso(),
            contact_type: DEFAULT_CONTACT_TYPE.to_owned(),
            dnd: self.dnd,
            tags: self.tags.clone(),
            custom_fields: self.custom_field_values(),
            additional_emails: Vec::new(),
            additional_phones: Vec::new(),
            attributions: Vec::new(),
            followers: self.followers.clone(),
            business_id: self.business_id.clone(),
            date_added: iso_millis(self.date_added),
            date_updated: iso_millis(self.date_updated),
            search_after,
        }
    }
}

/// A contact in search results, the deprecated list and contacts by business
/// (`ContactsSearchSchema`, extended with what GHL returns and clients read).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchContactView {
    /// Contact id.
    pub id: String,
    /// Owning location.
    pub location_id: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// First name, lower-cased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name_lower_case: Option<String>,
    /// Last name, lower-cased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name_lower_case: Option<String>,
    /// Email as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164 phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Company name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// Street address (`address1` on the contact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// IANA time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Website.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Assigned user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// ISO midnight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// `lead`.
    #[serde(rename = "type")]
    pub contact_type: String,
    /// Master do-not-disturb.
    pub dnd: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom field values by id.
    pub custom_fields: Vec<CustomFieldValue>,
    /// Always empty: the API cannot write them.
    pub additional_emails: Vec<Value>,
    /// Always empty: the API cannot write them.
    pub additional_phones: Vec<Value>,
    /// Attribution sources (always empty in the sandbox).
    pub attributions: Vec<Value>,
    /// Follower user ids.
    pub followers: Vec<String>,
    /// Business id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_id: Option<String>,
    /// ISO 8601 with milliseconds.
    pub date_added: String,
    /// ISO 8601 with milliseconds.
    pub date_updated: String,
    /// Search cursor: the sort values then the id (search results only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_after: Option<Vec<Value>>,
}

/// A contact as GHL returns it from get, update and upsert (`GetContectByIdSchema`), and as the
/// control endpoints list it. Unset fields are omitted, as GHL omits them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContactView {
    /// 20-character alphanumeric id.
    pub id: String,
    /// The owning location (sub-account).
    pub location_id: String,
    /// The explicit `name`, or first and last name joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// First name as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// First name, lower-cased (a search field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name_lower_case: Option<String>,
    /// Last name, lower-cased (a search field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name_lower_case: Option<String>,
    /// The display name, lower-cased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name_lower_case: Option<String>,
    /// Email exactly as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Email lower-cased (what matching uses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_lower_case: Option<String>,
    /// Phone in E.164 form (`+18888888888`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Gender, when set on create or upsert-create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// Street address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Two-letter country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Website.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// IANA time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Company name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// Source, e.g. `public api`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Assigned user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// ISO midnight, e.g. `1990-09-25T00:00:00.000Z`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// Master do-not-disturb.
    pub dnd: bool,
    /// Per-channel DND (`Call`, `Email`, `SMS`, `WhatsApp`, `GMB`, `FB`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnd_settings: Option<Value>,
    /// Inbound DND (`{all: {status}}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_dnd_settings: Option<Value>,
    /// Contact type (`lead`).
    #[serde(rename = "type")]
    pub contact_type: String,
    /// Tags, lower-case.
    pub tags: Vec<String>,
    /// Custom field values by id (reads never carry the key).
    pub custom_fields: Vec<CustomFieldValue>,
    /// The business the contact belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_id: Option<String>,
    /// Follower user ids (observed on reads; not in the spec schema).
    pub followers: Vec<String>,
    /// ISO 8601 with milliseconds, UTC.
    pub date_added: String,
    /// ISO 8601 with milliseconds, UTC.
    pub date_updated: String,
}

/// One custom field on a read: `{id, value}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    /// The custom field definition's id.
    pub id: String,
    /// The stored value (string, number, array or object, by the field's type).
    pub value: Value,
}

fn lower(s: Option<&String>) -> Option<String> {
    s.map(|s| s.to_lowercase())
}

/// Formats a timestamp as GHL does: `2024-01-05T10:11:12.345Z`.
pub(crate) fn iso_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        iso_date(t.date()),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Normalises a phone to E.164-ish: keeps digits and a leading `+`, drops spaces, dashes, dots
/// and parentheses. Without a `+`, ten digits are taken as a North American number (`+1`
/// prepended) and anything else gets a `+` in front. `Ok(None)` for an empty string; `Err` for
/// letters, a misplaced `+`, or fewer than 7 / more than 15 digits.
pub(crate) fn normalize_phone(raw: &str) -> Result<Option<String>, ()> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(()),
        }
    }
    if !(7..=15).contains(&digits.len()) {
        return Err(());
    }
    Ok(Some(if plus || digits.len() != 10 {
        format!("+{digits}")
    } else {
        format!("+1{digits}")
    }))
}

/// Normalises tags as GHL stores them: trimmed, lower-cased, empty ones dropped, duplicates
/// removed (first occurrence kept).
pub(crate) fn normalize_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// Parses `dateOfBirth` in the eight layouts GHL accepts (`YYYY-MM-DD`, `MM-DD-YYYY`, with `-`,
/// `/`, `.` or `_`), plus an ISO timestamp (what GHL itself returns).
pub(crate) fn parse_date_of_birth(raw: &str) -> Option<Date> {
    let raw = raw.trim();
    let date_part = match raw.split_once('T') {
        Some((d, _)) if d.len() == 10 => d,
        _ => raw,
    };
    let sep = date_part
        .chars()
        .find(|c| matches!(c, '-' | '/' | '.' | '_'))?;
    let parts: Vec<&str> = date_part.split(sep).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    if !parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let (y, m, d) = match (a.len(), b.len(), c.len()) {
        (4, 1..=2, 1..=2) => (*a, *b, *c),
        (1..=2, 1..=2, 4) => (*c, *a, *b),
        _ => return None,
    };
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            normalize_phone("+1 888-888-8888"),
            Ok(Some("+18888888888".into()))
        );
        assert_eq!(
            normalize_phone("(888) 888.8888"),
            Ok(Some("+18888888888".into()))
        );
        assert_eq!(
            normalize_phone("+44 20 7946 0958"),
            Ok(Some("+442079460958".into()))
        );
        assert_eq!(
            normalize_phone("442079460958"),
            Ok(Some("+442079460958".into()))
        );
        assert_eq!(normalize_phone("  "), Ok(None));
        for bad in [
            "abc",
            "+1 888 CALL NOW",
            "12+34567890",
            "123",
            "+1234567890123456",
        ] {
            assert_eq!(normalize_phone(bad), Err(()), "{bad}");
        }
    }

    #[test]
    fn tags_are_lowercased_trimmed_and_unique() {
        assert_eq!(
            normalize_tags(["VIP", " vip", "Buyer", "", "buyer "]),
            ["vip", "buyer"]
        );
    }

    #[test]
    fn dates_of_birth_accept_the_documented_layouts() {
        let want = Date::from_calendar_date(1990, Month::September, 5).unwrap();
        for s in [
            "1990-09-05",
            "09-05-1990",
            "1990/09/05",
            "09/05/1990",
            "1990.09.05",
            "09.05.1990",
            "1990_09_05",
            "09_05_1990",
            "1990-9-5",
            "1990-09-05T00:00:00.000Z",
        ] {
            assert_eq!(parse_date_of_birth(s), Some(want), "{s}");
        }
        for bad in [
            "1990-13-01",
            "1990-02-30",
            "05/1990",
            "yesterday",
            "1990-09-05-01",
            "90-09-05",
        ] {
            assert_eq!(parse_date_of_birth(bad), None, "{bad}");
        }
    }

    #[test]
    fn view_has_ghl_field_names_and_omits_unset_fields() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_704_449_472_345_000_000).unwrap();
        let mut c = Contact::new("c1".into(), 1, "loc".into(), t);
        c.first_name = Some("Jo".into());
        c.last_name = Some("Doe".into());
        c.email = Some("Jo@Example.com".into());
        c.tags = vec!["vip".into()];
        c.custom_fields = vec![("cf1".into(), json!("x"))];
        c.date_of_birth = Date::from_calendar_date(1990, Month::September, 25).ok();
        let v = serde_json::to_value(c.view()).unwrap();
        assert_eq!(
            v,
            json!({
                "id": "c1", "locationId": "loc", "name": "Jo Doe", "firstName": "Jo", "lastName": "Doe",
                "firstNameLowerCase": "jo", "lastNameLowerCase": "doe", "fullNameLowerCase": "jo doe",
                "email": "Jo@Example.com", "emailLowerCase": "jo@example.com",
                "dateOfBirth": "1990-09-25T00:00:00.000Z", "dnd": false, "type": "lead",
                "tags": ["vip"], "customFields": [{"id": "cf1", "value": "x"}], "followers": [],
                "dateAdded": "2024-01-05T10:11:12.345Z", "dateUpdated": "2024-01-05T10:11:12.345Z"
            })
        );
        let back: ContactView = serde_json::from_value(v).unwrap();
        assert_eq!(back, c.view());
    }

    #[test]
    fn custom_fields_update_in_place_and_clear() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut c = Contact::new("c1".into(), 1, "loc".into(), now);
        c.apply(
            ContactPatch::default(),
            vec![("a".into(), json!("1")), ("b".into(), json!(2))],
            now,
        );
        c.apply(
            ContactPatch::default(),
            vec![("a".into(), json!("3")), ("b".into(), json!(""))],
            now,
        );
        assert_eq!(c.custom_fields, vec![("a".to_owned(), json!("3"))]);
    }
}
