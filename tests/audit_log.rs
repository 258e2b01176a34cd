//! The residency log end to end: writer, tiles layout, checkpoints, offline verification, proofs, tamper
//! detection, crash recovery of a torn tail, fail-closed behaviour, and the no-raw-content guarantee.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use haetae::audit::merkle::{inclusion_proof, leaf_hash, MemoryTree};
use haetae::audit::tiles::{decode_bundle, encode_bundle, TileReader};
use haetae::audit::verify::{
    find_request, for_each_leaf, monthly_report, prove, verify_dir, LeafRef, VerifyOptions,
};
use haetae::audit::{
    AuditError, AuditLog, AuditOptions, ChangeRecord, DestinationInfo, DigestKey, Entry,
    NoteSigner, NoteVerifier, ResidencyRecord, TlogProof, TokenUsage,
};

const ORIGIN: &str = "haetae.example.kr/gw-test";

fn signer() -> NoteSigner {
    NoteSigner::generate(ORIGIN).unwrap()
}

fn options(s: &NoteSigner) -> AuditOptions {
    let mut o = AuditOptions::new(
        NoteSigner::from_private_key_string(&s.to_private_key_string()).unwrap(),
        "gw-test-1",
    );
    o.checkpoint_interval = Duration::from_secs(3600);
    o
}

fn record(i: u64) -> ResidencyRecord {
    let abroad = i.is_multiple_of(3);
    ResidencyRecord {
        request_id: format!("req-{i:06}"),
        tenant: "tenant-a".into(),
        client: format!("hmac-sha256:{:032x}", i % 7),
        endpoint: "/v1/chat/completions".into(),
        wire_format: "openai".into(),
        requested_model: Some("gpt-4o".into()),
        served_model: Some(if abroad { "gpt-4o" } else { "local-llm" }.into()),
        policy_hash: "sha256:policy-v1".into(),
        classification: if i.is_multiple_of(5) {
            "personal"
        } else {
            "public"
        }
        .into(),
        findings: BTreeMap::from([("kr_rrn".to_owned(), i % 2), ("email".to_owned(), 1)]),
        findings_incomplete: false,
        uninspected: BTreeMap::new(),
        actions: BTreeMap::from([("mask".to_owned(), i % 2)]),
        destination: Some(DestinationInfo {
            name: if abroad { "openai-us" } else { "onprem-kr" }.into(),
            jurisdiction: if abroad { "US" } else { "KR" }.into(),
            region: Some(if abroad { "us-east-1" } else { "kr-central" }.into()),
            upstream_host: if abroad {
                "api.openai.com"
            } else {
                "llm.internal"
            }
            .into(),
        }),
        transfer_basis: abroad.then(|| "pipa-28-8-1-2-consent".into()),
        route: Some(if abroad { "default" } else { "model:exaone*" }.into()),
        outcome: if i.is_multiple_of(11) {
            "blocked"
        } else {
            "forwarded"
        }
        .into(),
        status: Some(200),
        latency_ms: 100 + i % 50,
        usage: Some(TokenUsage {
            input_tokens: 10 + i,
            output_tokens: 20,
        }),
        request_digest: Some(format!("hmac-sha256:{:064x}", i)),
        response_digest: None,
    }
}

/// Build a closed log of `n` request records plus one policy change at the start; returns (dir, verifier).
fn build_log(n: u64) -> (tempfile::TempDir, NoteVerifier) {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    log.append(Entry::PolicyChange(ChangeRecord {
        subject: "policy/kr-default".into(),
        previous_hash: None,
        new_hash: "sha256:policy-v1".into(),
        actor: Some("file-watch".into()),
        summary: None,
    }))
    .wait_blocking()
    .unwrap();
    let pending: Vec<_> = (1..n).map(|i| log.append_request(record(i))).collect();
    for (k, p) in pending.into_iter().enumerate() {
        assert_eq!(p.wait_blocking().unwrap().index, k as u64 + 1);
    }
    log.close().unwrap();
    (tmp, s.verifier())
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let e = entry.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn verify(dir: &Path, v: &NoteVerifier) -> Result<haetae::audit::VerifyReport, AuditError> {
    verify_dir(dir, v, &VerifyOptions::default())
}

#[test]
fn append_checkpoint_verify_prove() {
    let (tmp, v) = build_log(1000);
    let dir = tmp.path();
    // C2SP tlog-tiles layout for size 1000: 3 full level-0 tiles + a partial of 232, a partial level-1 tile of 3.
    for rel in [
        "checkpoint",
        "tile/0/000",
        "tile/0/002",
        "tile/0/003.p/232",
        "tile/1/000.p/3",
        "tile/entries/000",
        "tile/entries/003.p/232",
    ] {
        assert!(dir.join(rel).is_file(), "{rel} missing");
    }
    assert_eq!(fs::read(dir.join("tile/0/000")).unwrap().len(), 8192);
    let report = verify(dir, &v).unwrap();
    assert_eq!(report.size, 1000);
    assert_eq!(report.journal_entries, Some(1000));

    // Proofs from the tiles equal proofs from an in-memory tree over the same leaves.
    let mut mem = MemoryTree::new();
    for_each_leaf(dir, 1000, |_, data| {
        mem.push(leaf_hash(data));
        Ok(true)
    })
    .unwrap();
    let mut tiles = TileReader::new(dir, 1000);
    for i in (0..1000)
        .step_by(37)
        .chain([255, 256, 511, 512, 767, 768, 999])
    {
        assert_eq!(
            inclusion_proof(&mut tiles, i, 1000).unwrap(),
            inclusion_proof(&mut mem, i, 1000).unwrap()
        );
    }

    // Prove by request id, round-trip the tlog-proof text, and check it offline.
    let at = find_request(dir, &v, "req-000500").unwrap().unwrap();
    assert_eq!(
        at,
        LeafRef {
            shard: 0,
            index: 500
        }
    );
    let proof = prove(dir, &v, at).unwrap();
    let text = proof.to_text();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "));
    let parsed = TlogProof::parse(&text).unwrap();
    assert_eq!(parsed, proof);
    let cp = parsed.verify(&v, None).unwrap();
    assert_eq!(cp.size, 1000);
    // A different leaf does not check.
    assert!(parsed.verify(&v, Some(b"{}")).is_err());
    let mut wrong_index = parsed.clone();
    wrong_index.index = 501;
    wrong_index.leaf = None;
    assert!(wrong_index
        .verify_hash(&cp, &leaf_hash(proof.leaf.as_deref().unwrap()))
        .is_err());
}

#[test]
fn reopen_continues_and_archives_checkpoints() {
    let (tmp, v) = build_log(300);
    let key = {
        // Re-derive the signer: build_log's key is gone, so make a fresh log with a known key instead.
        let s = signer();
        let log = AuditLog::open(tmp.path().join("second"), options(&s)).unwrap();
        for i in 0..10 {
            log.append_request(record(i)).wait_blocking().unwrap();
        }
        log.publish_checkpoint().unwrap();
        drop(log);
        s
    };
    let dir = tmp.path().join("second");
    let log = AuditLog::open(&dir, options(&key)).unwrap();
    assert_eq!(log.health().size, 10);
    let r = log.append_request(record(10)).wait_blocking().unwrap();
    assert_eq!(r.index, 10);
    assert_eq!(&*r.origin, ORIGIN);
    let cp = log.publish_checkpoint().unwrap();
    assert_eq!(cp.size, 11);
    log.close().unwrap();
    let rep = verify(&dir, &key.verifier()).unwrap();
    assert_eq!(rep.size, 11);
    assert!(rep.archived_checkpoints >= 3, "{rep:?}");
    // The first log still verifies with its own key, and not with another key.
    verify(tmp.path(), &v).unwrap();
    let err = verify(tmp.path(), &key.verifier()).unwrap_err().to_string();
    assert!(err.contains("no signature by key"), "{err}");
}

/// Rewrite the bundle holding `index` with `f` applied to its entries.
fn edit_bundle(dir: &Path, rel: &str, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let bytes = fs::read(dir.join(rel)).unwrap();
    let mut entries: Vec<Vec<u8>> = decode_bundle(&bytes)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    f(&mut entries);
    fs::write(
        dir.join(rel),
        encode_bundle(entries.iter().map(Vec::as_slice)).unwrap(),
    )
    .unwrap();
}

fn tampered(src: &Path) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_dir(src, t.path());
    t
}

fn expect_bad(dir: &Path, v: &NoteVerifier, index: Option<u64>, needle: &str) {
    let err = verify(dir, v).expect_err("tampering must be detected");
    assert_eq!(err.bad_index(), index, "{err}");
    assert!(
        err.to_string().contains(needle),
        "message {err:?} lacks {needle:?}"
    );
}

#[test]
fn tampering_is_detected_with_the_first_bad_index() {
    let (good, v) = build_log(600);
    verify(good.path(), &v).unwrap();

    // Flip one byte of entry 300 (bundle 1, entry 44).
    let t = tampered(good.path());
    edit_bundle(t.path(), "tile/entries/001", |e| {
        let k = e[44].len() / 2;
        e[44][k] ^= 0x01;
    });
    expect_bad(t.path(), &v, Some(300), "does not match hash 44");

    // Delete entry 260.
    let t = tampered(good.path());
    edit_bundle(t.path(), "tile/entries/001", |e| {
        e.remove(4);
    });
    expect_bad(t.path(), &v, Some(260), "does not match");

    // Swap entries 270 and 271.
    let t = tampered(good.path());
    edit_bundle(t.path(), "tile/entries/001", |e| e.swap(14, 15));
    expect_bad(t.path(), &v, Some(270), "does not match");

    // Truncate the partial bundle (entries 512..600) in the middle of entry 550.
    let t = tampered(good.path());
    let rel = "tile/entries/002.p/88";
    let bytes = fs::read(t.path().join(rel)).unwrap();
    let cut: usize = decode_bundle(&bytes).unwrap()[..38]
        .iter()
        .map(|e| e.len() + 2)
        .sum::<usize>()
        + 5;
    fs::write(t.path().join(rel), &bytes[..cut]).unwrap();
    expect_bad(t.path(), &v, Some(550), "entry 38 is truncated"); // the entry itself, not its bundle's first

    // Alter an entry *and* its level-0 tile hash consistently: the journal still pins it.
    let t = tampered(good.path());
    let mut forged: Vec<u8> = Vec::new();
    edit_bundle(t.path(), "tile/entries/000", |e| {
        // Only before the record's `time` (verify parses every leaf's time, and a digit changed there could make
        // it no time at all: that would be reported at this entry before the tiles are compared).
        let time_at = e[7].windows(8).position(|w| w == b"\"time\":\"").unwrap();
        for b in &mut e[7][..time_at] {
            if *b == b'5' {
                *b = b'6';
            }
        }
        forged = e[7].clone();
    });
    let mut tile = fs::read(t.path().join("tile/0/000")).unwrap();
    tile[7 * 32..8 * 32].copy_from_slice(&leaf_hash(&forged));
    fs::write(t.path().join("tile/0/000"), &tile).unwrap();
    expect_bad(t.path(), &v, Some(7), "entry and tile altered together");
    // ... and without the journal (an auditor's copy), the level-1 tile no longer matches.
    fs::remove_file(t.path().join("journal")).unwrap();
    expect_bad(
        t.path(),
        &v,
        Some(0),
        "tile/1/000.p/2 hash 0 does not match",
    );

    // Alter the journal alone: the published entry still matches its tiles and the signed checkpoint, so it is the
    // journal that was altered.
    let t = tampered(good.path());
    let bundle = fs::read(t.path().join("tile/entries/000")).unwrap();
    let entries = decode_bundle(&bundle).unwrap();
    let entry: &[u8] = entries[7];
    let mut journal = fs::read(t.path().join("journal")).unwrap();
    let at = journal
        .windows(entry.len())
        .position(|w| w == entry)
        .expect("the journal holds the entry's bytes");
    journal[at + 10] ^= 0x01;
    fs::write(t.path().join("journal"), &journal).unwrap();
    expect_bad(t.path(), &v, Some(7), "the journal was altered");

    // Flip a byte in a level-0 tile.
    let t = tampered(good.path());
    let mut tile = fs::read(t.path().join("tile/0/001")).unwrap();
    tile[32 * 9 + 3] ^= 0x80;
    fs::write(t.path().join("tile/0/001"), &tile).unwrap();
    expect_bad(t.path(), &v, Some(265), "does not match hash 9");

    // Delete a whole bundle.
    let t = tampered(good.path());
    fs::remove_file(t.path().join("tile/entries/001")).unwrap();
    expect_bad(t.path(), &v, Some(256), "is missing");

    // Forge: change the checkpoint's size (signature no longer verifies).
    let t = tampered(good.path());
    let note = fs::read_to_string(t.path().join("checkpoint")).unwrap();
    fs::write(
        t.path().join("checkpoint"),
        note.replacen("\n600\n", "\n599\n", 1),
    )
    .unwrap();
    expect_bad(t.path(), &v, None, "does not verify");

    // Replace the checkpoint with one signed by another key under the same name.
    let t = tampered(good.path());
    let other = signer();
    let text = note.split("\n\n").next().unwrap().to_owned() + "\n";
    fs::write(t.path().join("checkpoint"), other.sign(&text).unwrap()).unwrap();
    expect_bad(t.path(), &v, None, "no signature by key");

    // Roll back: restore the oldest (validly signed) checkpoint, of the empty tree published at open.
    let t = tampered(good.path());
    let archive = fs::read_to_string(t.path().join("checkpoints")).unwrap();
    let first = archive.split_once('\n').unwrap().1;
    let first_note: String = first.split_inclusive('\n').take(5).collect();
    assert!(first_note.contains("\n0\n"), "{first_note}");
    fs::write(t.path().join("checkpoint"), &first_note).unwrap();
    expect_bad(t.path(), &v, Some(0), "entries removed");
    // ... even when the archive is also rewritten, a checkpoint the auditor kept catches it.
    fs::remove_file(t.path().join("checkpoints")).unwrap();
    // (an auditor's copy: no journal, and no writer lock, which would require the journal)
    fs::remove_file(t.path().join("journal")).unwrap();
    fs::remove_file(t.path().join("lock")).unwrap();
    verify(t.path(), &v).unwrap();
    let err = verify_dir(
        t.path(),
        &v,
        &VerifyOptions {
            trusted_checkpoint: Some(note.clone()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.bad_index(), Some(0), "{err}");
    assert!(
        err.to_string().contains("truncated or rolled back"),
        "{err}"
    );
}

#[test]
fn torn_tail_is_truncated_and_mid_corruption_refuses_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    for i in 0..20 {
        log.append_request(record(i)).wait_blocking().unwrap();
    }
    log.close().unwrap();
    let journal = tmp.path().join("journal");
    let good = fs::read(&journal).unwrap();

    // A torn final frame (header says 500 bytes, only 100 follow) is truncated on open.
    let mut f = fs::OpenOptions::new().append(true).open(&journal).unwrap();
    f.write_all(&500u32.to_be_bytes()).unwrap();
    f.write_all(&(!500u32).to_be_bytes()).unwrap();
    f.write_all(&[7u8; 108]).unwrap();
    drop(f);
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    assert_eq!(log.health().size, 20);
    assert_eq!(log.recovery().truncated_bytes, 116);
    assert_eq!(log.recovery().entries, 20);
    log.close().unwrap();
    // A zero-filled tail (size extended, data never landed) is also a torn tail.
    let mut f = fs::OpenOptions::new().append(true).open(&journal).unwrap();
    f.write_all(&[0u8; 4096]).unwrap();
    drop(f);
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    assert_eq!(log.health().size, 20);
    assert_eq!(
        log.append_request(record(20))
            .wait_blocking()
            .unwrap()
            .index,
        20
    );
    log.close().unwrap();
    verify(tmp.path(), &s.verifier()).unwrap();

    // A complete final frame whose bytes were altered (no NUL byte, so not pages a crash left unwritten) fails its
    // MAC: the log does not open.
    let mut bytes = fs::read(&journal).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    fs::write(&journal, &bytes).unwrap();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap_err();
    assert!(log.to_string().contains("fails its MAC"), "{log}");
    assert_eq!(log.bad_index(), Some(20), "{log}");
    // Zeros there (a crash): truncated as torn, but entry 20 was published in a checkpoint, so losing it is
    // corruption, not a torn tail.
    bytes[last] = 0;
    fs::write(&journal, &bytes).unwrap();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap_err();
    assert!(log.to_string().contains("checkpoint covers 21"), "{log}");

    // A damaged frame header in the middle of the journal (length field): open fails naming the entry, instead
    // of mistaking it for a torn tail and dropping what follows.
    let header_len = 8 + 2 + ORIGIN.len();
    let first =
        24 + u32::from_be_bytes(good[header_len..header_len + 4].try_into().unwrap()) as usize;
    let mut bytes = good.clone();
    bytes[header_len + first + 1] ^= 0x40;
    let t3 = tempfile::tempdir().unwrap();
    copy_dir(tmp.path(), t3.path());
    fs::write(t3.path().join("journal"), &bytes).unwrap();
    let err = AuditLog::open(t3.path(), options(&s)).unwrap_err();
    assert_eq!(err.bad_index(), Some(1), "{err}");
    assert!(err.to_string().contains("header at byte"), "{err}");

    // Corruption in the middle of the journal: open fails naming the entry.
    let mut bytes = good.clone();
    bytes[200] ^= 0xff;
    let t2 = tempfile::tempdir().unwrap();
    copy_dir(tmp.path(), t2.path());
    fs::write(t2.path().join("journal"), &bytes).unwrap();
    let err = AuditLog::open(t2.path(), options(&s)).unwrap_err();
    assert_eq!(err.bad_index(), Some(0), "{err}");
    assert!(err.to_string().contains("fails its MAC"), "{err}");
}

#[test]
fn torn_unpublished_tail_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    for i in 0..5 {
        log.append_request(record(i)).wait_blocking().unwrap();
    }
    log.close().unwrap(); // checkpoint at 5
                          // Simulate a crash after a frame was half-written: append a whole frame, then cut it short.
    let journal = tmp.path().join("journal");
    let bytes = fs::read(&journal).unwrap();
    let header_len = 8 + 2 + ORIGIN.len();
    let first_frame_len =
        12 + u32::from_be_bytes(bytes[header_len..header_len + 4].try_into().unwrap()) as usize;
    let frame = bytes[header_len..header_len + first_frame_len].to_vec();
    let mut f = fs::OpenOptions::new().append(true).open(&journal).unwrap();
    f.write_all(&frame[..frame.len() - 10]).unwrap();
    drop(f);
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    assert_eq!(log.health().size, 5);
    log.close().unwrap();
    assert_eq!(fs::read(&journal).unwrap().len(), bytes.len());
}

#[test]
fn torn_checkpoint_archive_is_repaired_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    log.append_request(record(0)).wait_blocking().unwrap();
    log.close().unwrap();
    // A crash while appending a checkpoint to the archive leaves a torn record.
    let archive = tmp.path().join("checkpoints");
    let mut f = fs::OpenOptions::new().append(true).open(&archive).unwrap();
    f.write_all(b"180\nhaetae.example.kr/gw").unwrap();
    drop(f);
    let err = verify(tmp.path(), &s.verifier()).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    log.append_request(record(1)).wait_blocking().unwrap();
    log.close().unwrap();
    let rep = verify(tmp.path(), &s.verifier()).unwrap();
    assert_eq!(rep.size, 2);
    assert_eq!(rep.archived_checkpoints, 3);
}

#[test]
fn write_failure_fails_closed_and_reports_health() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let mut o = options(&s);
    o.max_journal_bytes = Some(4000);
    let log = AuditLog::open(tmp.path(), o).unwrap();
    assert!(log.health().is_ready());
    let mut ok = 0;
    let mut failed = None;
    for i in 0..100 {
        match log.append_request(record(i)).wait_blocking() {
            Ok(r) => {
                assert_eq!(r.index, ok);
                ok += 1;
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    assert!(ok > 0 && ok < 100);
    assert!(matches!(failed, Some(AuditError::Failed(_))), "{failed:?}");
    let h = log.health();
    assert!(!h.is_ready());
    assert!(h.failure.unwrap().contains("size limit"));
    assert!(matches!(
        log.append_request(record(0)).wait_blocking(),
        Err(AuditError::Failed(_))
    ));
    assert!(log.close().is_err());
    // Everything acknowledged is in the log.
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    assert_eq!(log.health().size, ok);
}

#[test]
fn records_hold_no_raw_content_and_digests_are_keyed() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let key = DigestKey::from_secret(b"deployment-secret-for-tests-0001").unwrap();
    let prompt = "내 주민등록번호는 900101-1234567 이고 이메일은 kim@example.kr 입니다";
    let mut d = key.digester();
    for chunk in prompt.as_bytes().chunks(7) {
        d.update(chunk);
    }
    let digest = d.finalize();
    assert_eq!(digest, key.digest(prompt.as_bytes()));
    let other = DigestKey::from_secret(b"deployment-secret-for-tests-0002").unwrap();
    assert_ne!(digest, other.digest(prompt.as_bytes()));
    // Without the key the digest is not the plain SHA-256 of the content.
    assert!(
        !digest.contains(&hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            prompt.as_bytes()
        )))
    );

    let mut r = record(1);
    r.client = key.client_pseudonym("gateway-key:kim.minsu@corp.example.kr");
    r.request_digest = Some(digest.clone());
    r.response_digest = Some(key.digest("응답: 900101-1234567".as_bytes()));
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    log.append_request(r.clone()).wait_blocking().unwrap();
    log.close().unwrap();

    let mut all = Vec::new();
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.path());
            }
        }
    }
    walk(tmp.path(), &mut all);
    assert!(all.len() >= 5);
    for path in all {
        let bytes = fs::read(&path).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        for needle in [
            "900101",
            "1234567",
            "kim@example.kr",
            "kim.minsu",
            "주민등록번호",
        ] {
            assert!(
                !hay.contains(needle),
                "{} contains raw content {needle:?}",
                path.display()
            );
        }
    }
    // The record holds exactly what it was given: the leaf round-trips to the same record.
    let mut leaves = Vec::new();
    for_each_leaf(tmp.path(), 1, |_, d| {
        leaves.push(haetae::audit::record::parse_leaf(d).unwrap());
        Ok(true)
    })
    .unwrap();
    assert_eq!(leaves[0].entry, Entry::Request(r));
    assert_eq!(leaves[0].instance, "gw-test-1");
}

#[test]
fn concurrent_appends_get_unique_dense_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let log = std::sync::Arc::new(AuditLog::open(tmp.path(), options(&s)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..250)
                    .map(|i| {
                        log.append_request(record(t * 1000 + i))
                            .wait_blocking()
                            .unwrap()
                            .index
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<_>>());
    let stats = log.stats();
    assert_eq!(stats.entries, 1000);
    assert!(stats.batches <= 1000);
    drop(log);
    verify(tmp.path(), &s.verifier()).unwrap();
}

#[test]
fn detached_appends_wait_for_company_but_never_hold_up_an_awaited_one() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let mut o = options(&s);
    // detached-only batches would linger for an hour; an awaited append must end that wait at once
    o.detached_batch_delay = Duration::from_secs(3600);
    let log = std::sync::Arc::new(AuditLog::open(tmp.path(), o).unwrap());
    for i in 0..10 {
        log.append_detached(Entry::Request(record(i))).unwrap();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let awaiting = log.clone();
    let appender = std::thread::spawn(move || {
        let _ = tx.send(awaiting.append_request(record(10)).wait_blocking());
    });
    // a liveness guard, not a performance assertion: the commit is immediate, the linger an hour
    let receipt = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the awaited append was held back by detached ones")
        .unwrap();
    assert_eq!(
        receipt.index, 10,
        "detached entries keep their order before it"
    );
    let stats = log.stats();
    assert_eq!(
        (stats.entries, stats.batches),
        (11, 1),
        "one commit for all"
    );
    // closing commits detached entries still lingering (once the appending thread has let go of its handle)
    appender.join().unwrap();
    log.append_detached(Entry::Request(record(11))).unwrap();
    std::sync::Arc::into_inner(log).unwrap().close().unwrap();
    let report = verify(tmp.path(), &s.verifier()).unwrap();
    assert_eq!(report.size, 12);
}

/// Detached appends wait in a side queue without waking the writer; when the writer has nothing of its own due
/// (idle, parked) the append wakes it, so a lone detached record is still committed about `detached_batch_delay`
/// after it arrived — on a fresh log, after a commit, and after a long idle spell.
#[test]
fn a_lone_detached_append_is_committed_after_the_delay_even_when_the_log_is_idle() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let mut o = options(&s);
    o.detached_batch_delay = Duration::from_millis(30);
    o.checkpoint_interval = Duration::from_secs(3600);
    let log = AuditLog::open(tmp.path(), o).unwrap();
    // a liveness guard, not a performance assertion
    let committed = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while log.stats().entries < n {
            assert!(
                Instant::now() < deadline,
                "detached entry {n} never committed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    std::thread::sleep(Duration::from_millis(100));
    log.append_detached(Entry::Request(record(0))).unwrap();
    committed(1);
    log.append_request(record(1)).wait_blocking().unwrap();
    log.append_detached(Entry::Request(record(2))).unwrap();
    committed(3);
    std::thread::sleep(Duration::from_millis(200));
    for i in 3..6 {
        log.append_detached(Entry::Request(record(i))).unwrap();
    }
    committed(6);
    log.close().unwrap();
    assert_eq!(verify(tmp.path(), &s.verifier()).unwrap().size, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_callers_await_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let log = std::sync::Arc::new(AuditLog::open(tmp.path(), options(&s)).unwrap());
    let mut tasks = Vec::new();
    for i in 0..50 {
        let log = log.clone();
        tasks.push(tokio::spawn(
            async move { log.append_request(record(i)).await },
        ));
    }
    let mut idx = Vec::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(r.header_value().split(' ').count(), 3);
        idx.push(r.index);
    }
    idx.sort_unstable();
    assert_eq!(idx, (0..50).collect::<Vec<_>>());
}

#[test]
fn checkpoints_are_published_on_the_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let mut o = options(&s);
    o.checkpoint_interval = Duration::from_millis(20);
    let log = AuditLog::open(tmp.path(), o).unwrap();
    log.append_request(record(0)).wait_blocking().unwrap();
    // Wait (bounded) for the background publication; no timing assertion beyond "eventually".
    for _ in 0..500 {
        if log.health().checkpoint_size == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(log.health().checkpoint_size, 1);
    let note = fs::read_to_string(tmp.path().join("checkpoint")).unwrap();
    assert!(note.starts_with(&format!("{ORIGIN}\n1\n")));
}

#[test]
fn a_failed_background_publication_is_retried_and_the_log_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let mut o = options(&s);
    o.checkpoint_interval = Duration::from_millis(20);
    let log = AuditLog::open(tmp.path(), o).unwrap();
    // the periodic publication (on the tile thread) cannot replace `checkpoint` while it is a non-empty directory
    fs::remove_file(tmp.path().join("checkpoint")).unwrap();
    fs::create_dir_all(tmp.path().join("checkpoint/blocker")).unwrap();
    log.append_request(record(0)).wait_blocking().unwrap();
    for _ in 0..500 {
        if log.health().degraded.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let health = log.health();
    let degraded = health.degraded.clone().expect("the failure went unnoticed");
    assert!(
        degraded.contains("checkpoint publication failed"),
        "{degraded}"
    );
    // Derived data only: the log still accepts (and journals) records.
    assert!(health.is_ready(), "{health:?}");
    log.append_request(record(1)).wait_blocking().unwrap();
    // The cause clears: the writer publishes again at its next checkpoint time.
    fs::remove_dir_all(tmp.path().join("checkpoint")).unwrap();
    for _ in 0..500 {
        let h = log.health();
        if h.checkpoint_size == 2 && h.degraded.is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let health = log.health();
    assert_eq!(health.checkpoint_size, 2, "{health:?}");
    assert!(health.degraded.is_none() && health.is_ready(), "{health:?}");
    log.close().unwrap();
    verify(tmp.path(), &s.verifier()).unwrap();
}

/// `report` counts what left: `not_delivered` records (no connection was made) are not transfers, `sent_no_response`
/// ones are; a `refused` record with a destination (written before the two were told apart) counts as a transfer
/// and is listed as such.
#[test]
fn monthly_report_counts_only_what_left() {
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    for (i, outcome) in ["not_delivered", "sent_no_response", "refused", "forwarded"]
        .into_iter()
        .enumerate()
    {
        let mut r = record(3 * i as u64); // abroad (US), one email each
        r.outcome = outcome.into();
        r.actions.clear();
        log.append_request(r).wait_blocking().unwrap();
    }
    log.close().unwrap();
    let v = s.verifier();
    let mut month = String::new();
    for_each_leaf(tmp.path(), 1, |_, d| {
        month = haetae::audit::record::parse_leaf(d).unwrap().time[..7].to_owned();
        Ok(false)
    })
    .unwrap();
    let rep = monthly_report(tmp.path(), &v, &month, "KR").unwrap();
    assert_eq!(rep.requests, 4);
    assert_eq!(rep.forwarded_abroad, 3, "{rep:?}");
    assert_eq!(rep.not_delivered, 1);
    assert_eq!(rep.delivery_unknown, 1);
    assert_eq!(rep.entities_abroad.get("email"), Some(&3));
    let text = rep.to_text();
    assert!(
        text.contains("Not delivered") && text.contains("older version"),
        "{text}"
    );
}

#[test]
fn monthly_report_summarises_transfers() {
    let (tmp, v) = build_log(100);
    let month = {
        let mut first = String::new();
        for_each_leaf(tmp.path(), 1, |_, d| {
            first = haetae::audit::record::parse_leaf(d).unwrap().time[..7].to_owned();
            Ok(true)
        })
        .unwrap();
        first
    };
    let rep = monthly_report(tmp.path(), &v, &month, "KR").unwrap();
    assert_eq!(rep.requests, 99);
    assert_eq!(rep.policy_changes.len(), 1);
    assert_eq!(rep.by_jurisdiction.values().sum::<u64>(), 99);
    let abroad_forwarded = (1..100u64).filter(|i| i % 3 == 0 && i % 11 != 0).count() as u64;
    assert_eq!(rep.forwarded_abroad, abroad_forwarded);
    assert_eq!(
        rep.blocked,
        (1..100u64).filter(|i| i % 11 == 0).count() as u64
    );
    assert_eq!(rep.entities_abroad.get("email"), Some(&abroad_forwarded));
    assert!(rep
        .to_text()
        .contains("Requests by destination jurisdiction"));
    let empty = monthly_report(tmp.path(), &v, "2001-01", "KR").unwrap();
    assert_eq!(empty.requests, 0);
}

#[test]
fn multi_level_tiles_serve_the_same_proofs_as_memory() {
    // 65,600 entries: 256 full level-0 tiles + partial, one full level-1 tile + partial, partial level-2 tile.
    let tmp = tempfile::tempdir().unwrap();
    let s = signer();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    let n = 65_600u64;
    let mut pending = std::collections::VecDeque::new();
    for i in 0..n {
        pending.push_back(log.append(Entry::ConfigChange(ChangeRecord {
            subject: format!("c{i}"),
            new_hash: "h".into(),
            ..Default::default()
        })));
        if pending.len() > 4096 {
            pending.pop_front().unwrap().wait_blocking().unwrap();
        }
    }
    for p in pending {
        p.wait_blocking().unwrap();
    }
    let mid = log.publish_checkpoint().unwrap();
    assert_eq!(mid.size, n);
    log.close().unwrap();
    for rel in [
        "tile/0/255",
        "tile/0/256.p/64",
        "tile/1/000",
        "tile/1/001.p/0",
    ] {
        let exists = tmp.path().join(rel).is_file();
        assert_eq!(exists, !rel.ends_with(".p/0"), "{rel}");
    }
    assert!(tmp.path().join("tile/2/000.p/1").is_file());
    assert!(tmp.path().join("tile/entries/256.p/64").is_file());
    let mut mem = MemoryTree::new();
    for_each_leaf(tmp.path(), n, |_, d| {
        mem.push(leaf_hash(d));
        Ok(true)
    })
    .unwrap();
    let mut tiles = TileReader::new(tmp.path(), n);
    assert_eq!(
        haetae::audit::merkle::root_at(&mut tiles, n).unwrap(),
        mid.root
    );
    for i in [0, 1, 255, 256, 65_535, 65_536, 65_599, 31_337] {
        assert_eq!(
            inclusion_proof(&mut tiles, i, n).unwrap(),
            inclusion_proof(&mut mem, i, n).unwrap(),
            "{i}"
        );
    }
    for m in [1, 256, 65_536, 40_000] {
        assert_eq!(
            haetae::audit::merkle::consistency_proof(&mut tiles, m, n).unwrap(),
            haetae::audit::merkle::consistency_proof(&mut mem, m, n).unwrap(),
            "{m}"
        );
    }
    let rep = verify(tmp.path(), &s.verifier()).unwrap();
    assert_eq!(rep.size, n);
    let proof = prove(
        tmp.path(),
        &s.verifier(),
        LeafRef {
            shard: 0,
            index: 65_599,
        },
    )
    .unwrap();
    TlogProof::parse(&proof.to_text())
        .unwrap()
        .verify(&s.verifier(), None)
        .unwrap();
}
