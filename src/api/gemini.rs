//! Gemini (Generative Language API) request bodies: `generateContent`, `streamGenerateContent`, `countTokens`.
//!
//! Reports `systemInstruction.parts[]` and `contents[].parts[]` text, `functionCall.args` and
//! `functionResponse.response` string leaves, `executableCode.code` and `codeExecutionResult.output` as text;
//! `inlineData` and `fileData` as opaque. The JSON mapping of the protobuf API accepts both camelCase and
//! snake_case field names, so both are read. The model is carried in the path: see [`rewrite_model_path`].
//! Must never decide policy.

use serde_json::{Map, Value};

use super::path::JsonPath;
use super::request::{as_object, opt_str, wrong, Collector, OpaqueKind, Source};
use super::ApiError;

/// The value of the first present name among `names` (camelCase / snake_case aliases) with its key.
fn field<'a>(
    obj: &'a Map<String, Value>,
    names: &[&'static str],
) -> Option<(&'static str, &'a Value)> {
    names.iter().find_map(|n| obj.get(*n).map(|v| (*n, v)))
}

/// `generateContent` body rooted at `base` (the root, or `generateContentRequest` for `countTokens`).
pub(crate) fn walk_generate(
    obj: &Map<String, Value>,
    base: &JsonPath,
    c: &mut Collector,
) -> Result<(), ApiError> {
    if let Some((k, sys)) = field(obj, &["systemInstruction", "system_instruction"]) {
        let sp = base.key(k);
        match sys {
            Value::Null => {}
            Value::Object(o) => parts_of(o, &sp, Source::System, None, c)?,
            _ => return Err(wrong(&sp, "a Content object")),
        }
    }
    let cp = base.key("contents");
    match obj.get("contents") {
        None => {
            return Err(ApiError::MissingField {
                field: cp.to_pointer(),
            })
        }
        Some(Value::Array(contents)) => {
            for (i, content) in contents.iter().enumerate() {
                let at = cp.index(i);
                let o = as_object(content, &at)?;
                let source = Source::from_role(opt_str(o, "role", &at)?.or(Some("user")));
                parts_of(o, &at, source, Some(i), c)?;
            }
        }
        Some(_) => return Err(wrong(&cp, "an array of Content objects")),
    }
    Ok(())
}

/// `countTokens`: either `contents` at the root or a nested `generateContentRequest`.
pub(crate) fn walk_count_tokens(
    root: &Map<String, Value>,
    c: &mut Collector,
) -> Result<(), ApiError> {
    if let Some((k, req)) = field(
        root,
        &["generateContentRequest", "generate_content_request"],
    ) {
        let rp = JsonPath::root().key(k);
        walk_generate(as_object(req, &rp)?, &rp, c)?;
        if root.contains_key("contents") {
            return Err(wrong(
                &JsonPath::root().key("contents"),
                "absent when generateContentRequest is set",
            ));
        }
        return Ok(());
    }
    walk_generate(root, &JsonPath::root(), c)
}

fn parts_of(
    content: &Map<String, Value>,
    at: &JsonPath,
    source: Source,
    msg: Option<usize>,
    c: &mut Collector,
) -> Result<(), ApiError> {
    let pp = at.key("parts");
    let parts = match content.get("parts") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(p)) => p,
        Some(_) => return Err(wrong(&pp, "an array of Part objects")),
    };
    for (k, part) in parts.iter().enumerate() {
        let at = pp.index(k);
        let obj = as_object(part, &at)?;
        let mut known = false;
        if obj.contains_key("text") {
            c.req_text_field(obj, "text", &at, source, msg)?;
            known = true;
        }
        if let Some((_, _)) = field(obj, &["inlineData", "inline_data"]) {
            c.opaque(at.clone(), source, OpaqueKind::InlineData, msg);
            known = true;
        }
        if let Some((_, _)) = field(obj, &["fileData", "file_data"]) {
            c.opaque(at.clone(), source, OpaqueKind::File, msg);
            known = true;
        }
        if let Some((key, f)) = field(obj, &["functionCall", "function_call"]) {
            let fp = at.key(key);
            let f = as_object(f, &fp)?;
            if let Some(args) = f.get("args") {
                c.string_leaves(args, fp.key("args"), Source::ToolCall, msg);
            }
            known = true;
        }
        if let Some((key, f)) = field(obj, &["functionResponse", "function_response"]) {
            let fp = at.key(key);
            let f = as_object(f, &fp)?;
            if let Some(resp) = f.get("response") {
                c.string_leaves(resp, fp.key("response"), Source::ToolResult, msg);
            }
            if f.contains_key("parts") {
                // Multimodal function responses carry inline media.
                c.opaque(
                    fp.key("parts"),
                    Source::ToolResult,
                    OpaqueKind::InlineData,
                    msg,
                );
            }
            known = true;
        }
        if let Some((key, f)) = field(obj, &["executableCode", "executable_code"]) {
            let fp = at.key(key);
            c.opt_text_field(as_object(f, &fp)?, "code", &fp, Source::Assistant, msg)?;
            known = true;
        }
        if let Some((key, f)) = field(obj, &["codeExecutionResult", "code_execution_result"]) {
            let fp = at.key(key);
            c.opt_text_field(as_object(f, &fp)?, "output", &fp, Source::ToolResult, msg)?;
            known = true;
        }
        if !known {
            c.opaque(at, source, OpaqueKind::Unknown, msg);
        }
    }
    Ok(())
}

/// Rewrite the model of a Gemini path (`/v1beta/models/{model}:{verb}[?query]`), keeping version, verb and query.
/// Returns `None` if `path` is not a Gemini model path or `new_model` is not a plausible path segment.
pub fn rewrite_model_path(path: &str, new_model: &str) -> Option<String> {
    if new_model.is_empty()
        || !new_model
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'%' | b'?' | b'#' | b':'))
    {
        return None;
    }
    let (p, query) = match path.find('?') {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    let prefix = ["/v1beta/models/", "/v1/models/"]
        .into_iter()
        .find(|pre| p.starts_with(pre))?;
    let rest = &p[prefix.len()..];
    let (_, verb) = rest.rsplit_once(':')?;
    Some(format!("{prefix}{new_model}:{verb}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_path_keeps_version_verb_query() {
        assert_eq!(
            rewrite_model_path(
                "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
                "gemini-2.0-flash"
            )
            .as_deref(),
            Some("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse")
        );
        assert_eq!(
            rewrite_model_path("/v1/models/a:generateContent", "b").as_deref(),
            Some("/v1/models/b:generateContent")
        );
        assert_eq!(rewrite_model_path("/v1/chat/completions", "b"), None);
        assert_eq!(
            rewrite_model_path("/v1beta/models/a:generateContent", "x/y"),
            None
        );
        assert_eq!(
            rewrite_model_path("/v1beta/models/a:generateContent", ""),
            None
        );
    }
}
