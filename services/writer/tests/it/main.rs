//! Writer integration tests: a real nats-server, the sandbox as GHL.

#![allow(clippy::unwrap_used)]

mod admin;
mod auth;
mod budget;
mod failures;
mod lanes;
mod steps;
mod support;
