//! `haetae serve`: load configuration and run the gateway until SIGTERM/SIGINT (`--check`: validate and exit).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::config::Settings;
use crate::proxy::{server, Gateway};

/// Arguments of `haetae serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; every key is documented in deploy/examples/haetae.toml). Without it, built-in
    /// defaults are used: loopback only, public OpenAI/Anthropic/Gemini as US destinations, a local vLLM as KR.
    #[arg(long, short = 'c', env = "HAETAE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Validate the configuration (credentials, routes, TLS files, CA bundles, audit keys), print the start-up
    /// summary and exit. Binds no port and neither opens nor writes the residency log, so it is safe to run next to
    /// the gateway it checks.
    #[arg(long)]
    pub check: bool,
}

/// Run the gateway.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(args.config.as_deref(), std::env::vars())?;
    let _log_guard =
        crate::telemetry::init(&settings.log, std::env::var("RUST_LOG").ok().as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        if args.check {
            let summary = Gateway::check(&settings, |name| std::env::var(name).ok())?;
            eprintln!("{summary}");
            eprintln!(
                "configuration OK (checked without binding listeners or opening the residency log)"
            );
            return Ok(ExitCode::SUCCESS);
        }
        let gateway = Gateway::bind(settings, |name| std::env::var(name).ok()).await?;
        eprintln!("{}", gateway.banner());
        gateway.run(server::shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    })
}
