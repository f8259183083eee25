//! Configuration shared by every service that calls GHL (writer, poller): the API endpoint,
//! each location's credentials and request budget, and how OAuth tokens are kept.
//!
//! Services embed these types in their own config and validate them with
//! [`validate_locations`] and [`RateLimitConfig::validate`], so the same keys mean the same
//! thing in every service.

use std::collections::BTreeMap;
use std::time::Duration;

use relay_common::SecretRef;
use relay_common::config::{ConfigIssue, secret_issue};
use relay_contracts::Token;
use serde::{Deserialize, Serialize};

/// Where GHL is.
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
    /// Fraction of the location's budget this service may use: the writer and the poller
    /// split one location's GHL limit (e.g. writer 0.8, poller 0.2); their shares should sum
    /// to at most 1.
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
    /// Adds an issue for every invalid value, named under `key` (`rate_limit`, `locations.x.rate_limit`).
    pub fn validate(&self, key: &str, issues: &mut Vec<ConfigIssue>) {
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
    /// OAuth app installation: the service refreshes the access token itself and keeps the
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

impl GhlConfig {
    /// Adds an issue when the base URL is not http(s).
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if !matches!(self.base_url.scheme(), "http" | "https") {
            issues.push(ConfigIssue::new(
                "ghl.base_url",
                "must be an http:// or https:// URL",
            ));
        }
    }
}

/// What a service needs to know to authenticate and pace GHL calls, whatever the rest of its
/// configuration looks like. [`crate::auth::Auth::new`] and [`crate::budget::Budgets::from_config`]
/// take any config implementing it.
pub trait GhlSettings {
    fn ghl(&self) -> &GhlConfig;
    /// Default budget of every location.
    fn rate_limit(&self) -> &RateLimitConfig;
    fn locations(&self) -> &BTreeMap<Token, LocationConfig>;
    fn auth(&self) -> &AuthConfig;
    /// Replicas of the KV buckets this service creates.
    fn replicas(&self) -> usize;
    /// This service's name (`writer`, `poller`): the default holder of refresh locks.
    fn service(&self) -> &'static str;
}

/// Validates every location's credentials and budget override, and the token encryption key
/// when any location uses OAuth. Keys are named `locations.<id>...` and `auth.encryption_key`.
pub fn validate_locations(
    locations: &BTreeMap<Token, LocationConfig>,
    auth: &AuthConfig,
    env: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<ConfigIssue>,
) {
    let mut oauth = false;
    for (name, loc) in locations {
        match (&loc.token, &loc.oauth) {
            (Some(token), None) => {
                secret_issue(&format!("locations.{name}.token"), token, env, issues);
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
                    issues,
                );
                secret_issue(
                    &format!("locations.{name}.oauth.refresh_token"),
                    &o.refresh_token,
                    env,
                    issues,
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
            r.validate(&format!("locations.{name}.rate_limit"), issues);
        }
    }
    if oauth {
        match &auth.encryption_key {
            None => issues.push(ConfigIssue::new(
                "auth.encryption_key",
                "required when a location uses OAuth (64 hex characters, e.g. env:RELAY_TOKEN_KEY)",
            )),
            Some(key) => secret_issue("auth.encryption_key", key, env, issues),
        }
    }
}
