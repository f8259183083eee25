//! Leases against a real nats-server.
