//! The step ledger: which effect of which plan already happened, in the `relay-steps` KV bucket.
//!
//! Creates (contacts, notes, tasks) and enrolments (campaigns, workflows) are not idempotent at
//! GHL, so each one is recorded under a key before and after the call:
//!
//! - `pending` before the request: if the writer dies between GHL's answer and the `done`
//!   write, the next attempt finds `pending` and looks the object up at GHL (note body, task
//!   title + due date, contact email/phone) before creating anything;
//! - `done` with the GHL ids after the answer: later attempts, redeliveries and replays skip the
//!   step, and update/complete/delete steps find the object by the rule's key.
//!
//! Keys: `<location>.<kind>.<key>` where `key` is the rule's step key (unique per contact, so
//! a replay produces the same key) or `<plan id>-<step index>` for steps without one.

use async_nats::jetstream::kv;
use relay_common::nats::Nats;
use relay_contracts::{Bucket, Token};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::sync::OnceCell;

/// What kind of effect an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Contact,
    Note,
    Task,
    /// Campaign and workflow enrolments, keyed by plan and step.
    Step,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Contact => "contact",
            Kind::Note => "note",
            Kind::Task => "task",
            Kind::Step => "step",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// The request was (maybe) sent; its outcome is unknown.
    Pending,
    Done,
    /// The object was deleted by a later step.
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) state: State,
    /// The GHL id of the object (note, task, contact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// The contact the object belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) contact_id: Option<String>,
    /// The plan that wrote the entry.
    pub(crate) plan: String,
}

/// The ledger over its KV bucket (opened on first use, so a writer starts while NATS is away).
pub(crate) struct Ledger {
    nats: Nats,
    replicas: usize,
    kv: OnceCell<kv::Store>,
}

impl Ledger {
    pub(crate) fn new(nats: Nats, replicas: usize) -> Self {
        Self {
            nats,
            replicas,
            kv: OnceCell::new(),
        }
    }

    async fn kv(&self) -> Result<&kv::Store, String> {
        self.kv
            .get_or_try_init(|| self.nats.ensure_bucket(Bucket::Steps, self.replicas))
            .await
            .map_err(|e| format!("step ledger: {e}"))
    }

    pub(crate) fn key(location: &Token, kind: Kind, key: &str) -> String {
        format!("{location}.{}.{}", kind.as_str(), kv_safe(key))
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Entry>, String> {
        let kv = self.kv().await?;
        let Some(bytes) = kv
            .get(key)
            .await
            .map_err(|e| format!("step ledger read: {e}"))?
        else {
            return Ok(None);
        };
        // An entry this version cannot read is treated as unknown (looked up at GHL), never as
        // done: a false "done" would lose an effect.
        Ok(serde_json::from_slice(&bytes)
            .map_err(|e| tracing::warn!(key, error.message = %e, "unreadable ledger entry"))
            .ok()
            .map(|mut e: Entry| {
                if e.state == State::Done && e.id.is_none() && e.contact_id.is_none() {
                    e.state = State::Pending;
                }
                e
            }))
    }

    pub(crate) async fn put(&self, key: &str, entry: &Entry) -> Result<(), String> {
        let kv = self.kv().await?;
        let bytes = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
        kv.put(key, bytes.into())
            .await
            .map_err(|e| format!("step ledger write: {e}"))?;
        Ok(())
    }
}

/// A key as a KV key token: keys come from rule templates; KV keys allow `[A-Za-z0-9_=-]` per
/// token. Anything else (or a long key) is hashed.
pub(crate) fn kv_safe(key: &str) -> String {
    let safe = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '='));
    if safe && !key.is_empty() && key.len() <= 200 {
        key.to_owned()
    } else {
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kv_safe() {
        let loc = Token::parse("loc-1").unwrap();
        assert_eq!(
            Ledger::key(&loc, Kind::Note, "sale-abc_1"),
            "loc-1.note.sale-abc_1"
        );
        let k = Ledger::key(&loc, Kind::Task, "renewal due: 2026/01/01");
        assert!(k.starts_with("loc-1.task."));
        assert_eq!(k.len(), "loc-1.task.".len() + 64);
        assert_eq!(kv_safe("x".repeat(300).as_str()).len(), 64);
    }
}
