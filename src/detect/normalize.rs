//! Normalisation of the characters that users and attackers put inside identifiers, with an offset map back to the
//! original text.
//!
//! The folded set (deliberately small, NFKC-style but not NFKC): full-width ASCII `U+FF01..=U+FF5E` → ASCII;
//! NBSP, the `U+2000..=U+200A` spaces, `U+202F`, `U+205F`, ideographic space `U+3000` → `' '`; the dashes
//! `U+2010..=U+2015`, minus `U+2212`, `U+FE58`, `U+FE63` → `'-'`; invisible characters → removed: zero-width
//! space/joiners `U+200B..=U+200D`, the direction marks `U+200E`/`U+200F`, bidi embeddings and overrides
//! `U+202A..=U+202E`, word joiner and invisible operators `U+2060..=U+2064`, bidi isolates `U+2066..=U+2069`, BOM
//! `U+FEFF`, soft hyphen `U+00AD`, combining grapheme joiner `U+034F` and Mongolian vowel separator `U+180E`.
//! Roman numeral characters (`Ⅱ`) are NOT folded: the marking patterns match them directly.
//!
//! Two letters people type as a dash are folded to `'-'` only between two ASCII digits (`850314ㅡ1308025`,
//! `010ㅡ2837ㅡ4651`): the Hangul letter EU `U+3161` (`ㅡ`, a horizontal stroke that Korean input
//! methods give without leaving Hangul mode) and the katakana prolonged sound mark `U+30FC` (`ー`, typed for a
//! dash in Japanese input). Anywhere else they are letters of words (`ㅡㅡ`, `コーヒー`) and stay.
//!
//! JSON string escapes that hide text one level down are decoded: `\uXXXX` (a surrogate pair as one character, with
//! any invisible characters between its halves, raw or escaped, taken into the pair since they are removed; raw
//! invisible characters inside an escape, after its backslash or before a hex digit, belong to it too) → the
//! character, itself folded as above (`\u00a0` → `' '`); `\"` → `"`; `\/` → `/`. Users paste logs and payloads
//! serialised with `ensure_ascii` (`{"content":"\uacc4\uc88c\ubc88\ud638 …"}`) or nested (`{\"password\":…}`), and
//! a model reads both as the plain text. An escaped backslash `\\` is left alone (and does not escape what follows),
//! as are `\n`, `\t`, `\r` (the patterns treat those as escapes already), a lone surrogate, a `\u` without four hex
//! digits, and a decoded control character or `\` (not folded, so no new escape appears).
//!
//! Decomposed Hangul (NFD, as macOS writes file names and as `iconv -t UTF-8-MAC` or any NFD normaliser produces) is
//! composed: a conjoining-jamo sequence choseong `U+1100..=U+1112` + jungseong `U+1161..=U+1175` + optional jongseong
//! `U+11A8..=U+11C2` becomes its precomposed syllable (Unicode §3.12 arithmetic), so `대외비`, `Ⅱ급비밀`, labels,
//! names and addresses are found in NFD text too, with offsets covering the whole jamo sequence. Not composed: a
//! precomposed LV syllable followed by a loose jongseong (NFD never produces it), old-Hangul jamo outside those
//! ranges, the fillers `U+115F`/`U+1160`, and compatibility jamo (`ㄱ`, `U+3131..`), which are letters of their own.
//!
//! Clean text (none of these characters) is scanned in place, without a copy; only texts that contain one are copied
//! into a reusable buffer.
//!
//! Must never: shift an offset (every finding maps back to whole original characters), or allocate per character.

/// What happens to one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    /// Replaced by this ASCII byte.
    Ascii(u8),
    /// Removed.
    Drop,
    /// A conjoining-jamo sequence composed into this precomposed Hangul syllable.
    Syllable(char),
    /// A `\uXXXX` escape (or a surrogate pair of them) decoded into this character.
    Unescaped(char),
}

/// Conjoining jamo bases and counts (Unicode §3.12, "Conjoining Jamo Behavior").
const S_BASE: u32 = 0xAC00;
const L_BASE: u32 = 0x1100;
const V_BASE: u32 = 0x1161;
const T_BASE: u32 = 0x11A7;
const L_COUNT: u32 = 19;
const V_COUNT: u32 = 21;
const T_COUNT: u32 = 28;

/// Whether a precomposed Hangul syllable ends in a final consonant (받침: `황`, `항`, not `하`), which decides the
/// particle after it (`은`/`이` after one, `는`/`가` after none). `false` for any other character.
pub(crate) fn has_final_consonant(c: char) -> bool {
    let u = u32::from(c);
    (S_BASE..S_BASE + L_COUNT * V_COUNT * T_COUNT).contains(&u)
        && !(u - S_BASE).is_multiple_of(T_COUNT)
}

/// Where the byte escaped by the backslash at the start of `s` is: right after it, or after the raw invisible
/// characters between them (`\` + U+200B + `/`). Those are removed by folding, so they cannot split an escape: a
/// text and its folded copy must decode the same escapes. An escaped invisible character (`\\u200b`) is not
/// skipped: the backslash before it is the first of a `\\` pair.
fn escaped_at(s: &[u8]) -> usize {
    let mut j = 1;
    while let Some(k) = raw_invisible_at(s, j) {
        j += k;
    }
    j
}

/// The JSON escape at the start of `s` (which begins with `\\`) and its length: `\"`, `\/`, `\uXXXX` (a surrogate
/// pair as one character), with any raw invisible characters after the backslash ([`escaped_at`]). `None` for other
/// escapes, including `\\` (the caller skips both backslashes).
pub(crate) fn unescape(s: &[u8]) -> Option<(Fold, usize)> {
    let at = escaped_at(s);
    match s.get(at)? {
        b'"' => Some((Fold::Ascii(b'"'), at + 1)),
        b'/' => Some((Fold::Ascii(b'/'), at + 1)),
        b'u' => {
            let (hi, hi_end) = u_escape(s)?;
            let (c, n) = match hi {
                0xD800..=0xDBFF => {
                    // Invisible characters between the two halves (raw or escaped) are part of the pair: they
                    // are removed anyway, and folding them first must not change what the pair decodes to.
                    let mut j = hi_end;
                    while let Some(k) = invisible_at(s, j) {
                        j += k;
                    }
                    let (lo, lo_len) =
                        u_escape(s.get(j..)?).filter(|lo| (0xDC00..=0xDFFF).contains(&lo.0))?;
                    (
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?,
                        j + lo_len,
                    )
                }
                _ => (char::from_u32(hi)?, hi_end),
            };
            // A control character or a backslash stays escaped: decoding it would make a new escape or line.
            if c.is_control() || c == '\\' {
                return None;
            }
            Some((fold(c).unwrap_or(Fold::Unescaped(c)), n))
        }
        _ => None,
    }
}

/// The `\\uXXXX` escape at the start of `s`, with the raw invisible characters inside it (after the backslash,
/// [`escaped_at`], or before a digit, [`hex4`]): its code unit and its length. `None` when `s` starts with none.
fn u_escape(s: &[u8]) -> Option<(u32, usize)> {
    if s.first() != Some(&b'\\') {
        return None;
    }
    let u = escaped_at(s);
    if s.get(u) != Some(&b'u') {
        return None;
    }
    hex4(s, u + 1)
}

/// The four hex digits from byte `at` of `s` (after a `\u`), as a number, and where they end. Raw invisible characters
/// before a digit are skipped (`\u` + U+200B + `002f`): folding removes them, so they cannot split an escape.
fn hex4(s: &[u8], at: usize) -> Option<(u32, usize)> {
    let mut j = at;
    let mut v = 0u32;
    for _ in 0..4 {
        while let Some(k) = raw_invisible_at(s, j) {
            j += k;
        }
        v = v * 16 + char::from(*s.get(j)?).to_digit(16)?;
        j += 1;
    }
    Some((v, j))
}

/// The length of the invisible character (one that [`fold`] removes) at byte `j` of `s`, raw (two or three bytes in
/// UTF-8) or as a `\uXXXX` escape; `None` if there is none.
fn invisible_at(s: &[u8], j: usize) -> Option<usize> {
    let rest = s.get(j..)?;
    if rest.first() == Some(&b'\\') {
        let (v, n) = u_escape(rest)?;
        return (fold(char::from_u32(v)?) == Some(Fold::Drop)).then_some(n);
    }
    raw_invisible_at(s, j)
}

/// The length of the raw invisible character (one that [`fold`] removes) at byte `j` of `s`, two or three bytes in
/// UTF-8; `None` if there is none.
fn raw_invisible_at(s: &[u8], j: usize) -> Option<usize> {
    let rest = s.get(j..)?;
    // Every removed character is led by 0xC2, 0xCD, 0xE1, 0xE2 or 0xEF: a plain byte is answered at once.
    if rest.first().is_none_or(|&c| c < 0xC2) {
        return None;
    }
    let (c, n) = [2, 3].into_iter().find_map(|n| {
        let mut chars = std::str::from_utf8(rest.get(..n)?).ok()?.chars();
        Some((chars.next().filter(|_| chars.next().is_none())?, n))
    })?;
    (fold(c) == Some(Fold::Drop)).then_some(n)
}

/// The precomposed syllable for a conjoining-jamo sequence L V [T] at the start of `s`, with the sequence's length
/// in bytes (every conjoining jamo is three bytes in UTF-8).
pub(crate) fn compose(s: &str) -> Option<(char, usize)> {
    let mut it = s.chars();
    let l = u32::from(it.next()?)
        .checked_sub(L_BASE)
        .filter(|&l| l < L_COUNT)?;
    let v = u32::from(it.next()?)
        .checked_sub(V_BASE)
        .filter(|&v| v < V_COUNT)?;
    let t = it
        .next()
        .and_then(|t| u32::from(t).checked_sub(T_BASE))
        .filter(|&t| (1..T_COUNT).contains(&t));
    let syllable = char::from_u32(S_BASE + (l * V_COUNT + v) * T_COUNT + t.unwrap_or(0))?;
    Some((syllable, if t.is_some() { 9 } else { 6 }))
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

/// Whether `c`, at byte `i` of `b`, is a letter typed as a dash that sits between two ASCII digits (see the module
/// comment): `ㅡ` (`E3 85 A1`) and `ー` (`E3 83 BC`), both three bytes long.
fn dash_between_digits(b: &[u8], i: usize) -> bool {
    matches!(
        b.get(i..i + 3),
        Some([0xE3, 0x85, 0xA1] | [0xE3, 0x83, 0xBC])
    ) && i > 0
        && b[i - 1].is_ascii_digit()
        && b.get(i + 3).is_some_and(u8::is_ascii_digit)
}

/// Every position of a byte of [`LEAD_BYTES`] in `b`, in order, from three `memchr` passes: `0xC2`, `0xE2`, `0xEF`
/// (common folds); `0xE3`, `0xE1`, `0xCD` (rare in Korean text, whose precomposed syllables lead with EA..=ED, where a
/// `memmem` prefilter for U+3000 would key on 0x80, a continuation byte of every Hangul syllable); and `\\`.
fn lead_bytes(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let [c1, c2, c3, r1, r2, r3, escape] = LEAD_BYTES;
    let mut common = memchr::memchr3_iter(c1, c2, c3, b).peekable();
    let mut rare = memchr::memchr3_iter(r1, r2, r3, b).peekable();
    let mut escapes = memchr::memchr_iter(escape, b).peekable();
    std::iter::from_fn(move || {
        let first = [common.peek(), rare.peek(), escapes.peek()]
            .into_iter()
            .enumerate()
            .filter_map(|(k, x)| Some((*x?, k)))
            .min()?
            .1;
        match first {
            0 => common.next(),
            1 => rare.next(),
            _ => escapes.next(),
        }
    })
}

/// The bytes that begin a folded character or an escape (see [`folds`]).
pub(crate) const LEAD_BYTES: [u8; 7] = [0xC2, 0xE2, 0xEF, 0xE3, 0xE1, 0xCD, b'\\'];

/// The characters (or jamo sequences, or escapes) of `text` that fold, in order: byte offset, length in the original,
/// fold. Every folded character begins with one of six lead bytes (`0xC2`, `0xE2`, `0xEF`; and `0xE3`, `0xE1`, `0xCD`,
/// which lead only `U+3000`, a dash-like letter between digits, `U+180E` or a choseong, and `U+034F`) and every escape
/// with `\\`; only those positions are decoded. `leads`: every position of those seven bytes in order, when the
/// caller has them (the engine's anchor pass lists them); else `memchr` finds them.
fn folds<'a>(
    text: &'a str,
    leads: Option<&'a [usize]>,
) -> impl Iterator<Item = (usize, usize, Fold)> + 'a {
    let b = text.as_bytes();
    let searched = leads.is_none().then(|| lead_bytes(b));
    let mut positions = leads
        .into_iter()
        .flatten()
        .copied()
        .chain(searched.into_iter().flatten());
    // The end of the last `\\` pair: its second backslash escapes nothing.
    let mut skip = 0;
    std::iter::from_fn(move || loop {
        let i = positions.next()?;
        match b[i] {
            b'\\' => {
                if i < skip {
                    continue;
                }
                let j = i + escaped_at(&b[i..]);
                if b.get(j) == Some(&b'\\') {
                    skip = j + 1;
                } else if let Some((f, n)) = unescape(&b[i..]) {
                    return Some((i, n, f));
                }
                continue;
            }
            // U+3000 (E3 80 80), U+180E (E1 A0 8E), a choseong (E1 84 80..=E1 84 92) and U+034F (CD 8F) are the only
            // folded characters led by their bytes: the rest is compared before anything is decoded.
            0xE3 if !(b.get(i + 1..i + 3) == Some(&[0x80, 0x80][..])
                || dash_between_digits(b, i)) =>
            {
                continue
            }
            0xE1 if !(b.get(i + 1..i + 3) == Some(&[0xA0, 0x8E][..])
                || b.get(i + 1) == Some(&0x84)) =>
            {
                continue
            }
            0xCD if b.get(i + 1) != Some(&0x8F) => continue,
            _ => {}
        }
        // Lead bytes never occur inside a character, so `i` is a char boundary.
        let rest = text.get(i..)?;
        if let Some((syllable, n)) = compose(rest) {
            return Some((i, n, Fold::Syllable(syllable)));
        }
        let c = rest.chars().next()?;
        if let Some(f) = fold(c) {
            return Some((i, c.len_utf8(), f));
        }
        if dash_between_digits(b, i) {
            return Some((i, c.len_utf8(), Fold::Ascii(b'-')));
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
    /// `Some((n, m))`: folded characters (or composed jamo sequences, or escapes) back to back, each `n` bytes long in
    /// the original and `m` in the folded text (a fully escaped word, `\uacc4\uc88c`, is one run); `None`: verbatim
    /// bytes.
    folded_char: Option<(usize, usize)>,
}

/// A normalised copy of a text plus the map back to the original: a sorted list of runs, one per stretch of folded
/// characters of one size and one per verbatim stretch between them. Texts fold rarely (an em dash, an NBSP), so the
/// map stays a few entries long and the copy is a few `memcpy`s, whatever the text's length; an escaped text
/// (`\uXXXX` words) costs two runs a word.
#[derive(Debug, Default)]
pub(crate) struct Normalized {
    /// The folded text.
    pub text: String,
    runs: Vec<Run>,
}

impl Normalized {
    /// Refill from `original` (buffers are reused). Returns whether anything was folded; if not, `text` is left
    /// empty and the original should be scanned in place.
    #[cfg(test)]
    pub fn fill(&mut self, original: &str) -> bool {
        self.fill_until(original, None, &mut || false)
    }

    /// [`Normalized::fill`] that asks `stop` before each folded character (a text that is all folds, 16 MiB of
    /// escapes, takes ~150 ms to fold) and gives up when it says so: then it returns `false` with `text` left empty,
    /// and the caller, whose deadline has passed, must not scan. `leads`: every position of a byte of [`LEAD_BYTES`]
    /// in `original`, in order, when the caller has them (else they are searched).
    pub fn fill_until(
        &mut self,
        original: &str,
        leads: Option<&[usize]>,
        stop: &mut dyn FnMut() -> bool,
    ) -> bool {
        self.text.clear();
        self.runs.clear();
        if leads.is_some_and(<[usize]>::is_empty) {
            return false; // no lead byte: nothing folds (most segments)
        }
        let mut copied = 0;
        for (i, n, f) in folds(original, leads) {
            if i < copied {
                continue;
            }
            if stop() {
                self.text.clear();
                self.runs.clear();
                return false;
            }
            self.verbatim(original, copied, i);
            let out = match f {
                Fold::Ascii(a) => Some(char::from(a)),
                Fold::Syllable(s) | Fold::Unescaped(s) => Some(s),
                Fold::Drop => None,
            };
            if let Some(c) = out {
                let unit = (n, c.len_utf8());
                // The same size right after the previous folded character: the last run goes on.
                let goes_on = self.runs.last().is_some_and(|r| {
                    r.folded_char == Some(unit)
                        && r.original + (self.text.len() - r.folded) / unit.1 * unit.0 == i
                });
                if !goes_on {
                    self.runs.push(Run {
                        folded: self.text.len(),
                        original: i,
                        folded_char: Some(unit),
                    });
                }
                self.text.push(c);
            }
            copied = i + n;
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
        if let Some((n, m)) = r.folded_char {
            let o = r.original + (i - r.folded) / m * n;
            return Some((o, o + n));
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
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            let n = match unescape(rest.as_bytes()) {
                Some((f, n)) => {
                    push_fold(&mut out, f);
                    n
                }
                None if rest.as_bytes().get(escaped_at(rest.as_bytes())) == Some(&b'\\') => {
                    // A `\\` pair (the invisible characters inside it dropped).
                    out.push_str("\\\\");
                    escaped_at(rest.as_bytes()) + 1
                }
                None => {
                    out.push(c);
                    1
                }
            };
            rest = rest.get(n..).unwrap_or_default();
            continue;
        }
        let n = match compose(rest) {
            Some((syllable, n)) => {
                out.push(syllable);
                n
            }
            None => {
                match fold(c) {
                    Some(f) => push_fold(&mut out, f),
                    None => out.push(c),
                }
                c.len_utf8()
            }
        };
        rest = rest.get(n..).unwrap_or_default();
    }
    out
}

fn push_fold(out: &mut String, f: Fold) {
    match f {
        Fold::Drop => {}
        Fold::Ascii(b) => out.push(char::from(b)),
        Fold::Syllable(x) | Fold::Unescaped(x) => out.push(x),
    }
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

    #[test]
    fn decodes_json_escapes() {
        // 계좌번호 110-442-816305, escaped as `ensure_ascii` JSON writes it, then a nested `\"password\":\"…\"`.
        let original = r#"\uacc4\uc88c\ubc88\ud638 110-442-816305 {\"password\":\"Hx7!\/q\"} \ud83d\ude00 \\"x"#;
        let mut n = Normalized::default();
        assert!(n.fill(original));
        assert_eq!(
            n.text,
            r#"계좌번호 110-442-816305 {"password":"Hx7!/q"} 😀 \\"x"#
        );
        let g = n.text.find('번').unwrap();
        assert_eq!(n.map(original, g, g + 3), (12, 18));
        assert_eq!(fold_str(original), n.text);
        // Not decoded: other escapes, a lone or reversed surrogate, short hex, a decoded control character or
        // backslash, the character after an escaped backslash.
        for kept in [
            r"a\nb\tc",
            r"\ud83d",
            r"\ude00\ud83d",
            r"\u12",
            r"\u000a",
            r"\u005c",
            r"\\u0041",
            r"C:\\\\path",
        ] {
            assert!(!n.fill(kept), "{kept:?}");
            assert_eq!(fold_str(kept), kept);
        }
        assert!(n.fill(r"\u00a0\u200b"));
        assert_eq!(n.text, " ");
        // Invisible characters between the halves of a surrogate pair, raw or escaped, go with the pair: folding
        // them away first gives the same text.
        for split in [
            "\\ud83d\u{FEFF}\\ude00",
            "\\ud83d\u{200B}\u{AD}\\ude00",
            r"\ud83d\u200b\ude00",
        ] {
            assert!(n.fill(split), "{split:?}");
            assert_eq!(n.text, "😀", "{split:?}");
            assert_eq!(n.map(split, 0, n.text.len()), (0, split.len()));
            assert_eq!(fold_str(split), "😀");
        }
        // Raw invisible characters between a backslash and what it escapes go with the escape; an escaped one does
        // not (the backslash before it pairs with its own).
        for (split, folded) in [
            ("a\\\u{200B}/b", "a/b"),
            ("a\\\u{200B}\u{AD}\"b", "a\"b"),
            ("\\\u{FEFF}uacc4", "계"),
            ("a\\\u{200B}\\/b", "a\\\\/b"),
            ("a\\\\u200b/b", "a\\\\u200b/b"),
            // Also after the backslash of a surrogate pair's low half, and of an escaped invisible between them.
            ("\\ud83d\\\u{200B}ude00", "😀"),
            ("\\ud83d\\\u{200B}u200b\\ude00", "😀"),
            // And before any of an escape's four hex digits.
            ("a\\u\u{200B}002fb", "a/b"),
            ("a\\u00\u{AD}2fb", "a/b"),
            ("\\ud83d\\u\u{200B}de00", "😀"),
            ("a\\u200\u{200B}bb", "ab"),
        ] {
            assert_eq!(fold_str(split), folded, "{split:?}");
            if n.fill(split) {
                assert_eq!(n.text, folded, "{split:?}");
            } else {
                assert_eq!(split, folded);
            }
            // Folding is idempotent: the folded text decodes nothing more.
            assert_eq!(fold_str(folded), folded, "{split:?}");
        }
        // A lone high surrogate before invisible characters stays, and they are still removed.
        assert!(n.fill("\\ud83d\u{FEFF}x"));
        assert_eq!(n.text, r"\ud83dx");
    }

    #[test]
    fn folds_dash_letters_between_digits_only() {
        let mut n = Normalized::default();
        let original = "850314ㅡ1308025 010ㅡ2837ㅡ4651 03ー1234ー5678";
        assert!(n.fill(original));
        assert_eq!(n.text, "850314-1308025 010-2837-4651 03-1234-5678");
        let d = original.find('ㅡ').unwrap();
        assert_eq!(n.map(original, 6, 7), (d, d + 3));
        // `Ⅱ` (E2 85 A1) and U+20FC (E2 83 BC) share the dash letters' last two bytes; only the lead byte tells them
        // apart (CI's proptest found `0Ⅱ7` folded to `0-7`).
        for kept in [
            "ㅡㅡ",
            "1ㅡ",
            "ㅡ1",
            "aㅡ1",
            "1ㅡㅡ2",
            "コーヒー",
            "1 ㅡ 2",
            "0Ⅱ7",
            "1\u{20FC}2",
        ] {
            assert!(!n.fill(kept), "{kept:?}");
        }
    }

    #[test]
    fn fill_until_gives_up_when_told() {
        let original = r"\uacc4\uc88c \uacc4 and more";
        let mut n = Normalized::default();
        let mut asked = 0;
        assert!(!n.fill_until(original, None, &mut || {
            asked += 1;
            asked > 2
        }));
        assert_eq!(asked, 3, "asked before each fold, until told to stop");
        assert!(n.text.is_empty());
        // Never told to stop: the whole text.
        assert!(n.fill_until(original, None, &mut || false));
        assert_eq!(n.text, "계좌 계 and more");
    }

    #[test]
    fn composes_decomposed_hangul() {
        // 대외비 Ⅱ급비밀 in NFD: ᄃ ᅢ, ᄋ ᅬ, ᄇ ᅵ; ᄀ ᅳ ᆸ …
        let original = "\u{1103}\u{1162}\u{110B}\u{116C}\u{1107}\u{1175} Ⅱ\u{1100}\u{1173}\u{11B8}\u{1107}\u{1175}\u{1106}\u{1175}\u{11AF}";
        let mut n = Normalized::default();
        assert!(n.fill(original));
        assert_eq!(n.text, "대외비 Ⅱ급비밀");
        // 급 is the 9-byte sequence after `Ⅱ`; its 3 folded bytes map to all 9.
        let g = n.text.find('급').unwrap();
        let o = original.find('\u{1100}').unwrap();
        assert_eq!(n.map(original, g, g + 3), (o, o + 9));
        assert_eq!(n.map(original, g + 1, g + 2), (o, o + 9));
        assert_eq!(fold_str(original), "대외비 Ⅱ급비밀");
        // Loose jamo, fillers and compatibility jamo stay as they are.
        for kept in [
            "\u{1100}",
            "\u{1161}\u{11A8}",
            "\u{115F}\u{1161}",
            "\u{1100}\u{1176}",
            "ㄱㅏ",
            "가\u{11A8}",
        ] {
            assert!(!n.fill(kept), "{kept:?}");
            assert_eq!(fold_str(kept), kept);
        }
        // 11A7 is the jongseong base, not a jongseong: ᄀ ᅡ stays 가 and U+11A7 is kept.
        assert!(n.fill("\u{1100}\u{1161}\u{11A7}"));
        assert_eq!(n.text, "가\u{11A7}");
    }

    /// The per-byte map this module used before the run list: for every folded byte, the original char's range.
    fn reference(original: &str) -> (String, Vec<(usize, usize)>) {
        let mut text = String::new();
        let mut map = Vec::new();
        let mut skip_to = 0;
        for (i, c) in original.char_indices() {
            if i < skip_to {
                continue;
            }
            let len = c.len_utf8();
            if c == '\\' {
                let rest = &original.as_bytes()[i..];
                if let Some((f, n)) = unescape(rest) {
                    let before = text.len();
                    match f {
                        Fold::Drop => {}
                        Fold::Ascii(b) => text.push(char::from(b)),
                        Fold::Syllable(x) | Fold::Unescaped(x) => text.push(x),
                    }
                    map.extend(std::iter::repeat_n((i, i + n), text.len() - before));
                    skip_to = i + n;
                    continue;
                }
                let j = escaped_at(rest);
                if rest.get(j) == Some(&b'\\') {
                    text.push_str("\\\\");
                    map.extend([(i, i + 1), (i + j, i + j + 1)]);
                    skip_to = i + j + 1;
                    continue;
                }
            }
            if let Some((s, n)) = compose(&original[i..]) {
                text.push(s);
                map.extend(std::iter::repeat_n((i, i + n), s.len_utf8()));
                skip_to = i + n;
                continue;
            }
            let dash = matches!(c, '\u{3161}' | '\u{30FC}')
                && i > 0
                && original.as_bytes()[i - 1].is_ascii_digit()
                && original
                    .as_bytes()
                    .get(i + len)
                    .is_some_and(u8::is_ascii_digit);
            match fold(c).or(dash.then_some(Fold::Ascii(b'-'))) {
                Some(Fold::Drop) => {}
                Some(Fold::Ascii(b)) => {
                    text.push(char::from(b));
                    map.push((i, i + len));
                }
                Some(Fold::Syllable(_) | Fold::Unescaped(_)) => {
                    unreachable!("fold never composes nor unescapes")
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
            "a",
            "7",
            " ",
            "\n",
            "-",
            "가",
            "힣",
            "한국",
            "\u{A0}",
            "\u{AD}",
            "\u{B7}",
            "\u{2003}",
            "\u{200B}",
            "\u{200D}",
            "\u{2014}",
            "\u{2026}",
            "\u{201C}",
            "\u{2060}",
            "\u{2212}",
            "\u{3000}",
            "\u{300C}",
            "\u{3131}",
            "\u{3161}",
            "\u{30FC}",
            "\u{FE58}",
            "\u{FEFF}",
            "\u{FF10}",
            "\u{FF21}",
            "\u{FF5E}",
            "\u{FF5F}",
            "\u{FFE6}",
            "😀",
            "Ⅱ",
            "\u{200E}",
            "\u{202E}",
            "\u{2063}",
            "\u{2066}",
            "\u{2065}",
            "\u{034F}",
            "\u{034E}",
            "\u{180E}",
            "\u{180F}",
            "\u{1100}",
            "\u{3001}",
            "\u{1161}",
            "\u{11A8}",
            "\u{11C2}",
            "\u{11A7}",
            "\u{1112}",
            "\u{1113}",
            "\u{1175}",
            "\u{1176}",
            "\u{115F}",
            "\u{1103}\u{1162}",
            "\u{1100}\u{1173}\u{11B8}",
            "\u{1200}",
            "\\",
            "\\\\",
            "\\\"",
            "\\/",
            "\\n",
            "\\u",
            "\\uac00",
            "\\uAC0",
            "\\u00a0",
            "\\u200b",
            "\\u0041",
            "\\ud83d",
            "\\ude00",
            "\\u000a",
            "\\u005c",
            "\\u0022",
            "\\uD83D\\uDE00",
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

        /// Folding from a caller's list of lead-byte positions (the engine's anchor pass) is folding from `memchr`'s.
        #[test]
        fn listed_leads_fold_as_searched_ones(original in any_text()) {
            let leads: Vec<usize> = original
                .bytes()
                .enumerate()
                .filter(|(_, c)| LEAD_BYTES.contains(c))
                .map(|(i, _)| i)
                .collect();
            let (mut searched, mut listed) = (Normalized::default(), Normalized::default());
            let changed = searched.fill(&original);
            prop_assert_eq!(listed.fill_until(&original, Some(&leads), &mut || false), changed);
            prop_assert_eq!(&listed.text, &searched.text);
            prop_assert_eq!(listed.map(&original, 0, listed.text.len()), searched.map(&original, 0, searched.text.len()));
        }
    }
}
