//! Rebuild a request body by splicing rewritten values into the original bytes.
//!
//! A rewrite (model mapping today, redaction and pseudonyms with the policy engine) changes a few JSON strings.
//! Re-serialising the whole parsed value would also change what the client wrote everywhere else: an integer past
//! `u64` becomes a float, `1E0` becomes `1.0`, `-0` becomes `-0.0`, escapes and whitespace are normalised. This
//! module keeps every byte outside the rewritten values: it finds the byte span of each edited location in the
//! original text and writes the new value's JSON there.
//!
//! Input contract: `original` is text that `serde_json` already accepted as one JSON document (the request parser
//! validated it, refusing duplicate keys). The walker still checks every byte it relies on and returns
//! [`SpliceError`] on anything unexpected instead of guessing; the caller then falls back to re-serialising.
//!
//! Must never: put body content in an error (errors carry byte offsets only), or recurse without bound (container
//! values it does not descend into are skipped iteratively; descent follows the edited paths only, whose depth the
//! parser's recursion limit already bounds).

use serde_json::Value;

use super::path::{JsonPath, PathStep};

/// Why a splice could not be made. Offsets only, never content.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SpliceError {
    /// The text is not the JSON the edits were computed from (unexpected byte or end of input).
    #[error("unexpected JSON at byte {offset} while splicing")]
    Unexpected {
        /// Byte offset of the unexpected input.
        offset: usize,
    },
    /// An edited location is not in the original text.
    #[error("an edited location is missing from the original body")]
    Missing,
    /// The appended member's object (the root) is not an object.
    #[error("the document root is not an object")]
    NotAnObject,
}

/// One change to make: the value at `path` (which must exist in the original) becomes `value`.
pub(crate) struct Edit<'a> {
    pub(crate) path: &'a JsonPath,
    pub(crate) value: &'a Value,
}

/// `original` with each edit's value written over the original value at its path and, if `append` is given, a new
/// member `key: value` added at the end of the root object. Edits to the same path: the last one counts.
pub(crate) fn splice(
    original: &str,
    edits: &[Edit<'_>],
    append: Option<(&str, &Value)>,
) -> Result<Vec<u8>, SpliceError> {
    let bytes = original.as_bytes();
    let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(edits.len());
    let targets: Vec<(&[PathStep], usize)> = edits
        .iter()
        .enumerate()
        .map(|(i, e)| (e.path.steps(), i))
        .collect();
    let start = skip_ws(bytes, 0);
    let end = walk(bytes, start, &targets, &mut spans)?;
    if skip_ws(bytes, end) != bytes.len() {
        return Err(SpliceError::Unexpected { offset: end });
    }
    // One span per location (the last edit of a path wins); spans of distinct paths never overlap, because an
    // edited value is not descended into: an edit inside another edit's value is dropped by `walk`.
    spans.sort_unstable_by_key(|&(s, _, i)| (s, std::cmp::Reverse(i)));
    spans.dedup_by_key(|&mut (s, _, _)| s);
    if spans.len() < dedup_paths(edits) {
        return Err(SpliceError::Missing);
    }
    let mut out = Vec::with_capacity(bytes.len() + 64);
    let mut at = 0;
    for &(s, e, i) in &spans {
        out.extend_from_slice(&bytes[at..s]);
        write_json(&mut out, edits[i].value);
        at = e;
    }
    match append {
        None => out.extend_from_slice(&bytes[at..]),
        Some((key, value)) => {
            if bytes.get(start) != Some(&b'{') {
                return Err(SpliceError::NotAnObject);
            }
            // The root's closing brace is the last non-space byte; the object is empty when only spaces lie
            // between its braces.
            let close = end - 1;
            if close < at {
                // An edit replaced the whole root: there is no brace of the original left to append before.
                return Err(SpliceError::NotAnObject);
            }
            out.extend_from_slice(&bytes[at..close]);
            if skip_ws(bytes, start + 1) != close {
                out.push(b',');
            }
            write_json(&mut out, &Value::String(key.to_owned()));
            out.push(b':');
            write_json(&mut out, value);
            out.extend_from_slice(&bytes[close..]);
        }
    }
    Ok(out)
}

/// How many distinct paths `edits` name, ignoring paths inside another edited path's value.
fn dedup_paths(edits: &[Edit<'_>]) -> usize {
    let mut paths: Vec<&[PathStep]> = edits.iter().map(|e| e.path.steps()).collect();
    paths.sort_unstable_by(|a, b| cmp_steps(a, b));
    paths.dedup();
    let mut count = 0;
    let mut last: Option<&[PathStep]> = None;
    for p in paths {
        if last.is_some_and(|l| p.starts_with(l)) {
            continue;
        }
        count += 1;
        last = Some(p);
    }
    count
}

fn cmp_steps(a: &[PathStep], b: &[PathStep]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (PathStep::Key(x), PathStep::Key(y)) => x.cmp(y),
            (PathStep::Index(x), PathStep::Index(y)) => x.cmp(y),
            (PathStep::Key(_), PathStep::Index(_)) => std::cmp::Ordering::Less,
            (PathStep::Index(_), PathStep::Key(_)) => std::cmp::Ordering::Greater,
        };
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn write_json(out: &mut Vec<u8>, value: &Value) {
    // Serialising a `Value` into a `Vec` cannot fail (string keys, finite numbers).
    let _ = serde_json::to_writer(out, value);
}

/// Walks the value starting at `pos` (no leading space), recording the span of every target whose remaining path
/// is empty here, and returns the end of the value.
fn walk(
    b: &[u8],
    pos: usize,
    targets: &[(&[PathStep], usize)],
    spans: &mut Vec<(usize, usize, usize)>,
) -> Result<usize, SpliceError> {
    if targets.is_empty() {
        return skip_value(b, pos);
    }
    if targets.iter().any(|(p, _)| p.is_empty()) {
        // This value is edited: record a span per edit of it (the last one wins the sort in `splice`); edits
        // deeper inside it are dropped with the value they point into.
        let end = skip_value(b, pos)?;
        spans.extend(
            targets
                .iter()
                .filter(|(p, _)| p.is_empty())
                .map(|&(_, i)| (pos, end, i)),
        );
        return Ok(end);
    }
    match b.get(pos) {
        Some(b'{') => {
            let mut at = skip_ws(b, pos + 1);
            if b.get(at) == Some(&b'}') {
                return Ok(at + 1);
            }
            loop {
                let key_end = skip_string(b, at)?;
                let raw = &b[at + 1..key_end - 1];
                let key = decode_key(raw, at)?;
                at = skip_ws(b, key_end);
                expect(b, at, b':')?;
                at = skip_ws(b, at + 1);
                let sub = below(
                    targets,
                    |s| matches!(s, PathStep::Key(k) if k.as_ref() == key.as_ref()),
                );
                at = walk(b, at, &sub, spans)?;
                match next_member(b, at, b'}')? {
                    Next::Member(n) => at = n,
                    Next::Closed(end) => return Ok(end),
                }
            }
        }
        Some(b'[') => {
            let mut at = skip_ws(b, pos + 1);
            if b.get(at) == Some(&b']') {
                return Ok(at + 1);
            }
            let mut index = 0usize;
            loop {
                let sub = below(targets, |s| matches!(s, PathStep::Index(k) if *k == index));
                at = walk(b, at, &sub, spans)?;
                match next_member(b, at, b']')? {
                    Next::Member(n) => at = n,
                    Next::Closed(end) => return Ok(end),
                }
                index += 1;
            }
        }
        // A scalar cannot hold a deeper path: the target is missing (caught by the span count).
        _ => skip_value(b, pos),
    }
}

/// The targets one step down, into the member or element whose step `names` accepts.
fn below<'p>(
    targets: &[(&'p [PathStep], usize)],
    names: impl Fn(&PathStep) -> bool,
) -> Vec<(&'p [PathStep], usize)> {
    targets
        .iter()
        .filter_map(|&(p, i)| match p.split_first() {
            Some((step, rest)) if names(step) => Some((rest, i)),
            _ => None,
        })
        .collect()
}

/// What follows a member or element of a container closed by `close`.
enum Next {
    /// Another member starts here.
    Member(usize),
    /// The container ends; the value ends here.
    Closed(usize),
}

fn next_member(b: &[u8], at: usize, close: u8) -> Result<Next, SpliceError> {
    let at = skip_ws(b, at);
    match b.get(at) {
        Some(b',') => Ok(Next::Member(skip_ws(b, at + 1))),
        Some(&c) if c == close => Ok(Next::Closed(at + 1)),
        _ => Err(SpliceError::Unexpected { offset: at }),
    }
}

/// An object key as text: borrowed when it has no escapes, decoded by `serde_json` when it has.
fn decode_key(raw: &[u8], at: usize) -> Result<std::borrow::Cow<'_, str>, SpliceError> {
    let bad = SpliceError::Unexpected { offset: at };
    let text = std::str::from_utf8(raw).map_err(|_| bad.clone())?;
    if !text.contains('\\') {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    quoted.push_str(text);
    quoted.push('"');
    serde_json::from_str::<String>(&quoted)
        .map(std::borrow::Cow::Owned)
        .map_err(|_| bad)
}

fn expect(b: &[u8], at: usize, byte: u8) -> Result<(), SpliceError> {
    if b.get(at) == Some(&byte) {
        Ok(())
    } else {
        Err(SpliceError::Unexpected { offset: at })
    }
}

fn skip_ws(b: &[u8], mut at: usize) -> usize {
    while matches!(b.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The end (one past the closing quote) of the string starting at `at`.
fn skip_string(b: &[u8], at: usize) -> Result<usize, SpliceError> {
    expect(b, at, b'"')?;
    let mut i = at + 1;
    loop {
        match memchr::memchr2(b'"', b'\\', &b[i.min(b.len())..]) {
            None => return Err(SpliceError::Unexpected { offset: b.len() }),
            Some(k) => {
                i += k;
                if b[i] == b'"' {
                    return Ok(i + 1);
                }
                // A backslash escapes exactly the next byte for the purpose of finding the end (`\uXXXX` has no
                // quote or backslash in its hex digits).
                i += 2;
            }
        }
    }
}

/// The end of the value starting at `at`, without recursion: containers are skipped by counting brackets
/// outside strings.
fn skip_value(b: &[u8], at: usize) -> Result<usize, SpliceError> {
    match b.get(at) {
        Some(b'"') => skip_string(b, at),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = at;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = skip_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err(SpliceError::Unexpected { offset: b.len() })
        }
        Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            let mut i = at;
            while i < b.len() && !matches!(b[i], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            Ok(i)
        }
        _ => Err(SpliceError::Unexpected { offset: at }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(original: &str, edits: &[(JsonPath, Value)], append: Option<(&str, Value)>) -> String {
        let e: Vec<Edit<'_>> = edits
            .iter()
            .map(|(path, value)| Edit { path, value })
            .collect();
        let out = splice(original, &e, append.as_ref().map(|(k, v)| (*k, v))).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keeps_every_byte_outside_the_edits() {
        let body = r#"{ "model" : "gpt-4o", "seed":18446744073709551616,"n":1E0,"x":-0,
            "messages":[{"role":"user","content":"a\u0041\"b"},{"role":"user","content":[{"type":"text","text":"t"}]}] }"#;
        let out = run(
            body,
            &[
                (JsonPath::root().key("model"), json!("gpt-4o-2024-11-20")),
                (
                    JsonPath::root()
                        .key("messages")
                        .index(1)
                        .key("content")
                        .index(0)
                        .key("text"),
                    json!("[KR_RRN]"),
                ),
            ],
            None,
        );
        let expected = body
            .replace(r#""gpt-4o""#, r#""gpt-4o-2024-11-20""#)
            .replace(r#""text":"t""#, r#""text":"[KR_RRN]""#);
        assert_eq!(out, expected);
    }

    #[test]
    fn escaped_keys_and_repeated_edits() {
        let body = r#"{"m\u006fdel":"a","k":{"x":[1,"y",{"z":"w"}]}}"#;
        let out = run(
            body,
            &[
                (JsonPath::root().key("model"), json!("b")),
                (JsonPath::root().key("model"), json!("c")),
                (JsonPath::root().key("k").key("x").index(1), json!("Y")),
            ],
            None,
        );
        assert_eq!(out, r#"{"m\u006fdel":"c","k":{"x":[1,"Y",{"z":"w"}]}}"#);
    }

    #[test]
    fn appends_to_the_root_object() {
        let m = Some(("model", json!("gpt")));
        assert_eq!(
            run(r#"{"a":1E0}"#, &[], m.clone()),
            r#"{"a":1E0,"model":"gpt"}"#
        );
        assert_eq!(run(" { } ", &[], m.clone()), r#" { "model":"gpt"} "#);
        assert_eq!(run("{\n}\n", &[], m), "{\n\"model\":\"gpt\"}\n");
    }

    #[test]
    fn missing_locations_and_wrong_text_are_errors() {
        let p = JsonPath::root().key("nope");
        let v = json!("x");
        let e = [Edit {
            path: &p,
            value: &v,
        }];
        assert_eq!(splice(r#"{"a":1}"#, &e, None), Err(SpliceError::Missing));
        let deep = JsonPath::root().key("a").key("b");
        let e = [Edit {
            path: &deep,
            value: &v,
        }];
        assert_eq!(splice(r#"{"a":1}"#, &e, None), Err(SpliceError::Missing));
        assert!(splice(r#"{"a":1"#, &[], None).is_err());
        assert!(splice(r#"{"a":"1}"#, &[], None).is_err());
        assert!(splice("[1]", &[], Some(("model", &v))).is_err());
    }
}
