//! In-memory GHL state: locations (sub-accounts) with their private integration token,
//! duplicate settings, custom field definitions, contacts and everything hanging off them, the
//! OAuth apps and tokens, and the Shift4Shop stores. Pure and synchronous;
//! [`crate::SandboxState`] puts it behind one lock.
//!
//! - `mod.rs`: locations, their catalogues (custom fields, tags, businesses, campaigns,
//!   workflows, users) and access checks;
//! - `contacts.rs`: the Contacts operations and GHL's matching and dedupe rules (README §7,
//!   integrator findings B and C);
//! - `search.rs`: the lagging search index and `POST /contacts/search` / list semantics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::RateLimitConfig;
use crate::contact::{Contact, ContactView, iso_millis};
use crate::entities::{
    Appointment, Business, Campaign, ContactExtras, LocationEntities, LocationSeed, LocationTag,
    NewNamed, User, Workflow,
};
use crate::error::{Error, Result};
use crate::ids;
use crate::oauth::{OAuth, Site};
use crate::shift4shop::Shops;

pub(crate) mod contacts;
pub(crate) mod search;

pub(crate) use search::SearchIndex;

/// The layout of the data file [`Store::save`] writes.
const SAVE_FORMAT: u32 = 1;

/// The seeded demo location (DESIGN.md, local conventions).
pub const DEMO_LOCATION_ID: &str = "demo-location";
/// The demo location's private integration token.
pub const DEMO_TOKEN: &str = "pit-relay-demo";
/// The demo location's name.
pub const DEMO_LOCATION_NAME: &str = "Relay Demo";
/// The company (agency) every location belongs to unless told otherwise.
pub const DEMO_COMPANY_ID: &str = "relay-demo-company";

/// The current time in both forms the store needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Now {
    /// Wall clock, for stored timestamps.
    pub(crate) utc: OffsetDateTime,
    /// Monotonic, for the search index lag.
    pub(crate) at: Instant,
}

impl Now {
    /// The system time (unit tests).
    #[cfg(test)]
    pub(crate) fn system() -> Self {
        Self {
            utc: OffsetDateTime::now_utc(),
            at: Instant::now(),
        }
    }
}

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

impl DataType {
    /// Parses GHL's name (`TEXT`, `MONETORY`, ...).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
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
    /// Placeholder text.
    #[serde(default)]
    pub placeholder: Option<String>,
    /// Position in the UI.
    #[serde(default)]
    pub position: u32,
    /// Options of option-type fields.
    #[serde(default)]
    pub picklist_options: Vec<String>,
}

impl CustomFieldDef {
    /// The `CustomFieldSchema` shape of `GET /locations/{id}/customFields`.
    pub(crate) fn ghl_view(&self, location_id: &str) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "fieldKey": self.field_key,
            "placeholder": self.placeholder.clone().unwrap_or_default(),
            "dataType": self.data_type,
            "position": self.position,
            "picklistOptions": self.picklist_options,
            "picklistImageOptions": [],
            "isAllowedCustomOption": false,
            "isMultiFileAllowed": false,
            "maxFileLimit": 0,
            "locationId": location_id,
            "model": "contact",
        })
    }
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
    /// The company (agency) it belongs to (default `relay-demo-company`).
    pub company_id: Option<String>,
    /// GHL's "Allow Duplicate Contact" setting (default false: create refuses duplicates).
    pub allow_duplicate_contact: bool,
    /// Which fields identify a contact, in priority order (default `["email", "phone"]`).
    pub match_order: Option<Vec<MatchField>>,
    /// Custom field definitions.
    pub custom_fields: Vec<NewCustomField>,
    /// Overrides the configured rate limits for this location.
    pub rate_limit: Option<RateLimitConfig>,
    /// Users (name "First Last"; `status` holds the email).
    pub users: Vec<NewNamed>,
    /// Campaigns.
    pub campaigns: Vec<NewNamed>,
    /// Workflows.
    pub workflows: Vec<NewNamed>,
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
    /// Its company.
    pub company_id: String,
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

/// One location and everything in it. What can be derived from the rest (listing order,
/// match maps, the search index) is not saved in the data file but rebuilt when it is read
/// ([`Store::load`]).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Location {
    id: String,
    name: String,
    company_id: String,
    token: String,
    allow_duplicate_contact: bool,
    match_order: Vec<MatchField>,
    rate_limit: Option<RateLimitConfig>,
    custom_fields: Vec<CustomFieldDef>,
    contacts: HashMap<String, Contact>,
    /// Creation sequence → contact id: listing order.
    #[serde(skip)]
    order: BTreeMap<u64, String>,
    /// Lower-cased email → contact ids.
    #[serde(skip)]
    by_email: HashMap<String, Vec<String>>,
    /// E.164 phone → contact ids.
    #[serde(skip)]
    by_phone: HashMap<String, Vec<String>>,
    /// Ids of deleted contacts (the bulk endpoints report them as deleted, not unknown).
    deleted: HashSet<String>,
    extras: HashMap<String, ContactExtras>,
    tags: Vec<LocationTag>,
    businesses: Vec<Business>,
    campaigns: Vec<Campaign>,
    workflows: Vec<Workflow>,
    users: Vec<User>,
    appointments: Vec<Appointment>,
    #[serde(skip)]
    index: SearchIndex,
    /// Copied from the store: how long writes take to reach the index.
    #[serde(skip)]
    index_lag: Duration,
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
            company_id: self.company_id.clone(),
            allow_duplicate_contact: self.allow_duplicate_contact,
            match_order: self.match_order.clone(),
            rate_limit: self.rate_limit.clone(),
            custom_fields: self.custom_fields.clone(),
            contact_count: self.contacts.len(),
        }
    }

    /// `GET /locations/{id}`'s `GetLocationByIdSchema`.
    pub(crate) fn ghl_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "companyId": self.company_id,
            "name": self.name,
            "timezone": "UTC",
            "business": { "name": self.name },
            "social": {},
            "settings": {
                "allowDuplicateContact": self.allow_duplicate_contact,
                "allowDuplicateOpportunity": false,
                "allowFacebookNameMerge": false,
                "disableContactTimezone": false,
            },
            "reseller": {},
        })
    }

    fn contacts_in_order(&self) -> impl Iterator<Item = &Contact> {
        self.order.values().filter_map(|id| self.contacts.get(id))
    }

    fn user_view(&self, new: NewNamed) -> User {
        let id = new
            .id
            .unwrap_or_else(|| ids::derived_id(&[&self.id, "user", &new.name]));
        let mut parts = new.name.splitn(2, ' ');
        let first = parts.next().unwrap_or_default().to_owned();
        let last = parts.next().unwrap_or_default().to_owned();
        let email = new.status.unwrap_or_else(|| {
            format!("{}@example.com", new.name.to_lowercase().replace(' ', "."))
        });
        User {
            id,
            name: new.name,
            first_name: first,
            last_name: last,
            email,
            location_ids: vec![self.id.clone()],
        }
    }

    /// Adds users, campaigns, workflows and appointments.
    fn seed(&mut self, seed: LocationSeed, now: OffsetDateTime) -> Result<()> {
        let stamp = iso_millis(now);
        for u in seed.users {
            let user = self.user_view(u);
            if self.users.iter().any(|x| x.id == user.id) {
                return Err(Error::Control(format!("user {} already exists", user.id)));
            }
            self.users.push(user);
        }
        for c in seed.campaigns {
            let id =
                c.id.unwrap_or_else(|| ids::derived_id(&[&self.id, "campaign", &c.name]));
            if self.campaigns.iter().any(|x| x.id == id) {
                return Err(Error::Control(format!("campaign {id} already exists")));
            }
            self.campaigns.push(Campaign {
                id,
                name: c.name,
                status: c.status.unwrap_or_else(|| "published".into()),
                location_id: self.id.clone(),
            });
        }
        for w in seed.workflows {
            let id =
                w.id.unwrap_or_else(|| ids::derived_uuid(&[&self.id, "workflow", &w.name]));
            if self.workflows.iter().any(|x| x.id == id) {
                return Err(Error::Control(format!("workflow {id} already exists")));
            }
            self.workflows.push(Workflow {
                id,
                name: w.name,
                status: w.status.unwrap_or_else(|| "published".into()),
                version: 1,
                created_at: stamp.clone(),
                updated_at: stamp.clone(),
                location_id: self.id.clone(),
            });
        }
        for mut a in seed.appointments {
            if !self.contacts.contains_key(&a.contact_id) {
                return Err(Error::Control(format!(
                    "appointment for unknown contact {:?}",
                    a.contact_id
                )));
            }
            if a.id.is_empty() {
                a.id = ids::random_id();
            }
            a.location_id = self.id.clone();
            a.date_added = stamp.clone();
            a.date_updated = stamp.clone();
            self.appointments.push(a);
        }
        Ok(())
    }

    fn entities(&self) -> LocationEntities {
        let mut deleted: Vec<String> = self.deleted.iter().cloned().collect();
        deleted.sort();
        LocationEntities {
            tags: self.tags.clone(),
            businesses: self.businesses.clone(),
            campaigns: self.campaigns.clone(),
            workflows: self.workflows.clone(),
            users: self.users.clone(),
            appointments: self.appointments.clone(),
            contact_extras: self
                .extras
                .iter()
                .filter(|(_, e)| **e != ContactExtras::default())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            deleted_contacts: deleted,
        }
    }

    /// Adds tag names the catalogue does not have yet (GHL lists every tag a contact got).
    fn register_tags(&mut self, tags: &[String]) {
        for tag in tags {
            if !self.tags.iter().any(|t| t.name == *tag) {
                self.tags.push(LocationTag {
                    id: ids::derived_id(&[&self.id, "tag", tag]),
                    name: tag.clone(),
                    location_id: self.id.clone(),
                });
            }
        }
    }
}

/// A custom field definition to create (`CreateCustomFieldsDTO`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldInput {
    /// Display name; the key is derived from it.
    pub(crate) name: String,
    /// Value type.
    pub(crate) data_type: DataType,
    /// Placeholder text.
    pub(crate) placeholder: Option<String>,
    /// Position in the UI.
    pub(crate) position: Option<u32>,
    /// Options of option-type fields.
    pub(crate) options: Vec<String>,
}

/// `contact.<key>` for a bare or prefixed key.
fn full_field_key(key: &str) -> String {
    if key.starts_with("contact.") {
        key.to_owned()
    } else {
        format!("contact.{key}")
    }
}

/// GHL's key for a field named `name`: lower-case, runs of other characters as `_`.
fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// Every location, token, contact, OAuth app and Shift4Shop store.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Store {
    locations: BTreeMap<String, Location>,
    /// Private integration token → location id.
    #[serde(skip)]
    pits: HashMap<String, String>,
    /// Contact id → location id.
    #[serde(skip)]
    contact_locations: HashMap<String, String>,
    /// Next contact creation sequence.
    next_seq: u64,
    /// How long writes take to reach search.
    #[serde(skip)]
    search_lag: Duration,
    /// OAuth apps, codes and tokens.
    pub(crate) oauth: OAuth,
    /// Shift4Shop stores and their customers.
    pub(crate) shops: Shops,
}

impl Store {
    /// A store holding the demo location, OAuth app and Shift4Shop store (`seed_demo`), or
    /// nothing.
    pub(crate) fn new(seed_demo: bool, search_lag: Duration, now: OffsetDateTime) -> Self {
        let mut store = Self {
            search_lag,
            ..Self::default()
        };
        if seed_demo {
            // Cannot clash in an empty store.
            let _ = store.add_location(demo_location(), now);
            store.oauth.seed_demo();
            store.shops.seed_demo();
        }
        store
    }

    /// The store as the data file holds it (`SandboxConfig::data_file`): JSON, with a format
    /// number so a later layout can tell an old file.
    pub(crate) fn save(&self) -> serde_json::Result<Vec<u8>> {
        #[derive(Serialize)]
        struct Saving<'a> {
            format: u32,
            store: &'a Store,
        }
        serde_json::to_vec(&Saving {
            format: SAVE_FORMAT,
            store: self,
        })
    }

    /// A store read back from [`Store::save`]'s output, its derived maps rebuilt; every contact
    /// is searchable at once.
    pub(crate) fn load(bytes: &[u8], search_lag: Duration, now: Instant) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Saved {
            format: u32,
            store: Store,
        }
        let saved: Saved = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if saved.format != SAVE_FORMAT {
            return Err(format!(
                "format {} is not {SAVE_FORMAT}, the one this sandbox reads",
                saved.format
            ));
        }
        let mut store = saved.store;
        store.search_lag = search_lag;
        for (location_id, l) in &mut store.locations {
            l.index_lag = search_lag;
            store.pits.insert(l.token.clone(), location_id.clone());
            let ids: Vec<String> = l.contacts.keys().cloned().collect();
            for id in ids {
                let Some(c) = l.contacts.get(&id) else {
                    continue;
                };
                l.order.insert(c.seq, id.clone());
                l.index.put(now, Duration::ZERO, &id, Some(c.clone()));
                l.index_keys(&id);
                store.contact_locations.insert(id, location_id.clone());
            }
        }
        Ok(store)
    }

    /// Sets the search index lag for every location, now and later.
    pub(crate) fn set_search_lag(&mut self, lag: Duration) {
        self.search_lag = lag;
        for l in self.locations.values_mut() {
            l.index_lag = lag;
        }
    }

    /// The search index lag.
    pub(crate) fn search_lag(&self) -> Duration {
        self.search_lag
    }

    /// Creates a location. Fails when its id or token is taken or a setting is invalid.
    pub(crate) fn add_location(
        &mut self,
        new: NewLocation,
        now: OffsetDateTime,
    ) -> Result<LocationView> {
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
        if self.pits.contains_key(&token) || self.oauth.knows_token(&token) {
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
        for (position, f) in new.custom_fields.into_iter().enumerate() {
            let field_key = full_field_key(&f.key);
            let def = CustomFieldDef {
                id: f.id.unwrap_or_else(|| ids::derived_id(&[&id, &field_key])),
                name: f.name.unwrap_or_else(|| f.key.clone()),
                field_key,
                data_type: f.data_type.unwrap_or_default(),
                placeholder: None,
                position: u32::try_from(position).unwrap_or(u32::MAX),
                picklist_options: Vec::new(),
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
        let mut location = Location {
            id: id.clone(),
            name: new.name.unwrap_or_else(|| id.clone()),
            company_id: new.company_id.unwrap_or_else(|| DEMO_COMPANY_ID.into()),
            token: token.clone(),
            allow_duplicate_contact: new.allow_duplicate_contact,
            match_order,
            rate_limit: new.rate_limit,
            custom_fields,
            contacts: HashMap::new(),
            order: BTreeMap::new(),
            by_email: HashMap::new(),
            by_phone: HashMap::new(),
            deleted: HashSet::new(),
            extras: HashMap::new(),
            tags: Vec::new(),
            businesses: Vec::new(),
            campaigns: Vec::new(),
            workflows: Vec::new(),
            users: Vec::new(),
            appointments: Vec::new(),
            index: SearchIndex::default(),
            index_lag: self.search_lag,
        };
        location.seed(
            LocationSeed {
                users: new.users,
                campaigns: new.campaigns,
                workflows: new.workflows,
                appointments: Vec::new(),
            },
            now,
        )?;
        let view = location.view();
        self.pits.insert(token, id.clone());
        self.locations.insert(id, location);
        Ok(view)
    }

    /// Adds users, campaigns, workflows and appointments to a location.
    pub(crate) fn seed_location(
        &mut self,
        location_id: &str,
        seed: LocationSeed,
        now: OffsetDateTime,
    ) -> Result<LocationEntities> {
        let location = self
            .locations
            .get_mut(location_id)
            .ok_or_else(|| Error::NotFound("Location not found".into()))?;
        location.seed(seed, now)?;
        Ok(location.entities())
    }

    /// Everything a location holds besides contacts.
    pub(crate) fn location_entities(&self, location_id: &str) -> Option<LocationEntities> {
        self.locations.get(location_id).map(Location::entities)
    }

    /// The location a private integration token grants access to.
    pub(crate) fn location_for_pit(&self, token: &str) -> Option<&Location> {
        self.pits.get(token).and_then(|id| self.locations.get(id))
    }

    /// A location by id.
    pub(crate) fn location(&self, id: &str) -> Option<&Location> {
        self.locations.get(id)
    }

    /// One location's view.
    pub(crate) fn location_view(&self, id: &str) -> Option<LocationView> {
        self.locations.get(id).map(Location::view)
    }

    /// Every location's view, by id.
    pub(crate) fn location_views(&self) -> Vec<LocationView> {
        self.locations.values().map(Location::view).collect()
    }

    /// Every location's id, name and company (what OAuth installs refer to).
    pub(crate) fn sites(&self) -> Vec<Site> {
        self.locations
            .values()
            .map(|l| Site {
                id: l.id.clone(),
                name: l.name.clone(),
                company_id: l.company_id.clone(),
            })
            .collect()
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

    /// The caller's own location (path parameters naming another one are 403).
    pub(crate) fn own_location(&self, caller: &str, location_id: &str) -> Result<&Location> {
        if caller != location_id {
            return Err(Error::Forbidden);
        }
        self.locations.get(location_id).ok_or(Error::Forbidden)
    }

    // ---- location catalogues ------------------------------------------------------------

    /// `GET /locations/{id}`.
    pub(crate) fn get_location(
        &self,
        caller: &str,
        location_id: &str,
    ) -> Result<serde_json::Value> {
        Ok(self.own_location(caller, location_id)?.ghl_view())
    }

    /// `GET /locations/{id}/customFields?model=`.
    pub(crate) fn custom_fields(
        &self,
        caller: &str,
        location_id: &str,
        model: &str,
    ) -> Result<Vec<serde_json::Value>> {
        let l = self.own_location(caller, location_id)?;
        Ok(if model == "opportunity" {
            Vec::new()
        } else {
            l.custom_fields.iter().map(|d| d.ghl_view(&l.id)).collect()
        })
    }

    /// `GET /locations/{id}/customFields/{idOrKey}`.
    pub(crate) fn custom_field(
        &self,
        caller: &str,
        location_id: &str,
        id_or_key: &str,
    ) -> Result<serde_json::Value> {
        let l = self.own_location(caller, location_id)?;
        l.custom_fields
            .iter()
            .find(|d| d.id == id_or_key || d.field_key == id_or_key)
            .map(|d| d.ghl_view(&l.id))
            .ok_or_else(|| Error::NotFound("Custom field not found".into()))
    }

    /// `POST /locations/{id}/customFields`.
    pub(crate) fn create_custom_field(
        &mut self,
        caller: &str,
        location_id: &str,
        new: FieldInput,
    ) -> Result<serde_json::Value> {
        let FieldInput {
            name,
            data_type,
            placeholder,
            position,
            options,
        } = new;
        let l = self.caller_location_mut(caller, location_id)?;
        let key = slug(&name);
        if key.is_empty() {
            return Err(Error::Validation(vec!["name should not be empty".into()]));
        }
        let field_key = full_field_key(&key);
        if l.custom_fields.iter().any(|d| d.field_key == field_key) {
            return Err(Error::BadRequest(format!(
                "Custom field with key {field_key} already exists"
            )));
        }
        let def = CustomFieldDef {
            id: ids::random_id(),
            name,
            field_key,
            data_type,
            placeholder,
            position: position.unwrap_or(0),
            picklist_options: options,
        };
        let view = def.ghl_view(&l.id);
        l.custom_fields.push(def);
        Ok(view)
    }

    /// `PUT /locations/{id}/customFields/{id}`.
    pub(crate) fn update_custom_field(
        &mut self,
        caller: &str,
        location_id: &str,
        field_id: &str,
        name: String,
        placeholder: Option<String>,
        position: Option<u32>,
    ) -> Result<serde_json::Value> {
        let l = self.caller_location_mut(caller, location_id)?;
        let location_id = l.id.clone();
        let def = l
            .custom_fields
            .iter_mut()
            .find(|d| d.id == field_id || d.field_key == field_id)
            .ok_or_else(|| Error::NotFound("Custom field not found".into()))?;
        def.name = name;
        if placeholder.is_some() {
            def.placeholder = placeholder;
        }
        if let Some(p) = position {
            def.position = p;
        }
        Ok(def.ghl_view(&location_id))
    }

    /// `DELETE /locations/{id}/customFields/{id}`: also drops the field's values on contacts.
    pub(crate) fn delete_custom_field(
        &mut self,
        caller: &str,
        location_id: &str,
        field_id: &str,
        now: Now,
    ) -> Result<()> {
        let l = self.caller_location_mut(caller, location_id)?;
        let index = l
            .custom_fields
            .iter()
            .position(|d| d.id == field_id || d.field_key == field_id)
            .ok_or_else(|| Error::NotFound("Custom field not found".into()))?;
        let def = l.custom_fields.remove(index);
        let holders: Vec<String> = l
            .contacts
            .values()
            .filter(|c| c.custom_fields.iter().any(|(id, _)| *id == def.id))
            .map(|c| c.id.clone())
            .collect();
        for id in holders {
            l.write_contact(&id, now, |c| c.custom_fields.retain(|(f, _)| *f != def.id));
        }
        Ok(())
    }

    /// `GET /locations/{id}/tags`.
    pub(crate) fn location_tags(
        &self,
        caller: &str,
        location_id: &str,
    ) -> Result<Vec<LocationTag>> {
        Ok(self.own_location(caller, location_id)?.tags.clone())
    }

    /// `GET /locations/{id}/tags/{tagId}`.
    pub(crate) fn location_tag(
        &self,
        caller: &str,
        location_id: &str,
        tag_id: &str,
    ) -> Result<LocationTag> {
        self.own_location(caller, location_id)?
            .tags
            .iter()
            .find(|t| t.id == tag_id)
            .cloned()
            .ok_or_else(|| Error::NotFound("Tag not found".into()))
    }

    /// `POST /locations/{id}/tags`.
    pub(crate) fn create_location_tag(
        &mut self,
        caller: &str,
        location_id: &str,
        name: &str,
    ) -> Result<LocationTag> {
        let l = self.caller_location_mut(caller, location_id)?;
        let name = name.trim().to_lowercase();
        if l.tags.iter().any(|t| t.name == name) {
            return Err(Error::BadRequest("The tag name already exists".into()));
        }
        let tag = LocationTag {
            id: ids::random_id(),
            name,
            location_id: l.id.clone(),
        };
        l.tags.push(tag.clone());
        Ok(tag)
    }

    /// `PUT /locations/{id}/tags/{tagId}`.
    pub(crate) fn update_location_tag(
        &mut self,
        caller: &str,
        location_id: &str,
        tag_id: &str,
        name: &str,
    ) -> Result<LocationTag> {
        let l = self.caller_location_mut(caller, location_id)?;
        let name = name.trim().to_lowercase();
        if l.tags.iter().any(|t| t.name == name && t.id != tag_id) {
            return Err(Error::BadRequest("The tag name already exists".into()));
        }
        let tag = l
            .tags
            .iter_mut()
            .find(|t| t.id == tag_id)
            .ok_or_else(|| Error::NotFound("Tag not found".into()))?;
        tag.name = name;
        Ok(tag.clone())
    }

    /// `DELETE /locations/{id}/tags/{tagId}` (contacts keep the tag, as in GHL's catalogue).
    pub(crate) fn delete_location_tag(
        &mut self,
        caller: &str,
        location_id: &str,
        tag_id: &str,
    ) -> Result<()> {
        let l = self.caller_location_mut(caller, location_id)?;
        let before = l.tags.len();
        l.tags.retain(|t| t.id != tag_id);
        if l.tags.len() == before {
            return Err(Error::NotFound("Tag not found".into()));
        }
        Ok(())
    }

    /// `GET /campaigns/?locationId=&status=`.
    pub(crate) fn campaigns(
        &self,
        caller: &str,
        location_id: &str,
        status: Option<&str>,
    ) -> Result<Vec<Campaign>> {
        Ok(self
            .own_location(caller, location_id)?
            .campaigns
            .iter()
            .filter(|c| status.is_none_or(|s| c.status == s))
            .cloned()
            .collect())
    }

    /// `GET /workflows/?locationId=`.
    pub(crate) fn workflows(&self, caller: &str, location_id: &str) -> Result<Vec<Workflow>> {
        Ok(self.own_location(caller, location_id)?.workflows.clone())
    }

    /// The caller's users (`GET /users/`, `/users/search`).
    pub(crate) fn users(&self, caller: &str) -> Result<Vec<User>> {
        Ok(self.own_location(caller, caller)?.users.clone())
    }

    /// `GET /users/{id}`: users of the caller's location only.
    pub(crate) fn user(&self, caller: &str, user_id: &str) -> Result<User> {
        self.own_location(caller, caller)?
            .users
            .iter()
            .find(|u| u.id == user_id)
            .cloned()
            .ok_or_else(|| Error::NotFound("User not found".into()))
    }

    /// `GET /businesses/?locationId=&limit=&skip=`.
    pub(crate) fn businesses(
        &self,
        caller: &str,
        location_id: &str,
        limit: usize,
        skip: usize,
    ) -> Result<Vec<Business>> {
        Ok(self
            .own_location(caller, location_id)?
            .businesses
            .iter()
            .skip(skip)
            .take(limit)
            .cloned()
            .collect())
    }

    fn business_location_mut(&mut self, caller: &str, business_id: &str) -> Result<&mut Location> {
        let l = self.locations.get_mut(caller).ok_or(Error::Forbidden)?;
        if l.businesses.iter().any(|b| b.id == business_id) {
            return Ok(l);
        }
        Err(Error::NotFound("Business not found".into()))
    }

    /// `GET /businesses/{id}`.
    pub(crate) fn business(&mut self, caller: &str, business_id: &str) -> Result<Business> {
        let l = self.business_location_mut(caller, business_id)?;
        l.businesses
            .iter()
            .find(|b| b.id == business_id)
            .cloned()
            .ok_or_else(|| Error::NotFound("Business not found".into()))
    }

    /// `POST /businesses/`.
    pub(crate) fn create_business(
        &mut self,
        caller: &str,
        mut business: Business,
        now: Now,
    ) -> Result<Business> {
        let l = self.caller_location_mut(caller, &business.location_id)?;
        business.id = ids::hex24();
        business.created_at = iso_millis(now.utc);
        business.updated_at = business.created_at.clone();
        l.businesses.push(business.clone());
        Ok(business)
    }

    /// `PUT /businesses/{id}`: `patch` is applied field by field.
    pub(crate) fn update_business(
        &mut self,
        caller: &str,
        business_id: &str,
        patch: impl FnOnce(&mut Business),
        now: Now,
    ) -> Result<Business> {
        let l = self.business_location_mut(caller, business_id)?;
        let b = l
            .businesses
            .iter_mut()
            .find(|b| b.id == business_id)
            .ok_or_else(|| Error::NotFound("Business not found".into()))?;
        patch(b);
        b.updated_at = iso_millis(now.utc);
        Ok(b.clone())
    }

    /// `DELETE /businesses/{id}`: contacts of the business are detached.
    pub(crate) fn delete_business(
        &mut self,
        caller: &str,
        business_id: &str,
        now: Now,
    ) -> Result<()> {
        let l = self.business_location_mut(caller, business_id)?;
        l.businesses.retain(|b| b.id != business_id);
        let members: Vec<String> = l
            .contacts
            .values()
            .filter(|c| c.business_id.as_deref() == Some(business_id))
            .map(|c| c.id.clone())
            .collect();
        for id in members {
            l.write_contact(&id, now, |c| c.business_id = None);
        }
        Ok(())
    }
}

/// `demo-location` (token `pit-relay-demo`) with a few custom fields the demo mappings use, a
/// user, a campaign and a workflow. Ids are derived from names, so they are the same on every
/// start.
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
        company_id: None,
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
        users: vec![NewNamed::named("Demo Owner")],
        campaigns: vec![NewNamed::named("Welcome Sequence")],
        workflows: vec![NewNamed::named("New Customer Onboarding")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_validate_their_settings() {
        let now = OffsetDateTime::now_utc();
        let mut s = Store::new(true, Duration::ZERO, now);
        assert!(
            s.add_location(NewLocation::new(DEMO_LOCATION_ID, "pit-new"), now)
                .is_err()
        );
        assert!(
            s.add_location(NewLocation::new("new", DEMO_TOKEN), now)
                .is_err()
        );
        let mut bad = NewLocation::new("x", "pit-x");
        bad.match_order = Some(vec![MatchField::Email, MatchField::Email]);
        assert!(s.add_location(bad, now).is_err());
        let generated = s.add_location(NewLocation::default(), now).unwrap();
        assert!(ids::is_ghl_id(&generated.id));
        assert!(generated.token.starts_with("pit-"));
    }

    #[test]
    fn the_demo_location_has_stable_catalogues() {
        let now = OffsetDateTime::now_utc();
        let a = Store::new(true, Duration::ZERO, now);
        let b = Store::new(true, Duration::ZERO, now);
        let ea = a.location_entities(DEMO_LOCATION_ID).unwrap();
        let eb = b.location_entities(DEMO_LOCATION_ID).unwrap();
        assert_eq!(ea.users, eb.users);
        assert_eq!(ea.campaigns[0].id, eb.campaigns[0].id);
        assert_eq!(ea.workflows[0].id, eb.workflows[0].id);
        assert_eq!(ea.users[0].first_name, "Demo");
        assert_eq!(ea.workflows[0].status, "published");
    }

    #[test]
    fn custom_field_keys_are_slugs_of_the_name() {
        assert_eq!(slug("  Order ID #2 "), "order_id_2");
        let now = OffsetDateTime::now_utc();
        let mut s = Store::new(true, Duration::ZERO, now);
        let field = |name: &str| FieldInput {
            name: name.into(),
            data_type: DataType::Text,
            placeholder: None,
            position: None,
            options: vec![],
        };
        let v = s
            .create_custom_field(DEMO_LOCATION_ID, DEMO_LOCATION_ID, field("Order Id"))
            .unwrap();
        assert_eq!(v["fieldKey"], "contact.order_id");
        let e = s
            .create_custom_field(DEMO_LOCATION_ID, DEMO_LOCATION_ID, field("order id"))
            .unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
    }
}
