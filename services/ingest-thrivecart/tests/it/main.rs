//! ingest-thrivecart end to end: setup probes and deliveries over HTTP into a real
//! `nats-server`, through the mapper and the writer to the sandbox (relay-e2e's `Stack`), plus
//! the binary's configuration.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;

use relay_contracts::{EventKind, StreamKind};
use relay_e2e::Stack;
use relay_ingest_thrivecart::Thrivecart;
use serde_json::{Value, json};

const SECRET: &str = "EXAMPLESECRET1";
const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

mod php_form;
use php_form::php_form;

/// An `order.success` (structure of the magloft/thrivecart capture, fake values).
fn order_success(order_id: &str, email: &str, secret: &str) -> Value {
    json!({
        "event": "order.success",
        "mode": "live",
        "mode_int": "2",
        "thrivecart_account": "demoacct",
        "thrivecart_secret": secret,
        "base_product": "12",
        "base_product_name": "Mobile & Universal App Pro",
        "order_id": order_id,
        "invoice_id": "000001382",
        "order_date": "2023-11-08 23:48:20",
        "order_timestamp": "1699487300",
        "currency": "USD",
        "customer_id": "429583657727489355",
        "customer_identifier": "null",
        "customer": {
            "id": "429583657727489355", "name": "Grace Hopper", "email": email,
            "address": {"country": "US"}, "first_name": "Grace", "last_name": "Hopper",
            "checkbox_confirmation": "false"
        },
        "affiliate": "null",
        "order": {
            "id": order_id, "invoice_id": "000001382", "processor": "stripe_v2",
            "total": "499700", "total_str": "4997.00", "date_unix": "1699487300",
            "tracking_id": "null", "tax": "null",
            "charges": [{
                "name": "Mobile &amp; Universal App Pro", "reference": "12", "item_type": "product",
                "amount": "499700", "amount_str": "4997.00", "type": "single", "quantity": "1"
            }]
        },
        "purchases": ["Mobile &amp; Universal App Pro"],
        "purchase_map": ["product-12"],
        "purchase_map_flat": "product-12"
    })
}

async fn post(stack: &Stack, addr: SocketAddr, body: &str, ct: &str) -> reqwest::Response {
    stack
        .http
        .post(format!("http://{addr}/hooks/demo"))
        .header("content-type", ct)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn json_of(resp: reqwest::Response) -> Value {
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_probes_and_orders_become_tagged_contacts_once() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Thrivecart, SECRET).await;

    // Adding the URL in ThriveCart: HEAD (and GET) must answer 2xx.
    let head = stack
        .http
        .head(format!("http://{addr}/hooks/demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let get = stack
        .http
        .get(format!("http://{addr}/hooks/demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let unknown = stack
        .http
        .head(format!("http://{addr}/hooks/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // A form-encoded order (the account webhook's default).
    let order = order_success("23370556", "Grace.Hopper@Example.com", SECRET);
    let resp = post(&stack, addr, &php_form(&order), FORM).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["duplicate"], false);
    let contact = stack
        .contact_with_tag("grace.hopper@example.com", "thrivecart-customer")
        .await;
    assert_eq!(contact.first_name.as_deref(), Some("Grace"));

    // The same order again (a retry, or the JSON copy from a second webhook): published once.
    for (body, ct) in [(php_form(&order), FORM), (order.to_string(), JSON)] {
        let resp = post(&stack, addr, &body, ct).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(json_of(resp).await["duplicate"], true);
    }
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 1);
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 1);

    // A JSON order in test mode is another event, flagged test.
    let test_order = order_success("23370557", "tester@example.com", SECRET);
    let mut test_order = test_order.as_object().unwrap().clone();
    test_order.insert("mode".into(), json!("test"));
    test_order.insert("mode_int".into(), json!("1"));
    let resp = post(&stack, addr, &Value::Object(test_order).to_string(), JSON).await;
    assert_eq!(resp.status(), 200);
    stack
        .contact_with_tag("tester@example.com", "thrivecart-customer")
        .await;

    let published = stack.events(relay_contracts::Source::Thrivecart).await;
    assert_eq!(published.len(), 2);
    assert_eq!(published[0].kind, EventKind::OrderPaid);
    assert_eq!(published[0].idempotency_key, "order.success:23370556");
    assert_eq!(
        published[0]
            .order
            .as_ref()
            .unwrap()
            .total
            .as_ref()
            .unwrap()
            .minor,
        499_700
    );
    assert!(!published[0].test);
    assert!(published[1].test);

    // The secret word is in neither RAW nor EVENTS.
    for (kind, filter) in [
        (StreamKind::Raw, "raw.thrivecart.demo"),
        (StreamKind::Events, "evt.thrivecart.demo.>"),
    ] {
        let all = stack.read(kind, filter).await;
        assert!(!all.is_empty());
        for m in all {
            let text = String::from_utf8_lossy(&m.payload);
            assert!(!text.contains(SECRET), "{kind:?}: {text}");
        }
    }
    stack.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscription_lifecycle_and_unknown_events_are_published() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Thrivecart, SECRET).await;
    let base = |event: &str, date_unix: &str| {
        json!({
            "event": event, "mode": "live", "mode_int": "2", "thrivecart_account": "demoacct",
            "thrivecart_secret": SECRET, "base_product": "17", "currency": "USD",
            "order_id": "3230022", "invoice_id": "000000141-6", "recurring_payment_idx": "6",
            "customer_id": "16099259",
            "customer": {"id": "16099259", "email": "member@example.com", "first_name": "Mary", "last_name": "Member"},
            "date_unix": date_unix,
            "order": {"id": "3230022", "total": "6900"},
            "subscription": {
                "type": "product", "id": "17", "product_id": "17", "name": "Club", "currency": "USD",
                "amount": "6900", "frequency": "month", "invoice_str": "000000141-6",
                "recurring_payment_idx": "6", "next_payment_date": "1598246253"
            }
        })
    };
    let deliveries = [
        base("order.subscription_payment", "1595567854"),
        base("order.rebill_failed", "1595567855"),
        base("order.subscription_paused", "1595567856"),
        base("order.subscription_resumed", "1595567857"),
        base("order.subscription_cancelled", "1595567858"),
        base("affiliate.commission_earned", "1595567859"),
    ];
    for d in &deliveries {
        let resp = post(&stack, addr, &php_form(d), FORM).await;
        assert_eq!(resp.status(), 200, "{}", d["event"]);
    }
    let kinds: Vec<EventKind> = stack
        .events(relay_contracts::Source::Thrivecart)
        .await
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::SubscriptionRenewed,
            EventKind::SubscriptionPaymentFailed,
            EventKind::SubscriptionPaused,
            EventKind::SubscriptionResumed,
            EventKind::SubscriptionCancelled,
            EventKind::Unknown,
        ]
    );
    // A renewal makes the subscriber a customer.
    stack
        .contact_with_tag("member@example.com", "thrivecart-customer")
        .await;
    stack.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_secrets_are_refused_and_malformed_deliveries_kept_in_the_dlq() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Thrivecart, SECRET).await;

    let wrong = order_success("1", "eve@example.com", "EXAMPLESECRET2");
    let lower = order_success("1", "eve@example.com", &SECRET.to_lowercase());
    let mut missing = order_success("1", "eve@example.com", SECRET);
    missing.as_object_mut().unwrap().remove("thrivecart_secret");
    for v in [&wrong, &lower, &missing] {
        assert_eq!(post(&stack, addr, &php_form(v), FORM).await.status(), 401);
        assert_eq!(post(&stack, addr, &v.to_string(), JSON).await.status(), 401);
    }
    // Unparsable bodies cannot show the secret word: refused, not parsed.
    assert_eq!(
        post(&stack, addr, "{\"thrivecart_secret\":", JSON)
            .await
            .status(),
        401
    );
    assert_eq!(post(&stack, addr, "", FORM).await.status(), 401);
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 0);
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 0);

    // Authentic but unusable: no `event`, an order without an id.
    let no_event = php_form(&json!({"thrivecart_secret": SECRET, "mode": "live"}));
    let resp = post(&stack, addr, &no_event, FORM).await;
    assert_eq!(resp.status(), 400);
    assert!(
        json_of(resp).await["error"]
            .as_str()
            .unwrap()
            .contains("event")
    );
    let no_order =
        json!({"event": "order.success", "thrivecart_secret": SECRET, "currency": "USD"});
    assert_eq!(
        post(&stack, addr, &no_order.to_string(), JSON)
            .await
            .status(),
        400
    );
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 0);
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 0);
    // Kept for inspection in the DLQ, without the secret word.
    let dead = stack
        .read(StreamKind::Dlq, "dlq.ingest.thrivecart.demo")
        .await;
    assert_eq!(dead.len(), 2);
    for m in dead {
        assert!(!String::from_utf8_lossy(&m.payload).contains(SECRET));
    }
    stack.assert_running();
}

#[test]
fn the_binary_dumps_its_config_with_thrivecart_ports_and_no_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_relay-ingest-thrivecart"))
        .args([
            "--dump-config",
            "--set",
            "connections.demo.secret=env:TC_SECRET",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RELAY_ADMIN_TOKEN", "t")
        .env("TC_SECRET", "very-secret-word")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("127.0.0.1:8082"), "{stdout}");
    assert!(stdout.contains("env:TC_SECRET") && !stdout.contains("very-secret-word"));
}
