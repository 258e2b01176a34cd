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
    /// Entity id reported in findings (defaults to `id`). May name a builtin entity (`"PERSON"`); otherwise upper-case
    /// `A-Z0-9_` like an id (a near miss of a builtin id is warned about: [`DetectConfig::warnings`]).
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

impl DetectConfig {
    /// Things in the configuration that compile but are probably mistakes, one message each (naming the detector,
    /// never a term or pattern): a custom entity name within two edits of a builtin entity id (`CREDIT_CRAD`) or in
    /// the builtin `KR_` namespace without being a builtin id. Such a name is reported as a custom entity, which a
    /// consumer matching on `CREDIT_CARD` would never see. The caller shows them (`haetae scan` on stderr, the
    /// gateway in its policy summary); [`crate::detect::Engine::new`] refuses what cannot be meant (a custom id
    /// equal to a builtin id, blank context words, a configuration that detects nothing).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for spec in &self.detectors {
            let entity = spec.entity.as_deref().unwrap_or(&spec.id);
            if crate::detect::Entity::builtin_from_str(entity).is_some() {
                continue;
            }
            let near = crate::detect::BUILTIN_ENTITIES
                .iter()
                .map(|e| e.as_str())
                .find(|b| entity.len() >= 4 && edit_distance(entity, b) <= 2);
            let key = if spec.entity.is_some() {
                "entity"
            } else {
                "id"
            };
            if let Some(b) = near {
                out.push(format!(
                    "detector {}: {key} {entity:?} is not a builtin entity but looks like {b}; it is reported as a \
                     custom entity (set entity = {b:?} if that was meant)",
                    spec.id
                ));
            } else if entity.starts_with("KR_") {
                out.push(format!(
                    "detector {}: {key} {entity:?} uses the builtin `KR_` prefix but is not a builtin entity; it is \
                     reported as a custom entity",
                    spec.id
                ));
            }
        }
        out
    }
}

/// Levenshtein distance over bytes (ids are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
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
