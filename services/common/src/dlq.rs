//! `relay.dlq.v1.DeadLetters`: the dead letters of the DLQ stream, for operators to list,
//! inspect, redrive and purge. Every worker service hosts it on its admin port (see [`server`]).
//!
//! A dead letter is what [`crate::consumer`] publishes when a stage gives up: subject
//! `dlq.<stage>.<original subject>`, the original headers and payload, plus `Relay-Dlq-Reason`,
//! `-Stage`, `-Subject` and `-Deliveries`. Ingest dead-letters storefront deliveries that never
//! became events on `dlq.ingest.<source>.<connection>` (no original subject: nothing to
//! redrive).
//!
//! Reads are narrowed by the broker: one entry is a direct get by sequence; a filter becomes
//! the `filter_subject` (and start time) of a short-lived consumer without acks, which `List`
//! reads headers-only. Memory is bounded by the request's limit, never by the DLQ's size.
//!
//! A redrive republishes the payload with the original headers (trace context included, so the
//! message stays in its trace) minus the `Relay-Dlq-*` and JetStream (`Nats-*`) ones, with
//! `Nats-Msg-Id: redrive:<DLQ sequence>`, waits for the acknowledgement and only then deletes
//! the dead letter. A redrive interrupted between the two, and repeated within the target
//! stream's duplicate window, publishes nothing twice.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::stream::{DirectGetErrorKind, Stream};
use async_nats::jetstream::{self, ErrorCode};
use bytes::Bytes;
use futures::StreamExt as _;
use relay_contracts::dlq_admin::dead_letters_server::{DeadLetters, DeadLettersServer};
use relay_contracts::dlq_admin::{
    Entry, Filter, Header, ListRequest, ListResponse, Order, PayloadEncoding, PurgeRequest,
    PurgeResponse, RedriveOutcome, RedriveRequest, RedriveResponse, RedriveResult, Selection,
    ShowRequest, ShowResponse,
};
use relay_contracts::{Namespace, StreamKind, Token, headers};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use crate::nats::Nats;

/// Entries a `List` returns, or a filtered `Redrive` handles, when the request gives no limit.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most a request may ask for (also the most sequences one request may name).
pub const MAX_LIMIT: u32 = 10_000;
/// The stage of storefront deliveries that never became events.
pub const INGEST_STAGE: &str = "ingest";

/// The gRPC service, ready for [`crate::admin::AdminEndpoint::add_service`] (or
/// [`crate::worker::Worker::add_admin_service`]), which puts it behind the admin token.
pub fn server(nats: Nats) -> DeadLettersServer<DeadLettersService> {
    DeadLettersServer::new(DeadLettersService::new(nats))
}

/// Why a dead-letter request failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("the service is not connected to NATS")]
    Disconnected,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{what}: {message}")]
    Nats { what: &'static str, message: String },
    #[error("no dead letter with sequence {0} (already redriven or purged?)")]
    NotFound(u64),
}

impl DlqError {
    fn nats(what: &'static str, e: impl std::fmt::Display) -> Self {
        DlqError::Nats {
            what,
            message: e.to_string(),
        }
    }
}

impl From<DlqError> for Status {
    fn from(e: DlqError) -> Self {
        match &e {
            DlqError::Disconnected => Status::unavailable(e.to_string()),
            DlqError::InvalidRequest(_) => Status::invalid_argument(e.to_string()),
            DlqError::Nats { .. } => Status::internal(e.to_string()),
            DlqError::NotFound(_) => Status::not_found(e.to_string()),
        }
    }
}

/// `relay.dlq.v1.DeadLetters` over a NATS connection (the DLQ stream of its namespace).
#[derive(Clone, Debug)]
pub struct DeadLettersService {
    nats: Nats,
}

impl DeadLettersService {
    pub fn new(nats: Nats) -> Self {
        Self { nats }
    }

    async fn stream(&self) -> Result<Stream, DlqError> {
        if !self.nats.is_connected() {
            return Err(DlqError::Disconnected);
        }
        let name = self.nats.ns.stream_name(StreamKind::Dlq);
        self.nats
            .js
            .get_stream(&name)
            .await
            .map_err(|e| DlqError::nats("opening the DLQ stream", e))
    }

    /// Dead letters matching the filter, newest (or oldest) first, and how many match in all.
    pub async fn list(&self, req: ListRequest) -> Result<ListResponse, DlqError> {
        let limit = limit(req.limit)?;
        let oldest_first = req.order() == Order::OldestFirst;
        let sel = Selector::parse(&self.nats.ns, &req.filter.unwrap_or_default())?;
        let stream = self.stream().await?;
        let mut scan = Scan::open(&stream, &sel, true).await?;
        // Without a reason or an end time every message the consumer has is a match, so its
        // pending count is the total and an oldest-first page can stop early.
        let counted_by_broker = sel.reason.is_none() && sel.until.is_none();
        let mut entries = VecDeque::with_capacity(limit.min(1024));
        let mut total = 0u64;
        while let Some(m) = scan.next().await? {
            total += 1;
            if oldest_first {
                if entries.len() == limit {
                    if counted_by_broker {
                        total = total.max(scan.pending_at_open);
                        break;
                    }
                    continue;
                }
            } else if entries.len() == limit {
                entries.pop_front();
            }
            let size = m
                .headers
                .get("Nats-Msg-Size")
                .and_then(|v| v.as_str().parse().ok())
                .unwrap_or(m.payload.len() as u64);
            entries.push_back(entry(
                &self.nats.ns,
                &m.subject,
                m.seq,
                m.time,
                &m.headers,
                size,
            ));
        }
        let entries = if oldest_first {
            entries.into()
        } else {
            entries.into_iter().rev().collect()
        };
        tracing::Span::current().record("dlq.matched", total);
        Ok(ListResponse { entries, total })
    }

    /// One dead letter, with every stored header and its payload.
    pub async fn show(&self, seq: u64) -> Result<ShowResponse, DlqError> {
        if seq == 0 {
            return Err(DlqError::InvalidRequest(
                "seq: DLQ sequences start at 1".into(),
            ));
        }
        let stream = self.stream().await?;
        let m = get(&stream, seq).await?;
        let mut headers: Vec<Header> = m
            .headers
            .iter()
            .flat_map(|(name, values)| {
                values.iter().map(move |v| Header {
                    name: name.to_string(),
                    value: v.as_str().to_owned(),
                })
            })
            .collect();
        headers.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
        let (payload, encoding) = match std::str::from_utf8(&m.payload) {
            Ok(s) => (s.to_owned(), PayloadEncoding::Utf8),
            Err(_) => (base64(&m.payload), PayloadEncoding::Base64),
        };
        Ok(ShowResponse {
            entry: Some(entry(
                &self.nats.ns,
                &m.subject,
                m.seq,
                m.time,
                &m.headers,
                m.payload.len() as u64,
            )),
            headers,
            payload,
            payload_encoding: encoding.into(),
        })
    }

    /// Republishes the selected dead letters to their original subjects and deletes them.
    pub async fn redrive(&self, req: RedriveRequest) -> Result<RedriveResponse, DlqError> {
        let selected = select(&self.nats.ns, &req.selection.unwrap_or_default(), "redrive")?;
        let stream = self.stream().await?;
        let mut resp = RedriveResponse::default();
        match selected {
            Selected::Seqs(seqs) => {
                for seq in seqs {
                    let result = match get(&stream, seq).await {
                        Ok(m) => self.redrive_one(&stream, m, req.dry_run).await,
                        Err(e) => RedriveResult {
                            seq,
                            outcome: RedriveOutcome::Failed.into(),
                            detail: e.to_string(),
                            ..Default::default()
                        },
                    };
                    resp.results.push(result);
                }
            }
            Selected::Matching(sel) => {
                let limit = limit(req.limit)?;
                // Oldest first: redriven messages keep their original order.
                let mut scan = Scan::open(&stream, &sel, false).await?;
                while let Some(m) = scan.next().await? {
                    if resp.results.len() == limit {
                        resp.more = true;
                        break;
                    }
                    resp.results
                        .push(self.redrive_one(&stream, m, req.dry_run).await);
                }
            }
        }
        for r in &resp.results {
            match r.outcome() {
                RedriveOutcome::Redriven | RedriveOutcome::WouldRedrive => resp.redriven += 1,
                RedriveOutcome::Refused => resp.refused += 1,
                RedriveOutcome::Failed | RedriveOutcome::Unspecified => resp.failed += 1,
            }
        }
        tracing::info!(
            dry_run = req.dry_run,
            redriven = resp.redriven,
            refused = resp.refused,
            failed = resp.failed,
            more = resp.more,
            "dead letters redriven"
        );
        Ok(resp)
    }

    async fn redrive_one(&self, stream: &Stream, m: Stored, dry_run: bool) -> RedriveResult {
        let stage = stage_of(&self.nats.ns, &m.subject, &m.headers);
        let span = tracing::info_span!(
            "dlq.redrive_entry",
            otel.name = "dlq.redrive_entry",
            messaging.system = "nats",
            messaging.destination.name = tracing::field::Empty,
            relay.dlq.seq = m.seq,
            relay.stage = %stage,
            dry_run,
            outcome = tracing::field::Empty,
        );
        // The republished message continues the trace it was part of.
        crate::propagation::set_parent_from_nats(&span, Some(&m.headers));
        let mut result = RedriveResult {
            seq: m.seq,
            stage: stage.clone(),
            ..Default::default()
        };
        let outcome = async {
            let original = match redrive_subject(&self.nats.ns, &stage, &m.headers) {
                Ok(s) => s,
                Err(why) => {
                    tracing::info!(reason = %why, "dead letter not redriven");
                    result.detail = why;
                    return RedriveOutcome::Refused;
                }
            };
            tracing::Span::current().record("messaging.destination.name", original.as_str());
            result.subject = unprefixed(&self.nats.ns, &original).to_owned();
            if dry_run {
                return RedriveOutcome::WouldRedrive;
            }
            let msg_id = format!("redrive:{}", m.seq);
            let ack = match self
                .nats
                .publish(original.clone(), Some(&msg_id), redrive_headers(&m.headers), m.payload)
                .await
            {
                Ok(ack) => ack,
                Err(e) => {
                    tracing::warn!(error.message = %e, subject = %original, "redrive publish failed");
                    result.detail = format!("publishing to {} failed: {e}", result.subject);
                    return RedriveOutcome::Failed;
                }
            };
            result.stream = ack.stream.clone();
            result.stream_seq = ack.sequence;
            result.duplicate = ack.duplicate;
            if let Err(e) = stream.delete_message(m.seq).await {
                tracing::warn!(error.message = %e, "redriven, but the dead letter was not deleted");
                result.detail = format!(
                    "republished to {} ({} #{}), but not deleted from the DLQ: {e}; \
                     redriving it again will not publish it twice",
                    result.subject, ack.stream, ack.sequence
                );
                return RedriveOutcome::Failed;
            }
            metrics::counter!("relay_dlq_redriven_total", "stage" => stage.clone()).increment(1);
            tracing::info!(
                subject = %original,
                stream = %ack.stream,
                stream_seq = ack.sequence,
                duplicate = ack.duplicate,
                "dead letter redriven"
            );
            RedriveOutcome::Redriven
        }
        .instrument(span.clone())
        .await;
        span.record("outcome", outcome.as_str_name());
        result.outcome = outcome.into();
        result
    }

    /// Deletes the selected dead letters.
    pub async fn purge(&self, req: PurgeRequest) -> Result<PurgeResponse, DlqError> {
        let selected = select(&self.nats.ns, &req.selection.unwrap_or_default(), "purge")?;
        let stream = self.stream().await?;
        let mut resp = PurgeResponse::default();
        let result = async {
            match selected {
                Selected::Seqs(seqs) => {
                    for seq in seqs {
                        match delete(&stream, seq).await? {
                            true => resp.purged += 1,
                            false => resp.not_found.push(seq),
                        }
                    }
                }
                // Only a subject filter: the broker purges it in one request.
                Selected::Matching(sel) if sel.subject_only() => {
                    resp.purged = stream
                        .purge()
                        .filter(sel.subject.clone())
                        .await
                        .map_err(|e| DlqError::nats("purging the DLQ", e))?
                        .purged;
                }
                Selected::Matching(sel) => {
                    let mut scan = Scan::open(&stream, &sel, true).await?;
                    while let Some(m) = scan.next().await? {
                        if delete(&stream, m.seq).await? {
                            resp.purged += 1;
                        }
                    }
                }
            }
            Ok(())
        }
        .await;
        // Whatever was deleted before an error is gone: count it either way.
        metrics::counter!("relay_dlq_purged_total").increment(resp.purged);
        tracing::info!(
            purged = resp.purged,
            not_found = resp.not_found.len(),
            "dead letters purged"
        );
        result.map(|()| resp)
    }
}

#[tonic::async_trait]
impl DeadLetters for DeadLettersService {
    async fn list(&self, req: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let span = rpc_span("List", &req);
        answer(DeadLettersService::list(self, req.into_inner()), span).await
    }

    async fn show(&self, req: Request<ShowRequest>) -> Result<Response<ShowResponse>, Status> {
        let span = rpc_span("Show", &req);
        let seq = req.into_inner().seq;
        span.record("relay.dlq.seq", seq);
        answer(DeadLettersService::show(self, seq), span).await
    }

    async fn redrive(
        &self,
        req: Request<RedriveRequest>,
    ) -> Result<Response<RedriveResponse>, Status> {
        let span = rpc_span("Redrive", &req);
        answer(DeadLettersService::redrive(self, req.into_inner()), span).await
    }

    async fn purge(&self, req: Request<PurgeRequest>) -> Result<Response<PurgeResponse>, Status> {
        let span = rpc_span("Purge", &req);
        answer(DeadLettersService::purge(self, req.into_inner()), span).await
    }
}

/// A server span for one call, child of the caller's trace context when it sent one.
fn rpc_span<T>(method: &'static str, req: &Request<T>) -> tracing::Span {
    let span = tracing::info_span!(
        "dlq.rpc",
        otel.name = %format!("dlq.{}", method.to_lowercase()),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = "relay.dlq.v1.DeadLetters",
        rpc.method = method,
        relay.dlq.seq = tracing::field::Empty,
        dlq.matched = tracing::field::Empty,
    );
    crate::propagation::set_parent_from_http(&span, &req.metadata().clone().into_headers());
    span
}

async fn answer<T>(
    work: impl Future<Output = Result<T, DlqError>>,
    span: tracing::Span,
) -> Result<Response<T>, Status> {
    let result = work.instrument(span.clone()).await;
    if let Err(e) = &result {
        let _g = span.enter();
        match e {
            DlqError::InvalidRequest(_) | DlqError::NotFound(_) => {
                tracing::info!(error.message = %e, "dead-letter request refused");
            }
            DlqError::Disconnected | DlqError::Nats { .. } => {
                tracing::warn!(error.cause_chain = ?e, error.message = %e, "dead-letter request failed");
            }
        }
    }
    result.map(Response::new).map_err(Status::from)
}

fn limit(requested: u32) -> Result<usize, DlqError> {
    match requested {
        0 => Ok(DEFAULT_LIMIT as usize),
        n if n > MAX_LIMIT => Err(DlqError::InvalidRequest(format!(
            "limit {n} is above the maximum of {MAX_LIMIT}"
        ))),
        n => Ok(n as usize),
    }
}

/// What a filter selects, checked and with the namespace applied.
#[derive(Clone, Debug)]
struct Selector {
    /// The broker-side subject filter, namespace prefix included.
    subject: String,
    /// The same, as written without the prefix (`dlq.writer.>`).
    relative: String,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    /// Lowercased.
    reason: Option<String>,
}

impl Selector {
    fn parse(ns: &Namespace, f: &Filter) -> Result<Self, DlqError> {
        let relative = dlq_filter(ns.prefix().map(Token::as_str), &f.stage, &f.subject)
            .map_err(DlqError::InvalidRequest)?;
        let time = |field: &str, v: &str| -> Result<Option<OffsetDateTime>, DlqError> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            OffsetDateTime::parse(v, &Rfc3339).map(Some).map_err(|e| {
                DlqError::InvalidRequest(format!("{field} {v:?} is not an RFC 3339 time: {e}"))
            })
        };
        let (since, until) = (time("since", &f.since)?, time("until", &f.until)?);
        if let (Some(a), Some(b)) = (since, until)
            && a > b
        {
            return Err(DlqError::InvalidRequest(format!(
                "since ({}) is after until ({})",
                rfc3339(a),
                rfc3339(b)
            )));
        }
        let reason = Some(f.reason.trim().to_lowercase()).filter(|r| !r.is_empty());
        Ok(Self {
            subject: ns.qualify(&relative),
            relative,
            since,
            until,
            reason,
        })
    }

    /// Narrowed by subject alone (the broker can count and purge it by itself).
    fn subject_only(&self) -> bool {
        self.since.is_none() && self.until.is_none() && self.reason.is_none()
    }

    /// Selects every dead letter.
    fn everything(&self) -> bool {
        self.subject_only() && self.relative == "dlq.>"
    }

    fn reason_matches(&self, headers: &HeaderMap) -> bool {
        match &self.reason {
            None => true,
            Some(r) => headers
                .get(headers::DLQ_REASON)
                .is_some_and(|v| v.as_str().to_lowercase().contains(r.as_str())),
        }
    }
}

/// The DLQ subject filter (without the namespace prefix) for a stage and a subject filter.
///
/// `subject` is a NATS filter on DLQ subjects, with or without the leading `dlq.` token (and
/// the namespace prefix tolerated); `stage` narrows its first token.
pub(crate) fn dlq_filter(
    prefix: Option<&str>,
    stage: &str,
    subject: &str,
) -> Result<String, String> {
    let stage = stage.trim();
    let subject = subject.trim();
    let mut rest = subject;
    if let Some(p) = prefix {
        rest = rest
            .strip_prefix(p)
            .and_then(|r| r.strip_prefix('.'))
            .filter(|r| r.starts_with("dlq."))
            .unwrap_or(rest);
    }
    let rest = rest.strip_prefix("dlq.").unwrap_or(rest);
    let mut tokens: Vec<&str> = if rest.is_empty() {
        vec![">"]
    } else {
        rest.split('.').collect()
    };
    for (i, t) in tokens.iter().enumerate() {
        let bad = t.is_empty()
            || t.chars().any(char::is_whitespace)
            || ((t.contains('*') || t.contains('>')) && *t != "*" && *t != ">")
            || (*t == ">" && i + 1 != tokens.len());
        if bad {
            return Err(format!(
                "subject {subject:?} is not a valid subject filter (tokens separated by dots, \
                 `*` for one token, `>` last for the rest)"
            ));
        }
    }
    if !stage.is_empty() {
        Token::parse(stage).map_err(|e| format!("stage {stage:?}: {e}"))?;
        match tokens[0] {
            ">" => tokens = vec![stage, ">"],
            "*" => tokens[0] = stage,
            t if t == stage => {}
            t => {
                return Err(format!(
                    "stage {stage:?} contradicts subject filter {subject:?} (stage {t:?})"
                ));
            }
        }
    }
    Ok(format!("dlq.{}", tokens.join(".")))
}

/// How a selection names its dead letters.
enum Selected {
    /// Ascending, without duplicates.
    Seqs(Vec<u64>),
    Matching(Selector),
}

fn select(ns: &Namespace, s: &Selection, verb: &str) -> Result<Selected, DlqError> {
    let filter = s.filter.clone().unwrap_or_default();
    let has_filter = filter != Filter::default();
    if !s.seqs.is_empty() {
        if has_filter || s.all {
            return Err(DlqError::InvalidRequest(format!(
                "{verb}: give sequences or a filter (or all), not both"
            )));
        }
        if s.seqs.len() > MAX_LIMIT as usize {
            return Err(DlqError::InvalidRequest(format!(
                "{verb}: at most {MAX_LIMIT} sequences per request ({} given)",
                s.seqs.len()
            )));
        }
        if s.seqs.contains(&0) {
            return Err(DlqError::InvalidRequest(
                "seqs: DLQ sequences start at 1".into(),
            ));
        }
        let mut seqs = s.seqs.clone();
        seqs.sort_unstable();
        seqs.dedup();
        return Ok(Selected::Seqs(seqs));
    }
    let sel = Selector::parse(ns, &filter)?;
    if sel.everything() && !s.all {
        return Err(DlqError::InvalidRequest(format!(
            "refusing to {verb} every dead letter: give sequences or a filter, or set `all`"
        )));
    }
    Ok(Selected::Matching(sel))
}

/// A dead letter as read from the stream.
struct Stored {
    seq: u64,
    /// The full DLQ subject.
    subject: String,
    time: OffsetDateTime,
    /// The stored headers (without the direct-get metadata).
    headers: HeaderMap,
    payload: Bytes,
}

/// Headers the broker adds to a direct get's answer; not part of the stored message.
const DIRECT_GET_HEADERS: &[&str] = &[
    "Nats-Stream",
    "Nats-Sequence",
    "Nats-Time-Stamp",
    "Nats-Subject",
    "Nats-Last-Sequence",
    "Nats-Num-Pending",
];

async fn get(stream: &Stream, seq: u64) -> Result<Stored, DlqError> {
    let m = stream.direct_get(seq).await.map_err(|e| match e.kind() {
        DirectGetErrorKind::NotFound => DlqError::NotFound(seq),
        _ => DlqError::nats("reading the DLQ", e),
    })?;
    let headers = m
        .headers
        .iter()
        .filter(|(name, _)| {
            !DIRECT_GET_HEADERS
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name.as_ref()))
        })
        .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone())))
        .collect();
    Ok(Stored {
        seq: m.sequence,
        subject: m.subject.to_string(),
        time: m.time,
        headers,
        payload: m.payload,
    })
}

/// Deletes one message; `false` when it was not there.
async fn delete(stream: &Stream, seq: u64) -> Result<bool, DlqError> {
    use async_nats::jetstream::stream::DeleteMessageErrorKind as K;
    match stream.delete_message(seq).await {
        Ok(deleted) => Ok(deleted),
        Err(e) => match e.kind() {
            // The broker answers "no message found" for a deleted sequence and "stream store
            // EOF" for one past the end, both as a failed delete (10057).
            K::JetStream(js)
                if js.error_code() == ErrorCode::NO_MESSAGE_FOUND
                    || (js.error_code() == ErrorCode::STREAM_MESSAGE_DELETE_FAILED
                        && ["no message found", "EOF"]
                            .iter()
                            .any(|m| js.to_string().contains(m))) =>
            {
                Ok(false)
            }
            _ => Err(DlqError::nats("deleting from the DLQ", e)),
        },
    }
}

/// A short-lived, ack-less consumer over the messages a selector narrows the DLQ to, oldest
/// first, ending at the stream's last message when it was opened. Removed when dropped.
struct Scan {
    stream: Stream,
    consumer: PullConsumer,
    name: String,
    messages: Option<consumer::pull::Stream>,
    end_seq: u64,
    until: Option<OffsetDateTime>,
    sel: Selector,
    /// Messages in range (subject and start time) when the scan was opened.
    pending_at_open: u64,
    done: bool,
}

/// How long a scan waits for the next message before asking the broker whether any is left.
const SCAN_IDLE: Duration = Duration::from_secs(2);
/// Idle waits with messages still pending before a scan gives up.
const SCAN_MAX_IDLE: u32 = 5;

impl Scan {
    async fn open(stream: &Stream, sel: &Selector, headers_only: bool) -> Result<Self, DlqError> {
        let err = |e: &dyn std::fmt::Display| DlqError::nats("reading the DLQ", e);
        let consumer: PullConsumer = stream
            .create_consumer(consumer::pull::Config {
                filter_subject: sel.subject.clone(),
                deliver_policy: match sel.since {
                    Some(start_time) => DeliverPolicy::ByStartTime { start_time },
                    None => DeliverPolicy::All,
                },
                ack_policy: AckPolicy::None,
                headers_only,
                memory_storage: true,
                inactive_threshold: Duration::from_secs(30),
                description: Some("relay dlq scan".into()),
                ..Default::default()
            })
            .await
            .map_err(|e| err(&e))?;
        let info = consumer.cached_info();
        let (name, pending_at_open) = (info.name.clone(), info.num_pending);
        // Read after the consumer exists: every message it has pending is at or before this.
        let end_seq = stream
            .get_info()
            .await
            .map_err(|e| err(&e))?
            .state
            .last_sequence;
        let messages = if pending_at_open == 0 {
            None
        } else {
            // Headers are small; payloads can be up to the server's max payload each, so a
            // batch of them is bounded in bytes too.
            let (batch, bytes) = if headers_only {
                (256, 0)
            } else {
                (64, 16 << 20)
            };
            Some(
                consumer
                    .stream()
                    .max_messages_per_batch(batch)
                    .max_bytes_per_batch(bytes)
                    .heartbeat(Duration::from_secs(1))
                    .messages()
                    .await
                    .map_err(|e| err(&e))?,
            )
        };
        Ok(Self {
            stream: stream.clone(),
            done: messages.is_none(),
            consumer,
            name,
            messages,
            end_seq,
            until: sel.until,
            sel: sel.clone(),
            pending_at_open,
        })
    }

    /// The next matching message, or `None` at the end of the range.
    async fn next(&mut self) -> Result<Option<Stored>, DlqError> {
        let mut idle = 0;
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(messages) = self.messages.as_mut() else {
                return Ok(None);
            };
            let item = match tokio::time::timeout(SCAN_IDLE, messages.next()).await {
                Ok(item) => item,
                Err(_) => {
                    // Messages pending when read can be deleted meanwhile (a concurrent purge):
                    // the broker knows whether anything is left.
                    let info = self
                        .consumer
                        .info()
                        .await
                        .map_err(|e| DlqError::nats("reading the DLQ", e))?;
                    idle += 1;
                    if info.num_pending == 0 {
                        self.done = true;
                    } else if idle >= SCAN_MAX_IDLE {
                        return Err(DlqError::nats(
                            "reading the DLQ",
                            "no message from the broker while some are pending",
                        ));
                    }
                    continue;
                }
            };
            let Some(item) = item else {
                self.done = true;
                return Ok(None);
            };
            let msg: jetstream::Message = item.map_err(|e| DlqError::nats("reading the DLQ", e))?;
            let (seq, time, pending) = {
                let info = msg
                    .info()
                    .map_err(|e| DlqError::nats("reading the DLQ", e))?;
                (info.stream_sequence, info.published, info.pending)
            };
            if seq > self.end_seq || self.until.is_some_and(|u| time > u) {
                self.done = true;
                return Ok(None);
            }
            if pending == 0 || seq >= self.end_seq {
                self.done = true;
            }
            let headers = msg.headers.clone().unwrap_or_default();
            if !self.sel.reason_matches(&headers) {
                continue;
            }
            return Ok(Some(Stored {
                seq,
                subject: msg.subject.to_string(),
                time,
                headers,
                payload: msg.payload.clone(),
            }));
        }
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        // Best effort; `inactive_threshold` removes it anyway.
        let (stream, name) = (self.stream.clone(), std::mem::take(&mut self.name));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = stream.delete_consumer(&name).await;
            });
        }
    }
}

/// `subject` without the namespace prefix.
fn unprefixed<'a>(ns: &Namespace, subject: &'a str) -> &'a str {
    match ns.prefix() {
        Some(p) => subject
            .strip_prefix(p.as_str())
            .and_then(|s| s.strip_prefix('.'))
            .unwrap_or(subject),
        None => subject,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.as_str())
}

/// The stage from `Relay-Dlq-Stage`, or the DLQ subject's second token.
fn stage_of(ns: &Namespace, subject: &str, headers: &HeaderMap) -> String {
    header(headers, headers::DLQ_STAGE)
        .map(str::to_owned)
        .or_else(|| unprefixed(ns, subject).split('.').nth(1).map(str::to_owned))
        .unwrap_or_default()
}

fn entry(
    ns: &Namespace,
    subject: &str,
    seq: u64,
    time: OffsetDateTime,
    h: &HeaderMap,
    size: u64,
) -> Entry {
    Entry {
        seq,
        subject: unprefixed(ns, subject).to_owned(),
        stage: stage_of(ns, subject, h),
        original_subject: header(h, headers::DLQ_SUBJECT)
            .map(|s| unprefixed(ns, s).to_owned())
            .unwrap_or_default(),
        reason: header(h, headers::DLQ_REASON)
            .unwrap_or_default()
            .to_owned(),
        deliveries: header(h, headers::DLQ_DELIVERIES)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
        time: rfc3339(time),
        size,
        trace_id: header(h, "traceparent")
            .and_then(trace_id)
            .unwrap_or_default()
            .to_owned(),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
pub(crate) fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (_version, id, span) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 32) && hex(span, 16) && id.bytes().any(|b| b != b'0')).then_some(id)
}

/// Where a dead letter goes back to, or why it does not.
fn redrive_subject(ns: &Namespace, stage: &str, h: &HeaderMap) -> Result<String, String> {
    if stage == INGEST_STAGE {
        return Err(
            "a storefront delivery that never became an event: there is nothing to \
                    republish; fix the connection (see the reason) and have the storefront \
                    resend it"
                .into(),
        );
    }
    let Some(original) = header(h, headers::DLQ_SUBJECT).filter(|s| !s.is_empty()) else {
        return Err(format!(
            "no original subject recorded (no {} header)",
            headers::DLQ_SUBJECT
        ));
    };
    let valid = !original
        .split('.')
        .any(|t| t.is_empty() || t == "*" || t == ">" || t.chars().any(char::is_whitespace));
    if !valid {
        return Err(format!(
            "original subject {original:?} is not a valid subject"
        ));
    }
    if let Some(p) = ns.prefix()
        && !original
            .strip_prefix(p.as_str())
            .is_some_and(|r| r.starts_with('.'))
    {
        return Err(format!(
            "original subject {original:?} is outside this namespace ({p})"
        ));
    }
    if unprefixed(ns, original).starts_with("dlq.") {
        return Err(format!(
            "original subject {original:?} is itself a dead-letter subject"
        ));
    }
    Ok(original.to_owned())
}

/// The headers a redriven message carries: the original ones, without the dead-letter and
/// JetStream ones (`Nats-Msg-Id` is set anew by the publish).
fn redrive_headers(h: &HeaderMap) -> HeaderMap {
    let drop = |name: &str| {
        let lower = name.to_ascii_lowercase();
        lower.starts_with("relay-dlq-") || lower.starts_with("nats-")
    };
    h.iter()
        .filter(|(name, _)| !drop(name.as_ref()))
        .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone())))
        .collect()
}

/// Standard base64 with padding (payloads that are not UTF-8, for display).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_with_and_without_the_dlq_token() {
        let f = |stage: &str, subject: &str| dlq_filter(None, stage, subject);
        assert_eq!(f("", "").unwrap(), "dlq.>");
        assert_eq!(f("", ">").unwrap(), "dlq.>");
        assert_eq!(f("", "dlq.>").unwrap(), "dlq.>");
        assert_eq!(f("writer", "").unwrap(), "dlq.writer.>");
        assert_eq!(f("", "writer.cmd.*.loc").unwrap(), "dlq.writer.cmd.*.loc");
        assert_eq!(
            f("", "dlq.mapper.evt.bmc.>").unwrap(),
            "dlq.mapper.evt.bmc.>"
        );
        assert_eq!(f("mapper", "*.evt.>").unwrap(), "dlq.mapper.evt.>");
        assert_eq!(f("mapper", "mapper.evt.>").unwrap(), "dlq.mapper.evt.>");
        assert_eq!(
            dlq_filter(Some("t01"), "", "t01.dlq.writer.>").unwrap(),
            "dlq.writer.>"
        );
        assert!(f("writer", "mapper.>").unwrap_err().contains("contradicts"));
        for bad in ["a..b", "a.>.b", "a b", "wri*ter.>", "."] {
            assert!(f("", bad).is_err(), "{bad:?}");
        }
        assert!(f("a.b", "").is_err());
    }

    #[test]
    fn trace_ids() {
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id("garbage"), None);
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x80]), "//4AgA==");
    }

    #[test]
    fn redrive_headers_keep_the_originals_only() {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        h.insert("Content-Type", "application/json");
        h.insert(headers::DLQ_REASON, "boom");
        h.insert(headers::DLQ_STAGE, "writer");
        h.insert(headers::MSG_ID, "dlq:writer:COMMANDS:3");
        let out = redrive_headers(&h);
        assert!(out.get("traceparent").is_some());
        assert_eq!(
            out.get("Content-Type").unwrap().as_str(),
            "application/json"
        );
        assert!(out.get(headers::DLQ_REASON).is_none());
        assert!(out.get(headers::DLQ_STAGE).is_none());
        assert!(out.get(headers::MSG_ID).is_none());
    }

    #[test]
    fn where_redrives_go() {
        let ns = Namespace::new(Some(Token::parse("t01").unwrap()));
        let mut h = HeaderMap::new();
        assert!(
            redrive_subject(&ns, "ingest", &h)
                .unwrap_err()
                .contains("nothing to republish")
        );
        assert!(
            redrive_subject(&ns, "writer", &h)
                .unwrap_err()
                .contains("no original subject")
        );
        h.insert(headers::DLQ_SUBJECT, "t01.cmd.3.loc");
        assert_eq!(redrive_subject(&ns, "writer", &h).unwrap(), "t01.cmd.3.loc");
        h.insert(headers::DLQ_SUBJECT, "t02.cmd.3.loc");
        assert!(
            redrive_subject(&ns, "writer", &h)
                .unwrap_err()
                .contains("outside")
        );
        h.insert(headers::DLQ_SUBJECT, "t01.dlq.writer.cmd");
        assert!(
            redrive_subject(&ns, "writer", &h)
                .unwrap_err()
                .contains("dead-letter")
        );
    }

    #[test]
    fn limits() {
        assert_eq!(limit(0).unwrap(), 100);
        assert_eq!(limit(10_000).unwrap(), 10_000);
        assert!(limit(10_001).is_err());
    }
}
