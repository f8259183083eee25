//! A storefront delivery as received, with its verification state in the type.

use std::marker::PhantomData;

use bytes::Bytes;
use relay_contracts::event::{Customer, Order, Subscription};
use relay_contracts::{EventKind, Token};
use time::OffsetDateTime;

/// Not verified yet: only a verifier can look inside.
#[derive(Debug)]
pub struct Unverified;
/// Verified against the connection's secret.
#[derive(Debug)]
pub struct Verified;

/// The raw request: headers, query and body bytes exactly as received.
#[derive(Debug)]
pub struct Delivery<S> {
    pub connection: Token,
    pub headers: http::HeaderMap,
    pub query: Option<String>,
    pub body: Bytes,
    pub received_at: OffsetDateTime,
    state: PhantomData<S>,
}

impl Delivery<Unverified> {
    pub fn new(
        connection: Token,
        headers: http::HeaderMap,
        query: Option<String>,
        body: Bytes,
    ) -> Self {
        Self {
            connection,
            headers,
            query,
            body,
            received_at: OffsetDateTime::now_utc(),
            state: PhantomData,
        }
    }

    /// Marks the delivery verified. Call only from a `Storefront::verify` that checked it.
    pub fn into_verified(self) -> Delivery<Verified> {
        Delivery {
            connection: self.connection,
            headers: self.headers,
            query: self.query,
            body: self.body,
            received_at: self.received_at,
            state: PhantomData,
        }
    }
}

impl<S> Delivery<S> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The normalised content of a delivery; the server adds ids, timestamps and the RAW reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalized {
    pub kind: EventKind,
    /// The storefront's own event name.
    pub source_event: String,
    /// The storefront's idempotency key for this delivery (stable across its retries).
    pub idempotency_key: String,
    pub occurred_at: Option<OffsetDateTime>,
    pub test: bool,
    pub customer: Customer,
    pub order: Option<Order>,
    pub subscription: Option<Subscription>,
    pub message: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}
