//! `PlanResult` v1: what the writer did with one plan, published to RESULTS (the audit log).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{EventId, PlanId, Token};
use crate::version::{DecodeError, V1, decode};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step applied.
    Ok,
    /// A step failed and will be retried.
    Failed,
    /// Gave up: the plan is in the DLQ with the reason.
    DeadLettered,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::DeadLettered => "dead_lettered",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanResult {
    pub v: V1,
    pub plan_id: PlanId,
    pub source_event_id: EventId,
    pub location_id: Token,
    pub connection: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// Whether this plan created the contact (`false`: it existed and was updated or used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_created: Option<bool>,
    pub steps: Vec<StepResult>,
    /// Time spent on this attempt, budget waits included.
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The W3C trace id, to open the delivery in Jaeger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    pub delivery: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
}

impl PlanResult {
    pub const SUPPORTED_VERSIONS: &'static [u64] = &[1];

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode("PlanResult", Self::SUPPORTED_VERSIONS, bytes)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// The step's action name (`upsert_contact`, `add_tags`, ...).
    pub action: String,
    pub ok: bool,
    /// HTTP status GHL answered with, when a call was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// The GHL object the step created or acted on (note, task, contact id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why no GHL call was made (`already applied`, `no task under key ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
