//! Starts a sandbox in-process and talks to it like a GHL client.

use relay_sandbox::{ClockMode, DEMO_TOKEN, Sandbox, SandboxConfig, SandboxState};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The only `Version` the sandbox accepts.
pub(crate) const VERSION: &str = "2021-07-28";

/// A running sandbox; stops when dropped.
pub(crate) struct TestSandbox {
    pub(crate) base: String,
    pub(crate) state: SandboxState,
    pub(crate) http: reqwest::Client,
    shutdown: CancellationToken,
}

impl TestSandbox {
    pub(crate) async fn start() -> Self {
        Self::with_config(SandboxConfig::for_tests()).await
    }

    /// A sandbox whose clock moves only when told to.
    pub(crate) async fn frozen() -> Self {
        Self::with_config(SandboxConfig {
            clock: ClockMode::Frozen,
            ..SandboxConfig::for_tests()
        })
        .await
    }

    pub(crate) async fn with_config(cfg: SandboxConfig) -> Self {
        let sandbox = Sandbox::bind(cfg).await.expect("bind");
        let base = format!("http://{}", sandbox.local_addr());
        let state = sandbox.state();
        let shutdown = CancellationToken::new();
        tokio::spawn(sandbox.run(shutdown.clone()));
        Self {
            base,
            state,
            http: reqwest::Client::new(),
            shutdown,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the demo token and the `Version` header.
    pub(crate) fn ghl(&self, method: Method, path: &str) -> RequestBuilder {
        self.ghl_as(DEMO_TOKEN, method, path)
    }

    /// A request with `token` and the `Version` header.
    pub(crate) fn ghl_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("Version", VERSION)
    }

    /// Sends a GHL request with the demo token and an optional JSON body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.ghl(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        send(req).await
    }

    /// Creates a contact on the demo location by upsert and returns its id.
    pub(crate) async fn contact(&self, email: &str) -> String {
        let (status, body) = self.upsert(serde_json::json!({ "email": email })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["contact"]["id"]
            .as_str()
            .expect("contact id")
            .to_owned()
    }

    /// `POST /contacts/upsert` on the demo location with `body` (+ `locationId`).
    pub(crate) async fn upsert(&self, mut body: Value) -> (StatusCode, Value) {
        body["locationId"] = Value::from(relay_sandbox::DEMO_LOCATION_ID);
        send(self.ghl(Method::POST, "/contacts/upsert").json(&body)).await
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Sends and returns the status and the JSON body (`null` when the body is not JSON).
pub(crate) async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}
