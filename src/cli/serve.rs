//! `haetae serve`: load configuration and run the gateway until SIGTERM/SIGINT.

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

    /// Validate the configuration, print the start-up summary and exit without serving.
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
        let gateway = Gateway::bind(settings, |name| std::env::var(name).ok()).await?;
        eprintln!("{}", gateway.banner());
        if args.check {
            return Ok(ExitCode::SUCCESS);
        }
        gateway.run(server::shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    })
}
