//! The consumer loop: pull from a durable consumer, run a handler with a concurrency limit, and
//! settle each message by the handler's verdict:
//!
//! - `Ok` → ack;
//! - transient error → NAK with exponential backoff, until `max_deliver`;
//! - permanent error, or a transient one on the last delivery → publish to the DLQ with the
//!   reason and the original headers, then TERM. If the DLQ publish fails the message is NAKed,
//!   so nothing is ever dropped.
//!
//! Pausing stops pulling (messages stay in the stream); in-flight handlers finish. Cancelling
//! stops pulling and waits for in-flight handlers.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use futures::StreamExt;
use relay_contracts::{StreamKind, headers};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::nats::Nats;

/// A handler's verdict on a message it could not process.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Try again later (dependency down, rate limited, timeout). `retry_after` overrides the
    /// consumer's backoff when the cause knows better (a 429's window).
    #[error("{reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will never succeed (malformed, unsupported version, refused by the target).
    #[error("{0}")]
    Permanent(String),
}

impl HandlerError {
    pub fn transient(reason: impl std::fmt::Display) -> Self {
        HandlerError::Transient {
            reason: reason.to_string(),
            retry_after: None,
        }
    }

    pub fn permanent(reason: impl std::fmt::Display) -> Self {
        HandlerError::Permanent(reason.to_string())
    }
}

/// What a consumer does with each message.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        msg: &jetstream::Message,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Loop settings.
#[derive(Clone, Debug)]
pub struct ConsumerSettings {
    /// Handlers running at once (also the pull batch size).
    pub concurrency: usize,
    pub max_deliver: i64,
    pub ack_wait: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            max_deliver: 10,
            ack_wait: Duration::from_secs(30),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
        }
    }
}

impl ConsumerSettings {
    /// Delay before the next delivery after `delivered` attempts: base·2^(n-1), capped, with
    /// ±20 % jitter so retries of a burst spread out.
    pub fn backoff(&self, delivered: i64) -> Duration {
        let exp = u32::try_from(delivered.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
        let raw = self
            .backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max);
        let jitter = 0.8 + 0.4 * fastrand::f64();
        raw.mul_f64(jitter).min(self.backoff_max)
    }
}

/// Pause switch shared by a service's consumers and its admin API.
///
/// Pausing is acknowledged: [`PauseControl::pause`] returns once every consumer has finished
/// the pull batch it had open and its in-flight messages, so after it returns nothing more is
/// processed until [`PauseControl::resume`].
#[derive(Clone, Debug)]
pub struct PauseControl {
    tx: Arc<watch::Sender<bool>>,
    /// (consumers running, consumers halted)
    halted: Arc<watch::Sender<(usize, usize)>>,
}

impl Default for PauseControl {
    fn default() -> Self {
        Self {
            tx: Arc::new(watch::channel(false).0),
            halted: Arc::new(watch::channel((0, 0)).0),
        }
    }
}

impl PauseControl {
    /// Stops consumption and waits (at most `timeout`) until every consumer has halted.
    /// Returns whether they all did in time.
    pub async fn pause(&self, timeout: Duration) -> bool {
        self.tx.send_replace(true);
        let mut rx = self.halted.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|(running, halted)| halted >= running))
            .await
            .is_ok()
    }

    pub fn resume(&self) {
        self.tx.send_replace(false);
    }

    pub fn is_paused(&self) -> bool {
        *self.tx.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Registers a unit of work that [`PauseControl::pause`] waits for (a writer lane, a
    /// partition's pull loop). It counts as halted while it waits in
    /// [`PauseMember::hold_while_paused`]; dropping it deregisters it.
    pub fn member(&self) -> PauseMember {
        self.update(1, 0);
        PauseMember {
            ctl: self.clone(),
            rx: self.subscribe(),
        }
    }

    fn update(&self, running: isize, halted: isize) {
        self.halted.send_modify(|(r, h)| {
            *r = r.saturating_add_signed(running);
            *h = h.saturating_add_signed(halted);
        });
    }
}

/// One unit of work that pausing waits for; see [`PauseControl::member`].
#[derive(Debug)]
pub struct PauseMember {
    ctl: PauseControl,
    rx: watch::Receiver<bool>,
}

impl PauseMember {
    pub fn is_paused(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when the pause switch flips (either way); a member waiting for work selects on
    /// this so that an idle member still halts promptly.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Returns at once when not paused; otherwise reports this member halted and waits until
    /// resumed. Returns `false` when `cancel` fired while waiting.
    pub async fn hold_while_paused(&mut self, cancel: &CancellationToken) -> bool {
        if !*self.rx.borrow_and_update() {
            return true;
        }
        self.ctl.update(0, 1);
        let mut resumed = true;
        while *self.rx.borrow_and_update() {
            tokio::select! {
                () = cancel.cancelled() => { resumed = false; break }
                r = self.rx.changed() => if r.is_err() { resumed = false; break },
            }
        }
        self.ctl.update(0, -1);
        resumed
    }
}

impl Drop for PauseMember {
    fn drop(&mut self) {
        self.ctl.update(-1, 0);
    }
}

/// Counters one consumer keeps, for the admin status.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    pub acked: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
}

/// What the admin API needs to report a consumer: its identity, counters and a way to ask the
/// server for its lag.
#[derive(Clone)]
pub struct ConsumerProbe {
    pub stream: String,
    pub name: String,
    pub stats: Arc<ConsumerStats>,
    consumer: PullConsumer,
}

/// Lag as the server sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsumerLag {
    pub pending: u64,
    pub ack_pending: u64,
    pub redelivered: u64,
}

impl ConsumerProbe {
    /// A probe for a consumer that is not run by [`Consumer`] (the writer's partitions).
    pub fn new(stream: String, consumer: PullConsumer, stats: Arc<ConsumerStats>) -> Self {
        Self {
            stream,
            name: consumer.cached_info().name.clone(),
            stats,
            consumer,
        }
    }

    pub async fn lag(&self) -> Result<ConsumerLag, String> {
        let mut c = self.consumer.clone();
        let info = c.info().await.map_err(|e| e.to_string())?;
        Ok(ConsumerLag {
            pending: info.num_pending,
            ack_pending: info.num_ack_pending as u64,
            redelivered: info.num_redelivered as u64,
        })
    }
}

/// A running pull consumer.
pub struct Consumer<H> {
    nats: Nats,
    /// Stage name for spans, metrics and DLQ subjects (`mapper`, `writer`).
    stage: &'static str,
    consumer: PullConsumer,
    stream: StreamKind,
    handler: Arc<H>,
    settings: ConsumerSettings,
    pause: PauseControl,
    stats: Arc<ConsumerStats>,
}

impl<H: Handler> Consumer<H> {
    pub fn new(
        nats: Nats,
        stage: &'static str,
        stream: StreamKind,
        consumer: PullConsumer,
        handler: Arc<H>,
        settings: ConsumerSettings,
        pause: PauseControl,
    ) -> Self {
        Self {
            nats,
            stage,
            consumer,
            stream,
            handler,
            settings,
            pause,
            stats: Arc::default(),
        }
    }

    pub fn probe(&self) -> ConsumerProbe {
        ConsumerProbe {
            stream: self.nats.ns.stream_name(self.stream),
            name: self.consumer.cached_info().name.clone(),
            stats: self.stats.clone(),
            consumer: self.consumer.clone(),
        }
    }

    /// Pulls and handles messages until `cancel` fires, then waits for in-flight handlers.
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        let limit = Arc::new(Semaphore::new(this.settings.concurrency.max(1)));
        let tracker = TaskTracker::new();
        let mut paused = this.pause.subscribe();
        let permits = u32::try_from(this.settings.concurrency.max(1)).unwrap_or(u32::MAX);
        this.pause.update(1, 0);

        'outer: loop {
            // Paused: let in-flight messages finish, report halted, and hold here without
            // pulling. Whatever is in the stream stays there.
            if *paused.borrow_and_update() {
                let all = limit.clone().acquire_many_owned(permits).await;
                drop(all);
                this.pause.update(0, 1);
                while *paused.borrow_and_update() {
                    tokio::select! {
                        () = cancel.cancelled() => { this.pause.update(0, -1); break 'outer }
                        r = paused.changed() => if r.is_err() { this.pause.update(0, -1); break 'outer },
                    }
                }
                this.pause.update(0, -1);
            }
            if cancel.is_cancelled() {
                break;
            }
            let batch = this
                .consumer
                .batch()
                .max_messages(this.settings.concurrency.max(1))
                .expires(Duration::from_secs(1))
                .messages()
                .await;
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(stage = this.stage, error.message = %e, "pull request failed; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    () = cancel.cancelled() => break 'outer,
                    next = batch.next() => next,
                };
                let Some(item) = next else { break };
                let msg = match item {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(stage = this.stage, error.message = %e, "pull batch ended with an error");
                        break;
                    }
                };
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break 'outer;
                };
                let me = this.clone();
                tracker.spawn(async move {
                    me.process(msg).await;
                    drop(permit);
                });
            }
        }
        tracker.close();
        tracker.wait().await;
        this.pause.update(-1, 0);
        tracing::info!(stage = this.stage, "consumer stopped");
    }

    async fn process(&self, msg: jetstream::Message) {
        let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
        let span = handle_span(self.stage, &msg);
        let started = Instant::now();
        let result = self.handler.handle(&msg).instrument(span.clone()).await;
        let elapsed = started.elapsed();
        metrics::histogram!("relay_consumer_handle_seconds", "stage" => self.stage)
            .record(elapsed.as_secs_f64());

        let outcome = async {
            match result {
                Ok(()) => {
                    if let Err(e) = msg.ack().await {
                        tracing::warn!(error.message = %e, "ack failed; the message will be redelivered");
                    }
                    self.stats.acked.fetch_add(1, Ordering::Relaxed);
                    "ok"
                }
                Err(HandlerError::Transient { reason, retry_after })
                    if delivered < self.settings.max_deliver =>
                {
                    let delay = retry_after
                        .map(|d| d.min(self.settings.backoff_max))
                        .unwrap_or_else(|| self.settings.backoff(delivered));
                    tracing::warn!(reason = %reason, delivery = delivered, retry_in = ?delay, "transient failure; will retry");
                    if let Err(e) = msg.ack_with(AckKind::Nak(Some(delay))).await {
                        tracing::warn!(error.message = %e, "nak failed; the message will be redelivered after ack_wait");
                    }
                    self.stats.retried.fetch_add(1, Ordering::Relaxed);
                    "retried"
                }
                Err(e) => {
                    let reason = match &e {
                        HandlerError::Transient { reason, .. } => {
                            format!("gave up after {delivered} deliveries: {reason}")
                        }
                        HandlerError::Permanent(reason) => reason.clone(),
                    };
                    let dead = dead_letter(&self.nats, self.stage, self.stream, &msg, &reason, delivered).await;
                    if dead {
                        self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                        "dead_lettered"
                    } else {
                        let _ = msg
                            .ack_with(AckKind::Nak(Some(self.settings.backoff_max)))
                            .await;
                        self.stats.retried.fetch_add(1, Ordering::Relaxed);
                        "retried"
                    }
                }
            }
        }
        .instrument(span.clone())
        .await;
        span.record("outcome", outcome);
        metrics::counter!("relay_consumer_messages_total", "stage" => self.stage, "outcome" => outcome).increment(1);
    }
}

/// The span a stage handles one message in: a consumer span whose parent is the trace context
/// the message carries. `outcome` is left for the caller to record.
pub fn handle_span(stage: &'static str, msg: &jetstream::Message) -> tracing::Span {
    let (delivered, seq) = msg
        .info()
        .map(|i| (i.delivered, i.stream_sequence))
        .unwrap_or((1, 0));
    let span = tracing::info_span!(
        "consumer.handle",
        otel.name = %format!("{stage}.handle"),
        otel.kind = "consumer",
        messaging.system = "nats",
        messaging.destination.name = %msg.subject,
        messaging.message.delivery = delivered,
        messaging.stream.sequence = seq,
        outcome = tracing::field::Empty,
    );
    crate::propagation::set_parent_from_nats(&span, msg.headers.as_ref());
    span
}

/// Publishes `msg` to the DLQ with the reason and its original headers, then TERMs it.
/// Returns `false` when the DLQ publish failed: the caller must not settle the message as done
/// (NAK it or keep it) so nothing is lost.
pub async fn dead_letter(
    nats: &Nats,
    stage: &'static str,
    stream: StreamKind,
    msg: &jetstream::Message,
    reason: &str,
    attempts: i64,
) -> bool {
    tracing::error!(reason = %reason, subject = %msg.subject, "dead-lettering message");
    let mut headers = msg.headers.clone().unwrap_or_default();
    headers.insert(headers::DLQ_REASON, sanitize_header(reason).as_str());
    headers.insert(headers::DLQ_STAGE, stage);
    headers.insert(headers::DLQ_SUBJECT, msg.subject.as_str());
    headers.insert(headers::DLQ_DELIVERIES, attempts.to_string().as_str());
    let seq = msg.info().map(|i| i.stream_sequence).unwrap_or_default();
    let dlq_id = format!("dlq:{stage}:{}:{seq}", nats.ns.stream_name(stream));
    // The original msg id must not make the DLQ think this is a duplicate of something else.
    headers.insert(headers::MSG_ID, dlq_id.as_str());
    let subject = nats.ns.dlq(stage, &msg.subject);
    match nats
        .publish(subject, Some(&dlq_id), headers, msg.payload.clone())
        .await
    {
        Ok(_) => {
            if let Err(e) = msg.ack_with(AckKind::Term).await {
                tracing::warn!(error.message = %e, "term failed after dead-lettering; a redelivery will dead-letter it again (deduped)");
            }
            true
        }
        Err(e) => {
            tracing::error!(error.message = %e, "dead-letter publish failed; the message is kept so it is not lost");
            false
        }
    }
}

/// Header values cannot hold line breaks; keep reasons on one line and bounded.
fn sanitize_header(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let s = ConsumerSettings {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            ..Default::default()
        };
        let d1 = s.backoff(1);
        assert!(
            d1 >= Duration::from_millis(80) && d1 <= Duration::from_millis(120),
            "{d1:?}"
        );
        let d3 = s.backoff(3);
        assert!(
            d3 >= Duration::from_millis(320) && d3 <= Duration::from_millis(480),
            "{d3:?}"
        );
        assert!(s.backoff(40) <= Duration::from_secs(2));
    }

    #[test]
    fn header_reasons_are_one_line() {
        assert_eq!(sanitize_header("a\nb\r\nc"), "a b  c");
    }
}
