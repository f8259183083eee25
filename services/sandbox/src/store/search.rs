//! The search side: a per-location index that receives contact writes after the configured lag
//! (GHL: updates "may take a few seconds to appear in search results"), and the semantics of
//! `POST /contacts/search` (filters, groups, sort, `page`/`searchAfter` paging, free text), the
//! deprecated `GET /contacts/` (keyset paging by `startAfter`/`startAfterId`) and
//! `GET /contacts/business/{id}` (offset paging), all of which read the index.
//!
//! The search body is not in GHL's OpenAPI file; the field and operator lists follow GHL's
//! external search document as reproduced in `contacts-endpoints.md` §3. Shape errors of the
//! body (types, required fields, unknown properties) are 422 with a message array, like every
//! other DTO; semantic errors in filters and sort are 400 with a string message, as observed
//! (`"Invalid field additional_phones"`, issue #289).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Now, Store};
use crate::contact::{Contact, SearchContactView};
use crate::error::{Error, Result};

/// Page mode reaches at most this many records; beyond, `searchAfter` is needed.
pub(crate) const MAX_PAGED_RESULTS: usize = 10_000;
/// Largest `pageLimit`.
pub(crate) const MAX_PAGE_LIMIT: usize = 500;
/// Longest filter value and free-text query.
const MAX_VALUE_CHARS: usize = 75;

/// A contact as the index holds it: a snapshot plus its searchable text, lower-cased once
/// when written.
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
    /// Hashes of the first tags, inline so a tag filter rarely leaves the document.
    tag_hashes: [u64; INLINE_TAGS],
}

/// How many tag hashes a document keeps inline; contacts with more are checked by name.
const INLINE_TAGS: usize = 6;

fn tag_hash(tag: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tag.hash(&mut h);
    // 0 marks an empty slot.
    h.finish() | 1
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
            tag_hashes: {
                let mut h = [0; INLINE_TAGS];
                for (slot, tag) in h.iter_mut().zip(&contact.tags) {
                    *slot = tag_hash(tag);
                }
                h
            },
            contact,
        }
    }

    fn id(&self) -> &str {
        &self.contact.id
    }
}

/// Every searchable document of a location at one moment, shared so that searches run
/// outside the store's lock.
pub(crate) type Snapshot = Arc<Vec<Arc<Doc>>>;

/// The search documents of one location, and the writes still on their way to it.
#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    docs: HashMap<String, Arc<Doc>>,
    /// The documents as one list, rebuilt after a change when a search asks for it.
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
        match doc {
            Some(c) => {
                self.docs.insert(id, Arc::new(Doc::new(c)));
            }
            None => {
                self.docs.remove(&id);
            }
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
        self.snapshot
            .get_or_insert_with(|| Arc::new(self.docs.values().cloned().collect()))
            .clone()
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
        /// `tag_hash` of each value.
        hashes: Vec<u64>,
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
    let field = Field::parse(name).ok_or_else(|| bad(format!("Invalid field {name}")))?;
    let op_name = obj
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
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
        Kind::List => {
            let values: Vec<String> = values.iter().map(|v| v.trim().to_lowercase()).collect();
            Filter::List {
                field,
                negate,
                hashes: values.iter().map(|v| tag_hash(v)).collect(),
                values,
            }
        }
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
                hashes,
            } => {
                let hit = if *field == Field::Tags && c.contact.tags.len() <= INLINE_TAGS {
                    // Compare hashes first; confirm by name only on a hash match.
                    values
                        .iter()
                        .zip(hashes)
                        .any(|(v, h)| c.tag_hashes.contains(h) && c.contact.tags.contains(v))
                } else {
                    let list = field.list(c);
                    values.iter().any(|v| list.contains(v))
                };
                hit != *negate
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

    /// Runs the search over `docs`.
    pub(crate) fn run(&self, docs: &[Arc<Doc>]) -> SearchPage {
        let keys = &self.keys;
        let mut hits: Vec<&Doc> = docs
            .iter()
            .map(|d| &**d)
            .filter(|d| self.filters.iter().all(|f| f.matches(d)))
            .filter(|d| self.text.as_ref().is_none_or(|q| q.matches(d)))
            .collect();
        let total = hits.len();
        // Sort values are borrowed from the documents, so comparing computes them on the fly.
        let order = |a: &&Doc, b: &&Doc| cmp_docs(a, b, keys);
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
        // Only the first `end` positions matter: select them, then sort those.
        let end = start.saturating_add(self.req.page_limit);
        if hits.len() > end {
            hits.select_nth_unstable_by(end, order);
            hits.truncate(end);
        }
        hits.sort_unstable_by(order);
        let contacts = hits
            .iter()
            .skip(start)
            .map(|d| {
                let mut cursor: Vec<Value> =
                    keys.iter().map(|k| k.field.key(d).to_value()).collect();
                cursor.push(Value::String(d.id().to_owned()));
                d.contact.search_view(Some(cursor))
            })
            .collect();
        SearchPage { total, contacts }
    }
}

/// One page of search results.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SearchPage {
    /// Every match, not only this page's.
    pub(crate) total: usize,
    /// This page.
    pub(crate) contacts: Vec<SearchContactView>,
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

    /// The documents a search by `caller` in `location_id` runs over (403 for another
    /// location), with every write visible at `now` applied.
    pub(crate) fn search_docs(
        &mut self,
        caller: &str,
        location_id: &str,
        now: Now,
    ) -> Result<Snapshot> {
        let location = self.caller_location_mut(caller, location_id)?;
        location.index.refresh(now.at);
        Ok(location.index.snapshot())
    }

    /// `POST /contacts/search` in one step (the route runs the search outside the lock).
    #[cfg(test)]
    pub(crate) fn search(
        &mut self,
        caller: &str,
        req: &SearchRequest,
        now: Now,
    ) -> Result<SearchPage> {
        let search = CompiledSearch::new(req)?;
        let docs = self.search_docs(caller, &req.location_id, now)?;
        Ok(search.run(&docs))
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

    fn search(s: &mut Store, body: Value, now: Now) -> Result<SearchPage> {
        let mut body = body;
        body["locationId"] = json!(LOC);
        if body.get("pageLimit").is_none() {
            body["pageLimit"] = json!(100);
        }
        let req = search_body(body.to_string().as_bytes())?;
        s.search(LOC, &req, now)
    }

    fn ids(p: &SearchPage) -> Vec<String> {
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
        let q = |s: &mut Store, f: Value| {
            let mut v = ids(&search(s, json!({"filters": f}), now).unwrap());
            v.sort();
            v
        };
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
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
    fn tag_filters_work_past_the_inline_hashes() {
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
