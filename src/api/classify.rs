//! Endpoint classification: which wire format a request line speaks, and which API family's error shape to use.
//!
//! Classification is exact: a path that is not one of the known shapes (extra segments, percent-encoded slashes,
//! dot segments, a wrong method) yields `None`, and the proxy must then refuse the request rather than forward it
//! unscanned. Only a single trailing `/` and the query string are tolerated; [`canonical_path`] is the path without
//! them, which is what the proxy forwards (a strict upstream answers 404 to `/v1/chat/completions/`). The query may
//! carry a Gemini API key (`?key=`): this module never logs or returns it, and callers must never log the raw path and
//! query. `HEAD` is classified like `GET` on the models passthrough (`/v1/models[/{id}]`, `/v1beta/models[/{id}]`).

use http::Method;

/// The request body format of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// OpenAI `POST /v1/chat/completions`.
    OpenAiChat,
    /// OpenAI `POST /v1/responses`.
    OpenAiResponses,
    /// OpenAI `POST /v1/responses/compact` (a Responses-shaped body; a JSON answer).
    OpenAiResponsesCompact,
    /// OpenAI `POST /v1/responses/input_tokens` (a Responses-shaped body; a JSON token count).
    OpenAiResponsesInputTokens,
    /// A stored response: `GET` or `DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`,
    /// `POST /v1/responses/{id}/cancel`. No body; a `GET` may stream (`?stream=true` resumes a background response).
    OpenAiResponseState,
    /// OpenAI `POST /v1/embeddings`.
    OpenAiEmbeddings,
    /// Anthropic `POST /v1/messages`.
    AnthropicMessages,
    /// Anthropic `POST /v1/messages/count_tokens` (same body shape as Messages, never streamed).
    AnthropicCountTokens,
    /// Gemini `POST /v1beta/models/{model}:generateContent` or `:streamGenerateContent` (also under `/v1/`).
    GeminiGenerateContent,
    /// Gemini `POST /v1beta/models/{model}:countTokens` (body: `contents` or `generateContentRequest`).
    GeminiCountTokens,
    /// `GET /v1/models`, `GET /v1/models/{id}` (and the Gemini `/v1beta/models` equivalents): passthrough, no body.
    /// `HEAD` on the same paths too (the proxy asks the upstream with `GET` and answers without the body).
    ModelsList,
}

impl WireFormat {
    /// Every format, for tests and configuration validation.
    pub const ALL: [WireFormat; 11] = [
        WireFormat::OpenAiChat,
        WireFormat::OpenAiResponses,
        WireFormat::OpenAiResponsesCompact,
        WireFormat::OpenAiResponsesInputTokens,
        WireFormat::OpenAiResponseState,
        WireFormat::OpenAiEmbeddings,
        WireFormat::AnthropicMessages,
        WireFormat::AnthropicCountTokens,
        WireFormat::GeminiGenerateContent,
        WireFormat::GeminiCountTokens,
        WireFormat::ModelsList,
    ];

    /// The format named by [`WireFormat::as_str`].
    pub fn from_name(name: &str) -> Option<WireFormat> {
        WireFormat::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The API family of this format.
    pub fn family(self) -> ApiFamily {
        match self {
            WireFormat::OpenAiChat
            | WireFormat::OpenAiResponses
            | WireFormat::OpenAiResponsesCompact
            | WireFormat::OpenAiResponsesInputTokens
            | WireFormat::OpenAiResponseState
            | WireFormat::OpenAiEmbeddings
            | WireFormat::ModelsList => ApiFamily::OpenAi,
            WireFormat::AnthropicMessages | WireFormat::AnthropicCountTokens => {
                ApiFamily::Anthropic
            }
            WireFormat::GeminiGenerateContent | WireFormat::GeminiCountTokens => ApiFamily::Gemini,
        }
    }

    /// Whether requests of this format carry a JSON body that [`crate::api::parse`] understands.
    pub fn has_body(self) -> bool {
        !matches!(
            self,
            WireFormat::ModelsList | WireFormat::OpenAiResponseState
        )
    }

    /// The format whose events a streamed response of this format carries (a stored response streams Responses
    /// events).
    pub fn stream_format(self) -> WireFormat {
        match self {
            WireFormat::OpenAiResponseState => WireFormat::OpenAiResponses,
            f => f,
        }
    }

    /// A stable lower-case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            WireFormat::OpenAiChat => "openai_chat",
            WireFormat::OpenAiResponses => "openai_responses",
            WireFormat::OpenAiResponsesCompact => "openai_responses_compact",
            WireFormat::OpenAiResponsesInputTokens => "openai_responses_input_tokens",
            WireFormat::OpenAiResponseState => "openai_response_state",
            WireFormat::OpenAiEmbeddings => "openai_embeddings",
            WireFormat::AnthropicMessages => "anthropic_messages",
            WireFormat::AnthropicCountTokens => "anthropic_count_tokens",
            WireFormat::GeminiGenerateContent => "gemini_generate_content",
            WireFormat::GeminiCountTokens => "gemini_count_tokens",
            WireFormat::ModelsList => "models",
        }
    }
}

/// An API family: decides the shape of error bodies and SSE error events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiFamily {
    /// OpenAI and OpenAI-compatible APIs.
    OpenAi,
    /// Anthropic.
    Anthropic,
    /// Google Gemini (Generative Language API).
    Gemini,
}

impl ApiFamily {
    /// Guess the family of any request (including unknown paths) so a 404 or 401 comes back in a shape the
    /// client's SDK understands: the `anthropic-version` header means Anthropic, `x-goog-api-key` means Gemini;
    /// otherwise the path decides ([`ApiFamily::guess_from_path`]), and where it does not, an `x-api-key` header
    /// (how the Anthropic SDK sends its key; OpenAI's sends `Authorization`) means Anthropic.
    pub fn guess(method: &Method, path: &str, headers: &http::HeaderMap) -> ApiFamily {
        if headers.contains_key("anthropic-version") {
            return ApiFamily::Anthropic;
        }
        if headers.contains_key("x-goog-api-key") {
            return ApiFamily::Gemini;
        }
        match ApiFamily::from_path(method, path) {
            Some(family) => family,
            None if headers.contains_key("x-api-key") => ApiFamily::Anthropic,
            None => ApiFamily::OpenAi,
        }
    }

    /// [`ApiFamily::guess`] without headers: `/v1/messages*` is Anthropic; `/v1beta/*` and a `POST` to a
    /// Gemini-style `models/{m}:{method}` path are Gemini (a `GET /v1/models/{id}` id may contain `:`, as OpenAI
    /// fine-tune ids do); everything else is OpenAI.
    pub fn guess_from_path(method: &Method, path: &str) -> ApiFamily {
        ApiFamily::from_path(method, path).unwrap_or(ApiFamily::OpenAi)
    }

    /// [`ApiFamily::guess_from_path`] from a raw method token (e.g. straight from fuzz input); `None` for an
    /// invalid token.
    pub fn guess_from_path_bytes(method: &[u8], path: &str) -> Option<ApiFamily> {
        Some(ApiFamily::guess_from_path(
            &Method::from_bytes(method).ok()?,
            path,
        ))
    }

    /// The family the path alone identifies; `None` when it could be any (the OpenAI-shaped default).
    fn from_path(method: &Method, path: &str) -> Option<ApiFamily> {
        let path = strip_query(path);
        if path == "/v1/messages" || path.starts_with("/v1/messages/") {
            Some(ApiFamily::Anthropic)
        } else if path.starts_with("/v1beta/")
            || path == "/v1beta"
            || (*method == Method::POST && path.starts_with(OPENAI_MODEL_ID) && path.contains(':'))
        {
            Some(ApiFamily::Gemini)
        } else {
            None
        }
    }
}

/// A classified endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Body format.
    pub format: WireFormat,
    /// Error-shape family. For [`WireFormat::ModelsList`] under `/v1/` this is [`ApiFamily::OpenAi`]; refine it with
    /// [`ApiFamily::guess`] (Anthropic and Gemini share that path).
    pub family: ApiFamily,
    /// The model named in the path: Gemini `models/{model}:verb`, or the id of `GET /v1/models/{id}`.
    pub path_model: Option<String>,
    /// Gemini `:streamGenerateContent` (the other formats carry `stream` in the body).
    pub path_stream: bool,
    /// The query asks for server-sent events (`alt=sse`); without it Gemini streams a JSON array.
    pub sse_requested: bool,
}

fn strip_query(path: &str) -> &str {
    match path.find('?') {
        Some(i) => &path[..i],
        None => path,
    }
}

fn query_has(path: &str, key: &str, value: &str) -> bool {
    match path.find('?') {
        Some(i) => path[i + 1..].split('&').any(|kv| match kv.split_once('=') {
            Some((k, v)) => k == key && v == value,
            None => false,
        }),
        None => false,
    }
}

/// A model id as it may appear in a path segment: non-empty, no slash, no percent sign or dot segment.
fn plausible_model(m: &str) -> bool {
    !m.is_empty()
        && m != "."
        && m != ".."
        && m.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'%' && b != b'?' && b != b'#')
}

/// The prefixes of the paths that carry an id: a model (OpenAI's list, Gemini's list and its `:generateContent`
/// verbs, also under `/v1/`) or a stored response. [`classify`] and [`escaped_id`] read the same ones.
const OPENAI_MODEL_ID: &str = "/v1/models/";
const GEMINI_MODEL_ID: &str = "/v1beta/models/";
const RESPONSES_ID: &str = "/v1/responses/";

/// `/v1/responses/{id}{suffix}` with a plausible id (`resp_…`; never `compact` or `input_tokens`, which are
/// endpoints of their own).
fn response_state(path: &str, suffix: &str) -> bool {
    path.strip_prefix(RESPONSES_ID)
        .and_then(|r| r.strip_suffix(suffix))
        .is_some_and(plausible_stored_id)
}

fn plausible_stored_id(id: &str) -> bool {
    plausible_model(id) && !id.contains(':') && id != "compact" && id != "input_tokens"
}

/// The response id in a [`WireFormat::OpenAiResponseState`] path (`/v1/responses/{id}`, `…/{id}/input_items`,
/// `…/{id}/cancel`, with or without a query or trailing slash); `None` for any other path.
pub fn stored_response_id(path: &str) -> Option<&str> {
    let mut path = strip_query(path);
    path = path.strip_suffix('/').unwrap_or(path);
    let rest = path.strip_prefix(RESPONSES_ID)?;
    let id = rest
        .strip_suffix("/input_items")
        .or_else(|| rest.strip_suffix("/cancel"))
        .unwrap_or(rest);
    plausible_stored_id(id).then_some(id)
}

/// Whether a path that [`classify`] refused names a model or stored response through percent-escapes
/// (`/v1/models/gpt-4o%20mini`, `/v1beta/models/x%2F..:generateContent`, `/v1/responses/resp%5F1`). Such ids are
/// never forwarded: a destination may decode `%2F` into a path separator and read another path than the one the
/// gateway classified. The caller says so in its 404 instead of claiming not to know the endpoint.
pub fn escaped_id(path: &str) -> bool {
    let path = canonical_path(path);
    [OPENAI_MODEL_ID, GEMINI_MODEL_ID, RESPONSES_ID]
        .iter()
        .filter_map(|prefix| path.strip_prefix(prefix))
        .any(|rest| rest.contains('%'))
}

/// [`classify`] from a raw method token (e.g. straight from fuzz input); `None` for an invalid token.
pub fn classify_bytes(method: &[u8], path: &str) -> Option<Endpoint> {
    classify(&Method::from_bytes(method).ok()?, path)
}

/// The path as [`classify`] reads it, and as it is forwarded: without the query string and without a single
/// trailing `/` (`/v1/chat/completions/?x=1` → `/v1/chat/completions`; `/` stays `/`).
pub fn canonical_path(path: &str) -> &str {
    let path = strip_query(path);
    if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    }
}

/// Classify a request line. Returns `None` for anything that is not exactly one of the known endpoints.
pub fn classify(method: &Method, path: &str) -> Option<Endpoint> {
    let full = path;
    let path = canonical_path(path);
    let simple = |format: WireFormat| Endpoint {
        format,
        family: format.family(),
        path_model: None,
        path_stream: false,
        sse_requested: false,
    };
    if *method == Method::POST {
        let fixed = match path {
            "/v1/chat/completions" => Some(WireFormat::OpenAiChat),
            "/v1/responses" => Some(WireFormat::OpenAiResponses),
            "/v1/responses/compact" => Some(WireFormat::OpenAiResponsesCompact),
            "/v1/responses/input_tokens" => Some(WireFormat::OpenAiResponsesInputTokens),
            "/v1/embeddings" => Some(WireFormat::OpenAiEmbeddings),
            "/v1/messages" => Some(WireFormat::AnthropicMessages),
            "/v1/messages/count_tokens" => Some(WireFormat::AnthropicCountTokens),
            _ => None,
        };
        if let Some(f) = fixed {
            return Some(simple(f));
        }
        if response_state(path, "/cancel") {
            return Some(simple(WireFormat::OpenAiResponseState));
        }
        let rest = path
            .strip_prefix(GEMINI_MODEL_ID)
            .or_else(|| path.strip_prefix(OPENAI_MODEL_ID))?;
        let (model, verb) = rest.rsplit_once(':')?;
        if !plausible_model(model) {
            return None;
        }
        let (format, stream) = match verb {
            "generateContent" => (WireFormat::GeminiGenerateContent, false),
            "streamGenerateContent" => (WireFormat::GeminiGenerateContent, true),
            "countTokens" => (WireFormat::GeminiCountTokens, false),
            _ => return None,
        };
        return Some(Endpoint {
            format,
            family: ApiFamily::Gemini,
            path_model: Some(model.to_owned()),
            path_stream: stream,
            sse_requested: query_has(full, "alt", "sse"),
        });
    }
    let state = match *method {
        Method::GET => response_state(path, "") || response_state(path, "/input_items"),
        Method::DELETE => response_state(path, ""),
        _ => false,
    };
    if state {
        return Some(simple(WireFormat::OpenAiResponseState));
    }
    // HEAD is GET without the body (RFC 9110, 9.3.2): the models passthrough answers it too.
    if *method == Method::GET || *method == Method::HEAD {
        let (family, rest) = if let Some(r) = path.strip_prefix("/v1beta/models") {
            (ApiFamily::Gemini, r)
        } else if let Some(r) = path.strip_prefix("/v1/models") {
            (ApiFamily::OpenAi, r)
        } else {
            return None;
        };
        let path_model = if rest.is_empty() {
            None
        } else {
            let id = rest.strip_prefix('/')?;
            // OpenAI fine-tune ids contain ':' (`ft:gpt-4o:org::id`), so only '/' and encodings are refused.
            if !plausible_model(id) {
                return None;
            }
            Some(id.to_owned())
        };
        return Some(Endpoint {
            format: WireFormat::ModelsList,
            family,
            path_model,
            path_stream: false,
            sse_requested: false,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(p: &str) -> Option<Endpoint> {
        classify(&Method::POST, p)
    }

    #[test]
    fn responses_api_beyond_create() {
        let f = |m: Method, p: &str| classify(&m, p).map(|e| e.format);
        assert_eq!(
            f(Method::POST, "/v1/responses/compact"),
            Some(WireFormat::OpenAiResponsesCompact)
        );
        assert_eq!(
            f(Method::POST, "/v1/responses/input_tokens/"),
            Some(WireFormat::OpenAiResponsesInputTokens)
        );
        let state = Some(WireFormat::OpenAiResponseState);
        for (m, p) in [
            (Method::GET, "/v1/responses/resp_1"),
            (
                Method::GET,
                "/v1/responses/resp_1?stream=true&starting_after=3",
            ),
            (Method::DELETE, "/v1/responses/resp_1"),
            (Method::POST, "/v1/responses/resp_1/cancel"),
            (Method::GET, "/v1/responses/resp_1/input_items"),
        ] {
            assert_eq!(f(m.clone(), p), state, "{m} {p}");
            assert_eq!(stored_response_id(p), Some("resp_1"), "{p}");
        }
        assert_eq!(stored_response_id("/v1/responses/resp_1/"), Some("resp_1"));
        for p in [
            "/v1/responses",
            "/v1/responses/compact",
            "/v1/responses/a/b",
            "/v1/chat/completions",
        ] {
            assert_eq!(stored_response_id(p), None, "{p}");
        }
        for (m, p) in [
            (Method::GET, "/v1/responses/compact"),
            (Method::GET, "/v1/responses/input_tokens"),
            (Method::POST, "/v1/responses/compact/cancel"),
            (Method::POST, "/v1/responses/resp_1"),
            (Method::GET, "/v1/responses/resp_1/cancel"),
            (Method::DELETE, "/v1/responses/resp_1/input_items"),
            (Method::GET, "/v1/responses/a/b"),
            (Method::GET, "/v1/responses/resp%2F1"),
            (Method::GET, "/v1/responses/.."),
            (Method::GET, "/v1/responses/a:b"),
            (Method::GET, "/v1/responses/"),
            (Method::PATCH, "/v1/responses/resp_1"),
        ] {
            assert_eq!(f(m.clone(), p), None, "{m} {p}");
        }
        assert!(!WireFormat::OpenAiResponseState.has_body());
        assert_eq!(
            WireFormat::OpenAiResponseState.stream_format(),
            WireFormat::OpenAiResponses
        );
    }

    #[test]
    fn escaped_ids_are_recognised_as_such() {
        for p in [
            "/v1/models/gpt-4o%20mini",
            "/v1/models/a%2Fb/",
            "/v1beta/models/g%2F..:generateContent?alt=sse",
            "/v1/responses/resp%5F1/cancel",
        ] {
            assert!(escaped_id(p), "{p}");
            assert!(
                classify(&Method::GET, p).is_none() && post(p).is_none(),
                "{p}"
            );
        }
        for p in [
            "/v1/models/gpt-4o",
            "/v1/chat%2Fcompletions",
            "/v2/models/a%20b",
            "/v1/models?x=%20",
        ] {
            assert!(!escaped_id(p), "{p}");
        }
    }

    #[test]
    fn fixed_paths() {
        let cases = [
            ("/v1/chat/completions", WireFormat::OpenAiChat),
            ("/v1/chat/completions/", WireFormat::OpenAiChat),
            ("/v1/responses?x=1", WireFormat::OpenAiResponses),
            ("/v1/embeddings", WireFormat::OpenAiEmbeddings),
            ("/v1/messages", WireFormat::AnthropicMessages),
            ("/v1/messages?beta=true", WireFormat::AnthropicMessages),
            (
                "/v1/messages/count_tokens",
                WireFormat::AnthropicCountTokens,
            ),
        ];
        for (p, f) in cases {
            let e = post(p).unwrap_or_else(|| panic!("{p}"));
            assert_eq!(e.format, f, "{p}");
            assert_eq!(e.family, f.family());
            assert!(!e.path_stream);
        }
        assert!(classify(&Method::GET, "/v1/chat/completions").is_none());
        assert!(classify(&Method::HEAD, "/v1/chat/completions").is_none());
        for (p, canonical) in [
            ("/v1/chat/completions/", "/v1/chat/completions"),
            ("/v1/chat/completions/?x=1", "/v1/chat/completions"),
            ("/v1/messages?beta=true", "/v1/messages"),
            ("/v1/models", "/v1/models"),
            ("/", "/"),
            ("", ""),
        ] {
            assert_eq!(canonical_path(p), canonical, "{p}");
        }
        for bad in [
            "/v1/chat/completions/x",
            "/v1/chat%2Fcompletions",
            "//v1/chat/completions",
            "/v1/./chat/completions",
            "/v2/messages",
            "",
            "/",
        ] {
            assert!(post(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn gemini_paths() {
        let e =
            post("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=k").unwrap();
        assert_eq!(e.format, WireFormat::GeminiGenerateContent);
        assert_eq!(e.family, ApiFamily::Gemini);
        assert_eq!(e.path_model.as_deref(), Some("gemini-2.0-flash"));
        assert!(e.path_stream && e.sse_requested);
        let e = post("/v1/models/gemini-1.5-pro:generateContent?key=abc").unwrap();
        assert_eq!(e.path_model.as_deref(), Some("gemini-1.5-pro"));
        assert!(!e.path_stream && !e.sse_requested);
        let e = post("/v1beta/models/gemini-pro:countTokens").unwrap();
        assert_eq!(e.format, WireFormat::GeminiCountTokens);
        for bad in [
            "/v1beta/models/:generateContent",
            "/v1beta/models/a/b:generateContent",
            "/v1beta/models/gemini:embedContent",
            "/v1beta/models/gemini",
            "/v1beta/models/..:generateContent",
            "/v1beta/models/g%2Fx:generateContent",
        ] {
            assert!(post(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn models_listing() {
        let e = classify(&Method::GET, "/v1/models").unwrap();
        assert_eq!(e.format, WireFormat::ModelsList);
        assert_eq!(e.path_model, None);
        let e = classify(&Method::GET, "/v1/models/ft:gpt-4o:org::abc").unwrap();
        assert_eq!(e.path_model.as_deref(), Some("ft:gpt-4o:org::abc"));
        let e = classify(&Method::GET, "/v1beta/models?pageSize=5").unwrap();
        assert_eq!(e.family, ApiFamily::Gemini);
        assert!(classify(&Method::GET, "/v1/models/a/b").is_none());
        assert!(classify(&Method::GET, "/v1/modelsx").is_none());
        assert!(classify(&Method::DELETE, "/v1/models/x").is_none());
        // HEAD: the same passthrough as GET, and nothing else.
        for p in [
            "/v1/models",
            "/v1/models/gpt-4o/",
            "/v1beta/models?pageSize=5",
        ] {
            let head = classify(&Method::HEAD, p).unwrap_or_else(|| panic!("{p}"));
            assert_eq!(Some(head), classify(&Method::GET, p), "{p}");
        }
        assert!(classify(&Method::HEAD, "/v1/models/a/b").is_none());
        assert!(classify(&Method::HEAD, "/v1/responses/resp_1").is_none());
    }

    #[test]
    fn family_guess() {
        let (get, post) = (&Method::GET, &Method::POST);
        let h = http::HeaderMap::new();
        assert_eq!(
            ApiFamily::guess(post, "/v1/messages/batches", &h),
            ApiFamily::Anthropic
        );
        assert_eq!(
            ApiFamily::guess(get, "/v1beta/cachedContents", &h),
            ApiFamily::Gemini
        );
        assert_eq!(
            ApiFamily::guess(post, "/v1/models/x:embedContent", &h),
            ApiFamily::Gemini
        );
        // A model id with ':' (OpenAI fine-tunes) is not a Gemini method call.
        assert_eq!(
            ApiFamily::guess(get, "/v1/models/ft:gpt-4o:org::abc", &h),
            ApiFamily::OpenAi
        );
        assert_eq!(ApiFamily::guess(get, "/v1/models", &h), ApiFamily::OpenAi);
        assert_eq!(ApiFamily::guess(post, "/v1/files", &h), ApiFamily::OpenAi);
        assert_eq!(ApiFamily::guess(get, "/nope", &h), ApiFamily::OpenAi);
        assert_eq!(
            ApiFamily::guess_from_path_bytes(b"GET", "/v1/models/a:b"),
            Some(ApiFamily::OpenAi)
        );
        assert_eq!(ApiFamily::guess_from_path_bytes(b"G T", "/"), None);
        let mut h = http::HeaderMap::new();
        h.insert(
            "anthropic-version",
            http::HeaderValue::from_static("2023-06-01"),
        );
        assert_eq!(
            ApiFamily::guess(get, "/v1/models", &h),
            ApiFamily::Anthropic
        );
        let mut h = http::HeaderMap::new();
        h.insert("x-api-key", http::HeaderValue::from_static("k"));
        assert_eq!(
            ApiFamily::guess(get, "/v1/models", &h),
            ApiFamily::Anthropic
        );
        // The path still wins over x-api-key where it is specific.
        assert_eq!(
            ApiFamily::guess(get, "/v1beta/models", &h),
            ApiFamily::Gemini
        );
        let mut h = http::HeaderMap::new();
        h.insert("x-goog-api-key", http::HeaderValue::from_static("k"));
        assert_eq!(ApiFamily::guess(get, "/v1/models", &h), ApiFamily::Gemini);
    }
}
