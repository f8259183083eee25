//! What every Relay service shares: configuration, telemetry, NATS plumbing (connect,
//! provisioning, the consumer loop, trace propagation), the admin gRPC server, metrics and the
//! shutdown sequence.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod dlq;
pub mod lease;
pub mod metrics;
pub mod nats;
pub mod propagation;
pub mod registry;
pub mod secret;
pub mod shutdown;
pub mod telemetry;
pub mod worker;

pub use secret::SecretRef;

/// Every Relay binary (and test) allocates through mimalloc: under load glibc's malloc was a
/// tenth of ingest's CPU. Declared here so each service gets it by linking this crate.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for invalid configuration or usage (BSD `EX_USAGE`).
pub const EXIT_CONFIG: i32 = 64;
