//! SSE framer: recorded provider streams and generated streams framed at every split must yield identical events,
//! the concatenated raw bytes must equal the input, and parsed fields must match a reference model of the WHATWG
//! rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haetae::api::sse::{SseError, SseEvent, SseFramer, Tail};
use haetae::api::usage::{self, Usage};
use proptest::prelude::*;

#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<SseEvent>,
    error: Option<SseError>,
    tail: Option<Tail>,
}

fn run(input: &[u8], cuts: &[usize], max: usize) -> Outcome {
    let mut f = SseFramer::new(max);
    let mut events = Vec::new();
    let mut prev = 0;
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|c| *c <= input.len()).collect();
    bounds.sort_unstable();
    bounds.push(input.len());
    for b in bounds {
        let r = f.push(&input[prev..b]);
        prev = b;
        while let Some(e) = f.next_event() {
            events.push(e);
        }
        if let Err(e) = r {
            return Outcome {
                events,
                error: Some(e),
                tail: None,
            };
        }
    }
    Outcome {
        events,
        error: None,
        tail: Some(f.finish()),
    }
}

fn reassemble(o: &Outcome) -> Vec<u8> {
    let mut out: Vec<u8> = o.events.iter().flat_map(|e| e.raw().to_vec()).collect();
    match &o.tail {
        Some(Tail::Event(e)) => out.extend_from_slice(e.raw()),
        Some(Tail::Incomplete(b)) => out.extend_from_slice(b),
        _ => {}
    }
    out
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/api/sse/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn recorded_streams_every_two_way_split() {
    for (name, count, usage) in [
        ("openai_chat.sse", 6, (19, 6)),
        ("anthropic.sse", 8, (25, 15)),
        ("gemini.sse", 2, (9, 4)),
        ("openai_responses.sse", 3, (12, 3)),
    ] {
        let input = fixture(name);
        let whole = run(&input, &[], 1 << 20);
        assert_eq!(whole.events.len(), count, "{name}");
        assert_eq!(whole.tail, Some(Tail::Empty), "{name}");
        assert_eq!(reassemble(&whole), input, "{name}");
        for cut in 0..=input.len() {
            assert_eq!(run(&input, &[cut], 1 << 20), whole, "{name} split at {cut}");
        }
        let mut total = Usage::default();
        for e in &whole.events {
            if let Some(u) = usage::from_event(e) {
                total.merge(u);
            }
        }
        assert_eq!(
            (total.input_tokens, total.output_tokens),
            (Some(usage.0), Some(usage.1)),
            "{name}"
        );
        for e in &whole.events {
            if let Some(d) = e.data() {
                if !e.is_done() {
                    serde_json::from_str::<serde_json::Value>(d)
                        .unwrap_or_else(|_| panic!("{name}: data not JSON"));
                }
            }
        }
    }
    let anthropic = run(&fixture("anthropic.sse"), &[], 1 << 20);
    let names: Vec<&str> = anthropic.events.iter().map(|e| e.event_type()).collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(names[7], "message_stop");
    assert!(run(&fixture("openai_chat.sse"), &[], 1 << 20).events[5].is_done());
}

#[test]
fn byte_at_a_time() {
    let input = fixture("anthropic.sse");
    let cuts: Vec<usize> = (0..input.len()).collect();
    assert_eq!(run(&input, &cuts, 1 << 20), run(&input, &[], 1 << 20));
}

/// One generated line of an event block.
#[derive(Debug, Clone)]
enum Line {
    Data(String),
    Event(String),
    Id(String),
    Comment(String),
    Unknown(String),
    BareData,
}

fn field_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['a', ' ', ':', '{', '"', '한', 'é', '\u{0}', 'x']),
        0..8,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        4 => field_value().prop_map(Line::Data),
        1 => field_value().prop_map(Line::Event),
        1 => field_value().prop_map(Line::Id),
        1 => field_value().prop_map(Line::Comment),
        1 => field_value().prop_map(Line::Unknown),
        1 => Just(Line::BareData),
    ]
}

fn eol() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\n", "\r\n", "\r"])
}

/// Events as lists of (line, line ending), each closed by a blank line with its own ending.
type Block = (Vec<(Line, &'static str)>, &'static str);

fn stream() -> impl Strategy<Value = (bool, Vec<Block>, Vec<u8>)> {
    (
        any::<bool>(),
        prop::collection::vec((prop::collection::vec((line(), eol()), 0..5), eol()), 0..6),
        prop::collection::vec(any::<u8>(), 0..3),
    )
        .prop_map(|(bom, mut blocks, trailer)| {
            normalize(&mut blocks);
            (bom, blocks, trailer)
        })
}

/// A CR line ending followed by an LF blank line would read as one CRLF: make such blank lines CR too.
fn normalize(blocks: &mut [Block]) {
    let mut prev = "";
    for (lines, end) in blocks.iter_mut() {
        if let Some((_, e)) = lines.last() {
            prev = e;
        }
        if prev == "\r" && end.starts_with('\n') {
            *end = "\r";
        }
        prev = end;
    }
}

fn encode(bom: bool, blocks: &[Block], trailer: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    for (lines, end) in blocks {
        for (l, e) in lines {
            let s = match l {
                Line::Data(v) => format!("data: {v}"),
                Line::Event(v) => format!("event:{v}"),
                Line::Id(v) => format!("id: {v}"),
                Line::Comment(v) => format!(":{v}"),
                Line::Unknown(v) => format!("zzz: {v}"),
                Line::BareData => "data".to_owned(),
            };
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(e.as_bytes());
        }
        out.extend_from_slice(end.as_bytes());
    }
    out.extend_from_slice(trailer);
    out
}

/// Reference model: the fields each block should parse to.
fn expected(blocks: &[Block]) -> Vec<(Option<String>, Option<String>, Option<String>)> {
    blocks
        .iter()
        .map(|(lines, _)| {
            let mut event = None;
            let mut data: Vec<String> = Vec::new();
            let mut id = None;
            for (l, _) in lines {
                match l {
                    Line::Data(v) => data.push(v.clone()),
                    Line::BareData => data.push(String::new()),
                    // Written as `event:{v}`: exactly one leading space of `v` is stripped.
                    Line::Event(v) => event = Some(v.strip_prefix(' ').unwrap_or(v).to_owned()),
                    Line::Id(v) if !v.contains('\0') => id = Some(v.clone()),
                    _ => {}
                }
            }
            let data = (!data.is_empty()).then(|| data.join("\n"));
            (event, data, id)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn every_split_gives_the_same_events((bom, blocks, trailer) in stream(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..6)) {
        let input = encode(bom, &blocks, &trailer);
        let whole = run(&input, &[], 1 << 20);
        prop_assert_eq!(reassemble(&whole), input.clone());
        // All two-way splits.
        for cut in 0..=input.len() {
            prop_assert_eq!(&run(&input, &[cut], 1 << 20), &whole, "split at {}", cut);
        }
        // Random multi-splits.
        let multi: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        prop_assert_eq!(&run(&input, &multi, 1 << 20), &whole);
    }

    #[test]
    fn fields_follow_whatwg((bom, blocks, _t) in stream()) {
        let input = encode(bom, &blocks, &[]);
        let out = run(&input, &[], 1 << 20);
        let mut events = out.events.clone();
        if let Some(Tail::Event(e)) = out.tail.clone() {
            events.push(e);
        }
        prop_assert_eq!(events.len(), blocks.len());
        let got: Vec<_> = events.iter().map(|e| (e.event().map(str::to_owned), e.data().map(str::to_owned), e.id().map(str::to_owned))).collect();
        prop_assert_eq!(got, expected(&blocks));
    }

    #[test]
    fn size_limit_is_split_independent((bom, blocks, trailer) in stream(), max in 1usize..40, cut in any::<prop::sample::Index>()) {
        let input = encode(bom, &blocks, &trailer);
        let whole = run(&input, &[], max);
        let c = cut.index(input.len() + 1);
        let split = run(&input, &[c], max);
        prop_assert_eq!(&split.events, &whole.events);
        prop_assert_eq!(split.error.is_some(), whole.error.is_some());
        for e in &whole.events {
            prop_assert!(e.raw().len() <= max);
        }
        if whole.error.is_none() {
            prop_assert_eq!(reassemble(&whole), input);
        }
    }
}
