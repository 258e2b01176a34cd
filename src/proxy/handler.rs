//! The request pipeline, one phase after another. The order of these phases is the architecture:
//!
//! 1. **classify** — which wire format is this path? Unknown paths get a 404 in the API's own error shape (or are
//!    forwarded uninspected-by-format when `server.allow_unknown_paths` is set).
//! 2. **admit** — take an in-flight permit (`limits.max_concurrent_requests`) or shed load with 503.
//! 3. **authenticate** — gateway key → tenant; the key is dropped and never forwarded. The query string is sorted
//!    here ([`super::query`]): parameters named like credentials and any parameter carrying a gateway key (under any
//!    name or encoding) are dropped; the rest is forwarded as sent and its decoded text inspected in phase 6.
//! 4. **read** — the body, bounded in bytes and time, `Content-Encoding` decoded with a cap.
//! 5. **parse** — [`crate::api`] turns the body into text segments. Duplicate object keys are refused, so while no
//!    segment or model is rewritten the original bytes are forwarded as sent (they mean exactly what was scanned).
//! 6. **inspect** — every text segment, and the decoded names and values of the forwarded query parameters, are
//!    scanned; finding counts are kept (never values). Bodies larger than
//!    `limits.inline_scan_bytes` are scanned on the blocking pool, so a large prompt never stalls a runtime worker.
//!    A scan that runs past `timeouts.inspection_ms` stops there and the request is refused (413).
//! 7. **route** — [`crate::route`] picks the destination and the model name it is sent.
//! 8. **record** — the residency record (destination, jurisdiction, finding counts, keyed request digest) is made
//!    durable before forwarding when `audit.durability = before-forward`; failure refuses the request (fail closed).
//! 9. **forward** — to the endpoint's canonical path (no trailing `/`); `HEAD` on the models passthrough is asked
//!    upstream as `GET` and answered without the body. The upstream request gets the destination's credential and
//!    no hop-level headers (`Expect` included: the gateway answered it and read the body); the response streams
//!    back through [`super::stream::ResponseBody`], which reports how it ended to the [`Exchange`] (access log).
//!
//! Must never: forward a request whose body was not read and parsed (fail closed), forward the client's gateway
//! key, or put body content in an error message or log line.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;

use super::body::{self, BodyError};
use super::metrics::RequestLabels;
use super::stream::{BoxError, ExchangeObserver, ResponseBody, StreamEnd, StreamStats};
use super::Shared;
use crate::api::sse::SseEvent;
use crate::api::usage::Usage;
use crate::api::{self, ApiError, ApiFamily, ErrorKind, WireFormat};
use crate::audit::{ContentDigester, DestinationInfo, Entry, Receipt, ResidencyRecord, TokenUsage};
use crate::config::{AuditDurability, DestinationFormat};
use crate::detect::{marking_level, Entity, Level};
use crate::policy::Snapshot;
use crate::route::{Destination, RouteError};

/// The body type of every response the gateway sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Header carrying the gateway's request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-haetae-request-id";
/// Header carrying per-entity finding counts (`KR_RRN=1,EMAIL=2`), never values.
pub const FINDINGS_HEADER: &str = "x-haetae-findings";
/// Header carrying the count of request parts the engine cannot read, per kind (`image=2`); only when there are any.
pub const UNINSPECTED_HEADER: &str = "x-haetae-uninspected";
/// Header carrying the residency receipt: `<log origin> <leaf index> <base64 leaf hash>`.
pub const RECEIPT_HEADER: &str = "x-haetae-receipt";
/// Header naming the destination and its jurisdiction.
pub const DESTINATION_HEADER: &str = "x-haetae-destination";

/// Why the gateway answered a request itself instead of forwarding it.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No wire format knows the path.
    #[error("the gateway does not serve {method} {path}{}", if *escaped_id {
        ": model and response ids with percent-escapes are not forwarded (a destination could read them as another path)"
    } else {
        ""
    })]
    NotFound {
        /// Method ([`method_label`]: extension methods are not echoed).
        method: &'static str,
        /// Path without the query string, as [`loggable`] shows it (findings replaced).
        path: String,
        /// The path names a model or response id through percent-escapes ([`api::escaped_id`]).
        escaped_id: bool,
    },
    /// A stored response another tenant created (its id is known to the gateway, but not as this tenant's).
    #[error("no stored response with that id belongs to this gateway key's tenant")]
    StoredResponseNotFound,
    /// The request head is over `limits.max_header_bytes`.
    #[error("the request head (request line and headers) is {size} bytes, over the gateway's limit of {limit} (limits.max_header_bytes)")]
    HeadersTooLarge {
        /// Its size as counted (request target, header names and values, separators).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many requests in flight.
    #[error("the gateway is at its concurrent request limit (limits.max_concurrent_requests); retry shortly")]
    Overloaded,
    /// No or a wrong gateway key.
    #[error(transparent)]
    Auth(#[from] super::auth::AuthError),
    /// The body could not be read or decoded.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The body is not a valid request of its format.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The query string cannot be inspected.
    #[error(transparent)]
    Query(#[from] super::query::QueryError),
    /// The body cannot be inspected (not UTF-8 text on a path without a known format).
    #[error("the request body is not UTF-8 text, so the gateway cannot inspect it")]
    Uninspectable,
    /// The scan of a large body did not complete (its blocking task panicked or was cancelled): fail closed.
    #[error("the gateway could not finish inspecting this request, so it was not forwarded")]
    InspectionFailed,
    /// The scan ran past `timeouts.inspection_ms` (fail closed: an unfinished scan is no scan).
    #[error("the gateway could not inspect this request within {after:?} (timeouts.inspection_ms), so it was not forwarded; send less text per request")]
    InspectionTimeout {
        /// The configured deadline.
        after: Duration,
    },
    /// The residency record could not be made durable before forwarding (fail closed).
    /// The cause (file paths, OS errors) goes to the gateway's own log only ([`GatewayError::log_text`]), never to
    /// the client.
    #[error("the residency log could not record this request, so it was not forwarded (the gateway's log has the cause under this request's x-haetae-request-id)")]
    Audit(String),
    /// Routing failed.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The upstream could not be reached, or the exchange failed before a response head arrived (whether anything
    /// left is [`Exchange::delivery`]'s to say).
    #[error("could not reach destination `{destination}` ({host}): {reason}")]
    Upstream {
        /// Destination name.
        destination: String,
        /// Upstream host.
        host: String,
        /// Why (no content).
        reason: String,
    },
    /// The upstream answered in a way the gateway cannot pass on safely.
    #[error("destination `{destination}` answered in a way the gateway cannot pass on: {reason}")]
    UpstreamProtocol {
        /// Destination name.
        destination: String,
        /// What was wrong (no content).
        reason: String,
    },
    /// The shutdown grace period ended while the request waited for its response head.
    #[error(
        "the gateway is shutting down and its grace period (timeouts.shutdown_grace_ms) ended before destination \
         `{destination}` answered; the request may have reached it. Retry the request"
    )]
    ShuttingDown {
        /// Destination name.
        destination: String,
    },
    /// The upstream did not answer in time.
    #[error("destination `{destination}` did not answer within {after:?} (timeouts.upstream_first_byte_ms)")]
    UpstreamTimeout {
        /// Destination name.
        destination: String,
        /// The deadline.
        after: Duration,
    },
}

impl GatewayError {
    /// The text for the access log: the client's message plus, for a residency-log failure, its cause.
    fn log_text(&self) -> String {
        match self {
            Self::Audit(cause) => format!("{self}: {cause}"),
            other => other.to_string(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } | Self::StoredResponseNotFound => ErrorKind::NotFound,
            Self::Overloaded | Self::ShuttingDown { .. } => ErrorKind::Overloaded,
            Self::HeadersTooLarge { .. } => ErrorKind::HeadersTooLarge,
            Self::Auth(_) => ErrorKind::Authentication,
            Self::Body(BodyError::TooLarge { .. } | BodyError::DecodedTooLarge { .. }) => {
                ErrorKind::PayloadTooLarge
            }
            Self::Body(BodyError::UnsupportedEncoding(_)) => ErrorKind::UnsupportedMediaType,
            Self::Body(BodyError::Timeout(_)) => ErrorKind::RequestTimeout,
            Self::Body(_) | Self::Api(_) | Self::Query(_) | Self::Uninspectable => {
                ErrorKind::InvalidRequest
            }
            // 413, not 5xx: the body is what is too costly, and SDKs retry 5xx (the same body, three times over).
            Self::InspectionTimeout { .. } => ErrorKind::PayloadTooLarge,
            Self::Route(RouteError::FormatMismatch { .. }) => ErrorKind::InvalidRequest,
            Self::Route(RouteError::NoDestination { .. }) => ErrorKind::NotFound,
            Self::Route(_) => ErrorKind::Upstream,
            Self::Upstream { .. } | Self::UpstreamProtocol { .. } => ErrorKind::Upstream,
            Self::UpstreamTimeout { .. } => ErrorKind::Timeout,
            Self::Audit(_) | Self::InspectionFailed => ErrorKind::Internal,
        }
    }
}

/// Per-entity finding counts of one request.
pub type FindingCounts = BTreeMap<String, u32>;

/// Add `n` findings of `entity`, allocating the key only the first time an entity is seen in a request.
fn add_count(counts: &mut FindingCounts, entity: &str, n: u32) {
    match counts.get_mut(entity) {
        Some(c) => *c += n,
        None => {
            counts.insert(entity.to_owned(), n);
        }
    }
}

/// Take one off `entity`'s count, dropping it at zero.
fn remove_one(counts: &mut FindingCounts, entity: &str) {
    if let Some(c) = counts.get_mut(entity) {
        *c = c.saturating_sub(1);
        if *c == 0 {
            counts.remove(entity);
        }
    }
}

/// The same counts as a residency record holds them.
fn record_counts(counts: &FindingCounts) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|(k, v)| (k.clone(), u64::from(*v)))
        .collect()
}

/// `x-haetae-findings`: `ENTITY=n` pairs, comma-separated, or `none`.
fn counts_header(counts: &FindingCounts) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    let mut out = String::new();
    for (entity, n) in counts {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(entity);
        out.push('=');
        out.push_str(&n.to_string());
    }
    out
}

/// Everything known about one request/response exchange; closes the access log line when the response ends.
pub struct Exchange {
    request_id: String,
    started: Instant,
    peer: SocketAddr,
    method: Method,
    path: String,
    /// The path as logs and records show it ([`loggable`]).
    path_log: String,
    format: Option<WireFormat>,
    tenant: String,
    model: Option<String>,
    /// The requested model as logs and records show it ([`loggable`]).
    model_log: Option<String>,
    /// Findings in the path and the model name (client text outside the body), counted with the body's.
    label_findings: FindingCounts,
    served_model: Option<String>,
    destination: Option<Arc<Destination>>,
    /// Why `destination` was chosen ([`crate::route::Route::reason`]).
    route: Option<Arc<str>>,
    /// The body asked for a stream, or the response is an event stream (`GET /v1/responses/{id}?stream=true` has
    /// no body to ask in).
    stream: bool,
    bytes_in: u64,
    findings: FindingCounts,
    classification: Level,
    status: u16,
    /// Set once the client is authenticated: from then on the request leaves a residency record.
    recorded: bool,
    request_digest: Option<String>,
    response_digest: Option<ContentDigester>,
    /// Bounded copy of a non-SSE response body, for reading token usage (never logged or recorded).
    usage_buf: Option<Vec<u8>>,
    /// The stored OpenAI response this request is about (`/v1/responses/{id}…`).
    response_id: Option<String>,
    /// Still looking for the id of the response this request creates (a `POST /v1/responses` answered 200), to
    /// remember where it is stored ([`crate::route::affinity`]).
    capture_response_id: bool,
    usage: Usage,
    receipt: Option<Receipt>,
    /// How far the request got towards its destination: the one answer to "did the prompt leave?" for an exchange
    /// that ends without a response (an error, or the client leaving).
    delivery: Delivery,
    /// How far inspection got: once it ran (to the end or to its deadline) the findings are worth reporting, on an
    /// error response too; stopped at the deadline, they are a lower bound (the record says `findings_incomplete`).
    scan: ScanState,
    /// Parts of the request the engine cannot read (images, files, …), per kind: forwarded uninspected.
    uninspected: FindingCounts,
    /// The access log line is written (the exchange ended one way or another); see the `Drop` impl.
    logged: bool,
    /// The policy snapshot live when the request arrived: it inspects the request and its hash goes into the record,
    /// even if a reload swaps the gateway's policy meanwhile.
    policy: Arc<Snapshot>,
    shared: Arc<Shared>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// How far a request's inspection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanState {
    /// Not inspected (yet): refused before, or still being read.
    Pending,
    /// Every text was scanned.
    Complete,
    /// The scan stopped at `timeouts.inspection_ms`: the findings are those found up to then.
    Incomplete,
}

/// How far a request got towards its destination. Decides what the access log, `/metrics` and the outcome record
/// say about an exchange that ends without a response, so they cannot disagree about whether the prompt left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Not handed to the upstream client: nothing left (the gateway answered itself, or had not decided yet).
    Held,
    /// Handed to the upstream client: the request is, or may have been, written to the destination.
    Sent,
    /// Handed to the upstream client, which could not connect (TCP, TLS handshake, connect timeout): nothing left.
    Unconnected,
}

impl Delivery {
    /// Whether the request was handed to the upstream client: logs, metrics and the record then name the
    /// destination (the outcome says whether anything left).
    fn attempted(self) -> bool {
        self != Self::Held
    }

    /// The outcome of an exchange that ended in an error response: (access log and metrics, outcome record).
    /// `not_delivered`: no connection was made, nothing left. `sent_no_response`: the request may have been written
    /// (first-byte timeout, a failure after connecting, an answer that could not be passed on); `audit report`
    /// counts it as a transfer.
    fn failure_outcome(self) -> (&'static str, &'static str) {
        match self {
            Self::Held => ("rejected", "refused"),
            Self::Unconnected => ("not_delivered", "not_delivered"),
            Self::Sent => ("sent_no_response", "sent_no_response"),
        }
    }
}

/// Largest non-streaming response body copied aside to read token usage from.
const USAGE_BUF_LIMIT: usize = 256 * 1024;

impl Exchange {
    fn new(shared: Arc<Shared>, method: Method, path: String, peer: SocketAddr) -> Self {
        let policy = shared.policy.load_full();
        let mut label_findings = FindingCounts::new();
        Self {
            request_id: new_request_id(),
            started: Instant::now(),
            peer,
            method,
            path_log: loggable(&policy.engine, &path, &mut label_findings),
            path,
            format: None,
            tenant: "-".to_owned(),
            model: None,
            model_log: None,
            label_findings,
            served_model: None,
            destination: None,
            route: None,
            stream: false,
            bytes_in: 0,
            findings: FindingCounts::new(),
            classification: Level::Unmarked,
            status: 0,
            recorded: false,
            request_digest: None,
            response_digest: None,
            usage_buf: None,
            response_id: None,
            capture_response_id: false,
            usage: Usage::default(),
            receipt: None,
            delivery: Delivery::Held,
            scan: ScanState::Pending,
            uninspected: FindingCounts::new(),
            logged: false,
            policy,
            shared,
            _permit: None,
        }
    }

    /// The residency record of this exchange as known now.
    fn record(
        &self,
        outcome: &str,
        status: Option<u16>,
        response_digest: Option<String>,
    ) -> ResidencyRecord {
        let residency = self.shared.residency.as_ref();
        let identity = format!("{}|{}", self.tenant, self.peer.ip());
        let usage = (self.usage != Usage::default()).then(|| TokenUsage {
            input_tokens: self.usage.input_tokens.unwrap_or(0),
            output_tokens: self.usage.output_tokens.unwrap_or(0),
        });
        ResidencyRecord {
            request_id: self.request_id.clone(),
            tenant: self.tenant.clone(),
            client: residency
                .map(|r| r.key.client_pseudonym(&identity))
                .unwrap_or_default(),
            endpoint: self.path_log.clone(),
            wire_format: self.format.map_or("unknown", WireFormat::as_str).to_owned(),
            requested_model: self.model_log.clone(),
            served_model: self.served_model.clone().or_else(|| self.model_log.clone()),
            policy_hash: self.policy.hash.clone(),
            classification: self.classification.as_str().to_owned(),
            findings: record_counts(&self.findings),
            findings_incomplete: self.scan == ScanState::Incomplete,
            uninspected: record_counts(&self.uninspected),
            actions: BTreeMap::new(),
            destination: self.destination.as_ref().map(|d| DestinationInfo {
                name: d.name.clone(),
                jurisdiction: d.jurisdiction.clone(),
                region: d.region.clone(),
                upstream_host: d.host.clone(),
            }),
            transfer_basis: self
                .destination
                .as_ref()
                .and_then(|d| d.transfer_basis.clone()),
            route: self
                .destination
                .as_ref()
                .and(self.route.as_deref())
                .map(str::to_owned),
            outcome: outcome.to_owned(),
            status,
            latency_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            usage,
            request_digest: self.request_digest.clone(),
            response_digest,
        }
    }

    /// Append a record without waiting for durability (the response has already gone or nothing was forwarded).
    fn record_detached(&self, outcome: &str, status: Option<u16>, response_digest: Option<String>) {
        let Some(residency) = self.shared.residency.as_ref() else {
            return;
        };
        if !self.recorded {
            return;
        }
        // Nobody waits for this record: a failure to write it later fails the whole log (readyz, refusals), so no
        // per-request task is needed to watch it.
        if let Err(e) = residency.log.append_detached(Entry::Request(self.record(
            outcome,
            status,
            response_digest,
        ))) {
            tracing::error!(request_id = %self.request_id, error = %e, "residency record could not be written");
        }
    }
    fn log(&mut self, outcome: &'static str, stats: StreamStats, error: Option<&str>) {
        self.logged = true;
        let findings = counts_header(&self.findings);
        let destination = self.destination.as_ref();
        self.shared.metrics.observe(
            RequestLabels {
                tenant: self.tenant.clone(),
                format: self.format.map_or("unknown", WireFormat::as_str),
                destination: destination.map_or_else(|| "-".to_owned(), |d| d.name.clone()),
                jurisdiction: destination
                    .map_or_else(|| "-".to_owned(), |d| d.jurisdiction.clone()),
                outcome,
                status: self.status,
            },
            self.started.elapsed(),
            self.findings
                .iter()
                .map(|(k, v)| (k.as_str(), u64::from(*v))),
        );
        tracing::info!(
            target: "haetae::access",
            request_id = %self.request_id,
            peer = %self.peer,
            tenant = %self.tenant,
            method = method_label(&self.method),
            path = %self.path_log,
            format = self.format.map(WireFormat::as_str).unwrap_or("-"),
            model = self.model_log.as_deref().unwrap_or("-"),
            served_model = self.served_model.as_deref().unwrap_or("-"),
            stream = self.stream,
            destination = destination.map(|d| d.name.as_str()).unwrap_or("-"),
            jurisdiction = destination.map(|d| d.jurisdiction.as_str()).unwrap_or("-"),
            route = destination.and(self.route.as_deref()).unwrap_or("-"),
            status = self.status,
            outcome,
            latency_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            bytes_in = self.bytes_in,
            bytes_out = stats.bytes,
            sse_events = stats.events,
            // `str` values, so the text format quotes them: `findings="EMAIL=1,KR_RRN=2"` stays one logfmt pair
            findings = findings.as_str(),
            uninspected = counts_header(&self.uninspected).as_str(),
            error = error.unwrap_or("-"),
            "request"
        );
    }
}

/// An exchange dropped before it was logged: the client closed the connection (or reset its HTTP/2 stream) while
/// the request was being read, inspected, recorded or forwarded, before any response head, so hyper dropped the
/// handler. The access log still gets its line and the residency log its outcome record: `client_cancelled`, naming
/// the destination only if the request was already on its way there (its content may have left; an auditor must
/// see that), without a destination otherwise (nothing left). The log line's status is 499, "client closed request".
impl Drop for Exchange {
    fn drop(&mut self) {
        if self.logged {
            return;
        }
        if !self.delivery.attempted() {
            self.destination = None;
        }
        self.status = 499;
        self.log(
            StreamEnd::ClientGone.as_str(),
            StreamStats::default(),
            Some("the client closed the connection before the response began"),
        );
        self.record_detached(StreamEnd::ClientGone.outcome(), None, None);
    }
}

impl Exchange {
    /// The response this request created is stored on its destination, for its tenant.
    fn remember_response(&mut self, id: &str) {
        self.capture_response_id = false;
        if let Some(d) = &self.destination {
            self.shared
                .response_homes
                .remember(id, &d.name, &self.tenant);
        }
    }
}

impl ExchangeObserver for Exchange {
    fn on_data(&mut self, data: &[u8]) {
        if let Some(d) = self.response_digest.as_mut() {
            d.update(data);
        }
        // A non-streaming create: the id is the body's first field (OpenAI, vLLM), read before the bytes go out, so
        // the client cannot ask about the response before the gateway knows where it is. Other field orders are
        // read from the whole body at the end.
        if self.capture_response_id && self.usage_buf.as_ref().is_some_and(Vec::is_empty) {
            if let Some(id) = api::usage::leading_response_id(data) {
                let id = id.to_owned();
                self.remember_response(&id);
            }
        }
        if let Some(buf) = self.usage_buf.as_mut() {
            if buf.len() + data.len() <= USAGE_BUF_LIMIT {
                buf.extend_from_slice(data);
            } else {
                self.usage_buf = None;
            }
        }
    }

    fn on_event(&mut self, event: &SseEvent) {
        if let Some(u) = api::usage::from_event(event) {
            self.usage.merge(u);
        }
        // A streamed create: `response.created`, the first event, carries the id.
        if self.capture_response_id && event.data().is_some() {
            self.capture_response_id = false;
            if let Some(id) = api::usage::response_id_from_event(event) {
                self.remember_response(&id);
            }
        }
    }

    fn on_end(&mut self, end: StreamEnd, stats: StreamStats) {
        if let Some(buf) = self.usage_buf.take() {
            if let Some(u) = api::usage::from_body(&buf) {
                self.usage.merge(u);
            }
            if self.capture_response_id {
                if let Some(id) = api::usage::response_id_from_body(&buf) {
                    self.remember_response(&id);
                }
            }
        }
        let reason = match &end {
            StreamEnd::UpstreamError(r) => Some(r.as_str()),
            _ => None,
        };
        self.log(end.as_str(), stats, reason);
        let outcome = end.outcome();
        let digest = self.response_digest.take().map(ContentDigester::finalize);
        self.record_detached(outcome, Some(self.status), digest);
    }
}

/// A label the client chose (request path, model name) as logs, residency records and error messages show it: every
/// finding of the policy's engine becomes `{ENTITY}`, any character outside `[A-Za-z0-9._:/@+~-]` becomes `_` (no
/// log injection, no free text), and it is cut at 256 bytes. Labels that are what they should be (`gpt-4o`,
/// `/v1/chat/completions`) come out unchanged; `/v1/models/900101-1234568` comes out as `/v1/models/{KR_RRN}`. The
/// findings are added to `counts`.
///
/// The residency log keeps these labels for years and cannot be edited, so masking does not rest on the detector
/// alone: a number of nine or more digits (hyphens between them allowed: `900101-1234567` whatever its check digit,
/// `010-1234-5678`) becomes `{NUMBER}`, and an e-mail shape (`x@host.tld`) `{EMAIL}`, even where the detector found
/// nothing (`ft:gpt-4o:user-900101-1234567`). Model versions (`claude-3-5-sonnet-20241022`, `gpt-4o-2024-08-06`,
/// eight digits) and `name@version` tags stay.
pub(crate) fn loggable(
    engine: &crate::detect::Engine,
    label: &str,
    counts: &mut FindingCounts,
) -> String {
    const MAX: usize = 256;
    let safe = |c: char| c.is_ascii_alphanumeric() || "._:/@+~-".contains(c);
    let findings = engine.scan(label);
    let mut spans: Vec<(usize, usize, &str, bool)> = findings
        .iter()
        .map(|f| (f.start, f.end, f.entity.as_str(), true))
        .collect();
    for &(_, _, name, _) in &spans {
        add_count(counts, name, 1);
    }
    spans.extend(label_shapes(label));
    spans.sort_by_key(|&(s, _, _, finding)| (s, !finding));
    let mut out = String::with_capacity(label.len().min(MAX));
    let mut at = 0;
    for &(start, end, name, _) in &spans {
        if start < at {
            continue;
        }
        out.extend(
            label[at..start]
                .chars()
                .map(|c| if safe(c) { c } else { '_' }),
        );
        out.push('{');
        out.push_str(name);
        out.push('}');
        at = end;
    }
    out.extend(label[at..].chars().map(|c| if safe(c) { c } else { '_' }));
    if out.len() > MAX {
        let mut cut = MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Spans of a label that [`loggable`] masks whether or not the detector found them: digit groups joined by hyphens
/// with nine or more digits in all (`{NUMBER}`), and e-mail shapes, a local part, `@` and a dotted domain whose last
/// label starts with a letter (`{EMAIL}`).
fn label_shapes(label: &str) -> Vec<(usize, usize, &'static str, bool)> {
    let b = label.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let (start, mut digits) = (i, 0);
        let mut end;
        let mut j = i;
        loop {
            let run = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            digits += run;
            end = j + run;
            if b.get(end) == Some(&b'-') && b.get(end + 1).is_some_and(u8::is_ascii_digit) {
                j = end + 1;
            } else {
                break;
            }
        }
        if digits >= 9 {
            spans.push((start, end, "NUMBER", false));
        }
        i = end.max(i + 1);
    }
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || b".-".contains(&c);
    for at in memchr::memchr_iter(b'@', b) {
        let s = at - b[..at].iter().rev().take_while(|&&c| local(c)).count();
        let e = at + 1 + b[at + 1..].iter().take_while(|&&c| domain(c)).count();
        let host = &b[at + 1..e];
        let dotted = host
            .iter()
            .rposition(|&c| c == b'.')
            .is_some_and(|d| d > 0 && host.get(d + 1).is_some_and(u8::is_ascii_alphabetic));
        if s < at && dotted {
            spans.push((s, e, "EMAIL", false));
        }
    }
    spans
}

/// The method as logs and error messages show it: the standard ones by name, any extension method as `OTHER` (a
/// client can put anything in the method token).
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}

fn new_request_id() -> String {
    format!(
        "hx-{:016x}{:08x}",
        rand::random::<u64>(),
        rand::random::<u32>()
    )
}

/// Handle one request end to end. Never fails: errors become responses in the caller's API error shape.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ProxyBody> {
    let path = req.uri().path().to_owned();
    let family = ApiFamily::guess(req.method(), &path, req.headers());
    let mut exchange = Exchange::new(Arc::clone(&shared), req.method().clone(), path, peer);
    match pipeline(&shared, req, &mut exchange).await {
        Ok(forwarded) => respond(&shared, forwarded, exchange),
        Err(err) => {
            let kind = err.kind();
            let message = err.to_string();
            let mut response = error_response(family, kind, &message);
            let message = err.log_text();
            exchange.status = response.status().as_u16();
            if !exchange.delivery.attempted() {
                // Routed, perhaps, but never handed to the upstream client: logs and metrics name no destination.
                exchange.destination = None;
            }
            set_header(
                response.headers_mut(),
                REQUEST_ID_HEADER,
                &exchange.request_id,
            );
            if exchange.scan != ScanState::Pending {
                // What was found is part of the answer even when the request was not forwarded (or got no response).
                exchange.set_inspection_headers(response.headers_mut());
            }
            let (logged, recorded) = match err {
                GatewayError::ShuttingDown { .. } => {
                    (StreamEnd::Shutdown.as_str(), StreamEnd::Shutdown.outcome())
                }
                _ => exchange.delivery.failure_outcome(),
            };
            exchange.log(logged, StreamStats::default(), Some(&message));
            if !matches!(err, GatewayError::Audit(_)) {
                exchange.record_detached(recorded, Some(exchange.status), None);
            }
            response
        }
    }
}

fn error_response(family: ApiFamily, kind: ErrorKind, message: &str) -> Response<ProxyBody> {
    let (status, body) = api::errors::error_response(family, kind, message);
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = kind.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

struct Forwarded {
    response: Response<Incoming>,
    format: Option<WireFormat>,
    /// The response is `text/event-stream`.
    event_stream: bool,
}

async fn pipeline(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    ex: &mut Exchange,
) -> Result<Forwarded, GatewayError> {
    let settings = &shared.settings;
    // 0. the head: the HTTP layer lets through up to twice the limit, so that this refusal is in the API's shape.
    let size = head_size(&req);
    if size > settings.limits.max_header_bytes {
        return Err(GatewayError::HeadersTooLarge {
            size,
            limit: settings.limits.max_header_bytes,
        });
    }
    let (parts, incoming) = req.into_parts();
    let raw_query = parts.uri.query().map(str::to_owned);
    let query = super::query::Query::parse(raw_query.as_deref());

    // 1. classify
    let endpoint = api::classify(&parts.method, &ex.path);
    let family = match &endpoint {
        // `/v1/models` is shared by all three APIs: the SDK's headers (or Gemini's `?key=`) say whose list (and key)
        // it is. `/v1beta/models` is Gemini's alone: the endpoint's own family, not the format's OpenAI default.
        Some(e) if e.format == WireFormat::ModelsList && e.family != ApiFamily::Gemini => {
            if query.key().is_some() {
                ApiFamily::Gemini
            } else {
                ApiFamily::guess(&parts.method, &ex.path, &parts.headers)
            }
        }
        Some(e) => e.family,
        None if settings.server.allow_unknown_paths => {
            ApiFamily::guess(&parts.method, &ex.path, &parts.headers)
        }
        None => {
            return Err(GatewayError::NotFound {
                method: method_label(&parts.method),
                path: ex.path_log.clone(),
                escaped_id: api::escaped_id(&ex.path),
            })
        }
    };
    ex.format = endpoint.as_ref().map(|e| e.format);
    if ex.format == Some(WireFormat::OpenAiResponseState) {
        ex.response_id = api::stored_response_id(&ex.path).map(str::to_owned);
    }

    // 2. admit
    ex._permit = Some(
        Arc::clone(&shared.requests)
            .try_acquire_owned()
            .map_err(|_| GatewayError::Overloaded)?,
    );

    // 3. authenticate
    ex.tenant = shared
        .tenants
        .authenticate(&parts.headers, query.key())?
        .to_owned();
    ex.recorded = true;
    // The query: no gateway key goes upstream under any name or encoding; what does is inspected below.
    let query = query.sanitise(|k| shared.tenants.is_gateway_key(k))?;

    // 4. read, bounded
    let limits = &settings.limits;
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limits.max_request_body_bytes {
            return Err(BodyError::TooLarge {
                limit: limits.max_request_body_bytes,
            }
            .into());
        }
    }
    let raw = body::read_bounded(
        incoming,
        limits.max_request_body_bytes,
        Duration::from_millis(settings.timeouts.client_body_ms),
    )
    .await?;
    ex.bytes_in = raw.len() as u64;
    let body = body::decode_headers(&parts.headers, raw, limits.max_decoded_body_bytes)?;

    // 5. parse, 6. inspect
    let dest_family = to_destination_format(family);
    let parsed = match &endpoint {
        Some(e) if e.format.has_body() => Some(api::parse_for(e, &body)?),
        _ => None,
    };
    if let Some(p) = &parsed {
        for segment in p.segments() {
            if let api::SegmentKind::Opaque(kind) = segment.kind {
                add_count(&mut ex.uninspected, kind.as_str(), 1);
            }
        }
        ex.model = p.model().map(str::to_owned);
        if let Some(m) = p.model() {
            // Gemini carries the model in the path, whose findings are already counted.
            let mut in_path = FindingCounts::new();
            let counts = if ex.path.contains(m) {
                &mut in_path
            } else {
                &mut ex.label_findings
            };
            ex.model_log = Some(loggable(&ex.policy.engine, m, counts));
        }
        ex.stream = p.stream();
    }
    // Unknown path forwarded by configuration, or a body on an endpoint that takes none (`GET /v1/models`, a stored
    // response): no format to parse, so the whole body is scanned as text. Nothing leaves unscanned.
    let raw = endpoint.as_ref().is_none_or(|e| !e.format.has_body()) && !body.is_empty();
    let after = Duration::from_millis(shared.settings.timeouts.inspection_ms);
    let (mut parsed, scanned) = if body.len() > limits.inline_scan_bytes {
        // A large body is scanned off the runtime's workers (limits.inline_scan_bytes). If the scan task fails, the
        // request fails: nothing unscanned is forwarded.
        let (policy, b) = (Arc::clone(&ex.policy), body.clone());
        tokio::task::spawn_blocking(move || {
            // CPU time of this blocking thread: a big scan waiting for a core on a busy gateway is not refused.
            let deadline = crate::detect::Deadline::thread_cpu(after);
            let scanned = inspect_body(&policy, deadline, parsed.as_ref(), &b, raw);
            (parsed, scanned)
        })
        .await
        .map_err(|_| GatewayError::InspectionFailed)?
    } else {
        // Wall-clock time: a body this small scans in well under a millisecond (only text crafted to be slow comes
        // near the deadline), so being preempted cannot make it miss; and the wall clock is cheaper to read than the
        // thread's CPU clock, a system call.
        let deadline = crate::detect::Deadline::from(Instant::now() + after);
        let scanned = inspect_body(&ex.policy, deadline, parsed.as_ref(), &body, raw);
        (parsed, scanned)
    };
    for (entity, n) in &ex.label_findings {
        add_count(&mut ex.findings, entity, *n);
    }
    let mut complete = true;
    if let Some(body_scan) = scanned? {
        if let (true, Some(p)) = (body_scan.complete, &parsed) {
            // A text file sent inline was read like any text: it is no longer an uninspected part.
            for &i in &body_scan.read_parts {
                if let Some(api::SegmentKind::Opaque(kind)) = p.segments().get(i).map(|s| s.kind) {
                    remove_one(&mut ex.uninspected, kind.as_str());
                }
            }
        }
        complete &= ex.take_inspection(body_scan);
    }
    if complete && !query.texts.is_empty() {
        let deadline = crate::detect::Deadline::from(Instant::now() + after);
        complete &= ex.take_inspection(inspect(
            &ex.policy,
            deadline,
            query.texts.iter().map(String::as_str),
            &[],
        ));
    }
    if !complete {
        // Fail closed: an unfinished scan is no scan. What it found so far is recorded, marked a lower bound.
        ex.scan = ScanState::Incomplete;
        return Err(GatewayError::InspectionTimeout { after });
    }
    ex.scan = ScanState::Complete;

    // 7. route: a stored response goes where it was created; anything else by model. A known stored response is
    // only ever used by the tenant that created it: asked about, or continued (`previous_response_id`), by another
    // tenant it does not exist.
    let home = ex
        .response_id
        .as_deref()
        .and_then(|id| shared.response_homes.lookup(id));
    let previous = parsed
        .as_ref()
        .filter(|p| {
            matches!(
                p.format(),
                WireFormat::OpenAiResponses
                    | WireFormat::OpenAiResponsesCompact
                    | WireFormat::OpenAiResponsesInputTokens
            )
        })
        .and_then(|p| p.value().get("previous_response_id"))
        .and_then(serde_json::Value::as_str)
        .and_then(|id| shared.response_homes.lookup(id));
    if [&home, &previous]
        .into_iter()
        .flatten()
        .any(|h| *h.tenant != *ex.tenant)
    {
        return Err(GatewayError::StoredResponseNotFound);
    }
    let held = home.and_then(|h| shared.routes.holder(dest_family, &h.destination));
    let route = held
        .map_or_else(
            || shared.routes.select(dest_family, ex.model.as_deref()),
            Ok,
        )
        .map_err(|e| match e {
            // The message names the model: as logs show it, not as the client wrote it.
            RouteError::FormatMismatch {
                model: _,
                destination,
                speaks,
                requested,
            } => RouteError::FormatMismatch {
                model: ex.model_log.clone().unwrap_or_default(),
                destination,
                speaks,
                requested,
            },
            RouteError::NoDestination { family, model } => RouteError::NoDestination {
                family,
                model: model.and(ex.model_log.clone()),
            },
            other => other,
        })?;
    let destination = Arc::clone(&route.destination);
    ex.destination = Some(Arc::clone(&destination));
    ex.served_model = route.served_model.clone();
    ex.route = Some(Arc::clone(&route.reason));
    // A known endpoint goes out under its canonical path (`/v1/chat/completions/` → `/v1/chat/completions`: strict
    // upstreams answer 404 to the slash); an unknown one (`server.allow_unknown_paths`) as sent.
    let mut path = Cow::Borrowed(if endpoint.is_some() {
        api::canonical_path(&ex.path)
    } else {
        ex.path.as_str()
    });
    if let (Some(p), Some(model)) = (&mut parsed, &route.served_model) {
        if p.format().family() == ApiFamily::Gemini {
            // Gemini carries the model in the path, not the body.
            if let Some(rewritten) = api::gemini::rewrite_model_path(&path, model) {
                path = Cow::Owned(rewritten);
            }
        } else {
            p.set_model(model)?;
        }
    }
    // The parser refused duplicate keys, so while nothing was rewritten the original bytes mean exactly the value
    // that was scanned and go out as they are; a rewritten body is the original with the new values spliced in.
    let forward_body = match &parsed {
        Some(p) if p.is_modified() => Bytes::from(p.to_body(&body)),
        _ => body,
    };

    // 8. record: the residency record is durable before any byte leaves (durability = before-forward); with
    // after-response the record comes at the end, but a log that has already failed still stops the request here
    // (fail closed: a transfer that cannot be recorded does not happen).
    let uri = destination.upstream_uri(&path, query.forward.as_deref())?;
    if let Some(residency) = shared.residency.as_ref() {
        ex.request_digest = Some(residency.key.digest(&forward_body));
        if residency.durability == AuditDurability::BeforeForward {
            let receipt = residency
                .log
                .append_request(ex.record("decided", None, None))
                .await
                .map_err(|e| GatewayError::Audit(e.to_string()))?;
            ex.receipt = Some(receipt);
        } else if let Some(reason) = residency.log.health().failure {
            return Err(GatewayError::Audit(
                crate::audit::AuditError::Failed(reason).to_string(),
            ));
        }
    }

    // 9. forward
    let mut headers = forwardable_request_headers(&parts.headers);
    destination.apply_credentials(&mut headers)?;
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    if !forward_body.is_empty() || parts.method == Method::POST {
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(forward_body.len()),
        );
    }
    // HEAD on the models passthrough is asked as GET (not every provider answers HEAD); [`respond`] drops the body.
    let method = if parts.method == Method::HEAD && ex.format == Some(WireFormat::ModelsList) {
        Method::GET
    } else {
        parts.method.clone()
    };
    let mut upstream_req = Request::new(Full::new(forward_body));
    *upstream_req.method_mut() = method;
    *upstream_req.uri_mut() = uri;
    *upstream_req.headers_mut() = headers;

    let client = shared
        .clients
        .get(&destination.name)
        .ok_or_else(|| GatewayError::Upstream {
            destination: destination.name.clone(),
            host: destination.host.clone(),
            reason: "no client for destination".into(),
        })?;
    let first_byte = Duration::from_millis(settings.timeouts.upstream_first_byte_ms);
    ex.delivery = Delivery::Sent;
    // At the end of the shutdown grace period a request still waiting for its head gets an error in its API's shape
    // (as a response still streaming gets an error event), not a closed connection.
    let cut = shared.cut_streams.notified();
    let waited = tokio::select! {
        waited = tokio::time::timeout(first_byte, client.request(upstream_req)) => waited,
        () = cut => {
            return Err(GatewayError::ShuttingDown {
                destination: destination.name.clone(),
            })
        }
    };
    let response = match waited {
        Err(_) => {
            return Err(GatewayError::UpstreamTimeout {
                destination: destination.name.clone(),
                after: first_byte,
            })
        }
        Ok(Err(e)) => {
            if e.is_connect() {
                // TCP, TLS handshake or connect timeout failed: no request byte was written.
                ex.delivery = Delivery::Unconnected;
            }
            return Err(GatewayError::Upstream {
                destination: destination.name.clone(),
                host: destination.host.clone(),
                reason: describe_client_error(&e),
            });
        }
        Ok(Ok(r)) => r,
    };
    // The gateway asks for identity. An event stream in another coding could not be framed (per-event idle timeout,
    // event cap, truncation, usage), so it is not passed on as an opaque blob: the client gets a 502 instead.
    let event_stream = is_event_stream(response.headers());
    if event_stream {
        if let Some(coding) = body::declared_coding(response.headers()) {
            return Err(GatewayError::UpstreamProtocol {
                destination: destination.name.clone(),
                reason: format!(
                    "an event stream with Content-Encoding {coding}, although the gateway asked for identity \
                     (streams are passed on event by event, so they must arrive unencoded)"
                ),
            });
        }
    }
    Ok(Forwarded {
        response,
        format: ex.format,
        event_stream,
    })
}

/// What a scan found: per-entity counts (never values), the highest marking level, and whether it reached the end
/// (false: it stopped at the inspection deadline, and the counts are those found up to then).
struct Inspection {
    counts: FindingCounts,
    level: Level,
    complete: bool,
    /// Opaque parts (indices into the parsed request's segments) whose inline payload was read as text.
    read_parts: Vec<usize>,
}

impl Exchange {
    /// `x-haetae-findings` (always) and `x-haetae-uninspected` (when the request had parts the engine cannot read).
    fn set_inspection_headers(&self, headers: &mut http::HeaderMap) {
        set_header(headers, FINDINGS_HEADER, &counts_header(&self.findings));
        if !self.uninspected.is_empty() {
            set_header(
                headers,
                UNINSPECTED_HEADER,
                &counts_header(&self.uninspected),
            );
        }
    }

    /// Add a scan's findings to the exchange's; whether the scan was complete.
    fn take_inspection(&mut self, scan: Inspection) -> bool {
        for (entity, n) in &scan.counts {
            add_count(&mut self.findings, entity, *n);
        }
        self.classification = self.classification.max(scan.level);
        scan.complete
    }
}

/// Phase 6: scan every text segment with the request's policy snapshot; keep per-entity counts (never values).
/// Scan a request: the texts of its parsed form, or (`raw`) the whole body as text, giving up at `deadline` (from
/// `timeouts.inspection_ms`). `None`: nothing to scan.
fn inspect_body(
    policy: &Snapshot,
    deadline: crate::detect::Deadline,
    parsed: Option<&api::ParsedRequest>,
    body: &[u8],
    raw: bool,
) -> Result<Option<Inspection>, GatewayError> {
    if let Some(p) = parsed {
        let others = p.other_texts();
        let texts = p
            .texts()
            .map(|(_, _, text)| text)
            .chain(p.read_only_texts())
            .chain(others.texts.iter().map(AsRef::as_ref));
        let mut scan = inspect(policy, deadline, texts, &p.text_seams());
        scan.read_parts = others.read_parts;
        return Ok(Some(scan));
    }
    if raw {
        let text = std::str::from_utf8(body).map_err(|_| GatewayError::Uninspectable)?;
        return Ok(Some(inspect(policy, deadline, std::iter::once(text), &[])));
    }
    Ok(None)
}

/// Count a finding of `text`; a marking raises the level.
fn count_finding(
    counts: &mut FindingCounts,
    level: &mut Level,
    f: &crate::detect::Finding,
    text: &str,
) {
    add_count(counts, f.entity.as_str(), 1);
    if f.entity == Entity::ClassificationMarking {
        if let Some(marking) = text.get(f.start..f.end) {
            *level = (*level).max(marking_level(marking));
        }
    }
}

/// A finding of a part that meets another part at a seam.
struct Fragment {
    start: usize,
    end: usize,
    entity: Entity,
    /// Counted as part of a finding across the seam instead.
    replaced: bool,
}

/// How much of each side of a seam between two text parts is scanned again as one text: enough for the longest
/// split identifier and the context words before it.
const SEAM_WINDOW: usize = 512;

/// The last `max` bytes of `s` at most, starting on a character boundary.
fn tail(s: &str, max: usize) -> &str {
    let mut i = s.len().saturating_sub(max);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// The first `max` bytes of `s` at most, ending on a character boundary.
fn head(s: &str, max: usize) -> &str {
    let mut i = s.len().min(max);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// Scan `texts` one by one, then each seam (two adjacent text parts read as one, [`api::ParsedRequest::text_seams`]):
/// a seam adds what crosses it (in place of a part's own fragment of it) and what the other part's context words
/// make reportable near it, so nothing is counted twice.
fn inspect<'a>(
    policy: &Snapshot,
    deadline: crate::detect::Deadline,
    texts: impl Iterator<Item = &'a str>,
    seams: &[(&str, &str)],
) -> Inspection {
    use crate::detect::{CONTEXT_AFTER, CONTEXT_BEFORE};
    let engine = &policy.engine;
    let mut findings = Vec::new();
    let mut counts = FindingCounts::new();
    let mut level = Level::Unmarked;
    // What each part of a seam reported on its own, by the part's address.
    let in_seams: std::collections::HashSet<*const u8> = seams
        .iter()
        .flat_map(|(a, b)| [a.as_ptr(), b.as_ptr()])
        .collect();
    let mut own: std::collections::HashMap<*const u8, Vec<Fragment>> = Default::default();
    // A pooled scratch: its lazy-DFA caches stay warm from request to request.
    let complete = engine.with_scratch(|scratch| {
        for text in texts {
            findings.clear();
            // Past the deadline the scan stops; what it found in this segment up to then still counts.
            let finished = engine
                .scan_segment_until(text, 0, scratch, &mut findings, deadline)
                .is_ok();
            for f in &findings {
                count_finding(&mut counts, &mut level, f, text);
            }
            if in_seams.contains(&text.as_ptr()) {
                let fragments = findings.iter().map(|f| Fragment {
                    start: f.start,
                    end: f.end,
                    entity: f.entity.clone(),
                    replaced: false,
                });
                own.insert(text.as_ptr(), fragments.collect());
            }
            if !finished {
                return false;
            }
        }
        let mut joined = String::new();
        let reported =
            |own: &std::collections::HashMap<_, Vec<Fragment>>, part: &str, start, end| {
                own.get(&part.as_ptr())
                    .is_some_and(|r| r.iter().any(|f| f.start < end && start < f.end))
            };
        for (a, b) in seams {
            let before = tail(a, SEAM_WINDOW);
            let seam = before.len();
            let a_base = a.len() - seam;
            joined.clear();
            joined.push_str(before);
            joined.push_str(head(b, SEAM_WINDOW));
            findings.clear();
            let finished = engine
                .scan_segment_until(&joined, 0, scratch, &mut findings, deadline)
                .is_ok();
            // Added: what crosses the seam, and what the other part's context words near the seam made reportable
            // (`"계좌"` then `"110-123-456789"`), unless that part's own scan already reported something there.
            for f in &findings {
                let new = if f.start < seam && f.end > seam {
                    // A part's own finding inside this one was a fragment of it (`kim@example.co` of
                    // `kim@example.co` + `.kr`): it is replaced, not counted next to it.
                    for (part, start, end) in [(a, a_base + f.start, a.len()), (b, 0, f.end - seam)]
                    {
                        let fragments = own.get_mut(&part.as_ptr()).into_iter().flatten();
                        for g in fragments.filter(|g| !g.replaced && g.start < end && start < g.end)
                        {
                            g.replaced = true;
                            remove_one(&mut counts, g.entity.as_str());
                        }
                    }
                    true
                } else if f.start >= seam {
                    f.start - seam < CONTEXT_BEFORE
                        && !reported(&own, b, f.start - seam, f.end - seam)
                } else {
                    seam - f.end < CONTEXT_AFTER
                        && !reported(&own, a, a_base + f.start, a_base + f.end)
                };
                if new {
                    count_finding(&mut counts, &mut level, f, &joined);
                }
            }
            if !finished {
                return false;
            }
        }
        true
    });
    Inspection {
        counts,
        level,
        complete,
        read_parts: Vec::new(),
    }
}

fn describe_client_error(e: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut reason = if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

fn to_destination_format(family: ApiFamily) -> DestinationFormat {
    match family {
        ApiFamily::OpenAi => DestinationFormat::Openai,
        ApiFamily::Anthropic => DestinationFormat::Anthropic,
        ApiFamily::Gemini => DestinationFormat::Gemini,
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus everything the gateway sets itself or must not forward.
const DROP_REQUEST_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
    "accept-encoding",
    // `Expect: 100-continue` was for the gateway, which has answered it and read the whole body
    "expect",
    // the client's gateway key, in every SDK's spelling (`api-key`: Azure OpenAI's)
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    // the client's cookies are for the gateway's origin, not the provider's
    "cookie",
    // which organisation and project the gateway's provider key bills and stores data under is the operator's
    // choice, not a tenant's
    "openai-organization",
    "openai-project",
];

const DROP_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    // the operator's provider account (organisation and project ids) is not the tenants' business
    "openai-organization",
    "openai-project",
    // cookies the provider sets are for the provider's origin (and its load balancer), not the gateway's
    "set-cookie",
    "set-cookie2",
];

fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn forwardable_request_headers(incoming: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let n = name.as_str();
        if DROP_REQUEST_HEADERS.contains(&n) || listed.iter().any(|l| l == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// A request head's size as HTTP/1.1 would spell it: method, target, version, and `name: value\r\n` per header
/// (HTTP/2's HPACK list size counts 32 more per header; the allowance of twice the limit covers the difference).
fn head_size<B>(req: &Request<B>) -> usize {
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |pq| pq.as_str().len())
        + " HTTP/1.1\r\n ".len();
    req.headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line
        + 2
}

/// Whether a response's `Content-Type` is `text/event-stream` (any case, parameters allowed).
fn is_event_stream(headers: &HeaderMap) -> bool {
    const SSE: &[u8] = b"text/event-stream";
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let ct = v.as_bytes().trim_ascii_start();
        ct.get(..SSE.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(SSE))
    })
}

fn respond(shared: &Arc<Shared>, forwarded: Forwarded, mut ex: Exchange) -> Response<ProxyBody> {
    let (mut parts, incoming) = forwarded.response.into_parts();
    let listed = connection_listed(&parts.headers);
    for name in DROP_RESPONSE_HEADERS {
        parts.headers.remove(*name);
    }
    for name in &listed {
        parts.headers.remove(name.as_str());
    }
    let is_sse = forwarded.event_stream;
    ex.stream |= is_sse;
    ex.status = parts.status.as_u16();
    if parts.status == StatusCode::OK {
        match forwarded.format {
            Some(WireFormat::OpenAiResponses) => {
                ex.capture_response_id = shared.response_homes.enabled();
            }
            Some(WireFormat::OpenAiResponseState) if ex.method == Method::DELETE => {
                if let Some(id) = &ex.response_id {
                    shared.response_homes.forget(id);
                }
            }
            _ => {}
        }
    }
    set_header(&mut parts.headers, REQUEST_ID_HEADER, &ex.request_id);
    if let Some(receipt) = &ex.receipt {
        set_header(&mut parts.headers, RECEIPT_HEADER, &receipt.header_value());
    }
    if let Some(residency) = shared.residency.as_ref() {
        ex.response_digest = Some(residency.key.digester());
    }
    ex.set_inspection_headers(&mut parts.headers);
    if let Some(d) = &ex.destination {
        set_header(
            &mut parts.headers,
            DESTINATION_HEADER,
            &format!("{}; jurisdiction={}", d.name, d.jurisdiction),
        );
    }
    if ex.method == Method::HEAD {
        // No body, but the head of a GET (its Content-Length included, RFC 9110, 9.3.2). The upstream's body, if it
        // was asked with GET, is dropped unread, and the exchange ends here (hyper would drop a body it must not send
        // unpolled, and the exchange would be logged as cancelled).
        drop(incoming);
        ex.on_end(StreamEnd::Complete, StreamStats::default());
        return Response::from_parts(parts, full(Bytes::new()));
    }
    let idle = Duration::from_millis(shared.settings.timeouts.upstream_idle_ms);
    let sse_format = forwarded
        .format
        .filter(|_| is_sse && parts.status == StatusCode::OK);
    if sse_format.is_none() {
        ex.usage_buf = Some(Vec::new());
    }
    let body = if let Some(format) = sse_format {
        parts.headers.remove(header::CONTENT_LENGTH);
        ResponseBody::sse(
            incoming,
            format,
            shared.settings.limits.max_sse_event_bytes,
            idle,
            ex,
        )
    } else {
        ResponseBody::passthrough(incoming, idle, ex)
    };
    let body = body.cut_on(Arc::clone(&shared.cut_streams)).boxed_unsync();
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text split into two parts at any character boundary is counted as the whole text is: what crosses the
    /// seam once, what one part's context words make reportable in the other too, nothing twice.
    #[test]
    fn a_split_anywhere_counts_like_the_whole_text() {
        let policy = Snapshot::builtin().unwrap();
        let deadline = crate::detect::Deadline::from(Instant::now() + Duration::from_secs(600));
        for text in [
            "주민등록번호 850314-1308025 입니다",
            "mail kim.minsu@example.co.kr now",
            "card 4532 0151 1283 3519 thanks",
            "전화 010-2837-4651 주세요",
            "이 문서는 Ⅱ급비밀 입니다",
            "입금 계좌는 110-123-456789 입니다",
            "성명: 홍길동",
            "key AKIAIOSFODNN7EXAMPLE here",
        ] {
            let whole = inspect(&policy, deadline, std::iter::once(text), &[]);
            assert!(!whole.counts.is_empty(), "{text}");
            for (i, _) in text.char_indices().skip(1) {
                let (a, b) = text.split_at(i);
                let split = inspect(&policy, deadline, [a, b].into_iter(), &[(a, b)]);
                assert_eq!(split.counts, whole.counts, "{a:?} | {b:?}");
                assert_eq!(split.level, whole.level, "{a:?} | {b:?}");
            }
        }
    }

    #[test]
    fn labels_lose_numbers_and_addresses_the_detector_missed() {
        let engine = crate::detect::Engine::builtin().unwrap();
        let mut counts = FindingCounts::default();
        let mut show = |label: &str| loggable(&engine, label, &mut counts);
        assert_eq!(show("gpt-4o-2024-08-06"), "gpt-4o-2024-08-06");
        assert_eq!(
            show("claude-3-5-sonnet-20241022"),
            "claude-3-5-sonnet-20241022"
        );
        assert_eq!(
            show("claude-3-5-sonnet-v2@20241022"),
            "claude-3-5-sonnet-v2@20241022"
        );
        assert_eq!(show("/v1/chat/completions"), "/v1/chat/completions");
        assert_eq!(
            show("ft:gpt-4o:user-900101-1234567"),
            "ft:gpt-4o:user-{NUMBER}"
        );
        assert_eq!(
            show("ft:gpt-4o:user-900101-1234568"),
            "ft:gpt-4o:user-{KR_RRN}"
        );
        assert_eq!(
            show("gpt-hong@example.com-900101-1234567"),
            "{EMAIL}-{NUMBER}"
        );
        assert_eq!(show("resp_4111111111111111"), "resp_{NUMBER}");
        assert_eq!(show("m 010 1234 5678 x"), "m_{KR_PHONE}_x");
        assert_eq!(show("id_x1234567890"), "id_x{NUMBER}");
        assert_eq!(counts.get("KR_RRN"), Some(&1));
    }
}
