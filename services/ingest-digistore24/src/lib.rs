//! Digistore24 IPN ingest (reference/storefronts/digistore24.md).
//!
//! - **Transport**: `POST`, flat `application/x-www-form-urlencoded`, UTF-8; the URL is checked
//!   with a `GET` that must answer 200 (see [`Storefront::probe`]).
//! - **Verification**: `sha_sign` over the decoded parameters with the connection's IPN
//!   passphrase (see [`signature`]), both key-case variants, fail closed.
//! - **Answer**: the body text `OK`, also for duplicates; anything else makes Digistore24 retry
//!   (at least 20 times over 10 days), so [`Digistore24::RETRY_HORIZON`] is 10 days and the
//!   shared server keeps accepted keys in its KV ledger beyond the streams' dedupe window.
//! - **Events**: `on_payment` → `order.paid` (a subscription's first payment
//!   `subscription.started`, rebills and later instalments `subscription.renewed`),
//!   `on_refund` → `order.refunded`, `on_chargeback` → `order.disputed`, `on_payment_missed` and
//!   `payment_denial` → `subscription.payment_failed`, `on_rebill_cancelled` →
//!   `subscription.cancelled`, `on_rebill_resumed` → `subscription.resumed`, `last_paid_day` →
//!   `subscription.ended`, `connection_test` → [`EventKind::Ping`]. Events Relay does not know
//!   (`on_affiliation`, `eticket`, ...) are published as [`EventKind::Unknown`]. Every event
//!   carries all of its non-empty parameters in `attributes`.
//! - **Money**: decimal strings in major units (`amount` + `currency`, possibly converted into
//!   the connection's currency by Digistore24) → integer minor units.
//! - **Time**: `transaction_date` + `transaction_time` carry no offset; they are read in the
//!   connection's `timezone` (the Digistore24 account's time zone), UTC when none is configured.

pub mod signature;

#[cfg(test)]
mod fixtures;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use relay_contracts::event::{Address, Customer, Item, Money, Order, Subscription};
use relay_contracts::{EventId, EventKind, Source};
use relay_ingest::money::to_minor;
use relay_ingest::{
    ConnectionContext, Delivery, Normalized, ParseError, Storefront, Unverified, Verified,
    VerifyError, form,
};
use secrecy::SecretString;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use signature::{KeyCase, SIGNATURE_KEYS, sign};

/// The body Digistore24 needs to see to count a delivery as done.
pub const OK: &str = "OK";

/// The Digistore24 storefront.
#[derive(Clone, Copy, Debug, Default)]
pub struct Digistore24;

/// The `ingest-digistore24` binary's configuration: [`IngestConfig`] defaulting to ports 8083 (webhooks) and 9083 (admin).
pub type Digistore24Config = relay_ingest::StorefrontConfig<Digistore24>;

/// Form-encodes `params` and appends their `sha_sign` (what Digistore24 POSTs). For tests,
/// benchmarks and replaying deliveries.
pub fn signed_body(params: &[(&str, &str)], passphrase: &str, case: KeyCase) -> String {
    let sha_sign = sign(params.iter().copied(), passphrase, case);
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().filter(|(k, _)| !SIGNATURE_KEYS.contains(k)))
        .append_pair("sha_sign", &sha_sign)
        .finish()
}

fn ok_text() -> Response {
    (
        http::StatusCode::OK,
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        OK,
    )
        .into_response()
}

impl Storefront for Digistore24 {
    const SOURCE: Source = Source::Digistore24;
    const PORTS: (u16, u16) = (8083, 9083);

    /// "At least 20 times over the next 10 days" (digistore24.md §1).
    const RETRY_HORIZON: Duration = Duration::from_secs(10 * 24 * 3600);

    fn verify(
        &self,
        d: Delivery<Unverified>,
        secrets: &[SecretString],
    ) -> Result<Delivery<Verified>, VerifyError> {
        use signature::SignatureError;
        match signature::verify(&form::pairs(&d.body), secrets) {
            Ok(()) => Ok(d.into_verified()),
            Err(SignatureError::Missing) => Err(VerifyError::MissingSignature("sha_sign")),
            Err(SignatureError::Malformed) => Err(VerifyError::MalformedSignature("sha_sign")),
            Err(SignatureError::Mismatch) => Err(VerifyError::Mismatch),
        }
    }

    fn normalize(
        &self,
        d: &Delivery<Verified>,
        connection: &ConnectionContext,
    ) -> Result<Normalized, ParseError> {
        normalize_params(&Params::parse(&d.body), connection.timezone.as_deref())
    }

    /// Digistore24 validates the IPN URL with a `GET` that must answer 200 (no redirect).
    fn probe(&self, method: &http::Method) -> Option<Response> {
        (*method == http::Method::GET || *method == http::Method::HEAD).then(ok_text)
    }

    /// `OK` as plain text: the only answer Digistore24 takes as success (duplicates too).
    fn accepted(&self, _: &Normalized, _: &EventId, _: bool) -> Response {
        ok_text()
    }
}

/// The decoded parameters of a verified delivery: non-empty values only, first one per key.
///
/// Empty values are not signed, so anyone could add `email=` to an authentic body without
/// breaking its signature; ignoring them (and never letting a later value replace an earlier
/// one) keeps the normalised event exactly as authentic as the signature.
#[derive(Debug, Default)]
struct Params(BTreeMap<String, String>);

impl Params {
    fn parse(body: &[u8]) -> Self {
        let mut map = BTreeMap::new();
        for (k, v) in form::pairs(body) {
            if v.is_empty() || SIGNATURE_KEYS.contains(&k.as_str()) {
                continue;
            }
            map.entry(k).or_insert(v);
        }
        Self(map)
    }

    /// A value, trimmed; blank counts as absent.
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The first present of `keys`.
    fn first(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    fn owned(&self, keys: &[&str]) -> Option<String> {
        self.first(keys).map(str::to_owned)
    }
}

/// Events that record one money transaction and carry its `transaction_id`.
const TRANSACTION_EVENTS: &[&str] = &[
    "on_payment",
    "on_payment_subscription_signup",
    "on_refund",
    "on_chargeback",
    "payment_denial",
];

/// Events about a subscription's (or instalment plan's) billing rather than one payment.
const RECURRING_EVENTS: &[&str] = &[
    "on_payment_subscription_signup",
    "on_payment_missed",
    "on_rebill_cancelled",
    "on_rebill_resumed",
    "last_paid_day",
];

/// The normalised kind of a Digistore24 `event`.
///
/// - `on_payment`: for `billing_type=subscription`, the first payment (`pay_sequence_no` ≤ 1 or
///   absent) starts the subscription and later ones renew it; for `installment` plans the first
///   payment is an [`EventKind::OrderPaid`] and later instalments renew; otherwise
///   [`EventKind::OrderPaid`]. `on_payment_subscription_signup` (listed by ds24-skills) starts.
/// - `on_refund` → refunded, `on_chargeback` → disputed.
/// - `on_payment_missed` (reversible suspension) and `payment_denial` (the last attempt failed)
///   → [`EventKind::SubscriptionPaymentFailed`], the only failed-payment kind.
/// - `on_rebill_cancelled` → cancelled (access continues until `last_paid_day`),
///   `on_rebill_resumed` → resumed, `last_paid_day` → [`EventKind::SubscriptionEnded`].
/// - `connection_test` → [`EventKind::Ping`].
/// - anything else (`on_affiliation`, `eticket`, `custom_form`, future events) →
///   [`EventKind::Unknown`]: published, never dropped.
///
/// Rules that decide access should keep looking at `source_event` too: `on_rebill_cancelled`
/// and `last_paid_day` mean opposite things for access (ds24-skills `events.md`).
fn kind_of(event: &str, p: &Params) -> EventKind {
    match event {
        "on_payment" => {
            let sequence = p
                .get("pay_sequence_no")
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(0);
            match (p.get("billing_type"), sequence) {
                (Some("subscription"), 0 | 1) => EventKind::SubscriptionStarted,
                (Some("subscription" | "installment"), 2..) => EventKind::SubscriptionRenewed,
                _ => EventKind::OrderPaid,
            }
        }
        "on_payment_subscription_signup" => EventKind::SubscriptionStarted,
        "on_refund" => EventKind::OrderRefunded,
        "on_chargeback" => EventKind::OrderDisputed,
        "on_payment_missed" | "payment_denial" => EventKind::SubscriptionPaymentFailed,
        "on_rebill_cancelled" => EventKind::SubscriptionCancelled,
        "on_rebill_resumed" => EventKind::SubscriptionResumed,
        "last_paid_day" => EventKind::SubscriptionEnded,
        "connection_test" => EventKind::Ping,
        _ => EventKind::Unknown,
    }
}

/// The idempotency key (SUMMARY.md §1, digistore24.md §4 "Idempotency key").
///
/// - Transaction events with a `transaction_id` (unique per transaction):
///   `<event>/transaction_id=<id>[/order_item_id=<id>]`. The order item is part of the key
///   because Digistore24 sends one IPN per order item.
/// - Other events (`on_payment_missed`, `on_rebill_cancelled`, `on_rebill_resumed`,
///   `last_paid_day`, `eticket`, ...): `<event>` plus whichever of `order_id`, `order_item_id`,
///   `eticket_id`, `pay_sequence_no` (which rebill), `transaction_date`, `transaction_time` and
///   `rebill_stop_noted_at` are present. `order_id` alone would collapse every rebill of an
///   order into one.
/// - Events with none of those ids (`connection_test`, `on_affiliation`):
///   `<event>/params=<SHA-256 of the sorted parameters>`, stable across Digistore24's retries.
fn idempotency_key(event: &str, p: &Params) -> String {
    let named = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .filter_map(|k| p.get(k).map(|v| format!("{k}={v}")))
            .collect()
    };
    if TRANSACTION_EVENTS.contains(&event) && p.get("transaction_id").is_some() {
        let parts = named(&["transaction_id", "order_item_id"]);
        return format!("{event}/{}", parts.join("/"));
    }
    if p.get("order_id").is_some() || p.get("eticket_id").is_some() {
        let parts = named(&[
            "order_id",
            "order_item_id",
            "eticket_id",
            "pay_sequence_no",
            "transaction_date",
            "transaction_time",
            "rebill_stop_noted_at",
        ]);
        return format!("{event}/{}", parts.join("/"));
    }
    let mut hasher = Sha256::new();
    for (k, v) in &p.0 {
        hasher.update(k.as_bytes());
        hasher.update(b"=");
        hasher.update(v.as_bytes());
        hasher.update(b"\n");
    }
    format!("{event}/params={}", hex::encode(hasher.finalize()))
}

/// Normalises a verified delivery's parameters; `timezone` is the connection's IANA zone for
/// Digistore24's offset-less dates.
fn normalize_params(p: &Params, timezone: Option<&str>) -> Result<Normalized, ParseError> {
    let event = p
        .get("event")
        .ok_or(ParseError::Missing { field: "event" })?;
    let kind = kind_of(event, p);
    let is_transaction = TRANSACTION_EVENTS.contains(&event);

    let customer = customer(p);

    let currency = p
        .first(&["currency", "transaction_currency"])
        .map(str::to_ascii_uppercase);
    let amount = currency.as_ref().and_then(|currency| {
        let minor = to_minor(p.first(&["amount", "transaction_amount"])?, currency)?;
        Some(Money {
            minor,
            currency: currency.clone(),
        })
    });

    let order = match (kind, p.get("order_id")) {
        (EventKind::Ping, _) | (_, None) => None,
        (_, Some(order_id)) => {
            let total = if is_transaction { amount.clone() } else { None };
            let has_product = p.first(&["product_id", "product_name"]).is_some();
            let items = if has_product {
                vec![Item {
                    product_id: p.owned(&["product_id"]),
                    product_name: p.owned(&["product_name"]),
                    quantity: p.get("quantity").and_then(|q| q.parse().ok()).unwrap_or(1),
                    amount: total.clone(),
                }]
            } else {
                Vec::new()
            };
            Some(Order {
                id: order_id.to_owned(),
                items,
                total,
                coupon: p.owned(&["voucher_code", "coupon_code"]),
            })
        }
    };

    let recurring = matches!(p.get("billing_type"), Some("subscription" | "installment"))
        || RECURRING_EVENTS.contains(&event);
    let subscription = match (recurring && kind != EventKind::Ping, p.get("order_id")) {
        (true, Some(order_id)) => Some(Subscription {
            // A Digistore24 subscription is its order: every rebill keeps the `order_id`.
            id: order_id.to_owned(),
            status: p.owned(&["billing_status"]),
            interval: p.owned(&["other_billing_intervals", "first_billing_interval"]),
            next_charge_at: p
                .get("next_payment_at")
                .map(|s| local_time(s, timezone))
                .transpose()?
                .flatten(),
        }),
        _ => None,
    };

    let occurred_at = if is_transaction {
        match (p.get("transaction_date"), p.get("transaction_time")) {
            (Some(date), Some(time)) => local_time(&format!("{date} {time}"), timezone)?,
            (Some(date), None) => local_time(date, timezone)?,
            _ => None,
        }
    } else if event == "on_rebill_cancelled" {
        p.get("rebill_stop_noted_at")
            .map(|s| local_time(s, timezone))
            .transpose()?
            .flatten()
    } else {
        None
    };

    // Every parameter as sent (minus the signature): rules can use `custom`, `utm_*`,
    // `billing_stop_reason`, ... and unknown events are published as-is.
    let mut attributes: Map<String, Value> =
        p.0.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
    if let Some(amount) = &amount {
        attributes.insert("amount_minor".into(), Value::from(amount.minor));
    }

    let test = matches!(p.get("api_mode"), Some(m) if m.eq_ignore_ascii_case("test"))
        || matches!(p.get("pay_method"), Some(m) if m.eq_ignore_ascii_case("test"))
        || kind == EventKind::Ping;

    Ok(Normalized {
        kind,
        source_event: event.to_owned(),
        idempotency_key: idempotency_key(event, p),
        occurred_at,
        test,
        customer,
        order,
        subscription,
        message: None,
        attributes,
    })
}

/// The buyer: `email` (= `buyer_email`), `buyer_*` names, the first address set that has any
/// line (`address_*`, then `billing_*`, then `buyer_address_*`).
fn customer(p: &Params) -> Customer {
    let address = ["address_", "billing_", "buyer_address_"]
        .iter()
        .map(|prefix| {
            let f = |name: &str| p.owned(&[&format!("{prefix}{name}")]);
            let line1 = f("street").or_else(|| {
                let street = p.get(&format!("{prefix}street_name"))?;
                Some(match p.get(&format!("{prefix}street_number")) {
                    Some(n) => format!("{street} {n}"),
                    None => street.to_owned(),
                })
            });
            Address {
                line1,
                line2: f("street2"),
                city: f("city"),
                state: f("state"),
                postal_code: f("zipcode"),
                country: f("country").map(|c| c.to_ascii_uppercase()),
            }
        })
        .find(|a| *a != Address::default());
    Customer {
        external_id: p.owned(&["buyer_id"]),
        email: p
            .first(&["email", "buyer_email", "address_email"])
            .map(str::to_lowercase),
        phone: p.owned(&[
            "address_phone_no",
            "address_mobile_no",
            "billing_phone_no",
            "billing_mobile_no",
            "buyer_address_phone_no",
            "buyer_address_mobile_no",
        ]),
        first_name: p.owned(&[
            "buyer_first_name",
            "address_first_name",
            "billing_first_name",
        ]),
        last_name: p.owned(&["buyer_last_name", "address_last_name", "billing_last_name"]),
        name: None,
        company: p.owned(&[
            "address_company",
            "billing_company",
            "buyer_address_company",
        ]),
        address,
    }
}

/// Reads a Digistore24 date (`2026-08-18 08:41:48`, `2026-08-18T08:41:48`, `2026-08-18`, or
/// one with an explicit offset) as UTC. Offset-less values are in `timezone` (UTC when none).
/// A value that is not a date gives `None` (the server then uses the time of receipt); an
/// unknown time zone is an error, so the delivery is kept in the DLQ until the config is fixed.
fn local_time(s: &str, timezone: Option<&str>) -> Result<Option<OffsetDateTime>, ParseError> {
    let s = s.trim();
    let timestamp = if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        ts
    } else {
        let civil = match s.parse::<jiff::civil::DateTime>() {
            Ok(dt) => dt,
            Err(_) => match s.parse::<jiff::civil::Date>() {
                Ok(d) => d.to_datetime(jiff::civil::Time::midnight()),
                Err(_) => return Ok(None),
            },
        };
        return relay_ingest::time::in_zone(civil, timezone);
    };
    Ok(relay_ingest::time::instant(timestamp))
}

#[cfg(test)]
mod tests;
