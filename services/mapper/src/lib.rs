//! The mapper consumes `EVENTS`, decides what should happen in GHL for each event, and
//! publishes `ContactPlan`s to `COMMANDS` (by partition and location).
//!
//! Each connection's rules (and its storefront's default playbook) are compiled once, when the
//! connection is applied or changes (see [`connections`] and [`rules`]); the handler maps every
//! event with [`rules::CompiledConnection::plans`]. The mapper's admin port also serves
//! `relay.mapper.v1.Mapper` ([`admin`]): connections, preview and replay.

pub mod admin;
pub mod config;
pub mod connections;
pub mod replay;
pub mod rules;

use std::net::SocketAddr;
use std::sync::Arc;

use async_nats::jetstream;
use relay_common::consumer::{ConsumerSettings, Handler, HandlerError};
use relay_common::nats::{Nats, NatsError};
use relay_common::telemetry::LogControl;
use relay_common::worker::{Worker, WorkerSpec};
use relay_contracts::mapper_admin::mapper_server::MapperServer as MapperApi;
use relay_contracts::nats::{COMMAND_PARTITIONS, partition_of};
use relay_contracts::{ContactPlan, StorefrontEvent, StreamKind, headers};
use tokio_util::sync::CancellationToken;

pub use config::{ConnectionRoute, MapperConfig};
pub use connections::Connections;

/// Maps one event to plans and publishes them.
pub struct MapperHandler {
    nats: Nats,
    connections: Connections,
}

/// Why an event produced no plans.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no connection {0} is configured (apply it with `relayctl connections apply`)")]
    UnknownConnection(String),
    #[error(transparent)]
    Map(#[from] rules::MapError),
}

impl MapperHandler {
    /// Fails when a connection of the configuration file does not compile.
    pub fn new(nats: Nats, cfg: &MapperConfig) -> anyhow::Result<Self> {
        let mut fixed = Vec::new();
        for route in &cfg.connections {
            let spec = rules::route_spec(route);
            let compiled = rules::compile(&spec).map_err(|errors| {
                let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::anyhow!(
                    "connection {} does not compile: {}",
                    spec.key(),
                    reasons.join("; ")
                )
            })?;
            fixed.push((spec, compiled));
        }
        Ok(Self {
            nats,
            connections: Connections::new(fixed),
        })
    }

    pub fn nats(&self) -> &Nats {
        &self.nats
    }

    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The plans for `event` under its connection's current rules (empty: no rule matched or
    /// the connection is disabled).
    pub fn plans_for(&self, event: &StorefrontEvent) -> Result<Vec<ContactPlan>, PlanError> {
        let connection = self
            .connections
            .get(event.source, &event.connection)
            .ok_or_else(|| {
                PlanError::UnknownConnection(format!("{}.{}", event.source, event.connection))
            })?;
        if !connection.compiled.is_enabled() {
            return Ok(Vec::new());
        }
        Ok(connection.compiled.plans(event)?)
    }

    /// Publishes one plan (its id as `Nats-Msg-Id`); `Ok(true)` when the broker already had it.
    pub async fn publish_plan(
        &self,
        plan: &ContactPlan,
        replay: Option<&str>,
    ) -> Result<bool, NatsError> {
        Ok(self.send_plan(plan, replay).await?.await?.duplicate)
    }

    /// Hands one plan to the connection (in call order) and returns its pending ack.
    pub async fn send_plan(
        &self,
        plan: &ContactPlan,
        replay: Option<&str>,
    ) -> Result<
        impl std::future::Future<Output = Result<async_nats::jetstream::publish::PublishAck, NatsError>>
        + Send
        + use<>,
        NatsError,
    > {
        let partition = partition_of(&plan.location_id, COMMAND_PARTITIONS);
        let subject = self.nats.ns.command(partition, &plan.location_id);
        let payload = serde_json::to_vec(plan).map_err(|e| NatsError::Publish(e.to_string()))?;
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::CONTENT_TYPE, "application/json");
        if let Some(id) = replay {
            h.insert(headers::REPLAY, id);
        }
        // The plan id is derived from the event id and the rule, so a redelivered or replayed
        // event is deduped here (and by the writer beyond the window).
        self.nats
            .send(subject, Some(plan.id.as_str()), h, payload.into())
            .await
    }
}

impl Handler for MapperHandler {
    async fn handle(&self, msg: &jetstream::Message) -> Result<(), HandlerError> {
        if !self.connections.is_loaded() {
            return Err(HandlerError::transient(
                "the connections registry is not loaded yet",
            ));
        }
        let event = StorefrontEvent::decode(&msg.payload).map_err(HandlerError::permanent)?;
        let plans = self.plans_for(&event).map_err(HandlerError::permanent)?;
        if plans.is_empty() {
            tracing::info!(event_id = %event.id, kind = %event.kind, "no rule matched; nothing to do");
            metrics::counter!("relay_mapper_events_total", "result" => "no_match").increment(1);
            return Ok(());
        }
        for plan in &plans {
            self.publish_plan(plan, None)
                .await
                .map_err(HandlerError::transient)?;
            tracing::info!(event_id = %event.id, plan_id = %plan.id, location = %plan.location_id, steps = plan.steps.len(), "plan published");
        }
        metrics::counter!("relay_mapper_events_total", "result" => "planned").increment(1);
        Ok(())
    }
}

/// The mapper service: a worker over `EVENTS`, plus the connections registry and its API.
pub struct MapperServer {
    worker: Worker,
    cfg: MapperConfig,
}

impl MapperServer {
    pub async fn from_config(cfg: MapperConfig, log: LogControl) -> anyhow::Result<Self> {
        let worker = Worker::connect("mapper", &cfg.nats, &cfg.admin, log).await?;
        worker
            .admin_state()
            .set_detail("static_connections", cfg.connections.len().to_string());
        Ok(Self { worker, cfg })
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.worker.admin_addr()
    }

    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let handler = Arc::new(MapperHandler::new(self.worker.nats().clone(), &self.cfg)?);
        self.worker
            .add_admin_service(MapperApi::new(admin::MapperAdmin::new(handler.clone())));
        let registry = {
            let (handler, shutdown) = (handler.clone(), shutdown.clone());
            let replicas = self.cfg.nats.replicas;
            tokio::spawn(async move {
                let nats = handler.nats().clone();
                handler.connections().start(&nats, replicas, shutdown).await;
            })
        };
        let ns = self.worker.nats().ns.clone();
        let spec = WorkerSpec {
            stage: "mapper",
            stream: StreamKind::Events,
            consumer: ns.mapper_consumer(self.cfg.consumer.max_deliver, self.cfg.consumer.ack_wait),
            settings: ConsumerSettings::from(&self.cfg.consumer),
        };
        let result = self.worker.run(handler, spec, shutdown).await;
        registry.abort();
        result
    }
}
