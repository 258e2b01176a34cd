//! Command-line interface: argument parsing (clap) and dispatch to subcommands.
//!
//! Must never: hold business logic. Each subcommand lives in its own file and calls into the library.
//! `anyhow` is allowed here (and only here): this is the edge where errors become messages and exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit;
mod key;
mod scan;
mod serve;

/// Haetae (해태): a data-sovereignty gateway for LLM APIs.
///
/// Point the official OpenAI / Anthropic / Gemini SDKs at Haetae instead of the provider. Every prompt is scanned for
/// personal and classified data, routed by model name, and recorded with what was found and where it went in a
/// signed residency log. (This version reports findings; it does not yet block or re-route because of them.)
#[derive(Debug, Parser)]
#[command(
    name = "haetae",
    version,
    propagate_version = true,
    after_help = "Examples:
  haetae serve                             run with built-in defaults (loopback only, no config file)
  haetae serve --config haetae.toml        run with a config file (every key: deploy/examples/haetae.toml)
  haetae serve --config haetae.toml --check   validate a config and print the start-up summary
  haetae key new --tenant acme             make a gateway key for a tenant, with its config lines
  echo '주민번호 900101-1234567' | haetae scan   find personal and classified data in text
  haetae audit verify haetae-data/audit --vkey KEY   verify the residency log offline"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (traffic listener + admin listener). Works with no config file at all.
    Serve(serve::ServeArgs),
    /// Make gateway keys for tenants, and hash existing ones for the config.
    Key(key::KeyArgs),
    /// Scan files or stdin for personal data, secrets and classification markings (table, --json or --jsonl).
    Scan(scan::ScanArgs),
    /// Residency proof log: keys, offline verification, inclusion proofs, export, monthly report.
    Audit(audit::AuditArgs),
}

/// Parse arguments, run the chosen subcommand, turn errors into a message and exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Key(args) => key::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Audit(args) => audit::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("haetae: error: {}", error_text(&err));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes, `outer: cause: …`, leaving out a cause whose text the message already holds (most of
/// the crate's errors name their source in their own message: `cannot read config file x: No such file …`).
pub(crate) fn error_text(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
