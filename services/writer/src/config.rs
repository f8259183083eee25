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
    /// How OAuth tokens are kept.
    pub auth: AuthConfig,
    /// How command partitions are shared between writer replicas.
    pub partitions: PartitionsConfig,
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
            auth: AuthConfig::default(),
            partitions: PartitionsConfig::default(),
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

/// One GHL location: a private integration token or an OAuth installation (exactly one).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationConfig {
    /// Private integration token of the sub-account (`pit-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// OAuth app installation: the writer refreshes the access token itself and keeps the
    /// rotated pair (encrypted) in the `relay-tokens` KV bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthInstall>,
    /// Overrides the default budget for this location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
}

/// An OAuth installation of a location.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthInstall {
    /// The marketplace app's client id.
    pub client_id: String,
    pub client_secret: SecretRef,
    /// The refresh token from the installation (authorization code exchange). Used once, to
    /// seed the token store; afterwards the rotated token in KV is authoritative. Changing it
    /// here (a re-installation) replaces the stored pair and resumes a paused location.
    pub refresh_token: SecretRef,
}

/// Token storage.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// 32-byte key (64 hex characters) that encrypts OAuth tokens at rest in KV. Required when
    /// any location uses OAuth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<SecretRef>,
    /// Refresh an access token this long before it expires.
    #[serde(with = "humantime_serde")]
    pub refresh_before: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            encryption_key: None,
            refresh_before: Duration::from_secs(300),
        }
    }
}

/// Partition leases: each replica drives the locations of the partitions it holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartitionsConfig {
    /// A lease not renewed for this long is free for another replica to take.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// Plans of one partition delivered and not yet acknowledged (held in per-location lanes).
    pub max_pending: i64,
    /// Plans in flight across all locations of this replica (GHL requests at once).
    pub max_in_flight: usize,
}

impl Default for PartitionsConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(10),
            max_pending: 2048,
            max_in_flight: 512,
        }
    }
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
        if self.partitions.lease_ttl < Duration::from_secs(1) {
            issues.push(ConfigIssue::new(
                "partitions.lease_ttl",
                "must be at least 1s",
            ));
        }
        if self.partitions.max_pending < 1 {
            issues.push(ConfigIssue::new(
                "partitions.max_pending",
                "must be at least 1",
            ));
        }
        if self.partitions.max_in_flight < 1 {
            issues.push(ConfigIssue::new(
                "partitions.max_in_flight",
                "must be at least 1",
            ));
        }
        let mut oauth = false;
        for (name, loc) in &self.locations {
            match (&loc.token, &loc.oauth) {
                (Some(token), None) => {
                    secret_issue(&format!("locations.{name}.token"), token, env, &mut issues);
                }
                (None, Some(o)) => {
                    oauth = true;
                    if o.client_id.trim().is_empty() {
                        issues.push(ConfigIssue::new(
                            format!("locations.{name}.oauth.client_id"),
                            "must not be empty",
                        ));
                    }
                    secret_issue(
                        &format!("locations.{name}.oauth.client_secret"),
                        &o.client_secret,
                        env,
                        &mut issues,
                    );
                    secret_issue(
                        &format!("locations.{name}.oauth.refresh_token"),
                        &o.refresh_token,
                        env,
                        &mut issues,
                    );
                }
                (Some(_), Some(_)) => issues.push(ConfigIssue::new(
                    format!("locations.{name}"),
                    "set either token (private integration) or oauth, not both",
                )),
                (None, None) => issues.push(ConfigIssue::new(
                    format!("locations.{name}"),
                    "needs credentials: token (private integration) or oauth",
                )),
            }
            if let Some(r) = &loc.rate_limit {
                r.validate(&format!("locations.{name}.rate_limit"), &mut issues);
            }
        }
        if oauth {
            match &self.auth.encryption_key {
                None => issues.push(ConfigIssue::new(
                    "auth.encryption_key",
                    "required when a location uses OAuth (64 hex characters, e.g. env:RELAY_TOKEN_KEY)",
                )),
                Some(key) => secret_issue("auth.encryption_key", key, env, &mut issues),
            }
        }
        issues
    }
}
