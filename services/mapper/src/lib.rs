//! The mapper consumes `EVENTS`, decides what should happen in GHL for each event, and
//! publishes `ContactPlan`s to `COMMANDS` (by partition and location).
//!
//! Rules are hard-wired for now (see [`rules`]): the configurable rule engine replaces
//! [`rules::default_plan`] without changing the handler.

pub mod config;
pub mod rules;

use std::net::SocketAddr;
use std::sync::Arc;

use async_nats::jetstream;
use relay_common::consumer::{ConsumerSettings, Handler, HandlerError};
use relay_common::nats::Nats;
use relay_common::telemetry::LogControl;
use relay_common::worker::{Worker, WorkerSpec};
use relay_contracts::nats::{COMMAND_PARTITIONS, partition_of};
use relay_contracts::{StorefrontEvent, StreamKind, headers};
use tokio_util::sync::CancellationToken;

pub use config::{ConnectionRoute, MapperConfig};

/// Maps one event to plans and publishes them.
pub struct MapperHandler {
    nats: Nats,
    routes: config::Routes,
}

impl MapperHandler {
    pub fn new(nats: Nats, cfg: &MapperConfig) -> Self {
        Self {
            nats,
            routes: config::Routes::new(&cfg.connections),
        }
    }
}

impl Handler for MapperHandler {
    async fn handle(&self, msg: &jetstream::Message) -> Result<(), HandlerError> {
        let event = StorefrontEvent::decode(&msg.payload).map_err(HandlerError::permanent)?;
        let Some(route) = self.routes.get(event.source, &event.connection) else {
            return Err(HandlerError::permanent(format!(
                "no connection {}/{} is configured in the mapper",
                event.source, event.connection
            )));
        };
        let plans = rules::default_plan(&event, route).map_err(HandlerError::permanent)?;
        if plans.is_empty() {
            tracing::info!(event_id = %event.id, kind = %event.kind, "no rule matched; nothing to do");
            metrics::counter!("relay_mapper_events_total", "result" => "no_match").increment(1);
            return Ok(());
        }
        for plan in plans {
            let partition = partition_of(&plan.location_id, COMMAND_PARTITIONS);
            let subject = self.nats.ns.command(partition, &plan.location_id);
            let payload = serde_json::to_vec(&plan).map_err(HandlerError::permanent)?;
            let mut h = async_nats::HeaderMap::new();
            h.insert(headers::CONTENT_TYPE, "application/json");
            // The plan id is derived from the event id, so a redelivered event is deduped here.
            self.nats
                .publish(subject, Some(plan.id.as_str()), h, payload.into())
                .await
                .map_err(HandlerError::transient)?;
            tracing::info!(event_id = %event.id, plan_id = %plan.id, location = %plan.location_id, steps = plan.steps.len(), "plan published");
        }
        metrics::counter!("relay_mapper_events_total", "result" => "planned").increment(1);
        Ok(())
    }
}

/// The mapper service: a worker over `EVENTS`.
pub struct MapperServer {
    worker: Worker,
    cfg: MapperConfig,
}

impl MapperServer {
    pub async fn from_config(cfg: MapperConfig, log: LogControl) -> anyhow::Result<Self> {
        let worker = Worker::connect("mapper", &cfg.nats, &cfg.admin, log).await?;
        worker
            .admin_state()
            .set_detail("connections", cfg.connections.len().to_string());
        Ok(Self { worker, cfg })
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.worker.admin_addr()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let handler = Arc::new(MapperHandler::new(self.worker.nats().clone(), &self.cfg));
        let ns = self.worker.nats().ns.clone();
        let spec = WorkerSpec {
            stage: "mapper",
            stream: StreamKind::Events,
            consumer: ns.mapper_consumer(self.cfg.consumer.max_deliver, self.cfg.consumer.ack_wait),
            settings: ConsumerSettings::from(&self.cfg.consumer),
        };
        self.worker.run(handler, spec, shutdown).await
    }
}
