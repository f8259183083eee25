//! Unit tests: verification on the wire format, every event normalised field by field, the
//! idempotency distinctions, and arbitrary input.

use proptest::prelude::*;
use relay_contracts::Token;

use super::*;
use crate::fixtures::CAPTURED_ON_PAYMENT;

const PASSPHRASE: &str = "example-ipn-passphrase";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn delivery(body: impl Into<String>) -> Delivery<Unverified> {
    let body: String = body.into();
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    Delivery::new(Token::parse("demo").unwrap(), h, None, body.into())
}

fn context(timezone: Option<&str>) -> ConnectionContext {
    ConnectionContext {
        name: Token::parse("demo").unwrap(),
        timezone: timezone.map(str::to_owned),
    }
}

/// Verifies and normalises `params` signed with [`PASSPHRASE`], in `timezone`.
fn normalized_in(params: &[(&str, &str)], timezone: Option<&str>) -> Normalized {
    let body = signed_body(params, PASSPHRASE, KeyCase::Original);
    let d = Digistore24
        .verify(delivery(body), &[secret(PASSPHRASE)])
        .unwrap();
    Digistore24.normalize(&d, &context(timezone)).unwrap()
}

fn normalized(params: &[(&str, &str)]) -> Normalized {
    normalized_in(params, None)
}

/// The captured `on_payment` with some parameters replaced (or added).
fn captured_with(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut params: Vec<(&str, &str)> = CAPTURED_ON_PAYMENT
        .iter()
        .copied()
        .filter(|(k, _)| !SIGNATURE_KEYS.contains(k))
        .collect();
    for (key, value) in changes {
        match params.iter_mut().find(|(k, _)| k == key) {
            Some(p) => p.1 = value,
            None => params.push((key, value)),
        }
    }
    params
}

fn eur(minor: i64) -> Option<Money> {
    Some(Money {
        minor,
        currency: "EUR".into(),
    })
}

fn utc(s: &str) -> Option<OffsetDateTime> {
    Some(OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Verification

#[test]
fn verifies_the_captured_payment_in_both_key_cases() {
    for case in [KeyCase::Original, KeyCase::Upper] {
        let body = signed_body(CAPTURED_ON_PAYMENT, PASSPHRASE, case);
        assert!(
            Digistore24
                .verify(delivery(body), &[secret(PASSPHRASE)])
                .is_ok(),
            "{case:?}"
        );
    }
}

#[test]
fn tampered_deliveries_are_refused() {
    let body = signed_body(CAPTURED_ON_PAYMENT, PASSPHRASE, KeyCase::Original);
    // A value changed after signing.
    let tampered = body.replace("amount=49.00", "amount=0.49");
    assert_ne!(tampered, body);
    assert!(matches!(
        Digistore24.verify(delivery(tampered), &[secret(PASSPHRASE)]),
        Err(VerifyError::Mismatch)
    ));
    // A parameter added.
    assert!(matches!(
        Digistore24.verify(
            delivery(format!("{body}&is_admin=1")),
            &[secret(PASSPHRASE)]
        ),
        Err(VerifyError::Mismatch)
    ));
    // One flipped hex digit in the signature.
    let sha_sign = sign(
        CAPTURED_ON_PAYMENT.iter().copied(),
        PASSPHRASE,
        KeyCase::Original,
    );
    let flipped = format!(
        "{}{}",
        if sha_sign.starts_with('0') { '1' } else { '0' },
        &sha_sign[1..]
    );
    let flipped_body = body.replace(&sha_sign, &flipped);
    assert!(matches!(
        Digistore24.verify(delivery(flipped_body), &[secret(PASSPHRASE)]),
        Err(VerifyError::Mismatch)
    ));
}

#[test]
fn re_encoding_matters_only_when_it_changes_the_decoded_values() {
    let params = [
        ("event", "on_payment"),
        ("buyer_first_name", "Jörg"),
        ("product_name", "Basis Monatlich"),
        ("custom", "a+b"),
    ];
    let sha_sign = sign(params, PASSPHRASE, KeyCase::Original);
    let secrets = [secret(PASSPHRASE)];
    // `%20` for `+` and lower-case escapes decode to the same parameters: still authentic.
    let same = format!(
        "event=on_payment&buyer_first_name=J%c3%b6rg&product_name=Basis%20Monatlich&custom=a%2Bb&sha_sign={sha_sign}"
    );
    assert!(Digistore24.verify(delivery(same), &secrets).is_ok());
    // Latin-1 re-encoding of `ö` (a proxy with the wrong charset).
    let latin1 = format!(
        "event=on_payment&buyer_first_name=J%F6rg&product_name=Basis+Monatlich&custom=a%2Bb&sha_sign={sha_sign}"
    );
    assert!(Digistore24.verify(delivery(latin1), &secrets).is_err());
    // Double encoding (`%2B` → `%252B`).
    let double = format!(
        "event=on_payment&buyer_first_name=J%C3%B6rg&product_name=Basis+Monatlich&custom=a%252Bb&sha_sign={sha_sign}"
    );
    assert!(Digistore24.verify(delivery(double), &secrets).is_err());
    // A literal `+` that a re-encoder failed to escape decodes to a space.
    let unescaped = format!(
        "event=on_payment&buyer_first_name=J%C3%B6rg&product_name=Basis+Monatlich&custom=a+b&sha_sign={sha_sign}"
    );
    assert!(Digistore24.verify(delivery(unescaped), &secrets).is_err());
}

#[test]
fn missing_signature_or_passphrase_rejects() {
    let unsigned = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(CAPTURED_ON_PAYMENT.iter().filter(|(k, _)| *k != "sha_sign"))
        .finish();
    assert!(matches!(
        Digistore24.verify(delivery(unsigned), &[secret(PASSPHRASE)]),
        Err(VerifyError::MissingSignature(_))
    ));
    let body = signed_body(CAPTURED_ON_PAYMENT, PASSPHRASE, KeyCase::Original);
    // No passphrase configured: never a bypass.
    assert!(matches!(
        Digistore24.verify(delivery(body.clone()), &[]),
        Err(VerifyError::Mismatch)
    ));
    assert!(Digistore24.verify(delivery(body), &[secret("")]).is_err());
    assert!(matches!(
        Digistore24.verify(
            delivery("event=on_payment&sha_sign=nothex"),
            &[secret(PASSPHRASE)]
        ),
        Err(VerifyError::MalformedSignature(_))
    ));
    assert!(matches!(
        Digistore24.verify(delivery(""), &[secret(PASSPHRASE)]),
        Err(VerifyError::MissingSignature(_))
    ));
}

#[test]
fn key_case_and_hex_case() {
    let params = [("event", "on_payment"), ("order_id", "ORD-1")];
    let secrets = [secret(PASSPHRASE)];
    // Upper-case hex, lower-case hex, and the `SHASIGN` spelling are all fine.
    let sha_sign = sign(params, PASSPHRASE, KeyCase::Original);
    for body in [
        format!("event=on_payment&order_id=ORD-1&sha_sign={sha_sign}"),
        format!(
            "event=on_payment&order_id=ORD-1&sha_sign={}",
            sha_sign.to_lowercase()
        ),
        format!("SHASIGN={sha_sign}&order_id=ORD-1&event=on_payment"),
    ] {
        assert!(Digistore24.verify(delivery(body), &secrets).is_ok());
    }
    // The signature over upper-cased keys is accepted for the same (original-case) body.
    let upper = sign(params, PASSPHRASE, KeyCase::Upper);
    assert!(
        Digistore24
            .verify(
                delivery(format!("event=on_payment&order_id=ORD-1&sha_sign={upper}")),
                &secrets
            )
            .is_ok()
    );
    // Keys whose case changed in transit do not verify against the original-case signature.
    assert!(matches!(
        Digistore24.verify(
            delivery(format!(
                "EVENT=on_payment&order_id=ORD-1&sha_sign={sha_sign}"
            )),
            &secrets
        ),
        Err(VerifyError::Mismatch)
    ));
}

#[test]
fn rotation_accepts_the_previous_passphrase_until_it_is_removed() {
    let body = signed_body(CAPTURED_ON_PAYMENT, "old-passphrase", KeyCase::Original);
    assert!(
        Digistore24
            .verify(
                delivery(body.clone()),
                &[secret("new-passphrase"), secret("old-passphrase")]
            )
            .is_ok()
    );
    assert!(matches!(
        Digistore24.verify(delivery(body), &[secret("new-passphrase")]),
        Err(VerifyError::Mismatch)
    ));
    let new = signed_body(CAPTURED_ON_PAYMENT, "new-passphrase", KeyCase::Upper);
    assert!(
        Digistore24
            .verify(
                delivery(new),
                &[secret("new-passphrase"), secret("old-passphrase")]
            )
            .is_ok()
    );
}

// ---------------------------------------------------------------------------------------------
// Answers

#[test]
fn answers_ok_as_text_to_probes_and_deliveries() {
    let head = |r: Response| {
        let ct = r
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (r.status(), ct)
    };
    let get = Digistore24.probe(&http::Method::GET).unwrap();
    assert_eq!(
        head(get),
        (
            http::StatusCode::OK,
            Some("text/plain; charset=utf-8".into())
        )
    );
    assert!(Digistore24.probe(&http::Method::HEAD).is_some());
    assert!(Digistore24.probe(&http::Method::PUT).is_none());
    let text = |r: Response| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(r.into_body(), 64))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    assert_eq!(text(Digistore24.probe(&http::Method::GET).unwrap()), "OK");
    let n = normalized(&captured_with(&[]));
    let id = EventId::derive(&["digistore24", "demo", &n.idempotency_key]);
    for duplicate in [false, true] {
        let r = Digistore24.accepted(&n, &id, duplicate);
        assert_eq!(r.status(), http::StatusCode::OK);
        assert_eq!(text(r), "OK");
    }
}

// ---------------------------------------------------------------------------------------------
// Normalisation, event by event

#[test]
fn on_payment_single_payment_field_by_field() {
    let n = normalized(&captured_with(&[]));
    assert_eq!(n.kind, EventKind::OrderPaid);
    assert_eq!(n.source_event, "on_payment");
    assert_eq!(
        n.idempotency_key,
        "on_payment/transaction_id=3999938/order_item_id=33299237"
    );
    // `api_mode=test` and `pay_method=test` in the capture.
    assert!(n.test);
    assert_eq!(n.occurred_at, utc("2026-08-18T08:41:48Z"));
    assert_eq!(
        n.customer,
        Customer {
            external_id: Some("333222".into()),
            email: Some("kaeufer@example.de".into()),
            phone: None,
            first_name: Some("Test".into()),
            last_name: Some("Kauf".into()),
            name: None,
            company: None,
            address: Some(Address {
                country: Some("CH".into()),
                ..Default::default()
            }),
        }
    );
    assert_eq!(
        n.order,
        Some(Order {
            id: "A1B2C3D4".into(),
            items: vec![Item {
                product_id: Some("512345".into()),
                product_name: Some("basic_monthly__de__dev".into()),
                quantity: 1,
                amount: eur(4900),
            }],
            total: eur(4900),
            coupon: None,
        })
    );
    assert_eq!(n.subscription, None);
    assert_eq!(n.message, None);
    // Every non-empty parameter but the signature, as sent.
    assert_eq!(
        n.attributes["custom"],
        "m:3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b;t:Ab3xY9zQ71;p:basic_monthly;k:sub"
    );
    assert_eq!(n.attributes["billing_type"], "single_payment");
    assert_eq!(n.attributes["amount_minor"], 4900);
    assert!(!n.attributes.contains_key("sha_sign"));
    assert!(
        !n.attributes.contains_key("address_city"),
        "empty values are absent"
    );
}

#[test]
fn live_payment_with_full_address_in_the_account_time_zone() {
    let n = normalized_in(
        &captured_with(&[
            ("api_mode", "live"),
            ("pay_method", "creditcard"),
            ("email", "Jorg.Muller@Example.DE"),
            ("buyer_first_name", "Jörg"),
            ("buyer_last_name", "Müller"),
            ("address_street", "Beispielstraße 5"),
            ("address_street2", "Hinterhaus"),
            ("address_zipcode", "10115"),
            ("address_city", "Berlin"),
            ("address_country", "de"),
            ("address_phone_no", "+49 30 1234567"),
            ("address_company", "Müller GmbH"),
            ("voucher_code", "SUMMER10"),
            ("quantity", "3"),
            ("amount", "1,234.50"),
        ]),
        Some("Europe/Berlin"),
    );
    assert!(!n.test);
    // 08:41:48 CEST (UTC+2) on 2026-08-18.
    assert_eq!(n.occurred_at, utc("2026-08-18T06:41:48Z"));
    assert_eq!(n.customer.email.as_deref(), Some("jorg.muller@example.de"));
    assert_eq!(n.customer.first_name.as_deref(), Some("Jörg"));
    assert_eq!(n.customer.last_name.as_deref(), Some("Müller"));
    assert_eq!(n.customer.phone.as_deref(), Some("+49 30 1234567"));
    assert_eq!(n.customer.company.as_deref(), Some("Müller GmbH"));
    assert_eq!(
        n.customer.address,
        Some(Address {
            line1: Some("Beispielstraße 5".into()),
            line2: Some("Hinterhaus".into()),
            city: Some("Berlin".into()),
            state: None,
            postal_code: Some("10115".into()),
            country: Some("DE".into()),
        })
    );
    let order = n.order.unwrap();
    assert_eq!(order.total, eur(123_450));
    assert_eq!(order.coupon.as_deref(), Some("SUMMER10"));
    assert_eq!(order.items[0].quantity, 3);
}

#[test]
fn street_name_and_number_make_a_line_when_street_is_absent() {
    let n = normalized(&captured_with(&[
        ("billing_street_name", "Hauptstraße"),
        ("billing_street_number", "12a"),
        ("billing_city", "Zürich"),
        // `address_*` has only a country here, so it is the first set with anything in it.
    ]));
    assert_eq!(
        n.customer.address.unwrap().country.as_deref(),
        Some("CH"),
        "address_* comes first"
    );
    let p = [
        ("event", "on_payment"),
        ("order_id", "X1"),
        ("billing_street_name", "Hauptstraße"),
        ("billing_street_number", "12a"),
        ("billing_city", "Zürich"),
    ];
    let address = normalized(&p).customer.address.unwrap();
    assert_eq!(address.line1.as_deref(), Some("Hauptstraße 12a"));
    assert_eq!(address.city.as_deref(), Some("Zürich"));
}

#[test]
fn subscription_payments_start_then_renew() {
    let first = normalized(&captured_with(&[
        ("billing_type", "subscription"),
        ("billing_status", "paying"),
        ("pay_sequence_no", "1"),
        ("other_billing_intervals", "1_month"),
        ("next_payment_at", "2026-09-18"),
    ]));
    assert_eq!(first.kind, EventKind::SubscriptionStarted);
    assert_eq!(
        first.subscription,
        Some(Subscription {
            id: "A1B2C3D4".into(),
            status: Some("paying".into()),
            interval: Some("1_month".into()),
            next_charge_at: utc("2026-09-18T00:00:00Z"),
        })
    );
    assert_eq!(first.order.as_ref().unwrap().total, eur(4900));

    let rebill = normalized(&captured_with(&[
        ("billing_type", "subscription"),
        ("pay_sequence_no", "2"),
        ("transaction_id", "4000100"),
        ("transaction_date", "2026-09-18"),
        ("transaction_time", "03:00:12"),
    ]));
    assert_eq!(rebill.kind, EventKind::SubscriptionRenewed);
    assert_eq!(rebill.occurred_at, utc("2026-09-18T03:00:12Z"));
    // One IPN per rebill, same order: the transaction keeps them apart.
    assert_ne!(rebill.idempotency_key, first.idempotency_key);

    let instalment_1 = normalized(&captured_with(&[
        ("billing_type", "installment"),
        ("pay_sequence_no", "1"),
        ("number_of_installments", "3"),
    ]));
    assert_eq!(instalment_1.kind, EventKind::OrderPaid);
    assert!(instalment_1.subscription.is_some());
    let instalment_2 = normalized(&captured_with(&[
        ("billing_type", "installment"),
        ("pay_sequence_no", "2"),
    ]));
    assert_eq!(instalment_2.kind, EventKind::SubscriptionRenewed);

    let signup = normalized(&captured_with(&[(
        "event",
        "on_payment_subscription_signup",
    )]));
    assert_eq!(signup.kind, EventKind::SubscriptionStarted);
    assert_eq!(signup.subscription.unwrap().id, "A1B2C3D4");
}

#[test]
fn on_refund_field_by_field() {
    let n = normalized(&captured_with(&[
        ("event", "on_refund"),
        ("transaction_type", "refund"),
        ("transaction_id", "3999990"),
        ("parent_transaction_id", "3999938"),
        ("amount", "-49.00"),
        ("transaction_date", "2026-08-20"),
        ("transaction_time", "10:00:00"),
        ("billing_status", "aborted"),
        ("billing_stop_reason", "by_refund"),
    ]));
    assert_eq!(n.kind, EventKind::OrderRefunded);
    assert_eq!(n.source_event, "on_refund");
    assert_eq!(
        n.idempotency_key,
        "on_refund/transaction_id=3999990/order_item_id=33299237"
    );
    assert_eq!(n.occurred_at, utc("2026-08-20T10:00:00Z"));
    assert_eq!(n.customer.email.as_deref(), Some("kaeufer@example.de"));
    let order = n.order.unwrap();
    assert_eq!(order.id, "A1B2C3D4");
    // The amount as Digistore24 sends it (its sign is not documented).
    assert_eq!(order.total, eur(-4900));
    assert_eq!(n.subscription, None);
    assert_eq!(n.attributes["billing_stop_reason"], "by_refund");
    assert_eq!(n.attributes["parent_transaction_id"], "3999938");
}

#[test]
fn on_chargeback_is_a_dispute() {
    let n = normalized(&captured_with(&[
        ("event", "on_chargeback"),
        ("transaction_type", "chargeback"),
        ("transaction_id", "3999991"),
    ]));
    assert_eq!(n.kind, EventKind::OrderDisputed);
    assert_eq!(
        n.idempotency_key,
        "on_chargeback/transaction_id=3999991/order_item_id=33299237"
    );
    assert_eq!(n.order.unwrap().total, eur(4900));
}

/// A subscription's parameters without any transaction of its own.
fn lifecycle(event: &'static str, extra: &[(&'static str, &'static str)]) -> Normalized {
    let mut p = vec![
        ("event", event),
        ("api_mode", "live"),
        ("order_id", "B2C3D4E5"),
        ("order_item_id", "44300001"),
        ("product_id", "512345"),
        ("product_name", "Basis Monatlich"),
        ("email", "abo@example.de"),
        ("buyer_first_name", "Anna"),
        ("buyer_last_name", "Abo"),
        ("buyer_id", "444555"),
        ("billing_type", "subscription"),
        ("currency", "EUR"),
        ("amount", "47.00"),
    ];
    p.extend_from_slice(extra);
    normalized(&p)
}

#[test]
fn on_payment_missed_field_by_field() {
    let n = lifecycle(
        "on_payment_missed",
        &[
            ("billing_status", "reminding"),
            ("pay_sequence_no", "3"),
            ("billing_stop_reason", "by_payment_denial"),
        ],
    );
    assert_eq!(n.kind, EventKind::SubscriptionPaymentFailed);
    assert!(!n.test);
    assert_eq!(
        n.idempotency_key,
        "on_payment_missed/order_id=B2C3D4E5/order_item_id=44300001/pay_sequence_no=3"
    );
    assert_eq!(n.occurred_at, None, "the time of receipt is used");
    assert_eq!(n.customer.external_id.as_deref(), Some("444555"));
    assert_eq!(n.customer.email.as_deref(), Some("abo@example.de"));
    let order = n.order.unwrap();
    assert_eq!(order.id, "B2C3D4E5");
    assert_eq!(order.total, None, "no money moved");
    assert_eq!(
        order.items[0].product_name.as_deref(),
        Some("Basis Monatlich")
    );
    assert_eq!(
        n.subscription,
        Some(Subscription {
            id: "B2C3D4E5".into(),
            status: Some("reminding".into()),
            interval: None,
            next_charge_at: None,
        })
    );
    // The next missed payment of the same order is another event.
    let next = lifecycle("on_payment_missed", &[("pay_sequence_no", "4")]);
    assert_ne!(next.idempotency_key, n.idempotency_key);
}

#[test]
fn payment_denial_is_a_failed_payment() {
    let n = lifecycle(
        "payment_denial",
        &[("transaction_id", "5000001"), ("pay_sequence_no", "2")],
    );
    assert_eq!(n.kind, EventKind::SubscriptionPaymentFailed);
    assert_eq!(
        n.idempotency_key,
        "payment_denial/transaction_id=5000001/order_item_id=44300001"
    );
}

#[test]
fn rebill_cancelled_resumed_and_last_paid_day() {
    let cancelled = lifecycle(
        "on_rebill_cancelled",
        &[
            ("rebill_stop_noted_at", "2026-09-01 12:30:00"),
            ("billing_status", "aborted"),
            ("billing_stop_reason", "by_buyer"),
            // A transaction id of the last payment must not make cancellations collide.
            ("transaction_id", "3999938"),
        ],
    );
    assert_eq!(cancelled.kind, EventKind::SubscriptionCancelled);
    assert_eq!(cancelled.occurred_at, utc("2026-09-01T12:30:00Z"));
    assert_eq!(
        cancelled.idempotency_key,
        "on_rebill_cancelled/order_id=B2C3D4E5/order_item_id=44300001/rebill_stop_noted_at=2026-09-01 12:30:00"
    );
    assert_eq!(
        cancelled.subscription.as_ref().unwrap().status.as_deref(),
        Some("aborted")
    );
    assert_eq!(cancelled.attributes["billing_stop_reason"], "by_buyer");

    let resumed = lifecycle("on_rebill_resumed", &[("billing_status", "paying")]);
    assert_eq!(resumed.kind, EventKind::SubscriptionResumed);
    assert_eq!(
        resumed.idempotency_key,
        "on_rebill_resumed/order_id=B2C3D4E5/order_item_id=44300001"
    );
    assert_eq!(resumed.subscription.unwrap().id, "B2C3D4E5");

    // A second cancellation after a resume is its own event.
    let again = lifecycle(
        "on_rebill_cancelled",
        &[("rebill_stop_noted_at", "2026-10-02 08:00:00")],
    );
    assert_ne!(again.idempotency_key, cancelled.idempotency_key);

    let ended = lifecycle("last_paid_day", &[("billing_status", "completed")]);
    assert_eq!(ended.kind, EventKind::SubscriptionEnded);
    assert_eq!(ended.source_event, "last_paid_day");
    assert_eq!(ended.customer.email.as_deref(), Some("abo@example.de"));
    assert_eq!(
        ended.subscription.unwrap().status.as_deref(),
        Some("completed")
    );
}

#[test]
fn connection_test_is_a_ping() {
    let p = [
        ("event", "connection_test"),
        ("api_mode", "live"),
        ("ipn_version", "1.6"),
        ("ipn_config_id", "654321"),
        ("merchant_id", "39499382"),
    ];
    let n = normalized(&p);
    assert_eq!(n.kind, EventKind::Ping);
    assert!(n.test);
    assert_eq!(n.order, None);
    assert_eq!(n.subscription, None);
    assert_eq!(n.customer, Customer::default());
    assert!(n.idempotency_key.starts_with("connection_test/params="));
    // The same test delivery again is the same event; another connection's is not.
    assert_eq!(normalized(&p).idempotency_key, n.idempotency_key);
    let other = [("event", "connection_test"), ("ipn_config_id", "999")];
    assert_ne!(normalized(&other).idempotency_key, n.idempotency_key);
}

#[test]
fn unknown_events_are_kept_with_every_parameter() {
    let n = normalized(&[
        ("event", "on_affiliation"),
        ("affiliate_name", "partner77"),
        ("product_id", "512345"),
        ("email", "partner@example.com"),
    ]);
    assert_eq!(n.kind, EventKind::Unknown);
    assert_eq!(n.source_event, "on_affiliation");
    assert_eq!(n.attributes["affiliate_name"], "partner77");
    assert_eq!(n.attributes["product_id"], "512345");
    assert_eq!(n.customer.email.as_deref(), Some("partner@example.com"));
    assert!(n.idempotency_key.starts_with("on_affiliation/params="));

    let eticket = normalized(&[
        ("event", "eticket"),
        ("eticket_id", "ET-1"),
        ("order_id", "A1B2C3D4"),
    ]);
    assert_eq!(eticket.kind, EventKind::Unknown);
    assert_eq!(
        eticket.idempotency_key,
        "eticket/order_id=A1B2C3D4/eticket_id=ET-1"
    );
}

#[test]
fn a_delivery_without_event_is_malformed() {
    let body = signed_body(&[("order_id", "A1")], PASSPHRASE, KeyCase::Original);
    let d = Digistore24
        .verify(delivery(body), &[secret(PASSPHRASE)])
        .unwrap();
    assert!(matches!(
        Digistore24.normalize(&d, &context(None)),
        Err(ParseError::Missing { field: "event" })
    ));
}

// ---------------------------------------------------------------------------------------------
// Idempotency and authenticity of the normalised content

#[test]
fn order_items_of_one_order_are_separate_events() {
    let main = normalized(&captured_with(&[]));
    let upsell = normalized(&captured_with(&[
        ("order_item_id", "33299238"),
        ("product_id", "512346"),
        ("upsell_no", "1"),
    ]));
    assert_ne!(main.idempotency_key, upsell.idempotency_key);
    // A retry is byte-for-byte the same delivery: the same key.
    assert_eq!(
        normalized(&captured_with(&[])).idempotency_key,
        main.idempotency_key
    );
}

#[test]
fn injected_empty_parameters_change_nothing() {
    // Empty values are not signed: appending `email=` keeps the signature valid, so it must not
    // blank the buyer's address (nor may a repeated key override the signed one).
    let body = signed_body(CAPTURED_ON_PAYMENT, PASSPHRASE, KeyCase::Original);
    let injected = format!("email=&event=&buyer_email=&{body}&email=");
    let d = Digistore24
        .verify(delivery(injected), &[secret(PASSPHRASE)])
        .unwrap();
    let n = Digistore24.normalize(&d, &context(None)).unwrap();
    assert_eq!(n, normalized(&captured_with(&[])));
}

#[test]
fn time_zones() {
    let at = |tz| normalized_in(&captured_with(&[]), tz).occurred_at;
    assert_eq!(at(None), utc("2026-08-18T08:41:48Z"));
    assert_eq!(at(Some("America/New_York")), utc("2026-08-18T12:41:48Z"));
    assert_eq!(at(Some("UTC")), utc("2026-08-18T08:41:48Z"));
    // Winter time in Berlin is UTC+1.
    let winter = normalized_in(
        &captured_with(&[("transaction_date", "2026-01-05")]),
        Some("Europe/Berlin"),
    );
    assert_eq!(winter.occurred_at, utc("2026-01-05T07:41:48Z"));
    // An explicit offset wins over the connection's zone.
    assert_eq!(
        local_time("2026-08-18T08:41:48+00:00", Some("Europe/Berlin")).unwrap(),
        utc("2026-08-18T08:41:48Z")
    );
    // Not a date: no time (the server uses the time of receipt).
    assert_eq!(local_time("soon", None).unwrap(), None);
    // An unknown zone is a configuration error kept in the DLQ, not a silently wrong time.
    let body = signed_body(CAPTURED_ON_PAYMENT, PASSPHRASE, KeyCase::Original);
    let d = Digistore24
        .verify(delivery(body), &[secret(PASSPHRASE)])
        .unwrap();
    assert!(matches!(
        Digistore24.normalize(&d, &context(Some("Mars/Olympus"))),
        Err(ParseError::Invalid {
            field: "timezone",
            ..
        })
    ));
}

#[test]
fn config_validation_names_an_unknown_time_zone() {
    use relay_common::config::ServiceConfig;
    let mut cfg = Digistore24Config::default();
    cfg.0.connections.insert(
        Token::parse("demo").unwrap(),
        relay_ingest::ConnectionConfig {
            secret: relay_common::SecretRef::Env("DS24_PASSPHRASE".into()),
            previous_secret: None,
            timezone: Some("Europe/Atlantis".into()),
        },
    );
    let env = |k: &str| match k {
        "DS24_PASSPHRASE" | "RELAY_ADMIN_TOKEN" => Some("x".to_owned()),
        _ => None,
    };
    let issues = format!("{:?}", cfg.validate(&env));
    assert!(issues.contains("connections.demo.timezone"), "{issues}");
    cfg.0
        .connections
        .values_mut()
        .for_each(|c| c.timezone = Some("Europe/Berlin".into()));
    let issues = format!("{:?}", cfg.validate(&env));
    assert!(!issues.contains("timezone"), "{issues}");
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input

proptest! {
    #[test]
    fn arbitrary_bytes_are_refused_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let d = Delivery::new(Token::parse("demo").unwrap(), http::HeaderMap::new(), None, body.into());
        let result = Digistore24.verify(d, &[secret(PASSPHRASE)]);
        prop_assert!(result.is_err());
    }

    #[test]
    fn arbitrary_signed_parameters_normalise_or_are_malformed(
        params in proptest::collection::vec(("[a-zA-Z_\\[\\]%.+ ]{0,12}", "\\PC{0,16}"), 0..24),
        event in prop_oneof![
            Just("on_payment".to_owned()), Just("on_refund".to_owned()), Just("on_rebill_cancelled".to_owned()),
            Just("connection_test".to_owned()), Just(String::new()), "\\PC{0,12}"
        ],
        timezone in prop_oneof![Just(None), Just(Some("Europe/Berlin")), Just(Some("Nowhere/Special"))],
    ) {
        let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.push(("event", event.as_str()));
        let body = signed_body(&pairs, PASSPHRASE, KeyCase::Original);
        let d = Digistore24.verify(delivery(body), &[secret(PASSPHRASE)]);
        // Parameter names such as `sha_sign` among the generated ones make it unsigned.
        if let Ok(d) = d {
            match Digistore24.normalize(&d, &context(timezone)) {
                Ok(n) => prop_assert!(!n.idempotency_key.is_empty()),
                Err(ParseError::Missing { .. } | ParseError::Invalid { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    #[test]
    fn arbitrary_values_in_known_fields_never_panic(
        amount in "\\PC{0,12}", currency in "\\PC{0,4}", date in "\\PC{0,20}", time in "\\PC{0,10}",
        seq in "\\PC{0,4}", quantity in "\\PC{0,6}",
    ) {
        let pairs = [
            ("event", "on_payment"), ("order_id", "A"), ("amount", amount.as_str()),
            ("currency", currency.as_str()), ("transaction_date", date.as_str()),
            ("transaction_time", time.as_str()), ("pay_sequence_no", seq.as_str()),
            ("quantity", quantity.as_str()), ("billing_type", "subscription"),
            ("next_payment_at", date.as_str()),
        ];
        let n = normalized(&pairs);
        prop_assert_eq!(n.order.map(|o| o.id), Some("A".to_owned()));
    }
}
