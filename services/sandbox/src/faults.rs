//! Injected faults: make matching requests slow, fail, hang, lose their connection, find their
//! token expired or their budget exhausted, before authentication and rate limiting run (as a
//! failing load balancer or an overloaded GHL would). Faults apply to the GHL API, the OAuth
//! token endpoint and the Shift4Shop API; control endpoints are never faulted.
//!
//! A fault matches by method, path prefix and location (the location of the bearer token, so
//! a per-location fault never touches another location's traffic), fires on every match or
//! with a probability (a seeded generator, so runs repeat), and runs out after `count` fires.

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A fault other than a plain status or delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Never answer: the request waits until the client gives up (or the sandbox stops).
    Hang,
    /// Close the connection with a TCP reset instead of answering.
    Reset,
    /// Expire the OAuth access token the request carries (it stays expired, so the client must
    /// refresh), or answer a private integration token's request with the expired-token 401.
    ExpireToken,
    /// Answer 429 as if the burst budget were spent, with `X-RateLimit-Remaining: 0`.
    RateLimit,
}

/// What to inject (`POST /_sandbox/faults`). At least one of `status`, `delay_ms` and `kind`
/// is needed; `status` and `kind` exclude each other.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSpec {
    /// Answer with this status (400–599) instead of running the request.
    pub status: Option<u16>,
    /// How many matching requests to affect; unlimited (until `DELETE /_sandbox/faults`) when
    /// absent.
    pub count: Option<u32>,
    /// Only requests whose path starts with this (e.g. `/contacts`); all when absent.
    pub path_prefix: Option<String>,
    /// Only requests with this method (case-insensitive); all when absent.
    pub method: Option<String>,
    /// Wait this long before answering (with `status`/`kind`) or before running the request.
    pub delay_ms: Option<u64>,
    /// Replaces the default `message` of the fault's body.
    pub message: Option<String>,
    /// Only requests whose bearer token belongs to this location; all when absent.
    pub location_id: Option<String>,
    /// Fire on this fraction of matching requests (0 < p ≤ 1); on all when absent.
    pub probability: Option<f64>,
    /// Hang, reset, expire the token, or answer 429.
    pub kind: Option<FaultKind>,
}

/// An active fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultView {
    /// Id, as recorded in [`crate::RequestRecord::fault_id`].
    pub id: u64,
    /// Matching requests still to affect (`None`: unlimited).
    pub remaining: Option<u32>,
    /// How many requests it affected so far.
    pub fired: u64,
    /// The spec it was created from.
    #[serde(flatten)]
    pub spec: FaultSpec,
}

/// What a fault does to one request, after its delay.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Effect {
    /// Nothing more: run the request.
    Pass,
    /// Answer with this error.
    Fail(Error),
    /// See [`FaultKind`].
    Kind(FaultKind),
}

/// One fired fault.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FaultAction {
    /// The fault's id.
    pub(crate) id: u64,
    /// How long to wait first.
    pub(crate) delay: Duration,
    /// Then what.
    pub(crate) effect: Effect,
}

/// xorshift64*: small, seedable, good enough for coin flips.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The active faults, in creation order; the first matching one that fires applies.
#[derive(Debug)]
pub(crate) struct Faults {
    next_id: u64,
    active: Vec<FaultView>,
    seed: u64,
    rng: Rng,
}

impl Default for Faults {
    fn default() -> Self {
        Self::new(0x5eed_cafe)
    }
}

/// Where a request is going, for matching.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) location_id: Option<&'a str>,
}

impl Faults {
    /// No faults; probabilistic ones draw from a generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            next_id: 0,
            active: Vec::new(),
            seed,
            rng: Rng(seed | 1),
        }
    }

    /// Adds a fault after validating it.
    pub(crate) fn add(&mut self, spec: FaultSpec) -> Result<FaultView> {
        if spec.status.is_none() && spec.delay_ms.is_none() && spec.kind.is_none() {
            return Err(Error::Control(
                "a fault needs a status, a kind, a delay_ms, or a delay with one of the others"
                    .into(),
            ));
        }
        if spec.status.is_some() && spec.kind.is_some() {
            return Err(Error::Control("status and kind exclude each other".into()));
        }
        if let Some(status) = spec.status
            && !(400..=599).contains(&status)
        {
            return Err(Error::Control(format!(
                "status {status} is not an error status (400-599)"
            )));
        }
        if spec.count == Some(0) {
            return Err(Error::Control(
                "count must be at least 1 (omit it for no limit)".into(),
            ));
        }
        if let Some(p) = spec.probability
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(Error::Control(
                "probability must be greater than 0 and at most 1".into(),
            ));
        }
        self.next_id += 1;
        let view = FaultView {
            id: self.next_id,
            remaining: spec.count,
            fired: 0,
            spec,
        };
        self.active.push(view.clone());
        Ok(view)
    }

    /// The active faults.
    pub(crate) fn list(&self) -> Vec<FaultView> {
        self.active.clone()
    }

    /// Whether a fault is scoped to a location.
    pub(crate) fn has_location_faults(&self) -> bool {
        self.active.iter().any(|f| f.spec.location_id.is_some())
    }

    /// Removes one fault.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let before = self.active.len();
        self.active.retain(|f| f.id != id);
        self.active.len() != before
    }

    /// Removes every fault and restarts the generator; returns how many faults there were.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.active.len();
        self.active.clear();
        self.rng = Rng(self.seed | 1);
        n
    }

    /// Fires the first matching fault (rolling the dice for probabilistic ones) and consumes
    /// one of its uses.
    pub(crate) fn take(&mut self, target: Target<'_>) -> Option<FaultAction> {
        if self.active.is_empty() {
            return None;
        }
        let mut index = None;
        for (i, f) in self.active.iter().enumerate() {
            let spec = &f.spec;
            let matches = spec
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(target.method))
                && spec
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| target.path.starts_with(p))
                && spec
                    .location_id
                    .as_deref()
                    .is_none_or(|l| target.location_id == Some(l));
            if !matches {
                continue;
            }
            if let Some(p) = spec.probability
                && self.rng.next_f64() >= p
            {
                continue;
            }
            index = Some(i);
            break;
        }
        let index = index?;
        let fault = &mut self.active[index];
        fault.fired += 1;
        let effect = match (fault.spec.status, fault.spec.kind) {
            (Some(s), _) => StatusCode::from_u16(s).map_or(Effect::Pass, |status| {
                Effect::Fail(Error::Injected {
                    status,
                    message: fault.spec.message.clone(),
                })
            }),
            (None, Some(kind)) => Effect::Kind(kind),
            (None, None) => Effect::Pass,
        };
        let action = FaultAction {
            id: fault.id,
            delay: Duration::from_millis(fault.spec.delay_ms.unwrap_or(0)),
            effect,
        };
        if let Some(remaining) = fault.remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                self.active.remove(index);
            }
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(method: &'a str, path: &'a str) -> Target<'a> {
        Target {
            method,
            path,
            location_id: None,
        }
    }

    #[test]
    fn faults_match_by_prefix_and_method_and_run_out() {
        let mut f = Faults::default();
        let spec = FaultSpec {
            status: Some(503),
            count: Some(2),
            path_prefix: Some("/contacts".into()),
            method: Some("post".into()),
            ..FaultSpec::default()
        };
        let id = f.add(spec).unwrap().id;
        assert_eq!(f.take(target("GET", "/contacts/x")), None);
        assert_eq!(f.take(target("POST", "/locations")), None);
        let a = f.take(target("POST", "/contacts/upsert")).unwrap();
        assert_eq!(a.id, id);
        let Effect::Fail(e) = a.effect else {
            panic!("{a:?}")
        };
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(f.take(target("POST", "/contacts/")).is_some());
        assert_eq!(f.take(target("POST", "/contacts/")), None);
        assert!(f.list().is_empty());
    }

    #[test]
    fn delay_only_faults_are_unlimited_by_default() {
        let mut f = Faults::default();
        f.add(FaultSpec {
            delay_ms: Some(5),
            ..FaultSpec::default()
        })
        .unwrap();
        for _ in 0..3 {
            let a = f.take(target("GET", "/x")).unwrap();
            assert_eq!(
                (a.delay, a.effect),
                (Duration::from_millis(5), Effect::Pass)
            );
        }
        assert_eq!(f.list()[0].fired, 3);
        assert_eq!(f.clear(), 1);
    }

    #[test]
    fn per_location_faults_only_touch_their_location() {
        let mut f = Faults::default();
        f.add(FaultSpec {
            kind: Some(FaultKind::Reset),
            location_id: Some("a".into()),
            ..FaultSpec::default()
        })
        .unwrap();
        let at = |l: Option<&'static str>| Target {
            method: "GET",
            path: "/contacts/x",
            location_id: l,
        };
        assert_eq!(f.take(at(Some("b"))), None);
        assert_eq!(f.take(at(None)), None);
        assert_eq!(
            f.take(at(Some("a"))).unwrap().effect,
            Effect::Kind(FaultKind::Reset)
        );
    }

    #[test]
    fn probabilistic_faults_fire_at_about_their_rate_and_repeat_with_the_seed() {
        let run = |seed| {
            let mut f = Faults::new(seed);
            f.add(FaultSpec {
                status: Some(500),
                probability: Some(0.25),
                ..FaultSpec::default()
            })
            .unwrap();
            (0..4000)
                .map(|_| f.take(target("GET", "/x")).is_some())
                .collect::<Vec<bool>>()
        };
        let a = run(7);
        let fired = a.iter().filter(|x| **x).count();
        assert!((850..1150).contains(&fired), "{fired}");
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
    }

    #[test]
    fn invalid_specs_are_refused() {
        let mut f = Faults::default();
        for spec in [
            FaultSpec::default(),
            FaultSpec {
                status: Some(200),
                ..FaultSpec::default()
            },
            FaultSpec {
                status: Some(500),
                count: Some(0),
                ..FaultSpec::default()
            },
            FaultSpec {
                status: Some(500),
                kind: Some(FaultKind::Hang),
                ..FaultSpec::default()
            },
            FaultSpec {
                status: Some(500),
                probability: Some(1.5),
                ..FaultSpec::default()
            },
        ] {
            assert!(f.add(spec.clone()).is_err(), "{spec:?}");
        }
    }
}
