//! Shift4Shop (3dcart) REST customers, for the reverse sync (storefronts/shift4shop.md §4):
//! stores identified by their `SecureURL` with a `PrivateKey` and `Token`, and their
//! customers. The HTTP side is `routes::shift4shop`, mounted under `/shift4shop` so the
//! real paths follow: a client whose base URL is `http://<sandbox>/shift4shop` calls
//! `/3dCartWebAPI/v1/Customers` exactly as it would on `https://apirest.3dcart.com`.
//!
//! Choices where the reference is silent (documented in the crate docs): `offset` counts
//! records to skip (0-based); an empty result at offset 0 is 404 `Not Found`, an offset past
//! the end is 400 "Offset amount exceeds the total number of records" (both as clients
//! observe); `countonly=1` answers `{"TotalCount": n}`; unknown body fields are ignored (as
//! .NET model binding does); a second customer with the same email is refused (400).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::dto::looks_like_email;
use crate::error::{Error, Result};

/// The demo store's secure URL.
pub const DEMO_SHOP_URL: &str = "https://relay-demo.3dcartstores.com";
/// The demo store's private key (the developer app key).
pub const DEMO_SHOP_PRIVATE_KEY: &str = "s4s-demo-private-key";
/// The demo store's token.
pub const DEMO_SHOP_TOKEN: &str = "s4s-demo-token";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Str,
    Int,
    Bool,
    Num,
}

/// The writable customer fields and their types (v1 Customer definition).
const FIELDS: &[(&str, Ty)] = &[
    ("Email", Ty::Str),
    ("Password", Ty::Str),
    ("BillingCompany", Ty::Str),
    ("BillingFirstName", Ty::Str),
    ("BillingLastName", Ty::Str),
    ("BillingAddress1", Ty::Str),
    ("BillingAddress2", Ty::Str),
    ("BillingCity", Ty::Str),
    ("BillingState", Ty::Str),
    ("BillingZipCode", Ty::Str),
    ("BillingCountry", Ty::Str),
    ("BillingPhoneNumber", Ty::Str),
    ("BillingTaxID", Ty::Str),
    ("ShippingCompany", Ty::Str),
    ("ShippingFirstName", Ty::Str),
    ("ShippingLastName", Ty::Str),
    ("ShippingAddress1", Ty::Str),
    ("ShippingAddress2", Ty::Str),
    ("ShippingCity", Ty::Str),
    ("ShippingState", Ty::Str),
    ("ShippingZipCode", Ty::Str),
    ("ShippingCountry", Ty::Str),
    ("ShippingPhoneNumber", Ty::Str),
    ("ShippingAddressType", Ty::Int),
    ("CustomerGroupID", Ty::Int),
    ("Enabled", Ty::Bool),
    ("MailList", Ty::Bool),
    ("NonTaxable", Ty::Bool),
    ("DisableBillingSameAsShipping", Ty::Bool),
    ("Comments", Ty::Str),
    ("AdditionalField1", Ty::Str),
    ("AdditionalField2", Ty::Str),
    ("AdditionalField3", Ty::Str),
    ("TotalStoreCredit", Ty::Num),
    ("ResetPassword", Ty::Bool),
];

fn default_of(ty: Ty) -> Value {
    match ty {
        Ty::Str => json!(""),
        Ty::Int => json!(0),
        Ty::Bool => json!(false),
        Ty::Num => json!(0.0),
    }
}

fn type_ok(ty: Ty, v: &Value) -> bool {
    match ty {
        Ty::Str => v.is_string() || v.is_null(),
        Ty::Int => v.is_i64() || v.is_u64() || v.is_null(),
        Ty::Bool => v.is_boolean() || v.is_null(),
        Ty::Num => v.is_number() || v.is_null(),
    }
}

/// A store to create (`POST /_sandbox/shift4shop/stores`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewShop {
    /// The store's secure URL (`SecureURL` header).
    pub secure_url: String,
    /// The developer app key (`PrivateKey` header).
    pub private_key: String,
    /// The store token (`Token` header).
    pub token: String,
}

/// A store as the control API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShopView {
    /// Secure URL.
    pub secure_url: String,
    /// Private key.
    pub private_key: String,
    /// Token.
    pub token: String,
    /// Its customers, by id.
    pub customers: Vec<Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Shop {
    private_key: String,
    token: String,
    customers: BTreeMap<u64, Customer>,
    next_id: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Customer {
    fields: Map<String, Value>,
    #[serde(with = "time::serde::rfc3339")]
    last_update: OffsetDateTime,
}

impl Customer {
    fn email_lower(&self) -> Option<String> {
        self.fields
            .get("Email")
            .and_then(Value::as_str)
            .map(str::to_lowercase)
    }

    fn view(&self, id: u64) -> Value {
        let mut out = Map::new();
        out.insert("CustomerID".into(), json!(id));
        for (name, ty) in FIELDS {
            let v = self
                .fields
                .get(*name)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or_else(|| default_of(*ty));
            out.insert((*name).to_owned(), v);
        }
        // Never echo the password.
        out.insert("Password".into(), json!(""));
        out.insert("LastUpdate".into(), json!(local_stamp(self.last_update)));
        Value::Object(out)
    }

    fn text(&self, key: &str) -> String {
        self.fields
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_lowercase()
    }
}

/// `2024-01-05T10:11:12`: store-local, no offset (the sandbox's stores run on UTC).
fn local_stamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses `mm/dd/yyyy[ hh:mm:ss]`.
fn parse_us_stamp(s: &str) -> Option<OffsetDateTime> {
    let (date, clock) = s.trim().split_once(' ').unwrap_or((s.trim(), "00:00:00"));
    let d: Vec<u32> = date
        .split('/')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let c: Vec<u32> = clock
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [m, day, y] = d.as_slice() else {
        return None;
    };
    let month = time::Month::try_from(u8::try_from(*m).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(*y).ok()?, month, u8::try_from(*day).ok()?)
            .ok()?;
    let (h, mi, se) = match c.as_slice() {
        [h, mi, se] => (*h, *mi, *se),
        [h, mi] => (*h, *mi, 0),
        _ => return None,
    };
    let t = time::Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(mi).ok()?,
        u8::try_from(se).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, t).assume_utc())
}

/// The filters and paging of `GET /Customers`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CustomerQuery {
    pub(crate) limit: usize,
    pub(crate) offset: usize,
    pub(crate) count_only: bool,
    pub(crate) email: Option<String>,
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) city: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) last_update_start: Option<OffsetDateTime>,
    pub(crate) last_update_end: Option<OffsetDateTime>,
}

fn s4s_error(status: StatusCode, key: &str, message: impl Into<String>) -> Error {
    Error::Shift4Shop {
        status,
        key: key.into(),
        message: message.into(),
    }
}

impl CustomerQuery {
    /// Reads the query parameters (names are case-insensitive; unknown ones are ignored).
    pub(crate) fn parse(pairs: Vec<(String, String)>) -> Result<Self> {
        let mut q = Self {
            limit: 10,
            ..Self::default()
        };
        let number = |k: &str, v: &str| {
            v.trim().parse::<usize>().map_err(|_| {
                s4s_error(StatusCode::BAD_REQUEST, k, format!("Invalid value for {k}"))
            })
        };
        let stamp = |k: &str, v: &str| {
            parse_us_stamp(v).ok_or_else(|| {
                s4s_error(
                    StatusCode::BAD_REQUEST,
                    k,
                    format!("Invalid date for {k}; use mm/dd/yyyy hh:mm:ss"),
                )
            })
        };
        for (k, v) in pairs {
            let key = k.to_ascii_lowercase();
            match key.as_str() {
                "limit" => q.limit = number(&key, &v)?,
                "offset" => q.offset = number(&key, &v)?,
                "countonly" => q.count_only = v == "1" || v.eq_ignore_ascii_case("true"),
                "email" => q.email = Some(v.to_lowercase()),
                "firstname" => q.first_name = Some(v.to_lowercase()),
                "lastname" => q.last_name = Some(v.to_lowercase()),
                "country" => q.country = Some(v.to_lowercase()),
                "state" => q.state = Some(v.to_lowercase()),
                "city" => q.city = Some(v.to_lowercase()),
                "phone" => q.phone = Some(v.to_lowercase()),
                "lastupdatestart" => q.last_update_start = Some(stamp(&key, &v)?),
                "lastupdateend" => q.last_update_end = Some(stamp(&key, &v)?),
                _ => {}
            }
        }
        if q.limit == 0 {
            q.limit = 10;
        }
        Ok(q)
    }

    fn matches(&self, c: &Customer) -> bool {
        let eq = |want: &Option<String>, key: &str| want.as_ref().is_none_or(|w| c.text(key) == *w);
        eq(&self.email, "Email")
            && eq(&self.first_name, "BillingFirstName")
            && eq(&self.last_name, "BillingLastName")
            && eq(&self.country, "BillingCountry")
            && eq(&self.state, "BillingState")
            && eq(&self.city, "BillingCity")
            && eq(&self.phone, "BillingPhoneNumber")
            && self.last_update_start.is_none_or(|t| c.last_update >= t)
            && self.last_update_end.is_none_or(|t| c.last_update <= t)
    }
}

/// Every store.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Shops {
    shops: BTreeMap<String, Shop>,
}

fn normalize_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Which store a request is for (after its headers were checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShopKey(String);

impl Shops {
    /// Creates the demo store.
    pub(crate) fn seed_demo(&mut self) {
        let _ = self.add(NewShop {
            secure_url: DEMO_SHOP_URL.into(),
            private_key: DEMO_SHOP_PRIVATE_KEY.into(),
            token: DEMO_SHOP_TOKEN.into(),
        });
    }

    /// Creates a store.
    pub(crate) fn add(&mut self, new: NewShop) -> Result<ShopView> {
        let key = normalize_url(&new.secure_url);
        if key.is_empty() || new.private_key.is_empty() || new.token.is_empty() {
            return Err(Error::Control(
                "secure_url, private_key and token are required".into(),
            ));
        }
        if self.shops.contains_key(&key) {
            return Err(Error::Control(format!("store {key} already exists")));
        }
        self.shops.insert(
            key.clone(),
            Shop {
                private_key: new.private_key,
                token: new.token,
                customers: BTreeMap::new(),
                next_id: 1,
            },
        );
        self.view(&key)
            .ok_or_else(|| Error::Control("store vanished".into()))
    }

    /// One store's view.
    pub(crate) fn view(&self, secure_url: &str) -> Option<ShopView> {
        let key = normalize_url(secure_url);
        self.shops.get(&key).map(|s| ShopView {
            secure_url: key.clone(),
            private_key: s.private_key.clone(),
            token: s.token.clone(),
            customers: s.customers.iter().map(|(id, c)| c.view(*id)).collect(),
        })
    }

    /// Every store's view.
    pub(crate) fn views(&self) -> Vec<ShopView> {
        self.shops.keys().filter_map(|k| self.view(k)).collect()
    }

    /// Checks the three auth headers.
    pub(crate) fn authenticate(
        &self,
        secure_url: Option<&str>,
        private_key: Option<&str>,
        token: Option<&str>,
    ) -> Result<ShopKey> {
        let unauthorized = || {
            s4s_error(
                StatusCode::UNAUTHORIZED,
                "Error",
                "Unauthorized: SecureURL, PrivateKey and Token must match an authorized store",
            )
        };
        let key = normalize_url(secure_url.ok_or_else(unauthorized)?);
        let shop = self.shops.get(&key).ok_or_else(unauthorized)?;
        if private_key != Some(shop.private_key.as_str()) || token != Some(shop.token.as_str()) {
            return Err(unauthorized());
        }
        Ok(ShopKey(key))
    }

    fn shop_mut(&mut self, key: &ShopKey) -> Result<&mut Shop> {
        self.shops
            .get_mut(&key.0)
            .ok_or_else(|| s4s_error(StatusCode::UNAUTHORIZED, "Error", "Unauthorized"))
    }

    /// `GET /Customers`.
    pub(crate) fn list(&mut self, key: &ShopKey, q: &CustomerQuery) -> Result<Value> {
        let shop = self.shop_mut(key)?;
        let hits: Vec<(&u64, &Customer)> = shop
            .customers
            .iter()
            .filter(|(_, c)| q.matches(c))
            .collect();
        if q.count_only {
            return Ok(json!({ "TotalCount": hits.len() }));
        }
        if hits.is_empty() && q.offset == 0 {
            return Err(s4s_error(StatusCode::NOT_FOUND, "Error", "Not Found"));
        }
        if q.offset >= hits.len() {
            return Err(s4s_error(
                StatusCode::BAD_REQUEST,
                "Error",
                "Offset amount exceeds the total number of records",
            ));
        }
        Ok(Value::Array(
            hits.into_iter()
                .skip(q.offset)
                .take(q.limit)
                .map(|(id, c)| c.view(*id))
                .collect(),
        ))
    }

    /// `GET /Customers/{id}`: an array of one.
    pub(crate) fn get(&mut self, key: &ShopKey, id: u64) -> Result<Value> {
        let shop = self.shop_mut(key)?;
        shop.customers
            .get(&id)
            .map(|c| json!([c.view(id)]))
            .ok_or_else(|| s4s_error(StatusCode::NOT_FOUND, "Error", "Not Found"))
    }

    /// `POST /Customers`: one object or an array; all are checked before any is created.
    pub(crate) fn create(
        &mut self,
        key: &ShopKey,
        body: Value,
        now: OffsetDateTime,
    ) -> Result<Value> {
        let items = match body {
            Value::Array(items) => items,
            v @ Value::Object(_) => vec![v],
            _ => {
                return Err(s4s_error(
                    StatusCode::BAD_REQUEST,
                    "Error",
                    "The request body must be a customer object or an array of them",
                ));
            }
        };
        let shop = self.shop_mut(key)?;
        let mut parsed = Vec::with_capacity(items.len());
        let mut emails: Vec<String> = shop
            .customers
            .values()
            .filter_map(Customer::email_lower)
            .collect();
        for item in items {
            let fields = customer_fields(item, true)?;
            let email = fields
                .get("Email")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase();
            if emails.contains(&email) {
                return Err(s4s_error(
                    StatusCode::BAD_REQUEST,
                    "Email",
                    "Customer email already exists",
                ));
            }
            emails.push(email);
            parsed.push(fields);
        }
        let mut out = Vec::with_capacity(parsed.len());
        for fields in parsed {
            let id = shop.next_id;
            shop.next_id += 1;
            shop.customers.insert(
                id,
                Customer {
                    fields,
                    last_update: now,
                },
            );
            out.push(json!({"Key": "CustomerID", "Value": id.to_string(), "Status": "201", "Message": "Created successfully"}));
        }
        Ok(Value::Array(out))
    }

    /// `PUT /Customers/{id}`: the given fields replace the stored ones.
    pub(crate) fn update(
        &mut self,
        key: &ShopKey,
        id: u64,
        body: Value,
        now: OffsetDateTime,
    ) -> Result<Value> {
        let body = match body {
            Value::Array(mut items) if items.len() == 1 => items.remove(0),
            v => v,
        };
        let fields = customer_fields(body, false)?;
        let shop = self.shop_mut(key)?;
        if !shop.customers.contains_key(&id) {
            return Err(s4s_error(StatusCode::NOT_FOUND, "Error", "Not Found"));
        }
        if let Some(email) = fields
            .get("Email")
            .and_then(Value::as_str)
            .map(str::to_lowercase)
            && shop.customers.iter().any(|(other, c)| {
                *other != id && c.email_lower().as_deref() == Some(email.as_str())
            })
        {
            return Err(s4s_error(
                StatusCode::BAD_REQUEST,
                "Email",
                "Customer email already exists",
            ));
        }
        let customer = shop
            .customers
            .get_mut(&id)
            .ok_or_else(|| s4s_error(StatusCode::NOT_FOUND, "Error", "Not Found"))?;
        customer.fields.extend(fields);
        customer.last_update = now;
        Ok(
            json!([{"Key": "CustomerID", "Value": id.to_string(), "Status": "200", "Message": "Updated successfully"}]),
        )
    }
}

/// The known fields of a customer body, type-checked; `Email` (and on create `Password`)
/// required.
fn customer_fields(body: Value, create: bool) -> Result<Map<String, Value>> {
    let Value::Object(map) = body else {
        return Err(s4s_error(
            StatusCode::BAD_REQUEST,
            "Error",
            "The customer must be an object",
        ));
    };
    let mut out = Map::new();
    for (k, v) in map {
        let Some((name, ty)) = FIELDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(&k)) else {
            continue;
        };
        if !type_ok(*ty, &v) {
            return Err(s4s_error(
                StatusCode::BAD_REQUEST,
                name,
                format!("Invalid value for {name}"),
            ));
        }
        out.insert((*name).to_owned(), v);
    }
    let email = out.get("Email").and_then(Value::as_str);
    match email {
        Some(e) if looks_like_email(e) => {}
        Some(_) => {
            return Err(s4s_error(
                StatusCode::BAD_REQUEST,
                "Email",
                "Invalid email address",
            ));
        }
        None if create => {
            return Err(s4s_error(
                StatusCode::BAD_REQUEST,
                "Email",
                "Email is required",
            ));
        }
        None => {}
    }
    if create
        && out
            .get("Password")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(s4s_error(
            StatusCode::BAD_REQUEST,
            "Password",
            "Password is required",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> (Shops, ShopKey) {
        let mut s = Shops::default();
        s.seed_demo();
        let key = s
            .authenticate(
                Some("https://relay-demo.3dcartstores.com/"),
                Some(DEMO_SHOP_PRIVATE_KEY),
                Some(DEMO_SHOP_TOKEN),
            )
            .unwrap();
        (s, key)
    }

    #[test]
    fn headers_must_all_match() {
        let (s, _) = demo();
        assert!(
            s.authenticate(Some(DEMO_SHOP_URL), Some(DEMO_SHOP_PRIVATE_KEY), Some("x"))
                .is_err()
        );
        assert!(
            s.authenticate(None, Some(DEMO_SHOP_PRIVATE_KEY), Some(DEMO_SHOP_TOKEN))
                .is_err()
        );
        let e = s
            .authenticate(Some("https://other"), None, None)
            .unwrap_err();
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn customers_are_created_listed_paged_and_updated() {
        let (mut s, key) = demo();
        let now = OffsetDateTime::now_utc();
        let q = |pairs: &[(&str, &str)]| {
            CustomerQuery::parse(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            )
            .unwrap()
        };
        let e = s.list(&key, &q(&[])).unwrap_err();
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        for i in 0..3 {
            let r = s
                .create(&key, json!({"Email": format!("c{i}@x.io"), "Password": "pw", "BillingFirstName": "C", "Unknown": 1}), now)
                .unwrap();
            assert_eq!(r[0]["Value"], (i + 1).to_string());
        }
        let dup = s
            .create(&key, json!({"Email": "C0@x.io", "Password": "pw"}), now)
            .unwrap_err();
        assert_eq!(
            dup.body(),
            json!([{"Key": "Email", "Message": "Customer email already exists"}])
        );
        assert!(
            s.create(&key, json!({"Email": "n@x.io"}), now).is_err(),
            "password required"
        );

        let page = s
            .list(&key, &q(&[("limit", "2"), ("offset", "2")]))
            .unwrap();
        assert_eq!(page.as_array().unwrap().len(), 1);
        assert_eq!(page[0]["CustomerID"], 3);
        assert_eq!(page[0]["Password"], "");
        let past = s.list(&key, &q(&[("offset", "3")])).unwrap_err();
        assert_eq!(
            past.body()[0]["Message"],
            "Offset amount exceeds the total number of records"
        );
        assert_eq!(
            s.list(&key, &q(&[("countonly", "1")])).unwrap(),
            json!({"TotalCount": 3})
        );
        assert_eq!(
            s.list(&key, &q(&[("email", "C1@X.IO")])).unwrap()[0]["CustomerID"],
            2
        );

        s.update(&key, 2, json!({"BillingLastName": "Doe"}), now)
            .unwrap();
        assert_eq!(s.get(&key, 2).unwrap()[0]["BillingLastName"], "Doe");
        assert_eq!(
            s.update(&key, 9, json!({}), now).unwrap_err().status(),
            StatusCode::NOT_FOUND
        );
        assert!(s.update(&key, 2, json!({"Email": "c0@x.io"}), now).is_err());
    }

    #[test]
    fn us_stamps_parse() {
        let t = parse_us_stamp("01/05/2024 10:11:12").unwrap();
        assert_eq!(local_stamp(t), "2024-01-05T10:11:12");
        assert!(parse_us_stamp("2024-01-05").is_none());
    }
}
