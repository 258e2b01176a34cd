//! The writer lock: two writers can never hold one log directory — not two `AuditLog`s in one process, not two
//! processes — and the error names the directory (and the holder's pid); a killed holder releases it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use haetae::audit::verify::{verify_dir, VerifyOptions};
use haetae::audit::{AuditError, AuditLog, AuditOptions, NoteSigner, ResidencyRecord};

const DIR_VAR: &str = "HAETAE_AUDIT_LOCK_DIR";
const KEY_VAR: &str = "HAETAE_AUDIT_LOCK_KEY";

fn opts(key: &str) -> AuditOptions {
    let mut o = AuditOptions::new(
        NoteSigner::from_private_key_string(key).unwrap(),
        "lock-test",
    );
    o.checkpoint_interval = Duration::from_secs(3600);
    o
}

fn append_one(log: &AuditLog, id: &str) {
    log.append_request(ResidencyRecord {
        request_id: id.into(),
        outcome: "forwarded".into(),
        ..Default::default()
    })
    .wait_blocking()
    .unwrap();
}

#[test]
fn second_writer_in_process_is_refused_and_lock_is_released_on_close() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gw-1");
    let key = NoteSigner::generate("haetae.example.kr/lock")
        .unwrap()
        .to_private_key_string();
    let first = AuditLog::open(&dir, opts(&key)).unwrap();
    append_one(&first, "a");

    let err = AuditLog::open(&dir, opts(&key)).unwrap_err();
    match &err {
        AuditError::Locked { dir: d, holder } => {
            assert_eq!(d, &dir);
            assert_eq!(
                holder.as_deref(),
                Some(&*format!("pid {}", std::process::id()))
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert!(msg.contains("already in use"), "{msg}");

    // The refused open changed nothing: the first writer keeps working.
    append_one(&first, "b");
    first.close().unwrap();

    // Closed: the lock is free again, and both entries are there.
    let again = AuditLog::open(&dir, opts(&key)).unwrap();
    assert_eq!(again.health().size, 2);
    append_one(&again, "c");
    let verifier = again.verifier().clone();
    drop(again);
    verify_dir(&dir, &verifier, &VerifyOptions::default()).unwrap();

    // Dropping (instead of closing) releases it too.
    drop(AuditLog::open(&dir, opts(&key)).unwrap());
    AuditLog::open(&dir, opts(&key)).unwrap().close().unwrap();
}

/// The child: runs only when spawned by `second_process_is_refused_until_the_holder_dies`.
#[test]
#[ignore = "helper process for second_process_is_refused_until_the_holder_dies"]
fn child_holder() {
    let (Ok(dir), Ok(key)) = (std::env::var(DIR_VAR), std::env::var(KEY_VAR)) else {
        return;
    };
    let log = AuditLog::open(&dir, opts(&key)).unwrap();
    append_one(&log, "child");
    println!("holding");
    // Hold the lock until killed (the parent never writes to stdin).
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    std::thread::sleep(Duration::from_secs(60));
    drop(log);
}

#[test]
fn second_process_is_refused_until_the_holder_dies() {
    let tmp = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate("haetae.example.kr/lock2").unwrap();
    let key = signer.to_private_key_string();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holder",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, tmp.path())
        .env(KEY_VAR, &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.trim_end().ends_with("holding") => break,
            Some(Ok(_)) => {}
            _ => panic!("child exited before taking the lock"),
        }
    }

    let err = AuditLog::open(tmp.path(), opts(&key)).unwrap_err();
    match &err {
        AuditError::Locked { dir, holder } => {
            assert_eq!(dir, tmp.path());
            assert_eq!(holder.as_deref(), Some(&*format!("pid {}", child.id())));
        }
        other => panic!("expected Locked, got {other:?}"),
    }

    // SIGKILL: the kernel drops the flock with the process; no stale lock to clean up by hand.
    child.kill().unwrap();
    child.wait().unwrap();
    let log = AuditLog::open(tmp.path(), opts(&key)).unwrap();
    assert_eq!(log.health().size, 1);
    append_one(&log, "parent");
    log.close().unwrap();
    verify_dir(tmp.path(), &signer.verifier(), &VerifyOptions::default()).unwrap();
}
