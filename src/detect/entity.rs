//! Entity identifiers reported by the engine (`KR_RRN`, `EMAIL`, …) and custom entity names.

use std::fmt;
use std::sync::Arc;

/// What kind of sensitive data a finding is. Builtin ids are stable strings (see [`Entity::as_str`]);
/// custom detectors from policy files report their own upper-case id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    /// 주민등록번호 (resident registration number).
    KrRrn,
    /// 외국인등록번호 (foreigner registration number).
    KrFrn,
    /// 사업자등록번호 (business registration number, `AAA-BB-CCCCD`).
    KrBrn,
    /// 법인등록번호 (corporate registration number, `AAAABB-CCCCCCD`).
    KrCrn,
    /// Korean passport number.
    KrPassport,
    /// Korean driver's licence number.
    KrDriverLicense,
    /// Korean phone number (mobile, landline, 070, 050x, 080, 15xx/16xx/18xx, `+82`).
    KrPhone,
    /// Korean postal address (road-name or lot-number).
    KrAddress,
    /// Korean bank account number (context-gated).
    KrBankAccount,
    /// Korean health-insurance card number (context-gated).
    KrHealthInsurance,
    /// A person's name (Korean names with context; English names with strong context).
    Person,
    /// E-mail address.
    Email,
    /// Payment card number (Luhn + IIN ranges).
    CreditCard,
    /// International bank account number (mod-97).
    Iban,
    /// International phone number in E.164 form.
    Phone,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// US social security number.
    UsSsn,
    /// API keys, tokens, private keys, password assignments.
    SecretKey,
    /// Security classification marking (Korean, US, NATO, UK).
    ClassificationMarking,
    /// A custom entity defined by a policy file.
    Custom(Arc<str>),
}

/// All builtin entities, in reporting order.
pub const BUILTIN_ENTITIES: [Entity; 19] = [
    Entity::KrRrn,
    Entity::KrFrn,
    Entity::KrBrn,
    Entity::KrCrn,
    Entity::KrPassport,
    Entity::KrDriverLicense,
    Entity::KrPhone,
    Entity::KrAddress,
    Entity::KrBankAccount,
    Entity::KrHealthInsurance,
    Entity::Person,
    Entity::Email,
    Entity::CreditCard,
    Entity::Iban,
    Entity::Phone,
    Entity::IpAddress,
    Entity::UsSsn,
    Entity::SecretKey,
    Entity::ClassificationMarking,
];

impl Entity {
    /// The stable id, e.g. `"KR_RRN"`.
    pub fn as_str(&self) -> &str {
        match self {
            Entity::KrRrn => "KR_RRN",
            Entity::KrFrn => "KR_FRN",
            Entity::KrBrn => "KR_BRN",
            Entity::KrCrn => "KR_CRN",
            Entity::KrPassport => "KR_PASSPORT",
            Entity::KrDriverLicense => "KR_DRIVER_LICENSE",
            Entity::KrPhone => "KR_PHONE",
            Entity::KrAddress => "KR_ADDRESS",
            Entity::KrBankAccount => "KR_BANK_ACCOUNT",
            Entity::KrHealthInsurance => "KR_HEALTH_INSURANCE",
            Entity::Person => "PERSON",
            Entity::Email => "EMAIL",
            Entity::CreditCard => "CREDIT_CARD",
            Entity::Iban => "IBAN",
            Entity::Phone => "PHONE",
            Entity::IpAddress => "IP_ADDRESS",
            Entity::UsSsn => "US_SSN",
            Entity::SecretKey => "SECRET_KEY",
            Entity::ClassificationMarking => "CLASSIFICATION_MARKING",
            Entity::Custom(name) => name,
        }
    }

    /// Parse a builtin id (`"KR_RRN"`); `None` for anything else.
    pub fn builtin_from_str(s: &str) -> Option<Entity> {
        BUILTIN_ENTITIES.iter().find(|e| e.as_str() == s).cloned()
    }

    /// Position in [`BUILTIN_ENTITIES`]; `None` for a custom entity.
    pub(crate) fn builtin_index(&self) -> Option<usize> {
        Some(match self {
            Entity::KrRrn => 0,
            Entity::KrFrn => 1,
            Entity::KrBrn => 2,
            Entity::KrCrn => 3,
            Entity::KrPassport => 4,
            Entity::KrDriverLicense => 5,
            Entity::KrPhone => 6,
            Entity::KrAddress => 7,
            Entity::KrBankAccount => 8,
            Entity::KrHealthInsurance => 9,
            Entity::Person => 10,
            Entity::Email => 11,
            Entity::CreditCard => 12,
            Entity::Iban => 13,
            Entity::Phone => 14,
            Entity::IpAddress => 15,
            Entity::UsSsn => 16,
            Entity::SecretKey => 17,
            Entity::ClassificationMarking => 18,
            Entity::Custom(_) => return None,
        })
    }

    /// Whether this is one of the builtin entities.
    pub fn is_builtin(&self) -> bool {
        !matches!(self, Entity::Custom(_))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_index_is_the_position_in_builtin_entities() {
        for (i, e) in BUILTIN_ENTITIES.iter().enumerate() {
            assert_eq!(e.builtin_index(), Some(i));
        }
        assert_eq!(Entity::Custom(Arc::from("X")).builtin_index(), None);
    }
}
