//! A real nats-server, the sandbox as GHL, and writer replicas started from the library.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use relay_common::SecretRef;
use relay_common::config::{AdminConfig, NatsConfig};
use relay_common::nats::Nats;
use relay_common::telemetry::LogControl;
use relay_contracts::nats::{COMMAND_PARTITIONS, partition_of};
use relay_contracts::plan::{ContactFields, ContactSpec, Lookup, Step};
use relay_contracts::version::V1;
use relay_contracts::{ContactPlan, EventId, Namespace, PlanId, PlanResult, StreamKind, Token};
use relay_sandbox::{Sandbox, SandboxConfig, SandboxState};
use relay_test_support::{ADMIN_TOKEN, NatsServer, unique_prefix};
use relay_writer::config::LocationConfig;
use relay_writer::{WriterConfig, WriterServer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) const LOCATION: &str = "demo-location";
pub(crate) const TOKEN: &str = "pit-relay-demo";

pub(crate) struct Env {
    pub(crate) nats: NatsServer,
    pub(crate) prefix: Token,
    pub(crate) sandbox_addr: SocketAddr,
    pub(crate) sandbox: SandboxState,
    sandbox_stop: CancellationToken,
    pub(crate) client: Nats,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.sandbox_stop.cancel();
    }
}

/// A writer replica running in-process on a runtime of its own, so that killing it drops
/// every task it spawned, as a crash would.
pub(crate) struct Writer {
    pub(crate) admin: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Writer {
    /// Graceful shutdown: lanes finish, leases are handed back.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// A crash: every task is dropped mid-flight, nothing is released or acknowledged.
    pub(crate) fn kill(mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Env {
    pub(crate) async fn start() -> Self {
        Self::start_with(SandboxConfig::for_tests()).await
    }

    pub(crate) async fn start_with(sandbox_cfg: SandboxConfig) -> Self {
        relay_test_support::otlp::init_tracing();
        let nats = NatsServer::start();
        let prefix = unique_prefix();
        let sandbox = Sandbox::bind(sandbox_cfg).await.unwrap();
        let sandbox_addr = sandbox.local_addr();
        let state = sandbox.state();
        let sandbox_stop = CancellationToken::new();
        tokio::spawn(sandbox.run(sandbox_stop.clone()));
        let cfg = nats_config(&nats, &prefix);
        let client = Nats::connect(&cfg, "writer-tests").await.unwrap();
        client.ensure_streams(&cfg).await.unwrap();
        Self {
            nats,
            prefix,
            sandbox_addr,
            sandbox: state,
            sandbox_stop,
            client,
        }
    }

    /// A writer config for the demo location, with short timers.
    pub(crate) fn writer_config(&self) -> WriterConfig {
        let mut cfg = WriterConfig {
            nats: nats_config(&self.nats, &self.prefix),
            admin: AdminConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                token: SecretRef::Literal(ADMIN_TOKEN.into()),
                drain_timeout: Duration::from_secs(3),
            },
            locations: BTreeMap::from([(
                Token::parse(LOCATION).unwrap(),
                LocationConfig {
                    token: Some(SecretRef::Literal(TOKEN.into())),
                    oauth: None,
                    rate_limit: None,
                },
            )]),
            ..Default::default()
        };
        cfg.ghl.base_url = format!("http://{}", self.sandbox_addr).parse().unwrap();
        cfg.ghl.timeout = Duration::from_secs(2);
        cfg.consumer.backoff_base = Duration::from_millis(50);
        cfg.consumer.backoff_max = Duration::from_millis(500);
        cfg.consumer.max_deliver = 5;
        cfg.partitions.lease_ttl = Duration::from_secs(2);
        cfg
    }

    pub(crate) async fn spawn_writer(&self, cfg: WriterConfig) -> Writer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .spawn(WriterServer::from_config(cfg, LogControl::unavailable()))
            .await
            .unwrap()
            .unwrap();
        let admin = server.admin_addr();
        let stop = CancellationToken::new();
        let task = runtime.spawn(server.run(stop.clone()));
        Writer {
            admin,
            stop,
            task: Some(task),
            runtime: Some(runtime),
        }
    }

    /// Publishes a plan where the mapper would.
    pub(crate) async fn send(&self, plan: &ContactPlan) {
        let partition = partition_of(&plan.location_id, COMMAND_PARTITIONS);
        let subject = self.client.ns.command(partition, &plan.location_id);
        let mut h = async_nats::HeaderMap::new();
        h.insert("Content-Type", "application/json");
        self.client
            .publish(
                subject,
                Some(plan.id.as_str()),
                h,
                serde_json::to_vec(plan).unwrap().into(),
            )
            .await
            .unwrap();
    }

    /// Every message of a stream under `filter` (subject without the prefix).
    pub(crate) async fn read(
        &self,
        kind: StreamKind,
        filter: &str,
    ) -> Vec<async_nats::jetstream::Message> {
        let stream = self
            .client
            .js
            .get_stream(Namespace::new(Some(self.prefix.clone())).stream_name(kind))
            .await
            .unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                filter_subject: format!("{}.{filter}", self.prefix),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                inactive_threshold: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        let mut batch = consumer
            .fetch()
            .max_messages(100_000)
            .messages()
            .await
            .unwrap();
        while let Some(Ok(m)) = batch.next().await {
            out.push(m);
        }
        out
    }

    /// Every result the writers published, in order.
    pub(crate) async fn results(&self) -> Vec<PlanResult> {
        self.read(StreamKind::Results, "res.>")
            .await
            .iter()
            .map(|m| PlanResult::decode(&m.payload).unwrap())
            .collect()
    }

    /// Waits until the plan has a result with this outcome.
    pub(crate) async fn result_of(&self, plan: &ContactPlan, outcome: &str) -> PlanResult {
        relay_test_support::eventually(
            &format!("a {outcome} result for plan {}", plan.id),
            Duration::from_secs(20),
            || async {
                self.results()
                    .await
                    .into_iter()
                    .rev()
                    .find(|r| r.plan_id == plan.id && r.outcome.as_str() == outcome)
            },
        )
        .await
    }

    /// Plans still queued in COMMANDS (not acknowledged).
    pub(crate) async fn queued(&self) -> u64 {
        let mut s = self
            .client
            .js
            .get_stream(Namespace::new(Some(self.prefix.clone())).stream_name(StreamKind::Commands))
            .await
            .unwrap();
        s.info().await.unwrap().state.messages
    }
}

fn nats_config(nats: &NatsServer, prefix: &Token) -> NatsConfig {
    NatsConfig {
        url: nats.url(),
        prefix: Some(prefix.clone()),
        ..Default::default()
    }
}

/// A plan for the customer with `email` in the demo location.
pub(crate) fn plan(name: &str, email: &str, steps: Vec<Step>) -> ContactPlan {
    plan_in(LOCATION, name, email, steps)
}

pub(crate) fn plan_in(location: &str, name: &str, email: &str, steps: Vec<Step>) -> ContactPlan {
    let event = EventId::derive(&[name, email]);
    ContactPlan {
        v: V1,
        id: PlanId::derive(&[location, name, email, "0"]),
        location_id: Token::parse(location).unwrap(),
        connection: "test/writer".into(),
        source_event_id: event,
        contact: ContactSpec {
            lookup: Lookup::EmailOrPhone,
            fields: ContactFields {
                email: Some(email.into()),
                first_name: Some("Test".into()),
                ..Default::default()
            },
            custom_fields: BTreeMap::new(),
        },
        steps,
    }
}
