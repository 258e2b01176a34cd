//! Gateway core over real sockets: every wire format, streaming, upstream failures, limits, auth, shutdown, TLS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    missing_docs
)]

mod support;

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use support::*;

fn chat(model: &str, stream: bool) -> String {
    json!({"model": model, "stream": stream, "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "주민등록번호 900101-1234567 확인해 주세요"}
    ]})
    .to_string()
}

fn anthropic(model: &str, stream: bool) -> String {
    json!({"model": model, "max_tokens": 64, "stream": stream, "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]})
    .to_string()
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn openai_chat_non_streaming_passes_through_with_provider_credentials() {
    let gw = start().await;
    let (status, headers, body) = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[JSON, ("authorization", "Bearer client-side-key")],
        chat("gpt-4o-mini", false),
    )
    .await;
    assert_eq!(status, 200, "{body:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "hello from mock");
    assert!(headers["x-haetae-request-id"]
        .to_str()
        .unwrap()
        .starts_with("hx-"));
    assert_eq!(headers["x-haetae-destination"], "openai; jurisdiction=US");
    assert_eq!(
        headers["x-request-id"], "mock-req-1",
        "upstream headers pass through"
    );
    assert_eq!(headers["openai-processing-ms"], "12");
    // ... except the operator's provider account and the provider's cookies.
    assert!(headers.get("openai-organization").is_none());
    assert!(headers.get("set-cookie").is_none());

    let seen = gw.mock.last();
    assert_eq!(seen.path_and_query, "/v1/chat/completions");
    assert_eq!(seen.headers["authorization"], "Bearer sk-provider-openai");
    assert_eq!(seen.headers["accept-encoding"], "identity");
    assert_eq!(
        seen.json(),
        serde_json::from_str::<Value>(&chat("gpt-4o-mini", false)).unwrap()
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn openai_stream_split_at_awkward_boundaries_arrives_intact() {
    let gw = start().await;
    let (status, headers, body) = gw
        .post("/v1/chat/completions", chat("mock-split", true))
        .await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(headers.get("content-length").is_none());
    let expected = stream_events("openai", "mock-split", 3, false).concat();
    assert_eq!(std::str::from_utf8(&body).unwrap(), expected);
    gw.shutdown().await;
}

#[tokio::test]
async fn sse_events_are_flushed_as_they_arrive() {
    let gw = start().await;
    let req = http::Request::post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(chat("mock-stall", true))))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    let mut body = resp.into_body();
    // The mock sends one event and then stays silent for 5 s: the event must reach us before that silence ends.
    let frame = tokio::time::timeout(Duration::from_secs(4), body.frame())
        .await
        .expect("first event was held back")
        .unwrap()
        .unwrap();
    let data = frame.into_data().unwrap();
    assert!(std::str::from_utf8(&data).unwrap().contains("tok0"));
    gw.shutdown().await;
}

#[tokio::test]
async fn anthropic_messages_stream_and_credentials() {
    let gw = start().await;
    let (status, body) = anthropic_message(&gw, anthropic("mock-events-5", true)).await;
    assert_eq!(status, 200);
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        stream_events("anthropic", "mock-events-5", 5, false).concat()
    );
    let seen = gw.mock.last();
    assert_eq!(seen.path_and_query, "/v1/messages");
    assert_eq!(seen.headers["x-api-key"], "sk-ant-provider");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert!(seen.headers.get("authorization").is_none());
    gw.shutdown().await;
}

/// `POST /v1/messages` with `body`, headed as the Anthropic SDK sends it: status and response body.
async fn anthropic_message(gw: &TestGateway, body: String) -> (http::StatusCode, Bytes) {
    let (status, _, body) = send(
        "POST",
        &gw.url("/v1/messages"),
        &[
            JSON,
            ("x-api-key", "client-key"),
            ("anthropic-version", "2023-06-01"),
        ],
        body,
    )
    .await;
    (status, body)
}

/// A gateway for one provider: `routing.anthropic = ""` and `routing.gemini = ""` with a single OpenAI-format
/// destination. Requests of the families it does not serve get 404 in their own API's shape and reach no upstream;
/// a model route can still claim one.
#[tokio::test]
async fn families_without_a_destination_get_404_in_their_own_shape() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings
        .destinations
        .retain(|d| d.name == "domestic" || d.name == "anthropic");
    settings.routing.openai = "domestic".into();
    settings.routing.anthropic = String::new();
    settings.routing.gemini = String::new();
    settings
        .routing
        .models
        .insert("claude-kr*".into(), "anthropic".into());
    let gw = start_with(mock, settings).await;
    let chat =
        json!({"model": "exaone", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let (status, h, _) = gw.post("/v1/chat/completions", chat).await;
    assert_eq!(status, 200);
    assert_eq!(h["x-haetae-destination"], "domestic; jurisdiction=KR");
    assert_eq!(gw.mock.count(), 1);

    let (status, body) = anthropic_message(&gw, anthropic("claude-sonnet-4", false)).await;
    assert_eq!(status, 404, "{body:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "not_found_error");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no anthropic-format requests (routing.anthropic is empty)"),
        "{message}"
    );
    assert!(message.contains("model `claude-sonnet-4`"), "{message}");

    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string();
    let (status, _, body) = send(
        "POST",
        &gw.url("/v1beta/models/gemini-2.0-flash:generateContent"),
        &[JSON, ("x-goog-api-key", "client-key")],
        gemini,
    )
    .await;
    assert_eq!(status, 404, "{body:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], 404);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("routing.gemini is empty"));
    assert_eq!(gw.mock.count(), 1, "refused requests reached the upstream");

    // A model route still serves its models.
    let (status, body) = anthropic_message(&gw, anthropic("claude-kr-1", false)).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(gw.mock.count(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn gemini_generate_and_stream_strip_the_client_key() {
    let gw = start().await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string();
    let (status, _, resp) = gw
        .post(
            "/v1beta/models/gemini-2.0-flash:generateContent?key=client-key",
            body.clone(),
        )
        .await;
    assert_eq!(status, 200, "{resp:?}");
    let seen = gw.mock.last();
    assert_eq!(
        seen.path_and_query,
        "/v1beta/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(seen.headers["x-goog-api-key"], "gemini-provider-key");

    let (status, _, resp) = send(
        "POST",
        &gw.url("/v1beta/models/mock-split:streamGenerateContent?alt=sse"),
        &[JSON, ("x-goog-api-key", "client-key")],
        body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        std::str::from_utf8(&resp).unwrap(),
        stream_events("gemini", "mock-split", 3, false).concat()
    );
    assert_eq!(
        gw.mock.last().path_and_query,
        "/v1beta/models/mock-split:streamGenerateContent?alt=sse"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn responses_embeddings_and_models_are_served() {
    let gw = start().await;
    let (s, _, _) = gw
        .post(
            "/v1/responses",
            json!({"model": "gpt-4o-mini", "input": "hi"}).to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = gw
        .post(
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": ["a", "b"]}).to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, body) = send("GET", &gw.url("/v1/models"), &[], Bytes::new()).await;
    assert_eq!(s, 200);
    assert!(std::str::from_utf8(&body).unwrap().contains("gpt-4o-mini"));
    assert_eq!(gw.mock.last().path_and_query, "/v1/models");
    gw.shutdown().await;
}

/// The rest of the Responses API: compact and input_tokens bodies are parsed and inspected like a create; a stored
/// response's retrieve (JSON and resumed stream), delete, cancel and input items pass through to the OpenAI-family
/// default destination; look-alike paths stay refused.
#[tokio::test]
async fn responses_compact_tokens_and_stored_responses_are_served() {
    let gw = start().await;
    let secret =
        json!({"model": "gpt-4o-mini", "input": "주민등록번호 900101-1234567"}).to_string();
    for (path, object) in [
        ("/v1/responses/compact", "response.compaction"),
        ("/v1/responses/input_tokens", "response.input_tokens"),
    ] {
        let (s, h, body) = gw.post(path, secret.clone()).await;
        assert_eq!(s, 200, "{path}: {body:?}");
        assert_eq!(h["x-haetae-findings"], "KR_RRN=1", "{path}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["object"], object);
        assert_eq!(gw.mock.last().path_and_query, path);
        assert_eq!(gw.mock.last().body, secret.as_bytes());
    }
    // A malformed body is refused like a create's, not forwarded.
    let before = gw.mock.count();
    let (s, _, _) = gw
        .post("/v1/responses/compact", r#"{"model":"m","input":7}"#)
        .await;
    assert_eq!(s, 400);
    assert_eq!(gw.mock.count(), before);

    let id = "resp_0a1b2c";
    let cases = [
        ("GET", format!("/v1/responses/{id}"), "completed"),
        (
            "GET",
            format!("/v1/responses/{id}?include[]=x"),
            "completed",
        ),
        ("POST", format!("/v1/responses/{id}/cancel"), "cancelled"),
        ("DELETE", format!("/v1/responses/{id}"), ""),
        ("GET", format!("/v1/responses/{id}/input_items?limit=5"), ""),
    ];
    for (method, path, status) in &cases {
        let (s, h, body) = send(method, &gw.url(path), &[], Bytes::new()).await;
        assert_eq!(s, 200, "{method} {path}: {body:?}");
        assert_eq!(h["x-haetae-destination"], "openai; jurisdiction=US");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if !status.is_empty() {
            assert_eq!(v["status"], *status, "{method} {path}");
        }
        let seen = gw.mock.last();
        assert_eq!(
            (seen.method.as_str(), &seen.path_and_query),
            (*method, path)
        );
        assert!(seen.body.is_empty());
    }
    // Resuming a background response's stream: framed and passed event by event.
    let (s, h, body) = send(
        "GET",
        &gw.url(&format!("/v1/responses/{id}?stream=true&starting_after=0")),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(s, 200);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = std::str::from_utf8(&body).unwrap();
    assert_eq!(text.matches("event: response.output_text.delta").count(), 2);
    assert!(text.ends_with("\n\n") && text.contains("response.completed"));

    // A body on an endpoint that takes none is inspected as text, never forwarded unread.
    let (s, h, _) = send(
        "GET",
        &gw.url(&format!("/v1/responses/{id}")),
        &[JSON],
        "memo 900101-1234567",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "KR_RRN=1");
    let (s, _, _) = send("GET", &gw.url("/v1/models"), &[], vec![0xFFu8, 0xFE]).await;
    assert_eq!(s, 400, "an unreadable body on GET /v1/models is refused");

    let before = gw.mock.count();
    for (method, path) in [
        ("GET", "/v1/responses/compact"),
        ("GET", "/v1/responses/input_tokens"),
        ("POST", "/v1/responses/resp_1"),
        ("PUT", "/v1/responses/resp_1"),
        ("GET", "/v1/responses/resp_1/cancel"),
        ("DELETE", "/v1/responses/resp_1/input_items"),
        ("GET", "/v1/responses/resp_1/input_items/x"),
        ("GET", "/v1/responses/resp%2F1"),
        ("GET", "/v1/responses/../models"),
        ("GET", "/v1/responses/"),
        ("GET", "/v1/models/gpt-4o%20mini"),
        ("POST", "/v1beta/models/gemini%2F..%2Fx:generateContent"),
    ] {
        let (s, _, body) = send(method, &gw.url(path), &[], Bytes::new()).await;
        assert_eq!(s, 404, "{method} {path}");
        // An id with percent-escapes is refused for what it is, not as an unknown endpoint.
        let message = serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            message.contains("ids with percent-escapes are not forwarded"),
            path.contains('%'),
            "{method} {path}: {message}"
        );
    }
    assert_eq!(
        gw.mock.count(),
        before,
        "nothing refused reached the provider"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn model_list_goes_where_the_sdk_headers_say_and_colon_ids_stay_openai() {
    let openai = MockProvider::start().await;
    let anthropic = MockProvider::start().await;
    let mut settings = settings_for(&openai);
    let d = settings
        .destinations
        .iter_mut()
        .find(|d| d.name == "anthropic")
        .unwrap();
    d.base_url = anthropic.base();
    let gw = start_with(openai, settings).await;

    // The Anthropic SDK's models.list(): anthropic-version and x-api-key on the path OpenAI also uses.
    let (s, headers, body) = send(
        "GET",
        &gw.url("/v1/models?limit=20"),
        &[
            ("anthropic-version", "2023-06-01"),
            ("x-api-key", "client-side-key"),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(s, 200, "{body:?}");
    assert_eq!(
        headers["x-haetae-destination"],
        "anthropic; jurisdiction=US"
    );
    let seen = anthropic.last();
    assert_eq!(
        (seen.method.as_str(), seen.path_and_query.as_str()),
        ("GET", "/v1/models?limit=20")
    );
    assert_eq!(seen.headers["x-api-key"], "sk-ant-provider");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert!(seen.headers.get("authorization").is_none());
    // x-api-key alone (a plain HTTP client following Anthropic's docs) is Anthropic too.
    let (s, headers, _) = send(
        "GET",
        &gw.url("/v1/models/claude-sonnet-4-5"),
        &[("x-api-key", "client-side-key")],
        Bytes::new(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        headers["x-haetae-destination"],
        "anthropic; jurisdiction=US"
    );
    assert_eq!(anthropic.count(), 2);
    assert_eq!(
        anthropic.last().path_and_query,
        "/v1/models/claude-sonnet-4-5"
    );
    assert_eq!(gw.mock.count(), 0, "nothing went to the OpenAI destination");

    // An OpenAI fine-tune id contains ':' but a GET of it is not a Gemini `model:method` call.
    let (s, headers, body) = send(
        "GET",
        &gw.url("/v1/models/ft:gpt-4o-mini:acme::abc123"),
        &[("authorization", "Bearer client-side-key")],
        Bytes::new(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(headers["x-haetae-destination"], "openai; jurisdiction=US");
    let seen = gw.mock.last();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["id"],
        "ft:gpt-4o-mini:acme::abc123"
    );
    assert_eq!(
        (seen.method.as_str(), seen.path_and_query.as_str()),
        ("GET", "/v1/models/ft:gpt-4o-mini:acme::abc123")
    );
    assert_eq!(seen.headers["authorization"], "Bearer sk-provider-openai");
    assert!(seen.headers.get("x-goog-api-key").is_none());
    assert_eq!(anthropic.count(), 2);

    // Gemini's own listing (`/v1beta/models`, what its SDKs call) and `/v1/models?key=` go to the Gemini
    // destination with the Gemini key, never to OpenAI's with OpenAI's.
    for (path, headers) in [
        (
            "/v1beta/models",
            vec![("x-goog-api-key", "client-side-key")],
        ),
        (
            "/v1beta/models/gemini-2.0-flash",
            vec![("x-goog-api-key", "client-side-key")],
        ),
        ("/v1/models?key=client-side-key", vec![]),
    ] {
        let before = gw.mock.count();
        let (s, h, _) = send("GET", &gw.url(path), &headers, Bytes::new()).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(
            h["x-haetae-destination"], "gemini; jurisdiction=US",
            "{path}"
        );
        assert_eq!(gw.mock.count(), before + 1, "{path}");
        let seen = gw.mock.last();
        assert!(
            seen.path_and_query
                .starts_with(path.split('?').next().unwrap()),
            "{path}: {}",
            seen.path_and_query
        );
        assert!(seen.headers.get("authorization").is_none(), "{path}");
        assert!(!seen.path_and_query.contains("client-side-key"), "{path}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_errors_pass_through_unchanged() {
    let gw = start().await;
    let (status, _, body) = gw
        .post("/v1/messages", anthropic("mock-error-429", false))
        .await;
    assert_eq!(status, 429);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["message"], "mock provider: slow down");
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_reset_mid_stream_ends_with_an_error_event() {
    let gw = start().await;
    let (status, _, body) = gw.post("/v1/messages", anthropic("mock-reset", true)).await;
    assert_eq!(status, 200);
    let text = std::str::from_utf8(&body).unwrap();
    let events = stream_events("anthropic", "mock-reset", 3, false);
    assert!(text.starts_with(&events[..2].concat()), "{text}");
    let tail = &text[events[..2].concat().len()..];
    assert!(tail.starts_with("event: error\n"), "{tail}");
    let data: Value =
        serde_json::from_str(tail.lines().nth(1).unwrap().trim_start_matches("data: ")).unwrap();
    assert_eq!(data["type"], "error");
    gw.shutdown().await;
}

/// An upstream that gzips its event stream although asked for identity: its events could not be framed (idle timeout,
/// event cap, truncation), so the client gets a 502 in its API's shape naming the coding, not an opaque blob.
#[tokio::test]
async fn compressed_upstream_stream_is_refused_with_502() {
    let gw = start().await;
    let (status, headers, body) = gw
        .post("/v1/messages", anthropic("mock-gzip-stream", true))
        .await;
    assert_eq!(status, 502);
    assert!(headers.get("content-encoding").is_none());
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "error");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("Content-Encoding gzip"), "{msg}");
    assert_eq!(
        gw.mock.last().headers["accept-encoding"],
        "identity",
        "the gateway asked for identity"
    );
    gw.shutdown().await;
}

/// An upstream that closes cleanly in the middle of an event has truncated the answer: the client gets the whole
/// events before it and then an error event (its SDK raises), not half an event and a normal end. An event whose
/// lines are whole but whose closing blank line is missing is complete and is delivered, terminated.
#[tokio::test]
async fn upstream_closing_mid_event_ends_with_an_error_event() {
    let gw = start().await;
    for family in ["openai", "anthropic"] {
        let (path, body) = if family == "openai" {
            ("/v1/chat/completions", chat("mock-truncated", true))
        } else {
            ("/v1/messages", anthropic("mock-truncated", true))
        };
        let (status, _, body) = gw.post(path, body).await;
        assert_eq!(status, 200);
        let text = std::str::from_utf8(&body).unwrap();
        let events = stream_events(family, "mock-truncated", 3, false);
        let whole = events[..2].concat();
        assert!(text.starts_with(&whole), "{text}");
        let tail = &text[whole.len()..];
        assert!(tail.contains("truncated"), "{family}: {tail}");
        assert!(
            !tail.contains(&events[2][..events[2].len() / 2]),
            "{family}: half an event was delivered: {tail}"
        );
    }
    let (status, _, body) = gw
        .post("/v1/chat/completions", chat("mock-unterminated", true))
        .await;
    assert_eq!(status, 200);
    let events = stream_events("openai", "mock-unterminated", 3, false);
    assert_eq!(std::str::from_utf8(&body).unwrap(), events.concat());
    gw.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_get_404_in_the_right_shape() {
    let gw = start().await;
    let (s, _, body) = gw.post("/v1/fine_tuning/jobs", "{}").await;
    assert_eq!(s, 404);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/fine_tuning/jobs"));
    let (s, _, body) = gw.post("/v1/messages/batches", "{}").await;
    assert_eq!(s, 404);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(gw.mock.count(), 0, "nothing reached the provider");
    gw.shutdown().await;
}

#[tokio::test]
async fn bad_bodies_get_clear_errors_and_never_reach_upstream() {
    let gw = start().await;
    let secret = "900101-1234567";
    let malformed = format!(
        "{{\"model\": \"gpt-4o\", \"messages\": [{{\"role\":\"user\",\"content\":\"{secret}\""
    );
    let (s, _, body) = gw.post("/v1/chat/completions", malformed).await;
    assert_eq!(s, 400);
    let text = std::str::from_utf8(&body).unwrap();
    assert!(
        !text.contains(secret),
        "error message must not echo content: {text}"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let mut invalid_utf8 = br#"{"model":"m","messages":[{"role":"user","content":"x"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#""}]}"#);
    let (s, _, _) = gw.post("/v1/chat/completions", invalid_utf8).await;
    assert_eq!(s, 400);

    let (s, _, body) = gw.post("/v1/messages", "[1,2]").await;
    assert_eq!(s, 400);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");

    // A duplicate key: a last-wins destination would read the second content, a first-wins scanner the first.
    let ambiguous = format!(
        "{{\"model\":\"gpt-4o\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\",\"content\":\"{secret}\"}}]}}"
    );
    let (s, _, body) = gw.post("/v1/chat/completions", ambiguous).await;
    assert_eq!(s, 400);
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.contains("duplicate key"), "{text}");
    assert!(!text.contains(secret), "{text}");
    assert_eq!(gw.mock.count(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn unmodified_bodies_are_forwarded_byte_for_byte() {
    let gw = start().await;
    // Spacing, escapes, a key order and an integer too large for u64 that a re-serialisation would change.
    let body = "{ \"messages\": [ {\"content\": \"caf\\u00e9 \\/ 010-2345-6789\", \"role\": \"user\"} ],\n  \"model\": \"gpt-4o\", \"seed\": 123456789012345678901234567890 }";
    let (s, headers, _) = gw.post("/v1/chat/completions", body).await;
    assert_eq!(s, 200);
    assert!(
        headers["x-haetae-findings"]
            .to_str()
            .unwrap()
            .contains("KR_PHONE=1"),
        "{headers:?}"
    );
    assert_eq!(gw.mock.last().body, body.as_bytes());
    gw.shutdown().await;
}

/// Personal data sent as JSON numbers (a tool result's `{"rrn": 8503141308025}`, a tool call's card number) is
/// inspected like the same digits in a string, in every API's tool parts.
#[tokio::test]
async fn numbers_in_tool_parts_are_inspected() {
    let gw = start().await;
    let numbers = json!({"card_number": 4532015112833519u64, "rrn": 8503141308025u64, "count": 3});
    let gemini = json!({"contents": [{"role": "user", "parts": [
        {"functionResponse": {"name": "lookup", "response": numbers}}
    ]}]});
    let anthropic = json!({"model": "claude-sonnet-4", "max_tokens": 5, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": numbers}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}
    ]});
    let openai = json!({"model": "gpt-4o", "max_tokens": 5, "messages": [
        {"role": "user", "content": "look up"},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "ok"}], "extra": numbers}
    ]});
    for (path, body) in [
        ("/v1beta/models/gemini-2.0-flash:generateContent", gemini),
        ("/v1/messages", anthropic),
        ("/v1/chat/completions", openai),
    ] {
        let (s, headers, _) = gw.post(path, body.to_string()).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(
            headers["x-haetae-findings"], "CREDIT_CARD=1,KR_RRN=1",
            "{path}"
        );
    }
    gw.shutdown().await;
}

/// The model reads a message's text parts one after the other, so an identifier split across two parts is found
/// (once), in every format; a finding inside one part is not counted again at the seam, and parts of different
/// messages are not joined.
#[tokio::test]
async fn identifiers_split_across_text_parts_are_found() {
    let gw = start().await;
    let parts =
        |a: &str, b: &str| json!([{"type": "text", "text": a}, {"type": "text", "text": b}]);
    let openai = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": parts("주민번호 850314-", "1308025 입니다")}
    ]});
    let anthropic = json!({"model": "claude-sonnet-4", "max_tokens": 5,
        "system": parts("이 문서는 Ⅱ급", "비밀 입니다"),
        "messages": [{"role": "user", "content": parts("card 4532 0151 ", "1283 3519 thanks")}]});
    let gemini = json!({"contents": [{"role": "user", "parts": [
        {"text": "mail kim@exam"}, {"text": "ple.com, phone 010-2837-"}, {"text": "4651"}
    ]}]});
    for (path, body, expected) in [
        ("/v1/chat/completions", openai, "KR_RRN=1"),
        (
            "/v1/messages",
            anthropic,
            "CLASSIFICATION_MARKING=1,CREDIT_CARD=1",
        ),
        (
            "/v1beta/models/gemini-2.0-flash:generateContent",
            gemini,
            "EMAIL=1,KR_PHONE=1",
        ),
    ] {
        let (s, headers, _) = gw.post(path, body.to_string()).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(headers["x-haetae-findings"], expected, "{path}");
    }
    // Context words in one part make a number or name in the next reportable, as in one text.
    let context = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": parts("입금 계좌는", " 110-123-456789 이고 성명:")},
        {"role": "user", "content": parts("성명:", " 홍길동")}
    ]});
    let (_, headers, _) = gw.post("/v1/chat/completions", context.to_string()).await;
    assert_eq!(headers["x-haetae-findings"], "KR_BANK_ACCOUNT=1,PERSON=1");
    // Whole findings on both sides of a seam count once each.
    let whole = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": parts("kim@example.com", "010-2837-4651")}
    ]});
    let (_, headers, _) = gw.post("/v1/chat/completions", whole.to_string()).await;
    assert_eq!(headers["x-haetae-findings"], "EMAIL=1,KR_PHONE=1");
    // Two messages are two turns, not one text.
    let turns = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "주민번호 850314-"}]},
        {"role": "user", "content": [{"type": "text", "text": "1308025 입니다"}]}
    ]});
    let (_, headers, _) = gw.post("/v1/chat/completions", turns.to_string()).await;
    assert_eq!(headers["x-haetae-findings"], "none");
    // Also when each turn's content is a plain string (the common request).
    let turns = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "주민번호 850314-"},
        {"role": "user", "content": "1308025 입니다"}
    ]});
    let (_, headers, _) = gw.post("/v1/chat/completions", turns.to_string()).await;
    assert_eq!(headers["x-haetae-findings"], "none");
    gw.shutdown().await;
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn compressed_bodies_are_decoded_bombs_refused() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.limits.max_request_body_bytes = 64 * 1024;
    settings.limits.max_decoded_body_bytes = 64 * 1024;
    let gw = start_with(mock, settings).await;
    let plain = chat("gpt-4o-mini", false);
    let (s, _, _) = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[JSON, ("content-encoding", "gzip")],
        gzip(plain.as_bytes()),
    )
    .await;
    assert_eq!(s, 200);
    let seen = gw.mock.last();
    assert!(seen.headers.get("content-encoding").is_none());
    assert_eq!(seen.body, Bytes::from(plain.clone()), "forwarded decoded");

    let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
    let (s, _, _) = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[JSON, ("content-encoding", "gzip")],
        bomb,
    )
    .await;
    assert_eq!(s, 413);
    let (s, _, _) = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[JSON, ("content-encoding", "compress")],
        "xx",
    )
    .await;
    assert_eq!(s, 415);
    // Two header lines mean the same as `gzip, gzip`.
    let (s, _, _) = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[
            JSON,
            ("content-encoding", "gzip"),
            ("content-encoding", "gzip"),
        ],
        gzip(&gzip(plain.as_bytes())),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(gw.mock.last().body, Bytes::from(plain.clone()));
    // A value that is no coding token is not echoed (the client can put anything in a header).
    let (s, _, body) = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[JSON, ("content-encoding", "900101-1234568 kim@example.com")],
        "xx",
    )
    .await;
    assert_eq!(s, 415);
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("900101") && !text.contains("kim@"), "{text}");
    let (s, _, _) = gw.post("/v1/chat/completions", vec![b'x'; 65 * 1024]).await;
    assert_eq!(s, 413);
    assert_eq!(gw.mock.count(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn oversize_chunked_body_is_refused_while_reading() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.limits.max_request_body_bytes = 1024;
    let gw = start_with(mock, settings).await;
    let chunks: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = (0..10)
        .map(|_| Ok(http_body::Frame::data(Bytes::from(vec![b'a'; 200]))))
        .collect();
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
    let req = http::Request::post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 413);
    gw.shutdown().await;
}

#[tokio::test]
async fn gateway_keys_are_required_and_never_forwarded() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.tenants.push(haetae::config::TenantSettings {
        name: "acme".into(),
        key_sha256: vec![haetae::proxy::auth::key_hash_hex("gw-acme-key")],
    });
    let gw = start_with(mock, settings).await;
    let (s, _, body) = gw.post("/v1/messages", anthropic("m", false)).await;
    assert_eq!(s, 401);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    let (s, _, _) = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[JSON, ("authorization", "Bearer wrong")],
        chat("m", false),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(gw.mock.count(), 0);
    let (s, _, _) = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[
            JSON,
            ("authorization", "Bearer gw-acme-key"),
            ("api-key", "gw-acme-key"),
            ("cookie", "session=gw-acme-key"),
            ("openai-organization", "org-chosen-by-a-tenant"),
            ("openai-project", "proj-chosen-by-a-tenant"),
        ],
        chat("m", false),
    )
    .await;
    assert_eq!(s, 200);
    let seen = gw.mock.last();
    for (_, v) in seen.headers.iter() {
        assert!(!v.to_str().unwrap_or("").contains("gw-acme-key"));
    }
    // The organisation and project the provider key works under are the operator's, not a tenant's.
    assert!(seen.headers.get("openai-organization").is_none());
    assert!(seen.headers.get("openai-project").is_none());
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_head_is_504() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    // A port nobody listens on. Not a port 0 listener bound and dropped: under a parallel test run another test's
    // listener can take that port in between, and the request then times out (504) instead of being refused.
    let dead_addr = "127.0.0.1:1";
    assert!(
        std::net::TcpStream::connect(dead_addr).is_err(),
        "something listens on {dead_addr}"
    );
    settings.destinations[1].base_url = format!("http://{dead_addr}");
    settings.timeouts.upstream_first_byte_ms = 300;
    let gw = start_with(mock, settings).await;
    let (s, _, body) = gw.post("/v1/messages", anthropic("m", false)).await;
    assert_eq!(s, 502);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("anthropic"));
    let (s, _, body) = gw
        .post("/v1/chat/completions", chat("mock-hang", false))
        .await;
    assert_eq!(s, 504, "{body:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_connect_timeout_covers_the_tls_handshake() {
    // Accepts TCP connections and keeps them open, but never answers the TLS ClientHello.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.destinations[1].base_url = format!("https://{silent_addr}");
    settings.timeouts.upstream_connect_ms = 300;
    settings.timeouts.upstream_first_byte_ms = 20_000;
    let gw = start_with(mock, settings).await;
    let started = std::time::Instant::now();
    let (s, _, body) = gw.post("/v1/messages", anthropic("m", false)).await;
    let took = started.elapsed();
    assert_eq!(s, 502, "{body:?}");
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: the handshake was not bounded by upstream_connect_ms"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "error", "Anthropic error shape: {v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("anthropic") && msg.contains("timeouts.upstream_connect_ms"),
        "{msg}"
    );
    assert_eq!(gw.mock.count(), 0);
    gw.shutdown().await;
    held.abort();
}

#[tokio::test]
async fn idle_upstream_stream_is_cut_with_an_error_event() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.timeouts.upstream_idle_ms = 200;
    let gw = start_with(mock, settings).await;
    let (s, _, body) = gw
        .post("/v1/chat/completions", chat("mock-stall", true))
        .await;
    assert_eq!(s, 200);
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.contains("tok0"));
    let last = text.trim_end().lines().last().unwrap();
    let v: Value = serde_json::from_str(last.trim_start_matches("data: ")).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upstream_idle_ms"),
        "{v}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn concurrency_limit_sheds_load_in_the_api_shape() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.limits.max_concurrent_requests = 1;
    let gw = start_with(mock, settings).await;
    let req = http::Request::post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(chat("mock-stall", true))))
        .unwrap();
    let held = client().request(req).await.unwrap();
    assert_eq!(held.status(), 200);
    let (s, h, body) = gw.post("/v1/chat/completions", chat("m", false)).await;
    assert!(s == 503 || s == 429, "{s}");
    assert_eq!(
        h["retry-after"], "1",
        "SDKs wait this long before their retry"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_concurrent_requests"));
    drop(held);
    gw.shutdown().await;
}

/// Point the `domestic` destination at `mock` and route `exaone*` models to it; returns that destination.
fn route_exaone_to<'a>(
    settings: &'a mut haetae::config::Settings,
    mock: &MockProvider,
) -> &'a mut haetae::config::DestinationSettings {
    settings
        .routing
        .models
        .insert("exaone*".into(), "domestic".into());
    let d = settings
        .destinations
        .iter_mut()
        .find(|d| d.name == "domestic")
        .unwrap();
    d.base_url = format!("{}/v1", mock.base());
    d
}

/// `(status, x-haetae-destination)` of one request sent with gateway key `key` (a JSON body unless it is empty).
async fn as_tenant(
    gw: &TestGateway,
    key: &str,
    method: &str,
    path: &str,
    body: String,
) -> (u16, String) {
    let auth = format!("Bearer {key}");
    let (s, h, _) = send(
        method,
        &gw.url(path),
        &[JSON, ("authorization", &auth)],
        body,
    )
    .await;
    let destination = h
        .get("x-haetae-destination")
        .map_or("-", |v| v.to_str().unwrap())
        .to_owned();
    (s.as_u16(), destination)
}

/// A stored response lives where it was created: retrieving, cancelling, listing and deleting it through the
/// gateway reach that destination, whichever path the id came back on (a non-streaming body with `id` first or last,
/// a stream's `response.created`), and another tenant cannot reach it with its own key.
#[tokio::test]
async fn stored_responses_follow_the_destination_that_created_them() {
    const KR: &str = "domestic; jurisdiction=KR";
    const US: &str = "openai; jurisdiction=US";
    let mock = MockProvider::start().await;
    let domestic = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    route_exaone_to(&mut settings, &domestic);
    for (name, key) in [("team-a", "gw-key-a"), ("team-b", "gw-key-b")] {
        settings.tenants.push(haetae::config::TenantSettings {
            name: name.into(),
            key_sha256: vec![haetae::proxy::auth::key_hash_hex(key)],
        });
    }
    let restart = settings.clone();
    let gw = start_with(mock, settings).await;
    let (a, b) = ("gw-key-a", "gw-key-b");
    let create = |model: &str, id: &str, order: &str, stream: bool| {
        json!({"model": model, "input": "hi", "store": true, "stream": stream,
            "metadata": {"mock_id": id, "mock_order": order}})
        .to_string()
    };
    for (model, id, order, stream, expect) in [
        ("exaone-3.5", "resp_dom_first", "", false, KR),
        ("exaone-3.5", "resp_dom_last", "id-last", false, KR),
        ("exaone-3.5", "resp_dom_stream", "", true, KR),
        ("gpt-4o-mini", "resp_public", "", false, US),
    ] {
        let body = create(model, id, order, stream);
        let got = as_tenant(&gw, a, "POST", "/v1/responses", body).await;
        assert_eq!(got, (200, expect.to_owned()), "{id}");
    }
    assert_eq!(gw.shared.response_homes.len(), 4);

    let public_before = gw.mock.count();
    for id in ["resp_dom_first", "resp_dom_last", "resp_dom_stream"] {
        for (method, path) in [
            ("GET", format!("/v1/responses/{id}")),
            ("GET", format!("/v1/responses/{id}/input_items")),
            ("POST", format!("/v1/responses/{id}/cancel")),
        ] {
            let got = as_tenant(&gw, a, method, &path, String::new()).await;
            assert_eq!(got, (200, KR.to_owned()), "{method} {path}");
            let seen = domestic.last();
            assert_eq!(
                (seen.method.as_str(), &seen.path_and_query),
                (method, &path)
            );
        }
        // Another tenant's key: not found, in OpenAI's error shape, and nothing is sent anywhere.
        let domestic_before = domestic.count();
        let (s, _, body) = send(
            "GET",
            &gw.url(&format!("/v1/responses/{id}")),
            &[("authorization", "Bearer gw-key-b")],
            Bytes::new(),
        )
        .await;
        assert_eq!(s, 404, "{id}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        assert!(!v.to_string().contains(id), "the id is not echoed: {v}");
        assert_eq!(domestic.count(), domestic_before);
    }
    assert_eq!(
        gw.mock.count(),
        public_before,
        "no stored-response request reached the public destination"
    );
    // Nor can another tenant continue from it; its own tenant can, on the domestic destination.
    let next = |id: &str| {
        json!({"model":"exaone-3.5","input":"and then?","previous_response_id":"resp_dom_last",
            "metadata":{"mock_id":id}})
        .to_string()
    };
    let got = as_tenant(&gw, b, "POST", "/v1/responses", next("resp_b")).await;
    assert_eq!(got, (404, "-".to_owned()));
    let got = as_tenant(&gw, a, "POST", "/v1/responses", next("resp_dom_next")).await;
    assert_eq!(got, (200, KR.to_owned()));
    let got = as_tenant(&gw, a, "GET", "/v1/responses/resp_public", String::new()).await;
    assert_eq!(got, (200, US.to_owned()));
    // An id the gateway never saw goes to the default destination, as before.
    let got = as_tenant(&gw, b, "GET", "/v1/responses/resp_unknown", String::new()).await;
    assert_eq!(got, (200, US.to_owned()));

    // A successful delete forgets the id: the next request about it is routed like an unknown one.
    let got = as_tenant(
        &gw,
        a,
        "DELETE",
        "/v1/responses/resp_dom_first",
        String::new(),
    )
    .await;
    assert_eq!(got, (200, KR.to_owned()));
    assert_eq!(gw.shared.response_homes.len(), 4);
    assert!(gw.shared.response_homes.lookup("resp_dom_first").is_none());
    gw.shutdown().await;

    // A restart keeps the table (in stored-responses.jsonl next to the residency log): retrievals still reach the
    // domestic destination, other tenants still get a 404, and the deleted id stays forgotten.
    let gw = start_with(MockProvider::start().await, restart).await;
    assert_eq!(gw.shared.response_homes.len(), 4);
    for id in ["resp_dom_last", "resp_dom_stream", "resp_dom_next"] {
        let path = format!("/v1/responses/{id}");
        let got = as_tenant(&gw, a, "GET", &path, String::new()).await;
        assert_eq!(got, (200, KR.to_owned()), "{id} after a restart");
        assert_eq!(domestic.last().path_and_query, path);
    }
    let got = as_tenant(&gw, b, "GET", "/v1/responses/resp_dom_last", String::new()).await;
    assert_eq!(got, (404, "-".to_owned()));
    assert!(gw.shared.response_homes.lookup("resp_dom_first").is_none());
    gw.shutdown().await;
}

#[tokio::test]
async fn model_routes_send_matching_models_to_the_domestic_destination() {
    let mock = MockProvider::start().await;
    let domestic = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    route_exaone_to(&mut settings, &domestic).model_map.insert(
        "exaone".into(),
        "LGAI-EXAONE/EXAONE-3.5-7.8B-Instruct".into(),
    );
    let gw = start_with(mock, settings).await;
    let (s, headers, _) = gw.post("/v1/chat/completions", chat("exaone", false)).await;
    assert_eq!(s, 200);
    assert_eq!(headers["x-haetae-destination"], "domestic; jurisdiction=KR");
    let seen = domestic.last();
    assert_eq!(seen.path_and_query, "/v1/chat/completions");
    assert_eq!(seen.json()["model"], "LGAI-EXAONE/EXAONE-3.5-7.8B-Instruct");
    assert!(
        seen.headers.get("authorization").is_none(),
        "domestic destination has no credential"
    );
    assert_eq!(gw.mock.count(), 0);
    // The rewrite changes the model and nothing else: numbers serde_json would re-spell (an integer past u64, an
    // exponent, a negative zero), spacing and escapes reach the destination as the client wrote them.
    let body = r#"{ "model": "exaone", "seed": 18446744073709551616, "n": 1E0, "x": -0,
  "messages": [{"role": "user", "content": "caf\u00e9"}] }"#;
    let (s, _, _) = gw.post("/v1/chat/completions", body.to_owned()).await;
    assert_eq!(s, 200);
    let seen = domestic.last();
    assert_eq!(
        std::str::from_utf8(&seen.body).unwrap(),
        body.replace(r#""exaone""#, r#""LGAI-EXAONE/EXAONE-3.5-7.8B-Instruct""#)
    );
    gw.shutdown().await;
}

/// A stream still open when the grace period ends gets an error event in its API's shape (the SDK raises it), not
/// a bare connection drop, and the gateway stops. A request still waiting for its response head gets an error
/// response in its API's shape (503), not a closed connection.
#[tokio::test]
async fn streams_open_at_the_end_of_the_grace_period_end_with_an_error_event() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.timeouts.shutdown_grace_ms = 300;
    let mut gw = start_with(mock, settings).await;
    // `mock-hang` answers after 5 s: still waiting for its head when the grace period ends.
    let waiting = gw.post_in_background("/v1/chat/completions", chat("mock-hang", false));
    let req = http::Request::post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(chat("mock-stall", true))))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    while gw.mock.count() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.begin_shutdown();
    let (s, _, body) = tokio::time::timeout(Duration::from_secs(3), waiting)
        .await
        .expect("the waiting request is answered shortly after the grace period")
        .unwrap();
    assert_eq!(s, 503);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("shutting down"), "{v}");
    let body = tokio::time::timeout(Duration::from_secs(3), resp.into_body().collect())
        .await
        .expect("the stream ends shortly after the grace period")
        .unwrap()
        .to_bytes();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.contains("shutting down"), "{text}");
    assert!(
        text.trim_end().ends_with('}'),
        "ends with the error event: {text}"
    );
    let task = gw.task.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn graceful_shutdown_drains_in_flight_streams() {
    let mut gw = start().await;
    let req = http::Request::post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(chat("mock-slow", true))))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    gw.begin_shutdown();
    // While the stream drains, probes are answered: alive, not ready.
    let probe = |path: &'static str| {
        let url = format!("http://{}{path}", gw.admin);
        async move { send("GET", &url, &[], Bytes::new()).await }
    };
    let (s, _, body) = probe("/readyz").await;
    assert_eq!(s, 503);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "draining", "{v}");
    assert_eq!(probe("/healthz").await.0, 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        stream_events("openai", "mock-slow", 3, false).concat()
    );
    let task = gw.task.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(gw.addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn health_and_readiness_on_the_admin_listener() {
    let gw = start().await;
    let (s, _, _) = send(
        "GET",
        &format!("http://{}/healthz", gw.admin),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, body) = send(
        "GET",
        &format!("http://{}/readyz", gw.admin),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(s, 200);
    assert!(std::str::from_utf8(&body).unwrap().contains("ready"));
    // the traffic listener does not serve admin paths
    let (s, _, _) = send("GET", &gw.url("/healthz"), &[], Bytes::new()).await;
    assert_eq!(s, 404);
    gw.shutdown().await;
}

#[tokio::test]
async fn metrics_need_the_admin_token_when_one_is_configured() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.server.admin_token_sha256 = vec![haetae::proxy::auth::key_hash_hex("scrape-token")];
    let gw = start_with(mock, settings).await;
    let metrics = format!("http://{}/metrics", gw.admin);
    for auth in [None, Some("Bearer wrong"), Some("scrape-token")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let (s, h, body) = send("GET", &metrics, &headers, Bytes::new()).await;
        assert_eq!(s, 401, "{auth:?}");
        assert_eq!(h["www-authenticate"], "Bearer");
        let text = std::str::from_utf8(&body).unwrap();
        assert!(text.contains("server.admin_token_sha256"), "{text}");
        assert!(!text.contains("haetae_"), "no metric leaks: {text}");
    }
    let (s, _, body) = send(
        "GET",
        &metrics,
        &[("authorization", "Bearer scrape-token")],
        Bytes::new(),
    )
    .await;
    assert_eq!(s, 200);
    assert!(std::str::from_utf8(&body).unwrap().contains("haetae_"));
    // Probes need no token.
    for path in ["/healthz", "/readyz"] {
        let (s, _, _) = send(
            "GET",
            &format!("http://{}{path}", gw.admin),
            &[],
            Bytes::new(),
        )
        .await;
        assert_eq!(s, 200, "{path}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn h2c_clients_are_served() {
    let gw = start().await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let req = http::Request::post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(chat("mock-split", true))))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        stream_events("openai", "mock-split", 3, false).concat()
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn tls_termination_with_alpn_h2_and_http1() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    settings.server.tls = Some(haetae::config::TlsSettings {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    });
    let gw = start_with(mock, settings).await;
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    for h2 in [true, false] {
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
        let b = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        let connector = if h2 {
            b.enable_http2().build()
        } else {
            b.enable_http1().build()
        };
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build::<_, Full<Bytes>>(connector);
        let req = http::Request::post(format!(
            "https://localhost:{}/v1/chat/completions",
            gw.addr.port()
        ))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(chat("gpt-4o-mini", false))))
        .unwrap();
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let expected = if h2 {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
        assert_eq!(resp.version(), expected);
    }
    // Plain HTTP to the TLS listener: the handshake fails, the connection is closed and counted.
    {
        use tokio::io::AsyncWriteExt;
        let mut plain = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        plain
            .write_all(b"GET /v1/models HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .unwrap();
        closed_by_the_gateway(&mut plain).await;
    }
    assert_eq!(scrape(&gw).await.closed, [("tls_failed".into(), 1)]);
    gw.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_can_be_forwarded_by_config_and_are_still_scanned() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.server.allow_unknown_paths = true;
    let gw = start_with(mock, settings).await;
    let (s, headers, _) = gw
        .post(
            "/v1/fine_tuning/jobs",
            r#"{"note":"mail hong.gildong@example.co.kr"}"#,
        )
        .await;
    assert_eq!(
        s, 404,
        "the mock does not know the path; the gateway forwarded it"
    );
    assert_eq!(headers["x-haetae-findings"], "EMAIL=1");
    assert_eq!(gw.mock.last().path_and_query, "/v1/fine_tuning/jobs");
    let (s, _, _) = gw.post("/v1/fine_tuning/jobs", vec![0xffu8, 0xfe]).await;
    assert_eq!(s, 400, "a body that cannot be inspected is not forwarded");
    assert_eq!(gw.mock.count(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn private_ca_destinations_and_h2_upstreams() {
    let mock = MockProvider::start().await;
    let tls_mock = MockProvider::start_tls().await;
    let h2c_mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
    let d = settings
        .destinations
        .iter_mut()
        .find(|d| d.name == "domestic")
        .unwrap();
    d.base_url = format!("{}/v1", tls_mock.tls_base());
    d.ca_bundle = Some(ca);
    let mut h2 = d.clone();
    h2.name = "h2c".into();
    h2.base_url = format!("{}/v1", h2c_mock.base());
    h2.ca_bundle = None;
    h2.http2_prior_knowledge = true;
    settings.destinations.push(h2);
    // a destination with the private-CA server but without the bundle must fail verification
    let mut untrusted = settings.destinations[3].clone();
    untrusted.name = "untrusted".into();
    untrusted.ca_bundle = None;
    settings.destinations.push(untrusted);
    settings
        .routing
        .models
        .insert("kr-*".into(), "domestic".into());
    settings.routing.models.insert("h2-*".into(), "h2c".into());
    settings
        .routing
        .models
        .insert("bad-*".into(), "untrusted".into());
    let gw = start_with(mock, settings).await;

    let (s, _, body) = gw
        .post("/v1/chat/completions", chat("kr-model", true))
        .await;
    assert_eq!(s, 200, "{body:?}");
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .ends_with("data: [DONE]\n\n"));
    assert_eq!(tls_mock.count(), 1);

    let (s, _, _) = gw
        .post("/v1/chat/completions", chat("h2-model", false))
        .await;
    assert_eq!(s, 200);
    assert_eq!(h2c_mock.count(), 1);

    let (s, _, body) = gw
        .post("/v1/chat/completions", chat("bad-model", false))
        .await;
    assert_eq!(s, 502);
    let msg = serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"].to_string();
    assert!(
        msg.contains("untrusted") && msg.to_lowercase().contains("certificate"),
        "{msg}"
    );
    assert_eq!(tls_mock.count(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_oversize_heads_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.timeouts.client_header_ms = 300;
    settings.timeouts.client_body_ms = 300;
    settings.limits.max_header_bytes = 8192;
    let gw = start_with(mock, settings).await;

    // slowloris: a request head that never ends → the connection is closed
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(n.is_ok(), "connection was not closed");

    // a body that never finishes → a clear error, nothing forwarded
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\"")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("client_body_ms"), "{text}");

    // oversize request head: over the limit, a 431 in the API's shape that the SDK can show
    let with_header_of = |path: &'static str, bytes: usize, body: String| {
        let (url, big) = (gw.url(path), "x".repeat(bytes));
        async move { send("POST", &url, &[JSON, ("x-big", &big)], body).await }
    };
    let (s, _, body) = with_header_of("/v1/chat/completions", 12 * 1024, chat("m", false)).await;
    assert_eq!(s, 431);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "request_header_fields_too_large");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("limits.max_header_bytes"));
    let (s, _, body) = with_header_of("/v1/messages", 12 * 1024, "{}".into()).await;
    assert_eq!(s, 431);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "error", "Anthropic's shape: {v}");
    // just under the limit: served
    let (s, _, _) = with_header_of("/v1/chat/completions", 8192 - 400, chat("m", false)).await;
    assert_eq!(s, 200);
    assert_eq!(gw.mock.count(), 1);
    // past twice the limit: the HTTP layer refuses it before parsing (a bare 431), still nothing forwarded
    let (s, _, _) = with_header_of("/v1/chat/completions", 20 * 1024, chat("m", false)).await;
    assert_eq!(s, 431);
    assert_eq!(gw.mock.count(), 1);
    gw.shutdown().await;
}

/// A connection that never sends a request (not a byte, or only the HTTP/2 preface) is closed after
/// `client_header_ms`, so a handful of them cannot hold every slot of `limits.max_connections`.
#[tokio::test]
async fn silent_connections_are_closed_and_free_their_slot() {
    use tokio::io::AsyncWriteExt;
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.timeouts.client_header_ms = 300;
    settings.limits.max_connections = 2;
    let gw = start_with(mock, settings).await;
    assert_eq!(scrape(&gw).await.open_connections, 0);
    let mut silent = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    // Counted once accepted (the listener's own wait for the next connection is not a connection).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while scrape(&gw).await.open_connections == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(scrape(&gw).await.open_connections, 1);
    let mut preface_only = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    preface_only
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // Both slots are taken; the request waits for one to be freed (without the deadline it would wait for ever).
    served_once_a_slot_is_free(&gw).await;
    for conn in [&mut silent, &mut preface_only] {
        closed_by_the_gateway(conn).await;
    }
    assert_eq!(scrape(&gw).await.closed, [("no_request".into(), 2)]);
    gw.shutdown().await;
}

/// An HTTP/2 client answers the gateway's pings, so without an idle timeout a connection that served one request
/// (even a refused one: no key is needed) would hold one of `limits.max_connections` for ever. After
/// `timeouts.client_idle_ms` with nothing in flight the gateway sends GOAWAY and closes it; requests in flight far
/// longer than that (waiting for the head, or streaming a body) are not cut.
#[tokio::test]
async fn idle_h2_connections_are_closed_but_not_while_a_request_is_in_flight() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.timeouts.client_idle_ms = 300;
    settings.limits.max_connections = 1;
    let gw = start_with(mock, settings).await;
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let request = |model: &str, stream: bool| {
        let mut send = send.clone();
        let req = http::Request::post(gw.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(chat(model, stream))))
            .unwrap();
        async move {
            let resp = send.send_request(req).await.unwrap();
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    // `mock-hang` answers after 5 s, `mock-stall` streams one event and then nothing for 5 s: both outlast the idle
    // timeout many times over, on one connection.
    let ((s1, hang), (s2, stall)) =
        tokio::join!(request("mock-hang", false), request("mock-stall", true));
    assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200));
    assert_eq!(
        serde_json::from_str::<Value>(&hang).unwrap()["model"],
        "mock-hang"
    );
    assert!(stall.ends_with(": late\n\n"), "{stall}");
    // Now idle: GOAWAY, and the connection ends cleanly.
    tokio::time::timeout(Duration::from_secs(20), conn)
        .await
        .expect("the idle connection was closed")
        .unwrap()
        .unwrap();
    // Its slot is free again.
    served_once_a_slot_is_free(&gw).await;
    assert_eq!(scrape(&gw).await.closed, [("idle".into(), 1)]);
    gw.shutdown().await;
}

/// The gateway closes `conn` (read to its end within 20 s).
async fn closed_by_the_gateway(conn: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was closed");
}

/// A chat request on a new connection is answered 200 within 20 s: with `limits.max_connections` all taken, only
/// once the gateway frees a slot.
async fn served_once_a_slot_is_free(gw: &TestGateway) {
    let (s, _, _) = tokio::time::timeout(
        Duration::from_secs(20),
        gw.post("/v1/chat/completions", chat("gpt-4o-mini", false)),
    )
    .await
    .expect("a slot was freed");
    assert_eq!(s, 200);
}

/// The connection metrics on the admin listener.
struct ConnectionMetrics {
    /// `haetae_open_connections`.
    open_connections: u64,
    /// `haetae_connections_closed_total`: (reason, count), sorted by reason.
    closed: Vec<(String, u64)>,
}

async fn scrape(gw: &TestGateway) -> ConnectionMetrics {
    let url = format!("http://{}/metrics", gw.admin);
    let (s, _, body) = send("GET", &url, &[], Bytes::new()).await;
    assert_eq!(s, 200);
    let text = std::str::from_utf8(&body).unwrap();
    let mut closed: Vec<(String, u64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("haetae_connections_closed_total{reason=\""))
        .map(|rest| {
            let (reason, count) = rest.split_once("\"} ").unwrap();
            (reason.to_owned(), count.parse().unwrap())
        })
        .collect();
    closed.sort();
    let open_connections = text
        .lines()
        .find_map(|line| line.strip_prefix("haetae_open_connections "))
        .unwrap()
        .parse()
        .unwrap();
    ConnectionMetrics {
        open_connections,
        closed,
    }
}

#[tokio::test]
async fn large_bodies_are_scanned_off_the_runtime_workers_and_forwarded_intact() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.limits.inline_scan_bytes = 16 * 1024;
    let gw = start_with(mock, settings).await;
    // ~300 KiB of prose with an RRN and an e-mail address at the far end: scanned on the blocking pool.
    let prose =
        "분기 실적 검토 회의 자료를 요약해 주세요 — please keep the tone formal. ".repeat(4000);
    let content = format!("{prose} 주민등록번호 900101-1234567, hong.gildong@example.co.kr");
    let body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": content}],
    })
    .to_string();
    assert!(body.len() > 16 * 1024 * 16);
    let (s, headers, _) = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(headers["x-haetae-findings"], "EMAIL=1,KR_RRN=1");
    assert_eq!(
        gw.mock.last().json(),
        serde_json::from_str::<Value>(&body).unwrap()
    );
    // Small bodies take the inline path and report the same way.
    let (s, headers, _) = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"mail hong.gildong@example.co.kr"}]}"#,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(headers["x-haetae-findings"], "EMAIL=1");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_body_too_slow_to_scan_is_refused_at_the_inspection_deadline() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.timeouts.inspection_ms = 5;
    let gw = start_with(mock, settings.clone()).await;
    // ~1 MB built to be slow to scan (every `sk-` starts a candidate that is rejected at its end): about half a second
    // in release, seconds in debug, against 5 ms.
    let content = "xsk-".repeat(250_000);
    for (path, body) in [
        (
            "/v1/chat/completions",
            serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}),
        ),
        (
            "/v1/messages",
            serde_json::json!({"model": "claude-x", "max_tokens": 8, "messages": [{"role": "user", "content": content}]}),
        ),
    ] {
        let (s, h, resp) = gw.post(path, body.to_string()).await;
        assert_eq!(s, 413, "{path}");
        // the request was inspected (in part): the header reports what the scan found before it stopped, which
        // depends on the order of the engine's passes (here, the e-mail address's pass had not run yet)
        assert!(h.contains_key("x-haetae-findings"), "{path}");
        let v: Value = serde_json::from_slice(&resp).unwrap();
        let message = if path == "/v1/messages" {
            assert_eq!(v["type"], "error");
            v["error"]["message"].as_str().unwrap().to_owned()
        } else {
            v["error"]["message"].as_str().unwrap().to_owned()
        };
        assert!(message.contains("timeouts.inspection_ms"), "{message}");
        assert!(!message.contains("xsk-"), "{message}");
    }
    assert_eq!(gw.mock.count(), 0, "nothing unscanned is forwarded");
    gw.shutdown().await;
    // The outcome records: refused, no destination, findings marked a lower bound.
    let leaves = leaves_when_published(&settings.audit.dir, &verifier(&settings), 3);
    let refused: Vec<_> = leaves
        .iter()
        .filter_map(|l| l.entry.as_request())
        .filter(|r| r.outcome == "refused")
        .collect();
    assert_eq!(refused.len(), 2);
    for r in refused {
        assert!(r.findings_incomplete, "{r:?}");
        assert!(r.destination.is_none(), "{r:?}");
    }
}

/// Text the client controls outside the replaceable segments is inspected too: signed reasoning (Anthropic
/// `thinking` blocks, Responses `reasoning` summaries) and end-user identifiers (`user`, `metadata`).
#[tokio::test]
async fn signed_reasoning_and_user_identifiers_are_inspected() {
    let gw = start().await;
    let thinking = json!({"model": "m", "max_tokens": 8,
        "metadata": {"user_id": "kim.minsu@example.co.kr"},
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "고객 주민번호 900101-1234568 확인", "signature": "sig"},
                {"type": "text", "text": "ok"}]},
            {"role": "user", "content": "go on"}]});
    let (s, h, _) = gw.post("/v1/messages", thinking.to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=1,KR_RRN=1");
    let seen = gw.mock.last();
    assert_eq!(
        seen.json()["messages"][1]["content"][0]["signature"],
        "sig",
        "a signed block is forwarded untouched"
    );

    let reasoning = json!({"model": "m", "user": "lee@example.com", "input": [
        {"type": "reasoning", "id": "rs_1", "summary": [
            {"type": "summary_text", "text": "card 4111 1111 1111 1111 on file"}]},
        {"role": "user", "content": "continue"}]});
    let (s, h, _) = gw.post("/v1/responses", reasoning.to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "CREDIT_CARD=1,EMAIL=1");

    // Participant names, tool descriptions and stop sequences are client text too.
    let chat = json!({"model": "m", "stop": ["900101-1234568"],
        "tools": [{"type": "function", "function": {"name": "f",
            "description": "escalate to park@example.com", "parameters": {"type": "object"}}}],
        "messages": [{"role": "user", "name": "choi@example.com", "content": "hi"}]});
    let (s, h, _) = gw.post("/v1/chat/completions", chat.to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=2,KR_RRN=1");

    // Tool parameter schemas: descriptions and enum values (OpenAI, Anthropic, Gemini shapes).
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
            "properties": {"who": {"type": "string", "description": "default owner kim@example.com",
                "enum": ["900101-1234568"]}}}}}]});
    let (s, h, _) = gw.post("/v1/chat/completions", chat.to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=1,KR_RRN=1");
    let messages = json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "t", "input_schema": {"type": "object",
            "properties": {"x": {"type": "string", "description": "escalate to lee@example.com"}}}}]});
    let (s, h, _) = gw.post("/v1/messages", messages.to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=1");
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "g", "description": "owner park@example.com",
            "parameters": {"type": "object"}}]}]});
    let (s, h, _) = gw
        .post(
            "/v1beta/models/gemini-2.0-flash:generateContent",
            gemini.to_string(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=1");
    gw.shutdown().await;
}

/// Every other string and key of the body is read too, each once: structured-output schemas, legacy `functions`,
/// unknown fields and part types, object keys, tokens in `mcp_servers`, and text files sent as base64 or `data:`
/// URIs. Binary payloads (an image) are not read as text.
#[tokio::test]
async fn fields_outside_the_segments_are_inspected_once() {
    use base64::Engine as _;
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    let gw = start().await;
    let png = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD
            .encode([0x89u8, b'P', b'N', b'G', 0xff, 0x00, 0x9c, 0x01].repeat(64))
    );
    let chat = json!({"model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi"},
            {"type": "image_url", "image_url": {"url": png}},
            {"type": "file", "file": {"filename": "a.txt",
                "file_data": format!("data:text/plain;base64,{}", b64("연락처 010-2837-4651"))}},
            {"type": "brand_new_part", "payload": "lee@example.com"}]}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object",
            "description": "예: 900101-1234568", "properties": {"a": {"const": "kim@example.com"}}}}},
        "functions": [{"name": "f", "description": "card 4111 1111 1111 1111"}],
        "metadata_extra": {"park@example.com": "v"}});
    let (s, h, _) = gw.post("/v1/chat/completions", chat.to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(
        h["x-haetae-findings"],
        "CREDIT_CARD=1,EMAIL=3,KR_PHONE=1,KR_RRN=1"
    );
    let messages = json!({"model": "m", "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}],
        "mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "x",
            "authorization_token": "sk-proj-Tq3vX9mB2kLw8RzYc4NdP7sHf1GjA6eU"}],
        "output_format": {"type": "json_schema", "schema": {"description": "owner choi@example.com"}}});
    let (s, h, _) = gw.post("/v1/messages", messages.to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=1,SECRET_KEY=1");
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "hi"},
            {"inlineData": {"mimeType": "text/plain", "data": b64("owner: yoon@example.com")}}]}],
        "generationConfig": {"responseSchema": {"type": "OBJECT", "description": "예 900101-1234568"}}});
    let (s, h, _) = gw
        .post(
            "/v1beta/models/gemini-2.0-flash:generateContent",
            gemini.to_string(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=1,KR_RRN=1");
    gw.shutdown().await;
}

/// Two tenants; requests are sent with acme's key in a header, while beta's key (or a credential-named parameter)
/// rides in the query under another name or encoding. None of it reaches the provider; `alt=sse` and other
/// parameters do, as the client encoded them.
#[tokio::test]
async fn query_strings_never_carry_a_gateway_key_upstream() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    for (name, key) in [("acme", "gw-acme-key"), ("beta", "gw-beta-key")] {
        settings.tenants.push(haetae::config::TenantSettings {
            name: name.into(),
            key_sha256: vec![haetae::proxy::auth::key_hash_hex(key)],
        });
    }
    let gw = start_with(mock, settings).await;
    let gemini = "/v1beta/models/gemini-2.0-flash:generateContent";
    let gemini_body =
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string();
    let openai_auth = ("authorization", "Bearer gw-acme-key");
    let gemini_auth = ("x-goog-api-key", "gw-acme-key");
    for (path, auth, body, upstream) in [
        // the report's three leaks (M1)
        (
            "/v1/chat/completions?api_key=gw-beta-key",
            openai_auth,
            chat("gpt-4o-mini", false),
            "/v1/chat/completions".to_owned(),
        ),
        (
            &format!("{gemini}?KEY=gw-beta-key&alt=sse") as &str,
            gemini_auth,
            gemini_body.clone(),
            format!("{gemini}?alt=sse"),
        ),
        (
            &format!("{gemini}?%6Bey=gw-beta-key"),
            gemini_auth,
            gemini_body.clone(),
            gemini.to_owned(),
        ),
        // a key under any name, in any encoding, or inside a value
        (
            "/v1/chat/completions?foo=bar&token=gw-beta-key&x=gw%2Dacme%2Dkey&q=my+key+gw-beta-key",
            openai_auth,
            chat("gpt-4o-mini", false),
            "/v1/chat/completions?foo=bar".to_owned(),
        ),
        // credential names whatever their value
        (
            &format!("{gemini}?Api-Key=x&ACCESS_TOKEN=y&apikey=z&api%5Fkey=w&alt=sse&pageSize=5"),
            gemini_auth,
            gemini_body.clone(),
            format!("{gemini}?alt=sse&pageSize=5"),
        ),
    ] {
        let before = gw.mock.count();
        let (s, _, resp) = send("POST", &gw.url(path), &[JSON, auth], body).await;
        assert_eq!(s, 200, "{path}: {resp:?}");
        assert_eq!(gw.mock.count(), before + 1, "{path}");
        let seen = gw.mock.last();
        assert_eq!(seen.path_and_query, upstream, "{path}");
        let decoded = percent_encoding::percent_decode_str(&seen.path_and_query)
            .decode_utf8_lossy()
            .into_owned();
        assert!(!decoded.contains("gw-"), "{path}: {decoded}");
        for (_, v) in seen.headers.iter() {
            assert!(!v.to_str().unwrap_or("").contains("gw-"), "{path}");
        }
    }
    // The model list: the Gemini key in `?key=` still selects Gemini, and goes no further.
    let (s, h, _) = send(
        "GET",
        &gw.url("/v1/models?key=gw-acme-key&pageSize=5"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-destination"], "gemini; jurisdiction=US");
    assert_eq!(gw.mock.last().path_and_query, "/v1/models?pageSize=5");
    // The key parameter is read the way it is dropped: any case, any encoding, and it authenticates as `key=` does.
    for (query, authenticates) in [
        ("KEY=gw-beta-key&alt=sse", true),
        ("%6Bey=gw%2Dacme%2Dkey&alt=sse", true),
        ("keys=gw-acme-key&alt=sse", false),
    ] {
        let before = gw.mock.count();
        let (s, _, _) = send(
            "POST",
            &gw.url(&format!("{gemini}?{query}")),
            &[JSON],
            gemini_body.clone(),
        )
        .await;
        if authenticates {
            assert_eq!(s, 200, "{query}");
            assert_eq!(gw.mock.last().path_and_query, format!("{gemini}?alt=sse"));
        } else {
            assert_eq!(s, 401, "{query}");
            assert_eq!(gw.mock.count(), before, "{query}");
        }
    }
    gw.shutdown().await;
}

/// Query parameters are client text like the body: their decoded names and values are counted with the body's
/// findings, and they are still forwarded. One that cannot be decoded to text cannot be inspected: refused.
#[tokio::test]
async fn query_parameters_are_inspected_and_counted() {
    let gw = start().await;
    let clean = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        .to_string();
    let (s, h, _) = gw
        .post(
            "/v1/chat/completions?customer=900101-1234567&mail=hong%40example.com",
            clean.clone(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=1,KR_RRN=1");
    assert_eq!(
        gw.mock.last().path_and_query,
        "/v1/chat/completions?customer=900101-1234567&mail=hong%40example.com",
        "unknown parameters are forwarded as sent (and inspected)"
    );
    // An encoded hyphen (even a doubly encoded one) does not hide a number; the body's findings add up.
    let (s, h, _) = gw
        .post(
            "/v1/chat/completions?c=900101%252D1234567",
            chat("gpt-4o-mini", false),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "KR_RRN=2");
    let (s, h, _) = send(
        "GET",
        &gw.url("/v1/models?note=010-1234-5678"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "KR_PHONE=1");
    // Gemini's `alt=sse` is nothing to report.
    let (s, h, _) = gw
        .post(
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "none");
    let before = gw.mock.count();
    let (s, _, body) = gw.post("/v1/chat/completions?x=%FF", clean).await;
    assert_eq!(s, 400, "{body:?}");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("query parameter 0"), "{text}");
    assert_eq!(gw.mock.count(), before, "nothing was forwarded");
    gw.shutdown().await;
}

/// A trailing slash is tolerated by the classifier and forwarded without it (strict upstreams answer 404 to it).
#[tokio::test]
async fn a_trailing_slash_is_forwarded_without_it() {
    let gw = start().await;
    let (s, _, body) = gw
        .post("/v1/chat/completions/", chat("gpt-4o-mini", false))
        .await;
    assert_eq!(s, 200, "{body:?}");
    assert_eq!(gw.mock.last().path_and_query, "/v1/chat/completions");
    let (s, _, body) = gw
        .post(
            "/v1/messages/?beta=true",
            anthropic("claude-sonnet-4-5", false),
        )
        .await;
    assert_eq!(s, 200, "{body:?}");
    assert_eq!(gw.mock.last().path_and_query, "/v1/messages?beta=true");
    let (s, _, body) = gw
        .post(
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent/?alt=sse",
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string(),
        )
        .await;
    assert_eq!(s, 200, "{body:?}");
    assert_eq!(
        gw.mock.last().path_and_query,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    let (s, _, _) = send("GET", &gw.url("/v1/models/"), &[], Bytes::new()).await;
    assert_eq!(s, 200);
    assert_eq!(gw.mock.last().path_and_query, "/v1/models");
    gw.shutdown().await;
}

/// `HEAD` on the models passthrough answers like `GET` without the body: the same status and headers
/// (`Content-Length` included); the provider is asked with `GET`. `HEAD` elsewhere is still unknown.
#[tokio::test]
async fn head_on_the_model_list_is_get_without_the_body() {
    let gw = start().await;
    for path in ["/v1/models", "/v1/models/gpt-4o-mini"] {
        let (s, get_headers, get_body) = send("GET", &gw.url(path), &[], Bytes::new()).await;
        assert_eq!(s, 200, "{path}");
        let before = gw.mock.count();
        let (s, h, body) = send("HEAD", &gw.url(path), &[], Bytes::new()).await;
        assert_eq!(s, 200, "{path}");
        assert!(body.is_empty(), "{path}");
        assert_eq!(
            h["content-length"],
            get_body.len().to_string().as_str(),
            "{path}"
        );
        assert_eq!(h["content-type"], get_headers["content-type"], "{path}");
        assert!(h["x-haetae-request-id"]
            .to_str()
            .unwrap()
            .starts_with("hx-"));
        assert_eq!(h["x-haetae-destination"], "openai; jurisdiction=US");
        assert_eq!(gw.mock.count(), before + 1, "{path}");
        let seen = gw.mock.last();
        assert_eq!(
            (seen.method.as_str(), seen.path_and_query.as_str()),
            ("GET", path)
        );
    }
    let before = gw.mock.count();
    let (s, _, _) = send("HEAD", &gw.url("/v1/chat/completions"), &[], Bytes::new()).await;
    assert_eq!(s, 404);
    assert_eq!(gw.mock.count(), before);
    gw.shutdown().await;
}

/// The gateway answers `Expect: 100-continue` itself and reads the whole body before forwarding, so the header is
/// not passed on (a provider or proxy could answer 417 to it).
#[tokio::test]
async fn expect_100_continue_is_not_forwarded() {
    let gw = start().await;
    let (s, _, body) = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[JSON, ("expect", "100-continue")],
        chat("gpt-4o-mini", false),
    )
    .await;
    assert_eq!(s, 200, "{body:?}");
    let seen = gw.mock.last();
    assert!(seen.headers.get("expect").is_none(), "{:?}", seen.headers);
    assert_eq!(seen.json()["model"], "gpt-4o-mini");
    gw.shutdown().await;
}
