//! The Admin commands share the Mapper's channel and auth code.

use crate::{FakeAdminPort, dead_url, relayctl, relayctl_with};

#[tokio::test]
async fn pause_status_resume() {
    let port = FakeAdminPort::start().await;
    let run = relayctl(&port, &["pause", "mapper"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "mapper: paused\n"),
        "{run:?}"
    );

    let run = relayctl(&port, &["status", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json[0]["service"], "mapper");
    assert_eq!(json[0]["status"]["paused"], true);
    assert_eq!(json[0]["status"]["nats"], "connected");

    let run = relayctl(&port, &["resume", "mapper", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap(),
        serde_json::json!({ "service": "mapper", "paused": false })
    );

    let run = relayctl(&port, &["status"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("0.1.0-test"), "{}", run.stdout);
}

#[tokio::test]
async fn status_reports_refused_tokens_and_down_services() {
    let port = FakeAdminPort::start().await;
    let run = relayctl_with(&port.url, "wrong", &["status"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("DOWN"), "{}", run.stdout);
    assert!(
        run.stdout.contains("the admin token was refused"),
        "{}",
        run.stdout
    );

    let run = relayctl_with(&dead_url().await, "t", &["pause", "mapper"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("mapper is unreachable at"),
        "{}",
        run.stderr
    );

    let run = relayctl(&port, &["pause", "writer"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("unknown service \"writer\""),
        "{}",
        run.stderr
    );
}
