//! Applying one plan: its steps in order, each GHL request out of the location's budget with
//! its credentials, effects recorded in the step ledger, the outcome published to `RESULTS`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use relay_common::lease::Leases;
use relay_common::nats::Nats;
use relay_contracts::plan::{ContactFields, ContactPlan, Step};
use relay_contracts::result::{Outcome, PlanResult, StepResult};
use relay_contracts::version::V1;
use relay_contracts::{Token, headers};
use relay_ghl::types::{CustomFieldInput, UpsertContact};
use relay_ghl::{GhlClient, GhlError, Response};
use secrecy::SecretString;
use tokio::sync::{Mutex, Semaphore};
use tracing::Instrument;

use crate::auth::{Auth, AuthError};
use crate::contacts::{ContactIds, Identity};
use crate::ledger::{Entry, Kind, Ledger, State};
use crate::ratelimit::Budget;

/// What the lane does with a plan after an attempt.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Applied (or every effect was already there): acknowledge.
    Done,
    /// Try again after `delay` (or the lane's backoff), and not before `floor`.
    Retry {
        delay: Option<Duration>,
        /// A contact not found may be GHL's search index lagging a create by seconds: retrying
        /// sooner than that only spends the attempts.
        floor: Duration,
        reason: String,
    },
    /// The location cannot be driven now (credentials); wait until it can, without counting
    /// an attempt.
    Wait { reason: String },
    /// Never going to work: dead-letter with the reason.
    Dead(String),
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    #[error(transparent)]
    Ghl(#[from] GhlError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// KV (ledger, caches) unavailable.
    #[error("{0}")]
    Broker(String),
    /// The contact is not (yet) found: GHL's search index may lag behind a create.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl StepError {
    fn verdict(self) -> Verdict {
        match self {
            StepError::Ghl(e) if e.is_transient() => Verdict::Retry {
                delay: e.retry_after(),
                floor: Duration::ZERO,
                reason: e.to_string(),
            },
            StepError::Ghl(e) => Verdict::Dead(e.to_string()),
            StepError::Auth(AuthError::Paused(reason)) => Verdict::Wait { reason },
            StepError::Auth(AuthError::Unavailable(reason)) | StepError::Broker(reason) => {
                Verdict::Retry {
                    delay: None,
                    floor: Duration::ZERO,
                    reason,
                }
            }
            StepError::Auth(e @ AuthError::NotConfigured(_)) => Verdict::Dead(e.to_string()),
            StepError::NotFound(reason) => Verdict::Retry {
                delay: None,
                floor: INDEX_LAG_RETRY,
                reason,
            },
            StepError::Invalid(reason) => Verdict::Dead(reason),
        }
    }

    fn status(&self) -> Option<u16> {
        match self {
            StepError::Ghl(e) => e.status(),
            _ => None,
        }
    }
}

/// A location the writer drives.
pub(crate) struct Location {
    pub(crate) budget: Budget,
    /// `settings.allowDuplicateContact`, read once an hour.
    allow_duplicates: Mutex<Option<(Instant, bool)>>,
}

impl Location {
    pub(crate) fn new(budget: Budget) -> Self {
        Self {
            budget,
            allow_duplicates: Mutex::new(None),
        }
    }
}

/// Applies plans. Shared by every lane of every partition of this replica.
pub(crate) struct Processor {
    nats: Nats,
    ghl: GhlClient,
    pub(crate) auth: Arc<Auth>,
    pub(crate) locations: HashMap<Token, Arc<Location>>,
    ledger: Ledger,
    contacts: ContactIds,
    /// GHL requests in flight at once (sockets), across locations.
    http: Semaphore,
    leases: OnceLock<Leases>,
}

/// The state of one attempt at one plan.
struct Run<'a> {
    plan: &'a ContactPlan,
    location: &'a Location,
    ids: Vec<Identity>,
    contact: Option<String>,
    /// The contact id came from the cache (it may be stale).
    cached: bool,
    created: Option<bool>,
}

/// What a step did.
#[derive(Default)]
struct Done {
    status: Option<u16>,
    id: Option<String>,
    skipped: Option<String>,
    /// Stop the plan here (find_contact found nobody): the remaining steps are skipped.
    stop: bool,
}

impl Done {
    fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    fn with_id(status: u16, id: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            id: Some(id.into()),
            ..Self::default()
        }
    }

    fn skipped(why: impl Into<String>) -> Self {
        Self {
            skipped: Some(why.into()),
            ..Self::default()
        }
    }
}

const LOCATION_SETTINGS_TTL: Duration = Duration::from_secs(3600);
/// Least wait before looking a missing contact up again (GHL's search index lags writes).
const INDEX_LAG_RETRY: Duration = Duration::from_secs(2);

impl Processor {
    pub(crate) fn new(
        nats: Nats,
        ghl: GhlClient,
        auth: Arc<Auth>,
        locations: HashMap<Token, Arc<Location>>,
        replicas: usize,
        max_in_flight: usize,
    ) -> Self {
        Self {
            ledger: Ledger::new(nats.clone(), replicas),
            contacts: ContactIds::new(nats.clone(), replicas),
            nats,
            ghl,
            auth,
            locations,
            http: Semaphore::new(max_in_flight.max(1)),
            leases: OnceLock::new(),
        }
    }

    pub(crate) fn set_leases(&self, leases: Leases) {
        let _ = self.leases.set(leases);
    }

    pub(crate) fn leases(&self) -> Option<&Leases> {
        self.leases.get()
    }

    /// Resolves when the location's credentials work again.
    pub(crate) async fn wait_usable(&self, location: &str) {
        match Token::parse(location) {
            Ok(t) => self.auth.wait_resumed(&t).await,
            Err(_) => std::future::pending().await,
        }
    }

    /// One attempt at the plan in `msg`.
    pub(crate) async fn handle(
        &self,
        msg: &jetstream::Message,
        attempt: i64,
        last: bool,
    ) -> Verdict {
        let span = relay_common::consumer::handle_span("writer", msg);
        let verdict = self
            .attempt(msg, attempt, last)
            .instrument(span.clone())
            .await;
        let outcome = match &verdict {
            Verdict::Done => "ok",
            Verdict::Retry { .. } if !last => "retried",
            Verdict::Wait { .. } => "waiting",
            _ => "dead_lettered",
        };
        span.record("outcome", outcome);
        metrics::counter!("relay_writer_plans_total", "outcome" => outcome).increment(1);
        verdict
    }

    async fn attempt(&self, msg: &jetstream::Message, attempt: i64, last: bool) -> Verdict {
        let plan = match ContactPlan::decode(&msg.payload) {
            Ok(p) => p,
            Err(e) => return Verdict::Dead(format!("undecodable plan: {e}")),
        };
        let Some(location) = self.locations.get(&plan.location_id) else {
            return Verdict::Dead(format!(
                "location {} is not configured in the writer (no credentials)",
                plan.location_id
            ));
        };
        let started = Instant::now();
        let mut run = Run {
            plan: &plan,
            location,
            ids: Identity::of(&plan.contact),
            contact: None,
            cached: false,
            created: None,
        };
        let mut steps = Vec::with_capacity(plan.steps.len());
        let mut failure = None;
        let mut stopped = false;
        for (index, step) in plan.steps.iter().enumerate() {
            let step_started = Instant::now();
            let latency = |t: Instant| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
            if stopped {
                steps.push(StepResult {
                    action: step.action().to_owned(),
                    ok: true,
                    status: None,
                    latency_ms: 0,
                    id: None,
                    skipped: Some("an earlier find_contact found no contact".into()),
                    error: None,
                });
                continue;
            }
            match self.step(&mut run, index, step).await {
                Ok(done) => {
                    stopped = done.stop;
                    steps.push(StepResult {
                        action: step.action().to_owned(),
                        ok: true,
                        status: done.status,
                        latency_ms: latency(step_started),
                        id: done.id,
                        skipped: done.skipped,
                        error: None,
                    });
                }
                Err(e) => {
                    steps.push(StepResult {
                        action: step.action().to_owned(),
                        ok: false,
                        status: e.status(),
                        latency_ms: latency(step_started),
                        id: None,
                        skipped: None,
                        error: Some(e.to_string()),
                    });
                    failure = Some(e);
                    break;
                }
            }
        }
        let (verdict, error) = match failure {
            None => (Verdict::Done, None),
            Some(e) => {
                let text = e.to_string();
                (e.verdict(), Some(text))
            }
        };
        let outcome = match &verdict {
            Verdict::Done => Outcome::Ok,
            Verdict::Retry { .. } if !last => Outcome::Failed,
            Verdict::Wait { .. } => Outcome::Failed,
            _ => Outcome::DeadLettered,
        };
        let result = PlanResult {
            v: V1,
            plan_id: plan.id.clone(),
            source_event_id: plan.source_event_id.clone(),
            location_id: plan.location_id.clone(),
            connection: plan.connection.clone(),
            outcome,
            contact_id: run.contact.clone(),
            contact_created: run.created,
            steps,
            error,
            trace_id: relay_common::telemetry::current_trace_id(),
            delivery: u64::try_from(attempt).unwrap_or(1),
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            finished_at: time::OffsetDateTime::now_utc(),
        };
        self.publish_result(&plan, &result).await;
        verdict
    }

    async fn step(&self, run: &mut Run<'_>, index: usize, step: &Step) -> Result<Done, StepError> {
        let plan = run.plan;
        let loc = &plan.location_id;
        let ghl = &self.ghl;
        match step {
            Step::UpsertContact => {
                let body = upsert_body(
                    loc.as_str(),
                    &plan.contact.fields,
                    &plan.contact.custom_fields,
                );
                if body.email.is_none() && body.phone.is_none() {
                    return Err(StepError::Invalid(
                        "upsert_contact needs an email or a phone".into(),
                    ));
                }
                let body = &body;
                let resp = self
                    .call(run, |t| async move { ghl.upsert_contact(&t, body).await })
                    .await?;
                let id = resp.body.contact.id.clone();
                tracing::info!(contact_id = %id, new = resp.body.new, "contact upserted");
                self.found(run, &id, Some(resp.body.new)).await;
                Ok(Done::with_id(resp.status, id))
            }
            Step::CreateContact => self.create_contact(run, index).await,
            Step::UpdateContact => {
                let id = self.contact(run).await?;
                let body = update_body(&plan.contact.fields, &plan.contact.custom_fields);
                let resp = self
                    .call(run, |t| {
                        let (id, body) = (&id, &body);
                        async move { ghl.update_contact(&t, id, body).await }
                    })
                    .await?;
                Ok(Done::with_id(resp.status, id))
            }
            Step::DeleteContact => {
                let Some(id) = self.find(run).await? else {
                    return Ok(Done::skipped("no such contact"));
                };
                let r = self
                    .call(run, |t| {
                        let id = &id;
                        async move { ghl.delete_contact(&t, id).await }
                    })
                    .await;
                self.contacts.forget(loc, &run.ids).await;
                run.contact = None;
                match r {
                    Ok(resp) => Ok(Done::with_id(resp.status, id)),
                    Err(StepError::Ghl(e)) if e.status() == Some(404) => {
                        Ok(Done::skipped("already deleted"))
                    }
                    Err(e) => Err(e),
                }
            }
            Step::FindContact => match self.find(run).await? {
                Some(id) => Ok(Done {
                    id: Some(id),
                    ..Done::default()
                }),
                None => Ok(Done {
                    skipped: Some(
                        "no contact matches; the plan's remaining steps are skipped".into(),
                    ),
                    stop: true,
                    ..Done::default()
                }),
            },
            Step::AddTags { tags } => {
                let id = self.contact(run).await?;
                let resp = self
                    .call(run, |t| {
                        let id = &id;
                        async move { ghl.add_tags(&t, id, tags).await }
                    })
                    .await?;
                Ok(Done::status(resp.status))
            }
            Step::RemoveTags { tags } => {
                let id = self.contact(run).await?;
                let resp = self
                    .call(run, |t| {
                        let id = &id;
                        async move { ghl.remove_tags(&t, id, tags).await }
                    })
                    .await?;
                Ok(Done::status(resp.status))
            }
            Step::CreateNote { key, body } => self.create_note(run, key, body).await,
            Step::UpdateNote { key, body } => {
                let Some((contact, note)) = self.object(run, Kind::Note, key).await? else {
                    return Ok(Done::skipped(format!(
                        "no note was created under key {key:?}"
                    )));
                };
                let resp = self
                    .call(run, |t| {
                        let (contact, note) = (&contact, &note);
                        async move { ghl.update_note(&t, contact, note, body).await }
                    })
                    .await?;
                Ok(Done::with_id(resp.status, note))
            }
            Step::DeleteNote { key } => {
                let Some((contact, note)) = self.object(run, Kind::Note, key).await? else {
                    return Ok(Done::skipped(format!(
                        "no note was created under key {key:?}"
                    )));
                };
                let r = self
                    .call(run, |t| {
                        let (contact, note) = (&contact, &note);
                        async move { ghl.delete_note(&t, contact, note).await }
                    })
                    .await;
                self.mark_deleted(run, Kind::Note, key, &contact, &note, r)
                    .await
            }
            Step::CreateTask {
                key,
                title,
                body,
                due_date,
                assigned_to,
            } => {
                self.create_task(
                    run,
                    key,
                    title,
                    body.as_deref(),
                    due_date,
                    assigned_to.as_deref(),
                )
                .await
            }
            Step::UpdateTask {
                key,
                title,
                body,
                due_date,
            } => {
                let Some((contact, task)) = self.object(run, Kind::Task, key).await? else {
                    return Ok(Done::skipped(format!(
                        "no task was created under key {key:?}"
                    )));
                };
                let update = relay_ghl::types::UpdateTask {
                    title: title.clone(),
                    body: body.clone(),
                    due_date: due_date.clone(),
                    ..Default::default()
                };
                let resp = self
                    .call(run, |t| {
                        let (contact, task, update) = (&contact, &task, &update);
                        async move { ghl.update_task(&t, contact, task, update).await }
                    })
                    .await?;
                Ok(Done::with_id(resp.status, task))
            }
            Step::CompleteTask { key } => {
                let Some((contact, task)) = self.object(run, Kind::Task, key).await? else {
                    return Ok(Done::skipped(format!(
                        "no task was created under key {key:?}"
                    )));
                };
                let resp = self
                    .call(run, |t| {
                        let (contact, task) = (&contact, &task);
                        async move { ghl.complete_task(&t, contact, task, true).await }
                    })
                    .await?;
                Ok(Done::with_id(resp.status, task))
            }
            Step::DeleteTask { key } => {
                let Some((contact, task)) = self.object(run, Kind::Task, key).await? else {
                    return Ok(Done::skipped(format!(
                        "no task was created under key {key:?}"
                    )));
                };
                let r = self
                    .call(run, |t| {
                        let (contact, task) = (&contact, &task);
                        async move { ghl.delete_task(&t, contact, task).await }
                    })
                    .await;
                self.mark_deleted(run, Kind::Task, key, &contact, &task, r)
                    .await
            }
            Step::AddToCampaign { campaign_id } => {
                let id = self.contact(run).await?;
                self.once(run, index, |t| {
                    let id = &id;
                    async move {
                        ghl.add_to_campaign(&t, id, campaign_id)
                            .await
                            .map(|r| r.status)
                    }
                })
                .await
            }
            Step::RemoveFromCampaign { campaign_id } => {
                let id = self.contact(run).await?;
                let resp = self
                    .call(run, |t| {
                        let id = &id;
                        async move { ghl.remove_from_campaign(&t, id, campaign_id).await }
                    })
                    .await?;
                Ok(Done::status(resp.status))
            }
            Step::RemoveFromAllCampaigns => {
                let id = self.contact(run).await?;
                let resp = self
                    .call(run, |t| {
                        let id = &id;
                        async move { ghl.remove_from_all_campaigns(&t, id).await }
                    })
                    .await?;
                Ok(Done::status(resp.status))
            }
            Step::AddToWorkflow {
                workflow_id,
                event_start_time,
            } => {
                let id = self.contact(run).await?;
                self.once(run, index, |t| {
                    let id = &id;
                    async move {
                        ghl.add_to_workflow(&t, id, workflow_id, event_start_time.as_deref())
                            .await
                            .map(|r| r.status)
                    }
                })
                .await
            }
            Step::RemoveFromWorkflow { workflow_id } => {
                let id = self.contact(run).await?;
                let resp = self
                    .call(run, |t| {
                        let id = &id;
                        async move { ghl.remove_from_workflow(&t, id, workflow_id).await }
                    })
                    .await?;
                Ok(Done::status(resp.status))
            }
            Step::AddFollowers { followers } => {
                let id = self.contact(run).await?;
                let resp = self
                    .call(run, |t| {
                        let id = &id;
                        async move { ghl.add_followers(&t, id, followers).await }
                    })
                    .await?;
                Ok(Done::status(resp.status))
            }
            Step::RemoveFollowers { followers } => {
                let id = self.contact(run).await?;
                let resp = self
                    .call(run, |t| {
                        let id = &id;
                        async move { ghl.remove_followers(&t, id, followers).await }
                    })
                    .await?;
                Ok(Done::status(resp.status))
            }
        }
    }

    /// One GHL request: credentials, the location's budget, a socket permit; adapts the budget
    /// to the answer's rate-limit headers and 429s; on a 401 asks auth for a fresh token and
    /// retries once.
    async fn call<T, F, Fut>(&self, run: &Run<'_>, f: F) -> Result<Response<T>, StepError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<Response<T>, GhlError>>,
    {
        let location = &run.plan.location_id;
        let mut token = self.auth.token(location).await?;
        let mut renewed = false;
        loop {
            let waited = run.location.budget.acquire().await;
            if !waited.is_zero() {
                metrics::histogram!("relay_writer_budget_wait_seconds")
                    .record(waited.as_secs_f64());
            }
            let permit = self
                .http
                .acquire()
                .await
                .map_err(|e| StepError::Broker(e.to_string()))?;
            let result = f(token.clone()).await;
            drop(permit);
            match result {
                Ok(resp) => {
                    run.location.budget.observe(&resp.rate_limit);
                    return Ok(resp);
                }
                Err(e) => {
                    if let Some(info) = e.rate_limit() {
                        run.location.budget.observe(&info);
                    }
                    if e.is_rate_limited() {
                        metrics::counter!("relay_writer_throttled_total").increment(1);
                        tracing::warn!(location = %location, "GHL answered 429; slowing this location");
                        run.location.budget.throttled(e.retry_after());
                    }
                    if e.is_unauthorized() && !renewed {
                        renewed = true;
                        token = self.auth.rejected(location, &token).await?;
                        continue;
                    }
                    return Err(e.into());
                }
            }
        }
    }

    /// The plan's contact, which must exist.
    async fn contact(&self, run: &mut Run<'_>) -> Result<String, StepError> {
        match self.find(run).await? {
            Some(id) => Ok(id),
            None => Err(StepError::NotFound(format!(
                "no contact in location {} matches the plan ({})",
                run.plan.location_id,
                describe(&run.ids)
            ))),
        }
    }

    /// The plan's contact, if it exists: from an earlier step, the id cache, or GHL.
    async fn find(&self, run: &mut Run<'_>) -> Result<Option<String>, StepError> {
        if let Some(id) = &run.contact {
            return Ok(Some(id.clone()));
        }
        if run.ids.is_empty() {
            return Err(StepError::Invalid(
                "the plan does not say which contact (no id, email, phone or external id)".into(),
            ));
        }
        if let Some(id) = self.contacts.get(&run.plan.location_id, &run.ids).await {
            run.contact = Some(id.clone());
            run.cached = !matches!(run.ids.first(), Some(Identity::Id(_)));
            return Ok(Some(id));
        }
        let found = self.lookup(run).await?;
        if let Some(id) = &found {
            self.found(run, id, None).await;
        }
        Ok(found)
    }

    /// Asks GHL who the plan's contact is.
    async fn lookup(&self, run: &Run<'_>) -> Result<Option<String>, StepError> {
        let ghl = &self.ghl;
        let loc = run.plan.location_id.as_str();
        let (mut email, mut phone, mut external) = (None, None, None);
        for id in &run.ids {
            match id {
                Identity::Id(v) => return Ok(Some(v.clone())),
                Identity::Email(e) => email = Some(e.as_str()),
                Identity::Phone(p) => phone = Some(p.as_str()),
                Identity::External { field_key, value } => external = Some((field_key, value)),
            }
        }
        if let Some((field, value)) = external {
            let resp = self
                .call(run, |t| async move {
                    ghl.find_by_custom_field(&t, loc, field, value).await
                })
                .await?;
            return Ok(resp.body);
        }
        let resp = self
            .call(run, |t| async move {
                ghl.find_duplicate(&t, loc, email, phone).await
            })
            .await?;
        Ok(resp.body.contact.map(|c| c.id))
    }

    async fn found(&self, run: &mut Run<'_>, id: &str, created: Option<bool>) {
        run.contact = Some(id.to_owned());
        run.cached = false;
        if created.is_some() {
            run.created = created;
        }
        self.contacts.put(&run.plan.location_id, &run.ids, id).await;
    }

    async fn create_contact(&self, run: &mut Run<'_>, index: usize) -> Result<Done, StepError> {
        let plan = run.plan;
        let key = Ledger::key(
            &plan.location_id,
            Kind::Contact,
            &format!("{}-{index}", plan.id),
        );
        let entry = self.ledger.get(&key).await.map_err(StepError::Broker)?;
        if let Some(Entry {
            state: State::Done,
            id: Some(id),
            ..
        }) = &entry
        {
            self.found(run, id, None).await;
            return Ok(Done {
                id: Some(id.clone()),
                skipped: Some("already created".into()),
                ..Done::default()
            });
        }
        // Where duplicates are allowed GHL would create a second contact, so look first; the
        // same after an attempt whose outcome is unknown (pending).
        if (entry.is_some() || self.allows_duplicates(run).await?)
            && let Some(id) = self.find(run).await?
        {
            self.record(&key, State::Done, Some(&id), Some(&id), plan)
                .await?;
            run.created = Some(false);
            return Ok(Done {
                id: Some(id),
                skipped: Some("the contact exists".into()),
                ..Done::default()
            });
        }
        self.record(&key, State::Pending, None, None, plan).await?;
        let body = create_body(
            plan.location_id.as_str(),
            &plan.contact.fields,
            &plan.contact.custom_fields,
        );
        let ghl = &self.ghl;
        let (id, status, created) = match self
            .call(run, |t| {
                let body = &body;
                async move { ghl.create_contact(&t, body).await }
            })
            .await
        {
            Ok(resp) => (resp.body.contact.id.clone(), resp.status, true),
            // "This location does not allow duplicated contacts." names the existing one.
            Err(StepError::Ghl(e)) if e.duplicate_contact_id().is_some() => {
                let id = e.duplicate_contact_id().unwrap_or_default().to_owned();
                (id, e.status().unwrap_or(400), false)
            }
            Err(e) => return Err(e),
        };
        self.record(&key, State::Done, Some(&id), Some(&id), plan)
            .await?;
        self.found(run, &id, Some(created)).await;
        Ok(Done::with_id(status, id))
    }

    async fn allows_duplicates(&self, run: &Run<'_>) -> Result<bool, StepError> {
        let mut cached = run.location.allow_duplicates.lock().await;
        if let Some((at, allow)) = *cached
            && at.elapsed() < LOCATION_SETTINGS_TTL
        {
            return Ok(allow);
        }
        let ghl = &self.ghl;
        let loc = run.plan.location_id.as_str();
        let resp = self
            .call(run, |t| async move { ghl.get_location(&t, loc).await })
            .await?;
        let allow = resp
            .body
            .location
            .settings
            .allow_duplicate_contact
            .unwrap_or(false);
        *cached = Some((Instant::now(), allow));
        Ok(allow)
    }

    async fn create_note(
        &self,
        run: &mut Run<'_>,
        key: &str,
        body: &str,
    ) -> Result<Done, StepError> {
        let plan = run.plan;
        let lkey = Ledger::key(&plan.location_id, Kind::Note, key);
        let entry = self.ledger.get(&lkey).await.map_err(StepError::Broker)?;
        if let Some(
            e @ Entry {
                state: State::Done | State::Deleted,
                ..
            },
        ) = &entry
        {
            return Ok(Done {
                id: e.id.clone(),
                skipped: Some("already created".into()),
                ..Done::default()
            });
        }
        let contact = self.contact(run).await?;
        let ghl = &self.ghl;
        if entry.is_some() {
            // An earlier attempt may have created it without recording it: look for the note.
            let notes = self
                .call(run, |t| {
                    let contact = &contact;
                    async move { ghl.list_notes(&t, contact).await }
                })
                .await?;
            if let Some(n) = notes
                .body
                .notes
                .iter()
                .find(|n| n.body.as_deref() == Some(body))
            {
                let id = n.id.clone();
                self.record(&lkey, State::Done, Some(&id), Some(&contact), plan)
                    .await?;
                return Ok(Done {
                    id: Some(id),
                    skipped: Some("created by an earlier attempt".into()),
                    ..Done::default()
                });
            }
        }
        self.record(&lkey, State::Pending, None, Some(&contact), plan)
            .await?;
        let resp = self
            .call(run, |t| {
                let contact = &contact;
                async move { ghl.create_note(&t, contact, body).await }
            })
            .await?;
        let id = resp.body.note.id.clone();
        self.record(&lkey, State::Done, Some(&id), Some(&contact), plan)
            .await?;
        tracing::info!(key, note_id = %id, "note created");
        Ok(Done::with_id(resp.status, id))
    }

    async fn create_task(
        &self,
        run: &mut Run<'_>,
        key: &str,
        title: &str,
        body: Option<&str>,
        due_date: &str,
        assigned_to: Option<&str>,
    ) -> Result<Done, StepError> {
        let plan = run.plan;
        let lkey = Ledger::key(&plan.location_id, Kind::Task, key);
        let entry = self.ledger.get(&lkey).await.map_err(StepError::Broker)?;
        if let Some(
            e @ Entry {
                state: State::Done | State::Deleted,
                ..
            },
        ) = &entry
        {
            return Ok(Done {
                id: e.id.clone(),
                skipped: Some("already created".into()),
                ..Done::default()
            });
        }
        let contact = self.contact(run).await?;
        let ghl = &self.ghl;
        if entry.is_some() {
            let tasks = self
                .call(run, |t| {
                    let contact = &contact;
                    async move { ghl.list_tasks(&t, contact).await }
                })
                .await?;
            if let Some(task) = tasks.body.tasks.iter().find(|t| {
                t.title.as_deref() == Some(title) && same_instant(t.due_date.as_deref(), due_date)
            }) {
                let id = task.id.clone();
                self.record(&lkey, State::Done, Some(&id), Some(&contact), plan)
                    .await?;
                return Ok(Done {
                    id: Some(id),
                    skipped: Some("created by an earlier attempt".into()),
                    ..Done::default()
                });
            }
        }
        self.record(&lkey, State::Pending, None, Some(&contact), plan)
            .await?;
        let new = relay_ghl::types::NewTask {
            title: title.to_owned(),
            body: body.map(str::to_owned),
            due_date: due_date.to_owned(),
            completed: false,
            assigned_to: assigned_to.map(str::to_owned),
        };
        let resp = self
            .call(run, |t| {
                let (contact, new) = (&contact, &new);
                async move { ghl.create_task(&t, contact, new).await }
            })
            .await?;
        let id = resp.body.task.id.clone();
        self.record(&lkey, State::Done, Some(&id), Some(&contact), plan)
            .await?;
        tracing::info!(key, task_id = %id, "task created");
        Ok(Done::with_id(resp.status, id))
    }

    /// The (contact, object) ids a rule key names, if a create step recorded one.
    async fn object(
        &self,
        run: &Run<'_>,
        kind: Kind,
        key: &str,
    ) -> Result<Option<(String, String)>, StepError> {
        let lkey = Ledger::key(&run.plan.location_id, kind, key);
        Ok(
            match self.ledger.get(&lkey).await.map_err(StepError::Broker)? {
                Some(Entry {
                    state: State::Done,
                    id: Some(id),
                    contact_id: Some(contact),
                    ..
                }) => Some((contact, id)),
                _ => None,
            },
        )
    }

    async fn mark_deleted<T>(
        &self,
        run: &Run<'_>,
        kind: Kind,
        key: &str,
        contact: &str,
        id: &str,
        r: Result<Response<T>, StepError>,
    ) -> Result<Done, StepError> {
        let status = match r {
            Ok(resp) => Some(resp.status),
            Err(StepError::Ghl(e)) if e.status() == Some(404) => None,
            Err(e) => return Err(e),
        };
        let lkey = Ledger::key(&run.plan.location_id, kind, key);
        self.record(&lkey, State::Deleted, Some(id), Some(contact), run.plan)
            .await?;
        Ok(match status {
            Some(s) => Done::with_id(s, id),
            None => Done::skipped("already deleted"),
        })
    }

    /// A step that must not be repeated and cannot be looked up (enrolments): recorded by plan
    /// and step index.
    async fn once<F, Fut>(&self, run: &Run<'_>, index: usize, f: F) -> Result<Done, StepError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<u16, GhlError>>,
    {
        let key = Ledger::key(
            &run.plan.location_id,
            Kind::Step,
            &format!("{}-{index}", run.plan.id),
        );
        if let Some(Entry {
            state: State::Done, ..
        }) = self.ledger.get(&key).await.map_err(StepError::Broker)?
        {
            return Ok(Done::skipped("already applied"));
        }
        let resp = self
            .call(run, |t| {
                let fut = f(t);
                async move {
                    fut.await.map(|status| Response {
                        body: (),
                        status,
                        rate_limit: relay_ghl::RateLimitInfo::default(),
                        latency: Duration::ZERO,
                    })
                }
            })
            .await?;
        let contact = run.contact.clone();
        self.record(
            &key,
            State::Done,
            contact.as_deref(),
            contact.as_deref(),
            run.plan,
        )
        .await?;
        Ok(Done::status(resp.status))
    }

    async fn record(
        &self,
        key: &str,
        state: State,
        id: Option<&str>,
        contact: Option<&str>,
        plan: &ContactPlan,
    ) -> Result<(), StepError> {
        self.ledger
            .put(
                key,
                &Entry {
                    state,
                    id: id.map(str::to_owned),
                    contact_id: contact.map(str::to_owned),
                    plan: plan.id.to_string(),
                },
            )
            .await
            .map_err(StepError::Broker)
    }

    async fn publish_result(&self, plan: &ContactPlan, result: &PlanResult) {
        let subject = self.nats.ns.result(&plan.location_id, result.outcome);
        let payload = match serde_json::to_vec(result) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error.message = %e, "cannot encode result");
                return;
            }
        };
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::CONTENT_TYPE, "application/json");
        relay_common::propagation::inject_nats(&mut h);
        let msg_id = format!("{}:{}:{}", plan.id, result.delivery, result.outcome);
        if let Err(e) = self
            .nats
            .publish(subject, Some(&msg_id), h, payload.into())
            .await
        {
            // The audit record is best effort; the plan's own fate is settled by the lane.
            tracing::warn!(error.message = %e, "cannot publish result");
        }
    }
}

fn describe(ids: &[Identity]) -> String {
    ids.iter()
        .map(|i| match i {
            Identity::Id(v) => format!("id {v}"),
            Identity::Email(e) => format!("email {e}"),
            Identity::Phone(p) => format!("phone {p}"),
            Identity::External { field_key, value } => format!("{field_key} = {value}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether GHL's due date is the plan's (both RFC 3339, possibly formatted differently).
fn same_instant(ghl: Option<&str>, plan: &str) -> bool {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    match (
        ghl.map(|g| OffsetDateTime::parse(g, &Rfc3339)),
        OffsetDateTime::parse(plan, &Rfc3339),
    ) {
        (Some(Ok(a)), Ok(b)) => a == b,
        _ => ghl == Some(plan),
    }
}

fn custom_fields(
    map: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Vec<CustomFieldInput> {
    map.iter()
        .map(|(k, v)| CustomFieldInput {
            id: None,
            key: Some(k.clone()),
            field_value: v.clone(),
        })
        .collect()
}

fn upsert_body(
    location_id: &str,
    f: &ContactFields,
    custom: &std::collections::BTreeMap<String, serde_json::Value>,
) -> UpsertContact {
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
        custom_fields: custom_fields(custom),
        ..Default::default()
    }
}

fn create_body(
    location_id: &str,
    f: &ContactFields,
    custom: &std::collections::BTreeMap<String, serde_json::Value>,
) -> relay_ghl::types::CreateContact {
    relay_ghl::types::CreateContact {
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
        custom_fields: custom_fields(custom),
        ..Default::default()
    }
}

fn update_body(
    f: &ContactFields,
    custom: &std::collections::BTreeMap<String, serde_json::Value>,
) -> relay_ghl::types::UpdateContact {
    relay_ghl::types::UpdateContact {
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
        // `UpdateContactDto` has no companyName (GHL answers 422 to it).
        source: f.source.clone(),
        custom_fields: custom_fields(custom),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_dates_compare_as_instants() {
        assert!(same_instant(
            Some("2026-01-01T00:00:00.000Z"),
            "2026-01-01T00:00:00Z"
        ));
        assert!(same_instant(
            Some("2026-01-01T01:00:00+01:00"),
            "2026-01-01T00:00:00Z"
        ));
        assert!(!same_instant(
            Some("2026-01-02T00:00:00Z"),
            "2026-01-01T00:00:00Z"
        ));
        assert!(!same_instant(None, "2026-01-01T00:00:00Z"));
    }
}
