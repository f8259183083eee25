//! The mapper's integration tests: the default playbooks against events built by the real
//! ingest normalisers (golden snapshots), and connection files as `relayctl` applies them.

#![allow(clippy::unwrap_used)]
// The fixtures are large `json!` literals.
#![recursion_limit = "256"]

mod files;
mod fixtures;
mod golden;
