//! Issue 6's mapper benchmark: how fast the mapper turns a backlog of `EVENTS` into
//! `ContactPlan`s on `COMMANDS`, and how fast a replay re-runs the same history, as ratios to
//! what the same nats-server does with bare JetStream in the same run.
//!
//! The writer stays paused throughout, so the plans stay in `COMMANDS` and can be counted.
//! 1. Events: `n` deliveries of the ingest suite's fixtures (every storefront in turn, on its
//!    `demo` connection), checked and normalised by the storefronts' own verifiers and
//!    normalisers, published straight to `EVENTS` (`Nats-Msg-Id` = event id) with the mapper
//!    paused. The mapper's own Preview gives each event's plans: how many to expect, and their
//!    sizes for the baseline.
//! 2. Baselines, on streams and a durable consumer configured exactly like `EVENTS`, `COMMANDS`
//!    and the mapper's consumer: each of `n` messages of the events' sizes pulled, answered by
//!    one publish-ack per plan of that event (the plans' sizes, `Nats-Msg-Id` set), then acked,
//!    with the mapper's concurrency. A second baseline has the shape of a replay: one message at
//!    a time from an ephemeral consumer without acks, its publishes all broker duplicates.
//! 3. Mapper: resumed until its consumer has nothing pending or unacknowledged.
//! 4. Replay of the same sequence range through the Mapper API (plans published: all of them
//!    are duplicates of the live ones), then the same as a dry run (rules only).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::StreamExt as _;
use relay_common::SecretRef;
use relay_common::config::NatsConfig;
use relay_contracts::admin::{ConsumerStatus, GetStatusRequest, PauseRequest, ResumeRequest};
use relay_contracts::mapper_admin::{PreviewRequest, ReplayProgress, ReplayRequest};
use relay_contracts::nats::{COMMAND_PARTITIONS, Retention, consumers, partition_of};
use relay_contracts::version::V1;
use relay_contracts::{
    ContactPlan, EventId, Namespace, StorefrontEvent, StreamKind, Token, headers,
};
use relay_e2e::{BMC_SECRET, Stack, StackOptions, admin_client, mapper_client};
use relay_ingest::{ConnectionContext, Storefront};

use crate::{Cpu, ingest};

/// Keeps this suite's storefront ids clear of the other suites' (they share the streams and
/// their dedupe window in `--suite all`).
const OFFSET: usize = 1_000_000_000;

/// One event as published, and the plans the mapper's Preview says it makes.
struct Prepared {
    subject: String,
    id: String,
    payload: Bytes,
    /// Each plan's subject, id and exact payload (as the mapper serialises it).
    plans: Vec<(String, String, Bytes)>,
}

/// A measured phase.
pub(crate) struct Row {
    name: String,
    events_per_sec: f64,
    plans_per_sec: f64,
    /// CPU µs per event: (this process, nats-server).
    cpu: (f64, f64),
}

impl Row {
    fn new(name: String, events: usize, plans: usize, elapsed: Duration, since: Cpu) -> Self {
        Self {
            name,
            events_per_sec: events as f64 / elapsed.as_secs_f64(),
            plans_per_sec: plans as f64 / elapsed.as_secs_f64(),
            cpu: Cpu::now().per_delivery(since, events),
        }
    }
}

pub(crate) struct Report {
    n: usize,
    concurrency: usize,
    plans: usize,
    per_source: Vec<(String, usize, usize)>,
    baseline: Row,
    sequential: Row,
    mapper: Row,
    replay: Row,
    dry_run: Row,
    replay_duplicates: u64,
    dry_run_plans: u64,
}

/// The `demo` connection's event for fixture `k` of one storefront, as its ingest service
/// would publish it (minus the RAW reference: RAW is not involved here).
fn normalised<S: Storefront>(
    storefront: &S,
    secret: &str,
    d: &ingest::Delivery,
) -> anyhow::Result<StorefrontEvent> {
    let demo = Token::parse("demo")?;
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(d.content_type),
    );
    for (k, v) in &d.headers {
        h.insert(*k, http::HeaderValue::from_str(v)?);
    }
    let query = d.path_and_query.split_once('?').map(|(_, q)| q.to_owned());
    let delivery = relay_ingest::Delivery::new(demo.clone(), h, query, d.body.clone());
    let secrets = [SecretRef::Literal(secret.into()).resolve(&|_| None)?];
    let verified = storefront.verify(delivery, &secrets)?;
    let context = ConnectionContext {
        name: demo.clone(),
        timezone: None,
    };
    let n = storefront.normalize(&verified, &context)?;
    let source = S::SOURCE;
    Ok(StorefrontEvent {
        v: V1,
        id: EventId::derive(&[source.as_str(), demo.as_str(), &n.idempotency_key]),
        source,
        connection: demo,
        kind: n.kind,
        occurred_at: n.occurred_at.unwrap_or(verified.received_at),
        received_at: verified.received_at,
        idempotency_key: n.idempotency_key,
        test: n.test,
        source_event: n.source_event,
        customer: n.customer,
        order: n.order,
        subscription: n.subscription,
        message: n.message,
        attributes: n.attributes,
        raw: None,
    })
}

/// Event `i`: the storefronts in turn.
fn build(i: usize) -> anyhow::Result<StorefrontEvent> {
    let k = OFFSET + i;
    match i % 5 {
        0 => normalised(&relay_ingest_bmc::Bmc, BMC_SECRET, &ingest::bmc(k)),
        1 => normalised(
            &relay_ingest_gumroad::Gumroad,
            ingest::SECRET,
            &ingest::gumroad(k),
        ),
        2 => normalised(
            &relay_ingest_thrivecart::Thrivecart,
            ingest::SECRET,
            &ingest::thrivecart(k),
        ),
        3 => normalised(
            &relay_ingest_digistore24::Digistore24,
            ingest::SECRET,
            &ingest::digistore24(k),
        ),
        _ => normalised(
            &relay_ingest_shift4shop::Shift4shop,
            ingest::SECRET,
            &ingest::shift4shop(k),
        ),
    }
}

/// What is published for `events` and their `plans` in namespace `ns`.
fn prepare(
    ns: &Namespace,
    events: &[StorefrontEvent],
    plans: &[Vec<ContactPlan>],
) -> anyhow::Result<Vec<Prepared>> {
    events
        .iter()
        .zip(plans)
        .map(|(e, plans)| {
            Ok(Prepared {
                subject: ns.event(e.source, &e.connection, e.kind),
                id: e.id.to_string(),
                payload: serde_json::to_vec(e)?.into(),
                plans: plans
                    .iter()
                    .map(|p| {
                        let partition = partition_of(&p.location_id, COMMAND_PARTITIONS);
                        Ok((
                            ns.command(partition, &p.location_id),
                            p.id.to_string(),
                            Bytes::from(serde_json::to_vec(p)?),
                        ))
                    })
                    .collect::<anyhow::Result<_>>()?,
            })
        })
        .collect()
}

/// The mapper's durable consumer as the server sees it, with the service's counters.
async fn consumer_status(
    admin: &mut relay_e2e::TestAdminClient,
    stream: &str,
) -> anyhow::Result<ConsumerStatus> {
    let status = admin.get_status(GetStatusRequest {}).await?.into_inner();
    status
        .consumers
        .into_iter()
        .find(|c| c.stream == stream)
        .ok_or_else(|| anyhow::anyhow!("the mapper reports no consumer on {stream}"))
}

async fn wait_idle(
    admin: &mut relay_e2e::TestAdminClient,
    stream: &str,
) -> anyhow::Result<ConsumerStatus> {
    let started = Instant::now();
    loop {
        let s = consumer_status(admin, stream).await?;
        if s.pending == 0 && s.ack_pending == 0 {
            return Ok(s);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the mapper still has {} pending and {} unacknowledged after 10 minutes",
            s.pending,
            s.ack_pending
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stream_messages(js: &jetstream::Context, name: &str) -> anyhow::Result<u64> {
    Ok(js.get_stream(name).await?.info().await?.state.messages)
}

/// Publishes `payload` with `id` as `Nats-Msg-Id` and waits for the ack.
async fn publish(
    js: &jetstream::Context,
    subject: String,
    id: &str,
    payload: Bytes,
) -> anyhow::Result<jetstream::publish::PublishAck> {
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::CONTENT_TYPE, "application/json");
    h.insert(headers::MSG_ID, id);
    Ok(js.publish_with_headers(subject, h, payload).await?.await?)
}

/// Publishes every event (concurrently, as ingest services would); returns the stream sequence
/// range they got.
async fn publish_events(
    js: &jetstream::Context,
    events: &Arc<Vec<Prepared>>,
    c: usize,
) -> anyhow::Result<(u64, u64)> {
    let results = futures::stream::iter(events.iter())
        .map(|e| publish(js, e.subject.clone(), &e.id, e.payload.clone()))
        .buffer_unordered(c)
        .collect::<Vec<_>>()
        .await;
    let (mut first, mut last) = (u64::MAX, 0);
    for ack in results {
        let ack = ack?;
        anyhow::ensure!(!ack.duplicate, "event seq {} was a duplicate", ack.sequence);
        first = first.min(ack.sequence);
        last = last.max(ack.sequence);
    }
    Ok((first, last))
}

/// Baseline with `c` in flight: a durable consumer configured like the mapper's; per message,
/// the plans' publish-acks, then the ack.
async fn baseline_concurrent(
    js: &jetstream::Context,
    events_stream: &str,
    consumer_cfg: consumer::pull::Config,
    work: &Arc<Vec<Prepared>>,
    first_seq: u64,
    c: usize,
) -> anyhow::Result<(Duration, Cpu)> {
    let consumer = js
        .get_stream(events_stream)
        .await?
        .create_consumer(consumer_cfg)
        .await?;
    let n = work.len();
    let limit = Arc::new(tokio::sync::Semaphore::new(c));
    let (cpu, started) = (Cpu::now(), Instant::now());
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(c)
        .messages()
        .await?;
    let mut tasks = Vec::with_capacity(n);
    while tasks.len() < n {
        let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .map_err(|_| anyhow::anyhow!("baseline: no message for 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("baseline: the consumer stopped"))?
            .map_err(|e| anyhow::anyhow!("baseline: {e}"))?;
        let permit = limit.clone().acquire_owned().await?;
        let (js, work) = (js.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            let seq = msg
                .info()
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .stream_sequence;
            let event = usize::try_from(seq - first_seq)
                .ok()
                .and_then(|i| work.get(i))
                .ok_or_else(|| anyhow::anyhow!("baseline: unexpected sequence {seq}"))?;
            for (subject, id, payload) in &event.plans {
                publish(&js, subject.clone(), id, payload.clone()).await?;
            }
            msg.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            drop(permit);
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((started.elapsed(), cpu))
}

/// Baseline shaped like a replay: an ephemeral consumer without acks, one message at a time,
/// its plans published with the ids [`baseline_concurrent`] already published (duplicates, as
/// every plan of the replay below is).
async fn baseline_sequential(
    js: &jetstream::Context,
    events_stream: &str,
    work: &Arc<Vec<Prepared>>,
    first_seq: u64,
) -> anyhow::Result<(Duration, Cpu, usize)> {
    let consumer = js
        .get_stream(events_stream)
        .await?
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            deliver_policy: consumer::DeliverPolicy::All,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await?;
    let (cpu, started) = (Cpu::now(), Instant::now());
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(256)
        .messages()
        .await?;
    let mut duplicates = 0;
    for (i, event) in work.iter().enumerate() {
        let msg = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .map_err(|_| anyhow::anyhow!("baseline: no message for 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("baseline: the consumer stopped"))?
            .map_err(|e| anyhow::anyhow!("baseline: {e}"))?;
        let seq = msg
            .info()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .stream_sequence;
        anyhow::ensure!(
            seq == first_seq + i as u64,
            "baseline: sequence {seq} out of order"
        );
        for (subject, id, payload) in &event.plans {
            duplicates += usize::from(
                publish(js, subject.clone(), id, payload.clone())
                    .await?
                    .duplicate,
            );
        }
    }
    Ok((started.elapsed(), cpu, duplicates))
}

/// Runs one replay to its end; returns the final progress and the wall time.
async fn replay(
    stack: &Stack,
    from_seq: u64,
    to_seq: u64,
    dry_run: bool,
) -> anyhow::Result<(ReplayProgress, Duration, Cpu)> {
    let mut client = mapper_client(stack.mapper.admin).await;
    let (cpu, started) = (Cpu::now(), Instant::now());
    let mut progress = client
        .replay(ReplayRequest {
            subject: "evt.>".into(),
            from_seq,
            to_seq,
            dry_run,
            ..Default::default()
        })
        .await?
        .into_inner();
    while let Some(p) = progress.message().await? {
        if p.finished {
            let elapsed = started.elapsed();
            anyhow::ensure!(p.error.is_empty(), "replay stopped: {}", p.error);
            return Ok((p, elapsed, cpu));
        }
    }
    anyhow::bail!("the replay stream ended without a finished progress")
}

pub(crate) async fn run(
    stack: Arc<Stack>,
    n: usize,
    opts: &StackOptions,
) -> anyhow::Result<Report> {
    anyhow::ensure!(n > 0, "--n must be positive");
    // The mapper's consumer: its configuration's defaults, and the Stack's concurrency.
    let mapper_consumer = relay_mapper::MapperConfig::default().consumer;
    let c = opts.concurrency;
    let js = jetstream::new(stack.nats.client().await);
    let ns = Namespace::new(Some(stack.prefix.clone()));
    let (events_stream, commands_stream) = (
        stack.stream(StreamKind::Events),
        stack.stream(StreamKind::Commands),
    );

    // Whatever earlier suites left is mapped first; then mapper and writer stop.
    let mut admin = admin_client(stack.mapper.admin).await;
    let mut writer = admin_client(stack.writer.admin).await;
    wait_idle(&mut admin, &events_stream).await?;
    admin.pause(PauseRequest {}).await?;
    writer.pause(PauseRequest {}).await?;

    // 1. Events, and their plans by the mapper's own rules (Preview, nothing published).
    let events: Vec<StorefrontEvent> = (0..n).map(build).collect::<anyhow::Result<_>>()?;
    let client = mapper_client(stack.mapper.admin).await;
    let previews = futures::stream::iter(events.iter())
        .map(|e| {
            let mut client = client.clone();
            async move {
                let json = serde_json::to_string(e)?;
                let resp = client
                    .preview(PreviewRequest {
                        event_json: json,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                resp.plans_json
                    .iter()
                    .map(|p| Ok(ContactPlan::decode(p.as_bytes())?))
                    .collect::<anyhow::Result<Vec<ContactPlan>>>()
            }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    let mut plans = Vec::with_capacity(n);
    let mut per_source = Vec::<(String, usize, usize)>::new();
    for (e, p) in events.iter().zip(previews) {
        let p = p?;
        match per_source.iter_mut().find(|(s, ..)| s == e.source.as_str()) {
            Some((_, events, count)) => {
                *events += 1;
                *count += p.len();
            }
            None => per_source.push((e.source.to_string(), 1, p.len())),
        }
        plans.push(p);
    }
    let prepared = prepare(&ns, &events, &plans)?;
    let prepared = Arc::new(prepared);
    let expected_plans: usize = prepared.iter().map(|p| p.plans.len()).sum();
    anyhow::ensure!(expected_plans > 0, "no event of the benchmark makes a plan");
    let (first_seq, last_seq) = publish_events(&js, &prepared, c).await?;
    anyhow::ensure!(
        last_seq - first_seq + 1 == n as u64,
        "the {n} events are not contiguous in EVENTS ({first_seq}..={last_seq})"
    );

    // 2. Baselines: the same streams' and consumer's configurations, under another prefix, with
    //    the same messages (their subjects and ids in that namespace).
    let bns = Namespace::new(Some(Token::parse("benchm")?));
    let retention = Retention {
        duplicate_window: opts.duplicate_window,
        ..NatsConfig::default().retention()
    };
    for kind in [StreamKind::Events, StreamKind::Commands] {
        js.create_stream(bns.stream_config(kind, &retention))
            .await?;
    }
    let baseline_work = Arc::new(prepare(&bns, &events, &plans)?);
    let bevents = bns.stream_name(StreamKind::Events);
    let (bfirst, blast) = publish_events(&js, &baseline_work, c).await?;
    anyhow::ensure!(
        blast - bfirst + 1 == n as u64,
        "baseline events not contiguous"
    );
    let (elapsed, cpu) = baseline_concurrent(
        &js,
        &bevents,
        bns.mapper_consumer(mapper_consumer.max_deliver, mapper_consumer.ack_wait),
        &baseline_work,
        bfirst,
        c,
    )
    .await?;
    let baseline = Row::new(
        format!("baseline: pull → publish-ack per plan → ack, {c} in flight"),
        n,
        expected_plans,
        elapsed,
        cpu,
    );
    let bcommands = stream_messages(&js, &bns.stream_name(StreamKind::Commands)).await?;
    anyhow::ensure!(
        bcommands == expected_plans as u64,
        "baseline: {bcommands} plans stored, expected {expected_plans}"
    );
    let (elapsed, cpu, duplicates) =
        baseline_sequential(&js, &bevents, &baseline_work, bfirst).await?;
    anyhow::ensure!(
        duplicates == expected_plans,
        "baseline: {duplicates} of {expected_plans} re-published plans were duplicates"
    );
    let sequential = Row::new(
        "baseline, replay-shaped: 1 in flight, no acks, every plan a duplicate".into(),
        n,
        expected_plans,
        elapsed,
        cpu,
    );
    for kind in [StreamKind::Events, StreamKind::Commands] {
        js.delete_stream(bns.stream_name(kind)).await?;
    }

    // 3. The mapper: its backlog of `n` events until it has acknowledged them all.
    let commands_before = stream_messages(&js, &commands_stream).await?;
    let before = consumer_status(&mut admin, &events_stream).await?;
    anyhow::ensure!(
        before.pending == n as u64,
        "the mapper has {} events pending, expected {n}",
        before.pending
    );
    let mut durable = js
        .get_stream(&events_stream)
        .await?
        .get_consumer::<consumer::pull::Config>(&ns.consumer_name(consumers::MAPPER))
        .await
        .map_err(|e| anyhow::anyhow!("the mapper's consumer: {e}"))?;
    let (cpu, started) = (Cpu::now(), Instant::now());
    admin.resume(ResumeRequest {}).await?;
    loop {
        let info = durable.info().await?;
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the mapper has {} pending after 10 minutes",
            info.num_pending
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mapper = Row::new(
        format!("mapper: EVENTS → rules → plans in COMMANDS, {c} in flight"),
        n,
        expected_plans,
        started.elapsed(),
        cpu,
    );
    let after = consumer_status(&mut admin, &events_stream).await?;
    let published = stream_messages(&js, &commands_stream).await? - commands_before;
    anyhow::ensure!(
        published == expected_plans as u64,
        "the mapper published {published} plans, expected {expected_plans}"
    );
    anyhow::ensure!(
        after.acked - before.acked == n as u64
            && after.retried == before.retried
            && after.dead_lettered == before.dead_lettered,
        "the mapper acked {}, retried {}, dead-lettered {} (expected {n} acked, none else)",
        after.acked - before.acked,
        after.retried - before.retried,
        after.dead_lettered - before.dead_lettered
    );

    // 4. Replays of the same range: publishing (the broker drops every plan as a duplicate),
    //    then a dry run.
    let unmatched = prepared.iter().filter(|p| p.plans.is_empty()).count() as u64;
    let check = |p: &ReplayProgress, what: &str| {
        anyhow::ensure!(
            p.done == n as u64
                && p.failed == 0
                && p.unmatched == unmatched
                && p.planned == n as u64 - unmatched
                && p.plans == expected_plans as u64,
            "{what}: done {} failed {} unmatched {} planned {} plans {} (expected {n} done, {expected_plans} plans)",
            p.done,
            p.failed,
            p.unmatched,
            p.planned,
            p.plans
        );
        Ok(())
    };
    let (p, elapsed, cpu) = replay(&stack, first_seq, last_seq, false).await?;
    check(&p, "replay")?;
    anyhow::ensure!(
        p.duplicates == p.plans,
        "replay: only {} of {} plans were duplicates",
        p.duplicates,
        p.plans
    );
    let after_replay = stream_messages(&js, &commands_stream).await? - commands_before;
    anyhow::ensure!(
        after_replay == expected_plans as u64,
        "COMMANDS holds {after_replay} plans after the replay, expected {expected_plans}"
    );
    let replay_duplicates = p.duplicates;
    let replay_row = Row::new(
        "replay: same range, plans published (all broker duplicates)".into(),
        p.done as usize,
        p.plans as usize,
        elapsed,
        cpu,
    );
    let (p, elapsed, cpu) = replay(&stack, first_seq, last_seq, true).await?;
    check(&p, "dry-run replay")?;
    anyhow::ensure!(p.duplicates == 0, "a dry run published plans");
    let dry_run = Row::new(
        "replay --dry-run: same range, rules only".into(),
        p.done as usize,
        p.plans as usize,
        elapsed,
        cpu,
    );
    let after_dry = stream_messages(&js, &commands_stream).await? - commands_before;
    anyhow::ensure!(
        after_dry == expected_plans as u64,
        "COMMANDS holds {after_dry} plans after the dry run, expected {expected_plans}"
    );
    // The writer stays paused: the plans are this suite's output, not work for the sandbox.
    Ok(Report {
        n,
        concurrency: c,
        plans: expected_plans,
        per_source,
        baseline,
        sequential,
        mapper,
        replay: replay_row,
        dry_run,
        replay_duplicates,
        dry_run_plans: p.plans,
    })
}

impl Report {
    pub(crate) fn print(&self) {
        let sources: Vec<String> = self
            .per_source
            .iter()
            .map(|(s, e, p)| format!("{s} {e} → {p}"))
            .collect();
        println!(
            "\nMapper benchmark: {} events (events → plans per storefront: {}), {} plans, mapper concurrency {}.\n\
             baseline = the same broker work with bare JetStream, on streams and a consumer configured like EVENTS,\n\
             COMMANDS and the mapper's: pull each event-sized message, publish-ack its plans' payloads, ack.\n\
             CPU = µs per event in this process (services, benchmark client, span export) + in nats-server.\n",
            self.n,
            sources.join(", "),
            self.plans,
            self.concurrency
        );
        println!(
            "| phase | events/s | plans/s | ÷ baseline | ÷ replay-shaped baseline | CPU µs/event (relay + nats-server) |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for r in [
            &self.baseline,
            &self.sequential,
            &self.mapper,
            &self.replay,
            &self.dry_run,
        ] {
            println!(
                "| {} | {:.0} | {:.0} | {:.3} | {:.3} | {:.0} + {:.0} |",
                r.name,
                r.events_per_sec,
                r.plans_per_sec,
                r.events_per_sec / self.baseline.events_per_sec,
                r.events_per_sec / self.sequential.events_per_sec,
                r.cpu.0,
                r.cpu.1
            );
        }
        println!(
            "\nReplay: {} plans, {} duplicates (dropped by the broker: same plan ids as live); dry run: {} plans, none published.",
            self.plans, self.replay_duplicates, self.dry_run_plans
        );
    }
}
