//! `replay`: re-run EVENTS history through the current rules, with live progress.

use std::time::{Duration, Instant};

use indicatif::ProgressStyle;
use indicatif::{HumanCount, HumanDuration, HumanFloatCount, ProgressBar, ProgressDrawTarget};
use relay_contracts::mapper_admin::{ReplayProgress, ReplayRequest};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::ReplayArgs;
use crate::output::{self, Console};
use crate::{Context, UsageError};

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(3);

pub(crate) async fn run(
    con: &mut Console,
    ctx: &Context,
    args: &ReplayArgs,
) -> anyhow::Result<i32> {
    let req = request(args, OffsetDateTime::now_utc())?;
    let dry_run = req.dry_run;
    let mut m = ctx.mapper().await?;
    let mut stream = m
        .client
        .replay(req)
        .await
        .map_err(|s| m.explain(&s))?
        .into_inner();
    // The bar draws on the terminal; plain lines would only clutter a `--json` pipeline's log.
    let mut view = if con.err_tty {
        View::bar()
    } else if ctx.json {
        View::Quiet
    } else {
        View::plain()
    };
    let mut last: Option<ReplayProgress> = None;
    let outcome = loop {
        match stream.message().await {
            Ok(Some(p)) => {
                view.update(con, &p)?;
                let finished = p.finished;
                last = Some(p);
                if finished {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(s) => break Err(s),
        }
    };
    view.finish();
    if let Err(s) = outcome {
        let err = m.explain(&s);
        return Err(match &last {
            Some(p) => err.context(format!(
                "replay {} broke off after {}/{} events",
                p.replay_id, p.done, p.total
            )),
            None => err,
        });
    }
    let Some(last) = last else {
        anyhow::bail!(
            "{}: the replay ended without reporting any progress",
            m.name()
        );
    };
    if ctx.json {
        con.json(&ProgressJson::from(&last))?;
    } else {
        con.print(&render_summary(&last, dry_run))?;
    }
    if !last.error.is_empty() {
        anyhow::bail!("replay {} stopped: {}", last.replay_id, last.error);
    }
    if !last.finished {
        anyhow::bail!(
            "replay {} ended before finishing ({}/{} events)",
            last.replay_id,
            last.done,
            last.total
        );
    }
    Ok(0)
}

/// The request for these arguments, with relative times resolved against `now`.
pub(crate) fn request(args: &ReplayArgs, now: OffsetDateTime) -> Result<ReplayRequest, UsageError> {
    let since = args.since.map(|t| t.resolve(now));
    let until = args.until.map(|t| t.resolve(now));
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(UsageError(format!(
            "--since ({}) must be before --until ({})",
            rfc3339(s),
            rfc3339(u)
        )));
    }
    let (from_seq, to_seq) = (args.from_seq.unwrap_or(0), args.to_seq.unwrap_or(0));
    if to_seq != 0 && from_seq > to_seq {
        return Err(UsageError(format!(
            "--from-seq ({from_seq}) must not be after --to-seq ({to_seq})"
        )));
    }
    if args.subject.trim().is_empty() {
        return Err(UsageError("--subject must not be empty".into()));
    }
    Ok(ReplayRequest {
        subject: args.subject.clone(),
        since: since.map(rfc3339).unwrap_or_default(),
        until: until.map(rfc3339).unwrap_or_default(),
        from_seq,
        to_seq,
        connection: args.connection.clone().unwrap_or_default(),
        dry_run: args.dry_run,
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    // Formatting fails only for years outside 0..=9999, which no relative time reaches.
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// How progress is shown while the replay runs.
enum View {
    /// An indicatif bar on the terminal (stderr).
    Bar(ProgressBar),
    /// A line on stderr every [`PLAIN_EVERY`].
    Plain {
        started: Instant,
        last_line: Option<Instant>,
    },
    Quiet,
}

impl View {
    fn bar() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} events · {per_sec:0} · eta {eta} · {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        View::Bar(bar)
    }

    fn plain() -> Self {
        View::Plain {
            started: Instant::now(),
            last_line: None,
        }
    }

    fn update(&mut self, con: &mut Console, p: &ReplayProgress) -> std::io::Result<()> {
        match self {
            View::Bar(bar) => {
                bar.set_length(p.total);
                bar.set_position(p.done);
                bar.set_message(counts(p));
            }
            View::Plain { started, last_line } => {
                let now = Instant::now();
                match last_line {
                    None => {
                        con.eprint(&format!(
                            "replay {}: {} events in range{}",
                            p.replay_id,
                            HumanCount(p.total),
                            if p.done > 0 {
                                format!(", {} done", HumanCount(p.done))
                            } else {
                                String::new()
                            }
                        ))?;
                        *last_line = Some(now);
                    }
                    Some(at) if now.duration_since(*at) >= PLAIN_EVERY && !p.finished => {
                        con.eprint(&progress_line(p, now.duration_since(*started)))?;
                        *last_line = Some(now);
                    }
                    Some(_) => {}
                }
            }
            View::Quiet => {}
        }
        Ok(())
    }

    fn finish(&self) {
        if let View::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn counts(p: &ReplayProgress) -> String {
    format!(
        "planned {} · unmatched {} · failed {}",
        HumanCount(p.planned),
        HumanCount(p.unmatched),
        HumanCount(p.failed)
    )
}

/// A progress line for logs: `replay r1: 2,500/10,000 events (25%) · 500/s · eta 15s · …`.
pub(crate) fn progress_line(p: &ReplayProgress, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        p.done as f64 / secs
    } else {
        0.0
    };
    let pct = p
        .done
        .min(p.total)
        .saturating_mul(100)
        .checked_div(p.total)
        .unwrap_or(100);
    let eta = if rate > 0.0 {
        format!(
            "{:#}",
            HumanDuration(Duration::from_secs_f64(
                p.total.saturating_sub(p.done) as f64 / rate
            ))
        )
    } else {
        "?".into()
    };
    format!(
        "replay {}: {}/{} events ({pct}%) · {:.0}/s · eta {eta} · {}",
        p.replay_id,
        HumanCount(p.done),
        HumanCount(p.total),
        HumanFloatCount(rate),
        counts(p)
    )
}

/// The final table: what the replay did.
pub(crate) fn render_summary(p: &ReplayProgress, dry_run: bool) -> String {
    let mut table = output::table([
        "done",
        "planned",
        "unmatched",
        "failed",
        "plans",
        "duplicates",
        "replay id",
    ]);
    table.add_row(vec![
        format!("{}/{}", p.done, p.total),
        p.planned.to_string(),
        p.unmatched.to_string(),
        p.failed.to_string(),
        p.plans.to_string(),
        p.duplicates.to_string(),
        p.replay_id.clone(),
    ]);
    let mut out = table.to_string();
    out.push('\n');
    if dry_run {
        out.push_str("dry run: nothing was published (plans counts what would have been)\n");
    }
    out
}

/// `ReplayProgress` as JSON (field names as in the proto; `error` null when none).
#[derive(Debug, Serialize)]
pub(crate) struct ProgressJson<'a> {
    done: u64,
    total: u64,
    planned: u64,
    unmatched: u64,
    failed: u64,
    plans: u64,
    duplicates: u64,
    finished: bool,
    error: Option<&'a str>,
    replay_id: &'a str,
}

impl<'a> From<&'a ReplayProgress> for ProgressJson<'a> {
    fn from(p: &'a ReplayProgress) -> Self {
        Self {
            done: p.done,
            total: p.total,
            planned: p.planned,
            unmatched: p.unmatched,
            failed: p.failed,
            plans: p.plans,
            duplicates: p.duplicates,
            finished: p.finished,
            error: (!p.error.is_empty()).then_some(p.error.as_str()),
            replay_id: &p.replay_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(extra: &[&str]) -> ReplayArgs {
        let mut all = vec!["relayctl", "replay", "--subject", "evt.gumroad.>"];
        all.extend_from_slice(extra);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Replay(r) => r,
            other => panic!("not a replay: {other:?}"),
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-11-22T12:00:00Z", &Rfc3339).unwrap()
    }

    fn progress() -> ReplayProgress {
        ReplayProgress {
            done: 2500,
            total: 10_000,
            planned: 2000,
            unmatched: 450,
            failed: 50,
            plans: 2100,
            duplicates: 3,
            finished: false,
            error: String::new(),
            replay_id: "rpl_01JDX".into(),
        }
    }

    #[test]
    fn relative_times_become_rfc3339() {
        let req = request(&args(&["--since", "7d", "--until", "2h"]), now()).unwrap();
        assert_eq!(req.since, "2026-11-15T12:00:00Z");
        assert_eq!(req.until, "2026-11-22T10:00:00Z");
        assert_eq!((req.from_seq, req.to_seq), (0, 0));
        assert_eq!(req.subject, "evt.gumroad.>");
        assert!(!req.dry_run);
    }

    #[test]
    fn seq_range_and_filters() {
        let req = request(
            &args(&[
                "--from-seq",
                "100",
                "--to-seq",
                "200",
                "--connection",
                "demo",
                "--dry-run",
            ]),
            now(),
        )
        .unwrap();
        assert_eq!((req.from_seq, req.to_seq), (100, 200));
        assert_eq!((req.since.as_str(), req.until.as_str()), ("", ""));
        assert_eq!(req.connection, "demo");
        assert!(req.dry_run);
        // Either end may be open.
        assert_eq!(
            request(&args(&["--from-seq", "5"]), now()).unwrap().to_seq,
            0
        );
    }

    #[test]
    fn inverted_ranges_are_usage_errors() {
        let e = request(&args(&["--from-seq", "9", "--to-seq", "3"]), now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--from-seq (9) must not be after --to-seq (3)"
        );
        let e = request(&args(&["--since", "2h", "--until", "7d"]), now()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--since (2026-11-22T10:00:00Z) must be before --until (2026-11-15T12:00:00Z)"
        );
        let e = request(&args(&["--since", "2h", "--until", "2h"]), now()).unwrap_err();
        assert!(e.to_string().contains("must be before"));
    }

    #[test]
    fn plain_progress_line() {
        assert_eq!(
            progress_line(&progress(), Duration::from_secs(5)),
            "replay rpl_01JDX: 2,500/10,000 events (25%) · 500/s · eta 15s · planned 2,000 · unmatched 450 · failed 50"
        );
        let mut p = progress();
        p.done = 0;
        assert!(progress_line(&p, Duration::ZERO).contains("(0%) · 0/s · eta ?"));
        p.total = 0;
        assert!(progress_line(&p, Duration::ZERO).contains("0/0 events (100%)"));
    }

    #[test]
    fn summary_table() {
        let mut p = progress();
        p.done = 10_000;
        p.finished = true;
        let out = render_summary(&p, false);
        for header in [
            "done",
            "planned",
            "unmatched",
            "failed",
            "plans",
            "duplicates",
            "replay id",
        ] {
            assert!(out.contains(header), "{out}");
        }
        let cells = output::row_cells(&out, "rpl_01JDX");
        assert_eq!(
            cells,
            ["10000/10000", "2000", "450", "50", "2100", "3", "rpl_01JDX"]
        );
        assert!(!out.contains("dry run"));
        assert!(
            render_summary(&p, true)
                .ends_with("dry run: nothing was published (plans counts what would have been)\n")
        );
    }

    #[test]
    fn final_progress_as_json() {
        let mut p = progress();
        let json = serde_json::to_value(ProgressJson::from(&p)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "done": 2500, "total": 10000, "planned": 2000, "unmatched": 450, "failed": 50,
                "plans": 2100, "duplicates": 3, "finished": false, "error": null,
                "replay_id": "rpl_01JDX"
            })
        );
        p.error = "EVENTS: stream not found".into();
        let json = serde_json::to_value(ProgressJson::from(&p)).unwrap();
        assert_eq!(json["error"], "EVENTS: stream not found");
    }
}
