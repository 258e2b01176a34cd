//! AVX-512 kernels of the engine's byte passes, 64 bytes at a time: the only `unsafe` code in the crate.
//!
//! Three kernels, loops over whole 64-byte blocks:
//! - [`Avx512::trigger_blocks`]: the shift-or trigger filter's candidate ends (see `shift_or::wide`), by exact
//!   256-entry byte tables (`vpermi2b` twice and a blend per table); stops at the first block with one.
//! - [`Avx512::run_start_blocks`]: the digit-run starts of `DigitRuns` (`+`, `(`, or a digit after a non-digit),
//!   two compares and a subtraction a block against ~65 SSE2 instructions in `byte_class`; stops at the first block
//!   with one.
//! - [`Avx512::anchor_positions`]: every position of four anchor bytes (the code scanners' `@`, `%`, `:`, `(`), of
//!   the normaliser's seven lead bytes, and of every run of five dashes (PEM armour), in one pass, where `memchr` and
//!   `memmem` made one pass per byte or pair: on a text larger than the L2 cache each pass streams it from memory
//!   again.
//!
//! They are used only through an [`Avx512`] token, which [`Avx512::detect`] makes when the CPU has AVX-512 F, BW and
//! VBMI (checked at run time, once per process; `HAETAE_DETECT_PORTABLE=1` turns them off); elsewhere the portable
//! code runs. Every `unsafe` here is either a load of 64 bytes from a slice just bounds-checked, or a call of a
//! `#[target_feature]` function that the token proves the CPU runs. Tests compare the kernels with the portable code:
//! `wide_and_scalar_agree` (the filter), `DigitRuns`' proptest, `anchor_positions_match_plain_loops`,
//! `avx512_and_portable_scans_agree` (whole engines over the detector vectors and random mixes of anchors, folds and
//! PEM armour) and `anchors_past_the_cap_are_searched_as_before`. Measured in `benches/detect.md`, rounds 29 and 32
//! (valgrind hides AVX-512, so callgrind counts the portable code).
//!
//! Must never: read outside a slice it is given, or run on a CPU without the features (the token has no other
//! constructor).
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m512i, _mm512_cmpeq_epi8_mask, _mm512_cmplt_epu8_mask, _mm512_cmpneq_epi8_mask,
    _mm512_loadu_si512, _mm512_mask_blend_epi8, _mm512_maskz_loadu_epi8, _mm512_movepi8_mask,
    _mm512_or_si512, _mm512_permutex2var_epi8, _mm512_set1_epi8, _mm512_sub_epi8,
    _mm512_test_epi8_mask,
};

/// The anchor bytes of [`Avx512::anchor_positions`] and the lists they fill.
pub(super) const ANCHORS: usize = 4;
/// The scanners' anchors, indexed by `scanners::Anchor`: `@` and `%40` (e-mail), `:` (IPv6, colon labels,
/// `.pgpass`), `(` (basic-auth tuples). Their first bytes must not be 0 (the text's last partial block is read
/// zero-padded).
pub(super) const ANCHOR_BYTES: [&[u8]; ANCHORS] = [b"@", b"%40", b":", b"("];
/// The lists [`Avx512::anchor_positions`] fills: one per anchor byte, then [`FOLDS`] and [`DASHES`].
pub(super) const LISTS: usize = ANCHORS + 2;
/// The list of every byte that may begin a character or escape the normaliser folds ([`FOLD_BYTES`]).
pub(super) const FOLDS: usize = ANCHORS;
/// The list of every start of five `-` in a row (a PEM header's or footer's dashes; overlapping runs each listed).
pub(super) const DASHES: usize = ANCHORS + 1;
/// The bytes of the [`FOLDS`] list.
pub(super) const FOLD_BYTES: [u8; 7] = crate::detect::normalize::LEAD_BYTES;

/// The environment variable that keeps the portable code for a process when set to anything but `0` (read once, by
/// [`Avx512::detect`]; the gateway's configuration loader knows it is not a settings key).
pub const PORTABLE_ENV: &str = "HAETAE_DETECT_PORTABLE";

/// Bytes per block.
pub(super) const BLOCK: usize = 64;

/// 1 at every byte that begins something [`Avx512::anchor_positions`] lists: the anchors' first bytes,
/// [`FOLD_BYTES`] and `-`. Built at compile time (built per call, it was a third of a short segment's pass).
static LISTED: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < ANCHORS {
        t[ANCHOR_BYTES[i][0] as usize] = 1;
        i += 1;
    }
    let mut i = 0;
    while i < FOLD_BYTES.len() {
        t[FOLD_BYTES[i] as usize] = 1;
        i += 1;
    }
    t[b'-' as usize] = 1;
    t
};
/// Bytes before a block that the trigger filter's lookups read (its lanes minus one).
pub(super) const BEFORE: usize = 3;

/// Proof that this CPU runs the kernels: made only by [`Avx512::detect`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx512(());

impl Avx512 {
    /// The token when the CPU has AVX-512 F, BW and VBMI and the environment variable `HAETAE_DETECT_PORTABLE` is
    /// unset or `0` (set, it keeps the portable code for a whole process: to compare the two paths, or to rule the
    /// kernels out when diagnosing). Decided once per process.
    #[inline]
    pub(super) fn detect() -> Option<Avx512> {
        #[cfg(test)]
        if PORTABLE.with(std::cell::Cell::get) {
            return None;
        }
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        AVAILABLE
            .get_or_init(|| {
                std::env::var_os(PORTABLE_ENV).is_none_or(|v| v == "0") && cpu_has_features()
            })
            .then_some(Avx512(()))
    }

    /// The first block from `at` on (stepping 64 bytes) with a trigger candidate end: `(block start, mask)`, bit `j`
    /// of the mask set when a candidate ends after byte `start + j`. `tables[2 * k + h][c]` is half `h` (buckets 0–7,
    /// 8–15) of the filter's lane at distance `k` from an end, for byte `c`; a set bit rules the bucket out. The mask
    /// is 0 when no whole block from `at` on has a candidate; the start is then the first byte left over. A block
    /// needs the three bytes before it, so nothing is read while `at < 3`.
    #[inline]
    pub(super) fn trigger_blocks(
        self,
        tables: &[[u8; 256]; 8],
        hay: &[u8],
        at: usize,
    ) -> (usize, u64) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: the token exists only when `detect` found every feature `trigger_blocks_k` is compiled for.
            unsafe { trigger_blocks_k(tables, hay, at) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (tables, hay);
            (at, 0)
        }
    }

    /// The first block from `at` on with a digit-run start: `(block start, mask, carry)`, bit `i` of the mask set when
    /// byte `start + i` is `+`, `(`, or a digit whose previous byte is not (`carry`: 1 when the byte before `at` is a
    /// digit). The returned carry is that of the byte before the block after the returned one. The last block may be
    /// partial (read zero-padded). The mask is 0 when no block from `at` on has a start; the start is then at or past
    /// the end of `hay`.
    #[inline]
    pub(super) fn run_start_blocks(self, hay: &[u8], at: usize, carry: u64) -> (usize, u64, u64) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: as in `trigger_blocks`.
            unsafe { run_start_blocks_k(hay, at, carry) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = hay;
            (at, 0, carry)
        }
    }

    /// Append the position of every occurrence in `hay` of `ANCHOR_BYTES[c]` to `lists[c]`, of every byte of
    /// [`FOLD_BYTES`] to `lists[FOLDS]`, and of every start of five `-` to `lists[DASHES]`, in order (each list is
    /// cleared first), up to `cap` positions a list: a list that reaches `cap` is incomplete (the caller then
    /// searches for it itself), which bounds the memory a text made of one anchor byte can take. An anchor is a byte
    /// found by the pass, and the bytes that must follow it (`%40`), compared when it is listed, while its block is
    /// in the cache: a scanner reading them later, from a text larger than the cache, waits on memory for each.
    pub(super) fn anchor_positions(self, hay: &[u8], lists: &mut [Vec<usize>; LISTS], cap: usize) {
        for l in lists.iter_mut() {
            l.clear();
        }
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: as in `trigger_blocks`.
            unsafe { anchor_positions_k(hay, lists, cap) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (hay, cap);
        }
    }
}

/// Whether this CPU runs the kernels.
fn cpu_has_features() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
std::thread_local! {
    /// Tests: this thread builds and scans with the portable code ([`portable`]).
    static PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Tests: run `f` with the portable code on this thread (engines built inside have no kernels either).
#[cfg(test)]
pub(super) fn portable<R>(f: impl FnOnce() -> R) -> R {
    PORTABLE.with(|p| p.set(true));
    let r = f();
    PORTABLE.with(|p| p.set(false));
    r
}

/// 64 bytes of `p` from byte `at` (bounds-checked).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn load(p: &[u8], at: usize) -> __m512i {
    let s = &p[at..at + BLOCK];
    // SAFETY: `s` is 64 readable bytes (the slicing above is bounds-checked); the load is unaligned.
    unsafe { _mm512_loadu_si512(s.as_ptr().cast()) }
}

/// The bytes of `p` from `at` to its end, zero-padded to a block (a masked load: the bytes past the end are not read).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn load_tail(p: &[u8], at: usize) -> __m512i {
    let s = &p[at..];
    let k = if s.len() >= BLOCK {
        !0u64
    } else {
        (1u64 << s.len()) - 1
    };
    // SAFETY: the mask selects only bytes inside `s` (at most its first 64): AVX-512 neither reads nor faults on the
    // bytes masked off, which it sets to 0.
    unsafe { _mm512_maskz_loadu_epi8(k, s.as_ptr().cast()) }
}

/// Look up every byte of `v` in the 256-byte table `t`; `high` marks the bytes ≥ 128.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
#[inline]
fn lookup(t: &[u8; 256], v: __m512i, high: u64) -> __m512i {
    // `vpermi2b` reads the index's low 7 bits: bit 6 picks the second register of the pair.
    let low = _mm512_permutex2var_epi8(load(t, 0), v, load(t, 64));
    let up = _mm512_permutex2var_epi8(load(t, 128), v, load(t, 192));
    _mm512_mask_blend_epi8(high, low, up)
}

/// [`Avx512::trigger_blocks`]: four loads, eight lookups and two compares a block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn trigger_blocks_k(tables: &[[u8; 256]; 8], hay: &[u8], mut at: usize) -> (usize, u64) {
    let all = _mm512_set1_epi8(-1);
    while at >= BEFORE && at + BLOCK <= hay.len() {
        let bytes = &hay[at - BEFORE..at + BLOCK];
        // Read the tables afresh in each block: hoisted out of the loop, their 32 registers were spilled to the stack
        // (2 KiB copied per call) instead of being read as memory operands of `vpermi2b`.
        let tables = std::hint::black_box(tables);
        let mut lo = _mm512_set1_epi8(0);
        let mut hi = _mm512_set1_epi8(0);
        for k in 0..4 {
            // The text at distance `k` before each position of the block.
            let v = load(bytes, BEFORE - k);
            let high = _mm512_movepi8_mask(v);
            lo = _mm512_or_si512(lo, lookup(&tables[2 * k], v, high));
            hi = _mm512_or_si512(hi, lookup(&tables[2 * k + 1], v, high));
        }
        let m = _mm512_cmpneq_epi8_mask(lo, all) | _mm512_cmpneq_epi8_mask(hi, all);
        if m != 0 {
            return (at, m);
        }
        at += BLOCK;
    }
    (at, 0)
}

/// [`Avx512::run_start_blocks`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn run_start_blocks_k(hay: &[u8], mut at: usize, mut carry: u64) -> (usize, u64, u64) {
    let zero = _mm512_set1_epi8(b'0' as i8);
    let ten = _mm512_set1_epi8(10);
    let plus = _mm512_set1_epi8(b'+' as i8);
    let open = _mm512_set1_epi8(b'(' as i8);
    while at < hay.len() {
        // The last partial block zero-padded: a 0 byte is neither a digit, `+` nor `(`.
        let v = if at + BLOCK <= hay.len() {
            load(hay, at)
        } else {
            load_tail(hay, at)
        };
        // `'0'..='9'` move to 0..=9 (wrapping), every other byte above: one unsigned compare tests the range.
        let digits = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v, zero), ten);
        let opens = _mm512_cmpeq_epi8_mask(v, plus) | _mm512_cmpeq_epi8_mask(v, open);
        let mask = opens | (digits & !((digits << 1) | carry));
        carry = digits >> 63;
        if mask != 0 {
            return (at, mask, carry);
        }
        at += BLOCK;
    }
    (at, 0, carry)
}

/// [`Avx512::anchor_positions`]: one load and one table lookup a block, which tells whether the block holds any byte
/// listed; only such a block is compared with each byte (the positions are then read off). A run of five dashes is
/// found by its last dash: a dash whose four bytes before (in this block, or at the end of the previous one,
/// `dash_carry`) are dashes too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn anchor_positions_k(hay: &[u8], lists: &mut [Vec<usize>; LISTS], cap: usize) {
    let anchors = ANCHOR_BYTES;
    let wanted = anchors.map(|a| _mm512_set1_epi8(a[0] as i8));
    let folds = FOLD_BYTES.map(|c| _mm512_set1_epi8(c as i8));
    let dash = _mm512_set1_epi8(b'-' as i8);
    let mut dash_carry = 0u64;
    let mut at = 0;
    while at < hay.len() {
        // The last partial block zero-padded (no listed byte is 0).
        let v = if at + BLOCK <= hay.len() {
            load(hay, at)
        } else {
            load_tail(hay, at)
        };
        let hits = lookup(&LISTED, v, _mm512_movepi8_mask(v));
        if _mm512_test_epi8_mask(hits, hits) == 0 {
            // No dash either: no run of dashes ends in the next block's first bytes through this one.
            dash_carry = 0;
            at += BLOCK;
            continue;
        }
        let fold = folds
            .iter()
            .fold(0, |m, &f| m | _mm512_cmpeq_epi8_mask(v, f));
        let d = _mm512_cmpeq_epi8_mask(v, dash);
        let dash_ends = (1..5).fold(d, |m, k| m & ((d << k) | (dash_carry >> (64 - k))));
        dash_carry = d;
        let masks = [
            _mm512_cmpeq_epi8_mask(v, wanted[0]),
            _mm512_cmpeq_epi8_mask(v, wanted[1]),
            _mm512_cmpeq_epi8_mask(v, wanted[2]),
            _mm512_cmpeq_epi8_mask(v, wanted[3]),
            fold,
            dash_ends,
        ];
        if masks.iter().any(|&m| m != 0) {
            for (k, (list, mut m)) in lists.iter_mut().zip(masks).enumerate() {
                // A dash run is listed at its first dash, four bytes before the end found; an anchor of more than
                // one byte where all of them are.
                let back = if k == DASHES { 4 } else { 0 };
                let longer = anchors.get(k).filter(|a| a.len() > 1);
                while m != 0 && list.len() < cap {
                    let p = at + m.trailing_zeros() as usize - back;
                    m &= m - 1;
                    if longer.is_none_or(|a| hay[p..].starts_with(a)) {
                        list.push(p);
                    }
                }
            }
        }
        at += BLOCK;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What [`Avx512::anchor_positions`] lists, by plain loops.
    fn naive(hay: &[u8]) -> [Vec<usize>; LISTS] {
        let mut lists: [Vec<usize>; LISTS] = Default::default();
        for (i, &c) in hay.iter().enumerate() {
            for (k, a) in ANCHOR_BYTES.iter().enumerate() {
                if hay[i..].starts_with(a) {
                    lists[k].push(i);
                }
            }
            if FOLD_BYTES.contains(&c) {
                lists[FOLDS].push(i);
            }
            if hay[i..].starts_with(b"-----") {
                lists[DASHES].push(i);
            }
        }
        lists
    }

    proptest! {
        /// The kernel lists what plain loops find, dash runs across block boundaries and the zero-padded last block
        /// included; a list stops at the cap.
        #[test]
        fn anchor_positions_match_plain_loops(
            hay in proptest::collection::vec(
                proptest::sample::select(&[
                    b'-', b'-', b'-', b'@', b'%', b':', b'(', 0xC2, 0xE2, 0xEF, 0xE3, 0xE1, 0xCD, b'\\', b'a', 0xEA,
                    b'4', b'0',
                ][..]),
                0..400,
            ),
            cap in 1usize..64,
        ) {
            let Some(cpu) = Avx512::detect() else {
                return Ok(());
            };
            let mut lists: [Vec<usize>; LISTS] = Default::default();
            cpu.anchor_positions(&hay, &mut lists, usize::MAX);
            prop_assert_eq!(&lists, &naive(&hay));
            cpu.anchor_positions(&hay, &mut lists, cap);
            for (got, all) in lists.iter().zip(naive(&hay)) {
                prop_assert_eq!(&got[..], &all[..all.len().min(cap)]);
            }
        }
    }
}
