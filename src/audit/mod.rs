//! The residency proof log: RFC 6962 Merkle tree, C2SP tlog-tiles storage, signed checkpoints, proofs, verification.
//!
//! Must never: store raw request or response content, or depend on other modules of this crate.
