//! The lifecycle every consuming service (mapper, writer, ...) shares: connect, host the admin
//! endpoint, provision streams and the durable consumer, run the consumer loop, and shut down
//! in order (stop pulling and finish in-flight work → flush NATS → admin and health last).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use relay_contracts::StreamKind;
use tokio_util::sync::CancellationToken;

use crate::admin::{AdminEndpoint, AdminState};
use crate::config::{AdminConfig, NatsConfig, process_env};
use crate::consumer::{Consumer, ConsumerSettings, Handler};
use crate::nats::Nats;
use crate::telemetry::LogControl;

/// What the worker consumes and how.
pub struct WorkerSpec {
    /// Stage name (`mapper`, `writer`): spans, metrics and DLQ subjects.
    pub stage: &'static str,
    pub stream: StreamKind,
    pub consumer: pull::Config,
    pub settings: ConsumerSettings,
}

/// A connected, bound worker service.
pub struct Worker {
    nats: Nats,
    nats_cfg: NatsConfig,
    admin: AdminEndpoint,
    state: AdminState,
    drain_timeout: Duration,
}

impl Worker {
    /// Connects to NATS (in the background if it is not up yet) and binds the admin endpoint.
    pub async fn connect(
        service: &'static str,
        nats_cfg: &NatsConfig,
        admin_cfg: &AdminConfig,
        log: LogControl,
    ) -> anyhow::Result<Self> {
        let nats = Nats::connect(nats_cfg, service).await?;
        let state = AdminState::new(
            service,
            nats.clone(),
            admin_cfg.token.resolve(&process_env)?,
            log,
        );
        let mut admin = AdminEndpoint::bind(admin_cfg.listen, state.clone()).await?;
        // Every worker serves the dead-letter API (list, show, redrive, purge of the DLQ stream).
        admin.add_service(crate::dlq::server(nats.clone()));
        Ok(Self {
            nats,
            nats_cfg: nats_cfg.clone(),
            admin,
            state,
            drain_timeout: admin_cfg.drain_timeout,
        })
    }

    pub fn nats(&self) -> &Nats {
        &self.nats
    }

    pub fn admin_state(&self) -> &AdminState {
        &self.state
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr()
    }

    /// Hosts a service-specific gRPC API on the admin port (same token as Admin).
    pub fn add_admin_service<S>(&mut self, svc: S)
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
        self.admin.add_service(svc);
    }

    /// Runs `handler` over the consumer until `shutdown` fires, then shuts down in order.
    pub async fn run<H: Handler>(
        self,
        handler: Arc<H>,
        spec: WorkerSpec,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.run_with(shutdown, move |ctx| async move {
            let consumer = loop {
                match ctx.nats.ensure_consumer(spec.stream, spec.consumer.clone()).await {
                    Ok(c) => break c,
                    Err(e) => {
                        tracing::warn!(error.message = %e, "consumer provisioning failed; retrying");
                        tokio::select! {
                            () = ctx.shutdown.cancelled() => return Ok(()),
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            };
            let consumer = Consumer::new(
                ctx.nats.clone(),
                spec.stage,
                spec.stream,
                consumer,
                handler,
                spec.settings,
                ctx.state.pause.clone(),
            );
            ctx.state.add_consumer(consumer.probe());
            ctx.state.readiness.mark_started();
            tracing::info!(stage = spec.stage, "worker ready");
            consumer.run(ctx.shutdown.clone()).await;
            Ok(())
        })
        .await
    }

    /// Runs `body` once the streams are provisioned, until it returns; `body` must return soon
    /// after `shutdown` fires (it gets the configured drain timeout, then is dropped: whatever
    /// it had not acknowledged is redelivered later, nothing is lost). Then NATS is flushed and
    /// the admin endpoint stops last. `body` marks the service started when it is ready.
    pub async fn run_with<F, Fut>(self, shutdown: CancellationToken, body: F) -> anyhow::Result<()>
    where
        F: FnOnce(WorkerContext) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let admin_stop = CancellationToken::new();
        let admin_task = tokio::spawn(self.admin.run(admin_stop.clone()));

        let result = async {
            if self.nats.provision_until_ready(&self.nats_cfg, &shutdown).await.is_err() {
                return Ok(()); // shut down before NATS was ever reachable
            }
            let run = body(WorkerContext {
                nats: self.nats.clone(),
                state: self.state.clone(),
                shutdown: shutdown.clone(),
            });
            tokio::pin!(run);
            tokio::select! {
                r = &mut run => r,
                () = shutdown.cancelled() => {
                    match crate::shutdown::with_deadline("worker drain", self.drain_timeout, &mut run).await {
                        Some(r) => r,
                        None => {
                            tracing::warn!("in-flight work did not finish in time; it will be redelivered");
                            Ok(())
                        }
                    }
                }
            }
        }
        .await;

        self.state.readiness.mark_draining();
        self.nats.flush().await;
        admin_stop.cancel();
        let _ = crate::shutdown::with_deadline("admin", Duration::from_secs(5), admin_task).await;
        result
    }
}

/// What a worker's body gets: the connection, the admin state (readiness, pause, consumers,
/// details) and the shutdown signal.
pub struct WorkerContext {
    pub nats: Nats,
    pub state: AdminState,
    pub shutdown: CancellationToken,
}
