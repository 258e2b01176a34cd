//! End-to-end: the real `haetae` binary, driven by the official `openai` and `anthropic` Python SDKs
//! (tests/e2e/test_sdks.py), in front of a mock provider. Also checks that nothing sensitive reached the log.
//!
//! Needs a Python with the packages of tests/e2e/requirements.txt: `.venv/bin/python` at the repository root
//! (`.ci/run` creates it) or the interpreter named by `SDK_E2E_PYTHON`. Without one this test FAILS, with a
//! message saying how to create it; set `SDK_E2E_SKIP=1` to skip it deliberately.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    missing_docs
)]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::MockProvider;

fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SDK_E2E_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    venv.exists().then_some(venv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_work_through_the_gateway_binary() {
    if std::env::var("SDK_E2E_SKIP").as_deref() == Ok("1") {
        eprintln!("SDK_E2E_SKIP=1: skipping the SDK end-to-end test");
        return;
    }
    let python = python().unwrap_or_else(|| {
        panic!(
            "no Python for the SDK end-to-end test: run `python3 -m venv .venv && .venv/bin/pip install -r \
             tests/e2e/requirements.txt` (or .ci/run), set SDK_E2E_PYTHON, or SDK_E2E_SKIP=1 to skip"
        )
    });

    let mock = MockProvider::start().await;
    // `exaone*` models go here (jurisdiction KR), as an on-prem vLLM would take them.
    let domestic = MockProvider::start().await;
    let gateway_key = "hk-e2e-test-key";
    let other_key = "hk-e2e-other-tenant";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("haetae.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = ["127.0.0.1:0"]
admin_listen = "127.0.0.1:0"

[limits]
max_request_body_bytes = 1048576

[timeouts]
# Far above what an ordinary request's scan takes (well under 1 ms), far below the hostile body's (seconds here).
inspection_ms = 200

[log]
format = "json"
level = "info"

[[destinations]]
name = "openai"
format = "openai"
base_url = "{base}/v1"
jurisdiction = "US"
api_key_env = "OPENAI_API_KEY"

[[destinations]]
name = "anthropic"
format = "anthropic"
base_url = "{base}"
jurisdiction = "US"
api_key_env = "ANTHROPIC_API_KEY"

[[destinations]]
name = "gemini"
format = "gemini"
base_url = "{base}"
jurisdiction = "US"

[[destinations]]
name = "domestic"
format = "openai"
base_url = "{domestic}/v1"
jurisdiction = "KR"

[routing.models]
"exaone*" = "domestic"

[[tenants]]
name = "e2e"
key_sha256 = ["{hash}"]

[[tenants]]
name = "e2e-other"
key_sha256 = ["{other_hash}"]

[audit]
dir = "{data}/audit"
signing_key_file = "{data}/signing.key"
digest_key_file = "{data}/digest.key"
"#,
            data = dir.path().display(),
            base = mock.base(),
            domestic = domestic.base(),
            hash = haetae::proxy::auth::key_hash_hex(gateway_key),
            other_hash = haetae::proxy::auth::key_hash_hex(other_key),
        ),
    )
    .unwrap();

    // Its stderr is the JSON log: the start-up event (the banner as its `summary`), then the access log.
    let mut gateway = support::GatewayProcess::spawn(
        &config,
        &[
            ("OPENAI_API_KEY", "sk-provider-openai"),
            ("ANTHROPIC_API_KEY", "sk-ant-provider"),
        ],
    );
    let url = gateway.base_url();

    let url_for_receipt = url.clone();
    let tests = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(&tests)
            .env("HAETAE_URL", &url)
            .env("HAETAE_KEY", gateway_key)
            .env("HAETAE_OTHER_KEY", other_key)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let pytest_out =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);

    // One more request to keep its receipt for the audit chain below.
    let (status, headers, _) = support::send(
        "POST",
        &format!("{url_for_receipt}/v1/chat/completions"),
        &[("content-type", "application/json"), ("authorization", &format!("Bearer {gateway_key}"))],
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"계좌 110-123-456789 로 보내주세요"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let request_id = headers["x-haetae-request-id"].to_str().unwrap().to_owned();
    let receipt = headers["x-haetae-receipt"].to_str().unwrap().to_owned();

    // Graceful stop with SIGTERM; exit status must be success.
    gateway.signal("TERM");
    let status = gateway.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let log = gateway.log();

    assert!(
        out.status.success(),
        "SDK tests failed:\n{pytest_out}\n--- gateway log ---\n{log}"
    );
    assert!(status.success(), "gateway exit status {status:?}\n{log}");

    // The provider got the provider's key and never the gateway key.
    for seen in mock.seen.lock().unwrap().iter() {
        for (_, v) in seen.headers.iter() {
            assert!(!v.to_str().unwrap_or("").contains(gateway_key));
        }
    }
    // One access log line per request, and no content or credential in the log.
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"haetae::access\""))
        .collect();
    assert!(
        access.len() >= 15,
        "expected an access line per request, got {}:\n{log}",
        access.len()
    );
    for needle in [
        "900101-1234567",
        "주민등록번호",
        "맑음",
        "hello from mock",
        "tok0",
        gateway_key,
        "sk-provider-openai",
        "sk-ant-provider",
        "xsk-xsk-",
    ] {
        assert!(!log.contains(needle), "log contains `{needle}`:\n{log}");
    }
    assert!(log.contains("\"status\":401"), "rejections are logged too");
    // Each line says why its destination was chosen: the family default, the `exaone*` model route, or where a
    // stored response was created.
    for route in ["default", "model:exaone*", "stored-response"] {
        let field = format!("\"route\":\"{route}\"");
        assert!(
            access.iter().any(|l| l.contains(&field)),
            "no access line with {field}:\n{log}"
        );
    }

    // The auditor's chain, offline, with the CLI: verify the whole log, prove the request's record, check the proof
    // against the leaf hash from the receipt the client kept.
    let signing = std::fs::read_to_string(dir.path().join("signing.key")).unwrap();
    let vkey = haetae::audit::NoteSigner::from_private_key_string(signing.trim())
        .unwrap()
        .verifier()
        .to_key_string();
    let audit_dir = dir.path().join("audit");
    let haetae = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_haetae"))
            .args(args)
            .env_remove("HAETAE_AUDIT_VERIFIER_KEY")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "haetae {args:?} failed:\n{text}");
        text
    };
    let audit_dir_s = audit_dir.to_str().unwrap();
    haetae(&["audit", "verify", audit_dir_s, "--vkey", &vkey]);
    let proof = dir.path().join("proof.txt");
    haetae(&[
        "audit",
        "prove",
        audit_dir_s,
        "--vkey",
        &vkey,
        "--request-id",
        &request_id,
        "--out",
        proof.to_str().unwrap(),
    ]);
    let leaf_hash = receipt.split(' ').nth(2).unwrap();
    haetae(&[
        "audit",
        "check-proof",
        proof.to_str().unwrap(),
        "--vkey",
        &vkey,
        "--leaf-hash",
        leaf_hash,
    ]);
    let export = haetae(&[
        "audit",
        "export",
        audit_dir_s,
        "--vkey",
        &vkey,
        "--format",
        "jsonl",
    ]);
    assert!(export.contains(&request_id));
    assert!(
        !export.contains("110-123-456789"),
        "no content in the export"
    );
}
