//! [`AuditLog`]: the residency log writer.
//!
//! Awaited appends go over a bounded channel to one dedicated std thread (no async runtime needed; a second thread
//! only wakes waiting callers); detached appends wait in a side queue that does not wake the writer — they go out
//! with the next commit, or `detached_batch_delay` after the first of them, and only an idle (parked) writer is
//! woken for them. The writer takes every
//! queued append (up to `max_batch`), stamps sequence number and time, encodes canonical leaves, writes them to the
//! journal in one `write` and makes them durable with one `fdatasync` (group commit), then acknowledges each append
//! with a [`Receipt`]. Committed leaves then go to a third thread that writes full tiles and entry bundles as they
//! fill (derived data: the journal is the source of truth and they are rebuilt from it on open), so the commit path
//! only encodes, hashes, writes the journal and syncs; small commits are handed over a tile's width at a time (and
//! before every publication), so the tile thread is not woken for each one. Partial tiles and a signed checkpoint
//! are published at most `checkpoint_interval` after the first unpublished entry; publication waits until the tile
//! thread has written every tile of the size being signed.
//!
//! On disk (the open shard's directory: `DIR` itself for shard 0, `DIR/shards/<k>` after rotations, see
//! [`super::shard`]): `journal` (framed leaves; the durable source of truth), `checkpoint` (latest signed
//! checkpoint), `checkpoints` (every published checkpoint, length-prefixed), `tile/...` (C2SP tlog-tiles); `DIR/lock`
//! (an exclusive `flock` held while the log is open, so two writers — two gateway processes pointed at one
//! directory — can never interleave; the second gets [`AuditError::Locked`] naming the directory).
//! Every journal frame carries a MAC keyed from the signing key (`FrameMac`), computed on the commit path (one
//! HMAC per leaf). On open, interrupted seals are completed and the open shard's journal is replayed: a torn final
//! frame is truncated; a frame whose MAC fails (not written by this log's writer) or any other bad frame is an
//! error naming the shard and frame, and the log does not open; entries beyond the published checkpoint whose MACs
//! verify (committed before a crash) are adopted and counted ([`Recovery::unpublished`]); a journal in the old
//! unkeyed format is converted only if the checkpoint covers all of it; a missing journal under a published
//! checkpoint is refused; the replayed tree must match the published checkpoint; missing or damaged tiles are
//! rewritten. After every commit the journal must still be the file at its path (link count, inode): a deleted or
//! moved audit directory fails the log closed like a write error. Rotation (`rotate_max_bytes`, `rotate_max_age`)
//! publishes the final checkpoint, starts the next shard with its chain record (which names the old shard's final
//! checkpoint and newest leaf time), and seals the old shard on a separate thread.
//!
//! A failure to write derived data (tiles, bundles, a checkpoint, a seal) is not fatal: the builder keeps the files
//! queued and the writer publishes again at the next checkpoint time (`Health::degraded` meanwhile); a journal write
//! failure is (see ARCHITECTURE.md, "Failure"). Entering the failed state is logged once at ERROR.
//!
//! Must never: acknowledge an append before it is durable, keep accepting appends after a journal write failed (fail
//! closed), publish a checkpoint before every tile it covers is written, write to a shard once the next one exists, delete anything but a sealed shard's own (fsynced-over)
//! journal, or log record content.

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{BufReader, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::oneshot;

use super::merkle::{leaf_hash, Frontier, Hash};
use super::note::{Checkpoint, NoteSigner, NoteVerifier};
use super::record::{
    leaf_seq_time, parse_leaf_lenient, Entry, PreparedEntry, ResidencyRecord, ShardLink,
    SCHEMA_VERSION,
};
use super::shard::{create_shard_dir, list_shards, read_seal, shard_dir, shard_origin};
use super::tiles::{write_atomic, TileBuilder, MAX_ENTRY_BYTES};
use super::AuditError;

/// Journal file name inside the log directory.
pub const JOURNAL_FILE: &str = "journal";
/// Latest checkpoint file name (C2SP tlog-tiles).
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// Checkpoint archive file name.
pub const ARCHIVE_FILE: &str = "checkpoints";
/// Writer lock file name: an exclusive lock (`flock` on Unix) on it is held for as long as an [`AuditLog`] is open.
pub const LOCK_FILE: &str = "lock";
/// Journal format 2: frames carry a keyed MAC.
const MAGIC: &[u8; 8] = b"HAETAEJ2";
/// Journal format 1 (before frame MACs): frames carried the first 8 bytes of the leaf hash, an unkeyed checksum.
/// Read only to convert it (see `replay`).
const MAGIC_V1: &[u8; 8] = b"HAETAEJ1";
/// Frame header: `u32 len ‖ u32 !len ‖ 16-byte frame MAC` (big-endian), see [`FrameMac`].
const FRAME_HEADER: usize = 8 + MAC_LEN;
/// Format 1 frame header: `u32 len ‖ u32 !len ‖ first 8 bytes of the leaf hash`.
const FRAME_HEADER_V1: usize = 16;
/// Bytes of HMAC-SHA256 kept in a frame header (truncated to the left half, as RFC 2104 allows).
const MAC_LEN: usize = 16;
/// Domain separation of the journal MAC key (followed by the shard's origin).
const MAC_KEY_LABEL: &[u8] = b"haetae/audit/journal-frame-mac/v1\n";

/// The keyed authenticator of one shard's journal frames: `HMAC-SHA256(K, u64 index ‖ leaf)` truncated to 16
/// bytes, with `K = HMAC-SHA256(Ed25519 seed of the signing key, MAC_KEY_LABEL ‖ shard origin)`. Binding the index
/// and the shard keeps a frame from being moved; only the holder of the signing key can make a frame that replay
/// adopts. (Offline verification cannot check it — it has the public key only — and does not need to: it checks
/// what was published and signed.)
#[derive(Clone)]
pub(crate) struct FrameMac {
    keyed: Hmac<Sha256>,
    shard: u64,
}

impl FrameMac {
    pub(crate) fn new(signer: &NoteSigner, origin: &str, shard: u64) -> Result<Self, AuditError> {
        let key = signer.derive_key(&[MAC_KEY_LABEL, origin.as_bytes()].concat())?;
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .map_err(|_| AuditError::Key("cannot key the journal MAC".into()))?;
        Ok(Self { keyed, shard })
    }

    fn start(&self, index: u64, leaf: &[u8]) -> Hmac<Sha256> {
        let mut m = self.keyed.clone();
        m.update(&index.to_be_bytes());
        m.update(leaf);
        m
    }

    fn tag(&self, index: u64, leaf: &[u8]) -> [u8; MAC_LEN] {
        let full = self.start(index, leaf).finalize().into_bytes();
        let mut tag = [0u8; MAC_LEN];
        tag.copy_from_slice(&full[..MAC_LEN]);
        tag
    }

    /// Constant-time check of a frame's tag.
    fn verify(&self, index: u64, leaf: &[u8], tag: &[u8]) -> bool {
        self.start(index, leaf).verify_truncated_left(tag).is_ok()
    }
}

/// When the proxy waits for the residency record to be durable. The log itself always acknowledges only after
/// `fdatasync`; this setting tells the proxy *when to await* the [`Pending`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Await the receipt before any byte leaves for the destination. If the log cannot write, the request is
    /// refused (fail closed). Costs one group-commit latency (typically one fdatasync) per request; the record
    /// then describes the decision and destination, and a second record (or none) carries the outcome.
    #[default]
    BeforeForward,
    /// Append (detached: nobody awaits the receipt) when the response has finished. No latency before the upstream
    /// call, but a crash between forwarding and the append, or a write failure after the response, loses the record
    /// of a transfer that happened; a log that has already failed still refuses the next request before forwarding.
    AfterResponse,
}

/// Proof that an append is durable: what a client can keep (e.g. from response headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Origin of the shard that holds the leaf (checkpoint origin line: the log name for shard 0,
    /// `<name>/shards/<k>` after rotations); shared, cloning is cheap.
    pub origin: Arc<str>,
    /// Leaf index within that shard.
    pub index: u64,
    /// RFC 6962 leaf hash of the canonical leaf.
    pub leaf_hash: Hash,
}

impl Receipt {
    /// Leaf hash in base64 (as in checkpoints and proofs).
    pub fn leaf_hash_base64(&self) -> String {
        B64.encode(self.leaf_hash)
    }

    /// Compact single-line form for a response header: `<origin> <index> <base64 leaf hash>`.
    pub fn header_value(&self) -> String {
        format!("{} {} {}", self.origin, self.index, self.leaf_hash_base64())
    }
}

/// Options of [`AuditLog::open`].
#[derive(Debug)]
pub struct AuditOptions {
    /// Signing key; its name is the log origin (e.g. `haetae.example.kr/gw-1`).
    pub signer: NoteSigner,
    /// Gateway instance id written into every leaf.
    pub instance: String,
    /// Publish a checkpoint at most this long after the first unpublished entry.
    pub checkpoint_interval: Duration,
    /// Largest number of appends committed by one fdatasync.
    pub max_batch: usize,
    /// How long the writer waits for more appends after the first one of a batch (0: commit whatever is queued).
    pub max_batch_delay: Duration,
    /// How long detached appends ([`AuditLog::append_detached`]: nobody waits for them) may wait for company before
    /// they are committed on their own; an awaited append's commit takes them along at once. Never shorter than
    /// `max_batch_delay`. They wait without waking the writer thread unless it is idle.
    pub detached_batch_delay: Duration,
    /// Capacity of the append queue; `append` blocks briefly when it is full.
    pub queue_capacity: usize,
    /// Journal size limit in bytes of the open shard: reaching it fails the log (fail closed) instead of filling
    /// the disk.
    pub max_journal_bytes: Option<u64>,
    /// Rotate: seal the open shard and start the next once its journal holds at least this many bytes (checked
    /// before each batch, so a shard can exceed it by one batch).
    pub rotate_max_bytes: Option<u64>,
    /// Rotate: seal the open shard and start the next once its first leaf is this old (checked before each batch,
    /// and by a timer while idle; a shard holding nothing but its chain record is not rotated).
    pub rotate_max_age: Option<Duration>,
    /// The clock that stamps each batch's records (`time::OffsetDateTime::now_utc` by default). Only for tests
    /// that need a clock which steps back; not part of the stable API.
    #[doc(hidden)]
    pub clock: fn() -> time::OffsetDateTime,
}

impl AuditOptions {
    /// Defaults: checkpoint every second, batches up to 8192, no linger, queue of 65,536, no size limit, no
    /// rotation.
    pub fn new(signer: NoteSigner, instance: impl Into<String>) -> Self {
        Self {
            signer,
            instance: instance.into(),
            checkpoint_interval: Duration::from_secs(1),
            max_batch: 8192,
            max_batch_delay: Duration::ZERO,
            detached_batch_delay: Duration::from_millis(10),
            queue_capacity: 65_536,
            max_journal_bytes: None,
            rotate_max_bytes: None,
            rotate_max_age: None,
            clock: time::OffsetDateTime::now_utc,
        }
    }
}

/// Health of the log, for `/readyz` and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// `Some(reason)` once the log failed; appends are refused from then on.
    pub failure: Option<String>,
    /// Durable entries.
    pub size: u64,
    /// Size of the latest published checkpoint.
    pub checkpoint_size: u64,
    /// The open shard (0 until the first rotation); `size` and `checkpoint_size` are of this shard.
    pub shard: u64,
    /// `Some(reason)` while derived data is behind: writing tiles or a checkpoint, or a postponed rotation, failed
    /// for a reason that may pass (e.g. no file descriptor left). Appends are still accepted (the journal, the
    /// source of truth, is written and synced as always) and the writer retries; cleared once a checkpoint is
    /// published again.
    pub degraded: Option<String>,
}

impl Health {
    /// Whether the log accepts appends.
    pub fn is_ready(&self) -> bool {
        self.failure.is_none()
    }
}

/// Group-commit statistics (cumulative since open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditStats {
    /// Batches committed (= fdatasync calls on the journal).
    pub batches: u64,
    /// Entries committed.
    pub entries: u64,
    /// Largest batch.
    pub max_batch: usize,
    /// Total time spent in fdatasync.
    pub fsync_total: Duration,
    /// Longest fdatasync.
    pub fsync_max: Duration,
    /// Checkpoints published.
    pub checkpoints: u64,
    /// Shards sealed and started (rotations) since open.
    pub rotations: u64,
    /// Longest rotation (final checkpoint, fsync of the sealed shard, seal, next shard's chain record and first
    /// checkpoint): appends wait this long once per shard.
    pub rotation_max: Duration,
    /// Time the writer thread spent committing batches (encoding, journal write, fdatasync, handing leaves to the
    /// tile thread): `entries / busy` is
    /// the writer's capacity, independent of how fast callers produce records.
    pub busy: Duration,
}

#[derive(Debug, Default)]
struct SharedState {
    health: Health,
    stats: AuditStats,
    /// Set by the tile thread when a checkpoint it was handed could not be written; the writer takes it and signs
    /// and publishes a fresh one at its next checkpoint time.
    publish_failed: bool,
}

/// Tile and bundle bytes that may wait in memory for a failed write to succeed: past this the log fails closed
/// (the writer cannot keep deriving tiles without writing them).
const MAX_TILE_BACKLOG: usize = 64 << 20;

/// How long a failing seal of a rotated-away shard is retried (with back-off) before the log fails closed.
const SEAL_RETRY_FOR: Duration = Duration::from_secs(300);

/// Put the log in the failed state (the first reason wins) and say so once at ERROR level. Reasons name files and
/// I/O errors, never record content.
fn set_failed(shared: &Mutex<SharedState>, reason: String) {
    let first = {
        let mut s = lock(shared);
        if s.health.failure.is_none() {
            s.health.failure = Some(reason.clone());
            true
        } else {
            false
        }
    };
    if first {
        tracing::error!(
            target: "haetae::audit",
            reason = %reason,
            "the residency log has failed: every append is refused until the gateway is restarted"
        );
    }
}

/// Mark derived data as behind (tiles, checkpoint, a rotation to retry); logged at WARN when it starts.
fn set_degraded(shared: &Mutex<SharedState>, reason: String) {
    let first = {
        let mut s = lock(shared);
        let first = s.health.degraded.is_none();
        s.health.degraded = Some(reason.clone());
        first
    };
    if first {
        tracing::warn!(
            target: "haetae::audit",
            reason = %reason,
            "residency log: derived data (tiles, checkpoint) could not be written; records are still journaled \
             durably, retrying"
        );
    }
}

/// A checkpoint was published: derived data has caught up (logged at INFO if it was behind).
fn clear_degraded(shared: &Mutex<SharedState>) {
    let was = lock(shared).health.degraded.take();
    if was.is_some() {
        tracing::info!(
            target: "haetae::audit",
            "residency log: tiles and checkpoint are written again (recovered)"
        );
    }
}

/// Why a rotation did not happen: `Retry` left the open shard as it was (rotation is attempted again later);
/// `Fatal` happened past the point where the next shard exists, so the log fails closed.
enum RotateError {
    Retry(AuditError),
    Fatal(AuditError),
}

/// Batches with at most this many awaited receipts are acknowledged by the writer thread itself.
const DIRECT_ACKS: usize = 4;

/// Where a committed entry's receipt goes; `None` for detached appends (nobody waits, nothing to wake).
struct ReceiptTx(Option<oneshot::Sender<Result<Receipt, AuditError>>>);

impl ReceiptTx {
    fn send(self, result: Result<Receipt, AuditError>) {
        if let Some(tx) = self.0 {
            let _ = tx.send(result);
        }
    }
    fn is_waited_for(&self) -> bool {
        self.0.is_some()
    }
}

enum Msg {
    Append(PreparedEntry, ReceiptTx),
    Checkpoint(oneshot::Sender<Result<Checkpoint, AuditError>>),
    /// Detached appends are waiting in the side queue and the writer was parked (or the queue grew large).
    Wake,
}

/// Detached appends wait here instead of in the channel, so they do not wake the writer thread: they go out with
/// the next commit (an awaited append wakes it anyway) or, at the latest, `detached_batch_delay` after the first
/// of them arrived. Only when the writer is parked — idle, with no timer of its own due within that delay — does
/// an append wake it.
#[derive(Default)]
struct SideQueue {
    entries: Vec<PreparedEntry>,
    /// When the oldest entry in `entries` arrived.
    first_at: Option<Instant>,
    /// The writer is about to wait (or waits) without a deadline: the next append must wake it.
    parked: bool,
    /// The log is closing: appends are refused.
    closed: bool,
}

impl std::fmt::Debug for SideQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SideQueue")
            .field("entries", &self.entries.len())
            .field("parked", &self.parked)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

fn lock_side(m: &Mutex<SideQueue>) -> std::sync::MutexGuard<'_, SideQueue> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An append in flight: await it (it is a `Future`) or call [`Pending::wait_blocking`] from a plain thread.
#[derive(Debug)]
pub struct Pending {
    inner: PendingInner,
}

#[derive(Debug)]
enum PendingInner {
    Waiting(oneshot::Receiver<Result<Receipt, AuditError>>),
    Done(Option<AuditError>),
}

impl Pending {
    fn failed(e: AuditError) -> Self {
        Self {
            inner: PendingInner::Done(Some(e)),
        }
    }

    /// Block the current thread until the append is durable. Do not call from inside an async runtime.
    pub fn wait_blocking(self) -> Result<Receipt, AuditError> {
        match self.inner {
            PendingInner::Waiting(rx) => rx.blocking_recv().unwrap_or(Err(AuditError::Closed)),
            PendingInner::Done(e) => Err(e.unwrap_or(AuditError::Closed)),
        }
    }
}

impl Future for Pending {
    type Output = Result<Receipt, AuditError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            PendingInner::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(AuditError::Closed))),
            PendingInner::Done(e) => Poll::Ready(Err(e.take().unwrap_or(AuditError::Closed))),
        }
    }
}

/// The residency log writer. Cheap to share (`Arc<AuditLog>`); dropping it publishes a final checkpoint and
/// stops the writer thread.
#[derive(Debug)]
pub struct AuditLog {
    tx: Option<SyncSender<Msg>>,
    side: Arc<Mutex<SideQueue>>,
    /// Side-queue length at which an append falls back to the bounded channel (back-pressure).
    side_limit: usize,
    shared: Arc<Mutex<SharedState>>,
    thread: Option<JoinHandle<()>>,
    acker: Option<JoinHandle<()>>,
    recovery: Recovery,
    origin: String,
    dir: PathBuf,
    verifier: NoteVerifier,
    /// The directory's writer lock; released (closed) only after the writer thread has stopped.
    _lock: File,
}

/// What opening found (for logs/metrics at startup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Entries replayed from the journal.
    pub entries: u64,
    /// Bytes of a torn final frame that were truncated.
    pub truncated_bytes: u64,
    /// Tile and bundle files of the open shard found damaged (present but not the bytes the journal implies, e.g.
    /// empty because they were not yet written back when the power failed) and rewritten from the journal. Missing
    /// ones are rewritten too but not counted.
    pub repaired_files: u64,
    /// The shard that was opened (0 until the log first rotated).
    pub shard: u64,
    /// Entries adopted from the journal beyond the last published checkpoint: committed (and acknowledged) but not
    /// yet published when the writer stopped, e.g. at a crash. Adopted only because every frame's MAC verified;
    /// the gateway logs the count as a warning.
    pub unpublished: u64,
    /// The journal was in the old format (`HAETAEJ1`, no frame MACs), every entry in it was covered by the
    /// published checkpoint, and it was converted to the current format.
    pub converted_journal: bool,
}

impl AuditLog {
    /// Open (or create) the log in `dir`, replay and check the journal, and start the writer thread.
    pub fn open(dir: impl AsRef<Path>, options: AuditOptions) -> Result<AuditLog, AuditError> {
        let dir = dir.as_ref().to_path_buf();
        if options.max_batch == 0 || options.queue_capacity == 0 {
            return Err(AuditError::Config(
                "max_batch and queue_capacity must be positive".into(),
            ));
        }
        if options.rotate_max_bytes == Some(0) || options.rotate_max_age == Some(Duration::ZERO) {
            return Err(AuditError::Config(
                "rotation limits must be positive (use None to disable)".into(),
            ));
        }
        fs::create_dir_all(&dir).map_err(|e| AuditError::io(&dir, e))?;
        let dir_lock = lock_dir(&dir)?;
        let origin = options.signer.name().to_owned();
        let verifier = options.signer.verifier();

        // The open shard is the newest one; if it is already sealed, a rotation was interrupted between sealing
        // and the next shard's chain record: complete it by starting the next shard.
        let shards = list_shards(&dir)?;
        let mut shard = shards.last().copied().unwrap_or(0);
        // Shards rotated away from are sealed off the commit path; finish any seal a crash interrupted.
        for &older in shards.iter().filter(|&&k| k < shard) {
            if !super::shard::is_sealed(&shard_dir(&dir, older)) {
                complete_seal(&dir, older, &origin, &options.signer)
                    .map_err(|e| e.in_shard(older))?;
            }
        }
        let newest_seal = read_seal(
            &shard_dir(&dir, shard),
            &verifier,
            &shard_origin(&origin, shard),
        )
        .map_err(|e| e.in_shard(shard))?;
        // The sealed predecessor of the open shard, and (only when the chain record must be written now) its newest
        // record time: reading that means verifying the whole sealed shard, which open does only in these crash
        // states, never on an ordinary start.
        let previous_seal = if let Some((seal, _)) = newest_seal {
            // Read before the next shard exists (an error here leaves the log as it was).
            let newest = newest_record_time(&dir, shard, &seal, &verifier)?;
            shard += 1;
            create_shard_dir(&dir, shard)?;
            Some((seal, Some(newest)))
        } else if shard > 0 {
            let prev = shard - 1;
            let (seal, _) = read_seal(
                &shard_dir(&dir, prev),
                &verifier,
                &shard_origin(&origin, prev),
            )
            .map_err(|e| e.in_shard(prev))?
            .ok_or_else(|| {
                AuditError::Corrupt {
                    index: None,
                    reason: format!("shard {prev} is not sealed, but shard {shard} exists"),
                }
                .in_shard(prev)
            })?;
            // Its newest record time is read below only if this shard's chain record is still to be written.
            Some((seal, None))
        } else {
            None
        };
        let previous_newest = previous_seal
            .as_ref()
            .map(|(c, newest)| (c.clone(), newest.clone()));
        let link = previous_seal.map(|(c, _)| ShardLink {
            shard,
            previous_origin: c.origin,
            previous_size: c.size,
            previous_root: B64.encode(c.root),
            // Compared with an existing chain record without the times (the record is signed into this shard and
            // names the sealed checkpoint; `verify` checks its times against the data).
            previous_newest_time: None,
            previous_max_time: None,
        });
        let shard_path = shard_dir(&dir, shard);
        let shard_name = shard_origin(&origin, shard);
        let in_shard = |e: AuditError| if shard > 0 { e.in_shard(shard) } else { e };

        let published = read_checkpoint(&shard_path, &verifier, &shard_name).map_err(in_shard)?;
        repair_archive(&shard_path)?;
        let mac = FrameMac::new(&options.signer, &shard_name, shard)?;
        let (journal, mut state, mut recovery) = replay(
            &shard_path,
            &shard_name,
            published.as_ref().map(|p| &p.0),
            &mac,
        )
        .map_err(in_shard)?;
        recovery.shard = shard;
        let first = state
            .first_leaf
            .as_deref()
            .map(parse_leaf_lenient)
            .transpose()
            .map_err(|e| {
                in_shard(AuditError::Corrupt {
                    index: Some(0),
                    reason: e.to_string(),
                })
            })?;
        if let (Some(want), Some(first)) = (&link, &first) {
            if !matches!(&first.entry, Entry::ShardStart(got) if got.names(want)) {
                return Err(in_shard(AuditError::Corrupt {
                    index: Some(0),
                    reason: "the first leaf is not the chain record naming the previous shard's sealed checkpoint"
                        .into(),
                }));
            }
        }
        let shard_started = first.as_ref().and_then(|l| {
            time::PrimitiveDateTime::parse(&l.time, TIME_FORMAT)
                .ok()
                .map(time::PrimitiveDateTime::assume_utc)
        });

        let shared = Arc::new(Mutex::new(SharedState::default()));
        // Waking each waiting caller costs a syscall; a second thread does it so the writer can keep committing.
        let (ack_tx, ack_rx) = mpsc::channel::<Vec<(ReceiptTx, Receipt)>>();
        let mut writer = Writer {
            root: dir.clone(),
            name: origin.clone(),
            shard,
            dir: shard_path.clone(),
            journal_len: journal
                .metadata()
                .map_err(|e| AuditError::io(&shard_path, e))?
                .len(),
            journal_id: file_id(&journal).map_err(|e| AuditError::io(&shard_path, e))?,
            journal,
            mac,
            newest_time: state.max_time.take(),
            clock: options.clock,
            frontier: std::mem::take(&mut state.frontier),
            tiles: Tiler::start(
                shard_path.clone(),
                std::mem::take(&mut state.tiles),
                Arc::clone(&shared),
            )?,
            signer: options.signer,
            origin: Arc::from(shard_name.as_str()),
            instance: options.instance,
            published: published.as_ref().map(|c| c.0.size),
            last_note: published.as_ref().map(|c| c.1.clone()),
            publish_in_flight: false,
            shard_started,
            sealers: Vec::new(),
            closing: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            rotation_retry_at: None,
            opts: Limits {
                checkpoint_interval: options.checkpoint_interval,
                max_batch: options.max_batch,
                max_batch_delay: options.max_batch_delay,
                detached_batch_delay: options.detached_batch_delay.max(options.max_batch_delay),
                max_journal_bytes: options.max_journal_bytes,
                rotate_max_bytes: options.rotate_max_bytes,
                rotate_max_age: options.rotate_max_age,
            },
            shared: Arc::clone(&shared),
            acks: ack_tx,
        };
        {
            let mut s = lock(&shared);
            s.health.size = writer.frontier.size();
            s.health.checkpoint_size = published.as_ref().map_or(0, |c| c.0.size);
            s.health.shard = shard;
        }
        if let (Some(mut link), Some((sealed, newest))) = (
            link.filter(|_| writer.frontier.size() == 0),
            previous_newest,
        ) {
            let prev = shard - 1;
            link.previous_max_time = match newest {
                Some(t) => t,
                None if sealed.size > 0 && super::shard::is_pruned(&shard_dir(&dir, prev)) => {
                    return Err(in_shard(AuditError::Corrupt {
                        index: Some(0),
                        reason: format!(
                            "cannot write the chain record: the newest record of shard {prev} is not readable (pruned)"
                        ),
                    }));
                }
                None => newest_record_time(&dir, prev, &sealed, &verifier)?,
            };
            // A new shard (or one whose creation was interrupted): its first leaf chains it to the sealed one.
            writer
                .append_internal(&Entry::ShardStart(link))
                .map_err(in_shard)?;
        }
        if writer.published != Some(writer.frontier.size()) {
            writer.publish()?;
        }
        let acker = std::thread::Builder::new()
            .name("haetae-audit-ack".into())
            .spawn(move || {
                for batch in ack_rx {
                    for (tx, receipt) in batch {
                        tx.send(Ok(receipt));
                    }
                }
            })
            .map_err(|e| AuditError::io(&dir, e))?;
        let (tx, rx) = mpsc::sync_channel(options.queue_capacity);
        let side = Arc::new(Mutex::new(SideQueue::default()));
        let writer_side = Arc::clone(&side);
        let thread = std::thread::Builder::new()
            .name("haetae-audit".into())
            .spawn(move || writer.run(rx, &writer_side))
            .map_err(|e| AuditError::io(&dir, e))?;
        Ok(AuditLog {
            tx: Some(tx),
            side,
            side_limit: options.queue_capacity.min(options.max_batch),
            shared,
            thread: Some(thread),
            acker: Some(acker),
            recovery,
            origin,
            dir,
            verifier,
            _lock: dir_lock,
        })
    }

    /// Append an entry. The returned [`Pending`] resolves once the entry is durable (or the log failed).
    ///
    /// The writer stamps `seq` (= leaf index), `time` and `instance`. Dropping the `Pending` does not cancel the
    /// append. When `queue_capacity` appends are already queued this call blocks until the writer catches up
    /// (back-pressure; at the measured commit rates this is sub-millisecond).
    pub fn append(&self, entry: Entry) -> Pending {
        if let Some(reason) = lock(&self.shared).health.failure.clone() {
            return Pending::failed(AuditError::Failed(reason));
        }
        let Some(tx) = &self.tx else {
            return Pending::failed(AuditError::Closed);
        };
        if matches!(entry, Entry::ShardStart(_)) {
            return Pending::failed(AuditError::Record(
                "shard_start chain records are written by the log itself".into(),
            ));
        }
        // Serialize on the caller's thread; the writer only splices in the envelope.
        let prepared = match PreparedEntry::new(&entry) {
            Ok(p) => p,
            Err(e) => return Pending::failed(e),
        };
        let (otx, orx) = oneshot::channel();
        match tx.send(Msg::Append(prepared, ReceiptTx(Some(otx)))) {
            Ok(()) => Pending {
                inner: PendingInner::Waiting(orx),
            },
            Err(_) => Pending::failed(AuditError::Closed),
        }
    }

    /// Append an entry without waiting for it: nothing is woken when it becomes durable (cheaper than dropping
    /// a [`Pending`], which still costs a wake-up of the acknowledging thread). The only error returned is one
    /// known now (log failed or closed, entry not encodable); a later write failure fails the whole log
    /// ([`AuditLog::health`]), as for every append.
    pub fn append_detached(&self, entry: Entry) -> Result<(), AuditError> {
        if let Some(reason) = lock(&self.shared).health.failure.clone() {
            return Err(AuditError::Failed(reason));
        }
        let tx = self.tx.as_ref().ok_or(AuditError::Closed)?;
        let prepared = PreparedEntry::new(&entry)?;
        let mut side = lock_side(&self.side);
        if side.closed {
            return Err(AuditError::Closed);
        }
        if side.entries.len() >= self.side_limit {
            // The writer is behind: queue in the bounded channel, which blocks when it is full (back-pressure).
            drop(side);
            return tx
                .send(Msg::Append(prepared, ReceiptTx(None)))
                .map_err(|_| AuditError::Closed);
        }
        side.entries.push(prepared);
        side.first_at.get_or_insert_with(Instant::now);
        let wake = std::mem::take(&mut side.parked) || side.entries.len() >= self.side_limit;
        drop(side);
        if wake {
            // Full channel: the writer has work queued and drains the side queue when it takes it.
            let _ = tx.try_send(Msg::Wake);
        }
        Ok(())
    }

    /// Append a request record.
    pub fn append_request(&self, record: ResidencyRecord) -> Pending {
        self.append(Entry::Request(record))
    }

    /// Publish a checkpoint now (if there are unpublished entries) and return the latest checkpoint.
    /// Blocks the calling thread; do not call from inside an async runtime.
    pub fn publish_checkpoint(&self) -> Result<Checkpoint, AuditError> {
        let tx = self.tx.as_ref().ok_or(AuditError::Closed)?;
        let (otx, orx) = oneshot::channel();
        tx.send(Msg::Checkpoint(otx))
            .map_err(|_| AuditError::Closed)?;
        orx.blocking_recv().unwrap_or(Err(AuditError::Closed))
    }

    /// What opening found (entries replayed, torn bytes truncated), for a startup log line.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// Current health (for `/readyz`).
    pub fn health(&self) -> Health {
        lock(&self.shared).health.clone()
    }

    /// Group-commit statistics.
    pub fn stats(&self) -> AuditStats {
        lock(&self.shared).stats
    }

    /// The log origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The verifier key of this log.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Stop accepting appends, commit what is queued, publish a final checkpoint and stop the writer thread.
    pub fn close(mut self) -> Result<(), AuditError> {
        self.shutdown();
        match lock(&self.shared).health.failure.clone() {
            Some(reason) => Err(AuditError::Failed(reason)),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) {
        lock_side(&self.side).closed = true;
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // The writer has exited and dropped its sender: the acker drains the last receipts and stops.
        if let Some(t) = self.acker.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock(m: &Mutex<SharedState>) -> std::sync::MutexGuard<'_, SharedState> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Take the exclusive writer lock of `dir` (`flock` on `dir/lock`, released by the kernel when the process dies,
/// so a `kill -9` never leaves a stale lock) and record our pid in it for the error message of the next contender.
fn lock_dir(dir: &Path) -> Result<File, AuditError> {
    let path = dir.join(LOCK_FILE);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| AuditError::io(&path, e))?;
    // fs4 rather than std's `File::try_lock` (stable only since Rust 1.89; the crate's MSRV is 1.85). Called through
    // the trait explicitly: on newer toolchains the inherent std method would otherwise win.
    match fs4::FileExt::try_lock(&f) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let holder = f
                .read_to_string(&mut text)
                .ok()
                .map(|_| text.trim().to_owned())
                .filter(|t| t.starts_with("pid ") && t.len() < 32);
            return Err(AuditError::Locked {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err(fs4::TryLockError::Error(e)) => return Err(AuditError::io(&path, e)),
    }
    f.set_len(0).map_err(|e| AuditError::io(&path, e))?;
    f.write_all(format!("pid {}\n", std::process::id()).as_bytes())
        .map_err(|e| AuditError::io(&path, e))?;
    Ok(f)
}

fn read_checkpoint(
    dir: &Path,
    verifier: &NoteVerifier,
    origin: &str,
) -> Result<Option<(Checkpoint, String)>, AuditError> {
    let path = dir.join(CHECKPOINT_FILE);
    match fs::read_to_string(&path) {
        Ok(note) => Checkpoint::open_with_origin(&note, verifier, origin)
            .map(|c| Some((c, note)))
            .map_err(|e| AuditError::Corrupt {
                index: None,
                reason: format!("checkpoint does not verify with the configured key: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuditError::io(&path, e)),
    }
}

/// Truncate a torn final record of the checkpoint archive (a crash while appending to it); any other damage is
/// left for `verify` to report.
fn repair_archive(dir: &Path) -> Result<(), AuditError> {
    let path = dir.join(ARCHIVE_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(AuditError::io(&path, e)),
    };
    let mut good = 0usize;
    loop {
        let rest = &bytes[good..];
        if rest.is_empty() {
            return Ok(());
        }
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..nl])
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
        else {
            return Ok(());
        };
        if rest.len() < nl + 1 + len {
            break;
        }
        good += nl + 1 + len;
    }
    let f = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| AuditError::io(&path, e))?;
    f.set_len(good as u64)
        .map_err(|e| AuditError::io(&path, e))?;
    f.sync_all().map_err(|e| AuditError::io(&path, e))
}

#[derive(Default)]
struct Replayed {
    frontier: Frontier,
    tiles: TileBuilder,
    /// The first leaf (for the chain check and the shard's age).
    first_leaf: Option<Vec<u8>>,
    /// The last leaf's time (what chain records written by older versions state).
    last_time: Option<String>,
    /// The latest time of any leaf (goes into the next shard's chain record).
    max_time: Option<String>,
}

/// The later of two leaf times (`TIME_FORMAT`: fixed-width UTC, so byte order is time order).
fn later(current: &mut Option<String>, time: &str) {
    if current.as_deref().is_none_or(|t| time > t) {
        *current = Some(time.to_owned());
    }
}

fn journal_header(origin: &str) -> Result<Vec<u8>, AuditError> {
    let len =
        u16::try_from(origin.len()).map_err(|_| AuditError::Config("origin is too long".into()))?;
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(origin.as_bytes());
    Ok(h)
}

/// Read up to `buf.len()` bytes; returns how many were read (short only at end of file).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn replay(
    dir: &Path,
    origin: &str,
    published: Option<&Checkpoint>,
    mac: &FrameMac,
) -> Result<(File, Replayed, Recovery), AuditError> {
    let path = dir.join(JOURNAL_FILE);
    let header = journal_header(origin)?;
    let mut state = Replayed::default();
    let mut recovery = Recovery::default();
    let mut exists = path.exists();
    if exists {
        // A crash right after creating the journal can leave it shorter than its header (nothing was ever
        // appended): start it afresh, unless a published checkpoint says entries existed.
        let len = fs::metadata(&path)
            .map_err(|e| AuditError::io(&path, e))?
            .len();
        if len < header.len() as u64 && published.is_none() {
            let got = fs::read(&path).map_err(|e| AuditError::io(&path, e))?;
            if header.starts_with(&got) {
                fs::remove_file(&path).map_err(|e| AuditError::io(&path, e))?;
                exists = false;
            }
        }
    }
    if !exists {
        if let Some(cp) = published {
            // The journal is created (and fsynced) before a shard's first checkpoint is published, so a published
            // checkpoint without a journal means the writer's source of truth was removed: entries acknowledged
            // after that checkpoint may be lost, and continuing would reuse their indexes.
            return Err(AuditError::Corrupt {
                index: Some(cp.size),
                reason: format!(
                    "the journal {} is missing but checkpoint size {} was published: it was deleted \
                     (entries acknowledged after that checkpoint may be lost). The published entries can still be \
                     checked with `haetae audit verify` on a copy without `lock` and `journal`; keep this \
                     directory as evidence and start the gateway with a new audit directory",
                    path.display(),
                    cp.size
                ),
            });
        }
        let mut f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| AuditError::io(&path, e))?;
        f.write_all(&header).map_err(|e| AuditError::io(&path, e))?;
        f.sync_all().map_err(|e| AuditError::io(&path, e))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        return Ok((f, state, recovery));
    }
    let file = File::open(&path).map_err(|e| AuditError::io(&path, e))?;
    let file_len = file.metadata().map_err(|e| AuditError::io(&path, e))?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut got = vec![0u8; header.len()];
    let n = read_full(&mut r, &mut got).map_err(|e| AuditError::io(&path, e))?;
    let v1 = n >= MAGIC.len() && got[..MAGIC.len()] == MAGIC_V1[..];
    if n < MAGIC.len() || (got[..MAGIC.len()] != MAGIC[..] && !v1) {
        return Err(AuditError::Corrupt {
            index: None,
            reason: "journal has no haetae journal header".into(),
        });
    }
    if got[MAGIC.len()..] != header[MAGIC.len()..] {
        return Err(AuditError::Corrupt {
            index: None,
            reason: "journal belongs to a different log origin than the signing key's name".into(),
        });
    }
    // A format-1 journal is converted while it is read: its frames are rewritten with MACs into a temporary file
    // that replaces it only if every entry it holds is covered by the published checkpoint (see below).
    let convert_path = dir.join(format!("{JOURNAL_FILE}.v2.tmp"));
    let mut convert = if v1 {
        let mut f = std::io::BufWriter::with_capacity(
            1 << 20,
            File::create(&convert_path).map_err(|e| AuditError::io(&convert_path, e))?,
        );
        f.write_all(&header)
            .map_err(|e| AuditError::io(&convert_path, e))?;
        Some(f)
    } else {
        None
    };
    let frame_header = if v1 { FRAME_HEADER_V1 } else { FRAME_HEADER };
    let mut offset = header.len() as u64;
    let mut root_at_published: Option<Hash> = None;
    if published.is_some_and(|c| c.size == 0) {
        root_at_published = Some(state.frontier.root());
    }
    let mut torn = false;
    loop {
        let mut hdr = [0u8; FRAME_HEADER];
        let hdr = &mut hdr[..frame_header];
        let n = read_full(&mut r, hdr).map_err(|e| AuditError::io(&path, e))?;
        if n == 0 {
            break;
        }
        let index = state.frontier.size();
        if n < frame_header {
            torn = true;
            break;
        }
        let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let inv = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if len ^ inv != u32::MAX {
            // A crash can leave a zero-filled tail (file size extended before the data landed); anything else is
            // damage to a frame header.
            let mut zero = hdr.iter().all(|&b| b == 0);
            let mut chunk = vec![0u8; 1 << 16];
            while zero {
                let k = read_full(&mut r, &mut chunk).map_err(|e| AuditError::io(&path, e))?;
                if k == 0 {
                    break;
                }
                zero = chunk[..k].iter().all(|&b| b == 0);
            }
            if zero {
                torn = true;
                break;
            }
            return Err(AuditError::Corrupt {
                index: Some(index),
                reason: format!("journal frame header at byte {offset} is damaged"),
            });
        }
        let len = len as usize;
        let frame_end = offset + (frame_header + len) as u64;
        if len > MAX_ENTRY_BYTES {
            return Err(AuditError::Corrupt {
                index: Some(index),
                reason: format!("journal frame at byte {offset} has an impossible length {len}"),
            });
        }
        if frame_end > file_len {
            torn = true;
            break;
        }
        let mut data = vec![0u8; len];
        let k = read_full(&mut r, &mut data).map_err(|e| AuditError::io(&path, e))?;
        if k < len {
            torn = true;
            break;
        }
        let hash = leaf_hash(&data);
        if v1 {
            if hash[..8] != hdr[8..16] {
                if frame_end == file_len {
                    torn = true;
                    break;
                }
                return Err(AuditError::Corrupt {
                    index: Some(index),
                    reason: format!("journal frame at byte {offset} fails its checksum"),
                });
            }
        } else if !mac.verify(index, &data, &hdr[8..]) {
            // A crash can leave the final frame's pages partly unwritten (zeros). A canonical leaf never holds a
            // NUL byte, so such a frame cannot be an entry the writer committed: it is cut off like a torn frame.
            // Any other frame that fails its MAC was not written by the holder of this log's key (appended or
            // altered while the gateway was stopped): never adopted, and the log does not open.
            if frame_end == file_len && data.contains(&0) {
                torn = true;
                break;
            }
            return Err(AuditError::Corrupt {
                index: Some(index),
                reason: format!(
                    "journal frame {index} (byte {offset}) fails its MAC: it was not written by this log's \
                     writer (frames appended or altered outside the gateway); the log refuses to open. Restore \
                     the journal from a backup, or truncate it to {offset} bytes after establishing what happened"
                ),
            }
            .in_shard(mac.shard));
        }
        if let Some(w) = convert.as_mut() {
            let len = len as u32;
            w.write_all(&len.to_be_bytes())
                .and_then(|()| w.write_all(&(!len).to_be_bytes()))
                .and_then(|()| w.write_all(&mac.tag(index, &data)))
                .and_then(|()| w.write_all(&data))
                .map_err(|e| AuditError::io(&convert_path, e))?;
        }
        state.tiles.push(dir, &data, hash, true)?;
        state.frontier.push(hash);
        // The shard's newest record time is the maximum over its leaves, not the last leaf's (the clock can step
        // back); a frame that authenticates is this writer's, so a leaf without a time is corruption.
        let (_, time) = leaf_seq_time(&data).map_err(|e| AuditError::Corrupt {
            index: Some(index),
            reason: e.to_string(),
        })?;
        later(&mut state.max_time, &time);
        state.last_time = Some(time);
        if state.first_leaf.is_none() {
            state.first_leaf = Some(data);
        }
        offset = frame_end;
        if published.is_some_and(|c| c.size == state.frontier.size()) {
            root_at_published = Some(state.frontier.root());
        }
    }
    if torn {
        recovery.truncated_bytes = file_len - offset;
    }
    let checked = check_against_published(&state, published, root_at_published).and_then(|()| {
        let covered = published.map_or(0, |c| c.size);
        if v1 && state.frontier.size() > covered {
            return Err(AuditError::Corrupt {
                index: Some(covered),
                reason: format!(
                    "the journal {} is in the old format HAETAEJ1, whose frames carry no key, and holds {} \
                     entries beyond the last published checkpoint (size {covered}): they cannot be told apart from \
                     frames appended by someone else, so they are not adopted. Start the previous haetae version \
                     once and stop it cleanly (it publishes a checkpoint covering them), then start this version: \
                     it converts a fully published journal to the new format",
                    path.display(),
                    state.frontier.size() - covered
                ),
            }
            .in_shard(mac.shard));
        }
        Ok(())
    });
    if let Err(e) = checked {
        if convert.is_some() {
            let _ = fs::remove_file(&convert_path);
        }
        return Err(e);
    }
    if published.is_some_and(|c| c.size == state.frontier.size()) {
        // The latest checkpoint refers to the partial files of exactly this size: they must be intact too.
        state.tiles.repair_partials(dir)?;
    }
    recovery.entries = state.frontier.size();
    recovery.unpublished = state.frontier.size() - published.map_or(0, |c| c.size);
    recovery.repaired_files = state.tiles.repaired();
    if let Some(w) = convert {
        // Every entry is covered by the signed checkpoint: the converted journal replaces the old one.
        let f = w
            .into_inner()
            .map_err(|e| AuditError::io(&convert_path, e.into_error()))?;
        f.sync_all().map_err(|e| AuditError::io(&convert_path, e))?;
        fs::rename(&convert_path, &path).map_err(|e| AuditError::io(&path, e))?;
        if let Ok(d) = File::open(dir) {
            d.sync_all().map_err(|e| AuditError::io(dir, e))?;
        }
        recovery.converted_journal = true;
        torn = false;
    }
    let f = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| AuditError::io(&path, e))?;
    if torn {
        f.set_len(offset).map_err(|e| AuditError::io(&path, e))?;
        f.sync_all().map_err(|e| AuditError::io(&path, e))?;
    }
    Ok((f, state, recovery))
}

/// The replayed journal must cover the published checkpoint and match its root.
fn check_against_published(
    state: &Replayed,
    published: Option<&Checkpoint>,
    root_at_published: Option<Hash>,
) -> Result<(), AuditError> {
    let Some(cp) = published else {
        return Ok(());
    };
    if cp.size > state.frontier.size() {
        return Err(AuditError::Corrupt {
            index: Some(state.frontier.size()),
            reason: format!(
                "journal holds {} entries but the published checkpoint covers {}",
                state.frontier.size(),
                cp.size
            ),
        });
    }
    if root_at_published != Some(cp.root) {
        return Err(AuditError::Corrupt {
            index: None,
            reason: format!(
                "journal does not match the published checkpoint at size {}",
                cp.size
            ),
        });
    }
    Ok(())
}

/// Seal shard `shard` (< the newest) whose sealing a crash interrupted: its latest checkpoint is its final one (it
/// was published before the next shard was created) and must be what the next shard's chain record names; its
/// journal is replayed against it (rewriting any tile a power loss damaged) before it is fsynced and sealed.
fn complete_seal(
    root: &Path,
    shard: u64,
    name: &str,
    signer: &NoteSigner,
) -> Result<(), AuditError> {
    let verifier = &signer.verifier();
    let dir = shard_dir(root, shard);
    let origin = shard_origin(name, shard);
    let (cp, note) =
        read_checkpoint(&dir, verifier, &origin)?.ok_or_else(|| AuditError::Corrupt {
            index: None,
            reason: format!("shard {shard} has no checkpoint, but a newer shard exists"),
        })?;
    repair_archive(&dir)?;
    if !dir.join(JOURNAL_FILE).exists() {
        // No journal to rebuild from (its seal got as far as deleting it, and only the marker is gone): the
        // shard must verify as it is.
        super::verify::verify_shard(
            &dir,
            &origin,
            verifier,
            &super::verify::VerifyOptions::default(),
            None,
        )?;
        return super::shard::seal(&dir, &note);
    }
    let mac = FrameMac::new(signer, &origin, shard)?;
    let (_, state, _) = replay(&dir, &origin, Some(&cp), &mac)?;
    if state.frontier.size() != cp.size {
        return Err(AuditError::Corrupt {
            index: Some(cp.size),
            reason: format!(
                "the journal holds {} entries beyond the final checkpoint of size {}",
                state.frontier.size() - cp.size,
                cp.size
            ),
        });
    }
    let next_origin = shard_origin(name, shard + 1);
    let next_mac = FrameMac::new(signer, &next_origin, shard + 1)?;
    if let Some(first) = first_leaf(&shard_dir(root, shard + 1), &next_origin, &next_mac)? {
        let want = ShardLink {
            shard: shard + 1,
            previous_origin: cp.origin.clone(),
            previous_size: cp.size,
            previous_root: B64.encode(cp.root),
            // A record written by this version states the maximum; one written by an older version the last
            // leaf's time.
            previous_newest_time: state.last_time.clone(),
            previous_max_time: state.max_time.clone(),
        };
        let ok = parse_leaf_lenient(&first)
            .is_ok_and(|l| matches!(&l.entry, Entry::ShardStart(got) if got.names(&want)));
        if !ok {
            return Err(AuditError::Corrupt {
                index: None,
                reason: format!(
                    "shard {}'s chain record does not name this shard's final checkpoint (size {})",
                    shard + 1,
                    cp.size
                ),
            });
        }
    }
    super::shard::seal(&dir, &note)
}

/// The newest record time (the maximum over its leaves, `None` for an empty shard) of sealed shard `shard` of the
/// log in `root`, whose sealed checkpoint is `sealed`: the shard is verified in full against it first (its journal
/// is gone, and a time that goes into the next shard's signed chain record must come from signed data). Only the
/// crash states of a rotation need this at open (see [`AuditLog::open`]); it reads the whole shard.
fn newest_record_time(
    root: &Path,
    shard: u64,
    sealed: &Checkpoint,
    verifier: &NoteVerifier,
) -> Result<Option<String>, AuditError> {
    let dir = shard_dir(root, shard);
    let origin = shard_origin(verifier.name(), shard);
    let rep = super::verify::verify_shard(
        &dir,
        &origin,
        verifier,
        &super::verify::VerifyOptions::default(),
        None,
    )
    .map_err(|e| e.in_shard(shard))?;
    if rep.size != sealed.size || rep.root != B64.encode(sealed.root) {
        return Err(AuditError::Corrupt {
            index: Some(rep.size.min(sealed.size)),
            reason: "the shard's checkpoint is not its sealed final checkpoint".into(),
        }
        .in_shard(shard));
    }
    Ok(rep.newest_time)
}

/// `(device, inode)` of an open file.
fn file_id(f: &File) -> std::io::Result<(u64, u64)> {
    Ok(meta_id(&f.metadata()?))
}

#[cfg(unix)]
fn meta_id(m: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn meta_id(_: &fs::Metadata) -> (u64, u64) {
    (0, 0)
}

#[cfg(unix)]
fn link_count(m: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    m.nlink()
}

#[cfg(not(unix))]
fn link_count(_: &fs::Metadata) -> u64 {
    1
}

/// The first leaf of a shard: from its journal (whose header must be this shard's, `origin`, and whose first
/// frame must carry a valid MAC under `mac`, the shard's own frame key — a frame that fails it was not written by
/// this log's writer, and a seal must not rest on it), or (a sealed shard has none) its first entry bundle. `None`
/// when there is none yet: no journal frame, or only what a crash leaves (a header cut short, a torn or
/// zero-filled first frame, a MAC-failing final frame holding a NUL byte — as replay treats them). Anything else
/// that is not a well-formed first frame is an error.
fn first_leaf(dir: &Path, origin: &str, mac: &FrameMac) -> Result<Option<Vec<u8>>, AuditError> {
    let path = dir.join(JOURNAL_FILE);
    let mut f = match File::open(&path) {
        Ok(f) => BufReader::new(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bundle = super::tiles::read_covering(dir, &super::tiles::bundle_path(0, 256), 1)?;
            return Ok(bundle.and_then(|(bytes, _)| {
                super::tiles::decode_bundle(&bytes)
                    .ok()
                    .and_then(|e| e.first().map(|l| l.to_vec()))
            }));
        }
        Err(e) => return Err(AuditError::io(&path, e)),
    };
    let bad = |reason: String| {
        AuditError::Corrupt {
            index: Some(0),
            reason,
        }
        .in_shard(mac.shard)
    };
    let header = journal_header(origin)?;
    let mut head = vec![0u8; header.len()];
    let n = read_full(&mut f, &mut head).map_err(|e| AuditError::io(&path, e))?;
    if n < head.len() {
        // A crash while the journal was created leaves a prefix of its header.
        if header.starts_with(&head[..n]) {
            return Ok(None);
        }
        return Err(bad("journal has no haetae journal header".into()));
    }
    let v1 = head[..MAGIC.len()] == MAGIC_V1[..];
    if !v1 && head[..MAGIC.len()] != MAGIC[..] {
        return Err(bad("journal has no haetae journal header".into()));
    }
    if head[MAGIC.len()..] != header[MAGIC.len()..] {
        return Err(bad(
            "journal belongs to another shard or log (origin)".into()
        ));
    }
    let mut hdr = [0u8; FRAME_HEADER];
    let hdr = &mut hdr[..if v1 { FRAME_HEADER_V1 } else { FRAME_HEADER }];
    if read_full(&mut f, hdr).map_err(|e| AuditError::io(&path, e))? < hdr.len() {
        return Ok(None);
    }
    let len = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let inv = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    if len ^ inv != u32::MAX {
        if hdr.iter().all(|&b| b == 0) {
            return Ok(None); // a zero-filled tail a crash left
        }
        return Err(bad("the first journal frame's header is damaged".into()));
    }
    if len as usize > MAX_ENTRY_BYTES {
        return Err(bad(format!(
            "the first journal frame has an impossible length {len}"
        )));
    }
    // The caller compares the leaf with the chain record it must be; a format-1 frame's checksum is checked, and a
    // format-2 frame's MAC, as replay checks it: the seal that follows deletes the sealed shard's journal, so it must
    // not rest on a frame someone without the key wrote.
    let mut data = vec![0u8; len as usize];
    if read_full(&mut f, &mut data).map_err(|e| AuditError::io(&path, e))? < data.len() {
        return Ok(None);
    }
    let mut more = [0u8; 1];
    let last = read_full(&mut f, &mut more).map_err(|e| AuditError::io(&path, e))? == 0;
    let authentic = if v1 {
        leaf_hash(&data)[..8] == hdr[8..16]
    } else {
        mac.verify(0, &data, &hdr[8..])
    };
    if !authentic {
        if last && (v1 || data.contains(&0)) {
            return Ok(None); // pages a crash left unwritten, as replay truncates them
        }
        return Err(bad(if v1 {
            "journal frame 0 (the chain record) fails its checksum".into()
        } else {
            "journal frame 0 (the chain record) fails its MAC: it was not written by this log's writer \
             (altered or replaced outside the gateway); the previous shard is not sealed on its word"
                .into()
        }));
    }
    Ok(Some(data))
}

/// Hooks for the `journal_replay` fuzz target (`fuzz/fuzz_targets/journal_replay.rs`): journal bytes in, the
/// recovery paths out. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use std::path::Path;

    use super::{first_leaf, journal_header, replay, FrameMac, JOURNAL_FILE, MAGIC_V1};
    use crate::audit::shard::shard_origin;
    use crate::audit::{AuditError, NoteSigner};

    /// The journal header of shard `shard` of the log `signer` signs (format 1 with `v1`).
    pub fn header(signer: &NoteSigner, shard: u64, v1: bool) -> Vec<u8> {
        let mut h = journal_header(&shard_origin(signer.name(), shard)).unwrap_or_default();
        if v1 {
            if let Some(magic) = h.get_mut(..MAGIC_V1.len()) {
                magic.copy_from_slice(MAGIC_V1);
            }
        }
        h
    }

    /// A format-2 frame holding `leaf` as entry `index` of shard `shard`, with a valid MAC.
    pub fn frame(signer: &NoteSigner, shard: u64, index: u64, leaf: &[u8]) -> Vec<u8> {
        let Ok(mac) = FrameMac::new(signer, &shard_origin(signer.name(), shard), shard) else {
            return Vec::new();
        };
        let len = u32::try_from(leaf.len()).unwrap_or(u32::MAX);
        let mut f = Vec::with_capacity(super::FRAME_HEADER + leaf.len());
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(&(!len).to_be_bytes());
        f.extend_from_slice(&mac.tag(index, leaf));
        f.extend_from_slice(leaf);
        f
    }

    /// What the recovery paths made of one journal (see [`replay_journal`]).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Outcome {
        /// Entries `AuditLog::open`'s replay recovered.
        pub entries: u64,
        /// Complete frames `verify` reads (or its error).
        pub verify_reads: Result<u64, String>,
        /// The first leaf completing a seal reads (`Ok(None)`: none yet; or its error).
        pub first_leaf: Result<Option<Vec<u8>>, String>,
        /// The first leaf replay recovered.
        pub replayed_first_leaf: Option<Vec<u8>>,
        /// A second replay of the recovered journal: entries, and bytes it truncated (or its error).
        pub again: Result<(u64, u64), String>,
    }

    /// Write `journal` as shard `shard`'s journal into the empty directory `dir`, then read it as `verify` reads
    /// it, read its first frame as completing the previous shard's seal does, and replay it as `AuditLog::open`
    /// does (no checkpoint published), then once more (a recovered journal must replay to the same entries). An
    /// error is replay's refusal; otherwise what each path made of it, for the fuzz target to compare.
    pub fn replay_journal(
        dir: &Path,
        signer: &NoteSigner,
        shard: u64,
        journal: &[u8],
    ) -> Result<Outcome, AuditError> {
        let path = dir.join(JOURNAL_FILE);
        std::fs::write(&path, journal).map_err(|e| AuditError::io(&path, e))?;
        let origin = shard_origin(signer.name(), shard);
        let mac = FrameMac::new(signer, &origin, shard)?;
        let verify_reads = crate::audit::verify::journal_frames(&path).map_err(|e| e.to_string());
        let first_leaf = first_leaf(dir, &origin, &mac).map_err(|e| e.to_string());
        let (file, state, _) = replay(dir, &origin, None, &mac)?;
        drop(file);
        let again = replay(dir, &origin, None, &mac)
            .map(|(_, s, r)| (s.frontier.size(), r.truncated_bytes))
            .map_err(|e| e.to_string());
        Ok(Outcome {
            entries: state.frontier.size(),
            verify_reads,
            first_leaf,
            replayed_first_leaf: state.first_leaf,
            again,
        })
    }
}

struct Limits {
    checkpoint_interval: Duration,
    max_batch: usize,
    max_batch_delay: Duration,
    detached_batch_delay: Duration,
    max_journal_bytes: Option<u64>,
    rotate_max_bytes: Option<u64>,
    rotate_max_age: Option<Duration>,
}

struct Writer {
    /// The log directory (shard 0).
    root: PathBuf,
    /// The log name (key name, shard 0's origin).
    name: String,
    /// The open shard.
    shard: u64,
    /// The open shard's directory.
    dir: PathBuf,
    journal: File,
    /// `(device, inode)` of the open journal: checked against its path after every commit (see `check_journal`).
    journal_id: (u64, u64),
    /// Authenticates the open shard's journal frames.
    mac: FrameMac,
    journal_len: u64,
    /// The latest record time in the open shard (the maximum, so a clock that stepped back does not make the
    /// shard look older; the next shard's chain record names it).
    newest_time: Option<String>,
    /// Stamps each batch (see [`AuditOptions::clock`]).
    clock: fn() -> time::OffsetDateTime,
    frontier: Frontier,
    tiles: Tiler,
    signer: NoteSigner,
    origin: Arc<str>,
    instance: String,
    published: Option<u64>,
    /// The latest published checkpoint note of the open shard (sealed verbatim at rotation).
    last_note: Option<String>,
    /// The latest publication was handed to the tile thread and may not be on disk yet.
    publish_in_flight: bool,
    /// Time of the open shard's first leaf.
    shard_started: Option<time::OffsetDateTime>,
    /// Threads sealing shards rotated away from (fsync of a full shard takes seconds: it runs off the commit path).
    sealers: Vec<JoinHandle<()>>,
    /// Set when the writer stops: a seal still failing then stops retrying (the next `open` completes it).
    closing: Arc<std::sync::atomic::AtomicBool>,
    /// A rotation failed before the next shard existed: not retried before this instant.
    rotation_retry_at: Option<Instant>,
    opts: Limits,
    shared: Arc<Mutex<SharedState>>,
    acks: mpsc::Sender<Vec<(ReceiptTx, Receipt)>>,
}

pub(crate) const TIME_FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

impl Writer {
    fn failure(&self) -> Option<String> {
        lock(&self.shared).health.failure.clone()
    }

    fn fail(&self, reason: String) {
        set_failed(&self.shared, reason);
    }

    /// Take the tile thread's report of a checkpoint it could not write: that publication did not happen, so the
    /// next checkpoint time signs and publishes the current size again (and a rotation publishes synchronously).
    fn reconcile(&mut self) {
        if std::mem::take(&mut lock(&self.shared).publish_failed) {
            self.published = None;
            self.last_note = None;
            self.publish_in_flight = false;
        }
    }

    /// Wait for a publication handed to the tile thread (if any) to be written or to fail, then reconcile.
    fn settle_publication(&mut self) {
        if self.publish_in_flight {
            self.publish_in_flight = false;
            // The tile thread handles messages in order: once this returns, the publication was processed.
            let _ = self.tiles.write_partials();
        }
        self.reconcile();
    }

    fn run(mut self, rx: Receiver<Msg>, side: &Mutex<SideQueue>) {
        let mut due: Option<Instant> = None;
        // A publication handed to the tile thread is checked at this time: written (the shared checkpoint size
        // reached it), failed (retried), or still in progress (checked again later). Without it an idle log whose
        // publication failed would not publish again until the next append.
        let mut confirm_at: Option<Instant> = None;
        let mut open = true;
        // Detached records usually follow a commit closely (a request's outcome after its decision): for
        // `detached_batch_delay` after a commit the writer waits on a timer instead of parking, so they need no
        // wake-up of their own.
        let mut last_commit: Option<Instant> = None;
        let delay = self.opts.detached_batch_delay;
        while open {
            // A publication that failed (tile thread) or a rotation that published nothing is retried at the next
            // checkpoint time.
            self.reconcile();
            if confirm_at.is_some_and(|t| Instant::now() >= t) {
                confirm_at = None;
                let written = lock(&self.shared).health.checkpoint_size;
                if self.publish_in_flight && self.published.is_some_and(|p| p != written) {
                    confirm_at = Some(Instant::now() + self.opts.checkpoint_interval);
                }
            }
            if due.is_none()
                && self.failure().is_none()
                && self.published != Some(self.frontier.size())
            {
                due = Some(Instant::now() + self.opts.checkpoint_interval);
            }
            // Wake for the next checkpoint, or when the open shard reaches its maximum age (so an idle log still
            // rotates on time and its records become prunable), or when waiting detached records are due, or to
            // confirm a publication.
            let mut wake = [due, self.rotation_deadline(), confirm_at]
                .into_iter()
                .flatten()
                .min();
            {
                let mut s = lock_side(side);
                let now = Instant::now();
                let detached = match s.first_at {
                    Some(t) => Some(t + delay),
                    None => last_commit.map(|c| c + delay).filter(|&d| d > now),
                };
                wake = match (wake, detached) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                // Parked: nothing of the writer's own wakes it within the delay, so the next append must.
                s.parked = wake.is_none_or(|w| w > now + delay);
            }
            let first = match wake {
                Some(d) => match rx.recv_timeout(d.saturating_duration_since(Instant::now())) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                },
            };
            let mut batch: Vec<(PreparedEntry, ReceiptTx)> = Vec::new();
            let mut controls = Vec::new();
            // Someone waits for an entry of this batch (or for a checkpoint): linger `max_batch_delay` at most;
            // otherwise (detached appends only) `detached_batch_delay`.
            let mut awaited = false;
            // returns whether someone waits for what it took
            let mut take = |m: Msg, batch: &mut Vec<(PreparedEntry, ReceiptTx)>| match m {
                Msg::Append(e, tx) => {
                    let waited = tx.is_waited_for();
                    batch.push((e, tx));
                    waited
                }
                Msg::Checkpoint(tx) => {
                    controls.push(tx);
                    true
                }
                Msg::Wake => false,
            };
            if let Some(m) = first {
                let started = Instant::now();
                awaited |= take(m, &mut batch);
                while batch.len() < self.opts.max_batch {
                    match rx.try_recv() {
                        Ok(m) => awaited |= take(m, &mut batch),
                        Err(TryRecvError::Empty) => {
                            let now = Instant::now();
                            let linger_until = started
                                + if awaited {
                                    self.opts.max_batch_delay
                                } else {
                                    self.opts.detached_batch_delay
                                };
                            if now >= linger_until {
                                break;
                            }
                            match rx.recv_timeout(linger_until - now) {
                                Ok(m) => awaited |= take(m, &mut batch),
                                Err(RecvTimeoutError::Timeout) => break,
                                Err(RecvTimeoutError::Disconnected) => {
                                    open = false;
                                    break;
                                }
                            }
                        }
                        Err(TryRecvError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                }
            }
            // Detached records waiting in the side queue go out with this commit, or on their own once due.
            {
                let mut s = lock_side(side);
                s.parked = false;
                let due_now = s.first_at.is_some_and(|t| t + delay <= Instant::now());
                if !batch.is_empty() || due_now || !open {
                    // They arrived before whatever woke the writer: they take the lower indexes.
                    let room = self.opts.max_batch.saturating_sub(batch.len()).max(1);
                    let n = room.min(s.entries.len());
                    let mut all: Vec<(PreparedEntry, ReceiptTx)> =
                        s.entries.drain(..n).map(|e| (e, ReceiptTx(None))).collect();
                    all.append(&mut batch);
                    batch = all;
                    if s.entries.is_empty() {
                        s.first_at = None;
                    }
                }
            }
            if batch.is_empty() && self.failure().is_none() && self.rotation_due() {
                self.rotate_now();
            }
            if !batch.is_empty() {
                self.commit(batch);
                last_commit = Some(Instant::now());
                if due.is_none() && self.published != Some(self.frontier.size()) {
                    due = Some(Instant::now() + self.opts.checkpoint_interval);
                }
            }
            let forced = !controls.is_empty();
            if !forced && due.is_some_and(|d| Instant::now() >= d) {
                due = None;
                match self.publish_async() {
                    Ok(()) => {
                        confirm_at = Some(Instant::now() + self.opts.checkpoint_interval);
                    }
                    Err(e) => self.fail(format!("checkpoint publication failed: {e}")),
                }
            } else if forced {
                let result = self.publish_if_needed();
                due = None;
                let failure = self.failure();
                for tx in controls {
                    let _ = tx.send(match (&result, &failure) {
                        (Ok(cp), _) => Ok(cp.clone()),
                        (Err(_), Some(reason)) => Err(AuditError::Failed(reason.clone())),
                        (Err(e), None) => Err(AuditError::Unpublished(e.to_string())),
                    });
                }
            }
        }
        // Closing: whatever still waits in the side queue (appends refused from now on) is committed first.
        loop {
            let rest: Vec<(PreparedEntry, ReceiptTx)> = {
                let mut s = lock_side(side);
                s.closed = true;
                s.first_at = None;
                let n = s.entries.len().min(self.opts.max_batch);
                s.entries.drain(..n).map(|e| (e, ReceiptTx(None))).collect()
            };
            if rest.is_empty() {
                break;
            }
            self.commit(rest);
        }
        let _ = self.publish_if_needed();
        self.closing
            .store(true, std::sync::atomic::Ordering::Release);
        for t in self.sealers.drain(..) {
            let _ = t.join();
        }
    }

    /// The checkpoint of the open shard as committed so far (not yet signed or published).
    fn checkpoint_now(&self) -> Checkpoint {
        Checkpoint {
            origin: self.origin.to_string(),
            size: self.frontier.size(),
            root: self.frontier.root(),
        }
    }

    /// A forced publication (`publish_checkpoint`, close). A failure to write it is reported to the caller and
    /// leaves the log degraded, not failed: the journal holds every entry, and the next checkpoint time retries.
    fn publish_if_needed(&mut self) -> Result<Checkpoint, AuditError> {
        if let Some(reason) = self.failure() {
            return Err(AuditError::Failed(reason));
        }
        // wait until the tile thread has written an in-flight publication (or failed to)
        self.settle_publication();
        if let Some(reason) = self.failure() {
            return Err(AuditError::Failed(reason));
        }
        if self.published == Some(self.frontier.size()) {
            return Ok(self.checkpoint_now());
        }
        self.publish()
    }

    /// Publish a checkpoint of everything committed, synchronously. A write failure leaves `published` as it was
    /// and marks the log degraded (the caller decides whether that is fatal).
    fn publish(&mut self) -> Result<Checkpoint, AuditError> {
        let result = self.publish_inner();
        match &result {
            Ok(_) => clear_degraded(&self.shared),
            Err(e) => set_degraded(&self.shared, format!("checkpoint publication failed: {e}")),
        }
        result
    }

    fn publish_inner(&mut self) -> Result<Checkpoint, AuditError> {
        self.tiles.write_partials()?;
        let cp = self.checkpoint_now();
        let note = self.signer.sign(&cp.to_text())?;
        write_checkpoint_files(&self.dir, &note)?;
        self.published = Some(cp.size);
        self.last_note = Some(note);
        self.publish_in_flight = false;
        let mut s = lock(&self.shared);
        s.health.checkpoint_size = cp.size;
        s.stats.checkpoints += 1;
        Ok(cp)
    }

    /// The periodic publication: sign here, hand the note to the tile thread, which writes it after the partial
    /// tiles of everything committed so far (same guarantee as [`Writer::publish`]: a published checkpoint never
    /// refers to a tile that is not on disk). The commit path does not wait for those fsyncs; a failure there
    /// fails the log.
    fn publish_async(&mut self) -> Result<(), AuditError> {
        if let Some(reason) = self.failure() {
            return Err(AuditError::Failed(reason));
        }
        if self.published == Some(self.frontier.size()) {
            return Ok(());
        }
        let cp = self.checkpoint_now();
        let note = self.signer.sign(&cp.to_text())?;
        self.tiles.publish(note.clone(), cp.size)?;
        self.published = Some(cp.size);
        self.last_note = Some(note);
        self.publish_in_flight = true;
        Ok(())
    }

    fn commit(&mut self, batch: Vec<(PreparedEntry, ReceiptTx)>) {
        let started = Instant::now();
        if self.failure().is_none() && self.rotation_due() {
            self.rotate_now();
        }
        self.commit_inner(batch);
        lock(&self.shared).stats.busy += started.elapsed();
    }

    /// Rotate. A failure before the next shard exists (e.g. the final checkpoint could not be written) leaves the
    /// open shard in use and is retried after a checkpoint interval (at least a second); one after it fails the
    /// log closed (the pending batch and everything after it are refused).
    fn rotate_now(&mut self) {
        let t = Instant::now();
        match self.rotate() {
            Ok(()) => self.rotation_retry_at = None,
            Err(RotateError::Retry(e)) => {
                set_degraded(&self.shared, format!("shard rotation postponed: {e}"));
                self.rotation_retry_at = Some(
                    Instant::now() + self.opts.checkpoint_interval.max(Duration::from_secs(1)),
                );
            }
            Err(RotateError::Fatal(e)) => self.fail(format!("shard rotation failed: {e}")),
        }
        let mut s = lock(&self.shared);
        s.stats.rotation_max = s.stats.rotation_max.max(t.elapsed());
    }

    /// When the open shard reaches `rotate_max_age` (None: no age limit, or nothing to rotate).
    fn rotation_deadline(&self) -> Option<Instant> {
        let age = self.opts.rotate_max_age?;
        let started = self.shard_started?;
        if self.frontier.size() <= u64::from(self.shard > 0) || self.failure().is_some() {
            return None;
        }
        let left = (started + age) - (self.clock)();
        let at = Instant::now() + Duration::try_from(left).unwrap_or(Duration::ZERO);
        Some(self.rotation_retry_at.map_or(at, |retry| at.max(retry)))
    }

    /// Whether the open shard has reached a rotation limit (and holds at least one record besides its chain
    /// record, so an idle log does not rotate into empty shards).
    fn rotation_due(&self) -> bool {
        let records = self
            .frontier
            .size()
            .saturating_sub(u64::from(self.shard > 0));
        if records == 0
            || self
                .rotation_retry_at
                .is_some_and(|retry| Instant::now() < retry)
        {
            return false;
        }
        if self
            .opts
            .rotate_max_bytes
            .is_some_and(|max| self.journal_len >= max)
        {
            return true;
        }
        match (self.opts.rotate_max_age, self.shard_started) {
            (Some(age), Some(started)) => (self.clock)() - started >= age,
            _ => false,
        }
    }

    /// Rotate: publish the open shard's final checkpoint, start the next shard with its chain record (naming that
    /// checkpoint) as first leaf and publish its first checkpoint, then seal the old shard (fsync of every file,
    /// `sealed` note, read-only files) on a separate thread — fsyncing a full shard's tiles takes seconds, and
    /// appends must not wait for it. A crash before the seal is complete is finished by the next `open`.
    fn rotate(&mut self) -> Result<(), RotateError> {
        // Up to the point where the next shard exists, a failure leaves the open shard as it was: retried later.
        self.settle_publication();
        if self.published != Some(self.frontier.size()) || self.last_note.is_none() {
            self.publish().map_err(RotateError::Retry)?;
        }
        let note = self.last_note.clone().ok_or_else(|| {
            RotateError::Retry(AuditError::Failed("no final checkpoint to seal".into()))
        })?;
        let last = self.checkpoint_now();
        let sealed_dir = self.dir.clone();

        let next = self.shard + 1;
        let origin = shard_origin(&self.name, next);
        let mac = FrameMac::new(&self.signer, &origin, next).map_err(RotateError::Retry)?;
        let (dir, journal, tiles, journal_len, journal_id) =
            self.open_next_shard(next, &origin, &mac)?;
        // Past this point the next shard is the open one: any failure fails the log.
        // The old tile thread is idle (publication waited for it): stop it.
        drop(std::mem::replace(&mut self.tiles, tiles));
        self.journal_len = journal_len;
        self.journal_id = journal_id;
        self.journal = journal;
        self.mac = mac;
        let previous_max_time = self.newest_time.take();
        self.frontier = Frontier::default();
        self.dir = dir;
        self.origin = Arc::from(origin.as_str());
        self.shard = next;
        self.published = None;
        self.last_note = None;
        self.shard_started = None;
        self.append_internal(&Entry::ShardStart(ShardLink {
            shard: next,
            previous_origin: last.origin,
            previous_size: last.size,
            previous_root: B64.encode(last.root),
            previous_newest_time: None,
            previous_max_time,
        }))
        .map_err(RotateError::Fatal)?;
        {
            let mut s = lock(&self.shared);
            s.health.shard = next;
            s.health.size = self.frontier.size();
            s.health.checkpoint_size = 0;
            s.stats.rotations += 1;
        }
        tracing::info!(
            target: "haetae::audit",
            shard = next,
            sealed_shard = next - 1,
            sealed_records = last.size,
            "residency log: shard rotated (the previous shard is sealed in the background)"
        );
        // The new shard's first checkpoint: derived from its journal, so a failure to write it is retried at the
        // next checkpoint time (the log is degraded meanwhile), as any other publication.
        let _ = self.publish();
        let shared = Arc::clone(&self.shared);
        let closing = Arc::clone(&self.closing);
        let sealed_shard = next - 1;
        let sealer = std::thread::Builder::new()
            .name("haetae-audit-seal".into())
            .spawn(move || seal_with_retry(&sealed_dir, &note, sealed_shard, &shared, &closing))
            .map_err(|e| {
                RotateError::Fatal(AuditError::Failed(format!(
                    "cannot start the seal thread: {e}"
                )))
            })?;
        self.sealers.retain(|t| !t.is_finished());
        self.sealers.push(sealer);
        Ok(())
    }

    /// Create shard `next`'s directory and empty journal and start its tile thread. When that fails, whatever was
    /// created is removed again (nothing refers to it yet) and the error is `Retry`; if it cannot be removed, the
    /// next shard may exist and the open one must not be written to again: `Fatal`.
    #[allow(clippy::type_complexity)]
    fn open_next_shard(
        &self,
        next: u64,
        origin: &str,
        mac: &FrameMac,
    ) -> Result<(PathBuf, File, Tiler, u64, (u64, u64)), RotateError> {
        let dir = shard_dir(&self.root, next);
        let attempt = (|| {
            let dir = create_shard_dir(&self.root, next)?;
            let (journal, state, _) = replay(&dir, origin, None, mac)?;
            if state.frontier.size() != 0 {
                return Err(AuditError::Corrupt {
                    index: Some(0),
                    reason: format!("shard {next} already holds entries before it was started"),
                });
            }
            let len = journal
                .metadata()
                .map_err(|e| AuditError::io(&dir, e))?
                .len();
            let id = file_id(&journal).map_err(|e| AuditError::io(&dir, e))?;
            let tiles = Tiler::start(dir.clone(), state.tiles, Arc::clone(&self.shared))?;
            Ok((dir, journal, tiles, len, id))
        })();
        attempt.map_err(|e| {
            if matches!(e, AuditError::Corrupt { .. }) {
                return RotateError::Fatal(e);
            }
            let journal = dir.join(JOURNAL_FILE);
            // Only a journal that holds no frame (at most its header) is ours to remove.
            let empty = journal_header(origin).map_or(0, |h| h.len() as u64);
            let removed = match fs::metadata(&journal) {
                Ok(m) if m.len() > empty => Err(std::io::Error::other("its journal holds frames")),
                Ok(_) => fs::remove_file(&journal),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(err),
            }
            .and_then(|()| match fs::remove_dir(&dir) {
                Ok(()) => Ok(()),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(err),
            });
            match removed {
                Ok(()) => RotateError::Retry(e),
                Err(cleanup) => RotateError::Fatal(AuditError::Failed(format!(
                    "{e}; and the partly created {} cannot be removed ({cleanup})",
                    dir.display()
                ))),
            }
        })
    }

    /// After each commit, before acknowledging it: the open journal must still be the file at the journal's path.
    /// If the audit directory was deleted (link count 0), or moved or the journal replaced (the path no longer
    /// resolves to the same inode), committed entries would go where nobody can read them: fail the log closed,
    /// as a write error does. One `fstat` and one `stat` per batch.
    fn check_journal(&self) -> Result<(), String> {
        let path = self.dir.join(JOURNAL_FILE);
        let open = self
            .journal
            .metadata()
            .map_err(|e| format!("cannot stat the open journal: {e}"))?;
        if link_count(&open) == 0 {
            return Err(format!(
                "the journal {} was deleted while the log was open (audit directory removed?)",
                path.display()
            ));
        }
        match fs::metadata(&path) {
            Ok(m) if meta_id(&m) == self.journal_id => Ok(()),
            Ok(_) => Err(format!(
                "{} is no longer the open journal (replaced, or the audit directory was moved)",
                path.display()
            )),
            Err(e) => Err(format!(
                "the journal {} cannot be found ({e}): the audit directory was removed or moved while the log \
                 was open",
                path.display()
            )),
        }
    }

    /// Append an entry written by the log itself (the chain record), without a caller waiting on it.
    fn append_internal(&mut self, entry: &Entry) -> Result<(), AuditError> {
        let prepared = PreparedEntry::new(entry)?;
        let before = self.frontier.size();
        self.commit_inner(vec![(prepared, ReceiptTx(None))]);
        if let Some(reason) = self.failure() {
            return Err(AuditError::Failed(reason));
        }
        if self.frontier.size() != before + 1 {
            return Err(AuditError::Failed(
                "the chain record was not written".into(),
            ));
        }
        Ok(())
    }

    fn commit_inner(&mut self, batch: Vec<(PreparedEntry, ReceiptTx)>) {
        if let Some(reason) = self.failure() {
            for (_, tx) in batch {
                tx.send(Err(AuditError::Failed(reason.clone())));
            }
            return;
        }
        let now = (self.clock)();
        let time = now.format(TIME_FORMAT).unwrap_or_default();
        // Leaves are encoded straight into the journal batch buffer (frame header first, filled in once the leaf
        // is hashed); the tile thread later reads them from the same buffer and hands it back for reuse.
        let mut buf = self.tiles.spare_buffer();
        let mut staged: Vec<(Range<usize>, Hash, ReceiptTx)> = Vec::with_capacity(batch.len());
        for (entry, tx) in batch {
            let seq = self.frontier.size() + staged.len() as u64;
            let frame = buf.len();
            buf.extend_from_slice(&[0u8; FRAME_HEADER]);
            entry.finish_into(SCHEMA_VERSION, seq, &time, &self.instance, &mut buf);
            let data = frame + FRAME_HEADER..buf.len();
            if data.len() > MAX_ENTRY_BYTES {
                tx.send(Err(AuditError::RecordTooLarge(data.len())));
                buf.truncate(frame);
                continue;
            }
            // Both ranges lie inside `buf` by construction.
            let hash = leaf_hash(&buf[data.clone()]);
            let len = data.len() as u32;
            let tag = self.mac.tag(seq, &buf[data.clone()]);
            let header = &mut buf[frame..frame + FRAME_HEADER];
            header[..4].copy_from_slice(&len.to_be_bytes());
            header[4..8].copy_from_slice(&(!len).to_be_bytes());
            header[8..].copy_from_slice(&tag);
            staged.push((data, hash, tx));
        }
        if staged.is_empty() {
            return;
        }
        if let Some(limit) = self.opts.max_journal_bytes {
            if self.journal_len + buf.len() as u64 > limit {
                let reason = format!("journal size limit of {limit} bytes reached");
                self.fail(reason.clone());
                for (_, _, tx) in staged {
                    tx.send(Err(AuditError::Failed(reason.clone())));
                }
                return;
            }
        }
        let started = Instant::now();
        let written = self
            .journal
            .write_all(&buf)
            .and_then(|()| self.journal.sync_data());
        let fsync = started.elapsed();
        if let Err(reason) = written
            .map_err(|e| format!("journal write failed: {e}"))
            .and_then(|()| self.check_journal())
        {
            self.fail(reason.clone());
            for (_, _, tx) in staged {
                tx.send(Err(AuditError::Failed(reason.clone())));
            }
            return;
        }
        self.journal_len += buf.len() as u64;
        if self.shard_started.is_none() {
            self.shard_started = Some(now);
        }
        later(&mut self.newest_time, &time);
        let n = staged.len();
        let mut receipts = Vec::with_capacity(n);
        let mut leaves = Vec::with_capacity(n);
        for (data, hash, tx) in staged {
            let index = self.frontier.size();
            self.frontier.push(hash);
            leaves.push((data, hash));
            receipts.push((
                tx,
                Receipt {
                    origin: self.origin.clone(),
                    index,
                    leaf_hash: hash,
                },
            ));
        }
        {
            let mut s = lock(&self.shared);
            s.health.size = self.frontier.size();
            s.stats.batches += 1;
            s.stats.entries += n as u64;
            s.stats.max_batch = s.stats.max_batch.max(n);
            s.stats.fsync_total += fsync;
            s.stats.fsync_max = s.stats.fsync_max.max(fsync);
        }
        // Durable in the journal: acknowledge even if tile writing failed (the log fails below). Detached appends
        // have nobody to tell. A few receipts are sent from here (each send may wake a task: cheaper than waking
        // the acknowledging thread first); a large batch goes to that thread so the next commit starts sooner.
        receipts.retain(|(tx, _)| tx.is_waited_for());
        if receipts.len() <= DIRECT_ACKS {
            for (tx, receipt) in receipts {
                tx.send(Ok(receipt));
            }
        } else if let Err(mpsc::SendError(receipts)) = self.acks.send(receipts) {
            for (tx, receipt) in receipts {
                tx.send(Ok(receipt));
            }
        }
        if let Err(e) = self.tiles.push(buf, leaves) {
            self.fail(format!("tile write failed: {e}"));
        }
    }
}

enum TileMsg {
    /// Committed leaves, in order: the journal batch buffer and each leaf's byte range in it.
    Leaves(Vec<u8>, Vec<(Range<usize>, Hash)>),
    /// Write the partial tiles for everything received so far, then reply.
    Partials(mpsc::SyncSender<Result<(), AuditError>>),
    /// Write the partial tiles for everything received so far, then this signed checkpoint (of `size` entries).
    Publish(String, u64),
}

/// Seal a rotated-away shard (on its own thread). A failure (e.g. no file descriptor left to open its files for
/// fsync) is retried with back-off, since the shard is complete and its journal is kept until the seal succeeds;
/// after [`SEAL_RETRY_FOR`] the log fails closed. When the log closes meanwhile, the next `open` completes it.
fn seal_with_retry(
    dir: &Path,
    note: &str,
    shard: u64,
    shared: &Mutex<SharedState>,
    closing: &std::sync::atomic::AtomicBool,
) {
    let started = Instant::now();
    let mut backoff = Duration::from_secs(1);
    let mut failures = 0u32;
    loop {
        let err = match super::shard::seal(dir, note) {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(target: "haetae::audit", shard, "residency log: shard sealed after retrying");
                }
                return;
            }
            Err(e) => e,
        };
        failures += 1;
        if started.elapsed() >= SEAL_RETRY_FOR {
            set_failed(shared, format!("sealing shard {shard} failed: {err}"));
            return;
        }
        if failures == 1 {
            tracing::warn!(
                target: "haetae::audit",
                shard,
                reason = %err,
                "residency log: sealing a rotated shard failed; retrying (its journal is kept until it is sealed)"
            );
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if closing.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Replace `checkpoint` with `note` and append it to the archive, both fsynced. The checkpoint first, then the
/// archive: a crash in between leaves the archive one checkpoint behind (harmless), never ahead of the published
/// checkpoint.
fn write_checkpoint_files(dir: &Path, note: &str) -> Result<(), AuditError> {
    write_atomic(dir, CHECKPOINT_FILE, note.as_bytes(), true)?;
    let archive = dir.join(ARCHIVE_FILE);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&archive)
        .map_err(|e| AuditError::io(&archive, e))?;
    f.write_all(format!("{}\n{note}", note.len()).as_bytes())
        .map_err(|e| AuditError::io(&archive, e))?;
    f.sync_data().map_err(|e| AuditError::io(&archive, e))
}

/// Leaves collected before they are handed to the tile thread in one message: one tile's width. Waking the thread
/// for every small commit cost a context switch per request; tiles are derived data (rebuilt from the journal on
/// open), and every publication hands over what is pending first, so only the moment tiles reach the disk moves.
const HANDOFF_LEAVES: usize = 256;
/// Pending frame bytes that hand over at once (bounds the copy kept in the writer).
const HANDOFF_BYTES: usize = 1 << 20;

/// Handle of the tile thread: full tiles and entry bundles are written off the commit path.
struct Tiler {
    tx: Option<SyncSender<TileMsg>>,
    thread: Option<JoinHandle<()>>,
    /// Batch buffers handed back by the tile thread (megabytes each; reallocating per batch showed in profiles).
    spare: Receiver<Vec<u8>>,
    /// Frames of small commits not handed over yet, and their leaves (ranges into `pending`).
    pending: Vec<u8>,
    pending_leaves: Vec<(Range<usize>, Hash)>,
    /// The last small commit's buffer, its frames copied into `pending`: reused by the next commit.
    local_spare: Option<Vec<u8>>,
}

impl Tiler {
    fn start(
        dir: PathBuf,
        mut tiles: TileBuilder,
        shared: Arc<Mutex<SharedState>>,
    ) -> Result<Self, AuditError> {
        // A few batches of slack; when the tile thread falls further behind, the writer waits (back-pressure).
        let (tx, rx) = mpsc::sync_channel::<TileMsg>(4);
        let (spare_tx, spare) = mpsc::channel::<Vec<u8>>();
        let thread = std::thread::Builder::new()
            .name("haetae-audit-tiles".into())
            .spawn(move || {
                // Set only when the log failed (write backlog over its bound, or a leaf no bundle can hold): the
                // thread then stops writing. Write errors below that are transient: the files stay queued in the
                // builder and are retried with the next leaves or publication.
                let mut failed: Option<String> = None;
                let behind = |tiles: &TileBuilder, e: &AuditError, failed: &mut Option<String>| {
                    if tiles.backlog_bytes() > MAX_TILE_BACKLOG {
                        let reason = format!(
                            "tile write failed: {e} ({} bytes of tiles could not be written)",
                            tiles.backlog_bytes()
                        );
                        set_failed(&shared, reason.clone());
                        *failed = Some(reason);
                    } else {
                        set_degraded(&shared, format!("tile write failed: {e}"));
                    }
                };
                for msg in rx {
                    match msg {
                        TileMsg::Leaves(frames, leaves) => {
                            if failed.is_some() {
                                continue;
                            }
                            for (range, hash) in leaves {
                                let data = frames.get(range).unwrap_or_default();
                                if let Err(e) = tiles.push(&dir, data, hash, false) {
                                    let reason = format!("tile write failed: {e}");
                                    set_failed(&shared, reason.clone());
                                    failed = Some(reason);
                                    break;
                                }
                            }
                            let _ = spare_tx.send(frames);
                            if failed.is_none() {
                                if let Err(e) = tiles.flush(&dir) {
                                    behind(&tiles, &e, &mut failed);
                                }
                            }
                        }
                        TileMsg::Partials(reply) => {
                            let result = match &failed {
                                Some(reason) => Err(AuditError::Failed(reason.clone())),
                                None => tiles.write_partials(&dir),
                            };
                            if let (Err(e), None) = (&result, &failed) {
                                behind(&tiles, e, &mut failed);
                            }
                            let _ = reply.send(result);
                        }
                        TileMsg::Publish(note, size) => {
                            if failed.is_some() {
                                continue;
                            }
                            let written = tiles
                                .write_partials(&dir)
                                .and_then(|()| write_checkpoint_files(&dir, &note));
                            match written {
                                Ok(()) => {
                                    {
                                        let mut s = lock(&shared);
                                        s.health.checkpoint_size = size;
                                        s.stats.checkpoints += 1;
                                    }
                                    clear_degraded(&shared);
                                }
                                Err(e) => {
                                    // Not published: the writer signs the then-current size again at its next
                                    // checkpoint time.
                                    lock(&shared).publish_failed = true;
                                    if tiles.backlog_bytes() > MAX_TILE_BACKLOG {
                                        behind(&tiles, &e, &mut failed);
                                    } else {
                                        set_degraded(
                                            &shared,
                                            format!("checkpoint publication failed: {e}"),
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
                // Closing: a last attempt at what is still queued (a failure is repaired by the next open).
                if failed.is_none() {
                    let _ = tiles.flush(&dir);
                }
            })
            .map_err(|e| AuditError::Failed(format!("cannot start the tile thread: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            spare,
            pending: Vec::new(),
            pending_leaves: Vec::new(),
            local_spare: None,
        })
    }

    /// An empty batch buffer, reusing one the tile thread (or the pending copy) is done with when there is one.
    fn spare_buffer(&mut self) -> Vec<u8> {
        let mut buf = self
            .local_spare
            .take()
            .or_else(|| self.spare.try_recv().ok())
            .unwrap_or_default();
        buf.clear();
        buf
    }

    fn send(&self, msg: TileMsg) -> Result<(), AuditError> {
        self.tx
            .as_ref()
            .ok_or(AuditError::Closed)?
            .send(msg)
            .map_err(|_| AuditError::Failed("the tile thread has stopped".into()))
    }

    /// Take a committed batch's frames and leaves. A batch of a tile's width (or a megabyte) goes to the tile thread
    /// as it is; smaller ones are copied into the pending buffer, which is handed over once it holds that much.
    fn push(
        &mut self,
        frames: Vec<u8>,
        leaves: Vec<(Range<usize>, Hash)>,
    ) -> Result<(), AuditError> {
        if self.pending_leaves.is_empty()
            && (leaves.len() >= HANDOFF_LEAVES || frames.len() >= HANDOFF_BYTES)
        {
            return self.send(TileMsg::Leaves(frames, leaves));
        }
        let base = self.pending.len();
        self.pending.extend_from_slice(&frames);
        self.pending_leaves.extend(
            leaves
                .into_iter()
                .map(|(r, h)| (r.start + base..r.end + base, h)),
        );
        self.local_spare = Some(frames);
        if self.pending_leaves.len() >= HANDOFF_LEAVES || self.pending.len() >= HANDOFF_BYTES {
            self.hand_over()
        } else {
            Ok(())
        }
    }

    /// Send the pending leaves to the tile thread (nothing when none are pending).
    fn hand_over(&mut self) -> Result<(), AuditError> {
        if self.pending_leaves.is_empty() {
            return Ok(());
        }
        let mut next = self.spare.try_recv().unwrap_or_default();
        next.clear();
        let frames = std::mem::replace(&mut self.pending, next);
        let leaves = std::mem::take(&mut self.pending_leaves);
        self.send(TileMsg::Leaves(frames, leaves))
    }

    /// Hand over a signed checkpoint to be written after the partial tiles of every leaf committed so far.
    fn publish(&mut self, note: String, size: u64) -> Result<(), AuditError> {
        self.hand_over()?;
        self.send(TileMsg::Publish(note, size))
    }

    /// Wait until every leaf committed so far is in its tile/bundle, and write the partial tiles.
    fn write_partials(&mut self) -> Result<(), AuditError> {
        self.hand_over()?;
        let (rtx, rrx) = mpsc::sync_channel(1);
        self.send(TileMsg::Partials(rtx))?;
        rrx.recv()
            .unwrap_or_else(|_| Err(AuditError::Failed("the tile thread has stopped".into())))
    }
}

impl Drop for Tiler {
    fn drop(&mut self) {
        // Pending leaves still reach their tiles (derived data: a failure here is repaired on the next open).
        let _ = self.hand_over();
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
