//! Policy files → a validated, compiled [`Snapshot`], the one immutable set of rules a request is inspected under.
//!
//! Today a policy file configures detection: its `[detect]` table (or, for a file that is only a detector
//! configuration, the whole file) is a [`DetectConfig`] — builtin selection, thresholds, custom regex and dictionary
//! detectors (format: the module documentation of [`crate::detect`]; example:
//! `policies/custom-detectors.example.toml`).
//! Classification actions, jurisdiction rules and model mapping will join the same file and the same snapshot; until
//! they exist, any other top-level table is refused, so that nobody believes rules are enforced that this version does
//! not read.
//!
//! [`load`] does all the I/O (the file and its `terms_file`s) and fingerprints what it read; [`Snapshot::compile`]
//! builds the engine; the gateway keeps the live snapshot in an `ArcSwap` and replaces it whole on reload (SIGHUP), so
//! a request never sees half of two policies, and a file that fails to load or compile leaves the running one live.
//!
//! Must never: do I/O or allocate per request while a snapshot is in use, put dictionary terms into errors or logs
//! (errors name the file, the key and the detector; a regex syntax error shows the operator's own pattern at the
//! error, as any regex tool does), or install a snapshot that did not compile.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::detect::{DetectConfig, DetectError, Engine};

/// Errors loading or compiling a policy. Messages name the file, the key or the detector — never matched text or
/// dictionary terms.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy file (or a `terms_file` it names) could not be read.
    #[error("policy {path}: cannot read {what}: {source}")]
    Read {
        /// The policy file.
        path: PathBuf,
        /// What was being read (`the file`, `terms_file x.txt of detector ID`).
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("policy {path}: line {line}: {message}")]
    Syntax {
        /// The policy file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// The parser's message (the source line is not echoed: it may hold terms).
        message: String,
    },
    /// A key is unknown or has the wrong type.
    #[error("policy {path}: at `{key}`: {message}")]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// The offending key (`detect.detectors[0].pattern`), or `.` for the document.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A top-level table this version does not read (rules that would silently not be enforced).
    #[error(
        "policy {path}: table `[{table}]` is not supported by haetae {version}; only `[detect]` is read today, so \
         the file is refused rather than half-applied",
        version = env!("CARGO_PKG_VERSION")
    )]
    Unsupported {
        /// The policy file.
        path: PathBuf,
        /// The table name.
        table: String,
    },
    /// The detectors do not compile (bad regex, too big, unknown entity…).
    #[error("policy {path}: {source}")]
    Compile {
        /// The policy file (or `builtin`).
        path: PathBuf,
        /// The engine's error (names the detector).
        source: DetectError,
    },
}

/// A policy as read from disk: its detector configuration (with `terms_file`s resolved) and the fingerprint of every
/// byte that went into it.
#[derive(Debug, Clone)]
pub struct PolicyDoc {
    /// Where it came from.
    pub path: PathBuf,
    /// The detector configuration.
    pub detect: DetectConfig,
    /// Hex SHA-256 over the builtin rule set's identity, the file and every `terms_file` (see [`load`]).
    pub hash: String,
}

/// The rules one request is inspected under: the compiled engine and the identity of the policy it came from.
/// Immutable; shared behind an `Arc` and swapped whole.
pub struct Snapshot {
    /// The compiled detection engine.
    pub engine: Engine,
    /// Hex SHA-256 identifying the rules (recorded in every residency record as `policy_hash`).
    pub hash: String,
    /// The policy file, or `None` for the built-in default (every builtin detector, default thresholds).
    pub source: Option<PathBuf>,
    /// Probable mistakes the policy compiled with ([`DetectConfig::warnings`]); shown by `haetae scan` and in
    /// [`Snapshot::describe`].
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("hash", &self.hash)
            .field("source", &self.source)
            .field("patterns", &self.engine.pattern_count())
            .finish_non_exhaustive()
    }
}

/// SHA-256 of the detection engine's source this binary was built from (`build.rs`).
const DETECT_SOURCE: &str = env!("BUILD_DETECT_SOURCE_SHA256");

/// Identity of the rules compiled into this binary: crate version, `detect_source` (the SHA-256 of the detection
/// engine's source, [`DETECT_SOURCE`]: word lists, stop-lists and checks written in code change it too) and every
/// builtin detector's id and pattern (read from the pattern table; nothing is compiled for it).
fn builtin_identity(h: &mut Sha256, detect_source: &str) {
    h.update(concat!("haetae-builtin/", env!("CARGO_PKG_VERSION")).as_bytes());
    h.update(b"\ndetect-source/");
    h.update(detect_source.as_bytes());
    for (id, source) in crate::detect::builtin_pattern_sources() {
        h.update(b"\n");
        h.update(id.as_bytes());
        h.update(b"\t");
        h.update(source.as_bytes());
    }
}

impl Snapshot {
    /// The built-in default: every builtin detector with default thresholds.
    pub fn builtin() -> Result<Snapshot, PolicyError> {
        let engine = Engine::builtin().map_err(|source| PolicyError::Compile {
            path: PathBuf::from("builtin"),
            source,
        })?;
        let mut h = Sha256::new();
        builtin_identity(&mut h, DETECT_SOURCE);
        Ok(Snapshot {
            engine,
            hash: hex::encode(h.finalize()),
            source: None,
            warnings: Vec::new(),
        })
    }

    /// Compile a loaded policy. CPU-bound (a large dictionary takes ~100 ms): call it off the async workers.
    pub fn compile(doc: &PolicyDoc) -> Result<Snapshot, PolicyError> {
        let engine = Engine::new(&doc.detect).map_err(|source| PolicyError::Compile {
            path: doc.path.clone(),
            source,
        })?;
        Ok(Snapshot {
            engine,
            hash: doc.hash.clone(),
            source: Some(doc.path.clone()),
            warnings: doc.detect.warnings(),
        })
    }

    /// One line for banners and logs: where the rules come from, their hash prefix and size (no rule content).
    pub fn describe(&self) -> String {
        let source = self.source.as_ref().map_or_else(
            || "built-in default".to_owned(),
            |p| p.display().to_string(),
        );
        let mut line = format!(
            "{source} (sha256 {}…): {} detectors, {} patterns",
            self.hash.get(..12).unwrap_or(&self.hash),
            self.engine.detector_names().count(),
            self.engine.pattern_count()
        );
        for w in &self.warnings {
            line.push_str("; WARNING: ");
            line.push_str(w);
        }
        line
    }
}

/// Read a policy file: its `[detect]` table, or the whole file when it has no such table (a bare detector
/// configuration, as `haetae scan --policy` has always accepted). `terms_file` paths are resolved relative to the
/// policy file. The hash covers the builtin rule set's identity, the file's bytes and each `terms_file`'s name and
/// bytes, so it changes whenever anything that decides a finding changes.
pub fn load(path: &Path) -> Result<PolicyDoc, PolicyError> {
    let read_err = |what: String| {
        move |source| PolicyError::Read {
            path: path.to_owned(),
            what,
            source,
        }
    };
    let raw = std::fs::read_to_string(path).map_err(read_err("the file".to_owned()))?;
    let invalid = |key: String, message: String| PolicyError::Invalid {
        path: path.to_owned(),
        key,
        message,
    };
    let mut value: toml::Value = toml::from_str(&raw).map_err(|e| {
        // Where, by line: the message alone does not say, and the source line is not echoed (it may hold terms).
        let line = e.span().map_or(1, |s| {
            raw.get(..s.start).map_or(0, |t| t.matches('\n').count()) + 1
        });
        PolicyError::Syntax {
            path: path.to_owned(),
            line,
            message: e.message().trim_end().to_owned(),
        }
    })?;
    let mut prefix = "";
    if let Some(table) = value.as_table_mut() {
        if let Some(detect) = table.remove("detect") {
            if let Some(other) = table.keys().next() {
                return Err(PolicyError::Unsupported {
                    path: path.to_owned(),
                    table: other.clone(),
                });
            }
            value = detect;
            prefix = "detect.";
        }
    }
    let mut detect: DetectConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        invalid(
            format!("{prefix}{}", e.path()),
            e.inner().message().to_owned(),
        )
    })?;
    let mut h = Sha256::new();
    builtin_identity(&mut h, DETECT_SOURCE);
    h.update(b"\npolicy\n");
    h.update(raw.as_bytes());
    let dir = path.parent().unwrap_or(Path::new("."));
    for spec in &mut detect.detectors {
        let id = spec.id.clone();
        spec.resolve_terms_file(|p| {
            let full = dir.join(p);
            let text = std::fs::read_to_string(&full).map_err(read_err(format!(
                "terms_file {} of detector {id}",
                full.display()
            )))?;
            h.update(b"\nterms_file\n");
            h.update(p.as_os_str().as_encoded_bytes());
            h.update(b"\n");
            h.update(text.as_bytes());
            Ok::<_, PolicyError>(text)
        })?;
    }
    Ok(PolicyDoc {
        path: path.to_owned(),
        detect,
        hash: hex::encode(h.finalize()),
    })
}

/// [`load`] then [`Snapshot::compile`].
pub fn load_and_compile(path: &Path) -> Result<Snapshot, PolicyError> {
    Snapshot::compile(&load(path)?)
}

/// The build script, for its source fingerprint (checked against the one built into the crate).
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../build.rs"]
mod build_script;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use build_script::fingerprint;

    #[test]
    fn the_policy_hash_covers_the_detector_source_as_it_is_now() {
        // The fingerprint built into the crate is the one of the source the tests see: the build script reruns when
        // any file of `src/detect` changes, so a word list edited in code gives another policy hash.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/detect");
        let now = fingerprint(&root).unwrap();
        assert_eq!(now, DETECT_SOURCE);
        let identity = |detect_source: &str| {
            let mut h = Sha256::new();
            builtin_identity(&mut h, detect_source);
            hex::encode(h.finalize())
        };
        assert_eq!(Snapshot::builtin().unwrap().hash, identity(DETECT_SOURCE));
        let mut edited = DETECT_SOURCE.to_owned();
        edited.replace_range(..1, if edited.starts_with('0') { "1" } else { "0" });
        assert_ne!(
            identity(&edited),
            identity(DETECT_SOURCE),
            "the source fingerprint is part of the hash"
        );
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_detect_table_or_a_bare_config_loads_and_hashes_what_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let bare = write(
            dir.path(),
            "bare.toml",
            "[[detectors]]\nid = \"ACME_ID\"\npattern = 'ACME-[0-9]{4}'\n",
        );
        let table = write(
            dir.path(),
            "table.toml",
            "[detect]\n[[detect.detectors]]\nid = \"ACME_ID\"\npattern = 'ACME-[0-9]{4}'\n",
        );
        let a = load(&bare).unwrap();
        let b = load(&table).unwrap();
        assert_eq!(a.detect.detectors.len(), 1);
        assert_eq!(b.detect.detectors.len(), 1);
        assert_ne!(a.hash, b.hash, "different bytes, different hash");
        assert_eq!(load(&bare).unwrap().hash, a.hash, "same bytes, same hash");
        let s = Snapshot::compile(&a).unwrap();
        assert_eq!(s.engine.scan("id ACME-1234 here").len(), 1);
        assert_ne!(s.hash, Snapshot::builtin().unwrap().hash);
    }

    #[test]
    fn a_terms_file_is_part_of_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "p.toml",
            "[[detectors]]\nid = \"CODENAME\"\nterms_file = \"terms.txt\"\n",
        );
        write(dir.path(), "terms.txt", "Blue Tiger\n");
        let first = load(&p).unwrap();
        assert_eq!(first.detect.detectors[0].terms, ["Blue Tiger"]);
        write(dir.path(), "terms.txt", "Red Tiger\n");
        assert_ne!(load(&p).unwrap().hash, first.hash);
    }

    #[test]
    fn errors_name_the_file_and_key_and_refuse_tables_not_read_yet() {
        let dir = tempfile::tempdir().unwrap();
        let typo = write(
            dir.path(),
            "typo.toml",
            "[detect]\n[[detect.detectors]]\nid = \"X_ID\"\npatern = 'X'\n",
        );
        let e = load(&typo).unwrap_err().to_string();
        assert!(
            e.contains("typo.toml") && e.contains("detect.detectors[0]"),
            "{e}"
        );
        let broken = write(dir.path(), "broken.toml", "[detect]\nx = 1\n[detect\n");
        let e = load(&broken).unwrap_err().to_string();
        assert!(e.contains("broken.toml") && e.contains("line 3"), "{e}");
        let routing = write(
            dir.path(),
            "routing.toml",
            "[detect]\n[routing]\nblock = [\"KR_RRN\"]\n",
        );
        let e = load(&routing).unwrap_err();
        assert!(
            matches!(e, PolicyError::Unsupported { ref table, .. } if table == "routing"),
            "{e}"
        );
        let missing = write(
            dir.path(),
            "missing.toml",
            "[[detectors]]\nid = \"CODENAME\"\nterms_file = \"nope.txt\"\n",
        );
        let e = load(&missing).unwrap_err().to_string();
        assert!(e.contains("nope.txt") && e.contains("CODENAME"), "{e}");
        let bad_regex = write(
            dir.path(),
            "bad.toml",
            "[[detectors]]\nid = \"SECRET_PROJECT\"\npattern = 'Blue (Tiger'\n",
        );
        let e = load_and_compile(&bad_regex).unwrap_err().to_string();
        assert!(
            e.contains("SECRET_PROJECT") && e.contains("bad.toml"),
            "{e}"
        );
    }
}
