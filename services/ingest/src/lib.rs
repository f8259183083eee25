//! The machinery every `ingest-<source>` service shares.
//!
//! A delivery is read as raw bytes, checked against the connection's secret(s) by the
//! storefront's verifier (`Delivery<Unverified>` → `Delivery<Verified>`: nothing unverified can
//! be parsed or published), normalised into a `StorefrontEvent`, published to RAW and EVENTS with
//! a dedupe id derived from the storefront's idempotency key, and only then acknowledged.

pub mod config;
pub mod delivery;
pub mod entry;
pub mod error;
pub mod form;
pub mod idempotency;
pub mod money;
pub mod server;
pub mod time;
pub mod verify;

pub use config::{ConnectionConfig, IngestConfig, StorefrontConfig};
pub use delivery::{Delivery, Normalized, Unverified, Verified};
pub use error::{IngestError, ParseError, VerifyError};
pub use server::IngestServer;

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use relay_contracts::{EventId, Source, Token};

/// What the normaliser knows about the connection a delivery came in on.
#[derive(Clone, Debug)]
pub struct ConnectionContext {
    pub name: Token,
    /// The store's IANA time zone, for storefronts that send local times without an offset.
    pub timezone: Option<String>,
}

/// What a storefront contributes: how its deliveries are verified and normalised, and how it
/// expects to be answered.
pub trait Storefront: Send + Sync + 'static {
    const SOURCE: Source;

    /// Conventional (webhook, admin) ports of this storefront's service (deploy/local).
    const PORTS: (u16, u16);

    /// How long the storefront keeps retrying one delivery. When this exceeds the streams'
    /// dedupe window, accepted keys are also kept in the ingest ledger (KV) for this long.
    const RETRY_HORIZON: Duration = Duration::from_secs(24 * 3600);

    /// Checks the delivery against each of the connection's secrets (current first, then the
    /// previous one during a rotation). Operates on the raw bytes only.
    fn verify(
        &self,
        delivery: Delivery<Unverified>,
        secrets: &[secrecy::SecretString],
    ) -> Result<Delivery<Verified>, VerifyError>;

    /// Turns a verified delivery into the normalised event content.
    fn normalize(
        &self,
        delivery: &Delivery<Verified>,
        connection: &ConnectionContext,
    ) -> Result<Normalized, ParseError>;

    /// Answers a non-POST request to the hook URL (setup probes: ThriveCart `HEAD`,
    /// Digistore24 `GET`). `None` answers 405.
    fn probe(&self, method: &http::Method) -> Option<Response> {
        let _ = method;
        None
    }

    /// The answer once the event is stored (both publishes acknowledged, or a duplicate).
    fn accepted(&self, event: &Normalized, event_id: &EventId, duplicate: bool) -> Response {
        let _ = event;
        let body = serde_json::json!({ "status": "accepted", "event_id": event_id, "duplicate": duplicate });
        (http::StatusCode::OK, axum::Json(body)).into_response()
    }
}
