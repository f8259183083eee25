//! GHL's rate limits (README §4): a burst budget per interval and a daily budget, per
//! (app or token, location), reported on every authenticated response in five `X-RateLimit-*`
//! headers.
//!
//! Windows:
//! - **burst**, by [`RateLimitAlgorithm`]:
//!   - *sliding window* (default): a log of the accepted requests' instants; a request is
//!     allowed when fewer than `burst_max` requests were accepted in the last `burst_interval`.
//!     The strictest reading of "100 requests per 10 seconds": a client that bunches two
//!     budgets around a window boundary is caught.
//!   - *fixed window*: a counter per window of `burst_interval`, windows aligned on the
//!     limiter's origin (the sandbox's start); `X-RateLimit-Remaining` resets at each boundary.
//!     GHL does not say which it runs, so clients are proven against both.
//! - **daily**: a *fixed* window per UTC calendar day.
//!
//! Rejected requests (429) do not consume budget. GHL documents no `Retry-After` and no reset
//! header, so none is sent: clients pace themselves from `X-RateLimit-Interval-Milliseconds` and
//! `X-RateLimit-Remaining`, as they must against GHL.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use time::Date;

use crate::config::{RateLimitAlgorithm, RateLimitConfig};

/// The five headers' values for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateLimitHeaders {
    /// `X-RateLimit-Limit-Daily`.
    pub(crate) daily_limit: u32,
    /// `X-RateLimit-Daily-Remaining`.
    pub(crate) daily_remaining: u32,
    /// `X-RateLimit-Interval-Milliseconds`.
    pub(crate) interval_ms: u64,
    /// `X-RateLimit-Max`.
    pub(crate) max: u32,
    /// `X-RateLimit-Remaining`.
    pub(crate) remaining: u32,
}

impl RateLimitHeaders {
    /// Sets the headers on a response.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        let pairs: [(&'static str, u64); 5] = [
            ("x-ratelimit-limit-daily", self.daily_limit.into()),
            ("x-ratelimit-daily-remaining", self.daily_remaining.into()),
            ("x-ratelimit-interval-milliseconds", self.interval_ms),
            ("x-ratelimit-max", self.max.into()),
            ("x-ratelimit-remaining", self.remaining.into()),
        ];
        for (name, value) in pairs {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
}

/// The limiter's answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Whether the request may proceed.
    pub(crate) allowed: bool,
    /// What to report, counting this request when it was allowed.
    pub(crate) headers: RateLimitHeaders,
}

#[derive(Debug)]
struct Bucket {
    /// Sliding window: instants of the requests accepted within the last burst interval,
    /// oldest first.
    recent: VecDeque<Instant>,
    /// Fixed window: the current window's index and its count.
    window: (u128, u32),
    day: Date,
    day_count: u32,
}

impl Bucket {
    /// Forgets what fell out of the burst window; returns how many requests are in it.
    fn in_window(&mut self, cfg: &RateLimitConfig, origin: Instant, now: Instant) -> u32 {
        match cfg.algorithm {
            RateLimitAlgorithm::SlidingWindow => {
                while self
                    .recent
                    .front()
                    .is_some_and(|&t| now.saturating_duration_since(t) >= cfg.burst_interval)
                {
                    self.recent.pop_front();
                }
                u32::try_from(self.recent.len()).unwrap_or(u32::MAX)
            }
            RateLimitAlgorithm::FixedWindow => {
                let index = now.saturating_duration_since(origin).as_nanos()
                    / cfg.burst_interval.as_nanos().max(1);
                if self.window.0 != index {
                    self.window = (index, 0);
                }
                self.window.1
            }
        }
    }

    fn count(&mut self, cfg: &RateLimitConfig, now: Instant) {
        match cfg.algorithm {
            RateLimitAlgorithm::SlidingWindow => self.recent.push_back(now),
            RateLimitAlgorithm::FixedWindow => self.window.1 += 1,
        }
        self.day_count += 1;
    }
}

/// Budgets per (app or token, location).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Where fixed windows are aligned.
    origin: Instant,
    buckets: HashMap<(String, String), Bucket>,
}

impl RateLimiter {
    /// No budgets used; fixed windows start at `origin`.
    pub(crate) fn new(origin: Instant) -> Self {
        Self {
            origin,
            buckets: HashMap::new(),
        }
    }

    fn bucket(&mut self, key: &str, location: &str, today: Date) -> &mut Bucket {
        let bucket = self
            .buckets
            .entry((key.to_owned(), location.to_owned()))
            .or_insert_with(|| Bucket {
                recent: VecDeque::new(),
                window: (0, 0),
                day: today,
                day_count: 0,
            });
        if bucket.day != today {
            bucket.day = today;
            bucket.day_count = 0;
        }
        bucket
    }

    /// Counts one request against the (key, location) budgets under `cfg`.
    pub(crate) fn check(
        &mut self,
        key: &str,
        location: &str,
        cfg: &RateLimitConfig,
        now: Instant,
        today: Date,
    ) -> Verdict {
        let origin = self.origin;
        let bucket = self.bucket(key, location, today);
        let in_window = bucket.in_window(cfg, origin, now);
        let allowed = in_window < cfg.burst_max && bucket.day_count < cfg.daily_max;
        if allowed {
            bucket.count(cfg, now);
        }
        let in_window = bucket.in_window(cfg, origin, now);
        Verdict {
            allowed,
            headers: headers(cfg, bucket.day_count, in_window),
        }
    }

    /// The headers of a forced 429 (an injected fault): the burst budget reported spent,
    /// nothing counted.
    pub(crate) fn exhausted(
        &mut self,
        key: &str,
        location: &str,
        cfg: &RateLimitConfig,
        today: Date,
    ) -> RateLimitHeaders {
        let day_count = self.bucket(key, location, today).day_count;
        headers(cfg, day_count, cfg.burst_max)
    }
}

fn headers(cfg: &RateLimitConfig, day_count: u32, in_window: u32) -> RateLimitHeaders {
    RateLimitHeaders {
        daily_limit: cfg.daily_max,
        daily_remaining: cfg.daily_max.saturating_sub(day_count),
        interval_ms: u64::try_from(cfg.burst_interval.as_millis()).unwrap_or(u64::MAX),
        max: cfg.burst_max,
        remaining: cfg.burst_max.saturating_sub(in_window),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::Month;

    use super::*;

    fn cfg(burst_max: u32, interval_ms: u64, daily_max: u32) -> RateLimitConfig {
        RateLimitConfig {
            burst_max,
            burst_interval: Duration::from_millis(interval_ms),
            daily_max,
            algorithm: RateLimitAlgorithm::SlidingWindow,
        }
    }

    fn fixed(burst_max: u32, interval_ms: u64) -> RateLimitConfig {
        RateLimitConfig {
            algorithm: RateLimitAlgorithm::FixedWindow,
            ..cfg(burst_max, interval_ms, 1000)
        }
    }

    #[test]
    fn fixed_windows_reset_at_boundaries() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(t0);
        let c = fixed(3, 1000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let run = |rl: &mut RateLimiter, ms: u64| {
            let v = rl.check("t", "l", &c, at(ms), day(1));
            (v.allowed, v.headers.remaining)
        };
        assert_eq!(run(&mut rl, 0), (true, 2));
        assert_eq!(run(&mut rl, 10), (true, 1));
        assert_eq!(run(&mut rl, 900), (true, 0));
        assert_eq!(run(&mut rl, 999), (false, 0));
        // The boundary resets the whole budget (a sliding window would allow one).
        assert_eq!(run(&mut rl, 1000), (true, 2));
        assert_eq!(run(&mut rl, 1001), (true, 1));
        assert_eq!(run(&mut rl, 1002), (true, 0));
        assert_eq!(run(&mut rl, 1999), (false, 0));
        // Six requests within 103 ms around the boundary: the fixed window's known burst.
        let mut sliding = RateLimiter::new(t0);
        let c2 = cfg(3, 1000, 1000);
        let allowed = [900u64, 950, 990, 1000, 1010, 1020]
            .iter()
            .filter(|&&ms| sliding.check("t", "l", &c2, at(ms), day(1)).allowed)
            .count();
        assert_eq!(allowed, 3, "the sliding window does not allow the burst");
    }

    #[test]
    fn forced_exhaustion_reports_zero_remaining_without_counting() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(t0);
        let c = cfg(5, 1000, 10);
        rl.check("t", "l", &c, t0, day(1));
        let h = rl.exhausted("t", "l", &c, day(1));
        assert_eq!((h.remaining, h.daily_remaining), (0, 9));
        assert_eq!(rl.check("t", "l", &c, t0, day(1)).headers.remaining, 3);
    }

    fn day(d: u8) -> Date {
        Date::from_calendar_date(2026, Month::January, d).unwrap()
    }

    #[test]
    fn burst_window_slides() {
        let mut rl = RateLimiter::new(Instant::now());
        let c = cfg(3, 1000, 100);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let remaining: Vec<(bool, u32)> = [0, 100, 200, 300]
            .into_iter()
            .map(|ms| rl.check("t", "l", &c, at(ms), day(1)))
            .map(|v| (v.allowed, v.headers.remaining))
            .collect();
        assert_eq!(remaining, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        // At 1000 ms the first request left the window: one slot, not three.
        let v = rl.check("t", "l", &c, at(1000), day(1));
        assert_eq!((v.allowed, v.headers.remaining), (true, 0));
        assert!(!rl.check("t", "l", &c, at(1050), day(1)).allowed);
        let v = rl.check("t", "l", &c, at(1300), day(1));
        assert!(v.allowed);
        assert_eq!(v.headers.interval_ms, 1000);
        assert_eq!(v.headers.max, 3);
    }

    #[test]
    fn budgets_are_per_token_and_location() {
        let mut rl = RateLimiter::new(Instant::now());
        let c = cfg(1, 10_000, 100);
        let now = Instant::now();
        assert!(rl.check("t", "a", &c, now, day(1)).allowed);
        assert!(!rl.check("t", "a", &c, now, day(1)).allowed);
        assert!(rl.check("t", "b", &c, now, day(1)).allowed);
        assert!(rl.check("u", "a", &c, now, day(1)).allowed);
    }

    #[test]
    fn daily_budget_resets_at_utc_midnight_and_rejections_are_free() {
        let mut rl = RateLimiter::new(Instant::now());
        let c = cfg(100, 10, 2);
        let t0 = Instant::now();
        let v1 = rl.check("t", "l", &c, t0, day(1));
        assert_eq!(
            (
                v1.allowed,
                v1.headers.daily_remaining,
                v1.headers.daily_limit
            ),
            (true, 1, 2)
        );
        assert!(rl.check("t", "l", &c, t0, day(1)).allowed);
        let v = rl.check("t", "l", &c, t0, day(1));
        assert_eq!((v.allowed, v.headers.daily_remaining), (false, 0));
        let v = rl.check("t", "l", &c, t0, day(2));
        assert_eq!((v.allowed, v.headers.daily_remaining), (true, 1));
    }

    #[test]
    fn headers_render_as_integers() {
        let mut h = HeaderMap::new();
        RateLimitHeaders {
            daily_limit: 200_000,
            daily_remaining: 199_999,
            interval_ms: 10_000,
            max: 100,
            remaining: 99,
        }
        .apply(&mut h);
        assert_eq!(h["x-ratelimit-limit-daily"], "200000");
        assert_eq!(h["x-ratelimit-daily-remaining"], "199999");
        assert_eq!(h["x-ratelimit-interval-milliseconds"], "10000");
        assert_eq!(h["x-ratelimit-max"], "100");
        assert_eq!(h["x-ratelimit-remaining"], "99");
    }
}
