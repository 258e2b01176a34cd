//! The gateway process: listeners, the per-request pipeline, upstream clients, body limits, graceful shutdown.
//!
//! [`Gateway::bind`] turns validated [`Settings`] into a running-ready gateway (every file, key and address resolved
//! up front); [`Gateway::run`] serves until the shutdown future resolves, then drains. The request pipeline lives in
//! [`handler`], in phase order.
//!
//! Must never: know any API's JSON shape (that is [`crate::api`]'s job), forward a request it could not inspect, or
//! put request content in a log line or error message.

pub mod auditor;
pub mod auth;
pub mod body;
pub mod handler;
pub mod metrics;
pub mod residency;
pub mod server;
pub mod stream;
pub mod upstream;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::config::Settings;
use crate::detect::Engine;
use crate::route::{Credential, RouteTable};
use auth::Tenants;
use upstream::UpstreamClient;

/// Errors starting the gateway.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A listener could not be bound.
    #[error("{key}: cannot listen on {addr}: {reason}")]
    Bind {
        /// Config key.
        key: &'static str,
        /// Address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// TLS termination could not be configured.
    #[error("TLS: {0}")]
    Tls(String),
    /// The detection engine could not be compiled.
    #[error("detection engine: {0}")]
    Detect(#[from] crate::detect::DetectError),
    /// The residency log could not be opened.
    #[error(transparent)]
    Residency(#[from] residency::ResidencyError),
    /// Routes could not be built.
    #[error(transparent)]
    Route(#[from] crate::route::RouteError),
    /// An upstream client could not be built.
    #[error(transparent)]
    Upstream(#[from] upstream::UpstreamError),
}

/// State shared by every request: immutable configuration and compiled routes, plus counters.
pub struct Shared {
    /// Validated settings.
    pub settings: Settings,
    /// Compiled destinations and routes.
    pub routes: RouteTable,
    /// One pooled client per destination name.
    pub clients: HashMap<String, UpstreamClient>,
    /// Gateway keys → tenants.
    pub tenants: Tenants,
    /// In-flight request permits (`limits.max_concurrent_requests`); a streamed response holds its permit to the end.
    pub requests: Arc<Semaphore>,
    /// Whether `/readyz` reports ready.
    pub ready: AtomicBool,
    /// Counters and histograms served at the admin listener's `/metrics`.
    pub metrics: metrics::Metrics,
    /// The compiled detection engine; swapped whole when its configuration changes (policy reload).
    pub engine: ArcSwap<Engine>,
    /// Hash identifying the rules that decided (today: the builtin detector set).
    pub policy_hash: String,
    /// The residency log, unless `audit.enabled = false`.
    pub residency: Option<residency::Residency>,
}

impl Shared {
    /// Requests currently in flight.
    pub fn in_flight(&self) -> usize {
        in_flight(&self.requests, self.settings.limits.max_concurrent_requests)
    }
}

/// Requests holding a permit of `requests` (created with `max` permits): `/readyz` and `/metrics` both report it.
pub(crate) fn in_flight(requests: &Semaphore, max: usize) -> usize {
    max.saturating_sub(requests.available_permits())
}

/// SHA-256 over the crate version and the builtin detector ids: identifies the rules in force while no policy file
/// is loaded.
fn builtin_policy_hash(engine: &Engine) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(concat!("haetae-builtin/", env!("CARGO_PKG_VERSION")).as_bytes());
    for name in engine.detector_names() {
        h.update(b"\n");
        h.update(name.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A bound, not yet running gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
    admin: TcpListener,
    auditor: Option<(TcpListener, Arc<auditor::Auditor>)>,
    tls: Option<TlsAcceptor>,
}

/// Everything resolved from settings before anything is bound or opened.
struct Prepared {
    routes: RouteTable,
    clients: HashMap<String, UpstreamClient>,
    tls: Option<TlsAcceptor>,
    engine: Engine,
    policy_hash: String,
}

impl Prepared {
    /// Routes and credentials, an upstream client per destination (CA bundles read), the TLS acceptor (cert and
    /// key read), the detection engine.
    fn new(settings: &Settings, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ProxyError> {
        let routes = RouteTable::build(settings, env)?;
        let roots = upstream::base_roots();
        let connect = Duration::from_millis(settings.timeouts.upstream_connect_ms);
        let mut clients = HashMap::new();
        for dest in routes.destinations() {
            clients.insert(
                dest.name.clone(),
                upstream::client_for(dest, &roots, connect)?,
            );
        }
        let tls = settings
            .server
            .tls
            .as_ref()
            .map(server::tls_acceptor)
            .transpose()?;
        let engine = Engine::builtin()?;
        let policy_hash = builtin_policy_hash(&engine);
        Ok(Self {
            routes,
            clients,
            tls,
            engine,
            policy_hash,
        })
    }
}

/// The residency log as the start-up summary describes it.
struct ResidencySummary {
    dir: String,
    origin: String,
    durability: &'static str,
    /// `None`: the signing key does not exist yet and will be created on the first start.
    public_key: Option<String>,
}

/// What the start-up summary describes: a bound gateway, or a configuration checked by `haetae serve --check`.
struct Summary<'a> {
    settings: &'a Settings,
    routes: &'a RouteTable,
    tls: bool,
    /// Traffic listener addresses (bound, or as configured).
    traffic: Vec<String>,
    admin: Option<String>,
    pattern_count: usize,
    /// `None`: `audit.enabled = false`.
    residency: Option<ResidencySummary>,
    tenants: usize,
}

impl Gateway {
    /// Check everything [`Gateway::bind`] resolves — credentials, routes, CA bundles, TLS certificate and key, the
    /// detection engine, the residency log's keys — without binding a listener, creating a key file, or opening,
    /// locking or writing the residency log, so it is safe next to a running gateway. Returns the start-up summary
    /// with the configured (not bound) addresses.
    pub fn check(
        settings: &Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<String, ProxyError> {
        let prepared = Prepared::new(settings, &env)?;
        let residency = residency::Residency::check(settings, &env)?.map(|r| ResidencySummary {
            dir: settings.audit.dir.display().to_string(),
            origin: settings.audit.origin.clone(),
            durability: r.durability.as_str(),
            public_key: r.public_key,
        });
        Ok(Summary {
            settings,
            routes: &prepared.routes,
            tls: prepared.tls.is_some(),
            traffic: settings.server.listen.clone(),
            admin: Some(settings.server.admin_listen.clone()),
            pattern_count: prepared.engine.pattern_count(),
            residency,
            tenants: Tenants::new(&settings.tenants).count(),
        }
        .render())
    }

    /// Resolve everything the gateway needs (credentials from `env`, CA bundles, TLS files) and bind the listeners.
    pub async fn bind(
        settings: Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProxyError> {
        let Prepared {
            routes,
            clients,
            tls,
            engine,
            policy_hash,
        } = Prepared::new(&settings, &env)?;
        let (listeners, admin) = server::bind_all(&settings).await?;
        let residency = residency::Residency::open(&settings, &env).await?;
        let auditor = match (&settings.audit.auditor_listen, &residency) {
            (Some(addr), Some(r)) => {
                let listener = server::bind(addr, "audit.auditor_listen").await?;
                let api = auditor::Auditor::new(
                    settings.audit.dir.clone(),
                    r.log.verifier().clone(),
                    &settings.audit.auditor_token_sha256,
                );
                Some((listener, Arc::new(api)))
            }
            _ => None,
        };
        let requests = Arc::new(Semaphore::new(settings.limits.max_concurrent_requests));
        let metrics = metrics::Metrics::new(
            Arc::clone(&requests),
            settings.limits.max_concurrent_requests,
            residency.as_ref().map(|r| Arc::clone(&r.log)),
        );
        let shared = Arc::new(Shared {
            tenants: Tenants::new(&settings.tenants),
            requests,
            metrics,
            ready: AtomicBool::new(false),
            engine: ArcSwap::from_pointee(engine),
            policy_hash,
            residency,
            routes,
            clients,
            settings,
        });
        Ok(Self {
            shared,
            listeners,
            admin,
            auditor,
            tls,
        })
    }

    /// Addresses the traffic listeners are bound to.
    pub fn traffic_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.local_addr().ok()
    }

    /// Address of the auditor listener, when configured.
    pub fn auditor_addr(&self) -> Option<SocketAddr> {
        self.auditor.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The start-up summary: what it listens on, where it routes, which policy is live. Contains no secrets.
    pub fn banner(&self) -> String {
        let shared = &self.shared;
        Summary {
            settings: &shared.settings,
            routes: &shared.routes,
            tls: self.tls.is_some(),
            traffic: self
                .traffic_addrs()
                .iter()
                .map(ToString::to_string)
                .collect(),
            admin: self.admin_addr().map(|a| a.to_string()),
            pattern_count: shared.engine.load().pattern_count(),
            residency: shared.residency.as_ref().map(|r| ResidencySummary {
                dir: shared.settings.audit.dir.display().to_string(),
                origin: r.log.origin().to_owned(),
                durability: r.durability.as_str(),
                public_key: Some(r.public_key.clone()),
            }),
            tenants: shared.tenants.count(),
        }
        .render()
    }

    /// Serve until `shutdown` resolves, then stop accepting and drain in-flight requests up to the grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let traffic = tokio::spawn(server::serve_traffic(
            self.listeners,
            self.tls,
            Arc::clone(&self.shared),
            stop_rx.clone(),
        ));
        let auditor = self
            .auditor
            .map(|(listener, api)| tokio::spawn(auditor::serve(listener, api, stop_rx.clone())));
        let admin = tokio::spawn(server::serve_admin(
            self.admin,
            Arc::clone(&self.shared),
            stop_rx,
        ));
        self.shared.ready.store(true, Ordering::Release);
        shutdown.await;
        tracing::info!("shutdown requested");
        self.shared.ready.store(false, Ordering::Release);
        let _ = stop_tx.send(true);
        let _ = traffic.await;
        admin.abort();
        if let Some(a) = auditor {
            a.abort();
        }
        tracing::info!("stopped");
    }
}

impl Summary<'_> {
    /// The summary text.
    fn render(&self) -> String {
        let s = self.settings;
        let scheme = if self.tls { "https" } else { "http" };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "haetae {} — data-sovereignty gateway",
            env!("CARGO_PKG_VERSION")
        );
        for addr in &self.traffic {
            let protocols = if self.tls {
                "HTTP/1.1 + HTTP/2 (ALPN)"
            } else {
                "HTTP/1.1 + HTTP/2 (h2c)"
            };
            let _ = writeln!(out, "  listening     {scheme}://{addr}  [{protocols}]");
        }
        if let Some(admin) = &self.admin {
            let _ = writeln!(
                out,
                "  admin         http://{admin}  (/healthz, /readyz, /metrics)"
            );
        }
        if let Some(addr) = self.traffic.first() {
            let _ = writeln!(
                out,
                "  SDK base URLs OpenAI: {scheme}://{addr}/v1   Anthropic: {scheme}://{addr}   Gemini: {scheme}://{addr}"
            );
        }
        let _ = writeln!(out, "  destinations");
        for d in self.routes.destinations() {
            let cred = match &d.credential {
                Credential::None => "no credentials".to_owned(),
                Credential::Header(..) => {
                    format!("key from ${}", d.api_key_env.as_deref().unwrap_or("?"))
                }
                Credential::Missing { env } => format!("${env} NOT SET: requests to it will fail"),
            };
            let _ = writeln!(
                out,
                "    {:<12} {:<9} {}{}  [{}{}]  {}",
                d.name,
                d.format.as_str(),
                d.origin,
                d.base_path,
                d.jurisdiction,
                d.region
                    .as_deref()
                    .map(|r| format!(", {r}"))
                    .unwrap_or_default(),
                cred
            );
        }
        let r = &s.routing;
        let _ = writeln!(
            out,
            "  routing       openai-format → {}, anthropic-format → {}, gemini-format → {}",
            r.openai, r.anthropic, r.gemini
        );
        for (pattern, dest) in self.routes.model_routes() {
            let _ = writeln!(out, "                model {pattern} → {dest}");
        }
        let _ = writeln!(
            out,
            "  policy        built-in default: every builtin detector ({} patterns) scans every request; findings are counted\n                and reported (x-haetae-findings, access log); forwarding follows the routing table (no enforcement rules)",
            self.pattern_count
        );
        match &self.residency {
            Some(r) => {
                let _ = writeln!(
                    out,
                    "  residency log {}  origin {}  durability {}",
                    r.dir, r.origin, r.durability
                );
                let _ = match &r.public_key {
                    Some(key) => writeln!(
                        out,
                        "                verify with: haetae audit verify {} --vkey '{key}'",
                        r.dir
                    ),
                    None => writeln!(
                        out,
                        "                signing key {} will be created on the first start",
                        s.audit.signing_key_file.display()
                    ),
                };
            }
            None => {
                let _ = writeln!(
                    out,
                    "  residency log DISABLED (audit.enabled = false): no proof of where data went"
                );
            }
        }
        let auth = if self.tenants > 0 {
            format!("gateway keys required ({} tenants)", self.tenants)
        } else if s.server.allow_unauthenticated {
            "DISABLED (no tenants configured; server.allow_unauthenticated = true: open to anyone who can reach a listener)".to_owned()
        } else {
            "DISABLED (no tenants configured; loopback listeners only)".to_owned()
        };
        let _ = writeln!(out, "  auth          {auth}");
        let _ = write!(
            out,
            "  limits        body {} B, {} concurrent requests, unknown paths {}",
            s.limits.max_request_body_bytes,
            s.limits.max_concurrent_requests,
            if s.server.allow_unknown_paths {
                "forwarded"
            } else {
                "rejected"
            }
        );
        out
    }
}
