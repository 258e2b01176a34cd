//! Property tests for the detection engine: never panics, offsets on char boundaries, whole == segmented, and
//! normalisation never shifts offsets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use haetae::detect::{Engine, Finding};
use proptest::prelude::*;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::builtin().unwrap())
}

const FRAGMENTS: &[&str] = &[
    "900101-1234568",
    "8503152345678",
    "010-1234-5678",
    "+82 10-1234-5678",
    "주민등록번호",
    "법인",
    "계좌",
    "입금",
    "116-82-00276",
    "M12345678",
    "김철수",
    "님",
    "성명: ",
    "홍길동",
    "고객",
    "4111 1111 1111 1111",
    "5555555555554444",
    "GB82 WEST 1234 5698 7654 32",
    "hong@example.com",
    "@",
    ".",
    "192.168.0.1",
    "2001:db8::1",
    "::",
    ":",
    "Ⅱ급비밀",
    "급",
    "비밀",
    "대외비",
    "TOP SECRET",
    "SECRET",
    "//NOFORN",
    "(S)",
    "(TS)",
    "CUI",
    "\n",
    "\n\n",
    " ",
    "  ",
    "-",
    "0",
    "9",
    "1",
    "가",
    "힣",
    "a",
    "Z",
    "x",
    "AKIAIOSFODNN7EXAMPLE",
    "sk-",
    "ghp_",
    "password=",
    "hunter2!",
    "서울특별시 강남구 ",
    "테헤란로 152",
    "１２３",
    "\u{200B}",
    "\u{00A0}",
    "－",
    "\u{2010}",
    "\u{FEFF}",
    "é",
    "😀",
    "Mr. ",
    "John Smith",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "eyJhbGciOi",
    "버전",
    "version",
    "주문번호",
];

fn fragment_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|v| v.concat())
}

/// Fragments without PEM private-key lines (a PEM block may legitimately span a blank line; see below). Generated
/// directly rather than filtered with `prop_assume!`, which rejected too many cases and made the test flaky.
fn fragment_text_no_pem() -> impl Strategy<Value = String> {
    let no_pem: Vec<&'static str> = FRAGMENTS
        .iter()
        .copied()
        .filter(|f| !f.contains("PRIVATE KEY"))
        .collect();
    prop::collection::vec(prop::sample::select(no_pem), 0..40).prop_map(|v| v.concat())
}

fn check_offsets(text: &str, findings: &[Finding]) -> Result<(), TestCaseError> {
    for f in findings {
        prop_assert!(f.start < f.end && f.end <= text.len());
        prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        prop_assert!((0.0..=1.0).contains(&f.score));
    }
    for w in findings.windows(2) {
        prop_assert!(w[0].end <= w[1].start, "findings overlap or are unsorted");
    }
    Ok(())
}

/// The folding the engine applies (kept in sync with `src/detect/normalize.rs`).
fn fold(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let u = u32::from(c);
        match u {
            0xFF01..=0xFF5E => out.push(char::from_u32(u - 0xFEE0).unwrap()),
            0x00A0 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => out.push(' '),
            0x2010..=0x2015 | 0x2212 | 0xFE58 | 0xFE63 => out.push('-'),
            0x200B..=0x200D | 0x2060 | 0xFEFF | 0x00AD => {}
            _ => out.push(c),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        let f = engine().scan(&text);
        check_offsets(&text, &f)?;
    }

    #[test]
    fn fragments_offsets_on_char_boundaries(text in fragment_text()) {
        let f = engine().scan(&text);
        check_offsets(&text, &f)?;
    }

    #[test]
    fn whole_equals_segmented(segments in prop::collection::vec(fragment_text_no_pem(), 1..6)) {
        // Segments are separated by a blank line: context never crosses it and no pattern spans it, except a PEM
        // private-key block, which may legitimately contain blank lines (documented exception, excluded here).
        let e = engine();
        let mut doc = String::new();
        let mut seg_findings = Vec::new();
        let mut scratch = e.scratch();
        for s in &segments {
            let s = s.trim_matches('\n');
            if !doc.is_empty() {
                doc.push_str("\n\n");
            }
            let base = doc.len();
            doc.push_str(s);
            e.scan_segment(s, base, &mut scratch, &mut seg_findings);
        }
        prop_assert_eq!(e.scan(&doc), seg_findings);
    }

    #[test]
    fn normalisation_never_shifts_offsets(text in fragment_text()) {
        let e = engine();
        let folded = fold(&text);
        let on_original = e.scan(&text);
        let on_folded = e.scan(&folded);
        prop_assert_eq!(on_original.len(), on_folded.len());
        for (o, n) in on_original.iter().zip(&on_folded) {
            prop_assert_eq!(&o.entity, &n.entity);
            // The original span folds to exactly the text the folded scan found.
            prop_assert_eq!(fold(&text[o.start..o.end]), &folded[n.start..n.end]);
        }
    }

    #[test]
    fn scan_into_reuse_matches_scan(a in fragment_text(), b in fragment_text()) {
        let e = engine();
        let mut scratch = e.scratch();
        let mut out = Vec::new();
        e.scan_into(&a, &mut scratch, &mut out);
        prop_assert_eq!(&out, &e.scan(&a));
        e.scan_into(&b, &mut scratch, &mut out);
        prop_assert_eq!(&out, &e.scan(&b));
    }
}
