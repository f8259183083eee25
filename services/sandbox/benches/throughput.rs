//! Sandbox throughput against a trivial axum handler, measured in the same run on the same
//! runtime (2 worker threads, as on the project's 2-core machines) with the same client.
//!
//! Run: `cargo bench -p relay-sandbox --bench throughput` (optionally `-- <seconds per
//! measurement>`). It prints requests per second for upsert and search and their ratio to the
//! baseline; the sandbox must stay above 0.3 of the baseline so it never limits a Relay
//! benchmark.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use relay_sandbox::{DEMO_LOCATION_ID, DEMO_TOKEN, NewLocation, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Requests in flight at once.
const CONCURRENCY: usize = 32;
/// Contacts the search scenario searches through (a location of their own).
const SEARCH_CONTACTS: u64 = 2_000;
/// That location, and its token.
const SEARCH_LOCATION: (&str, &str) = ("bench-search", "pit-bench-search");
/// The ratio the sandbox must reach.
const TARGET_RATIO: f64 = 0.3;

/// What one request is.
#[derive(Clone, Copy, Debug)]
enum Load {
    Baseline,
    Upsert,
    Search,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline: trivial axum handler",
            Self::Upsert => "sandbox: POST /contacts/upsert",
            Self::Search => "sandbox: POST /contacts/search",
        }
    }
}

fn upsert_body(location: &str, n: u64) -> Value {
    // Half creates, half updates of earlier contacts.
    let who = if n.is_multiple_of(2) { n } else { n / 2 };
    json!({
        "locationId": location,
        "email": format!("bench{who}@example.com"),
        "firstName": "Bench",
        "lastName": format!("{who}"),
        "tags": ["bench", if n.is_multiple_of(3) { "vip" } else { "regular" }],
        "source": "bench"
    })
}

fn search_body() -> Value {
    json!({
        "locationId": SEARCH_LOCATION.0,
        "pageLimit": 20,
        "filters": [{"field": "tags", "operator": "eq", "value": "vip"}],
        "sort": [{"field": "dateAdded", "direction": "desc"}]
    })
}

async fn one(client: &reqwest::Client, base: &str, load: Load, n: u64) -> bool {
    let (req, token) = match load {
        Load::Baseline => (
            client
                .post(format!("{base}/"))
                .json(&upsert_body(DEMO_LOCATION_ID, n)),
            DEMO_TOKEN,
        ),
        Load::Upsert => (
            client
                .post(format!("{base}/contacts/upsert"))
                .json(&upsert_body(DEMO_LOCATION_ID, n)),
            DEMO_TOKEN,
        ),
        Load::Search => (
            client
                .post(format!("{base}/contacts/search"))
                .json(&search_body()),
            SEARCH_LOCATION.1,
        ),
    };
    let req = req.bearer_auth(token).header("Version", "2021-07-28");
    match req.send().await {
        Ok(r) => {
            let ok = r.status().is_success();
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

/// Requests per second over `secs` after a short warm-up; panics on any failed request.
async fn measure(client: &reqwest::Client, base: &str, load: Load, secs: f64) -> (u64, f64) {
    let counter = Arc::new(AtomicU64::new(1_000_000));
    let run = |duration: Duration| {
        let client = client.clone();
        let base = base.to_owned();
        let counter = counter.clone();
        async move {
            let done = Arc::new(AtomicU64::new(0));
            let deadline = Instant::now() + duration;
            let started = Instant::now();
            let workers: Vec<_> = (0..CONCURRENCY)
                .map(|_| {
                    let (client, base, counter, done) =
                        (client.clone(), base.clone(), counter.clone(), done.clone());
                    tokio::spawn(async move {
                        while Instant::now() < deadline {
                            let n = counter.fetch_add(1, Ordering::Relaxed);
                            assert!(
                                one(&client, &base, load, n).await,
                                "{load:?} request failed"
                            );
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.expect("worker");
            }
            let n = done.load(Ordering::Relaxed);
            (n, n as f64 / started.elapsed().as_secs_f64())
        }
    };
    run(Duration::from_millis(500)).await;
    run(Duration::from_secs_f64(secs)).await
}

async fn baseline_server(shutdown: CancellationToken) -> SocketAddr {
    async fn handler(_body: Bytes) -> axum::Json<Value> {
        axum::Json(json!({"ok": true}))
    }
    let app = Router::new().route("/", post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind baseline");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    });
    addr
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: f64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(3.0);
    // `search` or `upsert` measures only that load (and the baseline), e.g. for profiling.
    let only = |name: &str| {
        !args.iter().any(|a| a == "search" || a == "upsert") || args.iter().any(|a| a == name)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let baseline = format!("http://{}", baseline_server(shutdown.clone()).await);
        let mut cfg = SandboxConfig::for_tests();
        cfg.rate_limit.burst_max = u32::MAX;
        cfg.rate_limit.daily_max = u32::MAX;
        let sandbox = Sandbox::bind(cfg).await.expect("bind sandbox");
        let base = format!("http://{}", sandbox.local_addr());
        let state = sandbox.state();
        state
            .add_location(NewLocation::new(SEARCH_LOCATION.0, SEARCH_LOCATION.1))
            .expect("search location");
        tokio::spawn(sandbox.run(shutdown.clone()));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .expect("client");

        let mut rows = Vec::new();
        let (n, base_rps) = measure(&client, &baseline, Load::Baseline, secs).await;
        rows.push((Load::Baseline, n, base_rps));
        if only("upsert") {
            let (n, rps) = measure(&client, &base, Load::Upsert, secs).await;
            rows.push((Load::Upsert, n, rps));
        }
        // Search through a fixed population.
        for i in 0..SEARCH_CONTACTS {
            let r = client
                .post(format!("{base}/contacts/upsert"))
                .bearer_auth(SEARCH_LOCATION.1)
                .header("Version", "2021-07-28")
                .json(&upsert_body(SEARCH_LOCATION.0, i * 2))
                .send()
                .await
                .expect("seed search location");
            assert!(r.status().is_success());
        }
        assert_eq!(state.contacts(SEARCH_LOCATION.0).len() as u64, SEARCH_CONTACTS);
        if only("search") {
            let (n, rps) = measure(&client, &base, Load::Search, secs).await;
            rows.push((Load::Search, n, rps));
        }
        shutdown.cancel();

        println!(
            "\nsandbox throughput, {CONCURRENCY} concurrent keep-alive connections, 2 worker threads, {secs}s per row\n"
        );
        println!("| {:<32} | {:>9} | {:>10} | {:>8} |", "load", "requests", "req/s", "ratio");
        println!("|{:-<34}|{:-<11}|{:-<12}|{:-<10}|", "", "", "", "");
        let mut ok = true;
        for (load, n, rps) in rows {
            let ratio = rps / base_rps;
            if !matches!(load, Load::Baseline) && ratio < TARGET_RATIO {
                ok = false;
            }
            println!("| {:<32} | {n:>9} | {rps:>10.0} | {ratio:>8.2} |", load.name());
        }
        println!(
            "\nupsert: half creates, half updates; search: pageLimit 20, tag filter (1 in 3 match), sorted by dateAdded, over {SEARCH_CONTACTS} contacts; target ratio >= {TARGET_RATIO}: {}",
            if ok { "met" } else { "NOT met" }
        );
    });
}
