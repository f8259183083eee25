//! Injected faults over HTTP: statuses at a rate, latency, hangs, resets, token expiry,
//! forced 429s, per location; and the per-endpoint counts tests assert on.

use std::time::{Duration, Instant};

use relay_sandbox::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LOCATION_ID, FaultKind, FaultSpec, NewAuthCode,
    NewLocation, SandboxConfig,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestSandbox, send};

const GET_NOBODY: &str = "/contacts/AAAAAAAAAAAAAAAAAAAA";

#[tokio::test]
async fn a_5xx_rate_fails_about_that_share_of_requests() {
    let mut cfg = SandboxConfig {
        fault_seed: 42,
        ..SandboxConfig::for_tests()
    };
    cfg.rate_limit.burst_max = 10_000;
    let sb = TestSandbox::with_config(cfg).await;
    let (status, _) = send(
        sb.http
            .post(sb.url("/_sandbox/faults"))
            .json(&json!({"status": 502, "probability": 0.3, "path_prefix": "/contacts"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut failed = 0;
    for _ in 0..200 {
        let (status, _) = sb.call(Method::GET, GET_NOBODY, None).await;
        match status.as_u16() {
            502 => failed += 1,
            404 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!((35..=85).contains(&failed), "{failed} of 200 at p=0.3");
    let fired = sb.state.faults()[0].fired;
    assert_eq!(fired, failed);
}

#[tokio::test]
async fn latency_hangs_and_resets() {
    let sb = TestSandbox::start().await;
    sb.state
        .inject_fault(FaultSpec {
            delay_ms: Some(120),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let started = Instant::now();
    let (status, _) = sb.call(Method::GET, GET_NOBODY, None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a delay-only fault lets the request through"
    );
    assert!(started.elapsed() >= Duration::from_millis(120));

    sb.state
        .inject_fault(FaultSpec {
            kind: Some(FaultKind::Hang),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let err = sb
        .ghl(Method::GET, GET_NOBODY)
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    sb.state
        .inject_fault(FaultSpec {
            kind: Some(FaultKind::Reset),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let err = sb.ghl(Method::GET, GET_NOBODY).send().await.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
    // The sandbox keeps serving.
    let (status, _) = sb.call(Method::GET, GET_NOBODY, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn forced_429s_carry_rate_limit_headers() {
    let sb = TestSandbox::start().await;
    sb.state
        .inject_fault(FaultSpec {
            kind: Some(FaultKind::RateLimit),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let r = sb.ghl(Method::GET, GET_NOBODY).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(r.headers()["x-ratelimit-max"], "100");
    let r = sb.ghl(Method::GET, GET_NOBODY).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.headers()["x-ratelimit-remaining"],
        "99",
        "the forced 429 did not count"
    );
}

#[tokio::test]
async fn forced_token_expiry_makes_the_client_refresh() {
    let sb = TestSandbox::start().await;
    let code = sb
        .state
        .issue_auth_code(NewAuthCode {
            client_id: DEMO_CLIENT_ID.into(),
            location_id: DEMO_LOCATION_ID.into(),
            user_id: None,
            company_id: None,
        })
        .unwrap()
        .code;
    let (_, grant) = send(sb.http.post(sb.url("/oauth/token")).form(&[
        ("client_id", DEMO_CLIENT_ID),
        ("client_secret", DEMO_CLIENT_SECRET),
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ]))
    .await;
    let token = grant["access_token"].as_str().unwrap().to_owned();
    sb.state
        .inject_fault(FaultSpec {
            kind: Some(FaultKind::ExpireToken),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    for _ in 0..2 {
        let (status, body) = send(sb.ghl_as(&token, Method::GET, GET_NOBODY)).await;
        assert_eq!(
            (status, body["message"].clone()),
            (StatusCode::UNAUTHORIZED, json!("Invalid JWT")),
            "expired for good"
        );
    }
    // A PIT gets one expired-token answer per fault use.
    sb.state
        .inject_fault(FaultSpec {
            kind: Some(FaultKind::ExpireToken),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let (status, _) = sb.call(Method::GET, GET_NOBODY, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = sb.call(Method::GET, GET_NOBODY, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn per_location_faults_and_request_counts() {
    let sb = TestSandbox::start().await;
    sb.state
        .add_location(NewLocation::new("calm", "pit-calm"))
        .unwrap();
    sb.state
        .inject_fault(FaultSpec {
            status: Some(503),
            location_id: Some(DEMO_LOCATION_ID.into()),
            ..FaultSpec::default()
        })
        .unwrap();
    let (status, _) = sb.call(Method::GET, GET_NOBODY, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = send(sb.ghl_as("pit-calm", Method::GET, GET_NOBODY)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let id = sb.state.faults()[0].id;
    let (status, _) = send(sb.http.delete(sb.url(&format!("/_sandbox/faults/{id}")))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    sb.call(Method::GET, GET_NOBODY, None).await;

    let (status, body) = send(sb.http.get(sb.url("/_sandbox/requests/counts"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["counts"],
        json!([
            {"method": "GET", "route": "/contacts/{contactId}", "status": 404, "count": 2},
            {"method": "GET", "route": "/contacts/{contactId}", "status": 503, "count": 1},
        ])
    );
}
