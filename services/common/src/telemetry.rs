//! One call sets up logs and traces: an `EnvFilter` (reloadable at runtime through the admin
//! API), text or JSON logs, and, when an endpoint is configured, an OTLP/gRPC span exporter with
//! the W3C trace-context propagator.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::{LogFormat, TelemetryConfig};

type SetFilter = dyn Fn(&str) -> Result<(), String> + Send + Sync;

/// Changes the log filter of a running process.
#[derive(Clone)]
pub struct LogControl {
    handle: Arc<SetFilter>,
}

impl LogControl {
    pub fn set(&self, filter: &str) -> Result<(), String> {
        (self.handle)(filter)
    }

    /// A control that refuses changes (when telemetry was set up by someone else, e.g. a test).
    pub fn unavailable() -> Self {
        Self {
            handle: Arc::new(|_| Err("log level is not adjustable in this process".to_owned())),
        }
    }
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogControl")
    }
}

/// Flushes and shuts the tracer down when dropped (or on [`TelemetryGuard::shutdown`]).
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    pub log_control: LogControl,
}

impl TelemetryGuard {
    /// Exports every finished span now.
    pub fn flush(&self) {
        if let Some(p) = &self.provider {
            let _ = p.force_flush();
        }
    }

    pub fn shutdown(mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.force_flush();
            let _ = p.shutdown();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Sets up the global subscriber, tracer provider and propagator. Call once, from `main` (or
/// once per test process).
pub fn init(
    cfg: &TelemetryConfig,
    service: &'static str,
    rust_log: Option<String>,
) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let directive = rust_log
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| cfg.log_filter.clone());
    let filter = EnvFilter::try_new(&directive)?;
    let (filter, reload_handle) = reload::Layer::new(filter);

    let fmt_layer = match cfg.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_target(true).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };

    let provider = match &cfg.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.as_str().trim_end_matches('/'))
                .build()?;
            let processor = BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_scheduled_delay(cfg.export_delay)
                        .with_max_queue_size(cfg.max_queue_size)
                        .build(),
                )
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                        cfg.sample_ratio,
                    ))))
                    .with_span_processor(processor)
                    .with_resource(
                        Resource::builder()
                            .with_service_name(service)
                            .with_attribute(KeyValue::new(
                                "service.version",
                                env!("CARGO_PKG_VERSION"),
                            ))
                            .build(),
                    )
                    .build(),
            )
        }
        None => None,
    };
    // Traces have their own filter: turning logs down (`warn`) must not turn tracing off.
    let otel_layer = provider.as_ref().map(|p| {
        opentelemetry::global::set_tracer_provider(p.clone());
        // Spans carry what Jaeger users read (names, relay.* and semconv fields). Thread ids,
        // code locations and busy/idle timing (a clock read at every poll of an instrumented
        // future) cost CPU on every span and say little about a delivery.
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_filter(EnvFilter::new(&cfg.trace_filter))
    });

    Registry::default()
        .with(fmt_layer.with_filter(filter))
        .with(otel_layer)
        .try_init()?;

    let log_control = LogControl {
        handle: Arc::new(move |directive: &str| {
            let f = EnvFilter::try_new(directive).map_err(|e| e.to_string())?;
            reload_handle.reload(f).map_err(|e| e.to_string())
        }),
    };
    Ok(TelemetryGuard {
        provider,
        log_control,
    })
}

/// The W3C trace id of the current span, if it is being traced (for results and logs).
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = tracing::Span::current().context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}
