//! Fuzz the residency log's journal recovery: arbitrary bytes as a shard's journal, read the way `verify` reads it,
//! checked the way completing an interrupted seal checks the next shard's chain record, and replayed the way
//! `AuditLog::open` replays the open shard (frame headers, lengths, MACs, a torn or zero-filled tail, the old
//! `HAETAEJ1` format and its conversion, leaf times, tiles rebuilt on disk). None may panic or allocate more than a
//! validated length; each either recovers (a number of entries) or returns an error.
//!
//! The first input byte picks the variant; the rest is the journal (or what follows its header):
//! * `0` — the bytes as they are (raw: headers, origins and magic numbers of any shape);
//! * `1` / `2` — a valid format-2 / format-1 header of the shard, then the bytes (raw frames);
//! * `3` — a valid format-2 header, then frames with *valid* MACs around leaves cut from the input (a `u8` length
//!   before each; the fuzzer cannot forge a MAC, so this is how it reaches the checks after the MAC: leaf times,
//!   tiles, many frames), then whatever input is left as a raw tail (torn frame, zeros, a forged frame).
//!
//! Bit 7 of the first byte selects shard 1 instead of shard 0 (another origin and frame key).
//!
//! Seeds (not committed, like every corpus): `fuzz/run-all.sh` writes a few into `corpus/journal_replay/` — an
//! empty journal with a valid header, one frame of a real leaf in variant 3, and a format-1 header.
#![no_main]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use haetae::audit::writer::fuzzing;
use haetae::audit::NoteSigner;
use libfuzzer_sys::fuzz_target;

fn signer() -> &'static NoteSigner {
    static S: OnceLock<NoteSigner> = OnceLock::new();
    S.get_or_init(|| NoteSigner::generate("fuzz.example/journal").expect("key"))
}

/// A fresh directory per input (no extra dependency; removed afterwards).
fn fresh_dir() -> Option<PathBuf> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "haetae-fuzz-journal-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let shard = u64::from(mode >> 7);
    let s = signer();
    let journal = match mode & 0x7f {
        0 => rest.to_vec(),
        1 => [fuzzing::header(s, shard, false), rest.to_vec()].concat(),
        2 => [fuzzing::header(s, shard, true), rest.to_vec()].concat(),
        3 => {
            let mut j = fuzzing::header(s, shard, false);
            let mut rest = rest;
            let mut index = 0u64;
            while let Some((&len, tail)) = rest.split_first() {
                let len = usize::from(len);
                if len == 0 || tail.len() < len {
                    break;
                }
                let (leaf, more) = tail.split_at(len);
                j.extend(fuzzing::frame(s, shard, index, leaf));
                index += 1;
                rest = more;
            }
            j.extend_from_slice(rest);
            j
        }
        _ => return,
    };
    let Some(dir) = fresh_dir() else {
        return;
    };
    // Recover or refuse; either is fine, a panic is not. When it recovers, the paths must agree: every frame
    // replay adopted is a complete frame verify reads too, the first of them is what a seal reads, and the
    // recovered journal replays to the same entries without being cut again.
    let outcome = fuzzing::replay_journal(&dir, s, shard, &journal);
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(o) = outcome {
        match &o.verify_reads {
            Ok(read) => assert!(*read >= o.entries, "{o:?}"),
            Err(_) => assert_eq!(o.entries, 0, "{o:?}"),
        }
        if o.entries > 0 {
            assert_eq!(o.first_leaf.as_ref().ok().cloned().flatten(), o.replayed_first_leaf, "{o:?}");
        }
        assert_eq!(o.again, Ok((o.entries, 0)), "{o:?}");
    }
});
