//! `haetae serve`: load configuration and run the gateway until SIGTERM/SIGINT (`--check`: validate and exit;
//! `--check --strict`: also refuse unset credentials). At start the open-files soft limit is raised to the hard
//! limit.
//!
//! Must never: hold business logic, or print a credential's value (only the variable's name).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::config::{LogFormat, Settings};
use crate::proxy::{fdlimit, server, Gateway};

/// Arguments of `haetae serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; every key is documented in deploy/examples/haetae.toml). Without it, built-in
    /// defaults are used: loopback only, public OpenAI/Anthropic/Gemini as US destinations, a local vLLM as KR.
    #[arg(long, short = 'c', env = "HAETAE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Validate the configuration (credentials, routes, TLS files, CA bundles, audit keys, listener addresses,
    /// limits, whether the residency log's directory and files could be written), print the start-up summary and
    /// exit. Binds no port and neither opens nor writes the residency log, so it is safe to run next to the gateway
    /// it checks. A destination whose credential variable is unset
    /// is only reported (NOT SET) unless `--strict` is given.
    #[arg(long)]
    pub check: bool,

    /// With `--check`: fail (exit 2) when a destination's credential variable is not set, instead of only
    /// reporting it.
    #[arg(long, requires = "check")]
    pub strict: bool,
}

/// Run the gateway.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(args.config.as_deref(), std::env::vars())?;
    let _log_guard =
        crate::telemetry::init(&settings.log, std::env::var("RUST_LOG").ok().as_deref())?;
    let json_log = settings.log.format == LogFormat::Json && !args.check;
    match serve(args, settings) {
        // With JSON logs every stderr line is one JSON object, a failed start too (a policy that does not compile,
        // a port in use): log collectors read it like any other event. `--check` output is for people.
        Err(e) if json_log => {
            tracing::error!(
                target: "haetae::startup",
                error = %super::error_text(&e),
                "gateway did not start"
            );
            Ok(ExitCode::from(2))
        }
        result => result,
    }
}

/// Check the configuration or run the gateway, with logging set up.
fn serve(args: ServeArgs, settings: Settings) -> anyhow::Result<ExitCode> {
    if !args.check {
        // A service manager's default soft limit (often 1024) is far below what `limits.max_connections` needs;
        // the hard limit is what the operator granted.
        match fdlimit::raise_to_hard() {
            Ok(Some(limit)) => {
                tracing::debug!(soft = limit.soft, hard = limit.hard, "open-files limit")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "open-files limit"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        if args.check {
            let report = Gateway::check_report(&settings, |name| std::env::var(name).ok())?;
            eprintln!("{}", report.summary);
            if args.strict && !report.unset_credentials.is_empty() {
                anyhow::bail!(
                    "--strict: credential variable not set for destination {}",
                    report.unset_credentials.join(", ")
                );
            }
            eprintln!(
                "configuration OK (checked without binding listeners or opening the residency log){}",
                if report.fd_warning.is_some() {
                    ", with the WARNING above"
                } else {
                    ""
                }
            );
            return Ok(ExitCode::SUCCESS);
        }
        let json_log = settings.log.format == LogFormat::Json;
        let gateway = Gateway::bind(settings, |name| std::env::var(name).ok()).await?;
        if json_log {
            // Every stderr line stays one JSON object: the summary is a field of one event, with the addresses a
            // collector needs as fields of their own.
            let listen: Vec<String> = gateway.traffic_addrs().iter().map(ToString::to_string).collect();
            let admin = gateway.admin_addr().map(|a| a.to_string()).unwrap_or_default();
            tracing::info!(
                target: "haetae::startup",
                listen = %listen.join(","),
                admin = %admin,
                summary = %gateway.banner(),
                "gateway started"
            );
        } else {
            eprintln!("{}", gateway.banner());
        }
        if let Some(w) = gateway.fd_warning() {
            tracing::warn!("{w}");
        }
        gateway.run(server::shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    })
}
