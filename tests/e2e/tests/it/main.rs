//! End-to-end: a signed Buy Me a Coffee delivery through ingest, mapper and writer into the
//! sandbox, against a real nats-server.

#![allow(clippy::unwrap_used)]

mod admin;
mod connections;
mod fuzz;
mod ingest;
mod pipeline;
mod trace;
