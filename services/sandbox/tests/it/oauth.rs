//! OAuth: code exchange, expiring access tokens, rotating refresh tokens, forced expiry.

use std::time::Duration;

use relay_sandbox::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LOCATION_ID, NewAuthCode, TokenKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestSandbox, send};

async fn token(sb: &TestSandbox, form: &[(&str, &str)]) -> (StatusCode, Value) {
    send(sb.http.post(sb.url("/oauth/token")).form(form)).await
}

async fn exchange_code(sb: &TestSandbox) -> Value {
    let code = sb
        .state
        .issue_auth_code(NewAuthCode {
            client_id: DEMO_CLIENT_ID.into(),
            location_id: DEMO_LOCATION_ID.into(),
            user_id: None,
        })
        .expect("code")
        .code;
    let (status, grant) = token(
        sb,
        &[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("user_type", "Location"),
            ("redirect_uri", "http://localhost/cb"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    grant
}

async fn refresh(sb: &TestSandbox, refresh_token: &str) -> (StatusCode, Value) {
    token(
        sb,
        &[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

fn access(grant: &Value) -> String {
    grant["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[tokio::test]
async fn a_code_buys_an_expiring_token_and_refresh_tokens_rotate() {
    let sb = TestSandbox::frozen().await;
    let grant = exchange_code(&sb).await;
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["expires_in"], 86_399);
    assert_eq!(grant["userType"], "Location");
    assert_eq!(grant["locationId"], DEMO_LOCATION_ID);
    assert!(
        grant["userId"].is_string() && grant["scope"].as_str().unwrap().contains("contacts.write")
    );

    // The access token works like a PIT on its location.
    let (status, _) = send(
        sb.ghl_as(&access(&grant), Method::POST, "/contacts/upsert")
            .json(&json!({"locationId": DEMO_LOCATION_ID, "email": "oauth@x.io"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sb.state.requests().last().unwrap().token_kind,
        TokenKind::OAuth
    );

    // Refresh: new pair; the old refresh token is dead, the old access token lives on.
    let (status, second) = refresh(&sb, grant["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], grant["refresh_token"]);
    let (status, body) = refresh(&sb, grant["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "Invalid grant: refresh token is invalid");

    // A day later the access tokens have expired: 401 "Invalid JWT"; refreshing still works.
    sb.state.advance_clock(Duration::from_secs(86_399));
    let (status, body) = send(sb.ghl_as(
        &access(&second),
        Method::GET,
        "/contacts/AAAAAAAAAAAAAAAAAAAA",
    ))
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({"statusCode": 401, "message": "Invalid JWT"})
        )
    );
    assert_eq!(
        sb.state.requests().last().unwrap().token_kind,
        TokenKind::Expired
    );
    let (status, third) = refresh(&sb, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(sb.ghl_as(
        &access(&third),
        Method::GET,
        &format!("/locations/{DEMO_LOCATION_ID}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bad_clients_codes_and_forms_are_refused() {
    let sb = TestSandbox::start().await;
    let (status, body) = token(
        &sb,
        &[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", "wrong"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["message"]),
        (
            StatusCode::UNAUTHORIZED,
            &json!("Invalid client credentials")
        )
    );
    let (status, body) = token(
        &sb,
        &[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", "nope"),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["message"]),
        (
            StatusCode::BAD_REQUEST,
            &json!("Invalid grant: authorization code is invalid")
        )
    );
    let (status, body) = token(&sb, &[("grant_type", "password")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"].as_array().unwrap().len(), 3, "{body}");

    // A code expires after its lifetime and works only once.
    let grant = exchange_code(&sb).await;
    assert!(grant["access_token"].is_string());

    // The control API registers apps and issues codes.
    let (status, app) = send(
        sb.http
            .post(sb.url("/_sandbox/oauth/apps"))
            .json(&json!({"client_id": "app2"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, code) = send(
        sb.http
            .post(sb.url("/_sandbox/oauth/codes"))
            .json(&json!({"client_id": "app2", "location_id": DEMO_LOCATION_ID})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{code}");
    let (status, _) = token(
        &sb,
        &[
            ("client_id", "app2"),
            ("client_secret", app["client_secret"].as_str().unwrap()),
            ("grant_type", "authorization_code"),
            ("code", code["code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        sb.http
            .post(sb.url("/_sandbox/oauth/codes"))
            .json(&json!({"client_id": "app2", "location_id": "nowhere"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tokens_can_be_expired_on_demand() {
    let sb = TestSandbox::start().await;
    let grant = exchange_code(&sb).await;
    let (status, body) = send(
        sb.http
            .post(sb.url("/_sandbox/oauth/expire"))
            .json(&json!({"location_id": DEMO_LOCATION_ID})),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"expired": 1})));
    let (status, _) = send(sb.ghl_as(
        &access(&grant),
        Method::GET,
        &format!("/locations/{DEMO_LOCATION_ID}"),
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, tokens) = send(sb.http.get(sb.url("/_sandbox/oauth/tokens"))).await;
    assert_eq!(tokens["tokens"][0]["expired"], true);
    let (status, _) = refresh(&sb, grant["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refresh token survives a forced expiry"
    );
}
