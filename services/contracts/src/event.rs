//! `StorefrontEvent` v1: one vocabulary for what every storefront tells us.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{EventId, Token};
use crate::version::{DecodeError, V1, decode};

/// The storefronts Relay ingests from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Gumroad,
    Thrivecart,
    Digistore24,
    Shift4shop,
    Bmc,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Gumroad,
        Source::Thrivecart,
        Source::Digistore24,
        Source::Shift4shop,
        Source::Bmc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Gumroad => "gumroad",
            Source::Thrivecart => "thrivecart",
            Source::Digistore24 => "digistore24",
            Source::Shift4shop => "shift4shop",
            Source::Bmc => "bmc",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown source {s:?} (expected one of gumroad, thrivecart, digistore24, shift4shop, bmc)"))
    }
}

macro_rules! event_kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// Normalised event kinds. `Unknown` carries authentic events Relay has no mapping
        /// for yet, so rules can still see them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventKind {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            /// The dotted name, also the subject suffix (`order.paid`).
            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name,)* }
            }
        }
    };
}

event_kinds! {
    OrderPaid => "order.paid",
    OrderRefunded => "order.refunded",
    OrderDisputed => "order.disputed",
    OrderDisputeWon => "order.dispute_won",
    SubscriptionStarted => "subscription.started",
    SubscriptionRenewed => "subscription.renewed",
    SubscriptionUpdated => "subscription.updated",
    SubscriptionPaymentFailed => "subscription.payment_failed",
    SubscriptionCancelled => "subscription.cancelled",
    SubscriptionPaused => "subscription.paused",
    SubscriptionResumed => "subscription.resumed",
    SubscriptionEnded => "subscription.ended",
    CustomerCreated => "customer.created",
    CustomerUpdated => "customer.updated",
    MessageReceived => "message.received",
    CartAbandoned => "cart.abandoned",
    Ping => "ping",
    Unknown => "unknown",
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalised storefront event (`"v": 1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorefrontEvent {
    pub v: V1,
    /// Derived from (source, connection, idempotency key): the same delivery, the same id.
    pub id: EventId,
    pub source: Source,
    pub connection: Token,
    pub kind: EventKind,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The storefront's own idempotency key (BMC `event_id`, Gumroad `sale_id`, ...).
    pub idempotency_key: String,
    /// Test deliveries (`live_mode: false`, Gumroad `test`, ...).
    pub test: bool,
    /// The storefront's own event name (`donation.created`).
    pub source_event: String,
    pub customer: Customer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Source-specific extras, for mapping rules.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Where the delivery is kept in RAW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawRef>,
}

impl StorefrontEvent {
    pub const SUPPORTED_VERSIONS: &'static [u64] = &[1];

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode("StorefrontEvent", Self::SUPPORTED_VERSIONS, bytes)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// The full name as the storefront gave it (may be a nickname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// An amount in integer minor units (cents) and an ISO 4217 currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    #[serde(default)]
    pub items: Vec<Item>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `month`, `year`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_charge_at: Option<OffsetDateTime>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRef {
    pub stream: String,
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name() {
        for k in EventKind::ALL {
            let json = serde_json::to_string(k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(&serde_json::from_str::<EventKind>(&json).unwrap(), k);
        }
    }

    #[test]
    fn unknown_versions_are_refused_with_the_version() {
        let err = StorefrontEvent::decode(br#"{"v":2,"id":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
        assert!(matches!(
            StorefrontEvent::decode(b"{}"),
            Err(DecodeError::MissingVersion { .. })
        ));
        assert!(matches!(
            StorefrontEvent::decode(b"nope"),
            Err(DecodeError::Malformed { .. })
        ));
    }
}
