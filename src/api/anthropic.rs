//! Anthropic Messages request bodies (`/v1/messages`, `/v1/messages/count_tokens`).
//!
//! Reports the top-level `system` (string or text blocks), message content (string or blocks), `tool_use.input`
//! (every string leaf of the JSON value), `tool_result.content` (string or blocks), and plain-text documents
//! (`document` with a `text` or `content` source, plus its `title`/`context`) as text; images, PDFs, thinking blocks
//! and unknown block types as opaque. Must never decide policy.

use serde_json::{Map, Value};

use super::path::JsonPath;
use super::request::{as_object, opt_str, req_array, wrong, Collector, OpaqueKind, Source};
use super::ApiError;

/// How deep `tool_result` → `document` → `content` nesting may go before the body is refused.
const MAX_BLOCK_NESTING: usize = 4;

pub(crate) fn walk_messages(root: &Map<String, Value>, c: &mut Collector) -> Result<(), ApiError> {
    let base = JsonPath::root();
    if let Some(sys) = root.get("system") {
        content(sys, &base.key("system"), Source::System, None, 0, c)?;
    }
    let msgs = req_array(root, "messages", &base)?;
    let mp = base.key("messages");
    for (i, m) in msgs.iter().enumerate() {
        let at = mp.index(i);
        let obj = as_object(m, &at)?;
        let source = Source::from_role(opt_str(obj, "role", &at)?);
        match obj.get("content") {
            None => {
                return Err(ApiError::MissingField {
                    field: at.key("content").to_pointer(),
                })
            }
            Some(v) => content(v, &at.key("content"), source, Some(i), 0, c)?,
        }
    }
    Ok(())
}

/// A string or an array of content blocks (null tolerated: upstream rejects it, nothing to scan).
fn content(
    v: &Value,
    at: &JsonPath,
    source: Source,
    msg: Option<usize>,
    depth: usize,
    c: &mut Collector,
) -> Result<(), ApiError> {
    if depth > MAX_BLOCK_NESTING {
        return Err(wrong(at, "less deeply nested content"));
    }
    match v {
        Value::Null => Ok(()),
        Value::String(_) => {
            c.text(at.clone(), source, msg);
            Ok(())
        }
        Value::Array(blocks) => {
            for (k, b) in blocks.iter().enumerate() {
                block(b, &at.index(k), source, msg, depth, c)?;
            }
            Ok(())
        }
        _ => Err(wrong(at, "a string or an array of content blocks")),
    }
}

fn block(
    b: &Value,
    at: &JsonPath,
    source: Source,
    msg: Option<usize>,
    depth: usize,
    c: &mut Collector,
) -> Result<(), ApiError> {
    let obj = as_object(b, at)?;
    match opt_str(obj, "type", at)? {
        Some("text") => c.req_text_field(obj, "text", at, source, msg)?,
        Some("image") => c.opaque(at.clone(), source, OpaqueKind::Image, msg),
        Some("document") => document(obj, at, source, msg, depth, c)?,
        Some("tool_use") | Some("server_tool_use") => {
            if let Some(input) = obj.get("input") {
                c.string_leaves(input, at.key("input"), Source::ToolCall, msg);
            }
        }
        Some("tool_result") => {
            if let Some(v) = obj.get("content") {
                content(v, &at.key("content"), Source::ToolResult, msg, depth + 1, c)?;
            }
        }
        Some("thinking") | Some("redacted_thinking") => {
            c.opaque(at.clone(), source, OpaqueKind::Signed, msg)
        }
        Some("container_upload") => c.opaque(at.clone(), source, OpaqueKind::File, msg),
        _ => c.opaque(at.clone(), source, OpaqueKind::Unknown, msg),
    }
    Ok(())
}

fn document(
    obj: &Map<String, Value>,
    at: &JsonPath,
    source: Source,
    msg: Option<usize>,
    depth: usize,
    c: &mut Collector,
) -> Result<(), ApiError> {
    c.opt_text_field(obj, "title", at, source, msg)?;
    c.opt_text_field(obj, "context", at, source, msg)?;
    let sp = at.key("source");
    let src = match obj.get("source") {
        Some(s) => as_object(s, &sp)?,
        None => {
            c.opaque(at.clone(), source, OpaqueKind::Document, msg);
            return Ok(());
        }
    };
    match opt_str(src, "type", &sp)? {
        Some("text") => c.req_text_field(src, "data", &sp, source, msg)?,
        Some("content") => match src.get("content") {
            Some(v) => content(v, &sp.key("content"), source, msg, depth + 1, c)?,
            None => {
                return Err(ApiError::MissingField {
                    field: sp.key("content").to_pointer(),
                })
            }
        },
        _ => c.opaque(at.clone(), source, OpaqueKind::Document, msg),
    }
    Ok(())
}
