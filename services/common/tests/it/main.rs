//! Integration tests of the shared machinery against a real nats-server.

mod dlq;
mod lease;
