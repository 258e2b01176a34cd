//! `haetae audit`: key management, offline verification, proofs, export and the monthly review report.
//!
//! Must never: print or log the signing key (except into the file `keygen --out` creates), or modify a log
//! directory — every subcommand except `keygen` is read-only, and `prune`, which deletes only the data of sealed
//! shards outside the retention period after the whole chain verified (see `audit::shard`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};

use crate::audit::shard::list_shards;
use crate::audit::verify::{
    csv_row, find_request, for_each_record_in, monthly_report_with, parse_time_bound, prove_with,
    verify_dir_with, LeafRef, Retention, TimeRange, VerifyOptions, CSV_HEADER,
    DEFAULT_RETENTION_DAYS,
};
use crate::audit::{prune, NoteSigner, NoteVerifier, PruneOptions, TlogProof};

/// Arguments of `haetae audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// Where the signing key comes from: a file or an environment variable (never a command-line value).
#[derive(Debug, Args)]
pub struct SigningKeyArgs {
    /// File holding the signing key (`PRIVATE+KEY+...`). Otherwise `HAETAE_AUDIT_SIGNING_KEY` is read.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

/// The log's public (verifier) key.
#[derive(Debug, Args)]
pub struct VerifierKeyArgs {
    /// Verifier key (`<name>+<id>+<base64>`), as printed by `haetae audit pubkey`.
    #[arg(long, env = "HAETAE_AUDIT_VERIFIER_KEY", conflicts_with = "vkey_file")]
    pub vkey: Option<String>,
    /// File holding the verifier key.
    #[arg(long)]
    pub vkey_file: Option<PathBuf>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One leaf per line, byte-for-byte the logged leaf (each line hashes to its tile entry).
    Jsonl,
    /// Flattened columns for spreadsheets; the last column is the leaf hash.
    Csv,
}

/// `haetae audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Generate a signing key for a log origin (e.g. `haetae.example.kr/gw-1`); prints the verifier key.
    Keygen {
        /// Log origin (= note key name): a schema-less URL, no spaces or '+'.
        #[arg(long)]
        name: String,
        /// Where to write the private key (created with mode 0600; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the verifier key of a signing key.
    Pubkey(SigningKeyArgs),
    /// Verify a log directory offline; names the first bad index and exits 1 on any alteration.
    Verify {
        /// Log directory (tiles layout).
        dir: PathBuf,
        /// Verifier key.
        #[command(flatten)]
        key: VerifierKeyArgs,
        /// A checkpoint kept from earlier: the log must still contain it (detects rollback/truncation).
        #[arg(long)]
        trusted_checkpoint: Option<PathBuf>,
        /// Only check hashes, do not read each leaf's sequence number.
        #[arg(long, conflicts_with = "strict")]
        hashes_only: bool,
        /// Also parse every leaf as a record and check it is in canonical form (slower).
        #[arg(long)]
        strict: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Retention period in days that pruned shards are judged against: a shard marked pruned whose newest
        /// record is younger than this fails verification (default: `audit.retention_days`' default).
        #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        retention_days: u32,
    },
    /// Print an inclusion proof (C2SP tlog-proof) against the latest checkpoint of the leaf's shard.
    Prove {
        /// Log directory.
        dir: PathBuf,
        /// Verifier key.
        #[command(flatten)]
        key: VerifierKeyArgs,
        /// Leaf index within its shard (as in a receipt).
        #[arg(
            long,
            conflicts_with = "request_id",
            required_unless_present = "request_id"
        )]
        index: Option<u64>,
        /// Shard of `--index` (a receipt's origin names it: `<name>/shards/<k>`; the bare name is shard 0).
        /// Required once the log has rotated.
        #[arg(long, conflicts_with = "request_id")]
        shard: Option<u64>,
        /// Request id of a request record.
        #[arg(long)]
        request_id: Option<String>,
        /// Write the proof to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Retention period in days that pruned shards are judged against: a shard marked pruned whose newest
        /// record is younger than this fails verification (default: `audit.retention_days`' default).
        #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        retention_days: u32,
    },
    /// Check a tlog-proof offline with the log's verifier key.
    CheckProof {
        /// Proof file (`-` for stdin).
        proof: PathBuf,
        /// Verifier key.
        #[command(flatten)]
        key: VerifierKeyArgs,
        /// The leaf (canonical JSON) to check; defaults to the leaf carried in the proof.
        #[arg(long, conflicts_with = "leaf_hash")]
        leaf: Option<PathBuf>,
        /// A leaf hash (base64, from a receipt) to check instead of a leaf.
        #[arg(long)]
        leaf_hash: Option<String>,
    },
    /// Export checkpointed records in a time range.
    Export {
        /// Log directory.
        dir: PathBuf,
        /// Verifier key.
        #[command(flatten)]
        key: VerifierKeyArgs,
        /// Start (inclusive): `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time with any offset, e.g.
        /// `2026-11-29T09:35:01+09:00`. Default: the oldest record.
        #[arg(long, value_parser = parse_time_bound)]
        from: Option<time::OffsetDateTime>,
        /// End (exclusive): `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time with any offset. Default: no end.
        #[arg(long, value_parser = parse_time_bound)]
        to: Option<time::OffsetDateTime>,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Retention period in days that pruned shards are judged against: a shard marked pruned whose newest
        /// record is younger than this fails verification (default: `audit.retention_days`' default).
        #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        retention_days: u32,
    },
    /// Delete the data of sealed shards whose newest record is older than the retention period, oldest first,
    /// after verifying the whole log; each pruned shard keeps its sealed checkpoint, so the chain still verifies.
    /// Run it by hand or from cron; the gateway itself never deletes anything.
    Prune {
        /// Log directory.
        dir: PathBuf,
        /// Verifier key.
        #[command(flatten)]
        key: VerifierKeyArgs,
        /// Retention period in days (PIPA safety measures: ≥ 365, ≥ 730 for unique identifiers or sensitive
        /// data). Defaults to `audit.retention_days` of `--config`.
        #[arg(long, required_unless_present = "config")]
        retention_days: Option<u32>,
        /// Gateway config file to take `audit.retention_days` from.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only report what would be pruned.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Monthly review summary: requests by destination country, data classes sent abroad, blocks, policy changes.
    Report {
        /// Log directory.
        dir: PathBuf,
        /// Verifier key.
        #[command(flatten)]
        key: VerifierKeyArgs,
        /// Month, `YYYY-MM`.
        #[arg(long)]
        month: String,
        /// Home jurisdiction: transfers to any other count as abroad.
        #[arg(long, default_value = "KR")]
        home: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Retention period in days that pruned shards are judged against: a shard marked pruned whose newest
        /// record is younger than this fails verification (default: `audit.retention_days`' default).
        #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        retention_days: u32,
    },
}

fn load_signer(args: &SigningKeyArgs) -> anyhow::Result<NoteSigner> {
    let text = match &args.key_file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading signing key file {}", p.display()))?,
        None => std::env::var("HAETAE_AUDIT_SIGNING_KEY")
            .context("no --key-file given and HAETAE_AUDIT_SIGNING_KEY is not set")?,
    };
    Ok(NoteSigner::from_private_key_string(&text)?)
}

fn load_verifier(args: &VerifierKeyArgs) -> anyhow::Result<NoteVerifier> {
    let text = match (&args.vkey, &args.vkey_file) {
        (Some(k), _) => k.clone(),
        (None, Some(p)) => std::fs::read_to_string(p)
            .with_context(|| format!("reading verifier key file {}", p.display()))?,
        (None, None) => {
            bail!("a verifier key is required: --vkey, --vkey-file or HAETAE_AUDIT_VERIFIER_KEY")
        }
    };
    Ok(NoteVerifier::parse(&text)?)
}

fn write_private_key(path: &Path, key: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(format!("{key}\n").as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Run `haetae audit`. A closed stdout (`haetae audit export … | head`) ends the command quietly with success.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match run_command(args) {
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        r => r,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run_command(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match args.command {
        AuditCommand::Keygen { name, out: path } => {
            let signer = NoteSigner::generate(&name)?;
            write_private_key(&path, &signer.to_private_key_string())?;
            writeln!(out, "{}", signer.verifier().to_key_string())?;
        }
        AuditCommand::Pubkey(k) => {
            writeln!(out, "{}", load_signer(&k)?.verifier().to_key_string())?;
        }
        AuditCommand::Verify {
            dir,
            key,
            trusted_checkpoint,
            hashes_only,
            strict,
            json,
            retention_days,
        } => {
            let v = load_verifier(&key)?;
            let trusted = match trusted_checkpoint {
                Some(p) => Some(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            };
            let opts = VerifyOptions {
                trusted_checkpoint: trusted,
                skip_record_checks: hashes_only,
                strict_records: strict,
            };
            match verify_dir_with(&dir, &v, &opts, &Retention::days(retention_days)) {
                Ok(rep) => {
                    if json {
                        writeln!(out, "{}", serde_json::to_string(&rep)?)?;
                    } else {
                        writeln!(
                            out,
                            "OK {} size {} root {} ({} archived checkpoints checked{})",
                            rep.origin,
                            rep.size,
                            rep.root,
                            rep.archived_checkpoints,
                            rep.journal_entries
                                .map(|n| format!(", journal of {n} entries matches"))
                                .unwrap_or_default()
                        )?;
                        if rep.shards.len() > 1 {
                            let pruned = rep.shards.iter().filter(|s| s.pruned).count();
                            writeln!(
                                out,
                                "   {} shards chained ({} sealed, {pruned} pruned), {} entries in all",
                                rep.shards.len(),
                                rep.shards.iter().filter(|s| s.sealed).count(),
                                rep.total_entries
                            )?;
                        }
                    }
                }
                Err(e) => {
                    let index = e.bad_index();
                    let shard = e.bad_shard();
                    if json {
                        let j = serde_json::json!({"ok": false, "first_bad_shard": shard, "first_bad_index": index, "error": e.to_string()});
                        writeln!(out, "{j}")?;
                    } else {
                        let at = match (shard, index) {
                            (Some(k), Some(i)) => format!(" first bad shard {k} index {i}"),
                            (Some(k), None) => format!(" first bad shard {k}"),
                            (None, Some(i)) => format!(" first bad index {i}"),
                            (None, None) => String::new(),
                        };
                        writeln!(out, "FAIL{at}: {e}")?;
                    }
                    return Ok(ExitCode::from(1));
                }
            }
        }
        AuditCommand::Prove {
            dir,
            key,
            index,
            shard,
            request_id,
            out: path,
            retention_days,
        } => {
            let v = load_verifier(&key)?;
            let at = match (index, request_id) {
                (Some(index), _) => {
                    let shard = match shard {
                        Some(k) => k,
                        None => {
                            let shards = list_shards(&dir)?;
                            if shards.len() > 1 {
                                bail!(
                                    "the log has {} shards: give --shard K with --index (a receipt's origin names its \
                                     shard: {}/shards/<k>, the bare name is shard 0)",
                                    shards.len(),
                                    v.name()
                                );
                            }
                            0
                        }
                    };
                    LeafRef { shard, index }
                }
                (None, Some(id)) => find_request(&dir, &v, &id)?.with_context(|| {
                    format!("no checkpointed request record with request id {id:?}")
                })?,
                (None, None) => bail!("--index or --request-id is required"),
            };
            let text = prove_with(&dir, &v, at, &Retention::days(retention_days))?.to_text();
            match path {
                Some(p) => {
                    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?
                }
                None => out.write_all(text.as_bytes())?,
            }
        }
        AuditCommand::CheckProof {
            proof,
            key,
            leaf,
            leaf_hash,
        } => {
            let v = load_verifier(&key)?;
            let text = if proof.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&proof)
                    .with_context(|| format!("reading {}", proof.display()))?
            };
            let p = TlogProof::parse(&text)?;
            let result = match (leaf, leaf_hash) {
                (Some(path), _) => {
                    let bytes = std::fs::read(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let bytes = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                    p.verify(&v, Some(bytes))
                }
                (None, Some(h)) => {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(h.trim())
                        .context("leaf hash is not base64")?;
                    let hash: [u8; 32] = raw
                        .try_into()
                        .map_err(|_| anyhow::anyhow!("leaf hash is not 32 bytes"))?;
                    crate::audit::Checkpoint::open_any_shard(&p.checkpoint, &v)
                        .and_then(|(cp, _)| p.verify_hash(&cp, &hash).map(|()| cp))
                }
                (None, None) => p.verify(&v, None),
            };
            match result {
                Ok(cp) => writeln!(
                    out,
                    "OK index {} is in {} at tree size {}",
                    p.index, cp.origin, cp.size
                )?,
                Err(e) => {
                    writeln!(out, "FAIL: {e}")?;
                    return Ok(ExitCode::from(1));
                }
            }
        }
        AuditCommand::Export {
            dir,
            key,
            from,
            to,
            format,
            retention_days,
        } => {
            let v = load_verifier(&key)?;
            let mut w = std::io::BufWriter::new(out);
            // The header too waits until the log verified: a log that does not verify prints nothing.
            let mut header = format == ExportFormat::Csv;
            let mut write_error: Option<std::io::Error> = None;
            let range = TimeRange { from, to };
            let retention = Retention::days(retention_days);
            let result = for_each_record_in(&dir, &v, &range, &retention, |_, data, leaf| {
                let r = if std::mem::take(&mut header) {
                    writeln!(w, "{CSV_HEADER}")
                } else {
                    Ok(())
                };
                let r = r.and_then(|()| match format {
                    ExportFormat::Jsonl => w.write_all(data).and_then(|()| w.write_all(b"\n")),
                    ExportFormat::Csv => writeln!(w, "{}", csv_row(leaf, data)),
                });
                r.map_err(|e| {
                    write_error = Some(e);
                    crate::audit::AuditError::Closed
                })
            });
            if let Some(e) = write_error {
                return Err(e.into());
            }
            if let Err(e) = result {
                eprintln!("haetae: error: the log does not verify, nothing was exported: {e}");
                return Ok(ExitCode::from(1));
            }
            if header {
                writeln!(w, "{CSV_HEADER}")?;
            }
            w.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        AuditCommand::Prune {
            dir,
            key,
            retention_days,
            config,
            dry_run,
            json,
        } => {
            let v = load_verifier(&key)?;
            let days = match (retention_days, config) {
                (Some(d), _) => d,
                (None, Some(path)) => {
                    crate::config::Settings::load(Some(&path), std::env::vars())?
                        .audit
                        .retention_days
                }
                (None, None) => bail!("--retention-days or --config is required"),
            };
            if days == 0 {
                bail!("the retention period must be at least one day");
            }
            let opts = PruneOptions {
                retention: std::time::Duration::from_secs(u64::from(days) * 86_400),
                now: time::OffsetDateTime::now_utc(),
                dry_run,
            };
            let rep = match prune(&dir, &v, &opts) {
                Ok(r) => r,
                Err(e) => {
                    writeln!(out, "FAIL: nothing was pruned: {e}")?;
                    return Ok(ExitCode::from(1));
                }
            };
            if json {
                writeln!(out, "{}", serde_json::to_string(&rep)?)?;
            } else {
                let verb = if dry_run { "would prune" } else { "pruned" };
                for p in &rep.pruned {
                    writeln!(
                        out,
                        "{verb} shard {} ({}, {} entries, newest {}); its sealed checkpoint is kept",
                        p.shard, p.origin, p.size, p.newest
                    )?;
                }
                writeln!(
                    out,
                    "{} shard(s) {verb}, {} pruned before, {} kept (retention {days} days, cutoff {}){}",
                    rep.pruned.len(),
                    rep.already_pruned,
                    rep.kept,
                    rep.cutoff,
                    rep.stopped_at
                        .as_deref()
                        .map(|w| format!("; kept from here on because {w}"))
                        .unwrap_or_default()
                )?;
            }
        }
        AuditCommand::Report {
            dir,
            key,
            month,
            home,
            json,
            retention_days,
        } => {
            let v = load_verifier(&key)?;
            let retention = Retention::days(retention_days);
            let rep = match monthly_report_with(&dir, &v, &month, &home, &retention) {
                Ok(rep) => rep,
                Err(e @ crate::audit::AuditError::Config(_)) => return Err(e.into()),
                Err(e) => {
                    eprintln!("haetae: error: the log does not verify, no report was made: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&rep)?)?;
            } else {
                out.write_all(rep.to_text().as_bytes())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
