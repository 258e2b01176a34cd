//! `haetae scan` end to end: the built binary over stdin and files, `--jsonl`, `--json`, the table, `--policy`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its arguments (a policy mistake) exits without reading stdin: a broken pipe here is
    // its answer, not a failure.
    let mut input = child.stdin.take().unwrap();
    if let Err(e) = input.write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn jsonl_streams_one_line_per_input_with_byte_offsets() {
    let input = concat!(
        r#"{"id": 1, "text": "주민등록번호는 900101-1234568입니다"}"#,
        "\n",
        r#"{"id": "b", "text": "nothing here"}"#,
        "\n",
        r#"{"id": [3], "text": "call 010-1234-5678 or mail a@example.com"}"#,
        "\n",
    );
    let (code, out, err) = run(&["scan", "--jsonl"], input);
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["id"], 1);
    let f = &lines[0]["findings"][0];
    assert_eq!(f["entity"], "KR_RRN");
    let text = "주민등록번호는 900101-1234568입니다";
    let start = text.find("900101").unwrap();
    assert_eq!(f["start"], start);
    assert_eq!(f["end"], start + "900101-1234568".len());
    assert!(f["score"].as_f64().unwrap() >= 0.5);
    assert_eq!(lines[1]["id"], "b");
    assert_eq!(lines[1]["findings"].as_array().unwrap().len(), 0);
    let entities: Vec<&str> = lines[2]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["entity"].as_str().unwrap())
        .collect();
    assert_eq!(entities, ["KR_PHONE", "EMAIL"]);
    assert!(
        !out.contains("1234568"),
        "JSONL must carry offsets, not values"
    );
}

#[test]
fn jsonl_bad_line_is_an_error_naming_the_line() {
    let (code, _out, err) = run(
        &["scan", "--jsonl"],
        "{\"id\":1,\"text\":\"ok\"}\nnot json\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn json_document_for_files_with_classification() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    std::fs::write(&a, "TOP SECRET//NOFORN\n담당자 김철수님 010-1234-5678\n").unwrap();
    let b = dir.path().join("b.txt");
    std::fs::write(&b, "본 문서는 대외비입니다").unwrap();
    let (code, out, err) = run(
        &["scan", "--json", a.to_str().unwrap(), b.to_str().unwrap()],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(doc["inputs"][0]["classification"]["level"], "TOP_SECRET");
    assert_eq!(doc["inputs"][1]["classification"]["level"], "RESTRICTED");
    assert_eq!(doc["classification"]["level"], "TOP_SECRET");
    assert_eq!(doc["classification"]["personal_data"], true);
    assert_eq!(doc["classification"]["counts"]["KR_PHONE"], 1);
    assert_eq!(
        doc["inputs"][0]["findings"][0]["detector"],
        "marking.banner"
    );
}

#[test]
fn table_masks_values_and_fail_on_findings() {
    let (code, out, _) = run(
        &["scan", "--fail-on-findings"],
        "카드 4111 1111 1111 1111, 주민 900101-1234568\n",
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("CREDIT_CARD") && out.contains("KR_RRN"),
        "{out}"
    );
    assert!(out.contains("9*****-******8"), "{out}");
    assert!(
        !out.contains("1111 1111") && !out.contains("1234568"),
        "table leaked a value: {out}"
    );
    let (code, _, _) = run(&["scan", "--fail-on-findings"], "clean text\n");
    assert_eq!(code, 0);
}

#[test]
fn policy_adds_custom_detectors() {
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/custom-detectors.example.toml"
    );
    let input = "{\"id\":1,\"text\":\"사번 EMP-123456. 계약 C1234-56789\\n\\ncontract C1234-56788, Project Haetae\"}\n";
    let (code, out, err) = run(&["scan", "--policy", policy, "--jsonl"], input);
    assert_eq!(code, 0, "{err}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let entities: Vec<&str> = line["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["entity"].as_str().unwrap())
        .collect();
    assert_eq!(
        entities,
        ["ACME_EMPLOYEE_ID", "ACME_CONTRACT_NO", "PROJECT_CODENAME"]
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[detect.detectors]]\nid = \"X\"\npatern = 'a'\n").unwrap();
    let (code, _, err) = run(&["scan", "--policy", bad.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("patern"),
        "error should name the unknown key: {err}"
    );
}

/// A pipeline that writes one line and waits for its answer before writing the next must not deadlock: `--jsonl`
/// hands over its answers whenever it is about to wait for more input.
#[test]
fn jsonl_answers_each_line_before_waiting_for_the_next() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_haetae"))
        .args(["scan", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    for (i, text) in ["메일 kim@example.com", "clean text", "연락처 010-2345-6789"]
        .iter()
        .enumerate()
    {
        writeln!(stdin, "{}", serde_json::json!({"id": i, "text": text})).unwrap();
        stdin.flush().unwrap();
        // stdin stays open: the answer must come anyway (bounded wait, so a regression fails instead of hanging)
        let answer = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("no answer while stdin is still open");
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(v["id"], i);
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

fn data(name: &str) -> String {
    format!("{}/tests/data/scan/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// One unreadable input does not stop the others: a CP949 file is named on stderr with the `iconv` fix, the good
/// file is still reported (table and `--json`), and the exit status is 2. `-` is stdin; a directory is an error.
#[test]
fn a_bad_input_is_reported_and_the_others_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "연락처 010-2837-4651\n").unwrap();
    let good = good.to_str().unwrap();
    let cp949 = data("cp949_doc.txt");
    let (code, out, err) = run(&["scan", good, &cp949], "");
    assert_eq!(code, 2, "{err}");
    assert!(out.contains("KR_PHONE"), "{out}");
    assert!(
        err.contains("cp949_doc.txt")
            && err.contains("not UTF-8")
            && err.contains("iconv -f cp949 -t utf-8"),
        "{err}"
    );
    let (code, out, err) = run(&["scan", "--json", &cp949, good], "");
    assert_eq!(code, 2, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["inputs"].as_array().unwrap().len(), 1);
    assert_eq!(doc["inputs"][0]["findings"][0]["entity"], "KR_PHONE");
    assert!(doc["errors"][0]["source"]
        .as_str()
        .unwrap()
        .ends_with("cp949_doc.txt"));

    let (code, out, err) = run(&["scan", "--json", "-", good], "메일 kim@example.com");
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["inputs"][0]["source"], "-");
    assert_eq!(doc["inputs"][0]["findings"][0]["entity"], "EMAIL");

    let d = dir.path().to_str().unwrap();
    let (code, out, err) = run(&["scan", d, good], "");
    assert_eq!(code, 2);
    assert!(err.contains("is a directory"), "{err}");
    assert!(out.contains("KR_PHONE"), "{out}");
}

/// File names are untrusted: control characters are escaped in the table.
#[test]
fn file_names_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("e\u{1b}[31m.txt");
    std::fs::write(&evil, "010-2837-4651\n").unwrap();
    let (code, out, _) = run(&["scan", evil.to_str().unwrap()], "");
    assert_eq!(code, 0);
    assert!(
        !out.contains('\u{1b}') && out.contains("e\\u{1b}[31m.txt"),
        "{out:?}"
    );
}

/// Password previews show no punctuation structure and no tail (the review's samples).
#[test]
fn secret_previews_reveal_nothing_of_the_value() {
    let (code, out, err) = run(&["scan", &data("password_preview.txt")], "");
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("SECRET_KEY"))
        .collect();
    assert_eq!(rows.len(), 5, "{out}");
    for row in rows {
        let preview = row.rsplit("  ").next().unwrap();
        assert_eq!(preview, "********", "{row}");
    }
}

/// `--jsonl`: a bad line (not UTF-8, not JSON) is reported with its one line number and skipped, the rest is
/// answered, the exit status is 2; a leading BOM is accepted; ids are echoed exactly as given; findings name
/// their detector.
#[test]
fn jsonl_reports_bad_lines_and_keeps_going() {
    let (code, out, err) = run(&["scan", "--jsonl", &data("invalid_utf8_line3.jsonl")], "");
    assert_eq!(code, 2);
    assert!(err.contains("line 3") && err.contains("not UTF-8"), "{err}");
    let ids: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, [1, 2, 4]);

    let (code, out, err) = run(&["scan", "--jsonl", &data("bad_json_line4.jsonl")], "");
    assert_eq!(code, 2);
    assert!(err.contains("line 4") && !err.contains("line 2"), "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");

    let (code, out, err) = run(&["scan", "--jsonl", &data("bom.jsonl")], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("KR_PHONE") && out.contains("\"detector\""),
        "{out}"
    );

    let (code, out, err) = run(&["scan", "--jsonl", &data("ids.jsonl")], "");
    assert_eq!(code, 0, "{err}");
    let ids: Vec<&str> = out
        .lines()
        .map(|l| {
            let rest = l.strip_prefix("{\"id\":").unwrap();
            &rest[..rest.find(",\"findings\"").unwrap()]
        })
        .collect();
    assert_eq!(
        ids,
        [
            "12345678901234567890",
            "9007199254740993",
            "1.10",
            "\"\\ud83d\\ude00\"",
            "-0",
            "1e400"
        ]
    );
    let (_, out, _) = run(&["scan", "--jsonl"], "{\"text\":\"x\"}\n");
    assert_eq!(out.trim(), "{\"id\":null,\"findings\":[]}");
}

/// Policy warnings reach stderr; a policy that detects nothing is refused; TOML errors give a plain line number.
#[test]
fn policy_mistakes_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.toml");
    std::fs::write(
        &typo,
        "[[detectors]]\nid = \"X1\"\nentity = \"CREDIT_CRAD\"\npattern = 'EMP-[0-9]{6}'\n",
    )
    .unwrap();
    let (code, _, err) = run(&["scan", "--policy", typo.to_str().unwrap()], "EMP-123456");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning") && err.contains("CREDIT_CARD"),
        "{err}"
    );

    let none = dir.path().join("none.toml");
    std::fs::write(&none, "[builtins]\nenabled = []\n").unwrap();
    let (code, _, err) = run(&["scan", "--policy", none.to_str().unwrap()], "x");
    assert_eq!(code, 2);
    assert!(err.contains("detects nothing"), "{err}");

    let syntax = dir.path().join("syntax.toml");
    std::fs::write(&syntax, "[builtins]\n\n\nenabled = [\"EMAIL\" \"PHONE\"]\n").unwrap();
    let (code, _, err) = run(&["scan", "--policy", syntax.to_str().unwrap()], "x");
    assert_eq!(code, 2);
    assert!(err.contains("syntax.toml: line 4: "), "{err}");
}

/// The example policy's employee id does not match inside a longer number or word.
#[test]
fn example_policy_employee_id_needs_boundaries() {
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/custom-detectors.example.toml"
    );
    let (_, out, err) = run(
        &["scan", "--policy", policy, "--json"],
        "EMP-1234567\nXEMP-123456\n사번 EMP-123456\n",
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{err}"));
    let found: Vec<(u64, &str)> = doc["inputs"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["start"].as_u64().unwrap(), f["entity"].as_str().unwrap()))
        .collect();
    assert_eq!(found, [(31, "ACME_EMPLOYEE_ID")]);
}
