//! OAuth 2.0 as GHL runs it for Marketplace apps (README §3.3): apps with a client id and
//! secret, installs (made through the control API, standing in for the consent page) that
//! issue authorization codes, `POST /oauth/token` with `authorization_code` and
//! `refresh_token` grants, access tokens that expire (`expires_in` 86399 by default) and
//! refresh tokens that rotate: each use returns a new refresh token and the old one stops
//! working.
//!
//! An install is for one location (a `Location` token) or for an agency (a `Company` token,
//! with every location of the company approved). An agency token reaches only
//! `POST /oauth/locationToken`, which exchanges it for a location's access token, and
//! `GET /oauth/installedLocations`; a location token reaches everything else.
//!
//! Unknown client or wrong secret is 401; a bad, used or expired code or refresh token is 400
//! with a string message (GHL reports refresh failures as 400s with free text, finding F.32).
//! An expired access token answers 401 `{"statusCode":401,"message":"Invalid JWT"}`, the body
//! GHL sends for a token it no longer accepts (highlevel-api-docs issue #213).

use std::collections::{BTreeMap, HashMap};

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
    /// Client id (default: `<app id>-<random>`, GHL's shape).
    pub client_id: Option<String>,
    /// Client secret (default: random).
    pub client_secret: Option<String>,
    /// Space-separated scopes granted to its tokens.
    pub scope: Option<String>,
    /// The Marketplace app id (`appId`; default: random for a generated client id, the client
    /// id itself for a given one).
    pub app_id: Option<String>,
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
    /// The Marketplace app id.
    pub app_id: String,
}

/// An install to make (`POST /_sandbox/oauth/codes`), as if a user had approved the app on the
/// consent page: for one location, or with `company_id` for an agency. Answers the
/// authorization code the redirect would carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewAuthCode {
    /// The app.
    pub client_id: String,
    /// The approved location (empty for an agency install).
    pub location_id: String,
    /// The approving user (default: a fixed demo user id).
    pub user_id: Option<String>,
    /// An agency install: the company whose every location the app is installed in; its code
    /// yields a `Company` token.
    pub company_id: Option<String>,
}

/// An issued authorization code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCodeView {
    /// The code to exchange at `POST /oauth/token`.
    pub code: String,
    /// The app.
    pub client_id: String,
    /// The location (empty for an agency install).
    pub location_id: String,
    /// The company of the install.
    #[serde(default)]
    pub company_id: String,
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
    /// The location it reaches (`None` for an agency token).
    pub location_id: Option<String>,
    /// The company it belongs to.
    #[serde(default)]
    pub company_id: String,
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
    /// `Location` or `Company`.
    pub user_type: String,
    /// The location the token reaches (location tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    /// The company.
    pub company_id: String,
    /// The locations an agency token may get location tokens for (agency tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_locations: Option<Vec<String>>,
    /// The approving user.
    pub user_id: String,
    /// Whether the install was made for an agency.
    pub is_bulk_installation: bool,
    /// Agency tokens: the app also goes to locations created later (always true here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_to_future_locations: Option<bool>,
    /// Agency tokens: every location was approved (always true here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve_all_locations: Option<bool>,
}

/// What `POST /oauth/locationToken` returns (`GetLocationAccessTokenSuccessfulResponseDto`):
/// a location access token, without a refresh token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LocationTokenGrant {
    #[serde(rename = "access_token")]
    access_token: String,
    #[serde(rename = "token_type")]
    token_type: String,
    #[serde(rename = "expires_in")]
    expires_in: u64,
    scope: String,
    location_id: String,
    user_id: String,
    app_id: String,
}

/// A location as `GET /oauth/installedLocations` lists it (`InstalledLocationSchema`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstalledLocation {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    address: String,
    is_installed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    installed_at: Option<String>,
}

/// The query of `GET /oauth/installedLocations` (`companyId` and `appId` required).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct InstalledQuery {
    pub(crate) company_id: String,
    pub(crate) app_id: String,
    pub(crate) location_id: Option<String>,
    pub(crate) is_installed: Option<bool>,
    pub(crate) query: Option<String>,
    pub(crate) skip: usize,
    pub(crate) limit: usize,
}

/// A location, as OAuth needs to know it: id, name and company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Site {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) company_id: String,
}

fn find_site<'a>(sites: &'a [Site], location_id: &str) -> Option<&'a Site> {
    sites.iter().find(|s| s.id == location_id)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct App {
    secret: String,
    scope: String,
    app_id: String,
}

/// Who a code or token speaks for: one location, or (`location_id: None`) a company.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Grantee {
    client_id: String,
    location_id: Option<String>,
    company_id: String,
    user_id: String,
}

impl Grantee {
    fn user_type(&self) -> &'static str {
        if self.location_id.is_some() {
            "Location"
        } else {
            "Company"
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Code {
    grantee: Grantee,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Access {
    grantee: Grantee,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    forced_expired: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Refresh {
    grantee: Grantee,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// A valid access token's grant: who may call, for which location or company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AccessGrant {
    pub(crate) client_id: String,
    /// `None` for an agency token.
    pub(crate) location_id: Option<String>,
    pub(crate) company_id: String,
    pub(crate) user_id: String,
}

/// Why an access token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccessRefusal {
    /// Not an access token the sandbox issued.
    Unknown,
    /// Issued, but expired (by time or forced).
    Expired,
}

/// Apps, installs, codes and tokens.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct OAuth {
    apps: HashMap<String, App>,
    /// `(client id, location id or company id)` → when the app was installed there.
    #[serde(with = "pairs")]
    installs: BTreeMap<(String, String), String>,
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
}

/// Maps with tuple keys, written as lists of `[key, value]` pairs (JSON keys are strings).
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

impl OAuth {
    /// Registers the demo app.
    pub(crate) fn seed_demo(&mut self) {
        let _ = self.add_app(NewOAuthApp {
            client_id: Some(DEMO_CLIENT_ID.into()),
            client_secret: Some(DEMO_CLIENT_SECRET.into()),
            ..NewOAuthApp::default()
        });
    }

    /// Whether `token` is an access token the sandbox issued.
    pub(crate) fn knows_token(&self, token: &str) -> bool {
        self.access.contains_key(token)
    }

    /// Registers an app.
    pub(crate) fn add_app(&mut self, new: NewOAuthApp) -> Result<OAuthAppView> {
        let given = new.client_id.filter(|s| !s.is_empty());
        let app_id = new
            .app_id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| given.clone().unwrap_or_else(ids::hex24));
        let client_id =
            given.unwrap_or_else(|| format!("{app_id}-{}", ids::random_id()[..8].to_lowercase()));
        if self.apps.contains_key(&client_id) {
            return Err(Error::Control(format!("app {client_id} already exists")));
        }
        let app = App {
            secret: new
                .client_secret
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| ids::secret("")),
            scope: new.scope.unwrap_or_else(|| DEFAULT_SCOPES.into()),
            app_id,
        };
        let view = OAuthAppView {
            client_id: client_id.clone(),
            client_secret: app.secret.clone(),
            scope: app.scope.clone(),
            app_id: app.app_id.clone(),
        };
        self.apps.insert(client_id, app);
        Ok(view)
    }

    /// Installs an app in a location, or for a company, and issues the authorization code.
    pub(crate) fn issue_code(
        &mut self,
        new: NewAuthCode,
        sites: &[Site],
        now: OffsetDateTime,
        cfg: &OAuthConfig,
    ) -> Result<AuthCodeView> {
        if !self.apps.contains_key(&new.client_id) {
            return Err(Error::Control(format!("unknown app {:?}", new.client_id)));
        }
        let (location_id, company_id) = match new.company_id.filter(|c| !c.is_empty()) {
            Some(_) if !new.location_id.is_empty() => {
                return Err(Error::Control(
                    "give location_id (a location install) or company_id (an agency install), not both"
                        .into(),
                ));
            }
            Some(company) if sites.iter().any(|s| s.company_id == company) => (None, company),
            Some(company) => {
                return Err(Error::Control(format!("unknown company {company:?}")));
            }
            None => {
                let site = find_site(sites, &new.location_id).ok_or_else(|| {
                    Error::Control(format!("unknown location {:?}", new.location_id))
                })?;
                (Some(site.id.clone()), site.company_id.clone())
            }
        };
        let place = location_id.clone().unwrap_or_else(|| company_id.clone());
        self.installs.insert(
            (new.client_id.clone(), place),
            crate::contact::iso_millis(now),
        );
        let code = ids::secret("code-");
        let expires_at = now + cfg.code_ttl;
        let user_id = new.user_id.unwrap_or_else(|| {
            let owner = location_id.as_deref().unwrap_or(&company_id);
            ids::derived_id(&[owner, "user", "Demo Owner"])
        });
        self.codes.insert(
            code.clone(),
            Code {
                grantee: Grantee {
                    client_id: new.client_id.clone(),
                    location_id: location_id.clone(),
                    company_id: company_id.clone(),
                    user_id,
                },
                expires_at,
            },
        );
        Ok(AuthCodeView {
            code,
            client_id: new.client_id,
            location_id: location_id.unwrap_or_default(),
            company_id,
            expires_at,
        })
    }

    fn app(&self, client_id: &str) -> Result<&App> {
        self.apps.get(client_id).ok_or(Error::InvalidClient)
    }

    /// Issues an access token (and, unless `with_refresh` is false, a refresh token).
    fn issue(
        &mut self,
        grantee: &Grantee,
        now: OffsetDateTime,
        cfg: &OAuthConfig,
        with_refresh: bool,
    ) -> (String, Option<String>) {
        let access_token = ids::secret("at-");
        self.access.insert(
            access_token.clone(),
            Access {
                grantee: grantee.clone(),
                expires_at: now + cfg.access_token_ttl,
                forced_expired: false,
            },
        );
        let refresh_token = with_refresh.then(|| {
            let token = ids::secret("rt-");
            self.refresh.insert(
                token.clone(),
                Refresh {
                    grantee: grantee.clone(),
                    expires_at: now + cfg.refresh_token_ttl,
                },
            );
            token
        });
        (access_token, refresh_token)
    }

    /// `POST /oauth/token`.
    pub(crate) fn token(
        &mut self,
        req: TokenRequest,
        sites: &[Site],
        now: OffsetDateTime,
        cfg: &OAuthConfig,
    ) -> Result<TokenGrant> {
        let scope = self
            .apps
            .get(&req.client_id)
            .filter(|a| a.secret == req.client_secret)
            .ok_or(Error::InvalidClient)?
            .scope
            .clone();
        let mut grantee = match req.grant_type.as_str() {
            "authorization_code" => {
                let code = req.code.as_deref().unwrap_or_default();
                // A code works once, whatever the outcome.
                self.codes
                    .remove(code)
                    .filter(|c| c.grantee.client_id == req.client_id && c.expires_at > now)
                    .ok_or_else(|| {
                        Error::BadRequest("Invalid grant: authorization code is invalid".into())
                    })?
                    .grantee
            }
            "refresh_token" => {
                let token = req.refresh_token.as_deref().unwrap_or_default();
                let grant = self
                    .refresh
                    .get(token)
                    .filter(|r| r.grantee.client_id == req.client_id && r.expires_at > now)
                    .cloned()
                    .ok_or_else(|| {
                        Error::BadRequest("Invalid grant: refresh token is invalid".into())
                    })?;
                // Rotation: the used refresh token is gone.
                self.refresh.remove(token);
                grant.grantee
            }
            _ => {
                return Err(Error::BadRequest(
                    "The sandbox does not support grant_type client_credentials".into(),
                ));
            }
        };
        if let Some(asked) = req.user_type.as_deref()
            && asked != grantee.user_type()
        {
            return Err(Error::BadRequest(format!(
                "user_type {asked} does not match the installation, which is for a {}",
                grantee.user_type()
            )));
        }
        // The location's company may have changed since the install; it must still exist.
        let approved = match &grantee.location_id {
            Some(location_id) => {
                grantee.company_id = find_site(sites, location_id)
                    .ok_or_else(|| Error::BadRequest("Location is not active".into()))?
                    .company_id
                    .clone();
                None
            }
            None => Some(
                sites
                    .iter()
                    .filter(|s| s.company_id == grantee.company_id)
                    .map(|s| s.id.clone())
                    .collect(),
            ),
        };
        let (access_token, refresh_token) = self.issue(&grantee, now, cfg, true);
        let agency = approved.as_ref().map(|_| true);
        Ok(TokenGrant {
            access_token,
            token_type: "Bearer".into(),
            expires_in: cfg.access_token_ttl.as_secs(),
            refresh_token: refresh_token.unwrap_or_default(),
            scope,
            user_type: grantee.user_type().into(),
            location_id: grantee.location_id,
            company_id: grantee.company_id,
            approved_locations: approved,
            user_id: grantee.user_id,
            is_bulk_installation: agency.is_some(),
            install_to_future_locations: agency,
            approve_all_locations: agency,
        })
    }

    /// When the app was installed in the location (directly, or for its company).
    fn installed_at(&self, client_id: &str, site: &Site) -> Option<&String> {
        let key = |place: &str| (client_id.to_owned(), place.to_owned());
        self.installs
            .get(&key(&site.id))
            .or_else(|| self.installs.get(&key(&site.company_id)))
    }

    /// `POST /oauth/locationToken`: an agency token's exchange for an access token of one of
    /// its company's locations (403 for another company, 400 for a location outside it).
    pub(crate) fn location_token(
        &mut self,
        agency: &AccessGrant,
        company_id: &str,
        location_id: &str,
        sites: &[Site],
        now: OffsetDateTime,
        cfg: &OAuthConfig,
    ) -> Result<LocationTokenGrant> {
        if company_id != agency.company_id {
            return Err(Error::Forbidden);
        }
        let site = find_site(sites, location_id)
            .filter(|s| s.company_id == company_id)
            .ok_or_else(|| Error::BadRequest("Location not found".into()))?;
        if self.installed_at(&agency.client_id, site).is_none() {
            return Err(Error::BadRequest(
                "The app is not installed in this location".into(),
            ));
        }
        let app = self.app(&agency.client_id)?.clone();
        let grantee = Grantee {
            client_id: agency.client_id.clone(),
            location_id: Some(site.id.clone()),
            company_id: company_id.to_owned(),
            user_id: agency.user_id.clone(),
        };
        let (access_token, _) = self.issue(&grantee, now, cfg, false);
        Ok(LocationTokenGrant {
            access_token,
            token_type: "Bearer".into(),
            expires_in: cfg.access_token_ttl.as_secs(),
            scope: app.scope,
            location_id: site.id.clone(),
            user_id: grantee.user_id,
            app_id: app.app_id,
        })
    }

    /// `GET /oauth/installedLocations`: the company's locations and whether the app is
    /// installed in each, by name; `(page, count of all matches, installed for the whole
    /// company)`. 403 when the company or app is not the agency token's.
    pub(crate) fn installed_locations(
        &self,
        agency: &AccessGrant,
        q: &InstalledQuery,
        sites: &[Site],
    ) -> Result<(Vec<InstalledLocation>, usize, bool)> {
        let app = self.app(&agency.client_id)?;
        if q.company_id != agency.company_id || q.app_id != app.app_id {
            return Err(Error::Forbidden);
        }
        let text = q.query.as_deref().map(str::to_lowercase);
        let mut all: Vec<InstalledLocation> = sites
            .iter()
            .filter(|s| s.company_id == q.company_id)
            .filter(|s| q.location_id.as_deref().is_none_or(|l| s.id == l))
            .filter(|s| {
                text.as_deref()
                    .is_none_or(|t| s.name.to_lowercase().contains(t))
            })
            .map(|s| {
                let at = self.installed_at(&agency.client_id, s);
                InstalledLocation {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    address: String::new(),
                    is_installed: at.is_some(),
                    installed_at: at.cloned(),
                }
            })
            .filter(|l| q.is_installed.is_none_or(|i| l.is_installed == i))
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        let count = all.len();
        let company_wide = self
            .installs
            .contains_key(&(agency.client_id.clone(), q.company_id.clone()));
        let page = all.into_iter().skip(q.skip).take(q.limit).collect();
        Ok((page, count, company_wide))
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
            client_id: a.grantee.client_id.clone(),
            location_id: a.grantee.location_id.clone(),
            company_id: a.grantee.company_id.clone(),
            user_id: a.grantee.user_id.clone(),
        })
    }

    /// The location an access token was issued for, expired or not (`None` for an agency
    /// token).
    pub(crate) fn location_of(&self, token: &str) -> Option<&str> {
        self.access
            .get(token)
            .and_then(|a| a.grantee.location_id.as_deref())
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
                && location_id.is_none_or(|l| a.grantee.location_id.as_deref() == Some(l))
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
                client_id: a.grantee.client_id.clone(),
                location_id: a.grantee.location_id.clone(),
                company_id: a.grantee.company_id.clone(),
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

    fn sites() -> Vec<Site> {
        vec![Site {
            id: "loc".into(),
            name: "Loc".into(),
            company_id: DEMO_COMPANY_ID.into(),
        }]
    }

    /// The demo app and a fresh code for location `loc`.
    fn installed(cfg: &OAuthConfig, t0: OffsetDateTime) -> (OAuth, String) {
        let mut o = OAuth::default();
        o.seed_demo();
        let code = o
            .issue_code(
                NewAuthCode {
                    client_id: DEMO_CLIENT_ID.into(),
                    location_id: "loc".into(),
                    ..NewAuthCode::default()
                },
                &sites(),
                t0,
                cfg,
            )
            .unwrap()
            .code;
        (o, code)
    }

    #[test]
    fn codes_exchange_once_and_refresh_tokens_rotate() {
        let cfg = OAuthConfig::default();
        let t0 = OffsetDateTime::now_utc();
        let (mut o, code) = installed(&cfg, t0);
        let exchange = [
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        let g = o.token(form(&exchange), &sites(), t0, &cfg).unwrap();
        assert_eq!((g.expires_in, g.user_type.as_str()), (86_399, "Location"));
        assert!(
            o.token(form(&exchange), &sites(), t0, &cfg).is_err(),
            "codes are single use"
        );
        assert_eq!(
            o.check(&g.access_token, t0).unwrap().location_id.as_deref(),
            Some("loc")
        );

        let refresh = |rt: &str| {
            form(&[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
            ])
        };
        let g2 = o
            .token(refresh(&g.refresh_token), &sites(), t0, &cfg)
            .unwrap();
        assert_ne!(g2.refresh_token, g.refresh_token);
        assert_eq!(
            o.token(refresh(&g.refresh_token), &sites(), t0, &cfg)
                .unwrap_err(),
            Error::BadRequest("Invalid grant: refresh token is invalid".into())
        );
        let later = t0 + Duration::from_secs(86_399);
        assert_eq!(
            o.check(&g2.access_token, later),
            Err(AccessRefusal::Expired)
        );
        assert!(
            o.token(refresh(&g2.refresh_token), &sites(), later, &cfg)
                .is_ok()
        );

        let bad_secret = form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", "nope"),
            ("grant_type", "refresh_token"),
        ]);
        assert_eq!(
            o.token(bad_secret, &sites(), t0, &cfg).unwrap_err(),
            Error::InvalidClient
        );
    }

    #[test]
    fn forced_expiry_and_form_validation() {
        let cfg = OAuthConfig::default();
        let t0 = OffsetDateTime::now_utc();
        let (mut o, code) = installed(&cfg, t0);
        let g = o
            .token(
                form(&[
                    ("client_id", DEMO_CLIENT_ID),
                    ("client_secret", DEMO_CLIENT_SECRET),
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                ]),
                &sites(),
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
