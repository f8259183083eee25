//! Writer integration tests: a real nats-server, the sandbox as GHL.

mod auth;
mod budget;
