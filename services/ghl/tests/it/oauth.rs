//! OAuth: the authorization code, refresh with rotation, expiry, unknown clients.

use relay_ghl::GhlClient;
use relay_ghl::types::TokenGrant;
use relay_sandbox::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LOCATION_ID, NewAuthCode, TokenKind};
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::Ghl;

fn secret() -> SecretString {
    SecretString::from(DEMO_CLIENT_SECRET)
}

/// Installs the demo app in the demo location and exchanges the code.
async fn install(ghl: &Ghl) -> TokenGrant {
    let code = ghl
        .state
        .issue_auth_code(NewAuthCode {
            client_id: DEMO_CLIENT_ID.into(),
            location_id: DEMO_LOCATION_ID.into(),
            ..NewAuthCode::default()
        })
        .expect("code")
        .code;
    ghl.client
        .exchange_authorization_code(
            DEMO_CLIENT_ID,
            &secret(),
            &SecretString::from(code),
            Some("http://localhost/oauth/callback"),
        )
        .await
        .expect("exchange the code")
        .body
}

async fn works(client: &GhlClient, token: &SecretString) -> bool {
    client.get_location(token, DEMO_LOCATION_ID).await.is_ok()
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let ghl = Ghl::start().await;
    let first = install(&ghl).await;
    assert_eq!(first.token_type.as_deref(), Some("Bearer"));
    assert_eq!(first.expires_in, 86_399);
    assert_eq!(first.user_type.as_deref(), Some("Location"));
    assert_eq!(first.location_id.as_deref(), Some(DEMO_LOCATION_ID));
    assert!(first.company_id.is_some());
    assert!(
        first
            .scope
            .as_deref()
            .is_some_and(|s| s.contains("contacts.write"))
    );
    assert!(works(&ghl.client, &first.access_token).await);

    let second = ghl
        .client
        .refresh_access_token(DEMO_CLIENT_ID, &secret(), &first.refresh_token)
        .await
        .expect("refresh");
    assert_eq!(second.status, 200);
    let second = second.body;
    assert_ne!(
        second.refresh_token.expose_secret(),
        first.refresh_token.expose_secret()
    );
    assert_ne!(
        second.access_token.expose_secret(),
        first.access_token.expose_secret()
    );
    assert_eq!(second.location_id.as_deref(), Some(DEMO_LOCATION_ID));
    assert!(works(&ghl.client, &second.access_token).await);

    // The used refresh token is refused: a permanent 400, not a 401.
    let err = ghl
        .client
        .refresh_access_token(DEMO_CLIENT_ID, &secret(), &first.refresh_token)
        .await
        .expect_err("rotated away");
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(!err.is_unauthorized());
    assert!(!err.is_transient());

    // Its successor still works, once.
    let third = ghl
        .client
        .refresh_access_token(DEMO_CLIENT_ID, &secret(), &second.refresh_token)
        .await
        .expect("refresh the successor");
    assert!(works(&ghl.client, &third.body.access_token).await);
}

#[tokio::test]
async fn an_expired_access_token_is_unauthorized_until_refreshed() {
    let ghl = Ghl::start().await;
    let grant = install(&ghl).await;
    let expired = ghl
        .state
        .expire_tokens(Some(grant.access_token.expose_secret()), None);
    assert_eq!(expired, 1);
    let err = ghl
        .client
        .get_contact(&grant.access_token, "AAAAAAAAAAAAAAAAAAAA")
        .await
        .expect_err("expired");
    assert!(err.is_unauthorized(), "{err}");

    let fresh = ghl
        .client
        .refresh_access_token(DEMO_CLIENT_ID, &secret(), &grant.refresh_token)
        .await
        .expect("refresh")
        .body;
    assert!(works(&ghl.client, &fresh.access_token).await);
}

#[tokio::test]
async fn an_unknown_client_is_unauthorized() {
    let ghl = Ghl::start().await;
    let grant = install(&ghl).await;
    let err = ghl
        .client
        .refresh_access_token(
            DEMO_CLIENT_ID,
            &SecretString::from("not-the-secret"),
            &grant.refresh_token,
        )
        .await
        .expect_err("bad secret");
    assert!(err.is_unauthorized(), "{err}");
    assert!(!err.is_transient());
    // A refused client does not use up the refresh token.
    ghl.client
        .refresh_access_token(DEMO_CLIENT_ID, &secret(), &grant.refresh_token)
        .await
        .expect("the right secret still works");
}

#[tokio::test]
async fn the_token_request_is_a_form_without_bearer_or_version() {
    let ghl = Ghl::start().await;
    let grant = install(&ghl).await;
    ghl.client
        .refresh_access_token(DEMO_CLIENT_ID, &secret(), &grant.refresh_token)
        .await
        .expect("refresh");
    let record = ghl
        .state
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/oauth/token")
        .expect("the token request was logged");
    assert_eq!(record.method, "POST");
    assert_eq!(record.status, 200);
    assert_eq!(record.token_kind, TokenKind::None, "no bearer token");
    assert_eq!(record.body, None, "a form, not JSON");
    // The other calls carry the OAuth token as the bearer.
    ghl.client
        .get_location(&grant.access_token, DEMO_LOCATION_ID)
        .await
        .expect("location");
    let last = ghl.state.requests().pop().expect("logged");
    assert_eq!(last.token_kind, TokenKind::OAuth);
}
