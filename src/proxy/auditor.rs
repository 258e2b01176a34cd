//! The read-only auditor listener: the log directory as C2SP tlog-tiles over HTTP (`/checkpoint`, `/tile/...`),
//! plus inclusion proofs and time-range exports, behind bearer-token auth. Separate from the traffic and admin
//! listeners.
//!
//! Routes (GET only):
//! - `/checkpoint`, `/checkpoints` (archive), `/tile/<L>/<N>[.p/<W>]`, `/tile/entries/<N>[.p/<W>]` — the files of
//!   shard 0; the same names under `/shards/<k>/` for shard k, plus `sealed`/`pruned` markers
//! - `/shards` — the shards in order (origin, path prefix, sealed, pruned), JSON
//! - `/pubkey` — the verifier key (`name+id+key`)
//! - `/proof?request_id=ID` or `/proof?index=N[&shard=K]` — a C2SP tlog-proof against the latest checkpoint of the
//!   record's shard (`shard` is required once the log has rotated)
//! - `/export?from=RFC3339&to=RFC3339&format=jsonl|csv` — records in `[from, to)`, streamed; JSONL lines are the exact
//!   leaf bytes, so each line checks by hash
//!
//! Errors are JSON `{"error": "..."}` with a status: 400 (bad parameters), 401, 404, 405, and 422 when the log
//! itself does not verify or cannot be read (`/proof`, `/shards`, `/export`).
//!
//! **Export** verifies the whole log *before* the status line is sent: a log that does not verify gets a 422 with
//! the error, never a `200` with a cut body. Repeat calls are cheap: the listener keeps an
//! [`ExportCache`](crate::audit::verify::ExportCache) of what earlier exports verified — sealed shards whose files
//! are unchanged are not read again, the open shard is verified only from where the last export left off, and
//! only the entry bundles whose time span meets `[from, to)` are read (each checked against its verified digest,
//! before the status line if its file changed since, and again while it is streamed). Between calls an attacker who
//! can write the directory can change files the export does not send (tiles above level 0, the checkpoint archive,
//! the journal, bundles outside the range) without the next export noticing; `haetae audit verify` and the first
//! export after a restart check everything. A change that lands while a body is being streamed still cuts that
//! body (its status is already sent); nothing unverified is ever sent. Records are streamed bundle by bundle (64
//! KiB chunks), never buffered whole.
//!
//! Must never: write to the log, serve a path outside the log directory, answer without a valid token, or send a
//! record that was not verified.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::auth::{bearer_matches, token_hashes as token_hashes_of};
use super::stream::BoxError;
use crate::audit::shard::{
    is_pruned, is_sealed, list_shards, shard_dir, shard_origin, shard_prefix,
};
use crate::audit::verify::{
    csv_row, find_request, prove, verify_for_export, ExportCache, LeafRef, Retention, TimeRange,
    CSV_HEADER,
};
use crate::audit::{AuditError, NoteVerifier};

type AuditorBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// What the auditor listener needs.
pub struct Auditor {
    dir: PathBuf,
    verifier: NoteVerifier,
    token_hashes: Vec<[u8; 32]>,
    /// `audit.retention_days`: pruned shards are checked against this period, as `audit verify` does.
    retention_days: u32,
    /// What earlier exports verified (see the module documentation).
    export_cache: Arc<ExportCache>,
}

impl Auditor {
    /// `token_hashes`: lower-case hex SHA-256 of each accepted bearer token (validated by config).
    pub fn new(
        dir: PathBuf,
        verifier: NoteVerifier,
        token_hashes: &[String],
        retention_days: u32,
    ) -> Self {
        let token_hashes = token_hashes_of(token_hashes);
        Self {
            dir,
            verifier,
            retention_days,
            token_hashes,
            export_cache: Arc::new(ExportCache::new()),
        }
    }

    /// The export cache's work counters (verifications done in full, extended, reused).
    pub fn export_stats(&self) -> crate::audit::verify::ExportCacheStats {
        self.export_cache.stats()
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        bearer_matches(req.headers(), &self.token_hashes)
    }
}

/// Serve the auditor API until `stop` flips.
pub async fn serve(listener: TcpListener, auditor: Arc<Auditor>, stop: watch::Receiver<bool>) {
    super::server::serve_side(listener, stop, move |req| {
        let auditor = Arc::clone(&auditor);
        async move { handle(&auditor, req).await }
    })
    .await;
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<AuditorBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn error(status: StatusCode, message: &str) -> Response<AuditorBody> {
    let body = serde_json::json!({ "error": message }).to_string();
    text(status, "application/json", body)
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// A log file path from a request path: only the tlog-tiles names of a shard (shard 0 at the root, shard k under
/// `shards/<k>/`) and its `sealed`/`pruned` markers, nothing that could leave the directory.
fn log_file(dir: &Path, path: &str) -> Option<PathBuf> {
    let full = path.strip_prefix('/')?;
    let rel = match full.strip_prefix("shards/") {
        Some(rest) => {
            let (k, rel) = rest.split_once('/')?;
            if k.is_empty() || k.starts_with('0') || !k.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            rel
        }
        None => full,
    };
    let allowed = matches!(rel, "checkpoint" | "checkpoints" | "sealed" | "pruned")
        || (rel.starts_with("tile/")
            && rel
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'.')
            && !rel
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == ".."));
    allowed.then(|| dir.join(full))
}

/// `GET /shards`: every shard with its path prefix, origin and state (JSON), oldest first.
fn shard_list(auditor: &Auditor) -> Response<AuditorBody> {
    let shards = match list_shards(&auditor.dir) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    };
    let list: Vec<_> = shards
        .into_iter()
        .map(|k| {
            let d = shard_dir(&auditor.dir, k);
            serde_json::json!({
                "shard": k,
                "origin": shard_origin(auditor.verifier.name(), k),
                "prefix": format!("/{}", shard_prefix(k)),
                "sealed": is_sealed(&d),
                "pruned": is_pruned(&d),
            })
        })
        .collect();
    text(
        StatusCode::OK,
        "application/json",
        serde_json::Value::Array(list).to_string(),
    )
}

async fn handle(auditor: &Auditor, req: Request<Incoming>) -> Response<AuditorBody> {
    if req.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "the auditor API is read-only (GET)",
        );
    }
    if !auditor.authorized(&req) {
        let mut r = error(StatusCode::UNAUTHORIZED, "missing or invalid auditor token");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return r;
    }
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    match path.as_str() {
        "/pubkey" => text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            auditor.verifier.to_key_string() + "\n",
        ),
        "/proof" => proof(auditor, query.as_deref()).await,
        "/shards" => shard_list(auditor),
        "/export" => export(auditor, query.as_deref()).await,
        _ => match log_file(&auditor.dir, &path) {
            None => error(StatusCode::NOT_FOUND, "no such auditor resource"),
            Some(file) => match tokio::fs::read(&file).await {
                Ok(bytes) => {
                    let ct = if path.starts_with("/tile/") {
                        "application/octet-stream"
                    } else {
                        "text/plain; charset=utf-8"
                    };
                    text(StatusCode::OK, ct, bytes)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    error(StatusCode::NOT_FOUND, "no such log file")
                }
                Err(_) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the log file could not be read",
                ),
            },
        },
    }
}

async fn proof(auditor: &Auditor, query: Option<&str>) -> Response<AuditorBody> {
    let index = query_param(query, "index").map(str::parse::<u64>);
    let request_id = query_param(query, "request_id").map(str::to_owned);
    let shard = query_param(query, "shard").map(str::parse::<u64>);
    let dir = auditor.dir.clone();
    let verifier = auditor.verifier.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Option<String>, AuditError> {
        let at = match (index, request_id) {
            (Some(Ok(index)), _) => {
                let shard = match shard {
                    Some(Ok(k)) => k,
                    Some(Err(_)) => return Ok(None),
                    None if list_shards(&dir)?.len() > 1 => return Ok(None),
                    None => 0,
                };
                LeafRef { shard, index }
            }
            (Some(Err(_)), _) => return Ok(None),
            (None, Some(id)) => match find_request(&dir, &verifier, &id)? {
                Some(at) => at,
                None => return Ok(None),
            },
            (None, None) => return Ok(None),
        };
        prove(&dir, &verifier, at).map(|p| Some(p.to_text()))
    })
    .await;
    match result {
        Ok(Ok(Some(proof))) => text(StatusCode::OK, "text/plain; charset=utf-8", proof),
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            "give ?request_id=ID, or ?index=N (with &shard=K once the log has rotated), of a record covered by the latest checkpoint",
        ),
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "proof task failed"),
    }
}

async fn export(auditor: &Auditor, query: Option<&str>) -> Response<AuditorBody> {
    // Bounds are percent-decoded (`%2B09%3A00`) and parsed before anything is read: a bound that is not a date or an
    // RFC 3339 time is a 400, not an empty or complete export.
    let bound = |name: &str| {
        percent_encoding::percent_decode_str(query_param(query, name).unwrap_or(""))
            .decode_utf8_lossy()
            .into_owned()
    };
    let range = match TimeRange::parse(&bound("from"), &bound("to")) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let retention = Retention::days(auditor.retention_days);
    let csv = match query_param(query, "format").unwrap_or("jsonl") {
        "jsonl" => false,
        "csv" => true,
        _ => return error(StatusCode::BAD_REQUEST, "format must be jsonl or csv"),
    };
    // Verify first, so that a log that does not verify gets an error status (and nothing of it is sent).
    let dir = auditor.dir.clone();
    let verifier = auditor.verifier.clone();
    let cache = Arc::clone(&auditor.export_cache);
    let verified = tokio::task::spawn_blocking(move || {
        verify_for_export(&dir, &verifier, &retention, &range, &cache)
    })
    .await;
    let verified = match verified {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "export task failed"),
    };
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, BoxError>>(16);
    let dir = auditor.dir.clone();
    tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(64 * 1024);
        if csv {
            buf.extend_from_slice(CSV_HEADER.as_bytes());
            buf.push(b'\n');
        }
        let result = verified.visit_range(&dir, &range, |_, data, leaf| {
            if csv {
                buf.extend_from_slice(csv_row(leaf, data).as_bytes());
            } else {
                buf.extend_from_slice(data);
            }
            buf.push(b'\n');
            if buf.len() >= 60 * 1024 {
                let chunk = Bytes::from(std::mem::take(&mut buf));
                if tx.blocking_send(Ok(Frame::data(chunk))).is_err() {
                    return Err(AuditError::Closed);
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                if !buf.is_empty() {
                    let _ = tx.blocking_send(Ok(Frame::data(Bytes::from(buf))));
                }
            }
            // A file changed after it was verified (while streaming): the body is cut with the error, since the
            // status was already sent; nothing unverified was sent.
            Err(e) => {
                let _ = tx.blocking_send(Err(e.to_string().into()));
            }
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
    let ct = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_log_files_are_served() {
        let dir = Path::new("/var/log/haetae");
        assert_eq!(log_file(dir, "/checkpoint"), Some(dir.join("checkpoint")));
        assert_eq!(
            log_file(dir, "/tile/0/x001/234.p/5"),
            Some(dir.join("tile/0/x001/234.p/5"))
        );
        assert_eq!(
            log_file(dir, "/tile/entries/000"),
            Some(dir.join("tile/entries/000"))
        );
        assert_eq!(
            log_file(dir, "/shards/12/tile/0/001.p/3"),
            Some(dir.join("shards/12/tile/0/001.p/3"))
        );
        assert_eq!(
            log_file(dir, "/shards/3/sealed"),
            Some(dir.join("shards/3/sealed"))
        );
        for bad in [
            "/journal",
            "/tile/../journal",
            "/tile//x",
            "/tile/./0",
            "/../etc/passwd",
            "/tile/%2e%2e/j",
            "/signing.key",
            "/shards/1/journal",
            "/shards/01/checkpoint",
            "/shards//checkpoint",
            "/shards/x/checkpoint",
            "/shards/1/../../journal",
            "/shards/1/lock",
        ] {
            assert_eq!(log_file(dir, bad), None, "{bad}");
        }
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param(Some("a=1&index=7"), "index"), Some("7"));
        assert_eq!(query_param(Some("indexx=7"), "index"), None);
        assert_eq!(query_param(None, "index"), None);
    }
}
