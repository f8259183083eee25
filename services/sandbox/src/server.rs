//! The HTTP server: routes, the per-request tracing span, and the gate every GHL API request
//! passes (simulated latency → injected faults → token → `Version` → rate limit → handler),
//! which also writes the request log.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::auth::{self, TokenKind};
use crate::config::SandboxConfig;
use crate::error::Error;
use crate::requests::RequestRecord;
use crate::routes;
use crate::state::SandboxState;

/// Largest request body accepted (Express' default JSON limit is smaller; GHL's is unknown).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A bound, not yet running, sandbox.
#[derive(Debug)]
pub struct Sandbox {
    listener: TcpListener,
    addr: SocketAddr,
    state: SandboxState,
}

impl Sandbox {
    /// Binds `cfg.listen` and builds the state (seeding the demo location when configured).
    pub async fn bind(cfg: SandboxConfig) -> io::Result<Sandbox> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        // Counters are recorded from the first request; `/metrics` renders them.
        let _ = relay_common::metrics::install();
        Ok(Self {
            listener,
            addr,
            state: SandboxState::new(&cfg),
        })
    }

    /// The address actually bound (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle on the state, usable before and while the server runs.
    pub fn state(&self) -> SandboxState {
        self.state.clone()
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, cuts simulated delays short
    /// and waits for in-flight requests.
    pub async fn run(self, shutdown: CancellationToken) -> io::Result<()> {
        let state = self.state.clone();
        let signal = async move {
            shutdown.cancelled().await;
            state.shutting_down();
        };
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(signal)
            .await
    }
}

/// The sandbox's routes with their middleware, over `state`.
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .merge(routes::contacts::router())
        .merge(routes::control::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::not_found)
        // `Router::layer` wraps each route after routing, so both see `MatchedPath`; the last
        // layer added runs first: the span covers the gate.
        .layer(from_fn_with_state(state.clone(), ghl_gate))
        .layer(from_fn(trace_request))
        .with_state(state)
}

/// Whether a path is part of the simulated GHL API (everything but control and probes).
fn is_ghl_path(path: &str) -> bool {
    !(path.starts_with("/_sandbox") || path == "/healthz" || path == "/metrics")
}

/// Runs each request in a server span whose parent comes from the incoming `traceparent`, and
/// counts it in `sandbox_requests_total{route,status}`.
async fn trace_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let span = tracing::info_span!(
        "sandbox.request",
        otel.name = %format!("sandbox {method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %req.uri().path(),
        http.response.status_code = tracing::field::Empty,
    );
    relay_common::propagation::set_parent_from_http(&span, req.headers());
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    metrics::counter!("sandbox_requests_total", "route" => route, "status" => status.as_u16().to_string()).increment(1);
    response
}

/// The gate in front of every GHL API route; control routes pass straight through.
async fn ghl_gate(State(state): State<SandboxState>, req: Request, next: Next) -> Response {
    if !is_ghl_path(req.uri().path()) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let mut record = RequestRecord {
        seq: 0,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        route: parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned()),
        status: 0,
        location_id: None,
        token_kind: TokenKind::None,
        traceparent: header_string(&parts.headers, "traceparent"),
        body: None,
        fault_id: None,
        duration_ms: 0,
        timestamp: OffsetDateTime::now_utc(),
    };
    let response = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            record.body = serde_json::from_slice(&bytes).ok();
            gate(&state, parts, bytes, next, &mut record).await
        }
        Err(_) => Error::PayloadTooLarge.into_response(),
    };
    record.status = response.status().as_u16();
    record.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::debug!(
        http.response.status_code = record.status,
        location_id = record.location_id.as_deref(),
        fault_id = record.fault_id,
        "ghl request"
    );
    state.record(record);
    response
}

async fn gate(
    state: &SandboxState,
    mut parts: Parts,
    body: Bytes,
    next: Next,
    record: &mut RequestRecord,
) -> Response {
    state.sleep(state.latency()).await;
    if let Some(fault) = state.take_fault(parts.method.as_str(), parts.uri.path()) {
        record.fault_id = Some(fault.id);
        state.sleep(fault.delay).await;
        if let Some(error) = fault.error {
            return error.into_response();
        }
    }
    let caller = match state.authenticate(&parts.headers) {
        Ok(caller) => caller,
        Err((error, kind)) => {
            record.token_kind = kind;
            return error.into_response();
        }
    };
    record.token_kind = caller.kind;
    record.location_id = Some(caller.location_id.clone());
    if let Err(error) = auth::check_version(&parts.headers) {
        return error.into_response();
    }
    let verdict = state.check_rate(&caller);
    let mut response = if verdict.allowed {
        parts.extensions.insert(caller);
        next.run(Request::from_parts(parts, Body::from(body))).await
    } else {
        Error::RateLimited.into_response()
    };
    verdict.headers.apply(response.headers_mut());
    response
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
