//! Policy files on the request path: custom detectors from `policy.file`, atomic reload (in-process and by SIGHUP to
//! the real binary), failed reloads that keep the live policy, refused start-ups, and the residency record of each
//! change.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    missing_docs
)]

mod support;

use std::path::Path;

use haetae::audit::Entry;
use haetae::proxy::Reload;
use serde_json::json;
use support::*;

/// Adds an employee-id detector to the builtins.
const POLICY_A: &str =
    "[detect]\n[[detect.detectors]]\nid = \"ACME_EMPLOYEE_ID\"\npattern = 'EMP-[0-9]{6}'\n";
/// Replaces it with a contract-number detector and turns the builtin e-mail detector off.
const POLICY_B: &str = "[detect]\nbuiltins = { disabled = [\"EMAIL\"] }\n\n[[detect.detectors]]\nid = \"ACME_CONTRACT_NO\"\npattern = 'C[0-9]{4}-[0-9]{5}'\n";
/// Does not compile.
const POLICY_BAD_REGEX: &str =
    "[detect]\n[[detect.detectors]]\nid = \"SECRET_PROJECT\"\npattern = 'Blue (Tiger'\n";
/// Has rules this version does not enforce.
const POLICY_ROUTING: &str = "[detect]\n\n[routing]\nblock = [\"KR_RRN\"]\n";

fn chat() -> String {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user",
        "content": "사번 EMP-123456, 계약 C1234-56789, 메일 kim@example.com"}]})
    .to_string()
}

async fn findings(gw: &TestGateway) -> String {
    let (s, h, body) = gw.post("/v1/chat/completions", chat()).await;
    assert_eq!(s, 200, "{body:?}");
    h["x-haetae-findings"].to_str().unwrap().to_owned()
}

fn write_policy(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn a_reload_swaps_the_policy_atomically_and_a_bad_file_keeps_the_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    write_policy(&policy, POLICY_A);
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.policy.file = Some(policy.clone());
    settings.audit.checkpoint_interval_ms = 20;
    let gw = start_with(mock, settings.clone()).await;
    let hash_a = gw.shared.policy.load().hash.clone();

    assert_eq!(findings(&gw).await, "ACME_EMPLOYEE_ID=1,EMAIL=1");

    write_policy(&policy, POLICY_B);
    let hash_b = match gw.shared.reload_policy("test").await.unwrap() {
        Reload::Swapped { previous, current } => {
            assert_eq!(previous, hash_a);
            current
        }
        other => panic!("expected a swap, got {other:?}"),
    };
    assert_eq!(findings(&gw).await, "ACME_CONTRACT_NO=1");
    assert_eq!(
        gw.shared.reload_policy("test").await.unwrap(),
        Reload::Unchanged {
            hash: hash_b.clone()
        }
    );

    // Broken files: the error names the file and the detector or table; the running policy stays live.
    for (text, names) in [
        (POLICY_BAD_REGEX, "SECRET_PROJECT"),
        (POLICY_ROUTING, "[routing]"),
        ("[detect\n", "policy.toml"),
    ] {
        write_policy(&policy, text);
        let e = gw
            .shared
            .reload_policy("test")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("policy.toml") && e.contains(names), "{e}");
        assert_eq!(findings(&gw).await, "ACME_CONTRACT_NO=1");
        assert_eq!(gw.shared.policy.load().hash, hash_b);
    }
    std::fs::remove_file(&policy).unwrap();
    assert!(gw.shared.reload_policy("test").await.is_err());
    assert_eq!(findings(&gw).await, "ACME_CONTRACT_NO=1");
    // An operator can alert on failed reloads.
    let (_, _, metrics) = send("GET", &format!("http://{}/metrics", gw.admin), &[], "").await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    for line in [
        "haetae_policy_reloads_total{result=\"swapped\"} 1",
        "haetae_policy_reloads_total{result=\"unchanged\"} 1",
        "haetae_policy_reloads_total{result=\"failed\"} 4",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    gw.shutdown().await;

    // The log: config, policy A installed at start-up, 2 records for the request under A, the change A → B, then
    // 2 records for each of the 5 requests under B.
    let v = verifier(&settings);
    let leaves = leaves_when_published(&settings.audit.dir, &v, 15);
    let changes: Vec<(Option<String>, String, Option<String>)> = leaves
        .iter()
        .filter_map(|l| match &l.entry {
            Entry::PolicyChange(c) => {
                Some((c.previous_hash.clone(), c.new_hash.clone(), c.actor.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [
            (None, hash_a.clone(), Some("startup".to_owned())),
            (
                Some(hash_a.clone()),
                hash_b.clone(),
                Some("test".to_owned())
            ),
        ]
    );
    let hashes: Vec<&str> = leaves
        .iter()
        .filter_map(|l| l.entry.as_request())
        .map(|r| r.policy_hash.as_str())
        .collect();
    assert_eq!(hashes.len(), 12);
    assert!(hashes[..2].iter().all(|h| *h == hash_a));
    assert!(hashes[2..].iter().all(|h| *h == hash_b));
}

#[tokio::test]
async fn a_policy_that_does_not_load_stops_the_start_and_none_means_nothing_to_reload() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    for (text, names) in [
        (POLICY_BAD_REGEX, "SECRET_PROJECT"),
        (POLICY_ROUTING, "[routing]"),
    ] {
        let policy = dir.path().join("start.toml");
        write_policy(&policy, text);
        let mut settings = settings_for(&mock);
        settings.policy.file = Some(policy);
        // `haetae serve --check` compiles the policy too.
        let e = haetae::proxy::Gateway::check(&settings, |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("start.toml") && e.contains(names), "{e}");
        let e = match haetae::proxy::Gateway::bind(settings, |_| None).await {
            Ok(_) => panic!("a gateway started with a bad policy"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("start.toml") && e.contains(names), "{e}");
    }

    // Without a policy file the built-in default is live and a reload has nothing to read.
    let gw = start_with(mock, settings_for(&MockProvider::start().await)).await;
    assert!(gw.shared.policy.load().source.is_none());
    let e = gw
        .shared
        .reload_policy("test")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("policy.file is not set"), "{e}");
    gw.shutdown().await;
}

/// The real binary, as an operator runs it: `kill -HUP` reloads the file named by `policy.file`.
#[tokio::test]
async fn sighup_reloads_the_policy_of_the_running_binary() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    write_policy(&policy, POLICY_A);
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.enabled = false;
    settings.policy.file = Some(policy.clone());
    let config = dir.path().join("haetae.toml");
    std::fs::write(&config, toml::to_string(&settings).unwrap()).unwrap();
    let gateway = GatewayProcess::spawn(&config, &[("OPENAI_API_KEY", "sk-provider-openai")]);
    let base = gateway.base_url();
    let banner_policy = gateway.wait_for("policy line", &|l| {
        l.trim().strip_prefix("policy").map(|p| p.trim().to_owned())
    });
    assert!(
        banner_policy.contains("policy.toml") && banner_policy.contains("sha256"),
        "{banner_policy}"
    );
    let url = format!("{base}/v1/chat/completions");
    let post = |url: String| async move {
        let (s, h, _) = send(
            "POST",
            &url,
            &[("content-type", "application/json")],
            chat(),
        )
        .await;
        assert_eq!(s, 200);
        h["x-haetae-findings"].to_str().unwrap().to_owned()
    };
    assert_eq!(post(url.clone()).await, "ACME_EMPLOYEE_ID=1,EMAIL=1");

    write_policy(&policy, POLICY_B);
    gateway.signal("HUP");
    gateway.wait_for("reload line", &|l| {
        l.contains("policy reloaded").then(String::new)
    });
    assert_eq!(post(url.clone()).await, "ACME_CONTRACT_NO=1");

    // A broken file on the next SIGHUP: logged, and the process keeps serving under B.
    write_policy(&policy, POLICY_BAD_REGEX);
    gateway.signal("HUP");
    gateway.wait_for("failed reload line", &|l| {
        l.contains("policy reload failed").then(String::new)
    });
    assert_eq!(post(url).await, "ACME_CONTRACT_NO=1");
}

/// `systemctl reload` on a gateway without `policy.file`: a warning that there is nothing to reload, not an ERROR
/// or a failed reload on `/metrics`; the gateway keeps serving.
#[tokio::test]
async fn sighup_without_a_policy_file_is_a_warning_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await;
    let mut settings = settings_for(&mock);
    settings.audit.enabled = false;
    let config = dir.path().join("haetae.toml");
    std::fs::write(&config, toml::to_string(&settings).unwrap()).unwrap();
    let gateway = GatewayProcess::spawn(&config, &[("OPENAI_API_KEY", "sk-provider-openai")]);
    let base = gateway.base_url();
    let admin = gateway.wait_for("admin line", &|l| {
        l.trim()
            .strip_prefix("admin")
            .and_then(|a| a.split_whitespace().next())
            .map(str::to_owned)
    });
    gateway.signal("HUP");
    let line = gateway.wait_for("the SIGHUP line", &|l| {
        l.contains("nothing to reload").then(|| l.to_owned())
    });
    assert!(line.contains("WARN") && !line.contains("ERROR"), "{line}");
    let (s, _, body) = send("GET", &format!("{admin}/metrics"), &[], String::new()).await;
    assert_eq!(s, 200);
    let metrics = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        !metrics.contains("haetae_policy_reloads_total{result=\"failed\"} 1"),
        "{metrics}"
    );
    let (s, _, _) = send(
        "POST",
        &format!("{base}/v1/chat/completions"),
        &[("content-type", "application/json")],
        chat(),
    )
    .await;
    assert_eq!(s, 200);
}
