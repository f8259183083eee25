use std::time::Duration;

use relay_e2e::{BMC_SECRET, Stack, donation};
use relay_test_support::{eventually, otlp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_delivery_is_one_trace_from_ingest_to_the_ghl_call() {
    let stack = Stack::start().await;
    let resp = stack
        .post_bmc(
            &donation(7001, "traced@example.com", "Tra Ced"),
            Some(BMC_SECRET),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let event_id = resp.json::<serde_json::Value>().await.unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Find the ingest span of this delivery, then wait until its trace holds the whole path.
    let spans = eventually("the full trace", Duration::from_secs(30), || {
        let event_id = event_id.clone();
        async move {
            otlp::flush();
            let ingest = otlp::spans()
                .into_iter()
                .find(|s| s.attributes.get("relay.event_id") == Some(&event_id))?;
            let trace = otlp::trace(&ingest.trace_id);
            let has = |prefix: &str| trace.iter().any(|s| s.name.starts_with(prefix));
            (has("writer.handle")
                && has("ghl.upsert_contact")
                && has("ghl.add_tags")
                && has("sandbox POST /contacts/upsert"))
            .then_some(trace)
        }
    })
    .await;

    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s.name.starts_with(name))
            .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
    };
    let parent_of = |s: &otlp::Span| {
        spans
            .iter()
            .find(|p| p.span_id == s.parent_span_id)
            .map(|p| p.name.clone())
    };

    let ingest = by_name("ingest.bmc receive");
    assert!(
        ingest.parent_span_id.is_empty(),
        "the storefront request is the root"
    );
    assert_eq!(ingest.kind, 2, "server span");
    let mapper = by_name("mapper.handle");
    assert_eq!(parent_of(mapper).as_deref(), Some("publish event"));
    assert_eq!(
        parent_of(by_name("publish event")).as_deref(),
        Some("ingest.bmc receive")
    );
    let writer = by_name("writer.handle");
    assert_eq!(
        parent_of(writer).as_deref(),
        Some("mapper.handle"),
        "the plan carries the mapper's context"
    );
    let upsert = by_name("ghl.upsert_contact");
    assert_eq!(parent_of(upsert).as_deref(), Some("writer.handle"));
    assert_eq!(upsert.kind, 3, "client span");
    let sandbox = by_name("sandbox POST /contacts/upsert");
    assert_eq!(
        parent_of(sandbox).as_deref(),
        Some("ghl.upsert_contact"),
        "GHL call carries traceparent"
    );
    assert_eq!(
        parent_of(by_name("sandbox POST /contacts/{contactId}/tags")).as_deref(),
        Some("ghl.add_tags")
    );

    // The writer's result names the trace.
    let results = stack
        .read(relay_contracts::StreamKind::Results, "res.>")
        .await;
    let result: serde_json::Value = serde_json::from_slice(&results[0].payload).unwrap();
    assert_eq!(result["trace_id"].as_str(), Some(ingest.trace_id.as_str()));
    assert_eq!(result["outcome"], "ok");
}
