//! The client and its one request path ([`GhlClient::send`]); the operations are grouped by
//! area in the submodules.

use std::time::{Duration, Instant};

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{ErrorBody, GhlError, RateLimitInfo};

mod contacts;
mod locations;
mod membership;
mod notes;
mod oauth;
mod raw;
mod tasks;

/// A successful answer with the rate-limit state that came with it.
#[derive(Debug)]
pub struct Response<T> {
    pub body: T,
    pub status: u16,
    pub rate_limit: RateLimitInfo,
    pub latency: Duration,
}

impl<T> Response<T> {
    /// The same answer with its body transformed.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            body: f(self.body),
            status: self.status,
            rate_limit: self.rate_limit,
            latency: self.latency,
        }
    }
}

/// The GHL API client. Cheap to clone; tokens are passed per call because each location has its
/// own.
#[derive(Clone, Debug)]
pub struct GhlClient {
    http: reqwest::Client,
    base: url::Url,
}

/// A request body, encoded before sending.
enum Body {
    Empty,
    Json(Vec<u8>),
    /// `application/x-www-form-urlencoded` (OAuth); may hold secrets, so never logged.
    Form(String),
}

/// One request to make: what [`GhlClient::send`] needs, built by each operation.
struct Call<'a> {
    operation: &'static str,
    method: Method,
    path: Vec<String>,
    /// Ends the path with `/`, as the spec writes `/contacts/`.
    trailing_slash: bool,
    query: Vec<(String, String)>,
    /// A location's token: sent as the bearer, with the `Version` header. `None` for OAuth.
    token: Option<&'a SecretString>,
    body: Body,
}

impl<'a> Call<'a> {
    fn new(operation: &'static str, method: Method, path: &[&str]) -> Self {
        Self {
            operation,
            method,
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            trailing_slash: false,
            query: Vec::new(),
            token: None,
            body: Body::Empty,
        }
    }

    /// Authenticates with a location's token (and sends `Version`).
    fn bearer(mut self, token: &'a SecretString) -> Self {
        self.token = Some(token);
        self
    }

    fn trailing_slash(mut self) -> Self {
        self.trailing_slash = true;
        self
    }

    fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Result<Self, GhlError> {
        let bytes = serde_json::to_vec(body).map_err(|e| GhlError::Request {
            operation: self.operation,
            message: format!("cannot encode the body: {e}"),
        })?;
        self.body = Body::Json(bytes);
        Ok(self)
    }

    fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.body = Body::Form(encoded);
        self
    }

    /// Query parameters from a typed query: its fields' camelCase names, unset ones omitted.
    fn query<Q: Serialize>(mut self, query: &Q) -> Result<Self, GhlError> {
        let bad = |message: String| GhlError::Request {
            operation: self.operation,
            message,
        };
        let value = serde_json::to_value(query).map_err(|e| bad(e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(bad("the query is not an object".into()));
        };
        for (k, v) in map {
            let v = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => return Err(bad(format!("query parameter {k} is not a scalar: {other}"))),
            };
            self.query.push((k, v));
        }
        Ok(self)
    }

    fn query_pair(mut self, key: &str, value: &str) -> Self {
        self.query.push((key.to_owned(), value.to_owned()));
        self
    }
}

impl GhlClient {
    /// `base` is GHL's API host or the sandbox (`http://127.0.0.1:8600`).
    pub fn new(base: url::Url, timeout: Duration) -> Result<Self, GhlError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("relay/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GhlError::Request {
                operation: "client",
                message: e.to_string(),
            })?;
        Ok(Self { http, base })
    }

    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    fn url(&self, call: &Call<'_>) -> Result<url::Url, GhlError> {
        let operation = call.operation;
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| GhlError::Request {
                operation,
                message: "base URL cannot have a path".into(),
            })?;
            path.pop_if_empty();
            for s in &call.path {
                if s.is_empty() {
                    return Err(GhlError::Request {
                        operation,
                        message: "empty path segment (missing id)".into(),
                    });
                }
                path.push(s);
            }
            if call.trailing_slash {
                path.push("");
            }
        }
        Ok(url)
    }

    /// Sends `call` and decodes a 2xx body as `T`; anything else is a [`GhlError`]. Records the
    /// `ghl.request` span, `relay_ghl_request_seconds` and `relay_ghl_requests_total`, injects
    /// the trace context and reads the `X-RateLimit-*` headers.
    async fn send<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<Response<T>, GhlError> {
        let url = self.url(&call)?;
        let Call {
            operation,
            method,
            query,
            token,
            body,
            ..
        } = call;
        let span = tracing::info_span!(
            "ghl.request",
            otel.name = %format!("ghl.{operation}"),
            otel.kind = "client",
            http.request.method = %method,
            url.path = %url.path(),
            server.address = url.host_str().unwrap_or_default(),
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        async {
            let mut headers = http::HeaderMap::new();
            relay_common::propagation::inject_http(&mut headers);
            let mut req = self
                .http
                .request(method, url)
                .headers(headers)
                .header("Accept", "application/json");
            if let Some(token) = token {
                req = req
                    .bearer_auth(token.expose_secret())
                    .header("Version", crate::API_VERSION);
            }
            if !query.is_empty() {
                req = req.query(&query);
            }
            req = match body {
                Body::Empty => req,
                Body::Json(bytes) => req.header("Content-Type", "application/json").body(bytes),
                Body::Form(text) => req
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(text),
            };
            let started = Instant::now();
            let result = req.send().await;
            let latency = started.elapsed();
            metrics::histogram!("relay_ghl_request_seconds", "operation" => operation).record(latency.as_secs_f64());
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    metrics::counter!("relay_ghl_requests_total", "operation" => operation, "status" => "transport_error").increment(1);
                    tracing::Span::current().record("otel.status_code", "ERROR");
                    return Err(GhlError::Transport { operation, message: error_chain(&e), timeout: e.is_timeout() });
                }
            };
            let status = resp.status().as_u16();
            tracing::Span::current().record("http.response.status_code", status);
            metrics::counter!("relay_ghl_requests_total", "operation" => operation, "status" => status.to_string()).increment(1);
            let rate_limit = RateLimitInfo::from_headers(resp.headers());
            let bytes = resp.bytes().await.map_err(|e| GhlError::Transport {
                operation,
                message: error_chain(&e),
                timeout: e.is_timeout(),
            })?;
            if !(200..300).contains(&status) {
                tracing::Span::current().record("otel.status_code", "ERROR");
                let parsed: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
                let message = parsed
                    .message_text()
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect());
                return Err(GhlError::Api { operation, status, message, meta: parsed.meta, rate_limit });
            }
            let body = serde_json::from_slice(&bytes)
                .map_err(|e| GhlError::Decode { operation, status, message: e.to_string() })?;
            Ok(Response { body, status, rate_limit, latency })
        }
        .instrument(span)
        .await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
