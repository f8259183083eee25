//! Each request runs in a server span whose parent is the incoming W3C `traceparent`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{SpanId, SpanKind, TraceId, TracerProvider as _};
use opentelemetry::{KeyValue, Value as OtelValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use relay_sandbox::DEMO_LOCATION_ID;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

use crate::helpers::{TestSandbox, send};

/// Keeps every exported span.
#[derive(Clone, Debug, Default)]
struct Captured(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Captured {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().expect("span list").extend(batch);
        Ok(())
    }
}

impl Captured {
    async fn span_named(&self, name: &str) -> SpanData {
        for _ in 0..100 {
            if let Some(span) = self
                .0
                .lock()
                .expect("span list")
                .iter()
                .find(|s| s.name == name)
            {
                return span.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let names: Vec<String> = self
            .0
            .lock()
            .expect("span list")
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        panic!("no span {name:?} among {names:?}");
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<OtelValue> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

// A current-thread runtime (the default): the server's tasks run on this thread, under the
// thread-local subscriber set below.
#[tokio::test]
async fn requests_run_in_a_server_span_parented_by_the_incoming_traceparent() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = Captured::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("it")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let sb = TestSandbox::start().await;
    // Other tests (threads without a subscriber) may register the server's span callsites
    // concurrently with `set_default` above and cache them as disabled: touch them, then
    // recompute every callsite's interest with this thread's subscriber alive.
    let _ = sb.http.get(sb.url("/healthz")).send().await;
    tracing::callsite::rebuild_interest_cache();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, body) = send(
        sb.ghl(Method::POST, "/contacts/upsert")
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .json(&json!({"locationId": DEMO_LOCATION_ID, "email": "trace@x.io"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["traceId"], trace_id,
        "the response's traceId is the request's trace"
    );

    let span = exporter.span_named("sandbox POST /contacts/upsert").await;
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex(trace_id).unwrap()
    );
    assert_eq!(
        span.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap()
    );
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(OtelValue::I64(200))
    );
    assert_eq!(
        attribute(&span, "http.request.method").map(|v| v.to_string()),
        Some("POST".into())
    );
    assert_eq!(
        attribute(&span, "url.path").map(|v| v.to_string()),
        Some("/contacts/upsert".into())
    );

    let (status, _) = send(sb.ghl(Method::GET, "/contacts/AAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let span = exporter
        .span_named("sandbox GET /contacts/{contactId}")
        .await;
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(OtelValue::I64(404))
    );
}
