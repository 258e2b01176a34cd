//! Rotation of the residency log into sealed, chained shards: rotation by size and by age, the chain and its tamper
//! detection (a deleted, swapped, truncated or re-signed shard is named precisely), `prune` (refuses inside
//! retention, keeps the chain verifiable), readers across shards (proofs from receipts, request lookup, export,
//! report), and recovery from crashes in the middle of a rotation. Real files in temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;
use std::time::Duration;

use haetae::audit::merkle::leaf_hash;
use haetae::audit::record::parse_leaf;
use haetae::audit::shard::{
    is_pruned, is_sealed, list_shards, shard_dir, shard_of_origin, PRUNED_FILE, SEALED_FILE,
};
use haetae::audit::verify::{
    find_request, for_each_leaf, for_each_record, monthly_report, parse_archive, prove,
    read_shard_checkpoint, verify_dir, verify_dir_with, LeafRef, Retention, TimeRange,
    VerifyOptions,
};
use haetae::audit::{
    prune, AuditError, AuditLog, AuditOptions, Entry, NoteSigner, NoteVerifier, PruneOptions,
    Receipt, ShardLink, TlogProof, VerifyReport,
};

const NAME: &str = "haetae.example.kr/gw-shards";

#[path = "support/audit_fixture.rs"]
mod audit_fixture;
use audit_fixture::record;

fn options(s: &NoteSigner) -> AuditOptions {
    audit_fixture::options(s, "gw-shards-1")
}

/// Append `n` records one at a time (so rotation can happen between any two) and return their receipts.
fn append(log: &AuditLog, from: u64, n: u64) -> Vec<Receipt> {
    (from..from + n)
        .map(|i| log.append_request(record(i)).wait_blocking().unwrap())
        .collect()
}

/// A log rotated by size into several shards: returns (dir, verifier, receipts of records 0..n).
fn rotated_log(n: u64, rotate_bytes: u64) -> (tempfile::TempDir, NoteVerifier, Vec<Receipt>) {
    let tmp = tempfile::tempdir().unwrap();
    let s = NoteSigner::generate(NAME).unwrap();
    let mut o = options(&s);
    o.rotate_max_bytes = Some(rotate_bytes);
    let log = AuditLog::open(tmp.path(), o).unwrap();
    let receipts = append(&log, 0, n);
    log.close().unwrap();
    (tmp, s.verifier(), receipts)
}

fn verify(dir: &Path, v: &NoteVerifier) -> Result<VerifyReport, AuditError> {
    verify_dir(dir, v, &VerifyOptions::default())
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let e = entry.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
            let mut p = fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            p.set_readonly(false);
            fs::set_permissions(&target, p).unwrap();
        }
    }
}

/// A writable copy of a log, for tampering.
fn copy_log(from: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(from, tmp.path());
    fs::remove_file(tmp.path().join("lock")).ok();
    tmp
}

fn leaves(dir: &Path, v: &NoteVerifier, shard: u64) -> Vec<Vec<u8>> {
    let origin = haetae::audit::shard::shard_origin(v.name(), shard);
    let sdir = shard_dir(dir, shard);
    let (cp, _) = read_shard_checkpoint(&sdir, v, &origin).unwrap();
    let mut out = Vec::new();
    for_each_leaf(&sdir, cp.size, |_, d| {
        out.push(d.to_vec());
        Ok(true)
    })
    .unwrap();
    out
}

fn expect_err(r: Result<VerifyReport, AuditError>, shard: u64, needle: &str) -> AuditError {
    let e = r.expect_err("tampering must be detected");
    assert_eq!(e.bad_shard(), Some(shard), "{e}");
    assert!(e.to_string().contains(needle), "{e}");
    e
}

#[test]
fn rotation_by_size_seals_and_chains_shards() {
    let (tmp, v, receipts) = rotated_log(150, 4 * 1024);
    let dir = tmp.path();
    let shards = list_shards(dir).unwrap();
    assert!(shards.len() >= 4, "{shards:?}");
    let newest = *shards.last().unwrap();
    let rep = verify(dir, &v).unwrap();
    assert_eq!(rep.shards.len(), shards.len());
    // Every record plus one chain record per shard after the first.
    assert_eq!(rep.total_entries, 150 + newest);
    assert_eq!(rep.origin, format!("{NAME}/shards/{newest}"));

    let mut previous: Option<(String, u64, String, Option<String>)> = None;
    for &k in &shards {
        let sdir = shard_dir(dir, k);
        let report = &rep.shards[k as usize];
        assert_eq!(report.shard, k);
        // Each shard is a complete tlog-tiles log of its own.
        assert!(sdir.join("checkpoint").is_file());
        assert!(sdir.join("tile/0/000.p").is_dir() || sdir.join("tile/0/000").is_file());
        assert!(sdir.join("tile/entries").is_dir());
        if k < newest {
            assert!(is_sealed(&sdir) && report.sealed, "shard {k}");
            let sealed = fs::read_to_string(sdir.join(SEALED_FILE)).unwrap();
            assert_eq!(sealed, fs::read_to_string(sdir.join("checkpoint")).unwrap());
            assert!(
                !sdir.join("journal").exists(),
                "sealed shards drop their journal"
            );
            for f in ["checkpoint", "sealed", "tile/0/000.p"] {
                let p = sdir.join(f);
                if p.is_file() {
                    assert!(fs::metadata(&p).unwrap().permissions().readonly(), "{f}");
                }
            }
            // A size limit of 4 KiB is reached within one record (~270 bytes) of it.
            // (the journal's size: header + a 24-byte frame header per leaf)
            let journal = 10
                + report.origin.len() as u64
                + leaves(dir, &v, k)
                    .iter()
                    .map(|l| 24 + l.len() as u64)
                    .sum::<u64>();
            assert!((4 * 1024..4 * 1024 + 400).contains(&journal), "{journal}");
        } else {
            assert!(!is_sealed(&sdir));
        }
        let all = leaves(dir, &v, k);
        for (i, l) in all.iter().enumerate() {
            assert_eq!(parse_leaf(l).unwrap().seq, i as u64);
        }
        if let Some((origin, size, root, newest)) = &previous {
            let first = parse_leaf(&all[0]).unwrap();
            assert_eq!(
                first.entry,
                Entry::ShardStart(ShardLink {
                    shard: k,
                    previous_origin: origin.clone(),
                    previous_size: *size,
                    previous_root: root.clone(),
                    previous_newest_time: None,
                    previous_max_time: newest.clone(),
                })
            );
            assert!(
                newest.is_some(),
                "the chain record names the previous shard's newest record time"
            );
        }
        previous = Some((
            report.origin.clone(),
            report.size,
            report.root.clone(),
            report.newest_time.clone(),
        ));
    }

    // Receipts name the shard in their origin; a proof built from a receipt checks offline and names the same
    // origin and leaf hash.
    for r in receipts.iter().step_by(37) {
        let shard = shard_of_origin(NAME, &r.origin).unwrap();
        let proof = prove(
            dir,
            &v,
            LeafRef {
                shard,
                index: r.index,
            },
        )
        .unwrap();
        let parsed = TlogProof::parse(&proof.to_text()).unwrap();
        let cp = parsed.verify(&v, None).unwrap();
        assert_eq!(cp.origin, &*r.origin);
        assert_eq!(leaf_hash(parsed.leaf.as_deref().unwrap()), r.leaf_hash);
    }
    // Request lookup across shards.
    let last = receipts.last().unwrap();
    assert_eq!(
        find_request(dir, &v, "req-00149").unwrap(),
        Some(LeafRef {
            shard: newest,
            index: last.index
        })
    );
    let at = find_request(dir, &v, "req-00003").unwrap().unwrap();
    assert_eq!(at.shard, 0);
    assert_eq!(find_request(dir, &v, "req-99999").unwrap(), None);

    // Export walks the shards in order; the report counts across them.
    let mut ids = Vec::new();
    let mut starts = 0;
    for_each_record(dir, &v, "", "~", |_, _, leaf| {
        match &leaf.entry {
            Entry::Request(r) => ids.push(r.request_id.clone()),
            Entry::ShardStart(_) => starts += 1,
            _ => {}
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        ids,
        (0..150).map(|i| format!("req-{i:05}")).collect::<Vec<_>>()
    );
    assert_eq!(starts, newest);
    let month = &parse_leaf(&leaves(dir, &v, 0)[0]).unwrap().time[..7];
    let report = monthly_report(dir, &v, month, "KR").unwrap();
    assert_eq!(report.requests, 150);
    assert_eq!(report.shards_started, newest);
}

#[test]
fn rotation_by_age_including_a_shard_aged_while_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let s = NoteSigner::generate(NAME).unwrap();
    // Written without time rotation...
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    append(&log, 0, 3);
    log.close().unwrap();
    std::thread::sleep(Duration::from_millis(30));
    // ...reopened with a maximum age the shard has already exceeded: the first batch rotates (the age comes from
    // the shard's first leaf, read back from the journal).
    let mut o = options(&s);
    o.rotate_max_age = Some(Duration::from_millis(20));
    let log = AuditLog::open(tmp.path(), o).unwrap();
    let r = append(&log, 3, 1);
    assert_eq!(&*r[0].origin, format!("{NAME}/shards/1"));
    assert_eq!(r[0].index, 1, "leaf 0 of shard 1 is its chain record");
    assert_eq!(log.health().shard, 1);
    assert_eq!(log.stats().rotations, 1);
    std::thread::sleep(Duration::from_millis(30));
    let r = append(&log, 4, 1);
    assert_eq!(&*r[0].origin, format!("{NAME}/shards/2"));
    log.close().unwrap();
    let rep = verify(tmp.path(), &s.verifier()).unwrap();
    // Shards 0, 1 and 2; on a loaded machine shard 2 (its chain record + record 4) may pass 20 ms before `close` and
    // be rotated by the idle timer into a fourth shard that holds only its chain record.
    assert!(
        matches!(rep.shards.len(), 3 | 4),
        "{} shards",
        rep.shards.len()
    );
    assert_eq!(rep.total_entries, 5 + (rep.shards.len() as u64 - 1));
    // An idle log still rotates on time (so its records become prunable)...
    let mut o = options(&s);
    o.rotate_max_age = Some(Duration::from_millis(200));
    let log = AuditLog::open(tmp.path(), o).unwrap();
    append(&log, 5, 1);
    // (this append may itself have rotated first: shard 2 may already be older than 200 ms)
    let before = log.health().shard;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while log.health().shard == before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        log.health().shard,
        before + 1,
        "rotated without a new record"
    );
    // ...and a shard holding only its chain record is not rotated again.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(log.health().shard, before + 1);
    log.close().unwrap();
    let rep = verify(tmp.path(), &s.verifier()).unwrap();
    assert_eq!(rep.shards.len() as u64, before + 2);
    assert_eq!(rep.size, 1, "the newest shard holds only its chain record");
}

#[test]
fn logs_created_before_rotation_open_as_shard_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let s = NoteSigner::generate(NAME).unwrap();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    let r = append(&log, 0, 10);
    log.close().unwrap();
    // The single-directory layout is unchanged: no shards directory, origin = key name.
    assert!(!tmp.path().join("shards").exists());
    assert_eq!(&*r[9].origin, NAME);
    let rep = verify(tmp.path(), &s.verifier()).unwrap();
    assert_eq!((rep.size, rep.shards.len()), (10, 1));
    // Rotation turned on later continues the chain from it.
    let mut o = options(&s);
    o.rotate_max_bytes = Some(1);
    let log = AuditLog::open(tmp.path(), o).unwrap();
    append(&log, 10, 2);
    log.close().unwrap();
    let rep = verify(tmp.path(), &s.verifier()).unwrap();
    assert!(rep.shards[0].sealed);
    assert_eq!(rep.shards[0].size, 10);
    assert_eq!(rep.total_entries, 10 + 2 + 2);
    // Caller-supplied chain records are refused: only the log writes them.
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    let e = log
        .append(Entry::ShardStart(ShardLink::default()))
        .wait_blocking()
        .unwrap_err();
    assert!(e.to_string().contains("written by the log itself"), "{e}");
    log.close().unwrap();
}

#[test]
fn tampering_with_whole_shards_is_named() {
    let (tmp, v, _) = rotated_log(60, 2 * 1024);
    let dir = tmp.path();
    let shards = list_shards(dir).unwrap();
    assert!(shards.len() >= 4, "{shards:?}");
    verify(dir, &v).unwrap();

    // Delete a shard from the middle of the chain.
    let t = copy_log(dir);
    fs::remove_dir_all(t.path().join("shards/2")).unwrap();
    expect_err(verify(t.path(), &v), 2, "shards/2 is missing");

    // Delete the oldest shard's data (shard 0 = the directory itself).
    let t = copy_log(dir);
    fs::remove_dir_all(t.path().join("tile")).unwrap();
    expect_err(verify(t.path(), &v), 0, "missing");

    // Swap two shards.
    let t = copy_log(dir);
    fs::rename(t.path().join("shards/1"), t.path().join("shards/x")).unwrap();
    fs::rename(t.path().join("shards/2"), t.path().join("shards/1")).unwrap();
    fs::rename(t.path().join("shards/x"), t.path().join("shards/2")).unwrap();
    let e = expect_err(
        verify(t.path(), &v),
        1,
        "shard directories swapped or renamed",
    );
    assert!(e.to_string().contains("shard 2's checkpoint"), "{e}");

    // Truncate a sealed shard: roll its checkpoint back to an earlier archived one.
    let t = copy_log(dir);
    let s1 = t.path().join("shards/1");
    let archive = parse_archive(&fs::read(s1.join("checkpoints")).unwrap()).unwrap();
    assert!(archive.len() >= 2);
    fs::write(s1.join("checkpoint"), &archive[0]).unwrap();
    expect_err(verify(t.path(), &v), 1, "entries removed");
    // ...and its archive: the seal still names the real end.
    fs::write(
        s1.join("checkpoints"),
        format!("{}\n{}", archive[0].len(), archive[0]),
    )
    .unwrap();
    expect_err(
        verify(t.path(), &v),
        1,
        "is not the sealed final checkpoint",
    );
    // ...and its sealed note too: the next shard's chain record still names the real end.
    fs::write(s1.join(SEALED_FILE), &archive[0]).unwrap();
    let e = expect_err(verify(t.path(), &v), 2, "previous shard truncated");
    assert_eq!(e.bad_index(), Some(0));

    // Truncate a sealed shard by deleting its newest entries' files.
    let t = copy_log(dir);
    let s1 = t.path().join("shards/1");
    fs::remove_dir_all(s1.join("tile/entries")).unwrap();
    let e = expect_err(verify(t.path(), &v), 1, "entry bundle");
    assert_eq!(e.bad_index(), Some(0));

    // Edit a sealed checkpoint (a different root, same signature): the signature no longer verifies.
    let t = copy_log(dir);
    let s1 = t.path().join("shards/1");
    let note = fs::read_to_string(s1.join(SEALED_FILE)).unwrap();
    let mut lines: Vec<&str> = note.split('\n').collect();
    let forged_root = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    lines[2] = &forged_root;
    let forged = lines.join("\n");
    fs::write(s1.join(SEALED_FILE), &forged).unwrap();
    expect_err(verify(t.path(), &v), 1, "sealed checkpoint does not verify");
    let t = copy_log(dir);
    fs::write(t.path().join("shards/1/checkpoint"), &forged).unwrap();
    expect_err(verify(t.path(), &v), 1, "does not verify");

    // Remove the seal of a shard that has a successor: that is what a crash before the (asynchronous) seal
    // leaves, so it verifies as unsealed — the chain still pins its end: truncating it is detected.
    let t = copy_log(dir);
    let s1 = t.path().join("shards/1");
    fs::remove_file(s1.join(SEALED_FILE)).unwrap();
    let rep = verify(t.path(), &v).unwrap();
    assert!(!rep.shards[1].sealed && rep.shards[0].sealed && rep.shards[2].sealed);
    let archive = parse_archive(&fs::read(s1.join("checkpoints")).unwrap()).unwrap();
    fs::write(s1.join("checkpoint"), &archive[0]).unwrap();
    fs::write(
        s1.join("checkpoints"),
        format!("{}\n{}", archive[0].len(), archive[0]),
    )
    .unwrap();
    let e = expect_err(verify(t.path(), &v), 2, "previous shard truncated");
    assert_eq!(e.bad_index(), Some(0));

    // A trusted checkpoint of a shard that no longer exists (newest shards removed) is reported.
    let newest = *shards.last().unwrap();
    let kept = fs::read_to_string(shard_dir(dir, newest).join("checkpoint")).unwrap();
    let t = copy_log(dir);
    fs::remove_dir_all(shard_dir(t.path(), newest)).unwrap();
    let e = verify_dir(
        t.path(),
        &v,
        &VerifyOptions {
            trusted_checkpoint: Some(kept.clone()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.bad_shard(), Some(newest));
    assert!(e.to_string().contains("newest shards removed"), "{e}");
    // ...and against the intact log it passes.
    verify_dir(
        dir,
        &v,
        &VerifyOptions {
            trusted_checkpoint: Some(kept),
            ..Default::default()
        },
    )
    .unwrap();
}

/// Shard `k`'s newest record time, as `verify` reports it.
fn newest_time(report: &VerifyReport, k: usize) -> time::OffsetDateTime {
    time::PrimitiveDateTime::parse(
        report.shards[k].newest_time.as_deref().unwrap(),
        time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ),
    )
    .unwrap()
    .assume_utc()
}

/// A closed log of four appends of 10 records, 5 ms apart, rotated every 2 KiB: five or more shards whose newest
/// leaves are a few ms apart, so a retention cutoff can fall between them.
fn spaced_shards(dir: &Path, s: &NoteSigner) {
    let mut o = options(s);
    o.rotate_max_bytes = Some(2 * 1024);
    let log = AuditLog::open(dir, o).unwrap();
    for i in 0..4 {
        append(&log, i * 10, 10);
        std::thread::sleep(Duration::from_millis(5));
    }
    log.close().unwrap();
}

#[test]
fn prune_respects_retention_and_keeps_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let s = NoteSigner::generate(NAME).unwrap();
    let v = s.verifier();
    spaced_shards(tmp.path(), &s);
    let dir = tmp.path();
    let before = verify(dir, &v).unwrap();
    let n = before.shards.len();
    assert!(n >= 5, "{n}");
    let now = time::OffsetDateTime::now_utc();

    // Everything is inside a one-day retention: nothing is pruned.
    let day = Duration::from_secs(86_400);
    let rep = prune(
        dir,
        &v,
        &PruneOptions {
            retention: day,
            now,
            dry_run: false,
        },
    )
    .unwrap();
    assert!(rep.pruned.is_empty());
    assert!(rep
        .stopped_at
        .unwrap()
        .contains("inside the retention period"));
    assert_eq!(verify(dir, &v).unwrap(), before);

    // A cutoff just after shard 1's newest leaf: shards 0 and 1 (and any shard no newer) are outside retention.
    let newest1 = before.shards[1].newest_time.clone().unwrap();
    let t1 = newest_time(&before, 1);
    let opts = PruneOptions {
        retention: day,
        now: t1 + day + time::Duration::milliseconds(1),
        dry_run: true,
    };
    let dry = prune(dir, &v, &opts).unwrap();
    let expected: Vec<u64> = before
        .shards
        .iter()
        .take(n - 1)
        .take_while(|s| s.newest_time.as_deref() <= Some(newest1.as_str()))
        .map(|s| s.shard)
        .collect();
    assert_eq!(
        dry.pruned.iter().map(|p| p.shard).collect::<Vec<_>>(),
        expected
    );
    assert!(!is_pruned(dir), "a dry run deletes nothing");
    let rep = prune(
        dir,
        &v,
        &PruneOptions {
            dry_run: false,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(rep.pruned, dry.pruned);
    let kept_from = expected.len() as u64;
    assert!(kept_from < n as u64 - 1, "a shard inside retention remains");
    for k in 0..kept_from {
        let sdir = shard_dir(dir, k);
        assert!(is_pruned(&sdir) && is_sealed(&sdir));
        assert!(!sdir.join("tile").exists() && !sdir.join("journal").exists());
        assert!(sdir.join("checkpoint").is_file() && sdir.join(PRUNED_FILE).is_file());
    }
    assert!(!is_pruned(&shard_dir(dir, kept_from)));
    // The chain still verifies (judged at the prune's clock: the pruned shards are only outside a one-day
    // retention a day from now), every entry still counted, pruned shards reported.
    let at = |now| Retention {
        period: time::Duration::days(1),
        now,
    };
    let after = verify_dir_with(dir, &v, &VerifyOptions::default(), &at(opts.now)).unwrap();
    assert_eq!(after.total_entries, before.total_entries);
    assert_eq!(
        after.shards.iter().filter(|s| s.pruned).count() as u64,
        kept_from
    );
    // Readers skip pruned shards; a proof into one is refused with a reason.
    let e =
        haetae::audit::verify::prove_with(dir, &v, LeafRef { shard: 0, index: 1 }, &at(opts.now))
            .unwrap_err();
    assert!(e.to_string().contains("outside retention"), "{e}");
    // At today's clock and the default retention, the same prune is not legitimate.
    let e = prove(dir, &v, LeafRef { shard: 0, index: 1 }).unwrap_err();
    assert!(
        e.to_string().contains("inside the 730-day retention"),
        "{e}"
    );
    expect_err(verify(dir, &v), 0, "inside the 730-day retention");
    let mut first = None;
    haetae::audit::verify::for_each_record_in(
        dir,
        &v,
        &TimeRange::default(),
        &at(opts.now),
        |at, _, _| {
            first.get_or_insert(at);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(first.unwrap().shard, kept_from);
    // Pruning again is a no-op; the newest shard is never pruned, whatever the clock says.
    let far = PruneOptions {
        retention: day,
        now: now + day * 400,
        dry_run: false,
    };
    let rep = prune(dir, &v, &far).unwrap();
    assert_eq!(rep.already_pruned, kept_from);
    assert_eq!(rep.pruned.len() as u64, n as u64 - 1 - kept_from);
    assert!(rep.stopped_at.unwrap().contains("newest shard"));
    let newest = shard_dir(dir, n as u64 - 1);
    assert!(!is_pruned(&newest) && newest.join("tile").is_dir());
    verify_dir_with(dir, &v, &VerifyOptions::default(), &at(far.now)).unwrap();

    // Tampering with a pruned shard's kept checkpoint, or deleting it, is still detected.
    let t = copy_log(dir);
    fs::remove_file(t.path().join(SEALED_FILE)).unwrap();
    expect_err(verify(t.path(), &v), 0, "never sealed");
    let t = copy_log(dir);
    fs::remove_dir_all(t.path().join("shards/1")).unwrap();
    expect_err(verify(t.path(), &v), 1, "missing");
}

#[test]
fn a_pruned_marker_must_match_the_signed_chain_record() {
    let tmp = tempfile::tempdir().unwrap();
    let s = NoteSigner::generate(NAME).unwrap();
    let v = s.verifier();
    spaced_shards(tmp.path(), &s);
    let dir = tmp.path();
    let before = verify(dir, &v).unwrap();
    let n = before.shards.len();
    // Prune legitimately up to shard 1's newest leaf.
    let newest1 = before.shards[1].newest_time.clone().unwrap();
    let t1 = newest_time(&before, 1);
    let day = Duration::from_secs(86_400);
    let opts = PruneOptions {
        retention: day,
        now: t1 + day + time::Duration::milliseconds(1),
        dry_run: false,
    };
    let rep = prune(dir, &v, &opts).unwrap();
    let kept_from = rep.pruned.len() as u64;
    assert!(
        kept_from >= 2 && kept_from < n as u64 - 1,
        "{kept_from} of {n}"
    );
    let at = Retention {
        period: time::Duration::days(1),
        now: opts.now,
    };
    verify_dir_with(dir, &v, &VerifyOptions::default(), &at).unwrap();

    // Forge: delete the first shard inside retention with a well-formed marker claiming an old enough newest
    // record (the last legitimately pruned shard's, so it is also no later than the next shard's start).
    // The forger keeps the victim's genuine chain record proof too (anyone can build it from the tiles), so the
    // previous shard's pruning still proves.
    let t = copy_log(dir);
    let victim = shard_dir(t.path(), kept_from);
    let chain = prove(
        t.path(),
        &v,
        LeafRef {
            shard: kept_from,
            index: 0,
        },
    )
    .unwrap();
    fs::write(victim.join("chain-proof"), chain.to_text()).unwrap();
    for sub in ["tile", "journal", "checkpoints"] {
        let p = victim.join(sub);
        if p.is_dir() {
            fs::remove_dir_all(&p).unwrap();
        } else if p.exists() {
            fs::remove_file(&p).unwrap();
        }
    }
    fs::write(
        victim.join(PRUNED_FILE),
        format!("pruned {newest1}\nnewest {newest1}\n"),
    )
    .unwrap();
    let e = verify_dir_with(t.path(), &v, &VerifyOptions::default(), &at).unwrap_err();
    assert_eq!(e.bad_shard(), Some(kept_from), "{e}");
    assert!(e.to_string().contains("signed chain"), "{e}");

    // Pruned shards k ≥ 1 keep the proof of their own chain record: it is what proves the predecessor's pruning
    // once their tiles are gone; without it, that pruning is unprovable.
    assert!(shard_dir(dir, 1).join("chain-proof").is_file());
    let t = copy_log(dir);
    fs::remove_file(shard_dir(t.path(), 1).join("chain-proof")).unwrap();
    let e = verify_dir_with(t.path(), &v, &VerifyOptions::default(), &at).unwrap_err();
    assert_eq!(e.bad_shard(), Some(0), "{e}");
    assert!(e.to_string().contains("cannot be proven"), "{e}");
}

#[test]
fn prune_refuses_a_log_that_does_not_verify() {
    let (tmp, v, _) = rotated_log(40, 4 * 1024);
    let dir = tmp.path();
    // Shard 1's entries altered: prune must not delete anything (the evidence would go with it).
    let s1 = dir.join("shards/1");
    let bundle = s1.join("tile/entries/000.p");
    let width = fs::read_dir(&bundle)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut p = fs::metadata(&width).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    p.set_readonly(false);
    fs::set_permissions(&width, p).unwrap();
    let mut bytes = fs::read(&width).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    fs::write(&width, bytes).unwrap();
    let far = PruneOptions {
        retention: Duration::from_secs(86_400),
        now: time::OffsetDateTime::now_utc() + Duration::from_secs(86_400 * 30),
        dry_run: false,
    };
    let e = prune(dir, &v, &far).unwrap_err();
    assert_eq!(e.bad_shard(), Some(1), "{e}");
    assert!(!is_pruned(dir) && dir.join("tile").is_dir());
    let e = prune(
        dir,
        &v,
        &PruneOptions {
            retention: Duration::ZERO,
            ..far
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("greater than zero"), "{e}");
}

#[test]
fn crash_states_during_rotation_recover_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let s = NoteSigner::generate(NAME).unwrap();
    let v = s.verifier();
    let dir = tmp.path();
    let rotating = || {
        let mut o = options(&s);
        o.rotate_max_bytes = Some(4 * 1024);
        o
    };
    let log = AuditLog::open(dir, rotating()).unwrap();
    append(&log, 0, 30);
    log.close().unwrap();
    let newest = *list_shards(dir).unwrap().last().unwrap();
    assert!(newest >= 2);

    // 1. Sealed, successor never created (crash right after the seal): reopen starts the successor with its
    //    chain record, and the log verifies and accepts appends.
    fs::remove_dir_all(shard_dir(dir, newest)).unwrap();
    assert!(verify(dir, &v).unwrap().shards.last().unwrap().sealed);
    let log = AuditLog::open(dir, options(&s)).unwrap();
    assert_eq!(log.health().shard, newest);
    let r = append(&log, 100, 1);
    assert_eq!(
        (&*r[0].origin, r[0].index),
        (format!("{NAME}/shards/{newest}").as_str(), 1)
    );
    log.close().unwrap();
    verify(dir, &v).unwrap();

    // 2. Successor directory created, nothing in it yet (crash before its journal existed).
    let log = AuditLog::open(dir, rotating()).unwrap();
    append(&log, 200, 20);
    log.close().unwrap();
    let newest = *list_shards(dir).unwrap().last().unwrap();
    fs::remove_dir_all(shard_dir(dir, newest)).unwrap();
    fs::create_dir_all(shard_dir(dir, newest)).unwrap();
    let rep = verify(dir, &v).unwrap();
    assert_eq!(rep.shards.last().unwrap().size, 0, "a shard being created");
    let log = AuditLog::open(dir, options(&s)).unwrap();
    log.publish_checkpoint().unwrap();
    log.close().unwrap();
    let rep = verify(dir, &v).unwrap();
    assert_eq!(rep.shards.len() as u64, newest + 1);
    assert_eq!(rep.size, 1, "only the chain record");

    // 3. Successor journal created but torn inside its header (crash mid-write of the header).
    fs::remove_dir_all(shard_dir(dir, newest)).unwrap();
    fs::create_dir_all(shard_dir(dir, newest)).unwrap();
    fs::write(shard_dir(dir, newest).join("journal"), b"HAETA").unwrap();
    let log = AuditLog::open(dir, options(&s)).unwrap();
    append(&log, 300, 2);
    log.close().unwrap();
    let rep = verify(dir, &v).unwrap();
    assert_eq!(rep.size, 3);

    // 4. Chain record durable in the journal, no checkpoint published yet: reopen publishes it.
    let sdir = shard_dir(dir, newest);
    let journal = fs::read(sdir.join("journal")).unwrap();
    let log_files: Vec<_> = ["checkpoint", "checkpoints"]
        .iter()
        .map(|f| sdir.join(f))
        .collect();
    for f in &log_files {
        fs::remove_file(f).unwrap();
    }
    fs::remove_dir_all(sdir.join("tile")).unwrap();
    fs::write(sdir.join("journal"), &journal).unwrap();
    let log = AuditLog::open(dir, options(&s)).unwrap();
    assert_eq!(log.recovery().entries, 3);
    log.close().unwrap();
    verify(dir, &v).unwrap();

    // 5. A rotation got as far as creating the next shard's directory (the old shard's final checkpoint is
    //    published; its seal runs only after the next shard started), then a power loss emptied one of the old
    //    shard's tiles: open replays the old shard against its final checkpoint, rewrites the tile, fsyncs and
    //    seals it (dropping its journal), then starts the next shard.
    let log = AuditLog::open(dir, options(&s)).unwrap();
    append(&log, 400, 5);
    log.close().unwrap();
    let old = newest;
    let prev = shard_dir(dir, old);
    // The widest partial level-0 tile is the one the final checkpoint refers to.
    let tile = fs::read_dir(prev.join("tile/0/000.p"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap_or(0)
        })
        .unwrap();
    fs::write(&tile, b"").unwrap();
    let t6 = copy_log(dir);
    fs::create_dir_all(shard_dir(dir, old + 1)).unwrap();
    let log = AuditLog::open(dir, options(&s)).unwrap();
    assert_eq!(log.health().shard, old + 1);
    log.close().unwrap();
    assert!(is_sealed(&prev));
    assert!(
        !prev.join("journal").exists(),
        "a sealed shard keeps its leaves once"
    );
    let rep = verify(dir, &v).unwrap();
    assert!(rep.shards.iter().all(|s| s.sealed || s.shard == old + 1));
    assert_eq!(rep.shards[old as usize].size, 1 + 2 + 5);

    // 6. An older unsealed shard that does not end at its final checkpoint (entries beyond it) is refused.
    let t = t6.path();
    let sdir = shard_dir(t, old);
    let archive = parse_archive(&fs::read(sdir.join("checkpoints")).unwrap()).unwrap();
    let earlier = archive[0].clone();
    assert_ne!(
        earlier,
        fs::read_to_string(sdir.join("checkpoint")).unwrap()
    );
    fs::write(sdir.join("checkpoint"), &earlier).unwrap();
    fs::write(
        sdir.join("checkpoints"),
        format!("{}\n{}", earlier.len(), earlier),
    )
    .unwrap();
    fs::create_dir_all(shard_dir(t, old + 1)).unwrap();
    let e = AuditLog::open(t, options(&s)).unwrap_err();
    assert_eq!(e.bad_shard(), Some(old), "{e}");
    assert!(e.to_string().contains("beyond the final checkpoint"), "{e}");
}

#[test]
fn damaged_tiles_of_the_open_shard_are_rewritten_from_the_journal() {
    // What a power loss can leave behind: tiles and bundles are written without fsync (the journal is the
    // durable copy), so some may be empty or short while the checkpoint that refers to them is durable.
    let tmp = tempfile::tempdir().unwrap();
    let s = NoteSigner::generate(NAME).unwrap();
    let log = AuditLog::open(tmp.path(), options(&s)).unwrap();
    let pending: Vec<_> = (0..600).map(|i| log.append_request(record(i))).collect();
    for p in pending {
        p.wait_blocking().unwrap();
    }
    log.close().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("tile/0/001"), b"").unwrap();
    let bundle = fs::read(dir.join("tile/entries/000")).unwrap();
    fs::write(dir.join("tile/entries/000"), &bundle[..bundle.len() / 2]).unwrap();
    fs::write(dir.join("tile/0/002.p/88"), [0u8; 88 * 32]).unwrap();
    fs::remove_file(dir.join("tile/entries/001")).unwrap();
    assert!(verify(dir, &s.verifier()).is_err());
    let log = AuditLog::open(dir, options(&s)).unwrap();
    assert_eq!(log.recovery().repaired_files, 3);
    assert_eq!(log.recovery().entries, 600);
    log.close().unwrap();
    assert_eq!(verify(dir, &s.verifier()).unwrap().size, 600);
    // Nothing left to repair.
    let log = AuditLog::open(dir, options(&s)).unwrap();
    assert_eq!(log.recovery().repaired_files, 0);
    log.close().unwrap();
}

#[test]
fn a_failed_rotation_fails_the_log_closed_and_reopen_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let s = NoteSigner::generate(NAME).unwrap();
    let mut o = options(&s);
    o.rotate_max_bytes = Some(2048);
    let log = AuditLog::open(tmp.path(), o).unwrap();
    append(&log, 0, 3);
    // The next shard's directory cannot be created: a file sits where `shards/` must go.
    fs::write(tmp.path().join("shards"), b"in the way").unwrap();
    let mut failed = None;
    for i in 3..40 {
        if let Err(e) = log.append_request(record(i)).wait_blocking() {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("the rotation must fail");
    assert!(e.to_string().contains("shard rotation failed"), "{e}");
    let health = log.health();
    assert!(!health.is_ready());
    assert!(log.append_request(record(99)).wait_blocking().is_err());
    drop(log);
    // The rotation failed before the next shard existed: shard 0 is still the open shard, with its final
    // checkpoint published. With the obstacle gone, the next batch rotates.
    fs::remove_file(tmp.path().join("shards")).unwrap();
    verify(tmp.path(), &s.verifier()).unwrap();
    let mut o = options(&s);
    o.rotate_max_bytes = Some(2048);
    let log = AuditLog::open(tmp.path(), o).unwrap();
    assert_eq!(log.health().shard, 0);
    append(&log, 100, 1);
    assert_eq!(log.health().shard, 1);
    log.close().unwrap();
    assert!(is_sealed(tmp.path()));
    verify(tmp.path(), &s.verifier()).unwrap();
}

/// Milliseconds added to the wall clock by [`shifted_clock`] (only the test below uses it).
static CLOCK_SHIFT_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn shifted_clock() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
        + time::Duration::milliseconds(CLOCK_SHIFT_MS.load(std::sync::atomic::Ordering::SeqCst))
}

fn leaf_time(t: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
}

/// A clock that steps back while a shard is open (NTP correcting a clock that ran an hour ahead) leaves the shard's
/// last records older than its newest one. The shard's newest time — what `verify` reports, what the next shard's
/// chain record signs, what `prune` judges and what a `pruned` marker must state — is the latest of all its
/// records, so the shard is neither pruned early nor can a marker claiming the last record's time pass.
#[test]
fn a_clock_that_steps_back_does_not_make_a_shard_look_older() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = NoteSigner::generate(NAME).unwrap();
    let v = s.verifier();
    let mut o = options(&s);
    o.clock = shifted_clock;
    CLOCK_SHIFT_MS.store(3_600_000, std::sync::atomic::Ordering::SeqCst);
    let log = AuditLog::open(dir, o).unwrap();
    append(&log, 0, 3);
    CLOCK_SHIFT_MS.store(0, std::sync::atomic::Ordering::SeqCst);
    append(&log, 3, 2);
    log.close().unwrap();
    // The next append rotates: shard 0 is sealed, its newest time signed into shard 1's chain record.
    let mut o = options(&s);
    o.rotate_max_bytes = Some(1);
    let log = AuditLog::open(dir, o).unwrap();
    append(&log, 5, 1);
    assert_eq!(log.health().shard, 1);
    log.close().unwrap();

    let times: Vec<String> = leaves(dir, &v, 0)
        .iter()
        .map(|l| parse_leaf(l).unwrap().time)
        .collect();
    let newest = times.iter().max().unwrap().clone();
    let last = times.last().unwrap().clone();
    assert!(
        leaf_time(&last) + time::Duration::minutes(50) < leaf_time(&newest),
        "{times:?}"
    );
    let rep = verify(dir, &v).unwrap();
    assert_eq!(rep.shards[0].newest_time.as_deref(), Some(newest.as_str()));
    // Likewise its oldest time is the earliest record's, which here is not the first leaf's.
    let oldest = times.iter().min().unwrap();
    assert_ne!(oldest, &times[0]);
    assert_eq!(rep.shards[0].oldest_time.as_deref(), Some(oldest.as_str()));

    // A cutoff between the last record and the newest one: shard 0 is still inside retention.
    let day = Duration::from_secs(86_400);
    let now = leaf_time(&last) + day + time::Duration::seconds(1);
    let kept = prune(
        dir,
        &v,
        &PruneOptions {
            retention: day,
            now,
            dry_run: false,
        },
    )
    .unwrap();
    assert!(kept.pruned.is_empty(), "{kept:?}");
    assert!(
        kept.stopped_at
            .as_deref()
            .is_some_and(|w| w.contains("inside the retention period")),
        "{kept:?}"
    );
    assert!(!is_pruned(dir));

    // A forged prune of shard 0 whose marker claims the last record's time (outside retention) is refused, and so
    // is one claiming the newest time (inside retention).
    let at = Retention {
        period: time::Duration::days(1),
        now,
    };
    verify_dir_with(dir, &v, &VerifyOptions::default(), &at).unwrap();
    let when = (now - time::Duration::seconds(1))
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap();
    for (claim, needle) in [(&last, "signed chain"), (&newest, "inside the")] {
        let t = copy_log(dir);
        for sub in ["tile", "checkpoints"] {
            fs::remove_dir_all(t.path().join(sub))
                .or_else(|_| fs::remove_file(t.path().join(sub)))
                .unwrap();
        }
        fs::write(
            t.path().join(PRUNED_FILE),
            format!("pruned {when}\nnewest {claim}\n"),
        )
        .unwrap();
        let e = verify_dir_with(t.path(), &v, &VerifyOptions::default(), &at).unwrap_err();
        assert_eq!(e.bad_shard(), Some(0), "{e}");
        assert!(e.to_string().contains(needle), "{claim}: {e}");
    }
}

/// A log rotated by an older version: its chain record states `previous_newest_time` (the previous shard's last
/// record's time) and no `previous_max_time`. It still opens, seals and verifies (the time is checked against the
/// last leaf, as that version meant it), but `prune` keeps the previous shard: the last record's time is not its
/// newest if the clock stepped back, so the pruning could not be proven.
#[test]
fn a_chain_record_of_an_older_version_still_verifies_but_cannot_prove_a_prune() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let s = NoteSigner::generate(NAME).unwrap();
    let v = s.verifier();
    let log = AuditLog::open(dir, options(&s)).unwrap();
    append(&log, 0, 3);
    log.close().unwrap();
    // What the older version's rotation left before its seal: shard 1 holding its chain record (frame MAC'd with
    // the shard's key, as any version writes it).
    let (cp, _) = read_shard_checkpoint(dir, &v, NAME).unwrap();
    let last = parse_leaf(leaves(dir, &v, 0).last().unwrap()).unwrap().time;
    let chain = haetae::audit::LogLeaf {
        v: 1,
        seq: 0,
        time: last.clone(),
        instance: "gw-shards-old".into(),
        entry: Entry::ShardStart(ShardLink {
            shard: 1,
            previous_origin: cp.origin.clone(),
            previous_size: cp.size,
            previous_root: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                cp.root,
            ),
            previous_newest_time: Some(last.clone()),
            previous_max_time: None,
        }),
    };
    let leaf = haetae::audit::record::to_canonical_json(&chain).unwrap();
    use haetae::audit::writer::fuzzing;
    let journal = [
        fuzzing::header(&s, 1, false),
        fuzzing::frame(&s, 1, 0, &leaf),
    ]
    .concat();
    fs::create_dir_all(shard_dir(dir, 1)).unwrap();
    fs::write(shard_dir(dir, 1).join("journal"), journal).unwrap();
    let log = AuditLog::open(dir, options(&s)).unwrap();
    assert_eq!(log.health().shard, 1);
    append(&log, 3, 1);
    log.close().unwrap();
    assert!(is_sealed(dir));
    let rep = verify(dir, &v).unwrap();
    assert_eq!(rep.shards.len(), 2);
    assert!(rep.shards[0].sealed);

    let far = PruneOptions {
        retention: Duration::from_secs(86_400),
        now: time::OffsetDateTime::now_utc() + Duration::from_secs(86_400 * 30),
        dry_run: false,
    };
    let rep = prune(dir, &v, &far).unwrap();
    assert!(rep.pruned.is_empty(), "{rep:?}");
    assert!(
        rep.stopped_at
            .as_deref()
            .is_some_and(|w| w.contains("older haetae")),
        "{rep:?}"
    );
    assert!(!is_pruned(dir));
}
