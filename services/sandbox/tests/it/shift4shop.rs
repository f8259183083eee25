//! The Shift4Shop customers API under `/shift4shop/3dCartWebAPI/v1`.

use relay_sandbox::{DEMO_SHOP_PRIVATE_KEY, DEMO_SHOP_TOKEN, DEMO_SHOP_URL, FaultSpec};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::json;

use crate::helpers::{TestSandbox, send};

fn s4s(sb: &TestSandbox, method: Method, path: &str) -> RequestBuilder {
    sb.http
        .request(
            method,
            sb.url(&format!("/shift4shop/3dCartWebAPI/v1{path}")),
        )
        .header("SecureURL", DEMO_SHOP_URL)
        .header("PrivateKey", DEMO_SHOP_PRIVATE_KEY)
        .header("Token", DEMO_SHOP_TOKEN)
        .header("Accept", "application/json")
}

#[tokio::test]
async fn customers_can_be_created_paged_and_updated() {
    let sb = TestSandbox::start().await;
    let (status, body) = send(s4s(&sb, Method::GET, "/Customers")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!([{"Key": "Error", "Message": "Not Found"}])
        )
    );

    for i in 0..3 {
        let (status, body) = send(s4s(&sb, Method::POST, "/Customers").json(&json!({
            "Email": format!("c{i}@x.io"), "Password": "secret", "BillingFirstName": "Cee", "BillingLastName": format!("{i}")
        })))
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(
            body,
            json!([{"Key": "CustomerID", "Value": (i + 1).to_string(), "Status": "201", "Message": "Created successfully"}])
        );
    }
    let (status, page) = send(s4s(&sb, Method::GET, "/Customers?limit=2&offset=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["Email"], "c2@x.io");
    let (status, body) = send(s4s(&sb, Method::GET, "/Customers?limit=2&offset=4")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body[0]["Message"],
        "Offset amount exceeds the total number of records"
    );
    let (_, body) = send(s4s(&sb, Method::GET, "/Customers?countonly=1")).await;
    assert_eq!(body, json!({"TotalCount": 3}));
    let (_, body) = send(s4s(&sb, Method::GET, "/Customers?email=C1%40x.io")).await;
    assert_eq!(body[0]["CustomerID"], 2);

    let (status, body) =
        send(s4s(&sb, Method::PUT, "/Customers/2").json(&json!({"BillingCity": "Paris"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["Message"], "Updated successfully");
    let (_, body) = send(s4s(&sb, Method::GET, "/Customers/2")).await;
    assert_eq!(
        (
            body[0]["BillingCity"].clone(),
            body[0]["BillingFirstName"].clone()
        ),
        (json!("Paris"), json!("Cee"))
    );
    let (status, _) = send(s4s(&sb, Method::PUT, "/Customers/99").json(&json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = send(
        s4s(&sb, Method::POST, "/Customers").json(&json!({"Email": "c0@x.io", "Password": "x"})),
    )
    .await;
    assert_eq!(
        (status, body[0]["Key"].clone()),
        (StatusCode::BAD_REQUEST, json!("Email"))
    );
    assert_eq!(sb.state.shops()[0].customers.len(), 3);
}

#[tokio::test]
async fn all_three_headers_are_required_and_faults_apply() {
    let sb = TestSandbox::start().await;
    let (status, body) = send(
        sb.http
            .get(sb.url("/shift4shop/3dCartWebAPI/v1/Customers"))
            .header("SecureURL", DEMO_SHOP_URL)
            .header("PrivateKey", DEMO_SHOP_PRIVATE_KEY),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body[0]["Key"], "Error");

    sb.state
        .inject_fault(FaultSpec {
            status: Some(503),
            count: Some(1),
            path_prefix: Some("/shift4shop".into()),
            ..FaultSpec::default()
        })
        .unwrap();
    let (status, _) = send(s4s(&sb, Method::GET, "/Customers")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let logged = sb.state.requests();
    assert_eq!(
        logged.last().unwrap().route.as_deref(),
        Some("/shift4shop/3dCartWebAPI/v1/Customers")
    );
}
