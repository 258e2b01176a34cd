//! The shared detector vector corpus (`tests/data/detect/vectors.toml`) run one-shot, as one segmented document, and
//! obfuscated with full-width digits, Unicode dashes and zero-width spaces, and in Unicode NFD (decomposed Hangul, as
//! macOS file names and `iconv -t UTF-8-MAC` write it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haetae::detect::{classify, Engine, Finding};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    text: String,
    expect: Vec<toml::Value>,
    #[serde(default)]
    obfuscate: bool,
    /// Classification level `classify` must report (`"SECRET"`…), when given.
    #[serde(default)]
    level: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    source: Option<String>,
}

type Span = (String, usize, usize);

fn load() -> Vec<Case> {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/detect/vectors.toml"
    ))
    .unwrap();
    toml::from_str::<Corpus>(&raw).unwrap().case
}

fn expected(case: &Case, text: &str, transform: &dyn Fn(&str) -> String) -> Vec<Span> {
    case.expect
        .iter()
        .map(|v| {
            let a = v.as_array().expect("expect entries are arrays");
            let entity = a[0].as_str().unwrap().to_owned();
            let needle = transform(a[1].as_str().unwrap());
            let nth = a.get(2).and_then(toml::Value::as_integer).unwrap_or(0) as usize;
            let start = text
                .match_indices(&needle)
                .nth(nth)
                .unwrap_or_else(|| panic!("vector {:?}: {:?} not in text", case.text, needle))
                .0;
            (entity, start, start + needle.len())
        })
        .collect()
}

fn spans(findings: &[Finding]) -> Vec<Span> {
    findings
        .iter()
        .map(|f| (f.entity.as_str().to_owned(), f.start, f.end))
        .collect()
}

fn show(text: &str, s: &[Span]) -> Vec<String> {
    s.iter()
        .map(|(e, a, b)| {
            format!(
                "{e}[{}]",
                text.get(*a..*b).unwrap_or("<not a char boundary>")
            )
        })
        .collect()
}

/// Check one vector, its text and expected spans passed through `transform`: findings and (when given) the level.
/// Returns whether it checked a level; failures are described in `failures`.
fn check_case(
    engine: &Engine,
    case: &Case,
    transform: &dyn Fn(&str) -> String,
    failures: &mut Vec<String>,
) -> bool {
    let text = transform(&case.text);
    let findings = engine.scan(&text);
    let got = spans(&findings);
    let want = expected(case, &text, transform);
    if got != want {
        failures.push(format!(
            "{:?}\n    want {:?}\n    got  {:?}",
            case.text,
            show(&text, &want),
            show(&text, &got)
        ));
    }
    let Some(level) = &case.level else {
        return false;
    };
    let got = classify(&text, &findings).level;
    if got.as_str() != level {
        failures.push(format!(
            "{:?}\n    want level {level}\n    got  level {}",
            case.text,
            got.as_str()
        ));
    }
    true
}

#[test]
fn vectors_one_shot() {
    let engine = Engine::builtin().unwrap();
    let mut failures = Vec::new();
    let mut levels = 0;
    for case in load() {
        if check_case(&engine, &case, &|s| s.to_owned(), &mut failures) {
            levels += 1;
        }
    }
    assert!(levels >= 10, "only {levels} vectors check a level");
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn vectors_segmented() {
    let engine = Engine::builtin().unwrap();
    let cases = load();
    let mut doc = String::new();
    let mut want = Vec::new();
    let mut per_segment = Vec::new();
    let mut scratch = engine.scratch();
    for case in &cases {
        if !doc.is_empty() {
            doc.push_str("\n\n");
        }
        let base = doc.len();
        doc.push_str(&case.text);
        want.extend(
            expected(case, &case.text, &|s| s.to_owned())
                .into_iter()
                .map(|(e, s, t)| (e, s + base, t + base)),
        );
        engine.scan_segment(&case.text, base, &mut scratch, &mut per_segment);
    }
    let whole = engine.scan(&doc);
    assert_eq!(
        spans(&whole),
        want,
        "whole document differs from the per-case expectations"
    );
    assert_eq!(
        whole, per_segment,
        "whole document differs from segment-by-segment scanning"
    );
}

fn obfuscate(s: &str) -> String {
    let mut out = String::new();
    let mut first_digit = true;
    for c in s.chars() {
        match c {
            '0'..='9' => {
                out.push(char::from_u32(u32::from(c) - u32::from('0') + 0xFF10).unwrap());
                if first_digit {
                    out.push('\u{200B}');
                    first_digit = false;
                }
            }
            '-' => out.push('\u{2010}'),
            ' ' => out.push('\u{00A0}'),
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn vectors_obfuscated() {
    let engine = Engine::builtin().unwrap();
    let mut n = 0;
    for case in load().into_iter().filter(|c| c.obfuscate) {
        let text = obfuscate(&case.text);
        let findings = engine.scan(&text);
        if let Some(level) = &case.level {
            assert_eq!(
                classify(&text, &findings).level.as_str(),
                level,
                "obfuscated {:?}",
                case.text
            );
        }
        let got = spans(&findings);
        let want = expected(&case, &text, &obfuscate);
        assert_eq!(
            show(&text, &got),
            show(&text, &want),
            "obfuscated {:?}",
            case.text
        );
        assert_eq!(got, want);
        n += 1;
    }
    assert!(n >= 3);
}

/// Every vector with Hangul in it, in NFD: the same findings, offsets covering the decomposed text, same level.
#[test]
fn vectors_nfd() {
    let engine = Engine::builtin().unwrap();
    let nfd = |s: &str| s.nfd().collect::<String>();
    let mut n = 0;
    let mut failures = Vec::new();
    for case in load().iter().filter(|c| nfd(&c.text) != c.text) {
        n += 1;
        check_case(&engine, case, &nfd, &mut failures);
    }
    assert!(n >= 80, "only {n} vectors have Hangul");
    assert!(
        failures.is_empty(),
        "{} NFD vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The same vectors through an engine with a custom regex detector (which matches none of them): such an engine runs
/// the builtin union unanchored over the whole text instead of only at the trigger pass's candidates, so a builtin
/// pattern whose matches the trigger pass would never try (a start no trigger literal or digit run reaches) shows up
/// here as a vector found one way and missed the other.
#[test]
fn vectors_without_the_trigger_pass() {
    let cfg: haetae::detect::DetectConfig =
        toml::from_str("[[detectors]]\nid = \"NEVER_SEEN\"\npattern = 'QZXJ-[0-9]{9}-QZXJ'\n")
            .unwrap();
    let engine = Engine::new(&cfg).unwrap();
    let mut failures = Vec::new();
    for case in load() {
        check_case(&engine, &case, &|s| s.to_owned(), &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
