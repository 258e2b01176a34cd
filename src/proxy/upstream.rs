//! Pooled upstream HTTP clients, one per destination: HTTP/1.1 and HTTP/2 (ALPN over TLS, or h2c prior knowledge),
//! rustls with webpki + platform roots plus an optional per-destination CA bundle, a connect timeout that bounds the
//! TCP connect and the TLS handshake together.
//!
//! Must never: disable certificate verification, or share a client between destinations with different trust roots.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::route::Destination;

/// The client type used for every destination.
pub type UpstreamClient = Client<ConnectTimeout<HttpsConnector<HttpConnector>>, Full<Bytes>>;

/// What a connector fails with (hyper-util's connectors box their errors).
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors building upstream clients.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A CA bundle could not be read or holds no certificate.
    #[error("destination `{destination}`: CA bundle {path}: {reason}")]
    CaBundle {
        /// Destination name.
        destination: String,
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS client configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Connecting (TCP connect plus, for https, the TLS handshake) took longer than allowed.
    #[error("connect and TLS handshake did not complete within {after:?} (timeouts.upstream_connect_ms)")]
    ConnectTimeout {
        /// The configured limit.
        after: Duration,
    },
}

/// A connector that fails with [`UpstreamError::ConnectTimeout`] when the wrapped connector (TCP connect, then the
/// TLS handshake for https) has not produced a connection within `after`. `HttpConnector`'s own connect timeout
/// covers the TCP connect alone, so a server that accepts and then never speaks TLS would otherwise hold the
/// request until `timeouts.upstream_first_byte_ms`.
#[derive(Clone, Debug)]
pub struct ConnectTimeout<C> {
    inner: C,
    after: Duration,
}

impl<C> ConnectTimeout<C> {
    /// Wrap `inner`, bounding each connection attempt to `after`.
    pub fn new(inner: C, after: Duration) -> Self {
        Self { inner, after }
    }
}

impl<C> tower::Service<Uri> for ConnectTimeout<C>
where
    C: tower::Service<Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let after = self.after;
        Box::pin(async move {
            match tokio::time::timeout(after, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(Box::new(UpstreamError::ConnectTimeout { after }) as BoxError),
            }
        })
    }
}

/// Trust roots shared by every destination: Mozilla's (webpki-roots) plus the platform's store when readable.
pub fn base_roots() -> RootCertStore {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A platform certificate rustls cannot parse is skipped; the webpki set remains.
        let _ = roots.add(cert);
    }
    roots
}

/// Build the pooled client for one destination.
pub fn client_for(
    dest: &Destination,
    base_roots: &RootCertStore,
    connect_timeout: Duration,
) -> Result<UpstreamClient, UpstreamError> {
    let mut roots = base_roots.clone();
    if let Some(path) = &dest.ca_bundle {
        let err = |reason: String| UpstreamError::CaBundle {
            destination: dest.name.clone(),
            path: path.display().to_string(),
            reason,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no PEM certificate in file".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    // Per TCP attempt (with several addresses each gets a share); `ConnectTimeout` bounds the whole connect.
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));

    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);

    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .http2_only(dest.http2_prior_knowledge)
        .http2_keep_alive_interval(Duration::from_secs(30));
    Ok(builder.build(ConnectTimeout::new(connector, connect_timeout)))
}
