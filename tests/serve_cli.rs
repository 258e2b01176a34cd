//! `haetae serve` through the real binary: configuration refusals happen before anything is bound or written, and
//! `--check` validates without binding ports or touching the residency log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    missing_docs
)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::*;

/// Run `haetae` in `cwd` with exactly the given environment (nothing inherited, so no stray `HAETAE_*`).
fn haetae(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haetae"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn public_listener_without_tenants_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = haetae(
        dir.path(),
        &["serve", "--check"],
        &[("HAETAE_SERVER__LISTEN", "0.0.0.0:0")],
    );
    assert!(!out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("server.listen[0]"), "{err}");
    assert!(err.contains("server.allow_unauthenticated"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a refused configuration writes nothing"
    );
}

#[test]
fn a_public_admin_listener_says_whether_metrics_are_open() {
    let dir = tempfile::tempdir().unwrap();
    let check = |env: &[(&str, &str)]| {
        let mut all = vec![("HAETAE_SERVER__ADMIN_LISTEN", "0.0.0.0:0")];
        all.extend_from_slice(env);
        let out = haetae(dir.path(), &["serve", "--check"], &all);
        (out.status.success(), stderr(&out))
    };
    let (ok, err) = check(&[]);
    assert!(ok, "{err}");
    assert!(
        err.contains(
            "/metrics OPEN to anyone who reaches this address: set server.admin_token_sha256"
        ),
        "{err}"
    );
    let hash = haetae::proxy::auth::key_hash_hex("scrape-token");
    let (ok, err) = check(&[("HAETAE_SERVER__ADMIN_TOKEN_SHA256", &hash)]);
    assert!(ok, "{err}");
    assert!(err.contains("/metrics with a bearer token"), "{err}");
    let (ok, err) = check(&[("HAETAE_SERVER__ADMIN_TOKEN_SHA256", "not-a-hash")]);
    assert!(!ok, "a malformed hash is refused: {err}");
    assert!(err.contains("server.admin_token_sha256[0]"), "{err}");
    // The default (loopback) admin listener is not flagged.
    let out = haetae(dir.path(), &["serve", "--check"], &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("(/healthz, /readyz, /metrics)"), "{err}");
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path, bytes);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_binds_nothing_and_leaves_the_residency_log_alone() {
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.checkpoint_interval_ms = 20;
    let gw = start_with(mock, settings.clone()).await;
    // The running gateway holds the ports and the log's writer lock; its start-up record is published.
    settings.server.listen = vec![gw.addr.to_string()];
    settings.server.admin_listen = gw.admin.to_string();
    let audit_dir = settings.audit.dir.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !audit_dir.join("checkpoint").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let data = audit_dir.parent().unwrap().to_owned();
    let before = snapshot(&data);

    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("haetae.toml");
    std::fs::write(&config, toml::to_string(&settings).unwrap()).unwrap();
    let cwd = work.path().to_owned();
    let config_arg = config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        haetae(&cwd, &["serve", "--check", "--config", &config_arg], &[])
    })
    .await
    .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("configuration OK"), "{err}");
    assert!(
        err.contains(&format!("listening     http://{}", gw.addr)),
        "the configured address is reported: {err}"
    );
    assert!(err.contains("verify with: haetae audit verify"), "{err}");
    assert_eq!(
        snapshot(&data),
        before,
        "the residency log and keys are untouched"
    );
    // Still serving: the check took nothing away from it.
    let (status, _, _) = send("GET", &format!("http://{}/healthz", gw.admin), &[], "").await;
    assert_eq!(status, 200);
    gw.shutdown().await;

    // A check fails on what the real start would fail on, still without creating anything.
    let mut bad = settings.clone();
    bad.audit.dir = work.path().join("fresh-audit");
    bad.audit.signing_key_file = work.path().join("missing-signing.key");
    bad.audit.create_missing_keys = false;
    std::fs::write(&config, toml::to_string(&bad).unwrap()).unwrap();
    let out = haetae(
        work.path(),
        &["serve", "--check", "--config", config.to_str().unwrap()],
        &[],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("missing-signing.key"), "{err}");
    assert!(!bad.audit.dir.exists(), "the log directory was not created");
}

/// `key new` prints config lines that parse whatever the tenant's name, and `key hash` refuses an empty key (what
/// `echo "$UNSET" | haetae key hash` sends), whose hash would let any client in.
#[test]
fn key_commands_print_valid_toml_and_refuse_an_empty_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = haetae(
        dir.path(),
        &["key", "new", "--tenant", r#"acme "EU" \ team"#],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let toml_part = &text[text.find("[[tenants]]").unwrap()..];
    let parsed: toml::Value = toml::from_str(toml_part).unwrap();
    assert_eq!(
        parsed["tenants"][0]["name"].as_str(),
        Some(r#"acme "EU" \ team"#)
    );

    let out = haetae(dir.path(), &["key", "new", "--tenant", " "], &[]);
    assert!(!out.status.success());

    let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .args(["key", "hash"])
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("empty key"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

/// `tracing` reads `inof` as "every level of a target named inof" and nothing else: a typo that would silence the
/// gateway, its ERROR lines included. `--check` (and so `serve`) refuses it, from the file, the environment or
/// `RUST_LOG`, and says what to write instead.
#[test]
fn check_refuses_a_log_filter_that_would_silence_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, why) in [
        ("HAETAE_LOG__LEVEL", "inof", "neither a level"),
        ("RUST_LOG", "hyper=debug", "hide the gateway's own errors"),
    ] {
        let out = haetae(dir.path(), &["serve", "--check"], &[(var, value)]);
        assert!(!out.status.success(), "{var}={value}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(why) && err.contains(value), "{err}");
    }
    let out = haetae(
        dir.path(),
        &["serve", "--check"],
        &[("RUST_LOG", "warn,hyper=debug")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `--check` writes nothing, but it asks the system whether the gateway could write where the settings say it will
/// (the log directory, keys it would create, the stored-response table), so a check that passes is a start that
/// does not fail on a read-only or misplaced directory.
#[test]
fn check_refuses_directories_the_gateway_could_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("audit");
    let out = haetae(
        dir.path(),
        &["serve", "--check"],
        &[("HAETAE_AUDIT__DIR", under_file.to_str().unwrap())],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("audit.dir = ")
            && err.contains("ot a directory")
            && err.contains("would not start"),
        "{err}"
    );
    assert!(!under_file.exists());
    let out = haetae(
        dir.path(),
        &["serve", "--check"],
        &[(
            "HAETAE_ROUTING__STORED_RESPONSES_FILE",
            dir.path().to_str().unwrap(),
        )],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a directory, not a file"),
        "{}",
        stderr(&out)
    );
}

/// An error names its cause once (the crate's errors hold their source's text, which the chain would repeat).
#[test]
fn errors_name_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = haetae(
        dir.path(),
        &["serve", "--check", "--config", "/nonexistent/haetae.toml"],
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("/nonexistent/haetae.toml"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn check_strict_refuses_unset_credentials() {
    let dir = tempfile::tempdir().unwrap();
    // The built-in destinations read OPENAI_API_KEY, ANTHROPIC_API_KEY and GEMINI_API_KEY; none is set here.
    let out = haetae(dir.path(), &["serve", "--check"], &[]);
    assert!(out.status.success(), "reported only: {}", stderr(&out));
    assert!(stderr(&out).contains("NOT SET"), "{}", stderr(&out));
    let out = haetae(dir.path(), &["serve", "--check", "--strict"], &[]);
    assert!(!out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--strict") && err.contains("$OPENAI_API_KEY"),
        "{err}"
    );
    let all = [
        ("OPENAI_API_KEY", "sk-x"),
        ("ANTHROPIC_API_KEY", "sk-ant-x"),
        ("GEMINI_API_KEY", "g-x"),
    ];
    let out = haetae(dir.path(), &["serve", "--check", "--strict"], &all);
    assert!(out.status.success(), "{}", stderr(&out));
    // --strict belongs to --check
    let out = haetae(dir.path(), &["serve", "--strict"], &all);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn check_refuses_shared_listener_addresses_and_nonsensical_limits() {
    let dir = tempfile::tempdir().unwrap();
    for (env, key) in [
        (
            vec![
                ("HAETAE_SERVER__LISTEN", "127.0.0.1:18080"),
                ("HAETAE_SERVER__ADMIN_LISTEN", "127.0.0.1:18080"),
            ],
            "server.admin_listen",
        ),
        (
            vec![
                ("HAETAE_SERVER__LISTEN", "0.0.0.0:18080"),
                ("HAETAE_SERVER__ALLOW_UNAUTHENTICATED", "true"),
                ("HAETAE_SERVER__ADMIN_LISTEN", "127.0.0.1:18080"),
            ],
            "server.admin_listen",
        ),
        (
            vec![
                ("HAETAE_SERVER__ADMIN_LISTEN", "127.0.0.1:19090"),
                ("HAETAE_AUDIT__AUDITOR_LISTEN", "127.0.0.1:19090"),
                ("HAETAE_AUDIT__AUDITOR_TOKEN_SHA256", &"a".repeat(64)),
            ],
            "audit.auditor_listen",
        ),
        (
            vec![
                ("HAETAE_SERVER__LISTEN", "127.0.0.1:18080"),
                ("HAETAE_AUDIT__AUDITOR_LISTEN", "127.0.0.1:18080"),
                ("HAETAE_AUDIT__AUDITOR_TOKEN_SHA256", &"a".repeat(64)),
            ],
            "audit.auditor_listen",
        ),
        (
            vec![("HAETAE_LIMITS__MAX_SSE_EVENT_BYTES", "10")],
            "limits.max_sse_event_bytes",
        ),
        (
            vec![
                ("HAETAE_LIMITS__MAX_REQUEST_BODY_BYTES", "1048576"),
                ("HAETAE_LIMITS__MAX_DECODED_BODY_BYTES", "1000"),
            ],
            "limits.max_decoded_body_bytes",
        ),
    ] {
        let out = haetae(dir.path(), &["serve", "--check"], &env);
        assert!(!out.status.success(), "{env:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(key), "{env:?}: {}", stderr(&out));
    }
    // Distinct ports, and port 0, are fine.
    let out = haetae(
        dir.path(),
        &["serve", "--check"],
        &[
            ("HAETAE_SERVER__LISTEN", "127.0.0.1:0"),
            ("HAETAE_SERVER__ADMIN_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn check_warns_when_the_open_files_limit_cannot_serve_max_connections() {
    let dir = tempfile::tempdir().unwrap();
    // 1024: a service manager's usual soft limit (set as hard too, so the gateway cannot raise it)
    let run = |env: &[(&str, &str)]| {
        let out = Command::new("sh")
            .args([
                "-c",
                "ulimit -n 1024 && exec \"$0\" serve --check",
                env!("CARGO_BIN_EXE_haetae"),
            ])
            .current_dir(dir.path())
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "a warning, not an error: {}",
            stderr(&out)
        );
        stderr(&out)
    };
    let err = run(&[]);
    assert!(
        err.contains("WARNING") && err.contains("limits.max_connections = 10000"),
        "{err}"
    );
    let err = run(&[("HAETAE_LIMITS__MAX_CONNECTIONS", "300")]);
    assert!(!err.contains("WARNING"), "{err}");
}

/// With `log.format = "json"` every line the gateway writes to stderr is one JSON object, the start-up summary
/// included (one `gateway started` event carrying the addresses as fields and the readable summary as a string), so
/// a log collector never meets a plain-text line.
/// A gateway that cannot start (here: its policy file does not compile) says why in a JSON event when the logs are
/// JSON, and exits 2; the same failure is plain text with text logs.
#[test]
fn a_failed_start_is_logged_in_the_log_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[[detect.detectors]]\nid = \"ACME_ID\"\npattern = '(unclosed'\n",
    )
    .unwrap();
    let env = |format| {
        [
            ("HAETAE_LOG__FORMAT", format),
            ("HAETAE_POLICY__FILE", "policy.toml"),
            ("HAETAE_SERVER__LISTEN", "127.0.0.1:0"),
            ("HAETAE_SERVER__ADMIN_LISTEN", "127.0.0.1:0"),
        ]
    };
    let out = haetae(dir.path(), &["serve"], &env("json"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let events: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let failed = events
        .iter()
        .find(|e| e["message"] == "gateway did not start")
        .unwrap_or_else(|| panic!("no start-up failure event in {err}"));
    assert_eq!(failed["level"], "ERROR", "{failed}");
    let reason = failed["error"].as_str().unwrap();
    assert!(reason.contains("ACME_ID"), "{reason}");
    let out = haetae(dir.path(), &["serve"], &env("text"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("haetae: error: "), "{err}");
    assert!(err.contains("ACME_ID"), "{err}");
}

#[tokio::test]
async fn json_logs_are_json_from_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.log.format = haetae::config::LogFormat::Json;
    settings.audit.dir = dir.path().join("audit");
    settings.audit.signing_key_file = dir.path().join("audit.key");
    let config = dir.path().join("haetae.toml");
    std::fs::write(&config, toml::to_string(&settings).unwrap()).unwrap();
    let gateway = GatewayProcess::spawn(&config, &[("OPENAI_API_KEY", "sk-provider-openai")]);
    let started = gateway.wait_for("start-up event", &|l| {
        l.contains("gateway started").then(|| l.to_owned())
    });
    let event: serde_json::Value = serde_json::from_str(&started).unwrap();
    assert_eq!(event["level"], "INFO", "{event}");
    let listen = event["listen"].as_str().unwrap().to_owned();
    assert_eq!(gateway.base_url(), format!("http://{listen}"));
    assert!(
        event["admin"].as_str().is_some_and(|a| !a.is_empty()),
        "{event}"
    );
    assert!(
        event["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("listening     http://{listen}")),
        "{event}"
    );
    // A request, so the access log has a line too.
    let (s, _, _) = send(
        "POST",
        &format!("http://{listen}/v1/chat/completions"),
        &[("content-type", "application/json")],
        serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
    )
    .await;
    assert_eq!(s, 200);
    gateway.wait_for("access log line", &|l| {
        l.contains("\"request\"").then(String::new)
    });
    // A stored response's stream is asked for in the query, not the body: the line says stream all the same.
    let (s, _, _) = send(
        "GET",
        &format!("http://{listen}/v1/responses/resp_0a1b2c?stream=true"),
        &[],
        String::new(),
    )
    .await;
    assert_eq!(s, 200);
    let line = gateway.wait_for("the stream's access log line", &|l| {
        l.contains("/v1/responses/resp_0a1b2c")
            .then(|| l.to_owned())
    });
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["stream"], true, "{line}");
    let log = gateway.log();
    let chat = log
        .lines()
        .find(|l| l.contains("/v1/chat/completions"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(chat).unwrap();
    assert_eq!(v["stream"], false, "{chat}");
    for line in log.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.is_object()),
            "not a JSON object: {line}"
        );
    }
}
