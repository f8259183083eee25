//! Issue 7's writer benchmark: how much of every location's GHL budget the writer uses when
//! each location has more plans than its budget allows, without a single 429.
//!
//! Setup, once per sandbox rate-limit algorithm (a fresh nats-server, sandbox and writer each):
//! - the sandbox in this process with GHL's limits (its defaults: 100 requests per 10 s and
//!   200,000 per day per location) and 50 ms of latency on every API call; locations
//!   `loc-0000`, `loc-0001`, ... each with its own private integration token and one contact;
//! - the writer as a separate process (the release `relay-writer` binary, built on demand) with
//!   a config file naming every location and its token, so that its memory and CPU are its own.
//!
//! Every plan is one GHL request: add tag `bench` to the location's contact by id (no lookup,
//! no KV). Phases:
//! 1. unthrottled: one plan per location per second (a tenth of the budget) for
//!    [`UNTHROTTLED_ROUNDS`] seconds, after a warm-up round; latency = from the publish to the
//!    plan's `RESULTS` message reaching a subscriber here;
//! 2. saturation: with the writer paused, `plans` plans published round-robin over the
//!    locations (plan `k` for location `k mod locations`), then the writer resumed until
//!    `COMMANDS` is empty. The sandbox's request log gives, per location, the instants of its
//!    accepted requests and its 429s.
//!
//! Utilisation of a location = (accepted requests − 1) ÷ (budget rate × time from its first to
//! its last accepted request): 1.0 is one request every 100 ms (GHL's 100 / 10 s) all the way;
//! an initial burst reads above that, noticeably in short runs only. The writer shapes each
//! location to its limit per burst window stretched by 1 %, with a burst of 2 (see
//! `relay_writer::ratelimit`), so its ceiling is about 0.98 (0.985 over 200 requests).
//! 429s and other statuses are counted from the same log.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt as _;
use relay_common::config::NatsConfig;
use relay_common::nats::Nats;
use relay_contracts::admin::{GetStatusRequest, PauseRequest, ResumeRequest};
use relay_contracts::nats::{COMMAND_PARTITIONS, partition_of};
use relay_contracts::plan::{ContactSpec, Lookup, Step};
use relay_contracts::result::Outcome;
use relay_contracts::version::V1;
use relay_contracts::{ContactPlan, EventId, PlanId, PlanResult, StreamKind, Token, headers};
use relay_e2e::TestAdminClient;
use relay_e2e::support::{ADMIN_TOKEN, NatsServer, free_port, unique_prefix};
use relay_sandbox::{NewLocation, RateLimitAlgorithm, Sandbox, SandboxConfig, SandboxState};
use tokio_util::sync::CancellationToken;

use crate::{Cpu, percentile, proc_stat};

/// GHL's distance, added by the sandbox to every API call.
const LATENCY: Duration = Duration::from_millis(50);
/// Seconds of one plan per location per second in the unthrottled phase.
const UNTHROTTLED_ROUNDS: usize = 10;
/// The target of the issue.
const TARGET: f64 = 0.97;
/// Plans published and not yet acknowledged by JetStream at once.
const PUBLISH_WINDOW: usize = 1024;
/// The route of the one request each plan makes.
const ADD_TAGS: &str = "/contacts/{contactId}/tags";
/// No plan acknowledged for this long ends the run with an error.
const STALL: Duration = Duration::from_secs(120);

pub(crate) struct Options {
    pub(crate) locations: usize,
    pub(crate) plans: usize,
    pub(crate) algorithms: Vec<RateLimitAlgorithm>,
    /// `partitions.max_in_flight` of the writer.
    pub(crate) max_in_flight: usize,
    /// `partitions.max_pending` of the writer (`None`: its default).
    pub(crate) max_pending: Option<i64>,
}

/// A location of the run: its id, token and the contact its plans tag.
struct Location {
    id: Token,
    token: String,
    contact: String,
}

/// One location's share of the saturation phase.
struct Served {
    location: String,
    accepted: usize,
    /// From its first to its last accepted request.
    span: Duration,
    utilisation: f64,
    /// Most accepted requests arriving within one burst interval.
    peak: usize,
}

/// Latencies of the unthrottled phase.
struct Latency {
    samples: usize,
    /// Publish → result received here.
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// The writer's own time per attempt (`PlanResult::latency_ms`), budget waits included.
    attempt_p50: Duration,
    attempt_p99: Duration,
    /// 429s answered during the phase.
    throttled: u64,
}

/// CPU used during a phase, in seconds of one core.
#[derive(Clone, Copy, Default)]
struct CpuUse {
    writer: f64,
    /// This process: the sandbox, plus the benchmark's publishing and bookkeeping.
    sandbox: f64,
    nats: f64,
    /// Every process on the machine (the other work on it included).
    machine: f64,
}

/// CPU counters at one instant.
#[derive(Clone, Copy)]
struct CpuMark {
    ours: Cpu,
    writer: Duration,
    machine: Duration,
}

impl CpuMark {
    fn now(writer_pid: u32) -> Self {
        Self {
            ours: Cpu::now(),
            writer: proc_stat(&PathBuf::from(format!("/proc/{writer_pid}/stat")))
                .map(|(_, _, cpu)| cpu)
                .unwrap_or_default(),
            machine: machine_busy(),
        }
    }

    fn since(self, earlier: Self) -> CpuUse {
        let s = |a: Duration, b: Duration| a.saturating_sub(b).as_secs_f64();
        CpuUse {
            writer: s(self.writer, earlier.writer),
            sandbox: s(self.ours.relay, earlier.ours.relay),
            nats: s(self.ours.nats, earlier.ours.nats),
            machine: s(self.machine, earlier.machine),
        }
    }
}

/// CPU time every process on the machine spent so far (`/proc/stat`: all but idle and iowait).
fn machine_busy() -> Duration {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let Some(line) = text.lines().next() else {
        return Duration::ZERO;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Duration::from_millis(busy * 10)
}

/// What one algorithm's run measured.
struct Run {
    algorithm: RateLimitAlgorithm,
    publish_per_sec: f64,
    elapsed: Duration,
    served: Vec<Served>,
    overall: f64,
    accepted: usize,
    throttled: u64,
    throttled_locations: usize,
    /// Seconds after the resume of the first and last 429.
    throttled_between: Option<(f64, f64)>,
    other_errors: BTreeMap<u16, u64>,
    /// The writer's counters (admin status) for the phase.
    retried: u64,
    dead_lettered: u64,
    latency: Latency,
    rss_idle_kib: u64,
    rss_peak_kib: u64,
    cpu: CpuUse,
    cpu_unthrottled: (CpuUse, Duration, usize),
    writer_warnings: Vec<String>,
}

pub(crate) struct Report {
    locations: usize,
    plans: usize,
    max_in_flight: usize,
    max_pending: Option<i64>,
    burst_max: u32,
    burst_interval: Duration,
    daily_max: u32,
    runs: Vec<Run>,
}

/// The release `relay-writer` next to this binary, built (or found up to date) by cargo with
/// this binary's profile and target directory.
fn writer_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .context("the benchmark binary has no directory")?;
    let target_dir = profile_dir
        .parent()
        .context("the benchmark binary is not in a cargo target directory")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    #[allow(clippy::disallowed_methods)] // the cargo that runs this benchmark, if any
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "-p",
            "relay-writer",
            "--bin",
            "relay-writer",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    if profile_dir.file_name() == Some("release".as_ref()) {
        cmd.arg("--release");
    }
    eprintln!("writer bench: building relay-writer ...");
    let status = cmd
        .status()
        .context("running cargo build -p relay-writer")?;
    anyhow::ensure!(status.success(), "cargo build -p relay-writer failed");
    let bin = profile_dir.join("relay-writer");
    anyhow::ensure!(bin.exists(), "{} was not built", bin.display());
    Ok(bin)
}

/// The writer process; killed on drop.
struct WriterProcess {
    child: Child,
    log: PathBuf,
}

impl WriterProcess {
    fn spawn(bin: &Path, config: &Path, log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::File::create(log)?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            // The config's `telemetry.log_filter` decides, not the benchmark's own RUST_LOG.
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self {
            child,
            log: log.to_owned(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `VmRSS` and `VmHWM` (peak RSS) in KiB.
    fn memory(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The writer's log lines at WARN or above, each distinct message once (up to `max`).
    fn warnings(&self, max: usize) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut seen: Vec<String> = Vec::new();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for line in text
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        {
            // Drop the timestamp so repeats of one message group together.
            let key = line
                .split_once(" WARN ")
                .or_else(|| line.split_once(" ERROR "))
                .map_or(line, |(_, rest)| rest)
                .to_owned();
            let key: String = key.chars().take(200).collect();
            let c = counts.entry(key.clone()).or_default();
            if *c == 0 && seen.len() < max {
                seen.push(key);
            }
            *c += 1;
        }
        seen.into_iter()
            .map(|k| format!("{}× {k}", counts[&k]))
            .collect()
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for WriterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops the in-process sandbox when dropped.
struct SandboxGuard(CancellationToken);

impl Drop for SandboxGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn writer_config(
    sandbox: SocketAddr,
    nats: &NatsConfig,
    admin: SocketAddr,
    opts: &Options,
    locations: &[Location],
) -> String {
    let mut toml = format!(
        "[ghl]\nbase_url = \"http://{sandbox}\"\n# Long: a request timed out under load would be sent twice.\ntimeout = \"30s\"\n\n\
         [nats]\nurl = \"{}\"\nprefix = \"{}\"\n\n\
         [admin]\nlisten = \"{admin}\"\ntoken = \"literal:{ADMIN_TOKEN}\"\n\n\
         [telemetry]\nlog_filter = \"warn\"\n\n\
         [partitions]\nmax_in_flight = {}\n",
        nats.url,
        nats.prefix.as_ref().map(Token::as_str).unwrap_or_default(),
        opts.max_in_flight,
    );
    if let Some(n) = opts.max_pending {
        let _ = writeln!(toml, "max_pending = {n}");
    }
    for l in locations {
        let _ = write!(
            toml,
            "\n[locations.{}]\ntoken = \"literal:{}\"\n",
            l.id, l.token
        );
    }
    toml
}

/// A plan tagging `location`'s contact: its subject, id and payload.
fn plan(
    ns: &relay_contracts::Namespace,
    location: &Location,
    key: &str,
) -> (String, String, Bytes) {
    let plan = ContactPlan {
        v: V1,
        id: PlanId::derive(&["bench-writer", key]),
        location_id: location.id.clone(),
        connection: "bench/writer".into(),
        source_event_id: EventId::derive(&["bench-writer", key]),
        contact: ContactSpec {
            lookup: Lookup::Id(location.contact.clone()),
            ..Default::default()
        },
        steps: vec![Step::AddTags {
            tags: vec!["bench".into()],
        }],
    };
    let subject = ns.command(partition_of(&location.id, COMMAND_PARTITIONS), &location.id);
    let payload = serde_json::to_vec(&plan).expect("a plan serialises");
    (subject, plan.id.to_string(), payload.into())
}

async fn publish(nats: &Nats, subject: String, id: &str, payload: Bytes) -> anyhow::Result<()> {
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::CONTENT_TYPE, "application/json");
    let ack = nats.send(subject, Some(id), h, payload).await?;
    let ack = ack.await?;
    anyhow::ensure!(!ack.duplicate, "plan {id} was a duplicate");
    Ok(())
}

async fn admin_of(addr: SocketAddr, writer: &mut WriterProcess) -> anyhow::Result<TestAdminClient> {
    let started = Instant::now();
    loop {
        anyhow::ensure!(
            writer.alive(),
            "the writer exited during start:\n{}",
            writer.tail()
        );
        if relay_e2e::health(addr).await == Some(true)
            && let Ok(mut admin) = relay_e2e::support::admin::try_admin_client(addr).await
        {
            // Ready, and holding every partition.
            let status = admin.get_status(GetStatusRequest {}).await?.into_inner();
            if status.consumers.len() == usize::from(COMMAND_PARTITIONS) {
                return Ok(admin);
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the writer did not take its partitions within 60 s:\n{}",
            writer.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The writer's plan counters over its partition consumers: (acked, retried, dead-lettered).
async fn writer_counters(admin: &mut TestAdminClient) -> anyhow::Result<(u64, u64, u64)> {
    let status = admin.get_status(GetStatusRequest {}).await?.into_inner();
    Ok(status.consumers.iter().fold((0, 0, 0), |(a, r, d), c| {
        (a + c.acked, r + c.retried, d + c.dead_lettered)
    }))
}

fn unix_nanos(t: SystemTime) -> i128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or_default()
}

fn throttled_total(state: &SandboxState) -> u64 {
    state
        .request_counts()
        .iter()
        .filter(|c| c.status == 429)
        .map(|c| c.count)
        .sum()
}

/// Publishes `plans` at `per_sec` (spread evenly) and waits for each one's `ok` result.
/// Returns (publish → result, the writer's attempt latency) per plan.
async fn timed_plans(
    nats: &Nats,
    plans: Vec<(String, String, Bytes)>,
    per_sec: f64,
) -> anyhow::Result<Vec<(Duration, Duration)>> {
    let expected = plans.len();
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut sub = nats
        .client
        .subscribe(nats.ns.all(StreamKind::Results))
        .await?;
    nats.client.flush().await?;
    let collector = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut out = Vec::with_capacity(expected);
            let mut failed = Vec::new();
            while out.len() < expected {
                let msg = tokio::time::timeout(Duration::from_secs(60), sub.next())
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!("only {} of {expected} results after 60 s", out.len())
                    })?
                    .ok_or_else(|| anyhow::anyhow!("the results subscription ended"))?;
                let arrived = Instant::now();
                let result = PlanResult::decode(&msg.payload)?;
                if result.outcome != Outcome::Ok {
                    failed.push(format!("{}: {:?}", result.plan_id, result.error));
                    anyhow::ensure!(failed.len() < 10, "plans failed: {failed:?}");
                    continue;
                }
                let Some(at) = sent.lock().unwrap().remove(result.plan_id.as_str()) else {
                    continue;
                };
                out.push((arrived - at, Duration::from_millis(result.latency_ms)));
            }
            anyhow::Ok(out)
        })
    };
    let gap = Duration::from_secs_f64(1.0 / per_sec);
    let started = tokio::time::Instant::now();
    let mut acks = Vec::with_capacity(expected);
    for (i, (subject, id, payload)) in plans.into_iter().enumerate() {
        tokio::time::sleep_until(started + gap * i as u32).await;
        sent.lock().unwrap().insert(id.clone(), Instant::now());
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::CONTENT_TYPE, "application/json");
        let ack = nats.send(subject, Some(&id), h, payload).await?;
        acks.push(tokio::spawn(ack));
    }
    for ack in acks {
        ack.await??;
    }
    collector.await?
}

async fn run_one(opts: &Options, algorithm: RateLimitAlgorithm, bin: &Path) -> anyhow::Result<Run> {
    let name = algorithm_name(algorithm);
    let (l, p) = (opts.locations, opts.plans);
    let nats_server = NatsServer::start();
    let nats_cfg = NatsConfig {
        url: nats_server.url(),
        prefix: Some(unique_prefix()),
        ..Default::default()
    };
    let nats = Nats::connect(&nats_cfg, "relay-bench").await?;
    nats.ensure_streams(&nats_cfg).await?;

    // The sandbox: GHL's limits (its defaults), GHL's distance, and a request log that keeps
    // every request of the saturation phase.
    let mut scfg = SandboxConfig::for_tests();
    scfg.seed_demo = false;
    scfg.latency = LATENCY;
    scfg.rate_limit.algorithm = algorithm;
    scfg.request_log_capacity = p + l * (UNTHROTTLED_ROUNDS + 2) + 100_000;
    let limits = scfg.rate_limit.clone();
    let sandbox = Sandbox::bind(scfg).await?;
    let sandbox_addr = sandbox.local_addr();
    let state = sandbox.state();
    let stop = CancellationToken::new();
    let _sandbox = SandboxGuard(stop.clone());
    tokio::spawn(sandbox.run(stop));

    // Locations, each with a contact to tag (created through the API like any client would).
    let ghl = relay_ghl::GhlClient::new(
        format!("http://{sandbox_addr}").parse()?,
        Duration::from_secs(30),
    )?;
    let mut locations = Vec::with_capacity(l);
    for i in 0..l {
        let id = Token::parse(&format!("loc-{i:04}"))?;
        let token = format!("pit-bench-{i:04}");
        state.add_location(NewLocation::new(id.as_str(), token.as_str()))?;
        locations.push(Location {
            id,
            token,
            contact: String::new(),
        });
    }
    let contacts = futures::stream::iter(&locations)
        .map(|loc| {
            let ghl = &ghl;
            async move {
                let body = relay_ghl::types::UpsertContact {
                    location_id: loc.id.to_string(),
                    email: Some(format!("bench@{}.example.com", loc.id)),
                    first_name: Some("Bench".into()),
                    ..Default::default()
                };
                let token = secrecy::SecretString::from(loc.token.clone());
                anyhow::Ok(ghl.upsert_contact(&token, &body).await?.body.contact.id)
            }
        })
        .buffered(64)
        .collect::<Vec<_>>()
        .await;
    for (loc, contact) in locations.iter_mut().zip(contacts) {
        loc.contact = contact?;
    }

    // The writer.
    let dir = tempfile::tempdir()?;
    let admin_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let config = dir.path().join("writer.toml");
    std::fs::write(
        &config,
        writer_config(sandbox_addr, &nats_cfg, admin_addr, opts, &locations),
    )?;
    let mut writer = WriterProcess::spawn(bin, &config, &dir.path().join("writer.log"))?;
    let mut admin = admin_of(admin_addr, &mut writer).await?;
    let (rss_idle_kib, _) = writer.memory();

    // 1. Unthrottled: warm-up (lanes, connections), then the measured rounds.
    let ns = nats.ns.clone();
    eprintln!("writer bench [{name}]: unthrottled phase ({UNTHROTTLED_ROUNDS} s)");
    let warmup: Vec<_> = locations
        .iter()
        .map(|loc| plan(&ns, loc, &format!("{name}-warm-{}", loc.id)))
        .collect();
    timed_plans(&nats, warmup, l as f64).await?;
    let throttled_before = throttled_total(&state);
    let rounds: Vec<_> = (0..UNTHROTTLED_ROUNDS)
        .flat_map(|r| {
            locations
                .iter()
                .map(move |loc| (r, loc))
                .collect::<Vec<_>>()
        })
        .map(|(r, loc)| plan(&ns, loc, &format!("{name}-lat-{r}-{}", loc.id)))
        .collect();
    let n_unthrottled = rounds.len();
    let (mark, started) = (CpuMark::now(writer.pid()), Instant::now());
    let mut samples = timed_plans(&nats, rounds, l as f64).await?;
    let cpu_unthrottled = (
        CpuMark::now(writer.pid()).since(mark),
        started.elapsed(),
        n_unthrottled,
    );
    let mut total: Vec<Duration> = samples.iter().map(|s| s.0).collect();
    total.sort();
    samples.sort_by_key(|s| s.1);
    let attempts: Vec<Duration> = samples.iter().map(|s| s.1).collect();
    let latency = Latency {
        samples: total.len(),
        p50: percentile(&total, 0.5),
        p99: percentile(&total, 0.99),
        max: total.last().copied().unwrap_or_default(),
        attempt_p50: percentile(&attempts, 0.5),
        attempt_p99: percentile(&attempts, 0.99),
        throttled: throttled_total(&state) - throttled_before,
    };
    // GHL's window forgets the unthrottled phase before the saturation starts.
    tokio::time::sleep(limits.burst_interval + Duration::from_secs(1)).await;

    // 2. Saturation: every plan queued with the writer paused, then resumed.
    eprintln!("writer bench [{name}]: publishing {p} plans (writer paused)");
    let (_, retried_before, dead_before) = writer_counters(&mut admin).await?;
    admin.pause(PauseRequest {}).await?;
    state.clear_requests();
    let published = Instant::now();
    let results = futures::stream::iter(0..p)
        .map(|k| {
            let (subject, id, payload) = plan(&ns, &locations[k % l], &format!("{name}-sat-{k}"));
            let nats = &nats;
            async move { publish(nats, subject, &id, payload).await }
        })
        .buffer_unordered(PUBLISH_WINDOW)
        .collect::<Vec<_>>()
        .await;
    for r in results {
        r?;
    }
    let publish_per_sec = p as f64 / published.elapsed().as_secs_f64();
    let mut commands = nats
        .js
        .get_stream(ns.stream_name(StreamKind::Commands))
        .await?;
    let queued = commands.info().await?.state.messages;
    anyhow::ensure!(
        queued == p as u64,
        "COMMANDS holds {queued} plans, expected {p}"
    );

    eprintln!("writer bench [{name}]: saturation: resuming the writer");
    let resumed_at = unix_nanos(SystemTime::now());
    let (mark, started) = (CpuMark::now(writer.pid()), Instant::now());
    admin.resume(ResumeRequest {}).await?;
    let (mut last_left, mut last_change, mut last_report) =
        (queued, Instant::now(), Instant::now());
    let elapsed = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let left = commands.info().await?.state.messages;
        if left == 0 {
            break started.elapsed();
        }
        if left != last_left {
            (last_left, last_change) = (left, Instant::now());
        }
        anyhow::ensure!(
            writer.alive(),
            "the writer exited with {left} plans left:\n{}",
            writer.tail()
        );
        anyhow::ensure!(
            last_change.elapsed() < STALL,
            "no plan acknowledged for {STALL:?}; {left} left:\n{}",
            writer.tail()
        );
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            let done = p as u64 - left;
            eprintln!(
                "writer bench [{name}]: {:.0} s: {done} of {p} plans applied ({:.0}/s)",
                started.elapsed().as_secs_f64(),
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    };
    let cpu = CpuMark::now(writer.pid()).since(mark);
    let (_, rss_peak_kib) = writer.memory();
    let (_, retried, dead) = writer_counters(&mut admin).await?;
    let writer_warnings = writer.warnings(8);
    drop(admin);
    drop(writer);

    // The sandbox's view of the saturation phase.
    let rate = f64::from(limits.burst_max) / limits.burst_interval.as_secs_f64();
    let window = limits.burst_interval.as_nanos() as i128;
    let mut accepted: HashMap<String, Vec<i128>> = HashMap::new();
    let mut throttled_at: HashMap<String, Vec<i128>> = HashMap::new();
    let mut other_errors = BTreeMap::new();
    for r in state.requests() {
        if r.route.as_deref() != Some(ADD_TAGS) {
            continue;
        }
        let location = r.location_id.clone().unwrap_or_default();
        let at = r.timestamp.unix_timestamp_nanos();
        match r.status {
            200..=299 => accepted.entry(location).or_default().push(at),
            429 => throttled_at.entry(location).or_default().push(at),
            s => *other_errors.entry(s).or_default() += 1,
        }
    }
    let throttled = throttled_total(&state);
    let n_accepted: usize = accepted.values().map(Vec::len).sum();
    anyhow::ensure!(
        accepted.len() == l,
        "only {} of {l} locations had a request accepted",
        accepted.len()
    );
    let mut served: Vec<Served> = accepted
        .into_iter()
        .map(|(location, mut at)| {
            at.sort_unstable();
            let span_ns = at[at.len() - 1] - at[0];
            let span = Duration::from_nanos(u64::try_from(span_ns).unwrap_or(0));
            let utilisation = if at.len() > 1 && span_ns > 0 {
                (at.len() - 1) as f64 / (rate * span.as_secs_f64())
            } else {
                0.0
            };
            let (mut peak, mut first) = (0, 0);
            for (i, t) in at.iter().enumerate() {
                while *t - at[first] >= window {
                    first += 1;
                }
                peak = peak.max(i + 1 - first);
            }
            Served {
                location,
                accepted: at.len(),
                span,
                utilisation,
                peak,
            }
        })
        .collect();
    served.sort_by(|a, b| {
        a.utilisation
            .total_cmp(&b.utilisation)
            .then(a.location.cmp(&b.location))
    });
    let overall = served.iter().map(|s| s.accepted - 1).sum::<usize>() as f64
        / served
            .iter()
            .map(|s| rate * s.span.as_secs_f64())
            .sum::<f64>();
    let all_429: Vec<i128> = throttled_at.values().flatten().copied().collect();
    let secs = |t: i128| (t - resumed_at) as f64 / 1e9;
    let throttled_between = all_429
        .iter()
        .min()
        .zip(all_429.iter().max())
        .map(|(a, b)| (secs(*a), secs(*b)));
    Ok(Run {
        algorithm,
        publish_per_sec,
        elapsed,
        served,
        overall,
        accepted: n_accepted,
        throttled,
        throttled_locations: throttled_at.len(),
        throttled_between,
        other_errors,
        retried: retried - retried_before,
        dead_lettered: dead - dead_before,
        latency,
        rss_idle_kib,
        rss_peak_kib,
        cpu,
        cpu_unthrottled,
        writer_warnings,
    })
}

fn algorithm_name(a: RateLimitAlgorithm) -> &'static str {
    match a {
        RateLimitAlgorithm::SlidingWindow => "sliding_window",
        RateLimitAlgorithm::FixedWindow => "fixed_window",
    }
}

pub(crate) fn parse_algorithms(arg: &str) -> Vec<RateLimitAlgorithm> {
    match arg {
        "sliding_window" => vec![RateLimitAlgorithm::SlidingWindow],
        "fixed_window" => vec![RateLimitAlgorithm::FixedWindow],
        _ => vec![
            RateLimitAlgorithm::SlidingWindow,
            RateLimitAlgorithm::FixedWindow,
        ],
    }
}

pub(crate) async fn run(opts: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(
        opts.locations > 0 && opts.locations <= 10_000,
        "--locations must be in 1..=10000"
    );
    anyhow::ensure!(
        opts.plans >= 2 * opts.locations,
        "--plans must give every location at least 2 plans"
    );
    let bin = writer_binary()?;
    let limits = relay_sandbox::RateLimitConfig::default();
    let mut runs = Vec::new();
    for &algorithm in &opts.algorithms {
        runs.push(run_one(&opts, algorithm, &bin).await?);
    }
    Ok(Report {
        locations: opts.locations,
        plans: opts.plans,
        max_in_flight: opts.max_in_flight,
        max_pending: opts.max_pending,
        burst_max: limits.burst_max,
        burst_interval: limits.burst_interval,
        daily_max: limits.daily_max,
        runs,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

impl Report {
    pub(crate) fn print(&self) {
        let rate = f64::from(self.burst_max) / self.burst_interval.as_secs_f64();
        let max_rate = rate * self.locations as f64;
        println!(
            "\nWriter benchmark: {} locations, {} plans ({} each, one add-tags request per plan), sandbox with GHL's limits\n\
             ({} requests / {:?} and {} / day per location) and {} ms latency; writer = the relay-writer process\n\
             (partitions.max_in_flight {}, partitions.max_pending {}, other settings default; {} command partitions).\n\
             utilisation = (accepted requests − 1) ÷ ({rate:.0} req/s × time from the location's first to last accepted request);\n\
             budget max = {max_rate:.0} plans/s (every location at {rate:.0} req/s); peak/window = most accepted requests of one location\n\
             arriving within {:?}. Unthrottled: 1 plan per location per second; latency from publish to its RESULTS message.\n\
             CPU from /proc: µs per plan and cores busy of the writer process, this process (the sandbox) and nats-server;\n\
             machine = every process on it (/proc/stat, tick-sampled: approximate).\n",
            self.locations,
            self.plans,
            self.plans / self.locations,
            self.burst_max,
            self.burst_interval,
            self.daily_max,
            LATENCY.as_millis(),
            self.max_in_flight,
            self.max_pending
                .map_or_else(|| "default".to_owned(), |n| n.to_string()),
            COMMAND_PARTITIONS,
            self.burst_interval,
        );
        println!(
            "| sandbox algorithm | plans/s | ÷ budget max | utilisation overall | least served | median | best served | locations < {TARGET} | peak/window | 429s | writer retries |"
        );
        println!("|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|");
        for r in &self.runs {
            let who = |s: &Served| {
                format!(
                    "{:.3} ({}: {} in {:.1} s)",
                    s.utilisation,
                    s.location,
                    s.accepted,
                    s.span.as_secs_f64()
                )
            };
            let plans_per_sec = self.plans as f64 / r.elapsed.as_secs_f64();
            println!(
                "| {} | {:.0} | {:.3} | {:.3} | {} | {} | {} | {} | {} | {} | {} |",
                algorithm_name(r.algorithm),
                plans_per_sec,
                plans_per_sec / max_rate,
                r.overall,
                who(&r.served[0]),
                who(&r.served[r.served.len() / 2]),
                who(&r.served[r.served.len() - 1]),
                r.served.iter().filter(|s| s.utilisation < TARGET).count(),
                r.served.iter().map(|s| s.peak).max().unwrap_or(0),
                r.throttled,
                r.retried,
            );
        }
        println!(
            "\n| sandbox algorithm | unthrottled p50 | p99 | max | writer attempt p50 / p99 | writer RSS idle | writer peak RSS | CPU µs/plan: writer + sandbox + nats-server | cores busy: writer + sandbox + nats-server = ours (machine) | unthrottled: µs/plan, cores ours (machine) |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.runs {
            let wall = r.elapsed.as_secs_f64();
            let c = r.cpu;
            let per_plan = |s: f64| s * 1e6 / self.plans as f64;
            let (u, uwall, un) = r.cpu_unthrottled;
            let uwall = uwall.as_secs_f64();
            println!(
                "| {} | {} | {} | {} | {} / {} | {} | {} | {:.0} + {:.0} + {:.0} | {:.2} + {:.2} + {:.2} = {:.2} ({:.2}) | {:.0} + {:.0} + {:.0}, {:.2} ({:.2}) |",
                algorithm_name(r.algorithm),
                ms(r.latency.p50),
                ms(r.latency.p99),
                ms(r.latency.max),
                ms(r.latency.attempt_p50),
                ms(r.latency.attempt_p99),
                mib(r.rss_idle_kib),
                mib(r.rss_peak_kib),
                per_plan(c.writer),
                per_plan(c.sandbox),
                per_plan(c.nats),
                c.writer / wall,
                c.sandbox / wall,
                c.nats / wall,
                (c.writer + c.sandbox + c.nats) / wall,
                c.machine / wall,
                u.writer * 1e6 / un as f64,
                u.sandbox * 1e6 / un as f64,
                u.nats * 1e6 / un as f64,
                (u.writer + u.sandbox + u.nats) / uwall,
                u.machine / uwall,
            );
        }
        println!();
        for r in &self.runs {
            let least = &r.served[0];
            let below = r.served.iter().filter(|s| s.utilisation < TARGET).count();
            let yes = |ok: bool| if ok { "met" } else { "NOT met" };
            let mut line = format!(
                "{}: utilisation ≥ {TARGET} in every location: {} (least served {} at {:.3}; overall {:.3}); 429s = 0: {} ({}",
                algorithm_name(r.algorithm),
                yes(below == 0),
                least.location,
                least.utilisation,
                r.overall,
                yes(r.throttled == 0 && r.latency.throttled == 0),
                r.throttled
            );
            match r.throttled_between {
                Some((a, b)) => {
                    let _ = write!(
                        line,
                        " in saturation, at {a:.1}–{b:.1} s after the resume, {} locations",
                        r.throttled_locations
                    );
                }
                None => line.push_str(" in saturation"),
            }
            let _ = write!(
                line,
                ", {} unthrottled). Accepted add-tags requests: {} for {} plans; {} dead-lettered; {} unthrottled samples; plans published at {:.0}/s.",
                r.latency.throttled,
                r.accepted,
                self.plans,
                r.dead_lettered,
                r.latency.samples,
                r.publish_per_sec
            );
            if !r.other_errors.is_empty() {
                let _ = write!(line, " Other statuses: {:?}.", r.other_errors);
            }
            println!("{line}");
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            let per_plan = (r.cpu.writer + r.cpu.sandbox + r.cpu.nats) / self.plans as f64;
            let busy = r.cpu.machine / r.elapsed.as_secs_f64();
            let ours = (r.cpu.writer + r.cpu.sandbox + r.cpu.nats) / r.elapsed.as_secs_f64();
            if busy >= 0.9 * cores as f64 && ours < 0.8 * busy {
                println!(
                    "  Other work competed: {busy:.2} of {cores} cores busy, {ours:.2} of them ours ({:.0} µs per plan, \
                     writer + sandbox + nats-server).",
                    per_plan * 1e6
                );
            } else if busy >= 0.9 * cores as f64 {
                println!(
                    "  CPU-bound: {busy:.2} of {cores} cores busy; {:.0} µs per plan (writer + sandbox + nats-server) \
                     → at most {:.0} plans/s here with nothing else running, against a budget max of {max_rate:.0}/s.",
                    per_plan * 1e6,
                    cores as f64 / per_plan
                );
            } else {
                println!(
                    "  Not CPU-bound: {busy:.2} of {cores} cores busy ({:.0} µs per plan, writer + sandbox + nats-server).",
                    per_plan * 1e6
                );
            }
            for w in &r.writer_warnings {
                println!("  writer log: {w}");
            }
        }
    }
}
