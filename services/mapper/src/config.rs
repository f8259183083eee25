use relay_common::config::{
    AdminConfig, ConfigIssue, ConsumerConfig, NatsConfig, ServiceConfig, TelemetryConfig,
};
use relay_contracts::{Source, Token};
use serde::{Deserialize, Serialize};

/// Mapper configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MapperConfig {
    /// Which GHL location each storefront connection feeds.
    pub connections: Vec<ConnectionRoute>,
    pub consumer: ConsumerConfig,
    pub nats: NatsConfig,
    pub admin: AdminConfig,
    pub telemetry: TelemetryConfig,
}

impl Default for MapperConfig {
    fn default() -> Self {
        Self {
            connections: Vec::new(),
            consumer: ConsumerConfig::default(),
            nats: NatsConfig::default(),
            admin: AdminConfig::with_port(9101),
            telemetry: TelemetryConfig::default(),
        }
    }
}

/// A storefront connection and the GHL location it feeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionRoute {
    pub source: Source,
    pub name: Token,
    pub location_id: Token,
}

impl ServiceConfig for MapperConfig {
    fn validate(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        self.nats.validate(&mut issues);
        self.telemetry.validate(&mut issues);
        self.admin.validate(env, &mut issues);
        self.consumer.validate("consumer", &mut issues);
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.connections.iter().enumerate() {
            if !seen.insert((c.source, c.name.clone())) {
                issues.push(ConfigIssue::new(
                    format!("connections[{i}]"),
                    format!("{}/{} is declared twice", c.source, c.name),
                ));
            }
        }
        issues
    }
}
