//! ThriveCart: account webhooks and API event subscriptions (reference/storefronts/thrivecart.md).
//!
//! - **Verification**: no signature; every delivery carries the account's "Secret word" in the
//!   body field `thrivecart_secret`, compared in constant time against the connection's current
//!   and previous secrets. The body is read (form or JSON) only to find that field; the secret
//!   word is then replaced by `redacted` so it never reaches RAW, the DLQ or the event.
//! - **Body**: `application/x-www-form-urlencoded` with PHP-nested keys
//!   (`customer[email]`, `order[charges][0][amount]`, `transactions[product-12]`), or JSON (the
//!   webhook's "JSON" checkbox; always for API event subscriptions). Every scalar is a string and
//!   missing values are the literal `"null"`. A body starting with `{` is read as JSON.
//! - **Setup probe**: ThriveCart sends `HEAD` (and may `GET`) to a new URL and wants a 2xx.
//! - **Events** (`event`): `order.success`, `order.refund`, `order.subscription_payment`,
//!   `order.rebill_failed`, `order.subscription_cancelled`, `order.subscription_paused`,
//!   `order.subscription_resumed`, `cart.abandoned`, and their API-subscription spellings
//!   (`order_created`, `order_rebill`, ...). Affiliate events and anything else are published as
//!   [`EventKind::Unknown`] with the whole payload (secret removed) in `attributes`.
//! - **Money**: integer minor units (`"4900"` = 49.00) with an upper-case `currency`.
//! - **Test mode**: `mode=test` / `mode_int=1`.
//! - **Idempotency** (SUMMARY §1, reference §5): `event_id` when present; otherwise derived from
//!   the event, the order and what distinguishes one delivery of that event from another:
//!   `order.success:<order_id>`, `order.subscription_payment:<order_id>:<item>:<invoice>`,
//!   `order.refund:<order_id>:<refund type-id>:<date_unix>`, subscription changes
//!   `<event>:<order_id>:<subscription>:<date_unix>`, `cart.abandoned:<email>:<product>:<date_unix>`,
//!   else the event and a digest of the payload without the secret word.

// The unit tests' fixtures are large `json!` literals.
#![cfg_attr(test, recursion_limit = "256")]

use relay_ingest::form::is_json;
pub use relay_ingest::form::parse_body;
use std::time::Duration;

use bytes::Bytes;
use relay_contracts::event::{Address, Customer, Item, Money, Order, Subscription};
use relay_contracts::{EventKind, Source};
use relay_ingest::form;
use relay_ingest::money::to_minor;
use relay_ingest::{
    ConnectionContext, Delivery, Normalized, ParseError, Storefront, Unverified, Verified,
    VerifyError,
};
use secrecy::SecretString;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The body field carrying the account's secret word.
pub const SECRET_FIELD: &str = "thrivecart_secret";

/// What the secret word is replaced with once verified.
pub const REDACTED: &str = "redacted";

/// The ThriveCart storefront.
#[derive(Clone, Copy, Debug, Default)]
pub struct Thrivecart;

/// The `ingest-thrivecart` binary's configuration: [`IngestConfig`] defaulting to ports 8082 (webhooks) and 9082 (admin).
pub type ThrivecartConfig = relay_ingest::StorefrontConfig<Thrivecart>;

impl Storefront for Thrivecart {
    const SOURCE: Source = Source::Thrivecart;
    const PORTS: (u16, u16) = (8082, 9082);

    /// ThriveCart documents no retry schedule (integrators report retries on non-2xx): a day,
    /// well inside the streams' dedupe window, so no ledger is needed.
    const RETRY_HORIZON: Duration = Duration::from_secs(24 * 3600);

    fn verify(
        &self,
        mut d: Delivery<Unverified>,
        secrets: &[SecretString],
    ) -> Result<Delivery<Verified>, VerifyError> {
        let json = is_json(d.header("content-type"), &d.body);
        let presented = if json {
            json_secret(&d.body)
        } else {
            form_secret(&d.body)
        };
        relay_ingest::verify::body_secret(presented.as_deref(), secrets, SECRET_FIELD)?;
        d.body = redact(&d.body, json);
        Ok(d.into_verified())
    }

    fn normalize(
        &self,
        d: &Delivery<Verified>,
        _: &ConnectionContext,
    ) -> Result<Normalized, ParseError> {
        let payload = parse_body(d.header("content-type"), &d.body)?;
        normalize_payload(&payload)
    }

    /// `HEAD` (and `GET`) on the hook URL must answer 2xx, or ThriveCart refuses the URL.
    fn probe(&self, method: &http::Method) -> Option<axum::response::Response> {
        use axum::response::IntoResponse;
        (method == http::Method::HEAD || method == http::Method::GET)
            .then(|| (http::StatusCode::OK, "ok").into_response())
    }
}

/// The secret word of a JSON body (top-level string field).
fn json_secret(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Map<String, Value>>(body)
        .ok()?
        .remove(SECRET_FIELD)?
    {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// The secret word of a form body (first top-level `thrivecart_secret=`).
fn form_secret(body: &[u8]) -> Option<String> {
    form::pairs(body)
        .into_iter()
        .find(|(k, _)| k == SECRET_FIELD)
        .map(|(_, v)| v)
}

/// The body with the secret word's value replaced by [`REDACTED`], every other byte unchanged
/// where possible (a JSON body that cannot be edited in place is re-serialised instead).
pub fn redact(body: &[u8], json: bool) -> Bytes {
    if json {
        redact_json(body)
    } else {
        redact_form(body)
    }
}

fn redact_form(body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(body.len());
    for (i, segment) in body.split(|b| *b == b'&').enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        let key = segment.split(|b| *b == b'=').next().unwrap_or_default();
        let is_secret = form::pairs(key)
            .first()
            .is_some_and(|(k, _)| k == SECRET_FIELD);
        if is_secret {
            out.extend_from_slice(key);
            out.push(b'=');
            out.extend_from_slice(REDACTED.as_bytes());
        } else {
            out.extend_from_slice(segment);
        }
    }
    out.into()
}

fn redact_json(body: &[u8]) -> Bytes {
    if let Some(edited) = redact_json_in_place(body) {
        return edited.into();
    }
    // Escaped key spellings (`thrivecart\u005fsecret`) and other oddities: re-serialise.
    match serde_json::from_slice::<Map<String, Value>>(body) {
        Ok(mut map) => {
            if map.contains_key(SECRET_FIELD) {
                map.insert(SECRET_FIELD.into(), Value::from(REDACTED));
            }
            serde_json::to_vec(&map).map_or_else(|_| Bytes::copy_from_slice(body), Bytes::from)
        }
        Err(_) => Bytes::copy_from_slice(body),
    }
}

/// Replaces the string value after each `"thrivecart_secret":` token. `None` unless the result
/// is valid JSON whose top-level secret field reads [`REDACTED`].
fn redact_json_in_place(body: &[u8]) -> Option<Vec<u8>> {
    let pattern = format!("\"{SECRET_FIELD}\"");
    let pattern = pattern.as_bytes();
    let skip_ws = |mut i: usize| {
        while body.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut out = Vec::with_capacity(body.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = body
        .get(from..)?
        .windows(pattern.len())
        .position(|w| w == pattern)
    {
        let key_end = from + found + pattern.len();
        from = key_end;
        let colon = skip_ws(key_end);
        if body.get(colon) != Some(&b':') {
            continue;
        }
        let start = skip_ws(colon + 1);
        if body.get(start) != Some(&b'"') {
            continue;
        }
        let mut end = start + 1;
        loop {
            match body.get(end)? {
                b'\\' => end += 2,
                b'"' => break,
                _ => end += 1,
            }
        }
        out.extend_from_slice(body.get(copied..start)?);
        out.push(b'"');
        out.extend_from_slice(REDACTED.as_bytes());
        out.push(b'"');
        copied = end + 1;
        from = copied;
    }
    out.extend_from_slice(body.get(copied..)?);
    let check = serde_json::from_slice::<Map<String, Value>>(&out).ok()?;
    match check.get(SECRET_FIELD) {
        None => Some(out),
        Some(v) if v == REDACTED => Some(out),
        Some(_) => None,
    }
}

/// The events ThriveCart sends, in either vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    OrderSuccess,
    Refund,
    SubscriptionPayment,
    RebillFailed,
    SubscriptionCancelled,
    SubscriptionPaused,
    SubscriptionResumed,
    /// `order_rebill_completed`: every instalment of a plan is paid.
    RebillsCompleted,
    CartAbandoned,
}

impl Event {
    /// Account webhooks use dotted names; API event subscriptions underscored ones.
    /// `order_payment_*` (one per line item, overlapping `order_created`) and affiliate events
    /// have no kind of their own and stay `unknown`.
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "order.success" | "order_created" => Self::OrderSuccess,
            "order.refund"
            | "order_refund_product"
            | "order_refund_bump"
            | "order_refund_upsell"
            | "order_refund_downsell" => Self::Refund,
            "order.subscription_payment" | "order_rebill" => Self::SubscriptionPayment,
            "order.rebill_failed" | "order_rebill_failed" => Self::RebillFailed,
            "order.subscription_cancelled" | "order_rebill_cancelled" => {
                Self::SubscriptionCancelled
            }
            "order.subscription_paused" | "subscription_paused" => Self::SubscriptionPaused,
            "order.subscription_resumed" | "subscription_resumed" => Self::SubscriptionResumed,
            "order_rebill_completed" => Self::RebillsCompleted,
            "cart.abandoned" | "cart_abandoned" => Self::CartAbandoned,
            _ => return None,
        })
    }

    fn kind(self) -> EventKind {
        match self {
            Self::OrderSuccess => EventKind::OrderPaid,
            Self::Refund => EventKind::OrderRefunded,
            Self::SubscriptionPayment => EventKind::SubscriptionRenewed,
            Self::RebillFailed => EventKind::SubscriptionPaymentFailed,
            Self::SubscriptionCancelled => EventKind::SubscriptionCancelled,
            Self::SubscriptionPaused => EventKind::SubscriptionPaused,
            Self::SubscriptionResumed => EventKind::SubscriptionResumed,
            Self::RebillsCompleted => EventKind::SubscriptionEnded,
            Self::CartAbandoned => EventKind::CartAbandoned,
        }
    }

    /// The subscription's state after the event.
    fn subscription_status(self) -> Option<&'static str> {
        match self {
            Self::SubscriptionPayment | Self::SubscriptionResumed => Some("active"),
            Self::RebillFailed => Some("past_due"),
            Self::SubscriptionCancelled => Some("cancelled"),
            Self::SubscriptionPaused => Some("paused"),
            Self::RebillsCompleted => Some("completed"),
            Self::OrderSuccess | Self::Refund | Self::CartAbandoned => None,
        }
    }
}

/// Normalises a parsed ThriveCart payload (secret word already redacted or absent).
pub fn normalize_payload(p: &Map<String, Value>) -> Result<Normalized, ParseError> {
    let name = text(p, "event").ok_or(ParseError::Missing { field: "event" })?;
    let event = Event::parse(&name);
    let order_obj = object(p, "order");
    let order_id = text(p, "order_id").or_else(|| order_obj.and_then(|o| text(o, "id")));
    if event.is_some_and(|e| e != Event::CartAbandoned) && order_id.is_none() {
        return Err(ParseError::Missing { field: "order_id" });
    }
    let currency = [
        Some(p),
        order_obj,
        object(p, "subscription"),
        object(p, "refund"),
    ]
    .into_iter()
    .flatten()
    .find_map(|m| text(m, "currency"))
    .map(|c| c.to_ascii_uppercase());
    let money = |m: &Map<String, Value>, key: &str| -> Option<Money> {
        let currency = currency.as_ref()?;
        minor(m, key, currency).map(|minor| Money {
            minor,
            currency: currency.clone(),
        })
    };

    let customer = customer(p);
    let subscription = match event {
        Some(e) if e.subscription_status().is_some() => {
            Some(subscription(p, e, order_id.as_deref()))
        }
        _ => None,
    };
    let order = match (event, order_id.as_ref()) {
        (Some(Event::OrderSuccess), Some(id)) => Some(Order {
            id: id.clone(),
            items: order_obj.map(|o| charges(o, &money)).unwrap_or_default(),
            total: order_obj.and_then(|o| money(o, "total")),
            coupon: order_obj
                .and_then(|o| text(o, "coupon"))
                .or_else(|| text(p, "coupon")),
        }),
        (Some(Event::Refund), Some(id)) => object(p, "refund").map(|r| {
            let amount = money(r, "amount");
            Order {
                id: id.clone(),
                items: vec![Item {
                    product_id: text(r, "product_id").or_else(|| text(r, "id")),
                    product_name: text(r, "name").map(|n| decode_entities(&n)),
                    quantity: 1,
                    amount: amount.clone(),
                }],
                total: amount,
                coupon: None,
            }
        }),
        // A rebill is a payment on the original order. Pause, cancel and resume deliveries
        // still carry the original `order.total`: not revenue, so no order.
        (Some(Event::SubscriptionPayment), Some(id)) => object(p, "subscription").map(|s| {
            let amount = money(s, "amount");
            Order {
                id: id.clone(),
                items: vec![Item {
                    product_id: text(s, "product_id").or_else(|| text(s, "id")),
                    product_name: text(s, "name").map(|n| decode_entities(&n)),
                    quantity: 1,
                    amount: amount.clone(),
                }],
                total: amount,
                coupon: None,
            }
        }),
        _ => None,
    };
    let attributes = match event {
        Some(e) => attributes(p, e, &money),
        None => {
            let mut all = p.clone();
            all.remove(SECRET_FIELD);
            all
        }
    };

    Ok(Normalized {
        kind: event.map_or(EventKind::Unknown, Event::kind),
        source_event: name.clone(),
        idempotency_key: idempotency_key(&name, event, order_id.as_deref(), p),
        occurred_at: occurred_at(p, event),
        test: text(p, "mode").is_some_and(|m| m.eq_ignore_ascii_case("test"))
            || text(p, "mode_int").as_deref() == Some("1"),
        customer,
        order,
        subscription,
        message: None,
        attributes,
    })
}

/// The idempotency key (SUMMARY §1): `event_id` when ThriveCart sends one, otherwise
/// - `order.success`: `event:order_id`;
/// - `order.subscription_payment`: `event:order_id:item:invoice` (the rebill invoice
///   `000000141-6`, or the payment index);
/// - `order.rebill_failed`: the same plus the event date (a rebill can fail more than once);
/// - `order.refund`: `event:order_id:refund.type-refund.id:date_unix`;
/// - cancel, pause, resume: `event:order_id:item:date_unix`;
/// - `cart.abandoned`: `event:email:base_product:date_unix`;
/// - anything else, or a delivery missing a part: `event:` + a digest of the payload without the
///   secret word (so a secret rotation between retries keeps the key).
fn idempotency_key(
    name: &str,
    event: Option<Event>,
    order_id: Option<&str>,
    p: &Map<String, Value>,
) -> String {
    if let Some(id) = text(p, "event_id") {
        return format!("{name}:event_id:{id}");
    }
    let order = order_id.map(str::to_owned);
    let sub = object(p, "subscription");
    let item = sub.and_then(item_of);
    let date = event_date(p);
    let invoice = text(p, "invoice_id")
        .filter(|i| i.contains('-'))
        .or_else(|| sub.and_then(|s| text(s, "invoice_str")))
        .or_else(|| text(p, "recurring_payment_idx"))
        .or_else(|| sub.and_then(|s| text(s, "recurring_payment_idx")));
    let parts: Vec<Option<String>> = match event {
        Some(Event::OrderSuccess) => vec![order],
        Some(Event::SubscriptionPayment) => vec![order, item, invoice],
        Some(Event::RebillFailed) => vec![order, item, invoice, date],
        Some(Event::Refund) => {
            let refund = object(p, "refund")
                .and_then(|r| Some(format!("{}-{}", text(r, "type")?, text(r, "id")?)));
            vec![order, refund, date]
        }
        Some(
            Event::SubscriptionCancelled
            | Event::SubscriptionPaused
            | Event::SubscriptionResumed
            | Event::RebillsCompleted,
        ) => {
            let which = text(p, "subscription_id").or(item);
            vec![order, which, date]
        }
        Some(Event::CartAbandoned) => {
            let email = object(p, "customer")
                .and_then(|c| text(c, "email"))
                .map(|e| e.to_ascii_lowercase());
            vec![email, text(p, "base_product"), date]
        }
        None => vec![None],
    };
    match parts.into_iter().collect::<Option<Vec<String>>>() {
        Some(parts) => format!("{name}:{}", parts.join(":")),
        None => format!("{name}:{}", fingerprint(p)),
    }
}

/// `product-12`: the subscription's line item (`type` + `id`), as in `subscription_ids`.
fn item_of(sub: &Map<String, Value>) -> Option<String> {
    Some(format!("{}-{}", text(sub, "type")?, text(sub, "id")?))
}

/// The event's own date: top-level `date_unix` (non-order events), else `date_iso8601`/`date`.
fn event_date(p: &Map<String, Value>) -> Option<String> {
    text(p, "date_unix")
        .or_else(|| text(p, "date_iso8601"))
        .or_else(|| text(p, "date"))
}

/// When the event happened: its top-level date; for a new order, the order's time. Refunds,
/// rebills and subscription changes without a date of their own take the delivery time rather
/// than the original order's date (which they also carry), so a refund is never dated before
/// its order.
fn occurred_at(p: &Map<String, Value>, event: Option<Event>) -> Option<OffsetDateTime> {
    let own = unix(p, "date_unix").or_else(|| iso(p, "date_iso8601"));
    if own.is_some() || event != Some(Event::OrderSuccess) {
        return own;
    }
    let order = object(p, "order");
    unix(p, "order_timestamp")
        .or_else(|| order.and_then(|o| unix(o, "date_unix")))
        .or_else(|| order.and_then(|o| iso(o, "date_iso8601")))
}

fn customer(p: &Map<String, Value>) -> Customer {
    let Some(c) = object(p, "customer") else {
        return Customer {
            external_id: text(p, "customer_id"),
            ..Default::default()
        };
    };
    let name_text = |key: &str| text(c, key).map(|n| decode_entities(&n));
    let address = object(c, "address").and_then(|a| {
        let address = Address {
            line1: text(a, "line1"),
            line2: text(a, "line2"),
            city: text(a, "city"),
            state: text(a, "state"),
            postal_code: text(a, "zip"),
            country: text(a, "country").map(|c| c.to_ascii_uppercase()),
        };
        (address != Address::default()).then_some(address)
    });
    Customer {
        external_id: text(p, "customer_id").or_else(|| text(c, "id")),
        email: text(c, "email").map(|e| e.to_ascii_lowercase()),
        phone: text(c, "contactno"),
        first_name: name_text("first_name"),
        last_name: name_text("last_name"),
        // `" "` when the checkout collected no name: absent.
        name: name_text("name"),
        company: name_text("business_name"),
        address,
    }
}

fn subscription(p: &Map<String, Value>, event: Event, order_id: Option<&str>) -> Subscription {
    let sub = object(p, "subscription");
    let item = sub.and_then(item_of);
    // ThriveCart's own subscription id when sent; else the one `subscription_ids` lists for
    // the item; else the item within its order (stable and unique per order).
    let id = text(p, "subscription_id")
        .or_else(|| {
            let item = item.as_ref()?;
            object(p, "subscription_ids").and_then(|ids| text(ids, item))
        })
        .or_else(|| {
            let order = order_id?;
            Some(match &item {
                Some(item) => format!("{order}/{item}"),
                None => order.to_owned(),
            })
        })
        .unwrap_or_default();
    let next_charge_at = sub
        .and_then(|s| iso(s, "next_payment_date_iso8601").or_else(|| unix(s, "next_payment_date")));
    Subscription {
        id,
        status: event.subscription_status().map(str::to_owned),
        interval: sub.and_then(|s| text(s, "frequency")),
        next_charge_at: next_charge_at.filter(|_| event != Event::SubscriptionCancelled),
    }
}

/// Reads `<object>.<key>` as [`Money`] in the delivery's currency.
type MoneyOf<'a> = &'a dyn Fn(&Map<String, Value>, &str) -> Option<Money>;

/// The order's line items (`order[charges][n]`).
fn charges(order: &Map<String, Value>, money: MoneyOf<'_>) -> Vec<Item> {
    let list: Vec<&Map<String, Value>> = match order.get("charges") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        // Sparse indices from a form body stay an object keyed by index.
        Some(Value::Object(items)) => items.values().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(|c| Item {
            product_id: text(c, "reference"),
            product_name: text(c, "name").map(|n| decode_entities(&n)),
            quantity: text(c, "quantity")
                .and_then(|q| q.parse::<u32>().ok())
                .unwrap_or(1),
            amount: money(c, "amount"),
        })
        .collect()
}

/// Extras rules match on: products, plans, the account, payment details.
fn attributes(p: &Map<String, Value>, event: Event, money: MoneyOf<'_>) -> Map<String, Value> {
    let mut a = Map::new();
    for key in [
        "event",
        "mode",
        "thrivecart_account",
        "event_id",
        "webhook_id",
        "base_product",
        "base_product_label",
        "base_product_owner",
        "base_payment_plan",
        "order_id",
        "invoice_id",
        "subscription_id",
        "recurring_payment_idx",
        "customer_id",
        "customer_identifier",
        "affiliate",
        "purchase_map_flat",
        "order_date",
        "date",
        "pro-rata",
    ] {
        if let Some(v) = text(p, key) {
            a.insert(key.to_owned(), Value::from(v));
        }
    }
    if let Some(name) = text(p, "base_product_name") {
        a.insert(
            "base_product_name".into(),
            Value::from(decode_entities(&name)),
        );
    }
    for key in [
        "purchases",
        "purchase_map",
        "accessible_purchase_map",
        "subscription_ids",
        "subscriptions",
        "transactions",
    ] {
        if let Some(v) = p.get(key).filter(|v| !is_empty(v)) {
            a.insert(key.to_owned(), decode_value(v));
        }
    }
    if let Some(url) = object(p, "fulfillment").and_then(|f| text(f, "url")) {
        a.insert("fulfillment_url".into(), Value::from(url));
    }
    if let Some(c) = object(p, "customer") {
        for (key, attr) in [
            ("ip_address", "customer_ip_address"),
            ("origin", "customer_origin"),
            ("checkbox_confirmation", "checkbox_confirmation"),
        ] {
            if let Some(v) = text(c, key) {
                a.insert(attr.into(), Value::from(v));
            }
        }
    }
    if let Some(o) = object(p, "order") {
        for key in ["processor", "payment_method", "tracking_id", "tax_type"] {
            if let Some(v) = text(o, key) {
                a.insert(key.to_owned(), Value::from(v));
            }
        }
        // Kept for rules, but only `order.success` books it as the order's total.
        for (key, attr) in [("total", "order_total"), ("tax", "order_tax")] {
            if let Some(m) = money(o, key) {
                a.insert(format!("{attr}_minor"), Value::from(m.minor));
            }
        }
    }
    // Product ids and names involved, for per-product rules.
    let mut products: Vec<(Option<String>, Option<String>)> = Vec::new();
    match event {
        Event::OrderSuccess => {
            if let Some(o) = object(p, "order") {
                products.extend(
                    charges(o, &|_, _| None)
                        .into_iter()
                        .map(|i| (i.product_id, i.product_name)),
                );
            }
        }
        Event::Refund => {
            if let Some(r) = object(p, "refund") {
                products.push((
                    text(r, "product_id").or_else(|| text(r, "id")),
                    text(r, "name").map(|n| decode_entities(&n)),
                ));
                if let Some(t) = text(r, "type") {
                    a.insert("refund_type".into(), Value::from(t));
                }
            }
        }
        _ => {}
    }
    if let Some(s) = object(p, "subscription") {
        if event != Event::OrderSuccess && event != Event::Refund {
            products.push((
                text(s, "product_id").or_else(|| text(s, "id")),
                text(s, "name").map(|n| decode_entities(&n)),
            ));
        }
        for key in [
            "type",
            "frequency",
            "frequency_days",
            "remaining_rebills",
            "billing_period_end_iso8601",
            "next_payment_date_iso8601",
            "invoice_str",
        ] {
            if let Some(v) = text(s, key) {
                a.insert(format!("subscription_{key}"), Value::from(v));
            }
        }
        if let Some(m) = money(s, "amount") {
            a.insert("subscription_amount_minor".into(), Value::from(m.minor));
        }
    }
    if products.is_empty()
        && let Some(base) = text(p, "base_product")
    {
        products.push((
            Some(base),
            text(p, "base_product_name").map(|n| decode_entities(&n)),
        ));
    }
    let ids: Vec<Value> = products
        .iter()
        .filter_map(|(id, _)| id.clone().map(Value::from))
        .collect();
    let names: Vec<Value> = products
        .iter()
        .filter_map(|(_, name)| name.clone().map(Value::from))
        .collect();
    if !ids.is_empty() {
        a.insert("product_ids".into(), Value::Array(ids));
    }
    if !names.is_empty() {
        a.insert("product_names".into(), Value::Array(names));
    }
    if let Some(currency) = text(p, "currency") {
        a.insert(
            "currency".into(),
            Value::from(currency.to_ascii_uppercase()),
        );
    }
    a
}

fn object<'a>(p: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    p.get(key).and_then(Value::as_object)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == "null",
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// A text field: strings (empty, blank and `"null"` are absent), numbers and booleans as text.
fn text(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(_) => form::text(p, key).map(str::to_owned),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An amount in minor units: `"4900"` as sent; a decimal there, or only the `<key>_str`
/// sibling (`"49.00"`), is converted exactly.
fn minor(m: &Map<String, Value>, key: &str, currency: &str) -> Option<i64> {
    let raw = text(m, key);
    if let Some(v) = raw.as_deref().and_then(|s| s.parse::<i64>().ok()) {
        return Some(v);
    }
    raw.as_deref()
        .filter(|s| s.contains('.'))
        .and_then(|s| to_minor(s, currency))
        .or_else(|| text(m, &format!("{key}_str")).and_then(|s| to_minor(&s, currency)))
}

fn unix(p: &Map<String, Value>, key: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(text(p, key)?.parse().ok()?).ok()
}

fn iso(p: &Map<String, Value>, key: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(&text(p, key)?, &Rfc3339).ok()
}

/// ThriveCart HTML-escapes some names (`Mobile &amp; Universal App Pro`).
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#039;", "'")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn decode_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::from(decode_entities(s)),
        Value::Array(items) => Value::Array(items.iter().map(decode_value).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), decode_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A digest of the payload's content without the secret word, independent of key order and of
/// form/JSON typing: for events that have no natural key.
fn fingerprint(p: &Map<String, Value>) -> String {
    relay_ingest::idempotency::fingerprint(p, &[SECRET_FIELD])
}

#[cfg(test)]
mod tests;
