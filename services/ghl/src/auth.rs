//! Per-location GHL credentials: private integration tokens and OAuth installations.
//!
//! A private integration token (PIT) is static: it is sent as configured, and a 401 pauses the
//! location until an operator rotates it (GHL README §3.2).
//!
//! An OAuth installation (README §3.3) has an access token that expires daily and a refresh
//! token that rotates: each refresh returns a new pair and the used refresh token stops
//! working. So:
//! - **Store.** The current pair lives in the `relay-tokens` KV bucket under the location id,
//!   sealed with XChaCha20-Poly1305 (`auth.encryption_key`; a random 24-byte nonce in front;
//!   the location id as associated data, so a value moved to another key does not open). The
//!   entry also records which configured refresh token started the chain (a SHA-256
//!   fingerprint, `seed`), when and by whom it was refreshed.
//! - **Seed.** With no entry, or one seeded from a different configured refresh token (a
//!   re-installation), the configured refresh token is used once to get the first pair.
//!   Otherwise the stored pair is authoritative, also after a restart.
//! - **Refresh** `refresh_before` expiry (at most half the token's lifetime), and once when GHL
//!   answers 401 to a token ([`Auth::rejected`]). One refresh at a time per location: within
//!   this process callers wait for the one in flight; across replicas (writers and the poller
//!   share the bucket) a `lock.<location>` entry, created with `create`, holds the right to
//!   refresh (holder and deadline; a stale lock is taken over with a revision check), and the
//!   others wait for the new pair to appear. Since a refresh token works once, only one call
//!   may reach GHL. The new pair is written with a revision check.
//! - **Refusal.** A refresh GHL refuses (400/401: revoked, used, location inactive, unknown
//!   client) pauses the location with GHL's message; it resumes when an operator calls
//!   [`Auth::resume`], or when a new pair shows up in the store (another replica seeded a new
//!   installation). Transport errors and 5xx are [`AuthError::Unavailable`]: transient.
//!
//! Tokens never appear in logs, spans or errors.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::kv;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use futures::StreamExt as _;
use relay_common::nats::Nats;
use relay_contracts::{Bucket, Token};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;
use tokio::sync::watch;
use tracing::Instrument as _;

use crate::config::{AuthConfig, GhlSettings, LocationConfig};
use crate::{GhlClient, GhlError};

/// Nonce length of XChaCha20-Poly1305.
const NONCE_LEN: usize = 24;
/// How long a call waits for a NATS connection that is not up.
const CONNECT_GRACE: Duration = Duration::from_secs(2);
/// How often a replica waiting for another's refresh looks at the store again.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// Why no token can be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// This service has no credentials for this location.
    #[error("location {0} is not configured (no credentials)")]
    NotConfigured(Token),
    /// The location is paused until an operator acts (or a new installation is stored): plans
    /// for it wait; nothing is lost.
    #[error("location paused: {0}")]
    Paused(String),
    /// The token store (KV) or GHL's token endpoint cannot be reached: try again later.
    #[error("credentials unavailable: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// Worth retrying with backoff (as opposed to waiting for [`Auth::wait_resumed`], or
    /// giving up on an unknown location).
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::Unavailable(_))
    }
}

/// How a location authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// Private integration token.
    Pit,
    /// OAuth installation.
    OAuth,
}

impl AuthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Pit => "pit",
            AuthKind::OAuth => "oauth",
        }
    }
}

/// A location's credential state, for admin status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocationAuth {
    pub location: Token,
    pub kind: AuthKind,
    /// When the access token in use expires (OAuth, once loaded).
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last refreshed, and by which process.
    pub refreshed_at: Option<OffsetDateTime>,
    pub refreshed_by: Option<String>,
    /// Why the location is paused.
    pub paused: Option<String>,
}

/// What [`Auth::from_parts`] needs besides the locations and [`AuthConfig`].
#[derive(Clone, Copy, Debug)]
pub struct AuthOptions {
    /// The service using the credentials (`writer`, `poller`): default holder name, metric
    /// names (`relay_<service>_token_refresh_total`), messages.
    pub service: &'static str,
    /// Replicas of the token bucket, when this service creates it.
    pub replicas: usize,
    /// The GHL request timeout: a refresh lock outlives one token request by 5 s.
    pub request_timeout: Duration,
}

/// Per-location GHL credentials. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("holder", &self.inner.holder)
            .field(
                "locations",
                &self.inner.locations.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// The service using these credentials (`writer`, `poller`): metric names, messages.
    service: &'static str,
    nats: Nats,
    ghl: GhlClient,
    replicas: usize,
    refresh_before: Duration,
    /// How long a refresh lock holds before others may take it over.
    lock_ttl: Duration,
    /// This process, in refresh locks and stored entries.
    holder: String,
    cipher: Option<XChaCha20Poly1305>,
    store: tokio::sync::OnceCell<kv::Store>,
    locations: BTreeMap<Token, Location>,
}

struct Location {
    id: Token,
    credential: Credential,
    state: Mutex<LocState>,
    /// Single flight of refreshes in this process.
    flight: tokio::sync::Mutex<()>,
    /// Why the location is paused (`None`: usable).
    paused: watch::Sender<Option<String>>,
}

enum Credential {
    Pit(SecretString),
    OAuth(OAuthCredential),
}

struct OAuthCredential {
    client_id: String,
    client_secret: SecretString,
    /// The configured refresh token (used once, to seed the store).
    seed: SecretString,
    /// SHA-256 of `seed`, hex.
    seed_fingerprint: String,
}

#[derive(Default)]
struct LocState {
    current: Option<Current>,
    /// The configured refresh token belongs to an older installation than the stored chain
    /// (GHL refused it): use the stored chain instead of seeding again.
    seed_stale: bool,
    /// A pair GHL issued that could not be written to the store yet: written before anything
    /// else (its refresh token is the only one that works now).
    unsaved: Option<Record>,
}

/// The access token in use.
struct Current {
    access_token: SecretString,
    expires_at: OffsetDateTime,
    refreshed_at: OffsetDateTime,
    refreshed_by: String,
}

impl Current {
    /// Usable without a refresh at `now`: not within `refresh_before` of expiry (or, for short
    /// lived tokens, half their lifetime).
    fn fresh(&self, refresh_before: Duration, now: OffsetDateTime) -> bool {
        let lifetime = self.expires_at - self.refreshed_at;
        let margin = time::Duration::try_from(refresh_before)
            .unwrap_or(time::Duration::MAX)
            .min(lifetime / 2);
        self.expires_at - margin > now
    }

    fn is(&self, token: &SecretString) -> bool {
        self.access_token.expose_secret() == token.expose_secret()
    }
}

/// The stored pair (the plaintext of a KV value).
#[derive(Serialize, Deserialize)]
struct Record {
    access_token: String,
    refresh_token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    /// SHA-256 (hex) of the configured refresh token this chain started from.
    seed: String,
    #[serde(with = "time::serde::rfc3339")]
    refreshed_at: OffsetDateTime,
    refreshed_by: String,
}

impl Drop for Record {
    fn drop(&mut self) {
        self.access_token.zeroize();
        self.refresh_token.zeroize();
    }
}

impl Record {
    fn current(&self) -> Current {
        Current {
            access_token: SecretString::from(self.access_token.as_str()),
            expires_at: self.expires_at,
            refreshed_at: self.refreshed_at,
            refreshed_by: self.refreshed_by.clone(),
        }
    }
}

/// What the store holds for a location.
enum Stored {
    /// Nothing; `revision` is the delete marker's, if any (for a revision-checked write).
    Missing {
        revision: Option<u64>,
    },
    /// A value that does not open with our key (the key changed, or it was tampered with).
    Unreadable {
        revision: u64,
    },
    Present {
        record: Record,
        revision: u64,
    },
}

impl Stored {
    fn revision(&self) -> Option<u64> {
        match self {
            Stored::Missing { revision } => *revision,
            Stored::Unreadable { revision } | Stored::Present { revision, .. } => Some(*revision),
        }
    }
}

/// A refresh lock's value.
#[derive(Serialize, Deserialize)]
struct LockValue {
    holder: String,
    /// Unix milliseconds after which others may take the lock over.
    deadline_ms: i64,
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn fingerprint(secret: &SecretString) -> String {
    hex::encode(sha2::Sha256::digest(secret.expose_secret().as_bytes()))
}

fn lock_key(location: &Token) -> String {
    format!("lock.{location}")
}

/// GHL refused the refresh itself (as opposed to being unreachable or failing).
fn is_refusal(e: &GhlError) -> bool {
    matches!(e, GhlError::Api { status, .. } if (400..500).contains(status) && *status != 408 && *status != 429)
}

fn unavailable(what: &str, e: impl fmt::Display) -> AuthError {
    AuthError::Unavailable(format!("{what}: {e}"))
}

impl Auth {
    /// Resolves every location's credentials from a service's config ([`GhlSettings`]: the
    /// writer's, the poller's). See [`Auth::from_parts`].
    pub fn new(
        nats: Nats,
        ghl: GhlClient,
        cfg: &impl GhlSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Auth> {
        Self::from_parts(
            nats,
            ghl,
            cfg.locations(),
            cfg.auth(),
            AuthOptions {
                service: cfg.service(),
                replicas: cfg.replicas(),
                request_timeout: cfg.ghl().timeout,
            },
            env,
        )
    }

    /// Resolves every location's credentials. The token store is opened on first use, so the
    /// service can start while NATS is away. Every service calling GHL for a location (writer
    /// and poller) must use the same `auth.encryption_key`: they share the token store and its
    /// refresh locks, since an OAuth refresh token works once.
    pub fn from_parts(
        nats: Nats,
        ghl: GhlClient,
        configured: &BTreeMap<Token, LocationConfig>,
        auth: &AuthConfig,
        options: AuthOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Auth> {
        let mut locations = BTreeMap::new();
        let mut oauth = false;
        for (id, loc) in configured {
            let credential = match (&loc.token, &loc.oauth) {
                (Some(token), None) => Credential::Pit(
                    token
                        .resolve(env)
                        .map_err(|e| anyhow::anyhow!("locations.{id}.token: {e}"))?,
                ),
                (None, Some(o)) => {
                    oauth = true;
                    let seed = o
                        .refresh_token
                        .resolve(env)
                        .map_err(|e| anyhow::anyhow!("locations.{id}.oauth.refresh_token: {e}"))?;
                    Credential::OAuth(OAuthCredential {
                        client_id: o.client_id.clone(),
                        client_secret: o.client_secret.resolve(env).map_err(|e| {
                            anyhow::anyhow!("locations.{id}.oauth.client_secret: {e}")
                        })?,
                        seed_fingerprint: fingerprint(&seed),
                        seed,
                    })
                }
                _ => {
                    anyhow::bail!("locations.{id}: set either token (private integration) or oauth")
                }
            };
            locations.insert(
                id.clone(),
                Location {
                    id: id.clone(),
                    credential,
                    state: Mutex::new(LocState::default()),
                    flight: tokio::sync::Mutex::new(()),
                    paused: watch::Sender::new(None),
                },
            );
        }
        let cipher = match &auth.encryption_key {
            Some(key) => {
                let key = key
                    .resolve(env)
                    .map_err(|e| anyhow::anyhow!("auth.encryption_key: {e}"))?;
                let mut bytes = hex::decode(key.expose_secret().trim()).map_err(|_| {
                    anyhow::anyhow!("auth.encryption_key: must be 64 hex characters (32 bytes)")
                })?;
                let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| {
                    anyhow::anyhow!("auth.encryption_key: must be 64 hex characters (32 bytes)")
                });
                bytes.zeroize();
                Some(cipher?)
            }
            None if oauth => anyhow::bail!(
                "auth.encryption_key: required when a location uses OAuth (64 hex characters)"
            ),
            None => None,
        };
        let host = env("HOSTNAME").unwrap_or_else(|| options.service.to_owned());
        let holder = format!("{host}-{:08x}", fastrand::u32(..));
        Ok(Auth {
            inner: Arc::new(Inner {
                service: options.service,
                nats,
                ghl,
                replicas: options.replicas,
                refresh_before: auth.refresh_before,
                lock_ttl: options.request_timeout + Duration::from_secs(5),
                holder,
                cipher,
                store: tokio::sync::OnceCell::new(),
                locations,
            }),
        })
    }

    /// This process's name in refresh locks and stored entries.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// The token to call GHL with for `location`: the private integration token, or the OAuth
    /// access token, refreshed first when it expires within `auth.refresh_before`.
    pub async fn token(&self, location: &Token) -> Result<SecretString, AuthError> {
        let loc = self.inner.location(location)?;
        if let Some(reason) = loc.paused_reason() {
            return Err(AuthError::Paused(reason));
        }
        match &loc.credential {
            Credential::Pit(token) => Ok(token.clone()),
            Credential::OAuth(o) => {
                if let Some(token) = self.inner.fresh(loc, None) {
                    return Ok(token);
                }
                self.inner.obtain(loc, o, None, false).await
            }
        }
    }

    /// GHL answered 401 to a request made with `token`. OAuth: the newer token another caller
    /// (or replica) already got, or a new one from a refresh; retry the request once with it.
    /// A private integration token cannot be refreshed: the location is paused.
    pub async fn rejected(
        &self,
        location: &Token,
        token: &SecretString,
    ) -> Result<SecretString, AuthError> {
        let loc = self.inner.location(location)?;
        match &loc.credential {
            Credential::Pit(configured) => {
                if !configured.expose_secret().eq(token.expose_secret()) {
                    // Not the token we hand out: nothing to learn from it.
                    return Ok(configured.clone());
                }
                let reason = format!(
                    "private integration token rejected (401): rotate it in the {} config",
                    self.inner.service
                );
                loc.pause(&reason, self.inner.service);
                Err(AuthError::Paused(reason))
            }
            Credential::OAuth(o) => {
                if let Some(reason) = loc.paused_reason() {
                    return Err(AuthError::Paused(reason));
                }
                if let Some(newer) = self.inner.fresh(loc, Some(token)) {
                    return Ok(newer);
                }
                self.inner.obtain(loc, o, Some(token), false).await
            }
        }
    }

    /// Every configured location's credential state.
    pub fn status(&self) -> Vec<LocationAuth> {
        self.inner
            .locations
            .values()
            .map(|loc| {
                let state = loc.state();
                let current = state.current.as_ref();
                LocationAuth {
                    location: loc.id.clone(),
                    kind: match loc.credential {
                        Credential::Pit(_) => AuthKind::Pit,
                        Credential::OAuth(_) => AuthKind::OAuth,
                    },
                    expires_at: current.map(|c| c.expires_at),
                    refreshed_at: current.map(|c| c.refreshed_at),
                    refreshed_by: current.map(|c| c.refreshed_by.clone()),
                    paused: loc.paused_reason(),
                }
            })
            .collect()
    }

    /// Why `location` is paused, if it is.
    pub fn is_paused(&self, location: &Token) -> Option<String> {
        self.inner
            .locations
            .get(location)
            .and_then(Location::paused_reason)
    }

    /// Resolves when `location` is usable again: at once when it is not paused (or not
    /// configured); otherwise after [`Auth::resume`] succeeds or (OAuth) another replica
    /// stores a new token pair, e.g. after a re-installation.
    pub async fn wait_resumed(&self, location: &Token) {
        let Some(loc) = self.inner.locations.get(location) else {
            return;
        };
        let mut paused = loc.paused.subscribe();
        loop {
            if paused.borrow_and_update().is_none() {
                return;
            }
            match &loc.credential {
                Credential::Pit(_) => {
                    // The sender lives as long as `self`.
                    let _ = paused.changed().await;
                }
                Credential::OAuth(_) => {
                    let store = self.inner.store().await.ok();
                    let updates = match &store {
                        Some(s) => s.watch(loc.id.as_str()).await.ok(),
                        None => None,
                    };
                    // A pair stored between the pause and the watch.
                    if let Some(s) = &store {
                        self.inner.adopt_newer(loc, s).await;
                        if paused.borrow_and_update().is_none() {
                            return;
                        }
                    }
                    match updates {
                        Some(mut updates) => loop {
                            tokio::select! {
                                _ = paused.changed() => break,
                                entry = updates.next() => match entry {
                                    Some(Ok(e)) if e.operation == kv::Operation::Put => {
                                        if let Some(s) = &store {
                                            self.inner.adopt_newer(loc, s).await;
                                        }
                                        if loc.paused_reason().is_none() {
                                            return;
                                        }
                                    }
                                    Some(Ok(_)) => {}
                                    // The watch ended (NATS away): start over.
                                    Some(Err(_)) | None => {
                                        tokio::time::sleep(Duration::from_secs(1)).await;
                                        break;
                                    }
                                },
                            }
                        },
                        None => {
                            tokio::select! {
                                _ = paused.changed() => {}
                                () = tokio::time::sleep(Duration::from_secs(5)) => {}
                            }
                        }
                    }
                }
            }
        }
    }

    /// Operator: try `location` again now. A private integration token is taken as rotated
    /// (a 401 pauses it again). OAuth refreshes (or adopts a newer stored pair) and stays
    /// paused, with GHL's new reason, if that is refused.
    pub async fn resume(&self, location: &Token) -> Result<(), AuthError> {
        let loc = self.inner.location(location)?;
        if loc.paused_reason().is_none() {
            return Ok(());
        }
        match &loc.credential {
            Credential::Pit(_) => {
                loc.unpause();
                Ok(())
            }
            Credential::OAuth(o) => {
                let rejected = loc.state().current.as_ref().map(|c| c.access_token.clone());
                self.inner
                    .obtain(loc, o, rejected.as_ref(), true)
                    .await
                    .map(|_| ())
            }
        }
    }
}

impl Location {
    fn state(&self) -> MutexGuard<'_, LocState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn paused_reason(&self) -> Option<String> {
        self.paused.borrow().clone()
    }

    fn pause(&self, reason: &str, service: &str) {
        tracing::warn!(location = %self.id, reason, "location paused");
        metrics::counter!(format!("relay_{service}_location_paused_total"), "location" => self.id.to_string())
            .increment(1);
        self.paused.send_replace(Some(reason.to_owned()));
    }

    fn unpause(&self) {
        if self.paused.send_replace(None).is_some() {
            tracing::info!(location = %self.id, "location resumed");
        }
    }
}

impl Inner {
    fn location(&self, id: &Token) -> Result<&Location, AuthError> {
        self.locations
            .get(id)
            .ok_or_else(|| AuthError::NotConfigured(id.clone()))
    }

    async fn store(&self) -> Result<&kv::Store, AuthError> {
        // Wait a moment for a connection that is (re)starting, but not for JetStream's
        // timeouts when NATS is away: the caller retries later.
        if !self.nats.is_connected() {
            let mut changes = self.nats.connection_changes();
            let connected = tokio::time::timeout(CONNECT_GRACE, changes.wait_for(|up| *up)).await;
            if !matches!(connected, Ok(Ok(_))) {
                return Err(AuthError::Unavailable(
                    "token store: NATS is not connected".into(),
                ));
            }
        }
        self.store
            .get_or_try_init(|| self.nats.ensure_bucket(Bucket::Tokens, self.replicas))
            .await
            .map_err(|e| unavailable("token store", e))
    }

    /// The access token in memory, if it is fresh and not `rejected`.
    fn fresh(&self, loc: &Location, rejected: Option<&SecretString>) -> Option<SecretString> {
        let state = loc.state();
        let current = state.current.as_ref()?;
        if rejected.is_some_and(|r| current.is(r))
            || !current.fresh(self.refresh_before, OffsetDateTime::now_utc())
        {
            return None;
        }
        Some(current.access_token.clone())
    }

    /// The token to use after a refresh (ours, another caller's or another replica's).
    /// `resuming`: an operator's retry of a paused location.
    async fn obtain(
        &self,
        loc: &Location,
        o: &OAuthCredential,
        rejected: Option<&SecretString>,
        resuming: bool,
    ) -> Result<SecretString, AuthError> {
        let _flight = loc.flight.lock().await;
        // A refresh that finished while we waited serves us too.
        if let Some(reason) = loc.paused_reason()
            && !resuming
        {
            return Err(AuthError::Paused(reason));
        }
        if let Some(token) = self.fresh(loc, rejected) {
            return Ok(token);
        }
        let span = tracing::info_span!(
            "ghl.token_refresh",
            otel.kind = "internal",
            service = self.service,
            location = %loc.id,
            reason = if rejected.is_some() { "rejected" } else { "expiring" },
            outcome = tracing::field::Empty,
        );
        let result = async {
            let store = self.store().await?;
            self.save_unsaved(store, loc).await?;
            let waited_since = tokio::time::Instant::now();
            loop {
                let stored = self.read(store, loc).await?;
                if let Some(token) = self.adopt(loc, o, &stored, rejected) {
                    tracing::Span::current().record("outcome", "stored");
                    return Ok(token);
                }
                if let Some(lock) = self.try_lock(store, loc).await? {
                    let result = self.refresh_locked(store, loc, o, rejected).await;
                    // Others may go on at once; a lock left behind expires anyway.
                    let _ = store
                        .delete_expect_revision(lock_key(&loc.id), Some(lock))
                        .await;
                    return result;
                }
                if waited_since.elapsed() > self.lock_ttl * 2 {
                    return Err(AuthError::Unavailable(
                        "another replica has been refreshing this location's token for too long"
                            .into(),
                    ));
                }
                let jitter = Duration::from_millis(fastrand::u64(0..50));
                tokio::time::sleep(LOCK_POLL + jitter).await;
            }
        }
        .instrument(span)
        .await;
        if result.is_ok() {
            loc.unpause();
        }
        result
    }

    /// Holding the refresh lock: uses the stored pair if it became usable meanwhile, else
    /// refreshes with the stored (or configured) refresh token and stores the new pair.
    async fn refresh_locked(
        &self,
        store: &kv::Store,
        loc: &Location,
        o: &OAuthCredential,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, AuthError> {
        let mut stored = self.read(store, loc).await?;
        if let Some(token) = self.adopt(loc, o, &stored, rejected) {
            tracing::Span::current().record("outcome", "stored");
            return Ok(token);
        }
        loop {
            let seed_stale = loc.state().seed_stale;
            let (refresh_token, seed, reseed) = match &stored {
                Stored::Present { record, .. }
                    if record.seed == o.seed_fingerprint || seed_stale =>
                {
                    (
                        SecretString::from(record.refresh_token.as_str()),
                        record.seed.clone(),
                        false,
                    )
                }
                _ => (o.seed.clone(), o.seed_fingerprint.clone(), true),
            };
            if reseed {
                tracing::info!(location = %loc.id, "seeding the token store from the configured refresh token");
            }
            match self
                .ghl
                .refresh_access_token(&o.client_id, &o.client_secret, &refresh_token)
                .await
            {
                Ok(resp) => {
                    let grant = resp.body;
                    let now = OffsetDateTime::now_utc();
                    let record = Record {
                        access_token: grant.access_token.expose_secret().to_owned(),
                        refresh_token: grant.refresh_token.expose_secret().to_owned(),
                        expires_at: now + Duration::from_secs(grant.expires_in),
                        seed,
                        refreshed_at: now,
                        refreshed_by: self.holder.clone(),
                    };
                    metrics::counter!(format!("relay_{}_token_refresh_total", self.service), "outcome" => "ok")
                        .increment(1);
                    tracing::Span::current().record("outcome", "refreshed");
                    tracing::info!(location = %loc.id, expires_in = grant.expires_in, reseed, "access token refreshed");
                    let token = SecretString::from(record.access_token.as_str());
                    {
                        let mut state = loc.state();
                        state.current = Some(record.current());
                        if reseed {
                            state.seed_stale = false;
                        }
                    }
                    self.write(store, loc, record, stored.revision()).await?;
                    return Ok(token);
                }
                Err(e) if is_refusal(&e) => {
                    // Another replica may have refreshed after taking over our lock as stale.
                    let again = self.read(store, loc).await?;
                    if let Some(token) = self.adopt(loc, o, &again, rejected) {
                        return Ok(token);
                    }
                    if reseed && matches!(again, Stored::Present { .. }) && !seed_stale {
                        // The configured refresh token is an older installation's (used up);
                        // the stored chain is newer: go on with it.
                        tracing::warn!(location = %loc.id, "the configured refresh token was refused; continuing with the stored installation");
                        loc.state().seed_stale = true;
                        stored = again;
                        continue;
                    }
                    metrics::counter!(format!("relay_{}_token_refresh_total", self.service), "outcome" => "refused")
                        .increment(1);
                    tracing::Span::current().record("outcome", "refused");
                    let mut reason = format!(
                        "OAuth token refresh refused: {e}; reinstall the app (a new oauth.refresh_token) or resume once fixed"
                    );
                    if matches!(stored, Stored::Unreadable { .. }) {
                        reason.push_str(
                            " (the stored tokens do not open with auth.encryption_key: was it changed?)",
                        );
                    }
                    loc.pause(&reason, self.service);
                    return Err(AuthError::Paused(reason));
                }
                Err(e) => {
                    metrics::counter!(format!("relay_{}_token_refresh_total", self.service), "outcome" => "error")
                        .increment(1);
                    tracing::Span::current().record("outcome", "error");
                    tracing::warn!(location = %loc.id, error.message = %e, "token refresh failed");
                    return Err(unavailable("GHL token endpoint", e));
                }
            }
        }
    }

    /// Takes a usable stored pair into memory: fresh, not `rejected`, and of the configured
    /// installation (or of the newer one, when ours is known to be stale).
    fn adopt(
        &self,
        loc: &Location,
        o: &OAuthCredential,
        stored: &Stored,
        rejected: Option<&SecretString>,
    ) -> Option<SecretString> {
        let Stored::Present { record, .. } = stored else {
            return None;
        };
        let current = record.current();
        let mut state = loc.state();
        let ours = record.seed == o.seed_fingerprint || state.seed_stale;
        if !ours
            || rejected.is_some_and(|r| current.is(r))
            || !current.fresh(self.refresh_before, OffsetDateTime::now_utc())
        {
            return None;
        }
        let token = current.access_token.clone();
        state.current = Some(current);
        Some(token)
    }

    /// While paused: takes a new pair another replica stored (a re-seed after a
    /// re-installation, or a refresh that worked there) and resumes.
    async fn adopt_newer(&self, loc: &Location, store: &kv::Store) {
        let Ok(Stored::Present { record, .. }) = self.read(store, loc).await else {
            return;
        };
        let current = record.current();
        let now = OffsetDateTime::now_utc();
        let mut state = loc.state();
        let same = state
            .current
            .as_ref()
            .is_some_and(|c| c.is(&current.access_token));
        if same || current.expires_at <= now {
            return;
        }
        if let Credential::OAuth(o) = &loc.credential
            && record.seed != o.seed_fingerprint
        {
            // A newer installation than our config knows: keep to its chain.
            state.seed_stale = true;
        }
        state.current = Some(current);
        drop(state);
        tracing::info!(location = %loc.id, "a new token pair was stored by another replica");
        loc.unpause();
    }

    async fn read(&self, store: &kv::Store, loc: &Location) -> Result<Stored, AuthError> {
        let entry = store
            .entry(loc.id.as_str())
            .await
            .map_err(|e| unavailable("token store", e))?;
        let Some(entry) = entry else {
            return Ok(Stored::Missing { revision: None });
        };
        if entry.operation != kv::Operation::Put {
            return Ok(Stored::Missing {
                revision: Some(entry.revision),
            });
        }
        Ok(match self.open(&loc.id, &entry.value) {
            Some(record) => Stored::Present {
                record,
                revision: entry.revision,
            },
            None => {
                tracing::warn!(location = %loc.id, "stored tokens do not open with auth.encryption_key; seeding again");
                Stored::Unreadable {
                    revision: entry.revision,
                }
            }
        })
    }

    /// Writes a new pair with a revision check. GHL already rotated the refresh token, so the
    /// pair must be kept whatever happens: a conflicting write (possible only after our lock
    /// was taken over as stale) is overwritten, and a write NATS does not take is kept in
    /// memory and retried first thing next time.
    async fn write(
        &self,
        store: &kv::Store,
        loc: &Location,
        record: Record,
        revision: Option<u64>,
    ) -> Result<(), AuthError> {
        let value = self.seal(&loc.id, &record)?;
        let key = loc.id.as_str();
        let conflict = match revision {
            Some(rev) => match store.update(key, value.clone().into(), rev).await {
                Ok(_) => return Ok(()),
                Err(e) => e.kind() == kv::UpdateErrorKind::WrongLastRevision,
            },
            None => match store.create(key, value.clone().into()).await {
                Ok(_) => return Ok(()),
                Err(e) => e.kind() == kv::CreateErrorKind::AlreadyExists,
            },
        };
        if conflict {
            tracing::warn!(location = %loc.id, "token entry changed while we refreshed (stale lock taken over?); keeping the pair GHL just issued");
        }
        let mut delay = Duration::from_millis(100);
        for _ in 0..4 {
            if store.put(key, value.clone().into()).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        tracing::error!(location = %loc.id, "cannot store the refreshed token pair; keeping it in memory until the store is back");
        loc.state().unsaved = Some(record);
        Ok(())
    }

    async fn save_unsaved(&self, store: &kv::Store, loc: &Location) -> Result<(), AuthError> {
        let Some(record) = loc.state().unsaved.take() else {
            return Ok(());
        };
        let value = self.seal(&loc.id, &record)?;
        match store.put(loc.id.as_str(), value.into()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                loc.state().unsaved = Some(record);
                Err(unavailable("token store", e))
            }
        }
    }

    /// Creates the refresh lock, or takes it over when its holder let it go stale. `None`:
    /// someone else holds it.
    async fn try_lock(&self, store: &kv::Store, loc: &Location) -> Result<Option<u64>, AuthError> {
        let key = lock_key(&loc.id);
        let now = OffsetDateTime::now_utc();
        let value = serde_json::to_vec(&LockValue {
            holder: self.holder.clone(),
            deadline_ms: unix_ms(now + self.lock_ttl),
        })
        .map_err(|e| unavailable("refresh lock", e))?;
        match store.create(&key, value.clone().into()).await {
            Ok(rev) => return Ok(Some(rev)),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(unavailable("refresh lock", e)),
        }
        let Some(entry) = store
            .entry(&key)
            .await
            .map_err(|e| unavailable("refresh lock", e))?
        else {
            return Ok(None);
        };
        let stale = entry.operation != kv::Operation::Put
            || serde_json::from_slice::<LockValue>(&entry.value)
                .map_or(true, |l| l.deadline_ms < unix_ms(now));
        if !stale {
            return Ok(None);
        }
        match store.update(&key, value.into(), entry.revision).await {
            Ok(rev) => {
                if entry.operation == kv::Operation::Put {
                    tracing::warn!(location = %loc.id, "took over a stale token refresh lock");
                }
                Ok(Some(rev))
            }
            Err(_) => Ok(None),
        }
    }

    fn seal(&self, location: &Token, record: &Record) -> Result<Vec<u8>, AuthError> {
        let cipher = self.cipher.as_ref().ok_or_else(|| {
            AuthError::Unavailable("auth.encryption_key is not configured".into())
        })?;
        let mut plain = serde_json::to_vec(record).map_err(|e| unavailable("token encoding", e))?;
        let nonce = XNonce::try_generate().map_err(|e| unavailable("random nonce", e));
        let sealed = nonce.and_then(|nonce| {
            cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: &plain,
                        aad: location.as_str().as_bytes(),
                    },
                )
                .map(|ct| {
                    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
                    out.extend_from_slice(nonce.as_slice());
                    out.extend_from_slice(&ct);
                    out
                })
                .map_err(|_| AuthError::Unavailable("token encryption failed".into()))
        });
        plain.zeroize();
        sealed
    }

    fn open(&self, location: &Token, value: &[u8]) -> Option<Record> {
        let cipher = self.cipher.as_ref()?;
        if value.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = value.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).ok()?;
        let mut plain = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: location.as_str().as_bytes(),
                },
            )
            .ok()?;
        let record = serde_json::from_slice(&plain).ok();
        plain.zeroize();
        record
    }
}
