//! GHL's rate limits: headers on every authenticated response, 429 over the budget.

use std::time::Duration;

use relay_sandbox::{DEMO_LOCATION_ID, NewLocation, RateLimitConfig, SandboxConfig};
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

#[tokio::test]
async fn the_burst_budget_answers_429_and_recovers_after_the_interval() {
    let mut cfg = SandboxConfig::for_tests();
    cfg.rate_limit = RateLimitConfig {
        burst_max: 3,
        burst_interval: Duration::from_millis(400),
        daily_max: 1000,
    };
    let sb = TestSandbox::with_config(cfg).await;
    let path = format!("/contacts/search/duplicate?locationId={DEMO_LOCATION_ID}&email=a%40b.io");

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = sb.ghl(Method::GET, &path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "x-ratelimit-max"), 3);
        assert_eq!(header(&r, "x-ratelimit-interval-milliseconds"), 400);
        assert_eq!(header(&r, "x-ratelimit-limit-daily"), 1000);
        remaining.push((
            header(&r, "x-ratelimit-remaining"),
            header(&r, "x-ratelimit-daily-remaining"),
        ));
    }
    assert_eq!(remaining, [(2, 999), (1, 998), (0, 997)]);

    let r = sb.ghl(Method::GET, &path).send().await.unwrap();
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

    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = sb.ghl(Method::GET, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 2);
}

#[tokio::test]
async fn budgets_are_per_location_and_the_daily_budget_is_enforced() {
    let sb = TestSandbox::start().await;
    let tight = RateLimitConfig {
        burst_max: 100,
        burst_interval: Duration::from_secs(10),
        daily_max: 2,
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
    let r = sb
        .ghl(
            Method::GET,
            &format!("/contacts/search/duplicate?locationId={DEMO_LOCATION_ID}&email=a%40b.io"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-ratelimit-limit-daily"), 200_000);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 99);
}
