//! The admin endpoint every service hosts on one port: gRPC `grpc.health.v1`, reflection and
//! `relay.admin.v1.Admin` (behind a bearer token), plus `GET /metrics` for Prometheus.
//!
//! Health is SERVING only while NATS is connected, the service's streams and consumers are
//! provisioned and it is not draining.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use metrics_exporter_prometheus::PrometheusHandle;
use relay_contracts::admin::admin_server::{Admin, AdminServer};
use relay_contracts::admin::{
    ConsumerStatus, GetStatusRequest, GetStatusResponse, NatsState, PauseRequest, PauseResponse,
    ResumeRequest, ResumeResponse, SetLogLevelRequest, SetLogLevelResponse,
};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::consumer::{ConsumerProbe, PauseControl};
use crate::nats::Nats;
use crate::telemetry::LogControl;

/// Readiness as a latch: set once the service is fully started, cleared when it drains.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    started: Arc<std::sync::atomic::AtomicBool>,
    draining: Arc<std::sync::atomic::AtomicBool>,
}

impl Readiness {
    pub fn mark_started(&self) {
        self.started
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn mark_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    fn started(&self) -> bool {
        self.started.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Everything the admin API reports on and controls.
#[derive(Clone)]
pub struct AdminState {
    pub service: &'static str,
    pub version: &'static str,
    started_at: Instant,
    pub nats: Nats,
    pub readiness: Readiness,
    pub pause: PauseControl,
    consumers: Arc<RwLock<Vec<ConsumerProbe>>>,
    details: Arc<RwLock<BTreeMap<String, String>>>,
    log: LogControl,
    token: SecretString,
}

impl AdminState {
    pub fn new(service: &'static str, nats: Nats, token: SecretString, log: LogControl) -> Self {
        Self {
            service,
            version: env!("CARGO_PKG_VERSION"),
            started_at: Instant::now(),
            nats,
            readiness: Readiness::default(),
            pause: PauseControl::default(),
            consumers: Arc::default(),
            details: Arc::default(),
            log,
            token,
        }
    }

    pub fn add_consumer(&self, probe: ConsumerProbe) {
        self.consumers.write().expect("consumers lock").push(probe);
    }

    /// Stops reporting a consumer (a writer partition this replica no longer holds).
    pub fn remove_consumer(&self, name: &str) {
        self.consumers
            .write()
            .expect("consumers lock")
            .retain(|p| p.name != name);
    }

    pub fn set_detail(&self, key: impl Into<String>, value: impl Into<String>) {
        self.details
            .write()
            .expect("details lock")
            .insert(key.into(), value.into());
    }

    /// Ready to do work: connected, provisioned, started and not draining.
    pub fn is_ready(&self) -> bool {
        self.nats.is_connected()
            && self.nats.is_provisioned()
            && self.readiness.started()
            && !self.readiness.is_draining()
    }

    pub async fn status(&self) -> GetStatusResponse {
        let probes = self.consumers.read().expect("consumers lock").clone();
        let mut consumers = Vec::with_capacity(probes.len());
        for p in probes {
            // Lag comes from the server; when it cannot be asked (NATS down) report what we know.
            let lag = tokio::time::timeout(Duration::from_secs(2), p.lag())
                .await
                .ok()
                .and_then(Result::ok);
            let lag = lag.unwrap_or_default();
            use std::sync::atomic::Ordering::Relaxed;
            consumers.push(ConsumerStatus {
                stream: p.stream.clone(),
                consumer: p.name.clone(),
                pending: lag.pending,
                ack_pending: lag.ack_pending,
                redelivered: lag.redelivered,
                acked: p.stats.acked.load(Relaxed),
                retried: p.stats.retried.load(Relaxed),
                dead_lettered: p.stats.dead_lettered.load(Relaxed),
                paused: self.pause.is_paused(),
            });
        }
        let nats = match self.nats.state() {
            State::Connected => NatsState::Connected,
            State::Disconnected => NatsState::Disconnected,
            State::Pending => NatsState::Pending,
        };
        GetStatusResponse {
            service: self.service.to_owned(),
            version: self.version.to_owned(),
            uptime_seconds: self.started_at.elapsed().as_secs(),
            nats: nats as i32,
            ready: self.is_ready(),
            paused: self.pause.is_paused(),
            consumers,
            details: self
                .details
                .read()
                .expect("details lock")
                .clone()
                .into_iter()
                .collect(),
        }
    }
}

struct AdminService {
    state: AdminState,
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn get_status(
        &self,
        _: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        Ok(Response::new(self.state.status().await))
    }

    async fn pause(&self, _: Request<PauseRequest>) -> Result<Response<PauseResponse>, Status> {
        if !self.state.pause.pause(Duration::from_secs(30)).await {
            return Err(Status::deadline_exceeded(
                "paused, but in-flight work has not finished yet",
            ));
        }
        tracing::info!(service = self.state.service, "paused by admin request");
        Ok(Response::new(PauseResponse { paused: true }))
    }

    async fn resume(&self, _: Request<ResumeRequest>) -> Result<Response<ResumeResponse>, Status> {
        self.state.pause.resume();
        tracing::info!(service = self.state.service, "resumed by admin request");
        Ok(Response::new(ResumeResponse { paused: false }))
    }

    async fn set_log_level(
        &self,
        req: Request<SetLogLevelRequest>,
    ) -> Result<Response<SetLogLevelResponse>, Status> {
        let filter = req.into_inner().filter;
        self.state
            .log
            .set(&filter)
            .map_err(Status::invalid_argument)?;
        tracing::info!(filter = %filter, "log filter changed by admin request");
        Ok(Response::new(SetLogLevelResponse { filter }))
    }
}

/// Checks `authorization: Bearer <token>` in constant time.
fn check_token(token: &SecretString, req: &Request<()>) -> Result<(), Status> {
    let presented = req
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Status::unauthenticated("missing admin token (authorization: Bearer <token>)")
        })?;
    if crate::secret::constant_time_eq(presented.as_bytes(), token) {
        Ok(())
    } else {
        Err(Status::unauthenticated("invalid admin token"))
    }
}

/// A bound admin server; [`AdminServer::run`] serves until `shutdown` fires.
pub struct AdminEndpoint {
    listener: TcpListener,
    state: AdminState,
    metrics: PrometheusHandle,
    /// Service-specific gRPC APIs (the mapper's connections/preview/replay).
    extra: Vec<AddRoutes>,
}

/// Adds one service to the admin port's routes.
type AddRoutes = Box<dyn FnOnce(tonic::service::Routes) -> tonic::service::Routes + Send>;

impl AdminEndpoint {
    pub async fn bind(addr: SocketAddr, state: AdminState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            state,
            metrics: crate::metrics::install(),
            extra: Vec::new(),
        })
    }

    /// Hosts another gRPC service on the admin port, behind the same bearer token.
    pub fn add_service<S>(&mut self, svc: S)
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let token = self.state.token.clone();
        let svc =
            tonic::service::interceptor::InterceptedService::new(svc, move |req: Request<()>| {
                check_token(&token, &req).map(|()| req)
            });
        self.extra
            .push(Box::new(move |routes| routes.add_service(svc)));
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(relay_contracts::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(std::io::Error::other)?;
        let token = self.state.token.clone();
        let admin = AdminServer::with_interceptor(
            AdminService {
                state: self.state.clone(),
            },
            move |req| check_token(&token, &req).map(|()| req),
        );
        let metrics = self.metrics.clone();
        let routes = tonic::service::Routes::new(health_service)
            .add_service(reflection)
            .add_service(admin);
        let router = self
            .extra
            .into_iter()
            .fold(routes, |routes, add| add(routes))
            .prepare()
            .into_axum_router()
            .route(
                "/metrics",
                axum::routing::get(move || std::future::ready(metrics.render())),
            );

        // tonic-health reports the overall service SERVING from the start; a probe must not see
        // that before the service is actually ready.
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        reporter
            .set_service_status(self.state.service, ServingStatus::NotServing)
            .await;
        let health_task =
            tokio::spawn(track_health(self.state.clone(), reporter, shutdown.clone()));
        let result = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        health_task.abort();
        result
    }
}

/// Keeps `grpc.health.v1` in step with readiness (overall and under the service's name).
async fn track_health(state: AdminState, reporter: HealthReporter, shutdown: CancellationToken) {
    let mut connection = state.nats.connection_changes();
    let mut last = None;
    loop {
        let status = if state.is_ready() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if last != Some(status) {
            reporter.set_service_status("", status).await;
            reporter.set_service_status(state.service, status).await;
            tracing::info!(service = state.service, ?status, "health changed");
            last = Some(status);
        }
        tokio::select! {
            () = shutdown.cancelled() => {
                reporter.set_service_status("", ServingStatus::NotServing).await;
                return;
            }
            _ = connection.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}
