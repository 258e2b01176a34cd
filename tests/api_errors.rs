//! Malformed requests are refused with errors that name positions and field names, never body content.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haetae::api::{self, ApiError, WireFormat};

/// A value that must never appear in an error message.
const SECRET: &str = "900101-1234567";

fn err(format: WireFormat, body: &str) -> ApiError {
    match api::parse(format, body.as_bytes()) {
        Ok(_) => panic!("accepted: {format:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains(SECRET), "error quotes content: {msg}");
            assert!(!format!("{e:?}").contains(SECRET), "Debug quotes content");
            e
        }
    }
}

fn wrong_type(format: WireFormat, body: &str, field: &str) {
    match err(format, body) {
        ApiError::WrongType { field: f, .. } => assert_eq!(f, field, "{body}"),
        other => panic!("{body}: {other:?}"),
    }
}

#[test]
fn invalid_json_and_utf8() {
    let e = err(
        WireFormat::OpenAiChat,
        &format!("{{\"messages\": [\"{SECRET}\" oops"),
    );
    assert!(matches!(e, ApiError::InvalidJson { line: 1, .. }), "{e:?}");
    let e = err(WireFormat::OpenAiChat, &format!("{{\"model\": {SECRET}}}"));
    assert!(matches!(e, ApiError::InvalidJson { .. }), "{e:?}");
    let e = err(WireFormat::OpenAiChat, "");
    assert!(
        matches!(
            e,
            ApiError::InvalidJson {
                reason: "unexpected end of input",
                ..
            }
        ),
        "{e:?}"
    );
    let mut bad = b"{\"messages\":[{\"role\":\"user\",\"content\":\"".to_vec();
    bad.extend_from_slice(&[0xff, 0xfe]);
    bad.extend_from_slice(b"\"}]}");
    assert_eq!(
        api::parse(WireFormat::OpenAiChat, &bad).unwrap_err(),
        ApiError::InvalidUtf8 { offset: 39 }
    );
    // Lone surrogate escapes are not valid Unicode scalar values.
    let e = err(
        WireFormat::AnthropicMessages,
        r#"{"messages":[{"role":"user","content":"\ud800"}]}"#,
    );
    assert!(e.to_string().contains("lone UTF-16 surrogate"), "{e}");
    // Duplicate keys, at the top and deep inside a tool input: refused, without quoting the key or the values.
    let e = err(
        WireFormat::OpenAiChat,
        &format!(r#"{{"model":"a","messages":[],"model":"{SECRET}"}}"#),
    );
    assert!(matches!(e, ApiError::DuplicateKey { line: 1, .. }), "{e:?}");
    let e = err(
        WireFormat::AnthropicMessages,
        &format!(
            r#"{{"messages":[{{"role":"assistant","content":[{{"type":"tool_use","id":"t","name":"f","input":{{"{SECRET}":1,"{SECRET}":2}}}}]}}]}}"#
        ),
    );
    assert!(matches!(e, ApiError::DuplicateKey { .. }), "{e:?}");
    // The same key in sibling objects is fine.
    assert!(api::parse(
        WireFormat::OpenAiChat,
        br#"{"model":"a","messages":[{"role":"user","content":"x"},{"role":"user","content":"y"}]}"#
    )
    .is_ok());
    let deep = "[".repeat(5000);
    assert!(matches!(
        err(WireFormat::OpenAiChat, &deep),
        ApiError::InvalidJson { .. }
    ));
    // Valid JSON nested past the parser's limit is told so, not called a syntax error.
    let nested = format!(
        r#"{{"model":"m","messages":[],"x":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let e = err(WireFormat::OpenAiChat, &nested);
    assert!(e.to_string().contains("nesting deeper than"), "{e}");
}

#[test]
fn wrong_top_level() {
    for body in [
        format!("[\"{SECRET}\"]"),
        format!("\"{SECRET}\""),
        "42".into(),
        "null".into(),
    ] {
        for f in [
            WireFormat::OpenAiChat,
            WireFormat::OpenAiResponses,
            WireFormat::OpenAiEmbeddings,
            WireFormat::AnthropicMessages,
            WireFormat::GeminiGenerateContent,
        ] {
            assert_eq!(err(f, &body), ApiError::NotAnObject);
        }
    }
    assert_eq!(err(WireFormat::ModelsList, "{}"), ApiError::NoBody);
}

#[test]
fn wrong_field_types() {
    use WireFormat::*;
    let s = SECRET;
    wrong_type(
        OpenAiChat,
        &format!(r#"{{"messages": "{s}"}}"#),
        "/messages",
    );
    wrong_type(
        OpenAiChat,
        &format!(r#"{{"messages": ["{s}"]}}"#),
        "/messages/0",
    );
    wrong_type(
        OpenAiChat,
        r#"{"messages": [{"role": "user", "content": 5}]}"#,
        "/messages/0/content",
    );
    wrong_type(
        OpenAiChat,
        r#"{"messages": [{"role": 1, "content": "x"}]}"#,
        "/messages/0/role",
    );
    wrong_type(
        OpenAiChat,
        &format!(
            r#"{{"messages": [{{"role": "user", "content": [{{"type": "text", "text": ["{s}"]}}]}}]}}"#
        ),
        "/messages/0/content/0/text",
    );
    wrong_type(
        OpenAiChat,
        r#"{"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": {"a": 1}}}]}]}"#,
        "/messages/0/tool_calls/0/function/arguments",
    );
    wrong_type(OpenAiChat, r#"{"messages": [], "model": 3}"#, "/model");
    wrong_type(
        OpenAiChat,
        r#"{"messages": [], "stream": "yes"}"#,
        "/stream",
    );
    wrong_type(OpenAiResponses, r#"{"input": 3}"#, "/input");
    wrong_type(
        OpenAiResponses,
        r#"{"instructions": ["a"]}"#,
        "/instructions",
    );
    wrong_type(
        OpenAiResponses,
        r#"{"input": [{"type": "function_call", "arguments": {}}]}"#,
        "/input/0/arguments",
    );
    wrong_type(
        OpenAiEmbeddings,
        &format!(r#"{{"input": ["{s}", 5]}}"#),
        "/input/1",
    );
    wrong_type(OpenAiEmbeddings, r#"{"input": {"a": 1}}"#, "/input");
    wrong_type(
        AnthropicMessages,
        &format!(r#"{{"system": 1, "messages": [{{"role": "user", "content": "{s}"}}]}}"#),
        "/system",
    );
    wrong_type(
        AnthropicMessages,
        r#"{"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}"#,
        "/messages/0/content/0/text",
    );
    wrong_type(
        AnthropicMessages,
        r#"{"messages": [{"role": "user", "content": [{"type": "tool_result", "content": 7}]}]}"#,
        "/messages/0/content/0/content",
    );
    wrong_type(
        GeminiGenerateContent,
        r#"{"contents": {"parts": []}}"#,
        "/contents",
    );
    wrong_type(
        GeminiGenerateContent,
        r#"{"contents": [{"parts": [{"text": 1}]}]}"#,
        "/contents/0/parts/0/text",
    );
    wrong_type(
        GeminiGenerateContent,
        r#"{"contents": [], "systemInstruction": "x"}"#,
        "/systemInstruction",
    );
    wrong_type(
        GeminiGenerateContent,
        r#"{"contents": [{"parts": [{"functionCall": "x"}]}]}"#,
        "/contents/0/parts/0/functionCall",
    );
}

#[test]
fn missing_fields() {
    let cases = [
        (WireFormat::OpenAiChat, "{}", "/messages"),
        (WireFormat::OpenAiEmbeddings, "{\"model\":\"m\"}", "/input"),
        (
            WireFormat::AnthropicMessages,
            "{\"system\":\"s\"}",
            "/messages",
        ),
        (
            WireFormat::AnthropicMessages,
            "{\"messages\":[{\"role\":\"user\"}]}",
            "/messages/0/content",
        ),
        (WireFormat::GeminiGenerateContent, "{}", "/contents"),
        (
            WireFormat::OpenAiChat,
            r#"{"messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
            "/messages/0/content/0/text",
        ),
    ];
    for (f, body, field) in cases {
        assert_eq!(
            err(f, body),
            ApiError::MissingField {
                field: field.into()
            },
            "{body}"
        );
    }
}

#[test]
fn unknown_parts_are_opaque_not_dropped() {
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":[{{"type":"new_kind","payload":"{SECRET}"}}]}}]}}"#
    );
    let p = api::parse(WireFormat::OpenAiChat, body.as_bytes()).unwrap();
    assert_eq!(p.segments().len(), 1);
    assert_eq!(
        p.segments()[0].kind,
        api::SegmentKind::Opaque(api::OpaqueKind::Unknown)
    );
    assert!(!format!("{p:?}").contains(SECRET));
}

#[test]
fn error_kinds_map_to_client_or_gateway_faults() {
    use haetae::api::ErrorKind;
    assert_eq!(
        err(WireFormat::OpenAiChat, "[]").kind(),
        ErrorKind::InvalidRequest
    );
    assert_eq!(
        err(WireFormat::OpenAiChat, "{").kind(),
        ErrorKind::InvalidRequest
    );
    assert_eq!(
        ApiError::NoSuchSegment { index: 1 }.kind(),
        ErrorKind::Internal
    );
    assert_eq!(ApiError::ModelInPath.kind(), ErrorKind::Internal);
}
