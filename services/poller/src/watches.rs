//! Scheduling: the watches are spread over the poller replicas by lease (group `poller`,
//! one item per watch id); each held watch is polled at its interval, with jitter, until its
//! lease is released or lost.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use relay_common::admin::AdminState;
use relay_common::lease::{LeaseConfig, Leases};
use relay_common::nats::Nats;
use relay_contracts::Token;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::error::PollError;
use crate::poll::{Poller, Watch};

pub(crate) struct Settings {
    pub(crate) lease_ttl: Duration,
    pub(crate) replicas: usize,
    pub(crate) drain_timeout: Duration,
}

/// Held and paused watches, shown in admin status.
#[derive(Default)]
struct Status {
    held: BTreeMap<Token, ()>,
    paused: BTreeMap<Token, String>,
}

#[derive(Clone)]
struct Shared {
    status: Arc<Mutex<Status>>,
    admin: AdminState,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Status)) {
        let mut s = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut s);
        let held: Vec<&str> = s.held.keys().map(Token::as_str).collect();
        self.admin.set_detail("watches_held", held.join(","));
        let paused: Vec<String> = s
            .paused
            .iter()
            .map(|(w, reason)| format!("{w}: {reason}"))
            .collect();
        self.admin.set_detail("watches_paused", paused.join("; "));
        metrics::gauge!("relay_poller_watches_held").set(s.held.len() as f64);
        metrics::gauge!("relay_poller_watches_paused").set(s.paused.len() as f64);
    }
}

pub(crate) async fn run(
    nats: Nats,
    admin: AdminState,
    poller: Arc<Poller>,
    watches: Vec<Watch>,
    settings: Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let ids: Vec<String> = watches.iter().map(|w| w.cfg.id.to_string()).collect();
    let watches: HashMap<String, Arc<Watch>> = watches
        .into_iter()
        .map(|w| (w.cfg.id.to_string(), Arc::new(w)))
        .collect();
    let mut cfg = LeaseConfig::new("poller", settings.lease_ttl);
    cfg.replicas = settings.replicas;
    cfg.release_timeout = settings.drain_timeout;
    let (leases, mut granted) = loop {
        match Leases::start(&nats, cfg.clone(), ids.clone(), shutdown.clone()).await {
            Ok(l) => break l,
            Err(e) if e.is_transient() => {
                tracing::warn!(error.message = %e, "lease bucket unavailable; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    admin.set_detail("replica", leases.holder().to_owned());
    admin.set_detail("watches", ids.len().to_string());
    let shared = Shared {
        status: Arc::default(),
        admin: admin.clone(),
    };
    shared.update(|_| {});
    admin.readiness.mark_started();
    tracing::info!(
        holder = leases.holder(),
        watches = ids.len(),
        "poller ready"
    );
    let tracker = TaskTracker::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            lease = granted.recv() => {
                let Some(lease) = lease else { break };
                let Some(watch) = watches.get(&lease.item).cloned() else { continue };
                let (poller, shared) = (poller.clone(), shared.clone());
                tracker.spawn(async move {
                    shared.update(|s| { s.held.insert(watch.cfg.id.clone(), ()); });
                    tracing::info!(watch = %watch.cfg.id, "watch acquired");
                    drive(&poller, &watch, &lease.lost, &shared).await;
                    shared.update(|s| {
                        s.held.remove(&watch.cfg.id);
                        s.paused.remove(&watch.cfg.id);
                    });
                    tracing::info!(watch = %watch.cfg.id, loss = ?lease.loss(), "watch given up");
                    drop(lease);
                });
            }
        }
    }
    leases.release_all(settings.drain_timeout).await;
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// A random delay in `[0, max)`.
fn jitter(max: Duration) -> Duration {
    Duration::from_nanos(fastrand::u64(0..(max.as_nanos().max(1) as u64)))
}

/// Polls one held watch until `lost` fires.
async fn drive(poller: &Arc<Poller>, watch: &Watch, lost: &CancellationToken, shared: &Shared) {
    let interval = watch.cfg.interval;
    // Keep the watch's rhythm across restarts and hand-overs; a first poll comes soon, spread.
    let first = match poller.last_poll(&watch.cfg.id).await {
        Some(last) => {
            let since = OffsetDateTime::now_utc() - last;
            let since = Duration::try_from(since).unwrap_or(Duration::ZERO);
            interval.saturating_sub(since)
        }
        None => jitter(interval.min(Duration::from_secs(2))),
    };
    let mut due = tokio::time::Instant::now() + first;
    loop {
        tokio::select! {
            () = lost.cancelled() => return,
            () = tokio::time::sleep_until(due) => {}
        }
        let lag = due.elapsed();
        metrics::histogram!("relay_poller_lag_seconds", "trigger" => watch.cfg.trigger.as_str())
            .record(lag.as_secs_f64());
        let span = tracing::info_span!(
            "poller.poll",
            otel.kind = "internal",
            watch = %watch.cfg.id,
            location = %watch.cfg.location,
            trigger = %watch.cfg.trigger,
            events = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let result = tokio::select! {
            () = lost.cancelled() => Err(PollError::Stopped),
            r = poller.poll(watch).instrument(span.clone()) => r,
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        span.record("outcome", outcome);
        metrics::counter!("relay_poller_polls_total", "trigger" => watch.cfg.trigger.as_str(), "outcome" => outcome).increment(1);
        match result {
            Ok(n) => {
                span.record("events", n);
                shared.update(|s| {
                    s.paused.remove(&watch.cfg.id);
                });
            }
            Err(PollError::Stopped) => return,
            Err(PollError::Conflict) => {
                tracing::warn!(parent: &span, watch = %watch.cfg.id, "another replica wrote this watch's cursor; giving it up");
                return;
            }
            Err(PollError::AuthPaused(reason)) => {
                tracing::warn!(parent: &span, watch = %watch.cfg.id, %reason, "location paused; watch paused");
                shared.update(|s| {
                    s.paused.insert(watch.cfg.id.clone(), reason);
                });
                tokio::select! {
                    () = lost.cancelled() => return,
                    () = poller.ghl.auth.wait_resumed(&watch.cfg.location) => {}
                }
                shared.update(|s| {
                    s.paused.remove(&watch.cfg.id);
                });
                due = tokio::time::Instant::now();
                continue;
            }
            Err(e) => {
                tracing::warn!(parent: &span, watch = %watch.cfg.id, error.message = %e, "poll failed; retrying next interval");
            }
        }
        // ±10 % so that watches started together drift apart.
        let spread = interval / 10;
        due = tokio::time::Instant::now() + interval - spread + jitter(spread * 2);
    }
}
