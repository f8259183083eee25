//! A location's request budget: two governor buckets (GCRA), one shaped so that no burst window
//! (10 s) holds more than the location's limit, one for the daily limit; adapted at run time to
//! what GHL reports (`X-RateLimit-*`) and to 429s.
//!
//! # Shaping
//!
//! GCRA with burst `b` and emission interval `p` admits `n` requests in a window of length `W`
//! only if `(n - 1)·p - (b - 1)·p < W`, so at most `b - 1 + W/p` (rounded up, exclusive) requests
//! in any window `W`. Choosing `p = W / (L - b + 1)` makes that exactly `L`, the documented limit.
//! A small burst (`b = 2` for GHL's 100 / 10 s) absorbs the jitter of real wake-ups (with
//! `b = 1`, every late wake-up would be lost for good), and the window is stretched by a
//! hundredth (100 ms) against latency jitter: greedy sending uses 98 % of the limit.
//! The daily bucket uses a tenth of the day's limit as its burst, so a busy hour is not paced
//! at the day's average rate.
//!
//! # Adapting
//!
//! - [`Budget::observe`] reads the rate-limit headers of every response: a lower
//!   `X-RateLimit-Max` (or longer `X-RateLimit-Interval-Milliseconds`) or lower
//!   `X-RateLimit-Limit-Daily` than configured reshapes the buckets to it (times `share`);
//!   `X-RateLimit-Remaining: 0` while this budget has not spent its own share of the window
//!   means another client spends this location's budget too: the location is held until the
//!   window has passed; `X-RateLimit-Daily-Remaining: 0` holds it until the day turns (probing
//!   at most hourly, since GHL does not say when its day starts).
//! - [`Budget::throttled`] on a 429 holds the location for `Retry-After` (or one window) and
//!   lowers its rate multiplicatively (×0.8, down to a quarter); every clean window afterwards
//!   gives back 5 % of the limit (AIMD), so a location settles just under what GHL lets it do.
//!
//! Every location has its own [`Budget`] ([`Budgets`]): a 429 slows that location only.
//!
//! # Sharing a location with other services
//!
//! The writer and the poller call GHL for the same locations, each in its own process. Each
//! builds its budgets from the same [`RateLimitConfig`] with its own `share` (e.g. writer 0.8,
//! poller 0.2), so together they stay within GHL's limit; what GHL reports
//! (`X-RateLimit-Remaining: 0` before this process spent its share) holds the location as
//! described above. Metrics carry the service's name (`relay_<service>_budget_*`).
//!
//! A reshape starts the new bucket empty, so a shape change never grants an extra burst.
//! Holds and buckets read the same [`Clock`], so tests drive both with
//! [`governor::clock::FakeRelativeClock`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, ReasonablyRealtime, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use relay_contracts::Token;

use crate::RateLimitInfo;
use crate::config::{GhlSettings, RateLimitConfig};

const DAY: Duration = Duration::from_secs(86_400);
/// A 429 multiplies the rate by this.
const DECREASE: f64 = 0.8;
/// The lowest rate 429s can push a location to, as a fraction of its limit.
const FLOOR: f64 = 0.25;
/// What each clean window gives back after a 429, as a fraction of the limit.
const INCREASE: f64 = 0.05;
/// A spent daily budget is probed again after at most this long.
const DAILY_PROBE: Duration = Duration::from_secs(3600);
/// Most of the latency jitter the burst shape absorbs (a hundredth of the window up to this).
const MAX_GUARD: Duration = Duration::from_millis(250);
/// Shortest hold a 429 causes (a `Retry-After: 0` must not turn into a busy loop).
const MIN_HOLD: Duration = Duration::from_millis(100);
/// Longest hold a `Retry-After` can ask for.
const MAX_HOLD: Duration = Duration::from_secs(3600);

type Bucket<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Why a location is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldReason {
    /// GHL answered 429.
    Throttled,
    /// GHL reported the window spent (`X-RateLimit-Remaining: 0`) before this budget spent its
    /// share: someone else uses this location's budget too.
    WindowSpent,
    /// GHL reported the day's budget spent (`X-RateLimit-Daily-Remaining: 0`).
    DailySpent,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::Throttled => "throttled",
            HoldReason::WindowSpent => "window_spent",
            HoldReason::DailySpent => "daily_spent",
        }
    }
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HoldReason::Throttled => "GHL answered 429 Too Many Requests",
            HoldReason::WindowSpent => {
                "GHL reports the burst window spent (X-RateLimit-Remaining: 0): another client uses this location's budget too"
            }
            HoldReason::DailySpent => {
                "daily limit reached: GHL reports no requests left today (X-RateLimit-Daily-Remaining: 0)"
            }
        })
    }
}

/// A budget's state, for admin status and metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetSnapshot {
    /// The burst window the limits below are counted in.
    pub window: Duration,
    /// Requests per window from the config (after `share`).
    pub configured_window_limit: u32,
    /// Requests per window after what GHL reported (after `share`).
    pub window_limit: u32,
    /// Requests per window admitted now (lower than `window_limit` after 429s).
    pub effective_window_limit: u32,
    /// Requests per day from the config (after `share`).
    pub configured_daily_limit: u32,
    /// Requests per day after what GHL reported (after `share`).
    pub daily_limit: u32,
    /// How much longer the location is held.
    pub held_for: Option<Duration>,
    pub hold_reason: Option<HoldReason>,
    /// 429s seen.
    pub throttled_total: u64,
    /// Requests admitted.
    pub admitted_total: u64,
}

/// A GCRA shape: at most `limit` requests in any `window`, starting with up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Shape {
    limit: u32,
    window: Duration,
    burst: u32,
}

impl Shape {
    fn burst_window(limit: u32, window: Duration) -> Self {
        let limit = limit.max(2);
        // Two cells absorb late wake-ups; tiny limits cannot spare the second one.
        let burst = if limit >= 10 { (limit / 50).max(2) } else { 1 };
        Self {
            limit,
            window,
            burst,
        }
    }

    fn daily(limit: u32) -> Self {
        let limit = limit.max(2);
        Self {
            limit,
            window: DAY,
            burst: (limit / 10).clamp(1, limit),
        }
    }

    /// The cells one window refills at full rate.
    fn refill(self) -> u32 {
        self.limit - self.burst + 1
    }

    /// Requests admitted in one window with the rate multiplied by `factor`.
    fn limit_at(self, factor: f64) -> u32 {
        self.burst - 1 + (f64::from(self.refill()) * factor).floor() as u32
    }

    /// A bucket of this shape, rate multiplied by `factor`, with `available` burst cells left
    /// (a reshape starts empty so it never grants an extra burst).
    fn bucket<C: Clock + Clone>(self, factor: f64, available: u32, clock: &C) -> Bucket<C> {
        let per_window = f64::from(self.refill()) * factor;
        // GHL counts requests when they arrive, a varying latency after we admit them: shaping
        // to a slightly longer window keeps that jitter from pushing one request too many into
        // GHL's window.
        let guard = (self.window / 100).min(MAX_GUARD);
        // Rounded up: a period a nanosecond short could admit one request too many.
        let nanos = ((self.window + guard).as_nanos() as f64 / per_window).ceil() as u64;
        let quota = Quota::with_period(Duration::from_nanos(nanos.max(1)))
            .expect("period is positive")
            .allow_burst(NonZeroU32::new(self.burst).expect("burst is at least 1"));
        let bucket = RateLimiter::direct_with_clock(quota, clock.clone());
        if let Some(spent) = NonZeroU32::new(self.burst.saturating_sub(available)) {
            let _ = bucket.check_n(spent);
        }
        bucket
    }
}

/// `value × share`, at least 2.
fn scaled(value: u32, share: f64) -> u32 {
    ((f64::from(value) * share).floor() as u32).max(2)
}

/// The strictest burst shape that keeps both the configured limit and the one GHL reports.
///
/// Windows may differ: shaped to `L` per the longer window `W` with burst `b`, a shorter
/// window `Wi` holds at most `b + (L - b)·Wi/W`, so `L` is the largest value keeping that
/// under each `Li`.
fn ceiling(cfg: &RateLimitConfig, reported: &Reported) -> Shape {
    let configured = (scaled(cfg.burst_max, cfg.share), cfg.burst_interval);
    let ghl = reported.max.map(|max| {
        (
            scaled(max, cfg.share),
            reported
                .interval
                .filter(|i| !i.is_zero())
                .unwrap_or(cfg.burst_interval),
        )
    });
    let constraints: Vec<(u32, Duration)> = std::iter::once(configured).chain(ghl).collect();
    let window = constraints
        .iter()
        .map(|c| c.1)
        .max()
        .unwrap_or(cfg.burst_interval);
    let min_limit = constraints.iter().map(|c| c.0).min().unwrap_or(2);
    let base = Shape::burst_window(min_limit, window);
    let limit = constraints
        .iter()
        .map(|&(l, w)| {
            let scale = window.as_secs_f64() / w.as_secs_f64();
            base.burst + (f64::from(l - base.burst) * scale).floor() as u32
        })
        .min()
        .unwrap_or(min_limit);
    Shape { limit, ..base }
}

/// The last limits GHL reported.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Reported {
    max: Option<u32>,
    interval: Option<Duration>,
    daily: Option<u32>,
}

struct Hold<I> {
    until: I,
    reason: HoldReason,
}

struct State<C: Clock> {
    burst: Bucket<C>,
    daily: Bucket<C>,
    /// The burst shape before 429s lower it.
    shape: Shape,
    daily_shape: Shape,
    /// The rate as a fraction of `shape`'s (AIMD).
    factor: f64,
    reported: Reported,
    hold: Option<Hold<C::Instant>>,
    /// Clean windows (for the additive increase) are counted from here.
    steady_since: C::Instant,
    /// The last multiplicative decrease: at most one per window, since the 429s of requests
    /// already in flight say nothing new.
    last_decrease: Option<C::Instant>,
    /// When this budget admitted its requests of the last window.
    recent: VecDeque<C::Instant>,
    admitted: u64,
    throttled: u64,
}

impl<C: Clock> State<C> {
    fn effective_limit(&self) -> u32 {
        self.shape.limit_at(self.factor)
    }

    fn prune(&mut self, now: C::Instant, window: Duration) {
        let window = Nanos::from(window);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.recent.pop_front();
        }
    }

    fn hold_until(&mut self, until: C::Instant, reason: HoldReason) -> bool {
        if self.hold.as_ref().is_some_and(|h| h.until >= until) {
            return false;
        }
        self.hold = Some(Hold { until, reason });
        true
    }
}

/// The budget of one location.
pub struct Budget<C: Clock = DefaultClock> {
    clock: C,
    cfg: RateLimitConfig,
    /// The location, for logs and metrics.
    name: String,
    /// The service spending this budget (`writer`, `poller`): metric names are
    /// `relay_<service>_...`.
    service: &'static str,
    state: Mutex<State<C>>,
}

impl<C: Clock> fmt::Debug for Budget<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("location", &self.name)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl<C: Clock + Clone> Budget<C> {
    pub fn with_clock(cfg: &RateLimitConfig, clock: &C) -> Self {
        let shape = ceiling(cfg, &Reported::default());
        let daily_shape = Shape::daily(scaled(cfg.daily_max, cfg.share));
        let state = State {
            burst: shape.bucket(1.0, shape.burst, clock),
            daily: daily_shape.bucket(1.0, daily_shape.burst, clock),
            shape,
            daily_shape,
            factor: 1.0,
            reported: Reported::default(),
            hold: None,
            steady_since: clock.now(),
            last_decrease: None,
            recent: VecDeque::new(),
            admitted: 0,
            throttled: 0,
        };
        Self {
            clock: clock.clone(),
            cfg: *cfg,
            name: String::new(),
            service: "writer",
            state: Mutex::new(state),
        }
    }

    /// Names the budget after its location (logs and metrics).
    pub fn named(mut self, location: &Token) -> Self {
        self.name = location.as_str().to_owned();
        self
    }

    /// Names the service spending the budget (metric names: `relay_<service>_...`; default
    /// `writer`).
    pub fn for_service(mut self, service: &'static str) -> Self {
        self.service = service;
        self
    }

    fn metric(&self, name: &str) -> String {
        format!("relay_{}_{name}", self.service)
    }

    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // The state stays consistent across a panic (every update is a few assignments).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes one request if the location is not held and both buckets have room now;
    /// otherwise says how long to wait before asking again.
    pub fn check(&self) -> Result<(), Duration> {
        let mut s = self.lock();
        let now = self.clock.now();
        self.settle(&mut s, now);
        if let Some(h) = &s.hold {
            return Err(h.until.duration_since(now).into());
        }
        // A governor check consumes a cell when it succeeds, so the burst bucket (the one that
        // usually says no) goes first; a daily refusal wastes one burst cell, rarely.
        if let Err(not_until) = s.burst.check() {
            return Err(not_until.wait_time_from(now));
        }
        if let Err(not_until) = s.daily.check() {
            return Err(not_until.wait_time_from(now));
        }
        s.admitted += 1;
        let window = s.shape.window;
        s.recent.push_back(now);
        s.prune(now, window);
        Ok(())
    }

    /// Takes one request from both buckets if both have room now.
    pub fn try_acquire(&self) -> bool {
        self.check().is_ok()
    }

    /// Adapts to the rate-limit headers of a response (successful or not).
    pub fn observe(&self, info: &RateLimitInfo) {
        let mut s = self.lock();
        let now = self.clock.now();
        self.settle(&mut s, now);
        let reported = Reported {
            max: info.max.or(s.reported.max),
            interval: info.interval.or(s.reported.interval),
            daily: info.daily_limit.or(s.reported.daily),
        };
        if reported != s.reported {
            s.reported = reported;
            let shape = ceiling(&self.cfg, &reported);
            if shape != s.shape {
                tracing::info!(
                    location = %self.name,
                    window_limit = shape.limit,
                    window = ?shape.window,
                    "GHL reports a different rate limit; budget reshaped"
                );
                s.shape = shape;
                s.burst = shape.bucket(s.factor, 0, &self.clock);
                metrics::gauge!(self.metric("budget_window_limit"), "location" => self.name.clone())
                    .set(f64::from(s.effective_limit()));
            }
            let daily = Shape::daily(
                scaled(self.cfg.daily_max, self.cfg.share).min(
                    reported
                        .daily
                        .map_or(u32::MAX, |d| scaled(d, self.cfg.share)),
                ),
            );
            if daily != s.daily_shape {
                tracing::info!(location = %self.name, daily_limit = daily.limit, "GHL reports a different daily limit; budget reshaped");
                // What GHL says is left today, our share of it, may be used at once.
                let left = info
                    .daily_remaining
                    .map_or(0, |r| (f64::from(r) * self.cfg.share).floor() as u32);
                s.daily_shape = daily;
                s.daily = daily.bucket(1.0, left, &self.clock);
            }
        }
        if info.remaining == Some(0) {
            let window = info
                .interval
                .filter(|i| !i.is_zero())
                .unwrap_or(s.shape.window);
            s.prune(now, window);
            let own = u32::try_from(s.recent.len()).unwrap_or(u32::MAX);
            let ours = s.effective_limit();
            // Spending our own share empties GHL's window too (and GHL counts our requests a
            // little later than we admit them): only a window emptied well before we spent our
            // share means someone else is spending it.
            if own.saturating_add((ours / 20).max(2)) < ours
                && s.hold_until(now + Nanos::from(window), HoldReason::WindowSpent)
            {
                tracing::info!(location = %self.name, hold = ?window, own, "GHL reports the window spent by another client; location held");
                self.count_hold(HoldReason::WindowSpent);
            }
        }
        if info.daily_remaining == Some(0) {
            let wait = until_utc_midnight().min(DAILY_PROBE);
            if s.hold_until(now + Nanos::from(wait), HoldReason::DailySpent) {
                tracing::warn!(location = %self.name, hold = ?wait, "daily limit reached; location held");
                self.count_hold(HoldReason::DailySpent);
            }
        }
    }

    /// GHL answered 429: hold this location for `retry_after` (or one window) and lower its
    /// rate, unless a 429 lowered it less than a window ago.
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let mut s = self.lock();
        let now = self.clock.now();
        self.settle(&mut s, now);
        s.throttled += 1;
        metrics::counter!(self.metric("ghl_throttled_total"), "location" => self.name.clone())
            .increment(1);
        let window = s.shape.window;
        let wait = retry_after.unwrap_or(window).clamp(MIN_HOLD, MAX_HOLD);
        let until = now + Nanos::from(wait);
        if s.hold_until(until, HoldReason::Throttled) {
            self.count_hold(HoldReason::Throttled);
        }
        let recent = s
            .last_decrease
            .is_some_and(|t| now.duration_since(t) < Nanos::from(window));
        if !recent {
            s.factor = (s.factor * DECREASE).max(FLOOR);
            s.last_decrease = Some(now);
            s.burst = s.shape.bucket(s.factor, 0, &self.clock);
            metrics::gauge!(self.metric("budget_window_limit"), "location" => self.name.clone())
                .set(f64::from(s.effective_limit()));
        }
        let hold_end = s.hold.as_ref().map_or(until, |h| h.until);
        s.steady_since = hold_end;
        tracing::info!(
            location = %self.name,
            hold = ?wait,
            effective_window_limit = s.effective_limit(),
            "GHL answered 429; location held and slowed down"
        );
    }

    /// The budget's state now.
    pub fn snapshot(&self) -> BudgetSnapshot {
        let mut s = self.lock();
        let now = self.clock.now();
        self.settle(&mut s, now);
        BudgetSnapshot {
            window: s.shape.window,
            configured_window_limit: scaled(self.cfg.burst_max, self.cfg.share),
            window_limit: s.shape.limit,
            effective_window_limit: s.effective_limit(),
            configured_daily_limit: scaled(self.cfg.daily_max, self.cfg.share),
            daily_limit: s.daily_shape.limit,
            held_for: s.hold.as_ref().map(|h| h.until.duration_since(now).into()),
            hold_reason: s.hold.as_ref().map(|h| h.reason),
            throttled_total: s.throttled,
            admitted_total: s.admitted,
        }
    }

    /// Ends a hold that is over and gives back rate for the clean windows since the last
    /// change.
    fn settle(&self, s: &mut State<C>, now: C::Instant) {
        if let Some(h) = &s.hold
            && h.until <= now
        {
            s.steady_since = s.steady_since.max(h.until);
            s.hold = None;
        }
        if s.hold.is_some() || s.factor >= 1.0 {
            return;
        }
        let window = u64::from(Nanos::from(s.shape.window)).max(1);
        let clean = u64::from(now.duration_since(s.steady_since)) / window;
        if clean == 0 {
            return;
        }
        s.factor += INCREASE * clean as f64;
        if s.factor > 0.999 {
            s.factor = 1.0;
        }
        s.steady_since = s.steady_since + Nanos::from(clean * window);
        s.burst = s.shape.bucket(s.factor, 0, &self.clock);
        metrics::gauge!(self.metric("budget_window_limit"), "location" => self.name.clone())
            .set(f64::from(s.effective_limit()));
        tracing::debug!(location = %self.name, effective_window_limit = s.effective_limit(), "rate recovering after 429");
    }

    fn count_hold(&self, reason: HoldReason) {
        metrics::counter!(self.metric("budget_holds_total"), "location" => self.name.clone(), "reason" => reason.as_str())
            .increment(1);
    }
}

/// Time left in the current UTC day.
fn until_utc_midnight() -> Duration {
    let now = time::OffsetDateTime::now_utc();
    let elapsed =
        u64::from(now.hour()) * 3600 + u64::from(now.minute()) * 60 + u64::from(now.second());
    Duration::from_secs(86_400u64.saturating_sub(elapsed).max(1))
}

impl Budget<DefaultClock> {
    pub fn new(cfg: &RateLimitConfig) -> Self {
        Self::with_clock(cfg, &DefaultClock::default())
    }
}

impl<C> Budget<C>
where
    C: Clock + Clone + ReasonablyRealtime,
{
    /// Waits until the location is not held and both buckets admit one request; returns how
    /// long that took.
    pub async fn acquire(&self) -> Duration {
        let started = std::time::Instant::now();
        loop {
            match self.check() {
                Ok(()) => return started.elapsed(),
                // Waiters of one location wake a little apart so they do not all race for the
                // one cell that frees up.
                Err(wait) => {
                    let jitter = Duration::from_micros(fastrand::u64(0..=500));
                    tokio::time::sleep(wait + jitter).await;
                }
            }
        }
    }
}

/// The budgets of all locations, created on first use from the location's `rate_limit` (or
/// the default).
pub struct Budgets<C: Clock = DefaultClock> {
    clock: C,
    service: &'static str,
    default: RateLimitConfig,
    overrides: HashMap<Token, RateLimitConfig>,
    budgets: Mutex<HashMap<Token, Arc<Budget<C>>>>,
}

impl Budgets<DefaultClock> {
    /// The budgets of a service's locations: `rate_limit` by default, each location's
    /// override where it has one; metrics named after the service.
    pub fn from_config(cfg: &impl GhlSettings) -> Self {
        let overrides = cfg
            .locations()
            .iter()
            .filter_map(|(id, loc)| loc.rate_limit.map(|r| (id.clone(), r)))
            .collect();
        Self::with_clock(*cfg.rate_limit(), overrides, DefaultClock::default())
            .for_service(cfg.service())
    }
}

impl<C: Clock + Clone> Budgets<C> {
    pub fn with_clock(
        default: RateLimitConfig,
        overrides: HashMap<Token, RateLimitConfig>,
        clock: C,
    ) -> Self {
        Self {
            clock,
            service: "writer",
            default,
            overrides,
            budgets: Mutex::new(HashMap::new()),
        }
    }

    /// Names the service spending these budgets (see [`Budget::for_service`]).
    pub fn for_service(mut self, service: &'static str) -> Self {
        self.service = service;
        self
    }

    /// The budget of `location`.
    pub fn get(&self, location: &Token) -> Arc<Budget<C>> {
        let mut budgets = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        budgets
            .entry(location.clone())
            .or_insert_with(|| {
                let cfg = self.overrides.get(location).unwrap_or(&self.default);
                Arc::new(
                    Budget::with_clock(cfg, &self.clock)
                        .named(location)
                        .for_service(self.service),
                )
            })
            .clone()
    }

    /// Every budget in use, by location.
    pub fn snapshot(&self) -> Vec<(Token, BudgetSnapshot)> {
        let budgets: Vec<(Token, Arc<Budget<C>>)> = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out: Vec<_> = budgets
            .into_iter()
            .map(|(k, b)| (k, b.snapshot()))
            .collect();
        out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        out
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    /// Sends greedily (one attempt per `step`) for `total` and returns the largest number of
    /// admitted requests in any sliding `window`, and the number admitted.
    fn greedy(
        budget: &Budget<FakeRelativeClock>,
        clock: &FakeRelativeClock,
        step: Duration,
        total: Duration,
        window: Duration,
    ) -> (usize, usize) {
        let mut admitted: VecDeque<Duration> = VecDeque::new();
        let mut now = Duration::ZERO;
        let mut max = 0;
        let mut count = 0;
        while now < total {
            if budget.try_acquire() {
                admitted.push_back(now);
                count += 1;
                while admitted
                    .front()
                    .is_some_and(|t| now.saturating_sub(*t) >= window)
                {
                    admitted.pop_front();
                }
                max = max.max(admitted.len());
            }
            clock.advance(step);
            now += step;
        }
        (max, count)
    }

    fn max_in_window(
        cfg: &RateLimitConfig,
        step: Duration,
        total: Duration,
        window: Duration,
    ) -> (usize, usize) {
        let clock = FakeRelativeClock::default();
        let budget = Budget::with_clock(cfg, &clock);
        greedy(&budget, &clock, step, total, window)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Advances the clock by `step` until the budget admits one request; returns the time it
    /// took.
    fn time_to_admit(
        budget: &Budget<FakeRelativeClock>,
        clock: &FakeRelativeClock,
        step: Duration,
    ) -> Duration {
        let mut waited = Duration::ZERO;
        while !budget.try_acquire() {
            clock.advance(step);
            waited += step;
            assert!(waited < secs(7200), "never admitted");
        }
        waited
    }

    #[test]
    fn no_ten_second_window_exceeds_the_limit() {
        let cfg = RateLimitConfig::default();
        let (max, count) = max_in_window(&cfg, ms(1), secs(60), secs(10));
        assert!(max <= 100, "a 10 s window held {max} requests");
        // ...and the budget is used: 100 in the first window, 98 more per 10 s after that (the
        // window is stretched by 100 ms against latency jitter).
        assert!(
            count >= 100 + 5 * 98 - 2,
            "only {count} requests admitted in 60 s"
        );
        // Sub-millisecond attempts too (a burst of waiters).
        let (max, _) = max_in_window(&cfg, Duration::from_micros(50), secs(25), secs(10));
        assert!(max <= 100, "a 10 s window held {max} requests");
    }

    #[test]
    fn share_and_small_limits() {
        let cfg = RateLimitConfig {
            share: 0.5,
            ..Default::default()
        };
        let (max, count) = max_in_window(&cfg, ms(1), secs(60), secs(10));
        assert!(max <= 50, "{max}");
        assert!(count >= 50 + 5 * 48 - 2, "{count}");
        // The writer's half and the poller's half together stay within GHL's 100.
        let clock = FakeRelativeClock::default();
        let writer = Budget::with_clock(&cfg, &clock);
        let poller = Budget::with_clock(&cfg, &clock);
        let mut both: VecDeque<Duration> = VecDeque::new();
        let mut max = 0;
        let mut now = Duration::ZERO;
        while now < secs(60) {
            for b in [&writer, &poller] {
                if b.try_acquire() {
                    both.push_back(now);
                }
            }
            while both.front().is_some_and(|t| now - *t >= secs(10)) {
                both.pop_front();
            }
            max = max.max(both.len());
            clock.advance(ms(1));
            now += ms(1);
        }
        assert!(max <= 100, "writer + poller held {max} in 10 s");

        let cfg = RateLimitConfig {
            burst_max: 5,
            burst_interval: secs(1),
            ..Default::default()
        };
        let (max, _) = max_in_window(&cfg, ms(1), secs(5), secs(1));
        assert!(max <= 5, "{max}");
        let cfg = RateLimitConfig {
            burst_max: 2,
            burst_interval: secs(1),
            ..Default::default()
        };
        let (max, count) = max_in_window(&cfg, ms(1), secs(5), secs(1));
        assert!(max <= 2 && count >= 9, "{max} {count}");
    }

    #[test]
    fn the_daily_limit_holds() {
        let cfg = RateLimitConfig {
            burst_max: 1000,
            daily_max: 500,
            ..Default::default()
        };
        let clock = FakeRelativeClock::default();
        let budget = Budget::with_clock(&cfg, &clock);
        let mut admitted = 0;
        // Try very often across one day.
        for _ in 0..(24 * 360) {
            for _ in 0..10 {
                if budget.try_acquire() {
                    admitted += 1;
                }
            }
            clock.advance(secs(10));
        }
        assert!(admitted <= 500, "{admitted} admitted in one day");
        assert!(admitted >= 450, "{admitted}");
    }

    #[test]
    fn greedy_sending_uses_at_least_97_percent() {
        for share in [1.0, 0.5] {
            let cfg = RateLimitConfig {
                share,
                ..Default::default()
            };
            let (max, count) = max_in_window(&cfg, ms(1), secs(600), secs(10));
            let per_window = scaled(100, share) as usize;
            // 60 disjoint windows of `per_window` each.
            let theoretical = 60 * per_window;
            assert!(max <= per_window, "{max}");
            assert!(
                count * 100 >= theoretical * 97,
                "share {share}: {count} of {theoretical} admitted in 10 minutes"
            );
        }
    }

    #[test]
    fn a_lower_reported_max_reshapes() {
        let clock = FakeRelativeClock::default();
        let budget = Budget::with_clock(&RateLimitConfig::default(), &clock);
        // GHL says 60 per 10 s (another plan, or a stricter app).
        budget.observe(&RateLimitInfo {
            max: Some(60),
            remaining: Some(59),
            interval: Some(secs(10)),
            daily_limit: Some(200_000),
            daily_remaining: Some(199_999),
        });
        let snap = budget.snapshot();
        assert_eq!(
            (
                snap.configured_window_limit,
                snap.window_limit,
                snap.effective_window_limit
            ),
            (100, 60, 60)
        );
        let (max, count) = greedy(&budget, &clock, ms(1), secs(60), secs(10));
        assert!(max <= 60, "{max}");
        assert!(count >= 6 * 58 - 2, "{count}");

        // The same report again changes nothing; a higher one never raises above the config.
        budget.observe(&RateLimitInfo {
            max: Some(500),
            ..Default::default()
        });
        assert_eq!(budget.snapshot().window_limit, 100);

        // With a share, the reported limit is shared too.
        let half = Budget::with_clock(
            &RateLimitConfig {
                share: 0.5,
                ..Default::default()
            },
            &clock,
        );
        half.observe(&RateLimitInfo {
            max: Some(60),
            interval: Some(secs(10)),
            ..Default::default()
        });
        assert_eq!(half.snapshot().window_limit, 30);

        // A longer interval: 100 per 20 s.
        let slow = Budget::with_clock(&RateLimitConfig::default(), &clock);
        slow.observe(&RateLimitInfo {
            max: Some(100),
            interval: Some(secs(20)),
            ..Default::default()
        });
        let (max20, _) = greedy(&slow, &clock, ms(1), secs(60), secs(20));
        assert!(max20 <= 100, "{max20}");

        // A lower daily limit.
        let daily = Budget::with_clock(&RateLimitConfig::default(), &clock);
        daily.observe(&RateLimitInfo {
            daily_limit: Some(1000),
            daily_remaining: Some(0),
            ..Default::default()
        });
        assert_eq!(daily.snapshot().daily_limit, 1000);
    }

    #[test]
    fn an_empty_window_someone_else_spent_holds_one_window() {
        let clock = FakeRelativeClock::default();
        let budget = Budget::with_clock(&RateLimitConfig::default(), &clock);
        assert!(budget.try_acquire());
        budget.observe(&RateLimitInfo {
            max: Some(100),
            remaining: Some(0),
            interval: Some(secs(10)),
            ..Default::default()
        });
        let snap = budget.snapshot();
        assert_eq!(snap.hold_reason, Some(HoldReason::WindowSpent));
        assert_eq!(snap.held_for, Some(secs(10)));
        assert!(!budget.try_acquire());
        let waited = time_to_admit(&budget, &clock, ms(10));
        assert!(
            waited >= secs(10) && waited <= secs(10) + ms(20),
            "{waited:?}"
        );
        // The rate is not lowered: it was not a 429.
        assert_eq!(budget.snapshot().effective_window_limit, 100);
        assert_eq!(budget.snapshot().hold_reason, None);
    }

    #[test]
    fn an_empty_window_we_spent_ourselves_does_not_hold() {
        let clock = FakeRelativeClock::default();
        let budget = Budget::with_clock(&RateLimitConfig::default(), &clock);
        // Greedy for 30 s against GHL's sliding window, which counts only our requests (over a
        // slightly longer span, as uneven network latency makes it): it is full after many.
        let mut ghl: VecDeque<Duration> = VecDeque::new();
        let mut now = Duration::ZERO;
        let (mut count, mut empty) = (0, 0);
        while now < secs(30) {
            if budget.try_acquire() {
                count += 1;
                while ghl.front().is_some_and(|t| now - *t >= secs(10) + ms(300)) {
                    ghl.pop_front();
                }
                ghl.push_back(now);
                let remaining = 100u32.saturating_sub(ghl.len() as u32);
                empty += u32::from(remaining == 0);
                budget.observe(&RateLimitInfo {
                    max: Some(100),
                    remaining: Some(remaining),
                    interval: Some(secs(10)),
                    ..Default::default()
                });
                assert_eq!(budget.snapshot().hold_reason, None, "held at {now:?}");
            }
            clock.advance(ms(1));
            now += ms(1);
        }
        assert!(empty > 100, "GHL's window was full only {empty} times");
        assert!(count >= 100 + 2 * 98 - 2, "{count}");
    }

    #[test]
    fn a_spent_day_holds_with_a_reason() {
        let clock = FakeRelativeClock::default();
        let budget = Budget::with_clock(&RateLimitConfig::default(), &clock);
        budget.observe(&RateLimitInfo {
            daily_limit: Some(200_000),
            daily_remaining: Some(0),
            ..Default::default()
        });
        let snap = budget.snapshot();
        assert_eq!(snap.hold_reason, Some(HoldReason::DailySpent));
        assert!(
            snap.held_for
                .is_some_and(|d| d > Duration::ZERO && d <= DAILY_PROBE)
        );
        assert!(HoldReason::DailySpent.to_string().contains("daily limit"));
        assert!(!budget.try_acquire());
    }

    #[test]
    fn a_429_holds_lowers_and_recovers() {
        let clock = FakeRelativeClock::default();
        let budget = Budget::with_clock(&RateLimitConfig::default(), &clock);
        assert!(budget.try_acquire());
        budget.throttled(Some(secs(3)));
        let snap = budget.snapshot();
        assert_eq!(snap.hold_reason, Some(HoldReason::Throttled));
        assert_eq!(snap.throttled_total, 1);
        assert_eq!(snap.effective_window_limit, 80);
        assert_eq!(time_to_admit(&budget, &clock, ms(100)), secs(3));

        // More 429s of requests already in flight do not lower it again within a window.
        budget.throttled(None);
        assert_eq!(budget.snapshot().effective_window_limit, 80);
        assert_eq!(budget.snapshot().held_for, Some(secs(10)));
        clock.advance(secs(10));

        // Slowed down: at most 80 in a window while lowered.
        let (max, _) = greedy(&budget, &clock, ms(1), secs(10), secs(10));
        assert!(max <= 81, "{max}");
        // Each clean window gives 5 back: full rate again after four.
        clock.advance(secs(40));
        let snap = budget.snapshot();
        assert_eq!(snap.effective_window_limit, 100, "{snap:?}");
        let (max, count) = greedy(&budget, &clock, ms(1), secs(30), secs(10));
        assert!(max <= 100 && count >= 3 * 98 - 2, "{max} {count}");

        // Repeated 429s a window apart halve and more, but never below a quarter.
        for _ in 0..20 {
            budget.throttled(None);
            clock.advance(secs(10));
        }
        let snap = budget.snapshot();
        assert!(snap.effective_window_limit >= 25, "{snap:?}");
        assert!(snap.effective_window_limit <= 30, "{snap:?}");
        assert_eq!(snap.throttled_total, 22);
    }

    #[test]
    fn locations_are_independent() {
        let clock = FakeRelativeClock::default();
        let budgets =
            Budgets::with_clock(RateLimitConfig::default(), HashMap::new(), clock.clone());
        let a = Token::parse("loc-a").unwrap();
        let b = Token::parse("loc-b").unwrap();
        budgets.get(&a).throttled(Some(secs(30)));
        budgets.get(&a).observe(&RateLimitInfo {
            remaining: Some(0),
            ..Default::default()
        });
        assert!(!budgets.get(&a).try_acquire());
        // `b` runs at full rate meanwhile.
        let (max, count) = greedy(&budgets.get(&b), &clock, ms(1), secs(20), secs(10));
        assert!(max <= 100 && count >= 100 + 98 - 2, "{max} {count}");
        let snap = budgets.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].1.throttled_total, 1);
        assert_eq!(snap[1].1.throttled_total, 0);
        assert_eq!(snap[1].1.effective_window_limit, 100);
        // A per-location override.
        let mut overrides = HashMap::new();
        overrides.insert(
            a.clone(),
            RateLimitConfig {
                burst_max: 10,
                ..Default::default()
            },
        );
        let budgets = Budgets::with_clock(RateLimitConfig::default(), overrides, clock);
        assert_eq!(budgets.get(&a).snapshot().window_limit, 10);
        assert_eq!(budgets.get(&b).snapshot().window_limit, 100);
    }

    #[tokio::test]
    async fn acquire_waits_for_a_hold() {
        let budget = Budget::new(&RateLimitConfig::default());
        assert!(budget.acquire().await < ms(50));
        budget.throttled(Some(ms(150)));
        let waited = budget.acquire().await;
        assert!(waited >= ms(140), "{waited:?}");
    }
}
