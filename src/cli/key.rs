//! `haetae key`: make gateway keys and the hashes the config stores.

use std::io::Read as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rand::RngCore as _;

use crate::proxy::auth::key_hash_hex;

/// Arguments of `haetae key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// Key subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new random gateway key for a tenant and print it with the config lines that accept it.
    New {
        /// Tenant the key identifies.
        #[arg(long)]
        tenant: String,
    },
    /// Read a key from stdin and print its SHA-256 hash (the form `tenants[].key_sha256` stores).
    Hash,
}

/// Run `haetae key`.
pub fn run(args: KeyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        KeyCommand::New { tenant } => {
            if tenant.trim().is_empty() {
                anyhow::bail!("--tenant must name the tenant (the config refuses an empty name)");
            }
            let mut raw = [0u8; 24];
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let key = format!("hk-{}", hex::encode(raw));
            println!("gateway key (give it to the client; it is not stored anywhere): {key}");
            println!();
            println!("[[tenants]]");
            // A TOML basic string of the name (quotes, backslashes and control characters escaped).
            println!("name = {}", toml::Value::String(tenant.clone()));
            println!("key_sha256 = [\"{}\"]", key_hash_hex(&key));
        }
        KeyCommand::Hash => {
            let mut key = String::new();
            std::io::stdin().read_to_string(&mut key)?;
            let key = key.trim();
            if key.is_empty() {
                anyhow::bail!("no key on stdin (an empty key would let any client in); make one with `haetae key new`");
            }
            println!("{}", key_hash_hex(key));
        }
    }
    Ok(ExitCode::SUCCESS)
}
