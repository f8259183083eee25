//! The writer consumes `COMMANDS` and applies each `ContactPlan`'s steps, in order, to the GHL
//! API, taking every request out of the location's rate budget. Each outcome is published to
//! `RESULTS`; failures GHL will never accept are dead-lettered with GHL's message, the rest are
//! retried with backoff.

pub mod auth;
pub mod config;
pub mod ratelimit;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_nats::jetstream;
use relay_common::config::process_env;
use relay_common::consumer::{ConsumerSettings, Handler, HandlerError};
use relay_common::nats::Nats;
use relay_common::telemetry::LogControl;
use relay_common::worker::{Worker, WorkerSpec};
use relay_contracts::plan::{ContactFields, ContactPlan, Step};
use relay_contracts::result::{Outcome, PlanResult, StepResult};
use relay_contracts::version::V1;
use relay_contracts::{Bucket, StreamKind, Token, headers};
use relay_ghl::types::UpsertContact;
use relay_ghl::{GhlClient, GhlError};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

pub use config::WriterConfig;
use ratelimit::Budget;

/// One location's credentials and budget.
struct Location {
    token: SecretString,
    budget: Budget,
}

/// Applies plans.
pub struct WriterHandler {
    nats: Nats,
    ghl: GhlClient,
    locations: HashMap<Token, Location>,
    /// Effects that must happen once (notes): `<location>.<kind>.<key>` → the GHL id.
    steps: tokio::sync::OnceCell<jetstream::kv::Store>,
    replicas: usize,
}

/// Why a step failed, and what to do about it.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Ghl(#[from] GhlError),
    /// The broker (step ledger) is unavailable: retry later.
    #[error("step ledger: {0}")]
    Ledger(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
}

impl StepError {
    fn transient(e: impl std::fmt::Display) -> Self {
        StepError::Ledger(e.to_string())
    }

    fn into_handler_error(self) -> HandlerError {
        match self {
            StepError::Ledger(reason) => HandlerError::transient(reason),
            StepError::Ghl(e) if e.is_transient() => HandlerError::Transient {
                retry_after: e.retry_after(),
                reason: e.to_string(),
            },
            other => HandlerError::permanent(other),
        }
    }
}

impl WriterHandler {
    pub fn new(nats: Nats, cfg: &WriterConfig) -> anyhow::Result<Self> {
        let ghl = GhlClient::new(cfg.ghl.base_url.clone(), cfg.ghl.timeout)?;
        let mut locations = HashMap::new();
        for (id, loc) in &cfg.locations {
            // OAuth locations get their tokens from `auth` (being built).
            let Some(token) = &loc.token else { continue };
            let budget = Budget::new(loc.rate_limit.as_ref().unwrap_or(&cfg.rate_limit));
            locations.insert(
                id.clone(),
                Location {
                    token: token.resolve(&process_env)?,
                    budget,
                },
            );
        }
        Ok(Self {
            nats,
            ghl,
            locations,
            steps: tokio::sync::OnceCell::new(),
            replicas: cfg.nats.replicas,
        })
    }

    /// Runs the plan's steps in order. Returns the step results and the contact id.
    async fn apply(
        &self,
        plan: &ContactPlan,
        location: &Location,
        results: &mut Vec<StepResult>,
    ) -> Result<Option<String>, StepError> {
        let mut contact_id: Option<String> = None;
        for step in &plan.steps {
            let started = Instant::now();
            let outcome = self.apply_step(plan, location, step, &mut contact_id).await;
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match outcome {
                Ok(status) => results.push(StepResult {
                    action: step.action().to_owned(),
                    ok: true,
                    status,
                    latency_ms,
                    error: None,
                }),
                Err(e) => {
                    let status = match &e {
                        StepError::Ghl(g) => g.status(),
                        _ => None,
                    };
                    results.push(StepResult {
                        action: step.action().to_owned(),
                        ok: false,
                        status,
                        latency_ms,
                        error: Some(e.to_string()),
                    });
                    return Err(e);
                }
            }
        }
        Ok(contact_id)
    }

    async fn apply_step(
        &self,
        plan: &ContactPlan,
        location: &Location,
        step: &Step,
        contact_id: &mut Option<String>,
    ) -> Result<Option<u16>, StepError> {
        match step {
            Step::UpsertContact => {
                let body = upsert_body(plan.location_id.as_str(), &plan.contact.fields);
                if body.email.is_none() && body.phone.is_none() {
                    return Err(StepError::Invalid(
                        "upsert_contact needs an email or a phone".into(),
                    ));
                }
                self.wait_budget(location, &plan.location_id).await;
                let resp = self.ghl.upsert_contact(&location.token, &body).await?;
                tracing::info!(contact_id = %resp.body.contact.id, new = resp.body.new, "contact upserted");
                *contact_id = Some(resp.body.contact.id);
                Ok(Some(resp.status))
            }
            Step::AddTags { tags } => {
                let id = self.resolve_contact(plan, location, contact_id).await?;
                self.wait_budget(location, &plan.location_id).await;
                let resp = self.ghl.add_tags(&location.token, &id, tags).await?;
                Ok(Some(resp.status))
            }
            Step::RemoveTags { tags } => {
                let id = self.resolve_contact(plan, location, contact_id).await?;
                self.wait_budget(location, &plan.location_id).await;
                let resp = self.ghl.remove_tags(&location.token, &id, tags).await?;
                Ok(Some(resp.status))
            }
            Step::CreateNote { key, body } => {
                let ledger = self.step_ledger().await?;
                let entry = format!("{}.note.{}", plan.location_id, ledger_key(key));
                if let Some(done) = ledger.get(&entry).await.map_err(StepError::transient)? {
                    tracing::info!(key, note_id = %String::from_utf8_lossy(&done), "note already created; skipped");
                    return Ok(None);
                }
                let id = self.resolve_contact(plan, location, contact_id).await?;
                self.wait_budget(location, &plan.location_id).await;
                let resp = self.ghl.create_note(&location.token, &id, body).await?;
                // A crash between the create and this write could repeat the note once; the
                // full step ledger (issue 7) closes that window with a lookup.
                ledger
                    .put(&entry, resp.body.note.id.clone().into())
                    .await
                    .map_err(StepError::transient)?;
                tracing::info!(key, note_id = %resp.body.note.id, "note created");
                Ok(Some(resp.status))
            }
            other => Err(StepError::Unsupported(format!(
                "step {} is not supported by this writer version ({})",
                other.action(),
                env!("CARGO_PKG_VERSION")
            ))),
        }
    }

    async fn step_ledger(&self) -> Result<&jetstream::kv::Store, StepError> {
        self.steps
            .get_or_try_init(|| self.nats.ensure_bucket(Bucket::Steps, self.replicas))
            .await
            .map_err(StepError::transient)
    }

    /// The contact the plan is about: from an earlier step, or looked up by email/phone.
    async fn resolve_contact(
        &self,
        plan: &ContactPlan,
        location: &Location,
        contact_id: &mut Option<String>,
    ) -> Result<String, StepError> {
        if let Some(id) = contact_id {
            return Ok(id.clone());
        }
        let f = &plan.contact.fields;
        if f.email.is_none() && f.phone.is_none() {
            return Err(StepError::Invalid(
                "the plan does not say which contact (no email or phone)".into(),
            ));
        }
        self.wait_budget(location, &plan.location_id).await;
        let resp = self
            .ghl
            .find_duplicate(
                &location.token,
                plan.location_id.as_str(),
                f.email.as_deref(),
                f.phone.as_deref(),
            )
            .await?;
        let id = resp.body.contact.map(|c| c.id).ok_or_else(|| {
            StepError::Invalid("no contact matches the plan's email/phone".into())
        })?;
        *contact_id = Some(id.clone());
        Ok(id)
    }

    async fn wait_budget(&self, location: &Location, id: &Token) {
        let waited = location.budget.acquire().await;
        if !waited.is_zero() {
            metrics::histogram!("relay_writer_budget_wait_seconds").record(waited.as_secs_f64());
            tracing::debug!(location = %id, waited = ?waited, "waited for rate budget");
        }
    }

    async fn publish_result(&self, plan: &ContactPlan, result: PlanResult) {
        let subject = self.nats.ns.result(&plan.location_id, result.outcome);
        let payload = match serde_json::to_vec(&result) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error.message = %e, "cannot encode result");
                return;
            }
        };
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::CONTENT_TYPE, "application/json");
        let msg_id = format!("{}:{}:{}", plan.id, result.delivery, result.outcome);
        if let Err(e) = self
            .nats
            .publish(subject, Some(&msg_id), h, payload.into())
            .await
        {
            // The audit record is best effort; the plan's own fate is settled by ack/nak.
            tracing::warn!(error.message = %e, "cannot publish result");
        }
    }
}

fn upsert_body(location_id: &str, f: &ContactFields) -> UpsertContact {
    UpsertContact {
        location_id: location_id.to_owned(),
        first_name: f.first_name.clone(),
        last_name: f.last_name.clone(),
        name: f.name.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        address1: f.address1.clone(),
        city: f.city.clone(),
        state: f.state.clone(),
        postal_code: f.postal_code.clone(),
        website: f.website.clone(),
        timezone: f.timezone.clone(),
        country: f.country.clone(),
        company_name: f.company_name.clone(),
        source: f.source.clone(),
        tags: None,
        custom_fields: Vec::new(),
    }
}

impl Handler for WriterHandler {
    async fn handle(&self, msg: &jetstream::Message) -> Result<(), HandlerError> {
        let plan = ContactPlan::decode(&msg.payload).map_err(HandlerError::permanent)?;
        let delivery = msg.info().map(|i| i.delivered).unwrap_or(1).max(0) as u64;
        let Some(location) = self.locations.get(&plan.location_id) else {
            return Err(HandlerError::permanent(format!(
                "location {} is not configured in the writer (no credentials)",
                plan.location_id
            )));
        };
        let mut steps = Vec::with_capacity(plan.steps.len());
        let applied = self.apply(&plan, location, &mut steps).await;
        let (outcome, contact_id, error, verdict) = match applied {
            Ok(id) => (Outcome::Ok, id, None, Ok(())),
            Err(e) => {
                let verdict = e.into_handler_error();
                let outcome = match &verdict {
                    HandlerError::Transient { .. } => Outcome::Failed,
                    HandlerError::Permanent(_) => Outcome::DeadLettered,
                };
                (outcome, None, Some(verdict.to_string()), Err(verdict))
            }
        };
        metrics::counter!("relay_writer_plans_total", "outcome" => outcome.as_str()).increment(1);
        let result = PlanResult {
            v: V1,
            plan_id: plan.id.clone(),
            source_event_id: plan.source_event_id.clone(),
            location_id: plan.location_id.clone(),
            connection: plan.connection.clone(),
            outcome,
            contact_id,
            steps,
            error,
            trace_id: relay_common::telemetry::current_trace_id(),
            delivery,
            finished_at: time::OffsetDateTime::now_utc(),
        };
        self.publish_result(&plan, result).await;
        verdict
    }
}

/// The writer service: a worker over `COMMANDS`.
pub struct WriterServer {
    worker: Worker,
    cfg: WriterConfig,
}

impl WriterServer {
    pub async fn from_config(cfg: WriterConfig, log: LogControl) -> anyhow::Result<Self> {
        let worker = Worker::connect("writer", &cfg.nats, &cfg.admin, log).await?;
        worker
            .admin_state()
            .set_detail("ghl", cfg.ghl.base_url.to_string());
        worker.admin_state().set_detail(
            "locations",
            cfg.locations
                .keys()
                .map(Token::as_str)
                .collect::<Vec<_>>()
                .join(","),
        );
        Ok(Self { worker, cfg })
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.worker.admin_addr()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let handler = Arc::new(WriterHandler::new(self.worker.nats().clone(), &self.cfg)?);
        let ns = self.worker.nats().ns.clone();
        let spec = WorkerSpec {
            stage: "writer",
            stream: StreamKind::Commands,
            consumer: ns.writer_consumer(self.cfg.consumer.max_deliver, self.cfg.consumer.ack_wait),
            settings: ConsumerSettings::from(&self.cfg.consumer),
        };
        self.worker.run(handler, spec, shutdown).await
    }
}

/// A step key as a KV key: keys are templates users write, KV keys allow `[A-Za-z0-9_=.-]`.
fn ledger_key(key: &str) -> String {
    use sha2::Digest as _;
    let safe = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '='));
    if safe && !key.is_empty() && key.len() <= 200 {
        key.to_owned()
    } else {
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    }
}
