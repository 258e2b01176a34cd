//! The residency log on the request path: opening it from settings (signing and digest keys from env or file,
//! created on first start), the start-up config record, and the records each request leaves.
//!
//! Durability points: with `before-forward` a *decision* record (destination, jurisdiction, findings, request
//! digest) is durable before any byte leaves for the destination — if it cannot be written the request is refused —
//! and an *outcome* record (status, latency, usage, response digest) follows when the response ends. With
//! `after-response` one record carrying both is appended when the response ends.
//!
//! Must never: put content in a record (only counts, names and keyed digests), or let a request through to a
//! destination when a `before-forward` record failed.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::audit::{
    AuditError, AuditLog, AuditOptions, ChangeRecord, DigestKey, Entry, NoteSigner,
};
use crate::config::{AuditDurability, AuditSettings, Settings};

/// Errors opening the residency log at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ResidencyError {
    /// A key could not be read, parsed or created.
    #[error("audit key ({source_name}): {reason}")]
    Key {
        /// Where the key comes from (env var name or file path), never the key.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// The signing key's name differs from `audit.origin`.
    #[error("audit.origin is `{origin}` but the signing key ({source_name}) is for `{key_name}`; they must match")]
    OriginMismatch {
        /// Configured origin.
        origin: String,
        /// The key's name.
        key_name: String,
        /// Where the key comes from.
        source_name: String,
    },
    /// `serve --check`: the gateway could not write where a setting says it will (it would fail to start).
    #[error(
        "{key} = {path}: this user cannot write there ({reason}), so the gateway would not start"
    )]
    NotWritable {
        /// The setting.
        key: &'static str,
        /// Its path.
        path: String,
        /// The path that refused and why.
        reason: String,
    },
    /// The log could not be opened or the start-up record not written.
    #[error("audit log {dir}: {error}")]
    Log {
        /// Log directory.
        dir: String,
        /// Underlying error (not a `source`: the message already holds it, and an error chain would print it twice).
        error: AuditError,
    },
}

/// The residency log as the proxy uses it.
pub struct Residency {
    /// The log writer.
    pub log: Arc<AuditLog>,
    /// Keys for content digests and client pseudonyms.
    pub key: DigestKey,
    /// When records must be durable.
    pub durability: AuditDurability,
    /// Public verifier key line for the banner (`haetae audit verify` needs it).
    pub public_key: String,
}

/// Whether this process could write `path` as the gateway will: `dir` (the log directory) gets new files in it,
/// otherwise `path` is a file, rewritten or appended to when it exists; a path that does not exist yet is created
/// under its nearest existing ancestor (`create_dir_all`), which must be a directory. `access(2)` answers without
/// writing anything and sees read-only mounts; like every such probe it can be overtaken by a change before the
/// gateway starts.
pub fn probe_writable(key: &'static str, path: &Path, dir: bool) -> Result<(), ResidencyError> {
    use rustix::fs::Access;
    let refused = |at: &Path, reason: &dyn std::fmt::Display| ResidencyError::NotWritable {
        key,
        path: path.display().to_string(),
        reason: format!("{}: {reason}", at.display()),
    };
    let mut at = path;
    let mut exists = true;
    loop {
        match at.try_exists() {
            Ok(true) => break,
            Ok(false) => {
                exists = false;
                match at.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => at = parent,
                    _ => {
                        at = Path::new(".");
                        break;
                    }
                }
            }
            Err(e) => return Err(refused(at, &e)),
        }
    }
    let is_dir = at.is_dir();
    if (dir || !exists) && !is_dir {
        return Err(refused(at, &"not a directory"));
    }
    if exists && !dir && is_dir {
        return Err(refused(at, &"a directory, not a file"));
    }
    let mode = if is_dir {
        Access::WRITE_OK | Access::EXEC_OK
    } else {
        Access::WRITE_OK
    };
    rustix::fs::access(at, mode).map_err(|e| refused(at, &std::io::Error::from(e)))
}

fn key_err(source_name: &str, reason: impl ToString) -> ResidencyError {
    ResidencyError::Key {
        source_name: source_name.to_owned(),
        reason: reason.to_string(),
    }
}

/// Write a new secret file readable by the owner only; never overwrites.
fn create_secret_file(path: &Path, contents: &str) -> Result<(), ResidencyError> {
    let name = path.display().to_string();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| key_err(&name, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| key_err(&name, e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| key_err(&name, e))?;
    file.sync_all().map_err(|e| key_err(&name, e))
}

/// Read a secret from an env var (if named and set), else a file; `None` when the file does not exist.
fn read_secret(
    env_name: Option<&str>,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, ResidencyError> {
    if let Some(var) = env_name {
        if let Some(value) = env(var).filter(|v| !v.trim().is_empty()) {
            return Ok(Some((value.trim().to_owned(), format!("${var}"))));
        }
    }
    let name = file.display().to_string();
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some((text.trim().to_owned(), name))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(key_err(&name, e)),
    }
}

/// Read a secret from an env var (if named and set), else a file, else create the file when allowed.
fn load_secret(
    env_name: Option<&str>,
    file: &Path,
    create: bool,
    env: &dyn Fn(&str) -> Option<String>,
    generate: &dyn Fn() -> Result<String, ResidencyError>,
) -> Result<(String, String), ResidencyError> {
    if let Some(found) = read_secret(env_name, file, env)? {
        return Ok(found);
    }
    let name = file.display().to_string();
    if !create {
        return Err(key_err(
            &name,
            "file not found (and audit.create_missing_keys = false)",
        ));
    }
    let value = generate()?;
    create_secret_file(file, &format!("{value}\n"))?;
    tracing::info!(file = %name, "created a new audit key file");
    Ok((value, name))
}

/// Parse a signing key and check that its name is `audit.origin`.
fn parse_signer(
    a: &AuditSettings,
    text: &str,
    source: String,
) -> Result<NoteSigner, ResidencyError> {
    let signer = NoteSigner::from_private_key_string(text).map_err(|e| key_err(&source, e))?;
    if signer.name() != a.origin {
        return Err(ResidencyError::OriginMismatch {
            origin: a.origin.clone(),
            key_name: signer.name().to_owned(),
            source_name: source,
        });
    }
    Ok(signer)
}

/// What [`Residency::check`] found: the log as `haetae serve` would open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidencyCheck {
    /// Public verifier key line, or `None` when the signing key file does not exist yet and will be created on the
    /// first start (`audit.create_missing_keys`).
    pub public_key: Option<String>,
    /// When records must be durable.
    pub durability: AuditDurability,
}

impl Residency {
    /// Durably record that `policy` became the live policy (at start-up `previous` is `None`): its hash, the hash it
    /// replaces, who asked (`startup`, `SIGHUP`…) and a summary without rule content. Returns once the record is on
    /// disk; the caller swaps the policy in only after that.
    pub async fn record_policy(
        &self,
        previous: Option<String>,
        policy: &crate::policy::Snapshot,
        actor: &str,
    ) -> Result<(), ResidencyError> {
        let record = ChangeRecord {
            subject: "policy".to_owned(),
            previous_hash: previous,
            new_hash: policy.hash.clone(),
            actor: Some(actor.to_owned()),
            summary: Some(policy.describe()),
        };
        self.log
            .append(Entry::PolicyChange(record))
            .await
            .map(|_| ())
            .map_err(|error| ResidencyError::Log {
                dir: self.log.dir().display().to_string(),
                error,
            })
    }
}

/// SHA-256 (hex) of the settings as JSON: identifies the configuration a record was made under. Settings hold no
/// secrets (credential env var *names* and gateway key *hashes* only).
pub fn settings_hash(settings: &Settings) -> String {
    let json = serde_json::to_vec(settings).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

impl Residency {
    /// Check what [`Residency::open`] would use — the signing key (parsed, named `audit.origin`) and the digest key,
    /// from the environment or their files — without creating key files, opening or locking the log directory, or
    /// writing a record. `None` when `audit.enabled = false`. A key file that is missing is fine when
    /// `audit.create_missing_keys` would create it.
    pub fn check(
        settings: &Settings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<ResidencyCheck>, ResidencyError> {
        let a: &AuditSettings = &settings.audit;
        if !a.enabled {
            return Ok(None);
        }
        probe_writable("audit.dir", &a.dir, true)?;
        let missing = |file: &Path| {
            key_err(
                &file.display().to_string(),
                "file not found (and audit.create_missing_keys = false)",
            )
        };
        let public_key = match read_secret(a.signing_key_env.as_deref(), &a.signing_key_file, env)?
        {
            Some((text, source)) => {
                Some(parse_signer(a, &text, source)?.verifier().to_key_string())
            }
            None if a.create_missing_keys => {
                probe_writable("audit.signing_key_file", &a.signing_key_file, false)?;
                None
            }
            None => return Err(missing(&a.signing_key_file)),
        };
        match read_secret(a.digest_key_env.as_deref(), &a.digest_key_file, env)? {
            Some((text, source)) => {
                DigestKey::from_secret(text.as_bytes()).map_err(|e| key_err(&source, e))?;
            }
            None if a.create_missing_keys => {
                probe_writable("audit.digest_key_file", &a.digest_key_file, false)?;
            }
            None => return Err(missing(&a.digest_key_file)),
        }
        Ok(Some(ResidencyCheck {
            public_key,
            durability: a.durability,
        }))
    }

    /// Open the log (or `None` when `audit.enabled = false`) and durably record the configuration in force.
    pub async fn open(
        settings: &Settings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ResidencyError> {
        let a: &AuditSettings = &settings.audit;
        if !a.enabled {
            return Ok(None);
        }
        let origin = a.origin.clone();
        let (signing_text, signing_source) = load_secret(
            a.signing_key_env.as_deref(),
            &a.signing_key_file,
            a.create_missing_keys,
            env,
            &|| {
                NoteSigner::generate(&origin)
                    .map(|s| s.to_private_key_string())
                    .map_err(|e| key_err("new signing key", e))
            },
        )?;
        let signer = parse_signer(a, &signing_text, signing_source)?;
        let (digest_text, digest_source) = load_secret(
            a.digest_key_env.as_deref(),
            &a.digest_key_file,
            a.create_missing_keys,
            env,
            &|| {
                let bytes: [u8; 32] = rand::random();
                Ok(hex::encode(bytes))
            },
        )?;
        let key = DigestKey::from_secret(digest_text.as_bytes())
            .map_err(|e| key_err(&digest_source, e))?;
        let public_key = signer.verifier().to_key_string();

        let mut options = AuditOptions::new(signer, a.instance.clone());
        options.checkpoint_interval = Duration::from_millis(a.checkpoint_interval_ms);
        options.max_batch = a.max_batch;
        options.max_batch_delay =
            Duration::from_millis(a.group_commit_delay_ms.unwrap_or(match a.durability {
                AuditDurability::BeforeForward => 0,
                AuditDurability::AfterResponse => 10,
            }));
        options.max_journal_bytes = (a.max_journal_bytes > 0).then_some(a.max_journal_bytes);
        options.rotate_max_bytes = (a.rotate_max_bytes > 0).then_some(a.rotate_max_bytes);
        options.rotate_max_age = (a.rotate_max_age_hours > 0)
            .then(|| Duration::from_secs(a.rotate_max_age_hours.saturating_mul(3600)));
        let dir = a.dir.display().to_string();
        let log = AuditLog::open(&a.dir, options).map_err(|error| ResidencyError::Log {
            dir: dir.clone(),
            error,
        })?;
        let rec = log.recovery();
        if rec.unpublished > 0 {
            tracing::warn!(
                shard = rec.shard,
                entries = rec.entries,
                unpublished = rec.unpublished,
                "residency log adopted journal entries that were committed but never published in a checkpoint \
                 (unclean stop); every frame's MAC verified, they are published now"
            );
        }
        if rec.converted_journal {
            tracing::warn!(
                shard = rec.shard,
                entries = rec.entries,
                "residency log journal converted from the old unkeyed format (HAETAEJ1) to keyed frames; \
                 every entry was covered by the published checkpoint"
            );
        }
        if rec.truncated_bytes > 0 || rec.repaired_files > 0 {
            tracing::warn!(
                shard = rec.shard,
                entries = rec.entries,
                truncated_bytes = rec.truncated_bytes,
                repaired_files = rec.repaired_files,
                "residency log recovered from an unclean stop (torn journal tail truncated, damaged tiles rewritten)"
            );
        } else {
            tracing::info!(
                shard = rec.shard,
                entries = rec.entries,
                "residency log opened"
            );
        }
        let record = ChangeRecord {
            subject: "gateway-config".to_owned(),
            previous_hash: None,
            new_hash: settings_hash(settings),
            actor: Some("startup".to_owned()),
            summary: Some(format!(
                "gateway {} started; {} destinations",
                env!("CARGO_PKG_VERSION"),
                settings.destinations.len()
            )),
        };
        log.append(Entry::ConfigChange(record))
            .await
            .map_err(|error| ResidencyError::Log { dir, error })?;
        Ok(Some(Self {
            log: Arc::new(log),
            key,
            durability: a.durability,
            public_key,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writability_probe_sees_what_serve_would_trip_on() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        // Writable: an existing directory, a path to create under one, an existing file.
        probe_writable("audit.dir", dir.path(), true).unwrap();
        probe_writable("audit.dir", &dir.path().join("a/b/audit"), true).unwrap();
        probe_writable("audit.signing_key_file", &file, false).unwrap();
        // Refused whoever runs it: a path under a file, a file where a directory goes and the other way round.
        for (path, is_dir, why) in [
            (file.join("audit"), true, "ot a directory"),
            (file.clone(), true, "ot a directory"),
            (dir.path().to_owned(), false, "a directory, not a file"),
        ] {
            let err = probe_writable("audit.dir", &path, is_dir)
                .unwrap_err()
                .to_string();
            assert!(err.contains(why) && err.contains("audit.dir = "), "{err}");
        }
        // Permission bits bind everyone but root.
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if std::fs::metadata(&file).unwrap().uid() != 0 {
            let locked = dir.path().join("locked");
            std::fs::create_dir(&locked).unwrap();
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
            let err = probe_writable("audit.dir", &locked.join("audit"), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("ermission denied"), "{err}");
        }
    }
}
