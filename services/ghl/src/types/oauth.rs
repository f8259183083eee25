//! `POST /oauth/token` (`apps/oauth.json`).

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// `GetAccessCodeSuccessfulResponseDto`: a new access token and its refresh token. The refresh
/// token rotates: the one used to get this grant no longer works, so store the pair at once.
#[derive(Clone, Debug, Deserialize)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// Seconds until the access token expires (GHL: 86399).
    #[serde(deserialize_with = "seconds")]
    pub expires_in: u64,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Location tokens only.
    #[serde(default, rename = "locationId")]
    pub location_id: Option<String>,
    #[serde(default, rename = "companyId")]
    pub company_id: Option<String>,
    /// `Location` or `Company`.
    #[serde(default, rename = "userType")]
    pub user_type: Option<String>,
}

/// `expires_in` is a spec `number`: accept `86399` and `86399.0`.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_u64()
        .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .ok_or_else(|| serde::de::Error::custom(format!("expires_in {n} is not a duration")))
}
