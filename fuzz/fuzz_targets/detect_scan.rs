//! Fuzz the detection engine: any UTF-8 input must scan without panicking, with sorted, non-overlapping findings on
//! char boundaries; segment scanning must agree with whole scanning, and a scan with a deadline it never reaches
//! with the plain scan; and the shift-or trigger pass must give exactly the hits of a leftmost-first DFA over the same
//! literals.
#![no_main]

use std::sync::OnceLock;

use haetae::detect::Engine;
use libfuzzer_sys::fuzz_target;

fn engine() -> Option<&'static Engine> {
    static E: OnceLock<Option<Engine>> = OnceLock::new();
    E.get_or_init(|| Engine::builtin().ok()).as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(engine) = engine() else { return };
    let findings = engine.scan(text);
    let mut last_end = 0;
    for f in &findings {
        assert!(f.start >= last_end && f.start < f.end && f.end <= text.len());
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        last_end = f.end;
    }
    let mut scratch = engine.scratch();
    let mut seg = Vec::new();
    engine.scan_segment(text, 7, &mut scratch, &mut seg);
    assert_eq!(seg.len(), findings.len());
    assert!(seg.iter().zip(&findings).all(|(a, b)| a.start == b.start + 7 && a.end == b.end + 7));
    let mut timed = Vec::new();
    let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    assert!(engine.scan_segment_until(text, 7, &mut scratch, &mut timed, far).is_ok());
    assert_eq!(timed, seg);
    assert_eq!(haetae::detect::trigger_filter_agrees(text).ok(), Some(true));
});
