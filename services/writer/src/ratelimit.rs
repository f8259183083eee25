//! A location's request budget: moved to [`relay_ghl::budget`] so the poller spends the same
//! per-location budget (its own `share` of it); re-exported here under its old path.

pub use relay_ghl::budget::*;
