//! Integration tests: the typed client against the real sandbox, run in-process as GHL on a
//! loopback port. Every action's effect is read back through the API or the sandbox's state.

mod conformance;
mod contacts;
mod errors;
mod helpers;
mod listing;
mod membership;
mod oauth;
mod records;
