//! Engine configuration: which builtin detectors are on, their thresholds, and custom detectors from policy files.
//! Deserialisable with serde (`deny_unknown_fields`), so a policy loader can embed it; see the module doc of
//! [`crate::detect`] for the TOML format.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// Everything needed to build an [`crate::detect::Engine`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Builtin detector selection.
    #[serde(default)]
    pub builtins: BuiltinSelection,
    /// Custom detectors (`[[detectors]]` tables).
    #[serde(default)]
    pub detectors: Vec<CustomDetectorSpec>,
}

/// Which builtin entities are enabled, and threshold overrides.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinSelection {
    /// Entity ids to enable (`["KR_RRN", "EMAIL"]`); absent = all builtins.
    #[serde(default)]
    pub enabled: Option<Vec<String>>,
    /// Entity ids to disable (applied after `enabled`).
    #[serde(default)]
    pub disabled: Vec<String>,
    /// Per-entity minimum score (default 0.5 for every entity).
    #[serde(default)]
    pub thresholds: BTreeMap<String, f32>,
}

/// A validator a custom detector may borrow from the builtin set. A candidate that fails it is dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidatorKind {
    /// No validation.
    #[default]
    None,
    /// Luhn over the digits.
    Luhn,
    /// IBAN length + mod-97.
    Iban,
    /// 13 digits with a valid RRN/FRN date and 7th digit (checksum not required).
    KrRrn,
    /// 10 digits with a valid 사업자등록번호 checksum.
    KrBrn,
    /// 13 digits with a valid 법인등록번호 checksum.
    KrCrn,
    /// US SSN structural rules (9 digits).
    UsSsn,
    /// IPv4 literal.
    Ipv4,
    /// IPv6 literal.
    Ipv6,
}

/// A custom detector: exactly one of `pattern` (regex) or `terms`/`terms_file` (dictionary).
///
/// `terms_file` is read by the caller (the engine does no I/O): call [`CustomDetectorSpec::resolve_terms_file`]
/// before building, or the build fails with [`crate::detect::DetectError::UnresolvedTermsFile`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetectorSpec {
    /// Detector id (reported as `detector`); upper-case `A-Z0-9_`, also the entity id unless `entity` is set.
    pub id: String,
    /// Entity id reported in findings (defaults to `id`). May name a builtin entity (`"PERSON"`).
    #[serde(default)]
    pub entity: Option<String>,
    /// Regex (regex-automata syntax). Compiled with a size limit; rejected at load if too big.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Inline dictionary terms.
    #[serde(default)]
    pub terms: Vec<String>,
    /// Dictionary file, one term per line (`#` comments and blank lines ignored), resolved by the caller.
    #[serde(default)]
    pub terms_file: Option<PathBuf>,
    /// ASCII case-insensitive matching (dictionary terms and regex).
    #[serde(default)]
    pub case_insensitive: bool,
    /// Context words; a hit within the window adds `context_score`.
    #[serde(default)]
    pub context: Vec<String>,
    /// Drop candidates without a context word in the window.
    #[serde(default)]
    pub context_required: bool,
    /// Validator applied to candidates.
    #[serde(default)]
    pub validator: ValidatorKind,
    /// Base score (default 0.6).
    #[serde(default = "default_score")]
    pub score: f32,
    /// Added when a context word is present (default 0.3).
    #[serde(default = "default_context_score")]
    pub context_score: f32,
    /// Minimum score to report (default 0.5).
    #[serde(default = "default_threshold")]
    pub threshold: f32,
}

fn default_score() -> f32 {
    0.6
}
fn default_context_score() -> f32 {
    0.3
}
fn default_threshold() -> f32 {
    0.5
}

impl CustomDetectorSpec {
    /// Load `terms_file` through `read` (the caller's I/O) and append its terms; clears `terms_file`.
    pub fn resolve_terms_file<E>(
        &mut self,
        read: impl FnOnce(&std::path::Path) -> Result<String, E>,
    ) -> Result<(), E> {
        if let Some(path) = self.terms_file.take() {
            let text = read(&path)?;
            self.terms.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned),
            );
        }
        Ok(())
    }
}
