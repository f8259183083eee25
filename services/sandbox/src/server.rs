//! The HTTP server: routes, the per-request tracing span, and the gate every API request
//! passes (simulated latency → injected faults → token → `Version` → rate limit → handler),
//! which also writes the request log. Three surfaces go through the gate: the GHL API (all of
//! it), `POST /oauth/token` (no token, `Version` or rate limit) and the Shift4Shop API under
//! `/shift4shop` (its own header authentication, in the handlers). Control endpoints and
//! probes bypass it.
//!
//! The listener wraps each TCP connection so an injected `reset` fault can abort it with a
//! TCP RST (`SO_LINGER` 0) instead of answering.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::auth::{self, TokenKind};
use crate::config::SandboxConfig;
use crate::error::Error;
use crate::faults::{Effect, FaultKind, Target};
use crate::persist;
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
    persist: Option<Persist>,
}

/// Where and how often the state is saved (`SandboxConfig::data_file`).
#[derive(Debug)]
struct Persist {
    path: PathBuf,
    every: Duration,
    /// The change mark the file holds (`None`: there is no file yet).
    saved: Option<u64>,
}

impl Sandbox {
    /// Binds `cfg.listen` and builds the state: read from `cfg.data_file` when it exists,
    /// otherwise fresh (seeding the demo data when configured). A data file that cannot be
    /// read is an error.
    pub async fn bind(cfg: SandboxConfig) -> io::Result<Sandbox> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        // Counters are recorded from the first request; `/metrics` renders them.
        let _ = relay_common::metrics::install();
        let state = SandboxState::new(&cfg);
        let persist = match cfg.data_file {
            Some(path) => {
                let loaded = state.restore(&path)?;
                Some(Persist {
                    path,
                    every: cfg.persist_interval,
                    saved: loaded.then(|| state.change_mark()),
                })
            }
            None => None,
        };
        Ok(Self {
            listener,
            addr,
            state,
            persist,
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

    /// Serves until `shutdown` is cancelled, then stops accepting, cuts simulated delays and
    /// hangs short and waits for in-flight requests; with a data file, saves changes
    /// periodically meanwhile and once more at the end.
    pub async fn run(self, shutdown: CancellationToken) -> io::Result<()> {
        let state = self.state.clone();
        let stop_saving = CancellationToken::new();
        let saver = self.persist.map(|p| {
            let task = tokio::spawn(persist::run(
                state.clone(),
                p.path.clone(),
                p.every,
                p.saved,
                stop_saving.clone(),
            ));
            (p.path, task)
        });
        let signal = {
            let state = state.clone();
            async move {
                shutdown.cancelled().await;
                state.shutting_down();
            }
        };
        let served = axum::serve(
            SandboxListener(self.listener),
            router(self.state).into_make_service_with_connect_info::<ConnHandle>(),
        )
        .with_graceful_shutdown(signal)
        .await;
        if let Some((path, task)) = saver {
            stop_saving.cancel();
            let saved = task.await.map_err(io::Error::other)?;
            if saved != Some(state.change_mark()) {
                persist::save(&state, &path).await?;
            }
        }
        served
    }
}

/// A connection's reset switch, reachable from its requests (`ConnectInfo<ConnHandle>`).
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnHandle(Arc<AtomicBool>);

impl ConnHandle {
    /// Makes the connection fail its next read or write and close with a TCP reset.
    pub(crate) fn reset(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_reset(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl Connected<IncomingStream<'_, SandboxListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, SandboxListener>) -> Self {
        stream.io().handle.clone()
    }
}

/// The TCP listener, handing out resettable streams with `TCP_NODELAY`.
#[derive(Debug)]
pub(crate) struct SandboxListener(TcpListener);

impl Listener for SandboxListener {
    type Io = ResettableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    // Responses are small: do not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    return (
                        ResettableStream {
                            inner: stream,
                            handle: ConnHandle::default(),
                        },
                        addr,
                    );
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Out of file descriptors and the like: wait for some to be released.
                    tracing::error!(error.message = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A TCP stream that, once its handle is reset, fails every read and write; dropping it then
/// sends a RST because `SO_LINGER` is set to 0 first.
#[derive(Debug)]
pub(crate) struct ResettableStream {
    inner: TcpStream,
    handle: ConnHandle,
}

impl ResettableStream {
    fn check(&self) -> io::Result<()> {
        if self.handle.is_reset() {
            // A linger of 0 makes the close send RST rather than FIN; it cannot block.
            let _ = self.inner.set_zero_linger();
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "injected connection reset",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The sandbox's routes with their middleware, over `state`. Served without the sandbox's own
/// listener (as here), `reset` faults answer 502 instead of resetting the connection.
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .merge(routes::contacts::router())
        .merge(routes::extras::router())
        .merge(routes::search::router())
        .merge(routes::locations::router())
        .merge(routes::oauth::router())
        .merge(routes::shift4shop::router())
        .merge(routes::control::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::not_found)
        // `Router::layer` wraps each route after routing, so both see `MatchedPath`; the last
        // layer added runs first: the span covers the gate.
        .layer(from_fn_with_state(state.clone(), api_gate))
        .layer(from_fn(trace_request))
        .with_state(state)
}

/// Which part of the sandbox a path belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Surface {
    /// `/_sandbox/...`, `/healthz`, `/metrics`: no gate.
    Control,
    /// The GHL API: token, `Version`, rate limits.
    Ghl,
    /// `POST /oauth/token`: no bearer token, no `Version`.
    OAuth,
    /// `/shift4shop/...`: header authentication in the handlers.
    Shift4Shop,
}

fn surface(path: &str) -> Surface {
    if path.starts_with("/_sandbox") || path == "/healthz" || path == "/metrics" {
        Surface::Control
    } else if path == "/shift4shop" || path.starts_with("/shift4shop/") {
        Surface::Shift4Shop
    } else if path == "/oauth/token" {
        Surface::OAuth
    } else {
        Surface::Ghl
    }
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

/// The gate in front of every API route; control routes pass straight through.
async fn api_gate(State(state): State<SandboxState>, req: Request, next: Next) -> Response {
    let surface = surface(req.uri().path());
    // Marked once answered: a save that sees the mark also holds the change.
    let writes = persist::may_write(req.method(), req.uri().path());
    if surface == Surface::Control {
        let response = next.run(req).await;
        if writes {
            state.mark_changed();
        }
        return response;
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
        timestamp: state.clock().now_utc(),
    };
    let mut raw = Bytes::new();
    let response = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            raw = bytes.clone();
            gate(&state, surface, parts, bytes, next, &mut record).await
        }
        Err(_) => Error::PayloadTooLarge.into_response(),
    };
    record.status = response.status().as_u16();
    record.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::debug!(
        http.response.status_code = record.status,
        location_id = record.location_id.as_deref(),
        fault_id = record.fault_id,
        "api request"
    );
    state.record(record, raw);
    if writes {
        state.mark_changed();
    }
    response
}

async fn gate(
    state: &SandboxState,
    surface: Surface,
    mut parts: Parts,
    body: Bytes,
    next: Next,
    record: &mut RequestRecord,
) -> Response {
    state.sleep(state.latency()).await;
    let token_location = (surface == Surface::Ghl && state.has_location_faults())
        .then(|| state.token_location(&parts.headers))
        .flatten();
    let mut forced_429 = false;
    let fault = state.take_fault(Target {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        location_id: token_location.as_deref(),
    });
    if let Some(fault) = fault {
        record.fault_id = Some(fault.id);
        state.sleep(fault.delay).await;
        match fault.effect {
            Effect::Pass => {}
            Effect::Fail(error) => return error.into_response(),
            Effect::Kind(FaultKind::Hang) => {
                state.hang().await;
                return Error::Injected {
                    status: StatusCode::GATEWAY_TIMEOUT,
                    message: Some("the sandbox stopped while the request hung".into()),
                }
                .into_response();
            }
            Effect::Kind(FaultKind::Reset) => {
                return match parts.extensions.get::<ConnectInfo<ConnHandle>>() {
                    Some(ConnectInfo(conn)) => {
                        conn.reset();
                        // Never written: the connection fails first.
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    }
                    None => Error::Injected {
                        status: StatusCode::BAD_GATEWAY,
                        message: Some("connection reset (not available on this listener)".into()),
                    }
                    .into_response(),
                };
            }
            Effect::Kind(FaultKind::ExpireToken) => {
                if surface != Surface::Ghl || !state.expire_request_token(&parts.headers) {
                    record.token_kind = TokenKind::Expired;
                    return Error::ExpiredToken.into_response();
                }
            }
            Effect::Kind(FaultKind::RateLimit) => forced_429 = true,
        }
    }
    if surface != Surface::Ghl {
        return next.run(Request::from_parts(parts, Body::from(body))).await;
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
    // Agency tokens reach the agency endpoints only, and only they do.
    if (caller.kind == TokenKind::Agency) != routes::oauth::is_agency_path(parts.uri.path()) {
        return Error::ScopeNotAuthorized.into_response();
    }
    if let Err(error) = auth::check_version(&parts.headers) {
        return error.into_response();
    }
    if forced_429 {
        let mut response = Error::RateLimited.into_response();
        state.exhausted(&caller).apply(response.headers_mut());
        return response;
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
