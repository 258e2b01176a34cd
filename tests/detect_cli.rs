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
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
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
