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
            findings_incomplete: false,
            uninspected: Default::default(),
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

fn new_key(tmp: &Path) -> (std::path::PathBuf, String) {
    let signer = NoteSigner::generate("haetae.example.kr/gw-1").unwrap();
    let key_file = tmp.join("log.key");
    std::fs::write(&key_file, signer.to_private_key_string()).unwrap();
    (key_file, signer.verifier().to_key_string())
}

/// Rewrite entry `index` of the only (partial) entry bundle with `edit`; with `fix_tile`, also rewrite its
/// level-0 tile hash so that the entry matches its tile (only the root then disagrees with the checkpoint).
fn tamper_entry(dir: &Path, n: u64, index: usize, fix_tile: bool, edit: impl Fn(&[u8]) -> Vec<u8>) {
    let rel = dir.join(format!("tile/entries/000.p/{n}"));
    let mut entries: Vec<Vec<u8>> = decode_bundle(&std::fs::read(&rel).unwrap())
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    entries[index] = edit(&entries[index]);
    std::fs::write(
        &rel,
        encode_bundle(entries.iter().map(Vec::as_slice)).unwrap(),
    )
    .unwrap();
    if fix_tile {
        let tile = dir.join(format!("tile/0/000.p/{n}"));
        let mut bytes = std::fs::read(&tile).unwrap();
        bytes[index * 32..index * 32 + 32].copy_from_slice(&leaf_hash(&entries[index]));
        std::fs::write(&tile, bytes).unwrap();
    }
}

fn us_to_kr(e: &[u8]) -> Vec<u8> {
    String::from_utf8(e.to_vec())
        .unwrap()
        .replace("\"jurisdiction\":\"US\"", "\"jurisdiction\":\"KR\"")
        .into_bytes()
}

/// Review #1: `export` and `report` verify every leaf up to the signed checkpoint before showing anything; a
/// tampered log is refused with exit 1, nothing on stdout, and the bad index on stderr.
#[test]
fn export_and_report_refuse_a_tampered_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (key_file, vkey) = new_key(tmp.path());
    for fix_tile in [false, true] {
        let dir = tmp.path().join(format!("log-{fix_tile}"));
        write_log(&dir, &key_file, 20);
        let d = dir.to_str().unwrap();
        let month = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year]-[month]"))
            .unwrap();
        let before = haetae(&["audit", "report", d, "--vkey", &vkey, "--month", &month]);
        assert!(before.status.success(), "{before:?}");
        tamper_entry(&dir, 20, 7, fix_tile, us_to_kr);
        for args in [
            vec!["audit", "export", d, "--vkey", &vkey],
            vec!["audit", "export", d, "--vkey", &vkey, "--format", "csv"],
            vec!["audit", "report", d, "--vkey", &vkey, "--month", &month],
            vec![
                "audit", "report", d, "--vkey", &vkey, "--month", &month, "--json",
            ],
        ] {
            let o = haetae(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{args:?} {o:?}");
            assert_eq!(stdout(&o), "", "{args:?} printed unverified output");
            assert!(err.contains("does not verify"), "{err}");
            if !fix_tile {
                assert!(err.contains("index 7"), "{err}");
            }
        }
    }
}

/// Review #2: under `before-forward` durability each request leaves a `decided` record and an outcome record;
/// the report counts the request (and its findings) once, and a `decided` record without an outcome once, as such.
#[test]
fn report_counts_each_request_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (key_file, vkey) = new_key(tmp.path());
    let dir = tmp.path().join("log");
    let key = std::fs::read_to_string(&key_file).unwrap();
    let mut o = AuditOptions::new(NoteSigner::from_private_key_string(&key).unwrap(), "gw-1");
    o.checkpoint_interval = Duration::from_secs(3600);
    let log = AuditLog::open(&dir, o).unwrap();
    let record = |i: u64, outcome: &str| ResidencyRecord {
        request_id: format!("req-{i}"),
        outcome: outcome.into(),
        findings: [("KR_RRN".to_owned(), 1), ("EMAIL".to_owned(), 1)].into(),
        findings_incomplete: false,
        uninspected: Default::default(),
        destination: Some(DestinationInfo {
            name: "openai".into(),
            jurisdiction: "US".into(),
            region: None,
            upstream_host: "api.openai.com".into(),
        }),
        ..Default::default()
    };
    for i in 0..10 {
        log.append_request(record(i, "decided"))
            .wait_blocking()
            .unwrap();
        log.append_request(record(i, "forwarded"))
            .wait_blocking()
            .unwrap();
    }
    // Interleaved: 10 decided, 11 decided, 10 outcome; 11 never gets its outcome (crash).
    log.append_request(record(20, "decided"))
        .wait_blocking()
        .unwrap();
    log.append_request(record(21, "decided"))
        .wait_blocking()
        .unwrap();
    log.append_request(record(20, "upstream_error"))
        .wait_blocking()
        .unwrap();
    // after-response durability: one record only.
    log.append_request(record(30, "forwarded"))
        .wait_blocking()
        .unwrap();
    log.close().unwrap();
    let d = dir.to_str().unwrap();
    let month = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year]-[month]"))
        .unwrap();
    let report = haetae(&[
        "audit", "report", d, "--vkey", &vkey, "--month", &month, "--json",
    ]);
    assert!(report.status.success(), "{report:?}");
    let j: serde_json::Value = serde_json::from_str(&stdout(&report)).unwrap();
    assert_eq!(j["requests"], 13, "{j}");
    assert_eq!(j["forwarded_abroad"], 13, "{j}");
    assert_eq!(j["by_jurisdiction"]["US"], 13, "{j}");
    assert_eq!(j["entities_abroad"]["KR_RRN"], 13, "{j}");
    assert_eq!(j["entities_abroad"]["EMAIL"], 13, "{j}");
    assert_eq!(j["by_outcome"]["forwarded"], 11, "{j}");
    assert_eq!(j["by_outcome"]["upstream_error"], 1, "{j}");
    assert_eq!(j["by_outcome"]["decided"], 1, "{j}");
    assert_eq!(j["no_outcome"], 1, "{j}");
    let text = haetae(&["audit", "report", d, "--vkey", &vkey, "--month", &month]);
    let text = stdout(&text);
    assert!(text.contains("Requests: 13\n"), "{text}");
    assert!(
        text.contains(
            "Requests with no outcome record (decided, then the gateway stopped or crashed): 1"
        ),
        "{text}"
    );
}

/// Review #6: `export --from/--to` take `YYYY-MM-DD` or RFC 3339 with any offset (converted to UTC) and reject
/// anything else with exit 2 and a message.
#[test]
fn export_time_bounds_are_parsed() {
    let tmp = tempfile::tempdir().unwrap();
    let (key_file, vkey) = new_key(tmp.path());
    let dir = tmp.path().join("log");
    write_log(&dir, &key_file, 7);
    let d = dir.to_str().unwrap();
    let kst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let now = time::OffsetDateTime::now_utc();
    let hour_ago_kst = rfc((now - time::Duration::hours(1)).to_offset(kst));
    let in_an_hour_kst = rfc((now + time::Duration::hours(1)).to_offset(kst));
    let lines = |args: &[&str]| {
        let mut all = vec!["audit", "export", d, "--vkey", &vkey];
        all.extend_from_slice(args);
        let o = haetae(&all);
        assert!(o.status.success(), "{args:?} {o:?}");
        stdout(&o).lines().count()
    };
    assert_eq!(lines(&["--from", &hour_ago_kst]), 7);
    assert_eq!(lines(&["--to", &hour_ago_kst]), 0);
    assert_eq!(lines(&["--from", &in_an_hour_kst]), 0);
    assert_eq!(lines(&["--to", &in_an_hour_kst]), 7);
    assert_eq!(lines(&["--from", &rfc(now - time::Duration::hours(1))]), 7);
    let today = now
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap();
    let tomorrow = (now + time::Duration::days(1))
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap();
    assert_eq!(lines(&["--from", &tomorrow]), 0);
    assert_eq!(lines(&["--to", &tomorrow]), 7);
    assert_eq!(lines(&["--to", &today]), 0);
    for bad in [
        "2026/11/01",
        "01.11.2026",
        "yesterday",
        "2026-99-99",
        "2026-11",
        "2026-11-29T09",
        "2026-11-29 09:35:01",
        "",
    ] {
        for flag in ["--from", "--to"] {
            let o = haetae(&["audit", "export", d, "--vkey", &vkey, flag, bad]);
            assert_eq!(o.status.code(), Some(2), "{flag} {bad:?} {o:?}");
            assert_eq!(stdout(&o), "");
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("YYYY-MM-DD") && err.contains("RFC 3339"),
                "{err}"
            );
        }
    }
}

fn write_many(dir: &Path, key_file: &Path, n: u64) {
    let key = std::fs::read_to_string(key_file).unwrap();
    let mut o = AuditOptions::new(NoteSigner::from_private_key_string(&key).unwrap(), "gw-1");
    o.checkpoint_interval = Duration::from_secs(3600);
    let log = AuditLog::open(dir, o).unwrap();
    let pending: Vec<_> = (0..n)
        .map(|i| {
            log.append_request(ResidencyRecord {
                request_id: format!("req-{i}"),
                outcome: "forwarded".into(),
                ..Default::default()
            })
        })
        .collect();
    for p in pending {
        p.wait_blocking().unwrap();
    }
    log.close().unwrap();
}

/// Review #11: messages that say what is wrong — a wrong verifier key is not "corrupt" and names both keys; a
/// truncated entry names its own index; a missing checkpoint says the log has none; errors do not repeat.
#[test]
fn verify_messages_name_the_real_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let (key_file, vkey) = new_key(tmp.path());
    let dir = tmp.path().join("log");
    write_log(&dir, &key_file, 9);
    let d = dir.to_str().unwrap();
    let right_id = vkey.split('+').nth(1).unwrap().to_owned();

    let other = NoteSigner::generate("haetae.example.kr/gw-1")
        .unwrap()
        .verifier()
        .to_key_string();
    let other_id = other.split('+').nth(1).unwrap().to_owned();
    for json in [false, true] {
        let mut args = vec!["audit", "verify", d, "--vkey", &other];
        if json {
            args.push("--json");
        }
        let wrong = haetae(&args);
        assert_eq!(wrong.status.code(), Some(1));
        let out = stdout(&wrong);
        assert!(out.contains("not signed by this key"), "{out}");
        assert!(!out.contains("corrupt"), "{out}");
        assert!(
            out.contains(&format!("haetae.example.kr/gw-1+{other_id}"))
                && out.contains(&format!("haetae.example.kr/gw-1+{right_id}")),
            "{out}"
        );
    }
    // Export with the wrong key: refused, same reason.
    let wrong = haetae(&["audit", "export", d, "--vkey", &other]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not signed by this key"));

    // The last entry (index 8) truncated by 10 bytes.
    let cut = tmp.path().join("cut");
    write_log(&cut, &key_file, 9);
    let bundle = cut.join("tile/entries/000.p/9");
    let len = std::fs::metadata(&bundle).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&bundle)
        .unwrap();
    f.set_len(len - 10).unwrap();
    drop(f);
    let c = cut.to_str().unwrap();
    let o = haetae(&["audit", "verify", c, "--vkey", &vkey]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("FAIL first bad index 8:"),
        "{}",
        stdout(&o)
    );
    let o = haetae(&["audit", "verify", c, "--vkey", &vkey, "--json"]);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["first_bad_index"], 8, "{j}");

    // No checkpoint.
    std::fs::remove_file(dir.join("checkpoint")).unwrap();
    let o = haetae(&["audit", "verify", d, "--vkey", &vkey]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("the log has no published checkpoint"), "{out}");
    assert!(out.contains("checkpoint does not exist"), "{out}");

    // An I/O error is said once (no `X: X` when printed with its chain).
    let err = haetae::audit::verify::verify_dir(
        &dir,
        &haetae::audit::NoteVerifier::parse(&vkey).unwrap(),
        &Default::default(),
    )
    .unwrap_err();
    assert!(std::error::Error::source(&err).is_none());
    let io = haetae::audit::AuditLog::open(
        key_file.join("log"), // a path under a file: "Not a directory"
        AuditOptions::new(
            NoteSigner::from_private_key_string(&std::fs::read_to_string(&key_file).unwrap())
                .unwrap(),
            "gw-1",
        ),
    )
    .err()
    .unwrap();
    let chain = format!("{:#}", anyhow::Error::new(io));
    let first = chain.split(": ").last().unwrap();
    assert_eq!(chain.matches(first).count(), 1, "{chain}");
}

/// `haetae audit export … | head`: a closed pipe ends the export quietly.
#[test]
fn export_into_a_closed_pipe_is_quiet() {
    use std::io::BufRead as _;
    let tmp = tempfile::tempdir().unwrap();
    let (key_file, vkey) = new_key(tmp.path());
    let dir = tmp.path().join("log");
    write_many(&dir, &key_file, 2000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .args(["audit", "export", dir.to_str().unwrap(), "--vkey", &vkey])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("req-0"), "{first}");
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    assert!(o.status.success(), "{o:?}");
}

/// Review #3: a shard counts as pruned only if its `pruned` marker parses and says its newest record is outside
/// the retention period and no later than the next shard's start; `prove` does not call a forged prune
/// "outside retention".
#[test]
fn forged_prune_fails_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate("haetae.example.kr/gw-1").unwrap();
    let vkey = signer.verifier().to_key_string();
    let dir = tmp.path().join("log");
    let mut o = AuditOptions::new(
        NoteSigner::from_private_key_string(&signer.to_private_key_string()).unwrap(),
        "gw-1",
    );
    o.checkpoint_interval = Duration::from_secs(3600);
    o.rotate_max_bytes = Some(2048);
    let log = AuditLog::open(&dir, o).unwrap();
    for i in 0..30 {
        let r = ResidencyRecord {
            request_id: format!("req-{i}"),
            outcome: "forwarded".into(),
            ..Default::default()
        };
        log.append_request(r).wait_blocking().unwrap();
    }
    log.close().unwrap();
    let d = dir.to_str().unwrap();
    let ok = haetae(&["audit", "verify", d, "--vkey", &vkey, "--json"]);
    assert!(ok.status.success(), "{ok:?}");
    let j: serde_json::Value = serde_json::from_str(&stdout(&ok)).unwrap();
    let newest0 = j["shards"][0]["newest_time"].as_str().unwrap().to_owned();
    let start1 = j["shards"][1]["oldest_time"].as_str().unwrap().to_owned();
    let trusted = tmp.path().join("shard0.checkpoint");
    std::fs::copy(dir.join("sealed"), &trusted).unwrap();
    let month = &newest0[..7];

    // The attack: delete shard 0's records, drop a marker next to them.
    for name in ["tile", "checkpoints", "journal"] {
        let p = dir.join(name);
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else if p.exists() {
            std::fs::remove_file(p).unwrap();
        }
    }
    let marker = dir.join("pruned");
    let well_formed = |newest: &str| format!("pruned {newest}\nnewest {newest}\n");
    for (content, needle) in [
        (
            "garbage\n".to_owned(),
            "not written by `haetae audit prune`",
        ),
        (well_formed(&newest0), "inside the 730-day retention"),
    ] {
        std::fs::write(&marker, content).unwrap();
        for extra in [
            &[][..],
            &["--trusted-checkpoint", trusted.to_str().unwrap()][..],
        ] {
            let mut args = vec!["audit", "verify", d, "--vkey", &vkey];
            args.extend_from_slice(extra);
            let o = haetae(&args);
            assert_eq!(o.status.code(), Some(1), "{o:?}");
            let out = stdout(&o);
            assert!(out.starts_with("FAIL first bad shard 0"), "{out}");
            assert!(out.contains(needle), "{out}");
        }
        let short = haetae(&[
            "audit",
            "verify",
            d,
            "--vkey",
            &vkey,
            "--retention-days",
            "1",
        ]);
        assert_eq!(short.status.code(), Some(1), "{short:?}");
        let report = haetae(&["audit", "report", d, "--vkey", &vkey, "--month", month]);
        assert_eq!(report.status.code(), Some(1), "{report:?}");
        assert_eq!(stdout(&report), "");
        let prove = haetae(&[
            "audit", "prove", d, "--vkey", &vkey, "--shard", "0", "--index", "2",
        ]);
        assert!(!prove.status.success());
        let err = String::from_utf8_lossy(&prove.stderr);
        assert!(!err.contains("outside retention"), "{err}");
        assert!(err.contains(needle), "{err}");
    }

    // A marker whose newest record is later than the next shard's start, judged a year from now with a one-day
    // retention (so the retention check alone would pass).
    let later =
        time::OffsetDateTime::parse(&start1, &time::format_description::well_known::Rfc3339)
            .unwrap()
            + time::Duration::seconds(1);
    let later = later
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap();
    std::fs::write(&marker, well_formed(&later)).unwrap();
    let in_a_year = haetae::audit::verify::Retention {
        period: time::Duration::days(1),
        now: time::OffsetDateTime::now_utc() + time::Duration::days(365),
    };
    let e = haetae::audit::verify::verify_dir_with(
        &dir,
        &signer.verifier(),
        &Default::default(),
        &in_a_year,
    )
    .unwrap_err();
    assert_eq!(e.bad_shard(), Some(0), "{e}");
    assert!(
        e.to_string().contains("shard 1's signed chain record says"),
        "{e}"
    );
    // A marker claiming an *older* newest record than the deleted ones had (outside a one-day retention today, and
    // before the next shard's start): only the next shard's signed chain record, which states shard 0's real
    // newest record time, exposes it.
    let older =
        time::OffsetDateTime::parse(&newest0, &time::format_description::well_known::Rfc3339)
            .unwrap()
            - time::Duration::days(2);
    let older = older
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap();
    std::fs::write(&marker, well_formed(&older)).unwrap();
    let o = haetae(&[
        "audit",
        "verify",
        d,
        "--vkey",
        &vkey,
        "--retention-days",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = stdout(&o);
    assert!(out.starts_with("FAIL first bad shard 0"), "{out}");
    assert!(out.contains("signed chain record"), "{out}");
    // The marker `audit prune` would write (newest = the real newest record) passes at that clock.
    std::fs::write(&marker, well_formed(&newest0)).unwrap();
    let rep = haetae::audit::verify::verify_dir_with(
        &dir,
        &signer.verifier(),
        &Default::default(),
        &in_a_year,
    )
    .unwrap();
    assert!(rep.shards[0].pruned);
}
