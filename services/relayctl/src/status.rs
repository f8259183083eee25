//! `status`, `pause`, `resume`: every service's `relay.admin.v1.Admin` API.

use std::collections::BTreeMap;

use relay_contracts::admin::{
    GetStatusRequest, GetStatusResponse, NatsState, PauseRequest, ResumeRequest,
};
use serde::Serialize;

use crate::client::{self, ConnectOptions, RpcError, Target};
use crate::output::{Console, table, yes_no};

const API: &str = "relay.admin.v1.Admin";

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
    details: BTreeMap<String, String>,
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

/// Pauses (or resumes) one service's consumers.
pub(crate) async fn pause(
    con: &mut Console,
    json: bool,
    opts: &ConnectOptions,
    t: &Target,
    pause: bool,
) -> anyhow::Result<i32> {
    let mut c = client::admin(t, opts).await?;
    let explain = |s: tonic::Status| RpcError::from_status(t, API, opts.timeout, &s);
    let paused = if pause {
        c.pause(PauseRequest {})
            .await
            .map_err(explain)?
            .into_inner()
            .paused
    } else {
        c.resume(ResumeRequest {})
            .await
            .map_err(explain)?
            .into_inner()
            .paused
    };
    if json {
        con.json(&serde_json::json!({ "service": t.name, "paused": paused }))?;
    } else {
        con.print(&format!(
            "{}: {}",
            t.name,
            if paused { "paused" } else { "running" }
        ))?;
    }
    Ok(0)
}

/// One table of every service's status; exit 1 when any is down or not ready.
pub(crate) async fn status(
    con: &mut Console,
    json: bool,
    opts: &ConnectOptions,
    targets: &[Target],
) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    for t in targets {
        let result = match client::admin(t, opts).await {
            Ok(mut c) => c
                .get_status(GetStatusRequest {})
                .await
                .map(|r| r.into_inner().into())
                .map_err(|s| RpcError::from_status(t, API, opts.timeout, &s).into()),
            Err(e) => Err(e),
        };
        rows.push(StatusRow {
            service: t.name.clone(),
            endpoint: t.url.clone(),
            error: result
                .as_ref()
                .err()
                .map(|e: &anyhow::Error| format!("{e:#}")),
            status: result.ok(),
        });
    }
    let failed = rows
        .iter()
        .any(|r| r.error.is_some() || r.status.as_ref().is_some_and(|s| !s.ready));
    if json {
        con.json(&rows)?;
    } else {
        con.print(&status_table(&rows))?;
    }
    Ok(i32::from(failed))
}

fn status_table(rows: &[StatusRow]) -> String {
    let mut table = table([
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
    for r in rows {
        match (&r.status, &r.error) {
            (Some(s), _) => {
                let consumer = match s.consumers.first() {
                    Some(c) => [
                        format!("{}/{}", c.stream, c.consumer),
                        c.pending.to_string(),
                        c.ack_pending.to_string(),
                        c.acked.to_string(),
                        c.retried.to_string(),
                        c.dead_lettered.to_string(),
                    ],
                    None => std::array::from_fn(|_| "-".to_owned()),
                };
                let mut row = vec![
                    r.service.clone(),
                    if s.ready { "yes".into() } else { "NO".into() },
                    s.nats.to_owned(),
                    yes_no(s.paused).to_owned(),
                ];
                row.extend(consumer);
                row.push(format!("{}s", s.uptime_seconds));
                row.push(s.version.clone());
                table.add_row(row);
            }
            (None, Some(e)) => {
                table.add_row(vec![r.service.clone(), "DOWN".into(), e.clone()]);
            }
            (None, None) => {}
        }
    }
    table.to_string()
}
