//! Per-location GHL credentials: private integration tokens and OAuth installations.
