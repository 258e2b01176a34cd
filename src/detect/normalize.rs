//! Normalisation of the characters that users and attackers put inside identifiers, with an offset map back to the
//! original text.
//!
//! The folded set (deliberately small, NFKC-style but not NFKC): full-width ASCII `U+FF01..=U+FF5E` → ASCII;
//! NBSP, the `U+2000..=U+200A` spaces, `U+202F`, `U+205F`, ideographic space `U+3000` → `' '`; the dashes
//! `U+2010..=U+2015`, minus `U+2212`, `U+FE58`, `U+FE63` → `'-'`; zero-width space/joiners `U+200B..=U+200D`, word
//! joiner `U+2060`, BOM `U+FEFF` and soft hyphen `U+00AD` → removed. Roman numeral characters (`Ⅱ`) are NOT folded:
//! the marking patterns match them directly. Clean text (none of these characters) is scanned in place, without a
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
        0x200B..=0x200D | 0x2060 | 0xFEFF | 0x00AD => Some(Fold::Drop),
        _ => None,
    }
}

/// Whether `text` contains any character that [`fold`] changes. Cost: a few `memchr` passes over the bytes.
pub(crate) fn needs_normalization(text: &str) -> bool {
    let b = text.as_bytes();
    let hit = |i: usize| {
        text.get(i..)
            .and_then(|t| t.chars().next())
            .is_some_and(|c| fold(c).is_some())
    };
    // U+3000 is the only folded character led by 0xE3; its lead byte is rare in Korean text, whereas a `memmem`
    // prefilter for it keys on 0x80, a continuation byte found in every Hangul syllable.
    memchr::memchr3_iter(0xC2, 0xE2, 0xEF, b).any(hit)
        || memchr::memchr_iter(0xE3, b).any(|i| b.get(i + 1..i + 3) == Some(&[0x80, 0x80][..]))
}

/// A normalised copy of a text plus, for every byte of the copy, the original char range it came from.
#[derive(Debug, Default)]
pub(crate) struct Normalized {
    /// The folded text.
    pub text: String,
    /// `start[i]`: original offset of the character that produced byte `i` of `text`.
    pub start: Vec<usize>,
    /// `end[i]`: original end offset of that character.
    pub end: Vec<usize>,
}

impl Normalized {
    /// Refill from `original` (buffers are reused).
    pub fn fill(&mut self, original: &str) {
        self.text.clear();
        self.start.clear();
        self.end.clear();
        for (i, c) in original.char_indices() {
            let len = c.len_utf8();
            match fold(c) {
                Some(Fold::Drop) => {}
                Some(Fold::Ascii(b)) => {
                    self.text.push(char::from(b));
                    self.start.push(i);
                    self.end.push(i + len);
                }
                None => {
                    self.text.push(c);
                    for _ in 0..len {
                        self.start.push(i);
                        self.end.push(i + len);
                    }
                }
            }
        }
    }

    /// Map a byte range of the folded text back to the original text. Both ends land on char boundaries.
    pub fn map(&self, s: usize, e: usize) -> (usize, usize) {
        let os = self.start.get(s).copied().unwrap_or(0);
        let oe = e
            .checked_sub(1)
            .and_then(|i| self.end.get(i))
            .copied()
            .unwrap_or(os);
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

    #[test]
    fn folds_and_maps() {
        let original = "９００１０１\u{200B}－１２３４５６７";
        assert!(needs_normalization(original));
        let mut n = Normalized::default();
        n.fill(original);
        assert_eq!(n.text, "900101-1234567");
        let (s, e) = n.map(0, n.text.len());
        assert_eq!((s, e), (0, original.len()));
        assert!(!needs_normalization("주민등록번호 900101-1234567 “quoted”"));
    }
}
