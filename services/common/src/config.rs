//! Layered configuration: compiled-in defaults → optional TOML file (`--config`) → `RELAY_*`
//! environment (`__` separates levels: `RELAY_NATS__URL`) → `--set key=value` flags.
//! Unknown keys are errors, values are validated after extraction, and a failure names the key
//! and exits with [`EXIT_CONFIG`](crate::EXIT_CONFIG).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use relay_contracts::Token;
use relay_contracts::nats::Retention;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::secret::{SecretError, SecretRef};

/// Flags every service binary accepts.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML). Values in it override the defaults.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one setting, e.g. `--set nats.url=nats://127.0.0.1:4222` (repeatable, applied last).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub dump_config: bool,
}

/// A service's configuration: defaults in code, validated after loading.
pub trait ServiceConfig: Serialize + DeserializeOwned + Default {
    /// Checks values serde cannot (URLs, ranges, secrets that must resolve). Each problem names
    /// the key.
    fn validate(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue>;
}

/// One invalid setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub message: String,
}

impl ConfigIssue {
    pub fn new(key: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            key: key.into(),
            message: message.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    FileMissing(PathBuf),
    #[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Extract(Vec<String>),
    #[error("invalid --set {0:?}: expected KEY=VALUE")]
    Override(String),
    #[error("invalid configuration:\n{}", .0.iter().map(|i| format!("  - {}: {}", i.key, i.message)).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigIssue>),
}

/// The process environment, for resolving secrets. Only binaries and this module read it.
#[allow(clippy::disallowed_methods)]
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads `T` from the layers above, reading `RELAY_*` variables from the process environment.
pub fn load<T: ServiceConfig>(args: &ConfigArgs) -> Result<T, ConfigError> {
    load_with_env(args, Env::prefixed("RELAY_"), &process_env)
}

/// Loads `T` with an explicit environment provider (tests use `figment::Jail`).
pub fn load_with_env<T: ServiceConfig>(
    args: &ConfigArgs,
    env_provider: Env,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<T, ConfigError> {
    let defaults = Serialized::defaults(T::default());
    // Only variables whose first segment is one of this service's top-level keys are
    // configuration: RELAY_DEMO_SECRET is someone's secret, not a typo.
    let top_level: BTreeSet<String> = match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let env_layer = env_provider
        .map(|k| k.as_str().to_ascii_lowercase().replace("__", ".").into())
        .filter(move |k| top_level.contains(k.as_str().split('.').next().unwrap_or_default()));

    let mut figment = Figment::from(defaults);
    if let Some(path) = &args.config {
        if !path.exists() {
            return Err(ConfigError::FileMissing(path.clone()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(env_layer);
    for o in &args.overrides {
        let (key, value) = o
            .split_once('=')
            .ok_or_else(|| ConfigError::Override(o.clone()))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::Override(o.clone()));
        }
        let value: figment::value::Value = value
            .parse::<figment::value::Value>()
            .unwrap_or_else(|_| figment::value::Value::from(value.to_owned()));
        figment = figment.merge(Serialized::global(key, value));
    }

    let config: T = figment
        .extract()
        .map_err(|e| ConfigError::Extract(e.into_iter().map(|e| e.to_string()).collect()))?;
    let issues = config.validate(env);
    if issues.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(issues))
    }
}

/// Loads the configuration for `main`: prints it and exits with `--dump-config`, prints the
/// error and exits with [`EXIT_CONFIG`](crate::EXIT_CONFIG) when it is invalid.
pub fn load_or_exit<T: ServiceConfig>(service: &str, args: &ConfigArgs) -> T {
    match load::<T>(args) {
        Ok(cfg) => {
            if args.dump_config {
                match toml_string(&cfg) {
                    Ok(s) => print!("{s}"),
                    Err(e) => eprintln!("{service}: cannot print configuration: {e}"),
                }
                std::process::exit(0);
            }
            cfg
        }
        Err(e) => {
            eprintln!("{service}: {e}");
            std::process::exit(crate::EXIT_CONFIG);
        }
    }
}

fn toml_string<T: Serialize>(cfg: &T) -> Result<String, String> {
    // figment's Value serializes to TOML-compatible structures; go through JSON to drop nulls.
    let json = serde_json::to_value(cfg).map_err(|e| e.to_string())?;
    Ok(render_toml(&json, ""))
}

fn render_toml(v: &serde_json::Value, path: &str) -> String {
    use serde_json::Value;
    let mut out = String::new();
    let Value::Object(map) = v else { return out };
    let mut tables = Vec::new();
    for (k, v) in map {
        match v {
            Value::Null => {}
            Value::Object(_) => tables.push((k, v)),
            other => out.push_str(&format!("{k} = {other}\n")),
        }
    }
    for (k, v) in tables {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        out.push_str(&format!("\n[{p}]\n"));
        out.push_str(&render_toml(v, &p));
    }
    out
}

/// How to reach NATS and which namespace to use.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated (`nats://127.0.0.1:4222`).
    pub url: String,
    /// Optional prefix for subjects, streams and consumers (isolates environments).
    pub prefix: Option<Token>,
    /// How long to wait for the first connection before giving up at start.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Max age of RAW, EVENTS, RESULTS, TRIGGERS and DLQ messages.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// How long a `Nats-Msg-Id` is remembered for dedupe.
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// Stream replicas (1 for a single server, 3 for a cluster).
    pub replicas: usize,
}

impl Default for NatsConfig {
    fn default() -> Self {
        let r = Retention::default();
        Self {
            url: "nats://127.0.0.1:4222".into(),
            prefix: None,
            connect_timeout: Duration::from_secs(10),
            max_age: r.max_age,
            duplicate_window: r.duplicate_window,
            replicas: r.replicas,
        }
    }
}

impl NatsConfig {
    pub fn retention(&self) -> Retention {
        Retention {
            max_age: self.max_age,
            duplicate_window: self.duplicate_window,
            replicas: self.replicas,
        }
    }

    pub fn namespace(&self) -> relay_contracts::Namespace {
        relay_contracts::Namespace::new(self.prefix.clone())
    }

    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        for u in self.url.split(',') {
            match url::Url::parse(u.trim()) {
                Ok(parsed) if matches!(parsed.scheme(), "nats" | "tls" | "ws" | "wss") => {}
                Ok(parsed) => issues.push(ConfigIssue::new(
                    "nats.url",
                    format!(
                        "unsupported scheme {:?} in {u:?} (use nats:// or tls://)",
                        parsed.scheme()
                    ),
                )),
                Err(e) => issues.push(ConfigIssue::new(
                    "nats.url",
                    format!("{u:?} is not a URL: {e}"),
                )),
            }
        }
        if !(1..=5).contains(&self.replicas) {
            issues.push(ConfigIssue::new("nats.replicas", "must be between 1 and 5"));
        }
        if self.duplicate_window > self.max_age {
            issues.push(ConfigIssue::new(
                "nats.duplicate_window",
                "must not exceed nats.max_age",
            ));
        }
    }
}

/// Logs and traces.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// EnvFilter directive; `RUST_LOG` wins when set.
    pub log_filter: String,
    /// OTLP/gRPC endpoint for traces (`http://127.0.0.1:4317`); none disables export.
    pub otlp_endpoint: Option<url::Url>,
    /// Which spans are exported (independent of `log_filter`).
    pub trace_filter: String,
    /// Span batch delay before export.
    #[serde(with = "humantime_serde")]
    pub export_delay: Duration,
    /// Share of new traces recorded (0.0 to 1.0); a trace started upstream follows its
    /// parent's decision. Lower it when every delivery's trace costs more than it tells.
    pub sample_ratio: f64,
    /// Spans held for export at most; beyond that new spans are dropped (and counted by the
    /// SDK), never blocking a request.
    pub max_queue_size: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Text,
            log_filter: "info".into(),
            otlp_endpoint: None,
            trace_filter: "info".into(),
            export_delay: Duration::from_secs(2),
            sample_ratio: 1.0,
            max_queue_size: 16_384,
        }
    }
}

impl TelemetryConfig {
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if let Some(u) = &self.otlp_endpoint
            && !matches!(u.scheme(), "http" | "https")
        {
            issues.push(ConfigIssue::new(
                "telemetry.otlp_endpoint",
                format!("{u} must use http:// (plaintext) or https://"),
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_filter) {
            issues.push(ConfigIssue::new("telemetry.log_filter", e));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.trace_filter) {
            issues.push(ConfigIssue::new("telemetry.trace_filter", e));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            issues.push(ConfigIssue::new(
                "telemetry.sample_ratio",
                format!("{} is not between 0.0 and 1.0", self.sample_ratio),
            ));
        }
        if self.max_queue_size == 0 {
            issues.push(ConfigIssue::new(
                "telemetry.max_queue_size",
                "must be at least 1",
            ));
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The admin endpoint: gRPC (health, reflection, `relay.admin.v1.Admin`) and `GET /metrics`
/// on one port.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Bearer token required on `relay.admin.v1` calls (health and metrics stay open for probes).
    pub token: SecretRef,
    /// How long shutdown waits for in-flight work before giving up.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self::with_port(9000)
    }
}

impl AdminConfig {
    pub fn with_port(port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            token: SecretRef::Env("RELAY_ADMIN_TOKEN".into()),
            drain_timeout: Duration::from_secs(20),
        }
    }

    pub fn validate(&self, env: &dyn Fn(&str) -> Option<String>, issues: &mut Vec<ConfigIssue>) {
        secret_issue("admin.token", &self.token, env, issues);
    }
}

/// How a service consumes its stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Messages handled at once (also the pull batch size).
    pub concurrency: usize,
    /// Deliveries before a transiently failing message is dead-lettered.
    pub max_deliver: i64,
    /// How long the server waits for an ack before redelivering.
    #[serde(with = "humantime_serde")]
    pub ack_wait: Duration,
    /// First retry delay; doubles per delivery.
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    /// Longest retry delay.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        let s = crate::consumer::ConsumerSettings::default();
        Self {
            concurrency: s.concurrency,
            max_deliver: s.max_deliver,
            ack_wait: s.ack_wait,
            backoff_base: s.backoff_base,
            backoff_max: s.backoff_max,
        }
    }
}

impl ConsumerConfig {
    pub fn validate(&self, key: &str, issues: &mut Vec<ConfigIssue>) {
        if self.concurrency == 0 || self.concurrency > 4096 {
            issues.push(ConfigIssue::new(
                format!("{key}.concurrency"),
                "must be between 1 and 4096",
            ));
        }
        if self.max_deliver < 1 {
            issues.push(ConfigIssue::new(
                format!("{key}.max_deliver"),
                "must be at least 1",
            ));
        }
        if self.ack_wait < Duration::from_secs(1) {
            issues.push(ConfigIssue::new(
                format!("{key}.ack_wait"),
                "must be at least 1s",
            ));
        }
        if self.backoff_base > self.backoff_max {
            issues.push(ConfigIssue::new(
                format!("{key}.backoff_base"),
                "must not exceed backoff_max",
            ));
        }
    }
}

impl From<&ConsumerConfig> for crate::consumer::ConsumerSettings {
    fn from(c: &ConsumerConfig) -> Self {
        Self {
            concurrency: c.concurrency,
            max_deliver: c.max_deliver,
            ack_wait: c.ack_wait,
            backoff_base: c.backoff_base,
            backoff_max: c.backoff_max,
        }
    }
}

/// Adds an issue for `key` when `secret` does not resolve.
pub fn secret_issue(
    key: &str,
    secret: &SecretRef,
    env: &dyn Fn(&str) -> Option<String>,
    issues: &mut Vec<ConfigIssue>,
) {
    if let Err(e) = secret.resolve(env) {
        issues.push(ConfigIssue::new(key, describe_secret_error(&e)));
    }
}

fn describe_secret_error(e: &SecretError) -> String {
    format!("secret not available: {e}")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Demo {
        nats: NatsConfig,
        admin: Option<AdminConfig>,
    }

    impl ServiceConfig for Demo {
        fn validate(&self, _env: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
            let mut issues = Vec::new();
            self.nats.validate(&mut issues);
            issues
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn layers_apply_in_order_and_unrelated_env_is_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "[nats]\nurl = \"nats://10.0.0.1:4222\"\nreplicas = 3\n",
            )?;
            jail.set_env("RELAY_NATS__REPLICAS", "2");
            jail.set_env("RELAY_DEMO_SECRET", "not config");
            let args = ConfigArgs {
                config: Some("c.toml".into()),
                overrides: vec!["nats.prefix=t1".into()],
                dump_config: false,
            };
            let cfg: Demo = load_with_env(&args, Env::prefixed("RELAY_"), &no_env).unwrap();
            assert_eq!(cfg.nats.url, "nats://10.0.0.1:4222");
            assert_eq!(cfg.nats.replicas, 2);
            assert_eq!(cfg.nats.prefix.unwrap().as_str(), "t1");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[nats]\nurll = \"x\"\n")?;
            let args = ConfigArgs {
                config: Some("c.toml".into()),
                ..Default::default()
            };
            let err = load_with_env::<Demo>(&args, Env::prefixed("RELAY_"), &no_env).unwrap_err();
            assert!(err.to_string().contains("urll"), "{err}");

            let args = ConfigArgs {
                overrides: vec!["nats.url=http://x".into()],
                ..Default::default()
            };
            let err = load_with_env::<Demo>(&args, Env::prefixed("RELAY_"), &no_env).unwrap_err();
            assert!(err.to_string().contains("nats.url"), "{err}");
            Ok(())
        });
    }
}
