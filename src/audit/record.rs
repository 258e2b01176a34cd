//! Residency records (the log's leaves), their canonical JSON encoding, and keyed content digests.
//!
//! A leaf is canonical JSON in the RFC 8785 style: object keys sorted (by UTF-16 code units), no insignificant
//! whitespace, integers only. The same record always yields the same bytes, so a JSONL export line hashes to its leaf.
//! Must never: carry raw request/response content or client identities; only counts, names, and keyed digests.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::AuditError;

/// Current leaf schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// One leaf of the residency log: envelope fields stamped by the writer plus the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLeaf {
    /// Schema version.
    pub v: u32,
    /// Log-local sequence number (= leaf index).
    pub seq: u64,
    /// UTC time the writer committed the entry (RFC 3339, milliseconds).
    pub time: String,
    /// Gateway instance id.
    pub instance: String,
    /// The entry.
    #[serde(flatten)]
    pub entry: Entry,
}

/// What a leaf records.
// Entries are built once and moved into the writer queue boxed; boxing the big variant would only cost callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The outcome of one proxied request.
    Request(ResidencyRecord),
    /// A policy snapshot was installed.
    PolicyChange(ChangeRecord),
    /// Gateway configuration changed (destinations, keys, limits).
    ConfigChange(ChangeRecord),
    /// The first leaf of shard k ≥ 1: names the previous shard's final (sealed) checkpoint, chaining the shards so
    /// that deleting, swapping or truncating a whole shard is detected. Written by the log itself only.
    ShardStart(ShardLink),
}

impl Entry {
    /// The request record, if this is one.
    pub fn as_request(&self) -> Option<&ResidencyRecord> {
        match self {
            Entry::Request(r) => Some(r),
            _ => None,
        }
    }
}

/// Where a request was sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DestinationInfo {
    /// Configured destination name.
    pub name: String,
    /// Jurisdiction (ISO 3166-1 alpha-2 country, e.g. `KR`, `US`).
    pub jurisdiction: String,
    /// Provider region, when known (e.g. `ap-northeast-2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Upstream host name (no path, no credentials).
    pub upstream_host: String,
}

/// Token usage as reported by the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Input (prompt) tokens.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
}

/// The residency record of one request outcome. Contains no content: counts, names and keyed digests only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResidencyRecord {
    /// Request id (also returned to the client).
    pub request_id: String,
    /// Tenant the request was authenticated as.
    pub tenant: String,
    /// Keyed pseudonym of the client identity ([`DigestKey::client_pseudonym`]).
    pub client: String,
    /// Endpoint path (e.g. `/v1/chat/completions`).
    pub endpoint: String,
    /// Wire format (`openai`, `anthropic`, `gemini`).
    pub wire_format: String,
    /// Model the client asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_model: Option<String>,
    /// Model actually served (after mapping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_model: Option<String>,
    /// Hash of the policy snapshot that decided.
    pub policy_hash: String,
    /// Classification level of the request (e.g. `public`, `personal`, `sensitive`, `secret`).
    pub classification: String,
    /// Findings per entity type (entity → count). Never values.
    pub findings: BTreeMap<String, u64>,
    /// The inspection stopped before the end of the request (`timeouts.inspection_ms`), which was therefore refused:
    /// `findings` are those found up to then, a lower bound, not "nothing else was there".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub findings_incomplete: bool,
    /// Parts of the request the detection engine cannot read, per kind (`image`, `audio`, `file`, `document`,
    /// `inline_data`, `token_array`, `signed`, `unknown`): whatever they hold went to `destination` uninspected.
    /// Absent when there were none (and in records written before it existed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uninspected: BTreeMap<String, u64>,
    /// Actions taken per action kind (e.g. `mask` → 3, `pseudonymise` → 1, `block` → 1).
    pub actions: BTreeMap<String, u64>,
    /// Destination, absent when the request was blocked before routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<DestinationInfo>,
    /// Legal basis configured for transfers to this destination (e.g. `pipa-28-8-1-consent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_basis: Option<String>,
    /// Why the gateway chose `destination`: `default` (the API family's default destination), `model:<pattern>`
    /// (a configured model route; the pattern, never the client's model name) or `stored-response` (where the
    /// stored object the request is about was created). Absent without a destination and in records written by
    /// versions before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Outcome (`forwarded`, `blocked`, `upstream_error`, `client_cancelled`, `refused`; `not_delivered`: routed,
    /// but no connection to the destination was made, so nothing left; `sent_no_response`: the request was or may
    /// have been written to the destination, but no response was passed on — first-byte timeout, failure after
    /// connecting. Versions before these two wrote `refused`, with the destination, for both).
    pub outcome: String,
    /// HTTP status returned to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// End-to-end latency in milliseconds.
    pub latency_ms: u64,
    /// Token usage when the provider reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    /// Keyed digest of the forwarded request body ([`ContentDigester`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_digest: Option<String>,
    /// Keyed digest of the response body as returned to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_digest: Option<String>,
}

/// A policy or configuration change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// What changed (policy name, config section).
    pub subject: String,
    /// Hash of the previous version, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_hash: Option<String>,
    /// Hash of the new version.
    pub new_hash: String,
    /// Who or what triggered it (operator pseudonym, `file-watch`, `admin-api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Short description (no content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// The chaining record of a shard: which shard this is and the final checkpoint of the one before it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShardLink {
    /// This shard's number (≥ 1).
    pub shard: u64,
    /// Origin line of the previous shard's final checkpoint.
    pub previous_origin: String,
    /// Tree size of the previous shard's final checkpoint.
    pub previous_size: u64,
    /// Root hash (base64) of the previous shard's final checkpoint.
    pub previous_root: String,
    /// **Legacy, never written any more**: the time of the previous shard's *last* leaf, as chain records written
    /// by haetae versions between the introduction of this field and `previous_max_time` stated it. With a clock
    /// that stepped back during that shard the last leaf is not the newest record, so this time cannot prove the
    /// previous shard's pruning: `prune` keeps a shard whose successor states only this, and `verify` refuses a
    /// `pruned` marker backed only by it. For a shard whose data is still there, `verify` checks it against the
    /// last leaf (it is what the older writer meant), so such logs still verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_newest_time: Option<String>,
    /// The latest `time` of any record of the previous shard (the maximum, not the last leaf's: a clock that
    /// steps back must not make a shard look older than it is); `None` for an empty previous shard and in chain
    /// records written by older versions. Signed with this shard, it is what proves that the previous shard may be
    /// pruned: `prune` requires it to equal the maximum it verified, and `verify` compares a `pruned` marker's
    /// claim with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_max_time: Option<String>,
}

impl ShardLink {
    /// Whether this chain record names the final checkpoint `want` describes (shard, origin, size, root). Each
    /// time (`previous_newest_time`: the last leaf's, `previous_max_time`: the maximum) is compared when both
    /// carry it: a caller that did not read the previous shard leaves them `None`, and a record written before a
    /// field existed lacks it.
    pub fn names(&self, want: &ShardLink) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| a.is_none() || b.is_none() || a == b;
        self.shard == want.shard
            && self.previous_origin == want.previous_origin
            && self.previous_size == want.previous_size
            && self.previous_root == want.previous_root
            && same(&self.previous_newest_time, &want.previous_newest_time)
            && same(&self.previous_max_time, &want.previous_max_time)
    }
}

/// Serialize any value as canonical JSON (sorted keys, no whitespace, integers only).
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, AuditError> {
    let v = serde_json::to_value(value).map_err(|e| AuditError::Record(e.to_string()))?;
    let mut out = Vec::with_capacity(512);
    write_canonical(&v, &mut out)?;
    Ok(out)
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Result<(), AuditError> {
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => {
            serde_json::to_writer(&mut *out, v).map_err(|e| AuditError::Record(e.to_string()))?;
        }
        Value::Number(n) => {
            if n.is_f64() {
                return Err(AuditError::Record(
                    "non-integer numbers are not allowed in leaves".into(),
                ));
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)
                    .map_err(|e| AuditError::Record(e.to_string()))?;
                out.push(b':');
                if let Some(val) = map.get(k) {
                    write_canonical(val, out)?;
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// An entry already encoded as canonical top-level fields, so the writer thread only has to splice in the
/// envelope (`instance`, `seq`, `time`, `v`): the expensive serialization runs on the caller's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedEntry {
    /// The entry's fields in canonical order, each as `,"key":value` (so every piece starts with a comma).
    body: Vec<u8>,
    /// Where each envelope field (`instance`, `seq`, `time`, `v`, in that order) goes in `body`.
    cuts: [usize; 4],
}

/// The envelope keys the writer splices in, in canonical (UTF-16) order, as `,"key":`.
const ENVELOPE: [(&str, &[u8]); 4] = [
    ("instance", b",\"instance\":"),
    ("seq", b",\"seq\":"),
    ("time", b",\"time\":"),
    ("v", b",\"v\":"),
];

/// Canonical encoder for our own record types, written field by field (no intermediate `Value`): this runs once
/// per request on the hot path. `prepared_entry_matches_canonical_leaf` and the proptest in `tests/audit_log.rs`
/// pin it to the generic serde-based [`to_canonical_json`].
struct Fields(Vec<(&'static str, Vec<u8>)>);

impl Fields {
    fn str(&mut self, k: &'static str, v: &str) {
        let mut out = Vec::with_capacity(v.len() + 2);
        push_str(&mut out, v);
        self.0.push((k, out));
    }

    fn opt_str(&mut self, k: &'static str, v: Option<&String>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    fn num(&mut self, k: &'static str, v: u64) {
        self.0.push((k, v.to_string().into_bytes()));
    }

    fn counts(&mut self, k: &'static str, m: &BTreeMap<String, u64>) {
        let mut keys: Vec<(&String, &u64)> = m.iter().collect();
        keys.sort_by(|a, b| utf16_cmp(a.0, b.0));
        let mut out = vec![b'{'];
        for (i, (key, v)) in keys.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(&mut out, key);
            out.push(b':');
            out.extend_from_slice(v.to_string().as_bytes());
        }
        out.push(b'}');
        self.0.push((k, out));
    }

    fn object(&mut self, k: &'static str, inner: Fields) {
        self.0.push((k, inner.finish_object()));
    }

    fn sorted(mut self) -> Vec<(&'static str, Vec<u8>)> {
        self.0.sort_by(|a, b| utf16_cmp(a.0, b.0));
        self.0
    }

    fn finish_object(self) -> Vec<u8> {
        let mut out = vec![b'{'];
        for (i, (k, v)) in self.sorted().into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(&mut out, k);
            out.push(b':');
            out.extend_from_slice(&v);
        }
        out.push(b'}');
        out
    }
}

/// A JSON string with serde_json's (and RFC 8785's) escaping: quote, backslash, short escapes for backspace,
/// form feed, newline, carriage return and tab, `\u00xx` for other control characters, everything else literal.
fn push_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Bytes that need no escape are copied in runs (one copy per run, not one push per byte: a record carries a
    // few kilobytes of ids, paths and digests per request).
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let control;
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                control = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ];
                &control
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(escaped);
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

impl PreparedEntry {
    /// Encode an entry's fields canonically.
    pub fn new(entry: &Entry) -> Result<Self, AuditError> {
        let mut f = Fields(Vec::with_capacity(20));
        match entry {
            Entry::Request(r) => {
                f.str("kind", "request");
                f.str("request_id", &r.request_id);
                f.str("tenant", &r.tenant);
                f.str("client", &r.client);
                f.str("endpoint", &r.endpoint);
                f.str("wire_format", &r.wire_format);
                f.opt_str("requested_model", r.requested_model.as_ref());
                f.opt_str("served_model", r.served_model.as_ref());
                f.str("policy_hash", &r.policy_hash);
                f.str("classification", &r.classification);
                f.counts("findings", &r.findings);
                if r.findings_incomplete {
                    f.0.push(("findings_incomplete", b"true".to_vec()));
                }
                if !r.uninspected.is_empty() {
                    f.counts("uninspected", &r.uninspected);
                }
                f.counts("actions", &r.actions);
                if let Some(d) = &r.destination {
                    let mut inner = Fields(Vec::with_capacity(4));
                    inner.str("name", &d.name);
                    inner.str("jurisdiction", &d.jurisdiction);
                    inner.opt_str("region", d.region.as_ref());
                    inner.str("upstream_host", &d.upstream_host);
                    f.object("destination", inner);
                }
                f.opt_str("transfer_basis", r.transfer_basis.as_ref());
                f.opt_str("route", r.route.as_ref());
                f.str("outcome", &r.outcome);
                if let Some(st) = r.status {
                    f.num("status", u64::from(st));
                }
                f.num("latency_ms", r.latency_ms);
                if let Some(u) = r.usage {
                    let mut inner = Fields(Vec::with_capacity(2));
                    inner.num("input_tokens", u.input_tokens);
                    inner.num("output_tokens", u.output_tokens);
                    f.object("usage", inner);
                }
                f.opt_str("request_digest", r.request_digest.as_ref());
                f.opt_str("response_digest", r.response_digest.as_ref());
            }
            Entry::PolicyChange(c) | Entry::ConfigChange(c) => {
                f.str(
                    "kind",
                    if matches!(entry, Entry::PolicyChange(_)) {
                        "policy_change"
                    } else {
                        "config_change"
                    },
                );
                f.str("subject", &c.subject);
                f.opt_str("previous_hash", c.previous_hash.as_ref());
                f.str("new_hash", &c.new_hash);
                f.opt_str("actor", c.actor.as_ref());
                f.opt_str("summary", c.summary.as_ref());
            }
            Entry::ShardStart(l) => {
                f.str("kind", "shard_start");
                f.num("shard", l.shard);
                f.str("previous_origin", &l.previous_origin);
                f.num("previous_size", l.previous_size);
                f.str("previous_root", &l.previous_root);
                f.opt_str("previous_newest_time", l.previous_newest_time.as_ref());
                f.opt_str("previous_max_time", l.previous_max_time.as_ref());
            }
        }
        let fields = f.sorted();
        let mut body = Vec::with_capacity(
            fields
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>(),
        );
        let mut cuts = [0usize; 4];
        let mut env = 0;
        for (k, v) in &fields {
            // An envelope key goes before the first field that sorts after it.
            while env < ENVELOPE.len() && utf16_cmp(ENVELOPE[env].0, k).is_lt() {
                cuts[env] = body.len();
                env += 1;
            }
            body.push(b',');
            push_str(&mut body, k);
            body.push(b':');
            body.extend_from_slice(v);
        }
        for cut in cuts.iter_mut().skip(env) {
            *cut = body.len();
        }
        Ok(Self { body, cuts })
    }

    /// The canonical leaf bytes, identical to `to_canonical_json(&LogLeaf { v, seq, time, instance, entry })`.
    pub fn finish(
        &self,
        v: u32,
        seq: u64,
        time: &str,
        instance: &str,
    ) -> Result<Vec<u8>, AuditError> {
        let mut out = Vec::with_capacity(self.body.len() + instance.len() + time.len() + 64);
        self.finish_into(v, seq, time, instance, &mut out);
        Ok(out)
    }

    /// Like [`Self::finish`], appending the leaf bytes to `out` (the writer encodes straight into its journal
    /// buffer: no allocation per record).
    pub fn finish_into(&self, v: u32, seq: u64, time: &str, instance: &str, out: &mut Vec<u8>) {
        use std::io::Write as _;
        let start = out.len();
        let mut prev = 0;
        for (j, ((_, key), &cut)) in ENVELOPE.iter().zip(&self.cuts).enumerate() {
            out.extend_from_slice(self.body.get(prev..cut).unwrap_or_default());
            out.extend_from_slice(key);
            // Writing into a Vec cannot fail.
            let _ = match j {
                0 => {
                    push_str(out, instance);
                    Ok(())
                }
                1 => write!(out, "{seq}"),
                2 => {
                    push_str(out, time);
                    Ok(())
                }
                _ => write!(out, "{v}"),
            };
            prev = cut;
        }
        out.extend_from_slice(self.body.get(prev..).unwrap_or_default());
        // Every piece starts with a comma; the first one becomes the opening brace.
        if let Some(first) = out.get_mut(start) {
            *first = b'{';
        }
        out.push(b'}');
    }
}

/// The part of a leaf that verification needs cheaply: its sequence number (top-level field only).
#[derive(Debug, Deserialize)]
struct LeafSeq {
    seq: u64,
}

/// Read just the top-level `seq` of a leaf (fast path for verification; other fields are skipped).
pub fn leaf_seq(bytes: &[u8]) -> Result<u64, AuditError> {
    serde_json::from_slice::<LeafSeq>(bytes)
        .map(|l| l.seq)
        .map_err(|e| AuditError::Record(format!("leaf is not a valid record: {e}")))
}

/// The parts of a leaf that verification and replay need cheaply: `seq` and `time` (top-level fields only).
#[derive(Debug, Deserialize)]
struct LeafSeqTime {
    seq: u64,
    time: String,
}

/// Read just the top-level `seq` and `time` of a leaf (other fields are skipped, as in [`leaf_seq`]).
pub fn leaf_seq_time(bytes: &[u8]) -> Result<(u64, String), AuditError> {
    serde_json::from_slice::<LeafSeqTime>(bytes)
        .map(|l| (l.seq, l.time))
        .map_err(|e| AuditError::Record(format!("leaf is not a valid record: {e}")))
}

/// Parse a leaf without checking canonical form (for export and reports over verified logs).
///
/// Faster than deriving through `#[serde(flatten)]`: parse once into a `Value`, then deserialize the record struct
/// chosen by `kind` from it by reference (unknown keys such as the envelope are ignored there).
pub fn parse_leaf_lenient(bytes: &[u8]) -> Result<LogLeaf, AuditError> {
    let bad = |why: String| AuditError::Record(format!("leaf is not a valid record: {why}"));
    let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| bad("not an object".into()))?;
    let num = |k: &str| {
        obj.get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(format!("missing integer {k:?}")))
    };
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("missing string {k:?}")))
    };
    let v = u32::try_from(num("v")?).map_err(|_| bad("v out of range".into()))?;
    let entry = match obj.get("kind").and_then(Value::as_str) {
        Some("request") => {
            Entry::Request(ResidencyRecord::deserialize(&value).map_err(|e| bad(e.to_string()))?)
        }
        Some("policy_change") => {
            Entry::PolicyChange(ChangeRecord::deserialize(&value).map_err(|e| bad(e.to_string()))?)
        }
        Some("config_change") => {
            Entry::ConfigChange(ChangeRecord::deserialize(&value).map_err(|e| bad(e.to_string()))?)
        }
        Some("shard_start") => {
            Entry::ShardStart(ShardLink::deserialize(&value).map_err(|e| bad(e.to_string()))?)
        }
        Some(other) => return Err(bad(format!("unknown kind {other:?}"))),
        None => return Err(bad("missing kind".into())),
    };
    Ok(LogLeaf {
        v,
        seq: num("seq")?,
        time: text("time")?,
        instance: text("instance")?,
        entry,
    })
}

/// Parse a leaf and check that its bytes are exactly the canonical encoding (no unknown fields, sorted keys).
pub fn parse_leaf(bytes: &[u8]) -> Result<LogLeaf, AuditError> {
    let leaf = parse_leaf_lenient(bytes)?;
    if PreparedEntry::new(&leaf.entry)?.finish(leaf.v, leaf.seq, &leaf.time, &leaf.instance)?
        != bytes
    {
        return Err(AuditError::Record("leaf is not in canonical form".into()));
    }
    Ok(leaf)
}

type HmacSha256 = Hmac<Sha256>;

/// Keys derived from the deployment secret for content digests and client pseudonyms.
///
/// An auditor who holds the secret can recompute a digest to confirm that some content was (or was not) what
/// passed through; without it, the log reveals nothing about content or identities.
#[derive(Clone)]
pub struct DigestKey {
    content: HmacSha256,
    client: HmacSha256,
}

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(..)")
    }
}

fn keyed(key: &[u8]) -> Result<HmacSha256, AuditError> {
    <HmacSha256 as Mac>::new_from_slice(key).map_err(|_| AuditError::Key("invalid HMAC key".into()))
}

fn derive(secret: &[u8], label: &[u8]) -> Result<HmacSha256, AuditError> {
    let mut m = keyed(secret)?;
    m.update(label);
    keyed(&m.finalize().into_bytes())
}

impl DigestKey {
    /// Derive the digest keys from a deployment secret (at least 16 bytes).
    pub fn from_secret(secret: &[u8]) -> Result<Self, AuditError> {
        if secret.len() < 16 {
            return Err(AuditError::Key(
                "deployment secret must be at least 16 bytes".into(),
            ));
        }
        Ok(Self {
            content: derive(secret, b"haetae/audit/content-digest/v1")?,
            client: derive(secret, b"haetae/audit/client-pseudonym/v1")?,
        })
    }

    /// Start an incremental digest over a (possibly streamed) body.
    pub fn digester(&self) -> ContentDigester {
        ContentDigester {
            mac: self.content.clone(),
            bytes: 0,
        }
    }

    /// Digest a complete body at once.
    pub fn digest(&self, body: &[u8]) -> String {
        let mut d = self.digester();
        d.update(body);
        d.finalize()
    }

    /// Keyed pseudonym of a client identity (gateway key id, mTLS subject): `hmac-sha256:<hex>`, truncated to 128 bits.
    pub fn client_pseudonym(&self, identity: &str) -> String {
        let mut m = self.client.clone();
        m.update(identity.as_bytes());
        let out = m.finalize().into_bytes();
        format!("hmac-sha256:{}", hex::encode(&out[..16]))
    }
}

/// Incremental HMAC-SHA256 over a streamed body: `update` per chunk, `finalize` at end of stream.
#[derive(Clone)]
pub struct ContentDigester {
    mac: HmacSha256,
    bytes: u64,
}

impl std::fmt::Debug for ContentDigester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentDigester")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl ContentDigester {
    /// Feed one chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.mac.update(chunk);
        self.bytes += chunk.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    /// Whether nothing has been fed.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The digest: `hmac-sha256:<64 hex>`.
    pub fn finalize(self) -> String {
        format!(
            "hmac-sha256:{}",
            hex::encode(self.mac.finalize().into_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ASCII byte, alone, between others and at both ends, and non-ASCII text: escaped as serde_json does.
    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let mut cases: Vec<String> = (0u8..0x80)
            .map(char::from)
            .flat_map(|c| [c.to_string(), format!("ab{c}cd"), format!("{c}{c}x{c}")])
            .collect();
        cases.push("주민번호 \"850314\"\u{7f}\u{1f}\\é".to_owned());
        cases.push(String::new());
        for s in cases {
            let mut out = Vec::new();
            push_str(&mut out, &s);
            assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn canonical_json_sorts_keys_and_has_no_whitespace() {
        let v = serde_json::json!({"b": 1, "a": [true, null, "x\u{1}\n\u{00e9}"], "\u{00e9}": {"z": 0, "y": -3}});
        let out = String::from_utf8(to_canonical_json(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"a\":[true,null,\"x\\u0001\\n\u{00e9}\"],\"b\":1,\"\u{00e9}\":{\"y\":-3,\"z\":0}}"
        );
        assert!(to_canonical_json(&serde_json::json!({"f": 1.5})).is_err());
    }

    #[test]
    fn prepared_entry_matches_canonical_leaf() {
        let mut r = ResidencyRecord {
            request_id: "r-1".into(),
            outcome: "forwarded".into(),
            ..Default::default()
        };
        r.findings.insert("kr_rrn".into(), 2);
        r.findings.insert("seq".into(), 1);
        r.destination = Some(DestinationInfo {
            name: "x".into(),
            jurisdiction: "KR".into(),
            ..Default::default()
        });
        r.route = Some("model:exaone*".into());
        let mut incomplete = r.clone();
        incomplete.findings_incomplete = true;
        incomplete.uninspected.insert("image".into(), 2);
        incomplete.uninspected.insert("file".into(), 1);
        for entry in [
            Entry::Request(incomplete),
            Entry::Request(r),
            Entry::PolicyChange(ChangeRecord {
                subject: "p".into(),
                ..Default::default()
            }),
        ] {
            let leaf = LogLeaf {
                v: 1,
                seq: 42,
                time: "2026-11-28T01:02:03.004Z".into(),
                instance: "gw\"1".into(),
                entry,
            };
            let prepared = PreparedEntry::new(&leaf.entry).unwrap();
            let bytes = prepared.finish(1, 42, &leaf.time, &leaf.instance).unwrap();
            assert_eq!(
                String::from_utf8(bytes.clone()).unwrap(),
                String::from_utf8(to_canonical_json(&leaf).unwrap()).unwrap()
            );
            assert_eq!(parse_leaf(&bytes).unwrap(), leaf);
            assert_eq!(leaf_seq(&bytes).unwrap(), 42);
        }
    }

    #[test]
    fn streamed_digest_equals_one_shot() {
        let k = DigestKey::from_secret(b"0123456789abcdef-secret").unwrap();
        let mut d = k.digester();
        d.update(b"hello ");
        d.update(b"world");
        assert_eq!(d.finalize(), k.digest(b"hello world"));
        let k2 = DigestKey::from_secret(b"another-secret-0123456789").unwrap();
        assert_ne!(k.digest(b"hello world"), k2.digest(b"hello world"));
    }
}
