//! The trigger pass of the builtin union: a bucketed multi-literal shift-or filter (the idea of Hyperscan's FDR,
//! without SIMD or hashed super-characters) over the trigger literals, verified per bucket, and turned into the
//! leftmost-first, non-overlapping hits the lazy DFA it replaces reported.
//!
//! The state is a `u64` of 4 lanes × 16 buckets. Each literal belongs to one bucket and is aligned by its end: bit
//! `(3 - k) * 16 + b` of `masks[c]` is clear when some literal of bucket `b` has byte `c` at distance `k` from its
//! end (only the last `min(4, shortest)` bytes of a bucket are filtered; its other lanes accept every byte). The
//! state `d = (d << 16) | masks[byte]` is one shift, one load and one or per byte with no load depending on the
//! previous one, so the loop is not bound by load latency as a DFA's transition chain is. A clear bit in the top lane
//! after a byte is a candidate end for that bucket; only then are the bucket's literals compared, each with one
//! masked word comparison (the text's 8 bytes ending there are read once per candidate). `HAETAE_BENCH_LOOP=literals`
//! (best of nine, this 2-vCPU VM, session 6): 0.63–0.93 GB/s against 0.42–0.50 GB/s for the lazy DFA over the same
//! literals; Hyperscan's literal matcher (SIMD) 1.4–2.0 GB/s. Session 22 (the sample plan below, 16-byte steps):
//! 1.07–1.21 GB/s clean, 0.88–0.98 GB/s dense, at load average ~6.
//!
//! Which literals share a bucket decides how many candidates are verified: [`assign_buckets`] starts from a plan by
//! length and script and moves literals between buckets while that lowers a cost measured on a built-in sample of
//! ordinary prompt text (`trigger_sample.txt`, not the bench corpus): bucket candidates per MB of the bench corpora
//! went from 16,587 to 3,550 (clean, for 3,430 hits) and from 16,117 to 7,258 (dense, for 4,065 hits).
//!
//! 16 buckets of 4 lanes left fewer candidates (272k against 341k on 20 MB) and read faster than 8 of 8. The text is
//! stepped through [`STEP`] bytes at a time while no candidate ends in them (the AND of their states has a clear
//! top-lane bit exactly when one of them has), each byte loaded by itself (session 22: a word load with a shift and a
//! zero-extension per byte took 52 instructions per eight bytes, byte loads take 44; with candidates 4× rarer since
//! the sample plan, 16 bytes per check instead of 8 saved another 2.8 % of the clean scan's instructions).
//!
//! Term prefixes of merged dictionaries can ride along (ids from `dict_from` on): every occurrence of one, overlaps
//! included, is collected as a dictionary candidate instead of being a hit.
//!
//! Hits come out in the order a leftmost-first search would give them: an occurrence is released once the scan has
//! passed every byte where a literal starting at or before it could end, the earliest start wins (the lowest literal
//! id at equal starts: pattern priority), and occurrences starting inside the previous hit are dropped.
//!
//! Must never: report a hit that is not an exact occurrence of its literal, miss an occurrence a leftmost-first search
//! of the same literals reports (the proptest `shift_or_equals_leftmost_first_dfa` checks both), or allocate per byte.

use std::collections::VecDeque;

/// Number of buckets (bits per lane of the state).
const BUCKETS: usize = 16;
/// Bytes of each literal the filter looks at (lanes of the state).
const LANES: usize = 4;
/// Buckets per literal category: Hangul by syllables (1, 2, 3+), then ASCII by bytes (≤ 3, 4–5, 6+). Two-syllable
/// Hangul literals (provinces, titles, labels) are the most numerous, so they get the most buckets.
const CATEGORY_BUCKETS: [usize; 6] = [1, 6, 2, 2, 2, 3];
/// Bytes stepped through per check for candidates (the fast loop of [`ShiftOrHits::advance`]).
const STEP: usize = 16;
/// Bits per lane (one per bucket).
const LANE_BITS: u32 = BUCKETS as u32;
/// Shift that brings the top lane (distance 0 from a candidate end) down to bit 0.
const TOP: u32 = (LANES as u32 - 1) * LANE_BITS;
/// The bits of one lane.
const LANE_MASK: u64 = (1 << LANE_BITS) - 1;

/// A compiled shift-or filter over a set of non-empty literals.
#[derive(Debug)]
pub(super) struct ShiftOr {
    masks: Box<Masks>,
    /// Per bucket, in id order: its literals.
    buckets: [Vec<Member>; BUCKETS],
    /// Longest literal, in bytes.
    max_len: usize,
    /// Ids from here on are dictionary prefixes: every occurrence is collected (overlaps included) instead of being
    /// returned as a hit.
    dict_from: u32,
}

impl ShiftOr {
    /// Compile `lits` (ids are their indexes; ids `>= dict_from` are dictionary prefixes, see [`ShiftOrHits::dict`]).
    /// `None` when a literal is empty or there are too many literals for the filter to stay selective (then the
    /// caller keeps its general searcher).
    pub(super) fn new(lits: &[&str], dict_from: usize) -> Option<ShiftOr> {
        if lits.is_empty() || lits.len() > 256 || lits.iter().any(|l| l.is_empty()) {
            return None;
        }
        let mut buckets: [Vec<Member>; BUCKETS] = Default::default();
        for (b, ids) in assign_buckets(lits, dict_from).into_iter().enumerate() {
            for id in ids {
                buckets[b].push(Member::new(u32::try_from(id).ok()?, lits[id].as_bytes()));
            }
            buckets[b].sort_by_key(|m| m.id);
        }
        let mut masks = Box::new(Masks([!0u64; 256]));
        for (b, members) in buckets.iter().enumerate() {
            let checked = members
                .iter()
                .map(|m| m.bytes.len())
                .min()
                .unwrap_or(LANES)
                .min(LANES);
            for Member { bytes: l, .. } in members {
                for k in 0..checked {
                    let c = l[l.len() - 1 - k];
                    masks.0[usize::from(c)] &= !bit(k, b);
                }
            }
            // Lanes past what the bucket checks accept every byte.
            for k in checked..LANES {
                for m in masks.0.iter_mut() {
                    *m &= !bit(k, b);
                }
            }
        }
        let max_len = lits.iter().map(|l| l.len()).max().unwrap_or(1);
        Some(ShiftOr {
            masks,
            buckets,
            max_len,
            dict_from: u32::try_from(dict_from).unwrap_or(u32::MAX),
        })
    }

    /// Approximate heap memory: the masks and the literals of every bucket.
    pub(super) fn memory_usage(&self) -> usize {
        std::mem::size_of::<Masks>()
            + self
                .buckets
                .iter()
                .flatten()
                .map(|m| std::mem::size_of::<Member>() + m.bytes.len())
                .sum::<usize>()
    }

    /// Leftmost-first, non-overlapping hits `(start, literal id)` in `hay`, left to right.
    pub(super) fn hits<'a>(&'a self, hay: &'a [u8]) -> ShiftOrHits<'a> {
        ShiftOrHits {
            so: self,
            hay,
            at: 0,
            // All lanes open: bytes before the text are not known to rule anything out (verification does).
            state: 0,
            pending: VecDeque::new(),
            last_end: 0,
            candidates: 0,
            dict: Vec::new(),
        }
    }
}

/// The per-byte masks, cache-line aligned (2 KiB: 32 lines).
#[derive(Debug)]
#[repr(align(64))]
struct Masks([u64; 256]);

/// One literal of a bucket, with its last (up to) 8 bytes packed for a one-word comparison against the 8 text bytes
/// that end where the candidate ends.
#[derive(Debug)]
struct Member {
    id: u32,
    bytes: Box<[u8]>,
    /// The literal's last `min(8, len)` bytes in the high bytes of a little-endian word.
    tail: u64,
    /// Which bytes of that word `tail` fills.
    tail_mask: u64,
}

impl Member {
    fn new(id: u32, bytes: &[u8]) -> Member {
        let n = bytes.len().min(8);
        let mut word = [0u8; 8];
        word[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
        Member {
            id,
            bytes: bytes.into(),
            tail: u64::from_le_bytes(word),
            tail_mask: if n == 8 { !0 } else { !0u64 << (8 * (8 - n)) },
        }
    }

    /// [`Member::ends_at`] with the word known to exist (`end >= 8`).
    #[inline]
    fn ends_at_word(&self, hay: &[u8], end: usize, w: u64) -> bool {
        w & self.tail_mask == self.tail
            && (self.bytes.len() <= 8
                || end.checked_sub(self.bytes.len()).is_some_and(|start| {
                    hay.get(start..end - 8) == Some(&self.bytes[..self.bytes.len() - 8])
                }))
    }

    /// Whether the literal occurs in `hay` ending at `end`, given `word`: the 8 bytes of `hay` ending at `end`
    /// (little-endian), or `None` when `end < 8`.
    fn ends_at(&self, hay: &[u8], end: usize, word: Option<u64>) -> bool {
        let Some(start) = end.checked_sub(self.bytes.len()) else {
            return false;
        };
        match word {
            Some(w) => {
                w & self.tail_mask == self.tail
                    && (self.bytes.len() <= 8
                        || hay.get(start..end - 8) == Some(&self.bytes[..self.bytes.len() - 8]))
            }
            None => hay.get(start..end) == Some(&self.bytes[..]),
        }
    }
}

/// The state bit of bucket `b` at distance `k` from a literal's end.
fn bit(k: usize, b: usize) -> u64 {
    1u64 << ((LANES - 1 - k) * BUCKETS + b)
}

/// Literal ids per bucket. The literals before `dict_from` (the trigger set) take the category plan
/// ([`category_buckets`]), improved on [`SAMPLE`] by [`improve_on_sample`] when they are more than the buckets (the
/// last such plan is kept for the process: every engine has the same trigger set, and the search takes ~23 ms, ~0.26 s
/// in a debug build). Dictionary prefixes (from `dict_from` on) are then added one by one, each to the bucket where
/// it raises the plan's cost on the sample least.
fn assign_buckets(lits: &[&str], dict_from: usize) -> Vec<Vec<usize>> {
    let base = dict_from.min(lits.len());
    let mut plan = base_plan(&lits[..base]);
    if base < lits.len() {
        add_on_sample(lits, &mut plan, base, &SampleBits::new(SAMPLE));
    }
    plan
}

/// The plan of the trigger set (see [`assign_buckets`]).
fn base_plan(lits: &[&str]) -> Vec<Vec<usize>> {
    type Plan = (Vec<String>, Vec<Vec<usize>>);
    static LAST: std::sync::Mutex<Option<Plan>> = std::sync::Mutex::new(None);
    let mut plan = category_buckets(lits);
    if lits.len() <= BUCKETS {
        return plan;
    }
    // Held while searching, so threads compiling engines at once search once.
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((key, kept)) = last.as_ref() {
        if key.iter().map(String::as_str).eq(lits.iter().copied()) {
            return kept.clone();
        }
    }
    improve_on_sample(lits, &mut plan, &SampleBits::new(SAMPLE));
    *last = Some((lits.iter().map(|l| (*l).to_owned()).collect(), plan.clone()));
    plan
}

/// Add the literals from `from` on to `plan`, each to the bucket where it raises the cost on the sample least.
fn add_on_sample(lits: &[&str], plan: &mut [Vec<usize>], from: usize, text: &SampleBits) {
    let mut pass = vec![0u64; text.words];
    for id in from..lits.len() {
        let mut best: Option<(u64, usize)> = None;
        for (b, ids) in plan.iter().enumerate() {
            let lanes = text.lanes(lits, ids);
            let rise = text.cost_with(&lanes, lits[id].as_bytes(), &mut pass) - text.cost(&lanes);
            if best.is_none_or(|(r, _)| rise < r) {
                best = Some((rise, b));
            }
        }
        if let Some((_, b)) = best {
            plan[b].push(id);
        }
    }
}

/// The starting plan. Literals that share a bucket share its lanes, so short and long literals are kept apart (a
/// short one opens the lanes a long one would filter on): each category of [`CATEGORY_BUCKETS`] is sorted and cut into
/// that many runs of near-equal size. ASCII literals are sorted by their reversed bytes (so literals ending alike share
/// a bucket and its lanes allow fewer bytes); Hangul literals of two or more syllables by their last four bytes read
/// forward (the first syllable's last byte, then the second's lead and middle bytes): the filtered lanes then hold
/// few distinct bytes at distances 3 and 2, where reversed order let every bucket's lane 3 take many of the 64
/// continuation bytes and its lanes 0–2 cross into common syllables (`는`, `다`). Session 21: clean-corpus bucket
/// candidates 20,279 → 16,584 per MB with the same literals.
fn category_buckets(lits: &[&str]) -> Vec<Vec<usize>> {
    let category = |l: &str| {
        if l.is_ascii() {
            match l.len() {
                0..=3 => 3,
                4..=5 => 4,
                _ => 5,
            }
        } else {
            match l.chars().count() {
                1 => 0,
                2 => 1,
                _ => 2,
            }
        }
    };
    let mut out = Vec::with_capacity(BUCKETS);
    for (cat, &n) in CATEGORY_BUCKETS.iter().enumerate() {
        let mut ids: Vec<usize> = (0..lits.len())
            .filter(|&i| category(lits[i]) == cat)
            .collect();
        if cat == 1 || cat == 2 {
            let last4 = |l: &str| l.as_bytes()[l.len().saturating_sub(LANES)..].to_vec();
            ids.sort_by_key(|&i| last4(lits[i]));
        } else {
            ids.sort_by(|&a, &b| lits[a].bytes().rev().cmp(lits[b].bytes().rev()));
        }
        let per = ids.len().div_ceil(n).max(1);
        let mut chunks = ids.chunks(per);
        for _ in 0..n {
            out.push(chunks.next().map(<[usize]>::to_vec).unwrap_or_default());
        }
    }
    out
}

/// Ordinary prompt text, Korean and English prose with a little code (~7.7 KB, written for this purpose: not the
/// bench corpus, whose word lists it does not use), on which bucket plans are costed.
const SAMPLE: &[u8] = include_bytes!("trigger_sample.txt");

/// The fixed cost of a bucket candidate in member comparisons (leaving the 8-byte loop, the byte loop up to the
/// candidate, the verification call): ~115 instructions against ~10 per member compared (callgrind, session 22).
const CANDIDATE_COST: u64 = 12;

/// Passes of [`improve_on_sample`] at most (it stops earlier once no move pays; the trigger set settles in ~5).
const MAX_PASSES: usize = 8;

/// Improve `plan` by moving literals between buckets while that lowers the plan's cost on `sample`: the sum over
/// buckets of `(candidates + 1) × (CANDIDATE_COST + members)`, candidates being the sample positions where the
/// bucket's filtered lanes all pass (what the filter would verify there; true occurrences included, so a frequent
/// literal is moved into a small bucket). The `+ 1` charges a bucket for its size even where the sample never
/// reaches it. Each pass tries every literal in every other bucket and makes the best move that lowers the cost; it
/// is deterministic, and correctness does not depend on it (any plan finds every occurrence: verification is exact).
///
/// Session 22, against the category plan, bucket candidates per MB (held-out texts; the plan never saw them): bench
/// clean corpus 16,584 → ~3,500, dense 16,117 → ~7,300, this repository's Markdown docs 48k → 13k, `vectors.toml`
/// 51k → 39k, Rust source 39k → 13k (Python model of the filter; the engine's own count is in benches/detect.md).
fn improve_on_sample(lits: &[&str], plan: &mut [Vec<usize>], text: &SampleBits) {
    let mut buckets: Vec<BucketLanes> = plan.iter().map(|ids| text.lanes(lits, ids)).collect();
    let mut cost: Vec<u64> = buckets.iter().map(|b| text.cost(b)).collect();
    let mut pass = vec![0u64; text.words];
    for _ in 0..MAX_PASSES {
        let mut moved = false;
        for a in 0..plan.len() {
            let mut j = 0;
            while j < plan[a].len() {
                let id = plan[a][j];
                let mut rest = plan[a].clone();
                rest.remove(j);
                let rest_lanes = text.lanes(lits, &rest);
                let rest_cost = text.cost(&rest_lanes);
                let mut best: Option<(u64, usize, u64)> = None;
                for b in (0..plan.len()).filter(|&b| b != a) {
                    let with = text.cost_with(&buckets[b], lits[id].as_bytes(), &mut pass);
                    let after = rest_cost + with;
                    if after < cost[a] + cost[b]
                        && best.is_none_or(|(gain, ..)| cost[a] + cost[b] - after > gain)
                    {
                        best = Some((cost[a] + cost[b] - after, b, with));
                    }
                }
                match best {
                    Some((_, b, with)) => {
                        plan[a] = rest;
                        buckets[a] = rest_lanes;
                        cost[a] = rest_cost;
                        plan[b].push(id);
                        buckets[b] = text.lanes(lits, &plan[b]);
                        cost[b] = with;
                        moved = true;
                    }
                    None => j += 1,
                }
            }
        }
        if !moved {
            break;
        }
    }
}

/// A sample text as one position bit set per byte value (bit `i` of `at[c]`: byte `i` is `c`).
struct SampleBits {
    words: usize,
    at: Vec<u64>,
}

/// A bucket's filtered lanes over a sample: lane `k`'s bit `i` is set when byte `i` is one its members have at
/// distance `k` from their end.
struct BucketLanes {
    members: u64,
    /// `min(LANES, shortest member)`; 0 for an empty bucket.
    checked: usize,
    lanes: [Vec<u64>; LANES],
}

impl SampleBits {
    fn new(sample: &[u8]) -> SampleBits {
        let words = sample.len().div_ceil(64).max(1);
        let mut at = vec![0u64; 256 * words];
        for (i, &c) in sample.iter().enumerate() {
            at[usize::from(c) * words + i / 64] |= 1 << (i % 64);
        }
        SampleBits { words, at }
    }

    fn of(&self, c: u8) -> &[u64] {
        let w = usize::from(c) * self.words;
        &self.at[w..w + self.words]
    }

    fn lanes(&self, lits: &[&str], ids: &[usize]) -> BucketLanes {
        let checked = ids
            .iter()
            .map(|&i| lits[i].len())
            .min()
            .unwrap_or(0)
            .min(LANES);
        let mut lanes: [Vec<u64>; LANES] = Default::default();
        for (k, lane) in lanes.iter_mut().enumerate().take(checked) {
            let mut seen = [false; 256];
            *lane = vec![0; self.words];
            for &i in ids {
                let l = lits[i].as_bytes();
                let c = l[l.len() - 1 - k];
                if !std::mem::replace(&mut seen[usize::from(c)], true) {
                    lane.iter_mut().zip(self.of(c)).for_each(|(x, y)| *x |= y);
                }
            }
        }
        BucketLanes {
            members: ids.len() as u64,
            checked,
            lanes,
        }
    }

    /// The cost of a bucket (see [`improve_on_sample`]).
    fn cost(&self, b: &BucketLanes) -> u64 {
        if b.members == 0 {
            return 0;
        }
        let mut pass = vec![0u64; self.words];
        self.passes(b, None, &mut pass);
        (pass.iter().map(|w| u64::from(w.count_ones())).sum::<u64>() + 1)
            * (CANDIDATE_COST + b.members)
    }

    /// The cost of bucket `b` with the literal `extra` added.
    fn cost_with(&self, b: &BucketLanes, extra: &[u8], pass: &mut [u64]) -> u64 {
        self.passes(b, Some(extra), pass);
        (pass.iter().map(|w| u64::from(w.count_ones())).sum::<u64>() + 1)
            * (CANDIDATE_COST + b.members + 1)
    }

    /// Into `pass`: the sample positions where every filtered lane of `b` (with `extra` added) passes, as a bit set
    /// of candidate ends (lane `k` tests the byte `k` before the end, so its set is shifted up by `k`).
    fn passes(&self, b: &BucketLanes, extra: Option<&[u8]>, pass: &mut [u64]) {
        let checked = match extra {
            Some(l) if b.members == 0 => l.len().min(LANES),
            Some(l) => b.checked.min(l.len()),
            None => b.checked,
        };
        pass.fill(!0);
        for k in 0..checked {
            let add = extra.map(|l| self.of(l[l.len() - 1 - k]));
            let mut carry = 0u64;
            for (w, p) in pass.iter_mut().enumerate() {
                let mut lane = add.map_or(0, |a| a[w]);
                if b.members > 0 {
                    lane |= b.lanes[k][w];
                }
                let shifted = if k == 0 { lane } else { (lane << k) | carry };
                if k > 0 {
                    carry = lane >> (64 - k);
                }
                *p &= shifted;
            }
        }
    }
}

/// Iterator of [`ShiftOr::hits`].
#[derive(Debug)]
pub(super) struct ShiftOrHits<'a> {
    so: &'a ShiftOr,
    hay: &'a [u8],
    /// Next byte to read.
    at: usize,
    state: u64,
    /// Verified occurrences `(start, id, end)` not yet released, sorted by `(start, id)`.
    pending: VecDeque<(usize, u32, usize)>,
    /// End of the last released hit: occurrences starting before it overlap it and are dropped.
    last_end: usize,
    /// Bucket candidates verified so far (for the bench: how selective the filter is on a text).
    pub(super) candidates: usize,
    /// Start of every occurrence of a dictionary prefix read so far, in the order their ends were read (not sorted
    /// by start when prefixes differ in length); complete once the iterator has returned `None`.
    pub(super) dict: Vec<usize>,
}

impl ShiftOrHits<'_> {
    /// Read bytes until the next candidate end (verifying it into `pending`) or the end of the text. Returns whether
    /// bytes remain.
    fn advance(&mut self) -> bool {
        let masks = &self.so.masks.0;
        let hay = self.hay;
        let mut d = self.state;
        let mut i = self.at;
        // `STEP` bytes at a time while no candidate ends in them: the AND of their states has a clear bit in its top
        // lane exactly when one of them has.
        while let Some(chunk) = hay.get(i..).and_then(<[u8]>::first_chunk::<STEP>) {
            let mut e = d;
            let mut all = !0u64;
            // One byte load per byte: extracting the bytes from one word load cost a shift and a zero-extension each.
            for &c in chunk {
                e = (e << LANE_BITS) | masks[usize::from(c)];
                all &= e;
            }
            if (all >> TOP) & LANE_MASK != LANE_MASK {
                break;
            }
            d = e;
            i += STEP;
        }
        while i < hay.len() {
            d = (d << LANE_BITS) | masks[usize::from(hay[i])];
            i += 1;
            let top = (!(d >> TOP) & LANE_MASK) as u16;
            if top != 0 {
                self.verify(i, top);
                break;
            }
        }
        self.state = d;
        self.at = i;
        i < hay.len()
    }

    /// Compare the literals of every bucket in `top` that would end at `end`.
    fn verify(&mut self, end: usize, mut top: u16) {
        // The 8 bytes ending at `end`, read once for every member of every bucket in `top`.
        let word = end
            .checked_sub(8)
            .and_then(|w| self.hay.get(w..end))
            .and_then(<[u8]>::first_chunk::<8>)
            .map(|w| u64::from_le_bytes(*w));
        while top != 0 {
            let b = top.trailing_zeros() as usize;
            top &= top - 1;
            self.candidates += 1;
            // Whether the 8-byte word exists is decided once per candidate, not once per member.
            match word {
                Some(w) => {
                    for m in &self.so.buckets[b] {
                        if m.ends_at_word(self.hay, end, w) {
                            self.found(m, end);
                        }
                    }
                }
                None => {
                    for m in &self.so.buckets[b] {
                        if m.ends_at(self.hay, end, None) {
                            self.found(m, end);
                        }
                    }
                }
            }
        }
    }

    /// Record `m`'s occurrence ending at `end`.
    #[inline]
    fn found(&mut self, m: &Member, end: usize) {
        let start = end - m.bytes.len();
        if m.id >= self.so.dict_from {
            self.dict.push(start);
        } else {
            // Occurrences overlapping a released hit are dropped when released (`next`).
            let key = (start, m.id);
            if self.pending.back().is_none_or(|p| (p.0, p.1) < key) {
                // The usual case: nothing pending, or a later start than every pending occurrence.
                self.pending.push_back((start, m.id, end));
            } else {
                let at = self.pending.partition_point(|p| (p.0, p.1) < key);
                self.pending.insert(at, (start, m.id, end));
            }
        }
    }
}

impl Iterator for ShiftOrHits<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        loop {
            if let Some(&(start, id, end)) = self.pending.front() {
                // Every literal starting at or before `start` ends by `start + max_len`: once the scan is past that
                // (or at the end of the text), no earlier or equal-start, higher-priority occurrence can appear.
                if self.at >= start + self.so.max_len || self.at >= self.hay.len() {
                    self.pending.pop_front();
                    if start < self.last_end {
                        continue;
                    }
                    self.last_end = end;
                    return Some((start, id as usize));
                }
            } else if self.at >= self.hay.len() {
                return None;
            }
            self.advance();
        }
    }
}

/// The reference the filter is checked against (tests, the fuzz target): a leftmost-first lazy DFA over the same
/// literals, searched hit after hit as the engine's DFA trigger pass does.
#[derive(Debug)]
pub(super) struct Reference {
    dfa: regex_automata::hybrid::dfa::DFA,
    len: Vec<usize>,
}

impl Reference {
    pub(super) fn new(lits: &[&str]) -> Option<Reference> {
        use regex_automata::{hybrid, MatchKind};
        let escaped: Vec<String> = lits.iter().map(|l| regex_syntax::escape(l)).collect();
        let dfa = hybrid::dfa::DFA::builder()
            .configure(hybrid::dfa::DFA::config().match_kind(MatchKind::LeftmostFirst))
            .build_many(&escaped)
            .ok()?;
        Some(Reference {
            dfa,
            len: lits.iter().map(|l| l.len()).collect(),
        })
    }

    /// Leftmost-first, non-overlapping hits `(start, literal id)`.
    pub(super) fn hits(
        &self,
        hay: &str,
    ) -> Result<Vec<(usize, usize)>, regex_automata::MatchError> {
        let mut cache = self.dfa.create_cache();
        let mut out = Vec::new();
        let mut at = 0;
        while at < hay.len() {
            let input = regex_automata::Input::new(hay).range(at..);
            let Some(m) = self.dfa.try_search_fwd(&mut cache, &input)? else {
                break;
            };
            let id = m.pattern().as_usize();
            let len = self.len.get(id).copied().unwrap_or(0);
            out.push((m.offset().saturating_sub(len), id));
            at = m.offset().max(at + 1);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dfa_hits(lits: &[&str], hay: &str) -> Vec<(usize, usize)> {
        Reference::new(lits).unwrap().hits(hay).unwrap()
    }

    fn triggers() -> Vec<&'static str> {
        crate::detect::trigger_literals()
    }

    #[test]
    fn finds_each_trigger_alone_and_in_prose() {
        let lits = triggers();
        let so = ShiftOr::new(&lits, lits.len()).unwrap();
        for (id, l) in lits.iter().enumerate() {
            let text = format!("가나 {l} 다라");
            let hits: Vec<_> = so.hits(text.as_bytes()).collect();
            assert_eq!(hits, dfa_hits(&lits, &text), "{l}");
            assert!(hits.iter().any(|h| h.0 == "가나 ".len()), "{l} (id {id})");
        }
    }

    #[test]
    fn earlier_start_wins_over_an_earlier_end_and_priority_breaks_ties() {
        // `TOP SECRET` (longer, starts first) hides `SECRET`; `CLIENT_SECRET` hides `ecret`-style overlaps.
        let lits = triggers();
        let so = ShiftOr::new(&lits, lits.len()).unwrap();
        for text in [
            "TOP SECRET",
            "x CLIENT_SECRET=1",
            "client_secret api_key",
            "Mr. 김철수 고객님",
            "피보험자명 고객명",
        ] {
            assert_eq!(
                so.hits(text.as_bytes()).collect::<Vec<_>>(),
                dfa_hits(&lits, text),
                "{text}"
            );
        }
    }

    #[test]
    fn the_fuzz_hook_compares_with_the_reference() {
        for text in ["", "TOP SECRET//NOFORN", "고객님 성명 서울 api_key", "x"] {
            assert!(
                crate::detect::trigger_filter_agrees(text).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn the_sample_plan_keeps_every_literal_once_and_costs_less() {
        let lits = triggers();
        let before = category_buckets(&lits);
        let after = assign_buckets(&lits, lits.len());
        assert_eq!(after.len(), BUCKETS);
        let mut ids: Vec<usize> = after.iter().flatten().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..lits.len()).collect::<Vec<_>>());
        let text = SampleBits::new(SAMPLE);
        let cost = |plan: &[Vec<usize>]| {
            plan.iter()
                .map(|b| text.cost(&text.lanes(&lits, b)))
                .sum::<u64>()
        };
        assert!(cost(&after) < cost(&before));
    }

    #[test]
    fn sample_candidates_are_the_positions_where_every_filtered_lane_passes() {
        let lits = triggers();
        let text = SampleBits::new(SAMPLE);
        let mut pass = vec![0u64; text.words];
        for ids in category_buckets(&lits).iter().filter(|b| !b.is_empty()) {
            let (extra, rest) = ids.split_last().unwrap();
            let b = text.lanes(&lits, rest);
            text.passes(&b, Some(lits[*extra].as_bytes()), &mut pass);
            let counted: u32 = pass.iter().map(|w| w.count_ones()).sum();
            let checked = ids.iter().map(|&i| lits[i].len()).min().unwrap().min(LANES);
            let naive = (0..SAMPLE.len())
                .filter(|&i| {
                    (0..checked).all(|k| {
                        i >= k
                            && ids.iter().any(|&m| {
                                let l = lits[m].as_bytes();
                                l[l.len() - 1 - k] == SAMPLE[i - k]
                            })
                    })
                })
                .count();
            assert_eq!(counted as usize, naive, "{ids:?}");
        }
    }

    #[test]
    fn refuses_empty_literals_and_empty_sets() {
        assert!(ShiftOr::new(&[], 0).is_none());
        assert!(ShiftOr::new(&["a", ""], 2).is_none());
    }

    fn fragment() -> impl Strategy<Value = String> {
        let lits = triggers();
        prop_oneof![
            3 => proptest::sample::select(lits).prop_map(str::to_owned),
            // Pieces of literals: prefixes, suffixes and glued halves.
            2 => (proptest::sample::select(triggers()), 0usize..16).prop_map(|(l, n)| {
                let cut = (0..=l.len()).filter(|&i| l.is_char_boundary(i)).nth(n % (l.chars().count() + 1)).unwrap_or(0);
                if n % 2 == 0 { l[..cut].to_owned() } else { l[cut..].to_owned() }
            }),
            2 => "[ a-zA-Z0-9_.\\-=가-힣]{0,6}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn shift_or_equals_leftmost_first_dfa(parts in proptest::collection::vec(fragment(), 0..24)) {
            let text: String = parts.concat();
            let lits = triggers();
            let so = ShiftOr::new(&lits, lits.len()).unwrap();
            prop_assert_eq!(so.hits(text.as_bytes()).collect::<Vec<_>>(), dfa_hits(&lits, &text));
        }

        #[test]
        fn shift_or_equals_leftmost_first_dfa_on_small_random_sets(
            lits in proptest::collection::vec("[ab가]{1,10}", 1..12),
            text in "[ab가 ]{0,60}",
        ) {
            let lits: Vec<&str> = lits.iter().map(String::as_str).collect();
            let so = ShiftOr::new(&lits, lits.len()).unwrap();
            prop_assert_eq!(so.hits(text.as_bytes()).collect::<Vec<_>>(), dfa_hits(&lits, &text));
        }
    }
}
