//! Each trigger against the sandbox: creates, updates, completions and deletions appear
//! exactly once on TRIGGERS; paging; index lag; restarts; replicas.

use std::collections::BTreeSet;
use std::time::Duration;

use relay_contracts::{Change, TriggerKind};
use relay_ghl::types::{UpdateContact, UpdateTask};
use serde_json::json;

use crate::support::{Env, watch};

fn ev(id: &str, change: Change) -> (String, Change) {
    (id.to_owned(), change)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_tasks_created_changed_completed_and_deleted_once() {
    let env = Env::start().await;
    let contact = env.create_contact("tasks@example.com").await;
    let before = env.create_task(&contact, "existing").await;
    let poller = env
        .spawn(env.config(vec![watch(
            "tasks",
            TriggerKind::ContactTasks,
            json!({ "contact_id": contact }),
        )]))
        .await;
    // `since = now`: the existing task is the baseline. Give the first poll time to run.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = env.token();
    let a = env.create_task(&contact, "a").await;
    let b = env.create_task(&contact, "b").await;
    env.expect_events(
        "tasks",
        vec![ev(&a, Change::Created), ev(&b, Change::Created)],
    )
    .await;
    env.ghl.complete_task(&t, &contact, &a, true).await.unwrap();
    let update = UpdateTask {
        title: Some("b, renamed".into()),
        ..Default::default()
    };
    env.ghl
        .update_task(&t, &contact, &b, &update)
        .await
        .unwrap();
    env.ghl.delete_task(&t, &contact, &before).await.unwrap();
    env.expect_events(
        "tasks",
        vec![
            ev(&a, Change::Created),
            ev(&b, Change::Created),
            ev(&a, Change::Completed),
            ev(&b, Change::Updated),
            ev(&before, Change::Deleted),
        ],
    )
    .await;
    let events = env.events().await;
    let done = events
        .iter()
        .find(|e| e.change == Change::Completed)
        .unwrap();
    assert_eq!(done.item["completed"], true, "the item as GHL returned it");
    assert_eq!(done.location_id.as_str(), crate::support::LOCATION);
    poller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_notes_and_get_contact_report_changes_once() {
    let env = Env::start().await;
    let contact = env.create_contact("notes@example.com").await;
    let t = env.token();
    let n0 = env
        .ghl
        .create_note(&t, &contact, "first")
        .await
        .unwrap()
        .body
        .note
        .id;
    let poller = env
        .spawn(env.config(vec![
            watch(
                "notes",
                TriggerKind::ContactNotes,
                json!({ "contact_id": contact, "since": "all" }),
            ),
            watch(
                "contact",
                TriggerKind::GetContact,
                json!({ "contact_id": contact }),
            ),
        ]))
        .await;
    env.expect_events("notes", vec![ev(&n0, Change::Created)])
        .await;
    let n1 = env
        .ghl
        .create_note(&t, &contact, "second")
        .await
        .unwrap()
        .body
        .note
        .id;
    env.ghl
        .update_note(&t, &contact, &n0, "first, edited")
        .await
        .unwrap();
    env.expect_events(
        "notes",
        vec![
            ev(&n0, Change::Created),
            ev(&n0, Change::Updated),
            ev(&n1, Change::Created),
        ],
    )
    .await;
    env.ghl.delete_note(&t, &contact, &n1).await.unwrap();
    let update = UpdateContact {
        first_name: Some("Renamed".into()),
        ..Default::default()
    };
    env.ghl.update_contact(&t, &contact, &update).await.unwrap();
    env.expect_events("contact", vec![ev(&contact, Change::Updated)])
        .await;
    env.ghl.delete_contact(&t, &contact).await.unwrap();
    env.expect_events(
        "contact",
        vec![ev(&contact, Change::Updated), ev(&contact, Change::Deleted)],
    )
    .await;
    let notes = env
        .events()
        .await
        .into_iter()
        .filter(|e| e.watch_id.as_str() == "notes")
        .count();
    // n1 deleted explicitly, and every note went with the contact.
    assert_eq!(notes, 5, "{:?}", env.events().await);
    poller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_contacts_pages_through_everything_once_and_then_reports_updates() {
    let env = Env::start().await;
    let mut ids = Vec::new();
    for i in 0..250 {
        ids.push(env.create_contact(&format!("c{i}@example.com")).await);
    }
    let poller = env
        .spawn(env.config(vec![watch(
            "search",
            TriggerKind::SearchContacts,
            json!({ "since": "all", "page_limit": 100 }),
        )]))
        .await;
    let created: Vec<_> = ids.iter().map(|id| ev(id, Change::Created)).collect();
    env.expect_events("search", created.clone()).await;
    let update = UpdateContact {
        first_name: Some("Changed".into()),
        ..Default::default()
    };
    env.ghl
        .update_contact(&env.token(), &ids[7], &update)
        .await
        .unwrap();
    let late = env.create_contact("late@example.com").await;
    let mut expected = created;
    expected.push(ev(&ids[7], Change::Updated));
    expected.push(ev(&late, Change::Created));
    env.expect_events("search", expected).await;
    // Pages of 100: the first pass read three pages.
    let searches = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/contacts/search"))
        .count();
    assert!(searches >= 3, "{searches}");
    poller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_index_lag_is_covered_by_the_overlap() {
    let env = Env::start_with(Duration::from_millis(1500)).await;
    env.create_contact("old@example.com").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let poller = env
        .spawn(env.config(vec![watch(
            "lagged",
            TriggerKind::SearchContacts,
            json!({ "overlap": "10s" }),
        )]))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut expected = Vec::new();
    for i in 0..5 {
        let id = env.create_contact(&format!("lag{i}@example.com")).await;
        expected.push(ev(&id, Change::Created));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    env.expect_events("lagged", expected).await;
    poller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_poller_neither_misses_nor_repeats() {
    let env = Env::start().await;
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(env.create_contact(&format!("r{i}@example.com")).await);
    }
    let watches = vec![watch(
        "restart",
        TriggerKind::SearchContacts,
        json!({ "since": "all", "page_limit": 20 }),
    )];
    let first = env.spawn(env.config(watches.clone())).await;
    // Kill it while it is paging.
    relay_test_support::eventually("some events", Duration::from_secs(20), || async {
        (!env.events().await.is_empty()).then_some(())
    })
    .await;
    first.kill();
    let seen = env.events().await.len();
    let second = env.spawn(env.config(watches)).await;
    for i in 0..3 {
        ids.push(env.create_contact(&format!("after{i}@example.com")).await);
    }
    let expected: Vec<_> = ids.iter().map(|id| ev(id, Change::Created)).collect();
    env.expect_events("restart", expected).await;
    assert!(seen < ids.len(), "killed after {seen} events");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_poll_the_same_watch() {
    let env = Env::start().await;
    let mut contacts = Vec::new();
    for i in 0..4 {
        contacts.push(env.create_contact(&format!("rep{i}@example.com")).await);
    }
    let watches: Vec<_> = contacts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            watch(
                &format!("w{i}"),
                TriggerKind::ContactTasks,
                json!({ "contact_id": c }),
            )
        })
        .collect();
    let a = env.spawn(env.config(watches.clone())).await;
    let b = env.spawn(env.config(watches)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut tasks = Vec::new();
    for c in &contacts {
        tasks.push(env.create_task(c, "t").await);
    }
    for (i, t) in tasks.iter().enumerate() {
        env.expect_events(&format!("w{i}"), vec![ev(t, Change::Created)])
            .await;
    }
    // Each watch is leased to exactly one replica, and the replicas split them 2/2.
    let leases = env
        .client
        .ensure_bucket(relay_contracts::Bucket::Leases, 1)
        .await
        .unwrap();
    let mut holders = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..4 {
        let entry = leases
            .get(format!("poller.item.w{i}"))
            .await
            .unwrap()
            .expect("leased");
        let v: serde_json::Value = serde_json::from_slice(&entry).unwrap();
        *holders
            .entry(v["holder"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        holders.values().copied().collect::<Vec<_>>(),
        [2, 2],
        "{holders:?}"
    );
    // Cursors are written with a revision check, so a second poller of one watch would fail
    // its write and stop; no event was published twice.
    let events = env.events().await;
    let unique: BTreeSet<_> = events.iter().map(|e| e.msg_id()).collect();
    assert_eq!(unique.len(), events.len());
    a.stop().await;
    b.stop().await;
}
