//! NATS header names Relay sets besides the W3C trace context.

/// JetStream's dedupe header (`Nats-Msg-Id`).
pub const MSG_ID: &str = "Nats-Msg-Id";
/// Why a message was dead-lettered.
pub const DLQ_REASON: &str = "Relay-Dlq-Reason";
/// The stage that gave up (`ingest`, `mapper`, `writer`, ...).
pub const DLQ_STAGE: &str = "Relay-Dlq-Stage";
/// The subject the message had before it was dead-lettered.
pub const DLQ_SUBJECT: &str = "Relay-Dlq-Subject";
/// How many times the stage tried.
pub const DLQ_DELIVERIES: &str = "Relay-Dlq-Deliveries";
/// Content type of the payload (`application/json`, the storefront's own type on RAW).
pub const CONTENT_TYPE: &str = "Content-Type";
/// The storefront delivery's selected request headers, JSON-encoded, on RAW messages.
pub const RAW_HEADERS: &str = "Relay-Raw-Headers";
/// The delivery's query string without secrets (`token` removed), on RAW and DLQ messages.
pub const RAW_QUERY: &str = "Relay-Raw-Query";
/// On plans published by a replay: the replay's id (the plan ids are the live ones, so the
/// writer's once-only effects hold).
pub const REPLAY: &str = "Relay-Replay";
