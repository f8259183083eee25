//! The writer applies `ContactPlan`s from `COMMANDS` to the GHL API.
//!
//! - [`partitions`]: replicas share the command partitions by lease; each location's plans are
//!   applied in order in a lane of their own, lanes of different locations concurrently.
//! - [`apply`]: a plan's steps in order; every request out of the location's [`ratelimit`]
//!   budget with [`auth`] credentials; effects recorded in the step [`ledger`] so that nothing
//!   happens twice; contact ids cached by email/phone/external id ([`contacts`]).
//! - Every attempt's outcome goes to `RESULTS`; plans GHL will never accept are dead-lettered
//!   with GHL's message, the rest are retried with backoff in their lane.
//! - The admin port also serves `relay.writer.v1.Writer` ([`admin`]): each location's partition,
//!   credentials and budget, and resuming a location its credentials paused.

mod admin;
pub(crate) mod apply;
pub mod auth;
pub mod config;
mod contacts;
mod ledger;
mod partitions;
pub mod ratelimit;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use relay_common::config::process_env;
use relay_common::consumer::ConsumerSettings;
use relay_common::telemetry::LogControl;
use relay_common::worker::Worker;
use relay_contracts::Token;
use relay_ghl::GhlClient;
use tokio_util::sync::CancellationToken;

pub use config::WriterConfig;
use ratelimit::Budget;

/// The writer service: a worker over `COMMANDS`.
pub struct WriterServer {
    worker: Worker,
    cfg: WriterConfig,
}

impl WriterServer {
    pub async fn from_config(cfg: WriterConfig, log: LogControl) -> anyhow::Result<Self> {
        let worker = Worker::connect("writer", &cfg.nats, &cfg.admin, log).await?;
        worker
            .admin_state()
            .set_detail("ghl", cfg.ghl.base_url.to_string());
        worker.admin_state().set_detail(
            "locations",
            cfg.locations
                .keys()
                .map(Token::as_str)
                .collect::<Vec<_>>()
                .join(","),
        );
        Ok(Self { worker, cfg })
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.worker.admin_addr()
    }

    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let cfg = self.cfg;
        let nats = self.worker.nats().clone();
        let ghl = GhlClient::new(cfg.ghl.base_url.clone(), cfg.ghl.timeout)?;
        let auth = Arc::new(auth::Auth::new(
            nats.clone(),
            ghl.clone(),
            &cfg,
            &process_env,
        )?);
        let locations: HashMap<Token, Arc<apply::Location>> = cfg
            .locations
            .iter()
            .map(|(id, loc)| {
                let budget =
                    Budget::new(loc.rate_limit.as_ref().unwrap_or(&cfg.rate_limit)).named(id);
                (id.clone(), Arc::new(apply::Location::new(budget)))
            })
            .collect();
        let processor = Arc::new(apply::Processor::new(
            nats.clone(),
            ghl.clone(),
            auth,
            locations,
            cfg.nats.replicas,
            cfg.partitions.max_in_flight,
        ));
        // Before `run_with`: that is where the admin port starts serving, with the APIs it has.
        self.worker
            .add_admin_service(admin::server(processor.clone(), ghl));
        let settings = partitions::PartitionSettings {
            lease_ttl: cfg.partitions.lease_ttl,
            ack_wait: cfg.consumer.ack_wait,
            max_pending: cfg.partitions.max_pending,
            max_attempts: cfg.consumer.max_deliver.max(1),
            backoff: ConsumerSettings::from(&cfg.consumer),
            drain_timeout: cfg.admin.drain_timeout,
            replicas: cfg.nats.replicas,
        };
        self.worker
            .run_with(shutdown, move |ctx| {
                partitions::run(ctx.nats, ctx.state, processor, settings, ctx.shutdown)
            })
            .await
    }
}
