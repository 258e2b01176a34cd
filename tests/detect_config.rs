//! Engine configuration: builtin selection, thresholds, custom detectors, and errors that name the detector.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haetae::detect::{DetectConfig, DetectError, Engine, Entity};

fn config(toml_text: &str) -> DetectConfig {
    toml::from_str(toml_text).unwrap()
}

#[test]
fn engine_is_send_sync_and_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    let engine = std::sync::Arc::new(Engine::builtin().unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let e = std::sync::Arc::clone(&engine);
            std::thread::spawn(move || e.scan(&format!("연락처 010-1234-567{i}")).len())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 1);
    }
}

#[test]
fn builtin_selection_and_thresholds() {
    let only_email = Engine::new(&config("[builtins]\nenabled = [\"EMAIL\"]\n")).unwrap();
    let f = only_email.scan("a@example.com 010-1234-5678");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].entity, Entity::Email);

    let strict = Engine::new(&config("[builtins]\nthresholds = { KR_PASSPORT = 0.9 }\n")).unwrap();
    assert!(strict.scan("M12345678").is_empty());
    assert_eq!(strict.scan("여권번호 M12345678").len(), 1);

    assert!(matches!(
        Engine::new(&config("[builtins]\ndisabled = [\"KR_NOPE\"]\n")),
        Err(DetectError::UnknownBuiltin(id)) if id == "KR_NOPE"
    ));
}

#[test]
fn custom_regex_dictionary_and_validator() {
    let engine = Engine::new(&config(
        r#"
[[detectors]]
id = "EMP_ID"
pattern = 'EMP-[0-9]{6}'

[[detectors]]
id = "GATED"
pattern = 'G[0-9]{5}'
context = ["게이트"]
context_required = true

[[detectors]]
id = "CODENAME"
terms = ["blue tiger", "해태"]
case_insensitive = true

[[detectors]]
id = "DOTTED_CARD"
entity = "CREDIT_CARD"
pattern = '[0-9]{4}\.[0-9]{4}\.[0-9]{4}\.[0-9]{4}'
validator = "luhn"
"#,
    ))
    .unwrap();
    let text = "EMP-123456 G12345\n\n게이트 G54321 Blue Tiger 4111.1111.1111.1111 4111.1111.1111.1112 해태";
    let got: Vec<(String, &str)> = engine
        .scan(text)
        .iter()
        .map(|f| (f.entity.to_string(), &text[f.start..f.end]))
        .collect();
    assert_eq!(
        got,
        [
            ("EMP_ID".to_owned(), "EMP-123456"),
            ("GATED".to_owned(), "G54321"),
            ("CODENAME".to_owned(), "Blue Tiger"),
            ("CREDIT_CARD".to_owned(), "4111.1111.1111.1111"),
            ("CODENAME".to_owned(), "해태"),
        ]
    );
}

/// Dictionary findings are scored by their detector's own context words: a required word gates, an optional one
/// raises the score, and a detector without context words keeps its base score whatever surrounds the term (its
/// window is not searched at all). Both dictionary paths: merged into the trigger pass (few term prefixes) and a
/// case-insensitive dictionary searched on its own.
#[test]
fn dictionary_context_words_gate_and_score() {
    for case_insensitive in [false, true] {
        let engine = Engine::new(&config(&format!(
            r#"
[[detectors]]
id = "PROJECT"
terms = ["블루타이거", "해태작전"]
case_insensitive = {case_insensitive}

[[detectors]]
id = "GATED_TERM"
terms = ["청룡계획"]
case_insensitive = {case_insensitive}
context = ["프로젝트"]
context_required = true

[[detectors]]
id = "BOOSTED_TERM"
terms = ["백호계획"]
case_insensitive = {case_insensitive}
context = ["코드명"]
score = 0.4
context_score = 0.5
"#
        )))
        .unwrap();
        // Scores in hundredths, so that 0.6 + 0.3 compares exactly.
        let scan = |text: &str| -> Vec<(String, u32)> {
            engine
                .scan(text)
                .iter()
                .map(|f| (f.entity.to_string(), (f.score * 100.0).round() as u32))
                .collect()
        };
        let ci = format!("case_insensitive = {case_insensitive}");
        // No context words near anything: the plain term at its base score, the gated and the weak one dropped.
        assert_eq!(
            scan("블루타이거 청룡계획 백호계획"),
            [("PROJECT".to_owned(), 60)],
            "{ci}"
        );
        // A context word of another detector changes nothing for a detector without context words.
        assert_eq!(
            scan("프로젝트 코드명 블루타이거"),
            [("PROJECT".to_owned(), 60)],
            "{ci}"
        );
        assert_eq!(
            scan("프로젝트 청룡계획"),
            [("GATED_TERM".to_owned(), 90)],
            "{ci}"
        );
        assert_eq!(
            scan("코드명 백호계획"),
            [("BOOSTED_TERM".to_owned(), 90)],
            "{ci}"
        );
        // Past a blank line the word is out of the window.
        assert!(scan("프로젝트\n\n청룡계획").is_empty(), "{ci}");
    }
}

#[test]
fn errors_name_the_detector() {
    let err = Engine::new(&config(
        "[[detectors]]\nid = \"BROKEN\"\npattern = '(unclosed'\n",
    ))
    .unwrap_err();
    assert!(
        matches!(&err, DetectError::InvalidPattern { detector, .. } if detector == "BROKEN"),
        "{err}"
    );
    assert!(err.to_string().contains("BROKEN"));

    let err = Engine::new(&config(
        "[[detectors]]\nid = \"HUGE\"\npattern = '(?:[가-힣]{100}){300}'\n",
    ))
    .unwrap_err();
    assert!(
        matches!(&err, DetectError::PatternTooBig { detector, .. } if detector == "HUGE"),
        "{err}"
    );

    let err = Engine::new(&config(
        "[[detectors]]\nid = \"FILE\"\nterms_file = \"x.txt\"\n",
    ))
    .unwrap_err();
    assert!(
        matches!(&err, DetectError::UnresolvedTermsFile { detector } if detector == "FILE"),
        "{err}"
    );

    let err = Engine::new(&config("[[detectors]]\nid = \"EMPTY\"\npattern = 'a*'\n")).unwrap_err();
    assert!(
        matches!(&err, DetectError::InvalidSpec { detector, .. } if detector == "EMPTY"),
        "{err}"
    );

    let err = Engine::new(&config("[[detectors]]\nid = \"lower\"\npattern = 'x'\n")).unwrap_err();
    assert!(matches!(&err, DetectError::InvalidSpec { .. }), "{err}");

    assert!(toml::from_str::<DetectConfig>("[[detectors]]\nid = \"X\"\npatern = 'x'\n").is_err());
}

#[test]
fn terms_file_resolution_is_the_callers_io() {
    let mut cfg = config("[[detectors]]\nid = \"WORDS\"\nterms_file = \"words.txt\"\n");
    cfg.detectors[0]
        .resolve_terms_file(|p| {
            assert_eq!(p, std::path::Path::new("words.txt"));
            Ok::<_, std::io::Error>("# comment\n\nalpha project\n베타\n".to_owned())
        })
        .unwrap();
    let engine = Engine::new(&cfg).unwrap();
    assert_eq!(engine.scan("the alpha project and 베타").len(), 2);
}

/// One line per builtin entity (the security review's `F_all_entities.txt`).
const ALL_ENTITIES: &str = include_str!("data/detect/all_entities.txt");

/// A custom regex detector takes the engine off the trigger pass (every builtin then runs its own scan): the scanners
/// that read numbers after words — a road name without a province, a phone label, a split resident number — still
/// find what the builtin-only engine finds.
#[test]
fn a_custom_regex_keeps_the_number_scanners() {
    let text = "주소: 테헤란로 152 강남파이낸스센터\nPhone: (212) 736-4821\n주민번호 앞자리 850314 뒷자리 1308025";
    let custom = Engine::new(&config(
        "[[detectors]]\nid = \"TICKET_ID\"\npattern = 'TCK-[0-9]{6}'\n",
    ))
    .unwrap();
    let entities = |e: &Engine| {
        let mut v: Vec<_> = findings(e, text)
            .into_iter()
            .map(|f| (f.0, f.1, f.2))
            .collect();
        v.sort();
        v
    };
    let builtin = entities(&Engine::builtin().unwrap());
    assert_eq!(
        builtin.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["KR_ADDRESS", "KR_RRN", "PHONE"]
    );
    assert_eq!(entities(&custom), builtin);
}

fn findings(engine: &Engine, text: &str) -> Vec<(String, usize, usize, u32)> {
    engine
        .scan(text)
        .iter()
        .map(|f| {
            (
                f.entity.to_string(),
                f.start,
                f.end,
                (f.score * 100.0).round() as u32,
            )
        })
        .collect()
}

fn ids_toml(ids: &[&str]) -> String {
    let quoted: Vec<String> = ids.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// `enabled`, `disabled` and `thresholds` act per entity even where one builtin detector reports several (the
/// 13-digit number: RRN, FRN, CRN; context-gated numbers: bank account, health insurance): enabling one entity
/// reports exactly its findings of the full scan, disabling one removes exactly those.
#[test]
fn builtin_selection_is_per_entity_for_every_builtin() {
    let full = findings(&Engine::builtin().unwrap(), ALL_ENTITIES);
    for e in haetae::detect::BUILTIN_ENTITIES {
        let id = e.as_str();
        assert!(
            full.iter().any(|f| f.0 == id),
            "the sample text lacks {id}: {full:?}"
        );
        let only = Engine::new(&config(&format!(
            "[builtins]\nenabled = {}\n",
            ids_toml(&[id])
        )))
        .unwrap();
        let expect: Vec<_> = full.iter().filter(|f| f.0 == id).cloned().collect();
        assert_eq!(findings(&only, ALL_ENTITIES), expect, "enabled = [{id}]");
        let without = Engine::new(&config(&format!(
            "[builtins]\ndisabled = {}\n",
            ids_toml(&[id])
        )))
        .unwrap();
        let expect: Vec<_> = full.iter().filter(|f| f.0 != id).cloned().collect();
        assert_eq!(
            findings(&without, ALL_ENTITIES),
            expect,
            "disabled = [{id}]"
        );
    }
}

/// A threshold applies to its entity only, also for entities reported by a shared detector.
#[test]
fn thresholds_are_per_entity() {
    let full = findings(&Engine::builtin().unwrap(), ALL_ENTITIES);
    let mut checked = Vec::new();
    for (id, score) in full.iter().map(|f| (f.0.as_str(), f.3)) {
        if score >= 100 {
            continue;
        }
        checked.push(id);
        let strict = Engine::new(&config(&format!(
            "[builtins]\nthresholds = {{ {id} = {} }}\n",
            (score + 1) as f32 / 100.0
        )))
        .unwrap();
        let expect: Vec<_> = full.iter().filter(|f| f.0 != id).cloned().collect();
        assert_eq!(findings(&strict, ALL_ENTITIES), expect, "threshold of {id}");
    }
    for id in ["KR_BANK_ACCOUNT", "KR_HEALTH_INSURANCE", "KR_CRN"] {
        assert!(checked.contains(&id), "{id} not checked: {full:?}");
    }
}

/// A custom detector that stands in for a disabled builtin is not hidden by it: the builtin's findings are dropped
/// before custom findings settle their overlaps.
#[test]
fn a_disabled_builtin_does_not_hide_a_custom_detector() {
    let policy = "[[detectors]]\nid = \"STAFF\"\nterms = [\"홍길동\"]\n";
    let text = "성명: 홍길동";
    let with_person = Engine::new(&config(policy)).unwrap();
    assert_eq!(findings(&with_person, text)[0].0, "PERSON");
    let without = Engine::new(&config(&format!(
        "[builtins]\ndisabled = [\"PERSON\"]\n{policy}"
    )))
    .unwrap();
    assert_eq!(findings(&without, text), [("STAFF".to_owned(), 8, 17, 60)]);
}

/// Policy mistakes that cannot be meant are refused, naming the detector.
#[test]
fn policy_mistakes_are_refused() {
    let err = |toml_text: &str| Engine::new(&config(toml_text)).unwrap_err().to_string();
    let e = err("[[detectors]]\nid = \"KR_RRN\"\npattern = 'EMP-[0-9]{6}'\n");
    assert!(
        e.contains("KR_RRN") && e.contains("builtin entity id"),
        "{e}"
    );
    let e = err("[[detectors]]\nid = \"A\"\npattern = 'A[0-9]'\n\n[[detectors]]\nid = \"A\"\npattern = 'B[0-9]'\n");
    assert!(e.contains("duplicate detector id"), "{e}");
    let e = err("[[detectors]]\nid = \"X1\"\npattern = 'X[0-9]'\ncontext = [\"사번\", \"  \"]\n");
    assert!(e.contains("X1") && e.contains("blank"), "{e}");
    let e = err("[[detectors]]\nid = \"X1\"\nentity = \"credit card\"\npattern = 'X[0-9]'\n");
    assert!(e.contains("X1") && e.contains("entity"), "{e}");
    assert!(matches!(
        Engine::new(&config("[builtins]\nenabled = []\n")),
        Err(DetectError::NothingToDetect)
    ));
    assert!(matches!(
        Engine::new(&config(
            "[builtins]\nenabled = [\"EMAIL\"]\ndisabled = [\"EMAIL\"]\n"
        )),
        Err(DetectError::NothingToDetect)
    ));
    // Custom detectors alone are a valid configuration.
    Engine::new(&config(
        "[builtins]\nenabled = []\n\n[[detectors]]\nid = \"X1\"\npattern = 'X[0-9]'\n",
    ))
    .unwrap();
}

/// Near misses of builtin entity ids compile but are warned about.
#[test]
fn near_miss_entity_names_are_warned_about() {
    let c = config(
        "[[detectors]]\nid = \"X1\"\nentity = \"CREDIT_CRAD\"\npattern = 'X[0-9]'\n\n\
         [[detectors]]\nid = \"KR_EMP\"\npattern = 'E[0-9]'\n\n\
         [[detectors]]\nid = \"ACME_EMPLOYEE_ID\"\npattern = 'A[0-9]'\n\n\
         [[detectors]]\nid = \"Y1\"\nentity = \"CREDIT_CARD\"\npattern = 'Y[0-9]'\n",
    );
    Engine::new(&c).unwrap();
    let w = c.warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("X1") && w[0].contains("CREDIT_CARD"), "{w:?}");
    assert!(w[1].contains("KR_EMP") && w[1].contains("KR_"), "{w:?}");
}

/// A value's label (the nearest context keyword before it on its line, or its column's header) takes sides: a
/// keyword pulling the other way elsewhere in the window does not lower a labelled SSN below a strict threshold, and
/// the SSN keyword of the line above does not raise a part number. Without a label every keyword in the window counts.
#[test]
fn a_label_outweighs_keywords_pulling_the_other_way() {
    let strict = Engine::new(&config("[builtins]\nthresholds = { US_SSN = 0.6 }\n")).unwrap();
    let ssn = |text: &str| -> Vec<(String, u32)> {
        findings(&strict, text)
            .into_iter()
            .map(|(entity, s, e, score)| (format!("{entity} {}", &text[s..e]), score))
            .collect()
    };
    let one = |value: &str, score: u32| vec![(format!("US_SSN {value}"), score)];
    assert_eq!(
        ssn("Employee SSN: 512-48-7391\nPart no. 876-79-8770 rev 8"),
        one("512-48-7391", 85)
    );
    assert_eq!(
        ssn("Employee SSN 512-48-7391, version 2 of the form"),
        one("512-48-7391", 85)
    );
    assert_eq!(
        ssn("ssn,part no,qty\n512-48-7391,876-79-8770,3\n523-48-7391,886-79-8770,4"),
        [
            ("US_SSN 512-48-7391".to_owned(), 85),
            ("US_SSN 523-48-7391".to_owned(), 85)
        ]
    );
    assert!(ssn("Part no. 876-79-8770 (see the SSN form)").is_empty());
    // No keyword before it on its line: the SSN keyword after it counts, and so does a counter-keyword.
    assert_eq!(ssn("512-48-7391 is my SSN"), one("512-48-7391", 85));
    assert!(ssn("512-48-7391: SSN or order number?").is_empty());
}
