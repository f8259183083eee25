//! The contracts every Relay service shares: where messages go (subjects, streams, consumers,
//! KV buckets), what they look like (versioned serde types), and the admin gRPC API.
//!
//! Nothing outside this crate formats a subject or names a stream.

pub mod connection;
pub mod event;
pub mod headers;
pub mod ids;
pub mod nats;
pub mod plan;
pub mod result;
pub mod trigger;
pub mod version;

pub use connection::{ConnectionSpec, ConnectionsFile, DocError, parse_connections};
pub use event::{EventKind, Source, StorefrontEvent};
pub use ids::{EventId, PlanId, Token, TokenError};
pub use nats::{Bucket, Namespace, StreamKind};
pub use plan::{ContactPlan, Step};
pub use result::{Outcome, PlanResult};
pub use trigger::{Change, TriggerEvent, TriggerKind};
pub use version::DecodeError;

/// Generated code for `proto/relay/admin/v1`.
pub mod admin {
    #![allow(unreachable_pub, clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("relay.admin.v1");
}

/// Generated code for `proto/relay/mapper/v1` (connections, preview, replay).
pub mod mapper_admin {
    #![allow(unreachable_pub, clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("relay.mapper.v1");
}

/// Generated code for `proto/relay/dlq/v1` (list, show, redrive and purge dead letters).
pub mod dlq_admin {
    #![allow(unreachable_pub, clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("relay.dlq.v1");
}

/// Generated code for `proto/relay/writer/v1` (the locations the writer drives: credentials,
/// budgets, resuming a paused location).
pub mod writer_admin {
    #![allow(unreachable_pub, clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("relay.writer.v1");
}

/// Encoded `FileDescriptorSet` of every Relay proto package, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("relay_descriptor");
