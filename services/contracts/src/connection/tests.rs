#![allow(clippy::unwrap_used)]

use super::*;

const DOC: &str = r#"# two connections
connections:
  - source: gumroad
    name: demo
    location_id: demo-location
    timezone: Europe/Berlin
    secret: env:RELAY_DEMO_SECRET
    previous_secret: literal:old-secret
    defaults:
      tags: [relay]
      fields: { source: "Relay {{ source }}" }
      custom_fields: { lead_source: gumroad }
      assigned_to: user_1
      task_due_in_days: 2
      vars: { vip_minor: 10000, team: [a, b] }
    rules:
      - name: vip
        match:
          kind: [order.paid, "subscription.*"]
          product_name: "Rust*"
          amount: { min: 10000 }
          currency: EUR
          test: false
          attributes:
            offer_code: SPRING25
            quantity: { in: [1, 2] }
            custom_fields.Company: { exists: true }
            referrer: { glob: "https://*" }
          when: "not test"
        for_each: product
        contact:
          identity: { external_id: { field: gumroad_customer_id } }
          fields: { company_name: "{{ attributes.custom_fields.Company }}" }
        steps:
          - upsert_contact
          - add_tags: [vip]
          - create_task:
              key: "vip-{{ order.id }}"
              title: Call them
              due: "{{ occurred_at | add_days(1) }}"
          - remove_from_all_campaigns
        then: stop
  - source: bmc
    name: shop-2
    location_id: other-location
    enabled: false
    playbook: none
"#;

#[test]
fn reads_a_connections_document_with_locations() {
    let doc = parse_connections(DOC, "c.yaml").unwrap();
    assert_eq!(doc.connections.len(), 2);
    let c = &doc.connections[0];
    assert_eq!(c.key(), "gumroad.demo");
    assert_eq!(c.loc.line, 3);
    assert!(c.enabled, "enabled by default");
    assert_eq!(c.playbook, Playbook::Default);
    assert_eq!(
        c.timezone.as_deref().map(String::as_str),
        Some("Europe/Berlin")
    );
    assert_eq!(c.secret.as_ref().unwrap().as_str(), "env:RELAY_DEMO_SECRET");
    assert_eq!(c.defaults.task_due_in_days.as_ref().unwrap().value, 2);
    assert_eq!(c.defaults.vars["team"], serde_json::json!(["a", "b"]));

    let r = &c.rules[0];
    assert_eq!(r.name.as_deref(), Some("vip"));
    assert_eq!((r.loc.line, r.loc.column), (17, 9));
    assert_eq!(r.then, Then::Stop);
    assert_eq!(r.for_each, Some(ForEach::Product));
    let kind = r.matches.kind.as_ref().unwrap();
    assert_eq!(kind.as_slice(), ["order.paid", "subscription.*"]);
    assert_eq!((kind.loc.line, kind.loc.column), (19, 17));
    assert_eq!(
        r.matches.currency.as_ref().unwrap().as_slice(),
        ["EUR"],
        "one value or a list"
    );
    assert_eq!(
        r.matches.attributes["offer_code"].value,
        AttributeTest::Equals("SPRING25".into())
    );
    assert_eq!(
        r.matches.attributes["quantity"].value,
        AttributeTest::OneOf(vec![1.into(), 2.into()])
    );
    assert_eq!(
        r.matches.attributes["custom_fields.Company"].value,
        AttributeTest::Exists(true)
    );
    assert_eq!(
        r.matches.attributes["referrer"].value,
        AttributeTest::Glob("https://*".into())
    );
    assert!(matches!(
        &r.contact.identity.as_ref().unwrap().value,
        Identity::ExternalId { field, value: None } if field == "gumroad_customer_id"
    ));
    assert_eq!(r.steps.len(), 4);
    assert_eq!(r.steps[0].value, StepSpec::UpsertContact);
    assert_eq!((r.steps[2].loc.line, r.steps[2].loc.column), (37, 13));
    let StepSpec::CreateTask(task) = &r.steps[2].value else {
        panic!("{:?}", r.steps[2]);
    };
    assert_eq!(task.title.value, "Call them");
    assert_eq!(task.title.loc.line, 39);
    assert_eq!(r.steps[3].value, StepSpec::RemoveFromAllCampaigns);

    let other = &doc.connections[1];
    assert!(!other.enabled);
    assert_eq!(other.playbook, Playbook::Disabled);
    assert!(other.rules.is_empty());
}

#[test]
fn round_trips_through_the_stored_json_and_yaml() {
    let doc = parse_connections(DOC, "c.yaml").unwrap();
    let json = serde_json::to_string(&doc).unwrap();
    assert!(
        !json.contains("\"loc\""),
        "locations are not stored: {json}"
    );
    assert!(
        !json.contains("\"enabled\":true"),
        "defaults are left out: {json}"
    );
    let back: ConnectionsFile = serde_json::from_str(&json).unwrap();
    assert_eq!(back, doc, "equal, locations aside");
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(back.connections[0].rules[0].loc, SourceLoc::UNKNOWN);
    assert!(!back.connections[0].rules[0].loc.is_known());

    // Each connection is stored on its own, under its key.
    for c in &doc.connections {
        let stored = serde_json::to_vec(c).unwrap();
        let read: ConnectionSpec = serde_json::from_slice(&stored).unwrap();
        assert_eq!(&read, c);
        assert_eq!(read.key(), c.key());
    }

    // And shown as YAML (diffs), which reads back the same.
    let yaml = serde_saphyr::to_string(&doc).unwrap();
    assert_eq!(
        parse_connections(&yaml, "shown.yaml").unwrap(),
        doc,
        "{yaml}"
    );
}

#[test]
fn errors_name_the_file_line_and_column() {
    let errs = parse_connections(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: x\n    rules:\n      - steps: [upsert_contact]\n        thn: stop\n",
        "c.yaml",
    )
    .unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!((errs[0].line, errs[0].column), (7, 9));
    assert!(
        errs[0]
            .to_string()
            .starts_with("c.yaml:7:9: unknown field `thn`"),
        "{}",
        errs[0]
    );

    let errs = parse_connections(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: a\n  - source: gumroad\n    name: demo\n    location_id: b\n",
        "c.yaml",
    )
    .unwrap_err();
    assert_eq!(
        errs[0].to_string(),
        "c.yaml:5:5: connection gumroad.demo is declared twice (first at line 2)"
    );

    let errs = parse_connections("connections:\n  - name: demo\n", "c.yaml").unwrap_err();
    assert!(
        errs[0].message.contains("missing field `source`"),
        "{errs:?}"
    );

    let no_place = DocError::new("c.yaml", SourceLoc::UNKNOWN, "broken");
    assert_eq!(no_place.to_string(), "c.yaml: broken");
}

#[test]
fn attribute_tests_and_lists_accept_their_short_forms() {
    let r: RulesFile = parse_rules(
        "rules:\n  - match: { kind: order.paid, attributes: { a: 1, b: { equals: [1, 2] } } }\n    steps: [{ add_followers: [u1] }]\n",
        "r.yaml",
    )
    .unwrap();
    let m = &r.rules[0].matches;
    assert_eq!(m.kind.as_ref().unwrap().as_slice(), ["order.paid"]);
    assert_eq!(m.attributes["a"].value, AttributeTest::Equals(1.into()));
    assert_eq!(
        m.attributes["b"].value,
        AttributeTest::Equals(serde_json::json!([1, 2]))
    );
    let err = parse_rules(
        "rules:\n  - match: { attributes: { a: { exist: true } } }\n",
        "r.yaml",
    )
    .unwrap_err();
    assert!(err[0].message.contains("{exists: true|false}"), "{err:?}");
    assert_eq!(err[0].line, 2);
}

#[test]
fn secret_references_are_checked_and_never_shown() {
    assert!(SecretReference::parse("env:X").is_ok());
    assert!(SecretReference::parse("file:/run/s").is_ok());
    let literal = SecretReference::parse("literal:hunter2").unwrap();
    assert_eq!(format!("{literal:?}"), "literal:<redacted>");
    assert_eq!(
        literal.as_str(),
        "literal:hunter2",
        "kept for the stored document"
    );
    let err = SecretReference::parse("hunter2").unwrap_err();
    assert!(!err.contains("hunter2"));
    assert!(SecretReference::parse("env:").is_err());
}

#[test]
fn locations_are_not_part_of_equality() {
    let a = Located::at("x".to_owned(), SourceLoc { line: 3, column: 4 });
    let b = Located::new("x".to_owned());
    assert_eq!(a, b);
    assert_ne!(a, Located::new("y".to_owned()));
    assert_eq!(*a, "x");
    let mut spec = ConnectionSpec::new(
        Source::Bmc,
        Token::parse("demo").unwrap(),
        Token::parse("loc").unwrap(),
    );
    assert_eq!(spec.key(), "bmc.demo");
    let plain = spec.clone();
    spec.loc = SourceLoc { line: 9, column: 1 };
    assert_eq!(spec, plain);
}
