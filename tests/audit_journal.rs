//! The journal as the writer's source of truth: its frames carry a MAC keyed from the signing key, so frames
//! appended (or altered) while the gateway was stopped are refused at open instead of being signed into the log;
//! legitimately committed but unpublished entries are still adopted; an old-format journal is converted only when
//! the signed checkpoint covers all of it; a journal deleted (or its directory deleted or moved) while the log is
//! open fails the log closed; and `verify` agrees with `open` about a writer directory whose journal is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Write as _;
use std::path::Path;

use haetae::audit::merkle::leaf_hash;
use haetae::audit::verify::{verify_dir, VerifyOptions};
use haetae::audit::{AuditLog, AuditOptions, NoteSigner};

const ORIGIN: &str = "haetae.example.kr/gw-journal";

#[path = "support/audit_fixture.rs"]
mod audit_fixture;
use audit_fixture::record;

fn options(s: &NoteSigner) -> AuditOptions {
    audit_fixture::options(s, "gw-journal-1")
}

/// A closed log holding `n` records, all published.
fn log_with(n: u64) -> (tempfile::TempDir, NoteSigner) {
    let tmp = tempfile::tempdir().unwrap();
    let s = NoteSigner::generate(ORIGIN).unwrap();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    for i in 0..n {
        log.append_request(record(i)).wait_blocking().unwrap();
    }
    log.close().unwrap();
    (tmp, s)
}

/// The journal's frames: (frame header length, [(offset, frame header, leaf)]).
type Frames = (usize, Vec<(usize, Vec<u8>, Vec<u8>)>);

fn frames(journal: &[u8]) -> Frames {
    let hdr = match &journal[..8] {
        b"HAETAEJ1" => 16,
        _ => 24,
    };
    let mut at = 10 + usize::from(u16::from_be_bytes([journal[8], journal[9]]));
    let mut out = Vec::new();
    while at + hdr <= journal.len() {
        let len = u32::from_be_bytes(journal[at..at + 4].try_into().unwrap()) as usize;
        out.push((
            at,
            journal[at..at + hdr].to_vec(),
            journal[at + hdr..at + hdr + len].to_vec(),
        ));
        at += hdr + len;
    }
    (hdr, out)
}

/// A frame as someone without the key can make it: the length, its complement, and the leaf hash where the
/// writer puts its checksum or MAC (the header length read from the existing frames).
fn forged_frame(hdr: usize, leaf: &[u8]) -> Vec<u8> {
    let len = leaf.len() as u32;
    let mut f = len.to_be_bytes().to_vec();
    f.extend_from_slice(&(!len).to_be_bytes());
    f.extend_from_slice(&leaf_hash(leaf)[..hdr - 8]);
    f.extend_from_slice(leaf);
    f
}

fn verify(dir: &Path, s: &NoteSigner) -> Result<(), haetae::audit::AuditError> {
    verify_dir(dir, &s.verifier(), &VerifyOptions::default()).map(|_| ())
}

#[test]
fn a_frame_appended_while_stopped_is_refused_not_signed() {
    let (tmp, s) = log_with(5);
    let journal = tmp.path().join("journal");
    let bytes = fs::read(&journal).unwrap();
    let (hdr, fr) = frames(&bytes);
    // A well-formed record 5 (a copy of record 4 with the next sequence number), framed as the file's own frames
    // are framed, appended while the gateway is stopped.
    let leaf = String::from_utf8(fr[4].2.clone())
        .unwrap()
        .replace("\"seq\":4", "\"seq\":5");
    let mut f = fs::OpenOptions::new().append(true).open(&journal).unwrap();
    f.write_all(&forged_frame(hdr, leaf.as_bytes())).unwrap();
    drop(f);
    // The published log still verifies offline (verify has no secret key: the unpublished tail is not its to
    // judge) ...
    verify(tmp.path(), &s).unwrap();
    // ... but the writer refuses to adopt the frame: the log does not open (fail closed), and the error names the
    // shard and the frame.
    let err = AuditLog::open(tmp.path(), options(&s)).unwrap_err();
    assert_eq!(err.bad_index(), Some(5), "{err}");
    assert_eq!(err.bad_shard(), Some(0), "{err}");
    assert!(err.to_string().contains("fails its MAC"), "{err}");
    assert!(err.to_string().contains("shard 0"), "{err}");
    // Nothing was signed over it.
    assert!(fs::read_to_string(tmp.path().join("checkpoint"))
        .unwrap()
        .contains("\n5\n"));

    // Altering a published frame's leaf together with its checksum-style header is refused too.
    let (tmp, s) = log_with(5);
    let journal = tmp.path().join("journal");
    let mut bytes = fs::read(&journal).unwrap();
    let (hdr, fr) = frames(&bytes);
    let (at, _, leaf) = &fr[2];
    let altered = String::from_utf8(leaf.clone())
        .unwrap()
        .replace("tenant-a", "tenant-b");
    let range = *at..*at + hdr + leaf.len();
    bytes.splice(range, forged_frame(hdr, altered.as_bytes()));
    fs::write(&journal, &bytes).unwrap();
    let err = AuditLog::open(tmp.path(), options(&s)).unwrap_err();
    assert_eq!(err.bad_index(), Some(2), "{err}");
}

#[test]
fn committed_but_unpublished_entries_are_adopted_and_counted() {
    let (tmp, s) = log_with(5);
    let dir = tmp.path();
    // What a crash leaves: entries durable in the journal, the latest checkpoint older than them. Take the
    // checkpoint files of size 5, commit 3 more, then put the old checkpoint back.
    let cp = fs::read(dir.join("checkpoint")).unwrap();
    let archive = fs::read(dir.join("checkpoints")).unwrap();
    let log = AuditLog::open(dir, options(&s)).unwrap();
    for i in 5..8 {
        log.append_request(record(i)).wait_blocking().unwrap();
    }
    log.close().unwrap();
    fs::write(dir.join("checkpoint"), &cp).unwrap();
    fs::write(dir.join("checkpoints"), &archive).unwrap();

    // A crash inside the last frame can leave part of it unwritten (zeros): that frame is cut off like a torn one.
    let journal = dir.join("journal");
    let mut bytes = fs::read(&journal).unwrap();
    let n = bytes.len();
    let (_, fr) = frames(&bytes);
    let last_len = n - fr[7].0;
    bytes[n - 40..n - 20].fill(0);
    fs::write(&journal, &bytes).unwrap();

    let log = AuditLog::open(dir, options(&s)).unwrap();
    let rec = log.recovery();
    assert_eq!(rec.entries, 7);
    assert_eq!(rec.unpublished, 2, "entries 5 and 6 adopted");
    assert_eq!(rec.truncated_bytes, last_len as u64);
    assert_eq!(log.health().size, 7);
    assert_eq!(log.health().checkpoint_size, 7, "published at open");
    assert_eq!(
        log.append_request(record(7)).wait_blocking().unwrap().index,
        7
    );
    log.close().unwrap();
    verify(dir, &s).unwrap();
}

/// Rewrite a format-2 journal in format 1 (frames with an 8-byte leaf-hash checksum), as haetae wrote it before.
fn to_v1(journal: &[u8]) -> Vec<u8> {
    let (_, fr) = frames(journal);
    let header_len = 10 + usize::from(u16::from_be_bytes([journal[8], journal[9]]));
    let mut out = b"HAETAEJ1".to_vec();
    out.extend_from_slice(&journal[8..header_len]);
    for (_, _, leaf) in fr {
        out.extend_from_slice(&forged_frame(16, &leaf));
    }
    out
}

#[test]
fn an_old_format_journal_is_converted_only_when_fully_published() {
    // Fully covered by the signed checkpoint: converted in place, the log opens and continues.
    let (tmp, s) = log_with(5);
    let journal = tmp.path().join("journal");
    let v1 = to_v1(&fs::read(&journal).unwrap());
    fs::write(&journal, &v1).unwrap();
    verify(tmp.path(), &s).unwrap();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    assert!(log.recovery().converted_journal);
    assert_eq!(log.recovery().unpublished, 0);
    log.append_request(record(5)).wait_blocking().unwrap();
    log.close().unwrap();
    let bytes = fs::read(&journal).unwrap();
    assert_eq!(&bytes[..8], b"HAETAEJ2");
    assert_eq!(frames(&bytes).1.len(), 6);
    verify(tmp.path(), &s).unwrap();

    // With an entry beyond the checkpoint (unkeyed: anyone could have appended it), open refuses and says what
    // to do, nothing is converted, and verify agrees.
    let (tmp, s) = log_with(5);
    let journal = tmp.path().join("journal");
    let mut v1 = to_v1(&fs::read(&journal).unwrap());
    let (_, fr) = frames(&v1);
    let leaf = String::from_utf8(fr[4].2.clone())
        .unwrap()
        .replace("\"seq\":4", "\"seq\":5");
    v1.extend_from_slice(&forged_frame(16, leaf.as_bytes()));
    fs::write(&journal, &v1).unwrap();
    let err = AuditLog::open(tmp.path(), options(&s)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("HAETAEJ1") && msg.contains("1 entries beyond"),
        "{msg}"
    );
    assert!(msg.contains("previous haetae version"), "{msg}");
    assert_eq!(fs::read(&journal).unwrap(), v1, "left as it was");
    assert!(!tmp.path().join("journal.v2.tmp").exists());
    let err = verify(tmp.path(), &s).unwrap_err();
    assert!(err.to_string().contains("HAETAEJ1"), "{err}");
}

#[test]
fn a_deleted_audit_directory_fails_the_log_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let s = NoteSigner::generate(ORIGIN).unwrap();
    let log = AuditLog::open(&dir, options(&s)).unwrap();
    log.append_request(record(0)).wait_blocking().unwrap();
    fs::remove_dir_all(&dir).unwrap();
    let err = log.append_request(record(1)).wait_blocking().unwrap_err();
    assert!(matches!(err, haetae::audit::AuditError::Failed(_)), "{err}");
    let failure = log.health().failure.expect("the log failed");
    assert!(failure.contains("deleted"), "{failure}");
    // Later appends are refused too.
    assert!(log.append_request(record(2)).wait_blocking().is_err());
    drop(log);

    // A directory moved away (the journal still linked, but no longer where the log is) fails it as well.
    let log = AuditLog::open(&dir, options(&s)).unwrap();
    log.append_request(record(0)).wait_blocking().unwrap();
    let moved = tmp.path().join("moved");
    fs::rename(&dir, &moved).unwrap();
    assert!(log.append_request(record(1)).wait_blocking().is_err());
    assert!(!log.health().is_ready());
    drop(log);

    // And a journal replaced by another file (the open one still linked elsewhere, so only the path check sees
    // it).
    let (tmp, s) = log_with(1);
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    let journal = tmp.path().join("journal");
    let copy = fs::read(&journal).unwrap();
    fs::hard_link(&journal, tmp.path().join("journal.kept")).unwrap();
    fs::remove_file(&journal).unwrap();
    fs::write(&journal, copy).unwrap();
    assert!(log.append_request(record(1)).wait_blocking().is_err());
    assert!(log
        .health()
        .failure
        .unwrap()
        .contains("no longer the open journal"));
}

#[test]
fn verify_and_open_agree_on_a_missing_journal() {
    let (tmp, s) = log_with(5);
    let dir = tmp.path();
    fs::remove_file(dir.join("journal")).unwrap();
    // The writer refuses: entries acknowledged after the last checkpoint may be lost, and continuing would reuse
    // their indexes.
    let err = AuditLog::open(dir, options(&s)).unwrap_err();
    assert!(err.to_string().contains("journal"), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(!dir.join("journal").exists(), "open created nothing");
    // verify of the writer's directory (it has the writer's `lock`) says the same ...
    let err = verify(dir, &s).unwrap_err();
    assert!(
        err.to_string()
            .contains("journal of the open shard is missing"),
        "{err}"
    );
    // ... while an auditor's copy (no lock, no journal) verifies: the published entries are intact.
    fs::remove_file(dir.join("lock")).unwrap();
    verify(dir, &s).unwrap();
}

/// Make every file under `dir` writable again (a sealed shard's files are read-only).
fn writable(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            writable(&p);
        } else {
            let mut perms = fs::metadata(&p).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&p, perms).unwrap();
        }
    }
}

/// Copy the files directly in `from` (not its subdirectories) into `to`.
fn copy_files(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// The state a crash leaves between a rotation and its seal: shard 0 complete but unsealed (journal present),
/// shard 1 started with its chain record. Open completes the seal only after checking shard 1's chain record —
/// and, since sealing deletes shard 0's journal and cannot be undone, that record's frame MAC too: a frame not
/// written by the log's writer is refused before anything is sealed.
#[test]
fn a_seal_is_completed_only_on_an_authenticated_chain_record() {
    let (tmp, s) = log_with(4);
    let dir = tmp.path();
    let saved = tempfile::tempdir().unwrap();
    copy_files(dir, saved.path());
    // Rotate (the next append goes to shard 1), then undo shard 0's seal as a crash before it would have.
    let mut o = options(&s);
    o.rotate_max_bytes = Some(1);
    let log = AuditLog::open(dir, o).unwrap();
    log.append_request(record(4)).wait_blocking().unwrap();
    assert_eq!(log.health().shard, 1);
    log.close().unwrap();
    writable(dir);
    fs::remove_file(dir.join("sealed")).unwrap();
    fs::copy(saved.path().join("journal"), dir.join("journal")).unwrap();
    let shard1 = dir.join("shards/1/journal");
    let good = fs::read(&shard1).unwrap();

    // Frame 0 of shard 1 keeps its leaf (the right chain record) but not its MAC.
    let (_, fr) = frames(&good);
    let (at, _, _) = &fr[0];
    let mut bad = good.clone();
    bad[at + 8] ^= 0x01;
    fs::write(&shard1, &bad).unwrap();
    let e = AuditLog::open(dir, options(&s)).unwrap_err();
    assert_eq!(e.bad_shard(), Some(1), "{e}");
    assert!(e.to_string().contains("fails its MAC"), "{e}");
    assert!(
        !dir.join("sealed").exists() && dir.join("journal").exists(),
        "shard 0 must not be sealed on an unauthenticated chain record"
    );

    // With the genuine frame the interrupted seal is completed.
    fs::write(&shard1, &good).unwrap();
    let log = AuditLog::open(dir, options(&s)).unwrap();
    assert_eq!(log.health().shard, 1);
    log.close().unwrap();
    assert!(dir.join("sealed").exists() && !dir.join("journal").exists());
    verify(dir, &s).unwrap();
}
