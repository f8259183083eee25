//! OAuth 2.0 as GHL runs it for Marketplace apps (README §3.3): apps with a client id and
//! secret, authorization codes (created through the control API, standing in for the consent
//! page), `POST /oauth/token` with `authorization_code` and `refresh_token` grants, access
//! tokens that expire (`expires_in` 86399 by default) and refresh tokens that rotate: each use
//! returns a new refresh token and the old one stops working.
//!
//! Unknown client or wrong secret is 401; a bad, used or expired code or refresh token is 400
//! with a string message (GHL reports refresh failures as 400s with free text, finding F.32).
//! An expired access token answers 401 `{"statusCode":401,"message":"Invalid JWT"}`, the body
//! GHL sends for a token it no longer accepts (highlevel-api-docs issue #213).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::OAuthConfig;
use crate::error::{Error, Result};
use crate::ids;
#[cfg(test)]
use crate::store::DEMO_COMPANY_ID;

/// The demo app's client id (seeded with the demo location).
pub const DEMO_CLIENT_ID: &str = "relay-demo-client";
/// The demo app's client secret.
pub const DEMO_CLIENT_SECRET: &str = "relay-demo-client-secret";

/// The scopes an app gets unless told otherwise.
const DEFAULT_SCOPES: &str = "contacts.readonly contacts.write locations.readonly \
     locations/customFields.readonly locations/customFields.write locations/tags.readonly \
     locations/tags.write businesses.readonly businesses.write campaigns.readonly \
     workflows.readonly users.readonly";

/// An app to register (`POST /_sandbox/oauth/apps`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewOAuthApp {
    /// Client id (default: random).
    pub client_id: Option<String>,
    /// Client secret (default: random).
    pub client_secret: Option<String>,
    /// Space-separated scopes granted to its tokens.
    pub scope: Option<String>,
}

/// A registered app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthAppView {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Scopes granted.
    pub scope: String,
}

/// An authorization code to issue (`POST /_sandbox/oauth/codes`), as if a user had approved the
/// app for a location on the consent page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewAuthCode {
    /// The app.
    pub client_id: String,
    /// The approved location.
    pub location_id: String,
    /// The approving user (default: a fixed demo user id).
    pub user_id: Option<String>,
}

/// An issued authorization code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCodeView {
    /// The code to exchange at `POST /oauth/token`.
    pub code: String,
    /// The app.
    pub client_id: String,
    /// The location.
    pub location_id: String,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An access token as the control API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenView {
    /// The bearer token.
    pub access_token: String,
    /// The app it was issued to.
    pub client_id: String,
    /// The location it reaches.
    pub location_id: String,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Whether it is expired now (by time or forced).
    pub expired: bool,
}

/// A `POST /oauth/token` form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokenRequest {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) grant_type: String,
    pub(crate) code: Option<String>,
    pub(crate) refresh_token: Option<String>,
    pub(crate) user_type: Option<String>,
}

impl TokenRequest {
    /// Reads the form (`application/x-www-form-urlencoded`; JSON is accepted too), 422 for
    /// missing required fields and unknown properties.
    pub(crate) fn parse(pairs: Vec<(String, String)>) -> Result<Self> {
        let mut req = Self::default();
        let mut errors = Vec::new();
        let (mut id, mut secret, mut grant) = (false, false, false);
        for (k, v) in pairs {
            match k.as_str() {
                "client_id" => (req.client_id, id) = (v, true),
                "client_secret" => (req.client_secret, secret) = (v, true),
                "grant_type" => (req.grant_type, grant) = (v, true),
                "code" => req.code = Some(v),
                "refresh_token" => req.refresh_token = Some(v),
                "user_type" => req.user_type = Some(v),
                "redirect_uri" => {}
                _ => errors.push(format!("property {k} should not exist")),
            }
        }
        for (seen, key) in [
            (id, "client_id"),
            (secret, "client_secret"),
            (grant, "grant_type"),
        ] {
            if !seen {
                errors.push(format!("{key} should not be empty"));
            }
        }
        if grant
            && !["authorization_code", "refresh_token", "client_credentials"]
                .contains(&req.grant_type.as_str())
        {
            errors.push(
                "grant_type must be one of the following values: authorization_code, refresh_token, client_credentials"
                    .into(),
            );
        }
        if let Some(t) = &req.user_type
            && !["Company", "Location"].contains(&t.as_str())
        {
            errors.push("user_type must be one of the following values: Company, Location".into());
        }
        if errors.is_empty() {
            Ok(req)
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// What a successful `POST /oauth/token` returns (`GetAccessCodeSuccessfulResponseDto`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenGrant {
    /// The bearer token.
    #[serde(rename = "access_token")]
    pub access_token: String,
    /// `Bearer`.
    #[serde(rename = "token_type")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[serde(rename = "expires_in")]
    pub expires_in: u64,
    /// The refresh token (single use).
    #[serde(rename = "refresh_token")]
    pub refresh_token: String,
    /// Space-separated scopes.
    pub scope: String,
    /// `Location`.
    pub user_type: String,
    /// The location the token reaches.
    pub location_id: String,
    /// The location's company.
    pub company_id: String,
    /// The approving user.
    pub user_id: String,
    /// Always false.
    pub is_bulk_installation: bool,
}

#[derive(Clone, Debug)]
struct App {
    secret: String,
    scope: String,
}

#[derive(Clone, Debug)]
struct Code {
    client_id: String,
    location_id: String,
    user_id: String,
    expires_at: OffsetDateTime,
}

#[derive(Clone, Debug)]
struct Access {
    client_id: String,
    location_id: String,
    expires_at: OffsetDateTime,
    forced_expired: bool,
}

#[derive(Clone, Debug)]
struct Refresh {
    client_id: String,
    location_id: String,
    user_id: String,
    expires_at: OffsetDateTime,
}

/// A valid access token's grant: who may call, for which location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AccessGrant {
    pub(crate) client_id: String,
    pub(crate) location_id: String,
}

/// Why an access token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccessRefusal {
    /// Not an access token the sandbox issued.
    Unknown,
    /// Issued, but expired (by time or forced).
    Expired,
}

/// Apps, codes and tokens.
#[derive(Debug, Default)]
pub(crate) struct OAuth {
    apps: HashMap<String, App>,
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
}

impl OAuth {
    /// Registers the demo app.
    pub(crate) fn seed_demo(&mut self) {
        let _ = self.add_app(NewOAuthApp {
            client_id: Some(DEMO_CLIENT_ID.into()),
            client_secret: Some(DEMO_CLIENT_SECRET.into()),
            scope: None,
        });
    }

    /// Whether `token` is an access token the sandbox issued.
    pub(crate) fn knows_token(&self, token: &str) -> bool {
        self.access.contains_key(token)
    }

    /// Registers an app.
    pub(crate) fn add_app(&mut self, new: NewOAuthApp) -> Result<OAuthAppView> {
        let client_id = new
            .client_id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{}-{}", ids::random_id(), ids::random_id()));
        if self.apps.contains_key(&client_id) {
            return Err(Error::Control(format!("app {client_id} already exists")));
        }
        let app = App {
            secret: new
                .client_secret
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| ids::secret("")),
            scope: new.scope.unwrap_or_else(|| DEFAULT_SCOPES.into()),
        };
        let view = OAuthAppView {
            client_id: client_id.clone(),
            client_secret: app.secret.clone(),
            scope: app.scope.clone(),
        };
        self.apps.insert(client_id, app);
        Ok(view)
    }

    /// Issues an authorization code for an app and a location that exists.
    pub(crate) fn issue_code(
        &mut self,
        new: NewAuthCode,
        location_exists: bool,
        now: OffsetDateTime,
        cfg: &OAuthConfig,
    ) -> Result<AuthCodeView> {
        if !self.apps.contains_key(&new.client_id) {
            return Err(Error::Control(format!("unknown app {:?}", new.client_id)));
        }
        if !location_exists {
            return Err(Error::Control(format!(
                "unknown location {:?}",
                new.location_id
            )));
        }
        let code = ids::secret("code-");
        let expires_at = now + cfg.code_ttl;
        self.codes.insert(
            code.clone(),
            Code {
                client_id: new.client_id.clone(),
                location_id: new.location_id.clone(),
                user_id: new
                    .user_id
                    .unwrap_or_else(|| ids::derived_id(&[&new.location_id, "user", "Demo Owner"])),
                expires_at,
            },
        );
        Ok(AuthCodeView {
            code,
            client_id: new.client_id,
            location_id: new.location_id,
            expires_at,
        })
    }

    /// `POST /oauth/token`.
    pub(crate) fn token(
        &mut self,
        req: TokenRequest,
        company_of: impl Fn(&str) -> Option<String>,
        now: OffsetDateTime,
        cfg: &OAuthConfig,
    ) -> Result<TokenGrant> {
        let app = self
            .apps
            .get(&req.client_id)
            .filter(|a| a.secret == req.client_secret)
            .cloned()
            .ok_or(Error::InvalidClient)?;
        if req.user_type.as_deref() == Some("Company") {
            return Err(Error::BadRequest(
                "The sandbox issues Location tokens only (user_type=Location)".into(),
            ));
        }
        let (location_id, user_id) = match req.grant_type.as_str() {
            "authorization_code" => {
                let code = req.code.as_deref().unwrap_or_default();
                // A code works once, whatever the outcome.
                let grant = self
                    .codes
                    .remove(code)
                    .filter(|c| c.client_id == req.client_id && c.expires_at > now)
                    .ok_or_else(|| {
                        Error::BadRequest("Invalid grant: authorization code is invalid".into())
                    })?;
                (grant.location_id, grant.user_id)
            }
            "refresh_token" => {
                let token = req.refresh_token.as_deref().unwrap_or_default();
                let grant = self
                    .refresh
                    .get(token)
                    .filter(|r| r.client_id == req.client_id && r.expires_at > now)
                    .cloned()
                    .ok_or_else(|| {
                        Error::BadRequest("Invalid grant: refresh token is invalid".into())
                    })?;
                // Rotation: the used refresh token is gone.
                self.refresh.remove(token);
                (grant.location_id, grant.user_id)
            }
            _ => {
                return Err(Error::BadRequest(
                    "The sandbox does not support grant_type client_credentials".into(),
                ));
            }
        };
        let company_id = company_of(&location_id)
            .ok_or_else(|| Error::BadRequest("Location is not active".into()))?;
        let access_token = ids::secret("at-");
        let refresh_token = ids::secret("rt-");
        self.access.insert(
            access_token.clone(),
            Access {
                client_id: req.client_id.clone(),
                location_id: location_id.clone(),
                expires_at: now + cfg.access_token_ttl,
                forced_expired: false,
            },
        );
        self.refresh.insert(
            refresh_token.clone(),
            Refresh {
                client_id: req.client_id,
                location_id: location_id.clone(),
                user_id: user_id.clone(),
                expires_at: now + cfg.refresh_token_ttl,
            },
        );
        Ok(TokenGrant {
            access_token,
            token_type: "Bearer".into(),
            expires_in: cfg.access_token_ttl.as_secs(),
            refresh_token,
            scope: app.scope,
            user_type: "Location".into(),
            location_id,
            company_id,
            user_id,
            is_bulk_installation: false,
        })
    }

    /// Checks an access token.
    pub(crate) fn check(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<AccessGrant, AccessRefusal> {
        let a = self.access.get(token).ok_or(AccessRefusal::Unknown)?;
        if a.forced_expired || a.expires_at <= now {
            return Err(AccessRefusal::Expired);
        }
        Ok(AccessGrant {
            client_id: a.client_id.clone(),
            location_id: a.location_id.clone(),
        })
    }

    /// The location an access token was issued for, expired or not.
    pub(crate) fn location_of(&self, token: &str) -> Option<&str> {
        self.access.get(token).map(|a| a.location_id.as_str())
    }

    /// Forces expiry of the access tokens matching `token` and/or `location_id` (all when
    /// both are `None`); returns how many were still valid.
    pub(crate) fn expire(
        &mut self,
        token: Option<&str>,
        location_id: Option<&str>,
        now: OffsetDateTime,
    ) -> usize {
        let mut n = 0;
        for (t, a) in &mut self.access {
            if token.is_none_or(|x| x == t)
                && location_id.is_none_or(|l| l == a.location_id)
                && !a.forced_expired
                && a.expires_at > now
            {
                a.forced_expired = true;
                n += 1;
            }
        }
        n
    }

    /// Every access token.
    pub(crate) fn tokens(&self, now: OffsetDateTime) -> Vec<AccessTokenView> {
        let mut v: Vec<AccessTokenView> = self
            .access
            .iter()
            .map(|(t, a)| AccessTokenView {
                access_token: t.clone(),
                client_id: a.client_id.clone(),
                location_id: a.location_id.clone(),
                expires_at: a.expires_at,
                expired: a.forced_expired || a.expires_at <= now,
            })
            .collect();
        v.sort_by(|a, b| {
            a.expires_at
                .cmp(&b.expires_at)
                .then_with(|| a.access_token.cmp(&b.access_token))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn form(pairs: &[(&str, &str)]) -> TokenRequest {
        TokenRequest::parse(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .unwrap()
    }

    fn company(_: &str) -> Option<String> {
        Some(DEMO_COMPANY_ID.to_owned())
    }

    #[test]
    fn codes_exchange_once_and_refresh_tokens_rotate() {
        let cfg = OAuthConfig::default();
        let mut o = OAuth::default();
        o.seed_demo();
        let t0 = OffsetDateTime::now_utc();
        let code = o
            .issue_code(
                NewAuthCode {
                    client_id: DEMO_CLIENT_ID.into(),
                    location_id: "loc".into(),
                    user_id: None,
                },
                true,
                t0,
                &cfg,
            )
            .unwrap()
            .code;
        let exchange = [
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        let g = o.token(form(&exchange), company, t0, &cfg).unwrap();
        assert_eq!((g.expires_in, g.user_type.as_str()), (86_399, "Location"));
        assert!(
            o.token(form(&exchange), company, t0, &cfg).is_err(),
            "codes are single use"
        );
        assert_eq!(o.check(&g.access_token, t0).unwrap().location_id, "loc");

        let refresh = |rt: &str| {
            form(&[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
            ])
        };
        let g2 = o
            .token(refresh(&g.refresh_token), company, t0, &cfg)
            .unwrap();
        assert_ne!(g2.refresh_token, g.refresh_token);
        assert_eq!(
            o.token(refresh(&g.refresh_token), company, t0, &cfg)
                .unwrap_err(),
            Error::BadRequest("Invalid grant: refresh token is invalid".into())
        );
        let later = t0 + Duration::from_secs(86_399);
        assert_eq!(
            o.check(&g2.access_token, later),
            Err(AccessRefusal::Expired)
        );
        assert!(
            o.token(refresh(&g2.refresh_token), company, later, &cfg)
                .is_ok()
        );

        let bad_secret = form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", "nope"),
            ("grant_type", "refresh_token"),
        ]);
        assert_eq!(
            o.token(bad_secret, company, t0, &cfg).unwrap_err(),
            Error::InvalidClient
        );
    }

    #[test]
    fn forced_expiry_and_form_validation() {
        let cfg = OAuthConfig::default();
        let mut o = OAuth::default();
        o.seed_demo();
        let t0 = OffsetDateTime::now_utc();
        let code = o
            .issue_code(
                NewAuthCode {
                    client_id: DEMO_CLIENT_ID.into(),
                    location_id: "loc".into(),
                    user_id: None,
                },
                true,
                t0,
                &cfg,
            )
            .unwrap()
            .code;
        let g = o
            .token(
                form(&[
                    ("client_id", DEMO_CLIENT_ID),
                    ("client_secret", DEMO_CLIENT_SECRET),
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                ]),
                company,
                t0,
                &cfg,
            )
            .unwrap();
        assert_eq!(o.expire(None, Some("other"), t0), 0);
        assert_eq!(o.expire(Some(&g.access_token), None, t0), 1);
        assert_eq!(o.check(&g.access_token, t0), Err(AccessRefusal::Expired));
        assert_eq!(o.check("nope", t0), Err(AccessRefusal::Unknown));
        assert!(o.tokens(t0)[0].expired);

        let e = TokenRequest::parse(vec![
            ("grant_type".into(), "password".into()),
            ("x".into(), "1".into()),
        ])
        .unwrap_err();
        let Error::Validation(m) = e else { panic!() };
        assert_eq!(m.len(), 4, "{m:?}");
    }
}
