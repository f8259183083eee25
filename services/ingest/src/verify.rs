//! Verifiers shared by storefronts that sign nothing and authenticate by a secret in the URL
//! (Gumroad, Shift4Shop: `POST /hooks/<connection>?token=<secret>`).

use secrecy::SecretString;

use crate::delivery::{Delivery, Unverified, Verified};
use crate::error::VerifyError;

/// The query parameter carrying the URL token.
pub const TOKEN_PARAM: &str = "token";

/// Accepts the delivery when `?token=` equals one of the connection's secrets (constant time).
pub fn url_token(
    d: Delivery<Unverified>,
    secrets: &[SecretString],
) -> Result<Delivery<Verified>, VerifyError> {
    let query = d.query.as_deref().unwrap_or_default();
    let presented = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == TOKEN_PARAM)
        .map(|(_, v)| v.into_owned())
        .ok_or(VerifyError::MissingSignature("?token="))?;
    if secrets
        .iter()
        .any(|s| relay_common::secret::constant_time_eq(presented.as_bytes(), s))
    {
        Ok(d.into_verified())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Compares a secret presented in the body (ThriveCart's `thrivecart_secret`) in constant time.
pub fn body_secret(
    presented: Option<&str>,
    secrets: &[SecretString],
    field: &'static str,
) -> Result<(), VerifyError> {
    let presented = presented.ok_or(VerifyError::MissingSignature(field))?;
    if secrets
        .iter()
        .any(|s| relay_common::secret::constant_time_eq(presented.as_bytes(), s))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_contracts::Token;

    fn d(query: Option<&str>) -> Delivery<Unverified> {
        Delivery::new(
            Token::parse("demo").unwrap(),
            http::HeaderMap::new(),
            query.map(str::to_owned),
            bytes::Bytes::new(),
        )
    }

    #[test]
    fn url_tokens() {
        let secrets = [
            SecretString::from("new".to_owned()),
            SecretString::from("old".to_owned()),
        ];
        assert!(url_token(d(Some("token=new")), &secrets).is_ok());
        assert!(url_token(d(Some("a=1&token=old")), &secrets).is_ok());
        assert!(matches!(
            url_token(d(Some("token=nope")), &secrets),
            Err(VerifyError::Mismatch)
        ));
        assert!(matches!(
            url_token(d(None), &secrets),
            Err(VerifyError::MissingSignature(_))
        ));
        assert!(url_token(d(Some("token=")), &secrets).is_err());
    }
}
