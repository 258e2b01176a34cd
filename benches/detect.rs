//! Detection engine throughput: the compiled one-pass engine vs. the `regex` crate running every builtin pattern
//! separately (the Presidio-style baseline), on generated mixed Korean/English prose.
//!
//! Corpus sizes: `HAETAE_BENCH_MB` (default 50) MB of clean prose with sparse PII, the same prose with an em dash
//! closing every 20th sentence (`web`: typographic punctuation, as pasted from a web page, sends the text through
//! normalisation), and a dense corpus of a fifth of that size (at least 1 MB). Run: `cargo bench --bench detect` (quick: `HAETAE_BENCH_MB=5 cargo bench --bench detect`).
//! Prints a summary table with MB/s and the engine/baseline ratio measured in the same run; criterion keeps its own
//! statistics under `target/criterion`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use haetae::detect::{builtin_pattern_sources, CustomDetectorSpec, DetectConfig, Engine};

/// Hyperscan baseline (`--features hyperscan-baseline`, needs the system `libhyperscan-dev`): the same builtin
/// pattern sources as the `regex` baseline, compiled into one block-mode database. Each pattern is compiled with
/// `UTF8 | SOM_LEFTMOST` when Hyperscan accepts that (start offsets, as the engine reports), else with `UTF8` only;
/// patterns it rejects are listed. Hyperscan reports every match end (overlapping), so its match count is a raw count,
/// not a finding count.
#[cfg(feature = "hyperscan-baseline")]
mod hs_baseline {
    use std::time::{Duration, Instant};

    use hyperscan::prelude::*;

    pub struct Baseline {
        db: BlockDatabase,
        scratch: Scratch,
        pub accepted: usize,
        pub without_som: Vec<&'static str>,
        pub rejected: Vec<(&'static str, String)>,
        pub compile: Duration,
    }

    fn pattern(src: &str, flags: CompileFlags, id: usize) -> Pattern {
        let mut p = Pattern::with_flags(src, flags).unwrap();
        p.id = Some(id);
        p
    }

    pub fn build(sources: &[(&'static str, String)]) -> Baseline {
        let mut pats = Vec::new();
        let mut without_som = Vec::new();
        let mut rejected = Vec::new();
        // `HAETAE_HS_SOM=0`: end offsets only (cheaper for Hyperscan; the engine reports start offsets).
        let want_som = std::env::var("HAETAE_HS_SOM").map_or(true, |v| v != "0");
        for (i, (name, src)) in sources.iter().enumerate() {
            let som = pattern(src, CompileFlags::UTF8 | CompileFlags::SOM_LEFTMOST, i);
            if want_som && Builder::build::<hyperscan::BlockMode>(&som).is_ok() {
                pats.push(som);
                continue;
            }
            let plain = pattern(src, CompileFlags::UTF8, i);
            match Builder::build::<hyperscan::BlockMode>(&plain) {
                Ok(_) => {
                    without_som.push(*name);
                    pats.push(plain);
                }
                Err(e) => rejected.push((*name, e.to_string())),
            }
        }
        let accepted = pats.len();
        let t = Instant::now();
        let db: BlockDatabase = Patterns(pats).build().unwrap();
        let compile = t.elapsed();
        let scratch = db.alloc_scratch().unwrap();
        Baseline {
            db,
            scratch,
            accepted,
            without_som,
            rejected,
            compile,
        }
    }

    impl Baseline {
        /// Number of raw matches (every reported end offset of every pattern).
        pub fn count(&self, text: &str) -> usize {
            let mut n = 0usize;
            self.db
                .scan(text, &self.scratch, |_, _, _, _| {
                    n += 1;
                    Matching::Continue
                })
                .unwrap();
            n
        }
    }
}

#[path = "support/detect_corpus.rs"]
mod detect_corpus;
use detect_corpus::{corpus, dictionary, names};

fn dictionary_config(terms: &[String]) -> DetectConfig {
    let spec: CustomDetectorSpec =
        toml::from_str(&format!("id = \"CODENAME\"\nterms = {:?}\n", terms)).unwrap();
    DetectConfig {
        detectors: vec![spec],
        ..DetectConfig::default()
    }
}

fn engine_with_dictionary(terms: &[String]) -> Engine {
    Engine::new(&dictionary_config(terms)).unwrap()
}

/// `HAETAE_BENCH_LOOP=million`: a dictionary of 1,000,000 terms (the most one detector may hold) and one of 100,000
/// names (too many prefixes to merge into the trigger pass): compile time, engine memory and throughput on the clean
/// corpus, next to the 10,000-term engine and the builtins alone measured in the same run.
fn million_report(clean: &str, small_terms: &[String]) {
    let config = dictionary_config(&dictionary(1_000_000));
    let t = Instant::now();
    let big = Engine::new(&config).unwrap();
    let compile_big = t.elapsed();
    let t = Instant::now();
    let small = engine_with_dictionary(small_terms);
    let compile_small = t.elapsed();
    let mb = clean.len() as f64 / 1e6;
    let rate = |engine: &Engine| {
        let mut scratch = engine.scratch();
        let mut out = Vec::new();
        let (d, n) = best_of(3, || {
            engine.scan_into(clean, &mut scratch, &mut out);
            out.len()
        });
        (mb / d.as_secs_f64(), n)
    };
    let t = Instant::now();
    let staff = engine_with_dictionary(&names(100_000));
    let compile_staff = t.elapsed();
    let builtin = Engine::builtin().unwrap();
    let (big_rate, big_n) = rate(&big);
    let (small_rate, small_n) = rate(&small);
    let (staff_rate, staff_n) = rate(&staff);
    let (builtin_rate, builtin_n) = rate(&builtin);
    println!("dictionary size (clean corpus, {mb:.0} MB, builtins + one dictionary detector):");
    for (name, compile, engine, (r, n)) in [
        ("1,000,000 terms", compile_big, &big, (big_rate, big_n)),
        ("10,000 terms", compile_small, &small, (small_rate, small_n)),
        // Too many prefixes to merge: searched on its own, where its prefix filter passes.
        (
            "100,000 names",
            compile_staff,
            &staff,
            (staff_rate, staff_n),
        ),
        (
            "none (builtins)",
            Duration::ZERO,
            &builtin,
            (builtin_rate, builtin_n),
        ),
    ] {
        println!(
            "  {name:<16} compile {:>8.1} ms  engine {:>6.1} MiB  {r:>7.1} MB/s  {n} findings",
            compile.as_secs_f64() * 1e3,
            engine.memory_usage() as f64 / 1048576.0
        );
    }
    println!(
        "  ratio 1M / 10k: {:.2}× the throughput; 100,000 names / builtins alone: {:.2}×",
        big_rate / small_rate,
        staff_rate / builtin_rate
    );
}

fn best_of<F: FnMut() -> usize>(n: usize, mut f: F) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut count = 0;
    for _ in 0..n {
        let t = Instant::now();
        count = black_box(f());
        best = best.min(t.elapsed());
    }
    (best, count)
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// Profiling mode's loop: `scan` over `text` `reps` times, then the fastest repetition's MB/s (interference on a
/// shared machine only ever slows a repetition down, so the best is the steadier figure), the mean's, and the summed
/// count (`unit`: what it counts). `benches/ab_detect.sh` reads the number after the last `: `.
fn profile_loop(
    what: &str,
    text: &str,
    reps: usize,
    unit: &str,
    mut scan: impl FnMut(&str) -> usize,
) {
    let all = Instant::now();
    let mut best = Duration::MAX;
    let mut n = 0;
    for _ in 0..reps {
        let t = Instant::now();
        n += scan(black_box(text));
        best = best.min(t.elapsed());
    }
    println!(
        "{what}: {:.1} MB x {reps}, mean {:.1} MB/s, best rep: {:.1} MB/s ({n} {unit})",
        text.len() as f64 / 1e6,
        mbps(text.len() * reps, all.elapsed()),
        mbps(text.len(), best)
    );
}

/// Best of nine timed runs of `scan` over `text`, in MB/s, and what the last run returned.
fn best_of_nine(text: &str, mut scan: impl FnMut(&str) -> usize) -> (f64, usize) {
    let mut best = 0.0f64;
    let mut n = 0;
    for _ in 0..9 {
        let t = Instant::now();
        n = scan(black_box(text));
        best = best.max(mbps(text.len(), t.elapsed()));
    }
    (best, n)
}

/// `HAETAE_BENCH_LOOP=literals`: literal searchers alone over the trigger pass's literal set
/// ([`haetae::detect::trigger_literals`]), on each corpus: the engine's shift-or filter and the lazy DFA it falls back
/// to (engines merging many or case-insensitive dictionary prefixes), aho-corasick (its default
/// build, which picks Teddy where it can, and its DFA without a prefilter), Hyperscan's literal compiler when the
/// `hyperscan-baseline` feature is on, and `memchr` for a byte that never occurs (the memory-bandwidth ceiling).
/// This bounds what any literal searcher reaches on this text, whatever the engine does at the candidates.
fn literal_report(corpora: &[(&str, &str)]) {
    use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind as AcKind};
    use regex_automata::{hybrid, Input, MatchKind};
    let lits = haetae::detect::trigger_literals();
    let shift_or = haetae::detect::trigger_filter().unwrap();
    let escaped: Vec<String> = lits.iter().map(|l| regex_syntax::escape(l)).collect();
    let dfa = hybrid::dfa::DFA::builder()
        .configure(hybrid::dfa::DFA::config().match_kind(MatchKind::LeftmostFirst))
        .build_many(&escaped)
        .unwrap();
    let mut cache = dfa.create_cache();
    let ac_default = AhoCorasick::builder()
        .match_kind(AcKind::LeftmostFirst)
        .build(&lits)
        .unwrap();
    let ac_dfa = AhoCorasick::builder()
        .match_kind(AcKind::LeftmostFirst)
        .kind(Some(AhoCorasickKind::DFA))
        .prefilter(false)
        .build(&lits)
        .unwrap();
    #[cfg(feature = "hyperscan-baseline")]
    let hs = {
        use hyperscan::prelude::*;
        let set: hyperscan::Literals = lits
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut lit = hyperscan::Literal::new(*l).unwrap();
                lit.id = Some(i);
                lit
            })
            .collect();
        let db: BlockDatabase = set.build().unwrap();
        let scratch = db.alloc_scratch().unwrap();
        (db, scratch)
    };
    println!(
        "literal searchers over the {} trigger-pass literals (best of 9):",
        lits.len()
    );
    for (name, text) in corpora {
        let mut rows: Vec<(&str, (f64, usize))> = vec![
            (
                "lazy DFA (fallback)",
                best_of_nine(text, |t| {
                    let (mut at, mut n) = (0, 0);
                    while let Ok(Some(m)) =
                        dfa.try_search_fwd(&mut cache, &Input::new(t).range(at..))
                    {
                        n += 1;
                        at = m.offset();
                    }
                    n
                }),
            ),
            (
                "aho-corasick default",
                best_of_nine(text, |t| ac_default.find_iter(t).count()),
            ),
            (
                "aho-corasick DFA",
                best_of_nine(text, |t| ac_dfa.find_iter(t).count()),
            ),
        ];
        #[cfg(feature = "hyperscan-baseline")]
        rows.push((
            "hyperscan literals",
            best_of_nine(text, |t| {
                let mut n = 0usize;
                hs.0.scan(t, &hs.1, |_, _, _, _| {
                    n += 1;
                    hyperscan::Matching::Continue
                })
                .unwrap();
                n
            }),
        ));
        let mut cands = 0;
        rows.push((
            "shift-or (engine)",
            best_of_nine(text, |t| {
                let (n, c) = shift_or(t);
                cands = c;
                n
            }),
        ));
        println!("  {name:<6} shift-or: {cands} bucket candidates verified");
        rows.push((
            "memchr (absent byte)",
            best_of_nine(text, |t| memchr::memchr_iter(0x01, t.as_bytes()).count()),
        ));
        for (what, (mb, n)) in rows {
            println!("  {name:<6} {what:<22} {mb:>8.1} MB/s  ({n} matches)");
        }
        // Which literals the text is made of: the hits that each cost the engine a confirmation.
        let mut per = vec![0usize; lits.len()];
        for m in ac_default.find_iter(*text) {
            per[m.pattern().as_usize()] += 1;
        }
        let mut top: Vec<(usize, &str)> = per.iter().copied().zip(lits.iter().copied()).collect();
        top.sort_by_key(|t| std::cmp::Reverse(t.0));
        let top: Vec<String> = top
            .iter()
            .take(12)
            .map(|(n, l)| format!("{l:?} {n}"))
            .collect();
        println!("  {name:<6} most frequent: {}", top.join(", "));
    }
}

/// The clean corpus as pasted from a web page or a word processor: every 20th sentence ends in an em dash (`U+2014`,
/// which the engine folds to `-`) instead of a full stop, so the text goes through normalisation.
fn with_dashes(clean: &str) -> String {
    let mut out = String::with_capacity(clean.len() + clean.len() / 200);
    for (i, sentence) in clean.split_inclusive(". ").enumerate() {
        match sentence.strip_suffix(". ") {
            Some(body) if i % 20 == 19 => {
                out.push_str(body);
                out.push_str(" \u{2014} ");
            }
            _ => out.push_str(sentence),
        }
    }
    out
}

/// Hostile shapes (`tests/detect_hostile.rs`): a unit repeated, then a tail that makes the long match fail or be
/// rejected. Each is scanned at two sizes: a per-byte cost that stays flat (ratio ≈ 1) is linear; a quadratic path
/// shows as a ratio near 1/4.
const HOSTILE: &[(&str, &str, &str)] = &[
    ("pem headers", "-----BEGIN PRIVATE KEY-----\n", ""),
    ("eyJ…", "eyJ", "é"),
    ("eyJ-…", "eyJ-", "é"),
    ("xsk-…", "xsk-", ""),
    ("xoxb-…_", "xoxb-xoxb-", "_"),
    ("SECRET//…a", "SECRET//", "a"),
    ("CUI//…a", "CUI//", "a"),
    ("SECRET line", "SECRET ", ""),
    ("password=****", "password=********", ""),
    ("phones", "010-2345-6789 ", ""),
    ("digits-dash", "1-", ""),
    ("table labels, one line", "| 성명 | 김철 ", ""),
    (
        "table headers",
        "| 성명 | 이름 | 성함 |\n|---|---|---|\n| 김철수 | 이영희 | 박민수 |\n",
        "",
    ),
    ("csv header, one line", "\"Name\",", ""),
    ("csv tables", "번호,성명,Name\n1,김철수,Li Wu\n", ""),
    ("auth = ('…", "auth = ('", ""),
    ("Auth('u', …", "HTTPBasicAuth('u', ", ""),
    ("key/value rows", "Name,John Smith\n", ""),
    ("name part rows", "First Name,Li\nLast Name,Wu\n", ""),
    ("name part header, one line", "First Name,Last Name,", ""),
    ("colon labels", "받는 사람: 김받는 사람: ", ""),
    ("mixed-case banners", "top Secret//NOFORN-", "a"),
    // Each banner's list ends at the number after it, inside a match that runs to the line's end.
    ("banners, numbers", "SECRET//NOFORN 1 ", ""),
    ("escaped Hangul", "\\uacc4\\uc88c ", ""),
    ("escaped NBSP between letters", "\\u00a0a", ""),
];

fn hostile_report(engine: &Engine, what: &str) {
    let mut scratch = engine.scratch();
    let mut out = Vec::new();
    println!(
        "hostile input ({what}): MB/s at 20 KB and 80 KB, ratio 80/20 (≈ 1 linear, ≈ 0.25 quadratic); 16 MiB \
         against a {} ms deadline (timeouts.inspection_ms): time to give up",
        HOSTILE_DEADLINE.as_millis()
    );
    for (name, unit, tail) in HOSTILE {
        let rate = |n: usize, scratch: &mut haetae::detect::Scratch, out: &mut Vec<_>| {
            let text = format!("{}{tail}", unit.repeat(n / unit.len()));
            let (t, _) = best_of(3, || {
                engine.scan_into(&text, scratch, out);
                out.len()
            });
            mbps(text.len(), t)
        };
        let small = rate(20_000, &mut scratch, &mut out);
        let large = rate(80_000, &mut scratch, &mut out);
        // The gateway's largest body, scanned with a deadline: how long until the scan stops (or finishes).
        let huge = format!("{}{tail}", unit.repeat((16 << 20) / unit.len()));
        out.clear();
        let t = Instant::now();
        let r = engine.scan_segment_until(&huge, 0, &mut scratch, &mut out, t + HOSTILE_DEADLINE);
        let took = t.elapsed();
        println!(
            "  {name:<16} {small:>8.1} {large:>8.1} MB/s  ratio {:.2}   16 MiB: {} after {:.1} ms",
            large / small,
            if r.is_err() { "stopped" } else { "finished" },
            took.as_secs_f64() * 1e3
        );
    }
}

/// Deadline of the 16 MiB hostile scans.
const HOSTILE_DEADLINE: Duration = Duration::from_millis(50);

fn main() {
    // A profile of your own text (`file-…`) does not wait for the generated corpora.
    let own_file = std::env::var("HAETAE_BENCH_LOOP").is_ok_and(|l| l.starts_with("file-"));
    let mb: usize = std::env::var("HAETAE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|_| !own_file)
        .unwrap_or(if own_file { 0 } else { 50 });
    let terms = dictionary(10_000);
    let clean = corpus(mb * 1_000_000, 4_000, 1, &terms);
    let dense = corpus((mb / 5).max(1) * 1_000_000, 60, 2, &terms);
    let web = with_dashes(&clean);
    // `HAETAE_BENCH_DUMP=DIR` writes the corpora there (to profile `haetae scan` on them, or to edit one and scan it
    // back with `HAETAE_BENCH_LOOP=file-…`).
    if let Ok(dir) = std::env::var("HAETAE_BENCH_DUMP") {
        for (name, text) in [("clean", &clean), ("dense", &dense), ("web", &web)] {
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.txt")), text).unwrap();
        }
    }

    // `HAETAE_BENCH_LOOP=hostile`: the hostile-input table only; `million`: the 1,000,000-term dictionary report.
    // Profiling mode: `HAETAE_BENCH_LOOP=<clean|web|dense|file>-<builtin|dict>[:reps]` scans one corpus with one engine and
    // exits, so `perf record` / `valgrind --tool=callgrind` see only the engine (instructions per byte).
    if let Ok(spec) = std::env::var("HAETAE_BENCH_LOOP") {
        if spec == "hostile" {
            hostile_reports();
            return;
        }
        if spec == "million" {
            million_report(&clean, &terms);
            return;
        }
        if spec == "literals" {
            literal_report(&[("clean", &clean), ("dense", &dense)]);
            return;
        }
        let (what, reps) = spec.split_once(':').unwrap_or((spec.as_str(), "1"));
        let reps: usize = reps.parse().unwrap();
        let (corp, eng) = what.split_once('-').unwrap();
        // `file` scans the text of `HAETAE_BENCH_FILE` (a sample of your own traffic, or a single construct
        // repeated to price it alone).
        let own = if corp == "file" {
            std::fs::read_to_string(std::env::var("HAETAE_BENCH_FILE").unwrap()).unwrap()
        } else {
            String::new()
        };
        let text = match corp {
            "file" => &own,
            "dense" => &dense,
            "web" => &web,
            _ => &clean,
        };
        #[cfg(feature = "hyperscan-baseline")]
        if eng == "hs" {
            let hs = hs_baseline::build(&builtin_pattern_sources());
            profile_loop(what, text, reps, "raw matches", |t| hs.count(t));
            return;
        }
        let engine = if eng == "dict" {
            engine_with_dictionary(&terms)
        } else if eng == "names" {
            engine_with_dictionary(&names(100_000))
        } else {
            Engine::builtin().unwrap()
        };
        let mut scratch = engine.scratch();
        let mut out = Vec::new();
        // `HAETAE_BENCH_SEGMENT_KB=N` (or `HAETAE_BENCH_SEGMENT_B=N` bytes): the text scanned as segments of about
        // that size (cut after a line feed, else at a char boundary), as the gateway scans a request's text parts,
        // instead of as one segment.
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
        };
        let segment: usize = var("HAETAE_BENCH_SEGMENT_B")
            .or_else(|| var("HAETAE_BENCH_SEGMENT_KB").map(|kb| kb.saturating_mul(1024)))
            .unwrap_or(0);
        // The cuts are made before the timed loop, so only the scans are timed.
        let mut cuts = Vec::new();
        let mut at = 0;
        while segment > 0 && at < text.len() {
            let mut end = at.saturating_add(segment).min(text.len());
            if end < text.len() {
                if let Some(nl) = text.as_bytes()[at..end].iter().rposition(|&c| c == b'\n') {
                    end = at + nl + 1;
                }
            }
            while !text.is_char_boundary(end) {
                end += 1;
            }
            cuts.push(at..end);
            at = end;
        }
        profile_loop(what, text, reps, "findings", |t| {
            if cuts.is_empty() {
                engine.scan_into(t, &mut scratch, &mut out);
                return out.len();
            }
            out.clear();
            for r in &cuts {
                engine.scan_segment(&t[r.clone()], r.start, &mut scratch, &mut out);
            }
            out.len()
        });
        return;
    }

    let t = Instant::now();
    let engine = engine_with_dictionary(&terms);
    let compile = t.elapsed();
    let t = Instant::now();
    let builtin_only = Engine::builtin().unwrap();
    let compile_builtin = t.elapsed();
    #[cfg(feature = "hyperscan-baseline")]
    let hs = hs_baseline::build(&builtin_pattern_sources());
    let baseline: Vec<regex::Regex> = builtin_pattern_sources()
        .iter()
        .map(|(_, src)| regex::Regex::new(src).unwrap())
        .collect();

    let mut scratch = engine.scratch();
    let mut out = Vec::new();
    let mut scan = |text: &str| {
        engine.scan_into(text, &mut scratch, &mut out);
        out.len()
    };
    let per_pattern = |text: &str| {
        baseline
            .iter()
            .map(|re| re.find_iter(text).count())
            .sum::<usize>()
    };

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for (name, text) in [("clean", &clean), ("web", &web), ("dense", &dense)] {
        let mut g = c.benchmark_group(format!("detect/{name}"));
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function("engine", |b| b.iter(|| scan(black_box(text))));
        g.bench_function("regex_per_pattern", |b| {
            b.iter(|| per_pattern(black_box(text)))
        });
        #[cfg(feature = "hyperscan-baseline")]
        g.bench_function("hyperscan", |b| b.iter(|| hs.count(black_box(text))));
        g.finish();
    }

    println!("\n== haetae detect bench (single thread) ==");
    println!(
        "patterns: {} builtin regexes + 10,000-term dictionary; engine memory {:.1} MiB",
        engine.pattern_count(),
        engine.memory_usage() as f64 / 1048576.0
    );
    println!(
        "compile: all builtins + dictionary {:.1} ms; builtins only {:.1} ms ({:.2} MiB)",
        compile.as_secs_f64() * 1e3,
        compile_builtin.as_secs_f64() * 1e3,
        builtin_only.memory_usage() as f64 / 1048576.0
    );
    #[cfg(feature = "hyperscan-baseline")]
    {
        println!(
            "hyperscan {}: {} of {} patterns compiled ({:.1} ms), {} without SOM_LEFTMOST {:?}, rejected {:?}",
            hyperscan::version_str().to_string_lossy(),
            hs.accepted,
            builtin_pattern_sources().len(),
            hs.compile.as_secs_f64() * 1e3,
            hs.without_som.len(),
            hs.without_som,
            hs.rejected
        );
    }
    let mut scratch_b = builtin_only.scratch();
    let mut out_b = Vec::new();
    let mut scan_builtin = |text: &str| {
        builtin_only.scan_into(text, &mut scratch_b, &mut out_b);
        out_b.len()
    };
    println!(
        "{:<6} {:>6} {:>16} {:>15} {:>19} {:>13} {:>13}",
        "corpus",
        "MB",
        "builtins+dict",
        "builtins only",
        "regex per-pattern",
        "ratio(+dict)",
        "ratio(only)"
    );
    for (name, text) in [("clean", &clean), ("web", &web), ("dense", &dense)] {
        let (te, n) = best_of(3, || scan(text));
        let (to, _) = best_of(3, || scan_builtin(text));
        let (tb, m) = best_of(2, || per_pattern(text));
        let (e, o, b) = (
            mbps(text.len(), te),
            mbps(text.len(), to),
            mbps(text.len(), tb),
        );
        println!(
            "{name:<6} {:>6.1} {e:>10.1} MB/s {o:>10.1} MB/s {b:>14.1} MB/s {:>12.1}x {:>12.1}x   ({n} findings, baseline {m} raw matches)",
            text.len() as f64 / 1e6,
            e / b,
            o / b
        );
        #[cfg(feature = "hyperscan-baseline")]
        {
            let (th, h) = best_of(3, || hs.count(text));
            let hm = mbps(text.len(), th);
            println!(
                "{name:<6} hyperscan (builtin patterns) {hm:>8.1} MB/s; builtins-only engine / hyperscan = {:.2}x   ({h} raw matches)",
                o / hm
            );
        }
    }
    hostile_reports();
}

/// [`hostile_report`] for the builtin engine (trigger pass) and for one with a custom regex (unanchored union).
fn hostile_reports() {
    hostile_report(&Engine::builtin().unwrap(), "builtins only");
    let spec: CustomDetectorSpec =
        toml::from_str("id = \"TICKET\"\npattern = 'TCK-[0-9]{6}'\n").unwrap();
    let with_regex = Engine::new(&DetectConfig {
        detectors: vec![spec],
        ..DetectConfig::default()
    })
    .unwrap();
    hostile_report(
        &with_regex,
        "builtins + one custom regex: the union runs unanchored",
    );
}
