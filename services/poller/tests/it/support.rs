//! A real nats-server, the sandbox as GHL, and poller replicas started from the library.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use relay_common::SecretRef;
use relay_common::config::{AdminConfig, NatsConfig};
use relay_common::nats::Nats;
use relay_common::telemetry::LogControl;
use relay_contracts::{Change, Namespace, StreamKind, Token, TriggerEvent, TriggerKind};
use relay_ghl::GhlClient;
use relay_ghl::config::{LocationConfig, RateLimitConfig};
use relay_ghl::types::{CreateContact, NewTask};
use relay_poller::config::WatchConfig;
use relay_poller::{PollerConfig, PollerServer};
use relay_sandbox::{Sandbox, SandboxConfig, SandboxState};
use relay_test_support::{ADMIN_TOKEN, NatsServer, unique_prefix};
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) const LOCATION: &str = "demo-location";
pub(crate) const TOKEN: &str = "pit-relay-demo";

pub(crate) struct Env {
    pub(crate) nats: NatsServer,
    pub(crate) prefix: Token,
    pub(crate) sandbox: SandboxState,
    sandbox_addr: SocketAddr,
    sandbox_stop: CancellationToken,
    pub(crate) client: Nats,
    pub(crate) ghl: GhlClient,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.sandbox_stop.cancel();
    }
}

/// A poller replica on a runtime of its own, so that killing it drops every task it spawned,
/// as a crash would.
pub(crate) struct Poller {
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Poller {
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// A crash: every task dropped mid-flight, no lease released, no cursor written.
    pub(crate) fn kill(mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Env {
    pub(crate) async fn start() -> Self {
        Self::start_with(Duration::ZERO).await
    }

    /// With the sandbox's search index lagging writes by `lag`.
    pub(crate) async fn start_with(lag: Duration) -> Self {
        relay_test_support::otlp::init_tracing();
        let nats = NatsServer::start();
        let prefix = unique_prefix();
        let mut sandbox_cfg = SandboxConfig::for_tests();
        // Seeding hundreds of contacts must not wait for GHL's 100 / 10 s.
        sandbox_cfg.rate_limit.burst_max = 100_000;
        sandbox_cfg.search_index_lag = lag;
        let sandbox = Sandbox::bind(sandbox_cfg).await.unwrap();
        let sandbox_addr = sandbox.local_addr();
        let state = sandbox.state();
        let sandbox_stop = CancellationToken::new();
        tokio::spawn(sandbox.run(sandbox_stop.clone()));
        let cfg = nats_config(&nats, &prefix);
        let client = Nats::connect(&cfg, "poller-tests").await.unwrap();
        client.ensure_streams(&cfg).await.unwrap();
        let ghl = GhlClient::new(
            format!("http://{sandbox_addr}").parse().unwrap(),
            Duration::from_secs(5),
        )
        .unwrap();
        Self {
            nats,
            prefix,
            sandbox: state,
            sandbox_addr,
            sandbox_stop,
            client,
            ghl,
        }
    }

    /// A poller config for the demo location with `watches`, short timers and a budget that
    /// does not slow the tests down.
    pub(crate) fn config(&self, watches: Vec<WatchConfig>) -> PollerConfig {
        let mut cfg = PollerConfig {
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
            rate_limit: RateLimitConfig {
                burst_max: 100_000,
                share: 1.0,
                ..RateLimitConfig::default()
            },
            watches,
            min_interval: Duration::from_millis(100),
            ..Default::default()
        };
        cfg.ghl.base_url = format!("http://{}", self.sandbox_addr).parse().unwrap();
        cfg.ghl.timeout = Duration::from_secs(5);
        cfg.leases.ttl = Duration::from_secs(2);
        cfg
    }

    pub(crate) async fn spawn(&self, cfg: PollerConfig) -> Poller {
        let issues = relay_common::config::ServiceConfig::validate(&cfg, &|_| None);
        assert!(issues.is_empty(), "{issues:?}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .spawn(PollerServer::from_config(cfg, LogControl::unavailable()))
            .await
            .unwrap()
            .unwrap();
        let stop = CancellationToken::new();
        let task = runtime.spawn(server.run(stop.clone()));
        Poller {
            stop,
            task: Some(task),
            runtime: Some(runtime),
        }
    }

    /// Every event on TRIGGERS, in order.
    pub(crate) async fn events(&self) -> Vec<TriggerEvent> {
        let stream = self
            .client
            .js
            .get_stream(Namespace::new(Some(self.prefix.clone())).stream_name(StreamKind::Triggers))
            .await
            .unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                filter_subject: format!("{}.trg.>", self.prefix),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                inactive_threshold: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .unwrap();
        let pending = consumer.cached_info().num_pending as usize;
        let mut out = Vec::new();
        if pending == 0 {
            return out;
        }
        let mut batch = consumer
            .fetch()
            .max_messages(pending)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        while let Some(Ok(m)) = batch.next().await {
            let e = TriggerEvent::decode(&m.payload).unwrap();
            assert_eq!(
                m.subject.as_str(),
                format!("{}.trg.{}.{}", self.prefix, e.location_id, e.trigger),
            );
            out.push(e);
            if out.len() == pending {
                break;
            }
        }
        out
    }

    /// Waits until the events of `watch` are exactly `expected` (item id, change) in any
    /// order, then checks that no more arrive for a while.
    pub(crate) async fn expect_events(&self, watch: &str, mut expected: Vec<(String, Change)>) {
        expected.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
        let got = || async {
            let mut got: Vec<(String, Change)> = self
                .events()
                .await
                .into_iter()
                .filter(|e| e.watch_id.as_str() == watch)
                .map(|e| (e.item_id, e.change))
                .collect();
            got.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
            got
        };
        let mut last = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            last = got().await;
            if last.len() >= expected.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(last, expected, "events of watch {watch}");
        // A few more polls change nothing.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            got().await,
            expected,
            "events of watch {watch} after more polls"
        );
    }

    pub(crate) fn token(&self) -> SecretString {
        SecretString::from(TOKEN)
    }

    pub(crate) async fn create_contact(&self, email: &str) -> String {
        let body = CreateContact {
            location_id: LOCATION.into(),
            email: Some(email.into()),
            first_name: Some("Test".into()),
            ..Default::default()
        };
        self.ghl
            .create_contact(&self.token(), &body)
            .await
            .unwrap()
            .body
            .contact
            .id
    }

    pub(crate) async fn create_task(&self, contact: &str, title: &str) -> String {
        let task = NewTask {
            title: title.into(),
            due_date: "2030-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        self.ghl
            .create_task(&self.token(), contact, &task)
            .await
            .unwrap()
            .body
            .task
            .id
    }
}

pub(crate) fn watch(id: &str, trigger: TriggerKind, params: serde_json::Value) -> WatchConfig {
    WatchConfig {
        id: Token::parse(id).unwrap(),
        location: Token::parse(LOCATION).unwrap(),
        trigger,
        params: params.as_object().cloned().unwrap_or_default(),
        interval: Duration::from_millis(300),
    }
}

fn nats_config(nats: &NatsServer, prefix: &Token) -> NatsConfig {
    NatsConfig {
        url: nats.url(),
        prefix: Some(prefix.clone()),
        ..Default::default()
    }
}
