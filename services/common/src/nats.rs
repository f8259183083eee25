//! Connecting to NATS, provisioning streams and consumers, and publishing with trace context and
//! dedupe ids.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, publish::PublishAck, stream};
use async_nats::{HeaderMap, connection::State};
use bytes::Bytes;
use relay_contracts::{Namespace, StreamKind, headers};
use tokio::sync::watch;

use crate::config::NatsConfig;
use crate::propagation;

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
    #[error("cannot provision stream {stream}: {message}")]
    Stream { stream: String, message: String },
    #[error("cannot provision consumer {consumer} on {stream}: {message}")]
    Consumer {
        stream: String,
        consumer: String,
        message: String,
    },
    #[error("NATS is not connected")]
    Disconnected,
    #[error("JetStream did not acknowledge the publish within {0:?}")]
    AckTimeout(Duration),
    #[error("JetStream refused the publish: {0}")]
    Publish(String),
}

impl NatsError {
    /// Worth retrying later (the broker is away or slow), as opposed to a refusal.
    pub fn is_transient(&self) -> bool {
        !matches!(self, NatsError::Publish(_))
    }
}

/// A NATS connection with its JetStream context, namespace and live connection state.
#[derive(Clone)]
pub struct Nats {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub ns: Namespace,
    connected: watch::Receiver<bool>,
    provisioned: Arc<AtomicBool>,
    publish_timeout: Duration,
}

impl std::fmt::Debug for Nats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nats")
            .field("ns", &self.ns)
            .finish_non_exhaustive()
    }
}

impl Nats {
    /// Connects (retrying in the background if the server is not up yet, so a service can start
    /// before NATS and report NOT_SERVING until it is reachable).
    pub async fn connect(cfg: &NatsConfig, client_name: &str) -> Result<Self, NatsError> {
        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        let cb_tx = tx.clone();
        let opts = async_nats::ConnectOptions::new()
            .name(client_name)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(cfg.connect_timeout)
            .event_callback(move |event| {
                let tx = cb_tx.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!("nats connected");
                            let _ = tx.send(true);
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!("nats disconnected");
                            let _ = tx.send(false);
                        }
                        other => tracing::info!(event = %other, "nats event"),
                    }
                }
            });
        let urls: Vec<&str> = cfg.url.split(',').map(str::trim).collect();
        let client = opts
            .connect(urls.as_slice())
            .await
            .map_err(|source| NatsError::Connect {
                url: cfg.url.clone(),
                source,
            })?;
        if client.connection_state() == State::Connected {
            let _ = tx.send(true);
        }
        let js = jetstream::new(client.clone());
        Ok(Self {
            client,
            js,
            ns: cfg.namespace(),
            connected: rx,
            provisioned: Arc::new(AtomicBool::new(false)),
            publish_timeout: Duration::from_secs(3),
        })
    }

    pub fn is_connected(&self) -> bool {
        *self.connected.borrow() && self.client.connection_state() == State::Connected
    }

    /// Notified whenever the connection comes or goes.
    pub fn connection_changes(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    pub fn state(&self) -> State {
        self.client.connection_state()
    }

    pub fn is_provisioned(&self) -> bool {
        self.provisioned.load(Ordering::Acquire)
    }

    /// Creates or updates every Relay stream. Idempotent; every service calls it at start so the
    /// order in which services come up does not matter.
    pub async fn ensure_streams(&self, cfg: &NatsConfig) -> Result<(), NatsError> {
        let retention = cfg.retention();
        for kind in StreamKind::ALL {
            let config = self.ns.stream_config(kind, &retention);
            let name = config.name.clone();
            match self.js.get_stream(&name).await {
                Ok(mut existing) => {
                    let info = existing.info().await.map_err(|e| NatsError::Stream {
                        stream: name.clone(),
                        message: e.to_string(),
                    })?;
                    let current = &info.config;
                    if current.subjects != config.subjects
                        || current.max_age != config.max_age
                        || current.duplicate_window != config.duplicate_window
                        || current.description != config.description
                    {
                        let updated = stream::Config {
                            retention: current.retention,
                            ..config
                        };
                        self.js
                            .update_stream(updated)
                            .await
                            .map_err(|e| NatsError::Stream {
                                stream: name.clone(),
                                message: e.to_string(),
                            })?;
                    }
                }
                Err(_) => {
                    self.js
                        .get_or_create_stream(config)
                        .await
                        .map_err(|e| NatsError::Stream {
                            stream: name.clone(),
                            message: e.to_string(),
                        })?;
                }
            }
        }
        Ok(())
    }

    /// Opens a KV bucket, creating it if missing.
    pub async fn ensure_bucket(
        &self,
        bucket: relay_contracts::Bucket,
        replicas: usize,
    ) -> Result<jetstream::kv::Store, NatsError> {
        let name = self.ns.bucket_name(bucket);
        match self.js.get_key_value(&name).await {
            Ok(store) => Ok(store),
            Err(_) => self
                .js
                .create_key_value(self.ns.bucket_config(bucket, replicas))
                .await
                .map_err(|e| NatsError::Stream {
                    stream: name,
                    message: e.to_string(),
                }),
        }
    }

    /// [`Nats::ensure_bucket`], retried with backoff until it works; `None` once `cancel`
    /// fires first.
    pub async fn bucket_until_ready(
        &self,
        bucket: relay_contracts::Bucket,
        replicas: usize,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Option<jetstream::kv::Store> {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.ensure_bucket(bucket, replicas).await {
                Ok(store) => return Some(store),
                Err(e) => {
                    tracing::warn!(error.message = %e, ?bucket, retry_in = ?delay, "KV bucket unavailable");
                    tokio::select! {
                        () = cancel.cancelled() => return None,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Creates the durable pull consumer if missing, updating it when its config changed.
    pub async fn ensure_consumer(
        &self,
        kind: StreamKind,
        config: consumer::pull::Config,
    ) -> Result<consumer::PullConsumer, NatsError> {
        let stream_name = self.ns.stream_name(kind);
        let consumer_name = config.durable_name.clone().unwrap_or_default();
        let err = |e: &dyn std::fmt::Display| NatsError::Consumer {
            stream: stream_name.clone(),
            consumer: consumer_name.clone(),
            message: e.to_string(),
        };
        let stream = self
            .js
            .get_stream(&stream_name)
            .await
            .map_err(|e| err(&e))?;
        stream.create_consumer(config).await.map_err(|e| err(&e))
    }

    /// Waits (retrying with backoff) until the streams exist, then marks this connection
    /// provisioned. Returns early when `cancel` fires.
    pub async fn provision_until_ready(
        &self,
        cfg: &NatsConfig,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<(), NatsError> {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.ensure_streams(cfg).await {
                Ok(()) => {
                    self.provisioned.store(true, Ordering::Release);
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error.message = %e, retry_in = ?delay, "stream provisioning failed");
                    tokio::select! {
                        () = cancel.cancelled() => return Err(e),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Publishes to JetStream with the current trace context and an optional dedupe id, and
    /// waits for the acknowledgement. Fails fast when disconnected, so callers can answer 503.
    pub async fn publish(
        &self,
        subject: String,
        msg_id: Option<&str>,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<PublishAck, NatsError> {
        let pending = self.send(subject, msg_id, headers, payload).await?;
        pending.await
    }

    /// Like [`Nats::publish`], but returns once the message is handed to the connection (in
    /// call order), with the acknowledgement still to await: callers pipelining many messages
    /// (replays) keep their order and do not wait a round trip each.
    pub async fn send(
        &self,
        subject: String,
        msg_id: Option<&str>,
        mut headers: HeaderMap,
        payload: Bytes,
    ) -> Result<impl Future<Output = Result<PublishAck, NatsError>> + Send + use<>, NatsError> {
        if !self.is_connected() {
            return Err(NatsError::Disconnected);
        }
        if let Some(id) = msg_id {
            headers.insert(headers::MSG_ID, id);
        }
        propagation::inject_nats(&mut headers);
        let timeout = self.publish_timeout;
        let pending = tokio::time::timeout(
            timeout,
            self.js.publish_with_headers(subject, headers, payload),
        )
        .await
        .map_err(|_| NatsError::AckTimeout(timeout))?
        .map_err(|e| classify_publish(&e))?;
        Ok(async move {
            tokio::time::timeout(timeout, pending)
                .await
                .map_err(|_| NatsError::AckTimeout(timeout))?
                .map_err(|e| classify_publish(&e))
        })
    }

    /// Flushes what the client buffered (shutdown, after consumers stopped).
    pub async fn flush(&self) {
        if let Err(e) = tokio::time::timeout(Duration::from_secs(5), self.client.flush()).await {
            tracing::warn!(error.message = %e, "nats flush timed out");
        }
    }
}

fn classify_publish(e: &jetstream::context::PublishError) -> NatsError {
    use jetstream::context::PublishErrorKind as K;
    match e.kind() {
        K::TimedOut | K::BrokenPipe | K::MaxAckPending => NatsError::Disconnected,
        _ => NatsError::Publish(e.to_string()),
    }
}
