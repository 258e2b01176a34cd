//! The pattern engine: builtin detectors, validators, context scoring, one-pass multi-pattern scanning.
//!
//! Must never: do I/O, depend on other modules of this crate, allocate per match on the hot path, or log matched text
//! (errors and `Debug` of the engine carry detector ids and counts only).
//!
//! # Shape
//! [`Engine::new`] compiles a [`DetectConfig`] (builtin selection + custom detectors) into:
//! * one regex-automata union holding every regex detector as a separate pattern (leftmost-first, pattern
//!   order = priority), searched with a lazy DFA whose cache is sized for the whole union (a `meta::Regex` when custom
//!   regexes make the union searched unanchored; else only the forward NFA, its lazy DFA and a PikeVM fallback, since
//!   the union is then searched anchored at the trigger pass's candidates only: see `engine/union.rs`); all builtin patterns use
//!   explicit ASCII classes, never Unicode `\b`/`\w`/`\d`, so Korean text never pushes the search to a slow engine;
//! * aho-corasick automata for custom dictionaries (one case-sensitive, one ASCII-case-insensitive; a DFA without
//!   prefilter while the terms total at most 256 KiB, a contiguous NFA above that);
//! * one aho-corasick DFA of all context keywords, run only over the window around a candidate.
//!
//! [`Engine::scan`] does not run the union over every byte: candidate starts come from ONE literal pass (a lazy DFA
//! over the ASCII and Hangul triggers plus the honorifics of the Korean-name scanner; Teddy was slower on Korean text,
//! where Hangul fingerprints collide) and a SIMD scan for digit runs, `+` and `(`, and the union is searched
//! anchored at those starts (with custom regexes compiled in, it runs unanchored over the whole text instead). Before
//! a digit run only bytes that can begin a pattern are tried, and the run itself only when it is number-shaped (≥ 4
//! digits in ≥ 7 bytes of digits and `-. ()`), so prose numbers (`2024년`, `15%`) cost no regex search. See
//! `benches/detect.md` for measurements. E-mail (around `@`), IPv6 (around `:`) and Korean names before an
//! honorific are found by small code scanners, because their regexes would start with a broad class. Each candidate gets an explicit boundary check
//! (numbers must not touch other digits, but Hangul may touch them: `900101-1234567입니다` matches,
//! `1900101-12345678` does not), its validator (checksums, date validity, IP parse…), context scoring and its
//! threshold. When a candidate is rejected, lower-priority patterns that can start with the same byte are tried
//! anchored at the same start, so a failed checksum never hides another detector.
//!
//! # Scores
//! A pattern has a base score; validators raise it, re-classify it or drop the candidate (RRN/FRN checksum pass
//! raises, a fail keeps the match because numbers issued since October 2020 have random trailing digits; BRN, CRN,
//! Luhn, IBAN, SSN rules and IP parsing drop). Context keywords in a window of [`CONTEXT_BEFORE`] bytes before and
//! [`CONTEXT_AFTER`] bytes after (cut at a blank line) add or subtract; when an entity's rules both raise and lower,
//! its label — the nearest of their keywords before the match on its line, or its table column's header — takes
//! sides and the keywords pulling the other way are ignored (`SSN: 512-48-7391, version 2` keeps the SSN keyword's
//! lift; `Part no. 876-79-8770` below an SSN line does not get it). Korean keywords match as substrings
//! (`주민등록번호는`); ASCII keywords need a word start. A finding is reported when its score reaches the threshold
//! (0.5 by default, per entity configurable).
//!
//! # Builtin selection
//! `enabled`, `disabled` and `thresholds` name entities and act per entity, although one builtin detector may report
//! several (the 13-digit number: `KR_RRN`, `KR_FRN` or `KR_CRN`; a context-gated number: `KR_BANK_ACCOUNT` or
//! `KR_HEALTH_INSURANCE`). Every builtin detector runs whatever the selection; a finding of a left-out entity, or one
//! that reaches the default threshold but not its entity's raised threshold, still settles overlaps with the other
//! builtin findings and is dropped afterwards, so the findings of any selection are exactly those of all builtins
//! minus the left-out ones (an RRN-shaped number with `KR_RRN` disabled is not re-reported as a CRN, a BRN with
//! `KR_BRN` disabled not as a bank account). Custom findings settle overlaps only against the builtin findings that
//! are kept, so a custom detector standing in for a disabled builtin is not hidden by it. A threshold lowered below
//! the default admits more candidates, which claim their spans like any finding.
//!
//! # Overlaps
//! Regex findings never overlap (leftmost-first, non-overlapping). 13-digit `YYMMDD-NNNNNNN` numbers are resolved by
//! rule: corporate context (`법인`) + valid 법인등록번호 checksum → `KR_CRN`; else a valid date with 7th digit 1–4/9/0
//! → `KR_RRN`, 5–8 → `KR_FRN`; else a valid CRN checksum → `KR_CRN`; else dropped. Between regex and dictionary
//! findings: the higher score wins, then the longer span, then the earlier detector (builtin, custom regex,
//! dictionary).
//!
//! # Normalisation
//! Full-width forms, odd spaces, dashes and zero-width characters are folded (see `normalize.rs` for the exact set)
//! into a scratch copy only when the text contains one; offsets are mapped back, so every finding points into the
//! ORIGINAL text on char boundaries.
//!
//! # Custom detectors (policy TOML)
//! ```toml
//! [builtins]
//! disabled = ["PERSON"]              # or enabled = ["KR_RRN", "EMAIL"]
//! thresholds = { KR_PASSPORT = 0.7 }
//!
//! [[detectors]]
//! id = "ACME_EMPLOYEE_ID"            # A-Z 0-9 _, unique, not a builtin entity id; the entity unless `entity` is set
//! # entity = "PERSON"                # report under a builtin (or another custom) entity; A-Z 0-9 _
//! pattern = '(?-u:\b)EMP-[0-9]{6}(?-u:\b)'   # regex (size-limited; no boundary is added), or:
//! context = ["사번", "employee"]     # optional, no blank words; +context_score when present
//! context_required = false
//! validator = "none"                 # none | luhn | iban | kr_rrn | kr_brn | kr_crn | us_ssn | ipv4 | ipv6
//! score = 0.6                        # base score
//! context_score = 0.3
//! threshold = 0.5
//!
//! [[detectors]]
//! id = "PROJECT_CODENAME"
//! terms = ["해태 프로젝트", "Project Haetae"]   # dictionary, inline and/or
//! terms_file = "codenames.txt"       # one term per line, resolved by the caller (see CustomDetectorSpec)
//! case_insensitive = true
//! ```
//! A custom regex matches exactly what it says (no boundary check is added, unlike builtins): write `(?-u:\b)` (an
//! ASCII word boundary; the Unicode `\b` is slow on Korean text) where the id must not continue. A dictionary term
//! must not touch an ASCII letter or digit, but may touch Hangul on either side (particles attach: `해태 프로젝트의`),
//! so a short Korean term also matches inside a longer word (`정원` in `공정원칙`). Refused: a custom id equal to a
//! builtin entity id or another detector's, blank context words, a configuration that detects nothing
//! ([`DetectError::NothingToDetect`]). Compiled but warned about ([`DetectConfig::warnings`]): a custom entity within
//! two edits of a builtin id (`CREDIT_CRAD`) or in its `KR_` namespace.
//! See `policies/custom-detectors.example.toml`.

mod builtin;
mod classify;
mod config;
mod engine;
mod entity;
mod normalize;
pub mod validate;

use std::sync::Arc;

pub use classify::{classify, marking_level, Classification, Level};
pub use config::{BuiltinSelection, CustomDetectorSpec, DetectConfig, ValidatorKind};
pub use engine::{
    trigger_filter, trigger_filter_agrees, Deadline, Engine, Scratch, CONTEXT_AFTER,
    CONTEXT_BEFORE, CUSTOM_REGEX_SIZE_LIMIT, MAX_DICTIONARY_TERMS, PORTABLE_ENV,
};
pub use entity::{Entity, BUILTIN_ENTITIES};

/// One detected span. Offsets are UTF-8 byte offsets into the original text, always on char boundaries.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What was found.
    pub entity: Entity,
    /// Start byte offset (inclusive).
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
    /// Confidence in `0.0..=1.0`, already at or above the detector's threshold.
    pub score: f32,
    /// Detector id (`kr_rrn`, `secret.aws`, a custom detector's id…).
    pub detector: Arc<str>,
}

/// Errors building an engine. Messages name the detector, never matched text.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A regex does not parse.
    #[error("detector {detector}: invalid pattern: {message}")]
    InvalidPattern {
        /// Detector id.
        detector: String,
        /// Parser message.
        message: String,
    },
    /// A regex compiles beyond the size limit.
    #[error("detector {detector}: pattern too big (compiled size limit {limit} bytes)")]
    PatternTooBig {
        /// Detector id.
        detector: String,
        /// The limit.
        limit: usize,
    },
    /// A dictionary holds too many terms.
    #[error("detector {detector}: {count} dictionary terms exceed the limit of {limit}")]
    TooManyTerms {
        /// Detector id.
        detector: String,
        /// Terms given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// `terms_file` was not loaded by the caller before building.
    #[error("detector {detector}: terms_file was not resolved (the caller must load it)")]
    UnresolvedTermsFile {
        /// Detector id.
        detector: String,
    },
    /// An entity id in the builtin selection is unknown.
    #[error("unknown builtin entity {0:?}")]
    UnknownBuiltin(String),
    /// A custom detector spec is inconsistent.
    #[error("detector {detector}: {reason}")]
    InvalidSpec {
        /// Detector id.
        detector: String,
        /// What is wrong.
        reason: String,
    },
    /// The configuration reports nothing: no builtin entity is enabled and there is no custom detector.
    #[error(
        "the configuration detects nothing: no builtin entity is enabled (`enabled = []`, or every one disabled) \
         and there are no custom detectors"
    )]
    NothingToDetect,
    /// Compiling the combined automaton failed.
    #[error("compiling the detector union failed: {0}")]
    Build(String),
    /// A scan with a deadline ([`Engine::scan_segment_until`]) ran out of time; its findings are incomplete.
    #[error("the scan did not finish before its deadline")]
    DeadlineExceeded,
}

/// The builtin detectors as `(detector id, regex source)`: the patterns of the union in priority order, followed by
/// regex equivalents of the code scanners (e-mail, IPv6, Korean name before an honorific). For baselines and tooling
/// (the bench runs each of them separately with the `regex` crate); the engine compiles the former together.
pub fn builtin_pattern_sources() -> Vec<(&'static str, String)> {
    builtin::patterns()
        .into_iter()
        .map(|p| (p.detector, p.regex.into_owned()))
        .chain(
            builtin::scanner_equivalents()
                .into_iter()
                .map(|(d, r)| (d, r.to_owned())),
        )
        .collect()
}

/// The literals of the builtin engine's trigger pass (the trigger table, then the honorifics of the Korean-name
/// scanner), in the order the engine gives them priority: for benchmarks that compare literal searchers on the same
/// set (`HAETAE_BENCH_LOOP=literals`).
pub fn trigger_literals() -> Vec<&'static str> {
    builtin::TRIGGERS
        .iter()
        .map(|t| t.0)
        .chain(builtin::PERSON_SUFFIXES.iter().copied())
        .collect()
}
