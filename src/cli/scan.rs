//! `haetae scan`: run the detection engine over files or stdin and report findings for security teams.
//!
//! Output: a readable table with masked previews (default), one JSON document (`--json`), or streaming JSONL
//! (`--jsonl`: each input line `{"id": ..., "text": ...}` → one output line `{"id": ..., "findings": [...]}`, constant
//! memory). Offsets are UTF-8 byte offsets. Must never print an unmasked matched value: the table shows masked
//! previews (a secret shows at most its well-known prefix), JSON/JSONL carry offsets only; error messages name the
//! input and line, never its text. An input that cannot be read (missing, a directory, not UTF-8) or a bad `--jsonl`
//! line is reported on stderr and skipped: every other input is still scanned and printed, and the exit status is 2.

use std::io::{BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::detect::{classify, Classification, Engine, Entity, Finding};

/// Arguments of `haetae scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Policy file (TOML): its `[detect]` table (or the whole file) is a detector configuration — builtin selection,
    /// thresholds and custom detectors.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Print one JSON document for all inputs.
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// Streaming mode: every input line is `{"id": ..., "text": ...}`; prints one `{"id", "findings"}` line each.
    #[arg(long)]
    pub jsonl: bool,
    /// Exit with status 1 when anything is found (0 otherwise; 2 when an input could not be scanned).
    #[arg(long)]
    pub fail_on_findings: bool,
    /// Files to scan (`-` is standard input); standard input when none. Directories are not walked.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
struct JsonFinding<'a> {
    entity: &'a str,
    start: usize,
    end: usize,
    score: f64,
    detector: &'a str,
}

fn json_findings(findings: &[Finding]) -> Vec<JsonFinding<'_>> {
    findings
        .iter()
        .map(|f| JsonFinding {
            entity: f.entity.as_str(),
            start: f.start,
            end: f.end,
            score: (f64::from(f.score) * 100.0).round() / 100.0,
            detector: &f.detector,
        })
        .collect()
}

/// One `--jsonl` input line. `id` is optional (echoed as `null` when absent) and kept as the raw JSON it was given,
/// so it is echoed byte for byte (`1.10` stays `1.10`); `text` is what is scanned, so it is required.
#[derive(Debug, Deserialize)]
struct JsonlIn<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    text: String,
}

#[derive(Debug, Serialize)]
struct JsonlOut<'a> {
    id: Option<&'a RawValue>,
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonInput<'a> {
    source: &'a str,
    bytes: usize,
    findings: Vec<JsonFinding<'a>>,
    classification: Classification,
}

#[derive(Debug, Serialize)]
struct JsonError<'a> {
    source: &'a str,
    error: &'a str,
}

#[derive(Debug, Serialize)]
struct JsonDoc<'a> {
    inputs: Vec<JsonInput<'a>>,
    classification: Classification,
    /// Inputs that could not be scanned (only present when there are some).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<JsonError<'a>>,
}

/// Where an input comes from: standard input (no file arguments, or `-`) or a file.
enum Source<'a> {
    Stdin,
    File(&'a Path),
}

fn sources(files: &[PathBuf]) -> Vec<Source<'_>> {
    if files.is_empty() {
        return vec![Source::Stdin];
    }
    files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                Source::Stdin
            } else {
                Source::File(f)
            }
        })
        .collect()
}

impl Source<'_> {
    /// The name shown in output and messages, with control characters escaped (a file name is untrusted text).
    fn name(&self) -> String {
        match self {
            Source::Stdin => "-".to_owned(),
            Source::File(p) => printable(&p.to_string_lossy()),
        }
    }
}

/// Counts what went wrong; the run ends with exit status 2 when anything did.
#[derive(Default)]
struct Problems(usize);

impl Problems {
    fn report(&mut self, source: &str, message: &str) {
        eprintln!("haetae: error: {source}: {message}");
        self.0 += 1;
    }
}

/// Run `haetae scan`.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let engine = match &args.policy {
        Some(path) => {
            let snapshot = crate::policy::load_and_compile(path)?;
            for w in &snapshot.warnings {
                eprintln!(
                    "haetae: warning: policy {}: {w}",
                    printable(&path.to_string_lossy())
                );
            }
            snapshot.engine
        }
        None => Engine::builtin()?,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut problems = Problems::default();
    let found = if args.jsonl {
        run_jsonl(&engine, &args.files, &mut out, &mut problems)?
    } else {
        run_documents(&engine, &args, &mut out, &mut problems)?
    };
    out.flush()?;
    Ok(if problems.0 > 0 {
        eprintln!(
            "haetae: {} error(s); everything else was scanned",
            problems.0
        );
        ExitCode::from(2)
    } else if args.fail_on_findings && found {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Open an input for reading; a directory is refused (not walked).
fn open(source: &Source<'_>) -> Result<Box<dyn Read>, String> {
    match source {
        Source::Stdin => Ok(Box::new(std::io::stdin().lock())),
        Source::File(p) => {
            if p.is_dir() {
                return Err(
                    "is a directory (directories are not walked: pass its files, e.g. `dir/*`)"
                        .to_owned(),
                );
            }
            std::fs::File::open(p)
                .map(|f| Box::new(f) as Box<dyn Read>)
                .map_err(|e| format!("cannot open: {e}"))
        }
    }
}

fn run_jsonl(
    engine: &Engine,
    files: &[PathBuf],
    out: &mut impl Write,
    problems: &mut Problems,
) -> anyhow::Result<bool> {
    let mut scratch = engine.scratch();
    let mut findings = Vec::new();
    let mut found = false;
    let mut line = Vec::new();
    for source in sources(files) {
        let name = source.name();
        let mut reader = match open(&source) {
            Ok(r) => std::io::BufReader::new(r),
            Err(e) => {
                problems.report(&name, &e);
                continue;
            }
        };
        let mut n = 0usize;
        loop {
            line.clear();
            // About to wait for input: hand over every answer so far, so a pipeline that writes one line and waits
            // for its answer never deadlocks (bulk input is still written in large blocks).
            if reader.buffer().is_empty() {
                out.flush()?;
            }
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    problems.report(&name, &format!("line {}: cannot read: {e}", n + 1));
                    break;
                }
            }
            n += 1;
            let mut bytes = &line[..];
            if n == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            let text = match simdutf8::compat::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    problems.report(
                        &name,
                        &format!(
                            "line {n}: not UTF-8 (invalid byte at column {}); the line is skipped",
                            e.valid_up_to() + 1
                        ),
                    );
                    continue;
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            let input: JsonlIn<'_> = match serde_json::from_str(text) {
                Ok(i) => i,
                Err(e) => {
                    problems.report(&name, &jsonl_error(n, &e));
                    continue;
                }
            };
            engine.scan_into(&input.text, &mut scratch, &mut findings);
            found |= !findings.is_empty();
            serde_json::to_writer(
                &mut *out,
                &JsonlOut {
                    id: input.id,
                    findings: json_findings(&findings),
                },
            )?;
            out.write_all(b"\n")?;
        }
    }
    Ok(found)
}

/// A bad `--jsonl` line: its line number in the input (one line is one document, so serde's own position is
/// given as a column only), what was expected and the parser's message without its position.
fn jsonl_error(n: usize, e: &serde_json::Error) -> String {
    let message = e.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m);
    let column = if e.line() == 1 {
        format!(", column {}", e.column())
    } else {
        String::new()
    };
    format!(
        "line {n}{column}: expected {{\"id\": ..., \"text\": \"...\"}}: {message}; the line is skipped"
    )
}

/// Why `bytes` are not UTF-8, and how to fix it (most non-UTF-8 Korean text is CP949/EUC-KR).
fn not_utf8(bytes: &[u8], at: usize) -> String {
    if looks_like_cp949(bytes) {
        format!(
            "not UTF-8 (invalid byte at offset {at}); it looks like CP949/EUC-KR: convert with \
             `iconv -f cp949 -t utf-8`"
        )
    } else {
        format!(
            "not UTF-8 (invalid byte at offset {at}); convert it to UTF-8 first (Korean legacy text: \
             `iconv -f cp949 -t utf-8`)"
        )
    }
}

/// Every non-ASCII byte is part of a CP949 double-byte pair (lead 0x81–0xFE, trail 0x41–0x5A, 0x61–0x7A, 0x81–0xFE).
fn looks_like_cp949(b: &[u8]) -> bool {
    let mut i = 0;
    let mut pairs = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            i += 1;
            continue;
        }
        let trail_ok = b
            .get(i + 1)
            .is_some_and(|t| matches!(t, 0x41..=0x5A | 0x61..=0x7A | 0x81..=0xFE));
        if !(0x81..=0xFE).contains(&c) || !trail_ok {
            return false;
        }
        pairs += 1;
        i += 2;
    }
    pairs > 0
}

fn read_input(source: &Source<'_>) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    open(source)?
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    Ok(bytes)
}

/// `bytes` as text, or the error naming where it stops being UTF-8. SIMD validation (`simdutf8`): std's validator
/// walks Hangul byte by byte and took ~30 % of `haetae scan` on a 50 MB Korean file.
fn utf8_text(bytes: &[u8]) -> Result<&str, String> {
    simdutf8::compat::from_utf8(bytes).map_err(|e| not_utf8(bytes, e.valid_up_to()))
}

fn run_documents(
    engine: &Engine,
    args: &ScanArgs,
    out: &mut impl Write,
    problems: &mut Problems,
) -> anyhow::Result<bool> {
    // Read everything first, then take each as text (validated once, borrowed from its buffer), in order.
    let read: Vec<(String, Result<Vec<u8>, String>)> = sources(&args.files)
        .into_iter()
        .map(|source| (source.name(), read_input(&source)))
        .collect();
    let mut inputs: Vec<(String, &str)> = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    for (name, bytes) in &read {
        match bytes.as_deref().map_err(String::clone).and_then(utf8_text) {
            Ok(text) => inputs.push((name.clone(), text)),
            Err(e) => {
                problems.report(name, &e);
                failed.push((name.clone(), e));
            }
        }
    }
    let results: Vec<(Vec<Finding>, Classification)> = inputs
        .iter()
        .map(|(_, text)| {
            let f = engine.scan(text);
            let c = classify(text, &f);
            (f, c)
        })
        .collect();
    let mut total = Classification::default();
    for (_, c) in &results {
        total.merge(c);
    }
    let found = results.iter().any(|(f, _)| !f.is_empty());
    if args.json {
        let doc = JsonDoc {
            inputs: inputs
                .iter()
                .zip(&results)
                .map(|((source, text), (f, c))| JsonInput {
                    source,
                    bytes: text.len(),
                    findings: json_findings(f),
                    classification: c.clone(),
                })
                .collect(),
            classification: total,
            errors: failed
                .iter()
                .map(|(source, error)| JsonError { source, error })
                .collect(),
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        out.write_all(b"\n")?;
        return Ok(found);
    }
    write_table(&inputs, &results, &total, out)?;
    Ok(found)
}

fn write_table(
    inputs: &[(String, &str)],
    results: &[(Vec<Finding>, Classification)],
    total: &Classification,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<24} {:>9} {:>9}  {:<24} {:>5}  PREVIEW",
        "SOURCE", "START", "END", "ENTITY", "SCORE"
    )?;
    for ((source, text), (findings, _)) in inputs.iter().zip(results) {
        for f in findings {
            let value = text.get(f.start..f.end).unwrap_or("");
            writeln!(
                out,
                "{:<24} {:>9} {:>9}  {:<24} {:>5.2}  {}",
                truncate(source, 24),
                f.start,
                f.end,
                f.entity.as_str(),
                f.score,
                mask_preview(&f.entity, value)
            )?;
        }
    }
    let n: usize = total.counts.values().sum();
    writeln!(out)?;
    writeln!(
        out,
        "classification: {}  personal data: {}  secrets: {}  findings: {n}",
        total.level.as_str(),
        if total.personal_data { "yes" } else { "no" },
        if total.secrets { "yes" } else { "no" },
    )?;
    for (entity, count) in &total.counts {
        writeln!(out, "  {entity:<24} {count}")?;
    }
    Ok(())
}

/// `s` with control characters (C0, DEL, C1) and bidirectional overrides escaped as `\u{..}`, so an input's name
/// cannot move the cursor, recolour or reorder the terminal it is printed to.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let tail: String = s
        .chars()
        .rev()
        .take(max - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// Well-known secret prefixes a preview may show: they name the kind of credential, not its value.
const SECRET_PREFIXES: &[&str] = &[
    "sk-proj-",
    "sk-ant-",
    "sk-",
    "github_pat_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "AKIA",
    "ASIA",
    "AIza",
    "eyJ",
];

/// The fixed mask of a preview: its length says nothing about the value's.
const MASK: &str = "********";

/// A preview that never reveals the value or most of it:
/// * markings are shown as is (they are labels, not data);
/// * secrets (`SECRET_KEY`) and custom entities (whose format the table cannot know) show at most a well-known
///   prefix (`sk-`, `ghp_`, a PEM header) and a fixed mask: no length, punctuation or tail;
/// * builtin personal data keep their format's separators (`-`, `.`, space, `@`, `(`, `)`, `+`, `/`, `:`), the
///   first letter or digit (from 3 significant characters) and the last (from 6), and mask everything else,
///   punctuation outside those separators included (at most 16 mask characters, then the length).
pub fn mask_preview(entity: &Entity, value: &str) -> String {
    if *entity == Entity::ClassificationMarking {
        return value
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
    }
    if *entity == Entity::SecretKey || !entity.is_builtin() {
        if let Some(rest) = value.strip_prefix("-----BEGIN ") {
            if let Some(end) = rest.find("-----") {
                let header = &value[..11 + end + 5];
                if !header.contains(['\n', '\r']) {
                    return format!("{header} {MASK}");
                }
            }
        }
        let prefix = if *entity == Entity::SecretKey {
            SECRET_PREFIXES
                .iter()
                .find(|p| value.starts_with(*p) && value.len() >= p.len() + 8)
                .copied()
                .unwrap_or("")
        } else {
            ""
        };
        return format!("{prefix}{MASK}");
    }
    let separator = |c: char| matches!(c, '-' | '.' | ' ' | '@' | '(' | ')' | '+' | '/' | ':');
    let chars: Vec<char> = value.chars().collect();
    let significant: Vec<usize> = (0..chars.len())
        .filter(|&i| !separator(chars[i]) && !chars[i].is_whitespace())
        .collect();
    let keep_first = significant.len() >= 3;
    let keep_last = significant.len() >= 6;
    let mut out = String::new();
    let mut masked = 0usize;
    for (i, &c) in chars.iter().enumerate() {
        let is_first = keep_first && significant.first() == Some(&i);
        let is_last = keep_last && significant.last() == Some(&i);
        if is_first || is_last {
            if c.is_alphanumeric() {
                out.push(c);
            } else {
                out.push('*');
            }
        } else if c.is_whitespace() {
            if masked <= 16 {
                out.push(' ');
            }
        } else if separator(c) {
            if masked <= 16 {
                out.push(c);
            }
        } else {
            masked += 1;
            if masked <= 16 {
                out.push('*');
            }
        }
    }
    if masked > 16 {
        out.push_str(&format!(" [{} chars]", chars.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_mask_values() {
        assert_eq!(
            mask_preview(&Entity::KrRrn, "900101-1234568"),
            "9*****-******8"
        );
        assert_eq!(mask_preview(&Entity::Person, "김철수"), "김**");
        assert_eq!(mask_preview(&Entity::Person, "홍길"), "**");
        assert_eq!(mask_preview(&Entity::Email, "ab@x.io"), "a*@*.**");
        assert_eq!(
            mask_preview(&Entity::KrPhone, "010-1234-5678"),
            "0**-****-***8"
        );
        assert_eq!(
            mask_preview(&Entity::ClassificationMarking, "TOP SECRET"),
            "TOP SECRET"
        );
    }

    /// Secrets show a known prefix at most, never their punctuation, length or tail.
    #[test]
    fn secret_previews_show_only_a_known_prefix() {
        for (value, preview) in [
            ("a!b@c#d$e%f", "********"),
            ("1q2w3e4r!@", "********"),
            ("Qw3rty!2024prod", "********"),
            ("sk-proj-abcdefghijklmnopqrstuvwx12", "sk-proj-********"),
            ("ghp_0123456789abcdefghijABCDEFGHIJ012345", "ghp_********"),
            ("sk-abc", "********"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "-----BEGIN RSA PRIVATE KEY----- ********",
            ),
        ] {
            assert_eq!(mask_preview(&Entity::SecretKey, value), preview, "{value}");
        }
        let custom = Entity::Custom(std::sync::Arc::from("ACME_PIN"));
        assert_eq!(mask_preview(&custom, "sk-12!@34"), "********");
    }

    /// Punctuation inside personal data that is not a format separator is masked, not shown.
    #[test]
    fn odd_punctuation_in_personal_data_is_masked() {
        let p = mask_preview(&Entity::Email, "a!b#c$d%e@x.io");
        assert!(!p.contains(['!', '#', '$', '%']), "{p}");
    }

    #[test]
    fn names_are_printable() {
        assert_eq!(
            printable("evil_\u{1b}[31mname.txt"),
            "evil_\\u{1b}[31mname.txt"
        );
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(printable("정상.txt"), "정상.txt");
    }

    #[test]
    fn cp949_is_recognised() {
        // "주민번호" in CP949
        assert!(looks_like_cp949(b"\xC1\xD6\xB9\xCE\xB9\xF8\xC8\xA3 900101"));
        assert!(!looks_like_cp949(b"plain ascii"));
        assert!(!looks_like_cp949(b"\xff\xfe\x00"));
    }
}
