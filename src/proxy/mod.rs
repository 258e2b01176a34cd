//! The gateway process: listeners, the per-request pipeline, upstream clients, body limits, graceful shutdown.
//!
//! [`Gateway::bind`] turns validated [`Settings`] into a running-ready gateway (every file, key and address resolved
//! up front); [`Gateway::run`] serves until the shutdown future resolves, then drains, and reloads the policy file
//! on SIGHUP ([`Shared::reload_policy`]; the configuration itself is read once, at start-up). The request pipeline
//! lives in [`handler`], in phase order.
//!
//! Must never: know any API's JSON shape (that is [`crate::api`]'s job), forward a request it could not inspect, or
//! put request content in a log line or error message.

pub mod auditor;
pub mod auth;
pub mod body;
pub mod fdlimit;
pub mod handler;
pub mod metrics;
pub mod query;
pub mod residency;
pub mod server;
pub mod stream;
pub mod upstream;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::config::Settings;
use crate::policy::Snapshot;
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
    /// The policy file could not be loaded or compiled.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// A reload was asked for, but `policy.file` is not set (the built-in default has nothing to re-read).
    #[error(
        "no policy file to reload: policy.file is not set (the built-in default policy is live)"
    )]
    NoPolicyFile,
    /// The task loading the policy ended without a result (panicked or the runtime is shutting down).
    #[error("loading the policy did not complete")]
    ReloadAborted,
    /// The residency log could not be opened.
    #[error(transparent)]
    Residency(#[from] residency::ResidencyError),
    /// Routes could not be built.
    #[error(transparent)]
    Route(#[from] crate::route::RouteError),
    /// The stored-response table's file could not be opened.
    #[error(transparent)]
    Affinity(#[from] crate::route::affinity::AffinityError),
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
    /// Open traffic connection permits (`limits.max_connections`); an accepted connection holds one until it closes,
    /// and each listener holds one while it waits in `accept`, so the permits held are not the open connections.
    pub connections: Arc<Semaphore>,
    /// Traffic connections accepted and not yet closed (`haetae_open_connections`, the drain's log line).
    pub open_connections: Arc<AtomicUsize>,
    /// Whether `/readyz` reports ready.
    pub ready: AtomicBool,
    /// Shutdown was requested: in-flight requests are draining (`/readyz` says so while the admin listener stays up).
    pub draining: AtomicBool,
    /// Counters and histograms served at the admin listener's `/metrics`.
    pub metrics: metrics::Metrics,
    /// The live policy (compiled engine + hash); swapped whole by [`Shared::reload_policy`]. Each request takes
    /// the snapshot live when it arrives and keeps it to the end.
    pub policy: ArcSwap<Snapshot>,
    /// Serialises reloads (two SIGHUPs in a row must not interleave load, record and swap).
    reload_lock: tokio::sync::Mutex<()>,
    /// The residency log, unless `audit.enabled = false`.
    pub residency: Option<residency::Residency>,
    /// Notified when the shutdown grace period ends with responses still streaming: each ends with an error event
    /// in its API's shape ("the gateway is shutting down") and the outcome `shutdown`, instead of a bare cut.
    pub cut_streams: Arc<tokio::sync::Notify>,
    /// Which destination (and tenant) holds each stored OpenAI response created through the gateway
    /// (`limits.tracked_responses`).
    pub response_homes: crate::route::affinity::ResponseHomes,
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

/// What a policy reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The file's rules were already live (same hash): nothing changed.
    Unchanged {
        /// The live hash.
        hash: String,
    },
    /// The new rules are live.
    Swapped {
        /// Hash of the rules replaced.
        previous: String,
        /// Hash of the rules now live.
        current: String,
    },
}

impl Shared {
    /// Load `policy.file` again, compile it off the async workers and, if its hash differs from the live one,
    /// durably record the change in the residency log (`PolicyChange`: old and new hash, `actor`) and swap it in.
    /// Requests that started earlier finish under the old snapshot. Any failure (no file configured, read, parse,
    /// compile, or the record cannot be written) leaves the running policy live and is returned.
    pub async fn reload_policy(self: &Arc<Self>, actor: &str) -> Result<Reload, ProxyError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let outcome = self.reload_policy_inner(actor).await;
        self.metrics.policy_reload(match &outcome {
            Ok(Reload::Swapped { .. }) => metrics::ReloadResult::Swapped,
            Ok(Reload::Unchanged { .. }) => metrics::ReloadResult::Unchanged,
            Err(_) => metrics::ReloadResult::Failed,
        });
        outcome
    }

    async fn reload_policy_inner(self: &Arc<Self>, actor: &str) -> Result<Reload, ProxyError> {
        let path = self
            .settings
            .policy
            .file
            .clone()
            .ok_or(ProxyError::NoPolicyFile)?;
        let snapshot = tokio::task::spawn_blocking(move || crate::policy::load_and_compile(&path))
            .await
            .map_err(|_| ProxyError::ReloadAborted)??;
        let previous = self.policy.load().hash.clone();
        if snapshot.hash == previous {
            return Ok(Reload::Unchanged { hash: previous });
        }
        if let Some(r) = &self.residency {
            r.record_policy(Some(previous.clone()), &snapshot, actor)
                .await?;
        }
        let current = snapshot.hash.clone();
        self.policy.store(Arc::new(snapshot));
        Ok(Reload::Swapped { previous, current })
    }
}

/// The SIGHUP listener, registered when the gateway binds: from then on a SIGHUP is queued for [`reload_on_sighup`]
/// instead of taking its default action, which ends the process (a `systemctl reload` right after the start banner
/// used to land before the reload task had registered it, and stopped the gateway). `None` when it cannot be
/// registered (logged; reload by signal is then unavailable).
#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

fn listen_for_hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::hangup())
            .inspect_err(|e| {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: policy reload by signal is unavailable")
            })
            .ok()
    }
}

/// Reload the policy file on every SIGHUP (the `systemctl reload` convention) for as long as the gateway runs. The
/// outcome is logged with hash prefixes only; a failed reload keeps the running policy.
async fn reload_on_sighup(shared: Arc<Shared>, hangups: Hangups) {
    #[cfg(unix)]
    {
        let Some(mut hup) = hangups else {
            return;
        };
        while hup.recv().await.is_some() {
            if shared.settings.policy.file.is_none() {
                // Not a failed reload (no metric, no ERROR): there is nothing a reload could read.
                tracing::warn!(
                    "SIGHUP: no policy.file is configured, so there is nothing to reload (haetae.toml is read at \
                     start-up only)"
                );
                continue;
            }
            let short = |h: &str| h.get(..12).unwrap_or(h).to_owned();
            match shared.reload_policy("SIGHUP").await {
                Ok(Reload::Swapped { previous, current }) => tracing::info!(
                    previous = %short(&previous),
                    current = %short(&current),
                    policy = %shared.policy.load().describe(),
                    "policy reloaded"
                ),
                Ok(Reload::Unchanged { hash }) => {
                    tracing::info!(current = %short(&hash), "policy reload: file unchanged")
                }
                Err(e) => tracing::error!(
                    error = %e,
                    "policy reload failed; the running policy stays live"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (shared, hangups);
        std::future::pending::<()>().await;
    }
}

/// A bound, not yet running gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
    admin: TcpListener,
    auditor: Option<(TcpListener, Arc<auditor::Auditor>)>,
    tls: Option<TlsAcceptor>,
    hangups: Hangups,
}

/// Everything resolved from settings before anything is bound or opened.
struct Prepared {
    routes: RouteTable,
    clients: HashMap<String, UpstreamClient>,
    tls: Option<TlsAcceptor>,
    policy: Snapshot,
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
        // At start-up nothing else runs yet, so a large dictionary's compile may block here.
        let policy = match &settings.policy.file {
            Some(path) => crate::policy::load_and_compile(path)?,
            None => Snapshot::builtin()?,
        };
        Ok(Self {
            routes,
            clients,
            tls,
            policy,
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
    /// The live (or, for `--check`, loadable) policy, as [`Snapshot::describe`] says it.
    policy: String,
    /// `None`: `audit.enabled = false`.
    residency: Option<ResidencySummary>,
    tenants: usize,
    /// The open-files limit cannot serve `limits.max_connections` (see [`fdlimit::warning`]).
    fd_warning: Option<String>,
}

/// What `haetae serve --check` found: the start-up summary, and what `--strict` refuses.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The start-up summary with the configured (not bound) addresses.
    pub summary: String,
    /// Destinations whose credential variable is not set, as `name ($VAR)`: the gateway starts, but requests to
    /// them fail with 502.
    pub unset_credentials: Vec<String>,
    /// The open-files limit (after raising the soft limit to the hard one, as `serve` does) cannot serve
    /// `limits.max_connections`.
    pub fd_warning: Option<String>,
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
        Self::check_report(settings, env).map(|r| r.summary)
    }

    /// [`Gateway::check`], also listing what `serve --check --strict` refuses (unset credentials) and the
    /// open-files warning, judged against the hard limit (`serve` raises the soft limit to it at start).
    pub fn check_report(
        settings: &Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<CheckReport, ProxyError> {
        let prepared = Prepared::new(settings, &env)?;
        let fd_warning = fdlimit::current_warning(settings.limits.max_connections, |l| l.hard);
        let unset_credentials = prepared
            .routes
            .destinations()
            .iter()
            .filter_map(|d| match &d.credential {
                Credential::Missing { env } => Some(format!("{} (${env})", d.name)),
                _ => None,
            })
            .collect();
        let residency = residency::Residency::check(settings, &env)?.map(|r| ResidencySummary {
            dir: settings.audit.dir.display().to_string(),
            origin: settings.audit.origin.clone(),
            durability: r.durability.as_str(),
            public_key: r.public_key,
        });
        if settings.limits.tracked_responses > 0 {
            residency::probe_writable(
                "routing.stored_responses_file",
                &settings.stored_responses_file(),
                false,
            )?;
        }
        let summary = Summary {
            settings,
            routes: &prepared.routes,
            tls: prepared.tls.is_some(),
            traffic: settings.server.listen.clone(),
            admin: Some(settings.server.admin_listen.clone()),
            policy: prepared.policy.describe(),
            residency,
            tenants: Tenants::new(&settings.tenants).count(),
            fd_warning: fd_warning.clone(),
        }
        .render();
        Ok(CheckReport {
            summary,
            unset_credentials,
            fd_warning,
        })
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
            policy,
        } = Prepared::new(&settings, &env)?;
        let (listeners, admin) = server::bind_all(&settings).await?;
        let residency = residency::Residency::open(&settings, &env).await?;
        // A policy file's rules are recorded as installed (the built-in default is identified by the `policy_hash`
        // of every request record and by the start-up configuration record).
        if let (Some(r), Some(_)) = (&residency, &settings.policy.file) {
            r.record_policy(None, &policy, "startup").await?;
        }
        let auditor = match (&settings.audit.auditor_listen, &residency) {
            (Some(addr), Some(r)) => {
                let listener = server::bind(addr, "audit.auditor_listen").await?;
                let api = auditor::Auditor::new(
                    settings.audit.dir.clone(),
                    r.log.verifier().clone(),
                    &settings.audit.auditor_token_sha256,
                    settings.audit.retention_days,
                );
                Some((listener, Arc::new(api)))
            }
            _ => None,
        };
        let requests = Arc::new(Semaphore::new(settings.limits.max_concurrent_requests));
        let connections = Arc::new(Semaphore::new(settings.limits.max_connections));
        let open_connections = Arc::new(AtomicUsize::new(0));
        let metrics = metrics::Metrics::new(
            metrics::Limiters {
                requests: Arc::clone(&requests),
                max_requests: settings.limits.max_concurrent_requests,
                open_connections: Arc::clone(&open_connections),
            },
            residency.as_ref().map(|r| Arc::clone(&r.log)),
        );
        let response_homes = crate::route::affinity::ResponseHomes::open(
            settings.limits.tracked_responses,
            &settings.stored_responses_file(),
        )?;
        let shared = Arc::new(Shared {
            response_homes,
            tenants: Tenants::new(&settings.tenants),
            requests,
            connections,
            open_connections,
            metrics,
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            policy: ArcSwap::from_pointee(policy),
            reload_lock: tokio::sync::Mutex::new(()),
            residency,
            routes,
            clients,
            settings,
            cut_streams: Arc::new(tokio::sync::Notify::new()),
        });
        Ok(Self {
            shared,
            listeners,
            admin,
            auditor,
            tls,
            hangups: listen_for_hangups(),
        })
    }

    /// Addresses the traffic listeners are bound to.
    pub fn traffic_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The state every request shares: for reloading the policy ([`Shared::reload_policy`]) from outside a signal.
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.local_addr().ok()
    }

    /// Address of the auditor listener, when configured.
    pub fn auditor_addr(&self) -> Option<SocketAddr> {
        self.auditor.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The open-files warning for the limit in force now (see [`fdlimit::warning`]; `serve` raised the soft limit
    /// to the hard one before binding).
    pub fn fd_warning(&self) -> Option<String> {
        fdlimit::current_warning(self.shared.settings.limits.max_connections, |l| l.soft)
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
            policy: shared.policy.load().describe(),
            residency: shared.residency.as_ref().map(|r| ResidencySummary {
                dir: shared.settings.audit.dir.display().to_string(),
                origin: r.log.origin().to_owned(),
                durability: r.durability.as_str(),
                public_key: Some(r.public_key.clone()),
            }),
            tenants: shared.tenants.count(),
            fd_warning: self.fd_warning(),
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
        // The admin listener outlives the drain: probes get a 503 "draining" answer instead of a refused connection.
        let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
        let admin = tokio::spawn(server::serve_admin(
            self.admin,
            Arc::clone(&self.shared),
            admin_stop_rx,
        ));
        let reloads = tokio::spawn(reload_on_sighup(Arc::clone(&self.shared), self.hangups));
        self.shared.ready.store(true, Ordering::Release);
        shutdown.await;
        reloads.abort();
        tracing::info!("shutdown requested");
        self.shared.ready.store(false, Ordering::Release);
        self.shared.draining.store(true, Ordering::Release);
        let _ = stop_tx.send(true);
        let _ = traffic.await;
        let _ = admin_stop_tx.send(true);
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
            let metrics = if !s.server.admin_token_sha256.is_empty() {
                "/metrics with a bearer token"
            } else if admin
                .parse::<SocketAddr>()
                .is_ok_and(|a| a.ip().is_loopback())
            {
                "/metrics"
            } else {
                "/metrics OPEN to anyone who reaches this address: set server.admin_token_sha256"
            };
            let _ = writeln!(
                out,
                "  admin         http://{admin}  (/healthz, /readyz, {metrics})"
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
        let dest = |name: &str| {
            if name.is_empty() {
                "none (404)".to_owned()
            } else {
                name.to_owned()
            }
        };
        let _ = writeln!(
            out,
            "  routing       openai-format → {}, anthropic-format → {}, gemini-format → {}",
            dest(&r.openai),
            dest(&r.anthropic),
            dest(&r.gemini)
        );
        for (pattern, dest) in self.routes.model_routes() {
            let _ = writeln!(out, "                model {pattern} → {dest}");
        }
        let _ = writeln!(
            out,
            "  policy        {}\n                findings are counted and reported (x-haetae-findings, access log); forwarding follows the\n                routing table (no enforcement rules yet){}",
            self.policy,
            if s.policy.file.is_some() {
                "; `kill -HUP` reloads the file"
            } else {
                ""
            }
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
                if let Some(addr) = &s.audit.auditor_listen {
                    let _ = writeln!(
                        out,
                        "                auditor listener http://{addr}  (read-only: /shards, tiles, /export)"
                    );
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "  residency log DISABLED (audit.enabled = false): no proof of where data went"
                );
            }
        }
        let auth = if self.tenants > 0 {
            format!(
                "gateway keys required ({} tenant{})",
                self.tenants,
                if self.tenants == 1 { "" } else { "s" }
            )
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
        let _ = write!(out, ", {} connections", s.limits.max_connections);
        for w in self
            .fd_warning
            .iter()
            .cloned()
            .chain(setting_warnings(s, self.tenants))
        {
            let _ = write!(out, "\n  WARNING       {w}");
        }
        out
    }
}

/// Settings that are valid but that an operator should be told about at every start (and by `--check`).
fn setting_warnings(s: &Settings, tenants: usize) -> Vec<String> {
    let mut out = Vec::new();
    if s.limits.tracked_responses == 0 && tenants > 1 {
        out.push(
            "limits.tracked_responses = 0: stored responses (GET/DELETE /v1/responses/{id}) are not tied to the \
             tenant that created them, so one tenant can read or delete another's"
                .to_owned(),
        );
    }
    if s.audit.enabled {
        for (key, file) in [
            ("audit.signing_key_file", &s.audit.signing_key_file),
            ("audit.digest_key_file", &s.audit.digest_key_file),
        ] {
            use std::os::unix::fs::PermissionsExt as _;
            if let Ok(meta) = std::fs::metadata(file) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    out.push(format!(
                        "{key} {} is open to other users (mode {mode:04o}): whoever reads it can forge or \
                         link residency records; chmod 600 it",
                        file.display()
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn loose_key_files_and_untracked_responses_with_tenants_are_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        s.audit.signing_key_file = dir.path().join("signing.key");
        s.audit.digest_key_file = dir.path().join("digest.key");
        // Missing files (created 0600 on the first start) and the defaults: nothing to say.
        assert!(setting_warnings(&s, 2).is_empty());
        std::fs::write(&s.audit.digest_key_file, "k").unwrap();
        let loose = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(&s.audit.digest_key_file, loose).unwrap();
        let w = setting_warnings(&s, 1);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("audit.digest_key_file") && w[0].contains("0644"),
            "{w:?}"
        );
        let tight = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(&s.audit.digest_key_file, tight).unwrap();
        assert!(setting_warnings(&s, 1).is_empty());
        s.limits.tracked_responses = 0;
        assert!(
            setting_warnings(&s, 1).is_empty(),
            "one tenant has nobody to be kept apart from"
        );
        let w = setting_warnings(&s, 2);
        assert!(
            w.len() == 1 && w[0].contains("limits.tracked_responses = 0"),
            "{w:?}"
        );
    }
}
