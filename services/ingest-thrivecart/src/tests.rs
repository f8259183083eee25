//! Unit tests. Fixtures copy the structure of the real captures in
//! reference/storefronts/thrivecart.md §7 (`order.success` from magloft/thrivecart, the 2025
//! `order.refund`, the 2020 `order.subscription_payment`, the cancellation excerpt) with fake
//! values; form bodies are the same objects encoded as PHP's `http_build_query` does.

#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;
use relay_contracts::Token;
use serde_json::json;
use time::macros::datetime;

const SECRET: &str = "EXAMPLESECRET1";
const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

#[path = "../tests/it/php_form.rs"]
mod php_form;
use php_form::{php_encode, php_form};

fn order_success() -> Value {
    json!({
        "event": "order.success",
        "mode": "live",
        "mode_int": "2",
        "thrivecart_account": "demoacct",
        "thrivecart_secret": SECRET,
        "base_product": "12",
        "base_product_name": "Mobile & Universal App Pro",
        "base_product_label": "",
        "base_product_owner": "110359",
        "order_id": "23370556",
        "invoice_id": "000001382",
        "subscription_ids": {"product-12": "3498819"},
        "order_date": "2023-11-08 23:48:20",
        "order_timestamp": "1699487300",
        "currency": "USD",
        "customer_id": "429583657727489355",
        "customer_identifier": "null",
        "customer": {
            "id": "429583657727489355",
            "client_user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
            "origin": "vanity",
            "name": "Grace Hopper",
            "email": "Grace.Hopper@Example.com",
            "business_name": "Hopper &amp; Co",
            "contactno": "+15555550123",
            "ip_address": "203.0.113.7",
            "address": {"country": "id", "city": "Jakarta", "line1": "Jl. Sudirman 1", "zip": "10220"},
            "first_name": "Grace",
            "last_name": "Hopper",
            "checkbox_confirmation": "false"
        },
        "affiliate": "null",
        "order": {
            "id": "23370556",
            "invoice_id": "000001382",
            "processor": "stripe_v2",
            "total": "504700",
            "total_str": "5047.00",
            "total_gross": "504700",
            "total_gross_str": "5047.00",
            "date": "2023-11-08 23:48:20",
            "date_iso8601": "2023-11-08T23:48:20+00:00",
            "date_unix": "1699487300",
            "tracking_id": "null",
            "tax": "null",
            "charges": [
                {
                    "name": "Mobile &amp; Universal App Pro", "label": "", "reference": "12",
                    "item_type": "product", "item_identifier": "product_12",
                    "amount": "499700", "amount_str": "4997.00", "type": "single", "quantity": "1",
                    "unit_price": "499700", "amount_gross": "499700", "tax_paid": "0",
                    "payment_plan_id": "83322", "payment_plan_name": "Yearly Subscription ($4997.00)"
                },
                {
                    "name": "Priority support", "label": "", "reference": "3",
                    "item_type": "bump", "item_identifier": "bump_3",
                    "amount": "5000", "amount_str": "50.00", "type": "single", "quantity": "2",
                    "unit_price": "2500", "amount_gross": "5000", "tax_paid": "0"
                }
            ],
            "future_charges": [
                {
                    "name": "Mobile &amp; Universal App Pro", "reference": "12", "item_type": "product",
                    "amount": "499700", "amount_str": "4997.00", "frequency": "year",
                    "frequency_days": "365", "type": "recurring", "due": "2024-11-08 23:48:19",
                    "defer_date": "1731109699"
                }
            ]
        },
        "transactions": {"product-12": "ch_3Example0000001", "bump-3": "ch_3Example0000002"},
        "subscriptions": {"product-12": "sub_1Example0000001"},
        "purchases": ["Mobile &amp; Universal App Pro", "Priority support"],
        "purchase_map": ["product-12", "bump-3"],
        "purchase_map_flat": "product-12,bump-3",
        "accessible_purchases": ["Mobile &amp; Universal App Pro", "Priority support"],
        "accessible_purchase_map": ["product-12", "bump-3"],
        "fulfillment": {"url": "https://shop.example.com/confirm/abc123/"}
    })
}

fn order_refund() -> Value {
    json!({
        "event": "order.refund",
        "mode": "live",
        "mode_int": "2",
        "thrivecart_account": "demoacct",
        "thrivecart_secret": SECRET,
        "date": "2025-10-24 17:57:27",
        "date_iso8601": "2025-10-24T17:57:27+00:00",
        "date_unix": "1761328647",
        "base_product": "7",
        "base_product_name": "Funnel Analyzer Basic",
        "base_product_label": "Basic Funnel Analyzer Account",
        "base_product_owner": "72586",
        "base_payment_plan": "10521",
        "order_id": "38033257",
        "invoice_id": "000000005",
        "subscription_id": "5440433",
        "currency": "USD",
        "customer_id": "429583657898226838",
        "customer": {
            "id": "429583657898226838",
            "origin": "vanity",
            "email": "refund.me@example.com",
            "ip_address": "198.51.100.4",
            "address": {"country": "PR"},
            "name": " ",
            "checkbox_confirmation": "false",
            "first_name": "",
            "last_name": ""
        },
        "affiliate": "null",
        "order": {
            "id": "38033257", "invoice_id": "000000005", "processor": "stripe_connect+",
            "total": "5900", "total_str": "59.00", "total_gross": "5900", "total_gross_str": "59.00",
            "date": "2025-10-24 17:31:25", "date_iso8601": "2025-10-24T17:31:25+00:00",
            "date_unix": "1761327085", "tracking_id": "null", "tax": "null", "payment_method": "card"
        },
        "refund": {
            "type": "product", "id": "7", "product_id": "7", "name": "Funnel Analyzer Basic",
            "label": "Basic Funnel Analyzer Account", "processor": "stripe_connect+", "currency": "USD",
            "amount": "5900", "amount_str": "59.00", "amount_gross": "5900",
            "amount_gross_str": "59.00", "tax_paid": "0", "tax_paid_str": "0.00"
        },
        "event_id": "1325564304",
        "pro-rata": "false"
    })
}

fn subscription_payment() -> Value {
    json!({
        "event": "order.subscription_payment",
        "mode": "live",
        "mode_int": "2",
        "thrivecart_account": "demoacct",
        "thrivecart_secret": SECRET,
        "base_product": "17",
        "base_product_name": "$69/Month Club",
        "base_product_label": "$69/Month Friends Pricing",
        "base_payment_plan": "31670",
        "base_product_owner": "56894",
        "currency": "USD",
        "recurring_payment_idx": "6",
        "customer_id": "16099259",
        "customer": {
            "id": "16099259", "email": "member@example.com", "contactno": "5555550199",
            "ip_address": "192.0.2.10", "address": {"country": "US"},
            "first_name": "Mary", "last_name": "Member", "name": "Mary Member",
            "checkbox_confirmation": "false"
        },
        "affiliate": "null",
        "date": "2020-07-24 05:17:34",
        "date_iso8601": "2020-07-24T05:17:34+00:00",
        "date_unix": "1595567854",
        "order": {
            "id": "3230022", "invoice_id": "000000141", "processor": "stripe",
            "total": "6900", "total_str": "69.00", "total_gross": "6900", "total_gross_str": "69.00",
            "date": "2020-01-24 04:15:51", "date_iso8601": "2020-01-24T04:15:51+00:00",
            "date_unix": "1579839351", "tracking_id": "null", "tax": "null"
        },
        "order_id": "3230022",
        "invoice_id": "000000141-6",
        "subscription": {
            "type": "product", "id": "17", "product_id": "17", "name": "$69/Month Club",
            "label": "$69/Month Friends Pricing", "processor": "stripe", "currency": "USD",
            "invoice_id": "000000141", "amount": "6900", "amount_str": "69.00",
            "amount_gross": "6900", "amount_gross_str": "69.00", "tax_paid": "0",
            "tax_paid_str": "0.00", "frequency": "month", "frequency_days": "30",
            "remaining_rebills": "null", "invoice_str": "000000141-6", "recurring_payment_idx": "6",
            "next_payment_date": "1598246253", "next_payment_date_iso8601": "2020-08-24T05:17:33+00:00"
        }
    })
}

/// Assembled (reference §7): envelope, customer and order from the captures, `subscription{}`
/// from the cancellation excerpt.
fn subscription_change(event: &str, date_unix: &str) -> Value {
    json!({
        "event": event,
        "mode": "live",
        "mode_int": "2",
        "thrivecart_account": "demoacct",
        "thrivecart_secret": SECRET,
        "base_product": "10",
        "base_product_name": "Test subscription product",
        "base_product_label": "Test subscription product",
        "order_id": "4455667",
        "invoice_id": "000000777",
        "subscription_id": "5440999",
        "currency": "USD",
        "customer_id": "16099260",
        "customer": {"id": "16099260", "email": "leaver@example.com", "first_name": "Lee", "last_name": "Ver", "name": "Lee Ver"},
        "date": "2021-07-11 20:09:51",
        "date_iso8601": "2021-07-11T20:09:51+00:00",
        "date_unix": date_unix,
        "order": {"id": "4455667", "total": "100", "total_str": "1.00", "date_unix": "1626034191"},
        "subscription": {
            "type": "product", "id": "10", "product_id": "10", "name": "Test subscription product",
            "label": "Test subscription product", "frequency": "month", "frequency_days": "30",
            "remaining_rebills": "null", "billing_period_end": "1628712591",
            "billing_period_end_iso8601": "2021-08-11T20:09:51+00:00"
        }
    })
}

fn cart_abandoned() -> Value {
    json!({
        "event": "cart.abandoned",
        "mode": "test",
        "mode_int": "1",
        "thrivecart_account": "demoacct",
        "thrivecart_secret": SECRET,
        "base_product": "12",
        "base_product_name": "Mobile &amp; Universal App Pro",
        "currency": "USD",
        "customer": {"email": "Maybe.Later@Example.com", "name": "Maybe Later", "first_name": "Maybe", "last_name": "Later"},
        "date": "2023-11-09 10:00:00",
        "date_iso8601": "2023-11-09T10:00:00+00:00",
        "date_unix": "1699524000"
    })
}

fn with(mut v: Value, changes: &[(&str, Value)]) -> Value {
    for (k, x) in changes {
        match x {
            Value::Null => {
                v.as_object_mut().unwrap().remove(*k);
            }
            x => {
                v.as_object_mut()
                    .unwrap()
                    .insert((*k).to_owned(), x.clone());
            }
        }
    }
    v
}

fn delivery(body: &str, content_type: &str) -> Delivery<Unverified> {
    let mut h = http::HeaderMap::new();
    h.insert("content-type", content_type.parse().unwrap());
    Delivery::new(
        Token::parse("demo").unwrap(),
        h,
        None,
        body.to_owned().into(),
    )
}

fn secrets() -> Vec<SecretString> {
    vec![SecretString::from(SECRET.to_owned())]
}

fn ctx() -> ConnectionContext {
    ConnectionContext {
        name: Token::parse("demo").unwrap(),
        timezone: None,
    }
}

fn verify(body: &str, content_type: &str) -> Result<Delivery<Verified>, VerifyError> {
    Thrivecart.verify(delivery(body, content_type), &secrets())
}

/// Verify and normalise as the server does.
fn ingest(body: &str, content_type: &str) -> Result<Normalized, ParseError> {
    Thrivecart.normalize(&verify(body, content_type).unwrap(), &ctx())
}

fn both(v: &Value) -> Normalized {
    let from_json = ingest(&v.to_string(), JSON).unwrap();
    let from_form = ingest(&php_form(v), FORM).unwrap();
    assert_eq!(from_json, from_form, "form and JSON bodies normalise alike");
    from_json
}

fn usd(minor: i64) -> Option<Money> {
    Some(Money {
        minor,
        currency: "USD".into(),
    })
}

// --- verification, redaction, probe -------------------------------------------------------

#[test]
fn secret_word_verification() {
    let v = order_success();
    for (body, ct) in [(v.to_string(), JSON), (php_form(&v), FORM)] {
        assert!(verify(&body, ct).is_ok());
        // Rotation: the previous secret word is accepted next to the new one.
        let rotated = [
            SecretString::from("NEWSECRET2".to_owned()),
            SecretString::from(SECRET.to_owned()),
        ];
        assert!(Thrivecart.verify(delivery(&body, ct), &rotated).is_ok());
        assert!(matches!(
            Thrivecart.verify(
                delivery(&body, ct),
                &[SecretString::from("NEWSECRET2".to_owned())]
            ),
            Err(VerifyError::Mismatch)
        ));
    }
    let bad = |v: Value| {
        let json = verify(&v.to_string(), JSON).map(|_| ());
        let form = verify(&php_form(&v), FORM).map(|_| ());
        (json, form)
    };
    // Tampered, wrong case, prefix, empty.
    for secret in [
        "EXAMPLESECRET2",
        "examplesecret1",
        "EXAMPLESECRET",
        "EXAMPLESECRET1 ",
        "",
    ] {
        let (json, form) = bad(with(order_success(), &[(SECRET_FIELD, json!(secret))]));
        assert!(matches!(json, Err(VerifyError::Mismatch)), "{secret:?}");
        assert!(matches!(form, Err(VerifyError::Mismatch)), "{secret:?}");
    }
    // Missing, or under a wrong-case key, or nested, or not a string.
    let missing = with(order_success(), &[(SECRET_FIELD, Value::Null)]);
    let (json, form) = bad(missing.clone());
    assert!(matches!(
        json,
        Err(VerifyError::MissingSignature(SECRET_FIELD))
    ));
    assert!(matches!(
        form,
        Err(VerifyError::MissingSignature(SECRET_FIELD))
    ));
    let (json, form) = bad(with(
        missing.clone(),
        &[("THRIVECART_SECRET", json!(SECRET))],
    ));
    assert!(json.is_err() && form.is_err());
    let (json, form) = bad(with(
        missing.clone(),
        &[("customer", json!({"thrivecart_secret": SECRET}))],
    ));
    assert!(json.is_err() && form.is_err());
    assert!(
        verify(
            &with(missing, &[(SECRET_FIELD, json!(12345))]).to_string(),
            JSON
        )
        .is_err()
    );
    // Unparsable bodies cannot show a secret: refused, never parsed further.
    assert!(matches!(
        verify("{\"thrivecart_secret\":", JSON),
        Err(VerifyError::MissingSignature(_))
    ));
    assert!(verify("", FORM).is_err());
    // Re-encoding is harmless (no signature over bytes): the same delivery with `%20` instead
    // of `+`, literal brackets, or as JSON under a form content type still verifies.
    let literal = php_form(&order_success())
        .replace("%5B", "[")
        .replace("%5D", "]")
        .replace('+', "%20");
    assert!(verify(&literal, FORM).is_ok());
    assert!(verify(&order_success().to_string(), FORM).is_ok());
}

#[test]
fn the_secret_word_never_leaves_verification() {
    let v = order_success();
    let form_body = php_form(&v);
    let d = verify(&form_body, FORM).unwrap();
    let raw = String::from_utf8(d.body.to_vec()).unwrap();
    assert!(!raw.contains(SECRET));
    // Every other byte is as received.
    assert_eq!(raw, form_body.replace(SECRET, REDACTED));

    let json_body = serde_json::to_string_pretty(&v).unwrap();
    let d = verify(&json_body, JSON).unwrap();
    let raw = String::from_utf8(d.body.to_vec()).unwrap();
    assert!(!raw.contains(SECRET));
    assert_eq!(raw, json_body.replace(SECRET, REDACTED));

    // A key spelled with an escape is still found (by re-serialising).
    let escaped = v
        .to_string()
        .replace("\"thrivecart_secret\"", "\"thrivecart\\u005fsecret\"");
    let d = verify(&escaped, JSON).unwrap();
    assert!(!String::from_utf8(d.body.to_vec()).unwrap().contains(SECRET));
    let reparsed: Value = serde_json::from_slice(&d.body).unwrap();
    assert_eq!(
        reparsed,
        with(v.clone(), &[(SECRET_FIELD, json!(REDACTED))])
    );

    // Nor does it reach the event.
    for n in [
        ingest(&form_body, FORM).unwrap(),
        ingest(&json_body, JSON).unwrap(),
    ] {
        assert!(
            !serde_json::to_string(&n.attributes)
                .unwrap()
                .contains(SECRET)
        );
        assert!(!n.attributes.contains_key(SECRET_FIELD));
    }
    let unknown = with(v, &[("event", json!("affiliate.commission_earned"))]);
    let n = ingest(&unknown.to_string(), JSON).unwrap();
    assert!(!n.attributes.contains_key(SECRET_FIELD));
}

#[test]
fn setup_probes_answer_200() {
    for m in [http::Method::HEAD, http::Method::GET] {
        assert_eq!(Thrivecart.probe(&m).unwrap().status(), http::StatusCode::OK);
    }
    assert!(Thrivecart.probe(&http::Method::PUT).is_none());
    assert!(Thrivecart.probe(&http::Method::DELETE).is_none());
}

// --- events -------------------------------------------------------------------------------

#[test]
fn order_success_field_by_field() {
    let n = both(&order_success());
    assert_eq!(n.kind, EventKind::OrderPaid);
    assert_eq!(n.source_event, "order.success");
    assert_eq!(n.idempotency_key, "order.success:23370556");
    assert_eq!(n.occurred_at, Some(datetime!(2023-11-08 23:48:20 UTC)));
    assert!(!n.test);
    assert_eq!(
        n.customer,
        Customer {
            external_id: Some("429583657727489355".into()),
            email: Some("grace.hopper@example.com".into()),
            phone: Some("+15555550123".into()),
            first_name: Some("Grace".into()),
            last_name: Some("Hopper".into()),
            name: Some("Grace Hopper".into()),
            company: Some("Hopper & Co".into()),
            address: Some(Address {
                line1: Some("Jl. Sudirman 1".into()),
                line2: None,
                city: Some("Jakarta".into()),
                state: None,
                postal_code: Some("10220".into()),
                country: Some("ID".into()),
            }),
        }
    );
    assert_eq!(
        n.order,
        Some(Order {
            id: "23370556".into(),
            items: vec![
                Item {
                    product_id: Some("12".into()),
                    product_name: Some("Mobile & Universal App Pro".into()),
                    quantity: 1,
                    amount: usd(499_700),
                },
                Item {
                    product_id: Some("3".into()),
                    product_name: Some("Priority support".into()),
                    quantity: 2,
                    amount: usd(5_000),
                },
            ],
            total: usd(504_700),
            coupon: None,
        })
    );
    assert_eq!(n.subscription, None);
    assert_eq!(
        Value::Object(n.attributes),
        json!({
            "event": "order.success",
            "mode": "live",
            "thrivecart_account": "demoacct",
            "base_product": "12",
            "base_product_name": "Mobile & Universal App Pro",
            "base_product_owner": "110359",
            "order_id": "23370556",
            "invoice_id": "000001382",
            "customer_id": "429583657727489355",
            "purchase_map_flat": "product-12,bump-3",
            "order_date": "2023-11-08 23:48:20",
            "purchases": ["Mobile & Universal App Pro", "Priority support"],
            "purchase_map": ["product-12", "bump-3"],
            "accessible_purchase_map": ["product-12", "bump-3"],
            "subscription_ids": {"product-12": "3498819"},
            "subscriptions": {"product-12": "sub_1Example0000001"},
            "transactions": {"product-12": "ch_3Example0000001", "bump-3": "ch_3Example0000002"},
            "fulfillment_url": "https://shop.example.com/confirm/abc123/",
            "customer_ip_address": "203.0.113.7",
            "customer_origin": "vanity",
            "checkbox_confirmation": "false",
            "processor": "stripe_v2",
            "order_total_minor": 504_700,
            "product_ids": ["12", "3"],
            "product_names": ["Mobile & Universal App Pro", "Priority support"],
            "currency": "USD",
        })
    );
}

#[test]
fn order_refund_field_by_field() {
    let n = both(&order_refund());
    assert_eq!(n.kind, EventKind::OrderRefunded);
    assert_eq!(n.idempotency_key, "order.refund:event_id:1325564304");
    // The refund's own date, not the order's (17:31:25).
    assert_eq!(n.occurred_at, Some(datetime!(2025-10-24 17:57:27 UTC)));
    assert_eq!(
        n.customer,
        Customer {
            external_id: Some("429583657898226838".into()),
            email: Some("refund.me@example.com".into()),
            address: Some(Address {
                country: Some("PR".into()),
                ..Default::default()
            }),
            // `name: " "`, empty first/last names: absent.
            ..Default::default()
        }
    );
    assert_eq!(
        n.order,
        Some(Order {
            id: "38033257".into(),
            items: vec![Item {
                product_id: Some("7".into()),
                product_name: Some("Funnel Analyzer Basic".into()),
                quantity: 1,
                amount: usd(5900),
            }],
            total: usd(5900),
            coupon: None,
        })
    );
    assert_eq!(n.subscription, None);
    assert_eq!(n.attributes["refund_type"], json!("product"));
    assert_eq!(n.attributes["pro-rata"], json!("false"));
    assert_eq!(n.attributes["subscription_id"], json!("5440433"));
    assert_eq!(n.attributes["payment_method"], json!("card"));
    assert_eq!(n.attributes["product_ids"], json!(["7"]));
    // Without `event_id` (older deliveries): order, refunded item and date.
    let derived = both(&with(order_refund(), &[("event_id", Value::Null)]));
    assert_eq!(
        derived.idempotency_key,
        "order.refund:38033257:product-7:1761328647"
    );
}

#[test]
fn subscription_payment_field_by_field() {
    let n = both(&subscription_payment());
    assert_eq!(n.kind, EventKind::SubscriptionRenewed);
    assert_eq!(
        n.idempotency_key,
        "order.subscription_payment:3230022:product-17:000000141-6"
    );
    assert_eq!(n.occurred_at, Some(datetime!(2020-07-24 05:17:34 UTC)));
    assert_eq!(
        n.customer,
        Customer {
            external_id: Some("16099259".into()),
            email: Some("member@example.com".into()),
            phone: Some("5555550199".into()),
            first_name: Some("Mary".into()),
            last_name: Some("Member".into()),
            name: Some("Mary Member".into()),
            company: None,
            address: Some(Address {
                country: Some("US".into()),
                ..Default::default()
            }),
        }
    );
    assert_eq!(
        n.order,
        Some(Order {
            id: "3230022".into(),
            items: vec![Item {
                product_id: Some("17".into()),
                product_name: Some("$69/Month Club".into()),
                quantity: 1,
                amount: usd(6900),
            }],
            total: usd(6900),
            coupon: None,
        })
    );
    assert_eq!(
        n.subscription,
        Some(Subscription {
            id: "3230022/product-17".into(),
            status: Some("active".into()),
            interval: Some("month".into()),
            next_charge_at: Some(datetime!(2020-08-24 05:17:33 UTC)),
        })
    );
    assert_eq!(n.attributes["recurring_payment_idx"], json!("6"));
    assert_eq!(n.attributes["invoice_id"], json!("000000141-6"));
    assert_eq!(n.attributes["subscription_amount_minor"], json!(6900));
    assert_eq!(n.attributes["subscription_frequency_days"], json!("30"));
    assert!(
        !n.attributes.contains_key("subscription_remaining_rebills"),
        "\"null\" is absent"
    );
    // The next rebill is another event.
    let next = both(&with(
        subscription_payment(),
        &[
            ("invoice_id", json!("000000141-7")),
            ("recurring_payment_idx", json!("7")),
        ],
    ));
    assert_ne!(next.idempotency_key, n.idempotency_key);
    // With `subscription_ids` the subscription takes ThriveCart's id.
    let with_ids = both(&with(
        subscription_payment(),
        &[("subscription_ids", json!({"product-17": "3498001"}))],
    ));
    assert_eq!(with_ids.subscription.unwrap().id, "3498001");
}

#[test]
fn rebill_failed_cancel_pause_resume() {
    let failed = both(&with(
        subscription_payment(),
        &[("event", json!("order.rebill_failed"))],
    ));
    assert_eq!(failed.kind, EventKind::SubscriptionPaymentFailed);
    assert_eq!(
        failed.idempotency_key,
        "order.rebill_failed:3230022:product-17:000000141-6:1595567854"
    );
    assert_eq!(failed.order, None, "a failed payment is no revenue");
    assert_eq!(
        failed.subscription.as_ref().unwrap().status.as_deref(),
        Some("past_due")
    );
    assert_eq!(failed.attributes["subscription_amount_minor"], json!(6900));

    let cases = [
        (
            "order.subscription_cancelled",
            EventKind::SubscriptionCancelled,
            "cancelled",
        ),
        (
            "order.subscription_paused",
            EventKind::SubscriptionPaused,
            "paused",
        ),
        (
            "order.subscription_resumed",
            EventKind::SubscriptionResumed,
            "active",
        ),
    ];
    for (event, kind, status) in cases {
        let n = both(&subscription_change(event, "1626034191"));
        assert_eq!(n.kind, kind, "{event}");
        assert_eq!(n.source_event, event);
        assert_eq!(
            n.idempotency_key,
            format!("{event}:4455667:5440999:1626034191")
        );
        assert_eq!(n.occurred_at, Some(datetime!(2021-07-11 20:09:51 UTC)));
        assert_eq!(
            n.order, None,
            "the original order.total is not booked again"
        );
        assert_eq!(n.attributes["order_total_minor"], json!(100));
        assert_eq!(
            n.subscription,
            Some(Subscription {
                id: "5440999".into(),
                status: Some(status.into()),
                interval: Some("month".into()),
                next_charge_at: None,
            })
        );
        assert_eq!(n.customer.email.as_deref(), Some("leaver@example.com"));
        assert_eq!(n.attributes["product_ids"], json!(["10"]));
        assert_eq!(
            n.attributes["subscription_billing_period_end_iso8601"],
            json!("2021-08-11T20:09:51+00:00")
        );
    }
    // Cancel, resume and cancel again: distinct keys by date; no subscription id: the item.
    let again = both(&subscription_change(
        "order.subscription_cancelled",
        "1626900000",
    ));
    assert_ne!(
        again.idempotency_key,
        both(&subscription_change(
            "order.subscription_cancelled",
            "1626034191"
        ))
        .idempotency_key
    );
    let no_id = both(&with(
        subscription_change("order.subscription_paused", "1626034191"),
        &[("subscription_id", Value::Null)],
    ));
    assert_eq!(
        no_id.idempotency_key,
        "order.subscription_paused:4455667:product-10:1626034191"
    );
    assert_eq!(no_id.subscription.unwrap().id, "4455667/product-10");
}

#[test]
fn cart_abandoned_in_test_mode() {
    let n = both(&cart_abandoned());
    assert_eq!(n.kind, EventKind::CartAbandoned);
    assert!(n.test, "mode=test");
    assert_eq!(
        n.idempotency_key,
        "cart.abandoned:maybe.later@example.com:12:1699524000"
    );
    assert_eq!(n.occurred_at, Some(datetime!(2023-11-09 10:00:00 UTC)));
    assert_eq!(n.customer.email.as_deref(), Some("maybe.later@example.com"));
    assert_eq!(n.customer.first_name.as_deref(), Some("Maybe"));
    assert_eq!(n.order, None);
    assert_eq!(n.subscription, None);
    assert_eq!(n.attributes["product_ids"], json!(["12"]));
    assert_eq!(
        n.attributes["product_names"],
        json!(["Mobile & Universal App Pro"])
    );
    // `mode_int=1` alone marks a test too.
    let n = both(&with(cart_abandoned(), &[("mode", Value::Null)]));
    assert!(n.test);
    let n = both(&with(
        cart_abandoned(),
        &[("mode", json!("live")), ("mode_int", json!("2"))],
    ));
    assert!(!n.test);
}

#[test]
fn api_subscription_event_names() {
    let cases = [
        ("order_created", EventKind::OrderPaid),
        ("order_refund_product", EventKind::OrderRefunded),
        ("order_rebill", EventKind::SubscriptionRenewed),
        ("order_rebill_failed", EventKind::SubscriptionPaymentFailed),
        ("order_rebill_cancelled", EventKind::SubscriptionCancelled),
        ("subscription_paused", EventKind::SubscriptionPaused),
        ("subscription_resumed", EventKind::SubscriptionResumed),
        ("order_rebill_completed", EventKind::SubscriptionEnded),
        ("cart_abandoned", EventKind::CartAbandoned),
        ("order_payment_product", EventKind::Unknown),
        ("affiliate_approved", EventKind::Unknown),
    ];
    for (event, kind) in cases {
        let n = ingest(
            &with(order_success(), &[("event", json!(event))]).to_string(),
            JSON,
        )
        .unwrap();
        assert_eq!(n.kind, kind, "{event}");
        assert_eq!(n.source_event, event);
    }
}

#[test]
fn unknown_events_keep_their_payload() {
    let commission = json!({
        "event": "affiliate.commission_earned",
        "mode": "live",
        "mode_int": "2",
        "thrivecart_account": "demoacct",
        "thrivecart_secret": SECRET,
        "affiliate": {"id": "991", "email": "partner@example.com"},
        "commission": "1500",
        "order_id": "23370556",
        "date_unix": "1699487400"
    });
    let n = both(&commission);
    assert_eq!(n.kind, EventKind::Unknown);
    assert_eq!(n.source_event, "affiliate.commission_earned");
    assert_eq!(
        n.attributes["affiliate"]["email"],
        json!("partner@example.com")
    );
    assert_eq!(n.attributes["commission"], json!("1500"));
    assert_eq!(n.occurred_at, Some(datetime!(2023-11-08 23:50:00 UTC)));
    assert!(
        n.idempotency_key
            .starts_with("affiliate.commission_earned:")
    );
    // The same delivery under a rotated secret word keeps its key.
    let rotated = with(commission.clone(), &[(SECRET_FIELD, json!("NEWSECRET2"))]);
    let p = parse_body(Some(JSON), rotated.to_string().as_bytes()).unwrap();
    assert_eq!(
        normalize_payload(&p).unwrap().idempotency_key,
        n.idempotency_key
    );
    let other = with(commission, &[("commission", json!("1600"))]);
    assert_ne!(both(&other).idempotency_key, n.idempotency_key);
}

#[test]
fn malformed_deliveries_are_parse_errors() {
    let no_event = with(order_success(), &[("event", Value::Null)]);
    assert!(matches!(
        ingest(&no_event.to_string(), JSON),
        Err(ParseError::Missing { field: "event" })
    ));
    assert!(matches!(
        ingest(&php_form(&no_event), FORM),
        Err(ParseError::Missing { field: "event" })
    ));
    let null_event = with(order_success(), &[("event", json!("null"))]);
    assert!(matches!(
        ingest(&null_event.to_string(), JSON),
        Err(ParseError::Missing { .. })
    ));
    let mut no_order = with(order_success(), &[("order_id", Value::Null)]);
    no_order["order"].as_object_mut().unwrap().remove("id");
    assert!(matches!(
        ingest(&no_order.to_string(), JSON),
        Err(ParseError::Missing { field: "order_id" })
    ));
    // `order.id` alone is enough.
    let order_only = with(order_success(), &[("order_id", Value::Null)]);
    assert_eq!(
        ingest(&order_only.to_string(), JSON)
            .unwrap()
            .idempotency_key,
        "order.success:23370556"
    );
    // Authentic (the secret matches) but not an object: a parse error after verification.
    let form_then_junk = format!("thrivecart_secret={SECRET}&%ZZ=%%");
    assert!(ingest(&form_then_junk, FORM).is_err());
}

#[test]
fn amounts_in_minor_units() {
    let m = json!({"a": "4900", "b": "49.5", "c": "null", "c_str": "12.34", "d": 700, "e": "x"});
    let m = m.as_object().unwrap();
    assert_eq!(minor(m, "a", "USD"), Some(4900));
    assert_eq!(minor(m, "b", "USD"), Some(4950));
    assert_eq!(minor(m, "c", "USD"), Some(1234));
    assert_eq!(minor(m, "d", "USD"), Some(700));
    assert_eq!(minor(m, "e", "USD"), None);
    assert_eq!(minor(m, "zz", "USD"), None);
    assert_eq!(
        decode_entities("Tom &amp; Jerry &lt;3 &#039;s&quot;"),
        "Tom & Jerry <3 's\""
    );
    assert_eq!(decode_entities("&amp;lt;"), "&lt;");
    // No currency anywhere: amounts are not guessed.
    let mut v = with(order_success(), &[("currency", Value::Null)]);
    assert!(v["order"].get("currency").is_none());
    v["customer"]["email"] = json!("x@example.com");
    let n = ingest(&v.to_string(), JSON).unwrap();
    assert_eq!(n.order.unwrap().total, None);
}

// --- properties ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes are refused by verification (they carry no secret word) and never panic;
    /// with a valid secret appended they normalise or fail as a `ParseError`.
    #[test]
    fn arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..1024), ct in 0usize..3) {
        let content_type = [JSON, FORM, "text/plain"][ct];
        let mut h = http::HeaderMap::new();
        h.insert("content-type", content_type.parse().unwrap());
        let d = Delivery::new(Token::parse("demo").unwrap(), h.clone(), None, body.clone().into());
        prop_assert!(Thrivecart.verify(d, &secrets()).is_err());
        let mut signed = body;
        signed.extend_from_slice(format!("&thrivecart_secret={SECRET}").as_bytes());
        let d = Delivery::new(Token::parse("demo").unwrap(), h, None, signed.into());
        if let Ok(v) = Thrivecart.verify(d, &secrets()) {
            prop_assert!(!v.body.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
            let _ = Thrivecart.normalize(&v, &ctx());
        }
    }

    /// Arbitrary PHP-nested keys (brackets literal or encoded) next to a real event.
    #[test]
    fn arbitrary_nested_keys(
        keys in proptest::collection::vec("[a-z_0-9\\[\\]%5BD-]{0,24}", 0..24),
        event in 0usize..11,
    ) {
        let names = ["order.success", "order.refund", "order.subscription_payment",
            "order.rebill_failed", "order.subscription_cancelled", "order.subscription_paused",
            "order.subscription_resumed", "cart.abandoned", "affiliate.commission_payout", "", "null"];
        let mut body = keys.iter().enumerate().map(|(i, k)| format!("{k}={i}")).collect::<Vec<_>>();
        body.push(format!("event={}", names[event]));
        body.push(format!("thrivecart_secret={SECRET}"));
        let body = body.join("&");
        let _ = ingest(&body, FORM);
        let _ = ingest(&format!("{}&{body}", php_form(&subscription_payment())), FORM);
    }

    /// Arbitrary JSON values (any shape, at any key) beside a valid secret never panic.
    #[test]
    fn arbitrary_json_fields(key in "[a-z_\\.]{1,12}", n in any::<i64>(), s in "\\PC{0,12}", shape in 0usize..5) {
        let value = match shape {
            0 => json!(n),
            1 => json!(s),
            2 => json!([s, n]),
            3 => json!({"x": {"y": s}}),
            _ => Value::Null,
        };
        for base in [order_success(), order_refund(), subscription_payment(), cart_abandoned()] {
            let v = with(base, &[(key.as_str(), value.clone())]);
            if let Ok(d) = verify(&v.to_string(), JSON) {
                let _ = Thrivecart.normalize(&d, &ctx());
            }
        }
    }

    /// Redacting a form body keeps every other pair byte for byte.
    #[test]
    fn form_redaction_keeps_other_pairs(pairs in proptest::collection::vec(("[a-z%\\[\\]]{1,8}", "[ -~]{0,8}"), 0..8)) {
        let mut body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", php_encode(v))).collect();
        let others = body.clone();
        body.insert(body.len() / 2, format!("thrivecart_secret={SECRET}"));
        let redacted = redact(body.join("&").as_bytes(), false);
        let text = String::from_utf8(redacted.to_vec()).unwrap();
        let kept: Vec<&str> = text.split('&').filter(|s| !s.starts_with("thrivecart_secret=")).collect();
        prop_assert_eq!(kept, others.iter().map(String::as_str).filter(|s| !s.starts_with("thrivecart_secret=")).collect::<Vec<_>>());
        prop_assert!(!text.contains(SECRET));
    }
}
