//! Offline verification of a log directory, C2SP `tlog-proof` inclusion proofs, export and the monthly report.
//!
//! Everything here reads only the published layout (`checkpoint`, `checkpoints`, `tile/...`, and `journal` when
//! present, in each shard — see [`super::shard`]) and needs only the log's public key. Readers walk the shards in
//! order; a leaf is addressed by [`LeafRef`] (shard, index within the shard), which is what a receipt names (its
//! origin is the shard's origin).
//! Journal frame MACs need the secret key, so they are the writer's to check at open; here the journal's frames are
//! compared with the signed entries. A pruned shard is accepted only when the next shard's signed chain record
//! states the newest record time its `pruned` marker claims.
//! Must never: trust a file it has not checked against a signed checkpoint, or write to the log directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::merkle::{
    inclusion_proof, leaf_hash, perfect_root, root_from_inclusion_proof, Frontier, Hash,
};
use super::note::{Checkpoint, NoteVerifier, MAX_NOTE_BYTES};
use super::record::{leaf_seq_time, parse_leaf, parse_leaf_lenient, Entry, LogLeaf, ShardLink};
use super::shard::{
    is_pruned, list_shards, pruned_newest, read_pruned_marker, read_seal, shard_dir, shard_origin,
    swapped_hint, PrunedMarker,
};
use super::tiles::{
    bundle_path, decode_bundle_at, decode_tile, read_covering, tile_path, tile_width, TileReader,
    TILE_WIDTH,
};
use super::writer::{ARCHIVE_FILE, CHECKPOINT_FILE, JOURNAL_FILE, LOCK_FILE};
use super::AuditError;

mod cache;
pub use cache::{verify_for_export, ExportCache, ExportCacheStats};

/// A pruned shard k ≥ 1 keeps this file: the `tlog-proof` of its chain record (leaf 0) against its sealed
/// checkpoint, so that the pruning of shard k-1 stays provable once shard k's tiles are gone.
pub const CHAIN_PROOF_FILE: &str = "chain-proof";

fn corrupt(index: Option<u64>, reason: impl Into<String>) -> AuditError {
    AuditError::Corrupt {
        index,
        reason: reason.into(),
    }
}

/// A leaf's address in a (possibly rotated) log: the shard and the index within that shard's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LeafRef {
    /// Shard number (0 = the log directory itself).
    pub shard: u64,
    /// Leaf index within the shard.
    pub index: u64,
}

/// Read and verify the latest checkpoint of shard 0 (the log directory itself; the whole log when it never
/// rotated).
pub fn read_checkpoint(
    dir: &Path,
    verifier: &NoteVerifier,
) -> Result<(Checkpoint, String), AuditError> {
    read_shard_checkpoint(dir, verifier, verifier.name())
}

/// Read and verify the latest checkpoint of the shard in `dir`, whose origin must be `origin`.
pub fn read_shard_checkpoint(
    dir: &Path,
    verifier: &NoteVerifier,
    origin: &str,
) -> Result<(Checkpoint, String), AuditError> {
    let path = dir.join(CHECKPOINT_FILE);
    let note = fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            AuditError::NoCheckpoint(path.clone())
        } else {
            AuditError::io(&path, e)
        }
    })?;
    let cp = Checkpoint::open_with_origin(&note, verifier, origin).map_err(|e| match e {
        e @ AuditError::WrongKey { .. } => e,
        e => corrupt(
            None,
            format!("checkpoint: {e}{}", swapped_hint(&note, verifier, origin)),
        ),
    })?;
    Ok((cp, note))
}

/// The shards of the log in `root` with their directories and origins, oldest first.
fn shards_of(
    root: &Path,
    verifier: &NoteVerifier,
) -> Result<Vec<(u64, std::path::PathBuf, String)>, AuditError> {
    Ok(list_shards(root)?
        .into_iter()
        .map(|k| (k, shard_dir(root, k), shard_origin(verifier.name(), k)))
        .collect())
}

/// Parse the checkpoint archive (`<len>\n<note>` records).
pub fn parse_archive(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("archive record {} has no length line", out.len()))?;
        let len: usize = std::str::from_utf8(&rest[..nl])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l <= MAX_NOTE_BYTES)
            .ok_or_else(|| format!("archive record {} has a bad length line", out.len()))?;
        let body = rest
            .get(nl + 1..nl + 1 + len)
            .ok_or_else(|| format!("archive record {} is truncated", out.len()))?;
        let note = std::str::from_utf8(body)
            .map_err(|_| format!("archive record {} is not UTF-8", out.len()))?;
        out.push(note.to_owned());
        rest = &rest[nl + 1 + len..];
    }
    Ok(out)
}

/// The entries `index*256 .. index*256+width` of bundle `index`.
fn read_bundle_entries(dir: &Path, index: u64, width: u64) -> Result<Vec<Vec<u8>>, AuditError> {
    let rel = bundle_path(index, width);
    let first = index * TILE_WIDTH;
    let (bytes, got) = read_covering(dir, &bundle_path(index, TILE_WIDTH), width)?
        .ok_or_else(|| corrupt(Some(first), format!("entry bundle {rel} is missing")))?;
    let read_rel = bundle_path(index, got);
    let entries = decode_bundle_at(&bytes)
        .map_err(|(at, why)| corrupt(Some(first + at as u64), format!("{read_rel}: {why}")))?;
    if (entries.len() as u64) > got {
        return Err(corrupt(
            Some(first + got),
            format!(
                "{read_rel} holds {} entries, more than its width {got} (entries inserted)",
                entries.len()
            ),
        ));
    }
    Ok(entries
        .into_iter()
        .take(width as usize)
        .map(<[u8]>::to_vec)
        .collect())
}

/// Hashes of tile (level, index) at `width`, from whichever stored file covers it.
fn read_tile_hashes(
    dir: &Path,
    level: u32,
    index: u64,
    width: u64,
) -> Result<Vec<Hash>, AuditError> {
    let rel = tile_path(level, index, width);
    let first = (index * TILE_WIDTH) << (8 * level);
    let (mut bytes, got) = read_covering(dir, &tile_path(level, index, TILE_WIDTH), width)?
        .ok_or_else(|| corrupt(Some(first), format!("tile {rel} is missing")))?;
    if bytes.len() as u64 != got * 32 {
        return Err(corrupt(
            Some(first + (bytes.len() as u64 / 32).min(width)),
            format!(
                "{}: has {} bytes, expected {} (truncated or padded)",
                tile_path(level, index, got),
                bytes.len(),
                got * 32
            ),
        ));
    }
    bytes.truncate(width as usize * 32);
    decode_tile(&bytes, width).map_err(|why| corrupt(Some(first), format!("{rel}: {why}")))
}

/// Visit the leaves `0..size` in order (reads entry bundles). The callback returns `false` to stop early.
pub fn for_each_leaf(
    dir: &Path,
    size: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<bool, AuditError>,
) -> Result<(), AuditError> {
    let bundles = size.div_ceil(TILE_WIDTH);
    for b in 0..bundles {
        let width = tile_width(0, b, size);
        let rel = bundle_path(b, width);
        let entries = read_bundle_entries(dir, b, width)?;
        for (k, e) in entries.iter().enumerate() {
            if !f(b * TILE_WIDTH + k as u64, e)? {
                return Ok(());
            }
        }
        if (entries.len() as u64) < width {
            return Err(corrupt(
                Some(b * TILE_WIDTH + entries.len() as u64),
                format!(
                    "{rel} holds {} entries, expected {width} (entries removed)",
                    entries.len()
                ),
            ));
        }
    }
    Ok(())
}

/// What a successful verification of one shard covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardReport {
    /// Shard number (0 = the log directory itself).
    pub shard: u64,
    /// The shard's origin.
    pub origin: String,
    /// Verified tree size (the shard's latest checkpoint; its sealed checkpoint once sealed).
    pub size: u64,
    /// Root hash, base64.
    pub root: String,
    /// Archived checkpoints whose signature and root were checked.
    pub archived_checkpoints: u64,
    /// Journal entries compared with the published entries (None when no journal is present).
    pub journal_entries: Option<u64>,
    /// The shard is sealed (complete; its final checkpoint is in `sealed`).
    pub sealed: bool,
    /// The shard was pruned: only its sealed checkpoint remains (checked, and chained to the next shard).
    pub pruned: bool,
    /// The shard's newest record time: the latest `time` of any of its leaves (not the last leaf's — a clock that
    /// stepped back must not make a shard look older than it is). None for an empty shard and with
    /// [`VerifyOptions::skip_record_checks`] (leaves are not parsed then); for a pruned shard, what its marker says.
    pub newest_time: Option<String>,
    /// The shard's oldest record time: the earliest `time` of any of its leaves (with a clock that stepped back,
    /// not the first leaf's); the first leaf's with [`VerifyOptions::skip_record_checks`]. None for an empty or
    /// pruned shard.
    pub oldest_time: Option<String>,
}

/// What a successful verification covered. `origin`, `size` and `root` describe the newest shard (the checkpoint
/// to keep for a later `--trusted-checkpoint`); `shards` lists every shard, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Origin of the newest shard (the log name when the log never rotated).
    pub origin: String,
    /// Verified tree size of the newest shard.
    pub size: u64,
    /// Root hash of the newest shard, base64.
    pub root: String,
    /// Archived checkpoints whose signature and root were checked, all shards.
    pub archived_checkpoints: u64,
    /// Journal entries of the newest shard compared with its published entries (None when no journal).
    pub journal_entries: Option<u64>,
    /// Entries in all shards, pruned ones included (from their sealed checkpoints).
    pub total_entries: u64,
    /// Every shard, oldest first.
    pub shards: Vec<ShardReport>,
}

/// Options of [`verify_dir`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A checkpoint note the auditor kept from earlier: the log must still contain that tree (detects rollback
    /// and truncation of the newest entries even if the directory's own archive was truncated too).
    pub trusted_checkpoint: Option<String>,
    /// Skip reading each leaf's sequence number and time (hash checks only; shards then report no
    /// `newest_time`, and the chain records' record times are not compared).
    pub skip_record_checks: bool,
    /// Fully parse every leaf as a record and check it is in canonical form (slower).
    pub strict_records: bool,
}

/// Level-by-level recomputation of tiles above level 0, compared with the stored tiles.
struct TileChecker<'a> {
    dir: &'a Path,
    size: u64,
    /// Computed hashes of the current (incomplete) tile at tile levels 1.. (index 0 = tile level 1).
    pending: Vec<Vec<Hash>>,
    tile_index: Vec<u64>,
}

impl TileChecker<'_> {
    /// A full tile at `level` (0-based) with these hashes was verified; feed its root to the level above.
    fn push_root(&mut self, level: u32, root: Hash) -> Result<(), AuditError> {
        let up = level as usize; // pending[up] is tile level `level + 1`
        if self.pending.len() <= up {
            self.pending.push(Vec::new());
            self.tile_index.push(0);
        }
        self.pending[up].push(root);
        if self.pending[up].len() as u64 == TILE_WIDTH {
            let hashes = std::mem::take(&mut self.pending[up]);
            let idx = self.tile_index[up];
            self.compare(level + 1, idx, &hashes)?;
            self.tile_index[up] += 1;
            let r = perfect_root(&hashes).ok_or_else(|| corrupt(None, "tile root"))?;
            self.push_root(level + 1, r)?;
        }
        Ok(())
    }

    fn compare(&self, level: u32, index: u64, computed: &[Hash]) -> Result<(), AuditError> {
        let width = computed.len() as u64;
        let rel = tile_path(level, index, width);
        let first_leaf = |k: u64| (index * TILE_WIDTH + k) << (8 * level);
        let stored = read_tile_hashes(self.dir, level, index, width)?;
        for (k, (a, b)) in stored.iter().zip(computed).enumerate() {
            if a != b {
                return Err(corrupt(
                    Some(first_leaf(k as u64)),
                    format!("tile {rel} hash {k} does not match the recomputed subtree"),
                ));
            }
        }
        Ok(())
    }

    /// At the end: compare the partial tiles above level 0.
    fn finish(&self) -> Result<(), AuditError> {
        for (up, hashes) in self.pending.iter().enumerate() {
            let level = up as u32 + 1;
            if !hashes.is_empty() {
                debug_assert_eq!(
                    hashes.len() as u64,
                    tile_width(level, self.tile_index[up], self.size)
                );
                self.compare(level, self.tile_index[up], hashes)?;
            }
        }
        Ok(())
    }
}

/// Verify one shard: every checkpoint signature, every entry against its tile hash, every tile against its
/// recomputation, the root against the checkpoint, every archived checkpoint against the recomputed tree at its
/// size, the journal (if present) against the published entries, an optional trusted checkpoint, and (for shard
/// k ≥ 1) that leaf 0 is the chain record `link`.
pub(crate) fn verify_shard(
    dir: &Path,
    origin: &str,
    verifier: &NoteVerifier,
    options: &VerifyOptions,
    link: Option<&ShardLink>,
) -> Result<ShardReport, AuditError> {
    verify_shard_collect(dir, origin, verifier, options, link).map(|(rep, _)| rep)
}

/// Digest of the leaf hashes of one entry bundle (the level-0 tile hashes it was verified against): what a
/// second read of the bundle must reproduce before its leaves are shown (see [`for_each_record`]).
fn bundle_digest(hashes: &[Hash]) -> Hash {
    let mut d = Sha256::new();
    for h in hashes {
        d.update(h);
    }
    d.finalize().into()
}

/// One entry bundle as verification saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BundleVerified {
    /// [`bundle_digest`] of its verified leaf hashes.
    digest: Hash,
    /// Earliest and latest record time in it (None when leaves were not parsed).
    times: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
}

/// What verifying one shard established beyond its [`ShardReport`]: what a second read must reproduce, and what
/// lets a growing shard be verified incrementally (see [`ExportCache`]).
#[derive(Debug, Clone, Default)]
struct ShardVerified {
    /// Every entry bundle, in order.
    bundles: Vec<BundleVerified>,
    /// The last leaf's time (what chain records written by older versions state as `previous_newest_time`).
    last_time: Option<String>,
    /// The latest record time, parsed (`newest_time` of the report).
    max_time: Option<time::OffsetDateTime>,
    /// The tree over the verified leaves.
    frontier: Frontier,
    /// Leaf hashes of the last bundle when it is partial.
    tail: Vec<Hash>,
}

impl BundleVerified {
    /// Whether any of its records can be in `range` (unknown times: yes).
    fn meets(&self, range: &TimeRange) -> bool {
        self.times.is_none_or(|(lo, hi)| {
            range.from.is_none_or(|f| hi >= f) && range.to.is_none_or(|e| lo < e)
        })
    }

    fn widen(&mut self, t: time::OffsetDateTime) {
        self.times = Some(match self.times {
            None => (t, t),
            Some((lo, hi)) => (lo.min(t), hi.max(t)),
        });
    }
}

/// [`verify_shard`], also returning what it established ([`ShardVerified`]).
fn verify_shard_collect(
    dir: &Path,
    origin: &str,
    verifier: &NoteVerifier,
    options: &VerifyOptions,
    link: Option<&ShardLink>,
) -> Result<(ShardReport, ShardVerified), AuditError> {
    let mut out = ShardVerified::default();
    let (cp, _) = read_shard_checkpoint(dir, verifier, origin)?;
    let size = cp.size;
    if link.is_some() && size == 0 {
        return Err(corrupt(
            Some(0),
            "the shard is empty but must start with its shard_start chain record",
        ));
    }
    let mut newest_time = None;
    let mut oldest_time = None;
    let mut min_time = None;

    // Archived checkpoints: signatures and monotonic sizes.
    let mut archived: Vec<Checkpoint> = Vec::new();
    let archive_path = dir.join(ARCHIVE_FILE);
    if let Ok(bytes) = fs::read(&archive_path) {
        let notes = parse_archive(&bytes)
            .map_err(|why| corrupt(None, format!("checkpoint archive: {why}")))?;
        for (k, note) in notes.iter().enumerate() {
            let c = Checkpoint::open_with_origin(note, verifier, origin)
                .map_err(|e| corrupt(None, format!("archived checkpoint #{k}: {e}")))?;
            if let Some(prev) = archived.last() {
                if c.size < prev.size {
                    return Err(corrupt(
                        Some(c.size),
                        format!("archived checkpoint #{k} has a smaller size than its predecessor"),
                    ));
                }
            }
            if c.size > size {
                return Err(corrupt(
                    Some(size),
                    format!("archived checkpoint #{k} covers {} entries but the latest checkpoint only {size} (entries removed)", c.size),
                ));
            }
            archived.push(c);
        }
    }
    let trusted = match &options.trusted_checkpoint {
        Some(note) => {
            let t = Checkpoint::open_with_origin(note, verifier, origin)
                .map_err(|e| corrupt(None, format!("trusted checkpoint: {e}")))?;
            if t.size > size {
                return Err(corrupt(
                    Some(size),
                    format!("log was truncated or rolled back: the trusted checkpoint covers {} entries, the log {size}", t.size),
                ));
            }
            Some(t)
        }
        None => None,
    };
    let mut wanted: BTreeMap<u64, Vec<Hash>> = BTreeMap::new();
    for c in archived.iter().chain(trusted.iter()) {
        wanted.entry(c.size).or_default().push(c.root);
    }

    // The journal (writer-private, present when verifying the writer's own directory) pins each entry exactly.
    let mut journal = match fs::File::open(dir.join(JOURNAL_FILE)) {
        Ok(f) => Some(JournalHashes::open(f)?),
        Err(_) => None,
    };
    let mut frame_buf = Vec::new();
    let mut frontier = Frontier::new();
    let mut checker = TileChecker {
        dir,
        size,
        pending: Vec::new(),
        tile_index: Vec::new(),
    };
    let mut level0: Vec<Hash> = Vec::new();
    let mut good_through = 0u64; // roots verified up to this size
                                 // Roots at the sizes of archived/trusted checkpoints, compared after the tile checks (which are more precise).
    let mut roots_at: BTreeMap<u64, Hash> = BTreeMap::new();
    if wanted.contains_key(&0) {
        roots_at.insert(0, frontier.root());
    }
    // The first entry that differs from the writer's journal. Which side was altered is known only at the end: if
    // the entries still match their tiles and the signed checkpoint, the journal was; otherwise entry and tile were
    // altered together, and this index is the most precise one to report.
    let mut journal_mismatch: Option<u64> = None;
    // (a `try` block: `?` ends the checks, not the function)
    #[allow(clippy::redundant_closure_call)]
    let checked = (|| -> Result<(), AuditError> {
        for_each_leaf(dir, size, |i, data| {
            if i % TILE_WIDTH == 0 {
                let b = i / TILE_WIDTH;
                let width = tile_width(0, b, size);
                level0 = read_tile_hashes(dir, 0, b, width)?;
                out.bundles.push(BundleVerified {
                    digest: bundle_digest(&level0),
                    times: None,
                });
            }
            let h = leaf_hash(data);
            let k = (i % TILE_WIDTH) as usize;
            if level0.get(k) != Some(&h) {
                return Err(corrupt(
                    Some(i),
                    format!(
                        "entry does not match hash {k} of tile {} (entry or tile altered)",
                        tile_path(0, i / TILE_WIDTH, tile_width(0, i / TILE_WIDTH, size))
                    ),
                ));
            }
            if let Some(j) = journal.as_mut() {
                match j.next_equals(data, &mut frame_buf) {
                    Some(true) => {}
                    Some(false) => {
                        journal_mismatch.get_or_insert(i);
                    }
                    None => {
                        return Err(corrupt(
                            Some(i),
                            format!(
                                "journal ends after {i} entries but the checkpoint covers {size}"
                            ),
                        ))
                    }
                }
            }
            if !options.skip_record_checks {
                let (seq, time) = if options.strict_records {
                    parse_leaf(data)
                        .map(|l| (l.seq, l.time))
                        .map_err(|e| corrupt(Some(i), e.to_string()))?
                } else {
                    leaf_seq_time(data).map_err(|e| corrupt(Some(i), e.to_string()))?
                };
                if seq != i {
                    return Err(corrupt(
                        Some(i),
                        format!("entry carries sequence {seq} (entries reordered or moved)"),
                    ));
                }
                // The shard's newest record time is the latest of all, not the last leaf's: a clock that stepped back
                // must not make the shard look older than it is (to `prune` and to a `pruned` marker's check).
                let t = parse_leaf_time(&time)
                    .ok_or_else(|| corrupt(Some(i), "record time is not an RFC 3339 time"))?;
                if let Some(b) = out.bundles.last_mut() {
                    b.widen(t);
                }
                if min_time.is_none_or(|m| t < m) {
                    min_time = Some(t);
                    oldest_time = Some(time.clone());
                }
                if out.max_time.is_none_or(|m| t > m) {
                    out.max_time = Some(t);
                    newest_time = Some(time);
                }
            }
            if i == 0 {
                if let Some(want) = link {
                    check_link(data, want)?;
                }
            }
            if i == 0 && options.skip_record_checks {
                oldest_time = Some(
                    parse_leaf_lenient(data)
                        .map_err(|e| corrupt(Some(i), e.to_string()))?
                        .time,
                );
            }
            if i + 1 == size {
                out.last_time = Some(
                    parse_leaf_lenient(data)
                        .map_err(|e| corrupt(Some(i), e.to_string()))?
                        .time,
                );
            }
            frontier.push(h);
            if k as u64 == TILE_WIDTH - 1 {
                let root = perfect_root(&level0).ok_or_else(|| corrupt(Some(i), "tile root"))?;
                checker.push_root(0, root)?;
            }
            if wanted.contains_key(&(i + 1)) {
                roots_at.insert(i + 1, frontier.root());
            }
            Ok(true)
        })?;
        checker.finish()?;
        if let Some(j) = journal.as_mut() {
            j.check_rest(size)?;
        }
        for (n, roots) in &wanted {
            if roots.iter().any(|r| roots_at.get(n) != Some(r)) {
                return Err(corrupt(
                Some(good_through),
                format!("archived checkpoint at size {n} does not match the entries in [{good_through}, {n})"),
            ));
            }
            good_through = *n;
        }
        if frontier.root() != cp.root {
            return Err(corrupt(
                None,
                format!("recomputed root at size {size} does not match the signed checkpoint"),
            ));
        }
        Ok(())
    })();
    match (checked, journal_mismatch) {
        (Ok(()), None) => {}
        (Err(e), None) => return Err(e),
        (Err(_), Some(i)) => {
            return Err(corrupt(
                Some(i),
                "entry differs from the writer's journal, and the published entries no longer match their tiles \
                 and the signed checkpoint (entry and tile altered together)",
            ))
        }
        (Ok(()), Some(i)) => {
            return Err(corrupt(
                Some(i),
                "the writer's journal differs from this entry, which matches its tiles and the signed checkpoint \
                 (the journal was altered)",
            ))
        }
    }

    let journal_entries = journal.as_ref().map(|j| j.count);
    if size % TILE_WIDTH != 0 {
        out.tail = level0;
    }
    out.frontier = frontier;
    let report = ShardReport {
        shard: 0,
        origin: cp.origin,
        size,
        root: B64.encode(cp.root),
        archived_checkpoints: archived.len() as u64,
        journal_entries,
        sealed: false,
        pruned: false,
        newest_time,
        oldest_time,
    };
    Ok((report, out))
}

/// The first leaf of shard k ≥ 1 must be the `shard_start` record naming shard k-1's sealed checkpoint.
fn check_link(data: &[u8], want: &ShardLink) -> Result<(), AuditError> {
    let leaf = parse_leaf_lenient(data).map_err(|e| corrupt(Some(0), e.to_string()))?;
    let Entry::ShardStart(got) = &leaf.entry else {
        return Err(corrupt(
            Some(0),
            "the first leaf is not a shard_start chain record (shard replaced)",
        ));
    };
    if got.shard != want.shard {
        return Err(corrupt(
            Some(0),
            format!(
                "the chain record says this is shard {}, but it is stored as shard {} (shards swapped or renamed)",
                got.shard, want.shard
            ),
        ));
    }
    let identity = ShardLink {
        previous_newest_time: None,
        previous_max_time: None,
        ..want.clone()
    };
    if got.names(&identity) && !got.names(want) {
        // One of the two times differs (each is compared only when both sides state it).
        let (says, is) = match (&got.previous_max_time, &want.previous_max_time) {
            (Some(g), Some(w)) if g != w => (g.as_str(), w.as_str()),
            _ => (
                got.previous_newest_time.as_deref().unwrap_or("-"),
                want.previous_newest_time.as_deref().unwrap_or("-"),
            ),
        };
        return Err(corrupt(
            Some(0),
            format!(
                "the chain record states {says} as shard {}'s newest record time, but its records say {is} \
                 (records of the previous shard altered, or the chain record forged)",
                want.shard - 1
            ),
        ));
    }
    if !got.names(want) {
        return Err(corrupt(
            Some(0),
            format!(
                "the chain record names the previous shard's final checkpoint as {:?} size {} root {}, but shard {}'s \
                 sealed checkpoint is {:?} size {} root {} (previous shard truncated, extended, swapped or replaced)",
                got.previous_origin,
                got.previous_size,
                got.previous_root,
                want.shard - 1,
                want.previous_origin,
                want.previous_size,
                want.previous_root
            ),
        ));
    }
    Ok(())
}

/// Verify a log directory against its public key, every shard in order: each shard as a complete tlog-tiles log
/// (see `verify_shard`), a `sealed` note (when present) equal to the shard's checkpoint, each shard k ≥ 1
/// starting with the chain record naming shard k-1's final checkpoint (its sealed one; a shard whose seal was
/// interrupted is reported `sealed: false` and chained by its latest checkpoint), pruned shards only at the old end
/// (their sealed checkpoint is still checked and chained), and an optional trusted checkpoint of any shard.
/// The error names the first bad shard ([`AuditError::bad_shard`]) and index ([`AuditError::bad_index`]).
///
/// A pruned shard is accepted only if its `pruned` marker parses, says that the shard's newest record is older
/// than the default retention period ([`DEFAULT_RETENTION_DAYS`]; see [`verify_dir_with`] for another period), and
/// that newest time is the one the next shard's signed chain record states (a chain record without it, written
/// before it existed, cannot prove the pruning: an error). In the writer's own directory (`lock` present) the open
/// shard's journal must exist, as the writer's open requires.
pub fn verify_dir(
    root: &Path,
    verifier: &NoteVerifier,
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    verify_dir_with(root, verifier, options, &Retention::default())
}

/// The default retention period in days (`audit.retention_days`' default).
pub const DEFAULT_RETENTION_DAYS: u32 = 730;

/// What makes a pruned shard legitimate: its newest record is older than `now - period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The retention period.
    pub period: time::Duration,
    /// The current time.
    pub now: time::OffsetDateTime,
}

impl Retention {
    /// A retention period of `days` days, now.
    pub fn days(days: u32) -> Self {
        Self {
            period: time::Duration::days(i64::from(days)),
            now: time::OffsetDateTime::now_utc(),
        }
    }

    /// Records older than this are outside retention.
    pub fn cutoff(&self) -> time::OffsetDateTime {
        self.now
            .checked_sub(self.period)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self::days(DEFAULT_RETENTION_DAYS)
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Check the `pruned` marker of the shard in `dir`, whose sealed checkpoint covers `sealed_size` entries: it must
/// parse, and say that the shard's newest record is outside `retention`.
fn check_pruned(
    dir: &Path,
    sealed_size: u64,
    retention: &Retention,
) -> Result<PrunedMarker, AuditError> {
    let marker = read_pruned_marker(dir)?;
    match marker.newest {
        None if sealed_size > 0 => Err(corrupt(
            None,
            format!(
                "the `pruned` marker says the shard held no records, but its sealed checkpoint covers {sealed_size}: \
                 records deleted outside a legitimate prune"
            ),
        )),
        Some(t) if t >= retention.cutoff() => Err(corrupt(
            None,
            format!(
                "the shard is marked pruned, but its newest record is from {}, inside the {}-day retention period \
                 (records older than {} may be pruned): records deleted outside a legitimate prune (if the log's \
                 retention period is shorter, pass it with --retention-days)",
                rfc3339(t),
                retention.period.whole_days(),
                rfc3339(retention.cutoff())
            ),
        )),
        _ => Ok(marker),
    }
}

/// The chain record (leaf 0) of shard `k` ≥ 1, checked against the shard's signed checkpoint: read from its entry
/// bundle with an inclusion proof, or, for a pruned shard, from the `chain-proof` ([`CHAIN_PROOF_FILE`]) its prune
/// kept. `None` for a pruned shard without one (pruned by a version that did not keep it).
pub(crate) fn signed_chain_record(
    root: &Path,
    verifier: &NoteVerifier,
    k: u64,
) -> Result<Option<ShardLink>, AuditError> {
    let dir = shard_dir(root, k);
    let origin = shard_origin(verifier.name(), k);
    let proof = if is_pruned(&dir) {
        let path = dir.join(CHAIN_PROOF_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => TlogProof::parse(&text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AuditError::io(&path, e)),
        }
    } else {
        prove_in(&dir, &origin, verifier, 0)?
    };
    let (cp, _) = read_shard_checkpoint(&dir, verifier, &origin)?;
    let proved = proof.verify(verifier, None)?;
    if proof.index != 0
        || proved.origin != cp.origin
        || proved.size != cp.size
        || proved.root != cp.root
    {
        return Err(corrupt(
            Some(0),
            format!("the {CHAIN_PROOF_FILE} does not prove leaf 0 against the shard's checkpoint"),
        ));
    }
    let leaf = parse_leaf_lenient(proof.leaf.as_deref().unwrap_or_default())
        .map_err(|e| corrupt(Some(0), e.to_string()))?;
    match leaf.entry {
        Entry::ShardStart(link) => Ok(Some(link)),
        _ => Err(corrupt(
            Some(0),
            "the first leaf is not a shard_start chain record (shard replaced)",
        )),
    }
}

/// What makes a pruned shard `k` legitimate beyond its marker: the chain record that starts shard k+1 — signed with
/// that shard — names shard k's sealed checkpoint and its newest record's time (`previous_max_time`, the latest
/// time of any of its records), and the marker's `newest` is that time (the retention check in [`check_pruned`]
/// then applies to a signed value). A shard whose successor's chain record lacks that time cannot be proven to
/// have been pruned legitimately: records written before the field existed, and those written by the versions that
/// stated only the *last* leaf's time (`previous_newest_time`), which is not the newest when the clock stepped back
/// during the shard — a prune those versions made may have been early, and nothing left can tell.
pub(crate) fn check_pruned_signed(
    root: &Path,
    verifier: &NoteVerifier,
    k: u64,
    sealed: &Checkpoint,
    marker_newest: Option<time::OffsetDateTime>,
) -> Result<(), AuditError> {
    let next = k + 1;
    if !list_shards(root)?.contains(&next) {
        return Err(corrupt(
            None,
            "the newest shard is marked pruned: nothing signed says when its newest record was (the newest shard is \
             never pruned)",
        ));
    }
    let link = signed_chain_record(root, verifier, next).map_err(|e| e.in_shard(next))?;
    let Some(link) = link else {
        return Err(corrupt(
            None,
            format!(
                "the shard is marked pruned, but its pruning cannot be proven: shard {next} was pruned without \
                 keeping its signed chain record (`{CHAIN_PROOF_FILE}`), which is what states this shard's newest \
                 record time"
            ),
        ));
    };
    let want = ShardLink {
        shard: next,
        previous_origin: sealed.origin.clone(),
        previous_size: sealed.size,
        previous_root: B64.encode(sealed.root),
        previous_newest_time: None,
        previous_max_time: None,
    };
    if !link.names(&want) {
        return Err(corrupt(
            None,
            format!(
                "shard {next}'s chain record does not name this shard's sealed checkpoint (size {})",
                sealed.size
            ),
        ));
    }
    let signed = match &link.previous_max_time {
        Some(t) => Some(parse_leaf_time(t).ok_or_else(|| {
            corrupt(
                None,
                format!("shard {next}'s chain record has a newest-record time that is not a time"),
            )
        })?),
        None if sealed.size == 0 => None,
        None if link.previous_newest_time.is_some() => {
            return Err(corrupt(
                None,
                format!(
                    "the shard is marked pruned, but its pruning cannot be proven: shard {next}'s chain record was \
                     written by an older haetae and states only the time of this shard's last record, which is not \
                     its newest if the clock stepped back, so it cannot show that every record was outside retention"
                ),
            ))
        }
        None => {
            return Err(corrupt(
                None,
                format!(
                    "the shard is marked pruned, but its pruning cannot be proven: shard {next}'s chain record was \
                     written by an older haetae and does not state this shard's newest record time, so only the \
                     unsigned `pruned` marker says its records were outside retention"
                ),
            ))
        }
    };
    if signed != marker_newest {
        return Err(corrupt(
            None,
            format!(
                "the `pruned` marker says the shard's newest record is from {}, but shard {next}'s signed chain \
                 record says {}: the marker was not written by `haetae audit prune` (records deleted outside a \
                 legitimate prune)",
                marker_newest.map_or_else(|| "-".to_owned(), rfc3339),
                signed.map_or_else(|| "-".to_owned(), rfc3339)
            ),
        ));
    }
    Ok(())
}

/// [`verify_dir`] with a given retention period for pruned shards (`audit verify --retention-days`).
pub fn verify_dir_with(
    root: &Path,
    verifier: &NoteVerifier,
    options: &VerifyOptions,
    retention: &Retention,
) -> Result<VerifyReport, AuditError> {
    verify_dir_collect(root, verifier, options, retention, None)
}

/// What [`verify_dir_collect`] records about every shard that still holds data, and the cache it may reuse.
struct Collect<'a> {
    shards: BTreeMap<u64, Arc<ShardVerified>>,
    cache: Option<&'a mut cache::CacheState>,
}

/// [`verify_dir`], also recording (when `collect` is given) what was established about every shard that still
/// holds data ([`ShardVerified`]), keyed by shard.
fn verify_dir_collect(
    root: &Path,
    verifier: &NoteVerifier,
    options: &VerifyOptions,
    retention: &Retention,
    mut collect: Option<&mut Collect<'_>>,
) -> Result<VerifyReport, AuditError> {
    let shards = shards_of(root, verifier)?;
    let newest = shards.last().map_or(0, |s| s.0);
    let trusted_shard = match &options.trusted_checkpoint {
        Some(note) => {
            let (_, k) = Checkpoint::open_any_shard(note, verifier)
                .map_err(|e| corrupt(None, format!("trusted checkpoint: {e}")))?;
            if k > newest {
                return Err(corrupt(
                    None,
                    format!("log was truncated: the trusted checkpoint is of shard {k}, but the newest shard is {newest} (newest shards removed)"),
                )
                .in_shard(k));
            }
            Some(k)
        }
        None => None,
    };
    let mut reports: Vec<ShardReport> = Vec::with_capacity(shards.len());
    let mut previous: Option<Checkpoint> = None;
    let mut seen_data = false;
    // The newest record time (the maximum) and the last leaf's time of the previous shard, when its data was
    // verified (not pruned).
    let mut newest_of_previous: Option<Option<String>> = None;
    let mut last_of_previous: Option<String> = None;
    // The writer's own directory (it holds the writer lock file), not an auditor's copy: the open shard's journal
    // is then the writer's source of truth and must exist, as the writer's open requires.
    let writer_dir = root.join(LOCK_FILE).exists();
    // A log that never rotated reports errors as before rotation existed (no shard prefix).
    let single = shards.len() == 1;
    for (k, dir, origin) in shards {
        let in_shard = |e: AuditError| if single { e } else { e.in_shard(k) };
        let seal = read_seal(&dir, verifier, &origin).map_err(in_shard)?;
        let pruned = is_pruned(&dir);
        let link = match (k, &previous) {
            (0, _) => None,
            (_, Some(p)) => Some(ShardLink {
                shard: k,
                previous_origin: p.origin.clone(),
                previous_size: p.size,
                previous_root: B64.encode(p.root),
                // Compared with the chain record's (when it states them) in `check_link`: a record written by this
                // version states the maximum, one written by an older version the last leaf's time.
                previous_newest_time: newest_of_previous
                    .as_ref()
                    .and_then(|_| last_of_previous.clone()),
                previous_max_time: newest_of_previous.clone().flatten(),
            }),
            (_, None) => None,
        };
        let creating = k == newest
            && k > 0
            && seal.is_none()
            && !dir.join(CHECKPOINT_FILE).exists()
            && !dir.join(super::shard::TILE_DIR).exists();
        let mut rep = if creating {
            // A crash between sealing the previous shard and publishing this one's first checkpoint: nothing was
            // published here yet (the writer completes the rotation on its next open).
            ShardReport {
                shard: k,
                origin: origin.clone(),
                size: 0,
                root: B64.encode(Frontier::new().root()),
                archived_checkpoints: 0,
                journal_entries: None,
                sealed: false,
                pruned: false,
                newest_time: None,
                oldest_time: None,
            }
        } else if pruned {
            if seen_data {
                return Err(in_shard(corrupt(
                    None,
                    "the shard was pruned but an older shard was not (shards are pruned oldest first)",
                )));
            }
            let Some((sealed, _)) = &seal else {
                return Err(in_shard(corrupt(
                    None,
                    "the shard is marked pruned but was never sealed",
                )));
            };
            let (cp, _) = read_shard_checkpoint(&dir, verifier, &origin).map_err(in_shard)?;
            let marker = check_pruned(&dir, sealed.size, retention).map_err(|e| e.in_shard(k))?;
            check_pruned_signed(root, verifier, k, sealed, marker.newest)
                .map_err(|e| e.in_shard(k))?;
            if trusted_shard == Some(k) {
                if let Some(note) = &options.trusted_checkpoint {
                    let t =
                        Checkpoint::open_with_origin(note, verifier, &origin).map_err(in_shard)?;
                    if t.size > sealed.size || (t.size == sealed.size && t.root != sealed.root) {
                        return Err(in_shard(corrupt(
                            Some(sealed.size.min(t.size)),
                            "the trusted checkpoint does not match the pruned shard's sealed checkpoint",
                        )));
                    }
                }
            }
            ShardReport {
                shard: k,
                origin: origin.clone(),
                size: cp.size,
                root: B64.encode(cp.root),
                archived_checkpoints: 0,
                journal_entries: None,
                sealed: true,
                pruned: true,
                newest_time: pruned_newest(&dir),
                oldest_time: None,
            }
        } else {
            seen_data = true;
            let mut opts = options.clone();
            if trusted_shard != Some(k) {
                opts.trusted_checkpoint = None;
            }
            let (rep, verified) = match collect.as_mut().and_then(|c| c.cache.as_deref_mut()) {
                Some(cache) => {
                    cache.verify_shard(k, &dir, &origin, verifier, link.as_ref(), seal.is_some())
                }
                None => verify_shard_collect(&dir, &origin, verifier, &opts, link.as_ref())
                    .map(|(r, v)| (r, Arc::new(v))),
            }
            .map_err(in_shard)?;
            last_of_previous = verified.last_time.clone();
            if let Some(c) = collect.as_mut() {
                c.shards.insert(k, verified);
            }
            if writer_dir && k == newest && seal.is_none() && !dir.join(JOURNAL_FILE).exists() {
                return Err(in_shard(corrupt(
                    Some(rep.size),
                    format!(
                        "the journal of the open shard is missing from the writer's directory (`{LOCK_FILE}` exists): \
                         it was deleted, and entries acknowledged after the checkpoint of size {} may be lost; the \
                         writer refuses to open this directory. The published entries verify in a copy without \
                         `{LOCK_FILE}` (an auditor's copy holds no journal)",
                        rep.size
                    ),
                )));
            }
            rep
        };
        rep.shard = k;
        if let Some((sealed, _)) = &seal {
            rep.sealed = true;
            if rep.size != sealed.size || rep.root != B64.encode(sealed.root) {
                return Err(in_shard(corrupt(
                    Some(rep.size.min(sealed.size)),
                    format!(
                        "the checkpoint (size {}) is not the sealed final checkpoint (size {}): the sealed shard was truncated, extended or its checkpoint replaced",
                        rep.size, sealed.size
                    ),
                )));
            }
        }
        // The next shard's chain record must name this shard's final checkpoint: the sealed one, or — for a shard
        // whose seal (which runs after the next shard started) a crash interrupted — its latest checkpoint, which
        // the writer's next open checks and seals.
        previous = match seal {
            Some((c, _)) => Some(c),
            None => Some(Checkpoint {
                origin: rep.origin.clone(),
                size: rep.size,
                root: B64
                    .decode(&rep.root)
                    .ok()
                    .and_then(|r| <Hash>::try_from(r.as_slice()).ok())
                    .ok_or_else(|| in_shard(corrupt(None, "root")))?,
            }),
        };
        newest_of_previous = (!rep.pruned).then(|| rep.newest_time.clone());
        if rep.pruned {
            last_of_previous = None;
        }
        reports.push(rep);
    }
    let last = reports
        .last()
        .cloned()
        .ok_or_else(|| corrupt(None, "the log has no shards"))?;
    Ok(VerifyReport {
        origin: last.origin,
        size: last.size,
        root: last.root,
        archived_checkpoints: reports.iter().map(|r| r.archived_checkpoints).sum(),
        journal_entries: last.journal_entries,
        total_entries: reports.iter().map(|r| r.size).sum(),
        shards: reports,
    })
}

/// Streams the journal's complete frames (a torn tail ends the stream, as the writer would
/// truncate it).
///
/// Both journal formats are read (offline verification has no key for the MACs of format 2: it compares the
/// frames with the published, signed entries); a format-1 journal with entries beyond the checkpoint is refused,
/// as the writer's open refuses it.
struct JournalHashes {
    r: std::io::BufReader<fs::File>,
    count: u64,
    /// Format 1 (`HAETAEJ1`: no frame MACs).
    v1: bool,
}

impl JournalHashes {
    fn open(f: fs::File) -> Result<Self, AuditError> {
        let mut r = std::io::BufReader::with_capacity(1 << 20, f);
        let mut magic = [0u8; 10];
        r.read_exact(&mut magic)
            .map_err(|_| corrupt(None, "journal header is truncated"))?;
        let v1 = &magic[..8] == b"HAETAEJ1";
        if !v1 && &magic[..8] != b"HAETAEJ2" {
            return Err(corrupt(None, "journal has no haetae journal header"));
        }
        let olen = usize::from(u16::from_be_bytes([magic[8], magic[9]]));
        let mut origin = vec![0u8; olen];
        r.read_exact(&mut origin)
            .map_err(|_| corrupt(None, "journal header is truncated"))?;
        Ok(Self { r, count: 0, v1 })
    }

    /// After the published entries: a format-1 journal must hold no more complete frames (their writer could not
    /// authenticate them, and the writer's open refuses to adopt them).
    fn check_rest(&mut self, size: u64) -> Result<(), AuditError> {
        if !self.v1 {
            return Ok(());
        }
        let mut buf = Vec::new();
        let mut extra = 0u64;
        while self.next_equals(&[], &mut buf).is_some() {
            extra += 1;
        }
        if extra > 0 {
            return Err(corrupt(
                Some(size),
                format!(
                    "the journal is in the old format HAETAEJ1 (frames without a key) and holds {extra} entries \
                     beyond the checkpoint of size {size}: the writer will not adopt them (see its error at start-up)"
                ),
            ));
        }
        Ok(())
    }

    /// Whether the next complete frame holds exactly `entry` (`None` at the end of the journal).
    fn next_equals(&mut self, entry: &[u8], buf: &mut Vec<u8>) -> Option<bool> {
        let mut hdr = [0u8; 24];
        let hdr = &mut hdr[..if self.v1 { 16 } else { 24 }];
        self.r.read_exact(hdr).ok()?;
        let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let inv = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        let len = len as usize;
        if len > 1 << 16 || len as u32 ^ inv != u32::MAX {
            return None;
        }
        buf.resize(len, 0);
        self.r.read_exact(buf).ok()?;
        self.count += 1;
        Some(buf.as_slice() == entry)
    }
}

/// How many complete frames `verify` reads from the journal at `path` (the `journal_replay` fuzz target compares
/// it with what replay recovers).
pub(crate) fn journal_frames(path: &Path) -> Result<u64, AuditError> {
    let f = fs::File::open(path).map_err(|e| AuditError::io(path, e))?;
    let mut j = JournalHashes::open(f)?;
    let mut buf = Vec::new();
    while j.next_equals(&[], &mut buf).is_some() {}
    Ok(j.count)
}

/// A C2SP `tlog-proof`: index, inclusion path, the signed checkpoint, and (as `extra`) the leaf itself so that
/// the proof is self-contained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The leaf bytes (canonical JSON), carried in the `extra` line.
    pub leaf: Option<Vec<u8>>,
    /// Leaf index.
    pub index: u64,
    /// Inclusion path, leaf sibling first.
    pub path: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// Text form (`c2sp.org/tlog-proof@v1`).
    pub fn to_text(&self) -> String {
        let mut s = String::from("c2sp.org/tlog-proof@v1\n");
        if let Some(leaf) = &self.leaf {
            s.push_str(&format!("extra {}\n", B64.encode(leaf)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.path {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parse the text form.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        let bad = |why: &str| AuditError::Proof(format!("tlog-proof: {why}"));
        if text.len() > 1 << 20 {
            return Err(bad("too large"));
        }
        let rest = text
            .strip_prefix("c2sp.org/tlog-proof@v1\n")
            .ok_or_else(|| bad("missing header line"))?;
        let (head, checkpoint) = rest
            .split_once("\n\n")
            .ok_or_else(|| bad("missing blank line before checkpoint"))?;
        let mut lines = head.split('\n').peekable();
        let mut leaf = None;
        if let Some(extra) = lines.peek().and_then(|l| l.strip_prefix("extra ")) {
            leaf = Some(B64.decode(extra).map_err(|_| bad("extra is not base64"))?);
            lines.next();
        }
        let index_line = lines
            .next()
            .and_then(|l| l.strip_prefix("index "))
            .ok_or_else(|| bad("missing index line"))?;
        if index_line.is_empty()
            || (index_line.len() > 1 && index_line.starts_with('0'))
            || !index_line.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad("index is not a canonical decimal"));
        }
        let index: u64 = index_line.parse().map_err(|_| bad("index out of range"))?;
        let mut path = Vec::new();
        for l in lines {
            let h = B64
                .decode(l)
                .ok()
                .and_then(|b| <Hash>::try_from(b.as_slice()).ok())
                .ok_or_else(|| bad("proof line is not a base64 SHA-256 hash"))?;
            path.push(h);
            if path.len() > 64 {
                return Err(bad("proof is too long"));
            }
        }
        Ok(Self {
            leaf,
            index,
            path,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Verify offline: the checkpoint signature (its origin must be the key name or one of its shard origins
    /// `<name>/shards/<k>`), then that `leaf` (the one given, else the one carried in `extra`)
    /// is at `index` in the checkpointed tree. Returns the checkpoint.
    pub fn verify(
        &self,
        verifier: &NoteVerifier,
        leaf: Option<&[u8]>,
    ) -> Result<Checkpoint, AuditError> {
        let (cp, _) = Checkpoint::open_any_shard(&self.checkpoint, verifier)?;
        let data = leaf.or(self.leaf.as_deref()).ok_or_else(|| {
            AuditError::Proof("no leaf given and none carried in the proof".into())
        })?;
        if let (Some(given), Some(carried)) = (leaf, &self.leaf) {
            if given != carried.as_slice() {
                return Err(AuditError::Proof(
                    "the given leaf differs from the one carried in the proof".into(),
                ));
            }
        }
        self.verify_hash(&cp, &leaf_hash(data))?;
        Ok(cp)
    }

    /// Verify with only a leaf hash (e.g. from a receipt) against an already-opened checkpoint.
    pub fn verify_hash(&self, cp: &Checkpoint, leaf: &Hash) -> Result<(), AuditError> {
        let root = root_from_inclusion_proof(leaf, self.index, cp.size, &self.path)?;
        if root != cp.root {
            return Err(AuditError::Proof(format!(
                "leaf at index {} is not in the checkpointed tree of size {}",
                self.index, cp.size
            )));
        }
        Ok(())
    }
}

/// Build an inclusion proof for leaf `at` against its shard's latest checkpoint (read from the tiles). The proof
/// carries the shard's checkpoint (origin `<name>/shards/<k>` for k ≥ 1), so `check-proof` verifies it offline
/// with the log's one verifier key.
pub fn prove(root: &Path, verifier: &NoteVerifier, at: LeafRef) -> Result<TlogProof, AuditError> {
    prove_with(root, verifier, at, &Retention::default())
}

/// [`prove`], judging a pruned shard against `retention`: a proof into a shard that was legitimately pruned is
/// refused as outside retention; a shard whose `pruned` marker does not hold up is reported as such.
pub fn prove_with(
    root: &Path,
    verifier: &NoteVerifier,
    at: LeafRef,
    retention: &Retention,
) -> Result<TlogProof, AuditError> {
    let shards = list_shards(root)?;
    if !shards.contains(&at.shard) {
        return Err(AuditError::Proof(format!(
            "the log has no shard {} (shards 0..={})",
            at.shard,
            shards.last().copied().unwrap_or(0)
        )));
    }
    let dir = shard_dir(root, at.shard);
    if is_pruned(&dir) {
        let origin = shard_origin(verifier.name(), at.shard);
        let (sealed, _) = read_seal(&dir, verifier, &origin)
            .map_err(|e| e.in_shard(at.shard))?
            .ok_or_else(|| {
                corrupt(None, "the shard is marked pruned but was never sealed").in_shard(at.shard)
            })?;
        let marker =
            check_pruned(&dir, sealed.size, retention).map_err(|e| e.in_shard(at.shard))?;
        check_pruned_signed(root, verifier, at.shard, &sealed, marker.newest)
            .map_err(|e| e.in_shard(at.shard))?;
        return Err(AuditError::Proof(format!(
            "shard {} was pruned (outside retention: its newest record{} is older than the {}-day retention \
             period): only its sealed checkpoint remains",
            at.shard,
            marker
                .newest
                .map(|t| format!(", from {},", rfc3339(t)))
                .unwrap_or_default(),
            retention.period.whole_days()
        )));
    }
    let origin = shard_origin(verifier.name(), at.shard);
    prove_in(&dir, &origin, verifier, at.index).map_err(|e| {
        if shards.len() > 1 {
            e.in_shard(at.shard)
        } else {
            e
        }
    })
}

pub(crate) fn prove_in(
    dir: &Path,
    origin: &str,
    verifier: &NoteVerifier,
    index: u64,
) -> Result<TlogProof, AuditError> {
    let (cp, note) = read_shard_checkpoint(dir, verifier, origin)?;
    if index >= cp.size {
        return Err(AuditError::Proof(format!(
            "index {index} is not covered by the latest checkpoint (size {}); retry after the next checkpoint",
            cp.size
        )));
    }
    let mut reader = TileReader::new(dir, cp.size);
    let path = inclusion_proof(&mut reader, index, cp.size)?;
    let b = index / TILE_WIDTH;
    let entries = read_bundle_entries(dir, b, tile_width(0, b, cp.size))?;
    let leaf = entries
        .get((index % TILE_WIDTH) as usize)
        .cloned()
        .ok_or_else(|| corrupt(Some(index), "entry missing from its bundle"))?;
    let proof = TlogProof {
        leaf: Some(leaf),
        index,
        path,
        checkpoint: note,
    };
    proof.verify(verifier, None)?;
    Ok(proof)
}

/// The non-pruned shards with a published checkpoint, oldest first: (shard, dir, checkpoint).
fn readable_shards(
    root: &Path,
    verifier: &NoteVerifier,
) -> Result<Vec<(u64, std::path::PathBuf, Checkpoint)>, AuditError> {
    let mut out = Vec::new();
    let shards = shards_of(root, verifier)?;
    let newest = shards.last().map_or(0, |s| s.0);
    for (k, dir, origin) in shards {
        if is_pruned(&dir) {
            continue;
        }
        if k == newest && k > 0 && !dir.join(CHECKPOINT_FILE).exists() {
            continue; // being created: nothing published yet
        }
        let (cp, _) = read_shard_checkpoint(&dir, verifier, &origin).map_err(|e| e.in_shard(k))?;
        out.push((k, dir, cp));
    }
    Ok(out)
}

/// Find the request record with this request id (linear scan of the checkpointed entries, newest shard first).
pub fn find_request(
    root: &Path,
    verifier: &NoteVerifier,
    request_id: &str,
) -> Result<Option<LeafRef>, AuditError> {
    for (shard, dir, cp) in readable_shards(root, verifier)?.into_iter().rev() {
        let mut found = None;
        for_each_leaf(&dir, cp.size, |i, data| {
            if let Ok(leaf) = serde_json::from_slice::<LogLeaf>(data) {
                if leaf
                    .entry
                    .as_request()
                    .is_some_and(|r| r.request_id == request_id)
                {
                    found = Some(LeafRef { shard, index: i });
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .map_err(|e| e.in_shard(shard))?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Parse a time bound of `audit export` and the auditor listener's `/export`: a date `YYYY-MM-DD` (midnight UTC)
/// or a full RFC 3339 time with any offset (`2026-11-29T09:35:01+09:00`, `2026-11-29T00:35:01.5Z`), converted to
/// UTC. Anything else is an error ([`AuditError::TimeBound`]).
pub fn parse_time_bound(s: &str) -> Result<time::OffsetDateTime, AuditError> {
    let bad = || {
        let shown: String = s.chars().take(64).collect();
        AuditError::TimeBound(shown)
    };
    let b = s.as_bytes();
    if b.len() == 10 {
        let shape = b.iter().enumerate().all(|(k, c)| {
            if k == 4 || k == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
        if !shape {
            return Err(bad());
        }
        let date = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| bad())?;
        return Ok(date.midnight().assume_utc());
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .map_err(|_| bad())
}

/// A time range `[from, to)` of leaf times; an absent end is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<time::OffsetDateTime>,
    /// Exclusive end.
    pub to: Option<time::OffsetDateTime>,
}

impl TimeRange {
    /// Parse both ends with [`parse_time_bound`]; an empty string is an open end.
    pub fn parse(from: &str, to: &str) -> Result<Self, AuditError> {
        let end = |s: &str| {
            if s.is_empty() {
                Ok(None)
            } else {
                parse_time_bound(s).map(Some)
            }
        };
        Ok(Self {
            from: end(from)?,
            to: end(to)?,
        })
    }

    /// Whether `t` is in the range.
    pub fn contains(&self, t: time::OffsetDateTime) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }
}

/// Visit the checkpointed leaves whose time is in `[from, to)` (see [`TimeRange::parse`]; for compatibility the
/// old open-end placeholders `0000`, `9999` and `~` mean an open end too), as [`for_each_record_in`] does. A bound
/// that does not parse is an [`AuditError::TimeBound`] before anything is read.
pub fn for_each_record(
    root: &Path,
    verifier: &NoteVerifier,
    from: &str,
    to: &str,
    f: impl FnMut(LeafRef, &[u8], &LogLeaf) -> Result<(), AuditError>,
) -> Result<Checkpoint, AuditError> {
    fn open(s: &str) -> &str {
        if matches!(s, "0000" | "9999" | "~") {
            ""
        } else {
            s
        }
    }
    let range = TimeRange::parse(open(from), open(to))?;
    for_each_record_in(root, verifier, &range, &Retention::default(), f)
}

/// Visit the leaves whose time is in `range`, shard by shard, oldest first (pruned shards have no leaves left),
/// and only after the whole log verified: [`verify_dir`] runs first (every entry against its tile hash, the tiles
/// up to each signed checkpoint root, the shard chain), and a bundle is shown only when a second read of it
/// reproduces exactly the leaf hashes that were verified, so a file changed in between is an error too. On any
/// mismatch nothing unverified has been passed to `f`, and the error names the shard and index. Returns the
/// newest shard's checkpoint. Pruned shards are judged against `retention` (see [`verify_dir_with`]).
pub fn for_each_record_in(
    root: &Path,
    verifier: &NoteVerifier,
    range: &TimeRange,
    retention: &Retention,
    f: impl FnMut(LeafRef, &[u8], &LogLeaf) -> Result<(), AuditError>,
) -> Result<Checkpoint, AuditError> {
    let verified = verify_records(root, verifier, retention, None)?;
    verified.visit_range(root, range, f)?;
    Ok(verified.newest)
}

/// A log that verified, with what a second read must reproduce: what [`verify_for_export`] returns before
/// anything is sent, and [`VerifiedLog::visit_range`] streams from.
#[derive(Debug)]
pub struct VerifiedLog {
    report: VerifyReport,
    /// Per shard with data: each entry bundle's digest of verified leaf hashes and time span.
    shards: BTreeMap<u64, Arc<ShardVerified>>,
    /// The newest shard's verified checkpoint.
    newest: Checkpoint,
}

/// Verify the whole log (as `audit verify` does; with `cache`, reusing what an earlier call established, see
/// [`ExportCache`]) and keep what a second read must reproduce.
fn verify_records(
    root: &Path,
    verifier: &NoteVerifier,
    retention: &Retention,
    cache: Option<&mut cache::CacheState>,
) -> Result<VerifiedLog, AuditError> {
    let mut collect = Collect {
        shards: BTreeMap::new(),
        cache,
    };
    let report = verify_dir_collect(
        root,
        verifier,
        &VerifyOptions::default(),
        retention,
        Some(&mut collect),
    )?;
    let root_hash = B64
        .decode(&report.root)
        .ok()
        .and_then(|r| <Hash>::try_from(r.as_slice()).ok())
        .ok_or_else(|| corrupt(None, "root"))?;
    let newest = Checkpoint {
        origin: report.origin.clone(),
        size: report.size,
        root: root_hash,
    };
    Ok(VerifiedLog {
        report,
        shards: collect.shards,
        newest,
    })
}

impl VerifiedLog {
    /// The newest shard's verified checkpoint.
    pub fn newest(&self) -> &Checkpoint {
        &self.newest
    }

    /// Visit the verified leaves whose time is in `range`, oldest shard first. Only entry bundles whose verified
    /// time span meets `range` are read; each is re-read and checked against the leaf hashes that were verified
    /// before any of its leaves is passed on (a file changed since is an error naming the shard and index, and
    /// nothing of that bundle is passed on).
    pub fn visit_range(
        &self,
        root: &Path,
        range: &TimeRange,
        mut f: impl FnMut(LeafRef, &[u8], &LogLeaf) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        let single = self.report.shards.len() == 1;
        for s in &self.report.shards {
            if s.pruned || s.size == 0 {
                continue;
            }
            let in_shard = |e: AuditError| if single { e } else { e.in_shard(s.shard) };
            let dir = shard_dir(root, s.shard);
            let bundles = self
                .shards
                .get(&s.shard)
                .map_or(&[][..], |v| v.bundles.as_slice());
            for b in 0..s.size.div_ceil(TILE_WIDTH) {
                let verified = bundles.get(b as usize);
                if verified.is_some_and(|v| !v.meets(range)) {
                    continue;
                }
                let width = tile_width(0, b, s.size);
                let first = b * TILE_WIDTH;
                let entries = read_bundle_entries(&dir, b, width).map_err(in_shard)?;
                let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
                if entries.len() as u64 != width
                    || verified.map(|v| v.digest) != Some(bundle_digest(&hashes))
                {
                    return Err(in_shard(corrupt(
                        Some(first),
                        format!(
                            "{} changed after it was verified (altered while being read)",
                            bundle_path(b, width)
                        ),
                    )));
                }
                for (k, data) in entries.iter().enumerate() {
                    let i = first + k as u64;
                    let leaf = parse_leaf_lenient(data)
                        .map_err(|e| in_shard(corrupt(Some(i), e.to_string())))?;
                    let t = parse_leaf_time(&leaf.time).ok_or_else(|| {
                        in_shard(corrupt(Some(i), "record time is not an RFC 3339 time"))
                    })?;
                    if range.contains(t) {
                        f(
                            LeafRef {
                                shard: s.shard,
                                index: i,
                            },
                            data,
                            &leaf,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn join_counts(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// CSV header of [`csv_row`].
pub const CSV_HEADER: &str = "seq,time,kind,request_id,tenant,client,endpoint,wire_format,requested_model,served_model,\
policy_hash,classification,findings,actions,destination,jurisdiction,region,upstream_host,transfer_basis,route,outcome,\
status,latency_ms,input_tokens,output_tokens,subject,new_hash,leaf_hash,findings_incomplete,uninspected";

/// One CSV row for a leaf (no trailing newline).
pub fn csv_row(leaf: &LogLeaf, data: &[u8]) -> String {
    let mut cols: Vec<String> = vec![leaf.seq.to_string(), leaf.time.clone()];
    let lh = B64.encode(leaf_hash(data));
    match &leaf.entry {
        Entry::Request(r) => {
            let d = r.destination.clone().unwrap_or_default();
            cols.extend([
                "request".into(),
                r.request_id.clone(),
                r.tenant.clone(),
                r.client.clone(),
                r.endpoint.clone(),
                r.wire_format.clone(),
                r.requested_model.clone().unwrap_or_default(),
                r.served_model.clone().unwrap_or_default(),
                r.policy_hash.clone(),
                r.classification.clone(),
                join_counts(&r.findings),
                join_counts(&r.actions),
                d.name,
                d.jurisdiction,
                d.region.unwrap_or_default(),
                d.upstream_host,
                r.transfer_basis.clone().unwrap_or_default(),
                r.route.clone().unwrap_or_default(),
                r.outcome.clone(),
                r.status.map(|s| s.to_string()).unwrap_or_default(),
                r.latency_ms.to_string(),
                r.usage
                    .map(|u| u.input_tokens.to_string())
                    .unwrap_or_default(),
                r.usage
                    .map(|u| u.output_tokens.to_string())
                    .unwrap_or_default(),
                String::new(),
                String::new(),
            ]);
        }
        Entry::PolicyChange(c) | Entry::ConfigChange(c) => {
            let kind = if matches!(leaf.entry, Entry::PolicyChange(_)) {
                "policy_change"
            } else {
                "config_change"
            };
            cols.push(kind.into());
            cols.extend(std::iter::repeat_n(String::new(), 22));
            cols.push(c.subject.clone());
            cols.push(c.new_hash.clone());
        }
        Entry::ShardStart(l) => {
            cols.push("shard_start".into());
            cols.extend(std::iter::repeat_n(String::new(), 22));
            cols.push(format!("{} {}", l.previous_origin, l.previous_size));
            cols.push(l.previous_root.clone());
        }
    }
    cols.push(lh);
    // (last, so the columns before it keep their places for readers of older exports)
    let (incomplete, uninspected) = match &leaf.entry {
        Entry::Request(r) => (r.findings_incomplete, join_counts(&r.uninspected)),
        _ => (false, String::new()),
    };
    cols.push(if incomplete { "true" } else { "" }.into());
    cols.push(uninspected);
    cols.iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",")
}

/// The monthly review summary (개인정보의 안전성 확보조치 기준 제8조 monthly review; PIPA 28-8 transfer facts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MonthlyReport {
    /// `YYYY-MM`.
    pub month: String,
    /// Log origin.
    pub origin: String,
    /// Checkpoint size the report was computed against.
    pub checkpoint_size: u64,
    /// Home jurisdiction (transfers elsewhere count as abroad).
    pub home_jurisdiction: String,
    /// Requests in the month, each counted once (a `decided` record and its outcome record are one request).
    pub requests: u64,
    /// Requests whose only record is the `decided` one written before forwarding (no outcome record: the gateway
    /// stopped or crashed while the request was in flight). Counted in `requests` under outcome `decided`.
    pub no_outcome: u64,
    /// When shards were pruned (outside retention) whose records may fall in this month or later: the newest
    /// record time of the newest such shard. Records up to then are not in the report.
    pub pruned_through: Option<String>,
    /// Requests by destination jurisdiction (`-` when not routed).
    pub by_jurisdiction: BTreeMap<String, u64>,
    /// Requests by outcome.
    pub by_outcome: BTreeMap<String, u64>,
    /// Requests forwarded outside the home jurisdiction: every routed request that (possibly) left — forwarded,
    /// `sent_no_response` (sent, no answer passed on), `decided` with no outcome, and the `refused` records with a
    /// destination written by versions that did not yet tell sent from not delivered — but not `blocked` or
    /// `not_delivered`.
    pub forwarded_abroad: u64,
    /// Routed requests that never left: no connection to the destination was made (outcome `not_delivered`). Not
    /// counted as transfers, nor are their findings.
    pub not_delivered: u64,
    /// Requests whose record says `refused` with a destination (written by versions before `not_delivered` and
    /// `sent_no_response` existed): they may or may not have left, and are counted as transfers.
    pub delivery_unknown: u64,
    /// Entity findings in requests forwarded abroad (entity → count), i.e. data classes that left the country
    /// (possibly masked or pseudonymised; see `actions_abroad`).
    pub entities_abroad: BTreeMap<String, u64>,
    /// Actions applied to requests forwarded abroad.
    pub actions_abroad: BTreeMap<String, u64>,
    /// Parts of requests forwarded abroad that the gateway could not inspect (kind → count: images, files, …).
    pub uninspected_abroad: BTreeMap<String, u64>,
    /// Blocked requests.
    pub blocked: u64,
    /// Policy changes (time, subject, new hash).
    pub policy_changes: Vec<(String, String, String)>,
    /// Configuration changes (time, subject, new hash).
    pub config_changes: Vec<(String, String, String)>,
    /// Shards started (log rotations) in the month.
    pub shards_started: u64,
}

/// How far around the month [`monthly_report`] reads to pair a request's `decided` record with its outcome record
/// (a request whose outcome came more than this after its decision is reported as having no outcome).
const PAIRING_WINDOW: time::Duration = time::Duration::days(1);

/// Compute the monthly report for `month` (`YYYY-MM`) from the verified entries (the whole log verifies first,
/// as for [`for_each_record`]).
///
/// Each request counts once, in the month of its first record: under `before-forward` durability a request leaves
/// a `decided` record and then an outcome record with the same request id; the outcome record supersedes the
/// `decided` one (its outcome, destination and findings are the ones counted). A `decided` record with no outcome
/// record (the gateway stopped or crashed mid-request) counts once, under outcome `decided`, and in
/// [`MonthlyReport::no_outcome`].
pub fn monthly_report(
    dir: &Path,
    verifier: &NoteVerifier,
    month: &str,
    home: &str,
) -> Result<MonthlyReport, AuditError> {
    monthly_report_with(dir, verifier, month, home, &Retention::default())
}

/// [`monthly_report`], judging pruned shards against `retention` (see [`verify_dir_with`]).
pub fn monthly_report_with(
    dir: &Path,
    verifier: &NoteVerifier,
    month: &str,
    home: &str,
    retention: &Retention,
) -> Result<MonthlyReport, AuditError> {
    let bad_month = || AuditError::Config(format!("month {month:?} is not YYYY-MM"));
    if month.len() != 7 {
        return Err(bad_month());
    }
    let first_day = time::Date::parse(
        &format!("{month}-01"),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| bad_month())?;
    let next_day = if first_day.month() == time::Month::December {
        time::Date::from_calendar_date(first_day.year() + 1, time::Month::January, 1)
    } else {
        time::Date::from_calendar_date(first_day.year(), first_day.month().next(), 1)
    }
    .map_err(|_| bad_month())?;
    let start = first_day.midnight().assume_utc();
    let end = next_day.midnight().assume_utc();
    let mut rep = MonthlyReport {
        month: month.to_owned(),
        home_jurisdiction: home.to_owned(),
        ..Default::default()
    };
    let verified = verify_records(dir, verifier, retention, None)?;
    rep.pruned_through = verified
        .report
        .shards
        .iter()
        .filter(|s| s.pruned)
        .filter_map(|s| s.newest_time.clone())
        .filter(|t| parse_leaf_time(t).is_none_or(|t| t >= start))
        .max();
    // `decided` records of this month still waiting for their outcome record, and of the look-back window
    // (requests of the previous month, whose outcome records are not counted here).
    let mut pending: std::collections::HashMap<String, super::ResidencyRecord> =
        std::collections::HashMap::new();
    let mut earlier: std::collections::HashSet<String> = std::collections::HashSet::new();
    let (lo, hi) = (start - PAIRING_WINDOW, end + PAIRING_WINDOW);
    let window = TimeRange {
        from: Some(lo),
        to: Some(hi),
    };
    verified.visit_range(dir, &window, |at, _, leaf| {
        let t = parse_leaf_time(&leaf.time)
            .ok_or_else(|| corrupt(Some(at.index), "record time is not an RFC 3339 time"))?;
        let in_month = t >= start && t < end;
        match &leaf.entry {
            Entry::Request(r) if r.outcome == DECIDED => {
                if t < start {
                    earlier.insert(r.request_id.clone());
                } else if in_month {
                    pending.insert(r.request_id.clone(), r.clone());
                }
            }
            Entry::Request(r) => {
                if earlier.remove(&r.request_id) {
                    // a request of the previous month
                } else if pending.remove(&r.request_id).is_some() || in_month {
                    rep.count_request(r);
                }
            }
            _ if !in_month => {}
            Entry::PolicyChange(c) => {
                rep.policy_changes
                    .push((leaf.time.clone(), c.subject.clone(), c.new_hash.clone()))
            }
            Entry::ConfigChange(c) => {
                rep.config_changes
                    .push((leaf.time.clone(), c.subject.clone(), c.new_hash.clone()))
            }
            Entry::ShardStart(_) => rep.shards_started += 1,
        }
        Ok(())
    })?;
    for r in pending.values() {
        rep.count_request(r);
        rep.no_outcome += 1;
    }
    rep.origin = verified.newest.origin;
    rep.checkpoint_size = verified.newest.size;
    Ok(rep)
}

/// The outcome of a `before-forward` record written before the request was forwarded.
const DECIDED: &str = "decided";
/// The outcome of a routed request that never left the gateway (no connection to its destination was made).
const NOT_DELIVERED: &str = "not_delivered";

/// A leaf's time (the writer emits RFC 3339 UTC with milliseconds).
fn parse_leaf_time(t: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
}

impl MonthlyReport {
    /// Count one request (its final record).
    fn count_request(&mut self, r: &super::ResidencyRecord) {
        let home = self.home_jurisdiction.as_str();
        self.requests += 1;
        let j = r
            .destination
            .as_ref()
            .map_or("-".to_owned(), |d| d.jurisdiction.clone());
        if r.outcome == "blocked" {
            self.blocked += 1;
        }
        let left = match r.outcome.as_str() {
            "blocked" => false,
            NOT_DELIVERED => {
                self.not_delivered += 1;
                false
            }
            "refused" if r.destination.is_some() => {
                self.delivery_unknown += 1;
                true
            }
            _ => true,
        };
        if r.destination.is_some() && j != home && left {
            self.forwarded_abroad += 1;
            for (e, c) in &r.findings {
                *self.entities_abroad.entry(e.clone()).or_default() += c;
            }
            for (a, c) in &r.actions {
                *self.actions_abroad.entry(a.clone()).or_default() += c;
            }
            for (k, c) in &r.uninspected {
                *self.uninspected_abroad.entry(k.clone()).or_default() += c;
            }
        }
        *self.by_jurisdiction.entry(j).or_default() += 1;
        *self.by_outcome.entry(r.outcome.clone()).or_default() += 1;
    }

    /// Human-readable text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "Residency log monthly review {} — {} (checkpoint size {})\n\nRequests: {}\nBlocked: {}\nForwarded outside {}: {}\n",
            self.month, self.origin, self.checkpoint_size, self.requests, self.blocked, self.home_jurisdiction, self.forwarded_abroad
        );
        if self.no_outcome > 0 {
            s.push_str(&format!(
                "Requests with no outcome record (decided, then the gateway stopped or crashed): {}\n",
                self.no_outcome
            ));
        }
        if self.not_delivered > 0 {
            s.push_str(&format!(
                "Not delivered (routed, but no connection to the destination was made; not counted as forwarded): {}\n",
                self.not_delivered
            ));
        }
        if self.delivery_unknown > 0 {
            s.push_str(&format!(
                "Refused after routing, delivery not recorded (records of an older version; counted as forwarded): {}\n",
                self.delivery_unknown
            ));
        }
        if let Some(t) = &self.pruned_through {
            s.push_str(&format!(
                "Incomplete: shards with records up to {t} were pruned (outside retention); their records are not \
                 counted here\n"
            ));
        }
        let section = |s: &mut String, title: &str, m: &BTreeMap<String, u64>| {
            s.push_str(&format!("\n{title}:\n"));
            if m.is_empty() {
                s.push_str("  (none)\n");
            }
            for (k, v) in m {
                s.push_str(&format!("  {k:<24} {v}\n"));
            }
        };
        section(
            &mut s,
            "Requests by destination jurisdiction",
            &self.by_jurisdiction,
        );
        section(&mut s, "Requests by outcome", &self.by_outcome);
        section(
            &mut s,
            "Data classes in requests sent abroad (findings)",
            &self.entities_abroad,
        );
        section(
            &mut s,
            "Actions on requests sent abroad",
            &self.actions_abroad,
        );
        section(
            &mut s,
            "Uninspected parts of requests sent abroad (images, files, ...)",
            &self.uninspected_abroad,
        );
        for (title, list) in [
            ("Policy changes", &self.policy_changes),
            ("Configuration changes", &self.config_changes),
        ] {
            s.push_str(&format!("\n{title}:\n"));
            if list.is_empty() {
                s.push_str("  (none)\n");
            }
            for (t, subj, h) in list {
                s.push_str(&format!("  {t} {subj} {h}\n"));
            }
        }
        s
    }
}
