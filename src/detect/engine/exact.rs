//! Dictionary lookups that do not walk the aho-corasick automaton byte by byte.
//!
//! - [`ExactTerms`]: the longest term that starts at a candidate position, found by hashing the text's window of
//!   each distinct term length (longest first) and probing one hash table. The automaton walk visits one state per
//!   byte, and on dense text the states of a 10,000-term dictionary are rarely in cache between two candidates (~280
//!   ns a candidate on the bench's dense corpus); a probe per length costs one hash and one or two cache lines. So it
//!   is built only for dictionaries whose terms come in few distinct lengths (codes and identifiers, Korean names of
//!   two to four syllables), and the automaton answers for every other dictionary.
//! - [`PrefixFilter`]: the positions where some term may start, for a big dictionary that is searched on its own (its
//!   term prefixes too many to join the trigger pass): a bit per hash of a term's first bytes (up to eight), tested at
//!   every byte that can begin a term. Such a dictionary had an unanchored automaton pass of its own (no rare byte
//!   in Korean text for its prefilter, and its states spill out of the caches): with 100,000 names the engine ran at
//!   0.21x the builtins alone, 0.45x with this filter (and the trigger-pass fix of the same round, `benches/detect.md`
//!   round 30); the filter reads a word and one bit a position and leaves a few candidates for the lookup
//!   above or the automaton's anchored search.
//!
//! Both give exactly the automaton's answers: the lookup its anchored leftmost-longest match (the longest term equal
//! to the text at the position, ASCII letters compared case-insensitively for a case-folding dictionary; among equal
//! terms the one added first), the filter a superset of the positions where a term starts.
//!
//! Must never: allocate while searching, keep or print any text (their `Debug` shows sizes only: the terms may be
//! a staff directory), or read outside the slice they are given.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

/// At most this many distinct term lengths: each is one probe at every candidate, also at candidates where no term
/// starts (the automaton stops at the first byte no term continues with).
pub(super) const MAX_LENGTHS: usize = 8;
/// The longest term (bytes) the lookup takes: a case-folding lookup folds the window into a buffer of this size.
pub(super) const MAX_TERM_BYTES: usize = 128;
/// At most this many term bytes in all: the lookup holds a copy of every term besides the automaton.
pub(super) const MAX_TOTAL_BYTES: usize = 8 * 1024 * 1024;

/// A fixed seed: the table is built from policy terms, not from request text, and the probes never insert.
const SEED: u64 = 0x6861_6574_6165_6474;

/// Terms of one dictionary, by exact bytes (ASCII-lowercased when `fold`).
pub(super) struct ExactTerms {
    /// Every term's bytes, one after another.
    bytes: Vec<u8>,
    /// Term `i` is `bytes[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    /// The ids of the distinct terms, by hash.
    table: HashTable<u32>,
    /// The distinct term lengths, longest first.
    lengths: Vec<usize>,
    fold: bool,
    hasher: FixedState,
}

impl ExactTerms {
    /// The lookup for `terms` (ids are their indices), or `None` when they do not suit it: more than
    /// [`MAX_LENGTHS`] distinct lengths, a term longer than [`MAX_TERM_BYTES`], more than [`MAX_TOTAL_BYTES`] in
    /// all, or an empty term.
    pub(super) fn build(terms: &[String], fold: bool) -> Option<Self> {
        let total: usize = terms.iter().map(String::len).sum();
        if total > MAX_TOTAL_BYTES || terms.len() >= u32::MAX as usize {
            return None;
        }
        let mut lengths: Vec<usize> = Vec::new();
        for t in terms {
            if t.is_empty() || t.len() > MAX_TERM_BYTES {
                return None;
            }
            if !lengths.contains(&t.len()) {
                if lengths.len() == MAX_LENGTHS {
                    return None;
                }
                lengths.push(t.len());
            }
        }
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        let mut bytes = Vec::with_capacity(total);
        let mut starts = Vec::with_capacity(terms.len() + 1);
        for t in terms {
            starts.push(bytes.len() as u32);
            bytes.extend_from_slice(t.as_bytes());
            if fold {
                let from = bytes.len() - t.len();
                bytes[from..].make_ascii_lowercase();
            }
        }
        starts.push(bytes.len() as u32);
        let hasher = FixedState::with_seed(SEED);
        let term = |i: u32| term_bytes(&bytes, &starts, i);
        let mut table = HashTable::with_capacity(terms.len());
        for id in 0..terms.len() as u32 {
            let key = term(id);
            let hash = hasher.hash_one(key);
            // A repeated term keeps its first id (the automaton reports the first of equal patterns).
            if table.find(hash, |&other| term(other) == key).is_none() {
                table.insert_unique(hash, id, |&i| hasher.hash_one(term(i)));
            }
        }
        Some(Self {
            bytes,
            starts,
            table,
            lengths,
            fold,
            hasher,
        })
    }

    fn term(&self, id: u32) -> &[u8] {
        term_bytes(&self.bytes, &self.starts, id)
    }

    /// The longest term that starts at `at` in `hay`: its end and id.
    #[inline]
    pub(super) fn longest_at(&self, hay: &[u8], at: usize) -> Option<(usize, usize)> {
        let rest = hay.get(at..)?;
        // Filled (and zeroed) only for a case-folding dictionary.
        let mut folded;
        let window: &[u8] = if self.fold {
            let n = rest.len().min(self.lengths.first().copied().unwrap_or(0));
            folded = [0u8; MAX_TERM_BYTES];
            folded[..n].copy_from_slice(&rest[..n]);
            folded[..n].make_ascii_lowercase();
            &folded[..n]
        } else {
            rest
        };
        for &len in &self.lengths {
            let Some(key) = window.get(..len) else {
                continue;
            };
            let hash = self.hasher.hash_one(key);
            if let Some(&id) = self.table.find(hash, |&id| self.term(id) == key) {
                return Some((at + len, id as usize));
            }
        }
        None
    }

    /// Heap bytes held.
    pub(super) fn memory_usage(&self) -> usize {
        self.bytes.capacity()
            + self.starts.capacity() * 4
            + self.table.allocation_size()
            + self.lengths.capacity() * std::mem::size_of::<usize>()
    }
}

/// Term `id`'s bytes in the concatenation `bytes` (term `i` is `bytes[starts[i]..starts[i + 1]]`).
fn term_bytes<'a>(bytes: &'a [u8], starts: &[u32], id: u32) -> &'a [u8] {
    &bytes[starts[id as usize] as usize..starts[id as usize + 1] as usize]
}

/// Bits of the prefix filter per term (rounded up to a power of two): with 16, a position that begins no term's
/// prefix passes with a probability of about 1/16 when every term has its own prefix, less when terms share them.
const FILTER_BITS_PER_TERM: usize = 16;
/// The filter's size bounds, in bits: 8 KiB to 4 MiB.
const FILTER_MIN_BITS: usize = 1 << 16;
const FILTER_MAX_BITS: usize = 1 << 25;

/// The positions where a term of one dictionary may start: see the module docs.
pub(super) struct PrefixFilter {
    /// Bit `h` set when some term's key hashes to `h`.
    bits: Vec<u64>,
    /// `64 - log2(bits)`: a hash's top bits index the filter.
    shift: u32,
    /// The key: the first `key_len` bytes of a term (its shortest term's length, at most 8).
    key_len: usize,
    /// The low `key_len` bytes of a word.
    mask: u64,
    /// Bytes that begin a term (both cases of an ASCII letter when `fold`): most bytes of Korean text continue a
    /// character. (A second small filter on the first two bytes, 8 KiB, made the Korean-names bench 0.8x: it passed
    /// ~60 % of syllables, an unpredictable branch, where the main filter's test is nearly always false.)
    lead: Box<[bool; 256]>,
    fold: bool,
}

impl PrefixFilter {
    /// The filter for `terms`, or `None` when a term is shorter than two bytes (a one-byte key would pass most of
    /// the text).
    pub(super) fn build(terms: &[String], fold: bool) -> Option<Self> {
        let key_len = terms.iter().map(String::len).min()?.min(8);
        if key_len < 2 {
            return None;
        }
        let n_bits = (terms.len() * FILTER_BITS_PER_TERM)
            .next_power_of_two()
            .clamp(FILTER_MIN_BITS, FILTER_MAX_BITS);
        let mut f = Self {
            bits: vec![0; n_bits / 64],
            shift: 64 - n_bits.trailing_zeros(),
            key_len,
            mask: u64::MAX >> (64 - 8 * key_len),
            lead: Box::new([false; 256]),
            fold,
        };
        for t in terms {
            let b = t.as_bytes();
            let h = f.slot(f.key(b, 0));
            f.bits[h / 64] |= 1 << (h % 64);
            f.lead[usize::from(b[0])] = true;
            if fold {
                f.lead[usize::from(b[0].to_ascii_lowercase())] = true;
                f.lead[usize::from(b[0].to_ascii_uppercase())] = true;
            }
        }
        Some(f)
    }

    /// The key at `at` (`at + key_len <= hay.len()`): its bytes as a little-endian word, ASCII-lowercased when
    /// `fold`.
    #[inline(always)]
    fn key(&self, hay: &[u8], at: usize) -> u64 {
        let w = match hay.get(at..at + 8) {
            // One unaligned load, the bytes past the key masked off.
            Some(w) => u64::from_le_bytes(w.try_into().unwrap_or_default()) & self.mask,
            None => {
                let mut w = [0u8; 8];
                w[..self.key_len].copy_from_slice(&hay[at..at + self.key_len]);
                u64::from_le_bytes(w)
            }
        };
        if self.fold {
            let mut b = w.to_le_bytes();
            b.make_ascii_lowercase();
            u64::from_le_bytes(b)
        } else {
            w
        }
    }

    #[inline(always)]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Whether a term may start at `at`: false only where none does.
    #[inline]
    pub(super) fn may_start_at(&self, hay: &[u8], at: usize) -> bool {
        if at + self.key_len > hay.len() {
            return false;
        }
        if !self.lead[usize::from(hay[at])] {
            return false;
        }
        let h = self.slot(self.key(hay, at));
        self.bits[h / 64] & (1 << (h % 64)) != 0
    }

    /// Every position of `hay` where a term may start, in order.
    pub(super) fn starts<'a>(&'a self, hay: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
        let last = hay.len().checked_sub(self.key_len);
        (0..last.map_or(0, |l| l + 1)).filter(move |&at| self.may_start_at(hay, at))
    }

    /// Heap bytes held.
    pub(super) fn memory_usage(&self) -> usize {
        self.bits.capacity() * 8 + 256
    }
}

impl std::fmt::Debug for ExactTerms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactTerms")
            .field("terms", &(self.starts.len() - 1))
            .field("lengths", &self.lengths)
            .field("fold", &self.fold)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PrefixFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixFilter")
            .field("bits", &(self.bits.len() * 64))
            .field("key_len", &self.key_len)
            .field("fold", &self.fold)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasickBuilder, Anchored, Input, MatchKind, StartKind};
    use proptest::prelude::*;

    /// The automaton's answer: the anchored leftmost-longest match at `at`.
    fn automaton(terms: &[String], fold: bool, hay: &[u8], at: usize) -> Option<(usize, usize)> {
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(fold)
            .start_kind(StartKind::Anchored)
            .build(terms)
            .unwrap();
        ac.try_find(Input::new(hay).span(at..hay.len()).anchored(Anchored::Yes))
            .unwrap()
            .map(|m| (m.end(), m.pattern().as_usize()))
    }

    #[test]
    fn longest_term_first_and_first_of_equal_terms() {
        let terms: Vec<String> = ["코드명", "코드명가나", "Alpha", "ALPHA", "코드명가"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let x = ExactTerms::build(&terms, true).unwrap();
        let hay = "x 코드명가나다 alphA".as_bytes();
        assert_eq!(x.longest_at(hay, 2), Some((2 + "코드명가나".len(), 1)));
        assert_eq!(x.longest_at(hay, hay.len() - 5), Some((hay.len(), 2)));
        assert_eq!(x.longest_at(hay, 0), None);
        assert_eq!(x.longest_at(hay, hay.len()), None);
        assert_eq!(x.longest_at(hay, hay.len() + 1), None);
        let exact = ExactTerms::build(&terms, false).unwrap();
        assert_eq!(exact.longest_at(hay, hay.len() - 5), None);
        // Sizes only: no term in the debug output.
        let shown = format!("{x:?} {:?}", PrefixFilter::build(&terms, true).unwrap());
        assert!(
            !shown.contains("Alpha") && !shown.contains("코드") && !shown.contains("97"),
            "{shown}"
        );
    }

    #[test]
    fn filter_keys_on_the_shortest_term_and_rejects_other_starts() {
        let terms: Vec<String> = (0..1000).map(|i| format!("코드명{i:04}")).collect();
        let f = PrefixFilter::build(&terms, false).unwrap();
        assert_eq!(f.key_len, 8);
        let hay = "x 코드명0042 코드 코드".as_bytes();
        assert!(f.may_start_at(hay, 2));
        assert!(!f.may_start_at(hay, 0), "a byte that begins no term");
        assert!(!f.may_start_at(hay, 3), "inside a character");
        assert!(
            !f.may_start_at(hay, hay.len() - "코드".len()),
            "too short a rest for the key"
        );
        // Of the other positions holding a Hangul lead byte, few pass (no term starts there).
        let text = "가나다라마바사아자차카타파하".repeat(50);
        let passed = text
            .char_indices()
            .filter(|&(i, _)| f.may_start_at(text.as_bytes(), i))
            .count();
        assert!(passed < 10, "{passed}");
        assert!(PrefixFilter::build(&["a".to_owned(), "bcd".to_owned()], false).is_none());
        let fold = PrefixFilter::build(&["Alpha".to_owned()], true).unwrap();
        assert!(fold.may_start_at(b"ALPHA", 0) && fold.may_start_at(b"alpha", 0));
    }

    #[test]
    fn unsuited_dictionaries_are_left_to_the_automaton() {
        let many: Vec<String> = (1..=MAX_LENGTHS + 1).map(|n| "a".repeat(n)).collect();
        assert!(ExactTerms::build(&many, false).is_none());
        assert!(ExactTerms::build(&many[..MAX_LENGTHS], false).is_some());
        assert!(ExactTerms::build(&["a".repeat(MAX_TERM_BYTES + 1)], false).is_none());
        assert!(ExactTerms::build(&[String::new()], false).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// At every position of random texts, the lookup gives the automaton's anchored leftmost-longest match:
        /// terms that are prefixes of each other, repeated terms, terms equal but for ASCII case, Hangul.
        #[test]
        fn lookup_equals_the_automaton(
            terms in proptest::collection::vec("[aAbB가나]{1,4}", 1..12),
            text in "[aAbB가나 ]{0,24}",
            fold in any::<bool>(),
        ) {
            let x = ExactTerms::build(&terms, fold);
            prop_assume!(x.is_some());
            let x = x.unwrap();
            let hay = text.as_bytes();
            for at in 0..=hay.len() {
                prop_assert_eq!(x.longest_at(hay, at), automaton(&terms, fold, hay, at), "at {}", at);
            }
        }

        /// The prefix filter passes every position where the automaton finds a term (it may pass others).
        #[test]
        fn filter_passes_every_term_start(
            terms in proptest::collection::vec("[aAbB가나]{1,4}", 1..12),
            text in "[aAbB가나 ]{0,24}",
            fold in any::<bool>(),
        ) {
            let f = PrefixFilter::build(&terms, fold);
            prop_assume!(f.is_some());
            let f = f.unwrap();
            let hay = text.as_bytes();
            for at in 0..=hay.len() {
                if automaton(&terms, fold, hay, at).is_some() {
                    prop_assert!(f.may_start_at(hay, at), "at {}", at);
                }
            }
            let all: Vec<usize> = (0..=hay.len()).filter(|&at| f.may_start_at(hay, at)).collect();
            prop_assert_eq!(f.starts(hay).collect::<Vec<_>>(), all);
        }
    }
}
