//! Crash safety under load: a child process appends from several threads and is killed with SIGKILL; on reopen,
//! every acknowledged append is in the log with the acknowledged leaf hash, and the log verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use haetae::audit::merkle::leaf_hash;
use haetae::audit::verify::{for_each_leaf, verify_dir, VerifyOptions};
use haetae::audit::{AuditLog, AuditOptions, NoteSigner, ResidencyRecord};

const DIR_VAR: &str = "HAETAE_AUDIT_CRASH_DIR";
const KEY_VAR: &str = "HAETAE_AUDIT_CRASH_KEY";

fn opts(key: &str) -> AuditOptions {
    let mut o = AuditOptions::new(
        NoteSigner::from_private_key_string(key).unwrap(),
        "crash-test",
    );
    o.checkpoint_interval = Duration::from_millis(50);
    o
}

/// The child: runs only when spawned by `acknowledged_appends_survive_sigkill`.
#[test]
#[ignore = "helper process for acknowledged_appends_survive_sigkill"]
fn child_appender() {
    let (Ok(dir), Ok(key)) = (std::env::var(DIR_VAR), std::env::var(KEY_VAR)) else {
        return;
    };
    let log = std::sync::Arc::new(AuditLog::open(&dir, opts(&key)).unwrap());
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
                        "ack {} {}\n",
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
    let tmp = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate("haetae.example.kr/crash").unwrap();
    let key = signer.to_private_key_string();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    for round in 0..3 {
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
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let target = 1000 * (round + 1);
        while acked.len() < target {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(rest) = line.strip_prefix("ack ") {
                let (i, h) = rest.split_once(' ').unwrap();
                acked.insert(i.parse().unwrap(), h.to_owned());
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // Acks already written to the pipe before the kill also count.
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ack ") {
                let (i, h) = rest.split_once(' ').unwrap();
                acked.insert(i.parse().unwrap(), h.to_owned());
            }
        }
        assert!(
            acked.len() >= target,
            "child produced only {} acks",
            acked.len()
        );
    }

    // Reopen (recovers a torn tail if the kill hit mid-write), publish, and check every acknowledged entry.
    let log = AuditLog::open(tmp.path(), opts(&key)).unwrap();
    let size = log.publish_checkpoint().unwrap().size;
    log.close().unwrap();
    assert!(size > *acked.keys().last().unwrap());
    let mut found = 0;
    for_each_leaf(tmp.path(), size, |i, data| {
        if let Some(h) = acked.get(&i) {
            assert_eq!(
                &base64::engine::general_purpose::STANDARD.encode(leaf_hash(data)),
                h,
                "entry {i}"
            );
            found += 1;
        }
        Ok(true)
    })
    .unwrap();
    assert_eq!(found, acked.len());
    verify_dir(tmp.path(), &signer.verifier(), &VerifyOptions::default()).unwrap();
}
