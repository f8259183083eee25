//! Subjects, streams, consumers and KV buckets, all under an optional namespace prefix that
//! isolates tests and lets environments share one server.

use std::time::Duration;

use async_nats::jetstream::{consumer, stream};

use crate::event::{EventKind, Source};
use crate::ids::Token;
use crate::result::Outcome;

/// The streams of the architecture (DESIGN.md "Messages").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Verified deliveries exactly as received.
    Raw,
    /// Normalised `StorefrontEvent`s: the replay source.
    Events,
    /// `ContactPlan`s by partition and location: a work queue.
    Commands,
    /// What the writer did: the audit log.
    Results,
    /// Poller events.
    Triggers,
    /// Messages a stage gave up on, with the reason.
    Dlq,
}

impl StreamKind {
    pub const ALL: [StreamKind; 6] = [
        StreamKind::Raw,
        StreamKind::Events,
        StreamKind::Commands,
        StreamKind::Results,
        StreamKind::Triggers,
        StreamKind::Dlq,
    ];

    pub fn base_name(self) -> &'static str {
        match self {
            StreamKind::Raw => "RAW",
            StreamKind::Events => "EVENTS",
            StreamKind::Commands => "COMMANDS",
            StreamKind::Results => "RESULTS",
            StreamKind::Triggers => "TRIGGERS",
            StreamKind::Dlq => "DLQ",
        }
    }

    fn root(self) -> &'static str {
        match self {
            StreamKind::Raw => "raw",
            StreamKind::Events => "evt",
            StreamKind::Commands => "cmd",
            StreamKind::Results => "res",
            StreamKind::Triggers => "trg",
            StreamKind::Dlq => "dlq",
        }
    }

    fn description(self) -> &'static str {
        match self {
            StreamKind::Raw => "Relay: verified storefront deliveries exactly as received",
            StreamKind::Events => "Relay: normalised StorefrontEvent v1 (the replay source)",
            StreamKind::Commands => "Relay: ContactPlan v1 work queue, by partition and location",
            StreamKind::Results => "Relay: what the writer did (audit log)",
            StreamKind::Triggers => "Relay: GHL polling-trigger events",
            StreamKind::Dlq => "Relay: messages a stage gave up on, with the reason",
        }
    }
}

/// KV buckets: state that must survive restarts and be shared between replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Connections (storefront account → GHL location, rules, secrets by reference).
    Connections,
    /// Seen idempotency keys beyond the streams' duplicate window (Digistore24 retries 10 days).
    IngestLedger,
    /// Partition and watch leases of writer and poller replicas.
    Leases,
    /// Per-location OAuth tokens (encrypted) and auth state.
    Tokens,
    /// The writer's step ledger: which step of which plan had its effect.
    Steps,
    /// Cached GHL contact ids by lookup key.
    ContactIds,
    /// Poller cursors and item fingerprints.
    Cursors,
}

impl Bucket {
    pub const ALL: [Bucket; 7] = [
        Bucket::Connections,
        Bucket::IngestLedger,
        Bucket::Leases,
        Bucket::Tokens,
        Bucket::Steps,
        Bucket::ContactIds,
        Bucket::Cursors,
    ];

    pub fn base_name(self) -> &'static str {
        match self {
            Bucket::Connections => "relay-connections",
            Bucket::IngestLedger => "relay-ingest-ledger",
            Bucket::Leases => "relay-leases",
            Bucket::Tokens => "relay-tokens",
            Bucket::Steps => "relay-steps",
            Bucket::ContactIds => "relay-contact-ids",
            Bucket::Cursors => "relay-cursors",
        }
    }

    /// How long entries live (`None`: until deleted).
    pub fn max_age(self) -> Option<Duration> {
        match self {
            // Longest storefront retry horizon (Digistore24: 10 days) plus margin.
            Bucket::IngestLedger => Some(Duration::from_secs(14 * 24 * 3600)),
            // A replay of EVENTS (30 days by default) must still find its ledger entries.
            Bucket::Steps => Some(Duration::from_secs(35 * 24 * 3600)),
            Bucket::ContactIds => Some(Duration::from_secs(30 * 24 * 3600)),
            Bucket::Connections | Bucket::Leases | Bucket::Tokens | Bucket::Cursors => None,
        }
    }

    /// Revisions kept per key (connections keep a few for `relayctl` diffs and rollback).
    pub fn history(self) -> i64 {
        match self {
            Bucket::Connections => 10,
            _ => 1,
        }
    }
}

/// Durable consumer names.
pub mod consumers {
    pub const MAPPER: &str = "mapper";
    /// Prefix of the per-partition consumers (`writer-p07`); a consumer named exactly
    /// `writer` over every command is from before partitions and is removed at start.
    pub const WRITER: &str = "writer";
}

/// Retention settings for the streams (from each service's config).
#[derive(Clone, Debug)]
pub struct Retention {
    /// Max age of RAW, EVENTS, RESULTS, TRIGGERS and DLQ messages.
    pub max_age: Duration,
    /// How long a `Nats-Msg-Id` is remembered for dedupe on RAW, EVENTS and COMMANDS.
    pub duplicate_window: Duration,
    /// Replicas per stream (1 locally, 3 in a production cluster).
    pub replicas: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(30 * 24 * 3600),
            duplicate_window: Duration::from_secs(48 * 3600),
            replicas: 1,
        }
    }
}

/// A namespace: the optional prefix in front of every subject, stream, consumer and bucket.
///
/// Prefix `t01` gives subjects `t01.evt.bmc.demo.order.paid` and stream `t01_EVENTS`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Namespace {
    prefix: Option<Token>,
}

impl Namespace {
    pub fn new(prefix: Option<Token>) -> Self {
        Self { prefix }
    }

    pub fn prefix(&self) -> Option<&Token> {
        self.prefix.as_ref()
    }

    fn subject(&self, parts: &[&str]) -> String {
        let mut s = String::with_capacity(64);
        if let Some(p) = &self.prefix {
            s.push_str(p.as_str());
            s.push('.');
        }
        s.push_str(&parts.join("."));
        s
    }

    pub fn stream_name(&self, kind: StreamKind) -> String {
        match &self.prefix {
            Some(p) => format!("{p}_{}", kind.base_name()),
            None => kind.base_name().to_owned(),
        }
    }

    /// A subject (or filter) given without the prefix, as users write them (`evt.gumroad.>`).
    pub fn qualify(&self, subject: &str) -> String {
        self.subject(&[subject])
    }

    /// Every subject of a stream (`<prefix>.evt.>`).
    pub fn all(&self, kind: StreamKind) -> String {
        self.subject(&[kind.root(), ">"])
    }

    /// `raw.<source>.<connection>`
    pub fn raw(&self, source: Source, connection: &Token) -> String {
        self.subject(&["raw", source.as_str(), connection.as_str()])
    }

    /// `evt.<source>.<connection>.<kind>` (kinds are dotted: `order.paid`).
    pub fn event(&self, source: Source, connection: &Token, kind: EventKind) -> String {
        self.subject(&["evt", source.as_str(), connection.as_str(), kind.as_str()])
    }

    /// Every event of one connection: `evt.<source>.<connection>.>`.
    pub fn events_of(&self, source: Source, connection: &Token) -> String {
        self.subject(&["evt", source.as_str(), connection.as_str(), ">"])
    }

    /// `cmd.<partition>.<location>`
    pub fn command(&self, partition: u16, location: &Token) -> String {
        self.subject(&["cmd", &partition.to_string(), location.as_str()])
    }

    /// Every command of one partition: `cmd.<partition>.>`.
    pub fn commands_of_partition(&self, partition: u16) -> String {
        self.subject(&["cmd", &partition.to_string(), ">"])
    }

    /// `res.<location>.<outcome>`
    pub fn result(&self, location: &Token, outcome: Outcome) -> String {
        self.subject(&["res", location.as_str(), outcome.as_str()])
    }

    /// `trg.<location>.<trigger>`
    pub fn trigger(&self, location: &Token, trigger: &Token) -> String {
        self.subject(&["trg", location.as_str(), trigger.as_str()])
    }

    /// `dlq.<stage>.<original subject without the prefix>`: one stage's dead letters stay
    /// filterable by their origin (`dlq.mapper.evt.bmc.demo.>`).
    pub fn dlq(&self, stage: &str, original_subject: &str) -> String {
        let original = match &self.prefix {
            Some(p) => original_subject
                .strip_prefix(p.as_str())
                .and_then(|s| s.strip_prefix('.'))
                .unwrap_or(original_subject),
            None => original_subject,
        };
        self.subject(&["dlq", stage, original])
    }

    /// Dead letters of a storefront delivery that never became an event (malformed bodies).
    pub fn dlq_ingest(&self, source: Source, connection: &Token) -> String {
        self.subject(&["dlq", "ingest", source.as_str(), connection.as_str()])
    }

    /// A KV bucket's name in this namespace (`t01_relay-leases`).
    pub fn bucket_name(&self, bucket: Bucket) -> String {
        match &self.prefix {
            Some(p) => format!("{p}_{}", bucket.base_name()),
            None => bucket.base_name().to_owned(),
        }
    }

    /// The KV bucket's configuration.
    pub fn bucket_config(
        &self,
        bucket: Bucket,
        replicas: usize,
    ) -> async_nats::jetstream::kv::Config {
        async_nats::jetstream::kv::Config {
            bucket: self.bucket_name(bucket),
            description: format!("Relay: {}", bucket.base_name()),
            history: bucket.history(),
            max_age: bucket.max_age().unwrap_or_default(),
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        }
    }

    /// A durable consumer name in this namespace.
    pub fn consumer_name(&self, base: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}_{base}"),
            None => base.to_owned(),
        }
    }

    /// The stream configuration for `kind`: explicit retention, discard policy, dedupe window.
    pub fn stream_config(&self, kind: StreamKind, retention: &Retention) -> stream::Config {
        let (retention_policy, max_age, duplicate_window) = match kind {
            // A plan is deleted once the writer acknowledged it; age still bounds a stuck queue.
            StreamKind::Commands => (
                stream::RetentionPolicy::WorkQueue,
                retention.max_age,
                retention.duplicate_window,
            ),
            StreamKind::Raw | StreamKind::Events => (
                stream::RetentionPolicy::Limits,
                retention.max_age,
                retention.duplicate_window,
            ),
            StreamKind::Results | StreamKind::Triggers | StreamKind::Dlq => (
                stream::RetentionPolicy::Limits,
                retention.max_age,
                retention.duplicate_window.min(Duration::from_secs(3600)),
            ),
        };
        stream::Config {
            name: self.stream_name(kind),
            description: Some(kind.description().to_owned()),
            subjects: vec![self.all(kind)],
            retention: retention_policy,
            // New messages are refused (publish error → 503 at ingest) rather than old ones
            // silently dropped when a limit is reached.
            discard: stream::DiscardPolicy::New,
            storage: stream::StorageType::File,
            max_age,
            duplicate_window,
            num_replicas: retention.replicas,
            allow_direct: true,
            ..Default::default()
        }
    }

    /// The mapper's durable pull consumer over every event.
    pub fn mapper_consumer(&self, max_deliver: i64, ack_wait: Duration) -> consumer::pull::Config {
        self.pull_consumer(
            consumers::MAPPER,
            self.all(StreamKind::Events),
            max_deliver,
            ack_wait,
        )
    }

    /// The durable consumer of one command partition, driven by the writer replica that holds
    /// the partition's lease. Attempts are counted by the writer (it retries in place to keep
    /// per-location order), so the server never stops redelivering (`max_deliver` unlimited).
    pub fn writer_partition_consumer(
        &self,
        partition: u16,
        ack_wait: Duration,
        max_pending: i64,
    ) -> consumer::pull::Config {
        consumer::pull::Config {
            max_ack_pending: max_pending,
            ..self.pull_consumer(
                &format!("{}-p{partition:02}", consumers::WRITER),
                self.commands_of_partition(partition),
                -1,
                ack_wait,
            )
        }
    }

    /// The writer's lease item for a partition (`p07`).
    pub fn partition_item(partition: u16) -> String {
        format!("p{partition:02}")
    }

    fn pull_consumer(
        &self,
        base: &str,
        filter_subject: String,
        max_deliver: i64,
        ack_wait: Duration,
    ) -> consumer::pull::Config {
        consumer::pull::Config {
            durable_name: Some(self.consumer_name(base)),
            description: Some(format!("Relay {base}")),
            filter_subject,
            ack_policy: consumer::AckPolicy::Explicit,
            deliver_policy: consumer::DeliverPolicy::All,
            ack_wait,
            max_deliver,
            max_ack_pending: 1000,
            ..Default::default()
        }
    }
}

/// Number of command partitions: locations hash onto these, so a later writer can lease
/// partitions and keep per-location order.
pub const COMMAND_PARTITIONS: u16 = 16;

/// The partition of a location (FNV-1a, stable across builds and platforms).
pub fn partition_of(location: &Token, partitions: u16) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in location.as_str().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % u32::from(partitions.max(1))) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Token {
        Token::parse(s).unwrap()
    }

    #[test]
    fn subjects_with_and_without_prefix() {
        let plain = Namespace::default();
        let pre = Namespace::new(Some(t("t01")));
        assert_eq!(
            plain.event(Source::Bmc, &t("demo"), EventKind::OrderPaid),
            "evt.bmc.demo.order.paid"
        );
        assert_eq!(
            pre.event(Source::Bmc, &t("demo"), EventKind::OrderPaid),
            "t01.evt.bmc.demo.order.paid"
        );
        assert_eq!(pre.stream_name(StreamKind::Events), "t01_EVENTS");
        assert_eq!(pre.all(StreamKind::Commands), "t01.cmd.>");
        assert_eq!(pre.command(3, &t("loc")), "t01.cmd.3.loc");
        assert_eq!(
            pre.dlq("mapper", "t01.evt.bmc.demo.order.paid"),
            "t01.dlq.mapper.evt.bmc.demo.order.paid"
        );
        assert_eq!(plain.result(&t("loc"), Outcome::Ok), "res.loc.ok");
        assert_eq!(pre.consumer_name(consumers::MAPPER), "t01_mapper");
        assert_eq!(pre.bucket_name(Bucket::Leases), "t01_relay-leases");
        assert_eq!(
            plain.bucket_config(Bucket::IngestLedger, 1).max_age,
            Duration::from_secs(14 * 24 * 3600)
        );
        for b in Bucket::ALL {
            // Bucket names allow only letters, digits, '-' and '_'.
            assert!(
                pre.bucket_name(b)
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
        }
    }

    #[test]
    fn partitions_are_stable_and_in_range() {
        let p = partition_of(&t("demo-location"), COMMAND_PARTITIONS);
        assert!(p < COMMAND_PARTITIONS);
        assert_eq!(p, partition_of(&t("demo-location"), COMMAND_PARTITIONS));
    }
}
