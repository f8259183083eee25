//! Credentials against a real nats-server (the token store) and the sandbox as GHL's OAuth
//! server: refresh before expiry, encrypted rotation, restarts, 401s, two replicas, refusals.

use std::collections::BTreeMap;
use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use relay_common::SecretRef;
use relay_common::nats::Nats;
use relay_contracts::{Bucket, Token};
use relay_ghl::GhlClient;
use relay_sandbox::{
    DEMO_LOCATION_ID, DEMO_TOKEN, NewAuthCode, NewOAuthApp, OAuthAppView, Sandbox, SandboxConfig,
    SandboxState,
};
use relay_test_support::{NatsServer, unique_prefix};
use relay_writer::auth::{Auth, AuthError, AuthKind};
use relay_writer::config::{AuthConfig, LocationConfig, OAuthInstall, WriterConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

const KEY_HEX: &str = "7f3c1a9e5b2d4c6f8a0b1c2d3e4f5061728394a5b6c7d8e9f001122334455667";

/// nats-server, the sandbox and an OAuth app; stopped on drop.
struct World {
    nats: NatsServer,
    prefix: Token,
    state: SandboxState,
    base: url::Url,
    ghl: GhlClient,
    app: OAuthAppView,
    shutdown: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl World {
    /// Access tokens live `ttl`.
    async fn start(ttl: Duration) -> Self {
        let nats = NatsServer::start();
        let mut cfg = SandboxConfig::for_tests();
        cfg.oauth.access_token_ttl = ttl;
        cfg.rate_limit.burst_max = 1_000_000;
        let sandbox = Sandbox::bind(cfg).await.expect("bind the sandbox");
        let base = url::Url::parse(&format!("http://{}", sandbox.local_addr())).expect("url");
        let state = sandbox.state();
        let shutdown = CancellationToken::new();
        tokio::spawn(sandbox.run(shutdown.clone()));
        let app = state
            .add_oauth_app(NewOAuthApp::default())
            .expect("register an app");
        let ghl = GhlClient::new(base.clone(), Duration::from_secs(10)).expect("client");
        Self {
            nats,
            prefix: unique_prefix(),
            state,
            base,
            ghl,
            app,
            shutdown,
        }
    }

    fn location() -> Token {
        Token::parse(DEMO_LOCATION_ID).expect("token")
    }

    /// Installs the app in the demo location: the refresh token of the install.
    async fn install(&self) -> String {
        let code = self
            .state
            .issue_auth_code(NewAuthCode {
                client_id: self.app.client_id.clone(),
                location_id: DEMO_LOCATION_ID.into(),
                ..NewAuthCode::default()
            })
            .expect("code")
            .code;
        let grant = self
            .ghl
            .exchange_authorization_code(
                &self.app.client_id,
                &self.secret(),
                &SecretString::from(code),
                None,
            )
            .await
            .expect("exchange the code")
            .body;
        grant.refresh_token.expose_secret().to_owned()
    }

    fn secret(&self) -> SecretString {
        SecretString::from(self.app.client_secret.as_str())
    }

    fn config(&self, location: LocationConfig, refresh_before: Duration) -> WriterConfig {
        let mut cfg = WriterConfig::default();
        cfg.nats.url = self.nats.url();
        cfg.nats.prefix = Some(self.prefix.clone());
        cfg.ghl.base_url = self.base.clone();
        cfg.auth = AuthConfig {
            encryption_key: Some(SecretRef::Literal(KEY_HEX.into())),
            refresh_before,
        };
        cfg.locations = BTreeMap::from([(Self::location(), location)]);
        cfg
    }

    fn oauth_config(&self, refresh_token: &str, refresh_before: Duration) -> WriterConfig {
        self.config(
            LocationConfig {
                token: None,
                oauth: Some(OAuthInstall {
                    client_id: self.app.client_id.clone(),
                    client_secret: SecretRef::Literal(self.app.client_secret.clone()),
                    refresh_token: SecretRef::Literal(refresh_token.into()),
                }),
                rate_limit: None,
            },
            refresh_before,
        )
    }

    /// A writer replica's `Auth`.
    async fn auth(&self, cfg: &WriterConfig) -> Auth {
        let nats = Nats::connect(&cfg.nats, "writer-test")
            .await
            .expect("connect");
        let ghl = GhlClient::new(cfg.ghl.base_url.clone(), cfg.ghl.timeout).expect("client");
        Auth::new(nats, ghl, cfg, &|_| None).expect("auth")
    }

    /// `POST /oauth/token` calls the sandbox answered so far.
    fn token_calls(&self) -> u64 {
        self.state
            .request_counts()
            .iter()
            .filter(|c| c.route == "/oauth/token")
            .map(|c| c.count)
            .sum()
    }

    async fn works(&self, token: &SecretString) -> bool {
        self.ghl.get_location(token, DEMO_LOCATION_ID).await.is_ok()
    }

    /// The raw value of the location's entry in the token store.
    async fn raw_entry(&self) -> Vec<u8> {
        let js = async_nats::jetstream::new(self.nats.client().await);
        let ns = relay_contracts::Namespace::new(Some(self.prefix.clone()));
        let kv = js
            .get_key_value(ns.bucket_name(Bucket::Tokens))
            .await
            .expect("bucket");
        kv.get(DEMO_LOCATION_ID)
            .await
            .expect("read")
            .expect("entry")
            .to_vec()
    }
}

/// Opens a stored value the way the writer seals it.
fn open(raw: &[u8], location: &str) -> Option<serde_json::Value> {
    let key = hex::decode(KEY_HEX).expect("hex");
    let cipher = XChaCha20Poly1305::new_from_slice(&key).expect("key");
    let (nonce, ct) = raw.split_at(24);
    let nonce = XNonce::try_from(nonce).expect("nonce");
    let plain = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ct,
                aad: location.as_bytes(),
            },
        )
        .ok()?;
    serde_json::from_slice(&plain).ok()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn refreshes_before_expiry_and_stores_the_rotated_pair_encrypted() {
    let w = World::start(Duration::from_secs(4)).await;
    let seed = w.install().await;
    let cfg = w.oauth_config(&seed, Duration::from_secs(2));
    let auth = w.auth(&cfg).await;
    let loc = World::location();
    let calls = w.token_calls();

    let first = auth.token(&loc).await.expect("first token");
    assert!(w.works(&first).await);
    assert_eq!(w.token_calls(), calls + 1, "seeded with one refresh");
    let again = auth.token(&loc).await.expect("token");
    assert_eq!(again.expose_secret(), first.expose_secret());
    assert_eq!(w.token_calls(), calls + 1, "a fresh token is not refreshed");

    // Stored sealed: neither token is readable in the raw bytes, the seed is rotated away, and
    // the value does not open under another key (location).
    let raw = w.raw_entry().await;
    let record = open(&raw, DEMO_LOCATION_ID).expect("opens with the key and location");
    let stored_refresh = record["refresh_token"].as_str().expect("refresh token");
    assert_eq!(record["access_token"].as_str(), Some(first.expose_secret()));
    assert_ne!(stored_refresh, seed, "the refresh token rotated");
    assert!(!contains(&raw, first.expose_secret()));
    assert!(!contains(&raw, stored_refresh));
    assert!(!contains(&raw, &seed));
    assert!(open(&raw, "another-location").is_none());
    assert_eq!(record["refreshed_by"].as_str(), Some(auth.holder()));

    let status = auth.status();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].kind, AuthKind::OAuth);
    assert!(status[0].expires_at.is_some() && status[0].paused.is_none());

    // Within `refresh_before` of expiry: refreshed before it expires (the old one still works).
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let second = auth.token(&loc).await.expect("refreshed token");
    assert_ne!(second.expose_secret(), first.expose_secret());
    assert_eq!(w.token_calls(), calls + 2);
    assert!(
        w.works(&first).await,
        "refreshed before the old token expired"
    );
    assert!(w.works(&second).await);
    let record = open(&w.raw_entry().await, DEMO_LOCATION_ID).expect("opens");
    assert_eq!(
        record["access_token"].as_str(),
        Some(second.expose_secret())
    );
    assert_ne!(record["refresh_token"].as_str(), Some(stored_refresh));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_uses_the_stored_pair_and_a_401_refreshes_once() {
    let w = World::start(Duration::from_secs(3600)).await;
    let seed = w.install().await;
    let cfg = w.oauth_config(&seed, Duration::from_secs(300));
    let loc = World::location();
    let first = {
        let auth = w.auth(&cfg).await;
        auth.token(&loc).await.expect("token")
    };
    let calls = w.token_calls();

    // A new process with the same config: the stored pair, not the (used) seed.
    let auth = w.auth(&cfg).await;
    let token = auth.token(&loc).await.expect("token after restart");
    assert_eq!(token.expose_secret(), first.expose_secret());
    assert_eq!(w.token_calls(), calls, "no refresh after a restart");

    // GHL stops accepting it (forced expiry): every caller that saw the 401 gets the one new
    // token from a single refresh.
    assert_eq!(w.state.expire_tokens(Some(first.expose_secret()), None), 1);
    assert!(!w.works(&first).await);
    // (Spawned: the futures are `Send`, as the writer's tasks need.)
    let rejected = futures::future::join_all((0..5).map(|_| {
        let (auth, loc, first) = (auth.clone(), loc.clone(), first.clone());
        tokio::spawn(async move { auth.rejected(&loc, &first).await })
    }))
    .await;
    let new: Vec<String> = rejected
        .into_iter()
        .map(|r| {
            r.expect("task")
                .expect("a new token")
                .expose_secret()
                .to_owned()
        })
        .collect();
    assert_ne!(new[0], first.expose_secret());
    assert!(new.iter().all(|t| *t == new[0]), "one new token for all");
    assert_eq!(
        w.token_calls(),
        calls + 1,
        "exactly one refresh for five 401s"
    );
    let new = SecretString::from(new[0].as_str());
    assert!(w.works(&new).await);
    // A late 401 for the old token does not refresh again.
    let late = auth.rejected(&loc, &first).await.expect("token");
    assert_eq!(late.expose_secret(), new.expose_secret());
    assert_eq!(w.token_calls(), calls + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_refresh_once_and_share_the_token() {
    let w = World::start(Duration::from_secs(3600)).await;
    let seed = w.install().await;
    let cfg = w.oauth_config(&seed, Duration::from_secs(300));
    let loc = World::location();
    let a = w.auth(&cfg).await;
    let b = w.auth(&cfg).await;
    let calls = w.token_calls();

    // Both seed at once: the seed works once, so only one may reach GHL.
    let spawned = tokio::spawn({
        let (b, loc) = (b.clone(), loc.clone());
        async move { b.token(&loc).await }
    });
    let (ta, tb) = tokio::join!(a.token(&loc), spawned);
    let (ta, tb) = (
        ta.expect("replica a"),
        tb.expect("task").expect("replica b"),
    );
    assert_eq!(ta.expose_secret(), tb.expose_secret());
    assert_eq!(w.token_calls(), calls + 1, "one refresh reached GHL");
    assert!(w.works(&ta).await);

    // Both get a 401 for it at once.
    w.state.expire_tokens(Some(ta.expose_secret()), None);
    let (na, nb) = tokio::join!(a.rejected(&loc, &ta), b.rejected(&loc, &tb));
    let (na, nb) = (na.expect("replica a"), nb.expect("replica b"));
    assert_eq!(na.expose_secret(), nb.expose_secret());
    assert_ne!(na.expose_secret(), ta.expose_secret());
    assert_eq!(w.token_calls(), calls + 2, "one more refresh reached GHL");
    assert!(w.works(&na).await);
    assert!(a.is_paused(&loc).is_none() && b.is_paused(&loc).is_none());
}

#[tokio::test]
async fn a_refused_refresh_pauses_until_a_new_installation() {
    let w = World::start(Duration::from_secs(3600)).await;
    let used = w.install().await;
    // Someone else used this refresh token already: GHL refuses it now.
    w.ghl
        .refresh_access_token(
            &w.app.client_id,
            &w.secret(),
            &SecretString::from(used.as_str()),
        )
        .await
        .expect("refresh");
    let loc = World::location();
    let stale = w
        .auth(&w.oauth_config(&used, Duration::from_secs(300)))
        .await;
    let Err(AuthError::Paused(reason)) = stale.token(&loc).await else {
        panic!("a refused refresh pauses the location");
    };
    assert!(reason.contains("refresh token is invalid"), "{reason}");
    assert!(!reason.contains(&used), "no token in the reason");
    assert_eq!(stale.is_paused(&loc).as_deref(), Some(reason.as_str()));
    assert_eq!(stale.status()[0].paused.as_deref(), Some(reason.as_str()));
    let calls = w.token_calls();
    // Paused: no more calls to GHL until something changes.
    assert!(matches!(stale.token(&loc).await, Err(AuthError::Paused(_))));
    assert_eq!(w.token_calls(), calls);

    let waiter = tokio::spawn({
        let stale = stale.clone();
        let loc = loc.clone();
        async move { stale.wait_resumed(&loc).await }
    });
    // An operator's retry without a fix is refused again and stays paused.
    assert!(matches!(
        stale.resume(&loc).await,
        Err(AuthError::Paused(_))
    ));
    assert_eq!(w.token_calls(), calls + 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "still paused");

    // Re-installed: a replica with the new refresh token seeds the store; the paused replica
    // picks the new pair up and resumes without calling GHL.
    let fresh = w.install().await;
    let other = w
        .auth(&w.oauth_config(&fresh, Duration::from_secs(300)))
        .await;
    let token = other.token(&loc).await.expect("seeded");
    let calls = w.token_calls();
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("resumed after the re-seed")
        .expect("waiter");
    assert!(stale.is_paused(&loc).is_none());
    let again = stale.token(&loc).await.expect("token after resuming");
    assert_eq!(again.expose_secret(), token.expose_secret());
    assert_eq!(w.token_calls(), calls);

    // Its own (stale) seed is not tried again on the next refresh: it follows the stored chain.
    w.state.expire_tokens(Some(token.expose_secret()), None);
    let next = stale.rejected(&loc, &token).await.expect("refreshed");
    assert!(w.works(&next).await);
    assert_eq!(w.token_calls(), calls + 1);
    let from_other = other.rejected(&loc, &token).await.expect("token");
    assert_eq!(from_other.expose_secret(), next.expose_secret());
    assert_eq!(w.token_calls(), calls + 1);
}

#[tokio::test]
async fn a_rejected_private_integration_token_pauses_until_resumed() {
    let w = World::start(Duration::from_secs(3600)).await;
    let cfg = w.config(
        LocationConfig {
            token: Some(SecretRef::Literal(DEMO_TOKEN.into())),
            oauth: None,
            rate_limit: None,
        },
        Duration::from_secs(300),
    );
    let auth = w.auth(&cfg).await;
    let loc = World::location();
    let token = auth.token(&loc).await.expect("the configured token");
    assert_eq!(token.expose_secret(), DEMO_TOKEN);
    assert_eq!(auth.status()[0].kind, AuthKind::Pit);

    let Err(AuthError::Paused(reason)) = auth.rejected(&loc, &token).await else {
        panic!("a rejected PIT pauses the location");
    };
    assert!(
        reason.contains("rotate it in the writer config"),
        "{reason}"
    );
    assert!(matches!(auth.token(&loc).await, Err(AuthError::Paused(_))));
    assert_eq!(auth.status()[0].paused.as_deref(), Some(reason.as_str()));

    let waiter = tokio::spawn({
        let auth = auth.clone();
        let loc = loc.clone();
        async move { auth.wait_resumed(&loc).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished());
    auth.resume(&loc).await.expect("resume");
    tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("resumed")
        .expect("waiter");
    assert_eq!(
        auth.token(&loc).await.expect("token").expose_secret(),
        DEMO_TOKEN
    );

    let unknown = Token::parse("nowhere").expect("token");
    assert_eq!(
        auth.token(&unknown).await.unwrap_err(),
        AuthError::NotConfigured(unknown.clone())
    );
    // Not paused, not configured: nothing to wait for.
    auth.wait_resumed(&unknown).await;
}

#[tokio::test]
async fn outages_are_transient_and_a_crashed_refresher_is_taken_over() {
    let mut w = World::start(Duration::from_secs(3600)).await;
    let seed = w.install().await;
    let cfg = w.oauth_config(&seed, Duration::from_secs(300));
    let loc = World::location();

    // NATS (the token store) away at start: transient, and fine once it is back.
    w.nats.stop();
    let auth = w.auth(&cfg).await;
    let started = std::time::Instant::now();
    let err = auth.token(&loc).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast");
    w.nats.restart();

    // GHL's token endpoint failing (5xx) is transient too and pauses nothing.
    w.state
        .inject_fault(relay_sandbox::FaultSpec {
            status: Some(503),
            count: Some(1),
            path_prefix: Some("/oauth/token".into()),
            ..Default::default()
        })
        .expect("fault");
    let err = relay_test_support::eventually("NATS back", Duration::from_secs(20), || async {
        match auth.token(&loc).await {
            Err(AuthError::Unavailable(e)) if e.contains("503") => Some(e),
            Err(AuthError::Unavailable(_)) => None,
            other => panic!("expected the 503 to be transient: {other:?}"),
        }
    })
    .await;
    assert!(!err.contains(&seed));
    assert!(auth.is_paused(&loc).is_none());

    // A replica that died holding the refresh lock: the lock is taken over at its deadline.
    let js = async_nats::jetstream::new(w.nats.client().await);
    let ns = relay_contracts::Namespace::new(Some(w.prefix.clone()));
    let kv = js
        .get_key_value(ns.bucket_name(Bucket::Tokens))
        .await
        .expect("bucket");
    let deadline = time::OffsetDateTime::now_utc() + Duration::from_millis(1500);
    let lock = serde_json::json!({
        "holder": "crashed-replica",
        "deadline_ms": (deadline.unix_timestamp_nanos() / 1_000_000) as i64,
    });
    kv.put(
        format!("lock.{DEMO_LOCATION_ID}"),
        serde_json::to_vec(&lock).expect("json").into(),
    )
    .await
    .expect("put the lock");
    let calls = w.token_calls();
    let started = std::time::Instant::now();
    let token = auth.token(&loc).await.expect("token after the takeover");
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "waited for the lock"
    );
    assert!(w.works(&token).await);
    assert_eq!(w.token_calls(), calls + 1);
}
