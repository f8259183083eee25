//! End-to-end: Shift4Shop webhooks (JSON and XML) over HTTP through ingest-shift4shop, the
//! mapper and the writer into the sandbox, against a real nats-server.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use relay_contracts::{EventKind, StreamKind};
use relay_e2e::Stack;
use relay_ingest_shift4shop::Shift4shop;
use serde_json::{Value, json};

const TOKEN: &str = "e2e-s4s-url-token";

/// An Order object as the REST API describes it, in an array.
fn order(order_id: u64, email: &str, status: u32, last_update: &str) -> String {
    json!([{
        "InvoiceNumberPrefix": "AB-", "InvoiceNumber": order_id, "OrderID": order_id,
        "CustomerID": 311, "OrderDate": "2026-03-14T09:26:53", "OrderStatusID": status,
        "LastUpdate": last_update,
        "BillingFirstName": "Grace", "BillingLastName": "Hopper", "BillingCompany": "Navy Labs",
        "BillingAddress": "1 Harbor Rd", "BillingCity": "Arlington", "BillingState": "VA",
        "BillingZipCode": "22201", "BillingCountry": "US", "BillingPhoneNumber": "555-0100",
        "BillingEmail": email, "BillingPaymentMethod": "Credit Card",
        "OrderItemList": [{"CatalogID": 77, "ItemID": "MUG-01", "ItemDescription": "Debugging mug",
                           "ItemQuantity": 2, "ItemUnitPrice": 12.5, "ItemOptionPrice": 0}],
        "OrderAmount": 25.0, "SalesTax": 0
    }])
    .to_string()
}

const CUSTOMER_XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<ArrayOfCustomer xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <Customer>
    <CustomerID>512</CustomerID><Email>Ada@Example.com</Email><Password/>
    <BillingFirstName>Ada</BillingFirstName><BillingLastName>Lovelace</BillingLastName>
    <BillingCompany i:nil="true"/><BillingAddress1>12 St James's Square</BillingAddress1>
    <BillingCity>London</BillingCity><BillingCountry>GB</BillingCountry>
    <MailList>true</MailList>
  </Customer>
</ArrayOfCustomer>"#;

async fn post(
    stack: &Stack,
    addr: SocketAddr,
    query: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let resp = stack
        .http
        .post(format!("http://{addr}/hooks/demo?{query}"))
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn duplicate(answer: &str) -> bool {
    serde_json::from_str::<Value>(answer).unwrap()["duplicate"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_becomes_a_tagged_contact_and_retries_publish_once() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Shift4shop, TOKEN).await;
    let raw_before = stack.stream_messages(StreamKind::Raw).await;
    let events_before = stack.stream_messages(StreamKind::Events).await;
    let query = format!("token={TOKEN}&event=order_new");
    let body = order(1042, "Grace.Hopper@Example.com", 1, "2026-03-14T09:27:10");

    let (status, answer) = post(&stack, addr, &query, "application/json", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(!duplicate(&answer));
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, raw_before + 1);
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_before + 1
    );

    let contact = stack
        .contact_with_tag("grace.hopper@example.com", "shift4shop-customer")
        .await;
    assert_eq!(contact.first_name.as_deref(), Some("Grace"));
    assert_eq!(contact.last_name.as_deref(), Some("Hopper"));

    // The same delivery again: accepted as a duplicate, nothing new published.
    let (status, answer) = post(&stack, addr, &query, "application/json", &body).await;
    assert_eq!(status, 200);
    assert!(duplicate(&answer));
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, raw_before + 1);
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_before + 1
    );

    // A status change of the same order is a new event; Cancel maps to `order.refunded`.
    let cancelled = order(1042, "Grace.Hopper@Example.com", 5, "2026-03-15T08:00:00");
    let (status, _) = post(
        &stack,
        addr,
        &format!("token={TOKEN}&event=order_status_change"),
        "application/json",
        &cancelled,
    )
    .await;
    assert_eq!(status, 200);

    let published = stack.events(relay_contracts::Source::Shift4shop).await;
    assert_eq!(published.len(), 2);
    assert_eq!(published[0].kind, EventKind::OrderPaid);
    assert_eq!(published[0].source_event, "order_new");
    assert_eq!(
        published[0].idempotency_key,
        "order_new/OrderID=1042/OrderStatusID=1/LastUpdate=2026-03-14T09:27:10"
    );
    assert_eq!(
        published[0]
            .order
            .as_ref()
            .unwrap()
            .total
            .as_ref()
            .unwrap()
            .minor,
        2500
    );
    assert_eq!(published[1].kind, EventKind::OrderRefunded);
    assert_eq!(published[1].source_event, "order_status_change");
    assert_eq!(published[1].attributes["order_status"], "Cancel");
    stack.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_xml_customer_becomes_a_tagged_contact() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Shift4shop, TOKEN).await;
    let (status, answer) = post(
        &stack,
        addr,
        &format!("token={TOKEN}&event=Customer%20New"),
        "text/xml; charset=utf-8",
        CUSTOMER_XML,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let contact = stack
        .contact_with_tag("ada@example.com", "shift4shop-customer")
        .await;
    assert_eq!(contact.first_name.as_deref(), Some("Ada"));
    let published = stack.events(relay_contracts::Source::Shift4shop).await;
    assert_eq!(published[0].kind, EventKind::CustomerCreated);
    assert_eq!(published[0].idempotency_key, "customer_new/CustomerID=512");
    // RAW keeps the XML exactly as received.
    let raw = stack.read(StreamKind::Raw, "raw.shift4shop.demo").await;
    assert_eq!(raw[0].payload, CUSTOMER_XML.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_or_missing_token_is_401_and_publishes_nothing() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Shift4shop, TOKEN).await;
    let raw_before = stack.stream_messages(StreamKind::Raw).await;
    let events_before = stack.stream_messages(StreamKind::Events).await;
    let body = order(7, "mallory@example.com", 1, "2026-03-14T09:27:10");
    for query in [
        "event=order_new".to_owned(),
        "token=guess&event=order_new".to_owned(),
        format!("token={}&event=order_new", TOKEN.to_uppercase()),
        "token=".to_owned(),
    ] {
        let (status, _) = post(&stack, addr, &query, "application/json", &body).await;
        assert_eq!(status, 401, "{query}");
    }
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, raw_before);
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_is_400_and_kept_in_the_dlq_and_get_is_405() {
    let stack = Stack::start().await;
    let (addr, _ingest) = stack.spawn_ingest(Shift4shop, TOKEN).await;
    let events_before = stack.stream_messages(StreamKind::Events).await;
    let query = format!("token={TOKEN}&event=order_new");
    for (ct, body) in [
        ("application/json", "{\"OrderID\": 1,"),
        ("application/xml", "<Order><OrderID>1</Order>"),
        ("application/json", "[{\"OrderID\": 1}, {\"OrderID\": 2}]"),
    ] {
        let (status, answer) = post(&stack, addr, &query, ct, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    assert_eq!(
        stack.stream_messages(StreamKind::Events).await,
        events_before
    );
    let dlq = stack
        .read(StreamKind::Dlq, "dlq.ingest.shift4shop.demo")
        .await;
    assert_eq!(dlq.len(), 3);
    assert_eq!(dlq[0].payload, "{\"OrderID\": 1,".as_bytes());

    // Shift4Shop has no documented setup probe.
    let get = stack
        .http
        .get(format!("http://{addr}/hooks/demo?token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
}
