//! Request bodies read with hard caps, and `Content-Encoding` decoding with a cap on the decoded size.
//!
//! Must never: read a body without a byte limit and a deadline, or hand on a compressed body that was not decoded
//! (a body the scanner cannot read must not leave the gateway).

use std::io::Read;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;

/// Errors reading or decoding a request body.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body on the wire is larger than `limits.max_request_body_bytes`.
    #[error("request body is larger than the gateway's limit of {limit} bytes (limits.max_request_body_bytes)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The decoded body is larger than `limits.max_decoded_body_bytes`.
    #[error("decoded request body is larger than the gateway's limit of {limit} bytes (limits.max_decoded_body_bytes)")]
    DecodedTooLarge {
        /// The limit.
        limit: u64,
    },
    /// A `Content-Encoding` the gateway cannot decode (and so cannot inspect).
    #[error("Content-Encoding `{0}` is not supported; send identity, gzip, deflate, br or zstd")]
    UnsupportedEncoding(String),
    /// The body does not decode with its declared encoding.
    #[error("request body is not valid {encoding} data")]
    Corrupt {
        /// The declared encoding.
        encoding: &'static str,
    },
    /// The client did not send the whole body in time.
    #[error("the client did not send the request body within {0:?} (timeouts.client_body_ms)")]
    Timeout(Duration),
    /// The client connection failed while sending the body.
    #[error("reading the request body failed: {0}")]
    Client(String),
}

/// Read a whole request body, failing as soon as it exceeds `limit` bytes or `deadline` passes.
pub async fn read_bounded<B>(body: B, limit: u64, deadline: Duration) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let read = async move {
        let mut body = body;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Client(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if (buf.len() + data.len()) as u64 > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                if buf.is_empty() && body.is_end_stream() {
                    return Ok(data);
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| BodyError::Timeout(deadline))?
}

/// How an unsupported coding is named in an error and the access log: a coding token as such (`compress`, `xz`,
/// `pack200-gzip`), anything else (which a client could fill with content) not at all. Digits only in registered
/// names: `gzip, 850314-1308025` must not come back in the error or land in the log.
fn coding_label(coding: &str) -> String {
    const REGISTERED_WITH_DIGITS: [&str; 2] = ["aes128gcm", "pack200-gzip"];
    if REGISTERED_WITH_DIGITS.contains(&coding)
        || (!coding.is_empty()
            && coding.len() <= 24
            && coding
                .bytes()
                .all(|b| b.is_ascii_lowercase() || matches!(b, b'-' | b'_' | b'.')))
    {
        coding.to_owned()
    } else {
        "(an unrecognised value)".to_owned()
    }
}

/// Decode a body according to its `Content-Encoding` header value (codings applied in order, so decoded in reverse),
/// refusing output larger than `limit`.
pub fn decode(content_encoding: Option<&str>, body: Bytes, limit: u64) -> Result<Bytes, BodyError> {
    decode_codings(content_encoding.into_iter(), body, limit)
}

/// [`decode`] for every `Content-Encoding` line of `headers`: two lines mean the same as one comma-separated line. A
/// value that is not visible ASCII names no coding the gateway knows, so the body is refused, not read as identity.
pub fn decode_headers(
    headers: &http::HeaderMap,
    body: Bytes,
    limit: u64,
) -> Result<Bytes, BodyError> {
    let lines = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .map(|v| v.to_str())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| BodyError::UnsupportedEncoding(coding_label("")))?;
    decode_codings(lines.into_iter(), body, limit)
}

/// The content coding a response declares, if any other than identity (as [`coding_label`] names it). A stream the
/// gateway must frame cannot be passed on in a coding it would have to decode first.
pub fn declared_coding(headers: &http::HeaderMap) -> Option<String> {
    for line in headers.get_all(http::header::CONTENT_ENCODING) {
        let Ok(line) = line.to_str() else {
            // Not visible ASCII: no coding the gateway knows, and not identity either.
            return Some(coding_label(""));
        };
        if let Some(c) = line
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .find(|c| !c.is_empty() && c != "identity")
        {
            return Some(coding_label(&c));
        }
    }
    None
}

fn decode_codings<'a>(
    lines: impl Iterator<Item = &'a str>,
    body: Bytes,
    limit: u64,
) -> Result<Bytes, BodyError> {
    let codings: Vec<String> = lines
        .flat_map(|line| line.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    let mut current = body;
    for coding in codings.iter().rev() {
        current = match coding.as_str() {
            "gzip" | "x-gzip" => read_capped(
                flate2::read::MultiGzDecoder::new(&current[..]),
                "gzip",
                limit,
            )?,
            "deflate" => read_capped(
                flate2::read::ZlibDecoder::new(&current[..]),
                "deflate",
                limit,
            )?,
            "br" => read_capped(
                brotli_decompressor::Decompressor::new(&current[..], 8192),
                "br",
                limit,
            )?,
            "zstd" => {
                let decoder = ruzstd::decoding::StreamingDecoder::new(&current[..])
                    .map_err(|_| BodyError::Corrupt { encoding: "zstd" })?;
                read_capped(decoder, "zstd", limit)?
            }
            other => return Err(BodyError::UnsupportedEncoding(coding_label(other))),
        };
    }
    Ok(current)
}

fn read_capped(reader: impl Read, encoding: &'static str, limit: u64) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    let mut limited = reader.take(limit.saturating_add(1));
    limited
        .read_to_end(&mut out)
        .map_err(|_| BodyError::Corrupt { encoding })?;
    if out.len() as u64 > limit {
        return Err(BodyError::DecodedTooLarge { limit });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        Bytes::from(e.finish().unwrap())
    }

    #[test]
    fn identity_and_gzip() {
        let plain = Bytes::from_static(br#"{"model":"x"}"#);
        assert_eq!(decode(None, plain.clone(), 100).unwrap(), plain);
        assert_eq!(decode(Some("identity"), plain.clone(), 100).unwrap(), plain);
        assert_eq!(decode(Some("gzip"), gzip(&plain), 100).unwrap(), plain);
    }

    #[test]
    fn stacked_codings_decode_in_reverse() {
        let plain = b"hello hello hello";
        let once = gzip(plain);
        let twice = gzip(&once);
        assert_eq!(&decode(Some("gzip, gzip"), twice, 100).unwrap()[..], plain);
    }

    #[test]
    fn declared_response_coding() {
        let h = |lines: &[&[u8]]| {
            let mut m = http::HeaderMap::new();
            for l in lines {
                m.append(
                    http::header::CONTENT_ENCODING,
                    http::HeaderValue::from_bytes(l).unwrap(),
                );
            }
            declared_coding(&m)
        };
        assert_eq!(h(&[]), None);
        assert_eq!(h(&[b"identity"]), None);
        assert_eq!(h(&[b" Identity , "]), None);
        assert_eq!(h(&[b"identity", b"GZIP"]).as_deref(), Some("gzip"));
        assert_eq!(h(&[b"br"]).as_deref(), Some("br"));
        assert_eq!(
            h(&[b"\xc3\xa9"]).as_deref(),
            Some("(an unrecognised value)")
        );
        assert_eq!(
            h(&[b"900101-1234567 x"]).as_deref(),
            Some("(an unrecognised value)")
        );
        // A value shaped like a token but made of digits is content, not a coding name.
        for v in [
            &b"850314-1308025"[..],
            b"4532015112833519",
            b"x.010.2345.6789",
        ] {
            assert_eq!(h(&[v]).as_deref(), Some("(an unrecognised value)"), "{v:?}");
        }
        assert_eq!(h(&[b"pack200-gzip"]).as_deref(), Some("pack200-gzip"));
        assert_eq!(h(&[b"xz"]).as_deref(), Some("xz"));
    }

    #[test]
    fn decompression_bomb_is_refused() {
        let bomb = gzip(&vec![b'a'; 1_000_000]);
        assert!(bomb.len() < 10_000);
        assert!(matches!(
            decode(Some("gzip"), bomb, 64 * 1024),
            Err(BodyError::DecodedTooLarge { limit: 65536 })
        ));
    }

    #[test]
    fn an_unsupported_coding_is_not_echoed_when_it_could_be_content() {
        let err = decode(Some("gzip, 850314-1308025"), Bytes::from_static(b"x"), 10)
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("850314") && err.contains("an unrecognised value"),
            "{err}"
        );
    }

    #[test]
    fn unknown_and_corrupt() {
        assert!(matches!(
            decode(Some("compress"), Bytes::from_static(b"x"), 10),
            Err(BodyError::UnsupportedEncoding(_))
        ));
        assert!(matches!(
            decode(Some("gzip"), Bytes::from_static(b"not gzip"), 10),
            Err(BodyError::Corrupt { encoding: "gzip" })
        ));
        assert!(matches!(
            decode(Some("zstd"), Bytes::from_static(b"not zstd"), 10),
            Err(BodyError::Corrupt { encoding: "zstd" })
        ));
    }

    #[tokio::test]
    async fn read_bounded_enforces_limit() {
        let body = http_body_util::Full::new(Bytes::from(vec![0u8; 11]));
        assert!(matches!(
            read_bounded(body, 10, Duration::from_secs(1)).await,
            Err(BodyError::TooLarge { limit: 10 })
        ));
        let body = http_body_util::Full::new(Bytes::from(vec![0u8; 10]));
        assert_eq!(
            read_bounded(body, 10, Duration::from_secs(1))
                .await
                .unwrap()
                .len(),
            10
        );
    }
}
