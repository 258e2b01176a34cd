//! The compiled engine: one multi-pattern regex-automata union for all regex detectors (`union`), aho-corasick automata
//! for dictionaries and context keywords, validators and scoring on candidates only.

use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};
use foldhash::fast::FixedState;
use regex_automata::hybrid;
use regex_automata::meta;
use regex_automata::util::pool::Pool;
use regex_automata::{Anchored, Input, MatchKind, PatternID};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

use super::builtin::{
    self, Boundary, Check, Group, BANNER_CONTROLS, BUILTIN_GROUPS, DIGIT_BACK, DIGIT_LEAD_CHECKS,
    GIVEN_SYLLABLES, KEYWORDS, PERSON_KEY_QUALIFIERS, PERSON_STOPLIST, PERSON_SUFFIXES, SCANNERS,
    SURNAME_CHARS, TOKEN_START_TRIGGERS, TRIGGERS, TRIGGERS_INSIDE_A_WORD, TWO_SYLLABLE_SURNAMES,
};
use super::config::{DetectConfig, ValidatorKind};
use super::entity::{Entity, BUILTIN_ENTITIES};
use super::normalize::{fold_str, has_final_consonant, Normalized};
use super::validate::{self, digits_into, RrnShape};
use super::{DetectError, Finding};

pub use avx512::PORTABLE_ENV;

mod avx512;
mod byte_class;
mod exact;
mod scanners;
mod shift_or;
mod union;

/// The trigger pass's shift-or filter over the builtin trigger literals, as a counting function `text → (hits,
/// bucket candidates verified)`: for `HAETAE_BENCH_LOOP=literals`, which compares it with other literal searchers.
#[doc(hidden)]
pub fn trigger_filter() -> Option<impl Fn(&str) -> (usize, usize)> {
    let lits = super::trigger_literals();
    let so = ShiftOr::new(&lits, lits.len())?;
    Some(move |text: &str| {
        let mut hits = so.hits(text.as_bytes());
        let n = hits.by_ref().count();
        (n, hits.candidates)
    })
}

/// Whether the shift-or trigger pass and a leftmost-first lazy DFA over the same literals give the same hits on
/// `text` (for the `detect_scan` fuzz target; `Err` only if the reference DFA cannot be built or fails).
#[doc(hidden)]
pub fn trigger_filter_agrees(text: &str) -> Result<bool, DetectError> {
    static BUILT: std::sync::OnceLock<Option<(ShiftOr, shift_or::Reference)>> =
        std::sync::OnceLock::new();
    let lits = super::trigger_literals();
    let built = BUILT.get_or_init(|| {
        Some((
            ShiftOr::new(&lits, lits.len())?,
            shift_or::Reference::new(&lits)?,
        ))
    });
    let (so, reference) = built
        .as_ref()
        .ok_or_else(|| DetectError::Build("trigger literals".into()))?;
    let expected = reference
        .hits(text)
        .map_err(|e| DetectError::Build(e.to_string()))?;
    Ok(so.hits(text.as_bytes()).eq(expected))
}

use scanners::{person_ko_ok, ScannerPlan, PEM_END, SURNAMES};
use shift_or::{ShiftOr, ShiftOrHits};
use union::{Union, UnionCache};

/// Minimum score of a builtin entity's findings unless the policy sets another (`[builtins] thresholds`).
const DEFAULT_THRESHOLD: f32 = 0.5;
/// Size limit for one custom regex (compiled NFA), in bytes.
pub const CUSTOM_REGEX_SIZE_LIMIT: usize = 2 * 1024 * 1024;
/// Maximum number of dictionary terms per custom detector.
pub const MAX_DICTIONARY_TERMS: usize = 1_000_000;
/// Bytes of context examined before a candidate (snapped to a char boundary, cut at a blank line).
pub const CONTEXT_BEFORE: usize = 64;
/// Bytes of context examined after a candidate (snapped to a char boundary, cut at a blank line).
pub const CONTEXT_AFTER: usize = 32;
/// Stretches shorter than this plus twice the longest keyword are walked as one chain ([`Engine::keyword_walk_two`]).
const KEYWORD_TWO_CHAINS_MIN: usize = 16;
/// Dictionaries searched on their own (not merged) whose terms total at most this many bytes are compiled to an
/// aho-corasick DFA (about 60 bytes of automaton per term byte, so at most ~16 MiB); bigger ones to a contiguous NFA,
/// searched anchored where their prefix filter passes (`exact::PrefixFilter`; unanchored with aho-corasick's
/// prefilter when a term is a single byte). Merged dictionaries are always a contiguous NFA.
const DICTIONARY_DFA_BYTES: usize = 256 * 1024;
/// Dictionaries (of any size) whose term prefixes number at most this many are merged into the trigger pass: their
/// prefixes (up to [`DICTIONARY_PREFIX_BYTES`]) join the trigger pass and the dictionary automaton runs anchored at
/// those candidate starts only, instead of as a second full pass over the text. The 1,000,000-term bench dictionary
/// (one prefix) went from 0.42x to 0.97x the throughput of the 10,000-term one by being merged.
const MAX_MERGED_PREFIXES: usize = 4096;
/// Words that mark a quoted one-class `password=`-style value as a stock dummy (`"changeme"`, `"yourpassword"`),
/// compared case-insensitively anywhere in the value.
const DUMMY_SECRET_WORDS: [&[u8]; 11] = [
    b"password",
    b"passwd",
    b"changeme",
    b"changeit",
    b"example",
    b"sample",
    b"placeholder",
    b"dummy",
    b"secret",
    b"redacted",
    b"your",
];

/// Merged dictionary prefixes join the shift-or filter (instead of sending the trigger pass to the lazy DFA) when
/// they are plain case-sensitive literals and at most this many: more would crowd its buckets.
const MAX_SHIFT_OR_PREFIXES: usize = 32;
/// Byte length (snapped down to a char boundary) of the term prefixes merged into the trigger pass.
const DICTIONARY_PREFIX_BYTES: usize = 6;
/// Lazy-DFA cache per scratch. Sized so the union of all builtins never thrashes on mixed Korean/English text.
const HYBRID_CACHE: usize = 8 * 1024 * 1024;

/// One detector (a builtin entity's detector id, or a custom detector).
#[derive(Debug, Clone)]
struct Detector {
    name: Arc<str>,
    entity: Entity,
    threshold: f32,
    /// Base score of a custom detector (builtin patterns carry their own).
    base: f32,
    /// (context group, score delta)
    context: Vec<(u16, f32)>,
    context_required: bool,
    custom_validator: Option<ValidatorKind>,
}

/// One regex pattern of the union.
#[derive(Debug, Clone)]
struct PatInfo {
    detector: usize,
    base: f32,
    check: Check,
    boundary: Boundary,
}

/// A dictionary automaton and the detector of each of its terms.
#[derive(Debug)]
struct Dictionary {
    ac: AhoCorasick,
    /// The same terms by exact lookup, when they come in few lengths (see [`exact`]).
    exact: Option<exact::ExactTerms>,
    /// Where a term may start, for a big dictionary searched on its own (see [`exact`]); `ac` is then anchored.
    filter: Option<exact::PrefixFilter>,
    /// `(first term, detector)` at each detector's first term, in term order: a detector's terms are consecutive,
    /// so a dictionary of 1,000,000 terms of one detector holds one entry, not 4 MB of detector ids.
    detectors: Vec<(u32, u32)>,
}

impl Dictionary {
    /// The detector that term `term` belongs to.
    fn detector_of(&self, term: usize) -> Option<u32> {
        let run = self
            .detectors
            .partition_point(|&(first, _)| first as usize <= term);
        run.checked_sub(1).map(|r| self.detectors[r].1)
    }

    /// The longest term starting at `p` (the automaton's anchored leftmost-longest match), for a dictionary whose
    /// automaton is anchored.
    #[inline]
    fn longest_at(&self, hay: &str, p: usize) -> Option<aho_corasick::Match> {
        match &self.exact {
            Some(x) => x
                .longest_at(hay.as_bytes(), p)
                .map(|(e, term)| aho_corasick::Match::must(term, p..e)),
            None => {
                let input = aho_corasick::Input::new(hay)
                    .span(p..hay.len())
                    .anchored(aho_corasick::Anchored::Yes);
                self.ac.try_find(input).ok().flatten()
            }
        }
    }
}

/// The literal searcher that proposes candidate starts for the builtin union, over every ASCII and Hangul trigger
/// literal plus the honorifics of the Korean-name scanner: the shift-or filter of [`shift_or`] when no dictionary
/// prefixes are merged, else one lazy DFA (regex-automata `hybrid`) over the literals and the prefixes. The DFA's
/// byte-at-a-time pass beats both two Teddy passes (Teddy's 3-byte fingerprints of Hangul collide in most buckets on
/// Korean text) and an aho-corasick DFA (~18 instructions per byte against ~8); it is lazy because determinising the
/// whole set up front costs ~90 ms per engine. The shift-or filter reads about twice as fast again
/// (`HAETAE_BENCH_LOOP=literals`).
#[derive(Debug)]
struct Triggers {
    dfa: Arc<hybrid::dfa::DFA>,
    /// The same literals as a shift-or filter ([`shift_or`]), which reads about twice as fast as the DFA; used
    /// instead of it unless the merged dictionary prefixes are many (they would crowd its buckets) or
    /// case-insensitive.
    shift_or: Option<ShiftOr>,
    /// Byte length of each literal (the DFA reports match ends; literals have fixed length).
    len: Vec<usize>,
    /// Back-offset of each trigger literal; pattern ids `>= back.len()` are honorifics for the Korean-name scanner.
    back: Vec<usize>,
    /// Bytes that can begin a pattern of [`DIGIT_LEAD_CHECKS`] (over-approximation): positions before a digit run
    /// are only tried when they hold one.
    lead: Box<[bool; 256]>,
    /// Pattern ids `>= dict_from` are dictionary term prefixes (merged dictionaries only).
    dict_from: usize,
    /// Per literal: it only starts a match at the start of a token (not after a [`token_byte`]).
    token_start: Vec<bool>,
    /// Per literal: whether a match may start at the literal itself (not one of [`TRIGGERS_INSIDE_A_WORD`]); when
    /// not, only the starts before it are searched.
    at_trigger: Vec<bool>,
    /// Bytes that can begin a dictionary term (merged dictionaries only; all `false` otherwise).
    dict_first: Box<[bool; 256]>,
}

type ScratchMaker = Box<dyn Fn() -> Scratch + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// Reusable per-thread state for [`Engine::scan_into`]: the lazy-DFA cache and the normalisation buffer.
/// Create with [`Engine::scratch`]; never shared between threads at the same time. Its `Debug` shows buffer sizes
/// only, never the text it last held.
pub struct Scratch {
    cache: Option<UnionCache>,
    /// Lazy-DFA cache of the trigger-literal searcher: only for engines whose trigger pass is that DFA (merged
    /// dictionaries with too many or case-insensitive prefixes); the shift-or filter needs none.
    lits: Option<hybrid::dfa::Cache>,
    norm: Normalized,
    groups: Context,
    /// Candidate starts of merged dictionaries, from the trigger pass (sorted, distinct).
    dict_cands: Vec<usize>,
    /// Whether `dict_cands` is unusable (the trigger pass failed): merged dictionaries then try every char boundary.
    dict_all: bool,
}

impl Scratch {
    /// An empty scratch with caches for the union `regex` and for the trigger DFA `lits` (see
    /// [`Triggers::scratch_dfa`]): the one constructor behind both [`Engine::scratch`] and the engine's pool.
    fn new(regex: Option<&Union>, lits: Option<&hybrid::dfa::DFA>) -> Scratch {
        Scratch {
            cache: regex.map(Union::create_cache),
            lits: lits.map(hybrid::dfa::DFA::create_cache),
            norm: Normalized::default(),
            groups: Context::default(),
            dict_cands: Vec::new(),
            dict_all: false,
        }
    }
}

impl Triggers {
    /// The trigger DFA when it runs the trigger pass, i.e. when the shift-or filter could not be built; only then
    /// does a scratch need its cache.
    fn scratch_dfa(&self) -> Option<&Arc<hybrid::dfa::DFA>> {
        self.shift_or.is_none().then_some(&self.dfa)
    }
}

/// Per-scan state handed to every candidate loop: the context keyword state (the groups found around the current
/// candidate, and the keyword hits of the stretch of text scanned so far, so neighbouring candidates in dense text
/// share one keyword pass instead of each rescanning its own window) and the scan's deadline.
#[derive(Default)]
struct Context {
    /// Groups present around the current candidate.
    groups: Vec<u16>,
    /// The candidate's labels: each group with a keyword before the candidate on its line, with that keyword's
    /// nearest end (`usize::MAX` for a group of its column's header cell, which labels it most closely).
    labels: Vec<(u16, usize)>,
    /// `(start, end, group)` of every keyword match lying wholly inside `lo..hi`, sorted by end; ASCII keywords
    /// glued to a word are already left out.
    hits: Vec<(usize, usize, u16)>,
    lo: usize,
    hi: usize,
    /// The keyword automaton's state after `lo..hi` (valid while `hi > lo`): an extension resumes from it.
    kw_state: StateID,
    /// When the current scan must give up ([`Engine::scan_segment_until`]).
    deadline: Option<Deadline>,
    /// Whether the deadline has passed (checked every [`DEADLINE_CHECK_EVERY`] steps).
    expired: bool,
    steps: u32,
    /// `(start, end, pattern)` of each name label found as a table header cell ([`Check::PersonTable`]); their
    /// columns are read after the pass ([`Engine::table_names`]).
    tables: Vec<(usize, usize, usize)>,
    /// [`Engine::table_names`]'s place: the header line being read, the end of the rows read so far, and how many of
    /// that header's columns were read.
    table_cursor: (Option<usize>, usize, usize),
    /// The names found so far in the column [`Engine::table_names`] is reading under an English header (reported
    /// only if they are at least as many as the column's other filled cells).
    table_cells: Vec<(usize, usize)>,
    /// [`scanners::column_header`]'s place: the comma- or tab-separated block last read (its header line's start,
    /// the start of the last row checked, the separator, the cells per line).
    column: Option<(usize, usize, u8, usize)>,
    /// The scanners' anchor byte positions in the segment (read before the scanners run).
    anchors: scanners::Anchors,
}

/// The context keywords around one candidate, as [`Engine::finish`] scores them.
#[derive(Clone, Copy, Default)]
struct Around<'a> {
    groups: &'a [u16],
    labels: &'a [(u16, usize)],
}

impl Context {
    fn around(&self) -> Around<'_> {
        Around {
            groups: &self.groups,
            labels: &self.labels,
        }
    }

    fn clear_groups(&mut self) {
        self.groups.clear();
        self.labels.clear();
    }

    fn reset(&mut self) {
        self.clear_groups();
        self.hits.clear();
        self.tables.clear();
        self.table_cursor = (None, 0, 0);
        self.table_cells.clear();
        self.column = None;
        self.anchors.clear();
        self.lo = 0;
        self.hi = 0;
        self.expired = false;
        self.steps = 0;
    }

    /// [`Context::out_of_time`] that reads the clock now (for loop turns that may each have read far).
    fn out_of_time_now(&mut self) -> bool {
        if let Some(deadline) = self.deadline {
            self.expired = self.expired || deadline.passed();
        }
        self.expired
    }

    /// Called once per candidate by every scan loop, which stops when it returns true. Reads the clock only every
    /// [`DEADLINE_CHECK_EVERY`] calls; without a deadline it is a counter increment.
    fn out_of_time(&mut self) -> bool {
        let Some(deadline) = self.deadline else {
            return false;
        };
        self.steps = self.steps.wrapping_add(1);
        if !self.expired && self.steps.is_multiple_of(DEADLINE_CHECK_EVERY) {
            self.expired = deadline.passed();
        }
        self.expired
    }
}

/// When a scan with a deadline ([`Engine::scan_segment_until`]) gives up.
#[derive(Clone, Copy, Debug)]
pub enum Deadline {
    /// At this wall-clock instant (an `Instant` converts into this).
    At(Instant),
    /// Once the thread that made it ([`Deadline::thread_cpu`]) has spent `until` CPU time in all, as read by its
    /// CPU clock: time spent waiting for a core or preempted does not count, so a busy machine does not make a scan
    /// give up that would have finished in budget. Read only on the thread that made it. A thread's CPU time cannot
    /// grow faster than wall-clock time, so before `not_before` (made + budget) the CPU clock, a system call, is not
    /// read at all: a scan that ends within its budget of wall time pays one read of it, when the deadline is made.
    ThreadCpu {
        /// The thread's CPU time at which the deadline passes.
        until: Duration,
        /// The wall-clock instant before which it cannot have passed.
        not_before: Instant,
    },
}

impl Deadline {
    /// A budget of `budget` CPU time for the calling thread, from now. Where the thread CPU clock is unavailable
    /// (not Linux), wall-clock time from now.
    pub fn thread_cpu(budget: Duration) -> Deadline {
        let not_before = Instant::now() + budget;
        match thread_cpu_now() {
            Some(now) => Deadline::ThreadCpu {
                until: now.saturating_add(budget),
                not_before,
            },
            None => Deadline::At(not_before),
        }
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        match *self {
            Deadline::At(at) => Instant::now() >= at,
            // A clock that cannot be read counts as passed: an unbounded scan is what the deadline exists to stop.
            Deadline::ThreadCpu { until, not_before } => {
                Instant::now() >= not_before && thread_cpu_now().is_none_or(|now| now >= until)
            }
        }
    }
}

impl From<Instant> for Deadline {
    fn from(at: Instant) -> Deadline {
        Deadline::At(at)
    }
}

/// CPU time the calling thread has used so far.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn thread_cpu_now() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Some(Duration::new(
        u64::try_from(t.tv_sec).ok()?,
        u32::try_from(t.tv_nsec).ok()?,
    ))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn thread_cpu_now() -> Option<Duration> {
    None
}

/// Candidates between two clock reads of a scan with a deadline. A candidate's searches read at most
/// [`MAX_SEARCH`] bytes ahead each, so the overshoot is bounded to a few milliseconds of scanning (measured: a 50 ms
/// deadline stops 16 MiB of the worst hostile shapes after 53–62 ms).
const DEADLINE_CHECK_EVERY: u32 = 16;
/// A rejected match at least this long makes the unanchored union read the clock at once.
const DEADLINE_LONG_READ: usize = 4096;

/// Start of the last `\n\n` in `b`.
/// Record that a keyword of group `g` ends at `at` before the candidate (keeping each group's nearest).
fn label(labels: &mut Vec<(u16, usize)>, g: u16, at: usize) {
    match labels.iter_mut().find(|l| l.0 == g) {
        Some(l) => l.1 = l.1.max(at),
        None => labels.push((g, at)),
    }
}

fn rfind_blank_line(b: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'\n', b)
        .find(|&i| i > 0 && b[i - 1] == b'\n')
        .map(|i| i - 1)
}

/// Start of the first `\n\n` in `b`.
fn find_blank_line(b: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', b).find(|&i| b.get(i + 1) == Some(&b'\n'))
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch")
            .field("normalised_capacity", &self.norm.text.capacity())
            .field("has_cache", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

/// The compiled detection engine. `Send + Sync`: build once, share through an `Arc`.
pub struct Engine {
    regex: Option<Union>,
    pats: Vec<PatInfo>,
    /// For each byte, the patterns (indices into `pats`, ascending) whose matches can begin with it: the ones
    /// [`Engine::retry_lower`] searches again after a rejection, without asking every pattern.
    retry_by_first: Box<[Box<[u32]>]>,
    detectors: Vec<Detector>,
    dictionaries: Vec<Dictionary>,
    /// All context keywords, searched by [`Engine::keyword_walk`].
    keywords: aho_corasick::dfa::DFA,
    keyword_group: Vec<u16>,
    keyword_ascii: Vec<bool>,
    /// Dictionaries run anchored at candidates from the trigger pass (see [`MAX_MERGED_PREFIXES`]).
    dict_merged: bool,
    has_custom_regex: bool,
    /// Anchored code scanners (e-mail around `@`, IPv6 around `:`, Korean names before honorifics).
    scanners: Vec<PatInfo>,
    /// Which scanners run a pass of their own and which are called from another's, resolved once at build.
    plan: ScannerPlan,
    person_suffixes: AhoCorasick,
    /// Trigger literals of the builtin union (`None` when custom regexes are compiled in: then the union runs
    /// unanchored over the whole text).
    triggers: Option<Triggers>,
    /// Per builtin entity (index in [`BUILTIN_ENTITIES`]): whether builtin detectors' findings of it are reported.
    builtin_report: [bool; BUILTIN_ENTITIES.len()],
    /// Per builtin entity: the minimum score of builtin detectors' findings of it.
    builtin_threshold: [f32; BUILTIN_ENTITIES.len()],
    /// Some builtin entity is not reported: findings go through [`Engine::drop_unreported`].
    unreported_any: bool,
    pool: Pool<Scratch, ScratchMaker>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("patterns", &self.pats.len())
            .field("detectors", &self.detectors.len())
            .field("dictionaries", &self.dictionaries.len())
            .finish_non_exhaustive()
    }
}

fn first_bytes(hir: &regex_syntax::hir::Hir) -> Box<[bool; 256]> {
    let mut set = Box::new([false; 256]);
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .limit_class(300)
        .limit_literal_len(1)
        .extract(hir);
    match seq.literals() {
        Some(lits) if !lits.is_empty() && lits.iter().all(|l| !l.as_bytes().is_empty()) => {
            for l in lits {
                if let Some(&b) = l.as_bytes().first() {
                    set[usize::from(b)] = true;
                }
            }
        }
        _ => set.fill(true),
    }
    set
}

fn parse_hir(pattern: &str, case_insensitive: bool) -> Result<regex_syntax::hir::Hir, String> {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(case_insensitive)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())
}

impl Engine {
    /// All builtin detectors, default thresholds, no custom detectors.
    pub fn builtin() -> Result<Engine, DetectError> {
        Engine::new(&DetectConfig::default())
    }

    /// Compile a configuration. Every problem names its detector.
    pub fn new(config: &DetectConfig) -> Result<Engine, DetectError> {
        // ---- builtin selection ----
        let parse_ids = |ids: &[String]| -> Result<Vec<Entity>, DetectError> {
            ids.iter()
                .map(|id| {
                    Entity::builtin_from_str(id)
                        .ok_or_else(|| DetectError::UnknownBuiltin(id.clone()))
                })
                .collect()
        };
        // `enabled`, `disabled` and `thresholds` act per ENTITY, not per detector: one builtin detector may report
        // several entities (the 13-digit number: RRN, FRN or CRN; a context-gated number: bank account or health
        // insurance card). Every builtin detector is therefore compiled whatever the selection, and settles its
        // span exactly as with every builtin on; a finding of an entity that is not reported, or that reaches the
        // default threshold but not its entity's raised one, is dropped only after overlaps are resolved
        // (`Engine::drop_unreported`), so leaving out one entity never hides, re-labels or uncovers another's
        // finding. (A threshold LOWERED below the default admits more candidates, which then claim their spans.)
        let mut report = [config.builtins.enabled.is_none(); BUILTIN_ENTITIES.len()];
        for e in parse_ids(config.builtins.enabled.as_deref().unwrap_or_default())? {
            if let Some(i) = e.builtin_index() {
                report[i] = true;
            }
        }
        for e in parse_ids(&config.builtins.disabled)? {
            if let Some(i) = e.builtin_index() {
                report[i] = false;
            }
        }
        let mut builtin_threshold = [DEFAULT_THRESHOLD; BUILTIN_ENTITIES.len()];
        for (id, t) in &config.builtins.thresholds {
            let Some(i) = Entity::builtin_from_str(id).and_then(|e| e.builtin_index()) else {
                return Err(DetectError::UnknownBuiltin(id.clone()));
            };
            if !(0.0..=1.0).contains(t) {
                return Err(DetectError::InvalidSpec {
                    detector: id.clone(),
                    reason: "threshold must be in 0..=1".into(),
                });
            }
            builtin_threshold[i] = *t;
        }
        if !report.contains(&true) && config.detectors.is_empty() {
            return Err(DetectError::NothingToDetect);
        }
        let threshold_of = |e: &Entity| {
            e.builtin_index()
                .map_or(DEFAULT_THRESHOLD, |i| builtin_threshold[i])
        };

        let mut detectors: Vec<Detector> = Vec::new();
        let mut pats: Vec<PatInfo> = Vec::new();
        let mut hirs: Vec<regex_syntax::hir::Hir> = Vec::new();

        for p in builtin::patterns() {
            let det = match detectors.iter().position(|d| &*d.name == p.detector) {
                Some(i) => i,
                None => {
                    detectors.push(Detector {
                        name: Arc::from(p.detector),
                        entity: p.entity.clone(),
                        threshold: threshold_of(&p.entity),
                        base: p.base,
                        context: Vec::new(),
                        context_required: false,
                        custom_validator: None,
                    });
                    detectors.len() - 1
                }
            };
            let hir =
                parse_hir(&p.regex, false).map_err(|message| DetectError::InvalidPattern {
                    detector: p.detector.to_owned(),
                    message,
                })?;
            pats.push(PatInfo {
                detector: det,
                base: p.base,
                check: p.check,
                boundary: p.boundary,
            });
            hirs.push(hir);
        }

        let mut scanners = Vec::new();
        for (name, entity, base, check, boundary) in SCANNERS {
            detectors.push(Detector {
                name: Arc::from(*name),
                entity: entity.clone(),
                threshold: threshold_of(entity),
                base: *base,
                context: Vec::new(),
                context_required: false,
                custom_validator: None,
            });
            scanners.push(PatInfo {
                detector: detectors.len() - 1,
                base: *base,
                check: *check,
                boundary: *boundary,
            });
        }
        let person_suffixes = AhoCorasickBuilder::new()
            .match_kind(AcMatchKind::LeftmostFirst)
            .build(PERSON_SUFFIXES)
            .map_err(|e| DetectError::Build(e.to_string()))?;

        // ---- keywords (builtin groups, then one group per custom detector) ----
        let mut kw_text: Vec<String> = Vec::new();
        let mut keyword_group: Vec<u16> = Vec::new();
        for (g, words) in KEYWORDS {
            for w in *words {
                kw_text.push(fold_str(w));
                keyword_group.push(*g as u16);
            }
        }

        // ---- custom detectors ----
        let mut dict_terms: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        // Per slot: `(first term, detector)` at each detector's first term (a detector's terms are consecutive).
        let mut dict_det: [Vec<(u32, u32)>; 2] = [Vec::new(), Vec::new()];
        let mut has_custom_regex = false;
        for (i, spec) in config.detectors.iter().enumerate() {
            let name = spec.id.clone();
            let bad = |reason: &str| DetectError::InvalidSpec {
                detector: name.clone(),
                reason: reason.to_owned(),
            };
            if spec.id.is_empty()
                || !spec
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(bad("id must be non-empty upper-case A-Z, 0-9, _"));
            }
            if detectors.iter().any(|d| *d.name == *spec.id) {
                return Err(bad("duplicate detector id"));
            }
            if Entity::builtin_from_str(&spec.id).is_some() {
                return Err(bad(
                    "id is a builtin entity id; give the detector its own id and set `entity` to report under it",
                ));
            }
            if spec.context.iter().any(|w| w.trim().is_empty()) {
                return Err(bad("context words must not be blank"));
            }
            for (what, v) in [("score", spec.score), ("threshold", spec.threshold)] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(bad(&format!("{what} must be in 0..=1")));
                }
            }
            let entity_id = spec.entity.clone().unwrap_or_else(|| spec.id.clone());
            if entity_id.is_empty()
                || !entity_id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(bad("entity must be non-empty upper-case A-Z, 0-9, _"));
            }
            let entity = Entity::builtin_from_str(&entity_id)
                .unwrap_or_else(|| Entity::Custom(Arc::from(entity_id.as_str())));
            let group = BUILTIN_GROUPS
                .checked_add(u16::try_from(i).map_err(|_| bad("too many custom detectors"))?)
                .ok_or_else(|| bad("too many custom detectors"))?;
            for w in &spec.context {
                kw_text.push(fold_str(w));
                keyword_group.push(group);
            }
            if spec.context_required && spec.context.is_empty() {
                return Err(bad("context_required needs context words"));
            }
            let det = detectors.len();
            detectors.push(Detector {
                name: Arc::from(spec.id.as_str()),
                entity,
                threshold: spec.threshold,
                base: spec.score,
                context: if spec.context.is_empty() {
                    Vec::new()
                } else {
                    vec![(group, spec.context_score)]
                },
                context_required: spec.context_required,
                custom_validator: Some(spec.validator),
            });
            if spec.terms_file.is_some() {
                return Err(DetectError::UnresolvedTermsFile { detector: name });
            }
            match (&spec.pattern, spec.terms.is_empty()) {
                (Some(_), false) => return Err(bad("set either pattern or terms, not both")),
                (None, true) => return Err(bad("needs a pattern or dictionary terms")),
                (Some(pattern), true) => {
                    let hir = parse_hir(pattern, spec.case_insensitive).map_err(|message| {
                        DetectError::InvalidPattern {
                            detector: name.clone(),
                            message,
                        }
                    })?;
                    // Compile alone first so a too-big or invalid regex is reported with its detector's name.
                    meta::Regex::builder()
                        .configure(
                            meta::Config::new().nfa_size_limit(Some(CUSTOM_REGEX_SIZE_LIMIT)),
                        )
                        .build_from_hir(&hir)
                        .map_err(|e| {
                            if e.size_limit().is_some() {
                                DetectError::PatternTooBig {
                                    detector: name.clone(),
                                    limit: CUSTOM_REGEX_SIZE_LIMIT,
                                }
                            } else {
                                DetectError::InvalidPattern {
                                    detector: name.clone(),
                                    message: e.to_string(),
                                }
                            }
                        })?;
                    if hir.properties().minimum_len().unwrap_or(0) == 0 {
                        return Err(bad("pattern can match the empty string"));
                    }
                    has_custom_regex = true;
                    pats.push(PatInfo {
                        detector: det,
                        base: spec.score,
                        check: Check::None,
                        boundary: Boundary::None,
                    });
                    hirs.push(hir);
                }
                (None, false) => {
                    if spec.terms.len() > MAX_DICTIONARY_TERMS {
                        return Err(DetectError::TooManyTerms {
                            detector: name,
                            count: spec.terms.len(),
                            limit: MAX_DICTIONARY_TERMS,
                        });
                    }
                    let slot = usize::from(spec.case_insensitive);
                    let det_u32 = u32::try_from(det).map_err(|_| bad("too many detectors"))?;
                    let first = u32::try_from(dict_terms[slot].len())
                        .map_err(|_| bad("too many dictionary terms"))?;
                    for t in &spec.terms {
                        let t = fold_str(t.trim());
                        if !t.is_empty() {
                            dict_terms[slot].push(t);
                        }
                    }
                    if dict_terms[slot].len() > first as usize {
                        dict_det[slot].push((first, det_u32));
                    }
                }
            }
        }

        // ---- compile the union ----
        let regex = if hirs.is_empty() {
            None
        } else {
            // Without custom regexes the union is only searched anchored, at the trigger pass's candidates: it is
            // built without what unanchored searches need (see `union`).
            let r = Union::build(&hirs, !has_custom_regex, 64 * 1024 * 1024, HYBRID_CACHE)
                .map_err(DetectError::Build)?;
            Some(r)
        };
        // The bytes each pattern's matches can begin with.
        let firsts: Vec<Box<[bool; 256]>> = hirs.iter().map(first_bytes).collect();

        // Merge dictionaries into the trigger pass when their distinct term prefixes are few, whatever their size:
        // a merged dictionary is searched anchored with a contiguous NFA, so a big one costs no more memory merged.
        // Each merged prefix: its pattern for the trigger DFA, its length, and the prefix itself when it is a plain
        // literal (no ASCII letter folded): the shift-or filter takes the prefixes only when every one is.
        let mut dict_prefixes: Vec<(String, usize, Option<String>)> = Vec::new();
        let mut dict_first = Box::new([false; 256]);
        let mut dict_merged = false;
        if !has_custom_regex && !hirs.is_empty() && dict_terms.iter().any(|t| !t.is_empty()) {
            let mut seen = std::collections::BTreeSet::new();
            for (slot, terms) in dict_terms.iter().enumerate() {
                for t in terms {
                    let mut cut = t.len().min(DICTIONARY_PREFIX_BYTES);
                    while cut > 0 && !t.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    if cut == 0 {
                        cut = t.chars().next().map_or(t.len(), char::len_utf8);
                    }
                    let prefix = &t[..cut];
                    let pattern: String = if slot == 1 {
                        prefix
                            .chars()
                            .map(|c| {
                                if c.is_ascii_alphabetic() {
                                    format!(
                                        "[{}{}]",
                                        c.to_ascii_lowercase(),
                                        c.to_ascii_uppercase()
                                    )
                                } else {
                                    regex_syntax::escape(c.encode_utf8(&mut [0u8; 4]))
                                }
                            })
                            .collect()
                    } else {
                        regex_syntax::escape(prefix)
                    };
                    if let Some(&b) = t.as_bytes().first() {
                        dict_first[usize::from(b)] = true;
                        if slot == 1 {
                            dict_first[usize::from(b.to_ascii_lowercase())] = true;
                            dict_first[usize::from(b.to_ascii_uppercase())] = true;
                        }
                    }
                    if seen.insert(pattern.clone()) {
                        let plain = !(slot == 1 && prefix.bytes().any(|b| b.is_ascii_alphabetic()));
                        dict_prefixes.push((
                            pattern,
                            prefix.len(),
                            plain.then(|| prefix.to_owned()),
                        ));
                    }
                }
            }
            dict_merged = dict_prefixes.len() <= MAX_MERGED_PREFIXES;
            if !dict_merged {
                dict_prefixes.clear();
                dict_first.fill(false);
            }
        }

        let mut dictionaries = Vec::new();
        for slot in 0..2 {
            let terms = std::mem::take(&mut dict_terms[slot]);
            if terms.is_empty() {
                continue;
            }
            // A small dictionary searched on its own becomes a DFA without prefilter (2x faster on Korean text, where
            // the rare-byte prefilter of terms with a common Hangul prefix fires constantly); a big one stays a
            // contiguous NFA so the engine keeps within its memory budget (about 60 bytes of DFA per term byte).
            // A merged dictionary is only searched anchored, a few dozen bytes at each candidate start: there the
            // compact contiguous NFA stays in cache where the DFA's rows miss (10,000 terms: 13.3 -> 1.3 MiB, dense
            // text with the dictionary ~1.3x faster, compile 82 -> 33 ms).
            // A big dictionary searched on its own is searched anchored too, at the positions its prefix filter
            // passes: with an unanchored pass of its automaton, 100,000 names made the engine 0.21x the builtins
            // alone on Korean prose, now 0.45x (with the trigger-pass fix above; `benches/detect.md` round 30).
            let term_bytes: usize = terms.iter().map(String::len).sum();
            let small = term_bytes <= DICTIONARY_DFA_BYTES;
            let filter = if !small && !dict_merged {
                exact::PrefixFilter::build(&terms, slot == 1)
            } else {
                None
            };
            let anchored = dict_merged || filter.is_some();
            let exact = if anchored {
                exact::ExactTerms::build(&terms, slot == 1)
            } else {
                None
            };
            let ac = AhoCorasickBuilder::new()
                .match_kind(AcMatchKind::LeftmostLongest)
                .ascii_case_insensitive(slot == 1)
                .kind(Some(if small && !dict_merged {
                    aho_corasick::AhoCorasickKind::DFA
                } else {
                    aho_corasick::AhoCorasickKind::ContiguousNFA
                }))
                .prefilter(!small && !anchored)
                .start_kind(if anchored {
                    aho_corasick::StartKind::Anchored
                } else {
                    aho_corasick::StartKind::Unanchored
                })
                .build(&terms)
                .map_err(|e| DetectError::Build(e.to_string()))?;
            dictionaries.push(Dictionary {
                ac,
                exact,
                filter,
                detectors: std::mem::take(&mut dict_det[slot]),
            });
        }

        let keyword_ascii: Vec<bool> = kw_text
            .iter()
            .map(|k| k.bytes().all(|b| b.is_ascii()))
            .collect();
        let keywords = aho_corasick::dfa::Builder::new()
            .match_kind(AcMatchKind::Standard)
            .ascii_case_insensitive(true)
            .prefilter(false)
            .start_kind(aho_corasick::StartKind::Unanchored)
            .build(&kw_text)
            .map_err(|e| DetectError::Build(e.to_string()))?;

        // Builtin detectors take their context rules from their entity.
        for d in detectors
            .iter_mut()
            .filter(|d| d.custom_validator.is_none())
        {
            d.context = builtin::entity_context(&d.entity)
                .iter()
                .map(|&(g, w)| (g as u16, w))
                .collect();
        }

        let triggers = if has_custom_regex {
            None
        } else {
            let lits: Vec<&str> = TRIGGERS
                .iter()
                .map(|t| t.0)
                .chain(PERSON_SUFFIXES.iter().copied())
                .collect();
            let mut escaped: Vec<String> = lits.iter().map(|l| regex_syntax::escape(l)).collect();
            let mut len: Vec<usize> = lits.iter().map(|l| l.len()).collect();
            let dict_from = escaped.len();
            for (pattern, n, _) in &dict_prefixes {
                escaped.push(pattern.clone());
                len.push(*n);
            }
            let mut cfg = hybrid::dfa::DFA::config().match_kind(MatchKind::LeftmostFirst);
            if dict_merged {
                cfg = cfg.cache_capacity(HYBRID_CACHE);
            }
            let dfa = hybrid::dfa::DFA::builder()
                .configure(cfg)
                .build_many(&escaped)
                .map_err(|e| DetectError::Build(e.to_string()))?;
            // The shift-or filter takes the trigger literals, and the merged dictionary prefixes when they are few
            // plain literals (ids from `dict_from` on, as in the DFA); otherwise the DFA runs the trigger pass. (Read
            // from the merged prefixes themselves: a separate list once outlived an unmerged dictionary's prefixes
            // and sent its trigger pass to the DFA, ~3x slower.)
            let plain: Option<Vec<&str>> = dict_prefixes.iter().map(|p| p.2.as_deref()).collect();
            let shift_or = match plain {
                Some(p) if p.len() <= MAX_SHIFT_OR_PREFIXES => {
                    let all: Vec<&str> = lits.iter().copied().chain(p).collect();
                    ShiftOr::new(&all, dict_from)
                }
                _ => None,
            };
            let mut lead = Box::new([false; 256]);
            for (_, first) in pats
                .iter()
                .zip(&firsts)
                .filter(|(p, _)| DIGIT_LEAD_CHECKS.contains(&p.check))
            {
                for (l, f) in lead.iter_mut().zip(first.iter()) {
                    *l |= *f;
                }
            }
            Some(Triggers {
                dfa: Arc::new(dfa),
                shift_or,
                len,
                back: TRIGGERS.iter().map(|t| t.1).collect(),
                token_start: TRIGGERS
                    .iter()
                    .map(|t| TOKEN_START_TRIGGERS.contains(&t.0))
                    .collect(),
                at_trigger: TRIGGERS
                    .iter()
                    .map(|t| t.1 == 0 || !TRIGGERS_INSIDE_A_WORD.contains(&t.0))
                    .collect(),
                lead,
                dict_from,
                dict_first: dict_first.clone(),
            })
        };
        let maker_regex = regex.clone();
        let maker_lits = triggers
            .as_ref()
            .and_then(Triggers::scratch_dfa)
            .map(Arc::clone);
        let maker: ScratchMaker =
            Box::new(move || Scratch::new(maker_regex.as_ref(), maker_lits.as_deref()));
        let retry_by_first = (0..256)
            .map(|b| {
                (0..firsts.len())
                    .filter(|&q| firsts[q][b])
                    .filter_map(|q| u32::try_from(q).ok())
                    .collect()
            })
            .collect();
        Ok(Engine {
            regex,
            pats,
            retry_by_first,
            detectors,
            dictionaries,
            keywords,
            keyword_group,
            keyword_ascii,
            dict_merged,
            has_custom_regex,
            plan: ScannerPlan::new(&scanners, triggers.is_some()),
            scanners,
            person_suffixes,
            triggers,
            builtin_report: report,
            builtin_threshold,
            unreported_any: report.contains(&false)
                || builtin_threshold.iter().any(|&t| t > DEFAULT_THRESHOLD),
            pool: Pool::new(maker),
        })
    }

    /// A fresh scratch for [`Engine::scan_into`].
    pub fn scratch(&self) -> Scratch {
        let lits = self.triggers.as_ref().and_then(Triggers::scratch_dfa);
        Scratch::new(self.regex.as_ref(), lits.map(|d| &**d))
    }

    /// How each custom dictionary is searched, one line per automaton (case-sensitive terms first): for
    /// diagnostics and tests, never with a term in it. `merged` (its prefixes ride the trigger pass), `filtered`
    /// (anchored where its prefix filter passes), `dfa` or `unanchored` (a pass of its own); then `exact lookup` or
    /// `anchored automaton` for the anchored ones.
    pub fn dictionary_searches(&self) -> Vec<&'static str> {
        self.dictionaries
            .iter()
            .map(
                |d| match (self.dict_merged, d.filter.is_some(), d.exact.is_some()) {
                    (true, _, true) => "merged, exact lookup",
                    (true, _, false) => "merged, anchored automaton",
                    (false, true, true) => "filtered, exact lookup",
                    (false, true, false) => "filtered, anchored automaton",
                    (false, false, _) if d.ac.kind() == aho_corasick::AhoCorasickKind::DFA => "dfa",
                    (false, false, _) => "unanchored",
                },
            )
            .collect()
    }

    /// Approximate heap memory of the compiled engine (regex + automata), excluding per-thread scratch.
    pub fn memory_usage(&self) -> usize {
        self.regex.as_ref().map_or(0, Union::memory_usage)
            + self
                .dictionaries
                .iter()
                .map(|d| {
                    d.ac.memory_usage()
                        + d.exact.as_ref().map_or(0, exact::ExactTerms::memory_usage)
                        + d.filter
                            .as_ref()
                            .map_or(0, exact::PrefixFilter::memory_usage)
                        + d.detectors.len() * 8
                })
                .sum::<usize>()
            + self.keywords.memory_usage()
            + self.triggers.as_ref().map_or(0, |t| {
                t.dfa.memory_usage() + t.shift_or.as_ref().map_or(0, ShiftOr::memory_usage)
            })
    }

    /// Number of regex patterns compiled into the union.
    pub fn pattern_count(&self) -> usize {
        self.pats.len()
    }

    /// Names of all detectors, in priority order.
    pub fn detector_names(&self) -> impl Iterator<Item = &str> {
        self.detectors.iter().map(|d| &*d.name)
    }

    /// Scan `text`; findings sorted by start, non-overlapping, offsets are UTF-8 byte offsets into `text`.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut scratch = self.pool.get();
        self.scan_segment(text, 0, &mut scratch, &mut out);
        out
    }

    /// Run `f` with a scratch borrowed from the engine's pool, so its lazy-DFA caches stay warm across calls (a fresh
    /// [`Engine::scratch`] per request would rebuild them every time). For callers scanning many texts per call.
    pub fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        let mut scratch = self.pool.get();
        f(&mut scratch)
    }

    /// Like [`Engine::scan`] but reusing `scratch` and `out` (cleared first): no allocation once warmed up, for
    /// clean text.
    pub fn scan_into(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<Finding>) {
        out.clear();
        self.scan_segment(text, 0, scratch, out);
    }

    /// Scan one segment of a larger document and APPEND its findings with offsets shifted by `base`. Context never
    /// crosses a segment, so scanning segments one by one equals scanning each alone; and scanning a document whose
    /// segments are joined by blank lines equals scanning the segments (context windows stop at a blank line; the
    /// only construct allowed to span one is a PEM private-key block).
    pub fn scan_segment(
        &self,
        text: &str,
        base: usize,
        scratch: &mut Scratch,
        out: &mut Vec<Finding>,
    ) {
        self.scan_segment_inner(text, base, scratch, out, None);
    }

    /// [`Engine::scan_segment`] that gives up once `deadline` has passed: then it returns
    /// [`DetectError::DeadlineExceeded`] and the findings it appended are incomplete (a caller enforcing policy must
    /// treat the text as not inspected). The scan loops read the clock every few candidates, so a hostile text that
    /// is slow to scan costs at most the time left, not the time it would take.
    pub fn scan_segment_until(
        &self,
        text: &str,
        base: usize,
        scratch: &mut Scratch,
        out: &mut Vec<Finding>,
        deadline: impl Into<Deadline>,
    ) -> Result<(), DetectError> {
        let deadline = deadline.into();
        if deadline.passed() {
            return Err(DetectError::DeadlineExceeded);
        }
        self.scan_segment_inner(text, base, scratch, out, Some(deadline));
        if scratch.groups.expired {
            return Err(DetectError::DeadlineExceeded);
        }
        Ok(())
    }

    fn scan_segment_inner(
        &self,
        text: &str,
        base: usize,
        scratch: &mut Scratch,
        out: &mut Vec<Finding>,
        deadline: Option<Deadline>,
    ) {
        let first = out.len();
        let Scratch {
            cache,
            lits,
            norm,
            groups,
            dict_cands,
            dict_all,
        } = scratch;
        groups.reset();
        groups.deadline = deadline;
        dict_cands.clear();
        *dict_all = false;
        // One pass lists the normaliser's lead bytes and the scanners' anchors (AVX-512 only); a text that folds
        // has the anchors of its folded copy listed again (rare: an NBSP, an em dash, an escape).
        groups.anchors.fill(text.as_bytes());
        let leads = groups.anchors.take_fold_leads();
        let normalized = norm.fill_until(text, leads.as_deref(), &mut || groups.out_of_time());
        groups.anchors.give_back_list(avx512::FOLDS, leads);
        if groups.expired {
            return; // folding ran out of time: nothing is scanned, and the caller reports the deadline
        }
        if normalized {
            groups.anchors.fill(norm.text.as_bytes());
        }
        let hay: &str = if normalized { &norm.text } else { text };
        if let (Some(re), Some(cache)) = (&self.regex, cache.as_mut()) {
            let dict = DictCands {
                cands: dict_cands,
                all: dict_all,
            };
            self.run_regex(re, cache, lits, hay, groups, dict, out);
        }
        for &i in &self.plan.passes {
            if let Some(p) = self.scanners.get(i) {
                if !groups.anchors.rules_out(p.check) {
                    self.run_scanner(p, hay, groups, out);
                }
            }
        }
        for dict in &self.dictionaries {
            if self.dict_merged {
                self.run_dictionary_at(
                    dict,
                    hay,
                    dict_cands.iter().copied(),
                    *dict_all,
                    groups,
                    out,
                );
            } else if let Some(f) = &dict.filter {
                self.run_dictionary_at(dict, hay, f.starts(hay.as_bytes()), false, groups, out);
            } else {
                self.run_dictionary(dict, hay, groups, out);
            }
        }
        let tables = std::mem::take(&mut groups.tables);
        for &(s, e, pid) in &tables {
            if let Some(p) = self.pats.get(pid) {
                self.table_names(p, hay, s, e, groups, out);
            }
        }
        groups.tables = tables;
        for f in &mut out[first..] {
            if normalized {
                let (s, e) = norm.map(text, f.start, f.end);
                f.start = s;
                f.end = e;
            }
            f.start += base;
            f.end += base;
        }
        if self.unreported_any {
            self.drop_unreported(out, first);
        } else {
            resolve_overlaps(out, first);
        }
    }

    /// Overlaps when some builtin entity is not reported or has a threshold above the default: the builtin findings
    /// (unreported ones included) settle
    /// their overlaps among themselves exactly as with every builtin on, then the unreported ones are dropped, then
    /// custom findings settle against what is left (so a custom detector that replaces a left-out builtin, such as a
    /// name dictionary with `PERSON` disabled, is not hidden by it). A custom detector's finding is never dropped,
    /// whatever entity it reports.
    fn drop_unreported(&self, out: &mut Vec<Finding>, first: usize) {
        let mut custom = Vec::new();
        let mut w = first;
        for r in first..out.len() {
            if is_custom_detector(&out[r].detector) {
                custom.push(out[r].clone());
            } else {
                out.swap(w, r);
                w += 1;
            }
        }
        out.truncate(w);
        resolve_overlaps(out, first);
        let (report, threshold) = (&self.builtin_report, &self.builtin_threshold);
        let mut w = first;
        for r in first..out.len() {
            let f = &out[r];
            if f.entity
                .builtin_index()
                .is_none_or(|i| report[i] && f.score >= threshold[i])
            {
                out.swap(w, r);
                w += 1;
            }
        }
        out.truncate(w);
        if !custom.is_empty() {
            out.extend(custom);
            resolve_overlaps(out, first);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run_regex(
        &self,
        re: &Union,
        cache: &mut UnionCache,
        lits: &mut Option<hybrid::dfa::Cache>,
        hay: &str,
        groups: &mut Context,
        dict: DictCands<'_>,
        out: &mut Vec<Finding>,
    ) {
        let triggered = self
            .triggers
            .as_ref()
            .filter(|t| t.shift_or.is_some() || lits.is_some());
        if let Some(t) = triggered {
            self.run_triggered(re, cache, lits.as_mut(), hay, t, groups, dict, out);
        } else {
            *dict.all = true;
            self.run_unanchored(re, cache, hay, groups, out);
        }
    }

    /// Builtin-only path: candidate starts come from trigger literals and digit runs; the union is searched anchored
    /// at those starts only, so clean prose costs one aho-corasick pass plus a SIMD digit scan.
    #[allow(clippy::too_many_arguments)]
    fn run_triggered(
        &self,
        re: &Union,
        cache: &mut UnionCache,
        lit_cache: Option<&mut hybrid::dfa::Cache>,
        hay: &str,
        tr: &Triggers,
        groups: &mut Context,
        dict: DictCands<'_>,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        let person = self.plan.scanner(&self.scanners, Check::PersonKoAfter);
        let road = self.plan.scanner(&self.scanners, Check::AddressRoad);
        let phone = self.plan.scanner(&self.scanners, Check::PhoneLabel);
        let first = out.len();
        let failed = std::cell::Cell::new(false);
        let DictCands {
            cands: dict_cands,
            all: dict_all,
        } = dict;
        let mut lits = LiteralHits {
            tr,
            so: tr.shift_or.as_ref().map(|s| s.hits(b)),
            cache: lit_cache,
            hay: b,
            at: 0,
            failed: &failed,
            dict: dict_cands,
        }
        .peekable();
        let mut digits = DigitRuns::new(b);
        let mut digit = digits.next();
        // A blank before a run begins no pattern (see `scanners::after_plain_syllable`).
        let space_not_lead = !tr.lead[usize::from(b' ')];
        let mut pos = 0;
        let budget = RESCAN_BUDGET_FACTOR * b.len() + RESCAN_BUDGET_BASE;
        let mut spent = 0;
        loop {
            if groups.out_of_time() {
                break;
            }
            // Honorific hits (ids past the trigger table) feed the Korean-name scanner, not the regex union.
            while let Some(m) = lits.peek().filter(|m| m.1 >= tr.back.len()).copied() {
                lits.next();
                if let Some(p) = person {
                    self.person_before_suffix(p, hay, m.0, groups, out);
                }
            }
            let l = lits
                .peek()
                .map(|m| (m.0, tr.back.get(m.1).copied().unwrap_or(0), m.1));
            let is_digit = match (l, digit) {
                (Some(x), Some(d)) => d < x.0,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            // Whether a match may start at the literal itself (else only the starts before it are tried).
            let mut at_literal = true;
            let (t, tb) = if is_digit {
                let d = digit.unwrap_or(0);
                digit = digits.next();
                (d, DIGIT_BACK)
            } else if let Some((at, back, id)) = l {
                lits.next();
                // A token-start literal inside a longer token (`…eyJeyJ…`) is not a start: without this, every copy
                // in one long token would search that token to its end again (quadratic).
                if tr.token_start.get(id).copied().unwrap_or(false)
                    && at > 0
                    && token_byte(b[at - 1])
                    && !(at > 1 && b[at - 2] == b'\\' && matches!(b[at - 1], b'n' | b'r' | b't'))
                {
                    continue;
                }
                at_literal = tr.at_trigger.get(id).copied().unwrap_or(true);
                (at, back)
            } else {
                break;
            };
            if t < pos {
                continue;
            }
            // Whether a match may start at the digit run itself; also what a label's number needs (below).
            let shaped = is_digit && numeric_shape(b, t);
            // Most numbers in Korean prose follow a plain syllable and have no identifier's shape (`2024년`, `약
            // 15%`): no test below can take them, and one bitmap lookup tells so. So with the later runs of a
            // dotted number (`2.3.1`).
            if is_digit
                && !shaped
                && space_not_lead
                && (scanners::after_plain_syllable(b, t) || scanners::after_digit_dot(b, t))
            {
                continue;
            }
            // A house number after a road name (`강남구 테헤란로 427`): the address starts words before the run.
            if let Some(a) = road.filter(|_| is_digit) {
                if let Some(end) = self.road_address(a, hay, t, pos, groups, out) {
                    pos = end;
                    continue;
                }
            }
            let mut p = t.saturating_sub(tb).max(pos);
            if is_digit {
                // The bytes before a run that cannot begin a pattern are skipped in one tight loop (most are a blank
                // or the end of a syllable).
                while p < t && !(tr.lead[usize::from(b[p])] && hay.is_char_boundary(p)) {
                    p += 1;
                }
            }
            let mut accepted = false;
            while p <= t {
                // Before a digit run only a byte that can begin a pattern (IBAN country code, passport letter) is
                // worth an anchored search; at the run itself only a number-shaped span (see `numeric_shape`).
                let worth = if !is_digit {
                    hay.is_char_boundary(p) && (p < t || at_literal)
                } else if p < t {
                    tr.lead[usize::from(b[p])]
                        && hay.is_char_boundary(p)
                        && (p + 1 == t || builtin::digit_lead_pair(b[p], b[p + 1]))
                } else {
                    shaped
                };
                if worth {
                    let limit = rescan_limit(p, spent, budget, b.len());
                    if let Some(end) =
                        self.try_at(re, cache, hay, p..limit, groups, out, &mut spent)
                    {
                        pos = end;
                        accepted = true;
                        break;
                    }
                }
                p += 1;
            }
            // A number no pattern took: a resident number's back part after its label (`앞자리 850314 뒷자리
            // 1308025`), or a number right after a phone label (`Tel: 212-736-4821`). Both have seven digits or
            // more in a run of digits and single separators, which `numeric_shape` admits: a number without that
            // shape (`version 2.3.1`, `model 12%`) skips the label lookups (`scanners::labelled_numbers_are_shaped`).
            if let Some(ph) = phone.filter(|_| shaped && !accepted && t >= pos) {
                if let Some(end) = self.number_after_label(ph, hay, t, groups, out) {
                    pos = end;
                }
            }
        }
        if failed.get() {
            *dict_all = true;
            // The literal DFA has no quit bytes, so it cannot fail; if it ever did (or the scratch came without its
            // cache), fail closed: scan everything the slow way instead of missing candidates.
            out.truncate(first);
            self.run_unanchored(re, cache, hay, groups, out);
            if let Some(p) = person {
                for m in self.person_suffixes.find_iter(hay) {
                    self.person_before_suffix(p, hay, m.start(), groups, out);
                }
            }
            if let Some(a) = road {
                for t in DigitRuns::new(b) {
                    self.road_address(a, hay, t, 0, groups, out);
                }
            }
            if let Some(ph) = phone {
                for t in DigitRuns::new(b) {
                    self.number_after_label(ph, hay, t, groups, out);
                }
            }
        }
    }

    /// Anchored search of the union over `span` (from its start); on rejection, lower-priority patterns get their
    /// chance at the same start. Returns the end of the accepted match. Adds the length of every rejected match to
    /// `spent` (bytes the search read for nothing).
    #[allow(clippy::too_many_arguments)]
    fn try_at(
        &self,
        re: &Union,
        cache: &mut UnionCache,
        hay: &str,
        span: std::ops::Range<usize>,
        groups: &mut Context,
        out: &mut Vec<Finding>,
        spent: &mut usize,
    ) -> Option<usize> {
        let p = span.start;
        let m = re.search_with(
            cache,
            &Input::new(hay).range(span.clone()).anchored(Anchored::Yes),
        )?;
        let pid = m.pattern().as_usize();
        if !cut_by(m.end(), span.end, hay.len()) {
            if let Some(f) = self.evaluate(hay, &self.pats[pid], p, m.end(), groups) {
                let end = resume_after(&self.pats[pid], &f, m.end(), spent);
                out.push(f);
                let end = self
                    .partner(hay, &self.pats[pid], p, m.end(), groups, out)
                    .map_or(end, |pe| pe.max(end));
                return Some(end.max(p + 1));
            }
        }
        *spent += m.end() - p;
        self.retry_lower(re, cache, hay, span, pid, groups, out, spent)
    }

    /// The second finding an accepted match (`s..e`) implies: the partner's name after a salutation's
    /// (`Dear John and Mary,`), the secret access key after an AWS access key id (`AKIA… secret wJalr…`). Returns the
    /// end of a finding that lies past the match (the scan goes on from there).
    fn partner(
        &self,
        hay: &str,
        p: &PatInfo,
        s: usize,
        e: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) -> Option<usize> {
        match p.check {
            Check::PersonEn => {
                self.salutation_partner(hay, p, s, e, groups, out);
                None
            }
            Check::AwsKeyId => {
                let (vs, ve) = scanners::aws_secret_after(hay.as_bytes(), e)?;
                let f = self.finish(
                    self.detectors.get(p.detector)?,
                    None,
                    vs,
                    ve,
                    p.base,
                    Around::default(),
                )?;
                out.push(f);
                Some(ve)
            }
            _ => None,
        }
    }

    /// `Dear John and Mary,`: a salutation's match (`s..e`, a `Check::PersonEn` pattern's, [`Self::partner`]) reports its
    /// first name; the name after `and`/`&` is evaluated from the joiner here (`Check::PersonEn` takes the first only
    /// when both are names).
    fn salutation_partner(
        &self,
        hay: &str,
        p: &PatInfo,
        s: usize,
        e: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let Some(t) = hay.get(s..e).filter(|t| t.ends_with(',')) else {
            return;
        };
        if !SALUTATIONS.iter().any(|g| t.starts_with(g)) {
            return;
        }
        if let Some(j) = joiner(t) {
            if let Some(f) = self.evaluate(hay, p, s + j + 1, e, groups) {
                out.push(f);
            }
        }
    }

    /// After pattern `pid`'s match at `span.start` was rejected: each lower-priority pattern that can start with that
    /// byte, searched anchored over `span`, gets its chance, so a failed check never hides another detector. Returns
    /// the end of the accepted match; adds rejected matches' lengths to `spent`.
    #[allow(clippy::too_many_arguments)]
    fn retry_lower(
        &self,
        re: &Union,
        cache: &mut UnionCache,
        hay: &str,
        span: std::ops::Range<usize>,
        pid: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
        spent: &mut usize,
    ) -> Option<usize> {
        let p = span.start;
        let lower = self
            .retry_by_first
            .get(usize::from(*hay.as_bytes().get(p)?))?;
        for &q in &lower[lower.partition_point(|&q| q as usize <= pid)..] {
            let q = q as usize;
            let qid = PatternID::try_from(q).ok()?;
            let input = Input::new(hay)
                .range(span.clone())
                .anchored(Anchored::Pattern(qid));
            if let Some(m) = re.search_with(cache, &input) {
                if !cut_by(m.end(), span.end, hay.len()) {
                    if let Some(f) = self.evaluate(hay, &self.pats[q], p, m.end(), groups) {
                        out.push(f);
                        let end = self
                            .partner(hay, &self.pats[q], p, m.end(), groups, out)
                            .map_or(m.end(), |pe| pe.max(m.end()));
                        return Some(end.max(p + 1));
                    }
                }
                *spent += m.end() - p;
            }
        }
        None
    }

    fn run_unanchored(
        &self,
        re: &Union,
        cache: &mut UnionCache,
        hay: &str,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let bytes = hay.as_bytes();
        let mut pos = 0;
        // Searches read windows, so that no single search can read far: `UNANCHORED_WINDOW` bytes overlapping by
        // `MAX_SEARCH`, and past the trigger pass's re-scan budget (same reason as there) windows of twice
        // `RESCAN_WINDOW` overlapping by `RESCAN_WINDOW`. A match is taken only if it starts at least an overlap
        // before its window's end (unless the window reaches the text's end): then any match starting earlier that
        // the window cut off is longer than the overlap. Otherwise the next window starts an overlap before this one
        // ended. So every match up to the overlap's length is found exactly as by one search over the whole text.
        let budget = RESCAN_BUDGET_FACTOR * bytes.len() + RESCAN_BUDGET_BASE;
        let mut spent = 0;
        while pos < bytes.len() && !groups.out_of_time() {
            let (size, overlap) = if spent > budget {
                (2 * RESCAN_WINDOW, RESCAN_WINDOW)
            } else {
                (UNANCHORED_WINDOW, MAX_SEARCH)
            };
            let end = (pos + size).min(bytes.len());
            let input = Input::new(hay).range(pos..end);
            let Some(m) = re.search_with(cache, &input) else {
                if end == bytes.len() {
                    break;
                }
                pos = end - overlap;
                while !hay.is_char_boundary(pos) {
                    pos += 1;
                }
                // A long stretch without matches is few loop turns: read the clock at each.
                if groups.out_of_time_now() {
                    break;
                }
                continue;
            };
            let (s, e, pid) = (m.start(), m.end(), m.pattern().as_usize());
            if end < bytes.len() && s > end - overlap {
                pos = end - overlap;
                while !hay.is_char_boundary(pos) {
                    pos += 1;
                }
                continue;
            }
            if !cut_by(e, end, bytes.len()) {
                if let Some(f) = self.evaluate(hay, &self.pats[pid], s, e, groups) {
                    let end = resume_after(&self.pats[pid], &f, e, &mut spent);
                    out.push(f);
                    let end = self
                        .partner(hay, &self.pats[pid], s, e, groups, out)
                        .map_or(end, |pe| pe.max(end));
                    pos = end.max(s + 1);
                    while !hay.is_char_boundary(pos) {
                        pos += 1;
                    }
                    continue;
                }
            }
            spent += e - s;
            // A long rejected match read far (up to a window): read the clock now rather than 16 of them later.
            if e - s >= DEADLINE_LONG_READ && groups.out_of_time_now() {
                break;
            }
            let limit = rescan_limit(s, spent, budget, bytes.len());
            let accepted = self.retry_lower(re, cache, hay, s..limit, pid, groups, out, &mut spent);
            pos = match accepted {
                Some(end) => end,
                None => {
                    let mut next = s + 1;
                    // Builtins never accept a candidate that starts inside a digit run: skip the rest of the run.
                    if !self.has_custom_regex
                        && s > 0
                        && bytes[s].is_ascii_digit()
                        && bytes[s - 1].is_ascii_digit()
                    {
                        while next < bytes.len() && bytes[next].is_ascii_digit() {
                            next += 1;
                        }
                    }
                    while next < bytes.len() && !hay.is_char_boundary(next) {
                        next += 1;
                    }
                    next
                }
            };
        }
    }

    fn run_dictionary(
        &self,
        dict: &Dictionary,
        hay: &str,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        for m in dict.ac.find_iter(hay) {
            if groups.out_of_time() {
                break;
            }
            self.dictionary_match(dict, hay, m, groups, out);
        }
    }

    /// Word boundary, validator, context and threshold for one dictionary match.
    fn dictionary_match(
        &self,
        dict: &Dictionary,
        hay: &str,
        m: aho_corasick::Match,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let (s, e, term) = (m.start(), m.end(), m.pattern().as_usize());
        let bytes = hay.as_bytes();
        let alnum = |i: usize| bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric());
        if (alnum(s) && s > 0 && alnum(s - 1)) || (e > s && alnum(e - 1) && alnum(e)) {
            return;
        }
        let Some(det) = dict.detector_of(term) else {
            return;
        };
        let Some(d) = self.detectors.get(det as usize) else {
            return;
        };
        if !custom_valid(d, hay, s, e) {
            return;
        }
        self.custom_context(d, hay, s, e, groups);
        if let Some(f) = self.finish(d, None, s, e, d.base, groups.around()) {
            out.push(f);
        }
    }

    /// A merged dictionary: anchored leftmost-longest searches at the candidate starts from the trigger pass, in
    /// order, skipping starts inside the previous match. The same matches as the unanchored leftmost-longest
    /// iteration, because every position where a term starts is a candidate.
    fn run_dictionary_at(
        &self,
        dict: &Dictionary,
        hay: &str,
        cands: impl IntoIterator<Item = usize>,
        all: bool,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let mut cur = 0;
        let mut each = |p: usize, cur: &mut usize| {
            if p < *cur || groups.out_of_time() {
                return;
            }
            if let Some(m) = dict.longest_at(hay, p) {
                *cur = m.end();
                self.dictionary_match(dict, hay, m, groups, out);
            }
        };
        if all {
            for p in 0..hay.len() {
                each(p, &mut cur);
            }
        } else {
            for p in cands {
                each(p, &mut cur);
            }
        }
    }

    /// The context groups a custom detector's finding at `s..e` is scored by: none when the detector has no context
    /// words (its score cannot change, so the keyword search is skipped: a dictionary of product code names on dense
    /// text would otherwise search every match's window), else [`Self::find_context`].
    fn custom_context(&self, d: &Detector, hay: &str, s: usize, e: usize, ctx: &mut Context) {
        if d.context.is_empty() {
            ctx.clear_groups();
        } else {
            self.find_context(hay, s, e, ctx);
        }
    }

    /// Collect the context groups present around `s..e` into `ctx.groups`: the keywords lying wholly inside the
    /// window (snapped to char boundaries, cut at a blank line); and the candidate's labels into `ctx.labels`.
    fn find_context(&self, hay: &str, s: usize, e: usize, ctx: &mut Context) {
        ctx.clear_groups();
        let bytes = hay.as_bytes();
        let mut ws = s.saturating_sub(CONTEXT_BEFORE);
        while !hay.is_char_boundary(ws) {
            ws += 1;
        }
        let mut we = (e + CONTEXT_AFTER).min(bytes.len());
        while !hay.is_char_boundary(we) {
            we -= 1;
        }
        if let Some(p) = rfind_blank_line(&bytes[ws..s]) {
            ws += p + 2;
        }
        if let Some(p) = find_blank_line(&bytes[e..we]) {
            we = e + p;
        }
        self.keyword_hits(bytes, ws, we, ctx);
        let line = memchr::memrchr(b'\n', &bytes[ws..s]).map_or(ws, |p| ws + p + 1);
        let Context {
            groups,
            labels,
            hits,
            ..
        } = ctx;
        let from = hits.partition_point(|h| h.1 <= ws);
        for &(ks, ke, g) in &hits[from..] {
            if ke > we {
                break;
            }
            if ks >= ws && !groups.contains(&g) {
                groups.push(g);
            }
            if ks >= line && ke <= s {
                label(labels, g, ke);
            }
        }
        // A cell of a comma- or tab-separated table also has its column's header cell as context (`주민등록번호`
        // over rows of bare numbers, the header far above the window; `사업자등록번호` next to a `계좌번호` column).
        if let Some((hs, he)) = scanners::column_header(bytes, s, e, &mut ctx.column) {
            let Context { groups, labels, .. } = ctx;
            self.cell_groups(bytes, hs, he, |g| {
                if !groups.contains(&g) {
                    groups.push(g);
                }
                label(labels, g, usize::MAX);
            });
        }
    }

    /// Call `found` with the group of each keyword inside `cs..ce` (a header cell), with the word-boundary rule of
    /// [`Self::keyword_hits`] for ASCII keywords.
    fn cell_groups(&self, bytes: &[u8], cs: usize, ce: usize, mut found: impl FnMut(u16)) {
        let word = |i: usize| bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric());
        let Ok(start) = self.keywords.start_state(aho_corasick::Anchored::No) else {
            return;
        };
        self.keyword_walk(bytes, cs, ce, start, |ks, ke, k| {
            if self.keyword_ascii.get(k).copied().unwrap_or(false)
                && ((ks > 0 && word(ks - 1)) || (ke - ks <= 3 && word(ke)))
            {
                return;
            }
            if let Some(&g) = self.keyword_group.get(k) {
                found(g);
            }
        });
    }

    /// Feed `bytes[from..to]` to the keyword automaton, starting in state `sid`, and call `hit(start, end, keyword)`
    /// for every keyword occurrence ending inside (in order of end, and at one end in the automaton's order, as an
    /// overlapping search reports them; the occurrences are those starting at or after where the state's walk
    /// began). Returns the state at `to`, from which a later call resumes the same walk. A hand loop over the DFA
    /// ([`next_special`]): the library's overlapping iterator pays a call and its bookkeeping per match and per byte.
    fn keyword_walk(
        &self,
        bytes: &[u8],
        from: usize,
        to: usize,
        mut sid: StateID,
        mut hit: impl FnMut(usize, usize, usize),
    ) -> StateID {
        let kw = &self.keywords;
        let mut at = from;
        while let Some(stretch) = bytes.get(at..to).filter(|s| !s.is_empty()) {
            let (i, next) = next_special(kw, stretch, sid);
            sid = next;
            let Some(i) = i else {
                break;
            };
            let ke = at + i + 1;
            keyword_matches(kw, sid, ke, &mut hit);
            at = ke;
        }
        sid
    }

    /// Make sure `ctx.hits` holds every keyword match inside `ws..we`: extend the scanned stretch when the window
    /// overlaps it, else restart it at the window. An extension resumes the automaton in the state it had at the
    /// stretch's end (no byte is fed twice), so the stretch's matches are those of one overlapping search of
    /// `lo..hi`, and the set inside the window the same as a search of the window alone. A window past the stretch's
    /// end restarts it (none of the recorded hits lies inside, and the bytes in between are not fed at all).
    fn keyword_hits(&self, bytes: &[u8], ws: usize, we: usize, ctx: &mut Context) {
        if ws < ctx.lo || ws > ctx.hi || ctx.hi == ctx.lo {
            let Ok(start) = self.keywords.start_state(aho_corasick::Anchored::No) else {
                return;
            };
            ctx.hits.clear();
            ctx.lo = ws;
            ctx.hi = ws;
            ctx.kw_state = start;
        }
        if we <= ctx.hi {
            return;
        }
        // Walked in two chains when long enough (a window of ~100 bytes is): each byte waits on its own chain's
        // previous transition only.
        let word = |i: usize| bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric());
        let hits = &mut ctx.hits;
        let first = hits.len();
        let hit = |ks: usize, ke: usize, k: usize| {
            if self.keyword_ascii.get(k).copied().unwrap_or(false)
                && ((ks > 0 && word(ks - 1)) || (ke - ks <= 3 && word(ke)))
            {
                return;
            }
            if let Some(&g) = self.keyword_group.get(k) {
                hits.push((ks, ke, g));
            }
        };
        ctx.kw_state = self.keyword_walk_two(bytes, ctx.hi, we, ctx.kw_state, hit);
        // The second chain's hits were recorded as they came, interleaved with the first's: back in order of end (a
        // stable sort keeps the automaton's order at one end).
        ctx.hits[first..].sort_by_key(|h| h.1);
        ctx.hi = we;
    }

    /// [`Engine::keyword_walk`] as two independent chains when `from..to` is long enough: the first walks
    /// `from..mid` from `sid`; the second starts from the start state `L` bytes before `mid` (`L`: the longest
    /// keyword), where its state becomes exact by `mid` (a state is the longest keyword prefix ending there, never
    /// longer than `L`), and reports only the hits ending after `mid`. Each byte waits on the previous byte's
    /// transition in its own chain only, so the two overlap. Hits come in no particular order of end.
    fn keyword_walk_two(
        &self,
        bytes: &[u8],
        from: usize,
        to: usize,
        sid: StateID,
        mut hit: impl FnMut(usize, usize, usize),
    ) -> StateID {
        let kw = &self.keywords;
        let l = kw.max_pattern_len();
        let (Some(all), Ok(start)) = (
            bytes.get(from..to),
            kw.start_state(aho_corasick::Anchored::No),
        ) else {
            return sid;
        };
        if all.len() < KEYWORD_TWO_CHAINS_MIN + 2 * l {
            return self.keyword_walk(bytes, from, to, sid, hit);
        }
        // Chain A reads `from..mid`, chain B `mid - l..to`: the same length (B's last byte, if any, after the loop).
        let mid = (from + to + l) / 2;
        let (a, b) = (&bytes[from..mid], &bytes[mid - l..to]);
        let (mut sa, mut sb) = (sid, start);
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            sa = kw.next_state(aho_corasick::Anchored::No, sa, x);
            sb = kw.next_state(aho_corasick::Anchored::No, sb, y);
            if kw.is_special(sa) {
                keyword_matches(kw, sa, from + i + 1, &mut hit);
            }
            let ke = mid - l + i + 1;
            if kw.is_special(sb) && ke > mid {
                keyword_matches(kw, sb, ke, &mut hit);
            }
        }
        for (i, &y) in b.iter().enumerate().skip(a.len()) {
            sb = kw.next_state(aho_corasick::Anchored::No, sb, y);
            if kw.is_special(sb) {
                keyword_matches(kw, sb, mid - l + i + 1, &mut hit);
            }
        }
        sb
    }

    /// Boundary check, validator, context score and threshold for one regex candidate.
    fn evaluate(
        &self,
        hay: &str,
        p: &PatInfo,
        s: usize,
        e: usize,
        groups: &mut Context,
    ) -> Option<Finding> {
        let d = self.detectors.get(p.detector)?;
        if !boundary_ok(hay, s, e, p.boundary) {
            return None;
        }
        if p.check == Check::PersonTable {
            // Not a finding itself: the column below is read after the pass. `p` is an element of `self.pats`: its
            // index is its distance from the first (checked, so a `PatInfo` from elsewhere is never misread).
            if groups.tables.len() < scanners::MAX_TABLES {
                let pid = (p as *const PatInfo as usize).wrapping_sub(self.pats.as_ptr() as usize)
                    / std::mem::size_of::<PatInfo>();
                if self.pats.get(pid).is_some_and(|q| std::ptr::eq(q, p)) {
                    groups.tables.push((s, e, pid));
                }
            }
            // A label that opens a key/value row (`성명,김민수`) is followed by its value on the same line: that is
            // read now, for every such row (not only the queued ones).
            return self.key_value_name(p, hay, s, e);
        }
        if d.custom_validator.is_some() {
            if !custom_valid(d, hay, s, e) {
                return None;
            }
            self.custom_context(d, hay, s, e, groups);
            return self.finish(d, None, s, e, p.base, groups.around());
        }
        // Context is looked up lazily: only checks that classify by context, and detectors with context rules, pay.
        let needs_context_first = matches!(p.check, Check::Rrn13 | Check::ContextNumeric);
        if needs_context_first {
            self.find_context(hay, s, e, groups);
        }
        let cand = hay.get(s..e)?.as_bytes();
        let (entity, s2, e2, score) = {
            let g: &[u16] = &groups.groups;
            let has = |x: Group| needs_context_first && g.contains(&(x as u16));
            check(p.check, hay, cand, s, e, p.base, &has)?
        };
        let final_entity = entity.as_ref().unwrap_or(&d.entity);
        // Key shapes only: a password may be any word (`password=Example123!`).
        if *final_entity == Entity::SecretKey
            && !matches!(p.check, Check::Assignment | Check::Credential)
            && secret_placeholder(hay.get(s2..e2)?.as_bytes())
        {
            return None;
        }
        if !needs_context_first {
            if builtin::entity_context(final_entity).is_empty() {
                groups.clear_groups();
            } else {
                self.find_context(hay, s2, e2, groups);
            }
        }
        self.finish(d, entity, s2, e2, score, groups.around())
    }

    fn finish(
        &self,
        d: &Detector,
        entity: Option<Entity>,
        s: usize,
        e: usize,
        base: f32,
        around: Around<'_>,
    ) -> Option<Finding> {
        let entity = entity.unwrap_or_else(|| d.entity.clone());
        let mut score = base;
        // Re-classified builtin findings (RRN→CRN, account→health insurance) use their entity's rules; no allocation.
        let own = d.custom_validator.is_some() || entity == d.entity;
        let builtin_rules = if own {
            &[][..]
        } else {
            builtin::entity_context(&entity)
        };
        let rules = d
            .context
            .iter()
            .filter(|_| own)
            .copied()
            .chain(builtin_rules.iter().map(|&(g, w)| (g as u16, w)));
        // The label (the nearest keyword of these rules before the match on its line, or its column's header) takes
        // sides: keywords pulling the other way are ignored. `SSN: 512-48-7391, version 2` stays an SSN, a `Part no.`
        // value on the next line is not raised by the SSN keyword above it. Without a label every keyword counts.
        let (mut raise, mut lower) = (0.0, 0.0);
        let mut label: Option<(usize, bool)> = None;
        let mut any = false;
        for (g, w) in rules {
            if !around.groups.contains(&g) {
                continue;
            }
            any = true;
            if w > 0.0 {
                raise += w;
            } else {
                lower += w;
            }
            if let Some(&(_, at)) = around.labels.iter().find(|l| l.0 == g) {
                if w != 0.0 && label.is_none_or(|(best, _)| at > best) {
                    label = Some((at, w > 0.0));
                }
            }
        }
        score += match label {
            Some((_, true)) => raise,
            Some((_, false)) => lower,
            None => raise + lower,
        };
        if d.context_required && !any {
            return None;
        }
        let score = score.clamp(0.0, 1.0);
        // A builtin detector's finding needs its entity's threshold (also when it was re-classified to a sibling);
        // a custom detector's, the detector's own.
        // A threshold raised above the default is applied after overlaps (`drop_unreported`): up to the default the
        // finding still claims its span.
        let threshold = match entity.builtin_index() {
            Some(i) if d.custom_validator.is_none() => {
                self.builtin_threshold[i].min(DEFAULT_THRESHOLD)
            }
            _ => d.threshold,
        };
        if score < threshold || e <= s {
            return None;
        }
        Some(Finding {
            entity,
            start: s,
            end: e,
            score,
            detector: Arc::clone(&d.name),
        })
    }
}

/// Whether a finding's detector is a custom one: custom ids are upper-case `A-Z0-9_` (checked when the engine is
/// built), every builtin detector name holds a lower-case letter (`kr_rrn`, `secret.aws`).
fn is_custom_detector(name: &str) -> bool {
    !name.bytes().any(|b| b.is_ascii_lowercase())
}

/// Validator of a custom detector: `false` drops the candidate.
fn custom_valid(d: &Detector, hay: &str, s: usize, e: usize) -> bool {
    let v = d.custom_validator.unwrap_or_default();
    let Some(cand) = hay.get(s..e).map(str::as_bytes) else {
        return false;
    };
    match v {
        ValidatorKind::None => true,
        ValidatorKind::Luhn => validate::luhn(cand),
        ValidatorKind::Iban => validate::iban(cand),
        ValidatorKind::KrRrn => {
            digits13(cand).is_some_and(|d| validate::rrn_shape(&d) != RrnShape::Invalid)
        }
        ValidatorKind::KrCrn => digits13(cand).is_some_and(|d| validate::crn_checksum(&d)),
        ValidatorKind::KrBrn => digitsn::<10>(cand).is_some_and(|d| validate::brn_checksum(&d)),
        ValidatorKind::UsSsn => digitsn::<9>(cand).is_some_and(|d| validate::us_ssn(&d)),
        ValidatorKind::Ipv4 => validate::ipv4(cand),
        ValidatorKind::Ipv6 => validate::ipv6(cand),
    }
}

/// Re-scan budget of one trigger pass: bytes read by anchored searches whose match was then rejected, up to
/// `RESCAN_BUDGET_FACTOR × text length + RESCAN_BUDGET_BASE`. Ordinary text spends a few percent of it. Text built so
/// that many candidates sit inside one long rejected match (`xsk-xsk-xsk-…`, `SECRET//SECRET//…a`) would otherwise
/// re-read that match once per candidate, quadratic in its length.
const RESCAN_BUDGET_FACTOR: usize = 2;
const RESCAN_BUDGET_BASE: usize = 16 * 1024;
/// Once the budget is spent, each anchored search reads at most this many bytes: every finding up to this length is
/// still found exactly, longer ones (a JWT, a long banner) only when they begin before the budget ran out.
const RESCAN_WINDOW: usize = 256;
/// Before the budget is spent, each anchored search reads at most this many bytes (and the unanchored union reads
/// windows of [`UNANCHORED_WINDOW`] that overlap by this much): the longest finding reported whole. No real finding
/// comes near it (a 8192-bit PEM key is ~6.5 KB and is found by a scanner anyway), and it bounds what one search can
/// cost, so a scan with a deadline stops within a few milliseconds of it.
const MAX_SEARCH: usize = 64 * 1024;
/// Window of the unanchored union before the budget is spent; consecutive windows overlap by [`MAX_SEARCH`], so
/// clean text is read about 1.07 times.
const UNANCHORED_WINDOW: usize = 16 * MAX_SEARCH;

/// Whether a one-letter portion mark `(C)`/`(S)` at `s..e` sits among list markers: another parenthesised capital
/// that is not a portion-mark letter (`(A) Apple`, `(B) Banana`, `(M) Medium`) within 160 bytes on either side, in
/// the same paragraph (a blank line ends the look).
fn lettered_list(bytes: &[u8], s: usize, e: usize) -> bool {
    let mut lo = s.saturating_sub(160);
    let mut hi = (e + 160).min(bytes.len());
    if let Some(p) = rfind_blank_line(&bytes[lo..s]) {
        lo += p + 2;
    }
    if let Some(p) = find_blank_line(&bytes[e..hi]) {
        hi = e + p;
    }
    bytes[lo..hi].windows(3).any(|w| {
        w[0] == b'('
            && w[2] == b')'
            && w[1].is_ascii_uppercase()
            && !matches!(w[1], b'C' | b'S' | b'U')
    })
}

/// The end of an assignment's value starting at `vs` (the regex matched up to `e`), and whether it is a whole quoted
/// string. A quoted value runs to its closing quote (spaces, `;` and `,` included; at most 200 bytes, one line). An
/// unquoted one ends at a `&` that starts the next query parameter (`&user=`, `&amp;user=`; a `&` inside the value,
/// `Tr0ub4dor&3`, is part of it), at a JSON escape (`\n`, `\"`) and before trailing `.`, `,`, `;` or an unmatched
/// closing bracket.
fn assignment_value_end(bytes: &[u8], vs: usize, e: usize) -> (usize, bool) {
    if let Some(&q) = vs.checked_sub(1).and_then(|i| bytes.get(i)) {
        if matches!(q, b'"' | b'\'') {
            let limit = (vs + 201).min(bytes.len());
            if let Some(k) = bytes[vs..limit].iter().position(|&b| b == q || b == b'\n') {
                if bytes[vs + k] == q && !(q == b'"' && k > 0 && bytes[vs + k - 1] == b'\\') {
                    return (vs + k, true);
                }
            }
        }
    }
    let mut ve = e;
    let v = &bytes[vs..e];
    if let Some(k) = v.iter().enumerate().position(|(i, &b)| {
        (b == b'&' && query_key_follows(&bytes[vs + i + 1..]))
            || (b == b'\\' && matches!(v.get(i + 1), Some(b'n' | b'r' | b't' | b'"')))
            || (b == b'<' && v.get(i + 1) == Some(&b'/'))
    }) {
        ve = vs + k;
    }
    loop {
        let v = &bytes[vs..ve];
        let Some(&last) = v.last() else { break };
        let unmatched = |open: u8| {
            v.iter().filter(|&&b| b == open).count() < v.iter().filter(|&&b| b == last).count()
        };
        let trim = match last {
            b'.' | b',' | b';' => true,
            b')' => unmatched(b'('),
            b']' => unmatched(b'['),
            b'}' => unmatched(b'{'),
            _ => false,
        };
        if !trim {
            break;
        }
        ve -= 1;
    }
    (ve, false)
}

/// Whether a query string's next `key=` starts `rest` (the bytes after a `&`, an HTML-escaped `&amp;` included;
/// keys of at most 64 bytes).
fn query_key_follows(rest: &[u8]) -> bool {
    let rest = rest.strip_prefix(b"amp;").unwrap_or(rest);
    let key = rest
        .iter()
        .take(64)
        .take_while(|&&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'[' | b']')
        })
        .count();
    key > 0 && rest.get(key) == Some(&b'=')
}

/// Whether an assignment's or credential's value looks like a secret rather than a placeholder, a dummy, code or a
/// path: at least two character classes, or a whole quoted string of at least 8 characters that is not a stock
/// dummy (prose, `password: forgotten`, is not quoted; code is). A quoted value with spaces is a passphrase only with
/// a digit and at most four words (`"Enter your password"` is an interface string).
fn secret_value_ok(v: &[u8], quoted: bool, working_directory: bool) -> bool {
    if v.len() < 6 && !quoted {
        return false;
    }
    let classes = [
        v.iter().any(u8::is_ascii_lowercase),
        v.iter().any(u8::is_ascii_uppercase),
        v.iter().any(u8::is_ascii_digit),
        v.iter().any(|b| !b.is_ascii_alphanumeric()),
    ];
    // `$VAR`, `$var`, `${VAR}`, `$(cmd)` are references; `$ecretP4ss` (mixed case and a digit) is a value.
    let shell_reference = v.first() == Some(&b'$')
        && v.get(1).is_some_and(|&b| {
            let rest = &v[1..];
            let ident = rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
            let mixed_case =
                rest.iter().any(u8::is_ascii_uppercase) && rest.iter().any(u8::is_ascii_lowercase);
            matches!(b, b'{' | b'(') || (ident && !mixed_case)
        });
    let placeholder = shell_reference
        || v.first().is_some_and(|b| matches!(b, b'<' | b'{' | b'%'))
        || v.windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"xxxx") || w == b"****")
        || v.windows(3).any(|w| w == b"...")
        || v.iter().all(|&b| b == v[0])
        // A constant's name (`Bearer YOUR_API_KEY`, `api_key = OPENAI_API_KEY`): documentation or code, not a value.
        || (v.contains(&b'_')
            && v
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_'));
    // A filesystem path (`PWD=/home/kim/app`, `password_file: ~/pw.txt`) is not the secret.
    let path = v.starts_with(b"~/")
        || (v.first() == Some(&b'/') && (working_directory || v[1..].contains(&b'/')));
    let dummy = || holds_dummy_word(v);
    let words = v.split(|b| *b == b' ').filter(|w| !w.is_empty()).count();
    if words > 1 && (!quoted || !classes[2] || words > 4 || dummy()) {
        return false;
    }
    if names_a_secret(v) {
        return false;
    }
    let n = classes.iter().filter(|&&c| c).count();
    (n >= 2 || (quoted && v.len() >= 8 && !dummy()))
        && !placeholder
        && !path
        && (quoted || !code_expression(v))
}

/// Whether an assignment's key names a passphrase (`passphrase`, `ssh_key_passphrase`, `GPG_PASSPHRASE`).
fn passphrase_key(keyword: &str) -> bool {
    keyword.len() >= 10
        && keyword.as_bytes()[keyword.len() - 10..].eq_ignore_ascii_case(b"passphrase")
}

/// Whether a quoted value is a passphrase of words (`"correct horse battery staple"`): three to eight lower-case
/// words of 2–12 letters, one space or hyphen between them, none a prompt's or placeholder's word (`enter your
/// passphrase here`). A password's rules want a digit in a value with spaces; a passphrase's words are its strength.
fn diceware(v: &[u8]) -> bool {
    const PROMPT: [&[u8]; 6] = [b"your", b"enter", b"here", b"the", b"type", b"please"];
    let mut words = 0;
    for w in v.split(|&c| c == b' ' || c == b'-') {
        if !(2..=12).contains(&w.len())
            || !w.iter().all(u8::is_ascii_lowercase)
            || PROMPT.contains(&w)
        {
            return false;
        }
        words += 1;
    }
    (3..=8).contains(&words) && !holds_dummy_word(v)
}

/// Whether `v` holds one of [`DUMMY_SECRET_WORDS`] in any case (`changeme`, `example`, `Password123`).
fn holds_dummy_word(v: &[u8]) -> bool {
    DUMMY_SECRET_WORDS
        .iter()
        .any(|d| v.windows(d.len()).any(|w| w.eq_ignore_ascii_case(d)))
}

/// A key-shaped placeholder from a template, not a key: `ghp_xxxxxxxx…`, `AKIAXXXXXXXXXXXXXXXX`,
/// `xoxb-your-token-here`, `sk-ant-api03-....`. Random keys hold none of these runs (four `x` in a row, `your-`/`your_`,
/// `-here`/`_here`) except by a chance far below one in a million per key. AWS's documented `AKIAIOSFODNN7EXAMPLE` is
/// a real key's shape and stays a finding (masking a public example costs nothing; the vectors keep it).
fn secret_placeholder(v: &[u8]) -> bool {
    const RUNS: [&[u8]; 6] = [b"xxxx", b"your-", b"your_", b"-here", b"_here", b"...."];
    RUNS.iter()
        .any(|r| v.windows(r.len()).any(|w| w.eq_ignore_ascii_case(r)))
}

/// Whether an assignment's key names a password (`password`, `DB_PASSWORD`, `passwd`, `비밀번호는`, `비번`), not a
/// token or a key: after such a key even a one-class value is one ([`plain_password`]).
fn password_key(keyword: &str) -> bool {
    let k = keyword.as_bytes();
    k.windows(6).any(|w| w.eq_ignore_ascii_case(b"passwd"))
        || k.windows(8).any(|w| w.eq_ignore_ascii_case(b"password"))
        || ["비밀번호", "패스워드", "암호", "비번"]
            .iter()
            .any(|p| keyword.starts_with(p))
}

/// A password of one character class after a password key (`password=letmein`, `비밀번호: qwerty`, `password:
/// 1234`): all small letters (at least six, not a word a document writes there: `required`, `none`, `hidden`, a
/// stock dummy) or all digits (at least four, not one repeated digit). Capitals alone are a constant's name.
fn plain_password(v: &[u8]) -> bool {
    const NOT: [&[u8]; 24] = [
        b"required",
        b"optional",
        b"string",
        b"empty",
        b"hidden",
        b"masked",
        b"forgotten",
        b"unknown",
        b"undefined",
        b"default",
        b"protected",
        b"encrypted",
        b"expired",
        b"invalid",
        b"incorrect",
        b"updated",
        b"changed",
        b"provided",
        b"needed",
        b"missing",
        b"blank",
        b"secure",
        b"strong",
        b"random",
    ];
    let dummy = DUMMY_SECRET_WORDS
        .iter()
        .any(|d| v.windows(d.len()).any(|w| w.eq_ignore_ascii_case(d)));
    let lower = v.len() >= 6 && v.iter().all(u8::is_ascii_lowercase) && !NOT.contains(&v);
    let digits = v.len() >= 4 && v.iter().all(u8::is_ascii_digit) && v.iter().any(|&c| c != v[0]);
    (lower || digits) && !dummy
}

/// Whether a value is the *name* of a secret, not the secret: a lower-case kebab or snake name with `secret`,
/// `password`, `token`, `key` or `credentials` as one of its words (`secret: my-app-secret-v2`, a Kubernetes
/// `secretName`, an AWS Secrets Manager id, `password_file: db_password`).
fn names_a_secret(v: &[u8]) -> bool {
    const WORDS: [&[u8]; 10] = [
        b"secret",
        b"secrets",
        b"password",
        b"passwd",
        b"token",
        b"key",
        b"apikey",
        b"credential",
        b"credentials",
        b"creds",
    ];
    v.iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && v.iter().any(|&b| b == b'-' || b == b'_')
        && v.split(|&b| b == b'-' || b == b'_')
            .any(|w| WORDS.contains(&w))
        // A random part of 16 or more makes it a key with a prefix (Mailgun's `key-e9b5b2caf443…`).
        && !v
            .split(|&b| b == b'-' || b == b'_')
            .any(|w| w.len() >= 16 && w.iter().any(u8::is_ascii_digit))
}

/// Whether a `.netrc` entry's `login <user>` ends right before the `password` at `s`, after `machine <host>` or
/// `default` (spaces, tabs or line breaks between the tokens). Reads back at most a few hundred bytes.
fn netrc_login_before(b: &[u8], s: usize) -> bool {
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    // The token ending at `end` (after skipping spaces before it), as (start, token).
    // Tokens are separated by blanks and line breaks, but not by a blank line: segments joined by one scan as each
    // alone (`Engine::scan_segment`), and an entry does not go on past one.
    let token_before = |end: usize| -> Option<(usize, &[u8])> {
        let mut e = end;
        let mut breaks = 0;
        while e > 0 && end - e < 64 && space(b[e - 1]) {
            breaks += usize::from(b[e - 1] == b'\n');
            if breaks == 2 {
                return None;
            }
            e -= 1;
        }
        let mut t = e;
        while t > 0 && e - t < 128 && !space(b[t - 1]) {
            t -= 1;
        }
        (t < e).then(|| (t, &b[t..e]))
    };
    if s == 0 || !space(b[s - 1]) {
        return false;
    }
    let Some((u, user)) = token_before(s) else {
        return false;
    };
    if user == b"login" {
        return false;
    }
    let Some((l, b"login")) = token_before(u) else {
        return false;
    };
    match token_before(l) {
        Some((_, b"default")) => true,
        Some((h, _)) => matches!(token_before(h), Some((_, b"machine"))),
        None => false,
    }
}

/// Whether an unquoted assigned value is code that reads a secret rather than the secret itself: a call or subscript
/// (`os.environ[`, `get_secret(`, `hashlib.sha256(pw)`) or a dotted identifier path (`self.password`,
/// `settings.OPENAI_API_KEY`). A dotted value whose last part ends in three or more digits is a value
/// (`password: john.doe2024`): attribute names do not end that way (`np.float64` has two).
fn code_expression(v: &[u8]) -> bool {
    let ident_start = |c: u8| c.is_ascii_alphabetic() || c == b'_';
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    let mut dots = 0;
    loop {
        if !v.get(i).copied().is_some_and(ident_start) {
            return false;
        }
        let start = i;
        while v.get(i).copied().is_some_and(ident) {
            i += 1;
        }
        if random_part(&v[start..i]) {
            return false;
        }
        match v.get(i) {
            None => {
                let trailing_digits = v.iter().rev().take_while(|b| b.is_ascii_digit()).count();
                return dots > 0 && trailing_digits < 3;
            }
            Some(b'(' | b'[') => return true,
            Some(b'.') => {
                dots += 1;
                i += 1;
            }
            Some(_) => return false,
        }
    }
}

/// Whether one part of a dotted value is random text, not an identifier: four or more changes between letters and
/// digits (`p4ssw0rd`, `Xk9mP2qR7sT4`), where names have at most a few (`sha256`, `b64encode`, `v1beta1`). So
/// `password=my.p4ssw0rd`, `token=abc.DEF123xyz789QWEasd` and a Vault token `s.Xk9mP2qR…` are values.
fn random_part(p: &[u8]) -> bool {
    p.windows(2)
        .filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit() && w[0] != b'_' && w[1] != b'_')
        .count()
        >= 4
}

/// The last word of a credential match `t` (at `s..e`): a quoted string's inside (setting `quoted`) or the bytes
/// after the last space.
fn last_word(t: &str, s: usize, e: usize, quoted: &mut bool) -> (usize, usize) {
    if let Some(q) = t.chars().last().filter(|&c| c == '"' || c == '\'') {
        if let Some(open) = t[..t.len() - 1].rfind(q) {
            *quoted = true;
            return (s + open + 1, e - 1);
        }
    }
    (s + t.rfind(' ').map_or(0, |k| k + 1), e)
}

/// The line around `s..e` as `(start, end)` when its start lies within `reach` bytes before `s`; its end is cut at
/// `reach` bytes after `e` (possibly inside a character). Bounded reads keep a long line of candidates linear.
fn line_within(b: &[u8], s: usize, e: usize, reach: usize) -> Option<(usize, usize)> {
    let lo = s.saturating_sub(reach);
    let ls = match memchr::memrchr(b'\n', &b[lo..s]) {
        Some(i) => lo + i + 1,
        None if lo == 0 => 0,
        None => return None,
    };
    let hi = e.saturating_add(reach).min(b.len());
    let le = memchr::memchr(b'\n', &b[e..hi]).map_or(hi, |i| e + i);
    Some((ls, le))
}

/// [`Check::Geukbi`]: whether `극비` at `s..e` is a stamp (see there). Reads its line within 120 bytes each way.
fn geukbi_stamp(hay: &str, s: usize, e: usize) -> bool {
    const REACH: usize = 120;
    const BRACKETS: [(char, char); 7] = [
        ('[', ']'),
        ('(', ')'),
        ('<', '>'),
        ('【', '】'),
        ('「', '」'),
        ('《', '》'),
        ('〔', '〕'),
    ];
    let before = hay.get(..s).unwrap_or("");
    let after = hay.get(e..).unwrap_or("");
    let (open, close) = (before.chars().next_back(), after.chars().next());
    if BRACKETS
        .iter()
        .any(|&(o, c)| open == Some(o) && close == Some(c))
    {
        return true;
    }
    let Some((ls, le)) = line_within(hay.as_bytes(), s, e, REACH) else {
        return false;
    };
    // A line cut at the reach may end inside a character: the cut one is left out.
    let mut le = le;
    while !hay.is_char_boundary(le) {
        le -= 1;
    }
    let (head, tail) = (&hay[ls..s], &hay[e..le]);
    let marks: &[char] = &['*', '_', '#', '=', ' ', '\t', '\r'];
    let head = head.trim_start_matches(marks);
    let tail = tail.trim_end_matches(marks);
    let tail = tail.trim_start_matches(['*', '_', '=']);
    const DASHES: [&str; 5] = ["-", "\u{2014}", "\u{2013}", "|", ":"];
    let dash_after = |t: &str| {
        let t = t.trim_start_matches(' ');
        DASHES.iter().any(|d| t.starts_with(d))
    };
    if head.is_empty() {
        // Alone on its line, or opening it before a colon or a dash (`극비: 외부 반출 금지`, `극비 - 인수 대상 목록`).
        return tail.is_empty() || dash_after(tail);
    }
    // Ending a title after a dash or a bar (`인수 계획 — 극비`).
    tail.is_empty()
        && DASHES[..4]
            .iter()
            .any(|d| head.trim_end_matches(' ').ends_with(d))
}

/// [`Check::TitleConfidential`]: whether the title-case `Confidential` at `s..e` is a banner.
fn title_confidential(b: &[u8], s: usize, e: usize) -> bool {
    // A banner's line is short: reading at most this far each way keeps a long line of `Confidential`s linear.
    const REACH: usize = 160;
    let Some((ls, le)) = line_within(b, s, e, REACH) else {
        return false;
    };
    let marks = |c: &u8| {
        matches!(
            c,
            b'*' | b'_' | b'#' | b'[' | b']' | b'(' | b')' | b' ' | b'\t' | b'\r'
        )
    };
    let mut before = &b[ls..s];
    while let [first, rest @ ..] = before {
        if !marks(first) {
            break;
        }
        before = rest;
    }
    let before = before.trim_ascii_end();
    // A tag in brackets opening a line or an e-mail subject (`[Confidential] Q3 plan`, `Subject: [Confidential] …`).
    if s > 0 && b[s - 1] == b'[' && b.get(e) == Some(&b']') {
        let label = before.strip_suffix(b"[").unwrap_or(before).trim_ascii_end();
        if label.is_empty()
            || [
                &b"Subject:"[..],
                b"SUBJECT:",
                b"subject:",
                b"Re:",
                b"RE:",
                b"Fwd:",
                b"FW:",
                "제목:".as_bytes(),
            ]
            .iter()
            .any(|l| label.ends_with(l))
        {
            return true;
        }
    }
    let mut after = &b[e..le];
    while let [first, rest @ ..] = after {
        if !matches!(first, b'*' | b'_' | b']' | b')') {
            break;
        }
        after = rest;
    }
    let after = after.trim_ascii_end();
    // `Confidential & Proprietary` is one banner.
    let after = [
        &b" & Proprietary"[..],
        b" and Proprietary",
        b" & proprietary",
    ]
    .iter()
    .find_map(|p| after.strip_prefix(*p))
    .unwrap_or(after);
    // Nothing after it, or a dash, bar or colon and then anything (`- Do not distribute`).
    let after_ok = after.is_empty()
        || [
            &b" - "[..],
            " \u{2014} ".as_bytes(),
            " \u{2013} ".as_bytes(),
            b" | ",
            b": ",
        ]
        .iter()
        .any(|d| after.starts_with(d));
    if !after_ok {
        return false;
    }
    if before.is_empty() {
        return true;
    }
    // A title, then a dash or a bar (`Q3 Board Deck — Confidential`).
    if [
        &b" -"[..],
        " \u{2014}".as_bytes(),
        " \u{2013}".as_bytes(),
        b" |",
    ]
    .iter()
    .any(|d| before.ends_with(d))
    {
        return true;
    }
    // A classification label (`Classification: Confidential`, `Sensitivity: Confidential`).
    if let Some(label) = before.strip_suffix(b":") {
        let word = label.rsplit(|&c| c == b' ').next().unwrap_or(label);
        return [&b"classification"[..], b"sensitivity", b"label", b"marking"]
            .iter()
            .any(|l| word.eq_ignore_ascii_case(l));
    }
    // Up to three capitalised words naming the owner (`Acme Corp`, `Company`, `Private &`), none of them a
    // sentence's word (`The`, `Keep It`, `Is`).
    const NOT_OWNER: [&[u8]; 16] = [
        b"The", b"A", b"An", b"This", b"That", b"These", b"Those", b"Our", b"Your", b"My", b"Is",
        b"Are", b"Be", b"Keep", b"Mark", b"Treat",
    ];
    let mut words = before.split(|&c| c == b' ').filter(|w| !w.is_empty());
    words.clone().count() <= 3
        && words.all(|w| {
            (w.first().is_some_and(u8::is_ascii_uppercase) || w == b"&")
                && w.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b',' | b'&' | b'-'))
                && !NOT_OWNER.contains(&w)
        })
}

/// Whether an account id comes right before `s` on its line, with a separator between (`ID admin / PW …`, `아이디:
/// kim01, pw …`, `login admin | pw …`): a separator (`/`, `,`, `|`), an id token, and an id label before it.
fn id_before(b: &[u8], s: usize) -> bool {
    let lo = s.saturating_sub(96);
    let line = &b[lo..s];
    let line = &line[line.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1)..];
    let Some(r) = line.trim_ascii_end().strip_suffix(b"/").or_else(|| {
        let t = line.trim_ascii_end();
        t.strip_suffix(b",").or_else(|| t.strip_suffix(b"|"))
    }) else {
        return false;
    };
    let r = r.trim_ascii_end();
    let tok = r
        .iter()
        .rev()
        .take_while(|&&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'@' | b'-'))
        .count();
    if !(2..=64).contains(&tok) {
        return false;
    }
    let label = r[..r.len() - tok].trim_ascii_end();
    let label = label
        .strip_suffix(b":")
        .or_else(|| label.strip_suffix(b"="))
        .unwrap_or(label)
        .trim_ascii_end();
    let word = &label[label
        .iter()
        .rposition(|&c| c == b' ' || c == b'\t')
        .map_or(0, |i| i + 1)..];
    [
        &b"id"[..],
        b"login",
        b"user",
        b"username",
        "아이디".as_bytes(),
        "계정".as_bytes(),
    ]
    .iter()
    .any(|l| word.eq_ignore_ascii_case(l))
}

/// Whether a word in prose after `password is` is made up rather than a word or a term: a letter and a digit
/// (`Guest2024!`, `hunter2`) or three character classes (`P@ssword`), and not an algorithm's name (`SHA-256`,
/// `AES-128`, `UTF-8`). `password is case-sensitive`, `is wrong`, `is expired` are not secrets.
fn made_up_word(v: &[u8]) -> bool {
    let letter = v.iter().any(u8::is_ascii_alphabetic);
    let digit = v.iter().any(u8::is_ascii_digit);
    let classes = [
        v.iter().any(u8::is_ascii_lowercase),
        v.iter().any(u8::is_ascii_uppercase),
        digit,
        v.iter().any(|b| !b.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|&&c| c)
    .count();
    let term = v.iter().position(|&b| b == b'-').is_some_and(|k| {
        k > 0
            && v[..k].iter().all(u8::is_ascii_uppercase)
            && v[k + 1..].iter().all(u8::is_ascii_digit)
    });
    // An English compound (`Kubernetes-native`, `base64-encoded`, `30-days`, `OAuth2-compliant`): its last part a
    // lower-case word; a version (`TLS1.3`, `v2.1`, `HTTP2.0`): letters, then digits with dots.
    let compound = v
        .iter()
        .rposition(|&b| b == b'-')
        .is_some_and(|k| v.len() - k > 4 && v[k + 1..].iter().all(u8::is_ascii_lowercase));
    let letters = v.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let version = letters > 0
        && v[letters..].contains(&b'.')
        && v[letters..]
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b'.')
        && v[letters..].first().is_some_and(u8::is_ascii_digit);
    ((letter && digit) || classes >= 3) && !term && !compound && !version
}

/// Whether a YAML value after `key:` is a tag, not a value: `password: !vault |` (an Ansible vault's ciphertext,
/// encrypted, follows), `!secret wifi_password`, `!Ref DbPassword`.
fn yaml_tag(v: &[u8]) -> bool {
    v.first() == Some(&b'!')
        && v.get(1)
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'!')
}

/// Whether an unquoted assigned value is a parameter or argument in code, not a value: after a call's `(`
/// (`check_password(password: str)`, `validate_password(password=password)`, `setPassword(newPassword)`) a name
/// followed by a type annotation's `:`, a keyword argument's `=`, `,` or nothing; after any operator, the key's own
/// name (`password=password)`).
fn code_parameter(keyword: &[u8], v: &[u8], call: bool) -> bool {
    let name = v
        .iter()
        .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_')
        .count();
    let parameter = name > 0
        && !v[0].is_ascii_digit()
        && matches!(v.get(name), None | Some(b':' | b'=' | b',' | b')'));
    parameter && (call || v[..name].eq_ignore_ascii_case(keyword) || names_a(&v[..name], keyword))
}

/// Whether identifier `name` is a variable named after `keyword`: the keyword is its last word, after `_` or in
/// camel case (`dbPassword`, `DB_PASSWORD`, `userApiKey` for `password`, `api_key`). `MyPassword` is no value then;
/// a literal password in code is quoted.
fn names_a(name: &[u8], keyword: &[u8]) -> bool {
    // The keyword's own spelling decides nothing: `apiKey` names `myApiKey` and `MY_API_KEY`.
    let mut i = name.len();
    for k in keyword.iter().rev().filter(|&&c| c != b'_' && c != b'-') {
        while i > 0 && name[i - 1] == b'_' {
            i -= 1;
        }
        if i == 0 || !name[i - 1].eq_ignore_ascii_case(k) {
            return false;
        }
        i -= 1;
    }
    // What is left before the keyword ends in `_`, or in a lower-case letter or digit before its capital.
    i > 0
        && (name[i - 1] == b'_'
            || (name[i].is_ascii_uppercase()
                && (name[i - 1].is_ascii_lowercase() || name[i - 1].is_ascii_digit())))
        && name[..i].iter().any(|&c| c != b'_')
}

/// Whether the dotted number at `s` is a product token's version (`Chrome/124.0.6367.1`, `Safari/537.36`): right
/// after `/` that ends a word (letters, digits, `.`, `_`, `-`; starting with a letter) which is not itself after a
/// `/` or `:` (a path or URL: `/api/hosts/10.0.0.5`, `http://10.0.0.5`).
fn product_version(bytes: &[u8], s: usize) -> bool {
    let Some(slash) = s.checked_sub(1).filter(|&i| bytes[i] == b'/') else {
        return false;
    };
    let from = slash.saturating_sub(32);
    let start = bytes[from..slash]
        .iter()
        .rposition(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-')))
        .map_or(from, |i| from + i + 1);
    start < slash
        && bytes[start].is_ascii_alphabetic()
        && (start == 0 || !matches!(bytes[start - 1], b'/' | b':'))
}

/// Whether an identifier ending in `Version` (`AssemblyVersion`, `FileVersion`, `productVersion`) stands on `s`'s
/// line within [`CONTEXT_BEFORE`] bytes before it. A plain `version` word is the context pass's (a keyword).
fn version_suffix_before(bytes: &[u8], s: usize) -> bool {
    let from = s.saturating_sub(CONTEXT_BEFORE);
    let line = memchr::memrchr(b'\n', &bytes[from..s]).map_or(from, |i| from + i + 1);
    // `v`/`V` is rare in the line before an address: finding it and comparing `ersion` after it is cheap;
    // `memmem::find_iter` built a searcher for every candidate (~930 instructions a call with the byte loop that
    // looked for the line's start, now ~210).
    let lo = line.saturating_sub(1);
    memchr::memchr2_iter(b'v', b'V', &bytes[lo..s]).any(|i| {
        let v = lo + i;
        v >= 1
            && v + 7 <= s
            && &bytes[v + 1..v + 7] == b"ersion"
            && bytes[v - 1].is_ascii_alphanumeric()
    })
}

/// Whether the word at `s..e` stands between two rules alone on its line: at most one blank, then two to eight of the
/// same `-`, `=` or `~` on each side (`-- SECRET --`, `==CONFIDENTIAL==`), nothing else on the line.
fn ruled_banner(b: &[u8], s: usize, e: usize) -> bool {
    let mut ls = s;
    if ls > 0 && b[ls - 1] == b' ' {
        ls -= 1;
    }
    let Some(&rule) = ls.checked_sub(1).map(|i| &b[i]) else {
        return false;
    };
    if !matches!(rule, b'-' | b'=' | b'~') {
        return false;
    }
    let left = b[..ls]
        .iter()
        .rev()
        .take(9)
        .take_while(|&&c| c == rule)
        .count();
    let mut le = e;
    if b.get(le) == Some(&b' ') {
        le += 1;
    }
    let right = b[le..].iter().take(9).take_while(|&&c| c == rule).count();
    (2..=8).contains(&left)
        && (2..=8).contains(&right)
        && blank_before(b, ls - left)
        && blank_after(b, le + right)
}

/// Whether a portion mark at `s` opens a portion: at the start of a line, after indentation or a list marker
/// (`1.`, `2)`, `a.`, `-`, `*`, `•`), or after a label in capitals or Hangul and its colon at the start of a line
/// (`SUBJECT: (TS) …`, `제목: (S) …`). Walks back over at most 40 bytes of its line.
fn opens_portion(bytes: &[u8], s: usize) -> bool {
    if blank_before(bytes, s) {
        return true;
    }
    let from = s.saturating_sub(40);
    let mut p = s;
    while p > from && matches!(bytes[p - 1], b' ' | b'\t') {
        p -= 1;
    }
    if p == s {
        return false;
    }
    let before = &bytes[from..p];
    // A bullet, or a number or one letter with `.` or `)`.
    let marker = if before.ends_with("•".as_bytes()) {
        "•".len()
    } else if before.ends_with(b"-") || before.ends_with(b"*") {
        1
    } else if before.ends_with(b".") || before.ends_with(b")") {
        let body = &before[..before.len() - 1];
        let digits = body.iter().rev().take_while(|c| c.is_ascii_digit()).count();
        let letter = body.last().is_some_and(u8::is_ascii_alphabetic)
            && !body
                .iter()
                .rev()
                .nth(1)
                .is_some_and(u8::is_ascii_alphanumeric);
        match (digits, letter) {
            (1..=3, _) => digits + 1,
            (0, true) => 2,
            _ => 0,
        }
    } else {
        0
    };
    if marker > 0 {
        return blank_before(bytes, p - marker);
    }
    // `SUBJECT:` / `제목:` from the line's start.
    let Some(label) = before.strip_suffix(b":") else {
        return false;
    };
    let line = label.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let label = &label[line..];
    (line > 0 || from == 0)
        && !label.is_empty()
        && label.iter().any(|&b| b != b' ' && b != b'\t')
        && !label
            .iter()
            .any(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b.is_ascii_punctuation())
}

/// Whether `대외비` at `s..e` is one item in a list of the grades (`일반, 대외비, 비밀로 구분`, `대외비·비밀 문서`):
/// a grade word right before or after it, joined by a comma, `·`, `/`, `및` or `또는`.
fn grade_list(hay: &str, s: usize, e: usize) -> bool {
    const GRADES: [&str; 12] = [
        "일반",
        "공개",
        "비공개",
        "대외비",
        "비밀",
        "극비",
        "기밀",
        "평문",
        "내부용",
        "1급",
        "2급",
        "3급",
    ];
    const JOINS: [&str; 6] = [",", "、", "·", "/", "및", "또는"];
    let after = hay.get(e..).unwrap_or("").trim_start_matches(' ');
    let after = JOINS
        .iter()
        .find_map(|j| after.strip_prefix(j))
        .map(|r| r.trim_start_matches(' '));
    if after.is_some_and(|r| GRADES.iter().any(|g| r.starts_with(g))) {
        return true;
    }
    let before = hay.get(..s).unwrap_or("").trim_end_matches(' ');
    JOINS
        .iter()
        .find_map(|j| before.strip_suffix(j))
        .map(|r| r.trim_end_matches(' '))
        .is_some_and(|r| GRADES.iter().any(|g| r.ends_with(g)))
}

/// `대외비` as the topic or object of a sentence about classified material, not a mark on the text it is in: handling
/// nouns after it (`대외비 문서 취급 방법 교육`, `대외비 자료 관리 지침`), `대외비에 대한 교육`, and `대외비로`/`대외비를`
/// after a subject on its line that is no document (`비밀번호는 대외비로 관리`, `고객 정보는 대외비로 분류한다`), a
/// general statement or an instruction about such documents (`대외비 문서는 …에만 저장하십시오`, `대외비 자료를 …
/// 발송하지 마십시오`), and a denial (`이 문서는 대외비로 분류되지 않습니다`). A
/// document's statement about itself stays a marking (`본 문서는 대외비로 분류됩니다`, `이 자료는 대외비를 포함`), as do
/// `대외비로 취급 요망` opening its line and a stamp's warning (`대외비자료 취급 주의`: `주의` is no handling method).
fn daeoebi_as_topic(hay: &str, s: usize, e: usize) -> bool {
    const DOCS: [&str; 3] = ["문서", "자료", "정보"];
    const HANDLING: [&str; 8] = [
        "취급", "관리", "보관", "파기", "분류", "지정", "열람", "처리",
    ];
    const METHODS: [&str; 10] = [
        "방법", "교육", "요령", "절차", "지침", "규정", "기준", "방안", "대장", "현황",
    ];
    const DOC_SUBJECTS: [&str; 8] = [
        "문서",
        "자료",
        "보고서",
        "파일",
        "문건",
        "서류",
        "내용",
        "계획서",
    ];
    // Said of documents of that grade in general, or in an instruction about them (`대외비 문서는 사내 공유 폴더에만
    // 저장하십시오`, `대외비 자료를 외부 메일로 발송하지 마십시오`), or denied (`이 문서는 대외비로 분류되지 않습니다`,
    // `대외비가 아닙니다`): the rest of the sentence decides.
    const NOUNS: [&str; 5] = ["문서", "자료", "정보", "보고서", "파일"];
    const INSTRUCTIONS: [&str; 8] = [
        "십시오",
        "마세요",
        "하세요",
        "말 것",
        "금지",
        "안 됩니다",
        "안됩니다",
        "바랍니다",
    ];
    // Right after the grade: a stamp's own warning may hold a `않` (`무단 복제하지 않도록 유의`).
    const DENIALS: [&str; 11] = [
        "가 아니",
        "가 아닙",
        "가 아닌",
        "이 아닌",
        "가 아님",
        " 아님",
        "로 분류되지 않",
        "로 분류하지 않",
        "로 지정되지 않",
        "에 해당하지 않",
        "에 해당되지 않",
    ];
    let after = hay.get(e..).unwrap_or("");
    // About the grade itself: `대외비와 비밀의 차이는`, `대외비 등급 지정 기준을 설명해 주세요`, `대외비란`.
    if [
        "에 대한",
        "에 관한",
        "에 대해",
        "와 ",
        "란 ",
        "이란",
        " 등급 지정",
        " 등급 기준",
        " 등급의",
    ]
    .iter()
    .any(|x| after.starts_with(x))
    {
        return true;
    }
    // The rest of the sentence, read at most 240 bytes far (a text of `대외비`s without punctuation stays linear).
    let mut reach = after.len().min(240);
    while !after.is_char_boundary(reach) {
        reach -= 1;
    }
    let near = &after[..reach];
    let sentence = &near[..near.find(['.', '\n', '?', '!', '。']).unwrap_or(near.len())];
    if DENIALS.iter().any(|d| after.starts_with(d)) {
        return true;
    }
    if let Some(r) = NOUNS
        .iter()
        .find_map(|x| after.trim_start_matches(' ').strip_prefix(x))
    {
        if r.starts_with(['는', '은'])
            || (r.starts_with(['를', '을']) && INSTRUCTIONS.iter().any(|i| sentence.contains(i)))
        {
            return true;
        }
    }
    let r = after.trim_start_matches(' ');
    let r = DOCS
        .iter()
        .find_map(|x| r.strip_prefix(x))
        .unwrap_or(r)
        .trim_start_matches(' ');
    if let Some(r) = HANDLING.iter().find_map(|x| r.strip_prefix(x)) {
        if METHODS
            .iter()
            .any(|x| r.trim_start_matches(' ').starts_with(x))
        {
            return true;
        }
    }
    if after.starts_with(['로', '를']) {
        let Some(head) = hay.get(..s) else {
            return false;
        };
        let before = head[head.rfind('\n').map_or(0, |i| i + 1)..].trim_end();
        let subject = before.rsplit(' ').next().unwrap_or("");
        return subject.ends_with(['는', '은', '이', '가'])
            && !DOC_SUBJECTS.iter().any(|d| before.contains(d));
    }
    false
}

/// The words that open a salutation before a name (`Dear John,`); all but `Dear` only at a line's start.
const SALUTATIONS: [&str; 3] = ["Dear ", "Hi ", "Hello "];

/// Longest text before a letter's closing on its line (`With warm regards,`): a word or two.
const MAX_CLOSING_LEAD: usize = 16;
/// How much lower a signature's first name alone scores than a full name (`Thanks,\nBob` vs `Thanks,\nBob Lee`).
const SIGNATURE_FIRST_NAME_PENALTY: f32 = 0.1;
/// Bytes read back from a letter's closing for the start of its line, string or `\n` escape.
const CLOSING_LOOK_BACK: usize = 64;

/// Where two names of a salutation are joined (`John and Mary`, `John & Mary`): the offset of the space before the
/// joiner.
fn joiner(t: &str) -> Option<usize> {
    t.find(" and ").or_else(|| t.find(" & "))
}

/// Whether a lone banner word's line (`ls..le`) sits among lone identifiers (`DATABASE_URL`, `api_token`) within two
/// lines before or after it: a list of variable names, not a banner. The look stops at a blank line: a list is one
/// block, so a banner set off from a list by a blank line (`SECRET\n\nDATABASE_URL`) is still a banner.
fn identifier_list_near(bytes: &[u8], ls: usize, le: usize) -> bool {
    let ident = |line: &[u8]| {
        let t = line.trim_ascii();
        !t.is_empty()
            && t.len() <= 64
            && t.contains(&b'_')
            && t.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
    };
    let mut before = bytes[..ls].split(|&b| b == b'\n').rev();
    before.next(); // the banner line's own start
    let mut after = bytes[le..].split(|&b| b == b'\n');
    after.next(); // the rest of the banner line
    let blank = |line: &&[u8]| line.trim_ascii().is_empty();
    before.take(2).take_while(|l| !blank(l)).any(ident)
        || after.take(2).take_while(|l| !blank(l)).any(ident)
}

/// Whether a sentence ends right before `s`: `.`, `!` or `?` after a word of two or more letters or digits
/// (`text. (TS)`, not the abbreviation `e.g. (TS)`), then spaces.
fn sentence_end_before(bytes: &[u8], s: usize) -> bool {
    let mut p = s;
    while p > 0 && bytes[p - 1] == b' ' {
        p -= 1;
    }
    p < s
        && p >= 3
        && matches!(bytes[p - 1], b'.' | b'!' | b'?')
        && bytes[p - 3..p - 1].iter().all(u8::is_ascii_alphanumeric)
}

/// Whether a value after `:` is a type annotation (`password: String`, `token: Option<String>`, `secret: SecretStr`,
/// `apiKey: string[]`): a string or wrapper type's name, or any generic type (`Name<…>` up to its end), then
/// optionally `?`, `[]` or `|…`.
fn type_annotation(v: &[u8]) -> bool {
    const TYPES: [&[u8]; 16] = [
        b"str",
        b"string",
        b"secretstr",
        b"secretstring",
        b"securestring",
        b"secretbytes",
        b"bytes",
        b"buffer",
        b"text",
        b"char",
        b"option",
        b"optional",
        b"maybe",
        b"nullable",
        b"any",
        b"object",
    ];
    let name = v
        .iter()
        .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_')
        .count();
    if name == 0 || v[0].is_ascii_digit() {
        return false;
    }
    let rest = &v[name..];
    let generic = rest.first() == Some(&b'<')
        && rest.last() == Some(&b'>')
        && rest.iter().all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'<' | b'>' | b',' | b':' | b'[' | b']')
        });
    generic
        || (TYPES.iter().any(|t| v[..name].eq_ignore_ascii_case(t))
            && matches!(
                rest.first(),
                None | Some(b'<' | b'[' | b'?' | b'|' | b',' | b')')
            ))
}

/// Whether only whitespace lies between the start of `s`'s line and `s`. Walks back over that whitespace only (never
/// the whole line), so candidates on one long line cost their own gap, not the line each.
fn blank_before(bytes: &[u8], s: usize) -> bool {
    match bytes[..s]
        .iter()
        .rposition(|&b| b == b'\n' || !b.is_ascii_whitespace())
    {
        None => true,
        // A line break, or a `\n` escape (a line break inside a JSON string or a code literal).
        Some(i) => bytes[i] == b'\n' || (i > 0 && bytes[i] == b'n' && bytes[i - 1] == b'\\'),
    }
}

/// Whether only whitespace lies between `e` and the end of its line (a line break or a `\n` escape).
fn blank_after(bytes: &[u8], e: usize) -> bool {
    bytes[e..]
        .iter()
        .position(|&b| b == b'\n' || !b.is_ascii_whitespace())
        .is_none_or(|i| {
            bytes[e + i] == b'\n'
                || (bytes[e + i] == b'\\' && matches!(bytes.get(e + i + 1), Some(b'n' | b'r')))
                || (bytes[e + i] == b'"' && bytes[e + i + 1..].starts_with(b"}"))
        })
}

/// Where the scan goes on after pattern `p`'s match ending at `match_end` was accepted as finding `f`: the match's
/// end, except where the finding and the match part ways. A URL credential's match ends past the `@` on the host's
/// first byte, which may begin a finding of its own (`redis://:pw@10.0.0.7`): the scan goes on from the password's
/// end. A banner ends at its control list's first other word (`Secret//NoForn-top Secret//NoForn`, `SECRET//NOFORN
/// 010-2345-6789`): the next finding may start inside the match. An address's unit (`, 102동 1503호`) lies past the match: its numbers
/// are not candidates. What the search read past the resume point will be read again from there, so it is charged
/// to the re-scan budget `spent` like a rejected match.
fn resume_after(p: &PatInfo, f: &Finding, match_end: usize, spent: &mut usize) -> usize {
    let resume = match p.check {
        Check::Credential | Check::Banner | Check::BannerMixed => f.end,
        Check::AddressUnit => f.end.max(match_end),
        _ => match_end,
    };
    *spent += match_end.saturating_sub(resume);
    resume
}

/// End of an anchored search from `p`: [`MAX_SEARCH`] bytes ahead, or past the re-scan budget [`RESCAN_WINDOW`].
fn rescan_limit(p: usize, spent: usize, budget: usize, len: usize) -> usize {
    if spent > budget {
        (p + RESCAN_WINDOW).min(len)
    } else {
        (p + MAX_SEARCH).min(len)
    }
}

/// Whether a match ending at `end` ran into the end of a search window (`limit`) short of the text's end (`len`):
/// it may be cut short, so it is never reported.
fn cut_by(end: usize, limit: usize, len: usize) -> bool {
    end == limit && limit < len
}

/// Bytes that continue a base64url token (JWT segments, API keys).
fn token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Whether an identifier's digits are a template's placeholder, not a number: all the same digit
/// (`000000-0000000`, `111111-1111111`), or its last `tail` digits (the serial after the date or region prefix) all
/// zeros (`900101-0000000`).
fn placeholder_digits(d: &[u8], tail: usize) -> bool {
    d.iter().all(|&x| x == d[0]) || d[d.len().saturating_sub(tail)..].iter().all(|&x| x == 0)
}

/// Whether a Korean phone number is a template's placeholder (`010-0000-0000`, `02-000-0000`, `1588-0000`): every
/// digit after the area or service prefix is zero (`010-2000-0000` is a number).
fn phone_placeholder(cand: &[u8]) -> bool {
    let mut buf = [0u8; 16];
    let Some(n) = digits_into(cand, &mut buf) else {
        return false;
    };
    let mut d = &buf[..n];
    let intl = cand.first() == Some(&b'+');
    if intl {
        d = d.get(2..).unwrap_or_default(); // the country code 82
    }
    let national = intl || d.first() == Some(&0);
    if d.first() == Some(&0) {
        d = &d[1..]; // the trunk zero
    }
    let prefix = match d {
        _ if !national => 4, // a nationwide service number: `1588`
        [2, ..] => 1,        // Seoul
        [5, 0, ..] => 3,     // `050x`
        _ => 2,              // `010`, `031`, `070`
    };
    d.get(prefix..)
        .is_some_and(|r| !r.is_empty() && r.iter().all(|&x| x == 0))
}

/// Whether the currency unit `원` follows `e` (after optional spaces): the number before it is an amount.
fn won_follows(hay: &str, e: usize) -> bool {
    hay.get(e..)
        .is_some_and(|t| t.trim_start_matches(' ').starts_with('원'))
}

/// Whether the word `IBAN` (any case) stands earlier on the line, at most 24 bytes before `s`.
fn iban_label_before(b: &[u8], s: usize) -> bool {
    let from = s.saturating_sub(24);
    let line = &b[from..s];
    let line = line
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(line, |i| &line[i + 1..]);
    line.windows(4).any(|w| w.eq_ignore_ascii_case(b"iban"))
}

fn digitsn<const N: usize>(cand: &[u8]) -> Option<[u8; N]> {
    let mut d = [0u8; N];
    (digits_into(cand, &mut d)? == N).then_some(d)
}

fn digits13(cand: &[u8]) -> Option<[u8; 13]> {
    digitsn::<13>(cand)
}

fn count_digits(cand: &[u8]) -> usize {
    cand.iter().filter(|b| b.is_ascii_digit()).count()
}

fn is_hangul_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

fn boundary_ok(hay: &str, s: usize, e: usize, boundary: Boundary) -> bool {
    let b = hay.as_bytes();
    let at = |i: usize| b.get(i).copied();
    let word = |x: Option<u8>| x.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
    let digit = |x: Option<u8>| x.is_some_and(|c| c.is_ascii_digit());
    let prev = if s > 0 { at(s - 1) } else { None };
    let prev2 = if s > 1 { at(s - 2) } else { None };
    let next = at(e);
    let next2 = at(e + 1);
    let escape = matches!(prev, Some(b'n' | b't' | b'r')) && prev2 == Some(b'\\');
    match boundary {
        Boundary::None => true,
        // `\n`, `\t`, `\r` before a match are escapes in pasted JSON or code, not a letter touching it.
        Boundary::Word => (!word(prev) || escape) && !word(next),
        Boundary::WordStart => !word(prev) || escape,
        Boundary::Number => {
            let all_digits = b
                .get(s..e)
                .is_some_and(|c| c.iter().all(u8::is_ascii_digit));
            if digit(prev) || digit(next) {
                return false;
            }
            if matches!(prev, Some(b'-' | b'.')) && digit(prev2) {
                return false;
            }
            if matches!(next, Some(b'-' | b'.')) && digit(next2) {
                return false;
            }
            // A magnetic stripe's track 1 (`%B4111111111111111^DOE/JOHN^…`): the format code `B` before the number.
            let track1 = prev == Some(b'B') && prev2 == Some(b'%') && next == Some(b'^');
            // A code that begins with one or two letters (`C850315-1234566`, `L2024-00318276`, `FR02 8883 5242`) is
            // one token, not a number after a word; a label glued to a number (`Tel010-1234-5678`) has more letters.
            let letters = b[..s]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            let code = (1..=2).contains(&letters) && !escape && !track1;
            !(code || (all_digits && ((word(prev) && !escape && !track1) || word(next))))
        }
        Boundary::LabelKey => !word(prev) || escape || person_key_before(b, s),
        Boundary::HangulStart => !hay
            .get(..s)
            .and_then(|t| t.chars().next_back())
            .is_some_and(is_hangul_syllable),
    }
}

/// Whether the label at `s` ends a compound key whose word before it names a person: `receiver_name`,
/// `CUSTOMER_NAME` (after `_`), `customerName`, `userFullName` (camel case: the last hump).
fn person_key_before(b: &[u8], s: usize) -> bool {
    let Some(&prev) = s.checked_sub(1).and_then(|i| b.get(i)) else {
        return false;
    };
    let end = if prev == b'_' {
        s - 1
    } else if prev.is_ascii_lowercase() && b.get(s).is_some_and(u8::is_ascii_uppercase) {
        s
    } else {
        return false;
    };
    let mut start = end;
    if prev == b'_' {
        while start > 0 && b[start - 1].is_ascii_alphabetic() {
            start -= 1;
        }
    } else {
        while start > 0 && b[start - 1].is_ascii_lowercase() {
            start -= 1;
        }
        if start > 0 && b[start - 1].is_ascii_uppercase() {
            start -= 1;
        }
    }
    let word = &b[start..end];
    PERSON_KEY_QUALIFIERS
        .iter()
        .any(|q| q.as_bytes().eq_ignore_ascii_case(word))
}

type Checked = (Option<Entity>, usize, usize, f32);

/// Labels of numbers that are no one's personal data: a transaction, approval, prescription, patent, policy or document
/// number, a product's barcode. The number right after one (`거래번호 560903927889 입금`, `교부번호 2024100636822`,
/// `주문번호 4532…`, `주문 2411203580731`) is that number, whatever bank, health or card keyword the line also holds.
/// Only right before it: the word elsewhere in the window is not enough (`order confirmed for …`), nor is `주문자`, the
/// person who ordered.
const NUMBER_LABELS: &[&str] = &[
    "주문",
    "거래번호",
    "거래고유번호",
    "승인번호",
    "주문번호",
    "송장번호",
    "운송장번호",
    "교부번호",
    "처방전번호",
    "접수번호",
    "문서번호",
    "관리번호",
    "일련번호",
    "예약번호",
    "신청번호",
    "발급번호",
    "계약번호",
    "참조번호",
    "증권번호",
    "출원번호",
    "특허번호",
    "사건번호",
    "회원번호",
    "고객번호",
    "사원번호",
    "상품번호",
    "제품번호",
    "모델번호",
    "가맹점번호",
    "등기번호",
    "영수증번호",
    "요양기관기호",
    "바코드",
];
/// Labels of part, model and version numbers, whose codes take any number's shape (`Part no. 876-79-8770`).
const PRODUCT_LABELS: &[&str] = &["품번", "부품번호", "제품번호", "모델번호", "모델명", "버전"];
/// The same in English (see [`NUMBER_LABELS_EN`]).
const PRODUCT_LABELS_EN: &[&str] = &[
    "part", "pn", "model", "version", "ver", "rev", "revision", "sku", "item", "build", "page",
];
/// The same in English (a whole word, any case): `order`, `invoice`, … and the word before `id`, `no`, `number`,
/// `#` (`Order No. 4532…`, `transaction id 5609…`).
const NUMBER_LABELS_EN: &[&str] = &[
    "order",
    "invoice",
    "transaction",
    "txn",
    "tracking",
    "barcode",
    "ean",
    "isbn",
    "receipt",
    "ticket",
    "po",
    "ref",
    "reference",
];

/// Resident-number labels, with the particles that attach to them (`주민번호는 850315.1234566`).
const RRN_LABELS: &[&str] = &[
    "주민등록번호",
    "주민등록번호는",
    "주민등록번호가",
    "주민번호",
    "주민번호는",
    "주민번호가",
    "주민등록",
];

/// A list of Korean labels and one of English labels, for [`label_before`]: hashed, as it runs for every number with a
/// word before it (comparing a word with each label of a list was ~13 % of a labelled account number's cost).
struct Labels {
    ko: std::collections::HashSet<&'static [u8], FixedState>,
    /// In lower case.
    en: std::collections::HashSet<Vec<u8>, FixedState>,
    /// The longest English label, in bytes.
    en_max: usize,
}

impl Labels {
    fn new(ko: &[&'static str], en: &[&str]) -> Labels {
        Labels {
            ko: ko.iter().map(|k| k.as_bytes()).collect(),
            en: en
                .iter()
                .map(|w| w.to_ascii_lowercase().into_bytes())
                .collect(),
            en_max: en.iter().map(|w| w.len()).max().unwrap_or(0),
        }
    }

    /// Whether `w` is one of the English labels, in any case.
    fn has_en(&self, w: &[u8]) -> bool {
        let mut lower = [0u8; 32];
        w.len() <= self.en_max.min(lower.len()) && {
            let lower = &mut lower[..w.len()];
            lower.copy_from_slice(w);
            lower.make_ascii_lowercase();
            self.en.contains(&*lower)
        }
    }
}

static NUMBER_LABEL_SET: std::sync::LazyLock<Labels> =
    std::sync::LazyLock::new(|| Labels::new(NUMBER_LABELS, NUMBER_LABELS_EN));
static RRN_LABEL_SET: std::sync::LazyLock<Labels> =
    std::sync::LazyLock::new(|| Labels::new(RRN_LABELS, &["rrn"]));
/// Labels of a 법인등록번호 right before a number (`법인등록번호: 110111-…`, `CRN 110111-…`), for
/// [`label_before`].
static CORP_LABEL_SET: std::sync::LazyLock<Labels> = std::sync::LazyLock::new(|| {
    Labels::new(
        &[
            "법인등록번호",
            "법인등록번호는",
            "법인등록번호가",
            "법인번호",
            "법인번호는",
            "법인번호가",
            "법인등록",
            "등기번호",
        ],
        &["crn"],
    )
});
static PRODUCT_LABEL_SET: std::sync::LazyLock<Labels> =
    std::sync::LazyLock::new(|| Labels::new(PRODUCT_LABELS, PRODUCT_LABELS_EN));

/// Whether a label of [`NUMBER_LABELS`] or [`NUMBER_LABELS_EN`] is the word right before `s`.
fn number_label_before(hay: &str, s: usize) -> bool {
    label_before(hay, s, &NUMBER_LABEL_SET)
}

/// Whether the word right before `s` (past at most three bytes of blanks, `:`, `=`, `#`, `.` or a quote, and an
/// English `id`/`no`/`number` after the label) is one of the Korean `labels` (the whole run of Hangul syllables) or
/// of the English ones (a whole word, any case).
fn label_before(hay: &str, s: usize, labels: &Labels) -> bool {
    let b = hay.as_bytes();
    let skip = |mut j: usize| {
        let from = j;
        while j > 0
            && from - j < 3
            && matches!(
                b[j - 1],
                b' ' | b'\t' | b':' | b'=' | b'#' | b'.' | b'"' | b'\''
            )
        {
            j -= 1;
        }
        j
    };
    let j = skip(s);
    if j == s {
        // Nothing between: a number glued to a word is the boundary rule's to judge.
        return false;
    }
    let Some(before) = hay.get(..j) else {
        return false;
    };
    if before.ends_with(is_hangul_syllable) {
        // The run of syllables before `j`; no label is longer than six (`요양기관기호`).
        let hangul = before
            .char_indices()
            .rev()
            .take(7)
            .take_while(|&(_, c)| is_hangul_syllable(c))
            .last()
            .map_or(j, |(i, _)| i);
        let whole = hay[..hangul]
            .chars()
            .next_back()
            .is_none_or(|c| !is_hangul_syllable(c));
        return whole && labels.ko.contains(&before.as_bytes()[hangul..]);
    }
    let word = |end: usize| {
        let start = b[..end]
            .iter()
            .rposition(|c| !c.is_ascii_alphabetic())
            .map_or(0, |p| p + 1);
        (start, &b[start..end])
    };
    let (ws, w) = word(j);
    let (ws, w) = if ["id", "no", "number", "num"]
        .iter()
        .any(|x| x.as_bytes().eq_ignore_ascii_case(w))
    {
        word(skip(ws))
    } else {
        (ws, w)
    };
    !w.is_empty() && (ws == 0 || !b[ws - 1].is_ascii_alphanumeric()) && labels.has_en(w)
}

/// The CIDR prefix length after an IPv4 address ending at `e`: `/` and 0 to 32 in one or two digits, not followed
/// by another digit nor by a `.` and a digit (`10.0.0.0/16`, `10.0.0.0/16.` at a sentence's end; not `1.0.0.0/1.2`
/// nor `/128`).
fn cidr_prefix_after(bytes: &[u8], e: usize) -> Option<u32> {
    let rest = bytes.get(e..)?.strip_prefix(b"/")?;
    let n = rest
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=2).contains(&n) {
        return None;
    }
    let len = rest[..n]
        .iter()
        .fold(0u32, |v, &d| v * 10 + u32::from(d - b'0'));
    let more = match rest.get(n) {
        Some(b'0'..=b'9') => true,
        Some(b'.') => rest.get(n + 1).is_some_and(u8::is_ascii_digit),
        _ => false,
    };
    (len <= 32 && !more).then_some(len)
}

/// Whether an IPv4-shaped `cand` is a netmask, not an address: `255.` and then contiguous one bits
/// (`255.255.255.0`, `255.255.240.0`, `255.255.255.255`).
fn netmask(cand: &[u8]) -> bool {
    // Every mask this takes starts with 255 (checked before the parse, which most candidates would pay).
    if !cand.starts_with(b"255.") {
        return false;
    }
    let Some(a) = std::str::from_utf8(cand)
        .ok()
        .and_then(|t| t.parse::<std::net::Ipv4Addr>().ok())
    else {
        return false;
    };
    let x = u32::from(a);
    x >> 24 == 255 && (!x).wrapping_add(1).is_power_of_two()
}

/// The password of `ConvertTo-SecureString [-String] '<password>'` starting at `vs` (at most 128 bytes, quoted, on one
/// line), if the value there is that cmdlet and the password looks like one.
fn secure_string_value(b: &[u8], vs: usize) -> Option<(usize, usize)> {
    const CMDLET: &[u8] = b"ConvertTo-SecureString";
    if !b.get(vs..vs + CMDLET.len())?.eq_ignore_ascii_case(CMDLET) {
        return None;
    }
    let mut i = vs + CMDLET.len();
    let blanks = |i: &mut usize| {
        while b.get(*i) == Some(&b' ') {
            *i += 1;
        }
    };
    blanks(&mut i);
    if b.get(i..i + 7)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"-String"))
    {
        i += 7;
        blanks(&mut i);
    }
    let quote = *b.get(i).filter(|&&q| q == b'"' || q == b'\'')?;
    let from = i + 1;
    let len = b
        .get(from..(from + 129).min(b.len()))?
        .iter()
        .position(|&c| c == quote || c == b'\n')?;
    (b[from + len] == quote && secret_value_ok(&b[from..from + len], true, false))
        .then_some((from, from + len))
}

/// Run one builtin check. `None` drops the candidate.
fn check(
    kind: Check,
    hay: &str,
    cand: &[u8],
    s: usize,
    e: usize,
    base: f32,
    has: &dyn Fn(Group) -> bool,
) -> Option<Checked> {
    let bytes = hay.as_bytes();
    let keep = |score: f32| Some((None, s, e, score));
    match kind {
        Check::None | Check::AwsKeyId => keep(base),
        Check::Rrn13 => {
            let d = digits13(cand)?;
            if placeholder_digits(&d, 7) {
                return None;
            }
            let sep = cand.len() == 14;
            // `.`, `_`, `/` or a line break between the parts: only right after a resident-number label (a keyword
            // elsewhere on the line does not name this number: `주민번호 확인 완료. 참조번호 850315.1234566`).
            if cand.iter().any(|c| matches!(c, b'.' | b'_' | b'/' | b'\n'))
                && !(has(Group::Rrn) && label_before(hay, s, &RRN_LABEL_SET))
            {
                return None;
            }
            // Thirteen digits in a row under an order, invoice or tracking label or column header (`order_id`,
            // `주문번호`, `송장`) are that number, dated like a birth date (`2411021289161`, ordered on 24-11-02); one
            // in three passes the resident or foreigner rules by chance. A resident-number keyword keeps it, and the
            // check digit is not asked for (numbers issued since October 2020 have a random one).
            if !sep
                && !has(Group::Rrn)
                && !has(Group::Frn)
                && (has(Group::OrderId) || number_label_before(hay, s))
            {
                return None;
            }
            let crn_ok = validate::crn_checksum(&d);
            let shape = validate::rrn_shape(&d);
            // The number decides before the context does: a 7th digit of 0 or 9 would be a resident born in the
            // 1800s, so with a valid 법인 check digit it is a corporation (`130111-0006246`); a number that passes the
            // resident checksum stays personal data even next to `법인` (one CRN check digit in ten passes anyway).
            let born_1800s = matches!(d[6], 0 | 9);
            let resident_checksum = matches!(
                shape,
                RrnShape::Resident { checksum_ok: true }
                    | RrnShape::Foreigner { checksum_ok: true }
            );
            if crn_ok
                && !resident_checksum
                && (born_1800s || (has(Group::Corp) && !has(Group::Rrn) && !has(Group::Frn)))
            {
                let score = if sep || has(Group::Corp) { 0.6 } else { 0.35 };
                return Some((Some(Entity::KrCrn), s, e, score));
            }
            let start = if sep { base } else { 0.35 };
            // Random check digits exist only since October 2020: a resident born before then with a failing check
            // digit has a changed number, or is a receipt, order or document number that begins with a date
            // (`접수번호 231015-0012345`). Next to such a number label it is dropped; alone it stays (a bare
            // `960121-1234567` is how people write resident numbers). Foreigners' numbers issued since then are
            // random whatever the birth date.
            let random_era = (u16::from(d[0]) * 10 + u16::from(d[1]), d[2] * 10 + d[3]) >= (20, 10)
                && matches!(d[6], 3 | 4);
            // A code that goes on before it (`QT-231130-0012345`), unless the resident check digit holds
            // (`user-900101-1234568` in a model or file name).
            if s >= 2
                && bytes[s - 1] == b'-'
                && bytes[s - 2].is_ascii_alphanumeric()
                && !resident_checksum
            {
                return None;
            }
            match shape {
                RrnShape::Resident { checksum_ok } => Some((
                    Some(Entity::KrRrn),
                    s,
                    e,
                    start
                        + match checksum_ok {
                            true => 0.3,
                            // With a number label (`접수번호`, `주문번호`: −0.1 more from the context rule), or a
                            // 법인등록번호 label right before it (`법인등록번호: 110111-1234568`: a mistyped one that
                            // failed its own check too; a bare `법인` nearby may be a person's company, `법인 대표자
                            // 880515-1100772`), and no resident or foreigner keyword: dropped.
                            false
                                if !random_era
                                    && (has(Group::Order)
                                        || (has(Group::Corp)
                                            && label_before(hay, s, &CORP_LABEL_SET)))
                                    && !has(Group::Rrn)
                                    && !has(Group::Frn) =>
                            {
                                -0.15
                            }
                            false => 0.0,
                        },
                )),
                RrnShape::Foreigner { checksum_ok } => Some((
                    Some(Entity::KrFrn),
                    s,
                    e,
                    start + if checksum_ok { 0.3 } else { 0.0 },
                )),
                RrnShape::Invalid if crn_ok && sep => Some((Some(Entity::KrCrn), s, e, 0.55)),
                RrnShape::Invalid => None,
            }
        }
        Check::Crn => {
            let d = digits13(cand)?;
            (!placeholder_digits(&d, 7) && validate::crn_checksum(&d)).then_some((None, s, e, base))
        }
        Check::Brn => {
            let d = digitsn::<10>(cand)?;
            (!placeholder_digits(&d, 5) && validate::brn_checksum(&d)).then_some((None, s, e, base))
        }
        // An amount in won (`합계 123-45-6789원`) is not an SSN.
        // Nor is a part, model or version number (`Part no. 876-79-8770`: its label right before it; the same
        // keyword elsewhere in the window lowers the score by context).
        Check::Ssn => (validate::us_ssn(&digitsn::<9>(cand)?)
            && !won_follows(hay, e)
            && !label_before(hay, s, &PRODUCT_LABEL_SET))
        .then_some((None, s, e, base)),
        Check::Card => {
            let mut d = [0u8; 19];
            let mut n = digits_into(cand, &mut d)?;
            let (mut cand, mut e) = (cand, e);
            // 4-4-4-4-3 that fails Luhn: a 16-digit card with three more digits after it (`… 1111 123`, a CVV).
            if n == 19 && !validate::luhn(cand) && !cand.iter().all(u8::is_ascii_digit) {
                // Just past the 16th digit.
                let cut = 1 + cand
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_ascii_digit())
                    .nth(15)?
                    .0;
                cand = &cand[..cut];
                e = s + cut;
                n = 16;
            }
            // A digit run in a URL's path (`https://o1.ingest.sentry.io/4504123456789`) is an id of the site's.
            let in_url = cand.iter().all(u8::is_ascii_digit)
                && s > 0
                && bytes[s - 1] == b'/'
                && scanners::url_scheme_before(bytes, s).is_some();
            (n >= 13
                && validate::luhn(cand)
                && validate::card_iin(&d[..n])
                && !in_url
                && !number_label_before(hay, s))
            .then_some((None, s, e, base))
        }
        Check::License => (!number_label_before(hay, s)).then_some((None, s, e, base)),
        Check::Iban => {
            // Lower case only after the word `IBAN` earlier on the line (`iban: de89 …`, `"iban":"gb29…"`), or
            // written in groups of four (`gb29 nwbk 6016 1331 9268 19`), which no word or code is.
            if cand.first().is_some_and(u8::is_ascii_lowercase)
                && !iban_label_before(bytes, s)
                && cand.iter().filter(|&&c| c == b' ').count() < 3
            {
                return None;
            }
            let mut end = e;
            loop {
                let c = bytes.get(s..end)?;
                if validate::iban(c) {
                    return Some((None, s, end, base));
                }
                end = s + c.iter().rposition(|&b| b == b' ')?;
            }
        }
        Check::Ipv4 => {
            let prev = if s > 0 {
                bytes.get(s - 1).copied()
            } else {
                None
            };
            // `v3.2.0.1`; `124.0.0.0` and `1.0.0.0` (a version, or a whole /8 network: no host) unless a prefix
            // length says it is a network (`10.0.0.0/16`: an address block, as telling as a host; not a /0, which is
            // every address, nor `0.0.0.0`, this host, with any length); a product token's version
            // (`Chrome/124.0.1.2`: `/` after a word that does not follow another `/`, unlike a path's
            // `/hosts/10.0.0.5`).
            let network =
                cand != b"0.0.0.0" && cidr_prefix_after(bytes, e).is_some_and(|len| len > 0);
            if matches!(prev, Some(b'v' | b'V'))
                || (cand.ends_with(b".0.0.0") && !network)
                || netmask(cand)
                || product_version(bytes, s)
            {
                return None;
            }
            // `3.2.1.4 요구사항 정의`: a section number of single digits opening a line, followed by its title.
            let single_digits = cand.iter().step_by(2).all(u8::is_ascii_digit) && cand.len() == 7;
            if single_digits && blank_before(bytes, s) && bytes.get(e) == Some(&b' ') {
                return None;
            }
            // An identifier ending in `Version` earlier on the line (`AssemblyVersion("1.0.0.1")`,
            // `FileVersion 6.1.7601.0 -> 6.1.7.1`) counts as the version keyword, which the context pass does not see
            // inside a word.
            let score = if version_suffix_before(bytes, s) {
                base - 0.3
            } else {
                base
            };
            validate::ipv4(cand).then_some((None, s, e, score))
        }
        Check::Ipv6 => {
            let mut end = e;
            if cand.ends_with(b":") && !cand.ends_with(b"::") {
                end -= 1;
            }
            let c = bytes.get(s..end)?;
            let hex = c.iter().filter(|b| b.is_ascii_hexdigit()).count();
            // A subscript or slice in code (`x[10::2]`, `df.iloc[100::5]`): `[` right after a name or a bracket.
            let subscript = s >= 2
                && bytes[s - 1] == b'['
                && (bytes[s - 2].is_ascii_alphanumeric()
                    || matches!(bytes[s - 2], b'_' | b']' | b')'));
            // `12::30`, `9::45`: a time or score written with `::` (every group one or two decimal digits).
            let clock = c
                .split(|&b| b == b':')
                .all(|g| g.len() <= 2 && g.iter().all(u8::is_ascii_digit));
            // The loopback `::1` standing alone (`ping6 ::1`, `[::1]:8080`, `::1 localhost`); the scanner's candidate
            // starts after the last hex digit or colon before it and the word boundary holds, so not `std::1`,
            // `a::1`, `x[::1]`. Other short forms (`a::1`, `1::`) stay below three hex digits: code, not addresses.
            let loopback = c == b"::1"
                && !(bytes.get(end) == Some(&b'.')
                    && bytes.get(end + 1).is_some_and(u8::is_ascii_digit));
            let address = loopback
                || (hex >= 3 && c.iter().any(u8::is_ascii_digit) && !clock && validate::ipv6(c));
            (address && !subscript).then_some((None, s, end, base))
        }
        Check::Pem => keep(if PEM_END.find(cand).is_some() {
            0.99
        } else {
            base
        }),
        // A key holds a digit and a long random run; hyphenated words with a number (`sk-2024-summer-collection-01`,
        // a SKU or a CSS class) do not.
        Check::SasSig => Some((None, s + "&sig=".len(), e, base)),
        Check::KeyDigit => (cand.iter().any(u8::is_ascii_digit)
            && cand.split(|&b| b == b'-').any(|run| run.len() >= 16))
        .then_some((None, s, e, base)),
        Check::RegistryAuth => {
            // `"auth": "<base64>"`: the value between the last two quotes.
            let open = cand[..cand.len() - 1].iter().rposition(|&b| b == b'"')? + 1;
            let v = &cand[open..cand.len() - 1];
            validate::registry_auth(v).then_some((None, s + open, e - 1, base))
        }
        Check::Base64Pem => validate::base64_pem_private_key(cand).then_some((None, s, e, base)),
        Check::Github => keep(if validate::github_token(cand) {
            0.95
        } else {
            base
        }),
        Check::Assignment => {
            // The value starts after the first operator (`=`, `:`, `：`, the `,` of `("key", "v")`, the `(` of
            // `setKey("v")`, or the particle of `비밀번호는 …`) and any spaces or quotes.
            let t = hay.get(s..e)?;
            // The keyword (a Korean one with its particle, `비밀번호는`), then quotes and spaces, one operator, and
            // spaces and quotes again.
            let kw_end = t.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))?;
            let keyword = &t[..kw_end];
            let rest = t[kw_end..].trim_start_matches(['"', '\'', ' ']);
            // PHP's `$config['db_password'] = …`: the subscript's bracket.
            let rest = rest
                .strip_prefix(']')
                .map_or(rest, |r| r.trim_start_matches(' '));
            // `<add key="ApiKey" value="…"/>`, and a Kubernetes env entry (`- name: DB_PASSWORD`, then `value: …` on
            // the next line): the attribute or field name before the operator.
            let rest = rest
                .trim_start_matches([' ', '\r', '\n'])
                .strip_prefix("value")
                .filter(|r| r.trim_start_matches(' ').starts_with(['=', ':']))
                .map_or(rest, |r| r.trim_start_matches(' '));
            let op = rest.chars().next();
            // `=>` (Perl, Ruby, PHP arrays) is one operator.
            let rest = rest.strip_prefix("=>").unwrap_or(rest);
            let rest = rest
                .strip_prefix(['=', ':', '：', ',', '(', '>'])
                .unwrap_or(rest)
                .trim_start_matches(['"', '\'', ' ']);
            // A YAML block scalar (`password: |`, `secret_key: >-`): the value is the next line, indented.
            let rest = match rest.strip_prefix(['|', '>']) {
                Some(r) if op == Some(':') => r
                    .trim_start_matches([
                        '-', '+', '1', '2', '3', '4', '5', '6', '7', '8', '9', ' ',
                    ])
                    .trim_start_matches(['\r', '\n', ' ']),
                _ => rest,
            };
            let vs = s + t.len() - rest.len();
            // PowerShell's `$pw = ConvertTo-SecureString 'P0wer$hell!' -AsPlainText -Force`: the value is the quoted
            // string after the cmdlet (and its `-String` parameter), not the cmdlet's name.
            if let Some(v) = secure_string_value(bytes, vs) {
                return Some((None, v.0, v.1, base));
            }
            // Short keywords need a word start: `DB_PASS=` and `dbPw:` are keys, `OVERPASS=` and `UPW=` are not.
            if keyword.len() <= 4
                && s > 0
                && bytes[s - 1].is_ascii_alphanumeric()
                && !(bytes[s - 1].is_ascii_lowercase() && bytes[s].is_ascii_uppercase())
            {
                return None;
            }
            let (ve, quoted) = assignment_value_end(bytes, vs, e);
            let v = bytes.get(vs..ve)?;
            // `("key", "v")` quotes both strings; after a quoted keyword word and a comma, an unquoted value is the
            // next key of a literal (`{ user: 'token', password: '…' }`), and the password after it is a match of
            // its own.
            if !quoted && op == Some(',') {
                return None;
            }
            if !quoted
                && (code_parameter(keyword.as_bytes(), v, op == Some('('))
                    || (op == Some(':') && (type_annotation(v) || yaml_tag(v))))
            {
                return None;
            }
            (secret_value_ok(
                v,
                quoted,
                keyword.ends_with("PWD") || keyword.ends_with("pwd"),
            ) || (quoted && passphrase_key(keyword) && diceware(v))
                || (!quoted
                // An unterminated quote (`password = "unterminated`) opens no value.
                && !matches!(vs.checked_sub(1).map(|i| bytes[i]), Some(b'"' | b'\''))
                && password_key(keyword)
                && plain_password(v)))
            .then_some((None, vs, ve, base))
        }
        Check::SqlPassword => {
            // The value is the match's last item: a quoted string, or after `IDENTIFIED BY` a bare word.
            let t = hay.get(s..e)?.as_bytes();
            let (vs, ve, quoted) = match t.last() {
                Some(&q @ (b'\'' | b'"')) => {
                    let open = t[..t.len() - 1].iter().rposition(|&c| c == q)?;
                    (s + open + 1, e - 1, true)
                }
                _ => (s + t.iter().rposition(|&c| c == b' ')? + 1, e, false),
            };
            // `IDENTIFIED BY` in SQL follows `CREATE USER`/`ALTER ROLE …` on its line; in prose (`identified by
            // 'customer_id'`) it does not.
            if matches!(t[0], b'I' | b'i') {
                let from = s.saturating_sub(160);
                let line = bytes[from..s]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(from, |i| from + i + 1);
                let text = &bytes[line..s];
                let sql = text.windows(5).any(|w| {
                    (w[1..].eq_ignore_ascii_case(b"user") || w[1..].eq_ignore_ascii_case(b"role"))
                        && !w[0].is_ascii_alphanumeric()
                }) && (t[0] == b'I'
                    // In lower case also a statement's own start (`each user is identified by 'customer_id'` is
                    // prose about a user).
                    || [&b"create "[..], b"alter "].iter().any(|k| {
                        let head = text.trim_ascii_start();
                        head.get(..k.len()).is_some_and(|h| h.eq_ignore_ascii_case(k))
                    }));
                if !sql {
                    return None;
                }
            }
            let v = bytes.get(vs..ve)?;
            secret_value_ok(v, quoted, false).then_some((None, vs, ve, base))
        }
        Check::Credential => {
            let t = hay.get(s..e)?;
            // In a URL's userinfo the syntax itself says it is a password: `Pa55.word7` is no attribute path.
            let in_url = t.starts_with("://");
            let mut quoted = in_url;
            // English prose (`my password is Xk9#mP2q`): the value must look made up, not be a word or a term.
            let mut prose = false;
            let prose_verb = t
                .get(1..)
                .and_then(|r| {
                    r.strip_prefix("assword ")
                        .or_else(|| r.strip_prefix("ecret key "))
                        .or_else(|| r.strip_prefix("ecret "))
                })
                .and_then(|r| r.trim_start_matches(' ').split([' ', ':']).next())
                .is_some_and(|w| w == "is" || w == "was");
            let (vs, ve) = if prose_verb {
                prose = true;
                last_word(t, s, e, &mut quoted)
            } else if t.starts_with("echo") {
                // `echo 'pw' | sudo -S …`: the echoed word.
                let bar = t.rfind('|')?;
                let word = t[4..bar].trim_matches(' ');
                let word = word
                    .strip_prefix("-n ")
                    .or_else(|| word.strip_prefix("-e "))
                    .or_else(|| word.strip_prefix("-ne "))
                    .map_or(word, |w| w.trim_start_matches(' '));
                let vs = s + (word.as_ptr() as usize - t.as_ptr() as usize);
                if word.len() >= 2 && word.starts_with(['"', '\'']) {
                    quoted = true;
                    (vs + 1, vs + word.len() - 1)
                } else {
                    (vs, vs + word.len())
                }
            } else if t.len() > 3 && t[..2].eq_ignore_ascii_case("pw") && t.as_bytes()[2] == b' ' {
                // Chat: `pw is <made-up word>`, or `ID admin / PW <password>` with the id before it.
                if t[2..].trim_start_matches(' ').starts_with("is ") {
                    prose = true;
                } else if !id_before(bytes, s) {
                    return None;
                }
                last_word(t, s, e, &mut quoted)
            } else if t.starts_with("redis-cli") {
                // `redis-cli … -a <password>`: the last word.
                last_word(t, s, e, &mut quoted)
            } else if t.starts_with("passwd") {
                // `htpasswd -b <file> <user> <password>`.
                if s < 2 || &bytes[s - 2..s] != b"ht" {
                    return None;
                }
                last_word(t, s, e, &mut quoted)
            } else if t.starts_with("openssl") {
                // `openssl … -k <password>` / `-pass pass:<password>`.
                let (vs, ve) = last_word(t, s, e, &mut quoted);
                if !quoted && bytes[vs..ve].starts_with(b"pass:") {
                    (vs + 5, ve)
                } else {
                    (vs, ve)
                }
            } else if let Some(v) = t.strip_prefix("password") {
                // `.netrc`: `machine <host> login <user> password <secret>`.
                if !netrc_login_before(bytes, s) {
                    return None;
                }
                (e - v.trim_start_matches([' ', '\t']).len(), e)
            } else if let Some(v) = t.strip_prefix("pass ") {
                // `sshpass -p 'secret'`.
                if s < 3 || &bytes[s - 3..s] != b"ssh" {
                    return None;
                }
                let v = v
                    .trim_start_matches(' ')
                    .strip_prefix("-p")?
                    .trim_start_matches(' ');
                let vs = e - v.len();
                if v.starts_with(['"', '\'']) {
                    quoted = true;
                    (vs + 1, e - 1)
                } else {
                    (vs, e)
                }
            } else if let Some(at) = t.rfind('@').filter(|_| in_url) {
                // `://user:password@host`: the password is between the user's `:` and the last `@`.
                let colon = t[3..].find(':')? + 3;
                (s + colon + 1, s + at)
            } else if let Some(p) = t
                .find(" -p")
                .or_else(|| t.find(" --password"))
                .filter(|_| t.starts_with('-'))
            {
                // `mysql -u root -pPASSWORD`: the password glued to `-p`; `docker login -u acme -p PASSWORD` and
                // `--password PASSWORD` / `--password=PASSWORD` after it.
                let flag = if t[p..].starts_with(" --password") {
                    11
                } else {
                    3
                };
                let v = &t[p + flag..];
                let v = v.strip_prefix('=').unwrap_or(v).trim_start_matches(' ');
                let vs = e - v.len();
                if v.len() >= 2 && v.starts_with(['"', '\'']) {
                    quoted = true;
                    (vs + 1, e - 1)
                } else {
                    (vs, e)
                }
            } else if t.starts_with('-') {
                // `-u user:password` (curl, wget, httpie): the password after the first `:`.
                let colon = t.find(':')?;
                (s + colon + 1, e)
            } else if let Some(r) = t.strip_prefix(":thin:") {
                // `jdbc:oracle:thin:user/password@host`: between the first `/` and the `@`.
                let slash = r.find('/')? + ":thin:".len();
                (s + slash + 1, e - 1)
            } else if t.ends_with(['"', '\'']) {
                // `auth=('user', 'password')`: the second quoted string.
                let open = t[..t.len() - 1].rfind(['"', '\''])?;
                (s + open + 1, e - 1)
            } else {
                // `Authorization: Bearer <token>`: the token after the scheme word.
                let sp = t.rfind(' ')?;
                (s + sp + 1, e)
            };
            let v = bytes.get(vs..ve)?;
            let trimmed = v.len()
                - v.iter()
                    .rev()
                    .take_while(|&&b| matches!(b, b'.' | b',' | b')'))
                    .count();
            let v = &v[..trimmed];
            if prose && !made_up_word(v) {
                return None;
            }
            (v.len() >= 4 && secret_value_ok(v, quoted, false)).then_some((
                None,
                vs,
                vs + v.len(),
                base,
            ))
        }
        Check::KrPhone => {
            // `+82 (0)10-…`: the bracketed trunk zero is written but not part of the number.
            // `+82 010-…` writes the trunk zero without brackets; it is not part of the number either.
            let written_trunk = cand.strip_prefix(b"+82").is_some_and(|r| {
                r.iter()
                    .find(|&&c| !matches!(c, b' ' | b'-'))
                    .is_some_and(|&c| c == b'0')
            });
            let trunk = usize::from(memchr::memmem::find(cand, b"(0)").is_some() || written_trunk);
            let n = count_digits(cand) - trunk;
            if phone_placeholder(cand) {
                return None;
            }
            // A part or model number continues past the phone's shape (`031-2345-6789-A`).
            if bytes.get(e) == Some(&b'-')
                && bytes.get(e + 1).is_some_and(u8::is_ascii_alphanumeric)
            {
                return None;
            }
            // A landline or service number written as bare digits (`0412345678`) has the shape of any product code
            // or employee number: only a phone keyword (+0.3) reports it. Bare mobile numbers (`010…`) stay.
            let bare_landline = cand.iter().all(u8::is_ascii_digit) && !cand.starts_with(b"01");
            let score = if bare_landline { base.min(0.45) } else { base };
            (8..=12).contains(&n).then_some((None, s, e, score))
        }
        Check::E164 => {
            let n = count_digits(cand);
            // A closing bracket with no opening one in the number closes the text's own (`(+44 20 7946 0321)`).
            let opens = cand.iter().filter(|&&c| c == b'(').count();
            let closes = cand.iter().filter(|&&c| c == b')').count();
            let e = if cand.ends_with(b")") && closes > opens {
                e - 1
            } else {
                e
            };
            (8..=15).contains(&n).then_some((None, s, e, base))
        }
        Check::ContextNumeric => {
            // An amount (`1234567890원`) is not an account number, nor is a part number that goes on (`…-6789-A`).
            if won_follows(hay, e)
                || (bytes.get(e) == Some(&b'-')
                    && bytes.get(e + 1).is_some_and(u8::is_ascii_alphanumeric))
            {
                return None;
            }
            let n = count_digits(cand);
            // A health-insurance card number has 11 digits (`5-1234567890`; 10 in older cards): a 13-digit number near
            // `요양기관` or `건강보험료` is a prescription, patent or document number.
            let entity = if has(Group::Health) && (10..=11).contains(&n) {
                Entity::KrHealthInsurance
            } else if (has(Group::Bank) || (has(Group::Post) && !has(Group::Order)))
                && (10..=16).contains(&n)
                // `AWS account 123456789012`, `account id 123456789012`: the cloud account's id.
                && !(has(Group::Cloud) && n == 12 && cand.len() == 12)
            {
                Entity::KrBankAccount
            } else {
                return None;
            };
            (!number_label_before(hay, s)).then_some((Some(entity), s, e, 0.7))
        }
        // In lower case, 0.1: only a passport keyword (+0.4) reports it.
        Check::Passport => {
            if cand.len() > 9 && cand[9..].windows(3).any(|w| w == b"KOR") {
                // A machine-readable zone: the ICAO 9303 check digit after the number (past an optional `<`) must
                // hold. If it does, the score rises; if not, the zone's shape is no evidence: 0.3 (a passport
                // keyword still reports it), and below the threshold the plain-number pattern retries at the same
                // start and judges the number as it would anywhere (`M12345678<7KOR…`: an M-type number, 0.55).
                let digit = cand[9..]
                    .iter()
                    .find(|c| c.is_ascii_digit())
                    .map(|c| c - b'0');
                let ok = digit.is_some() && validate::mrz_check_digit(&cand[..9]) == digit;
                return Some((None, s, s + 9, if ok { base + 0.05 } else { 0.3 }));
            }
            keep(match cand.first() {
                _ if cand.contains(&b' ') => 0.3,
                Some(b'M') => 0.55,
                Some(c) if c.is_ascii_lowercase() => 0.1,
                _ => base,
            })
        }
        Check::PersonKoAfter => {
            let name = hay.get(s..e)?;
            let syllables = name.chars().count();
            let two = scanners::two_syllable_surname_first(name) && (3..=4).contains(&syllables);
            let one = name.chars().next().is_some_and(|c| SURNAMES.contains(c))
                && (2..=4).contains(&syllables);
            ((one || two) && person_ko_ok(name)).then_some((None, s, e, base))
        }
        Check::Email => keep(base),
        Check::Pgpass => secret_value_ok(cand, false, false).then_some((None, s, e, base)),
        Check::PersonKoBefore | Check::PersonKoColon => {
            // `저는 홍길동입니다`: the name between `저는` (no Hangul right before it) and the introduction's ending,
            // surname, given syllables and stop-list checked (`저는 한국인입니다`, `저는 변호사입니다` are not names).
            let t = hay.get(s..e)?;
            if let Some(r) = t.strip_prefix("저는").or_else(|| t.strip_prefix("제가")) {
                if hay[..s].chars().next_back().is_some_and(is_hangul_syllable) {
                    return None;
                }
                let body = r.trim_start_matches(' ');
                let name = builtin::INTRO_ENDINGS
                    .iter()
                    .find_map(|x| body.strip_suffix(x))?;
                let ns = e - body.len();
                return scanners::person_ko_ok(name).then_some((None, ns, ns + name.len(), base));
            }
            // `| 성명 | 나이 |` over a delimiter row is a table's header, not a label and its value: the names are in
            // the column below (`Check::PersonTable`).
            if cand.contains(&b'|') && scanners::header_row(bytes, s) {
                return None;
            }
            let (ns, ne) = scanners::person_after_label(hay.get(s..e)?)?;
            if scanners::placeholder(hay.get(s + ns..s + ne)?) {
                return None; // `수령인: 미기재`
            }
            // `상담원: 성함이 어떻게 되세요?`: a line of dialogue after a role label, not a name.
            if scanners::dialogue_after_label(hay, s, s + ns, s + ne) {
                return None;
            }
            // After a label and blanks alone (`담당자 김민수`, not `담당자: …` or `이름은 …`), a two-syllable word is far
            // more often a noun (`담당자 조치`, `대표자 변경`, `성명 발표`) than a name with a one-syllable given name.
            let lead = &t[..ns];
            let label_end = lead.trim_end_matches(' ').len();
            if label_end < lead.len()
                && scanners::person_label(lead.as_bytes(), label_end).is_some_and(|(l, _)| l == 0)
                && ne - ns == 6
            {
                return None;
            }
            // The labels that also head prose (`주치의 제도 안내`, `직원명 목록`) take a name without an operator only
            // as a full three-syllable name where a field ends after it: the line's end, a wide gap or a separator
            // (`사원명 박지훈  사번 …`).
            if ["주치의", "사원명", "직원명"]
                .iter()
                .any(|l| t.starts_with(l))
                && !t[..ns].contains([':', '：', '=', '|'])
            {
                let next = bytes.get(s + ne..).unwrap_or_default();
                let field_end = matches!(
                    next,
                    [] | [b'\r' | b'\n' | b'\t' | b',' | b'/' | b'(' | b')', ..]
                        | [b' ', b' ', ..]
                        | [b' ']
                ) || next.starts_with(b" (")
                    || next.starts_with(" 선생".as_bytes())
                    || next.starts_with("님".as_bytes());
                if !field_end || hay.get(s + ns..s + ne)?.chars().count() != 3 {
                    return None;
                }
            }
            Some((None, s + ns, s + ne, base))
        }
        // Handled by `Engine::evaluate` (the column is read after the pass).
        Check::PersonTable => None,
        Check::PersonClosing => {
            // What opens the closing's line (or a quoted string, or follows a `\n` escape in one): nothing, or a
            // word or two (`Best`, `Kind`, `With warm`).
            // Read back at most `CLOSING_LOOK_BACK` bytes: a closing after a longer lead is no closing anyway, and
            // a long line of `regards,\n…` escapes must not cost a walk to its start at each of them.
            let from = s.saturating_sub(CLOSING_LOOK_BACK);
            let mut line = memchr::memrchr(b'\n', &bytes[from..s]).map_or(from, |i| from + i + 1);
            if let Some(q) = memchr::memrchr2(b'"', b'\'', &bytes[line..s]) {
                line += q + 1;
            }
            if let Some(k) = memchr::memmem::rfind(&bytes[line..s], b"\\n") {
                line += k + 2;
            }
            let lead = bytes[line..s].trim_ascii();
            if lead.len() > MAX_CLOSING_LEAD
                || !lead.iter().all(|c| c.is_ascii_alphabetic() || *c == b' ')
                || lead.iter().filter(|&&c| c == b' ').count() > 1
            {
                return None;
            }
            let t = hay.get(s..e)?;
            let comma = t.find(',')?;
            let rest = t[comma + 1..].trim_start_matches([' ', '\r', '\n']);
            let name = rest.strip_prefix("\\n").unwrap_or(rest);
            let ns = e - name.len();
            // The name fills its line: a `,` or `|` may follow (`Jane Park, PhD`, `John Smith | Acme`).
            let after = hay.get(e..)?.trim_start_matches(' ');
            let filled = blank_after(bytes, e) || after.starts_with([',', '|']);
            // A first name alone (`Thanks,\nBob`) says less than a full one: scored lower, and only a common given
            // name (`Thanks,\nBye`, `Regards,\nSupport` are words).
            if !name.contains(' ') {
                return (filled && scanners::signature_first_name(name)).then_some((
                    None,
                    ns,
                    e,
                    base - SIGNATURE_FIRST_NAME_PENALTY,
                ));
            }
            (filled && (scanners::person_en_ok(name) || scanners::person_en_caps_ok(name)))
                .then_some((None, ns, e, base))
        }
        Check::PersonEn => {
            let t = hay.get(s..e)?;
            // `Hi Sarah,`, `Hello Tom,`: words of any greeting, so a name only where they open a line
            // (a letter's or a message's first words) and before the salutation's comma.
            let greeting = SALUTATIONS[1..].iter().find_map(|g| t.strip_prefix(g));
            if greeting.is_some() && !(t.ends_with(',') && blank_before(bytes, s)) {
                return None;
            }
            // `… and Mary,`: the second name of a salutation, evaluated from its joiner by `salutation_partner`.
            let partner = t.strip_prefix("and ").or_else(|| t.strip_prefix("& "));
            let said = t
                .strip_prefix("name is ")
                .or_else(|| t.strip_prefix("Dear "))
                .or(greeting)
                .or(partner);
            // `Dear John Smith,`: a full name without a second one is judged as after a label, without its comma.
            let full = said.and_then(|r| r.strip_suffix(',')).filter(|w| {
                let w = w.trim_start_matches(' ');
                w.contains(' ') && joiner(w).is_none()
            });
            // `Dear Valued Partner,`: a word a salutation addresses opens no name.
            if full.is_some_and(|w| {
                scanners::addressed_not_named(
                    w.trim_start_matches(' ').split(' ').next().unwrap_or(""),
                )
            }) {
                return None;
            }
            let t = if full.is_some() { &t[..t.len() - 1] } else { t };
            let said = said.map(|r| r.strip_suffix(',').filter(|_| full.is_some()).unwrap_or(r));
            let (cut, label) = match (said, t.find([':', '=', '：', '>'])) {
                // `My name is …` (not `The file name is …`), `Dear …`: judged as after a label.
                (Some(r), _) => {
                    let my = s >= 3
                        && bytes[s - 3..s - 1].eq_ignore_ascii_case(b"my")
                        && bytes[s - 1] == b' '
                        && !(s > 3 && bytes[s - 4].is_ascii_alphanumeric());
                    if t.starts_with('n') && !my {
                        return None;
                    }
                    // `Dear John,`: one given name, closed by the salutation's comma; `Dear John and Mary,`, `Dear
                    // John Smith and Mary Jones,`: the first of two names joined by `and`/`&`, both names (the
                    // second is reported from its joiner).
                    if let Some(w) = r.strip_suffix(',') {
                        let w = w.trim_start_matches(' ');
                        let ws = e - 1 - w.len();
                        let name_ok = |n: &str| {
                            if n.contains(' ') {
                                scanners::person_en_ok(n)
                            } else {
                                scanners::salutation_name_ok(n)
                            }
                        };
                        let first = match joiner(w) {
                            Some(j) if partner.is_none() => {
                                let second = w[j..].trim_start_matches([' ', '&']);
                                let second = second.strip_prefix("and ").unwrap_or(second);
                                if !name_ok(second.trim_start_matches(' ')) {
                                    return None;
                                }
                                &w[..j]
                            }
                            Some(_) => return None,
                            None => w,
                        };
                        return name_ok(first).then_some((None, ws, ws + first.len(), base));
                    }
                    (t.len() - r.len(), true)
                }
                (None, Some(i)) => (i + t[i..].chars().next().map_or(1, char::len_utf8), true),
                (None, None) => (t.find(' ')?, false),
            };
            // `Project Name: Blue Falcon`, `File Name: …`: the name of something else.
            if label && scanners::names_a_thing(bytes, s) {
                return None;
            }
            let rest = &t[cut..];
            let skip = rest.len() - rest.trim_start_matches([' ', '"', '\'']).len();
            // Form values that are not names (`Name: Not Provided`, `Customer: Enterprise Plan`, `Dr. Pepper`).
            const NOT_NAMES: &[&str] = &[
                "Not",
                "None",
                "Unknown",
                "Anonymous",
                "Enterprise",
                "Premium",
                "Standard",
                "Basic",
                "Pepper",
                "Provided",
                "Available",
                "Applicable",
                "Required",
                "Redacted",
                "Test",
                "User",
                "Customer",
            ];
            let name = &rest[skip..];
            let first = name.split(' ').next().unwrap_or("");
            if NOT_NAMES.iter().any(|n| first.eq_ignore_ascii_case(n)) {
                return None;
            }
            if !label {
                // After a military rank every word is checked (`Gen. Alpha`, `Col. Total`, `Lt. Governor`).
                let rank = !t.starts_with(['M', 'D', 'P']) || t.starts_with("Maj");
                if rank && !scanners::rank_name_ok(name) {
                    return None;
                }
                return Some((None, s + cut + skip, e, base)); // after a title (`Mr. Kim`, `Sgt. John Smith`)
            }
            // After a label, the English-name checks with their word list (`Name: Production Database`,
            // `담당자: Customer Support`), capitals held to the capitals check (`Name: JOHN SMITH`). A third word
            // that fails may be the next field's label (`NAME: JOHN SMITH ADDRESS: …`): then the first two; a third
            // word that is no label makes a title (`Name: Monthly Revenue Dashboard`), not a name.
            let ok = if name.bytes().any(|c| c.is_ascii_lowercase()) {
                scanners::person_en_ok
            } else {
                scanners::person_en_caps_ok
            };
            let label_follows = hay
                .get(e..)
                .is_some_and(|t| t.trim_start_matches(' ').starts_with([':', '：']));
            let two = name
                .rfind(' ')
                .filter(|_| label_follows)
                .map_or(name, |i| name[..i].trim_end());
            let name = [name, two].into_iter().find(|n| ok(n))?;
            Some((None, s + cut + skip, s + cut + skip + name.len(), base))
        }
        Check::KoMarking => {
            let after = hay.get(e..).unwrap_or("");
            // `1급 비밀번호`, `1급 비밀병기` (a "secret weapon", a common figure of speech), and `Ⅱ급 비밀취급인가` (a
            // clearance, not a marking).
            if after.trim_start_matches(' ').starts_with("번호")
                || after.starts_with("병기")
                || after.starts_with("취급")
            {
                return None;
            }
            if cand.first() == Some(&b'I')
                && s > 0
                && bytes.get(s - 1).is_some_and(u8::is_ascii_alphabetic)
            {
                return None;
            }
            keep(base)
        }
        Check::Daeoebi => {
            // `대외` + a word starting with `비`: 대외비중 (share), 대외비교, 대외비판, 대외비즈니스, 대외비용, 대외비전, …
            const NOT_AFTER: &[char] = &[
                '용', '중', '교', '판', '즈', '상', '율', '전', '난', '례', '축', '행', '협',
            ];
            if cand.starts_with("대".as_bytes())
                && hay
                    .get(e..)
                    .and_then(|t| t.chars().next())
                    .is_some_and(|c| NOT_AFTER.contains(&c))
            {
                return None;
            }
            if cand.starts_with("대".as_bytes()) && grade_list(hay, s, e) {
                return None;
            }
            if cand == "대외비".as_bytes() && daeoebi_as_topic(hay, s, e) {
                return None;
            }
            // `군사기밀보호법` (the Military Secrets Protection Act) names a law, it marks nothing.
            if cand != "대외비".as_bytes() && hay.get(e..).is_some_and(|t| t.starts_with("보호"))
            {
                return None;
            }
            keep(base)
        }
        Check::KoGradeLabel => {
            let t = hay.get(s..e)?;
            let g = t.find("등급")? + "등급".len();
            let grade = t[g..].trim_start_matches([' ', ':', '：']);
            let gs = e - grade.len();
            // `보안등급: 비밀번호 관리` is about passwords.
            let next = hay.get(e..).and_then(|r| r.chars().next());
            if next.is_some_and(|c| matches!(c, '번' | '리' | '스' | '유' | '글')) {
                return None;
            }
            Some((None, gs, e, base))
        }
        Check::LineAlone => {
            let word = &bytes[s..e];
            // `[CONFIDENTIAL]`, `(RESTRICTED)`; `[SECRET]` (also a word in code or logs) only where a portion opens.
            if s > 0
                && matches!(
                    (bytes[s - 1], bytes.get(e)),
                    (b'[', Some(b']')) | (b'(', Some(b')'))
                )
                && (matches!(word, b"CONFIDENTIAL" | b"RESTRICTED") || opens_portion(bytes, s - 1))
            {
                return keep(base);
            }
            // A banner between rules of two or more `-`, `=` or `~` alone on its line (`-- SECRET --`, `== SECRET ==`).
            if ruled_banner(bytes, s, e) {
                return keep(base);
            }
            // Alone on its line, allowing Markdown emphasis or heading marks around it (`**SECRET**`, `# SECRET`)
            // and a `Classification:` label before it.
            let mut ls = s;
            while ls > 0 && matches!(bytes[ls - 1], b'*' | b'_' | b'#' | b'[' | b' ' | b'\t') {
                ls -= 1;
            }
            let before = &bytes[..ls];
            // `UK SECRET` (a UK marking for material shared abroad) is one marking: it starts at `UK`.
            let mut start = s;
            if before.ends_with(b"UK") && ls == s - 1 {
                ls -= 2;
                start = ls;
            }
            let before = &bytes[..ls];
            for label in [
                &b"Classification:"[..],
                b"CLASSIFICATION:",
                b"Classification Level:",
                "분류:".as_bytes(),
                "보안등급:".as_bytes(),
                "비밀등급:".as_bytes(),
            ] {
                if before.ends_with(label) {
                    ls -= label.len();
                    break;
                }
            }
            let mut le = e;
            while le < bytes.len() && matches!(bytes[le], b'*' | b'_' | b']') {
                le += 1;
            }
            let opens = blank_before(bytes, ls);
            let closes = blank_after(bytes, le);
            if opens && closes {
                return (!identifier_list_near(bytes, ls, le)).then_some((None, start, e, base));
            }
            let after = &bytes[e..];
            // `EMPLOYEE ONBOARDING FORM — CONFIDENTIAL`: the end of a title in capitals, after a dash or a bar. The
            // line before the word is read only then: a long line of banner words would otherwise read it back
            // to its start once per word (quadratic).
            let title_end = closes && {
                let mut q = s;
                while q > 0 && bytes[q - 1] != b'\n' && bytes[q - 1].is_ascii_whitespace() {
                    q -= 1;
                }
                let before = &bytes[..q];
                ["—", "–", "-", "|"]
                    .iter()
                    .any(|d| before.ends_with(d.as_bytes()))
                    && {
                        let line = before
                            .iter()
                            .rposition(|&b| b == b'\n')
                            .map_or(0, |i| i + 1);
                        let title = &before[line..];
                        title.iter().any(u8::is_ascii_uppercase)
                            && !title.iter().any(u8::is_ascii_lowercase)
                    }
            };
            // `CONFIDENTIAL: do not distribute`: opening a line, then a colon or a dash and prose.
            let rest = after
                .strip_prefix(b":")
                .or_else(|| after.strip_prefix(" —".as_bytes()))
                .or_else(|| after.strip_prefix(" -".as_bytes()))
                .and_then(|r| r.strip_prefix(b" "));
            let lead = opens
                && matches!(word, b"CONFIDENTIAL" | b"RESTRICTED")
                && rest.is_some_and(|r| {
                    let line = &r[..r.iter().position(|&b| b == b'\n').unwrap_or(r.len())];
                    line.first().is_some_and(u8::is_ascii_alphabetic) && line.contains(&b' ')
                });
            (title_end || lead).then_some((None, start, e, base))
        }
        Check::TitleConfidential => title_confidential(bytes, s, e).then_some((None, s, e, base)),
        Check::Geukbi => geukbi_stamp(hay, s, e).then_some((None, s, e, base)),
        Check::Portion => {
            let inner = cand.get(1..cand.len().saturating_sub(1))?;
            if inner.windows(2).any(|w| w == b"//") || inner == b"CUI" {
                return keep(base);
            }
            // `(TS)` is also TypeScript (`React (TS) 템플릿`, `Vite (TS) starter`): a mark only where it opens a portion,
            // or after a sentence's end (`… text. (TS) more.`).
            if inner == b"TS" {
                return (opens_portion(bytes, s) || sentence_end_before(bytes, s))
                    .then_some((None, s, e, base));
            }
            // Bare `(S)`/`(C)` where they open a portion, before a capitalised word or a Hangul one (`(S) 작전 개시일은
            // …`, a combined Korea–US document); not `(C) Copyright` / `(C) 저작권`, nor among lettered list markers.
            let word = hay.get(e + 1..).unwrap_or("");
            let word_follows = bytes.get(e) == Some(&b' ')
                && word
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase() || is_hangul_syllable(c));
            let copyright = (word.len() >= 9
                && word.as_bytes()[..9].eq_ignore_ascii_case(b"copyright"))
                || word.starts_with("저작");
            (opens_portion(bytes, s) && word_follows && !copyright && !lettered_list(bytes, s, e))
                .then_some((None, s, e, base))
        }
        Check::Banner => {
            let Some(slashes) = memchr::memmem::find(cand, b"//") else {
                // `SECRET /NOFORN`: one slash after a space, then a known control.
                let cs = s + cand.iter().position(|&c| c == b'/')? + 1;
                let token = bytes[cs..e]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                if !BANNER_CONTROLS
                    .iter()
                    .any(|c| c.as_bytes() == &bytes[cs..cs + token])
                {
                    return None;
                }
                let end = banner_end(bytes, cs, e)?;
                return Some((None, s, banner_list_end(bytes, cs, end, false)?, base));
            };
            if slashes == cand.len() - 2 {
                // `//SECRET//`: the level alone between two `//`.
                let closed = s >= 2
                    && &bytes[s - 2..s] == b"//"
                    && !bytes.get(e).is_some_and(u8::is_ascii_alphanumeric);
                return closed.then(|| (None, s - 2, e, base));
            }
            // The whole match first (a list run into a word through `//` is no banner: `SECRET//…//a`), then
            // where its controls end.
            let controls = s + slashes + 2;
            let end = banner_end(bytes, controls, e)?;
            Some((None, s, banner_list_end(bytes, controls, end, false)?, base))
        }
        Check::UrlSecret => {
            let scheme = bytes[..s]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            Some((None, s - scheme, e, base))
        }
        // Led by a district (`강남구 테헤란로 427`) the base; a road name alone (`테헤란로 152`) needs an address
        // keyword to pass.
        Check::AddressRoad => {
            let first = cand.split(|&c| c == b' ').next().unwrap_or_default();
            let district = std::str::from_utf8(first)
                .is_ok_and(|w| builtin::KR_DISTRICTS.binary_search(&w).is_ok());
            let e = scanners::unit_tail(hay, e);
            Some((None, s, e, if district { base } else { base - 0.35 }))
        }
        Check::AddressUnit => Some((None, s, scanners::unit_tail(hay, e), base)),
        Check::PhoneLabel => keep(base),
        Check::BannerMixed => {
            let controls = s + memchr::memmem::find(cand, b"//")? + 2;
            // Not in capitals, the first control must be a known one; the list ends before the first other word
            // (`Secret//NoForn-top Secret//…` is two banners).
            let end = banner_list_end(bytes, controls, e, true)?;
            let end = banner_end(bytes, controls, end)?;
            // `Top Secret//…`, `cosmic top secret//…`: the level's first words, one space apart.
            let mut start = s;
            for word in [&b"top "[..], b"cosmic "] {
                let w = start.saturating_sub(word.len());
                if start >= word.len() && bytes[w..start].eq_ignore_ascii_case(word) {
                    start = w;
                } else {
                    break;
                }
            }
            boundary_ok(hay, start, end, Boundary::WordStart).then_some((None, start, end, base))
        }
    }
}

/// Where a banner's control list (from `controls`, read to at most `e`) stops holding controls: after its last token
/// that is a known control ([`BANNER_CONTROLS`]; in any case for a banner not in capitals, whose first token must be
/// one), `TO` (`REL TO USA`), a word in capitals (a country
/// code or a compartment: `KOR`, `GAMMA`), a declassification date (`20320108`) or exemption (`25X1`). A number of
/// any other shape ends the list (`SECRET//NOFORN 010-2345-6789`: the phone is a finding of its own, not part of the
/// marking), and so does a word other than a known control that is a key (`SECRET//NOFORN PASSWORD=…`, `NOTE:`).
/// `None` when no token is one.
fn banner_list_end(b: &[u8], controls: usize, e: usize, any_case: bool) -> Option<usize> {
    let mut end = None;
    let mut at = controls;
    for (k, token) in b[controls..e].split(|&c| banner_sep(c)).enumerate() {
        let next = at + token.len();
        if !token.is_empty() {
            let known = BANNER_CONTROLS.iter().any(|c| {
                if any_case {
                    c.as_bytes().eq_ignore_ascii_case(token)
                } else {
                    c.as_bytes() == token
                }
            });
            let to = if any_case {
                token.eq_ignore_ascii_case(b"to")
            } else {
                token == b"TO"
            };
            let capitals = token.iter().all(u8::is_ascii_uppercase);
            let listed =
                known || ((k > 0 || !any_case) && (to || capitals || declass_token(token)));
            // A known control before a colon is still one (`SECRET//NOFORN: summary`).
            let key = !known && matches!(b.get(next), Some(b'=' | b':'));
            if !listed || key {
                break;
            }
            end = Some(next);
        }
        at = next + 1;
    }
    end
}

/// The bytes between the tokens of a banner's control list.
fn banner_sep(c: u8) -> bool {
    matches!(c, b' ' | b',' | b'/' | b'-')
}

/// A declassification date (`20320108`) or exemption (`25X1`, `50X1`) in a banner's control list.
fn declass_token(t: &[u8]) -> bool {
    (t.len() == 8
        && (t.starts_with(b"19") || t.starts_with(b"20"))
        && t.iter().all(u8::is_ascii_digit))
        || (t.len() == 4
            && t[..2].iter().all(u8::is_ascii_digit)
            && t[2] == b'X'
            && t[3].is_ascii_digit())
}

/// Where a banner's `//` control list ends (`None` when no control is left): the list is greedy over
/// `[A-Z0-9 ,/-]`, so when prose follows it can run into the next word (`SECRET//NOFORN Material` → `…NOFORN M`,
/// `SECRET//NOFORN material` → `…NOFORN `). Then the partial word is cut off, once; the separators before it must not
/// hold a `/` (`SECRET//NOFORNx`, `SECRET//notes`, `SECRET//…//a` are not banners). Trailing separators are trimmed;
/// no control left means not this pattern (a shorter one may retry at the same start). `controls`: where the list
/// starts (after the `//`, or the one `/` of `SECRET /NOFORN`).
fn banner_end(b: &[u8], controls: usize, e: usize) -> Option<usize> {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut end = e;
    // A date after the control list (`SECRET//REL TO USA, KOR, 2024-03-05`) is not a control.
    if let Some(k) = b[controls..e].windows(6).position(|w| {
        matches!(w[0], b' ' | b',') && w[1..5].iter().all(u8::is_ascii_digit) && w[5] == b'-'
    }) {
        end = controls + k;
    } else if b.get(e).copied().is_some_and(word) {
        while end > controls && !b.get(end - 1).copied().is_some_and(banner_sep) {
            end -= 1;
        }
        let token_end = end;
        while end > controls && b.get(end - 1).copied().is_some_and(banner_sep) {
            end -= 1;
        }
        if b.get(end..token_end)?.contains(&b'/') {
            return None;
        }
    }
    while end > controls && b.get(end - 1).copied().is_some_and(banner_sep) {
        end -= 1;
    }
    (end > controls).then_some(end)
}

/// Where the trigger pass leaves candidate starts for merged dictionaries.
struct DictCands<'a> {
    cands: &'a mut Vec<usize>,
    /// Set when candidates are unknown (no trigger pass ran, or it failed): every position is then a candidate.
    all: &'a mut bool,
}

/// Trigger literal hits `(start, literal id)` from the lazy DFA, left to right, non-overlapping (leftmost-first).
/// Hits of merged dictionary prefixes are not returned: their starts go to `dict`, and the search resumes one byte
/// after such a start, so they never hide a trigger; dictionary terms starting inside a trigger hit are recorded too.
struct LiteralHits<'a> {
    tr: &'a Triggers,
    /// The shift-or filter's hits, when the engine has one (no merged dictionaries): then the DFA is not used.
    so: Option<ShiftOrHits<'a>>,
    /// The trigger DFA's cache (only without a shift-or filter; a scan whose scratch lacks it fails closed).
    cache: Option<&'a mut hybrid::dfa::Cache>,
    hay: &'a [u8],
    at: usize,
    failed: &'a std::cell::Cell<bool>,
    dict: &'a mut Vec<usize>,
}

impl Iterator for LiteralHits<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        if let Some(so) = self.so.as_mut() {
            let hit = so.next();
            if hit.is_none() && !so.dict.is_empty() {
                // Every occurrence of a dictionary prefix, in the order their ends were found (prefixes differ in
                // length): the dictionary pass wants them sorted and distinct. Nothing else fills the list on
                // this path.
                self.dict.append(&mut so.dict);
                self.dict.sort_unstable();
                self.dict.dedup();
            }
            return hit;
        }
        loop {
            if self.at >= self.hay.len() {
                return None;
            }
            let input = Input::new(self.hay).range(self.at..);
            let Some(cache) = self.cache.as_deref_mut() else {
                self.failed.set(true);
                self.at = self.hay.len();
                return None;
            };
            match self.tr.dfa.try_search_fwd(cache, &input) {
                Ok(Some(m)) => {
                    let pid = m.pattern().as_usize();
                    let end = m.offset();
                    let start = end.saturating_sub(self.tr.len.get(pid).copied().unwrap_or(0));
                    if pid >= self.tr.dict_from {
                        self.dict.push(start);
                        self.at = start + 1;
                        continue;
                    }
                    // A dictionary term may start at or inside this hit (hidden by the trigger's priority).
                    if self.tr.dict_from < self.tr.len.len() {
                        for p in start..end {
                            if self.tr.dict_first[usize::from(self.hay[p])] {
                                self.dict.push(p);
                            }
                        }
                    }
                    // Literals are never empty, so `end > self.at` and the search always advances.
                    self.at = end.max(self.at + 1);
                    return Some((start, pid));
                }
                Ok(None) => {
                    self.at = self.hay.len();
                    return None;
                }
                Err(_) => {
                    self.failed.set(true);
                    self.at = self.hay.len();
                    return None;
                }
            }
        }
    }
}

/// Whether the digit-run trigger at `t` can start a match of the union: `+` and `(` always; a digit only when the
/// span of digits and `-. ()` from `t` holds at least 4 digits in at least 7 bytes. Every builtin pattern that begins
/// with a digit needs that much (the shortest, an IPv4 address `1.2.3.4`) except the Korean marking `2급 비밀`, which
/// the `급` trigger reaches by its back-offset. Prose numbers (`2024년`, `15%`, `2.3.1`) stop here.
fn numeric_shape(b: &[u8], t: usize) -> bool {
    let Some(&c) = b.get(t) else {
        return false;
    };
    if !c.is_ascii_digit() {
        return true;
    }
    let mut digits = 0;
    for (i, &x) in b[t..].iter().enumerate() {
        if x.is_ascii_digit() {
            digits += 1;
        } else if !(matches!(x, b'-' | b'.' | b' ' | b'(' | b')')
            // `850315_1234566`, `850315/1234566` (a resident number's other separators).
            || (i == 6 && digits == 6 && matches!(x, b'_' | b'/')))
        {
            return false;
        }
        if digits >= 4 && i >= 6 {
            return true;
        }
    }
    false
}

/// Run starts of one 64-byte block: bit `i` set when byte `i` is `+`, `(` or a digit whose previous byte (`carry`
/// for byte 0: 1 when the byte before the block is a digit) is not; and whether the block's last byte is a digit (0
/// or 1). The classes come from [`byte_class`] as bit masks (SIMD from safe code, ~65 instructions a block); the run
/// starts are then four scalar operations on the masks. Round 24's plain loops over flag arrays, which the compiler
/// vectorised only in some shapes, cost ~115 instructions a block.
#[inline(always)]
fn run_starts(block: &[u8; 64], carry: u64) -> (u64, u64) {
    let (digits, opens) = byte_class::digits_and_opens(block);
    (opens | (digits & !((digits << 1) | carry)), digits >> 63)
}

/// Positions holding `+`, `(` or the first digit of a digit run, in order. One SIMD pass: each 64-byte block
/// becomes a bit mask of run starts, whose set bits are then read off one by one (the read-off is inlined at the
/// caller; only a block's refill is a call).
struct DigitRuns<'a> {
    b: &'a [u8],
    /// Offset of the block after the current one.
    next_block: usize,
    /// Offset of the current block.
    base: usize,
    /// Run starts of the current block not yet returned.
    mask: u64,
    /// Whether the byte before the next block is a digit (0 or 1).
    carry: u64,
    /// The AVX-512 kernel, when the CPU has it: it then reads every whole block.
    cpu: Option<avx512::Avx512>,
}

impl<'a> DigitRuns<'a> {
    fn new(b: &'a [u8]) -> Self {
        DigitRuns {
            b,
            next_block: 0,
            base: 0,
            mask: 0,
            carry: 0,
            cpu: avx512::Avx512::detect(),
        }
    }

    /// Read blocks until one holds a run start or the text ends (then `false`). The loop over whole blocks keeps its
    /// cursor and carry in registers and writes the iterator's fields once, on return (written at every block they
    /// cost ~10 instructions a block, as much as a third of the block's classification).
    #[inline(never)]
    fn refill(&mut self) -> bool {
        if self.mask != 0 {
            return true;
        }
        let b = self.b;
        let mut at = self.next_block;
        let mut carry = self.carry;
        if let Some(cpu) = self.cpu {
            // The kernel reads the last partial block too: when it finds no start, the text is read.
            let (base, mask, next_carry) = cpu.run_start_blocks(b, at, carry);
            self.mask = mask;
            self.carry = next_carry;
            self.base = base;
            self.next_block = base + avx512::BLOCK;
            return mask != 0;
        }
        while let Some(block) = b.get(at..).and_then(<[u8]>::first_chunk::<64>) {
            let (mask, next_carry) = run_starts(block, carry);
            carry = next_carry;
            at += 64;
            if mask != 0 {
                self.mask = mask;
                self.carry = carry;
                self.base = at - 64;
                self.next_block = at;
                return true;
            }
        }
        let mut mask = 0;
        self.base = at;
        if let Some(rest) = b.get(at..).filter(|r| !r.is_empty()) {
            // Tail: zero padding holds no trigger byte.
            let mut block = [0u8; 64];
            block[..rest.len()].copy_from_slice(rest);
            (mask, carry) = run_starts(&block, carry);
            at += 64;
        }
        self.mask = mask;
        self.carry = carry;
        self.next_block = at;
        mask != 0
    }
}

impl Iterator for DigitRuns<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.mask == 0 && !self.refill() {
            return None;
        }
        let i = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + i)
    }
}

/// Call `hit(start, end, keyword)` for each keyword matched in state `sid` of the keyword DFA, reached after byte
/// `ke - 1`. Built without a prefilter, the DFA's only special states are the dead state (never reached by an
/// unanchored standard search) and the match states, so this is called at special states.
#[inline]
fn keyword_matches(
    kw: &aho_corasick::dfa::DFA,
    sid: StateID,
    ke: usize,
    hit: &mut impl FnMut(usize, usize, usize),
) {
    if kw.is_match(sid) {
        for j in 0..kw.match_len(sid) {
            let pid = kw.match_pattern(sid, j);
            hit(ke - kw.pattern_len(pid), ke, pid.as_usize());
        }
    }
}

/// Run the keyword DFA `kw` over `hay` from state `sid` up to the first special state (for the keyword DFA, a match
/// state): its offset in `hay` (`None` when none) and the state there (else at the end). Not inlined: in its own
/// frame the loop keeps the state, the tables and the cursor in registers.
#[inline(never)]
fn next_special(
    kw: &aho_corasick::dfa::DFA,
    hay: &[u8],
    mut sid: StateID,
) -> (Option<usize>, StateID) {
    // Four bytes a round: the loop's own compare and step are paid once per four.
    let mut chunks = hay.chunks_exact(4);
    let mut base = 0;
    for chunk in &mut chunks {
        for (j, &b) in chunk.iter().enumerate() {
            sid = kw.next_state(aho_corasick::Anchored::No, sid, b);
            if kw.is_special(sid) {
                return (Some(base + j), sid);
            }
        }
        base += 4;
    }
    for (j, &b) in chunks.remainder().iter().enumerate() {
        sid = kw.next_state(aho_corasick::Anchored::No, sid, b);
        if kw.is_special(sid) {
            return (Some(base + j), sid);
        }
    }
    (None, sid)
}

/// Overlap rule: sort by start (then longer first); when two findings overlap keep the higher score, then the longer,
/// then the one found first (builtin regex patterns in priority order, then custom regex, then dictionaries).
fn resolve_overlaps(out: &mut Vec<Finding>, first: usize) {
    let seg = &out[first..];
    if seg.len() < 2 {
        return;
    }
    // The order is sorted as small keys rather than moving the findings through the sort: `(start, longer first,
    // discovery index)` is unique, so any sort gives the same order (discovery order among equal spans). One `u128`
    // a key (start, then the length's complement and the index in 32 bits each) whenever they fit, which is any text
    // under 4 GiB. The findings arrive as a few sorted runs (the regex pass, each scanner, each dictionary), which
    // the standard library's stable sort merges instead of partitioning the whole list.
    let fits = u32::try_from(seg.len()).is_ok()
        && seg
            .iter()
            .all(|f| f.end >= f.start && u32::try_from(f.end - f.start).is_ok());
    let order: Vec<usize> = if fits {
        let mut keys: Vec<u128> = seg
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let len = u32::try_from(f.end - f.start).unwrap_or(u32::MAX);
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                (f.start as u128) << 64 | u128::from(u32::MAX - len) << 32 | u128::from(i)
            })
            .collect();
        keys.sort();
        keys.iter()
            .map(|&k| (k & u128::from(u32::MAX)) as usize)
            .collect()
    } else {
        let mut keys: Vec<(usize, usize, usize)> = seg
            .iter()
            .enumerate()
            .map(|(i, f)| (f.start, usize::MAX - f.end, i))
            .collect();
        keys.sort_unstable();
        keys.iter().map(|k| k.2).collect()
    };
    // Walk the sorted order; `kept` is the stack of survivors (its top is replaced by a better overlapping one).
    let mut kept: Vec<usize> = Vec::with_capacity(order.len());
    for &r in &order {
        if let Some(&l) = kept.last() {
            let (last, cur) = (&seg[l], &seg[r]);
            if cur.start < last.end {
                let better = cur.score > last.score
                    || (cur.score == last.score && (cur.end - cur.start) > (last.end - last.start));
                if better {
                    if let Some(top) = kept.last_mut() {
                        *top = r;
                    }
                }
                continue;
            }
        }
        kept.push(r);
    }
    let mut slots: Vec<Option<Finding>> = out.drain(first..).map(Some).collect();
    out.extend(
        kept.iter()
            .filter_map(|&r| slots.get_mut(r).and_then(Option::take)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The patterns that may begin before a digit run (passport, IBAN) begin with a letter: no digit and no `.` is a
    /// lead, which the skip of a dotted number's later runs (`scanners::after_digit_dot`) relies on.
    #[test]
    fn no_digit_or_dot_leads_a_digit_run() {
        let e = Engine::builtin().unwrap();
        let tr = e.triggers.as_ref().unwrap();
        for c in (b'0'..=b'9').chain([b'.', b' ']) {
            assert!(!tr.lead[usize::from(c)], "{}", char::from(c));
        }
    }

    #[test]
    fn cidr_prefix_lengths() {
        for (after, want) in [
            ("/16", Some(16)),
            ("/8 via", Some(8)),
            ("/24.", Some(24)),
            ("/0", Some(0)),
            ("/32입니다", Some(32)),
            ("/33", None),
            ("/128", None),
            ("/1.2", None),
            ("/", None),
            ("", None),
            ("/99999999999999999999", None),
        ] {
            assert_eq!(cidr_prefix_after(after.as_bytes(), 0), want, "{after:?}");
        }
    }

    /// The hashed label lists answer as the lists did: Korean labels as the whole run of syllables before the number,
    /// English ones as a whole word in any case (also before `id`/`no`/`number`), nothing longer or glued.
    #[test]
    fn labels_before_a_number() {
        let at = |t: &str| t.rfind("1234").unwrap_or(0);
        for (text, number, product, rrn) in [
            ("주문번호 1234", true, false, false),
            ("주문번호: 1234", true, false, false),
            ("신규주문번호 1234", false, false, false),
            ("ORDER 1234", true, false, false),
            ("Invoice No. 1234", true, false, false),
            ("xorder 1234", false, false, false),
            ("Model: 1234", false, true, false),
            ("VERSION 1234", false, true, false),
            ("주민번호는 1234", false, false, true),
            ("RRN: 1234", false, false, true),
            (
                "averyveryverylongwordthatisnolabelatall 1234",
                false,
                false,
                false,
            ),
            ("1234", false, false, false),
        ] {
            let s = at(text);
            assert_eq!(number_label_before(text, s), number, "{text}");
            assert_eq!(label_before(text, s, &PRODUCT_LABEL_SET), product, "{text}");
            assert_eq!(label_before(text, s, &RRN_LABEL_SET), rrn, "{text}");
        }
    }

    /// More anchor bytes than the lists keep (`scanners::ANCHOR_CAP`): those bytes are searched with `memchr` and
    /// the findings after them are the same as with the portable code.
    #[test]
    fn anchors_past_the_cap_are_searched_as_before() {
        let tail = " fe80::1 kim@naver.com auth = ('admin', 'hunter22') 수령인: 윤채원";
        for filler in ["a:", "(x", "@.", "%4"] {
            let text = filler.repeat(70_000) + tail;
            let wide = scan_all(&[&text]);
            let portable = avx512::portable(|| scan_all(&[&text]));
            assert_eq!(wide, portable, "{filler}");
            let tail_findings = wide[0]
                .iter()
                .filter(|f| f.start >= text.len() - tail.len())
                .count();
            assert!(tail_findings >= 3, "{filler}: {:?}", wide[0]);
        }
    }

    /// Findings of a builtin engine over `texts`, each scanned as its own segment: the engine built with the
    /// kernels where the CPU has them, or (inside [`avx512::portable`]) the one built without.
    fn scan_all(texts: &[&str]) -> Vec<Vec<Finding>> {
        static PORTABLE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
        let engine = if avx512::Avx512::detect().is_some() {
            shared_builtin()
        } else {
            PORTABLE.get_or_init(|| Engine::builtin().unwrap())
        };
        texts.iter().map(|t| engine.scan(t)).collect()
    }

    /// The AVX-512 kernels (trigger filter, digit runs, anchor positions) and the portable code give the same
    /// findings: over the whole detector-vector file as one text, and line by line (texts shorter than a block, tails
    /// of every length). On a CPU without the kernels both sides are the portable code.
    #[test]
    fn avx512_and_portable_scans_agree() {
        let file = include_str!("../../tests/data/detect/vectors.toml");
        let mut texts: Vec<&str> = vec![file];
        texts.extend(file.lines());
        let wide = scan_all(&texts);
        let portable = avx512::portable(|| scan_all(&texts));
        assert!(wide[0].len() > 500, "{} findings", wide[0].len());
        for ((t, w), p) in texts.iter().zip(&wide).zip(&portable) {
            assert_eq!(w, p, "{t}");
        }
    }

    #[test]
    fn a_variable_named_after_the_keyword_is_no_value() {
        for (name, kw) in [
            ("dbPassword", "password"),
            ("DB_PASSWORD", "password"),
            ("userPassword", "Password"),
            ("myApiKey", "apiKey"),
            ("MY_API_KEY", "api_key"),
            ("db2Password", "password"),
            ("slack_token", "token"),
        ] {
            assert!(names_a(name.as_bytes(), kw.as_bytes()), "{name} / {kw}");
        }
        for (name, kw) in [
            ("password", "password"),
            ("_password", "password"),
            ("xpassword", "password"),
            ("Xk9password", "password"),
            ("hunter2", "password"),
            ("word", "password"),
            ("P4ssw0rd", "password"),
        ] {
            assert!(!names_a(name.as_bytes(), kw.as_bytes()), "{name} / {kw}");
        }
    }

    /// One builtin engine for the proptests (built once: a debug build takes a while), with the AVX-512 kernels when
    /// the CPU has them (never first called inside [`avx512::portable`]).
    fn shared_builtin() -> &'static Engine {
        static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
        ENGINE.get_or_init(|| Engine::builtin().unwrap())
    }

    /// The keyword hits of `text` as one overlapping aho-corasick search of the whole text reports them (no
    /// stretches, no extensions), with the same word-boundary rule for ASCII keywords.
    fn overlapping_reference(text: &str) -> Vec<(usize, usize, u16)> {
        let mut words = Vec::new();
        let mut groups = Vec::new();
        for (g, ws) in KEYWORDS {
            for w in *ws {
                words.push(fold_str(w));
                groups.push(*g as u16);
            }
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(AcMatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(&words)
            .unwrap();
        let b = text.as_bytes();
        let word = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_alphanumeric());
        let mut out: Vec<_> = ac
            .find_overlapping_iter(text)
            .filter(|m| {
                !(words[m.pattern().as_usize()].is_ascii()
                    && ((m.start() > 0 && word(m.start() - 1)) || (m.len() <= 3 && word(m.end()))))
            })
            .map(|m| (m.start(), m.end(), groups[m.pattern().as_usize()]))
            .collect();
        out.sort_unstable();
        out
    }

    /// A trigger literal cut from inside a word (`ustomer` for `Customer`/`customer`, `assword`, `급` of `Ⅱ급비밀`)
    /// starts no match itself, so only the starts before it are searched; a banner word that begins its marking
    /// (`SECRET`) or a literal a key's class may begin with (`Q~`) is still searched where it stands. The matches
    /// found through such a literal are unchanged.
    #[test]
    fn literals_inside_a_word_are_not_searched_where_they_stand() {
        let engine = Engine::builtin().unwrap();
        let re = engine.regex.as_ref().unwrap();
        // The embedded list is exactly what the union's DFA says (a literal without a back-offset is a start).
        let inside: Vec<&str> = TRIGGERS
            .iter()
            .filter(|t| t.1 > 0 && !re.may_start_with(t.0.as_bytes()))
            .map(|t| t.0)
            .collect();
        assert_eq!(
            inside, TRIGGERS_INSIDE_A_WORD,
            "update builtin::TRIGGERS_INSIDE_A_WORD"
        );
        let t = engine.triggers.as_ref().unwrap();
        let at = |lit: &str| t.at_trigger[TRIGGERS.iter().position(|x| x.0 == lit).unwrap()];
        for lit in ["ustomer", "assword", "급", "D BY", "egards,"] {
            assert!(!at(lit), "{lit}");
        }
        for lit in ["SECRET", "TOP ", "Q~", "AKIA"] {
            assert!(at(lit), "{lit}");
        }
        let kinds = |text: &str| -> Vec<String> {
            engine
                .scan(text)
                .iter()
                .map(|f| f.entity.to_string())
                .collect()
        };
        assert_eq!(kinds("Customer: John Smith"), ["PERSON"]);
        assert_eq!(kinds("password = 'Tr0ub4dor&3'"), ["SECRET_KEY"]);
        assert_eq!(kinds("문서 등급: Ⅱ급비밀"), ["CLASSIFICATION_MARKING"]);
        assert_eq!(kinds("SECRET//NOFORN"), ["CLASSIFICATION_MARKING"]);
    }

    /// [`is_custom_detector`] tells builtin from custom findings by the detector name's case.
    #[test]
    fn builtin_detector_names_are_not_custom_ids() {
        let engine = Engine::builtin().unwrap();
        let names: Vec<&str> = engine.detector_names().collect();
        assert!(names.len() > 20);
        for name in names {
            assert!(!is_custom_detector(name), "{name}");
        }
        assert!(is_custom_detector("ACME_ID_2"));
    }

    const PIECES: &[&str] = &[
        "주민등록",
        "주민",
        "번호",
        "외국인",
        "등록",
        "휴대전화",
        "전화",
        "핸드폰",
        "고객센터",
        "tel",
        "TEL",
        "Tel",
        "phone",
        "hotel",
        "cell",
        "call",
        "card",
        "계좌",
        "카드",
        "신용",
        "x",
        "1",
        " ",
        "-",
        "_",
        "\n",
        "는",
        "ø",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random mixes of anchors (`@`, `%40`, `:`, `(`), digit runs and trigger words: the same findings with the
        /// AVX-512 kernels and with the portable code.
        #[test]
        fn avx512_and_portable_scans_agree_on_mixes(
            parts in proptest::collection::vec(
                proptest::sample::select(&[
                    "kim.minsu@naver.com", "a%40b.co", "fe80::1", "2001:db8::ff00:42:8329", "수령인: 윤채원",
                    "auth = ('admin', 'hunter22')", "HTTPBasicAuth('u', 'pw123456')", "(02) 123-4567",
                    "900101-1234567", "+82 10-2345-6789", "고객 김철수님", " ", "\n", "가나다 ", "x:y", "@", "(",
                    "SECRET//NOFORN", "4532 0151 1283 0366", "password=Tr0ub4dor&3x", ":", "%",
                    // Folded characters and escapes (the anchor pass lists their lead bytes), PEM armour's dashes.
                    "９００１０１－１２３４５６７", "\u{a0}", "Ⅱ급비밀", "\\uc8fc\\ubbfc", "\\\\", "\u{3000}",
                    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n",
                    "-----END RSA PRIVATE KEY-----", "--", "-----", "------BEGIN",
                ][..]),
                0..40,
            ),
        ) {
            let text: String = parts.concat();
            let wide = scan_all(&[&text]);
            let portable = avx512::portable(|| scan_all(&[&text]));
            prop_assert_eq!(wide, portable);
        }

        /// [`DigitRuns`] (SIMD class masks per 64-byte block, a carry between blocks, a zero-padded tail) yields the
        /// positions of the scalar definition, at any length (not only multiples of 16 or 64) and for any bytes.
        #[test]
        fn digit_runs_equal_the_scalar_definition(
            text in proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    proptest::sample::select(&b"0123456789+(/:*) "[..]),
                ],
                0..300,
            ),
        ) {
            let want: Vec<usize> = (0..text.len())
                .filter(|&i| {
                    let c = text[i];
                    c == b'+' || c == b'(' || (c.is_ascii_digit() && (i == 0 || !text[i - 1].is_ascii_digit()))
                })
                .collect();
            prop_assert_eq!(&DigitRuns::new(&text).collect::<Vec<_>>(), &want);
            // The portable path too, on a machine whose CPU takes the AVX-512 one.
            let mut portable = DigitRuns::new(&text);
            portable.cpu = None;
            prop_assert_eq!(portable.collect::<Vec<_>>(), want);
        }

        /// [`resolve_overlaps`] (sorted keys, survivors moved once) keeps the same findings in the same order as the
        /// stable sort of the findings themselves and the in-place sweep it replaced, equal spans and scores included.
        #[test]
        fn resolve_overlaps_equals_the_stable_sort_sweep(
            spans in proptest::collection::vec((0usize..40, 1usize..12, 0u8..4), 0..60),
            first in 0usize..3,
        ) {
            let mk = |i: usize, &(s, l, q): &(usize, usize, u8)| Finding {
                entity: Entity::KrRrn,
                start: s,
                end: s + l,
                score: f32::from(q) / 4.0,
                detector: Arc::from(format!("d{i}")),
            };
            let all: Vec<Finding> = spans.iter().enumerate().map(|(i, x)| mk(i, x)).collect();
            let first = first.min(all.len());
            let mut got = all.clone();
            resolve_overlaps(&mut got, first);
            // The previous implementation.
            let mut want = all;
            if want.len() - first >= 2 {
                want[first..].sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
                let mut w = first;
                for r in first..want.len() {
                    if w > first {
                        let (last, cur) = (&want[w - 1], &want[r]);
                        if cur.start < last.end {
                            let better = cur.score > last.score
                                || (cur.score == last.score
                                    && (cur.end - cur.start) > (last.end - last.start));
                            if better {
                                want.swap(w - 1, r);
                            }
                            continue;
                        }
                    }
                    want.swap(w, r);
                    w += 1;
                }
                want.truncate(w);
            }
            let key = |f: &Finding| (f.start, f.end, f.score.to_bits(), f.detector.to_string());
            prop_assert_eq!(got.iter().map(key).collect::<Vec<_>>(), want.iter().map(key).collect::<Vec<_>>());
        }

        /// [`version_suffix_before`] (from each `v`/`V`) answers as a search for `ersion` over the line before the
        /// address does, at every position of texts made of the pieces that matter (line breaks, the 64-byte look
        /// back, `V` right before it).
        #[test]
        fn version_suffix_before_finds_what_a_substring_search_finds(
            parts in proptest::collection::vec(proptest::sample::select(&[
                "Version", "version", "VERSION", "ersion", "v", "V", "File", "x", "1", " ", "\n", "(", "1.0.0.1",
                "AssemblyVersion(\"", "ersio", "-",
            ][..]), 0..40),
        ) {
            let text = parts.concat();
            let b = text.as_bytes();
            for s in 0..=b.len() {
                let from = s.saturating_sub(CONTEXT_BEFORE);
                let line = b[from..s].iter().rposition(|&c| c == b'\n').map_or(from, |i| from + i + 1);
                let want = memchr::memmem::find_iter(&b[line..s], b"ersion").any(|i| {
                    let at = line + i;
                    at >= 2 && matches!(b[at - 1], b'V' | b'v') && b[at - 2].is_ascii_alphanumeric()
                });
                prop_assert_eq!(version_suffix_before(b, s), want, "at {} of {:?}", s, text);
            }
        }

        /// The keyword stretch of [`Engine::keyword_hits`], scanned in two extensions (the second may start inside a
        /// keyword), holds exactly what one overlapping search of the whole text finds: nothing lost at the seam,
        /// nothing recorded twice.
        #[test]
        fn keyword_hits_equal_an_overlapping_search(
            parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..40),
            cut in 0usize..400,
        ) {
            let text = parts.concat();
            let engine = shared_builtin();
            let b = text.as_bytes();
            let mut cut = cut.min(b.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let mut ctx = Context::default();
            engine.keyword_hits(b, 0, cut, &mut ctx);
            engine.keyword_hits(b, 0, b.len(), &mut ctx);
            let mut got = ctx.hits.clone();
            got.sort_unstable();
            prop_assert_eq!(got, overlapping_reference(&text));
        }

        /// Windows that keep extending the stretch, each extension long enough or not for two chains
        /// ([`Engine::keyword_walk_two`]): the hits stay sorted by end and are exactly those of one overlapping
        /// search (none lost or doubled where the second chain takes over).
        #[test]
        fn extended_stretches_equal_an_overlapping_search(
            parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..160),
            step in 1usize..120,
        ) {
            let text = parts.concat();
            let engine = shared_builtin();
            let b = text.as_bytes();
            let mut ctx = Context::default();
            let mut we = 0;
            while we < b.len() {
                we = (we + step).min(b.len());
                while !text.is_char_boundary(we) {
                    we += 1;
                }
                engine.keyword_hits(b, 0, we, &mut ctx);
                prop_assert!(ctx.hits.windows(2).all(|w| w[0].1 <= w[1].1), "hits out of order of end");
            }
            let mut got = ctx.hits.clone();
            got.sort_unstable();
            prop_assert_eq!(got, overlapping_reference(&text));
        }
    }
}
