//! `TriggerEvent` v1: a change the poller saw in GHL, published to TRIGGERS
//! (`trg.<location>.<trigger>`, see [`crate::Namespace::trigger`]).
//!
//! One event per item per version: the `Nats-Msg-Id` ([`TriggerEvent::msg_id`]) is the watch,
//! the item and its version, so a poll repeated after a crash publishes nothing new.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ids::Token;
use crate::version::{DecodeError, V1, decode};

/// The Contacts polling triggers (the names are the subject's last token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// `GET /contacts/{id}`: one contact changed (or was deleted).
    GetContact,
    /// `POST /contacts/search`: new or updated contacts matching a filter.
    SearchContacts,
    /// `GET /contacts/business/{businessId}`.
    ContactsByBusiness,
    /// `GET /contacts/search/duplicate`: a duplicate for an email/phone appeared.
    DuplicateContact,
    /// `GET /contacts/{id}/appointments`.
    ContactAppointments,
    /// `GET /contacts/{id}/tasks`: new, changed, completed, deleted tasks.
    ContactTasks,
    /// `GET /contacts/{id}/tasks/{taskId}`.
    ContactTask,
    /// `GET /contacts/{id}/notes`: new, changed, deleted notes.
    ContactNotes,
    /// `GET /contacts/{id}/notes/{noteId}`.
    ContactNote,
    /// `GET /contacts/` (deprecated): `startAfter`/`startAfterId` paging.
    ListContacts,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 10] = [
        TriggerKind::GetContact,
        TriggerKind::SearchContacts,
        TriggerKind::ContactsByBusiness,
        TriggerKind::DuplicateContact,
        TriggerKind::ContactAppointments,
        TriggerKind::ContactTasks,
        TriggerKind::ContactTask,
        TriggerKind::ContactNotes,
        TriggerKind::ContactNote,
        TriggerKind::ListContacts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::GetContact => "get_contact",
            TriggerKind::SearchContacts => "search_contacts",
            TriggerKind::ContactsByBusiness => "contacts_by_business",
            TriggerKind::DuplicateContact => "duplicate_contact",
            TriggerKind::ContactAppointments => "contact_appointments",
            TriggerKind::ContactTasks => "contact_tasks",
            TriggerKind::ContactTask => "contact_task",
            TriggerKind::ContactNotes => "contact_notes",
            TriggerKind::ContactNote => "contact_note",
            TriggerKind::ListContacts => "list_contacts",
        }
    }

    /// The subject token (`trg.<location>.<trigger>`).
    pub fn token(self) -> Token {
        Token::parse(self.as_str()).expect("trigger names are valid tokens")
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to the item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    Deleted,
    /// A task was marked completed.
    Completed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
            Change::Completed => "completed",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerEvent {
    pub v: V1,
    /// The watch that saw the change.
    pub watch_id: Token,
    pub location_id: Token,
    pub trigger: TriggerKind,
    pub change: Change,
    /// The GHL id of the item (contact, task, note...).
    pub item_id: String,
    /// The item's version: its `dateUpdated`, or a fingerprint of its content (with a change
    /// counter where GHL keeps no timestamp, so that A→B→A is three versions).
    pub item_version: String,
    /// The item as GHL returned it (for `deleted`: as last seen, or `null`).
    pub item: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    /// The W3C trace id of the poll, to open it in Jaeger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl TriggerEvent {
    pub const SUPPORTED_VERSIONS: &'static [u64] = &[1];

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode("TriggerEvent", Self::SUPPORTED_VERSIONS, bytes)
    }

    /// The `Nats-Msg-Id`: watch + item + version (+ change), hashed to a bounded length.
    pub fn msg_id(&self) -> String {
        msg_id(
            &self.watch_id,
            &self.item_id,
            &self.item_version,
            self.change,
        )
    }
}

/// [`TriggerEvent::msg_id`] from its parts.
pub fn msg_id(watch: &Token, item_id: &str, version: &str, change: Change) -> String {
    let mut h = Sha256::new();
    for part in [item_id, version, change.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let mut hex = String::with_capacity(32);
    for b in &digest[..16] {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("trg-{watch}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> TriggerEvent {
        TriggerEvent {
            v: V1,
            watch_id: Token::parse("w1").unwrap(),
            location_id: Token::parse("loc").unwrap(),
            trigger: TriggerKind::ContactTasks,
            change: Change::Completed,
            item_id: "t1".into(),
            item_version: "2-abc".into(),
            item: serde_json::json!({"id": "t1", "completed": true}),
            observed_at: OffsetDateTime::UNIX_EPOCH,
            trace_id: None,
        }
    }

    #[test]
    fn round_trips_and_checks_the_version() {
        let e = event();
        let bytes = serde_json::to_vec(&e).unwrap();
        assert_eq!(TriggerEvent::decode(&bytes).unwrap(), e);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["trigger"], "contact_tasks");
        assert_eq!(v["change"], "completed");
        let mut v2 = v.clone();
        v2["v"] = 2.into();
        assert!(matches!(
            TriggerEvent::decode(&serde_json::to_vec(&v2).unwrap()),
            Err(DecodeError::UnsupportedVersion { found: 2, .. })
        ));
    }

    #[test]
    fn msg_ids_depend_on_watch_item_version_and_change() {
        let e = event();
        assert_eq!(e.msg_id(), event().msg_id());
        let mut other = event();
        other.item_version = "3-abc".into();
        assert_ne!(e.msg_id(), other.msg_id());
        other = event();
        other.watch_id = Token::parse("w2").unwrap();
        assert_ne!(e.msg_id(), other.msg_id());
        assert!(e.msg_id().len() < 200);
    }

    #[test]
    fn trigger_names_are_subject_tokens() {
        for k in TriggerKind::ALL {
            assert_eq!(k.token().as_str(), k.as_str());
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, k.as_str());
        }
    }
}
