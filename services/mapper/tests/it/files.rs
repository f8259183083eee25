//! Connection files as `relayctl connections apply -f FILE` validates them: a bad file is
//! rejected as a whole, every error with its file, line, column and reason.

use relay_contracts::Source;
use relay_contracts::connection::DocError;
use relay_mapper::rules::compile_file;

const FILE: &str = "connections.yaml";

/// The errors of `yaml` (which must not compile).
fn errors(yaml: &str) -> Vec<DocError> {
    match compile_file(yaml, FILE) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e,
    }
}

/// Exactly one error, at `line`:`column`, saying `reason`.
#[track_caller]
fn one_error(yaml: &str, line: u64, column: u64, reason: &str) {
    let es = errors(yaml);
    assert_eq!(es.len(), 1, "one error expected: {es:#?}");
    let e = &es[0];
    assert_eq!(e.file, FILE);
    assert!(e.message.contains(reason), "{e}\n  does not say {reason:?}");
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("{FILE}:{line}:{column}: ")),
        "{e}"
    );
}

/// A connection whose only rule is `rule` (indented as a list item under `rules:`).
fn with_rule(rule: &str) -> String {
    format!(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: demo-location\n    rules:\n{rule}"
    )
}

#[test]
fn a_valid_file_compiles_every_connection() {
    let yaml = r#"
connections:
  - source: gumroad
    name: demo
    location_id: demo-location
    timezone: Europe/Berlin
    secret: env:RELAY_DEMO_SECRET
    previous_secret: file:/run/secrets/old
    defaults:
      tags: [relay]
      assigned_to: user_1
      task_due_in_days: 2
      vars: { vip_minor: 10000 }
    rules:
      - name: vip
        match:
          kind: [order.paid, "subscription.*"]
          product_name: "Rust*"
          amount: { min: 1000 }
          currency: [EUR, USD]
          test: false
          attributes:
            offer_code: SPRING25
            "custom_fields.Company": { exists: true }
          when: "order.total.minor >= vars.vip_minor"
        for_each: product
        contact:
          identity: email
          fields: { company_name: "{{ attributes.custom_fields.Company }}" }
          custom_fields: { vip_since: "{{ occurred_at | date }}" }
        steps:
          - upsert_contact
          - add_tags: [vip, "{{ product.name | slug }}"]
          - create_task: { title: "Call {{ customer.first_name }}", due: "{{ occurred_at | add_days(3) }}" }
          - add_to_workflow: { workflow_id: wf_1, event_start_time: "2026-01-01T09:00:00+01:00" }
        then: stop
  - source: bmc
    name: demo
    location_id: demo-location
    playbook: none
    enabled: false
    rules:
      - match: { test: true }
        then: stop
"#;
    let compiled = compile_file(yaml, FILE).unwrap();
    assert_eq!(compiled.len(), 2);
    assert_eq!(compiled[0].key(), "gumroad.demo");
    assert_eq!(compiled[0].own_rule_count(), 1);
    assert!(compiled[0].rule_count() > 1, "the playbook follows");
    assert_eq!(compiled[1].rule_count(), 1, "playbook: none");
    assert!(!compiled[1].is_enabled());
}

#[test]
fn yaml_syntax_errors() {
    one_error(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: x\n    rules: [\n",
        5,
        12,
        "unclosed bracket",
    );
    one_error(
        "connections:\n  - source: gumroad\n    name: [demo\n",
        3,
        11,
        "expected string scalar",
    );
}

#[test]
fn unknown_keys_are_errors() {
    one_error(
        "connections:\n  - source: gumroad\n    name: demo\n    locaton_id: x\n",
        4,
        5,
        "unknown field `locaton_id`",
    );
    one_error(
        &with_rule(
            "      - name: a\n        matches: { kind: order.paid }\n        steps: [upsert_contact]\n",
        ),
        7,
        9,
        "unknown field `matches`",
    );
    one_error(
        &with_rule("      - steps:\n          - create_task: { title: hi, due_date: tomorrow }\n"),
        7,
        39,
        "unknown field `due_date`",
    );
}

#[test]
fn unknown_values_are_errors() {
    one_error(
        "connections:\n  - source: shopify\n    name: demo\n    location_id: x\n",
        2,
        13,
        "unknown variant `shopify`",
    );
    one_error(
        "connections:\n  - source: gumroad\n    name: my demo\n    location_id: x\n",
        3,
        11,
        "may contain only ASCII letters",
    );
    one_error(
        &with_rule("      - steps:\n          - add_tag: [x]\n"),
        7,
        13,
        "unknown variant `add_tag`",
    );
    one_error(
        &with_rule("      - contact: { fields: { emial: x } }\n        steps: [upsert_contact]\n"),
        6,
        30,
        "unknown variant `emial`",
    );
    one_error(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: x\n    secret: RELAY_SECRET\n",
        5,
        13,
        "env:NAME, file:PATH or literal:VALUE",
    );
    one_error(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: x\n    playbook: minimal\n",
        5,
        15,
        "unknown variant `minimal`",
    );
}

#[test]
fn match_conditions_are_checked() {
    one_error(
        &with_rule(
            "      - name: k\n        match: { kind: order.payed }\n        steps: [upsert_contact]\n",
        ),
        7,
        24,
        "rules[0] \"k\": match.kind: \"order.payed\" is not an event kind",
    );
    one_error(
        &with_rule("      - match: { kind: \"refund.*\" }\n        steps: [upsert_contact]\n"),
        6,
        24,
        "\"refund.*\" matches no event kind",
    );
    one_error(
        &with_rule(
            "      - match: { product_id: \"prod_[12\" }\n        steps: [upsert_contact]\n",
        ),
        6,
        30,
        "match.product_id: bad pattern: \"prod_[12\" has an unclosed '[' class",
    );
    one_error(
        &with_rule(
            "      - match: { amount: { min: 5000, max: 100 } }\n        steps: [upsert_contact]\n",
        ),
        6,
        26,
        "min 5000 is greater than max 100",
    );
    one_error(
        &with_rule("      - match: { amount: {} }\n        steps: [upsert_contact]\n"),
        6,
        26,
        "match.amount needs a min, a max or both",
    );
    one_error(
        &with_rule(
            "      - match: { amount: { min: 10, above: 3 } }\n        steps: [upsert_contact]\n",
        ),
        6,
        37,
        "unknown field `above`",
    );
    one_error(
        &with_rule("      - match: { currency: euro }\n        steps: [upsert_contact]\n"),
        6,
        28,
        "\"euro\" is not an ISO 4217 code",
    );
    one_error(
        &with_rule("      - match: { source: bmc }\n        steps: [upsert_contact]\n"),
        6,
        26,
        "can never hold: this connection's source is gumroad",
    );
    one_error(
        &with_rule(
            "      - match:\n          attributes:\n            \"a..b\": 1\n        steps: [upsert_contact]\n",
        ),
        8,
        21,
        "\"a..b\" is not a dotted path",
    );
    one_error(
        &with_rule(
            "      - match:\n          attributes:\n            offer_code: { exist: true }\n        steps: [upsert_contact]\n",
        ),
        8,
        25,
        "an attribute test is a value, or one of",
    );
    one_error(
        &with_rule(
            "      - match: { when: \"order.total.minor >\" }\n        steps: [upsert_contact]\n",
        ),
        6,
        24,
        "match.when: syntax error",
    );
}

#[test]
fn templates_are_compiled_at_load() {
    one_error(
        &with_rule(
            "      - name: tags\n        steps:\n          - add_tags: [ok, \"{{ product.name | slug \"]\n",
        ),
        8,
        28,
        "rules[0] \"tags\": steps[0].add_tags[1]: syntax error",
    );
    // A multi-line template: the YAML place of the template, and the line inside it.
    one_error(
        &with_rule(
            "      - steps:\n          - create_note:\n              body: |\n                Hello {{ customer.name }}\n                {% if message %}{{ message }}\n",
        ),
        9,
        17,
        "steps[0].create_note.body: syntax error: unexpected end of input, expected end of block (template line 2)",
    );
    one_error(
        &with_rule("      - steps:\n          - add_tags: [\"{{ x | no_such_filter }}\"]\n"),
        7,
        24,
        "unknown filter",
    );
}

#[test]
fn step_parameters_are_checked() {
    one_error(
        &with_rule("      - steps:\n          - add_tags: []\n"),
        7,
        13,
        "steps[0].add_tags needs at least one entry",
    );
    one_error(
        &with_rule("      - steps:\n          - add_tags: [\"\"]\n"),
        7,
        24,
        "steps[0].add_tags[0] must not be empty",
    );
    one_error(
        &with_rule("      - steps:\n          - update_task: { key: k }\n"),
        7,
        13,
        "steps[0].update_task changes nothing",
    );
    one_error(
        &with_rule("      - steps:\n          - create_task: { title: t, due: next week }\n"),
        7,
        43,
        "steps[0].create_task.due: \"next week\" is not an RFC 3339 time",
    );
    one_error(
        &with_rule("      - steps:\n          - create_task: { body: b }\n"),
        7,
        28,
        "missing field `title`",
    );
    one_error(
        &with_rule("      - steps:\n          - complete_task: { key: \" \" }\n"),
        7,
        35,
        "steps[0].complete_task.key must not be empty",
    );
    one_error(
        &with_rule("      - steps:\n          - add_to_campaign: { campaign_id: \"\" }\n"),
        7,
        45,
        "campaign_id must not be empty",
    );
    one_error(
        &with_rule(
            "      - steps:\n          - remove_from_workflow: { workflow_id: w, event_start_time: \"2026-01-01T00:00:00Z\" }\n",
        ),
        7,
        71,
        "event_start_time applies to add_to_workflow only",
    );
    one_error(
        &with_rule(
            "      - contact: { identity: { external_id: { field: \"\" } } }\n        steps: [upsert_contact]\n",
        ),
        6,
        30,
        "external_id needs a field key",
    );
}

#[test]
fn rules_and_connections_are_checked_as_a_whole() {
    one_error(
        &with_rule("      - name: a\n        match: { kind: order.paid }\n"),
        6,
        9,
        "this rule does nothing",
    );
    one_error(
        &with_rule(
            "      - name: a\n        steps: [upsert_contact]\n      - name: a\n        steps: [upsert_contact]\n",
        ),
        8,
        9,
        "rules[1] \"a\": the name \"a\" is also rules[0]'s",
    );
    one_error(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: x\n    timezone: Europe/Berlinn\n",
        5,
        15,
        "timezone \"Europe/Berlinn\" is not an IANA time zone",
    );
    one_error(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: x\n    defaults: { task_due_in_days: -1 }\n",
        5,
        35,
        "task_due_in_days must be between 0 and 3650",
    );
    one_error(
        "connections:\n  - source: gumroad\n    name: demo\n    location_id: a\n  - source: gumroad\n    name: demo\n    location_id: b\n",
        5,
        5,
        "connection gumroad.demo is declared twice (first at line 2)",
    );
}

#[test]
fn every_error_of_a_file_is_reported() {
    let yaml = "connections:
  - source: gumroad
    name: one
    location_id: x
    rules:
      - match: { kind: nope }
        steps: [upsert_contact]
      - steps:
          - add_tags: [\"{{ oops \"]
  - source: bmc
    name: two
    location_id: x
    timezone: Nowhere/City
";
    let es = errors(yaml);
    let places: Vec<(u64, u64)> = es.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(places, vec![(6, 24), (9, 24), (13, 15)], "{es:#?}");
    assert!(
        es[0]
            .message
            .starts_with("connection gumroad.one: rules[0]: ")
    );
    assert!(es[2].message.starts_with("connection bmc.two: "));
}

#[test]
fn every_playbook_compiles_and_covers_its_storefront() {
    for source in Source::ALL {
        let yaml = format!(
            "connections:\n  - source: {source}\n    name: demo\n    location_id: x\n    timezone: America/New_York\n"
        );
        let c = compile_file(&yaml, FILE).unwrap();
        assert!(c[0].rule_count() >= 3, "{source}");
        // The shipped YAML is a valid rules document users can paste into a connection.
        let rules = relay_mapper::rules::playbooks::yaml(source);
        let pasted = format!(
            "connections:\n  - source: {source}\n    name: demo\n    location_id: x\n    playbook: none\n    rules:\n{}",
            rules
                .split_once("rules:\n")
                .unwrap()
                .1
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect::<String>()
        );
        let copied = compile_file(&pasted, FILE).unwrap_or_else(|e| panic!("{source}: {e:#?}"));
        assert_eq!(copied[0].own_rule_count(), c[0].rule_count());
    }
}
