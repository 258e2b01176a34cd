//! Fuzz: the client- and upstream-controlled bytes around a body that the other targets do not reach: a request
//! body under a `Content-Encoding` (decoded with a size cap), a query string (split, decoded, sorted into forwarded
//! and inspected parts), and the token usage and response ids read from an upstream's response. Must never panic;
//! a decoded body never exceeds its cap; a gateway key never survives into the forwarded query; an id read from the
//! head of a body is a plain piece of that body.
#![no_main]

use bytes::Bytes;
use haetae::api::usage;
use haetae::proxy::{body, query::Query};
use libfuzzer_sys::fuzz_target;

const CODINGS: &[&str] = &[
    "gzip", "x-gzip", "deflate", "br", "zstd", "identity", "", "gzip, br", "br,gzip", "zstd, identity", " GZIP ",
    "compress", "gzip,gzip", "identity, identity",
];

/// The gateway key the query check knows.
const KEY: &str = "hk-fuzz-key";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let Some((&pick, rest)) = rest.split_first() else { return };
            let Some((&cap, rest)) = rest.split_first() else { return };
            let coding = CODINGS[usize::from(pick) % CODINGS.len()];
            let limit = 16u64 << (cap % 14);
            let input = Bytes::copy_from_slice(rest);
            if let Ok(out) = body::decode(Some(coding), input.clone(), limit) {
                let identity = coding.split(',').all(|c| c.trim().is_empty() || c.trim() == "identity");
                if identity {
                    assert_eq!(out, input, "identity must not change the body");
                } else {
                    assert!(out.len() as u64 <= limit, "decoded past the cap");
                }
            }
        }
        1 => {
            let q = String::from_utf8_lossy(rest);
            let parsed = Query::parse(Some(&q));
            let _ = parsed.key();
            if let Ok(s) = parsed.sanitise(|t| t == KEY) {
                if let Some(forward) = &s.forward {
                    // Every forwarded parameter is one the client sent, as sent.
                    for pair in forward.split('&') {
                        assert!(q.split('&').any(|p| p == pair), "forwarded a parameter nobody sent");
                    }
                    // The key as sent, not encoded: it would be read as a token of some name or value.
                    let separators = |c: char| c.is_whitespace() || ",;:&=|\"'<>()[]{}+".contains(c);
                    assert!(!forward.split(separators).any(|t| t == KEY), "forwarded the gateway key");
                }
                assert!(s.texts.iter().all(|t| !t.split(char::is_whitespace).any(|w| w == KEY)));
            }
        }
        _ => {
            let _ = usage::from_body(rest);
            let _ = usage::response_id_from_body(rest);
            if let Some(id) = usage::leading_response_id(rest) {
                assert!(!id.is_empty() && !id.contains(['"', '\\']));
                let at = id.as_ptr() as usize - rest.as_ptr() as usize;
                assert!(at + id.len() <= rest.len());
            }
        }
    }
});
