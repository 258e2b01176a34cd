//! The checks shared by `tests/audit_parse.rs` (proptest) and `fuzz/fuzz_targets/audit_parse.rs` (libFuzzer): every
//! parser of untrusted residency-log bytes runs on `data`; none may panic, and each successful parse must round-trip.
//! Included by path from both, so the property and the fuzz target cannot drift apart.

use haetae::audit::note::{split_note, Checkpoint};
use haetae::audit::record::{parse_leaf, to_canonical_json};
use haetae::audit::tiles::{decode_bundle, decode_tile, encode_bundle};
use haetae::audit::verify::parse_archive;
use haetae::audit::TlogProof;

/// Run every parser on `data` and assert the round-trips.
pub fn check_all(data: &[u8]) {
    if let Ok(entries) = decode_bundle(data) {
        assert_eq!(
            encode_bundle(entries.iter().copied()).ok().as_deref(),
            Some(data)
        );
    }
    let _ = decode_tile(data, (data.len() / 32) as u64);
    let _ = parse_archive(data);
    if let Ok(leaf) = parse_leaf(data) {
        assert_eq!(to_canonical_json(&leaf).ok().as_deref(), Some(data));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = split_note(text);
        if let Ok(cp) = Checkpoint::parse_text(text) {
            assert_eq!(Checkpoint::parse_text(&cp.to_text()).ok(), Some(cp));
        }
        if let Ok(p) = TlogProof::parse(text) {
            assert_eq!(TlogProof::parse(&p.to_text()).ok(), Some(p));
        }
    }
}
