//! Test support: mock LLM providers on real sockets (port 0), and a gateway started in-process against them.
//!
//! The mock speaks just enough of the OpenAI, Anthropic and Gemini APIs for the official SDKs, and misbehaves on
//! request: the requested model name selects the behaviour —
//! `mock-error-429` (provider error JSON), `mock-reset` (connection reset mid-stream), `mock-slow` (pauses between
//! SSE events), `mock-split` (SSE bytes written in awkward 1–7 byte pieces), `mock-events-N` (N stream events),
//! `mock-tools` (a tool call), `mock-hang` (5 s before the response head), `mock-stall` (one event, then 5 s of
//! silence). Every request it receives is recorded for assertions.
#![allow(
    dead_code,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// One request as the mock provider saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A running mock provider.
#[derive(Clone)]
pub struct MockProvider {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl MockProvider {
    pub async fn start() -> Self {
        Self::start_inner(None).await
    }

    /// A mock provider behind TLS, with the test server certificate (signed by tests/fixtures/tls/ca.pem).
    pub async fn start_tls() -> Self {
        use rustls_pki_types::pem::PemObject;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(dir.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Self::start_inner(Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))).await
    }

    async fn start_inner(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = Arc::clone(&seen2);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let seen = Arc::clone(&seen);
                        async move { Ok::<_, Infallible>(mock_handle(req, seen).await) }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, seen }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL for a TLS mock (the certificate is for `localhost`).
    pub fn tls_base(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the mock saw no request")
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

type MockBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn json_response(status: StatusCode, v: Value) -> Response<MockBody> {
    let mut r = Response::new(
        Full::new(Bytes::from(v.to_string()))
            .map_err(|n| match n {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r.headers_mut()
        .insert("x-request-id", "mock-req-1".parse().unwrap());
    // What OpenAI sends about the account the key belongs to, and a load balancer's cookie.
    r.headers_mut()
        .insert("openai-organization", "org-operator".parse().unwrap());
    r.headers_mut()
        .insert("openai-processing-ms", "12".parse().unwrap());
    r.headers_mut()
        .insert("set-cookie", "__cf_bm=abc; path=/".parse().unwrap());
    r
}

/// A streamed body from a list of (delay, bytes) pieces; `reset_after` ends it with an I/O error.
fn stream_response(pieces: Vec<(Duration, Bytes)>, reset: bool) -> Response<MockBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        for (delay, piece) in pieces {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(Ok(Frame::data(piece))).await.is_err() {
                return;
            }
        }
        if reset {
            // let the events already written reach the peer before the connection is torn down
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = tx
                .send(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "mock reset",
                )))
                .await;
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(
        "content-type",
        "text/event-stream; charset=utf-8".parse().unwrap(),
    );
    r.headers_mut()
        .insert("cache-control", "no-cache".parse().unwrap());
    r
}

/// Split a byte string into awkward pieces (1..=7 bytes, deterministic).
pub fn awkward_pieces(all: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut n = 1;
    while i < all.len() {
        let end = (i + n).min(all.len());
        out.push(Bytes::copy_from_slice(&all[i..end]));
        i = end;
        n = n % 7 + 1;
    }
    out
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(e) => format!("event: {e}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// The SSE events the mock streams for a family, model and number of text deltas.
pub fn stream_events(family: &str, model: &str, n: usize, tools: bool) -> Vec<String> {
    let mut ev = Vec::new();
    match family {
        "openai" => {
            for i in 0..n {
                ev.push(sse(
                    None,
                    &json!({"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1,"model":model,
                        "choices":[{"index":0,"delta":{"content":format!("tok{i} ")},"finish_reason":null}]}),
                ));
            }
            if tools {
                ev.push(sse(None, &json!({"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1,"model":model,
                    "choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function",
                    "function":{"name":"get_weather","arguments":"{\"city\":\"Seoul\"}"}}]},"finish_reason":null}]})));
            }
            ev.push(sse(
                None,
                &json!({"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1,"model":model,
                    "choices":[{"index":0,"delta":{},"finish_reason": if tools {"tool_calls"} else {"stop"}}],
                    "usage":{"prompt_tokens":5,"completion_tokens":n,"total_tokens":5+n}}),
            ));
            ev.push("data: [DONE]\n\n".to_owned());
        }
        "anthropic" => {
            ev.push(sse(Some("message_start"), &json!({"type":"message_start","message":{"id":"msg_mock","type":"message",
                "role":"assistant","content":[],"model":model,"stop_reason":null,"stop_sequence":null,
                "usage":{"input_tokens":5,"output_tokens":1}}})));
            ev.push(sse(
                Some("content_block_start"),
                &json!({"type":"content_block_start","index":0,
                "content_block":{"type":"text","text":""}}),
            ));
            ev.push("event: ping\ndata: {\"type\": \"ping\"}\n\n".to_owned());
            for i in 0..n {
                ev.push(sse(
                    Some("content_block_delta"),
                    &json!({"type":"content_block_delta","index":0,
                    "delta":{"type":"text_delta","text":format!("tok{i} ")}}),
                ));
            }
            ev.push(sse(
                Some("content_block_stop"),
                &json!({"type":"content_block_stop","index":0}),
            ));
            ev.push(sse(
                Some("message_delta"),
                &json!({"type":"message_delta","delta":{"stop_reason":"end_turn",
                "stop_sequence":null},"usage":{"output_tokens":n}}),
            ));
            ev.push(sse(Some("message_stop"), &json!({"type":"message_stop"})));
        }
        _ => {
            for i in 0..n {
                ev.push(sse(None, &json!({"candidates":[{"content":{"role":"model","parts":[{"text":format!("tok{i} ")}]},
                    "index":0}],"modelVersion":model})));
            }
            ev.push(sse(None, &json!({"candidates":[{"content":{"role":"model","parts":[{"text":""}]},
                "finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":n,
                "totalTokenCount":5+n},"modelVersion":model})));
        }
    }
    ev
}

/// A Responses API object as the mock stores it: `id`, `status` and one output message.
fn mock_response(id: &str, status: &str) -> Value {
    json!({"id":id,"object":"response","created_at":1,"status":status,"model":"gpt-4o-mini",
        "output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant",
        "content":[{"type":"output_text","text":"hello from mock","annotations":[]}]}],
        "usage":{"input_tokens":3,"output_tokens":3,"total_tokens":6}})
}

/// A Responses stream for response `id`: `response.created`, two text deltas, `response.completed`.
fn responses_stream(id: &str) -> Response<MockBody> {
    let done = mock_response(id, "completed");
    let events = [
        sse(
            Some("response.created"),
            &json!({"type":"response.created","sequence_number":0,
                "response":mock_response(id, "in_progress")}),
        ),
        sse(
            Some("response.output_text.delta"),
            &json!({"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1",
                "output_index":0,"content_index":0,"delta":"hello ","logprobs":[]}),
        ),
        sse(
            Some("response.output_text.delta"),
            &json!({"type":"response.output_text.delta","sequence_number":2,"item_id":"msg_1",
                "output_index":0,"content_index":0,"delta":"from mock","logprobs":[]}),
        ),
        sse(
            Some("response.completed"),
            &json!({"type":"response.completed","sequence_number":3,"response":done}),
        ),
    ];
    stream_response(
        events
            .into_iter()
            .map(|e| (Duration::ZERO, Bytes::from(e)))
            .collect(),
        false,
    )
}

/// The Responses endpoints beyond create: `compact`, `input_tokens` (they answer with the request body's length
/// in `input_tokens`, so a test sees what arrived) and a stored response's retrieve (JSON, or its events with
/// `?stream=true`), delete, cancel and input items.
fn responses_more(method: &http::Method, rest: &str, pq: &str, body: &Bytes) -> Response<MockBody> {
    let usage = json!({"input_tokens":body.len(),"output_tokens":3,"total_tokens":body.len()+3});
    let (id, verb) = rest.split_once('/').unwrap_or((rest, ""));
    match (method.as_str(), id, verb) {
        ("POST", "compact", "") => json_response(
            StatusCode::OK,
            json!({"id":"cmp_mock","object":"response.compaction","created_at":1,
                "output":mock_response("x", "completed")["output"],"usage":usage}),
        ),
        ("POST", "input_tokens", "") => json_response(
            StatusCode::OK,
            json!({"object":"response.input_tokens","input_tokens":body.len()}),
        ),
        ("GET", id, "") if pq.contains("stream=true") => responses_stream(id),
        ("GET", id, "") => json_response(StatusCode::OK, mock_response(id, "completed")),
        ("DELETE", id, "") => json_response(
            StatusCode::OK,
            json!({"id":id,"object":"response","deleted":true}),
        ),
        ("POST", id, "cancel") => json_response(StatusCode::OK, mock_response(id, "cancelled")),
        ("GET", _, "input_items") => json_response(
            StatusCode::OK,
            json!({"object":"list","data":[{"type":"message","id":"msg_in","role":"user","status":"completed",
                "content":[{"type":"input_text","text":"hi"}]}],"first_id":"msg_in","last_id":"msg_in",
                "has_more":false}),
        ),
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"error":{"message":"mock: unknown responses path","type":"invalid_request_error"}}),
        ),
    }
}

async fn mock_handle(req: Request<Incoming>, seen: Arc<Mutex<Vec<Seen>>>) -> Response<MockBody> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path_and_query: pq.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let path = parts.uri.path();
    let req_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);

    if path.ends_with("/messages/count_tokens") {
        // A rough count: one token per four bytes of the request's messages, as a provider would answer.
        let n = req_json["messages"].to_string().len() / 4;
        return json_response(StatusCode::OK, json!({"input_tokens": n}));
    }
    let (family, model, stream) = if path.ends_with("/chat/completions") {
        (
            "openai",
            req_json["model"].as_str().unwrap_or("").to_owned(),
            req_json["stream"] == true,
        )
    } else if path.ends_with("/messages") {
        (
            "anthropic",
            req_json["model"].as_str().unwrap_or("").to_owned(),
            req_json["stream"] == true,
        )
    } else if let Some(id) = path
        .split("/models/")
        .nth(1)
        .filter(|_| parts.method == http::Method::GET)
    {
        return json_response(
            StatusCode::OK,
            json!({"id":id,"object":"model","created":1,"owned_by":"mock"}),
        );
    } else if let Some(rest) = path.split("/models/").nth(1).filter(|r| r.contains(':')) {
        let (m, method) = rest.split_once(':').unwrap();
        ("gemini", m.to_owned(), method == "streamGenerateContent")
    } else if path.ends_with("/models") && parts.method == http::Method::GET {
        return json_response(
            StatusCode::OK,
            json!({"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"mock"}]}),
        );
    } else if path.ends_with("/embeddings") {
        return json_response(
            StatusCode::OK,
            json!({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],
                "model":req_json["model"],"usage":{"prompt_tokens":2,"total_tokens":2}}),
        );
    } else if let Some(rest) = path.split("/responses/").nth(1) {
        return responses_more(&parts.method, rest, &pq, &body);
    } else if path.ends_with("/responses") {
        // `metadata.mock_id` names the created response (default `resp_mock`); `metadata.mock_order = "id-last"`
        // writes `id` as the last field instead of the first.
        let id = req_json["metadata"]["mock_id"]
            .as_str()
            .unwrap_or("resp_mock");
        if req_json["stream"] == true {
            return responses_stream(id);
        }
        let mut created = mock_response(id, "completed");
        created["model"] = req_json["model"].clone();
        if req_json["metadata"]["mock_order"] == "id-last" {
            let id = created.as_object_mut().unwrap().shift_remove("id").unwrap();
            created["id"] = id;
        }
        return json_response(StatusCode::OK, created);
    } else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"error":{"message":"mock: unknown path","type":"invalid_request_error"}}),
        );
    };

    if model == "mock-error-429" {
        let body = match family {
            "anthropic" => {
                json!({"type":"error","error":{"type":"rate_limit_error","message":"mock provider: slow down"}})
            }
            "gemini" => {
                json!({"error":{"code":429,"message":"mock provider: slow down","status":"RESOURCE_EXHAUSTED"}})
            }
            _ => {
                json!({"error":{"message":"mock provider: slow down","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}})
            }
        };
        return json_response(StatusCode::TOO_MANY_REQUESTS, body);
    }
    if model == "mock-hang" {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let tools = model == "mock-tools";
    if stream {
        let n = model
            .strip_prefix("mock-events-")
            .and_then(|n| n.parse().ok())
            .unwrap_or(3);
        let events = stream_events(family, &model, n, tools);
        if family == "gemini" && !pq.contains("alt=sse") {
            // Gemini's default stream: one JSON array of the chunks, not SSE.
            let chunks: Vec<Value> = events
                .iter()
                .filter_map(|e| e.strip_prefix("data: "))
                .map(|d| serde_json::from_str(d.trim()).unwrap())
                .collect();
            return json_response(StatusCode::OK, Value::Array(chunks));
        }
        let delay = if model == "mock-slow" {
            Duration::from_millis(30)
        } else {
            Duration::ZERO
        };
        let mut pieces: Vec<(Duration, Bytes)> = Vec::new();
        if model == "mock-split" {
            let all = events.concat();
            pieces.extend(
                awkward_pieces(all.as_bytes())
                    .into_iter()
                    .map(|p| (Duration::ZERO, p)),
            );
        } else {
            for e in &events {
                pieces.push((delay, Bytes::from(e.clone())));
            }
        }
        if model == "mock-stall" {
            pieces.truncate(1);
            pieces.push((Duration::from_secs(5), Bytes::from_static(b": late\n\n")));
        }
        let reset = model == "mock-reset";
        if reset {
            pieces.truncate(2);
        }
        // An upstream that ignores `accept-encoding: identity` and gzips its stream.
        if model == "mock-gzip-stream" {
            use std::io::Write as _;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(events.concat().as_bytes()).unwrap();
            let mut r = stream_response(
                vec![(Duration::ZERO, Bytes::from(gz.finish().unwrap()))],
                false,
            );
            r.headers_mut()
                .insert("content-encoding", "gzip".parse().unwrap());
            return r;
        }
        // A clean close (FIN, no error) in the middle of the third event's data line.
        if model == "mock-truncated" {
            pieces.truncate(3);
            if let Some((_, last)) = pieces.last_mut() {
                *last = last.slice(..last.len() / 2);
            }
        }
        // The last event's lines are whole, only its closing blank line is missing.
        if model == "mock-unterminated" {
            if let Some((_, last)) = pieces.last_mut() {
                *last = last.slice(..last.len() - 1);
            }
        }
        return stream_response(pieces, reset);
    }
    let body = match family {
        "openai" => {
            let message = if tools {
                json!({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
                    "function":{"name":"get_weather","arguments":"{\"city\":\"Seoul\"}"}}]})
            } else {
                json!({"role":"assistant","content":"hello from mock"})
            };
            json!({"id":"chatcmpl-mock","object":"chat.completion","created":1,"model":model,
                "choices":[{"index":0,"message":message,"finish_reason": if tools {"tool_calls"} else {"stop"}}],
                "usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}})
        }
        "anthropic" => {
            let content = if tools {
                json!([{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Seoul"}}])
            } else {
                json!([{"type":"text","text":"hello from mock"}])
            };
            json!({"id":"msg_mock","type":"message","role":"assistant","model":model,"content":content,
                "stop_reason": if tools {"tool_use"} else {"end_turn"},"stop_sequence":null,
                "usage":{"input_tokens":5,"output_tokens":3}})
        }
        _ => {
            json!({"candidates":[{"content":{"role":"model","parts":[{"text":"hello from mock"}]},"finishReason":"STOP","index":0}],
            "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"totalTokenCount":8},"modelVersion":model})
        }
    };
    json_response(StatusCode::OK, body)
}

/// A gateway running in-process, pointed at a mock provider.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub auditor: Option<SocketAddr>,
    pub mock: MockProvider,
    /// The gateway's shared state (policy reloads).
    pub shared: std::sync::Arc<haetae::proxy::Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl TestGateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST a JSON body to the gateway.
    pub async fn post(
        &self,
        path: &str,
        body: impl Into<Bytes>,
    ) -> (StatusCode, http::HeaderMap, Bytes) {
        send(
            "POST",
            &self.url(path),
            &[("content-type", "application/json")],
            body,
        )
        .await
    }

    /// [`TestGateway::post`] on a task of its own: the request is under way while the test goes on.
    pub fn post_in_background(
        &self,
        path: &str,
        body: impl Into<Bytes>,
    ) -> tokio::task::JoinHandle<(StatusCode, http::HeaderMap, Bytes)> {
        let (url, body) = (self.url(path), body.into());
        tokio::spawn(async move {
            send("POST", &url, &[("content-type", "application/json")], body).await
        })
    }

    /// Ask for graceful shutdown and wait for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Ask for shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A fresh directory for one gateway's data (keys, residency log), kept after the test so that tests can read the
/// log after shutdown. It lies under this test process's own directory in cargo's per-target temporary directory
/// (`target/tmp/haetae-test-data/<pid>/`); the first call in a process removes the directories of earlier test
/// processes that are no longer running (by `/proc/<pid>`), so repeated runs do not pile up data.
pub fn data_dir() -> std::path::PathBuf {
    static ROOT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("haetae-test-data");
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.flatten() {
                let running = e
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|pid| {
                        std::path::Path::new("/proc").join(pid.to_string()).exists()
                    });
                if !running {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let root = base.join(std::process::id().to_string());
        std::fs::create_dir_all(&root).unwrap();
        root
    });
    tempfile::tempdir_in(root).unwrap().keep()
}

/// Settings with every destination pointed at the mock, listeners on port 0, data in a fresh [`data_dir`].
pub fn settings_for(mock: &MockProvider) -> haetae::config::Settings {
    let mut s = haetae::config::Settings::default();
    let data = data_dir();
    s.audit.dir = data.join("audit");
    s.audit.signing_key_file = data.join("signing.key");
    s.audit.digest_key_file = data.join("digest.key");
    s.server.listen = vec!["127.0.0.1:0".into()];
    s.server.admin_listen = "127.0.0.1:0".into();
    for d in &mut s.destinations {
        d.base_url = match d.format {
            haetae::config::DestinationFormat::Openai => format!("{}/v1", mock.base()),
            _ => mock.base(),
        };
    }
    s
}

/// Start a gateway with `settings` (whose destinations should point at `mock`).
pub async fn start_with(mock: MockProvider, settings: haetae::config::Settings) -> TestGateway {
    let env = |name: &str| match name {
        "OPENAI_API_KEY" => Some("sk-provider-openai".to_owned()),
        "ANTHROPIC_API_KEY" => Some("sk-ant-provider".to_owned()),
        "GEMINI_API_KEY" => Some("gemini-provider-key".to_owned()),
        _ => None,
    };
    let gw = haetae::proxy::Gateway::bind(settings, env).await.unwrap();
    let addr = gw.traffic_addrs()[0];
    let admin = gw.admin_addr().unwrap();
    let auditor = gw.auditor_addr();
    let shared = gw.shared();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gw.run(async move {
        let _ = rx.await;
    }));
    TestGateway {
        addr,
        admin,
        auditor,
        mock,
        shared,
        stop: Some(tx),
        task: Some(task),
    }
}

/// Start a mock provider and a default gateway in front of it.
pub async fn start() -> TestGateway {
    let mock = MockProvider::start().await;
    let settings = settings_for(&mock);
    start_with(mock, settings).await
}

/// A plain HTTP/1.1 client for tests.
pub fn client() -> hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
> {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

/// Send a request and collect the response.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client()
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    (parts.status, parts.headers, bytes)
}

/// The residency log's verifier key, from the signing key file the gateway created.
pub fn verifier(settings: &haetae::config::Settings) -> haetae::audit::NoteVerifier {
    let text = std::fs::read_to_string(&settings.audit.signing_key_file).unwrap();
    haetae::audit::NoteSigner::from_private_key_string(text.trim())
        .unwrap()
        .verifier()
}

/// Wait (bounded) until a checkpoint covering `size` entries is published, then return every leaf.
pub fn leaves_when_published(
    dir: &std::path::Path,
    v: &haetae::audit::NoteVerifier,
    size: u64,
) -> Vec<haetae::audit::LogLeaf> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut leaves = Vec::new();
        let res = haetae::audit::verify::for_each_record(dir, v, "0000", "9999", |_, _, leaf| {
            leaves.push(leaf.clone());
            Ok(())
        });
        if res.is_ok() && leaves.len() as u64 >= size {
            return leaves;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "checkpoint never reached {size}: {res:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The real `haetae serve --config FILE` as a child process, as an operator runs it, with its stderr (banner, logs)
/// collected line by line on a thread. Killed when dropped.
pub struct GatewayProcess {
    pub child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl GatewayProcess {
    /// Start the binary with `config` and the extra environment `env` (RUST_LOG removed).
    pub fn spawn(config: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_haetae"));
        cmd.args(["serve", "--config"]).arg(config);
        Self::spawn_command(cmd, env)
    }

    /// [`GatewayProcess::spawn`] under an open-files limit of `nofile` (soft and hard, set by the POSIX shell's
    /// `ulimit` before it `exec`s the binary, so the gateway cannot raise it).
    pub fn spawn_with_nofile(config: &std::path::Path, env: &[(&str, &str)], nofile: u32) -> Self {
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
            "-c",
            &format!("ulimit -n {nofile} && exec \"$0\" serve --config \"$1\""),
            env!("CARGO_BIN_EXE_haetae"),
        ])
        .arg(config);
        Self::spawn_command(cmd, env)
    }

    fn spawn_command(mut cmd: std::process::Command, env: &[(&str, &str)]) -> Self {
        use std::io::BufRead as _;
        cmd.env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    /// Wait (bounded: a liveness guard, 30 s) for a stderr line that `pick` accepts; what it returns.
    pub fn wait_for(&self, what: &str, pick: &dyn Fn(&str) -> Option<String>) -> String {
        let started = std::time::Instant::now();
        loop {
            if let Some(found) = self.lines.lock().unwrap().iter().find_map(|l| pick(l)) {
                return found;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no {what} on the gateway's stderr: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first traffic listener's base URL, from the start-up banner (text logs) or the `gateway started` event
    /// (JSON logs).
    pub fn base_url(&self) -> String {
        let listening = |line: &str| {
            line.trim()
                .strip_prefix("listening")
                .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        };
        self.wait_for("banner", &|l| {
            listening(l).or_else(|| {
                let event: serde_json::Value = serde_json::from_str(l).ok()?;
                event["summary"].as_str()?.lines().find_map(listening)
            })
        })
    }

    /// Everything it wrote to stderr so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Send a signal (`"HUP"`, `"TERM"`) through the POSIX shell's builtin `kill` (no procps needed).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -{name} {}", self.child.id())])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
