//! Gateway configuration: `Settings`, layered built-in defaults < `haetae.toml` < `HAETAE_*` environment variables.
//!
//! Loading is two-stage: raw layers are merged by the `config` crate and deserialised strictly (unknown keys are
//! errors that name the key and where it came from), then [`Settings::validate`] checks every cross-field rule and
//! reports *all* problems at once, each naming its key.
//!
//! Must never: read files or environment variables at request time (everything is resolved at start-up), or log a
//! credential (only the *name* of the environment variable that holds it).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors from loading or validating configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown / mistyped key.
    #[error("config file {path}: {message}")]
    File {
        /// File path.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// An environment variable overrides an unknown key or has a bad value.
    #[error("environment (HAETAE_* variables): {0}")]
    Env(String),
    /// Merging the layers failed.
    #[error("config: {0}")]
    Merge(String),
    /// One or more validation rules failed; every problem is listed.
    #[error("invalid configuration:\n{}", .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigIssue>),
}

/// One validation problem, naming the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key, e.g. `destinations[2].base_url`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The whole gateway configuration. Every field has a default; see `deploy/examples/haetae.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Listeners.
    pub server: ServerSettings,
    /// Size and concurrency limits.
    pub limits: LimitSettings,
    /// Timeouts.
    pub timeouts: TimeoutSettings,
    /// Logging.
    pub log: LogSettings,
    /// Where requests go when nothing more specific applies.
    pub routing: RoutingSettings,
    /// Upstream destinations.
    pub destinations: Vec<DestinationSettings>,
    /// Gateway keys (as SHA-256 hashes) and the tenants they identify.
    pub tenants: Vec<TenantSettings>,
    /// The residency proof log.
    pub audit: AuditSettings,
    /// The policy file the gateway inspects requests under.
    pub policy: PolicySettings,
}

/// Which policy file is live. Without one, every builtin detector runs with its default threshold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    /// Policy file (TOML; its `[detect]` table, as in `policies/custom-detectors.example.toml`), relative to the
    /// working directory. Read and compiled at start-up (an error stops the start) and again on SIGHUP, when a file
    /// that fails to load or compile leaves the running policy live.
    pub file: Option<PathBuf>,
}

/// When the residency record must be durable, relative to forwarding.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AuditDurability {
    /// The record exists (fdatasync'd) before any byte leaves for the destination; if it cannot be written the
    /// request is refused. Costs one group commit per request. A second record carries the outcome.
    BeforeForward,
    /// One record, appended when the response ends. No added latency, but a crash between forwarding and the
    /// append loses the record of a transfer that happened.
    AfterResponse,
}

impl AuditDurability {
    /// The config spelling (`before-forward` / `after-response`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditDurability::BeforeForward => "before-forward",
            AuditDurability::AfterResponse => "after-response",
        }
    }
}

/// The residency proof log (C2SP tlog-tiles directory, signed checkpoints).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Record every authenticated request. Turning it off is for development only; the banner says so loudly.
    pub enabled: bool,
    /// Log directory (created if missing). Serve it with any static web server for auditors.
    pub dir: PathBuf,
    /// Log name: the checkpoint origin line and the signing key's name, e.g. `haetae.example.kr/gw-1`.
    pub origin: String,
    /// This gateway instance's id, written into every record.
    pub instance: String,
    /// Environment variable holding the signing key (`PRIVATE+KEY+…`, from `haetae audit keygen`). Wins over the file.
    pub signing_key_env: Option<String>,
    /// File holding the signing key.
    pub signing_key_file: PathBuf,
    /// Environment variable holding the content-digest secret (any string of ≥ 32 bytes). Wins over the file.
    pub digest_key_env: Option<String>,
    /// File holding the content-digest secret (HMAC-SHA256 key for request/response digests and client pseudonyms).
    pub digest_key_file: PathBuf,
    /// Create the key files (mode 0600) on first start when they do not exist.
    pub create_missing_keys: bool,
    /// `before-forward` or `after-response`.
    pub durability: AuditDurability,
    /// Publish a signed checkpoint at most this long after the first unpublished record (ms).
    pub checkpoint_interval_ms: u64,
    /// Most records committed by one fdatasync.
    pub max_batch: usize,
    /// How long the writer waits for more records before committing a batch (ms). Unset: 0 with `before-forward`
    /// (each request waits for its commit, so waiting longer only adds latency) and 10 with `after-response`
    /// (nobody waits: fewer, larger commits cost less CPU and fewer wake-ups).
    pub group_commit_delay_ms: Option<u64>,
    /// Stop accepting records (fail closed) once the open shard's journal reaches this many bytes; 0 = no limit.
    /// With rotation on it must exceed `rotate_max_bytes` (it then only guards against a rotation that cannot
    /// keep up).
    pub max_journal_bytes: u64,
    /// Rotate (seal the open shard, start the next) once its journal reaches this many bytes; 0 = no size
    /// rotation. At least 1 MiB.
    pub rotate_max_bytes: u64,
    /// Rotate once the open shard's first record is this many hours old (also while idle); 0 = no
    /// time rotation. Shorter shards let `haetae audit prune` free space closer to the retention deadline.
    pub rotate_max_age_hours: u64,
    /// Retention period in days, for `haetae audit prune --config`: only sealed shards whose newest record is
    /// older than this are pruned. The gateway itself never deletes records. At least 1; PIPA safety measures
    /// (제8조) ask ≥ 365 days, ≥ 730 for unique identifiers or sensitive data; the EU AI Act ≥ 6 months.
    pub retention_days: u32,
    /// Read-only auditor HTTP listener (checkpoint, tiles, proofs, exports). None: not served.
    pub auditor_listen: Option<String>,
    /// Lower-case hex SHA-256 of each bearer token the auditor listener accepts (`haetae key hash` prints it).
    pub auditor_token_sha256: Vec<String>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::from("haetae-data/audit"),
            origin: "haetae.local/gw-1".to_owned(),
            instance: "gw-1".to_owned(),
            signing_key_env: None,
            signing_key_file: PathBuf::from("haetae-data/audit-signing.key"),
            digest_key_env: None,
            digest_key_file: PathBuf::from("haetae-data/audit-digest.key"),
            create_missing_keys: true,
            durability: AuditDurability::BeforeForward,
            checkpoint_interval_ms: 1000,
            max_batch: 8192,
            group_commit_delay_ms: None,
            max_journal_bytes: 0,
            rotate_max_bytes: 1 << 30,
            rotate_max_age_hours: 24 * 7,
            retention_days: 730,
            auditor_listen: None,
            auditor_token_sha256: Vec::new(),
        }
    }
}

/// Listener settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Traffic listener addresses (HTTP/1.1 and HTTP/2).
    pub listen: Vec<String>,
    /// Admin listener (`/healthz`, `/readyz`, `/metrics`); never serves traffic.
    pub admin_listen: String,
    /// Lower-case hex SHA-256 of each bearer token accepted at the admin listener's `/metrics` (`haetae key hash`).
    /// Empty (the default): `/metrics` is open to whoever reaches the admin listener, which start-up flags when that
    /// listener is not on loopback. `/healthz` and `/readyz` stay open either way (probes).
    pub admin_token_sha256: Vec<String>,
    /// Optional TLS termination for the traffic listeners.
    pub tls: Option<TlsSettings>,
    /// Forward requests for paths no wire format knows, without inspection. Default `false`: they get a 404.
    pub allow_unknown_paths: bool,
    /// Allow a traffic listener on a non-loopback address while no tenants are configured (authentication off).
    /// Default `false`: such a configuration is refused, so the gateway is never an open relay for the provider keys.
    pub allow_unauthenticated: bool,
}

/// TLS termination from PEM files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Smallest accepted `limits.max_sse_event_bytes`: provider stream events (a Responses `response.completed`, a
/// Gemini chunk) are routinely a few KiB.
pub const MIN_SSE_EVENT_BYTES: usize = 8192;

/// Whether two listener addresses cannot both be bound: the same port on the same address, or on an unspecified
/// address (`0.0.0.0` / `::`) and any address of the same family. On Linux, `[::]` is dual-stack unless
/// `net.ipv6.bindv6only` is set, so it also takes the port on every IPv4 address. Port 0 (any free port) never
/// clashes.
fn listeners_clash(a: SocketAddr, b: SocketAddr) -> bool {
    listeners_clash_with(a, b, v6_wildcard_is_dual_stack())
}

fn listeners_clash_with(a: SocketAddr, b: SocketAddr, dual_stack: bool) -> bool {
    if a.port() != b.port() || a.port() == 0 {
        return false;
    }
    let (x, y) = (a.ip().to_canonical(), b.ip().to_canonical());
    let covers = |w: std::net::IpAddr, o: std::net::IpAddr| {
        w.is_unspecified() && (w.is_ipv4() == o.is_ipv4() || (dual_stack && w.is_ipv6()))
    };
    x == y || covers(x, y) || covers(y, x)
}

/// Whether a socket bound to `[::]` also accepts IPv4 (Linux: `net.ipv6.bindv6only` = 0, the default).
fn v6_wildcard_is_dual_stack() -> bool {
    cfg!(target_os = "linux")
        && std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
            .map_or(true, |v| v.trim() == "0")
}

/// Limits. Every one has a default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest request body accepted, as received on the wire (bytes).
    pub max_request_body_bytes: u64,
    /// Largest request body after `Content-Encoding` decoding (bytes); larger → 413.
    pub max_decoded_body_bytes: u64,
    /// Largest request head (request line + headers) in bytes; larger → 431 in the API's error shape (past twice
    /// this, the HTTP layer's own bare 431 or HTTP/2 reset).
    pub max_header_bytes: usize,
    /// Most simultaneously open client connections; further connections wait in the accept queue.
    pub max_connections: usize,
    /// Most simultaneously in-flight requests; further requests get 503 ("overloaded"; Anthropic's 529) in the API's error shape.
    pub max_concurrent_requests: usize,
    /// Largest single SSE event held while framing a streamed response (bytes).
    pub max_sse_event_bytes: usize,
    /// Request bodies larger than this (bytes) are scanned on the blocking thread pool instead of a runtime worker,
    /// so that a large prompt's scan never holds up other requests' I/O. `0`: every body.
    pub inline_scan_bytes: usize,
    /// Stored OpenAI responses whose destination and tenant the gateway remembers, so that retrieving, cancelling
    /// or deleting one reaches the destination that created it (and no other tenant). Oldest forgotten first; `0`
    /// turns it off (every stored-response request goes to the default OpenAI destination).
    pub tracked_responses: usize,
}

/// Timeouts, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutSettings {
    /// Time a client has to send the request head; also the time a new connection has to bring its first request
    /// (TLS handshake and HTTP/2 preface included) before it is closed.
    pub client_header_ms: u64,
    /// Time a client has to send the whole request body.
    pub client_body_ms: u64,
    /// A client connection with no request in flight (response bodies included) for this long is shut down
    /// gracefully (HTTP/2: GOAWAY). HTTP/1.1 keep-alive connections are closed by `client_header_ms` already when
    /// that is shorter.
    pub client_idle_ms: u64,
    /// TCP connect plus TLS handshake to an upstream, together (past it: 502 in the API's error shape).
    pub upstream_connect_ms: u64,
    /// From sending the request to the upstream's response head.
    pub upstream_first_byte_ms: u64,
    /// Longest silence between two chunks of an upstream response body.
    pub upstream_idle_ms: u64,
    /// Longest time the detection engine may spend on one request's body. Past it the request is refused (413,
    /// not forwarded): a body built to be slow to scan costs at most this much CPU.
    pub inspection_ms: u64,
    /// On SIGTERM/SIGINT, how long in-flight requests and streams may take to finish.
    pub shutdown_grace_ms: u64,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `haetae=debug`. `RUST_LOG` overrides it.
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Default routing: which destination serves each API family, and model-name routes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// Destination for OpenAI-format requests.
    pub openai: String,
    /// Destination for Anthropic-format requests.
    pub anthropic: String,
    /// Destination for Gemini-format requests.
    pub gemini: String,
    /// Requested model name (exact, or a prefix ending in `*`) → destination name. Checked before the defaults.
    pub models: BTreeMap<String, String>,
    /// Where the stored-response table (`limits.tracked_responses`) is kept across restarts; unset: the file
    /// `stored-responses.jsonl` next to `audit.dir` (`haetae-data/stored-responses.jsonl` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_responses_file: Option<PathBuf>,
}

/// Wire format a destination speaks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DestinationFormat {
    /// OpenAI API (also vLLM, and most domestic OpenAI-compatible servers).
    Openai,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini API.
    Gemini,
}

impl DestinationFormat {
    /// Lower-case name as used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }
}

/// One upstream destination.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DestinationSettings {
    /// Unique name, used by routing and in logs.
    pub name: String,
    /// Wire format it speaks.
    pub format: DestinationFormat,
    /// Base URL as its official SDK would use it (OpenAI-format: ends in `/v1`; Anthropic and Gemini: the host root).
    pub base_url: String,
    /// ISO 3166-1 alpha-2 country of the servers, e.g. `KR`, `US`.
    pub jurisdiction: String,
    /// Region label, e.g. `us-east`, `seoul-dc1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Name of the environment variable holding the provider API key. None: send no credentials (e.g. on-prem vLLM).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Extra PEM CA bundle trusted for this destination (private CAs of domestic endpoints).
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    /// Requested model name → model name sent to this destination.
    #[serde(default)]
    pub model_map: BTreeMap<String, String>,
    /// Legal basis recorded for transfers to this destination (e.g. `PIPA 28-8(1)3 consent`).
    #[serde(default)]
    pub transfer_basis: Option<String>,
    /// Speak HTTP/2 without TLS (h2c prior knowledge) to a plain `http://` destination.
    #[serde(default)]
    pub http2_prior_knowledge: bool,
}

/// A tenant and the SHA-256 hashes of its gateway keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Tenant name (appears in logs and the residency log).
    pub name: String,
    /// Lower-case hex SHA-256 of each gateway key (`haetae key hash` prints it).
    pub key_sha256: Vec<String>,
}

const MIB: u64 = 1024 * 1024;

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: vec!["127.0.0.1:8080".to_owned()],
            admin_listen: "127.0.0.1:9090".to_owned(),
            admin_token_sha256: Vec::new(),
            tls: None,
            allow_unknown_paths: false,
            allow_unauthenticated: false,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 16 * MIB,
            max_decoded_body_bytes: 16 * MIB,
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
            max_concurrent_requests: 4_096,
            // Single provider events reach several MiB: Gemini image output inline, the Responses API's
            // `response.completed` (the whole output again) and `partial_image` events. Only an event's own bytes
            // are held, so the cap costs nothing on ordinary streams.
            max_sse_event_bytes: 16 * MIB as usize,
            inline_scan_bytes: 64 * 1024,
            // About 200 bytes each: at most ~13 MiB when full.
            tracked_responses: 65_536,
        }
    }
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        Self {
            client_header_ms: 30_000,
            client_body_ms: 60_000,
            client_idle_ms: 120_000,
            upstream_connect_ms: 5_000,
            upstream_first_byte_ms: 300_000,
            upstream_idle_ms: 120_000,
            inspection_ms: 2_000,
            shutdown_grace_ms: 30_000,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            openai: "openai".to_owned(),
            anthropic: "anthropic".to_owned(),
            gemini: "gemini".to_owned(),
            models: BTreeMap::new(),
            stored_responses_file: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        let dest = |name: &str,
                    format,
                    base_url: &str,
                    jurisdiction: &str,
                    region: &str,
                    key: Option<&str>| {
            DestinationSettings {
                name: name.to_owned(),
                format,
                base_url: base_url.to_owned(),
                jurisdiction: jurisdiction.to_owned(),
                region: Some(region.to_owned()),
                api_key_env: key.map(str::to_owned),
                ca_bundle: None,
                model_map: BTreeMap::new(),
                transfer_basis: None,
                http2_prior_knowledge: false,
            }
        };
        Self {
            server: ServerSettings::default(),
            limits: LimitSettings::default(),
            timeouts: TimeoutSettings::default(),
            log: LogSettings::default(),
            routing: RoutingSettings::default(),
            destinations: vec![
                dest(
                    "openai",
                    DestinationFormat::Openai,
                    "https://api.openai.com/v1",
                    "US",
                    "us",
                    Some("OPENAI_API_KEY"),
                ),
                dest(
                    "anthropic",
                    DestinationFormat::Anthropic,
                    "https://api.anthropic.com",
                    "US",
                    "us",
                    Some("ANTHROPIC_API_KEY"),
                ),
                dest(
                    "gemini",
                    DestinationFormat::Gemini,
                    "https://generativelanguage.googleapis.com",
                    "US",
                    "us",
                    Some("GEMINI_API_KEY"),
                ),
                dest(
                    "domestic",
                    DestinationFormat::Openai,
                    "http://127.0.0.1:8000/v1",
                    "KR",
                    "on-prem",
                    None,
                ),
            ],
            tenants: Vec::new(),
            audit: AuditSettings::default(),
            policy: PolicySettings::default(),
        }
    }
}

/// Environment variables that configure the CLI itself rather than `Settings` keys. Every other `HAETAE_*` variable
/// must be a settings override (`HAETAE_<SECTION>__<KEY>`); anything else is an error, so a typo never goes unnoticed.
pub const NON_SETTINGS_ENV: &[&str] = &[
    "HAETAE_CONFIG",
    "HAETAE_AUDIT_SIGNING_KEY",
    "HAETAE_AUDIT_VERIFIER_KEY",
    crate::detect::PORTABLE_ENV,
];

impl Settings {
    /// The file the stored-response table is kept in (`routing.stored_responses_file`, else next to `audit.dir`).
    pub fn stored_responses_file(&self) -> PathBuf {
        self.routing
            .stored_responses_file
            .clone()
            .unwrap_or_else(|| {
                self.audit
                    .dir
                    .parent()
                    .unwrap_or_else(|| Path::new(""))
                    .join("stored-responses.jsonl")
            })
    }

    /// Load defaults < `file` (if any) < the given `HAETAE_*` environment variables, then validate.
    ///
    /// `env` is passed explicitly (normally `std::env::vars()`) so tests never touch process-global state.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder().add_source(
            config::Config::try_from(&Settings::default())
                .map_err(|e| ConfigError::Merge(e.to_string()))?,
        );
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            // Strict check of the file alone, so an unknown key is reported against the file that has it.
            let de = toml::Deserializer::new(&text);
            serde_path_to_error::deserialize::<_, Settings>(de).map_err(|e| ConfigError::File {
                path: path.to_owned(),
                message: describe_path_error(&e),
            })?;
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("HAETAE_") && !NON_SETTINGS_ENV.contains(&k.as_str()))
            .collect();
        let env_keys: Vec<String> = env.keys().cloned().collect();
        builder = builder.add_source(
            config::Environment::with_prefix("HAETAE")
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("server.listen")
                .with_list_parse_key("audit.auditor_token_sha256")
                .with_list_parse_key("server.admin_token_sha256")
                .try_parsing(true)
                .source(Some(env)),
        );
        let merged = builder
            .build()
            .map_err(|e| ConfigError::Merge(e.to_string()))?;
        let settings: Settings = serde_path_to_error::deserialize(merged).map_err(|e| {
            ConfigError::Env(format!(
                "{} (settings overrides are named HAETAE_<SECTION>__<KEY>, e.g. HAETAE_LIMITS__MAX_REQUEST_BODY_BYTES; \
                 other HAETAE_* variables haetae reads: {}; variables set: {})",
                describe_path_error(&e),
                NON_SETTINGS_ENV.join(", "),
                if env_keys.is_empty() {
                    "none".to_owned()
                } else {
                    env_keys.join(", ")
                }
            ))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Check every cross-field rule; report all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut issues = Vec::new();
        let mut issue = |key: String, message: String| issues.push(ConfigIssue { key, message });

        if self.server.listen.is_empty() {
            issue(
                "server.listen".into(),
                "at least one listen address is required".into(),
            );
        }
        for (i, addr) in self.server.listen.iter().enumerate() {
            match addr.parse::<SocketAddr>() {
                Err(_) => issue(
                    format!("server.listen[{i}]"),
                    format!("`{addr}` is not an address like 127.0.0.1:8080"),
                ),
                Ok(sa)
                    if self.tenants.is_empty()
                        && !self.server.allow_unauthenticated
                        && !sa.ip().to_canonical().is_loopback() =>
                {
                    issue(
                        format!("server.listen[{i}]"),
                        format!(
                            "`{addr}` is not a loopback address and no tenants are configured, so anyone who can \
                             reach it could use the provider keys: add [[tenants]] (`haetae key new --tenant NAME`), \
                             listen on loopback, or set server.allow_unauthenticated = true to accept an open gateway"
                        ),
                    );
                }
                Ok(_) => {}
            }
        }
        if self.server.admin_listen.parse::<SocketAddr>().is_err() {
            issue(
                "server.admin_listen".into(),
                format!(
                    "`{}` is not an address like 127.0.0.1:9090",
                    self.server.admin_listen
                ),
            );
        }
        for (j, h) in self.server.admin_token_sha256.iter().enumerate() {
            if !is_sha256_hex(h) {
                issue(
                    format!("server.admin_token_sha256[{j}]"),
                    "must be 64 lower-case hex characters (SHA-256 of the token)".into(),
                );
            }
        }
        if let Some(tls) = &self.server.tls {
            for (key, path) in [("server.tls.cert", &tls.cert), ("server.tls.key", &tls.key)] {
                if !path.is_file() {
                    issue(
                        key.into(),
                        format!("file {} does not exist", path.display()),
                    );
                }
            }
        }
        let l = &self.limits;
        for (key, value) in [
            ("limits.max_request_body_bytes", l.max_request_body_bytes),
            ("limits.max_decoded_body_bytes", l.max_decoded_body_bytes),
            ("limits.max_header_bytes", l.max_header_bytes as u64),
            ("limits.max_connections", l.max_connections as u64),
            (
                "limits.max_concurrent_requests",
                l.max_concurrent_requests as u64,
            ),
            ("limits.max_sse_event_bytes", l.max_sse_event_bytes as u64),
        ] {
            if value == 0 {
                issue(key.into(), "must be greater than 0".into());
            }
        }
        if l.max_header_bytes < 8192 {
            issue(
                "limits.max_header_bytes".into(),
                "must be at least 8192".into(),
            );
        }
        if l.max_sse_event_bytes > 0 && l.max_sse_event_bytes < MIN_SSE_EVENT_BYTES {
            issue(
                "limits.max_sse_event_bytes".into(),
                format!(
                    "must be at least {MIN_SSE_EVENT_BYTES} (provider stream events are often a few KiB; smaller \
                     would cut ordinary streams)"
                ),
            );
        }
        if l.max_decoded_body_bytes > 0 && l.max_decoded_body_bytes < l.max_request_body_bytes {
            issue(
                "limits.max_decoded_body_bytes".into(),
                format!(
                    "must be at least limits.max_request_body_bytes ({}): an uncompressed body the gateway accepts \
                     is also its decoded body",
                    l.max_request_body_bytes
                ),
            );
        }
        let t = &self.timeouts;
        for (key, value) in [
            ("timeouts.client_header_ms", t.client_header_ms),
            ("timeouts.client_body_ms", t.client_body_ms),
            ("timeouts.client_idle_ms", t.client_idle_ms),
            ("timeouts.upstream_connect_ms", t.upstream_connect_ms),
            ("timeouts.upstream_first_byte_ms", t.upstream_first_byte_ms),
            ("timeouts.upstream_idle_ms", t.upstream_idle_ms),
            ("timeouts.inspection_ms", t.inspection_ms),
        ] {
            if value == 0 {
                issue(key.into(), "must be greater than 0".into());
            }
        }

        // Two listeners on one address: the second bind would fail at start ("Address already in use").
        let admin = self.server.admin_listen.parse::<SocketAddr>().ok();
        let traffic: Vec<(usize, SocketAddr)> = self
            .server
            .listen
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.parse::<SocketAddr>().ok().map(|sa| (i, sa)))
            .collect();
        for (n, (i, a)) in traffic.iter().enumerate() {
            if let Some((j, _)) = traffic[..n].iter().find(|(_, b)| listeners_clash(*a, *b)) {
                issue(
                    format!("server.listen[{i}]"),
                    format!(
                        "`{a}` is also server.listen[{j}]: each listener needs its own address"
                    ),
                );
            }
        }
        if let Some(admin) = admin {
            if let Some((i, _)) = traffic.iter().find(|(_, a)| listeners_clash(admin, *a)) {
                issue(
                    "server.admin_listen".into(),
                    format!("`{admin}` is also server.listen[{i}]: the admin listener needs its own address"),
                );
            }
        }
        if let Some(auditor) = self
            .audit
            .auditor_listen
            .as_deref()
            .and_then(|a| a.parse::<SocketAddr>().ok())
        {
            if let Some((i, _)) = traffic.iter().find(|(_, a)| listeners_clash(auditor, *a)) {
                issue(
                    "audit.auditor_listen".into(),
                    format!("`{auditor}` is also server.listen[{i}]: the auditor listener needs its own address"),
                );
            }
            if admin.is_some_and(|a| listeners_clash(auditor, a)) {
                issue(
                    "audit.auditor_listen".into(),
                    format!("`{auditor}` is also server.admin_listen: the auditor listener needs its own address"),
                );
            }
        }

        let mut names = std::collections::HashSet::new();
        for (i, d) in self.destinations.iter().enumerate() {
            let k = |f: &str| format!("destinations[{i}].{f}");
            if d.name.is_empty()
                || !d
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                issue(
                    k("name"),
                    "must be non-empty and use only A-Z a-z 0-9 - _".into(),
                );
            }
            if !names.insert(d.name.as_str()) {
                issue(
                    k("name"),
                    format!("duplicate destination name `{}`", d.name),
                );
            }
            match d.base_url.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some() =>
                {
                    if uri.query().is_some() {
                        issue(k("base_url"), "must not have a query string".into());
                    }
                    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
                        // Not echoed: the part before `@` is a password.
                        issue(
                            k("base_url"),
                            "must not carry a user name or password (`user:password@host`): the start-up summary \
                             and logs show the destination's address; put the credential in the environment \
                             variable api_key_env names"
                                .into(),
                        );
                    }
                    if d.http2_prior_knowledge && uri.scheme_str() == Some("https") {
                        issue(
                            k("http2_prior_knowledge"),
                            "only applies to http:// destinations (https negotiates HTTP/2 by ALPN)".into(),
                        );
                    }
                }
                _ if d.base_url.contains('@') => issue(
                    k("base_url"),
                    "is not an http(s) URL (not shown: it holds an `@`, perhaps a password)".into(),
                ),
                _ => issue(
                    k("base_url"),
                    format!("`{}` is not an http(s) URL", d.base_url),
                ),
            }
            if d.jurisdiction.len() != 2 || !d.jurisdiction.chars().all(|c| c.is_ascii_uppercase())
            {
                issue(
                    k("jurisdiction"),
                    format!(
                        "`{}` is not an ISO 3166-1 alpha-2 code such as KR or US",
                        d.jurisdiction
                    ),
                );
            }
            if let Some(env) = &d.api_key_env {
                if env.is_empty() || !env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    issue(
                        k("api_key_env"),
                        "must be an environment variable name".into(),
                    );
                }
            }
            if let Some(ca) = &d.ca_bundle {
                if !ca.is_file() {
                    issue(
                        k("ca_bundle"),
                        format!("file {} does not exist", ca.display()),
                    );
                }
            }
        }
        let dest_format = |name: &str| {
            self.destinations
                .iter()
                .find(|d| d.name == name)
                .map(|d| d.format)
        };
        for (key, name) in [
            ("routing.openai", &self.routing.openai),
            ("routing.anthropic", &self.routing.anthropic),
            ("routing.gemini", &self.routing.gemini),
        ] {
            let family = key.trim_start_matches("routing.");
            if name.is_empty() {
                // This API family is not served unless a model route claims the request.
                continue;
            }
            match dest_format(name) {
                None => issue(
                    key.into(),
                    format!("no destination named `{name}` (to forward no {family}-format requests, set {key} = \"\")"),
                ),
                Some(f) if f.as_str() != family => issue(
                    key.into(),
                    format!("destination `{name}` speaks {}, not {family} (translation is not available yet)", f.as_str()),
                ),
                Some(_) => {}
            }
        }
        if self.routing.openai.is_empty()
            && self.routing.anthropic.is_empty()
            && self.routing.gemini.is_empty()
            && self.routing.models.is_empty()
        {
            issue(
                "routing".into(),
                "routing.openai, .anthropic and .gemini are all empty and routing.models has no entry: the gateway would forward nothing".into(),
            );
        }
        for (model, name) in &self.routing.models {
            if dest_format(name).is_none() {
                issue(
                    format!("routing.models.\"{model}\""),
                    format!("no destination named `{name}`"),
                );
            }
            if model.is_empty() || model.trim_end_matches('*').contains('*') {
                issue(
                    format!("routing.models.\"{model}\""),
                    "must be a model name or a prefix ending in a single `*`".into(),
                );
            }
        }
        let mut tenant_names = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if t.name.is_empty() || !tenant_names.insert(t.name.as_str()) {
                issue(
                    format!("tenants[{i}].name"),
                    "must be non-empty and unique".into(),
                );
            }
            if t.key_sha256.is_empty() {
                issue(
                    format!("tenants[{i}].key_sha256"),
                    "at least one key hash is required".into(),
                );
            }
            for (j, h) in t.key_sha256.iter().enumerate() {
                if !is_sha256_hex(h) {
                    issue(
                        format!("tenants[{i}].key_sha256[{j}]"),
                        "must be 64 lower-case hex characters (SHA-256 of the key)".into(),
                    );
                } else if h == EMPTY_KEY_SHA256 {
                    // `echo "$UNSET" | haetae key hash` would otherwise make an empty key a valid credential.
                    issue(
                        format!("tenants[{i}].key_sha256[{j}]"),
                        "is the SHA-256 of an empty key; make a key with `haetae key new`".into(),
                    );
                } else if !hashes.insert(h.as_str()) {
                    issue(
                        format!("tenants[{i}].key_sha256[{j}]"),
                        "the same key is listed twice".into(),
                    );
                }
            }
        }
        let a = &self.audit;
        if a.origin.is_empty() || a.origin.contains(char::is_whitespace) || a.origin.contains('+') {
            issue(
                "audit.origin".into(),
                "must be non-empty, without spaces or `+` (e.g. haetae.example.kr/gw-1)".into(),
            );
        }
        if a.instance.is_empty() {
            issue("audit.instance".into(), "must be non-empty".into());
        }
        if a.checkpoint_interval_ms == 0 {
            issue(
                "audit.checkpoint_interval_ms".into(),
                "must be greater than 0".into(),
            );
        }
        if let Some(addr) = &a.auditor_listen {
            if addr.parse::<SocketAddr>().is_err() {
                issue(
                    "audit.auditor_listen".into(),
                    format!("`{addr}` is not an address like 127.0.0.1:9091"),
                );
            }
            if !a.enabled {
                issue(
                    "audit.auditor_listen".into(),
                    "needs audit.enabled = true".into(),
                );
            }
            if a.auditor_token_sha256.is_empty() {
                issue(
                    "audit.auditor_token_sha256".into(),
                    "the auditor listener needs at least one token hash (it never serves without auth)".into(),
                );
            }
        }
        for (j, h) in a.auditor_token_sha256.iter().enumerate() {
            if !is_sha256_hex(h) {
                issue(
                    format!("audit.auditor_token_sha256[{j}]"),
                    "must be 64 lower-case hex characters (SHA-256 of the token)".into(),
                );
            }
        }
        if a.group_commit_delay_ms.is_some_and(|ms| ms > 1000) {
            issue(
                "audit.group_commit_delay_ms".into(),
                "must be at most 1000 (records wait this long before they are durable)".into(),
            );
        }
        if a.max_batch == 0 {
            issue("audit.max_batch".into(), "must be greater than 0".into());
        }
        if a.rotate_max_bytes != 0 && a.rotate_max_bytes < 1 << 20 {
            issue(
                "audit.rotate_max_bytes".into(),
                "must be 0 (no size rotation) or at least 1048576 (1 MiB)".into(),
            );
        }
        if a.max_journal_bytes != 0
            && a.rotate_max_bytes != 0
            && a.max_journal_bytes <= a.rotate_max_bytes
        {
            issue(
                "audit.max_journal_bytes".into(),
                "must be greater than audit.rotate_max_bytes (or 0): the log would stop before it rotates".into(),
            );
        }
        if a.rotate_max_age_hours > 24 * 366 * 10 {
            issue(
                "audit.rotate_max_age_hours".into(),
                "must be at most 87840 (10 years); 0 turns time rotation off".into(),
            );
        }
        if a.retention_days == 0 {
            issue(
                "audit.retention_days".into(),
                "must be at least 1 (PIPA safety measures ask ≥ 365, ≥ 730 for unique identifiers)"
                    .into(),
            );
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(issues))
        }
    }
}

/// Whether `h` is a lower-case hex SHA-256 digest (how key and token hashes are stored).
/// SHA-256 of the empty string: never a valid gateway key hash.
const EMPTY_KEY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn is_sha256_hex(h: &str) -> bool {
    h.len() == 64
        && h.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

fn describe_path_error<E: fmt::Display>(e: &serde_path_to_error::Error<E>) -> String {
    let path = e.path().to_string();
    if path == "." || path.is_empty() {
        e.inner().to_string()
    } else {
        format!("key `{path}`: {}", e.inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_loopback_only() {
        let s = Settings::load(None, env(&[])).unwrap();
        assert_eq!(s, Settings::default());
        for addr in &s.server.listen {
            assert!(addr.parse::<SocketAddr>().unwrap().ip().is_loopback());
        }
        assert!(s
            .server
            .admin_listen
            .parse::<SocketAddr>()
            .unwrap()
            .ip()
            .is_loopback());
        let domestic = s
            .destinations
            .iter()
            .find(|d| d.jurisdiction == "KR")
            .unwrap();
        assert_eq!(domestic.base_url, "http://127.0.0.1:8000/v1");
    }

    #[test]
    fn documented_example_is_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/haetae.toml");
        let s = Settings::load(Some(&path), env(&[])).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn file_then_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haetae.toml");
        std::fs::write(
            &path,
            "[limits]\nmax_request_body_bytes = 1000\n[server]\nlisten = [\"127.0.0.1:1\"]\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&path),
            env(&[
                ("HAETAE_LIMITS__MAX_REQUEST_BODY_BYTES", "2000"),
                ("HAETAE_CONFIG", "ignored"),
                ("HAETAE_AUDIT_SIGNING_KEY", "ignored by serve"),
                ("HAETAE_DETECT_PORTABLE", "1"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.limits.max_request_body_bytes, 2000);
        assert_eq!(s.server.listen, vec!["127.0.0.1:1".to_owned()]);
        // untouched keys keep their defaults
        assert_eq!(
            s.limits.max_header_bytes,
            LimitSettings::default().max_header_bytes
        );
    }

    #[test]
    fn unknown_key_in_file_names_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[limits]\nmax_body = 5\n").unwrap();
        let err = Settings::load(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains("max_body"), "{err}");
        assert!(err.contains("limits"), "{err}");
    }

    #[test]
    fn unknown_env_key_is_an_error() {
        let err = Settings::load(None, env(&[("HAETAE_LIMITS__MAX_BODY", "5")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_body"), "{err}");
        assert!(err.contains("HAETAE_LIMITS__MAX_BODY"), "{err}");
    }

    #[test]
    fn a_one_provider_gateway_turns_the_other_families_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.toml");
        let one = "[[destinations]]\nname = \"vllm\"\nformat = \"openai\"\nbase_url = \"http://127.0.0.1:8000/v1\"\njurisdiction = \"KR\"\n";
        std::fs::write(&path, format!("[routing]\nopenai = \"vllm\"\n{one}")).unwrap();
        // Unchanged defaults name destinations the file no longer declares; the error says how to turn them off.
        let err = Settings::load(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("routing.anthropic: no destination named `anthropic` (to forward no anthropic-format requests, set routing.anthropic = \"\")"),
            "{err}"
        );
        std::fs::write(
            &path,
            format!("[routing]\nopenai = \"vllm\"\nanthropic = \"\"\ngemini = \"\"\n{one}"),
        )
        .unwrap();
        let s = Settings::load(Some(&path), env(&[])).unwrap();
        assert_eq!(s.destinations.len(), 1);
        assert!(s.routing.anthropic.is_empty());
        // Nothing served at all is refused.
        std::fs::write(
            &path,
            format!("[routing]\nopenai = \"\"\nanthropic = \"\"\ngemini = \"\"\n{one}"),
        )
        .unwrap();
        let err = Settings::load(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("would forward nothing"), "{err}");
    }

    #[test]
    fn a_password_in_a_base_url_is_refused_without_being_repeated() {
        for url in [
            "http://admin:S3cretPw2024@10.0.0.5:8000/v1",
            "ht tp://admin:S3cretPw2024@x",
        ] {
            let mut s = Settings::default();
            s.destinations[3].base_url = url.into();
            let ConfigError::Invalid(issues) = s.validate().unwrap_err() else {
                panic!("not a validation error")
            };
            let text = format!("{issues:?}");
            assert!(text.contains("destinations[3].base_url"), "{text}");
            assert!(!text.contains("S3cretPw2024"), "{text}");
        }
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut s = Settings::default();
        s.server.listen = vec!["nope".into()];
        s.limits.max_concurrent_requests = 0;
        s.destinations[0].jurisdiction = "usa".into();
        s.routing.anthropic = "missing".into();
        s.tenants.push(TenantSettings {
            name: "t".into(),
            key_sha256: vec!["ABC".into()],
        });
        let ConfigError::Invalid(issues) = s.validate().unwrap_err() else {
            panic!("expected Invalid")
        };
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert!(keys.contains(&"server.listen[0]"), "{keys:?}");
        assert!(keys.contains(&"limits.max_concurrent_requests"), "{keys:?}");
        assert!(keys.contains(&"destinations[0].jurisdiction"), "{keys:?}");
        assert!(keys.contains(&"routing.anthropic"), "{keys:?}");
        assert!(keys.contains(&"tenants[0].key_sha256[0]"), "{keys:?}");
    }

    #[test]
    fn the_hash_of_an_empty_key_is_refused() {
        let mut s = Settings::default();
        s.tenants.push(TenantSettings {
            name: "ops".into(),
            key_sha256: vec![EMPTY_KEY_SHA256.into()],
        });
        let ConfigError::Invalid(issues) = s.validate().unwrap_err() else {
            panic!("expected Invalid")
        };
        assert!(
            issues
                .iter()
                .any(|i| i.key == "tenants[0].key_sha256[0]" && i.message.contains("empty key")),
            "{issues:?}"
        );
        assert_eq!(
            crate::proxy::auth::key_hash_hex(""),
            EMPTY_KEY_SHA256,
            "the constant is the SHA-256 of the empty string"
        );
    }

    #[test]
    fn listeners_sharing_an_address_are_refused() {
        let mut s = Settings::default();
        s.server.listen = vec!["127.0.0.1:8080".into(), "127.0.0.1:8080".into()];
        s.server.admin_listen = "127.0.0.1:8080".into();
        s.limits.max_sse_event_bytes = 100;
        let ConfigError::Invalid(issues) = s.validate().unwrap_err() else {
            panic!("expected Invalid")
        };
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "limits.max_sse_event_bytes",
                "server.listen[1]",
                "server.admin_listen"
            ],
            "{issues:?}"
        );
        assert!(listeners_clash(
            "0.0.0.0:9090".parse().unwrap(),
            "127.0.0.1:9090".parse().unwrap()
        ));
        assert!(!listeners_clash(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap()
        ));
        assert!(!listeners_clash(
            "127.0.0.1:9090".parse().unwrap(),
            "127.0.0.2:9090".parse().unwrap()
        ));
        // `[::]` takes the port on IPv4 addresses too where it is dual-stack (Linux's default), not otherwise.
        let (any6, any4, lo4, lo6): (SocketAddr, SocketAddr, SocketAddr, SocketAddr) = (
            "[::]:9090".parse().unwrap(),
            "0.0.0.0:9090".parse().unwrap(),
            "127.0.0.1:9090".parse().unwrap(),
            "[::1]:9090".parse().unwrap(),
        );
        for other in [any4, lo4, lo6] {
            assert!(listeners_clash_with(any6, other, true), "{other}");
            assert!(listeners_clash_with(other, any6, true), "{other}");
        }
        assert!(!listeners_clash_with(any6, any4, false));
        assert!(!listeners_clash_with(lo4, any6, false));
        assert!(listeners_clash_with(lo6, any6, false));
        assert!(!listeners_clash_with(lo6, lo4, true));
    }

    #[test]
    fn non_loopback_listener_without_tenants_needs_explicit_opt_in() {
        for open in ["0.0.0.0:8081", "[::]:8081", "10.1.2.3:8081"] {
            let mut s = Settings::default();
            // (another port: 0.0.0.0:8080 could not be bound next to 127.0.0.1:8080, a clash of its own)
            s.server.listen = vec!["127.0.0.1:8080".into(), open.into()];
            let ConfigError::Invalid(issues) = s.validate().unwrap_err() else {
                panic!("expected Invalid")
            };
            assert_eq!(issues.len(), 1, "{issues:?}");
            assert_eq!(issues[0].key, "server.listen[1]");
            assert!(
                issues[0]
                    .message
                    .contains("server.allow_unauthenticated = true"),
                "{}",
                issues[0].message
            );
            // With a tenant, authentication is on: fine.
            s.tenants.push(TenantSettings {
                name: "t".into(),
                key_sha256: vec!["a".repeat(64)],
            });
            s.validate().unwrap();
            // Without tenants but with the explicit opt-in: fine.
            s.tenants.clear();
            s.server.allow_unauthenticated = true;
            s.validate().unwrap();
        }
        // Loopback in every spelling needs no opt-in.
        let mut s = Settings::default();
        s.server.listen = vec![
            "127.0.0.1:1".into(),
            "127.9.9.9:2".into(),
            "[::1]:3".into(),
            "[::ffff:127.0.0.1]:4".into(),
        ];
        s.validate().unwrap();
        // The opt-in also works from the environment.
        let err = Settings::load(None, env(&[("HAETAE_SERVER__LISTEN", "0.0.0.0:8080")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listen[0]"), "{err}");
        assert!(err.contains("server.allow_unauthenticated"), "{err}");
        let s = Settings::load(
            None,
            env(&[
                ("HAETAE_SERVER__LISTEN", "0.0.0.0:8080"),
                ("HAETAE_SERVER__ALLOW_UNAUTHENTICATED", "true"),
            ]),
        )
        .unwrap();
        assert!(s.server.allow_unauthenticated);
    }

    #[test]
    fn every_scalar_list_can_be_set_from_the_environment() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let tokens = format!("{a},{b}");
        let s = Settings::load(
            None,
            env(&[
                ("HAETAE_SERVER__LISTEN", "127.0.0.1:1,127.0.0.1:2"),
                ("HAETAE_AUDIT__AUDITOR_TOKEN_SHA256", tokens.as_str()),
                ("HAETAE_POLICY__FILE", "policies/main.toml"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.listen, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(s.audit.auditor_token_sha256, [a, b]);
        assert_eq!(
            s.policy.file.as_deref(),
            Some(Path::new("policies/main.toml"))
        );
    }

    #[test]
    fn audit_rotation_and_retention_are_validated() {
        let d = Settings::default().audit;
        assert_eq!(
            (d.rotate_max_bytes, d.rotate_max_age_hours, d.retention_days),
            (1 << 30, 168, 730)
        );
        let mut s = Settings::default();
        s.audit.rotate_max_bytes = 1000;
        s.audit.retention_days = 0;
        s.audit.rotate_max_age_hours = 1_000_000;
        let ConfigError::Invalid(issues) = s.validate().unwrap_err() else {
            panic!("expected Invalid")
        };
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert!(keys.contains(&"audit.rotate_max_bytes"), "{keys:?}");
        assert!(keys.contains(&"audit.retention_days"), "{keys:?}");
        assert!(keys.contains(&"audit.rotate_max_age_hours"), "{keys:?}");
        let mut s = Settings::default();
        s.audit.max_journal_bytes = 1 << 29;
        let ConfigError::Invalid(issues) = s.validate().unwrap_err() else {
            panic!("expected Invalid")
        };
        assert_eq!(issues[0].key, "audit.max_journal_bytes");
        // Both rotations off, or a journal limit above the rotation size, are fine.
        s.audit.max_journal_bytes = 2 << 30;
        s.validate().unwrap();
        s.audit.rotate_max_bytes = 0;
        s.audit.rotate_max_age_hours = 0;
        s.audit.max_journal_bytes = 1000;
        s.validate().unwrap();
    }

    #[test]
    fn destinations_from_file_replace_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.toml");
        std::fs::write(
            &path,
            r#"
[routing]
openai = "vllm"
anthropic = "claude"
gemini = "g"
[routing.models]
"exaone*" = "vllm"

[[destinations]]
name = "vllm"
format = "openai"
base_url = "http://10.0.0.5:8000/v1"
jurisdiction = "KR"
[destinations.model_map]
"gpt-4o" = "LGAI-EXAONE/EXAONE-3.5-7.8B-Instruct"

[[destinations]]
name = "claude"
format = "anthropic"
base_url = "https://api.anthropic.com"
jurisdiction = "US"
api_key_env = "ANTHROPIC_API_KEY"

[[destinations]]
name = "g"
format = "gemini"
base_url = "https://generativelanguage.googleapis.com"
jurisdiction = "US"
"#,
        )
        .unwrap();
        let s = Settings::load(Some(&path), env(&[])).unwrap();
        assert_eq!(s.destinations.len(), 3);
        assert_eq!(s.destinations[0].model_map.len(), 1);
        assert_eq!(
            s.routing.models.get("exaone*").map(String::as_str),
            Some("vllm")
        );
    }
}
