//! Unit tests: fixtures follow the field lists of reference/storefronts/gumroad.md §5 (keys in the
//! order `Purchase::PingNotification` / `Subscription::PingNotification` build them), encoded the
//! way HTTParty 0.22 does (`ERB::Util.url_encode` on keys and values).

#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;
use relay_contracts::Token;
use serde_json::json;
use time::macros::datetime;

const SECRET: &str = "gr-url-token-0123456789";
const RECEIVED: OffsetDateTime = datetime!(2025-03-14 10:00:00 UTC);

/// `ERB::Util.url_encode`: everything but `[A-Za-z0-9_.~-]` is `%XX`-encoded (space too).
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

/// A form body as HTTParty sends it: keys (brackets included) and values percent-encoded.
fn httparty(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

const SALE_ID: &str = "FgzLQk5VbkrMKp0Rr5q1DQ==";

/// A `sale` ping for a digital product with url params, a variant, an offer code, a custom
/// field and a license key (reference §7 `sale.form-urlencoded.txt`, rebuilt from §5a).
fn sale_pairs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("seller_id", "U2VsbGVyMTIzNDU2Nzg5MA=="),
        ("product_id", "UHJvZHVjdDEyMzQ1Njc4OQ=="),
        ("product_name", "Rust for Storefronts"),
        ("permalink", "rustfs"),
        ("product_permalink", "https://seller.gumroad.com/l/rustfs"),
        ("short_product_id", "rustfs"),
        ("email", "Ada.Lovelace@Example.com"),
        ("price", "1500"),
        ("gumroad_fee", "165"),
        ("currency", "eur"),
        ("quantity", "1"),
        ("discover_fee_charged", "false"),
        ("can_contact", "true"),
        ("referrer", "https://news.example.com/"),
        ("card[visual]", "**** **** **** 4242"),
        ("card[type]", "visa"),
        ("card[bin]", ""),
        ("card[expiry_month]", ""),
        ("card[expiry_year]", ""),
        ("order_number", "524459935"),
        ("sale_id", SALE_ID),
        ("sale_timestamp", "2025-03-14T09:26:53.512Z"),
        ("full_name", "Ada King Lovelace"),
        ("purchaser_id", "7891234567890"),
        ("url_params[utm_source]", "newsletter"),
        ("variants[Tier]", "Pro"),
        ("offer_code", "SPRING25"),
        // Custom checkout fields are spread at the top level and kept under custom_fields.
        ("Company", "ACME Ltd"),
        ("custom_fields[Company]", "ACME Ltd"),
        ("license_key", "A1B2C3D4-E5F6A7B8-C9D0E1F2-A3B4C5D6"),
        ("ip_country", "Germany"),
        ("is_gift_receiver_purchase", "false"),
        ("refunded", "false"),
        ("resource_name", "sale"),
        ("disputed", "false"),
        ("dispute_won", "false"),
    ]
}

fn with(
    mut pairs: Vec<(&'static str, &'static str)>,
    changes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    for (k, v) in changes {
        match pairs.iter_mut().find(|(key, _)| key == k) {
            Some(pair) => pair.1 = v,
            None => pairs.push((k, v)),
        }
    }
    pairs
}

fn without(
    pairs: Vec<(&'static str, &'static str)>,
    key: &str,
) -> Vec<(&'static str, &'static str)> {
    pairs.into_iter().filter(|(k, _)| *k != key).collect()
}

fn delivery(body: &str, content_type: &str, query: Option<&str>) -> Delivery<Unverified> {
    let mut h = http::HeaderMap::new();
    h.insert("content-type", content_type.parse().unwrap());
    Delivery::new(
        Token::parse("demo").unwrap(),
        h,
        query.map(str::to_owned),
        body.to_owned().into(),
    )
}

const FORM: &str = "application/x-www-form-urlencoded";

fn secrets() -> Vec<SecretString> {
    vec![SecretString::from(SECRET.to_owned())]
}

fn ctx() -> ConnectionContext {
    ConnectionContext {
        name: Token::parse("demo").unwrap(),
        timezone: None,
    }
}

/// Verifies with the demo token and normalises, as the server does.
fn ingest(body: &str, content_type: &str) -> Result<Normalized, ParseError> {
    let d = Gumroad
        .verify(
            delivery(body, content_type, Some(&format!("token={SECRET}"))),
            &secrets(),
        )
        .unwrap();
    Gumroad.normalize(&d, &ctx())
}

fn form(pairs: &[(&str, &str)]) -> Normalized {
    let p = parse_body(Some(FORM), httparty(pairs).as_bytes()).unwrap();
    normalize_payload(&p, RECEIVED).unwrap()
}

fn usd(minor: i64) -> Option<Money> {
    Some(Money {
        minor,
        currency: "USD".into(),
    })
}

// --- verification -------------------------------------------------------------------------

#[test]
fn url_token_verification() {
    let body = httparty(&sale_pairs());
    let ok = |q: Option<&str>, s: &[SecretString]| Gumroad.verify(delivery(&body, FORM, q), s);
    assert!(ok(Some(&format!("token={SECRET}")), &secrets()).is_ok());
    // Rotation: the previous token keeps working while both are configured.
    let rotated = vec![
        SecretString::from("gr-new-token".to_owned()),
        SecretString::from(SECRET.to_owned()),
    ];
    assert!(ok(Some(&format!("token={SECRET}")), &rotated).is_ok());
    assert!(ok(Some("token=gr-new-token"), &rotated).is_ok());
    assert!(matches!(
        ok(Some("token=gr-new-token"), &secrets()),
        Err(VerifyError::Mismatch)
    ));
    // Tampered (one character), wrong case, empty, or prefix of the token.
    let tampered = format!("token={}X", &SECRET[..SECRET.len() - 1]);
    assert!(matches!(
        ok(Some(&tampered), &secrets()),
        Err(VerifyError::Mismatch)
    ));
    let upper = format!("token={}", SECRET.to_uppercase());
    assert!(matches!(
        ok(Some(&upper), &secrets()),
        Err(VerifyError::Mismatch)
    ));
    assert!(ok(Some("token="), &secrets()).is_err());
    assert!(ok(Some(&format!("token={}", &SECRET[..5])), &secrets()).is_err());
    // Missing: no query, another parameter, or the token only in the body.
    assert!(matches!(
        ok(None, &secrets()),
        Err(VerifyError::MissingSignature(_))
    ));
    assert!(matches!(
        ok(Some(&format!("Token={SECRET}")), &secrets()),
        Err(VerifyError::MissingSignature(_))
    ));
    let in_body = format!("{body}&token={SECRET}");
    assert!(matches!(
        Gumroad.verify(delivery(&in_body, FORM, None), &secrets()),
        Err(VerifyError::MissingSignature(_))
    ));
    // A percent-encoded token in the URL decodes like any query value.
    assert!(ok(Some("token=gr%2Durl-token-0123456789"), &secrets()).is_ok());
}

// --- the purchase family ------------------------------------------------------------------

#[test]
fn sale_field_by_field() {
    let n = ingest(&httparty(&sale_pairs()), FORM).unwrap();
    assert_eq!(n.kind, EventKind::OrderPaid);
    assert_eq!(n.source_event, "sale");
    assert_eq!(n.idempotency_key, format!("{SALE_ID}:sale"));
    assert_eq!(n.occurred_at, Some(datetime!(2025-03-14 09:26:53.512 UTC)));
    assert!(!n.test);
    assert_eq!(
        n.customer,
        Customer {
            external_id: Some("7891234567890".into()),
            email: Some("ada.lovelace@example.com".into()),
            phone: None,
            first_name: Some("Ada".into()),
            last_name: Some("King Lovelace".into()),
            name: Some("Ada King Lovelace".into()),
            company: None,
            address: None,
        }
    );
    assert_eq!(
        n.order,
        Some(Order {
            id: SALE_ID.into(),
            items: vec![Item {
                product_id: Some("UHJvZHVjdDEyMzQ1Njc4OQ==".into()),
                product_name: Some("Rust for Storefronts".into()),
                quantity: 1,
                amount: usd(1500),
            }],
            // `price` is USD cents although the product's currency is EUR.
            total: usd(1500),
            coupon: Some("SPRING25".into()),
        })
    );
    assert_eq!(n.subscription, None);
    assert_eq!(n.message, None);
    assert_eq!(
        Value::Object(n.attributes),
        json!({
            "resource_name": "sale",
            "sale_id": SALE_ID,
            "seller_id": "U2VsbGVyMTIzNDU2Nzg5MA==",
            "product_id": "UHJvZHVjdDEyMzQ1Njc4OQ==",
            "product_name": "Rust for Storefronts",
            "permalink": "rustfs",
            "product_permalink": "https://seller.gumroad.com/l/rustfs",
            "short_product_id": "rustfs",
            "order_number": "524459935",
            "sale_timestamp": "2025-03-14T09:26:53.512Z",
            "purchaser_id": "7891234567890",
            "offer_code": "SPRING25",
            "referrer": "https://news.example.com/",
            "license_key": "A1B2C3D4-E5F6A7B8-C9D0E1F2-A3B4C5D6",
            "ip_country": "Germany",
            "product_currency": "EUR",
            "quantity": 1,
            "refunded": false,
            "disputed": false,
            "dispute_won": false,
            "can_contact": true,
            "is_gift_receiver_purchase": false,
            "discover_fee_charged": false,
            "price_cents": 1500,
            "gumroad_fee_cents": 165,
            "variants": {"Tier": "Pro"},
            "url_params": {"utm_source": "newsletter"},
            "custom_fields": {"Company": "ACME Ltd"},
        })
    );
}

#[test]
fn the_json_content_type_normalises_like_the_form() {
    // Zapier-hosted subscriptions get `params.to_json`: typed values, nested objects.
    let body = json!({
        "seller_id": "U2VsbGVyMTIzNDU2Nzg5MA==",
        "product_id": "UHJvZHVjdDEyMzQ1Njc4OQ==",
        "product_name": "Rust for Storefronts",
        "permalink": "rustfs",
        "product_permalink": "https://seller.gumroad.com/l/rustfs",
        "short_product_id": "rustfs",
        "email": "Ada.Lovelace@Example.com",
        "price": 1500,
        "gumroad_fee": 165,
        "currency": "eur",
        "quantity": 1,
        "discover_fee_charged": false,
        "can_contact": true,
        "referrer": "https://news.example.com/",
        "card": {"visual": "**** **** **** 4242", "type": "visa", "bin": null, "expiry_month": null, "expiry_year": null},
        "order_number": 524459935,
        "sale_id": SALE_ID,
        "sale_timestamp": "2025-03-14T09:26:53.512Z",
        "full_name": "Ada King Lovelace",
        "purchaser_id": "7891234567890",
        "url_params": {"utm_source": "newsletter"},
        "variants": {"Tier": "Pro"},
        "offer_code": "SPRING25",
        "Company": "ACME Ltd",
        "custom_fields": {"Company": "ACME Ltd"},
        "license_key": "A1B2C3D4-E5F6A7B8-C9D0E1F2-A3B4C5D6",
        "ip_country": "Germany",
        "is_gift_receiver_purchase": false,
        "refunded": false,
        "resource_name": "sale",
        "disputed": false,
        "dispute_won": false
    })
    .to_string();
    let from_json = ingest(&body, "application/json").unwrap();
    let from_form = ingest(&httparty(&sale_pairs()), FORM).unwrap();
    assert_eq!(from_json, from_form);
    // Sniffed as JSON even when labelled as a form.
    assert_eq!(ingest(&body, FORM).unwrap(), from_form);
}

#[test]
fn literal_brackets_nest_like_percent_encoded_ones() {
    let literal = sale_pairs()
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        ingest(&literal, FORM).unwrap(),
        ingest(&httparty(&sale_pairs()), FORM).unwrap()
    );
}

#[test]
fn retries_share_the_key_of_the_first_attempt() {
    let first = form(&sale_pairs());
    for retry in ["1", "2", "3"] {
        let again = form(&with(sale_pairs(), &[("retry_count", retry)]));
        assert_eq!(again.idempotency_key, first.idempotency_key);
        assert_eq!(again, first, "retry_count leaves no trace in the event");
    }
}

#[test]
fn refund_dispute_and_dispute_won_reuse_the_sale_id() {
    let refund = form(&with(
        sale_pairs(),
        &[
            ("resource_name", "refund"),
            ("refunded", "true"),
            ("retry_count", "1"),
        ],
    ));
    assert_eq!(refund.kind, EventKind::OrderRefunded);
    assert_eq!(refund.source_event, "refund");
    assert_eq!(refund.idempotency_key, format!("{SALE_ID}:refund"));
    assert_eq!(refund.attributes["refunded"], json!(true));
    assert_eq!(refund.order.as_ref().unwrap().total, usd(1500));
    assert_eq!(
        refund.customer.email.as_deref(),
        Some("ada.lovelace@example.com")
    );
    // The ping repeats the sale's timestamp; the refund's own time is its arrival.
    assert_eq!(refund.occurred_at, None);
    assert_eq!(
        refund.attributes["sale_timestamp"],
        json!("2025-03-14T09:26:53.512Z")
    );

    let dispute = form(&with(
        sale_pairs(),
        &[("resource_name", "dispute"), ("disputed", "true")],
    ));
    assert_eq!(dispute.kind, EventKind::OrderDisputed);
    assert_eq!(dispute.idempotency_key, format!("{SALE_ID}:dispute"));
    assert_eq!(dispute.occurred_at, None);

    let won = form(&with(
        sale_pairs(),
        &[
            ("resource_name", "dispute_won"),
            ("disputed", "true"),
            ("dispute_won", "true"),
        ],
    ));
    assert_eq!(won.kind, DISPUTE_WON_KIND);
    assert_eq!(won.source_event, "dispute_won");
    assert_eq!(won.idempotency_key, format!("{SALE_ID}:dispute_won"));
    assert_eq!(won.attributes["resource_name"], json!("dispute_won"));
    assert_eq!(won.attributes["dispute_won"], json!(true));
    assert!(won.order.is_some(), "the purchase is kept for rules");

    let keys = [
        form(&sale_pairs()).idempotency_key,
        refund.idempotency_key,
        dispute.idempotency_key,
        won.idempotency_key,
    ];
    let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), 4);
}

#[test]
fn a_refund_delivered_before_its_sale_keeps_the_order_of_events() {
    // The refund ping arrives first, at RECEIVED; the sale ping a minute later.
    let refund = form(&with(
        sale_pairs(),
        &[("resource_name", "refund"), ("refunded", "true")],
    ));
    let p = parse_body(Some(FORM), httparty(&sale_pairs()).as_bytes()).unwrap();
    let sale = normalize_payload(&p, RECEIVED + time::Duration::minutes(1)).unwrap();
    let refund_at = refund.occurred_at.unwrap_or(RECEIVED);
    assert!(sale.occurred_at.unwrap() < refund_at);
}

#[test]
fn recurring_charges_renew_the_subscription() {
    let n = form(&with(
        sale_pairs(),
        &[
            ("sale_id", "UmVjdXJyaW5nQ2hhcmdlMg=="),
            ("subscription_id", "U3Vic2NyaXB0aW9uMQ=="),
            ("is_recurring_charge", "true"),
            ("recurrence", "monthly"),
            ("is_multiseat_license", "false"),
        ],
    ));
    assert_eq!(n.kind, EventKind::SubscriptionRenewed);
    assert_eq!(n.source_event, "sale");
    assert_eq!(n.idempotency_key, "UmVjdXJyaW5nQ2hhcmdlMg==:sale");
    assert_eq!(
        n.subscription,
        Some(Subscription {
            id: "U3Vic2NyaXB0aW9uMQ==".into(),
            status: Some("active".into()),
            interval: Some("monthly".into()),
            next_charge_at: None,
        })
    );
    assert_eq!(n.attributes["is_recurring_charge"], json!(true));
    assert_eq!(n.attributes["recurrence"], json!("monthly"));
    // The first charge of a membership is a sale with the subscription attached.
    let first = form(&with(
        sale_pairs(),
        &[("subscription_id", "U3Vic2NyaXB0aW9uMQ==")],
    ));
    assert_eq!(first.kind, EventKind::OrderPaid);
    assert_eq!(first.subscription.unwrap().id, "U3Vic2NyaXB0aW9uMQ==");
}

#[test]
fn the_test_ping_has_no_resource_name() {
    let ping = form(&with(
        without(sale_pairs(), "resource_name"),
        &[("test", "true")],
    ));
    assert_eq!(ping.kind, EventKind::Ping);
    assert_eq!(ping.source_event, "test_ping");
    assert!(ping.test);
    assert_eq!(ping.idempotency_key, format!("{SALE_ID}:test_ping"));
    assert_ne!(ping.idempotency_key, form(&sale_pairs()).idempotency_key);
    assert_eq!(
        ping.customer.email.as_deref(),
        Some("ada.lovelace@example.com")
    );
    // An account with no sale yet still gets its setup check answered.
    let empty = form(&[("test", "true")]);
    assert_eq!(empty.kind, EventKind::Ping);
    assert!(empty.idempotency_key.starts_with("test_ping:"));
    // A seller's own purchase is a real `sale` flagged test.
    let own = form(&with(sale_pairs(), &[("test", "true")]));
    assert_eq!(own.kind, EventKind::OrderPaid);
    assert!(own.test);
    assert_eq!(own.attributes["test"], json!(true));
}

#[test]
fn shipping_gifts_and_affiliates() {
    let n = form(&with(
        sale_pairs(),
        &[
            ("street_address", "1 Analytical Way"),
            ("city", "London"),
            ("state", "LDN"),
            ("zip_code", "N1 9GU"),
            ("country", "United Kingdom"),
            ("shipping_information[full_name]", "Ada Lovelace"),
            ("shipping_information[street_address]", "1 Analytical Way"),
            ("shipping_information[city]", "London"),
            ("shipping_information[state]", "LDN"),
            ("shipping_information[zip_code]", "N1 9GU"),
            ("shipping_information[country]", "United Kingdom"),
            ("shipping_rate", "500"),
            ("is_gift_receiver_purchase", "true"),
            ("gift_price", "2000"),
            ("gifter_email", "giver@example.com"),
            ("affiliate", "partner@example.com"),
            ("affiliate_credit_amount_cents", "150"),
            ("quantity", "2"),
            ("sku_id", "sku-red-xl"),
        ],
    ));
    assert_eq!(
        n.customer.address,
        Some(Address {
            line1: Some("1 Analytical Way".into()),
            line2: None,
            city: Some("London".into()),
            state: Some("LDN".into()),
            postal_code: Some("N1 9GU".into()),
            country: Some("United Kingdom".into()),
        })
    );
    let order = n.order.unwrap();
    assert_eq!(order.items[0].quantity, 2);
    assert_eq!(n.attributes["shipping_rate_cents"], json!(500));
    assert_eq!(n.attributes["gift_price_cents"], json!(2000));
    assert_eq!(n.attributes["gifter_email"], json!("giver@example.com"));
    assert_eq!(n.attributes["is_gift_receiver_purchase"], json!(true));
    assert_eq!(n.attributes["affiliate"], json!("partner@example.com"));
    assert_eq!(n.attributes["affiliate_credit_amount_cents"], json!(150));
    assert_eq!(n.attributes["quantity"], json!(2));
    assert_eq!(n.attributes["sku_id"], json!("sku-red-xl"));
}

#[test]
fn custom_field_names_with_brackets_and_shadowed_core_fields() {
    // Gumroad encodes `[`/`]` in field names before HTTParty encodes the key again.
    let body = format!(
        "{}&Shoe%20size%20%255BEU%255D=42&custom_fields%5BShoe%20size%20%255BEU%255D%5D=42",
        httparty(&sale_pairs())
    );
    let n = ingest(&body, FORM).unwrap();
    assert_eq!(
        n.attributes["custom_fields"],
        json!({"Company": "ACME Ltd", "Shoe size [EU]": "42"})
    );
    // A custom field called "price" overwrote the real one: the event keeps going without a
    // total, and says which fields were shadowed.
    let shadowed = form(&with(
        sale_pairs(),
        &[("price", "blue"), ("custom_fields[price]", "blue")],
    ));
    assert_eq!(shadowed.order.unwrap().total, None);
    assert_eq!(shadowed.attributes["shadowed_fields"], json!(["price"]));
}

// --- the subscription family --------------------------------------------------------------

const SUB_ID: &str = "U3Vic2NyaXB0aW9uMQ==";

fn cancellation_pairs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("subscription_id", SUB_ID),
        ("product_id", "UHJvZHVjdDEyMzQ1Njc4OQ=="),
        ("product_name", "Rust Club"),
        ("user_id", "7891234567890"),
        ("user_email", "Member@Example.com"),
        ("purchase_ids[]", "UHVyY2hhc2Ux"),
        ("purchase_ids[]", "UHVyY2hhc2Uy"),
        ("created_at", "2025-01-14T09:26:53.512Z"),
        ("charge_occurrence_count", ""),
        ("recurrence", "monthly"),
        ("free_trial_ends_at", ""),
        ("resource_name", "cancellation"),
        ("cancelled", "true"),
        // When access ends: after the delivery.
        ("cancelled_at", "2025-04-14T09:26:53.512Z"),
        ("cancelled_by_buyer", "true"),
    ]
}

#[test]
fn cancellation_field_by_field() {
    let n = form(&cancellation_pairs());
    assert_eq!(n.kind, EventKind::SubscriptionCancelled);
    assert_eq!(n.source_event, "cancellation");
    assert_eq!(
        n.idempotency_key,
        format!("{SUB_ID}:cancellation:2025-04-14T09:26:53.512Z")
    );
    assert_eq!(n.occurred_at, Some(RECEIVED), "capped at the delivery time");
    assert!(!n.test);
    assert_eq!(
        n.customer,
        Customer {
            external_id: Some("7891234567890".into()),
            email: Some("member@example.com".into()),
            ..Default::default()
        }
    );
    assert_eq!(n.order, None);
    assert_eq!(
        n.subscription,
        Some(Subscription {
            id: SUB_ID.into(),
            status: Some("cancelled".into()),
            interval: Some("monthly".into()),
            next_charge_at: None,
        })
    );
    assert_eq!(
        Value::Object(n.attributes),
        json!({
            "resource_name": "cancellation",
            "subscription_id": SUB_ID,
            "product_id": "UHJvZHVjdDEyMzQ1Njc4OQ==",
            "product_name": "Rust Club",
            "user_id": "7891234567890",
            "created_at": "2025-01-14T09:26:53.512Z",
            "recurrence": "monthly",
            "cancelled_at": "2025-04-14T09:26:53.512Z",
            "cancelled_by": "buyer",
            "purchase_ids": ["UHVyY2hhc2Ux", "UHVyY2hhc2Uy"],
        })
    );
    // Failed renewals cancel too, at the failure time (in the past: kept as is).
    let failed = form(&with(
        without(cancellation_pairs(), "cancelled_by_buyer"),
        &[
            ("cancelled_at", "2025-03-01T00:00:00.000Z"),
            ("cancelled_due_to_payment_failures", "true"),
        ],
    ));
    assert_eq!(failed.attributes["cancelled_by"], json!("payment_failures"));
    assert_eq!(failed.occurred_at, Some(datetime!(2025-03-01 00:00:00 UTC)));
}

#[test]
fn ended_restarted_and_updated() {
    let base = without(
        without(
            without(without(cancellation_pairs(), "cancelled"), "cancelled_at"),
            "cancelled_by_buyer",
        ),
        "resource_name",
    );
    let ended = form(&with(
        base.clone(),
        &[
            ("resource_name", "subscription_ended"),
            ("ended_at", "2025-03-14T09:00:00.000Z"),
            ("ended_reason", "failed_payment"),
        ],
    ));
    assert_eq!(ended.kind, EventKind::SubscriptionEnded);
    assert_eq!(
        ended.idempotency_key,
        format!("{SUB_ID}:subscription_ended:2025-03-14T09:00:00.000Z")
    );
    assert_eq!(ended.occurred_at, Some(datetime!(2025-03-14 09:00:00 UTC)));
    assert_eq!(ended.attributes["ended_reason"], json!("failed_payment"));
    assert_eq!(ended.subscription.unwrap().status.as_deref(), Some("ended"));

    let restarted = form(&with(
        base.clone(),
        &[
            ("resource_name", "subscription_restarted"),
            ("restarted_at", "2025-03-14 09:30:00 UTC"),
        ],
    ));
    assert_eq!(restarted.kind, EventKind::SubscriptionResumed);
    assert_eq!(
        restarted.occurred_at,
        Some(datetime!(2025-03-14 09:30:00 UTC))
    );
    assert_eq!(
        restarted.subscription.unwrap().status.as_deref(),
        Some("active")
    );

    // Zapier-hosted subscriptions get JSON (reference §7 `subscription_updated.json`).
    let updated = json!({
        "subscription_id": SUB_ID,
        "product_id": "UHJvZHVjdDEyMzQ1Njc4OQ==",
        "product_name": "Rust Club",
        "user_id": "7891234567890",
        "user_email": "member@example.com",
        "purchase_ids": ["UHVyY2hhc2Ux"],
        "created_at": "2025-01-14T09:26:53.512Z",
        "charge_occurrence_count": null,
        "recurrence": "monthly",
        "free_trial_ends_at": null,
        "resource_name": "subscription_updated",
        "type": "upgrade",
        "effective_as_of": "2025-03-14T09:40:00Z",
        "old_plan": {"tier": {"id": "VGllcjE=", "name": "Basic"}, "recurrence": "monthly", "price_cents": 500, "quantity": 1},
        "new_plan": {"tier": {"id": "VGllcjI=", "name": "Pro"}, "recurrence": "yearly", "price_cents": 5000, "quantity": 1}
    })
    .to_string();
    let n = ingest(&updated, "application/json").unwrap();
    assert_eq!(n.kind, SUBSCRIPTION_UPDATED_KIND);
    assert_eq!(n.source_event, "subscription_updated");
    assert_eq!(
        n.idempotency_key,
        format!("{SUB_ID}:subscription_updated:2025-03-14T09:40:00Z")
    );
    assert_eq!(n.attributes["change"], json!("upgrade"));
    assert_eq!(n.attributes["old_plan_price_cents"], json!(500));
    assert_eq!(n.attributes["new_plan_price_cents"], json!(5000));
    assert_eq!(n.attributes["new_plan"]["tier"]["name"], json!("Pro"));
    assert_eq!(n.subscription.unwrap().interval.as_deref(), Some("yearly"));
    assert_eq!(n.customer.email.as_deref(), Some("member@example.com"));

    // Cancel, restart and cancel again: three events, three keys.
    let again = form(&with(
        cancellation_pairs(),
        &[("cancelled_at", "2025-05-14T09:26:53.512Z")],
    ));
    let keys: std::collections::BTreeSet<_> = [
        form(&cancellation_pairs()).idempotency_key,
        restarted.idempotency_key,
        again.idempotency_key,
    ]
    .into_iter()
    .collect();
    assert_eq!(keys.len(), 3);
}

// --- unknown and malformed ----------------------------------------------------------------

#[test]
fn unknown_resource_names_are_published_with_their_payload() {
    let pairs = with(sale_pairs(), &[("resource_name", "sale_updated")]);
    let n = form(&pairs);
    assert_eq!(n.kind, EventKind::Unknown);
    assert_eq!(n.source_event, "sale_updated");
    assert!(n.idempotency_key.starts_with("sale_updated:"));
    assert_eq!(
        n.customer.email.as_deref(),
        Some("ada.lovelace@example.com")
    );
    assert_eq!(n.attributes["sale_id"], json!(SALE_ID));
    assert_eq!(n.attributes["card"]["type"], json!("visa"));
    // Retries dedupe; different content does not.
    let retried = form(&with(pairs.clone(), &[("retry_count", "2")]));
    assert_eq!(retried.idempotency_key, n.idempotency_key);
    assert!(!retried.attributes.contains_key(RETRY_FIELD));
    let other = form(&with(pairs, &[("price", "1600")]));
    assert_ne!(other.idempotency_key, n.idempotency_key);
}

#[test]
fn malformed_deliveries_are_parse_errors() {
    let missing = httparty(&without(sale_pairs(), "sale_id"));
    assert!(matches!(
        ingest(&missing, FORM),
        Err(ParseError::Missing { field: "sale_id" })
    ));
    let no_sub = httparty(&without(cancellation_pairs(), "subscription_id"));
    assert!(matches!(
        ingest(&no_sub, FORM),
        Err(ParseError::Missing {
            field: "subscription_id"
        })
    ));
    assert!(matches!(
        ingest("{\"sale_id\":", "application/json"),
        Err(ParseError::Json(_))
    ));
    assert!(matches!(
        ingest("[1,2]", "application/json"),
        Err(ParseError::Json(_))
    ));
    assert!(matches!(
        ingest("not json", "application/json; charset=utf-8"),
        Err(ParseError::Json(_))
    ));
    let bad_price = httparty(&with(sale_pairs(), &[("price", "15.00")]));
    assert!(matches!(
        ingest(&bad_price, FORM),
        Err(ParseError::Invalid { field: "price", .. })
    ));
    // An empty body is a ping without a sale: nothing to key a purchase on, but authentic.
    assert_eq!(ingest("", FORM).unwrap().kind, EventKind::Ping);
}

#[test]
fn times_and_names() {
    assert_eq!(
        parse_time("2025-03-14T09:26:53.512Z"),
        Some(datetime!(2025-03-14 09:26:53.512 UTC))
    );
    assert_eq!(
        parse_time("2025-03-14T10:26:53+01:00"),
        Some(datetime!(2025-03-14 09:26:53 UTC))
    );
    assert_eq!(
        parse_time("2025-03-14 09:26:53 UTC"),
        Some(datetime!(2025-03-14 09:26:53 UTC))
    );
    assert_eq!(parse_time("yesterday"), None);
    assert_eq!(split_name(Some("Ada")), (Some("Ada".into()), None));
    assert_eq!(split_name(Some("  ")), (None, None));
    // An unparsable sale time leaves `occurred_at` to the delivery time.
    assert_eq!(
        form(&with(sale_pairs(), &[("sale_timestamp", "soon")])).occurred_at,
        None
    );
}

// --- properties ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes with any content type: verification fails closed without the token, and
    /// with it normalisation answers an event or a `ParseError`, never a panic.
    #[test]
    fn arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..1024), ct in 0usize..3) {
        let content_type = ["application/json", FORM, "text/plain"][ct];
        let mut h = http::HeaderMap::new();
        h.insert("content-type", content_type.parse().unwrap());
        let unauth = Delivery::new(Token::parse("demo").unwrap(), h.clone(), None, body.clone().into());
        prop_assert!(Gumroad.verify(unauth, &secrets()).is_err());
        let d = Delivery::new(Token::parse("demo").unwrap(), h, Some(format!("token={SECRET}")), body.into());
        let d = Gumroad.verify(d, &secrets()).unwrap();
        let _ = Gumroad.normalize(&d, &ctx());
    }

    /// Arbitrary (nested, percent-encoded, bracketed) keys next to a real resource name.
    #[test]
    fn arbitrary_nested_keys(
        keys in proptest::collection::vec("[a-z_0-9\\[\\]%5BD]{0,24}", 0..24),
        resource in 0usize..10,
    ) {
        let names = ["sale", "refund", "dispute", "dispute_won", "cancellation",
            "subscription_updated", "subscription_ended", "subscription_restarted", "", "other"];
        let mut body = keys.iter().enumerate().map(|(i, k)| format!("{k}={i}")).collect::<Vec<_>>();
        body.push(format!("resource_name={}", names[resource]));
        let body = body.join("&");
        let _ = ingest(&body, FORM);
        let _ = ingest(&format!("{}&{body}", httparty(&sale_pairs())), FORM);
        let _ = ingest(&format!("{}&{body}", httparty(&cancellation_pairs())), FORM);
    }

    /// Whatever else a purchase carries, a retry keeps its key and its event.
    #[test]
    fn retries_never_change_the_key(retry in 1u32..4, extra in "[a-z]{1,8}", value in "[ -~]{0,16}") {
        let mut pairs: Vec<(String, String)> = sale_pairs().into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        pairs.push((format!("x_{extra}"), value));
        let encode = |pairs: &[(String, String)]| pairs.iter().map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v))).collect::<Vec<_>>().join("&");
        let first = ingest(&encode(&pairs), FORM).unwrap();
        pairs.push((RETRY_FIELD.into(), retry.to_string()));
        let again = ingest(&encode(&pairs), FORM).unwrap();
        prop_assert_eq!(first, again);
    }
}
