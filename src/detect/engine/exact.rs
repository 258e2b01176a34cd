//! Exact-term lookup for a merged dictionary: the longest term that starts at a candidate position, found by hashing
//! the text's window of each distinct term length (longest first) and probing one hash table, instead of walking the
//! dictionary's aho-corasick automaton byte by byte from that position.
//!
//! The automaton walk visits one state per byte, and on dense text the states of a 10,000-term dictionary are rarely
//! in cache between two candidates (~280 ns a candidate on the bench's dense corpus); a probe per length costs one
//! hash and one or two cache lines. So the lookup is built only for dictionaries whose terms come in few distinct
//! lengths (codes and identifiers, Korean names of two to four syllables), and the automaton stays for every other
//! dictionary and for the fail-closed path that tries every position.
//!
//! The answer is exactly the automaton's anchored leftmost-longest match: the longest term equal to the text at the
//! position (ASCII letters compared case-insensitively for a case-folding dictionary), and among equal terms the one
//! added first. This module never allocates while searching and holds no text; it only reads the slice it is given.

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
#[derive(Debug)]
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
        let term = |i: u32| &bytes[starts[i as usize] as usize..starts[i as usize + 1] as usize];
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
        &self.bytes[self.starts[id as usize] as usize..self.starts[id as usize + 1] as usize]
    }

    /// The longest term that starts at `at` in `hay`: its end and id.
    #[inline]
    pub(super) fn longest_at(&self, hay: &[u8], at: usize) -> Option<(usize, usize)> {
        let rest = hay.get(at..)?;
        let mut folded = [0u8; MAX_TERM_BYTES];
        let window: &[u8] = if self.fold {
            let n = rest.len().min(self.lengths.first().copied().unwrap_or(0));
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
    }
}
