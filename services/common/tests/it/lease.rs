//! Leases against a real nats-server.
//!
//! Each replica's worker records, for every lease it gets, the interval during which it worked
//! on the item: from when the `Lease` arrived to when it stopped (after `lost` fired: at once
//! when the lease expired, after finishing its in-flight work when it was released, just
//! before dropping the `Lease`). The [`Checker`] then asserts that no item was ever worked on
//! by two workers at overlapping times.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use relay_common::config::NatsConfig;
use relay_common::lease::{Lease, LeaseConfig, LeaseError, LeaseLoss, Leases};
use relay_common::nats::Nats;
use relay_contracts::{Bucket, Token};
use relay_test_support::{NatsServer, eventually, unique_prefix};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const GROUP: &str = "writer";
const TTL: Duration = Duration::from_secs(2);
/// The renewal round, `TTL / 3`.
const ROUND: Duration = Duration::from_millis(667);
/// Work a worker finishes after a voluntary release, before it drops the lease.
const IN_FLIGHT: Duration = Duration::from_millis(300);
const SETTLE: Duration = Duration::from_secs(10);

fn partitions() -> Vec<String> {
    (0..16).map(|p| format!("p{p:02}")).collect()
}

/// One worker's time on one item.
#[derive(Clone, Debug)]
struct Span {
    item: String,
    holder: String,
    from: Instant,
    to: Option<Instant>,
    loss: Option<LeaseLoss>,
}

#[derive(Clone, Default)]
struct Checker(Arc<Mutex<Vec<Span>>>);

impl Checker {
    fn open(&self, item: &str, holder: &str) -> usize {
        let mut spans = self.0.lock().unwrap();
        spans.push(Span {
            item: item.to_owned(),
            holder: holder.to_owned(),
            from: Instant::now(),
            to: None,
            loss: None,
        });
        spans.len() - 1
    }

    fn close(&self, span: usize, loss: Option<LeaseLoss>) {
        let mut spans = self.0.lock().unwrap();
        spans[span].to = Some(Instant::now());
        spans[span].loss = loss;
    }

    fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }

    /// How many items each holder works on right now.
    fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for s in self.spans().into_iter().filter(|s| s.to.is_none()) {
            *counts.entry(s.holder).or_default() += 1;
        }
        counts
    }

    fn items_of(&self, holder: &str) -> Vec<String> {
        let mut items: Vec<String> = self
            .spans()
            .into_iter()
            .filter(|s| s.to.is_none() && s.holder == holder)
            .map(|s| s.item)
            .collect();
        items.sort();
        items
    }

    /// No item was ever worked on by two workers (or twice by one) at overlapping times.
    fn assert_exclusive(&self) {
        let mut by_item: BTreeMap<String, Vec<Span>> = BTreeMap::new();
        for s in self.spans() {
            by_item.entry(s.item.clone()).or_default().push(s);
        }
        for (item, mut spans) in by_item {
            spans.sort_by_key(|s| s.from);
            for pair in spans.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                assert!(
                    a.to.is_some_and(|to| to <= b.from),
                    "{item} held twice: {} from {:?} to {:?} ({:?}), {} from {:?}",
                    a.holder,
                    a.from,
                    a.to,
                    a.loss,
                    b.holder,
                    b.from,
                );
            }
        }
    }
}

/// A worker: works on each item until its lease is lost, then stops (finishing the in-flight
/// work first when the lease was released, not expired) and drops the lease.
fn spawn_worker(holder: String, mut leases: mpsc::UnboundedReceiver<Lease>, checker: Checker) {
    tokio::spawn(async move {
        while let Some(lease) = leases.recv().await {
            let (checker, holder) = (checker.clone(), holder.clone());
            tokio::spawn(async move {
                let span = checker.open(&lease.item, &holder);
                lease.lost.cancelled().await;
                let loss = lease.loss();
                if loss == Some(LeaseLoss::Released) {
                    tokio::time::sleep(IN_FLIGHT).await;
                }
                checker.close(span, loss);
                drop(lease);
            });
        }
    });
}

struct Replica {
    leases: Leases,
    cancel: CancellationToken,
}

/// A nats-server, replicas of one group on it, and the checker their workers report to.
struct Cluster {
    server: NatsServer,
    prefix: Token,
    checker: Checker,
    replicas: BTreeMap<String, Replica>,
}

impl Cluster {
    fn new() -> Self {
        Self {
            server: NatsServer::start(),
            prefix: unique_prefix(),
            checker: Checker::default(),
            replicas: BTreeMap::new(),
        }
    }

    /// A connection of its own, as a separate process would have.
    async fn nats(&self, name: &str) -> Nats {
        let cfg = NatsConfig {
            url: self.server.url(),
            prefix: Some(self.prefix.clone()),
            ..NatsConfig::default()
        };
        Nats::connect(&cfg, name).await.unwrap()
    }

    fn config(holder: &str) -> LeaseConfig {
        LeaseConfig {
            holder: Some(holder.to_owned()),
            release_timeout: Duration::from_secs(5),
            ..LeaseConfig::new(GROUP, TTL)
        }
    }

    async fn join(&mut self, holder: &str, items: Vec<String>) -> Leases {
        let nats = self.nats(holder).await;
        let cancel = CancellationToken::new();
        let (leases, rx) = Leases::start(&nats, Self::config(holder), items, cancel.clone())
            .await
            .unwrap();
        assert_eq!(leases.holder(), holder);
        spawn_worker(holder.to_owned(), rx, self.checker.clone());
        self.replicas.insert(
            holder.to_owned(),
            Replica {
                leases: leases.clone(),
                cancel,
            },
        );
        leases
    }

    /// Stops a replica without releasing anything, as a crash would.
    fn kill(&mut self, holder: &str) {
        let replica = self.replicas.remove(holder).unwrap();
        replica.cancel.cancel();
    }

    /// Graceful shutdown of a replica.
    async fn leave(&mut self, holder: &str) {
        let replica = self.replicas.remove(holder).unwrap();
        replica.leases.release_all(Duration::from_secs(5)).await;
        assert!(replica.leases.is_stopped());
    }

    async fn leave_all(&mut self) {
        let holders: Vec<String> = self.replicas.keys().cloned().collect();
        for h in holders {
            self.leave(&h).await;
        }
    }

    /// Waits until the workers hold exactly `expected` items each, every replica's snapshot
    /// agrees, and nothing is being handed over.
    async fn settle(&self, expected: &[(&str, usize)], within: Duration) {
        let want: BTreeMap<String, usize> = expected
            .iter()
            .map(|(h, n)| ((*h).to_owned(), *n))
            .collect();
        eventually(&format!("workers to hold {want:?}"), within, || {
            let snapshots_agree = self.replicas.values().all(|r| {
                let s = r.leases.snapshot();
                want.get(r.leases.holder()) == Some(&s.held.len())
                    && s.releasing.is_empty()
                    && s.quota == s.held.len()
            });
            std::future::ready((self.checker.counts() == want && snapshots_agree).then_some(()))
        })
        .await;
    }

    /// The keys in the lease bucket.
    async fn keys(&self) -> Vec<String> {
        let nats = self.nats("probe").await;
        let kv = nats
            .js
            .get_key_value(nats.ns.bucket_name(Bucket::Leases))
            .await
            .unwrap();
        let mut keys: Vec<String> = kv.keys().await.unwrap().try_collect().await.unwrap();
        keys.sort();
        keys
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_holds_every_item_and_hands_them_over_on_release() {
    let mut c = Cluster::new();
    let a = c.join("a", partitions()).await;
    c.settle(&[("a", 16)], SETTLE).await;
    let s = a.snapshot();
    assert_eq!(s.members, ["a"]);
    assert_eq!((s.quota, s.items, s.ttl, s.connected), (16, 16, TTL, true));
    assert_eq!(s.held, partitions());
    let keys = c.keys().await;
    assert!(keys.contains(&"writer.member.a".to_owned()), "{keys:?}");
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with("writer.item."))
            .count(),
        16
    );

    // A graceful release waits for the workers, then deletes every key: the next replica
    // takes over at once instead of after the ttl.
    c.leave("a").await;
    assert!(c.checker.counts().is_empty(), "every worker stopped");
    assert!(
        c.checker
            .spans()
            .iter()
            .all(|s| s.loss == Some(LeaseLoss::Released))
    );
    assert_eq!(c.keys().await, Vec::<String>::new());
    let started = Instant::now();
    c.join("b", partitions()).await;
    c.settle(&[("b", 16)], SETTLE).await;
    assert!(started.elapsed() < TTL, "took {:?}", started.elapsed());

    c.leave_all().await;
    c.checker.assert_exclusive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_joining_one_by_one_split_the_items_evenly() {
    let mut c = Cluster::new();
    c.join("a", partitions()).await;
    c.settle(&[("a", 16)], SETTLE).await;

    // Rebalancing hands items over only after the old worker finished and dropped the lease
    // (the checker would see the overlap otherwise: IN_FLIGHT is half a round).
    c.join("b", partitions()).await;
    c.settle(&[("a", 8), ("b", 8)], SETTLE).await;
    assert_eq!(c.checker.items_of("a"), partitions()[..8]);
    assert_eq!(c.checker.items_of("b"), partitions()[8..]);

    let cc = c.join("c", partitions()).await;
    c.settle(&[("a", 6), ("b", 5), ("c", 5)], SETTLE).await;
    let s = cc.snapshot();
    assert_eq!(s.members, ["a", "b", "c"]);
    assert_eq!(s.quota, 5);

    let handed_over = c
        .checker
        .spans()
        .iter()
        .filter(|s| s.loss == Some(LeaseLoss::Released))
        .count();
    assert_eq!(
        handed_over,
        8 + 5,
        "a gave 8 to b, then a and b gave 5 to c"
    );
    assert!(
        c.checker
            .spans()
            .iter()
            .all(|s| s.loss != Some(LeaseLoss::Expired)),
        "no lease expired"
    );

    c.leave_all().await;
    c.checker.assert_exclusive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_replica_s_items_are_taken_over_within_a_ttl_and_a_round() {
    let mut c = Cluster::new();
    for h in ["a", "b", "c"] {
        c.join(h, partitions()).await;
    }
    c.settle(&[("a", 6), ("b", 5), ("c", 5)], SETTLE).await;

    let killed = Instant::now();
    c.kill("c");
    // Its leases stay in the bucket until they expire; the survivors pick them up then.
    c.settle(&[("a", 8), ("b", 8)], SETTLE).await;
    let took = killed.elapsed();
    assert!(took >= TTL - ROUND, "taken over before expiry: {took:?}");
    // ttl + one round, plus slack for the server's expiry timer and a busy machine.
    assert!(
        took < TTL + ROUND + Duration::from_millis(700),
        "took {took:?}"
    );

    let s = c.replicas["a"].leases.snapshot();
    assert_eq!(s.members, ["a", "b"]);
    c.leave_all().await;
    c.checker.assert_exclusive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_item_is_held_twice_across_joins_kills_and_nats_restarts() {
    let mut c = Cluster::new();
    // Two replicas starting together race for the same keys.
    let (a, b) = (c.nats("a").await, c.nats("b").await);
    let (ca, cb) = (CancellationToken::new(), CancellationToken::new());
    let (ra, rb) = tokio::join!(
        Leases::start(&a, Cluster::config("a"), partitions(), ca.clone()),
        Leases::start(&b, Cluster::config("b"), partitions(), cb.clone()),
    );
    for ((h, r), cancel) in [("a", ra), ("b", rb)].into_iter().zip([ca, cb]) {
        let (leases, rx) = r.unwrap();
        spawn_worker(h.to_owned(), rx, c.checker.clone());
        c.replicas.insert(h.to_owned(), Replica { leases, cancel });
    }
    c.settle(&[("a", 8), ("b", 8)], SETTLE).await;
    c.join("c", partitions()).await;
    c.settle(&[("a", 6), ("b", 5), ("c", 5)], SETTLE).await;

    // A quick restart: leases survive it or expire and are taken again.
    tokio::task::block_in_place(|| c.server.restart());
    c.settle(&[("a", 6), ("b", 5), ("c", 5)], SETTLE).await;

    c.kill("b");
    c.settle(&[("a", 8), ("c", 8)], SETTLE).await;

    // An outage longer than the ttl: every worker stops before its lease could expire on
    // the server, and the items are shared out again once NATS is back.
    tokio::task::block_in_place(|| c.server.stop());
    let stopped = Instant::now();
    eventually("every worker to stop", TTL, || {
        std::future::ready(c.checker.counts().is_empty().then_some(()))
    })
    .await;
    assert!(stopped.elapsed() < TTL, "stopped only after the ttl");
    assert!(!c.replicas["a"].leases.snapshot().connected);
    tokio::time::sleep(TTL.saturating_sub(stopped.elapsed()) + ROUND).await;
    tokio::task::block_in_place(|| c.server.restart());
    c.settle(&[("a", 8), ("c", 8)], SETTLE).await;

    c.join("d", partitions()).await;
    c.settle(&[("a", 6), ("c", 5), ("d", 5)], SETTLE).await;

    c.leave_all().await;
    assert!(
        c.checker
            .spans()
            .iter()
            .any(|s| s.loss == Some(LeaseLoss::Expired)),
        "the outage expired some leases"
    );
    c.checker.assert_exclusive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_items_acquires_new_items_and_releases_removed_ones() {
    let mut c = Cluster::new();
    let watches = |n: usize| -> Vec<String> { (1..=n).map(|i| format!("w{i}")).collect() };
    let a = c.join("a", watches(4)).await;
    let b = c.join("b", watches(4)).await;
    c.settle(&[("a", 2), ("b", 2)], SETTLE).await;

    // Watch ids are not always key-safe.
    let mut more = watches(5);
    more.push("loc.1/contacts search".to_owned());
    a.set_items(more.clone());
    b.set_items(more.clone());
    c.settle(&[("a", 3), ("b", 3)], SETTLE).await;
    let mut held = a.snapshot().held;
    held.extend(b.snapshot().held);
    held.sort();
    more.sort();
    assert_eq!(held, more);

    let shrunk = Instant::now();
    a.set_items(vec!["w1".into(), "w2".into()]);
    b.set_items(vec!["w1".into(), "w2".into()]);
    c.settle(&[("a", 1), ("b", 1)], SETTLE).await;
    // The removed items were released (the workers told, not left to expire).
    let mut removed: Vec<(String, Option<LeaseLoss>)> = c
        .checker
        .spans()
        .into_iter()
        .filter(|s| s.item != "w1" && s.item != "w2" && s.to.is_none_or(|to| to > shrunk))
        .map(|s| (s.item, s.loss))
        .collect();
    removed.sort_by(|x, y| x.0.cmp(&y.0));
    let released = Some(LeaseLoss::Released);
    assert_eq!(
        removed,
        [
            ("loc.1/contacts search".to_owned(), released),
            ("w3".to_owned(), released),
            ("w4".to_owned(), released),
            ("w5".to_owned(), released),
        ]
    );

    c.leave_all().await;
    c.checker.assert_exclusive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_from_under_a_holder_is_lost_at_once() {
    let mut c = Cluster::new();
    let a = c.join("a", partitions()[..2].to_vec()).await;
    c.settle(&[("a", 2)], SETTLE).await;

    let nats = c.nats("intruder").await;
    let kv = nats
        .js
        .get_key_value(nats.ns.bucket_name(Bucket::Leases))
        .await
        .unwrap();
    let put = Instant::now();
    kv.put("writer.item.p00", "intruder".into()).await.unwrap();

    // The next renewal finds another revision: the worker is told at once.
    eventually("p00 lost", ROUND * 2, || {
        std::future::ready((c.checker.items_of("a") == ["p01"]).then_some(()))
    })
    .await;
    let lost = c
        .checker
        .spans()
        .into_iter()
        .find(|s| s.item == "p00")
        .unwrap();
    assert_eq!(lost.loss, Some(LeaseLoss::Expired));
    assert!(!a.snapshot().held.contains(&"p00".to_owned()));

    // Nothing is deleted: the intruder's entry lives out its ttl, then p00 comes back.
    c.settle(&[("a", 2)], SETTLE).await;
    assert!(
        put.elapsed() >= TTL,
        "p00 retaken after {:?}",
        put.elapsed()
    );

    c.leave_all().await;
    c.checker.assert_exclusive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_s_max_age_is_the_ttl() {
    let c = Cluster::new();
    let nats = c.nats("a").await;

    // Opened before by something unaware of leases: no max_age, so it gets the ttl.
    nats.ensure_bucket(Bucket::Leases, 1).await.unwrap();
    let cancel = CancellationToken::new();
    let (a, _rx) = Leases::start(&nats, Cluster::config("a"), vec![], cancel.clone())
        .await
        .unwrap();
    assert_eq!(a.ttl(), TTL);
    let kv = nats
        .js
        .get_key_value(nats.ns.bucket_name(Bucket::Leases))
        .await
        .unwrap();
    assert_eq!(kv.status().await.unwrap().info.config.max_age, TTL);

    // Another group configured with another ttl shares the bucket, and its ttl.
    let mut cfg = LeaseConfig::new("poller", Duration::from_secs(5));
    cfg.holder = Some("b".into());
    let (b, _rx) = Leases::start(&nats, cfg, vec![], cancel.clone())
        .await
        .unwrap();
    assert_eq!(b.ttl(), TTL);
    assert_eq!(b.snapshot().ttl, TTL);

    for bad in [
        LeaseConfig::new("writer.x", TTL),
        LeaseConfig::new("writer", Duration::from_millis(500)),
        LeaseConfig {
            holder: Some("a b".into()),
            ..LeaseConfig::new("writer", TTL)
        },
    ] {
        let err = Leases::start(&nats, bad, vec![], cancel.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, LeaseError::Config(_)), "{err}");
        assert!(!err.is_transient());
    }
    cancel.cancel();
    a.stopped().await;
    b.stopped().await;
}
