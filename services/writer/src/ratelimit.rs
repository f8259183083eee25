//! A location's request budget as two governor buckets (GCRA): one shaped so that no burst
//! window (10 s) holds more than the location's limit, one for the daily limit.
//!
//! GCRA with burst `b` and emission interval `p` admits at most `b + W/p` requests in any
//! window `W`. Choosing `p = W / (L - b)` makes that exactly `L`, the documented limit, with
//! `b = L/10` so a quiet location can still start with a small burst.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, ReasonablyRealtime};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::config::RateLimitConfig;

const DAY: Duration = Duration::from_secs(86_400);

type Bucket<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The budget of one location.
pub struct Budget<C: Clock = DefaultClock> {
    burst: Bucket<C>,
    daily: Bucket<C>,
    /// Requests per burst window this budget admits (after the configured share).
    pub window_limit: u32,
    pub daily_limit: u32,
}

/// The GCRA quota admitting at most `limit` requests in any `window`.
fn quota(limit: u32, window: Duration) -> Quota {
    let limit = limit.max(2);
    let burst = (limit / 10).max(1);
    let period = window / (limit - burst);
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .expect("period is positive")
        .allow_burst(NonZeroU32::new(burst).expect("burst is at least 1"))
}

impl<C: Clock + Clone> Budget<C> {
    pub fn with_clock(cfg: &RateLimitConfig, clock: &C) -> Self {
        let window_limit = ((f64::from(cfg.burst_max) * cfg.share).floor() as u32).max(2);
        let daily_limit = ((f64::from(cfg.daily_max) * cfg.share).floor() as u32).max(2);
        Self {
            burst: RateLimiter::direct_with_clock(
                quota(window_limit, cfg.burst_interval),
                clock.clone(),
            ),
            daily: RateLimiter::direct_with_clock(quota(daily_limit, DAY), clock.clone()),
            window_limit,
            daily_limit,
        }
    }

    /// Takes one request from both buckets if both have room now.
    pub fn try_acquire(&self) -> bool {
        // A governor check consumes a cell when it succeeds, so the burst bucket (the one that
        // usually says no) goes first; a daily refusal wastes one burst cell, once a day at most.
        self.burst.check().is_ok() && self.daily.check().is_ok()
    }
}

impl Budget<DefaultClock> {
    pub fn new(cfg: &RateLimitConfig) -> Self {
        Self::with_clock(cfg, &DefaultClock::default())
    }
}

impl<C> Budget<C>
where
    C: Clock + ReasonablyRealtime,
{
    /// Waits until both buckets admit one request.
    pub async fn acquire(&self) -> Duration {
        let started = std::time::Instant::now();
        self.burst.until_ready().await;
        self.daily.until_ready().await;
        started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use governor::clock::FakeRelativeClock;

    use super::*;

    /// Sends greedily (one attempt per `step`) for `total` and returns the largest number of
    /// admitted requests in any sliding `window`.
    fn max_in_window(
        cfg: &RateLimitConfig,
        step: Duration,
        total: Duration,
        window: Duration,
    ) -> (usize, usize) {
        let clock = FakeRelativeClock::default();
        let budget = Budget::with_clock(cfg, &clock);
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

    #[test]
    fn no_ten_second_window_exceeds_the_limit() {
        let cfg = RateLimitConfig::default();
        let (max, count) = max_in_window(
            &cfg,
            Duration::from_millis(1),
            Duration::from_secs(60),
            Duration::from_secs(10),
        );
        assert!(max <= 100, "a 10 s window held {max} requests");
        // ...and the budget is used to the last request: 100 in the first window, 90 more per
        // 10 s after that (steady state 100 per any window).
        assert!(
            count >= 100 + 5 * 90 - 2,
            "only {count} requests admitted in 60 s"
        );
    }

    #[test]
    fn share_and_small_limits() {
        let cfg = RateLimitConfig {
            share: 0.5,
            ..Default::default()
        };
        let (max, _) = max_in_window(
            &cfg,
            Duration::from_millis(1),
            Duration::from_secs(30),
            Duration::from_secs(10),
        );
        assert!(max <= 50, "{max}");
        let cfg = RateLimitConfig {
            burst_max: 5,
            burst_interval: Duration::from_secs(1),
            ..Default::default()
        };
        let (max, _) = max_in_window(
            &cfg,
            Duration::from_millis(1),
            Duration::from_secs(5),
            Duration::from_secs(1),
        );
        assert!(max <= 5, "{max}");
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
            clock.advance(Duration::from_secs(10));
        }
        assert!(admitted <= 500 + 1, "{admitted} admitted in one day");
        assert!(admitted >= 450, "{admitted}");
    }
}
