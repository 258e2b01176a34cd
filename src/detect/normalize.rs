//! Normalisation of the characters that users and attackers put inside identifiers, with an offset map back to the
//! original text.
//!
//! The folded set (deliberately small, NFKC-style but not NFKC): full-width ASCII `U+FF01..=U+FF5E` → ASCII;
//! NBSP, the `U+2000..=U+200A` spaces, `U+202F`, `U+205F`, ideographic space `U+3000` → `' '`; the dashes
//! `U+2010..=U+2015`, minus `U+2212`, `U+FE58`, `U+FE63` → `'-'`; invisible characters → removed: zero-width
//! space/joiners `U+200B..=U+200D`, the direction marks `U+200E`/`U+200F`, bidi embeddings and overrides
//! `U+202A..=U+202E`, word joiner and invisible operators `U+2060..=U+2064`, bidi isolates `U+2066..=U+2069`, BOM
//! `U+FEFF`, soft hyphen `U+00AD`, combining grapheme joiner `U+034F` and Mongolian vowel separator `U+180E`.
//! Roman numeral characters (`Ⅱ`) are NOT folded: the marking patterns match them directly. Clean text (none of these characters) is scanned in place, without a
//! copy; only texts that contain one are copied into a reusable buffer.

/// What happens to one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    /// Replaced by this ASCII byte.
    Ascii(u8),
    /// Removed.
    Drop,
}

/// The folding rule for one character, `None` if it is kept as is.
pub(crate) fn fold(c: char) -> Option<Fold> {
    let u = u32::from(c);
    match u {
        0xFF01..=0xFF5E => u8::try_from(u - 0xFEE0).ok().map(Fold::Ascii),
        0x00A0 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => Some(Fold::Ascii(b' ')),
        0x2010..=0x2015 | 0x2212 | 0xFE58 | 0xFE63 => Some(Fold::Ascii(b'-')),
        0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x2069
        | 0xFEFF
        | 0x00AD
        | 0x034F
        | 0x180E => Some(Fold::Drop),
        _ => None,
    }
}

/// The characters of `text` that [`fold`] changes, in order, with their byte offsets. Every folded character begins
/// with one of six lead bytes (`0xC2`, `0xE2`, `0xEF`; and `0xE3`, `0xE1`, `0xCD`, each of which leads exactly one
/// folded character), which `memchr` finds; only those positions are decoded.
fn folds(text: &str) -> impl Iterator<Item = (usize, char, Fold)> + '_ {
    let b = text.as_bytes();
    let mut common = memchr::memchr3_iter(0xC2, 0xE2, 0xEF, b).peekable();
    // U+3000 (E3 80 80), U+180E (E1 A0 8E) and U+034F (CD 8F) are the only folded characters led by their bytes.
    // Those lead bytes are rare in Korean text (Hangul syllables lead with EA..=ED), whereas a `memmem` prefilter for
    // U+3000 would key on 0x80, a continuation byte found in every Hangul syllable; so only the lead byte is searched
    // and the rest compared.
    let mut rare = memchr::memchr3_iter(0xE3, 0xE1, 0xCD, b)
        .filter(move |&i| match b.get(i) {
            Some(0xE3) => b.get(i + 1..i + 3) == Some(&[0x80, 0x80][..]),
            Some(0xE1) => b.get(i + 1..i + 3) == Some(&[0xA0, 0x8E][..]),
            _ => b.get(i + 1) == Some(&0x8F),
        })
        .peekable();
    std::iter::from_fn(move || loop {
        let i = match (common.peek(), rare.peek()) {
            (Some(&x), Some(&y)) if y < x => rare.next(),
            (Some(_), _) => common.next(),
            (None, _) => rare.next(),
        }?;
        // Lead bytes never occur inside a character, so `i` is a char boundary.
        let c = text.get(i..).and_then(|t| t.chars().next())?;
        if let Some(f) = fold(c) {
            return Some((i, c, f));
        }
    })
}

/// One stretch of the folded text: bytes copied verbatim from the original, or one folded character.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Offset in the folded text where the run begins.
    folded: usize,
    /// Offset in the original text where the run begins.
    original: usize,
    /// `Some(n)`: one folded character, `n` bytes long in the original; `None`: verbatim bytes.
    folded_char: Option<usize>,
}

/// A normalised copy of a text plus the map back to the original: a sorted list of runs, one per folded character
/// and one per verbatim stretch between them. Texts fold rarely (an em dash, an NBSP), so the map stays a few entries
/// long and the copy is a few `memcpy`s, whatever the text's length.
#[derive(Debug, Default)]
pub(crate) struct Normalized {
    /// The folded text.
    pub text: String,
    runs: Vec<Run>,
}

impl Normalized {
    /// Refill from `original` (buffers are reused). Returns whether anything was folded; if not, `text` is left
    /// empty and the original should be scanned in place.
    pub fn fill(&mut self, original: &str) -> bool {
        self.text.clear();
        self.runs.clear();
        let mut copied = 0;
        for (i, c, f) in folds(original) {
            self.verbatim(original, copied, i);
            if let Fold::Ascii(a) = f {
                self.runs.push(Run {
                    folded: self.text.len(),
                    original: i,
                    folded_char: Some(c.len_utf8()),
                });
                self.text.push(char::from(a));
            }
            copied = i + c.len_utf8();
        }
        if copied == 0 {
            return false;
        }
        self.verbatim(original, copied, original.len());
        true
    }

    fn verbatim(&mut self, original: &str, from: usize, to: usize) {
        if let Some(part) = original.get(from..to).filter(|p| !p.is_empty()) {
            self.runs.push(Run {
                folded: self.text.len(),
                original: from,
                folded_char: None,
            });
            self.text.push_str(part);
        }
    }

    /// The original char range of the character that produced folded byte `i`.
    fn char_at(&self, original: &str, i: usize) -> Option<(usize, usize)> {
        if i >= self.text.len() {
            return None;
        }
        let r = self.runs.get(
            self.runs
                .partition_point(|r| r.folded <= i)
                .checked_sub(1)?,
        )?;
        if let Some(n) = r.folded_char {
            return Some((r.original, r.original + n));
        }
        let o = r.original + (i - r.folded);
        let mut s = o;
        while !original.is_char_boundary(s) {
            s -= 1;
        }
        let mut e = o + 1;
        while e < original.len() && !original.is_char_boundary(e) {
            e += 1;
        }
        Some((s, e))
    }

    /// Map a byte range of the folded text (as filled from `original`) back to `original`. Both ends land on char
    /// boundaries: a range starting or ending inside a character widens to the whole character.
    pub fn map(&self, original: &str, s: usize, e: usize) -> (usize, usize) {
        let os = self.char_at(original, s).map_or(0, |c| c.0);
        let oe = e
            .checked_sub(1)
            .and_then(|i| self.char_at(original, i))
            .map_or(os, |c| c.1);
        (os, oe.max(os))
    }
}

/// Fold a string (used for dictionary terms and context keywords so they match folded text).
pub(crate) fn fold_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match fold(c) {
            Some(Fold::Drop) => {}
            Some(Fold::Ascii(b)) => out.push(char::from(b)),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_and_maps() {
        let original = "９００１０１\u{200B}－１２３４５６７";
        let mut n = Normalized::default();
        assert!(n.fill(original));
        assert_eq!(n.text, "900101-1234567");
        let (s, e) = n.map(original, 0, n.text.len());
        assert_eq!((s, e), (0, original.len()));
        assert!(!n.fill("주민등록번호 900101-1234567 “quoted” 「인용」 · …"));
        assert!(n.text.is_empty());
    }

    /// The per-byte map this module used before the run list: for every folded byte, the original char's range.
    fn reference(original: &str) -> (String, Vec<(usize, usize)>) {
        let mut text = String::new();
        let mut map = Vec::new();
        for (i, c) in original.char_indices() {
            let len = c.len_utf8();
            match fold(c) {
                Some(Fold::Drop) => {}
                Some(Fold::Ascii(b)) => {
                    text.push(char::from(b));
                    map.push((i, i + len));
                }
                None => {
                    text.push(c);
                    map.extend(std::iter::repeat_n((i, i + len), len));
                }
            }
        }
        (text, map)
    }

    fn any_text() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "a", "7", " ", "\n", "-", "가", "힣", "한국", "\u{A0}", "\u{AD}", "\u{B7}", "\u{2003}",
            "\u{200B}", "\u{200D}", "\u{2014}", "\u{2026}", "\u{201C}", "\u{2060}", "\u{2212}",
            "\u{3000}", "\u{300C}", "\u{3131}", "\u{FE58}", "\u{FEFF}", "\u{FF10}", "\u{FF21}",
            "\u{FF5E}", "\u{FF5F}", "\u{FFE6}", "😀", "Ⅱ", "\u{200E}", "\u{202E}", "\u{2063}",
            "\u{2066}", "\u{2065}", "\u{034F}", "\u{034E}", "\u{180E}", "\u{180F}", "\u{1100}",
            "\u{3001}",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn run_map_equals_the_per_byte_map(original in any_text(), a in 0usize..200, b in 0usize..200) {
            let (text, per_byte) = reference(&original);
            let mut n = Normalized::default();
            let changed = n.fill(&original);
            prop_assert_eq!(changed, text != original || per_byte.len() != original.len());
            if !changed {
                return Ok(());
            }
            prop_assert_eq!(&n.text, &text);
            let (s, e) = (a.min(text.len()), b.min(text.len()));
            let (s, e) = (s.min(e), s.max(e));
            let os = per_byte.get(s).map_or(0, |c| c.0);
            let oe = e.checked_sub(1).and_then(|i| per_byte.get(i)).map_or(os, |c| c.1);
            prop_assert_eq!(n.map(&original, s, e), (os, oe.max(os)));
        }
    }
}
