//! The Contacts operations, over HTTP.

use relay_sandbox::{DEMO_LOCATION_ID, NewLocation, SandboxConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestSandbox, send};

fn is_ghl_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 20 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[tokio::test]
async fn upsert_creates_then_updates_the_same_contact() {
    let sb = TestSandbox::start().await;
    let (status, first) = sb
        .upsert(json!({"email": "Jo@Example.com", "firstName": "Jo", "phone": "+1 888-888-8888", "tags": ["Buyer"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["new"], true);
    assert!(first["traceId"].is_string());
    let id = first["contact"]["id"].clone();
    assert!(is_ghl_id(&id), "{id}");
    assert_eq!(first["contact"]["phone"], "+18888888888");
    assert_eq!(first["contact"]["emailLowerCase"], "jo@example.com");

    let (status, second) = sb
        .upsert(json!({"email": "jo@example.COM", "lastName": "Doe"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["new"], false);
    assert_eq!(second["contact"]["id"], id);

    let (status, got) =
        send(sb.ghl(Method::GET, &format!("/contacts/{}", id.as_str().unwrap()))).await;
    assert_eq!(status, StatusCode::OK);
    let c = &got["contact"];
    assert_eq!(c["firstName"], "Jo");
    assert_eq!(c["lastName"], "Doe");
    assert_eq!(c["name"], "Jo Doe");
    assert_eq!(c["email"], "jo@example.COM");
    assert_eq!(c["locationId"], DEMO_LOCATION_ID);
    assert_eq!(c["tags"], json!(["buyer"]));
    assert_eq!(c["customFields"], json!([]));
    for field in ["dateAdded", "dateUpdated"] {
        let s = c[field].as_str().unwrap();
        assert!(
            s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T',
            "{field}: {s}"
        );
    }
    assert_eq!(sb.state.contacts(DEMO_LOCATION_ID).len(), 1);
}

#[tokio::test]
async fn tags_replace_on_upsert_and_add_or_remove_through_the_tag_endpoints() {
    let sb = TestSandbox::start().await;
    let (_, c) = sb
        .upsert(json!({"email": "t@x.io", "tags": ["A", "b"]}))
        .await;
    assert_eq!(c["contact"]["tags"], json!(["a", "b"]));
    let (_, c) = sb.upsert(json!({"email": "t@x.io", "tags": ["c"]})).await;
    assert_eq!(
        c["contact"]["tags"],
        json!(["c"]),
        "upsert tags replace the set"
    );
    let (_, c) = sb
        .upsert(json!({"email": "t@x.io", "firstName": "T"}))
        .await;
    assert_eq!(
        c["contact"]["tags"],
        json!(["c"]),
        "absent tags are left alone"
    );

    let path = format!("/contacts/{}/tags", c["contact"]["id"].as_str().unwrap());
    let (status, body) = send(
        sb.ghl(Method::POST, &path)
            .json(&json!({"tags": ["d", "C"]})),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::CREATED, json!({"tags": ["c", "d"]}))
    );
    let (status, body) = send(
        sb.ghl(Method::DELETE, &path)
            .json(&json!({"tags": ["c", "nope"]})),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"tags": ["d"]})));
    let (status, body) = send(sb.ghl(Method::POST, &path).json(&json!({"tag": "x"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        json!(["property tag should not exist", "tags must be an array"])
    );
}

#[tokio::test]
async fn duplicate_search_matches_email_then_phone() {
    let sb = TestSandbox::start().await;
    let (_, by_email) = sb.upsert(json!({"email": "dup@x.io"})).await;
    let (_, by_phone) = sb.upsert(json!({"phone": "+15550100000"})).await;
    let search = |query: &str| {
        sb.ghl(
            Method::GET,
            &format!("/contacts/search/duplicate?locationId={DEMO_LOCATION_ID}&{query}"),
        )
    };

    let (status, body) = send(search("email=DUP%40x.io")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["contact"]["id"], by_email["contact"]["id"]);
    let (_, body) = send(search("number=%2B15550100000")).await;
    assert_eq!(body["contact"]["id"], by_phone["contact"]["id"]);
    // Email first: both given, both match different contacts.
    let (_, body) = send(search("email=dup%40x.io&number=%2B15550100000")).await;
    assert_eq!(body["contact"]["id"], by_email["contact"]["id"]);
    // An unencoded '+' is a space once decoded.
    let (_, body) = send(search("number=+15550100000")).await;
    assert_eq!(body, json!({"contact": null}));
    let (_, body) = send(search("email=nobody%40x.io")).await;
    assert_eq!(body, json!({"contact": null}));

    let (status, body) = send(search("phone=%2B15550100000")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], json!(["property phone should not exist"]));
    let (status, _) =
        send(sb.ghl(Method::GET, "/contacts/search/duplicate?email=dup%40x.io")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn create_refuses_duplicates_with_the_existing_contact_in_meta() {
    let sb = TestSandbox::start().await;
    let create = |body: Value| send(sb.ghl(Method::POST, "/contacts/").json(&body));
    let (status, first) =
        create(json!({"locationId": DEMO_LOCATION_ID, "email": "c@x.io", "firstName": "Cee", "gender": "female"})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = &first["contact"]["id"];
    assert!(is_ghl_id(id));

    let (status, body) = create(json!({"locationId": DEMO_LOCATION_ID, "email": "C@X.IO"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"statusCode": 400, "message": "This location does not allow duplicated contacts.",
               "meta": {"contactId": id, "contactName": "Cee", "matchingField": "email"}})
    );

    let (status, body) =
        create(json!({"locationId": DEMO_LOCATION_ID, "name": "Only A Name"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "Contacts without email, phone, firstName and lastName are not allowed."
    );

    // A location that allows duplicates creates a second contact.
    sb.state
        .add_location(NewLocation {
            allow_duplicate_contact: true,
            ..NewLocation::new("dups", "pit-dups")
        })
        .unwrap();
    for _ in 0..2 {
        let (status, _) = send(
            sb.ghl_as("pit-dups", Method::POST, "/contacts")
                .json(&json!({"locationId": "dups", "email": "c@x.io"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(sb.state.contacts("dups").len(), 2);
}

#[tokio::test]
async fn unknown_properties_are_422_with_a_message_array() {
    let sb = TestSandbox::start().await;
    let (status, body) = sb.upsert(json!({"email": "u@x.io", "foo": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({"statusCode": 422, "message": ["property foo should not exist"], "error": "Unprocessable Entity"})
    );

    let (_, created) = sb.upsert(json!({"email": "u@x.io"})).await;
    let path = format!("/contacts/{}", created["contact"]["id"].as_str().unwrap());
    let (status, body) = send(sb.ghl(Method::PUT, &path).json(&json!({"gender": "male"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], json!(["property gender should not exist"]));

    let (status, body) = send(
        sb.ghl(Method::POST, "/contacts/upsert")
            .header("content-type", "application/json")
            .body("{\"email\":"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "Bad Request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Malformed JSON body"),
        "{body}"
    );

    let (status, body) = sb.upsert(json!({"firstName": "No Key"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"statusCode": 400, "message": "Pass at least one of number, email query parameter", "error": "Bad Request"})
    );
}

#[tokio::test]
async fn update_returns_succeded_and_unknown_contacts_are_404() {
    let sb = TestSandbox::start().await;
    let (_, created) = sb.upsert(json!({"email": "p@x.io", "tags": ["old"]})).await;
    let path = format!("/contacts/{}", created["contact"]["id"].as_str().unwrap());
    let (status, body) = send(
        sb.ghl(Method::PUT, &path)
            .json(&json!({"firstName": "Pat", "tags": ["new"], "dnd": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["succeded"], true);
    assert_eq!(body["contact"]["firstName"], "Pat");
    assert_eq!(body["contact"]["tags"], json!(["new"]));
    assert_eq!(body["contact"]["dnd"], true);

    let (status, body) = send(sb.ghl(Method::GET, "/contacts/AAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"statusCode": 404, "message": "Contact not found"})
        )
    );
    let (status, _) = send(
        sb.ghl(Method::PUT, "/contacts/AAAAAAAAAAAAAAAAAAAA")
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn custom_fields_are_written_by_key_and_read_back_by_id() {
    let sb = TestSandbox::with_config(SandboxConfig::for_tests()).await;
    let def = sb
        .state
        .location(DEMO_LOCATION_ID)
        .unwrap()
        .custom_fields
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(def.field_key, "contact.gumroad_customer_id");
    let (status, body) = sb
        .upsert(json!({"email": "cf@x.io", "customFields": [{"key": "contact.gumroad_customer_id", "field_value": "g-42"}]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["contact"]["customFields"],
        json!([{"id": def.id, "value": "g-42"}])
    );
    assert_eq!(
        sb.state.contacts(DEMO_LOCATION_ID)[0].custom_fields[0].value,
        json!("g-42")
    );

    let (status, body) = sb
        .upsert(
            json!({"email": "cf@x.io", "customFields": [{"key": "contact.nope", "value": "x"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        json!(["customFields.0.key contact.nope is not a custom field of location demo-location"])
    );
}
