//! The machinery every `ingest-<source>` service shares.
//!
//! A delivery is read as raw bytes, checked against the connection's secret(s) by the
//! storefront's verifier (`Delivery<Unverified>` → `Delivery<Verified>`: nothing unverified can
//! be parsed or published), normalised into a `StorefrontEvent`, published to RAW and EVENTS with
//! a dedupe id derived from the storefront's idempotency key, and only then acknowledged.

pub mod config;
pub mod delivery;
pub mod error;
pub mod money;
pub mod server;

pub use config::{ConnectionConfig, IngestConfig};
pub use delivery::{Delivery, Normalized, Unverified, Verified};
pub use error::{IngestError, ParseError, VerifyError};
pub use server::IngestServer;

use relay_contracts::Source;

/// What a storefront contributes: how its deliveries are verified and normalised.
pub trait Storefront: Send + Sync + 'static {
    const SOURCE: Source;

    /// Checks the delivery against each of the connection's secrets (current first, then the
    /// previous one during a rotation). Operates on the raw bytes only.
    fn verify(
        &self,
        delivery: Delivery<Unverified>,
        secrets: &[secrecy::SecretString],
    ) -> Result<Delivery<Verified>, VerifyError>;

    /// Turns a verified delivery into the normalised event content.
    fn normalize(&self, delivery: &Delivery<Verified>) -> Result<Normalized, ParseError>;
}
