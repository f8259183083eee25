//! Connections applied at runtime (the mapper's API, the KV registry, every service picking
//! them up), preview, and replay for backfills.

use std::time::Duration;

use relay_contracts::mapper_admin::{
    ApplyConnectionsRequest, ChangeAction, DeleteConnectionRequest, GetConnectionRequest,
    ListConnectionsRequest, PreviewRequest, ReplayProgress, ReplayRequest,
};
use relay_contracts::{ContactPlan, Source, StreamKind};
use relay_e2e::{BMC_SECRET, LOCATION, Stack, StackOptions, donation, mapper_client};
use relay_test_support::eventually;

/// A Gumroad sale as Gumroad posts it (form-encoded).
fn gumroad_sale(sale_id: &str, email: &str, price_cents: u32) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("seller_id", "U2VsbGVy"),
            ("product_id", "UHJvZHVjdA=="),
            ("product_name", "Rust for Storefronts"),
            ("permalink", "rustfs"),
            ("email", email),
            ("price", &price_cents.to_string()),
            ("currency", "usd"),
            ("quantity", "1"),
            ("sale_id", sale_id),
            ("sale_timestamp", "2026-03-14T09:26:53Z"),
            ("full_name", "Grace Hopper"),
            ("resource_name", "sale"),
            ("test", "false"),
        ])
        .finish()
}

fn shop2(secret: &str, previous: Option<&str>) -> String {
    let previous = previous
        .map(|p| format!("    previous_secret: literal:{p}\n"))
        .unwrap_or_default();
    format!(
        "connections:
  - source: gumroad
    name: shop2
    location_id: {LOCATION}
    secret: literal:{secret}
{previous}    rules:
      - name: vip
        match:
          kind: order.paid
          amount: {{ min: 10000 }}
        steps:
          - upsert_contact
          - add_tags: [vip, \"{{{{ order.total.currency | lower }}}}-buyer\"]
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_applied_at_runtime_reach_ingest_and_mapper_without_a_restart() {
    let stack = Stack::start().await;
    let (gumroad, _running) = stack
        .spawn_ingest(relay_ingest_gumroad::Gumroad, "static-secret")
        .await;
    let mut mapper = mapper_client(stack.mapper.admin).await;
    let http = reqwest::Client::new();
    let post = |token: &str, body: String| {
        http.post(format!("http://{gumroad}/hooks/shop2?token={token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // Unknown before it is applied.
    let before = post("s1", gumroad_sale("g-1", "early@example.com", 20000))
        .await
        .unwrap();
    assert_eq!(before.status(), 404);

    let applied = mapper
        .apply_connections(ApplyConnectionsRequest {
            file_name: "shop2.yaml".into(),
            yaml: shop2("s1", None),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(applied.errors.is_empty(), "{:?}", applied.errors);
    assert!(applied.applied);
    assert_eq!(applied.changes.len(), 1);
    assert_eq!(applied.changes[0].key, "gumroad.shop2");
    assert_eq!(applied.changes[0].action(), ChangeAction::Create);

    // Ingest follows the registry: the delivery is accepted without a restart, and the
    // mapper maps it with the connection's own rule and the Gumroad playbook after it.
    eventually("shop2 known to ingest", Duration::from_secs(10), || {
        let post = post("s1", gumroad_sale("g-2", "vip@example.com", 20000));
        async move { (post.await.unwrap().status() == 200).then_some(()) }
    })
    .await;
    let vip = stack.contact_with_tag("vip@example.com", "vip").await;
    assert!(vip.tags.iter().any(|t| t == "usd-buyer"), "{:?}", vip.tags);
    stack
        .contact_with_tag("vip@example.com", "gumroad-customer")
        .await;

    // Rotation: the new secret with the old one as previous → both accepted; the diff says so.
    let rotated = mapper
        .apply_connections(ApplyConnectionsRequest {
            file_name: "shop2.yaml".into(),
            yaml: shop2("s2", Some("s1")),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.changes[0].action(), ChangeAction::Update);
    assert!(
        rotated.changes[0].diff.contains("+previous_secret"),
        "{}",
        rotated.changes[0].diff
    );
    let diff = &rotated.changes[0].diff;
    assert!(
        !diff.contains("literal:s1") && !diff.contains("literal:s2"),
        "secret values are never shown: {diff}"
    );
    eventually("new secret accepted", Duration::from_secs(10), || {
        let post = post("s2", gumroad_sale("g-3", "new@example.com", 500));
        async move { (post.await.unwrap().status() == 200).then_some(()) }
    })
    .await;
    assert_eq!(
        post("s1", gumroad_sale("g-4", "old@example.com", 500))
            .await
            .unwrap()
            .status(),
        200
    );
    // Rotation done: the old secret is refused.
    mapper
        .apply_connections(ApplyConnectionsRequest {
            file_name: "shop2.yaml".into(),
            yaml: shop2("s2", None),
            dry_run: false,
        })
        .await
        .unwrap();
    eventually("old secret refused", Duration::from_secs(10), || {
        let post = post("s1", gumroad_sale("g-5", "old@example.com", 500));
        async move { (post.await.unwrap().status() == 401).then_some(()) }
    })
    .await;

    // Applying the same file again changes nothing.
    let again = mapper
        .apply_connections(ApplyConnectionsRequest {
            file_name: "shop2.yaml".into(),
            yaml: shop2("s2", None),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.changes[0].action(), ChangeAction::Unchanged);

    let listed = mapper
        .list_connections(ListConnectionsRequest {})
        .await
        .unwrap()
        .into_inner();
    let stored = listed
        .connections
        .iter()
        .find(|c| c.key == "gumroad.shop2")
        .unwrap();
    assert_eq!((stored.rules, stored.playbook.as_str()), (1, "default"));
    assert!(stored.revision > 0);
    assert!(
        listed
            .connections
            .iter()
            .any(|c| c.key == "bmc.demo" && c.revision == 0),
        "static connections of the mapper's config are listed too"
    );

    // Delete: deliveries for it are unknown again.
    mapper
        .delete_connection(DeleteConnectionRequest {
            key: "gumroad.shop2".into(),
        })
        .await
        .unwrap();
    eventually("shop2 gone", Duration::from_secs(10), || {
        let post = post("s2", gumroad_sale("g-6", "late@example.com", 500));
        async move { (post.await.unwrap().status() == 404).then_some(()) }
    })
    .await;
    let missing = mapper
        .get_connection(GetConnectionRequest {
            key: "gumroad.shop2".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let missing = mapper
        .delete_connection(DeleteConnectionRequest {
            key: "gumroad.shop2".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_file_is_refused_whole_with_file_line_and_reason() {
    let stack = Stack::start().await;
    let mut mapper = mapper_client(stack.mapper.admin).await;
    let yaml = format!(
        "connections:
  - source: thrivecart
    name: good
    location_id: {LOCATION}
    secret: literal:x
  - source: gumroad
    name: bad
    location_id: {LOCATION}
    rules:
      - name: broken
        match:
          kind: order.paid
        steps:
          - add_tags: [\"{{{{ customer.email | no_such_filter }}}}\"]
"
    );
    let resp = mapper
        .apply_connections(ApplyConnectionsRequest {
            file_name: "conns.yaml".into(),
            yaml,
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!resp.applied);
    assert!(!resp.errors.is_empty());
    let e = &resp.errors[0];
    assert_eq!(e.file, "conns.yaml");
    assert!(e.line >= 6, "points into the bad connection: {e:?}");
    assert!(e.message.contains("no_such_filter"), "{e:?}");
    // Nothing half-applied: the valid connection of the same file was not stored either.
    let listed = mapper
        .list_connections(ListConnectionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        !listed
            .connections
            .iter()
            .any(|c| c.key == "thrivecart.good")
    );

    // Unknown keys are named with their place too.
    let resp = mapper
        .apply_connections(ApplyConnectionsRequest {
            file_name: "typo.yaml".into(),
            yaml: format!("connections:\n  - source: bmc\n    name: x\n    location_id: {LOCATION}\n    enabeld: true\n"),
            dry_run: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.errors.len(), 1);
    assert_eq!(resp.errors[0].line, 5, "{:?}", resp.errors);
    assert!(
        resp.errors[0].message.contains("enabeld"),
        "{:?}",
        resp.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preview_shows_the_plans_without_publishing_them() {
    let stack = Stack::start().await;
    let resp = stack
        .post_bmc(
            &donation(8101, "preview@example.com", "Pre View"),
            Some(BMC_SECRET),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let event = stack.events(Source::Bmc).await.pop().unwrap();
    let mut mapper = mapper_client(stack.mapper.admin).await;

    let live = mapper
        .preview(PreviewRequest {
            connection: "bmc.demo".into(),
            event_json: serde_json::to_string(&event).unwrap(),
            connection_yaml: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let plans: Vec<ContactPlan> = live
        .plans_json
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    assert_eq!(plans.len(), 1);
    let actions: Vec<&str> = plans[0].steps.iter().map(|s| s.action()).collect();
    assert!(
        actions.contains(&"upsert_contact") && actions.contains(&"create_note"),
        "{actions:?}"
    );

    // A draft of new rules, tried on the same event before applying it.
    let draft = mapper
        .preview(PreviewRequest {
            connection: String::new(),
            event_json: serde_json::to_string(&event).unwrap(),
            connection_yaml: format!(
                "connections:\n  - source: bmc\n    name: demo\n    location_id: {LOCATION}\n    playbook: none\n    rules:\n      - name: big-fan\n        steps: [upsert_contact, {{add_tags: [big-fan]}}]\n"
            ),
        })
        .await
        .unwrap()
        .into_inner();
    let plan: ContactPlan = serde_json::from_str(&draft.plans_json[0]).unwrap();
    assert_eq!(
        plan.steps,
        vec![
            relay_contracts::Step::UpsertContact,
            relay_contracts::Step::AddTags {
                tags: vec!["big-fan".into()]
            }
        ]
    );
    // The live pipeline went on with the stored rules only.
    let contact = stack.contact_with_tag("preview@example.com", "donor").await;
    assert!(!contact.tags.iter().any(|t| t == "big-fan"));

    let bad = mapper
        .preview(PreviewRequest {
            connection: "bmc.demo".into(),
            event_json: "{\"v\": 1}".into(),
            connection_yaml: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
}

async fn replay(stack: &Stack, req: ReplayRequest) -> ReplayProgress {
    let mut mapper = mapper_client(stack.mapper.admin).await;
    let mut stream = mapper.replay(req).await.unwrap().into_inner();
    let mut last = None;
    while let Some(p) = stream.message().await.unwrap() {
        last = Some(p);
    }
    let last = last.expect("a final progress message");
    assert!(last.finished && last.error.is_empty(), "{last:?}");
    last
}

fn notes_per_contact(stack: &Stack) -> Vec<usize> {
    stack
        .sandbox
        .location_entities(LOCATION)
        .unwrap()
        .contact_extras
        .values()
        .map(|x| x.notes.len())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replays_by_sequence_and_by_time_repeat_the_live_plans_and_no_effect() {
    // A short dedupe window: the last replay reaches the writer again, whose once-only
    // effects must hold on their own.
    let stack = Stack::start_with(StackOptions {
        duplicate_window: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let n = 6u64;
    for i in 0..n {
        let email = format!("replay{i}@example.com");
        let resp = stack
            .post_bmc(&donation(8200 + i, &email, "Re Play"), Some(BMC_SECRET))
            .await;
        assert_eq!(resp.status(), 200);
    }
    for i in 0..n {
        stack
            .contact_with_tag(&format!("replay{i}@example.com"), "donor")
            .await;
    }
    eventually("one note each", Duration::from_secs(20), || async {
        let notes = notes_per_contact(&stack);
        (notes.len() == n as usize && notes.iter().all(|&c| c == 1)).then_some(())
    })
    .await;
    let js = async_nats::jetstream::new(stack.nats.client().await);
    let last = js
        .get_stream(stack.stream(StreamKind::Events))
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;

    // Dry run over everything: counts, publishes nothing.
    let dry = replay(
        &stack,
        ReplayRequest {
            subject: "evt.bmc.>".into(),
            dry_run: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!((dry.done, dry.planned, dry.plans, dry.failed), (n, n, n, 0));

    // By sequence range (the last two events), right away: the broker still knows the plans.
    let by_seq = replay(
        &stack,
        ReplayRequest {
            subject: "evt.bmc.>".into(),
            from_seq: last - 1,
            to_seq: last,
            ..Default::default()
        },
    )
    .await;
    assert_eq!((by_seq.done, by_seq.plans), (2, 2));

    // By time, after the dedupe window: plans reach the writer again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let since = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let by_time = replay(
        &stack,
        ReplayRequest {
            subject: "evt.bmc.>".into(),
            since,
            connection: "demo".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!((by_time.done, by_time.plans, by_time.failed), (n, n, 0));
    // The writer applies them (RESULTS grows), and nothing is duplicated in GHL.
    eventually(
        "replayed plans applied",
        Duration::from_secs(20),
        || async {
            let ok = stack.read(StreamKind::Results, "res.>").await.len() as u64;
            (ok >= 2 * n).then_some(())
        },
    )
    .await;
    assert_eq!(
        stack.sandbox.contacts(LOCATION).len(),
        n as usize,
        "no duplicate contact"
    );
    assert!(
        notes_per_contact(&stack).iter().all(|&c| c == 1),
        "no duplicate note: {:?}",
        notes_per_contact(&stack)
    );

    // A bad range is refused before anything is read.
    let mut mapper = mapper_client(stack.mapper.admin).await;
    let bad = mapper
        .replay(ReplayRequest {
            subject: "cmd.>".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
}

fn bmc_rules(tags: &str) -> String {
    format!(
        "connections:
  - source: bmc
    name: demo
    location_id: {LOCATION}
    secret: literal:{BMC_SECRET}
    playbook: none
    rules:
      - name: donor
        match: {{ kind: order.paid }}
        steps:
          - upsert_contact
          - add_tags: [{tags}]
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_the_rules_cannot_map_is_dead_lettered_then_redriven_by_replay_after_the_fix() {
    let stack = Stack::start().await;
    let mut mapper = mapper_client(stack.mapper.admin).await;
    // A rule that fails while rendering (division by zero in a template).
    let broken = mapper
        .apply_connections(ApplyConnectionsRequest {
            file_name: "bmc.yaml".into(),
            yaml: bmc_rules("\"{{ 1 // 0 }}\""),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(broken.errors.is_empty() && broken.applied, "{broken:?}");
    let resp = stack
        .post_bmc(
            &donation(8301, "redrive@example.com", "Re Drive"),
            Some(BMC_SECRET),
        )
        .await;
    assert_eq!(
        resp.status(),
        200,
        "ingest accepts: mapping is the mapper's business"
    );

    let dead = eventually("mapper dead letter", Duration::from_secs(20), || async {
        stack.read(StreamKind::Dlq, "dlq.mapper.>").await.pop()
    })
    .await;
    let reason = dead
        .headers
        .as_ref()
        .and_then(|h| h.get(relay_contracts::headers::DLQ_REASON))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    assert!(
        reason.contains("donor"),
        "the reason names the rule: {reason}"
    );
    assert!(
        stack.sandbox.contacts(LOCATION).is_empty(),
        "nothing reached GHL"
    );

    // Fix the rule, then redrive: the event is still in EVENTS, a replay maps it again.
    mapper
        .apply_connections(ApplyConnectionsRequest {
            file_name: "bmc.yaml".into(),
            yaml: bmc_rules("fixed"),
            dry_run: false,
        })
        .await
        .unwrap();
    let redrive = replay(
        &stack,
        ReplayRequest {
            subject: "evt.bmc.demo.>".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!((redrive.done, redrive.plans, redrive.failed), (1, 1, 0));
    stack.contact_with_tag("redrive@example.com", "fixed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relayctl_applies_lists_and_refuses_a_bad_file_against_the_real_mapper() {
    use clap::Parser;
    let stack = Stack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, shop2("ctl-secret", None)).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "connections:\n  - source: nowhere\n    name: x\n").unwrap();
    let service = format!("mapper=http://{}", stack.mapper.admin);
    let run = |args: &[&str]| {
        let mut argv = vec![
            "relayctl",
            "--service",
            &service,
            "--token",
            relay_test_support::ADMIN_TOKEN,
        ];
        argv.extend_from_slice(args);
        let cli = relayctl::Cli::parse_from(argv);
        async move {
            match relayctl::run(cli).await {
                Ok(code) => code,
                Err(e) => relayctl::exit_code(&e),
            }
        }
    };
    assert_eq!(
        run(&["connections", "apply", "-f", bad.to_str().unwrap()]).await,
        65
    );
    assert_eq!(
        run(&[
            "connections",
            "apply",
            "-f",
            good.to_str().unwrap(),
            "--dry-run"
        ])
        .await,
        0
    );
    let mut mapper = mapper_client(stack.mapper.admin).await;
    let listed = mapper
        .list_connections(ListConnectionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        !listed.connections.iter().any(|c| c.key == "gumroad.shop2"),
        "a dry run stores nothing"
    );
    assert_eq!(
        run(&["connections", "apply", "-f", good.to_str().unwrap()]).await,
        0
    );
    let listed = mapper
        .list_connections(ListConnectionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(listed.connections.iter().any(|c| c.key == "gumroad.shop2"));
    assert_eq!(run(&["--json", "connections", "list"]).await, 0);
    assert_eq!(run(&["connections", "delete", "gumroad.shop2"]).await, 0);
    assert_eq!(
        run(&["connections", "delete", "gumroad.shop2"]).await,
        1,
        "gone: not found"
    );
}

/// Issue 6's acceptance: a replay of 10,000 events through the writer into the sandbox makes
/// no duplicate contact or note (`RELAY_TEST_REPLAY_N` lowers it for a quick local run).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_of_ten_thousand_events_through_the_writer_duplicates_nothing() {
    #[allow(clippy::disallowed_methods)] // the test's own knob
    let n: u64 = std::env::var("RELAY_TEST_REPLAY_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let stack = Stack::start_with(StackOptions {
        duplicate_window: Duration::from_secs(1),
        concurrency: 64,
        ..StackOptions::unthrottled()
    })
    .await;
    // One real event from ingest, then n variants of it (other donor, other id) straight
    // into EVENTS, as ingest would publish them.
    let resp = stack
        .post_bmc(
            &donation(9_000_000, "seed@example.com", "Se Ed"),
            Some(BMC_SECRET),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let seed = stack.events(Source::Bmc).await.pop().unwrap();
    let js = async_nats::jetstream::new(stack.nats.client().await);
    let mut acks = Vec::new();
    for i in 0..n {
        let mut e = seed.clone();
        e.idempotency_key = format!("bulk-{i}");
        e.id = relay_contracts::EventId::derive(&["bmc", "demo", &e.idempotency_key]);
        e.customer.email = Some(format!("bulk{i}@example.com"));
        let mut h = async_nats::HeaderMap::new();
        h.insert(relay_contracts::headers::MSG_ID, e.id.as_str());
        let subject = format!("{}.evt.bmc.demo.order.paid", stack.prefix);
        acks.push(
            js.publish_with_headers(subject, h, serde_json::to_vec(&e).unwrap().into())
                .await
                .unwrap(),
        );
        if acks.len() >= 512 {
            for a in acks.drain(..) {
                a.await.unwrap();
            }
        }
    }
    for a in acks {
        a.await.unwrap();
    }
    let total = n as usize + 1;
    let contacts_and_notes = || {
        let contacts = stack.sandbox.contacts(LOCATION).len();
        let notes = notes_per_contact(&stack);
        (
            contacts,
            notes.len(),
            notes.iter().copied().max().unwrap_or(0),
        )
    };
    eventually(
        "live: every donor written once",
        Duration::from_secs(600),
        || async { (contacts_and_notes() == (total, total, 1)).then_some(()) },
    )
    .await;
    let results_before = stack.stream_messages(StreamKind::Results).await;

    tokio::time::sleep(Duration::from_millis(1500)).await; // past the broker's dedupe window
    let replayed = replay(
        &stack,
        ReplayRequest {
            subject: "evt.bmc.>".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        (replayed.done, replayed.plans, replayed.failed),
        (n + 1, n + 1, 0)
    );
    // Every replayed plan is applied again by the writer (RESULTS doubles)...
    eventually(
        "replayed plans applied",
        Duration::from_secs(600),
        || async {
            (stack.stream_messages(StreamKind::Results).await > results_before + n).then_some(())
        },
    )
    .await;
    // ... and GHL holds exactly what it held: one contact and one note per donor.
    assert_eq!(contacts_and_notes(), (total, total, 1));
    // The replay produced the live plans: every plan id applied exactly twice.
    let mut applied: std::collections::BTreeMap<String, u32> = Default::default();
    for m in stack.read(StreamKind::Results, "res.>").await {
        let r = relay_contracts::PlanResult::decode(&m.payload).unwrap();
        *applied.entry(r.plan_id.to_string()).or_default() += 1;
    }
    assert_eq!(applied.len(), total, "one plan per event");
    assert!(
        applied.values().all(|&c| c == 2),
        "live + replay, same plan ids"
    );
}
