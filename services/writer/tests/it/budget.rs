//! Rate budgets against the sandbox's rate limiter (sliding window, `X-RateLimit-*` headers,
//! 429s), in real time with short windows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use relay_ghl::GhlClient;
use relay_sandbox::{DEMO_LOCATION_ID, DEMO_TOKEN, Sandbox, SandboxConfig};
use relay_writer::config::RateLimitConfig;
use relay_writer::ratelimit::Budget;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// Sends from `workers` tasks through `budget` for `run`, feeding every response's headers
/// back; the requests that got through and the 429s.
async fn drive(ghl: &GhlClient, budget: &Arc<Budget>, workers: usize, run: Duration) -> (u64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + run;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (ghl, budget) = (ghl.clone(), budget.clone());
            let (ok, throttled) = (ok.clone(), throttled.clone());
            tokio::spawn(async move {
                let token = SecretString::from(DEMO_TOKEN);
                loop {
                    budget.acquire().await;
                    if Instant::now() >= until {
                        return;
                    }
                    match ghl.get_location(&token, DEMO_LOCATION_ID).await {
                        Ok(resp) => {
                            budget.observe(&resp.rate_limit);
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if let Some(info) = e.rate_limit() {
                                budget.observe(&info);
                            }
                            assert!(e.is_rate_limited(), "{e}");
                            budget.throttled(e.retry_after());
                            throttled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("worker");
    }
    (
        ok.load(Ordering::Relaxed),
        throttled.load(Ordering::Relaxed),
    )
}

/// The sandbox allowing `max` requests per second.
async fn sandbox(max: u32) -> (GhlClient, CancellationToken) {
    let mut cfg = SandboxConfig::for_tests();
    cfg.rate_limit.burst_max = max;
    cfg.rate_limit.burst_interval = Duration::from_secs(1);
    let sandbox = Sandbox::bind(cfg).await.expect("bind the sandbox");
    let base = url::Url::parse(&format!("http://{}", sandbox.local_addr())).expect("url");
    let shutdown = CancellationToken::new();
    tokio::spawn(sandbox.run(shutdown.clone()));
    let ghl = GhlClient::new(base, Duration::from_secs(10)).expect("client");
    (ghl, shutdown)
}

/// `max` per second, 90 % of it for this budget: two requests of headroom against the jitter
/// of a loaded test machine between admitting a request and the sandbox counting it.
fn per_second(max: u32) -> RateLimitConfig {
    RateLimitConfig {
        burst_max: max,
        burst_interval: Duration::from_secs(1),
        share: 0.9,
        ..Default::default()
    }
}

#[tokio::test]
async fn greedy_workers_stay_within_ghls_window_and_use_it() {
    let (ghl, shutdown) = sandbox(20).await;
    let budget = Arc::new(Budget::new(&per_second(20)));
    let (ok, throttled) = drive(&ghl, &budget, 4, Duration::from_secs(3)).await;
    shutdown.cancel();
    assert_eq!(throttled, 0, "no 429 while within the budget");
    // 18 in the first second, 17 per second after that.
    assert!(ok >= 18 + 2 * 17 - 6, "only {ok} requests in 3 s");
    let snap = budget.snapshot();
    assert_eq!(snap.effective_window_limit, 18);
    assert_eq!(snap.hold_reason, None);
}

#[tokio::test]
async fn a_stricter_limit_reported_by_ghl_reshapes_the_budget() {
    // Configured for 20 per second, GHL allows 10.
    let (ghl, shutdown) = sandbox(10).await;
    let budget = Arc::new(Budget::new(&per_second(20)));
    let (ok, throttled) = drive(&ghl, &budget, 4, Duration::from_secs(3)).await;
    shutdown.cancel();
    let snap = budget.snapshot();
    assert_eq!(snap.window_limit, 9, "{snap:?}");
    // The first requests may overshoot before the headers arrive; after that, none.
    assert!(throttled <= 4, "{throttled} 429s");
    assert!(ok >= 12, "only {ok} requests in 3 s");
}
