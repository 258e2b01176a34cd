//! Token usage from provider responses, for the audit log.
//!
//! Reads `usage` (OpenAI Chat/Embeddings: `prompt_tokens`/`completion_tokens`; OpenAI Responses and Anthropic:
//! `input_tokens`/`output_tokens`) and Gemini `usageMetadata` (`promptTokenCount`/`candidatesTokenCount`), at the
//! top level or inside the `response` (Responses stream `response.completed`) or `message` (Anthropic
//! `message_start`) envelope of stream events. Streams report usage piecemeal (Anthropic: input at `message_start`,
//! output at `message_delta`; Gemini: cumulative on every chunk): fold events with [`Usage::merge`], later values
//! win. Counts only; must never read or keep content.

use serde_json::Value;

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

fn read_counts(u: &Value) -> Usage {
    let first = |names: &[&str]| names.iter().find_map(|n| u.get(*n).and_then(Value::as_u64));
    Usage {
        input_tokens: first(&["prompt_tokens", "input_tokens", "promptTokenCount"]),
        output_tokens: first(&["completion_tokens", "output_tokens", "candidatesTokenCount"]),
    }
}

/// Usage from a response JSON value (non-streaming body or one stream event's data), any family.
pub fn from_value(v: &Value) -> Option<Usage> {
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

/// Usage from a non-streaming response body (`None` if it is not JSON or carries no usage).
pub fn from_body(body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    from_value(&v)
}

/// Usage from one stream event, when it carries any.
pub fn from_event(ev: &SseEvent) -> Option<Usage> {
    let data = ev.data()?;
    if !data.contains("sage") {
        // Neither `usage` nor `usageMetadata`: skip the JSON parse.
        return None;
    }
    let v: Value = serde_json::from_str(data).ok()?;
    from_value(&v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::sse::SseFramer;

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

    #[test]
    fn responses_completed_event() {
        let data = r#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":3,"output_tokens":2}}}"#;
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(from_value(&v).unwrap().output_tokens, Some(2));
    }
}
