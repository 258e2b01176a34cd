//! The code scanners of the engine: detectors whose regex would start with a broad class or run unbounded, found
//! by hand-written passes around a cheap anchor instead (`@` for e-mail, `:` for IPv6, `-----BEGIN` for PEM private
//! keys, an honorific for Korean names). Each walks the text once and hands its candidates to
//! [`Engine::evaluate`] like the regex union does.
//!
//! Must never: read outside the segment it is given, allocate per byte, or run without asking the scan context
//! whether the deadline has passed at each candidate.

use super::*;

impl Engine {
    pub(super) fn run_scanner(
        &self,
        p: &PatInfo,
        hay: &str,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        let mut last_end = 0;
        match p.check {
            Check::Email => {
                let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
                let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
                for at in memchr::memchr_iter(b'@', b) {
                    if groups.out_of_time() {
                        break;
                    }
                    if at < last_end {
                        continue;
                    }
                    let mut s = at;
                    while s > last_end && at - s < 64 && local(b[s - 1]) {
                        s -= 1;
                    }
                    while s < at && b[s] == b'.' {
                        s += 1;
                    }
                    // A JSON escape before the address (`메일\nminsu@…`) is not part of it.
                    if s > 0 && b[s - 1] == b'\\' && s < at && matches!(b[s], b'n' | b'r' | b't') {
                        s += 1;
                    }
                    // `scheme://user:password@host` is a credential in a URL, not an address.
                    if s > 0 && b[s - 1] == b':' && userinfo_before(b, s - 1) {
                        continue;
                    }
                    let mut e = at + 1;
                    while e < b.len() && e - at <= 255 && domain(b[e]) {
                        e += 1;
                    }
                    while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
                        e -= 1;
                    }
                    if s == at || !email_domain_ok(&b[at + 1..e]) {
                        continue;
                    }
                    // `git@github.com:org/repo.git` is an SSH remote (`host:path`), not an address.
                    if b.get(e) == Some(&b':')
                        && b.get(e + 1).is_some_and(|c| !c.is_ascii_whitespace())
                    {
                        continue;
                    }
                    last_end = e;
                    if let Some(f) = self.evaluate(hay, p, s, e, groups) {
                        out.push(f);
                    }
                }
            }
            Check::Pem => self.run_pem(p, hay, groups, out),
            Check::Ipv6 => {
                let hexc = |x: u8| x.is_ascii_hexdigit() || x == b':';
                for c in memchr::memchr_iter(b':', b) {
                    if groups.out_of_time() {
                        break;
                    }
                    if c < last_end || !b.get(c + 1).is_some_and(|&x| hexc(x)) {
                        continue;
                    }
                    let mut s = c;
                    while s > 0 && c - s < 40 && hexc(b[s - 1]) {
                        s -= 1;
                    }
                    let mut e = c + 1;
                    while e < b.len() && e - s < 45 && hexc(b[e]) {
                        e += 1;
                    }
                    // An embedded IPv4 tail (`::ffff:192.0.2.128`): the last group continues with `.` and digits.
                    if b.get(e) == Some(&b'.') && b.get(e + 1).is_some_and(u8::is_ascii_digit) {
                        let mut t = e;
                        while t < b.len() && t - e < 12 && (b[t].is_ascii_digit() || b[t] == b'.') {
                            t += 1;
                        }
                        while t > e && b[t - 1] == b'.' {
                            t -= 1;
                        }
                        if std::str::from_utf8(&b[s..t])
                            .is_ok_and(|x| x.parse::<std::net::Ipv6Addr>().is_ok())
                        {
                            e = t;
                        }
                    }
                    last_end = e;
                    if b[s..e].iter().filter(|&&x| x == b':').count() < 2 {
                        continue;
                    }
                    if let Some(f) = self.evaluate(hay, p, s, e, groups) {
                        out.push(f);
                    }
                }
            }
            Check::PersonKoAfter => {
                if self.triggers.is_some() {
                    return; // handled inside the trigger pass
                }
                for m in self.person_suffixes.find_iter(hay) {
                    if groups.out_of_time() {
                        break;
                    }
                    self.person_before_suffix(p, hay, m.start(), groups, out);
                }
            }
            _ => {}
        }
    }

    /// PEM private keys: at each `-----BEGIN … PRIVATE KEY-----` header, the block up to the first `-----END … PRIVATE
    /// KEY-----` line reachable through the block's character class, else the header alone. Linear in the text: the
    /// class run and the `-----END` occurrences are each walked once and shared by every header inside them, so a
    /// text of headers without footers costs one pass, not one pass per header.
    pub(super) fn run_pem(
        &self,
        p: &PatInfo,
        hay: &str,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        let mut ends = PEM_END.find_iter(b).peekable();
        let (mut run_lo, mut run_hi) = (0, 0);
        let mut last_end = 0;
        for s in PEM_BEGIN.find_iter(b) {
            if groups.out_of_time() {
                break;
            }
            if s < last_end {
                continue;
            }
            let Some(h) = pem_line(b, s, b"-----BEGIN") else {
                continue;
            };
            if !(run_lo..run_hi).contains(&h) {
                run_lo = h;
                run_hi = h + b[h..].iter().take_while(|&&c| pem_body(c)).count();
            }
            while ends.next_if(|&q| q < h).is_some() {}
            let mut e = h;
            while let Some(q) = ends.next_if(|&q| q < run_hi) {
                if let Some(f) = pem_line(b, q, b"-----END") {
                    e = f;
                    break;
                }
            }
            last_end = e;
            if let Some(f) = self.evaluate(hay, p, s, e, groups) {
                out.push(f);
            }
        }
    }

    /// A Korean name is the whole run of 2–4 Hangul syllables right before an honorific (one space allowed).
    pub(super) fn person_before_suffix(
        &self,
        p: &PatInfo,
        hay: &str,
        suffix_start: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        let mut ne = suffix_start;
        if ne > 0 && b[ne - 1] == b' ' {
            ne -= 1;
        }
        let mut ns = ne;
        let mut count = 0;
        while let Some(c) = hay[..ns].chars().next_back() {
            if !is_hangul_syllable(c) || count == 5 {
                break;
            }
            ns -= c.len_utf8();
            count += 1;
        }
        if !(2..=4).contains(&count) {
            return;
        }
        if let Some(f) = self.evaluate(hay, p, ns, ne, groups) {
            out.push(f);
        }
    }
}

/// Name columns read per header line.
const MAX_TABLE_COLUMNS: usize = 8;
/// Header cells queued per segment (a document has a few tables; text made of header cells gets no more): each costs
/// at most two bounded searches for its line's ends before its rows are read (or it turns out to be one of them).
pub(super) const MAX_TABLES: usize = 1024;
/// Longest table line: a longer line is not a table row, and no search for a line's ends reads further than this.
const MAX_TABLE_LINE: usize = 8192;

/// The line around byte `at`: `(start, end)`, the end before the `\n` (and a `\r`); `None` when either end is more
/// than [`MAX_TABLE_LINE`] bytes away.
fn line_at(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let lo = at.saturating_sub(MAX_TABLE_LINE);
    let start = match memchr::memrchr(b'\n', &b[lo..at]) {
        Some(i) => lo + i + 1,
        None if lo == 0 => 0,
        None => return None,
    };
    let hi = (at + MAX_TABLE_LINE).min(b.len());
    let mut end = match memchr::memchr(b'\n', &b[at..hi]) {
        Some(i) => at + i,
        None if hi == b.len() => hi,
        None => return None,
    };
    if end > start && b[end - 1] == b'\r' {
        end -= 1;
    }
    Some((start, end))
}

/// The line after the one that ends at `end` (`end` as [`line_at`] gives it: at most a `\r` before its `\n`), if
/// there is one and it is not too long.
fn next_line(b: &[u8], end: usize) -> Option<(usize, usize)> {
    let nl = end + memchr::memchr(b'\n', b.get(end..(end + 2).min(b.len()))?)?;
    if nl + 1 >= b.len() {
        return None;
    }
    line_at(b, nl + 1)
}

/// Whether the line holding byte `at` is followed by a Markdown delimiter row (so it is a table's header row). Reads
/// at most [`MAX_TABLE_LINE`] bytes each way.
pub(super) fn header_row(b: &[u8], at: usize) -> bool {
    line_at(b, at)
        .and_then(|(_, end)| next_line(b, end))
        .is_some_and(|(s, e)| delimiter_row(&b[s..e]))
}

/// A Markdown table's delimiter row: `|---|:--:|`, cells of dashes and colons, at least one `-`.
fn delimiter_row(row: &[u8]) -> bool {
    row.contains(&b'-')
        && row.contains(&b'|')
        && row
            .iter()
            .all(|c| matches!(c, b'-' | b':' | b'|' | b' ' | b'\t'))
}

impl Engine {
    /// The names in a table column whose header cell is a name label (`| 번호 | 성명 | 연락처 |`, or the same with
    /// tabs): every cell of that column in the rows below that is a whole Korean name (surname, given-name syllables,
    /// stop-list: [`person_ko_ok`]) is a finding. The label must fill its cell; a Markdown header must start with `|`
    /// or be followed by a delimiter row. Rows end at the first line without the separator (a blank line, prose) or
    /// longer than [`MAX_TABLE_LINE`], or at the deadline. A header line inside rows another header already read is one of
    /// those rows, not a new table, so no line is read twice per column (and at most [`MAX_TABLE_COLUMNS`] columns
    /// are read per header line).
    pub(super) fn table_names(
        &self,
        p: &PatInfo,
        hay: &str,
        s: usize,
        e: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        let Some(d) = self.detectors.get(p.detector) else {
            return;
        };
        let Some((line_start, line_end)) = line_at(b, s) else {
            return;
        };
        let (header_line, rows_until, columns) = &mut groups.table_cursor;
        if *header_line != Some(line_start) {
            if line_start < *rows_until {
                return;
            }
            *header_line = Some(line_start);
            *columns = 0;
        }
        *columns += 1;
        if *columns > MAX_TABLE_COLUMNS {
            return;
        }
        let sep = if b.get(e - 1) == Some(&b'\t') {
            b'\t'
        } else {
            b'|'
        };
        let before = &b[line_start..s];
        let open = before.iter().rposition(|&c| c == sep).map_or(0, |i| i + 1);
        if before[open..].iter().any(|&c| c != b' ') {
            return;
        }
        let col = before.iter().filter(|&&c| c == sep).count();
        let mut pos = line_end;
        if sep == b'|' {
            let next = next_line(b, pos);
            let delimited = next.is_some_and(|(ns, ne)| delimiter_row(&b[ns..ne]));
            if !delimited && before.iter().find(|&&c| c != b' ') != Some(&b'|') {
                return;
            }
            if let (true, Some((_, ne))) = (delimited, next) {
                pos = ne;
            }
        }
        while !groups.out_of_time() {
            let Some((rs, re)) = next_line(b, pos) else {
                break;
            };
            if !b[rs..re].contains(&sep) {
                break;
            }
            pos = re;
            // The cell after the `col`-th separator.
            let mut cell_start = rs;
            let mut k = 0;
            let mut cell_end = re;
            for i in memchr::memchr_iter(sep, &b[rs..re]) {
                if k == col {
                    cell_end = rs + i;
                    break;
                }
                k += 1;
                cell_start = rs + i + 1;
            }
            if k < col {
                continue;
            }
            let Some(cell) = hay.get(cell_start..cell_end) else {
                continue;
            };
            let name = cell.trim_matches(' ');
            let surname = name.chars().next().is_some_and(|c| SURNAMES.contains(c))
                || TWO_SYLLABLE_SURNAMES.iter().any(|s| name.starts_with(s));
            if !surname || !person_ko_ok(name) {
                continue;
            }
            let ns = cell_start + (cell.len() - cell.trim_start_matches(' ').len());
            if let Some(f) = self.finish(d, None, ns, ns + name.len(), p.base, &[]) {
                out.push(f);
            }
        }
        let (_, rows_until, _) = &mut groups.table_cursor;
        *rows_until = (*rows_until).max(pos);
    }
}

/// Bytes of a PEM block's body (base64, headers such as `Proc-Type: 4,ENCRYPTED`, line breaks, and the `\n` escapes of
/// a key inside a JSON string, as in a cloud service-account file).
fn pem_body(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"+/=\t\r\n :,.-\\".contains(&c)
}

/// End of a PEM header or footer line `<tag>[A-Z ]{0,24}PRIVATE KEY( BLOCK)?-----` starting at `at`.
fn pem_line(b: &[u8], at: usize, tag: &[u8]) -> Option<usize> {
    let i = at + tag.len();
    if b.get(at..i) != Some(tag) {
        return None;
    }
    for k in 0..=24 {
        let j = i + k;
        if b.get(j..).is_some_and(|t| t.starts_with(b"PRIVATE KEY")) {
            let j = j + b"PRIVATE KEY".len();
            for tail in [&b" BLOCK-----"[..], b"-----"] {
                if b.get(j..).is_some_and(|t| t.starts_with(tail)) {
                    return Some(j + tail.len());
                }
            }
        }
        if !b
            .get(j)
            .is_some_and(|&c| c.is_ascii_uppercase() || c == b' ')
        {
            return None;
        }
    }
    None
}

/// A set of Hangul syllables (`U+AC00..=U+D7A3`) as a bit set: constant-time membership for the name checks.
pub(super) struct SyllableSet([u64; 175]);

impl SyllableSet {
    fn new(chars: impl IntoIterator<Item = char>) -> Self {
        let mut set = [0u64; 175];
        for c in chars {
            if let Some(i) = syllable_index(c) {
                set[i / 64] |= 1 << (i % 64);
            }
        }
        SyllableSet(set)
    }

    pub(super) fn contains(&self, c: char) -> bool {
        syllable_index(c)
            .is_some_and(|i| self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1))
    }
}

fn syllable_index(c: char) -> Option<usize> {
    let u = u32::from(c);
    (0xAC00..=0xD7A3)
        .contains(&u)
        .then(|| (u - 0xAC00) as usize)
}

/// PEM header and footer starts, searched in every segment: built once (a `memmem` searcher costs ~400
/// instructions to build, more than searching a short segment).
static PEM_BEGIN: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"-----BEGIN"));
pub(super) static PEM_END: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"-----END"));

/// Single-syllable surnames.
pub(super) static SURNAMES: std::sync::LazyLock<SyllableSet> =
    std::sync::LazyLock::new(|| SyllableSet::new(SURNAME_CHARS.chars()));
/// Syllables of given names ([`GIVEN_SYLLABLES`]).
static GIVEN: std::sync::LazyLock<SyllableSet> =
    std::sync::LazyLock::new(|| SyllableSet::new(GIVEN_SYLLABLES.chars()));
/// The name stop-list, sorted for binary search.
static STOPLIST_SORTED: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut v = PERSON_STOPLIST.to_vec();
    v.sort_unstable();
    v
});
/// First syllables of the name stop-list: most candidates skip the list entirely.
static STOP_FIRST: std::sync::LazyLock<SyllableSet> = std::sync::LazyLock::new(|| {
    SyllableSet::new(PERSON_STOPLIST.iter().filter_map(|w| w.chars().next()))
});

/// Whether the `:` at `colon` ends the user of a URL's `user:password@` (a `://` earlier in the same token).
fn userinfo_before(b: &[u8], colon: usize) -> bool {
    let from = colon.saturating_sub(80);
    let token_start = b[from..colon]
        .iter()
        .rposition(u8::is_ascii_whitespace)
        .map_or(from, |i| from + i + 1);
    memchr::memmem::find(&b[token_start..colon], b"://").is_some()
}

fn email_domain_ok(d: &[u8]) -> bool {
    let Some(dot) = d.iter().rposition(|&c| c == b'.') else {
        return false;
    };
    let tld = &d[dot + 1..];
    // File names (`icon@2x.png`, `report@v2.pdf`) have the shape of an address; these extensions are not top-level
    // domains (`.zip`, `.mov`, `.md` and `.py` are, so they stay).
    const FILE_EXTENSIONS: &[&[u8]] = &[
        b"png", b"jpg", b"jpeg", b"gif", b"webp", b"svg", b"bmp", b"ico", b"tif", b"tiff", b"avif",
        b"heic", b"pdf", b"doc", b"docx", b"xls", b"xlsx", b"ppt", b"pptx", b"txt", b"csv", b"hwp",
        b"hwpx", b"log", b"json",
    ];
    (2..=24).contains(&tld.len())
        && tld.iter().all(u8::is_ascii_alphabetic)
        && !FILE_EXTENSIONS.iter().any(|x| tld.eq_ignore_ascii_case(x))
        && d.first().is_some_and(u8::is_ascii_alphanumeric)
        && !d.windows(2).any(|w| w == b"..")
}

/// Korean name sanity: 2–4 syllables, a given name made of given-name syllables (after a one- or two-syllable
/// surname), not a role/kinship word or a common noun followed by a particle.
pub(super) fn person_ko_ok(name: &str) -> bool {
    let n = name.chars().count();
    if !(2..=4).contains(&n) || !name.chars().all(is_hangul_syllable) {
        return false;
    }
    let given = |skip: usize| n > skip && name.chars().skip(skip).all(|c| GIVEN.contains(c));
    let two_syllable_surname = n >= 3 && TWO_SYLLABLE_SURNAMES.iter().any(|s| name.starts_with(s));
    if !(given(1) || (two_syllable_surname && given(2))) {
        return false;
    }
    // Every char is a 3-byte Hangul syllable (checked above).
    let syllables = |from: usize, to: usize| name.get(from * 3..to * 3).unwrap_or("");
    if n == 4 && !two_syllable_surname {
        // A three-syllable given name (유빛나리, 김마리아, 김다니엘) is rare; a noun compound before an honorific
        // (서울지점, 방문상담) or a three-syllable name plus a particle (김민수가) is not.
        let last = name.chars().last().unwrap_or(' ');
        if PARTICLES.contains(&last)
            || STOPLIST_SORTED.binary_search(&syllables(0, 2)).is_ok()
            || STOPLIST_SORTED.binary_search(&syllables(2, 4)).is_ok()
        {
            return false;
        }
    }
    // Most names share no first syllable with any stop word (this runs for every honorific hit).
    if !name.chars().next().is_some_and(|c| STOP_FIRST.contains(c)) {
        return true;
    }
    if STOPLIST_SORTED.binary_search(&name).is_ok() {
        return false;
    }
    if n == 3 {
        // A stop word plus a particle (`이번에`, `정보를`). Not 은 and 이: they end many given names, and
        // 이하은, 이상은, 유지은, 최고은, 이하이 are names far more often than 이하 + 은.
        let last = name.chars().last().unwrap_or(' ');
        if STOPLIST_SORTED.binary_search(&syllables(0, 2)).is_ok()
            && PARTICLES.contains(&last)
            && !matches!(last, '은' | '이')
        {
            return false;
        }
    }
    true
}

/// Particles that attach to a noun or name (`김민수가`, `이번에`).
const PARTICLES: &[char] = &[
    '을', '를', '은', '는', '이', '가', '의', '에', '와', '과', '도', '로', '만',
];

/// The name at the end of a label match (`성명: 김민수입니다` matched as `…김민수입`): within the trailing run of Hangul
/// syllables, the longest prefix that is a name and is either the whole run or followed by a particle or copula
/// syllable (`입`, `이`, `가`, `께`, `님` …). Returns the name's byte range within `t`.
pub(super) fn person_after_label(t: &str) -> Option<(usize, usize)> {
    let start = t
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_hangul_syllable(c))
        .last()
        .map(|(i, _)| i)?;
    const FOLLOWERS: &[char] = &[
        '입', '이', '은', '는', '을', '를', '의', '에', '께', '님', '씨', '과', '와', '도', '로',
        '가', '만',
    ];
    let run = &t[start..];
    // Every char of the run is a 3-byte Hangul syllable.
    let n = run.len() / 3;
    (2..=n).rev().find_map(|k| {
        let name = &run[..k * 3];
        let next_ok = k == n
            || run[k * 3..]
                .chars()
                .next()
                .is_some_and(|c| FOLLOWERS.contains(&c));
        // A name ending in a syllable that is almost always a particle here (`담당자 김건가 처리`) is the shorter
        // name plus that particle.
        let particle_end = k > 2
            && name.chars().next_back().is_some_and(|c| {
                matches!(
                    c,
                    '가' | '를' | '을' | '는' | '의' | '에' | '께' | '와' | '과'
                )
            });
        (next_ok && !particle_end && person_ko_ok(name)).then_some((start, start + k * 3))
    })
}
