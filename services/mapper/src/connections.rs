//! The connections the mapper maps for: stored in the `relay-connections` KV bucket (written by
//! `relayctl connections apply` through [`crate::admin`]), compiled when they change, plus the
//! static routes of the mapper's own configuration as a fallback.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use relay_common::nats::Nats;
use relay_common::registry::{Decoder, Registry};
use relay_contracts::connection::{SecretReference, parse_connections};
use relay_contracts::mapper_admin::{
    ApplyConnectionsResponse, ChangeAction, Connection, ConnectionChange, ValidationError,
};
use relay_contracts::{Bucket, ConnectionSpec, Source, Token};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::rules::{self, CompiledConnection};

/// A stored connection: what the user wrote and its compiled rules.
pub struct Loaded {
    pub spec: ConnectionSpec,
    pub compiled: CompiledConnection,
}

/// The mapper's view of every connection.
pub struct Connections {
    fixed: BTreeMap<String, Arc<Loaded>>,
    registry: tokio::sync::OnceCell<Registry<Loaded>>,
}

fn decode(_key: &str, value: &[u8]) -> Result<Option<Loaded>, String> {
    let spec: ConnectionSpec =
        serde_json::from_slice(value).map_err(|e| format!("not a connection: {e}"))?;
    let compiled = rules::compile(&spec).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok(Some(Loaded { spec, compiled }))
}

/// A stored connection as YAML (what `get` shows and `apply` diffs). Literal secrets are
/// shown as `literal:***`: references (`env:`, `file:`) are safe to show, values are not.
fn to_yaml(spec: &ConnectionSpec) -> String {
    let mut shown = spec.clone();
    for secret in [&mut shown.secret, &mut shown.previous_secret] {
        if secret
            .as_ref()
            .is_some_and(|s| s.as_str().starts_with("literal:"))
        {
            *secret = SecretReference::parse("literal:***").ok();
        }
    }
    serde_saphyr::to_string(&shown).unwrap_or_else(|e| format!("# cannot render as YAML: {e}\n"))
}

impl Connections {
    /// Starts with the configuration's static connections; [`Connections::start`] adds the
    /// registry.
    pub fn new(fixed: Vec<(ConnectionSpec, CompiledConnection)>) -> Self {
        Self {
            fixed: fixed
                .into_iter()
                .map(|(spec, compiled)| (spec.key(), Arc::new(Loaded { spec, compiled })))
                .collect(),
            registry: tokio::sync::OnceCell::new(),
        }
    }

    /// Provisions the bucket (retrying until NATS is there) and loads the registry.
    pub async fn start(&self, nats: &Nats, replicas: usize, shutdown: CancellationToken) {
        let decoder: Decoder<Loaded> = Arc::new(decode);
        if let Some(registry) = Registry::start_until_ready(
            nats,
            Bucket::Connections,
            replicas,
            "connections",
            decoder,
            shutdown,
        )
        .await
        {
            let _ = self.registry.set(registry);
        }
    }

    /// Whether the registry is loaded (events wait until it is: a connection applied before
    /// a restart must not look unknown).
    pub fn is_loaded(&self) -> bool {
        self.registry.get().is_some()
    }

    pub fn get(&self, source: Source, name: &Token) -> Option<Arc<Loaded>> {
        self.get_key(&format!("{source}.{name}"))
    }

    /// By `<source>.<name>`.
    pub fn get_key(&self, key: &str) -> Option<Arc<Loaded>> {
        self.registry
            .get()
            .and_then(|r| r.get(key))
            .or_else(|| self.fixed.get(key).cloned())
    }

    fn store(&self) -> Result<&kv::Store, Status> {
        self.registry
            .get()
            .and_then(Registry::store)
            .ok_or_else(|| Status::unavailable("the connections registry is not loaded yet"))
    }

    /// Every connection (stored ones over static ones), by key.
    pub fn list(&self) -> Vec<Connection> {
        let mut all: BTreeMap<String, Connection> = self
            .fixed
            .iter()
            .map(|(k, l)| (k.clone(), view(l, 0)))
            .collect();
        if let Some(r) = self.registry.get() {
            for (k, e) in r.snapshot().iter() {
                all.insert(k.clone(), view(&e.value, e.revision));
            }
        }
        all.into_values().collect()
    }

    pub fn connection(&self, key: &str) -> Result<Connection, Status> {
        if let Some(r) = self.registry.get()
            && let Some(e) = r.snapshot().get(key)
        {
            return Ok(view(&e.value, e.revision));
        }
        self.fixed
            .get(key)
            .map(|l| view(l, 0))
            .ok_or_else(|| Status::not_found(format!("no connection {key}")))
    }

    /// Validates `yaml` as a whole; unless `dry_run` or invalid, stores every connection that
    /// changed (each with the revision it was diffed against, so a concurrent apply is caught).
    pub async fn apply(
        &self,
        file: &str,
        yaml: &str,
        dry_run: bool,
    ) -> Result<ApplyConnectionsResponse, Status> {
        if let Err(errors) = rules::compile_file(yaml, file) {
            return Ok(ApplyConnectionsResponse {
                errors: errors
                    .into_iter()
                    .map(|e| ValidationError {
                        file: e.file,
                        line: u32::try_from(e.line).unwrap_or(u32::MAX),
                        column: u32::try_from(e.column).unwrap_or(u32::MAX),
                        message: e.message,
                    })
                    .collect(),
                ..Default::default()
            });
        }
        let doc = parse_connections(yaml, file)
            .map_err(|_| Status::internal("the file validated but does not parse again"))?;
        let store = self.store()?;
        let mut planned = Vec::new();
        for spec in doc.connections {
            let key = spec.key();
            let stored = store
                .entry(key.clone())
                .await
                .map_err(|e| Status::unavailable(format!("reading {key}: {e}")))?
                .filter(|e| matches!(e.operation, kv::Operation::Put));
            let new_json =
                serde_json::to_vec(&spec).map_err(|e| Status::internal(e.to_string()))?;
            let old_spec = stored
                .as_ref()
                .and_then(|e| serde_json::from_slice::<ConnectionSpec>(&e.value).ok());
            let (action, diff) = match &old_spec {
                None => (ChangeAction::Create, String::new()),
                Some(old) if *old == spec => (ChangeAction::Unchanged, String::new()),
                Some(old) => (
                    ChangeAction::Update,
                    similar::TextDiff::from_lines(to_yaml(old).as_str(), to_yaml(&spec).as_str())
                        .unified_diff()
                        .context_radius(3)
                        .header(&format!("{key} (stored)"), &format!("{key} (new)"))
                        .to_string(),
                ),
            };
            planned.push((key, action, diff, stored.map(|e| e.revision), new_json));
        }
        let mut changes = Vec::with_capacity(planned.len());
        let mut written = Vec::new();
        for (key, action, diff, revision, json) in planned {
            if !dry_run && action != ChangeAction::Unchanged {
                let stored = match revision {
                    Some(r) => store
                        .update(&key, json.into(), r)
                        .await
                        .map_err(|e| e.to_string()),
                    None => store
                        .create(&key, json.into())
                        .await
                        .map_err(|e| e.to_string()),
                };
                let revision = stored.map_err(|e| {
                    Status::aborted(format!(
                        "{key} changed while applying ({e}); already applied: {}. Apply again.",
                        if written.is_empty() {
                            "none".to_owned()
                        } else {
                            written.join(", ")
                        }
                    ))
                })?;
                tracing::info!(key, revision, action = ?action, "connection stored");
                written.push(key.clone());
                // This mapper answers once it maps with the new rules itself.
                if let Some(r) = self.registry.get()
                    && !r.wait_for(&key, revision, Duration::from_secs(5)).await
                {
                    tracing::warn!(
                        key,
                        revision,
                        "the registry has not caught up with the write yet"
                    );
                }
            }
            changes.push(ConnectionChange {
                key,
                action: action.into(),
                diff,
            });
        }
        Ok(ApplyConnectionsResponse {
            errors: Vec::new(),
            changes,
            applied: !dry_run,
        })
    }

    pub async fn delete(&self, key: &str) -> Result<bool, Status> {
        let store = self.store()?;
        let exists = store
            .entry(key.to_owned())
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?
            .is_some_and(|e| matches!(e.operation, kv::Operation::Put));
        if !exists {
            return Err(if self.fixed.contains_key(key) {
                Status::failed_precondition(format!(
                    "{key} comes from the mapper's configuration file; remove it there"
                ))
            } else {
                Status::not_found(format!("no connection {key}"))
            });
        }
        store
            .delete(key)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        tracing::info!(key, "connection deleted");
        if let Some(r) = self.registry.get() {
            r.wait_gone(key, Duration::from_secs(5)).await;
        }
        Ok(true)
    }
}

fn view(l: &Loaded, revision: u64) -> Connection {
    let s = &l.spec;
    Connection {
        key: s.key(),
        source: s.source.to_string(),
        name: s.name.to_string(),
        location_id: s.location_id.to_string(),
        enabled: s.enabled,
        rules: u32::try_from(l.compiled.own_rule_count()).unwrap_or(u32::MAX),
        playbook: match s.playbook {
            relay_contracts::connection::Playbook::Default => "default".into(),
            relay_contracts::connection::Playbook::Disabled => "none".into(),
        },
        yaml: to_yaml(s),
        revision,
    }
}
