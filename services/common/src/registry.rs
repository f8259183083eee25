//! A live, decoded view of a KV bucket (the connections registry): loaded at start, then
//! kept current by a watch, so every service picks up `relayctl connections apply` without a
//! restart.
//!
//! Each value is decoded once, when it changes, by the service's own decoder (the mapper
//! compiles rules, ingest resolves secrets). A value that fails to decode is logged, counted
//! and left out — the previous good value of that key is kept, so a bad write can never take a
//! working connection down.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt as _;
use relay_contracts::Bucket;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::nats::Nats;

/// One decoded value and the KV revision it came from.
#[derive(Debug)]
pub struct Entry<T> {
    pub value: Arc<T>,
    pub revision: u64,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            revision: self.revision,
        }
    }
}

/// Every decoded entry by key.
pub type Snapshot<T> = Arc<BTreeMap<String, Entry<T>>>;

/// Turns a stored value into the service's view of it: `Ok(None)` when the entry is not this
/// service's concern (another storefront's connection), `Err` with the reason when it is
/// unusable.
pub type Decoder<T> = Arc<dyn Fn(&str, &[u8]) -> Result<Option<T>, String> + Send + Sync>;

/// The live view; cheap to clone.
pub struct Registry<T> {
    rx: watch::Receiver<Snapshot<T>>,
    /// The bucket it follows (`None` for a fixed registry), for writers of its entries.
    store: Option<kv::Store>,
}

impl<T> Clone for Registry<T> {
    fn clone(&self) -> Self {
        Self {
            rx: self.rx.clone(),
            store: self.store.clone(),
        }
    }
}

impl<T: Send + Sync + 'static> Registry<T> {
    /// Loads every key of `kv`, then follows its changes until `shutdown` (re-watching after
    /// broker trouble).
    pub async fn start(
        kv: kv::Store,
        name: &'static str,
        decode: Decoder<T>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let (map, last) = load(&kv, name, &decode).await?;
        let (tx, rx) = watch::channel(Arc::new(map));
        tokio::spawn(follow(kv.clone(), name, decode, tx, last, shutdown));
        Ok(Self {
            rx,
            store: Some(kv),
        })
    }

    /// Opens `bucket` and loads it, retrying both until they work (the broker may not be up
    /// yet); `None` once `shutdown` fires first.
    pub async fn start_until_ready(
        nats: &Nats,
        bucket: Bucket,
        replicas: usize,
        name: &'static str,
        decode: Decoder<T>,
        shutdown: CancellationToken,
    ) -> Option<Self> {
        loop {
            let kv = nats.bucket_until_ready(bucket, replicas, &shutdown).await?;
            match Self::start(kv, name, decode.clone(), shutdown.clone()).await {
                Ok(registry) => return Some(registry),
                Err(e) => {
                    tracing::warn!(registry = name, error.message = %e, "cannot load the registry; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return None,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// A registry that never changes (tests, or services configured without the bucket).
    pub fn fixed(entries: BTreeMap<String, Entry<T>>) -> Self {
        let (_tx, rx) = watch::channel(Arc::new(entries));
        Self { rx, store: None }
    }

    /// The KV bucket behind the view.
    pub fn store(&self) -> Option<&kv::Store> {
        self.store.as_ref()
    }

    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        self.rx.borrow().get(key).map(|e| e.value.clone())
    }

    pub fn snapshot(&self) -> Snapshot<T> {
        self.rx.borrow().clone()
    }

    /// Waits until the view changes (after the current one); `false` once it never will.
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    /// Waits until `key` is at `revision` or later (a writer that just stored it wants its
    /// own change visible before answering). `false` on timeout.
    pub async fn wait_for(&self, key: &str, revision: u64, timeout: Duration) -> bool {
        let mut rx = self.rx.clone();
        let reached = |m: &Snapshot<T>| m.get(key).is_some_and(|e| e.revision >= revision);
        tokio::time::timeout(timeout, rx.wait_for(reached))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until `key` is gone. `false` on timeout.
    pub async fn wait_gone(&self, key: &str, timeout: Duration) -> bool {
        let mut rx = self.rx.clone();
        tokio::time::timeout(timeout, rx.wait_for(|m| !m.contains_key(key)))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// What a stored value means for the view.
enum Decoded<T> {
    Use(Entry<T>),
    /// Not this service's concern: make sure the key is not in the view.
    Ignore,
    /// Unusable: keep whatever the view had.
    Refused,
}

fn decode_entry<T>(
    name: &'static str,
    decode: &Decoder<T>,
    key: &str,
    value: &[u8],
    revision: u64,
) -> Decoded<T> {
    match decode(key, value) {
        Ok(Some(v)) => Decoded::Use(Entry {
            value: Arc::new(v),
            revision,
        }),
        Ok(None) => Decoded::Ignore,
        Err(reason) => {
            tracing::error!(
                registry = name,
                key,
                revision,
                reason,
                "stored value refused; keeping the previous one"
            );
            metrics::counter!("relay_registry_rejected_total", "registry" => name).increment(1);
            Decoded::Refused
        }
    }
}

async fn load<T>(
    kv: &kv::Store,
    name: &'static str,
    decode: &Decoder<T>,
) -> anyhow::Result<(BTreeMap<String, Entry<T>>, u64)> {
    let last = kv.status().await?.info.state.last_sequence;
    let mut map = BTreeMap::new();
    let mut keys = kv.keys().await?;
    while let Some(key) = keys.next().await {
        let key = key?;
        if let Some(e) = kv.entry(key.clone()).await?
            && matches!(e.operation, Operation::Put)
            && let Decoded::Use(entry) = decode_entry(name, decode, &key, &e.value, e.revision)
        {
            map.insert(key, entry);
        }
    }
    tracing::info!(
        registry = name,
        entries = map.len(),
        revision = last,
        "registry loaded"
    );
    Ok((map, last))
}

async fn follow<T>(
    kv: kv::Store,
    name: &'static str,
    decode: Decoder<T>,
    tx: watch::Sender<Snapshot<T>>,
    mut last: u64,
    shutdown: CancellationToken,
) {
    loop {
        let mut watch = match kv.watch_all_from_revision(last + 1).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(registry = name, error.message = %e, "cannot watch; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                n = watch.next() => n,
            };
            let e = match next {
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    tracing::warn!(registry = name, error.message = %e, "watch interrupted; re-watching");
                    break;
                }
                None => break,
            };
            if e.revision <= last {
                continue;
            }
            last = e.revision;
            let current = tx.borrow().get(&e.key).map(|x| x.revision);
            if current.is_some_and(|r| r >= e.revision) {
                continue;
            }
            match e.operation {
                Operation::Put => match decode_entry(name, &decode, &e.key, &e.value, e.revision) {
                    Decoded::Use(entry) => {
                        tracing::info!(registry = name, key = %e.key, revision = e.revision, "registry entry updated");
                        tx.send_modify(|m| {
                            Arc::make_mut(m).insert(e.key.clone(), entry);
                        });
                    }
                    Decoded::Ignore if current.is_some() => tx.send_modify(|m| {
                        Arc::make_mut(m).remove(&e.key);
                    }),
                    Decoded::Ignore | Decoded::Refused => {}
                },
                Operation::Delete | Operation::Purge => {
                    tracing::info!(registry = name, key = %e.key, revision = e.revision, "registry entry removed");
                    tx.send_modify(|m| {
                        Arc::make_mut(m).remove(&e.key);
                    });
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}
