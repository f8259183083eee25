//! The request log: every GHL API, OAuth and Shift4Shop request the sandbox answered (including
//! 401s, 429s, injected faults and unknown routes), for tests and operators
//! (`GET /_sandbox/requests`), plus counts per endpoint and status that outlive the log's
//! capacity (`GET /_sandbox/requests/counts`).

use std::collections::{BTreeMap, VecDeque};

use axum::body::Bytes;
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

/// How many requests one endpoint answered with one status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    /// HTTP method.
    pub method: String,
    /// Route template (`/contacts/{contactId}`), or `unmatched`.
    pub route: String,
    /// Status answered.
    pub status: u16,
    /// How many times.
    pub count: u64,
}

/// A bounded log of [`RequestRecord`]s and unbounded per-endpoint counts.
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    next_seq: u64,
    /// Records without their body, and the raw body: parsed only when read, to keep JSON
    /// parsing off the request path.
    records: VecDeque<(RequestRecord, Bytes)>,
    counts: BTreeMap<(String, String, u16), u64>,
}

impl RequestLog {
    /// An empty log keeping at most `capacity` records.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            next_seq: 1,
            records: VecDeque::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Counts per (method, route, status), sorted.
    pub(crate) fn counts(&self) -> Vec<RequestCount> {
        self.counts
            .iter()
            .map(|((method, route, status), count)| RequestCount {
                method: method.clone(),
                route: route.clone(),
                status: *status,
                count: *count,
            })
            .collect()
    }

    /// Appends a record with its raw body, assigning its sequence number; drops the oldest
    /// beyond capacity.
    pub(crate) fn push(&mut self, mut record: RequestRecord, body: Bytes) -> u64 {
        record.seq = self.next_seq;
        self.next_seq += 1;
        let route = record.route.clone().unwrap_or_else(|| "unmatched".into());
        *self
            .counts
            .entry((record.method.clone(), route, record.status))
            .or_default() += 1;
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        let seq = record.seq;
        self.records.push_back((record, body));
        seq
    }

    /// Records with `seq > since`, oldest first, at most `limit`.
    pub(crate) fn since(&self, since: u64, limit: usize) -> Vec<RequestRecord> {
        self.records
            .iter()
            .filter(|(r, _)| r.seq > since)
            .take(limit)
            .map(|(r, body)| {
                let mut r = r.clone();
                if !body.is_empty() {
                    r.body = serde_json::from_slice(body).ok();
                }
                r
            })
            .collect()
    }

    /// Forgets every record and count (sequence numbers keep increasing).
    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.counts.clear();
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
            log.push(record(), Bytes::from_static(br#"{"a":1}"#));
        }
        let seqs: Vec<u64> = log.since(0, usize::MAX).iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(log.since(0, 1)[0].body, Some(serde_json::json!({"a": 1})));
        assert_eq!(log.since(2, 10).len(), 1);
        let counts = log.counts();
        assert_eq!(counts.len(), 1);
        assert_eq!(
            (counts[0].route.as_str(), counts[0].status, counts[0].count),
            ("/contacts/{contactId}", 200, 3),
            "counts outlive the capacity"
        );
        log.clear();
        assert!(log.counts().is_empty());
        assert_eq!(log.push(record(), Bytes::new()), 4);
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
