//! Turn findings into a classification summary: the highest marking found and counts per entity.

use std::collections::BTreeMap;

use serde::Serialize;

use super::entity::Entity;
use super::Finding;

/// Security level implied by a classification marking, ordered (`TopSecret` highest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    /// No marking found.
    Unmarked,
    /// 대외비, CUI, RESTRICTED, OFFICIAL-SENSITIVE, NATO RESTRICTED.
    Restricted,
    /// Ⅲ급비밀, CONFIDENTIAL, NATO CONFIDENTIAL, 군사기밀 without a grade, a labelled `비밀` without one.
    Confidential,
    /// Ⅱ급비밀, SECRET, NATO SECRET, UK EYES ONLY.
    Secret,
    /// Ⅰ급비밀, 극비, TOP SECRET, COSMIC TOP SECRET.
    TopSecret,
}

impl Level {
    /// Stable id (`"TOP_SECRET"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unmarked => "UNMARKED",
            Level::Restricted => "RESTRICTED",
            Level::Confidential => "CONFIDENTIAL",
            Level::Secret => "SECRET",
            Level::TopSecret => "TOP_SECRET",
        }
    }
}

/// Level of one marking's text (as found by `CLASSIFICATION_MARKING`: a range of the original text, which may hold
/// the characters the engine folds before matching, e.g. `ＴＯＰ ＳＥＣＲＥＴ`, `Ⅱ급\u{200B}비밀`). The text is
/// folded the same way first, so the level is the one of what the engine matched.
pub fn marking_level(marking: &str) -> Level {
    let folded = super::normalize::fold_str(marking);
    let marking = folded.as_str();
    let compact: String = marking.chars().filter(|c| !c.is_whitespace()).collect();
    let grade = |roman: char, latin: &str, digit: char, hangul: char| {
        compact.contains(roman)
            || compact.contains(&format!("{latin}급"))
            || compact.contains(&format!("{digit}급"))
            || compact.contains(&format!("{hangul}급"))
    };
    // `Ⅱ급비밀`, or the grade after the word in brackets: `비밀(Ⅱ급)`.
    if compact.contains("급비밀") || (compact.starts_with("비밀(") && compact.ends_with("급)"))
    {
        // Check III before II before I: "III급" also contains "II급" and "I급".
        if grade('Ⅲ', "III", '3', '삼') || compact.contains('ⅲ') {
            return Level::Confidential;
        }
        if grade('Ⅱ', "II", '2', '이') || compact.contains('ⅱ') {
            return Level::Secret;
        }
        return Level::TopSecret;
    }
    if compact.contains("군사기밀") {
        return Level::Confidential;
    }
    if compact.contains("대외비") {
        return Level::Restricted;
    }
    // A labelled grade without its number (`보안등급: 비밀`): the lowest 비밀 grade; `극비` the highest.
    if compact == "비밀" {
        return Level::Confidential;
    }
    if compact == "극비" {
        return Level::TopSecret;
    }
    let upper = marking.to_ascii_uppercase();
    let head = upper.trim_start_matches('(');
    if head.contains("TOP SECRET") || head.starts_with("TS") {
        Level::TopSecret
    } else if head.contains("SECRET")
        || head.starts_with("S)")
        || head.starts_with("S/")
        || head.contains("EYES ONLY")
    {
        Level::Secret
    } else if head.contains("CONFIDENTIAL") || head.starts_with("C)") || head.starts_with("C/") {
        Level::Confidential
    } else {
        Level::Restricted
    }
}

/// Summary of one scanned text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// Highest marking level found (`UNMARKED` when none).
    pub level: Level,
    /// Whether any personal-data entity (everything except secrets and markings) was found.
    pub personal_data: bool,
    /// Whether any `SECRET_KEY` was found.
    pub secrets: bool,
    /// Findings per entity id.
    pub counts: BTreeMap<String, usize>,
}

impl Default for Classification {
    fn default() -> Self {
        Classification {
            level: Level::Unmarked,
            personal_data: false,
            secrets: false,
            counts: BTreeMap::new(),
        }
    }
}

impl Classification {
    /// Fold another summary into this one (for multi-file or multi-segment totals).
    pub fn merge(&mut self, other: &Classification) {
        self.level = self.level.max(other.level);
        self.personal_data |= other.personal_data;
        self.secrets |= other.secrets;
        for (k, v) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += v;
        }
    }
}

/// Summarise `findings` of `text` (the same text the offsets point into).
pub fn classify(text: &str, findings: &[Finding]) -> Classification {
    let mut c = Classification::default();
    for f in findings {
        *c.counts.entry(f.entity.as_str().to_owned()).or_default() += 1;
        match f.entity {
            Entity::ClassificationMarking => {
                if let Some(m) = text.get(f.start..f.end) {
                    c.level = c.level.max(marking_level(m));
                }
            }
            Entity::SecretKey => c.secrets = true,
            Entity::Custom(_) => {}
            _ => c.personal_data = true,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(marking_level("Ⅰ급비밀"), Level::TopSecret);
        assert_eq!(marking_level("II 급 비밀"), Level::Secret);
        assert_eq!(marking_level("3급비밀"), Level::Confidential);
        assert_eq!(marking_level("군사Ⅲ급비밀"), Level::Confidential);
        assert_eq!(marking_level("대외비"), Level::Restricted);
        assert_eq!(marking_level("TOP SECRET//NOFORN"), Level::TopSecret);
        assert_eq!(marking_level("(S//NF)"), Level::Secret);
        assert_eq!(marking_level("CONFIDENTIAL"), Level::Confidential);
        assert_eq!(marking_level("CUI"), Level::Restricted);
        assert_eq!(marking_level("(TS)"), Level::TopSecret);
    }
}
