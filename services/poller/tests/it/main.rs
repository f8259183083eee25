//! Poller integration tests: a real nats-server, the sandbox in-process as GHL, poller
//! replicas started from the library.

#![allow(clippy::unwrap_used)]

mod support;
mod triggers;
