//! The tile thread writes tiles and entry bundles off the commit path. A failure there must still fail the log
//! closed (appends refused, checkpoint publication refused), acknowledged entries must stay in the journal, and
//! reopening after the cause is fixed must rebuild the missing tiles so the log verifies.
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
fn tile_write_failure_fails_the_log_closed_and_reopen_rebuilds_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate("haetae.example.kr/tiles").unwrap();
    let key = signer.to_private_key_string();
    let log = AuditLog::open(tmp.path(), opts(&key)).unwrap();
    // A plain file where the tile tree must go: every tile/bundle write fails.
    std::fs::write(tmp.path().join("tile"), b"not a directory").unwrap();

    // The first full bundle (256 entries) is written by the tile thread and fails; the appends themselves are
    // durable in the journal and acknowledged.
    let mut acked = 0u64;
    for i in 0..256 {
        log.append_request(rec(i)).wait_blocking().unwrap();
        acked += 1;
    }
    // Publication waits for the tile thread, so by now the failure is known.
    let err = log.publish_checkpoint().unwrap_err();
    assert!(matches!(err, AuditError::Failed(_)), "{err:?}");
    let health = log.health();
    assert!(!health.is_ready());
    assert!(
        health
            .failure
            .as_deref()
            .unwrap_or("")
            .contains("tile write failed"),
        "{health:?}"
    );
    assert_eq!(health.size, acked);
    // Fail closed: nothing more is accepted.
    let refused = log.append_request(rec(999)).wait_blocking().unwrap_err();
    assert!(matches!(refused, AuditError::Failed(_)), "{refused:?}");
    assert!(log.close().is_err());

    // Fix the cause and reopen: the journal replays, the tiles are rebuilt, the log verifies.
    std::fs::remove_file(tmp.path().join("tile")).unwrap();
    let log = AuditLog::open(tmp.path(), opts(&key)).unwrap();
    assert_eq!(log.recovery().entries, acked);
    log.append_request(rec(256)).wait_blocking().unwrap();
    let cp = log.publish_checkpoint().unwrap();
    assert_eq!(cp.size, acked + 1);
    log.close().unwrap();
    verify_dir(tmp.path(), &signer.verifier(), &VerifyOptions::default()).unwrap();
}
