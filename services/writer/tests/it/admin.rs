//! `relay.writer.v1.Writer` on a running writer's admin port: what each location looks like
//! (partition, credentials, budget), and resuming a location its credentials paused.

use std::net::SocketAddr;
use std::time::Duration;

use relay_common::SecretRef;
use relay_contracts::Token;
use relay_contracts::nats::{COMMAND_PARTITIONS, partition_of};
use relay_contracts::plan::Step;
use relay_contracts::writer_admin::writer_client::WriterClient;
use relay_contracts::writer_admin::{
    AuthKind, ListLocationsRequest, ListLocationsResponse, LocationStatus, ResumeLocationRequest,
};
use relay_sandbox::{FaultKind, FaultSpec};
use relay_test_support::admin::TestToken;
use relay_test_support::eventually;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::support::{Env, LOCATION, plan};

type Client = WriterClient<InterceptedService<Channel, TestToken>>;

async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn client(addr: SocketAddr) -> Client {
    WriterClient::with_interceptor(channel(addr).await, TestToken)
}

async fn list(c: &mut Client) -> ListLocationsResponse {
    c.list_locations(ListLocationsRequest::default())
        .await
        .unwrap()
        .into_inner()
}

/// The location's status once `ready` holds for it.
async fn location_when(
    c: &mut Client,
    what: &str,
    id: &str,
    ready: impl Fn(&LocationStatus) -> bool,
) -> LocationStatus {
    eventually(what, Duration::from_secs(15), || {
        let mut c = c.clone();
        let ready = &ready;
        async move {
            list(&mut c)
                .await
                .locations
                .into_iter()
                .find(|l| l.location_id == id && ready(l))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_the_location_with_its_partition_credentials_and_budget() {
    let env = Env::start().await;
    let writer = env.spawn_writer(env.writer_config()).await;
    let mut c = client(writer.admin).await;
    let partition = u32::from(partition_of(
        &Token::parse(LOCATION).unwrap(),
        COMMAND_PARTITIONS,
    ));

    // The only replica holds every partition, the demo location's included.
    let loc = location_when(&mut c, "the demo location driven here", LOCATION, |l| {
        l.here
    })
    .await;
    assert_eq!(loc.partition, partition);
    assert_eq!(loc.auth_kind(), AuthKind::Pit);
    assert_eq!(loc.paused_reason, "");
    assert_eq!(loc.token_expires_at, "", "a PIT has no expiry");
    let b = loc.budget.clone().unwrap();
    assert_eq!(b.window_ms, 10_000);
    assert_eq!(
        (b.configured_window_limit, b.effective_window_limit),
        (100, 100)
    );
    assert_eq!(b.configured_daily_limit, 200_000);
    assert_eq!((b.hold_reason.as_str(), b.hold_remaining_ms), ("", 0));

    let all = list(&mut c).await;
    assert!(!all.replica.is_empty());
    assert_eq!(all.partitions, u32::from(COMMAND_PARTITIONS));
    assert!(all.held_partitions.contains(&partition), "{all:?}");

    // Requests show up in the budget.
    let p = plan("admin-list", "list@example.com", vec![Step::UpsertContact]);
    env.send(&p).await;
    env.result_of(&p, "ok").await;
    let loc = location_when(&mut c, "requests admitted", LOCATION, |l| {
        l.budget.as_ref().is_some_and(|b| b.admitted_total >= 1)
    })
    .await;
    assert_eq!(loc.budget.unwrap().throttled_total, 0);

    // The filter.
    let one = c
        .list_locations(ListLocationsRequest {
            location_id: LOCATION.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.locations.len(), 1);
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_pit_stays_paused_when_resumed_without_a_fix() {
    let env = Env::start().await;
    let mut cfg = env.writer_config();
    let loc = cfg
        .locations
        .get_mut(&Token::parse(LOCATION).unwrap())
        .unwrap();
    loc.token = Some(SecretRef::Literal("pit-not-this-one".into()));
    let writer = env.spawn_writer(cfg).await;
    let mut c = client(writer.admin).await;

    let p = plan(
        "admin-refused",
        "refused@example.com",
        vec![Step::UpsertContact],
    );
    env.send(&p).await;
    let paused = location_when(&mut c, "the location paused", LOCATION, |l| {
        !l.paused_reason.is_empty()
    })
    .await;
    assert!(
        paused.paused_reason.contains("rejected (401)"),
        "{}",
        paused.paused_reason
    );

    let err = c
        .resume_location(ResumeLocationRequest {
            location_id: LOCATION.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("still paused") && err.message().contains("401"),
        "{}",
        err.message()
    );
    let after = list(&mut c).await.locations.remove(0);
    assert!(after.paused_reason.contains("rejected (401)"), "{after:?}");
    assert!(
        env.sandbox
            .contacts(LOCATION)
            .iter()
            .all(|c| c.email.as_deref() != Some("refused@example.com")),
        "nothing applied with a refused token"
    );
    assert_eq!(env.queued().await, 1, "the plan waits in COMMANDS");
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_a_fixed_location_applies_the_waiting_plan() {
    let env = Env::start().await;
    let writer = env.spawn_writer(env.writer_config()).await;
    let mut c = client(writer.admin).await;
    location_when(&mut c, "the demo location driven here", LOCATION, |l| {
        l.here
    })
    .await;

    // Not paused: nothing to do.
    let resp = c
        .resume_location(ResumeLocationRequest {
            location_id: LOCATION.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!resp.resumed && resp.paused_reason.is_empty(), "{resp:?}");

    // GHL refuses the token once (as if it had been revoked and then re-issued unchanged).
    env.sandbox
        .inject_fault(FaultSpec {
            kind: Some(FaultKind::ExpireToken),
            count: Some(1),
            ..Default::default()
        })
        .unwrap();
    let p = plan(
        "admin-resume",
        "resume@example.com",
        vec![
            Step::UpsertContact,
            Step::AddTags {
                tags: vec!["resumed".into()],
            },
        ],
    );
    env.send(&p).await;
    location_when(&mut c, "the location paused", LOCATION, |l| {
        !l.paused_reason.is_empty()
    })
    .await;
    // It waits: nothing applied while paused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        env.sandbox
            .contacts(LOCATION)
            .iter()
            .all(|c| c.email.as_deref() != Some("resume@example.com"))
    );

    let resp = c
        .resume_location(ResumeLocationRequest {
            location_id: LOCATION.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.resumed && resp.verified, "{resp:?}");
    assert!(resp.paused_reason.contains("401"), "{resp:?}");

    let r = env.result_of(&p, "ok").await;
    assert!(r.steps.iter().all(|s| s.ok), "{r:?}");
    let contacts = env.sandbox.contacts(LOCATION);
    let contact = contacts
        .iter()
        .find(|c| c.email.as_deref() == Some("resume@example.com"))
        .expect("the waiting plan was applied");
    assert_eq!(contact.tags, ["resumed"]);
    let loc = list(&mut c).await.locations.remove(0);
    assert_eq!(loc.paused_reason, "");
    writer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_locations_and_the_admin_token() {
    let env = Env::start().await;
    let writer = env.spawn_writer(env.writer_config()).await;
    let mut c = client(writer.admin).await;

    let err = c
        .resume_location(ResumeLocationRequest {
            location_id: "nowhere".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(err.message().contains("nowhere"), "{}", err.message());
    let err = c
        .list_locations(ListLocationsRequest {
            location_id: "nowhere".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    for bad in ["", "not.a.location"] {
        let err = c
            .resume_location(ResumeLocationRequest {
                location_id: bad.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad:?}: {err:?}");
    }

    // Without the admin token nothing is told or done.
    let mut anonymous = WriterClient::new(channel(writer.admin).await);
    let err = anonymous
        .list_locations(ListLocationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    let err = anonymous
        .resume_location(ResumeLocationRequest {
            location_id: LOCATION.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    writer.stop().await;
}
