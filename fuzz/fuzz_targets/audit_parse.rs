//! Fuzz the residency log's parsers of untrusted bytes: signed notes / checkpoints, tlog-proofs, entry bundles,
//! tiles, the checkpoint archive and leaf records. None may panic; successful parses must round-trip. The checks
//! are the same file the `tests/audit_parse.rs` property test runs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/audit_parse_checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_all(data));
