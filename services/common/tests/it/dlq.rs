//! `relay.dlq.v1.DeadLetters` against a real nats-server, hosted on a real admin endpoint (the
//! way the workers host it: behind the admin token) and called over gRPC. Dead letters are made
//! by the real consumer loop, with a handler that refuses everything.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use relay_common::admin::{AdminEndpoint, AdminState};
use relay_common::config::NatsConfig;
use relay_common::consumer::{Consumer, ConsumerSettings, Handler, HandlerError, PauseControl};
use relay_common::nats::Nats;
use relay_common::telemetry::LogControl;
use relay_contracts::dlq_admin::dead_letters_client::DeadLettersClient;
use relay_contracts::dlq_admin::{
    Entry, Filter, ListRequest, Order, PayloadEncoding, PurgeRequest, RedriveOutcome,
    RedriveRequest, Selection, ShowRequest,
};
use relay_contracts::{Source, StreamKind, Token, headers};
use relay_test_support::{NatsServer, eventually, unique_prefix};
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

const TOKEN: &str = "dlq-test-token";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

type Interceptor = fn(Request<()>) -> Result<Request<()>, Status>;
type Client = DeadLettersClient<InterceptedService<Channel, Interceptor>>;

fn with_token(mut req: Request<()>) -> Result<Request<()>, Status> {
    req.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    Ok(req)
}

fn with_wrong_token(mut req: Request<()>) -> Result<Request<()>, Status> {
    req.metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    Ok(req)
}

/// A real nats-server with the Relay streams under a unique prefix, and the DLQ API on an
/// admin endpoint.
struct Fixture {
    nats: Nats,
    url: String,
    stop: CancellationToken,
    _server: NatsServer,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Fixture {
    async fn start() -> Self {
        let server = NatsServer::start();
        let cfg = NatsConfig {
            url: server.url(),
            prefix: Some(unique_prefix()),
            ..NatsConfig::default()
        };
        let nats = Nats::connect(&cfg, "dlq-test").await.unwrap();
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

    async fn client_with(&self, auth: Interceptor) -> Client {
        let channel = Channel::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        DeadLettersClient::with_interceptor(channel, auth)
    }

    async fn client(&self) -> Client {
        self.client_with(with_token).await
    }

    fn subject(&self, s: &str) -> String {
        self.nats.ns.qualify(s)
    }

    async fn stream(&self, kind: StreamKind) -> jetstream::stream::Stream {
        self.nats
            .js
            .get_stream(self.nats.ns.stream_name(kind))
            .await
            .unwrap()
    }

    async fn count(&self, kind: StreamKind) -> u64 {
        self.stream(kind)
            .await
            .get_info()
            .await
            .unwrap()
            .state
            .messages
    }

    /// Publishes `msgs` to `kind`'s stream and lets a `stage` consumer that refuses everything
    /// dead-letter them (in order), then stops it so nothing consumes a redriven message.
    async fn dead_letter(&self, stage: &'static str, kind: StreamKind, msgs: &[(&str, &str)]) {
        let before = self.count(StreamKind::Dlq).await;
        let pull = self
            .nats
            .ensure_consumer(
                kind,
                consumer::pull::Config {
                    durable_name: Some(self.nats.ns.consumer_name(&format!("test-{stage}"))),
                    filter_subject: self.nats.ns.all(kind),
                    ack_policy: consumer::AckPolicy::Explicit,
                    max_deliver: 3,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let settings = ConsumerSettings {
            concurrency: 1,
            ..ConsumerSettings::default()
        };
        let consumer = Consumer::new(
            self.nats.clone(),
            stage,
            kind,
            pull,
            Arc::new(Refuse),
            settings,
            PauseControl::default(),
        );
        let stop = CancellationToken::new();
        let running = tokio::spawn(consumer.run(stop.clone()));
        for (i, (subject, payload)) in msgs.iter().enumerate() {
            let mut h = HeaderMap::new();
            h.insert("traceparent", TRACEPARENT);
            h.insert(headers::CONTENT_TYPE, "application/json");
            h.insert("X-Relay-Test", format!("{stage}-{i}").as_str());
            self.nats
                .publish(
                    self.subject(subject),
                    Some(&format!(
                        "{stage}-{}-{i}",
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
    async fn dead_letter_ingest(&self, connection: &str, reason: &str) -> u64 {
        let mut h = HeaderMap::new();
        h.insert(headers::DLQ_REASON, reason);
        h.insert(headers::DLQ_STAGE, "ingest");
        h.insert(headers::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let subject = self
            .nats
            .ns
            .dlq_ingest(Source::Gumroad, &Token::parse(connection).unwrap());
        self.nats
            .publish(subject, None, h, "sale_id=1&email=".into())
            .await
            .unwrap()
            .sequence
    }
}

/// Refuses every message for good, with a reason taken from its payload.
struct Refuse;

impl Handler for Refuse {
    async fn handle(&self, msg: &jetstream::Message) -> Result<(), HandlerError> {
        Err(HandlerError::permanent(format!(
            "GHL answered 422: {}",
            String::from_utf8_lossy(&msg.payload)
        )))
    }
}

fn filter(f: impl FnOnce(&mut Filter)) -> Option<Filter> {
    let mut filter = Filter::default();
    f(&mut filter);
    Some(filter)
}

async fn list(c: &mut Client, filter: Option<Filter>) -> (Vec<Entry>, u64) {
    let r = c
        .list(ListRequest {
            filter,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (r.entries, r.total)
}

fn seqs(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Writer: 3 (two for loc-a, one for loc-b); mapper: 1; ingest: 1. Returns them by DLQ seq:
/// (writer, mapper, ingest).
async fn populate(fx: &Fixture) -> (Vec<u64>, u64, u64) {
    fx.dead_letter(
        "writer",
        StreamKind::Commands,
        &[
            ("cmd.1.loc-a", r#"{"plan":"p1","problem":"invalid email"}"#),
            (
                "cmd.1.loc-a",
                r#"{"plan":"p2","problem":"unknown custom field"}"#,
            ),
            ("cmd.2.loc-b", r#"{"plan":"p3","problem":"Invalid Email"}"#),
        ],
    )
    .await;
    fx.dead_letter(
        "mapper",
        StreamKind::Events,
        &[("evt.gumroad.demo.order.paid", r#"{"v":7}"#)],
    )
    .await;
    let ingest = fx
        .dead_letter_ingest("demo", "malformed body: missing field `sale_id`")
        .await;
    (vec![1, 2, 3], 4, ingest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_orders_and_counts() {
    let fx = Fixture::start().await;
    let (writer, mapper, ingest) = populate(&fx).await;
    assert_eq!(ingest, 5);
    let mut c = fx.client().await;

    // Everything, newest first, with what each entry is.
    let (all, total) = list(&mut c, None).await;
    assert_eq!(total, 5);
    assert_eq!(seqs(&all), [5, 4, 3, 2, 1]);
    let first = all.iter().find(|e| e.seq == writer[0]).unwrap();
    assert_eq!(first.subject, "dlq.writer.cmd.1.loc-a");
    assert_eq!(first.stage, "writer");
    assert_eq!(first.original_subject, "cmd.1.loc-a");
    assert_eq!(
        first.reason,
        r#"GHL answered 422: {"plan":"p1","problem":"invalid email"}"#
    );
    assert_eq!(first.deliveries, 1);
    assert_eq!(first.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(first.size, 39);
    assert!(first.time.ends_with('Z'), "{}", first.time);
    let ing = all.iter().find(|e| e.seq == ingest).unwrap();
    assert_eq!(
        (ing.stage.as_str(), ing.original_subject.as_str()),
        ("ingest", "")
    );
    assert_eq!(ing.subject, "dlq.ingest.gumroad.demo");

    // Oldest first, and limits (the total still counts every match).
    let r = c
        .list(ListRequest {
            filter: None,
            limit: 2,
            order: Order::OldestFirst.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((seqs(&r.entries), r.total), (vec![1, 2], 5));
    let r = c
        .list(ListRequest {
            filter: None,
            limit: 2,
            order: Order::NewestFirst.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((seqs(&r.entries), r.total), (vec![5, 4], 5));

    // Stage, subject (with or without `dlq.`, wildcards), reason.
    let (e, t) = list(&mut c, filter(|f| f.stage = "writer".into())).await;
    assert_eq!((seqs(&e), t), (vec![3, 2, 1], 3));
    let (e, t) = list(&mut c, filter(|f| f.subject = "writer.cmd.*.loc-a".into())).await;
    assert_eq!((seqs(&e), t), (vec![2, 1], 2));
    let (e, _) = list(&mut c, filter(|f| f.subject = "dlq.mapper.>".into())).await;
    assert_eq!(seqs(&e), [mapper]);
    let (e, _) = list(
        &mut c,
        filter(|f| {
            f.stage = "writer".into();
            f.subject = "*.cmd.2.>".into();
        }),
    )
    .await;
    assert_eq!(seqs(&e), [3]);
    let (e, t) = list(&mut c, filter(|f| f.reason = "INVALID email".into())).await;
    assert_eq!((seqs(&e), t), (vec![3, 1], 2));
    let r = c
        .list(ListRequest {
            filter: filter(|f| f.reason = "email".into()),
            limit: 1,
            order: Order::OldestFirst.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((seqs(&r.entries), r.total), (vec![1], 2));
    let (e, t) = list(&mut c, filter(|f| f.stage = "poller".into())).await;
    assert_eq!((e.len(), t), (0, 0));

    // Time: since and until split the DLQ around a moment.
    let mark = time::OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::from_millis(50)).await;
    fx.dead_letter_ingest("late", "malformed body").await;
    let (e, t) = list(&mut c, filter(|f| f.since = rfc3339(mark))).await;
    assert_eq!((seqs(&e), t), (vec![6], 1));
    let (e, t) = list(&mut c, filter(|f| f.until = rfc3339(mark))).await;
    assert_eq!((seqs(&e), t), (vec![5, 4, 3, 2, 1], 5));
    let (e, _) = list(
        &mut c,
        filter(|f| {
            f.until = rfc3339(mark);
            f.stage = "ingest".into();
        }),
    )
    .await;
    assert_eq!(seqs(&e), [5]);

    // Bad requests say what is wrong.
    for (bad, needle) in [
        (
            filter(|f| f.subject = "writer..x".into()),
            "not a valid subject filter",
        ),
        (filter(|f| f.since = "yesterday".into()), "RFC 3339"),
        (
            filter(|f| {
                f.stage = "writer".into();
                f.subject = "mapper.>".into();
            }),
            "contradicts",
        ),
    ] {
        let e = c
            .list(ListRequest {
                filter: bad,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains(needle), "{e:?}");
    }
    let e = c
        .list(ListRequest {
            limit: 10_001,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("10000"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_has_every_header_and_the_payload() {
    let fx = Fixture::start().await;
    fx.dead_letter(
        "writer",
        StreamKind::Commands,
        &[("cmd.1.loc-a", r#"{"plan":"p1"}"#)],
    )
    .await;
    let mut c = fx.client().await;
    let shown = c.show(ShowRequest { seq: 1 }).await.unwrap().into_inner();
    let entry = shown.entry.clone().unwrap();
    assert_eq!(entry.seq, 1);
    assert_eq!(entry.original_subject, "cmd.1.loc-a");
    assert_eq!(entry.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(shown.payload, r#"{"plan":"p1"}"#);
    assert_eq!(shown.payload_encoding(), PayloadEncoding::Utf8);
    let header = |name: &str| {
        shown
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.clone())
    };
    assert_eq!(header("traceparent").as_deref(), Some(TRACEPARENT));
    assert_eq!(header("X-Relay-Test").as_deref(), Some("writer-0"));
    assert_eq!(header(headers::DLQ_STAGE).as_deref(), Some("writer"));
    assert_eq!(header(headers::DLQ_DELIVERIES).as_deref(), Some("1"));
    assert_eq!(
        header(headers::DLQ_SUBJECT),
        Some(fx.subject("cmd.1.loc-a"))
    );
    assert!(header(headers::DLQ_REASON).unwrap().contains("422"));
    assert!(header(headers::MSG_ID).unwrap().starts_with("dlq:writer:"));
    // The direct get's own metadata is not a stored header.
    assert_eq!(header("Nats-Sequence"), None);
    let names: Vec<_> = shown.headers.iter().map(|h| h.name.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);

    // A payload that is not UTF-8 comes back as base64.
    let mut h = HeaderMap::new();
    h.insert(headers::DLQ_STAGE, "writer");
    let seq = fx
        .nats
        .publish(
            fx.subject("dlq.writer.cmd.1.loc-a"),
            None,
            h,
            vec![0xff, 0xfe, 0x00, 0x80].into(),
        )
        .await
        .unwrap()
        .sequence;
    let shown = c.show(ShowRequest { seq }).await.unwrap().into_inner();
    assert_eq!(shown.payload_encoding(), PayloadEncoding::Base64);
    assert_eq!(shown.payload, "//4AgA==");

    let e = c.show(ShowRequest { seq: 99 }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("99"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_republishes_with_the_original_headers_and_removes_the_entry() {
    let fx = Fixture::start().await;
    fx.dead_letter(
        "writer",
        StreamKind::Commands,
        &[
            ("cmd.1.loc-a", r#"{"plan":"p1"}"#),
            ("cmd.2.loc-b", r#"{"plan":"p2"}"#),
        ],
    )
    .await;
    // The work queue gave both up (terminated): it is empty.
    assert_eq!(fx.count(StreamKind::Commands).await, 0);
    let mut c = fx.client().await;

    // A dry run checks and changes nothing.
    let r = c
        .redrive(RedriveRequest {
            selection: Some(Selection {
                seqs: vec![1],
                ..Default::default()
            }),
            dry_run: true,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results[0].outcome(), RedriveOutcome::WouldRedrive);
    assert_eq!(r.results[0].subject, "cmd.1.loc-a");
    assert_eq!(fx.count(StreamKind::Commands).await, 0);
    assert_eq!(fx.count(StreamKind::Dlq).await, 2);

    let r = c
        .redrive(RedriveRequest {
            selection: Some(Selection {
                seqs: vec![1],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.redriven, r.refused, r.failed), (1, 0, 0));
    let res = &r.results[0];
    assert_eq!(res.outcome(), RedriveOutcome::Redriven, "{res:?}");
    assert_eq!(res.subject, "cmd.1.loc-a");
    assert_eq!(res.stage, "writer");
    assert_eq!(res.stream, fx.nats.ns.stream_name(StreamKind::Commands));
    assert!(!res.duplicate);

    // Back on its original subject, with its original headers, payload and trace.
    let back = fx
        .stream(StreamKind::Commands)
        .await
        .direct_get(res.stream_seq)
        .await
        .unwrap();
    assert_eq!(back.subject.as_str(), fx.subject("cmd.1.loc-a"));
    assert_eq!(&back.payload[..], br#"{"plan":"p1"}"#);
    let h = |name: &str| back.headers.get(name).map(|v| v.as_str().to_owned());
    assert_eq!(h("traceparent").as_deref(), Some(TRACEPARENT));
    assert_eq!(h("X-Relay-Test").as_deref(), Some("writer-0"));
    assert_eq!(
        h(headers::CONTENT_TYPE).as_deref(),
        Some("application/json")
    );
    assert_eq!(h(headers::MSG_ID).as_deref(), Some("redrive:1"));
    for dlq_header in [
        headers::DLQ_REASON,
        headers::DLQ_STAGE,
        headers::DLQ_SUBJECT,
        headers::DLQ_DELIVERIES,
    ] {
        assert_eq!(h(dlq_header), None, "{dlq_header}");
    }
    // And gone from the DLQ; the other entry stays.
    let e = c.show(ShowRequest { seq: 1 }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let (left, _) = list(&mut c, None).await;
    assert_eq!(seqs(&left), [2]);

    // Repeating it publishes nothing: the entry is gone.
    let r = c
        .redrive(RedriveRequest {
            selection: Some(Selection {
                seqs: vec![1],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results[0].outcome(), RedriveOutcome::Failed);
    assert!(r.results[0].detail.contains("no dead letter"), "{r:?}");
    assert_eq!(fx.count(StreamKind::Commands).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_redrive_repeated_does_not_publish_twice() {
    let fx = Fixture::start().await;
    fx.dead_letter(
        "writer",
        StreamKind::Commands,
        &[("cmd.1.loc-a", r#"{"plan":"p1"}"#)],
    )
    .await;
    // A first redrive got as far as the publish, then lost the DLQ delete (crash, timeout).
    let mut h = HeaderMap::new();
    h.insert("traceparent", TRACEPARENT);
    fx.nats
        .publish(
            fx.subject("cmd.1.loc-a"),
            Some("redrive:1"),
            h,
            r#"{"plan":"p1"}"#.into(),
        )
        .await
        .unwrap();
    assert_eq!(fx.count(StreamKind::Commands).await, 1);

    let mut c = fx.client().await;
    let r = c
        .redrive(RedriveRequest {
            selection: Some(Selection {
                seqs: vec![1],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let res = &r.results[0];
    assert_eq!(res.outcome(), RedriveOutcome::Redriven, "{res:?}");
    assert!(res.duplicate, "{res:?}");
    assert_eq!(fx.count(StreamKind::Commands).await, 1);
    assert_eq!(fx.count(StreamKind::Dlq).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_entries_are_refused_and_filters_redrive_in_order() {
    let fx = Fixture::start().await;
    let (_, _, ingest) = populate(&fx).await;
    let mut c = fx.client().await;

    let r = c
        .redrive(RedriveRequest {
            selection: Some(Selection {
                seqs: vec![ingest],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let res = &r.results[0];
    assert_eq!(res.outcome(), RedriveOutcome::Refused, "{res:?}");
    assert!(res.detail.contains("never became an event"), "{res:?}");
    assert!(res.detail.contains("resend"), "{res:?}");
    assert_eq!(res.stage, "ingest");
    assert_eq!((r.redriven, r.refused), (0, 1));
    assert!(c.show(ShowRequest { seq: ingest }).await.is_ok());

    // Everything of the writer on loc-a, two at a time, oldest first.
    let select_loc_a = || Selection {
        filter: filter(|f| f.subject = "writer.cmd.*.loc-a".into()),
        ..Default::default()
    };
    let r = c
        .redrive(RedriveRequest {
            selection: Some(select_loc_a()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seq_outcomes(&r.results), [(1, RedriveOutcome::Redriven)]);
    assert!(r.more);
    let first = r.results[0].stream_seq;
    let r = c
        .redrive(RedriveRequest {
            selection: Some(select_loc_a()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seq_outcomes(&r.results), [(2, RedriveOutcome::Redriven)]);
    assert!(!r.more);
    let second = r.results[0].stream_seq;
    assert!(second > first);
    let commands = fx.stream(StreamKind::Commands).await;
    let p = |seq| {
        let commands = commands.clone();
        async move { commands.direct_get(seq).await.unwrap().payload }
    };
    assert!(std::str::from_utf8(&p(first).await).unwrap().contains("p1"));
    assert!(
        std::str::from_utf8(&p(second).await)
            .unwrap()
            .contains("p2")
    );

    // The rest: the mapper's event goes back to EVENTS, ingest is refused again.
    let r = c
        .redrive(RedriveRequest {
            selection: Some(Selection {
                all: true,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seq_outcomes(&r.results),
        [
            (3, RedriveOutcome::Redriven),
            (4, RedriveOutcome::Redriven),
            (ingest, RedriveOutcome::Refused)
        ]
    );
    assert_eq!(r.results[1].subject, "evt.gumroad.demo.order.paid");
    assert_eq!(
        r.results[1].stream,
        fx.nats.ns.stream_name(StreamKind::Events)
    );
    let (left, _) = list(&mut c, None).await;
    assert_eq!(seqs(&left), [ingest]);

    // Everything, without saying so, is refused.
    let e = c.redrive(RedriveRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("every dead letter"), "{e:?}");
}

fn seq_outcomes(
    results: &[relay_contracts::dlq_admin::RedriveResult],
) -> Vec<(u64, RedriveOutcome)> {
    results.iter().map(|r| (r.seq, r.outcome())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_by_sequence_and_by_filter() {
    let fx = Fixture::start().await;
    let (_, mapper, ingest) = populate(&fx).await;
    let mut c = fx.client().await;
    let purge = |selection: Selection| PurgeRequest {
        selection: Some(selection),
    };

    // By sequence: what is not there is reported.
    let r = c
        .purge(purge(Selection {
            seqs: vec![2, 42],
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.purged, r.not_found), (1, vec![42]));

    // An unfiltered purge needs `all`.
    let e = c.purge(purge(Selection::default())).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("every dead letter"), "{e:?}");
    let e = c
        .purge(purge(Selection {
            filter: filter(|f| f.subject = ">".into()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .purge(purge(Selection {
            seqs: vec![1],
            all: true,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // By reason (read and deleted one by one) and by stage (the broker purges the subject).
    let r = c
        .purge(purge(Selection {
            filter: filter(|f| f.reason = "invalid email".into()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.purged, 2);
    let r = c
        .purge(purge(Selection {
            filter: filter(|f| f.stage = "mapper".into()),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.purged, 1);
    let (left, _) = list(&mut c, None).await;
    assert_eq!(seqs(&left), [ingest]);
    assert!(c.show(ShowRequest { seq: mapper }).await.is_err());

    let r = c
        .purge(purge(Selection {
            all: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.purged, 1);
    assert_eq!(list(&mut c, None).await.1, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_guards_it() {
    let fx = Fixture::start().await;
    let mut c = fx.client_with(with_wrong_token).await;
    let e = c.list(ListRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
}
