use std::collections::BTreeMap;
use std::time::Duration;

use relay_common::config::{
    AdminConfig, ConfigIssue, ConsumerConfig, NatsConfig, ServiceConfig, TelemetryConfig,
};
use relay_contracts::Token;
pub use relay_ghl::config::{
    AuthConfig, GhlConfig, GhlSettings, LocationConfig, OAuthInstall, RateLimitConfig,
};
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
        self.ghl.validate(&mut issues);
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
        relay_ghl::config::validate_locations(&self.locations, &self.auth, env, &mut issues);
        issues
    }
}

impl GhlSettings for WriterConfig {
    fn ghl(&self) -> &GhlConfig {
        &self.ghl
    }
    fn rate_limit(&self) -> &RateLimitConfig {
        &self.rate_limit
    }
    fn locations(&self) -> &BTreeMap<Token, LocationConfig> {
        &self.locations
    }
    fn auth(&self) -> &AuthConfig {
        &self.auth
    }
    fn replicas(&self) -> usize {
        self.nats.replicas
    }
    fn service(&self) -> &'static str {
        "writer"
    }
}
