//! The search side: a per-location index that receives contact writes after the configured lag
//! (GHL: updates "may take a few seconds to appear in search results"), and the semantics of
//! `POST /contacts/search` (filters, groups, sort, `page`/`searchAfter` paging, free text), the
//! deprecated `GET /contacts/` (keyset paging by `startAfter`/`startAfterId`) and
//! `GET /contacts/business/{id}` (offset paging), all of which read the index.
//!
//! Searches run on an immutable snapshot of the visible documents, taken under the store's lock
//! and rebuilt only after a write reaches the index: documents newest first (so the default
//! sort needs no sorting and a page is a slice), posting lists for exact tag, email and phone
//! filters (made on first use, so a filter touches only its matches), a partial selection for
//! other sorts, and each document's result JSON rendered once.
//!
//! The search body is not in GHL's OpenAPI file; the field and operator lists follow GHL's
//! external search document as reproduced in `contacts-endpoints.md` §3. Custom fields are
//! filtered as `customFields.<id>` (or `customFields.<fieldKey>`), checked against the
//! field's data type once the location is known. Shape errors of the
//! body (types, required fields, unknown properties) are 422 with a message array, like every
//! other DTO; semantic errors in filters and sort are 400 with a string message, as observed
//! (`"Invalid field additional_phones"`, issue #289).

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{CustomFieldDef, DataType, Now, Store};
use crate::contact::{Contact, SearchContactView};
use crate::error::{Error, Result};

/// Page mode reaches at most this many records; beyond, `searchAfter` is needed.
pub(crate) const MAX_PAGED_RESULTS: usize = 10_000;
/// Largest `pageLimit`.
pub(crate) const MAX_PAGE_LIMIT: usize = 500;
/// Longest filter value and free-text query.
const MAX_VALUE_CHARS: usize = 75;

/// A contact as the index holds it: a snapshot plus its searchable text, lower-cased once
/// when written, and its search result shape rendered once when first returned.
#[derive(Debug)]
pub(crate) struct Doc {
    contact: Contact,
    name: Option<String>,
    first: Option<String>,
    last: Option<String>,
    email: Option<String>,
    address: Option<String>,
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    postal_code: Option<String>,
    company: Option<String>,
    assigned_to: Option<String>,
    source: Option<String>,
    added: i128,
    updated: i128,
    /// The search result JSON without `searchAfter` and the closing brace (like a search
    /// engine's stored `_source`): a page is these, each followed by its cursor.
    rendered: OnceLock<Box<str>>,
}

impl Doc {
    fn new(contact: Contact) -> Self {
        let lower = |s: &Option<String>| {
            s.as_deref()
                .filter(|s| !s.is_empty())
                .map(str::to_lowercase)
        };
        Self {
            name: lower(&contact.display_name()),
            first: lower(&contact.first_name),
            last: lower(&contact.last_name),
            email: lower(&contact.email),
            address: lower(&contact.address1),
            city: lower(&contact.city),
            state: lower(&contact.state),
            country: lower(&contact.country),
            postal_code: lower(&contact.postal_code),
            company: lower(&contact.company_name),
            assigned_to: lower(&contact.assigned_to),
            source: lower(&contact.source),
            added: millis(contact.date_added),
            updated: millis(contact.date_updated),
            rendered: OnceLock::new(),
            contact,
        }
    }

    fn id(&self) -> &str {
        &self.contact.id
    }

    /// The position in the index's default order: newest first, then by id.
    fn order_key(&self) -> (Reverse<i128>, String) {
        (Reverse(self.added), self.contact.id.clone())
    }

    /// [`Doc::rendered`], made on first use.
    fn rendered(&self) -> &str {
        self.rendered.get_or_init(|| {
            // Serializing strings, numbers and `Value`s into a `String` cannot fail.
            let mut json = serde_json::to_string(&self.contact.search_view(None))
                .unwrap_or_else(|_| String::from("{}"));
            json.pop();
            json.into_boxed_str()
        })
    }

    /// Whether the document holds exactly `value` in `field` (an indexed field).
    fn has(&self, field: Field, value: &str) -> bool {
        match field {
            Field::Tags => self.contact.tags.iter().any(|t| t == value),
            Field::Email => self.email.as_deref() == Some(value),
            Field::Phone => self.contact.phone.as_deref() == Some(value),
            _ => false,
        }
    }
}

/// Every searchable document of a location at one moment, shared so that searches run
/// outside the store's lock.
pub(crate) type Snapshot = Arc<Visible>;

/// The documents a search sees, newest first (`dateAdded` descending, then id: the default
/// sort), with posting lists (an inverted index) for the exact-value filters on tags, email and
/// phone. A posting list is made the first time a search asks for its value and kept until the
/// next write replaces the snapshot, so writes cost no more than before and repeated filters
/// touch only their matches.
#[derive(Debug, Default)]
pub(crate) struct Visible {
    docs: Vec<Arc<Doc>>,
    postings: Mutex<Postings>,
}

/// `(field, exact value)` → positions in [`Visible::docs`], ascending.
type Postings = HashMap<(Field, String), Arc<[u32]>>;

impl Visible {
    /// The positions of the documents holding `value` in `field`, ascending.
    fn postings(&self, field: Field, value: &str) -> Arc<[u32]> {
        let key = (field, value.to_owned());
        let cached = self
            .postings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(list) = cached {
            return list;
        }
        // Made outside the lock; two searches racing make the same list.
        let list: Arc<[u32]> = self
            .docs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.has(field, value))
            .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        self.postings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::clone(&list));
        list
    }

    /// The documents `filter` can only match, when it is an exact-value filter on an indexed
    /// field: the union of its values' posting lists, ascending.
    fn candidates(&self, filter: &Filter) -> Option<Vec<u32>> {
        let (field, values) = match filter {
            Filter::List {
                field: Field::Tags,
                negate: false,
                values,
            } => (Field::Tags, values),
            Filter::Text {
                field: field @ (Field::Email | Field::Phone),
                op: Op::Eq,
                values,
            } => (*field, values),
            _ => return None,
        };
        let mut union: Vec<u32> = Vec::new();
        for v in values {
            union.extend_from_slice(&self.postings(field, v));
        }
        if values.len() > 1 {
            union.sort_unstable();
            union.dedup();
        }
        Some(union)
    }
}

/// The search documents of one location, and the writes still on their way to it.
#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    /// Visible documents by contact id.
    docs: HashMap<String, Arc<Doc>>,
    /// The same documents in the default order.
    newest_first: BTreeMap<(Reverse<i128>, String), Arc<Doc>>,
    /// What searches see, rebuilt after a change when a search asks for it.
    snapshot: Option<Snapshot>,
    /// `(visible at, contact id, document or None for a deletion)`, in write order.
    pending: VecDeque<(Instant, String, Option<Contact>)>,
}

impl SearchIndex {
    /// Records a write made at `at`; it becomes searchable at `at + lag`.
    pub(crate) fn put(&mut self, at: Instant, lag: Duration, id: &str, doc: Option<Contact>) {
        if lag.is_zero() && self.pending.is_empty() {
            self.apply(id.to_owned(), doc);
        } else {
            self.pending.push_back((at + lag, id.to_owned(), doc));
        }
    }

    fn apply(&mut self, id: String, doc: Option<Contact>) {
        self.snapshot = None;
        if let Some(old) = self.docs.remove(&id) {
            self.newest_first.remove(&old.order_key());
        }
        if let Some(c) = doc {
            let doc = Arc::new(Doc::new(c));
            self.newest_first.insert(doc.order_key(), Arc::clone(&doc));
            self.docs.insert(id, doc);
        }
    }

    /// Applies every pending write visible at `now`, in write order. A write that is not yet
    /// visible holds back later writes to the same contact.
    pub(crate) fn refresh(&mut self, now: Instant) {
        if self.pending.front().is_none_or(|(t, _, _)| *t > now) && self.pending.len() <= 1 {
            return;
        }
        let mut held: HashSet<String> = HashSet::new();
        let mut keep = VecDeque::new();
        while let Some((t, id, doc)) = self.pending.pop_front() {
            if t <= now && !held.contains(&id) {
                self.apply(id, doc);
            } else {
                held.insert(id.clone());
                keep.push_back((t, id, doc));
            }
        }
        self.pending = keep;
    }

    fn docs(&self) -> impl Iterator<Item = &Doc> {
        self.docs.values().map(|d| &**d)
    }

    /// The current documents (call [`SearchIndex::refresh`] first).
    pub(crate) fn snapshot(&mut self) -> Snapshot {
        let newest_first = &self.newest_first;
        Arc::clone(self.snapshot.get_or_insert_with(|| {
            Arc::new(Visible {
                docs: newest_first.values().cloned().collect(),
                postings: Mutex::default(),
            })
        }))
    }

    /// How many writes are not searchable yet.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// A parsed `POST /contacts/search` body.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SearchRequest {
    /// `locationId`.
    pub(crate) location_id: String,
    /// `pageLimit` (1..=500).
    pub(crate) page_limit: usize,
    /// `page` (1-based).
    pub(crate) page: Option<usize>,
    /// `searchAfter` cursor.
    pub(crate) search_after: Option<Vec<Value>>,
    /// `filters`, checked when compiled.
    pub(crate) filters: Vec<Value>,
    /// `sort`, checked when compiled.
    pub(crate) sort: Vec<Value>,
    /// `query`.
    pub(crate) query: Option<String>,
}

/// Reads a search body; shape problems are one 422 with every message.
pub(crate) fn search_body(bytes: &[u8]) -> Result<SearchRequest> {
    let map = crate::dto::parse_object(bytes)?;
    let mut errors = Vec::new();
    let mut req = SearchRequest::default();
    let (mut location_seen, mut limit_seen) = (false, false);
    for (key, value) in map {
        match key.as_str() {
            "locationId" => {
                location_seen = true;
                match value {
                    Value::String(s) if !s.is_empty() => req.location_id = s,
                    Value::String(_) => errors.push("locationId should not be empty".into()),
                    _ => errors.push("locationId must be a string".into()),
                }
            }
            "pageLimit" => {
                limit_seen = true;
                match whole(&value) {
                    Some(n) if n < 1 => errors.push("pageLimit must not be less than 1".into()),
                    Some(n) if n > MAX_PAGE_LIMIT as u64 => {
                        errors.push(format!(
                            "pageLimit must not be greater than {MAX_PAGE_LIMIT}"
                        ));
                    }
                    Some(n) => req.page_limit = usize::try_from(n).unwrap_or(MAX_PAGE_LIMIT),
                    None => errors.push("pageLimit must be an integer number".into()),
                }
            }
            "page" => match whole(&value) {
                Some(n) if n >= 1 => req.page = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                Some(_) => errors.push("page must not be less than 1".into()),
                None => errors.push("page must be an integer number".into()),
            },
            "searchAfter" => match value {
                Value::Array(a) => req.search_after = Some(a),
                _ => errors.push("searchAfter must be an array".into()),
            },
            "filters" => match value {
                Value::Array(a) => req.filters = a,
                _ => errors.push("filters must be an array".into()),
            },
            "sort" => match value {
                Value::Array(a) => req.sort = a,
                _ => errors.push("sort must be an array".into()),
            },
            "query" => match value {
                Value::String(s) if s.chars().count() > MAX_VALUE_CHARS => errors.push(format!(
                    "query must be shorter than or equal to {MAX_VALUE_CHARS} characters"
                )),
                Value::String(s) => req.query = Some(s),
                Value::Null => {}
                _ => errors.push("query must be a string".into()),
            },
            _ => errors.push(format!("property {key} should not exist")),
        }
    }
    if !location_seen {
        errors.push("locationId should not be empty".into());
    }
    if !limit_seen {
        errors.push("pageLimit must be an integer number".into());
    }
    if errors.is_empty() {
        Ok(req)
    } else {
        Err(Error::Validation(errors))
    }
}

fn whole(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// A searchable field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Field {
    Id,
    ContactName,
    FirstNameLower,
    LastNameLower,
    Email,
    Phone,
    Address,
    City,
    State,
    Country,
    PostalCode,
    CompanyName,
    BusinessName,
    AssignedTo,
    Source,
    Dnd,
    IsValidWhatsapp,
    Followers,
    Tags,
    DateAdded,
    DateUpdated,
    LastEmailClickedDate,
    LastEmailOpenedDate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Id,
    Text,
    Email,
    Bool,
    List,
    Date,
}

impl Field {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "id" => Self::Id,
            "contactName" => Self::ContactName,
            "firstNameLowerCase" => Self::FirstNameLower,
            "lastNameLowerCase" => Self::LastNameLower,
            "email" => Self::Email,
            "phone" => Self::Phone,
            "address" => Self::Address,
            "city" => Self::City,
            "state" => Self::State,
            "country" => Self::Country,
            "postalCode" => Self::PostalCode,
            "companyName" => Self::CompanyName,
            "businessName" => Self::BusinessName,
            "assignedTo" => Self::AssignedTo,
            "source" => Self::Source,
            "dnd" => Self::Dnd,
            "isValidWhatsapp" => Self::IsValidWhatsapp,
            "followers" => Self::Followers,
            "tags" => Self::Tags,
            "dateAdded" => Self::DateAdded,
            "dateUpdated" => Self::DateUpdated,
            "lastEmailClickedDate" => Self::LastEmailClickedDate,
            "lastEmailOpenedDate" => Self::LastEmailOpenedDate,
            _ => return None,
        })
    }

    fn kind(self) -> Kind {
        match self {
            Self::Id => Kind::Id,
            Self::Email => Kind::Email,
            Self::Dnd | Self::IsValidWhatsapp => Kind::Bool,
            Self::Followers | Self::Tags => Kind::List,
            Self::DateAdded
            | Self::DateUpdated
            | Self::LastEmailClickedDate
            | Self::LastEmailOpenedDate => Kind::Date,
            _ => Kind::Text,
        }
    }

    /// The document's value, lower-cased for text (ids as they are).
    fn text(self, d: &Doc) -> Option<&str> {
        match self {
            Self::Id => Some(d.id()),
            Self::ContactName => d.name.as_deref(),
            Self::FirstNameLower => d.first.as_deref(),
            Self::LastNameLower => d.last.as_deref(),
            Self::Email => d.email.as_deref(),
            Self::Phone => d.contact.phone.as_deref(),
            Self::Address => d.address.as_deref(),
            Self::City => d.city.as_deref(),
            Self::State => d.state.as_deref(),
            Self::Country => d.country.as_deref(),
            Self::PostalCode => d.postal_code.as_deref(),
            Self::CompanyName => d.company.as_deref(),
            Self::AssignedTo => d.assigned_to.as_deref(),
            Self::Source => d.source.as_deref(),
            // The sandbox keeps no business name on contacts.
            _ => None,
        }
    }

    fn boolean(self, d: &Doc) -> Option<bool> {
        match self {
            Self::Dnd => Some(d.contact.dnd),
            _ => None,
        }
    }

    fn list(self, d: &Doc) -> &[String] {
        match self {
            Self::Tags => &d.contact.tags,
            Self::Followers => &d.contact.followers,
            _ => &[],
        }
    }

    fn date(self, d: &Doc) -> Option<i128> {
        match self {
            Self::DateAdded => Some(d.added),
            Self::DateUpdated => Some(d.updated),
            _ => None,
        }
    }

    fn exists(self, d: &Doc) -> bool {
        match self.kind() {
            Kind::Bool => self.boolean(d).is_some(),
            Kind::List => !self.list(d).is_empty(),
            Kind::Date => self.date(d).is_some(),
            _ => self.text(d).is_some(),
        }
    }

    fn allows(self, op: Op) -> bool {
        match self.kind() {
            Kind::Id => matches!(op, Op::Eq | Op::NotEq),
            Kind::Email | Kind::List => {
                matches!(op, Op::Eq | Op::NotEq | Op::Exists | Op::NotExists)
            }
            Kind::Bool => matches!(op, Op::Eq | Op::NotEq),
            Kind::Date => matches!(op, Op::Range | Op::Exists | Op::NotExists),
            Kind::Text => op != Op::Range,
        }
    }
}

fn millis(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000_000
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
    Contains,
    NotContains,
    Exists,
    NotExists,
    Range,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::NotEq => "not_eq",
            Self::Contains => "contains",
            Self::NotContains => "not_contains",
            Self::Exists => "exists",
            Self::NotExists => "not_exists",
            Self::Range => "range",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "eq" => Self::Eq,
            "not_eq" => Self::NotEq,
            "contains" => Self::Contains,
            "not_contains" => Self::NotContains,
            "exists" => Self::Exists,
            "not_exists" => Self::NotExists,
            "range" => Self::Range,
            _ => return None,
        })
    }
}

/// A compiled filter.
#[derive(Clone, Debug, PartialEq)]
enum Filter {
    /// Match values of a text/id/email field (lower-cased, except ids).
    Text {
        field: Field,
        op: Op,
        values: Vec<String>,
    },
    Bool {
        field: Field,
        negate: bool,
        value: bool,
    },
    List {
        field: Field,
        negate: bool,
        values: Vec<String>,
    },
    Range {
        field: Field,
        bounds: [Option<i128>; 4],
    },
    Exists {
        field: Field,
        negate: bool,
    },
    Group {
        any: bool,
        filters: Vec<Filter>,
    },
    /// `customFields.<id or key>`, resolved against the location's definitions before running.
    Custom(CustomFilter),
}

fn bad(message: impl Into<String>) -> Error {
    Error::BadRequest(message.into())
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn check_len(s: &str) -> Result<()> {
    if s.chars().count() > MAX_VALUE_CHARS {
        return Err(bad(format!(
            "Filter values must be at most {MAX_VALUE_CHARS} characters"
        )));
    }
    Ok(())
}

/// Epoch milliseconds from an ISO 8601 string or a number.
fn instant_value(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n.as_i64().map(i128::from),
        Value::String(s) => OffsetDateTime::parse(s, &Rfc3339).ok().map(millis),
        _ => None,
    }
}

/// How a filter names a custom field: `customFields.<id>`, as GHL's search document writes it,
/// or `customFields.<fieldKey>` (with or without the `contact.` prefix).
const CUSTOM_FIELD_PREFIX: &str = "customFields.";

/// A filter on a custom field's value. Compiled with the request; once the location is known
/// its field is looked up and its operator and value are checked against the field's data type
/// ([`CustomFilter::bind`]).
#[derive(Clone, Debug, PartialEq)]
struct CustomFilter {
    /// The id or key the filter names.
    reference: String,
    op: Op,
    value: Option<Value>,
    /// The field's id and the test, once bound.
    bound: Option<(String, CustomTest)>,
}

/// What a custom field filter checks, by the field's data type.
#[derive(Clone, Debug, PartialEq)]
enum CustomTest {
    /// `exists` / `not_exists`.
    Exists { negate: bool },
    /// Text equality or substring, ignoring case; a list value matches when one item does.
    Text { op: Op, values: Vec<String> },
    /// Numeric equality (`NUMERICAL`, `MONETORY`).
    Number { negate: bool, values: Vec<f64> },
    /// `range` over numbers, or over dates as epoch milliseconds: `[gt, gte, lt, lte]`.
    Range {
        date: bool,
        bounds: [Option<f64>; 4],
    },
}

/// The operators each data type allows (GHL's search document: text fields take the text
/// operators, numbers equality and ranges, dates ranges; lists match by item).
fn custom_ops(data_type: DataType) -> &'static [Op] {
    use Op::{Contains, Eq, Exists, NotContains, NotEq, NotExists, Range};
    match data_type {
        DataType::Numerical | DataType::Monetory => &[Eq, NotEq, Range, Exists, NotExists],
        DataType::Date => &[Range, Exists, NotExists],
        DataType::FileUpload => &[Exists, NotExists],
        _ => &[Eq, NotEq, Contains, NotContains, Exists, NotExists],
    }
}

/// A number from a JSON number or a numeric string.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A stored date value as epoch milliseconds: an ISO timestamp, a date in one of the layouts
/// `dateOfBirth` accepts (midnight UTC), or epoch milliseconds.
fn date_millis(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => OffsetDateTime::parse(s.trim(), &Rfc3339)
            .ok()
            .map(millis)
            .or_else(|| {
                crate::contact::parse_date_of_birth(s).map(|d| millis(d.midnight().assume_utc()))
            })
            .map(|ms| ms as f64),
        _ => None,
    }
}

impl CustomFilter {
    /// Checks what does not depend on the field: a value where the operator needs one, its
    /// length, and the shape of a range.
    fn new(reference: &str, op: Op, value: Option<Value>) -> Result<Self> {
        let name = format!("{CUSTOM_FIELD_PREFIX}{reference}");
        match (op, &value) {
            (Op::Exists | Op::NotExists, _) => {}
            (Op::Range, Some(Value::Object(_))) => {}
            (Op::Range, _) => {
                return Err(bad(format!("Range filter on {name} needs an object value")));
            }
            (_, None | Some(Value::Null)) => {
                return Err(bad(format!(
                    "A value is required for operator {}",
                    op.as_str()
                )));
            }
            (_, Some(v)) => {
                for item in v.as_array().map_or_else(|| vec![v], |a| a.iter().collect()) {
                    let text = scalar_text(item)
                        .ok_or_else(|| bad(format!("Invalid value for field {name}")))?;
                    check_len(&text)?;
                }
            }
        }
        Ok(Self {
            reference: reference.to_owned(),
            op,
            value,
            bound: None,
        })
    }

    /// Finds the field (by id, then by key) and compiles the test for its data type.
    fn bind(&mut self, defs: &[CustomFieldDef]) -> Result<()> {
        let name = format!("{CUSTOM_FIELD_PREFIX}{}", self.reference);
        let key = super::full_field_key(&self.reference);
        let def = defs
            .iter()
            .find(|d| d.id == self.reference)
            .or_else(|| defs.iter().find(|d| d.field_key == key))
            .ok_or_else(|| bad(format!("Invalid field {name}")))?;
        if !custom_ops(def.data_type).contains(&self.op) {
            return Err(bad(format!(
                "Operator {} is not supported for field {name}",
                self.op.as_str()
            )));
        }
        let invalid = || bad(format!("Invalid value for field {name}"));
        let items: Vec<&Value> = match &self.value {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v) => vec![v],
            None => Vec::new(),
        };
        let numeric = matches!(def.data_type, DataType::Numerical | DataType::Monetory);
        let test = match self.op {
            Op::Exists | Op::NotExists => CustomTest::Exists {
                negate: self.op == Op::NotExists,
            },
            Op::Range => {
                let date = def.data_type == DataType::Date;
                let mut bounds = [None; 4];
                for (i, k) in ["gt", "gte", "lt", "lte"].iter().enumerate() {
                    if let Some(v) = self.value.as_ref().and_then(|b| b.get(*k)) {
                        let parsed = if date { date_millis(v) } else { number(v) };
                        bounds[i] = Some(parsed.ok_or_else(|| {
                            bad(format!("Invalid value for {k} in range filter on {name}"))
                        })?);
                    }
                }
                if bounds.iter().all(Option::is_none) {
                    return Err(bad(format!(
                        "Range filter on {name} needs one of gt, gte, lt, lte"
                    )));
                }
                CustomTest::Range { date, bounds }
            }
            Op::Eq | Op::NotEq if numeric => CustomTest::Number {
                negate: self.op == Op::NotEq,
                values: items
                    .into_iter()
                    .map(|v| number(v).ok_or_else(invalid))
                    .collect::<Result<_>>()?,
            },
            op => CustomTest::Text {
                op,
                values: items
                    .into_iter()
                    .map(|v| scalar_text(v).map(|t| t.to_lowercase()).ok_or_else(invalid))
                    .collect::<Result<_>>()?,
            },
        };
        self.bound = Some((def.id.clone(), test));
        Ok(())
    }

    fn matches(&self, d: &Doc) -> bool {
        let Some((id, test)) = &self.bound else {
            return false;
        };
        let value = d
            .contact
            .custom_fields
            .iter()
            .find(|(f, _)| f == id)
            .map(|(_, v)| v);
        match test {
            CustomTest::Exists { negate } => value.is_some() != *negate,
            CustomTest::Text { op, values } => {
                let have: Vec<String> = match value {
                    Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
                    Some(v) => scalar_text(v).into_iter().collect(),
                    None => Vec::new(),
                };
                let hit = have.iter().map(|h| h.to_lowercase()).any(|h| {
                    values.iter().any(|v| match op {
                        Op::Eq | Op::NotEq => h == *v,
                        _ => h.contains(v.as_str()),
                    })
                });
                hit != matches!(op, Op::NotEq | Op::NotContains)
            }
            CustomTest::Number { negate, values } => {
                let have = value.and_then(number);
                values.iter().any(|v| have == Some(*v)) != *negate
            }
            CustomTest::Range { date, bounds } => {
                let have = value.and_then(|v| if *date { date_millis(v) } else { number(v) });
                let [gt, gte, lt, lte] = bounds;
                have.is_some_and(|t| {
                    gt.is_none_or(|b| t > b)
                        && gte.is_none_or(|b| t >= b)
                        && lt.is_none_or(|b| t < b)
                        && lte.is_none_or(|b| t <= b)
                })
            }
        }
    }
}

fn compile_filter(v: &Value) -> Result<Filter> {
    let Value::Object(obj) = v else {
        return Err(bad("Each filter must be an object"));
    };
    if let Some(group) = obj.get("group") {
        let any = match group.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("AND") => false,
            Some("OR") => true,
            _ => return Err(bad("group must be one of AND, OR")),
        };
        let Some(Value::Array(items)) = obj.get("filters") else {
            return Err(bad("A filter group needs a filters array"));
        };
        let filters = items
            .iter()
            .map(compile_filter)
            .collect::<Result<Vec<_>>>()?;
        return Ok(Filter::Group { any, filters });
    }
    let name = obj.get("field").and_then(Value::as_str).unwrap_or_default();
    let op_name = obj
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(reference) = name.strip_prefix(CUSTOM_FIELD_PREFIX) {
        let op = Op::parse(op_name).ok_or_else(|| bad(format!("Invalid operator {op_name}")))?;
        return Ok(Filter::Custom(CustomFilter::new(
            reference,
            op,
            obj.get("value").cloned(),
        )?));
    }
    let field = Field::parse(name).ok_or_else(|| bad(format!("Invalid field {name}")))?;
    let op = Op::parse(op_name).ok_or_else(|| bad(format!("Invalid operator {op_name}")))?;
    if !field.allows(op) {
        return Err(bad(format!(
            "Operator {op_name} is not supported for field {name}"
        )));
    }
    let value = obj.get("value");
    let negate = matches!(op, Op::NotEq | Op::NotExists);
    match op {
        Op::Exists | Op::NotExists => return Ok(Filter::Exists { field, negate }),
        Op::Range => {
            let Some(Value::Object(b)) = value else {
                return Err(bad(format!("Range filter on {name} needs an object value")));
            };
            let mut bounds = [None; 4];
            for (i, k) in ["gt", "gte", "lt", "lte"].iter().enumerate() {
                if let Some(v) = b.get(*k) {
                    bounds[i] = Some(instant_value(v).ok_or_else(|| {
                        bad(format!("Invalid date for {k} in range filter on {name}"))
                    })?);
                }
            }
            if bounds.iter().all(Option::is_none) {
                return Err(bad(format!(
                    "Range filter on {name} needs one of gt, gte, lt, lte"
                )));
            }
            return Ok(Filter::Range { field, bounds });
        }
        _ => {}
    }
    let values: Vec<String> = match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| scalar_text(v).ok_or_else(|| bad(format!("Invalid value for field {name}"))))
            .collect::<Result<_>>()?,
        Some(v) => {
            vec![scalar_text(v).ok_or_else(|| bad(format!("Invalid value for field {name}")))?]
        }
        None => return Err(bad(format!("A value is required for operator {op_name}"))),
    };
    for v in &values {
        check_len(v)?;
    }
    Ok(match field.kind() {
        Kind::Bool => {
            let value = match values.first().map(String::as_str) {
                Some("true") => true,
                Some("false") => false,
                _ => return Err(bad(format!("Field {name} needs a boolean value"))),
            };
            Filter::Bool {
                field,
                negate,
                value,
            }
        }
        Kind::List => Filter::List {
            field,
            negate,
            values: values.iter().map(|v| v.trim().to_lowercase()).collect(),
        },
        Kind::Id => Filter::Text { field, op, values },
        _ => Filter::Text {
            field,
            op,
            values: values.iter().map(|v| v.to_lowercase()).collect(),
        },
    })
}

impl Filter {
    fn matches(&self, c: &Doc) -> bool {
        match self {
            Self::Text { field, op, values } => {
                let have = field.text(c);
                let hit = |v: &String| match (op, have) {
                    (Op::Eq | Op::NotEq, Some(h)) => h == v,
                    (Op::Contains | Op::NotContains, Some(h)) => h.contains(v.as_str()),
                    _ => false,
                };
                let any = values.iter().any(hit);
                if matches!(op, Op::NotEq | Op::NotContains) {
                    !any
                } else {
                    any
                }
            }
            Self::Bool {
                field,
                negate,
                value,
            } => (field.boolean(c) == Some(*value)) != *negate,
            Self::List {
                field,
                negate,
                values,
            } => {
                let list = field.list(c);
                values.iter().any(|v| list.contains(v)) != *negate
            }
            Self::Range { field, bounds } => {
                let Some(t) = field.date(c) else {
                    return false;
                };
                let [gt, gte, lt, lte] = bounds;
                gt.is_none_or(|b| t > b)
                    && gte.is_none_or(|b| t >= b)
                    && lt.is_none_or(|b| t < b)
                    && lte.is_none_or(|b| t <= b)
            }
            Self::Exists { field, negate } => field.exists(c) != *negate,
            Self::Group { any: true, filters } => filters.iter().any(|f| f.matches(c)),
            Self::Group {
                any: false,
                filters,
            } => filters.iter().all(|f| f.matches(c)),
            Self::Custom(f) => f.matches(c),
        }
    }

    /// Resolves the custom field filters against the location's definitions.
    fn bind(&mut self, defs: &[CustomFieldDef]) -> Result<()> {
        match self {
            Self::Custom(f) => f.bind(defs),
            Self::Group { filters, .. } => filters.iter_mut().try_for_each(|f| f.bind(defs)),
            _ => Ok(()),
        }
    }
}

/// A sort key: field and direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SortKey {
    field: SortField,
    descending: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortField {
    Email,
    Dnd,
    Source,
    FirstNameLower,
    LastNameLower,
    DateAdded,
    DateUpdated,
}

impl SortField {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "email" => Self::Email,
            "dnd" => Self::Dnd,
            "source" => Self::Source,
            "firstNameLowerCase" => Self::FirstNameLower,
            "lastNameLowerCase" => Self::LastNameLower,
            "dateAdded" => Self::DateAdded,
            "dateUpdated" => Self::DateUpdated,
            _ => return None,
        })
    }

    fn key(self, d: &Doc) -> Key<'_> {
        let text = |f: Field| f.text(d).map_or(Key::Null, Key::Str);
        match self {
            Self::Email => text(Field::Email),
            Self::Source => text(Field::Source),
            Self::FirstNameLower => text(Field::FirstNameLower),
            Self::LastNameLower => text(Field::LastNameLower),
            Self::Dnd => Key::Bool(d.contact.dnd),
            Self::DateAdded => Key::Num(d.added),
            Self::DateUpdated => Key::Num(d.updated),
        }
    }
}

/// One sort value, borrowed from a document or a cursor.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Key<'a> {
    Null,
    Num(i128),
    Float(f64),
    Str(&'a str),
    Bool(bool),
}

impl<'a> Key<'a> {
    fn from_value(v: &'a Value) -> Self {
        match v {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::String(s) => Self::Str(s),
            Value::Number(n) => n.as_i64().map_or_else(
                || Self::Float(n.as_f64().unwrap_or(0.0)),
                |i| Self::Num(i128::from(i)),
            ),
            Value::Array(_) | Value::Object(_) => Self::Null,
        }
    }

    fn to_value(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Num(n) => Value::from(i64::try_from(n).unwrap_or(i64::MAX)),
            Self::Float(f) => Value::from(f),
            Self::Str(s) => Value::String(s.to_owned()),
            Self::Bool(b) => Value::Bool(b),
        }
    }
}

fn compile_sort(items: &[Value]) -> Result<Vec<SortKey>> {
    if items.is_empty() {
        return Ok(vec![SortKey {
            field: SortField::DateAdded,
            descending: true,
        }]);
    }
    items
        .iter()
        .map(|item| {
            let name = item
                .get("field")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let field =
                SortField::parse(name).ok_or_else(|| bad(format!("Invalid sort field {name}")))?;
            let descending = match item
                .get("direction")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(d) => return Err(bad(format!("Invalid sort direction {d}"))),
            };
            Ok(SortKey { field, descending })
        })
        .collect()
}

/// Orders two sort values: missing values last whatever the direction, numbers by value,
/// strings lexically, `false` before `true`.
fn cmp_value(a: Key<'_>, b: Key<'_>, descending: bool) -> Ordering {
    let ord = match (a, b) {
        (Key::Null, Key::Null) => return Ordering::Equal,
        (Key::Null, _) => return Ordering::Greater,
        (_, Key::Null) => return Ordering::Less,
        (Key::Num(x), Key::Num(y)) => x.cmp(&y),
        (Key::Num(x), Key::Float(y)) => (x as f64).partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Key::Float(x), Key::Num(y)) => x.partial_cmp(&(y as f64)).unwrap_or(Ordering::Equal),
        (Key::Float(x), Key::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Key::Str(x), Key::Str(y)) => x.cmp(y),
        (Key::Bool(x), Key::Bool(y)) => x.cmp(&y),
        _ => Ordering::Equal,
    };
    if descending { ord.reverse() } else { ord }
}

/// Orders two documents: sort values, then the contact id ascending.
fn cmp_docs(a: &Doc, b: &Doc, keys: &[SortKey]) -> Ordering {
    for k in keys {
        let ord = cmp_value(k.field.key(a), k.field.key(b), k.descending);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.id().cmp(b.id())
}

/// Orders a document against a `searchAfter` cursor (sort values, then the id).
fn cmp_to_cursor(d: &Doc, cursor: (&[Key<'_>], &str), keys: &[SortKey]) -> Ordering {
    for (i, k) in keys.iter().enumerate() {
        let ord = cmp_value(k.field.key(d), cursor.0[i], k.descending);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    d.id().cmp(cursor.1)
}

/// A free-text query, prepared once.
struct TextQuery {
    lower: String,
    digits: String,
}

impl TextQuery {
    fn new(query: &str) -> Option<Self> {
        let lower = query.trim().to_lowercase();
        let digits = lower.chars().filter(char::is_ascii_digit).collect();
        (!lower.is_empty()).then_some(Self { lower, digits })
    }

    /// Free text over name, email, phone and company.
    fn matches(&self, d: &Doc) -> bool {
        [&d.name, &d.email, &d.company]
            .iter()
            .filter_map(|f| f.as_deref())
            .any(|v| v.contains(&self.lower))
            || d.contact.phone.as_deref().is_some_and(|p| {
                p.contains(&self.lower)
                    || (self.digits.len() >= 3 && p.contains(self.digits.as_str()))
            })
    }
}

/// A search request, checked and compiled: filter, sort and paging errors (400) come from
/// here, before the location is looked at.
pub(crate) struct CompiledSearch<'r> {
    req: &'r SearchRequest,
    filters: Vec<Filter>,
    keys: Vec<SortKey>,
    offset: usize,
    text: Option<TextQuery>,
}

impl<'r> CompiledSearch<'r> {
    /// Checks and compiles `req`.
    pub(crate) fn new(req: &'r SearchRequest) -> Result<Self> {
        let filters = req
            .filters
            .iter()
            .map(compile_filter)
            .collect::<Result<Vec<_>>>()?;
        let keys = compile_sort(&req.sort)?;
        if req.page.is_some() && req.search_after.is_some() {
            return Err(bad("page and searchAfter cannot be used together"));
        }
        let offset = req
            .page
            .map_or(0, |p| (p - 1).saturating_mul(req.page_limit));
        if req.search_after.is_none() && offset.saturating_add(req.page_limit) > MAX_PAGED_RESULTS {
            return Err(bad(format!(
                "page and pageLimit reach beyond the first {MAX_PAGED_RESULTS} records; use searchAfter"
            )));
        }
        if let Some(after) = &req.search_after
            && after.len() != keys.len() + 1
        {
            return Err(bad(format!(
                "searchAfter must hold {} values: the sort values and the contact id",
                keys.len() + 1
            )));
        }
        Ok(Self {
            req,
            filters,
            keys,
            offset,
            text: req.query.as_deref().and_then(TextQuery::new),
        })
    }

    /// Resolves the custom field filters against the location's definitions (400 for an
    /// unknown field, or an operator or value its data type does not take).
    fn bind(&mut self, defs: &[CustomFieldDef]) -> Result<()> {
        self.filters.iter_mut().try_for_each(|f| f.bind(defs))
    }

    /// Whether the requested order is the index's own (`dateAdded` descending, the default).
    fn in_index_order(&self) -> bool {
        self.keys
            == [SortKey {
                field: SortField::DateAdded,
                descending: true,
            }]
    }

    /// Runs the search over a snapshot. An exact-value filter on tags, email or phone reads
    /// its posting lists instead of every document; the default order needs no sort; only the
    /// positions up to the page's end are selected and sorted.
    pub(crate) fn run<'s>(&'s self, visible: &'s Visible) -> SearchPage<'s> {
        let keys = self.keys.as_slice();
        // The narrowest exact-value filter picks the candidates and need not be checked again.
        let driver = self
            .filters
            .iter()
            .enumerate()
            .filter_map(|(i, f)| visible.candidates(f).map(|c| (i, c)))
            .min_by_key(|(_, c)| c.len());
        let keep = |d: &Doc| {
            self.filters
                .iter()
                .enumerate()
                .all(|(i, f)| driver.as_ref().is_some_and(|(j, _)| i == *j) || f.matches(d))
                && self.text.as_ref().is_none_or(|q| q.matches(d))
        };
        let residual = self.text.is_some() || self.filters.len() > usize::from(driver.is_some());
        let mut hits: Vec<&Doc> = match &driver {
            Some((_, positions)) => positions
                .iter()
                .filter_map(|&i| visible.docs.get(i as usize))
                .map(|d| &**d)
                .filter(|d| !residual || keep(d))
                .collect(),
            None => visible
                .docs
                .iter()
                .map(|d| &**d)
                .filter(|d| !residual || keep(d))
                .collect(),
        };
        let total = hits.len();
        let start = match &self.req.search_after {
            Some(after) => {
                let values: Vec<Key<'_>> =
                    after[..keys.len()].iter().map(Key::from_value).collect();
                let id = after[keys.len()].as_str().unwrap_or_default();
                hits.retain(|d| cmp_to_cursor(d, (&values, id), keys) == Ordering::Greater);
                0
            }
            None => self.offset,
        };
        if self.in_index_order() {
            // Already in order: the page is a slice.
            let start = start.min(hits.len());
            hits.truncate(start.saturating_add(self.req.page_limit));
            hits.drain(..start);
        } else {
            // Sort values are borrowed from the documents, so comparing computes them on the fly.
            let order = |a: &&Doc, b: &&Doc| cmp_docs(a, b, keys);
            // Only the first `end` positions matter: select them, then sort those.
            let end = start.saturating_add(self.req.page_limit);
            if hits.len() > end {
                hits.select_nth_unstable_by(end, order);
                hits.truncate(end);
            }
            hits.sort_unstable_by(order);
            hits.drain(..start.min(hits.len()));
        }
        SearchPage { total, hits, keys }
    }
}

/// One page of search results, borrowed from the snapshot it was found in.
#[derive(Debug)]
pub(crate) struct SearchPage<'s> {
    /// Every match, not only this page's.
    pub(crate) total: usize,
    /// This page.
    hits: Vec<&'s Doc>,
    keys: &'s [SortKey],
}

impl SearchPage<'_> {
    /// A hit's `searchAfter`: its sort values, then its id.
    fn cursor(&self, d: &Doc) -> Vec<Value> {
        let mut cursor: Vec<Value> = self
            .keys
            .iter()
            .map(|k| k.field.key(d).to_value())
            .collect();
        cursor.push(Value::String(d.id().to_owned()));
        cursor
    }

    /// The page as views (what the JSON of [`SearchPage::json`] holds).
    #[cfg(test)]
    pub(crate) fn contacts(&self) -> Vec<SearchContactView> {
        self.hits
            .iter()
            .map(|d| d.contact.search_view(Some(self.cursor(d))))
            .collect()
    }

    /// The response body `{contacts, total, traceId}`, from the documents' rendered JSON.
    pub(crate) fn json(&self, trace_id: &str) -> Vec<u8> {
        use std::io::Write as _;
        let mut out: Vec<u8> = Vec::with_capacity(64 + self.hits.len() * 1024);
        out.extend_from_slice(b"{\"contacts\":[");
        for (i, d) in self.hits.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(d.rendered().as_bytes());
            out.extend_from_slice(b",\"searchAfter\":");
            // Writing JSON into a `Vec` cannot fail.
            let _ = serde_json::to_writer(&mut out, &self.cursor(d));
            out.push(b'}');
        }
        let _ = write!(out, "],\"total\":{},\"traceId\":", self.total);
        let _ = serde_json::to_writer(&mut out, trace_id);
        out.push(b'}');
        out
    }
}

/// Query of the deprecated `GET /contacts/`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ListQuery {
    /// `locationId`.
    pub(crate) location_id: String,
    /// `limit` (1..=100, default 20).
    pub(crate) limit: usize,
    /// `startAfterId`.
    pub(crate) start_after_id: Option<String>,
    /// `startAfter` (epoch ms of the last contact's `dateAdded`).
    pub(crate) start_after: Option<i64>,
    /// `query`.
    pub(crate) query: Option<String>,
}

/// Query of `GET /contacts/business/{businessId}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BusinessQuery {
    /// `locationId`.
    pub(crate) location_id: String,
    /// The path's business id.
    pub(crate) business_id: String,
    /// `query`.
    pub(crate) query: Option<String>,
    /// `limit` (default 25).
    pub(crate) limit: usize,
    /// `skip` (default 0).
    pub(crate) skip: usize,
}

/// One page of the deprecated list, with its `meta`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ListPage {
    /// This page.
    pub(crate) contacts: Vec<SearchContactView>,
    /// Every match.
    pub(crate) total: usize,
    /// The cursor after this page's last contact: `(startAfter, startAfterId)`.
    pub(crate) cursor: Option<(i64, String)>,
    /// 1-based page number of this page.
    pub(crate) current_page: usize,
    /// Whether more records follow.
    pub(crate) has_more: bool,
}

impl Store {
    fn index_of(&mut self, caller: &str, location_id: &str, now: Now) -> Result<&SearchIndex> {
        let location = self.caller_location_mut(caller, location_id)?;
        location.index.refresh(now.at);
        Ok(&location.index)
    }

    /// The documents `search` by `caller` runs over (403 for another location), with every
    /// write visible at `now` applied; binds the search's custom field filters to the
    /// location's definitions.
    pub(crate) fn search_docs(
        &mut self,
        caller: &str,
        search: &mut CompiledSearch<'_>,
        now: Now,
    ) -> Result<Snapshot> {
        let location = self.caller_location_mut(caller, &search.req.location_id)?;
        search.bind(&location.custom_fields)?;
        location.index.refresh(now.at);
        Ok(location.index.snapshot())
    }

    /// `GET /contacts/` (deprecated): newest first, keyset paging.
    pub(crate) fn list_contacts(
        &mut self,
        caller: &str,
        q: &ListQuery,
        now: Now,
    ) -> Result<ListPage> {
        let text = q.query.as_deref().and_then(TextQuery::new);
        let index = self.index_of(caller, &q.location_id, now)?;
        let mut hits: Vec<(i128, &Contact)> = index
            .docs()
            .filter(|d| text.as_ref().is_none_or(|t| t.matches(d)))
            .map(|d| (d.added, &d.contact))
            .collect();
        // Newest first; ties by id, descending, so a cursor is a strict position.
        hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.id.cmp(&a.1.id)));
        let total = hits.len();
        let cursor: Option<(i128, String)> = match (&q.start_after_id, q.start_after) {
            (None, None) => None,
            (id, at) => {
                let at = at.map(i128::from).or_else(|| {
                    id.as_ref()
                        .and_then(|id| hits.iter().find(|(_, c)| c.id == *id))
                        .map(|(t, _)| *t)
                });
                match at {
                    Some(at) => Some((at, id.clone().unwrap_or_default())),
                    // An unknown id with no time: nothing after it.
                    None => Some((i128::MIN, String::new())),
                }
            }
        };
        let start = cursor.map_or(0, |(at, id)| {
            hits.partition_point(|(t, c)| *t > at || (*t == at && c.id >= id))
        });
        let page: Vec<&(i128, &Contact)> = hits.iter().skip(start).take(q.limit).collect();
        let cursor = page
            .last()
            .map(|(t, c)| (i64::try_from(*t).unwrap_or(i64::MAX), c.id.clone()));
        let has_more = start + page.len() < total;
        let contacts = page.iter().map(|(_, c)| c.search_view(None)).collect();
        Ok(ListPage {
            contacts,
            total,
            cursor,
            current_page: start / q.limit.max(1) + 1,
            has_more,
        })
    }

    /// `GET /contacts/business/{businessId}`: `(page, count of all matches)`.
    pub(crate) fn contacts_by_business(
        &mut self,
        caller: &str,
        q: &BusinessQuery,
        now: Now,
    ) -> Result<(Vec<SearchContactView>, usize)> {
        let BusinessQuery {
            location_id,
            business_id,
            query,
            limit,
            skip,
        } = q;
        let (business_id, query, limit, skip) =
            (business_id.as_str(), query.as_deref(), *limit, *skip);
        let text = query.and_then(TextQuery::new);
        let index = self.index_of(caller, location_id, now)?;
        let mut hits: Vec<&Contact> = index
            .docs()
            .filter(|d| d.contact.business_id.as_deref() == Some(business_id))
            .filter(|d| text.as_ref().is_none_or(|t| t.matches(d)))
            .map(|d| &d.contact)
            .collect();
        hits.sort_by(|a, b| {
            b.date_added
                .cmp(&a.date_added)
                .then_with(|| b.id.cmp(&a.id))
        });
        let count = hits.len();
        let page = hits
            .into_iter()
            .skip(skip)
            .take(limit)
            .map(|c| c.search_view(None))
            .collect();
        Ok((page, count))
    }

    /// Writes not yet searchable, per location (control API).
    pub(crate) fn pending_index_writes(&self) -> Map<String, Value> {
        self.locations
            .iter()
            .map(|(id, l)| (id.clone(), Value::from(l.index.pending())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dto::{ContactDto, contact_body};
    use crate::store::DEMO_LOCATION_ID as LOC;

    fn store(lag: Duration) -> Store {
        Store::new(true, lag, OffsetDateTime::now_utc())
    }

    fn upsert(s: &mut Store, v: Value, now: Now) -> String {
        let mut v = v;
        v["locationId"] = json!(LOC);
        let body = contact_body(v.to_string().as_bytes(), ContactDto::Upsert).unwrap();
        s.upsert(LOC, body, now).unwrap().contact.id
    }

    /// A search's page as views.
    #[derive(Debug)]
    struct Found {
        total: usize,
        contacts: Vec<SearchContactView>,
    }

    /// The response body as serde writes it from the views.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct SearchResponse<'a> {
        contacts: &'a [SearchContactView],
        total: usize,
        trace_id: &'a str,
    }

    /// `POST /contacts/search` as the route runs it; also checks that the body rendered from
    /// the documents is, byte for byte, what serde writes from the views.
    fn search(s: &mut Store, body: Value, now: Now) -> Result<Found> {
        let mut body = body;
        body["locationId"] = json!(LOC);
        if body.get("pageLimit").is_none() {
            body["pageLimit"] = json!(100);
        }
        let req = search_body(body.to_string().as_bytes())?;
        let mut search = CompiledSearch::new(&req)?;
        let visible = s.search_docs(LOC, &mut search, now)?;
        let page = search.run(&visible);
        let contacts = page.contacts();
        let expected = serde_json::to_vec(&SearchResponse {
            contacts: &contacts,
            total: page.total,
            trace_id: "0af7651916cd43dd8448eb211c80319c",
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(page.json("0af7651916cd43dd8448eb211c80319c")).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        Ok(Found {
            total: page.total,
            contacts,
        })
    }

    /// The ids of the contacts matching `filters`, sorted.
    fn matching(s: &mut Store, filters: Value, now: Now) -> Vec<String> {
        sorted(ids(&search(s, json!({ "filters": filters }), now).unwrap()))
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    fn ids(p: &Found) -> Vec<String> {
        p.contacts.iter().map(|c| c.id.clone()).collect()
    }

    fn at(base: Now, secs: u64) -> Now {
        Now {
            utc: base.utc + Duration::from_secs(secs),
            at: base.at + Duration::from_secs(secs),
        }
    }

    #[test]
    fn writes_reach_search_after_the_lag() {
        let mut s = store(Duration::from_secs(2));
        let t0 = Now::system();
        let id = upsert(&mut s, json!({"email": "lag@x.io"}), t0);
        assert_eq!(search(&mut s, json!({}), t0).unwrap().total, 0);
        assert_eq!(search(&mut s, json!({}), at(t0, 1)).unwrap().total, 0);
        let p = search(&mut s, json!({}), at(t0, 2)).unwrap();
        assert_eq!(ids(&p), std::slice::from_ref(&id));
        // An update lags too: the old document is served meanwhile.
        upsert(
            &mut s,
            json!({"email": "lag@x.io", "tags": ["new"]}),
            at(t0, 3),
        );
        let f = json!({"filters": [{"field": "tags", "operator": "eq", "value": "new"}]});
        assert_eq!(search(&mut s, f.clone(), at(t0, 4)).unwrap().total, 0);
        assert_eq!(search(&mut s, f, at(t0, 5)).unwrap().total, 1);
    }

    #[test]
    fn filters_groups_and_operators() {
        let mut s = store(Duration::ZERO);
        let now = Now::system();
        let a = upsert(
            &mut s,
            json!({"email": "ann@x.io", "firstName": "Ann", "city": "Paris", "tags": ["vip"]}),
            now,
        );
        let b = upsert(
            &mut s,
            json!({"email": "bob@y.io", "firstName": "Bob", "city": "Berlin", "dnd": true}),
            now,
        );
        let c = upsert(
            &mut s,
            json!({"phone": "+15550100000", "firstName": "Cy"}),
            now,
        );
        let q = |s: &mut Store, f: Value| matching(s, f, now);
        assert_eq!(
            q(
                &mut s,
                json!([{"field": "email", "operator": "eq", "value": "ANN@x.io"}])
            ),
            std::slice::from_ref(&a)
        );
        assert_eq!(
            q(
                &mut s,
                json!([{"field": "firstNameLowerCase", "operator": "contains", "value": "o"}])
            ),
            std::slice::from_ref(&b)
        );
        assert_eq!(
            q(
                &mut s,
                json!([{"field": "email", "operator": "not_exists"}])
            ),
            std::slice::from_ref(&c)
        );
        assert_eq!(
            q(
                &mut s,
                json!([{"field": "tags", "operator": "eq", "value": "VIP"}])
            ),
            std::slice::from_ref(&a)
        );
        assert_eq!(
            q(
                &mut s,
                json!([{"field": "dnd", "operator": "eq", "value": true}])
            ),
            std::slice::from_ref(&b)
        );
        assert_eq!(
            q(
                &mut s,
                json!([{"group": "OR", "filters": [
                {"field": "city", "operator": "eq", "value": "paris"},
                {"field": "city", "operator": "eq", "value": "berlin"}]}])
            ),
            sorted(vec![a.clone(), b.clone()])
        );
        assert_eq!(
            q(
                &mut s,
                json!([{"field": "city", "operator": "not_eq", "value": "paris"}, {"field": "dnd", "operator": "eq", "value": false}])
            ),
            std::slice::from_ref(&c)
        );
        assert_eq!(
            q(&mut s, json!([{"field": "dateAdded", "operator": "range", "value": {"lte": crate::contact::iso_millis(now.utc)}}])).len(),
            3
        );
        assert_eq!(
            search(&mut s, json!({"query": "5550100"}), now)
                .unwrap()
                .total,
            1
        );
        for (f, msg) in [
            (
                json!({"field": "additional_phones", "operator": "nested"}),
                "Invalid field additional_phones",
            ),
            (
                json!({"field": "email", "operator": "contains", "value": "x"}),
                "Operator contains is not supported for field email",
            ),
            (
                json!({"field": "city", "operator": "like", "value": "x"}),
                "Invalid operator like",
            ),
        ] {
            assert_eq!(
                search(&mut s, json!({"filters": [f]}), now).unwrap_err(),
                Error::BadRequest(msg.into())
            );
        }
    }

    #[test]
    fn custom_field_filters_by_id_or_key_follow_the_data_type() {
        let mut s = store(Duration::ZERO);
        let now = Now::system();
        let field = |s: &mut Store, name: &str, data_type: DataType| {
            let input = crate::store::FieldInput {
                name: name.into(),
                data_type,
                placeholder: None,
                position: None,
                options: vec![],
            };
            let v = s.create_custom_field(LOC, LOC, input).unwrap();
            v["id"].as_str().unwrap().to_owned()
        };
        let joined = field(&mut s, "Joined", DataType::Date);
        let colors = field(&mut s, "Colors", DataType::Checkbox);
        let ltv = s.location_view(LOC).unwrap().custom_fields[2].id.clone();
        let a = upsert(
            &mut s,
            json!({"email": "a@x.io", "customFields": [
                {"key": "lifetime_value", "field_value": 120.5},
                {"key": "gumroad_customer_id", "field_value": "GR-100"},
                {"id": joined, "field_value": "2024-03-01"},
                {"id": colors, "field_value": ["Red", "Blue"]}]}),
            now,
        );
        let b = upsert(
            &mut s,
            json!({"email": "b@x.io", "customFields": [
                {"key": "lifetime_value", "field_value": "30"},
                {"id": joined, "field_value": "2023-12-31T23:00:00Z"}]}),
            now,
        );
        let c = upsert(&mut s, json!({"email": "c@x.io"}), now);
        let q = |s: &mut Store, f: Value| matching(s, json!([f]), now);
        // By id, and by key with or without the `contact.` prefix.
        let f = json!({"field": format!("customFields.{ltv}"), "operator": "range", "value": {"gt": 100}});
        assert_eq!(q(&mut s, f), std::slice::from_ref(&a));
        let f =
            json!({"field": "customFields.contact.lifetime_value", "operator": "eq", "value": 30});
        assert_eq!(q(&mut s, f), std::slice::from_ref(&b));
        let f =
            json!({"field": "customFields.lifetime_value", "operator": "not_eq", "value": "30"});
        assert_eq!(q(&mut s, f), sorted(vec![a.clone(), c.clone()]));
        // Text ignores case; lists match by item; dates compare as instants.
        let f = json!({"field": "customFields.gumroad_customer_id", "operator": "contains", "value": "gr-1"});
        assert_eq!(q(&mut s, f), std::slice::from_ref(&a));
        let f = json!({"field": "customFields.gumroad_customer_id", "operator": "not_exists"});
        assert_eq!(q(&mut s, f), sorted(vec![b.clone(), c.clone()]));
        let f =
            json!({"field": format!("customFields.{colors}"), "operator": "eq", "value": "BLUE"});
        assert_eq!(q(&mut s, f), std::slice::from_ref(&a));
        let f = json!({"field": "customFields.joined", "operator": "range", "value": {"lt": "2024-01-01"}});
        assert_eq!(q(&mut s, f), std::slice::from_ref(&b));
        let f = json!({"field": "customFields.joined", "operator": "range",
            "value": {"gte": "2024-01-01T00:00:00Z", "lte": 1_893_456_000_000_i64}});
        assert_eq!(q(&mut s, f), std::slice::from_ref(&a));
        // Inside a group, too.
        let f = json!({"group": "OR", "filters": [
            {"field": "customFields.colors", "operator": "exists"},
            {"field": "email", "operator": "eq", "value": "c@x.io"}]});
        assert_eq!(q(&mut s, f), sorted(vec![a, c]));
        for (f, msg) in [
            (
                json!({"field": "customFields.nope", "operator": "exists"}),
                "Invalid field customFields.nope",
            ),
            (
                json!({"field": "customFields.lifetime_value", "operator": "contains", "value": "3"}),
                "Operator contains is not supported for field customFields.lifetime_value",
            ),
            (
                json!({"field": "customFields.lifetime_value", "operator": "eq", "value": "lots"}),
                "Invalid value for field customFields.lifetime_value",
            ),
            (
                json!({"field": "customFields.joined", "operator": "range", "value": {"gt": "soon"}}),
                "Invalid value for gt in range filter on customFields.joined",
            ),
            (
                json!({"field": "customFields.joined", "operator": "eq"}),
                "A value is required for operator eq",
            ),
        ] {
            assert_eq!(
                search(&mut s, json!({"filters": [f]}), now).unwrap_err(),
                Error::BadRequest(msg.into())
            );
        }
    }

    #[test]
    fn tag_filters_match_contacts_with_many_tags() {
        let mut s = store(Duration::ZERO);
        let now = Now::system();
        let many: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        let a = upsert(&mut s, json!({"email": "many@x.io", "tags": many}), now);
        let b = upsert(&mut s, json!({"email": "few@x.io", "tags": ["t9"]}), now);
        let f = |tag: &str| json!({"filters": [{"field": "tags", "operator": "eq", "value": tag}]});
        let mut hits = ids(&search(&mut s, f("T9"), now).unwrap());
        hits.sort();
        let mut want = vec![a.clone(), b];
        want.sort();
        assert_eq!(hits, want);
        assert_eq!(ids(&search(&mut s, f("t0"), now).unwrap()), [a]);
        assert_eq!(search(&mut s, f("nope"), now).unwrap().total, 0);
    }

    #[test]
    fn posting_lists_and_the_index_order_agree_with_a_full_scan() {
        let mut s = store(Duration::ZERO);
        let t0 = Now::system();
        for i in 0..30_u64 {
            let tags = match i % 3 {
                0 => json!(["a"]),
                1 => json!(["b", "a"]),
                _ => json!(["c"]),
            };
            let city = if i % 2 == 0 { "Paris" } else { "Rome" };
            // Three contacts per second: ties in dateAdded are broken by id.
            upsert(
                &mut s,
                json!({"email": format!("p{i}@x.io"), "tags": tags, "city": city}),
                at(t0, i / 3),
            );
        }
        let all = s.contacts(LOC).unwrap();
        let expect = |keep: &dyn Fn(&crate::contact::ContactView) -> bool, newest: bool| {
            let mut v: Vec<(String, String)> = all
                .iter()
                .filter(|c| keep(c))
                .map(|c| (c.date_added.clone(), c.id.clone()))
                .collect();
            v.sort_by(|a, b| {
                let by_date = if newest { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) };
                by_date.then_with(|| a.1.cmp(&b.1))
            });
            v.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
        };
        let later = at(t0, 20);
        let has = |c: &crate::contact::ContactView, t: &str| c.tags.iter().any(|x| x == t);
        let tag_a = json!({"field": "tags", "operator": "eq", "value": "a"});
        let f = json!({"filters": [tag_a]});
        assert_eq!(
            ids(&search(&mut s, f, later).unwrap()),
            expect(&|c| has(c, "a"), true)
        );
        let f = json!({"filters": [
            {"field": "tags", "operator": "eq", "value": ["b", "c"]},
            {"field": "city", "operator": "eq", "value": "paris"}]});
        let p = search(&mut s, f, later).unwrap();
        let want = expect(
            &|c| (has(c, "b") || has(c, "c")) && c.city.as_deref() == Some("Paris"),
            true,
        );
        assert_eq!((ids(&p), p.total), (want.clone(), want.len()));
        let f = json!({"filters": [{"field": "email", "operator": "eq", "value": "P7@x.io"}]});
        assert_eq!(
            search(&mut s, f, later).unwrap().contacts[0]
                .email
                .as_deref(),
            Some("p7@x.io")
        );
        // Cursor paging, in the index's order and against it.
        for (dir, newest) in [("desc", true), ("asc", false)] {
            let mut seen = Vec::new();
            let mut after: Option<Value> = None;
            loop {
                let mut body = json!({"pageLimit": 4, "filters": [tag_a],
                    "sort": [{"field": "dateAdded", "direction": dir}]});
                if let Some(a) = &after {
                    body["searchAfter"] = a.clone();
                }
                let p = search(&mut s, body, later).unwrap();
                let Some(last) = p.contacts.last() else { break };
                after = last.search_after.clone().map(Value::from);
                seen.extend(ids(&p));
            }
            assert_eq!(seen, expect(&|c| has(c, "a"), newest), "{dir}");
        }
        // Pages past the end are empty, with the total still counted.
        let p = search(
            &mut s,
            json!({"pageLimit": 10, "page": 9, "filters": [tag_a]}),
            later,
        )
        .unwrap();
        assert_eq!((p.contacts.len(), p.total), (0, 20));
    }

    #[test]
    fn search_after_pages_through_everything_in_sort_order() {
        let mut s = store(Duration::ZERO);
        let t0 = Now::system();
        let mut all = Vec::new();
        for i in 0..25 {
            all.push(upsert(
                &mut s,
                json!({"email": format!("p{i:02}@x.io")}),
                at(t0, i),
            ));
        }
        let sort = json!([{"field": "dateAdded", "direction": "asc"}]);
        let mut seen = Vec::new();
        let mut after: Option<Value> = None;
        loop {
            let mut body = json!({"pageLimit": 10, "sort": sort});
            if let Some(a) = &after {
                body["searchAfter"] = a.clone();
            }
            let p = search(&mut s, body, at(t0, 30)).unwrap();
            assert_eq!(p.total, 25);
            if p.contacts.is_empty() {
                break;
            }
            after = p
                .contacts
                .last()
                .and_then(|c| c.search_after.clone())
                .map(Value::from);
            seen.extend(ids(&p));
        }
        assert_eq!(seen, all);
        // Page mode, newest first by default.
        let p = search(&mut s, json!({"pageLimit": 10, "page": 3}), at(t0, 30)).unwrap();
        assert_eq!(ids(&p), all[..5].iter().rev().cloned().collect::<Vec<_>>());
        let e = search(&mut s, json!({"pageLimit": 500, "page": 21}), t0).unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        let e = search(&mut s, json!({"page": 1, "searchAfter": [1, "x"]}), t0).unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
    }

    #[test]
    fn search_body_shape_errors_are_422() {
        let e = search_body(br#"{"pageLimit": 501, "foo": 1, "page": 0}"#).unwrap_err();
        let Error::Validation(mut m) = e else {
            panic!("{e:?}")
        };
        m.sort();
        assert_eq!(
            m,
            [
                "locationId should not be empty",
                "page must not be less than 1",
                "pageLimit must not be greater than 500",
                "property foo should not exist"
            ]
        );
    }

    #[test]
    fn the_deprecated_list_pages_by_start_after() {
        let mut s = store(Duration::ZERO);
        let t0 = Now::system();
        for i in 0..7 {
            upsert(&mut s, json!({"email": format!("l{i}@x.io")}), at(t0, i));
        }
        let mut q = ListQuery {
            location_id: LOC.into(),
            limit: 3,
            ..ListQuery::default()
        };
        let mut seen = Vec::new();
        let mut pages = Vec::new();
        loop {
            let p = s.list_contacts(LOC, &q, t0).unwrap();
            assert_eq!(p.total, 7);
            pages.push((p.current_page, p.has_more));
            seen.extend(
                p.contacts
                    .iter()
                    .map(|c| c.email.clone().unwrap_or_default()),
            );
            let Some((at, id)) = p.cursor else { break };
            if !p.has_more {
                break;
            }
            q.start_after = Some(at);
            q.start_after_id = Some(id);
        }
        assert_eq!(
            seen,
            [
                "l6@x.io", "l5@x.io", "l4@x.io", "l3@x.io", "l2@x.io", "l1@x.io", "l0@x.io"
            ]
        );
        assert_eq!(pages, [(1, true), (2, true), (3, false)]);
    }
}
