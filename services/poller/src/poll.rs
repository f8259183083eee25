//! One poll of one watch: read GHL, publish what changed, then move the cursor.

use std::sync::Arc;

use async_nats::jetstream::kv;
use relay_common::nats::Nats;
use relay_contracts::version::V1;
use relay_contracts::{Change, Token, TriggerEvent};
use relay_ghl::types::{SearchContacts, SearchSort, SortDirection, SortField};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::WatchConfig;
use crate::error::PollError;
use crate::ghl::Ghl;
use crate::state::{self, Seen, Stored};
use crate::triggers::{Found, Params, Since, TriggerParams, diff_list, window};

/// A watch, ready to poll.
pub(crate) struct Watch {
    pub(crate) cfg: WatchConfig,
    pub(crate) params: Params,
    /// Fingerprint of trigger + params (a changed watch starts over).
    pub(crate) params_fp: String,
}

impl Watch {
    pub(crate) fn new(cfg: WatchConfig) -> Result<Self, String> {
        let params = Params::parse(cfg.trigger, &cfg.params)?;
        let params_fp = state::fingerprint(&serde_json::json!({
            "trigger": cfg.trigger,
            "params": cfg.params,
        }));
        Ok(Self {
            cfg,
            params,
            params_fp,
        })
    }
}

/// What a poll needs.
pub(crate) struct Poller {
    pub(crate) nats: Nats,
    pub(crate) ghl: Ghl,
    pub(crate) store: kv::Store,
}

/// One poll in progress: the state as read, and the watch's events published so far.
struct Run<'a> {
    poller: &'a Poller,
    watch: &'a Watch,
    stored: Stored,
    emitted: u64,
}

impl Poller {
    /// Polls `watch` once; returns the number of events published.
    pub(crate) async fn poll(self: &Arc<Self>, watch: &Watch) -> Result<u64, PollError> {
        let mut stored = state::load(&self.store, &watch.cfg.id).await?;
        if stored.state.params != watch.params_fp {
            if !stored.state.params.is_empty() {
                tracing::info!(watch = %watch.cfg.id, "watch parameters changed; starting over");
            }
            stored.state = state::WatchState {
                params: watch.params_fp.clone(),
                ..Default::default()
            };
        }
        let mut run = Run {
            poller: self,
            watch,
            stored,
            emitted: 0,
        };
        // The first poll of a `since = now` watch records what exists without reporting it.
        let emit = run.stored.state.initialized || watch.params.since == Since::All;
        match &watch.params.trigger {
            TriggerParams::GetContact { contact_id } => run.get_contact(contact_id, emit).await?,
            TriggerParams::ContactTasks { contact_id } => {
                run.list(contact_id, "tasks", emit).await?;
            }
            TriggerParams::ContactNotes { contact_id } => {
                run.list(contact_id, "notes", emit).await?;
            }
            TriggerParams::SearchContacts { .. } => run.search(emit).await?,
        }
        run.stored.state.initialized = true;
        run.stored.state.last_poll = Some(OffsetDateTime::now_utc());
        run.stored.save(&self.store, &watch.cfg.id).await?;
        Ok(run.emitted)
    }

    /// When the watch was last polled (to keep its rhythm across restarts and hand-overs).
    pub(crate) async fn last_poll(&self, watch: &Token) -> Option<OffsetDateTime> {
        state::load(&self.store, watch)
            .await
            .ok()
            .and_then(|s| s.state.last_poll)
    }
}

fn location(watch: &Watch) -> &Token {
    &watch.cfg.location
}

impl Run<'_> {
    /// Publishes the events of a page (waiting for every acknowledgement), then saves the
    /// state that includes them.
    async fn commit(&mut self, found: Vec<Found>, emit: bool) -> Result<(), PollError> {
        if emit && !found.is_empty() {
            let w = &self.watch.cfg;
            let subject = self.poller.nats.ns.trigger(&w.location, &w.trigger.token());
            let observed_at = OffsetDateTime::now_utc();
            let trace_id = relay_common::telemetry::current_trace_id();
            let mut pending = Vec::with_capacity(found.len());
            for f in found {
                let event = TriggerEvent {
                    v: V1,
                    watch_id: w.id.clone(),
                    location_id: w.location.clone(),
                    trigger: w.trigger,
                    change: f.change,
                    item_id: f.item_id,
                    item_version: f.version,
                    item: f.item,
                    observed_at,
                    trace_id: trace_id.clone(),
                };
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Content-Type", "application/json");
                let payload =
                    serde_json::to_vec(&event).map_err(|e| PollError::Nats(e.to_string()))?;
                let ack = self
                    .poller
                    .nats
                    .send(
                        subject.clone(),
                        Some(&event.msg_id()),
                        headers,
                        payload.into(),
                    )
                    .await
                    .map_err(|e| PollError::Nats(e.to_string()))?;
                pending.push((event.change, ack));
            }
            for (change, ack) in pending {
                let ack = ack.await.map_err(|e| PollError::Nats(e.to_string()))?;
                if !ack.duplicate {
                    self.emitted += 1;
                    metrics::counter!("relay_poller_events_total", "trigger" => w.trigger.as_str(), "change" => change.as_str()).increment(1);
                }
            }
        }
        self.stored
            .save(&self.poller.store, &self.watch.cfg.id)
            .await
    }

    async fn get_contact(&mut self, contact_id: &str, emit: bool) -> Result<(), PollError> {
        let id = contact_id.to_owned();
        let result = self
            .poller
            .ghl
            .call(location(self.watch), |c, t| {
                let id = id.clone();
                async move { c.get_contact_json(&t, &id).await }
            })
            .await;
        let items = &mut self.stored.state.items;
        let current = match result {
            Ok(resp) => {
                let contact = resp
                    .body
                    .get("contact")
                    .cloned()
                    .ok_or_else(|| PollError::Malformed("no contact in the answer".into()))?;
                vec![(contact_id.to_owned(), contact)]
            }
            Err(PollError::Ghl(e)) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        let found = diff_list(items, current);
        self.commit(found, emit).await
    }

    async fn list(
        &mut self,
        contact_id: &str,
        what: &'static str,
        emit: bool,
    ) -> Result<(), PollError> {
        let id = contact_id.to_owned();
        let result = self
            .poller
            .ghl
            .call(location(self.watch), |c, t| {
                let id = id.clone();
                async move {
                    if what == "tasks" {
                        c.list_tasks_json(&t, &id).await
                    } else {
                        c.list_notes_json(&t, &id).await
                    }
                }
            })
            .await;
        let body = match result {
            Ok(resp) => resp.body,
            // The contact is gone: so are its tasks and notes.
            Err(PollError::Ghl(e)) if e.is_not_found() => serde_json::json!({ what: [] }),
            Err(e) => return Err(e),
        };
        let list = body
            .get(what)
            .and_then(Value::as_array)
            .ok_or_else(|| PollError::Malformed(format!("no {what} list in the answer")))?;
        let current = list
            .iter()
            .filter_map(|item| {
                let id = item.get("id").and_then(Value::as_str)?;
                Some((id.to_owned(), item.clone()))
            })
            .collect();
        let found = diff_list(&mut self.stored.state.items, current);
        self.commit(found, emit).await
    }

    async fn search(&mut self, emit: bool) -> Result<(), PollError> {
        let TriggerParams::SearchContacts {
            filters,
            query,
            page_limit,
            overlap,
        } = &self.watch.params.trigger
        else {
            return Ok(());
        };
        let loc = location(self.watch).clone();
        let base = {
            let mut b = SearchContacts::new(loc.as_str(), *page_limit);
            for f in filters {
                b = b.filter(f.clone());
            }
            if let Some(q) = query {
                b = b.query(q.clone());
            }
            b
        };
        let overlap = time::Duration::try_from(*overlap).unwrap_or(time::Duration::MINUTE);
        if !self.stored.state.initialized && !emit {
            // `since = now`: start at the newest contact matching (GHL's clock, not ours).
            let body = base.clone().sort(SearchSort::desc(SortField::DateUpdated));
            let body = SearchContacts {
                page_limit: 1,
                ..body
            };
            let resp = self
                .poller
                .ghl
                .call(&loc, |c, t| {
                    let body = body.clone();
                    async move { c.search_contacts_json(&t, &body).await }
                })
                .await?;
            self.stored.state.cursor = contacts(&resp.body)?
                .first()
                .and_then(|c| c.get("dateUpdated"))
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        let from = self
            .stored
            .state
            .cursor
            .as_deref()
            .and_then(parse_time)
            .map(|c| c - overlap);
        let mut after: Option<Vec<Value>> = None;
        loop {
            let mut body = base.clone().sort(SearchSort {
                field: SortField::DateUpdated,
                direction: SortDirection::Asc,
            });
            if let Some(from) = from {
                body = body.filter(window(&format_time(from)));
            }
            if let Some(a) = after.take() {
                body = body.search_after(a);
            }
            let resp = self
                .poller
                .ghl
                .call(&loc, |c, t| {
                    let body = body.clone();
                    async move { c.search_contacts_json(&t, &body).await }
                })
                .await?;
            let page = contacts(&resp.body)?;
            let full = page.len() >= *page_limit as usize;
            after = page
                .last()
                .and_then(|c| c.get("searchAfter"))
                .and_then(Value::as_array)
                .cloned();
            let state = &mut self.stored.state;
            let mut found = Vec::new();
            let mut high = state.cursor.as_deref().and_then(parse_time);
            for c in page {
                let (Some(id), Some(updated)) = (
                    c.get("id").and_then(Value::as_str),
                    c.get("dateUpdated").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let Some(at) = parse_time(updated) else {
                    continue;
                };
                high = Some(high.map_or(at, |h| h.max(at)));
                let prev = state.items.get(id);
                if prev.is_some_and(|s| s.version == updated) {
                    continue;
                }
                let added = c.get("dateAdded").and_then(Value::as_str);
                let change = if prev.is_none() && added == Some(updated) {
                    Change::Created
                } else {
                    Change::Updated
                };
                state.items.insert(
                    id.to_owned(),
                    Seen {
                        version: updated.to_owned(),
                        seq: prev.map_or(0, |s| s.seq) + 1,
                        ..Seen::default()
                    },
                );
                found.push(Found {
                    change,
                    item_id: id.to_owned(),
                    version: updated.to_owned(),
                    item: c.clone(),
                });
            }
            if let Some(high) = high {
                state.cursor = Some(format_time(high));
                // Only the overlap window is ever re-read: older versions can go.
                let keep_from = high - overlap;
                state
                    .items
                    .retain(|_, s| parse_time(&s.version).is_none_or(|t| t >= keep_from));
            }
            self.commit(found, emit).await?;
            if !full || after.is_none() {
                return Ok(());
            }
        }
    }
}

fn contacts(body: &Value) -> Result<&Vec<Value>, PollError> {
    body.get("contacts")
        .and_then(Value::as_array)
        .ok_or_else(|| PollError::Malformed("no contacts list in the search answer".into()))
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn format_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
