//! Prometheus / OpenMetrics metrics for the admin listener's `GET /metrics`.
//!
//! Counters and histograms are updated once per finished exchange; live values (requests in flight, the residency
//! log's health and commit statistics) are read at scrape time by a collector.
//!
//! Must never: use a label value a client controls (model names, paths, keys, headers) — only names from the
//! configuration (tenants, destinations, jurisdictions), wire-format and outcome names, status codes and detector
//! ids — and never content of any kind.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use crate::audit::AuditLog;

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `haetae_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Tenant name from the configuration (`-` before authentication).
    pub tenant: String,
    /// Wire format (`openai_chat`, `anthropic_messages`, …) or `unknown`.
    pub format: &'static str,
    /// Destination name from the configuration, or `-` when the request was refused before routing.
    pub destination: String,
    /// Jurisdiction code of the destination, or `-`.
    pub jurisdiction: String,
    /// How the exchange ended (`complete`, `rejected`, `upstream_error`, …).
    pub outcome: &'static str,
    /// HTTP status sent to the client.
    pub status: u16,
}

/// Labels of `haetae_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    format: &'static str,
    destination: String,
}

/// Labels of `haetae_findings_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    entity: String,
    destination: String,
    jurisdiction: String,
}

/// Labels of `haetae_policy_reloads_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    /// `swapped`, `unchanged` or `failed`.
    result: &'static str,
}

/// Labels of `haetae_connections_closed_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    reason: &'static str,
}

/// Why the gateway itself closed a traffic connection, for [`Metrics::connection_closed`]. Connections the client
/// closes, and those closed by a shutdown's drain, are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionClosed {
    /// No request (TLS handshake, HTTP/2 preface and request head included) within `timeouts.client_header_ms`.
    NoRequest,
    /// Nothing in flight for `timeouts.client_idle_ms` (HTTP/2: a GOAWAY was sent).
    Idle,
    /// The TLS handshake failed (bad client hello, no common protocol version or cipher, …).
    TlsFailed,
}

impl ConnectionClosed {
    fn as_str(self) -> &'static str {
        match self {
            Self::NoRequest => "no_request",
            Self::Idle => "idle",
            Self::TlsFailed => "tls_failed",
        }
    }
}

/// How a policy reload ended, for [`Metrics::policy_reload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadResult {
    /// New rules are live.
    Swapped,
    /// The file held the live rules already.
    Unchanged,
    /// Nothing changed: the file did not load or compile, or the change could not be recorded.
    Failed,
}

/// The gateway's metrics registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reloads: Family<ReloadLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    duration: Family<DurationLabels, Histogram, fn() -> Histogram>,
    findings: Family<FindingLabels, Counter>,
    accept_errors: Counter,
    closed: Family<ClosedLabels, Counter>,
}

/// The live gauges: in-flight requests (held permits) and open traffic connections.
#[derive(Debug, Clone)]
pub struct Limiters {
    /// `limits.max_concurrent_requests` permits; a request (or stream) holds one to its end.
    pub requests: Arc<Semaphore>,
    /// Its size.
    pub max_requests: usize,
    /// Traffic connections accepted and not yet closed.
    pub open_connections: Arc<AtomicUsize>,
}

fn duration_histogram() -> Histogram {
    // 0.5 ms … ~524 s: gateway-only refusals at the bottom, long streams and the default 300 s first-byte timeout
    // at the top
    Histogram::new(exponential_buckets(0.0005, 2.0, 21))
}

impl Metrics {
    /// A registry with the request metrics and a collector for live values of `limiters` and `audit`.
    pub fn new(limiters: Limiters, audit: Option<Arc<AuditLog>>) -> Self {
        let mut registry = Registry::with_prefix("haetae");
        let req = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests handled, by tenant, wire format, destination, jurisdiction, outcome and status",
            req.clone(),
        );
        let duration = Family::<DurationLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request's arrival to the end of the response (whole stream), by format and destination",
            duration.clone(),
        );
        let findings = Family::<FindingLabels, Counter>::default();
        registry.register(
            "findings",
            "Detector findings in forwarded or refused requests, by entity and destination (counts only)",
            findings.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "policy_reloads",
            "Policy reloads (SIGHUP), by result: swapped, unchanged, failed (the running policy stayed live)",
            reloads.clone(),
        );
        let accept_errors = Counter::default();
        registry.register(
            "accept_errors",
            "Failed accepts on the traffic listeners (e.g. no file descriptor left: EMFILE); each backs off 50 ms",
            accept_errors.clone(),
        );
        let closed = Family::<ClosedLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Traffic connections the gateway closed itself, by reason: no_request (none within \
             timeouts.client_header_ms), idle (nothing in flight for timeouts.client_idle_ms), tls_failed",
            closed.clone(),
        );
        registry.register_collector(Box::new(Live { limiters, audit }));
        Self {
            registry,
            accept_errors,
            closed,
            reloads,
            requests: req,
            duration,
            findings,
        }
    }

    /// Count one finished exchange.
    pub fn observe<'a>(
        &self,
        labels: RequestLabels,
        elapsed: Duration,
        findings: impl Iterator<Item = (&'a str, u64)>,
    ) {
        self.duration
            .get_or_create(&DurationLabels {
                format: labels.format,
                destination: labels.destination.clone(),
            })
            .observe(elapsed.as_secs_f64());
        for (entity, n) in findings {
            self.findings
                .get_or_create(&FindingLabels {
                    entity: entity.to_owned(),
                    destination: labels.destination.clone(),
                    jurisdiction: labels.jurisdiction.clone(),
                })
                .inc_by(n);
        }
        self.requests.get_or_create(&labels).inc();
    }

    /// Count one failed accept on a traffic listener.
    pub fn accept_failed(&self) {
        self.accept_errors.inc();
    }

    /// Count one traffic connection the gateway closed itself.
    pub fn connection_closed(&self, why: ConnectionClosed) {
        self.closed
            .get_or_create(&ClosedLabels {
                reason: why.as_str(),
            })
            .inc();
    }

    /// Count one policy reload.
    pub fn policy_reload(&self, result: ReloadResult) {
        let result = match result {
            ReloadResult::Swapped => "swapped",
            ReloadResult::Unchanged => "unchanged",
            ReloadResult::Failed => "failed",
        };
        self.reloads.get_or_create(&ReloadLabels { result }).inc();
    }

    /// The OpenMetrics text exposition of everything.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            // encoding into a String cannot fail short of a collector bug: say so in the exposition itself
            out.clear();
            let _ = writeln!(out, "# metrics encoding failed\n# EOF");
        }
        out
    }
}

/// Values read at scrape time.
#[derive(Debug)]
struct Live {
    limiters: Limiters,
    audit: Option<Arc<AuditLog>>,
}

/// Write one scrape-time metric (a `ConstGauge` or `ConstCounter`) with its descriptor.
fn emit(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(enc.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    v: i64,
) -> Result<(), std::fmt::Error> {
    emit(enc, name, help, ConstGauge::new(v))
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for Live {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let l = &self.limiters;
        gauge(
            &mut enc,
            "in_flight_requests",
            "Requests in flight (streams count until they end)",
            int(super::in_flight(&l.requests, l.max_requests) as u64),
        )?;
        gauge(
            &mut enc,
            "open_connections",
            "Traffic connections open now (limits.max_connections; a connection over it waits in the accept queue)",
            int(l.open_connections.load(Ordering::Relaxed) as u64),
        )?;
        let Some(log) = &self.audit else {
            return gauge(
                &mut enc,
                "audit_enabled",
                "1 when the residency log is on",
                0,
            );
        };
        let health = log.health();
        let stats = log.stats();
        gauge(
            &mut enc,
            "audit_enabled",
            "1 when the residency log is on",
            1,
        )?;
        gauge(
            &mut enc,
            "audit_healthy",
            "1 while the residency log accepts records; 0 once it failed (disk full, read-only, I/O error): traffic \
             is refused and /readyz is 503",
            i64::from(health.failure.is_none()),
        )?;
        gauge(
            &mut enc,
            "audit_degraded",
            "1 while the residency log's tiles or checkpoint could not be written (e.g. no file descriptor left): \
             records are still journaled and acknowledged, publication is retried; 0 once a checkpoint is published",
            i64::from(health.degraded.is_some()),
        )?;
        gauge(
            &mut enc,
            "audit_entries",
            "Durable entries in the residency log",
            int(health.size),
        )?;
        gauge(
            &mut enc,
            "audit_checkpoint_size",
            "Tree size of the latest signed checkpoint",
            int(health.checkpoint_size),
        )?;
        emit(
            &mut enc,
            "audit_commits",
            "Group commits (one fdatasync each) since start",
            ConstCounter::new(stats.batches),
        )?;
        emit(
            &mut enc,
            "audit_committed_entries",
            "Entries committed since start",
            ConstCounter::new(stats.entries),
        )?;
        emit(
            &mut enc,
            "audit_fsync_seconds",
            "Time spent in fdatasync since start",
            ConstCounter::new(stats.fsync_total.as_secs_f64()),
        )?;
        gauge(
            &mut enc,
            "audit_fsync_max_microseconds",
            "Longest single fdatasync since start",
            int(u64::try_from(stats.fsync_max.as_micros()).unwrap_or(u64::MAX)),
        )?;
        emit(
            &mut enc,
            "audit_checkpoints",
            "Checkpoints published since start",
            ConstCounter::new(stats.checkpoints),
        )?;
        gauge(
            &mut enc,
            "audit_shard",
            "Index of the open shard (rotation into sealed shards)",
            int(health.shard),
        )?;
        emit(
            &mut enc,
            "audit_rotations",
            "Shard rotations since start",
            ConstCounter::new(stats.rotations),
        )?;
        gauge(
            &mut enc,
            "audit_rotation_max_microseconds",
            "Longest wait of appends for a rotation since start",
            int(u64::try_from(stats.rotation_max.as_micros()).unwrap_or(u64::MAX)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_request_finding_and_live_metrics() {
        let sem = Arc::new(Semaphore::new(10));
        let _held = Arc::clone(&sem).try_acquire_many_owned(3);
        let m = Metrics::new(
            Limiters {
                requests: Arc::clone(&sem),
                max_requests: 10,
                open_connections: Arc::new(AtomicUsize::new(2)),
            },
            None,
        );
        m.accept_failed();
        m.observe(
            RequestLabels {
                tenant: "acme".into(),
                format: "openai_chat",
                destination: "openai".into(),
                jurisdiction: "US".into(),
                outcome: "complete",
                status: 200,
            },
            Duration::from_millis(3),
            [("KR_RRN", 2u64), ("EMAIL", 1)].into_iter(),
        );
        let text = m.encode();
        assert!(text.contains(
            "haetae_requests_total{tenant=\"acme\",format=\"openai_chat\",destination=\"openai\",jurisdiction=\"US\",outcome=\"complete\",status=\"200\"} 1"
        ), "{text}");
        assert!(text.contains("haetae_findings_total{entity=\"KR_RRN\",destination=\"openai\",jurisdiction=\"US\"} 2"), "{text}");
        assert!(text.contains("haetae_request_duration_seconds_count{format=\"openai_chat\",destination=\"openai\"} 1"), "{text}");
        assert!(text.contains("haetae_in_flight_requests 3"), "{text}");
        assert!(text.contains("haetae_open_connections 2"), "{text}");
        assert!(text.contains("haetae_accept_errors_total 1"), "{text}");
        assert!(text.contains("haetae_audit_enabled 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
