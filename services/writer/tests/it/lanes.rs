//! Scale-out: replicas share partitions by lease, per-location order holds across kills and
//! hand-overs, and nothing is lost.

use std::collections::BTreeMap;
use std::time::Duration;

use relay_common::SecretRef;
use relay_contracts::Token;
use relay_contracts::admin::GetStatusRequest;
use relay_contracts::plan::Step;
use relay_sandbox::NewLocation;
use relay_writer::config::LocationConfig;

use crate::support::{Env, Writer, plan_in};

const LOCATIONS: usize = 8;
const PLANS: usize = 25;

fn locations(env: &Env) -> Vec<String> {
    (0..LOCATIONS)
        .map(|i| {
            let id = format!("loc-{i}");
            env.sandbox
                .add_location(NewLocation::new(id.clone(), format!("pit-{id}")))
                .unwrap();
            id
        })
        .collect()
}

fn config(env: &Env, locs: &[String]) -> relay_writer::WriterConfig {
    let mut cfg = env.writer_config();
    cfg.locations = locs
        .iter()
        .map(|l| {
            (
                Token::parse(l).unwrap(),
                LocationConfig {
                    token: Some(SecretRef::Literal(format!("pit-{l}"))),
                    oauth: None,
                    rate_limit: None,
                },
            )
        })
        .collect();
    cfg
}

/// Partitions a replica reports holding (its partition consumers).
async fn held(w: &Writer) -> usize {
    let Ok(mut client) = relay_test_support::admin::try_admin_client(w.admin).await else {
        return 0;
    };
    client
        .get_status(GetStatusRequest {})
        .await
        .map(|r| r.into_inner().consumers.len())
        .unwrap_or(0)
}

/// Order tags each location received, in the order the sandbox answered them.
fn applied_order(env: &Env) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for r in env.sandbox.requests() {
        if r.method != "POST" || !r.path.ends_with("/tags") || r.status >= 300 {
            continue;
        }
        let (Some(loc), Some(body)) = (r.location_id.clone(), r.body.as_ref()) else {
            continue;
        };
        for t in body["tags"].as_array().into_iter().flatten() {
            if let Some(n) = t
                .as_str()
                .and_then(|t| t.strip_prefix("o"))
                .and_then(|n| n.parse().ok())
            {
                out.entry(loc.clone()).or_default().push(n);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_partitions_keep_order_and_survive_a_kill() {
    let mut sandbox = relay_sandbox::SandboxConfig::for_tests();
    // Slow enough that plans are in flight when a replica dies.
    sandbox.latency = Duration::from_millis(20);
    let env = Env::start_with(sandbox).await;
    let locs = locations(&env);
    let cfg = config(&env, &locs);
    let a = env.spawn_writer(cfg.clone()).await;
    relay_test_support::eventually(
        "one replica holds all 16 partitions",
        Duration::from_secs(20),
        || async { (held(&a).await == 16).then_some(()) },
    )
    .await;
    let mut b = Some(env.spawn_writer(cfg.clone()).await);
    let c = env.spawn_writer(cfg.clone()).await;
    relay_test_support::eventually(
        "three replicas split 6/5/5",
        Duration::from_secs(30),
        || async {
            let mut n = vec![
                held(&a).await,
                held(b.as_ref().unwrap()).await,
                held(&c).await,
            ];
            n.sort_unstable();
            (n == vec![5, 5, 6]).then_some(())
        },
    )
    .await;

    // Plans for every location, in order, while one replica is killed mid-way.
    for i in 0..PLANS {
        for l in &locs {
            let mut p = plan_in(
                l,
                &format!("order-{i}"),
                &format!("buyer@{l}.example.com"),
                vec![
                    Step::UpsertContact,
                    Step::AddTags {
                        tags: vec![format!("o{i}")],
                    },
                ],
            );
            p.id = relay_contracts::PlanId::derive(&[l, &i.to_string()]);
            env.send(&p).await;
        }
        if i == PLANS / 3 {
            b.take().unwrap().kill();
        }
    }
    relay_test_support::eventually("every plan applied", Duration::from_secs(60), || async {
        (env.queued().await == 0).then_some(())
    })
    .await;
    relay_test_support::eventually(
        "the survivors hold all 16 partitions",
        Duration::from_secs(30),
        || async {
            let (x, y) = (held(&a).await, held(&c).await);
            (x + y == 16 && x >= 7 && y >= 7).then_some(())
        },
    )
    .await;

    let order = applied_order(&env);
    for l in &locs {
        let seen = order.get(l).cloned().unwrap_or_default();
        // Every plan applied; a plan in flight when its replica died may be applied again, but
        // never after a later plan of its location.
        for w in seen.windows(2) {
            assert!(
                w[0] <= w[1],
                "{l}: plan {} applied after plan {}: {seen:?}",
                w[1],
                w[0]
            );
        }
        let mut distinct = seen.clone();
        distinct.dedup();
        assert_eq!(distinct, (0..PLANS).collect::<Vec<_>>(), "{l}: {seen:?}");
        let contacts = env.sandbox.contacts(l);
        assert_eq!(contacts.len(), 1, "{l}: one contact, never a duplicate");
        assert_eq!(contacts[0].tags.len(), PLANS);
    }
    a.stop().await;
    c.stop().await;
}
