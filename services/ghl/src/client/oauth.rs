//! OAuth 2.0: `POST /oauth/token` (form-encoded, no bearer token, no `Version`).

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};

use super::{Call, GhlClient, Response};
use crate::error::GhlError;
use crate::types::TokenGrant;

const TOKEN_PATH: &[&str] = &["oauth", "token"];

impl GhlClient {
    /// `POST /oauth/token` with `grant_type=refresh_token` and `user_type=Location`: a new
    /// access token for a location. The refresh token rotates: `refresh_token` stops working
    /// and the grant carries its successor, so persist the new pair before using it. A used or
    /// unknown refresh token is a 400, an unknown client a 401 ([`GhlError::Api`]).
    pub async fn refresh_access_token(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        refresh_token: &SecretString,
    ) -> Result<Response<TokenGrant>, GhlError> {
        let form = [
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("user_type", "Location"),
        ];
        self.send(Call::new("refresh_access_token", Method::POST, TOKEN_PATH).form(&form))
            .await
    }

    /// `POST /oauth/token` with `grant_type=authorization_code` and `user_type=Location`: the
    /// first token pair of an install, from the code the consent redirect carried.
    pub async fn exchange_authorization_code(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        code: &SecretString,
        redirect_uri: Option<&str>,
    ) -> Result<Response<TokenGrant>, GhlError> {
        let mut form = vec![
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("user_type", "Location"),
        ];
        if let Some(uri) = redirect_uri {
            form.push(("redirect_uri", uri));
        }
        self.send(Call::new("exchange_authorization_code", Method::POST, TOKEN_PATH).form(&form))
            .await
    }
}
