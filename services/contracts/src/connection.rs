//! The connection document: which storefront account feeds which GHL location, how its
//! deliveries are authenticated, and the ordered mapping rules the mapper applies to its events.
//!
//! Users write it in YAML and apply it with `relayctl connections apply -f FILE`; it is stored
//! as JSON in a KV bucket under [`ConnectionSpec::key`]. This module holds the serde types and
//! the YAML reader (with line and column for every error); the mapper compiles and runs the
//! rules (`relay_mapper::rules`), and the default playbooks are written in the same language.
//!
//! ```yaml
//! connections:
//!   - source: gumroad
//!     name: demo
//!     location_id: demo-location
//!     timezone: Europe/Berlin
//!     secret: env:RELAY_DEMO_SECRET
//!     playbook: default            # the storefront's default rules run after these
//!     defaults:
//!       tags: [from-gumroad]       # added after every upsert/create
//!       vars: { vip_minor: 10000 } # free values for templates (`vars.vip_minor`)
//!     rules:
//!       - name: vip
//!         match: { kind: order.paid, amount: { min: 10000 } }
//!         steps:
//!           - upsert_contact
//!           - add_tags: [vip, "{{ product.name | slug }}"]
//!         then: continue           # or `stop`: no later rule (nor the playbook) runs
//! ```
//!
//! Locations are metadata: they are filled in when a document is read from YAML, are not
//! serialized (the JSON stored in KV has none), and never take part in equality.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::Source;
use crate::ids::Token;

/// An error in a document, at a place in a file. Displays as `file:line:column: message`
/// (`file: message` when the place is unknown).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct DocError {
    pub file: String,
    /// From 1; 0 when unknown.
    pub line: u64,
    /// From 1; 0 when unknown.
    pub column: u64,
    pub message: String,
}

impl DocError {
    pub fn new(file: &str, loc: SourceLoc, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: loc.line,
            column: loc.column,
            message: message.into(),
        }
    }
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// Where a value was written in its YAML document (line and column from 1; 0 when unknown,
/// e.g. for a document read back from JSON).
///
/// A location is metadata about a value, not part of it: every two locations compare equal, so
/// a document read from YAML equals the same document read back from its stored JSON.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct SourceLoc {
    pub line: u64,
    pub column: u64,
}

impl SourceLoc {
    pub const UNKNOWN: SourceLoc = SourceLoc { line: 0, column: 0 };

    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

impl PartialEq for SourceLoc {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl From<serde_saphyr::Location> for SourceLoc {
    fn from(l: serde_saphyr::Location) -> Self {
        Self {
            line: l.line(),
            column: l.column(),
        }
    }
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value and where it was written. Serializes as the bare value; deserializes from the bare
/// value (with the location when the deserializer is the YAML reader).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub loc: SourceLoc,
}

impl<T> Located<T> {
    pub fn new(value: T) -> Self {
        Self {
            value,
            loc: SourceLoc::UNKNOWN,
        }
    }

    pub fn at(value: T, loc: SourceLoc) -> Self {
        Self { value, loc }
    }
}

impl<T> Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> From<T> for Located<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Located<String> {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(Self {
            value: s.value,
            loc: s.referenced.into(),
        })
    }
}

impl<T: Serialize> Serialize for Located<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

/// A template: text with `{{ ... }}` / `{% ... %}` (minijinja syntax), rendered per event.
pub type Text = Located<String>;

/// A value or a list of values (`kind: order.paid` or `kind: [order.paid, order.refunded]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }
}

/// A secret by reference: `env:NAME`, `file:/path` or (local development only)
/// `literal:value`. Kept as written, so it round-trips through the stored JSON; resolving it
/// is the service's job. `Debug` never shows a literal value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretReference(String);

impl SecretReference {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (scheme, rest) = s.split_once(':').unwrap_or(("", ""));
        if !matches!(scheme, "env" | "file" | "literal") {
            // Never echo the value: it may be a pasted secret.
            return Err(
                "a secret reference must be env:NAME, file:PATH or literal:VALUE".to_owned(),
            );
        }
        if rest.is_empty() {
            return Err(format!("the secret reference {scheme}: names nothing"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretReference {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<SecretReference> for String {
    fn from(s: SecretReference) -> String {
        s.0
    }
}

impl fmt::Debug for SecretReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.starts_with("literal:") {
            f.write_str("literal:<redacted>")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// The document `relayctl connections apply -f FILE` reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsFile {
    #[serde(deserialize_with = "located_list")]
    pub connections: Vec<ConnectionSpec>,
}

/// Whether the storefront's default playbook runs after a connection's own rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Playbook {
    /// The storefront's default rules run after the connection's own (unless one says `stop`).
    #[default]
    Default,
    /// Only the connection's own rules.
    #[serde(rename = "none")]
    Disabled,
}

/// One storefront account and the GHL location it feeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    pub source: Source,
    pub name: Token,
    pub location_id: Token,
    /// A disabled connection's events are acknowledged and not mapped.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// The store's IANA time zone (`Europe/Berlin`): dates in templates are shown in it, and
    /// storefronts that send local times are read in it. UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Located<String>>,
    /// The signing secret / passphrase / secret word / URL token, by reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretReference>,
    /// The secret being rotated out, accepted too until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<SecretReference>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub playbook: Playbook,
    #[serde(default, skip_serializing_if = "is_default")]
    pub defaults: Defaults,
    /// Evaluated in order, before the playbook's.
    #[serde(
        default,
        deserialize_with = "located_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rules: Vec<RuleSpec>,
    /// Where the connection starts in its file.
    #[serde(skip)]
    pub loc: SourceLoc,
}

impl ConnectionSpec {
    /// A connection with no rules of its own, running its storefront's default playbook.
    pub fn new(source: Source, name: Token, location_id: Token) -> Self {
        Self {
            source,
            name,
            location_id,
            enabled: true,
            timezone: None,
            secret: None,
            previous_secret: None,
            playbook: Playbook::Default,
            defaults: Defaults::default(),
            rules: Vec::new(),
            loc: SourceLoc::UNKNOWN,
        }
    }

    /// `<source>.<name>`: the connection's key in the connections KV bucket.
    pub fn key(&self) -> String {
        format!("{}.{}", self.source, self.name)
    }

    /// The IANA time zone name, if any.
    pub fn timezone_name(&self) -> Option<&str> {
        self.timezone.as_ref().map(|t| t.value.as_str())
    }
}

/// Per-connection defaults, applied to every rule (the connection's and the playbook's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// How rules without an `identity` find the contact (`email_or_phone` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Located<Identity>>,
    /// Tags (templates) added right after every `upsert_contact` / `create_contact`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Text>,
    /// Contact fields (templates) set on every plan; a rule's own `contact.fields` win.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<ContactField, Text>,
    /// Custom fields by key (templates) set on every plan; a rule's own win.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, Text>,
    /// The GHL user id (template) tasks are assigned to unless a step says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<Text>,
    /// Tasks without a `due` are due this many days after the event (1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_due_in_days: Option<Located<i64>>,
    /// Free values for templates, as `vars.<name>` (and for `when` conditions).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// A rules document on its own (the default playbooks are written as one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "located_list")]
    pub rules: Vec<RuleSpec>,
}

/// What happens after a rule matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Then {
    /// Later rules are evaluated too (the default): rules add up.
    #[default]
    Continue,
    /// No later rule is evaluated, the playbook's included.
    Stop,
}

/// Run a rule's steps once per event or once per product of the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForEach {
    /// Once per product the rule's `product_id` / `product_name` conditions accept (every
    /// product without them), with `product` set to it.
    Product,
}

/// One rule: when its `match` holds, its steps are rendered into the event's plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Names identify a rule in errors, plan ids and default step keys: keep them stable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Every condition must hold; no condition matches every event.
    #[serde(default, rename = "match", skip_serializing_if = "is_default")]
    pub matches: MatchSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<ForEach>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub contact: ContactRule,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Located<StepSpec>>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub then: Then,
    /// Where the rule starts in its file.
    #[serde(skip)]
    pub loc: SourceLoc,
}

/// Conditions on an event. Lists mean "any of"; patterns are globs (`*`, `?`, `[a-z]`,
/// `\*` for a literal star), and a pattern without wildcards is an exact match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Located<OneOrMany<Source>>>,
    /// Event kinds (`order.paid`) or patterns over them (`subscription.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Located<OneOrMany<String>>>,
    /// The storefront's own event name (`on_payment_missed`, `membership.started`), patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event: Option<Located<OneOrMany<String>>>,
    /// Any product of the event has an id matching one of these patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Located<OneOrMany<String>>>,
    /// Any product of the event has a name matching one of these patterns (ignoring case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<Located<OneOrMany<String>>>,
    /// The event's amount in minor units (the order total; else `attributes.amount_minor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Located<AmountRange>>,
    /// The amount's ISO currency (any of).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Located<OneOrMany<String>>>,
    /// `true` for test deliveries only, `false` for live ones only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<bool>,
    /// Tests on `attributes` by dotted path (`custom_fields.Size`, `product_ids.0`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Located<AttributeTest>>,
    /// An expression over the template context (`order.total.minor > 10000 and not test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Text>,
}

/// An inclusive range of amounts in minor units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

/// A test on one attribute. A bare value means `equals`. Scalars compare as text (`4900`
/// equals `"4900"`, `true` equals `"true"`), and a list attribute passes when any element does.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeTest {
    Equals(serde_json::Value),
    OneOf(Vec<serde_json::Value>),
    Exists(bool),
    Glob(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum AttributeTestRepr {
    Equals(serde_json::Value),
    In(Vec<serde_json::Value>),
    Exists(bool),
    Glob(String),
}

impl Serialize for AttributeTest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.clone() {
            AttributeTest::Equals(v) => AttributeTestRepr::Equals(v),
            AttributeTest::OneOf(v) => AttributeTestRepr::In(v),
            AttributeTest::Exists(v) => AttributeTestRepr::Exists(v),
            AttributeTest::Glob(v) => AttributeTestRepr::Glob(v),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for AttributeTest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        if !v.is_object() {
            return Ok(AttributeTest::Equals(v));
        }
        let repr: AttributeTestRepr = serde_json::from_value(v).map_err(|e| {
            D::Error::custom(format!(
                "an attribute test is a value, or one of {{equals: V}}, {{in: [V, ...]}}, \
                 {{exists: true|false}}, {{glob: PATTERN}} ({e})"
            ))
        })?;
        Ok(match repr {
            AttributeTestRepr::Equals(v) => AttributeTest::Equals(v),
            AttributeTestRepr::In(v) => AttributeTest::OneOf(v),
            AttributeTestRepr::Exists(v) => AttributeTest::Exists(v),
            AttributeTestRepr::Glob(v) => AttributeTest::Glob(v),
        })
    }
}

/// Who the rule's plan is about and what the contact should look like.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactRule {
    /// How the contact is found (the connection's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Located<Identity>>,
    /// Contact fields (templates) over the standard mapping of the event's customer; a field
    /// that renders empty is left unset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<ContactField, Text>,
    /// Custom fields by key (templates); one that renders empty is left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, Text>,
}

/// How a plan identifies its contact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Identity {
    /// By email, else phone (GHL's upsert matching); either must be present.
    #[default]
    EmailOrPhone,
    /// By email, which must be present.
    Email,
    /// By phone, which must be present.
    Phone,
    /// By an external id held in a custom field (also written to that field).
    ExternalId {
        /// The custom field's key.
        field: String,
        /// The id (template); `{{ customer.external_id }}` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Text>,
    },
}

/// The contact fields a rule can set (`ContactFields` of the plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactField {
    Email,
    Phone,
    FirstName,
    LastName,
    Name,
    CompanyName,
    Address1,
    City,
    State,
    PostalCode,
    Country,
    Website,
    Timezone,
    Source,
}

/// One step of a rule; every text is a template. A step whose texts render to nothing (an
/// empty tag list, say) is left out of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepSpec {
    UpsertContact,
    CreateContact,
    UpdateContact,
    DeleteContact,
    FindContact,
    AddTags(Vec<Text>),
    RemoveTags(Vec<Text>),
    CreateTask(CreateTaskSpec),
    UpdateTask(UpdateTaskSpec),
    CompleteTask(KeySpec),
    DeleteTask(KeySpec),
    CreateNote(CreateNoteSpec),
    UpdateNote(UpdateNoteSpec),
    DeleteNote(KeySpec),
    AddToCampaign(CampaignSpec),
    RemoveFromCampaign(CampaignSpec),
    RemoveFromAllCampaigns,
    AddToWorkflow(WorkflowSpec),
    RemoveFromWorkflow(WorkflowSpec),
    AddFollowers(Vec<Text>),
    RemoveFollowers(Vec<Text>),
}

impl StepSpec {
    /// The step's name as written (`create_task`).
    pub fn action(&self) -> &'static str {
        match self {
            StepSpec::UpsertContact => "upsert_contact",
            StepSpec::CreateContact => "create_contact",
            StepSpec::UpdateContact => "update_contact",
            StepSpec::DeleteContact => "delete_contact",
            StepSpec::FindContact => "find_contact",
            StepSpec::AddTags(_) => "add_tags",
            StepSpec::RemoveTags(_) => "remove_tags",
            StepSpec::CreateTask(_) => "create_task",
            StepSpec::UpdateTask(_) => "update_task",
            StepSpec::CompleteTask(_) => "complete_task",
            StepSpec::DeleteTask(_) => "delete_task",
            StepSpec::CreateNote(_) => "create_note",
            StepSpec::UpdateNote(_) => "update_note",
            StepSpec::DeleteNote(_) => "delete_note",
            StepSpec::AddToCampaign(_) => "add_to_campaign",
            StepSpec::RemoveFromCampaign(_) => "remove_from_campaign",
            StepSpec::RemoveFromAllCampaigns => "remove_from_all_campaigns",
            StepSpec::AddToWorkflow(_) => "add_to_workflow",
            StepSpec::RemoveFromWorkflow(_) => "remove_from_workflow",
            StepSpec::AddFollowers(_) => "add_followers",
            StepSpec::RemoveFollowers(_) => "remove_followers",
        }
    }
}

/// `create_task`. The key identifies the task for later steps (`complete_task`) and for the
/// writer's once-only ledger; by default it is unique to the event, rule and step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Text>,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Text>,
    /// RFC 3339, or a date (`2026-03-14`, midnight in the connection's time zone). The
    /// connection's `task_due_in_days` after the event when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Text>,
    /// A GHL user id; the connection's `assigned_to` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<Text>,
}

/// `update_task`: fields left out (or rendering empty) are unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskSpec {
    pub key: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Text>,
}

/// `complete_task`, `delete_task`, `delete_note`: the key of what an earlier step created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub key: Text,
}

/// `create_note`; the key defaults like a task's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateNoteSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Text>,
    pub body: Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateNoteSpec {
    pub key: Text,
    pub body: Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub campaign_id: Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    pub workflow_id: Text,
    /// RFC 3339 with an offset (`add_to_workflow` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_start_time: Option<Text>,
}

/// Reads a connections document; every error names the file, line and column. The document
/// is rejected as a whole: nothing of a bad document is used.
pub fn parse_connections(yaml: &str, file: &str) -> Result<ConnectionsFile, Vec<DocError>> {
    let doc: ConnectionsFile = parse_yaml(yaml, file).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut seen: BTreeMap<String, SourceLoc> = BTreeMap::new();
    for c in &doc.connections {
        if let Some(first) = seen.get(&c.key()) {
            errors.push(DocError::new(
                file,
                c.loc,
                format!(
                    "connection {} is declared twice (first at line {})",
                    c.key(),
                    first.line
                ),
            ));
        } else {
            seen.insert(c.key(), c.loc);
        }
    }
    if errors.is_empty() {
        Ok(doc)
    } else {
        Err(errors)
    }
}

/// Reads a rules document (a playbook).
pub fn parse_rules(yaml: &str, file: &str) -> Result<RulesFile, Vec<DocError>> {
    parse_yaml(yaml, file).map_err(|e| vec![e])
}

/// Reads any YAML document into `T`, with the error's place in `file`.
pub fn parse_yaml<T: DeserializeOwned>(yaml: &str, file: &str) -> Result<T, DocError> {
    serde_saphyr::from_str::<T>(yaml).map_err(|e| {
        use serde_saphyr::MessageFormatter;
        let loc = e.location().map(SourceLoc::from).unwrap_or_default();
        let message = serde_saphyr::DefaultMessageFormatter
            .format_message(e.without_snippet())
            .escape_debug()
            .to_string();
        DocError::new(file, loc, message)
    })
}

/// A list whose elements learn where they start.
trait SetLoc {
    fn set_loc(&mut self, loc: SourceLoc);
}

impl SetLoc for ConnectionSpec {
    fn set_loc(&mut self, loc: SourceLoc) {
        self.loc = loc;
    }
}

impl SetLoc for RuleSpec {
    fn set_loc(&mut self, loc: SourceLoc) {
        self.loc = loc;
    }
}

fn located_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + SetLoc,
{
    let items = Vec::<Located<T>>::deserialize(d)?;
    Ok(items
        .into_iter()
        .map(|l| {
            let mut v = l.value;
            v.set_loc(l.loc);
            v
        })
        .collect())
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[cfg(test)]
mod tests;
