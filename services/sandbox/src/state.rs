//! The shared state behind every handler, and the handle tests and other crates use to inspect
//! and steer a running sandbox.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Caller, TokenKind};
use crate::config::{RateLimitConfig, SandboxConfig};
use crate::contact::ContactView;
use crate::error::{Error, Result};
use crate::faults::{FaultAction, FaultSpec, FaultView, Faults};
use crate::ratelimit::{RateLimiter, Verdict};
use crate::requests::{RequestLog, RequestRecord};
use crate::store::{LocationView, NewLocation, Store};

/// A cloneable handle on a sandbox's state: locations, contacts, the request log and faults.
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
    store: Mutex<Store>,
    limiter: Mutex<RateLimiter>,
    log: Mutex<RequestLog>,
    faults: Mutex<Faults>,
    /// Cancelled when the server shuts down, to cut simulated delays short.
    shutdown: CancellationToken,
}

/// Locks a mutex, recovering from poisoning: every critical section leaves the data consistent
/// before anything that could panic, so a poisoned lock is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SandboxState {
    /// Fresh state for `cfg` (with the demo location when `seed_demo` is set).
    pub fn new(cfg: &SandboxConfig) -> Self {
        Self {
            inner: Arc::new(Shared {
                seed_demo: cfg.seed_demo,
                rate_limit: cfg.rate_limit.clone(),
                latency: cfg.latency,
                store: Mutex::new(Store::new(cfg.seed_demo)),
                limiter: Mutex::new(RateLimiter::default()),
                log: Mutex::new(RequestLog::new(cfg.request_log_capacity)),
                faults: Mutex::new(Faults::default()),
                shutdown: CancellationToken::new(),
            }),
        }
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

    /// Forgets the logged requests (sequence numbers keep increasing).
    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// Creates a location with its token, settings and custom fields.
    pub fn add_location(&self, location: NewLocation) -> Result<LocationView> {
        lock(&self.inner.store).add_location(location)
    }

    /// One location.
    pub fn location(&self, id: &str) -> Option<LocationView> {
        lock(&self.inner.store).location_view(id)
    }

    /// Every location, by id.
    pub fn locations(&self) -> Vec<LocationView> {
        lock(&self.inner.store).location_views()
    }

    /// Adds a fault for the next matching requests.
    pub fn inject_fault(&self, fault: FaultSpec) -> Result<FaultView> {
        lock(&self.inner.faults).add(fault)
    }

    /// The active faults.
    pub fn faults(&self) -> Vec<FaultView> {
        lock(&self.inner.faults).list()
    }

    /// Removes every fault; returns how many there were.
    pub fn clear_faults(&self) -> usize {
        lock(&self.inner.faults).clear()
    }

    /// Back to the state right after start: locations and contacts re-seeded, faults, rate-limit
    /// budgets and the request log cleared.
    pub fn reset(&self) {
        *lock(&self.inner.store) = Store::new(self.inner.seed_demo);
        lock(&self.inner.limiter).clear();
        lock(&self.inner.faults).clear();
        lock(&self.inner.log).clear();
    }

    pub(crate) fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut lock(&self.inner.store))
    }

    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, (Error, TokenKind)> {
        auth::authenticate(&lock(&self.inner.store), headers)
    }

    /// Counts a request against the caller's budgets (its location's override, or the default).
    pub(crate) fn check_rate(&self, caller: &Caller) -> Verdict {
        let cfg = caller.rate_limit.as_ref().unwrap_or(&self.inner.rate_limit);
        let today = OffsetDateTime::now_utc().date();
        lock(&self.inner.limiter).check(
            &caller.token,
            &caller.location_id,
            cfg,
            Instant::now(),
            today,
        )
    }

    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<FaultAction> {
        lock(&self.inner.faults).take(method, path)
    }

    pub(crate) fn record(&self, record: RequestRecord) {
        lock(&self.inner.log).push(record);
    }

    /// The configured base latency of GHL API responses.
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

    /// Cuts simulated delays short (called when the server stops).
    pub(crate) fn shutting_down(&self) {
        self.inner.shutdown.cancel();
    }
}
