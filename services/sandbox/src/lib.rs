//! `relay-sandbox`: a HighLevel (LeadConnector) API v2 simulator, faithful enough that a client
//! passing against it passes against GHL. It is the local stack's default target and the oracle
//! of end-to-end tests.
//!
//! What it simulates today (the foundation; more Contacts operations, OAuth and search follow):
//!
//! - `POST /contacts/upsert`, `POST /contacts/`, `GET|PUT /contacts/{contactId}`,
//!   `GET /contacts/search/duplicate`, `POST|DELETE /contacts/{contactId}/tags`, with GHL's DTO
//!   whitelists (422 `"property X should not exist"`), duplicate rules and read shapes;
//! - private integration tokens mapped to one location, the `Version` header, 403 across
//!   locations;
//! - rate limits per (token, location) with the five `X-RateLimit-*` headers and 429s;
//! - injected faults (status and/or delay), a request log, per-location settings and custom
//!   fields, all steerable through `/_sandbox/` endpoints or [`SandboxState`].
//!
//! Where GHL's behaviour is undocumented the sandbox picks the stricter reading, so clients do
//! not come to rely on leniency GHL may not have:
//!
//! | case | sandbox answer |
//! |---|---|
//! | no `Version` header | 401 `{"statusCode":401,"message":"version header was not found.","error":"Unauthorized"}` (wording and status from third-party live probes) |
//! | `Version` other than `2021-07-28` | 401 `"version header is invalid"` (GHL accepts its other published versions too) |
//! | unknown contact id | 404 `{"statusCode":404,"message":"Contact not found"}` (v3 `NotFoundDTO` shape) |
//! | 429 | `{"statusCode":429,"message":"Too Many Requests - Rate limit exceeded"}`, no `Retry-After` |
//! | unknown custom field id/key | 422 `["customFields.N.key K is not a custom field of location L"]` |
//! | update taking another contact's email/phone (duplicates disallowed) | the create-duplicate 400 with `meta` |
//! | tags | trimmed, lower-cased, de-duplicated (as GHL stores them) |
//! | unencoded `+` in duplicate search `number` | decodes to a space: no match |
//! | malformed JSON | 400 `{"statusCode":400,"message":"Malformed JSON body: ...","error":"Bad Request"}` |
//!
//! Use it in-process:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use relay_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::bind(SandboxConfig::for_tests()).await?;
//! let base = format!("http://{}", sandbox.local_addr());
//! let state = sandbox.state();
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! tokio::spawn(sandbox.run(shutdown.clone()));
//! // ... drive a client against `base`, then inspect:
//! let contacts = state.contacts(relay_sandbox::DEMO_LOCATION_ID);
//! shutdown.cancel();
//! # let _ = (base, contacts);
//! # Ok(()) }
//! ```

mod auth;
mod config;
mod contact;
mod dto;
mod error;
mod faults;
mod ids;
mod ratelimit;
mod requests;
mod routes;
mod server;
mod state;
mod store;

pub use auth::{ACCEPTED_VERSIONS, TokenKind};
pub use config::{RateLimitConfig, SandboxConfig};
pub use contact::{ContactView, CustomFieldValue};
pub use error::{Error, Result};
pub use faults::{FaultSpec, FaultView};
pub use requests::RequestRecord;
pub use server::{Sandbox, router};
pub use state::SandboxState;
pub use store::{
    CustomFieldDef, DEMO_LOCATION_ID, DEMO_LOCATION_NAME, DEMO_TOKEN, DataType, LocationView,
    MatchField, NewCustomField, NewLocation,
};
