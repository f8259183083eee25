//! End-to-end: signed Digistore24 IPNs over HTTP through ingest-digistore24, the mapper and the
//! writer into the sandbox, against a real nats-server.

#![allow(clippy::unwrap_used)]

#[path = "../../src/fixtures.rs"]
mod fixtures;

use std::net::SocketAddr;
use std::time::Duration;

use relay_contracts::{Bucket, EventKind, Namespace, StreamKind};
use relay_e2e::{Stack, StackOptions};
use relay_ingest_digistore24::{Digistore24, KeyCase, SIGNATURE_KEYS, signed_body};

const PASSPHRASE: &str = "e2e-ipn-passphrase";

/// The captured live `on_payment` for `email`, switched to live mode, with `changes` applied.
fn payment(
    email: &'static str,
    changes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut params: Vec<(&str, &str)> = fixtures::CAPTURED_ON_PAYMENT
        .iter()
        .copied()
        .filter(|(k, _)| !SIGNATURE_KEYS.contains(k))
        .collect();
    let mut set =
        |key: &'static str, value: &'static str| match params.iter_mut().find(|(k, _)| *k == key) {
            Some(p) => p.1 = value,
            None => params.push((key, value)),
        };
    set("email", email);
    set("buyer_email", email);
    set("api_mode", "live");
    set("pay_method", "creditcard");
    for (k, v) in changes {
        set(k, v);
    }
    params
}

async fn post(stack: &Stack, addr: SocketAddr, body: String) -> (u16, String) {
    let resp = stack
        .http
        .post(format!("http://{addr}/hooks/demo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_becomes_a_tagged_contact_and_retries_publish_once() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Digistore24, PASSPHRASE).await;
    let raw_before = stack.stream_messages(StreamKind::Raw).await;
    let events_before = stack.stream_messages(StreamKind::Events).await;

    let params = payment(
        "joerg@example.de",
        &[("buyer_first_name", "Jörg"), ("buyer_last_name", "Müller")],
    );
    let body = signed_body(&params, PASSPHRASE, KeyCase::Original);
    assert_eq!(
        post(&stack, addr, body.clone()).await,
        (200, "OK".to_owned())
    );
    // Answered only after both publishes were acknowledged.
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, raw_before + 1);
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_before + 1
    );

    let contact = stack
        .contact_with_tag("joerg@example.de", "digistore24-customer")
        .await;
    assert_eq!(contact.first_name.as_deref(), Some("Jörg"));
    assert_eq!(contact.last_name.as_deref(), Some("Müller"));

    // Digistore24 retries the same IPN, and the same one signed over upper-cased keys: `OK`
    // both times, nothing new published.
    assert_eq!(post(&stack, addr, body).await, (200, "OK".to_owned()));
    let upper = signed_body(&params, PASSPHRASE, KeyCase::Upper);
    assert_eq!(post(&stack, addr, upper).await, (200, "OK".to_owned()));
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, raw_before + 1);
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_before + 1
    );

    let published = stack.events(relay_contracts::Source::Digistore24).await;
    assert_eq!(published.len(), 1);
    let e = &published[0];
    assert_eq!(e.kind, EventKind::OrderPaid);
    assert_eq!(e.source_event, "on_payment");
    assert_eq!(
        e.idempotency_key,
        "on_payment/transaction_id=3999938/order_item_id=33299237"
    );
    assert!(!e.test);
    assert_eq!(
        e.order.as_ref().unwrap().total.as_ref().unwrap().minor,
        4900
    );
    assert!(e.raw.is_some(), "the event points at its RAW copy");

    // The upsell item of the same order is its own IPN and its own event.
    let upsell = payment(
        "joerg@example.de",
        &[
            ("order_item_id", "33299238"),
            ("product_id", "512346"),
            ("upsell_no", "1"),
        ],
    );
    let (status, text) = post(
        &stack,
        addr,
        signed_body(&upsell, PASSPHRASE, KeyCase::Original),
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "OK"));
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_before + 2
    );
    stack.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_signatures_are_401_and_publish_nothing() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Digistore24, PASSPHRASE).await;
    let raw_before = stack.stream_messages(StreamKind::Raw).await;
    let events_before = stack.stream_messages(StreamKind::Events).await;

    let params = payment("mallory@example.com", &[]);
    let signed = signed_body(&params, PASSPHRASE, KeyCase::Original);
    let unsigned = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    for body in [
        signed.replace("amount=49.00", "amount=0.01"),
        signed_body(&params, "wrong-passphrase", KeyCase::Original),
        unsigned,
        format!("{signed}&is_admin=1"),
        String::new(),
    ] {
        let (status, _) = post(&stack, addr, body).await;
        assert_eq!(status, 401);
    }
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, raw_before);
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_is_400_and_kept_in_the_dlq() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Digistore24, PASSPHRASE).await;
    let events_before = stack.stream_messages(StreamKind::Events).await;
    // Authentic, but without an `event`.
    let body = signed_body(
        &[("order_id", "A1B2C3D4"), ("amount", "1.00")],
        PASSPHRASE,
        KeyCase::Original,
    );
    let (status, _) = post(&stack, addr, body.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_before
    );
    let dlq = stack
        .read(StreamKind::Dlq, "dlq.ingest.digistore24.demo")
        .await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        dlq[0].payload,
        body.as_bytes(),
        "the raw body is kept for redrive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_probe_and_connection_test_answer_ok() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Digistore24, PASSPHRASE).await;

    // Registration: a GET that must answer 200 without a redirect.
    let get = stack
        .http
        .get(format!("http://{addr}/hooks/demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.text().await.unwrap(), "OK");
    let other = stack
        .http
        .get(format!("http://{addr}/hooks/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    // "Test connection".
    let test = signed_body(
        &[
            ("event", "connection_test"),
            ("ipn_version", "1.6"),
            ("ipn_config_id", "654321"),
        ],
        PASSPHRASE,
        KeyCase::Original,
    );
    assert_eq!(post(&stack, addr, test).await, (200, "OK".to_owned()));
    // An event Relay does not know yet: accepted, published as `unknown`.
    let affiliation = signed_body(
        &[
            ("event", "on_affiliation"),
            ("affiliate_name", "partner77"),
            ("product_id", "512345"),
        ],
        PASSPHRASE,
        KeyCase::Original,
    );
    assert_eq!(
        post(&stack, addr, affiliation).await,
        (200, "OK".to_owned())
    );

    let published = stack.events(relay_contracts::Source::Digistore24).await;
    let ping = published
        .iter()
        .find(|e| e.kind == EventKind::Ping)
        .unwrap();
    assert_eq!(ping.source_event, "connection_test");
    assert!(ping.test);
    let unknown = published
        .iter()
        .find(|e| e.kind == EventKind::Unknown)
        .unwrap();
    assert_eq!(unknown.source_event, "on_affiliation");
    assert_eq!(unknown.attributes["affiliate_name"], "partner77");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_before_its_payment_keeps_both_times() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Digistore24, PASSPHRASE).await;
    let refund = payment(
        "late@example.de",
        &[
            ("event", "on_refund"),
            ("transaction_type", "refund"),
            ("transaction_id", "3999990"),
            ("transaction_date", "2026-08-20"),
            ("transaction_time", "10:00:00"),
        ],
    );
    let pay = payment("late@example.de", &[]);
    for params in [&refund, &pay] {
        let (status, text) = post(
            &stack,
            addr,
            signed_body(params, PASSPHRASE, KeyCase::Original),
        )
        .await;
        assert_eq!((status, text.as_str()), (200, "OK"));
    }
    let published = stack.events(relay_contracts::Source::Digistore24).await;
    let kinds: Vec<_> = published.iter().map(|e| (e.kind, e.occurred_at)).collect();
    let at =
        |s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    // Arrival order is kept in the stream; `occurred_at` tells the mapper what happened first.
    assert_eq!(
        kinds,
        vec![
            (EventKind::OrderRefunded, at("2026-08-20T10:00:00Z")),
            (EventKind::OrderPaid, at("2026-08-18T08:41:48Z")),
        ]
    );
    stack
        .contact_with_tag("late@example.de", "digistore24-customer")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_after_the_dedupe_window_hit_the_ledger() {
    // Digistore24 retries for 10 days, far beyond any stream dedupe window: the ingest ledger
    // remembers what was accepted.
    let stack = Stack::start_with(StackOptions {
        duplicate_window: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let (addr, _ingest) = stack.spawn_ingest(Digistore24, PASSPHRASE).await;
    let body = signed_body(
        &payment("ledger@example.de", &[]),
        PASSPHRASE,
        KeyCase::Original,
    );
    assert_eq!(
        post(&stack, addr, body.clone()).await,
        (200, "OK".to_owned())
    );
    let events_after_first = stack.stream_messages(StreamKind::Events).await;

    let published = stack.events(relay_contracts::Source::Digistore24).await;
    let js = async_nats::jetstream::new(stack.nats.client().await);
    let ledger = js
        .get_key_value(Namespace::new(Some(stack.prefix.clone())).bucket_name(Bucket::IngestLedger))
        .await
        .unwrap();
    let key = format!("digistore24.demo.{}", published[0].id);
    assert!(
        ledger.get(&key).await.unwrap().is_some(),
        "accepted key {key} is in the ledger"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(post(&stack, addr, body).await, (200, "OK".to_owned()));
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_after_first
    );
}
