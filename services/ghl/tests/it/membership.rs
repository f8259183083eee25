//! Tags (one contact and in bulk), followers, campaigns and workflows.

use relay_ghl::types::{BulkTagAction, BulkTags};

use crate::helpers::Ghl;

#[tokio::test]
async fn tags_are_added_and_removed() {
    let ghl = Ghl::start().await;
    let id = ghl.contact("tags@example.com").await;
    let added = ghl
        .client
        .add_tags(&ghl.token, &id, &["Buyer".into(), "course-a".into()])
        .await
        .expect("add");
    assert_eq!(added.status, 201);
    assert_eq!(added.body.tags, ["buyer", "course-a"]);
    assert_eq!(ghl.get(&id).await.contact.tags, ["buyer", "course-a"]);

    let left = ghl
        .client
        .remove_tags(&ghl.token, &id, &["buyer".into()])
        .await
        .expect("remove");
    assert_eq!(left.body.tags, ["course-a"]);
    assert_eq!(ghl.get(&id).await.contact.tags, ["course-a"]);
}

#[tokio::test]
async fn bulk_tags_report_each_contact() {
    let ghl = Ghl::start().await;
    let a = ghl.contact("bulk-a@example.com").await;
    let b = ghl.contact("bulk-b@example.com").await;
    let body = BulkTags {
        contacts: vec![a.clone(), b.clone(), "AAAAAAAAAAAAAAAAAAAA".into()],
        tags: vec!["launch".into(), "beta".into()],
        location_id: ghl.location().into(),
        remove_all_tags: None,
    };
    let resp = ghl
        .client
        .bulk_update_tags(&ghl.token, BulkTagAction::Add, &body)
        .await
        .expect("bulk add");
    assert_eq!(resp.status, 201);
    assert!(resp.body.succeeded);
    assert_eq!(resp.body.error_count, 1, "{:?}", resp.body.responses);
    assert_eq!(resp.body.responses.len(), 3);
    assert_eq!(
        resp.body.responses.iter().filter(|r| r.is_error()).count(),
        1
    );
    assert_eq!(ghl.get(&a).await.contact.tags, ["launch", "beta"]);
    assert_eq!(ghl.get(&b).await.contact.tags, ["launch", "beta"]);

    let remove = BulkTags {
        contacts: vec![a.clone()],
        tags: vec!["beta".into()],
        ..body.clone()
    };
    ghl.client
        .bulk_update_tags(&ghl.token, BulkTagAction::Remove, &remove)
        .await
        .expect("bulk remove");
    assert_eq!(ghl.get(&a).await.contact.tags, ["launch"]);

    let remove_all = BulkTags {
        contacts: vec![b.clone()],
        tags: Vec::new(),
        remove_all_tags: Some(true),
        ..body
    };
    let resp = ghl
        .client
        .bulk_update_tags(&ghl.token, BulkTagAction::Remove, &remove_all)
        .await
        .expect("bulk remove all");
    assert_eq!(resp.body.error_count, 0);
    assert!(ghl.get(&b).await.contact.tags.is_empty());
}

#[tokio::test]
async fn followers_are_added_and_removed() {
    let ghl = Ghl::start().await;
    let id = ghl.contact("followed@example.com").await;
    let user = ghl.entities().users[0].id.clone();
    let added = ghl
        .client
        .add_followers(&ghl.token, &id, std::slice::from_ref(&user))
        .await
        .expect("add followers");
    assert_eq!(added.status, 201);
    assert_eq!(added.body.followers_added, std::slice::from_ref(&user));
    assert_eq!(
        ghl.get(&id).await.contact.followers,
        std::slice::from_ref(&user)
    );

    let removed = ghl
        .client
        .remove_followers(&ghl.token, &id, std::slice::from_ref(&user))
        .await
        .expect("remove followers");
    assert_eq!(removed.body.followers_removed, [user]);
    assert!(removed.body.followers.is_empty());
    assert!(ghl.get(&id).await.contact.followers.is_empty());
}

#[tokio::test]
async fn campaigns_enrol_and_unenrol() {
    let ghl = Ghl::start().await;
    let id = ghl.contact("campaign@example.com").await;
    let campaign = ghl.entities().campaigns[0].id.clone();
    let added = ghl
        .client
        .add_to_campaign(&ghl.token, &id, &campaign)
        .await
        .expect("add to campaign");
    assert_eq!(added.status, 201);
    assert!(added.body.succeeded);
    assert_eq!(ghl.extras(&id).campaigns, std::slice::from_ref(&campaign));

    ghl.client
        .remove_from_campaign(&ghl.token, &id, &campaign)
        .await
        .expect("remove from campaign");
    assert!(ghl.extras(&id).campaigns.is_empty());

    ghl.client
        .add_to_campaign(&ghl.token, &id, &campaign)
        .await
        .expect("add again");
    let all = ghl
        .client
        .remove_from_all_campaigns(&ghl.token, &id)
        .await
        .expect("remove from all");
    assert!(all.body.succeeded);
    assert!(ghl.extras(&id).campaigns.is_empty());
}

#[tokio::test]
async fn workflows_enrol_with_a_start_time_and_unenrol() {
    let ghl = Ghl::start().await;
    let id = ghl.contact("workflow@example.com").await;
    let workflow = ghl.entities().workflows[0].id.clone();
    let start = "2026-06-23T03:30:00+01:00";
    let added = ghl
        .client
        .add_to_workflow(&ghl.token, &id, &workflow, Some(start))
        .await
        .expect("add to workflow");
    assert!(added.body.succeeded);
    let enrolled = ghl.extras(&id).workflows;
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0].workflow_id, workflow);
    assert_eq!(enrolled[0].event_start_time.as_deref(), Some(start));

    let removed = ghl
        .client
        .remove_from_workflow(&ghl.token, &id, &workflow)
        .await
        .expect("remove from workflow");
    assert!(removed.body.succeeded);
    assert!(ghl.extras(&id).workflows.is_empty());

    // Without a start time the body is `{}`.
    ghl.client
        .add_to_workflow(&ghl.token, &id, &workflow, None)
        .await
        .expect("add without start");
    assert_eq!(ghl.extras(&id).workflows[0].event_start_time, None);
}
