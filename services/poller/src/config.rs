//! Poller configuration: where GHL is, the locations (same credentials and budget keys as the
//! writer, with the poller's own `share`), and the watches.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use relay_common::config::{AdminConfig, ConfigIssue, NatsConfig, ServiceConfig, TelemetryConfig};
use relay_contracts::{Token, TriggerKind};
use relay_ghl::config::{
    AuthConfig, GhlConfig, GhlSettings, LocationConfig, RateLimitConfig, validate_locations,
};
use serde::{Deserialize, Serialize};

/// The shortest interval GHL users may choose.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The longest interval.
pub const MAX_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Poller configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollerConfig {
    pub ghl: GhlConfig,
    /// Default budget of every location. `share` defaults to 0.2: the writer spends the rest
    /// (`share` 0.8 on its side) of the same GHL limit.
    pub rate_limit: RateLimitConfig,
    /// GHL locations the poller reads, with their credentials (the writer's: both share the
    /// OAuth token store, so `auth.encryption_key` must be the same).
    pub locations: BTreeMap<Token, LocationConfig>,
    pub auth: AuthConfig,
    /// What to poll.
    pub watches: Vec<WatchConfig>,
    /// How watches are spread over poller replicas.
    pub leases: LeasesConfig,
    /// The shortest `interval` a watch may have (60 s; tests lower it).
    #[serde(with = "humantime_serde")]
    pub min_interval: Duration,
    pub nats: NatsConfig,
    pub admin: AdminConfig,
    pub telemetry: TelemetryConfig,
}

impl Default for PollerConfig {
    fn default() -> Self {
        Self {
            ghl: GhlConfig::default(),
            rate_limit: RateLimitConfig {
                share: 0.2,
                ..RateLimitConfig::default()
            },
            locations: BTreeMap::new(),
            auth: AuthConfig::default(),
            watches: Vec::new(),
            leases: LeasesConfig::default(),
            min_interval: MIN_INTERVAL,
            nats: NatsConfig::default(),
            admin: AdminConfig::with_port(9103),
            telemetry: TelemetryConfig::default(),
        }
    }
}

/// One watch: a trigger polled for one location at an interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Unique, `[A-Za-z0-9_-]` (it names the lease, the cursor and the events).
    pub id: Token,
    pub location: Token,
    pub trigger: TriggerKind,
    /// The trigger's parameters (see `triggers`): e.g. `contact_id`; for `search_contacts`
    /// `filters` (GHL search filters), `query`, `page_limit`, `overlap`. Every trigger takes
    /// `since`: `now` (default: only changes after the watch first ran) or `all`.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// 1 to 15 minutes.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeasesConfig {
    /// A watch lease not renewed for this long is free for another replica.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for LeasesConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(15),
        }
    }
}

impl ServiceConfig for PollerConfig {
    fn validate(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        self.nats.validate(&mut issues);
        self.telemetry.validate(&mut issues);
        self.admin.validate(env, &mut issues);
        self.ghl.validate(&mut issues);
        self.rate_limit.validate("rate_limit", &mut issues);
        validate_locations(&self.locations, &self.auth, env, &mut issues);
        if self.leases.ttl < relay_common::lease::MIN_TTL {
            issues.push(ConfigIssue::new("leases.ttl", "must be at least 1s"));
        }
        if self.min_interval.is_zero() {
            issues.push(ConfigIssue::new("min_interval", "must be greater than 0"));
        }
        let mut ids = BTreeSet::new();
        for (i, w) in self.watches.iter().enumerate() {
            let key = format!("watches[{i}]");
            if !ids.insert(&w.id) {
                issues.push(ConfigIssue::new(
                    format!("{key}.id"),
                    format!("duplicate watch id {}", w.id),
                ));
            }
            if !self.locations.contains_key(&w.location) {
                issues.push(ConfigIssue::new(
                    format!("{key}.location"),
                    format!("location {} is not configured under locations", w.location),
                ));
            }
            let min = self.min_interval.min(MIN_INTERVAL);
            if w.interval < min || w.interval > MAX_INTERVAL {
                issues.push(ConfigIssue::new(
                    format!("{key}.interval"),
                    format!("must be between {min:?} and 15m"),
                ));
            }
            if let Err(e) = crate::triggers::Params::parse(w.trigger, &w.params) {
                issues.push(ConfigIssue::new(format!("{key}.params"), e));
            }
        }
        issues
    }
}

impl GhlSettings for PollerConfig {
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
        "poller"
    }
}

#[cfg(test)]
mod tests {
    use relay_common::SecretRef;

    use super::*;

    fn base() -> PollerConfig {
        let loc = Token::parse("loc").unwrap();
        PollerConfig {
            locations: BTreeMap::from([(
                loc.clone(),
                LocationConfig {
                    token: Some(SecretRef::Literal("pit".into())),
                    oauth: None,
                    rate_limit: None,
                },
            )]),
            watches: vec![WatchConfig {
                id: Token::parse("w1").unwrap(),
                location: loc,
                trigger: TriggerKind::ContactTasks,
                params: serde_json::json!({"contact_id": "c1"})
                    .as_object()
                    .cloned()
                    .unwrap(),
                interval: Duration::from_secs(60),
            }],
            ..Default::default()
        }
    }

    fn keys(cfg: &PollerConfig) -> Vec<String> {
        // The admin token is an env reference by default; this env has none.
        cfg.validate(&|_| None)
            .into_iter()
            .map(|i| i.key)
            .filter(|k| k != "admin.token")
            .collect()
    }

    #[test]
    fn defaults_share_a_fifth_of_the_budget() {
        let cfg = PollerConfig::default();
        assert!((cfg.rate_limit.share - 0.2).abs() < f64::EPSILON);
        assert_eq!(cfg.admin.listen.port(), 9103);
        assert!(keys(&base()).is_empty(), "{:?}", keys(&base()));
    }

    #[test]
    fn intervals_are_one_to_fifteen_minutes_unless_lowered() {
        let mut cfg = base();
        cfg.watches[0].interval = Duration::from_secs(5);
        assert_eq!(keys(&cfg), ["watches[0].interval"]);
        cfg.watches[0].interval = Duration::from_secs(16 * 60);
        assert_eq!(keys(&cfg), ["watches[0].interval"]);
        cfg.min_interval = Duration::from_secs(1);
        cfg.watches[0].interval = Duration::from_secs(5);
        assert!(keys(&cfg).is_empty());
    }

    #[test]
    fn watches_name_their_problems() {
        let mut cfg = base();
        let mut dup = cfg.watches[0].clone();
        dup.location = Token::parse("elsewhere").unwrap();
        dup.params.clear();
        cfg.watches.push(dup);
        let k = keys(&cfg);
        assert!(k.contains(&"watches[1].id".to_owned()), "{k:?}");
        assert!(k.contains(&"watches[1].location".to_owned()), "{k:?}");
        assert!(k.contains(&"watches[1].params".to_owned()), "{k:?}");
    }
}
