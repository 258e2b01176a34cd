//! The residency log on the request path: receipts, records per request, offline verification, no content, and
//! fail-closed behaviour when the log cannot write.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    missing_docs
)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use haetae::audit::verify::{verify_dir, VerifyOptions};
use haetae::audit::{Entry, NoteSigner, NoteVerifier};
use serde_json::{json, Value};
use support::*;

const RRN: &str = "900101-1234567";

fn chat(model: &str, stream: bool) -> String {
    json!({"model": model, "stream": stream,
        "messages": [{"role": "user", "content": format!("제 주민번호는 {RRN} 이고 메일은 kim@example.com")}]})
    .to_string()
}

/// An HTTP/1.1 chat request over a raw socket, announcing all of `body` but sending only its first `sent` bytes; the
/// socket is returned open, for the test to abandon.
async fn raw_chat_upload(
    addr: std::net::SocketAddr,
    body: &str,
    sent: usize,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(format!("{head}{}", &body[..sent]).as_bytes())
        .await
        .unwrap();
    s.flush().await.unwrap();
    s
}

/// [`leaves_when_published`] waited for on the blocking pool, off this test's runtime, which the gateway shares: a
/// record must come from what the gateway does while it runs, not from its shutdown.
async fn leaves_published_while_running(
    settings: &haetae::config::Settings,
    size: u64,
) -> Vec<haetae::audit::LogLeaf> {
    let (dir, v) = (settings.audit.dir.clone(), verifier(settings));
    tokio::task::spawn_blocking(move || leaves_when_published(&dir, &v, size))
        .await
        .unwrap()
}

fn all_file_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(all_file_bytes(&p));
        } else {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn every_request_leaves_verifiable_records_without_content() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    // A model route to the same mock: the record says which rule chose the destination.
    settings
        .routing
        .models
        .insert("mock-events-*".into(), "openai".into());
    let audit_dir = settings.audit.dir.clone();
    let v = verifier_after_start(&settings);
    let gw = start_with(mock, settings.clone()).await;

    let (s, h1, _) = gw
        .post("/v1/chat/completions", chat("gpt-4o-mini", false))
        .await;
    assert_eq!(s, 200);
    let receipt = h1["x-haetae-receipt"].to_str().unwrap().to_owned();
    let parts: Vec<&str> = receipt.split(' ').collect();
    assert_eq!(parts[0], "haetae.local/gw-1");
    let index: u64 = parts[1].parse().unwrap();
    assert_eq!(index, 1, "leaf 0 is the start-up config record");
    let (s, h2, _) = gw
        .post("/v1/chat/completions", chat("mock-events-4", true))
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = gw.post("/v1/chat/completions", "{not json").await;
    assert_eq!(s, 400);
    gw.shutdown().await;

    let v = v.unwrap_or_else(|| verifier(&settings));
    // config + (decided, forwarded) × 2 + refused
    let leaves = leaves_when_published(&audit_dir, &v, 6);
    let report = verify_dir(&audit_dir, &v, &VerifyOptions::default()).unwrap();
    assert!(report.size >= 6);

    assert!(matches!(leaves[0].entry, Entry::ConfigChange(_)));
    let id1 = h1["x-haetae-request-id"].to_str().unwrap();
    let id2 = h2["x-haetae-request-id"].to_str().unwrap();
    let of = |id: &str| -> Vec<&haetae::audit::ResidencyRecord> {
        leaves
            .iter()
            .filter_map(|l| l.entry.as_request())
            .filter(|r| r.request_id == id)
            .collect()
    };
    let r1 = of(id1);
    assert_eq!(
        r1.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
        ["decided", "forwarded"]
    );
    let forwarded = r1[1];
    assert_eq!(forwarded.findings.get("KR_RRN"), Some(&1));
    assert_eq!(forwarded.findings.get("EMAIL"), Some(&1));
    assert_eq!(forwarded.status, Some(200));
    let dest = forwarded.destination.as_ref().unwrap();
    assert_eq!(
        (dest.name.as_str(), dest.jurisdiction.as_str()),
        ("openai", "US")
    );
    assert_eq!(forwarded.usage.unwrap().output_tokens, 3);
    assert!(forwarded.request_digest.as_deref().unwrap().len() >= 32);
    assert!(forwarded.response_digest.is_some());
    assert_eq!(forwarded.wire_format, "openai_chat");
    assert_eq!(forwarded.route.as_deref(), Some("default"));
    let r2 = of(id2);
    assert!(
        r2.iter()
            .all(|r| r.route.as_deref() == Some("model:mock-events-*")),
        "{r2:?}"
    );
    assert_eq!(r2.last().unwrap().outcome, "forwarded");
    assert_eq!(
        r2.last().unwrap().usage.unwrap().output_tokens,
        4,
        "usage read from the stream events"
    );
    assert!(leaves
        .iter()
        .filter_map(|l| l.entry.as_request())
        .any(|r| r.outcome == "refused"
            && r.status == Some(400)
            && r.destination.is_none()
            && r.route.is_none()));

    let bytes = all_file_bytes(&audit_dir);
    for needle in [
        RRN,
        "kim@example.com",
        "주민번호",
        "hello from mock",
        "tok0",
    ] {
        assert!(
            !contains(&bytes, needle),
            "the residency log contains `{needle}`"
        );
    }
}

/// Settings for the real binary ([`GatewayProcess`]) pointed at `mock`, with the residency log and its signing key
/// in `dir`.
fn process_settings(dir: &Path, mock: &MockProvider) -> haetae::config::Settings {
    let mut settings = settings_for(mock);
    settings.audit.dir = dir.join("audit");
    settings.audit.signing_key_file = dir.join("audit.key");
    settings
}

/// `settings` written as the config file the binary reads (`dir/haetae.toml`).
fn write_config(dir: &Path, settings: &haetae::config::Settings) -> std::path::PathBuf {
    let config = dir.join("haetae.toml");
    std::fs::write(&config, toml::to_string(settings).unwrap()).unwrap();
    config
}

/// The verifier, if the signing key already exists (it is created at start-up otherwise).
fn verifier_after_start(settings: &haetae::config::Settings) -> Option<NoteVerifier> {
    settings
        .audit
        .signing_key_file
        .exists()
        .then(|| verifier(settings))
}

#[tokio::test]
async fn a_log_that_cannot_write_refuses_traffic() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    // room for the start-up record only
    settings.audit.max_journal_bytes = 700;
    let gw = start_with(mock, settings).await;
    let (s, _, body) = gw
        .post(
            "/v1/messages",
            json!({"model": "m", "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
        )
        .await;
    assert_eq!(s, 500, "{body:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("residency log"));
    assert_eq!(gw.mock.count(), 0, "nothing reached the destination");
    let (s, _, body) = send("GET", &format!("http://{}/readyz", gw.admin), &[], "").await;
    assert_eq!(s, 503, "{body:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["audit"]["ok"], false);
    let (s, _, body) = send("GET", &format!("http://{}/metrics", gw.admin), &[], "").await;
    assert_eq!(s, 200);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("haetae_audit_healthy 0"), "{text}");
    assert!(
        text.contains("outcome=\"rejected\",status=\"500\"} 1"),
        "{text}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_deleted_audit_directory_refuses_traffic() {
    let mock = MockProvider::start().await;
    let settings = settings_for(&mock);
    let audit_dir = settings.audit.dir.clone();
    let gw = start_with(mock, settings).await;
    let body = json!({"model": "m", "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    let (s, _, _) = gw.post("/v1/messages", body.clone()).await;
    assert_eq!(s, 200, "the log works");
    // Someone deletes the audit directory while the gateway runs: records would go into an unlinked journal.
    std::fs::remove_dir_all(&audit_dir).unwrap();
    let (s, _, resp) = gw.post("/v1/messages", body).await;
    assert_eq!(s, 500, "{resp:?}");
    let v: Value = serde_json::from_slice(&resp).unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("residency log"), "{msg}");
    assert_eq!(gw.mock.count(), 1, "the second request was not forwarded");
    let (s, _, body) = send("GET", &format!("http://{}/readyz", gw.admin), &[], "").await;
    assert_eq!(s, 503, "{body:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["audit"]["ok"], false);
    let (_, _, body) = send("GET", &format!("http://{}/metrics", gw.admin), &[], "").await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("haetae_audit_healthy 0"), "{text}");
    // The refused request went nowhere, and /metrics says so: no destination, no jurisdiction.
    assert!(
        text.contains(
            "haetae_requests_total{tenant=\"anonymous\",format=\"anthropic_messages\",destination=\"-\",\
             jurisdiction=\"-\",outcome=\"rejected\",status=\"500\"} 1"
        ),
        "{text}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn after_response_refuses_traffic_once_the_log_failed() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.durability = haetae::config::AuditDurability::AfterResponse;
    // room for the start-up record only: the first request's record (written after its response) fails the log
    settings.audit.max_journal_bytes = 700;
    let gw = start_with(mock, settings).await;
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        .to_string();
    let (s, _, _) = gw.post("/v1/chat/completions", chat.clone()).await;
    assert_eq!(s, 200, "nothing failed yet when it was forwarded");
    let readyz = format!("http://{}/readyz", gw.admin);
    let mut failed = false;
    for _ in 0..500 {
        if send("GET", &readyz, &[], "").await.0 == 503 {
            failed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(failed, "the log never reported its failure");
    let (s, _, body) = gw.post("/v1/chat/completions", chat).await;
    assert_eq!(s, 500, "{body:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("residency log"));
    assert_eq!(gw.mock.count(), 1, "the second request never left");
    gw.shutdown().await;
}

#[tokio::test]
async fn metrics_count_requests_and_findings_without_content() {
    let mock = MockProvider::start().await;
    let settings = settings_for(&mock);
    let gw = start_with(mock, settings).await;
    let secret_text = "고객 주민등록번호는 900101-1234567 입니다 zebra-unique-prompt";
    let (s, _, _) = gw
        .post(
            "/v1/chat/completions",
            json!({"model": "client-chosen-model-name",
                   "messages": [{"role": "user", "content": secret_text}]})
            .to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let (s, h, body) = send("GET", &format!("http://{}/metrics", gw.admin), &[], "").await;
    assert_eq!(s, 200);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("haetae_audit_healthy 1"), "{text}");
    assert!(
        text.contains("haetae_findings_total{entity=\"KR_RRN\",destination=\"openai\""),
        "{text}"
    );
    assert!(
        text.contains("format=\"openai_chat\",destination=\"openai\""),
        "{text}"
    );
    assert!(text.contains("haetae_audit_commits_total"), "{text}");
    assert!(text.contains("haetae_audit_shard 0"), "{text}");
    assert!(text.contains("haetae_audit_rotations_total 0"), "{text}");
    for needle in [
        "900101",
        "1234567",
        "zebra-unique-prompt",
        "client-chosen-model-name",
        "/v1/chat",
    ] {
        assert!(!text.contains(needle), "/metrics contains `{needle}`");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn after_response_durability_writes_one_complete_record() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.durability = haetae::config::AuditDurability::AfterResponse;
    settings.audit.checkpoint_interval_ms = 20;
    let audit_dir = settings.audit.dir.clone();
    let gw = start_with(mock, settings.clone()).await;
    let (s, h, _) = gw
        .post("/v1/chat/completions", chat("gpt-4o-mini", false))
        .await;
    assert_eq!(s, 200);
    assert!(
        h.get("x-haetae-receipt").is_none(),
        "no receipt before the record exists"
    );
    let id = h["x-haetae-request-id"].to_str().unwrap().to_owned();
    gw.shutdown().await;
    let leaves = leaves_when_published(&audit_dir, &verifier(&settings), 2);
    let records: Vec<_> = leaves
        .iter()
        .filter_map(|l| l.entry.as_request())
        .filter(|r| r.request_id == id)
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, "forwarded");
    assert_eq!(records[0].status, Some(200));
}

#[tokio::test]
async fn misconfigured_keys_stop_the_start() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.create_missing_keys = false;
    let err = match haetae::proxy::Gateway::bind(settings.clone(), |_| None).await {
        Ok(_) => panic!("started without a signing key"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("signing.key"), "{err}");

    // a key for another log name
    settings.audit.create_missing_keys = true;
    let other = NoteSigner::generate("someone.else/log").unwrap();
    std::fs::write(
        &settings.audit.signing_key_file,
        other.to_private_key_string(),
    )
    .unwrap();
    let err = match haetae::proxy::Gateway::bind(settings, |_| None).await {
        Ok(_) => panic!("started with a key for another origin"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("someone.else/log") && err.contains("haetae.local/gw-1"),
        "{err}"
    );
}

#[tokio::test]
async fn the_auditor_listener_serves_tiles_proofs_and_exports_with_a_token() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    settings.audit.auditor_listen = Some("127.0.0.1:0".into());
    settings.audit.auditor_token_sha256 = vec![haetae::proxy::auth::key_hash_hex("auditor-token")];
    let gw = start_with(mock, settings.clone()).await;
    let base = format!("http://{}", gw.auditor.unwrap());
    let auth = ("authorization", "Bearer auditor-token");

    let (s, h, _) = gw
        .post("/v1/chat/completions", chat("gpt-4o-mini", false))
        .await;
    assert_eq!(s, 200);
    let id = h["x-haetae-request-id"].to_str().unwrap().to_owned();
    let index: u64 = h["x-haetae-receipt"]
        .to_str()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let v = verifier(&settings);
    leaves_when_published(&settings.audit.dir, &v, 3);

    let (s, _, _) = send("GET", &format!("{base}/checkpoint"), &[], "").await;
    assert_eq!(s, 401);
    let (s, _, _) = send(
        "GET",
        &format!("{base}/checkpoint"),
        &[("authorization", "Bearer wrong")],
        "",
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, body) = send("GET", &format!("{base}/checkpoint"), &[auth], "").await;
    assert_eq!(s, 200);
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .starts_with("haetae.local/gw-1\n"));
    let (s, _, body) = send("GET", &format!("{base}/tile/entries/000.p/3"), &[auth], "").await;
    assert!(s == 200 || s == 404, "{s}");
    if s == 200 {
        assert!(!body.is_empty());
    }

    let (s, _, body) = send("GET", &format!("{base}/proof?request_id={id}"), &[auth], "").await;
    assert_eq!(s, 200, "{body:?}");
    let proof = haetae::audit::TlogProof::parse(std::str::from_utf8(&body).unwrap()).unwrap();
    assert_eq!(proof.index, index, "the proof is for the receipt's leaf");
    proof.verify(&v, None).unwrap();

    let (s, h, body) = send("GET", &format!("{base}/export?format=jsonl"), &[auth], "").await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/x-ndjson");
    let lines: Vec<&str> = std::str::from_utf8(&body).unwrap().lines().collect();
    assert!(lines.len() >= 3);
    for l in &lines {
        serde_json::from_str::<Value>(l).unwrap();
        assert!(!l.contains(RRN));
    }
    let (s, _, body) = send("GET", &format!("{base}/export?format=csv"), &[auth], "").await;
    assert_eq!(s, 200);
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .starts_with("seq,time,kind"));
    // Time bounds: a date in another format is a 400 before anything is read; a percent-encoded RFC 3339 time with
    // an offset is converted to UTC (an hour ago in KST includes every record just written).
    let (s, _, _) = send(
        "GET",
        &format!("{base}/export?from=2026/11/01"),
        &[auth],
        "",
    )
    .await;
    assert_eq!(s, 400);
    let hour_ago_kst = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .to_offset(time::UtcOffset::from_hms(9, 0, 0).unwrap())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .replace('+', "%2B")
        .replace(':', "%3A");
    let (s, _, body) = send(
        "GET",
        &format!("{base}/export?from={hour_ago_kst}"),
        &[auth],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        std::str::from_utf8(&body).unwrap().lines().count(),
        lines.len()
    );

    let (s, _, _) = send("GET", &format!("{base}/tile/../journal"), &[auth], "").await;
    assert_eq!(s, 404);
    let (s, _, _) = send("POST", &format!("{base}/checkpoint"), &[auth], "").await;
    assert_eq!(s, 405);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_rotated_log_is_continued_and_served_shard_by_shard() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    settings.audit.auditor_listen = Some("127.0.0.1:0".into());
    settings.audit.auditor_token_sha256 = vec![haetae::proxy::auth::key_hash_hex("auditor-token")];
    // A log that already rotated (written by the library with a tiny size limit, same key).
    let signer = NoteSigner::generate(&settings.audit.origin).unwrap();
    std::fs::write(
        &settings.audit.signing_key_file,
        signer.to_private_key_string(),
    )
    .unwrap();
    let dir = settings.audit.dir.clone();
    let newest = tokio::task::spawn_blocking(move || {
        let mut o = haetae::audit::AuditOptions::new(signer, "earlier");
        o.rotate_max_bytes = Some(2048);
        let log = haetae::audit::AuditLog::open(&dir, o).unwrap();
        for i in 0..20 {
            let r = haetae::audit::ResidencyRecord {
                request_id: format!("earlier-{i}"),
                outcome: "forwarded".into(),
                ..Default::default()
            };
            log.append_request(r).wait_blocking().unwrap();
        }
        let shard = log.health().shard;
        log.close().unwrap();
        shard
    })
    .await
    .unwrap();
    assert!(newest >= 2);
    let gw = start_with(mock, settings.clone()).await;
    let base = format!("http://{}", gw.auditor.unwrap());
    let auth = ("authorization", "Bearer auditor-token");

    let (s, h, _) = gw
        .post("/v1/chat/completions", chat("gpt-4o-mini", false))
        .await;
    assert_eq!(s, 200);
    let receipt = h["x-haetae-receipt"].to_str().unwrap().to_owned();
    let shard_origin = format!("{}/shards/{newest}", settings.audit.origin);
    assert!(
        receipt.starts_with(&format!("{shard_origin} ")),
        "{receipt}"
    );
    let id = h["x-haetae-request-id"].to_str().unwrap().to_owned();
    let (_, _, body) = send("GET", &format!("http://{}/readyz", gw.admin), &[], "").await;
    let ready: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ready["audit"]["shard"], newest);

    let v = verifier(&settings);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (s, body) = loop {
        let (s, _, body) = send("GET", &format!("{base}/proof?request_id={id}"), &[auth], "").await;
        if s == 200 || Instant::now() > deadline {
            break (s, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(s, 200, "{body:?}");
    let proof = haetae::audit::TlogProof::parse(std::str::from_utf8(&body).unwrap()).unwrap();
    assert_eq!(proof.verify(&v, None).unwrap().origin, shard_origin);

    let (s, _, body) = send("GET", &format!("{base}/shards"), &[auth], "").await;
    assert_eq!(s, 200);
    let list: Value = serde_json::from_slice(&body).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len() as u64, newest + 1);
    assert_eq!(list[0]["sealed"], true);
    assert_eq!(list[newest as usize]["origin"], shard_origin.as_str());
    assert_eq!(list[newest as usize]["sealed"], false);
    let (s, _, body) = send("GET", &format!("{base}/shards/1/sealed"), &[auth], "").await;
    assert_eq!(s, 200);
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .starts_with(&format!("{}/shards/1\n", settings.audit.origin)));
    let (s, _, body) = send("GET", &format!("{base}/proof?index=1"), &[auth], "").await;
    assert_eq!(
        s, 404,
        "an index alone is ambiguous once the log rotated: {body:?}"
    );
    let (s, _, body) = send("GET", &format!("{base}/proof?index=1&shard=1"), &[auth], "").await;
    assert_eq!(s, 200, "{body:?}");
    let (s, _, body) = send("GET", &format!("{base}/export?format=jsonl"), &[auth], "").await;
    assert_eq!(s, 200);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("\"earlier-0\"") && text.contains(&id));
    gw.shutdown().await;
    verify_dir(&settings.audit.dir, &v, &VerifyOptions::default()).unwrap();
}

/// Client text outside the body — the model name, the URL path and query, the method token — is scanned and counted like the
/// body, and never reaches the access log, the residency log or an error message raw (the real binary, its stderr
/// and its log directory are read back).
#[tokio::test]
async fn labels_with_personal_data_are_counted_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let settings = process_settings(dir.path(), &mock);
    let config = write_config(dir.path(), &settings);
    let gateway = GatewayProcess::spawn(&config, &[("OPENAI_API_KEY", "sk-provider-openai")]);
    let base = gateway.base_url();
    const CARD: &str = "4111111111111111";
    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const MAIL: &str = "kim.minsu@example.co.kr";

    let model = format!("gpt-4o-mini {RRN} {MAIL}");
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let (s, h, _) = send(
        "POST",
        &format!("{base}/v1/chat/completions"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=1,KR_RRN=1");

    let (s, h, _) = send("GET", &format!("{base}/v1/models/{RRN}"), &[], "").await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "KR_RRN=1");

    // The query string: counted, and not written anywhere by the gateway.
    let (s, h, _) = send(
        "GET",
        &format!("{base}/v1/models?customer={RRN}&mail={MAIL}"),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["x-haetae-findings"], "EMAIL=1,KR_RRN=1");

    let (s, _, b) = send("GET", &format!("{base}/v1/files/{CARD}"), &[], "").await;
    assert_eq!(s, 404);
    let message = String::from_utf8_lossy(&b).into_owned();
    assert!(
        message.contains("/v1/files/{CREDIT_CARD}") && !message.contains(CARD),
        "{message}"
    );
    let (s, _, b) = send(KEY, &format!("{base}/v1/chat/completions"), &[], "").await;
    assert_eq!(s, 404);
    assert!(!String::from_utf8_lossy(&b).contains(KEY));

    // Stop gracefully so every record (including the refusals' detached ones) is on disk.
    gateway.signal("TERM");
    gateway.wait_for("shutdown", &|l| l.contains("stopped").then(String::new));
    let log = gateway.log();
    assert!(log.contains("/v1/models/{KR_RRN}"), "{log}");
    let audit = all_file_bytes(&settings.audit.dir);
    assert!(contains(&audit, "{KR_RRN}"));
    for needle in [RRN, MAIL, CARD, KEY] {
        assert!(
            !log.contains(needle),
            "the access log contains `{needle}`:\n{log}"
        );
        assert!(
            !contains(&audit, needle),
            "the residency log contains `{needle}`"
        );
    }
}

/// A log written by the library (rotated into a few shards), its verifier, and an auditor listener over it.
async fn auditor_over(
    dir: &Path,
) -> (
    NoteSigner,
    String,
    std::sync::Arc<haetae::proxy::auditor::Auditor>,
    tokio::sync::watch::Sender<bool>,
) {
    let signer = NoteSigner::generate("haetae.example.kr/gw-export").unwrap();
    let copy = NoteSigner::from_private_key_string(&signer.to_private_key_string()).unwrap();
    let d = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut o = haetae::audit::AuditOptions::new(copy, "gw-export-1");
        o.rotate_max_bytes = Some(2048);
        let log = haetae::audit::AuditLog::open(&d, o).unwrap();
        for i in 0..30 {
            let r = haetae::audit::ResidencyRecord {
                request_id: format!("export-{i}"),
                outcome: "forwarded".into(),
                ..Default::default()
            };
            log.append_request(r).wait_blocking().unwrap();
        }
        assert!(log.health().shard >= 3);
        log.close().unwrap();
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let auditor = std::sync::Arc::new(haetae::proxy::auditor::Auditor::new(
        dir.to_path_buf(),
        signer.verifier(),
        &[haetae::proxy::auth::key_hash_hex("auditor-token")],
        730,
    ));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(haetae::proxy::auditor::serve(
        listener,
        std::sync::Arc::clone(&auditor),
        stop_rx,
    ));
    (signer, base, auditor, stop)
}

/// Make a sealed shard's file writable and flip one byte in the middle of it.
fn flip_a_byte(path: &Path) {
    let mut p = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    p.set_readonly(false);
    std::fs::set_permissions(path, p).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

/// The widest entry bundle of shard `k`'s first (partial) bundle.
fn first_bundle(dir: &Path, k: u64) -> std::path::PathBuf {
    std::fs::read_dir(dir.join(format!("shards/{k}/tile/entries/000.p")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .unwrap()
}

/// `/export` verifies the log before it sends a status line: a log altered between two exports gets a 422 with a
/// JSON error naming the shard, not a `200` whose body is cut off after the first records.
#[tokio::test]
async fn the_auditor_export_answers_a_tampered_log_with_an_error_status() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let (_signer, base, _auditor, stop) = auditor_over(&dir).await;
    let auth = ("authorization", "Bearer auditor-token");
    let (s, h, body) = send("GET", &format!("{base}/export"), &[auth], "").await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/x-ndjson");
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("\"export-0\"") && text.contains("\"export-29\""));

    // A record of shard 1 altered after the first export.
    flip_a_byte(&first_bundle(&dir, 1));
    for format in ["jsonl", "csv"] {
        let (s, h, body) = send(
            "GET",
            &format!("{base}/export?format={format}"),
            &[auth],
            "",
        )
        .await;
        assert_eq!(s, 422, "{format}: {body:?}");
        assert_eq!(h["content-type"], "application/json");
        let err: Value = serde_json::from_slice(&body).unwrap();
        let msg = err["error"].as_str().unwrap();
        assert!(msg.contains("shard 1"), "{msg}");
    }
    stop.send(true).unwrap();
}

/// Repeated exports reuse what was verified: the first verifies every shard, a second one nothing (every shard
/// reused), and once the open shard has grown only that shard is read again, extended from where the last export
/// stopped, while the sealed shards are reused. A time range is honoured on the extended shard.
#[tokio::test]
async fn repeated_exports_reuse_what_was_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let (signer, base, auditor, stop) = auditor_over(&dir).await;
    let shards = haetae::audit::shard::list_shards(&dir).unwrap().len() as u64;
    let auth = ("authorization", "Bearer auditor-token");
    let (s, _, first) = send("GET", &format!("{base}/export"), &[auth], "").await;
    assert_eq!(s, 200);
    let st = auditor.export_stats();
    assert_eq!((st.full, st.extended, st.reused), (shards, 0, 0));
    let (s, _, again) = send("GET", &format!("{base}/export"), &[auth], "").await;
    assert_eq!(s, 200);
    assert_eq!(again, first);
    let st = auditor.export_stats();
    assert_eq!((st.full, st.extended, st.reused), (shards, 0, shards));

    // Three more records in the open shard (the gateway keeps writing while auditors read).
    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    // Record times have millisecond resolution: make sure the new ones are not stamped in the same millisecond.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let d = dir.clone();
    tokio::task::spawn_blocking(move || {
        let o = haetae::audit::AuditOptions::new(signer, "gw-export-1");
        let log = haetae::audit::AuditLog::open(&d, o).unwrap();
        for i in 0..3 {
            let r = haetae::audit::ResidencyRecord {
                request_id: format!("later-{i}"),
                outcome: "forwarded".into(),
                ..Default::default()
            };
            log.append_request(r).wait_blocking().unwrap();
        }
        log.close().unwrap();
    })
    .await
    .unwrap();
    let (s, _, grown) = send("GET", &format!("{base}/export"), &[auth], "").await;
    assert_eq!(s, 200);
    let text = String::from_utf8(grown.to_vec()).unwrap();
    assert!(text.starts_with(std::str::from_utf8(&first).unwrap()));
    assert_eq!(
        text.lines().count(),
        first.split(|&b| b == b'\n').count() - 1 + 3
    );
    assert!(text.contains("\"later-2\""));
    let st = auditor.export_stats();
    assert_eq!(
        (st.full, st.extended, st.reused),
        (shards, 1, 2 * shards - 1),
        "only the open shard is read again"
    );
    let (s, _, recent) = send("GET", &format!("{base}/export?from={since}"), &[auth], "").await;
    assert_eq!(s, 200);
    let recent = String::from_utf8(recent.to_vec()).unwrap();
    assert_eq!(recent.lines().count(), 3, "{recent}");
    assert!(recent.lines().all(|l| l.contains("\"later-")));
    stop.send(true).unwrap();
}

/// Findings in the query string are in the residency record like the body's (the values never are), and a `HEAD`
/// on the model list leaves a complete record (not a cancelled one).
#[tokio::test]
async fn query_findings_and_head_requests_are_recorded() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    let audit_dir = settings.audit.dir.clone();
    let v = verifier_after_start(&settings);
    let gw = start_with(mock, settings.clone()).await;
    let clean = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        .to_string();
    let (s, h1, _) = gw
        .post(
            &format!("/v1/chat/completions?customer={RRN}&mail=kim%40example.com&note=TOP+SECRET"),
            clean,
        )
        .await;
    assert_eq!(s, 200);
    let findings = h1["x-haetae-findings"].to_str().unwrap().to_owned();
    assert!(
        findings.contains("EMAIL=1") && findings.contains("KR_RRN=1"),
        "{findings}"
    );
    assert!(findings.contains("CLASSIFICATION_MARKING=1"), "{findings}");
    let (s, h2, body) = send("HEAD", &gw.url("/v1/models"), &[], "").await;
    assert_eq!(s, 200);
    assert!(body.is_empty());
    gw.shutdown().await;

    let v = v.unwrap_or_else(|| verifier(&settings));
    // config + (decided, forwarded) × 2
    let leaves = leaves_when_published(&audit_dir, &v, 5);
    let of = |h: &http::HeaderMap| -> Vec<&haetae::audit::ResidencyRecord> {
        let id = h["x-haetae-request-id"].to_str().unwrap();
        leaves
            .iter()
            .filter_map(|l| l.entry.as_request())
            .filter(|r| r.request_id == id)
            .collect()
    };
    let r1 = of(&h1);
    assert_eq!(
        r1.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
        ["decided", "forwarded"]
    );
    for r in &r1 {
        assert_eq!(r.findings.get("KR_RRN"), Some(&1));
        assert_eq!(r.findings.get("EMAIL"), Some(&1));
        assert_eq!(r.classification, "TOP_SECRET");
    }
    let r2 = of(&h2);
    assert_eq!(
        r2.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
        ["decided", "forwarded"]
    );
    assert_eq!(r2[1].status, Some(200));
    let bytes = all_file_bytes(&audit_dir);
    for needle in [RRN, "kim@example.com", "kim%40example.com", "customer"] {
        assert!(
            !contains(&bytes, needle),
            "the residency log contains `{needle}`"
        );
    }
}

/// A client that goes away before the response head (its SDK timed out while the model was thinking, or the user
/// cancelled) still leaves an outcome record and an access log line: `client_cancelled`, with the destination the
/// prompt was sent to. Both durability modes.
#[tokio::test]
async fn a_client_that_leaves_before_the_response_still_leaves_a_record() {
    use haetae::config::AuditDurability;
    for durability in [
        AuditDurability::BeforeForward,
        AuditDurability::AfterResponse,
    ] {
        let mock = MockProvider::start().await;
        let mut settings = settings_for(&mock);
        settings.audit.durability = durability;
        settings.audit.checkpoint_interval_ms = 20;
        let gw = start_with(mock, settings.clone()).await;
        // Sent upstream (`mock-hang` answers after 5 s), then abandoned.
        let body = chat("mock-hang", false);
        let s = raw_chat_upload(gw.addr, &body, body.len()).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while gw.mock.count() == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(gw.mock.count(), 1, "{durability:?}: the request went out");
        drop(s);
        // config, then (decided +) client_cancelled
        let expected = match durability {
            AuditDurability::BeforeForward => 3,
            AuditDurability::AfterResponse => 2,
        };
        let leaves = leaves_published_while_running(&settings, expected).await;
        gw.shutdown().await;
        let records: Vec<_> = leaves.iter().filter_map(|l| l.entry.as_request()).collect();
        let outcomes: Vec<&str> = records.iter().map(|r| r.outcome.as_str()).collect();
        let expected = match durability {
            AuditDurability::BeforeForward => vec!["decided", "client_cancelled"],
            AuditDurability::AfterResponse => vec!["client_cancelled"],
        };
        assert_eq!(outcomes, expected, "{durability:?}");
        let last = records[records.len() - 1];
        let to = last.destination.as_ref().map(|d| d.name.as_str());
        assert_eq!(to, Some("openai"), "{durability:?}: the prompt left");
        assert_eq!(last.findings.get("KR_RRN"), Some(&1), "{durability:?}");
        assert_eq!(last.status, None);
    }
}

/// A request still waiting for its response head when the shutdown grace period ends is answered 503 in its API's
/// shape, and its record says why: `gateway_shutdown`, to the destination it was sent to (not `client_cancelled`:
/// the client did not leave).
#[tokio::test]
async fn a_request_cut_by_the_shutdown_is_recorded_as_such() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.timeouts.shutdown_grace_ms = 200;
    let mut gw = start_with(mock, settings.clone()).await;
    // `mock-hang` answers after 5 s.
    let waiting = gw.post_in_background("/v1/chat/completions", chat("mock-hang", false));
    while gw.mock.count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.begin_shutdown();
    let (s, _, body) = waiting.await.unwrap();
    assert_eq!(s, 503, "{}", String::from_utf8_lossy(&body));
    tokio::time::timeout(Duration::from_secs(10), gw.task.take().unwrap())
        .await
        .unwrap()
        .unwrap();
    let v = verifier(&settings);
    let leaves = leaves_when_published(&settings.audit.dir, &v, 3);
    let last = leaves.last().and_then(|l| l.entry.as_request()).unwrap();
    assert_eq!(last.outcome, "gateway_shutdown");
    assert_eq!(last.status, Some(503));
    let to = last.destination.as_ref().map(|d| d.name.as_str());
    assert_eq!(to, Some("openai"), "the request had left");
}

/// Parts the engine cannot read (an image, a file) go where the request goes, uninspected: the response says how
/// many of each kind (`x-haetae-uninspected`), and so does the record, for the auditor's "what left unscanned". A
/// file sent inline whose bytes are UTF-8 text is read like text, so it is not among them.
#[tokio::test]
async fn uninspected_parts_are_counted_in_the_header_and_the_record() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    let gw = start_with(mock, settings.clone()).await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is in these? mail kim@example.com"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "file", "file": {"file_id": "file-abc123"}},
        {"type": "file", "file": {"filename": "notes.txt",
            "file_data": "data:text/plain;base64,7Jew65297LKYIDAxMC0yODM3LTQ2NTE="}},
    ]}]});
    let (s, headers, _) = gw.post("/v1/chat/completions", body.to_string()).await;
    assert_eq!(s, 200);
    assert_eq!(headers["x-haetae-findings"], "EMAIL=1,KR_PHONE=1");
    assert_eq!(headers["x-haetae-uninspected"], "file=1,image=2");
    // A text-only request has no such header.
    let (_, headers, _) = gw
        .post("/v1/chat/completions", chat("gpt-4o-mini", false))
        .await;
    assert!(headers.get("x-haetae-uninspected").is_none());
    // config, then (decided + forwarded) twice
    let leaves = leaves_published_while_running(&settings, 5).await;
    gw.shutdown().await;
    let forwarded: Vec<_> = leaves
        .iter()
        .filter_map(|l| l.entry.as_request())
        .filter(|r| r.outcome == "forwarded")
        .collect();
    assert_eq!(forwarded.len(), 2);
    let with_parts = forwarded
        .iter()
        .find(|r| r.findings.contains_key("EMAIL"))
        .unwrap();
    assert_eq!(
        with_parts.uninspected,
        [("file".to_owned(), 1), ("image".to_owned(), 2)].into()
    );
    assert!(forwarded.iter().any(|r| r.uninspected.is_empty()));
}

/// A client that hangs up halfway through its body upload is noticed when it hangs up, not when
/// `timeouts.client_body_ms` (here ten minutes) runs out: its record (nothing forwarded, no destination) is
/// published while the gateway runs (the wait is bounded at 20 s).
#[tokio::test]
async fn a_client_that_hangs_up_mid_body_is_noticed_at_once() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    settings.timeouts.client_body_ms = 600_000;
    let gw = start_with(mock, settings.clone()).await;
    let body = chat("gpt-4o-mini", false);
    let s = raw_chat_upload(gw.addr, &body, body.len() / 2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    let leaves = leaves_published_while_running(&settings, 2).await;
    let records: Vec<_> = leaves.iter().filter_map(|l| l.entry.as_request()).collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(
        ["refused", "client_cancelled"].contains(&records[0].outcome.as_str()),
        "{records:?}"
    );
    assert!(records[0].destination.is_none(), "{records:?}");
    assert_eq!(gw.mock.count(), 0);
    gw.shutdown().await;
}

/// Over HTTP/2 a client leaves by resetting its stream (RST_STREAM CANCEL: an SDK's timeout or cancel) while the
/// connection stays open. Both before the response head (the handler future is dropped) and in the middle of a
/// stream (the response body is dropped), the exchange ends `client_cancelled`, naming the destination the prompt
/// went to: never `forwarded`, as if the answer had been delivered.
#[tokio::test]
async fn h2_stream_resets_are_recorded_as_cancelled() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    let gw = start_with(mock, settings.clone()).await;
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = |model: &str, stream: bool| {
        http::Request::post(gw.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(chat(model, stream))))
            .unwrap()
    };
    // Before the head: `mock-hang` answers after 5 s; the request is abandoned once it has reached the provider.
    let mut s = send.clone();
    let req = request("mock-hang", false);
    let waiting = tokio::spawn(async move { s.send_request(req).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while gw.mock.count() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.mock.count(), 1, "the first request went out");
    waiting.abort();
    // Mid-stream: `mock-stall` sends one event, then nothing for 5 s; the body is dropped after the first event.
    let resp = send
        .clone()
        .send_request(request("mock-stall", true))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    // config, then (decided + outcome) for each request
    let leaves = leaves_published_while_running(&settings, 5).await;
    gw.shutdown().await;
    let mut ends: Vec<(&str, Option<&str>)> = leaves
        .iter()
        .filter_map(|l| l.entry.as_request())
        .filter(|r| r.outcome != "decided")
        .map(|r| {
            (
                r.outcome.as_str(),
                r.destination.as_ref().map(|d| d.name.as_str()),
            )
        })
        .collect();
    ends.sort_unstable();
    assert_eq!(
        ends,
        [
            ("client_cancelled", Some("openai")),
            ("client_cancelled", Some("openai"))
        ]
    );
}

/// A request that never left (connection refused) and one that was sent but got no response head in time (first-byte
/// timeout) are told apart in the outcome record, in /metrics and in `audit report`: only the second counts as a
/// transfer abroad, with its findings.
#[tokio::test]
async fn upstream_failures_record_whether_the_request_left() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    settings.timeouts.upstream_first_byte_ms = 1000;
    let mut closed = settings
        .destinations
        .iter()
        .find(|d| d.name == "openai")
        .unwrap()
        .clone();
    closed.name = "closed".into();
    // nothing listens on port 1: connection refused, no byte of the request leaves
    closed.base_url = "http://127.0.0.1:1/v1".into();
    settings.destinations.push(closed);
    settings
        .routing
        .models
        .insert("closed-*".into(), "closed".into());
    let audit_dir = settings.audit.dir.clone();
    let v = verifier_after_start(&settings);
    let gw = start_with(mock, settings.clone()).await;
    let v = v.unwrap_or_else(|| verifier(&settings));
    let chat = |model: &str| {
        json!({"model": model, "messages": [{"role": "user", "content": "mail kim@example.com"}]})
            .to_string()
    };
    let (s, h_closed, body) = gw.post("/v1/chat/completions", chat("closed-x")).await;
    assert_eq!(s, 502, "{body:?}");
    let (s, h_hang, body) = gw.post("/v1/chat/completions", chat("mock-hang")).await;
    assert_eq!(s, 504, "{body:?}");
    assert_eq!(
        gw.mock.count(),
        1,
        "the hanging request reached the destination"
    );
    let id = |h: &http::HeaderMap| h["x-haetae-request-id"].to_str().unwrap().to_owned();
    let (closed_id, hang_id) = (id(&h_closed), id(&h_hang));
    // the error answers still say what was found
    assert_eq!(h_closed["x-haetae-findings"], "EMAIL=1");
    assert_eq!(h_hang["x-haetae-findings"], "EMAIL=1");

    let (_, _, body) = send("GET", &format!("http://{}/metrics", gw.admin), &[], "").await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains("destination=\"closed\",jurisdiction=\"US\",outcome=\"not_delivered\",status=\"502\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("outcome=\"sent_no_response\",status=\"504\"} 1"),
        "{text}"
    );
    gw.shutdown().await;

    // the start-up record, then a decision and an outcome record per request
    let leaves = leaves_when_published(&audit_dir, &v, 5);
    let outcome = |rid: &str| {
        leaves
            .iter()
            .filter_map(|l| l.entry.as_request())
            .filter(|r| r.request_id == rid)
            .map(|r| {
                (
                    r.outcome.clone(),
                    r.destination.as_ref().map(|d| d.name.clone()),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        outcome(&closed_id).last().unwrap(),
        &("not_delivered".to_owned(), Some("closed".to_owned()))
    );
    assert_eq!(
        outcome(&hang_id).last().unwrap(),
        &("sent_no_response".to_owned(), Some("openai".to_owned()))
    );
    let month = leaves.last().unwrap().time[..7].to_owned();
    let rep = haetae::audit::verify::monthly_report(&audit_dir, &v, &month, "KR").unwrap();
    assert_eq!(rep.requests, 2, "{rep:?}");
    assert_eq!(
        rep.forwarded_abroad, 1,
        "only the request that left: {rep:?}"
    );
    assert_eq!(rep.not_delivered, 1, "{rep:?}");
    assert_eq!(rep.entities_abroad.get("EMAIL"), Some(&1), "{rep:?}");
    assert!(rep.to_text().contains("Not delivered"), "{}", rep.to_text());
}

/// The moment the residency log fails is an ERROR line on the gateway's stderr (naming the cause, not content).
#[tokio::test]
async fn a_failing_log_says_so_at_error_level() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let mut settings = process_settings(dir.path(), &mock);
    // room for the start-up record only (no size rotation, which the limit would have to exceed)
    settings.audit.max_journal_bytes = 700;
    settings.audit.rotate_max_bytes = 0;
    let config = write_config(dir.path(), &settings);
    let gateway = GatewayProcess::spawn(&config, &[("OPENAI_API_KEY", "sk-provider-openai")]);
    let base = gateway.base_url();
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "kim@example.com"}]});
    let (s, _, _) = send(
        "POST",
        &format!("{base}/v1/chat/completions"),
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(s, 500);
    let line = gateway.wait_for("ERROR line", &|l| {
        (l.contains("ERROR") && l.contains("residency log has failed")).then(|| l.to_owned())
    });
    assert!(line.contains("size limit"), "{line}");
    assert!(!gateway.log().contains("kim@example.com"));
}

/// A rotation says so in the gateway's log (which shard was sealed, with how many records, which one is open), so an
/// operator can match shards to time; the log line carries no content.
#[tokio::test]
async fn a_rotation_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let mut settings = process_settings(dir.path(), &mock);
    // the smallest size accepted (1 MiB): some thousands of records
    settings.audit.rotate_max_bytes = 1 << 20;
    let config = write_config(dir.path(), &settings);
    let gateway = GatewayProcess::spawn(&config, &[("OPENAI_API_KEY", "sk-provider-openai")]);
    let url = format!("{}/v1/chat/completions", gateway.base_url());
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "kim@example.com"}]})
        .to_string();
    let mut sent = 0;
    while !gateway.log().contains("shard rotated") {
        assert!(sent < 20_000, "no rotation after {sent} requests");
        let batch: Vec<_> = (0..32)
            .map(|_| {
                let (url, body) = (url.clone(), body.clone());
                tokio::spawn(async move {
                    send("POST", &url, &[("content-type", "application/json")], body)
                        .await
                        .0
                })
            })
            .collect();
        for task in batch {
            assert_eq!(task.await.unwrap(), 200);
        }
        sent += 32;
    }
    let line = gateway.wait_for("rotation line", &|l| {
        l.contains("shard rotated").then(|| l.to_owned())
    });
    assert!(line.contains("INFO"), "{line}");
    assert!(
        line.contains("shard=1") && line.contains("sealed_shard=0"),
        "{line}"
    );
    assert!(!gateway.log().contains("kim@example.com"));
}

/// Running out of file descriptors (idle connections under a low open-files limit) while a checkpoint is due makes
/// its publication fail; once the connections are gone the log publishes again and traffic is served — before,
/// the log failed for good and every request got 500 until a restart.
#[tokio::test]
async fn descriptor_exhaustion_delays_checkpoints_but_does_not_fail_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let mut settings = process_settings(dir.path(), &mock);
    settings.audit.checkpoint_interval_ms = 500;
    settings.limits.max_connections = 10_000;
    let config = write_config(dir.path(), &settings);
    let gateway = GatewayProcess::spawn_with_nofile(
        &config,
        &[("OPENAI_API_KEY", "sk-provider-openai")],
        128,
    );
    let base = gateway.base_url();
    let admin = gateway.wait_for("admin address", &|l| {
        l.trim()
            .strip_prefix("admin")
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
    });
    assert!(gateway.log().contains("WARNING"), "{}", gateway.log());
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        .to_string();
    let url = format!("{base}/v1/chat/completions");
    let post = || {
        send(
            "POST",
            &url,
            &[("content-type", "application/json")],
            chat.clone(),
        )
    };
    let (s, _, _) = post().await;
    assert_eq!(s, 200);
    // Take every descriptor the gateway has left before its checkpoint is due, and hold them past it.
    let addr = base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..200 {
        match std::net::TcpStream::connect(&addr) {
            Ok(c) => idle.push(c),
            Err(_) => break,
        }
    }
    gateway.wait_for("the failed publication", &|l| {
        l.contains("could not be written").then(String::new)
    });
    drop(idle);
    gateway.wait_for("recovery", &|l| l.contains("(recovered)").then(String::new));
    let (s, _, body) = post().await;
    assert_eq!(s, 200, "{body:?}");
    let (s, _, body) = send("GET", &format!("{admin}/readyz"), &[], "").await;
    assert_eq!(s, 200, "{body:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["audit"]["ok"], true, "{v}");
    assert!(
        !gateway.log().contains("residency log has failed"),
        "{}",
        gateway.log()
    );
    gateway.signal("TERM");
    gateway.wait_for("shutdown", &|l| l.contains("stopped").then(String::new));
    let v = verifier(&settings);
    verify_dir(&settings.audit.dir, &v, &VerifyOptions::default()).unwrap();
}

/// Token usage reaches the outcome record for both of Gemini's stream forms: SSE (`alt=sse`, usage on the events)
/// and the default JSON array of chunks (usage on the last element).
#[tokio::test]
async fn gemini_stream_usage_is_recorded_in_both_stream_forms() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    let audit_dir = settings.audit.dir.clone();
    let v = verifier_after_start(&settings);
    let gw = start_with(mock, settings.clone()).await;
    let v = v.unwrap_or_else(|| verifier(&settings));
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string();
    let mut ids = Vec::new();
    for path in [
        "/v1beta/models/mock-events-6:streamGenerateContent?alt=sse",
        "/v1beta/models/mock-events-6:streamGenerateContent",
    ] {
        let (s, h, resp) = gw.post(path, body.clone()).await;
        assert_eq!(s, 200, "{path}");
        let text = String::from_utf8_lossy(&resp);
        assert_eq!(
            text.trim_start().starts_with('['),
            !path.contains("alt=sse"),
            "{path}: {text}"
        );
        ids.push(h["x-haetae-request-id"].to_str().unwrap().to_owned());
    }
    gw.shutdown().await;
    // config + (decided, forwarded) × 2
    let leaves = leaves_when_published(&audit_dir, &v, 5);
    for id in &ids {
        let last = leaves
            .iter()
            .filter_map(|l| l.entry.as_request())
            .rfind(|r| &r.request_id == id)
            .unwrap();
        assert_eq!(last.outcome, "forwarded");
        let usage = last.usage.unwrap_or_else(|| panic!("no usage: {last:?}"));
        assert_eq!(
            (usage.input_tokens, usage.output_tokens),
            (5, 6),
            "{last:?}"
        );
    }
}
