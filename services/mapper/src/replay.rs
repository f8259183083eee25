//! Replay for backfills: EVENTS history (a subject filter and a time or sequence range) re-run
//! through the current rules, while live traffic keeps flowing on the durable consumer.
//!
//! A replay reads with its own ephemeral consumer (no acks), so it never disturbs the live
//! one. Plans keep their live ids (derived from the event and the rule), are published with
//! that id as `Nats-Msg-Id` and carry a `Relay-Replay` header: the broker drops a plan it saw
//! within its dedupe window, and the writer's once-only effects cover the rest.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy};
use futures::StreamExt as _;
use relay_contracts::mapper_admin::{ReplayProgress, ReplayRequest};
use relay_contracts::{StorefrontEvent, StreamKind};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;
use tracing::Instrument as _;

use crate::MapperHandler;

/// What a replay covers, checked before anything is read.
#[derive(Debug)]
pub struct ReplayRange {
    pub filter: String,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub from_seq: Option<u64>,
    pub to_seq: Option<u64>,
    pub connection: Option<String>,
    pub dry_run: bool,
}

impl ReplayRange {
    /// Validates a request; the error names the field.
    pub fn from_request(req: &ReplayRequest) -> Result<Self, String> {
        let subject = req.subject.trim();
        if subject != "evt.>" && !subject.starts_with("evt.") {
            return Err(format!(
                "subject {subject:?}: replays read EVENTS, so the filter starts with `evt.` (e.g. `evt.gumroad.>`)"
            ));
        }
        if subject.split('.').any(str::is_empty) || subject.contains(' ') {
            return Err(format!("subject {subject:?} is not a valid subject filter"));
        }
        let time = |field: &str, v: &str| -> Result<Option<OffsetDateTime>, String> {
            if v.is_empty() {
                return Ok(None);
            }
            OffsetDateTime::parse(v, &Rfc3339)
                .map(Some)
                .map_err(|e| format!("{field} {v:?} is not an RFC 3339 time: {e}"))
        };
        let (since, until) = (time("since", &req.since)?, time("until", &req.until)?);
        let seq = |v: u64| (v > 0).then_some(v);
        let (from_seq, to_seq) = (seq(req.from_seq), seq(req.to_seq));
        if (from_seq.is_some() || to_seq.is_some()) && (since.is_some() || until.is_some()) {
            return Err("give a time range or a sequence range, not both".into());
        }
        if let (Some(a), Some(b)) = (since, until)
            && a > b
        {
            return Err(format!("since ({a}) is after until ({b})"));
        }
        if let (Some(a), Some(b)) = (from_seq, to_seq)
            && a > b
        {
            return Err(format!("from_seq ({a}) is after to_seq ({b})"));
        }
        let connection = Some(req.connection.trim().to_owned()).filter(|c| !c.is_empty());
        // `evt.<source>.>` and a connection: let the broker narrow it.
        let parts: Vec<&str> = subject.split('.').collect();
        let filter = match (&connection, parts.as_slice()) {
            (Some(c), ["evt", source, ">"]) => format!("evt.{source}.{c}.>"),
            _ => subject.to_owned(),
        };
        Ok(Self {
            filter,
            since,
            until,
            from_seq,
            to_seq,
            connection,
            dry_run: req.dry_run,
        })
    }
}

/// Runs a replay, sending progress to `tx` (at most every 250 ms, and a last message with
/// `finished`). Stops early when the receiver is gone (the operator pressed Ctrl-C).
pub async fn run(
    handler: Arc<MapperHandler>,
    range: ReplayRange,
    tx: mpsc::Sender<ReplayProgress>,
) {
    let replay_id = ulid::Ulid::new().to_string();
    let span = tracing::info_span!("mapper.replay", relay.replay_id = %replay_id, subject = %range.filter, dry_run = range.dry_run);
    let mut progress = ReplayProgress {
        replay_id: replay_id.clone(),
        ..Default::default()
    };
    let result = replay(&handler, &range, &replay_id, &mut progress, &tx)
        .instrument(span.clone())
        .await;
    progress.finished = true;
    if let Err(e) = result {
        let _g = span.enter();
        tracing::warn!(error.message = %e, "replay stopped");
        progress.error = e;
    } else {
        progress.total = progress.done;
        let _g = span.enter();
        tracing::info!(
            done = progress.done,
            plans = progress.plans,
            duplicates = progress.duplicates,
            failed = progress.failed,
            "replay finished"
        );
    }
    metrics::counter!("relay_mapper_replayed_events_total").increment(progress.done);
    let _ = tx.send(progress).await;
}

async fn replay(
    handler: &MapperHandler,
    range: &ReplayRange,
    replay_id: &str,
    progress: &mut ReplayProgress,
    tx: &mpsc::Sender<ReplayProgress>,
) -> Result<(), String> {
    let nats = handler.nats();
    let stream_name = nats.ns.stream_name(StreamKind::Events);
    let mut stream = nats
        .js
        .get_stream(&stream_name)
        .await
        .map_err(|e| format!("stream {stream_name}: {e}"))?;
    // The range ends where the stream ends now: live events arriving during the replay are
    // the live consumer's business.
    let last_seq = stream
        .info()
        .await
        .map_err(|e| format!("stream {stream_name}: {e}"))?
        .state
        .last_sequence;
    let end_seq = range.to_seq.map_or(last_seq, |t| t.min(last_seq));
    let deliver_policy = match (range.from_seq, range.since) {
        (Some(start_sequence), _) => DeliverPolicy::ByStartSequence { start_sequence },
        (None, Some(start_time)) => DeliverPolicy::ByStartTime { start_time },
        (None, None) => DeliverPolicy::All,
    };
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: nats.ns.qualify(&range.filter),
            deliver_policy,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            description: Some(format!("relay replay {replay_id}")),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create the replay consumer: {e}"))?;
    let mut consumer = consumer;
    progress.total = consumer
        .info()
        .await
        .map_err(|e| format!("replay consumer: {e}"))?
        .num_pending;
    if progress.total == 0 || end_seq == 0 {
        return Ok(());
    }
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(256)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| format!("replay consumer: {e}"))?;
    let mut last_sent = Instant::now();
    // Plans are handed to the connection in history order; their acks are awaited in a window.
    let mut pending: VecDeque<PendingAck> = VecDeque::new();
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(10), messages.next())
        .await
        .map_err(|_| "no message from the broker for 10 s".to_owned())?
    {
        let msg = msg.map_err(|e| format!("reading EVENTS: {e}"))?;
        let info = msg.info().map_err(|e| format!("reading EVENTS: {e}"))?;
        let (seq, published) = (info.stream_sequence, info.published);
        if seq > end_seq || range.until.is_some_and(|u| published > u) {
            break;
        }
        progress.done += 1;
        step(
            handler,
            range,
            replay_id,
            &msg.payload,
            progress,
            &mut pending,
        )
        .await;
        while pending.len() > ACK_WINDOW {
            settle(pending.pop_front(), progress).await;
        }
        if last_sent.elapsed() >= Duration::from_millis(250) {
            if tx.send(progress.clone()).await.is_err() {
                return Err("the client went away; replay cancelled".into());
            }
            last_sent = Instant::now();
        }
        if seq >= end_seq {
            break;
        }
    }
    while let Some(p) = pending.pop_front() {
        settle(Some(p), progress).await;
    }
    Ok(())
}

/// Plans whose acks may be outstanding at once.
const ACK_WINDOW: usize = 256;

type PendingAck = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<
                    async_nats::jetstream::publish::PublishAck,
                    relay_common::nats::NatsError,
                >,
            > + Send,
    >,
>;

async fn settle(ack: Option<PendingAck>, progress: &mut ReplayProgress) {
    let Some(ack) = ack else { return };
    match ack.await {
        Ok(a) if a.duplicate => progress.duplicates += 1,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error.message = %e, "replay: plan not acknowledged");
            progress.failed += 1;
        }
    }
}

/// One replayed event: map with the current rules, publish (unless a dry run), count.
async fn step(
    handler: &MapperHandler,
    range: &ReplayRange,
    replay_id: &str,
    payload: &[u8],
    progress: &mut ReplayProgress,
    pending: &mut VecDeque<PendingAck>,
) {
    let event = match StorefrontEvent::decode(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error.message = %e, "replay: undecodable event skipped");
            progress.failed += 1;
            return;
        }
    };
    if range
        .connection
        .as_deref()
        .is_some_and(|c| c != event.connection.as_str())
    {
        progress.total = progress.total.saturating_sub(1);
        progress.done -= 1;
        return;
    }
    let plans = match handler.plans_for(&event) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(event_id = %event.id, error.message = %e, "replay: event not mapped");
            progress.failed += 1;
            return;
        }
    };
    if plans.is_empty() {
        progress.unmatched += 1;
        return;
    }
    progress.planned += 1;
    for plan in &plans {
        progress.plans += 1;
        if range.dry_run {
            continue;
        }
        match handler.send_plan(plan, Some(replay_id)).await {
            Ok(ack) => pending.push_back(Box::pin(ack)),
            Err(e) => {
                tracing::warn!(event_id = %event.id, error.message = %e, "replay: plan not published");
                progress.failed += 1;
            }
        }
    }
}
