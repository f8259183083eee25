use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use relay_common::SecretRef;
use relay_common::config::{
    AdminConfig, ConfigIssue, NatsConfig, ServiceConfig, TelemetryConfig, secret_issue,
};
use relay_contracts::Token;
use serde::{Deserialize, Serialize};

/// Configuration of one `ingest-<source>` service.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Where storefronts deliver (`POST /hooks/<connection>`).
    pub listen: SocketAddr,
    /// Largest accepted body; larger deliveries get 413.
    pub max_body_bytes: usize,
    /// Requests handled at once; beyond it new requests are shed with 503 + `Retry-After`.
    pub max_concurrency: usize,
    /// A request taking longer (slow client, slow broker) is answered 503 so the storefront
    /// retries; what was published by then is deduped on the retry.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Storefront connections by name.
    pub connections: BTreeMap<Token, ConnectionConfig>,
    pub nats: NatsConfig,
    pub admin: AdminConfig,
    pub telemetry: TelemetryConfig,
}

/// One storefront account delivering to this service.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// The signing secret / passphrase / secret word / URL token.
    pub secret: SecretRef,
    /// The secret being rotated out: accepted too until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<SecretRef>,
    /// The store's IANA time zone (`Europe/Berlin`) for storefronts sending local times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl IngestConfig {
    /// Defaults for a storefront's service: its conventional webhook and admin ports.
    pub fn for_ports(listen_port: u16, admin_port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], listen_port)),
            max_body_bytes: 256 * 1024,
            max_concurrency: 512,
            request_timeout: Duration::from_secs(10),
            connections: BTreeMap::new(),
            nats: NatsConfig::default(),
            admin: AdminConfig::with_port(admin_port),
            telemetry: TelemetryConfig::default(),
        }
    }

    pub fn validate_into(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        issues: &mut Vec<ConfigIssue>,
    ) {
        self.nats.validate(issues);
        self.telemetry.validate(issues);
        self.admin.validate(env, issues);
        if self.max_body_bytes == 0 {
            issues.push(ConfigIssue::new("max_body_bytes", "must be greater than 0"));
        }
        if self.max_concurrency == 0 {
            issues.push(ConfigIssue::new(
                "max_concurrency",
                "must be greater than 0",
            ));
        }
        for (name, c) in &self.connections {
            if let Some(tz) = &c.timezone
                && jiff::tz::db().get(tz).is_err()
            {
                issues.push(ConfigIssue::new(
                    format!("connections.{name}.timezone"),
                    format!("unknown IANA time zone {tz:?}"),
                ));
            }
            secret_issue(
                &format!("connections.{name}.secret"),
                &c.secret,
                env,
                issues,
            );
            if let Some(prev) = &c.previous_secret {
                secret_issue(
                    &format!("connections.{name}.previous_secret"),
                    prev,
                    env,
                    issues,
                );
            }
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self::for_ports(8080, 9080)
    }
}

impl ServiceConfig for IngestConfig {
    fn validate(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        self.validate_into(env, &mut issues);
        issues
    }
}

/// [`IngestConfig`] whose defaults carry the storefront's conventional ports: the configuration
/// type of each `ingest-<source>` binary.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StorefrontConfig<S>(pub IngestConfig, #[serde(skip)] std::marker::PhantomData<S>);

impl<S: crate::Storefront> Default for StorefrontConfig<S> {
    fn default() -> Self {
        let (listen, admin) = S::PORTS;
        Self(
            IngestConfig::for_ports(listen, admin),
            std::marker::PhantomData,
        )
    }
}

impl<S: crate::Storefront> ServiceConfig for StorefrontConfig<S> {
    fn validate(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
        self.0.validate(env)
    }
}
