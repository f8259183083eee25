//! Search (filters, sort, `searchAfter` paging over more than a page) and the deprecated list
//! (keyset paging by `meta.startAfter`/`startAfterId`).

use std::collections::BTreeSet;
use std::time::Duration;

use relay_ghl::types::{
    CustomFieldInput, ListContacts, Range, SearchContacts, SearchFilter, SearchSort, SortField,
    UpsertContact,
};

use crate::helpers::Ghl;

/// Upserts `n` contacts tagged `tag` (emails `<prefix><i>@example.com`); their ids.
async fn contacts(ghl: &Ghl, prefix: &str, tag: &str, n: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let body = UpsertContact {
            location_id: ghl.location().into(),
            email: Some(format!("{prefix}{i}@example.com")),
            tags: Some(vec![tag.into()]),
            ..UpsertContact::default()
        };
        let resp = ghl
            .client
            .upsert_contact(&ghl.token, &body)
            .await
            .expect("upsert");
        ids.insert(resp.body.contact.id);
    }
    ids
}

#[tokio::test]
async fn search_after_pages_through_more_than_one_page() {
    let ghl = Ghl::start().await;
    let want = contacts(&ghl, "page", "paged", 230).await;
    contacts(&ghl, "noise", "other", 5).await;

    let first = SearchContacts::new(ghl.location(), 100)
        .filter(SearchFilter::tag("paged"))
        .sort(SearchSort::asc(SortField::DateAdded));
    let mut request = first.clone();
    let mut seen = BTreeSet::new();
    let mut sizes = Vec::new();
    loop {
        let page = ghl
            .client
            .search_contacts(&ghl.token, &request)
            .await
            .expect("search")
            .body;
        assert_eq!(page.total, 230);
        sizes.push(page.contacts.len());
        for c in &page.contacts {
            assert!(seen.insert(c.id.clone()), "{} twice", c.id);
            assert!(c.tags.contains(&"paged".to_owned()));
        }
        match page.next_cursor() {
            Some(cursor) => request = first.clone().search_after(cursor),
            None => break,
        }
    }
    assert_eq!(sizes, [100, 100, 30, 0]);
    assert_eq!(seen, want);
}

#[tokio::test]
async fn search_filters_by_email_phone_custom_field_and_update_window() {
    let ghl = Ghl::start().await;
    let plain = contacts(&ghl, "plain", "x", 3).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let body = UpsertContact {
        location_id: ghl.location().into(),
        email: Some("Target@Example.com".into()),
        phone: Some("+15555550142".into()),
        custom_fields: vec![CustomFieldInput::by_key(
            "contact.gumroad_customer_id",
            "gum-42",
        )],
        ..UpsertContact::default()
    };
    let target = ghl
        .client
        .upsert_contact(&ghl.token, &body)
        .await
        .expect("upsert")
        .body
        .contact;

    let only = |filter: SearchFilter| SearchContacts::new(ghl.location(), 10).filter(filter);
    for (what, filter) in [
        ("email", SearchFilter::email("target@example.com")),
        ("phone", SearchFilter::phone("+15555550142")),
        (
            "custom field by key",
            SearchFilter::custom_field("contact.gumroad_customer_id", "gum-42"),
        ),
        (
            "custom field by id",
            SearchFilter::custom_field(&target.custom_fields[0].id, "gum-42"),
        ),
    ] {
        let page = ghl
            .client
            .search_contacts(&ghl.token, &only(filter))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .body;
        let ids: Vec<_> = page.contacts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, [target.id.as_str()], "{what}");
    }

    // The writer's lookup by external id: the contact's id, or none.
    let found = ghl
        .client
        .find_by_custom_field(
            &ghl.token,
            ghl.location(),
            "contact.gumroad_customer_id",
            "gum-42",
        )
        .await
        .expect("find by custom field");
    assert_eq!(found.body.as_deref(), Some(target.id.as_str()));
    let missing = ghl
        .client
        .find_by_custom_field(
            &ghl.token,
            ghl.location(),
            "contact.gumroad_customer_id",
            "gum-0",
        )
        .await
        .expect("find nothing");
    assert_eq!(missing.body, None);

    // A poller's window: contacts updated since a moment, oldest first.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = ghl
        .get(&target.id)
        .await
        .contact
        .date_updated
        .expect("dateUpdated");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let touched = plain.iter().next().expect("a contact").clone();
    ghl.client
        .add_tags(&ghl.token, &touched, &["touched".into()])
        .await
        .expect("tag");
    let window = SearchContacts::new(ghl.location(), 10)
        .filter(SearchFilter::date_updated(Range::since(since)))
        .sort(SearchSort::asc(SortField::DateUpdated));
    let page = ghl
        .client
        .search_contacts(&ghl.token, &window)
        .await
        .expect("window")
        .body;
    let ids: Vec<_> = page.contacts.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, [target.id.clone(), touched]);

    // Groups: any of two tags.
    let either = SearchContacts::new(ghl.location(), 10).filter(SearchFilter::any(vec![
        SearchFilter::tag("touched"),
        SearchFilter::email("target@example.com"),
    ]));
    let page = ghl
        .client
        .search_contacts(&ghl.token, &either)
        .await
        .expect("group")
        .body;
    assert_eq!(page.total, 2);
}

#[tokio::test]
async fn the_deprecated_list_pages_by_start_after() {
    let ghl = Ghl::start().await;
    let want = contacts(&ghl, "list", "listed", 130).await;
    let mut query = ListContacts {
        location_id: ghl.location().into(),
        limit: Some(50),
        ..ListContacts::default()
    };
    let mut seen = BTreeSet::new();
    let mut sizes = Vec::new();
    loop {
        let page = ghl
            .client
            .list_contacts(&ghl.token, &query)
            .await
            .expect("list")
            .body;
        assert_eq!(page.count, 130);
        sizes.push(page.contacts.len());
        for c in &page.contacts {
            assert!(seen.insert(c.id.clone()), "{} twice", c.id);
        }
        match query.next(&page) {
            Some(next) => query = next,
            None => break,
        }
    }
    assert_eq!(sizes, [50, 50, 30]);
    assert_eq!(seen, want);
}
