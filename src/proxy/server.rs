//! Listeners: traffic (HTTP/1.1 + HTTP/2, h2c or ALPN over rustls) and admin, connection limits, idle connections,
//! graceful shutdown.
//!
//! Every traffic connection is supervised by [`supervise`]: a connection that brings no request within
//! `timeouts.client_header_ms` is dropped, one with no request in flight for `timeouts.client_idle_ms` is shut down
//! gracefully (HTTP/2: GOAWAY, so a request racing the close is refused in a way clients retry), and on SIGTERM every
//! connection is shut down gracefully and drained.
//!
//! Must never: serve traffic on the admin listener, close a connection that has a request in flight (its response
//! body included) except at the end of the shutdown grace period, or stop before in-flight streams drain or the grace
//! period ends.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::metrics::ConnectionClosed;
use super::{ProxyError, Shared};
use crate::config::{Settings, TlsSettings};

/// Build the rustls acceptor for the traffic listeners (ALPN: h2, http/1.1).
pub fn tls_acceptor(tls: &TlsSettings) -> Result<TlsAcceptor, ProxyError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| ProxyError::Tls(format!("server.tls.cert {}: {e}", tls.cert.display())))?;
    if certs.is_empty() {
        return Err(ProxyError::Tls(format!(
            "server.tls.cert {}: no certificate found",
            tls.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| ProxyError::Tls(format!("server.tls.key {}: {e}", tls.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ProxyError::Tls(format!("server.tls: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What the HTTP layer itself accepts as a request head: twice `limits.max_header_bytes` (see [`http_builder`]).
fn head_allowance(settings: &Settings) -> usize {
    settings.limits.max_header_bytes.max(8192).saturating_mul(2)
}

/// The HTTP connection builder shared by all traffic connections.
fn http_builder(settings: &Settings) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let header_timeout = Duration::from_millis(settings.timeouts.client_header_ms);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // Twice the configured head limit: heads between the two reach the handler, which refuses them with a 431 in
        // the API's JSON shape (`GatewayError::HeadersTooLarge`); only heads past twice the limit get hyper's bare
        // 431 (or, over HTTP/2, a reset) before any of it is parsed.
        .max_buf_size(head_allowance(settings))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(head_allowance(settings)).unwrap_or(u32::MAX))
        .keep_alive_interval(Duration::from_secs(30))
        .max_concurrent_streams(256);
    builder
}

/// How long connections get to write the error events of responses cut at the end of the grace period.
const CUT_FLUSH: Duration = Duration::from_secs(1);

/// Accept traffic connections until `stop` flips, then drain them up to the grace period (plus [`CUT_FLUSH`]).
pub async fn serve_traffic(
    listeners: Vec<TcpListener>,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let builder = Arc::new(http_builder(&shared.settings));
    let first_request_timeout = Duration::from_millis(shared.settings.timeouts.client_header_ms);
    let idle_timeout = Duration::from_millis(shared.settings.timeouts.client_idle_ms);
    // Flipped once to start every connection's graceful shutdown; `open_rx` ends when the last connection task has.
    let (drain_tx, drain_rx) = watch::channel(false);
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::channel(64);
    let mut accept_tasks = Vec::new();
    for listener in listeners {
        let tx = accepted_tx.clone();
        let shared = Arc::clone(&shared);
        accept_tasks.push(tokio::spawn(async move {
            loop {
                let Ok(permit) = Arc::clone(&shared.connections).acquire_owned().await else {
                    return;
                };
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        if tx.send((stream, peer, permit)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        shared.metrics.accept_failed();
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    drop(accepted_tx);

    loop {
        tokio::select! {
            _ = stop.changed() => break,
            next = accepted_rx.recv() => {
                let Some((stream, peer, permit)) = next else { break };
                let shared = Arc::clone(&shared);
                let builder = Arc::clone(&builder);
                let drain = drain_rx.clone();
                let open = open_tx.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    // The first request must arrive by then: TLS handshake, HTTP/2 preface and request head included.
                    let deadline = Instant::now() + first_request_timeout;
                    let activity = Arc::new(Activity::new());
                    let tracker = Arc::clone(&activity);
                    let gateway = Arc::clone(&shared);
                    let _open = OpenConnection::new(&gateway.open_connections);
                    let service = service_fn(move |req: Request<Incoming>| {
                        // In flight from here until hyper drops the response body (or this future, if the client
                        // leaves first).
                        let in_flight = InFlight::begin(&tracker);
                        let shared = Arc::clone(&shared);
                        async move {
                            let resp = super::handler::handle(shared, req, peer).await;
                            Ok::<_, Infallible>(resp.map(|body| Tracked { body, _in_flight: in_flight }))
                        }
                    });
                    let io: Box<dyn ClientIo> = match tls {
                        None => Box::new(stream),
                        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                            Ok(Ok(tls_stream)) => Box::new(tls_stream),
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                gateway.metrics.connection_closed(ConnectionClosed::TlsFailed);
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                gateway.metrics.connection_closed(ConnectionClosed::NoRequest);
                                return;
                            }
                        },
                    };
                    let conn = builder.serve_connection(TokioIo::new(io), service).into_owned();
                    let limits = Limits { first_request_by: deadline, idle: idle_timeout };
                    if let Some(why) = supervise(conn, limits, &activity, drain, peer).await {
                        gateway.metrics.connection_closed(why);
                    }
                    drop(permit);
                    drop(open);
                });
            }
        }
    }
    for task in accept_tasks {
        task.abort();
    }
    let grace = Duration::from_millis(shared.settings.timeouts.shutdown_grace_ms);
    let open = shared.open_connections.load(Ordering::Relaxed);
    tracing::info!(
        open_connections = open,
        grace_ms = grace.as_millis() as u64,
        "draining"
    );
    let _ = drain_tx.send(true);
    drop(open_tx);
    let drain = async move {
        let _ = open_rx.recv().await;
    };
    tokio::pin!(drain);
    if tokio::time::timeout(grace, &mut drain).await.is_err() {
        // Responses still streaming end with an error event in their API's shape (SDKs raise it; the log and the
        // residency record say `shutdown`), then their connections close. Up to a second to write those events.
        tracing::warn!(
            "grace period ended with responses still streaming; ending them with an error event"
        );
        shared.cut_streams.notify_waiters();
        if tokio::time::timeout(CUT_FLUSH, &mut drain).await.is_err() {
            tracing::warn!("connections still open after the shutdown error events; closing them");
        }
    }
}

/// A client connection's byte stream: TCP, or TLS over TCP. Boxed, so one code path serves both (a virtual call
/// per read or write, next to a system call).
trait ClientIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> ClientIo for T {}

/// One open traffic connection in [`Shared::open_connections`], from its accept until its task ends.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(open))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's request accounting: how many requests it has brought, how many are in flight (a request is in
/// flight from the service call until hyper drops its response body), and since when it has been idle.
struct Activity {
    start: Instant,
    requests: AtomicU64,
    in_flight: AtomicUsize,
    /// Milliseconds after `start` at which the last request in flight ended.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            requests: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    /// When the connection, idle now, has been idle for `idle`; `None` while a request is in flight.
    fn idle_until(&self, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.start + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        Some(since + idle)
    }
}

/// One request in flight on a connection; dropping it ends the request.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.requests.fetch_add(1, Ordering::Relaxed);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Stored before the count drops, so a supervisor that sees no request in flight sees this end too.
        self.0.idle_since_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until hyper drops it (finished, failed, or reset by the client).
struct Tracked<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's deadlines (see [`supervise`]).
struct Limits {
    /// The first request must have reached the service by then.
    first_request_by: Instant,
    /// `timeouts.client_idle_ms`.
    idle: Duration,
}

/// The auto (HTTP/1.1 or HTTP/2) connection type of the traffic listener.
type TrafficConn<S> = auto::Connection<'static, TokioIo<Box<dyn ClientIo>>, S, TokioExecutor>;

/// Run a connection until it ends, and end it early in three cases:
/// - no request has reached the service by `limits.first_request_by`: the connection is dropped. hyper's own head
///   timeout starts only once a request's first byte is read, and HTTP/2 has none, so without this a connection
///   that never sends a byte (or only the TLS handshake, or only the HTTP/2 preface) would hold one of
///   `limits.max_connections` for ever. Nothing is in flight on it, so dropping it loses nothing.
/// - no request has been in flight for `limits.idle`: graceful shutdown (HTTP/2 sends GOAWAY and lets a request that
///   raced it finish or be refused as retryable; HTTP/1.1 closes between requests). An HTTP/2 client answers pings,
///   so hyper's keep-alive alone would keep an idle one open for ever.
/// - `drain` flips (SIGTERM): graceful shutdown, then the connection runs until its streams end.
///
/// Returns which of the first two closed it, if one did (for `haetae_connections_closed_total`).
async fn supervise<S, B>(
    conn: TrafficConn<S>,
    limits: Limits,
    activity: &Activity,
    mut drain: watch::Receiver<bool>,
    peer: SocketAddr,
) -> Option<ConnectionClosed>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    TokioExecutor: hyper_util::server::conn::auto::HttpServerConnExec<S::Future, B>,
{
    let mut conn = std::pin::pin!(conn);
    let mut check = limits.first_request_by.min(Instant::now() + limits.idle);
    let mut closing = None;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return closing.flatten(),
            _ = drain.changed(), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(None);
            }
            () = tokio::time::sleep_until(check), if closing.is_none() => {
                let now = Instant::now();
                if activity.requests.load(Ordering::Relaxed) == 0 {
                    if now >= limits.first_request_by {
                        tracing::debug!(%peer, "connection closed: no request within timeouts.client_header_ms");
                        return Some(ConnectionClosed::NoRequest);
                    }
                    check = limits.first_request_by.min(now + limits.idle);
                    continue;
                }
                match activity.idle_until(limits.idle) {
                    None => check = now + limits.idle,
                    Some(until) if until > now => check = until,
                    Some(_) => {
                        tracing::debug!(%peer, "connection closed: idle for timeouts.client_idle_ms");
                        conn.as_mut().graceful_shutdown();
                        closing = Some(Some(ConnectionClosed::Idle));
                    }
                }
            }
        }
    }
}

/// Accept plain-HTTP connections on a side listener (admin, auditor) and answer each request with `handler`,
/// until `stop` flips.
pub async fn serve_side<F, Fut, B>(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    handler: F,
) where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let handler = handler.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let response = handler(req);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                tokio::spawn(builder.serve_connection(TokioIo::new(stream), service).into_owned());
            }
        }
    }
}

/// Serve `/healthz`, `/readyz` and `/metrics` on the admin listener until `stop` flips. With
/// `server.admin_token_sha256` set, `/metrics` answers only a matching bearer token.
pub async fn serve_admin(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let tokens: Arc<[[u8; 32]]> =
        super::auth::token_hashes(&shared.settings.server.admin_token_sha256).into();
    serve_side(listener, stop, move |req| {
        let shared = Arc::clone(&shared);
        let tokens = Arc::clone(&tokens);
        async move { admin_response(&shared, &tokens, &req) }
    })
    .await;
}

fn admin_response(
    shared: &Shared,
    tokens: &[[u8; 32]],
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: String| {
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    };
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, r#"{"status":"ok"}"#.into()),
        "/metrics" if !tokens.is_empty() && !super::auth::bearer_matches(req.headers(), tokens) => {
            let mut resp = text(
                StatusCode::UNAUTHORIZED,
                r#"{"error":"missing or invalid admin token (server.admin_token_sha256)"}"#.into(),
            );
            resp.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            resp
        }
        "/metrics" => {
            let mut resp = text(StatusCode::OK, shared.metrics.encode());
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(super::metrics::CONTENT_TYPE),
            );
            resp
        }
        "/readyz" => {
            let audit = shared.residency.as_ref().map(|r| r.log.health());
            let audit_ok = audit.as_ref().is_none_or(|h| h.failure.is_none());
            let ready = shared.ready.load(Ordering::Acquire) && audit_ok;
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let status_text = if ready {
                "ready"
            } else if shared.draining.load(Ordering::Acquire) {
                "draining"
            } else {
                "not_ready"
            };
            let body = serde_json::json!({
                "status": status_text,
                "in_flight_requests": shared.in_flight(),
                "audit": audit.map(|h| serde_json::json!({
                    "ok": h.failure.is_none(),
                    "failure": h.failure,
                    "degraded": h.degraded,
                    "size": h.size,
                    "checkpoint_size": h.checkpoint_size,
                    "shard": h.shard,
                })),
            });
            text(status, body.to_string())
        }
        _ => text(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.into()),
    }
}

/// Bind every traffic listener and the admin listener.
pub async fn bind_all(settings: &Settings) -> Result<(Vec<TcpListener>, TcpListener), ProxyError> {
    let mut listeners = Vec::new();
    for addr in &settings.server.listen {
        listeners.push(bind(addr, "server.listen").await?);
    }
    let admin = bind(&settings.server.admin_listen, "server.admin_listen").await?;
    Ok((listeners, admin))
}

/// Bind one listener; errors name the config key.
pub async fn bind(addr: &str, key: &'static str) -> Result<TcpListener, ProxyError> {
    let parsed: SocketAddr = addr.parse().map_err(|_| ProxyError::Bind {
        key,
        addr: addr.to_owned(),
        reason: "not an address".into(),
    })?;
    TcpListener::bind(parsed)
        .await
        .map_err(|e| ProxyError::Bind {
            key,
            addr: addr.to_owned(),
            reason: e.to_string(),
        })
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
