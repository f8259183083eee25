//! `tests/bench.sh`: how fast Relay moves deliveries, as ratios to what the same nats-server
//! does with bare JetStream publish-acks in the same run (so the figures travel across machines).
//!
//! 1. baseline: `C` concurrent publishers, each awaiting its ack, on a plain stream;
//! 2. ingest: `C` concurrent clients posting signed BMC deliveries (each = RAW + EVENTS
//!    publishes, answered after both acks);
//! 3. end to end: from the first post until every donor is a tagged contact in the sandbox
//!    (ingest → mapper → writer → GHL upsert + add tags), rate limits lifted.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use relay_e2e::{BMC_SECRET, LOCATION, Stack, StackOptions, donation};

#[derive(Parser)]
struct Args {
    /// Deliveries per phase.
    #[arg(long, default_value_t = 3000)]
    n: usize,
    /// Concurrent publishers / HTTP clients.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

struct Phase {
    name: &'static str,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs `n` jobs with `c` workers; returns (elapsed, sorted latencies).
async fn run_concurrent<F, Fut>(n: usize, c: usize, job: F) -> (Duration, Vec<Duration>)
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let stack = Arc::new(Stack::start_with(StackOptions::unthrottled()).await);
    let (n, c) = (args.n, args.concurrency);
    let mut phases = Vec::new();

    // 1. Baseline: bare JetStream publish + ack of an event-sized payload.
    let js = async_nats::jetstream::new(stack.nats.client().await);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "BENCH".into(),
        subjects: vec!["bench.>".into()],
        ..Default::default()
    })
    .await?;
    let payload = bytes::Bytes::from(donation(1, "baseline@example.com", "Base Line"));
    let (elapsed, lat) = run_concurrent(n, c, move |i| {
        let js = js.clone();
        let payload = payload.clone();
        async move {
            js.publish(format!("bench.{}", i % 16), payload).await.unwrap().await.unwrap();
        }
    })
    .await;
    phases.push(Phase { name: "JetStream publish-ack (baseline)", per_sec: n as f64 / elapsed.as_secs_f64(), p50: percentile(&lat, 0.5), p99: percentile(&lat, 0.99) });

    // 2 + 3. Signed deliveries through ingest, then until all are tagged contacts in GHL.
    let s = stack.clone();
    let (elapsed, lat) = run_concurrent(n, c, move |i| {
        let s = s.clone();
        async move {
            let body = donation(100_000 + i as u64, &format!("bench{i}@example.com"), "Bench Donor");
            let resp = s.post_bmc(&body, Some(BMC_SECRET)).await;
            assert_eq!(resp.status(), 200);
        }
    })
    .await;
    let ingest_started = Instant::now() - elapsed;
    phases.push(Phase { name: "ingest-bmc: signed delivery → 200", per_sec: n as f64 / elapsed.as_secs_f64(), p50: percentile(&lat, 0.5), p99: percentile(&lat, 0.99) });

    loop {
        let done = stack.sandbox.contacts(LOCATION).iter().filter(|c| c.tags.iter().any(|t| t == "donor")).count();
        if done >= n {
            break;
        }
        anyhow::ensure!(ingest_started.elapsed() < Duration::from_secs(600), "only {done}/{n} contacts after 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e2e = ingest_started.elapsed();
    phases.push(Phase { name: "end to end: delivery → tagged GHL contact", per_sec: n as f64 / e2e.as_secs_f64(), p50: Duration::ZERO, p99: Duration::ZERO });

    let baseline = phases[0].per_sec;
    println!("\nRelay benchmark: {n} messages per phase, concurrency {c}\n");
    println!("| phase | per second | ratio to baseline | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    for p in &phases {
        let lat = |d: Duration| if d.is_zero() { "-".to_owned() } else { format!("{:.1} ms", d.as_secs_f64() * 1000.0) };
        println!("| {} | {:.0} | {:.3} | {} | {} |", p.name, p.per_sec, p.per_sec / baseline, lat(p.p50), lat(p.p99));
    }
    let upserts = stack.sandbox.requests().iter().filter(|r| r.path == "/contacts/upsert").count();
    println!("\nGHL calls made: {upserts} upserts for {n} deliveries (2 calls per plan: upsert + add tags)");
    Ok(())
}
