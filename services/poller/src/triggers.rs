//! The triggers: what each polls and how it decides what changed.
//!
//! Done: `get_contact`, `search_contacts`, `contact_tasks`, `contact_notes`. The others are
//! refused at config validation until they are implemented (see [`Params::parse`]).
//!
//! - **Fingerprinted items** (a contact by id, a contact's tasks and notes): every poll reads
//!   the full list; an item is `created` the first time it is seen, `updated` when its
//!   content fingerprint changes (`completed` when a task's `completed` turned true), and
//!   `deleted` when it is gone (404 for a contact). Versions are `<seq>-<fingerprint>`.
//! - **Search** (`search_contacts`): `dateUpdated >= cursor - overlap`, sorted by
//!   `dateUpdated` ascending, paged with `searchAfter`. The overlap re-reads the last minutes
//!   on every poll, because search lags writes by seconds; the `dateUpdated` of each contact
//!   seen in that window is kept, so a re-read emits nothing. Versions are `dateUpdated`;
//!   `created` when `dateAdded == dateUpdated` on first sight.

use std::time::Duration;

use relay_contracts::{Change, TriggerKind};
use relay_ghl::types::{FilterOperator, GroupOperator, MAX_SEARCH_PAGE_LIMIT, Range, SearchFilter};
use serde_json::{Map, Value};

/// Where a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// Only changes after the watch first ran: the first poll records what exists.
    Now,
    /// Everything that exists is reported on the first poll.
    All,
}

/// A watch's parameters, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub since: Since,
    pub trigger: TriggerParams,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TriggerParams {
    GetContact {
        contact_id: String,
    },
    SearchContacts {
        filters: Vec<SearchFilter>,
        query: Option<String>,
        page_limit: u32,
        overlap: Duration,
    },
    ContactTasks {
        contact_id: String,
    },
    ContactNotes {
        contact_id: String,
    },
}

/// Default re-read window of `search_contacts` (GHL: search lags "a few seconds").
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(120);
const DEFAULT_PAGE_LIMIT: u32 = 100;

impl Params {
    /// Checks `params` for `trigger`; the error names the parameter.
    pub fn parse(trigger: TriggerKind, params: &Map<String, Value>) -> Result<Params, String> {
        let known: &[&str] = match trigger {
            TriggerKind::GetContact | TriggerKind::ContactTasks | TriggerKind::ContactNotes => {
                &["since", "contact_id"]
            }
            TriggerKind::SearchContacts => &["since", "filters", "query", "page_limit", "overlap"],
            other => return Err(format!("trigger {other} is not implemented yet")),
        };
        if let Some(k) = params.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "unknown parameter {k} for trigger {trigger} (known: {known:?})"
            ));
        }
        let since = match params.get("since").map(|v| v.as_str()) {
            None | Some(Some("now")) => Since::Now,
            Some(Some("all")) => Since::All,
            _ => return Err("since: must be \"now\" or \"all\"".into()),
        };
        let contact_id = || -> Result<String, String> {
            match params.get("contact_id").and_then(Value::as_str) {
                Some(id) if !id.trim().is_empty() => Ok(id.to_owned()),
                _ => Err(format!("contact_id: required by trigger {trigger}")),
            }
        };
        let trigger = match trigger {
            TriggerKind::GetContact => TriggerParams::GetContact {
                contact_id: contact_id()?,
            },
            TriggerKind::ContactTasks => TriggerParams::ContactTasks {
                contact_id: contact_id()?,
            },
            TriggerKind::ContactNotes => TriggerParams::ContactNotes {
                contact_id: contact_id()?,
            },
            _ => {
                let filters = match params.get("filters") {
                    None => Vec::new(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(filter)
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("filters: {e}"))?,
                    Some(_) => return Err("filters: must be a list of GHL search filters".into()),
                };
                let query = match params.get("query") {
                    None => None,
                    Some(Value::String(q)) if q.chars().count() <= 75 => Some(q.clone()),
                    Some(_) => return Err("query: must be text of at most 75 characters".into()),
                };
                let page_limit = match params.get("page_limit") {
                    None => DEFAULT_PAGE_LIMIT,
                    Some(v) => v
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|n| (1..=MAX_SEARCH_PAGE_LIMIT).contains(n))
                        .ok_or_else(|| {
                            format!("page_limit: must be 1 to {MAX_SEARCH_PAGE_LIMIT}")
                        })?,
                };
                let overlap = match params.get("overlap") {
                    None => DEFAULT_OVERLAP,
                    Some(Value::String(s)) => humantime_serde::re::humantime::parse_duration(s)
                        .map_err(|e| format!("overlap: {e}"))?,
                    Some(_) => return Err("overlap: must be a duration such as \"2m\"".into()),
                };
                TriggerParams::SearchContacts {
                    filters,
                    query,
                    page_limit,
                    overlap,
                }
            }
        };
        Ok(Params { since, trigger })
    }
}

/// A GHL search filter from config JSON: `{field, operator, value?}` or `{group, filters}`.
fn filter(v: &Value) -> Result<SearchFilter, String> {
    let obj = v.as_object().ok_or("each filter must be an object")?;
    if let Some(group) = obj.get("group") {
        let group = match group.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("AND") => GroupOperator::And,
            Some("OR") => GroupOperator::Or,
            _ => return Err("group must be AND or OR".into()),
        };
        let filters = obj
            .get("filters")
            .and_then(Value::as_array)
            .ok_or("a group needs filters")?
            .iter()
            .map(filter)
            .collect::<Result<_, _>>()?;
        return Ok(SearchFilter::Group { group, filters });
    }
    let field = obj
        .get("field")
        .and_then(Value::as_str)
        .ok_or("a filter needs a field")?;
    if field == "dateUpdated" {
        return Err("dateUpdated is the poller's cursor; filter on other fields".into());
    }
    let operator = match obj.get("operator").and_then(Value::as_str) {
        Some("eq") => FilterOperator::Eq,
        Some("not_eq") => FilterOperator::NotEq,
        Some("contains") => FilterOperator::Contains,
        Some("not_contains") => FilterOperator::NotContains,
        Some("exists") => FilterOperator::Exists,
        Some("not_exists") => FilterOperator::NotExists,
        Some("range") => FilterOperator::Range,
        _ => return Err(format!("filter on {field}: unknown operator")),
    };
    Ok(SearchFilter::Condition {
        field: field.to_owned(),
        operator,
        value: obj.get("value").cloned(),
    })
}

/// The search window's filter: `dateUpdated >= from`.
pub(crate) fn window(from: &str) -> SearchFilter {
    SearchFilter::date_updated(Range::since(from))
}

/// What a poll found about one item.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) change: Change,
    pub(crate) item_id: String,
    pub(crate) version: String,
    pub(crate) item: Value,
}

/// Compares a full list with what was seen: creates, changes, completions and deletions.
/// Updates `items`; returns the changes in list order, deletions last.
pub(crate) fn diff_list(
    items: &mut std::collections::BTreeMap<String, crate::state::Seen>,
    current: Vec<(String, Value)>,
) -> Vec<Found> {
    let mut out = Vec::new();
    let mut present = std::collections::BTreeSet::new();
    for (id, item) in current {
        present.insert(id.clone());
        let fp = crate::state::fingerprint(&item);
        let completed = item.get("completed").and_then(Value::as_bool) == Some(true);
        let prev = items.get(&id);
        let change = match prev {
            None => Change::Created,
            Some(s) if s.deleted => Change::Created,
            Some(s) if s.version.ends_with(&format!("-{fp}")) => continue,
            Some(s) if completed && !s.completed => Change::Completed,
            Some(_) => Change::Updated,
        };
        let seq = prev.map_or(0, |s| s.seq) + 1;
        let version = format!("{seq}-{fp}");
        items.insert(
            id.clone(),
            crate::state::Seen {
                version: version.clone(),
                seq,
                completed,
                deleted: false,
            },
        );
        out.push(Found {
            change,
            item_id: id,
            version,
            item,
        });
    }
    for (id, seen) in items.iter_mut() {
        if seen.deleted || present.contains(id) {
            continue;
        }
        seen.seq += 1;
        seen.deleted = true;
        seen.version = format!("{}-deleted", seen.seq);
        out.push(Found {
            change: Change::Deleted,
            item_id: id.clone(),
            version: seen.version.clone(),
            item: serde_json::json!({ "id": id }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn params_are_checked_per_trigger() {
        let p = Params::parse(
            TriggerKind::ContactTasks,
            &params(json!({"contact_id": "c"})),
        );
        assert_eq!(p.unwrap().since, Since::Now);
        assert!(
            Params::parse(TriggerKind::ContactTasks, &Map::new())
                .unwrap_err()
                .contains("contact_id")
        );
        assert!(
            Params::parse(
                TriggerKind::GetContact,
                &params(json!({"contact_id": "c", "x": 1}))
            )
            .unwrap_err()
            .contains("unknown parameter x")
        );
        assert!(
            Params::parse(TriggerKind::ContactAppointments, &Map::new())
                .unwrap_err()
                .contains("not implemented")
        );
        let s = Params::parse(
            TriggerKind::SearchContacts,
            &params(json!({"since": "all", "page_limit": 50, "overlap": "30s",
                "filters": [{"field": "tags", "operator": "eq", "value": "vip"},
                            {"group": "or", "filters": [{"field": "email", "operator": "exists"}]}]})),
        )
        .unwrap();
        assert_eq!(s.since, Since::All);
        let TriggerParams::SearchContacts {
            filters,
            page_limit,
            overlap,
            ..
        } = s.trigger
        else {
            panic!("search")
        };
        assert_eq!(
            (filters.len(), page_limit, overlap),
            (2, 50, Duration::from_secs(30))
        );
        assert!(
            Params::parse(
                TriggerKind::SearchContacts,
                &params(json!({"page_limit": 501}))
            )
            .is_err()
        );
        assert!(
            Params::parse(
                TriggerKind::SearchContacts,
                &params(json!({"filters": [{"field": "dateUpdated", "operator": "exists"}]}))
            )
            .is_err()
        );
    }

    #[test]
    fn lists_report_creates_changes_completions_and_deletions_once() {
        let mut seen = BTreeMap::new();
        let a = json!({"id": "a", "title": "A", "completed": false});
        let b = json!({"id": "b", "title": "B", "completed": false});
        let changes = |f: Vec<Found>| {
            f.into_iter()
                .map(|f| (f.item_id, f.change))
                .collect::<Vec<_>>()
        };
        let first = diff_list(
            &mut seen,
            vec![("a".into(), a.clone()), ("b".into(), b.clone())],
        );
        assert_eq!(
            changes(first),
            [("a".into(), Change::Created), ("b".into(), Change::Created)]
        );
        assert!(
            diff_list(
                &mut seen,
                vec![("a".into(), a.clone()), ("b".into(), b.clone())]
            )
            .is_empty()
        );
        let a2 = json!({"id": "a", "title": "A", "completed": true});
        let b2 = json!({"id": "b", "title": "B2", "completed": false});
        let second = diff_list(&mut seen, vec![("a".into(), a2.clone()), ("b".into(), b2)]);
        assert_eq!(
            changes(second),
            [
                ("a".into(), Change::Completed),
                ("b".into(), Change::Updated)
            ]
        );
        let third = diff_list(&mut seen, vec![("a".into(), a2.clone())]);
        assert_eq!(changes(third), [("b".into(), Change::Deleted)]);
        assert!(diff_list(&mut seen, vec![("a".into(), a2)]).is_empty());
        // Back to the earlier content: a new version (not a duplicate of the first one).
        let back = diff_list(&mut seen, vec![("a".into(), a)]);
        assert_eq!(back.len(), 1);
        assert!(back[0].version.starts_with("3-"), "{}", back[0].version);
    }
}
