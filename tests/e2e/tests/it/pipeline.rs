use std::time::Duration;

use relay_contracts::StreamKind;
use relay_e2e::{BMC_SECRET, LOCATION, Stack, StackOptions, donation};
use relay_test_support::eventually;

/// The contact with `email` in the demo location, once it carries `tag`.
async fn contact_with_tag(stack: &Stack, email: &str, tag: &str) -> relay_sandbox::ContactView {
    let state = stack.sandbox.clone();
    eventually(
        &format!("contact {email} tagged {tag}"),
        Duration::from_secs(20),
        || {
            let state = state.clone();
            async move {
                state
                    .contacts(LOCATION)
                    .into_iter()
                    .find(|c| c.email.as_deref() == Some(email) && c.tags.iter().any(|t| t == tag))
            }
        },
    )
    .await
}

fn upserts_for(stack: &Stack, email_count_hint: &str) -> usize {
    let _ = email_count_hint;
    stack
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/contacts/upsert")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_donation_becomes_a_tagged_contact_exactly_once() {
    let stack = Stack::start().await;
    let body = donation(1001, "ada@example.com", "Ada Lovelace");

    let resp = stack.post_bmc(&body, Some(BMC_SECRET)).await;
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["duplicate"], false);
    // 200 is only sent after JetStream acknowledged: the event is already in the stream.
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 1);
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 1);

    let contact = contact_with_tag(&stack, "ada@example.com", "donor").await;
    assert_eq!(contact.first_name.as_deref(), Some("Ada"));
    assert_eq!(contact.last_name.as_deref(), Some("Lovelace"));

    // The storefront retries the same delivery: acknowledged, recognised as a duplicate, and
    // nothing new enters the pipeline.
    let resp = stack.post_bmc(&body, Some(BMC_SECRET)).await;
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["duplicate"], true);
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 1);
    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 1);

    // A second, different donation goes through; by the time it has, the duplicate would have
    // too: still exactly one upsert for Ada and one contact.
    stack
        .post_bmc(
            &donation(1002, "grace@example.com", "Grace Hopper"),
            Some(BMC_SECRET),
        )
        .await;
    contact_with_tag(&stack, "grace@example.com", "donor").await;
    let ada: Vec<_> = stack
        .sandbox
        .contacts(LOCATION)
        .into_iter()
        .filter(|c| c.email.as_deref() == Some("ada@example.com"))
        .collect();
    assert_eq!(ada.len(), 1, "exactly one contact for Ada");
    assert_eq!(
        upserts_for(&stack, "2 donations"),
        2,
        "one upsert per distinct donation"
    );
    // The audit log has one ok result per plan (the plan's last steps may still be running when
    // the tag shows).
    eventually("two results", Duration::from_secs(10), || async {
        (stack.stream_messages(StreamKind::Results).await == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stack.stream_messages(StreamKind::Results).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_signature_is_refused_and_nothing_is_published() {
    let stack = Stack::start().await;
    let body = donation(2001, "mallory@example.com", "Mallory");

    let wrong = stack.post_bmc(&body, Some("not-the-secret")).await;
    assert_eq!(wrong.status(), 401);
    let unsigned = stack.post_bmc(&body, None).await;
    assert_eq!(unsigned.status(), 401);
    let unknown = stack
        .http
        .post(format!("http://{}/hooks/nope", stack.ingest_addr))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    assert_eq!(stack.stream_messages(StreamKind::Raw).await, 0);
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 0);
    assert_eq!(stack.stream_messages(StreamKind::Dlq).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_authentic_body_is_a_400_kept_in_the_dlq() {
    let stack = Stack::start().await;
    let body = r#"{"type":"donation.created","data":{}}"#; // no event_id
    let resp = stack.post_bmc(body, Some(BMC_SECRET)).await;
    assert_eq!(resp.status(), 400);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert!(
        json["error"].as_str().unwrap().contains("event_id"),
        "{json}"
    );
    assert_eq!(stack.stream_messages(StreamKind::Events).await, 0);
    assert_eq!(stack.stream_messages(StreamKind::Dlq).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_down_means_503_and_not_serving_then_recovery_loses_nothing() {
    let mut stack = Stack::start().await;
    stack.nats.stop();

    let ingest_admin = stack.ingest.admin;
    eventually(
        "ingest NOT_SERVING",
        Duration::from_secs(10),
        || async move { (relay_e2e::health(ingest_admin).await == Some(false)).then_some(()) },
    )
    .await;
    let body = donation(3001, "outage@example.com", "Out Age");
    let resp = stack.post_bmc(&body, Some(BMC_SECRET)).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let health = stack
        .http
        .get(format!("http://{}/healthz", stack.ingest_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503);

    stack.nats.restart();
    stack.wait_ready().await;
    // The storefront retries: accepted now, and the contact arrives.
    let resp = stack.post_bmc(&body, Some(BMC_SECRET)).await;
    assert_eq!(resp.status(), 200);
    contact_with_tag(&stack, "outage@example.com", "donor").await;
    // Longer than the drain timeout: no service gave up on its own during the outage.
    stack.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_stop_in_order_and_finish_what_they_accepted() {
    let mut stack = Stack::start().await;
    tokio::time::sleep(Duration::from_secs(3)).await; // past the drain timeout
    stack.assert_running();
    stack
        .post_bmc(
            &donation(9001, "last@example.com", "La St"),
            Some(BMC_SECRET),
        )
        .await;
    contact_with_tag(&stack, "last@example.com", "donor").await;
    // Each stops cleanly (its task returns Ok) and promptly.
    for s in [&mut stack.ingest, &mut stack.mapper, &mut stack.writer] {
        tokio::time::timeout(Duration::from_secs(10), s.stop())
            .await
            .expect("stops within 10 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ghl_errors_are_retried_or_dead_lettered_with_the_reason() {
    // A token GHL refuses: the location is paused with the reason and its plans wait in
    // COMMANDS (nothing is lost, nothing dead-lettered) until the credentials are fixed.
    let stack = Stack::start_with(StackOptions {
        location_token: "pit-wrong".into(),
        ..Default::default()
    })
    .await;
    stack
        .post_bmc(
            &donation(4001, "refused@example.com", "Re Fused"),
            Some(BMC_SECRET),
        )
        .await;
    let reason = eventually("the location paused", Duration::from_secs(20), || async {
        let s = relay_e2e::admin_client(stack.writer.admin)
            .await
            .get_status(relay_contracts::admin::GetStatusRequest {})
            .await
            .ok()?
            .into_inner();
        s.details
            .get("paused_locations")
            .filter(|p| !p.is_empty())
            .cloned()
    })
    .await;
    assert!(
        reason.contains(LOCATION) && reason.contains("401"),
        "{reason}"
    );
    assert_eq!(stack.stream_messages(StreamKind::Commands).await, 1);
    assert_eq!(stack.stream_messages(StreamKind::Dlq).await, 0);
    assert!(stack.sandbox.contacts(LOCATION).is_empty());

    // An error GHL will never accept (422) is dead-lettered with GHL's message.
    let stack = Stack::start().await;
    stack
        .sandbox
        .inject_fault(relay_sandbox::FaultSpec {
            status: Some(422),
            message: Some("email is invalid".into()),
            path_prefix: Some("/contacts/upsert".into()),
            ..Default::default()
        })
        .unwrap();
    stack
        .post_bmc(
            &donation(4002, "invalid@example.com", "In Valid"),
            Some(BMC_SECRET),
        )
        .await;
    let msg = eventually("the plan in the DLQ", Duration::from_secs(20), || async {
        stack
            .read(StreamKind::Dlq, "dlq.writer.>")
            .await
            .into_iter()
            .next()
    })
    .await;
    let reason = msg
        .headers
        .as_ref()
        .and_then(|h| h.get(relay_contracts::headers::DLQ_REASON))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    assert!(
        reason.contains("422") && reason.contains("email is invalid"),
        "reason: {reason}"
    );
    assert!(stack.sandbox.contacts(LOCATION).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_ghl_failures_are_retried_until_they_succeed() {
    let stack = Stack::start().await;
    stack
        .sandbox
        .inject_fault(relay_sandbox::FaultSpec {
            status: Some(503),
            count: Some(2),
            path_prefix: Some("/contacts".into()),
            ..Default::default()
        })
        .unwrap();
    stack
        .post_bmc(
            &donation(5001, "retry@example.com", "Re Try"),
            Some(BMC_SECRET),
        )
        .await;
    contact_with_tag(&stack, "retry@example.com", "donor").await;
    let failed = stack
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert_eq!(failed, 2, "two injected 503s were retried");
}
