//! Fuzz: frame arbitrary bytes with the SSE framer, split at fuzzer-chosen points; the events must be the same as
//! one-shot framing and the raw bytes plus the tail must reassemble the input. Must never panic.
#![no_main]

use haetae::api::sse::{SseEvent, SseFramer, Tail};
use haetae::api::usage;
use libfuzzer_sys::fuzz_target;

fn run(input: &[u8], cuts: &[usize], max: usize) -> (Vec<SseEvent>, bool, Option<Tail>) {
    let mut f = SseFramer::new(max);
    let mut events = Vec::new();
    let mut prev = 0;
    for &b in cuts.iter().chain(std::iter::once(&input.len())) {
        let b = b.clamp(prev, input.len());
        let r = f.push(&input[prev..b]);
        prev = b;
        while let Some(e) = f.next_event() {
            let _ = usage::from_event(&e);
            events.push(e);
        }
        if r.is_err() {
            return (events, true, None);
        }
    }
    (events, false, Some(f.finish()))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max = usize::from(data[0]) * 16 + 1;
    let split = usize::from(data[1]) % data.len();
    let input = &data[2..];
    let whole = run(input, &[], max);
    let cuts: Vec<usize> = (0..input.len()).filter(|i| (i * 7 + split) % 5 == 0).collect();
    assert_eq!(run(input, &cuts, max), whole);
    assert_eq!(run(input, &[split.min(input.len())], max), whole);
    if let (events, false, Some(tail)) = whole {
        let mut joined: Vec<u8> = events.iter().flat_map(|e| e.raw().to_vec()).collect();
        match tail {
            Tail::Event(e) => joined.extend_from_slice(e.raw()),
            Tail::Incomplete(b) => joined.extend_from_slice(&b),
            Tail::Empty => {}
        }
        assert_eq!(joined, input);
    }
});
