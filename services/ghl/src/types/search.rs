//! Listing contacts: `POST /contacts/search` (body builder, filters, sort, `searchAfter`
//! cursor), the deprecated `GET /contacts/` and `GET /contacts/business/{businessId}`.
//!
//! The spec leaves the search body empty (`SearchBodyV2DTO`); its fields come from GHL's
//! external search document (reference `contacts-endpoints.md` §3).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::contact::CustomFieldValue;

/// Largest `pageLimit` GHL accepts.
pub const MAX_SEARCH_PAGE_LIMIT: u32 = 500;
/// Largest `limit` of the deprecated `GET /contacts/`.
pub const MAX_LIST_LIMIT: u32 = 100;
/// `limit` of the deprecated `GET /contacts/` when unset.
const DEFAULT_LIST_LIMIT: u32 = 20;

/// A filter operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOperator {
    Eq,
    NotEq,
    Contains,
    NotContains,
    Exists,
    NotExists,
    /// Dates (and numeric custom fields): a [`Range`] value.
    Range,
}

/// How a group combines its filters (top-level filters are ANDed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupOperator {
    And,
    Or,
}

/// The bounds of a `range` filter: ISO 8601 timestamps for date fields (or numbers for
/// numeric custom fields). Unset bounds are omitted.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Range {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gt: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gte: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lt: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lte: Option<Value>,
}

impl Range {
    /// `>= from` (inclusive), the shape of a poller's overlapping window.
    pub fn since(from: impl Into<Value>) -> Self {
        Self {
            gte: Some(from.into()),
            ..Self::default()
        }
    }

    /// `>= from` and `< until`.
    pub fn between(from: impl Into<Value>, until: impl Into<Value>) -> Self {
        Self {
            gte: Some(from.into()),
            lt: Some(until.into()),
            ..Self::default()
        }
    }
}

/// One search filter `{field, operator, value?}`, or a group `{group, filters}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SearchFilter {
    Condition {
        field: String,
        operator: FilterOperator,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
    Group {
        group: GroupOperator,
        filters: Vec<SearchFilter>,
    },
}

impl SearchFilter {
    /// `{field, operator, value}`.
    pub fn condition(field: impl Into<String>, operator: FilterOperator, value: Value) -> Self {
        Self::Condition {
            field: field.into(),
            operator,
            value: Some(value),
        }
    }

    /// `field eq value`.
    pub fn eq(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::condition(field, FilterOperator::Eq, value.into())
    }

    /// `field exists` (no value).
    pub fn exists(field: impl Into<String>) -> Self {
        Self::Condition {
            field: field.into(),
            operator: FilterOperator::Exists,
            value: None,
        }
    }

    /// `field not_exists` (no value).
    pub fn not_exists(field: impl Into<String>) -> Self {
        Self::Condition {
            field: field.into(),
            operator: FilterOperator::NotExists,
            value: None,
        }
    }

    /// `field range {gt, gte, lt, lte}`.
    pub fn range(field: impl Into<String>, range: Range) -> Self {
        let value = serde_json::to_value(range).unwrap_or(Value::Null);
        Self::condition(field, FilterOperator::Range, value)
    }

    /// `email eq`: GHL compares case-insensitively.
    pub fn email(email: impl Into<String>) -> Self {
        Self::eq("email", email.into())
    }

    /// `phone eq` (E.164). Integrators report exact phone search missing contacts on GHL; the
    /// duplicate search (`number`) is the reliable phone lookup.
    pub fn phone(phone: impl Into<String>) -> Self {
        Self::eq("phone", phone.into())
    }

    /// `tags eq tag`: contacts carrying the tag.
    pub fn tag(tag: impl Into<String>) -> Self {
        Self::eq("tags", tag.into())
    }

    /// `tags eq [..]`: contacts carrying any of the tags.
    pub fn any_tag<I, S>(tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags: Vec<Value> = tags.into_iter().map(|t| Value::String(t.into())).collect();
        Self::condition("tags", FilterOperator::Eq, Value::Array(tags))
    }

    /// `dateUpdated range`: what a poller pages through.
    pub fn date_updated(range: Range) -> Self {
        Self::range("dateUpdated", range)
    }

    /// `dateAdded range`.
    pub fn date_added(range: Range) -> Self {
        Self::range("dateAdded", range)
    }

    /// `customFields.<id or fieldKey> eq value`.
    pub fn custom_field(id_or_key: &str, value: impl Into<Value>) -> Self {
        Self::eq(format!("customFields.{id_or_key}"), value)
    }

    /// All of `filters`.
    pub fn all(filters: Vec<SearchFilter>) -> Self {
        Self::Group {
            group: GroupOperator::And,
            filters,
        }
    }

    /// Any of `filters`.
    pub fn any(filters: Vec<SearchFilter>) -> Self {
        Self::Group {
            group: GroupOperator::Or,
            filters,
        }
    }
}

/// The fields search results can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SortField {
    #[serde(rename = "email")]
    Email,
    #[serde(rename = "dnd")]
    Dnd,
    #[serde(rename = "source")]
    Source,
    #[serde(rename = "firstNameLowerCase")]
    FirstNameLowerCase,
    #[serde(rename = "lastNameLowerCase")]
    LastNameLowerCase,
    #[serde(rename = "dateAdded")]
    DateAdded,
    #[serde(rename = "dateUpdated")]
    DateUpdated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SortDirection {
    Asc,
    Desc,
}

/// `{field, direction}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SearchSort {
    pub field: SortField,
    pub direction: SortDirection,
}

impl SearchSort {
    pub fn asc(field: SortField) -> Self {
        Self {
            field,
            direction: SortDirection::Asc,
        }
    }

    pub fn desc(field: SortField) -> Self {
        Self {
            field,
            direction: SortDirection::Desc,
        }
    }
}

/// The `POST /contacts/search` body. `page` paging reaches the first 10,000 records; past
/// that, page with [`SearchContacts::search_after`] (the last result's cursor) and keep the
/// same sort on every page.
///
/// ```
/// use relay_ghl::types::{Range, SearchContacts, SearchFilter, SearchSort, SortField};
/// let body = SearchContacts::new("loc", 100)
///     .filter(SearchFilter::date_updated(Range::since("2026-01-01T00:00:00Z")))
///     .sort(SearchSort::asc(SortField::DateUpdated));
/// # let _ = body;
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchContacts {
    pub location_id: String,
    /// 1 to [`MAX_SEARCH_PAGE_LIMIT`].
    pub page_limit: u32,
    /// 1-based; not with `search_after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// The `searchAfter` of the previous page's last contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_after: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<SearchFilter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<SearchSort>,
    /// Free text (at most 75 characters) over the searchable fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

impl SearchContacts {
    pub fn new(location_id: impl Into<String>, page_limit: u32) -> Self {
        Self {
            location_id: location_id.into(),
            page_limit,
            page: None,
            search_after: None,
            filters: Vec::new(),
            sort: Vec::new(),
            query: None,
        }
    }

    /// Adds a filter (top-level filters are ANDed).
    #[must_use]
    pub fn filter(mut self, filter: SearchFilter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Adds a sort key.
    #[must_use]
    pub fn sort(mut self, sort: SearchSort) -> Self {
        self.sort.push(sort);
        self
    }

    /// Page number paging (clears the cursor).
    #[must_use]
    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self.search_after = None;
        self
    }

    /// Cursor paging (clears the page number).
    #[must_use]
    pub fn search_after(mut self, cursor: Vec<Value>) -> Self {
        self.search_after = Some(cursor);
        self.page = None;
        self
    }

    #[must_use]
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }
}

/// A contact in search results, the deprecated list and contacts by business
/// (`ContactsSearchSchema` and what GHL returns beyond it). Search results omit some fields
/// a get returns (e.g. `dndSettings`): fetch the contact when they matter.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedContact {
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
    pub contact_name: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(default)]
    pub business_id: Option<String>,
    #[serde(default)]
    pub followers: Vec<String>,
    #[serde(default)]
    pub date_added: Option<String>,
    #[serde(default)]
    pub date_updated: Option<String>,
    /// Search results only: this contact's cursor (its sort values, then its id).
    #[serde(default)]
    pub search_after: Option<Vec<Value>>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// `POST /contacts/search` answer: `{contacts, total, traceId}` (not schematised in the spec).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchContactsResponse {
    #[serde(default)]
    pub contacts: Vec<ListedContact>,
    /// Matches in all pages.
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub trace_id: Option<String>,
}

impl SearchContactsResponse {
    /// The cursor of the next page: the last contact's `searchAfter`; `None` on an empty page.
    pub fn next_cursor(&self) -> Option<Vec<Value>> {
        self.contacts.last().and_then(|c| c.search_after.clone())
    }
}

/// Query of the deprecated `GET /contacts/`: newest first, keyset paging by the previous
/// page's `meta.startAfter`/`meta.startAfterId`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListContacts {
    pub location_id: String,
    /// 1 to [`MAX_LIST_LIMIT`] (GHL's default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Epoch milliseconds, from `meta.startAfter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_after: Option<i64>,
    /// From `meta.startAfterId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_after_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

impl ListContacts {
    /// The query of the page after `page`, or `None` when `page` was the last one: it was
    /// empty, carried no cursor, or was short and `meta` names no next page.
    pub fn next(&self, page: &ContactListResponse) -> Option<Self> {
        let meta = page.meta.as_ref()?;
        let (at, id) = (meta.start_after?, meta.start_after_id.clone()?);
        let limit = self.limit.unwrap_or(DEFAULT_LIST_LIMIT) as usize;
        let announced = meta.next_page.is_some() || meta.next_page_url.is_some();
        if page.contacts.is_empty() || (!announced && page.contacts.len() < limit) {
            return None;
        }
        Some(Self {
            start_after: Some(at),
            start_after_id: Some(id),
            ..self.clone()
        })
    }
}

/// Query of `GET /contacts/business/{businessId}` (offset paging; GHL types `limit` and
/// `skip` as strings, default 25 and 0).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessContacts {
    pub location_id: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "number_as_string"
    )]
    pub limit: Option<u32>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "number_as_string"
    )]
    pub skip: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

fn number_as_string<S: serde::Serializer>(n: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match n {
        Some(n) => s.serialize_str(&n.to_string()),
        None => s.serialize_none(),
    }
}

/// `ContactsMetaSchema`: the deprecated list's paging state.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactsMeta {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total: Option<u64>,
    #[serde(default)]
    pub next_page_url: Option<String>,
    #[serde(default)]
    pub start_after_id: Option<String>,
    /// Epoch milliseconds.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub start_after: Option<i64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub current_page: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub next_page: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub prev_page: Option<u64>,
}

/// `ContactsSearchSuccessfulResponseDto`: the deprecated list (with `meta`) and contacts by
/// business (without).
#[derive(Clone, Debug, Deserialize)]
pub struct ContactListResponse {
    #[serde(default)]
    pub contacts: Vec<ListedContact>,
    /// Matches in all pages.
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub meta: Option<ContactsMeta>,
}

/// A whole number sent as a JSON integer, a float or a numeric string.
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let from_float = |f: f64| (f.is_finite() && f.fract() == 0.0).then_some(f as i64);
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().and_then(from_float)),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .ok()
            .or_else(|| s.trim().parse().ok().and_then(from_float)),
        _ => None,
    })
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(lenient_i64(d)?.and_then(|n| u64::try_from(n).ok()))
}
