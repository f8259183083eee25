//! In-memory GHL state: locations (sub-accounts) with their token, duplicate settings, custom
//! field definitions and contacts, plus GHL's matching and dedupe rules (README §7, integrator
//! findings B and C). Pure and synchronous; [`crate::SandboxState`] puts it behind a lock.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::RateLimitConfig;
use crate::contact::{Contact, ContactView};
use crate::dto::{ContactBody, ContactPatch, CustomFieldInput, Patch};
use crate::error::{Error, Result};
use crate::ids;

/// The seeded demo location (DESIGN.md, local conventions).
pub const DEMO_LOCATION_ID: &str = "demo-location";
/// The demo location's private integration token.
pub const DEMO_TOKEN: &str = "pit-relay-demo";
/// The demo location's name.
pub const DEMO_LOCATION_NAME: &str = "Relay Demo";

/// An identifying field contacts are matched by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchField {
    /// Email, case-insensitively.
    Email,
    /// Phone, after normalisation to E.164.
    Phone,
}

impl MatchField {
    /// The wire name (`email`, `phone`), as in `meta.matchingField`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }
}

/// A custom field's data type, as GHL names them (`MONETORY` sic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DataType {
    /// `TEXT`: a string.
    #[default]
    Text,
    /// `LARGE_TEXT`: a string.
    LargeText,
    /// `NUMERICAL`: a number.
    Numerical,
    /// `PHONE`: a phone number string.
    Phone,
    /// `MONETORY` (sic): a number.
    Monetory,
    /// `CHECKBOX`: an array of option strings.
    Checkbox,
    /// `SINGLE_OPTIONS`: one option string.
    SingleOptions,
    /// `MULTIPLE_OPTIONS`: an array of option strings.
    MultipleOptions,
    /// `DATE`: a date string.
    Date,
    /// `TEXTBOX_LIST`: a list of strings.
    TextboxList,
    /// `FILE_UPLOAD`: an object keyed by upload id.
    FileUpload,
    /// `RADIO`: one option string.
    Radio,
    /// `EMAIL`: an email string.
    Email,
}

/// A location's custom field definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldDef {
    /// 20-character id, what contacts carry in `customFields[].id`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `contact.<key>`; writes may use it with or without the `contact.` prefix.
    pub field_key: String,
    /// Value type.
    pub data_type: DataType,
}

/// A custom field to define on a new location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomField {
    /// Key, with or without the `contact.` prefix.
    pub key: String,
    /// Display name (defaults to the key).
    #[serde(default)]
    pub name: Option<String>,
    /// Value type (defaults to `TEXT`).
    #[serde(default)]
    pub data_type: Option<DataType>,
    /// Id (defaults to one derived from location id and key, stable across resets).
    #[serde(default)]
    pub id: Option<String>,
}

impl NewCustomField {
    /// A `TEXT` field with this key.
    pub fn text(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            name: None,
            data_type: None,
            id: None,
        }
    }
}

/// A location to create (`POST /_sandbox/locations`, [`crate::SandboxState::add_location`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewLocation {
    /// Location id (defaults to a random 20-character id).
    pub id: Option<String>,
    /// Display name (defaults to the id).
    pub name: Option<String>,
    /// Its private integration token (defaults to `pit-<random>`).
    pub token: Option<String>,
    /// GHL's "Allow Duplicate Contact" setting (default false: create refuses duplicates).
    pub allow_duplicate_contact: bool,
    /// Which fields identify a contact, in priority order (default `["email", "phone"]`).
    pub match_order: Option<Vec<MatchField>>,
    /// Custom field definitions.
    pub custom_fields: Vec<NewCustomField>,
    /// Overrides the configured rate limits for this location.
    pub rate_limit: Option<RateLimitConfig>,
}

impl NewLocation {
    /// A location with this id and token and default settings.
    pub fn new(id: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            token: Some(token.into()),
            ..Self::default()
        }
    }
}

/// A location as the control endpoints show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocationView {
    /// Location id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its private integration token.
    pub token: String,
    /// "Allow Duplicate Contact".
    pub allow_duplicate_contact: bool,
    /// Identifying fields in priority order.
    pub match_order: Vec<MatchField>,
    /// Rate-limit override, if any.
    pub rate_limit: Option<RateLimitConfig>,
    /// Custom field definitions.
    pub custom_fields: Vec<CustomFieldDef>,
    /// How many contacts it holds.
    pub contact_count: usize,
}

/// One location and its contacts.
#[derive(Debug)]
pub(crate) struct Location {
    id: String,
    name: String,
    token: String,
    allow_duplicate_contact: bool,
    match_order: Vec<MatchField>,
    rate_limit: Option<RateLimitConfig>,
    custom_fields: Vec<CustomFieldDef>,
    contacts: HashMap<String, Contact>,
    /// Contact ids in creation order: matching prefers the oldest contact.
    order: Vec<String>,
}

impl Location {
    /// The location id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The rate-limit override, if any.
    pub(crate) fn rate_limit(&self) -> Option<&RateLimitConfig> {
        self.rate_limit.as_ref()
    }

    fn view(&self) -> LocationView {
        LocationView {
            id: self.id.clone(),
            name: self.name.clone(),
            token: self.token.clone(),
            allow_duplicate_contact: self.allow_duplicate_contact,
            match_order: self.match_order.clone(),
            rate_limit: self.rate_limit.clone(),
            custom_fields: self.custom_fields.clone(),
            contact_count: self.contacts.len(),
        }
    }

    fn contacts_in_order(&self) -> impl Iterator<Item = &Contact> {
        self.order.iter().filter_map(|id| self.contacts.get(id))
    }

    /// The first contact (oldest first) matching one of the identifying values, trying fields
    /// in the location's priority order. `except` excludes one contact (the one being updated).
    fn find_match(
        &self,
        email_lower: Option<&str>,
        phone: Option<&str>,
        except: Option<&str>,
    ) -> Option<(&Contact, MatchField)> {
        self.match_order.iter().find_map(|&field| {
            let candidates = || {
                self.contacts_in_order()
                    .filter(|c| Some(c.id.as_str()) != except)
            };
            let found = match field {
                MatchField::Email => {
                    let want = email_lower?;
                    candidates().find(|c| c.email_lower().as_deref() == Some(want))
                }
                MatchField::Phone => {
                    let want = phone?;
                    candidates().find(|c| c.phone.as_deref() == Some(want))
                }
            };
            found.map(|c| (c, field))
        })
    }

    fn duplicate_error(contact: &Contact, field: MatchField) -> Error {
        Error::DuplicateContact {
            contact_id: contact.id.clone(),
            contact_name: contact.display_name(),
            matching_field: field,
        }
    }

    /// Resolves `customFields[]` inputs to `(id, value)` through the location's definitions.
    fn resolve_custom_fields(&self, inputs: &[CustomFieldInput]) -> Result<Vec<(String, Value)>> {
        let mut resolved = Vec::with_capacity(inputs.len());
        let mut errors = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let def = match (&input.id, &input.key) {
                (Some(id), _) => self
                    .custom_fields
                    .iter()
                    .find(|d| d.id == *id)
                    .ok_or_else(|| {
                        format!(
                            "customFields.{i}.id {id} is not a custom field of location {}",
                            self.id
                        )
                    }),
                (None, Some(key)) => {
                    let full = full_field_key(key);
                    self.custom_fields
                        .iter()
                        .find(|d| d.field_key == full)
                        .ok_or_else(|| {
                            format!(
                                "customFields.{i}.key {key} is not a custom field of location {}",
                                self.id
                            )
                        })
                }
                (None, None) => Err(format!(
                    "customFields.{i}: pass either id or key of the custom field"
                )),
            };
            match def {
                Ok(def) => resolved.push((def.id.clone(), input.value.clone())),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(resolved)
        } else {
            Err(Error::Validation(errors))
        }
    }

    fn contact(&self, id: &str) -> Result<&Contact> {
        self.contacts.get(id).ok_or_else(contact_not_found)
    }

    fn contact_mut(&mut self, id: &str) -> Result<&mut Contact> {
        self.contacts.get_mut(id).ok_or_else(contact_not_found)
    }

    fn insert(
        &mut self,
        id: String,
        patch: ContactPatch,
        custom_fields: Vec<(String, Value)>,
        now: OffsetDateTime,
    ) -> ContactView {
        let mut contact = Contact::new(id.clone(), self.id.clone(), now);
        contact.apply(patch, custom_fields, now);
        let view = contact.view();
        self.order.push(id.clone());
        self.contacts.insert(id, contact);
        view
    }
}

fn contact_not_found() -> Error {
    Error::NotFound("Contact not found".into())
}

/// `contact.<key>` for a bare or prefixed key.
fn full_field_key(key: &str) -> String {
    if key.starts_with("contact.") {
        key.to_owned()
    } else {
        format!("contact.{key}")
    }
}

/// What an upsert did.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UpsertOutcome {
    /// Whether a contact was created (`new` in the response).
    pub(crate) created: bool,
    /// The contact after the write.
    pub(crate) contact: ContactView,
}

/// Every location, token and contact.
#[derive(Debug, Default)]
pub(crate) struct Store {
    locations: BTreeMap<String, Location>,
    /// Token → location id.
    tokens: HashMap<String, String>,
    /// Contact id → location id.
    contact_locations: HashMap<String, String>,
}

impl Store {
    /// A store holding the demo location (`seed_demo`), or nothing.
    pub(crate) fn new(seed_demo: bool) -> Self {
        let mut store = Self::default();
        if seed_demo {
            // Cannot clash in an empty store.
            let _ = store.add_location(demo_location());
        }
        store
    }

    /// Creates a location. Fails when its id or token is taken or a setting is invalid.
    pub(crate) fn add_location(&mut self, new: NewLocation) -> Result<LocationView> {
        let id = new
            .id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(ids::random_id);
        if self.locations.contains_key(&id) {
            return Err(Error::Control(format!("location {id} already exists")));
        }
        let token = new
            .token
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("pit-{}", ids::random_id()));
        if self.tokens.contains_key(&token) {
            return Err(Error::Control(
                "that token already belongs to another location".into(),
            ));
        }
        let match_order = new
            .match_order
            .unwrap_or_else(|| vec![MatchField::Email, MatchField::Phone]);
        if match_order.is_empty()
            || (match_order.len() == 2 && match_order[0] == match_order[1])
            || match_order.len() > 2
        {
            return Err(Error::Control(
                "match_order must list email and/or phone, each at most once".into(),
            ));
        }
        if let Some(problems) = new
            .rate_limit
            .as_ref()
            .and_then(|r| r.problems("rate_limit"))
        {
            return Err(Error::Control(problems));
        }
        let mut custom_fields: Vec<CustomFieldDef> = Vec::with_capacity(new.custom_fields.len());
        for f in new.custom_fields {
            let field_key = full_field_key(&f.key);
            let def = CustomFieldDef {
                id: f.id.unwrap_or_else(|| ids::derived_id(&[&id, &field_key])),
                name: f.name.unwrap_or_else(|| f.key.clone()),
                field_key,
                data_type: f.data_type.unwrap_or_default(),
            };
            if custom_fields
                .iter()
                .any(|d| d.id == def.id || d.field_key == def.field_key)
            {
                return Err(Error::Control(format!(
                    "custom field {} is defined twice",
                    def.field_key
                )));
            }
            custom_fields.push(def);
        }
        let location = Location {
            id: id.clone(),
            name: new.name.unwrap_or_else(|| id.clone()),
            token: token.clone(),
            allow_duplicate_contact: new.allow_duplicate_contact,
            match_order,
            rate_limit: new.rate_limit,
            custom_fields,
            contacts: HashMap::new(),
            order: Vec::new(),
        };
        let view = location.view();
        self.tokens.insert(token, id.clone());
        self.locations.insert(id, location);
        Ok(view)
    }

    /// The location a token grants access to.
    pub(crate) fn location_for_token(&self, token: &str) -> Option<&Location> {
        self.tokens.get(token).and_then(|id| self.locations.get(id))
    }

    /// One location's view.
    pub(crate) fn location_view(&self, id: &str) -> Option<LocationView> {
        self.locations.get(id).map(Location::view)
    }

    /// Every location's view, by id.
    pub(crate) fn location_views(&self) -> Vec<LocationView> {
        self.locations.values().map(Location::view).collect()
    }

    /// A location's contacts in creation order, or `None` for an unknown location.
    pub(crate) fn contacts(&self, location_id: &str) -> Option<Vec<ContactView>> {
        self.locations
            .get(location_id)
            .map(|l| l.contacts_in_order().map(Contact::view).collect())
    }

    /// The location the caller's token grants, checked against the location a request names:
    /// 403 when they differ.
    fn caller_location_mut(&mut self, caller: &str, location_id: &str) -> Result<&mut Location> {
        if caller != location_id {
            return Err(Error::Forbidden);
        }
        self.locations.get_mut(location_id).ok_or(Error::Forbidden)
    }

    /// The location holding `contact_id`: 404 when no location does, 403 when it is not the
    /// caller's.
    fn contact_location_mut(&mut self, caller: &str, contact_id: &str) -> Result<&mut Location> {
        let owner = self
            .contact_locations
            .get(contact_id)
            .ok_or_else(contact_not_found)?;
        if owner != caller {
            return Err(Error::Forbidden);
        }
        self.locations.get_mut(caller).ok_or_else(contact_not_found)
    }

    fn fresh_contact_id(&self) -> String {
        loop {
            let id = ids::random_id();
            if !self.contact_locations.contains_key(&id) {
                return id;
            }
        }
    }

    /// `POST /contacts/upsert`.
    pub(crate) fn upsert(
        &mut self,
        caller: &str,
        body: ContactBody,
        now: OffsetDateTime,
    ) -> Result<UpsertOutcome> {
        let mut patch = body.patch;
        let email = patch.email_lower();
        let phone = patch.phone().map(str::to_owned);
        let id = self.fresh_contact_id();
        let location = self.caller_location_mut(caller, &body.location_id)?;
        if email.is_none() && phone.is_none() {
            return Err(Error::BadRequest(
                "Pass at least one of number, email query parameter".into(),
            ));
        }
        let custom_fields = location.resolve_custom_fields(&patch.custom_fields)?;
        let force_new = body.create_new_if_duplicate_allowed && location.allow_duplicate_contact;
        let matched = if force_new {
            None
        } else {
            location
                .find_match(email.as_deref(), phone.as_deref(), None)
                .map(|(c, f)| (c.id.clone(), f))
        };
        let Some((existing, field)) = matched else {
            let contact = location.insert(id.clone(), patch, custom_fields, now);
            self.contact_locations.insert(id, caller.to_owned());
            return Ok(UpsertOutcome {
                created: true,
                contact,
            });
        };
        // Spec: when the email matches one contact and the phone another, the first field in
        // the sequence wins and the second is ignored (findings C.11, C.12).
        let other = |f: MatchField| match f {
            MatchField::Email => email
                .as_deref()
                .and_then(|e| location.find_match(Some(e), None, Some(&existing))),
            MatchField::Phone => phone
                .as_deref()
                .and_then(|p| location.find_match(None, Some(p), Some(&existing))),
        };
        if field == MatchField::Email && other(MatchField::Phone).is_some() {
            patch.phone = Patch::Keep;
        }
        if field == MatchField::Phone && other(MatchField::Email).is_some() {
            patch.email = Patch::Keep;
        }
        // Upsert accepts `gender` but drops it for an existing contact (issue #313).
        patch.gender = Patch::Keep;
        let contact = location.contact_mut(&existing)?;
        contact.apply(patch, custom_fields, now);
        Ok(UpsertOutcome {
            created: false,
            contact: contact.view(),
        })
    }

    /// `POST /contacts/`.
    pub(crate) fn create(
        &mut self,
        caller: &str,
        body: ContactBody,
        now: OffsetDateTime,
    ) -> Result<ContactView> {
        let patch = body.patch;
        let id = self.fresh_contact_id();
        let location = self.caller_location_mut(caller, &body.location_id)?;
        let identified = [
            &patch.email,
            &patch.phone,
            &patch.first_name,
            &patch.last_name,
        ]
        .iter()
        .any(|p| p.as_set().is_some_and(|s| !s.trim().is_empty()));
        if !identified {
            return Err(Error::Unprocessable(
                "Contacts without email, phone, firstName and lastName are not allowed.".into(),
            ));
        }
        let custom_fields = location.resolve_custom_fields(&patch.custom_fields)?;
        if !location.allow_duplicate_contact
            && let Some((c, f)) =
                location.find_match(patch.email_lower().as_deref(), patch.phone(), None)
        {
            return Err(Location::duplicate_error(c, f));
        }
        let contact = location.insert(id.clone(), patch, custom_fields, now);
        self.contact_locations.insert(id, caller.to_owned());
        Ok(contact)
    }

    /// `GET /contacts/{id}`.
    pub(crate) fn get(&mut self, caller: &str, contact_id: &str) -> Result<ContactView> {
        let location = self.contact_location_mut(caller, contact_id)?;
        Ok(location.contact(contact_id)?.view())
    }

    /// `PUT /contacts/{id}`. On a location that refuses duplicates, taking another contact's
    /// email or phone is refused like a duplicate create (the sandbox's choice: GHL's answer is
    /// not documented).
    pub(crate) fn update(
        &mut self,
        caller: &str,
        contact_id: &str,
        patch: ContactPatch,
        now: OffsetDateTime,
    ) -> Result<ContactView> {
        let location = self.contact_location_mut(caller, contact_id)?;
        location.contact(contact_id)?;
        let custom_fields = location.resolve_custom_fields(&patch.custom_fields)?;
        if !location.allow_duplicate_contact
            && let Some((c, f)) = location.find_match(
                patch.email_lower().as_deref(),
                patch.phone(),
                Some(contact_id),
            )
        {
            return Err(Location::duplicate_error(c, f));
        }
        let contact = location.contact_mut(contact_id)?;
        contact.apply(patch, custom_fields, now);
        Ok(contact.view())
    }

    /// `POST /contacts/{id}/tags`: the tags after adding.
    pub(crate) fn add_tags(
        &mut self,
        caller: &str,
        contact_id: &str,
        tags: Vec<String>,
        now: OffsetDateTime,
    ) -> Result<Vec<String>> {
        let location = self.contact_location_mut(caller, contact_id)?;
        Ok(location.contact_mut(contact_id)?.add_tags(tags, now))
    }

    /// `DELETE /contacts/{id}/tags`: the tags after removing.
    pub(crate) fn remove_tags(
        &mut self,
        caller: &str,
        contact_id: &str,
        tags: &[String],
        now: OffsetDateTime,
    ) -> Result<Vec<String>> {
        let location = self.contact_location_mut(caller, contact_id)?;
        Ok(location.contact_mut(contact_id)?.remove_tags(tags, now))
    }

    /// `GET /contacts/search/duplicate`: the contact the location's rules match, if any.
    pub(crate) fn find_duplicate(
        &mut self,
        caller: &str,
        location_id: &str,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<ContactView>> {
        let location = self.caller_location_mut(caller, location_id)?;
        let email = email.map(str::to_lowercase);
        Ok(location
            .find_match(email.as_deref(), phone, None)
            .map(|(c, _)| c.view()))
    }
}

/// `demo-location` (token `pit-relay-demo`) with a few custom fields the demo mappings use.
/// Custom field ids are derived from the key, so they are the same on every start.
pub(crate) fn demo_location() -> NewLocation {
    let field = |key: &str, name: &str, data_type: DataType| NewCustomField {
        key: key.into(),
        name: Some(name.into()),
        data_type: Some(data_type),
        id: None,
    };
    NewLocation {
        id: Some(DEMO_LOCATION_ID.into()),
        name: Some(DEMO_LOCATION_NAME.into()),
        token: Some(DEMO_TOKEN.into()),
        allow_duplicate_contact: false,
        match_order: None,
        custom_fields: vec![
            field(
                "contact.gumroad_customer_id",
                "Gumroad Customer Id",
                DataType::Text,
            ),
            field(
                "contact.external_customer_id",
                "External Customer Id",
                DataType::Text,
            ),
            field(
                "contact.lifetime_value",
                "Lifetime Value",
                DataType::Monetory,
            ),
        ],
        rate_limit: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dto::{ContactDto, contact_body};

    const LOC: &str = DEMO_LOCATION_ID;

    fn body(v: Value, dto: ContactDto) -> ContactBody {
        contact_body(v.to_string().as_bytes(), dto).unwrap()
    }

    fn upsert(store: &mut Store, v: Value) -> Result<UpsertOutcome> {
        let mut v = v;
        v["locationId"] = json!(LOC);
        store.upsert(LOC, body(v, ContactDto::Upsert), OffsetDateTime::now_utc())
    }

    fn create(store: &mut Store, v: Value) -> Result<ContactView> {
        let mut v = v;
        v["locationId"] = json!(LOC);
        store.create(LOC, body(v, ContactDto::Create), OffsetDateTime::now_utc())
    }

    #[test]
    fn upsert_matches_email_case_insensitively_then_phone() {
        let mut s = Store::new(true);
        let a = upsert(&mut s, json!({"email": "Jo@Example.com", "tags": ["a"]})).unwrap();
        assert!(a.created);
        assert!(ids::is_ghl_id(&a.contact.id));
        let b = upsert(
            &mut s,
            json!({"email": "jo@example.COM", "firstName": "Jo", "tags": ["b"]}),
        )
        .unwrap();
        assert!(!b.created);
        assert_eq!(b.contact.id, a.contact.id);
        assert_eq!(b.contact.tags, ["b"], "tags replace the set");
        assert_eq!(b.contact.email.as_deref(), Some("jo@example.COM"));

        let p = upsert(&mut s, json!({"phone": "+1 555 010 0000"})).unwrap();
        let q = upsert(
            &mut s,
            json!({"phone": "(555) 010-0000", "lastName": "Roe"}),
        )
        .unwrap();
        assert_eq!(p.contact.id, q.contact.id);
        assert!(!q.created);
    }

    #[test]
    fn upsert_ignores_the_second_field_when_it_belongs_to_another_contact() {
        let mut s = Store::new(true);
        let by_phone = upsert(&mut s, json!({"phone": "+15550100001"}))
            .unwrap()
            .contact;
        let by_email = upsert(&mut s, json!({"email": "e@x.io"})).unwrap().contact;
        let r = upsert(&mut s, json!({"email": "e@x.io", "phone": "+15550100001"})).unwrap();
        assert!(!r.created);
        assert_eq!(r.contact.id, by_email.id);
        assert_eq!(
            r.contact.phone, None,
            "the phone stays with the other contact"
        );
        assert_eq!(
            s.contacts(LOC)
                .unwrap()
                .iter()
                .filter(|c| c.id == by_phone.id)
                .count(),
            1
        );

        // A phone nobody has is written.
        let r = upsert(&mut s, json!({"email": "e@x.io", "phone": "+15550100002"})).unwrap();
        assert_eq!(r.contact.phone.as_deref(), Some("+15550100002"));
    }

    #[test]
    fn upsert_requires_email_or_phone_and_drops_gender_on_update() {
        let mut s = Store::new(true);
        let e = upsert(&mut s, json!({"firstName": "Only"})).unwrap_err();
        assert_eq!(
            e,
            Error::BadRequest("Pass at least one of number, email query parameter".into())
        );
        upsert(&mut s, json!({"email": "g@x.io", "gender": "female"})).unwrap();
        let r = upsert(&mut s, json!({"email": "g@x.io", "gender": "male"})).unwrap();
        assert_eq!(r.contact.gender.as_deref(), Some("female"));
    }

    #[test]
    fn create_new_if_duplicate_allowed_only_when_the_location_allows() {
        let mut s = Store::new(true);
        upsert(&mut s, json!({"email": "d@x.io"})).unwrap();
        let r = upsert(
            &mut s,
            json!({"email": "d@x.io", "createNewIfDuplicateAllowed": true}),
        )
        .unwrap();
        assert!(!r.created, "ignored: demo-location refuses duplicates");

        let mut new = NewLocation::new("dups", "pit-dups");
        new.allow_duplicate_contact = true;
        s.add_location(new).unwrap();
        let b = |v: Value| body(v, ContactDto::Upsert);
        let now = OffsetDateTime::now_utc();
        s.upsert(
            "dups",
            b(json!({"locationId": "dups", "email": "d@x.io"})),
            now,
        )
        .unwrap();
        let r = s
            .upsert("dups", b(json!({"locationId": "dups", "email": "d@x.io", "createNewIfDuplicateAllowed": true})), now)
            .unwrap();
        assert!(r.created);
        assert_eq!(s.contacts("dups").unwrap().len(), 2);
    }

    #[test]
    fn create_refuses_duplicates_with_meta_and_requires_identity() {
        let mut s = Store::new(true);
        let first = create(
            &mut s,
            json!({"firstName": "Jo", "lastName": "Doe", "phone": "+15550100003"}),
        )
        .unwrap();
        let e = create(
            &mut s,
            json!({"email": "new@x.io", "phone": "555-010-0003"}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::DuplicateContact {
                contact_id: first.id.clone(),
                contact_name: Some("Jo Doe".into()),
                matching_field: MatchField::Phone
            }
        );
        let e = create(&mut s, json!({"name": "Only A Name"})).unwrap_err();
        assert!(matches!(e, Error::Unprocessable(_)), "{e:?}");
        create(&mut s, json!({"firstName": "Jo"})).unwrap();
    }

    #[test]
    fn tokens_only_reach_their_location() {
        let mut s = Store::new(true);
        s.add_location(NewLocation::new("other", "pit-other"))
            .unwrap();
        let c = create(&mut s, json!({"email": "t@x.io"})).unwrap();
        let now = OffsetDateTime::now_utc();
        assert_eq!(s.get("other", &c.id).unwrap_err(), Error::Forbidden);
        assert_eq!(
            s.get(LOC, "nope").unwrap_err(),
            Error::NotFound("Contact not found".into())
        );
        let b = body(
            json!({"locationId": LOC, "email": "z@x.io"}),
            ContactDto::Upsert,
        );
        assert_eq!(s.upsert("other", b, now).unwrap_err(), Error::Forbidden);
        assert_eq!(
            s.find_duplicate("other", LOC, Some("t@x.io"), None)
                .unwrap_err(),
            Error::Forbidden
        );
        assert_eq!(
            s.find_duplicate(LOC, LOC, Some("T@X.IO"), None)
                .unwrap()
                .map(|c| c.id),
            Some(c.id)
        );
    }

    #[test]
    fn custom_fields_resolve_by_key_with_or_without_prefix_and_by_id() {
        let mut s = Store::new(true);
        let cf_id = s.location_view(LOC).unwrap().custom_fields[0].id.clone();
        let r = upsert(
            &mut s,
            json!({"email": "cf@x.io", "customFields": [
                {"key": "gumroad_customer_id", "field_value": "g-1"},
                {"key": "contact.lifetime_value", "fieldValue": 12.5}
            ]}),
        )
        .unwrap();
        assert_eq!(r.contact.custom_fields[0].id, cf_id);
        assert_eq!(r.contact.custom_fields[0].value, json!("g-1"));
        assert_eq!(r.contact.custom_fields[1].value, json!(12.5));

        let r = upsert(
            &mut s,
            json!({"email": "cf@x.io", "customFields": [{"id": cf_id, "value": "g-2"}]}),
        )
        .unwrap();
        assert_eq!(r.contact.custom_fields[0].value, json!("g-2"));
        assert_eq!(r.contact.custom_fields.len(), 2, "other fields are kept");

        let e = upsert(
            &mut s,
            json!({"email": "cf@x.io", "customFields": [{"key": "nope", "value": 1}]}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::Validation(vec![
                "customFields.0.key nope is not a custom field of location demo-location".into()
            ])
        );
    }

    #[test]
    fn update_refuses_taking_another_contacts_email() {
        let mut s = Store::new(true);
        let a = create(&mut s, json!({"email": "a@x.io"})).unwrap();
        let b = create(&mut s, json!({"email": "b@x.io"})).unwrap();
        let now = OffsetDateTime::now_utc();
        let patch = |v: Value| body(v, ContactDto::Update).patch;
        let e = s
            .update(LOC, &b.id, patch(json!({"email": "A@x.io"})), now)
            .unwrap_err();
        assert!(
            matches!(e, Error::DuplicateContact { ref contact_id, .. } if *contact_id == a.id),
            "{e:?}"
        );
        let v = s
            .update(
                LOC,
                &b.id,
                patch(json!({"email": "b@x.io", "tags": ["x"]})),
                now,
            )
            .unwrap();
        assert_eq!(v.tags, ["x"]);
    }

    #[test]
    fn locations_validate_their_settings() {
        let mut s = Store::new(true);
        assert!(s.add_location(NewLocation::new(LOC, "pit-new")).is_err());
        assert!(s.add_location(NewLocation::new("new", DEMO_TOKEN)).is_err());
        let mut bad = NewLocation::new("x", "pit-x");
        bad.match_order = Some(vec![MatchField::Email, MatchField::Email]);
        assert!(s.add_location(bad).is_err());
        let generated = s.add_location(NewLocation::default()).unwrap();
        assert!(ids::is_ghl_id(&generated.id));
        assert!(generated.token.starts_with("pit-"));
    }
}
