//! Issue 5's ingest benchmark: each storefront's ingest service driven with concurrent, validly
//! signed deliveries, against a baseline of the same work on the broker alone (a RAW-sized and
//! an EVENT-sized publish-ack per delivery, same concurrency), measured just before it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use relay_contracts::StreamKind;
use relay_e2e::{BMC_SECRET, Stack};

use crate::{Phase, percentile, run_concurrent};

const SECRET: &str = "bench-secret";

/// One delivery: path+query, content type, body.
struct Delivery {
    path_and_query: String,
    content_type: &'static str,
    body: String,
    headers: Vec<(&'static str, String)>,
}

type Make = Arc<dyn Fn(usize) -> Delivery + Send + Sync>;

fn gumroad(i: usize) -> Delivery {
    let sale = format!("bench-sale-{i}");
    let email = format!("g{i}@example.com");
    let pairs = [
        ("seller_id", "U2VsbGVyMTIzNDU2Nzg5MA=="),
        ("product_id", "UHJvZHVjdDEyMzQ1Njc4OQ=="),
        ("product_name", "Rust for Storefronts"),
        ("permalink", "rustfs"),
        ("product_permalink", "https://seller.gumroad.com/l/rustfs"),
        ("email", email.as_str()),
        ("price", "1500"),
        ("gumroad_fee", "165"),
        ("currency", "usd"),
        ("quantity", "1"),
        ("card[visual]", "**** **** **** 4242"),
        ("card[type]", "visa"),
        ("order_number", "524459935"),
        ("sale_id", sale.as_str()),
        ("sale_timestamp", "2025-03-14T09:26:53.512Z"),
        ("full_name", "Bench Buyer"),
        ("resource_name", "sale"),
        ("test", "false"),
    ];
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    Delivery {
        path_and_query: format!("/hooks/demo?token={SECRET}"),
        content_type: "application/x-www-form-urlencoded",
        body,
        headers: vec![],
    }
}

fn thrivecart(i: usize) -> Delivery {
    let body = serde_json::json!({
        "event": "order.success", "mode": "live", "mode_int": "2", "thrivecart_account": "demoacct",
        "thrivecart_secret": SECRET, "base_product": "12", "base_product_name": "App Pro",
        "order_id": format!("{}", 9_000_000 + i), "invoice_id": "000001382", "order_date": "2023-11-08 23:48:20",
        "order_timestamp": "1699487300", "currency": "USD", "customer_id": "429583657727489355",
        "customer": {"id": "429583657727489355", "name": "Grace Hopper", "email": format!("t{i}@example.com"),
                     "address": {"country": "US"}, "first_name": "Grace", "last_name": "Hopper"},
        "order": {"id": format!("{}", 9_000_000 + i), "invoice_id": "000001382", "processor": "stripe_v2",
                  "total": "499700", "total_str": "4997.00", "date_unix": "1699487300",
                  "charges": [{"name": "App Pro", "reference": "12", "item_type": "product",
                               "amount": "499700", "amount_str": "4997.00", "type": "single", "quantity": "1"}]},
        "purchases": ["App Pro"], "purchase_map": ["product-12"], "purchase_map_flat": "product-12"
    });
    Delivery { path_and_query: "/hooks/demo".into(), content_type: "application/json", body: body.to_string(), headers: vec![] }
}

fn digistore24(i: usize) -> Delivery {
    let tx = format!("{}", 70_000_000 + i);
    let email = format!("d{i}@example.com");
    let params: Vec<(&str, &str)> = vec![
        ("event", "on_payment"),
        ("api_mode", "live"),
        ("pay_method", "creditcard"),
        ("transaction_id", tx.as_str()),
        ("order_id", "ABCD1234"),
        ("order_item_id", "1"),
        ("transaction_date", "2026-03-14"),
        ("transaction_time", "09:26:53"),
        ("transaction_type", "payment"),
        ("amount", "49.00"),
        ("currency", "EUR"),
        ("product_id", "12345"),
        ("product_name", "Rust Course"),
        ("quantity", "1"),
        ("email", email.as_str()),
        ("buyer_email", email.as_str()),
        ("buyer_first_name", "Bench"),
        ("buyer_last_name", "Buyer"),
        ("address_country", "DE"),
        ("address_city", "Berlin"),
        ("billing_type", "single_payment"),
        ("pay_sequence_no", "1"),
        ("vendor_id", "vendor1"),
    ];
    let body = relay_ingest_digistore24::signed_body(&params, SECRET, relay_ingest_digistore24::KeyCase::Original);
    Delivery { path_and_query: "/hooks/demo".into(), content_type: "application/x-www-form-urlencoded", body, headers: vec![] }
}

fn shift4shop(i: usize) -> Delivery {
    let id = 500_000 + i;
    let body = serde_json::json!([{
        "InvoiceNumberPrefix": "AB-", "InvoiceNumber": id, "OrderID": id, "CustomerID": 311,
        "OrderDate": "2026-03-14T09:26:53", "OrderStatusID": 1, "LastUpdate": "2026-03-14T09:30:00",
        "BillingFirstName": "Grace", "BillingLastName": "Hopper", "BillingCompany": "Navy Labs",
        "BillingAddress": "1 Harbor Rd", "BillingCity": "Arlington", "BillingState": "VA",
        "BillingZipCode": "22201", "BillingCountry": "US", "BillingPhoneNumber": "555-0100",
        "BillingEmail": format!("s{i}@example.com"), "BillingPaymentMethod": "Credit Card",
        "OrderItemList": [{"CatalogID": 77, "ItemID": "MUG-01", "ItemDescription": "Debugging mug",
                           "ItemQuantity": 2, "ItemUnitPrice": 12.5, "ItemOptionPrice": 0}],
        "OrderAmount": 25.0, "SalesTax": 0
    }]);
    Delivery {
        path_and_query: format!("/hooks/demo?token={SECRET}&event=order_new"),
        content_type: "application/json",
        body: body.to_string(),
        headers: vec![],
    }
}

fn bmc(i: usize) -> Delivery {
    let body = relay_e2e::donation(300_000 + i as u64, &format!("b{i}@example.com"), "Bench Donor");
    let sig = relay_ingest_bmc::sign(BMC_SECRET, body.as_bytes());
    Delivery {
        path_and_query: "/hooks/demo".into(),
        content_type: "application/json",
        body,
        headers: vec![(relay_ingest_bmc::SIGNATURE_HEADER, sig)],
    }
}

async fn post(http: &reqwest::Client, addr: SocketAddr, d: Delivery) -> u16 {
    let mut req = http
        .post(format!("http://{addr}{}", d.path_and_query))
        .header("content-type", d.content_type)
        .body(d.body);
    for (k, v) in d.headers {
        req = req.header(k, v);
    }
    req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// Returns (storefront, baseline phase, ingest phase) per storefront.
pub(crate) async fn run(stack: Arc<Stack>, n: usize, c: usize) -> anyhow::Result<Vec<(&'static str, Phase, Phase)>> {
    let mut targets: Vec<(&'static str, SocketAddr, Make, Option<relay_e2e::Running>)> = Vec::new();
    let (a, r) = stack.spawn_ingest(relay_ingest_gumroad::Gumroad, SECRET).await;
    targets.push(("gumroad", a, Arc::new(gumroad), Some(r)));
    let (a, r) = stack.spawn_ingest(relay_ingest_thrivecart::Thrivecart, SECRET).await;
    targets.push(("thrivecart", a, Arc::new(thrivecart), Some(r)));
    let (a, r) = stack.spawn_ingest(relay_ingest_digistore24::Digistore24, SECRET).await;
    targets.push(("digistore24", a, Arc::new(digistore24), Some(r)));
    let (a, r) = stack.spawn_ingest(relay_ingest_shift4shop::Shift4shop, SECRET).await;
    targets.push(("shift4shop", a, Arc::new(shift4shop), Some(r)));
    targets.push(("bmc", stack.ingest_addr, Arc::new(bmc), None));

    let js = async_nats::jetstream::new(stack.nats.client().await);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "BENCH_INGEST".into(),
        subjects: vec!["benchi.>".into()],
        ..Default::default()
    })
    .await?;
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for (name, addr, make, _running) in &targets {
        // Warm-up delivery: checks the fixture is accepted and gives the event's real size.
        let warm = make(usize::MAX / 2);
        let raw_size = warm.body.len();
        anyhow::ensure!(post(&http, *addr, warm).await == 200, "{name}: the benchmark delivery is refused");
        let events = stack.read(StreamKind::Events, &format!("evt.{name}.>")).await;
        let event_size = events.last().map(|m| m.payload.len()).unwrap_or(1500);

        let (js2, raw, event) = (js.clone(), bytes::Bytes::from(vec![b'r'; raw_size]), bytes::Bytes::from(vec![b'e'; event_size]));
        let (elapsed, lat) = run_concurrent(n, c, move |i| {
            let (js, raw, event) = (js2.clone(), raw.clone(), event.clone());
            async move {
                js.publish(format!("benchi.raw.{}", i % 16), raw).await.unwrap().await.unwrap();
                js.publish(format!("benchi.evt.{}", i % 16), event).await.unwrap().await.unwrap();
            }
        })
        .await;
        let base = Phase { name: "baseline", per_sec: n as f64 / elapsed.as_secs_f64(), latency: Some((percentile(&lat, 0.5), percentile(&lat, 0.99))) };

        let (http2, addr2, make2) = (http.clone(), *addr, make.clone());
        let (elapsed, lat) = run_concurrent(n, c, move |i| {
            let (http, make) = (http2.clone(), make2.clone());
            async move {
                let status = post(&http, addr2, make(i)).await;
                assert_eq!(status, 200, "delivery {i} refused");
            }
        })
        .await;
        let ingest = Phase { name: "ingest", per_sec: n as f64 / elapsed.as_secs_f64(), latency: Some((percentile(&lat, 0.5), percentile(&lat, 0.99))) };
        tokio::time::sleep(Duration::from_millis(200)).await;
        out.push((*name, base, ingest));
    }
    Ok(out)
}
