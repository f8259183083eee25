//! A sandbox per test and a client pointed at it.

use std::time::Duration;

use relay_ghl::GhlClient;
use relay_ghl::types::{ContactResponse, UpsertContact};
use relay_sandbox::{
    ContactExtras, DEMO_LOCATION_ID, DEMO_TOKEN, LocationEntities, Sandbox, SandboxConfig,
    SandboxState,
};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// The client's timeout unless a test asks for another.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A running sandbox (stopped on drop) and a client with the demo location's token.
pub(crate) struct Ghl {
    pub(crate) client: GhlClient,
    pub(crate) token: SecretString,
    pub(crate) state: SandboxState,
    pub(crate) base: String,
    shutdown: CancellationToken,
}

impl Ghl {
    /// The default sandbox with a burst budget no test reaches (rate limits are tested on a
    /// location of their own).
    pub(crate) async fn start() -> Self {
        let mut cfg = SandboxConfig::for_tests();
        cfg.rate_limit.burst_max = 1_000_000;
        Self::with_config(cfg).await
    }

    pub(crate) async fn with_config(cfg: SandboxConfig) -> Self {
        let sandbox = Sandbox::bind(cfg).await.expect("bind the sandbox");
        let base = format!("http://{}", sandbox.local_addr());
        let state = sandbox.state();
        let shutdown = CancellationToken::new();
        tokio::spawn(sandbox.run(shutdown.clone()));
        Self {
            client: client(&base, TIMEOUT),
            token: SecretString::from(DEMO_TOKEN),
            state,
            base,
            shutdown,
        }
    }

    /// Another client on the same sandbox, with this timeout.
    pub(crate) fn client_with_timeout(&self, timeout: Duration) -> GhlClient {
        client(&self.base, timeout)
    }

    /// The demo location's id.
    pub(crate) fn location(&self) -> &'static str {
        DEMO_LOCATION_ID
    }

    /// Upserts a contact with this email on the demo location; its id.
    pub(crate) async fn contact(&self, email: &str) -> String {
        let body = UpsertContact {
            location_id: DEMO_LOCATION_ID.into(),
            email: Some(email.into()),
            ..UpsertContact::default()
        };
        let resp = self
            .client
            .upsert_contact(&self.token, &body)
            .await
            .expect("upsert");
        resp.body.contact.id
    }

    pub(crate) async fn get(&self, contact_id: &str) -> ContactResponse {
        self.client
            .get_contact(&self.token, contact_id)
            .await
            .expect("get contact")
            .body
    }

    /// What the sandbox holds for the demo location.
    pub(crate) fn entities(&self) -> LocationEntities {
        self.state
            .location_entities(DEMO_LOCATION_ID)
            .expect("demo location")
    }

    /// The tasks, notes and enrolments the sandbox holds for a contact.
    pub(crate) fn extras(&self, contact_id: &str) -> ContactExtras {
        self.entities()
            .contact_extras
            .remove(contact_id)
            .unwrap_or_default()
    }
}

impl Drop for Ghl {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn client(base: &str, timeout: Duration) -> GhlClient {
    GhlClient::new(base.parse().expect("base URL"), timeout).expect("client")
}
