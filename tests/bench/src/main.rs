//! `tests/bench.sh`: how fast Relay moves deliveries, as ratios to what the same nats-server
//! does with bare JetStream publish-acks in the same run (so the figures travel across machines).
//!
//! Phases, each over `n` deliveries with `c` concurrent clients:
//! 1. baseline: `c` concurrent workers, each doing what ingest does per delivery on the broker:
//!    two sequential publish-acks (RAW then EVENTS) of the same payload sizes;
//! 2. ingest alone: signed BMC deliveries → 200 (mapper and writer paused through their admin
//!    API, so they do not compete for the cores);
//! 3. drain: mapper and writer resumed, until every donor is a tagged contact in the sandbox
//!    (per plan: one upsert and one add-tags call);
//! 4. end to end: fresh deliveries with everything running, from the first post until every
//!    contact is tagged.
//!
//! Rate limits are lifted in the sandbox and the writer: this measures Relay, not GHL's budget.
//!
//! `--suite ingest` measures every storefront's ingest service ([`ingest`]), `--suite mapper`
//! the mapper and replay ([`mapper`]); `--suite all` runs ingest, the pipeline, then the mapper.
//! `--suite writer` ([`writer`]) measures how much of GHL's per-location budget the writer uses
//! (with its own nats-server, sandbox and writer process; not part of `all`: it takes minutes).

#![allow(clippy::unwrap_used)]

mod ingest;
mod mapper;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use relay_contracts::admin::{PauseRequest, ResumeRequest};
use relay_e2e::{BMC_SECRET, LOCATION, Stack, StackOptions, admin_client, donation};

#[derive(Parser)]
struct Args {
    /// Deliveries per phase.
    #[arg(long, default_value_t = 3000)]
    n: usize,
    /// Concurrent publishers / HTTP clients.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Which benchmark: `pipeline` (BMC through the whole pipeline), `ingest` (every
    /// storefront's ingest service), `mapper` (mapper and replay against raw JetStream
    /// consume+publish), `all` (those three), or `writer` (GHL budget use, separately).
    #[arg(long, default_value = "all", value_parser = ["pipeline", "ingest", "mapper", "all", "writer"])]
    suite: String,
    /// Ingest suite: only these storefronts (comma-separated), e.g. `--only thrivecart,bmc`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Writer suite: GHL locations (`loc-0000`, ...), each with its own token and budget.
    #[arg(long, default_value_t = 1000)]
    locations: usize,
    /// Writer suite: plans of the saturation phase, round-robin over the locations.
    #[arg(long, default_value_t = 200_000)]
    plans: usize,
    /// Writer suite: the sandbox's rate-limit algorithm, or `both` (one run each).
    #[arg(long, default_value = "both", value_parser = ["sliding_window", "fixed_window", "both"])]
    algorithm: String,
    /// Writer suite: GHL requests the writer has in flight at most (`partitions.max_in_flight`).
    #[arg(long, default_value_t = 1024)]
    max_in_flight: usize,
    /// Writer suite: plans held per partition (`partitions.max_pending`; default: the writer's).
    #[arg(long)]
    max_pending: Option<i64>,
}

pub(crate) struct Phase {
    name: &'static str,
    per_sec: f64,
    latency: Option<(Duration, Duration)>,
    /// CPU µs per delivery: (Relay's process, nats-server).
    cpu: (f64, f64),
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs `n` jobs on `c` workers; returns (elapsed, sorted latencies).
pub(crate) async fn run_concurrent<F, Fut>(n: usize, c: usize, job: F) -> (Duration, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..c).map(|_| {
        let job = job.clone();
        let next = next.clone();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                job(i).await;
                lat.push(t.elapsed());
            }
            lat
        })
    });
    let mut all = Vec::with_capacity(n);
    for w in futures::future::join_all(workers).await {
        all.extend(w.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    (elapsed, all)
}

/// CPU time (user + system) used so far by this process and by the nats-server it started,
/// from `/proc` (Linux): tells whether a phase was CPU-bound, and where the cycles went.
#[derive(Clone, Copy)]
pub(crate) struct Cpu {
    relay: Duration,
    nats: Duration,
}

impl Cpu {
    pub(crate) fn now() -> Self {
        let me = std::process::id();
        let nats = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| proc_stat(&e.path().join("stat")))
            .filter(|(comm, ppid, _)| comm == "nats-server" && *ppid == me)
            .map(|(_, _, cpu)| cpu)
            .sum();
        let relay = proc_stat(std::path::Path::new("/proc/self/stat"))
            .map(|(_, _, cpu)| cpu)
            .unwrap_or_default();
        Self { relay, nats }
    }

    /// CPU microseconds per delivery since `earlier`: (this process, nats-server).
    pub(crate) fn per_delivery(self, earlier: Self, n: usize) -> (f64, f64) {
        let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        (
            us(self.relay.saturating_sub(earlier.relay)),
            us(self.nats.saturating_sub(earlier.nats)),
        )
    }
}

/// (command name, parent pid, utime + stime) from a `/proc/<pid>/stat` file.
fn proc_stat(path: &std::path::Path) -> Option<(String, u32, Duration)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (open, close) = (text.find('(')?, text.rfind(')')?);
    let comm = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 2..].split(' ').collect();
    // After the command: state(0) ppid(1) ... utime(11) stime(12), in clock ticks of 1/100 s.
    let ppid = fields.get(1)?.parse().ok()?;
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((comm, ppid, Duration::from_millis(ticks * 10)))
}

pub(crate) fn timed(
    name: &'static str,
    n: usize,
    elapsed: Duration,
    lat: &[Duration],
    since: Cpu,
) -> Phase {
    Phase {
        name,
        per_sec: n as f64 / elapsed.as_secs_f64(),
        latency: Some((percentile(lat, 0.5), percentile(lat, 0.99))),
        cpu: Cpu::now().per_delivery(since, n),
    }
}

async fn post_all(
    stack: &Arc<Stack>,
    n: usize,
    c: usize,
    first_id: u64,
) -> (Duration, Vec<Duration>) {
    let s = stack.clone();
    run_concurrent(n, c, move |i| {
        let s = s.clone();
        async move {
            let id = first_id + i as u64;
            let body = donation(id, &format!("bench{id}@example.com"), "Bench Donor");
            let resp = s.post_bmc(&body, Some(BMC_SECRET)).await;
            assert_eq!(resp.status(), 200);
        }
    })
    .await
}

async fn wait_tagged(stack: &Stack, total: usize, since: Instant) -> anyhow::Result<Duration> {
    loop {
        let done = stack
            .sandbox
            .contacts(LOCATION)
            .iter()
            .filter(|c| c.tags.iter().any(|t| t == "donor"))
            .count();
        if done >= total {
            return Ok(since.elapsed());
        }
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(600),
            "only {done}/{total} contacts after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the backlog the ingest benchmark left has been written.
async fn wait_tagged_count_settled(stack: &Stack) {
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = stack.sandbox.contacts(LOCATION).len();
        if now == last {
            return;
        }
        last = now;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.suite == "writer" {
        // Its own nats-server, sandbox and writer process: no Stack.
        writer::run(writer::Options {
            locations: args.locations,
            plans: args.plans,
            algorithms: writer::parse_algorithms(&args.algorithm),
            max_in_flight: args.max_in_flight,
            max_pending: args.max_pending,
        })
        .await?
        .print();
        return Ok(());
    }
    let opts = StackOptions::unthrottled();
    let stack = Arc::new(Stack::start_with(opts.clone()).await);
    // Spans are exported as in production, to a receiver that only counts them.
    relay_e2e::support::otlp::discard_spans();
    let (n, c) = (args.n, args.concurrency);
    let all = args.suite == "all";
    if args.suite == "ingest" || all {
        // Mapper and writer paused: each ingest service has the cores to itself.
        let mut mapper = admin_client(stack.mapper.admin).await;
        let mut writer = admin_client(stack.writer.admin).await;
        mapper.pause(PauseRequest {}).await?;
        writer.pause(PauseRequest {}).await?;
        let rows = ingest::run(stack.clone(), n, c, &args.only).await?;
        println!(
            "\nIngest benchmark: {n} signed deliveries per storefront, {c} concurrent keep-alive clients.\n\
             baseline = a RAW-sized and an EVENT-sized JetStream publish-ack per delivery (no HTTP);\n\
             floor = an axum handler doing only those two publish-acks, driven like ingest (HTTP's own cost);\n\
             CPU = µs per delivery in this process (clients, services, span export) + in nats-server.\n"
        );
        println!(
            "| storefront | baseline/s | floor/s | ingest/s | ingest ÷ baseline | ingest ÷ floor | p50 | p99 | CPU baseline | CPU floor | CPU ingest |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let cpu = |p: &Phase| format!("{:.0} + {:.0}", p.cpu.0, p.cpu.1);
        for r in &rows {
            let (p50, p99) = r.ingest.latency.unwrap_or_default();
            println!(
                "| {} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} | {:.1} ms | {:.1} ms | {} | {} | {} |",
                r.name,
                r.baseline.per_sec,
                r.floor.per_sec,
                r.ingest.per_sec,
                r.ingest.per_sec / r.baseline.per_sec,
                r.ingest.per_sec / r.floor.per_sec,
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3,
                cpu(&r.baseline),
                cpu(&r.floor),
                cpu(&r.ingest),
            );
        }
        relay_e2e::support::otlp::flush();
        println!(
            "\nSpans exported so far: {}",
            relay_e2e::support::otlp::received()
        );
        mapper.resume(ResumeRequest {}).await?;
        writer.resume(ResumeRequest {}).await?;
        if all {
            // The pipeline benchmark below counts contacts on top of what this left behind.
            wait_tagged_count_settled(&stack).await;
        }
    }
    if args.suite == "pipeline" || all {
        pipeline(&stack, n, c).await?;
    }
    // Last: it leaves the writer paused with its plans in COMMANDS.
    if args.suite == "mapper" || all {
        mapper::run(stack.clone(), n, &opts).await?.print();
    }
    Ok(())
}

/// The pipeline benchmark (module docs, phases 1–4).
async fn pipeline(stack: &Arc<Stack>, n: usize, c: usize) -> anyhow::Result<()> {
    let initial = stack
        .sandbox
        .contacts(LOCATION)
        .iter()
        .filter(|c| c.tags.iter().any(|t| t == "donor"))
        .count();
    let initial_all = stack.sandbox.contacts(LOCATION).len();
    let mut phases = Vec::new();

    // 1. Baseline: RAW-sized then EVENT-sized publish, each awaiting its ack.
    let js = async_nats::jetstream::new(stack.nats.client().await);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "BENCH".into(),
        subjects: vec!["bench.>".into()],
        ..Default::default()
    })
    .await?;
    let raw = bytes::Bytes::from(donation(1, "baseline@example.com", "Base Line"));
    let event = bytes::Bytes::from(vec![b'x'; 1400]); // a normalised event is ~1.4 KB
    let cpu = Cpu::now();
    let (elapsed, lat) = run_concurrent(n, c, move |i| {
        let (js, raw, event) = (js.clone(), raw.clone(), event.clone());
        async move {
            js.publish(format!("bench.raw.{}", i % 16), raw)
                .await
                .unwrap()
                .await
                .unwrap();
            js.publish(format!("bench.evt.{}", i % 16), event)
                .await
                .unwrap()
                .await
                .unwrap();
        }
    })
    .await;
    phases.push(timed(
        "baseline: 2 JetStream publish-acks per delivery",
        n,
        elapsed,
        &lat,
        cpu,
    ));

    // 2. Ingest alone.
    let mut mapper = admin_client(stack.mapper.admin).await;
    let mut writer = admin_client(stack.writer.admin).await;
    mapper.pause(PauseRequest {}).await?;
    writer.pause(PauseRequest {}).await?;
    let cpu = Cpu::now();
    let (elapsed, lat) = post_all(stack, n, c, 100_000).await;
    phases.push(timed(
        "ingest-bmc: signed delivery → 200 (after both acks)",
        n,
        elapsed,
        &lat,
        cpu,
    ));

    // 3. Drain: mapper + writer + GHL calls.
    let (started, cpu) = (Instant::now(), Cpu::now());
    mapper.resume(ResumeRequest {}).await?;
    writer.resume(ResumeRequest {}).await?;
    let drained = wait_tagged(stack, initial + n, started).await?;
    phases.push(Phase {
        name: "mapper + writer: backlog → tagged GHL contacts",
        per_sec: n as f64 / drained.as_secs_f64(),
        latency: None,
        cpu: Cpu::now().per_delivery(cpu, n),
    });

    // 4. Everything at once.
    let (started, cpu) = (Instant::now(), Cpu::now());
    post_all(stack, n, c, 200_000).await;
    let e2e = wait_tagged(stack, initial + 2 * n, started).await?;
    phases.push(Phase {
        name: "end to end: delivery → tagged GHL contact",
        per_sec: n as f64 / e2e.as_secs_f64(),
        latency: None,
        cpu: Cpu::now().per_delivery(cpu, n),
    });

    let baseline = phases[0].per_sec;
    println!(
        "\nRelay benchmark: {n} deliveries per phase, concurrency {c}, everything in one process on this machine\n"
    );
    println!(
        "| phase | deliveries/s | ratio to baseline | p50 | p99 | CPU µs/delivery (relay + nats-server) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for p in &phases {
        let (p50, p99) = match p.latency {
            Some((a, b)) => (
                format!("{:.1} ms", a.as_secs_f64() * 1e3),
                format!("{:.1} ms", b.as_secs_f64() * 1e3),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {:.0} | {:.3} | {p50} | {p99} | {:.0} + {:.0} |",
            p.name,
            p.per_sec,
            p.per_sec / baseline,
            p.cpu.0,
            p.cpu.1
        );
    }
    let contacts = stack.sandbox.contacts(LOCATION).len() - initial_all;
    println!(
        "\nGHL contacts: {contacts} for {} distinct deliveries (one each, none duplicated)",
        2 * n
    );
    anyhow::ensure!(
        contacts == 2 * n,
        "expected exactly one contact per delivery"
    );
    Ok(())
}
