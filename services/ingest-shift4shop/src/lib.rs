//! Shift4Shop (formerly 3dcart) webhook ingest (reference/storefronts/shift4shop.md).
//!
//! Shift4Shop's delivered webhook is **not documented**: no signature, no event name in the
//! body, no documented headers or retries. What this service relies on:
//!
//! - **Authentication** by an unguessable URL token, `?token=<secret>` (constant-time, the
//!   previous token accepted during a rotation). Treat the content as an authenticated
//!   *trigger*: the mapper can re-read the order or customer through the REST API.
//! - **Which webhook fired**: Shift4Shop has one webhook per event kind, so give each its own
//!   URL with `&event=customer_new`, `&event=order_new` or `&event=order_status_change`
//!   (`Order Status Changed`, `OrderNew`, ... are accepted too). Without it the kind is inferred
//!   from the body (see [`Hook`]).
//! - **Body**: JSON or XML (per webhook `Format`), sniffed from the bytes as well as the
//!   `Content-Type`; one Order or Customer object in the REST API's field naming, bare, in an
//!   array, or in a wrapper element. The raw body is kept in RAW as received.
//! - **Money**: decimal numbers in the store's currency. Orders carry no currency code, so a
//!   currency field in the body (`CurrencyCode`, `Currency`, ...) is used when present, else
//!   **USD** (the attribute `currency_assumed` says so).
//! - **Time**: `OrderDate`/`LastUpdate` are store-local without an offset; they are read in the
//!   connection's `timezone` (UTC when none is configured).

mod body;

use std::fmt;

use relay_contracts::event::{Address, Customer, Item, Money, Order};
use relay_contracts::{EventKind, Source};
use relay_ingest::money::json_to_minor;
use relay_ingest::{
    ConnectionContext, Delivery, Normalized, ParseError, Storefront, Unverified, Verified,
    VerifyError,
};
use secrecy::SecretString;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The query parameter naming the webhook's event (`?token=...&event=order_new`).
pub const EVENT_PARAM: &str = "event";

/// The currency assumed for stores whose deliveries carry none.
pub const DEFAULT_CURRENCY: &str = "USD";

/// The Shift4Shop storefront.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shift4shop;

/// The `ingest-shift4shop` binary's configuration: [`IngestConfig`] defaulting to ports 8084 (webhooks) and 9084 (admin).
pub type Shift4shopConfig = relay_ingest::StorefrontConfig<Shift4shop>;

impl Storefront for Shift4shop {
    const SOURCE: Source = Source::Shift4shop;
    const PORTS: (u16, u16) = (8084, 9084);

    /// Shift4Shop signs nothing: the URL token is the authentication.
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
        connection: &ConnectionContext,
    ) -> Result<Normalized, ParseError> {
        let tree = body::parse(&d.body, d.header("content-type"))?;
        let named = d.query.as_deref().and_then(event_param).map(Hook::parse);
        normalize_tree(&tree, named, &d.body, connection.timezone.as_deref())
    }
}

/// The `event` query parameter, if any.
fn event_param(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == EVENT_PARAM)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The Shift4Shop webhook that fired.
///
/// Named by `?event=` (case, spaces, `-` and `_` do not matter). Without it: a body with an
/// `OrderID` is an Order New when its `OrderStatusID` is 1 (New) or absent, else an Order Status
/// Change; one with a `CustomerID` but no `OrderID` a Customer New; one with a `CatalogID` a
/// product event. Products and unrecognised names are published as [`EventKind::Unknown`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hook {
    CustomerNew,
    OrderNew,
    OrderStatusChange,
    /// Any other webhook (Product New/Changed/Deleted/Stock Changed, ...), by snake_case name.
    Other(String),
}

impl Hook {
    /// Reads an `event` parameter value.
    pub fn parse(name: impl AsRef<str>) -> Self {
        let name = name.as_ref();
        let squashed: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match squashed.as_str() {
            "customernew" | "newcustomer" | "customercreated" => Hook::CustomerNew,
            "ordernew" | "neworder" | "ordercreated" => Hook::OrderNew,
            "orderstatuschange" | "orderstatuschanged" | "orderstatus" | "statuschange" => {
                Hook::OrderStatusChange
            }
            _ => Hook::Other(snake_case(name)),
        }
    }

    /// The source event name (`order_status_change`).
    pub fn as_str(&self) -> &str {
        match self {
            Hook::CustomerNew => "customer_new",
            Hook::OrderNew => "order_new",
            Hook::OrderStatusChange => "order_status_change",
            Hook::Other(name) => name,
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Product Stock-Changed` → `product_stock_changed` (bounded, ASCII only).
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().take(64) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.is_empty() {
        "unknown".to_owned()
    } else {
        out
    }
}

/// Shift4Shop's default order statuses (`OrderStatusID`, per the SkuVault client enum). Stores
/// can rename them, and 8–10 are the store's custom statuses.
fn status_name(id: u32) -> Option<&'static str> {
    Some(match id {
        1 => "New",
        2 => "Processing",
        3 => "Partial",
        4 => "Shipped",
        5 => "Cancel",
        6 => "Hold",
        7 => "Not Completed",
        8 => "Custom1",
        9 => "Custom2",
        10 => "Custom3",
        11 => "Unpaid",
        12 => "Review",
        _ => return None,
    })
}

/// The kind of an order event by its status (the same table for Order New and Order Status
/// Change; `source_event` tells them apart):
///
/// | `OrderStatusID` | kind |
/// |---|---|
/// | 1 New, 2 Processing, 3 Partial, 4 Shipped | `order.paid` (placed and paid, or paid since) |
/// | 5 Cancel | `order.refunded` (Relay has no separate cancelled kind) |
/// | 7 Not Completed | `cart.abandoned` (checkout started, payment never completed) |
/// | 6 Hold, 8–10 custom, 11 Unpaid, 12 Review, others | `unknown` (published for rules) |
///
/// An Order New without a status counts as paid; an Order Status Change without one is unknown.
fn order_kind(hook: &Hook, status: Option<u32>) -> EventKind {
    match status {
        Some(1..=4) => EventKind::OrderPaid,
        Some(5) => EventKind::OrderRefunded,
        Some(7) => EventKind::CartAbandoned,
        None if *hook == Hook::OrderNew => EventKind::OrderPaid,
        _ => EventKind::Unknown,
    }
}

/// Which resource a record is, and the markers it is found by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resource {
    Order,
    Customer,
    Product,
}

/// Normalises a parsed body. `named` is the `?event=` hook, `raw` the body (for the fallback
/// idempotency key), `timezone` the connection's IANA zone.
fn normalize_tree(
    tree: &Value,
    named: Option<Hook>,
    raw: &[u8],
    timezone: Option<&str>,
) -> Result<Normalized, ParseError> {
    let markers: &[&str] = match &named {
        Some(Hook::OrderNew | Hook::OrderStatusChange) => &["OrderID"],
        Some(Hook::CustomerNew) => &["CustomerID", "Email"],
        Some(Hook::Other(_)) | None => &["OrderID", "CustomerID", "CatalogID", "SKUInfo"],
    };
    let records = body::records(tree, markers);
    let record = match records.as_slice() {
        [one] => *one,
        [] => match named {
            // An authentic delivery of a webhook Relay does not know: published as-is.
            Some(hook @ Hook::Other(_)) => return unknown(&hook, tree, None, raw, timezone),
            Some(Hook::CustomerNew) => {
                return Err(ParseError::Missing {
                    field: "CustomerID",
                });
            }
            _ => return Err(ParseError::Missing { field: "OrderID" }),
        },
        many => {
            return Err(ParseError::Invalid {
                field: "body",
                reason: format!("{} resources in one delivery; expected one", many.len()),
            });
        }
    };
    let resource = if body::get(record, "OrderID").is_some() {
        Resource::Order
    } else if body::get(record, "CustomerID").is_some() || body::get(record, "Email").is_some() {
        Resource::Customer
    } else {
        Resource::Product
    };
    let inferred = named.is_none();
    let hook = match named {
        Some(hook) => hook,
        None => match resource {
            Resource::Order => match status(record) {
                Some(1) | None => Hook::OrderNew,
                Some(_) => Hook::OrderStatusChange,
            },
            Resource::Customer => Hook::CustomerNew,
            Resource::Product => Hook::Other("product".into()),
        },
    };
    let mut n = match &hook {
        Hook::OrderNew | Hook::OrderStatusChange => order(&hook, record, timezone)?,
        Hook::CustomerNew => customer_new(record, timezone)?,
        Hook::Other(_) => unknown(&hook, tree, Some(record), raw, timezone)?,
    };
    if inferred {
        n.attributes
            .insert("event_inferred".into(), Value::Bool(true));
    }
    Ok(n)
}

fn status(record: &Map<String, Value>) -> Option<u32> {
    body::text(record, "OrderStatusID")?.parse().ok()
}

/// An id field; `0` (a guest checkout's `CustomerID`) is absent.
fn id(record: &Map<String, Value>, key: &str) -> Option<String> {
    body::text(record, key).filter(|v| v != "0")
}

/// `key=value` parts of an idempotency key, for the present fields.
fn key_parts(record: &Map<String, Value>, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter_map(|k| body::text(record, k).map(|v| format!("{k}={v}")))
        .collect()
}

/// The store currency: a currency field in the delivery when present, else [`DEFAULT_CURRENCY`].
fn currency(record: &Map<String, Value>) -> (String, bool) {
    let found = body::first_text(
        record,
        &["CurrencyCode", "Currency", "StoreCurrency", "OrderCurrency"],
    )
    .filter(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()));
    match found {
        Some(c) => (c.to_ascii_uppercase(), false),
        None => (DEFAULT_CURRENCY.to_owned(), true),
    }
}

/// Order New / Order Status Change.
///
/// Idempotency key (SUMMARY.md §1): `<hook>/OrderID=<id>/OrderStatusID=<s>/LastUpdate=<t>`, so
/// every status change is its own event and a redelivery of one is the same event.
fn order(
    hook: &Hook,
    record: &Map<String, Value>,
    timezone: Option<&str>,
) -> Result<Normalized, ParseError> {
    let order_id = id(record, "OrderID").ok_or(ParseError::Missing { field: "OrderID" })?;
    let status = status(record);
    let kind = order_kind(hook, status);
    let (currency, currency_assumed) = currency(record);
    let money = |v: Option<&Value>| {
        let minor = json_to_minor(v?, &currency)?;
        Some(Money {
            minor,
            currency: currency.clone(),
        })
    };

    let items = body::list(record, "OrderItemList")
        .into_iter()
        .map(|item| {
            let quantity = body::text(item, "ItemQuantity")
                .and_then(|q| q.parse::<f64>().ok())
                .filter(|q| q.is_finite() && *q >= 0.0 && *q <= f64::from(u32::MAX))
                .map_or(1, |q| q.round() as u32);
            // The line: (unit price + options price) × quantity, in minor units.
            let unit = json_to_minor(
                body::get(item, "ItemUnitPrice").unwrap_or(&Value::Null),
                &currency,
            );
            let options = body::get(item, "ItemOptionPrice")
                .and_then(|v| json_to_minor(v, &currency))
                .unwrap_or(0);
            let amount = unit
                .and_then(|u| u.checked_add(options))
                .and_then(|u| u.checked_mul(i64::from(quantity)))
                .map(|minor| Money {
                    minor,
                    currency: currency.clone(),
                });
            Item {
                product_id: id(item, "CatalogID").or_else(|| body::text(item, "ItemID")),
                product_name: body::first_text(item, &["ItemDescription", "ItemName", "ItemID"]),
                quantity,
                amount,
            }
        })
        .collect();

    let shipment = body::list(record, "ShipmentList").into_iter().next();
    let email = body::text(record, "BillingEmail")
        .or_else(|| shipment.and_then(|s| body::text(s, "ShipmentEmail")))
        .map(|e| e.to_lowercase());
    let customer = Customer {
        external_id: id(record, "CustomerID"),
        email,
        phone: body::text(record, "BillingPhoneNumber")
            .or_else(|| shipment.and_then(|s| body::text(s, "ShipmentPhone"))),
        first_name: body::text(record, "BillingFirstName"),
        last_name: body::text(record, "BillingLastName"),
        name: None,
        company: body::text(record, "BillingCompany"),
        address: address(record, "Billing", "BillingAddress"),
    };

    let order = Order {
        id: order_id.clone(),
        items,
        total: money(body::get(record, "OrderAmount")),
        coupon: body::first_text(record, &["CouponCode", "PromotionCode"]),
    };

    let occurred_at = match hook {
        Hook::OrderNew => first_time(record, &["OrderDate", "LastUpdate"], timezone)?,
        _ => first_time(record, &["LastUpdate", "OrderDate"], timezone)?,
    };

    let mut attributes = Map::new();
    if let Some(s) = status {
        attributes.insert("OrderStatusID".into(), Value::from(s));
        if let Some(name) = status_name(s) {
            attributes.insert("order_status".into(), Value::from(name));
        }
    }
    let invoice = [
        body::text(record, "InvoiceNumberPrefix"),
        body::text(record, "InvoiceNumber"),
    ];
    if invoice[1].is_some() {
        attributes.insert(
            "invoice_number".into(),
            Value::from(invoice.into_iter().flatten().collect::<String>()),
        );
    }
    for key in [
        "OrderDate",
        "LastUpdate",
        "BillingPaymentMethod",
        "BillingPaymentMethodID",
        "OrderType",
        "AlternateOrderID",
        "SalesPerson",
        "Referer",
        "CustomerComments",
        "OrderDiscount",
        "SalesTax",
        "SalesTax2",
        "SalesTax3",
    ] {
        if let Some(v) = body::text(record, key) {
            attributes.insert(key.into(), Value::from(v));
        }
    }
    let tracking: Vec<Value> = body::list(record, "ShipmentList")
        .into_iter()
        .filter_map(|s| body::text(s, "ShipmentTrackingCode"))
        .map(Value::from)
        .collect();
    if !tracking.is_empty() {
        attributes.insert("tracking_codes".into(), Value::Array(tracking));
    }
    attributes.insert("currency".into(), Value::from(currency.clone()));
    if currency_assumed {
        attributes.insert("currency_assumed".into(), Value::Bool(true));
    }

    let parts = key_parts(record, &["OrderID", "OrderStatusID", "LastUpdate"]);
    Ok(Normalized {
        kind,
        source_event: hook.to_string(),
        idempotency_key: format!("{hook}/{}", parts.join("/")),
        occurred_at,
        test: false,
        customer,
        order: Some(order),
        subscription: None,
        message: body::text(record, "CustomerComments"),
        attributes,
    })
}

/// Customer New. Idempotency key (SUMMARY.md §1): `customer_new/CustomerID=<id>` (a customer
/// is new once); without an id, the e-mail address stands in.
fn customer_new(
    record: &Map<String, Value>,
    timezone: Option<&str>,
) -> Result<Normalized, ParseError> {
    let email = body::text(record, "Email").map(|e| e.to_lowercase());
    let customer_id = id(record, "CustomerID");
    let key = match (&customer_id, &email) {
        (Some(id), _) => format!("customer_new/CustomerID={id}"),
        (None, Some(email)) => format!("customer_new/Email={email}"),
        (None, None) => {
            return Err(ParseError::Missing {
                field: "CustomerID",
            });
        }
    };
    let customer = Customer {
        external_id: customer_id,
        email,
        phone: body::first_text(record, &["BillingPhoneNumber", "ShippingPhoneNumber"]),
        first_name: body::first_text(record, &["BillingFirstName", "ShippingFirstName"]),
        last_name: body::first_text(record, &["BillingLastName", "ShippingLastName"]),
        name: None,
        company: body::first_text(record, &["BillingCompany", "ShippingCompany"]),
        address: address(record, "Billing", "BillingAddress1")
            .or_else(|| address(record, "Shipping", "ShippingAddress1")),
    };
    let mut attributes = Map::new();
    for key in [
        "CustomerGroupID",
        "Enabled",
        "MailList",
        "NonTaxable",
        "BillingTaxID",
        "Comments",
        "AdditionalField1",
        "AdditionalField2",
        "AdditionalField3",
        "TotalStoreCredit",
        "LastUpdate",
    ] {
        if let Some(v) = body::text(record, key) {
            attributes.insert(key.into(), Value::from(v));
        }
    }
    Ok(Normalized {
        kind: EventKind::CustomerCreated,
        source_event: Hook::CustomerNew.to_string(),
        idempotency_key: key,
        occurred_at: first_time(record, &["DateCreated", "LastUpdate"], timezone)?,
        test: false,
        customer,
        order: None,
        subscription: None,
        message: None,
        attributes,
    })
}

/// A webhook Relay has no mapping for (products, unrecognised `event` names): published as
/// [`EventKind::Unknown`] with the resource's fields as attributes. Key:
/// `<hook>/CatalogID=<id>/LastUpdate=<t>` for products, else `<hook>/body=<SHA-256 of the body>`.
fn unknown(
    hook: &Hook,
    tree: &Value,
    record: Option<&Map<String, Value>>,
    raw: &[u8],
    timezone: Option<&str>,
) -> Result<Normalized, ParseError> {
    let catalog = record.and_then(|r| {
        id(r, "CatalogID").or_else(|| {
            body::get(r, "SKUInfo")
                .and_then(Value::as_object)
                .and_then(|s| id(s, "CatalogID"))
        })
    });
    let idempotency_key = match (catalog, record) {
        (Some(catalog), Some(r)) => {
            let mut parts = vec![format!("CatalogID={catalog}")];
            parts.extend(key_parts(r, &["LastUpdate"]));
            format!("{hook}/{}", parts.join("/"))
        }
        _ => format!("{hook}/body={}", hex::encode(Sha256::digest(raw))),
    };
    let mut attributes = match (record, tree) {
        (Some(r), _) => r.clone(),
        (None, Value::Object(m)) => m.clone(),
        (None, other) => Map::from_iter([("body".to_owned(), other.clone())]),
    };
    // A customer object has a `Password` field; it never travels further than RAW.
    attributes.retain(|k, _| !k.to_ascii_lowercase().contains("password"));
    let occurred_at = match record {
        Some(r) => first_time(r, &["LastUpdate"], timezone)?,
        None => None,
    };
    let customer = record
        .map(|r| Customer {
            email: body::first_text(r, &["Email", "BillingEmail"]).map(|e| e.to_lowercase()),
            ..Default::default()
        })
        .unwrap_or_default();
    Ok(Normalized {
        kind: EventKind::Unknown,
        source_event: hook.to_string(),
        idempotency_key,
        occurred_at,
        test: false,
        customer,
        order: None,
        subscription: None,
        message: None,
        attributes,
    })
}

/// The `<prefix>City`, `<prefix>State`, ... address, with `line1` from `line1_key` (orders use
/// `BillingAddress`, customers `BillingAddress1`).
fn address(record: &Map<String, Value>, prefix: &str, line1_key: &str) -> Option<Address> {
    let f = |name: &str| body::text(record, &format!("{prefix}{name}"));
    let address = Address {
        line1: body::text(record, line1_key),
        line2: f("Address2"),
        city: f("City"),
        state: f("State"),
        postal_code: f("ZipCode"),
        country: f("Country"),
    };
    (address != Address::default()).then_some(address)
}

/// The first of `keys` holding a date, as UTC.
fn first_time(
    record: &Map<String, Value>,
    keys: &[&str],
    timezone: Option<&str>,
) -> Result<Option<OffsetDateTime>, ParseError> {
    for key in keys {
        if let Some(s) = body::text(record, key)
            && let Some(t) = local_time(&s, timezone)?
        {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Reads a Shift4Shop date as UTC: ISO (`2026-03-14T09:26:53`, fractions and a space separator
/// allowed) or US (`03/14/2026 09:26:53`, optionally with AM/PM) store-local time in `timezone`
/// (UTC when none), or any of them with an explicit offset, which wins. `.NET`'s empty date
/// (`0001-01-01T00:00:00`) and anything unparseable give `None`. An unknown time zone is an
/// error: the delivery is kept in the DLQ until the connection's config is fixed.
fn local_time(s: &str, timezone: Option<&str>) -> Result<Option<OffsetDateTime>, ParseError> {
    let s = s.trim();
    let timestamp = if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        ts
    } else {
        let Some(civil) = civil(s) else {
            return Ok(None);
        };
        if civil.year() < 1900 {
            return Ok(None);
        }
        return relay_ingest::time::in_zone(civil, timezone);
    };
    if timestamp.as_second() < -2_208_988_800 {
        // Before 1900: a placeholder, not a date.
        return Ok(None);
    }
    Ok(relay_ingest::time::instant(timestamp))
}

fn civil(s: &str) -> Option<jiff::civil::DateTime> {
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return Some(dt);
    }
    for format in [
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %I:%M %p",
        "%m/%d/%Y %H:%M",
    ] {
        if let Ok(dt) = jiff::civil::DateTime::strptime(format, s) {
            return Some(dt);
        }
    }
    if let Ok(d) = jiff::civil::Date::strptime("%m/%d/%Y", s) {
        return Some(d.to_datetime(jiff::civil::Time::midnight()));
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
}

#[cfg(test)]
mod tests;
