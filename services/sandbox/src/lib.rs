//! `relay-sandbox`: a HighLevel (LeadConnector) API v2 simulator, faithful enough that a client
//! passing against it passes against GHL, plus Shift4Shop's REST customers API. It is the local
//! stack's default target and the oracle of end-to-end tests; it starts in milliseconds and
//! keeps everything in memory, or, with `data_file`, also in a JSON file across restarts.
//!
//! # What it simulates
//!
//! - **Contacts, all 32 operations of `apps/contacts.json`**: create (201), get, update
//!   (`succeded`), delete, upsert (200 with `new`), duplicate search, search (filters, groups,
//!   sort, `page` and `searchAfter` paging, free text), contacts by business, the deprecated
//!   `GET /contacts/` (keyset paging by `meta.startAfter`/`startAfterId`), custom field
//!   filters (`customFields.<id>` or `customFields.<fieldKey>`), tasks, notes,
//!   appointments (read; seeded through the control API), tags, bulk tags, bulk business,
//!   followers, campaigns and workflows, with GHL's DTO whitelists (422
//!   `"property X should not exist"`), duplicate rules, read shapes and quirks (`succeded`,
//!   tags replacing on update/upsert, custom fields written `{id|key, field_value}` and read
//!   `{id, value}`).
//! - **Locations**: `GET /locations/{id}` with `settings.allowDuplicateContact`, custom field
//!   definitions (`GET/POST/PUT/DELETE /locations/{id}/customFields...`), the tag catalogue,
//!   the location-wide task search (`POST /locations/{id}/tasks/search`), businesses,
//!   campaigns, workflows and users (enough to resolve ids).
//! - **Auth**: private integration tokens per location; OAuth `POST /oauth/token`
//!   (`authorization_code`, `refresh_token`; expiring access tokens; rotating refresh tokens,
//!   the used one invalidated); agency installs: `Company` tokens, exchanged for location
//!   tokens at `POST /oauth/locationToken`, and `GET /oauth/installedLocations`; the
//!   `Version` header; 401 bodies for missing, invalid and expired tokens (`"Invalid JWT"`)
//!   and for a token of the wrong class (`"The token is not authorized for this scope."`);
//!   403 across locations.
//! - **Rate limits** per (app or token, location): 100 / 10 s and 200,000 / day by default,
//!   the five `X-RateLimit-*` headers, 429s, and a selectable burst algorithm (sliding or fixed
//!   window).
//! - **Search index lag**: writes reach search after `search_index_lag` (runtime adjustable).
//! - **Faults**, global or per location, at a rate or every time: added latency, any 4xx/5xx,
//!   hangs, TCP resets, forced token expiry, forced 429s.
//! - **Inspection and control** under `/_sandbox/` (see `routes::control`): locations and
//!   tokens, every stored entity, the request log and counts per endpoint and status, the clock
//!   (system or frozen, steppable), the index lag, OAuth apps and installs, Shift4Shop
//!   stores, reset.
//! - **Persistence** (optional): with `data_file` (`--data-file PATH`) the state is read from
//!   a JSON file at start and written back atomically after changes and at shutdown.
//! - **Shift4Shop** customers (`GET/POST /Customers`, `GET/PUT /Customers/{id}`, headers
//!   `SecureURL`, `PrivateKey`, `Token`, `limit`/`offset` paging) under the path prefix
//!   `/shift4shop`: a client with base URL `http://<sandbox>/shift4shop` calls
//!   `/3dCartWebAPI/v1/Customers` exactly as on `https://apirest.3dcart.com`. One listener
//!   serves both APIs so the local stack has one simulator to run; the prefix cannot collide
//!   with a GHL path.
//!
//! Seeded (`seed_demo`): location `demo-location` (token `pit-relay-demo`) with three custom
//! fields, a user, a campaign and a workflow; OAuth app `relay-demo-client` /
//! `relay-demo-client-secret`; Shift4Shop store `https://relay-demo.3dcartstores.com` with
//! private key `s4s-demo-private-key` and token `s4s-demo-token`.
//!
//! # Conformance
//!
//! `tests/it/conformance.rs` validates every response of a scenario covering all Contacts
//! operations against the official OpenAPI files with a JSON Schema validator, and writes
//! `CONFORMANCE.md`, which lists where the sandbox follows observed behaviour instead of the
//! spec. Where GHL's behaviour is undocumented the sandbox picks the stricter reading, so
//! clients do not come to rely on leniency GHL may not have:
//!
//! | case | sandbox answer |
//! |---|---|
//! | no `Version` header | 401 `{"statusCode":401,"message":"version header was not found.","error":"Unauthorized"}` (wording and status from third-party live probes) |
//! | `Version` other than `2021-07-28` | 401 `"version header is invalid"` (GHL accepts its other published versions too) |
//! | expired OAuth access token | 401 `{"statusCode":401,"message":"Invalid JWT"}` (highlevel-api-docs issue #213) |
//! | unknown contact id | 404 `{"statusCode":404,"message":"Contact not found"}` (v3 `NotFoundDTO` shape) |
//! | 429 | `{"statusCode":429,"message":"Too Many Requests - Rate limit exceeded"}`, no `Retry-After` |
//! | unknown custom field id/key | 422 `["customFields.N.key K is not a custom field of location L"]` |
//! | update taking another contact's email/phone (duplicates disallowed) | the create-duplicate 400 with `meta` |
//! | tags | trimmed, lower-cased, de-duplicated (as GHL stores them) |
//! | unencoded `+` in duplicate search `number` | decodes to a space: no match |
//! | unknown query parameters | 422 with a message array, like unknown body properties |
//! | search filter on an unknown field/operator | 400 `"Invalid field X"` (issue #289) |
//! | search filter `customFields.<id or fieldKey>` | text fields take the text operators (ignoring case; list values match by item), numbers `eq`/`not_eq`/`range`, dates `range`, every type `exists`/`not_exists`; another operator is 400 `"Operator X is not supported for field customFields.Y"` (GHL's syntax is in its external search document, which the reference does not reproduce) |
//! | location task search order | by `dueDate`, then id; `limit` 25 and `skip` 0 by default |
//! | agency (`Company`) token on a location endpoint, or a location token on an agency one | 401 `"The token is not authorized for this scope."` (wording from issue #319) |
//! | deprecated `GET /contacts/` order | newest first (`dateAdded` desc, then id); `meta.startAfter` is the last contact's `dateAdded` in ms |
//! | search, list and contacts-by-business | read the lagging index; get-by-id, upsert matching and duplicate search do not |
//! | malformed JSON | 400 `{"statusCode":400,"message":"Malformed JSON body: ...","error":"Bad Request"}` |
//! | Shift4Shop paging | `offset` skips records; an empty result is 404 `Not Found`, an offset past the end 400 `Offset amount exceeds the total number of records` |
//!
//! # Benchmark
//!
//! `cargo bench -p relay-sandbox --bench throughput` measures upsert and search requests per
//! second against a trivial axum handler in the same process and prints the ratios. Search
//! keeps up because the index holds each location's documents newest first (the default
//! order) with lazily built posting lists for exact tag, email and phone filters, and renders
//! each result's JSON once (see `store::search`).
//!
//! # Use
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
mod clock;
mod config;
mod contact;
mod dto;
mod entities;
mod error;
mod faults;
mod ids;
mod oauth;
mod persist;
mod ratelimit;
mod requests;
mod routes;
mod server;
mod shift4shop;
mod state;
mod store;

pub use auth::{ACCEPTED_VERSIONS, TokenKind};
pub use clock::{Clock, ClockMode};
pub use config::{OAuthConfig, RateLimitAlgorithm, RateLimitConfig, SandboxConfig};
pub use contact::{ContactView, CustomFieldValue, SearchContactView};
pub use entities::{
    Appointment, Business, Campaign, ContactExtras, LocationEntities, LocationSeed, LocationTag,
    NewNamed, Note, Task, User, Workflow, WorkflowEnrollment,
};
pub use error::{Error, Result};
pub use faults::{FaultKind, FaultSpec, FaultView};
pub use oauth::{
    AccessTokenView, AuthCodeView, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, NewAuthCode, NewOAuthApp,
    OAuthAppView, TokenGrant,
};
pub use requests::{RequestCount, RequestRecord};
pub use server::{Sandbox, router};
pub use shift4shop::{DEMO_SHOP_PRIVATE_KEY, DEMO_SHOP_TOKEN, DEMO_SHOP_URL, NewShop, ShopView};
pub use state::SandboxState;
pub use store::{
    CustomFieldDef, DEMO_COMPANY_ID, DEMO_LOCATION_ID, DEMO_LOCATION_NAME, DEMO_TOKEN, DataType,
    LocationView, MatchField, NewCustomField, NewLocation,
};
