use crate::fake::PLAN;
use crate::{FakeAdminPort, file, relayctl};

const EVENT: &str = r#"{"v": 1, "id": "evt_01JDXA", "source": "gumroad", "kind": "order.paid"}"#;

#[tokio::test]
async fn preview_prints_a_plan_summary() {
    let port = FakeAdminPort::start().await;
    let (_dir, event) = file("event.json", EVENT);
    let run = relayctl(
        &port,
        &[
            "preview",
            "--connection",
            "gumroad.demo",
            "--event",
            event.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "\
plan pln_01JDXA  location demo-location  connection gumroad/demo
  lookup   external_id gumroad_customer_id=cus_1
  contact  email=ann@example.com
  steps
    1. upsert_contact
    2. add_tags tags=[customer, ebook]
"
    );
    let recorded = port.recorded();
    assert_eq!(recorded.previews[0].connection, "gumroad.demo");
    assert_eq!(recorded.previews[0].event_json, EVENT);
    assert_eq!(recorded.previews[0].connection_yaml, "");
}

#[tokio::test]
async fn preview_json_is_the_plans_array() {
    let port = FakeAdminPort::start().await;
    let (_dir, event) = file("event.json", EVENT);
    let run = relayctl(
        &port,
        &[
            "preview",
            "--connection",
            "gumroad.demo",
            "--event",
            event.to_str().unwrap(),
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let plan: serde_json::Value = serde_json::from_str(PLAN).unwrap();
    assert_eq!(json, serde_json::json!([plan]));
}

#[tokio::test]
async fn preview_against_a_rules_file() {
    let port = FakeAdminPort::start().await;
    let (_dir, event) = file("event.json", EVENT);
    let rules = "connections:\n  - source: gumroad\n    name: draft\n";
    let (_dir2, rules_path) = file("rules.yaml", rules);
    let run = relayctl(
        &port,
        &[
            "preview",
            "--event",
            event.to_str().unwrap(),
            "--rules",
            rules_path.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let recorded = port.recorded();
    assert_eq!(recorded.previews[0].connection_yaml, rules);
    assert_eq!(recorded.previews[0].connection, "");
}

#[tokio::test]
async fn preview_with_no_plan() {
    let port = FakeAdminPort::start().await;
    let (_dir, event) = file("event.json", r#"{"v": 1, "kind": "unmatched"}"#);
    let run = relayctl(
        &port,
        &[
            "preview",
            "--connection",
            "gumroad.demo",
            "--event",
            event.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("no plans: the event matches no rule"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn preview_errors() {
    let port = FakeAdminPort::start().await;

    // Not JSON: caught locally, named by the file, nothing sent.
    let (_dir, bad) = file("bad.json", "{\"v\": 1,");
    let bad = bad.to_str().unwrap();
    let run = relayctl(
        &port,
        &["preview", "--connection", "gumroad.demo", "--event", bad],
    )
    .await;
    assert_eq!(run.code, 65, "{run:?}");
    assert!(
        run.stderr.contains(&format!("{bad}: not valid JSON")),
        "{}",
        run.stderr
    );
    assert!(port.recorded().previews.is_empty());

    // Rejected by the mapper: its message, exit 65.
    let (_dir, v9) = file("v9.json", r#"{"v": 9}"#);
    let run = relayctl(
        &port,
        &[
            "preview",
            "--connection",
            "gumroad.demo",
            "--event",
            v9.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 65, "{run:?}");
    assert_eq!(
        run.stderr,
        "relayctl: mapper: the request was rejected: event: unsupported StorefrontEvent version 9 (supported: 1)\n"
    );

    // Unknown connection.
    let (_dir, event) = file("event.json", EVENT);
    let run = relayctl(
        &port,
        &[
            "preview",
            "--connection",
            "gumroad.nope",
            "--event",
            event.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "relayctl: mapper: not found: no connection gumroad.nope\n"
    );
}
