//! Search, the deprecated list and the index lag, over HTTP with a frozen clock.

use std::time::Duration;

use relay_sandbox::{ClockMode, DEMO_LOCATION_ID, SandboxConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestSandbox;

fn emails(body: &Value) -> Vec<String> {
    body["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .map(|c| c["email"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn search(sb: &TestSandbox, mut body: Value) -> (StatusCode, Value) {
    body["locationId"] = json!(DEMO_LOCATION_ID);
    if body.get("pageLimit").is_none() {
        body["pageLimit"] = json!(50);
    }
    sb.call(Method::POST, "/contacts/search", Some(body)).await
}

#[tokio::test]
async fn new_and_updated_contacts_reach_search_after_the_index_lag() {
    let sb = TestSandbox::with_config(SandboxConfig {
        clock: ClockMode::Frozen,
        search_index_lag: Duration::from_secs(3),
        ..SandboxConfig::for_tests()
    })
    .await;
    let id = sb.contact("lag@x.io").await;
    let (status, body) = search(&sb, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["total"].clone(), body["contacts"].clone()),
        (json!(0), json!([]))
    );
    assert!(body["traceId"].is_string());
    // Reads by id do not lag.
    let (status, _) = sb.call(Method::GET, &format!("/contacts/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);

    sb.state.advance_clock(Duration::from_millis(2999));
    assert_eq!(search(&sb, json!({})).await.1["total"], 0);
    sb.state.advance_clock(Duration::from_millis(1));
    let (_, body) = search(&sb, json!({})).await;
    assert_eq!(emails(&body), ["lag@x.io"]);

    // A deletion lags as well, and the lag can be changed at runtime.
    sb.call(Method::DELETE, &format!("/contacts/{id}"), None)
        .await;
    assert_eq!(search(&sb, json!({})).await.1["total"], 1);
    let (_, pending) = crate::helpers::send(sb.http.get(sb.url("/_sandbox/search"))).await;
    assert_eq!(
        pending,
        json!({"index_lag_ms": 3000, "pending": {DEMO_LOCATION_ID: 1}})
    );
    sb.state.advance_clock(Duration::from_secs(3));
    assert_eq!(search(&sb, json!({})).await.1["total"], 0);
    let (status, _) = crate::helpers::send(
        sb.http
            .put(sb.url("/_sandbox/search"))
            .json(&json!({"index_lag_ms": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    sb.contact("now@x.io").await;
    assert_eq!(search(&sb, json!({})).await.1["total"], 1);
}

#[tokio::test]
async fn filters_sort_and_search_after_paging() {
    let sb = TestSandbox::frozen().await;
    for (i, (email, tags)) in [
        ("ann@x.io", json!(["vip"])),
        ("bob@x.io", json!([])),
        ("cat@y.io", json!(["vip", "new"])),
        ("dan@y.io", json!(["new"])),
    ]
    .iter()
    .enumerate()
    {
        sb.upsert(json!({"email": email, "tags": tags, "firstName": email.split('@').next()}))
            .await;
        sb.state.advance_clock(Duration::from_secs(i as u64 + 1));
    }
    let (_, body) = search(
        &sb,
        json!({"filters": [{"field": "tags", "operator": "eq", "value": "vip"}],
               "sort": [{"field": "firstNameLowerCase", "direction": "desc"}]}),
    )
    .await;
    assert_eq!(emails(&body), ["cat@y.io", "ann@x.io"]);
    assert_eq!(body["total"], 2);
    let c = &body["contacts"][0];
    assert_eq!(c["searchAfter"][0], "cat");
    assert!(
        c.get("dndSettings").is_none(),
        "search results omit dndSettings (issue #43)"
    );

    let (_, body) = search(
        &sb,
        json!({"filters": [{"group": "OR", "filters": [
            {"field": "email", "operator": "eq", "value": "bob@x.io"},
            {"field": "tags", "operator": "eq", "value": "new"}]}]}),
    )
    .await;
    assert_eq!(
        emails(&body),
        ["dan@y.io", "cat@y.io", "bob@x.io"],
        "newest first by default"
    );

    // Cursor paging, two at a time, oldest first.
    let sort = json!([{"field": "dateAdded", "direction": "asc"}]);
    let (_, p1) = search(&sb, json!({"pageLimit": 2, "sort": sort})).await;
    assert_eq!(emails(&p1), ["ann@x.io", "bob@x.io"]);
    let after = p1["contacts"][1]["searchAfter"].clone();
    assert!(after[0].is_number() && after[1].is_string(), "{after}");
    let (_, p2) = search(
        &sb,
        json!({"pageLimit": 2, "sort": sort, "searchAfter": after}),
    )
    .await;
    assert_eq!(emails(&p2), ["cat@y.io", "dan@y.io"]);
    assert_eq!(p2["total"], 4);

    for (body, status) in [
        (
            json!({"filters": [{"field": "additional_phones", "operator": "nested", "value": "x"}]}),
            400,
        ),
        (
            json!({"sort": [{"field": "phone", "direction": "asc"}]}),
            400,
        ),
        (json!({"page": 2, "searchAfter": [1, "x"]}), 400),
        (json!({"pageLimit": 501}), 422),
        (json!({"limit": 5}), 422),
    ] {
        let (got, msg) = search(&sb, body.clone()).await;
        assert_eq!(got.as_u16(), status, "{body} → {msg}");
    }
    let (_, msg) = search(
        &sb,
        json!({"filters": [{"field": "additional_phones", "operator": "nested"}]}),
    )
    .await;
    assert_eq!(
        msg,
        json!({"statusCode": 400, "message": "Invalid field additional_phones", "error": "Bad Request"})
    );
    let (status, _) = sb
        .call(
            Method::POST,
            "/contacts/search",
            Some(json!({"locationId": "other", "pageLimit": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_deprecated_list_pages_with_meta_start_after() {
    let sb = TestSandbox::frozen().await;
    for i in 0..5 {
        sb.contact(&format!("l{i}@x.io")).await;
        sb.state.advance_clock(Duration::from_secs(1));
    }
    let mut url = format!("/contacts/?locationId={DEMO_LOCATION_ID}&limit=2");
    let mut seen = Vec::new();
    loop {
        let (status, body) = sb.call(Method::GET, &url, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["count"], 5);
        assert_eq!(body["meta"]["total"], 5);
        seen.extend(emails(&body));
        let meta = &body["meta"];
        if meta["nextPageUrl"].is_null() {
            assert!(meta["nextPage"].is_null());
            break;
        }
        url = format!(
            "/contacts/?locationId={DEMO_LOCATION_ID}&limit=2&startAfter={}&startAfterId={}",
            meta["startAfter"],
            meta["startAfterId"].as_str().unwrap()
        );
    }
    assert_eq!(
        seen,
        ["l4@x.io", "l3@x.io", "l2@x.io", "l1@x.io", "l0@x.io"]
    );
    let (status, _) = sb
        .call(
            Method::GET,
            &format!("/contacts/?locationId={DEMO_LOCATION_ID}&limit=101"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = sb.call(Method::GET, "/contacts/?limit=1", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, body) = sb
        .call(
            Method::GET,
            &format!("/contacts/?locationId={DEMO_LOCATION_ID}&query=l3"),
            None,
        )
        .await;
    assert_eq!(emails(&body), ["l3@x.io"]);
}
