//! Location resources: the location and its duplicate setting, custom fields, tags,
//! campaigns, workflows and users.

use relay_sandbox::{DEMO_LOCATION_ID, NewLocation};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn the_location_reports_its_duplicate_setting() {
    let sb = TestSandbox::start().await;
    let (status, body) = sb
        .call(Method::GET, &format!("/locations/{DEMO_LOCATION_ID}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["location"]["settings"]["allowDuplicateContact"], false);
    assert_eq!(
        body["location"]["companyId"],
        relay_sandbox::DEMO_COMPANY_ID
    );
    sb.state
        .add_location(NewLocation::new("other", "pit-other"))
        .unwrap();
    let (status, _) = sb.call(Method::GET, "/locations/other", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn custom_fields_can_be_listed_created_renamed_and_deleted() {
    let sb = TestSandbox::start().await;
    let base = format!("/locations/{DEMO_LOCATION_ID}/customFields");
    let (status, body) = sb
        .call(Method::GET, &format!("{base}?model=contact"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let fields = body["customFields"].as_array().unwrap();
    assert_eq!(fields.len(), 3);
    assert_eq!(fields[0]["fieldKey"], "contact.gumroad_customer_id");
    assert_eq!(fields[2]["dataType"], "MONETORY");

    let (status, body) = sb
        .call(
            Method::POST,
            &base,
            Some(json!({"name": "Order Count", "dataType": "NUMERICAL", "placeholder": "0"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let field = body["customField"].clone();
    assert_eq!(field["fieldKey"], "contact.order_count");
    let id = field["id"].as_str().unwrap().to_owned();

    // Usable at once by key, read back by id.
    let (status, c) = sb
        .upsert(
            json!({"email": "cf@x.io", "customFields": [{"key": "order_count", "field_value": 3}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(
        c["contact"]["customFields"],
        json!([{"id": id, "value": 3}])
    );

    let (status, body) = sb
        .call(Method::GET, &format!("{base}/contact.order_count"), None)
        .await;
    assert_eq!(
        (status, &body["customField"]["id"]),
        (StatusCode::OK, &json!(id))
    );
    let (status, body) = sb
        .call(
            Method::PUT,
            &format!("{base}/{id}"),
            Some(json!({"name": "Orders"})),
        )
        .await;
    assert_eq!(
        (status, &body["customField"]["name"]),
        (StatusCode::OK, &json!("Orders"))
    );
    let (status, _) = sb
        .call(
            Method::PUT,
            &format!("{base}/{id}"),
            Some(json!({"dataType": "TEXT", "name": "x"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the type cannot change"
    );
    let (status, body) = sb
        .call(
            Method::POST,
            &base,
            Some(json!({"name": "Bad", "dataType": "COLOR"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = sb
        .call(
            Method::POST,
            &base,
            Some(json!({"name": "orders count", "dataType": "TEXT"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = sb
        .call(
            Method::POST,
            &base,
            Some(json!({"name": "Orders Count", "dataType": "TEXT"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "same key twice");

    let (status, body) = sb.call(Method::DELETE, &format!("{base}/{id}"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"succeded": true})));
    assert!(
        sb.state.contacts(DEMO_LOCATION_ID)[0]
            .custom_fields
            .is_empty(),
        "values go with the field"
    );
    let (status, _) = sb.call(Method::GET, &format!("{base}/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_tag_catalogue_follows_contacts_and_can_be_edited() {
    let sb = TestSandbox::start().await;
    sb.upsert(json!({"email": "t@x.io", "tags": ["VIP"]})).await;
    let base = format!("/locations/{DEMO_LOCATION_ID}/tags");
    let (_, body) = sb.call(Method::GET, &base, None).await;
    assert_eq!(body["tags"][0]["name"], "vip");
    let (status, body) = sb
        .call(Method::POST, &base, Some(json!({"name": "Lead"})))
        .await;
    assert_eq!(status, StatusCode::OK, "the spec declares 200");
    let id = body["tag"]["id"].as_str().unwrap().to_owned();
    let (status, _) = sb
        .call(Method::POST, &base, Some(json!({"name": "lead"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = sb
        .call(
            Method::PUT,
            &format!("{base}/{id}"),
            Some(json!({"name": "Prospect"})),
        )
        .await;
    assert_eq!(
        (status, &body["tag"]["name"]),
        (StatusCode::OK, &json!("prospect"))
    );
    let (status, _) = sb.call(Method::DELETE, &format!("{base}/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sb.call(Method::GET, &format!("{base}/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn campaigns_workflows_and_users_resolve_ids() {
    let sb = TestSandbox::start().await;
    let (status, body) = sb
        .call(
            Method::GET,
            &format!("/campaigns/?locationId={DEMO_LOCATION_ID}&status=published"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["campaigns"][0]["name"], "Welcome Sequence");
    let (_, body) = sb
        .call(
            Method::GET,
            &format!("/campaigns/?locationId={DEMO_LOCATION_ID}&status=draft"),
            None,
        )
        .await;
    assert_eq!(body["campaigns"], json!([]));
    let (_, body) = sb
        .call(
            Method::GET,
            &format!("/workflows/?locationId={DEMO_LOCATION_ID}"),
            None,
        )
        .await;
    let wf = body["workflows"][0]["id"].as_str().unwrap();
    assert_eq!(wf.split('-').count(), 5, "UUID-shaped: {wf}");
    let (status, _) = sb.call(Method::GET, "/workflows/", None).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "locationId is required"
    );

    let (_, body) = sb
        .call(
            Method::GET,
            &format!("/users/?locationId={DEMO_LOCATION_ID}"),
            None,
        )
        .await;
    let user = body["users"][0].clone();
    assert_eq!(user["firstName"], "Demo");
    let (status, body) = sb
        .call(
            Method::GET,
            &format!("/users/{}", user["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((status, &body["email"]), (StatusCode::OK, &user["email"]));
    let (_, body) = sb
        .call(
            Method::GET,
            &format!(
                "/users/search?companyId={}&query=owner",
                relay_sandbox::DEMO_COMPANY_ID
            ),
            None,
        )
        .await;
    assert_eq!(body["count"], 1);
    let (status, _) = sb
        .call(Method::GET, "/users/search?query=owner", None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "companyId is required"
    );
    let (status, _) = sb.call(Method::GET, "/users/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
