//! Integration tests: a real sandbox on a loopback port, driven over HTTP with reqwest.

mod auth;
mod contacts;
mod control;
mod helpers;
mod rate_limit;
mod telemetry;
