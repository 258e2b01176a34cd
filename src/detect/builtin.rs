//! The builtin detector table: one row per regex pattern (a detector may own several), the context keyword groups,
//! and the PERSON stop-list. Patterns use explicit ASCII classes only (`[0-9]`, never `\d`/`\b`/`\w`), so the lazy DFA
//! never falls back to a slow engine on Korean text; boundaries are checked in code (see `engine.rs`).

use std::borrow::Cow;

use super::entity::Entity;

/// Post-match check applied to a candidate (validators, shape classification, span trimming).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// No check.
    None,
    /// 13-digit `YYMMDD-GNNNNNN`: RRN / FRN / CRN by date, 7th digit, checksums and context (one repeated digit, or
    /// a serial of zeros, is a placeholder).
    Rrn13,
    /// `AAAABB-CCCCCCD` 법인등록번호 whose first six digits are not a date: checksum required.
    Crn,
    /// 사업자등록번호 checksum required.
    Brn,
    /// US SSN structural rules.
    Ssn,
    /// Luhn + issuer ranges; not right after a non-personal number's label (`주문번호 4532…`).
    Card,
    /// A driver licence's shape: not right after a non-personal number's label (`문서번호 18-68-012932-34`).
    License,
    /// IBAN length + mod-97 (shrinks trailing groups greedily taken from following text).
    Iban,
    /// IPv4 parse, not preceded by `v`, not a section number (`3.2.1.4 요구사항` at a line start), not `N.0.0.0`, not a
    /// product token's version (`Chrome/124.0.6367.1`); an identifier ending in `Version` before it on its line lowers
    /// the score like the version keyword.
    Ipv4,
    /// IPv6 parse; at least one decimal digit (`Face::Bad`, `db::add` are code), not a slice (`x[10::2]`).
    Ipv6,
    /// GitHub token CRC32 (a pass raises the score; a fail keeps a lower score).
    Github,
    /// A random key's body holds a digit (`sk-…`: CSS class names such as `sk-fading-circle` do not).
    KeyDigit,
    /// An Azure shared access signature's `sig` parameter (`&sig=` + 43 base64 characters and its `=`, URL-encoded or
    /// not): the finding is the value, without `&sig=`.
    SasSig,
    /// A container registry credential (`"auth": "<base64>"` in a Docker `config.json`): the quoted value, when it
    /// decodes to printable `user:password`.
    RegistryAuth,
    /// Base64 of a PEM block (`LS0tLS1CRUdJTi…`, a kubeconfig's `client-key-data`, a Kubernetes secret's `tls.key`):
    /// a secret when its decoded header names a private key (certificates are public).
    Base64Pem,
    /// `password=…` style assignment: the finding is the value; the value must look like a secret, not code (a
    /// parameter or argument after a call's `(`, the key's own name, a type annotation after `:`).
    Assignment,
    /// SQL that sets a password (`IDENTIFIED BY '…'`, `WITH PASSWORD '…'`, `IDENTIFIED WITH … BY '…'`): the finding
    /// is the quoted (or, after `IDENTIFIED BY`, bare) value, judged like an assigned one.
    SqlPassword,
    /// An HTTP credential (`Authorization: Bearer …`, `://user:pw@`, `-u user:pw`): the finding is the token or the
    /// password; placeholders and dummies are not secrets.
    Credential,
    /// Korean mobile/landline number sanity (digit count; subscriber digits all zeros are a placeholder).
    KrPhone,
    /// International number: 8–15 digits.
    E164,
    /// Digits without a fixed shape: KR_BANK_ACCOUNT or KR_HEALTH_INSURANCE only with context, else dropped.
    ContextNumeric,
    /// A `.pgpass` line's password (`host:5432:db:user:password`), found from the `:` after the port by the `:`
    /// scanner: the password must look like a secret.
    Pgpass,
    /// Korean passport: score by type letter; in a machine-readable zone (`…KOR` after the check digit) the
    /// number alone, above the pattern's score when its ICAO 9303 check digit holds, else at 0.3 (a keyword still
    /// reports it; without one the plain-number pattern retries); spaced (`M1234 5678`) only with a keyword.
    Passport,
    /// Korean name found before an honorific/role by the suffix scanner: surname and stop-list checked.
    PersonKoAfter,
    /// E-mail candidate found around an `@` by the `@` scanner.
    Email,
    /// PEM private key found by the `-----BEGIN` scanner: the whole block (0.99) when its `-----END` line follows
    /// within the block's character class, else the header line alone (the base score); neither without a run of
    /// base64 after the header (`...`, `<redacted>`, prose: a placeholder).
    Pem,
    /// Korean name after a label (`성명:`): the finding is the name; stop-list applied.
    PersonKoBefore,
    /// A name label as a table's header cell (`| 번호 | 성명 | 연락처 |`, tab- or comma-separated, or an English `Name`
    /// header): not a finding itself; the engine then reads that column of the rows below (`Engine::table_names`). As
    /// the first cell of a key/value row (`성명,김민수`) the finding is the name in the cell after it
    /// (`Engine::key_value_name`).
    PersonTable,
    /// English name after a title or label: the finding is the name.
    PersonEn,
    /// A letter's closing and the signature's name on the next line (`Best regards,\nJohn Smith`, `Sincerely,`): the closing opens
    /// its line (after at most a short word or two: `Best`, `Kind`, `With warm`), the name fills its own line (a
    /// `,` or `|` may follow it: `Jane Park, PhD`), and passes the English name checks. The finding is the name.
    PersonClosing,
    /// An AWS access key id: a 40-character secret access key written after it on the same line (`AKIA… secret
    /// wJalr…`, a console CSV's `AKIA…,wJalr…`) is reported as a second finding (`Engine::partner`).
    AwsKeyId,
    /// Korean name after a form label and a colon (`수령인: 윤채원`, `보낸 사람: 조은비`) found by the `:` scanner
    /// ([`PERSON_COLON_LABELS`]); checked as [`Check::PersonKoBefore`].
    PersonKoColon,
    /// `N급비밀` not followed by `번호`.
    KoMarking,
    /// `대외비` not followed by the syllable of an ordinary word starting with `비` (대외 비용, 비중, 비교, …), and not
    /// one item in a list of the grades (`일반, 대외비, 비밀로 구분`: prose explaining them marks nothing).
    Daeoebi,
    /// A grade after a security-grade label (`보안등급: 비밀`): the finding is the grade, not `비밀번호`.
    KoGradeLabel,
    /// `극비` (top secret; no government grade, a company's stamp) as a stamp: in brackets (`[극비]`, `【극비】`), alone
    /// on its line, opening a line before a colon or a dash (`극비 - 인수 대상 목록`), or ending a title after a dash
    /// or a bar. Not the adverb (`극비리에`, `극비로 진행`) nor a topic in prose.
    Geukbi,
    /// A bare banner word: when it stands alone on its line (not among lone identifiers such as `DATABASE_URL`, a
    /// list of variable names), in brackets (`[CONFIDENTIAL]`, `(RESTRICTED)`; `[SECRET]` only where a portion
    /// opens), at the end of a title in capitals after a dash (`ONBOARDING FORM — CONFIDENTIAL`), or opening a line
    /// before a colon or dash and prose (`CONFIDENTIAL: do not distribute`).
    LineAlone,
    /// `Confidential` in title case as a company banner: alone on its line, after up to three capitalised words
    /// (`Acme Corp Confidential`, `Private & Confidential`) or a title and a dash (`Q3 Board Deck — Confidential`) or a
    /// `Classification:` label, with nothing after it or a dash and prose (`Company Confidential - Do not
    /// distribute`). Not a sentence (`Confidential information must …`, `Mark it Confidential.`).
    TitleConfidential,
    /// `(S//NF)`-style marks anywhere; `(TS)` only where it opens a portion (a line's start, after indentation, a
    /// list marker or a `SUBJECT:`-style label) or after a sentence's end; bare `(S)`/`(C)` only where they open a
    /// portion, before a capitalised or Hangul word, not `(C) Copyright` and not among lettered list markers
    /// (`(A) … (B) … (C) …`).
    Portion,
    /// Trim trailing separators from a `//` control list.
    Banner,
    /// A secret URL found from `://` (a webhook): the finding also covers the scheme before it.
    UrlSecret,
    /// `Secret//NoForn`, `top secret//noforn`: a banner not in capitals counts only when its first control is a known
    /// one ([`BANNER_CONTROLS`]); the control list is trimmed as for [`Check::Banner`], and a `Top ` or `Cosmic Top `
    /// before it (any case) joins the finding.
    BannerMixed,
    /// A road address without its province, found from the house number's digit run (`강남구 테헤란로 427`,
    /// `성남시 분당구 판교역로 166`): led by a known city, county or district ([`KR_DISTRICTS`]) it scores the base;
    /// a road name alone (`테헤란로 152`) scores less and needs an address keyword nearby.
    AddressRoad,
    /// A Korean address from the regex: its span goes on over a building's unit after the number (`…로 396, 102동
    /// 1503호`, `우동 1408 센텀파크 101동 1203호`; see `scanners::unit_tail`).
    AddressUnit,
    /// A phone number without `+` right after a phone label (`Phone: (212) 736-4821`, `電話 03-1234-5678`), found in
    /// code at a digit run where no pattern matched (`scanners::labeled_phone_span`).
    PhoneLabel,
}

/// Words that make a compound key with `name` a person's name (`receiver_name`, `patientName`); compared
/// case-insensitively. `file_name`, `hostName`, `project_name` are not among them.
pub(crate) const PERSON_KEY_QUALIFIERS: &[&str] = &[
    "customer",
    "user",
    "full",
    "first",
    "last",
    "given",
    "family",
    "middle",
    "sur",
    "receiver",
    "recipient",
    "sender",
    "patient",
    "employee",
    "applicant",
    "candidate",
    "contact",
    "holder",
    "cardholder",
    "member",
    "student",
    "guest",
    "buyer",
    "client",
    "beneficiary",
    "tenant",
    "passenger",
    "real",
    "legal",
    "maiden",
    "spouse",
    "author",
    "reviewer",
    "approver",
    "requester",
    "assignee",
    "reporter",
    "signer",
    "payer",
    "payee",
    "insured",
    "subscriber",
    "father",
    "mother",
    "parent",
    "guardian",
    "emergency",
    "kin",
    "manager",
    "owner",
    "person",
    "driver",
];

/// Dissemination controls and control systems that follow `//` in a banner; a banner not written in capitals
/// (`Secret//NoForn`) counts only with one of these first.
pub(crate) const BANNER_CONTROLS: &[&str] = &[
    "NOFORN",
    "NF",
    "ORCON",
    "OC",
    "IMCON",
    "PROPIN",
    "PR",
    "RELIDO",
    "REL",
    "FISA",
    "FVEY",
    "SI",
    "TK",
    "HCS",
    "SAR",
    "NOCONTRACT",
    "LIMDIS",
    "EXDIS",
    "NODIS",
    "SBU",
    "LES",
    "FOUO",
    "RD",
    "FRD",
    "CNWDI",
    "DSEN",
    "SPECAT",
    "ATOMAL",
    "BOHEMIA",
    "BALK",
];

/// Which characters must not touch a candidate from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// Numbers: no ASCII digit (nor `-`/`.` + digit) on either side; a candidate that is all digits also must not
    /// touch an ASCII letter. Hangul on either side is fine.
    Number,
    /// Tokens: no ASCII letter, digit or `_` on either side.
    Word,
    /// No ASCII letter, digit or `_` before; the end is settled by the pattern's check (banners: a word of prose the
    /// control list ran into is cut off, so `SECRET//NOFORN Material` is `SECRET//NOFORN`).
    WordStart,
    /// Korean names: no Hangul syllable immediately before.
    HangulStart,
    /// A name label: as [`Boundary::WordStart`], or the end of a compound key whose word before it names a person
    /// ([`PERSON_KEY_QUALIFIERS`]: `customer_name`, `customerName`, `<CustomerName>`, `FULL_NAME`).
    LabelKey,
    /// Nothing checked.
    None,
}

/// Context keyword groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub(crate) enum Group {
    Rrn,
    Frn,
    Corp,
    Brn,
    Passport,
    License,
    Phone,
    Card,
    Bank,
    Health,
    Ssn,
    Ip,
    Version,
    Order,
    /// `우체국`: a bank (우체국예금) and the post office, whose 13-digit registered-mail numbers (`등기번호`) are not
    /// accounts; it counts as a bank keyword only without an [`Group::Order`] keyword nearby.
    Post,
    /// `주소`, `배송지`, `자택`: what makes a road name and a number (`테헤란로 152`) an address.
    Address,
    /// An order, invoice or tracking number's own label (`order_id`, `주문번호`, `송장`): not `주문자`, the person who
    /// ordered, which [`Group::Order`]'s `주문` also matches. A 13-digit number without hyphens under it is the order
    /// number, however its first digits read as a birth date.
    OrderId,
    /// A product, part or model number's label (`품번`, `SKU`, `part no`): a code under it that has a phone's shape
    /// (`010-2024-0001`) is the product's.
    Product,
    /// A case, reference, claim or extension number's label (`Case No.`, `ref`, `ext`): a 3-2-4 number under it is
    /// the case's, not a social security number.
    Reference,
    /// A cloud account's label (`AWS account`, `account id`, `arn:`): twelve digits under it are an AWS account id,
    /// not a bank account, though `account` is a bank keyword.
    Cloud,
}

/// Number of builtin groups; custom detectors' groups are numbered after these.
pub(crate) const BUILTIN_GROUPS: u16 = 20;

/// Context keywords. Korean keywords match as substrings (particles attach); ASCII keywords need a word start.
pub(crate) const KEYWORDS: &[(Group, &[&str])] = &[
    (
        Group::Rrn,
        &[
            "주민등록",
            "주민번호",
            "주민",
            "resident registration",
            "rrn",
            "jumin",
        ],
    ),
    (
        Group::Frn,
        &[
            "외국인등록",
            "외국인번호",
            "외국인",
            "alien registration",
            "foreigner",
            "frn",
        ],
    ),
    (
        Group::Corp,
        &[
            "법인등록",
            "법인번호",
            "법인",
            "등기번호",
            "corporate registration",
            "corporation number",
            "crn",
        ],
    ),
    (
        Group::Brn,
        &[
            "사업자등록",
            "사업자번호",
            "사업자",
            // Tax invoices label both parties' numbers `등록번호` under `공급자` / `공급받는자` (`등록번호` alone would
            // also hit inside every `주민등록번호` of dense text).
            "공급자",
            "공급받는자",
            "business registration",
            "business number",
            "biz_reg",
            "bizno",
            "brn",
        ],
    ),
    (Group::Passport, &["여권", "passport"]),
    (
        Group::License,
        &[
            "운전면허",
            "면허번호",
            "면허",
            "driver",
            "driving licen",
            "license",
            "licence",
        ],
    ),
    (
        Group::Phone,
        &[
            "전화",
            "연락처",
            "휴대폰",
            "핸드폰",
            "휴대전화",
            "대표번호",
            "고객센터",
            "콜센터",
            "상담센터",
            "팩스",
            "문의",
            "tel",
            "phone",
            "mobile",
            "cell",
            "fax",
            "call",
        ],
    ),
    (
        Group::Card,
        &["카드", "결제", "신용", "card", "visa", "mastercard", "amex"],
    ),
    (
        Group::Bank,
        &[
            "계좌",
            "통장",
            "입금",
            "송금",
            "이체",
            "예금",
            "은행",
            "농협",
            "신한",
            "카카오뱅크",
            "토스뱅크",
            "케이뱅크",
            "새마을금고",
            "account",
            "bank",
            "acct",
        ],
    ),
    (
        Group::Health,
        &[
            "건강보험",
            "보험증",
            "의료보험",
            "건보",
            "요양",
            "health insurance",
        ],
    ),
    (Group::Ssn, &["ssn", "social security"]),
    (
        Group::Reference,
        &[
            "case",
            "ref",
            "reference",
            "ext",
            "extension",
            "docket",
            "claim",
        ],
    ),
    (
        Group::Ip,
        &[
            "아이피",
            "서버",
            "접속",
            "ip",
            "ipv4",
            "ipv6",
            "server",
            "host",
            "address",
        ],
    ),
    (
        Group::Version,
        &[
            "버전",
            "릴리스",
            "펌웨어",
            "version",
            "ver",
            "release",
            "build",
            "firmware",
            "upgrade",
            "downgrade",
        ],
    ),
    (Group::Post, &["우체국"]),
    (
        Group::Address,
        &["주소", "배송지", "자택", "거주지", "소재지", "addr"],
    ),
    (
        Group::Order,
        &[
            "주문",
            "송장",
            "운송장",
            "등기번호",
            "등기우편",
            "소포",
            "배송",
            "상품번호",
            "상품코드",
            "가맹점번호",
            "거래번호",
            "거래고유번호",
            "승인번호",
            // Document, receipt and booking numbers that begin with a date (`접수번호 231015-0012345`).
            "접수번호",
            "문서번호",
            "견적번호",
            "관리번호",
            "일련번호",
            "신청번호",
            "예약번호",
            "발급번호",
            "계약번호",
            "참조번호",
            "티켓",
            "ticket",
            "order",
            "tracking",
            "invoice",
            "isbn",
            "serial",
            "sku",
        ],
    ),
    (
        Group::OrderId,
        &[
            "주문번호",
            "주문 번호",
            "주문id",
            "주문코드",
            "송장",
            "운송장",
            "order_id",
            "orderid",
            "order id",
            "order no",
            "order_no",
            "order number",
            "order#",
            "order #",
            "invoice",
            "tracking",
            "waybill",
            // A product's barcode (EAN-13: `880…` for Korea) has the 13 digits of a resident number.
            "바코드",
            "barcode",
            "ean",
        ],
    ),
    (
        Group::Product,
        &[
            "품번",
            "품목코드",
            "품목번호",
            "제품번호",
            "제품코드",
            "모델번호",
            "모델코드",
            "부품번호",
            "자재코드",
            "상품코드",
            "sku",
            "part no",
            "part_no",
            "partno",
            "part number",
            "p/n",
            "model no",
            "model_no",
            "model number",
        ],
    ),
    (
        Group::Cloud,
        &[
            "aws",
            "arn:",
            "iam",
            "account id",
            "account_id",
            "accountid",
            "account-id",
        ],
    ),
];

/// Context rules per builtin entity: (group, score delta).
pub(crate) fn entity_context(entity: &Entity) -> &'static [(Group, f32)] {
    match entity {
        // An order keyword lowers an RRN or card only a little: a checksum-valid number next to `주문자` or `order`
        // is still personal data (the order keyword is there for 13-digit order numbers, which rarely pass the
        // date, 7th-digit and checksum rules at once).
        Entity::KrRrn => &[(Group::Rrn, 0.3), (Group::Order, -0.1)],
        Entity::KrFrn => &[(Group::Frn, 0.3), (Group::Rrn, 0.1), (Group::Order, -0.3)],
        Entity::KrCrn => &[(Group::Corp, 0.3), (Group::Order, -0.3)],
        Entity::KrBrn => &[(Group::Brn, 0.2)],
        Entity::KrPassport => &[(Group::Passport, 0.4), (Group::Order, -0.3)],
        Entity::KrDriverLicense => &[(Group::License, 0.15)],
        // A product keyword (`품번`, `SKU`) drops a phone's shape without a phone keyword (0.75 − 0.3): `010-2024-0001`
        // in a part-number column is the part's.
        Entity::KrPhone => &[
            (Group::Phone, 0.3),
            (Group::Order, -0.2),
            (Group::Product, -0.3),
        ],
        Entity::Phone => &[(Group::Phone, 0.2)],
        Entity::CreditCard => &[(Group::Card, 0.15), (Group::Order, -0.2)],
        // A server keyword outweighs a version keyword: `build server 10.0.0.5` is an address.
        Entity::IpAddress => &[(Group::Ip, 0.3), (Group::Version, -0.3)],
        // A part, version or case number has the 3-2-4 shape too (`Part no. 876-79-8770`, `version 123-45-6789`,
        // `Case 815-96-8822`).
        Entity::UsSsn => &[
            (Group::Ssn, 0.3),
            (Group::Order, -0.3),
            (Group::Product, -0.3),
            (Group::Version, -0.3),
            (Group::Reference, -0.3),
        ],
        Entity::KrAddress => &[(Group::Address, 0.3)],
        _ => &[],
    }
}

/// One builtin pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// Detector id reported in findings (`kr_rrn`, `secret.aws`, …).
    pub detector: &'static str,
    /// Entity reported unless the check re-classifies.
    pub entity: Entity,
    /// Regex (ASCII classes only).
    pub regex: Cow<'static, str>,
    /// Base score before validators and context.
    pub base: f32,
    /// Post-match check.
    pub check: Check,
    /// Boundary rule.
    pub boundary: Boundary,
}

/// Single-syllable Korean surnames accepted by PERSON (the most common ~150).
pub(crate) const SURNAME_CHARS: &str = "김이박최정강조윤장임한오서신권황안송류유전홍고문양손배백허남심노하곽성차주우구민나진지엄채원천방공현함변염여추도소석선설마길연위표명기반라왕금옥육인맹제모탁국어은편용예경봉사부가복태목형계피두감음빈동온호범좌팽승간상시갈단견당화창옹순";
/// Syllables that make up Korean given names (the ones after the surname). A candidate name whose given part holds
/// any other syllable is a noun, not a name: `은행`, `기업`, `신입`, `연락처` before an honorific or after a form
/// label. The set is generous (modern, traditional and native names such as `하늘`, `사랑`, `보람`, `슬기`); what it
/// leaves out are syllables common in nouns and rare in names (`행`, `업`, `입`, `족`, `력`, `료`, `술`, `락`, `처`,
/// `반`, `골`, `증`, `외`, `직`, `어`, …). Nouns made of name syllables (`연결`, `서울`, `화면`) are in the stop-list.
/// Recall on real names is measured by `tests/detect_person_recall.rs` over `tests/data/detect/person_names_ko.txt`.
pub(crate) const GIVEN_SYLLABLES: &str = concat!(
    "가각간갑강개건걸검겸경계고곤공관광교구국군권귀규균근금기길",
    "나난남내녀노누늘니다단달담당대덕도돈동두득",
    "라란람랑래량려련렬례로록롬룡루류륜률륭름리린림립",
    "마만매명모목몽묘무문미민바박배백범벽별병보복본봉부분비빈빛",
    "사산삼상새샘생서석선설섭성세소솔송수숙순숭슬승시식신실심",
    // Native, old-style and Christian names: 한결 다솜 초롱 한울 새봄 샛별 겨레 미르 다올 그루 하늬 꽃님, 말순 끝순
    // 막례 갑돌 돌쇠, 혜령 준면 낙연, 요한 요셉 바울 에스더 다니엘.
    "결솜롱울봄꽃샛겨레르올그말끝막돌쇠낙령늬면요셉에스더엘디베드윗앵",
    "아안애양언엄여연열염엽영예오옥온완왕용우욱운웅원월위유육윤율은을음응의이익인일임",
    "자잔장재전점정제조종주준중지진집",
    "차찬창채천철청초총추춘충치칠탁태택토통",
    "파판팔평표풍필하학한함항해향허헌혁현협형혜호혼홍화환활황회효후훈휘흠흥희힘",
);

/// Two-syllable Korean surnames.
pub(crate) const TWO_SYLLABLE_SURNAMES: &[&str] = &[
    "남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방",
];

fn surnames_regex() -> String {
    format!("(?:{}|[{SURNAME_CHARS}])", TWO_SYLLABLE_SURNAMES.join("|"))
}

macro_rules! p {
    ($det:expr, $ent:expr, $re:expr, $base:expr, $check:expr, $b:expr) => {
        Pattern {
            detector: $det,
            entity: $ent,
            regex: Cow::from($re),
            base: $base,
            check: $check,
            boundary: $b,
        }
    };
}

/// Builtin patterns in priority order (earlier wins at the same start; a rejected candidate lets later patterns try the
/// same start).
pub(crate) fn patterns() -> Vec<Pattern> {
    use Boundary as B;
    use Check as C;
    use Entity as E;
    // Label forms: `성명: 김민수`, `성명 김민수`, `이름은 김민수`, JSON `"성명":"김민수"`, a table row `| 성명 | 김민수 |`,
    // the value on the next line (`성명:\n김민수`, also as a JSON `\n` escape). The given name takes up to three
    // syllables (`김마리아`); `Check::PersonKoBefore` drops a trailing particle or copula (`김철입니다`).
    // The same labels as a header cell of a Markdown, tab-separated or comma-separated table (the names are in the
    // rows below): the label, an optional closing quote, then the cell's separator or the end of its line (the last
    // column). Whether it fills its cell, and what the separator is, `Engine::table_names` decides.
    let table_end = r#""? *(?:[|\t,]|\r?\n|\z)"#;
    // A role label may carry `명` (`담당자명`, `예금주명`, `신청인명`: columns of names).
    let ko_labels = format!("(?:{})명?", PERSON_LABELS.join("|"));
    let person_table = format!("(?:{ko_labels}){table_end}");
    // English name columns (`Name`, `Full Name`, `Customer Name`, …, and the name parts `First Name`, `last_name`,
    // `Surname`): the match starts at the `Name` trigger; the qualifier before it is checked in `Engine::table_names`.
    // Either label as the first cell of a key/value row (`성명,김민수`, `Name,John Smith`) is read at once
    // (`Engine::key_value_name`).
    let person_table_en = format!("(?:Name|name|NAME){table_end}");
    // Also a self-introduction, `저는 홍길동입니다`, `저는 이서연이라고 합니다`: the name between `저는` and the
    // introduction's ending (`INTRO_ENDINGS`; the shortest given name that reaches one), checked by
    // `Check::PersonKoBefore`.
    // A qualifier in brackets may follow the label (`성명(한글): 홍길동`, `보호자(성명): …`), a kinship word the
    // separator (`보호자: 남편 윤재석`): the name is the run at the match's end. `제가 홍길동입니다` as `저는 …`.
    let person_before = format!(
        r#"(?:{ko_labels})(?: ?\([가-힣]{{1,4}}\))?(?:["']? *[:：|=] *["']? *(?:\r?\n *|\\n *)?(?:(?:{kin}) +)?|(?:은|는|이|가)? +["'“]?){s}[가-힣]{{1,3}}|(?:저는|제가) +{s}[가-힣]{{1,3}}?(?:{})"#,
        INTRO_ENDINGS.join("|"),
        s = surnames_regex(),
        kin = KINSHIP.join("|")
    );
    // An English name after a label and a colon or `=`: two or three capitalised words (`Mary O'Brien`,
    // `Jean-Luc Picard`), or the same in capitals (`Name: JOHN SMITH`, `성명: MARY O'BRIEN`; `Check::PersonEn` holds
    // capitals to `person_en_caps_ok`).
    // A name word: `John`, `O'Brien`, `Jean-Luc`, a romanised Korean given name `Min-jun`.
    let en_word = r"[A-Z](?:'[A-Z])?[a-z]+(?:-[A-Z][a-z]+|-[a-z]{2,5})?";
    let en_name = format!(
        r"(?:{en_word}(?: +[A-Z]\.)?(?: +{en_word}){{1,2}}|[A-Z][A-Z'-]+(?: +(?:[A-Z]\.|[A-Z][A-Z'-]+)){{1,2}})"
    );
    let en_labels = "Full [Nn]ame|full name|FULL NAME|Name|name|NAME|Customer|customer|CUSTOMER|Patient|patient|PATIENT|Employee|employee|Applicant|applicant";
    // The operator may also close an XML element (`<name>Felix Hoffmann</name>`, `<CustomerName>…`); the label may
    // end a compound key (`customer_name`, `customerName`: `Boundary::LabelKey`).
    let person_label_en = format!(r#"(?:{en_labels})(?:["']? *[:=] *["']?|>){en_name}"#);
    // A Korean name after an English label (`{"name": "박서준"}`, `name=최지우&phone=…`).
    let person_en_label_ko = format!(
        r#"(?:{en_labels})(?:["']? *[:=] *["']?|>){}[가-힣]{{1,3}}"#,
        surnames_regex()
    );
    // The Korean labels before an English name (`성명: John Smith`, `고객명="Li Wei"`): only with a colon or `=`.
    let person_ko_label_en = format!(r#"(?:{ko_labels})["']? *[:：=] *["']?{en_name}"#);
    vec![
        // ---- classification markings (first: a marking inside other text always wins) ----
        p!(
            "marking.kr",
            E::ClassificationMarking,
            // Also the grade after the word, in brackets (`비밀(Ⅱ급)`, `비 밀 (2급)`).
            r"(?:군사 {0,3})?(?:[ⅠⅡⅢⅰⅱⅲ]|III|II|I|[123]) {0,3}급 {0,3}비 {0,3}밀|비 {0,3}밀 {0,3}\( {0,2}(?:[ⅠⅡⅢⅰⅱⅲ]|III|II|I|[123]) {0,3}급 {0,2}\)",
            0.95,
            C::KoMarking,
            B::None
        ),
        p!(
            "marking.kr",
            E::ClassificationMarking,
            // Also spaced out in a header (`대 외 비`).
            r"대외비|대 {1,2}외 {1,2}비|군사 {0,3}기밀",
            0.9,
            C::Daeoebi,
            B::None
        ),
        p!(
            "marking.kr",
            E::ClassificationMarking,
            r"극비",
            0.9,
            C::Geukbi,
            B::None
        ),
        // A labelled grade (`보안등급: 비밀`, `비밀등급 : 대외비`, `문서등급 2급비밀`), found from the `급` trigger (which
        // reaches 16 bytes back): the finding is the grade.
        p!(
            "marking.kr",
            E::ClassificationMarking,
            r"(?:보안|비밀|문서) ?등급 *[:：]? *(?:대 {0,2}외 {0,2}비|비 {0,2}밀|극 {0,2}비|(?:[ⅠⅡⅢ]|III|II|I|[123]) {0,3}급 {0,3}비 {0,3}밀)",
            0.9,
            C::KoGradeLabel,
            B::None
        ),
        p!(
            "marking.banner",
            E::ClassificationMarking,
            r"STRICTLY (?:PRIVATE AND )?CONFIDENTIAL|Strictly (?:Private and )?Confidential",
            0.9,
            C::None,
            B::Word
        ),
        p!(
            "marking.banner",
            E::ClassificationMarking,
            r"Confidential",
            0.85,
            C::TitleConfidential,
            B::Word
        ),
        p!(
            "marking.banner",
            E::ClassificationMarking,
            // Also `SECRET /NOFORN` (one slash after a space: the control must be a known one) and `//SECRET//`
            // with no control after it (only between the two `//`): `Check::Banner`.
            r"(?:COSMIC TOP SECRET|TOP SECRET|NATO SECRET|NATO CONFIDENTIAL|NATO RESTRICTED|SECRET|CONFIDENTIAL|RESTRICTED|CUI|CONTROLLED)(?: ?// ?[A-Z0-9][A-Z0-9 ,/-]*| /[A-Z][A-Z0-9 ,/-]*|//)",
            0.95,
            C::Banner,
            B::WordStart
        ),
        // Not in capitals (`Top Secret//NoForn`, `secret//noforn`): the match starts at `Secret` (its trigger is
        // `ecret`), and `Check::BannerMixed` adds the `Top ` before it. The check ends the list at its first word
        // that is no control, so the match reads at most 120 bytes of it (a list cut there ends at its last whole
        // control): a line of banners would otherwise be read to its end from each of them.
        p!(
            "marking.banner",
            E::ClassificationMarking,
            r"(?:[Ss]ecret|SECRET)//[A-Za-z][A-Za-z0-9 ,/-]{0,120}",
            0.9,
            C::BannerMixed,
            B::WordStart
        ),
        p!(
            "marking.banner",
            E::ClassificationMarking,
            // `CONTROLLED UNCLASSIFIED INFORMATION` (CUI spelled out) and `FOR OFFICIAL USE ONLY` / `FOUO`, the US
            // dissemination control CUI replaced (the `OFFICIAL` trigger reaches four bytes back for `FOR `); the
            // EU's `EU RESTRICTED` … `EU TOP SECRET` (the English half of `RESTREINT UE/EU RESTRICTED`) and `UK TOP
            // SECRET` (their triggers reach three bytes back for `EU `/`UK `).
            r"COSMIC {1,3}TOP {1,3}SECRET|(?:UK )?TOP {1,3}SECRET|EU (?:TOP SECRET|SECRET|CONFIDENTIAL|RESTRICTED)|NATO (?:SECRET|CONFIDENTIAL|RESTRICTED)|OFFICIAL[- ]SENSITIVE|UK EYES ONLY|CONTROLLED UNCLASSIFIED INFORMATION|(?:FOR )?OFFICIAL USE ONLY|FOUO",
            0.9,
            C::None,
            B::Word
        ),
        p!(
            "marking.banner",
            E::ClassificationMarking,
            // `CONTROLLED` is the other banner word the CUI programme allows.
            r"SECRET|CONFIDENTIAL|RESTRICTED|CUI|CONTROLLED",
            0.85,
            C::LineAlone,
            B::Word
        ),
        p!(
            "marking.portion",
            E::ClassificationMarking,
            r"\((?:TS|S|C|CUI)(?://[A-Z0-9][A-Z0-9 ,/-]*)?\)",
            0.85,
            C::Portion,
            B::None
        ),
        // ---- secrets ----
        p!(
            "secret.aws",
            E::SecretKey,
            r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
            0.9,
            C::AwsKeyId,
            B::Word
        ),
        p!(
            "secret.anthropic",
            E::SecretKey,
            r"sk-ant-[a-z]{2,8}[0-9]{2}-[A-Za-z0-9_-]{20,}",
            0.97,
            C::None,
            B::Word
        ),
        p!(
            "secret.openai",
            E::SecretKey,
            r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
            0.85,
            C::KeyDigit,
            B::Word
        ),
        p!(
            "secret.github",
            E::SecretKey,
            r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,255}",
            0.75,
            C::Github,
            B::Word
        ),
        p!(
            "secret.slack",
            E::SecretKey,
            r"xox[abposr]-[A-Za-z0-9-]{10,}",
            0.9,
            C::None,
            B::Word
        ),
        // A Telegram bot token, `<bot id>:AA<33 characters>`, also inside the Bot API's URL
        // (`https://api.telegram.org/bot7123456789:AAH…/sendMessage`, so no word boundary before it): found from the
        // digit run.
        p!(
            "secret.telegram",
            E::SecretKey,
            r"[0-9]{8,10}:AA[0-9A-Za-z_-]{33,40}",
            0.9,
            C::None,
            B::None
        ),
        // A Google OAuth 2.0 access token (`ya29.a0Af…`).
        p!(
            "secret.google_oauth",
            E::SecretKey,
            r"ya29\.[0-9A-Za-z_-]{30,}",
            0.9,
            C::None,
            B::Word
        ),
        // Incoming-webhook URLs post to a workspace channel with no other credential (Slack, Discord). The match
        // starts at `://`; `Check::UrlSecret` adds the scheme before it.
        p!(
            "secret.webhook",
            E::SecretKey,
            r"://(?:hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}/[A-Za-z0-9/_-]{20,120}|(?:discord|discordapp)\.com/api/webhooks/[0-9]{15,20}/[A-Za-z0-9_-]{40,100})",
            0.9,
            C::UrlSecret,
            B::None
        ),
        p!(
            "secret.gitlab",
            E::SecretKey,
            r"glpat-[A-Za-z0-9_-]{20,}",
            0.9,
            C::None,
            B::Word
        ),
        // Azure AD (Entra ID) application client secrets: three characters, a digit, `Q~`, then 31–34 characters
        // (the form the portal has issued since 2021).
        p!(
            "secret.azure_ad",
            E::SecretKey,
            r"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
            0.85,
            C::KeyDigit,
            B::Word
        ),
        // Azure Storage / Service Bus shared access signatures (`…?sv=2022-11-02&ss=b&…&sig=Xy%2B…%3D`, also in a
        // `SharedAccessSignature=` connection string): the signature is an HMAC-SHA256 in base64, 43 characters and
        // one `=`, with `+`, `/` and `=` percent-encoded in a URL. Anyone holding the URL has the access it grants.
        p!(
            "secret.azure_sas",
            E::SecretKey,
            r"[?&]sig=(?:[A-Za-z0-9+/]|%2[BbFf]){43}(?:%3[Dd]|=)",
            0.85,
            C::SasSig,
            B::None
        ),
        // Vendor tokens with a fixed prefix and a random body: Stripe secret and restricted keys (live and test),
        // SendGrid,
        // DigitalOcean, npm, PyPI upload tokens, Hugging Face, Slack app-level tokens, Docker Hub personal access
        // tokens, Shopify access tokens and secrets (`shpat_`, `shpss_`, `shpca_`, `shppa_` + 32 hex), HashiCorp Vault
        // service and batch tokens (`hvs.`/`hvb.`; the legacy `s.` + 24 characters only as an assigned value).
        p!(
            "secret.vendor",
            E::SecretKey,
            r"[sr]k_(?:live|test)_[A-Za-z0-9]{20,247}|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}|do[opr]_v1_[a-f0-9]{64}|npm_[A-Za-z0-9]{36}|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}|hf_[A-Za-z0-9]{34}|xapp-[0-9]-[A-Z0-9]{6,}-[0-9]{6,}-[a-z0-9]{32,}|dckr_pat_[A-Za-z0-9_-]{27,}|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|hv[sb]\.[A-Za-z0-9_-]{24,}",
            0.9,
            C::KeyDigit,
            B::Word
        ),
        p!(
            "secret.google",
            E::SecretKey,
            r"AIza[0-9A-Za-z_-]{35}",
            0.9,
            C::None,
            B::Word
        ),
        // A Docker `config.json` (or `.dockercfg`) registry entry: `"auth": "<base64 of user:password>"`.
        p!(
            "secret.registry_auth",
            E::SecretKey,
            r#""auth" *: *"[A-Za-z0-9+/]{8,512}={0,2}""#,
            0.85,
            C::RegistryAuth,
            B::None
        ),
        // Base64 of `-----BEGIN …` (a kubeconfig's `client-key-data`, a Kubernetes secret's `tls.key`).
        p!(
            "secret.pem_base64",
            E::SecretKey,
            r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{50,}={0,2}",
            0.95,
            C::Base64Pem,
            B::Word
        ),
        p!(
            "secret.jwt",
            E::SecretKey,
            r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            0.9,
            C::None,
            B::Word
        ),
        p!(
            "secret.assignment",
            E::SecretKey,
            // Operators: `key = v`, `"key": "v"`, `("key", "v")` (put/Setenv), `setKey("v")`, an XML setting's
            // `key="ApiKey" value="v"`, PHP's `$c['password'] = 'v'`, `password => 'v'`, a Kubernetes env entry's
            // `name: DB_PASSWORD` + `value: v` on the next line; Azure connection strings' `AccountKey=`,
            // `SharedAccessKey=`; a YAML block scalar (`password: |` or `secret_key: >-`, the value on the next,
            // indented line); `ENCRYPTION_KEY=`, `master_key:`, `SIGNING_KEY=` (triggers `_key`/`_KEY`) and in camel
            // case `masterKey`, `encryptionKey:`, `signingKey=` (triggers `terKey`/`ionKey`/`ingKey`). A quoted
            // value may hold spaces, `;` and `,` (`Check::Assignment` then wants a digit); an unquoted one ends at `&`, a JSON
            // escape or trailing punctuation (trimmed by the check).
            r#"(?:password|Password|PASSWORD|passwd|Passwd|PASSWD|pwd|PWD|passphrase|secret|Secret|SECRET|api_key|apiKey|ApiKey|API_KEY|api-key|apikey|APIKEY|access_token|accessToken|ACCESS_TOKEN|auth_token|authToken|AUTH_TOKEN|client_secret|clientSecret|CLIENT_SECRET|secret_key|secretKey|SECRET_KEY|SECRET_KEY_BASE|secret_key_base|secret_access_key|SecretAccessKey|SECRET_ACCESS_KEY|private_key|privateKey|PRIVATE_KEY|encryption_key|ENCRYPTION_KEY|master_key|MASTER_KEY|signing_key|SIGNING_KEY|masterKey|MasterKey|encryptionKey|EncryptionKey|signingKey|SigningKey|API-Key|Api-Key|API-KEY|AccountKey|SharedAccessKey|REDISCLI_AUTH|token|Token|TOKEN|PASS|pass|PW|Pw|pw)(?:["']? *[:=] *|["'] *, *|\( *|> *|["'] +value *= *|["']\] *= *|["']? *=> *|["']? *\r?\n *value: *|["']? *: *[|>][-+]?[1-9]?[-+]? *\r?\n *)(?:"[^"\r\n]{6,200}"|'[^'\r\n]{6,200}'|["']?[A-Za-z0-9!#$%&()*+./:<=>?@\[\]^_{|}~\\-]{6,})"#,
            0.8,
            C::Assignment,
            B::None
        ),
        p!(
            "secret.assignment",
            E::SecretKey,
            r#"(?:비밀번호|패스워드|암호|비번)(?: *[:=：] *| *[은는] +| +)["']?[A-Za-z0-9!#$%&()*+./:<=>?@\[\]^_{|}~\\-]{6,}"#,
            0.8,
            C::Assignment,
            B::None
        ),
        // SQL: MySQL's `CREATE USER … IDENTIFIED BY '…'` (in capitals: the trigger is `D BY`; also `IDENTIFIED
        // WITH caching_sha2_password BY '…'`), Oracle's `IDENTIFIED BY tiger`, PostgreSQL's `WITH PASSWORD '…'` /
        // `LOGIN PASSWORD '…'`. In lower case (`create user app identified by 'S3cret!pw'`) only with a quoted value
        // (`each user is identified by username` is prose), found from the triggers `by '` and `by "`.
        p!(
            "secret.sql_password",
            E::SecretKey,
            r#"IDENTIFIED +BY +(?:'[^'\r\n]{6,200}'|"[^"\r\n]{6,200}"|[A-Za-z0-9!#$%&*+./@^_~-]{6,64})|identified by (?:'[^'\r\n]{6,200}'|"[^"\r\n]{6,200}")|(?:PASSWORD|password)(?: +(?:BY|by))? +(?:'[^'\r\n]{6,200}'|"[^"\r\n]{6,200}")"#,
            0.8,
            C::SqlPassword,
            B::None
        ),
        // `aws configure set aws_secret_access_key <key>`: the key after a space.
        p!(
            "secret.assignment",
            E::SecretKey,
            r"secret_access_key +[A-Za-z0-9/+]{40}",
            0.8,
            C::Assignment,
            B::None
        ),
        // HTTP credentials: `Authorization: Bearer …` / `Basic …` headers, `user:password@` in a URL, `curl -u user:pw`.
        p!(
            "secret.auth_header",
            E::SecretKey,
            r#"(?:Authorization|authorization|AUTHORIZATION)["']? *[:=] *["']?(?:Bearer|bearer|BEARER|Basic|basic|Token|token) +[A-Za-z0-9._~+/=-]{8,}"#,
            0.85,
            C::Credential,
            B::None
        ),
        p!(
            "secret.url_password",
            E::SecretKey,
            r#"://[A-Za-z0-9._%+-]{0,64}:[^\s/"'<>]{3,128}@[A-Za-z0-9_-]"#,
            0.85,
            C::Credential,
            B::None
        ),
        // Oracle's thin JDBC URL writes `user/password@host` (`jdbc:oracle:thin:scott/Tiger1@db:1521:orcl`).
        p!(
            "secret.url_password",
            E::SecretKey,
            r#":thin:[A-Za-z0-9._$#-]{1,64}/[^\s/"'<>@]{3,128}@"#,
            0.85,
            C::Credential,
            B::None
        ),
        // HTTP basic auth in Python: `requests.get(url, auth=('admin', 'S3cret!'))` (keyword-argument spacing only:
        // the trigger is `h=(`, whose rare bytes keep the literal filter selective).
        p!(
            "secret.user_password",
            E::SecretKey,
            r#"auth=\( *["'][^"'\r\n]{1,64}["'] *, *(?:"[^"\r\n]{3,128}"|'[^'\r\n]{3,128}')"#,
            0.8,
            C::Credential,
            B::None
        ),
        p!(
            "secret.user_password",
            E::SecretKey,
            // Also a MySQL client's `-u root -pPASSWORD` (the password glued to `-p`).
            // `docker login -u acme -p PASSWORD` / `--password PASSWORD`: the password after its own flag.
            r#"(?:-u|--user) +["']?[A-Za-z0-9._@-]{1,64}["']?(?::[^\s"']{4,128}| +-p[^\s"'-][^\s"']{3,127}| +(?:-p|--password)(?: +|=)(?:"[^"\r\n]{3,128}"|'[^'\r\n]{3,128}'|[^\s"'-][^\s"']{3,127}))"#,
            0.8,
            C::Credential,
            B::None
        ),
        // `redis-cli -h cache -p 6379 -a PASSWORD ping` (also `--pass`, up to eight options before it): the password
        // after its flag. ASCII classes: Unicode `[^\s"']` repeats are the costly NFA shape at start-up.
        p!(
            "secret.user_password",
            E::SecretKey,
            r#"redis-cli(?: +-{1,2}[A-Za-z][A-Za-z-]*(?: +[0-9A-Za-z._:/][\x21-\x7E]{0,127})?){0,8} +(?:-a|--pass) +(?:"[\x20\x21\x23-\x7E]{3,128}"|'[\x20-\x26\x28-\x7E]{3,128}'|[\x21\x23-\x26\x28-\x2C\x2E-\x7E][\x21\x23-\x26\x28-\x7E]{3,127})"#,
            0.8,
            C::Credential,
            B::WordStart
        ),
        // Chat: `ID admin / PW Adm1n!2024` (an id before it on the line), `pw is Adm1n!2024` (a made-up word):
        // `Check::Credential`.
        p!(
            "secret.user_password",
            E::SecretKey,
            r#"(?:PW|Pw|pw)(?: +is)? +(?:"[\x20\x21\x23-\x7E]{3,128}"|'[\x20-\x26\x28-\x7E]{3,128}'|[\x21\x23-\x26\x28-\x7E]{4,128})"#,
            0.8,
            C::Credential,
            B::WordStart
        ),
        // A `.netrc` entry (`machine api.example.com login bob password s3cr3t`, also over several lines): the word
        // after `password`, only after `machine <host> login <user>` (or `default login <user>`); `sshpass -p 'pw'`
        // (the match starts at the `pass` trigger; `ssh` must come before it). Both checked by `Check::Credential`.
        p!(
            "secret.user_password",
            E::SecretKey,
            r#"password[ \t]+[^\s"']{4,128}|pass +-p *(?:"[^"\r\n]{3,128}"|'[^'\r\n]{3,128}'|[^\s"'-][^\s"']{2,127})"#,
            0.8,
            C::Credential,
            B::None
        ),
        // Passwords on a command line: `echo 'pw' | sudo -S …`, `htpasswd -b <file> <user> <pw>` (the match starts at
        // the `asswd` trigger; `ht` must come before it), `openssl … -k <pw>` / `-pass pass:<pw>` (also `-passin`,
        // `-passout`), and English prose `my password is <pw>`, `the secret (key) is <v>` (`Check::Credential`: the
        // value then needs a digit or three character classes, so `password is case-sensitive` and `the secret is
        // out` are no secrets).
        p!(
            "secret.user_password",
            E::SecretKey,
            r#"echo +(?:-[ne]+ +)?(?:"[^"\r\n]{3,128}"|'[^'\r\n]{3,128}'|[^\s"'|;&]{3,128}) *\| *sudo +(?:-[A-Za-z]+ +)*-[A-Za-z]*S"#,
            0.8,
            C::Credential,
            B::None
        ),
        p!(
            "secret.user_password",
            E::SecretKey,
            r#"passwd(?: +-[A-Za-z]+)* +-[A-Za-z]*b[A-Za-z]*(?: +-[A-Za-z]+)* +[^\s"'-][^\s"']* +[^\s"']+ +(?:"[^"\r\n]{3,128}"|'[^'\r\n]{3,128}'|[^\s"']{3,128})|openssl [^\r\n]{0,200}? -(?:k +|pass(?:in|out)? +pass:)(?:"[^"\r\n]{3,128}"|'[^'\r\n]{3,128}'|[^\s"']{3,128})|(?:[Pp]assword|[Ss]ecret(?: key)?) +(?:is|was)(?: *:)? +(?:"[^"\r\n]{4,128}"|'[^'\r\n]{4,128}'|[^\s"']{4,128})"#,
            0.8,
            C::Credential,
            B::None
        ),
        // ---- Korean addresses and names (Hangul-anchored) ----
        p!(
            "kr_address",
            E::KrAddress,
            r"(?:서울(?:특별)?시?|부산(?:광역)?시?|대구(?:광역)?시?|인천(?:광역)?시?|광주(?:광역)?시?|대전(?:광역)?시?|울산(?:광역)?시?|세종(?:특별자치)?시?|경기도?|강원(?:특별자치)?도?|충청북도|충북|충청남도|충남|전라북도|전북(?:특별자치도)?|전라남도|전남|경상북도|경북|경상남도|경남|제주(?:특별자치)?도?) +(?:[가-힣]{1,6}(?:시|군|구|읍|면) +){0,3}(?:[가-힣0-9]{1,12}(?:로|길) *[0-9]{1,5}(?:-[0-9]{1,5})?(?:(?:번길|길|가) *[0-9]{1,5}(?:-[0-9]{1,5})?)?|[가-힣0-9]{1,8}(?:동|리|가|읍|면) *(?:[가-힣]{1,6}(?:동|리) *)?(?:산 *)?[0-9]{1,5}(?:-[0-9]{1,5})?)",
            0.75,
            C::AddressUnit,
            B::None
        ),
        p!(
            "kr_driver_license",
            E::KrDriverLicense,
            r"(?:서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산) ?[0-9]{2}-[0-9]{6}-[0-9]{2}",
            0.85,
            C::None,
            B::Number
        ),
        // A Korean label before an English name comes before the same label before a Korean name: the two cannot
        // match at one start (a capital letter against a surname after the separator), and in this order a label
        // whose Korean-name match is rejected (`담당자는 정리하면`: a common word, not a name) retries one pattern
        // less (the table header), where before it also searched this one.
        p!(
            "person.en",
            E::Person,
            person_ko_label_en,
            0.8,
            C::PersonEn,
            B::Word
        ),
        p!(
            "person.ko",
            E::Person,
            person_before,
            0.8,
            C::PersonKoBefore,
            B::None
        ),
        p!(
            "person.ko_table",
            E::Person,
            person_table,
            0.8,
            C::PersonTable,
            B::None
        ),
        p!(
            "person.en",
            E::Person,
            // Military ranks with their dot (`Sgt. John Smith`, `Lt.`, `Col.`, `Gen.`, `Maj.`, `Cpl.`; `Capt` also
            // without, as British style writes it: `Capt Jane Doe`), their words checked against the not-name words
            // (`Gen. Alpha`, `Col. Total`: `Check::PersonEn`).
            format!(
                r"(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof|Capt)\.?|(?:Sgt|Lt|Col|Gen|Maj|Cpl)\.) +{en_word}(?: +{en_word})?"
            ),
            0.75,
            C::PersonEn,
            B::Word
        ),
        // `My name is John Smith` (the match starts at the `name` trigger; `Check::PersonEn` wants `my` before it)
        // and a letter's salutation, `Dear John Smith,`: the name as after a label; `Dear John,`: one given name
        // before the comma, not a word a salutation addresses (`Dear Sir,`, `Dear All,`); two names joined by
        // `and`/`&` before the comma (`Dear John and Mary,`: the second reported from its joiner); `Hi` and `Hello`
        // the same, but only opening a line and always with the comma (`Hi Sarah,`). Not `Hey`: every trigger
        // literal costs the clean-text pass (the three greetings together ~0.57 M instructions per MB of clean
        // text, ~3 %), and `Hey` opens few letters.
        p!(
            "person.en",
            E::Person,
            format!(
                r"(?:Dear|Hi|Hello) +(?:{en_name}|{en_word})(?: +(?:and|&) +(?:{en_name}|{en_word}))?,|(?:name is|Dear) +{en_name}"
            ),
            0.8,
            C::PersonEn,
            B::Word
        ),
        // A signature's name on the line after a letter's closing (`Best regards,\nJohn Smith`, `Thanks,\nJohn`,
        // `Cheers,`; also after a JSON string's `\n` escape): a full name, or a first name alone (`Check::PersonClosing`
        // scores it lower and holds it to `scanners::signature_first_name`). `Best,` and `Thank you,` would each be a
        // trigger literal of their own, and a third new literal regroups the shift-or buckets: +6 % clean-text
        // instructions.
        p!(
            "person.en",
            E::Person,
            format!(
                r"(?:[Rr]egards|[Ss]incerely|[Tt]hanks|[Cc]heers),(?: *\r?\n|\\n)(?:{en_name}|{en_word})"
            ),
            0.8,
            C::PersonClosing,
            B::Word
        ),
        p!(
            "person.en",
            E::Person,
            person_label_en,
            0.8,
            C::PersonEn,
            B::LabelKey
        ),
        p!(
            "person.ko",
            E::Person,
            person_en_label_ko,
            0.8,
            C::PersonKoBefore,
            B::LabelKey
        ),
        p!(
            "person.en_table",
            E::Person,
            person_table_en,
            0.8,
            C::PersonTable,
            B::None
        ),
        // ---- identifiers with letters ----
        // The passport number opening a machine-readable zone's second line (`M12345678<8KOR8001014…`, or with no
        // filler, `M123456788KOR…`; since 2021 with a letter, `M123A45674KOR…`): the check digit, the issuing state
        // and the birth date after it; the finding is the number, scored by its ICAO check digit (`Check::Passport`).
        p!(
            "kr_passport",
            E::KrPassport,
            r"[MSRGD][0-9]{3}[0-9A-Z][0-9]{4}<?[0-9]KOR[0-9<]",
            0.9,
            C::Passport,
            B::WordStart
        ),
        p!(
            "kr_passport",
            E::KrPassport,
            // In lower case (`m48293716`) only next to a passport keyword (`Check::Passport`). Spaced
            // (`M1234 5678`): only next to a keyword.
            r"[MSRGD][0-9]{8}|[MSRGD][0-9]{3}[A-Z][0-9]{4}|[msrgd][0-9]{8}|[MSRGD] ?[0-9]{4} [0-9]{4}",
            0.45,
            C::Passport,
            B::Word
        ),
        p!(
            "iban",
            E::Iban,
            r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?",
            0.85,
            C::Iban,
            B::Word
        ),
        // In lower case (`iban: de89 3704 …`): only after the word `IBAN` on its line (`Check::Iban`).
        p!(
            "iban",
            E::Iban,
            r"[a-z]{2}[0-9]{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,3})?",
            0.85,
            C::Iban,
            B::Word
        ),
        // ---- numbers ----
        p!(
            "kr_rrn",
            E::KrRrn,
            // The hyphen may have a space (or NBSP, folded to one) on either side (`850314 - 1308025`): such a form
            // starts from the unhyphenated score (`Check::Rrn13`), so it needs its check digit or a keyword. A `.`, `_`
            // or `/` between the parts, or the hyphen ending a line (a wrapped table or PDF copy), only next to a
            // resident-number keyword.
            r"[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])(?: ?- ?| |[._/]|-\r?\n)?[0-9]{7}",
            0.6,
            C::Rrn13,
            B::Number
        ),
        p!(
            "kr_crn",
            E::KrCrn,
            r"[0-9]{6}-[0-9]{7}",
            0.55,
            C::Crn,
            B::Number
        ),
        // Without the hyphen, a number whose first digits are no date (`1345110012340`): only next to a corporation
        // keyword (0.3 + 0.3); a date in front is the resident-number pattern's (`Check::Rrn13`).
        p!("kr_crn", E::KrCrn, r"[0-9]{13}", 0.3, C::Crn, B::Number),
        p!(
            "kr_brn",
            E::KrBrn,
            r"[0-9]{3}-[0-9]{2}-[0-9]{5}",
            0.75,
            C::Brn,
            B::Number
        ),
        // Written without hyphens, ten digits with a valid check digit are one number in ten: reported only next to
        // a business-registration keyword (0.35 + 0.2).
        p!("kr_brn", E::KrBrn, r"[0-9]{10}", 0.35, C::Brn, B::Number),
        // Spaced (`123 45 67890`, as forms print it) or with spaces around its hyphens (`703 - 86 - 82901`): also only
        // next to a keyword.
        p!(
            "kr_brn",
            E::KrBrn,
            r"[0-9]{3}(?: | ?- ?)[0-9]{2}(?: | ?- ?)[0-9]{5}",
            0.35,
            C::Brn,
            B::Number
        ),
        p!(
            "kr_driver_license",
            E::KrDriverLicense,
            r"(?:1[1-9]|2[0-6]|28)-[0-9]{2}-[0-9]{6}-[0-9]{2}",
            0.8,
            C::License,
            B::Number
        ),
        p!(
            "kr_driver_license",
            E::KrDriverLicense,
            r"(?:1[1-9]|2[0-6]|28) [0-9]{2} [0-9]{6} [0-9]{2}",
            0.7,
            C::License,
            B::Number
        ),
        // Twelve digits in a row: only next to a licence keyword (0.4 + 0.15).
        p!(
            "kr_driver_license",
            E::KrDriverLicense,
            r"(?:1[1-9]|2[0-6]|28)[0-9]{10}",
            0.4,
            C::License,
            B::Number
        ),
        p!(
            "us_ssn",
            E::UsSsn,
            r"[0-9]{3}-[0-9]{2}-[0-9]{4}",
            0.55,
            C::Ssn,
            B::Number
        ),
        // Spaced (`078 05 1120`, also with spaced hyphens as forms print them, `468 - 20 - 1195`): nine digits in
        // 3-2-4 groups are common enough (amounts, codes, ranges) that only an SSN keyword (+0.3) reports them.
        p!(
            "us_ssn",
            E::UsSsn,
            r"[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{3} - [0-9]{2} - [0-9]{4}",
            0.25,
            C::Ssn,
            B::Number
        ),
        // Four groups of four: spaced, hyphenated or dotted (`5100.4151.1143.6349`, all dots); Amex and Diners 4-6-5 and
        // 4-6-4; or the digits alone.
        p!(
            "credit_card",
            E::CreditCard,
            // Grouped: 19 digits as 4-4-4-4-3 (UnionPay, Visa, Maestro; tried first, so a 16-digit card is not cut
            // out of one; `Check::Card` falls back to the first 16 when the 19 fail Luhn), 4-4-4-4 (also dotted),
            // 13 as 4-4-5 (old Visa), American Express 4-6-5 (also dotted), Diners 4-6-4; or 13–19 plain digits.
            r"(?:[0-9]{4}(?: | ?- ?)){4}[0-9]{3}|(?:[0-9]{4}(?: | ?- ?)){3}[0-9]{4}|[0-9]{4}\.[0-9]{4}\.[0-9]{4}\.[0-9]{4}|[0-9]{4}(?: | ?- ?)[0-9]{4}(?: | ?- ?)[0-9]{5}|3[47][0-9]{2}[- .][0-9]{6}[- .][0-9]{5}|3[0689][0-9]{2}[- ][0-9]{6}[- ][0-9]{4}|[0-9]{13,19}",
            0.8,
            C::Card,
            B::Number
        ),
        p!(
            "kr_phone",
            E::KrPhone,
            // Area codes as assigned: 02, 031–033, 041–044, 051–055, 061–064 (not `035`, `045`, `065`).
            r"(?:\+82[- )]?(?:\(0\)|0)?[- ]?|0)(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|50[2-8]|80)(?:[.)]| ?- ?| )?[0-9]{3,4}(?:[.]| ?- ?| )?[0-9]{4}",
            0.75,
            C::KrPhone,
            B::Number
        ),
        p!(
            "kr_phone",
            E::KrPhone,
            r"\(0(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|50[2-8]|80)\) ?[0-9]{3,4}[- ]?[0-9]{4}",
            0.75,
            C::KrPhone,
            B::Number
        ),
        p!(
            "kr_phone",
            E::KrPhone,
            r"1[568][0-9]{2}-[0-9]{4}",
            0.45,
            C::KrPhone,
            B::Number
        ),
        // The same nationwide numbers written without the hyphen (`15881234`): eight digits alone is too common a
        // shape, so only a phone keyword (+0.3) lifts it over the threshold, and an order keyword (-0.2) cancels that.
        p!(
            "kr_phone",
            E::KrPhone,
            r"1[568][0-9]{6}",
            0.35,
            C::KrPhone,
            B::Number
        ),
        p!(
            "phone",
            E::Phone,
            r"\+[1-9][0-9]{0,2}(?:[- ]?\(?[0-9]{1,4}\)?){2,6}",
            0.6,
            C::E164,
            B::Number
        ),
        p!(
            "ip_address.v4",
            E::IpAddress,
            r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}",
            0.6,
            C::Ipv4,
            B::Number
        ),
        p!(
            "kr_account",
            E::KrBankAccount,
            // A check digit may stand alone at the end (새마을금고 `9002-1837-4410-2`, 대구은행 `508-10-183372-1`); the last
            // form is a health-insurance card's (`5-1234567890`).
            r"[0-9]{2,6}(?:-[0-9]{2,8}){1,3}(?:-[0-9])?|[0-9]{10,14}|[0-9]-[0-9]{10}",
            0.7,
            C::ContextNumeric,
            B::Number
        ),
        // Nine digits in a row (`ssn=232542788`): only next to an SSN keyword (0.25 + 0.3). Last, so that a nine-digit
        // run costs no retry of the patterns above.
        p!("us_ssn", E::UsSsn, r"[0-9]{9}", 0.25, C::Ssn, B::Number),
    ]
}

/// Labels a Korean name follows in forms, tables and prose (`성명: 김민수`, `| 성명 |` over a column of names,
/// `담당자 김민수`, `대표자 김민수`): the regex union's label alternatives, each also with `명` (`담당자명`). With a colon
/// the colon scanner reads them as well ([`PERSON_COLON_LABELS`]' strong labels), for what the regex does not: a
/// department before the name and a list after it (`담당자: 영업팀 김민수, 이영희`).
pub(crate) const PERSON_LABELS: &[&str] = &[
    "성명",
    "이름",
    "성함",
    "고객명",
    "환자명",
    "예금주",
    "수신인",
    "신청인",
    "작성자",
    "담당자",
    "지원자",
    "피보험자",
    "보호자",
    "상담원",
    "상담사",
    "사원명",
    "직원명",
    "주치의",
    "대표자",
];

/// Form labels a Korean name follows after a colon, besides the regex's (`성명`, `이름`, `담당자`, …): delivery,
/// booking, contract, mail and school forms. `(label, strong)`: after a weak label, which also opens dialogue lines
/// (`환자: 배가 아파요`), the name must end its phrase (line end, `(`, `,`, `<`, `/`, `|`, a quote).
pub(crate) const PERSON_COLON_LABELS: &[(&str, bool)] = &[
    ("수령인", true),
    ("수취인", true),
    ("받는 사람", true),
    ("받는사람", true),
    ("받는 분", true),
    ("받는분", true),
    ("보내는 사람", true),
    ("보내는사람", true),
    ("보낸 사람", true),
    ("보낸사람", true),
    ("발신인", true),
    ("발신자", true),
    ("수신자", true),
    ("주문자", true),
    ("주문자명", true),
    ("예약자", true),
    ("예약자명", true),
    ("신청자", true),
    ("신청자명", true),
    ("대표자", true),
    ("대표자명", true),
    ("대표이사", true),
    ("계약자", true),
    ("계약자명", true),
    ("가입자", true),
    ("가입자명", true),
    ("학생명", true),
    ("직원명", true),
    ("사원명", true),
    ("회원명", true),
    ("참석자", true),
    ("의뢰인", true),
    ("임대인", true),
    ("임차인", true),
    ("매도인", true),
    ("매수인", true),
    ("채무자", true),
    ("채권자", true),
    // Roles in HR, incident and recruiting records (`피해자: 국하은 / 가해자: 변준영`, `징계 대상자: 탁민규`).
    ("수신", true),
    ("피해자", true),
    ("가해자", true),
    ("신고자", true),
    ("면접자", true),
    ("지원자", true),
    ("대상자", true),
    ("예정자", true),
    // Legal and civil records (`피의자: 문태식`, `세대주: 고은비`); the parties of a hearing also head its lines of
    // dialogue (`증인: 기억이 안 납니다`), so they are weak.
    ("피의자", false),
    ("피고인", false),
    ("피고소인", false),
    ("고소인", false),
    ("참고인", false),
    ("증인", false),
    ("민원인", false),
    ("보증인", true),
    ("세대주", true),
    // Clinical and approval records (`주치의: 강태호`, `기안자: 김철수`), emergency contacts (`비상연락처: 배우자
    // 김수연 010-…`: a kinship word before the name is skipped) and kin as labels (`배우자: 김수연`).
    ("주치의", true),
    ("담당의", true),
    ("기안자", true),
    ("결재자", true),
    ("비상연락처", true),
    ("긴급연락처", true),
    ("배우자", true),
    ("부친", true),
    ("모친", true),
    ("아버지", false),
    ("어머니", false),
    ("환자", false),
    ("고객", false),
    ("학생", false),
    ("대표", false),
    ("직원", false),
    ("회원", false),
];

/// Cities, counties and districts (시·군·구, including the non-autonomous districts of large cities such as `분당구`)
/// that may lead a road address written without its province ([`Check::AddressRoad`]). Sorted by UTF-8 bytes (binary
/// search).
pub(crate) const KR_DISTRICTS: &[&str] = &[
    "가평군",
    "강남구",
    "강동구",
    "강릉시",
    "강북구",
    "강서구",
    "강진군",
    "강화군",
    "거제시",
    "거창군",
    "경산시",
    "경주시",
    "계룡시",
    "계양구",
    "고령군",
    "고성군",
    "고양시",
    "고창군",
    "고흥군",
    "곡성군",
    "공주시",
    "과천시",
    "관악구",
    "광명시",
    "광산구",
    "광양시",
    "광주시",
    "광진구",
    "괴산군",
    "구례군",
    "구로구",
    "구리시",
    "구미시",
    "군산시",
    "군위군",
    "군포시",
    "권선구",
    "금산군",
    "금정구",
    "금천구",
    "기장군",
    "기흥구",
    "김제시",
    "김천시",
    "김포시",
    "김해시",
    "나주시",
    "남구",
    "남동구",
    "남양주시",
    "남원시",
    "남해군",
    "노원구",
    "논산시",
    "단양군",
    "단원구",
    "달서구",
    "달성군",
    "담양군",
    "당진시",
    "대덕구",
    "덕양구",
    "덕진구",
    "도봉구",
    "동구",
    "동남구",
    "동대문구",
    "동두천시",
    "동래구",
    "동안구",
    "동작구",
    "동탄구",
    "동해시",
    "마산합포구",
    "마산회원구",
    "마포구",
    "만세구",
    "만안구",
    "목포시",
    "무안군",
    "무주군",
    "문경시",
    "미추홀구",
    "밀양시",
    "병점구",
    "보령시",
    "보성군",
    "보은군",
    "봉화군",
    "부산진구",
    "부안군",
    "부여군",
    "부천시",
    "부평구",
    "북구",
    "분당구",
    "사상구",
    "사천시",
    "사하구",
    "산청군",
    "삼척시",
    "상당구",
    "상록구",
    "상주시",
    "서구",
    "서귀포시",
    "서대문구",
    "서북구",
    "서산시",
    "서원구",
    "서천군",
    "서초구",
    "성남시",
    "성동구",
    "성북구",
    "성산구",
    "성주군",
    "세종시",
    "소사구",
    "속초시",
    "송파구",
    "수성구",
    "수영구",
    "수원시",
    "수정구",
    "수지구",
    "순창군",
    "순천시",
    "시흥시",
    "신안군",
    "아산시",
    "안동시",
    "안산시",
    "안성시",
    "안양시",
    "양구군",
    "양산시",
    "양양군",
    "양주시",
    "양천구",
    "양평군",
    "여수시",
    "여주시",
    "연수구",
    "연제구",
    "연천군",
    "영광군",
    "영덕군",
    "영도구",
    "영동군",
    "영등포구",
    "영암군",
    "영양군",
    "영월군",
    "영주시",
    "영천시",
    "영통구",
    "예산군",
    "예천군",
    "오산시",
    "오정구",
    "옥천군",
    "옹진군",
    "완도군",
    "완산구",
    "완주군",
    "용산구",
    "용인시",
    "울릉군",
    "울주군",
    "울진군",
    "원미구",
    "원주시",
    "유성구",
    "은평구",
    "음성군",
    "의령군",
    "의성군",
    "의왕시",
    "의정부시",
    "의창구",
    "이천시",
    "익산시",
    "인제군",
    "일산동구",
    "일산서구",
    "임실군",
    "장성군",
    "장수군",
    "장안구",
    "장흥군",
    "전주시",
    "정선군",
    "정읍시",
    "제주시",
    "제천시",
    "종로구",
    "중구",
    "중랑구",
    "중원구",
    "증평군",
    "진도군",
    "진안군",
    "진주시",
    "진천군",
    "진해구",
    "창녕군",
    "창원시",
    "처인구",
    "천안시",
    "철원군",
    "청도군",
    "청송군",
    "청양군",
    "청원구",
    "청주시",
    "춘천시",
    "충주시",
    "칠곡군",
    "태백시",
    "태안군",
    "통영시",
    "파주시",
    "팔달구",
    "평창군",
    "평택시",
    "포천시",
    "포항시",
    "하남시",
    "하동군",
    "함안군",
    "함양군",
    "함평군",
    "합천군",
    "해남군",
    "해운대구",
    "홍성군",
    "홍천군",
    "화성시",
    "화순군",
    "화천군",
    "횡성군",
    "효행구",
    "흥덕구",
];

/// Honorifics and roles that follow a Korean name (longest first so trimming picks the right one), and the letter
/// closings `드림`/`올림` (`홍길동 드림`), which count only where they end the line ([`PERSON_CLOSINGS`]).
pub(crate) const PERSON_SUFFIXES: &[&str] = &[
    "고객",
    "환자",
    "선생",
    "과장",
    "부장",
    "차장",
    "대리",
    "사원",
    "팀장",
    "대표",
    "교수",
    "주임",
    "원장",
    "드림",
    "올림",
    "부사장",
    "본부장",
    "센터장",
    "변호사",
    "연구원",
    "사장",
    "이사",
    "상무",
    "전무",
    "실장",
    "기자",
    "소령",
    "중령",
    "대령",
    "대위",
    "중위",
    "소위",
    "님",
    "씨",
];

/// Titles among [`PERSON_SUFFIXES`] that are also ordinary words or start compounds (`이사회`, `연구원들`,
/// `사장님` aside): a name before one only when the title ends its word or takes a particle or `님`
/// ([`title_ends_word`]).
pub(crate) const PERSON_TITLES: &[&str] = &[
    "부사장",
    "본부장",
    "센터장",
    "변호사",
    "연구원",
    "사장",
    "이사",
    "상무",
    "전무",
    "실장",
    "기자",
    "소령",
    "중령",
    "대령",
    "대위",
    "중위",
    "소위",
];

/// Titles among [`PERSON_SUFFIXES`] that also stand before a full name (`담당: 소령 한동훈`, `대표이사 김철수`, `책임연구원
/// 이서연이 발표했다`), longest first: ranks, offices and professions that lead a name in signatures, rosters and
/// reports. Not the ones that lead common nouns far more often than names (`대리 신청서`, `고객 정보`, `환자 상태`,
/// `과장 광고`), nor `님`/`씨`. The name scanner reads the name after one space (`Engine::person_after_title`).
pub(crate) const PERSON_TITLES_BEFORE: &[&str] = &[
    "부사장",
    "본부장",
    "센터장",
    "변호사",
    "연구원",
    "사장",
    "이사",
    "상무",
    "전무",
    "실장",
    "팀장",
    "원장",
    "대표",
    "교수",
    "기자",
    "소령",
    "중령",
    "대령",
    "대위",
    "중위",
    "소위",
];

/// Whether the title ending at `end` ends its word: the text ends, a non-Hangul character follows, or a particle
/// or `님` (`김철수 이사가`, `이영희 본부장님`), not `이사회`, `기자단`.
pub(crate) fn title_ends_word(hay: &str, end: usize) -> bool {
    hay.get(end..)
        .and_then(|t| t.chars().next())
        .is_none_or(|c| {
            !('가'..='힣').contains(&c)
                || matches!(
                    c,
                    '이' | '가'
                        | '은'
                        | '는'
                        | '을'
                        | '를'
                        | '의'
                        | '께'
                        | '과'
                        | '와'
                        | '님'
                        | '도'
                        | '만'
                        | '에'
                        | '으'
                        | '로'
                        | '및'
                )
        })
}

/// Kinship words a form puts before a relative's name (`보호자: 남편 윤재석`, `비상연락처: 배우자 김수연`).
pub(crate) const KINSHIP: &[&str] = &[
    "남편",
    "아내",
    "배우자",
    "부친",
    "모친",
    "아버지",
    "어머니",
    "아들",
    "딸",
    "자녀",
    "장남",
    "장녀",
    "차남",
    "차녀",
    "형",
    "누나",
    "오빠",
    "언니",
    "동생",
    "조부",
    "조모",
];

/// The endings of a self-introduction after the name (`저는 홍길동입니다`, `이서연이에요`, `김민수라고 합니다`), each
/// `이…` form before the one without (the name is what is left). `라고` only before `합니다`/`해요`: `저는 최선이라고
/// 생각해요` gives an opinion, not a name.
pub(crate) const INTRO_ENDINGS: &[&str] = &[
    "입니다",
    "이에요",
    "예요",
    "이라고 합니다",
    "라고 합니다",
    "이라고합니다",
    "라고합니다",
    "이라고 해요",
    "라고 해요",
];

/// Letter closings among [`PERSON_SUFFIXES`]: a name before one only when the closing ends its line (or the text, or
/// is followed by ASCII punctuation): not `올림픽`, `김치 드림 이벤트`.
pub(crate) const PERSON_CLOSINGS: &[&str] = &["드림", "올림"];

/// Words that look like a surname + given name before an honorific but are roles, kinship terms or common nouns.
pub(crate) const PERSON_STOPLIST: &[&str] = &[
    "고객",
    "사장",
    "선생",
    "부장",
    "차장",
    "회장",
    "원장",
    "교수",
    "기사",
    "손님",
    "부모",
    "하나",
    "주인",
    "고모",
    "사모",
    "장모",
    "장인",
    "이사",
    "상무",
    "전무",
    "조교",
    "공주",
    "왕자",
    "선배",
    "동생",
    "간호",
    "감독",
    "도사",
    "박사",
    "신부",
    "목사",
    "전도",
    "위원",
    "연구",
    "방장",
    "용사",
    "반장",
    "시장",
    "구청",
    "국장",
    "주임",
    "대리",
    "사원",
    "정보",
    "이번",
    "이름",
    "성명",
    "이상",
    "이하",
    "이전",
    "이후",
    "정도",
    "정말",
    "조금",
    "주말",
    "주문",
    "문의",
    "문제",
    "전화",
    "안내",
    "신청",
    "연락",
    "고객님",
    "한번",
    "지금",
    "오늘",
    "내일",
    "어제",
    "여러",
    "모든",
    "우리",
    "당신",
    "여기",
    "거기",
    "저기",
    "최근",
    "최고",
    "최대",
    "최소",
    "전체",
    "전문",
    "기존",
    "기타",
    "관리",
    "담당",
    "상담",
    "김치",
    "임시",
    "변경",
    "성함",
    "양식",
    "서비스",
    "배송",
    "도착",
    "안녕",
    "감사",
    "조회",
    "확인",
    "기본",
    "남자",
    "여자",
    "소개",
    "신규",
    "유지",
    "진행",
    "지난",
    "방문",
    "노인",
    "마음",
    "명의",
    "사용",
    "환자",
    "부모님",
    "하나님",
    "예금",
    "수신",
    "작성",
    "보호",
    "피보",
    "홍보",
    "공지",
    "제목",
    "내용",
    "선생님",
    "사장님",
    // Common nouns whose syllables also occur in given names, seen before an honorific or after a form label.
    "우수",
    "신한",
    "한국",
    "공동",
    "소아",
    "지도",
    "명예",
    "공식",
    "기관",
    "장기",
    "주요",
    "주민",
    "주소",
    "배정",
    "기재",
    "서명",
    "서명란",
    "강사",
    "부서장",
    "전직",
    "정규",
    "전원",
    "조사",
    "유명",
    "최종",
    "전국",
    "서울",
    "한양",
    "고등",
    "초등",
    "중등",
    "대학",
    "대한",
    "안전",
    "보안",
    "보건",
    "구매",
    "판매",
    "운영",
    "민원",
    "인사",
    "경영",
    "연세",
    "고려",
    "명단",
    // Roles, customer segments, form words and kinship terms seen before an honorific or after a label (review
    // of session 10), and nouns made of the syllables added to `GIVEN_SYLLABLES` with it (연결, 서울, 연령, 화면 …).
    "간호사",
    "주치의",
    "전공의",
    "전문의",
    "여성",
    "남성",
    "장애",
    "장애인",
    "정회원",
    "회원",
    "동의",
    "동의서",
    "부재",
    "이용",
    "유선",
    "현금",
    "우대",
    "모바일",
    "연결",
    "우울",
    "연말",
    "기말",
    "연령",
    "명령",
    "고령",
    "고령자",
    "지령",
    "사령",
    "사령관",
    "이에",
    "어디",
    "우량",
    "성인",
    "여아",
    "남아",
    "유아",
    "임부",
    "임산부",
    "신생아",
    "주부",
    "어린이",
    "사회",
    "한문",
    "도덕",
    "가정",
    "전임",
    "시간",
    "선임",
    "현장",
    "국내",
    "공공",
    "온라인",
    "지정",
    "지원",
    "선택",
    "부서",
    "전면",
    "정면",
    "이면",
    "지면",
    "방면",
    "장면",
    "국면",
    "화면",
    "표면",
    "반면",
    "양면",
    "단면",
    "안면",
    "서면",
    "부교수",
    "정교수",
    "조교수",
    "경리",
    "전산",
    "설계",
    "시설",
    "지사",
    "지점",
    "지점장",
    "공란",
    "공백",
    "배우자",
    "장남",
    "장녀",
    "차남",
    "차녀",
    "형제",
    "지인",
    "상사",
    "부하",
    "여사",
    "도련",
    "소장",
    "이장",
    "조장",
    "단장",
    "위원장",
    "사무장",
    "계장",
    "주무관",
    "경위",
    "경사",
    "경장",
    "순경",
    "상병",
    "이병",
    "하사",
    "중사",
    "소위",
    "소령",
    "원사",
    "장로",
    "권사",
    "성도",
    // Table column headers (a header cell next to `| 성명 |` must not read as a name).
    "나이",
    "설명",
    "성별",
    "구분",
    "상태",
    "단가",
    "진단",
    "차량",
    "사유",
    "장소",
    "전공",
    "신장",
    "기간",
    "기한",
    "유형",
    "용도",
    "단계",
    "위치",
    "주소지",
    "소계",
    "인원",
    "명수",
    "지각",
    "부서명",
    "호봉",
    "연봉",
    "공제",
    "국가",
    "도시",
    "승인",
    "반려",
    "도장",
    // Roles and forms of address before `님` in support and service text (`사용자님`, `구매자님`), and in a name
    // column's role rows; `주지스님` is `주지` + `스님`.
    "상담사",
    "상담원",
    "사용자",
    "구매자",
    "판매자",
    "관리자",
    "운영자",
    "방문자",
    "지원자",
    "후원자",
    "가입자",
    "참가자",
    "참석자",
    "주최자",
    "구독자",
    "시청자",
    "신청자",
    "민원인",
    "이사장",
    "구청장",
    "정비사",
    "조리사",
    "안내원",
    "배달원",
    "경비원",
    "연구원",
    "공무원",
    "임금",
    "사부",
    "이모",
    "예수",
    "천주",
    "주지스",
    // Organisations and words a form label can precede (`성명: 주식회사 …`, `예금주: 국민건강보험공단`,
    // `수령인: 경비실`, `이름: 정상 처리됨`).
    "주식",
    "회사",
    "국민",
    "건강",
    "경비실",
    "관리실",
    "이사회",
    "정상",
    "정렬",
    "회의실",
    // Occupations, statuses and family roles a self-introduction names (`저는 변호사입니다`, `저는 한국인이에요`).
    "한국인",
    "변호사",
    "기자",
    "가수",
    "배우",
    "선수",
    "경찰",
    "경찰관",
    "소방관",
    "남편",
    "엄마",
    "신입",
    "신입생",
    "유학생",
    "전업주부",
    "인턴",
    "초보",
    "초보자",
    "기획자",
    "마케터",
    "부부",
    "모델",
    "가장",
    "임차인",
    "임대인",
    "소유자",
    "동기",
    "전문가",
    "전공자",
    "전학생",
    "편입생",
    "졸업생",
    "재학생",
    "복학생",
    "경력직",
    "구직자",
    "노동자",
    "사업자",
    "자영업자",
    "사회인",
    "학부모",
    "손자",
    "손녀",
    "조카",
    "사위",
    "장손",
    "여행자",
    "정직원",
    "직장인",
    "대학생",
    "회사원",
    "개발자",
    "공대생",
    "한국사람",
    // Words after a recruiting role (`지원자 모집`, `지원자는 모두`, `지원자 서류`).
    "모집",
    "모두",
    "서류",
    "현황",
    "전형",
    "선발",
    "합격",
    // Places a self-introduction names (`저는 부산이에요`: where one is from or lives).
    "부산",
    "인천",
    "제주",
    "수원",
    "성남",
    "강남",
    "강북",
    "강서",
    "강동",
    "송파",
    "서초",
    "마포",
    "용산",
    "노원",
    "은평",
    "양천",
    "구로",
    "방배",
    "안양",
    "안산",
    "부천",
    "고양",
    "용인",
    "천안",
    "전주",
    "경주",
    "원주",
    "강릉",
    "김해",
    "김포",
    "하남",
    "이천",
    "분당",
    "판교",
    "일산",
    "동탄",
    "대전",
    "광주",
    "울산",
    "대구",
    "포항",
    "창원",
    "진주",
    "여수",
    "순천",
    "평택",
    "파주",
    "남양주",
    "의정부",
    "세종",
    // Answers and opinions a `저는 …입니다` sentence gives (`저는 반대입니다`, `저는 기혼입니다`), and `성명란`.
    "기혼",
    "미혼",
    "반대",
    "찬성",
    "마지막",
    "사실",
    "장점",
    "단점",
    "최선",
    "오해",
    "성명란",
    // `수신자: 수신자 참조` (the label as its own value), `최우수 사원` (an award before a title).
    "수신자",
    "최우수",
    // `국선 변호사` (court-appointed), before a title.
    "국선",
    "정답",
    "오답",
    "반반",
    "공감",
    "전부",
    "전혀",
    "부족",
    "불만",
    "만족",
    // Services before a rank (`육군 대위 남궁민`): not a name before the title.
    "육군",
    "공군",
    "해군",
    // Senders, recipients and offices that a form label or a mail display name (`수신: 내부결재`, `From: 국세청
    // <…>`) puts where a name goes: agencies, ministries and companies shaped like a surname and a given name.
    "국세청",
    "관세청",
    "조달청",
    "기상청",
    "경찰청",
    "검찰청",
    "교육청",
    "고용부",
    "노동부",
    "국정원",
    "감사원",
    "한전",
    "신협",
    "정부",
    "배민",
    "신세계",
    "현대차",
    "위택스",
    "내부",
    "결재",
    // Report words that a topic label (`담당자는 사항이 …`) or a title (`예산 고객`) puts where a name goes.
    "상황",
    "사항",
    "예산",
    "추가",
    "위해",
    "정리",
    "공유",
    "주에",
    "검토",
    "요청",
    "결과",
    "일정",
    "자료",
    "보고",
    "분석",
    "점검",
    "절차",
    "개선",
    "제출",
];

/// Detectors found by anchored code scanners instead of the regex union (their regexes would start with a broad class
/// and defeat the union's literal prefilter): (detector, entity, base score, check, boundary).
pub(crate) const SCANNERS: &[(&str, Entity, f32, Check, Boundary)] = &[
    ("email", Entity::Email, 0.9, Check::Email, Boundary::None),
    (
        "secret.pem",
        Entity::SecretKey,
        0.95,
        Check::Pem,
        Boundary::None,
    ),
    (
        "ip_address.v6",
        Entity::IpAddress,
        0.7,
        Check::Ipv6,
        Boundary::Word,
    ),
    (
        "person.ko",
        Entity::Person,
        0.7,
        Check::PersonKoAfter,
        Boundary::HangulStart,
    ),
    // `수령인: 윤채원`: the form labels of [`PERSON_COLON_LABELS`] before a colon, found from `:` by `memchr` (as
    // trigger literals, 30 more Hangul words would cost several per cent of the trigger pass).
    (
        "person.ko_label",
        Entity::Person,
        0.8,
        Check::PersonKoColon,
        Boundary::None,
    ),
    // `강남구 테헤란로 427`: a road address without its province, found from the house number's digit run (the
    // regex above starts at the province; a district list as trigger literals would crowd the trigger pass).
    (
        "kr_address",
        Entity::KrAddress,
        0.75,
        Check::AddressRoad,
        Boundary::None,
    ),
    // `Phone: (212) 736-4821`, `電話 03-1234-5678`: a number without `+` only right after a phone label, found at the
    // digit runs where no pattern matched (a regex for every national shape would match most digit runs, dates and
    // order numbers included, and cost a rejected search at each).
    (
        "phone",
        Entity::Phone,
        0.6,
        Check::PhoneLabel,
        Boundary::Number,
    ),
    // `host:5432:db:user:password` (`.pgpass`): found from the `:` pass (the IPv6 scanner's, or the colon labels').
    (
        "secret.pgpass",
        Entity::SecretKey,
        0.8,
        Check::Pgpass,
        Boundary::None,
    ),
    // `auth = ('user', 'password')` and `HTTPBasicAuth('user', 'password')`: the forms the `secret.user_password`
    // regex (`auth=(`) leaves, found from `(` by `memchr` (trigger literals for them cost ~2 %).
    (
        "secret.auth_tuple",
        Entity::SecretKey,
        0.8,
        Check::Credential,
        Boundary::None,
    ),
];

/// The header line of a PEM private key (regex form, for baselines; the engine parses it in code).
pub(crate) const PEM_HEADER: &str = r"-----BEGIN[A-Z ]{0,24}PRIVATE KEY(?: BLOCK)?-----";
/// The footer line of a PEM private key (regex form, for baselines).
pub(crate) const PEM_FOOTER: &str = r"-----END[A-Z ]{0,24}PRIVATE KEY(?: BLOCK)?-----";

/// Trigger literals (case-sensitive) for the builtin regex union, with how many bytes before the literal a match may
/// start. Every builtin regex pattern starts at a trigger (minus its back-offset) or at a digit run / `+` (see
/// [`DIGIT_BACK`]); the engine runs the union only there, anchored, instead of over every byte. All literals (plus the
/// honorifics of the name scanner) are searched in one pass by one lazy DFA; literals such as `assword` with
/// back-offset 1 cover `password` and `Password` at once.
pub(crate) const TRIGGERS: &[(&str, usize)] = &[
    // markings (ASCII: 11; portion marks start with `(`, found by the digit-run scanner)
    ("COSMIC", 0),
    ("TOP ", 3),
    ("NATO ", 0),
    ("SECRET", 3),
    ("CONFIDENTIAL", 3),
    ("STRICTLY", 0),
    ("Strictly ", 0),
    ("Confidential", 0),
    ("RESTRICTED", 3),
    ("CUI", 0),
    ("CONTROLLED", 0),
    ("FOUO", 0),
    ("OFFICIAL", 4),
    ("UK EYES", 0),
    // secrets (ASCII: 78)
    ("AKIA", 0),
    ("ASIA", 0),
    ("ABIA", 0),
    ("ACCA", 0),
    ("A3T", 0),
    ("sk-", 0),
    ("ghp_", 0),
    ("gho_", 0),
    ("ghu_", 0),
    ("ghs_", 0),
    ("ghr_", 0),
    ("github_pat_", 0),
    ("glpat-", 0),
    ("k_live_", 1),
    ("k_test_", 1),
    ("Q~", 4),
    ("sig=", 1),
    ("SG.", 0),
    ("_v1_", 3),
    ("npm_", 0),
    ("pypi-AgE", 0),
    ("hf_", 0),
    ("xapp-", 0),
    ("xox", 0),
    ("AIza", 0),
    ("ya29.", 0),
    ("dckr_", 0),
    // Not `shp` alone: a hit hides the overlapping `pass` of `sshpass`.
    ("shpat_", 0),
    ("shpss_", 0),
    ("shpca_", 0),
    ("shppa_", 0),
    ("hvs.", 0),
    ("hvb.", 0),
    ("auth\"", 1),
    ("LS0tLS1C", 0),
    ("echo ", 0),
    ("openssl ", 0),
    ("eyJ", 0),
    ("assword", 1),
    ("PASS", 0),
    ("asswd", 1),
    ("pw", 0),
    ("PW", 0),
    ("assphrase", 1),
    ("ecret", 1),
    ("api", 0),
    ("Api", 0),
    ("API", 0),
    ("ccess_token", 1),
    ("ccessToken", 1),
    ("ACCESS_TOKEN", 0),
    ("uth_token", 1),
    ("uthToken", 1),
    ("AUTH_TOKEN", 0),
    ("lient_secret", 1),
    ("lientSecret", 1),
    ("CLIENT_SECRET", 0),
    ("ountKey", 3),
    ("cessKey", 8),
    ("rivate_key", 1),
    ("rivateKey", 1),
    ("PRIVATE_KEY", 0),
    // `encryption_key`, `MASTER_KEY`, `SIGNING_KEY` (the longest word before it: `encryption`).
    ("_key", 10),
    ("_KEY", 10),
    // `masterKey`, `encryptionKey`, `signingKey` (and capitalised): they share the `…Key` buckets of `ountKey`.
    ("terKey", 3),
    ("ionKey", 7),
    ("ingKey", 4),
    ("pass", 0),
    ("Pw", 0),
    ("oken", 1),
    ("TOKEN", 0),
    ("uthorization", 1),
    ("AUTHORIZATION", 0),
    ("://", 0),
    ("-u ", 0),
    ("--user ", 0),
    ("redis-cli", 0),
    ("REDISCLI_AUTH", 0),
    (":thin:", 0),
    ("h=(", 3),
    // SQL's `IDENTIFIED BY '…'` in capitals (`PASSWORD '…'` starts at `PASS`/`assword`); lower-case
    // `identified by` is common English, and `ied by` as a literal cost the clean scan +2.5 %: in lower case only
    // before a quoted value, `identified by '…'`, from the quote.
    ("D BY", 9),
    ("by '", 11),
    ("by \"", 11),
    // English names (ASCII: 26)
    ("Mr.", 0),
    ("Mr ", 0),
    ("Mrs", 0),
    ("Ms.", 0),
    ("Ms ", 0),
    ("Miss", 0),
    ("Dr.", 0),
    ("Dr ", 0),
    ("Prof", 0),
    ("Sgt.", 0),
    // `Capt` without its dot: `Capt.` would be a fourth literal ending in `.` among the 4–5-byte ones, which regroups
    // that category's buckets (+4 % bucket candidates on the clean corpus; `Capt`: none).
    ("Capt", 0),
    ("Lt.", 0),
    ("Col.", 0),
    ("Gen.", 0),
    ("Maj.", 0),
    ("Cpl.", 0),
    ("Dear", 0),
    ("egards,", 1),
    ("incerely,", 1),
    ("hanks,", 1),
    ("heers,", 1),
    ("Hi ", 0),
    ("Hello", 0),
    ("name", 0),
    ("Name", 0),
    ("NAME", 0),
    ("ustomer", 1),
    ("atient", 1),
    ("mployee", 1),
    ("pplicant", 1),
    // Hangul: markings, secrets, name labels, `저는`, `제가`, provinces (47)
    ("급", 16),
    ("대외비", 0),
    ("대 외 비", 0),
    ("군사", 0),
    ("극비", 0),
    ("비밀번호", 0),
    ("패스워드", 0),
    ("암호", 0),
    ("비번", 0),
    ("성명", 0),
    ("이름", 0),
    ("성함", 0),
    ("고객명", 0),
    ("환자명", 0),
    ("예금주", 0),
    ("직원명", 0),
    ("사원명", 0),
    ("주치의", 0),
    ("수신인", 0),
    ("신청인", 0),
    ("작성자", 0),
    ("담당자", 0),
    ("지원자", 0),
    ("저는", 0),
    ("제가", 0),
    ("피보험자", 0),
    ("보호자", 0),
    ("상담원", 0),
    ("상담사", 0),
    ("대표자", 0),
    ("서울", 0),
    ("부산", 0),
    ("대구", 0),
    ("인천", 0),
    ("광주", 0),
    ("대전", 0),
    ("울산", 0),
    ("세종", 0),
    ("경기", 0),
    ("강원", 0),
    ("충청", 0),
    ("충북", 0),
    ("충남", 0),
    ("전라", 0),
    ("전북", 0),
    ("전남", 0),
    ("경상", 0),
    ("경북", 0),
    ("경남", 0),
    ("제주", 0),
];

/// Trigger literals with a back-offset that start no match where they stand, being cut from inside a word
/// (`ustomer` for `Customer` and `customer`, `assword`, `급` of `Ⅱ급비밀`): at such a literal only the starts
/// before it are searched. Data, checked against the union's lazy DFA by a test (`Union::may_start_with`), so an
/// engine pays nothing for it at start-up (asking the DFA took ~50 M instructions of determinisation).
pub(crate) const TRIGGERS_INSIDE_A_WORD: &[&str] = &[
    "k_live_",
    "k_test_",
    "sig=",
    "_v1_",
    "auth\"",
    "assword",
    "asswd",
    "assphrase",
    "ecret",
    "ccess_token",
    "ccessToken",
    "uth_token",
    "uthToken",
    "lient_secret",
    "lientSecret",
    "ountKey",
    "cessKey",
    "rivate_key",
    "rivateKey",
    "_key",
    "_KEY",
    "terKey",
    "ionKey",
    "ingKey",
    "oken",
    "uthorization",
    "h=(",
    "D BY",
    "by '",
    "by \"",
    "egards,",
    "incerely,",
    "hanks,",
    "heers,",
    "ustomer",
    "atient",
    "mployee",
    "pplicant",
    "급",
];

/// Trigger literals that begin a match only at the start of a token: a JWT (`eyJ…`) glued to a preceding letter,
/// digit, `_` or `-` is part of a longer token, not a JWT of its own.
pub(crate) const TOKEN_START_TRIGGERS: &[&str] = &["eyJ"];

/// Bytes before the first digit of a digit run (or a `+` or `(`) where a match may start: IBAN country code (2), passport
/// type letter (1).
pub(crate) const DIGIT_BACK: usize = 2;

/// The checks of the patterns whose match may begin in the [`DIGIT_BACK`] bytes before a digit run and that no
/// trigger literal reaches: only their first bytes are tried there. Every other pattern starts at a trigger
/// (`AKIA`, `Q~`, `sk-`, …) or at the run itself; the Azure AD secret alone (`[A-Za-z0-9_~.]{3}[0-9]Q~…`, found
/// from `Q~`) would otherwise make every letter, digit and `.` before a number worth a search (`version 2.3.1`:
/// three searches at `2`, `.`, `3` for nothing).
pub(crate) const DIGIT_LEAD_CHECKS: &[Check] = &[Check::Passport, Check::Iban];

/// Whether a match of a [`DIGIT_LEAD_CHECKS`] pattern may start two bytes before a digit run at `first`, `second`
/// being the byte between: an IBAN's country code (two letters) or a spaced passport number (`M 1234 5678`). A word's
/// last letter and a blank before a number (`version 2.3.1`, `P 192.168.0.1`) are neither.
pub(crate) fn digit_lead_pair(first: u8, second: u8) -> bool {
    second.is_ascii_alphabetic()
        || (second == b' ' && matches!(first, b'M' | b'S' | b'R' | b'G' | b'D'))
}

/// Regex equivalents of [`SCANNERS`], for baselines only (the engine uses anchored code instead).
pub(crate) fn scanner_equivalents() -> Vec<(&'static str, String)> {
    vec![
        (
            "email",
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}".to_owned(),
        ),
        (
            "ip_address.v6",
            r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}".to_owned(),
        ),
        (
            "secret.pem",
            format!("{PEM_HEADER}(?:[A-Za-z0-9+/=\\t\\r\\n :,.-]*?{PEM_FOOTER})?"),
        ),
        (
            "secret.auth_tuple",
            r#"(?:auth(?: += *| *= +)\(|[A-Za-z0-9_]{0,32}Auth\() *["'][^"'\r\n]{1,64}["'] *, *(?:"[^"\r\n]{3,128}"|'[^'\r\n]{3,128}')"#.to_owned(),
        ),
        (
            "person.ko",
            format!(
                "{}[가-힣]{{1,2}} ?(?:{})",
                surnames_regex(),
                PERSON_SUFFIXES.join("|")
            ),
        ),
        (
            "person.ko_label",
            format!(
                r#"(?:{})["']? *:["' ]*{}[가-힣]{{1,3}}"#,
                PERSON_COLON_LABELS
                    .iter()
                    .map(|(l, _)| *l)
                    .collect::<Vec<_>>()
                    .join("|"),
                surnames_regex()
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`digit_lead_pair`] lets through every two-byte start of a [`DIGIT_LEAD_CHECKS`] pattern before a digit run:
    /// each pair of ASCII bytes, followed by the digits of an IBAN or a passport number in each of their shapes, that
    /// one of those patterns matches from its first byte. (The byte right before a run is no digit, `+` or `(`: it
    /// would belong to the run.)
    #[test]
    fn digit_lead_pairs_cover_the_patterns_before_digits() {
        let sources: Vec<String> = patterns()
            .into_iter()
            .filter(|p| DIGIT_LEAD_CHECKS.contains(&p.check))
            .map(|p| format!("^(?:{})", p.regex))
            .collect();
        assert!(sources.len() >= 3);
        let set = regex::RegexSet::new(&sources).unwrap();
        let tails = [
            "12345678",
            "1234 5678",
            "123A4567",
            "89370400440532013000",
            "89 3704 0044 0532 0130 00",
        ];
        let mut starts = 0;
        for x in 0u8..128 {
            for y in (0u8..128).filter(|y| !y.is_ascii_digit() && !b"+(".contains(y)) {
                for tail in tails {
                    let text = format!("{}{}{tail}", char::from(x), char::from(y));
                    if set.is_match(&text) {
                        starts += 1;
                        assert!(digit_lead_pair(x, y), "{text:?}");
                    }
                }
            }
        }
        assert!(starts > 26 * 26, "{starts}");
        for (x, y) in [(b'n', b' '), (b'P', b' '), (b'e', b'.'), (b'2', b'.')] {
            assert!(!digit_lead_pair(x, y));
        }
    }

    /// The titles that need the word-end rule are a subset of the suffixes the name pass looks for (the two lists
    /// are written out separately; this keeps them in step).
    #[test]
    fn titles_are_person_suffixes() {
        for t in PERSON_TITLES_BEFORE {
            assert!(PERSON_SUFFIXES.contains(t), "{t}");
        }
        for t in PERSON_TITLES {
            assert!(PERSON_SUFFIXES.contains(t), "{t}");
        }
    }
}
