//! What repeated exports may reuse of an earlier verification ([`ExportCache`], [`verify_for_export`]): the
//! auditor listener's `/export` verifies the whole log before it sends a status line, and without this every call
//! would re-read every shard.
//!
//! Per shard with data the cache keeps what its verification established ([`ShardVerified`]: per entry bundle the
//! digest of its verified leaf hashes and its time span, the tree's right edge, the last partial bundle's leaf
//! hashes), under the signed checkpoint note it was verified against, the chain record it had to start with, and a
//! stamp (device, inode, length, mtime, ctime) of every entry bundle and, for sealed shards, of `checkpoint`,
//! `checkpoints`, `sealed` and `pruned` — stamps taken *before* the files were read, so a change during the
//! verification also invalidates it. On the next call:
//! * a sealed shard whose note, chain record and shard files are unchanged is reused without reading it;
//! * the open shard whose checkpoint advanced is *extended*: only the entries from its last partial bundle on are
//!   read, each checked against its level-0 tile hash (and its `seq`), and the verified right edge plus the new
//!   leaf hashes must give the new signed root — so the new checkpoint covers exactly the verified prefix and
//!   the new entries; anything else (a smaller checkpoint, a mismatch) falls back to a full verification;
//! * everything else (first call, a changed shard file, a shard newly sealed) is verified in full.
//!
//! The cross-shard checks (shard list, seals, chain records, pruned markers and their signed times, the writer's
//! journal presence) run on every call; they read a few small files per shard. Before the status line is sent,
//! every entry bundle the export will read (those whose verified time span meets the requested range) is stamped
//! again; a bundle whose stamp changed is re-read and must reproduce its verified digest, otherwise its shard is
//! verified in full again, so a log tampered with between calls gets an error status instead of a `200` with a
//! cut body. While streaming, each bundle is still re-read and checked against its digest before any of its
//! records is sent.
//!
//! Trade-off (an attacker who can write the log directory between calls): changes to the records an export
//! sends are always caught — by the stamps and contents before the status line, or by the digest while streaming
//! (the body is then cut: a change that lands during the stream cannot be reported with a status that was already
//! sent). What the cache does *not* re-check on every call is what the export does not send: tiles above level 0,
//! the checkpoint archive and the writer's journal of the open shard (compared at a full verification only), and
//! the entry bundles outside the requested range. Damage there is found by `haetae audit verify`, by the first
//! export after a restart (the cache lives in memory), or by an export whose range covers it. Forging a stamp
//! means restoring a file's ctime, which takes setting the system clock; even then the content check while
//! streaming holds. Memory: about 150 bytes per 256 records verified (a 1 GiB shard ≈ 0.7 MB).
//!
//! Must never: pass on a record that was not verified against a signed checkpoint, or reuse a verification after
//! a file it relied on changed in a way it can see.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

use super::{
    bundle_digest, corrupt, parse_leaf_time, read_bundle_entries, read_shard_checkpoint,
    read_tile_hashes, verify_records, verify_shard_collect, BundleVerified, Retention, ShardReport,
    ShardVerified, TimeRange, VerifiedLog, VerifyOptions,
};
use crate::audit::merkle::leaf_hash;
use crate::audit::note::{Checkpoint, NoteVerifier};
use crate::audit::record::{leaf_seq_time, ShardLink};
use crate::audit::shard::{shard_dir, PRUNED_FILE, SEALED_FILE};
use crate::audit::tiles::{bundle_path, tile_width, TILE_WIDTH};
use crate::audit::writer::{ARCHIVE_FILE, CHECKPOINT_FILE};
use crate::audit::AuditError;

/// The shard files whose change invalidates a sealed shard's cached verification.
const SHARD_FILES: [&str; 4] = [CHECKPOINT_FILE, ARCHIVE_FILE, SEALED_FILE, PRUNED_FILE];

/// Cheap identity of a file's current contents: any write, rename over it or mode change moves its ctime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

#[cfg(unix)]
fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = fs::metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

#[cfg(not(unix))]
fn stamp(path: &Path) -> Option<Stamp> {
    let m = fs::metadata(path).ok()?;
    let t = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(Stamp {
        dev: 0,
        ino: 0,
        len: m.len(),
        mtime: (t.as_secs() as i64, i64::from(t.subsec_nanos())),
        ctime: (0, 0),
    })
}

/// The stamp of the file a read of bundle `b` at `width` reads (as `read_covering` chooses it: the exact partial,
/// else the full bundle, else the narrowest wider partial).
fn bundle_stamp(dir: &Path, b: u64, width: u64) -> Option<Stamp> {
    if width < TILE_WIDTH {
        if let Some(s) = stamp(&dir.join(bundle_path(b, width))) {
            return Some(s);
        }
    }
    if let Some(s) = stamp(&dir.join(bundle_path(b, TILE_WIDTH))) {
        return Some(s);
    }
    let base = dir.join(format!("{}.p", bundle_path(b, TILE_WIDTH)));
    let wider = fs::read_dir(&base)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|&w| w > width && w < TILE_WIDTH)
        .min()?;
    stamp(&base.join(wider.to_string()))
}

fn bundle_stamps(dir: &Path, size: u64) -> Vec<Option<Stamp>> {
    (0..size.div_ceil(TILE_WIDTH))
        .map(|b| bundle_stamp(dir, b, tile_width(0, b, size)))
        .collect()
}

fn shard_stamps(dir: &Path) -> Vec<Option<Stamp>> {
    SHARD_FILES.iter().map(|f| stamp(&dir.join(f))).collect()
}

/// One shard's cached verification.
#[derive(Debug)]
struct CachedShard {
    /// The signed checkpoint note it was verified against, verbatim.
    note: String,
    /// The chain record leaf 0 had to be.
    link: Option<ShardLink>,
    sealed: bool,
    /// Stamps of [`SHARD_FILES`] (compared for sealed shards).
    files: Vec<Option<Stamp>>,
    /// Per entry bundle, the stamp of the file read.
    bundle_stamps: Vec<Option<Stamp>>,
    report: ShardReport,
    verified: Arc<ShardVerified>,
}

/// How much work [`verify_for_export`] did, cumulative (for tests and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportCacheStats {
    /// Shards verified in full (first call, a changed file, a newly sealed shard).
    pub full: u64,
    /// Open-shard verifications that extended a verified prefix to a newer checkpoint.
    pub extended: u64,
    /// Shard verifications reused unchanged.
    pub reused: u64,
    /// Entry bundles whose stamp had changed and whose contents were checked again before an export started.
    pub rechecked_bundles: u64,
}

#[derive(Debug, Default)]
pub(in crate::audit) struct CacheState {
    shards: BTreeMap<u64, CachedShard>,
    stats: ExportCacheStats,
}

/// What earlier verifications of one log directory established, for [`verify_for_export`] (see the module
/// documentation for what is reused and what is checked again). One cache per log directory and verifier key.
#[derive(Debug, Default)]
pub struct ExportCache {
    state: Mutex<CacheState>,
}

impl ExportCache {
    /// An empty cache: the first export verifies everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Work done so far.
    pub fn stats(&self) -> ExportCacheStats {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats
    }
}

/// Verify the log in `root` for an export of `range` (pruned shards judged against `retention`), reusing what
/// `cache` holds from earlier calls, and check that every entry bundle the export will read is still the one
/// that was verified. Nothing is sent before this returns: an error here is the export's error status. Stream the
/// records with [`VerifiedLog::visit_range`].
pub fn verify_for_export(
    root: &Path,
    verifier: &NoteVerifier,
    retention: &Retention,
    range: &TimeRange,
    cache: &ExportCache,
) -> Result<VerifiedLog, AuditError> {
    // Concurrent exports wait for one another here rather than verifying the same shards twice.
    let mut state = cache.state.lock().unwrap_or_else(PoisonError::into_inner);
    let mut verified = verify_records(root, verifier, retention, Some(&mut state))?;
    let stale = state.stale_shards(root, &verified, range);
    if !stale.is_empty() {
        // Files an export would read changed since they were verified: verify those shards again from scratch
        // (an error status if they no longer verify).
        for k in stale {
            state.shards.remove(&k);
        }
        verified = verify_records(root, verifier, retention, Some(&mut state))?;
    }
    Ok(verified)
}

impl CacheState {
    /// Verify shard `k` (whose leaf 0 must be `link`), reusing or extending a cached verification when the files
    /// it relied on are unchanged.
    pub(super) fn verify_shard(
        &mut self,
        k: u64,
        dir: &Path,
        origin: &str,
        verifier: &NoteVerifier,
        link: Option<&ShardLink>,
        sealed: bool,
    ) -> Result<(ShardReport, Arc<ShardVerified>), AuditError> {
        let files = shard_stamps(dir);
        let (cp, note) = read_shard_checkpoint(dir, verifier, origin)?;
        let mut extended = None;
        if let Some(c) = self.shards.get(&k) {
            let same =
                c.link.as_ref() == link && c.sealed == sealed && (!sealed || c.files == files);
            if same && c.note == note {
                self.stats.reused += 1;
                return Ok((c.report.clone(), Arc::clone(&c.verified)));
            }
            // On any error the full verification below gives the authoritative one.
            extended = (same && !sealed)
                .then(|| extend(dir, c, &cp).ok().flatten())
                .flatten();
        }
        let (report, v, bundle_stamps, cacheable) = match extended {
            Some(Extended {
                report,
                verified,
                bundle_stamps,
            }) => {
                self.stats.extended += 1;
                (report, verified, bundle_stamps, true)
            }
            None => {
                self.shards.remove(&k);
                let bundle_stamps = bundle_stamps(dir, cp.size);
                let (report, v) =
                    verify_shard_collect(dir, origin, verifier, &VerifyOptions::default(), link)?;
                self.stats.full += 1;
                // Cached only if it is the checkpoint read above (the shard did not move on in between).
                let cacheable = report.size == cp.size && report.root == B64.encode(cp.root);
                (report, v, bundle_stamps, cacheable)
            }
        };
        let v = Arc::new(v);
        if cacheable {
            self.shards.insert(
                k,
                CachedShard {
                    note,
                    link: link.cloned(),
                    sealed,
                    files,
                    bundle_stamps,
                    report: report.clone(),
                    verified: Arc::clone(&v),
                },
            );
        }
        Ok((report, v))
    }

    /// The shards with an entry bundle that `range` needs and that is no longer what was verified (its stamp
    /// changed and its contents no longer give the verified digest). Bundles whose stamp changed but whose
    /// contents are the same (a partial bundle replaced by the full one) get the new stamp.
    fn stale_shards(&mut self, root: &Path, verified: &VerifiedLog, range: &TimeRange) -> Vec<u64> {
        let mut stale = Vec::new();
        for s in &verified.report.shards {
            if s.pruned || s.size == 0 {
                continue;
            }
            let Some(c) = self.shards.get_mut(&s.shard) else {
                continue;
            };
            let dir = shard_dir(root, s.shard);
            for (b, bv) in c.verified.bundles.iter().enumerate() {
                if !bv.meets(range) {
                    continue;
                }
                let b64 = b as u64;
                let width = tile_width(0, b64, s.size);
                let now = bundle_stamp(&dir, b64, width);
                if now.is_some() && c.bundle_stamps.get(b) == Some(&now) {
                    continue;
                }
                self.stats.rechecked_bundles += 1;
                let same = read_bundle_entries(&dir, b64, width)
                    .ok()
                    .filter(|e| e.len() as u64 == width)
                    .map(|e| bundle_digest(&e.iter().map(|l| leaf_hash(l)).collect::<Vec<_>>()))
                    == Some(bv.digest);
                match c.bundle_stamps.get_mut(b) {
                    Some(slot) if same => *slot = now,
                    _ => {
                        stale.push(s.shard);
                        break;
                    }
                }
            }
        }
        stale
    }
}

/// A cached verification extended to a newer checkpoint.
struct Extended {
    report: ShardReport,
    verified: ShardVerified,
    bundle_stamps: Vec<Option<Stamp>>,
}

/// Extend the cached verification `c` of an open shard to its newer signed checkpoint `cp`: read the entries
/// from the bundle holding the first new one, check each against its level-0 tile hash and `seq` (the already
/// verified ones of that bundle against their cached hashes), and require the cached right edge plus the new leaf
/// hashes to give `cp`'s root. `None` when `cp` cannot extend it (smaller, another origin).
fn extend(dir: &Path, c: &CachedShard, cp: &Checkpoint) -> Result<Option<Extended>, AuditError> {
    let (n, m) = (c.report.size, cp.size);
    if m < n || cp.origin != c.report.origin {
        return Ok(None);
    }
    let old = &c.verified;
    let first_b = n / TILE_WIDTH;
    let bundles = m.div_ceil(TILE_WIDTH);
    // Stamps first: a file that changes while it is read must not look verified later.
    let mut stamps = c.bundle_stamps.clone();
    stamps.truncate(first_b as usize);
    stamps.extend((first_b..bundles).map(|b| bundle_stamp(dir, b, tile_width(0, b, m))));
    let mut v = ShardVerified {
        bundles: old.bundles.iter().take(first_b as usize).cloned().collect(),
        last_time: old.last_time.clone(),
        max_time: old.max_time,
        frontier: old.frontier.clone(),
        tail: Vec::new(),
    };
    let mut newest_time = c.report.newest_time.clone();
    for b in first_b..bundles {
        let width = tile_width(0, b, m);
        let first = b * TILE_WIDTH;
        let entries = read_bundle_entries(dir, b, width)?;
        if entries.len() as u64 != width {
            return Err(corrupt(
                Some(first + entries.len() as u64),
                format!(
                    "{} holds {} entries, expected {width} (entries removed)",
                    bundle_path(b, width),
                    entries.len()
                ),
            ));
        }
        let level0 = read_tile_hashes(dir, 0, b, width)?;
        let mut bv = BundleVerified {
            digest: bundle_digest(&level0),
            times: None,
        };
        for (k, data) in entries.iter().enumerate() {
            let i = first + k as u64;
            let h = leaf_hash(data);
            if level0.get(k) != Some(&h) {
                return Err(corrupt(
                    Some(i),
                    "entry does not match its level-0 tile hash (entry or tile altered)",
                ));
            }
            let (seq, time) = leaf_seq_time(data).map_err(|e| corrupt(Some(i), e.to_string()))?;
            if seq != i {
                return Err(corrupt(
                    Some(i),
                    format!("entry carries sequence {seq} (entries reordered or moved)"),
                ));
            }
            let t = parse_leaf_time(&time)
                .ok_or_else(|| corrupt(Some(i), "record time is not an RFC 3339 time"))?;
            bv.widen(t);
            if i < n {
                if old.tail.get(k) != Some(&h) {
                    return Err(corrupt(Some(i), "entry changed after it was verified"));
                }
                continue;
            }
            v.frontier.push(h);
            if v.max_time.is_none_or(|mx| t > mx) {
                v.max_time = Some(t);
                newest_time = Some(time.clone());
            }
            if i + 1 == m {
                v.last_time = Some(time);
            }
        }
        if b + 1 == bundles && m % TILE_WIDTH != 0 {
            v.tail = level0;
        }
        v.bundles.push(bv);
    }
    if v.frontier.root() != cp.root {
        return Err(corrupt(
            None,
            format!(
                "recomputed root at size {m} does not match the signed checkpoint (from the {n} entries verified \
                 before)"
            ),
        ));
    }
    let mut report = c.report.clone();
    report.size = m;
    report.root = B64.encode(cp.root);
    report.newest_time = newest_time;
    Ok(Some(Extended {
        report,
        verified: v,
        bundle_stamps: stamps,
    }))
}
