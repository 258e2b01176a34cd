//! Deterministic corpus generator shared by `benches/detect.rs` (mixed Korean/English prose with PII inserted).
#![allow(dead_code)]

/// splitmix64: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const KO: &[&str] = &[
    "오늘",
    "회의에서",
    "논의한",
    "내용을",
    "정리하면",
    "다음과",
    "같습니다",
    "고객",
    "요청에",
    "따라",
    "일정을",
    "조정했고",
    "담당자는",
    "보고서를",
    "작성하여",
    "제출할",
    "예정입니다",
    "서비스",
    "개선을",
    "위해",
    "데이터를",
    "분석했습니다",
    "프로젝트",
    "진행",
    "상황은",
    "양호하며",
    "추가",
    "검토가",
    "필요합니다",
    "문의",
    "사항이",
    "있으시면",
    "연락",
    "바랍니다",
    "시스템",
    "점검",
    "결과",
    "이상",
    "없음",
    "배포는",
    "다음",
    "주에",
    "진행됩니다",
    "감사합니다",
    "참고",
    "자료를",
    "첨부합니다",
    "예산",
    "승인",
    "절차",
    "변경",
    "사항",
    "공유드립니다",
    "2024년",
    "3월",
    "15일",
    "약",
    "30%",
    "증가",
];
const EN: &[&str] = &[
    "the",
    "meeting",
    "notes",
    "summarize",
    "our",
    "plan",
    "for",
    "next",
    "quarter",
    "please",
    "review",
    "attached",
    "report",
    "and",
    "send",
    "feedback",
    "by",
    "Friday",
    "we",
    "expect",
    "growth",
    "in",
    "revenue",
    "of",
    "about",
    "12%",
    "model",
    "latency",
    "improved",
    "after",
    "the",
    "update",
    "version",
    "2.3.1",
    "deployment",
    "is",
    "scheduled",
    "customer",
    "support",
    "team",
    "will",
    "follow",
    "up",
    "with",
    "details",
    "thanks",
    "regards",
    "data",
    "pipeline",
];
const PII: &[&str] = &[
    "주민등록번호 900101-1234568",
    "연락처 010-1234-5678",
    "hong.gildong@example.co.kr",
    "카드 4111 1111 1111 1111",
    "사업자등록번호 116-82-00276",
    "서울특별시 강남구 테헤란로 152",
    "김민수님",
    "여권번호 M12345678",
    "IP 192.168.10.24",
    "AKIAIOSFODNN7EXAMPLE",
    "Ⅱ급비밀",
    "계좌번호 110-123-456789",
    "SSN 123-45-6789",
    "+1 415 555 2671",
    "DE89 3704 0044 0532 0130 00",
    "password=Tr0ub4dor&3",
];

pub fn corpus(bytes: usize, pii_every: usize, seed: u64, dict: &[String]) -> String {
    let mut r = Rng(seed);
    let mut s = String::with_capacity(bytes + 256);
    let mut since = 0usize;
    while s.len() < bytes {
        let korean = r.below(3) != 0;
        let words = 6 + r.below(12);
        let before = s.len();
        for i in 0..words {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(if korean { r.pick(KO) } else { r.pick(EN) });
        }
        s.push_str(". ");
        if r.below(8) == 0 {
            s.push('\n');
        }
        since += s.len() - before;
        if since >= pii_every {
            since = 0;
            if r.below(4) == 0 && !dict.is_empty() {
                s.push_str(&dict[r.below(dict.len())]);
            } else {
                s.push_str(r.pick(PII));
            }
            s.push_str(" 입니다. ");
        }
    }
    s
}

pub fn dictionary(n: usize) -> Vec<String> {
    const SYL: &[&str] = &[
        "가", "나", "다", "라", "마", "바", "사", "아", "자", "차", "카", "타", "파", "하", "해",
        "태",
    ];
    let mut r = Rng(7);
    (0..n)
        .map(|i| {
            let mut t = String::from("코드명");
            for _ in 0..3 {
                t.push_str(r.pick(SYL));
            }
            t.push_str(&format!("{i:05}"));
            t
        })
        .collect()
}

/// `n` distinct Korean full names (a surname of 62 and two given-name syllables of 400), for a dictionary whose
/// term prefixes are too many to merge into the trigger pass (a staff directory): the engine then searches it on its
/// own, anchored where its prefix filter passes.
pub fn names(n: usize) -> Vec<String> {
    const SURNAMES: &str = "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허유남심노하곽성차주우구민진지엄채원천방공현함변염여추도소석선설마길연";
    let surnames: Vec<char> = SURNAMES.chars().collect();
    // Every 7th precomposed syllable from 가: common and rare syllables alike.
    let given: Vec<char> = (0..400)
        .filter_map(|i| char::from_u32(0xAC00 + 7 * i))
        .collect();
    let mut r = Rng(11);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n.min(surnames.len() * given.len() * given.len()) {
        let name: String = [
            surnames[r.below(surnames.len())],
            given[r.below(given.len())],
            given[r.below(given.len())],
        ]
        .iter()
        .collect();
        if seen.insert(name.clone()) {
            out.push(name);
        }
    }
    out
}
