//! Per-location GHL credentials: moved to [`relay_ghl::auth`] so the writer and the poller share
//! one token store and its single-flight refresh; re-exported here under its old path.

pub use relay_ghl::auth::*;
