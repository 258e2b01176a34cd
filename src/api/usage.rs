//! Token usage from provider responses, for the audit log; and the id of a stored OpenAI response
//! ([`response_id_from_body`], [`response_id_from_event`]), so that later requests about it reach the destination
//! that holds it.
//!
//! Reads `usage` (OpenAI Chat/Embeddings: `prompt_tokens`/`completion_tokens`; OpenAI Responses and Anthropic:
//! `input_tokens`/`output_tokens`) and Gemini `usageMetadata` (`promptTokenCount`/`candidatesTokenCount`), at the
//! top level or inside the `response` (Responses stream `response.completed`) or `message` (Anthropic
//! `message_start`) envelope of stream events. Streams report usage piecemeal (Anthropic: input at `message_start`,
//! output at `message_delta`; Gemini: cumulative on every chunk): fold events with [`Usage::merge`], later values
//! win. Gemini's default (non-SSE) stream is one JSON array of chunks, folded the same way by [`from_body`].
//! Counts and ids only; must never read or keep content.

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::sse::SseEvent;

/// Token counts. Fields a response did not report stay `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt / input tokens.
    pub input_tokens: Option<u64>,
    /// Completion / output tokens.
    pub output_tokens: Option<u64>,
}

impl Usage {
    /// Fold a later report into this one: each field the later report has overrides.
    pub fn merge(&mut self, later: Usage) {
        if later.input_tokens.is_some() {
            self.input_tokens = later.input_tokens;
        }
        if later.output_tokens.is_some() {
            self.output_tokens = later.output_tokens;
        }
    }

    fn is_empty(&self) -> bool {
        self.input_tokens.is_none() && self.output_tokens.is_none()
    }
}

/// The envelope fields usage is read from (`usage`, `usageMetadata`, `response.usage`, `message.usage`, merged in
/// that order), deserialised without building a `Value` of the whole response:
/// everything else (choices, content, candidates) is skipped by serde_json's parser, never copied or allocated.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    usage: Lenient<Object<Counts>>,
    #[serde(default, rename = "usageMetadata")]
    usage_metadata: Lenient<Object<Counts>>,
    #[serde(default)]
    response: Lenient<Object<Inner>>,
    #[serde(default)]
    message: Lenient<Object<Inner>>,
}

#[derive(Deserialize)]
struct Inner {
    #[serde(default)]
    usage: Lenient<Object<Counts>>,
}

/// `T` read from a JSON object only (serde's derived structs would also accept an array, positionally).
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData)).map(Object)
    }
}

/// The count fields of every family, first present wins (`prompt_tokens`, `input_tokens`, `promptTokenCount`; then
/// the output names likewise); a count that is not a non-negative integer reads as absent.
#[derive(Deserialize)]
struct Counts {
    #[serde(default)]
    prompt_tokens: Lenient<u64>,
    #[serde(default)]
    input_tokens: Lenient<u64>,
    #[serde(default, rename = "promptTokenCount")]
    prompt_token_count: Lenient<u64>,
    #[serde(default)]
    completion_tokens: Lenient<u64>,
    #[serde(default)]
    output_tokens: Lenient<u64>,
    #[serde(default, rename = "candidatesTokenCount")]
    candidates_token_count: Lenient<u64>,
}

/// A field of the expected shape, or `None` when absent or of any other shape (skipped, not an error): the same
/// leniency as reading a `Value` with `get(..).and_then(as_..)`.
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            Is(T),
            Other(IgnoredAny),
        }
        Ok(Lenient(match Either::deserialize(d)? {
            Either::Is(t) => Some(t),
            Either::Other(_) => None,
        }))
    }
}

impl Counts {
    fn usage(&self) -> Usage {
        Usage {
            input_tokens: self
                .prompt_tokens
                .0
                .or(self.input_tokens.0)
                .or(self.prompt_token_count.0),
            output_tokens: self
                .completion_tokens
                .0
                .or(self.output_tokens.0)
                .or(self.candidates_token_count.0),
        }
    }
}

fn counts(c: &Lenient<Object<Counts>>) -> Option<&Counts> {
    c.0.as_ref().map(|o| &o.0)
}

fn inner_counts(i: &Lenient<Object<Inner>>) -> Option<&Counts> {
    i.0.as_ref().and_then(|o| counts(&o.0.usage))
}

/// Usage from a non-streaming response body or one stream event's data (`None` if it is not JSON or carries no
/// usage). A JSON array is Gemini's default stream (`:streamGenerateContent` without `alt=sse`): one chunk per
/// element, folded in order (the last chunk carries the final counts).
pub fn from_body(json: &[u8]) -> Option<Usage> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first == b'[' {
        let chunks: Vec<Envelope> = serde_json::from_slice(json).ok()?;
        let mut out = Usage::default();
        for e in &chunks {
            if let Some(u) = envelope_usage(e) {
                out.merge(u);
            }
        }
        return (!out.is_empty()).then_some(out);
    }
    envelope_usage(&serde_json::from_slice(json).ok()?)
}

fn envelope_usage(e: &Envelope) -> Option<Usage> {
    let mut out = Usage::default();
    for c in [
        counts(&e.usage),
        counts(&e.usage_metadata),
        inner_counts(&e.response),
        inner_counts(&e.message),
    ]
    .into_iter()
    .flatten()
    {
        out.merge(c.usage());
    }
    (!out.is_empty()).then_some(out)
}

/// Usage from one stream event, when it carries any.
pub fn from_event(ev: &SseEvent) -> Option<Usage> {
    let data = ev.data()?;
    if !data.contains("sage") {
        // Neither `usage` nor `usageMetadata`: skip the JSON parse.
        return None;
    }
    from_body(data.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::sse::SseFramer;
    use serde_json::Value;

    #[test]
    fn non_streaming_bodies() {
        let openai = br#"{"id":"x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        assert_eq!(
            from_body(openai),
            Some(Usage {
                input_tokens: Some(12),
                output_tokens: Some(3)
            })
        );
        let anthropic = br#"{"type":"message","usage":{"input_tokens":9,"output_tokens":4}}"#;
        assert_eq!(from_body(anthropic).unwrap().output_tokens, Some(4));
        let gemini = br#"{"candidates":[],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12}}"#;
        // Gemini's default stream: a JSON array of chunks, the last with the final counts
        let array = br#" [{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":5}},
            {"candidates":[],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":9}}]"#;
        assert_eq!(
            from_body(array),
            Some(Usage {
                input_tokens: Some(5),
                output_tokens: Some(9)
            })
        );
        assert_eq!(from_body(b"[]"), None);
        assert_eq!(from_body(b"[1,2]"), None);
        assert_eq!(from_body(gemini).unwrap().input_tokens, Some(5));
        let embeddings = br#"{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#;
        assert_eq!(
            from_body(embeddings),
            Some(Usage {
                input_tokens: Some(8),
                output_tokens: None
            })
        );
        assert_eq!(from_body(b"{\"choices\":[]}"), None);
        assert_eq!(from_body(b"not json"), None);
    }

    #[test]
    fn anthropic_stream_folds() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n",
        );
        let mut f = SseFramer::default();
        f.push(stream.as_bytes()).unwrap();
        let mut total = Usage::default();
        while let Some(e) = f.next_event() {
            if let Some(u) = from_event(&e) {
                total.merge(u);
            }
        }
        assert_eq!(total.input_tokens, Some(25));
        assert_eq!(total.output_tokens, Some(15));
    }

    /// The reading rule written plainly over a parsed `Value`: the oracle the typed envelope is checked against.
    fn from_value(v: &Value) -> Option<Usage> {
        let read_counts = |u: &Value| {
            let first =
                |names: &[&str]| names.iter().find_map(|n| u.get(*n).and_then(Value::as_u64));
            Usage {
                input_tokens: first(&["prompt_tokens", "input_tokens", "promptTokenCount"]),
                output_tokens: first(&[
                    "completion_tokens",
                    "output_tokens",
                    "candidatesTokenCount",
                ]),
            }
        };
        let candidates = [
            v.get("usage"),
            v.get("usageMetadata"),
            v.get("response").and_then(|r| r.get("usage")),
            v.get("message").and_then(|m| m.get("usage")),
        ];
        let mut out = Usage::default();
        for u in candidates.into_iter().flatten() {
            if u.is_object() {
                out.merge(read_counts(u));
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Count-ish values of every shape a provider (or a broken one) might send.
    fn count_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            (0u64..1_000_000).prop_map(Value::from),
            Just(Value::from(u64::MAX)),
            Just(Value::from(-3)),
            Just(Value::from(2.5)),
            Just(Value::from(7.0)),
            Just(Value::from("12")),
            Just(Value::Null),
            Just(serde_json::json!([1, 2])),
        ]
    }

    fn usage_like() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let names = prop::sample::select(vec![
            "prompt_tokens",
            "completion_tokens",
            "input_tokens",
            "output_tokens",
            "promptTokenCount",
            "candidatesTokenCount",
            "total_tokens",
        ]);
        prop_oneof![
            4 => prop::collection::btree_map(names, count_value(), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            1 => count_value(),
        ]
    }

    proptest::proptest! {
        /// Reading the bytes with the typed envelope gives exactly what reading the parsed `Value` gives.
        #[test]
        fn typed_read_equals_value_read(
            usage in proptest::option::of(usage_like()),
            meta in proptest::option::of(usage_like()),
            response in proptest::option::of(usage_like()),
            message in proptest::option::of(usage_like()),
            wrap_response in proptest::bool::ANY,
            wrap_message in proptest::bool::ANY,
        ) {
            let mut v = serde_json::json!({"id": "x", "choices": [{"message": {"content": "hi \"there\""}}]});
            let o = v.as_object_mut().unwrap();
            if let Some(u) = usage { o.insert("usage".into(), u); }
            if let Some(u) = meta { o.insert("usageMetadata".into(), u); }
            let wrap = |u: Value, w: bool| if w { serde_json::json!({"id": "r", "usage": u}) } else { u };
            if let Some(u) = response { o.insert("response".into(), wrap(u, wrap_response)); }
            if let Some(u) = message { o.insert("message".into(), wrap(u, wrap_message)); }
            let bytes = serde_json::to_vec(&v).unwrap();
            proptest::prop_assert_eq!(from_body(&bytes), from_value(&v));
        }
    }

    #[test]
    fn responses_completed_event() {
        let data = r#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":3,"output_tokens":2}}}"#;
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(from_value(&v).unwrap().output_tokens, Some(2));
    }
}

/// A Responses API object: `{"id": …, "object": "response", …}`. Everything else is skipped, not copied.
#[derive(Deserialize)]
struct ResponseObject {
    #[serde(default)]
    id: Lenient<String>,
    #[serde(default)]
    object: Lenient<String>,
}

impl ResponseObject {
    fn id(self) -> Option<String> {
        (self.object.0.as_deref() == Some("response"))
            .then_some(self.id.0)
            .flatten()
    }
}

/// The id of the response object a non-streaming `POST /v1/responses` answered with (`None` if the body is not a
/// JSON object with `"object": "response"` and a string `id`).
pub fn response_id_from_body(json: &[u8]) -> Option<String> {
    serde_json::from_slice::<ResponseObject>(json).ok()?.id()
}

/// The id of the response a Responses stream event carries in its `response` envelope (`response.created`, the
/// first event of every stream, has it).
pub fn response_id_from_event(ev: &SseEvent) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        response: Lenient<Object<ResponseObject>>,
    }
    let data = ev.data()?;
    if !data.contains("\"response\"") {
        return None;
    }
    let e: Envelope = serde_json::from_str(data).ok()?;
    e.response.0?.0.id()
}

/// The id at the very start of a response object's JSON (`{"id": "resp_…"`, the field OpenAI and vLLM write
/// first), read from the first bytes of a body, before the rest has arrived. `None` when the body does not start
/// that way; [`response_id_from_body`] reads a whole body whatever its field order.
pub fn leading_response_id(head: &[u8]) -> Option<&str> {
    let ws = <[u8]>::trim_ascii_start;
    let s = ws(head).strip_prefix(b"{")?;
    let s = ws(s).strip_prefix(b"\"id\"")?;
    let s = ws(s).strip_prefix(b":")?;
    let s = ws(s).strip_prefix(b"\"")?;
    let end = s.iter().position(|&b| b == b'"')?;
    let id = std::str::from_utf8(&s[..end]).ok()?;
    // No escapes: an id is plain ASCII. A backslash means it is something else (or escaped): not read here.
    (!id.contains('\\') && !id.is_empty()).then_some(id)
}

#[cfg(test)]
mod response_id_tests {
    use super::*;
    use crate::api::sse::SseFramer;

    fn event(raw: &str) -> SseEvent {
        let mut f = SseFramer::new(1 << 20);
        f.push(raw.as_bytes()).unwrap();
        f.next_event().unwrap()
    }

    #[test]
    fn reads_ids_of_response_objects_only() {
        let body = br#"{"object":"response","status":"completed","id":"resp_9","output":[{"id":"msg_1"}]}"#;
        assert_eq!(response_id_from_body(body).as_deref(), Some("resp_9"));
        for other in [
            &br#"{"id":"chatcmpl-1","object":"chat.completion"}"#[..],
            br#"{"id":"resp_1"}"#,
            br#"{"id":7,"object":"response"}"#,
            br#"[{"id":"resp_1","object":"response"}]"#,
            b"not json",
        ] {
            assert_eq!(response_id_from_body(other), None);
        }
        let created = event(
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\
             \"response\":{\"id\":\"resp_s\",\"object\":\"response\",\"status\":\"in_progress\"}}\n\n",
        );
        assert_eq!(response_id_from_event(&created).as_deref(), Some("resp_s"));
        let delta =
            event("data: {\"type\":\"response.output_text.delta\",\"delta\":\"response\"}\n\n");
        assert_eq!(response_id_from_event(&delta), None);
    }

    #[test]
    fn leading_id_reads_only_a_first_field() {
        assert_eq!(
            leading_response_id(b" {\n  \"id\": \"resp_1\",\n  \"object\": \"resp"),
            Some("resp_1")
        );
        for head in [
            &b"{\"object\":\"response\",\"id\":\"resp_1\"}"[..],
            b"{\"id\":\"resp_",
            b"{\"id\":\"a\\\"b\"}",
            b"[\"id\"]",
            b"",
        ] {
            assert_eq!(
                leading_response_id(head),
                None,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
