//! Every plan step against the sandbox, read back from the sandbox's state.

use relay_contracts::plan::{Lookup, Step};
use relay_sandbox::{LocationSeed, NewNamed};

use crate::support::{Env, LOCATION, plan};

fn extras(env: &Env, contact: &str) -> relay_sandbox::ContactExtras {
    env.sandbox
        .location_entities(LOCATION)
        .unwrap()
        .contact_extras
        .get(contact)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_applies_and_reads_back() {
    let env = Env::start().await;
    let seeded = env
        .sandbox
        .seed_location(
            LOCATION,
            LocationSeed {
                campaigns: vec![NewNamed::named("Welcome")],
                workflows: vec![NewNamed::named("Onboarding")],
                users: vec![NewNamed::named("Ada Admin")],
                ..Default::default()
            },
        )
        .unwrap();
    let campaign = seeded.campaigns[0].id.clone();
    let workflow = seeded.workflows[0].id.clone();
    let user = seeded.users[0].id.clone();
    let writer = env.spawn_writer(env.writer_config()).await;

    // Create, tag, note, task, enrol, follow.
    let first = plan(
        "all-1",
        "every@example.com",
        vec![
            Step::CreateContact,
            Step::AddTags {
                tags: vec!["buyer".into(), "vip".into()],
            },
            Step::RemoveTags {
                tags: vec!["vip".into()],
            },
            Step::CreateNote {
                key: "n1".into(),
                body: "First purchase".into(),
            },
            Step::CreateTask {
                key: "t1".into(),
                title: "Call the buyer".into(),
                body: Some("Say thanks".into()),
                due_date: "2026-12-01T10:00:00Z".into(),
                assigned_to: Some(user.clone()),
            },
            Step::AddToCampaign {
                campaign_id: campaign.clone(),
            },
            Step::AddToWorkflow {
                workflow_id: workflow.clone(),
                event_start_time: None,
            },
            Step::AddFollowers {
                followers: vec![user.clone()],
            },
        ],
    );
    env.send(&first).await;
    let r = env.result_of(&first, "ok").await;
    let contact_id = r.contact_id.clone().unwrap();
    assert_eq!(r.contact_created, Some(true));
    assert!(r.steps.iter().all(|s| s.ok && s.skipped.is_none()), "{r:?}");
    let contact = env
        .sandbox
        .contacts(LOCATION)
        .into_iter()
        .find(|c| c.id == contact_id)
        .unwrap();
    assert_eq!(contact.tags, vec!["buyer".to_owned()]);
    assert_eq!(contact.followers, vec![user.clone()]);
    let x = extras(&env, &contact_id);
    assert_eq!(x.notes.len(), 1);
    assert_eq!(x.notes[0].body, "First purchase");
    assert_eq!(x.tasks.len(), 1);
    assert_eq!(x.tasks[0].title, "Call the buyer");
    assert!(!x.tasks[0].completed);
    assert_eq!(x.campaigns, vec![campaign.clone()]);
    assert_eq!(x.workflows.len(), 1);

    // Update, complete and delete by key; leave campaign and workflow; unfollow; update contact.
    let mut second = plan(
        "all-2",
        "every@example.com",
        vec![
            Step::UpdateContact,
            Step::UpdateNote {
                key: "n1".into(),
                body: "First purchase (refunded)".into(),
            },
            Step::UpdateTask {
                key: "t1".into(),
                title: Some("Call the buyer again".into()),
                body: None,
                due_date: None,
            },
            Step::CompleteTask { key: "t1".into() },
            Step::RemoveFromCampaign {
                campaign_id: campaign.clone(),
            },
            Step::RemoveFromWorkflow {
                workflow_id: workflow.clone(),
            },
            Step::RemoveFollowers {
                followers: vec![user.clone()],
            },
            Step::CompleteTask {
                key: "never-created".into(),
            },
        ],
    );
    second.contact.fields.last_name = Some("Renamed".into());
    env.send(&second).await;
    let r = env.result_of(&second, "ok").await;
    assert_eq!(r.contact_id.as_deref(), Some(contact_id.as_str()));
    assert!(
        r.steps
            .last()
            .unwrap()
            .skipped
            .as_deref()
            .unwrap()
            .contains("never-created"),
        "{r:?}"
    );
    let contact = env
        .sandbox
        .contacts(LOCATION)
        .into_iter()
        .find(|c| c.id == contact_id)
        .unwrap();
    assert_eq!(contact.last_name.as_deref(), Some("Renamed"));
    assert!(contact.followers.is_empty());
    let x = extras(&env, &contact_id);
    assert_eq!(x.notes[0].body, "First purchase (refunded)");
    assert_eq!(x.tasks[0].title, "Call the buyer again");
    assert!(x.tasks[0].completed);
    assert!(x.campaigns.is_empty());

    // Delete note and task, remove from all campaigns, then the contact itself.
    let third = plan(
        "all-3",
        "every@example.com",
        vec![
            Step::DeleteNote { key: "n1".into() },
            Step::DeleteTask { key: "t1".into() },
            Step::AddToCampaign {
                campaign_id: campaign.clone(),
            },
            Step::RemoveFromAllCampaigns,
            Step::DeleteContact,
        ],
    );
    env.send(&third).await;
    let r = env.result_of(&third, "ok").await;
    assert!(r.steps.iter().all(|s| s.ok), "{r:?}");
    assert!(
        env.sandbox
            .contacts(LOCATION)
            .iter()
            .all(|c| c.id != contact_id),
        "the contact was deleted"
    );

    // find_contact for nobody stops the plan without failing it.
    let fourth = plan(
        "all-4",
        "nobody@example.com",
        vec![
            Step::FindContact,
            Step::AddTags {
                tags: vec!["x".into()],
            },
        ],
    );
    env.send(&fourth).await;
    let r = env.result_of(&fourth, "ok").await;
    assert!(r.steps[1].skipped.is_some(), "{r:?}");
    assert!(
        env.sandbox
            .contacts(LOCATION)
            .iter()
            .all(|c| c.email.as_deref() != Some("nobody@example.com"))
    );
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_found_by_external_id_and_upserted_with_custom_fields() {
    let env = Env::start().await;
    let writer = env.spawn_writer(env.writer_config()).await;
    let mut create = plan("ext-1", "ext@example.com", vec![Step::UpsertContact]);
    create.contact.custom_fields.insert(
        "contact.gumroad_customer_id".into(),
        serde_json::json!("cus_42"),
    );
    env.send(&create).await;
    let created = env.result_of(&create, "ok").await.contact_id.unwrap();

    // A later plan that only knows the external id.
    let mut tag = plan(
        "ext-2",
        "ignored@example.com",
        vec![Step::AddTags {
            tags: vec!["by-ext".into()],
        }],
    );
    tag.contact.lookup = Lookup::ExternalId {
        field_key: "contact.gumroad_customer_id".into(),
        value: "cus_42".into(),
    };
    tag.contact.fields.email = None;
    env.send(&tag).await;
    let r = env.result_of(&tag, "ok").await;
    assert_eq!(r.contact_id.as_deref(), Some(created.as_str()));
    let c = env
        .sandbox
        .contacts(crate::support::LOCATION)
        .into_iter()
        .find(|c| c.id == created)
        .unwrap();
    assert!(c.tags.contains(&"by-ext".to_owned()));
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_contact_resolves_duplicates_whatever_the_location_allows() {
    let env = Env::start().await;
    // Where GHL refuses duplicates, its 400 names the existing contact.
    env.sandbox
        .add_location(relay_sandbox::NewLocation {
            allow_duplicate_contact: true,
            ..relay_sandbox::NewLocation::new("dupes-ok", "pit-dupes-ok")
        })
        .unwrap();
    let mut cfg = env.writer_config();
    cfg.locations.insert(
        relay_contracts::Token::parse("dupes-ok").unwrap(),
        relay_writer::config::LocationConfig {
            token: Some(relay_common::SecretRef::Literal("pit-dupes-ok".into())),
            oauth: None,
            rate_limit: None,
        },
    );
    let writer = env.spawn_writer(cfg).await;
    for location in [LOCATION, "dupes-ok"] {
        let first = crate::support::plan_in(
            location,
            "dup-1",
            "twice@example.com",
            vec![Step::UpsertContact],
        );
        env.send(&first).await;
        let existing = env.result_of(&first, "ok").await.contact_id.unwrap();
        let second = crate::support::plan_in(
            location,
            "dup-2",
            "twice@example.com",
            vec![
                Step::CreateContact,
                Step::AddTags {
                    tags: vec!["again".into()],
                },
            ],
        );
        env.send(&second).await;
        let r = env.result_of(&second, "ok").await;
        assert_eq!(
            r.contact_id.as_deref(),
            Some(existing.as_str()),
            "{location}: {r:?}"
        );
        assert_eq!(r.contact_created, Some(false), "{location}");
        let all: Vec<_> = env
            .sandbox
            .contacts(location)
            .into_iter()
            .filter(|c| c.email.as_deref() == Some("twice@example.com"))
            .collect();
        assert_eq!(
            all.len(),
            1,
            "{location}: one contact: {:?}",
            env.sandbox
                .contacts(location)
                .iter()
                .map(|c| (c.id.clone(), c.email.clone()))
                .collect::<Vec<_>>()
        );
        assert_eq!(all[0].tags, vec!["again".to_owned()]);
    }
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_location_is_driven_across_token_expiry_and_a_401() {
    use relay_common::SecretRef;
    use relay_sandbox::{FaultKind, FaultSpec, NewAuthCode, NewOAuthApp};
    use secrecy::{ExposeSecret, SecretString};

    let mut sandbox = relay_sandbox::SandboxConfig::for_tests();
    sandbox.oauth.access_token_ttl = std::time::Duration::from_secs(3);
    let env = Env::start_with(sandbox).await;
    let app = env.sandbox.add_oauth_app(NewOAuthApp::default()).unwrap();
    let code = env
        .sandbox
        .issue_auth_code(NewAuthCode {
            client_id: app.client_id.clone(),
            location_id: LOCATION.into(),
            ..NewAuthCode::default()
        })
        .unwrap()
        .code;
    let ghl = relay_ghl::GhlClient::new(
        format!("http://{}", env.sandbox_addr).parse().unwrap(),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let grant = ghl
        .exchange_authorization_code(
            &app.client_id,
            &SecretString::from(app.client_secret.clone()),
            &SecretString::from(code),
            None,
        )
        .await
        .unwrap()
        .body;
    let mut cfg = env.writer_config();
    cfg.auth.encryption_key = Some(SecretRef::Literal(
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into(),
    ));
    cfg.auth.refresh_before = std::time::Duration::from_secs(1);
    cfg.locations.insert(
        relay_contracts::Token::parse(LOCATION).unwrap(),
        relay_writer::config::LocationConfig {
            token: None,
            oauth: Some(relay_writer::config::OAuthInstall {
                client_id: app.client_id.clone(),
                client_secret: SecretRef::Literal(app.client_secret.clone()),
                refresh_token: SecretRef::Literal(grant.refresh_token.expose_secret().to_owned()),
            }),
            rate_limit: None,
        },
    );
    // Two replicas share the partitions (and the location's tokens).
    let a = env.spawn_writer(cfg.clone()).await;
    let b = env.spawn_writer(cfg).await;
    for i in 0..8 {
        if i == 4 {
            // GHL expires the token a request carries: 401 → refresh once → retry once.
            env.sandbox
                .inject_fault(FaultSpec {
                    kind: Some(FaultKind::ExpireToken),
                    count: Some(1),
                    ..Default::default()
                })
                .unwrap();
        }
        let p = plan(
            &format!("oauth-{i}"),
            &format!("oauth{i}@example.com"),
            vec![
                Step::UpsertContact,
                Step::AddTags {
                    tags: vec!["oauth".into()],
                },
            ],
        );
        env.send(&p).await;
        let r = env.result_of(&p, "ok").await;
        assert!(r.steps.iter().all(|s| s.ok), "{r:?}");
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    }
    let refreshes = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/token" && r.status == 200)
        .count();
    // One seed refresh, a refresh per expiry (3 s tokens over ~6 s) and one after the 401:
    // never a refresh per request, and never a refused (already used) refresh token.
    assert!((2..=6).contains(&refreshes), "{refreshes} refreshes");
    assert!(
        env.sandbox
            .requests()
            .iter()
            .all(|r| r.path != "/oauth/token" || r.status == 200),
        "no refresh was refused"
    );
    assert_eq!(
        env.sandbox
            .contacts(LOCATION)
            .iter()
            .filter(|c| c.tags.contains(&"oauth".to_owned()))
            .count(),
        8
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_index_lag_is_waited_out_not_failed() {
    let mut sandbox = relay_sandbox::SandboxConfig::for_tests();
    // GHL: updates "may take a few seconds" to show in search.
    sandbox.search_index_lag = std::time::Duration::from_millis(1500);
    let env = Env::start_with(sandbox).await;
    let writer = env.spawn_writer(env.writer_config()).await;
    let mut create = plan("lag-1", "lag@example.com", vec![Step::UpsertContact]);
    create.contact.custom_fields.insert(
        "contact.gumroad_customer_id".into(),
        serde_json::json!("cus_lag"),
    );
    let mut tag = plan(
        "lag-2",
        "unused@example.com",
        vec![Step::AddTags {
            tags: vec!["found-late".into()],
        }],
    );
    tag.contact.lookup = Lookup::ExternalId {
        field_key: "contact.gumroad_customer_id".into(),
        value: "cus_lag".into(),
    };
    tag.contact.fields.email = None;
    env.send(&create).await;
    env.send(&tag).await;
    let created = env.result_of(&create, "ok").await.contact_id.unwrap();
    let r = env.result_of(&tag, "ok").await;
    assert_eq!(r.contact_id.as_deref(), Some(created.as_str()));
    assert!(
        r.delivery > 1,
        "found on a later attempt, once the index caught up: {r:?}"
    );
    writer.stop().await;
}
