//! Shards of the residency log: the on-disk layout of rotation, sealing, and `prune`.
//!
//! A log directory `DIR` holds a chain of shards. **Shard 0 is `DIR` itself** (so a log created before rotation
//! existed is simply a log with one shard and opens unchanged); **shard k ≥ 1 is `DIR/shards/<k>/`**. Every shard
//! is a complete C2SP tlog-tiles log of its own (`checkpoint`, `tile/...`; plus the writer's `journal` and
//! `checkpoints` archive), so each shard directory can be served by a static web server and checked by standard
//! tlog tooling. Origins: shard 0 has the key name as origin (`haetae.example.kr/gw-1`), shard k ≥ 1 has
//! `<key name>/shards/<k>` — every shard is its own tree, so distinct origins keep standard clients and witnesses
//! from mistaking a new shard's small tree for a rollback of the previous one. All shards are signed by one key.
//!
//! * **Rotation and sealing** (by the writer when the open shard reaches `rotate_max_bytes` or `rotate_max_age`):
//!   publish the shard's final checkpoint, start the next shard (chain record, first checkpoint), then — on a
//!   separate thread, because fsyncing a full shard's tiles takes seconds — fsync every file of the old shard,
//!   write `sealed` (the final signed checkpoint note, verbatim), delete its journal (the fsynced bundles are now
//!   the durable copy: sealed shards store each leaf once) and make its files read-only. A shard is never
//!   written again once the next one exists; a seal a crash interrupted is completed by the next open (after
//!   replaying that shard's journal against its final checkpoint and rewriting any damaged tile).
//! * **Chaining**: the first leaf of shard k ≥ 1 is a `shard_start` record ([`super::record::ShardLink`]) naming
//!   shard k-1's final checkpoint (origin, size, root) and its newest record time (the latest time of any of its
//!   records, not the last one's: a clock that stepped back must not make a shard look older). Deleting,
//!   swapping, truncating or replacing a whole shard breaks the chain, and `verify` names the shard; a `pruned`
//!   marker must state the newest time the successor's chain record signed.
//! * **Pruning** ([`prune`], `haetae audit prune`, never the gateway): only sealed shards whose newest record is older
//!   than the retention period, oldest first, after the whole chain verified, and only when the next shard's signed
//!   chain record states that newest time (so `verify` can prove the pruning; shards whose successor's chain
//!   record predates that field, or states only the last record's time as versions before the maximum did, are
//!   kept). A pruned shard keeps `checkpoint` and `sealed`, gains a `pruned` marker
//!   and (shard k ≥ 1) `chain-proof`: the tlog-proof of its own chain record against its sealed checkpoint, which
//!   keeps the previous shard's pruning provable; its tiles, journal and archive are deleted. The chain still
//!   verifies.
//!
//! Must never: delete anything inside the retention period, delete an unsealed (or the newest) shard, delete
//! anything when the chain does not verify, or record content in a marker.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::note::{Checkpoint, NoteVerifier};
use super::tiles::write_atomic;
use super::verify::{
    prove_in, signed_chain_record, verify_dir_with, Retention, VerifyOptions, CHAIN_PROOF_FILE,
};
use super::writer::{ARCHIVE_FILE, CHECKPOINT_FILE, JOURNAL_FILE, TIME_FORMAT};
use super::AuditError;

/// Directory (inside the log directory) that holds shards 1, 2, …
pub const SHARDS_DIR: &str = "shards";
/// Marker of a sealed shard: its final signed checkpoint note, verbatim.
pub const SEALED_FILE: &str = "sealed";
/// Marker of a pruned shard (when, newest record time); its data is gone, `checkpoint` and `sealed` remain.
pub const PRUNED_FILE: &str = "pruned";
/// The tile tree of a shard.
pub const TILE_DIR: &str = "tile";

/// Directory of shard `shard` of the log in `root`.
pub fn shard_dir(root: &Path, shard: u64) -> PathBuf {
    if shard == 0 {
        root.to_path_buf()
    } else {
        root.join(SHARDS_DIR).join(shard.to_string())
    }
}

/// Origin (checkpoint origin line) of shard `shard` of the log named `name`.
pub fn shard_origin(name: &str, shard: u64) -> String {
    if shard == 0 {
        name.to_owned()
    } else {
        format!("{name}/{SHARDS_DIR}/{shard}")
    }
}

/// The shard an origin names, for the log named `name` (`None` when it is not an origin of this log).
pub fn shard_of_origin(name: &str, origin: &str) -> Option<u64> {
    if origin == name {
        return Some(0);
    }
    let k = origin
        .strip_prefix(name)?
        .strip_prefix('/')?
        .strip_prefix(SHARDS_DIR)?
        .strip_prefix('/')?;
    if k.is_empty() || k.starts_with('0') || !k.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    k.parse().ok()
}

/// The shard relative path prefix used in URLs and listings: `""` for shard 0, `shards/<k>/` otherwise.
pub fn shard_prefix(shard: u64) -> String {
    if shard == 0 {
        String::new()
    } else {
        format!("{SHARDS_DIR}/{shard}/")
    }
}

/// The shards of the log in `root`, in order: `0..=newest`. Fails (naming the shard) when a shard directory is
/// missing from the middle of the chain.
pub fn list_shards(root: &Path) -> Result<Vec<u64>, AuditError> {
    let dir = root.join(SHARDS_DIR);
    let mut found: Vec<u64> = match fs::read_dir(&dir) {
        Ok(list) => list
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name();
                let name = name.to_str()?;
                if name.starts_with('0') || !e.file_type().ok()?.is_dir() {
                    return None;
                }
                name.parse::<u64>().ok().filter(|&k| k > 0)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(AuditError::io(&dir, e)),
    };
    found.sort_unstable();
    for (pos, &k) in found.iter().enumerate() {
        let want = pos as u64 + 1;
        if k != want {
            return Err(AuditError::Shard {
                shard: want,
                error: Box::new(AuditError::Corrupt {
                    index: None,
                    reason: format!(
                        "shard directory {SHARDS_DIR}/{want} is missing but shard {k} exists (shard deleted or renamed)"
                    ),
                }),
            });
        }
    }
    let mut all = vec![0];
    all.extend(found);
    Ok(all)
}

/// Whether the shard in `dir` is sealed (has a `sealed` marker).
pub fn is_sealed(dir: &Path) -> bool {
    dir.join(SEALED_FILE).is_file()
}

/// Whether the shard in `dir` was pruned (has a `pruned` marker).
pub fn is_pruned(dir: &Path) -> bool {
    dir.join(PRUNED_FILE).is_file()
}

/// The sealed final checkpoint of the shard in `dir` (verified against `verifier` and `origin`) and its note, or
/// `None` when the shard is not sealed.
pub fn read_seal(
    dir: &Path,
    verifier: &NoteVerifier,
    origin: &str,
) -> Result<Option<(Checkpoint, String)>, AuditError> {
    let path = dir.join(SEALED_FILE);
    let note = match fs::read_to_string(&path) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuditError::io(&path, e)),
    };
    let cp =
        Checkpoint::open_with_origin(&note, verifier, origin).map_err(|e| AuditError::Corrupt {
            index: None,
            reason: format!(
                "sealed checkpoint does not verify: {e}{}",
                swapped_hint(&note, verifier, origin)
            ),
        })?;
    Ok(Some((cp, note)))
}

/// When a note that failed to open for `origin` is a valid note of another shard of the same log, say so.
pub(crate) fn swapped_hint(note: &str, verifier: &NoteVerifier, origin: &str) -> String {
    Checkpoint::open_any_shard(note, verifier)
        .ok()
        .filter(|(c, _)| c.origin != origin)
        .map(|(c, k)| {
            format!(
                " (it is shard {k}'s checkpoint {:?}: shard directories swapped or renamed)",
                c.origin
            )
        })
        .unwrap_or_default()
}

/// The files of a shard (not descending into `shards/`, which belongs to shard 0's directory only by nesting):
/// `journal`, `checkpoint`, `checkpoints`, `sealed` and everything under `tile/`.
fn shard_files(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), AuditError> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    for name in [JOURNAL_FILE, CHECKPOINT_FILE, ARCHIVE_FILE, SEALED_FILE] {
        let p = dir.join(name);
        if p.is_file() {
            files.push(p);
        }
    }
    let mut stack = vec![dir.join(TILE_DIR)];
    while let Some(d) = stack.pop() {
        let list = match fs::read_dir(&d) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(AuditError::io(&d, e)),
        };
        dirs.push(d.clone());
        for e in list {
            let e = e.map_err(|e| AuditError::io(&d, e))?;
            let t = e
                .file_type()
                .map_err(|err| AuditError::io(&e.path(), err))?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                files.push(e.path());
            }
        }
    }
    Ok((files, dirs))
}

/// fsync every file and directory of the shard in `dir` (tiles and bundles are written without fsync on the
/// commit path — the journal is the durable copy — so sealing makes them durable before the seal is published).
pub(crate) fn sync_shard(dir: &Path) -> Result<(), AuditError> {
    let (files, dirs) = shard_files(dir)?;
    for p in files.iter().chain(dirs.iter()) {
        let f = fs::File::open(p).map_err(|e| AuditError::io(p, e))?;
        f.sync_all().map_err(|e| AuditError::io(p, e))?;
    }
    Ok(())
}

/// Make every file of a sealed shard read-only (a guard against accidental writes; not a security boundary:
/// the owner can change modes, which is why integrity rests on signatures and the chain).
pub(crate) fn make_read_only(dir: &Path) -> Result<(), AuditError> {
    let (files, _) = shard_files(dir)?;
    for p in files {
        let meta = fs::metadata(&p).map_err(|e| AuditError::io(&p, e))?;
        let mut perms = meta.permissions();
        if !perms.readonly() {
            perms.set_readonly(true);
            fs::set_permissions(&p, perms).map_err(|e| AuditError::io(&p, e))?;
        }
    }
    Ok(())
}

/// Seal the shard in `dir` whose final checkpoint note `note` was just published: fsync its files, write the
/// `sealed` marker (fsynced), delete the journal (the fsynced entry bundles are now the durable copy, so a sealed
/// shard stores each leaf once), then make its files read-only.
pub(crate) fn seal(dir: &Path, note: &str) -> Result<(), AuditError> {
    sync_shard(dir)?;
    write_atomic(dir, SEALED_FILE, note.as_bytes(), true)?;
    let journal = dir.join(JOURNAL_FILE);
    match fs::remove_file(&journal) {
        Ok(()) => {
            let d = fs::File::open(dir).map_err(|e| AuditError::io(dir, e))?;
            d.sync_all().map_err(|e| AuditError::io(dir, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(AuditError::io(&journal, e)),
    }
    make_read_only(dir)
}

/// Create the directory of shard `shard` (≥ 1) and make the new directory entry durable.
pub(crate) fn create_shard_dir(root: &Path, shard: u64) -> Result<PathBuf, AuditError> {
    let parent = root.join(SHARDS_DIR);
    let dir = shard_dir(root, shard);
    fs::create_dir_all(&dir).map_err(|e| AuditError::io(&dir, e))?;
    for d in [&parent, &root.to_path_buf()] {
        if let Ok(f) = fs::File::open(d) {
            f.sync_all().map_err(|e| AuditError::io(d, e))?;
        }
    }
    Ok(dir)
}

/// One shard removed (or to be removed) by [`prune`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrunedShard {
    /// Shard number.
    pub shard: u64,
    /// Its origin.
    pub origin: String,
    /// Entries in its sealed checkpoint.
    pub size: u64,
    /// Its newest record time (the latest of all its records).
    pub newest: String,
}

/// What [`prune`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PruneReport {
    /// Leaves older than this time (RFC 3339 UTC) were outside retention.
    pub cutoff: String,
    /// Shards pruned now (or that would be, with `dry_run`).
    pub pruned: Vec<PrunedShard>,
    /// Shards that were pruned before.
    pub already_pruned: u64,
    /// Shards kept, with the reason for the first one kept (everything after it is newer).
    pub kept: u64,
    /// Why pruning stopped at the first kept shard.
    pub stopped_at: Option<String>,
}

/// Options of [`prune`].
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Retention period: shards whose newest record is younger than `now - retention` are kept.
    pub retention: Duration,
    /// The current time (a parameter so tests and reruns are deterministic).
    pub now: time::OffsetDateTime,
    /// Report what would be pruned without deleting anything.
    pub dry_run: bool,
}

/// Prune the log in `root`: verify the whole chain first (nothing is deleted from a log that does not verify),
/// then, oldest first, delete the data of each sealed shard whose newest record (the latest time of any of its
/// records, as `verify` computed it) is older than `now - retention`,
/// keeping its `checkpoint` and `sealed` note and writing a `pruned` marker. The newest shard is never pruned.
pub fn prune(
    root: &Path,
    verifier: &NoteVerifier,
    options: &PruneOptions,
) -> Result<PruneReport, AuditError> {
    if options.retention.is_zero() {
        return Err(AuditError::Config(
            "the retention period must be greater than zero".into(),
        ));
    }
    let retention = time::Duration::try_from(options.retention)
        .map_err(|_| AuditError::Config("the retention period is out of range".into()))?;
    let cutoff = options
        .now
        .checked_sub(retention)
        .ok_or_else(|| AuditError::Config("the retention period is out of range".into()))?
        .format(TIME_FORMAT)
        .map_err(|e| AuditError::Config(format!("cutoff time: {e}")))?;
    let verified = verify_dir_with(
        root,
        verifier,
        &VerifyOptions::default(),
        &Retention {
            period: retention,
            now: options.now,
        },
    )?;
    let mut report = PruneReport {
        cutoff: cutoff.clone(),
        ..Default::default()
    };
    let newest = verified.shards.last().map_or(0, |s| s.shard);
    for s in &verified.shards {
        if s.pruned {
            report.already_pruned += 1;
            continue;
        }
        if report.stopped_at.is_some() {
            report.kept += 1;
            continue;
        }
        let why_keep = if s.shard == newest {
            Some(format!("shard {} is the newest shard", s.shard))
        } else if !s.sealed {
            Some(format!("shard {} is not sealed", s.shard))
        } else {
            match &s.newest_time {
                None => None, // an empty sealed shard holds nothing to keep
                Some(t) if t.as_str() < cutoff.as_str() => None,
                Some(t) => Some(format!(
                    "shard {} has a leaf from {t}, inside the retention period (cutoff {cutoff})",
                    s.shard
                )),
            }
        };
        // Only what `verify` can prove afterwards: the next shard's signed chain record must state this shard's
        // newest record time — the latest of all its records, which `verify` just computed — (records written before
        // it did, or by versions that stated only the last leaf's time, cannot be pruned provably: they are kept).
        let why_keep = why_keep.or_else(|| {
            match signed_chain_record(root, verifier, s.shard + 1) {
                Ok(Some(link))
                    if link.previous_max_time == s.newest_time
                        && (s.newest_time.is_some() || s.size == 0) =>
                {
                    None
                }
                Ok(Some(link)) if link.previous_max_time.is_some() => Some(format!(
                    "shard {}'s newest record time is not the one shard {}'s chain record states: its pruning \
                     could not be proven, so it is kept",
                    s.shard,
                    s.shard + 1
                )),
                Ok(Some(_)) => Some(format!(
                    "shard {}'s newest record time is not stated by shard {}'s chain record (written by an older \
                     haetae, which stated at most its last record's time): its pruning could not be proven, so it \
                     is kept",
                    s.shard,
                    s.shard + 1
                )),
                Ok(None) | Err(_) => Some(format!(
                    "shard {}'s chain record cannot be read: shard {} cannot be proven prunable, so it is kept",
                    s.shard + 1,
                    s.shard
                )),
            }
        });
        if let Some(why) = why_keep {
            report.stopped_at = Some(why);
            report.kept += 1;
            continue;
        }
        let dir = shard_dir(root, s.shard);
        if !options.dry_run {
            if s.shard > 0 {
                // Keep this shard's own chain record, proven against its sealed checkpoint: once its tiles are
                // gone, it is what still proves the previous shard's pruning.
                let proof = prove_in(&dir, &s.origin, verifier, 0)?;
                write_atomic(&dir, CHAIN_PROOF_FILE, proof.to_text().as_bytes(), true)?;
            }
            prune_shard(&dir, s.newest_time.as_deref().unwrap_or("-"), &options.now)?;
        }
        report.pruned.push(PrunedShard {
            shard: s.shard,
            origin: s.origin.clone(),
            size: s.size,
            newest: s.newest_time.clone().unwrap_or_default(),
        });
    }
    Ok(report)
}

/// Mark the shard pruned (first, durably: a crash mid-deletion leaves a pruned shard with leftovers that a rerun
/// removes), then delete its tiles, journal and checkpoint archive.
fn prune_shard(dir: &Path, newest: &str, now: &time::OffsetDateTime) -> Result<(), AuditError> {
    let when = now.format(TIME_FORMAT).unwrap_or_default();
    let marker = format!("pruned {when}\nnewest {newest}\n");
    write_atomic(dir, PRUNED_FILE, marker.as_bytes(), true)?;
    remove_pruned_data(dir)
}

/// Delete the data files of a pruned shard (idempotent).
pub(crate) fn remove_pruned_data(dir: &Path) -> Result<(), AuditError> {
    let tile = dir.join(TILE_DIR);
    match fs::remove_dir_all(&tile) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(AuditError::io(&tile, e)),
    }
    for name in [JOURNAL_FILE, ARCHIVE_FILE] {
        let p = dir.join(name);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(AuditError::io(&p, e)),
        }
    }
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
    Ok(())
}

/// The newest-leaf time a `pruned` marker recorded (as written; see [`read_pruned_marker`] for a checked read).
pub fn pruned_newest(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join(PRUNED_FILE)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("newest "))
        .map(str::to_owned)
}

/// A `pruned` marker as [`prune`] writes it: `pruned <time>\nnewest <time or ->\n` (times RFC 3339 UTC with
/// milliseconds, `-` for a shard that held no leaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunedMarker {
    /// When the shard was pruned.
    pub pruned_at: time::OffsetDateTime,
    /// Time of the shard's newest leaf (None for an empty shard).
    pub newest: Option<time::OffsetDateTime>,
}

/// Read and parse the `pruned` marker of the shard in `dir`; anything but the exact format [`prune`] writes is an
/// error (a hand-made marker is not evidence of a legitimate prune).
pub fn read_pruned_marker(dir: &Path) -> Result<PrunedMarker, AuditError> {
    let path = dir.join(PRUNED_FILE);
    let bad = |why: &str| {
        AuditError::Corrupt {
        index: None,
        reason: format!(
            "the shard is marked pruned, but its `{PRUNED_FILE}` marker {why}: it was not written by `haetae audit \
             prune`, so the shard's records were deleted outside a legitimate prune"
        ),
    }
    };
    let bytes = fs::read(&path).map_err(|e| AuditError::io(&path, e))?;
    if bytes.len() > 256 {
        return Err(bad("is too large"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("is not UTF-8"))?;
    let parse = |t: &str| {
        time::PrimitiveDateTime::parse(t, TIME_FORMAT)
            .ok()
            .map(time::PrimitiveDateTime::assume_utc)
    };
    let mut lines = text.split('\n');
    let (Some(p), Some(n), Some(""), None) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return Err(bad(
            "does not have the two lines `pruned <time>` and `newest <time>`",
        ));
    };
    let pruned_at = p
        .strip_prefix("pruned ")
        .and_then(parse)
        .ok_or_else(|| bad("does not start with `pruned <time>`"))?;
    let newest = match n.strip_prefix("newest ") {
        Some("-") => None,
        Some(t) => Some(parse(t).ok_or_else(|| bad("has a `newest` line that is not a time"))?),
        None => return Err(bad("has no `newest <time>` line")),
    };
    if newest.is_some_and(|t| t > pruned_at) {
        return Err(bad(
            "says the shard's newest record is later than the prune",
        ));
    }
    Ok(PrunedMarker { pruned_at, newest })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_dirs() {
        let name = "haetae.example.kr/gw-1";
        assert_eq!(shard_origin(name, 0), name);
        assert_eq!(shard_origin(name, 3), "haetae.example.kr/gw-1/shards/3");
        for k in [0, 1, 9, 10, 12345] {
            assert_eq!(shard_of_origin(name, &shard_origin(name, k)), Some(k));
        }
        for bad in [
            "haetae.example.kr/gw-1/shards/",
            "haetae.example.kr/gw-1/shards/03",
            "haetae.example.kr/gw-1/shards/0",
            "haetae.example.kr/gw-1/shards/1/x",
            "haetae.example.kr/gw-2",
            "haetae.example.kr/gw-1x/shards/1",
        ] {
            assert_eq!(shard_of_origin(name, bad), None, "{bad}");
        }
        let root = Path::new("/var/lib/haetae/audit");
        assert_eq!(shard_dir(root, 0), root);
        assert_eq!(shard_dir(root, 7), root.join("shards/7"));
    }

    #[test]
    fn shard_listing_requires_a_contiguous_chain() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(list_shards(tmp.path()).ok(), Some(vec![0]));
        for k in [1, 2, 4] {
            fs::create_dir_all(shard_dir(tmp.path(), k)).unwrap();
        }
        let err = list_shards(tmp.path()).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("shard 3") && e.contains("missing")),
            "{err:?}"
        );
        fs::create_dir_all(shard_dir(tmp.path(), 3)).unwrap();
        assert_eq!(list_shards(tmp.path()).ok(), Some(vec![0, 1, 2, 3, 4]));
    }
}
