//! Retries by failure class, dead letters, and once-only effects across crashes.

use std::time::Duration;

use relay_contracts::plan::Step;
use relay_contracts::{Bucket, Namespace, StreamKind, headers};
use relay_sandbox::{FaultKind, FaultSpec};

use crate::support::{Env, LOCATION, plan};

fn fault(path: &str, method: &str) -> FaultSpec {
    FaultSpec {
        path_prefix: Some(path.into()),
        method: Some(method.into()),
        count: Some(2),
        ..Default::default()
    }
}

fn note_steps(key: &str) -> Vec<Step> {
    vec![
        Step::UpsertContact,
        Step::CreateNote {
            key: key.into(),
            body: format!("note {key}"),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_in_place() {
    let env = Env::start().await;
    let writer = env.spawn_writer(env.writer_config()).await;
    let cases: Vec<(&str, FaultSpec)> = vec![
        (
            "5xx",
            FaultSpec {
                status: Some(503),
                ..fault("/contacts/upsert", "POST")
            },
        ),
        (
            "408",
            FaultSpec {
                status: Some(408),
                ..fault("/contacts/upsert", "POST")
            },
        ),
        // GHL's 429 says the window is 10 s: the location holds that long (once).
        (
            "429",
            FaultSpec {
                kind: Some(FaultKind::RateLimit),
                count: Some(1),
                ..fault("/contacts/upsert", "POST")
            },
        ),
        (
            "reset",
            FaultSpec {
                kind: Some(FaultKind::Reset),
                ..fault("/contacts/upsert", "POST")
            },
        ),
        // The client's timeout is 2 s.
        (
            "timeout",
            FaultSpec {
                kind: Some(FaultKind::Hang),
                count: Some(1),
                ..fault("/contacts/upsert", "POST")
            },
        ),
    ];
    for (name, spec) in cases {
        env.sandbox.inject_fault(spec).unwrap();
        let p = plan(name, &format!("{name}@example.com"), note_steps(name));
        env.send(&p).await;
        let ok = env.result_of(&p, "ok").await;
        let failed: Vec<_> = env
            .results()
            .await
            .into_iter()
            .filter(|r| r.plan_id == p.id && r.outcome.as_str() == "failed")
            .collect();
        assert!(!failed.is_empty(), "{name}: the failures are in RESULTS");
        assert!(ok.delivery > 1, "{name}: applied on a later attempt");
        env.sandbox.clear_faults();
        let x = env
            .sandbox
            .location_entities(LOCATION)
            .unwrap()
            .contact_extras
            .get(ok.contact_id.as_deref().unwrap())
            .cloned()
            .unwrap();
        assert_eq!(x.notes.len(), 1, "{name}: one note");
    }
    assert_eq!(env.queued().await, 0);
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_are_dead_lettered_with_ghl_message_and_can_be_redriven() {
    let env = Env::start().await;
    let writer = env.spawn_writer(env.writer_config()).await;
    env.sandbox
        .inject_fault(FaultSpec {
            status: Some(422),
            message: Some("customField is invalid".into()),
            count: Some(1),
            ..fault("/contacts/upsert", "POST")
        })
        .unwrap();
    let p = plan("dead", "dead@example.com", note_steps("dead"));
    env.send(&p).await;
    let r = env.result_of(&p, "dead_lettered").await;
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("customField is invalid"),
        "{r:?}"
    );
    let dead =
        relay_test_support::eventually("the plan in the DLQ", Duration::from_secs(10), || async {
            env.read(StreamKind::Dlq, "dlq.writer.>")
                .await
                .into_iter()
                .next()
        })
        .await;
    let h = dead.headers.clone().unwrap();
    assert!(h.get(headers::DLQ_REASON).unwrap().as_str().contains("422"));
    let original = h.get(headers::DLQ_SUBJECT).unwrap().as_str().to_owned();
    assert!(original.contains(".cmd."), "{original}");
    assert_eq!(env.queued().await, 0, "nothing left behind in COMMANDS");

    // Redrive: the same plan back on its subject (what `relayctl dlq redrive` does).
    env.client
        .publish(original, Some("redrive:1"), h.clone(), dead.payload.clone())
        .await
        .unwrap();
    let ok = env.result_of(&p, "ok").await;
    assert!(ok.contact_id.is_some());
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_outcome_was_lost_is_looked_up_not_repeated() {
    let env = Env::start().await;
    // An earlier attempt created the note at GHL and died before recording it: the ledger says
    // "pending" and the note exists.
    let writer = env.spawn_writer(env.writer_config()).await;
    let first = plan("lost", "lost@example.com", vec![Step::UpsertContact]);
    env.send(&first).await;
    let contact = env.result_of(&first, "ok").await.contact_id.unwrap();
    writer.stop().await;

    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!(
            "http://{}/contacts/{contact}/notes",
            env.sandbox_addr
        ))
        .bearer_auth(crate::support::TOKEN)
        .header("Version", "2021-07-28")
        .json(&serde_json::json!({"body": "note lost"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(created["note"]["id"].is_string());
    let kv = env
        .client
        .js
        .get_key_value(Namespace::new(Some(env.prefix.clone())).bucket_name(Bucket::Steps))
        .await;
    let kv = match kv {
        Ok(kv) => kv,
        Err(_) => env.client.ensure_bucket(Bucket::Steps, 1).await.unwrap(),
    };
    kv.put(
        format!("{LOCATION}.note.lost"),
        serde_json::to_vec(
            &serde_json::json!({"state": "pending", "contact_id": contact, "plan": "earlier"}),
        )
        .unwrap()
        .into(),
    )
    .await
    .unwrap();

    let writer = env.spawn_writer(env.writer_config()).await;
    let again = plan("lost-2", "lost@example.com", note_steps("lost"));
    env.send(&again).await;
    let r = env.result_of(&again, "ok").await;
    assert_eq!(
        r.steps[1].skipped.as_deref(),
        Some("created by an earlier attempt"),
        "{r:?}"
    );
    let notes = env
        .sandbox
        .location_entities(LOCATION)
        .unwrap()
        .contact_extras[&contact]
        .notes
        .clone();
    assert_eq!(notes.len(), 1, "{notes:?}");
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_mid_plan_never_duplicates_effects() {
    let env = Env::start().await;
    let writer = env.spawn_writer(env.writer_config()).await;
    // The note and task requests take a while, so the kill lands while they are in flight.
    env.sandbox
        .inject_fault(FaultSpec {
            delay_ms: Some(400),
            path_prefix: Some("/contacts/".into()),
            method: Some("POST".into()),
            ..Default::default()
        })
        .unwrap();
    let plans: Vec<_> = (0..6)
        .map(|i| {
            plan(
                &format!("kill-{i}"),
                &format!("kill{i}@example.com"),
                vec![
                    Step::UpsertContact,
                    Step::CreateNote {
                        key: format!("kn{i}"),
                        body: format!("note {i}"),
                    },
                    Step::CreateTask {
                        key: format!("kt{i}"),
                        title: format!("task {i}"),
                        body: None,
                        due_date: "2026-12-24T09:00:00Z".into(),
                        assigned_to: None,
                    },
                ],
            )
        })
        .collect();
    for p in &plans {
        env.send(p).await;
    }
    // Let some steps reach GHL, then crash.
    relay_test_support::eventually(
        "the first note reached GHL",
        Duration::from_secs(20),
        || async {
            env.sandbox
                .requests()
                .iter()
                .any(|r| r.path.ends_with("/notes") && r.status < 300)
                .then_some(())
        },
    )
    .await;
    writer.kill();
    env.sandbox.clear_faults();
    // A new replica takes the partition over once the lease expires and finishes the work.
    let writer = env.spawn_writer(env.writer_config()).await;
    for p in &plans {
        env.result_of(p, "ok").await;
    }
    assert_eq!(env.queued().await, 0);
    let contacts = env.sandbox.contacts(LOCATION);
    let entities = env.sandbox.location_entities(LOCATION).unwrap();
    for i in 0..6 {
        let email = format!("kill{i}@example.com");
        let matching: Vec<_> = contacts
            .iter()
            .filter(|c| c.email.as_deref() == Some(email.as_str()))
            .collect();
        assert_eq!(matching.len(), 1, "{email}: one contact");
        let x = &entities.contact_extras[&matching[0].id];
        assert_eq!(x.notes.len(), 1, "{email}: one note, {:?}", x.notes);
        assert_eq!(x.tasks.len(), 1, "{email}: one task, {:?}", x.tasks);
    }
    writer.stop().await;
}
