//! The ingest HTTP server: `POST /hooks/{connection}`, `GET /healthz`, plus the admin endpoint.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use relay_common::SecretRef;
use relay_common::admin::{AdminEndpoint, AdminState};
use relay_common::config::process_env;
use relay_common::nats::Nats;
use relay_common::registry::{Decoder, Registry};
use relay_common::telemetry::LogControl;
use relay_contracts::event::RawRef;
use relay_contracts::ids::EventId;
use relay_contracts::version::V1;
use relay_contracts::{Bucket, ConnectionSpec, StorefrontEvent, Token, headers};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tracing::Instrument;

use crate::config::IngestConfig;
use crate::delivery::{Delivery, Normalized, Verified};
use crate::error::IngestError;
use crate::{ConnectionContext, Storefront};

/// Request headers worth keeping with the RAW copy (never `authorization` or cookies). RAW holds
/// the body exactly as received, except that a storefront may redact a secret carried in the
/// body itself (ThriveCart's `thrivecart_secret`) while verifying.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "user-agent",
    "x-signature-sha256",
    "x-forwarded-for",
];

struct AppState<S> {
    storefront: S,
    nats: Nats,
    admin: AdminState,
    /// From the service's config (a static fallback) ...
    static_connections: BTreeMap<Token, Arc<Connection>>,
    /// ... and from the connections registry (`relayctl connections apply`), which wins.
    live_connections: tokio::sync::OnceCell<Registry<Connection>>,
    /// Keys accepted within the storefront's retry horizon, when that outlasts the streams'
    /// dedupe window (set once provisioned).
    ledger: tokio::sync::OnceCell<async_nats::jetstream::kv::Store>,
    use_ledger: bool,
}

struct Connection {
    secrets: Vec<SecretString>,
    context: ConnectionContext,
}

impl<S: Storefront> AppState<S> {
    /// The connection named `name`: the registry's when it has one, else the config's.
    fn connection(&self, name: &Token) -> Option<Arc<Connection>> {
        // Registry keys are `ConnectionSpec::key()`: `<source>.<name>`.
        let live = self
            .live_connections
            .get()
            .and_then(|r| r.get(&format!("{}.{name}", S::SOURCE)));
        live.or_else(|| self.static_connections.get(name).cloned())
    }
}

/// Decodes a stored connection for storefront `S`: its secrets resolved in this process's
/// environment, its time zone checked. Another storefront's connection is not ours.
fn decode_connection<S: Storefront>(
    _key: &str,
    value: &[u8],
) -> Result<Option<Connection>, String> {
    let spec: ConnectionSpec =
        serde_json::from_slice(value).map_err(|e| format!("not a connection: {e}"))?;
    if spec.source != S::SOURCE {
        return Ok(None);
    }
    let resolve = |r: &relay_contracts::connection::SecretReference| {
        SecretRef::try_from(r.as_str().to_owned())
            .map_err(|e| e.to_string())?
            .resolve(&process_env)
            .map_err(|e| e.to_string())
    };
    let Some(secret) = &spec.secret else {
        return Err(format!(
            "{} has no secret: ingest cannot verify its deliveries",
            spec.key()
        ));
    };
    let mut secrets = vec![resolve(secret)?];
    if let Some(prev) = &spec.previous_secret {
        secrets.push(resolve(prev)?);
    }
    let timezone = spec.timezone_name().map(str::to_owned);
    if let Some(tz) = &timezone
        && jiff::tz::db().get(tz).is_err()
    {
        return Err(format!("unknown IANA time zone {tz:?}"));
    }
    Ok(Some(Connection {
        secrets,
        context: ConnectionContext {
            name: spec.name.clone(),
            timezone,
        },
    }))
}

/// A bound ingest service, ready to [`run`](IngestServer::run).
pub struct IngestServer<S: Storefront> {
    listener: TcpListener,
    admin: AdminEndpoint,
    state: Arc<AppState<S>>,
    cfg: IngestConfig,
}

impl<S: Storefront> IngestServer<S> {
    /// Resolves secrets, connects to NATS (in the background if it is not up yet) and binds both
    /// listeners.
    pub async fn from_config(
        cfg: IngestConfig,
        storefront: S,
        log: LogControl,
    ) -> anyhow::Result<Self> {
        let mut connections = BTreeMap::new();
        for (name, c) in &cfg.connections {
            let mut secrets = vec![c.secret.resolve(&process_env)?];
            if let Some(prev) = &c.previous_secret {
                secrets.push(prev.resolve(&process_env)?);
            }
            let context = ConnectionContext {
                name: name.clone(),
                timezone: c.timezone.clone(),
            };
            connections.insert(name.clone(), Arc::new(Connection { secrets, context }));
        }
        let service = service_name(S::SOURCE);
        let nats = Nats::connect(&cfg.nats, service).await?;
        let admin_state = AdminState::new(
            service,
            nats.clone(),
            cfg.admin.token.resolve(&process_env)?,
            log,
        );
        let listener = TcpListener::bind(cfg.listen).await?;
        admin_state.set_detail("listen", listener.local_addr()?.to_string());
        admin_state.set_detail(
            "connections",
            connections
                .keys()
                .map(Token::as_str)
                .collect::<Vec<_>>()
                .join(","),
        );
        let admin = AdminEndpoint::bind(cfg.admin.listen, admin_state.clone()).await?;
        Ok(Self {
            listener,
            admin,
            state: Arc::new(AppState {
                storefront,
                nats,
                admin: admin_state,
                static_connections: connections,
                live_connections: tokio::sync::OnceCell::new(),
                ledger: tokio::sync::OnceCell::new(),
                use_ledger: S::RETRY_HORIZON > cfg.nats.duplicate_window,
            }),
            cfg,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    /// Serves until `shutdown` fires, then: stop accepting and finish in-flight requests, flush
    /// NATS, stop the admin endpoint.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let state = self.state.clone();
        let admin_stop = CancellationToken::new();
        let admin_task = tokio::spawn(self.admin.run(admin_stop.clone()));

        let provision = {
            let state = state.clone();
            let nats_cfg = self.cfg.nats.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                if state
                    .nats
                    .provision_until_ready(&nats_cfg, &shutdown)
                    .await
                    .is_err()
                {
                    return;
                }
                let decode: Decoder<Connection> = Arc::new(decode_connection::<S>);
                let Some(registry) = Registry::start_until_ready(
                    &state.nats,
                    Bucket::Connections,
                    nats_cfg.replicas,
                    "connections",
                    decode,
                    shutdown.clone(),
                )
                .await
                else {
                    return;
                };
                let _ = state.live_connections.set(registry);
                if state.use_ledger {
                    let Some(kv) = state
                        .nats
                        .bucket_until_ready(Bucket::IngestLedger, nats_cfg.replicas, &shutdown)
                        .await
                    else {
                        return;
                    };
                    let _ = state.ledger.set(kv);
                }
                state.admin.readiness.mark_started();
                tracing::info!(source = %S::SOURCE, ledger = state.use_ledger, "ingest ready");
            })
        };

        let app = router(state.clone(), &self.cfg);
        let serve = axum::serve(self.listener, app).with_graceful_shutdown({
            let shutdown = shutdown.clone();
            let state = state.clone();
            async move {
                shutdown.cancelled().await;
                state.admin.readiness.mark_draining();
            }
        });
        let served = serve.await;
        provision.abort();
        state.nats.flush().await;
        admin_stop.cancel();
        let _ = relay_common::shutdown::with_deadline(
            "admin",
            self.cfg.admin.drain_timeout,
            admin_task,
        )
        .await;
        served?;
        Ok(())
    }
}

fn service_name(source: relay_contracts::Source) -> &'static str {
    use relay_contracts::Source;
    match source {
        Source::Gumroad => "ingest-gumroad",
        Source::Thrivecart => "ingest-thrivecart",
        Source::Digistore24 => "ingest-digistore24",
        Source::Shift4shop => "ingest-shift4shop",
        Source::Bmc => "ingest-bmc",
    }
}

/// The server span's name per storefront (static: no allocation per request).
fn receive_span_name(source: relay_contracts::Source) -> &'static str {
    use relay_contracts::Source;
    match source {
        Source::Gumroad => "ingest.gumroad receive",
        Source::Thrivecart => "ingest.thrivecart receive",
        Source::Digistore24 => "ingest.digistore24 receive",
        Source::Shift4shop => "ingest.shift4shop receive",
        Source::Bmc => "ingest.bmc receive",
    }
}

fn router<S: Storefront>(state: Arc<AppState<S>>, cfg: &IngestConfig) -> Router {
    // Order matters (outermost first): a request over the timeout is answered 503; when
    // `max_concurrency` requests are in flight new ones are shed at once with 503 instead of
    // queueing (the storefront retries), so accepted requests keep a bounded latency.
    let overload = ServiceBuilder::new()
        .layer(axum::error_handling::HandleErrorLayer::new(
            |err: tower::BoxError| async move {
                let status = StatusCode::SERVICE_UNAVAILABLE;
                tracing::warn!(error.message = %err, "request shed or timed out");
                metrics::counter!("relay_ingest_shed_total").increment(1);
                (
                    status,
                    [(http::header::RETRY_AFTER, "5")],
                    axum::Json(serde_json::json!({"error": "overloaded, retry later"})),
                )
            },
        ))
        .timeout(cfg.request_timeout)
        .load_shed()
        .concurrency_limit(cfg.max_concurrency);
    Router::new()
        .route(
            "/hooks/{connection}",
            post(receive::<S>).get(probe::<S>).head(probe::<S>),
        )
        .route("/healthz", get(healthz::<S>))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(overload)
        .with_state(state)
}

/// Setup probes (ThriveCart `HEAD`, Digistore24 `GET`) for a known connection.
async fn probe<S: Storefront>(
    State(state): State<Arc<AppState<S>>>,
    Path(connection): Path<String>,
    method: http::Method,
) -> Response {
    let known = Token::parse(&connection).is_ok_and(|c| state.connection(&c).is_some());
    if !known {
        return IngestError::UnknownConnection(connection).into_response();
    }
    state.storefront.probe(&method).unwrap_or_else(|| {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            [(http::header::ALLOW, "POST")],
        )
            .into_response()
    })
}

async fn healthz<S: Storefront>(State(state): State<Arc<AppState<S>>>) -> Response {
    if state.admin.is_ready() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn receive<S: Storefront>(
    State(state): State<Arc<AppState<S>>>,
    Path(connection): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let source = S::SOURCE;
    let span = tracing::info_span!(
        "ingest.receive",
        otel.name = receive_span_name(source),
        otel.kind = "server",
        http.request.method = "POST",
        http.route = "/hooks/{connection}",
        relay.source = %source,
        relay.connection = %connection,
        relay.event_id = tracing::field::Empty,
        relay.kind = tracing::field::Empty,
        relay.raw_seq = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    relay_common::propagation::set_parent_from_http(&span, &headers);
    let started = Instant::now();
    // Resolved once: the handler's connection and a bounded metric label (never echo arbitrary
    // path segments into metrics).
    let resolved = Token::parse(&connection)
        .map_err(|e| IngestError::BadConnectionName(e.to_string()))
        .and_then(|name| match state.connection(&name) {
            Some(conn) => Ok((name, conn)),
            None => Err(IngestError::UnknownConnection(connection.clone())),
        });
    let metric_connection = if resolved.is_ok() {
        connection
    } else {
        "unknown".to_owned()
    };
    let result = handle(&state, resolved, query, headers, body)
        .instrument(span.clone())
        .await;
    let (response, outcome) = match result {
        Ok(accepted) => {
            let outcome = if accepted.duplicate {
                "duplicate"
            } else {
                "accepted"
            };
            let response = state.storefront.accepted(
                &accepted.normalized,
                &accepted.event_id,
                accepted.duplicate,
            );
            (response, outcome)
        }
        Err(e) => {
            let _g = span.enter();
            match &e {
                IngestError::Unavailable(_) => {
                    tracing::warn!(error.message = %e, "delivery refused")
                }
                _ => tracing::info!(error.message = %e, "delivery refused"),
            }
            let outcome = e.outcome();
            (e.into_response(), outcome)
        }
    };
    span.record("http.response.status_code", response.status().as_u16());
    metrics::counter!(
        "relay_ingest_deliveries_total",
        "source" => source.as_str(),
        "connection" => metric_connection.clone(),
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        "relay_ingest_request_seconds",
        "source" => source.as_str(),
        "connection" => metric_connection
    )
    .record(started.elapsed().as_secs_f64());
    response
}

struct Accepted {
    event_id: EventId,
    duplicate: bool,
    normalized: Normalized,
}

async fn handle<S: Storefront>(
    state: &AppState<S>,
    resolved: Result<(Token, Arc<Connection>), IngestError>,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Accepted, IngestError> {
    let (connection, conn) = resolved?;
    let delivery = Delivery::new(connection, headers, query, body);
    let verified = state.storefront.verify(delivery, &conn.secrets)?;
    if !state.admin.is_ready() {
        return Err(IngestError::Unavailable("not connected to NATS".into()));
    }
    let normalized = match state.storefront.normalize(&verified, &conn.context) {
        Ok(n) => n,
        Err(e) => {
            dead_letter_malformed(state, &verified, &e.to_string()).await;
            return Err(e.into());
        }
    };
    publish(state, &verified, normalized).await
}

/// Keeps a malformed (but authentic) delivery in the DLQ with the reason, for inspection and
/// redrive after a fix. Best effort: the storefront already gets a 400.
async fn dead_letter_malformed<S: Storefront>(
    state: &AppState<S>,
    d: &Delivery<Verified>,
    reason: &str,
) {
    let mut h = raw_headers(d);
    h.insert(headers::DLQ_REASON, reason);
    h.insert(headers::DLQ_STAGE, "ingest");
    let subject = state.nats.ns.dlq_ingest(S::SOURCE, &d.connection);
    if let Err(e) = state.nats.publish(subject, None, h, d.body.clone()).await {
        tracing::error!(error.message = %e, "cannot dead-letter malformed delivery");
    }
}

fn raw_headers(d: &Delivery<Verified>) -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    let kept: serde_json::Map<String, serde_json::Value> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            d.header(name)
                .map(|v| ((*name).to_owned(), serde_json::Value::from(v)))
        })
        .collect();
    if let Some(ct) = d.header("content-type") {
        h.insert(headers::CONTENT_TYPE, ct);
    }
    // The query can say which hook fired (Shift4Shop `?event=`): keep it, minus the secret.
    if let Some(q) = d.query.as_deref() {
        let kept: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| k != crate::verify::TOKEN_PARAM),
            )
            .finish();
        if !kept.is_empty() {
            h.insert(headers::RAW_QUERY, kept.as_str());
        }
    }
    h.insert(
        headers::RAW_HEADERS,
        serde_json::Value::Object(kept).to_string().as_str(),
    );
    h
}

async fn publish<S: Storefront>(
    state: &AppState<S>,
    d: &Delivery<Verified>,
    n: Normalized,
) -> Result<Accepted, IngestError> {
    let source = S::SOURCE;
    let event_id = EventId::derive(&[source.as_str(), d.connection.as_str(), &n.idempotency_key]);
    tracing::Span::current().record("relay.event_id", event_id.as_str());
    tracing::Span::current().record("relay.kind", n.kind.as_str());
    let unavailable = |e: relay_common::nats::NatsError| IngestError::Unavailable(e.to_string());

    // Beyond the streams' dedupe window, the ledger remembers what was accepted.
    let ledger_key = format!("{source}.{}.{}", d.connection, event_id);
    let ledger = if state.use_ledger {
        state.ledger.get()
    } else {
        None
    };
    if state.use_ledger && ledger.is_none() {
        return Err(IngestError::Unavailable("ingest ledger not ready".into()));
    }
    if let Some(kv) = ledger {
        match kv.get(&ledger_key).await {
            Ok(Some(_)) => {
                metrics::counter!("relay_ingest_ledger_hits_total", "source" => source.as_str())
                    .increment(1);
                return Ok(Accepted {
                    event_id,
                    duplicate: true,
                    normalized: n,
                });
            }
            Ok(None) => {}
            Err(e) => return Err(IngestError::Unavailable(format!("ingest ledger: {e}"))),
        }
    }
    let normalized = n.clone();

    // RAW first: the exact bytes, deduped on the same key as the event. No span of its own
    // (nothing consumes RAW live): its sequence is recorded on the request's span.
    let raw_ack = state
        .nats
        .publish(
            state.nats.ns.raw(source, &d.connection),
            Some(&format!("raw:{event_id}")),
            raw_headers(d),
            d.body.clone(),
        )
        .await
        .map_err(unavailable)?;
    tracing::Span::current().record("relay.raw_seq", raw_ack.sequence);

    let event = StorefrontEvent {
        v: V1,
        id: event_id.clone(),
        source,
        connection: d.connection.clone(),
        kind: n.kind,
        occurred_at: n.occurred_at.unwrap_or(d.received_at),
        received_at: d.received_at,
        idempotency_key: n.idempotency_key,
        test: n.test,
        source_event: n.source_event,
        customer: n.customer,
        order: n.order,
        subscription: n.subscription,
        message: n.message,
        attributes: n.attributes,
        raw: Some(RawRef {
            stream: raw_ack.stream.clone(),
            seq: raw_ack.sequence,
        }),
    };
    let payload =
        serde_json::to_vec(&event).map_err(|e| IngestError::Unavailable(e.to_string()))?;
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::CONTENT_TYPE, "application/json");
    let ack = state
        .nats
        .publish(
            state.nats.ns.event(source, &d.connection, event.kind),
            Some(event_id.as_str()),
            h,
            payload.into(),
        )
        .instrument(tracing::info_span!(
            "nats.publish",
            otel.name = "publish event",
            otel.kind = "producer",
            messaging.system = "nats"
        ))
        .await
        .map_err(unavailable)?;
    if let Some(kv) = ledger {
        // After both acks: a failure here only weakens dedupe beyond the window, so the
        // delivery is still accepted.
        if let Err(e) = kv.put(&ledger_key, bytes::Bytes::from_static(b"1")).await {
            tracing::warn!(error.message = %e, "cannot record the delivery in the ingest ledger");
        }
    }
    Ok(Accepted {
        event_id,
        duplicate: ack.duplicate,
        normalized,
    })
}
