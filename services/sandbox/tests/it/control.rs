//! The `/_sandbox/` control endpoints: faults, the request log, locations, reset.

use std::time::{Duration, Instant};

use relay_sandbox::{DEMO_LOCATION_ID, FaultSpec, TokenKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestSandbox, send};

#[tokio::test]
async fn injected_faults_answer_the_next_matching_requests() {
    let sb = TestSandbox::start().await;
    let (status, fault) = send(
        sb.http
            .post(sb.url("/_sandbox/faults"))
            .json(&json!({"status": 503, "count": 2, "path_prefix": "/contacts"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{fault}");
    assert_eq!(fault["remaining"], 2);

    for _ in 0..2 {
        let (status, body) = sb.upsert(json!({"email": "f@x.io"})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            json!({"statusCode": 503, "message": "Service Unavailable", "error": "Service Unavailable"})
        );
    }
    let (status, _) = sb.upsert(json!({"email": "f@x.io"})).await;
    assert_eq!(status, StatusCode::OK);
    let faulted: Vec<Option<u64>> = sb.state.requests().iter().map(|r| r.fault_id).collect();
    let id = fault["id"].as_u64();
    assert_eq!(faulted, [id, id, None]);
    assert!(
        sb.state.contacts(DEMO_LOCATION_ID).len() == 1,
        "faulted requests did nothing"
    );

    // A delay-only fault slows requests down and lets them through.
    sb.state
        .inject_fault(FaultSpec {
            delay_ms: Some(150),
            count: Some(1),
            ..FaultSpec::default()
        })
        .unwrap();
    let started = Instant::now();
    let (status, _) = sb.upsert(json!({"email": "f@x.io"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));

    sb.state
        .inject_fault(FaultSpec {
            status: Some(500),
            ..FaultSpec::default()
        })
        .unwrap();
    let (status, body) = send(sb.http.delete(sb.url("/_sandbox/faults"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"cleared": 1})));
    let (status, _) = send(
        sb.http
            .post(sb.url("/_sandbox/faults"))
            .json(&json!({"status": 200})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_request_log_records_each_ghl_request_with_its_traceparent() {
    let sb = TestSandbox::start().await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (status, _) = send(
        sb.ghl(Method::POST, "/contacts/upsert?x=1")
            .header("traceparent", traceparent)
            .json(&json!({"locationId": DEMO_LOCATION_ID, "email": "log@x.io"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(sb.ghl(Method::GET, "/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = send(sb.http.get(sb.url("/_sandbox/requests"))).await;
    assert_eq!(status, StatusCode::OK);
    let requests = body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2, "control requests are not logged: {body}");
    let r = &requests[0];
    assert_eq!(r["seq"], 1);
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/contacts/upsert");
    assert_eq!(r["query"], "x=1");
    assert_eq!(r["route"], "/contacts/upsert");
    assert_eq!(r["status"], 200);
    assert_eq!(r["location_id"], DEMO_LOCATION_ID);
    assert_eq!(r["token_kind"], "private_integration");
    assert_eq!(r["traceparent"], traceparent);
    assert_eq!(r["body"]["email"], "log@x.io");
    assert!(r["timestamp"].is_string());
    assert_eq!(requests[1]["route"], Value::Null);
    assert_eq!(requests[1]["status"], 404);

    let (_, body) = send(sb.http.get(sb.url("/_sandbox/requests?since=1"))).await;
    assert_eq!(body["requests"].as_array().unwrap().len(), 1);
    let logged = sb.state.requests();
    assert_eq!(logged[0].token_kind, TokenKind::PrivateIntegration);
}

#[tokio::test]
async fn unknown_routes_answer_like_nestjs() {
    let sb = TestSandbox::start().await;
    let (status, body) = send(sb.ghl(Method::GET, "/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"statusCode": 404, "message": "Cannot GET /nope", "error": "Not Found"})
    );
    let (status, body) = send(sb.ghl(Method::PATCH, "/contacts/upsert")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Cannot PATCH /contacts/upsert");
}

#[tokio::test]
async fn locations_can_be_created_listed_and_reset() {
    let sb = TestSandbox::start().await;
    let (status, loc) = send(sb.http.post(sb.url("/_sandbox/locations")).json(&json!({
        "id": "test-loc", "name": "Test", "token": "pit-test", "allow_duplicate_contact": true,
        "match_order": ["phone", "email"],
        "custom_fields": [{"key": "order_id", "data_type": "TEXT"}]
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{loc}");
    assert_eq!(loc["custom_fields"][0]["field_key"], "contact.order_id");
    let (status, _) = send(
        sb.http
            .post(sb.url("/_sandbox/locations"))
            .json(&json!({"id": "test-loc"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(
        sb.http
            .post(sb.url("/_sandbox/locations"))
            .json(&json!({"bogus": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = send(sb.ghl_as("pit-test", Method::POST, "/contacts/upsert").json(&json!({
        "locationId": "test-loc", "phone": "+15550100009", "customFields": [{"key": "order_id", "field_value": "o-1"}]
    })))
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(sb.http.get(sb.url("/_sandbox/locations/test-loc/contacts"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["contacts"][0]["phone"], "+15550100009");
    assert_eq!(body["contacts"][0]["customFields"][0]["value"], "o-1");
    let (status, _) = send(sb.http.get(sb.url("/_sandbox/locations/missing/contacts"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = send(sb.http.post(sb.url("/_sandbox/reset"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = send(sb.http.get(sb.url("/_sandbox/locations"))).await;
    let ids: Vec<&str> = body["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [DEMO_LOCATION_ID]);
    assert!(sb.state.requests().is_empty());
}

#[tokio::test]
async fn health_and_metrics_are_served() {
    let sb = TestSandbox::start().await;
    let r = sb.http.get(sb.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ok");
    let _ = sb.upsert(json!({"email": "m@x.io"})).await;
    let text = sb
        .http
        .get(sb.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("sandbox_requests_total"), "{text}");
    assert!(text.contains(r#"route="/contacts/upsert""#), "{text}");
}
