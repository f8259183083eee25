//! Contacts: create, get, update, upsert (with custom fields), delete, duplicate search,
//! appointments, business links; and the location settings the writer reads.

use relay_ghl::types::{
    BusinessContacts, BusinessContactsUpdate, CreateContact, CustomFieldInput, DndSetting,
    DndSettings, DndStatus, InboundDndSetting, InboundDndSettings, InboundDndStatus, UpdateContact,
    UpsertContact,
};
use relay_sandbox::{Appointment, LocationSeed, NewLocation};
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::Ghl;

/// The demo location's custom field id for `key` (`contact.<name>`).
fn field_id(ghl: &Ghl, key: &str) -> String {
    ghl.state
        .location(ghl.location())
        .expect("demo location")
        .custom_fields
        .into_iter()
        .find(|f| f.field_key == key)
        .unwrap_or_else(|| panic!("no custom field {key}"))
        .id
}

#[tokio::test]
async fn create_then_get_reads_back_every_field_written() {
    let ghl = Ghl::start().await;
    let ltv = field_id(&ghl, "contact.lifetime_value");
    let body = CreateContact {
        location_id: ghl.location().into(),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some("ada@example.com".into()),
        phone: Some("+1 888-555-0101".into()),
        gender: Some("female".into()),
        city: Some("London".into()),
        country: Some("GB".into()),
        company_name: Some("Analytical Engines".into()),
        source: Some("relay test".into()),
        date_of_birth: Some("1815-12-10".into()),
        dnd: Some(false),
        dnd_settings: Some(DndSettings {
            email: Some(DndSetting {
                status: DndStatus::Active,
                message: Some("asked".into()),
                code: None,
            }),
            ..DndSettings::default()
        }),
        inbound_dnd_settings: Some(InboundDndSettings {
            all: Some(InboundDndSetting {
                status: InboundDndStatus::Inactive,
                message: None,
            }),
        }),
        tags: vec!["Customer".into(), "vip".into()],
        custom_fields: vec![
            CustomFieldInput::by_key("contact.gumroad_customer_id", "gum-1"),
            CustomFieldInput::by_id(&ltv, 12.5),
        ],
        ..CreateContact::default()
    };
    let created = ghl
        .client
        .create_contact(&ghl.token, &body)
        .await
        .expect("create");
    assert_eq!(created.status, 201);
    let id = created.body.contact.id.clone();

    let got = ghl.get(&id).await.contact;
    assert_eq!(got.id, id);
    assert_eq!(got.location_id.as_deref(), Some(ghl.location()));
    assert_eq!(got.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        got.phone.as_deref(),
        Some("+18885550101"),
        "stored as E.164"
    );
    assert_eq!(got.first_name.as_deref(), Some("Ada"));
    assert_eq!(got.company_name.as_deref(), Some("Analytical Engines"));
    assert_eq!(got.tags, ["customer", "vip"], "GHL stores tags lower-cased");
    assert_eq!(
        got.dnd_settings
            .as_ref()
            .and_then(|d| d.email.as_ref())
            .map(|s| s.status),
        Some(DndStatus::Active)
    );
    let gumroad = field_id(&ghl, "contact.gumroad_customer_id");
    assert_eq!(got.custom_field(&gumroad), Some(&json!("gum-1")));
    assert_eq!(got.custom_field(&ltv), Some(&json!(12.5)));
    assert!(got.date_added.is_some() && got.date_updated.is_some());
    assert_eq!(got.extra["city"], "London", "untyped fields stay in extra");
}

#[tokio::test]
async fn update_changes_only_what_is_set_and_tags_replace() {
    let ghl = Ghl::start().await;
    let body = CreateContact {
        location_id: ghl.location().into(),
        email: Some("grace@example.com".into()),
        first_name: Some("Grace".into()),
        city: Some("Arlington".into()),
        tags: vec!["old".into(), "keep".into()],
        ..CreateContact::default()
    };
    let id = ghl
        .client
        .create_contact(&ghl.token, &body)
        .await
        .expect("create")
        .body
        .contact
        .id;
    let update = UpdateContact {
        last_name: Some("Hopper".into()),
        tags: Some(vec!["keep".into(), "new".into()]),
        custom_fields: vec![CustomFieldInput::by_key(
            "contact.external_customer_id",
            "ext-9",
        )],
        ..UpdateContact::default()
    };
    let resp = ghl
        .client
        .update_contact(&ghl.token, &id, &update)
        .await
        .expect("update");
    assert!(resp.body.succeeded);
    assert_eq!(resp.body.contact.last_name.as_deref(), Some("Hopper"));

    let got = ghl.get(&id).await.contact;
    assert_eq!(
        got.first_name.as_deref(),
        Some("Grace"),
        "unset fields stay"
    );
    assert_eq!(got.last_name.as_deref(), Some("Hopper"));
    assert_eq!(got.extra["city"], "Arlington");
    assert_eq!(got.tags, ["keep", "new"]);
    let ext = field_id(&ghl, "contact.external_customer_id");
    assert_eq!(got.custom_field(&ext), Some(&json!("ext-9")));
}

#[tokio::test]
async fn upsert_creates_then_matches_and_writes_custom_fields() {
    let ghl = Ghl::start().await;
    let ltv = field_id(&ghl, "contact.lifetime_value");
    let mut body = UpsertContact {
        location_id: ghl.location().into(),
        email: Some("Linus@Example.com".into()),
        first_name: Some("Linus".into()),
        custom_fields: vec![CustomFieldInput::by_key("contact.lifetime_value", 10)],
        ..UpsertContact::default()
    };
    let first = ghl
        .client
        .upsert_contact(&ghl.token, &body)
        .await
        .expect("upsert");
    assert_eq!(first.status, 200);
    assert!(first.body.new);

    body.email = Some("linus@example.com".into());
    body.phone = Some("+15555550123".into());
    body.custom_fields = vec![CustomFieldInput::by_id(&ltv, 99.5)];
    let second = ghl
        .client
        .upsert_contact(&ghl.token, &body)
        .await
        .expect("upsert again");
    assert!(!second.body.new, "matched by email, case-insensitively");
    assert_eq!(second.body.contact.id, first.body.contact.id);

    let got = ghl.get(&first.body.contact.id).await.contact;
    assert_eq!(got.phone.as_deref(), Some("+15555550123"));
    assert_eq!(got.custom_field(&ltv), Some(&json!(99.5)));
    assert_eq!(ghl.state.contacts(ghl.location()).len(), 1);
}

#[tokio::test]
async fn delete_makes_the_contact_404() {
    let ghl = Ghl::start().await;
    let id = ghl.contact("gone@example.com").await;
    let resp = ghl
        .client
        .delete_contact(&ghl.token, &id)
        .await
        .expect("delete");
    assert!(resp.body.succeeded);
    let err = ghl
        .client
        .get_contact(&ghl.token, &id)
        .await
        .expect_err("deleted");
    assert!(err.is_not_found(), "{err}");
    assert!(ghl.entities().deleted_contacts.contains(&id));
}

#[tokio::test]
async fn duplicate_search_finds_by_email_or_phone() {
    let ghl = Ghl::start().await;
    let body = UpsertContact {
        location_id: ghl.location().into(),
        email: Some("dup@example.com".into()),
        phone: Some("+15555550199".into()),
        ..UpsertContact::default()
    };
    let id = ghl
        .client
        .upsert_contact(&ghl.token, &body)
        .await
        .expect("upsert")
        .body
        .contact
        .id;
    let by_email = ghl
        .client
        .find_duplicate(&ghl.token, ghl.location(), Some("DUP@example.com"), None)
        .await
        .expect("by email");
    assert_eq!(by_email.body.contact.map(|c| c.id), Some(id.clone()));
    // `+` must be percent-encoded: sent raw it decodes to a space and matches nothing.
    let by_phone = ghl
        .client
        .find_duplicate(&ghl.token, ghl.location(), None, Some("+15555550199"))
        .await
        .expect("by phone");
    assert_eq!(by_phone.body.contact.map(|c| c.id), Some(id));
    let none = ghl
        .client
        .find_duplicate(&ghl.token, ghl.location(), Some("nobody@example.com"), None)
        .await
        .expect("no match");
    assert!(none.body.contact.is_none());
}

#[tokio::test]
async fn appointments_of_a_contact_are_listed() {
    let ghl = Ghl::start().await;
    let id = ghl.contact("patient@example.com").await;
    let other = ghl.contact("other@example.com").await;
    ghl.state
        .seed_location(
            ghl.location(),
            LocationSeed {
                appointments: vec![
                    Appointment {
                        contact_id: id.clone(),
                        calendar_id: "cal-1".into(),
                        title: "Intro call".into(),
                        status: "booked".into(),
                        start_time: "2026-07-16 11:00:00".into(),
                        end_time: "2026-07-16 11:30:00".into(),
                        ..Appointment::default()
                    },
                    Appointment {
                        contact_id: other,
                        title: "Someone else's".into(),
                        ..Appointment::default()
                    },
                ],
                ..LocationSeed::default()
            },
        )
        .expect("seed");
    let events = ghl
        .client
        .get_appointments(&ghl.token, &id)
        .await
        .expect("appointments")
        .body
        .events;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert!(!e.id.is_empty());
    assert_eq!(e.contact_id.as_deref(), Some(id.as_str()));
    assert_eq!(e.title.as_deref(), Some("Intro call"));
    assert_eq!(e.calendar_id.as_deref(), Some("cal-1"));
    assert_eq!(e.start_time.as_deref(), Some("2026-07-16 11:00:00"));
}

/// Creates a business on the demo location (`POST /businesses/`, outside the client's scope).
async fn business(ghl: &Ghl, name: &str) -> String {
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/businesses/", ghl.base))
        .bearer_auth(relay_sandbox::DEMO_TOKEN)
        .header("Version", relay_ghl::API_VERSION)
        .json(&json!({"name": name, "locationId": ghl.location()}))
        .send()
        .await
        .expect("create business")
        .json()
        .await
        .expect("business JSON");
    resp["buiseness"]["id"]
        .as_str()
        .expect("business id")
        .to_owned()
}

#[tokio::test]
async fn contacts_link_to_a_business_and_list_by_it() {
    let ghl = Ghl::start().await;
    let acme = business(&ghl, "Acme").await;
    let a = ghl.contact("a@acme.test").await;
    let b = ghl.contact("b@acme.test").await;
    let c = ghl.contact("c@acme.test").await;
    let linked = ghl
        .client
        .update_business_contacts(
            &ghl.token,
            &BusinessContactsUpdate {
                location_id: ghl.location().into(),
                ids: vec![a.clone(), b.clone(), c.clone()],
                business_id: Some(acme.clone()),
            },
        )
        .await
        .expect("link");
    assert!(linked.body.success);
    assert_eq!(linked.body.ids.len(), 3);
    assert_eq!(
        ghl.get(&a).await.contact.business_id.as_deref(),
        Some(acme.as_str())
    );

    // Offset paging: two, then one.
    let mut query = BusinessContacts {
        location_id: ghl.location().into(),
        limit: Some(2),
        ..BusinessContacts::default()
    };
    let first = ghl
        .client
        .contacts_by_business(&ghl.token, &acme, &query)
        .await
        .expect("page 1")
        .body;
    assert_eq!((first.contacts.len(), first.count), (2, 3));
    query.skip = Some(2);
    let second = ghl
        .client
        .contacts_by_business(&ghl.token, &acme, &query)
        .await
        .expect("page 2")
        .body;
    assert_eq!(second.contacts.len(), 1);
    let mut seen: Vec<String> = first
        .contacts
        .iter()
        .chain(&second.contacts)
        .map(|c| c.id.clone())
        .collect();
    seen.sort();
    let mut want = vec![a.clone(), b, c];
    want.sort();
    assert_eq!(seen, want);

    // `businessId: null` detaches.
    ghl.client
        .update_business_contacts(
            &ghl.token,
            &BusinessContactsUpdate {
                location_id: ghl.location().into(),
                ids: vec![a.clone()],
                business_id: None,
            },
        )
        .await
        .expect("detach");
    assert_eq!(ghl.get(&a).await.contact.business_id, None);
}

#[tokio::test]
async fn the_location_says_whether_duplicates_are_allowed() {
    let ghl = Ghl::start().await;
    let demo = ghl
        .client
        .get_location(&ghl.token, ghl.location())
        .await
        .expect("demo location")
        .body
        .location;
    assert_eq!(demo.id, ghl.location());
    assert_eq!(demo.settings.allow_duplicate_contact, Some(false));

    ghl.state
        .add_location(NewLocation {
            allow_duplicate_contact: true,
            ..NewLocation::new("dupes-ok", "pit-dupes-ok")
        })
        .expect("location");
    let token = SecretString::from("pit-dupes-ok");
    let other = ghl
        .client
        .get_location(&token, "dupes-ok")
        .await
        .expect("other location")
        .body
        .location;
    assert_eq!(other.settings.allow_duplicate_contact, Some(true));
    assert_eq!(
        other.company_id.as_deref(),
        Some(relay_sandbox::DEMO_COMPANY_ID)
    );

    // With duplicates allowed, create does not look for a match.
    let body = CreateContact {
        location_id: "dupes-ok".into(),
        email: Some("twice@example.com".into()),
        ..CreateContact::default()
    };
    let one = ghl.client.create_contact(&token, &body).await.expect("one");
    let two = ghl.client.create_contact(&token, &body).await.expect("two");
    assert_ne!(one.body.contact.id, two.body.contact.id);
}
