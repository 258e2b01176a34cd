//! The residency proof log: a signed transparency log of request outcomes that auditors verify offline.
//!
//! * [`merkle`] — RFC 6962 / 9162 hashing, inclusion and consistency proofs.
//! * [`tiles`] — C2SP `tlog-tiles` layout (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`).
//! * [`note`] — C2SP signed notes and `tlog-checkpoint` bodies (Ed25519, Go `sumdb/note` key format).
//! * [`record`] — leaf records ([`ResidencyRecord`], [`ChangeRecord`]) as canonical JSON, keyed digests.
//! * [`writer`] — [`AuditLog`]: journal with group commit, tiles, periodic signed checkpoints, fail-closed health.
//! * [`verify`] — offline verification of a log directory, `tlog-proof` generation and checking, export, reports.
//! * [`shard`] — rotation layout (shard 0 = the directory, shard k = `shards/<k>/`), sealing, chaining, `prune`.
//!
//! Wiring it into a request path (the proxy decides *when* to await, see [`Durability`]):
//!
//! ```no_run
//! # async fn demo() -> Result<(), haetae::audit::AuditError> {
//! use haetae::audit::{AuditLog, AuditOptions, DigestKey, NoteSigner, ResidencyRecord};
//! let signer = NoteSigner::from_private_key_string(&std::fs::read_to_string("/etc/haetae/audit.key").unwrap_or_default())?;
//! let log = std::sync::Arc::new(AuditLog::open("/var/lib/haetae/audit", AuditOptions::new(signer, "gw-1"))?);
//! let keys = DigestKey::from_secret(b"deployment secret from config")?;
//! let mut digest = keys.digester();
//! digest.update(b"forwarded body chunk"); // per chunk, as it streams
//! let record = ResidencyRecord {
//!     request_id: "req-1".into(),
//!     client: keys.client_pseudonym("gateway-key-id"),
//!     request_digest: Some(digest.finalize()),
//!     outcome: "forwarded".into(),
//!     ..Default::default()
//! };
//! let receipt = log.append_request(record).await?; // before-forward: refuse the request on Err
//! let _header = receipt.header_value(); // "<origin> <index> <base64 leaf hash>"
//! assert!(log.health().is_ready()); // for /readyz
//! # Ok(()) }
//! ```
//!
//! Must never: store raw request or response content (records carry counts, names and HMAC digests only), log
//! key material, or depend on other modules of this crate.

use std::path::{Path, PathBuf};

pub mod merkle;
pub mod note;
pub mod record;
pub mod shard;
pub mod tiles;
pub mod verify;
pub mod writer;

pub use merkle::{Hash, MemoryTree};
pub use note::{Checkpoint, NoteSigner, NoteVerifier};
pub use record::{
    ChangeRecord, ContentDigester, DestinationInfo, DigestKey, Entry, LogLeaf, ResidencyRecord,
    ShardLink, TokenUsage,
};
pub use shard::{prune, PruneOptions, PruneReport};
pub use verify::{LeafRef, ShardReport, TlogProof, VerifyReport};
pub use writer::{
    AuditLog, AuditOptions, AuditStats, Durability, Health, Pending, Receipt, Recovery,
};

/// Errors of the residency log. Messages name files, indexes and reasons — never record content or key material.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file operation failed.
    // The message includes the I/O error, so it is not also exposed as `source()`: a `{:#}` chain would repeat it.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A signing or verifier key is malformed or does not match.
    #[error("key: {0}")]
    Key(String),
    /// A signed note (checkpoint) carries no signature by the verifier key: the log was signed with another key
    /// (a stale or wrong verifier key), which is not by itself a sign of tampering.
    #[error(
        "the checkpoint is not signed by this key: the verifier key is {expected}, the note is signed by {found} \
         (no signature by key {expected}; check that the verifier key is this log's, e.g. `haetae audit pubkey`)"
    )]
    WrongKey {
        /// The verifier key's `name+id`.
        expected: String,
        /// The `name+id` of each signature the note carries.
        found: String,
    },
    /// The log directory has no published checkpoint (`checkpoint` is missing).
    #[error(
        "the log has no published checkpoint: {} does not exist (not a log directory, or a log that never \
         published a checkpoint)",
        .0.display()
    )]
    NoCheckpoint(PathBuf),
    /// A signed note or checkpoint is malformed or its signature does not verify.
    #[error("signed note: {0}")]
    Note(String),
    /// A proof cannot be built or does not verify.
    #[error("proof: {0}")]
    Proof(String),
    /// A record cannot be encoded or decoded.
    #[error("record: {0}")]
    Record(String),
    /// A record is larger than an entry bundle can hold.
    #[error("record of {0} bytes exceeds the 65535-byte entry limit")]
    RecordTooLarge(usize),
    /// The log's stored data is inconsistent; `index` is the first bad leaf index when it can be named.
    #[error("log is corrupt{}: {reason}", index.map(|i| format!(" at index {i}")).unwrap_or_default())]
    Corrupt {
        /// First bad leaf index, when known.
        index: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// The log hit a write failure (disk full, I/O error, size limit) and refuses appends: fail closed.
    #[error("residency log has failed and refuses appends: {0}")]
    Failed(String),
    /// A checkpoint could not be written (e.g. no file descriptor left): the log is degraded, not failed — it keeps
    /// accepting records and publishes again at its next checkpoint time.
    #[error("checkpoint not published (the log keeps recording; retried): {0}")]
    Unpublished(String),
    /// The log was closed.
    #[error("residency log is closed")]
    Closed,
    /// Invalid options.
    #[error("configuration: {0}")]
    Config(String),
    /// A time bound (export `--from`/`--to`, `/export?from=&to=`) that is neither `YYYY-MM-DD` nor an RFC 3339
    /// time.
    #[error(
        "time {0:?} is neither a date YYYY-MM-DD nor an RFC 3339 time such as 2026-11-29T09:35:01+09:00 or \
         2026-11-29T00:35:01Z"
    )]
    TimeBound(String),
    /// An error inside one shard of a rotated log: names the shard (and, through the inner error, the first bad
    /// index within it).
    #[error("shard {shard}: {error}")]
    Shard {
        /// Shard number (0 = the log directory itself).
        shard: u64,
        /// What is wrong in that shard.
        error: Box<AuditError>,
    },
    /// Another process (or another [`AuditLog`] in this process) holds the log directory's writer lock: two
    /// writers on one directory would interleave journal frames and fork the tree.
    #[error(
        "residency log directory {} is already in use by another writer{}; each gateway instance needs its own \
         log directory",
        dir.display(),
        holder.as_ref().map(|h| format!(" ({h}, per its lock file)")).unwrap_or_default()
    )]
    Locked {
        /// The log directory.
        dir: PathBuf,
        /// What the lock file says about its holder (`pid N`), when readable.
        holder: Option<String>,
    },
}

impl AuditError {
    pub(crate) fn io(path: &Path, error: std::io::Error) -> Self {
        AuditError::Io {
            path: path.to_path_buf(),
            error,
        }
    }

    /// First bad leaf index, for corruption errors.
    pub fn bad_index(&self) -> Option<u64> {
        match self {
            AuditError::Corrupt { index, .. } => *index,
            AuditError::Shard { error, .. } => error.bad_index(),
            _ => None,
        }
    }

    /// The shard an error is in, when it names one.
    pub fn bad_shard(&self) -> Option<u64> {
        match self {
            AuditError::Shard { shard, .. } => Some(*shard),
            _ => None,
        }
    }

    /// Wrap an error as belonging to shard `shard` (errors that already name a shard are kept as they are).
    pub fn in_shard(self, shard: u64) -> Self {
        match self {
            e @ AuditError::Shard { .. } => e,
            e => AuditError::Shard {
                shard,
                error: Box::new(e),
            },
        }
    }
}
