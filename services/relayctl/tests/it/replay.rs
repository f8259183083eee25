use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{FakeAdminPort, relayctl};

#[tokio::test]
async fn replay_streams_progress_then_a_summary() {
    let port = FakeAdminPort::start().await;
    let before = OffsetDateTime::now_utc();
    let run = relayctl(
        &port,
        &[
            "replay",
            "--subject",
            "evt.gumroad.>",
            "--since",
            "2h",
            "--connection",
            "demo",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    // Not a terminal: plain lines on stderr (the first one at once).
    assert!(
        run.stderr
            .starts_with("replay rpl_test: 1,000 events in range\n"),
        "{}",
        run.stderr
    );
    let cells = row(&run.stdout, "rpl_test");
    assert_eq!(
        cells,
        ["1000/1000", "800", "100", "100", "1000", "1", "rpl_test"]
    );
    assert!(!run.stdout.contains("dry run"));

    let recorded = port.recorded();
    let req = &recorded.replays[0];
    assert_eq!(req.subject, "evt.gumroad.>");
    assert_eq!(req.connection, "demo");
    assert_eq!(req.until, "");
    assert_eq!((req.from_seq, req.to_seq), (0, 0));
    let since = OffsetDateTime::parse(&req.since, &Rfc3339).unwrap();
    let two_hours = time::Duration::hours(2);
    assert!(
        since <= before - two_hours + time::Duration::seconds(5),
        "{since}"
    );
    assert!(
        since >= before - two_hours - time::Duration::seconds(60),
        "{since}"
    );
}

#[tokio::test]
async fn replay_by_sequence_dry_run() {
    let port = FakeAdminPort::start().await;
    let run = relayctl(
        &port,
        &[
            "replay",
            "--subject",
            "evt.>",
            "--from-seq",
            "10",
            "--to-seq",
            "20",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("dry run: nothing was published"),
        "{}",
        run.stdout
    );
    let recorded = port.recorded();
    let req = &recorded.replays[0];
    assert_eq!((req.from_seq, req.to_seq), (10, 20));
    assert_eq!((req.since.as_str(), req.until.as_str()), ("", ""));
    assert!(req.dry_run);
}

#[tokio::test]
async fn replay_json_prints_only_the_final_progress() {
    let port = FakeAdminPort::start().await;
    let run = relayctl(&port, &["replay", "--subject", "evt.>", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "done": 1000, "total": 1000, "planned": 800, "unmatched": 100, "failed": 100,
            "plans": 1000, "duplicates": 1, "finished": true, "error": null,
            "replay_id": "rpl_test"
        })
    );
}

#[tokio::test]
async fn replay_error_exits_non_zero_after_the_summary() {
    let port = FakeAdminPort::start().await;
    let run = relayctl(&port, &["replay", "--subject", "evt.fail.>"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(row(&run.stdout, "rpl_test")[0], "40/100");
    assert!(
        run.stderr
            .ends_with("relayctl: replay rpl_test stopped: EVENTS: consumer deleted\n"),
        "{}",
        run.stderr
    );

    let run = relayctl(&port, &["replay", "--subject", "evt.fail.>", "--json"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["error"], "EVENTS: consumer deleted");
}

#[tokio::test]
async fn replay_stream_broken_or_cut_short() {
    let port = FakeAdminPort::start().await;
    let run = relayctl(&port, &["replay", "--subject", "evt.broken.>"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.ends_with(
            "relayctl: replay rpl_test broke off after 10/100 events: mapper: mapper shutting down (Internal)\n"
        ),
        "{}",
        run.stderr
    );

    let run = relayctl(&port, &["replay", "--subject", "evt.short.>"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .ends_with("relayctl: replay rpl_test ended before finishing (50/100 events)\n"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn replay_rejected_or_misused() {
    let port = FakeAdminPort::start().await;
    let run = relayctl(&port, &["replay", "--subject", "evt.none.>"]).await;
    assert_eq!(run.code, 65, "{run:?}");
    assert!(
        run.stderr.contains("matches no EVENTS subject"),
        "{}",
        run.stderr
    );

    let run = relayctl(
        &port,
        &[
            "replay",
            "--subject",
            "evt.>",
            "--since",
            "1h",
            "--until",
            "2h",
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("must be before --until"),
        "{}",
        run.stderr
    );
    assert_eq!(
        port.recorded().replays.len(),
        1,
        "a misused replay sends nothing"
    );
}

fn row<'a>(table: &'a str, needle: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.contains(needle))
        .map(|row| {
            row.split(['│', '┆'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default()
}
