//! Rule semantics: every match condition, templates and filters in steps, stop/continue,
//! per-product rules, connection defaults, plan grouping and ids, and mapping errors.

#![allow(clippy::unwrap_used)]

use relay_contracts::event::{Customer, Item, Money, Order, StorefrontEvent, Subscription};
use relay_contracts::ids::EventId;
use relay_contracts::plan::{ContactPlan, Lookup, Step};
use relay_contracts::version::V1;
use serde_json::json;
use time::macros::datetime;

use super::*;

/// A Gumroad-style sale of two products (1500 + 500 EUR cents) with attributes.
fn sale() -> StorefrontEvent {
    let eur = |minor| Money {
        minor,
        currency: "EUR".into(),
    };
    StorefrontEvent {
        v: relay_contracts::version::V1,
        id: EventId::derive(&["gumroad", "demo", "sale-1"]),
        source: Source::Gumroad,
        connection: Token::parse("demo").unwrap(),
        kind: EventKind::OrderPaid,
        occurred_at: datetime!(2026-03-14 22:30:00 UTC),
        received_at: datetime!(2026-03-14 22:30:05 UTC),
        idempotency_key: "sale-1".into(),
        test: false,
        source_event: "sale".into(),
        customer: Customer {
            external_id: Some("cust-42".into()),
            email: Some("ada@example.com".into()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            ..Default::default()
        },
        order: Some(Order {
            id: "o-1".into(),
            items: vec![
                Item {
                    product_id: Some("prod_rust".into()),
                    product_name: Some("Rust for Storefronts".into()),
                    quantity: 1,
                    amount: Some(eur(1500)),
                },
                Item {
                    product_id: Some("prod_mug".into()),
                    product_name: Some("Crab Mug".into()),
                    quantity: 2,
                    amount: Some(eur(500)),
                },
            ],
            total: Some(eur(2000)),
            coupon: Some("SPRING25".into()),
        }),
        subscription: Some(Subscription {
            id: "sub_1".into(),
            status: Some("active".into()),
            interval: Some("month".into()),
            next_charge_at: Some(datetime!(2026-04-14 09:00:00 UTC)),
        }),
        message: Some("Thanks!".into()),
        attributes: json!({
            "offer_code": "SPRING25",
            "quantity": "1",
            "custom_fields": {"Company": "ACME Ltd"},
            "product_ids": ["12", "3"],
            "referrer": "https://news.example.com/story",
            "flag": true,
        })
        .as_object()
        .unwrap()
        .clone(),
        raw: None,
    }
}

/// A connection (Gumroad, no playbook unless `extra` says so) with `rules` (YAML list items
/// indented by 6) and any extra connection keys (indented by 4).
fn connection(extra: &str, rules: &str) -> CompiledConnection {
    let yaml = format!(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: loc-1\n{extra}    rules:\n{rules}"
    );
    let yaml = if extra.contains("playbook:") {
        yaml
    } else {
        yaml.replace("    rules:\n", "    playbook: none\n    rules:\n")
    };
    match compile_file(&yaml, "test.yaml") {
        Ok(mut c) => c.remove(0),
        Err(e) => panic!("{yaml}\n{e:#?}"),
    }
}

fn tags(plans: &[ContactPlan]) -> Vec<String> {
    plans
        .iter()
        .flat_map(|p| &p.steps)
        .filter_map(|s| match s {
            Step::AddTags { tags } => Some(tags.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn tags_for(c: &CompiledConnection, e: &StorefrontEvent) -> Vec<String> {
    tags(&c.plans(e).unwrap())
}

/// One rule per condition, each adding its own tag.
const CONDITIONS: &str = r#"
      - { match: { kind: order.paid }, steps: [{ add_tags: [kind-one] }] }
      - { match: { kind: [order.refunded, order.paid] }, steps: [{ add_tags: [kind-list] }] }
      - { match: { kind: "subscription.*" }, steps: [{ add_tags: [kind-glob] }] }
      - { match: { source: gumroad }, steps: [{ add_tags: [source] }] }
      - { match: { source_event: "sal?" }, steps: [{ add_tags: [source-event] }] }
      - { match: { product_id: "prod_r*" }, steps: [{ add_tags: [product-id] }] }
      - { match: { product_id: [nope, prod_mug] }, steps: [{ add_tags: [product-id-exact] }] }
      - { match: { product_name: "crab*" }, steps: [{ add_tags: [product-name] }] }
      - { match: { product_id: prod_rust, product_name: "crab*" }, steps: [{ add_tags: [same-product] }] }
      - { match: { amount: { min: 1000, max: 2000 } }, steps: [{ add_tags: [amount-range] }] }
      - { match: { amount: { min: 2001 } }, steps: [{ add_tags: [amount-min] }] }
      - { match: { amount: { max: 2000 } }, steps: [{ add_tags: [amount-max] }] }
      - { match: { currency: [usd, eur] }, steps: [{ add_tags: [currency] }] }
      - { match: { test: false }, steps: [{ add_tags: [live] }] }
      - { match: { test: true }, steps: [{ add_tags: [test] }] }
      - { match: { attributes: { offer_code: SPRING25 } }, steps: [{ add_tags: [attr-equals] }] }
      - { match: { attributes: { quantity: 1 } }, steps: [{ add_tags: [attr-as-text] }] }
      - { match: { attributes: { flag: "true" } }, steps: [{ add_tags: [attr-bool] }] }
      - { match: { attributes: { custom_fields.Company: { exists: true } } }, steps: [{ add_tags: [attr-nested] }] }
      - { match: { attributes: { missing: { exists: false } } }, steps: [{ add_tags: [attr-absent] }] }
      - { match: { attributes: { product_ids: 3 } }, steps: [{ add_tags: [attr-list] }] }
      - { match: { attributes: { product_ids.0: "12" } }, steps: [{ add_tags: [attr-index] }] }
      - { match: { attributes: { referrer: { glob: "https://news.*" } } }, steps: [{ add_tags: [attr-glob] }] }
      - { match: { attributes: { offer_code: { in: [WINTER, SPRING25] } } }, steps: [{ add_tags: [attr-in] }] }
      - { match: { when: "order.total.minor >= 2000 and customer.email is endingwith('@example.com')" }, steps: [{ add_tags: [when] }] }
      - { match: { when: "vars.missing.deeper > 3" }, steps: [{ add_tags: [when-on-missing-data] }] }
"#;

#[test]
fn every_condition_matches_what_it_says() {
    let c = connection("", CONDITIONS);
    assert_eq!(
        tags_for(&c, &sale()),
        [
            "kind-one",
            "kind-list",
            "source",
            "source-event",
            "product-id",
            "product-id-exact",
            "product-name",
            "amount-range",
            "amount-max",
            "currency",
            "live",
            "attr-equals",
            "attr-as-text",
            "attr-bool",
            "attr-nested",
            "attr-absent",
            "attr-list",
            "attr-index",
            "attr-glob",
            "attr-in",
            "when",
        ]
    );

    // The other side of each condition.
    let mut e = sale();
    e.kind = EventKind::SubscriptionRenewed;
    e.source_event = "subscription_renewal".into();
    e.test = true;
    e.order.as_mut().unwrap().total = Some(Money {
        minor: 2500,
        currency: "GBP".into(),
    });
    e.order.as_mut().unwrap().items.remove(0);
    e.attributes = json!({"offer_code": "OTHER", "missing": null, "product_ids": ["4"]})
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(
        tags_for(&c, &e),
        [
            "kind-glob",
            "source",
            "product-id-exact",
            "product-name",
            "amount-min",
            "test",
            "attr-absent",
            "when",
        ]
    );

    // No order and no amount attributes: amount and currency conditions do not hold.
    e.order = None;
    e.attributes.clear();
    assert!(!tags_for(&c, &e).iter().any(|t| t.starts_with("amount")));
    // Without an order, the amount is `attributes.amount_minor` in `attributes.currency`.
    e.attributes = json!({"amount_minor": 1500, "currency": "eur"})
        .as_object()
        .unwrap()
        .clone();
    let t = tags_for(&c, &e);
    assert!(
        t.contains(&"amount-range".into()) && t.contains(&"currency".into()),
        "{t:?}"
    );
}

#[test]
fn products_come_from_the_order_else_the_attributes() {
    let c = connection(
        "",
        r#"
      - match: { product_name: "mobile*" }
        for_each: product
        steps: [{ add_tags: ["{{ product.id }}-{{ product.name | slug }}"] }]
"#,
    );
    let mut e = sale();
    e.order = None;
    e.attributes = json!({"product_ids": ["12", "3"], "product_names": ["Mobile App", "Bump"]})
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(tags_for(&c, &e), ["12-mobile-app"]);
    e.attributes = json!({"product_id": "77", "product_name": "Mobile Mug"})
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(tags_for(&c, &e), ["77-mobile-mug"]);
    e.attributes.clear();
    assert!(c.plans(&e).unwrap().is_empty(), "no products: no match");
}

#[test]
fn per_product_rules_run_once_per_accepted_product() {
    let c = connection(
        "",
        r#"
      - name: every-product
        for_each: product
        steps:
          - add_tags: ["p-{{ product.name | slug }}"]
          - create_note: { body: "{{ product.quantity }} x {{ product.name }} at {{ product.amount | money }}" }
      - name: mugs-only
        match: { product_name: "*mug*" }
        for_each: product
        steps: [{ add_tags: ["mug-{{ product.id }}"] }]
      - name: first-accepted
        match: { product_id: "prod_m*" }
        steps: [{ add_tags: ["first-{{ product.id }}-of-{{ products | length }}"] }]
"#,
    );
    let plans = c.plans(&sale()).unwrap();
    assert_eq!(plans.len(), 1);
    let steps = &plans[0].steps;
    let notes: Vec<&str> = steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateNote { body, .. } => Some(body.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        notes,
        [
            "1 x Rust for Storefronts at EUR 15.00",
            "2 x Crab Mug at EUR 5.00"
        ]
    );
    let keys: Vec<&str> = steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateNote { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    assert_ne!(keys[0], keys[1], "one key per product");
    assert_eq!(
        tags(&plans),
        [
            "p-rust-for-storefronts",
            "p-crab-mug",
            "mug-prod_mug",
            "first-prod_mug-of-2"
        ]
    );
}

#[test]
fn continue_adds_up_and_stop_ends_the_evaluation_playbook_included() {
    // BMC: the playbook tags a paid donation `donor`.
    let yaml = |rules: &str| {
        format!(
            "connections:\n  - source: bmc\n    name: demo\n    location_id: loc-1\n    rules:\n{rules}"
        )
    };
    let mut e = sale();
    e.source = Source::Bmc;
    e.message = None;
    let compile = |rules: &str| compile_file(&yaml(rules), "t.yaml").unwrap().remove(0);

    let c = compile(
        "      - { match: { kind: order.paid }, steps: [upsert_contact, { add_tags: [vip] }] }\n",
    );
    assert_eq!(
        tags_for(&c, &e),
        ["vip", "donor"],
        "continue is the default"
    );

    let c = compile(
        "      - { match: { kind: order.paid }, steps: [upsert_contact, { add_tags: [vip] }], then: stop }\n      - { steps: [{ add_tags: [never] }] }\n",
    );
    assert_eq!(
        tags_for(&c, &e),
        ["vip"],
        "stop: no later rule, no playbook"
    );

    // A rule without steps that stops silences the events it matches.
    let c = compile("      - { match: { test: true }, then: stop }\n");
    e.test = true;
    assert!(c.plans(&e).unwrap().is_empty());
    e.test = false;
    assert_eq!(tags_for(&c, &e), ["donor"]);

    // A rule that does not match does not stop anything.
    let c = compile(
        "      - { match: { kind: order.refunded }, steps: [{ add_tags: [x] }], then: stop }\n",
    );
    assert_eq!(tags_for(&c, &e), ["donor"]);

    // A disabled rule is skipped, `then: stop` included.
    let c = compile("      - { enabled: false, steps: [{ add_tags: [off] }], then: stop }\n");
    assert_eq!(tags_for(&c, &e), ["donor"]);
}

#[test]
fn templates_and_filters_render_with_the_event_and_the_connection() {
    let c = connection(
        "    timezone: Europe/Berlin\n    defaults: { vars: { team: Sales } }\n",
        r#"
      - name: render
        steps:
          - upsert_contact
          - add_tags: ["{{ order.items[0].product_name | slug }}", "team-{{ vars.team | lower }}", "{{ connection.key }}"]
          - create_task:
              key: "follow-up-{{ order.id }}"
              title: "{{ customer.first_name }}: {{ order.total | money }} ({{ order.total.minor | money(order.total.currency) }})"
              body: "Bought {{ occurred_at | date('%d.%m.%Y %H:%M %Z') }}; next charge {{ subscription.next_charge_at | date }}"
              due: "{{ occurred_at | add_days(2) }}"
          - create_task: { key: "local-day", title: t, due: "{{ occurred_at | date('%Y-%m-%d') }}" }
          - create_task: { key: "add-months", title: t, due: "{{ occurred_at | add_months(1) }}" }
          - add_to_workflow: { workflow_id: "wf-{{ rule.name }}", event_start_time: "{{ occurred_at }}" }
          - create_note: { body: "{{ order.coupon }}|{{ missing.deeply.nested }}|{{ rule.id }}|{{ connection.location_id }}" }
"#,
    );
    let plans = c.plans(&sale()).unwrap();
    let steps = &plans[0].steps;
    assert_eq!(
        steps[1],
        Step::AddTags {
            tags: vec![
                "rust-for-storefronts".into(),
                "team-sales".into(),
                "gumroad.demo".into()
            ]
        }
    );
    assert_eq!(
        steps[2],
        Step::CreateTask {
            key: "follow-up-o-1".into(),
            title: "Ada: EUR 20.00 (EUR 20.00)".into(),
            // 22:30 UTC is 23:30 in Berlin; the next charge is a day in Berlin too.
            body: Some("Bought 14.03.2026 23:30 CET; next charge 2026-04-14".into()),
            due_date: "2026-03-16T22:30:00Z".into(),
            assigned_to: None,
        }
    );
    // A date is midnight in the connection's time zone.
    assert!(
        matches!(&steps[3], Step::CreateTask { due_date, .. } if due_date == "2026-03-13T23:00:00Z")
    );
    assert!(
        matches!(&steps[4], Step::CreateTask { due_date, .. } if due_date == "2026-04-14T21:30:00Z")
    );
    assert_eq!(
        steps[5],
        Step::AddToWorkflow {
            workflow_id: "wf-render".into(),
            event_start_time: Some("2026-03-14T22:30:00Z".into())
        }
    );
    assert!(
        matches!(&steps[6], Step::CreateNote { body, .. } if body == "SPRING25||rules/render|loc-1"),
        "{:?}",
        steps[6]
    );
}

#[test]
fn steps_that_render_to_nothing_are_left_out() {
    let c = connection(
        "",
        r#"
      - steps:
          - add_tags: ["{{ attributes.nothing }}", "{{ '  ' }}"]
          - create_note: { body: "{% if false %}never{% endif %}" }
          - add_to_campaign: { campaign_id: "{{ vars.campaign }}" }
          - update_task: { key: k, title: "{{ nope }}" }
          - add_tags: [kept, kept]
"#,
    );
    let plans = c.plans(&sale()).unwrap();
    assert_eq!(
        plans[0].steps,
        [Step::AddTags {
            tags: vec!["kept".into()]
        }]
    );
    let c = connection("", "      - steps: [{ add_tags: [\"{{ nothing }}\"] }]\n");
    assert!(c.plans(&sale()).unwrap().is_empty(), "no steps, no plan");
}

#[test]
fn connection_defaults_apply_to_every_rule() {
    let c = connection(
        r#"    defaults:
      tags: [relay, "src-{{ source }}"]
      assigned_to: "{{ vars.owner }}"
      task_due_in_days: 3
      fields: { source: "Relay ({{ connection.name }})", website: "https://example.com" }
      custom_fields: { lead_source: "{{ source }}", order_id: "{{ order.id }}" }
      vars: { owner: user-7 }
"#,
        r#"
      - name: a
        contact: { fields: { website: "" }, custom_fields: { order_id: "override-{{ order.id }}" } }
        steps:
          - upsert_contact
          - add_tags: [a]
          - create_task: { title: "default due and assignee" }
          - create_task: { title: "own assignee", assigned_to: user-9 }
"#,
    );
    let plans = c.plans(&sale()).unwrap();
    let p = &plans[0];
    assert_eq!(p.steps[0], Step::UpsertContact);
    assert_eq!(
        p.steps[1],
        Step::AddTags {
            tags: vec!["relay".into(), "src-gumroad".into(), "a".into()]
        },
        "default tags follow the upsert (merged with the rule's)"
    );
    assert_eq!(
        p.steps[2],
        Step::CreateTask {
            key: format!("rules/a:2:{}", sale().id),
            title: "default due and assignee".into(),
            body: None,
            due_date: "2026-03-17T22:30:00Z".into(),
            assigned_to: Some("user-7".into()),
        }
    );
    assert!(matches!(&p.steps[3], Step::CreateTask { assigned_to: Some(a), .. } if a == "user-9"));
    assert_eq!(p.contact.fields.source.as_deref(), Some("Relay (demo)"));
    assert_eq!(
        p.contact.fields.website, None,
        "the rule's empty field unsets it"
    );
    assert_eq!(p.contact.fields.first_name.as_deref(), Some("Ada"));
    assert_eq!(p.contact.custom_fields["lead_source"], "gumroad");
    assert_eq!(p.contact.custom_fields["order_id"], "override-o-1");

    // No upsert or create in the plan: no default tags.
    let c = connection(
        "    defaults: { tags: [relay] }\n",
        "      - steps: [{ create_note: { body: hi } }]\n",
    );
    assert_eq!(tags_for(&c, &sale()), Vec::<String>::new());
    // `create_contact` gets them too.
    let c = connection(
        "    defaults: { tags: [relay] }\n",
        "      - steps: [create_contact, { create_note: { body: hi } }]\n",
    );
    assert_eq!(
        c.plans(&sale()).unwrap()[0].steps[1],
        Step::AddTags {
            tags: vec!["relay".into()]
        }
    );
}

#[test]
fn identities_and_grouping_into_plans() {
    let c = connection(
        "    defaults: { identity: { external_id: { field: shop_customer_id } } }\n",
        r#"
      - name: by-default-external-id
        steps: [upsert_contact, { add_tags: [ext] }]
      - name: by-email
        contact: { identity: email }
        steps: [{ add_tags: [email-1] }]
      - name: by-email-too
        contact: { identity: email_or_phone, fields: { phone: "+1 555" } }
        steps: [upsert_contact, { create_note: { body: n } }, { add_tags: [email-2] }]
      - name: by-custom-id
        contact: { identity: { external_id: { field: other_id, value: "x-{{ order.id }}" } } }
        steps: [{ add_tags: [custom] }]
"#,
    );
    let plans = c.plans(&sale()).unwrap();
    assert_eq!(plans.len(), 3);
    assert_eq!(
        plans[0].contact.lookup,
        Lookup::ExternalId {
            field_key: "shop_customer_id".into(),
            value: "cust-42".into()
        }
    );
    assert_eq!(
        plans[0].contact.custom_fields["shop_customer_id"],
        "cust-42"
    );
    assert_eq!(plans[1].contact.lookup, Lookup::EmailOrPhone);
    assert_eq!(
        plans[1].steps,
        [
            Step::UpsertContact,
            Step::AddTags {
                tags: vec!["email-1".into()]
            },
            Step::CreateNote {
                key: format!("rules/by-email-too:1:{}", sale().id),
                body: "n".into()
            },
            Step::AddTags {
                tags: vec!["email-2".into()]
            },
        ],
        "one upsert, first; tag steps are not moved across other steps"
    );
    assert_eq!(plans[1].contact.fields.phone.as_deref(), Some("+1 555"));
    assert_eq!(
        plans[2].contact.lookup,
        Lookup::ExternalId {
            field_key: "other_id".into(),
            value: "x-o-1".into()
        }
    );
    // Plan ids: per event and rules, stable across calls.
    let ids: Vec<_> = plans.iter().map(|p| p.id.clone()).collect();
    assert_eq!(
        ids,
        c.plans(&sale())
            .unwrap()
            .iter()
            .map(|p| p.id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        ids[1],
        relay_contracts::PlanId::derive(&[
            sale().id.as_str(),
            "rules/by-email",
            "rules/by-email-too"
        ])
    );
    let mut other = sale();
    other.id = EventId::derive(&["gumroad", "demo", "sale-2"]);
    assert!(
        c.plans(&other)
            .unwrap()
            .iter()
            .all(|p| !ids.contains(&p.id))
    );
    for p in &plans {
        assert_eq!(p.v, V1);
        assert_eq!(p.connection, "gumroad/demo");
        assert_eq!(p.location_id.as_str(), "loc-1");
        assert_eq!(p.source_event_id, sale().id);
    }
}

#[test]
fn tag_steps_merge_only_when_order_does_not_matter() {
    let c = connection(
        "",
        r#"
      - steps:
          - add_tags: [a]
          - remove_tags: [b]
          - add_tags: [c]
          - remove_tags: [a]
          - add_tags: [d]
"#,
    );
    assert_eq!(
        c.plans(&sale()).unwrap()[0].steps,
        [
            Step::AddTags {
                tags: vec!["a".into(), "c".into(), "d".into()]
            },
            Step::RemoveTags {
                tags: vec!["b".into(), "a".into()]
            },
        ]
    );
    // Adding back a removed tag stays after its removal.
    let c = connection(
        "",
        "      - steps: [{ add_tags: [a] }, { remove_tags: [a] }, { add_tags: [a] }]\n",
    );
    assert_eq!(c.plans(&sale()).unwrap()[0].steps.len(), 3);
}

#[test]
fn unmatched_events_and_disabled_connections_plan_nothing() {
    let c = connection(
        "",
        "      - { match: { kind: order.refunded }, steps: [upsert_contact] }\n",
    );
    assert_eq!(c.plans(&sale()).unwrap(), Vec::<ContactPlan>::new());
    let c = connection("    enabled: false\n", "      - steps: [upsert_contact]\n");
    assert!(!c.is_enabled());
    assert!(c.plans(&sale()).unwrap().is_empty());
}

#[test]
fn events_that_cannot_be_mapped_are_errors_with_the_reason() {
    let c = connection("", "      - name: r\n        steps: [upsert_contact]\n");
    let mut e = sale();
    e.customer.email = None;
    let err = c.plans(&e).unwrap_err();
    assert!(matches!(err, MapError::NoIdentity { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "rules[0] \"r\": event {} (order.paid) has no email or phone to identify the contact",
            e.id
        )
    );
    // With a phone the default identity holds; `identity: email` still needs an email.
    e.customer.phone = Some("+1 555".into());
    assert!(c.plans(&e).is_ok());
    let c = connection(
        "",
        "      - { contact: { identity: email }, steps: [upsert_contact] }\n",
    );
    assert!(
        matches!(c.plans(&e), Err(MapError::NoIdentity { identity, .. }) if identity == "email")
    );
    let c = connection(
        "",
        "      - { contact: { identity: { external_id: { field: f } } }, steps: [upsert_contact] }\n",
    );
    e.customer.external_id = None;
    assert!(
        matches!(c.plans(&e), Err(MapError::NoIdentity { identity, .. }) if identity.contains("custom field f"))
    );

    // A template failing at render.
    let c = connection(
        "",
        "      - name: r\n        steps: [{ add_tags: [\"{{ order.total.minor | money }}\"] }]\n",
    );
    let err = c.plans(&sale()).unwrap_err();
    assert!(matches!(err, MapError::Template { .. }), "{err}");
    assert!(
        err.to_string().starts_with(
            "rules[0] \"r\": steps[0].add_tags[0]: missing argument: money needs a currency"
        ),
        "{err}"
    );
    // A due date that is no date.
    let c = connection(
        "",
        "      - steps: [{ create_task: { title: t, due: \"{{ order.coupon }}\" } }]\n",
    );
    let err = c.plans(&sale()).unwrap_err();
    assert!(
        matches!(&err, MapError::InvalidValue { what, value, .. } if what == "due" && value == "SPRING25"),
        "{err}"
    );
    // Runaway templates run out of fuel, in steps and in conditions.
    let runaway = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}";
    let c = connection(
        "",
        &format!("      - steps: [{{ create_note: {{ body: \"{runaway}x\" }} }}]\n"),
    );
    let err = c.plans(&sale()).unwrap_err();
    assert!(err.to_string().contains("fuel"), "{err}");
    let c = connection(
        "",
        "      - { match: { when: \"range(10000) | map('string') | map('upper') | map('lower') | list | length > range(10000) | list | length\" }, steps: [upsert_contact] }\n",
    );
    let r = c.plans(&sale());
    assert!(r.is_ok() || r.unwrap_err().to_string().contains("fuel"));
    // Calling what does not exist is a rule bug, found at load (the condition is tried on no
    // data), not a condition that silently never holds.
    let yaml = "connections:\n  - source: gumroad\n    name: demo\n    location_id: l\n    rules:\n      - { match: { when: \"customer.email.endswith('.com')\" }, steps: [upsert_contact] }\n";
    let errors = compile_file(yaml, "t.yaml").unwrap_err();
    assert!(
        errors[0].message.contains("match.when: unknown method"),
        "{errors:?}"
    );
}

#[test]
fn the_default_playbooks_map_what_they_promise() {
    for source in Source::ALL {
        let c = compile(&ConnectionSpec::new(
            source,
            Token::parse("demo").unwrap(),
            Token::parse("loc").unwrap(),
        ))
        .unwrap();
        assert_eq!(c.own_rule_count(), 0);
        let mut e = sale();
        e.source = source;
        e.kind = EventKind::Ping;
        assert!(
            c.plans(&e).unwrap().is_empty(),
            "{source}: pings map to nothing"
        );
    }
    // BMC: a donation upserts and tags `donor` (what the end-to-end tests rely on).
    let route = ConnectionRoute {
        source: Source::Bmc,
        name: Token::parse("demo").unwrap(),
        location_id: Token::parse("demo-location").unwrap(),
    };
    let c = compile_route(&route).unwrap();
    let mut e = sale();
    e.source = Source::Bmc;
    e.message = None;
    let plans = c.plans(&e).unwrap();
    assert_eq!(
        plans[0].steps,
        [
            Step::UpsertContact,
            Step::AddTags {
                tags: vec!["donor".into()]
            }
        ]
    );
    assert_eq!(plans[0].location_id.as_str(), "demo-location");
    assert_eq!(plans[0].contact.fields.source.as_deref(), Some("relay bmc"));
}
