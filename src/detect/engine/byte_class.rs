//! Byte classes of a 64-byte block as bit masks, 16 bytes per SIMD compare, from safe code: the portable path of
//! `DigitRuns` (with AVX-512, `avx512::Avx512::run_start_blocks` reads whole blocks instead).
//!
//! The crate keeps `unsafe` to the AVX-512 module, and `std::arch`'s intrinsics need it to be called from code
//! compiled without the feature (a `#[target_feature]` function is itself unsafe to call). Plain loops over arrays were tried instead (round
//! 24): one lone fold compiles to `pcmpeqb`/`pmovmskb`, but two or four in one function, or a fold over a flag array,
//! fall back to scalar chains or shuffles (300–1,200 instructions a block), and which one the compiler picks changed
//! with unrelated edits. The `wide` crate wraps the same intrinsics behind safe types (its `unsafe` is its own, over
//! `safe_arch`), so each 16 bytes here is one `movdqu`, a biased add and a signed `pcmpgtb` for the digit class, two
//! `pcmpeqb` and a `por` for `+`/`(`, and one `pmovmskb` per class: ~65 instructions a block, branch-free, whatever
//! the caller looks like. On a target without SSE2 or NEON `wide` falls back to scalar arrays (slower, same masks).
//!
//! Must never: report a class bit for a byte outside the class, or miss one (the proptest below compares every byte
//! value against the scalar definition at every position of a block).

use wide::{i8x16, CmpEq, CmpLt};

/// Class masks of 16 bytes (bit `i` = byte `i`): ASCII digits, and `+` or `(`.
#[inline(always)]
fn masks16(chunk: &[u8; 16]) -> (u64, u64) {
    let v = i8x16::new(chunk.map(|x| x as i8));
    // `'0'..='9'` move to -128..=-119 (wrapping), every other byte above: one signed compare tests the range.
    let biased = v + i8x16::splat((0x80 - b'0') as i8);
    let digit = biased.cmp_lt(i8x16::splat(-128 + 10));
    let open = v.cmp_eq(i8x16::splat(b'+' as i8)) | v.cmp_eq(i8x16::splat(b'(' as i8));
    // `move_mask` is `pmovmskb`: the 16 lane signs in the low 16 bits, the rest zero.
    (
        u64::from(digit.move_mask() as u16),
        u64::from(open.move_mask() as u16),
    )
}

/// Bit masks of one 64-byte block (bit `i` = byte `i`): which bytes are ASCII digits, and which are `+` or `(`.
#[inline(always)]
pub(super) fn digits_and_opens(block: &[u8; 64]) -> (u64, u64) {
    let mut digits = 0u64;
    let mut opens = 0u64;
    for (k, chunk) in block.chunks_exact(16).enumerate() {
        // Always 16 bytes; the `try_from` is folded away.
        if let Ok(chunk) = <&[u8; 16]>::try_from(chunk) {
            let (d, o) = masks16(chunk);
            digits |= d << (16 * k);
            opens |= o << (16 * k);
        }
    }
    (digits, opens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scalar definition of the two classes.
    fn reference(block: &[u8; 64]) -> (u64, u64) {
        let mut digits = 0u64;
        let mut opens = 0u64;
        for (i, &c) in block.iter().enumerate() {
            digits |= u64::from(c.is_ascii_digit()) << i;
            opens |= u64::from(c == b'+' || c == b'(') << i;
        }
        (digits, opens)
    }

    /// Every byte value at every position (the other bytes a fixed mix of both classes and neither).
    #[test]
    fn every_byte_value_at_every_position() {
        let mut block = [0u8; 64];
        for (i, c) in block.iter_mut().enumerate() {
            *c = b"7(a+ 0\xff\x80"[i % 8];
        }
        for pos in 0..64 {
            for v in 0..=255u8 {
                let mut b = block;
                b[pos] = v;
                assert_eq!(
                    digits_and_opens(&b),
                    reference(&b),
                    "byte {v:#04x} at {pos}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random blocks, biased towards the class edges (`'/'`, `':'`, `'*'`, `','`, `'\''`, `')'`) and high bytes.
        #[test]
        fn masks_equal_the_scalar_definition(
            bytes in proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    proptest::sample::select(&b"/0123456789:()*+,'\x7f\x80\xaf\xb0\xb9\xba\xff"[..]),
                ],
                64,
            ),
        ) {
            let mut block = [0u8; 64];
            block.copy_from_slice(&bytes);
            prop_assert_eq!(digits_and_opens(&block), reference(&block));
        }
    }
}
