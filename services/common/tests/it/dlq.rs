//! Dead-letter admin API against a real nats-server.
