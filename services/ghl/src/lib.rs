//! A typed client for the HighLevel (LeadConnector) API v2, as the writer and poller use it.
//!
//! [`GhlClient`] covers every operation of the Contacts API (`apps/contacts.json`: contacts,
//! search, tasks, notes, tags, followers, campaigns, workflows, appointments, bulk updates),
//! plus `GET /locations/{id}` and the OAuth token endpoint. Request bodies are typed from the
//! official spec and omit unset fields (GHL answers 422 to properties a DTO does not declare).
//! Every call with a location token sends `Version: 2021-07-28`; every call carries the W3C
//! trace context and returns the `X-RateLimit-*` headers so callers can pace themselves.
//! Failures are one [`GhlError`], classified for retries ([`GhlError::is_transient`]).
//!
//! What every service calling GHL shares lives here too, so that the writer and the poller
//! spend one budget and one set of credentials per location:
//! - [`config`]: the GHL endpoint, locations (credentials, budget overrides), token storage;
//! - [`budget`]: each location's request budget (governor buckets adapted to `X-RateLimit-*`
//!   headers and 429s), split between services by `rate_limit.share`;
//! - [`auth`]: private integration tokens and OAuth installations, with the encrypted token
//!   store in KV and single-flight refresh across every replica of every service.

pub mod auth;
pub mod budget;
mod client;
pub mod config;
mod error;
pub mod types;

pub use client::{GhlClient, Response};
pub use error::{GhlError, RateLimitInfo};

/// The only `Version` header value the Contacts API accepts.
pub const API_VERSION: &str = "2021-07-28";
/// GHL's production API host.
pub const PRODUCTION_BASE_URL: &str = "https://services.leadconnectorhq.com";
