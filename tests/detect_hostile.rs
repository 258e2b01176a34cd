//! Hostile input for the detection engine: texts built so that many candidates sit inside one long match that is then
//! rejected or cut short (`-----BEGIN…` without `-----END`, `eyJeyJ…`, `xsk-xsk-…`, `SECRET//SECRET//…a`, one long line
//! of `SECRET`s). Each used to cost one pass over the rest of the run per candidate, quadratic in its length: 80 KB of
//! `SECRET//…a` took about 3 s, 16 MiB would have taken days. The throughput of each shape at two sizes is in
//! `benches/detect.rs` (`hostile`); these tests pin down what is found, so the linear paths stay correct.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haetae::detect::{CustomDetectorSpec, DetectConfig, Engine, Entity, Finding};

fn scan(text: &str) -> Vec<Finding> {
    Engine::builtin().unwrap().scan(text)
}

/// An engine with a custom regex: the builtin union then runs unanchored over the whole text (no trigger pass).
fn custom_regex_engine() -> Engine {
    let spec: CustomDetectorSpec =
        toml::from_str("id = \"TICKET\"\npattern = 'TCK-[0-9]{6}'\n").unwrap();
    Engine::new(&DetectConfig {
        detectors: vec![spec],
        ..DetectConfig::default()
    })
    .unwrap()
}

fn spans<'a>(text: &'a str, found: &[Finding]) -> Vec<(Entity, &'a str)> {
    found
        .iter()
        .map(|f| (f.entity.clone(), &text[f.start..f.end]))
        .collect()
}

const HEADER: &str = "-----BEGIN PRIVATE KEY-----";
/// A line of a key's body: a header alone counts as a key only with base64 after it (else it is a placeholder).
const BODY: &str = "MIIBOgIBAAJBAKj34GkxFhD90vcN";
const BLOCK: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----";

#[test]
fn pem_headers_without_a_footer_are_each_reported_alone() {
    // Headers with nothing after them are placeholders: none is a key, and each is read once.
    assert!(scan(&format!("{HEADER}\n").repeat(3000)).is_empty());
    let text = format!("{HEADER}\n{BODY}\n").repeat(3000);
    let found = scan(&text);
    assert_eq!(found.len(), 3000);
    for f in &found {
        assert_eq!(f.entity, Entity::SecretKey);
        assert_eq!(&text[f.start..f.end], HEADER);
    }
}

#[test]
fn a_pem_block_is_reported_whole_after_headers_it_cannot_reach() {
    // The `#` is outside the block alphabet: the first two headers cannot reach the footer, the third one can.
    let text = format!("{HEADER}\n{BODY}\n{HEADER}\n{BODY}\n#\n{BLOCK}\n");
    let found = scan(&text);
    assert_eq!(
        spans(&text, &found),
        vec![
            (Entity::SecretKey, HEADER),
            (Entity::SecretKey, HEADER),
            (Entity::SecretKey, BLOCK),
        ]
    );
    assert!(
        found[2].score > found[0].score,
        "a whole block scores above a lone header"
    );
}

#[test]
fn a_pem_block_spans_headers_in_its_alphabet_up_to_the_first_footer() {
    let text = format!("{}{BLOCK} {BLOCK}", format!("{HEADER}\n").repeat(500));
    let found = scan(&text);
    assert_eq!(found.len(), 2, "{:?}", spans(&text, &found));
    assert_eq!(found[0].start, 0);
    assert!(text[found[0].start..found[0].end].ends_with("-----END RSA PRIVATE KEY-----"));
    assert_eq!(&text[found[1].start..found[1].end], BLOCK);
}

#[test]
fn a_pem_footer_is_reached_from_headers_within_64_kib_of_it() {
    // 3,000 headers with bodies (~170 KB) in the block alphabet, then a block: a header more than 64 KiB before
    // the footer is reported alone; the first one within reach spans to the footer, and the headers inside that
    // block are part of it.
    let unit = format!("{HEADER}\n{BODY}\n");
    let text = format!("{}{BLOCK}", unit.repeat(3000));
    let footer = text.len() - "-----END RSA PRIVATE KEY-----".len();
    let found = scan(&text);
    let block = found.last().unwrap();
    assert_eq!(block.end, text.len());
    // The footer starts within reach of the block's header, not of the header before it.
    assert!(footer - block.start < 64 * 1024);
    assert!(footer - (block.start - unit.len()) >= 64 * 1024);
    assert_eq!(text[block.start..].find(HEADER), Some(0));
    for f in &found[..found.len() - 1] {
        assert_eq!(
            (f.entity.clone(), &text[f.start..f.end]),
            (Entity::SecretKey, HEADER)
        );
    }
    assert_eq!(found.len() - 1, block.start / unit.len());
}

/// Banners not in capitals on one long line (`top Secret//NOFORN-top Secret//NOFORN-…`): each ends at the next one's
/// first word, and every one is found, on both paths, however long the line.
#[test]
fn mixed_case_banners_on_one_long_line_are_each_found() {
    let unit = "top Secret//NOFORN-";
    let text = format!("{}a", unit.repeat(4000));
    for engine in [Engine::builtin().unwrap(), custom_regex_engine()] {
        let found = engine.scan(&text);
        assert_eq!(found.len(), 4000);
        for (k, f) in found.iter().enumerate() {
            assert_eq!(f.entity, Entity::ClassificationMarking);
            assert_eq!((f.start, f.end), (k * unit.len(), k * unit.len() + 18));
        }
    }
}

#[test]
fn a_jwt_starts_a_token_and_repeated_prefixes_inside_one_are_not_starts() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    assert_eq!(
        spans(&format!("Bearer {jwt}"), &scan(&format!("Bearer {jwt}"))),
        vec![(Entity::SecretKey, jwt)]
    );
    for glued in [
        format!("abc{jwt}"),
        format!("abc-{jwt}"),
        format!("x_{jwt}"),
    ] {
        assert!(scan(&glued).is_empty(), "inside a longer token: {glued}");
    }
    for unit in ["eyJ", "eyJ-", "eyJ_"] {
        let text = format!("{}é", unit.repeat(20_000));
        assert!(scan(&text).is_empty());
    }
}

#[test]
fn rejected_runs_stay_rejected_and_short_findings_after_them_are_still_found() {
    // Each of these is far past the re-scan budget: from there on, searches read a bounded window, and a phone
    // number, an RRN, an e-mail address and a custom ticket id after the run are found exactly as in ordinary text.
    let tail =
        " 연락처 010-2345-6789, 주민등록번호 900101-1234567, minjun.kim@example.co.kr TCK-123456";
    let engines = [Engine::builtin().unwrap(), custom_regex_engine()];
    for (unit, end) in [
        ("xsk-", ""),
        ("xoxb-xoxb-", "_"),
        ("SECRET//", "a"),
        ("SECRET// ", "a"),
        ("CUI//", "a"),
        ("password=********", ""),
        ("auth = ('", ""),
        ("HTTPBasicAuth('u', ", ""),
        ("받는 사람: ", ""),
        ("Cc: x@y, ", ""),
        ("참조:x@y;", ""),
        ("Secret//", "a"),
        ("Secret//x-", "a"),
        ("\\uac00", ""),
        ("\\u00a0a", ""),
        ("\\\\", ""),
        ("\\\"", ""),
    ] {
        let text = format!("{}{end}{tail}", unit.repeat(80_000 / unit.len()));
        for (i, engine) in engines.iter().enumerate() {
            let found = engine.scan(&text);
            let mut entities: Vec<String> = found.iter().map(|f| f.entity.to_string()).collect();
            if i == 0 {
                entities.push("TICKET".to_owned()); // the builtin engine has no such detector
            }
            assert_eq!(
                entities,
                ["KR_PHONE", "KR_RRN", "EMAIL", "TICKET"],
                "engine {i}, after {unit:?} × n: {:?}",
                spans(&text, &found)
            );
        }
    }
}

/// A line of 10,000 `word`s marks nothing; between two such lines, `banner` on its own line is the one marking.
fn only_the_lone_banner_is_found(word: &str, banner: &str, marking: &str) {
    let line = word.repeat(10_000);
    assert!(scan(&line).is_empty());
    let text = format!("{line}\n{banner}\n{line}");
    let found = scan(&text);
    assert_eq!(
        spans(&text, &found),
        vec![(Entity::ClassificationMarking, marking)]
    );
}

#[test]
fn a_marking_alone_on_its_line_is_found_on_a_long_line_of_markings_none_is() {
    only_the_lone_banner_is_found("SECRET ", "  SECRET  ", "SECRET");
}

/// The same for the title-case banner, which reads at most a short reach of its line each way.
#[test]
fn a_title_case_banner_alone_on_its_line_is_found_beside_a_long_line_of_them() {
    only_the_lone_banner_is_found("Confidential ", "Acme Corp Confidential", "Confidential");
}

/// And for the `극비` stamp, which reads its line within a short reach too.
#[test]
fn a_geukbi_stamp_alone_on_its_line_is_found_beside_a_long_line_of_them() {
    only_the_lone_banner_is_found("극비리 ", "극비", "극비");
    // The line's read ends inside a character after `극비` (an odd count of ASCII bytes, then Hangul): no panic.
    assert!(scan(&format!("극비 a{}", "가".repeat(100))).is_empty());
}

/// A scan with a deadline stops at it and says so; with time to spare it finds exactly what the plain scan finds.
#[test]
fn a_scan_with_a_deadline_gives_up_at_it_and_otherwise_changes_nothing() {
    use std::time::{Duration, Instant};
    // About 2 MB of the slowest shape on the unanchored path (~0.7 MB/s in release, far slower in debug): whole
    // seconds of scanning, against a deadline of 10 ms.
    let hostile = "xsk-".repeat(500_000);
    for engine in [Engine::builtin().unwrap(), custom_regex_engine()] {
        let mut scratch = engine.scratch();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(10);
        assert!(matches!(
            engine.scan_segment_until(&hostile, 0, &mut scratch, &mut out, deadline),
            Err(haetae::detect::DetectError::DeadlineExceeded)
        ));
        // A text that is all folds (12 MB of escaped Hangul: ~100 ms of folding before any scan loop runs) stops in
        // the normaliser, and the scratch is fine afterwards.
        out.clear();
        let escaped = "\\uac00".repeat(2_000_000);
        let deadline = Instant::now() + Duration::from_millis(1);
        assert!(matches!(
            engine.scan_segment_until(&escaped, 0, &mut scratch, &mut out, deadline),
            Err(haetae::detect::DetectError::DeadlineExceeded)
        ));
        assert!(out.is_empty());
        // A deadline already past: nothing is scanned.
        out.clear();
        assert!(engine
            .scan_segment_until("010-2345-6789", 0, &mut scratch, &mut out, Instant::now())
            .is_err());
        // The same scratch, reused with time to spare, gives the plain scan's findings.
        let text = format!(
            "연락처 010-2345-6789, 주민등록번호 900101-1234567. {BLOCK}\nTCK-123456 {}",
            format!("{HEADER}\n{BODY}\n").repeat(50)
        );
        out.clear();
        let far = Instant::now() + Duration::from_secs(3600);
        engine
            .scan_segment_until(&text, 7, &mut scratch, &mut out, far)
            .unwrap();
        let mut plain = Vec::new();
        engine.scan_segment(&text, 7, &mut engine.scratch(), &mut plain);
        assert_eq!(out, plain);
        assert!(out.len() >= 50, "{}", out.len());
    }
}

/// The gateway's deadline counts the scanning thread's CPU time: time spent off the CPU (waiting for a core on a busy
/// machine; here, asleep) does not use it up, while scanning does.
#[test]
fn a_thread_cpu_deadline_counts_scanning_not_waiting() {
    use haetae::detect::Deadline;
    use std::time::Duration;
    let engine = Engine::builtin().unwrap();
    let mut scratch = engine.scratch();
    let mut out = Vec::new();
    let deadline = Deadline::thread_cpu(Duration::from_millis(50));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!deadline.passed(), "sleeping used no CPU");
    engine
        .scan_segment_until("연락처 010-2345-6789", 0, &mut scratch, &mut out, deadline)
        .unwrap();
    assert_eq!(out.len(), 1);
    // Seconds of scanning against 10 ms of CPU: it gives up.
    let hostile = "xsk-".repeat(500_000);
    out.clear();
    let deadline = Deadline::thread_cpu(Duration::from_millis(10));
    assert!(matches!(
        engine.scan_segment_until(&hostile, 0, &mut scratch, &mut out, deadline),
        Err(haetae::detect::DetectError::DeadlineExceeded)
    ));
    assert!(deadline.passed());
}

/// Past the budget, the unanchored union reads 512-byte windows: keys (matches of variable length) at every shift
/// against that grid are still found whole, and only once.
#[test]
fn variable_length_findings_across_window_ends_are_found_whole_after_a_hostile_run() {
    let key = "sk-proj-abcdefghijklmnopqrstuvwx12";
    let engines = [Engine::builtin().unwrap(), custom_regex_engine()];
    for unit in ["xsk-", "SECRET//"] {
        let run = unit.repeat(20_000 / unit.len());
        for shift in (0..300).step_by(41) {
            let text = format!(
                "{run}a{} {key} 그리고 {key}. {}010-2345-6789",
                " ".repeat(shift),
                "가".repeat(shift / 3)
            );
            for (i, engine) in engines.iter().enumerate() {
                let found = engine.scan(&text);
                let got: Vec<(Entity, &str)> = spans(&text, &found);
                assert_eq!(
                    got,
                    vec![
                        (Entity::SecretKey, key),
                        (Entity::SecretKey, key),
                        (Entity::KrPhone, "010-2345-6789"),
                    ],
                    "engine {i}, {unit:?} run, shift {shift}"
                );
            }
        }
    }
}

/// In ordinary text the unanchored union (custom regexes present) reads 1 MiB windows overlapping by 64 KiB, so
/// that no single search can read far: findings straddling a window's end are found whole, exactly as the trigger
/// pass (builtins only) finds them.
#[test]
fn findings_straddling_the_unanchored_windows_are_found_whole() {
    const WINDOW: usize = 1 << 20;
    let key = "sk-proj-abcdefghijklmnopqrstuvwx12";
    let engines = [Engine::builtin().unwrap(), custom_regex_engine()];
    for before_end in [1, 3, 20, 34, 35, 200] {
        let mut text = "hello world ".repeat((WINDOW - before_end) / 12);
        text.push_str(&" ".repeat(WINDOW - before_end - text.len()));
        text.push_str(key);
        text.push_str(" TCK-123456 010-2345-6789 ");
        for (i, engine) in engines.iter().enumerate() {
            let found = engine.scan(&text);
            let mut got: Vec<(Entity, &str)> = spans(&text, &found);
            if i == 0 {
                got.insert(1, (Entity::Custom("TICKET".into()), "TCK-123456"));
            }
            assert_eq!(
                got,
                vec![
                    (Entity::SecretKey, key),
                    (Entity::Custom("TICKET".into()), "TCK-123456"),
                    (Entity::KrPhone, "010-2345-6789"),
                ],
                "engine {i}, key starting {before_end} bytes before the window's end"
            );
            assert_eq!(found[0].start, WINDOW - before_end);
        }
    }
}

/// Name labels as table header cells: a long line of them (each `성명 | 김철` is also a label and its value, whose
/// header-row check reads a bounded distance only), and table after table with no blank line between them (each
/// later header is a row of the first table, which is read once).
#[test]
fn table_labels_and_headers_stay_linear_and_are_found() {
    let line = "| 성명 | 김철 ".repeat(20_000);
    let found = scan(&line);
    assert_eq!(found.len(), 20_000);
    assert!(found.iter().all(|f| &line[f.start..f.end] == "김철"));

    let table =
        "| 성명 | 이름 | 성함 |\n|---|---|---|\n| 김철수 | 이영희 | 박민수 |\n".repeat(5_000);
    let found = scan(&table);
    assert_eq!(found.len(), 15_000);
    assert!(found.iter().all(|f| f.entity == Entity::Person
        && ["김철수", "이영희", "박민수"].contains(&&table[f.start..f.end])));
}

/// Comma-separated tables: a header line of thousands of labels (longer than a table line: not a table), a header of
/// 1,300 `Name` cells just under the line limit over rows of as many cells (at most 8 columns are read, each row once
/// per column), stacked tables with no blank line between them (each later header is a row of the first), and a row
/// that is one long quote.
#[test]
fn csv_tables_stay_linear_and_are_found() {
    let long = format!("{}\n{}", "성명,".repeat(20_000), "김철수,".repeat(20_000));
    assert!(scan(&long).is_empty());

    let cells = 1_300;
    let header = vec!["Name"; cells].join(",");
    let row = vec!["Li Wu"; cells].join(",");
    assert!(row.len() < 8192);
    let table = format!("{header}\n{}", format!("{row}\n").repeat(100));
    let found = scan(&table);
    assert_eq!(found.len(), 8 * 100);
    assert!(found
        .iter()
        .all(|f| f.entity == Entity::Person && &table[f.start..f.end] == "Li Wu"));

    let stacked = "번호,성명\n1,김철수\n".repeat(5_000);
    let found = scan(&stacked);
    assert_eq!(found.len(), 5_000);
    assert!(found.iter().all(|f| &stacked[f.start..f.end] == "김철수"));

    let quotes = format!("번호,성명\n{}\n1,김철수\n", "\"".repeat(8_000));
    assert!(scan(&quotes).is_empty());
}

/// Key/value rows of vertical tables (each label that opens its line reads its line and the two around it once) and
/// `First Name`/`Last Name` headers (each part's label counts the parts on its line, at most 8 columns per line):
/// every row is found once, and a header line of part labels just under the line limit is read 8 times at most.
#[test]
fn key_value_rows_and_name_part_headers_stay_linear_and_are_found() {
    let rows = "Name,John Smith\n".repeat(5_000);
    let found = scan(&rows);
    assert_eq!(found.len(), 5_000);
    assert!(found.iter().all(|f| &rows[f.start..f.end] == "John Smith"));

    let pairs = "First Name,Li\nLast Name,Wu\n".repeat(5_000);
    let found = scan(&pairs);
    assert_eq!(found.len(), 10_000);
    assert!(found
        .iter()
        .all(|f| ["Li", "Wu"].contains(&&pairs[f.start..f.end])));

    let cells = 760;
    let header = vec!["First Name,Last Name"; cells / 2].join(",");
    let row = vec!["Li"; cells].join(",");
    assert!(header.len() < 8192);
    let table = format!("{header}\n{}", format!("{row}\n").repeat(100));
    let found = scan(&table);
    assert_eq!(found.len(), 8 * 100);
    assert!(found.iter().all(|f| &table[f.start..f.end] == "Li"));
}

#[test]
fn letter_closings_in_one_long_json_line_are_each_found_once() {
    // Every closing looks back a bounded stretch for its line's start (here: the string's opening quote), not to the
    // start of the line, which this text never leaves.
    let unit = r#"{"body": "Best regards,\nJohn Smith"}, "#;
    let text = unit.repeat(20_000);
    let found = scan(&text);
    assert_eq!(found.len(), 20_000);
    assert!(found
        .iter()
        .all(|f| f.entity == Entity::Person && &text[f.start..f.end] == "John Smith"));
    // After a lead longer than a word or two, no closing.
    let long = r#"{"body": "we send our very best regards,\nJohn Smith"}"#;
    assert!(scan(long).is_empty());
}
