//! Storefront deliveries, as each storefront sends them, turned into `StorefrontEvent`s by the
//! real ingest normalisers exactly as the ingest server does (verify, normalise, derive the
//! event id, fill in the envelope). Payload shapes follow the ingest crates' own fixtures
//! (reference/storefronts/*.md); values are fake.

use relay_contracts::event::{RawRef, StorefrontEvent};
use relay_contracts::version::V1;
use relay_contracts::{EventId, EventKind, Token};
use relay_ingest::{ConnectionContext, Delivery, Storefront};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

/// When every fixture is received (after all the storefronts' own dates).
pub(crate) const RECEIVED: OffsetDateTime = datetime!(2026-11-20 10:00:00 UTC);

pub(crate) const SECRET: &str = "fixture-secret-0123456789";

/// A named fixture event and the kind it must normalise to.
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) kind: EventKind,
    pub(crate) event: StorefrontEvent,
}

/// Verifies and normalises one delivery as `ingest-<source>` does, then wraps it in the
/// event envelope the server publishes.
fn ingest<S: Storefront>(
    storefront: S,
    headers: &[(&str, String)],
    query: Option<String>,
    body: Vec<u8>,
    timezone: Option<&str>,
) -> StorefrontEvent {
    let mut h = http::HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let connection = Token::parse("demo").unwrap();
    let mut d = Delivery::new(connection.clone(), h, query, body.into());
    d.received_at = RECEIVED;
    let verified = storefront
        .verify(d, &[SecretString::from(SECRET.to_owned())])
        .unwrap_or_else(|e| panic!("{} fixture does not verify: {e}", S::SOURCE));
    let n = storefront
        .normalize(
            &verified,
            &ConnectionContext {
                name: connection.clone(),
                timezone: timezone.map(str::to_owned),
            },
        )
        .unwrap_or_else(|e| panic!("{} fixture does not normalise: {e}", S::SOURCE));
    StorefrontEvent {
        v: V1,
        id: EventId::derive(&[S::SOURCE.as_str(), connection.as_str(), &n.idempotency_key]),
        source: S::SOURCE,
        connection,
        kind: n.kind,
        occurred_at: n.occurred_at.unwrap_or(RECEIVED),
        received_at: RECEIVED,
        idempotency_key: n.idempotency_key,
        test: n.test,
        source_event: n.source_event,
        customer: n.customer,
        order: n.order,
        subscription: n.subscription,
        message: n.message,
        attributes: n.attributes,
        raw: Some(RawRef {
            stream: "RAW".into(),
            seq: 1,
        }),
    }
}

fn case(name: &'static str, kind: EventKind, event: StorefrontEvent) -> Case {
    assert_eq!(
        event.kind, kind,
        "fixture {name} normalises to {}",
        event.kind
    );
    Case { name, kind, event }
}

fn with(mut v: Value, changes: &[(&str, Value)]) -> Value {
    let obj = v.as_object_mut().unwrap();
    for (k, x) in changes {
        if x.is_null() {
            obj.remove(*k);
        } else {
            obj.insert((*k).to_owned(), x.clone());
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Buy Me a Coffee: signed JSON envelopes.

fn bmc(kind: &str, event_id: u64, live: bool, data: Value) -> StorefrontEvent {
    let body = json!({
        "type": kind, "live_mode": live, "attempt": 1, "created": 1_763_900_000 + event_id,
        "event_id": event_id, "data": data,
    })
    .to_string();
    let sig = relay_ingest_bmc::sign(SECRET, body.as_bytes());
    ingest(
        relay_ingest_bmc::Bmc,
        &[
            ("content-type", "application/json".into()),
            (relay_ingest_bmc::SIGNATURE_HEADER, sig),
        ],
        None,
        body.into_bytes(),
        None,
    )
}

fn bmc_payment() -> Value {
    json!({
        "id": 58, "amount": 5, "object": "payment", "status": "succeeded", "message": null,
        "currency": "USD", "refunded": "false", "created_at": 1_763_900_000,
        "note_hidden": "false", "support_note": "Thanks for the coffee app!",
        "support_type": "Supporter", "supporter_name": "Ada Lovelace",
        "supporter_name_type": "default", "supporter_id": 2345,
        "supporter_email": "Ada@Example.com", "transaction_id": "pi_123",
        "application_fee": "0.25", "total_amount_charged": "5.29",
        "coffee_count": 1, "coffee_price": 5
    })
}

fn bmc_membership() -> Value {
    json!({
        "id": 9, "amount": 3, "object": "membership", "status": "active", "paused": "false",
        "canceled": "false", "currency": "EUR", "psp_id": "sub_1Example",
        "duration_type": "month", "started_at": 1_763_900_000, "canceled_at": null,
        "current_period_start": 1_763_900_000, "current_period_end": 1_766_492_000,
        "note_hidden": false, "support_note": "Happy to support you monthly",
        "supporter_name": "Grace Hopper", "supporter_id": 77,
        "supporter_email": "grace@example.com", "cancel_at_period_end": "false",
        "membership_level_id": 12, "membership_level_name": "Gold"
    })
}

pub(crate) fn bmc_cases() -> Vec<Case> {
    vec![
        case(
            "donation_created",
            EventKind::OrderPaid,
            bmc("donation.created", 991, true, bmc_payment()),
        ),
        case(
            "donation_created_without_note",
            EventKind::OrderPaid,
            bmc(
                "donation.created",
                992,
                true,
                with(bmc_payment(), &[("support_note", Value::Null)]),
            ),
        ),
        case(
            "donation_refunded",
            EventKind::OrderRefunded,
            bmc(
                "donation.refunded",
                993,
                true,
                with(
                    bmc_payment(),
                    &[
                        ("status", json!("refunded")),
                        ("refunded", json!("true")),
                        ("refunded_at", json!(1_764_000_000)),
                    ],
                ),
            ),
        ),
        case(
            "extra_purchase_created_test",
            EventKind::OrderPaid,
            bmc(
                "extra_purchase.created",
                994,
                false,
                with(
                    bmc_payment(),
                    &[
                        ("support_note", Value::Null),
                        (
                            "extras",
                            json!([{"id": 401, "title": "Sticker pack", "amount": "4.00",
                                "quantity": 2, "object": "extra", "currency": "USD"}]),
                        ),
                    ],
                ),
            ),
        ),
        case(
            "commission_order_created",
            EventKind::OrderPaid,
            bmc(
                "commission_order.created",
                995,
                true,
                with(
                    bmc_payment(),
                    &[
                        ("amount", json!(120)),
                        ("support_note", Value::Null),
                        ("commission", json!({"id": 5, "name": "Portrait sketch"})),
                    ],
                ),
            ),
        ),
        case(
            "membership_started",
            EventKind::SubscriptionStarted,
            bmc("membership.started", 1001, true, bmc_membership()),
        ),
        case(
            "membership_updated_payment",
            EventKind::SubscriptionRenewed,
            bmc(
                "membership.updated",
                1002,
                true,
                with(
                    bmc_membership(),
                    &[
                        ("current_period_start", json!(1_766_492_000)),
                        ("current_period_end", json!(1_769_170_400)),
                    ],
                ),
            ),
        ),
        case(
            "recurring_donation_started_yearly",
            EventKind::SubscriptionStarted,
            bmc(
                "recurring_donation.started",
                1003,
                true,
                with(
                    bmc_membership(),
                    &[
                        ("duration_type", json!("year")),
                        ("membership_level_name", Value::Null),
                        ("membership_level_id", Value::Null),
                        ("support_note", Value::Null),
                        ("current_period_end", json!(1_795_436_000)),
                    ],
                ),
            ),
        ),
        case(
            "membership_cancelled",
            EventKind::SubscriptionCancelled,
            bmc(
                "membership.cancelled",
                1004,
                true,
                with(
                    bmc_membership(),
                    &[
                        ("status", json!("canceled")),
                        ("canceled", json!("true")),
                        ("canceled_at", json!(1_767_000_000)),
                        ("supporter_feedback", json!("Money is tight this year")),
                    ],
                ),
            ),
        ),
        case(
            "membership_paused",
            EventKind::SubscriptionPaused,
            bmc(
                "membership.paused",
                1005,
                true,
                with(bmc_membership(), &[("paused", json!("true"))]),
            ),
        ),
        case(
            "unknown_type",
            EventKind::Unknown,
            bmc(
                "shop.new_thing",
                1006,
                true,
                json!({"supporter_email": "x@example.com"}),
            ),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Gumroad: form bodies as HTTParty sends them, authenticated by the URL token.

/// `ERB::Util.url_encode` on keys and values.
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

fn gumroad(pairs: &[(&str, &str)]) -> StorefrontEvent {
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    ingest(
        relay_ingest_gumroad::Gumroad,
        &[(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )],
        Some(format!("token={SECRET}")),
        body.into_bytes(),
        None,
    )
}

fn pairs_with(
    mut pairs: Vec<(&'static str, &'static str)>,
    changes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    for (k, v) in changes {
        match pairs.iter_mut().find(|(key, _)| key == k) {
            Some(p) => p.1 = v,
            None => pairs.push((k, v)),
        }
    }
    pairs
}

fn gumroad_sale() -> Vec<(&'static str, &'static str)> {
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
        ("order_number", "524459935"),
        ("sale_id", "FgzLQk5VbkrMKp0Rr5q1DQ=="),
        ("sale_timestamp", "2026-03-14T09:26:53.512Z"),
        ("full_name", "Ada King Lovelace"),
        ("purchaser_id", "7891234567890"),
        ("url_params[utm_source]", "newsletter"),
        ("variants[Tier]", "Pro"),
        ("offer_code", "SPRING25"),
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

fn gumroad_membership_sale() -> Vec<(&'static str, &'static str)> {
    pairs_with(
        gumroad_sale(),
        &[
            ("product_id", "TWVtYmVyc2hpcDEyMzQ1Ng=="),
            ("product_name", "Rust Club"),
            ("price", "900"),
            ("currency", "usd"),
            ("sale_id", "UmVjdXJyaW5nU2FsZTAwMQ=="),
            ("subscription_id", "U3Vic2NyaXB0aW9uMTIz"),
            ("recurrence", "monthly"),
        ],
    )
}

fn gumroad_subscription(
    resource: &'static str,
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    pairs_with(
        vec![
            ("subscription_id", "U3Vic2NyaXB0aW9uMTIz"),
            ("product_id", "TWVtYmVyc2hpcDEyMzQ1Ng=="),
            ("product_name", "Rust Club"),
            ("user_id", "7891234567890"),
            ("user_email", "Ada.Lovelace@Example.com"),
            ("purchase_ids[]", "UHVyY2hhc2Ux"),
            ("created_at", "2026-01-14T09:26:53.512Z"),
            ("charge_occurrence_count", ""),
            ("recurrence", "monthly"),
            ("free_trial_ends_at", ""),
            ("resource_name", resource),
        ],
        extra,
    )
}

pub(crate) fn gumroad_cases() -> Vec<Case> {
    vec![
        case("sale", EventKind::OrderPaid, gumroad(&gumroad_sale())),
        case(
            "sale_starting_a_membership",
            EventKind::OrderPaid,
            gumroad(&gumroad_membership_sale()),
        ),
        case(
            "recurring_charge",
            EventKind::SubscriptionRenewed,
            gumroad(&pairs_with(
                gumroad_membership_sale(),
                &[
                    ("sale_id", "UmVjdXJyaW5nU2FsZTAwMg=="),
                    ("sale_timestamp", "2026-04-14T09:26:53.512Z"),
                    ("is_recurring_charge", "true"),
                ],
            )),
        ),
        case(
            "refund",
            EventKind::OrderRefunded,
            gumroad(&pairs_with(
                gumroad_sale(),
                &[("resource_name", "refund"), ("refunded", "true")],
            )),
        ),
        case(
            "dispute",
            EventKind::OrderDisputed,
            gumroad(&pairs_with(
                gumroad_sale(),
                &[("resource_name", "dispute"), ("disputed", "true")],
            )),
        ),
        case(
            "dispute_won",
            EventKind::OrderDisputeWon,
            gumroad(&pairs_with(
                gumroad_sale(),
                &[("resource_name", "dispute_won"), ("dispute_won", "true")],
            )),
        ),
        case(
            "cancellation",
            EventKind::SubscriptionCancelled,
            gumroad(&gumroad_subscription(
                "cancellation",
                &[
                    ("cancelled", "true"),
                    ("cancelled_at", "2026-04-14T09:26:53.512Z"),
                    ("cancelled_by_buyer", "true"),
                ],
            )),
        ),
        case(
            "subscription_updated",
            EventKind::SubscriptionUpdated,
            gumroad(&gumroad_subscription(
                "subscription_updated",
                &[
                    ("type", "upgrade"),
                    ("effective_as_of", "2026-02-14T09:26:53.512Z"),
                    ("old_plan[tier][name]", "Basic"),
                    ("old_plan[price_cents]", "900"),
                    ("new_plan[tier][name]", "Pro"),
                    ("new_plan[price_cents]", "1900"),
                    ("new_plan[recurrence]", "monthly"),
                ],
            )),
        ),
        case(
            "subscription_ended",
            EventKind::SubscriptionEnded,
            gumroad(&gumroad_subscription(
                "subscription_ended",
                &[
                    ("ended_at", "2026-05-14T09:26:53.512Z"),
                    ("ended_reason", "cancelled"),
                ],
            )),
        ),
        case(
            "subscription_restarted",
            EventKind::SubscriptionResumed,
            gumroad(&gumroad_subscription(
                "subscription_restarted",
                &[("restarted_at", "2026-06-14T09:26:53.512Z")],
            )),
        ),
        case(
            "test_ping",
            EventKind::Ping,
            gumroad(&pairs_with(
                gumroad_sale()
                    .into_iter()
                    .filter(|(k, _)| *k != "resource_name")
                    .collect(),
                &[("test", "true")],
            )),
        ),
        case(
            "unknown_resource",
            EventKind::Unknown,
            gumroad(&pairs_with(
                gumroad_sale(),
                &[("resource_name", "gift_card_redeemed")],
            )),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// ThriveCart: JSON bodies (the webhook's JSON option), with the account's secret word.

fn thrivecart(mut v: Value) -> StorefrontEvent {
    v.as_object_mut()
        .unwrap()
        .insert("thrivecart_secret".into(), json!(SECRET));
    ingest(
        relay_ingest_thrivecart::Thrivecart,
        &[("content-type", "application/json".to_owned())],
        None,
        v.to_string().into_bytes(),
        None,
    )
}

fn thrivecart_order_success() -> Value {
    json!({
        "event": "order.success", "mode": "live", "mode_int": "2",
        "thrivecart_account": "demoacct",
        "base_product": "12", "base_product_name": "Mobile & Universal App Pro",
        "base_product_label": "", "base_product_owner": "110359",
        "order_id": "23370556", "invoice_id": "000001382",
        "subscription_ids": {"product-12": "3498819"},
        "order_date": "2026-03-08 23:48:20", "order_timestamp": "1773013700",
        "currency": "USD", "customer_id": "429583657727489355", "customer_identifier": "null",
        "customer": {
            "id": "429583657727489355", "origin": "vanity", "name": "Grace Hopper",
            "email": "Grace.Hopper@Example.com", "business_name": "Hopper &amp; Co",
            "contactno": "+15555550123", "ip_address": "203.0.113.7",
            "address": {"country": "id", "city": "Jakarta", "line1": "Jl. Sudirman 1", "zip": "10220"},
            "first_name": "Grace", "last_name": "Hopper", "checkbox_confirmation": "false"
        },
        "affiliate": "null",
        "order": {
            "id": "23370556", "invoice_id": "000001382", "processor": "stripe_v2",
            "total": "504700", "total_str": "5047.00", "coupon": "LAUNCH10",
            "date": "2026-03-08 23:48:20", "date_iso8601": "2026-03-08T23:48:20+00:00",
            "date_unix": "1773013700", "tracking_id": "null", "tax": "null",
            "payment_method": "card",
            "charges": [
                {"name": "Mobile &amp; Universal App Pro", "label": "", "reference": "12",
                 "item_type": "product", "amount": "499700", "amount_str": "4997.00",
                 "type": "single", "quantity": "1", "payment_plan_id": "83322",
                 "payment_plan_name": "Yearly Subscription ($4997.00)"},
                {"name": "Priority support", "label": "", "reference": "3", "item_type": "bump",
                 "amount": "5000", "amount_str": "50.00", "type": "single", "quantity": "2"}
            ]
        },
        "transactions": {"product-12": "ch_3Example0000001", "bump-3": "ch_3Example0000002"},
        "subscriptions": {"product-12": "sub_1Example0000001"},
        "purchases": ["Mobile &amp; Universal App Pro", "Priority support"],
        "purchase_map": ["product-12", "bump-3"],
        "purchase_map_flat": "product-12,bump-3",
        "fulfillment": {"url": "https://shop.example.com/confirm/abc123/"}
    })
}

fn thrivecart_subscription_change(event: &str, date_unix: &str) -> Value {
    json!({
        "event": event, "mode": "live", "mode_int": "2", "thrivecart_account": "demoacct",
        "base_product": "10", "base_product_name": "Test subscription product",
        "order_id": "4455667", "invoice_id": "000000777", "subscription_id": "5440999",
        "currency": "USD", "customer_id": "16099260",
        "customer": {"id": "16099260", "email": "leaver@example.com", "first_name": "Lee",
                     "last_name": "Ver", "name": "Lee Ver"},
        "date": "2026-07-11 20:09:51", "date_iso8601": "2026-07-11T20:09:51+00:00",
        "date_unix": date_unix,
        "order": {"id": "4455667", "total": "100", "total_str": "1.00", "date_unix": "1783800591"},
        "subscription": {
            "type": "product", "id": "10", "product_id": "10", "name": "Test subscription product",
            "label": "Test subscription product", "frequency": "month", "frequency_days": "30",
            "remaining_rebills": "null", "billing_period_end": "1786478991",
            "billing_period_end_iso8601": "2026-08-11T20:09:51+00:00"
        }
    })
}

pub(crate) fn thrivecart_cases() -> Vec<Case> {
    vec![
        case(
            "order_success",
            EventKind::OrderPaid,
            thrivecart(thrivecart_order_success()),
        ),
        case(
            "order_success_one_off_test_mode",
            EventKind::OrderPaid,
            thrivecart(with(
                thrivecart_order_success(),
                &[
                    ("mode", json!("test")),
                    ("mode_int", json!("1")),
                    ("order_id", json!("23370557")),
                    ("subscription_ids", Value::Null),
                    ("subscriptions", Value::Null),
                ],
            )),
        ),
        case(
            "order_refund",
            EventKind::OrderRefunded,
            thrivecart(json!({
                "event": "order.refund", "mode": "live", "mode_int": "2",
                "thrivecart_account": "demoacct",
                "date": "2026-10-24 17:57:27", "date_iso8601": "2026-10-24T17:57:27+00:00",
                "date_unix": "1792864647", "base_product": "7",
                "base_product_name": "Funnel Analyzer Basic", "base_payment_plan": "10521",
                "order_id": "38033257", "invoice_id": "000000005", "subscription_id": "5440433",
                "currency": "USD", "customer_id": "429583657898226838",
                "customer": {"id": "429583657898226838", "email": "refund.me@example.com",
                             "address": {"country": "PR"}, "name": " ", "first_name": "", "last_name": ""},
                "order": {"id": "38033257", "total": "5900", "total_str": "59.00",
                          "date_unix": "1792863085", "payment_method": "card"},
                "refund": {"type": "product", "id": "7", "product_id": "7",
                           "name": "Funnel Analyzer Basic", "currency": "USD", "amount": "5900",
                           "amount_str": "59.00"},
                "event_id": "1325564304", "pro-rata": "false"
            })),
        ),
        case(
            "subscription_payment",
            EventKind::SubscriptionRenewed,
            thrivecart(json!({
                "event": "order.subscription_payment", "mode": "live", "mode_int": "2",
                "thrivecart_account": "demoacct", "base_product": "17",
                "base_product_name": "$69/Month Club", "currency": "USD",
                "recurring_payment_idx": "6", "customer_id": "16099259",
                "customer": {"id": "16099259", "email": "member@example.com",
                             "contactno": "5555550199", "address": {"country": "US"},
                             "first_name": "Mary", "last_name": "Member", "name": "Mary Member"},
                "date": "2026-07-24 05:17:34", "date_iso8601": "2026-07-24T05:17:34+00:00",
                "date_unix": "1784870254",
                "order": {"id": "3230022", "invoice_id": "000000141", "total": "6900",
                          "total_str": "69.00", "date_unix": "1769228151"},
                "order_id": "3230022", "invoice_id": "000000141-6",
                "subscription": {
                    "type": "product", "id": "17", "product_id": "17", "name": "$69/Month Club",
                    "currency": "USD", "amount": "6900", "amount_str": "69.00",
                    "frequency": "month", "frequency_days": "30", "remaining_rebills": "null",
                    "invoice_str": "000000141-6", "recurring_payment_idx": "6",
                    "next_payment_date": "1787548653",
                    "next_payment_date_iso8601": "2026-08-24T05:17:33+00:00"
                }
            })),
        ),
        case(
            "rebill_failed",
            EventKind::SubscriptionPaymentFailed,
            thrivecart(thrivecart_subscription_change(
                "order.rebill_failed",
                "1783800591",
            )),
        ),
        case(
            "subscription_cancelled",
            EventKind::SubscriptionCancelled,
            thrivecart(thrivecart_subscription_change(
                "order.subscription_cancelled",
                "1783800592",
            )),
        ),
        case(
            "subscription_paused",
            EventKind::SubscriptionPaused,
            thrivecart(thrivecart_subscription_change(
                "order.subscription_paused",
                "1783800593",
            )),
        ),
        case(
            "subscription_resumed",
            EventKind::SubscriptionResumed,
            thrivecart(thrivecart_subscription_change(
                "order.subscription_resumed",
                "1783800594",
            )),
        ),
        case(
            "rebills_completed",
            EventKind::SubscriptionEnded,
            thrivecart(thrivecart_subscription_change(
                "order_rebill_completed",
                "1783800595",
            )),
        ),
        case(
            "cart_abandoned",
            EventKind::CartAbandoned,
            thrivecart(json!({
                "event": "cart.abandoned", "mode": "test", "mode_int": "1",
                "thrivecart_account": "demoacct", "base_product": "12",
                "base_product_name": "Mobile &amp; Universal App Pro", "currency": "USD",
                "customer": {"email": "Maybe.Later@Example.com", "name": "Maybe Later",
                             "first_name": "Maybe", "last_name": "Later"},
                "date": "2026-03-09 10:00:00", "date_iso8601": "2026-03-09T10:00:00+00:00",
                "date_unix": "1773050400"
            })),
        ),
        case(
            "affiliate_commission",
            EventKind::Unknown,
            thrivecart(json!({
                "event": "affiliate.commission_earned", "mode": "live",
                "affiliate": {"email": "partner@example.com"}, "commission": "1500",
                "order_id": "23370556"
            })),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Digistore24: flat form bodies signed with the IPN passphrase.

fn digistore24(params: &[(&str, &str)]) -> StorefrontEvent {
    let body = relay_ingest_digistore24::signed_body(
        params,
        SECRET,
        relay_ingest_digistore24::KeyCase::Original,
    );
    ingest(
        relay_ingest_digistore24::Digistore24,
        &[(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )],
        None,
        body.into_bytes(),
        Some("Europe/Berlin"),
    )
}

fn d24_payment() -> Vec<(&'static str, &'static str)> {
    vec![
        ("event", "on_payment"),
        ("api_mode", "live"),
        ("pay_method", "creditcard"),
        ("order_id", "A1B2C3D4"),
        ("order_item_id", "33299237"),
        ("transaction_id", "3999938"),
        ("transaction_date", "2026-08-18"),
        ("transaction_time", "08:41:48"),
        ("transaction_type", "payment"),
        ("billing_type", "single_payment"),
        ("billing_status", "completed"),
        ("pay_sequence_no", "0"),
        ("amount", "49.00"),
        ("currency", "EUR"),
        ("product_id", "512345"),
        ("product_name", "Basic (monthly)"),
        ("quantity", "1"),
        ("buyer_id", "333222"),
        ("email", "kaeufer@example.de"),
        ("buyer_email", "kaeufer@example.de"),
        ("buyer_first_name", "Karl"),
        ("buyer_last_name", "Käufer"),
        ("address_company", "Käufer GmbH"),
        ("address_street", "Hauptstraße 12a"),
        ("address_city", "Zürich"),
        ("address_zipcode", "8001"),
        ("address_country", "CH"),
        ("address_phone_no", "+41 44 000 00 00"),
        ("voucher_code", ""),
        (
            "renew_url",
            "https://www.checkout-ds24.com/renew/A1B2C3D4/5T6U7V8W",
        ),
    ]
}

pub(crate) fn digistore24_cases() -> Vec<Case> {
    let p = d24_payment;
    vec![
        case("on_payment", EventKind::OrderPaid, digistore24(&p())),
        case(
            "on_payment_test",
            EventKind::OrderPaid,
            digistore24(&pairs_with(
                p(),
                &[
                    ("api_mode", "test"),
                    ("pay_method", "test"),
                    ("transaction_id", "3999939"),
                ],
            )),
        ),
        case(
            "on_payment_subscription_first",
            EventKind::SubscriptionStarted,
            digistore24(&pairs_with(
                p(),
                &[
                    ("billing_type", "subscription"),
                    ("billing_status", "paying"),
                    ("pay_sequence_no", "1"),
                    ("other_billing_intervals", "1_month"),
                    ("next_payment_at", "2026-09-18"),
                ],
            )),
        ),
        case(
            "on_payment_rebill",
            EventKind::SubscriptionRenewed,
            digistore24(&pairs_with(
                p(),
                &[
                    ("billing_type", "subscription"),
                    ("billing_status", "paying"),
                    ("pay_sequence_no", "2"),
                    ("transaction_id", "4000100"),
                    ("transaction_date", "2026-09-18"),
                    ("transaction_time", "03:00:12"),
                    ("next_payment_at", "2026-10-18"),
                ],
            )),
        ),
        case(
            "on_refund",
            EventKind::OrderRefunded,
            digistore24(&pairs_with(
                p(),
                &[
                    ("event", "on_refund"),
                    ("transaction_id", "4000200"),
                    ("transaction_type", "refund"),
                    ("amount", "-49.00"),
                ],
            )),
        ),
        case(
            "on_chargeback",
            EventKind::OrderDisputed,
            digistore24(&pairs_with(
                p(),
                &[
                    ("event", "on_chargeback"),
                    ("transaction_id", "4000300"),
                    ("transaction_type", "chargeback"),
                    ("amount", "-49.00"),
                ],
            )),
        ),
        case(
            "on_payment_missed",
            EventKind::SubscriptionPaymentFailed,
            digistore24(&[
                ("event", "on_payment_missed"),
                ("order_id", "B2C3D4E5"),
                ("order_item_id", "44300001"),
                ("pay_sequence_no", "3"),
                ("billing_type", "subscription"),
                ("billing_status", "reminding"),
                ("product_id", "512345"),
                ("product_name", "Basic (monthly)"),
                ("buyer_id", "333223"),
                ("email", "saeumig@example.de"),
                ("buyer_first_name", "Sara"),
                ("buyer_last_name", "Säumig"),
                (
                    "renew_url",
                    "https://www.checkout-ds24.com/renew/B2C3D4E5/6U7V8W9X",
                ),
            ]),
        ),
        case(
            "payment_denial",
            EventKind::SubscriptionPaymentFailed,
            digistore24(&pairs_with(
                p(),
                &[
                    ("event", "payment_denial"),
                    ("billing_type", "subscription"),
                    ("billing_status", "aborted"),
                    ("transaction_id", "4000400"),
                    ("pay_sequence_no", "4"),
                ],
            )),
        ),
        case(
            "on_rebill_cancelled",
            EventKind::SubscriptionCancelled,
            digistore24(&[
                ("event", "on_rebill_cancelled"),
                ("order_id", "A1B2C3D4"),
                ("billing_type", "subscription"),
                ("billing_status", "aborted"),
                ("rebill_stop_noted_at", "2026-09-01 12:00:00"),
                ("product_id", "512345"),
                ("product_name", "Basic (monthly)"),
                ("buyer_id", "333222"),
                ("email", "kaeufer@example.de"),
            ]),
        ),
        case(
            "on_rebill_resumed",
            EventKind::SubscriptionResumed,
            digistore24(&[
                ("event", "on_rebill_resumed"),
                ("order_id", "A1B2C3D4"),
                ("billing_type", "subscription"),
                ("billing_status", "paying"),
                ("product_id", "512345"),
                ("product_name", "Basic (monthly)"),
                ("buyer_id", "333222"),
                ("email", "kaeufer@example.de"),
            ]),
        ),
        case(
            "last_paid_day",
            EventKind::SubscriptionEnded,
            digistore24(&[
                ("event", "last_paid_day"),
                ("order_id", "A1B2C3D4"),
                ("billing_type", "subscription"),
                ("billing_status", "completed"),
                ("product_id", "512345"),
                ("product_name", "Basic (monthly)"),
                ("buyer_id", "333222"),
                ("email", "kaeufer@example.de"),
            ]),
        ),
        case(
            "connection_test",
            EventKind::Ping,
            digistore24(&[("event", "connection_test")]),
        ),
        case(
            "on_affiliation",
            EventKind::Unknown,
            digistore24(&[
                ("event", "on_affiliation"),
                ("affiliate_name", "partner1"),
                ("email", "partner@example.de"),
            ]),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Shift4Shop: JSON bodies to `?token=...&event=...`, store-local times in Europe/Berlin.

fn shift4shop(event: Option<&str>, body: &str) -> StorefrontEvent {
    let query = match event {
        Some(e) => format!("token={SECRET}&event={e}"),
        None => format!("token={SECRET}"),
    };
    ingest(
        relay_ingest_shift4shop::Shift4shop,
        &[("content-type", "application/json".to_owned())],
        Some(query),
        body.as_bytes().to_vec(),
        Some("Europe/Berlin"),
    )
}

fn s4s_order(status: u32, last_update: &str) -> String {
    json!([{
        "InvoiceNumberPrefix": "AB-", "InvoiceNumber": 1042, "OrderID": 1042, "CustomerID": 311,
        "OrderDate": "2026-03-14T09:26:53", "OrderStatusID": status, "LastUpdate": last_update,
        "BillingFirstName": "Grace", "BillingLastName": "Hopper", "BillingCompany": "Navy Labs",
        "BillingAddress": "1 Harbor Rd", "BillingAddress2": "Suite 5", "BillingCity": "Arlington",
        "BillingState": "VA", "BillingZipCode": "22201", "BillingCountry": "US",
        "BillingPhoneNumber": "555-0100", "BillingEmail": "Grace.Hopper@Example.com",
        "BillingPaymentMethod": "Credit Card", "BillingPaymentMethodID": "1",
        "ShipmentList": [{"ShipmentID": 1, "ShipmentPhone": "555-0100", "ShipmentCost": 5,
                          "ShipmentTrackingCode": if status == 4 { "1Z999AA10123456784" } else { "" }}],
        "OrderItemList": [
            {"CatalogID": 77, "ItemID": "MUG-01", "ItemDescription": "Debugging mug",
             "ItemQuantity": 2, "ItemUnitPrice": 12.5, "ItemOptionPrice": 1.25},
            {"CatalogID": 78, "ItemID": "STICKER", "ItemDescription": "Moth sticker",
             "ItemQuantity": 1, "ItemUnitPrice": 3, "ItemOptionPrice": 0}
        ],
        "OrderDiscount": 0, "SalesTax": 2.31, "OrderAmount": 37.81,
        "Referer": "https://www.google.com/", "CustomerComments": "Gift wrap please"
    }])
    .to_string()
}

pub(crate) fn shift4shop_cases() -> Vec<Case> {
    vec![
        case(
            "order_new",
            EventKind::OrderPaid,
            shift4shop(Some("order_new"), &s4s_order(1, "2026-03-14T09:27:10")),
        ),
        case(
            "order_status_shipped",
            EventKind::OrderPaid,
            shift4shop(
                Some("order_status_change"),
                &s4s_order(4, "2026-03-16T11:00:00"),
            ),
        ),
        case(
            "order_status_cancel",
            EventKind::OrderRefunded,
            shift4shop(
                Some("order_status_change"),
                &s4s_order(5, "2026-03-17T11:00:00"),
            ),
        ),
        case(
            "order_status_hold",
            EventKind::Unknown,
            shift4shop(
                Some("order_status_change"),
                &s4s_order(6, "2026-03-15T08:00:00"),
            ),
        ),
        case(
            "order_not_completed",
            EventKind::CartAbandoned,
            shift4shop(Some("order_new"), &s4s_order(7, "2026-03-14T09:27:10")),
        ),
        case(
            "customer_new",
            EventKind::CustomerCreated,
            shift4shop(
                Some("customer_new"),
                r#"[{"CustomerID": 311, "Email": "Grace.Hopper@Example.com", "Password": "",
                   "BillingCompany": "Navy Labs", "BillingFirstName": "Grace",
                   "BillingLastName": "Hopper", "BillingAddress1": "1 Harbor Rd",
                   "BillingCity": "Arlington", "BillingState": "VA", "BillingZipCode": "22201",
                   "BillingCountry": "US", "BillingPhoneNumber": "555-0100",
                   "CustomerGroupID": 2, "Enabled": true, "MailList": true,
                   "AdditionalField1": "ref:podcast", "DateCreated": "2026-03-14T09:20:00"}]"#,
            ),
        ),
        case(
            "product_changed",
            EventKind::Unknown,
            shift4shop(
                Some("product_changed"),
                r#"[{"SKUInfo": {"CatalogID": 77, "SKU": "MUG-01", "Name": "Debugging mug",
                   "Price": 12.5, "Stock": 40}, "LastUpdate": "2026-03-14T10:00:00"}]"#,
            ),
        ),
    ]
}
