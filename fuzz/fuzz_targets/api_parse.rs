//! Fuzz: classify a request line, parse the body under every wire format, collect what inspection reads, rebuild
//! with identity and with changed replacements. Must never panic; an identity rebuild must reproduce the parsed value exactly.
#![no_main]

use haetae::api::{self, WireFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First line: "METHOD PATH"; the rest: body.
    let (line, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let line = String::from_utf8_lossy(line);
    let (method, path) = line.split_once(' ').unwrap_or(("POST", &line));
    let endpoint = api::classify_bytes(method.as_bytes(), path);
    let _ = api::ApiFamily::guess_from_path_bytes(method.as_bytes(), path);
    if let Some(ep) = &endpoint {
        let _ = api::parse_for(ep, body);
        if let Some(m) = &ep.path_model {
            let _ = api::gemini::rewrite_model_path(path, m);
        }
    }
    for format in WireFormat::ALL {
        let Ok(mut parsed) = api::parse(format, body) else { continue };
        // Everything inspection reads: never panics; a part read as text is an opaque part.
        let others = parsed.other_texts();
        for &i in &others.read_parts {
            assert!(!parsed.segments()[i].is_text());
        }
        let _ = parsed.read_only_texts().count();
        let _ = parsed.text_seams();
        let before = parsed.value().clone();
        let texts: Vec<(usize, String)> = parsed.texts().map(|(i, _, t)| (i, t.to_owned())).collect();
        parsed.apply(texts.iter().cloned()).unwrap();
        assert_eq!(parsed.value(), &before);
        // Identity replacements splice back the client's exact bytes.
        assert_eq!(parsed.to_body(body), body);
        parsed.apply(texts.iter().map(|(i, t)| (*i, format!("[{}]", t.len())))).unwrap();
        let _ = parsed.set_model("fuzz-model");
        let rebuilt = parsed.to_body(body);
        let again = api::parse(format, &rebuilt).unwrap();
        assert_eq!(again.segments().len(), parsed.segments().len());
        // The spliced bytes mean exactly the rewritten value.
        assert_eq!(again.value(), parsed.value());
    }
});
