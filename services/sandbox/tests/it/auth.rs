//! Tokens, the `Version` header and location access.

use relay_sandbox::{DEMO_LOCATION_ID, NewLocation, TokenKind};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestSandbox, VERSION, send};

#[tokio::test]
async fn missing_or_unknown_tokens_are_401() {
    let sb = TestSandbox::start().await;
    let unauthorized = json!({"statusCode": 401, "message": "Invalid token: access token is invalid", "error": "Unauthorized"});
    let (status, body) = send(
        sb.http
            .get(sb.url("/contacts/AAAAAAAAAAAAAAAAAAAA"))
            .header("Version", VERSION),
    )
    .await;
    assert_eq!((status, &body), (StatusCode::UNAUTHORIZED, &unauthorized));
    let (status, body) =
        send(sb.ghl_as("pit-wrong", Method::GET, "/contacts/AAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!((status, &body), (StatusCode::UNAUTHORIZED, &unauthorized));

    let kinds: Vec<(TokenKind, Option<String>)> = sb
        .state
        .requests()
        .into_iter()
        .map(|r| (r.token_kind, r.location_id))
        .collect();
    assert_eq!(kinds, [(TokenKind::None, None), (TokenKind::Invalid, None)]);
}

#[tokio::test]
async fn the_version_header_is_required() {
    let sb = TestSandbox::start().await;
    let url = sb.url("/contacts/AAAAAAAAAAAAAAAAAAAA");
    let (status, body) = send(sb.http.get(&url).bearer_auth(relay_sandbox::DEMO_TOKEN)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"statusCode": 401, "message": "version header was not found.", "error": "Unauthorized"})
    );
    let (status, body) = send(
        sb.http
            .get(&url)
            .bearer_auth(relay_sandbox::DEMO_TOKEN)
            .header("Version", "2020-01-01"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "version header is invalid");
}

#[tokio::test]
async fn a_token_only_reaches_its_own_location() {
    let sb = TestSandbox::start().await;
    sb.state
        .add_location(NewLocation::new("other-location", "pit-other"))
        .unwrap();
    let forbidden = json!({"statusCode": 403, "message": "The token does not have access to this location.", "error": "Forbidden"});

    // Writing into another location.
    let (status, body) = send(
        sb.ghl_as("pit-other", Method::POST, "/contacts/upsert")
            .json(&json!({"locationId": DEMO_LOCATION_ID, "email": "x@x.io"})),
    )
    .await;
    assert_eq!((status, &body), (StatusCode::FORBIDDEN, &forbidden));

    // Reading another location's contact.
    let (_, created) = sb.upsert(json!({"email": "mine@x.io"})).await;
    let path = format!("/contacts/{}", created["contact"]["id"].as_str().unwrap());
    let (status, body) = send(sb.ghl_as("pit-other", Method::GET, &path)).await;
    assert_eq!((status, &body), (StatusCode::FORBIDDEN, &forbidden));
    let (status, _) = send(
        sb.ghl_as("pit-other", Method::POST, &format!("{path}/tags"))
            .json(&json!({"tags": ["x"]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Duplicate search in another location.
    let (status, _) = send(sb.ghl_as(
        "pit-other",
        Method::GET,
        &format!("/contacts/search/duplicate?locationId={DEMO_LOCATION_ID}&email=mine%40x.io"),
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(sb.state.contacts("other-location").is_empty());
}
