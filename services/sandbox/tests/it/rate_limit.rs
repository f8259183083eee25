//! GHL's rate limits: headers on every authenticated response, 429 over the budget, both
//! window algorithms, driven by the sandbox's frozen clock (no sleeping).

use std::time::Duration;

use relay_sandbox::{
    ClockMode, DEMO_LOCATION_ID, NewLocation, RateLimitAlgorithm, RateLimitConfig, SandboxConfig,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestSandbox;

fn header(r: &reqwest::Response, name: &str) -> u64 {
    let value = r
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing"));
    value
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} is not a number: {value:?}"))
}

const PATH: &str = "/contacts/search/duplicate?locationId=demo-location&email=a%40b.io";

async fn frozen(algorithm: RateLimitAlgorithm) -> TestSandbox {
    let mut cfg = SandboxConfig::for_tests();
    cfg.clock = ClockMode::Frozen;
    cfg.rate_limit = RateLimitConfig {
        burst_max: 3,
        burst_interval: Duration::from_millis(1000),
        daily_max: 1000,
        algorithm,
    };
    TestSandbox::with_config(cfg).await
}

/// Sends one request; returns its status and `X-RateLimit-Remaining`.
async fn hit(sb: &TestSandbox) -> (u16, u64) {
    let r = sb.ghl(Method::GET, PATH).send().await.expect("request");
    (r.status().as_u16(), header(&r, "x-ratelimit-remaining"))
}

#[tokio::test]
async fn the_burst_budget_answers_429_with_headers_and_no_retry_after() {
    let sb = frozen(RateLimitAlgorithm::SlidingWindow).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = sb.ghl(Method::GET, PATH).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "x-ratelimit-max"), 3);
        assert_eq!(header(&r, "x-ratelimit-interval-milliseconds"), 1000);
        assert_eq!(header(&r, "x-ratelimit-limit-daily"), 1000);
        remaining.push((
            header(&r, "x-ratelimit-remaining"),
            header(&r, "x-ratelimit-daily-remaining"),
        ));
    }
    assert_eq!(remaining, [(2, 999), (1, 998), (0, 997)]);

    let r = sb.ghl(Method::GET, PATH).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 0);
    assert!(
        r.headers().get("retry-after").is_none(),
        "GHL documents no Retry-After"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"statusCode": 429, "message": "Too Many Requests - Rate limit exceeded"})
    );
    let statuses: Vec<u16> = sb.state.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 429], "the 429 is recorded");
}

#[tokio::test]
async fn the_sliding_window_frees_one_slot_at_a_time() {
    let sb = frozen(RateLimitAlgorithm::SlidingWindow).await;
    assert_eq!(hit(&sb).await, (200, 2));
    sb.state.advance_clock(Duration::from_millis(500));
    assert_eq!(hit(&sb).await, (200, 1));
    assert_eq!(hit(&sb).await, (200, 0));
    assert_eq!(hit(&sb).await.0, 429);
    // 1000 ms after the first request only that one has left the window.
    sb.state.advance_clock(Duration::from_millis(500));
    assert_eq!(hit(&sb).await, (200, 0));
    assert_eq!(hit(&sb).await.0, 429);
    sb.state.advance_clock(Duration::from_millis(500));
    assert_eq!(hit(&sb).await, (200, 1));
}

#[tokio::test]
async fn the_fixed_window_resets_the_whole_budget_at_each_boundary() {
    let sb = frozen(RateLimitAlgorithm::FixedWindow).await;
    sb.state.advance_clock(Duration::from_millis(900));
    for want in [2, 1, 0] {
        assert_eq!(hit(&sb).await, (200, want));
    }
    assert_eq!(hit(&sb).await.0, 429);
    // 100 ms later a new window starts: three more at once (a sliding window allows none).
    sb.state.advance_clock(Duration::from_millis(100));
    for want in [2, 1, 0] {
        assert_eq!(hit(&sb).await, (200, want));
    }
    assert_eq!(hit(&sb).await.0, 429);
}

#[tokio::test]
async fn budgets_are_per_location_and_the_daily_budget_is_enforced_until_utc_midnight() {
    let mut cfg = SandboxConfig::for_tests();
    cfg.clock = ClockMode::Frozen;
    let sb = TestSandbox::with_config(cfg).await;
    let tight = RateLimitConfig {
        daily_max: 2,
        ..RateLimitConfig::default()
    };
    sb.state
        .add_location(NewLocation {
            rate_limit: Some(tight),
            ..NewLocation::new("tight", "pit-tight")
        })
        .unwrap();
    let path = "/contacts/search/duplicate?locationId=tight&email=a%40b.io";
    let mut daily = Vec::new();
    for _ in 0..3 {
        let r = sb
            .ghl_as("pit-tight", Method::GET, path)
            .send()
            .await
            .unwrap();
        daily.push((
            r.status().as_u16(),
            header(&r, "x-ratelimit-daily-remaining"),
        ));
    }
    assert_eq!(daily, [(200, 1), (200, 0), (429, 0)]);

    // The demo location's budget is untouched.
    let r = sb.ghl(Method::GET, PATH).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-ratelimit-limit-daily"), 200_000);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 99);

    // A day later the daily budget is back.
    sb.state.advance_clock(Duration::from_secs(86_400));
    let r = sb
        .ghl_as("pit-tight", Method::GET, path)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-ratelimit-daily-remaining"), 1);
    let _ = DEMO_LOCATION_ID;
}
