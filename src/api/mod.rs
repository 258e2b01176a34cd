//! Wire formats of the LLM APIs Haetae fronts: OpenAI (Chat Completions, Responses, Embeddings), Anthropic
//! Messages and Gemini `generateContent`.
//!
//! What this module is for:
//! - [`classify`] maps a request line (method + path) to an [`Endpoint`];
//! - [`parse`] turns a request body into the list of user-controlled text [`Segment`]s (plus opaque parts such as
//!   images) with their JSON locations, the requested model and the stream flag;
//! - [`ParsedRequest::replace_text`] / [`ParsedRequest::set_model`] / [`ParsedRequest::to_body`] rebuild the body
//!   by splicing the rewritten values into the original bytes: every other byte (unknown fields, their order,
//!   number spellings such as `1E0` or integers past `u64`) stays as the client wrote it;
//! - [`errors`] renders error bodies and SSE error events in each API's own shape;
//! - [`sse`] frames a server-sent-event stream while keeping each event's raw bytes; [`usage`] reads token counts.
//!
//! What it must never do: decide policy (it reports, the caller decides), do I/O, or put request content in an
//! error message, a `Debug` line or a log (errors name positions and field names only).
//!
//! Fail-closed contract for callers: a request whose path [`classify`] does not know, or whose body [`parse`]
//! rejects, must not be forwarded unscanned. [`parse`] refuses bodies with duplicate object keys (the one thing
//! JSON parsers resolve differently: first wins, last wins, or error), so an accepted body means exactly the value
//! that was scanned. The proxy forwards the original bytes while [`ParsedRequest::is_modified`] is false, and the
//! bytes of [`ParsedRequest::to_body`] once a segment or the model was rewritten.
//!
//! Seams for later work (not built here):
//! - *Anthropic ⇄ OpenAI translation* for domestic endpoints: a `translate` module maps a parsed
//!   [`ParsedRequest::value`] of one [`WireFormat`] to the JSON of another and re-runs [`parse`] on the result, so
//!   segments are always computed from the body actually sent; responses translate event by event on top of
//!   [`sse::SseFramer`].
//! - *Stream rehydration* of pseudonyms split across SSE events: see the module doc of [`sse`].

pub mod anthropic;
pub mod errors;
pub mod gemini;
pub mod openai;
pub mod sse;
pub mod usage;

mod classify;
mod path;
mod request;
mod splice;

pub use classify::{
    canonical_path, classify, classify_bytes, escaped_id, stored_response_id, ApiFamily, Endpoint,
    WireFormat,
};
pub use errors::ErrorKind;
pub use path::{JsonPath, PathStep};
pub use request::{
    parse, parse_for, parse_value, OpaqueKind, OtherTexts, ParsedRequest, Segment, SegmentKind,
    Source,
};

/// Errors of the `api` module. Messages name positions and field names only, never body content.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The body is not valid UTF-8.
    #[error("request body is not valid UTF-8 (first invalid byte at offset {offset})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The body is not valid JSON.
    #[error("request body is not valid JSON ({reason} at line {line}, column {column})")]
    InvalidJson {
        /// Category of the failure (`syntax error`, `unexpected end of input`, ...).
        reason: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An object in the body has the same key twice. Parsers disagree on which one counts (first, last, error), so
    /// the gateway refuses to guess: the scanner and the destination must read the same value.
    #[error("request body is ambiguous: an object has a duplicate key (at line {line}, column {column})")]
    DuplicateKey {
        /// 1-based line of the second occurrence's value.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The top-level JSON value is not an object.
    #[error("request body must be a JSON object")]
    NotAnObject,
    /// A field the format requires is absent.
    #[error("missing required field `{field}`")]
    MissingField {
        /// JSON Pointer of the missing field.
        field: String,
    },
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// JSON Pointer of the offending field (built from known field names and indices).
        field: String,
        /// What was expected, e.g. `a string or an array`.
        expected: &'static str,
    },
    /// A replacement named a segment index that does not exist.
    #[error("no segment with index {index}")]
    NoSuchSegment {
        /// The index given.
        index: usize,
    },
    /// A replacement named an opaque segment (no text to replace).
    #[error("segment {index} is opaque and has no text to replace")]
    OpaqueSegment {
        /// The index given.
        index: usize,
    },
    /// A segment's location no longer resolves to a string (the value was modified behind the parser's back).
    #[error("segment {index} no longer points at a string")]
    StaleSegment {
        /// The index given.
        index: usize,
    },
    /// The model of this format is carried in the URL path, not the body.
    #[error("the model of this API is carried in the request path; rewrite the path instead")]
    ModelInPath,
    /// The endpoint carries no request body to parse (e.g. a models listing).
    #[error("this endpoint has no request body to parse")]
    NoBody,
}

impl ApiError {
    /// The error kind to answer the client with: body problems are the client's (`InvalidRequest`); misuse of the
    /// rebuild API is a gateway bug (`Internal`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::InvalidUtf8 { .. }
            | ApiError::InvalidJson { .. }
            | ApiError::DuplicateKey { .. }
            | ApiError::NotAnObject
            | ApiError::MissingField { .. }
            | ApiError::WrongType { .. }
            | ApiError::NoBody => ErrorKind::InvalidRequest,
            ApiError::NoSuchSegment { .. }
            | ApiError::OpaqueSegment { .. }
            | ApiError::StaleSegment { .. }
            | ApiError::ModelInPath => ErrorKind::Internal,
        }
    }

    /// Build an [`ApiError::InvalidJson`] from a serde_json error without quoting any input.
    pub(crate) fn from_json(e: &serde_json::Error) -> Self {
        if e.classify() == serde_json::error::Category::Data
            && e.to_string().starts_with(request::DUPLICATE_KEY)
        {
            return ApiError::DuplicateKey {
                line: e.line(),
                column: e.column(),
            };
        }
        // serde_json has no error codes; its messages for these two start with fixed text (and never quote input).
        let message = e.to_string();
        let reason = match e.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax
                if message.starts_with("recursion limit exceeded") =>
            {
                "nesting deeper than the parser's limit of 128 levels"
            }
            // (serde_json reports a leading surrogate without its trailing half as an "unexpected end of hex escape")
            serde_json::error::Category::Syntax
                if message.starts_with("lone leading surrogate")
                    || message.starts_with("unexpected end of hex escape") =>
            {
                "a lone UTF-16 surrogate escape such as \\ud800, which is not Unicode text"
            }
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "invalid value",
            serde_json::error::Category::Eof => "unexpected end of input",
        };
        ApiError::InvalidJson {
            reason,
            line: e.line(),
            column: e.column(),
        }
    }
}
