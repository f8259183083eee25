//! `relayctl locations` and `relayctl limits` against a real writer: a real nats-server, the
//! sandbox as GHL, and the writer service running in-process with its admin port (behind its
//! token) serving `relay.writer.v1.Writer`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use clap::Parser as _;
use relay_common::SecretRef;
use relay_common::config::{AdminConfig, NatsConfig};
use relay_common::nats::Nats;
use relay_common::telemetry::LogControl;
use relay_contracts::nats::{COMMAND_PARTITIONS, partition_of};
use relay_contracts::plan::{ContactFields, ContactSpec, Lookup, Step};
use relay_contracts::version::V1;
use relay_contracts::{ContactPlan, EventId, PlanId, Token};
use relay_sandbox::{DEMO_LOCATION_ID, DEMO_TOKEN, FaultKind, FaultSpec, Sandbox, SandboxState};
use relay_test_support::{ADMIN_TOKEN, NatsServer, eventually, unique_prefix};
use relay_writer::WriterConfig;
use relay_writer::config::LocationConfig;
use tokio_util::sync::CancellationToken;

use crate::{Buf, FakeAdminPort, Run, dead_url};

/// A location whose private integration token GHL does not know.
const REFUSED: &str = "refused-location";

/// nats-server, the sandbox, and a writer for the demo location (its real token) and
/// [`REFUSED`] (a wrong one).
struct Stack {
    url: String,
    nats: Nats,
    sandbox: SandboxState,
    stop: CancellationToken,
    _server: NatsServer,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn pit(token: &str) -> LocationConfig {
    LocationConfig {
        token: Some(SecretRef::Literal(token.into())),
        oauth: None,
        rate_limit: None,
    }
}

impl Stack {
    async fn start() -> Self {
        let server = NatsServer::start();
        let stop = CancellationToken::new();
        let sandbox = Sandbox::bind(relay_sandbox::SandboxConfig::for_tests())
            .await
            .unwrap();
        let sandbox_url = format!("http://{}", sandbox.local_addr());
        let state = sandbox.state();
        tokio::spawn(sandbox.run(stop.clone()));

        let nats_cfg = NatsConfig {
            url: server.url(),
            prefix: Some(unique_prefix()),
            ..NatsConfig::default()
        };
        let mut cfg = WriterConfig {
            nats: nats_cfg.clone(),
            admin: AdminConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                token: SecretRef::Literal(ADMIN_TOKEN.into()),
                drain_timeout: Duration::from_secs(3),
            },
            locations: BTreeMap::from([
                (Token::parse(DEMO_LOCATION_ID).unwrap(), pit(DEMO_TOKEN)),
                (Token::parse(REFUSED).unwrap(), pit("pit-nobody-issued")),
            ]),
            ..WriterConfig::default()
        };
        cfg.ghl.base_url = sandbox_url.parse().unwrap();
        cfg.ghl.timeout = Duration::from_secs(2);
        cfg.consumer.backoff_base = Duration::from_millis(50);
        cfg.consumer.backoff_max = Duration::from_millis(500);
        cfg.partitions.lease_ttl = Duration::from_secs(2);
        let writer = relay_writer::WriterServer::from_config(cfg, LogControl::unavailable())
            .await
            .unwrap();
        let url = format!("http://{}", writer.admin_addr());
        tokio::spawn(writer.run(stop.clone()));

        let nats = Nats::connect(&nats_cfg, "relayctl-locations-test")
            .await
            .unwrap();
        let stack = Self {
            url,
            nats,
            sandbox: state,
            stop,
            _server: server,
        };
        // Ready once the writer holds its partitions.
        stack
            .wait("the writer driving the demo location", |j| {
                location(j, DEMO_LOCATION_ID)["here"] == true
            })
            .await;
        stack
    }

    async fn relayctl(&self, args: &[&str]) -> Run {
        run_with(&[format!("writer={}", self.url)], ADMIN_TOKEN, args).await
    }

    /// `locations list --json` once `ready` holds for it.
    async fn wait(
        &self,
        what: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        eventually(what, Duration::from_secs(15), || async {
            let run = self.relayctl(&["locations", "list", "--json"]).await;
            if run.code != 0 {
                return None;
            }
            let j = json(&run);
            ready(&j).then_some(j)
        })
        .await
    }

    /// Publishes a plan for `email` in `location` where the mapper would.
    async fn send(&self, location: &str, email: &str) {
        let location_id = Token::parse(location).unwrap();
        let plan = ContactPlan {
            v: V1,
            id: PlanId::derive(&[location, email]),
            location_id: location_id.clone(),
            connection: "test/relayctl".into(),
            source_event_id: EventId::derive(&[location, email]),
            contact: ContactSpec {
                lookup: Lookup::EmailOrPhone,
                fields: ContactFields {
                    email: Some(email.into()),
                    first_name: Some("Test".into()),
                    ..ContactFields::default()
                },
                custom_fields: BTreeMap::new(),
            },
            steps: vec![Step::UpsertContact],
        };
        let subject = self
            .nats
            .ns
            .command(partition_of(&location_id, COMMAND_PARTITIONS), &location_id);
        let mut h = async_nats::HeaderMap::new();
        h.insert("Content-Type", "application/json");
        self.nats
            .publish(
                subject,
                Some(plan.id.as_str()),
                h,
                serde_json::to_vec(&plan).unwrap().into(),
            )
            .await
            .unwrap();
    }

    fn has_contact(&self, email: &str) -> bool {
        self.sandbox
            .contacts(DEMO_LOCATION_ID)
            .iter()
            .any(|c| c.email.as_deref() == Some(email))
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

fn location<'a>(list: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    list["locations"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["location_id"] == id))
        .unwrap_or(&serde_json::Value::Null)
}

/// The cells of the table row that starts with `first`.
fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| {
            l.split(['│', '┆'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_list_and_limits() {
    let stack = Stack::start().await;

    let run = stack.relayctl(&["locations", "list"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let demo = row(&run.stdout, DEMO_LOCATION_ID);
    let partition = partition_of(&Token::parse(DEMO_LOCATION_ID).unwrap(), COMMAND_PARTITIONS);
    assert_eq!(
        demo[..8],
        [
            DEMO_LOCATION_ID,
            &partition.to_string(),
            "yes",
            "pit",
            "-",
            "100/100 per 10s",
            "200000",
            "-",
        ],
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("holds 16 of 16 partitions"),
        "{}",
        run.stdout
    );

    let run = stack
        .relayctl(&["limits", "--location", DEMO_LOCATION_ID])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        row(&run.stdout, DEMO_LOCATION_ID)[..8],
        [
            DEMO_LOCATION_ID,
            "yes",
            "10s",
            "100",
            "100",
            "100",
            "200000/200000",
            "-"
        ],
        "{}",
        run.stdout
    );
    assert!(row(&run.stdout, REFUSED).is_empty(), "filtered out");

    let run = stack.relayctl(&["limits", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let j = json(&run);
    assert_eq!(j["partitions"], 16);
    assert_eq!(j["locations"].as_array().unwrap().len(), 2);
    let demo = location(&j, DEMO_LOCATION_ID);
    assert_eq!(demo["auth_kind"], "pit");
    assert_eq!(demo["token_expires_at"], "");
    assert_eq!(demo["budget"]["window_ms"], 10_000);
    assert_eq!(demo["budget"]["configured_daily_limit"], 200_000);

    // Requests are counted.
    stack.send(DEMO_LOCATION_ID, "counted@example.com").await;
    stack
        .wait("a request admitted", |j| {
            location(j, DEMO_LOCATION_ID)["budget"]["admitted_total"]
                .as_u64()
                .is_some_and(|n| n >= 1)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_resume_with_and_without_a_fix() {
    let stack = Stack::start().await;

    // Not paused: nothing to do.
    let run = stack
        .relayctl(&["locations", "resume", DEMO_LOCATION_ID])
        .await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "demo-location: not paused; nothing to resume\n"),
        "{run:?}"
    );

    // GHL refuses the demo token once: the location pauses and its plan waits.
    stack
        .sandbox
        .inject_fault(FaultSpec {
            kind: Some(FaultKind::ExpireToken),
            count: Some(1),
            location_id: Some(DEMO_LOCATION_ID.into()),
            ..FaultSpec::default()
        })
        .unwrap();
    stack.send(DEMO_LOCATION_ID, "waits@example.com").await;
    // And the other location's token is not GHL's at all.
    stack.send(REFUSED, "never@example.com").await;
    stack
        .wait("both locations paused", |j| {
            [DEMO_LOCATION_ID, REFUSED]
                .iter()
                .all(|id| location(j, id)["paused_reason"] != "")
        })
        .await;
    let run = stack.relayctl(&["locations", "list"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        row(&run.stdout, REFUSED)[4].starts_with("private integration token rejected (401)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("relayctl locations resume <location>"),
        "{}",
        run.stdout
    );
    assert!(!stack.has_contact("waits@example.com"));

    // Still refused: exit 1, still paused, GHL's reason.
    let run = stack.relayctl(&["locations", "resume", REFUSED]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "writer: location {REFUSED} is still paused: private integration token rejected (401)"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("rotate it in the writer config"),
        "{}",
        run.stderr
    );
    let j = json(&stack.relayctl(&["locations", "list", "--json"]).await);
    assert_ne!(location(&j, REFUSED)["paused_reason"], "");

    // Fixed (the refusal was a one-off): resumed, checked, and the waiting plan goes through.
    let run = stack
        .relayctl(&["locations", "resume", DEMO_LOCATION_ID, "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let j = json(&run);
    assert_eq!(j["location_id"], DEMO_LOCATION_ID);
    assert_eq!(j["resumed"], true);
    assert_eq!(j["verified"], true);
    assert!(
        j["paused_reason"]
            .as_str()
            .unwrap()
            .contains("rejected (401)"),
        "{j}"
    );
    eventually(
        "the waiting plan applied",
        Duration::from_secs(15),
        || async { stack.has_contact("waits@example.com").then_some(()) },
    )
    .await;
    let j = json(&stack.relayctl(&["locations", "list", "--json"]).await);
    assert_eq!(location(&j, DEMO_LOCATION_ID)["paused_reason"], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_errors() {
    let stack = Stack::start().await;

    let run = stack.relayctl(&["locations", "resume", "nowhere"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("writer: not found: the writer is not configured for location nowhere"),
        "{}",
        run.stderr
    );
    let run = stack
        .relayctl(&["locations", "list", "--location", "nowhere"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("not found"), "{}", run.stderr);

    // Not a location id at all: rejected input.
    let run = stack.relayctl(&["limits", "--location", "a.b"]).await;
    assert_eq!(run.code, 65, "{run:?}");
    assert!(
        run.stderr.contains("writer: the request was rejected"),
        "{}",
        run.stderr
    );

    let service = format!("writer={}", stack.url);
    let run = run_with(
        std::slice::from_ref(&service),
        "not-the-token",
        &["locations", "list"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("writer: the admin token was refused"),
        "{}",
        run.stderr
    );
    let run = run_with(
        std::slice::from_ref(&service),
        "not-the-token",
        &["locations", "resume", DEMO_LOCATION_ID],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("the admin token was refused"),
        "{}",
        run.stderr
    );

    let dead = format!("writer={}", dead_url().await);
    let run = run_with(&[dead], ADMIN_TOKEN, &["limits"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("writer is unreachable at"),
        "{}",
        run.stderr
    );

    let run = stack
        .relayctl(&["locations", "list", "--via", "writer-2"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("unknown service \"writer-2\""),
        "{}",
        run.stderr
    );

    // A service that does not host the writer's API (the mapper, say).
    let port = FakeAdminPort::start().await;
    let run = run_with(
        &[format!("mapper={}", port.url)],
        crate::TOKEN,
        &["locations", "list", "--via", "mapper"],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("does not serve relay.writer.v1.Writer"),
        "{}",
        run.stderr
    );
}
