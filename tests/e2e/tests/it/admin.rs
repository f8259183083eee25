use std::time::Duration;

use relay_contracts::StreamKind;
use relay_contracts::admin::admin_client::AdminClient;
use relay_contracts::admin::{GetStatusRequest, NatsState, PauseRequest, ResumeRequest};
use relay_e2e::{BMC_SECRET, LOCATION, Stack, admin_client, donation};
use relay_test_support::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_requires_the_token() {
    let stack = Stack::start().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", stack.writer.admin))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let err = AdminClient::new(channel.clone())
        .get_status(GetStatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut wrong = AdminClient::with_interceptor(channel, |mut r: tonic::Request<()>| {
        r.metadata_mut()
            .insert("authorization", "Bearer nope".parse().unwrap());
        Ok(r)
    });
    let err = wrong.pause(PauseRequest {}).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // Health stays open for probes; the right token gets the status.
    assert_eq!(relay_e2e::health(stack.writer.admin).await, Some(true));
    // One consumer per command partition once the single replica holds all 16 leases.
    let status = eventually(
        "the writer holds 16 partitions",
        Duration::from_secs(10),
        || async {
            let s = admin_client(stack.writer.admin)
                .await
                .get_status(GetStatusRequest {})
                .await
                .ok()?
                .into_inner();
            (s.consumers.len() == 16
                && s.details
                    .get("partitions")
                    .is_some_and(|p| p.split(',').count() == 16))
            .then_some(s)
        },
    )
    .await;
    assert_eq!(status.service, "writer");
    assert!(status.ready);
    assert_eq!(status.nats, NatsState::Connected as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_holds_work_in_the_stream_shows_lag_and_resume_loses_nothing() {
    let stack = Stack::start().await;
    let mut writer = admin_client(stack.writer.admin).await;
    writer.pause(PauseRequest {}).await.unwrap();

    let emails: Vec<String> = (0..3).map(|i| format!("paused{i}@example.com")).collect();
    for (i, e) in emails.iter().enumerate() {
        let resp = stack
            .post_bmc(&donation(6000 + i as u64, e, "Pau Sed"), Some(BMC_SECRET))
            .await;
        assert_eq!(resp.status(), 200);
    }
    // The mapper keeps working; the plans wait in COMMANDS and the writer reports them as lag.
    let status = eventually("writer lag of 3", Duration::from_secs(20), || {
        let mut writer = writer.clone();
        async move {
            let s = writer
                .get_status(GetStatusRequest {})
                .await
                .ok()?
                .into_inner();
            // One consumer per command partition: the plans sit in the demo location's.
            let lag: u64 = s.consumers.iter().map(|c| c.pending + c.ack_pending).sum();
            (lag == 3).then_some(s)
        }
    })
    .await;
    assert!(status.paused);
    assert_eq!(stack.stream_messages(StreamKind::Commands).await, 3);
    assert!(
        stack.sandbox.contacts(LOCATION).is_empty(),
        "nothing reaches GHL while paused"
    );

    writer.resume(ResumeRequest {}).await.unwrap();
    eventually(
        "all three contacts after resume",
        Duration::from_secs(20),
        || async {
            let contacts = stack.sandbox.contacts(LOCATION);
            emails
                .iter()
                .all(|e| {
                    contacts.iter().any(|c| {
                        c.email.as_deref() == Some(e.as_str())
                            && c.tags.iter().any(|t| t == "donor")
                    })
                })
                .then_some(())
        },
    )
    .await;
    // The contacts are tagged before the plans' last step (the note) is done: wait for the acks.
    let s = eventually("three plans acknowledged", Duration::from_secs(10), || {
        let mut writer = writer.clone();
        async move {
            let s = writer
                .get_status(GetStatusRequest {})
                .await
                .ok()?
                .into_inner();
            (s.consumers.iter().map(|c| c.acked).sum::<u64>() == 3).then_some(s)
        }
    })
    .await;
    assert!(!s.paused);
    // Work queue: acknowledged plans are gone.
    eventually("COMMANDS drained", Duration::from_secs(5), || async {
        (stack.stream_messages(StreamKind::Commands).await == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relayctl_status_covers_every_service_and_metrics_are_scraped() {
    use clap::Parser;
    let stack = Stack::start().await;
    stack
        .post_bmc(
            &donation(8001, "metrics@example.com", "Me Trics"),
            Some(BMC_SECRET),
        )
        .await;

    let services = format!(
        "ingest-bmc=http://{},mapper=http://{},writer=http://{}",
        stack.ingest.admin, stack.mapper.admin, stack.writer.admin
    );
    let ok = relayctl::Cli::parse_from([
        "relayctl",
        "--json",
        "--service",
        &services,
        "--token",
        relay_test_support::ADMIN_TOKEN,
        "status",
    ]);
    assert_eq!(relayctl::run(ok).await.unwrap(), 0, "every service ready");
    let bad_token = relayctl::Cli::parse_from([
        "relayctl",
        "--service",
        &services,
        "--token",
        "wrong",
        "status",
    ]);
    assert_eq!(
        relayctl::run(bad_token).await.unwrap(),
        1,
        "a refused token is a failure"
    );
    let unreachable = relayctl::Cli::parse_from([
        "relayctl",
        "--service",
        "x=http://127.0.0.1:1",
        "--token",
        "t",
        "status",
    ]);
    assert_eq!(relayctl::run(unreachable).await.unwrap(), 1);

    let metrics = eventually("ingest metrics", Duration::from_secs(10), || async {
        let body = stack
            .http
            .get(format!("http://{}/metrics", stack.ingest.admin))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        body.contains("relay_ingest_deliveries_total")
            .then_some(body)
    })
    .await;
    assert!(metrics.contains("outcome=\"accepted\""), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kv_buckets_are_provisioned_in_the_namespace() {
    let stack = Stack::start().await;
    let cfg = relay_common::config::NatsConfig {
        url: stack.nats.url(),
        prefix: Some(stack.prefix.clone()),
        ..Default::default()
    };
    let nats = relay_common::nats::Nats::connect(&cfg, "test")
        .await
        .unwrap();
    for bucket in relay_contracts::Bucket::ALL {
        let kv = nats.ensure_bucket(bucket, 1).await.unwrap();
        kv.put("probe", "1".into()).await.unwrap();
        // Idempotent: a second ensure opens the same bucket with the value in it.
        let again = nats.ensure_bucket(bucket, 1).await.unwrap();
        assert_eq!(
            again.get("probe").await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
        let mut status = again.status().await.unwrap();
        assert!(status.bucket().starts_with(stack.prefix.as_str()));
        let _ = &mut status;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_is_not_serving_until_nats_was_reached() {
    relay_test_support::otlp::init_tracing();
    let mut cfg = relay_ingest::IngestConfig::for_ports(0, 0);
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.admin = relay_e2e::admin_config();
    // Nothing listens here: the service starts, keeps trying, and must never claim SERVING.
    cfg.nats.url = format!("nats://127.0.0.1:{}", relay_test_support::free_port());
    cfg.nats.connect_timeout = Duration::from_millis(200);
    let server = relay_ingest::IngestServer::from_config(
        cfg,
        relay_ingest_bmc::Bmc,
        relay_common::telemetry::LogControl::unavailable(),
    )
    .await
    .unwrap();
    let admin = server.admin_addr();
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(server.run(stop.clone()));
    for _ in 0..10 {
        assert_eq!(
            relay_e2e::health(admin).await,
            Some(false),
            "SERVING without NATS"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await.unwrap().unwrap();
}
