//! OpenAI request bodies: Chat Completions, Responses and Embeddings.
//!
//! Walks a body and reports every user-controlled string (message content, text parts, refusals, tool-call
//! arguments, tool results, Responses `instructions`/`input`, embeddings input, predicted output) as a text
//! segment, and images / audio / files / token arrays / reasoning items as opaque segments. Unknown content-part or
//! item types are reported as [`OpaqueKind::Unknown`] so a policy can fail closed. Must never decide policy.
//!
//! Tool-call `arguments` are a JSON document *inside a string*: the whole string is one segment. A replacement
//! must keep it valid JSON (escape inside the string), which is the redactor's job.

use serde_json::{Map, Value};

use super::path::JsonPath;
use super::request::{as_object, opt_str, req_array, wrong, Collector, OpaqueKind, Source};
use super::ApiError;

/// Chat Completions: `messages[]`, `prediction`.
pub(crate) fn walk_chat(root: &Map<String, Value>, c: &mut Collector) -> Result<(), ApiError> {
    let base = JsonPath::root();
    let msgs = req_array(root, "messages", &base)?;
    let mp = base.key("messages");
    for (i, m) in msgs.iter().enumerate() {
        let at = mp.index(i);
        let obj = as_object(m, &at)?;
        let source = Source::from_role(opt_str(obj, "role", &at)?);
        if let Some(content) = obj.get("content") {
            content_parts(content, &at.key("content"), source, Some(i), c)?;
        }
        c.opt_text_field(obj, "refusal", &at, Source::Assistant, Some(i))?;
        match obj.get("tool_calls") {
            None | Some(Value::Null) => {}
            Some(Value::Array(calls)) => {
                let tp = at.key("tool_calls");
                for (j, call) in calls.iter().enumerate() {
                    let cp = tp.index(j);
                    let call = as_object(call, &cp)?;
                    let mut known = false;
                    for (key, field) in [("function", "arguments"), ("custom", "input")] {
                        match call.get(key) {
                            None | Some(Value::Null) => {}
                            Some(f) => {
                                let fp = cp.key(key);
                                let f = as_object(f, &fp)?;
                                c.opt_text_field(f, field, &fp, Source::ToolCall, Some(i))?;
                                known = true;
                            }
                        }
                    }
                    if !known {
                        c.opaque(cp, Source::ToolCall, OpaqueKind::Unknown, Some(i));
                    }
                }
            }
            Some(_) => return Err(wrong(&at.key("tool_calls"), "an array")),
        }
        match obj.get("function_call") {
            None | Some(Value::Null) => {}
            Some(f) => {
                let fp = at.key("function_call");
                let f = as_object(f, &fp)?;
                c.opt_text_field(f, "arguments", &fp, Source::ToolCall, Some(i))?;
            }
        }
    }
    // Predicted outputs: text the client supplies to speed up generation.
    match root.get("prediction") {
        None | Some(Value::Null) => {}
        Some(p) => {
            let pp = base.key("prediction");
            let obj = as_object(p, &pp)?;
            if let Some(content) = obj.get("content") {
                content_parts(content, &pp.key("content"), Source::User, None, c)?;
            }
        }
    }
    Ok(())
}

/// A `content` value: null, a string, or an array of typed parts (Chat and Responses part types).
fn content_parts(
    v: &Value,
    at: &JsonPath,
    source: Source,
    msg: Option<usize>,
    c: &mut Collector,
) -> Result<(), ApiError> {
    match v {
        Value::Null => Ok(()),
        Value::String(_) => {
            c.text(at.clone(), source, msg);
            Ok(())
        }
        Value::Array(parts) => {
            for (k, p) in parts.iter().enumerate() {
                let pp = at.index(k);
                part(as_object(p, &pp)?, pp, source, msg, c)?;
            }
            Ok(())
        }
        _ => Err(wrong(at, "a string or an array of content parts")),
    }
}

/// One typed content part (Chat and Responses part types); unknown types are opaque.
fn part(
    obj: &Map<String, Value>,
    pp: JsonPath,
    source: Source,
    msg: Option<usize>,
    c: &mut Collector,
) -> Result<(), ApiError> {
    match opt_str(obj, "type", &pp)? {
        Some("text") | Some("input_text") | Some("output_text") => {
            c.req_text_field(obj, "text", &pp, source, msg)?
        }
        Some("refusal") => c.req_text_field(obj, "refusal", &pp, source, msg)?,
        Some("image_url") | Some("input_image") => c.opaque(pp, source, OpaqueKind::Image, msg),
        Some("input_audio") => c.opaque(pp, source, OpaqueKind::Audio, msg),
        Some("file") | Some("input_file") => c.opaque(pp, source, OpaqueKind::File, msg),
        _ => c.opaque(pp, source, OpaqueKind::Unknown, msg),
    }
    Ok(())
}

/// Responses: `instructions`, `input` (string or item array).
pub(crate) fn walk_responses(root: &Map<String, Value>, c: &mut Collector) -> Result<(), ApiError> {
    let base = JsonPath::root();
    c.opt_text_field(root, "instructions", &base, Source::System, None)?;
    // Reusable prompt templates: the variables are caller-supplied text (or input parts).
    match root.get("prompt") {
        None | Some(Value::Null) => {}
        Some(p) => {
            let pp = base.key("prompt");
            let obj = as_object(p, &pp)?;
            match obj.get("variables") {
                None | Some(Value::Null) => {}
                Some(Value::Object(vars)) => {
                    let vp = pp.key("variables");
                    for (k, v) in vars {
                        let at = vp.key(k.clone());
                        match v {
                            Value::String(_) => c.text(at, Source::User, None),
                            Value::Object(part_obj) => part(part_obj, at, Source::User, None, c)?,
                            _ => return Err(wrong(&vp, "an object of strings or input parts")),
                        }
                    }
                }
                Some(_) => return Err(wrong(&pp.key("variables"), "an object")),
            }
        }
    }
    let ip = base.key("input");
    match root.get("input") {
        None | Some(Value::Null) => {}
        Some(Value::String(_)) => c.text(ip, Source::User, None),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = ip.index(i);
                let obj = as_object(item, &at)?;
                let m = Some(i);
                match opt_str(obj, "type", &at)? {
                    None | Some("message") => {
                        let source = Source::from_role(opt_str(obj, "role", &at)?);
                        match obj.get("content") {
                            None => {
                                return Err(ApiError::MissingField {
                                    field: at.key("content").to_pointer(),
                                })
                            }
                            Some(content) => {
                                content_parts(content, &at.key("content"), source, m, c)?
                            }
                        }
                    }
                    Some("function_call") => {
                        c.opt_text_field(obj, "arguments", &at, Source::ToolCall, m)?
                    }
                    Some("custom_tool_call") => {
                        c.opt_text_field(obj, "input", &at, Source::ToolCall, m)?
                    }
                    Some("function_call_output") | Some("custom_tool_call_output") => {
                        match obj.get("output") {
                            None | Some(Value::Null) => {}
                            Some(out) => {
                                content_parts(out, &at.key("output"), Source::ToolResult, m, c)?
                            }
                        }
                    }
                    Some("reasoning") => c.opaque(at, Source::Assistant, OpaqueKind::Signed, m),
                    // A reference to an item stored upstream: no content travels in this request.
                    Some("item_reference") => {}
                    Some(_) => c.opaque(at, Source::Unspecified, OpaqueKind::Unknown, m),
                }
            }
        }
        Some(_) => return Err(wrong(&ip, "a string or an array of input items")),
    }
    Ok(())
}

/// Embeddings: `input` is a string, an array of strings, an array of token ids, or an array of token-id arrays.
pub(crate) fn walk_embeddings(
    root: &Map<String, Value>,
    c: &mut Collector,
) -> Result<(), ApiError> {
    let ip = JsonPath::root().key("input");
    const EXPECTED: &str = "a string, an array of strings, or an array of token arrays";
    match root.get("input") {
        None => Err(ApiError::MissingField {
            field: ip.to_pointer(),
        }),
        Some(Value::String(_)) => {
            c.text(ip, Source::EmbeddingInput, None);
            Ok(())
        }
        Some(Value::Array(items)) => {
            if !items.is_empty() && items.iter().all(Value::is_number) {
                c.opaque(ip, Source::EmbeddingInput, OpaqueKind::TokenArray, None);
                return Ok(());
            }
            for (i, item) in items.iter().enumerate() {
                let at = ip.index(i);
                match item {
                    Value::String(_) => c.text(at, Source::EmbeddingInput, Some(i)),
                    Value::Array(tokens) if tokens.iter().all(Value::is_number) => {
                        c.opaque(at, Source::EmbeddingInput, OpaqueKind::TokenArray, Some(i))
                    }
                    _ => return Err(wrong(&at, EXPECTED)),
                }
            }
            Ok(())
        }
        Some(_) => Err(wrong(&ip, EXPECTED)),
    }
}
