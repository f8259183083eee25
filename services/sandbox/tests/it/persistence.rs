//! The optional data file: state survives a restart, is saved periodically, and a bad file
//! stops the start.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use relay_sandbox::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LOCATION_ID, DEMO_TOKEN, NewAuthCode, NewLocation,
    Sandbox, SandboxConfig, SandboxState,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::{VERSION, send};

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("relay-sandbox-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("state.json")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A sandbox keeping its state in `file`, and how to stop it.
struct Running {
    base: String,
    state: SandboxState,
    http: reqwest::Client,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(file: &Path, every: Duration) -> Self {
        let cfg = SandboxConfig {
            data_file: Some(file.to_owned()),
            persist_interval: every,
            ..SandboxConfig::for_tests()
        };
        let sandbox = Sandbox::bind(cfg).await.expect("bind");
        let base = format!("http://{}", sandbox.local_addr());
        let state = sandbox.state();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sandbox.run(shutdown.clone()));
        Self {
            base,
            state,
            http: reqwest::Client::new(),
            shutdown,
            task,
        }
    }

    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Version", VERSION);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (status, body) = send(req).await;
        assert!(status.is_success(), "{method} {path} → {status} {body}");
        body
    }

    /// Stops the server and waits for the final save.
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("join").expect("run");
    }
}

#[tokio::test]
async fn the_state_survives_a_restart_with_the_same_data_file() {
    let dir = TempDir::new();
    let first = Running::start(&dir.file(), Duration::from_secs(3600)).await;
    let body = json!({"locationId": DEMO_LOCATION_ID, "email": "Kept@x.io", "tags": ["vip"],
        "customFields": [{"key": "lifetime_value", "field_value": 42}]});
    let kept = first
        .call(DEMO_TOKEN, Method::POST, "/contacts/upsert", Some(body))
        .await["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    first
        .call(
            DEMO_TOKEN,
            Method::POST,
            &format!("/contacts/{kept}/tasks"),
            Some(json!({"title": "Call", "dueDate": "2030-01-01T00:00:00Z", "completed": false})),
        )
        .await;
    first
        .state
        .add_location(NewLocation::new("second", "pit-second"))
        .unwrap();
    let code = first
        .state
        .issue_auth_code(NewAuthCode {
            client_id: DEMO_CLIENT_ID.into(),
            location_id: DEMO_LOCATION_ID.into(),
            ..NewAuthCode::default()
        })
        .unwrap();
    let (status, grant) = send(
        first
            .http
            .post(format!("{}/oauth/token", first.base))
            .form(&[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("grant_type", "authorization_code"),
                ("code", code.code.as_str()),
            ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    first.stop().await;
    assert!(dir.file().exists());
    assert!(!dir.0.join("state.json.tmp").exists());

    let second = Running::start(&dir.file(), Duration::from_secs(3600)).await;
    let contacts = second.state.contacts(DEMO_LOCATION_ID);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].email.as_deref(), Some("Kept@x.io"));
    assert_eq!(contacts[0].custom_fields[0].value, json!(42));
    let got = second
        .call(DEMO_TOKEN, Method::GET, &format!("/contacts/{kept}"), None)
        .await;
    assert_eq!(got["contact"]["tags"], json!(["vip"]));
    let tasks = second
        .call(
            DEMO_TOKEN,
            Method::GET,
            &format!("/contacts/{kept}/tasks"),
            None,
        )
        .await;
    assert_eq!(tasks["tasks"][0]["title"], "Call");
    // The derived maps are rebuilt: search sees the contact, upsert matches it.
    let found = second
        .call(
            DEMO_TOKEN,
            Method::POST,
            "/contacts/search",
            Some(json!({"locationId": DEMO_LOCATION_ID, "pageLimit": 10,
                "filters": [{"field": "tags", "operator": "eq", "value": "vip"}]})),
        )
        .await;
    assert_eq!(found["total"], 1);
    let again = second
        .call(
            DEMO_TOKEN,
            Method::POST,
            "/contacts/upsert",
            Some(json!({"locationId": DEMO_LOCATION_ID, "email": "kept@x.io"})),
        )
        .await;
    assert_eq!(
        (&again["new"], &again["contact"]["id"]),
        (&json!(false), &json!(kept))
    );
    // Tokens: the location's private token, the OAuth access token, the refresh token.
    second
        .call("pit-second", Method::GET, "/locations/second", None)
        .await;
    let access = grant["access_token"].as_str().unwrap();
    second
        .call(access, Method::GET, &format!("/contacts/{kept}"), None)
        .await;
    let (status, _) = send(
        second
            .http
            .post(format!("{}/oauth/token", second.base))
            .form(&[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", grant["refresh_token"].as_str().unwrap()),
            ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // New contacts list after the old ones.
    second
        .call(
            DEMO_TOKEN,
            Method::POST,
            "/contacts/",
            Some(json!({"locationId": DEMO_LOCATION_ID, "email": "new@x.io"})),
        )
        .await;
    let emails: Vec<String> = second
        .state
        .contacts(DEMO_LOCATION_ID)
        .into_iter()
        .filter_map(|c| c.email)
        .collect();
    assert_eq!(emails, ["kept@x.io", "new@x.io"]);
    second.stop().await;
}

#[tokio::test]
async fn changes_are_saved_periodically_while_running() {
    let dir = TempDir::new();
    let running = Running::start(&dir.file(), Duration::from_millis(20)).await;
    running
        .call(
            DEMO_TOKEN,
            Method::POST,
            "/contacts/upsert",
            Some(json!({"locationId": DEMO_LOCATION_ID, "email": "early@x.io"})),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(dir.file()).unwrap_or_default();
        if text.contains("early@x.io") {
            break;
        }
        assert!(Instant::now() < deadline, "not saved within 5s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.stop().await;
}

#[tokio::test]
async fn an_unreadable_data_file_stops_the_start() {
    let dir = TempDir::new();
    std::fs::write(dir.file(), "{not json").unwrap();
    let cfg = SandboxConfig {
        data_file: Some(dir.file()),
        ..SandboxConfig::for_tests()
    };
    let err = Sandbox::bind(cfg).await.expect_err("corrupt file");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("state.json"), "{err}");
}
