//! OAuth: code exchange, expiring access tokens, rotating refresh tokens, forced expiry.

use std::time::Duration;

use relay_sandbox::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_COMPANY_ID, DEMO_LOCATION_ID, NewAuthCode,
    NewLocation, TokenKind,
};
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
            company_id: None,
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

#[tokio::test]
async fn agency_tokens_get_location_tokens_and_list_installed_locations() {
    let sb = TestSandbox::start().await;
    sb.state
        .add_location(NewLocation {
            name: Some("Second Shop".into()),
            ..NewLocation::new("second", "pit-second")
        })
        .expect("location");
    sb.state
        .add_location(NewLocation {
            company_id: Some("other-company".into()),
            ..NewLocation::new("elsewhere", "pit-elsewhere")
        })
        .expect("location");
    let install = |company: &str| NewAuthCode {
        client_id: DEMO_CLIENT_ID.into(),
        company_id: Some(company.into()),
        ..NewAuthCode::default()
    };
    let code = sb
        .state
        .issue_auth_code(install(DEMO_COMPANY_ID))
        .expect("code");
    let form = |code: &str, user_type: &'static str| {
        vec![
            ("client_id", DEMO_CLIENT_ID.to_owned()),
            ("client_secret", DEMO_CLIENT_SECRET.to_owned()),
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("user_type", user_type.to_owned()),
        ]
    };
    let exchange =
        |f: Vec<(&'static str, String)>| send(sb.http.post(sb.url("/oauth/token")).form(&f));
    // An agency install yields a Company token, not a Location one.
    let (status, body) = exchange(form(&code.code, "Location")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let code = sb
        .state
        .issue_auth_code(install(DEMO_COMPANY_ID))
        .expect("code");
    let (status, grant) = exchange(form(&code.code, "Company")).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert_eq!(grant["userType"], "Company");
    assert_eq!(grant["companyId"], DEMO_COMPANY_ID);
    assert!(grant.get("locationId").is_none(), "{grant}");
    assert_eq!(
        grant["approvedLocations"],
        json!([DEMO_LOCATION_ID, "second"])
    );
    assert_eq!(grant["isBulkInstallation"], true);
    let agency = access(&grant);

    // The agency token reaches only the agency endpoints, and only it does.
    let (status, body) = send(sb.ghl_as(&agency, Method::GET, "/locations/second")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["message"],
        "The token is not authorized for this scope."
    );
    let (status, _) = send(
        sb.ghl(Method::POST, "/oauth/locationToken")
            .form(&[("companyId", DEMO_COMPANY_ID), ("locationId", "second")]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Agency → location token.
    let location_token = |company: &'static str, location: &'static str| {
        send(
            sb.ghl_as(&agency, Method::POST, "/oauth/locationToken")
                .form(&[("companyId", company), ("locationId", location)]),
        )
    };
    let (status, body) = location_token(DEMO_COMPANY_ID, "second").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["locationId"], &body["token_type"], &body["appId"]),
        (&json!("second"), &json!("Bearer"), &json!(DEMO_CLIENT_ID))
    );
    assert!(body.get("refresh_token").is_none());
    let (status, body) = send(sb.ghl_as(&access(&body), Method::GET, "/locations/second")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = location_token(DEMO_COMPANY_ID, "elsewhere").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = location_token("other-company", "elsewhere").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = send(
        sb.ghl_as(&agency, Method::POST, "/oauth/locationToken")
            .form(&[("companyId", DEMO_COMPANY_ID)]),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], json!(["locationId should not be empty"]));

    // Installed locations: the company's, by name.
    let installed = |query: &str| {
        send(sb.ghl_as(
            &agency,
            Method::GET,
            &format!("/oauth/installedLocations?{query}"),
        ))
    };
    let base = format!("companyId={DEMO_COMPANY_ID}&appId={DEMO_CLIENT_ID}");
    let (status, body) = installed(&base).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["count"], &body["installToFutureLocations"]),
        (&json!(2), &json!(true))
    );
    let names: Vec<&str> = body["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Relay Demo", "Second Shop"]);
    assert_eq!(body["locations"][1]["_id"], "second");
    assert_eq!(body["locations"][1]["isInstalled"], true);
    let (_, body) = installed(&format!("{base}&query=second&limit=5&skip=0")).await;
    assert_eq!(body["count"], 1);
    let (status, _) = installed(&format!("companyId={DEMO_COMPANY_ID}&appId=other-app")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = installed(&format!("appId={DEMO_CLIENT_ID}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The agency token refreshes like a location token, and stays an agency token.
    let (status, again) = refresh(&sb, grant["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, &again["userType"]),
        (StatusCode::OK, &json!("Company"))
    );
    let kinds: Vec<TokenKind> = sb
        .state
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/installedLocations")
        .map(|r| r.token_kind)
        .collect();
    assert!(kinds.iter().all(|k| *k == TokenKind::Agency), "{kinds:?}");
}
