//! GHL's rate limits (README §4): a burst budget per interval and a daily budget, per
//! (token, location), reported on every authenticated response in five `X-RateLimit-*` headers.
//!
//! Windows:
//! - **burst**: a *sliding* window (a log of the accepted requests' instants). A request is
//!   allowed when fewer than `burst_max` requests were accepted in the last `burst_interval`.
//!   This is the strictest reading of "100 requests per 10 seconds": a client that bunches two
//!   budgets around a fixed-window boundary is caught here even if GHL's own bookkeeping would
//!   let it through.
//! - **daily**: a *fixed* window per UTC calendar day.
//!
//! Rejected requests (429) do not consume budget. GHL documents no `Retry-After` and no reset
//! header, so none is sent: clients pace themselves from `X-RateLimit-Interval-Milliseconds` and
//! `X-RateLimit-Remaining`, as they must against GHL.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use time::Date;

use crate::config::RateLimitConfig;

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
    /// Instants of the requests accepted within the current burst interval, oldest first.
    recent: VecDeque<Instant>,
    day: Date,
    day_count: u32,
}

/// Budgets per (token, location).
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    buckets: HashMap<(String, String), Bucket>,
}

impl RateLimiter {
    /// Counts one request against the (token, location) budgets under `cfg`.
    pub(crate) fn check(
        &mut self,
        token: &str,
        location: &str,
        cfg: &RateLimitConfig,
        now: Instant,
        today: Date,
    ) -> Verdict {
        let bucket = self
            .buckets
            .entry((token.to_owned(), location.to_owned()))
            .or_insert_with(|| Bucket {
                recent: VecDeque::new(),
                day: today,
                day_count: 0,
            });
        if bucket.day != today {
            bucket.day = today;
            bucket.day_count = 0;
        }
        while bucket
            .recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= cfg.burst_interval)
        {
            bucket.recent.pop_front();
        }
        let in_window = u32::try_from(bucket.recent.len()).unwrap_or(u32::MAX);
        let allowed = in_window < cfg.burst_max && bucket.day_count < cfg.daily_max;
        if allowed {
            bucket.recent.push_back(now);
            bucket.day_count += 1;
        }
        let in_window = u32::try_from(bucket.recent.len()).unwrap_or(u32::MAX);
        Verdict {
            allowed,
            headers: RateLimitHeaders {
                daily_limit: cfg.daily_max,
                daily_remaining: cfg.daily_max.saturating_sub(bucket.day_count),
                interval_ms: u64::try_from(cfg.burst_interval.as_millis()).unwrap_or(u64::MAX),
                max: cfg.burst_max,
                remaining: cfg.burst_max.saturating_sub(in_window),
            },
        }
    }

    /// Forgets every budget (a reset).
    pub(crate) fn clear(&mut self) {
        self.buckets.clear();
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
        }
    }

    fn day(d: u8) -> Date {
        Date::from_calendar_date(2026, Month::January, d).unwrap()
    }

    #[test]
    fn burst_window_slides() {
        let mut rl = RateLimiter::default();
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
        let mut rl = RateLimiter::default();
        let c = cfg(1, 10_000, 100);
        let now = Instant::now();
        assert!(rl.check("t", "a", &c, now, day(1)).allowed);
        assert!(!rl.check("t", "a", &c, now, day(1)).allowed);
        assert!(rl.check("t", "b", &c, now, day(1)).allowed);
        assert!(rl.check("u", "a", &c, now, day(1)).allowed);
    }

    #[test]
    fn daily_budget_resets_at_utc_midnight_and_rejections_are_free() {
        let mut rl = RateLimiter::default();
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
