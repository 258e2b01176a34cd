//! The parsed form of a request body: user-controlled text segments with their JSON locations, and the rebuild
//! back to bytes. Format-specific walking lives in `openai.rs`, `anthropic.rs` and `gemini.rs`.
//!
//! Inspection covers the whole body, not only the segments a policy can rewrite: [`ParsedRequest::other_texts`]
//! gathers every other string and every object key (structured-output schemas, legacy `functions`, unknown fields,
//! `mcp_servers` tokens, …) and the text inside base64 or `data:` payloads whose bytes are UTF-8 (a `text/plain`
//! file part), so nothing the client wrote reaches a destination unread.
//!
//! Must never copy segment text out of the body (the scanner reads it in place through [`ParsedRequest::texts`]),
//! keep the gathered other texts beyond the inspection that asked for them, or show any of it in `Debug` output.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::classify::{Endpoint, WireFormat};
use super::path::JsonPath;
use super::splice;
use super::ApiError;

/// Who (or what) supplied a segment's text. Policies may treat sources differently (e.g. scan tool results harder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// System / developer prompt, Responses `instructions`, Gemini `systemInstruction`.
    System,
    /// A user turn.
    User,
    /// An earlier assistant / model turn sent back as history.
    Assistant,
    /// Tool or function call arguments (model-written, echoed back by the client).
    ToolCall,
    /// Tool or function results (client-side data, often the most sensitive).
    ToolResult,
    /// Embeddings input.
    EmbeddingInput,
    /// A message whose role is absent or not one the format defines; policies should treat it like `User`.
    Unspecified,
}

impl Source {
    /// A stable snake_case name for logs, metrics and policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::System => "system",
            Source::User => "user",
            Source::Assistant => "assistant",
            Source::ToolCall => "tool_call",
            Source::ToolResult => "tool_result",
            Source::EmbeddingInput => "embedding_input",
            Source::Unspecified => "unspecified",
        }
    }

    /// Map a chat role name (any format) to a source.
    pub(crate) fn from_role(role: Option<&str>) -> Source {
        match role {
            Some("system") | Some("developer") => Source::System,
            Some("user") => Source::User,
            Some("assistant") | Some("model") => Source::Assistant,
            Some("tool") | Some("function") => Source::ToolResult,
            _ => Source::Unspecified,
        }
    }
}

/// The kind of a non-text part. Opaque parts carry no content in the segment list; their location lets a policy
/// block or strip them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpaqueKind {
    /// An image (URL or inline base64).
    Image,
    /// Audio input.
    Audio,
    /// A file reference or inline file data (PDFs and other uploads).
    File,
    /// A document block whose source is not plain text (e.g. base64 PDF, URL).
    Document,
    /// Gemini `inlineData` (any MIME type).
    InlineData,
    /// Pre-tokenised input (arrays of token ids).
    TokenArray,
    /// Signed or encrypted model output sent back as history (thinking blocks, reasoning items): altering it would
    /// break the provider's signature check.
    Signed,
    /// A part whose type this module does not know. Fail closed: a policy should block or strip it.
    Unknown,
}

impl OpaqueKind {
    /// A stable snake_case name for logs, metrics and policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            OpaqueKind::Image => "image",
            OpaqueKind::Audio => "audio",
            OpaqueKind::File => "file",
            OpaqueKind::Document => "document",
            OpaqueKind::InlineData => "inline_data",
            OpaqueKind::TokenArray => "token_array",
            OpaqueKind::Signed => "signed",
            OpaqueKind::Unknown => "unknown",
        }
    }
}

/// Text or opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// A JSON string whose content is user-controlled text; the location points at that string.
    Text,
    /// A non-text part; the location points at the part (object or array).
    Opaque(OpaqueKind),
}

/// One user-controlled piece of a request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Where it is in the body. For text, the location of a JSON string.
    pub path: JsonPath,
    /// Who supplied it.
    pub source: Source,
    /// Text or opaque.
    pub kind: SegmentKind,
    /// Index of the message / content / input item it belongs to, when the format has such a list.
    pub message: Option<usize>,
}

impl SegmentKind {
    /// `text`, or the opaque kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKind::Text => "text",
            SegmentKind::Opaque(k) => k.as_str(),
        }
    }
}

impl Segment {
    /// Whether this segment is text.
    pub fn is_text(&self) -> bool {
        self.kind == SegmentKind::Text
    }
}

/// A parsed request: the body as a `serde_json::Value` (key order preserved) plus its segments.
///
/// `Debug` prints the segment structure only, never the body.
#[derive(Clone)]
pub struct ParsedRequest {
    format: WireFormat,
    value: Value,
    segments: Vec<Segment>,
    model: Option<String>,
    stream: bool,
    /// Locations rewritten since parsing, in order (the splice rebuild writes these values over the originals).
    edited: Vec<JsonPath>,
    /// The model was set on a body that had no `model` member: the rebuild appends it to the root object.
    model_appended: bool,
}

impl std::fmt::Debug for ParsedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedRequest")
            .field("format", &self.format)
            .field("segments", &self.segments.len())
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// Collects segments while a format module walks a body.
#[derive(Default)]
pub(crate) struct Collector {
    pub(crate) segments: Vec<Segment>,
}

impl Collector {
    pub(crate) fn text(&mut self, path: JsonPath, source: Source, message: Option<usize>) {
        self.segments.push(Segment {
            path,
            source,
            kind: SegmentKind::Text,
            message,
        });
    }

    pub(crate) fn opaque(
        &mut self,
        path: JsonPath,
        source: Source,
        kind: OpaqueKind,
        message: Option<usize>,
    ) {
        self.segments.push(Segment {
            path,
            source,
            kind: SegmentKind::Opaque(kind),
            message,
        });
    }

    /// Every string leaf of an arbitrary JSON value (tool-call inputs, function responses) as a text segment.
    /// Object keys are not segments. Depth is bounded by serde_json's recursion limit at parse time.
    pub(crate) fn string_leaves(
        &mut self,
        v: &Value,
        path: JsonPath,
        source: Source,
        message: Option<usize>,
    ) {
        match v {
            Value::String(_) => self.text(path, source, message),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.string_leaves(x, path.index(i), source, message);
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    self.string_leaves(x, path.key(k.clone()), source, message);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// A field that must be a string when present (null allowed): adds a text segment.
    pub(crate) fn opt_text_field(
        &mut self,
        obj: &Map<String, Value>,
        key: &'static str,
        at: &JsonPath,
        source: Source,
        message: Option<usize>,
    ) -> Result<(), ApiError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(_)) => {
                self.text(at.key(key), source, message);
                Ok(())
            }
            Some(_) => Err(wrong(&at.key(key), "a string")),
        }
    }

    /// A field that must be a string (present).
    pub(crate) fn req_text_field(
        &mut self,
        obj: &Map<String, Value>,
        key: &'static str,
        at: &JsonPath,
        source: Source,
        message: Option<usize>,
    ) -> Result<(), ApiError> {
        match obj.get(key) {
            None => Err(ApiError::MissingField {
                field: at.key(key).to_pointer(),
            }),
            Some(Value::String(_)) => {
                self.text(at.key(key), source, message);
                Ok(())
            }
            Some(_) => Err(wrong(&at.key(key), "a string")),
        }
    }
}

/// A wrong-type error at `at`.
pub(crate) fn wrong(at: &JsonPath, expected: &'static str) -> ApiError {
    ApiError::WrongType {
        field: at.to_pointer(),
        expected,
    }
}

/// The value at `at` as an object.
pub(crate) fn as_object<'a>(
    v: &'a Value,
    at: &JsonPath,
) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| wrong(at, "an object"))
}

/// An optional string field (null allowed).
pub(crate) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &'static str,
    at: &JsonPath,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong(&at.key(key), "a string")),
    }
}

/// A required array field.
pub(crate) fn req_array<'a>(
    obj: &'a Map<String, Value>,
    key: &'static str,
    at: &JsonPath,
) -> Result<&'a Vec<Value>, ApiError> {
    match obj.get(key) {
        None => Err(ApiError::MissingField {
            field: at.key(key).to_pointer(),
        }),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(wrong(&at.key(key), "an array")),
    }
}

/// Parse a request body of `format`. The model is read from the body (`None` for Gemini, whose model is in the
/// path: use [`parse_for`] to get it from the [`Endpoint`]); `stream` from the body's `stream` field.
pub fn parse(format: WireFormat, body: &[u8]) -> Result<ParsedRequest, ApiError> {
    if !format.has_body() {
        return Err(ApiError::NoBody);
    }
    // Validate UTF-8 once up front (SIMD; std's validator, only on failure, gives the offset for a clear error);
    // `from_str` then skips re-validation.
    let text = simdutf8::basic::from_utf8(body).map_err(|_| ApiError::InvalidUtf8 {
        offset: std::str::from_utf8(body).map_or_else(|e| e.valid_up_to(), |s| s.len()),
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| ApiError::from_json(&e))?;
    parse_value(format, value)
}

/// Every string in `v` (object keys excluded), in document order. Depth is bounded by the parser's recursion limit.
fn string_leaves<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| string_leaves(x, out)),
        Value::Object(m) => m.values().for_each(|x| string_leaves(x, out)),
        _ => {}
    }
}

/// Whether two locations are the `text` of two parts of one content-part array (`…/content/0/text`,
/// `…/content/2/text`; Gemini `…/parts/1/text`, Anthropic `system/0/text`). Two messages' string `content`
/// (`messages/0/content`, `messages/1/content`) are two turns, not two parts of one: never a seam.
fn sibling_parts(a: &JsonPath, b: &JsonPath) -> bool {
    use super::path::PathStep;
    let (a, b) = (a.steps(), b.steps());
    let n = a.len();
    n >= 2
        && b.len() == n
        && matches!(&a[n - 1], PathStep::Key(k) if k == "text")
        && a[n - 1] == b[n - 1]
        && a[..n - 2] == b[..n - 2]
        && matches!((&a[n - 2], &b[n - 2]), (PathStep::Index(i), PathStep::Index(j)) if i < j)
}

/// What [`ParsedRequest::other_texts`] found to inspect.
#[derive(Debug, Default)]
pub struct OtherTexts<'a> {
    /// The texts: the body's other strings, keys and numbers joined into one, then each decoded payload.
    pub texts: Vec<std::borrow::Cow<'a, str>>,
    /// Indices into [`ParsedRequest::segments`] of opaque parts (files, documents, inline data) whose inline payload
    /// decoded to UTF-8 text, which is among `texts`: they were inspected, not forwarded unread.
    pub read_parts: Vec<usize>,
}

/// A base64 string longer than this is a payload (an image, a file), not a token: [`ParsedRequest::other_texts`]
/// inspects only its decoded text.
const MAX_RAW_BASE64: usize = 1024;

/// Whether `s` looks like standard base64: at least 24 bytes of its alphabet, padded to a multiple of four (line
/// breaks allowed, as MIME writes them).
fn base64_like(s: &str) -> bool {
    let body = s.trim_end_matches('\n');
    let n = body.bytes().filter(|&c| c != b'\n').count();
    n >= 24
        && n % 4 == 0
        && body
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'\n'))
}

/// The payload of a `data:` URI and whether it is base64 (`data:text/plain;base64,SGVsbG8=` → `SGVsbG8=`, `true`),
/// or `None` for other strings.
fn data_uri_payload(s: &str) -> Option<(&str, bool)> {
    let rest = s.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    (meta.len() <= 256 && !meta.contains(char::is_whitespace))
        .then(|| (payload, meta.ends_with(";base64")))
}

/// Whether a `data:` URI's media type is binary (images, audio, video, PDF, octet streams): its payload is not
/// decoded.
fn binary_media(s: &str) -> bool {
    let meta = s.strip_prefix("data:").unwrap_or_default();
    [
        "image/",
        "audio/",
        "video/",
        "application/pdf",
        "application/octet-stream",
    ]
    .iter()
    .any(|m| meta.starts_with(m))
}

/// The text a base64 payload decodes to, when it decodes and the bytes are UTF-8.
fn base64_text(payload: &str) -> Option<std::borrow::Cow<'static, str>> {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    // Sniff the first kilobyte before decoding a large payload: binary bytes show at once.
    let head = &payload[..payload.len().min(1024) / 4 * 4];
    if head.len() < payload.len() && !head.contains('\n') {
        let bytes = b64.decode(head).ok()?;
        if std::str::from_utf8(&bytes).is_err_and(|e| e.error_len().is_some()) {
            return None;
        }
    }
    let compact: String = payload.split('\n').collect();
    let bytes = b64.decode(compact).ok()?;
    String::from_utf8(bytes).ok().map(std::borrow::Cow::Owned)
}

/// The start of the parse error for a duplicate object key ([`ApiError::from_json`] maps it to
/// [`ApiError::DuplicateKey`]).
pub(crate) const DUPLICATE_KEY: &str = "duplicate object key";

/// Deserialises a [`Value`] exactly as `Value`'s own `Deserialize` does, except that an object with the same key
/// twice is an error instead of "last one wins". Recursion depth stays bounded by serde_json's limit.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(StrictValue)?;
            if out.insert(k, v).is_some() {
                // The key itself is not quoted: keys of tool inputs are content.
                return Err(A::Error::custom(DUPLICATE_KEY));
            }
        }
        Ok(Value::Object(out))
    }
}

/// [`parse`] for a classified endpoint: Gemini's model and stream flag come from the path.
pub fn parse_for(endpoint: &Endpoint, body: &[u8]) -> Result<ParsedRequest, ApiError> {
    let mut p = parse(endpoint.format, body)?;
    if matches!(
        endpoint.format,
        WireFormat::GeminiGenerateContent | WireFormat::GeminiCountTokens
    ) {
        p.model = endpoint.path_model.clone();
        p.stream = endpoint.path_stream;
    }
    Ok(p)
}

/// [`parse`] from an already-decoded value (used by translation and tests).
pub fn parse_value(format: WireFormat, value: Value) -> Result<ParsedRequest, ApiError> {
    let root = value.as_object().ok_or(ApiError::NotAnObject)?;
    let mut c = Collector::default();
    match format {
        WireFormat::OpenAiChat => super::openai::walk_chat(root, &mut c)?,
        WireFormat::OpenAiResponses
        | WireFormat::OpenAiResponsesCompact
        | WireFormat::OpenAiResponsesInputTokens => super::openai::walk_responses(root, &mut c)?,
        WireFormat::OpenAiEmbeddings => super::openai::walk_embeddings(root, &mut c)?,
        WireFormat::AnthropicMessages | WireFormat::AnthropicCountTokens => {
            super::anthropic::walk_messages(root, &mut c)?
        }
        WireFormat::GeminiGenerateContent => {
            super::gemini::walk_generate(root, &JsonPath::root(), &mut c)?
        }
        WireFormat::GeminiCountTokens => super::gemini::walk_count_tokens(root, &mut c)?,
        WireFormat::ModelsList | WireFormat::OpenAiResponseState => return Err(ApiError::NoBody),
    }
    let gemini = matches!(
        format,
        WireFormat::GeminiGenerateContent | WireFormat::GeminiCountTokens
    );
    let model = if gemini {
        None
    } else {
        opt_str(root, "model", &JsonPath::root())?.map(str::to_owned)
    };
    let stream = if gemini {
        false
    } else {
        match root.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(wrong(&JsonPath::root().key("stream"), "a boolean")),
        }
    };
    Ok(ParsedRequest {
        format,
        value,
        segments: c.segments,
        model,
        stream,
        edited: Vec::new(),
        model_appended: false,
    })
}

impl ParsedRequest {
    /// The wire format.
    pub fn format(&self) -> WireFormat {
        self.format
    }

    /// All segments, text and opaque, in document order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The requested model (body field; for Gemini the path's model when parsed with [`parse_for`]).
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Whether a streamed response was requested.
    pub fn stream(&self) -> bool {
        self.stream
    }

    /// The text of segment `index` (`None` for opaque or unknown indices).
    pub fn text(&self, index: usize) -> Option<&str> {
        let seg = self.segments.get(index)?;
        if !seg.is_text() {
            return None;
        }
        seg.path.get(&self.value)?.as_str()
    }

    /// Every text segment with its index and text, in document order (what the scanner runs over).
    pub fn texts(&self) -> impl Iterator<Item = (usize, &Segment, &str)> + '_ {
        self.segments.iter().enumerate().filter_map(|(i, s)| {
            if s.is_text() {
                Some((i, s, s.path.get(&self.value)?.as_str()?))
            } else {
                None
            }
        })
    }

    /// Client text that is inspected but is not a replaceable segment: the readable text of signed parts (Anthropic
    /// `thinking` blocks, OpenAI Responses `reasoning` summaries: their signature covers them, so they can be
    /// blocked or routed, never rewritten), end-user identifiers the APIs invite (`user`, `safety_identifier`,
    /// `metadata` values, Anthropic `metadata.user_id`), which are often e-mail addresses, participant `name`s of
    /// chat messages, tool descriptions (OpenAI `tools[].function.description`, Anthropic `tools[].description`),
    /// `stop` sequences and Gemini `labels` values.
    pub fn read_only_texts(&self) -> impl Iterator<Item = &str> + '_ {
        let signed = self
            .segments
            .iter()
            .filter(|s| s.kind == SegmentKind::Opaque(OpaqueKind::Signed))
            .filter_map(|s| s.path.get(&self.value)?.as_object())
            .flat_map(|part| {
                let thinking = part.get("thinking").and_then(Value::as_str);
                let summary = part
                    .get("summary")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.get("text")?.as_str());
                thinking.into_iter().chain(summary)
            });
        let root = self.value.as_object();
        let field = |k: &str| root.and_then(|r| r.get(k)).and_then(Value::as_str);
        let values = |k: &str| {
            root.and_then(|r| r.get(k))
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values().filter_map(Value::as_str))
        };
        let items = |k: &str| {
            root.and_then(|r| r.get(k))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        };
        let names = items("messages").filter_map(|m| m.get("name")?.as_str());
        let tools = items("tools").filter_map(|t| {
            t.get("description")
                .or_else(|| t.get("function")?.get("description"))?
                .as_str()
        });
        // Tool parameter schemas (OpenAI `function.parameters` / Responses `parameters`, Anthropic `input_schema`,
        // Gemini `functionDeclarations[]`): every string in them (descriptions, enum values, titles, examples,
        // defaults) is text the client wrote.
        let mut schema_strings = Vec::new();
        for t in items("tools") {
            let schemas = [
                t.get("parameters"),
                t.get("input_schema"),
                t.get("function").and_then(|f| f.get("parameters")),
                t.get("functionDeclarations"),
                t.get("function_declarations"),
            ];
            for s in schemas.into_iter().flatten() {
                string_leaves(s, &mut schema_strings);
            }
        }
        let stop = field("stop")
            .into_iter()
            .chain(items("stop").filter_map(Value::as_str));
        signed
            .chain(field("user"))
            .chain(field("safety_identifier"))
            .chain(values("metadata"))
            .chain(names)
            .chain(tools)
            .chain(schema_strings)
            .chain(stop)
            .chain(values("labels"))
    }

    /// Every string of the body that neither [`Self::texts`] nor [`Self::read_only_texts`] yields, every object
    /// key and every number (as its decimal text; an integer beyond 64 bits has been read as a float, so its
    /// trailing digits are not there to inspect), so that inspection reads all the client wrote exactly once (the top-level `model` is left out: the
    /// gateway inspects it as a label): JSON schemas for structured output
    /// (`response_format`, `text.format`, `output_format`, `responseSchema`), legacy `functions`, fields and part
    /// types this module does not know, `mcp_servers` tokens, search results. They are joined into one text, one
    /// blank line between them (one scan instead of one per key). A base64 string (standard alphabet, 24 bytes or
    /// more) or the payload of a `data:` URI is decoded, and the decoded bytes are inspected when they are UTF-8
    /// (a text file sent as `file_data` or `inlineData`); undecodable or binary payloads (images, audio, PDFs,
    /// encrypted reasoning, signatures) are not text, and a base64 string longer than 1 KiB is not read as text
    /// either (a key or token is shorter).
    pub fn other_texts(&self) -> OtherTexts<'_> {
        use std::borrow::Cow;
        let model = self.value.get("model").and_then(Value::as_str);
        // Addresses of the strings already scanned elsewhere, sorted for a binary search (a handful per request:
        // cheaper than hashing every string of the body).
        let mut covered: Vec<*const u8> = self
            .texts()
            .map(|(_, _, t)| t)
            .chain(self.read_only_texts())
            .chain(model)
            .filter(|t| !t.is_empty())
            .map(str::as_ptr)
            .collect();
        covered.sort_unstable();
        use std::fmt::Write as _;
        let mut joined = String::new();
        let mut decoded = Vec::new();
        // The strings whose payload was read as text, to tell which opaque parts were inspected after all.
        let mut read_as_text: std::collections::HashSet<*const u8> =
            std::collections::HashSet::new();
        let mut number = String::new();
        let mut push = |t: &str| {
            if !t.is_empty() {
                if !joined.is_empty() {
                    joined.push_str("\n\n");
                }
                joined.push_str(t);
            }
        };
        let mut stack = vec![&self.value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s)
                    if !s.is_empty() && covered.binary_search(&s.as_ptr()).is_err() =>
                {
                    match data_uri_payload(s) {
                        // `data:text/plain,Hello`: the payload is the text.
                        Some((payload, false)) => {
                            push(payload);
                            read_as_text.insert(s.as_ptr());
                        }
                        Some((_, true)) if binary_media(s) => {}
                        Some((payload, true)) => {
                            if let Some(text) = base64_text(payload) {
                                decoded.push(text);
                                read_as_text.insert(s.as_ptr());
                            }
                        }
                        None => {
                            let b64 = base64_like(s);
                            if s.len() <= MAX_RAW_BASE64 || !b64 {
                                push(s);
                            }
                            if let Some(text) = b64.then(|| base64_text(s)).flatten() {
                                decoded.push(text);
                                read_as_text.insert(s.as_ptr());
                            }
                        }
                    }
                }
                Value::Array(a) => stack.extend(a.iter().rev()),
                Value::Object(m) => {
                    for (k, x) in m.iter().rev() {
                        stack.push(x);
                        push(k);
                    }
                }
                // A number is client data too: a tool result `{"rrn": 8503141308025}` or a function call's
                // `card_number` argument sent unquoted. Its decimal text is what the scanner reads.
                Value::Number(n) => {
                    number.clear();
                    let _ = write!(number, "{n}");
                    push(&number);
                }
                _ => {}
            }
        }
        let mut texts = Vec::with_capacity(decoded.len() + 1);
        if !joined.is_empty() {
            texts.push(Cow::Owned(joined));
        }
        texts.extend(decoded);
        // An inline file, document or media part whose payload decoded to text has been read like any text.
        let read_parts = if read_as_text.is_empty() {
            Vec::new()
        } else {
            let mut leaves = Vec::new();
            self.segments
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    matches!(
                        s.kind,
                        SegmentKind::Opaque(
                            OpaqueKind::File
                                | OpaqueKind::Document
                                | OpaqueKind::InlineData
                                | OpaqueKind::Image
                                | OpaqueKind::Audio
                        )
                    )
                })
                .filter(|(_, s)| {
                    leaves.clear();
                    if let Some(v) = s.path.get(&self.value) {
                        string_leaves(v, &mut leaves);
                    }
                    leaves.iter().any(|l| read_as_text.contains(&l.as_ptr()))
                })
                .map(|(i, _)| i)
                .collect()
        };
        OtherTexts { texts, read_parts }
    }

    /// Pairs of adjacent text parts of one content array (`content[0].text` then `content[1].text`, Gemini
    /// `parts`, Anthropic `system` blocks): the model reads them one after the other, so a number split across two
    /// parts (`"850314-"`, `"1308025"`) is still that number. Inspection scans each seam as well as each part.
    pub fn text_seams(&self) -> Vec<(&str, &str)> {
        // One pass, no allocation unless there is a seam (string `content` has none: the common request).
        let mut seams = Vec::new();
        let mut prev: Option<(&JsonPath, &str)> = None;
        for (_, seg, text) in self.texts() {
            // An empty part sits between two others without separating them.
            if text.is_empty() {
                continue;
            }
            if let Some((path, before)) = prev {
                if sibling_parts(path, &seg.path) {
                    seams.push((before, text));
                }
            }
            prev = Some((&seg.path, text));
        }
        seams
    }

    /// The whole body as a value (read-only; translation seam).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Consume into the body value.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// Replace the text of segment `index` in place. Other segments stay valid (their locations do not move).
    pub fn replace_text(&mut self, index: usize, new: impl Into<String>) -> Result<(), ApiError> {
        let seg = self
            .segments
            .get(index)
            .ok_or(ApiError::NoSuchSegment { index })?;
        if !seg.is_text() {
            return Err(ApiError::OpaqueSegment { index });
        }
        match seg.path.get_mut(&mut self.value) {
            Some(Value::String(s)) => {
                *s = new.into();
                self.edited.push(seg.path.clone());
                Ok(())
            }
            _ => Err(ApiError::StaleSegment { index }),
        }
    }

    /// Apply many replacements `(segment index, new text)`; stops at the first error.
    pub fn apply<I, S>(&mut self, replacements: I) -> Result<(), ApiError>
    where
        I: IntoIterator<Item = (usize, S)>,
        S: Into<String>,
    {
        for (i, s) in replacements {
            self.replace_text(i, s)?;
        }
        Ok(())
    }

    /// Set the body's `model` field (model mapping). Replaces in place (order kept) or appends if absent. Gemini
    /// carries the model in the path: returns [`ApiError::ModelInPath`]; use [`crate::api::gemini::rewrite_model_path`].
    pub fn set_model(&mut self, model: &str) -> Result<(), ApiError> {
        if matches!(
            self.format,
            WireFormat::GeminiGenerateContent | WireFormat::GeminiCountTokens
        ) {
            return Err(ApiError::ModelInPath);
        }
        let obj = self.value.as_object_mut().ok_or(ApiError::NotAnObject)?;
        let existed = obj
            .insert("model".to_owned(), Value::String(model.to_owned()))
            .is_some();
        if existed {
            self.edited.push(JsonPath::root().key("model"));
        } else {
            self.model_appended = true;
        }
        self.model = Some(model.to_owned());
        Ok(())
    }

    /// Whether a segment or the model was rewritten since [`parse`]. While it is `false`, the body's original bytes
    /// mean exactly this value ([`parse`] refuses duplicate keys) and can be forwarded as they are, without
    /// re-serialising.
    pub fn is_modified(&self) -> bool {
        !self.edited.is_empty() || self.model_appended
    }

    /// The body to forward: `original` (the bytes this request was parsed from) with each rewritten value
    /// spliced in at its location and an added `model` member appended. Every byte outside the rewritten values
    /// stays as the client wrote it: numbers keep their spelling and precision (`18446744073709551616`, `1E0`,
    /// `-0`), escapes, whitespace and key order are untouched. Unmodified: `original` itself.
    ///
    /// If `original` is not the text this value was parsed from (a caller error), the value is re-serialised
    /// instead ([`Self::to_json`]), which is the same JSON up to number spelling.
    pub fn to_body(&self, original: &[u8]) -> Vec<u8> {
        if !self.is_modified() {
            return original.to_vec();
        }
        let Ok(text) = std::str::from_utf8(original) else {
            return self.to_json();
        };
        let edits: Option<Vec<splice::Edit<'_>>> = self
            .edited
            .iter()
            .map(|path| {
                path.get(&self.value)
                    .map(|value| splice::Edit { path, value })
            })
            .collect();
        let model = self.model_appended.then(|| ("model", &self.value["model"]));
        match edits.map(|e| splice::splice(text, &e, model)) {
            Some(Ok(body)) => body,
            _ => {
                debug_assert!(
                    false,
                    "splice failed on the body this request was parsed from"
                );
                self.to_json()
            }
        }
    }

    /// The (possibly rewritten) value serialised afresh: compact JSON, keys in their original order, numbers in
    /// `serde_json`'s spelling. For bodies that have no original bytes ([`parse_value`], translation).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising a `Value` cannot fail (string keys, finite numbers); fall back to an empty body, which
        // upstream rejects, rather than panic.
        serde_json::to_vec(&self.value).unwrap_or_default()
    }
}
