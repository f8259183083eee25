//! Contact ids by what plans know about a customer (email, phone, external id), cached in the
//! `relay-contact-ids` KV bucket. The cache lets later plans skip a lookup request, and it
//! covers GHL's search index lag: a contact Relay created a second ago is found here even when
//! search does not return it yet.

use async_nats::jetstream::kv;
use relay_common::nats::Nats;
use relay_contracts::plan::{ContactSpec, Lookup};
use relay_contracts::{Bucket, Token};
use sha2::Digest as _;
use tokio::sync::OnceCell;

/// What identifies a contact in a plan, normalised for cache keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    Id(String),
    Email(String),
    Phone(String),
    External { field_key: String, value: String },
}

impl Identity {
    /// The identities a plan's contact can be found by, most specific first.
    pub(crate) fn of(spec: &ContactSpec) -> Vec<Identity> {
        match &spec.lookup {
            Lookup::Id(id) => vec![Identity::Id(id.clone())],
            Lookup::ExternalId { field_key, value } => vec![Identity::External {
                field_key: field_key.clone(),
                value: value.clone(),
            }],
            Lookup::EmailOrPhone => {
                let mut ids = Vec::with_capacity(2);
                if let Some(e) = spec
                    .fields
                    .email
                    .as_deref()
                    .filter(|e| !e.trim().is_empty())
                {
                    ids.push(Identity::Email(e.trim().to_lowercase()));
                }
                if let Some(p) = spec
                    .fields
                    .phone
                    .as_deref()
                    .filter(|p| !p.trim().is_empty())
                {
                    ids.push(Identity::Phone(normalise_phone(p)));
                }
                ids
            }
        }
    }

    fn cache_key(&self, location: &Token) -> Option<String> {
        let (kind, value) = match self {
            Identity::Id(_) => return None,
            Identity::Email(e) => ("email", e.clone()),
            Identity::Phone(p) => ("phone", p.clone()),
            Identity::External { field_key, value } => ("ext", format!("{field_key}\u{0}{value}")),
        };
        Some(format!(
            "{location}.{kind}.{}",
            hex::encode(sha2::Sha256::digest(value.as_bytes()))
        ))
    }
}

/// Digits and a leading `+`: `+1 (555) 010-0000` and `+15550100000` are one customer.
fn normalise_phone(p: &str) -> String {
    let p = p.trim();
    let mut out = String::with_capacity(p.len());
    if p.starts_with('+') {
        out.push('+');
    }
    out.extend(p.chars().filter(char::is_ascii_digit));
    out
}

pub(crate) struct ContactIds {
    nats: Nats,
    replicas: usize,
    kv: OnceCell<kv::Store>,
}

impl ContactIds {
    pub(crate) fn new(nats: Nats, replicas: usize) -> Self {
        Self {
            nats,
            replicas,
            kv: OnceCell::new(),
        }
    }

    async fn kv(&self) -> Result<&kv::Store, String> {
        self.kv
            .get_or_try_init(|| self.nats.ensure_bucket(Bucket::ContactIds, self.replicas))
            .await
            .map_err(|e| format!("contact id cache: {e}"))
    }

    /// The cached contact id for any of `ids`. A cache that cannot be read is a miss (GHL is
    /// asked instead), never an error.
    pub(crate) async fn get(&self, location: &Token, ids: &[Identity]) -> Option<String> {
        for id in ids {
            if let Identity::Id(v) = id {
                return Some(v.clone());
            }
        }
        let kv = self.kv().await.ok()?;
        for id in ids {
            let Some(key) = id.cache_key(location) else {
                continue;
            };
            match kv.get(&key).await {
                Ok(Some(v)) => return String::from_utf8(v.to_vec()).ok(),
                Ok(None) => {}
                Err(e) => tracing::debug!(error.message = %e, "contact id cache read failed"),
            }
        }
        None
    }

    /// Remembers `contact_id` for each identity (best effort).
    pub(crate) async fn put(&self, location: &Token, ids: &[Identity], contact_id: &str) {
        let Ok(kv) = self.kv().await else { return };
        for id in ids {
            if let Some(key) = id.cache_key(location)
                && let Err(e) = kv.put(&key, contact_id.to_owned().into()).await
            {
                tracing::debug!(error.message = %e, "contact id cache write failed");
            }
        }
    }

    /// Forgets the identities (the contact was deleted, or the cached id is gone at GHL).
    pub(crate) async fn forget(&self, location: &Token, ids: &[Identity]) {
        let Ok(kv) = self.kv().await else { return };
        for id in ids {
            if let Some(key) = id.cache_key(location) {
                let _ = kv.delete(&key).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use relay_contracts::plan::ContactFields;

    use super::*;

    #[test]
    fn identities_are_normalised() {
        let spec = ContactSpec {
            lookup: Lookup::EmailOrPhone,
            fields: ContactFields {
                email: Some(" Buyer@Example.COM ".into()),
                phone: Some("+1 (555) 010-0000".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            Identity::of(&spec),
            vec![
                Identity::Email("buyer@example.com".into()),
                Identity::Phone("+15550100000".into())
            ]
        );
        let loc = Token::parse("loc").unwrap();
        let a = Identity::Email("buyer@example.com".into()).cache_key(&loc);
        assert!(a.unwrap().starts_with("loc.email."));
        assert_eq!(Identity::Id("x".into()).cache_key(&loc), None);
    }
}
