//! Issue 5's ingest benchmark: each storefront's ingest service driven with concurrent, validly
//! signed deliveries, against a baseline of the same work on the broker alone (a RAW-sized and
//! an EVENT-sized publish-ack per delivery, same concurrency), measured just before it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use relay_contracts::StreamKind;
use relay_e2e::{BMC_SECRET, Stack};
use relay_ingest::Storefront;

use crate::{Cpu, Phase, run_concurrent, timed};

pub(crate) const SECRET: &str = "bench-secret";

/// One delivery: path+query, content type, body (also the mapper suite's event fixtures).
pub(crate) struct Delivery {
    pub(crate) path_and_query: String,
    pub(crate) content_type: &'static str,
    pub(crate) body: Bytes,
    pub(crate) headers: Vec<(&'static str, String)>,
}

type Make = Arc<dyn Fn(usize) -> Delivery + Send + Sync>;

pub(crate) fn gumroad(i: usize) -> Delivery {
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
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    Delivery {
        path_and_query: format!("/hooks/demo?token={SECRET}"),
        content_type: "application/x-www-form-urlencoded",
        body: body.into(),
        headers: vec![],
    }
}

pub(crate) fn thrivecart(i: usize) -> Delivery {
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
    Delivery {
        path_and_query: "/hooks/demo".into(),
        content_type: "application/json",
        body: body.to_string().into(),
        headers: vec![],
    }
}

pub(crate) fn digistore24(i: usize) -> Delivery {
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
    let body = relay_ingest_digistore24::signed_body(
        &params,
        SECRET,
        relay_ingest_digistore24::KeyCase::Original,
    );
    Delivery {
        path_and_query: "/hooks/demo".into(),
        content_type: "application/x-www-form-urlencoded",
        body: body.into(),
        headers: vec![],
    }
}

pub(crate) fn shift4shop(i: usize) -> Delivery {
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
        body: body.to_string().into(),
        headers: vec![],
    }
}

pub(crate) fn bmc(i: usize) -> Delivery {
    let body = relay_e2e::donation(
        300_000 + i as u64,
        &format!("b{i}@example.com"),
        "Bench Donor",
    );
    let sig = relay_ingest_bmc::sign(BMC_SECRET, body.as_bytes());
    Delivery {
        path_and_query: "/hooks/demo".into(),
        content_type: "application/json",
        body: body.into(),
        headers: vec![(relay_ingest_bmc::SIGNATURE_HEADER, sig)],
    }
}

/// A benchmark client: one HTTP/1.1 keep-alive connection (plain hyper, so the client's own
/// cost stays small next to the service's), sending pre-built deliveries.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<Bytes>>,
    host: String,
}

impl Client {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self {
            sender,
            host: addr.to_string(),
        })
    }

    async fn post(&mut self, d: &Delivery) -> u16 {
        let mut req = http::Request::post(d.path_and_query.as_str())
            .header(http::header::HOST, self.host.as_str())
            .header(http::header::CONTENT_TYPE, d.content_type);
        for (k, v) in &d.headers {
            req = req.header(*k, v.as_str());
        }
        let Ok(req) = req.body(http_body_util::Full::new(d.body.clone())) else {
            return 0;
        };
        if self.sender.ready().await.is_err() {
            return 0;
        }
        match self.sender.send_request(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Read the (small) answer to the end so the connection is reused.
                let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
                status
            }
            Err(_) => 0,
        }
    }
}

/// What ingest asks of the broker per delivery: a RAW publish-ack and an EVENT publish-ack,
/// and for storefronts that retry beyond the streams' dedupe window (Digistore24) a ledger
/// lookup before and a ledger write after.
#[derive(Clone)]
struct Broker {
    js: async_nats::jetstream::Context,
    ledger: Option<async_nats::jetstream::kv::Store>,
}

impl Broker {
    async fn work(&self, key: usize, raw: Bytes, event: Bytes) -> anyhow::Result<()> {
        let (partition, key) = (key % 16, format!("bench.{key}"));
        if let Some(kv) = &self.ledger {
            anyhow::ensure!(kv.get(&key).await?.is_none(), "ledger key {key} reused");
        }
        self.js
            .publish(format!("benchi.raw.{partition}"), raw)
            .await?
            .await?;
        self.js
            .publish(format!("benchi.evt.{partition}"), event)
            .await?
            .await?;
        if let Some(kv) = &self.ledger {
            kv.put(&key, Bytes::from_static(b"1")).await?;
        }
        Ok(())
    }
}

/// The least any HTTP ingest could do per delivery: an axum handler doing only [`Broker::work`]
/// with the body as RAW and an EVENT-sized payload (`?event_size=N`), then answering 200.
/// Tells how much of the gap to the baseline is HTTP itself.
async fn spawn_floor(broker: Broker) -> anyhow::Result<SocketAddr> {
    use axum::extract::{Query, State};
    #[derive(serde::Deserialize)]
    struct Size {
        event_size: usize,
    }
    static EVENT: [u8; 16 * 1024] = [b'e'; 16 * 1024];
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    async fn handler(
        State(broker): State<Broker>,
        Query(size): Query<Size>,
        body: Bytes,
    ) -> http::StatusCode {
        let event = Bytes::from_static(&EVENT[..size.event_size.min(EVENT.len())]);
        match broker
            .work(NEXT.fetch_add(1, Ordering::Relaxed), body, event)
            .await
        {
            Ok(()) => http::StatusCode::OK,
            Err(_) => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/floor", axum::routing::post(handler))
        .with_state(broker);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Sends `deliveries` from `c` clients (one keep-alive connection each); returns (elapsed,
/// sorted latencies).
async fn drive(
    addr: SocketAddr,
    deliveries: Arc<Vec<Delivery>>,
    c: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let n = deliveries.len();
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::with_capacity(c);
    for _ in 0..c {
        clients.push(Client::connect(addr).await?);
    }
    let started = Instant::now();
    let workers = clients.into_iter().map(|mut client| {
        let (deliveries, next) = (deliveries.clone(), next.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(d) = deliveries.get(i) else { break };
                let t = Instant::now();
                let status = client.post(d).await;
                assert_eq!(status, 200, "delivery {i} refused");
                lat.push(t.elapsed());
            }
            lat
        })
    });
    let mut lat = Vec::with_capacity(n);
    for w in futures::future::join_all(workers).await {
        lat.extend(w?);
    }
    let elapsed = started.elapsed();
    lat.sort();
    Ok((elapsed, lat))
}

/// Per storefront: the baseline, the HTTP floor and the ingest service.
pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) baseline: Phase,
    pub(crate) floor: Phase,
    pub(crate) ingest: Phase,
}

struct Target {
    name: &'static str,
    addr: SocketAddr,
    make: Make,
    /// Whether the service keeps a ledger (retry horizon beyond the dedupe window).
    ledger: bool,
    _running: Option<relay_e2e::Running>,
}

fn uses_ledger<S: Storefront>() -> bool {
    S::RETRY_HORIZON > relay_common::config::NatsConfig::default().duplicate_window
}

pub(crate) async fn run(
    stack: Arc<Stack>,
    n: usize,
    c: usize,
    only: &[String],
) -> anyhow::Result<Vec<Row>> {
    async fn target<S: Storefront>(stack: &Stack, s: S, name: &'static str, make: Make) -> Target {
        let (addr, running) = stack.spawn_ingest(s, SECRET).await;
        Target {
            name,
            addr,
            make,
            ledger: uses_ledger::<S>(),
            _running: Some(running),
        }
    }
    let targets = vec![
        target(
            &stack,
            relay_ingest_gumroad::Gumroad,
            "gumroad",
            Arc::new(gumroad),
        )
        .await,
        target(
            &stack,
            relay_ingest_thrivecart::Thrivecart,
            "thrivecart",
            Arc::new(thrivecart),
        )
        .await,
        target(
            &stack,
            relay_ingest_digistore24::Digistore24,
            "digistore24",
            Arc::new(digistore24),
        )
        .await,
        target(
            &stack,
            relay_ingest_shift4shop::Shift4shop,
            "shift4shop",
            Arc::new(shift4shop),
        )
        .await,
        Target {
            name: "bmc",
            addr: stack.ingest_addr,
            make: Arc::new(bmc),
            ledger: uses_ledger::<relay_ingest_bmc::Bmc>(),
            _running: None,
        },
    ];

    let js = async_nats::jetstream::new(stack.nats.client().await);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "BENCH_INGEST".into(),
        subjects: vec!["benchi.>".into()],
        ..Default::default()
    })
    .await?;
    let ledger = js
        .create_key_value(async_nats::jetstream::kv::Config {
            bucket: "BENCH_LEDGER".into(),
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    for Target {
        name,
        addr,
        make,
        ledger: uses_ledger,
        ..
    } in &targets
    {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        // Warm-up delivery: checks the fixture is accepted and gives the event's real size.
        let warm = make(usize::MAX / 2);
        let raw_size = warm.body.len();
        anyhow::ensure!(
            Client::connect(*addr).await?.post(&warm).await == 200,
            "{name}: the benchmark delivery is refused"
        );
        let events = stack
            .read(StreamKind::Events, &format!("evt.{name}.>"))
            .await;
        let event_size = events.last().map(|m| m.payload.len()).unwrap_or(1500);

        let broker = Broker {
            js: js.clone(),
            ledger: uses_ledger.then(|| ledger.clone()),
        };
        let floor = spawn_floor(broker.clone()).await?;
        let (b, raw, event) = (
            broker.clone(),
            Bytes::from(vec![b'r'; raw_size]),
            Bytes::from(vec![b'e'; event_size]),
        );
        let cpu = Cpu::now();
        let (elapsed, lat) = run_concurrent(n, c, move |i| {
            let (b, raw, event) = (b.clone(), raw.clone(), event.clone());
            async move { b.work(usize::MAX / 2 + i, raw, event).await.unwrap() }
        })
        .await;
        let base = timed("baseline", n, elapsed, &lat, cpu);

        // Deliveries are built and signed before the clock starts: the storefront's work is not
        // the service's. Each of the `c` clients keeps one connection, as storefronts do.
        let deliveries: Arc<Vec<Delivery>> = Arc::new((0..n).map(|i| make(i)).collect());
        let floor_deliveries: Arc<Vec<Delivery>> = Arc::new(
            deliveries
                .iter()
                .map(|d| Delivery {
                    path_and_query: format!("/floor?event_size={event_size}"),
                    content_type: d.content_type,
                    body: d.body.clone(),
                    headers: d.headers.clone(),
                })
                .collect(),
        );
        let cpu = Cpu::now();
        let (elapsed, lat) = drive(floor, floor_deliveries, c).await?;
        let floor_phase = timed("floor", n, elapsed, &lat, cpu);

        let cpu = Cpu::now();
        let (elapsed, lat) = drive(*addr, deliveries, c).await?;
        let ingest = timed("ingest", n, elapsed, &lat, cpu);
        tokio::time::sleep(Duration::from_millis(200)).await;
        out.push(Row {
            name,
            baseline: base,
            floor: floor_phase,
            ingest,
        });
    }
    Ok(out)
}
