//! Crash safety under load: a child process appends from several threads and is killed with SIGKILL; on reopen,
//! every acknowledged append is in the log with the acknowledged leaf hash, and the log verifies. A second run
//! rotates every few hundred records, so the kills land in the middle of rotations too (sealing, the next
//! shard's creation, its chain record).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use haetae::audit::merkle::leaf_hash;
use haetae::audit::shard::{shard_dir, shard_of_origin, shard_origin};
use haetae::audit::verify::{for_each_leaf, read_shard_checkpoint, verify_dir, VerifyOptions};
use haetae::audit::{AuditLog, AuditOptions, NoteSigner, ResidencyRecord};

const DIR_VAR: &str = "HAETAE_AUDIT_CRASH_DIR";
const KEY_VAR: &str = "HAETAE_AUDIT_CRASH_KEY";
const ROTATE_VAR: &str = "HAETAE_AUDIT_CRASH_ROTATE";

fn opts(key: &str, rotate: Option<u64>) -> AuditOptions {
    let mut o = AuditOptions::new(
        NoteSigner::from_private_key_string(key).unwrap(),
        "crash-test",
    );
    o.checkpoint_interval = Duration::from_millis(50);
    o.rotate_max_bytes = rotate;
    o
}

/// The child: runs only when spawned by `acknowledged_appends_survive_sigkill`.
#[test]
#[ignore = "helper process for acknowledged_appends_survive_sigkill"]
fn child_appender() {
    let (Ok(dir), Ok(key)) = (std::env::var(DIR_VAR), std::env::var(KEY_VAR)) else {
        return;
    };
    let rotate = std::env::var(ROTATE_VAR).ok().and_then(|r| r.parse().ok());
    let log = std::sync::Arc::new(AuditLog::open(&dir, opts(&key, rotate)).unwrap());
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (log, out) = (log.clone(), out.clone());
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let rec = ResidencyRecord {
                        request_id: format!("t{t}-{i}"),
                        tenant: "crash".into(),
                        outcome: "forwarded".into(),
                        ..Default::default()
                    };
                    let r = log.append_request(rec).wait_blocking().unwrap();
                    let line = format!(
                        "ack {} {} {}\n",
                        r.origin,
                        r.index,
                        base64::engine::general_purpose::STANDARD.encode(r.leaf_hash)
                    );
                    let mut o = out.lock().unwrap();
                    o.write_all(line.as_bytes()).unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    kill_and_check(None, 3);
}

#[test]
fn acknowledged_appends_survive_sigkill_during_rotations() {
    // ~250-byte records: a rotation every ~100 records, so some of the kills hit a rotation in progress.
    kill_and_check(Some(24 * 1024), 4);
}

fn kill_and_check(rotate: Option<u64>, rounds: usize) {
    const NAME: &str = "haetae.example.kr/crash";
    let tmp = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate(NAME).unwrap();
    let key = signer.to_private_key_string();
    // (shard, index) → acknowledged leaf hash.
    let mut acked: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let record = |line: &str, acked: &mut BTreeMap<(u64, u64), String>| {
        if let Some(rest) = line.strip_prefix("ack ") {
            let mut parts = rest.split(' ');
            let (o, i, h) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            let shard = shard_of_origin(NAME, o).unwrap();
            acked.insert((shard, i.parse().unwrap()), h.to_owned());
        }
    };
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_appender",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, tmp.path())
            .env(KEY_VAR, &key)
            .env(
                ROTATE_VAR,
                rotate.map(|r| r.to_string()).unwrap_or_default(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let target = 1000 * (round + 1);
        while acked.len() < target {
            let Some(Ok(line)) = lines.next() else { break };
            record(&line, &mut acked);
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // Acks already written to the pipe before the kill also count.
        for line in lines.map_while(Result::ok) {
            record(&line, &mut acked);
        }
        assert!(
            acked.len() >= target,
            "child produced only {} acks",
            acked.len()
        );
    }

    // Reopen (recovers a torn tail if the kill hit mid-write), publish, and check every acknowledged entry.
    let log = AuditLog::open(tmp.path(), opts(&key, rotate)).unwrap();
    log.publish_checkpoint().unwrap();
    log.close().unwrap();
    let v = signer.verifier();
    let rep = verify_dir(tmp.path(), &v, &VerifyOptions::default()).unwrap();
    if rotate.is_some() {
        assert!(rep.shards.len() > 3, "{} shards", rep.shards.len());
    }
    let mut found = 0;
    for s in &rep.shards {
        let dir = shard_dir(tmp.path(), s.shard);
        let (cp, _) = read_shard_checkpoint(&dir, &v, &shard_origin(NAME, s.shard)).unwrap();
        for_each_leaf(&dir, cp.size, |i, data| {
            if let Some(h) = acked.get(&(s.shard, i)) {
                assert_eq!(
                    &base64::engine::general_purpose::STANDARD.encode(leaf_hash(data)),
                    h,
                    "shard {} entry {i}",
                    s.shard
                );
                found += 1;
            }
            Ok(true)
        })
        .unwrap();
    }
    assert_eq!(found, acked.len());
}
