//! The tile thread writes tiles and entry bundles off the commit path. They are derived from the journal, so a
//! failure there (no file descriptor left, a full disk that frees up) leaves the log degraded, not failed: appends
//! are still journaled and acknowledged, publication is refused while the cause lasts, and once it clears the
//! queued tiles are written and the next checkpoint is published without a restart. A journal write failure stays
//! fatal (`audit_log.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use haetae::audit::verify::{verify_dir, VerifyOptions};
use haetae::audit::{AuditError, AuditLog, AuditOptions, NoteSigner, ResidencyRecord};

fn opts(key: &str) -> AuditOptions {
    let mut o = AuditOptions::new(
        NoteSigner::from_private_key_string(key).unwrap(),
        "tiles-test",
    );
    o.checkpoint_interval = Duration::from_secs(3600);
    o
}

fn rec(i: u64) -> ResidencyRecord {
    ResidencyRecord {
        request_id: format!("req-{i}"),
        outcome: "forwarded".into(),
        ..Default::default()
    }
}

#[test]
fn a_tile_write_failure_is_retried_and_the_log_recovers_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate("haetae.example.kr/tiles").unwrap();
    let key = signer.to_private_key_string();
    let log = AuditLog::open(tmp.path(), opts(&key)).unwrap();
    // A plain file where the tile tree must go: every tile/bundle write fails while it is there.
    std::fs::write(tmp.path().join("tile"), b"not a directory").unwrap();

    // The first full bundle (256 entries) is written by the tile thread and fails; the appends themselves are
    // durable in the journal and acknowledged.
    let mut acked = 0u64;
    for i in 0..300 {
        log.append_request(rec(i)).wait_blocking().unwrap();
        acked += 1;
    }
    // Publication waits for the tile thread: it cannot publish, and says why, but the log keeps accepting.
    let err = log.publish_checkpoint().unwrap_err();
    assert!(!matches!(err, AuditError::Failed(_)), "{err:?}");
    let health = log.health();
    assert!(health.is_ready(), "{health:?}");
    assert!(health.degraded.is_some(), "{health:?}");
    assert_eq!(health.size, acked);
    log.append_request(rec(300)).wait_blocking().unwrap();
    acked += 1;

    // The cause clears: the queued full tiles and bundle are written, then the checkpoint.
    std::fs::remove_file(tmp.path().join("tile")).unwrap();
    let cp = log.publish_checkpoint().unwrap();
    assert_eq!(cp.size, acked);
    let health = log.health();
    assert!(health.degraded.is_none() && health.is_ready(), "{health:?}");
    assert_eq!(health.checkpoint_size, acked);
    verify_dir(tmp.path(), &signer.verifier(), &VerifyOptions::default()).unwrap();
    log.close().unwrap();
    verify_dir(tmp.path(), &signer.verifier(), &VerifyOptions::default()).unwrap();
    let log = AuditLog::open(tmp.path(), opts(&key)).unwrap();
    assert_eq!(log.recovery().unpublished, 0);
    assert_eq!(
        log.recovery().repaired_files,
        0,
        "every tile was written before the checkpoint"
    );
}
