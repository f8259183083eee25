//! `relayctl`: the operator CLI over every service's admin gRPC API.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use relay_contracts::admin::admin_client::AdminClient;
use relay_contracts::admin::{
    GetStatusRequest, GetStatusResponse, NatsState, PauseRequest, ResumeRequest,
};
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

/// The services of a local stack and their admin ports (deploy/local conventions).
pub const LOCAL_SERVICES: &[(&str, &str)] = &[
    ("ingest-gumroad", "http://127.0.0.1:9081"),
    ("ingest-thrivecart", "http://127.0.0.1:9082"),
    ("ingest-digistore24", "http://127.0.0.1:9083"),
    ("ingest-shift4shop", "http://127.0.0.1:9084"),
    ("ingest-bmc", "http://127.0.0.1:9085"),
    ("mapper", "http://127.0.0.1:9101"),
    ("writer", "http://127.0.0.1:9102"),
];

#[derive(Debug, Parser)]
#[command(
    name = "relayctl",
    version,
    about = "Operate a Relay deployment through its admin APIs"
)]
pub struct Cli {
    /// Admin endpoints as NAME=URL (repeatable); defaults to the local stack's services.
    #[arg(
        long = "service",
        short = 's',
        value_name = "NAME=URL",
        global = true,
        env = "RELAY_SERVICES",
        value_delimiter = ','
    )]
    pub services: Vec<String>,
    /// Admin bearer token.
    #[arg(long, env = "RELAY_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Per-call timeout.
    #[arg(long, default_value = "3s", value_parser = parse_duration, global = true)]
    pub timeout: Duration,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One table of every service's status: readiness, NATS, consumers and their lag.
    Status,
    /// Stop a service pulling work (messages stay in their stream).
    Pause {
        /// Service name (as in --service).
        service: String,
    },
    /// Let a paused service pull work again.
    Resume { service: String },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration unit in {s:?} (use ms, s or m)")),
    }
}

struct Target {
    name: String,
    url: String,
}

fn targets(cli: &Cli) -> anyhow::Result<Vec<Target>> {
    if cli.services.is_empty() {
        return Ok(LOCAL_SERVICES
            .iter()
            .map(|(n, u)| Target {
                name: (*n).into(),
                url: (*u).into(),
            })
            .collect());
    }
    cli.services
        .iter()
        .map(|s| {
            let (name, url) = s
                .split_once('=')
                .with_context(|| format!("--service {s:?}: expected NAME=URL"))?;
            Ok(Target {
                name: name.to_owned(),
                url: url.to_owned(),
            })
        })
        .collect()
}

async fn client(
    t: &Target,
    cli: &Cli,
) -> anyhow::Result<AdminClient<tonic::service::interceptor::InterceptedService<Channel, Auth>>> {
    let endpoint = Endpoint::from_shared(t.url.clone())
        .with_context(|| format!("{}: invalid URL {}", t.name, t.url))?
        .connect_timeout(cli.timeout)
        .timeout(cli.timeout);
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("{} is unreachable at {}", t.name, t.url))?;
    let token = cli
        .token
        .clone()
        .context("no admin token: pass --token or set RELAY_ADMIN_TOKEN")?;
    let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .context("the admin token contains characters not allowed in a header")?;
    Ok(AdminClient::with_interceptor(channel, Auth(value)))
}

#[derive(Clone)]
pub struct Auth(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

fn explain(t: &Target, s: tonic::Status) -> anyhow::Error {
    match s.code() {
        tonic::Code::Unauthenticated => {
            anyhow::anyhow!("{}: the admin token was refused ({})", t.name, s.message())
        }
        tonic::Code::Unavailable => {
            anyhow::anyhow!("{} is unreachable at {}: {}", t.name, t.url, s.message())
        }
        _ => anyhow::anyhow!("{}: {} ({:?})", t.name, s.message(), s.code()),
    }
}

#[derive(Serialize)]
struct StatusRow {
    service: String,
    endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<ServiceStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct ServiceStatus {
    version: String,
    uptime_seconds: u64,
    ready: bool,
    paused: bool,
    nats: &'static str,
    consumers: Vec<ConsumerRow>,
    details: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ConsumerRow {
    stream: String,
    consumer: String,
    pending: u64,
    ack_pending: u64,
    redelivered: u64,
    acked: u64,
    retried: u64,
    dead_lettered: u64,
}

impl From<GetStatusResponse> for ServiceStatus {
    fn from(s: GetStatusResponse) -> Self {
        let nats = match NatsState::try_from(s.nats).unwrap_or(NatsState::Unspecified) {
            NatsState::Connected => "connected",
            NatsState::Disconnected => "disconnected",
            NatsState::Pending => "connecting",
            NatsState::Unspecified => "unknown",
        };
        Self {
            version: s.version,
            uptime_seconds: s.uptime_seconds,
            ready: s.ready,
            paused: s.paused,
            nats,
            consumers: s
                .consumers
                .into_iter()
                .map(|c| ConsumerRow {
                    stream: c.stream,
                    consumer: c.consumer,
                    pending: c.pending,
                    ack_pending: c.ack_pending,
                    redelivered: c.redelivered,
                    acked: c.acked,
                    retried: c.retried,
                    dead_lettered: c.dead_lettered,
                })
                .collect(),
            details: s.details.into_iter().collect(),
        }
    }
}

/// Runs the command; returns the process exit code (non-zero when any service failed).
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let targets = targets(&cli)?;
    match &cli.command {
        Command::Status => status(&cli, &targets).await,
        Command::Pause { service } | Command::Resume { service } => {
            let pause = matches!(cli.command, Command::Pause { .. });
            let t = targets
                .iter()
                .find(|t| &t.name == service)
                .with_context(|| {
                    format!(
                        "unknown service {service:?} (known: {})",
                        targets
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            let mut c = client(t, &cli).await?;
            let paused = if pause {
                c.pause(PauseRequest {})
                    .await
                    .map_err(|s| explain(t, s))?
                    .into_inner()
                    .paused
            } else {
                c.resume(ResumeRequest {})
                    .await
                    .map_err(|s| explain(t, s))?
                    .into_inner()
                    .paused
            };
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({ "service": service, "paused": paused })
                );
            } else {
                println!("{service}: {}", if paused { "paused" } else { "running" });
            }
            Ok(0)
        }
    }
}

async fn status(cli: &Cli, targets: &[Target]) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    for t in targets {
        let row = match client(t, cli).await {
            Ok(mut c) => match c.get_status(GetStatusRequest {}).await {
                Ok(r) => StatusRow {
                    service: t.name.clone(),
                    endpoint: t.url.clone(),
                    status: Some(r.into_inner().into()),
                    error: None,
                },
                Err(s) => StatusRow {
                    service: t.name.clone(),
                    endpoint: t.url.clone(),
                    status: None,
                    error: Some(format!("{:#}", explain(t, s))),
                },
            },
            Err(e) => StatusRow {
                service: t.name.clone(),
                endpoint: t.url.clone(),
                status: None,
                error: Some(format!("{e:#}")),
            },
        };
        rows.push(row);
    }
    let failed = rows
        .iter()
        .any(|r| r.error.is_some() || r.status.as_ref().is_some_and(|s| !s.ready));
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "service",
            "ready",
            "nats",
            "paused",
            "consumer",
            "pending",
            "ack pending",
            "acked",
            "retried",
            "dead-lettered",
            "uptime",
            "version",
        ]);
        for r in &rows {
            match (&r.status, &r.error) {
                (Some(s), _) => {
                    let (consumer, pending, ack_pending, acked, retried, dlq) =
                        match s.consumers.first() {
                            Some(c) => (
                                format!("{}/{}", c.stream, c.consumer),
                                c.pending.to_string(),
                                c.ack_pending.to_string(),
                                c.acked.to_string(),
                                c.retried.to_string(),
                                c.dead_lettered.to_string(),
                            ),
                            None => (
                                "-".into(),
                                "-".into(),
                                "-".into(),
                                "-".into(),
                                "-".into(),
                                "-".into(),
                            ),
                        };
                    table.add_row(vec![
                        r.service.clone(),
                        if s.ready { "yes".into() } else { "NO".into() },
                        s.nats.to_owned(),
                        if s.paused { "yes".into() } else { "no".into() },
                        consumer,
                        pending,
                        ack_pending,
                        acked,
                        retried,
                        dlq,
                        format!("{}s", s.uptime_seconds),
                        s.version.clone(),
                    ]);
                }
                (None, Some(e)) => {
                    table.add_row(vec![r.service.clone(), "DOWN".into(), e.clone()]);
                }
                (None, None) => {}
            }
        }
        println!("{table}");
    }
    Ok(i32::from(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("3h").is_err());
    }
}
