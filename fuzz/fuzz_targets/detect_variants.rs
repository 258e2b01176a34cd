//! The detection engine under variations of one input: prefix and suffix cuts at char boundaries, the two halves
//! joined by a blank line (documented to scan as each alone, PEM blocks excepted: an assertion), obfuscated copies
//! (full-width characters, NBSP and other spaces, Unicode dashes, decomposed Hangul, `\uXXXX` escapes, zero-width
//! characters), three custom-policy engines (regexes with every validator kind, dictionaries merged into the trigger
//! pass and case-insensitive ones, context words, thresholds), and a deadline that may pass mid-scan. Panics and broken
//! finding invariants stop the run; softer disagreements (a scan whose deadline passed, a score outside 0..=1) are
//! written to `$HAETAE_FUZZ_MISMATCH_DIR` (one file per kind and input hash) and fuzzing goes on. Written in session
//! 28, when it found the `.netrc` look-back reading across a blank line.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use haetae::detect::{CustomDetectorSpec, DetectConfig, Engine, Finding, ValidatorKind};
use libfuzzer_sys::fuzz_target;

fn builtin() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::builtin().unwrap())
}

fn spec(id: &str) -> CustomDetectorSpec {
    CustomDetectorSpec {
        id: id.into(),
        entity: None,
        pattern: None,
        terms: vec![],
        terms_file: None,
        case_insensitive: false,
        context: vec![],
        context_required: false,
        validator: ValidatorKind::None,
        score: 0.6,
        context_score: 0.3,
        threshold: 0.5,
    }
}
fn re(id: &str, p: &str, v: ValidatorKind) -> CustomDetectorSpec {
    CustomDetectorSpec {
        pattern: Some(p.into()),
        validator: v,
        ..spec(id)
    }
}
fn dict(id: &str, terms: &[&str], ci: bool) -> CustomDetectorSpec {
    CustomDetectorSpec {
        terms: terms.iter().map(|s| s.to_string()).collect(),
        case_insensitive: ci,
        ..spec(id)
    }
}

/// Custom engines: [0] regexes + dictionaries (union unanchored), [1] case-sensitive dictionary only (prefixes merged
/// into the trigger pass), [2] case-insensitive dictionaries + selection/thresholds.
fn customs() -> &'static [Engine] {
    static E: OnceLock<Vec<Engine>> = OnceLock::new();
    E.get_or_init(|| {
        let mut a = DetectConfig::default();
        a.builtins.thresholds.insert("KR_PASSPORT".into(), 0.6);
        a.detectors = vec![
            CustomDetectorSpec {
                context: vec!["사번".into(), "직원번호".into(), "employee".into()],
                ..re(
                    "ACME_EMPLOYEE_ID",
                    r"(?-u:\b)EMP-[0-9]{6}(?-u:\b)",
                    ValidatorKind::None,
                )
            },
            CustomDetectorSpec {
                context: vec!["계약번호".into(), "contract".into()],
                context_required: true,
                ..re(
                    "ACME_CONTRACT_NO",
                    r"(?-u:\b)C[0-9]{4}-[0-9]{5}(?-u:\b)",
                    ValidatorKind::None,
                )
            },
            CustomDetectorSpec {
                score: 0.8,
                ..dict(
                    "PROJECT_CODENAME",
                    &["해태 프로젝트", "Project Haetae", "Blue Tiger", "정원"],
                    true,
                )
            },
            CustomDetectorSpec {
                entity: Some("CREDIT_CARD".into()),
                score: 0.9,
                ..re(
                    "LEGACY_CARD",
                    r"[0-9]{4}\.[0-9]{4}\.[0-9]{4}\.[0-9]{4}",
                    ValidatorKind::Luhn,
                )
            },
            re("X_RRN", r"[0-9]{6}[ _][0-9]{7}", ValidatorKind::KrRrn),
            re("X_CRN", r"[0-9]{6}~[0-9]{7}", ValidatorKind::KrCrn),
            re("X_BRN", r"[0-9]{3}/[0-9]{2}/[0-9]{5}", ValidatorKind::KrBrn),
            re(
                "X_IBAN",
                r"IBAN[A-Z]{2}[0-9]{2}[A-Z0-9 ]{8,34}",
                ValidatorKind::Iban,
            ),
            re(
                "X_SSN",
                r"ssn#[0-9]{3}-?[0-9]{2}-?[0-9]{4}",
                ValidatorKind::UsSsn,
            ),
            re("X_IP4", r"ip=[0-9.]{7,15}", ValidatorKind::Ipv4),
            re("X_IP6", r"ip6=[0-9a-fA-F:]{2,39}", ValidatorKind::Ipv6),
            CustomDetectorSpec {
                entity: Some("PERSON".into()),
                ..re("X_NAME", r"[가-힣]{2,4}(님|씨|고객)", ValidatorKind::None)
            },
            CustomDetectorSpec {
                case_insensitive: true,
                context: vec!["비밀".into()],
                ..re("X_SECRET", r"secret\s*[:=]\s*\S{4,}", ValidatorKind::None)
            },
            dict(
                "X_TERMS",
                &["극비", "님", "sk-", "a", "가", "Ⅱ급", "010", "@"],
                false,
            ),
        ];
        let mut b = DetectConfig::default();
        b.builtins.disabled = vec!["PERSON".into()];
        b.detectors = vec![dict(
            "CODES",
            &[
                "해태",
                "프로젝트 X",
                "TOP",
                "ghp",
                "주민",
                "😀",
                "Ｘ",
                "a b",
            ],
            false,
        )];
        let mut c = DetectConfig::default();
        c.builtins.enabled = Some(vec!["KR_RRN".into(), "EMAIL".into(), "KR_PHONE".into()]);
        c.builtins.thresholds.insert("EMAIL".into(), 0.95);
        c.builtins.thresholds.insert("KR_RRN".into(), 0.1);
        c.detectors = vec![
            CustomDetectorSpec {
                context: vec!["코드".into()],
                context_required: true,
                ..dict("CI_TERMS", &["secret", "Password", "haetae", "키"], true)
            },
            dict("CI_TWO", &["AKIA", "eyJ", "x"], true),
        ];
        [a, b, c]
            .iter()
            .map(|cfg| Engine::new(cfg).expect("custom engine builds"))
            .collect()
    })
}

thread_local!(static SCORE_BAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });

fn check(text: &str, fs: &[Finding]) {
    let mut last_end = 0;
    for f in fs {
        assert!(
            f.start >= last_end && f.start < f.end && f.end <= text.len(),
            "finding order/bounds"
        );
        assert!(
            text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
            "finding off char boundary"
        );
        if !(0.0..=1.0).contains(&f.score) {
            SCORE_BAD.with(|c| c.set(true));
        }
        last_end = f.end;
    }
}

fn mismatch(kind: &str, data: &[u8]) {
    let Ok(dir) = std::env::var("HAETAE_FUZZ_MISMATCH_DIR") else {
        return;
    };
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in data {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    let _ = std::fs::write(format!("{dir}/{kind}-{h:016x}"), data);
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn obfuscate(text: &str, mode: u8) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    let mut prev_digit = false;
    for (n, c) in text.chars().enumerate() {
        let next_digit;
        match c {
            '0'..='9' if mode & 1 != 0 => {
                out.push(char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap())
            }
            ' ' if mode & 2 != 0 => out.push(['\u{a0}', '\u{3000}', '\u{202f}', '\u{2009}'][n % 4]),
            '-' if mode & 4 != 0 => out.push(if prev_digit {
                'ㅡ'
            } else {
                ['\u{2011}', '\u{2212}', '\u{ff0d}'][n % 3]
            }),
            '가'..='힣' if mode & 8 != 0 => {
                let s = c as u32 - 0xAC00;
                out.push(char::from_u32(0x1100 + s / 588).unwrap());
                out.push(char::from_u32(0x1161 + (s % 588) / 28).unwrap());
                if s % 28 != 0 {
                    out.push(char::from_u32(0x11A7 + s % 28).unwrap());
                }
            }
            c if !c.is_ascii() && mode & 16 != 0 => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            c if c.is_ascii_alphabetic() && mode & 32 != 0 => {
                out.push(char::from_u32(c as u32 + 0xFEE0).unwrap())
            }
            c => out.push(c),
        }
        next_digit = c.is_ascii_digit();
        if mode & 64 != 0 && n % 3 == 1 {
            out.push(['\u{200b}', '\u{200d}', '\u{feff}', '\u{ad}', '\u{2060}'][n % 5]);
        }
        prev_digit = next_digit;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let e = builtin();
    let mut h: u32 = 2166136261;
    for &b in data.iter().take(64) {
        h = (h ^ b as u32).wrapping_mul(16777619);
    }
    let whole = e.scan(text);
    check(text, &whole);

    // Prefix / suffix at a char boundary.
    let cut = floor_boundary(
        text,
        if text.is_empty() {
            0
        } else {
            h as usize % (text.len() + 1)
        },
    );
    let (a, b) = text.split_at(cut);
    let fa = e.scan(a);
    check(a, &fa);
    let fb = e.scan(b);
    check(b, &fb);

    // Blank-line join: documented to equal scanning the segments (PEM blocks excepted).
    if !text.contains("-----") {
        let joined = format!("{a}\n\n{b}");
        let fj = e.scan(&joined);
        check(&joined, &fj);
        let shift = a.len() + 2;
        let expect: Vec<(usize, usize, String)> = fa
            .iter()
            .map(|f| (f.start, f.end, f.entity.to_string()))
            .chain(
                fb.iter()
                    .map(|f| (f.start + shift, f.end + shift, f.entity.to_string())),
            )
            .collect();
        let got: Vec<(usize, usize, String)> = fj
            .iter()
            .map(|f| (f.start, f.end, f.entity.to_string()))
            .collect();
        assert_eq!(
            got, expect,
            "segments joined by a blank line scan as each alone"
        );
    }

    // Obfuscated forms (normalisation-relevant characters).
    let ob = obfuscate(text, (h >> 8) as u8 | 1);
    let fo = e.scan(&ob);
    check(&ob, &fo);
    let ob2 = obfuscate(text, !((h >> 8) as u8));
    check(&ob2, &e.scan(&ob2));

    // Custom-policy engines.
    for c in customs() {
        let fc = c.scan(text);
        check(text, &fc);
        check(&ob, &c.scan(&ob));
    }

    // A deadline that may pass mid-scan, then the same scratch reused for a full scan.
    let mut scratch = e.scratch();
    let mut part = Vec::new();
    let budget = Duration::from_micros((h % 200) as u64);
    let r = e.scan_segment_until(text, 3, &mut scratch, &mut part, Instant::now() + budget);
    for f in &part {
        assert!(f.start >= 3 && f.end <= text.len() + 3 && f.start < f.end);
        assert!(text.is_char_boundary(f.start - 3) && text.is_char_boundary(f.end - 3));
    }
    if r.is_ok() && part.len() != whole.len() {
        mismatch("deadline-ok", data);
    }
    let mut again = Vec::new();
    e.scan_segment(text, 0, &mut scratch, &mut again);
    if again != whole {
        mismatch("scratch-reuse", data);
    }
    if SCORE_BAD.with(|c| c.replace(false)) {
        mismatch("score", data);
    }
});
