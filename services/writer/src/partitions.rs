//! Partitions and lanes: how a writer replica consumes `COMMANDS` while keeping every
//! location's plans in order, across replicas and restarts.
//!
//! - Locations hash onto [`COMMAND_PARTITIONS`] partitions (`cmd.<partition>.<location>`).
//!   Replicas share the partitions through leases (`relay_common::lease`): at most one replica
//!   drives a partition at a time, spread evenly, taken over within a lease TTL when a replica
//!   dies.
//! - The holder of a partition deletes the partition's durable consumer and creates it afresh.
//!   `COMMANDS` is a work queue, so the stream holds exactly the plans nobody acknowledged,
//!   and a fresh consumer delivers them from the oldest: whatever the previous holder had in
//!   flight comes first, in order.
//! - Within a partition each location has a lane that applies its plans one at a time, in
//!   stream order; lanes of different locations run concurrently. A plan that fails
//!   transiently is retried in its lane after a backoff with jitter (a 429 waits out GHL's
//!   window), so the plans behind it wait instead of overtaking it; a location whose
//!   credentials fail waits until they work again. Held plans are kept alive with progress
//!   acks, never redelivered behind the lane's back.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use relay_common::admin::AdminState;
use relay_common::consumer::{ConsumerProbe, ConsumerStats, PauseControl, dead_letter};
use relay_common::lease::{Lease, LeaseConfig, Leases};
use relay_common::nats::Nats;
use relay_contracts::nats::{COMMAND_PARTITIONS, consumers};
use relay_contracts::{Namespace, StreamKind};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::apply::{Processor, Verdict};

/// How partitions are consumed.
#[derive(Clone, Debug)]
pub(crate) struct PartitionSettings {
    pub(crate) lease_ttl: Duration,
    pub(crate) ack_wait: Duration,
    pub(crate) max_pending: i64,
    /// Attempts of one plan before it is dead-lettered.
    pub(crate) max_attempts: i64,
    pub(crate) backoff: relay_common::consumer::ConsumerSettings,
    /// How long lanes get to finish their current plan when the partition is handed over.
    pub(crate) drain_timeout: Duration,
    pub(crate) replicas: usize,
}

/// Runs this replica's share of the partitions until `shutdown`.
pub(crate) async fn run(
    nats: Nats,
    state: AdminState,
    processor: Arc<Processor>,
    settings: PartitionSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    remove_unpartitioned_consumer(&nats).await;
    let items: Vec<String> = (0..COMMAND_PARTITIONS)
        .map(Namespace::partition_item)
        .collect();
    let cfg = LeaseConfig {
        replicas: settings.replicas,
        release_timeout: settings.drain_timeout,
        ..LeaseConfig::new("writer", settings.lease_ttl)
    };
    let (leases, mut granted) = loop {
        match Leases::start(&nats, cfg.clone(), items.clone(), shutdown.clone()).await {
            Ok(l) => break l,
            Err(e) => {
                tracing::warn!(error.message = %e, "partition leases unavailable; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    state.set_detail("replica", leases.holder().to_owned());
    state.readiness.mark_started();
    tracing::info!(
        holder = leases.holder(),
        "writer ready; waiting for partition leases"
    );
    processor.set_leases(leases.clone());
    let status = tokio::spawn(report_status(state.clone(), processor.clone()));

    let tracker = TaskTracker::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            lease = granted.recv() => {
                let Some(lease) = lease else { break };
                let runner = PartitionRunner {
                    nats: nats.clone(),
                    state: state.clone(),
                    processor: processor.clone(),
                    settings: settings.clone(),
                    pause: state.pause.clone(),
                };
                tracker.spawn(runner.run(lease));
            }
        }
    }
    // Hand every partition back: lanes finish their current plan, then the keys are deleted so
    // another replica takes over at once instead of after the TTL.
    leases.release_all(settings.drain_timeout).await;
    tracker.close();
    tracker.wait().await;
    status.abort();
    Ok(())
}

/// Keeps the admin status details current: partitions held, locations waiting for credentials
/// or holding for their rate budget.
async fn report_status(state: AdminState, processor: Arc<Processor>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        if let Some(leases) = processor.leases() {
            let snap = leases.snapshot();
            state.set_detail("partitions", snap.held.join(","));
            state.set_detail("replicas", snap.members.len().to_string());
        }
        let paused: Vec<String> = processor
            .auth
            .status()
            .into_iter()
            .filter_map(|a| a.paused.map(|why| format!("{}: {why}", a.location)))
            .collect();
        state.set_detail("paused_locations", paused.join("; "));
        let held: Vec<String> = processor
            .locations
            .iter()
            .filter_map(|(id, l)| {
                let s = l.budget.snapshot();
                s.hold_reason.map(|why| format!("{id}: {why}"))
            })
            .collect();
        state.set_detail("held_locations", held.join("; "));
    }
}

/// Before partitions, one consumer named `writer` read every command; a work-queue stream
/// refuses a second consumer over the same subjects, so it goes. Its unacknowledged plans stay
/// in the stream and are delivered by the partition consumers.
async fn remove_unpartitioned_consumer(nats: &Nats) {
    let Ok(stream) = nats
        .js
        .get_stream(nats.ns.stream_name(StreamKind::Commands))
        .await
    else {
        return;
    };
    let name = nats.ns.consumer_name(consumers::WRITER);
    if stream.delete_consumer(&name).await.is_ok() {
        tracing::info!(consumer = %name, "removed the pre-partition writer consumer");
    }
}

struct PartitionRunner {
    nats: Nats,
    state: AdminState,
    processor: Arc<Processor>,
    settings: PartitionSettings,
    pause: PauseControl,
}

/// A plan held by a lane: delivered, not yet settled.
struct Held {
    msg: jetstream::Message,
    seq: u64,
    /// Last ack-timer reset (delivery or progress ack).
    touched: Instant,
}

/// One location's queue within a partition.
#[derive(Default)]
struct Lane {
    queue: Mutex<VecDeque<Held>>,
    notify: Notify,
}

impl PartitionRunner {
    async fn run(self, lease: Lease) {
        let item = lease.item.clone();
        let Some(partition) = item.strip_prefix('p').and_then(|p| p.parse::<u16>().ok()) else {
            tracing::error!(item = %item, "not a partition lease");
            return;
        };
        let span = tracing::info_span!(
            "writer.partition",
            partition,
            holder = tracing::field::Empty
        );
        async {
            tracing::info!("partition acquired");
            metrics::gauge!("relay_writer_partitions_held").increment(1.0);
            let stop = lease.lost.clone();
            match self.consume(partition, &stop).await {
                Ok(()) => tracing::info!("partition released"),
                Err(e) => tracing::warn!(error.message = %e, "partition consumer stopped"),
            }
            metrics::gauge!("relay_writer_partitions_held").decrement(1.0);
        }
        .instrument(span)
        .await;
        // Dropping the lease tells the lease manager this replica stopped driving the partition.
        drop(lease);
    }

    async fn consume(&self, partition: u16, stop: &CancellationToken) -> anyhow::Result<()> {
        let ns = &self.nats.ns;
        let config = ns.writer_partition_consumer(
            partition,
            self.settings.ack_wait,
            self.settings.max_pending,
        );
        let name = config.durable_name.clone().unwrap_or_default();
        // Retry until the consumer is ours or the lease is gone.
        let consumer = loop {
            match self.fresh_consumer(&name, config.clone()).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(error.message = %e, "cannot create the partition consumer; retrying");
                    tokio::select! {
                        () = stop.cancelled() => return Ok(()),
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let stats = Arc::new(ConsumerStats::default());
        self.state.add_consumer(ConsumerProbe::new(
            ns.stream_name(StreamKind::Commands),
            consumer.clone(),
            stats.clone(),
        ));
        let result = self.pump(&consumer, stats, stop).await;
        self.state.remove_consumer(&name);
        result
    }

    /// Deletes the partition's consumer (whoever used it last) and creates it from the oldest
    /// plan still queued.
    async fn fresh_consumer(
        &self,
        name: &str,
        config: jetstream::consumer::pull::Config,
    ) -> anyhow::Result<jetstream::consumer::PullConsumer> {
        let stream = self
            .nats
            .js
            .get_stream(self.nats.ns.stream_name(StreamKind::Commands))
            .await?;
        let _ = stream.delete_consumer(name).await;
        Ok(stream.create_consumer(config).await?)
    }

    async fn pump(
        &self,
        consumer: &jetstream::consumer::PullConsumer,
        stats: Arc<ConsumerStats>,
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let lanes_stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut lanes: HashMap<String, Arc<Lane>> = HashMap::new();
        let held: Arc<Mutex<HashSet<u64>>> = Arc::default();
        let mut keepalive =
            tokio::time::interval((self.settings.ack_wait / 3).max(Duration::from_millis(100)));
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let batch = usize::try_from(self.settings.max_pending.clamp(1, 512)).unwrap_or(256);

        let result = 'pull: loop {
            let mut messages = match consumer
                .stream()
                .max_messages_per_batch(batch)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await
            {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error.message = %e, "pull failed; retrying");
                    tokio::select! {
                        () = stop.cancelled() => break 'pull Ok(()),
                        () = tokio::time::sleep(Duration::from_millis(500)) => continue 'pull,
                    }
                }
            };
            loop {
                tokio::select! {
                    () = stop.cancelled() => break 'pull Ok(()),
                    _ = keepalive.tick() => self.keep_alive(&lanes).await,
                    next = messages.next() => match next {
                        Some(Ok(msg)) => {
                            let Some(seq) = msg.info().ok().map(|i| i.stream_sequence) else { continue };
                            // A plan the lane still holds, redelivered after ack_wait: the lane
                            // settles the copy it has.
                            if !held.lock().expect("held lock").insert(seq) {
                                continue;
                            }
                            let location = msg.subject.rsplit('.').next().unwrap_or_default().to_owned();
                            let lane = lanes.entry(location.clone()).or_insert_with(|| {
                                let lane = Arc::new(Lane::default());
                                tracker.spawn(LaneTask {
                                    lane: lane.clone(),
                                    location,
                                    nats: self.nats.clone(),
                                    processor: self.processor.clone(),
                                    settings: self.settings.clone(),
                                    stats: stats.clone(),
                                    held: held.clone(),
                                    stop: lanes_stop.clone(),
                                }.run(self.pause.member()));
                                lane
                            });
                            lane.queue.lock().expect("lane lock").push_back(Held { msg, seq, touched: Instant::now() });
                            lane.notify.notify_one();
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error.message = %e, "pull stream error");
                            if e.kind() == jetstream::consumer::pull::MessagesErrorKind::ConsumerDeleted {
                                // Another replica took the partition (our lease expired).
                                break 'pull Err(anyhow::anyhow!("the partition consumer was deleted by another holder"));
                            }
                        }
                        None => continue 'pull,
                    }
                }
            }
        };
        // Lanes finish the plan they are applying; the rest stays unacknowledged in the stream
        // for the next holder, in order.
        lanes_stop.cancel();
        tracker.close();
        if relay_common::shutdown::with_deadline(
            "partition lanes",
            self.settings.drain_timeout,
            tracker.wait(),
        )
        .await
        .is_none()
        {
            tracing::warn!(
                "lanes did not finish in time; their plans will be applied by the next holder (the step ledger prevents duplicates)"
            );
        }
        result
    }

    /// Progress acks for plans held longer than a third of `ack_wait`, so the server does not
    /// redeliver what a lane is still waiting to apply.
    async fn keep_alive(&self, lanes: &HashMap<String, Arc<Lane>>) {
        let threshold = self.settings.ack_wait / 3;
        let now = Instant::now();
        let mut due = Vec::new();
        for lane in lanes.values() {
            let mut q = lane.queue.lock().expect("lane lock");
            for h in q.iter_mut() {
                if now.duration_since(h.touched) >= threshold {
                    h.touched = now;
                    due.push(h.msg.clone());
                }
            }
        }
        for msg in due {
            let _ = msg.ack_with(AckKind::Progress).await;
        }
    }
}

struct LaneTask {
    lane: Arc<Lane>,
    location: String,
    nats: Nats,
    processor: Arc<Processor>,
    settings: PartitionSettings,
    stats: Arc<ConsumerStats>,
    held: Arc<Mutex<HashSet<u64>>>,
    stop: CancellationToken,
}

impl LaneTask {
    async fn run(self, mut member: relay_common::consumer::PauseMember) {
        loop {
            // Wait for a plan (or a pause, or the end).
            let front = loop {
                if !member.hold_while_paused(&self.stop).await || self.stop.is_cancelled() {
                    return;
                }
                let front = {
                    let q = self.lane.queue.lock().expect("lane lock");
                    q.front().map(|h| (h.msg.clone(), h.seq))
                };
                if let Some(f) = front {
                    break f;
                }
                tokio::select! {
                    () = self.stop.cancelled() => return,
                    () = self.lane.notify.notified() => {}
                    () = member.changed() => {}
                }
            };
            let (msg, seq) = front;
            if !self.apply(&msg, &mut member).await {
                return; // stopped: the plan stays in the stream for the next holder
            }
            self.lane.queue.lock().expect("lane lock").pop_front();
            self.held.lock().expect("held lock").remove(&seq);
        }
    }

    /// Applies one plan until it is settled (acked or dead-lettered). Returns `false` when the
    /// lane was stopped first.
    async fn apply(
        &self,
        msg: &jetstream::Message,
        member: &mut relay_common::consumer::PauseMember,
    ) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let mut attempt = msg.info().map(|i| i.delivered).unwrap_or(1).max(1);
        loop {
            if !member.hold_while_paused(&self.stop).await {
                return false;
            }
            let last = attempt >= self.settings.max_attempts;
            let verdict = self.processor.handle(msg, attempt, last).await;
            let delay = match verdict {
                Verdict::Done => {
                    // Confirmed by the server before the lane moves on: an ack lost in a crash
                    // would let this plan be applied again after a later one of its location.
                    if let Err(e) = msg.double_ack().await {
                        // The plan's effects are recorded; a redelivery finds them in the ledger.
                        tracing::warn!(error.message = %e, "ack not confirmed");
                    }
                    self.stats.acked.fetch_add(1, Relaxed);
                    return true;
                }
                Verdict::Retry {
                    delay,
                    floor,
                    reason,
                } if !last => {
                    let delay = delay
                        .map(|d| d.min(self.settings.backoff.backoff_max))
                        .unwrap_or_else(|| self.settings.backoff.backoff(attempt))
                        .max(floor);
                    tracing::warn!(location = %self.location, attempt, retry_in = ?delay, reason = %reason, "plan failed; retrying in its lane");
                    self.stats.retried.fetch_add(1, Relaxed);
                    attempt += 1;
                    delay
                }
                Verdict::Wait { reason } => {
                    // Credentials: nothing to count; the location waits until they work.
                    tracing::warn!(location = %self.location, reason = %reason, "location paused; its plans wait");
                    tokio::select! {
                        () = self.stop.cancelled() => return false,
                        () = self.processor.wait_usable(&self.location) => {}
                        // A pause: halt (above) rather than keep the pause waiting.
                        () = member.changed() => {}
                    }
                    continue;
                }
                Verdict::Retry { reason, .. } | Verdict::Dead(reason) => {
                    let reason = if last && attempt > 1 {
                        format!("gave up after {attempt} attempts: {reason}")
                    } else {
                        reason
                    };
                    if dead_letter(
                        &self.nats,
                        "writer",
                        StreamKind::Commands,
                        msg,
                        &reason,
                        attempt,
                    )
                    .await
                    {
                        self.stats.dead_lettered.fetch_add(1, Relaxed);
                        return true;
                    }
                    // The DLQ is unavailable: keep the plan and try again later.
                    self.settings.backoff.backoff_max
                }
            };
            tokio::select! {
                () = self.stop.cancelled() => return false,
                () = tokio::time::sleep(delay) => {}
                () = member.changed() => {}
            }
        }
    }
}
