//! `dlq list|show|redrive|purge`: dead letters, through `relay.dlq.v1.DeadLetters` on a worker's
//! admin port (`--via`, default `writer`).

use std::time::Duration;

use relay_contracts::dlq_admin::dead_letters_client::DeadLettersClient;
use relay_contracts::dlq_admin::{
    Entry, Filter, ListRequest, ListResponse, Order, PayloadEncoding, PurgeRequest, PurgeResponse,
    RedriveOutcome, RedriveRequest, RedriveResponse, RedriveResult, Selection, ShowRequest,
    ShowResponse,
};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::{DlqArgs, DlqCommand, DlqFilterArgs, DlqListArgs, DlqPurgeArgs, DlqRedriveArgs};
use crate::client::{self, AuthChannel, ConnectOptions, RpcError, Target};
use crate::output::{self, Console};
use crate::{Context, UsageError};

/// The gRPC service every worker's admin port serves for dead letters.
pub(crate) const DLQ_API: &str = "relay.dlq.v1.DeadLetters";

/// The least a redrive or purge waits for its answer: the service works through every
/// selected entry (publish, acknowledgement, delete) before it answers.
const LONG_CALL: Duration = Duration::from_secs(60);

/// Reasons in the list table are cut to this many characters (`show` has them whole).
const REASON_WIDTH: usize = 80;

pub(crate) async fn run(con: &mut Console, ctx: &Context, args: &DlqArgs) -> anyhow::Result<i32> {
    let now = OffsetDateTime::now_utc();
    match &args.command {
        DlqCommand::List(a) => list(con, ctx, &args.via, a, now).await,
        DlqCommand::Show { seq } => show(con, ctx, &args.via, *seq).await,
        DlqCommand::Redrive(a) => redrive(con, ctx, &args.via, a, now).await,
        DlqCommand::Purge(a) => purge(con, ctx, &args.via, a, now).await,
    }
}

/// A connected `relay.dlq.v1.DeadLetters` client, and where it points (for error messages).
struct Dlq {
    client: DeadLettersClient<AuthChannel>,
    target: Target,
    timeout: Duration,
}

impl Dlq {
    async fn connect(ctx: &Context, via: &str, timeout: Duration) -> anyhow::Result<Self> {
        let target = client::find(&ctx.targets, via)?.clone();
        let opts = ConnectOptions {
            timeout,
            ..ctx.connect.clone()
        };
        let client = DeadLettersClient::new(client::connect(&target, &opts).await?);
        Ok(Self {
            client,
            target,
            timeout,
        })
    }

    /// What a failed call means, in an operator's words.
    fn explain(&self, s: &tonic::Status) -> anyhow::Error {
        RpcError::from_status(&self.target, DLQ_API, self.timeout, s).into()
    }
}

async fn list(
    con: &mut Console,
    ctx: &Context,
    via: &str,
    args: &DlqListArgs,
    now: OffsetDateTime,
) -> anyhow::Result<i32> {
    let req = ListRequest {
        filter: Some(filter(&args.filter, now)?),
        limit: args.limit,
        order: if args.oldest_first {
            Order::OldestFirst
        } else {
            Order::NewestFirst
        }
        .into(),
    };
    let mut d = Dlq::connect(ctx, via, ctx.connect.timeout).await?;
    let resp = d
        .client
        .list(req)
        .await
        .map_err(|s| d.explain(&s))?
        .into_inner();
    if ctx.json {
        con.json(&ListJson::from(&resp))?;
    } else {
        con.print(&render_list(&resp, args.oldest_first))?;
    }
    Ok(0)
}

async fn show(con: &mut Console, ctx: &Context, via: &str, seq: u64) -> anyhow::Result<i32> {
    let mut d = Dlq::connect(ctx, via, ctx.connect.timeout).await?;
    let resp = d
        .client
        .show(ShowRequest { seq })
        .await
        .map_err(|s| d.explain(&s))?
        .into_inner();
    if ctx.json {
        con.json(&ShowJson::from(&resp))?;
    } else {
        con.print(&render_show(&resp))?;
    }
    Ok(0)
}

async fn redrive(
    con: &mut Console,
    ctx: &Context,
    via: &str,
    args: &DlqRedriveArgs,
    now: OffsetDateTime,
) -> anyhow::Result<i32> {
    let selection = selection(&args.seqs, args.all, &args.filter, now)?;
    let mut d = Dlq::connect(ctx, via, ctx.connect.timeout.max(LONG_CALL)).await?;
    let resp = d
        .client
        .redrive(RedriveRequest {
            selection: Some(selection),
            dry_run: args.dry_run,
            limit: if args.all { args.limit } else { 0 },
        })
        .await
        .map_err(|s| d.explain(&s))?
        .into_inner();
    if ctx.json {
        con.json(&RedriveJson::new(&resp, args.dry_run))?;
    } else {
        con.print(&render_redrive(&resp, args.dry_run, args.limit))?;
    }
    Ok(i32::from(resp.refused > 0 || resp.failed > 0))
}

async fn purge(
    con: &mut Console,
    ctx: &Context,
    via: &str,
    args: &DlqPurgeArgs,
    now: OffsetDateTime,
) -> anyhow::Result<i32> {
    let selection = selection(&args.seqs, args.all, &args.filter, now)?;
    if args.all && !args.yes {
        // Say what --yes would delete, so the operator confirms knowingly.
        let mut d = Dlq::connect(ctx, via, ctx.connect.timeout).await?;
        let total = d
            .client
            .list(ListRequest {
                filter: selection.filter.clone(),
                limit: 1,
                order: Order::NewestFirst.into(),
            })
            .await
            .map_err(|s| d.explain(&s))?
            .into_inner()
            .total;
        return Err(UsageError(format!(
            "refusing to purge {} without --yes (nothing was deleted; see `relayctl dlq list` \
             with the same filters)",
            dead_letters(total)
        ))
        .into());
    }
    let mut d = Dlq::connect(ctx, via, ctx.connect.timeout.max(LONG_CALL)).await?;
    let resp = d
        .client
        .purge(PurgeRequest {
            selection: Some(selection),
        })
        .await
        .map_err(|s| d.explain(&s))?
        .into_inner();
    if ctx.json {
        con.json(&PurgeJson::from(&resp))?;
    } else {
        con.print(&render_purge(&resp))?;
    }
    Ok(i32::from(!resp.not_found.is_empty()))
}

/// The request's filter, with relative times resolved against `now`.
pub(crate) fn filter(args: &DlqFilterArgs, now: OffsetDateTime) -> Result<Filter, UsageError> {
    let since = args.since.map(|t| t.resolve(now));
    let until = args.until.map(|t| t.resolve(now));
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        return Err(UsageError(format!(
            "--since ({}) must not be after --until ({})",
            rfc3339(s),
            rfc3339(u)
        )));
    }
    Ok(Filter {
        stage: args.stage.clone().unwrap_or_default(),
        subject: args.subject.clone().unwrap_or_default(),
        since: since.map(rfc3339).unwrap_or_default(),
        until: until.map(rfc3339).unwrap_or_default(),
        reason: args.reason.clone().unwrap_or_default(),
    })
}

/// Sequences, or (with `--all`) every dead letter matching the filters.
pub(crate) fn selection(
    seqs: &[u64],
    all: bool,
    filter_args: &DlqFilterArgs,
    now: OffsetDateTime,
) -> Result<Selection, UsageError> {
    if all {
        return Ok(Selection {
            seqs: vec![],
            filter: Some(filter(filter_args, now)?),
            all: true,
        });
    }
    if !filter_args.is_empty() {
        return Err(UsageError(
            "filters (--stage, --subject, --since, --until, --reason) select dead letters \
             with --all, not with sequences"
                .into(),
        ));
    }
    if seqs.contains(&0) {
        return Err(UsageError("DLQ sequences start at 1".into()));
    }
    Ok(Selection {
        seqs: seqs.to_vec(),
        filter: None,
        all: false,
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    // Formatting fails only for years outside 0..=9999, which no relative time reaches.
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn dead_letters(n: u64) -> String {
    if n == 1 {
        "1 dead letter".into()
    } else {
        format!("{n} dead letters")
    }
}

/// `2026-11-23T15:04:37.123456789Z` → `2026-11-23 15:04:37Z`: to the second, for tables.
fn short_time(t: &str) -> String {
    match t.split_once('.') {
        Some((secs, rest)) => {
            let zone = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{secs}{zone}").replacen('T', " ", 1)
        }
        None => t.replacen('T', " ", 1),
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

/// The `dlq list` table and a line saying how many match.
pub(crate) fn render_list(resp: &ListResponse, oldest_first: bool) -> String {
    if resp.total == 0 {
        return "no dead letters match\n".into();
    }
    let mut table = output::table([
        "seq",
        "time",
        "stage",
        "original subject",
        "tries",
        "reason",
    ]);
    for e in &resp.entries {
        table.add_row(vec![
            e.seq.to_string(),
            short_time(&e.time),
            e.stage.clone(),
            or_dash(&e.original_subject),
            if e.deliveries == 0 {
                "-".into()
            } else {
                e.deliveries.to_string()
            },
            cut(&e.reason, REASON_WIDTH),
        ]);
    }
    let order = if oldest_first {
        "oldest first"
    } else {
        "newest first"
    };
    let shown = resp.entries.len() as u64;
    let footer = if shown < resp.total {
        format!(
            "{shown} of {} ({order}); narrow the filters or raise --limit to see more",
            dead_letters(resp.total)
        )
    } else {
        format!("{} ({order})", dead_letters(resp.total))
    };
    format!("{table}\n{footer}\n")
}

/// `dlq show`: what it is, its headers, its payload (JSON pretty-printed).
pub(crate) fn render_show(resp: &ShowResponse) -> String {
    let e = resp.entry.clone().unwrap_or_default();
    let mut about = comfy_table::Table::new();
    about.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    for (k, v) in [
        ("seq", e.seq.to_string()),
        ("subject", e.subject.clone()),
        ("stage", e.stage.clone()),
        ("original subject", or_dash(&e.original_subject)),
        ("reason", e.reason.clone()),
        (
            "deliveries",
            if e.deliveries == 0 {
                "-".into()
            } else {
                e.deliveries.to_string()
            },
        ),
        ("time", e.time.clone()),
        ("trace id", or_dash(&e.trace_id)),
        ("size", format!("{} bytes", e.size)),
    ] {
        about.add_row(vec![k.to_owned(), v]);
    }
    let mut headers = output::table(["header", "value"]);
    for h in &resp.headers {
        headers.add_row(vec![h.name.clone(), h.value.clone()]);
    }
    let payload = match resp.payload_encoding() {
        PayloadEncoding::Base64 => format!("payload (base64; not UTF-8):\n{}", resp.payload),
        _ => match serde_json::from_str::<serde_json::Value>(&resp.payload) {
            Ok(v) if !resp.payload.trim().is_empty() => format!(
                "payload (JSON):\n{}",
                serde_json::to_string_pretty(&v).unwrap_or_else(|_| resp.payload.clone())
            ),
            _ => format!("payload:\n{}", resp.payload),
        },
    };
    format!("{about}\n{headers}\n{payload}\n")
}

fn outcome_word(r: &RedriveResult) -> &'static str {
    match r.outcome() {
        RedriveOutcome::Redriven if r.duplicate => "redriven (already published)",
        RedriveOutcome::Redriven => "redriven",
        RedriveOutcome::WouldRedrive => "would redrive",
        RedriveOutcome::Refused => "REFUSED",
        RedriveOutcome::Failed => "FAILED",
        RedriveOutcome::Unspecified => "unknown",
    }
}

/// One row per dead letter, then the counts.
pub(crate) fn render_redrive(resp: &RedriveResponse, dry_run: bool, limit: u32) -> String {
    if resp.results.is_empty() {
        return "no dead letters match: nothing to redrive\n".into();
    }
    let mut table = output::table(["seq", "outcome", "stage", "to subject", "detail"]);
    for r in &resp.results {
        let detail = if r.stream_seq > 0 && r.detail.is_empty() {
            format!("{} #{}", r.stream, r.stream_seq)
        } else {
            r.detail.clone()
        };
        table.add_row(vec![
            r.seq.to_string(),
            outcome_word(r).to_owned(),
            or_dash(&r.stage),
            or_dash(&r.subject),
            detail,
        ]);
    }
    let mut out = format!("{table}\n");
    if dry_run {
        out.push_str(&format!(
            "dry run: {} would be redriven, {} refused; nothing was published or deleted\n",
            resp.redriven, resp.refused
        ));
    } else {
        out.push_str(&format!(
            "redriven {}, refused {}, failed {}\n",
            resp.redriven, resp.refused, resp.failed
        ));
    }
    if resp.more {
        out.push_str(&format!(
            "more dead letters match than --limit {limit}: run again to continue\n"
        ));
    }
    out
}

pub(crate) fn render_purge(resp: &PurgeResponse) -> String {
    let mut out = format!("purged {}\n", dead_letters(resp.purged));
    if !resp.not_found.is_empty() {
        let seqs: Vec<String> = resp.not_found.iter().map(u64::to_string).collect();
        out.push_str(&format!(
            "not in the DLQ (already redriven or purged?): {}\n",
            seqs.join(", ")
        ));
    }
    out
}

/// `Entry` as JSON (field names as in the proto).
#[derive(Debug, Serialize)]
pub(crate) struct EntryJson<'a> {
    seq: u64,
    subject: &'a str,
    stage: &'a str,
    original_subject: &'a str,
    reason: &'a str,
    deliveries: u32,
    time: &'a str,
    size: u64,
    trace_id: &'a str,
}

impl<'a> From<&'a Entry> for EntryJson<'a> {
    fn from(e: &'a Entry) -> Self {
        Self {
            seq: e.seq,
            subject: &e.subject,
            stage: &e.stage,
            original_subject: &e.original_subject,
            reason: &e.reason,
            deliveries: e.deliveries,
            time: &e.time,
            size: e.size,
            trace_id: &e.trace_id,
        }
    }
}

#[derive(Debug, Serialize)]
struct ListJson<'a> {
    entries: Vec<EntryJson<'a>>,
    total: u64,
}

impl<'a> From<&'a ListResponse> for ListJson<'a> {
    fn from(r: &'a ListResponse) -> Self {
        Self {
            entries: r.entries.iter().map(EntryJson::from).collect(),
            total: r.total,
        }
    }
}

#[derive(Debug, Serialize)]
struct HeaderJson<'a> {
    name: &'a str,
    value: &'a str,
}

/// `dlq show --json`: the entry's fields, its headers, the payload and its encoding.
#[derive(Debug, Serialize)]
struct ShowJson<'a> {
    #[serde(flatten)]
    entry: Option<EntryJson<'a>>,
    headers: Vec<HeaderJson<'a>>,
    payload: &'a str,
    payload_encoding: &'static str,
}

impl<'a> From<&'a ShowResponse> for ShowJson<'a> {
    fn from(r: &'a ShowResponse) -> Self {
        Self {
            entry: r.entry.as_ref().map(EntryJson::from),
            headers: r
                .headers
                .iter()
                .map(|h| HeaderJson {
                    name: &h.name,
                    value: &h.value,
                })
                .collect(),
            payload: &r.payload,
            payload_encoding: match r.payload_encoding() {
                PayloadEncoding::Base64 => "base64",
                _ => "utf8",
            },
        }
    }
}

#[derive(Debug, Serialize)]
struct ResultJson<'a> {
    seq: u64,
    outcome: &'static str,
    stage: &'a str,
    subject: &'a str,
    detail: &'a str,
    stream: &'a str,
    stream_seq: u64,
    duplicate: bool,
}

#[derive(Debug, Serialize)]
struct RedriveJson<'a> {
    dry_run: bool,
    redriven: u64,
    refused: u64,
    failed: u64,
    more: bool,
    results: Vec<ResultJson<'a>>,
}

impl<'a> RedriveJson<'a> {
    fn new(r: &'a RedriveResponse, dry_run: bool) -> Self {
        Self {
            dry_run,
            redriven: r.redriven,
            refused: r.refused,
            failed: r.failed,
            more: r.more,
            results: r
                .results
                .iter()
                .map(|x| ResultJson {
                    seq: x.seq,
                    outcome: match x.outcome() {
                        RedriveOutcome::Redriven => "redriven",
                        RedriveOutcome::WouldRedrive => "would_redrive",
                        RedriveOutcome::Refused => "refused",
                        RedriveOutcome::Failed => "failed",
                        RedriveOutcome::Unspecified => "unspecified",
                    },
                    stage: &x.stage,
                    subject: &x.subject,
                    detail: &x.detail,
                    stream: &x.stream,
                    stream_seq: x.stream_seq,
                    duplicate: x.duplicate,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct PurgeJson<'a> {
    purged: u64,
    not_found: &'a [u64],
}

impl<'a> From<&'a PurgeResponse> for PurgeJson<'a> {
    fn from(r: &'a PurgeResponse) -> Self {
        Self {
            purged: r.purged,
            not_found: &r.not_found,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use relay_contracts::dlq_admin::Header;

    use super::*;
    use crate::cli::{Cli, Command};

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-11-22T12:00:00Z", &Rfc3339).unwrap()
    }

    fn dlq(args: &[&str]) -> DlqCommand {
        let all = ["relayctl", "dlq"].iter().chain(args).copied();
        match Cli::try_parse_from(all).unwrap().command {
            Command::Dlq(d) => d.command,
            other => panic!("not dlq: {other:?}"),
        }
    }

    fn entry(seq: u64, stage: &str, original: &str, reason: &str) -> Entry {
        Entry {
            seq,
            subject: format!("dlq.{stage}.{original}"),
            stage: stage.into(),
            original_subject: original.into(),
            reason: reason.into(),
            deliveries: 3,
            time: "2026-11-22T11:59:58.123456789Z".into(),
            size: 120,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        }
    }

    #[test]
    fn filters_resolve_relative_times() {
        let DlqCommand::List(l) = dlq(&[
            "list", "--since", "7d", "--until", "2h", "--stage", "writer", "--reason", "422",
        ]) else {
            panic!()
        };
        let f = filter(&l.filter, now()).unwrap();
        assert_eq!(f.since, "2026-11-15T12:00:00Z");
        assert_eq!(f.until, "2026-11-22T10:00:00Z");
        assert_eq!((f.stage.as_str(), f.reason.as_str()), ("writer", "422"));
        assert_eq!(f.subject, "");

        let DlqCommand::List(l) = dlq(&["list", "--since", "2h", "--until", "7d"]) else {
            panic!()
        };
        let e = filter(&l.filter, now()).unwrap_err();
        assert!(e.to_string().contains("must not be after"), "{e}");
    }

    #[test]
    fn selections() {
        let DlqCommand::Redrive(r) = dlq(&["redrive", "4", "2"]) else {
            panic!()
        };
        let s = selection(&r.seqs, r.all, &r.filter, now()).unwrap();
        assert_eq!((s.seqs, s.filter, s.all), (vec![4, 2], None, false));

        let DlqCommand::Purge(p) = dlq(&["purge", "--all", "--stage", "mapper"]) else {
            panic!()
        };
        let s = selection(&p.seqs, p.all, &p.filter, now()).unwrap();
        assert!(s.all && s.seqs.is_empty());
        assert_eq!(s.filter.unwrap().stage, "mapper");

        let DlqCommand::Purge(p) = dlq(&["purge", "3", "--stage", "mapper"]) else {
            panic!()
        };
        let e = selection(&p.seqs, p.all, &p.filter, now()).unwrap_err();
        assert!(e.to_string().contains("with --all"), "{e}");
        let DlqCommand::Purge(p) = dlq(&["purge", "0"]) else {
            panic!()
        };
        assert!(selection(&p.seqs, p.all, &p.filter, now()).is_err());
    }

    #[test]
    fn list_table() {
        let resp = ListResponse {
            entries: vec![
                entry(7, "writer", "cmd.3.loc-1", &"x".repeat(200)),
                Entry {
                    original_subject: String::new(),
                    deliveries: 0,
                    ..entry(5, "ingest", "gumroad.demo", "malformed body")
                },
            ],
            total: 9,
        };
        let out = render_list(&resp, false);
        let cells = output::row_cells(&out, "cmd.3.loc-1");
        assert_eq!(
            cells[..5],
            ["7", "2026-11-22 11:59:58Z", "writer", "cmd.3.loc-1", "3"]
        );
        assert_eq!(cells[5].chars().count(), REASON_WIDTH);
        assert!(cells[5].ends_with('…'));
        assert_eq!(
            output::row_cells(&out, "malformed body"),
            [
                "5",
                "2026-11-22 11:59:58Z",
                "ingest",
                "-",
                "-",
                "malformed body"
            ]
        );
        assert!(
            out.ends_with(
                "2 of 9 dead letters (newest first); narrow the filters or raise --limit to see more\n"
            ),
            "{out}"
        );
        let all = ListResponse {
            total: 2,
            ..resp.clone()
        };
        assert!(render_list(&all, true).ends_with("\n2 dead letters (oldest first)\n"));
        assert_eq!(
            render_list(&ListResponse::default(), false),
            "no dead letters match\n"
        );
    }

    #[test]
    fn show_output() {
        let resp = ShowResponse {
            entry: Some(entry(7, "writer", "cmd.3.loc-1", "GHL answered 422")),
            headers: vec![Header {
                name: "traceparent".into(),
                value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            }],
            payload: r#"{"plan":"p1"}"#.into(),
            payload_encoding: PayloadEncoding::Utf8.into(),
        };
        let out = render_show(&resp);
        assert_eq!(
            output::row_cells(&out, "original subject"),
            ["original subject", "cmd.3.loc-1"]
        );
        assert_eq!(
            output::row_cells(&out, "trace id"),
            ["trace id", "4bf92f3577b34da6a3ce929d0e0e4736"]
        );
        assert!(
            out.ends_with("payload (JSON):\n{\n  \"plan\": \"p1\"\n}\n"),
            "{out}"
        );
        let json = serde_json::to_value(ShowJson::from(&resp)).unwrap();
        assert_eq!(json["seq"], 7);
        assert_eq!(json["payload_encoding"], "utf8");
        assert_eq!(json["headers"][0]["name"], "traceparent");

        let binary = ShowResponse {
            payload: "//4AgA==".into(),
            payload_encoding: PayloadEncoding::Base64.into(),
            ..resp
        };
        assert!(render_show(&binary).ends_with("payload (base64; not UTF-8):\n//4AgA==\n"));
    }

    #[test]
    fn redrive_table_and_counts() {
        let resp = RedriveResponse {
            results: vec![
                RedriveResult {
                    seq: 3,
                    outcome: RedriveOutcome::Redriven.into(),
                    subject: "cmd.3.loc-1".into(),
                    stage: "writer".into(),
                    stream: "COMMANDS".into(),
                    stream_seq: 812,
                    ..Default::default()
                },
                RedriveResult {
                    seq: 5,
                    outcome: RedriveOutcome::Refused.into(),
                    stage: "ingest".into(),
                    detail: "nothing to republish".into(),
                    ..Default::default()
                },
            ],
            redriven: 1,
            refused: 1,
            failed: 0,
            more: true,
        };
        let out = render_redrive(&resp, false, 100);
        assert_eq!(
            output::row_cells(&out, "COMMANDS"),
            ["3", "redriven", "writer", "cmd.3.loc-1", "COMMANDS #812"]
        );
        assert_eq!(
            output::row_cells(&out, "nothing to republish"),
            ["5", "REFUSED", "ingest", "-", "nothing to republish"]
        );
        assert!(out.contains("\nredriven 1, refused 1, failed 0\n"), "{out}");
        assert!(out.ends_with("more dead letters match than --limit 100: run again to continue\n"));
        let json = serde_json::to_value(RedriveJson::new(&resp, false)).unwrap();
        assert_eq!(json["results"][1]["outcome"], "refused");
        assert_eq!(json["redriven"], 1);
        assert_eq!(
            render_redrive(&RedriveResponse::default(), true, 100),
            "no dead letters match: nothing to redrive\n"
        );
    }

    #[test]
    fn purge_output() {
        let resp = PurgeResponse {
            purged: 1,
            not_found: vec![42, 43],
        };
        assert_eq!(
            render_purge(&resp),
            "purged 1 dead letter\nnot in the DLQ (already redriven or purged?): 42, 43\n"
        );
        let json = serde_json::to_value(PurgeJson::from(&resp)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"purged": 1, "not_found": [42, 43]})
        );
    }

    #[test]
    fn times_to_the_second() {
        assert_eq!(
            short_time("2026-11-22T11:59:58.123Z"),
            "2026-11-22 11:59:58Z"
        );
        assert_eq!(short_time("2026-11-22T11:59:58Z"), "2026-11-22 11:59:58Z");
        assert_eq!(
            short_time("2026-11-22T11:59:58.5+01:00"),
            "2026-11-22 11:59:58+01:00"
        );
    }
}
