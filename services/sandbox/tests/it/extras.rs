//! Tasks, notes, appointments, followers, campaigns, workflows, delete and the bulk
//! operations, over HTTP.

use relay_sandbox::{Appointment, DEMO_LOCATION_ID, LocationSeed};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestSandbox;

const NOBODY: &str = "/contacts/AAAAAAAAAAAAAAAAAAAA";

#[tokio::test]
async fn tasks_have_the_full_lifecycle() {
    let sb = TestSandbox::start().await;
    let id = sb.contact("task@x.io").await;
    let base = format!("/contacts/{id}/tasks");
    let (status, body) = sb
        .call(
            Method::POST,
            &base,
            Some(json!({"title": "Call back", "body": "re: order", "dueDate": "2020-10-25T11:00:00Z", "completed": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let task = &body["task"];
    assert_eq!(task["contactId"], id.as_str());
    assert_eq!(task["dueDate"], "2020-10-25T11:00:00.000Z");
    let task_id = task["id"].as_str().unwrap().to_owned();

    let (status, body) = sb.call(Method::GET, &base, None).await;
    assert_eq!(
        (status, body["tasks"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let one = format!("{base}/{task_id}");
    let (status, body) = sb
        .call(Method::PUT, &one, Some(json!({"title": "Call again"})))
        .await;
    assert_eq!(
        (status, &body["task"]["title"]),
        (StatusCode::OK, &json!("Call again"))
    );
    let (status, body) = sb
        .call(
            Method::PUT,
            &format!("{one}/completed"),
            Some(json!({"completed": true})),
        )
        .await;
    assert_eq!(
        (status, &body["task"]["completed"]),
        (StatusCode::OK, &json!(true))
    );
    let (_, body) = sb.call(Method::GET, &one, None).await;
    assert_eq!(body["task"]["body"], "re: order");

    let (status, body) = sb
        .call(Method::POST, &base, Some(json!({"title": "x"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_array()
            .unwrap()
            .contains(&json!("dueDate should not be empty")),
        "{body}"
    );
    let (status, _) = sb
        .call(
            Method::PUT,
            &format!("{one}/completed"),
            Some(json!({"title": "no"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = sb.call(Method::DELETE, &one, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"succeded": true})));
    let (status, body) = sb.call(Method::GET, &one, None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"statusCode": 404, "message": "Task not found"})
        )
    );
    let (status, _) = sb.call(Method::GET, &format!("{NOBODY}/tasks"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn location_task_search_filters_and_pages_every_contacts_tasks() {
    let sb = TestSandbox::start().await;
    let user = sb.state.location_entities(DEMO_LOCATION_ID).unwrap().users[0]
        .id
        .clone();
    let ann = sb.contact("ann@x.io").await;
    let bob = sb.contact("bob@x.io").await;
    for (contact, title, due, done, assigned) in [
        (&ann, "Call Ann", "2030-01-03T10:00:00Z", false, true),
        (&ann, "Send invoice", "2030-01-01T10:00:00Z", true, false),
        (&bob, "Call Bob", "2030-01-02T10:00:00Z", false, false),
    ] {
        let mut task = json!({"title": title, "dueDate": due, "completed": done});
        if assigned {
            task["assignedTo"] = json!(user);
        }
        let (status, body) = sb
            .call(
                Method::POST,
                &format!("/contacts/{contact}/tasks"),
                Some(task),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let path = format!("/locations/{DEMO_LOCATION_ID}/tasks/search");
    let titles = |body: &Value| -> Vec<String> {
        body["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| t["title"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    for (query, want) in [
        // By due date.
        (json!({}), vec!["Send invoice", "Call Bob", "Call Ann"]),
        (json!({"completed": false}), vec!["Call Bob", "Call Ann"]),
        (
            json!({"contactId": [ann]}),
            vec!["Send invoice", "Call Ann"],
        ),
        (json!({"assignedTo": [user]}), vec!["Call Ann"]),
        (json!({"query": "CALL"}), vec!["Call Bob", "Call Ann"]),
        (json!({"limit": 1, "skip": 1}), vec!["Call Bob"]),
    ] {
        let (status, body) = sb.call(Method::POST, &path, Some(query.clone())).await;
        assert_eq!(status, StatusCode::OK, "{query} → {body}");
        assert_eq!(titles(&body), want, "{query}");
    }
    let (status, body) = sb
        .call(
            Method::POST,
            &path,
            Some(json!({"contactId": "x", "status": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        json!([
            "contactId must be an array",
            "property status should not exist"
        ])
    );
    let (status, _) = sb
        .call(
            Method::POST,
            "/locations/other/tasks/search",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn notes_have_the_full_lifecycle() {
    let sb = TestSandbox::start().await;
    let id = sb.contact("note@x.io").await;
    let base = format!("/contacts/{id}/notes");
    let (status, body) = sb
        .call(Method::POST, &base, Some(json!({"body": "Prefers email", "title": "Pref", "color": "#FFAA00", "pinned": true})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let note_id = body["note"]["id"].as_str().unwrap().to_owned();
    assert!(body["note"]["dateAdded"].as_str().unwrap().ends_with('Z'));
    let one = format!("{base}/{note_id}");
    let (status, body) = sb
        .call(Method::PUT, &one, Some(json!({"body": "Prefers SMS"})))
        .await;
    assert_eq!(
        (status, &body["note"]["body"]),
        (StatusCode::OK, &json!("Prefers SMS"))
    );
    assert_eq!(body["note"]["pinned"], true);
    let (_, body) = sb.call(Method::GET, &base, None).await;
    assert_eq!(body["notes"].as_array().unwrap().len(), 1);
    let (status, body) = sb
        .call(Method::POST, &base, Some(json!({"text": "x"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_array()
            .unwrap()
            .contains(&json!("property text should not exist"))
    );
    let (status, _) = sb.call(Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sb.call(Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let entities = sb.state.location_entities(DEMO_LOCATION_ID).unwrap();
    assert!(
        entities
            .contact_extras
            .get(&id)
            .is_none_or(|e| e.notes.is_empty())
    );
}

#[tokio::test]
async fn appointments_are_read_as_seeded() {
    let sb = TestSandbox::start().await;
    let id = sb.contact("appt@x.io").await;
    sb.state
        .seed_location(
            DEMO_LOCATION_ID,
            LocationSeed {
                appointments: vec![Appointment {
                    contact_id: id.clone(),
                    calendar_id: "cal1".into(),
                    title: "Demo call".into(),
                    start_time: "2021-07-16 11:00:00".into(),
                    end_time: "2021-07-16 11:30:00".into(),
                    appointment_status: "confirmed".into(),
                    ..Appointment::default()
                }],
                ..LocationSeed::default()
            },
        )
        .unwrap();
    let (status, body) = sb
        .call(Method::GET, &format!("/contacts/{id}/appointments"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["title"], "Demo call");
    assert_eq!(events[0]["locationId"], DEMO_LOCATION_ID);
    assert_eq!(events[0]["startTime"], "2021-07-16 11:00:00");
    let other = sb.contact("other@x.io").await;
    let (_, body) = sb
        .call(
            Method::GET,
            &format!("/contacts/{other}/appointments"),
            None,
        )
        .await;
    assert_eq!(body, json!({"events": []}));
}

#[tokio::test]
async fn followers_campaigns_and_workflows() {
    let sb = TestSandbox::start().await;
    let id = sb.contact("f@x.io").await;
    let entities = sb.state.location_entities(DEMO_LOCATION_ID).unwrap();
    let user = entities.users[0].id.clone();

    let path = format!("/contacts/{id}/followers");
    let (status, body) = sb
        .call(
            Method::POST,
            &path,
            Some(json!({"followers": [user, "u2"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["followersAdded"], json!([user, "u2"]));
    let (_, body) = sb
        .call(
            Method::POST,
            &path,
            Some(json!({"followers": ["u2", "u3"]})),
        )
        .await;
    assert_eq!(
        body,
        json!({"followers": [user, "u2", "u3"], "followersAdded": ["u3"]})
    );
    let (status, body) = sb
        .call(
            Method::DELETE,
            &path,
            Some(json!({"followers": ["u2", "u9"]})),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"followers": [user, "u3"], "followersRemoved": ["u2"]})
        )
    );
    let (_, c) = sb.call(Method::GET, &format!("/contacts/{id}"), None).await;
    assert_eq!(c["contact"]["followers"], json!([user, "u3"]));

    let campaign = entities.campaigns[0].id.clone();
    let path = format!("/contacts/{id}/campaigns/{campaign}");
    let (status, body) = sb.call(Method::POST, &path, Some(json!({}))).await;
    assert_eq!(
        (status, body),
        (StatusCode::CREATED, json!({"succeded": true}))
    );
    let (status, _) = sb.call(Method::POST, &path, Some(json!({"x": 1}))).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the body must be an empty object"
    );
    let (status, _) = sb
        .call(
            Method::POST,
            &format!("/contacts/{id}/campaigns/nope"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let extras = |sb: &TestSandbox| {
        sb.state
            .location_entities(DEMO_LOCATION_ID)
            .unwrap()
            .contact_extras
            .get(&id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(extras(&sb).campaigns, std::slice::from_ref(&campaign));
    let (status, _) = sb
        .call(
            Method::DELETE,
            &format!("/contacts/{id}/campaigns/removeAll"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(extras(&sb).campaigns.is_empty());
    sb.call(Method::POST, &path, Some(json!({}))).await;
    let (status, _) = sb.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(extras(&sb).campaigns.is_empty());

    let workflow = entities.workflows[0].id.clone();
    let path = format!("/contacts/{id}/workflow/{workflow}");
    let (status, body) = sb
        .call(
            Method::POST,
            &path,
            Some(json!({"eventStartTime": "2021-06-23T03:30:00+01:00"})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"succeded": true})));
    assert_eq!(
        extras(&sb).workflows[0].event_start_time.as_deref(),
        Some("2021-06-23T03:30:00+01:00")
    );
    let (status, _) = sb
        .call(Method::POST, &path, Some(json!({"eventStartTime": "soon"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = sb.call(Method::DELETE, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(extras(&sb).workflows.is_empty());
}

#[tokio::test]
async fn delete_removes_the_contact_and_bulk_tags_report_it_as_deleted() {
    let sb = TestSandbox::start().await;
    let keep = sb.contact("keep@x.io").await;
    let gone = sb.contact("gone@x.io").await;
    let (status, body) = sb
        .call(Method::DELETE, &format!("/contacts/{gone}"), None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"succeded": true})));
    let (status, _) = sb
        .call(Method::GET, &format!("/contacts/{gone}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = sb
        .call(Method::DELETE, &format!("/contacts/{gone}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = sb
        .call(
            Method::POST,
            "/contacts/bulk/tags/update/add",
            Some(json!({"locationId": DEMO_LOCATION_ID, "contacts": [keep, gone, "short"], "tags": ["Bulk"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["succeded"], true);
    assert_eq!(body["errorCount"], 2);
    let types: Vec<&Value> = body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["type"])
        .collect();
    assert_eq!(types, [&json!("success"), &json!("error"), &json!("error")]);
    assert_eq!(sb.state.contacts(DEMO_LOCATION_ID)[0].tags, ["bulk"]);

    let (status, body) = sb
        .call(
            Method::POST,
            "/contacts/bulk/tags/update/remove",
            Some(json!({"locationId": DEMO_LOCATION_ID, "contacts": [keep], "tags": [], "removeAllTags": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["responses"][0]["tagsRemoved"], json!(["bulk"]));
    let (status, _) = sb
        .call(
            Method::POST,
            "/contacts/bulk/tags/update/toggle",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn businesses_link_contacts_in_bulk_and_list_them() {
    let sb = TestSandbox::start().await;
    let a = sb.contact("a@biz.io").await;
    let b = sb.contact("b@biz.io").await;
    let (status, body) = sb
        .call(
            Method::POST,
            "/businesses/",
            Some(json!({"name": "Acme", "locationId": DEMO_LOCATION_ID, "city": "Springfield"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], true);
    let biz = body["buiseness"]["id"].as_str().unwrap().to_owned();
    assert_eq!(biz.len(), 24);

    let (status, body) = sb
        .call(
            Method::POST,
            "/contacts/bulk/business",
            Some(json!({"locationId": DEMO_LOCATION_ID, "ids": [a, b, "nope"], "businessId": biz})),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"success": true, "ids": [a, b]}))
    );
    let (_, c) = sb.call(Method::GET, &format!("/contacts/{a}"), None).await;
    assert_eq!(c["contact"]["businessId"], biz.as_str());

    let path = format!("/contacts/business/{biz}?locationId={DEMO_LOCATION_ID}&limit=1&skip=0");
    let (status, body) = sb.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["count"], 2);
    assert_eq!(body["contacts"].as_array().unwrap().len(), 1);
    let (status, _) = sb
        .call(
            Method::GET,
            &format!("/contacts/business/{biz}?locationId={DEMO_LOCATION_ID}&limit=ten"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, _) = sb
        .call(
            Method::POST,
            "/contacts/bulk/business",
            Some(json!({"locationId": DEMO_LOCATION_ID, "ids": [a], "businessId": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = sb.call(Method::GET, &path, None).await;
    assert_eq!(body["count"], 1);
    let (status, _) = sb
        .call(Method::POST, "/contacts/bulk/business", Some(json!({"locationId": DEMO_LOCATION_ID, "ids": [a], "businessId": "000000000000000000000000"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = sb
        .call(
            Method::PUT,
            &format!("/businesses/{biz}"),
            Some(json!({"phone": "+15550100000"})),
        )
        .await;
    assert_eq!(
        (status, &body["buiseness"]["phone"]),
        (StatusCode::OK, &json!("+15550100000"))
    );
    let (status, body) = sb
        .call(
            Method::GET,
            &format!("/businesses/?locationId={DEMO_LOCATION_ID}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["businesses"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let (status, _) = sb
        .call(Method::DELETE, &format!("/businesses/{biz}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, c) = sb.call(Method::GET, &format!("/contacts/{b}"), None).await;
    assert!(
        c["contact"].get("businessId").is_none(),
        "members are detached"
    );
    let (status, _) = sb
        .call(Method::GET, &format!("/businesses/{biz}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
