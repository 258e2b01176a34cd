//! The shift-or filter's candidate search 64 bytes at a time, on CPUs with AVX-512 VBMI (the kernel is
//! `avx512::Avx512::trigger_blocks`; this module only lays out its tables).
//!
//! The scalar filter reads one byte at a time: `d = (d << 16) | masks[byte]`, a candidate end wherever the top lane
//! of `d` has a clear bit. Unrolled, the top lane after byte `i` is the OR over `k` in `0..4` of lane `3 - k` of
//! `masks[text[i - k]]`: four lookups of independent bytes. Here each lane is two 256-entry byte tables (buckets 0–7
//! and 8–15), and `vpermi2b` looks up 64 bytes in 128 entries at once, so a table is two `vpermi2b` and a blend on the
//! byte's top bit. Per 64 bytes: four unaligned loads (the text at `i`, `i - 1`, `i - 2`, `i - 3`), eight lookups, six
//! ORs and two compares give a bit mask of the candidate ends in the block: exactly the set the scalar loop finds there
//! (not an approximation like Teddy's nibble tables, whose extra candidates cost more to verify than the scan saved
//! on this literal set: benches/detect.md, round 8).
//!
//! Must never: report a block mask that differs from the scalar loop's candidate ends (`wide_and_scalar_agree`).

use super::super::avx512::{Avx512, BEFORE};
use super::{LANES, LANE_BITS, LANE_MASK};

/// The filter's lanes as byte tables, with the token that the CPU runs the kernel.
#[derive(Debug)]
pub(super) struct Wide {
    /// `tables[2 * k + h][c]`: half `h` (0: buckets 0–7, 1: 8–15) of the lane at distance `k` from a candidate end,
    /// for byte `c` (a set bit rules the bucket out).
    tables: Box<[[u8; 256]; 8]>,
    cpu: Avx512,
}

impl Wide {
    /// The wide search for a filter's per-byte masks (`lane(k)` of `masks[c]`: bits `(3 - k) * 16 ..`), or `None`
    /// when this CPU lacks AVX-512 F, BW or VBMI.
    pub(super) fn new(masks: &[u64; 256]) -> Option<Wide> {
        let cpu = Avx512::detect()?;
        let mut tables = Box::new([[0u8; 256]; 8]);
        for (c, &m) in masks.iter().enumerate() {
            for k in 0..LANES {
                let lane = (m >> ((LANES - 1 - k) as u32 * LANE_BITS)) & LANE_MASK;
                tables[2 * k][c] = (lane & 0xFF) as u8;
                tables[2 * k + 1][c] = (lane >> 8) as u8;
            }
        }
        Some(Wide { tables, cpu })
    }

    /// Heap memory of the tables.
    pub(super) fn memory_usage(&self) -> usize {
        std::mem::size_of::<[[u8; 256]; 8]>()
    }

    /// The first block from `at` on (stepping 64 bytes) with a candidate end: `(block start, mask)`, bit `j` of the
    /// mask set when a candidate ends after byte `start + j` (the scalar filter's `end = start + j + 1`). The mask is
    /// 0 when no whole block from `at` on has one; the start is then the first byte left to the scalar loop. Needs
    /// `at >= 3`: a block's lookups read the three bytes before it.
    #[inline]
    pub(super) fn next_block(&self, hay: &[u8], at: usize) -> (usize, u64) {
        debug_assert!(at >= BEFORE);
        self.cpu.trigger_blocks(&self.tables, hay, at)
    }
}
