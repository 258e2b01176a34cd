//! Fuzz the residency log's parsers of untrusted bytes: signed notes / checkpoints, tlog-proofs, entry bundles,
//! tiles, the checkpoint archive and leaf records. None may panic; successful parses must round-trip.
#![no_main]

use haetae::audit::note::{split_note, Checkpoint};
use haetae::audit::record::{parse_leaf, to_canonical_json};
use haetae::audit::tiles::{decode_bundle, decode_tile, encode_bundle};
use haetae::audit::verify::parse_archive;
use haetae::audit::TlogProof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = decode_bundle(data) {
        assert_eq!(encode_bundle(entries.iter().copied()).ok().as_deref(), Some(data));
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
});
