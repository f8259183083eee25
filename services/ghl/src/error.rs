use std::time::Duration;

use serde::Deserialize;

/// The rate-limit state GHL reports on every response (README §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `X-RateLimit-Max`: requests allowed per burst window.
    pub max: Option<u32>,
    /// `X-RateLimit-Remaining`: left in the current window.
    pub remaining: Option<u32>,
    /// `X-RateLimit-Interval-Milliseconds`: the window length.
    pub interval: Option<Duration>,
    /// `X-RateLimit-Limit-Daily`.
    pub daily_limit: Option<u32>,
    /// `X-RateLimit-Daily-Remaining`.
    pub daily_remaining: Option<u32>,
}

impl RateLimitInfo {
    pub(crate) fn from_headers(h: &http::HeaderMap) -> Self {
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let n32 = |name: &str| num(name).and_then(|v| u32::try_from(v).ok());
        Self {
            max: n32("x-ratelimit-max"),
            remaining: n32("x-ratelimit-remaining"),
            interval: num("x-ratelimit-interval-milliseconds").map(Duration::from_millis),
            daily_limit: n32("x-ratelimit-limit-daily"),
            daily_remaining: n32("x-ratelimit-daily-remaining"),
        }
    }
}

/// GHL's error body: `{statusCode, message: string | string[], error?, traceId?, meta?}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) message: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) meta: Option<serde_json::Value>,
}

impl ErrorBody {
    pub(crate) fn message_text(&self) -> Option<String> {
        match &self.message {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Some(other) => Some(other.to_string()),
            None => self.error.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GhlError {
    /// GHL answered with an error status.
    #[error("GHL {operation} answered {status}: {message}")]
    Api {
        operation: &'static str,
        status: u16,
        message: String,
        /// `meta` of the error body (e.g. `contactId` of the duplicate on a refused create).
        meta: Option<serde_json::Value>,
        rate_limit: RateLimitInfo,
    },
    /// The response could not be decoded as the spec says it should be.
    #[error(
        "GHL {operation} answered {status} with a body that does not match the spec: {message}"
    )]
    Decode {
        operation: &'static str,
        status: u16,
        message: String,
    },
    /// The request did not get an answer (connect error, timeout, reset).
    #[error("GHL {operation} request failed: {message}")]
    Transport {
        operation: &'static str,
        message: String,
        timeout: bool,
    },
    /// The request could not be built (bad base URL or id).
    #[error("cannot build GHL {operation} request: {message}")]
    Request {
        operation: &'static str,
        message: String,
    },
}

impl GhlError {
    /// Worth retrying: 429, 408, 5xx other than 501, and transport failures (STYLE §8).
    pub fn is_transient(&self) -> bool {
        match self {
            GhlError::Api { status, .. } => {
                *status == 429 || *status == 408 || (*status >= 500 && *status != 501)
            }
            GhlError::Transport { .. } => true,
            GhlError::Decode { .. } | GhlError::Request { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            GhlError::Api { status, .. } | GhlError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// A 401: missing, invalid or expired token (an OAuth access token wants a refresh), or an
    /// unknown OAuth client on `POST /oauth/token`.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, GhlError::Api { status: 401, .. })
    }

    /// A 404: the contact (task, note, ...) does not exist or was deleted.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GhlError::Api { status: 404, .. })
    }

    /// For a create refused on a location that disallows duplicates (400 `"This location does
    /// not allow duplicated contacts."`): the id of the existing contact, from `meta.contactId`.
    pub fn duplicate_contact_id(&self) -> Option<&str> {
        match self {
            GhlError::Api {
                status: 400,
                meta: Some(meta),
                ..
            } => meta.get("contactId").and_then(serde_json::Value::as_str),
            _ => None,
        }
    }

    /// For a 429: how long until the window has room again, from the interval header.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GhlError::Api {
                status: 429,
                rate_limit,
                ..
            } => rate_limit.interval,
            _ => None,
        }
    }

    pub fn rate_limit(&self) -> Option<RateLimitInfo> {
        match self {
            GhlError::Api { rate_limit, .. } => Some(*rate_limit),
            _ => None,
        }
    }
}
