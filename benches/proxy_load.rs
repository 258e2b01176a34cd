//! Gateway load bench: the same workload sent directly to a fast local mock upstream and through the gateway, in one
//! run, with the added latency, throughput ratio, per-SSE-event cost and gateway memory reported side by side.
//!
//! Run: `cargo bench --bench proxy_load` (about 70 s) or `HAETAE_BENCH_QUICK=1 cargo bench --bench proxy_load`
//! (about 17 s, smoke test). Cargo builds the `haetae` binary in the bench profile (release settings) next to
//! the bench and passes its path as `CARGO_BIN_EXE_haetae`; the gateway runs as a separate process from a temporary
//! config file, exactly as `haetae serve --config FILE` runs in production.
//!
//! Knobs (environment): `HAETAE_BENCH_RATE` (non-streaming req/s, default 1000), `HAETAE_BENCH_SECS` (seconds per
//! path, default 15), `HAETAE_BENCH_STREAM_RATE` (streams/s, default 100), `HAETAE_BENCH_STREAM_SECS` (default 8),
//! `HAETAE_BENCH_SAT_SECS` (closed-loop seconds per path, default 4), `HAETAE_BENCH_SAT_CONC` (default 32),
//! `HAETAE_BENCH_OPEN_STREAMS` (default 1000), `HAETAE_BENCH_HOLD_ROUNDS` (open-stream rounds, default 2),
//! `HAETAE_BENCH_GATEWAY_LOG` (gateway `log.level`, default `info`:
//! the production default, one access-log line per request, written to a temp file), `HAETAE_BENCH_GATEWAY_WORKERS`
//! (sets `TOKIO_WORKER_THREADS` for the gateway; default: tokio's, one per CPU), `HAETAE_BENCH_GATEWAY_AUDIT`
//! (`before-forward`, the production default, `after-response` or `off`: the residency log of the main gateway),
//! `HAETAE_BENCH_MODE_SECS` (seconds per side for each residency-log mode, default min(secs, 5)),
//! `HAETAE_BENCH_KEEP_LOGS=DIR` (copy each gateway's log there when it stops), `HAETAE_BENCH_GATEWAY_CPUS` and
//! `HAETAE_BENCH_CLIENT_CPUS` (CPU lists in `taskset -c` syntax, e.g. `1` and `0`: the gateway and this process,
//! client and mock, each on their own CPUs, so that neither side's scheduling shows up in the other's latency).
//!
//! CPU time and context switches of the gateway process (all its threads, from `/proc`) are reported per request:
//! unlike latency they do not depend much on what else the machine is doing.
//!
//! The bench never asserts a time: it prints the numbers, the targets next to them, and one `PROXY_LOAD_JSON` line.
//!
//! Must never: talk to anything but 127.0.0.1, or leave the gateway process running (it is killed on every exit).

use std::convert::Infallible;
use std::error::Error;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;

type BoxErr = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxErr>;

/// SSE events per fast stream (the `[DONE]` sentinel comes on top).
const STREAM_EVENTS: usize = 200;
/// Model name that makes the mock send one event and then hold the stream open.
const HOLD_MODEL: &str = "bench-hold";
/// Per-request client deadline: anything slower counts as a stall.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------------------------
// knobs

struct Knobs {
    quick: bool,
    rate: f64,
    secs: u64,
    stream_rate: f64,
    stream_secs: u64,
    sat_secs: u64,
    sat_conc: usize,
    open_streams: usize,
    hold_rounds: usize,
    gateway_log: String,
    gateway_workers: Option<usize>,
    /// Residency log durability of the main gateway; `None`: log off.
    gateway_audit: Option<String>,
    /// CPU list (`taskset -c` syntax) the gateway runs on; `None`: wherever the scheduler puts it.
    gateway_cpus: Option<String>,
    /// CPU list this bench process (client and mock) pins itself to at start.
    client_cpus: Option<String>,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A non-empty environment variable, trimmed.
fn env_opt(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Knobs {
    fn from_env() -> Self {
        let quick = std::env::var("HAETAE_BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty());
        let (secs, stream_secs, sat_secs, open) = if quick {
            (2, 1, 1, 200)
        } else {
            (15, 8, 4, 1000)
        };
        Self {
            quick,
            rate: env_num("HAETAE_BENCH_RATE", 1000.0),
            secs: env_num("HAETAE_BENCH_SECS", secs),
            stream_rate: env_num("HAETAE_BENCH_STREAM_RATE", 100.0),
            stream_secs: env_num("HAETAE_BENCH_STREAM_SECS", stream_secs),
            sat_secs: env_num("HAETAE_BENCH_SAT_SECS", sat_secs),
            sat_conc: env_num("HAETAE_BENCH_SAT_CONC", 32),
            open_streams: env_num("HAETAE_BENCH_OPEN_STREAMS", open),
            hold_rounds: env_num("HAETAE_BENCH_HOLD_ROUNDS", 2usize).max(1),
            gateway_workers: std::env::var("HAETAE_BENCH_GATEWAY_WORKERS")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            gateway_log: std::env::var("HAETAE_BENCH_GATEWAY_LOG")
                .unwrap_or_else(|_| "info".into()),
            gateway_audit: match std::env::var("HAETAE_BENCH_GATEWAY_AUDIT").as_deref() {
                Ok("off") => None,
                Ok(mode) if !mode.is_empty() => Some(mode.to_owned()),
                _ => Some("before-forward".to_owned()),
            },
            gateway_cpus: env_opt("HAETAE_BENCH_GATEWAY_CPUS"),
            client_cpus: env_opt("HAETAE_BENCH_CLIENT_CPUS"),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// workload

#[path = "support/chat_body.rs"]
mod chat_body;
use chat_body::{chat_body, BODY_BYTES};

// ---------------------------------------------------------------------------------------------------------------
// mock upstream

type MockBody = BoxBody<Bytes, Infallible>;

struct Mock {
    addr: SocketAddr,
    /// Requests seen, by the client's `x-bench-via` header: [direct, gateway].
    seen: Arc<[AtomicU64; 2]>,
    /// Connections accepted, by the `x-bench-via` of their first request: [direct, gateway].
    conns: Arc<[AtomicU64; 2]>,
    /// Hold-mode streams whose body the mock is still holding (drops to 0 when the gateway lets go upstream).
    holding: Arc<AtomicUsize>,
}

struct MockData {
    completion: Bytes,
    events: Vec<Bytes>,
    seen: Arc<[AtomicU64; 2]>,
    conns: Arc<[AtomicU64; 2]>,
    holding: Arc<AtomicUsize>,
}

struct HoldGuard(Arc<AtomicUsize>);

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn chunk_event(i: usize) -> Bytes {
    let v = json!({"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench-fast",
        "choices":[{"index":0,"delta":{"content":format!("t{i} ")},"finish_reason":null}]});
    Bytes::from(format!("data: {v}\n\n"))
}

async fn start_mock() -> Res<Mock> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seen: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let conns: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let holding = Arc::new(AtomicUsize::new(0));
    let mut events: Vec<Bytes> = (0..STREAM_EVENTS).map(chunk_event).collect();
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let completion = json!({"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench-fast",
        "choices":[{"index":0,"message":{"role":"assistant","content":"회의 요약: Q3 revenue grew 12%; 영업이익률 개선. Action items follow."},
        "finish_reason":"stop"}],"usage":{"prompt_tokens":1100,"completion_tokens":40,"total_tokens":1140}});
    let data = Arc::new(MockData {
        completion: Bytes::from(completion.to_string()),
        events,
        seen: Arc::clone(&seen),
        conns: Arc::clone(&conns),
        holding: Arc::clone(&holding),
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let data = Arc::clone(&data);
            let first = Arc::new(AtomicBool::new(true));
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let data = Arc::clone(&data);
                    let first = first.swap(false, Ordering::Relaxed);
                    async move { Ok::<_, Infallible>(mock_handle(req, &data, first).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(Mock {
        addr,
        seen,
        conns,
        holding,
    })
}

fn plain(status: StatusCode, body: &'static str) -> Response<MockBody> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *r.status_mut() = status;
    r
}

async fn mock_handle(req: Request<Incoming>, data: &MockData, first: bool) -> Response<MockBody> {
    if req.uri().path() != "/v1/chat/completions" {
        return plain(StatusCode::NOT_FOUND, "{\"error\":\"not found\"}");
    }
    let via = usize::from(
        req.headers()
            .get("x-bench-via")
            .is_some_and(|v| v == "gateway"),
    );
    data.seen[via].fetch_add(1, Ordering::Relaxed);
    if first {
        data.conns[via].fetch_add(1, Ordering::Relaxed);
    }
    let Ok(body) = read_capped(req.into_body(), 1 << 20).await else {
        return plain(StatusCode::BAD_REQUEST, "{\"error\":\"bad body\"}");
    };
    let finder = |needle: &[u8]| memchr::memmem::find(&body, needle).is_some();
    let stream = finder(b"\"stream\":true");
    if !stream {
        let mut r = Response::new(Full::new(data.completion.clone()).boxed());
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        return r;
    }
    let body: MockBody = if finder(format!("\"model\":\"{HOLD_MODEL}\"").as_bytes()) {
        data.holding.fetch_add(1, Ordering::Relaxed);
        let guard = HoldGuard(Arc::clone(&data.holding));
        let first = data.events[0].clone();
        let s = futures_util::stream::iter([Ok::<_, Infallible>(Frame::data(first))])
            .chain(futures_util::stream::pending())
            .map(move |f| {
                let _keep = &guard;
                f
            });
        BodyExt::boxed(StreamBody::new(s))
    } else {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = data
            .events
            .iter()
            .map(|e| Ok(Frame::data(e.clone())))
            .collect();
        BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
    };
    let mut r = Response::new(body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    r
}

async fn read_capped(mut body: Incoming, cap: usize) -> Res<Bytes> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame?.into_data() {
            out.extend_from_slice(&d);
            if out.len() > cap {
                return Err("body over cap".into());
            }
        }
    }
    Ok(Bytes::from(out))
}

// ---------------------------------------------------------------------------------------------------------------
// gateway process

struct GatewayProc {
    child: Child,
    traffic: SocketAddr,
    admin: SocketAddr,
    log_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for GatewayProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // for looking at the access log's own latency_ms next to what the client saw
        if let Ok(dir) = std::env::var("HAETAE_BENCH_KEEP_LOGS") {
            let _ = std::fs::copy(
                &self.log_path,
                Path::new(&dir).join(format!("gateway-{}.log", self.child.id())),
            );
        }
    }
}

/// `audit`: the residency log's durability (production default: `before-forward`) and directory; `None`: off.
fn gateway_config(mock: SocketAddr, log_level: &str, audit: Option<(&str, &Path)>) -> String {
    let audit = match audit {
        Some((durability, d)) => format!(
            "[audit]\nenabled = true\ndurability = \"{durability}\"\ndir = \"{0}/audit\"\n\
             signing_key_file = \"{0}/signing.key\"\ndigest_key_file = \"{0}/digest.key\"\n",
            d.display()
        ),
        None => "[audit]\nenabled = false\n".to_owned(),
    };
    format!(
        r#"# written by benches/proxy_load.rs
{audit}
[server]
listen = ["127.0.0.1:0"]
admin_listen = "127.0.0.1:0"

[limits]
max_connections = 10000
max_concurrent_requests = 8192

[log]
format = "text"
level = "{log_level}"

[routing]
openai = "openai"
anthropic = "anthropic"
gemini = "gemini"

[[destinations]]
name = "openai"
format = "openai"
base_url = "http://{mock}/v1"
jurisdiction = "US"
region = "bench"
api_key_env = "OPENAI_API_KEY"

[[destinations]]
name = "anthropic"
format = "anthropic"
base_url = "http://{mock}"
jurisdiction = "US"

[[destinations]]
name = "gemini"
format = "gemini"
base_url = "http://{mock}"
jurisdiction = "US"
"#
    )
}

/// Set (to the mock's address) in the environment of a re-executed copy of this bench: it then runs [`bare_proxy_main`]
/// instead of the bench.
const BARE_PROXY_ENV: &str = "HAETAE_BENCH_BARE_PROXY_UPSTREAM";
/// Label of the bare proxy in the per-mode table.
const FLOOR: &str = "bare hyper proxy";

/// The floor any gateway on this machine stands on: a bare hyper reverse proxy in its own process (this bench binary,
/// re-executed), on the same runtime defaults as the gateway. It reads the whole request body, as any inspecting
/// gateway must, forwards it over a pooled hyper client and streams the response back; no parsing, scanning, logging
/// or metrics. Its added latency over the direct path is what the machine charges for one more process and two more
/// loopback hops; the gateway's own cost is what it adds on top.
fn bare_proxy_main(upstream: SocketAddr) -> Res<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        eprintln!("listening http://{}", listener.local_addr()?);
        let client = make_client();
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let client = client.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let client = client.clone();
                    async move {
                        let forwarded: Res<Response<Incoming>> = async {
                            let (mut parts, body) = req.into_parts();
                            let body = read_capped(body, 1 << 20).await?;
                            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                            parts.uri = Uri::try_from(format!("http://{upstream}{path}"))?;
                            Ok(client
                                .request(Request::from_parts(parts, Full::new(body)))
                                .await?)
                        }
                        .await;
                        // Errors become a bare 502: the bench counts them as failed requests.
                        Ok::<_, Infallible>(match forwarded {
                            Ok(resp) => resp.map(|b| b.map_err(BoxErr::from).boxed()),
                            Err(_) => {
                                let mut resp = Response::new(
                                    Full::new(Bytes::new()).map_err(BoxErr::from).boxed(),
                                );
                                *resp.status_mut() = StatusCode::BAD_GATEWAY;
                                resp
                            }
                        })
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

/// A command that runs `program` on the gateway's CPUs (`taskset` execs it in place, so the child's pid is the
/// program's) with the gateway's worker count and no stdin/stdout.
fn on_gateway_cpus(program: &std::ffi::OsStr, k: &Knobs) -> Command {
    let mut cmd = match &k.gateway_cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus.as_str()]).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.envs(
        k.gateway_workers
            .map(|w| ("TOKIO_WORKER_THREADS", w.to_string())),
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    cmd
}

/// Spawn `cmd` with its stderr in `dir/<what>.log` and wait (20 s at most) until that log names its traffic address
/// (`listening http://…`) and, with `admin`, its admin address (`admin http://…`).
async fn spawn_and_wait(
    mut cmd: Command,
    dir: tempfile::TempDir,
    what: &str,
    admin: bool,
) -> Res<GatewayProc> {
    let log_path = dir.path().join(format!("{what}.log"));
    let child = cmd
        .stderr(Stdio::from(std::fs::File::create(&log_path)?))
        .spawn()?;
    let mut proc = GatewayProc {
        child,
        traffic: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin: SocketAddr::from(([127, 0, 0, 1], 0)),
        log_path,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&proc.log_path).unwrap_or_default();
        let admin_addr = if admin {
            banner_addr(&text, "admin")
        } else {
            Some(proc.admin)
        };
        if let (Some(t), Some(a)) = (banner_addr(&text, "listening"), admin_addr) {
            proc.traffic = t;
            proc.admin = a;
            return Ok(proc);
        }
        if let Some(status) = proc.child.try_wait()? {
            return Err(format!("{what} exited at start ({status}):\n{text}").into());
        }
        if Instant::now() > deadline {
            return Err(format!("no {what} banner within 20 s:\n{text}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Start [`bare_proxy_main`] as its own process, on the gateway's CPUs and worker count.
async fn start_bare_proxy(mock: SocketAddr, k: &Knobs) -> Res<GatewayProc> {
    let mut cmd = on_gateway_cpus(std::env::current_exe()?.as_os_str(), k);
    cmd.env(BARE_PROXY_ENV, mock.to_string());
    spawn_and_wait(cmd, tempfile::tempdir()?, "bare proxy", false).await
}

fn banner_addr(text: &str, label: &str) -> Option<SocketAddr> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with(label))
        .flat_map(str::split_whitespace)
        .find_map(|w| w.strip_prefix("http://").and_then(|a| a.parse().ok()))
}

async fn start_gateway(mock: SocketAddr, k: &Knobs, audit: Option<&str>) -> Res<GatewayProc> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("haetae-bench.toml");
    std::fs::write(
        &config,
        gateway_config(mock, &k.gateway_log, audit.map(|a| (a, dir.path()))),
    )?;
    let mut cmd = on_gateway_cpus(env!("CARGO_BIN_EXE_haetae").as_ref(), k);
    // The gateway reads every HAETAE_* variable as a settings override (and rejects unknown ones, such as this
    // bench's own knobs), so the child gets none of them: the config file alone describes it.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HAETAE_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(["serve", "--config"])
        .arg(&config)
        .env("OPENAI_API_KEY", "sk-bench-upstream-key")
        .env_remove("RUST_LOG");
    let proc = spawn_and_wait(cmd, dir, "gateway", true).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = make_client();
    loop {
        if let Ok((StatusCode::OK, _)) = admin_get(&client, proc.admin, "/readyz").await {
            return Ok(proc);
        }
        if Instant::now() > deadline {
            return Err("gateway /readyz not ready within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn admin_get(client: &HttpClient, admin: SocketAddr, path: &str) -> Res<(StatusCode, Value)> {
    let req = Request::get(format!("http://{admin}{path}")).body(Full::new(Bytes::new()))?;
    let resp = client.request(req).await?;
    let status = resp.status();
    let body = read_capped(resp.into_body(), 1 << 16).await?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// `VmRSS` of a process in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Voluntary + involuntary context switches of all threads of a process.
fn ctx_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the `(comm)` which may contain spaces; utime and stime are fields 14 and 15
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_sec() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

fn log_stats(path: &Path) -> (u64, usize, usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let warn: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    let err: Vec<&str> = text.lines().filter(|l| l.contains(" ERROR ")).collect();
    let sample = warn
        .iter()
        .chain(err.iter())
        .take(3)
        .map(|l| l.chars().take(200).collect())
        .collect();
    (text.len() as u64, warn.len(), err.len(), sample)
}

// ---------------------------------------------------------------------------------------------------------------
// client

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn make_client() -> HttpClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(4096)
        .build(http)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Via {
    Direct,
    Gateway,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Gateway => "gateway",
        }
    }
}

#[derive(Clone)]
struct Targets {
    client: HttpClient,
    direct: Uri,
    gateway: Uri,
    body: Bytes,
    stream_body: Bytes,
    hold_body: Bytes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Transport,
    Status,
    Short,
    Stall,
}

#[derive(Clone, Copy, Debug)]
struct Outcome {
    /// Send start → response complete.
    total: Duration,
    /// Send start → first complete SSE event (streams only).
    first_event: Option<Duration>,
    failure: Option<Failure>,
}

/// Counts complete SSE events (`\n\n` terminators) across chunk boundaries.
#[derive(Default)]
struct EventCounter {
    events: usize,
    last_was_nl: bool,
}

impl EventCounter {
    fn push(&mut self, chunk: &[u8]) {
        for i in memchr::memchr_iter(b'\n', chunk) {
            let prev_nl = if i == 0 {
                self.last_was_nl
            } else {
                chunk[i - 1] == b'\n'
            };
            if prev_nl {
                self.events += 1;
            }
        }
        if let Some(&b) = chunk.last() {
            self.last_was_nl = b == b'\n';
        }
    }
}

fn request(t: &Targets, via: Via, body: &Bytes) -> Res<Request<Full<Bytes>>> {
    let uri = match via {
        Via::Direct => t.direct.clone(),
        Via::Gateway => t.gateway.clone(),
    };
    Ok(Request::post(uri)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, "Bearer sk-bench-client")
        .header("x-bench-via", via.as_str())
        .body(Full::new(body.clone()))?)
}

/// One request, timed from just before it is sent; `stream`: expect 200 SSE events + `[DONE]`, else a JSON body.
async fn one(t: &Targets, via: Via, stream: bool) -> Outcome {
    let body = if stream { &t.stream_body } else { &t.body };
    let start = Instant::now();
    let fail = |f: Failure| Outcome {
        total: start.elapsed(),
        first_event: None,
        failure: Some(f),
    };
    let Ok(req) = request(t, via, body) else {
        return fail(Failure::Transport);
    };
    let work = async {
        let resp = match t.client.request(req).await {
            Ok(r) => r,
            Err(_) => return fail(Failure::Transport),
        };
        if resp.status() != StatusCode::OK {
            return fail(Failure::Status);
        }
        let mut body = resp.into_body();
        let mut counter = EventCounter::default();
        let mut first_event = None;
        let mut bytes = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return fail(Failure::Transport);
            };
            if let Ok(d) = frame.into_data() {
                bytes += d.len();
                if stream {
                    counter.push(&d);
                    if first_event.is_none() && counter.events > 0 {
                        first_event = Some(start.elapsed());
                    }
                }
            }
        }
        let total = start.elapsed();
        let complete = if stream {
            counter.events == STREAM_EVENTS + 1
        } else {
            bytes > 0
        };
        Outcome {
            total,
            first_event,
            failure: (!complete).then_some(Failure::Short),
        }
    };
    match tokio::time::timeout(REQUEST_DEADLINE, work).await {
        Ok(o) => o,
        Err(_) => fail(Failure::Stall),
    }
}

#[derive(Default)]
struct Samples {
    totals: Vec<u64>,
    firsts: Vec<u64>,
    failures: Vec<Failure>,
    /// Wall time the path was under load (block start → last completion), seconds.
    busy_secs: f64,
    /// Worst lateness of the open-loop scheduler behind its intended send time.
    max_sched_lag: Duration,
    /// Gateway CPU ticks spent during this path's blocks (gateway path only).
    gw_cpu_ticks: u64,
    /// This process's CPU ticks (client + mock) during this path's blocks.
    self_cpu_ticks: u64,
    /// Gateway context switches (voluntary + involuntary, all threads) during this path's blocks.
    gw_ctx_switches: u64,
}

impl Samples {
    fn add(&mut self, o: Outcome) {
        match o.failure {
            None => {
                self.totals.push(o.total.as_nanos() as u64);
                if let Some(f) = o.first_event {
                    self.firsts.push(f.as_nanos() as u64);
                }
            }
            Some(f) => self.failures.push(f),
        }
    }
    fn ok(&self) -> usize {
        self.totals.len()
    }
    fn count(&self, f: Failure) -> usize {
        self.failures.iter().filter(|&&x| x == f).count()
    }
    /// Gateway CPU microseconds and context switches per successful request.
    fn gw_per_req(&self) -> (f64, f64) {
        let n = self.ok().max(1) as f64;
        (
            self.gw_cpu_ticks as f64 * 1e6 / clock_ticks_per_sec() as f64 / n,
            self.gw_ctx_switches as f64 / n,
        )
    }
    fn finish(&mut self) {
        self.totals.sort_unstable();
        self.firsts.sort_unstable();
    }
}

/// The disk's own durability floor, next to the residency-log modes: in a fresh temporary directory (where the
/// gateways keep their logs), append `RECORD_BYTES` and `fdatasync` at `rate` per second for `secs`, as the log's
/// writer does once per group commit. Sorted latencies in ns. A `before-forward` request waits for one of these, so
/// its added p99 cannot be lower than this p99.
fn disk_sync_floor(rate: f64, secs: u64) -> Res<Vec<u64>> {
    const RECORD_BYTES: usize = 512;
    let dir = tempfile::tempdir()?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("journal"))?;
    let record = [b'r'; RECORD_BYTES];
    let period = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let started = Instant::now();
    let mut next = started;
    let mut lat = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += period;
        f.write_all(&record)?;
        let t = Instant::now();
        f.sync_data()?;
        lat.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    lat.sort_unstable();
    Ok(lat)
}

/// Nearest-rank percentile in microseconds of sorted nanoseconds.
fn pct(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

/// Open loop: requests leave at a fixed rate regardless of how fast answers come back, alternating one-second blocks
/// between the direct and the gateway path so both see the same background load.
async fn open_loop(
    t: &Targets,
    stream: bool,
    rate: f64,
    secs_per_path: u64,
    gw_pid: u32,
    record: bool,
) -> (Samples, Samples) {
    let mut out = (Samples::default(), Samples::default());
    let per_block = rate.max(1.0).round() as u64;
    let period = Duration::from_secs_f64(1.0 / rate.max(1.0));
    for block in 0..secs_per_path * 2 {
        let via = if block % 2 == 0 {
            Via::Direct
        } else {
            Via::Gateway
        };
        let cpu0 = cpu_ticks(gw_pid).unwrap_or(0);
        let ctx0 = ctx_switches(gw_pid);
        let self0 = cpu_ticks(std::process::id()).unwrap_or(0);
        let start = Instant::now();
        let mut handles = Vec::with_capacity(per_block as usize);
        let mut max_lag = Duration::ZERO;
        for i in 0..per_block {
            let due = start + period * i as u32;
            tokio::time::sleep_until(due.into()).await;
            max_lag = max_lag.max(Instant::now().saturating_duration_since(due));
            let t = t.clone();
            handles.push(tokio::spawn(async move { one(&t, via, stream).await }));
        }
        let mut outcomes = Vec::with_capacity(handles.len());
        for h in handles {
            if let Ok(o) = h.await {
                outcomes.push(o);
            }
        }
        let busy = start.elapsed().as_secs_f64();
        let cpu1 = cpu_ticks(gw_pid).unwrap_or(0);
        let ctx1 = ctx_switches(gw_pid);
        let self1 = cpu_ticks(std::process::id()).unwrap_or(0);
        if !record {
            continue;
        }
        let s = if via == Via::Direct {
            &mut out.0
        } else {
            &mut out.1
        };
        for o in outcomes {
            s.add(o);
        }
        s.busy_secs += busy;
        s.max_sched_lag = s.max_sched_lag.max(max_lag);
        s.gw_cpu_ticks += cpu1.saturating_sub(cpu0);
        s.gw_ctx_switches += ctx1.saturating_sub(ctx0);
        s.self_cpu_ticks += self1.saturating_sub(self0);
    }
    out.0.finish();
    out.1.finish();
    out
}

/// Closed loop: `conc` workers send back to back for `secs` per path (two halves each, alternating).
async fn closed_loop(t: &Targets, conc: usize, secs: u64, gw_pid: u32) -> (Samples, Samples) {
    let mut out = (Samples::default(), Samples::default());
    let half = Duration::from_secs_f64(secs as f64 / 2.0);
    for round in 0..4 {
        let via = if round % 2 == 0 {
            Via::Direct
        } else {
            Via::Gateway
        };
        let cpu0 = cpu_ticks(gw_pid).unwrap_or(0);
        let ctx0 = ctx_switches(gw_pid);
        let self0 = cpu_ticks(std::process::id()).unwrap_or(0);
        let start = Instant::now();
        let deadline = start + half;
        let mut handles = Vec::new();
        for _ in 0..conc {
            let t = t.clone();
            handles.push(tokio::spawn(async move {
                let mut v = Vec::new();
                while Instant::now() < deadline {
                    v.push(one(&t, via, false).await);
                }
                v
            }));
        }
        let mut outcomes = Vec::new();
        for h in handles {
            if let Ok(v) = h.await {
                outcomes.extend(v);
            }
        }
        let busy = start.elapsed().as_secs_f64();
        let cpu1 = cpu_ticks(gw_pid).unwrap_or(0);
        let ctx1 = ctx_switches(gw_pid);
        let self1 = cpu_ticks(std::process::id()).unwrap_or(0);
        let s = if via == Via::Direct {
            &mut out.0
        } else {
            &mut out.1
        };
        for o in outcomes {
            s.add(o);
        }
        s.busy_secs += busy;
        s.gw_cpu_ticks += cpu1.saturating_sub(cpu0);
        s.gw_ctx_switches += ctx1.saturating_sub(ctx0);
        s.self_cpu_ticks += self1.saturating_sub(self0);
    }
    out.0.finish();
    out.1.finish();
    out
}

struct OpenStreams {
    wanted: usize,
    opened: usize,
    failed: usize,
    open_secs: f64,
    gateway_in_flight: i64,
    mock_holding_open: usize,
    rss_peak_kib: u64,
    rss_after_release_kib: u64,
    mock_holding_after_release: usize,
    in_flight_after_release: i64,
}

/// Hold `n` streams open through the gateway (the mock sends one event, then nothing), sample the gateway's RSS,
/// then let go and check that everything is released on both sides.
async fn hold_streams(t: &Targets, n: usize, gw: &GatewayProc, mock: &Mock) -> OpenStreams {
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let opened = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 && i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let t = t.clone();
        let mut release = release_rx.clone();
        let opened = Arc::clone(&opened);
        let failed = Arc::clone(&failed);
        handles.push(tokio::spawn(async move {
            let Ok(req) = request(&t, Via::Gateway, &t.hold_body) else {
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let first = async {
                let resp = t.client.request(req).await.ok()?;
                if resp.status() != StatusCode::OK {
                    return None;
                }
                let mut body = resp.into_body();
                let mut counter = EventCounter::default();
                while counter.events == 0 {
                    let frame = body.frame().await?.ok()?;
                    if let Ok(d) = frame.into_data() {
                        counter.push(&d);
                    }
                }
                Some(body)
            };
            match tokio::time::timeout(Duration::from_secs(30), first).await {
                Ok(Some(body)) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                    let _ = release.wait_for(|r| *r).await;
                    drop(body);
                }
                _ => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    while opened.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open_secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = gw.child.id();
    let mut rss_peak = 0;
    for _ in 0..5 {
        rss_peak = rss_peak.max(rss_kib(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = make_client();
    let in_flight = |v: &Value| v["in_flight_requests"].as_i64().unwrap_or(-1);
    let gateway_in_flight = admin_get(&client, gw.admin, "/readyz")
        .await
        .map(|(_, v)| in_flight(&v))
        .unwrap_or(-1);
    let mock_holding_open = mock.holding.load(Ordering::Relaxed);
    let _ = release_tx.send(true);
    for h in handles {
        let _ = h.await;
    }
    let mut in_flight_after = -1;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        in_flight_after = admin_get(&client, gw.admin, "/readyz")
            .await
            .map(|(_, v)| in_flight(&v))
            .unwrap_or(-1);
        if in_flight_after == 0 && mock.holding.load(Ordering::Relaxed) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    OpenStreams {
        wanted: n,
        opened: opened.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        open_secs,
        gateway_in_flight,
        mock_holding_open,
        rss_peak_kib: rss_peak,
        rss_after_release_kib: rss_kib(pid).unwrap_or(0),
        mock_holding_after_release: mock.holding.load(Ordering::Relaxed),
        in_flight_after_release: in_flight_after,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// report

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn fmt_us(us: f64) -> String {
    if us.is_nan() {
        "-".into()
    } else if us.abs() >= 10_000.0 {
        format!("{:.1}ms", us / 1000.0)
    } else {
        format!("{us:.0}µs")
    }
}

fn lat_json(s: &Samples) -> Value {
    json!({
        "ok": s.ok(),
        "err_transport": s.count(Failure::Transport),
        "err_status": s.count(Failure::Status),
        "err_short": s.count(Failure::Short),
        "err_stall": s.count(Failure::Stall),
        "p50_us": pct(&s.totals, 0.50),
        "p90_us": pct(&s.totals, 0.90),
        "p99_us": pct(&s.totals, 0.99),
        "max_us": pct(&s.totals, 1.0),
        "first_event_p50_us": pct(&s.firsts, 0.50),
        "first_event_p99_us": pct(&s.firsts, 0.99),
        "achieved_per_s": s.ok() as f64 / s.busy_secs.max(1e-9),
        "sched_lag_max_us": s.max_sched_lag.as_secs_f64() * 1e6,
        "gateway_cpu_us_per_req": s.gw_per_req().0,
        "gateway_ctx_switches_per_req": s.gw_per_req().1,
    })
}

fn errs(s: &Samples) -> String {
    format!(
        "{}/{}/{}/{}",
        s.count(Failure::Transport),
        s.count(Failure::Status),
        s.count(Failure::Short),
        s.count(Failure::Stall)
    )
}

fn row(name: &str, s: &Samples) {
    println!(
        "  {name:<8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>11} {:>10.0}",
        fmt_us(pct(&s.totals, 0.50)),
        fmt_us(pct(&s.totals, 0.90)),
        fmt_us(pct(&s.totals, 0.99)),
        fmt_us(pct(&s.totals, 1.0)),
        s.ok(),
        errs(s),
        s.ok() as f64 / s.busy_secs.max(1e-9),
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn nofile_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .map(|l| {
                    l.split_whitespace()
                        .skip(3)
                        .take(2)
                        .collect::<Vec<_>>()
                        .join("/")
                })
        })
        .unwrap_or_else(|| "?".into())
}

fn main() -> Res<()> {
    if let Ok(upstream) = std::env::var(BARE_PROXY_ENV) {
        return bare_proxy_main(upstream.parse()?);
    }
    let knobs = Knobs::from_env();
    // Pin before the runtime starts: every thread created afterwards inherits the mask.
    if let Some(cpus) = &knobs.client_cpus {
        let status = Command::new("taskset")
            .args(["-p", "-c", cpus.as_str(), &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("taskset -p -c {cpus} failed: {status}").into());
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(knobs))
}

async fn run(k: Knobs) -> Res<()> {
    let load_start = loadavg();
    let nofile = nofile_limit();
    let need_fds = 2 * k.open_streams + 200;
    let soft: usize = nofile
        .split('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    if soft < need_fds {
        eprintln!(
            "proxy_load: RLIMIT_NOFILE soft limit {soft} < {need_fds} needed for {} open streams; \
             raise it (`ulimit -n {need_fds}`) or lower HAETAE_BENCH_OPEN_STREAMS",
            k.open_streams
        );
    }
    let mock = start_mock().await?;
    // By default the gateway as deployed by default: residency log on, records durable before forwarding.
    let gw = start_gateway(mock.addr, &k, k.gateway_audit.as_deref()).await?;
    let pid = gw.child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss_kib(pid).unwrap_or(0);
    let ticks = clock_ticks_per_sec();

    let targets = Targets {
        client: make_client(),
        direct: format!("http://{}/v1/chat/completions", mock.addr).parse()?,
        gateway: format!("http://{}/v1/chat/completions", gw.traffic).parse()?,
        body: chat_body("bench-fast", false)?,
        stream_body: chat_body("bench-fast", true)?,
        hold_body: chat_body(HOLD_MODEL, true)?,
    };
    println!(
        "haetae proxy_load{} — gateway pid {pid}, {} CPUs, load avg {load_start} (other builds may share the machine), \
         RLIMIT_NOFILE {nofile}, gateway log.level={}, gateway workers {}, residency log {}, gateway CPUs {}, \
         client CPUs {}",
        if k.quick { " (QUICK)" } else { "" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        k.gateway_log,
        k.gateway_workers
            .map_or_else(|| "default".to_owned(), |w| w.to_string()),
        k.gateway_audit.as_deref().unwrap_or("off"),
        k.gateway_cpus.as_deref().unwrap_or("any"),
        k.client_cpus.as_deref().unwrap_or("any")
    );

    // warm-up: connection pools on both sides, allocator arenas
    let _ = open_loop(&targets, false, k.rate.min(500.0), 1, pid, false).await;
    let _ = open_loop(&targets, true, k.stream_rate.min(50.0), 1, pid, false).await;
    let rss_warm = rss_kib(pid).unwrap_or(0);

    let (d, g) = open_loop(&targets, false, k.rate, k.secs, pid, true).await;
    let rss_after_json = rss_kib(pid).unwrap_or(0);
    let (sd, sg) = open_loop(&targets, true, k.stream_rate, k.stream_secs, pid, true).await;
    let rss_after_sse = rss_kib(pid).unwrap_or(0);
    let (cd, cg) = closed_loop(&targets, k.sat_conc, k.sat_secs, pid).await;
    let rss_after_sat = rss_kib(pid).unwrap_or(0);
    let conns_before_hold = [
        mock.conns[0].load(Ordering::Relaxed),
        mock.conns[1].load(Ordering::Relaxed),
    ];
    let held = hold_streams(&targets, k.open_streams, &gw, &mock).await;
    // further rounds tell memory the allocator keeps for reuse (flat) from a leak (grows every round)
    let mut more_rounds = Vec::new();
    for _ in 1..k.hold_rounds {
        more_rounds.push(hold_streams(&targets, k.open_streams, &gw, &mock).await);
    }
    let load_end = loadavg();
    let seen_direct = mock.seen[0].load(Ordering::Relaxed);
    let seen_gateway = mock.seen[1].load(Ordering::Relaxed);
    let conns_direct = mock.conns[0].load(Ordering::Relaxed);
    let conns_gateway = mock.conns[1].load(Ordering::Relaxed);
    let gateway_alive = {
        let client = make_client();
        matches!(
            admin_get(&client, gw.admin, "/healthz").await,
            Ok((StatusCode::OK, _))
        )
    };
    let (log_bytes, log_warn, log_err, log_sample) = log_stats(&gw.log_path);

    drop(gw);

    // The residency log's durability point: fresh gateways with the log off, `after-response` and `before-forward`,
    // each against the direct path in its own interleaved open loop; the differences are what the log costs.
    let audit_secs = env_num("HAETAE_BENCH_MODE_SECS", k.secs.clamp(1, 5));
    let mut modes = Vec::new();
    for mode in [
        Some(FLOOR),
        None,
        Some("after-response"),
        Some("before-forward"),
    ] {
        let gw_mode = match mode {
            Some(FLOOR) => start_bare_proxy(mock.addr, &k).await?,
            _ => start_gateway(mock.addr, &k, mode).await?,
        };
        let mode_targets = Targets {
            client: make_client(),
            gateway: format!("http://{}/v1/chat/completions", gw_mode.traffic).parse()?,
            ..targets.clone()
        };
        let _ = open_loop(
            &mode_targets,
            false,
            k.rate.min(500.0),
            1,
            gw_mode.child.id(),
            false,
        )
        .await;
        let (md, mg) = open_loop(
            &mode_targets,
            false,
            k.rate,
            audit_secs,
            gw_mode.child.id(),
            true,
        )
        .await;
        modes.push((mode.unwrap_or("off"), md, mg));
    }
    let disk_rate = k.rate;
    let disk =
        tokio::task::spawn_blocking(move || disk_sync_floor(disk_rate, audit_secs)).await??;

    // derived numbers
    let add_p50 = pct(&g.totals, 0.50) - pct(&d.totals, 0.50);
    let add_p90 = pct(&g.totals, 0.90) - pct(&d.totals, 0.90);
    let add_p99 = pct(&g.totals, 0.99) - pct(&d.totals, 0.99);
    let tput = |s: &Samples| s.ok() as f64 / s.busy_secs.max(1e-9);
    let open_ratio = tput(&g) / tput(&d);
    let sat_ratio = tput(&cg) / tput(&cd);
    let cpu_us_per_req =
        |s: &Samples| s.gw_cpu_ticks as f64 * 1e6 / ticks as f64 / s.ok().max(1) as f64;
    let self_us_per_req =
        |s: &Samples| s.self_cpu_ticks as f64 * 1e6 / ticks as f64 / s.ok().max(1) as f64;
    let per_event_p50 = (pct(&sg.totals, 0.50) - pct(&sd.totals, 0.50)) / STREAM_EVENTS as f64;
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64 / 1000.0;
    let per_event_mean = (mean(&sg.totals) - mean(&sd.totals)) / STREAM_EVENTS as f64;
    let ttfe_add_p50 = pct(&sg.firsts, 0.50) - pct(&sd.firsts, 0.50);
    let mib = |kib: u64| kib as f64 / 1024.0;

    println!();
    println!(
        "non-streaming, open loop {:.0} req/s, {} s per path (1 s blocks, interleaved), 4096 B body",
        k.rate, k.secs
    );
    println!(
        "  {:<8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>11} {:>10}",
        "path", "p50", "p90", "p99", "max", "ok", "err t/s/x/⏱", "req/s"
    );
    row("direct", &d);
    row("gateway", &g);
    println!(
        "  added    {:>9} {:>9} {:>9}   target added p99 ≤ 1 ms: {}   throughput ratio {open_ratio:.3}",
        fmt_us(add_p50),
        fmt_us(add_p90),
        fmt_us(add_p99),
        verdict(add_p99 <= 1000.0)
    );
    println!(
        "  per request: gateway {:.0} µs CPU, {:.1} context switches; bench process (client + mock) {:.0} µs \
         direct, {:.0} µs via gateway; scheduler lag max direct {} gateway {}",
        cpu_us_per_req(&g),
        g.gw_per_req().1,
        self_us_per_req(&d),
        self_us_per_req(&g),
        fmt_us(d.max_sched_lag.as_secs_f64() * 1e6),
        fmt_us(g.max_sched_lag.as_secs_f64() * 1e6)
    );
    println!();
    println!(
        "closed loop, {} connections, {} s per path: direct {:.0} req/s, gateway {:.0} req/s, ratio {sat_ratio:.3}; \
         p50 {} vs {}; gateway CPU {:.0} µs/request, {:.1} context switches/request",
        k.sat_conc,
        k.sat_secs,
        tput(&cd),
        tput(&cg),
        fmt_us(pct(&cd.totals, 0.5)),
        fmt_us(pct(&cg.totals, 0.5)),
        cpu_us_per_req(&cg),
        cg.gw_per_req().1
    );
    println!(
        "  errors t/s/x/⏱ direct {} gateway {}",
        errs(&cd),
        errs(&cg)
    );
    println!();
    println!(
        "streaming, {STREAM_EVENTS} SSE events + [DONE], open loop {:.0} streams/s, {} s per path",
        k.stream_rate, k.stream_secs
    );
    println!(
        "  {:<8} {:>10} {:>10} {:>10} {:>10} {:>7} {:>11}",
        "path", "ttfe p50", "ttfe p99", "total p50", "total p99", "ok", "err t/s/x/⏱"
    );
    for (name, s) in [("direct", &sd), ("gateway", &sg)] {
        println!(
            "  {name:<8} {:>10} {:>10} {:>10} {:>10} {:>7} {:>11}",
            fmt_us(pct(&s.firsts, 0.5)),
            fmt_us(pct(&s.firsts, 0.99)),
            fmt_us(pct(&s.totals, 0.5)),
            fmt_us(pct(&s.totals, 0.99)),
            s.ok(),
            errs(s)
        );
    }
    println!(
        "  added per event {per_event_p50:.2} µs (p50 totals), {per_event_mean:.2} µs (means)   target ≤ 50 µs: {}; \
         added ttfe p50 {}",
        verdict(per_event_p50 <= 50.0),
        fmt_us(ttfe_add_p50)
    );
    println!();
    println!(
        "gateway RSS: idle {:.1} MiB (target ≤ 50: {}), after warm-up {:.1}, after non-streaming {:.1}, after streaming \
         {:.1}, after closed loop {:.1} MiB",
        mib(rss_idle),
        verdict(mib(rss_idle) <= 50.0),
        mib(rss_warm),
        mib(rss_after_json),
        mib(rss_after_sse),
        mib(rss_after_sat)
    );
    println!(
        "  {} open streams: {} opened, {} failed in {:.1} s; gateway in-flight {}, mock holding {}; RSS {:.1} MiB \
         (target ≤ 300: {}); after release {:.1} MiB, in-flight {}, mock still holding {}",
        held.wanted,
        held.opened,
        held.failed,
        held.open_secs,
        held.gateway_in_flight,
        held.mock_holding_open,
        mib(held.rss_peak_kib),
        verdict(held.opened == held.wanted && mib(held.rss_peak_kib) <= 300.0),
        mib(held.rss_after_release_kib),
        held.in_flight_after_release,
        held.mock_holding_after_release
    );
    for (i, r) in more_rounds.iter().enumerate() {
        println!(
            "  round {}: {} opened, {} failed; RSS {:.1} MiB, after release {:.1} MiB, in-flight {}, mock still \
             holding {}",
            i + 2,
            r.opened,
            r.failed,
            mib(r.rss_peak_kib),
            mib(r.rss_after_release_kib),
            r.in_flight_after_release,
            r.mock_holding_after_release
        );
    }
    println!(
        "sanity: mock saw {seen_direct} direct / {seen_gateway} via gateway requests on {conns_direct} / \
         {conns_gateway} connections ({} / {} before the open-stream rounds); gateway alive at end: {gateway_alive}; \
         gateway log {log_bytes} B, {log_warn} WARN, {log_err} ERROR lines; load avg at end {load_end}",
        conns_before_hold[0],
        conns_before_hold[1]
    );
    for l in &log_sample {
        println!("  log: {l}");
    }
    println!();
    println!(
        "the floor and the residency log's durability: fresh processes, a bare hyper proxy (no inspection) and \
         gateways with the log off / after-response / before-forward, each against direct, open loop {:.0} req/s, \
         {audit_secs} s per side",
        k.rate
    );
    let mut mode_json = serde_json::Map::new();
    let added = |md: &Samples, mg: &Samples, q| pct(&mg.totals, q) - pct(&md.totals, q);
    let floor = modes
        .iter()
        .find(|m| m.0 == FLOOR)
        .map(|(_, md, mg)| (added(md, mg, 0.50), added(md, mg, 0.99), mg.gw_per_req().0));
    for (mode, md, mg) in &modes {
        row("direct", md);
        row(mode, mg);
        let (cpu, ctx) = mg.gw_per_req();
        let (a50, a90, a99) = (
            added(md, mg, 0.50),
            added(md, mg, 0.90),
            added(md, mg, 0.99),
        );
        let over_floor = match floor {
            Some((f50, f99, fcpu)) if *mode != FLOOR => format!(
                "; over the bare proxy {} p50, {} p99, {:.0} µs CPU",
                fmt_us(a50 - f50),
                fmt_us(a99 - f99),
                cpu - fcpu
            ),
            _ => String::new(),
        };
        println!(
            "  added    {:>9} {:>9} {:>9}   ({mode}: target added p99 ≤ 1 ms: {}); {cpu:.0} µs CPU, \
             {ctx:.1} context switches per request{over_floor}",
            fmt_us(a50),
            fmt_us(a90),
            fmt_us(a99),
            verdict(a99 <= 1000.0)
        );
        mode_json.insert(
            (*mode).to_owned(),
            json!({"direct": lat_json(md), "gateway": lat_json(mg), "cpu_us_per_request": cpu,
                   "added_p50_us": a50, "added_p90_us": a90, "added_p99_us": a99}),
        );
    }
    let (d50, d99, dmax) = (
        pct(&disk, 0.50),
        pct(&disk, 0.99),
        disk.last().map_or(0.0, |&ns| ns as f64 / 1000.0),
    );
    println!(
        "  disk     fdatasync of a 512 B append, {disk_rate:.0}/s for {audit_secs} s in a temp dir (the floor of \
         before-forward: one per request at this rate): p50 {} p99 {} max {} over {} syncs",
        fmt_us(d50),
        fmt_us(d99),
        fmt_us(dmax),
        disk.len()
    );

    let report = json!({
        "bench": "proxy_load",
        "residency_modes": mode_json,
        "disk_fdatasync": {"p50_us": d50, "p99_us": d99, "max_us": dmax, "syncs": disk.len()},
        "gateway_audit": k.gateway_audit,
        "quick": k.quick,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "gateway_log_level": k.gateway_log,
        "gateway_workers": k.gateway_workers,
        "gateway_cpus": k.gateway_cpus,
        "client_cpus": k.client_cpus,
        "body_bytes": BODY_BYTES,
        "nonstream": {
            "rate": k.rate, "secs_per_path": k.secs,
            "direct": lat_json(&d), "gateway": lat_json(&g),
            "added_p50_us": add_p50, "added_p90_us": add_p90, "added_p99_us": add_p99,
            "throughput_ratio": open_ratio,
            "gateway_cpu_us_per_req": cpu_us_per_req(&g),
            "bench_cpu_us_per_req_direct": self_us_per_req(&d),
            "bench_cpu_us_per_req_gateway": self_us_per_req(&g),
        },
        "saturation": {
            "concurrency": k.sat_conc, "secs_per_path": k.sat_secs,
            "direct": lat_json(&cd), "gateway": lat_json(&cg),
            "throughput_ratio": sat_ratio,
            "gateway_cpu_us_per_req": cpu_us_per_req(&cg),
            "bench_cpu_us_per_req_direct": self_us_per_req(&cd),
            "bench_cpu_us_per_req_gateway": self_us_per_req(&cg),
        },
        "stream": {
            "events": STREAM_EVENTS, "rate": k.stream_rate, "secs_per_path": k.stream_secs,
            "direct": lat_json(&sd), "gateway": lat_json(&sg),
            "added_per_event_us_p50": per_event_p50,
            "added_per_event_us_mean": per_event_mean,
            "added_ttfe_p50_us": ttfe_add_p50,
        },
        "rss_mib": {
            "idle": mib(rss_idle), "after_warmup": mib(rss_warm), "after_nonstream": mib(rss_after_json),
            "after_stream": mib(rss_after_sse), "after_saturation": mib(rss_after_sat),
            "open_streams_peak": mib(held.rss_peak_kib), "after_release": mib(held.rss_after_release_kib),
        },
        "open_streams": {
            "wanted": held.wanted, "opened": held.opened, "failed": held.failed, "open_secs": held.open_secs,
            "gateway_in_flight": held.gateway_in_flight, "mock_holding": held.mock_holding_open,
            "in_flight_after_release": held.in_flight_after_release,
            "mock_holding_after_release": held.mock_holding_after_release,
            "later_rounds": more_rounds.iter().map(|r| json!({
                "opened": r.opened, "failed": r.failed,
                "rss_peak_mib": mib(r.rss_peak_kib), "rss_after_release_mib": mib(r.rss_after_release_kib),
                "in_flight_after_release": r.in_flight_after_release,
                "mock_holding_after_release": r.mock_holding_after_release,
            })).collect::<Vec<_>>(),
        },
        "targets": {
            "added_p99_us_max": 1000, "per_event_us_max": 50, "rss_idle_mib_max": 50, "rss_open_streams_mib_max": 300,
            "added_p99": add_p99 <= 1000.0, "per_event": per_event_p50 <= 50.0,
            "rss_idle": mib(rss_idle) <= 50.0,
            "rss_open_streams": held.opened == held.wanted && mib(held.rss_peak_kib) <= 300.0,
        },
        "mock_seen": {"direct": seen_direct, "gateway": seen_gateway},
        "mock_connections": {"direct": conns_direct, "gateway": conns_gateway,
            "direct_before_hold": conns_before_hold[0], "gateway_before_hold": conns_before_hold[1]},
        "gateway_alive_at_end": gateway_alive,
        "gateway_log": {"bytes": log_bytes, "warn_lines": log_warn, "error_lines": log_err},
    });
    println!("PROXY_LOAD_JSON {report}");
    std::io::stdout().flush()?;
    Ok(())
}
