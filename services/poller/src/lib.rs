//! The poller turns GHL state changes into `TriggerEvent`s on `TRIGGERS`
//! (`trg.<location>.<trigger>`): the Contacts polling triggers, one watch per (location,
//! trigger, parameters, interval).
//!
//! - [`watches`](crate::watches): watches are spread over replicas by lease (group `poller`);
//!   each held watch is polled at its interval with jitter.
//! - [`poll`](crate::poll): every GHL request comes out of the location's budget (shared with
//!   the writer by `rate_limit.share`) with the location's credentials (the writer's OAuth
//!   token store and refresh lock); a location whose credentials are paused pauses its
//!   watches, with the reason in admin status.
//! - State: each watch's cursor and seen-item fingerprints live in the cursors KV bucket,
//!   written after the events of a page were acknowledged; events carry
//!   `Nats-Msg-Id` = watch + item + version, so a crash mid-page neither misses nor repeats.
//! - [`triggers`]: what each trigger reads and how it tells created, updated, completed and
//!   deleted apart.

pub mod config;
mod error;
mod ghl;
mod poll;
mod state;
pub mod triggers;
mod watches;

use std::net::SocketAddr;
use std::sync::Arc;

use relay_common::config::process_env;
use relay_common::telemetry::LogControl;
use relay_common::worker::Worker;
use relay_contracts::Bucket;
use relay_ghl::GhlClient;
use relay_ghl::auth::Auth;
use relay_ghl::budget::Budgets;
use tokio_util::sync::CancellationToken;

pub use config::PollerConfig;
pub use error::PollError;

/// The poller service.
pub struct PollerServer {
    worker: Worker,
    cfg: PollerConfig,
}

impl PollerServer {
    pub async fn from_config(cfg: PollerConfig, log: LogControl) -> anyhow::Result<Self> {
        let worker = Worker::connect("poller", &cfg.nats, &cfg.admin, log).await?;
        worker
            .admin_state()
            .set_detail("ghl", cfg.ghl.base_url.to_string());
        Ok(Self { worker, cfg })
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.worker.admin_addr()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let cfg = self.cfg;
        let nats = self.worker.nats().clone();
        let client = GhlClient::new(cfg.ghl.base_url.clone(), cfg.ghl.timeout)?;
        let auth = Auth::new(nats.clone(), client.clone(), &cfg, &process_env)?;
        let budgets = Budgets::from_config(&cfg);
        let watches = cfg
            .watches
            .iter()
            .cloned()
            .map(|w| {
                let id = w.id.clone();
                poll::Watch::new(w).map_err(|e| anyhow::anyhow!("watch {id}: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let settings = watches::Settings {
            lease_ttl: cfg.leases.ttl,
            replicas: cfg.nats.replicas,
            drain_timeout: cfg.admin.drain_timeout,
        };
        let replicas = cfg.nats.replicas;
        self.worker
            .run_with(shutdown, move |ctx| async move {
                let Some(store) = ctx
                    .nats
                    .bucket_until_ready(Bucket::Cursors, replicas, &ctx.shutdown)
                    .await
                else {
                    return Ok(());
                };
                let poller = Arc::new(poll::Poller {
                    nats: ctx.nats.clone(),
                    ghl: ghl::Ghl {
                        client,
                        auth,
                        budgets,
                    },
                    store,
                });
                watches::run(ctx.nats, ctx.state, poller, watches, settings, ctx.shutdown).await
            })
            .await
    }
}
