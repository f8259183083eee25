//! The shared ingest server's guarantees, exercised through ingest-bmc.

use std::time::Duration;

use relay_contracts::StreamKind;
use relay_e2e::{BMC_SECRET, Stack, StackOptions, donation};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ledger_catches_retries_after_the_dedupe_window() {
    // A 1 s stream dedupe window, shorter than BMC's retry horizon: the KV ledger takes over.
    let stack = Stack::start_with(StackOptions {
        duplicate_window: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let body = donation(11_001, "late@example.com", "La Te");
    let first = stack.post_bmc(&body, Some(BMC_SECRET)).await;
    assert_eq!(first.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await; // the stream has forgotten the id
    let retry = stack.post_bmc(&body, Some(BMC_SECRET)).await;
    assert_eq!(retry.status(), 200);
    let json: serde_json::Value = retry.json().await.unwrap();
    assert_eq!(json["duplicate"], true, "the ledger recognised the retry");
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 1);
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 1);
    stack.contact_with_tag("late@example.com", "donor").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_bodies_get_413_and_probes_405_without_a_probe() {
    let stack = Stack::start().await;
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let resp = stack.post_bmc(&huge, Some(BMC_SECRET)).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 0);

    // BMC has no setup probe: GET/HEAD on a known hook answer 405 with `Allow: POST`; on an
    // unknown connection 404.
    let url = format!("http://{}/hooks/demo", stack.ingest_addr);
    let get = stack.http.get(&url).send().await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers().get("allow").unwrap(), "POST");
    let head = stack
        .http
        .head(format!("http://{}/hooks/other", stack.ingest_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raw_keeps_the_query_without_the_secret_token() {
    let stack = Stack::start().await;
    let body = donation(12_001, "query@example.com", "Que Ry");
    let resp = stack
        .http
        .post(format!(
            "http://{}/hooks/demo?event=donation&token=s3cret",
            stack.ingest_addr
        ))
        .header("content-type", "application/json")
        .header(
            relay_ingest_bmc::SIGNATURE_HEADER,
            relay_ingest_bmc::sign(BMC_SECRET, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let raw = stack.read(StreamKind::Raw, "raw.>").await;
    let headers = raw[0].headers.as_ref().unwrap();
    assert_eq!(
        headers
            .get(relay_contracts::headers::RAW_QUERY)
            .unwrap()
            .as_str(),
        "event=donation"
    );
    let all: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v:?}\n"))
        .collect();
    assert!(
        !all.contains("s3cret"),
        "the token never reaches the stream: {all}"
    );
}
