//! Typed identifiers and subject tokens, parsed at the boundary.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One subject token: non-empty, at most 128 bytes, ASCII letters, digits, `-` and `_` only,
/// so that it can never split a subject (`.`), act as a wildcard (`*`, `>`) or smuggle whitespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 128 characters")]
    TooLong,
    #[error("may contain only ASCII letters, digits, '-' and '_' (found {0:?})")]
    Invalid(char),
}

impl Token {
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        if s.is_empty() {
            return Err(TokenError::Empty);
        }
        if s.len() > 128 {
            return Err(TokenError::TooLong);
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(TokenError::Invalid(c));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Token {
    type Error = TokenError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Token> for String {
    fn from(t: Token) -> Self {
        t.0
    }
}

impl AsRef<str> for Token {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Token {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Deterministic id from a prefix and the parts that identify a thing: the same inputs always
/// give the same id, so a redelivered or replayed message produces the same downstream ids and
/// JetStream's `Nats-Msg-Id` dedupe catches the repeat.
fn derive(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    format!("{prefix}_{}", hex::encode(&digest[..16]))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id (`<prefix>_<ulid>`).
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, ulid::Ulid::new().to_string().to_lowercase()))
            }

            /// The id derived from the parts that identify the thing (see `derive`).
            pub fn derive(parts: &[&str]) -> Self {
                Self(derive($prefix, parts))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A normalised storefront event, derived from (source, connection, idempotency key).
    EventId,
    "evt"
);
id_type!(
    /// A contact plan, derived from (event id, rule position).
    PlanId,
    "plan"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_reject_subject_syntax() {
        for bad in ["", "a.b", "*", ">", "a b", "a\tb", "ünï"] {
            assert!(Token::parse(bad).is_err(), "{bad:?} must be rejected");
        }
        assert_eq!(Token::parse("demo-1_x").unwrap().as_str(), "demo-1_x");
    }

    #[test]
    fn derived_ids_are_stable_and_separate_parts() {
        assert_eq!(
            EventId::derive(&["bmc", "demo", "1"]),
            EventId::derive(&["bmc", "demo", "1"])
        );
        assert_ne!(EventId::derive(&["ab", "c"]), EventId::derive(&["a", "bc"]));
        assert!(PlanId::derive(&["x"]).as_str().starts_with("plan_"));
    }

    proptest! {
        #[test]
        fn parsed_tokens_never_contain_subject_syntax(s in "\\PC{0,40}") {
            if let Ok(t) = Token::parse(&s) {
                prop_assert!(!t.as_str().contains(['.', '*', '>', ' ', '\t', '\n', '\r']));
                prop_assert!(!t.as_str().is_empty());
            }
        }
    }
}
