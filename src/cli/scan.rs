//! `haetae scan`: run the detection engine over files or stdin and report findings for security teams.
//!
//! Output: a readable table with masked previews (default), one JSON document (`--json`), or streaming JSONL
//! (`--jsonl`: each input line `{"id": ..., "text": ...}` → one output line `{"id": ..., "findings": [...]}`, constant
//! memory). Offsets are UTF-8 byte offsets. Must never print an unmasked matched value: the table shows masked
//! previews, JSON/JSONL carry offsets only.

use std::io::{BufRead, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

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
    /// Exit with status 1 when anything is found (0 otherwise).
    #[arg(long)]
    pub fail_on_findings: bool,
    /// Files to scan; standard input when none.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
struct JsonFinding<'a> {
    entity: &'a str,
    start: usize,
    end: usize,
    score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    detector: Option<&'a str>,
}

fn json_findings(findings: &[Finding], with_detector: bool) -> Vec<JsonFinding<'_>> {
    findings
        .iter()
        .map(|f| JsonFinding {
            entity: f.entity.as_str(),
            start: f.start,
            end: f.end,
            score: (f64::from(f.score) * 100.0).round() / 100.0,
            detector: with_detector.then_some(&*f.detector),
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct JsonlIn {
    #[serde(default)]
    id: serde_json::Value,
    text: String,
}

#[derive(Debug, Serialize)]
struct JsonlOut<'a> {
    id: &'a serde_json::Value,
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonInput<'a> {
    source: String,
    bytes: usize,
    findings: Vec<JsonFinding<'a>>,
    classification: Classification,
}

#[derive(Debug, Serialize)]
struct JsonDoc<'a> {
    inputs: Vec<JsonInput<'a>>,
    classification: Classification,
}

/// Run `haetae scan`.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let engine = match &args.policy {
        Some(path) => crate::policy::load_and_compile(path)?.engine,
        None => Engine::builtin()?,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let found = if args.jsonl {
        run_jsonl(&engine, &args.files, &mut out)?
    } else {
        run_documents(&engine, &args, &mut out)?
    };
    out.flush()?;
    Ok(if args.fail_on_findings && found {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_jsonl(engine: &Engine, files: &[PathBuf], out: &mut impl Write) -> anyhow::Result<bool> {
    let mut scratch = engine.scratch();
    let mut findings = Vec::new();
    let mut found = false;
    let mut process =
        |reader: &mut std::io::BufReader<&mut dyn Read>, source: &str| -> anyhow::Result<()> {
            let mut line = String::new();
            let mut n = 0usize;
            loop {
                line.clear();
                // About to wait for input: hand over every answer so far, so a pipeline that writes one line and waits
                // for its answer never deadlocks (bulk input is still written in large blocks).
                if reader.buffer().is_empty() {
                    out.flush()?;
                }
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                n += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let input: JsonlIn = serde_json::from_str(&line).with_context(|| {
                    format!("{source}: line {n}: expected {{\"id\": ..., \"text\": \"...\"}}")
                })?;
                engine.scan_into(&input.text, &mut scratch, &mut findings);
                found |= !findings.is_empty();
                serde_json::to_writer(
                    &mut *out,
                    &JsonlOut {
                        id: &input.id,
                        findings: json_findings(&findings, false),
                    },
                )?;
                out.write_all(b"\n")?;
            }
        };
    if files.is_empty() {
        let mut stdin = std::io::stdin().lock();
        process(&mut std::io::BufReader::new(&mut stdin), "stdin")?;
    } else {
        for f in files {
            let mut file =
                std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
            process(
                &mut std::io::BufReader::new(&mut file),
                &f.display().to_string(),
            )?;
        }
    }
    Ok(found)
}

fn read_inputs(files: &[PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    if files.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin (must be UTF-8)")?;
        return Ok(vec![("-".to_owned(), text)]);
    }
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("{} is not UTF-8", f.display()))?;
            Ok((f.display().to_string(), text))
        })
        .collect()
}

fn run_documents(engine: &Engine, args: &ScanArgs, out: &mut impl Write) -> anyhow::Result<bool> {
    let inputs = read_inputs(&args.files)?;
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
                    source: source.clone(),
                    bytes: text.len(),
                    findings: json_findings(f, true),
                    classification: c.clone(),
                })
                .collect(),
            classification: total,
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        out.write_all(b"\n")?;
        return Ok(found);
    }
    write_table(&inputs, &results, &total, out)?;
    Ok(found)
}

fn write_table(
    inputs: &[(String, String)],
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

/// A preview that never reveals the value: markings are shown as is (they are labels, not data); everything else
/// keeps its separators, the first and last letter or digit, and masks the rest (at most 16 mask characters, then
/// the length).
pub fn mask_preview(entity: &Entity, value: &str) -> String {
    if *entity == Entity::ClassificationMarking {
        return value.replace(['\n', '\r', '\t'], " ");
    }
    let chars: Vec<char> = value.chars().collect();
    let significant: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_alphanumeric())
        .collect();
    let keep_first = significant.len() >= 3;
    let keep_last = significant.len() >= 4;
    let mut out = String::new();
    let mut masked = 0usize;
    for (i, c) in chars.iter().enumerate() {
        let is_first = keep_first && significant.first() == Some(&i);
        let is_last = keep_last && significant.last() == Some(&i);
        if c.is_alphanumeric() && !is_first && !is_last {
            masked += 1;
            if masked <= 16 {
                out.push('*');
            }
        } else if c.is_control() {
            out.push(' ');
        } else if masked <= 16 || is_last {
            out.push(*c);
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
        assert_eq!(mask_preview(&Entity::Email, "ab@x.io"), "a*@*.*o");
        assert_eq!(
            mask_preview(&Entity::ClassificationMarking, "TOP SECRET"),
            "TOP SECRET"
        );
        let long = mask_preview(&Entity::SecretKey, "sk-proj-abcdefghijklmnopqrstuvwx12");
        assert!(long.starts_with('s') && long.contains("[34 chars]") && !long.contains("abc"));
    }
}
