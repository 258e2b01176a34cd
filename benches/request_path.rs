//! The gateway's own CPU work per request, without sockets: what `proxy_load` cannot separate from the kernel and the
//! scheduler on a shared 2-core VM.
//!
//! For the 4 KiB chat request of `proxy_load` (same body) it times, in one run:
//! - **baseline**: a `serde_json` round trip of the body (`from_slice::<Value>` + `to_vec`), the least a JSON-aware
//!   proxy that re-serialises does;
//! - **parse**: `api::parse` (UTF-8 check, duplicate-key-refusing parse, segment walk) and the forward decision (the
//!   original bytes while nothing was rewritten);
//! - **scan**: the builtin engine over every text segment with a warm pooled scratch and a deadline, as the
//!   handler's `inspect`;
//! - **scan, cold caches**: the same scan after 8 MiB of other memory was written (the eviction's own time, timed
//!   separately, is subtracted). In the gateway a request's scan runs between socket reads, header parsing and other
//!   requests, so its tables are rarely all in L1/L2: this is closer to what the proxy pays per request;
//! - **usage**: token counts from the mock's non-streaming completion (`api::usage::from_body`);
//!
//! and prints µs per request for each and the gateway's total (parse + scan + usage) against the baseline.
//!
//! Run: `cargo bench --bench request_path` (about 10 s). `HAETAE_BENCH_ITERS` sets iterations per round (default
//! 20,000); 5 rounds, the best round of each is reported (the least disturbed by other work on the machine). For
//! instruction counts: `HAETAE_BENCH_ONLY=parse|scan|scan_cold|usage|baseline HAETAE_BENCH_ITERS=200 valgrind
//! --tool=callgrind target/release/deps/request_path-*` (subtract a run with 0 iterations for start-up).
//!
//! Must never: assert a time (it prints them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use haetae::api::{self, WireFormat};
use haetae::detect::Engine;
use serde_json::Value;

#[path = "support/chat_body.rs"]
mod chat_body;

const ROUNDS: usize = 5;

/// The mock upstream's non-streaming completion in `proxy_load`.
const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench-fast","choices":[{"index":0,"message":{"role":"assistant","content":"회의 요약: Q3 revenue grew 12%; 영업이익률 개선. Action items follow."},"finish_reason":"stop"}],"usage":{"prompt_tokens":1100,"completion_tokens":40,"total_tokens":1140}}"#;

/// Bytes written between two scans of the cold-cache row: well past this VM's L2 (and most of a shared L3).
const EVICT_BYTES: usize = 8 << 20;

/// Scan every text segment of `parsed` as the handler does (warm pooled scratch, a deadline); the finding count.
fn scan_request(
    engine: &Engine,
    parsed: &api::ParsedRequest,
    findings: &mut Vec<haetae::detect::Finding>,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    engine.with_scratch(|scratch| {
        let mut n = 0;
        for (_, _, text) in parsed.texts() {
            findings.clear();
            engine
                .scan_segment_until(text, 0, scratch, findings, deadline)
                .unwrap();
            n += findings.len();
        }
        n
    })
}

/// Touch one byte per cache line of `junk`, evicting what the previous iteration left in the caches.
fn evict(junk: &mut [u8]) -> usize {
    for (i, b) in junk.iter_mut().enumerate().step_by(64) {
        *b = b.wrapping_add(i as u8);
    }
    usize::from(junk[junk.len() / 2])
}

/// Best-of-rounds time per iteration of `f`.
fn time(iters: usize, mut f: impl FnMut() -> usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut acc = 0;
        for _ in 0..iters {
            acc += f();
        }
        black_box(acc);
        best = best.min(t.elapsed() / iters.max(1) as u32);
    }
    best
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let iters: usize = std::env::var("HAETAE_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let only = std::env::var("HAETAE_BENCH_ONLY").ok();
    let body = chat_body::chat_body("bench-fast", false).unwrap();
    let engine = Engine::builtin().unwrap();
    let parsed = api::parse(WireFormat::OpenAiChat, &body).unwrap();
    let mut findings = Vec::new();

    let mut results: Vec<(&str, Duration)> = Vec::new();
    let mut run = |name: &'static str, f: &mut dyn FnMut() -> usize| {
        if only.as_deref().is_none_or(|o| o == name) {
            results.push((name, time(iters, f)));
        }
    };
    run("baseline", &mut || {
        let v: Value = serde_json::from_slice(&body).unwrap();
        serde_json::to_vec(&v).unwrap().len()
    });
    run("parse", &mut || {
        let p = api::parse(WireFormat::OpenAiChat, &body).unwrap();
        if p.is_modified() {
            p.to_body(&body).len()
        } else {
            body.len()
        }
    });
    run("scan", &mut || {
        scan_request(&engine, &parsed, &mut findings)
    });
    let mut junk = vec![0u8; EVICT_BYTES];
    run("evict", &mut || evict(&mut junk));
    run("scan_cold", &mut || {
        evict(&mut junk) + scan_request(&engine, &parsed, &mut findings)
    });
    run("usage", &mut || {
        api::usage::from_body(COMPLETION.as_bytes())
            .and_then(|u| u.input_tokens)
            .unwrap_or(0) as usize
    });

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "request path, {} B chat request, best of {ROUNDS} rounds × {iters}",
        body.len()
    );
    let get = |n: &str| results.iter().find(|r| r.0 == n).map(|r| us(r.1));
    for (name, d) in &results {
        match (*name, get("evict")) {
            ("evict", _) => {}
            ("scan_cold", Some(e)) => println!(
                "  {:<9} {:>8.2} µs/request (after evicting the caches; the eviction's {e:.1} µs subtracted)",
                name,
                us(*d) - e
            ),
            _ => println!("  {name:<9} {:>8.2} µs/request", us(*d)),
        }
    }
    if let (Some(b), Some(p), Some(s), Some(u)) =
        (get("baseline"), get("parse"), get("scan"), get("usage"))
    {
        println!(
            "  gateway (parse + scan + usage) {:.2} µs = {:.2}× the serde_json round trip; parse alone {:.2}×",
            p + s + u,
            (p + s + u) / b,
            p / b
        );
    }
}
