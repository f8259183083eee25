//! Who is calling: the bearer token (a private integration token mapped to one location, or an
//! OAuth access token issued for one) and the `Version` header (README §2, §3).
//!
//! GHL's docs declare both headers required but not what a request without them gets. Live
//! probes by integrators report 401 `"version header was not found."` without `Version` and 401
//! `"version header is invalid"` for an unknown value; the sandbox answers the same. It accepts
//! only `2021-07-28`, the one value the Contacts spec allows (GHL also accepts its other
//! published versions), so a client that passes here sends what the spec asks for.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};

use time::OffsetDateTime;

use crate::config::RateLimitConfig;
use crate::error::Error;
use crate::oauth::AccessRefusal;
use crate::store::Store;

/// The `Version` values the sandbox accepts on Contacts routes.
pub const ACCEPTED_VERSIONS: &[&str] = &["2021-07-28"];

/// What kind of credential a request carried (recorded in the request log).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// No `Authorization: Bearer` header (or not a GHL API request).
    #[default]
    None,
    /// A bearer token the sandbox does not know.
    Invalid,
    /// A sub-account private integration token.
    PrivateIntegration,
    /// An OAuth access token (Location).
    OAuth,
    /// An OAuth access token of an agency (Company): reaches only the agency endpoints.
    Agency,
    /// An OAuth access token that has expired (or was forced to).
    Expired,
}

/// An authenticated caller: its token and the one location the token reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    /// What rate limits are keyed by with the location: the app (`app:<client id>`) for OAuth
    /// tokens, the token itself for private integration tokens.
    pub(crate) rate_key: String,
    /// The location the token belongs to; for an agency token, its company (GHL counts limits
    /// per app and location or company).
    pub(crate) location_id: String,
    /// The credential's kind.
    pub(crate) kind: TokenKind,
    /// The location's rate-limit override, if any.
    pub(crate) rate_limit: Option<RateLimitConfig>,
}

/// Checks the bearer token against the store. On failure returns the error and what kind of
/// credential was seen.
pub(crate) fn authenticate(
    store: &Store,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<Caller, (Error, TokenKind)> {
    let Some(token) = bearer(headers) else {
        return Err((Error::InvalidToken, TokenKind::None));
    };
    if let Some(location) = store.location_for_pit(token) {
        return Ok(Caller {
            rate_key: token.to_owned(),
            location_id: location.id().to_owned(),
            kind: TokenKind::PrivateIntegration,
            rate_limit: location.rate_limit().cloned(),
        });
    }
    match store.oauth.check(token, now) {
        Ok(grant) => match grant.location_id {
            None => Ok(Caller {
                rate_key: format!("app:{}", grant.client_id),
                location_id: grant.company_id,
                kind: TokenKind::Agency,
                rate_limit: None,
            }),
            Some(location_id) => match store.location(&location_id) {
                Some(location) => Ok(Caller {
                    rate_key: format!("app:{}", grant.client_id),
                    location_id,
                    kind: TokenKind::OAuth,
                    rate_limit: location.rate_limit().cloned(),
                }),
                None => Err((Error::InvalidToken, TokenKind::Invalid)),
            },
        },
        Err(AccessRefusal::Expired) => Err((Error::ExpiredToken, TokenKind::Expired)),
        Err(AccessRefusal::Unknown) => Err((Error::InvalidToken, TokenKind::Invalid)),
    }
}

/// The location a bearer token points at, valid or not (to match per-location faults before
/// authentication runs).
pub(crate) fn token_location<'a>(store: &'a Store, headers: &HeaderMap) -> Option<&'a str> {
    let token = bearer(headers)?;
    store
        .location_for_pit(token)
        .map(|l| l.id())
        .or_else(|| store.oauth.location_of(token))
}

/// Checks the `Version` header.
pub(crate) fn check_version(headers: &HeaderMap) -> Result<(), Error> {
    let Some(value) = headers.get("version") else {
        return Err(Error::MissingVersion);
    };
    match value.to_str() {
        Ok(v) if ACCEPTED_VERSIONS.contains(&v.trim()) => Ok(()),
        _ => Err(Error::InvalidVersion),
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::store::{DEMO_LOCATION_ID, DEMO_TOKEN};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_tokens_map_to_their_location() {
        let now = OffsetDateTime::now_utc();
        let store = Store::new(true, std::time::Duration::ZERO, now);
        let caller = authenticate(
            &store,
            &headers(&[("authorization", "bearer pit-relay-demo")]),
            now,
        )
        .unwrap();
        assert_eq!(caller.location_id, DEMO_LOCATION_ID);
        assert_eq!(caller.rate_key, DEMO_TOKEN);
        assert_eq!(caller.kind, TokenKind::PrivateIntegration);
        assert_eq!(
            token_location(
                &store,
                &headers(&[("authorization", "Bearer pit-relay-demo")])
            ),
            Some(DEMO_LOCATION_ID)
        );

        let err = |h: HeaderMap| authenticate(&store, &h, now).unwrap_err();
        assert_eq!(err(headers(&[])), (Error::InvalidToken, TokenKind::None));
        assert_eq!(
            err(headers(&[("authorization", "Basic abc")])),
            (Error::InvalidToken, TokenKind::None)
        );
        assert_eq!(
            err(headers(&[("authorization", "Bearer ")])),
            (Error::InvalidToken, TokenKind::None)
        );
        assert_eq!(
            err(headers(&[("authorization", "Bearer pit-nope")])),
            (Error::InvalidToken, TokenKind::Invalid)
        );
    }

    #[test]
    fn version_header_is_required_and_checked() {
        assert_eq!(
            check_version(&headers(&[("version", "2021-07-28")])),
            Ok(())
        );
        assert_eq!(check_version(&headers(&[])), Err(Error::MissingVersion));
        assert_eq!(
            check_version(&headers(&[("version", "2020-01-01")])),
            Err(Error::InvalidVersion)
        );
    }
}
