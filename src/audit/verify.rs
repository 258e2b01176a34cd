//! Offline verification of a log directory, C2SP `tlog-proof` inclusion proofs, export and the monthly report.
//!
//! Everything here reads only the published layout (`checkpoint`, `checkpoints`, `tile/...`, and `journal` when
//! present) and needs only the log's public key.
//! Must never: trust a file it has not checked against a signed checkpoint, or write to the log directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

use super::merkle::{
    inclusion_proof, leaf_hash, perfect_root, root_from_inclusion_proof, Frontier, Hash,
};
use super::note::{Checkpoint, NoteVerifier, MAX_NOTE_BYTES};
use super::record::{leaf_seq, parse_leaf, parse_leaf_lenient, Entry, LogLeaf};
use super::tiles::{
    bundle_path, decode_bundle, decode_tile, read_covering, tile_path, tile_width, TileReader,
    TILE_WIDTH,
};
use super::writer::{ARCHIVE_FILE, CHECKPOINT_FILE, JOURNAL_FILE};
use super::AuditError;

fn corrupt(index: Option<u64>, reason: impl Into<String>) -> AuditError {
    AuditError::Corrupt {
        index,
        reason: reason.into(),
    }
}

/// Read and verify the log's latest checkpoint.
pub fn read_checkpoint(
    dir: &Path,
    verifier: &NoteVerifier,
) -> Result<(Checkpoint, String), AuditError> {
    let path = dir.join(CHECKPOINT_FILE);
    let note = fs::read_to_string(&path).map_err(|e| AuditError::io(&path, e))?;
    let cp =
        Checkpoint::open(&note, verifier).map_err(|e| corrupt(None, format!("checkpoint: {e}")))?;
    Ok((cp, note))
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
    let entries =
        decode_bundle(&bytes).map_err(|why| corrupt(Some(first), format!("{read_rel}: {why}")))?;
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

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Origin of the log.
    pub origin: String,
    /// Verified tree size (latest checkpoint).
    pub size: u64,
    /// Root hash, base64.
    pub root: String,
    /// Archived checkpoints whose signature and root were checked.
    pub archived_checkpoints: u64,
    /// Journal entries compared with the published entries (None when no journal is present).
    pub journal_entries: Option<u64>,
}

/// Options of [`verify_dir`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A checkpoint note the auditor kept from earlier: the log must still contain that tree (detects rollback
    /// and truncation of the newest entries even if the directory's own archive was truncated too).
    pub trusted_checkpoint: Option<String>,
    /// Skip reading each leaf's sequence number (hash checks only).
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

/// Verify a log directory against its public key: every checkpoint signature, every entry against its tile
/// hash, every tile against its recomputation, the root against the checkpoint, every archived checkpoint
/// against the recomputed tree at its size, the journal (if present) against the published entries, and an
/// optional trusted checkpoint. The error names the first bad index when one can be named.
pub fn verify_dir(
    dir: &Path,
    verifier: &NoteVerifier,
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let (cp, _) = read_checkpoint(dir, verifier)?;
    let size = cp.size;

    // Archived checkpoints: signatures and monotonic sizes.
    let mut archived: Vec<Checkpoint> = Vec::new();
    let archive_path = dir.join(ARCHIVE_FILE);
    if let Ok(bytes) = fs::read(&archive_path) {
        let notes = parse_archive(&bytes)
            .map_err(|why| corrupt(None, format!("checkpoint archive: {why}")))?;
        for (k, note) in notes.iter().enumerate() {
            let c = Checkpoint::open(note, verifier)
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
            let t = Checkpoint::open(note, verifier)
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
    for_each_leaf(dir, size, |i, data| {
        if i % TILE_WIDTH == 0 {
            let b = i / TILE_WIDTH;
            let width = tile_width(0, b, size);
            level0 = read_tile_hashes(dir, 0, b, width)?;
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
                    return Err(corrupt(
                        Some(i),
                        "entry differs from the writer's journal (entry and tile altered together)",
                    ))
                }
                None => {
                    return Err(corrupt(
                        Some(i),
                        format!("journal ends after {i} entries but the checkpoint covers {size}"),
                    ))
                }
            }
        }
        if !options.skip_record_checks {
            let seq = if options.strict_records {
                parse_leaf(data)
                    .map_err(|e| corrupt(Some(i), e.to_string()))?
                    .seq
            } else {
                leaf_seq(data).map_err(|e| corrupt(Some(i), e.to_string()))?
            };
            if seq != i {
                return Err(corrupt(
                    Some(i),
                    format!("entry carries sequence {seq} (entries reordered or moved)"),
                ));
            }
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

    let journal_entries = journal.as_ref().map(|j| j.count);
    Ok(VerifyReport {
        origin: cp.origin,
        size,
        root: B64.encode(cp.root),
        archived_checkpoints: archived.len() as u64,
        journal_entries,
    })
}

/// Streams the journal's complete frames (a torn tail ends the stream, as the writer would
/// truncate it).
struct JournalHashes {
    r: std::io::BufReader<fs::File>,
    count: u64,
}

impl JournalHashes {
    fn open(f: fs::File) -> Result<Self, AuditError> {
        let mut r = std::io::BufReader::with_capacity(1 << 20, f);
        let mut magic = [0u8; 10];
        r.read_exact(&mut magic)
            .map_err(|_| corrupt(None, "journal header is truncated"))?;
        let olen = usize::from(u16::from_be_bytes([magic[8], magic[9]]));
        let mut origin = vec![0u8; olen];
        r.read_exact(&mut origin)
            .map_err(|_| corrupt(None, "journal header is truncated"))?;
        Ok(Self { r, count: 0 })
    }

    /// Whether the next complete frame holds exactly `entry` (`None` at the end of the journal).
    fn next_equals(&mut self, entry: &[u8], buf: &mut Vec<u8>) -> Option<bool> {
        let mut hdr = [0u8; 16];
        self.r.read_exact(&mut hdr).ok()?;
        let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        if len > 1 << 16 {
            return None;
        }
        buf.resize(len, 0);
        self.r.read_exact(buf).ok()?;
        self.count += 1;
        Some(buf.as_slice() == entry)
    }
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

    /// Verify offline: the checkpoint signature, then that `leaf` (the one given, else the one carried in `extra`)
    /// is at `index` in the checkpointed tree. Returns the checkpoint.
    pub fn verify(
        &self,
        verifier: &NoteVerifier,
        leaf: Option<&[u8]>,
    ) -> Result<Checkpoint, AuditError> {
        let cp = Checkpoint::open(&self.checkpoint, verifier)?;
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

/// Build an inclusion proof for `index` against the log's latest checkpoint (read from the tiles).
pub fn prove_index(
    dir: &Path,
    verifier: &NoteVerifier,
    index: u64,
) -> Result<TlogProof, AuditError> {
    let (cp, note) = read_checkpoint(dir, verifier)?;
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

/// Find the index of the request record with this request id (linear scan of the checkpointed entries).
pub fn find_request(
    dir: &Path,
    verifier: &NoteVerifier,
    request_id: &str,
) -> Result<Option<u64>, AuditError> {
    let (cp, _) = read_checkpoint(dir, verifier)?;
    let mut found = None;
    for_each_leaf(dir, cp.size, |i, data| {
        if let Ok(leaf) = serde_json::from_slice::<LogLeaf>(data) {
            if leaf
                .entry
                .as_request()
                .is_some_and(|r| r.request_id == request_id)
            {
                found = Some(i);
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    Ok(found)
}

/// Visit the checkpointed leaves whose time is in `[from, to)` (leaves are parsed leniently: run `verify_dir`
/// for integrity) (RFC 3339 strings compare in time order because the
/// writer always emits `YYYY-MM-DDTHH:MM:SS.mmmZ`).
pub fn for_each_record(
    dir: &Path,
    verifier: &NoteVerifier,
    from: &str,
    to: &str,
    mut f: impl FnMut(u64, &[u8], &LogLeaf) -> Result<(), AuditError>,
) -> Result<Checkpoint, AuditError> {
    let (cp, _) = read_checkpoint(dir, verifier)?;
    for_each_leaf(dir, cp.size, |i, data| {
        let leaf = parse_leaf_lenient(data).map_err(|e| corrupt(Some(i), e.to_string()))?;
        if leaf.time.as_str() >= from && leaf.time.as_str() < to {
            f(i, data, &leaf)?;
        }
        Ok(true)
    })?;
    Ok(cp)
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
policy_hash,classification,findings,actions,destination,jurisdiction,region,upstream_host,transfer_basis,outcome,\
status,latency_ms,input_tokens,output_tokens,subject,new_hash,leaf_hash";

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
            cols.extend(std::iter::repeat_n(String::new(), 21));
            cols.push(c.subject.clone());
            cols.push(c.new_hash.clone());
        }
    }
    cols.push(lh);
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
    /// Request records in the month.
    pub requests: u64,
    /// Requests by destination jurisdiction (`-` when not routed).
    pub by_jurisdiction: BTreeMap<String, u64>,
    /// Requests by outcome.
    pub by_outcome: BTreeMap<String, u64>,
    /// Requests forwarded outside the home jurisdiction.
    pub forwarded_abroad: u64,
    /// Entity findings in requests forwarded abroad (entity → count), i.e. data classes that left the country
    /// (possibly masked or pseudonymised; see `actions_abroad`).
    pub entities_abroad: BTreeMap<String, u64>,
    /// Actions applied to requests forwarded abroad.
    pub actions_abroad: BTreeMap<String, u64>,
    /// Blocked requests.
    pub blocked: u64,
    /// Policy changes (time, subject, new hash).
    pub policy_changes: Vec<(String, String, String)>,
    /// Configuration changes (time, subject, new hash).
    pub config_changes: Vec<(String, String, String)>,
}

/// Compute the monthly report for `month` (`YYYY-MM`) from the checkpointed entries.
pub fn monthly_report(
    dir: &Path,
    verifier: &NoteVerifier,
    month: &str,
    home: &str,
) -> Result<MonthlyReport, AuditError> {
    let parsed = time::Date::parse(
        &format!("{month}-01"),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| AuditError::Config(format!("month {month:?} is not YYYY-MM")))?;
    let next = if parsed.month() == time::Month::December {
        format!("{:04}-01", parsed.year() + 1)
    } else {
        format!("{:04}-{:02}", parsed.year(), u8::from(parsed.month()) + 1)
    };
    let mut rep = MonthlyReport {
        month: month.to_owned(),
        home_jurisdiction: home.to_owned(),
        ..Default::default()
    };
    let cp = for_each_record(dir, verifier, month, &next, |_, _, leaf| {
        match &leaf.entry {
            Entry::Request(r) => {
                rep.requests += 1;
                let j = r
                    .destination
                    .as_ref()
                    .map_or("-".to_owned(), |d| d.jurisdiction.clone());
                *rep.by_jurisdiction.entry(j.clone()).or_default() += 1;
                *rep.by_outcome.entry(r.outcome.clone()).or_default() += 1;
                if r.outcome == "blocked" {
                    rep.blocked += 1;
                }
                if r.destination.is_some() && j != home && r.outcome != "blocked" {
                    rep.forwarded_abroad += 1;
                    for (e, c) in &r.findings {
                        *rep.entities_abroad.entry(e.clone()).or_default() += c;
                    }
                    for (a, c) in &r.actions {
                        *rep.actions_abroad.entry(a.clone()).or_default() += c;
                    }
                }
            }
            Entry::PolicyChange(c) => {
                rep.policy_changes
                    .push((leaf.time.clone(), c.subject.clone(), c.new_hash.clone()))
            }
            Entry::ConfigChange(c) => {
                rep.config_changes
                    .push((leaf.time.clone(), c.subject.clone(), c.new_hash.clone()))
            }
        }
        Ok(())
    })?;
    rep.origin = cp.origin;
    rep.checkpoint_size = cp.size;
    Ok(rep)
}

impl MonthlyReport {
    /// Human-readable text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "Residency log monthly review {} — {} (checkpoint size {})\n\nRequests: {}\nBlocked: {}\nForwarded outside {}: {}\n",
            self.month, self.origin, self.checkpoint_size, self.requests, self.blocked, self.home_jurisdiction, self.forwarded_abroad
        );
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
