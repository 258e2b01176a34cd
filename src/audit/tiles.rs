//! C2SP `tlog-tiles` storage: tile and entry-bundle paths, bundle encoding, a tile reader that serves subtree
//! hashes for proofs, and the incremental tile builder used by the writer.
//!
//! Must never: rewrite an existing full tile or bundle (they are immutable), or expose a half-written file (every
//! file is written to a temporary name and renamed into place).

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::merkle::{perfect_root, Hash, HashSource};
use super::AuditError;

/// Hashes per full tile (tile height 8).
pub const TILE_WIDTH: u64 = 256;
/// Bytes per hash.
pub const HASH_SIZE: usize = 32;
/// Largest entry an entry bundle can carry (uint16 length prefix).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// Encode a tile index as zero-padded 3-digit path elements, all but the last prefixed with `x`
/// (1234067 → `x001/x234/067`).
pub fn encode_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Relative path of a hash tile: `tile/<L>/<N>[.p/<W>]`; `width` is 1..=256 (256 = full).
pub fn tile_path(level: u32, index: u64, width: u64) -> String {
    with_width(format!("tile/{level}/{}", encode_index(index)), width)
}

/// Relative path of an entry bundle: `tile/entries/<N>[.p/<W>]`.
pub fn bundle_path(index: u64, width: u64) -> String {
    with_width(format!("tile/entries/{}", encode_index(index)), width)
}

fn with_width(base: String, width: u64) -> String {
    if width >= TILE_WIDTH {
        base
    } else {
        format!("{base}.p/{width}")
    }
}

/// Width of the tile `index` at tile level `level` in a tree of `size` leaves, or 0 if it does not exist.
pub fn tile_width(level: u32, index: u64, size: u64) -> u64 {
    let hashes = hashes_at_tile_level(level, size);
    hashes.saturating_sub(index * TILE_WIDTH).min(TILE_WIDTH)
}

/// Number of hashes stored at tile level `level` (tree level `8 * level`) for a tree of `size` leaves.
pub fn hashes_at_tile_level(level: u32, size: u64) -> u64 {
    let shift = 8 * level;
    if shift >= 64 {
        0
    } else {
        size >> shift
    }
}

/// Read the file for tile/bundle `base` (`tile/<L>/<N>` or `tile/entries/<N>`) at `width`: the exact file, else the
/// full one, else the narrowest wider partial — a wider tile of the same log starts with the same hashes/entries.
/// Returns the bytes and the width of the file actually read, or `None` when no covering file exists.
pub fn read_covering(
    dir: &Path,
    base: &str,
    width: u64,
) -> Result<Option<(Vec<u8>, u64)>, AuditError> {
    let read = |rel: &str| -> Result<Option<Vec<u8>>, AuditError> {
        match fs::read(dir.join(rel)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AuditError::io(&dir.join(rel), e)),
        }
    };
    if width < TILE_WIDTH {
        if let Some(b) = read(&format!("{base}.p/{width}"))? {
            return Ok(Some((b, width)));
        }
    }
    if let Some(b) = read(base)? {
        return Ok(Some((b, TILE_WIDTH)));
    }
    let Ok(list) = fs::read_dir(dir.join(format!("{base}.p"))) else {
        return Ok(None);
    };
    let wider = list
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|&w| w > width && w < TILE_WIDTH)
        .min();
    match wider {
        Some(w) => Ok(read(&format!("{base}.p/{w}"))?.map(|b| (b, w))),
        None => Ok(None),
    }
}

/// Encode entries as an entry bundle (big-endian uint16 length prefixes).
pub fn encode_bundle<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, AuditError> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).map_err(|_| AuditError::RecordTooLarge(e.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decode an entry bundle into its entries. Fails on a truncated entry.
pub fn decode_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    decode_bundle_at(bytes).map_err(|(_, why)| why)
}

/// [`decode_bundle`], with the position in the bundle of the first entry that cannot be decoded on error.
pub fn decode_bundle_at(bytes: &[u8]) -> Result<Vec<&[u8]>, (usize, String)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err((
                out.len(),
                format!("truncated length prefix after {} entries", out.len()),
            ));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err((
                out.len(),
                format!(
                    "entry {} is truncated ({} of {len} bytes)",
                    out.len(),
                    tail.len()
                ),
            ));
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    Ok(out)
}

/// Split a tile's bytes into hashes; the length must be `width * 32`.
pub fn decode_tile(bytes: &[u8], width: u64) -> Result<Vec<Hash>, String> {
    if bytes.len() as u64 != width * HASH_SIZE as u64 {
        return Err(format!(
            "tile has {} bytes, expected {}",
            bytes.len(),
            width * HASH_SIZE as u64
        ));
    }
    Ok(bytes
        .chunks_exact(HASH_SIZE)
        .filter_map(|c| <Hash>::try_from(c).ok())
        .collect())
}

/// Write `bytes` to `dir/rel` atomically (temporary file + rename); creates parent directories.
pub fn write_atomic(dir: &Path, rel: &str, bytes: &[u8], sync: bool) -> Result<(), AuditError> {
    let path = dir.join(rel);
    let parent = path.parent().unwrap_or(dir);
    fs::create_dir_all(parent).map_err(|e| AuditError::io(parent, e))?;
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let mut f = fs::File::create(&tmp).map_err(|e| AuditError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| AuditError::io(&tmp, e))?;
    if sync {
        f.sync_data().map_err(|e| AuditError::io(&tmp, e))?;
    }
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| AuditError::io(&path, e))?;
    if sync {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Reads tiles of a log directory for a given tree size and serves complete-subtree hashes (with a tile cache).
#[derive(Debug)]
pub struct TileReader {
    dir: PathBuf,
    size: u64,
    cache: HashMap<(u32, u64), Vec<Hash>>,
}

impl TileReader {
    /// A reader over `dir` for the tree of `size` leaves (usually a verified checkpoint's size).
    pub fn new(dir: &Path, size: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            size,
            cache: HashMap::new(),
        }
    }

    /// Read tile `index` at tile level `level` (full, or the partial one this tree size needs; falls back to the
    /// full tile when a partial one was cleaned up).
    pub fn tile(&mut self, level: u32, index: u64) -> Result<&[Hash], AuditError> {
        if !self.cache.contains_key(&(level, index)) {
            let width = tile_width(level, index, self.size);
            if width == 0 {
                return Err(AuditError::Proof(format!(
                    "tile {level}/{index} does not exist at tree size {}",
                    self.size
                )));
            }
            let rel = tile_path(level, index, width);
            let (mut bytes, _) =
                read_covering(&self.dir, &tile_path(level, index, TILE_WIDTH), width)?.ok_or_else(
                    || AuditError::Corrupt {
                        index: Some((index * TILE_WIDTH) << (8 * level)),
                        reason: format!("tile {rel} is missing"),
                    },
                )?;
            bytes.truncate(width as usize * HASH_SIZE);
            let hashes = decode_tile(&bytes, width).map_err(|why| AuditError::Corrupt {
                index: Some((index * TILE_WIDTH) << (8 * level)),
                reason: format!("{rel}: {why}"),
            })?;
            if self.cache.len() > 4096 {
                self.cache.clear();
            }
            self.cache.insert((level, index), hashes);
        }
        self.cache
            .get(&(level, index))
            .map(Vec::as_slice)
            .ok_or_else(|| AuditError::Proof("tile cache".into()))
    }
}

impl HashSource for TileReader {
    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, AuditError> {
        let tile_level = level / 8;
        let height = level % 8;
        // The subtree covers hashes [first, first + 2^height) at tree level 8 * tile_level.
        let first = index << height;
        let tile_index = first / TILE_WIDTH;
        let offset = (first % TILE_WIDTH) as usize;
        let count = 1usize << height;
        let tile = self.tile(tile_level, tile_index)?;
        let slice = tile.get(offset..offset + count).ok_or_else(|| {
            AuditError::Proof(format!("subtree {level}/{index} is beyond the tree"))
        })?;
        perfect_root(slice).ok_or_else(|| AuditError::Proof("subtree".into()))
    }
}

/// Incrementally builds tiles and entry bundles as leaves are appended (writer side).
///
/// Full tiles are written as soon as they fill; partial tiles and the partial bundle are written by
/// [`Self::write_partials`] when a checkpoint is published. The open entry bundle is kept already encoded, so a
/// full bundle is written straight from it (no per-bundle re-encoding copy).
#[derive(Debug, Default)]
pub struct TileBuilder {
    /// Hashes of the incomplete tile at each tile level.
    partial: Vec<Vec<Hash>>,
    /// Number of full tiles written at each tile level.
    full: Vec<u64>,
    /// The incomplete entry bundle, encoded (uint16 length prefixes).
    bundle: Vec<u8>,
    /// Entries in `bundle`.
    bundle_entries: u64,
    /// Number of full bundles.
    full_bundles: u64,
    /// Files found damaged (different from what the journal says) and rewritten while replaying.
    repaired: u64,
    /// Full tiles and bundles not yet on disk (in order): a write failed (e.g. no file descriptor left, `EMFILE`)
    /// and is retried by [`Self::flush`]. The builder's state has advanced past them; they are only bytes to write.
    backlog: std::collections::VecDeque<Deferred>,
    /// Bytes held in `backlog`.
    backlog_bytes: usize,
}

/// A full tile or bundle waiting to be written (see [`TileBuilder::flush`]).
#[derive(Debug)]
struct Deferred {
    rel: String,
    bytes: Vec<u8>,
}

impl TileBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a leaf. With `repair` (replaying the journal on open), completed tiles and bundles are written into
    /// `dir` at once, and an existing file is read and kept only when it holds exactly the expected bytes; a
    /// missing or damaged one (e.g. a tile not yet written back when the power failed: tiles are written without
    /// fsync, the journal is the durable copy) is rewritten and counted in [`Self::repaired`]. Without `repair`
    /// (the writer), completed files are queued and written by [`Self::flush`]: a failed write leaves them queued
    /// for the next attempt, so the builder's state never depends on whether a write succeeded.
    pub fn push(
        &mut self,
        dir: &Path,
        data: &[u8],
        leaf: Hash,
        repair: bool,
    ) -> Result<(), AuditError> {
        let len = u16::try_from(data.len()).map_err(|_| AuditError::RecordTooLarge(data.len()))?;
        self.bundle.extend_from_slice(&len.to_be_bytes());
        self.bundle.extend_from_slice(data);
        self.bundle_entries += 1;
        if self.bundle_entries == TILE_WIDTH {
            let rel = bundle_path(self.full_bundles, TILE_WIDTH);
            if repair {
                let bundle = std::mem::take(&mut self.bundle);
                self.put(dir, &rel, &bundle, true)?;
                let _ = fs::remove_dir_all(dir.join(format!("{rel}.p")));
                self.bundle = bundle;
                self.bundle.clear(); // keeps its capacity
            } else {
                let capacity = self.bundle.capacity();
                let bundle = std::mem::replace(&mut self.bundle, Vec::with_capacity(capacity));
                self.defer(rel, bundle);
            }
            self.bundle_entries = 0;
            self.full_bundles += 1;
        }
        self.push_hash(dir, 0, leaf, repair)
    }

    fn defer(&mut self, rel: String, bytes: Vec<u8>) {
        self.backlog_bytes += bytes.len();
        self.backlog.push_back(Deferred { rel, bytes });
    }

    /// Write the queued full tiles and bundles, oldest first (each replaces the partial files it supersedes).
    /// On the first failure the rest stay queued, that one included, and the error is returned: the next call
    /// retries.
    pub fn flush(&mut self, dir: &Path) -> Result<(), AuditError> {
        while let Some(next) = self.backlog.front() {
            write_atomic(dir, &next.rel, &next.bytes, false)?;
            let _ = fs::remove_dir_all(dir.join(format!("{}.p", next.rel)));
            if let Some(done) = self.backlog.pop_front() {
                self.backlog_bytes -= done.bytes.len();
            }
        }
        Ok(())
    }

    /// Bytes of full tiles and bundles queued but not yet written (see [`Self::flush`]).
    pub fn backlog_bytes(&self) -> usize {
        self.backlog_bytes
    }

    /// Write `rel` (with `repair`: only when it is missing or differs from `bytes`).
    fn put(&mut self, dir: &Path, rel: &str, bytes: &[u8], repair: bool) -> Result<(), AuditError> {
        if repair {
            match fs::read(dir.join(rel)) {
                Ok(existing) if existing == bytes => return Ok(()),
                Ok(_) => self.repaired += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(AuditError::io(&dir.join(rel), e)),
            }
        }
        write_atomic(dir, rel, bytes, false)
    }

    /// Files found damaged and rewritten by `push(.., repair = true)` and [`Self::repair_partials`].
    pub fn repaired(&self) -> u64 {
        self.repaired
    }

    /// Check the partial tiles and bundle of the current size (those the latest checkpoint may refer to) and
    /// rewrite any that is damaged; missing ones are written too.
    pub fn repair_partials(&mut self, dir: &Path) -> Result<(), AuditError> {
        let mut files = Vec::new();
        if self.bundle_entries > 0 {
            files.push((
                bundle_path(self.full_bundles, self.bundle_entries),
                self.bundle.clone(),
            ));
        }
        for (level, hashes) in self.partial.iter().enumerate() {
            if !hashes.is_empty() {
                files.push((
                    tile_path(level as u32, self.full[level], hashes.len() as u64),
                    hashes.iter().flatten().copied().collect(),
                ));
            }
        }
        for (rel, bytes) in files {
            self.put(dir, &rel, &bytes, true)?;
        }
        Ok(())
    }

    fn push_hash(
        &mut self,
        dir: &Path,
        level: usize,
        hash: Hash,
        repair: bool,
    ) -> Result<(), AuditError> {
        let mut level = level;
        let mut hash = hash;
        loop {
            if self.partial.len() <= level {
                self.partial.push(Vec::with_capacity(TILE_WIDTH as usize));
                self.full.push(0);
            }
            self.partial[level].push(hash);
            if self.partial[level].len() as u64 != TILE_WIDTH {
                return Ok(());
            }
            let rel = tile_path(level as u32, self.full[level], TILE_WIDTH);
            let bytes: Vec<u8> = self.partial[level].iter().flatten().copied().collect();
            if repair {
                self.put(dir, &rel, &bytes, true)?;
                let _ = fs::remove_dir_all(dir.join(format!("{rel}.p")));
            } else {
                self.defer(rel, bytes);
            }
            let root = perfect_root(&self.partial[level])
                .ok_or_else(|| AuditError::Proof("tile root".into()))?;
            self.partial[level].clear();
            self.full[level] += 1;
            level += 1;
            hash = root;
        }
    }

    /// Write the queued full files ([`Self::flush`]), then the partial tiles and the partial entry bundle for the
    /// current size (before publishing a checkpoint). One that already exists (a publication at this size that
    /// crashed before its checkpoint) is kept only when it holds exactly the expected bytes.
    pub fn write_partials(&mut self, dir: &Path) -> Result<(), AuditError> {
        self.flush(dir)?;
        self.repair_partials(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_encoding_matches_spec_examples() {
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(tile_path(0, 5, 256), "tile/0/005");
        assert_eq!(tile_path(1, 5, 17), "tile/1/005.p/17");
        assert_eq!(bundle_path(1234067, 3), "tile/entries/x001/x234/067.p/3");
    }

    #[test]
    fn widths_match_spec_example() {
        // A tree of size 70,000: 273 full level-0 tiles, a partial of width 112; one full level-1 tile and a
        // partial of width 17; a partial level-2 tile of width 1.
        assert_eq!(tile_width(0, 272, 70_000), 256);
        assert_eq!(tile_width(0, 273, 70_000), 112);
        assert_eq!(tile_width(0, 274, 70_000), 0);
        assert_eq!(tile_width(1, 0, 70_000), 256);
        assert_eq!(tile_width(1, 1, 70_000), 17);
        assert_eq!(tile_width(2, 0, 70_000), 1);
        assert_eq!(tile_width(3, 0, 70_000), 0);
    }

    #[test]
    fn bundle_roundtrip() {
        let entries: Vec<&[u8]> = vec![b"", b"a", b"hello"];
        let enc = encode_bundle(entries.iter().copied()).unwrap();
        assert_eq!(decode_bundle(&enc).unwrap(), entries);
        assert!(decode_bundle(&enc[..enc.len() - 1]).is_err());
    }
}
