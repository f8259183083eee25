//! Hostile input over HTTP: arbitrary bodies, authenticated so that every storefront's parser
//! and normaliser really runs, never get a 5xx, never crash a service, and what is accepted is
//! accepted once.

use std::net::SocketAddr;

use relay_e2e::{BMC_SECRET, Stack};

const SECRET: &str = "fuzz-secret";
const ROUNDS: usize = 150;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "event",
    "resource_name",
    "sale_id",
    "email",
    "customer[email]",
    "order[charges][0][amount]",
    "order[charges][][x]",
    "a[b][c][d]",
    "price",
    "currency",
    "amount",
    "transaction_id",
    "type",
    "event_id",
    "data",
    "thrivecart_secret",
    "x]",
    "[y",
    "z[",
    "%5B",
    "purchase_ids[]",
    "order_id",
    "OrderID",
    "CustomerID",
    "api_mode",
    "a[99999999]",
];
const VALUES: &[&str] = &[
    "",
    "null",
    "0",
    "-1",
    "1e309",
    "99999999999999999999",
    "sale",
    "order.success",
    "on_payment",
    "donation.created",
    "a@b.c",
    "\u{0}",
    "é",
    "%FF",
    "+",
    "true",
    "{",
    "[]",
    "<x>",
    "12.345",
];

/// A body of one of several shapes: form pairs, JSON fragments, XML-ish, raw bytes.
fn body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(4) {
        0 => {
            let n = rng.below(12);
            let pairs: Vec<String> = (0..n)
                .map(|_| format!("{}={}", rng.pick(KEYS), rng.pick(VALUES)))
                .collect();
            pairs.join("&").into_bytes()
        }
        1 => {
            let n = rng.below(8);
            let fields: Vec<String> = (0..n)
                .map(|_| {
                    format!(
                        "{:?}:{}",
                        rng.pick(KEYS),
                        rng.pick(&["1", "\"x\"", "null", "{}", "[1,{}]", "\"a@b.c\""])
                    )
                })
                .collect();
            let mut s = format!("{{{}}}", fields.join(","));
            if rng.below(4) == 0 {
                s.truncate(rng.below(s.len() + 1));
            }
            s.into_bytes()
        }
        2 => format!(
            "<?xml version=\"1.0\"?><{0}><OrderID>{1}</OrderID><{0}>",
            rng.pick(&["Order", "Customer", "x"]),
            rng.pick(VALUES)
        )
        .into_bytes(),
        _ => (0..rng.below(600)).map(|_| rng.next() as u8).collect(),
    }
}

async fn post(
    http: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    ct: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> u16 {
    let mut req = http
        .post(format!("http://{addr}{path}"))
        .header("content-type", ct)
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send()
        .await
        .expect("the service answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn arbitrary_authenticated_bodies_never_get_a_5xx() {
    let stack = Stack::start().await;
    let (gumroad, _g) = stack
        .spawn_ingest(relay_ingest_gumroad::Gumroad, SECRET)
        .await;
    let (thrivecart, _t) = stack
        .spawn_ingest(relay_ingest_thrivecart::Thrivecart, SECRET)
        .await;
    let (digistore24, _d) = stack
        .spawn_ingest(relay_ingest_digistore24::Digistore24, SECRET)
        .await;
    let (shift4shop, _s) = stack
        .spawn_ingest(relay_ingest_shift4shop::Shift4shop, SECRET)
        .await;
    let http = reqwest::Client::new();
    let mut rng = Rng(0x005E_ED0F_F022);
    let cts = [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/xml",
        "application/octet-stream",
    ];
    let mut seen = std::collections::BTreeMap::<(&str, u16), usize>::new();

    for _ in 0..ROUNDS {
        let ct = rng.pick(&cts);
        let raw = body(&mut rng);
        // Each storefront authenticated the way it authenticates, so its parser runs.
        let bmc_sig = relay_ingest_bmc::sign(BMC_SECRET, &raw);
        let mut thrive = raw.clone();
        thrive.extend_from_slice(format!("&thrivecart_secret={SECRET}").as_bytes());
        let pairs: Vec<(String, String)> = relay_ingest::form::pairs(&raw);
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ds24 = relay_ingest_digistore24::signed_body(
            &refs,
            SECRET,
            relay_ingest_digistore24::KeyCase::Original,
        );

        let answers = [
            (
                "bmc",
                post(
                    &http,
                    stack.ingest_addr,
                    "/hooks/demo",
                    ct,
                    raw.clone(),
                    &[(relay_ingest_bmc::SIGNATURE_HEADER, bmc_sig)],
                )
                .await,
            ),
            (
                "gumroad",
                post(
                    &http,
                    gumroad,
                    &format!("/hooks/demo?token={SECRET}"),
                    ct,
                    raw.clone(),
                    &[],
                )
                .await,
            ),
            (
                "thrivecart",
                post(
                    &http,
                    thrivecart,
                    "/hooks/demo",
                    "application/x-www-form-urlencoded",
                    thrive,
                    &[],
                )
                .await,
            ),
            (
                "digistore24",
                post(
                    &http,
                    digistore24,
                    "/hooks/demo",
                    "application/x-www-form-urlencoded",
                    ds24.into_bytes(),
                    &[],
                )
                .await,
            ),
            (
                "shift4shop",
                post(
                    &http,
                    shift4shop,
                    &format!("/hooks/demo?token={SECRET}"),
                    ct,
                    raw.clone(),
                    &[],
                )
                .await,
            ),
        ];
        for (name, status) in answers {
            assert!(
                status < 500,
                "{name} answered {status} to {:?}",
                String::from_utf8_lossy(&raw)
            );
            *seen.entry((name, status)).or_default() += 1;
        }
    }
    // Every service is still up and ready.
    stack.assert_running();
    for addr in [
        stack.ingest_addr,
        gumroad,
        thrivecart,
        digistore24,
        shift4shop,
    ] {
        let ok = http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(ok, 200);
    }
    // The garbage reached the parsers (400s), not only the verifiers.
    for name in ["bmc", "gumroad", "digistore24", "shift4shop"] {
        assert!(
            seen.get(&(name, 400)).copied().unwrap_or(0) > 0,
            "{name} never parsed anything: {seen:?}"
        );
    }
    println!("answers by storefront and status: {seen:?}");
}
