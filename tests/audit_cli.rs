//! `haetae audit` end to end through the real binary: keygen → log written by the library → verify → prove by
//! request id → check-proof → export → report; tampering makes `verify` name the first bad index and exit 1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use haetae::audit::merkle::leaf_hash;
use haetae::audit::tiles::{decode_bundle, encode_bundle};
use haetae::audit::{AuditLog, AuditOptions, DestinationInfo, NoteSigner, ResidencyRecord};

fn haetae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haetae"))
        .args(args)
        .env_remove("HAETAE_AUDIT_SIGNING_KEY")
        .env_remove("HAETAE_AUDIT_VERIFIER_KEY")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn write_log(dir: &Path, key_file: &Path, n: u64) {
    let key = std::fs::read_to_string(key_file).unwrap();
    let mut o = AuditOptions::new(NoteSigner::from_private_key_string(&key).unwrap(), "gw-1");
    o.checkpoint_interval = Duration::from_secs(3600);
    let log = AuditLog::open(dir, o).unwrap();
    for i in 0..n {
        let r = ResidencyRecord {
            request_id: format!("req-{i}"),
            tenant: "t".into(),
            outcome: "forwarded".into(),
            classification: "personal".into(),
            findings: [("kr_rrn".to_owned(), 1)].into(),
            destination: Some(DestinationInfo {
                name: "openai-us".into(),
                jurisdiction: "US".into(),
                region: None,
                upstream_host: "api.openai.com".into(),
            }),
            ..Default::default()
        };
        log.append_request(r).wait_blocking().unwrap();
    }
    log.close().unwrap();
}

#[test]
fn audit_cli_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("log.key");
    let key_str = key_file.to_str().unwrap();
    let keygen = haetae(&[
        "audit",
        "keygen",
        "--name",
        "haetae.example.kr/gw-1",
        "--out",
        key_str,
    ]);
    assert!(keygen.status.success(), "{keygen:?}");
    let vkey = stdout(&keygen).trim().to_owned();
    assert!(vkey.starts_with("haetae.example.kr/gw-1+"));
    let private = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !stdout(&keygen).contains(private.trim()),
        "keygen must not print the private key"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // keygen never overwrites.
    assert!(
        !haetae(&["audit", "keygen", "--name", "x.example/y", "--out", key_str])
            .status
            .success()
    );
    let pubkey = haetae(&["audit", "pubkey", "--key-file", key_str]);
    assert_eq!(stdout(&pubkey).trim(), vkey);

    let dir = tmp.path().join("log");
    write_log(&dir, &key_file, 300);
    let d = dir.to_str().unwrap();

    let ok = haetae(&["audit", "verify", d, "--vkey", &vkey]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        stdout(&ok).starts_with("OK haetae.example.kr/gw-1 size 300"),
        "{}",
        stdout(&ok)
    );

    let proof_file = tmp.path().join("p.tlog-proof");
    let prove = haetae(&[
        "audit",
        "prove",
        d,
        "--vkey",
        &vkey,
        "--request-id",
        "req-123",
        "--out",
        proof_file.to_str().unwrap(),
    ]);
    assert!(prove.status.success(), "{prove:?}");
    let check = haetae(&[
        "audit",
        "check-proof",
        proof_file.to_str().unwrap(),
        "--vkey",
        &vkey,
    ]);
    assert!(check.status.success(), "{check:?}");
    assert!(stdout(&check).contains("OK index 123"));

    // Check with only the leaf hash from a receipt: right hash passes, wrong hash fails.
    let export = haetae(&["audit", "export", d, "--vkey", &vkey, "--format", "jsonl"]);
    assert!(export.status.success());
    let export_out = stdout(&export);
    let lines: Vec<&str> = export_out.lines().collect();
    assert_eq!(lines.len(), 300);
    let h123 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        leaf_hash(lines[123].as_bytes()),
    );
    let h124 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        leaf_hash(lines[124].as_bytes()),
    );
    let pf = proof_file.to_str().unwrap();
    assert!(haetae(&[
        "audit",
        "check-proof",
        pf,
        "--vkey",
        &vkey,
        "--leaf-hash",
        &h123
    ])
    .status
    .success());
    let bad = haetae(&[
        "audit",
        "check-proof",
        pf,
        "--vkey",
        &vkey,
        "--leaf-hash",
        &h124,
    ]);
    assert_eq!(bad.status.code(), Some(1));

    let csv = haetae(&[
        "audit",
        "export",
        d,
        "--vkey",
        &vkey,
        "--format",
        "csv",
        "--from",
        "2000-01-01",
        "--to",
        "2999-01-01",
    ]);
    let csv_out = stdout(&csv);
    assert_eq!(csv_out.lines().count(), 301);
    assert!(csv_out
        .lines()
        .next()
        .unwrap()
        .starts_with("seq,time,kind,request_id"));
    let none = haetae(&["audit", "export", d, "--vkey", &vkey, "--to", "2000-01-01"]);
    assert_eq!(stdout(&none), "");

    let month = &lines[0][lines[0].find("\"time\":\"").unwrap() + 8..][..7];
    let report = haetae(&[
        "audit", "report", d, "--vkey", &vkey, "--month", month, "--json",
    ]);
    assert!(report.status.success(), "{report:?}");
    let j: serde_json::Value = serde_json::from_str(&stdout(&report)).unwrap();
    assert_eq!(j["requests"], 300);
    assert_eq!(j["forwarded_abroad"], 300);
    assert_eq!(j["entities_abroad"]["kr_rrn"], 300);

    // Tamper with entry 42 → verify names it and exits 1.
    let rel = dir.join("tile/entries/000");
    let bytes = std::fs::read(&rel).unwrap();
    let mut entries: Vec<Vec<u8>> = decode_bundle(&bytes)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    entries[42] = entries[42]
        .iter()
        .map(|&b| if b == b'U' { b'K' } else { b })
        .collect();
    std::fs::write(
        &rel,
        encode_bundle(entries.iter().map(Vec::as_slice)).unwrap(),
    )
    .unwrap();
    let fail = haetae(&["audit", "verify", d, "--vkey", &vkey]);
    assert_eq!(fail.status.code(), Some(1));
    assert!(
        stdout(&fail).starts_with("FAIL first bad index 42:"),
        "{}",
        stdout(&fail)
    );
    let fail_json = haetae(&["audit", "verify", d, "--vkey", &vkey, "--json"]);
    let j: serde_json::Value = serde_json::from_str(&stdout(&fail_json)).unwrap();
    assert_eq!(j["first_bad_index"], 42);

    // Wrong key.
    let other = NoteSigner::generate("haetae.example.kr/gw-1")
        .unwrap()
        .verifier()
        .to_key_string();
    let wrong = haetae(&["audit", "verify", d, "--vkey", &other]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stdout(&wrong).contains("no signature by key"));
}

#[test]
fn audit_cli_across_shards_and_prune() {
    let tmp = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate("haetae.example.kr/gw-2").unwrap();
    let vkey = signer.verifier().to_key_string();
    let dir = tmp.path().join("log");
    let d = dir.to_str().unwrap();
    let mut o = AuditOptions::new(
        NoteSigner::from_private_key_string(&signer.to_private_key_string()).unwrap(),
        "gw-2",
    );
    o.checkpoint_interval = Duration::from_secs(3600);
    o.rotate_max_bytes = Some(2048);
    let log = AuditLog::open(&dir, o).unwrap();
    let mut receipts = Vec::new();
    for i in 0..30 {
        let r = ResidencyRecord {
            request_id: format!("req-{i}"),
            outcome: "forwarded".into(),
            ..Default::default()
        };
        receipts.push(log.append_request(r).wait_blocking().unwrap());
    }
    log.close().unwrap();

    let ok = haetae(&["audit", "verify", d, "--vkey", &vkey]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(stdout(&ok).contains("shards chained"), "{}", stdout(&ok));

    // A receipt names the shard in its origin: prove with --shard/--index, check offline.
    let r = &receipts[20];
    let shard = r.origin.rsplit('/').next().unwrap();
    assert!(r.origin.starts_with("haetae.example.kr/gw-2/shards/"));
    let index = r.index.to_string();
    let ambiguous = haetae(&["audit", "prove", d, "--vkey", &vkey, "--index", &index]);
    assert!(!ambiguous.status.success());
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("--shard"));
    let proof_file = tmp.path().join("proof");
    let p = proof_file.to_str().unwrap();
    let prove = haetae(&[
        "audit", "prove", d, "--vkey", &vkey, "--shard", shard, "--index", &index, "--out", p,
    ]);
    assert!(prove.status.success(), "{prove:?}");
    let hash = r.leaf_hash_base64();
    let check = haetae(&[
        "audit",
        "check-proof",
        p,
        "--vkey",
        &vkey,
        "--leaf-hash",
        &hash,
    ]);
    assert!(check.status.success(), "{check:?}");
    assert!(stdout(&check).contains(&*r.origin), "{}", stdout(&check));
    let by_id = haetae(&[
        "audit",
        "prove",
        d,
        "--vkey",
        &vkey,
        "--request-id",
        "req-20",
    ]);
    assert!(by_id.status.success());
    assert_eq!(by_id.stdout, std::fs::read(&proof_file).unwrap());

    // Export walks every shard.
    let export = haetae(&["audit", "export", d, "--vkey", &vkey, "--format", "csv"]);
    assert!(export.status.success());
    let csv = stdout(&export);
    assert_eq!(csv.lines().filter(|l| l.contains(",request,")).count(), 30);
    assert!(csv.lines().any(|l| l.contains(",shard_start,")));

    // Prune: everything is inside a 1-day retention.
    let prune = haetae(&[
        "audit",
        "prune",
        d,
        "--vkey",
        &vkey,
        "--retention-days",
        "1",
        "--json",
    ]);
    assert!(prune.status.success(), "{prune:?}");
    let j: serde_json::Value = serde_json::from_str(&stdout(&prune)).unwrap();
    assert_eq!(j["pruned"].as_array().unwrap().len(), 0);
    assert!(j["stopped_at"].as_str().unwrap().contains("retention"));
    let zero = haetae(&[
        "audit",
        "prune",
        d,
        "--vkey",
        &vkey,
        "--retention-days",
        "0",
    ]);
    assert!(!zero.status.success());
    // A broken chain is refused with exit 1 and nothing is deleted.
    std::fs::remove_dir_all(dir.join("shards/1")).unwrap();
    let broken = haetae(&[
        "audit",
        "prune",
        d,
        "--vkey",
        &vkey,
        "--retention-days",
        "1",
    ]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stdout(&broken).contains("nothing was pruned"),
        "{}",
        stdout(&broken)
    );
    let fail = haetae(&["audit", "verify", d, "--vkey", &vkey]);
    assert_eq!(fail.status.code(), Some(1));
    assert!(
        stdout(&fail).starts_with("FAIL first bad shard 1:"),
        "{}",
        stdout(&fail)
    );
}
