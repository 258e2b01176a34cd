//! The query string of a client request: which parameters go upstream, and which text of it is inspected.
//!
//! A query is client-controlled text, like the body. Parameters are split on `&`; names and values are read the way
//! servers read them, percent-decoded with `+` as a space (and decoded again while a `%` escape is left, so
//! `%256Bey` is read as `key` too). Then:
//!
//! - **dropped**, never forwarded: a parameter named like a credential ([`CREDENTIAL_NAMES`]: `key`, `api_key`,
//!   `api-key`, `apikey`, `access_token`, compared decoded and in any case, so `KEY` and `%6Bey` are `key`), and a
//!   parameter under any name whose decoded value is, or contains as a token, a gateway key (checked against the
//!   configured key hashes, [`super::auth::Tenants::is_gateway_key`]), and one whose decoded *name* does (`?hk-…` with
//!   no `=`, or the key pasted as a name);
//! - **forwarded and inspected**: everything else, Gemini's `alt=sse` as well as parameters the gateway does not know
//!   (none of the supported endpoints needs them, but an upstream may: they are passed on as the client encoded
//!   them). Their decoded names and values are handed to the policy's engine, and the findings count with the
//!   body's (`x-haetae-findings`, access log, residency record).
//!
//! A forwarded parameter that is not UTF-8 text once decoded (as the upstream reads it) cannot be inspected, so the
//! request is refused ([`QueryError::NotText`]).
//!
//! Must never: forward a gateway key, or put a parameter's value (raw or decoded) in a log line, an error message or
//! `Debug` output: only the inspector sees the decoded text.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// Parameter names that carry a credential, compared decoded and ASCII-case-insensitively; never forwarded.
pub const CREDENTIAL_NAMES: &[&str] = &["key", "api_key", "api-key", "apikey", "access_token"];

/// How many times a name or value is percent-decoded at most (`%25` stacks), reading it as a server might.
const MAX_DECODES: usize = 4;

/// Why a query cannot be forwarded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// A parameter that would be forwarded is not UTF-8 once percent-decoded, so it cannot be inspected.
    #[error("query parameter {index} is not UTF-8 text once percent-decoded, so the gateway cannot inspect it")]
    NotText {
        /// Its position in the query (0-based; the name and value are not shown).
        index: usize,
    },
}

/// A request's query string, split on `&` and every name and value decoded once ([`Query::parse`]). Authentication
/// reads the `key=` parameter from it ([`Query::key`]), then [`Query::sanitise`] sorts it into what is forwarded and
/// what is inspected. No `Debug`: it holds decoded client text.
pub struct Query<'a> {
    params: Vec<Param<'a>>,
}

/// One non-empty `name=value` pair: as sent, and its successive decodings ([`decodings`]).
struct Param<'a> {
    index: usize,
    raw: &'a str,
    names: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
}

impl<'a> Query<'a> {
    /// Split and decode `query` (the part of the URI after `?`, if any). Never fails: bytes that are not UTF-8 are
    /// judged by [`Query::sanitise`], and only if the parameter would be forwarded.
    pub fn parse(query: Option<&'a str>) -> Query<'a> {
        let params = query
            .into_iter()
            .flat_map(|q| q.split('&').enumerate())
            .filter(|(_, pair)| !pair.is_empty())
            .map(|(index, raw)| {
                let (name, value) = raw.split_once('=').unwrap_or((raw, ""));
                Param {
                    index,
                    raw,
                    names: decodings(name.as_bytes()),
                    values: decodings(value.as_bytes()),
                }
            })
            .collect();
        Query { params }
    }

    /// The key a client sends as a query parameter (Gemini's `?key=`): the value of the first parameter whose name
    /// reads `key` (decoded, any case, so `KEY=` and `%6Bey=` too), decoded once as a server reads it. `None` when
    /// there is none or its value is not UTF-8.
    pub fn key(&self) -> Option<&str> {
        self.params
            .iter()
            .find(|p| {
                p.names
                    .iter()
                    .any(|n| n.trim_ascii().eq_ignore_ascii_case(b"key"))
            })
            .and_then(|p| std::str::from_utf8(&p.values[0]).ok())
    }

    /// Split the query into what is forwarded and what is inspected; `is_gateway_key` tells whether a string is a
    /// configured gateway key (by hash).
    pub fn sanitise(&self, is_gateway_key: impl Fn(&str) -> bool) -> Result<Sanitised, QueryError> {
        let mut out = Sanitised {
            forward: None,
            texts: Vec::new(),
            dropped: 0,
        };
        let mut kept: Vec<&str> = Vec::new();
        for p in &self.params {
            let credential = p
                .names
                .iter()
                .any(|n| is_credential_decoded(&String::from_utf8_lossy(n)))
                || p.names
                    .iter()
                    .chain(&p.values)
                    .any(|v| carries_gateway_key(&String::from_utf8_lossy(v), &is_gateway_key));
            if credential {
                out.dropped += 1;
                continue;
            }
            for decoded in [&p.names, &p.values] {
                // The first decoding is what the upstream reads: it must be text. The deepest is what is inspected
                // (an escape such as `%252D` must not hide a shape from the detector), read lossily if a stacked
                // escape decodes to bytes that are not UTF-8.
                std::str::from_utf8(&decoded[0])
                    .map_err(|_| QueryError::NotText { index: p.index })?;
                let deepest = String::from_utf8_lossy(&decoded[decoded.len() - 1]);
                if !deepest.is_empty() {
                    out.texts.push(deepest.into_owned());
                }
            }
            kept.push(p.raw);
        }
        if !kept.is_empty() {
            out.forward = Some(kept.join("&"));
        }
        Ok(out)
    }
}

/// The query of a request after [`Query::sanitise`]. No `Debug`: it holds decoded client text.
pub struct Sanitised {
    /// What is forwarded: the kept parameters as the client encoded them, joined by `&`; `None` if none is kept.
    pub forward: Option<String>,
    /// The decoded names and values of the kept parameters, for the inspector only.
    pub texts: Vec<String>,
    /// How many parameters were dropped as credentials.
    pub dropped: usize,
}

fn is_credential_decoded(name: &str) -> bool {
    let name = name.trim();
    CREDENTIAL_NAMES
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
}

/// The successive decodings of a raw name or value: `+` → space and percent-decoded, then percent-decoded again
/// while that changes it (at most [`MAX_DECODES`] levels). Always at least one level.
fn decodings(raw: &[u8]) -> Vec<Vec<u8>> {
    let plus: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let mut levels: Vec<Vec<u8>> = vec![percent_decode(&plus).collect()];
    while levels.len() < MAX_DECODES {
        let last = &levels[levels.len() - 1];
        if !last.contains(&b'%') {
            break;
        }
        let next: Vec<u8> = percent_decode(last).collect();
        if next == *last {
            break;
        }
        levels.push(next);
    }
    levels
}

/// Whether a decoded value is a gateway key, or carries one: the whole value, trimmed, after a `Bearer ` scheme,
/// and every token between separators (white space and `,;:&=|"'<>()[]{}`).
fn carries_gateway_key(value: &str, is_gateway_key: &impl Fn(&str) -> bool) -> bool {
    let trimmed = value.trim();
    let bearer = trimmed
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let separator = |c: char| c.is_whitespace() || ",;:&=|\"'<>()[]{}".contains(c);
    [value, trimmed]
        .into_iter()
        .chain(bearer)
        .chain(trimmed.split(separator))
        .filter(|c| !c.is_empty())
        .any(is_gateway_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: &str = "hk-0123abcd";

    fn gw(candidate: &str) -> bool {
        candidate == GW
    }

    fn sanitise(query: Option<&str>, gw: impl Fn(&str) -> bool) -> Result<Sanitised, QueryError> {
        Query::parse(query).sanitise(gw)
    }

    fn forwarded(query: &str) -> Option<String> {
        sanitise(Some(query), gw).unwrap().forward
    }

    #[test]
    fn credential_names_in_any_case_or_encoding_are_dropped() {
        for q in [
            "key=x",
            "KEY=x",
            "Key=x",
            "%6Bey=x",
            "%6b%65%79=x",
            "%256Bey=x",
            "api_key=x",
            "API_KEY=x",
            "api%5Fkey=x",
            "api-key=x",
            "apikey=x",
            "ApiKey=x",
            "access_token=x",
            "ACCESS%5FTOKEN=x",
            "key",
        ] {
            let s = sanitise(Some(q), gw).unwrap();
            assert_eq!(s.forward, None, "{q}");
            assert_eq!(s.dropped, 1, "{q}");
            assert!(s.texts.is_empty(), "{q}");
        }
        assert_eq!(forwarded("%4BEY=x&keys=y").as_deref(), Some("keys=y"));
    }

    #[test]
    fn a_gateway_key_is_dropped_under_any_name() {
        for q in [
            "token=hk-0123abcd",
            "x=hk%2D0123abcd",
            "x=hk%252D0123abcd",
            "x=+hk-0123abcd+",
            "auth=Bearer%20hk-0123abcd",
            "q=my+key+is+hk-0123abcd,+thanks",
            "q=a;key=hk-0123abcd",
            // as a name: no `=`, or the key pasted where a name goes
            "hk-0123abcd",
            "hk%2D0123abcd=1",
            "Bearer+hk-0123abcd=",
        ] {
            let s = sanitise(Some(&format!("alt=sse&{q}")), gw).unwrap();
            assert_eq!(s.forward.as_deref(), Some("alt=sse"), "{q}");
            assert_eq!(s.dropped, 1, "{q}");
            assert!(s.texts.iter().all(|t| !t.contains(GW)), "{q}");
        }
        // Another string is not a key.
        assert_eq!(
            forwarded("x=hk-0123abcde").as_deref(),
            Some("x=hk-0123abcde")
        );
    }

    #[test]
    fn other_parameters_are_forwarded_as_sent_and_inspected_decoded() {
        let s = sanitise(
            Some("alt=sse&&customer=900101%2D1234567&mail=hong%40example.com&q=a+b&flag"),
            gw,
        )
        .unwrap();
        assert_eq!(
            s.forward.as_deref(),
            Some("alt=sse&customer=900101%2D1234567&mail=hong%40example.com&q=a+b&flag")
        );
        assert_eq!(s.dropped, 0);
        assert_eq!(
            s.texts,
            [
                "alt",
                "sse",
                "customer",
                "900101-1234567",
                "mail",
                "hong@example.com",
                "q",
                "a b",
                "flag"
            ]
        );
        // Escapes stacked in a value are read through for inspection.
        let s = sanitise(Some("c=900101%252D1234567"), gw).unwrap();
        assert_eq!(s.texts, ["c", "900101-1234567"]);
        // A literal `%` that is no escape stays.
        let s = sanitise(Some("p=100%25"), gw).unwrap();
        assert_eq!(s.texts, ["p", "100%"]);
        let s = sanitise(None, gw).unwrap();
        assert!(s.forward.is_none() && s.texts.is_empty());
        assert!(sanitise(Some("&&"), gw).unwrap().forward.is_none());
    }

    #[test]
    fn the_key_parameter_is_read_decoded_in_any_case() {
        for (q, key) in [
            ("alt=sse&key=gw-1", Some("gw-1")),
            ("KEY=gw-1", Some("gw-1")),
            ("%6Bey=gw%2D1&key=other", Some("gw-1")),
            ("key=", Some("")),
            ("keys=gw-1&api_key=gw-2", None),
            ("key=%FF", None),
            ("", None),
        ] {
            assert_eq!(Query::parse(Some(q)).key(), key, "{q}");
        }
        assert_eq!(Query::parse(None).key(), None);
    }

    #[test]
    fn undecodable_parameters_are_refused_unless_dropped() {
        assert_eq!(
            sanitise(Some("alt=sse&x=%FF"), gw).err(),
            Some(QueryError::NotText { index: 1 })
        );
        // `%25FF` is the text `%FF` to the upstream: forwarded, and inspected as far as it decodes.
        let s = sanitise(Some("c=900101%252D1234567%25FF"), gw).unwrap();
        assert_eq!(s.forward.as_deref(), Some("c=900101%252D1234567%25FF"));
        assert_eq!(s.texts, ["c", "900101-1234567\u{FFFD}"]);
        // A credential is dropped whatever its bytes.
        assert_eq!(forwarded("key=%FF&alt=sse").as_deref(), Some("alt=sse"));
        let msg = QueryError::NotText { index: 1 }.to_string();
        assert!(!msg.contains("%FF"), "{msg}");
    }
}
