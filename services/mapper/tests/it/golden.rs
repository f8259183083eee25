//! Golden tests: for each storefront, the default playbook's plans for every event kind the
//! storefront produces (`snapshots/`, reviewed by hand; `INSTA_UPDATE=always` rewrites them).

use std::collections::BTreeSet;

use relay_contracts::{ConnectionSpec, ContactPlan, EventKind, Source, Token};
use relay_mapper::rules::{CompiledConnection, compile};
use serde_json::json;

use crate::fixtures::{self, Case};

fn connection(source: Source) -> CompiledConnection {
    compile(&ConnectionSpec::new(
        source,
        Token::parse("demo").unwrap(),
        Token::parse("demo-location").unwrap(),
    ))
    .unwrap()
}

/// Snapshots every case, checks that replays give identical plans and that plans decode, and
/// that the fixtures cover `kinds`.
fn golden(source: Source, cases: Vec<Case>, kinds: &[EventKind]) {
    let c = connection(source);
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.kind.as_str()).collect();
    let expected: BTreeSet<&str> = kinds.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        covered, expected,
        "{source}: fixtures cover every kind it produces"
    );
    for case in cases {
        let result = c.plans(&case.event);
        let plans = match &result {
            Ok(plans) => {
                assert_eq!(
                    c.plans(&case.event).unwrap(),
                    *plans,
                    "{source} {}: a replay gives the same plans",
                    case.name
                );
                for p in plans {
                    let bytes = serde_json::to_vec(p).unwrap();
                    assert_eq!(&ContactPlan::decode(&bytes).unwrap(), p);
                }
                json!(plans)
            }
            Err(e) => json!({ "error": e.to_string() }),
        };
        let snapshot = json!({
            "event": {
                "kind": case.event.kind,
                "source_event": case.event.source_event,
                "test": case.event.test,
                "id": case.event.id,
            },
            "plans": plans,
        });
        insta::assert_json_snapshot!(format!("{source}__{}", case.name), snapshot);
    }
}

#[test]
fn bmc_default_playbook() {
    golden(
        Source::Bmc,
        fixtures::bmc_cases(),
        &[
            EventKind::OrderPaid,
            EventKind::OrderRefunded,
            EventKind::SubscriptionStarted,
            EventKind::SubscriptionRenewed,
            EventKind::SubscriptionCancelled,
            EventKind::SubscriptionPaused,
            EventKind::Unknown,
        ],
    );
}

#[test]
fn gumroad_default_playbook() {
    golden(
        Source::Gumroad,
        fixtures::gumroad_cases(),
        &[
            EventKind::OrderPaid,
            EventKind::SubscriptionRenewed,
            EventKind::OrderRefunded,
            EventKind::OrderDisputed,
            EventKind::OrderDisputeWon,
            EventKind::SubscriptionCancelled,
            EventKind::SubscriptionUpdated,
            EventKind::SubscriptionEnded,
            EventKind::SubscriptionResumed,
            EventKind::Ping,
            EventKind::Unknown,
        ],
    );
}

#[test]
fn thrivecart_default_playbook() {
    golden(
        Source::Thrivecart,
        fixtures::thrivecart_cases(),
        &[
            EventKind::OrderPaid,
            EventKind::OrderRefunded,
            EventKind::SubscriptionRenewed,
            EventKind::SubscriptionPaymentFailed,
            EventKind::SubscriptionCancelled,
            EventKind::SubscriptionPaused,
            EventKind::SubscriptionResumed,
            EventKind::SubscriptionEnded,
            EventKind::CartAbandoned,
            EventKind::Unknown,
        ],
    );
}

#[test]
fn digistore24_default_playbook() {
    golden(
        Source::Digistore24,
        fixtures::digistore24_cases(),
        &[
            EventKind::OrderPaid,
            EventKind::SubscriptionStarted,
            EventKind::SubscriptionRenewed,
            EventKind::OrderRefunded,
            EventKind::OrderDisputed,
            EventKind::SubscriptionPaymentFailed,
            EventKind::SubscriptionCancelled,
            EventKind::SubscriptionResumed,
            EventKind::SubscriptionEnded,
            EventKind::Ping,
            EventKind::Unknown,
        ],
    );
}

#[test]
fn shift4shop_default_playbook() {
    golden(
        Source::Shift4shop,
        fixtures::shift4shop_cases(),
        &[
            EventKind::OrderPaid,
            EventKind::OrderRefunded,
            EventKind::CartAbandoned,
            EventKind::CustomerCreated,
            EventKind::Unknown,
        ],
    );
}

/// The behaviour the end-to-end tests rely on: a BMC donation upserts the donor and tags them
/// `donor`; the other storefronts' purchases tag `<source>-customer`.
#[test]
fn purchases_keep_the_tags_end_to_end_tests_rely_on() {
    let tags_of = |source: Source, case: &str, cases: Vec<Case>| -> Vec<String> {
        let case = cases.into_iter().find(|c| c.name == case).unwrap();
        let plans = connection(source).plans(&case.event).unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].steps[0], relay_contracts::Step::UpsertContact);
        plans[0]
            .steps
            .iter()
            .filter_map(|s| match s {
                relay_contracts::Step::AddTags { tags } => Some(tags.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    assert!(
        tags_of(Source::Bmc, "donation_created", fixtures::bmc_cases()).contains(&"donor".into())
    );
    for (source, case, cases) in [
        (Source::Gumroad, "sale", fixtures::gumroad_cases()),
        (
            Source::Thrivecart,
            "order_success",
            fixtures::thrivecart_cases(),
        ),
        (
            Source::Digistore24,
            "on_payment",
            fixtures::digistore24_cases(),
        ),
        (
            Source::Shift4shop,
            "order_new",
            fixtures::shift4shop_cases(),
        ),
    ] {
        let tag = format!("{source}-customer");
        assert!(
            tags_of(source, case, cases).contains(&tag),
            "{source} tags {tag}"
        );
    }
}
