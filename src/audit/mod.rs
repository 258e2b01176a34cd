//! The residency proof log: a signed transparency log of request outcomes that auditors verify offline.
//!
//! * [`merkle`] — RFC 6962 / 9162 hashing, inclusion and consistency proofs.
//! * [`tiles`] — C2SP `tlog-tiles` layout (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`).
//! * [`note`] — C2SP signed notes and `tlog-checkpoint` bodies (Ed25519, Go `sumdb/note` key format).
//! * [`record`] — leaf records ([`ResidencyRecord`], [`ChangeRecord`]) as canonical JSON, keyed digests.
//! * [`writer`] — [`AuditLog`]: journal with group commit, tiles, periodic signed checkpoints, fail-closed health.
//! * [`verify`] — offline verification of a log directory, `tlog-proof` generation and checking, export, reports.
//!
//! Must never: store raw request or response content (records carry counts, names and HMAC digests only), log
//! key material, or depend on other modules of this crate.

use std::path::{Path, PathBuf};

pub mod merkle;
pub mod note;
pub mod record;
pub mod tiles;
pub mod verify;
pub mod writer;

pub use merkle::{Hash, MemoryTree};
pub use note::{Checkpoint, NoteSigner, NoteVerifier};
pub use record::{
    ChangeRecord, ContentDigester, DestinationInfo, DigestKey, Entry, LogLeaf, ResidencyRecord,
    TokenUsage,
};
pub use verify::{TlogProof, VerifyReport};
pub use writer::{
    AuditLog, AuditOptions, AuditStats, Durability, Health, Pending, Receipt, Recovery,
};

/// Errors of the residency log. Messages name files, indexes and reasons — never record content or key material.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A signing or verifier key is malformed or does not match.
    #[error("key: {0}")]
    Key(String),
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
    /// The log was closed.
    #[error("residency log is closed")]
    Closed,
    /// Invalid options.
    #[error("configuration: {0}")]
    Config(String),
}

impl AuditError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        AuditError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// First bad leaf index, for corruption errors.
    pub fn bad_index(&self) -> Option<u64> {
        match self {
            AuditError::Corrupt { index, .. } => *index,
            _ => None,
        }
    }
}
