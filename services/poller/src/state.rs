//! Per-watch state in the `Bucket::Cursors` KV bucket (`watch.<id>`): the cursor and the
//! fingerprints of the items seen. Written with a revision check after the events of a page
//! were acknowledged by JetStream, so a crash repeats at most that page (whose events carry
//! the same `Nats-Msg-Id`s again and are dropped as duplicates) and never skips one.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use relay_contracts::Token;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::PollError;

/// What a watch remembers between polls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct WatchState {
    /// Fingerprint of the watch's trigger and parameters: a changed watch starts over.
    pub(crate) params: String,
    /// The first poll happened (with `since = now` it only records what exists).
    pub(crate) initialized: bool,
    /// `search_contacts`: the highest `dateUpdated` seen (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cursor: Option<String>,
    /// Items seen, by GHL id.
    #[serde(default)]
    pub(crate) items: BTreeMap<String, Seen>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) last_poll: Option<OffsetDateTime>,
}

/// One item as last seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Seen {
    /// Its version: `dateUpdated` (search) or a content fingerprint.
    pub(crate) version: String,
    /// Changes seen so far (versions of fingerprinted items are `<seq>-<fingerprint>`, so
    /// that returning to an earlier content is a new version).
    #[serde(default)]
    pub(crate) seq: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) completed: bool,
    /// Gone from GHL (a tombstone, so a reappearance is a new version).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) deleted: bool,
}

/// SHA-256 of the item's JSON (object keys are sorted by serde_json's map), 16 hex chars.
pub(crate) fn fingerprint(item: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(item).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..8])
}

/// The state of one watch and the revision it was read at.
pub(crate) struct Stored {
    pub(crate) state: WatchState,
    revision: Option<u64>,
}

fn key(watch: &Token) -> String {
    format!("watch.{watch}")
}

fn nats_err(e: impl std::fmt::Display) -> PollError {
    PollError::Nats(e.to_string())
}

pub(crate) async fn load(store: &kv::Store, watch: &Token) -> Result<Stored, PollError> {
    let entry = store.entry(key(watch)).await.map_err(nats_err)?;
    Ok(match entry {
        Some(e) if e.operation == kv::Operation::Put => Stored {
            state: serde_json::from_slice(&e.value).unwrap_or_else(|err| {
                tracing::warn!(%watch, error.message = %err, "unreadable watch state; starting over");
                WatchState::default()
            }),
            revision: Some(e.revision),
        },
        Some(e) => Stored {
            state: WatchState::default(),
            revision: Some(e.revision),
        },
        None => Stored {
            state: WatchState::default(),
            revision: None,
        },
    })
}

impl Stored {
    /// Writes `self.state` if nobody wrote the key since we read it.
    pub(crate) async fn save(&mut self, store: &kv::Store, watch: &Token) -> Result<(), PollError> {
        let value = serde_json::to_vec(&self.state).map_err(|e| PollError::Nats(e.to_string()))?;
        let revision = match self.revision {
            Some(rev) => store
                .update(key(watch), value.into(), rev)
                .await
                .map_err(|e| {
                    if e.kind() == kv::UpdateErrorKind::WrongLastRevision {
                        PollError::Conflict
                    } else {
                        nats_err(e)
                    }
                })?,
            None => store.create(key(watch), value.into()).await.map_err(|e| {
                if e.kind() == kv::CreateErrorKind::AlreadyExists {
                    PollError::Conflict
                } else {
                    nats_err(e)
                }
            })?,
        };
        self.revision = Some(revision);
        Ok(())
    }
}
