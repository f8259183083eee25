//! Leases: a group of replicas shares a set of items (the writer's command partitions
//! `p00`..`p15`, the poller's watches) so that each item is driven by at most one replica at a
//! time, the items are spread evenly, and a dead replica's items are taken over within seconds.
//!
//! # How it works
//!
//! Everything lives in the namespace's [`Bucket::Leases`] KV bucket, whose `max_age` is the
//! lease ttl: an entry nobody rewrites vanishes on the *server's* clock, so no replica ever
//! compares its clock with another's.
//!
//! - **Membership**: each replica rewrites `<group>.member.<holder>` every `ttl/3`; the live
//!   members are the keys present. Sorted by holder id, member `i` of `m` should hold
//!   `n/m + (i < n%m)` of the `n` items (16 on 3 replicas: 6/5/5). Fresh holder ids are
//!   time-ordered, so the oldest replicas keep the extra items and a joiner moves fewest.
//! - **Items**: `<group>.item.<item>`, taken with `create` (atomic: fails when the key exists)
//!   and renewed every `ttl/3` with `update(.., last_revision)`, so a renewal never overwrites
//!   someone else's lease.
//! - **Loss**: a renewal refused for a revision mismatch, or no successful renewal before
//!   `renewal sent + ttl - ttl/5` on the local monotonic clock (NATS unreachable, the process
//!   starved), means the lease is lost: [`Lease::lost`] fires at that instant (a per-lease
//!   watchdog, independent of the KV calls in flight), with [`LeaseLoss::Expired`]. The server
//!   stamps the renewal after it was sent, so the entry outlives the local deadline by at least
//!   `ttl/5`: the worker has stopped before anyone else can `create` the key. A lost lease is
//!   never deleted by its old holder.
//! - **Hand-off**: a voluntary release (rebalancing after a join, an item removed by
//!   [`Leases::set_items`], [`Leases::release_all`]) fires `lost` with
//!   [`LeaseLoss::Released`], keeps renewing the key until the worker *dropped* its [`Lease`]
//!   (it finished its in-flight work; bounded by [`LeaseConfig::release_timeout`]), and only
//!   then deletes the key, so the next owner starts after the previous one stopped.
//! - **Stopping without releasing** (the `cancel` token given to [`Leases::start`]; what a
//!   crash looks like to the others): every `lost` fires with `Expired`, nothing is deleted,
//!   and the other replicas take the items over once the entries expired (within `ttl` plus one
//!   `ttl/3` round).
//!
//! During a NATS outage nothing can be renewed: leases are lost `0.8 ttl` after their last
//! renewal (workers stop), nobody acquires anything, and after the reconnection the entries
//! still alive are verified (value and revision) before being renewed again, the expired ones
//! acquired afresh.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::TryStreamExt;
use relay_contracts::Bucket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::nats::Nats;

/// The shortest ttl accepted (renewals run every `ttl/3`).
pub const MIN_TTL: Duration = Duration::from_secs(1);

/// How a group of replicas shares its items.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Who shares the items (`writer`, `poller`): one key space per group. `[A-Za-z0-9_-]+`.
    pub group: String,
    /// A lease (and a membership) nobody renews for this long is gone. It is the bucket's
    /// `max_age`: when the bucket already exists with another `max_age`, that one is used.
    pub ttl: Duration,
    /// Replicas of the bucket, when this call creates it (1 on one server, 3 in a cluster).
    pub replicas: usize,
    /// This replica's id in the group (`[A-Za-z0-9_-]+`, unique); a fresh time-ordered id
    /// when `None`.
    pub holder: Option<String>,
    /// How long a voluntary release waits for the worker to drop the [`Lease`] before it
    /// deletes the key anyway.
    pub release_timeout: Duration,
}

impl LeaseConfig {
    pub fn new(group: impl Into<String>, ttl: Duration) -> Self {
        Self {
            group: group.into(),
            ttl,
            replicas: 1,
            holder: None,
            release_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("cannot open the lease bucket {bucket}: {message}")]
    Bucket { bucket: String, message: String },
    #[error("invalid lease configuration: {0}")]
    Config(String),
}

impl LeaseError {
    /// Worth retrying later (NATS is away), as opposed to a configuration mistake.
    pub fn is_transient(&self) -> bool {
        matches!(self, LeaseError::Bucket { .. })
    }
}

/// Why a [`Lease`]'s `lost` token fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseLoss {
    /// Given back on purpose (rebalancing, item removed, shutdown). The key stays ours until
    /// the `Lease` is dropped: finish the in-flight work, then drop it.
    Released,
    /// Not renewed in time (NATS unreachable, taken over, or the leases were stopped): another
    /// replica may take the item soon. Stop now.
    Expired,
}

const LIVE: u8 = 0;
const RELEASED: u8 = 1;
const EXPIRED: u8 = 2;

/// The right to drive one item, handed to the worker.
///
/// Work on the item while `lost` has not fired; once it fires, stop (see [`Lease::loss`]) and
/// drop the `Lease`: a voluntary release deletes the key (letting the next owner start) only
/// after the drop. A lease may arrive with `lost` already fired (given back before the worker
/// got to it). Dropping a `Lease` before `lost` fired gives the item up.
pub struct Lease {
    pub item: String,
    /// Fires when the lease is released or lost.
    pub lost: CancellationToken,
    state: Arc<AtomicU8>,
    generation: u64,
    dropped: mpsc::UnboundedSender<Dropped>,
}

impl Lease {
    /// Why `lost` fired (`None` while the lease is held). `Expired` wins over `Released` when
    /// a release could not complete in time.
    pub fn loss(&self) -> Option<LeaseLoss> {
        loss_of(self.state.load(Ordering::Acquire))
    }
}

fn loss_of(state: u8) -> Option<LeaseLoss> {
    match state {
        LIVE => None,
        RELEASED => Some(LeaseLoss::Released),
        _ => Some(LeaseLoss::Expired),
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("item", &self.item)
            .field("loss", &self.loss())
            .finish_non_exhaustive()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = self.dropped.send(Dropped {
            item: std::mem::take(&mut self.item),
            generation: self.generation,
        });
    }
}

struct Dropped {
    item: String,
    generation: u64,
}

/// What a replica holds and sees, for admin status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseSnapshot {
    pub group: String,
    pub holder: String,
    /// The effective ttl (the bucket's `max_age`).
    pub ttl: Duration,
    /// Items of the group, as this replica knows them.
    pub items: usize,
    /// Items held and worked on, sorted.
    pub held: Vec<String>,
    /// Items being given back: the worker was told and has not dropped the lease yet.
    pub releasing: Vec<String>,
    /// Live members at the last listing, sorted (this replica included).
    pub members: Vec<String>,
    /// How many items this replica should hold, given `members`.
    pub quota: usize,
    /// Whether NATS was reachable at the last round (if not, leases are about to expire).
    pub connected: bool,
}

/// A handle on this replica's leases in one group; cheap to clone.
#[derive(Clone)]
pub struct Leases {
    shared: Arc<Shared>,
}

impl fmt::Debug for Leases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leases")
            .field("group", &self.shared.group)
            .field("holder", &self.shared.holder)
            .finish_non_exhaustive()
    }
}

struct Shared {
    group: String,
    holder: String,
    ttl: Duration,
    commands: mpsc::UnboundedSender<Command>,
    snapshot: Mutex<LeaseSnapshot>,
    stopped: CancellationToken,
}

enum Command {
    SetItems(Vec<String>),
    ReleaseAll {
        timeout: Duration,
        done: oneshot::Sender<()>,
    },
}

impl Leases {
    /// Joins `cfg.group` with `items` and starts acquiring and renewing in the background.
    ///
    /// Acquired leases arrive on the returned receiver. The background task runs until
    /// [`Leases::release_all`] completes, the receiver is dropped (then it releases
    /// everything), or `cancel` fires (then it stops *without* releasing: every `lost` fires
    /// and the entries expire after the ttl, as after a crash).
    pub async fn start(
        nats: &Nats,
        cfg: LeaseConfig,
        items: Vec<String>,
        cancel: CancellationToken,
    ) -> Result<(Leases, mpsc::UnboundedReceiver<Lease>), LeaseError> {
        if !is_token(&cfg.group) {
            return Err(LeaseError::Config(format!(
                "group {:?} must be non-empty and only hold [A-Za-z0-9_-]",
                cfg.group
            )));
        }
        if let Some(h) = &cfg.holder
            && !is_token(h)
        {
            return Err(LeaseError::Config(format!(
                "holder {h:?} must be non-empty and only hold [A-Za-z0-9_-]"
            )));
        }
        if cfg.ttl < MIN_TTL {
            return Err(LeaseError::Config(format!(
                "ttl {:?} is below the minimum {MIN_TTL:?}",
                cfg.ttl
            )));
        }
        let holder = cfg.holder.clone().unwrap_or_else(|| fresh_holder(nats));
        let (kv, ttl) = open_bucket(nats, &cfg).await?;

        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (leases_tx, leases_rx) = mpsc::unbounded_channel();
        let (dropped_tx, dropped_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            group: cfg.group.clone(),
            holder: holder.clone(),
            ttl,
            commands,
            snapshot: Mutex::new(LeaseSnapshot {
                group: cfg.group.clone(),
                holder: holder.clone(),
                ttl,
                connected: nats.is_connected(),
                ..LeaseSnapshot::default()
            }),
            stopped: CancellationToken::new(),
        });
        let interval = ttl / 3;
        let mut manager = Manager {
            nats: nats.clone(),
            kv,
            member_key: format!("{}.member.{holder}", cfg.group),
            member_prefix: format!("{}.member.", cfg.group),
            item_prefix: format!("{}.item.", cfg.group),
            group: cfg.group,
            holder,
            ttl,
            interval,
            margin: ttl / 5,
            op_timeout: interval / 2,
            release_timeout: cfg.release_timeout,
            items: BTreeMap::new(),
            held: BTreeMap::new(),
            alive: HashMap::new(),
            members: Vec::new(),
            quota: 0,
            next_generation: 0,
            verify: false,
            connected: true,
            draining: false,
            waiters: Vec::new(),
            leases_tx,
            dropped_tx,
            shared: shared.clone(),
        };
        manager.replace_items(items);
        tracing::info!(
            lease.group = %manager.group,
            lease.holder = %manager.holder,
            ?ttl,
            items = manager.items.len(),
            "joining lease group"
        );
        tokio::spawn(manager.run(commands_rx, dropped_rx, cancel));
        Ok((Leases { shared }, leases_rx))
    }

    /// This replica's id in the group.
    pub fn holder(&self) -> &str {
        &self.shared.holder
    }

    pub fn group(&self) -> &str {
        &self.shared.group
    }

    /// The effective ttl (the bucket's `max_age`).
    pub fn ttl(&self) -> Duration {
        self.shared.ttl
    }

    /// Replaces the item set (the poller's watches change at runtime). Held items no longer in
    /// the set are released; new ones are acquired within a round.
    pub fn set_items(&self, items: Vec<String>) {
        let _ = self.shared.commands.send(Command::SetItems(items));
    }

    pub fn snapshot(&self) -> LeaseSnapshot {
        self.shared
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Graceful shutdown: leaves the group, tells every worker (`Released`), waits (at most
    /// `timeout`) until each dropped its lease, deletes the keys, and stops the background
    /// task. Returns at once when it already stopped.
    pub async fn release_all(&self, timeout: Duration) {
        let (done, done_rx) = oneshot::channel();
        if self
            .shared
            .commands
            .send(Command::ReleaseAll { timeout, done })
            .is_err()
        {
            return;
        }
        // The deletes after the waiting are bounded too; this only guards against a stall.
        let _ = tokio::time::timeout(timeout + self.shared.ttl, done_rx).await;
    }

    /// Resolves once the background task stopped (released, cancelled or dropped).
    pub async fn stopped(&self) {
        self.shared.stopped.cancelled().await;
    }

    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.is_cancelled()
    }
}

/// `[A-Za-z0-9_-]+`: safe in a KV key and in a subject token.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_plain)
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// An item as a KV key token: verbatim when it is `[A-Za-z0-9_-]+`, otherwise `=` followed by
/// the hex of its bytes (so the mapping is one-to-one and always a valid key).
fn item_token(item: &str) -> String {
    if is_token(item) {
        return item.to_owned();
    }
    let mut out = String::with_capacity(1 + 2 * item.len());
    out.push('=');
    for b in item.bytes() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A unique, time-ordered holder id: creation time (hex ms) then a NUID.
fn fresh_holder(nats: &Nats) -> String {
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let inbox = nats.client.new_inbox();
    let nuid: String = inbox
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{millis:012x}{nuid}")
}

/// Member `index` of `members`' share of `items`: how many it should hold, and where its
/// preferred slice of the sorted items starts.
fn share(items: usize, members: usize, index: usize) -> (usize, usize) {
    if members == 0 {
        return (items, 0);
    }
    let (base, extra) = (items / members, items % members);
    let quota = base + usize::from(index < extra);
    let start = base * index + index.min(extra);
    (quota, start)
}

/// Opens (or creates) the lease bucket with `max_age = ttl`; returns it with the effective
/// ttl.
async fn open_bucket(nats: &Nats, cfg: &LeaseConfig) -> Result<(kv::Store, Duration), LeaseError> {
    let name = nats.ns.bucket_name(Bucket::Leases);
    let mut config = nats.ns.bucket_config(Bucket::Leases, cfg.replicas);
    config.max_age = cfg.ttl;
    config.history = 1;
    let err = |e: &dyn fmt::Display| LeaseError::Bucket {
        bucket: name.clone(),
        message: e.to_string(),
    };
    let store = match nats.js.get_key_value(&name).await {
        Ok(store) => store,
        Err(_) => match nats.js.create_key_value(config.clone()).await {
            Ok(store) => return Ok((store, cfg.ttl)),
            // Another replica may have created it meanwhile, possibly with another ttl.
            Err(create) => nats
                .js
                .get_key_value(&name)
                .await
                .map_err(|_| err(&create))?,
        },
    };
    let current = store.status().await.map_err(|e| err(&e))?.info.config;
    let existing = current.max_age;
    if existing.is_zero() {
        // Created without a max_age (e.g. by `Nats::ensure_bucket`): nothing would ever expire
        // and a crashed replica's items would stay taken forever.
        tracing::warn!(bucket = %name, ttl = ?cfg.ttl, "lease bucket has no max_age; setting it to the lease ttl");
        config.num_replicas = current.num_replicas;
        let store = nats
            .js
            .update_key_value(config)
            .await
            .map_err(|e| err(&e))?;
        return Ok((store, cfg.ttl));
    }
    if existing != cfg.ttl {
        tracing::warn!(
            bucket = %name,
            configured = ?cfg.ttl,
            bucket_max_age = ?existing,
            "lease bucket exists with another max_age; using it as the lease ttl"
        );
    }
    Ok((store, existing))
}

/// One item this replica holds in the KV bucket.
struct Held {
    key: String,
    revision: u64,
    value: Bytes,
    generation: u64,
    lost: CancellationToken,
    state: Arc<AtomicU8>,
    /// Local deadline: the lease counts as lost from then on unless renewed.
    deadline: Instant,
    deadline_tx: watch::Sender<Instant>,
    /// Being given back: when to stop waiting for the worker to drop the lease.
    releasing: Option<Instant>,
}

enum RenewError {
    /// Someone else's now, or gone.
    Lost(&'static str),
    /// Could not tell (NATS slow or away): retried next round, until the deadline.
    Failed(String),
}

enum Acquire {
    Got,
    Taken,
    Failed,
}

/// The background task: the only owner of the lease state.
struct Manager {
    nats: Nats,
    kv: kv::Store,
    group: String,
    holder: String,
    ttl: Duration,
    interval: Duration,
    margin: Duration,
    op_timeout: Duration,
    release_timeout: Duration,
    member_key: String,
    member_prefix: String,
    item_prefix: String,
    /// The item set: item → key.
    items: BTreeMap<String, String>,
    held: BTreeMap<String, Held>,
    /// Items whose `Lease` the worker still has, with its generation: not handed out again
    /// until dropped, even if the lease itself was lost.
    alive: HashMap<String, u64>,
    members: Vec<String>,
    quota: usize,
    next_generation: u64,
    /// The connection came back: check held entries before renewing them.
    verify: bool,
    connected: bool,
    draining: bool,
    waiters: Vec<oneshot::Sender<()>>,
    leases_tx: mpsc::UnboundedSender<Lease>,
    dropped_tx: mpsc::UnboundedSender<Dropped>,
    shared: Arc<Shared>,
}

impl Manager {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut dropped: mpsc::UnboundedReceiver<Dropped>,
        cancel: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut connection = self.nats.connection_changes();
        connection.borrow_and_update();
        let leases_tx = self.leases_tx.clone();
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    self.abandon();
                    break;
                }
                Some(d) = dropped.recv() => self.on_dropped(d).await,
                Some(cmd) = commands.recv() => match cmd {
                    Command::SetItems(items) => {
                        self.replace_items(items);
                        self.release_unwanted().await;
                        tick.reset_immediately();
                    }
                    Command::ReleaseAll { timeout, done } => {
                        self.waiters.push(done);
                        self.drain(timeout).await;
                    }
                },
                () = leases_tx.closed(), if !self.draining => {
                    tracing::info!(lease.group = %self.group, lease.holder = %self.holder, "lease receiver dropped; releasing everything");
                    self.drain(self.release_timeout).await;
                }
                Ok(()) = connection.changed() => {
                    self.connected = *connection.borrow_and_update();
                    if self.connected {
                        self.verify = true;
                        tick.reset_immediately();
                    }
                }
                _ = tick.tick() => {
                    let cancelled = tokio::select! {
                        biased;
                        () = cancel.cancelled() => true,
                        () = self.round() => false,
                    };
                    if cancelled {
                        self.abandon();
                        break;
                    }
                }
            }
            if self.draining && self.held.is_empty() {
                self.leave().await;
                tracing::info!(lease.group = %self.group, lease.holder = %self.holder, "released every lease and left the group");
                break;
            }
            self.publish();
        }
        self.publish();
        self.shared.stopped.cancel();
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }

    /// One `ttl/3` round: expire, renew, heartbeat, list, rebalance.
    async fn round(&mut self) {
        let started = Instant::now();
        self.expire_overdue();
        self.connected = self.nats.is_connected();
        if !self.connected {
            // Calls would queue up in the client and land late; the watchdogs handle expiry.
            return;
        }
        self.renew().await;
        // After the renewals: a replica that dies right after this leaves its member key
        // behind for no longer than its items, so the others' quotas grow only once its
        // items are free.
        if !self.draining {
            self.heartbeat().await;
        }
        self.release_overdue().await;
        if self.draining {
            return;
        }
        let Some((members, present)) = self.list().await else {
            return;
        };
        self.rebalance(members, &present, started).await;
    }

    /// Leases whose local deadline passed (the watchdog already told the worker).
    fn expire_overdue(&mut self) {
        let now = Instant::now();
        let overdue: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| h.deadline <= now || h.state.load(Ordering::Acquire) == EXPIRED)
            .map(|(item, _)| item.clone())
            .collect();
        for item in overdue {
            self.lose(&item, "not renewed in time");
        }
    }

    async fn renew(&mut self) {
        if self.held.is_empty() {
            self.verify = false;
            return;
        }
        let kv = &self.kv;
        let verify = self.verify;
        let op_timeout = self.op_timeout;
        let jobs = self.held.iter().map(|(item, h)| {
            let (key, value, revision) = (h.key.clone(), h.value.clone(), h.revision);
            async move {
                let sent = Instant::now();
                let result = match tokio::time::timeout(
                    op_timeout,
                    renew_one(kv, &key, value, revision, verify),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(RenewError::Failed(format!(
                        "timed out after {op_timeout:?}"
                    ))),
                };
                (item.clone(), sent, result)
            }
        });
        let results = futures::future::join_all(jobs).await;
        let mut all_checked = true;
        for (item, sent, result) in results {
            match result {
                Ok(revision) => {
                    let Some(h) = self.held.get_mut(&item) else {
                        continue;
                    };
                    h.revision = revision;
                    if h.state.load(Ordering::Acquire) == EXPIRED {
                        // The watchdog fired while the renewal was in flight: the worker was
                        // told to stop, so the lease stays lost.
                        self.lose(&item, "renewed after its deadline");
                        continue;
                    }
                    let deadline = sent + self.ttl - self.margin;
                    if deadline > h.deadline {
                        h.deadline = deadline;
                        let _ = h.deadline_tx.send(deadline);
                    }
                }
                Err(RenewError::Lost(reason)) => self.lose(&item, reason),
                Err(RenewError::Failed(message)) => {
                    all_checked = false;
                    tracing::warn!(
                        lease.group = %self.group,
                        lease.item = %item,
                        lease.holder = %self.holder,
                        error.message = %message,
                        "lease renewal failed; retrying until its deadline"
                    );
                }
            }
        }
        if all_checked {
            self.verify = false;
        }
    }

    async fn heartbeat(&self) {
        let put = self
            .kv
            .put(&self.member_key, Bytes::from(self.holder.clone()));
        match tokio::time::timeout(self.op_timeout, put).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(lease.group = %self.group, lease.holder = %self.holder, error.message = %e, "lease membership heartbeat failed");
            }
            Err(_) => {
                tracing::warn!(lease.group = %self.group, lease.holder = %self.holder, "lease membership heartbeat timed out");
            }
        }
    }

    /// The live members (sorted holder ids) and the item keys present.
    async fn list(&self) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
        let listing = async {
            let keys = self.kv.keys().await.map_err(|e| e.to_string())?;
            keys.try_collect::<Vec<String>>()
                .await
                .map_err(|e| e.to_string())
        };
        let keys = match tokio::time::timeout(self.op_timeout, listing).await {
            Ok(Ok(keys)) => keys,
            Ok(Err(message)) => {
                tracing::warn!(lease.group = %self.group, lease.holder = %self.holder, error.message = %message, "cannot list leases");
                return None;
            }
            Err(_) => {
                tracing::warn!(lease.group = %self.group, lease.holder = %self.holder, "listing leases timed out");
                return None;
            }
        };
        let mut members = BTreeSet::new();
        let mut present = BTreeSet::new();
        for key in keys {
            if let Some(m) = key.strip_prefix(&self.member_prefix) {
                members.insert(m.to_owned());
            } else if key.starts_with(&self.item_prefix) {
                present.insert(key);
            }
        }
        Some((members, present))
    }

    /// Gives back what is over the quota, acquires what is under it.
    async fn rebalance(
        &mut self,
        mut members: BTreeSet<String>,
        present: &BTreeSet<String>,
        started: Instant,
    ) {
        // Our heartbeat may have failed this round; we are a member all the same.
        members.insert(self.holder.clone());
        let index = members
            .iter()
            .position(|m| *m == self.holder)
            .unwrap_or_default();
        let (quota, start) = share(self.items.len(), members.len(), index);
        if self.members.len() != members.len() || self.quota != quota {
            tracing::info!(
                lease.group = %self.group,
                lease.holder = %self.holder,
                members = members.len(),
                items = self.items.len(),
                quota,
                "lease quota changed"
            );
        }
        self.members = members.into_iter().collect();
        self.quota = quota;

        // Our own slice of the sorted items first, so that replicas rarely race for the same
        // key and give back what is furthest from their slice.
        let mut order: Vec<(String, String)> = self
            .items
            .iter()
            .map(|(item, key)| (item.clone(), key.clone()))
            .collect();
        let n = order.len();
        if n > 0 {
            order.rotate_left(start % n);
        }
        let active: Vec<&String> = order
            .iter()
            .map(|(item, _)| item)
            .filter(|item| self.held.get(*item).is_some_and(|h| h.releasing.is_none()))
            .collect();
        if active.len() > quota {
            let extra: Vec<String> = active[quota..].iter().map(|s| (*s).clone()).collect();
            for item in extra {
                self.release(&item, self.release_timeout, "over quota")
                    .await;
            }
            return;
        }
        let mut missing = quota - active.len();
        for (item, key) in order {
            if missing == 0 || started.elapsed() > self.interval {
                break;
            }
            if self.held.contains_key(&item)
                || self.alive.contains_key(&item)
                || present.contains(&key)
            {
                continue;
            }
            match self.acquire(item, key).await {
                Acquire::Got => missing -= 1,
                Acquire::Taken => {}
                Acquire::Failed => break,
            }
        }
    }

    async fn acquire(&mut self, item: String, key: String) -> Acquire {
        let generation = self.next_generation;
        let value = Bytes::from(
            serde_json::json!({
                "holder": self.holder,
                "generation": generation,
                "acquired_at_ms": SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or_default(),
            })
            .to_string(),
        );
        let span = tracing::info_span!(
            "lease.acquire",
            lease.group = %self.group,
            lease.item = %item,
            lease.holder = %self.holder,
        );
        let sent = Instant::now();
        let created = tokio::time::timeout(self.op_timeout, self.kv.create(&key, value.clone()))
            .instrument(span.clone())
            .await;
        let revision = match created {
            Ok(Ok(revision)) => revision,
            Ok(Err(e)) if e.kind() == kv::CreateErrorKind::AlreadyExists => return Acquire::Taken,
            Ok(Err(e)) => {
                span.in_scope(|| tracing::warn!(error.message = %e, "cannot acquire lease"));
                return Acquire::Failed;
            }
            Err(_) => {
                span.in_scope(
                    || tracing::warn!(timeout = ?self.op_timeout, "acquiring lease timed out"),
                );
                return Acquire::Failed;
            }
        };
        self.next_generation += 1;
        let deadline = sent + self.ttl - self.margin;
        let (deadline_tx, deadline_rx) = watch::channel(deadline);
        let lost = CancellationToken::new();
        let state = Arc::new(AtomicU8::new(LIVE));
        tokio::spawn(watchdog(deadline_rx, lost.clone(), state.clone()));
        self.held.insert(
            item.clone(),
            Held {
                key,
                revision,
                value,
                generation,
                lost: lost.clone(),
                state: state.clone(),
                deadline,
                deadline_tx,
                releasing: None,
            },
        );
        self.alive.insert(item.clone(), generation);
        metrics::counter!("relay_lease_acquired_total", "group" => self.group.clone()).increment(1);
        span.in_scope(|| tracing::info!(revision, "lease acquired"));
        let lease = Lease {
            item,
            lost,
            state,
            generation,
            dropped: self.dropped_tx.clone(),
        };
        self.publish();
        // A closed receiver returns the lease, whose drop releases it again.
        let _ = self.leases_tx.send(lease);
        Acquire::Got
    }

    /// Starts giving `item` back: tell the worker, and delete the key once it dropped the
    /// lease (or after `timeout`).
    async fn release(&mut self, item: &str, timeout: Duration, reason: &str) {
        let give_up = Instant::now() + timeout;
        let Some(h) = self.held.get_mut(item) else {
            return;
        };
        if let Some(at) = h.releasing {
            h.releasing = Some(at.min(give_up));
            return;
        }
        h.releasing = Some(give_up);
        let (state, lost, generation) = (h.state.clone(), h.lost.clone(), h.generation);
        self.publish();
        let _ = state.compare_exchange(LIVE, RELEASED, Ordering::AcqRel, Ordering::Acquire);
        lost.cancel();
        tracing::info!(
            lease.group = %self.group,
            lease.item = %item,
            lease.holder = %self.holder,
            reason,
            "releasing lease; waiting for the worker to drop it"
        );
        if self.alive.get(item) != Some(&generation) {
            self.delete(item).await;
        }
    }

    /// Releases whose worker did not drop the lease in time.
    async fn release_overdue(&mut self) {
        let now = Instant::now();
        let overdue: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| h.releasing.is_some_and(|at| at <= now))
            .map(|(item, _)| item.clone())
            .collect();
        for item in overdue {
            if let Some(h) = self.held.get(&item) {
                h.state.store(EXPIRED, Ordering::Release);
            }
            tracing::warn!(
                lease.group = %self.group,
                lease.item = %item,
                lease.holder = %self.holder,
                "the worker did not drop the lease in time; releasing it anyway"
            );
            self.delete(&item).await;
        }
    }

    async fn release_unwanted(&mut self) {
        let unwanted: Vec<String> = self
            .held
            .keys()
            .filter(|item| !self.items.contains_key(*item))
            .cloned()
            .collect();
        for item in unwanted {
            self.release(&item, self.release_timeout, "removed from the item set")
                .await;
        }
    }

    async fn on_dropped(&mut self, d: Dropped) {
        if self.alive.get(&d.item) == Some(&d.generation) {
            self.alive.remove(&d.item);
        }
        let Some(h) = self.held.get(&d.item) else {
            return;
        };
        if h.generation != d.generation {
            return;
        }
        if h.state.load(Ordering::Acquire) == EXPIRED {
            // The watchdog fired and the worker was quicker than the next round.
            self.lose(&d.item, "not renewed in time");
            return;
        }
        if h.releasing.is_none() {
            tracing::info!(
                lease.group = %self.group,
                lease.item = %d.item,
                lease.holder = %self.holder,
                "the worker dropped a lease it was not asked to give back; releasing it"
            );
            let _ = h
                .state
                .compare_exchange(LIVE, RELEASED, Ordering::AcqRel, Ordering::Acquire);
            h.lost.cancel();
        }
        self.delete(&d.item).await;
    }

    /// Deletes a held key (only if it is still our revision) and forgets it.
    async fn delete(&mut self, item: &str) {
        let Some(h) = self.held.remove(item) else {
            return;
        };
        if !self.nats.is_connected() {
            // A call made now would be sent on reconnection, maybe much later.
            tracing::warn!(
                lease.group = %self.group,
                lease.item = %item,
                lease.holder = %self.holder,
                "NATS unreachable; the released lease expires on its own"
            );
            self.publish();
            return;
        }
        let span = tracing::info_span!(
            "lease.release",
            lease.group = %self.group,
            lease.item = %item,
            lease.holder = %self.holder,
        );
        let deleted = tokio::time::timeout(
            self.op_timeout,
            self.kv.delete_expect_revision(&h.key, Some(h.revision)),
        )
        .instrument(span.clone())
        .await;
        span.in_scope(|| match deleted {
            Ok(Ok(())) => tracing::info!("lease released"),
            Ok(Err(e)) => {
                tracing::warn!(error.message = %e, "cannot delete a released lease; it expires on its own");
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.op_timeout, "deleting a released lease timed out; it expires on its own");
            }
        });
        self.publish();
    }

    /// The lease is gone (expired or taken over): tell the worker, forget it, delete nothing.
    fn lose(&mut self, item: &str, reason: &str) {
        let Some(h) = self.held.remove(item) else {
            return;
        };
        self.publish();
        h.state.store(EXPIRED, Ordering::Release);
        h.lost.cancel();
        metrics::counter!("relay_lease_lost_total", "group" => self.group.clone()).increment(1);
        tracing::warn!(
            lease.group = %self.group,
            lease.item = %item,
            lease.holder = %self.holder,
            reason,
            "lease lost"
        );
    }

    /// Graceful: leave the group (the others' quotas grow at once) and give everything back.
    async fn drain(&mut self, timeout: Duration) {
        if !self.draining {
            self.draining = true;
            self.leave().await;
        }
        let items: Vec<String> = self.held.keys().cloned().collect();
        for item in items {
            self.release(&item, timeout, "shutting down").await;
        }
    }

    async fn leave(&self) {
        if !self.nats.is_connected() {
            return;
        }
        let delete = self.kv.delete(&self.member_key);
        if let Ok(Err(e)) = tokio::time::timeout(self.op_timeout, delete).await {
            tracing::warn!(lease.group = %self.group, lease.holder = %self.holder, error.message = %e, "cannot delete the membership key");
        }
    }

    /// Stops without releasing: every worker is told (`Expired`), every key left to expire.
    fn abandon(&mut self) {
        let n = self.held.len();
        for (_, h) in std::mem::take(&mut self.held) {
            h.state.store(EXPIRED, Ordering::Release);
            h.lost.cancel();
        }
        tracing::info!(
            lease.group = %self.group,
            lease.holder = %self.holder,
            held = n,
            "stopped without releasing; the leases expire after the ttl"
        );
    }

    fn replace_items(&mut self, items: Vec<String>) {
        self.items = items
            .into_iter()
            .map(|item| {
                let key = format!("{}{}", self.item_prefix, item_token(&item));
                (item, key)
            })
            .collect();
    }

    fn publish(&self) {
        let (releasing, held): (Vec<_>, Vec<_>) =
            self.held.iter().partition(|(_, h)| h.releasing.is_some());
        metrics::gauge!("relay_lease_held", "group" => self.group.clone())
            .set(self.held.len() as f64);
        let mut s = self
            .shared
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.items = self.items.len();
        s.held = held.into_iter().map(|(item, _)| item.clone()).collect();
        s.releasing = releasing
            .into_iter()
            .map(|(item, _)| item.clone())
            .collect();
        s.members.clone_from(&self.members);
        s.quota = self.quota;
        s.connected = self.connected;
    }
}

async fn renew_one(
    kv: &kv::Store,
    key: &str,
    value: Bytes,
    revision: u64,
    verify: bool,
) -> Result<u64, RenewError> {
    if verify {
        // After an outage the server may have lost recent writes (a single unreplicated
        // server killed hard) and reused their sequence numbers: make sure the entry is
        // still the one we wrote before trusting its revision.
        match kv.entry(key).await {
            Ok(Some(e))
                if e.revision == revision
                    && e.operation == kv::Operation::Put
                    && e.value == value => {}
            Ok(_) => return Err(RenewError::Lost("the entry changed while NATS was away")),
            Err(e) => return Err(RenewError::Failed(e.to_string())),
        }
    }
    match kv.update(key, value, revision).await {
        Ok(revision) => Ok(revision),
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
            Err(RenewError::Lost("the entry expired or was taken over"))
        }
        Err(e) => Err(RenewError::Failed(e.to_string())),
    }
}

/// Fires `lost` (as `Expired`) when the deadline passes without being pushed back; ends when
/// the lease is forgotten (the sender dropped).
async fn watchdog(
    mut deadline: watch::Receiver<Instant>,
    lost: CancellationToken,
    state: Arc<AtomicU8>,
) {
    loop {
        let at = *deadline.borrow_and_update();
        tokio::select! {
            () = tokio::time::sleep_until(at) => {
                match deadline.has_changed() {
                    Ok(true) => continue,
                    Ok(false) => {
                        state.store(EXPIRED, Ordering::Release);
                        lost.cancel();
                        return;
                    }
                    Err(_) => return,
                }
            }
            changed = deadline.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_the_oldest_members_get_the_extras() {
        let q: Vec<(usize, usize)> = (0..3).map(|i| share(16, 3, i)).collect();
        assert_eq!(q, vec![(6, 0), (5, 6), (5, 11)]);
        assert_eq!(share(16, 2, 1), (8, 8));
        assert_eq!(share(16, 1, 0), (16, 0));
        for m in 1..20 {
            let total: usize = (0..m).map(|i| share(16, m, i).0).sum();
            assert_eq!(total, 16, "{m} members");
            for i in 0..m {
                let (quota, start) = share(16, m, i);
                let next = if i + 1 < m { share(16, m, i + 1).1 } else { 16 };
                assert_eq!(start + quota, next, "slices tile the items");
            }
        }
        assert_eq!(share(2, 3, 2), (0, 2));
    }

    #[test]
    fn items_become_valid_distinct_keys() {
        assert_eq!(item_token("p07"), "p07");
        assert_eq!(item_token("w_01J-x"), "w_01J-x");
        assert_eq!(item_token("a.b"), "=612e62");
        assert_eq!(item_token("=61"), "=3d3631");
        assert_eq!(item_token(""), "=");
        assert_eq!(item_token("é *>"), "=c3a9202a3e");
        for item in ["p07", "a.b", "loc/x y", "", "=61", "é"] {
            let t = item_token(item);
            assert!(
                t.bytes().all(|b| is_plain(b) || b == b'='),
                "{item:?} → {t:?}"
            );
        }
        assert_ne!(item_token("a"), item_token("=61"));
    }

    #[test]
    fn tokens_are_checked() {
        assert!(is_token("writer"));
        assert!(is_token("01J-a_b"));
        assert!(!is_token(""));
        assert!(!is_token("a.b"));
        assert!(!is_token("a b"));
        assert!(!is_token("a*"));
    }
}
