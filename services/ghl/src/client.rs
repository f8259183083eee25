use std::time::{Duration, Instant};

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{ErrorBody, GhlError, RateLimitInfo};
use crate::types::{
    ContactResponse, DuplicateContactResponse, NewNote, NoteResponse, Tags, TagsResponse,
    UpsertContact, UpsertContactResponse,
};

/// A successful answer with the rate-limit state that came with it.
#[derive(Debug)]
pub struct Response<T> {
    pub body: T,
    pub status: u16,
    pub rate_limit: RateLimitInfo,
    pub latency: Duration,
}

/// The GHL API client. Cheap to clone; tokens are passed per call because each location has its
/// own.
#[derive(Clone, Debug)]
pub struct GhlClient {
    http: reqwest::Client,
    base: url::Url,
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

    /// `POST /contacts/upsert`: create or update by email/phone per the location's settings.
    pub async fn upsert_contact(
        &self,
        token: &SecretString,
        body: &UpsertContact,
    ) -> Result<Response<UpsertContactResponse>, GhlError> {
        self.send(
            "upsert_contact",
            Method::POST,
            &["contacts", "upsert"],
            &[],
            token,
            Some(body),
        )
        .await
    }

    /// `GET /contacts/{contactId}`.
    pub async fn get_contact(
        &self,
        token: &SecretString,
        contact_id: &str,
    ) -> Result<Response<ContactResponse>, GhlError> {
        self.send::<(), _>(
            "get_contact",
            Method::GET,
            &["contacts", contact_id],
            &[],
            token,
            None,
        )
        .await
    }

    /// `GET /contacts/search/duplicate?locationId=&email=&number=`.
    pub async fn find_duplicate(
        &self,
        token: &SecretString,
        location_id: &str,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Response<DuplicateContactResponse>, GhlError> {
        let mut query = vec![("locationId", location_id)];
        if let Some(e) = email {
            query.push(("email", e));
        }
        if let Some(p) = phone {
            query.push(("number", p));
        }
        self.send::<(), _>(
            "find_duplicate",
            Method::GET,
            &["contacts", "search", "duplicate"],
            &query,
            token,
            None,
        )
        .await
    }

    /// `POST /contacts/{contactId}/tags` (adds; answers with every tag now on the contact).
    pub async fn add_tags(
        &self,
        token: &SecretString,
        contact_id: &str,
        tags: &[String],
    ) -> Result<Response<TagsResponse>, GhlError> {
        let body = Tags {
            tags: tags.to_vec(),
        };
        self.send(
            "add_tags",
            Method::POST,
            &["contacts", contact_id, "tags"],
            &[],
            token,
            Some(&body),
        )
        .await
    }

    /// `POST /contacts/{contactId}/notes` (201 with the note).
    pub async fn create_note(
        &self,
        token: &SecretString,
        contact_id: &str,
        body: &str,
    ) -> Result<Response<NoteResponse>, GhlError> {
        let note = NewNote {
            body: body.to_owned(),
        };
        self.send(
            "create_note",
            Method::POST,
            &["contacts", contact_id, "notes"],
            &[],
            token,
            Some(&note),
        )
        .await
    }

    /// `DELETE /contacts/{contactId}/tags` (with a JSON body).
    pub async fn remove_tags(
        &self,
        token: &SecretString,
        contact_id: &str,
        tags: &[String],
    ) -> Result<Response<TagsResponse>, GhlError> {
        let body = Tags {
            tags: tags.to_vec(),
        };
        self.send(
            "remove_tags",
            Method::DELETE,
            &["contacts", contact_id, "tags"],
            &[],
            token,
            Some(&body),
        )
        .await
    }

    fn url(&self, operation: &'static str, segments: &[&str]) -> Result<url::Url, GhlError> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| GhlError::Request {
                operation,
                message: "base URL cannot have a path".into(),
            })?;
            path.pop_if_empty();
            for s in segments {
                if s.is_empty() {
                    return Err(GhlError::Request {
                        operation,
                        message: "empty path segment (missing id)".into(),
                    });
                }
                path.push(s);
            }
        }
        Ok(url)
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        token: &SecretString,
        body: Option<&B>,
    ) -> Result<Response<T>, GhlError> {
        let url = self.url(operation, segments)?;
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
                .bearer_auth(token.expose_secret())
                .header("Version", crate::API_VERSION)
                .header("Accept", "application/json");
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
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
