//! PERSON recall on generated Korean names in the contexts the detector is designed for (honorifics, role titles,
//! form labels) and English names after a title. Names without context are deliberately NOT detected (precision
//! first), so they are not part of this measurement. Prints the recall per context; fails below the documented floor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haetae::detect::{Engine, Entity};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

// The 20 most common surnames (about 78% of the population) plus a few rarer and two-syllable ones.
const SURNAMES: &[&str] = &[
    "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황",
    "안", "송", "류", "전", "홍", "고", "문", "양", "손", "배", "백", "허", "남궁", "선우", "제갈",
];
const GIVEN: &[&str] = &[
    "민", "서", "지", "현", "준", "영", "수", "우", "진", "하", "윤", "은", "예", "도", "시", "성",
    "재", "혜", "유", "태", "연", "주", "원", "희", "호", "빈", "아", "경", "석", "훈",
];
const FIRST_EN: &[&str] = &[
    "John", "Mary", "James", "Linda", "David", "Susan", "Robert", "Karen", "Minsu", "Jiyoung",
];
const LAST_EN: &[&str] = &[
    "Smith", "Johnson", "Brown", "Kim", "Lee", "Park", "Garcia", "Miller", "Davis", "Wilson",
];

fn recall(engine: &Engine, rng: &mut Rng, template: &str, english: bool) -> f64 {
    let n = 400;
    let mut hit = 0;
    for _ in 0..n {
        let name = if english {
            format!("{} {}", rng.pick(FIRST_EN), rng.pick(LAST_EN))
        } else {
            let given_len = if rng.next().is_multiple_of(5) { 1 } else { 2 };
            let mut s = rng.pick(SURNAMES).to_owned();
            for _ in 0..given_len {
                s.push_str(rng.pick(GIVEN));
            }
            s
        };
        let text = template.replace("{}", &name);
        let start = text.find(&name).unwrap();
        let found = engine
            .scan(&text)
            .iter()
            .any(|f| f.entity == Entity::Person && f.start == start && f.end == start + name.len());
        hit += usize::from(found);
    }
    hit as f64 / n as f64
}

#[test]
fn person_recall_in_context() {
    let engine = Engine::builtin().unwrap();
    let mut rng = Rng(42);
    let contexts: &[(&str, bool, f64)] = &[
        (
            "안녕하세요 {}님, 주문하신 상품이 발송되었습니다.",
            false,
            0.95,
        ),
        ("어제 {} 씨가 방문했습니다.", false, 0.95),
        ("{} 고객님의 요청을 처리했습니다.", false, 0.95),
        ("담당: {} 과장 (영업팀)", false, 0.95),
        ("성명: {}\n연락처: 없음", false, 0.95),
        ("이름은 {} 입니다", false, 0.95),
        ("Dear Mr. {}, thank you.", true, 0.95),
        ("Patient: {}", true, 0.95),
        // Salutations (session 24): only strong context counts, `Hi`/`Hello` opening a line and closed by
        // the comma, `Dear` anywhere; two names joined by `and` are both names.
        ("Hi {},\nthanks for the update.", true, 0.95),
        ("Dear {} and Mary Jones,\nthank you.", true, 0.95),
    ];
    let mut report = Vec::new();
    for &(template, english, floor) in contexts {
        let r = recall(&engine, &mut rng, template, english);
        report.push(format!("{r:.3}  {template:?}"));
        assert!(r >= floor, "recall {r:.3} below {floor} for {template:?}");
    }
    println!("PERSON recall per context:\n{}", report.join("\n"));
}

fn data(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/detect/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The hand-written realistic names of `person_names_ko.txt`.
fn real_names() -> Vec<String> {
    data("person_names_ko.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Recall on hand-written realistic names (`person_names_ko.txt`: modern, older, traditional, native Korean and
/// Christian given names, two-syllable surnames) in the contexts the detector supports, exact spans only.
#[test]
fn person_recall_on_real_names() {
    let engine = Engine::builtin().unwrap();
    let names = real_names();
    assert!(names.len() >= 300, "{} names", names.len());
    let contexts = [
        "{}님 안녕하세요",
        "{} 님께 전달",
        "어제 {} 씨가 왔다",
        "{} 고객님 문의",
        "{} 환자 입원",
        "담당: {} 과장",
        "{} 교수 연구실",
        "성명: {}\n연락처: 없음",
        "성명 {} / 생년월일 없음",
        "이름은 {}입니다",
        "담당자 {}가 처리",
        "{\"성명\":\"{}\"}",
        "| 성명 | {} |",
    ];
    let mut total = 0usize;
    let mut hit = 0usize;
    let mut missed_everywhere = Vec::new();
    let mut report = Vec::new();
    let mut per_name = vec![0usize; names.len()];
    for template in contexts {
        let mut h = 0usize;
        for (i, name) in names.iter().enumerate() {
            let text = template.replacen("{}", name, 1);
            let start = text.find(name.as_str()).unwrap();
            let found = engine.scan(&text).iter().any(|f| {
                f.entity == Entity::Person && f.start == start && f.end == start + name.len()
            });
            h += usize::from(found);
            per_name[i] += usize::from(found);
        }
        report.push(format!(
            "{:.3}  {template:?}",
            h as f64 / names.len() as f64
        ));
        total += names.len();
        hit += h;
    }
    for (i, name) in names.iter().enumerate() {
        if per_name[i] == 0 {
            missed_everywhere.push(name.as_str());
        }
    }
    let r = hit as f64 / total as f64;
    println!(
        "PERSON recall on {} real names x {} contexts: {r:.3}\n{}\nmissed in every context: {}",
        names.len(),
        contexts.len(),
        report.join("\n"),
        missed_everywhere.join(" ")
    );
    assert!(r >= 0.95, "recall {r:.3} on real names");
}

/// Recall on the real names after a title that leads them (`담당: 소령 한동훈`, session 24). Only full names count
/// there (three syllables, or four after a two-syllable surname: `Engine::person_after_title`), so the names of one
/// given syllable in the list (`김구`-style) are missed by design; the floor is below the other contexts'.
#[test]
fn person_recall_after_a_title() {
    let engine = Engine::builtin().unwrap();
    let names = real_names();
    let contexts = [
        "담당: 소령 {}",
        "변호사 {}가 변론했다",
        "대표이사 {}\n주소: 없음",
        "책임연구원 {}, 선임연구원 없음",
    ];
    let mut report = Vec::new();
    for template in contexts {
        let mut h = 0usize;
        for name in &names {
            let text = template.replacen("{}", name, 1);
            let start = text.find(name.as_str()).unwrap();
            h += usize::from(engine.scan(&text).iter().any(|f| {
                f.entity == Entity::Person && f.start == start && f.end == start + name.len()
            }));
        }
        let r = h as f64 / names.len() as f64;
        report.push(format!("{r:.3}  {template:?}"));
        assert!(r >= 0.85, "recall {r:.3} below 0.85 for {template:?}");
    }
    println!("PERSON recall after a title:\n{}", report.join("\n"));
}

/// Precision side: phrases with a context word but no name (`person_negatives_ko.txt`) give no PERSON.
#[test]
fn person_negatives_are_not_names() {
    let engine = Engine::builtin().unwrap();
    let text = data("person_negatives_ko.txt");
    let phrases: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(phrases.len() >= 60);
    let wrong: Vec<String> = phrases
        .iter()
        .filter_map(|p| {
            let names: Vec<&str> = engine
                .scan(p)
                .iter()
                .filter(|f| f.entity == Entity::Person)
                .map(|f| &p[f.start..f.end])
                .collect();
            (!names.is_empty()).then(|| format!("{p:?} -> {names:?}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} phrases give a PERSON:\n{}",
        wrong.len(),
        phrases.len(),
        wrong.join("\n")
    );
}
