//! `locations list|resume` and `limits`: the GHL locations the writer drives, through
//! `relay.writer.v1.Writer` on a writer replica's admin port (`--via`, default `writer`).
//! Credentials and budgets are per replica; `here` says whether the replica asked drives the
//! location now.

use std::time::Duration;

use relay_contracts::writer_admin::writer_client::WriterClient;
use relay_contracts::writer_admin::{
    AuthKind, Budget, ListLocationsRequest, ListLocationsResponse, LocationStatus,
    ResumeLocationRequest, ResumeLocationResponse,
};
use serde::Serialize;

use crate::Context;
use crate::cli::{LimitsArgs, LocationsArgs, LocationsCommand};
use crate::client::{self, AuthChannel, ConnectOptions, RpcError, Target};
use crate::output::{self, Console};

/// The gRPC service the writer's admin port serves for its locations.
pub(crate) const WRITER_API: &str = "relay.writer.v1.Writer";

/// The least a resume waits for its answer: an OAuth refresh may wait for another replica's,
/// and a private integration token is checked with a GHL request.
const LONG_CALL: Duration = Duration::from_secs(60);

/// Paused reasons in the list table are cut to this many characters (`--json` has them whole).
const REASON_WIDTH: usize = 60;

pub(crate) async fn run(
    con: &mut Console,
    ctx: &Context,
    args: &LocationsArgs,
) -> anyhow::Result<i32> {
    match &args.command {
        LocationsCommand::List { location } => {
            let resp = list_locations(ctx, &args.via, location.as_deref()).await?;
            if ctx.json {
                con.json(&ListJson::from(&resp))?;
            } else {
                con.print(&render_list(&resp))?;
            }
            Ok(0)
        }
        LocationsCommand::Resume { location } => resume(con, ctx, &args.via, location).await,
    }
}

/// `limits`: the budget columns of `locations list` (the same JSON).
pub(crate) async fn limits(
    con: &mut Console,
    ctx: &Context,
    args: &LimitsArgs,
) -> anyhow::Result<i32> {
    let resp = list_locations(ctx, &args.via, args.location.as_deref()).await?;
    if ctx.json {
        con.json(&ListJson::from(&resp))?;
    } else {
        con.print(&render_limits(&resp))?;
    }
    Ok(0)
}

/// A connected `relay.writer.v1.Writer` client, and where it points (for error messages).
struct Writer {
    client: WriterClient<AuthChannel>,
    target: Target,
    timeout: Duration,
}

impl Writer {
    async fn connect(ctx: &Context, via: &str, timeout: Duration) -> anyhow::Result<Self> {
        let target = client::find(&ctx.targets, via)?.clone();
        let opts = ConnectOptions {
            timeout,
            ..ctx.connect.clone()
        };
        let client = WriterClient::new(client::connect(&target, &opts).await?);
        Ok(Self {
            client,
            target,
            timeout,
        })
    }

    /// What a failed call means, in an operator's words.
    fn explain(&self, s: &tonic::Status) -> anyhow::Error {
        RpcError::from_status(&self.target, WRITER_API, self.timeout, s).into()
    }
}

async fn list_locations(
    ctx: &Context,
    via: &str,
    location: Option<&str>,
) -> anyhow::Result<ListLocationsResponse> {
    let mut w = Writer::connect(ctx, via, ctx.connect.timeout).await?;
    Ok(w.client
        .list_locations(ListLocationsRequest {
            location_id: location.unwrap_or_default().to_owned(),
        })
        .await
        .map_err(|s| w.explain(&s))?
        .into_inner())
}

async fn resume(
    con: &mut Console,
    ctx: &Context,
    via: &str,
    location: &str,
) -> anyhow::Result<i32> {
    let mut w = Writer::connect(ctx, via, ctx.connect.timeout.max(LONG_CALL)).await?;
    let resp = match w
        .client
        .resume_location(ResumeLocationRequest {
            location_id: location.to_owned(),
        })
        .await
    {
        Ok(r) => r.into_inner(),
        // The credentials still fail: not a rejected input (65) but a failure (1). The message
        // names the location, GHL's reason and what to fix.
        Err(s) if s.code() == tonic::Code::FailedPrecondition => {
            anyhow::bail!("{}: {}", w.target.name, s.message())
        }
        Err(s) => return Err(w.explain(&s)),
    };
    if ctx.json {
        con.json(&ResumeJson::new(location, &resp))?;
    } else {
        con.print(&render_resume(location, &resp))?;
    }
    Ok(0)
}

fn auth_word(l: &LocationStatus) -> &'static str {
    match l.auth_kind() {
        AuthKind::Pit => "pit",
        AuthKind::Oauth => "oauth",
        AuthKind::Unspecified => "unknown",
    }
}

/// `1500` → `1.5s`, `10000` → `10s`, `754000` → `12m 34s`, `7_380_000` → `2h 3m`.
fn human_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 if ms.is_multiple_of(1_000) => format!("{}s", ms / 1_000),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1_000.0),
        60_000..3_600_000 => format!("{}m {}s", ms / 60_000, ms % 60_000 / 1_000),
        _ => format!("{}h {}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_owned()
    }
}

/// `throttled, 4.2s left`, or `-`.
fn hold(b: &Budget) -> String {
    if b.hold_reason.is_empty() {
        "-".into()
    } else {
        format!("{}, {} left", b.hold_reason, human_ms(b.hold_remaining_ms))
    }
}

/// Which replica answered and what it holds; what `here` means.
fn footer(resp: &ListLocationsResponse) -> String {
    if resp.replica.is_empty() {
        return "this writer replica has not joined the partition leases yet: here = no for every \
                location\n"
            .into();
    }
    format!(
        "replica {} holds {} of {} partitions; `here`: it drives the location now\n",
        resp.replica,
        resp.held_partitions.len(),
        resp.partitions
    )
}

/// The `locations list` table, then the replica line and a hint for paused locations.
pub(crate) fn render_list(resp: &ListLocationsResponse) -> String {
    if resp.locations.is_empty() {
        return "the writer is configured for no location\n".into();
    }
    let mut table = output::table([
        "location",
        "partition",
        "here",
        "auth",
        "paused",
        "window (now/configured)",
        "daily",
        "hold",
        "429s",
        "admitted",
    ]);
    for l in &resp.locations {
        let b = l.budget.clone().unwrap_or_default();
        table.add_row(vec![
            l.location_id.clone(),
            l.partition.to_string(),
            output::yes_no(l.here).to_owned(),
            auth_word(l).to_owned(),
            or_dash(&cut(&l.paused_reason, REASON_WIDTH)),
            format!(
                "{}/{} per {}",
                b.effective_window_limit,
                b.configured_window_limit,
                human_ms(b.window_ms)
            ),
            b.daily_limit.to_string(),
            hold(&b),
            b.throttled_total.to_string(),
            b.admitted_total.to_string(),
        ]);
    }
    let mut out = format!("{table}\n{}", footer(resp));
    if resp.locations.iter().any(|l| !l.paused_reason.is_empty()) {
        out.push_str(
            "paused locations' plans wait in COMMANDS; once the credentials are fixed: \
             relayctl locations resume <location>\n",
        );
    }
    out
}

/// The `limits` table: each location's budget, then what holds mean.
pub(crate) fn render_limits(resp: &ListLocationsResponse) -> String {
    if resp.locations.is_empty() {
        return "the writer is configured for no location\n".into();
    }
    let mut table = output::table([
        "location",
        "here",
        "window",
        "limit now",
        "GHL limit",
        "configured",
        "daily (GHL/configured)",
        "hold",
        "429s",
        "admitted",
    ]);
    let mut held = Vec::new();
    for l in &resp.locations {
        let b = l.budget.clone().unwrap_or_default();
        table.add_row(vec![
            l.location_id.clone(),
            output::yes_no(l.here).to_owned(),
            human_ms(b.window_ms),
            b.effective_window_limit.to_string(),
            b.window_limit.to_string(),
            b.configured_window_limit.to_string(),
            format!("{}/{}", b.daily_limit, b.configured_daily_limit),
            hold(&b),
            b.throttled_total.to_string(),
            b.admitted_total.to_string(),
        ]);
        if !b.hold_detail.is_empty() {
            held.push(format!(
                "{}: {} ({} left)\n",
                l.location_id,
                b.hold_detail,
                human_ms(b.hold_remaining_ms)
            ));
        }
    }
    let mut out = format!("{table}\n");
    for line in held {
        out.push_str(&line);
    }
    out.push_str(&footer(resp));
    out
}

pub(crate) fn render_resume(location: &str, resp: &ResumeLocationResponse) -> String {
    if !resp.resumed {
        return format!("{location}: not paused; nothing to resume\n");
    }
    let check = if resp.verified {
        resp.detail.clone()
    } else {
        format!("credentials not checked ({})", resp.detail)
    };
    format!(
        "{location}: resumed; its waiting plans go on\n  was paused: {}\n  {check}\n",
        resp.paused_reason
    )
}

/// `Budget` as JSON (field names as in the proto).
#[derive(Debug, Serialize)]
struct BudgetJson<'a> {
    window_ms: u64,
    configured_window_limit: u32,
    window_limit: u32,
    effective_window_limit: u32,
    configured_daily_limit: u32,
    daily_limit: u32,
    hold_reason: &'a str,
    hold_detail: &'a str,
    hold_remaining_ms: u64,
    throttled_total: u64,
    admitted_total: u64,
}

impl<'a> From<&'a Budget> for BudgetJson<'a> {
    fn from(b: &'a Budget) -> Self {
        Self {
            window_ms: b.window_ms,
            configured_window_limit: b.configured_window_limit,
            window_limit: b.window_limit,
            effective_window_limit: b.effective_window_limit,
            configured_daily_limit: b.configured_daily_limit,
            daily_limit: b.daily_limit,
            hold_reason: &b.hold_reason,
            hold_detail: &b.hold_detail,
            hold_remaining_ms: b.hold_remaining_ms,
            throttled_total: b.throttled_total,
            admitted_total: b.admitted_total,
        }
    }
}

/// `LocationStatus` as JSON (field names as in the proto; `auth_kind` as `pit`/`oauth`).
#[derive(Debug, Serialize)]
struct LocationJson<'a> {
    location_id: &'a str,
    partition: u32,
    here: bool,
    auth_kind: &'static str,
    paused_reason: &'a str,
    token_expires_at: &'a str,
    token_refreshed_at: &'a str,
    token_refreshed_by: &'a str,
    budget: Option<BudgetJson<'a>>,
}

impl<'a> From<&'a LocationStatus> for LocationJson<'a> {
    fn from(l: &'a LocationStatus) -> Self {
        Self {
            location_id: &l.location_id,
            partition: l.partition,
            here: l.here,
            auth_kind: auth_word(l),
            paused_reason: &l.paused_reason,
            token_expires_at: &l.token_expires_at,
            token_refreshed_at: &l.token_refreshed_at,
            token_refreshed_by: &l.token_refreshed_by,
            budget: l.budget.as_ref().map(BudgetJson::from),
        }
    }
}

#[derive(Debug, Serialize)]
struct ListJson<'a> {
    replica: &'a str,
    held_partitions: &'a [u32],
    partitions: u32,
    locations: Vec<LocationJson<'a>>,
}

impl<'a> From<&'a ListLocationsResponse> for ListJson<'a> {
    fn from(r: &'a ListLocationsResponse) -> Self {
        Self {
            replica: &r.replica,
            held_partitions: &r.held_partitions,
            partitions: r.partitions,
            locations: r.locations.iter().map(LocationJson::from).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct ResumeJson<'a> {
    location_id: &'a str,
    resumed: bool,
    paused_reason: &'a str,
    verified: bool,
    detail: &'a str,
}

impl<'a> ResumeJson<'a> {
    fn new(location: &'a str, r: &'a ResumeLocationResponse) -> Self {
        Self {
            location_id: location,
            resumed: r.resumed,
            paused_reason: &r.paused_reason,
            verified: r.verified,
            detail: &r.detail,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::output::row_cells;

    fn response() -> ListLocationsResponse {
        ListLocationsResponse {
            replica: "writer-0-1a2b3c4d".into(),
            held_partitions: vec![3, 7],
            partitions: 16,
            locations: vec![
                LocationStatus {
                    location_id: "loc-a".into(),
                    partition: 3,
                    here: true,
                    auth_kind: AuthKind::Pit.into(),
                    budget: Some(Budget {
                        window_ms: 10_000,
                        configured_window_limit: 100,
                        window_limit: 100,
                        effective_window_limit: 50,
                        configured_daily_limit: 200_000,
                        daily_limit: 200_000,
                        hold_reason: "throttled".into(),
                        hold_detail: "GHL answered 429 Too Many Requests".into(),
                        hold_remaining_ms: 4_200,
                        throttled_total: 2,
                        admitted_total: 1_234,
                    }),
                    ..LocationStatus::default()
                },
                LocationStatus {
                    location_id: "loc-b".into(),
                    partition: 9,
                    here: false,
                    auth_kind: AuthKind::Oauth.into(),
                    paused_reason: "OAuth token refresh refused: GHL oauth answered 400: invalid_grant; reinstall the app".into(),
                    token_expires_at: "2026-11-23T15:04:37Z".into(),
                    budget: Some(Budget {
                        window_ms: 10_000,
                        configured_window_limit: 50,
                        window_limit: 50,
                        effective_window_limit: 50,
                        configured_daily_limit: 100_000,
                        daily_limit: 100_000,
                        ..Budget::default()
                    }),
                    ..LocationStatus::default()
                },
            ],
        }
    }

    #[test]
    fn durations_read_easily() {
        assert_eq!(human_ms(250), "250ms");
        assert_eq!(human_ms(1_500), "1.5s");
        assert_eq!(human_ms(10_000), "10s");
        assert_eq!(human_ms(754_000), "12m 34s");
        assert_eq!(human_ms(7_380_000), "2h 3m");
    }

    #[test]
    fn list_table() {
        let text = render_list(&response());
        assert_eq!(
            row_cells(&text, "loc-a"),
            [
                "loc-a",
                "3",
                "yes",
                "pit",
                "-",
                "50/100 per 10s",
                "200000",
                "throttled, 4.2s left",
                "2",
                "1234"
            ]
        );
        let b = row_cells(&text, "loc-b");
        assert_eq!(&b[..4], ["loc-b", "9", "no", "oauth"]);
        assert!(b[4].starts_with("OAuth token refresh refused") && b[4].ends_with('…'));
        assert!(
            text.contains("replica writer-0-1a2b3c4d holds 2 of 16 partitions"),
            "{text}"
        );
        assert!(
            text.contains("relayctl locations resume <location>"),
            "{text}"
        );
    }

    #[test]
    fn limits_table() {
        let text = render_limits(&response());
        assert_eq!(
            row_cells(&text, "loc-a"),
            [
                "loc-a",
                "yes",
                "10s",
                "50",
                "100",
                "100",
                "200000/200000",
                "throttled, 4.2s left",
                "2",
                "1234"
            ]
        );
        assert_eq!(row_cells(&text, "loc-b")[7], "-");
        assert!(
            text.contains("loc-a: GHL answered 429 Too Many Requests (4.2s left)"),
            "{text}"
        );
    }

    #[test]
    fn json_names_the_auth_kind() {
        let resp = response();
        let j = serde_json::to_value(ListJson::from(&resp)).unwrap();
        assert_eq!(j["locations"][0]["auth_kind"], "pit");
        assert_eq!(j["locations"][1]["auth_kind"], "oauth");
        assert_eq!(j["locations"][0]["budget"]["hold_remaining_ms"], 4_200);
        assert_eq!(j["held_partitions"], serde_json::json!([3, 7]));
    }

    #[test]
    fn resume_text() {
        let resp = ResumeLocationResponse {
            resumed: true,
            paused_reason: "private integration token rejected (401)".into(),
            verified: true,
            detail: "GHL accepted the private integration token".into(),
        };
        assert_eq!(
            render_resume("loc-a", &resp),
            "loc-a: resumed; its waiting plans go on\n  was paused: private integration token \
             rejected (401)\n  GHL accepted the private integration token\n"
        );
        assert_eq!(
            render_resume("loc-a", &ResumeLocationResponse::default()),
            "loc-a: not paused; nothing to resume\n"
        );
    }
}
