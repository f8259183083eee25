//! The whole pipeline in one process: a real `nats-server`, the sandbox as GHL, and ingest-bmc,
//! mapper and writer started from their libraries with test configs. Used by the end-to-end
//! tests and the benchmarks.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use relay_common::SecretRef;
use relay_common::config::{AdminConfig, NatsConfig};
use relay_common::telemetry::LogControl;
use relay_contracts::{Source, Token};
use relay_ingest::{ConnectionConfig, IngestConfig, IngestServer};
use relay_ingest_bmc::Bmc;
use relay_mapper::{ConnectionRoute, MapperConfig, MapperServer};
use relay_sandbox::{Sandbox, SandboxConfig, SandboxState};
use relay_test_support::{ADMIN_TOKEN, NatsServer, unique_prefix};
use relay_writer::WriterConfig;
use relay_writer::config::LocationConfig;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use relay_test_support as support;

/// The demo connection's BMC signing secret in tests.
pub const BMC_SECRET: &str = "test-bmc-secret";
/// The sandbox's seeded location and its private integration token.
pub const LOCATION: &str = "demo-location";
pub const LOCATION_TOKEN: &str = "pit-relay-demo";

/// A service running in-process, stoppable on its own.
pub struct Running {
    pub admin: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Whether the service is still running (it must not exit on its own).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Shuts the service down in order and waits for it.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The running pipeline.
pub struct Stack {
    pub nats: NatsServer,
    pub prefix: Token,
    pub sandbox_addr: SocketAddr,
    pub sandbox: SandboxState,
    sandbox_stop: CancellationToken,
    pub ingest_addr: SocketAddr,
    pub ingest: Running,
    pub mapper: Running,
    pub writer: Running,
    pub http: reqwest::Client,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.sandbox_stop.cancel();
    }
}

/// Knobs a test may turn before the stack starts.
#[derive(Clone, Debug)]
pub struct StackOptions {
    /// The token the writer presents for the demo location.
    pub location_token: String,
    pub writer_max_deliver: i64,
    /// The sandbox's configuration (its rate limits, latency).
    pub sandbox: SandboxConfig,
    /// The writer's default per-location budget.
    pub writer_rate_limit: relay_writer::config::RateLimitConfig,
    /// Handlers the mapper and the writer run at once.
    pub concurrency: usize,
    /// How long the streams remember a `Nats-Msg-Id`.
    pub duplicate_window: Duration,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            location_token: LOCATION_TOKEN.into(),
            writer_max_deliver: 10,
            sandbox: SandboxConfig::for_tests(),
            writer_rate_limit: relay_writer::config::RateLimitConfig::default(),
            concurrency: 16,
            duplicate_window: NatsConfig::default().duplicate_window,
        }
    }
}

impl StackOptions {
    /// Rate limits out of the way (sandbox and writer), for throughput measurements.
    pub fn unthrottled() -> Self {
        let mut o = Self::default();
        o.sandbox.rate_limit.burst_max = 1_000_000;
        o.sandbox.rate_limit.daily_max = 100_000_000;
        o.writer_rate_limit.burst_max = 1_000_000;
        o.writer_rate_limit.daily_max = 100_000_000;
        o.concurrency = 64;
        o
    }
}

pub fn admin_config() -> AdminConfig {
    AdminConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: SecretRef::Literal(ADMIN_TOKEN.into()),
        // Short, so a service that wrongly applied it to its whole run would die mid-test.
        drain_timeout: Duration::from_secs(2),
    }
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(opts: StackOptions) -> Self {
        relay_test_support::otlp::init_tracing();
        let nats = NatsServer::start();
        let prefix = unique_prefix();
        let nats_cfg = NatsConfig {
            url: nats.url(),
            prefix: Some(prefix.clone()),
            duplicate_window: opts.duplicate_window,
            ..Default::default()
        };

        let sandbox = Sandbox::bind(opts.sandbox.clone()).await.unwrap();
        let sandbox_addr = sandbox.local_addr();
        let sandbox_state = sandbox.state();
        let sandbox_stop = CancellationToken::new();
        tokio::spawn(sandbox.run(sandbox_stop.clone()));

        let demo = Token::parse("demo").unwrap();
        let mut ingest_cfg = IngestConfig::for_ports(0, 0);
        ingest_cfg.listen = "127.0.0.1:0".parse().unwrap();
        ingest_cfg.admin = admin_config();
        ingest_cfg.nats = nats_cfg.clone();
        ingest_cfg.connections = BTreeMap::from([(
            demo.clone(),
            ConnectionConfig {
                secret: SecretRef::Literal(BMC_SECRET.into()),
                previous_secret: None,
                timezone: None,
            },
        )]);
        let ingest = IngestServer::from_config(ingest_cfg, Bmc, LogControl::unavailable())
            .await
            .unwrap();
        let ingest_addr = ingest.local_addr();
        let ingest_admin = ingest.admin_addr();
        let ingest_stop = CancellationToken::new();
        let ingest_task = tokio::spawn(ingest.run(ingest_stop.clone()));

        // Every storefront's `demo` connection feeds the demo location.
        let mut mapper_cfg = MapperConfig {
            connections: Source::ALL
                .into_iter()
                .map(|source| ConnectionRoute {
                    source,
                    name: demo.clone(),
                    location_id: Token::parse(LOCATION).unwrap(),
                })
                .collect(),
            nats: nats_cfg.clone(),
            admin: admin_config(),
            ..Default::default()
        };
        mapper_cfg.consumer.backoff_base = Duration::from_millis(100);
        mapper_cfg.consumer.concurrency = opts.concurrency;
        let mapper = MapperServer::from_config(mapper_cfg, LogControl::unavailable())
            .await
            .unwrap();
        let mapper_admin = mapper.admin_addr();
        let mapper_stop = CancellationToken::new();
        let mapper_task = tokio::spawn(mapper.run(mapper_stop.clone()));

        let mut writer_cfg = WriterConfig {
            nats: nats_cfg,
            admin: admin_config(),
            locations: BTreeMap::from([(
                Token::parse(LOCATION).unwrap(),
                LocationConfig {
                    token: Some(SecretRef::Literal(opts.location_token.clone())),
                    oauth: None,
                    rate_limit: None,
                },
            )]),
            ..Default::default()
        };
        writer_cfg.ghl.base_url = format!("http://{sandbox_addr}").parse().unwrap();
        writer_cfg.ghl.timeout = Duration::from_secs(2);
        writer_cfg.consumer.backoff_base = Duration::from_millis(100);
        writer_cfg.consumer.backoff_max = Duration::from_secs(1);
        writer_cfg.consumer.max_deliver = opts.writer_max_deliver;
        writer_cfg.consumer.concurrency = opts.concurrency;
        writer_cfg.rate_limit = opts.writer_rate_limit;
        let writer = relay_writer::WriterServer::from_config(writer_cfg, LogControl::unavailable())
            .await
            .unwrap();
        let writer_admin = writer.admin_addr();
        let writer_stop = CancellationToken::new();
        let writer_task = tokio::spawn(writer.run(writer_stop.clone()));

        let stack = Self {
            nats,
            prefix,
            sandbox_addr,
            sandbox: sandbox_state,
            sandbox_stop,
            ingest_addr,
            ingest: Running {
                admin: ingest_admin,
                stop: ingest_stop,
                task: Some(ingest_task),
            },
            mapper: Running {
                admin: mapper_admin,
                stop: mapper_stop,
                task: Some(mapper_task),
            },
            writer: Running {
                admin: writer_admin,
                stop: writer_stop,
                task: Some(writer_task),
            },
            http: reqwest::Client::new(),
        };
        stack.wait_ready().await;
        stack
    }

    /// Starts another storefront's ingest service in this stack, with a `demo` connection whose
    /// secret is `secret`. Returns its webhook address and the running service.
    pub async fn spawn_ingest<S: relay_ingest::Storefront>(
        &self,
        storefront: S,
        secret: &str,
    ) -> (SocketAddr, Running) {
        let demo = ConnectionConfig {
            secret: SecretRef::Literal(secret.into()),
            previous_secret: None,
            timezone: None,
        };
        self.spawn_ingest_with(storefront, demo).await
    }

    /// Like [`Stack::spawn_ingest`] with the `demo` connection's whole configuration (a
    /// previous secret during rotation, a time zone).
    pub async fn spawn_ingest_with<S: relay_ingest::Storefront>(
        &self,
        storefront: S,
        demo: ConnectionConfig,
    ) -> (SocketAddr, Running) {
        let mut cfg = IngestConfig::for_ports(0, 0);
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.admin = admin_config();
        cfg.nats = NatsConfig {
            url: self.nats.url(),
            prefix: Some(self.prefix.clone()),
            ..Default::default()
        };
        cfg.connections = BTreeMap::from([(Token::parse("demo").unwrap(), demo)]);
        let server = IngestServer::from_config(cfg, storefront, LogControl::unavailable())
            .await
            .unwrap();
        let addr = server.local_addr();
        let admin = server.admin_addr();
        let stop = CancellationToken::new();
        let task = tokio::spawn(server.run(stop.clone()));
        relay_test_support::eventually("ingest SERVING", Duration::from_secs(20), || async move {
            (health(admin).await == Some(true)).then_some(())
        })
        .await;
        (
            addr,
            Running {
                admin,
                stop,
                task: Some(task),
            },
        )
    }

    /// The contact with `email` in the demo location once it carries `tag`.
    pub async fn contact_with_tag(&self, email: &str, tag: &str) -> relay_sandbox::ContactView {
        let state = self.sandbox.clone();
        relay_test_support::eventually(
            &format!("contact {email} tagged {tag}"),
            Duration::from_secs(20),
            || {
                let state = state.clone();
                async move {
                    state.contacts(LOCATION).into_iter().find(|c| {
                        c.email.as_deref() == Some(email) && c.tags.iter().any(|t| t == tag)
                    })
                }
            },
        )
        .await
    }

    /// Asserts that no service has exited on its own.
    pub fn assert_running(&self) {
        for (name, s) in [
            ("ingest", &self.ingest),
            ("mapper", &self.mapper),
            ("writer", &self.writer),
        ] {
            assert!(s.is_running(), "{name} exited on its own");
        }
    }

    /// Waits until every service reports SERVING.
    pub async fn wait_ready(&self) {
        for admin in [self.ingest.admin, self.mapper.admin, self.writer.admin] {
            relay_test_support::eventually(
                "service health SERVING",
                Duration::from_secs(20),
                || async move { (health(admin).await == Some(true)).then_some(()) },
            )
            .await;
        }
    }

    /// The stream name in this stack's namespace.
    pub fn stream(&self, kind: relay_contracts::StreamKind) -> String {
        relay_contracts::Namespace::new(Some(self.prefix.clone())).stream_name(kind)
    }

    /// Messages currently in a stream.
    pub async fn stream_messages(&self, kind: relay_contracts::StreamKind) -> u64 {
        let js = async_nats::jetstream::new(self.nats.client().await);
        let mut s = js.get_stream(self.stream(kind)).await.unwrap();
        s.info().await.unwrap().state.messages
    }

    /// Every message of a stream whose subject (without the namespace prefix) matches `filter`.
    pub async fn read(
        &self,
        kind: relay_contracts::StreamKind,
        filter: &str,
    ) -> Vec<async_nats::Message> {
        use futures::StreamExt;
        let js = async_nats::jetstream::new(self.nats.client().await);
        let stream = js.get_stream(self.stream(kind)).await.unwrap();
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
            out.push(m.message);
        }
        out
    }

    /// The events one storefront's `demo` connection published, in stream order.
    pub async fn events(&self, source: Source) -> Vec<relay_contracts::StorefrontEvent> {
        self.read(
            relay_contracts::StreamKind::Events,
            &format!("evt.{source}.demo.>"),
        )
        .await
        .iter()
        .map(|m| relay_contracts::StorefrontEvent::decode(&m.payload).unwrap())
        .collect()
    }

    /// POSTs a BMC delivery signed with `secret` (`None`: unsigned).
    pub async fn post_bmc(&self, body: &str, secret: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("http://{}/hooks/demo", self.ingest_addr))
            .header("content-type", "application/json")
            .header("user-agent", "BMC-HTTPS-ROBOT")
            .body(body.to_owned());
        if let Some(s) = secret {
            req = req.header(
                relay_ingest_bmc::SIGNATURE_HEADER,
                relay_ingest_bmc::sign(s, body.as_bytes()),
            );
        }
        req.send().await.unwrap()
    }
}

pub use relay_test_support::admin::{TestAdminClient, TestToken};

/// An authenticated admin client.
pub async fn admin_client(addr: SocketAddr) -> TestAdminClient {
    relay_test_support::admin::try_admin_client(addr)
        .await
        .unwrap()
}

pub type TestMapperClient = relay_contracts::mapper_admin::mapper_client::MapperClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, TestToken>,
>;

/// An authenticated client of the mapper's connections/preview/replay API.
pub async fn mapper_client(addr: SocketAddr) -> TestMapperClient {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    relay_contracts::mapper_admin::mapper_client::MapperClient::with_interceptor(channel, TestToken)
}

/// `grpc.health.v1` overall status: `Some(true)` when SERVING.
pub async fn health(addr: SocketAddr) -> Option<bool> {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .ok()?
        .connect()
        .await
        .ok()?;
    let resp = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()?;
    Some(resp.into_inner().status == ServingStatus::Serving as i32)
}

/// A Buy Me a Coffee `donation.created` delivery.
pub fn donation(event_id: u64, email: &str, name: &str) -> String {
    serde_json::json!({
        "type": "donation.created",
        "live_mode": true,
        "attempt": 1,
        "created": 1_763_900_000,
        "event_id": event_id,
        "data": {
            "id": event_id,
            "amount": 5,
            "object": "payment",
            "status": "succeeded",
            "message": null,
            "currency": "USD",
            "refunded": "false",
            "created_at": 1_763_900_000,
            "note_hidden": "false",
            "support_note": "Thanks for the coffee app!",
            "support_type": "Supporter",
            "supporter_name": name,
            "supporter_name_type": "default",
            "supporter_id": 4000 + event_id,
            "supporter_email": email,
            "transaction_id": format!("pi_{event_id}"),
            "coffee_count": 1,
            "coffee_price": 5,
            "total_amount_charged": "5.29"
        }
    })
    .to_string()
}
