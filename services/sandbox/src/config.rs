//! The sandbox's configuration, loaded by `relay_common::config` (defaults → file → `RELAY_*`
//! environment → `--set`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use relay_common::config::{ConfigIssue, ServiceConfig, TelemetryConfig};
use serde::{Deserialize, Serialize};

use crate::clock::ClockMode;

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
    /// Per-endpoint counts (`/_sandbox/requests/counts`) are kept for every request.
    pub request_log_capacity: usize,
    /// How long a created, updated or deleted contact takes to show in search results
    /// (`POST /contacts/search`, `GET /contacts/`, `GET /contacts/business/{id}`). GHL warns
    /// that updates "may take a few seconds"; 0 makes search read-after-write.
    #[serde(with = "humantime_serde")]
    pub search_index_lag: Duration,
    /// OAuth token and code lifetimes.
    pub oauth: OAuthConfig,
    /// `system` (real time) or `frozen` (moves only through `POST /_sandbox/clock`).
    pub clock: ClockMode,
    /// Seed of the generator behind probabilistic faults, so a run can be repeated.
    pub fault_seed: u64,
    /// A JSON file that keeps locations, contacts, OAuth apps and tokens and Shift4Shop stores
    /// across restarts: read at start when it exists, written (to a temporary file renamed over
    /// it) every `persist_interval` after changes and at shutdown. Unset (the default): memory
    /// only. Faults, the request log and rate-limit budgets are never saved.
    pub data_file: Option<PathBuf>,
    /// How often changes are written to `data_file`.
    #[serde(with = "humantime_serde")]
    pub persist_interval: Duration,
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
            search_index_lag: Duration::ZERO,
            oauth: OAuthConfig::default(),
            clock: ClockMode::System,
            fault_seed: 0x5eed_cafe,
            data_file: None,
            persist_interval: Duration::from_secs(5),
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
        self.oauth.validate("oauth", &mut issues);
        if self.persist_interval < Duration::from_millis(10) {
            issues.push(ConfigIssue::new(
                "persist_interval",
                "must be at least 10ms",
            ));
        }
        if self.request_log_capacity == 0 {
            issues.push(ConfigIssue::new(
                "request_log_capacity",
                "must be at least 1",
            ));
        }
        issues
    }
}

/// OAuth lifetimes (GHL docs: access token one day, `expires_in` 86399; refresh token one year).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    /// Lifetime of an access token (`expires_in`).
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token that is not used.
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// Lifetime of an authorization code.
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(86_399),
            refresh_token_ttl: Duration::from_secs(365 * 86_400),
            code_ttl: Duration::from_secs(600),
        }
    }
}

impl OAuthConfig {
    /// Adds an issue under `key` for each invalid value.
    pub fn validate(&self, key: &str, issues: &mut Vec<ConfigIssue>) {
        for (name, d) in [
            ("access_token_ttl", self.access_token_ttl),
            ("refresh_token_ttl", self.refresh_token_ttl),
            ("code_ttl", self.code_ttl),
        ] {
            if d < Duration::from_secs(1) {
                issues.push(ConfigIssue::new(
                    format!("{key}.{name}"),
                    "must be at least 1s",
                ));
            }
        }
    }
}

/// How the burst budget is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitAlgorithm {
    /// At most `burst_max` accepted requests in any `burst_interval` (a log of instants): the
    /// strictest reading of "100 per 10 seconds".
    #[default]
    SlidingWindow,
    /// At most `burst_max` accepted requests per fixed window of `burst_interval`, windows
    /// aligned on the sandbox's start: a client may get two budgets around a boundary.
    FixedWindow,
}

/// GHL's published limits (README §4): a burst budget per interval and a daily budget, each per
/// (app or token, location).
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
    /// How the burst window is counted.
    pub algorithm: RateLimitAlgorithm,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            burst_max: 100,
            burst_interval: Duration::from_secs(10),
            daily_max: 200_000,
            algorithm: RateLimitAlgorithm::SlidingWindow,
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
        let cfg: SandboxConfig = serde_json::from_value(serde_json::json!({
            "rate_limit": {"burst_interval": "250ms", "algorithm": "fixed_window"},
            "latency": "5ms", "search_index_lag": "2s", "clock": "frozen",
            "oauth": {"access_token_ttl": "1h"},
            "data_file": "/var/lib/relay/sandbox.json", "persist_interval": "250ms"
        }))
        .unwrap();
        assert_eq!(
            cfg.data_file.as_deref(),
            Some(std::path::Path::new("/var/lib/relay/sandbox.json"))
        );
        assert_eq!(cfg.persist_interval, Duration::from_millis(250));
        assert_eq!(SandboxConfig::default().data_file, None);
        assert_eq!(cfg.rate_limit.burst_interval, Duration::from_millis(250));
        assert_eq!(cfg.rate_limit.algorithm, RateLimitAlgorithm::FixedWindow);
        assert_eq!(cfg.search_index_lag, Duration::from_secs(2));
        assert_eq!(cfg.clock, ClockMode::Frozen);
        assert_eq!(cfg.oauth.access_token_ttl, Duration::from_secs(3600));
        assert_eq!(cfg.oauth.code_ttl, Duration::from_secs(600));
        assert_eq!(cfg.latency, Duration::from_millis(5));
        assert_eq!(cfg.rate_limit.burst_max, 100);
    }
}
