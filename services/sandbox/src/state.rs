//! The shared state behind every handler, and the handle tests and other crates use to inspect
//! and steer a running sandbox.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::HeaderMap;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Caller, TokenKind};
use crate::clock::Clock;
use crate::config::{OAuthConfig, RateLimitConfig, SandboxConfig};
use crate::contact::ContactView;
use crate::entities::{LocationEntities, LocationSeed};
use crate::error::{Error, Result};
use crate::faults::{FaultAction, FaultSpec, FaultView, Faults, Target};
use crate::oauth::{AccessTokenView, AuthCodeView, NewAuthCode, NewOAuthApp, OAuthAppView};
use crate::ratelimit::{RateLimitHeaders, RateLimiter, Verdict};
use crate::requests::{RequestCount, RequestLog, RequestRecord};
use crate::shift4shop::{NewShop, ShopView};
use crate::store::{LocationView, NewLocation, Now, Store};

/// A cloneable handle on a sandbox's state: locations, contacts, OAuth, the request log,
/// faults and the clock.
///
/// Every method takes a short, synchronous lock; none is held across an `.await`.
#[derive(Clone, Debug)]
pub struct SandboxState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    seed_demo: bool,
    rate_limit: RateLimitConfig,
    latency: Duration,
    oauth: OAuthConfig,
    clock: Clock,
    store: Mutex<Store>,
    limiter: Mutex<RateLimiter>,
    log: Mutex<RequestLog>,
    faults: Mutex<Faults>,
    /// Cancelled when the server shuts down, to cut simulated delays and hangs short.
    shutdown: CancellationToken,
    /// Moves on every change the data file must get (see `persist`).
    changes: AtomicU64,
}

/// Locks a mutex, recovering from poisoning: every critical section leaves the data consistent
/// before anything that could panic, so a poisoned lock is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SandboxState {
    /// Fresh state for `cfg` (with the demo location, OAuth app and Shift4Shop store when
    /// `seed_demo` is set).
    pub fn new(cfg: &SandboxConfig) -> Self {
        let clock = Clock::new(cfg.clock);
        Self {
            inner: Arc::new(Shared {
                seed_demo: cfg.seed_demo,
                rate_limit: cfg.rate_limit.clone(),
                latency: cfg.latency,
                oauth: cfg.oauth.clone(),
                store: Mutex::new(Store::new(
                    cfg.seed_demo,
                    cfg.search_index_lag,
                    clock.now_utc(),
                )),
                limiter: Mutex::new(RateLimiter::new(clock.now())),
                log: Mutex::new(RequestLog::new(cfg.request_log_capacity)),
                faults: Mutex::new(Faults::new(cfg.fault_seed)),
                clock,
                shutdown: CancellationToken::new(),
                changes: AtomicU64::new(0),
            }),
        }
    }

    /// Replaces the store with the one saved in `path`, if the file exists; returns whether it
    /// did. Everything read is searchable at once.
    pub(crate) fn restore(&self, path: &Path) -> io::Result<bool> {
        let Some(bytes) = crate::persist::read(path)? else {
            return Ok(false);
        };
        let mut store = lock(&self.inner.store);
        let lag = store.search_lag();
        *store = Store::load(&bytes, lag, self.inner.clock.now()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        Ok(true)
    }

    /// The store as the data file holds it.
    pub(crate) fn saved_bytes(&self) -> io::Result<Vec<u8>> {
        lock(&self.inner.store).save().map_err(io::Error::other)
    }

    /// Records that the state changed (for the data file). Called after the change, so a save
    /// that read the new mark also holds the change.
    pub(crate) fn mark_changed(&self) {
        self.inner.changes.fetch_add(1, Ordering::Release);
    }

    /// `result`, after recording a change.
    fn changed<T>(&self, result: T) -> T {
        self.mark_changed();
        result
    }

    /// How many changes were recorded.
    pub(crate) fn change_mark(&self) -> u64 {
        self.inner.changes.load(Ordering::Acquire)
    }

    /// Every contact of a location, in creation order, with tags and custom fields (empty for
    /// an unknown location).
    pub fn contacts(&self, location_id: &str) -> Vec<ContactView> {
        lock(&self.inner.store)
            .contacts(location_id)
            .unwrap_or_default()
    }

    /// Every logged request, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.requests_since(0)
    }

    /// Logged requests with `seq > since`, oldest first.
    pub fn requests_since(&self, since: u64) -> Vec<RequestRecord> {
        lock(&self.inner.log).since(since, usize::MAX)
    }

    /// Requests answered per (method, route, status), since start or the last reset/clear.
    pub fn request_counts(&self) -> Vec<RequestCount> {
        lock(&self.inner.log).counts()
    }

    /// Forgets the logged requests and counts (sequence numbers keep increasing).
    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// Creates a location with its token, settings, custom fields, users, campaigns and
    /// workflows.
    pub fn add_location(&self, location: NewLocation) -> Result<LocationView> {
        let now = self.inner.clock.now_utc();
        let result = lock(&self.inner.store).add_location(location, now);
        self.changed(result)
    }

    /// One location.
    pub fn location(&self, id: &str) -> Option<LocationView> {
        lock(&self.inner.store).location_view(id)
    }

    /// Every location, by id.
    pub fn locations(&self) -> Vec<LocationView> {
        lock(&self.inner.store).location_views()
    }

    /// Everything a location holds besides contacts: tags, businesses, campaigns, workflows,
    /// users, appointments, and per contact its tasks, notes and enrolments.
    pub fn location_entities(&self, id: &str) -> Option<LocationEntities> {
        lock(&self.inner.store).location_entities(id)
    }

    /// Adds users, campaigns, workflows and appointments to a location.
    pub fn seed_location(&self, id: &str, seed: LocationSeed) -> Result<LocationEntities> {
        let now = self.inner.clock.now_utc();
        let result = lock(&self.inner.store).seed_location(id, seed, now);
        self.changed(result)
    }

    /// Adds a fault for the next matching requests.
    pub fn inject_fault(&self, fault: FaultSpec) -> Result<FaultView> {
        lock(&self.inner.faults).add(fault)
    }

    /// The active faults.
    pub fn faults(&self) -> Vec<FaultView> {
        lock(&self.inner.faults).list()
    }

    /// Removes one fault; false when there is none with that id.
    pub fn remove_fault(&self, id: u64) -> bool {
        lock(&self.inner.faults).remove(id)
    }

    /// Removes every fault; returns how many there were.
    pub fn clear_faults(&self) -> usize {
        lock(&self.inner.faults).clear()
    }

    /// The sandbox's clock.
    pub fn clock(&self) -> Clock {
        self.inner.clock.clone()
    }

    /// Moves the sandbox's clock forward (token expiry, rate-limit windows, index lag).
    pub fn advance_clock(&self, by: Duration) {
        self.inner.clock.advance(by);
    }

    /// How long writes take to reach search.
    pub fn search_index_lag(&self) -> Duration {
        lock(&self.inner.store).search_lag()
    }

    /// Changes how long writes take to reach search (writes already made keep their time).
    pub fn set_search_index_lag(&self, lag: Duration) {
        lock(&self.inner.store).set_search_lag(lag);
    }

    /// Writes not yet visible to search, per location.
    pub fn pending_index_writes(&self) -> serde_json::Map<String, serde_json::Value> {
        lock(&self.inner.store).pending_index_writes()
    }

    /// Registers an OAuth app.
    pub fn add_oauth_app(&self, app: NewOAuthApp) -> Result<OAuthAppView> {
        let result = lock(&self.inner.store).oauth.add_app(app);
        self.changed(result)
    }

    /// Installs an app, as if a user had approved it for the location (or, with
    /// `company_id`, for the agency), and issues the authorization code.
    pub fn issue_auth_code(&self, code: NewAuthCode) -> Result<AuthCodeView> {
        let now = self.inner.clock.now_utc();
        let mut store = lock(&self.inner.store);
        let sites = store.sites();
        let result = store.oauth.issue_code(code, &sites, now, &self.inner.oauth);
        drop(store);
        self.changed(result)
    }

    /// Forces expiry of OAuth access tokens (one token, one location's, or all when both are
    /// `None`); returns how many were still valid.
    pub fn expire_tokens(&self, token: Option<&str>, location_id: Option<&str>) -> usize {
        let now = self.inner.clock.now_utc();
        let result = lock(&self.inner.store)
            .oauth
            .expire(token, location_id, now);
        self.changed(result)
    }

    /// Every OAuth access token issued.
    pub fn oauth_tokens(&self) -> Vec<AccessTokenView> {
        let now = self.inner.clock.now_utc();
        lock(&self.inner.store).oauth.tokens(now)
    }

    /// Creates a Shift4Shop store.
    pub fn add_shop(&self, shop: NewShop) -> Result<ShopView> {
        let result = lock(&self.inner.store).shops.add(shop);
        self.changed(result)
    }

    /// Every Shift4Shop store with its customers.
    pub fn shops(&self) -> Vec<ShopView> {
        lock(&self.inner.store).shops.views()
    }

    /// Back to the state right after start: locations, contacts, OAuth and Shift4Shop
    /// re-seeded, faults, rate-limit budgets and the request log cleared. The clock keeps its
    /// time.
    pub fn reset(&self) {
        let now = self.inner.clock.now_utc();
        {
            let mut store = lock(&self.inner.store);
            let lag = store.search_lag();
            *store = Store::new(self.inner.seed_demo, lag, now);
        }
        self.mark_changed();
        *lock(&self.inner.limiter) = RateLimiter::new(self.inner.clock.now());
        lock(&self.inner.faults).clear();
        lock(&self.inner.log).clear();
    }

    pub(crate) fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut lock(&self.inner.store))
    }

    /// The current time for store operations.
    pub(crate) fn now(&self) -> Now {
        Now {
            utc: self.inner.clock.now_utc(),
            at: self.inner.clock.now(),
        }
    }

    /// The OAuth lifetimes.
    pub(crate) fn oauth_config(&self) -> &OAuthConfig {
        &self.inner.oauth
    }

    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, (Error, TokenKind)> {
        let now = self.inner.clock.now_utc();
        auth::authenticate(&lock(&self.inner.store), headers, now)
    }

    /// The location a request's bearer token points at, if any.
    pub(crate) fn token_location(&self, headers: &HeaderMap) -> Option<String> {
        auth::token_location(&lock(&self.inner.store), headers).map(str::to_owned)
    }

    /// Forces expiry of the request's OAuth token; false when it is not one.
    pub(crate) fn expire_request_token(&self, headers: &HeaderMap) -> bool {
        let Some(token) = auth::bearer(headers) else {
            return false;
        };
        let now = self.inner.clock.now_utc();
        let mut store = lock(&self.inner.store);
        if !store.oauth.knows_token(token) {
            return false;
        }
        store.oauth.expire(Some(token), None, now);
        drop(store);
        self.changed(true)
    }

    fn limits_of<'a>(&'a self, caller: &'a Caller) -> &'a RateLimitConfig {
        caller.rate_limit.as_ref().unwrap_or(&self.inner.rate_limit)
    }

    /// Counts a request against the caller's budgets (its location's override, or the default).
    pub(crate) fn check_rate(&self, caller: &Caller) -> Verdict {
        let cfg = self.limits_of(caller);
        let today = self.inner.clock.now_utc().date();
        lock(&self.inner.limiter).check(
            &caller.rate_key,
            &caller.location_id,
            cfg,
            self.inner.clock.now(),
            today,
        )
    }

    /// The headers of a forced 429 for the caller.
    pub(crate) fn exhausted(&self, caller: &Caller) -> RateLimitHeaders {
        let cfg = self.limits_of(caller);
        let today = self.inner.clock.now_utc().date();
        lock(&self.inner.limiter).exhausted(&caller.rate_key, &caller.location_id, cfg, today)
    }

    pub(crate) fn take_fault(&self, target: Target<'_>) -> Option<FaultAction> {
        lock(&self.inner.faults).take(target)
    }

    pub(crate) fn record(&self, record: RequestRecord, body: axum::body::Bytes) {
        lock(&self.inner.log).push(record, body);
    }

    /// Whether some fault only applies to one location (so requests must be mapped to one).
    pub(crate) fn has_location_faults(&self) -> bool {
        lock(&self.inner.faults).has_location_faults()
    }

    /// The configured base latency of API responses.
    pub(crate) fn latency(&self) -> Duration {
        self.inner.latency
    }

    /// Sleeps for `d`, or less if the server shuts down meanwhile.
    pub(crate) async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.inner.shutdown.cancelled() => {}
        }
    }

    /// Waits until the server shuts down (a hung request).
    pub(crate) async fn hang(&self) {
        self.inner.shutdown.cancelled().await;
    }

    /// Cuts simulated delays short (called when the server stops).
    pub(crate) fn shutting_down(&self) {
        self.inner.shutdown.cancel();
    }
}
