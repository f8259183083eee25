//! Gumroad: "Ping" and resource-subscription webhooks (reference/storefronts/gumroad.md).
//!
//! - **Verification**: Gumroad signs nothing, so the hook URL carries a long random token
//!   (`POST /hooks/<connection>?token=<secret>`), compared in constant time against the
//!   connection's current and previous secrets.
//! - **Body**: `application/x-www-form-urlencoded` as HTTParty builds it (percent-encoded brackets
//!   `card%5Bvisual%5D`, `purchase_ids[]` arrays, every value a string, `""` for nil), or JSON for
//!   subscriptions whose URL is on `zapier.com`. The content type is trusted, and a body starting
//!   with `{` is read as JSON whatever it says.
//! - **Events**: `resource_name` ∈ `sale`, `refund`, `dispute`, `dispute_won` (purchase family:
//!   `email`, `sale_id`, `price`...) and `cancellation`, `subscription_updated`,
//!   `subscription_ended`, `subscription_restarted` (subscription family: `user_email`,
//!   `subscription_id`, an event timestamp). The Settings page's "Send test ping" posts the latest
//!   sale with `test=true` and no `resource_name`: a [`EventKind::Ping`]. Unknown names are
//!   published as [`EventKind::Unknown`] with the whole payload in `attributes`.
//! - **Money**: `price` (and `gumroad_fee`, `shipping_rate`, ...) is **USD cents** whatever
//!   `currency` says; `currency` is the product's price currency, kept as an attribute.
//! - **Idempotency** (reference §5c): `<sale_id>:<resource_name>` for the purchase family (a
//!   refund reuses the sale's `sale_id`), `<subscription_id>:<resource_name>:<timestamp>` for the
//!   subscription family. Retries add `retry_count`, which never takes part in a key.

pub use relay_ingest::form::parse_body;
use std::time::Duration;

use relay_contracts::event::{Address, Customer, Item, Money, Order, Subscription};
use relay_contracts::{EventKind, Source};
use relay_ingest::form;
use relay_ingest::{
    ConnectionContext, Delivery, Normalized, ParseError, Storefront, Unverified, Verified,
    VerifyError,
};
use secrecy::SecretString;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The currency of every Gumroad ping amount (`price_cents` is stored in USD cents).
pub const AMOUNT_CURRENCY: &str = "USD";

/// The field Gumroad adds to retried deliveries (1, 2, 3). Never part of an idempotency key.
pub const RETRY_FIELD: &str = "retry_count";

/// Kind of `dispute_won`: the dispute was decided for the seller (the full purchase rides
/// along: customer, order, `attributes.resource_name = "dispute_won"`).
const DISPUTE_WON_KIND: EventKind = EventKind::OrderDisputeWon;

/// Kind of `subscription_updated` (plan upgrade or downgrade only, no payment), with the
/// subscription, the change (`attributes.change`) and both plans.
const SUBSCRIPTION_UPDATED_KIND: EventKind = EventKind::SubscriptionUpdated;

/// The Gumroad storefront.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gumroad;

/// The `ingest-gumroad` binary's configuration: [`IngestConfig`] defaulting to ports 8081 (webhooks) and 9081 (admin).
pub type GumroadConfig = relay_ingest::StorefrontConfig<Gumroad>;

impl Storefront for Gumroad {
    const SOURCE: Source = Source::Gumroad;
    const PORTS: (u16, u16) = (8081, 9081);

    /// Gumroad retries only on 499/500/502/503/504, at most three times, 1, 3 and 10 minutes
    /// after each failure: about 14 minutes from the first attempt, rounded up.
    const RETRY_HORIZON: Duration = Duration::from_secs(15 * 60);

    fn verify(
        &self,
        d: Delivery<Unverified>,
        secrets: &[SecretString],
    ) -> Result<Delivery<Verified>, VerifyError> {
        relay_ingest::verify::url_token(d, secrets)
    }

    fn normalize(
        &self,
        d: &Delivery<Verified>,
        _: &ConnectionContext,
    ) -> Result<Normalized, ParseError> {
        let payload = parse_body(d.header("content-type"), &d.body)?;
        normalize_payload(&payload, d.received_at)
    }
}

/// Gumroad's `resource_name`s (`ResourceSubscription::VALID_RESOURCE_NAMES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resource {
    Sale,
    Refund,
    Dispute,
    DisputeWon,
    Cancellation,
    SubscriptionUpdated,
    SubscriptionEnded,
    SubscriptionRestarted,
}

impl Resource {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "sale" => Self::Sale,
            "refund" => Self::Refund,
            "dispute" => Self::Dispute,
            "dispute_won" => Self::DisputeWon,
            "cancellation" => Self::Cancellation,
            "subscription_updated" => Self::SubscriptionUpdated,
            "subscription_ended" => Self::SubscriptionEnded,
            "subscription_restarted" => Self::SubscriptionRestarted,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Sale => "sale",
            Self::Refund => "refund",
            Self::Dispute => "dispute",
            Self::DisputeWon => "dispute_won",
            Self::Cancellation => "cancellation",
            Self::SubscriptionUpdated => "subscription_updated",
            Self::SubscriptionEnded => "subscription_ended",
            Self::SubscriptionRestarted => "subscription_restarted",
        }
    }

    /// The subscription family's own timestamp (part of its idempotency key), `None` for the
    /// purchase family.
    fn timestamp_field(self) -> Option<&'static str> {
        match self {
            Self::Cancellation => Some("cancelled_at"),
            Self::SubscriptionUpdated => Some("effective_as_of"),
            Self::SubscriptionEnded => Some("ended_at"),
            Self::SubscriptionRestarted => Some("restarted_at"),
            Self::Sale | Self::Refund | Self::Dispute | Self::DisputeWon => None,
        }
    }
}

/// Normalises a parsed Gumroad payload. `received_at` bounds `occurred_at`: Gumroad's
/// subscription timestamps can lie in the future (`cancelled_at` is when access ends).
pub fn normalize_payload(
    p: &Map<String, Value>,
    received_at: OffsetDateTime,
) -> Result<Normalized, ParseError> {
    match text(p, "resource_name") {
        // "Send test ping": the latest sale, `test=true`, no `resource_name`.
        None => purchase_event(None, p, received_at),
        Some(name) => match Resource::parse(&name) {
            Some(r) if r.timestamp_field().is_some() => subscription_event(r, p, received_at),
            Some(r) => purchase_event(Some(r), p, received_at),
            None => unknown_event(&name, p),
        },
    }
}

/// `sale`, `refund`, `dispute`, `dispute_won`, and the test ping (`resource: None`).
fn purchase_event(
    resource: Option<Resource>,
    p: &Map<String, Value>,
    received_at: OffsetDateTime,
) -> Result<Normalized, ParseError> {
    let sale_id = text(p, "sale_id");
    let (kind, source_event) = match resource {
        None => (EventKind::Ping, "test_ping"),
        Some(Resource::Sale) if form::flag(p, "is_recurring_charge") => {
            (EventKind::SubscriptionRenewed, "sale")
        }
        Some(Resource::Sale) => (EventKind::OrderPaid, "sale"),
        Some(Resource::Refund) => (EventKind::OrderRefunded, "refund"),
        Some(Resource::Dispute) => (EventKind::OrderDisputed, "dispute"),
        Some(Resource::DisputeWon) => (DISPUTE_WON_KIND, "dispute_won"),
        // The subscription family is routed to `subscription_event` before this.
        Some(r) => (EventKind::Unknown, r.as_str()),
    };
    let idempotency_key = match (&sale_id, resource) {
        (Some(id), _) => format!("{id}:{source_event}"),
        // A test ping of an account without sales must still answer the setup check.
        (None, None) => format!("{source_event}:{}", fingerprint(p)),
        (None, Some(_)) => return Err(ParseError::Missing { field: "sale_id" }),
    };
    let shadowed = shadowed_core_fields(p);
    let price = match cents(p, "price") {
        Ok(v) => v,
        // A custom checkout field called "price" overwrote the real one (reference §5a).
        Err(_) if shadowed.iter().any(|f| f == "price") => None,
        Err(e) => return Err(e),
    };
    let usd = |minor: i64| Money {
        minor,
        currency: AMOUNT_CURRENCY.to_owned(),
    };
    let sale_timestamp = text(p, "sale_timestamp");
    // A sale happened at `sale_timestamp`. Refund and dispute pings repeat the *sale's*
    // timestamp and carry none of their own, so they take the time Relay received them (always
    // after the sale), which keeps a refund that overtook its sale ordered after it.
    let occurred_at = match resource {
        None | Some(Resource::Sale) => sale_timestamp
            .as_deref()
            .and_then(parse_time)
            .map(|t| t.min(received_at)),
        Some(_) => None,
    };

    let name = text(p, "full_name");
    let (first_name, last_name) = split_name(name.as_deref());
    let customer = Customer {
        external_id: text(p, "purchaser_id"),
        email: text(p, "email").map(|e| e.to_ascii_lowercase()),
        phone: None,
        first_name,
        last_name,
        name,
        company: None,
        address: address(p),
    };
    let order = sale_id.as_ref().map(|id| {
        let quantity = text(p, "quantity")
            .and_then(|q| q.parse::<u32>().ok())
            .unwrap_or(1);
        Order {
            id: id.clone(),
            items: vec![Item {
                product_id: text(p, "product_id"),
                product_name: text(p, "product_name"),
                quantity,
                amount: price.map(usd),
            }],
            total: price.map(usd),
            coupon: text(p, "offer_code"),
        }
    });
    let subscription = text(p, "subscription_id").map(|id| Subscription {
        id,
        status: (kind == EventKind::SubscriptionRenewed).then(|| "active".to_owned()),
        interval: text(p, "recurrence"),
        next_charge_at: None,
    });

    let mut attributes = Map::new();
    attributes.insert("resource_name".into(), Value::from(source_event));
    copy_text(
        p,
        &mut attributes,
        &[
            "sale_id",
            "seller_id",
            "product_id",
            "product_name",
            "permalink",
            "product_permalink",
            "short_product_id",
            "order_number",
            "sale_timestamp",
            "purchaser_id",
            "subscription_id",
            "recurrence",
            "offer_code",
            "referrer",
            "license_key",
            "ip_country",
            "affiliate",
            "gifter_email",
            "sku_id",
            "original_sku_id",
        ],
    );
    if let Some(currency) = text(p, "currency") {
        attributes.insert(
            "product_currency".into(),
            Value::from(currency.to_ascii_uppercase()),
        );
    }
    if let Some(q) = text(p, "quantity").and_then(|q| q.parse::<u32>().ok()) {
        attributes.insert("quantity".into(), Value::from(q));
    }
    for key in [
        "test",
        "refunded",
        "disputed",
        "dispute_won",
        "can_contact",
        "is_recurring_charge",
        "is_preorder_authorization",
        "is_gift_receiver_purchase",
        "is_multiseat_license",
        "discover_fee_charged",
    ] {
        if p.contains_key(key) {
            attributes.insert(key.into(), Value::from(form::flag(p, key)));
        }
    }
    if let Some(price) = price {
        attributes.insert("price_cents".into(), Value::from(price));
    }
    for (key, attr) in [
        ("gumroad_fee", "gumroad_fee_cents"),
        ("shipping_rate", "shipping_rate_cents"),
        ("gift_price", "gift_price_cents"),
        (
            "affiliate_credit_amount_cents",
            "affiliate_credit_amount_cents",
        ),
    ] {
        // Secondary amounts never fail a delivery; a garbled one is left out.
        if let Ok(Some(v)) = cents(p, key) {
            attributes.insert(attr.into(), Value::from(v));
        }
    }
    for key in ["variants", "url_params"] {
        if let Some(v) = non_empty_object(p, key) {
            attributes.insert(key.into(), v);
        }
    }
    insert_custom_fields(p, &mut attributes);
    if !shadowed.is_empty() {
        attributes.insert("shadowed_fields".into(), Value::from(shadowed));
    }

    Ok(Normalized {
        kind,
        source_event: source_event.to_owned(),
        idempotency_key,
        occurred_at,
        // The test ping is a test by definition; a seller buying their own product sets `test`.
        test: resource.is_none() || form::flag(p, "test"),
        customer,
        order,
        subscription,
        message: None,
        attributes,
    })
}

/// `cancellation`, `subscription_updated`, `subscription_ended`, `subscription_restarted`.
fn subscription_event(
    resource: Resource,
    p: &Map<String, Value>,
    received_at: OffsetDateTime,
) -> Result<Normalized, ParseError> {
    let subscription_id = text(p, "subscription_id").ok_or(ParseError::Missing {
        field: "subscription_id",
    })?;
    let name = resource.as_str();
    let ts_field = resource.timestamp_field().unwrap_or("created_at");
    let timestamp = text(p, ts_field);
    let idempotency_key = match &timestamp {
        Some(ts) => format!("{subscription_id}:{name}:{ts}"),
        // Not seen in Gumroad's code, but an event without its timestamp is still authentic:
        // key it on its content (retries resend the same params plus `retry_count`).
        None => format!("{subscription_id}:{name}:{}", fingerprint(p)),
    };
    // `cancelled_at` and `effective_as_of` may be in the future (when access ends, when a
    // downgrade applies): the event itself happened no later than its delivery.
    let occurred_at = timestamp
        .as_deref()
        .and_then(parse_time)
        .map(|t| t.min(received_at));
    let (kind, status) = match resource {
        Resource::Cancellation => (EventKind::SubscriptionCancelled, "cancelled"),
        Resource::SubscriptionEnded => (EventKind::SubscriptionEnded, "ended"),
        Resource::SubscriptionRestarted => (EventKind::SubscriptionResumed, "active"),
        _ => (SUBSCRIPTION_UPDATED_KIND, "active"),
    };
    let new_plan = p.get("new_plan").and_then(Value::as_object);
    let interval = new_plan
        .and_then(|plan| text(plan, "recurrence"))
        .or_else(|| text(p, "recurrence"));
    let customer = Customer {
        external_id: text(p, "user_id"),
        email: text(p, "user_email").map(|e| e.to_ascii_lowercase()),
        ..Default::default()
    };

    let mut attributes = Map::new();
    attributes.insert("resource_name".into(), Value::from(name));
    copy_text(
        p,
        &mut attributes,
        &[
            "subscription_id",
            "product_id",
            "product_name",
            "user_id",
            "created_at",
            "charge_occurrence_count",
            "recurrence",
            "free_trial_ends_at",
            "license_key",
            "cancelled_at",
            "ended_at",
            "ended_reason",
            "restarted_at",
            "effective_as_of",
        ],
    );
    if let Some(change) = text(p, "type") {
        attributes.insert("change".into(), Value::from(change));
    }
    if let Some(Value::Array(ids)) = p.get("purchase_ids") {
        let ids: Vec<Value> = ids
            .iter()
            .filter(|v| v.as_str().is_none_or(|s| !s.is_empty()))
            .cloned()
            .collect();
        attributes.insert("purchase_ids".into(), Value::Array(ids));
    }
    if resource == Resource::Cancellation {
        let by = [
            ("cancelled_by_buyer", "buyer"),
            ("cancelled_by_seller", "seller"),
            ("cancelled_by_admin", "admin"),
            ("cancelled_due_to_payment_failures", "payment_failures"),
        ]
        .into_iter()
        .find(|(flag, _)| form::flag(p, flag))
        .map(|(_, by)| by);
        if let Some(by) = by {
            attributes.insert("cancelled_by".into(), Value::from(by));
        }
    }
    for key in ["old_plan", "new_plan"] {
        if let Some(plan) = p.get(key).and_then(Value::as_object) {
            attributes.insert(key.into(), Value::Object(plan.clone()));
            if let Ok(Some(price)) = cents(plan, "price_cents") {
                attributes.insert(format!("{key}_price_cents"), Value::from(price));
            }
        }
    }
    insert_custom_fields(p, &mut attributes);

    Ok(Normalized {
        kind,
        source_event: name.to_owned(),
        idempotency_key,
        occurred_at,
        test: form::flag(p, "test"),
        customer,
        order: None,
        subscription: Some(Subscription {
            id: subscription_id,
            status: Some(status.to_owned()),
            interval,
            next_charge_at: None,
        }),
        message: None,
        attributes,
    })
}

/// A `resource_name` Gumroad added after this was written: authentic, so published as
/// `unknown` with the whole payload for rules to see, keyed on its content.
fn unknown_event(name: &str, p: &Map<String, Value>) -> Result<Normalized, ParseError> {
    let email = text(p, "email").or_else(|| text(p, "user_email"));
    let customer = Customer {
        external_id: text(p, "purchaser_id").or_else(|| text(p, "user_id")),
        email: email.map(|e| e.to_ascii_lowercase()),
        name: text(p, "full_name"),
        ..Default::default()
    };
    let mut attributes = p.clone();
    attributes.remove(RETRY_FIELD);
    Ok(Normalized {
        kind: EventKind::Unknown,
        source_event: name.to_owned(),
        idempotency_key: format!("{name}:{}", fingerprint(p)),
        occurred_at: None,
        test: form::flag(p, "test"),
        customer,
        order: None,
        subscription: None,
        message: None,
        attributes,
    })
}

/// A text field of either body type: strings (empty and `"null"` are absent), numbers and
/// booleans as their text.
fn text(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(_) => form::text(p, key).map(str::to_owned),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An integer amount in cents: `"1000"` (form) or `1000` (JSON); empty is absent.
fn cents(p: &Map<String, Value>, key: &'static str) -> Result<Option<i64>, ParseError> {
    let invalid = |reason: String| ParseError::Invalid { field: key, reason };
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{n} is not a whole number of cents"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| invalid(format!("{s:?} is not a whole number of cents"))),
        Some(other) => Err(invalid(format!("unexpected {other}"))),
    }
}

/// Copies the listed text fields that are present.
fn copy_text(p: &Map<String, Value>, into: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(v) = text(p, key) {
            into.insert((*key).to_owned(), Value::from(v));
        }
    }
}

fn non_empty_object(p: &Map<String, Value>, key: &str) -> Option<Value> {
    match p.get(key)? {
        Value::Object(m) if !m.is_empty() => Some(Value::Object(m.clone())),
        _ => None,
    }
}

/// The payload keys Gumroad itself sets; a custom checkout field with one of these names
/// overwrites it at the top level (`payload[field[:name]] = field[:value]`).
const CORE_FIELDS: &[&str] = &[
    "email",
    "price",
    "full_name",
    "quantity",
    "currency",
    "sale_id",
    "product_id",
    "product_name",
    "purchaser_id",
    "subscription_id",
    "sale_timestamp",
    "test",
    "resource_name",
];

/// Core fields that a custom checkout field of the same name has overwritten.
fn shadowed_core_fields(p: &Map<String, Value>) -> Vec<String> {
    custom_fields(p)
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| CORE_FIELDS.contains(&name.as_str()))
        .collect()
}

/// The custom checkout fields by display name. Gumroad percent-encodes `[`/`]` in field names
/// before HTTParty encodes them again, so after one decode they read `%5B`/`%5D`; names with
/// literal brackets that did not nest (`custom_fields[Size [EU]]`) are picked up too.
fn custom_fields(p: &Map<String, Value>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Some(Value::Object(fields)) = p.get("custom_fields") {
        out.extend(
            fields
                .iter()
                .map(|(k, v)| (unescape_brackets(k), v.clone())),
        );
    }
    for (k, v) in p {
        if let Some(name) = k
            .strip_prefix("custom_fields[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            out.push((unescape_brackets(name), v.clone()));
        }
    }
    out
}

fn insert_custom_fields(p: &Map<String, Value>, attributes: &mut Map<String, Value>) {
    let fields: Map<String, Value> = custom_fields(p).into_iter().collect();
    if !fields.is_empty() {
        attributes.insert("custom_fields".into(), Value::Object(fields));
    }
}

fn unescape_brackets(name: &str) -> String {
    name.replace("%5B", "[")
        .replace("%5b", "[")
        .replace("%5D", "]")
        .replace("%5d", "]")
}

/// The shipping address, sent only for products that need shipping: under
/// `shipping_information[...]` and merged at the top level.
fn address(p: &Map<String, Value>) -> Option<Address> {
    let source = p
        .get("shipping_information")
        .and_then(Value::as_object)
        .unwrap_or(p);
    let a = Address {
        line1: text(source, "street_address"),
        line2: None,
        city: text(source, "city"),
        state: text(source, "state"),
        postal_code: text(source, "zip_code"),
        // Gumroad sends the country's name ("Germany"), not its ISO code.
        country: text(source, "country"),
    };
    (a != Address::default()).then_some(a)
}

/// Gumroad sends one `full_name`; the first word is taken as the first name.
fn split_name(name: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(name) = name else {
        return (None, None);
    };
    let mut parts = name.split_whitespace();
    let first = parts.next().map(str::to_owned);
    let rest: Vec<&str> = parts.collect();
    (first, (!rest.is_empty()).then(|| rest.join(" ")))
}

/// Rails `as_json` times (`2025-03-14T09:26:53.512Z`), and Ruby's `Time#to_s`
/// (`2025-03-14 09:26:53 UTC`), which a form-encoded time object would carry.
fn parse_time(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let utc = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix(" +0000"))?;
    let iso = format!("{}Z", utc.replacen(' ', "T", 1));
    OffsetDateTime::parse(&iso, &Rfc3339).ok()
}

/// A digest of the payload's content without `retry_count`, stable across Gumroad's retries
/// and independent of key order: for events that have no natural key.
fn fingerprint(p: &Map<String, Value>) -> String {
    relay_ingest::idempotency::fingerprint(p, &[RETRY_FIELD])
}

#[cfg(test)]
mod tests;
