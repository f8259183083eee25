//! `relayctl dlq` against the real dead-letter service: a real nats-server, the Relay streams
//! under a unique prefix, dead letters made by the real consumer loop, and
//! `relay_common::dlq::server` hosted on a real admin endpoint behind its token, as the workers
//! host it.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use clap::Parser as _;
use relay_common::admin::{AdminEndpoint, AdminState};
use relay_common::config::NatsConfig;
use relay_common::consumer::{Consumer, ConsumerSettings, Handler, HandlerError, PauseControl};
use relay_common::nats::Nats;
use relay_common::telemetry::LogControl;
use relay_contracts::{Source, StreamKind, Token, headers};
use relay_test_support::{NatsServer, eventually, unique_prefix};
use tokio_util::sync::CancellationToken;

use crate::{Buf, FakeAdminPort, Run, dead_url};

const TOKEN: &str = "dlq-admin-token";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A nats-server with the Relay streams, and a worker's admin endpoint hosting the DLQ API.
struct Stack {
    nats: Nats,
    url: String,
    stop: CancellationToken,
    _server: NatsServer,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Stack {
    async fn start() -> Self {
        let server = NatsServer::start();
        let cfg = NatsConfig {
            url: server.url(),
            prefix: Some(unique_prefix()),
            ..NatsConfig::default()
        };
        let nats = Nats::connect(&cfg, "relayctl-dlq-test").await.unwrap();
        nats.provision_until_ready(&cfg, &CancellationToken::new())
            .await
            .unwrap();
        eventually("NATS connected", Duration::from_secs(5), || async {
            nats.is_connected().then_some(())
        })
        .await;
        let state = AdminState::new(
            "writer",
            nats.clone(),
            TOKEN.to_owned().into(),
            LogControl::unavailable(),
        );
        let mut endpoint = AdminEndpoint::bind("127.0.0.1:0".parse().unwrap(), state)
            .await
            .unwrap();
        endpoint.add_service(relay_common::dlq::server(nats.clone()));
        let url = format!("http://{}", endpoint.local_addr());
        let stop = CancellationToken::new();
        tokio::spawn(endpoint.run(stop.clone()));
        Self {
            nats,
            url,
            stop,
            _server: server,
        }
    }

    async fn count(&self, kind: StreamKind) -> u64 {
        self.nats
            .js
            .get_stream(self.nats.ns.stream_name(kind))
            .await
            .unwrap()
            .get_info()
            .await
            .unwrap()
            .state
            .messages
    }

    /// Publishes commands and lets a writer-stage consumer that refuses everything dead-letter
    /// them (in order); stops it afterwards so redriven commands stay in the stream.
    async fn dead_letter_commands(&self, msgs: &[(&str, &str)]) {
        let before = self.count(StreamKind::Dlq).await;
        let pull = self
            .nats
            .ensure_consumer(
                StreamKind::Commands,
                consumer::pull::Config {
                    durable_name: Some(self.nats.ns.consumer_name("test-writer")),
                    filter_subject: self.nats.ns.all(StreamKind::Commands),
                    ack_policy: consumer::AckPolicy::Explicit,
                    max_deliver: 3,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let consumer = Consumer::new(
            self.nats.clone(),
            "writer",
            StreamKind::Commands,
            pull,
            Arc::new(Refuse),
            ConsumerSettings {
                concurrency: 1,
                ..ConsumerSettings::default()
            },
            PauseControl::default(),
        );
        let stop = CancellationToken::new();
        let running = tokio::spawn(consumer.run(stop.clone()));
        for (i, (subject, payload)) in msgs.iter().enumerate() {
            let mut h = HeaderMap::new();
            h.insert("traceparent", TRACEPARENT);
            h.insert(headers::CONTENT_TYPE, "application/json");
            self.nats
                .publish(
                    self.nats.ns.qualify(subject),
                    Some(&format!(
                        "{}-{i}",
                        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
                    )),
                    h,
                    payload.to_string().into(),
                )
                .await
                .unwrap();
        }
        let want = before + msgs.len() as u64;
        eventually("dead letters", Duration::from_secs(10), || async {
            (self.count(StreamKind::Dlq).await >= want).then_some(())
        })
        .await;
        stop.cancel();
        running.await.unwrap();
    }

    /// A malformed storefront delivery, dead-lettered the way ingest does.
    async fn dead_letter_delivery(&self) -> u64 {
        let mut h = HeaderMap::new();
        h.insert(
            headers::DLQ_REASON,
            "malformed body: missing field `sale_id`",
        );
        h.insert(headers::DLQ_STAGE, "ingest");
        let subject = self
            .nats
            .ns
            .dlq_ingest(Source::Gumroad, &Token::parse("demo").unwrap());
        self.nats
            .publish(subject, None, h, "email=".into())
            .await
            .unwrap()
            .sequence
    }

    /// Writer: seq 1 (loc-a, invalid email), seq 2 (loc-b); ingest: seq 3.
    async fn populate(&self) {
        self.dead_letter_commands(&[
            ("cmd.1.loc-a", r#"{"plan":"p1","problem":"invalid email"}"#),
            ("cmd.2.loc-b", r#"{"plan":"p2","problem":"unknown field"}"#),
        ])
        .await;
        assert_eq!(self.dead_letter_delivery().await, 3);
    }

    async fn relayctl(&self, args: &[&str]) -> Run {
        run_with(&[format!("writer={}", self.url)], TOKEN, args).await
    }
}

struct Refuse;

impl Handler for Refuse {
    async fn handle(&self, msg: &jetstream::Message) -> Result<(), HandlerError> {
        Err(HandlerError::permanent(format!(
            "GHL answered 422: {}",
            String::from_utf8_lossy(&msg.payload)
        )))
    }
}

/// Runs relayctl as `main` would, with these `--service` endpoints and token.
async fn run_with(services: &[String], token: &str, args: &[&str]) -> Run {
    let mut all = vec!["relayctl", "--token", token];
    for s in services {
        all.extend(["--service", s.as_str()]);
    }
    all.extend_from_slice(args);
    let cli = relayctl::Cli::try_parse_from(all).unwrap();
    let (out, err) = (Buf::default(), Buf::default());
    let mut con = relayctl::Console::new(out.clone(), err.clone());
    let code = match relayctl::run_with(cli, &mut con).await {
        Ok(code) => code,
        Err(e) => {
            writeln!(err.clone(), "relayctl: {e:#}").unwrap();
            relayctl::exit_code(&e)
        }
    };
    Run {
        code,
        stdout: out.text(),
        stderr: err.text(),
    }
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_and_show() {
    let stack = Stack::start().await;
    stack.populate().await;

    let run = stack.relayctl(&["dlq", "list"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    for needle in [
        "cmd.1.loc-a",
        "cmd.2.loc-b",
        "ingest",
        "GHL answered 422",
        "malformed body",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
    assert!(
        run.stdout.ends_with("3 dead letters (newest first)\n"),
        "{}",
        run.stdout
    );
    // Newest first: the ingest delivery's row comes before the commands'.
    let pos = |s: &str| run.stdout.find(s).unwrap();
    assert!(pos("malformed body") < pos("cmd.2.loc-b"));
    assert!(pos("cmd.2.loc-b") < pos("cmd.1.loc-a"));

    let run = stack
        .relayctl(&["dlq", "list", "--stage", "writer", "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let j = json(&run);
    assert_eq!(j["total"], 2);
    assert_eq!(j["entries"][0]["seq"], 2);
    assert_eq!(j["entries"][1]["original_subject"], "cmd.1.loc-a");
    assert_eq!(j["entries"][1]["deliveries"], 1);
    assert_eq!(
        j["entries"][1]["trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );

    let run = stack
        .relayctl(&[
            "dlq",
            "list",
            "--reason",
            "INVALID EMAIL",
            "--since",
            "1h",
            "--json",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let j = json(&run);
    assert_eq!(
        (j["total"].as_u64(), j["entries"][0]["seq"].as_u64()),
        (Some(1), Some(1))
    );

    let run = stack
        .relayctl(&["dlq", "list", "--limit", "1", "--oldest-first"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("cmd.1.loc-a"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("1 of 3 dead letters (oldest first); narrow the filters or raise --limit"),
        "{}",
        run.stdout
    );

    let run = stack
        .relayctl(&["dlq", "list", "--subject", "mapper.>"])
        .await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "no dead letters match\n")
    );

    let run = stack.relayctl(&["dlq", "show", "1"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    for needle in [
        "dlq.writer.cmd.1.loc-a",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        TRACEPARENT,
        headers::DLQ_REASON,
        "payload (JSON):",
        "\"problem\": \"invalid email\"",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }

    let run = stack.relayctl(&["dlq", "show", "1", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let j = json(&run);
    assert_eq!(j["seq"], 1);
    assert_eq!(j["stage"], "writer");
    assert_eq!(j["payload_encoding"], "utf8");
    assert_eq!(j["payload"], r#"{"plan":"p1","problem":"invalid email"}"#);
    assert!(
        j["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "traceparent" && h["value"] == TRACEPARENT),
        "{j}"
    );

    let run = stack.relayctl(&["dlq", "show", "99"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("writer: not found: no dead letter with sequence 99"),
        "{}",
        run.stderr
    );

    // What the service rejects is a data error.
    let run = stack
        .relayctl(&["dlq", "list", "--subject", "writer..x"])
        .await;
    assert_eq!(run.code, 65, "{run:?}");
    assert!(
        run.stderr
            .contains("writer: the request was rejected: subject \"writer..x\""),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_redrive_and_purge() {
    let stack = Stack::start().await;
    stack.populate().await;
    assert_eq!(stack.count(StreamKind::Commands).await, 0);

    let run = stack.relayctl(&["dlq", "redrive", "1", "--dry-run"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("would redrive"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("dry run: 1 would be redriven, 0 refused; nothing was published or deleted"),
        "{}",
        run.stdout
    );
    assert_eq!(stack.count(StreamKind::Commands).await, 0);

    let run = stack.relayctl(&["dlq", "redrive", "1"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("redriven 1, refused 0, failed 0"),
        "{}",
        run.stdout
    );
    assert_eq!(stack.count(StreamKind::Commands).await, 1);
    let back = stack
        .nats
        .js
        .get_stream(stack.nats.ns.stream_name(StreamKind::Commands))
        .await
        .unwrap()
        .direct_get_first_for_subject(stack.nats.ns.qualify("cmd.1.loc-a"))
        .await
        .unwrap();
    assert_eq!(
        back.headers.get("traceparent").map(|v| v.as_str()),
        Some(TRACEPARENT)
    );
    assert_eq!(
        back.headers.get(headers::MSG_ID).map(|v| v.as_str()),
        Some("redrive:1")
    );

    // A storefront delivery cannot be redriven: exit 1 and why.
    let run = stack.relayctl(&["dlq", "redrive", "3"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("REFUSED"), "{}", run.stdout);
    assert!(
        run.stdout.contains("never became an event"),
        "{}",
        run.stdout
    );

    let run = stack
        .relayctl(&["dlq", "redrive", "--all", "--stage", "writer", "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let j = json(&run);
    assert_eq!(j["redriven"], 1);
    assert_eq!(j["results"][0]["seq"], 2);
    assert_eq!(j["results"][0]["outcome"], "redriven");
    assert_eq!(j["results"][0]["subject"], "cmd.2.loc-b");
    assert_eq!(stack.count(StreamKind::Commands).await, 2);

    // `--all` purges only with --yes; without it, says how many it would delete.
    let run = stack.relayctl(&["dlq", "purge", "--all"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("refusing to purge 1 dead letter without --yes"),
        "{}",
        run.stderr
    );
    assert_eq!(stack.count(StreamKind::Dlq).await, 1);

    // By sequence; one that is not there makes it exit 1.
    let run = stack.relayctl(&["dlq", "purge", "3", "42"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.starts_with("purged 1 dead letter\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("42"), "{}", run.stdout);
    assert_eq!(stack.count(StreamKind::Dlq).await, 0);

    // (The redriven commands leave the queue first, or the refusing consumer would take them
    // too.)
    stack
        .nats
        .js
        .get_stream(stack.nats.ns.stream_name(StreamKind::Commands))
        .await
        .unwrap()
        .purge()
        .await
        .unwrap();
    stack
        .dead_letter_commands(&[("cmd.3.loc-c", "{}"), ("cmd.3.loc-c", "{}")])
        .await;
    stack.dead_letter_delivery().await;
    let run = stack
        .relayctl(&[
            "dlq", "purge", "--all", "--stage", "writer", "--yes", "--json",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(json(&run)["purged"], 2);
    let run = stack.relayctl(&["dlq", "purge", "--all", "--yes"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "purged 1 dead letter\n"),
        "{run:?}"
    );
    assert_eq!(stack.count(StreamKind::Dlq).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_errors_say_what_is_wrong() {
    let stack = Stack::start().await;
    let writer = format!("writer={}", stack.url);

    let run = run_with(std::slice::from_ref(&writer), "wrong", &["dlq", "list"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("writer: the admin token was refused (invalid admin token)"),
        "{}",
        run.stderr
    );

    let dead = format!("writer={}", dead_url().await);
    let run = run_with(&[dead], TOKEN, &["dlq", "show", "1"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("writer is unreachable at"),
        "{}",
        run.stderr
    );

    // --via picks another worker; it must be known.
    let run = run_with(
        std::slice::from_ref(&writer),
        TOKEN,
        &["dlq", "list", "--via", "mapper"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("unknown service \"mapper\""),
        "{}",
        run.stderr
    );
    let mapper = format!("mapper={}", stack.url);
    let run = run_with(&[mapper], TOKEN, &["dlq", "--via", "mapper", "list"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "no dead letters match\n"),
        "{run:?}"
    );

    // A service that does not host the API (an older one).
    let fake = FakeAdminPort::start().await;
    let run = run_with(
        &[format!("writer={}", fake.url)],
        crate::TOKEN,
        &["dlq", "list"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("does not serve relay.dlq.v1.DeadLetters"),
        "{}",
        run.stderr
    );

    // Usage errors exit 2 before anything is called.
    let run = run_with(
        &[writer],
        TOKEN,
        &["dlq", "purge", "1", "--stage", "writer"],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("with --all"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_with_the_documented_codes() {
    let stack = Stack::start().await;
    stack.populate().await;
    let url = stack.url.clone();
    let relayctl = |token: &'static str, args: &'static [&'static str]| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_relayctl"))
                .args(["--service", &format!("writer={url}"), "--token", token])
                .args(args)
                .env_remove("RELAY_SERVICES")
                .env_remove("RELAY_ADMIN_TOKEN")
                .output()
                .unwrap()
        })
    };

    let out = relayctl(TOKEN, &["dlq", "list", "--json"]).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["total"], 3);

    let out = relayctl("wrong", &["dlq", "list"]).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("relayctl: writer: the admin token was refused"),
        "{stderr}"
    );

    let out = relayctl(TOKEN, &["dlq", "purge", "--all"]).await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(stack.count(StreamKind::Dlq).await, 3);

    let out = relayctl(TOKEN, &["dlq", "redrive"]).await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
