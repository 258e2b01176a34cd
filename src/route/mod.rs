//! Destinations and routing: which upstream serves a request, under which jurisdiction, with which credentials and
//! which model name.
//!
//! Built once from [`Settings`] at start-up (credentials are read from the environment then, never at request time)
//! into an immutable [`RouteTable`]. Today routing is by API family plus model-name routes; the policy engine will
//! later choose among the same [`Destination`]s by data class and jurisdiction.
//!
//! Must never: fall back to a destination the route did not name (no silent cross-jurisdiction fallback), or expose a
//! credential in `Debug` output, logs or errors.

pub mod affinity;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use http::Uri;

use crate::config::{DestinationFormat, Settings};

/// Errors from building routes or routing a request.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A destination's base URL cannot be combined with the request path.
    #[error("destination `{destination}`: cannot build upstream URL: {reason}")]
    BadUrl {
        /// Destination name.
        destination: String,
        /// Why.
        reason: String,
    },
    /// The destination needs a credential that was not in the environment at start-up.
    #[error("destination `{destination}` has no credentials: environment variable {env} was not set when the gateway started")]
    MissingCredential {
        /// Destination name.
        destination: String,
        /// The environment variable name (never its value).
        env: String,
    },
    /// A credential from the environment is not a valid header value.
    #[error("destination `{destination}`: the value of {env} is not a valid HTTP header value")]
    BadCredential {
        /// Destination name.
        destination: String,
        /// The environment variable name.
        env: String,
    },
    /// The route names a destination that speaks another wire format, and translation is not available.
    #[error("model `{model}` is routed to destination `{destination}`, which speaks the {speaks} API; requests in the {requested} format cannot be translated yet")]
    FormatMismatch {
        /// Requested model.
        model: String,
        /// Destination name.
        destination: String,
        /// Destination's format.
        speaks: &'static str,
        /// Request's format.
        requested: &'static str,
    },
    /// A routing entry names a destination that does not exist (validation normally catches this first).
    #[error("routing names unknown destination `{0}`")]
    UnknownDestination(String),
    /// The API family has no default destination (`routing.<family> = ""`) and no model route matched.
    #[error("this gateway forwards no {family}-format requests (routing.{family} is empty){}", match model {
        Some(m) => format!(" and no routing.models entry matches model `{m}`"),
        None => String::new(),
    })]
    NoDestination {
        /// The request's API family.
        family: &'static str,
        /// The requested model as logs show it, when the request named one.
        model: Option<String>,
    },
}

/// How the gateway authenticates to a destination.
#[derive(Clone)]
pub enum Credential {
    /// Send no credential (e.g. an on-prem vLLM without auth).
    None,
    /// Send this header.
    Header(HeaderName, HeaderValue),
    /// A credential is configured but its environment variable was not set at start-up.
    Missing {
        /// The environment variable name.
        env: String,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Header(name, _) => write!(f, "Header({name}: <redacted>)"),
            Self::Missing { env } => write!(f, "Missing({env})"),
        }
    }
}

/// One compiled upstream destination.
#[derive(Debug)]
pub struct Destination {
    /// Unique name.
    pub name: String,
    /// Wire format spoken.
    pub format: DestinationFormat,
    /// `scheme://authority`.
    pub origin: String,
    /// Path prefix of the base URL without trailing `/` (e.g. `/v1`), possibly empty.
    pub base_path: String,
    /// Upstream host (for logs and the residency record).
    pub host: String,
    /// ISO country code.
    pub jurisdiction: String,
    /// Region label.
    pub region: Option<String>,
    /// Credential to inject.
    pub credential: Credential,
    /// Name of the credential's environment variable, if any.
    pub api_key_env: Option<String>,
    /// Extra CA bundle.
    pub ca_bundle: Option<PathBuf>,
    /// Requested → served model names.
    pub model_map: BTreeMap<String, String>,
    /// Transfer basis for the residency record.
    pub transfer_basis: Option<String>,
    /// h2c prior knowledge for http:// destinations.
    pub http2_prior_knowledge: bool,
    /// Whether the origin uses TLS.
    pub tls: bool,
}

/// The path prefix the official SDKs of a family put before endpoint paths, which a destination's base URL replaces.
fn sdk_prefix(format: DestinationFormat) -> &'static str {
    match format {
        DestinationFormat::Openai => "/v1",
        DestinationFormat::Anthropic | DestinationFormat::Gemini => "",
    }
}

impl Destination {
    /// Build the upstream URI for a client request path, e.g. `/v1/chat/completions`, and the query to forward.
    ///
    /// The client's SDK prefix (`/v1` for OpenAI-format) is replaced by the destination's base path. `query` is
    /// appended as given: the caller hands over what may be forwarded, already cleared of credentials and gateway
    /// keys (the proxy's query sanitiser); an empty query adds nothing.
    pub fn upstream_uri(&self, path: &str, query: Option<&str>) -> Result<Uri, RouteError> {
        let prefix = sdk_prefix(self.format);
        let rest = path
            .strip_prefix(prefix)
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .unwrap_or(path);
        let mut uri = format!("{}{}{}", self.origin, self.base_path, rest);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            uri.push('?');
            uri.push_str(q);
        }
        uri.parse()
            .map_err(|e: http::uri::InvalidUri| RouteError::BadUrl {
                destination: self.name.clone(),
                reason: e.to_string(),
            })
    }

    /// Insert this destination's credential into upstream request headers.
    pub fn apply_credentials(&self, headers: &mut HeaderMap) -> Result<(), RouteError> {
        match &self.credential {
            Credential::None => Ok(()),
            Credential::Header(name, value) => {
                headers.insert(name.clone(), value.clone());
                Ok(())
            }
            Credential::Missing { env } => Err(RouteError::MissingCredential {
                destination: self.name.clone(),
                env: env.clone(),
            }),
        }
    }

    /// The model name to send upstream for a requested model (identity when unmapped).
    pub fn map_model<'a>(&'a self, requested: &'a str) -> &'a str {
        self.model_map
            .get(requested)
            .map_or(requested, String::as_str)
    }
}

/// The result of routing one request.
#[derive(Debug, Clone)]
pub struct Route {
    /// Where it goes.
    pub destination: Arc<Destination>,
    /// Model name to send upstream when it differs from the requested one.
    pub served_model: Option<String>,
    /// Why this destination: `default`, `model:<pattern>` (a configured pattern, never the client's model name) or
    /// `stored-response`. Shared, so routing a request allocates nothing for it.
    pub reason: Arc<str>,
}

/// Immutable routing table built from settings.
#[derive(Debug)]
pub struct RouteTable {
    destinations: Vec<Arc<Destination>>,
    /// Per API family, the destination serving requests no model route claims; `None`: that family is not served.
    defaults: [Option<usize>; 3],
    /// (pattern, destination index, the reason `model:<pattern>` its routes carry).
    model_routes: Vec<(String, usize, Arc<str>)>,
    /// The reasons that name no pattern.
    default_reason: Arc<str>,
    stored_reason: Arc<str>,
}

fn family_index(format: DestinationFormat) -> usize {
    match format {
        DestinationFormat::Openai => 0,
        DestinationFormat::Anthropic => 1,
        DestinationFormat::Gemini => 2,
    }
}

impl RouteTable {
    /// Compile destinations and routes. `env` looks up credential environment variables (normally `std::env::var`).
    pub fn build(
        settings: &Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, RouteError> {
        let mut destinations = Vec::with_capacity(settings.destinations.len());
        for d in &settings.destinations {
            let uri: Uri =
                d.base_url
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| RouteError::BadUrl {
                        destination: d.name.clone(),
                        reason: e.to_string(),
                    })?;
            let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
                return Err(RouteError::BadUrl {
                    destination: d.name.clone(),
                    reason: "base_url needs a scheme and a host".into(),
                });
            };
            let credential = match &d.api_key_env {
                None => Credential::None,
                Some(var) => match env(var) {
                    None => Credential::Missing { env: var.clone() },
                    Some(secret) if secret.is_empty() => Credential::Missing { env: var.clone() },
                    Some(secret) => {
                        let (name, value) = match d.format {
                            DestinationFormat::Openai => {
                                (AUTHORIZATION, format!("Bearer {secret}"))
                            }
                            DestinationFormat::Anthropic => {
                                (HeaderName::from_static("x-api-key"), secret)
                            }
                            DestinationFormat::Gemini => {
                                (HeaderName::from_static("x-goog-api-key"), secret)
                            }
                        };
                        let mut value = HeaderValue::try_from(value).map_err(|_| {
                            RouteError::BadCredential {
                                destination: d.name.clone(),
                                env: var.clone(),
                            }
                        })?;
                        value.set_sensitive(true);
                        Credential::Header(name, value)
                    }
                },
            };
            destinations.push(Arc::new(Destination {
                name: d.name.clone(),
                format: d.format,
                origin: format!("{scheme}://{authority}"),
                base_path: uri.path().trim_end_matches('/').to_owned(),
                host: uri.host().unwrap_or_default().to_owned(),
                jurisdiction: d.jurisdiction.clone(),
                region: d.region.clone(),
                credential,
                api_key_env: d.api_key_env.clone(),
                ca_bundle: d.ca_bundle.clone(),
                model_map: d.model_map.clone(),
                transfer_basis: d.transfer_basis.clone(),
                http2_prior_knowledge: d.http2_prior_knowledge,
                tls: scheme == "https",
            }));
        }
        let index_of = |name: &str| {
            destinations
                .iter()
                .position(|d| d.name == name)
                .ok_or_else(|| RouteError::UnknownDestination(name.to_owned()))
        };
        let r = &settings.routing;
        let default_of = |name: &str| {
            if name.is_empty() {
                Ok(None)
            } else {
                index_of(name).map(Some)
            }
        };
        let defaults = [
            default_of(&r.openai)?,
            default_of(&r.anthropic)?,
            default_of(&r.gemini)?,
        ];
        let mut model_routes = Vec::with_capacity(r.models.len());
        for (pattern, name) in &r.models {
            model_routes.push((
                pattern.clone(),
                index_of(name)?,
                Arc::from(format!("model:{pattern}")),
            ));
        }
        // Exact names before prefixes; longer prefixes before shorter ones.
        model_routes.sort_by_key(|(p, _, _)| (p.ends_with('*'), std::cmp::Reverse(p.len())));
        Ok(Self {
            destinations,
            defaults,
            model_routes,
            default_reason: Arc::from("default"),
            stored_reason: Arc::from("stored-response"),
        })
    }

    /// All destinations, in configuration order.
    pub fn destinations(&self) -> &[Arc<Destination>] {
        &self.destinations
    }

    /// The default destination of an API family; `None` when the family is not served (`routing.<family> = ""`).
    pub fn default_for(&self, family: DestinationFormat) -> Option<&Arc<Destination>> {
        self.defaults[family_index(family)].map(|i| &self.destinations[i])
    }

    /// Model-name routes in match order: (pattern, destination name).
    pub fn model_routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.model_routes
            .iter()
            .map(|(p, i, _)| (p.as_str(), self.destinations[*i].name.as_str()))
    }

    /// Route a request about a stored object (an OpenAI stored response) to the destination that holds it, if that
    /// destination still exists and speaks `family`'s API; `None` otherwise (the caller falls back to [`select`]).
    ///
    /// [`select`]: RouteTable::select
    pub fn holder(&self, family: DestinationFormat, destination: &str) -> Option<Route> {
        let d = self
            .destinations
            .iter()
            .find(|d| d.name == destination && d.format == family)?;
        Some(Route {
            destination: Arc::clone(d),
            served_model: None,
            reason: Arc::clone(&self.stored_reason),
        })
    }

    /// Route a request of the given API family for the given requested model.
    pub fn select(
        &self,
        family: DestinationFormat,
        model: Option<&str>,
    ) -> Result<Route, RouteError> {
        let by_model = model.and_then(|m| {
            self.model_routes.iter().find_map(|(pattern, i, reason)| {
                let hit = match pattern.strip_suffix('*') {
                    Some(prefix) => m.starts_with(prefix),
                    None => m == pattern,
                };
                hit.then_some((m, *i, reason))
            })
        });
        let (destination, reason) = match by_model {
            Some((m, i, reason)) => {
                let d = &self.destinations[i];
                if d.format != family {
                    return Err(RouteError::FormatMismatch {
                        model: m.to_owned(),
                        destination: d.name.clone(),
                        speaks: d.format.as_str(),
                        requested: family.as_str(),
                    });
                }
                (Arc::clone(d), Arc::clone(reason))
            }
            None => match self.default_for(family) {
                Some(d) => (Arc::clone(d), Arc::clone(&self.default_reason)),
                None => {
                    return Err(RouteError::NoDestination {
                        family: family.as_str(),
                        model: model.map(str::to_owned),
                    })
                }
            },
        };
        let served_model = model.and_then(|m| destination.model_map.get(m).cloned());
        Ok(Route {
            destination,
            served_model,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(env: &[(&str, &str)]) -> RouteTable {
        let mut s = Settings::default();
        s.routing.models.insert("exaone*".into(), "domestic".into());
        s.routing
            .models
            .insert("claude-kr".into(), "domestic".into());
        s.destinations[3]
            .model_map
            .insert("exaone".into(), "LGAI-EXAONE/EXAONE-3.5".into());
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        RouteTable::build(&s, |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    #[test]
    fn openai_base_path_replaces_sdk_prefix() {
        let t = table(&[]);
        let d = t.default_for(DestinationFormat::Openai).unwrap();
        assert_eq!(
            d.upstream_uri("/v1/chat/completions", None)
                .unwrap()
                .to_string(),
            "https://api.openai.com/v1/chat/completions"
        );
        let dom = &t.destinations()[3];
        assert_eq!(
            dom.upstream_uri("/v1/models", None).unwrap().to_string(),
            "http://127.0.0.1:8000/v1/models"
        );
    }

    #[test]
    fn gemini_paths_keep_their_version_and_the_given_query() {
        let t = table(&[]);
        let g = t.default_for(DestinationFormat::Gemini).unwrap();
        assert_eq!(
            g.upstream_uri(
                "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
                Some("alt=sse")
            )
            .unwrap()
            .to_string(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            g.upstream_uri("/v1beta/models", Some(""))
                .unwrap()
                .to_string(),
            "https://generativelanguage.googleapis.com/v1beta/models"
        );
    }

    #[test]
    fn credentials_per_format_and_missing() {
        let t = table(&[("OPENAI_API_KEY", "sk-test"), ("ANTHROPIC_API_KEY", "ant")]);
        let mut h = HeaderMap::new();
        t.default_for(DestinationFormat::Openai)
            .unwrap()
            .apply_credentials(&mut h)
            .unwrap();
        assert_eq!(h[AUTHORIZATION], "Bearer sk-test");
        assert!(h[AUTHORIZATION].is_sensitive());
        let mut h = HeaderMap::new();
        t.default_for(DestinationFormat::Anthropic)
            .unwrap()
            .apply_credentials(&mut h)
            .unwrap();
        assert_eq!(h["x-api-key"], "ant");
        let err = t
            .default_for(DestinationFormat::Gemini)
            .unwrap()
            .apply_credentials(&mut HeaderMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("GEMINI_API_KEY"), "{err}");
        let dbg = format!("{:?}", t.default_for(DestinationFormat::Openai).unwrap());
        assert!(!dbg.contains("sk-test"), "{dbg}");
    }

    #[test]
    fn model_routes_and_mapping() {
        let t = table(&[]);
        let r = t.select(DestinationFormat::Openai, Some("exaone")).unwrap();
        assert_eq!(r.destination.name, "domestic");
        assert_eq!(r.served_model.as_deref(), Some("LGAI-EXAONE/EXAONE-3.5"));
        assert_eq!(&*r.reason, "model:exaone*");
        let r = t.select(DestinationFormat::Openai, Some("gpt-4o")).unwrap();
        assert_eq!(r.destination.name, "openai");
        assert!(r.served_model.is_none());
        // An Anthropic request routed to an OpenAI-format destination fails closed, never falls back.
        let e = t
            .select(DestinationFormat::Anthropic, Some("claude-kr"))
            .unwrap_err();
        assert!(matches!(e, RouteError::FormatMismatch { .. }));
    }

    #[test]
    fn a_family_without_a_default_is_served_only_by_model_routes() {
        let mut s = Settings::default();
        s.routing.anthropic = String::new();
        s.routing
            .models
            .insert("claude-kr*".into(), "anthropic".into());
        let t = RouteTable::build(&s, |_| None).unwrap();
        assert!(t.default_for(DestinationFormat::Anthropic).is_none());
        let r = t
            .select(DestinationFormat::Anthropic, Some("claude-kr-1"))
            .unwrap();
        assert_eq!(r.destination.name, "anthropic");
        for model in [Some("claude-sonnet-4"), None] {
            let e = t.select(DestinationFormat::Anthropic, model).unwrap_err();
            assert!(
                matches!(
                    e,
                    RouteError::NoDestination {
                        family: "anthropic",
                        ..
                    }
                ),
                "{e}"
            );
            let text = e.to_string();
            assert!(text.contains("routing.anthropic is empty"), "{text}");
            assert_eq!(text.contains("claude-sonnet-4"), model.is_some(), "{text}");
        }
        // The other families are unaffected.
        assert!(t.select(DestinationFormat::Openai, Some("gpt-4o")).is_ok());
    }
}
