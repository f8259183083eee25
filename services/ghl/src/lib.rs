//! A typed client for the HighLevel (LeadConnector) API v2, as the writer and poller use it.
//!
//! Request bodies are typed from the official spec and omit unset fields (GHL answers 422 to
//! properties a DTO does not declare). Every call sends `Version: 2021-07-28`, the W3C trace
//! context, and returns the `X-RateLimit-*` headers so callers can pace themselves.

mod client;
mod error;
pub mod types;

pub use client::{GhlClient, Response};
pub use error::{GhlError, RateLimitInfo};

/// The only `Version` header value the Contacts API accepts.
pub const API_VERSION: &str = "2021-07-28";
/// GHL's production API host.
pub const PRODUCTION_BASE_URL: &str = "https://services.leadconnectorhq.com";
