//! Injected faults: make the next matching GHL API requests slow, or answer them with a chosen
//! status and a GHL-like body, before authentication and rate limiting run (as a failing load
//! balancer or an overloaded GHL would).

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What to inject (`POST /_sandbox/faults`). At least one of `status` and `delay_ms` is needed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Wait this long before answering (with `status`) or before running the request.
    pub delay_ms: Option<u64>,
    /// Replaces the default `message` of the fault's body.
    pub message: Option<String>,
}

/// An active fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultView {
    /// Id, as recorded in [`crate::RequestRecord::fault_id`].
    pub id: u64,
    /// Matching requests still to affect (`None`: unlimited).
    pub remaining: Option<u32>,
    /// The spec it was created from.
    #[serde(flatten)]
    pub spec: FaultSpec,
}

/// What a fault does to one request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FaultAction {
    /// The fault's id.
    pub(crate) id: u64,
    /// How long to wait first.
    pub(crate) delay: Duration,
    /// The error to answer with, if the fault has a status.
    pub(crate) error: Option<Error>,
}

/// The active faults, in creation order; the first matching one applies.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    next_id: u64,
    active: Vec<FaultView>,
}

impl Faults {
    /// Adds a fault after validating it.
    pub(crate) fn add(&mut self, spec: FaultSpec) -> Result<FaultView> {
        if spec.status.is_none() && spec.delay_ms.is_none() {
            return Err(Error::Control(
                "a fault needs a status, a delay_ms, or both".into(),
            ));
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
        self.next_id += 1;
        let view = FaultView {
            id: self.next_id,
            remaining: spec.count,
            spec,
        };
        self.active.push(view.clone());
        Ok(view)
    }

    /// The active faults.
    pub(crate) fn list(&self) -> Vec<FaultView> {
        self.active.clone()
    }

    /// Removes every fault; returns how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.active.len();
        self.active.clear();
        n
    }

    /// Consumes one use of the first fault matching `method` and `path`.
    pub(crate) fn take(&mut self, method: &str, path: &str) -> Option<FaultAction> {
        let index = self.active.iter().position(|f| {
            f.spec
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.spec
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| path.starts_with(p))
        })?;
        let fault = &mut self.active[index];
        let action = FaultAction {
            id: fault.id,
            delay: Duration::from_millis(fault.spec.delay_ms.unwrap_or(0)),
            error: fault
                .spec
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .map(|status| Error::Injected {
                    status,
                    message: fault.spec.message.clone(),
                }),
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
        assert_eq!(f.take("GET", "/contacts/x"), None);
        assert_eq!(f.take("POST", "/locations"), None);
        let a = f.take("POST", "/contacts/upsert").unwrap();
        assert_eq!(a.id, id);
        assert_eq!(a.error.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(f.take("POST", "/contacts/").is_some());
        assert_eq!(f.take("POST", "/contacts/"), None);
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
            let a = f.take("GET", "/x").unwrap();
            assert_eq!((a.delay, a.error), (Duration::from_millis(5), None));
        }
        assert_eq!(f.clear(), 1);
    }

    #[test]
    fn invalid_specs_are_refused() {
        let mut f = Faults::default();
        assert!(f.add(FaultSpec::default()).is_err());
        assert!(
            f.add(FaultSpec {
                status: Some(200),
                ..FaultSpec::default()
            })
            .is_err()
        );
        assert!(
            f.add(FaultSpec {
                status: Some(500),
                count: Some(0),
                ..FaultSpec::default()
            })
            .is_err()
        );
    }
}
