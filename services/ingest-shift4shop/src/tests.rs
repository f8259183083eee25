//! Unit tests: URL-token verification, every webhook in JSON and XML normalised field by field,
//! status mapping, idempotency keys, store-local time, and arbitrary input.
//!
//! Fixtures are built from the REST object definitions in reference/storefronts/shift4shop.md
//! (`ThreeDCartOrder`, the v1 Customer): Shift4Shop publishes no webhook example.

use proptest::prelude::*;
use relay_contracts::Token;
use relay_contracts::event::{Address, Customer, Item, Money};

use super::*;

const TOKEN: &str = "s4s-url-token-3f9a";

/// An Order New as the REST API returns it: one Order object in an array.
const ORDER_NEW_JSON: &str = r#"[{
  "InvoiceNumberPrefix": "AB-", "InvoiceNumber": 1042, "OrderID": 1042, "CustomerID": 311,
  "OrderDate": "2026-03-14T09:26:53", "OrderStatusID": 1, "LastUpdate": "2026-03-14T09:27:10",
  "UserID": "", "SalesPerson": "", "ContinueURL": "", "AlternateOrderID": "", "OrderType": "",
  "PaymentTokenID": 0,
  "BillingFirstName": "Grace", "BillingLastName": "Hopper", "BillingCompany": "Navy Labs",
  "BillingAddress": "1 Harbor Rd", "BillingAddress2": "Suite 5", "BillingCity": "Arlington",
  "BillingState": "VA", "BillingZipCode": "22201", "BillingCountry": "US",
  "BillingPhoneNumber": "555-0100", "BillingEmail": "Grace.Hopper@Example.com",
  "BillingPaymentMethod": "Credit Card", "BillingOnLinePayment": true, "BillingPaymentMethodID": "1",
  "ShipmentList": [{
    "ShipmentID": 1, "ShipmentFirstName": "Grace", "ShipmentLastName": "Hopper",
    "ShipmentEmail": "", "ShipmentPhone": "555-0100", "ShipmentAddress": "1 Harbor Rd",
    "ShipmentCity": "Arlington", "ShipmentState": "VA", "ShipmentZipCode": "22201",
    "ShipmentCountry": "US", "ShipmentCost": 5, "ShipmentTrackingCode": "", "ShipmentOrderStatus": 1
  }],
  "OrderItemList": [
    {"CatalogID": 77, "ItemID": "MUG-01", "ItemDescription": "Debugging mug", "ItemQuantity": 2,
     "ItemUnitPrice": 12.5, "ItemOptionPrice": 1.25, "ItemOptions": "Color: Blue"},
    {"CatalogID": 78, "ItemID": "STICKER", "ItemDescription": "Moth sticker", "ItemQuantity": 1,
     "ItemUnitPrice": 3, "ItemOptionPrice": 0, "ItemOptions": ""}
  ],
  "OrderDiscount": 0, "SalesTax": 2.31, "SalesTax2": 0, "SalesTax3": 0, "OrderAmount": 37.81,
  "AffiliateCommission": 0,
  "TransactionList": [{"TransactionID": "ch_1", "TransactionType": "Authorize and Capture",
    "TransactionAmount": 37.81, "TransactionDateTime": "2026-03-14T09:26:55",
    "TransactionApproval": "APPROVED"}],
  "QuestionList": [], "Referer": "https://www.google.com/", "IP": "203.0.113.9",
  "CustomerComments": "Gift wrap please", "InternalComments": "", "ExternalComments": ""
}]"#;

/// The same order in Shift4Shop's XML format (.NET data-contract style, with a wrapper).
const ORDER_NEW_XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<ArrayOfOrder xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.datacontract.org/2004/07/ThreeDCartWebAPI">
  <Order>
    <InvoiceNumberPrefix>AB-</InvoiceNumberPrefix><InvoiceNumber>1042</InvoiceNumber>
    <OrderID>1042</OrderID><CustomerID>311</CustomerID>
    <OrderDate>2026-03-14T09:26:53</OrderDate><OrderStatusID>1</OrderStatusID>
    <LastUpdate>2026-03-14T09:27:10</LastUpdate>
    <UserID/><SalesPerson i:nil="true"/><AlternateOrderID/><OrderType/>
    <BillingFirstName>Grace</BillingFirstName><BillingLastName>Hopper</BillingLastName>
    <BillingCompany>Navy Labs</BillingCompany><BillingAddress>1 Harbor Rd</BillingAddress>
    <BillingAddress2>Suite 5</BillingAddress2><BillingCity>Arlington</BillingCity>
    <BillingState>VA</BillingState><BillingZipCode>22201</BillingZipCode>
    <BillingCountry>US</BillingCountry><BillingPhoneNumber>555-0100</BillingPhoneNumber>
    <BillingEmail>Grace.Hopper@Example.com</BillingEmail>
    <BillingPaymentMethod>Credit Card</BillingPaymentMethod>
    <BillingOnLinePayment>true</BillingOnLinePayment><BillingPaymentMethodID>1</BillingPaymentMethodID>
    <ShipmentList>
      <Shipment><ShipmentID>1</ShipmentID><ShipmentPhone>555-0100</ShipmentPhone>
        <ShipmentCost>5</ShipmentCost><ShipmentTrackingCode/></Shipment>
    </ShipmentList>
    <OrderItemList>
      <OrderItem><CatalogID>77</CatalogID><ItemID>MUG-01</ItemID>
        <ItemDescription>Debugging mug</ItemDescription><ItemQuantity>2</ItemQuantity>
        <ItemUnitPrice>12.50</ItemUnitPrice><ItemOptionPrice>1.25</ItemOptionPrice></OrderItem>
      <OrderItem><CatalogID>78</CatalogID><ItemID>STICKER</ItemID>
        <ItemDescription>Moth sticker</ItemDescription><ItemQuantity>1</ItemQuantity>
        <ItemUnitPrice>3.00</ItemUnitPrice><ItemOptionPrice>0</ItemOptionPrice></OrderItem>
    </OrderItemList>
    <OrderDiscount>0</OrderDiscount><SalesTax>2.31</SalesTax><SalesTax2>0</SalesTax2>
    <SalesTax3>0</SalesTax3><OrderAmount>37.81</OrderAmount>
    <Referer>https://www.google.com/</Referer>
    <CustomerComments>Gift wrap please</CustomerComments>
  </Order>
</ArrayOfOrder>"#;

/// A Customer New: one Customer object in an array.
const CUSTOMER_NEW_JSON: &str = r#"[{
  "CustomerID": 311, "Email": "Grace.Hopper@Example.com", "Password": "",
  "BillingCompany": "Navy Labs", "BillingFirstName": "Grace", "BillingLastName": "Hopper",
  "BillingAddress1": "1 Harbor Rd", "BillingAddress2": "", "BillingCity": "Arlington",
  "BillingState": "VA", "BillingZipCode": "22201", "BillingCountry": "US",
  "BillingPhoneNumber": "555-0100", "BillingTaxID": "",
  "ShippingCompany": "", "ShippingFirstName": "Grace", "ShippingLastName": "Hopper",
  "ShippingAddress1": "1 Harbor Rd", "ShippingAddress2": "", "ShippingCity": "Arlington",
  "ShippingState": "VA", "ShippingZipCode": "22201", "ShippingCountry": "US",
  "ShippingPhoneNumber": "", "ShippingAddressType": 0, "CustomerGroupID": 2, "Enabled": true,
  "MailList": true, "NonTaxable": false, "DisableBillingSameAsShipping": false, "Comments": "",
  "AdditionalField1": "ref:podcast", "AdditionalField2": "", "AdditionalField3": "",
  "TotalStoreCredit": 0, "ResetPassword": false
}]"#;

const CUSTOMER_NEW_XML: &str = r#"<Customer>
  <CustomerID>311</CustomerID><Email>Grace.Hopper@Example.com</Email><Password/>
  <BillingCompany>Navy Labs</BillingCompany><BillingFirstName>Grace</BillingFirstName>
  <BillingLastName>Hopper</BillingLastName><BillingAddress1>1 Harbor Rd</BillingAddress1>
  <BillingAddress2/><BillingCity>Arlington</BillingCity><BillingState>VA</BillingState>
  <BillingZipCode>22201</BillingZipCode><BillingCountry>US</BillingCountry>
  <BillingPhoneNumber>555-0100</BillingPhoneNumber>
  <CustomerGroupID>2</CustomerGroupID><Enabled>true</Enabled><MailList>true</MailList>
  <AdditionalField1>ref:podcast</AdditionalField1>
</Customer>"#;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn delivery(query: Option<&str>, content_type: &str, body: &str) -> Delivery<Unverified> {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_str(content_type).unwrap(),
    );
    Delivery::new(
        Token::parse("demo").unwrap(),
        h,
        query.map(str::to_owned),
        body.to_owned().into(),
    )
}

fn context(timezone: Option<&str>) -> ConnectionContext {
    ConnectionContext {
        name: Token::parse("demo").unwrap(),
        timezone: timezone.map(str::to_owned),
    }
}

/// Verifies (with [`TOKEN`]) and normalises a delivery to `?token=..[&event=<event>]`.
fn try_normalize(
    event: Option<&str>,
    content_type: &str,
    body: &str,
    timezone: Option<&str>,
) -> Result<Normalized, ParseError> {
    let query = match event {
        Some(e) => format!("token={TOKEN}&event={e}"),
        None => format!("token={TOKEN}"),
    };
    let d = Shift4shop
        .verify(delivery(Some(&query), content_type, body), &[secret(TOKEN)])
        .unwrap();
    Shift4shop.normalize(&d, &context(timezone))
}

fn normalize(event: Option<&str>, body: &str) -> Normalized {
    try_normalize(event, "application/json", body, None).unwrap()
}

fn usd(minor: i64) -> Option<Money> {
    Some(Money {
        minor,
        currency: "USD".into(),
    })
}

fn utc(s: &str) -> Option<OffsetDateTime> {
    Some(OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap())
}

/// The order fixture with top-level fields replaced.
fn order_with(changes: serde_json::Value) -> String {
    let mut v: Value = serde_json::from_str(ORDER_NEW_JSON).unwrap();
    let order = v[0].as_object_mut().unwrap();
    for (k, val) in changes.as_object().unwrap() {
        order.insert(k.clone(), val.clone());
    }
    v.to_string()
}

fn grace() -> Customer {
    Customer {
        external_id: Some("311".into()),
        email: Some("grace.hopper@example.com".into()),
        phone: Some("555-0100".into()),
        first_name: Some("Grace".into()),
        last_name: Some("Hopper".into()),
        name: None,
        company: Some("Navy Labs".into()),
        address: Some(Address {
            line1: Some("1 Harbor Rd".into()),
            line2: Some("Suite 5".into()),
            city: Some("Arlington".into()),
            state: Some("VA".into()),
            postal_code: Some("22201".into()),
            country: Some("US".into()),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Verification

#[test]
fn url_token_verification() {
    let secrets = [secret(TOKEN)];
    let ok = |q: &str| {
        Shift4shop
            .verify(
                delivery(Some(q), "application/json", ORDER_NEW_JSON),
                &secrets,
            )
            .is_ok()
    };
    assert!(ok(&format!("token={TOKEN}")));
    assert!(ok(&format!("event=order_new&token={TOKEN}")));
    // Tampered, wrong case, missing.
    assert!(!ok(&format!("token={}", TOKEN.to_uppercase())));
    assert!(!ok("token=s4s-url-token-3f9b"));
    assert!(!ok("token="));
    assert!(
        !ok(&format!("Token={TOKEN}")),
        "the parameter name is exact"
    );
    assert!(matches!(
        Shift4shop.verify(delivery(None, "application/json", ORDER_NEW_JSON), &secrets),
        Err(VerifyError::MissingSignature(_))
    ));
    // No token configured: nothing verifies.
    assert!(
        Shift4shop
            .verify(
                delivery(Some(&format!("token={TOKEN}")), "application/json", "{}"),
                &[]
            )
            .is_err()
    );
}

#[test]
fn url_token_rotation() {
    let both = [secret("new-token"), secret("old-token")];
    let d = |t: &str| delivery(Some(&format!("token={t}")), "application/json", "{}");
    assert!(Shift4shop.verify(d("old-token"), &both).is_ok());
    assert!(Shift4shop.verify(d("new-token"), &both).is_ok());
    assert!(matches!(
        Shift4shop.verify(d("old-token"), &[secret("new-token")]),
        Err(VerifyError::Mismatch)
    ));
}

#[test]
fn the_body_is_untouched_by_verification() {
    // Whatever re-encoding the body went through, the URL token authenticates the request and
    // the raw bytes are what gets kept.
    let d = Shift4shop
        .verify(
            delivery(Some(&format!("token={TOKEN}")), "text/xml", ORDER_NEW_XML),
            &[secret(TOKEN)],
        )
        .unwrap();
    assert_eq!(&d.body[..], ORDER_NEW_XML.as_bytes());
}

// ---------------------------------------------------------------------------------------------
// Order New

#[test]
fn order_new_json_field_by_field() {
    let n = normalize(Some("order_new"), ORDER_NEW_JSON);
    assert_eq!(n.kind, EventKind::OrderPaid);
    assert_eq!(n.source_event, "order_new");
    assert_eq!(
        n.idempotency_key,
        "order_new/OrderID=1042/OrderStatusID=1/LastUpdate=2026-03-14T09:27:10"
    );
    assert!(!n.test);
    // Store-local, no zone configured: read as UTC.
    assert_eq!(n.occurred_at, utc("2026-03-14T09:26:53Z"));
    assert_eq!(n.customer, grace());
    let order = n.order.unwrap();
    assert_eq!(order.id, "1042");
    assert_eq!(order.total, usd(3781));
    assert_eq!(order.coupon, None);
    assert_eq!(
        order.items,
        vec![
            Item {
                product_id: Some("77".into()),
                product_name: Some("Debugging mug".into()),
                quantity: 2,
                // (12.50 + 1.25) × 2
                amount: usd(2750),
            },
            Item {
                product_id: Some("78".into()),
                product_name: Some("Moth sticker".into()),
                quantity: 1,
                amount: usd(300),
            },
        ]
    );
    assert_eq!(n.subscription, None);
    assert_eq!(n.message.as_deref(), Some("Gift wrap please"));
    let a = &n.attributes;
    assert_eq!(a["OrderStatusID"], 1);
    assert_eq!(a["order_status"], "New");
    assert_eq!(a["invoice_number"], "AB-1042");
    assert_eq!(a["BillingPaymentMethod"], "Credit Card");
    assert_eq!(a["SalesTax"], "2.31");
    assert_eq!(a["Referer"], "https://www.google.com/");
    assert_eq!(a["currency"], "USD");
    assert_eq!(a["currency_assumed"], true);
    assert!(!a.contains_key("event_inferred"));
    assert!(!a.contains_key("tracking_codes"));
}

#[test]
fn order_new_xml_normalises_like_json() {
    let json = normalize(Some("order_new"), ORDER_NEW_JSON);
    for ct in [
        "application/xml",
        "text/xml",
        "application/json",
        "text/plain",
    ] {
        let xml = try_normalize(Some("order_new"), ct, ORDER_NEW_XML, None).unwrap();
        assert_eq!(xml.kind, json.kind);
        assert_eq!(xml.source_event, json.source_event);
        assert_eq!(xml.idempotency_key, json.idempotency_key);
        assert_eq!(xml.occurred_at, json.occurred_at);
        assert_eq!(xml.customer, json.customer);
        assert_eq!(xml.order, json.order);
        assert_eq!(xml.message, json.message);
        assert_eq!(xml.attributes["invoice_number"], "AB-1042");
    }
}

#[test]
fn a_bare_object_and_a_wrapped_one_are_the_same_order() {
    let array: Value = serde_json::from_str(ORDER_NEW_JSON).unwrap();
    let bare = array[0].to_string();
    let wrapped = serde_json::json!({"Order": array[0]}).to_string();
    let expected = normalize(Some("order_new"), ORDER_NEW_JSON);
    assert_eq!(normalize(Some("order_new"), &bare), expected);
    assert_eq!(normalize(Some("order_new"), &wrapped), expected);
}

#[test]
fn store_local_times_use_the_connection_time_zone() {
    let at = |tz| {
        try_normalize(Some("order_new"), "application/json", ORDER_NEW_JSON, tz)
            .unwrap()
            .occurred_at
    };
    // US daylight time began on 2026-03-08: New York is UTC-4.
    assert_eq!(at(Some("America/New_York")), utc("2026-03-14T13:26:53Z"));
    assert_eq!(at(Some("Europe/Berlin")), utc("2026-03-14T08:26:53Z"));
    assert_eq!(at(None), utc("2026-03-14T09:26:53Z"));
    // Formats seen from the REST API and its clients.
    let ny = Some("America/New_York");
    assert_eq!(
        local_time("03/14/2026 09:26:53", ny).unwrap(),
        utc("2026-03-14T13:26:53Z")
    );
    assert_eq!(
        local_time("3/14/2026 9:26:53 PM", ny).unwrap(),
        utc("2026-03-15T01:26:53Z")
    );
    assert_eq!(
        local_time("2026-03-14 09:26:53.147", ny).unwrap(),
        utc("2026-03-14T13:26:53.147Z")
    );
    assert_eq!(
        local_time("2026-01-14T09:26:53", ny).unwrap(),
        utc("2026-01-14T14:26:53Z"),
        "winter: UTC-5"
    );
    // An explicit offset wins.
    assert_eq!(
        local_time("2026-03-14T09:26:53Z", ny).unwrap(),
        utc("2026-03-14T09:26:53Z")
    );
    // .NET's empty date and garbage are no date at all.
    assert_eq!(local_time("0001-01-01T00:00:00", ny).unwrap(), None);
    assert_eq!(local_time("yesterday", ny).unwrap(), None);
    assert!(matches!(
        try_normalize(
            Some("order_new"),
            "application/json",
            ORDER_NEW_JSON,
            Some("Nowhere/Land")
        ),
        Err(ParseError::Invalid {
            field: "timezone",
            ..
        })
    ));
}

#[test]
fn currency_from_the_delivery_when_present() {
    let n = normalize(
        Some("order_new"),
        &order_with(serde_json::json!({"CurrencyCode": "cad"})),
    );
    assert_eq!(
        n.order.unwrap().total,
        Some(Money {
            minor: 3781,
            currency: "CAD".into()
        })
    );
    assert_eq!(n.attributes["currency"], "CAD");
    assert!(!n.attributes.contains_key("currency_assumed"));
}

#[test]
fn guest_orders_and_sparse_orders() {
    // A guest checkout has `CustomerID` 0; the e-mail can come from the shipment.
    let n = normalize(
        Some("order_new"),
        &order_with(serde_json::json!({
            "CustomerID": 0,
            "BillingEmail": "",
            "ShipmentList": [{"ShipmentEmail": "Ship@Example.com", "ShipmentTrackingCode": ""}],
            "OrderItemList": {"CatalogID": 5, "ItemQuantity": "1.0", "ItemUnitPrice": "9.99"},
        })),
    );
    assert_eq!(n.customer.external_id, None);
    assert_eq!(n.customer.email.as_deref(), Some("ship@example.com"));
    let order = n.order.unwrap();
    assert_eq!(order.items.len(), 1);
    assert_eq!(order.items[0].amount, usd(999));
    assert_eq!(order.items[0].product_name, None);

    // The least an order can be.
    let n = normalize(Some("order_new"), r#"{"OrderID": 9}"#);
    assert_eq!(n.kind, EventKind::OrderPaid);
    assert_eq!(n.idempotency_key, "order_new/OrderID=9");
    assert_eq!(n.customer, Customer::default());
    assert_eq!(n.order.unwrap().total, None);
}

// ---------------------------------------------------------------------------------------------
// Order Status Change

#[test]
fn order_status_change_field_by_field() {
    let body = order_with(serde_json::json!({
        "OrderStatusID": 4,
        "LastUpdate": "2026-03-15T16:02:00",
        "ShipmentList": [{"ShipmentID": 1, "ShipmentTrackingCode": "1Z999AA10123456784",
                          "ShipmentOrderStatus": 4}],
    }));
    let n = try_normalize(
        Some("Order Status Change"),
        "application/json",
        &body,
        Some("America/New_York"),
    )
    .unwrap();
    assert_eq!(n.kind, EventKind::OrderPaid);
    assert_eq!(n.source_event, "order_status_change");
    assert_eq!(
        n.idempotency_key,
        "order_status_change/OrderID=1042/OrderStatusID=4/LastUpdate=2026-03-15T16:02:00"
    );
    // The change happened at `LastUpdate`, not at `OrderDate`.
    assert_eq!(n.occurred_at, utc("2026-03-15T20:02:00Z"));
    assert_eq!(n.customer, grace());
    assert_eq!(n.order.as_ref().unwrap().total, usd(3781));
    assert_eq!(n.attributes["order_status"], "Shipped");
    assert_eq!(
        n.attributes["tracking_codes"],
        serde_json::json!(["1Z999AA10123456784"])
    );
    // The Order New of the same order is a different event.
    assert_ne!(
        n.idempotency_key,
        normalize(Some("order_new"), ORDER_NEW_JSON).idempotency_key
    );
}

#[test]
fn statuses_map_to_kinds() {
    let kind = |status: Value| {
        normalize(
            Some("order_status_change"),
            &order_with(serde_json::json!({ "OrderStatusID": status })),
        )
        .kind
    };
    assert_eq!(kind(1.into()), EventKind::OrderPaid);
    assert_eq!(kind(2.into()), EventKind::OrderPaid);
    assert_eq!(kind(3.into()), EventKind::OrderPaid);
    assert_eq!(kind("4".into()), EventKind::OrderPaid);
    assert_eq!(kind(5.into()), EventKind::OrderRefunded);
    assert_eq!(kind(6.into()), EventKind::Unknown);
    assert_eq!(kind(7.into()), EventKind::CartAbandoned);
    assert_eq!(kind(8.into()), EventKind::Unknown);
    assert_eq!(kind(11.into()), EventKind::Unknown);
    assert_eq!(kind(12.into()), EventKind::Unknown);
    assert_eq!(kind(99.into()), EventKind::Unknown);
    assert_eq!(kind(Value::Null), EventKind::Unknown);
    let cancelled = normalize(
        Some("order_status_change"),
        &order_with(serde_json::json!({"OrderStatusID": 5, "LastUpdate": "2026-03-16T10:00:00"})),
    );
    assert_eq!(cancelled.attributes["order_status"], "Cancel");
    assert!(cancelled.idempotency_key.contains("OrderStatusID=5"));
    // Each status change of an order is its own event; a redelivery of one is the same.
    let a =
        order_with(serde_json::json!({"OrderStatusID": 2, "LastUpdate": "2026-03-14T10:00:00"}));
    let b =
        order_with(serde_json::json!({"OrderStatusID": 2, "LastUpdate": "2026-03-14T11:00:00"}));
    assert_ne!(
        normalize(Some("order_status_change"), &a).idempotency_key,
        normalize(Some("order_status_change"), &b).idempotency_key
    );
    assert_eq!(
        normalize(Some("order_status_change"), &a).idempotency_key,
        normalize(Some("order_status_change"), &a).idempotency_key
    );
}

#[test]
fn the_hook_is_inferred_without_an_event_parameter() {
    let new = normalize(None, ORDER_NEW_JSON);
    assert_eq!(new.source_event, "order_new");
    assert_eq!(new.attributes["event_inferred"], true);
    let changed = normalize(None, &order_with(serde_json::json!({"OrderStatusID": 4})));
    assert_eq!(changed.source_event, "order_status_change");
    let customer = normalize(None, CUSTOMER_NEW_JSON);
    assert_eq!(customer.kind, EventKind::CustomerCreated);
    assert_eq!(customer.attributes["event_inferred"], true);
}

#[test]
fn hook_names() {
    for (name, hook) in [
        ("order_new", Hook::OrderNew),
        ("Order New", Hook::OrderNew),
        ("ORDER-NEW", Hook::OrderNew),
        ("Order Status Changed", Hook::OrderStatusChange),
        ("orderstatuschange", Hook::OrderStatusChange),
        ("Customer New", Hook::CustomerNew),
        (
            "Product Stock Changed",
            Hook::Other("product_stock_changed".into()),
        ),
        ("  ", Hook::Other("unknown".into())),
    ] {
        assert_eq!(Hook::parse(name), hook, "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Customer New

#[test]
fn customer_new_field_by_field() {
    let n = normalize(Some("customer_new"), CUSTOMER_NEW_JSON);
    assert_eq!(n.kind, EventKind::CustomerCreated);
    assert_eq!(n.source_event, "customer_new");
    assert_eq!(n.idempotency_key, "customer_new/CustomerID=311");
    assert!(!n.test);
    assert_eq!(n.occurred_at, None, "the customer object has no date");
    assert_eq!(
        n.customer,
        Customer {
            address: Some(Address {
                line2: None,
                ..grace().address.unwrap()
            }),
            ..grace()
        }
    );
    assert_eq!(n.order, None);
    assert_eq!(n.subscription, None);
    assert_eq!(n.attributes["CustomerGroupID"], "2");
    assert_eq!(n.attributes["MailList"], "true");
    assert_eq!(n.attributes["AdditionalField1"], "ref:podcast");
    assert!(!n.attributes.contains_key("Password"));

    let xml = try_normalize(
        Some("customer_new"),
        "application/xml",
        CUSTOMER_NEW_XML,
        None,
    )
    .unwrap();
    assert_eq!(xml.customer, n.customer);
    assert_eq!(xml.idempotency_key, n.idempotency_key);
    assert_eq!(xml.attributes["MailList"], "true");
}

#[test]
fn customer_new_without_an_id_keys_on_the_email() {
    let n = normalize(
        Some("customer_new"),
        r#"{"Email": "A@B.co", "ShippingFirstName": "Ada", "ShippingAddress1": "2 Road"}"#,
    );
    assert_eq!(n.idempotency_key, "customer_new/Email=a@b.co");
    assert_eq!(n.customer.first_name.as_deref(), Some("Ada"));
    assert_eq!(n.customer.address.unwrap().line1.as_deref(), Some("2 Road"));
}

// ---------------------------------------------------------------------------------------------
// Other webhooks and malformed bodies

#[test]
fn product_and_unknown_webhooks_are_published_as_unknown() {
    let product = r#"[{"SKUInfo": {"CatalogID": 77, "SKU": "MUG-01", "Name": "Debugging mug", "Stock": 12},
                      "LastUpdate": "2026-03-14T09:00:00"}]"#;
    let n = normalize(Some("Product Stock Changed"), product);
    assert_eq!(n.kind, EventKind::Unknown);
    assert_eq!(n.source_event, "product_stock_changed");
    assert_eq!(
        n.idempotency_key,
        "product_stock_changed/CatalogID=77/LastUpdate=2026-03-14T09:00:00"
    );
    assert_eq!(n.attributes["SKUInfo"]["SKU"], "MUG-01");
    assert_eq!(n.occurred_at, utc("2026-03-14T09:00:00Z"));

    // No recognisable resource at all: still published, keyed on the body.
    let n = normalize(
        Some("gift_card_new"),
        r#"{"GiftCard": {"Code": "X", "Amount": 5}}"#,
    );
    assert_eq!(n.kind, EventKind::Unknown);
    assert!(n.idempotency_key.starts_with("gift_card_new/body="));
    assert_eq!(n.attributes["GiftCard"]["Code"], "X");
    // A customer delivered to an unrecognised hook keeps its password out of the event.
    let n = normalize(Some("customer_changed"), CUSTOMER_NEW_JSON);
    assert_eq!(n.kind, EventKind::Unknown);
    assert_eq!(n.attributes["BillingCity"], "Arlington");
    assert!(!n.attributes.contains_key("Password"));
    assert!(!n.attributes.contains_key("ResetPassword"));
    let inferred = normalize(None, product);
    assert_eq!(inferred.source_event, "product");
}

#[test]
fn malformed_bodies() {
    let err = |event: Option<&str>, ct: &str, body: &str| {
        try_normalize(event, ct, body, None).unwrap_err()
    };
    assert!(matches!(
        err(Some("order_new"), "application/json", "{not json"),
        ParseError::Json(_)
    ));
    assert!(matches!(
        err(
            Some("order_new"),
            "application/xml",
            "<Order><OrderID>1</Order>"
        ),
        ParseError::Invalid { field: "body", .. }
    ));
    assert!(matches!(
        err(
            Some("order_new"),
            "application/x-www-form-urlencoded",
            "OrderID=1"
        ),
        ParseError::Invalid { field: "body", .. }
    ));
    assert!(matches!(
        err(Some("order_new"), "application/json", ""),
        ParseError::Json(_)
    ));
    assert!(matches!(
        err(
            Some("order_new"),
            "application/json",
            r#"[{"CustomerID": 1}]"#
        ),
        ParseError::Missing { field: "OrderID" }
    ));
    assert!(matches!(
        err(Some("customer_new"), "application/json", r#"{"Name": "x"}"#),
        ParseError::Missing {
            field: "CustomerID"
        }
    ));
    assert!(matches!(
        err(None, "application/json", r#"{"Name": "x"}"#),
        ParseError::Missing { .. }
    ));
    // Two resources in one delivery: refused (and kept in the DLQ) rather than half-read.
    assert!(matches!(
        err(
            Some("order_new"),
            "application/json",
            r#"[{"OrderID": 1}, {"OrderID": 2}]"#
        ),
        ParseError::Invalid { field: "body", .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input

proptest! {
    #[test]
    fn arbitrary_bytes_verify_and_normalise_without_panicking(
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        query in proptest::option::of("[a-z=&%0-9_ ]{0,40}"),
    ) {
        // Without the token: refused.
        let d = Delivery::new(Token::parse("demo").unwrap(), http::HeaderMap::new(), query, body.clone().into());
        prop_assert!(Shift4shop.verify(d, &[secret(TOKEN)]).is_err());
        // With it: normalised or malformed, never a panic.
        let d = Delivery::new(
            Token::parse("demo").unwrap(), http::HeaderMap::new(),
            Some(format!("token={TOKEN}")), body.into(),
        );
        let d = Shift4shop.verify(d, &[secret(TOKEN)]).unwrap();
        let _ = Shift4shop.normalize(&d, &context(Some("America/New_York")));
    }

    #[test]
    fn arbitrary_json_shapes_never_panic(
        fields in proptest::collection::vec((
            prop_oneof![Just("OrderID".to_owned()), Just("CustomerID".to_owned()), Just("OrderStatusID".to_owned()), Just("LastUpdate".to_owned()),
                        Just("OrderDate".to_owned()), Just("OrderAmount".to_owned()), Just("OrderItemList".to_owned()), Just("ShipmentList".to_owned()),
                        Just("BillingEmail".to_owned()), Just("Email".to_owned()), Just("CatalogID".to_owned()), "[A-Za-z]{1,8}"],
            prop_oneof![
                any::<i64>().prop_map(Value::from), any::<f64>().prop_map(Value::from),
                "\\PC{0,24}".prop_map(Value::from), Just(Value::Null), any::<bool>().prop_map(Value::from),
                Just(serde_json::json!([{"ItemQuantity": 1e30, "ItemUnitPrice": -1e300}])),
                Just(serde_json::json!({"Item": [{"ItemQuantity": "-3", "ItemUnitPrice": "abc"}]})),
            ],
        ), 0..12),
        event in proptest::option::of(prop_oneof![Just("order_new"), Just("order_status_change"),
                                                  Just("customer_new"), Just("product_new")]),
        wrap in 0..3u8,
    ) {
        let record = Value::Object(fields.into_iter().collect());
        let tree = match wrap { 0 => record, 1 => Value::Array(vec![record]), _ => serde_json::json!({"Order": record}) };
        match try_normalize(event, "application/json", &tree.to_string(), Some("Europe/Berlin")) {
            Ok(n) => prop_assert!(!n.idempotency_key.is_empty()),
            Err(ParseError::Missing { .. } | ParseError::Invalid { .. } | ParseError::Json(_)) => {}
        }
    }

    #[test]
    fn arbitrary_xml_never_panics(
        tags in proptest::collection::vec(prop_oneof![Just("OrderID".to_owned()), Just("Order".to_owned()), Just("OrderItemList".to_owned()),
                                                      Just("OrderItem".to_owned()), Just("Email".to_owned()), "[A-Za-z]{1,6}"], 0..10),
        text in "[^<&]{0,12}",
    ) {
        let open: String = tags.iter().map(|t| format!("<{t}>")).collect();
        let close: String = tags.iter().rev().map(|t| format!("</{t}>")).collect();
        let body = format!("<Root>{open}{text}{close}</Root>");
        let _ = try_normalize(Some("order_new"), "application/xml", &body, None);
        let _ = try_normalize(None, "application/xml", &body, None);
    }
}
