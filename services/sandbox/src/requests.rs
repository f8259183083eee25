//! The request log: every GHL API request the sandbox answered (including 401s, 429s, injected
//! faults and unknown routes), for tests and operators (`GET /_sandbox/requests`).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::auth::TokenKind;

/// One answered GHL API request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// 1-based, increasing; never reused (not even after a reset).
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Request path, e.g. `/contacts/upsert`.
    pub path: String,
    /// The raw query string, if any (still URL-encoded).
    pub query: Option<String>,
    /// The matched route template, e.g. `/contacts/{contactId}`; `None` for unknown routes.
    pub route: Option<String>,
    /// The status the sandbox answered.
    pub status: u16,
    /// The location of the token used, when the token was valid.
    pub location_id: Option<String>,
    /// The kind of credential presented.
    pub token_kind: TokenKind,
    /// The incoming W3C `traceparent` header, verbatim.
    pub traceparent: Option<String>,
    /// The request body, when it was JSON.
    pub body: Option<Value>,
    /// The id of the injected fault that answered or delayed it.
    pub fault_id: Option<u64>,
    /// Time from receipt to response, in milliseconds (includes simulated latency).
    pub duration_ms: u64,
    /// When the request arrived (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
}

/// A bounded log of [`RequestRecord`]s.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    next_seq: u64,
    records: VecDeque<RequestRecord>,
}

impl RequestLog {
    /// An empty log keeping at most `capacity` records.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            next_seq: 1,
            records: VecDeque::new(),
        }
    }

    /// Appends a record, assigning its sequence number; drops the oldest beyond capacity.
    pub(crate) fn push(&mut self, mut record: RequestRecord) -> u64 {
        record.seq = self.next_seq;
        self.next_seq += 1;
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        let seq = record.seq;
        self.records.push_back(record);
        seq
    }

    /// Records with `seq > since`, oldest first, at most `limit`.
    pub(crate) fn since(&self, since: u64, limit: usize) -> Vec<RequestRecord> {
        self.records
            .iter()
            .filter(|r| r.seq > since)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Forgets every record (sequence numbers keep increasing).
    pub(crate) fn clear(&mut self) {
        self.records.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RequestRecord {
        RequestRecord {
            seq: 0,
            method: "GET".into(),
            path: "/contacts/x".into(),
            query: None,
            route: Some("/contacts/{contactId}".into()),
            status: 200,
            location_id: None,
            token_kind: TokenKind::None,
            traceparent: None,
            body: None,
            fault_id: None,
            duration_ms: 0,
            timestamp: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn log_is_bounded_and_sequenced() {
        let mut log = RequestLog::new(2);
        for _ in 0..3 {
            log.push(record());
        }
        let seqs: Vec<u64> = log.since(0, usize::MAX).iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(log.since(2, 10).len(), 1);
        log.clear();
        assert_eq!(log.push(record()), 4);
    }

    #[test]
    fn record_serializes_with_rfc3339_timestamp() {
        let v = serde_json::to_value(record()).unwrap();
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(v["token_kind"], "none");
        let back: RequestRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, record());
    }
}
