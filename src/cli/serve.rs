//! `haetae serve`: load configuration and run the gateway until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `haetae serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Without it, built-in defaults are used (loopback only).
    #[arg(long, short = 'c', env = "HAETAE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Run the gateway.
pub fn run(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
