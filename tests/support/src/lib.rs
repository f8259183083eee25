//! Test harness for Relay's integration and end-to-end tests: real parts only.
//!
//! - [`NatsServer`]: a real `nats-server` with JetStream on a free loopback port, its own store
//!   directory, killed on drop, and stoppable/restartable to test broker outages;
//! - [`otlp`]: an in-process OTLP/gRPC receiver, installed once per process as the trace
//!   exporter target, so tests can assert on the spans services emit;
//! - [`eventually`]: poll a condition instead of sleeping.

#![allow(clippy::unwrap_used)]

pub mod admin;
pub mod nats;
pub mod otlp;

use std::future::Future;
use std::time::{Duration, Instant};

pub use nats::NatsServer;

/// The admin token every in-process test service is configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A unique, valid subject token for isolating one test's subjects and streams.
pub fn unique_prefix() -> relay_contracts::Token {
    relay_contracts::Token::parse(&format!(
        "t{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ))
    .unwrap()
}

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for a child process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Blocks until `f` holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
