//! The command line: clap definitions and the value parsers they use.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const GLOBAL: &str = "Global options";

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
        help_heading = GLOBAL,
        env = "RELAY_SERVICES",
        value_delimiter = ','
    )]
    pub services: Vec<String>,
    /// Admin bearer token.
    #[arg(
        long,
        env = "RELAY_ADMIN_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = GLOBAL
    )]
    pub token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Per-call timeout (a replay's progress stream is not limited by it).
    #[arg(
        long,
        default_value = "3s",
        value_parser = parse_duration,
        global = true,
        help_heading = GLOBAL
    )]
    pub timeout: Duration,
    /// When to colour output (diffs).
    #[arg(
        long,
        value_enum,
        default_value_t = ColorChoice::Auto,
        global = true,
        help_heading = GLOBAL
    )]
    pub color: ColorChoice,
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
    /// The mapper's connections: storefront accounts, their GHL location and rules.
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Show the plans an event would produce, without publishing anything.
    Preview(PreviewArgs),
    /// Re-run stored events through the current rules (backfills).
    Replay(ReplayArgs),
    /// Dead letters: messages a stage gave up on. List, inspect, redrive, purge.
    Dlq(DlqArgs),
    /// The GHL locations the writer drives: partition, credentials, request budget; resume a
    /// location its credentials paused.
    Locations(LocationsArgs),
    /// Each location's request budget: limits now and configured, holds, 429s (the budget
    /// columns of `locations list`).
    Limits(LimitsArgs),
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Validate a connections file, show what changes, and store it (all or nothing).
    Apply {
        /// The connections YAML file (`connections: [...]`).
        #[arg(
            short = 'f',
            long = "file",
            visible_alias = "filename",
            value_name = "FILE"
        )]
        file: PathBuf,
        /// Validate and show the changes without storing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// One table of the stored connections.
    List,
    /// Print a stored connection's document (YAML; `--json` for the whole record).
    Get {
        /// `<source>.<name>`, e.g. `gumroad.demo`.
        key: String,
    },
    /// Remove a stored connection.
    Delete {
        /// `<source>.<name>`, e.g. `gumroad.demo`.
        key: String,
    },
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The connection whose rules apply, as `<source>.<name>`.
    #[arg(long, required_unless_present = "rules", value_name = "KEY")]
    pub connection: Option<String>,
    /// A StorefrontEvent (JSON), e.g. one copied from the EVENTS stream.
    #[arg(long, value_name = "FILE")]
    pub event: PathBuf,
    /// Preview against this connections file instead of the stored connection.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// EVENTS subject filter, e.g. `evt.gumroad.>`.
    #[arg(long)]
    pub subject: String,
    /// Oldest event to replay: RFC 3339, or a duration ago (`30m`, `2h`, `7d`).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub since: Option<TimeArg>,
    /// Newest event to replay: RFC 3339, or a duration ago (`30m`, `2h`, `7d`).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub until: Option<TimeArg>,
    /// First EVENTS stream sequence to replay (instead of times).
    #[arg(long, value_name = "N", conflicts_with_all = ["since", "until"])]
    pub from_seq: Option<u64>,
    /// Last EVENTS stream sequence to replay, inclusive (instead of times).
    #[arg(long, value_name = "M", conflicts_with_all = ["since", "until"])]
    pub to_seq: Option<u64>,
    /// Only this connection's events (its `<name>`).
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
    /// Map and count only; publish nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DlqArgs {
    /// The service whose admin port answers (every worker hosts the DLQ API: mapper, writer).
    #[arg(long, value_name = "NAME", default_value = "writer", global = true)]
    pub via: String,
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead letters matching the filters, newest first, and how many match.
    List(DlqListArgs),
    /// One dead letter: reason, original subject, trace id, every header and the payload.
    Show {
        /// Its DLQ sequence (see `relayctl dlq list`).
        seq: u64,
    },
    /// Republish dead letters to their original subject and remove them from the DLQ.
    ///
    /// The original headers (trace context included) go with them. Redriving the same dead
    /// letter again never publishes it twice. Storefront deliveries that never became events
    /// (stage `ingest`) are refused: fix the connection and have the storefront resend.
    /// Waits up to 60 s (or --timeout, if longer) for the service to finish.
    Redrive(DlqRedriveArgs),
    /// Delete dead letters for good (`--all` asks for `--yes`).
    Purge(DlqPurgeArgs),
}

/// Which dead letters: every filter given must match.
#[derive(Clone, Debug, Default, Args)]
pub struct DlqFilterArgs {
    /// Only this stage's dead letters (`mapper`, `writer`, `ingest`).
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// DLQ subject filter, with or without the leading `dlq.`: `writer.cmd.*.loc-1`,
    /// `mapper.evt.gumroad.>`.
    #[arg(long, value_name = "FILTER")]
    pub subject: Option<String>,
    /// Dead-lettered at or after: RFC 3339, or a duration ago (`30m`, `2h`, `7d`).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub since: Option<TimeArg>,
    /// Dead-lettered at or before: RFC 3339, or a duration ago (`30m`, `2h`, `7d`).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub until: Option<TimeArg>,
    /// Only dead letters whose reason contains this text (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

impl DlqFilterArgs {
    pub fn is_empty(&self) -> bool {
        self.stage.is_none()
            && self.subject.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.reason.is_none()
    }
}

#[derive(Debug, Args)]
pub struct DlqListArgs {
    #[command(flatten)]
    pub filter: DlqFilterArgs,
    /// How many to show (the total matching is always counted).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// Oldest first instead of newest first.
    #[arg(long)]
    pub oldest_first: bool,
}

#[derive(Debug, Args)]
pub struct DlqRedriveArgs {
    /// DLQ sequences (see `relayctl dlq list`).
    #[arg(
        value_name = "SEQ",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub seqs: Vec<u64>,
    /// Every dead letter matching the filters, oldest first (all of them without filters).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub filter: DlqFilterArgs,
    /// With --all: how many to redrive in this run (run again for the rest).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// Check and report what would be redriven; publish and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DlqPurgeArgs {
    /// DLQ sequences (see `relayctl dlq list`).
    #[arg(
        value_name = "SEQ",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub seqs: Vec<u64>,
    /// Every dead letter matching the filters (all of them without filters).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub filter: DlqFilterArgs,
    /// Confirm a purge with --all (without it, says how many would be deleted).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct LocationsArgs {
    /// The writer replica whose admin port answers (credentials and budgets are per replica).
    #[arg(long, value_name = "NAME", default_value = "writer", global = true)]
    pub via: String,
    #[command(subcommand)]
    pub command: LocationsCommand,
}

#[derive(Debug, Subcommand)]
pub enum LocationsCommand {
    /// One row per location: partition, whether this replica drives it, credentials (paused
    /// and why), request budget.
    List {
        /// Only this location.
        #[arg(long, value_name = "ID")]
        location: Option<String>,
    },
    /// The location's credentials are fixed: try them now, and let its waiting plans go on.
    ///
    /// OAuth refreshes the token; a private integration token is checked with one GHL request.
    /// Fails (exit 1), leaving the location paused, when GHL still refuses them. Waits up to
    /// 60 s (or --timeout, if longer).
    Resume {
        /// The location id (see `relayctl locations list`).
        location: String,
    },
}

#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// The writer replica whose admin port answers (budgets are per replica).
    #[arg(long, value_name = "NAME", default_value = "writer")]
    pub via: String,
    /// Only this location.
    #[arg(long, value_name = "ID")]
    pub location: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal.
    #[default]
    Auto,
    /// Colour even when piped.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    pub(crate) fn enabled(self, is_tty: bool) -> bool {
        match self {
            ColorChoice::Auto => is_tty,
            ColorChoice::Always => true,
            ColorChoice::Never => false,
        }
    }
}

/// A point in time on the command line: absolute, or relative to when the command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeArg {
    At(OffsetDateTime),
    Ago(Duration),
}

impl TimeArg {
    pub fn resolve(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            TimeArg::At(t) => t,
            TimeArg::Ago(d) => now - d,
        }
    }
}

/// `--timeout`: `250ms`, `3s` (the default unit) or `1m`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration unit in {s:?} (use ms, s or m)")),
    }
}

/// `--since`/`--until`: RFC 3339 (`2026-11-20T08:00:00Z`) or a duration ago (`90s`, `30m`,
/// `2h`, `7d`, `2w`).
pub(crate) fn parse_time(s: &str) -> Result<TimeArg, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(TimeArg::At(t));
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "{s:?} is neither an RFC 3339 time (2026-11-20T08:00:00Z) nor a duration ago \
                 (30m, 2h, 7d)"
            ));
        }
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 30m, 2h, 7d)"))?;
    n.checked_mul(unit_secs)
        .map(|secs| TimeArg::Ago(Duration::from_secs(secs)))
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;

    fn datetime(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).unwrap()
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("relayctl").chain(args.iter().copied()))
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn relative_times() {
        assert_eq!(
            parse_time("2h").unwrap(),
            TimeArg::Ago(Duration::from_secs(7200))
        );
        assert_eq!(
            parse_time("7d").unwrap(),
            TimeArg::Ago(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            parse_time("30m").unwrap(),
            TimeArg::Ago(Duration::from_secs(1800))
        );
        assert_eq!(
            parse_time("1w").unwrap(),
            TimeArg::Ago(Duration::from_secs(604_800))
        );
        let now = datetime("2026-11-22T12:00:00Z");
        assert_eq!(
            parse_time("2h").unwrap().resolve(now),
            datetime("2026-11-22T10:00:00Z")
        );
        assert_eq!(
            parse_time("7d").unwrap().resolve(now),
            datetime("2026-11-15T12:00:00Z")
        );
    }

    #[test]
    fn absolute_times() {
        let now = datetime("2026-11-22T12:00:00Z");
        assert_eq!(
            parse_time("2026-11-20T08:00:00Z").unwrap().resolve(now),
            datetime("2026-11-20T08:00:00Z")
        );
        assert_eq!(
            parse_time("2026-11-20T08:00:00+01:00")
                .unwrap()
                .resolve(now),
            datetime("2026-11-20T07:00:00Z")
        );
    }

    #[test]
    fn bad_times() {
        for s in [
            "",
            "h",
            "2",
            "2y",
            "-2h",
            "2026-11-20",
            "yesterday",
            "99999999999999999w",
        ] {
            assert!(parse_time(s).is_err(), "{s:?} should not parse");
        }
        let err = parse(&["replay", "--subject", "evt.>", "--since", "soon"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
    }

    #[test]
    fn replay_args() {
        let cli = parse(&[
            "replay",
            "--subject",
            "evt.gumroad.>",
            "--since",
            "2h",
            "--connection",
            "demo",
            "--dry-run",
        ])
        .unwrap();
        let Command::Replay(r) = cli.command else {
            panic!("not a replay: {:?}", cli.command)
        };
        assert_eq!(r.subject, "evt.gumroad.>");
        assert_eq!(r.since, Some(TimeArg::Ago(Duration::from_secs(7200))));
        assert_eq!(r.until, None);
        assert_eq!(r.connection.as_deref(), Some("demo"));
        assert!(r.dry_run);

        let cli = parse(&[
            "replay",
            "--subject",
            "evt.>",
            "--from-seq",
            "10",
            "--to-seq",
            "20",
        ])
        .unwrap();
        let Command::Replay(r) = cli.command else {
            panic!("not a replay")
        };
        assert_eq!((r.from_seq, r.to_seq), (Some(10), Some(20)));
    }

    #[test]
    fn seq_ranges_conflict_with_times() {
        for args in [
            &["--from-seq", "1", "--since", "2h"][..],
            &["--to-seq", "9", "--until", "1h"],
            &[
                "--from-seq",
                "1",
                "--to-seq",
                "9",
                "--until",
                "2026-11-20T08:00:00Z",
            ],
        ] {
            let mut all = vec!["replay", "--subject", "evt.>"];
            all.extend_from_slice(args);
            let err = parse(&all).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
        }
    }

    #[test]
    fn replay_needs_a_subject() {
        let err = parse(&["replay", "--since", "2h"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn apply_needs_a_file() {
        let err = parse(&["connections", "apply"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--file"), "{err}");

        let cli = parse(&["connections", "apply", "-f", "c.yaml", "--dry-run"]).unwrap();
        let Command::Connections(ConnectionsCommand::Apply { file, dry_run }) = cli.command else {
            panic!("not an apply")
        };
        assert_eq!(file, PathBuf::from("c.yaml"));
        assert!(dry_run);
        assert!(parse(&["connections", "apply", "--filename", "c.yaml"]).is_ok());
    }

    #[test]
    fn preview_needs_a_connection_unless_rules_are_given() {
        let err = parse(&["preview", "--event", "e.json"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(parse(&["preview", "--event", "e.json", "--rules", "c.yaml"]).is_ok());
        assert!(
            parse(&[
                "preview",
                "--connection",
                "gumroad.demo",
                "--event",
                "e.json"
            ])
            .is_ok()
        );
        let err = parse(&["preview", "--connection", "gumroad.demo"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn global_flags_after_the_subcommand() {
        let cli = parse(&[
            "connections",
            "list",
            "--json",
            "--service",
            "mapper=http://127.0.0.1:1",
            "--color",
            "never",
        ])
        .unwrap();
        assert!(cli.json);
        assert_eq!(cli.services, ["mapper=http://127.0.0.1:1"]);
        assert_eq!(cli.color, ColorChoice::Never);
    }

    #[test]
    fn completions_shells() {
        assert!(parse(&["completions", "bash"]).is_ok());
        assert!(parse(&["completions", "zsh"]).is_ok());
        assert!(parse(&["completions", "tcsh"]).is_err());
    }

    #[test]
    fn dlq_args() {
        let cli = parse(&[
            "dlq", "list", "--stage", "writer", "--since", "2h", "--limit", "5",
        ])
        .unwrap();
        let Command::Dlq(DlqArgs {
            via,
            command: DlqCommand::List(l),
        }) = cli.command
        else {
            panic!("not a dlq list")
        };
        assert_eq!(via, "writer");
        assert_eq!(l.filter.stage.as_deref(), Some("writer"));
        assert_eq!(
            l.filter.since,
            Some(TimeArg::Ago(Duration::from_secs(7200)))
        );
        assert_eq!(l.limit, 5);
        assert!(!l.oldest_first);

        let cli = parse(&["dlq", "redrive", "3", "7", "--dry-run", "--via", "mapper"]).unwrap();
        let Command::Dlq(DlqArgs {
            via,
            command: DlqCommand::Redrive(r),
        }) = cli.command
        else {
            panic!("not a dlq redrive")
        };
        assert_eq!(via, "mapper");
        assert_eq!(r.seqs, [3, 7]);
        assert!(r.dry_run && !r.all);

        let cli = parse(&["dlq", "purge", "--all", "--reason", "422", "--yes"]).unwrap();
        let Command::Dlq(DlqArgs {
            command: DlqCommand::Purge(p),
            ..
        }) = cli.command
        else {
            panic!("not a dlq purge")
        };
        assert!(p.all && p.yes && p.seqs.is_empty());
        assert_eq!(p.filter.reason.as_deref(), Some("422"));
    }

    #[test]
    fn dlq_selections_are_sequences_or_all() {
        for verb in ["redrive", "purge"] {
            let err = parse(&["dlq", verb]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument, "{verb}");
            let err = parse(&["dlq", verb, "3", "--all"]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{verb}");
        }
        assert!(parse(&["dlq", "list", "--limit", "0"]).is_err());
        assert!(parse(&["dlq", "list", "--limit", "10001"]).is_err());
        assert!(parse(&["dlq", "show"]).is_err());
    }

    #[test]
    fn locations_args() {
        let cli = parse(&["locations", "list", "--location", "loc-1", "--json"]).unwrap();
        assert!(cli.json);
        let Command::Locations(LocationsArgs {
            via,
            command: LocationsCommand::List { location },
        }) = cli.command
        else {
            panic!("not a locations list")
        };
        assert_eq!(
            (via.as_str(), location.as_deref()),
            ("writer", Some("loc-1"))
        );

        let cli = parse(&["locations", "resume", "loc-1", "--via", "writer-2"]).unwrap();
        let Command::Locations(LocationsArgs {
            via,
            command: LocationsCommand::Resume { location },
        }) = cli.command
        else {
            panic!("not a locations resume")
        };
        assert_eq!((via.as_str(), location.as_str()), ("writer-2", "loc-1"));
        let err = parse(&["locations", "resume"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);

        let cli = parse(&["limits", "--location", "loc-1"]).unwrap();
        let Command::Limits(l) = cli.command else {
            panic!("not limits")
        };
        assert_eq!(
            (l.via.as_str(), l.location.as_deref()),
            ("writer", Some("loc-1"))
        );
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
