use std::collections::BTreeMap;
use std::time::Duration;

use relay_common::SecretRef;
use relay_common::config::{
    AdminConfig, ConfigIssue, ConsumerConfig, NatsConfig, ServiceConfig, TelemetryConfig,
    secret_issue,
};
use relay_contracts::Token;
use serde::{Deserialize, Serialize};

/// Writer configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriterConfig {
    pub ghl: GhlConfig,
    /// Default rate budget of every location (GHL: 100 requests / 10 s, 200,000 / day).
    pub rate_limit: RateLimitConfig,
    /// GHL locations the writer may act on, with their credentials.
    pub locations: BTreeMap<Token, LocationConfig>,
    pub consumer: ConsumerConfig,
    pub nats: NatsConfig,
    pub admin: AdminConfig,
    pub telemetry: TelemetryConfig,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            ghl: GhlConfig::default(),
            rate_limit: RateLimitConfig::default(),
            locations: BTreeMap::new(),
            consumer: ConsumerConfig::default(),
            nats: NatsConfig::default(),
            admin: AdminConfig::with_port(9102),
            telemetry: TelemetryConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GhlConfig {
    /// GHL API base URL: the sandbox locally, `https://services.leadconnectorhq.com` in production.
    pub base_url: url::Url,
    /// Per-request timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for GhlConfig {
    fn default() -> Self {
        Self {
            base_url: url::Url::parse("http://127.0.0.1:8600").expect("static URL"),
            timeout: Duration::from_secs(15),
        }
    }
}

/// A location's request budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed in any burst window.
    pub burst_max: u32,
    #[serde(with = "humantime_serde")]
    pub burst_interval: Duration,
    /// Requests allowed per day.
    pub daily_max: u32,
    /// Fraction of the budget the writer may use (the poller gets the rest).
    pub share: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            burst_max: 100,
            burst_interval: Duration::from_secs(10),
            daily_max: 200_000,
            share: 1.0,
        }
    }
}

impl RateLimitConfig {
    fn validate(&self, key: &str, issues: &mut Vec<ConfigIssue>) {
        if self.burst_max < 2 {
            issues.push(ConfigIssue::new(
                format!("{key}.burst_max"),
                "must be at least 2",
            ));
        }
        if self.burst_interval.is_zero() {
            issues.push(ConfigIssue::new(
                format!("{key}.burst_interval"),
                "must be greater than 0",
            ));
        }
        if self.daily_max < 2 {
            issues.push(ConfigIssue::new(
                format!("{key}.daily_max"),
                "must be at least 2",
            ));
        }
        if !(self.share > 0.0 && self.share <= 1.0) {
            issues.push(ConfigIssue::new(
                format!("{key}.share"),
                "must be in (0, 1]",
            ));
        }
    }
}

/// One GHL location.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationConfig {
    /// Private integration token of the sub-account.
    pub token: SecretRef,
    /// Overrides the default budget for this location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
}

impl ServiceConfig for WriterConfig {
    fn validate(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        self.nats.validate(&mut issues);
        self.telemetry.validate(&mut issues);
        self.admin.validate(env, &mut issues);
        self.consumer.validate("consumer", &mut issues);
        self.rate_limit.validate("rate_limit", &mut issues);
        if !matches!(self.ghl.base_url.scheme(), "http" | "https") {
            issues.push(ConfigIssue::new(
                "ghl.base_url",
                "must be an http:// or https:// URL",
            ));
        }
        for (name, loc) in &self.locations {
            secret_issue(
                &format!("locations.{name}.token"),
                &loc.token,
                env,
                &mut issues,
            );
            if let Some(r) = &loc.rate_limit {
                r.validate(&format!("locations.{name}.rate_limit"), &mut issues);
            }
        }
        issues
    }
}
