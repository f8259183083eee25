//! Time as the sandbox sees it: the system clock, or a frozen clock that only moves when told
//! to. Every time-dependent rule (rate-limit windows, token and code expiry, search index lag,
//! timestamps on stored entities) reads this clock, so tests can step through time without
//! sleeping (`POST /_sandbox/clock`, [`crate::SandboxState::advance_clock`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How the sandbox's clock runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// Real time, plus whatever was added with `advance`.
    #[default]
    System,
    /// Stands still at the instant the sandbox started; moves only with `advance`.
    Frozen,
}

/// A cloneable clock; clones share their offset.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    mode: ClockMode,
    base_instant: Instant,
    base_utc: OffsetDateTime,
    /// Nanoseconds added by `advance`.
    offset_ns: AtomicU64,
}

impl Clock {
    /// A clock in `mode`, starting now.
    pub fn new(mode: ClockMode) -> Self {
        Self {
            inner: Arc::new(Inner {
                mode,
                base_instant: Instant::now(),
                base_utc: OffsetDateTime::now_utc(),
                offset_ns: AtomicU64::new(0),
            }),
        }
    }

    /// How this clock runs.
    pub fn mode(&self) -> ClockMode {
        self.inner.mode
    }

    fn offset(&self) -> Duration {
        Duration::from_nanos(self.inner.offset_ns.load(Ordering::Relaxed))
    }

    /// The current monotonic instant.
    pub fn now(&self) -> Instant {
        let base = match self.inner.mode {
            ClockMode::System => Instant::now(),
            ClockMode::Frozen => self.inner.base_instant,
        };
        base + self.offset()
    }

    /// The current wall-clock time, UTC.
    pub fn now_utc(&self) -> OffsetDateTime {
        let base = match self.inner.mode {
            ClockMode::System => OffsetDateTime::now_utc(),
            ClockMode::Frozen => self.inner.base_utc,
        };
        base + self.offset()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.inner.offset_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(ClockMode::System)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let c = Clock::new(ClockMode::Frozen);
        let (t0, u0) = (c.now(), c.now_utc());
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!((c.now(), c.now_utc()), (t0, u0));
        let other = c.clone();
        other.advance(Duration::from_secs(10));
        assert_eq!(c.now() - t0, Duration::from_secs(10));
        assert_eq!(c.now_utc() - u0, time::Duration::seconds(10));
    }

    #[test]
    fn the_system_clock_runs_and_can_jump() {
        let c = Clock::default();
        let t0 = c.now();
        c.advance(Duration::from_secs(60));
        assert!(c.now() - t0 >= Duration::from_secs(60));
    }
}
