//! An in-process OTLP/gRPC trace receiver.
//!
//! [`init_tracing`] starts one receiver per process (on its own thread and runtime, so it
//! outlives any single test's runtime) and installs Relay's telemetry pointing at it. Tests
//! then read the collected spans with [`spans`] and [`flush`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use relay_common::config::TelemetryConfig;
use relay_common::telemetry::TelemetryGuard;

/// One exported span, flattened for assertions.
#[derive(Clone, Debug)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// OTLP span kind (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    pub attributes: HashMap<String, String>,
}

static SPANS: Mutex<Vec<Span>> = Mutex::new(Vec::new());
/// When set, received spans are counted, not kept (benchmarks: the receiver stands in for a
/// collector on another machine, so it should cost as little as possible here).
static DISCARD: AtomicBool = AtomicBool::new(false);
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
static RECEIVER: OnceLock<SocketAddr> = OnceLock::new();
static GUARD: OnceLock<TelemetryGuard> = OnceLock::new();

struct Receiver;

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        if DISCARD.load(Ordering::Relaxed) {
            let n: usize = request
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum();
            RECEIVED.fetch_add(n, Ordering::Relaxed);
            return Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }));
        }
        let mut out = SPANS.lock().unwrap();
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                for s in ss.spans {
                    let attributes = s
                        .attributes
                        .iter()
                        .map(|kv| {
                            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(Value::StringValue(s)) => s.clone(),
                                Some(Value::IntValue(i)) => i.to_string(),
                                Some(Value::BoolValue(b)) => b.to_string(),
                                Some(Value::DoubleValue(d)) => d.to_string(),
                                other => format!("{other:?}"),
                            };
                            (kv.key.clone(), v)
                        })
                        .collect();
                    RECEIVED.fetch_add(1, Ordering::Relaxed);
                    out.push(Span {
                        trace_id: hex::encode(&s.trace_id),
                        span_id: hex::encode(&s.span_id),
                        parent_span_id: hex::encode(&s.parent_span_id),
                        name: s.name,
                        kind: s.kind,
                        attributes,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn start_receiver() -> SocketAddr {
    *RECEIVER.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(Receiver))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                    .await
                    .unwrap();
            });
        });
        addr
    })
}

/// Installs Relay's telemetry once per process, exporting to the in-process receiver.
pub fn init_tracing() {
    let addr = start_receiver();
    GUARD.get_or_init(|| {
        let cfg = TelemetryConfig {
            otlp_endpoint: Some(format!("http://{addr}").parse().unwrap()),
            export_delay: Duration::from_millis(100),
            log_filter: "info,relay=debug".into(),
            ..Default::default()
        };
        #[allow(clippy::disallowed_methods)] // the test process's own log filter
        let rust_log = std::env::var("RUST_LOG").ok();
        // `RELAY_TEST_TRACE_FILTER=off` measures the cost of tracing (benchmarks).
        #[allow(clippy::disallowed_methods)]
        let cfg = match std::env::var("RELAY_TEST_TRACE_FILTER") {
            Ok(filter) => TelemetryConfig {
                trace_filter: filter,
                ..cfg
            },
            Err(_) => cfg,
        };
        relay_common::telemetry::init(&cfg, "relay-tests", rust_log).unwrap()
    });
}

/// Exports every finished span now.
pub fn flush() {
    if let Some(g) = GUARD.get() {
        g.flush();
    }
}

/// From now on, count received spans without keeping them (see [`received`]).
pub fn discard_spans() {
    DISCARD.store(true, Ordering::Relaxed);
}

/// How many spans the receiver got so far (kept or discarded).
pub fn received() -> usize {
    RECEIVED.load(Ordering::Relaxed)
}

/// Every span received so far.
pub fn spans() -> Vec<Span> {
    SPANS.lock().unwrap().clone()
}

/// The spans of one trace.
pub fn trace(trace_id: &str) -> Vec<Span> {
    spans()
        .into_iter()
        .filter(|s| s.trace_id == trace_id)
        .collect()
}
