//! Data-driven request-parsing vectors: every `tests/fixtures/api/NAME.json` body is parsed with the format named
//! in `NAME.expected.json`, and the segments (pointer, source, kind, text) must match exactly. Each fixture is also
//! rebuilt after replacing every text segment, and the result must differ only at those locations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use haetae::api::{self, classify, ApiError, ApiFamily, WireFormat};
use serde_json::Value;

fn fixtures() -> Vec<(String, Vec<u8>, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if let Some(stem) = name.strip_suffix(".expected.json") {
            let body = std::fs::read(dir.join(format!("{stem}.json"))).unwrap();
            let expected: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            out.push((stem.to_owned(), body, expected));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 10, "fixtures missing: found {}", out.len());
    out
}

#[test]
fn fixtures_parse_to_expected_segments() {
    for (name, body, expected) in fixtures() {
        let format = WireFormat::from_name(expected["format"].as_str().unwrap()).unwrap();
        let parsed = api::parse(format, &body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.model(), expected["model"].as_str(), "{name}: model");
        assert_eq!(
            parsed.stream(),
            expected["stream"].as_bool().unwrap(),
            "{name}: stream"
        );
        let want = expected["segments"].as_array().unwrap();
        let got = parsed.segments();
        let got_rows: Vec<String> = got
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "{} {} {} {:?}",
                    s.path.to_pointer(),
                    s.source.as_str(),
                    s.kind.as_str(),
                    parsed.text(i)
                )
            })
            .collect();
        let want_rows: Vec<String> = want
            .iter()
            .map(|row| {
                let r = row.as_array().unwrap();
                format!(
                    "{} {} {} {:?}",
                    r[0].as_str().unwrap(),
                    r[1].as_str().unwrap(),
                    r[2].as_str().unwrap(),
                    r.get(3).and_then(Value::as_str)
                )
            })
            .collect();
        assert_eq!(got_rows, want_rows, "{name}");
        // Locations are real RFC 6901 pointers.
        for (i, s) in got.iter().enumerate() {
            assert!(
                parsed.value().pointer(&s.path.to_pointer()).is_some(),
                "{name}: segment {i}"
            );
        }
    }
}

#[test]
fn fixtures_identity_rebuild_is_exact() {
    for (name, body, expected) in fixtures() {
        let format = WireFormat::from_name(expected["format"].as_str().unwrap()).unwrap();
        let mut parsed = api::parse(format, &body).unwrap();
        let ids: Vec<(usize, String)> = parsed.texts().map(|(i, _, t)| (i, t.to_owned())).collect();
        assert!(!parsed.is_modified());
        let any = !ids.is_empty();
        parsed.apply(ids).unwrap();
        assert_eq!(parsed.is_modified(), any, "{name}");
        // Every value was written back: the splice rebuild gives the client's bytes back exactly (spacing,
        // escapes and number spellings included), not a re-serialisation.
        let rebuilt = parsed.to_body(&body);
        assert_eq!(
            String::from_utf8(rebuilt).unwrap(),
            String::from_utf8(body.clone()).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn fixtures_replacement_changes_only_its_location() {
    for (name, body, expected) in fixtures() {
        let format = WireFormat::from_name(expected["format"].as_str().unwrap()).unwrap();
        let base = api::parse(format, &body).unwrap();
        let text_ids: Vec<usize> = base.texts().map(|(i, _, _)| i).collect();
        for i in text_ids {
            let mut p = base.clone();
            p.replace_text(i, "<REDACTED:1>").unwrap();
            let rebuilt: Value = serde_json::from_slice(&p.to_body(&body)).unwrap();
            let ptr = base.segments()[i].path.to_pointer();
            assert_eq!(
                rebuilt.pointer(&ptr),
                Some(&Value::String("<REDACTED:1>".into())),
                "{name} {i}"
            );
            // Putting the old text back restores the original exactly.
            let mut restored = rebuilt.clone();
            *restored.pointer_mut(&ptr).unwrap() = Value::String(base.text(i).unwrap().to_owned());
            assert_eq!(&restored, base.value(), "{name} {i}");
            // The re-parsed body has the same segment structure.
            let reparsed = api::parse(format, &p.to_body(&body)).unwrap();
            assert_eq!(reparsed.segments(), base.segments(), "{name} {i}");
        }
    }
}

#[test]
fn opaque_segments_cannot_be_replaced() {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/api/openai_chat_multimodal.json"
    ))
    .unwrap();
    let mut p = api::parse(WireFormat::OpenAiChat, &body).unwrap();
    let opaque = p.segments().iter().position(|s| !s.is_text()).unwrap();
    assert_eq!(
        p.replace_text(opaque, "x"),
        Err(ApiError::OpaqueSegment { index: opaque })
    );
    assert_eq!(
        p.replace_text(999, "x"),
        Err(ApiError::NoSuchSegment { index: 999 })
    );
}

#[test]
fn model_mapping_keeps_key_order() {
    let body = br#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o","n":1}"#;
    let mut p = api::parse(WireFormat::OpenAiChat, body).unwrap();
    p.set_model("domestic-llm-70b").unwrap();
    assert_eq!(p.model(), Some("domestic-llm-70b"));
    assert_eq!(
        p.to_body(body),
        br#"{"messages":[{"role":"user","content":"hi"}],"model":"domestic-llm-70b","n":1}"#
            .to_vec()
    );
    let body = br#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;
    let mut p = api::parse(WireFormat::GeminiGenerateContent, body).unwrap();
    assert_eq!(p.set_model("x"), Err(ApiError::ModelInPath));
}

#[test]
fn gemini_model_and_stream_come_from_the_path() {
    let ep = classify(
        &http::Method::POST,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    )
    .unwrap();
    assert_eq!(ep.family, ApiFamily::Gemini);
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/api/gemini_generate.json"
    ))
    .unwrap();
    let p = api::parse_for(&ep, &body).unwrap();
    assert_eq!(p.model(), Some("gemini-2.5-flash"));
    assert!(p.stream());
    assert_eq!(
        api::gemini::rewrite_model_path(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            "gemma-3"
        )
        .as_deref(),
        Some("/v1beta/models/gemma-3:streamGenerateContent?alt=sse")
    );
}

#[test]
fn gemini_count_tokens_nested_request() {
    let body = br#"{"generateContentRequest":{"model":"models/gemini-pro","contents":[{"role":"user","parts":[{"text":"count me"}]}]}}"#;
    let p = api::parse(WireFormat::GeminiCountTokens, body).unwrap();
    let texts: Vec<_> = p
        .texts()
        .map(|(_, s, t)| (s.path.to_pointer(), t.to_owned()))
        .collect();
    assert_eq!(
        texts,
        vec![(
            "/generateContentRequest/contents/0/parts/0/text".to_owned(),
            "count me".to_owned()
        )]
    );
    let p = api::parse(
        WireFormat::GeminiCountTokens,
        br#"{"contents":[{"parts":[{"text":"x"}]}]}"#,
    )
    .unwrap();
    assert_eq!(p.texts().count(), 1);
}

#[test]
fn anthropic_count_tokens_uses_messages_shape() {
    let body = br#"{"model":"claude-opus-4-1","system":"s","messages":[{"role":"user","content":"count"}]}"#;
    let ep = classify(&http::Method::POST, "/v1/messages/count_tokens").unwrap();
    let p = api::parse_for(&ep, body).unwrap();
    assert_eq!(p.texts().count(), 2);
    assert_eq!(p.model(), Some("claude-opus-4-1"));
}

/// Seams: consecutive text parts of one content array, in every format that has such arrays; never across messages
/// or between a message's text and its tool calls.
#[test]
fn text_seams_join_parts_of_one_array_only() {
    let chat = serde_json::json!({"model": "m", "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "a1"},
            {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
            {"type": "text", "text": "a2"},
            {"type": "text", "text": ""},
            {"type": "text", "text": "a3"}]},
        {"role": "user", "content": [{"type": "text", "text": "b1"}]},
        {"role": "assistant", "content": "c1", "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        // Two messages with string content are two turns: not joined.
        {"role": "user", "content": "d1"},
        {"role": "user", "content": "d2"}
    ]});
    let p = api::parse(WireFormat::OpenAiChat, chat.to_string().as_bytes()).unwrap();
    assert_eq!(p.text_seams(), [("a1", "a2"), ("a2", "a3")]);
    let messages = serde_json::json!({"model": "m", "max_tokens": 1,
        "system": [{"type": "text", "text": "s1"}, {"type": "text", "text": "s2"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "u1"}]},
            {"role": "user", "content": "u2"}, {"role": "user", "content": "u3"}]});
    let p = api::parse(
        WireFormat::AnthropicMessages,
        messages.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(p.text_seams(), [("s1", "s2")]);
    let gemini = serde_json::json!({"contents": [{"role": "user", "parts": [{"text": "g1"}, {"text": "g2"}]},
        {"role": "model", "parts": [{"text": "g3"}]}]});
    let p = api::parse(
        WireFormat::GeminiGenerateContent,
        gemini.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(p.text_seams(), [("g1", "g2")]);
}

/// An inline file whose bytes are UTF-8 text is read as text (and says so); a PDF, an image or a file id is not.
#[test]
fn inline_text_files_are_read_parts() {
    let chat = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "see files"},
        {"type": "file", "file": {"filename": "a.txt", "file_data": "data:text/plain;base64,aGVsbG8gd29ybGQ="}},
        {"type": "file", "file": {"filename": "b.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}},
        {"type": "file", "file": {"file_id": "file-abc"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]});
    let p = api::parse(WireFormat::OpenAiChat, chat.to_string().as_bytes()).unwrap();
    let others = p.other_texts();
    assert!(others.texts.iter().any(|t| t == "hello world"));
    let read: Vec<_> = others
        .read_parts
        .iter()
        .map(|&i| p.segments()[i].path.to_pointer())
        .collect();
    assert_eq!(read, ["/messages/0/content/1"]);
}
