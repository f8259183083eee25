//! The sandbox's configuration, loaded by `relay_common::config` (defaults → file → `RELAY_*`
//! environment → `--set`).

use std::net::SocketAddr;
use std::time::Duration;

use relay_common::config::{ConfigIssue, ServiceConfig, TelemetryConfig};
use serde::{Deserialize, Serialize};

/// Everything `relay-sandbox` can be told.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Address of the simulated GHL API and the `/_sandbox/` control endpoints.
    pub listen: SocketAddr,
    /// Logs and traces.
    pub telemetry: TelemetryConfig,
    /// GHL's per (token, location) budgets.
    pub rate_limit: RateLimitConfig,
    /// Create location `demo-location` (token `pit-relay-demo`) at start and after a reset.
    pub seed_demo: bool,
    /// Added to every GHL API response (not to control endpoints), to simulate distance.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// How many requests `/_sandbox/requests` remembers; the oldest are dropped first.
    pub request_log_capacity: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8600)),
            telemetry: TelemetryConfig::default(),
            rate_limit: RateLimitConfig::default(),
            seed_demo: true,
            latency: Duration::ZERO,
            request_log_capacity: 10_000,
        }
    }
}

impl SandboxConfig {
    /// The defaults, listening on an ephemeral loopback port (`127.0.0.1:0`).
    pub fn for_tests() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::default()
        }
    }
}

impl ServiceConfig for SandboxConfig {
    fn validate(&self, _env: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        self.telemetry.validate(&mut issues);
        self.rate_limit.validate("rate_limit", &mut issues);
        if self.request_log_capacity == 0 {
            issues.push(ConfigIssue::new(
                "request_log_capacity",
                "must be at least 1",
            ));
        }
        issues
    }
}

/// GHL's published limits (README §4): a burst budget per interval and a daily budget, each per
/// (token, location).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed in any `burst_interval` (`X-RateLimit-Max`).
    pub burst_max: u32,
    /// Length of the burst window (`X-RateLimit-Interval-Milliseconds`).
    #[serde(with = "humantime_serde")]
    pub burst_interval: Duration,
    /// Requests allowed per UTC day (`X-RateLimit-Limit-Daily`).
    pub daily_max: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            burst_max: 100,
            burst_interval: Duration::from_secs(10),
            daily_max: 200_000,
        }
    }
}

impl RateLimitConfig {
    /// Adds an issue under `key` for each invalid value.
    pub fn validate(&self, key: &str, issues: &mut Vec<ConfigIssue>) {
        if self.burst_max == 0 {
            issues.push(ConfigIssue::new(
                format!("{key}.burst_max"),
                "must be at least 1",
            ));
        }
        if self.burst_interval.is_zero() {
            issues.push(ConfigIssue::new(
                format!("{key}.burst_interval"),
                "must be longer than 0s",
            ));
        }
        if self.daily_max == 0 {
            issues.push(ConfigIssue::new(
                format!("{key}.daily_max"),
                "must be at least 1",
            ));
        }
    }

    /// The problems of this configuration as one line, or `None` when it is valid.
    pub(crate) fn problems(&self, key: &str) -> Option<String> {
        let mut issues = Vec::new();
        self.validate(key, &mut issues);
        (!issues.is_empty()).then(|| {
            issues
                .iter()
                .map(|i| format!("{}: {}", i.key, i.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_are_valid_and_match_ghl() {
        let cfg = SandboxConfig::default();
        assert!(cfg.validate(&no_env).is_empty());
        assert_eq!(cfg.listen.port(), 8600);
        assert_eq!(cfg.rate_limit.burst_max, 100);
        assert_eq!(cfg.rate_limit.burst_interval, Duration::from_secs(10));
        assert_eq!(cfg.rate_limit.daily_max, 200_000);
        assert_eq!(SandboxConfig::for_tests().listen.port(), 0);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let mut cfg = SandboxConfig::default();
        cfg.rate_limit.burst_max = 0;
        cfg.rate_limit.burst_interval = Duration::ZERO;
        let keys: Vec<String> = cfg.validate(&no_env).into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["rate_limit.burst_max", "rate_limit.burst_interval"]);
    }

    #[test]
    fn durations_are_humantime() {
        let cfg: SandboxConfig = serde_json::from_value(
            serde_json::json!({"rate_limit": {"burst_interval": "250ms"}, "latency": "5ms"}),
        )
        .unwrap();
        assert_eq!(cfg.rate_limit.burst_interval, Duration::from_millis(250));
        assert_eq!(cfg.latency, Duration::from_millis(5));
        assert_eq!(cfg.rate_limit.burst_max, 100);
    }
}
