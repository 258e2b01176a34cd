//! Client authentication: a gateway key (never a provider key) → tenant.
//!
//! Clients present the key the way their SDK sends an API key: `Authorization: Bearer` (OpenAI), `x-api-key`
//! (Anthropic), `x-goog-api-key` or `?key=` (Gemini). Keys are compared as SHA-256 hashes; the config holds hashes only.
//!
//! Must never: log or forward a presented key, or accept a request when keys are configured and none matches.

use std::collections::HashMap;

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::TenantSettings;

/// Tenant used when no gateway keys are configured (authentication disabled).
pub const ANONYMOUS: &str = "anonymous";

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No key was presented.
    #[error("missing gateway key: send it as your SDK's API key")]
    Missing,
    /// The presented key matches no tenant.
    #[error("invalid gateway key")]
    Invalid,
}

/// Key hashes → tenant names.
#[derive(Debug, Default)]
pub struct Tenants {
    by_hash: HashMap<[u8; 32], String>,
}

/// SHA-256 of a presented key or token: the only form in which keys are compared or stored.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Lower-case hex SHA-256 of a gateway key, as stored in `tenants[].key_sha256`.
pub fn key_hash_hex(key: &str) -> String {
    hex::encode(key_digest(key))
}

/// A stored hex digest (`tenants[].key_sha256`, `audit.auditor_token_sha256`) as bytes; `None` if malformed.
pub fn parse_key_hash(h: &str) -> Option<[u8; 32]> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(h, &mut raw).ok().map(|()| raw)
}

/// Parse validated hex token hashes (`server.admin_token_sha256`, `audit.auditor_token_sha256`); malformed ones
/// (config validation refuses them) are skipped, so they can never match.
pub fn token_hashes(hex: &[String]) -> Vec<[u8; 32]> {
    hex.iter().filter_map(|h| parse_key_hash(h)).collect()
}

/// Whether `headers` carry `Authorization: Bearer <token>` whose SHA-256 is one of `hashes`.
pub fn bearer_matches(headers: &HeaderMap, hashes: &[[u8; 32]]) -> bool {
    bearer_token(headers).is_some_and(|token| {
        let digest = key_digest(token);
        hashes.iter().any(|h| h == &digest)
    })
}

/// The token of an `Authorization: Bearer <token>` header; the scheme name is case-insensitive (RFC 9110, 11.1).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl Tenants {
    /// Build from validated settings (hash strings are already checked to be 64 hex chars).
    pub fn new(tenants: &[TenantSettings]) -> Self {
        let mut by_hash = HashMap::new();
        for t in tenants {
            for raw in t.key_sha256.iter().filter_map(|h| parse_key_hash(h)) {
                by_hash.insert(raw, t.name.clone());
            }
        }
        Self { by_hash }
    }

    /// Whether any gateway key is configured.
    pub fn enabled(&self) -> bool {
        !self.by_hash.is_empty()
    }

    /// Number of tenants.
    pub fn count(&self) -> usize {
        let mut names: Vec<&String> = self.by_hash.values().collect();
        names.sort();
        names.dedup();
        names.len()
    }

    /// Whether `candidate` is a configured gateway key (of any tenant), compared by hash. Used to keep keys out of
    /// what is forwarded ([`super::query`]); the empty string is never a key.
    pub fn is_gateway_key(&self, candidate: &str) -> bool {
        !candidate.is_empty() && self.by_hash.contains_key(&key_digest(candidate))
    }

    /// Identify the tenant of a request.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        query_key: Option<&str>,
    ) -> Result<&str, AuthError> {
        if !self.enabled() {
            return Ok(ANONYMOUS);
        }
        // An empty key is no key, whichever header or parameter carries it.
        let key = presented_key(headers, query_key)
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::Missing)?;
        self.by_hash
            .get(&key_digest(key))
            .map(String::as_str)
            .ok_or(AuthError::Invalid)
    }
}

/// The key a client presented, from whichever header its SDK uses, else the query's `key=` parameter
/// ([`super::query::Query::key`], how Gemini clients send it).
fn presented_key<'a>(headers: &'a HeaderMap, query_key: Option<&'a str>) -> Option<&'a str> {
    if let Some(token) = bearer_token(headers) {
        return Some(token);
    }
    for name in ["x-api-key", "x-goog-api-key"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return Some(v.trim());
        }
    }
    query_key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants() -> Tenants {
        Tenants::new(&[TenantSettings {
            name: "acme".into(),
            key_sha256: vec![key_hash_hex("gw-acme-1")],
        }])
    }

    #[test]
    fn every_sdk_style_is_accepted() {
        let t = tenants();
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer gw-acme-1".parse().unwrap());
        assert_eq!(t.authenticate(&h, None), Ok("acme"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "gw-acme-1".parse().unwrap());
        assert_eq!(t.authenticate(&h, None), Ok("acme"));
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", "gw-acme-1".parse().unwrap());
        assert_eq!(t.authenticate(&h, None), Ok("acme"));
        assert_eq!(
            t.authenticate(&HeaderMap::new(), Some("gw-acme-1")),
            Ok("acme")
        );
    }

    #[test]
    fn gateway_keys_are_recognised_by_hash() {
        let t = tenants();
        assert!(t.is_gateway_key("gw-acme-1"));
        assert!(!t.is_gateway_key("gw-acme-2"));
        assert!(!t.is_gateway_key(""));
        assert!(!Tenants::default().is_gateway_key("gw-acme-1"));
    }

    #[test]
    fn an_empty_key_is_no_key_on_every_carrier() {
        // Even if the hash of the empty string were configured (the config refuses it), nobody gets in without a key.
        let t = Tenants::new(&[TenantSettings {
            name: "ops".into(),
            key_sha256: vec![key_hash_hex("")],
        }]);
        for name in ["x-api-key", "x-goog-api-key", "authorization"] {
            let mut h = HeaderMap::new();
            h.insert(name, "".parse().unwrap());
            assert_eq!(t.authenticate(&h, None), Err(AuthError::Missing), "{name}");
        }
        assert_eq!(
            t.authenticate(&HeaderMap::new(), Some("")),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn missing_and_wrong_keys_are_refused() {
        let t = tenants();
        assert_eq!(
            t.authenticate(&HeaderMap::new(), None),
            Err(AuthError::Missing)
        );
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer nope".parse().unwrap());
        assert_eq!(t.authenticate(&h, None), Err(AuthError::Invalid));
    }

    #[test]
    fn bearer_tokens_match_by_digest_with_any_scheme_case() {
        let hashes = token_hashes(&[key_hash_hex("scrape-token")]);
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert("authorization", value.parse().unwrap());
            bearer_matches(&h, &hashes)
        };
        for ok in [
            "Bearer scrape-token",
            "bearer scrape-token",
            "BEARER  scrape-token ",
        ] {
            assert!(with(ok), "{ok}");
        }
        for bad in [
            "Bearer other",
            "Basic scrape-token",
            "Bearerscrape-token",
            "scrape-token",
        ] {
            assert!(!with(bad), "{bad}");
        }
        assert!(!bearer_matches(&HeaderMap::new(), &hashes));
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer scrape-token".parse().unwrap());
        assert!(
            !bearer_matches(&h, &[]),
            "no configured hash matches nothing"
        );
    }

    #[test]
    fn disabled_when_no_keys() {
        assert_eq!(
            Tenants::default().authenticate(&HeaderMap::new(), None),
            Ok(ANONYMOUS)
        );
    }
}
