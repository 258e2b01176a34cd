//! Error bodies and SSE error events in each API's own shape, so official SDKs raise their usual exceptions.
//!
//! - OpenAI: `{"error":{"message","type","param","code"}}`; stream: `data: {"error":{...}}` (Responses:
//!   `event: error` with `{"type":"error","code","message","param"}`).
//! - Anthropic: `{"type":"error","error":{"type","message"}}`; stream: `event: error`.
//! - Gemini: `{"error":{"code","message","status"}}`; stream (`alt=sse`): `data: {"error":{...}}`.
//!
//! The message is written by the caller and must never contain request content (field names, entity types and
//! counts only). This module must never decide which kind applies.

use http::StatusCode;
use serde_json::{json, Value};

use super::classify::{ApiFamily, WireFormat};
use super::sse::encode_event;

/// Internal error kinds, mapped to each family's status code and type string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed request (400).
    InvalidRequest,
    /// Missing or bad gateway credentials (401).
    Authentication,
    /// Authenticated but not allowed (403).
    PermissionDenied,
    /// Blocked by policy (403): the request carried data the policy does not let leave.
    Blocked,
    /// Unknown endpoint or model (404).
    NotFound,
    /// Body over the configured limit (413).
    PayloadTooLarge,
    /// Content type or encoding not accepted (415).
    UnsupportedMediaType,
    /// Request head over the configured limit (431).
    HeadersTooLarge,
    /// Rate limited (429).
    RateLimited,
    /// Temporarily overloaded (Anthropic 529, others 503).
    Overloaded,
    /// Upstream failed or answered garbage (502).
    Upstream,
    /// Upstream timed out (504).
    Timeout,
    /// The client did not send its request in time (408).
    RequestTimeout,
    /// Gateway bug (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status for this kind as `family` reports it.
    pub fn status(self, family: ApiFamily) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Authentication => StatusCode::UNAUTHORIZED,
            ErrorKind::PermissionDenied | ErrorKind::Blocked => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Overloaded => match family {
                // 529 is Anthropic's own "overloaded" status; the SDK retries on it.
                ApiFamily::Anthropic => {
                    StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
                }
                ApiFamily::OpenAi | ApiFamily::Gemini => StatusCode::SERVICE_UNAVAILABLE,
            },
            ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `Retry-After` seconds the gateway sends with this kind, if any: a load it sheds by itself (over a
    /// concurrency or rate limit) passes quickly, and SDKs that honour the header wait this long before retrying
    /// instead of backing off for longer.
    pub fn retry_after_secs(self) -> Option<u32> {
        match self {
            ErrorKind::RateLimited | ErrorKind::Overloaded => Some(1),
            _ => None,
        }
    }

    /// Anthropic `error.type`.
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::UnsupportedMediaType
            | ErrorKind::HeadersTooLarge => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied | ErrorKind::Blocked => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::RequestTimeout => "invalid_request_error",
            ErrorKind::Upstream | ErrorKind::Internal => "api_error",
        }
    }

    /// OpenAI `error.type` and `error.code`.
    pub fn openai_type_code(self) -> (&'static str, Option<&'static str>) {
        match self {
            ErrorKind::InvalidRequest => ("invalid_request_error", None),
            ErrorKind::Authentication => ("authentication_error", Some("invalid_api_key")),
            ErrorKind::PermissionDenied => ("permission_error", None),
            ErrorKind::Blocked => ("permission_error", Some("blocked_by_policy")),
            ErrorKind::NotFound => ("invalid_request_error", Some("not_found")),
            ErrorKind::PayloadTooLarge => ("invalid_request_error", Some("request_too_large")),
            ErrorKind::UnsupportedMediaType => {
                ("invalid_request_error", Some("unsupported_media_type"))
            }
            ErrorKind::HeadersTooLarge => (
                "invalid_request_error",
                Some("request_header_fields_too_large"),
            ),
            ErrorKind::RateLimited => ("rate_limit_error", Some("rate_limit_exceeded")),
            ErrorKind::Overloaded => ("server_error", Some("overloaded")),
            ErrorKind::Upstream => ("server_error", Some("bad_gateway")),
            ErrorKind::Timeout => ("server_error", Some("timeout")),
            ErrorKind::RequestTimeout => ("invalid_request_error", Some("request_timeout")),
            ErrorKind::Internal => ("server_error", None),
        }
    }

    /// Gemini (google.rpc) `error.status`.
    pub fn gemini_status(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::PayloadTooLarge
            | ErrorKind::UnsupportedMediaType
            | ErrorKind::HeadersTooLarge => "INVALID_ARGUMENT",
            ErrorKind::Authentication => "UNAUTHENTICATED",
            ErrorKind::PermissionDenied | ErrorKind::Blocked => "PERMISSION_DENIED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
            ErrorKind::Overloaded | ErrorKind::Upstream => "UNAVAILABLE",
            ErrorKind::Timeout | ErrorKind::RequestTimeout => "DEADLINE_EXCEEDED",
            ErrorKind::Internal => "INTERNAL",
        }
    }
}

/// The error object as a JSON value in `family`'s shape.
pub fn error_value(family: ApiFamily, kind: ErrorKind, message: &str) -> Value {
    match family {
        ApiFamily::OpenAi => {
            let (ty, code) = kind.openai_type_code();
            json!({"error": {"message": message, "type": ty, "param": null, "code": code}})
        }
        ApiFamily::Anthropic => {
            json!({"type": "error", "error": {"type": kind.anthropic_type(), "message": message}})
        }
        ApiFamily::Gemini => json!({"error": {
            "code": kind.status(family).as_u16(),
            "message": message,
            "status": kind.gemini_status(),
        }}),
    }
}

/// Status and JSON body bytes of an error response (content type `application/json`).
pub fn error_response(family: ApiFamily, kind: ErrorKind, message: &str) -> (StatusCode, Vec<u8>) {
    let body = serde_json::to_vec(&error_value(family, kind, message)).unwrap_or_default();
    (kind.status(family), body)
}

/// One SSE event reporting an error after a stream has started (status already sent), in `format`'s shape.
pub fn sse_error_event(format: WireFormat, kind: ErrorKind, message: &str) -> Vec<u8> {
    let family = format.family();
    match format.stream_format() {
        WireFormat::OpenAiResponses => {
            let (_, code) = kind.openai_type_code();
            let v = json!({"type": "error", "code": code, "message": message, "param": null});
            encode_event(Some("error"), &v.to_string())
        }
        _ => match family {
            ApiFamily::Anthropic => encode_event(
                Some("error"),
                &error_value(family, kind, message).to_string(),
            ),
            ApiFamily::OpenAi | ApiFamily::Gemini => {
                encode_event(None, &error_value(family, kind, message).to_string())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorKind; 13] = [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::Blocked,
        ErrorKind::NotFound,
        ErrorKind::PayloadTooLarge,
        ErrorKind::UnsupportedMediaType,
        ErrorKind::HeadersTooLarge,
        ErrorKind::RateLimited,
        ErrorKind::Overloaded,
        ErrorKind::Upstream,
        ErrorKind::Timeout,
        ErrorKind::Internal,
    ];

    #[test]
    fn status_table() {
        let expect = [
            400, 401, 403, 403, 404, 413, 415, 431, 429, 503, 502, 504, 500,
        ];
        for (k, s) in ALL.iter().zip(expect) {
            assert_eq!(k.status(ApiFamily::OpenAi).as_u16(), s, "{k:?}");
            assert_eq!(k.status(ApiFamily::Gemini).as_u16(), s, "{k:?}");
        }
        assert_eq!(
            ErrorKind::Overloaded.status(ApiFamily::Anthropic).as_u16(),
            529
        );
        assert_eq!(
            ErrorKind::RateLimited.status(ApiFamily::Anthropic).as_u16(),
            429
        );
    }

    #[test]
    fn shapes() {
        let (s, b) = error_response(ApiFamily::Anthropic, ErrorKind::PayloadTooLarge, "too big");
        assert_eq!(s.as_u16(), 413);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            r#"{"type":"error","error":{"type":"request_too_large","message":"too big"}}"#
        );
        let (s, b) = error_response(ApiFamily::OpenAi, ErrorKind::Authentication, "bad key");
        assert_eq!(s.as_u16(), 401);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            r#"{"error":{"message":"bad key","type":"authentication_error","param":null,"code":"invalid_api_key"}}"#
        );
        let (s, b) = error_response(ApiFamily::Gemini, ErrorKind::NotFound, "no such model");
        assert_eq!(s.as_u16(), 404);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            r#"{"error":{"code":404,"message":"no such model","status":"NOT_FOUND"}}"#
        );
        let v = error_value(ApiFamily::Anthropic, ErrorKind::Overloaded, "m");
        assert_eq!(v["error"]["type"], "overloaded_error");
        let v = error_value(ApiFamily::Anthropic, ErrorKind::Upstream, "m");
        assert_eq!(v["error"]["type"], "api_error");
    }

    #[test]
    fn message_is_escaped() {
        let (_, b) = error_response(ApiFamily::OpenAi, ErrorKind::InvalidRequest, "a \"q\"\nb");
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["message"], "a \"q\"\nb");
    }

    #[test]
    fn sse_events() {
        let e = sse_error_event(WireFormat::AnthropicMessages, ErrorKind::Overloaded, "busy");
        assert_eq!(
            String::from_utf8(e).unwrap(),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n"
        );
        let e = sse_error_event(WireFormat::OpenAiChat, ErrorKind::Upstream, "x");
        let s = String::from_utf8(e).unwrap();
        assert!(
            s.starts_with("data: {\"error\":{") && s.ends_with("}}\n\n"),
            "{s}"
        );
        let e = sse_error_event(WireFormat::OpenAiResponses, ErrorKind::Timeout, "x");
        assert!(String::from_utf8(e)
            .unwrap()
            .starts_with("event: error\ndata: {\"type\":\"error\",\"code\":\"timeout\""));
        let e = sse_error_event(WireFormat::GeminiGenerateContent, ErrorKind::Internal, "x");
        assert!(String::from_utf8(e)
            .unwrap()
            .starts_with("data: {\"error\":{\"code\":500,"));
    }
}
