//! ingest-gumroad end to end: deliveries over HTTP into a real `nats-server`, through the mapper
//! and the writer to the sandbox (relay-e2e's `Stack`), plus the binary's configuration.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;

use relay_contracts::{EventKind, StreamKind};
use relay_e2e::Stack;
use relay_ingest_gumroad::Gumroad;

const TOKEN: &str = "gr-e2e-url-token";
const FORM: &str = "application/x-www-form-urlencoded";

/// `ERB::Util.url_encode`, as HTTParty applies it to keys and values.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'~' | b'-' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn httparty(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A `sale` ping (reference/storefronts/gumroad.md §5a), with `extra` pairs appended.
fn sale(sale_id: &str, email: &str, name: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("seller_id", "U2VsbGVyMTIzNDU2Nzg5MA=="),
        ("product_id", "UHJvZHVjdDEyMzQ1Njc4OQ=="),
        ("product_name", "Rust for Storefronts"),
        ("permalink", "rustfs"),
        ("product_permalink", "https://seller.gumroad.com/l/rustfs"),
        ("short_product_id", "rustfs"),
        ("email", email),
        ("price", "1500"),
        ("gumroad_fee", "165"),
        ("currency", "usd"),
        ("quantity", "1"),
        ("discover_fee_charged", "false"),
        ("can_contact", "true"),
        ("referrer", "direct"),
        ("card[visual]", "**** **** **** 4242"),
        ("card[type]", "visa"),
        ("card[bin]", ""),
        ("card[expiry_month]", ""),
        ("card[expiry_year]", ""),
        ("order_number", "524459935"),
        ("sale_id", sale_id),
        ("sale_timestamp", "2025-03-14T09:26:53.512Z"),
        ("full_name", name),
        ("is_gift_receiver_purchase", "false"),
        ("refunded", "false"),
        ("resource_name", "sale"),
        ("disputed", "false"),
        ("dispute_won", "false"),
    ];
    for (k, v) in extra {
        match pairs.iter_mut().find(|(key, _)| key == k) {
            Some(pair) => pair.1 = v,
            None => pairs.push((k, v)),
        }
    }
    pairs.retain(|(_, v)| *v != "<absent>");
    httparty(&pairs)
}

async fn post(
    stack: &Stack,
    addr: SocketAddr,
    query: &str,
    body: &str,
    ct: &str,
) -> reqwest::Response {
    stack
        .http
        .post(format!("http://{addr}/hooks/demo{query}"))
        .header("content-type", ct)
        .header("user-agent", "Gumroad")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn json(resp: reqwest::Response) -> serde_json::Value {
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_becomes_a_tagged_contact_and_retries_publish_once() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Gumroad, TOKEN).await;
    let q = format!("?token={TOKEN}");

    let body = sale(
        "U2FsZTAwMDAwMDAwMDAwMQ==",
        "Ada@Example.com",
        "Ada Lovelace",
        &[],
    );
    let resp = post(&stack, addr, &q, &body, FORM).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["duplicate"], false);
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 1);
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 1);

    let contact = stack
        .contact_with_tag("ada@example.com", "gumroad-customer")
        .await;
    assert_eq!(contact.first_name.as_deref(), Some("Ada"));
    assert_eq!(contact.last_name.as_deref(), Some("Lovelace"));

    // Gumroad's retries (1, 3, 10 minutes later) add `retry_count`: each is a duplicate.
    for n in ["1", "2", "3"] {
        let retry = sale(
            "U2FsZTAwMDAwMDAwMDAwMQ==",
            "Ada@Example.com",
            "Ada Lovelace",
            &[("retry_count", n)],
        );
        let resp = post(&stack, addr, &q, &retry, FORM).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(json(resp).await["duplicate"], true, "retry {n}");
    }
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 1);
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 1);

    // The same sale as JSON (Zapier-hosted subscription) is the same event.
    let as_json = serde_json::json!({
        "sale_id": "U2FsZTAwMDAwMDAwMDAwMQ==", "resource_name": "sale", "email": "Ada@Example.com",
        "price": 1500, "currency": "usd", "sale_timestamp": "2025-03-14T09:26:53.512Z",
        "product_id": "UHJvZHVjdDEyMzQ1Njc4OQ==", "product_name": "Rust for Storefronts"
    })
    .to_string();
    let resp = post(&stack, addr, &q, &as_json, "application/json").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["duplicate"], true);

    let published = stack.events(relay_contracts::Source::Gumroad).await;
    assert_eq!(published.len(), 1);
    let e = &published[0];
    assert_eq!(e.kind, EventKind::OrderPaid);
    assert_eq!(e.idempotency_key, "U2FsZTAwMDAwMDAwMDAwMQ==:sale");
    assert_eq!(
        e.order.as_ref().unwrap().total.as_ref().unwrap().minor,
        1500
    );
    stack.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_pings_refunds_and_unknown_events_are_published() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Gumroad, TOKEN).await;
    let q = format!("?token={TOKEN}");

    // "Send test ping": the latest sale, test=true, no resource_name.
    let ping = sale(
        "U2FsZTAwMDAwMDAwMDAwMg==",
        "seller@example.com",
        "Sam Seller",
        &[("resource_name", "<absent>"), ("test", "true")],
    );
    assert_eq!(post(&stack, addr, &q, &ping, FORM).await.status(), 200);

    // A refund that overtook its sale, then the sale.
    let refund = sale(
        "U2FsZTAwMDAwMDAwMDAwMw==",
        "grace@example.com",
        "Grace Hopper",
        &[("resource_name", "refund"), ("refunded", "true")],
    );
    assert_eq!(post(&stack, addr, &q, &refund, FORM).await.status(), 200);
    let sold = sale(
        "U2FsZTAwMDAwMDAwMDAwMw==",
        "grace@example.com",
        "Grace Hopper",
        &[],
    );
    let resp = post(&stack, addr, &q, &sold, FORM).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        json(resp).await["duplicate"],
        false,
        "a refund does not hide its sale"
    );

    // A subscription event and an unknown one.
    let cancel = httparty(&[
        ("subscription_id", "U3Vic2NyaXB0aW9uMQ=="),
        ("product_id", "UHJvZHVjdDEyMzQ1Njc4OQ=="),
        ("product_name", "Rust Club"),
        ("user_id", ""),
        ("user_email", "member@example.com"),
        ("purchase_ids[]", "UHVyY2hhc2Ux"),
        ("created_at", "2025-01-14T09:26:53.512Z"),
        ("charge_occurrence_count", ""),
        ("recurrence", "monthly"),
        ("free_trial_ends_at", ""),
        ("resource_name", "cancellation"),
        ("cancelled", "true"),
        ("cancelled_at", "2025-04-14T09:26:53.512Z"),
        ("cancelled_by_buyer", "true"),
    ]);
    assert_eq!(post(&stack, addr, &q, &cancel, FORM).await.status(), 200);
    let unknown = sale(
        "U2FsZTAwMDAwMDAwMDAwNA==",
        "new@example.com",
        "New Thing",
        &[("resource_name", "sale_updated")],
    );
    assert_eq!(post(&stack, addr, &q, &unknown, FORM).await.status(), 200);

    let published = stack.events(relay_contracts::Source::Gumroad).await;
    let kinds: Vec<EventKind> = published.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Ping,
            EventKind::OrderRefunded,
            EventKind::OrderPaid,
            EventKind::SubscriptionCancelled,
            EventKind::Unknown,
        ]
    );
    assert!(published[0].test);
    // Out of order on the wire, in order in time: the refund is dated after the sale.
    assert!(published[1].occurred_at > published[2].occurred_at);
    assert_eq!(published[4].source_event, "sale_updated");
    // The buyer of the late sale still becomes a customer.
    stack
        .contact_with_tag("grace@example.com", "gumroad-customer")
        .await;
    stack.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_tokens_are_refused_and_malformed_deliveries_kept_in_the_dlq() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Gumroad, TOKEN).await;
    let body = sale("U2FsZTAwMDAwMDAwMDAwNQ==", "eve@example.com", "Eve", &[]);

    for query in [
        String::new(),
        "?token=wrong".to_owned(),
        format!("?token={}", TOKEN.to_uppercase()),
        format!("?token={TOKEN}x"),
        format!("?tok={TOKEN}"),
    ] {
        let resp = post(&stack, addr, &query, &body, FORM).await;
        assert_eq!(resp.status(), 401, "{query:?}");
    }
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 0);
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 0);

    // Authentic but unusable: a sale without `sale_id`, broken JSON.
    let q = format!("?token={TOKEN}");
    let no_id = sale("<absent>", "eve@example.com", "Eve", &[]);
    let resp = post(&stack, addr, &q, &no_id, FORM).await;
    assert_eq!(resp.status(), 400);
    assert!(
        json(resp).await["error"]
            .as_str()
            .unwrap()
            .contains("sale_id")
    );
    let resp = post(&stack, addr, &q, "{\"sale_id\":", "application/json").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 0);
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 0);
    assert_eq!(stack.stream_messages(StreamKind::Dlq).await, 2);

    // Gumroad has no setup probe.
    let get = stack
        .http
        .get(format!("http://{addr}/hooks/demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    stack.assert_running();
}

#[test]
fn the_binary_dumps_its_config_with_gumroad_ports_and_no_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_relay-ingest-gumroad"))
        .args([
            "--dump-config",
            "--set",
            "connections.demo.secret=env:GR_TOKEN",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RELAY_ADMIN_TOKEN", "t")
        .env("GR_TOKEN", "very-secret-url-token")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("127.0.0.1:8081"), "{stdout}");
    assert!(stdout.contains("env:GR_TOKEN") && !stdout.contains("very-secret-url-token"));
}
