//! Route handlers: the simulated GHL API (`contacts`, `extras`, `search`, `locations`,
//! `oauth`), the Shift4Shop customers API (`shift4shop`) and the sandbox's own endpoints
//! (`control`).

use axum::extract::Query;
use axum::http::{Method, Uri};

use crate::error::{Error, Result};

pub(crate) mod contacts;
pub(crate) mod control;
pub(crate) mod extras;
pub(crate) mod locations;
pub(crate) mod oauth;
pub(crate) mod search;
pub(crate) mod shift4shop;

/// Unknown route or method: NestJS' 404 `"Cannot <METHOD> <path>"`.
pub(crate) async fn not_found(method: Method, uri: Uri) -> Error {
    Error::RouteNotFound {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// GHL returns a `traceId` with responses; the sandbox uses the request's trace id when it is
/// being traced, so a test can find the trace from the response.
pub(crate) fn trace_id() -> String {
    relay_common::telemetry::current_trace_id()
        .unwrap_or_else(|| ulid::Ulid::new().to_string().to_lowercase())
}

/// The query parameters of a GHL request, whitelisted like a DTO: each accessor takes its
/// parameter, [`QueryParams::finish`] answers unknown ones and collected messages with one 422.
#[derive(Debug, Default)]
pub(crate) struct QueryParams {
    pairs: Vec<(String, String)>,
    errors: Vec<String>,
}

impl QueryParams {
    /// Decodes the query string (`+` is a space, as in forms).
    pub(crate) fn parse(uri: &Uri) -> Result<Self> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| Error::BadRequest(e.body_text()))?;
        Ok(Self {
            pairs,
            errors: Vec::new(),
        })
    }

    /// Takes an optional parameter (the last one wins when repeated).
    pub(crate) fn optional(&mut self, key: &str) -> Option<String> {
        let mut found = None;
        self.pairs.retain(|(k, v)| {
            if k == key {
                found = Some(v.clone());
                false
            } else {
                true
            }
        });
        found
    }

    /// Takes a required, non-empty parameter.
    pub(crate) fn required(&mut self, key: &str) -> Option<String> {
        let v = self.optional(key).filter(|v| !v.is_empty());
        if v.is_none() {
            self.errors.push(format!("{key} should not be empty"));
        }
        v
    }

    /// Takes an optional non-negative integer, `max` at most.
    pub(crate) fn number(&mut self, key: &str, max: Option<usize>) -> Option<usize> {
        let raw = self.optional(key)?;
        match raw.trim().parse::<usize>() {
            Ok(n) if max.is_some_and(|m| n > m) => {
                self.errors.push(format!(
                    "{key} must not be greater than {}",
                    max.unwrap_or_default()
                ));
                None
            }
            Ok(n) => Some(n),
            Err(_) => {
                self.errors.push(format!(
                    "{key} must be a number conforming to the specified constraints"
                ));
                None
            }
        }
    }

    /// The parameters not taken yet.
    pub(crate) fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }

    /// Adds a message.
    pub(crate) fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// Answers unknown parameters and collected messages.
    pub(crate) fn finish(self) -> Result<()> {
        let mut errors = self.errors;
        for (k, _) in self.pairs {
            errors.push(format!("property {k} should not exist"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }
}
