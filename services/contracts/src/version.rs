//! Versioned message envelopes: every message carries `"v": <n>`; readers accept the versions
//! they know and turn the rest into a [`DecodeError`] that the consumer dead-letters.

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed {what}: {source}")]
    Malformed {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what} has no \"v\" field")]
    MissingVersion { what: &'static str },
    #[error("{what} version {found} is not supported (this build reads {supported:?})")]
    UnsupportedVersion {
        what: &'static str,
        found: u64,
        supported: &'static [u64],
    },
}

#[derive(serde::Deserialize)]
struct Probe {
    v: Option<u64>,
}

/// Decodes `bytes` as `T` after checking that its `v` is one of `supported`.
pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    supported: &'static [u64],
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|source| DecodeError::Malformed { what, source })?;
    match probe.v {
        None => Err(DecodeError::MissingVersion { what }),
        Some(v) if !supported.contains(&v) => Err(DecodeError::UnsupportedVersion {
            what,
            found: v,
            supported,
        }),
        Some(_) => {
            serde_json::from_slice(bytes).map_err(|source| DecodeError::Malformed { what, source })
        }
    }
}

/// Serde helper: the `v` field of a V1 message, always written as `1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct V1;

impl serde::Serialize for V1 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(1)
    }
}

impl<'de> serde::Deserialize<'de> for V1 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        if v == 1 {
            Ok(V1)
        } else {
            Err(serde::de::Error::custom(format!("expected v=1, got {v}")))
        }
    }
}
