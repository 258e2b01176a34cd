//! Detection engine throughput: the compiled one-pass engine vs. the `regex` crate running every builtin pattern
//! separately (the Presidio-style baseline), on generated mixed Korean/English prose.
//!
//! Corpus sizes: `HAETAE_BENCH_MB` (default 50) MB of clean prose with sparse PII, and a dense corpus of a fifth of
//! that size (at least 1 MB). Run: `cargo bench --bench detect` (quick: `HAETAE_BENCH_MB=5 cargo bench --bench detect`).
//! Prints a summary table with MB/s and the engine/baseline ratio measured in the same run; criterion keeps its own
//! statistics under `target/criterion`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use haetae::detect::{builtin_pattern_sources, CustomDetectorSpec, DetectConfig, Engine};

/// splitmix64: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const KO: &[&str] = &[
    "오늘", "회의에서", "논의한", "내용을", "정리하면", "다음과", "같습니다", "고객", "요청에", "따라", "일정을", "조정했고",
    "담당자는", "보고서를", "작성하여", "제출할", "예정입니다", "서비스", "개선을", "위해", "데이터를", "분석했습니다",
    "프로젝트", "진행", "상황은", "양호하며", "추가", "검토가", "필요합니다", "문의", "사항이", "있으시면", "연락", "바랍니다",
    "시스템", "점검", "결과", "이상", "없음", "배포는", "다음", "주에", "진행됩니다", "감사합니다", "참고", "자료를",
    "첨부합니다", "예산", "승인", "절차", "변경", "사항", "공유드립니다", "2024년", "3월", "15일", "약", "30%", "증가",
];
const EN: &[&str] = &[
    "the", "meeting", "notes", "summarize", "our", "plan", "for", "next", "quarter", "please", "review", "attached",
    "report", "and", "send", "feedback", "by", "Friday", "we", "expect", "growth", "in", "revenue", "of", "about", "12%",
    "model", "latency", "improved", "after", "the", "update", "version", "2.3.1", "deployment", "is", "scheduled",
    "customer", "support", "team", "will", "follow", "up", "with", "details", "thanks", "regards", "data", "pipeline",
];
const PII: &[&str] = &[
    "주민등록번호 900101-1234568", "연락처 010-1234-5678", "hong.gildong@example.co.kr", "카드 4111 1111 1111 1111",
    "사업자등록번호 116-82-00276", "서울특별시 강남구 테헤란로 152", "김민수님", "여권번호 M12345678",
    "IP 192.168.10.24", "AKIAIOSFODNN7EXAMPLE", "Ⅱ급비밀", "계좌번호 110-123-456789", "SSN 123-45-6789",
    "+1 415 555 2671", "DE89 3704 0044 0532 0130 00", "password=Tr0ub4dor&3",
];

fn corpus(bytes: usize, pii_every: usize, seed: u64, dict: &[String]) -> String {
    let mut r = Rng(seed);
    let mut s = String::with_capacity(bytes + 256);
    let mut since = 0usize;
    while s.len() < bytes {
        let korean = r.below(3) != 0;
        let words = 6 + r.below(12);
        let before = s.len();
        for i in 0..words {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(if korean { r.pick(KO) } else { r.pick(EN) });
        }
        s.push_str(if korean { ". " } else { ". " });
        if r.below(8) == 0 {
            s.push('\n');
        }
        since += s.len() - before;
        if since >= pii_every {
            since = 0;
            if r.below(4) == 0 && !dict.is_empty() {
                s.push_str(&dict[r.below(dict.len())]);
            } else {
                s.push_str(r.pick(PII));
            }
            s.push_str(" 입니다. ");
        }
    }
    s
}

fn dictionary(n: usize) -> Vec<String> {
    const SYL: &[&str] = &["가", "나", "다", "라", "마", "바", "사", "아", "자", "차", "카", "타", "파", "하", "해", "태"];
    let mut r = Rng(7);
    (0..n)
        .map(|i| {
            let mut t = String::from("코드명");
            for _ in 0..3 {
                t.push_str(r.pick(SYL));
            }
            t.push_str(&format!("{i:05}"));
            t
        })
        .collect()
}

fn engine_with_dictionary(terms: &[String]) -> Engine {
    let spec: CustomDetectorSpec = toml::from_str(&format!(
        "id = \"CODENAME\"\nterms = {:?}\n",
        terms
    ))
    .unwrap();
    Engine::new(&DetectConfig { detectors: vec![spec], ..DetectConfig::default() }).unwrap()
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

fn main() {
    let mb: usize = std::env::var("HAETAE_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let terms = dictionary(10_000);
    let clean = corpus(mb * 1_000_000, 4_000, 1, &terms);
    let dense = corpus((mb / 5).max(1) * 1_000_000, 60, 2, &terms);

    let t = Instant::now();
    let engine = engine_with_dictionary(&terms);
    let compile = t.elapsed();
    let t = Instant::now();
    let builtin_only = Engine::builtin().unwrap();
    let compile_builtin = t.elapsed();
    let baseline: Vec<regex::Regex> =
        builtin_pattern_sources().iter().map(|(_, src)| regex::Regex::new(src).unwrap()).collect();

    let mut scratch = engine.scratch();
    let mut out = Vec::new();
    let mut scan = |text: &str| {
        engine.scan_into(text, &mut scratch, &mut out);
        out.len()
    };
    let per_pattern = |text: &str| baseline.iter().map(|re| re.find_iter(text).count()).sum::<usize>();

    let mut c = Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5)).configure_from_args();
    for (name, text) in [("clean", &clean), ("dense", &dense)] {
        let mut g = c.benchmark_group(format!("detect/{name}"));
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function("engine", |b| b.iter(|| scan(black_box(text))));
        g.bench_function("regex_per_pattern", |b| b.iter(|| per_pattern(black_box(text))));
        g.finish();
    }

    println!("\n== haetae detect bench (single thread) ==");
    println!("patterns: {} builtin regexes + 10,000-term dictionary; engine memory {:.1} MiB", engine.pattern_count(), engine.memory_usage() as f64 / 1048576.0);
    println!("compile: all builtins + dictionary {:.1} ms; builtins only {:.1} ms", compile.as_secs_f64() * 1e3, compile_builtin.as_secs_f64() * 1e3);
    println!("{:<8} {:>9} {:>14} {:>10} {:>20} {:>10} {:>7}", "corpus", "MB", "engine MB/s", "findings", "regex/pattern MB/s", "matches", "ratio");
    for (name, text) in [("clean", &clean), ("dense", &dense)] {
        let (te, n) = best_of(3, || scan(text));
        let (tb, m) = best_of(2, || per_pattern(text));
        let (e, b) = (mbps(text.len(), te), mbps(text.len(), tb));
        println!("{name:<8} {:>9.1} {e:>14.1} {n:>10} {b:>20.1} {m:>10} {:>6.1}x", text.len() as f64 / 1e6, e / b);
    }
}
