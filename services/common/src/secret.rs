//! Secrets are referenced, never written into config: `env:NAME`, `file:/path`, or
//! (for local development only) `literal:value`.

use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Where a secret comes from. Deserializes from `"env:NAME"`, `"file:/path"` or `"literal:..."`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
    Literal(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret file {0} is empty")]
    FileEmpty(PathBuf),
    #[error("secret reference {0:?} must start with env:, file: or literal:")]
    Syntax(String),
}

impl TryFrom<String> for SecretRef {
    type Error = SecretError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if let Some(name) = s.strip_prefix("env:") {
            Ok(SecretRef::Env(name.to_owned()))
        } else if let Some(path) = s.strip_prefix("file:") {
            Ok(SecretRef::File(PathBuf::from(path)))
        } else if let Some(v) = s.strip_prefix("literal:") {
            Ok(SecretRef::Literal(v.to_owned()))
        } else {
            // Do not echo the value: it may be a pasted secret.
            Err(SecretError::Syntax(format!(
                "{}…",
                s.chars().take(4).collect::<String>()
            )))
        }
    }
}

impl From<SecretRef> for String {
    fn from(s: SecretRef) -> Self {
        match s {
            SecretRef::Env(n) => format!("env:{n}"),
            SecretRef::File(p) => format!("file:{}", p.display()),
            SecretRef::Literal(_) => "literal:<redacted>".to_owned(),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "env:{n}"),
            SecretRef::File(p) => write!(f, "file:{}", p.display()),
            SecretRef::Literal(_) => f.write_str("literal:<redacted>"),
        }
    }
}

impl SecretRef {
    /// Resolves the secret now. `env` is the process environment, injected so that libraries do
    /// not read it themselves and tests can pass their own.
    pub fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SecretString, SecretError> {
        let value = match self {
            SecretRef::Env(name) => {
                let v = env(name).ok_or_else(|| SecretError::EnvMissing(name.clone()))?;
                if v.is_empty() {
                    return Err(SecretError::EnvEmpty(name.clone()));
                }
                v
            }
            SecretRef::File(path) => {
                let v = std::fs::read_to_string(path).map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?;
                let v = v.trim_end_matches(['\n', '\r']).to_owned();
                if v.is_empty() {
                    return Err(SecretError::FileEmpty(path.clone()));
                }
                v
            }
            SecretRef::Literal(v) => v.clone(),
        };
        Ok(SecretString::from(value))
    }
}

/// Compares a presented secret with the expected one in constant time.
pub fn constant_time_eq(presented: &[u8], expected: &SecretString) -> bool {
    use subtle::ConstantTimeEq;
    let expected = expected.expose_secret().as_bytes();
    presented.len() == expected.len() && bool::from(presented.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves() {
        let env = |k: &str| (k == "X").then(|| "s3cret".to_owned());
        let r = SecretRef::try_from("env:X".to_owned()).unwrap();
        assert_eq!(r.resolve(&env).unwrap().expose_secret(), "s3cret");
        let missing = SecretRef::try_from("env:Y".to_owned())
            .unwrap()
            .resolve(&env)
            .unwrap_err();
        assert!(missing.to_string().contains('Y'));
        assert!(SecretRef::try_from("hunter2".to_owned()).is_err());
        assert_eq!(
            format!("{:?}", SecretRef::Literal("x".into())),
            "literal:<redacted>"
        );
    }

    #[test]
    fn constant_time_comparison() {
        let s = SecretString::from("abc".to_owned());
        assert!(constant_time_eq(b"abc", &s));
        assert!(!constant_time_eq(b"abd", &s));
        assert!(!constant_time_eq(b"ab", &s));
    }
}
