//! The code scanners of the engine: detectors whose regex would start with a broad class or run unbounded, found
//! by hand-written passes around a cheap anchor instead (`@` and `%40` for e-mail, `:` for IPv6 and `.pgpass` lines,
//! `-----BEGIN` for PEM private keys, an honorific, a title or a letter closing for Korean names, `(` for basic-auth tuples). Each walks the text once and hands its
//! candidates to [`Engine::evaluate`] like the regex union does. After the pass, [`Engine::table_names`] reads the name columns of
//! the tables whose header cells the union found (Markdown, tab- or comma-separated; Korean labels, English `Name`
//! headers, and `First Name`/`Last Name` pairs), and the key/value rows of vertical tables whose first cell is such a
//! label (`성명,김민수`, `Name,John Smith`), with the name checks ([`person_ko_ok`], [`person_en_ok`],
//! [`person_en_caps_ok`], [`en_part_word`]).
//!
//! Must never: read outside the segment it is given, allocate per byte, or run without asking the scan context
//! whether the deadline has passed at each candidate.

use super::*;

// The scanners' anchors (indexed by `Anchor`). The AVX-512 pass lists where a whole anchor begins; without it, a
// scanner searches the first byte with `memchr` and tests the rest itself.
use avx512::ANCHOR_BYTES;

/// Positions kept per anchor byte at most (512 KiB each): a segment with more of one (a hostile body of `(((…`)
/// has that byte searched by its scanner with `memchr` instead, so the lists never take memory in proportion to the
/// text.
const ANCHOR_CAP: usize = 1 << 16;

/// Which anchor byte (an index into [`ANCHOR_BYTES`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Anchor {
    At = 0,
    /// `%40`, an encoded `@`.
    Percent = 1,
    Colon = 2,
    Open = 3,
}

/// The positions of every anchor byte in the segment being scanned, of the normaliser's lead bytes and of the
/// PEM armour's dashes, from one AVX-512 pass when the CPU has it ([`avx512::Avx512::anchor_positions`]); otherwise
/// each scanner searches its byte with `memchr` as it goes (and the normaliser its lead bytes, the PEM scanner its
/// header with `memmem`). Kept in the scan context so the lists' memory is reused from segment to segment.
#[derive(Debug, Default)]
pub(super) struct Anchors {
    /// Whether `lists` hold the current segment's positions.
    filled: bool,
    lists: [Vec<usize>; avx512::LISTS],
}

impl Anchors {
    /// Read the positions of `hay` when the CPU has AVX-512 (one pass for the normaliser, the scanners and the PEM
    /// scanner, whichever the engine runs).
    pub(super) fn fill(&mut self, hay: &[u8]) {
        self.filled = false;
        if let Some(cpu) = avx512::Avx512::detect() {
            cpu.anchor_positions(hay, &mut self.lists, ANCHOR_CAP);
            self.filled = true;
        }
    }

    /// The positions of the normaliser's lead bytes ([`avx512::FOLD_BYTES`]) in the filled text, when listed whole:
    /// the list moved out (hand it back with [`Anchors::give_back_list`]).
    pub(super) fn take_fold_leads(&mut self) -> Option<Vec<usize>> {
        self.take_list(avx512::FOLDS)
    }

    fn complete(&self, list: usize) -> Option<&[usize]> {
        let l = self.lists.get(list)?;
        (self.filled && l.len() < ANCHOR_CAP).then_some(l.as_slice())
    }

    /// List `list` moved out, when it is complete for the filled text.
    fn take_list(&mut self, list: usize) -> Option<Vec<usize>> {
        self.complete(list)?;
        Some(std::mem::take(&mut self.lists[list]))
    }

    /// A list taken with [`Anchors::take_list`] put back (its memory kept for the next segment).
    pub(super) fn give_back_list(&mut self, list: usize, taken: Option<Vec<usize>>) {
        if let Some(mut l) = taken {
            l.clear();
            self.lists[list] = l;
        }
    }

    /// Whether the lists show that scanner `c` has nothing to do in the filled text: every anchor its pass reads
    /// from is listed completely, and none is there (most short segments have no `@`, `:`, `(` or dash run).
    pub(super) fn rules_out(&self, c: Check) -> bool {
        let none = |list: usize| self.complete(list).is_some_and(<[usize]>::is_empty);
        match c {
            Check::Email => none(Anchor::At as usize) && none(Anchor::Percent as usize),
            Check::Credential => none(Anchor::Open as usize),
            Check::Ipv6 | Check::PersonKoColon | Check::Pgpass => none(Anchor::Colon as usize),
            Check::Pem => none(avx512::DASHES),
            _ => false,
        }
    }

    /// Forget the lists (a new segment).
    pub(super) fn clear(&mut self) {
        self.filled = false;
    }

    /// The positions of `a` in `hay`, in order: the list moved out of the context (hand it back with
    /// [`Anchors::give_back`] to keep its memory), or a `memchr` search when there is no list or it was cut at
    /// [`ANCHOR_CAP`].
    fn take<'a>(&mut self, a: Anchor, hay: &'a [u8]) -> Positions<'a> {
        match self.take_list(a as usize) {
            Some(list) => Positions::Listed(list, 0),
            None => Positions::Searched(memchr::memchr_iter(ANCHOR_BYTES[a as usize][0], hay)),
        }
    }

    fn give_back(&mut self, a: Anchor, p: Positions<'_>) {
        if let Positions::Listed(list, _) = p {
            self.give_back_list(a as usize, Some(list));
        }
    }
}

/// Iterator of [`Anchors::take`].
enum Positions<'a> {
    Listed(Vec<usize>, usize),
    Searched(memchr::Memchr<'a>),
}

impl Iterator for Positions<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        match self {
            Positions::Listed(list, i) => {
                let p = list.get(*i).copied();
                *i += 1;
                p
            }
            Positions::Searched(m) => m.next(),
        }
    }
}

/// The scanners as a scan runs them, resolved once when the engine is built: which run a pass of their own over
/// each segment, and which another pass calls at its own anchors instead (so none is dispatched only to find it has
/// nothing to do, and none is looked up by its check per segment).
#[derive(Debug, Default)]
pub(super) struct ScannerPlan {
    /// Indices into the engine's scanners, in order, of those that run a pass of their own.
    pub(super) passes: Vec<usize>,
    /// Per scanner that another pass calls, its index: the trigger pass calls the name scanner at honorifics
    /// ([`Check::PersonKoAfter`]) and the road-address and labelled-number scanners at digit runs; the IPv6
    /// scanner's `:` pass calls the colon labels and `.pgpass` lines, and the colon labels' pass calls `.pgpass`.
    called: Vec<(Check, usize)>,
}

impl ScannerPlan {
    /// The plan for `scanners`, with or without the builtin union's trigger pass.
    pub(super) fn new(scanners: &[PatInfo], triggered: bool) -> ScannerPlan {
        let has = |c: Check| scanners.iter().any(|q| q.check == c);
        let mut plan = ScannerPlan::default();
        for (i, q) in scanners.iter().enumerate() {
            let called_elsewhere = match q.check {
                Check::AddressRoad | Check::PhoneLabel | Check::PersonKoAfter => triggered,
                Check::PersonKoColon => has(Check::Ipv6),
                Check::Pgpass => has(Check::Ipv6) || has(Check::PersonKoColon),
                _ => false,
            };
            if called_elsewhere {
                plan.called.push((q.check, i));
            } else {
                plan.passes.push(i);
            }
        }
        plan
    }

    /// The scanner with check `c` that another pass calls, if any.
    #[inline]
    pub(super) fn scanner<'a>(&self, scanners: &'a [PatInfo], c: Check) -> Option<&'a PatInfo> {
        self.called
            .iter()
            .find(|&&(k, _)| k == c)
            .and_then(|&(_, i)| scanners.get(i))
    }
}

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
                // `kim.minsu%40naver.com`: an address percent-encoded in a URL or a log line (`%40` is `@`), found
                // from its own `memchr` pass for `%` (rare in prose: a third of the instructions `memmem` took for
                // `%40`, whose digits are common) merged in text order.
                let mut at_list = groups.anchors.take(Anchor::At, b);
                let mut pct_list = groups.anchors.take(Anchor::Percent, b);
                let mut ats = at_list.by_ref().peekable();
                let mut pcts = pct_list
                    .by_ref()
                    .filter(|&q| b.get(q + 1..q + 3) == Some(b"40"))
                    .peekable();
                loop {
                    let (at, width) = match (ats.peek().copied(), pcts.peek().copied()) {
                        (Some(a), Some(q)) if q < a => {
                            pcts.next();
                            (q, 3)
                        }
                        (Some(a), _) => {
                            ats.next();
                            (a, 1)
                        }
                        (None, Some(q)) => {
                            pcts.next();
                            (q, 3)
                        }
                        (None, None) => break,
                    };
                    if groups.out_of_time() {
                        break;
                    }
                    if at < last_end {
                        continue;
                    }
                    let mut s = at;
                    // An apostrophe between letters is part of a name (`o'brien@…`); at either end it is a quote.
                    while s > last_end
                        && at - s < 64
                        && (local(b[s - 1])
                            || (b[s - 1] == b'\''
                                && s >= 2
                                && b[s - 2].is_ascii_alphabetic()
                                && b[s].is_ascii_alphabetic()))
                    {
                        s -= 1;
                    }
                    if width == 3 {
                        // Before an encoded `@`, an encoded delimiter (`email%3Dkim%40…`, `%20`) ends what came
                        // before; the local part needs a letter (`50%40대` is a share and an age).
                        if let Some(k) = (s..at.saturating_sub(2)).rev().find(|&k| {
                            b[k] == b'%'
                                && b[k + 1].is_ascii_hexdigit()
                                && b[k + 2].is_ascii_hexdigit()
                        }) {
                            s = k + 3;
                        }
                        if !b[s..at].iter().any(u8::is_ascii_alphabetic) {
                            continue;
                        }
                    }
                    if width == 1 && s > last_end && b[s - 1] >= 0x80 {
                        s = unicode_local_start(hay, s, at, last_end);
                    }
                    while s < at && b[s] == b'.' {
                        s += 1;
                    }
                    // A JSON escape before the address (`메일\nminsu@…`) is not part of it.
                    if s > 0 && b[s - 1] == b'\\' && s < at && matches!(b[s], b'n' | b'r' | b't') {
                        s += 1;
                    }
                    // `scheme://user:password@host` is a credential in a URL, not an address; so is a token as
                    // the userinfo (`https://ghp_…@github.com`), which the secret patterns report.
                    if token_local(b, at) || in_url_authority(b, at) {
                        continue;
                    }
                    let ds = at + width;
                    let mut e = ds;
                    // An internationalised domain may hold labels of letters in any script (`hong@네이버.com`,
                    // `info@bücher.de`); its top-level label is ASCII or one of [`IDN_TLDS`] (`회사.한국`), so
                    // letters after that are the sentence going on (`kim@naver.com으로`, `kim@회사.한국으로`).
                    while e < b.len() && e - ds <= 255 {
                        if domain(b[e]) {
                            e += 1;
                        } else if let Some(c) = hay
                            .get(e..)
                            .and_then(|t| t.chars().next())
                            .filter(|&c| !c.is_ascii() && (c.is_alphabetic() || combining_mark(c)))
                        {
                            e += c.len_utf8();
                        } else {
                            break;
                        }
                    }
                    if let Some(dot) = b[ds..e].iter().rposition(|&c| c == b'.') {
                        let tld = ds + dot + 1;
                        let ascii = b[tld..e].iter().take_while(|c| c.is_ascii()).count();
                        e = tld
                            + if ascii > 0 {
                                ascii
                            } else {
                                IDN_TLDS
                                    .iter()
                                    .find(|t| b[tld..e].starts_with(t.as_bytes()))
                                    .map_or(0, |t| t.len())
                            };
                    }
                    while e > ds && matches!(b[e - 1], b'.' | b'-') {
                        e -= 1;
                    }
                    // A hyphen may glue something to the address (`hong@example.com-900101` in a model or file
                    // name): the domain then ends before it, if that leaves a valid one.
                    let mut ok = email_domain_ok(&b[ds..e]);
                    while !ok {
                        match b[ds..e].iter().rposition(|&c| c == b'-') {
                            Some(k) if k > 0 && b[ds + k - 1] != b'.' => e = ds + k,
                            _ => break,
                        }
                        ok = email_domain_ok(&b[ds..e]);
                    }
                    if s == at || !ok {
                        continue;
                    }
                    // `git@github.com:org/repo.git` is an SSH remote (`host:path`), not an address.
                    if b.get(e) == Some(&b':')
                        && b.get(e + 1).is_some_and(|c| !c.is_ascii_whitespace())
                    {
                        continue;
                    }
                    last_end = e;
                    if s >= 2 && b[s - 1] == b'<' && b.get(e) == Some(&b'>') {
                        self.display_name(hay, s - 1, groups, out);
                    }
                    if let Some(f) = self.evaluate(hay, p, s, e, groups) {
                        out.push(f);
                    }
                }
                drop((ats, pcts));
                groups.anchors.give_back(Anchor::At, at_list);
                groups.anchors.give_back(Anchor::Percent, pct_list);
            }
            Check::Pem => self.run_pem(p, hay, groups, out),
            Check::Credential => self.run_auth_tuple(p, hay, groups, out),
            Check::PersonKoColon => self.run_colon_labels(p, hay, groups, out),
            Check::Pgpass => {
                let mut colons = groups.anchors.take(Anchor::Colon, b);
                for c in colons.by_ref() {
                    if groups.out_of_time() {
                        break;
                    }
                    self.pgpass(p, hay, c, groups, out);
                }
                groups.anchors.give_back(Anchor::Colon, colons);
            }
            Check::Ipv6 => {
                let hexc = |x: u8| x.is_ascii_hexdigit() || x == b':';
                let labels = self.plan.scanner(&self.scanners, Check::PersonKoColon);
                let pgpass = self.plan.scanner(&self.scanners, Check::Pgpass);
                let mut colons = groups.anchors.take(Anchor::Colon, b);
                for c in colons.by_ref() {
                    if groups.out_of_time() {
                        break;
                    }
                    if let Some(q) = labels {
                        self.colon_label(q, hay, c, groups, out);
                    }
                    if let Some(q) = pgpass {
                        self.pgpass(q, hay, c, groups, out);
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
                groups.anchors.give_back(Anchor::Colon, colons);
            }
            Check::AddressRoad => {
                for t in DigitRuns::new(b) {
                    if groups.out_of_time() {
                        break;
                    }
                    if t >= last_end {
                        if let Some(end) = self.road_address(p, hay, t, last_end, groups, out) {
                            last_end = end;
                        }
                    }
                }
            }
            Check::PhoneLabel => {
                // Without a trigger pass the regex findings are already made: a number one of them covers is
                // settled by the overlap rule (a `KR_PHONE` scores above this scanner's `PHONE`).
                for t in DigitRuns::new(b) {
                    if groups.out_of_time() {
                        break;
                    }
                    if t >= last_end {
                        if let Some(end) = self.number_after_label(p, hay, t, groups, out) {
                            last_end = end;
                        }
                    }
                }
            }
            Check::PersonKoAfter => {
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
    /// KEY-----` line reachable through the block's character class, else the header alone; either only when a run of
    /// 16 base64 characters follows the header (in the block, or within 512 bytes), so placeholders are not keys. A
    /// footer more than `MAX_SEARCH` bytes after its header is out of reach (the header is then reported alone).
    /// Linear in the text: the class run and the `-----END` occurrences are each walked once and shared by every
    /// header inside them, so a text of headers without footers costs one pass, not one pass per header.
    pub(super) fn run_pem(
        &self,
        p: &PatInfo,
        hay: &str,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        // Headers from the anchor pass's dash runs when it listed them (a `memmem` pass of its own otherwise): the
        // same starts, since `-----BEGIN` cannot overlap itself and each of its starts begins five dashes. The list
        // is moved out of the context while the headers are read, and handed back after.
        let dashes = groups.anchors.take_list(avx512::DASHES);
        let listed = dashes.as_deref().map(|d| {
            d.iter()
                .copied()
                .filter(|&s| b.get(s + 5..s + 10) == Some(b"BEGIN"))
        });
        let searched = listed.is_none().then(|| finds(&PEM_BEGIN, b));
        let headers = listed
            .into_iter()
            .flatten()
            .chain(searched.into_iter().flatten());
        // Footers are searched only once a header is there (most segments have none).
        let mut footers = None;
        // `run_lo..run_hi`: bytes of the block class walked so far; `open` while the run may go on past `run_hi`
        // (the walk stopped at a header's reach, not at a byte outside the class).
        let (mut run_lo, mut run_hi, mut open) = (0, 0, false);
        let mut last_end = 0;
        for s in headers {
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
                (run_lo, run_hi, open) = (h, h, true);
            }
            // A footer is looked for at most `MAX_SEARCH` bytes after its header (the longest finding reported
            // whole; a 8192-bit key is ~6.5 KB), so no header walks the text to its end before the deadline is read
            // again; the walk goes on from where the last header's stopped.
            let reach = (h + MAX_SEARCH).min(b.len());
            if open && run_hi < reach {
                let n = b[run_hi..reach]
                    .iter()
                    .take_while(|&&c| pem_body(c))
                    .count();
                run_hi += n;
                open = run_hi == reach;
            }
            let reach = reach.min(run_hi);
            let ends = footers.get_or_insert_with(|| finds(&PEM_END, b).peekable());
            while ends.next_if(|&q| q < h).is_some() {}
            let mut e = h;
            while let Some(q) = ends.next_if(|&q| q < reach) {
                if let Some(f) = pem_line(b, q, b"-----END") {
                    e = f;
                    break;
                }
            }
            last_end = e;
            // A placeholder (`-----BEGIN PRIVATE KEY-----` then `...`, `<redacted>` or prose, with or without its
            // footer) is no key: the body must hold a run of base64 (a header alone: within 512 bytes after it).
            let body = if e > h { h..e } else { h..reach.min(h + 512) };
            if !base64_run(&b[body], 16) {
                continue;
            }
            if let Some(f) = self.evaluate(hay, p, s, e, groups) {
                out.push(f);
            }
        }
        groups.anchors.give_back_list(avx512::DASHES, dashes);
    }

    /// Korean names after the form labels of [`PERSON_COLON_LABELS`] and a colon (`수령인: 윤채원`, `"예약자명":
    /// "한소희"`, `보낸 사람: 조은비 <…>`): one `memchr` pass for `:`, shared with the IPv6 scanner when that runs
    /// (see [`Engine::colon_label`]).
    fn run_colon_labels(
        &self,
        p: &PatInfo,
        hay: &str,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let pgpass = self.plan.scanner(&self.scanners, Check::Pgpass);
        let mut colons = groups.anchors.take(Anchor::Colon, hay.as_bytes());
        for colon in colons.by_ref() {
            if groups.out_of_time() {
                break;
            }
            self.colon_label(p, hay, colon, groups, out);
            if let Some(q) = pgpass {
                self.pgpass(q, hay, colon, groups, out);
            }
        }
        groups.anchors.give_back(Anchor::Colon, colons);
    }

    /// A `.pgpass` line (`hostname:port:database:username:password`) whose port (digits, or `*`) ends at the `:` at
    /// `colon`: the line starts with the host (no spaces, letters or a dotted address, or `*`), database and user
    /// are single fields, the password is the rest of the line. Most colons are rejected by the byte before them.
    fn pgpass(
        &self,
        p: &PatInfo,
        hay: &str,
        colon: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        if colon == 0 || !(b[colon - 1].is_ascii_digit() || b[colon - 1] == b'*') {
            return;
        }
        let field = |c: u8| !matches!(c, b':' | b' ' | b'\t' | b'\r' | b'\n');
        // The port: `*` or up to five digits, after the host's `:`.
        let mut ps = colon - 1;
        if b[ps] != b'*' {
            while ps > 0 && colon - ps < 5 && b[ps - 1].is_ascii_digit() {
                ps -= 1;
            }
        }
        if ps < 2 || b[ps - 1] != b':' {
            return;
        }
        let he = ps - 1;
        let mut hs = he;
        while hs > 0 && he - hs < 255 && field(b[hs - 1]) {
            hs -= 1;
        }
        let host = &b[hs..he];
        let line_start = hs == 0 || b[hs - 1] == b'\n';
        if !line_start
            || host.is_empty()
            || !(host == b"*" || host.iter().any(u8::is_ascii_alphabetic) || host.contains(&b'.'))
        {
            return;
        }
        // Database and user: one field each, the user with a letter (or `*`).
        let mut at = colon + 1;
        let mut user = (0, 0);
        for _ in 0..2 {
            let fs = at;
            while at < b.len() && at - fs < 128 && field(b[at]) {
                at += 1;
            }
            if at == fs || b.get(at) != Some(&b':') {
                return;
            }
            user = (fs, at);
            at += 1;
        }
        if !b[user.0..user.1]
            .iter()
            .any(|c| c.is_ascii_alphabetic() || *c == b'*')
        {
            return;
        }
        let vs = at;
        while at < b.len() && at - vs <= 128 && !matches!(b[at], b' ' | b'\t' | b'\r' | b'\n') {
            at += 1;
        }
        if at - vs > 128 || !matches!(b.get(at), None | Some(b'\r' | b'\n')) {
            return;
        }
        if let Some(f) = self.evaluate(hay, p, vs, at, groups) {
            out.push(f);
        }
    }

    /// At the `:` at `colon`: at most 24 bytes back (spaces, a quote, a label of [`PERSON_COLON_LABELS`] that starts
    /// a word) and at most 8 syllables forward. The candidate runs from the label to the end of the Hangul run after
    /// the colon, checked as [`Check::PersonKoBefore`]. Most colons are rejected by the byte before them (not Hangul)
    /// or by the label's last syllable.
    fn colon_label(
        &self,
        p: &PatInfo,
        hay: &str,
        colon: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        let mut end = colon;
        while end > 0 && colon - end < 4 && matches!(b[end - 1], b' ' | b'"' | b'\'') {
            end -= 1;
        }
        if end > 1 && b[end - 1].is_ascii_alphabetic() {
            // A mail header over Korean names (`From: 김민수`, `Cc: 이영희; 박지훈`) reads them as a Korean label's list.
            let Some((label, kind)) = en_label_before(b, end) else {
                return;
            };
            if kind == EnLabel::Mail {
                let vs = value_start(b, colon);
                let hangul = hangul_run_end(hay, vs, 1) > vs;
                if !hangul {
                    self.en_colon_label(hay, end - label.len(), kind, colon, groups, out);
                }
                // Korean names first, or after addresses (`Cc: John Smith <john@acme.com>; 이영희`).
                if hangul || address_item_end(b, vs).is_some() {
                    self.ko_label_value(
                        p,
                        hay,
                        end - label.len(),
                        colon,
                        KoLabel::List,
                        groups,
                        out,
                    );
                }
                return;
            }
            self.en_colon_label(hay, end - label.len(), kind, colon, groups, out);
            return;
        }
        if end > 0 && b[end - 1].is_ascii_digit() {
            self.kakao_bracket_name(p, hay, colon, groups, out);
            return;
        }
        // The label's last syllable ends right before: one of the labels' last syllables.
        if end < 6 || b[end - 1] < 0x80 {
            return;
        }
        if end < colon && self.kakao_line_name(p, hay, end, groups, out) {
            return;
        }
        if !hay.get(end - 3..end).is_some_and(label_last_syllable) {
            return;
        }
        let found = |labels: &[(&str, bool)]| {
            labels.iter().find_map(|&(l, strong)| {
                let s = end.checked_sub(l.len())?;
                (&b[s..end] == l.as_bytes()).then_some((s, strong))
            })
        };
        let Some((label_start, kind)) = found(builtin::PERSON_COLON_LABELS)
            .or_else(|| person_label(b, end))
            .or_else(|| spaced_label(hay, end))
            .map(|(s, strong)| {
                (
                    s,
                    if strong {
                        KoLabel::Strong
                    } else {
                        KoLabel::Weak
                    },
                )
            })
            .or_else(|| found(KO_MAIL_LABELS).map(|(s, _)| (s, KoLabel::List)))
        else {
            return;
        };
        if hay[..label_start]
            .chars()
            .next_back()
            .is_some_and(is_hangul_syllable)
        {
            return;
        }
        self.ko_label_value(p, hay, label_start, colon, kind, groups, out);
    }

    /// The Korean name (or names) after a label found by [`Engine::colon_label`] that starts at `label_start` and
    /// ends at the `:` at `colon`.
    #[allow(clippy::too_many_arguments)]
    fn ko_label_value(
        &self,
        p: &PatInfo,
        hay: &str,
        label_start: usize,
        colon: usize,
        kind: KoLabel,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        let mut ns = value_start(b, colon);
        if kind == KoLabel::List {
            // A mail header's items that are addresses before the first Korean name (`Cc: jane@acme.com, 김민수`).
            for _ in 0..MAX_LISTED_NAMES {
                match address_item_end(b, ns).and_then(|e| next_listed(hay, e)) {
                    Some(next) => ns = next,
                    None => break,
                }
            }
        }
        let mut run = hangul_run_end(hay, ns, 8);
        // A kinship word before the name (`비상연락처: 배우자 김수연`, `보호자: 남편 윤재석`).
        if b.get(run) == Some(&b' ') && builtin::KINSHIP.contains(&&hay[ns..run]) {
            ns = run + 1;
            run = hangul_run_end(hay, ns, 8);
        }
        // A department before the name (`발신인: 인사팀 김민수`, `담당자: 고객지원센터 이영희`).
        if b.get(run) == Some(&b' ') && department(&hay[ns..run]) {
            ns = run + 1;
            run = hangul_run_end(hay, ns, 8);
        }
        if run == ns {
            return;
        }
        if kind != KoLabel::Strong {
            // After a weak label the name must end its phrase: not `환자: 배가 아파요`. A self-introduction's ending
            // may close it (`고객: 정우성입니다`); so may Outlook's `[mailto:…]` after a forwarded header's name.
            let next = hay[run..].trim_start_matches(' ').bytes().next();
            let ends = matches!(
                next,
                None | Some(
                    b'\n'
                        | b'\r'
                        | b'('
                        | b'['
                        | b','
                        | b';'
                        | b'<'
                        | b'/'
                        | b'|'
                        | b'"'
                        | b'\''
                        | b')'
                )
            ) || next_listed(hay, run).is_some()
                || others_after(hay, run);
            let word = &hay[ns..run];
            let word = builtin::INTRO_ENDINGS
                .iter()
                .find_map(|x| word.strip_suffix(x))
                .unwrap_or(word);
            if !ends || word.chars().count() > 4 {
                return;
            }
        }
        if kind == KoLabel::List && !mail_name(&hay[ns..run]) {
            return;
        }
        let Some(f) = self.evaluate(hay, p, label_start, run, groups) else {
            return;
        };
        let mut at = f.end;
        out.push(f);
        // A list after a strong label (`참석자: 빈지호, 제갈윤, 사공민아`, `퇴사 예정자: 위성민(개발팀), 옥다인(…)`):
        // each further name passes the same name check and fills its item (`회의실 예약` goes on: not a name); the
        // list ends at the first item that is no name.
        for _ in 0..MAX_LISTED_NAMES {
            if kind == KoLabel::Weak {
                break;
            }
            let mut i = at;
            // A bracketed note after the name (`(개발팀)`, `(남, 67세)`), on the same line.
            if b.get(i) == Some(&b'(') {
                match b[i..(i + 40).min(b.len())]
                    .iter()
                    .position(|&c| c == b')' || c == b'\n')
                {
                    Some(k) if b[i + k] == b')' => i += k + 1,
                    _ => break,
                }
            }
            // A mail header's address after the name (`김민수 <minsu@acme.co.kr>; 이영희`).
            if kind == KoLabel::List {
                i = angle_address_end(b, i).unwrap_or(i);
            }
            // Mail headers and address fields separate names with `;` too (`Cc: 이영희; 박지훈`, `받는 사람: 김민수;
            // 이영희`), lists in Korean prose with a middle dot or `및` (`김민수·이영희`, `김민수 및 이영희`).
            let Some(i) = next_listed(hay, i) else {
                break;
            };
            // A mail header's item that is an address, or an English name with one, is passed over (`참조: 김민수,
            // jane@acme.com, 박지훈`, `Cc: 김민수, John Smith <john@acme.com>, 이영희`).
            if kind == KoLabel::List {
                if let Some(e) = address_item_end(b, i) {
                    at = e;
                    continue;
                }
            }
            let end = hangul_run_end(hay, i, 5);
            let ends = matches!(
                b.get(end),
                None | Some(b',' | b';' | b'(' | b'\n' | b'\r' | b'/')
            ) || next_listed(hay, end).is_some()
                || others_after(hay, end);
            let name = &hay[i..end];
            if end == i
                || !ends
                || !person_ko_ok(name)
                || (kind == KoLabel::List && !mail_name(name))
            {
                break;
            }
            match self.evaluate(hay, p, i, end, groups) {
                Some(f) => {
                    at = f.end;
                    out.push(f);
                }
                None => break,
            }
        }
    }

    /// A KakaoTalk export's message line, `[홍길동] [오후 3:12] 메시지`, found at the time's `:` at `colon`: the line
    /// opens with the sender's name in brackets, then the time in brackets (`오전`/`오후`, one or two digits).
    fn kakao_bracket_name(
        &self,
        p: &PatInfo,
        hay: &str,
        colon: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        let mut h = colon;
        while h > 0 && colon - h < 2 && b[h - 1].is_ascii_digit() {
            h -= 1;
        }
        // `[오후 ` before the hour, `] ` before that.
        let Some(open) = h.checked_sub(8) else {
            return;
        };
        let ampm = &b[open..h];
        let bracketed = ampm.starts_with(b"[")
            && ampm.ends_with(b" ")
            && matches!(hay.get(open + 1..h - 1), Some("오전" | "오후"));
        if !bracketed || open < 4 || &b[open - 2..open] != b"] " {
            return;
        }
        let ne = open - 2;
        let ns = hay[..ne]
            .char_indices()
            .rev()
            .take(5)
            .take_while(|&(_, c)| is_hangul_syllable(c))
            .last()
            .map_or(ne, |(i, _)| i);
        if ns == 0
            || b[ns - 1] != b'['
            || !(ns == 1 || b[ns - 2] == b'\n')
            || !person_ko_ok(&hay[ns..ne])
        {
            return;
        }
        if let Some(f) = self.evaluate(hay, p, ns, ne, groups) {
            out.push(f);
        }
    }

    /// A KakaoTalk export's message line, `2024년 1월 3일 오후 3:12, 홍길동 : 메시지` (or `2024. 1. 3. 오후 3:12, …`):
    /// the sender's name ends at `end`, a space before the `:`, the time and `, ` before the name. Whether the line
    /// was one.
    fn kakao_line_name(
        &self,
        p: &PatInfo,
        hay: &str,
        end: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) -> bool {
        let b = hay.as_bytes();
        let ns = hay[..end]
            .char_indices()
            .rev()
            .take(5)
            .take_while(|&(_, c)| is_hangul_syllable(c))
            .last()
            .map_or(end, |(i, _)| i);
        // `h:mm, ` before the name.
        if ns < 6
            || &b[ns - 2..ns] != b", "
            || !b[ns - 4..ns - 2].iter().all(u8::is_ascii_digit)
            || b[ns - 5] != b':'
            || !person_ko_ok(&hay[ns..end])
        {
            return false;
        }
        if let Some(f) = self.evaluate(hay, p, ns, end, groups) {
            out.push(f);
        }
        true
    }

    /// A road address without its province whose house number is the digit run at `t` (`강남구 테헤란로 427`,
    /// `판교역로 235`; see [`road_address_span`]), starting at `from` or later. Returns the accepted finding's end.
    /// The test of the road name's last syllable is inlined at the caller (every digit run asks; few follow `로` or
    /// `길`), the rest is a call.
    #[inline]
    pub(super) fn road_address(
        &self,
        p: &PatInfo,
        hay: &str,
        t: usize,
        from: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) -> Option<usize> {
        if !road_suffix_before(hay.as_bytes(), t) {
            return None;
        }
        self.road_address_at(p, hay, t, from, groups, out)
    }

    #[inline(never)]
    fn road_address_at(
        &self,
        p: &PatInfo,
        hay: &str,
        t: usize,
        from: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) -> Option<usize> {
        let (s, e) = road_address_span(hay, t).filter(|&(s, _)| s >= from)?;
        let f = self.evaluate(hay, p, s, e, groups)?;
        let end = f.end;
        out.push(f);
        Some(end)
    }

    /// A number no pattern took, at digit run `t`, after a label: a resident number's back part after its label
    /// (`앞자리 850314 뒷자리 1308025`, [`Engine::split_rrn`]) or a phone number after a phone label (`Tel:
    /// 212-736-4821`, [`Engine::labeled_phone`]; `p` is that scanner). One table lookup first
    /// ([`label_may_end_before`], inlined at the caller): most digit runs follow no label. Returns the accepted
    /// finding's end.
    #[inline(always)]
    pub(super) fn number_after_label(
        &self,
        p: &PatInfo,
        hay: &str,
        t: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) -> Option<usize> {
        if !label_may_end_before(hay.as_bytes(), t) && !cell_start(hay.as_bytes(), t) {
            return None;
        }
        self.number_after_label_at(p, hay, t, groups, out)
    }

    #[inline(never)]
    fn number_after_label_at(
        &self,
        p: &PatInfo,
        hay: &str,
        t: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) -> Option<usize> {
        self.split_rrn(hay, t, groups, out)
            .or_else(|| self.labeled_phone(p, hay, t, groups, out))
    }

    /// A phone number without `+` that starts at `t` (a digit run or `(`) right after a phone label
    /// ([`labeled_phone_span`]), or that fills a cell of a comma- or tab-separated table under a phone column
    /// ([`phone_header`]: `phone`, `Mobile`, `phone_number`, `전화번호`, `연락처`; `Robert Chen,512-48-7391,(217)
    /// 555-0143`) with a labelled number's shape ([`phone_span`]). Returns the accepted finding's end.
    fn labeled_phone(
        &self,
        p: &PatInfo,
        hay: &str,
        t: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) -> Option<usize> {
        let b = hay.as_bytes();
        let (s, e) = labeled_phone_span(b, t).or_else(|| {
            // The cell test first: it is one byte or two, the number's shape a walk over it.
            if !cell_start(b, t) {
                return None;
            }
            let (s, e) = phone_span(b, t)?;
            // A Markdown table's `Mobile` column is as often a device split of counts or prices (`| 세션 |
            // 15234000 |`): only a phone's usual grouping there.
            if markdown_cell(b, s, e).is_some() && !strict_phone_shape(&b[s..e]) {
                return None;
            }
            let (hs, he) = column_header(b, s, e, &mut groups.column)?;
            phone_header(&b[hs..he]).then_some((s, e))
        })?;
        let f = self.evaluate(hay, p, s, e, groups)?;
        let end = f.end;
        out.push(f);
        Some(end)
    }

    /// A resident number written in two parts after their labels, `앞자리 850314 뒷자리 1308025` (front and back
    /// digits), where `t` is the back part's digit run: the finding spans both parts and is checked as the 13 digits
    /// they make ([`Check::Rrn13`]: date, 7th digit, check digit or a resident-number keyword). Returns its end.
    fn split_rrn(
        &self,
        hay: &str,
        t: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) -> Option<usize> {
        let b = hay.as_bytes();
        const FRONT: &[u8] = "앞자리".as_bytes();
        const BACK: &[u8] = "뒷자리".as_bytes();
        // The last byte of `리` first: most digit runs stop here.
        let skip = |mut j: usize| {
            while j > 0 && matches!(b[j - 1], b' ' | b':') {
                j -= 1;
            }
            j
        };
        let j = skip(t);
        if j == t || b.get(j.checked_sub(1)?) != Some(&0xAC) || !b[..j].ends_with(BACK) {
            return None;
        }
        let run = |at: usize| b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run(t) != 7 {
            return None;
        }
        let k = skip(j - BACK.len());
        let s = k.checked_sub(6)?;
        if k == j - BACK.len() || run(s) != 6 || (s > 0 && b[s - 1].is_ascii_digit()) {
            return None;
        }
        let i = skip(s);
        if i == s || !b[..i].ends_with(FRONT) {
            return None;
        }
        let p = self.pats.iter().find(|q| q.check == Check::Rrn13)?;
        let f = self.evaluate(hay, p, s, t + 7, groups)?;
        let end = f.end;
        out.push(f);
        Some(end)
    }

    /// English names after the form labels of [`EN_COLON_LABELS`] (`Account holder: Daniel Whitaker`,
    /// `Emergency contact: Maria Lopez (mother)`, `Signed-off-by: Matthias Keller <…>`), found from the same `:` pass
    /// as the Korean labels; the label ends at `end`. The name is checked as after any English label
    /// ([`Check::PersonEn`]); after a list label (`Attendees:`) the names that follow, comma-separated, too. Mail
    /// header labels (`From:`, `To:`) count only with an address in angle brackets after the name.
    fn en_colon_label(
        &self,
        hay: &str,
        label_start: usize,
        kind: EnLabel,
        colon: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        let Some(p) = self
            .pats
            .iter()
            .find(|q| q.check == Check::PersonEn && q.boundary == Boundary::LabelKey)
        else {
            return;
        };
        let mut at = colon + 1;
        while b.get(at) == Some(&b' ') && at - colon < 4 {
            at += 1;
        }
        let Some(ne) = en_name_end(b, at) else {
            return;
        };
        // A mail header's name: before its address, or filling its line in a header block (`From: Rebecca
        // Thompson` over `Sent: …`, Outlook's quoted header), or in a `cc:` list.
        let line_end = matches!(b.get(ne), None | Some(b'\n' | b'\r'));
        let mail_name = hay[ne..].starts_with(" <")
            || (line_end && mail_header_block(b, label_start, ne))
            || (matches!(b.get(ne), Some(b';' | b','))
                && b[label_start..colon]
                    .trim_ascii_end()
                    .rsplit(|c| !c.is_ascii_alphabetic())
                    .next()
                    .is_some_and(|l| {
                        l.eq_ignore_ascii_case(b"cc") || l.eq_ignore_ascii_case(b"bcc")
                    }));
        if kind == EnLabel::Mail && !mail_name {
            return;
        }
        let Some(f) = self.evaluate(hay, p, label_start, ne, groups) else {
            return;
        };
        let mut at = f.end;
        out.push(f);
        if kind == EnLabel::One {
            return;
        }
        let Some(d) = self.detectors.get(p.detector) else {
            return;
        };
        for _ in 0..MAX_LISTED_NAMES {
            if !(b.get(at) == Some(&b',') || (kind == EnLabel::Mail && b.get(at) == Some(&b';'))) {
                break;
            }
            at += 1;
            while b.get(at) == Some(&b' ') {
                at += 1;
            }
            let rest = hay.get(at..).unwrap_or_default();
            let rest = rest.strip_prefix("and ").unwrap_or(rest);
            let is = hay.len() - rest.len();
            let Some(ie) = en_name_end(b, is) else {
                break;
            };
            if !person_en_ok(&hay[is..ie]) {
                break;
            }
            match self.finish(d, None, is, ie, p.base, Around::default()) {
                Some(f) => {
                    at = f.end;
                    out.push(f);
                }
                None => break,
            }
        }
    }

    /// A Korean display name before an address in angle brackets (`From: 진서율 <seoyul.jin@…>`,
    /// `보낸사람 명세린 <…>`): found from the e-mail scanner, checked as a name after a label.
    pub(super) fn display_name(
        &self,
        hay: &str,
        open: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let Some(p) = self
            .scanners
            .iter()
            .find(|q| q.check == Check::PersonKoColon)
        else {
            return;
        };
        let Some(before) = hay.get(..open).and_then(|t| t.strip_suffix(' ')) else {
            return;
        };
        let start = before
            .char_indices()
            .rev()
            .take(5)
            .take_while(|&(_, c)| is_hangul_syllable(c))
            .last()
            .map_or(before.len(), |(i, _)| i);
        let n = (before.len() - start) / 3;
        let starts_word = before[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || matches!(c, ':' | '"' | '\'' | ','));
        if (2..=4).contains(&n) && starts_word {
            if let Some(f) = self.evaluate(hay, p, start, before.len(), groups) {
                out.push(f);
            }
        }
    }

    /// HTTP basic auth as a Python tuple that the `secret.user_password` regex (`auth=(`, triggered by `h=(`) does not
    /// reach: `auth = ('user', 'password')` with spaces around `=`, and `HTTPBasicAuth('user', 'password')`,
    /// `HTTPDigestAuth(…)`, `aiohttp.BasicAuth(…)`. Found from a `memchr` pass for `(`, looking back for `Auth` or
    /// `auth =` (trigger literals for them would loosen the shift-or filter's buckets, and `memmem` for `auth` costs
    /// ~1 instruction a byte on English: README, "Trigger choice"), each candidate read at most ~200 bytes ahead. The
    /// candidate runs from the keyword to the closing quote of the second string, which [`Engine::evaluate`] (the
    /// `Credential` check) reports as the secret.
    fn run_auth_tuple(&self, p: &PatInfo, hay: &str, groups: &mut Context, out: &mut Vec<Finding>) {
        let b = hay.as_bytes();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let mut found: Vec<(usize, usize)> = Vec::new();
        let mut opens = groups.anchors.take(Anchor::Open, b);
        for open in opens.by_ref() {
            if groups.out_of_time() {
                return;
            }
            let before = &b[..open];
            let s = if before.ends_with(b"Auth") {
                // `…Auth(`: the identifier it ends.
                let mut s = open - 4;
                while s > 0 && open - s < 36 && word(b[s - 1]) {
                    s -= 1;
                }
                s
            } else {
                // `auth = (`: a keyword of its own (`self.auth`, not `oauth`), and a space somewhere (`auth=(` is
                // the regex's).
                let eq = before.len() - before.iter().rev().take_while(|&&c| c == b' ').count();
                if eq == 0 || b[eq - 1] != b'=' || eq == open && before.ends_with(b"auth=") {
                    continue;
                }
                let kw = eq - 1 - b[..eq - 1].iter().rev().take_while(|&&c| c == b' ').count();
                match kw.checked_sub(4) {
                    Some(s) if &b[s..kw] == b"auth" && !(s > 0 && word(b[s - 1])) => s,
                    _ => continue,
                }
            };
            found.extend(quoted_pair(b, open + 1).map(|e| (s, e)));
        }
        groups.anchors.give_back(Anchor::Open, opens);
        found.sort_unstable();
        let mut last_end = 0;
        for (s, e) in found {
            if s >= last_end {
                last_end = e;
                if let Some(f) = self.evaluate(hay, p, s, e, groups) {
                    out.push(f);
                }
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
        let rest = &hay[suffix_start..];
        // Most honorific hits (`님`, `씨`, `고객`) begin no closing or title: one syllable test skips the three list
        // scans below.
        if rest
            .chars()
            .next()
            .is_some_and(|c| SUFFIX_WORD_FIRST.contains(c))
        {
            // A letter closing (`홍길동 드림`) must end its line: not `올림픽`, `김치 드림 이벤트`.
            if let Some(c) = builtin::PERSON_CLOSINGS
                .iter()
                .find(|c| rest.starts_with(**c))
            {
                let next = b.get(suffix_start + c.len()).copied();
                if !next.is_none_or(|x| x.is_ascii_punctuation() || matches!(x, b'\n' | b'\r')) {
                    return;
                }
            }
            // A title that is also a word or starts a compound (`이사회`, `기자단`) must end its word.
            if let Some(t) = builtin::PERSON_TITLES
                .iter()
                .find(|t| rest.starts_with(**t))
            {
                if !builtin::title_ends_word(hay, suffix_start + t.len()) {
                    return;
                }
            }
            // `소령 한동훈`: a title may also lead the name (the name before it, if any, is read below as well).
            if let Some(t) = builtin::PERSON_TITLES_BEFORE
                .iter()
                .find(|t| rest.starts_with(**t))
            {
                self.person_after_title(p, hay, suffix_start + t.len(), groups, out);
            }
        }
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
        // No name without a surname first (`Check::PersonKoAfter` asks the same): most words before an honorific
        // trigger (`다음 고객`, `오늘 고객`) end here, without the evaluation's setup.
        if !(2..=4).contains(&count) || !surname_first(&hay[ns..ne]) {
            return;
        }
        if let Some(f) = self.evaluate(hay, p, ns, ne, groups) {
            out.push(f);
        }
    }
}

impl Engine {
    /// A full name after a title of [`builtin::PERSON_TITLES_BEFORE`] ending at `te` and one space (`담당: 소령 한동훈`,
    /// `소령 한동훈이 보고했다`, `대표이사 김철수,`). Stricter than a name before a title, because a title leads
    /// nouns as often as names (`소령 진급 심사`, `교수 회의`, `변호사 선임`, `교수 연구실`): the name is a full one
    /// (three syllables, or four after a two-syllable surname: a two-syllable run is far more often a noun), it is the
    /// whole word or takes a particle or copula ([`NAME_ENDINGS`]), and a bare name must not run on into another
    /// Hangul word (`교수 연구실 방문`; this loses `변호사 김철수 사무소`, kept for precision).
    fn person_after_title(
        &self,
        p: &PatInfo,
        hay: &str,
        te: usize,
        groups: &mut Context,
        out: &mut Vec<Finding>,
    ) {
        let b = hay.as_bytes();
        if b.get(te) != Some(&b' ') {
            return;
        }
        let ns = te + 1;
        // A name of four syllables and an ending of up to three (`입니다`): a longer run is no name and its ending.
        let re = hangul_run_end(hay, ns, 8);
        let Some(run) = hay.get(ns..re) else {
            return;
        };
        // Every char of the run is a 3-byte Hangul syllable.
        let n = run.len() / 3;
        for k in [4, 3] {
            if k > n || (k == 4 && !two_syllable_surname_first(run)) {
                continue;
            }
            let (name, rest) = run.split_at(k * 3);
            // `남궁민이`: a two-syllable surname, one given syllable and a particle, not a four-syllable name.
            if k == 4
                && name
                    .chars()
                    .next_back()
                    .is_some_and(|c| PARTICLES.contains(&c))
            {
                continue;
            }
            if !NAME_ENDINGS.contains(&rest) {
                continue;
            }
            if rest.is_empty()
                && b.get(re) == Some(&b' ')
                && hay[re + 1..].chars().next().is_some_and(is_hangul_syllable)
            {
                return;
            }
            if AFTER_TITLE_NOT_NAMES.contains(&name)
                || builtin::PERSON_SUFFIXES.iter().any(|x| name.starts_with(x))
            {
                return;
            }
            if let Some(f) = self.evaluate(hay, p, ns, ns + name.len(), groups) {
                out.push(f);
            }
            return;
        }
    }
}

/// What may follow a name after a title ([`Engine::person_after_title`]): nothing, a particle, or a copula.
const NAME_ENDINGS: &[&str] = &[
    "",
    "이",
    "가",
    "은",
    "는",
    "을",
    "를",
    "의",
    "과",
    "와",
    "도",
    "만",
    "께",
    "께서",
    "에게",
    "이다",
    "이며",
    "이고",
    "입니다",
    "으로",
    "로",
    "님",
    "씨",
];

/// Three-syllable nouns of name syllables that follow a title (`교수 연구실`, `기자 간담회가`, `대표 이미지를`,
/// `이사 선임안을`): not names there.
const AFTER_TITLE_NOT_NAMES: &[&str] = &[
    "간담회",
    "설명회",
    "위원회",
    "전시회",
    "연구실",
    "연구소",
    "사무실",
    "사무소",
    "이미지",
    "선임안",
    "임용식",
    "취임식",
    "이임식",
    "선거인",
    "후보자",
    "지원서",
    "소개서",
    "추천서",
];

/// Name columns read per header line.
const MAX_TABLE_COLUMNS: usize = 8;
/// Header cells queued per segment (a document has a few tables; text made of header cells gets no more): each costs
/// at most two bounded searches for its line's ends before its rows are read (or it turns out to be one of them).
pub(super) const MAX_TABLES: usize = 1024;
/// Names read from one list after a form label (`참석자: A, B, C`).
const MAX_LISTED_NAMES: usize = 32;
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

/// The header cell over the cell `s..e` of a comma- or tab-separated table, if `s..e` fills its cell (a double quote
/// around it allowed) and its line is a row under a header: the lines from the header down have one cell count, and
/// a comma-separated header reads as one ([`csv_header`]). `cache` keeps the block last found (header start, the
/// last row checked, separator, cells), so the rows above a cell are walked once per table, not once per cell.
pub(super) fn column_header(
    b: &[u8],
    s: usize,
    e: usize,
    cache: &mut Option<(usize, usize, u8, usize)>,
) -> Option<(usize, usize)> {
    if let Some(cell) = markdown_cell(b, s, e) {
        return markdown_header(b, cell, cache);
    }
    let before = match s.checked_sub(1).map(|i| b[i]) {
        Some(b'"') => s.checked_sub(2).map_or(b'\n', |i| b[i]),
        Some(c) => c,
        None => b'\n',
    };
    let after = match b.get(e) {
        Some(b'"') => b.get(e + 1).copied().unwrap_or(b'\n'),
        Some(&c) => c,
        None => b'\n',
    };
    let sep = match (before, after) {
        (b',' | b'\t', _) => before,
        (b'\n', b',' | b'\t') => after,
        _ => return aligned_header(b, s, e, cache),
    };
    if !matches!(after, b'\n' | b'\r') && after != sep {
        return None;
    }
    let cells = |l: &[u8]| {
        if sep == b',' {
            CsvCells::new(l).count()
        } else {
            memchr::memchr_iter(b'\t', l).count() + 1
        }
    };
    let (ls, le) = line_at(b, s)?;
    let n = cells(&b[ls..le]);
    if n < 2 {
        return None;
    }
    // Up to the block's first line: a line with another cell count ends it, the cached block's rows are known.
    let hs = block_start(b, ls, (sep, n), cache, |l| cells(l) == n)?;
    let (_, he) = line_at(b, hs)?;
    let header = &b[hs..he];
    if sep == b',' && csv_header(header) != Some(n) {
        return None;
    }
    let (cs, ce) = if sep == b',' {
        let k = CsvCells::new(&b[ls..le])
            .position(|(_, ce)| ls + ce >= s)
            .unwrap_or(0);
        CsvCells::new(header).nth(k)?
    } else {
        nth_cell(header, b'\t', memchr::memchr_iter(b'\t', &b[ls..s]).count())?
    };
    Some((hs + cs, hs + ce))
}

/// Blanks allowed between a Markdown cell's `|` and its content.
const MARKDOWN_CELL_PAD: usize = 4;

/// Whether `s..e` fills a cell of a Markdown table row (`| 김민수 | 010-… |`: a `|` on each side, past at most
/// [`MARKDOWN_CELL_PAD`] blanks; a table without outer pipes, `John | 212-736-4821`, has the line's start or end on
/// one side): `Some` with its line (`line_at`) and the number of `|` on it before the cell (its column, counting a
/// leading `|` as the first).
fn markdown_cell(b: &[u8], s: usize, e: usize) -> Option<(usize, usize, usize)> {
    let pad = |c: &u8| matches!(c, b' ' | b'\t');
    let before = b[..s]
        .iter()
        .rev()
        .take(MARKDOWN_CELL_PAD + 1)
        .position(|c| !pad(c))
        .or_else(|| (s <= MARKDOWN_CELL_PAD).then_some(s))?;
    let after = b[e..]
        .iter()
        .take(MARKDOWN_CELL_PAD + 1)
        .position(|c| !pad(c))
        .or_else(|| (b.len() - e <= MARKDOWN_CELL_PAD).then_some(b.len() - e))?;
    let left = (s - before).checked_sub(1).map(|i| b[i]);
    let right = b.get(e + after).copied();
    let (left_pipe, right_pipe) = (left == Some(b'|'), right == Some(b'|'));
    let left_ok = left_pipe || matches!(left, None | Some(b'\n'));
    let right_ok = right_pipe || matches!(right, None | Some(b'\n' | b'\r'));
    if !(left_ok && right_ok && (left_pipe || right_pipe)) {
        return None;
    }
    let (ls, le) = line_at(b, s)?;
    Some((ls, le, memchr::memchr_iter(b'|', &b[ls..s]).count()))
}

/// The header cell over a Markdown table cell on the line `ls..le` that has `pipes` `|` before it ([`markdown_cell`]):
/// the block's rows (lines with the same number of `|`) are walked up to the first, which must be followed by a
/// delimiter row (`|---|---|`) and is not the cell's own line or that delimiter row; its cell after the same number
/// of `|`, trimmed. Walked once per table like [`column_header`]'s (`cache` with separator `'|'`).
fn markdown_header(
    b: &[u8],
    (ls, le, pipes): (usize, usize, usize),
    cache: &mut Option<(usize, usize, u8, usize)>,
) -> Option<(usize, usize)> {
    let count = |l: &[u8]| memchr::memchr_iter(b'|', l).count();
    let n = count(&b[ls..le]);
    let hs = block_start(b, ls, (b'|', n), cache, |l| count(l) == n)?;
    let (_, he) = line_at(b, hs)?;
    let (ds, _) = next_line(b, he)?;
    if ds == ls || !header_row(b, hs) {
        return None;
    }
    let header = &b[hs..he];
    let (cs, ce) = nth_cell(header, b'|', pipes)?;
    let (cs, ce) = trim_cell(header, cs, ce);
    (cs < ce).then_some((hs + cs, hs + ce))
}

/// The first line of the table block holding the line that starts at `ls`: the lines above are walked while `same`
/// holds for them, up to the cached block of the same kind (`kind`: separator and cell count) once the walk reaches
/// rows it already covered, so a table is walked once however many cells ask. `None` when `ls` is the block's first
/// line (a header has no header). `cache`: `(first line, last row walked, separator, cell count)`.
fn block_start(
    b: &[u8],
    ls: usize,
    kind: (u8, usize),
    cache: &mut Option<(usize, usize, u8, usize)>,
    same: impl Fn(&[u8]) -> bool,
) -> Option<usize> {
    let known = cache.filter(|&(h, _, sp, c)| (sp, c) == kind && h < ls);
    let mut hs = ls;
    match known {
        Some((h, last, ..)) if ls <= last => hs = h,
        _ => {
            while hs > 0 {
                if let Some((h, last, ..)) = known {
                    if hs <= last {
                        hs = h;
                        break;
                    }
                }
                let Some((ps, pe)) = line_at(b, hs - 1) else {
                    break;
                };
                if !same(&b[ps..pe]) {
                    break;
                }
                hs = ps;
            }
        }
    }
    if hs == ls {
        return None;
    }
    if known.is_none_or(|(_, last, ..)| ls > last) {
        *cache = Some((hs, ls, kind.0, kind.1));
    }
    Some(hs)
}

/// The header cell over the cell `s..e` of a table whose columns are aligned with spaces (a report or a catalogue
/// pasted as text: `모델명        품번              가격` over `HX-100      010-2024-0001     49,900원`): the cell has a gap of
/// two spaces (or the line's end) on both sides, the lines from the header down each hold such a gap, and the header is
/// the first of them (a blank line or a line of prose ends the block above). The header cell is the one (cells are
/// split at two spaces) whose columns overlap the cell's most, counting a character of three or more bytes (Hangul,
/// CJK) as two columns as a monospaced editor shows it. Walked once per block like [`column_header`]'s tables
/// (`cache` with separator `' '`).
fn aligned_header(
    b: &[u8],
    s: usize,
    e: usize,
    cache: &mut Option<(usize, usize, u8, usize)>,
) -> Option<(usize, usize)> {
    let gap_before = s == 0 || b[s - 1] == b'\n' || (s >= 2 && &b[s - 2..s] == b"  ");
    let gap_after =
        matches!(b.get(e), None | Some(b'\n' | b'\r')) || b.get(e..e + 2) == Some(b"  ");
    if !(gap_before && gap_after) {
        return None;
    }
    // A gap after the line's first character: indentation alone (code, YAML) makes no columns.
    let aligned = |l: &[u8]| {
        l.iter()
            .position(|&c| c != b' ' && c != b'\t')
            .is_some_and(|k| memchr::memmem::find(&l[k..], b"  ").is_some())
    };
    let (ls, le) = line_at(b, s)?;
    if !aligned(&b[ls..le]) {
        return None;
    }
    let hs = block_start(b, ls, (b' ', 0), cache, aligned)?;
    let (_, he) = line_at(b, hs)?;
    let width = |c: u8| match c {
        0x80..=0xBF => 0,
        0xE0.. => 2,
        _ => 1,
    };
    let cs: usize = b[ls..s].iter().map(|&c| width(c)).sum();
    let ce: usize = cs + b[s..e].iter().map(|&c| width(c)).sum::<usize>();
    let header = &b[hs..he];
    let (mut k, mut col) = (0, 0);
    let mut best: Option<(usize, usize, usize)> = None;
    while k < header.len() {
        if matches!(header[k], b' ' | b'\t') {
            k += 1;
            col += 1;
            continue;
        }
        let (start, start_col) = (k, col);
        while k < header.len()
            && header[k] != b'\t'
            && !(header[k] == b' ' && header.get(k + 1).is_none_or(|&c| c == b' '))
        {
            col += width(header[k]);
            k += 1;
        }
        let overlap = col.min(ce).saturating_sub(start_col.max(cs));
        if overlap > best.map_or(0, |x| x.0) {
            best = Some((overlap, start, k));
        }
    }
    best.map(|(_, cs, ce)| (hs + cs, hs + ce))
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
    /// The names in a table column whose header cell is a name label (`| 번호 | 성명 | 연락처 |`, the same with tabs
    /// or commas, or an English `Name` header): every cell of that column in the rows below that is a whole name is a
    /// finding. Under a Korean label a Korean name (surname, given-name syllables, stop-list: [`person_ko_ok`]) is one
    /// on its own; every other name is one only if such names are at least as many as the column's other filled cells
    /// (placeholders such as `N/A` aside): under an English label (`Name`, `Full Name`, `customer_name`:
    /// [`EN_NAME_QUALIFIERS`]) a Korean or an English name ([`person_en_ok`], or in capitals: [`person_en_caps_ok`]),
    /// under a Korean one an English name, under a name part's label (`First Name`, `last_name`, `Surname`:
    /// [`EN_PART_QUALIFIERS`]) also a single name word ([`en_part_word`]), and such a column is read only when its
    /// header line has another name part's label (`First Name` with `Last Name`): a `Name` column of products, hosts or
    /// config keys, a `First Name` column of totals, reports nothing.
    ///
    /// The label must fill its cell (spaces and a pair of double quotes around it allowed); a Markdown header must
    /// start with `|` or be followed by a delimiter row; a comma-separated header must read as one ([`csv_header`]).
    /// Rows end at the first line without the separator (a blank line, prose), for commas at the first line with
    /// another cell count (quotes respected), or longer than [`MAX_TABLE_LINE`], or at the deadline. A header line
    /// inside rows another header already read is one of those rows, not a new table, so no line is read twice per
    /// column (and at most [`MAX_TABLE_COLUMNS`] columns are read per header line).
    ///
    /// A label that is its line's first cell with one more cell after it is also a key/value row of a vertical table
    /// (`성명,김민수`, `Full Name\tMary O'Brien`, `| Name | John Smith |`): its value is read when the label is found
    /// ([`Engine::key_value_name`]), not here.
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
        let Some(LabelCell {
            line: (line_start, line_end),
            label,
            rest_end,
            sep,
            ..
        }) = label_cell(b, s, e)
        else {
            return;
        };
        let rest = &b[line_start..rest_end];
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
        if label == Label::Part && part_labels(&b[line_start..line_end], sep) < 2 {
            return;
        }
        // A bare `name` beside product columns (`barcode,name,price`) names the products.
        if b[s].is_ascii()
            && en_qualifier_start(&b[line_start..s]).0 == s - line_start
            && product_columns(&b[line_start..line_end], sep)
        {
            return;
        }
        let mut cells = 0;
        let col = if sep == b',' {
            // A quote left open before the label puts it inside another cell (`"Acme, Name"`).
            if rest.iter().filter(|&&c| c == b'"').count() % 2 == 1 {
                return;
            }
            let Some(n) = csv_header(&b[line_start..line_end]) else {
                return;
            };
            cells = n;
            CsvCells::new(rest).count() - 1
        } else {
            rest.iter().filter(|&&c| c == sep).count()
        };
        let mut pos = line_end;
        if sep == b'|' {
            let next = next_line(b, pos);
            let delimited = next.is_some_and(|(ns, ne)| delimiter_row(&b[ns..ne]));
            // Without a delimiter row the header opens with `|`, or (a Korean label) has at least three cells
            // (`관계 | 성명 | 동거` over `배우자 | 이서준 | Y`).
            let bare_korean = label == Label::Korean
                && memchr::memchr_iter(b'|', &b[line_start..line_end]).count() >= 2;
            if !delimited && !bare_korean && rest.iter().find(|&&c| c != b' ') != Some(&b'|') {
                return;
            }
            if let (true, Some((_, ne))) = (delimited, next) {
                pos = ne;
            }
        }
        groups.table_cells.clear();
        let mut others = 0usize;
        while !groups.out_of_time() {
            let Some((rs, re)) = next_line(b, pos) else {
                break;
            };
            let row = &b[rs..re];
            let cell = if sep == b',' {
                match csv_cell(row, col, cells) {
                    Some(c) => Some(c),
                    None => break,
                }
            } else {
                if !row.contains(&sep) {
                    break;
                }
                nth_cell(row, sep, col)
            };
            pos = re;
            let Some((cs, ce)) = cell else {
                continue;
            };
            let (ns, ne) = trim_cell(b, rs + cs, rs + ce);
            let Some(name) = hay.get(ns..ne) else {
                continue;
            };
            let ko = ko_name(name);
            if ko && label == Label::Korean {
                if let Some(f) = self.finish(d, None, ns, ne, p.base, Around::default()) {
                    out.push(f);
                }
            } else if ko || en_cell_name(name, label) {
                groups.table_cells.push((ns, ne));
            } else if !placeholder(name) {
                others += 1;
            }
        }
        if groups.table_cells.len() >= others {
            for &(ns, ne) in &groups.table_cells {
                if let Some(f) = self.finish(d, None, ns, ne, p.base, Around::default()) {
                    out.push(f);
                }
            }
        }
        let (_, rows_until, _) = &mut groups.table_cursor;
        *rows_until = (*rows_until).max(pos);
    }

    /// A key/value row of a vertical table: the label (the match `s..e`) is the first cell of its line, the value the
    /// one cell after it (`성명,김민수`, `Name\tJohn Smith`, `| Full Name | Mary O'Brien |`). The value is a
    /// finding when it is a Korean name ([`person_ko_ok`]) or an English one ([`person_en_ok`]; after a comma only
    /// with no space: `Name, Favorite Color` is prose or a header), for a name part's label (`First Name,John`) also a
    /// single name word when the line before or after is another part's label (`Last Name,Smith`). Capitals are not
    /// enough here (no column to vote): `NAME,NEW YORK`. When the next line's first cell is a name, the line is a
    /// two-column table's header (`Name,Favorite Color` over `John Smith,Blue`) and its value is none. Called by
    /// [`Engine::evaluate`] for each label the union finds (so for every row, not only the [`MAX_TABLES`] queued):
    /// reads the line and its two neighbours (each at most [`MAX_TABLE_LINE`] bytes), and a line is one key/value row
    /// at most, so each line is read at most three times.
    pub(super) fn key_value_name(
        &self,
        p: &PatInfo,
        hay: &str,
        s: usize,
        e: usize,
    ) -> Option<Finding> {
        let b = hay.as_bytes();
        // Most labels are not a line's first cell (a header's): say so from a few bytes back, not from the line.
        if !opens_line(b, s) {
            return None;
        }
        let d = self.detectors.get(p.detector)?;
        let cell = label_cell(b, s, e)?;
        let (sep, label) = (cell.sep, cell.label);
        if !cell.first || b[e - 1] != sep {
            return None;
        }
        let (line_start, line_end) = cell.line;
        let value_start = e;
        let tail = &b[value_start..line_end];
        let value_end = match sep {
            b',' => {
                let mut cells = CsvCells::new(tail);
                let first = cells.next().map_or(0, |(_, e)| e);
                if cells.next().is_some() {
                    return None;
                }
                first
            }
            _ => match memchr::memchr(sep, tail) {
                None => tail.len(),
                // `| Name | John Smith |`: a closing `|` and nothing after it.
                Some(i) if sep == b'|' && tail[i + 1..].iter().all(|&c| c == b' ') => i,
                Some(_) => return None,
            },
        };
        let (ns, ne) = trim_cell(b, value_start, value_start + value_end);
        let value = hay.get(ns..ne)?;
        let part = label == Label::Part;
        let ko = ko_name(value);
        let en = !ko && (person_en_ok(value) || (part && en_part_word(value)));
        if !(ko || en) || (en && sep == b',' && b.get(value_start) == Some(&b' ')) {
            return None;
        }
        let first_cell_of = |(ls, le): (usize, usize)| {
            let (cs, ce) = first_cell(&b[ls..le], sep);
            hay.get(ls + cs..ls + ce).unwrap_or("")
        };
        if part {
            let prev = line_start
                .checked_sub(1)
                .filter(|&nl| b[nl] == b'\n')
                .and_then(|nl| line_at(b, nl));
            let next = next_line(b, line_end);
            if ![prev, next]
                .into_iter()
                .flatten()
                .any(|l| part_label(first_cell_of(l).as_bytes()))
            {
                return None;
            }
        }
        if next_line(b, line_end).is_some_and(|l| {
            let cell = first_cell_of(l);
            ko_name(cell) || person_en_ok(cell) || (part && en_part_word(cell))
        }) {
            return None;
        }
        self.finish(d, None, ns, ne, p.base, Around::default())
    }
}

/// What a name column's header cell labels.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    /// A Korean label (`성명`, `고객명`).
    Korean,
    /// An English label of a whole name (`Name`, `Full Name`, `customer_name`).
    Full,
    /// An English label of a name's part (`First Name`, `last_name`, `Surname`, `Given Name`, `Family Name`).
    Part,
}

/// A name label found as a table cell ([`Check::PersonTable`]'s match `s..e`): its line, what it labels, where the
/// text before its cell ends (`rest_end`: the line's bytes before it, without the cell's spaces and quote, end with
/// the separator unless it is the first cell), the separator, and whether it is its row's first cell.
struct LabelCell {
    line: (usize, usize),
    label: Label,
    rest_end: usize,
    sep: u8,
    first: bool,
}

/// The label cell of the match `s..e`, if the label fills its cell (a qualifier such as `Full` or `First` aside) and
/// its line is not longer than [`MAX_TABLE_LINE`].
fn label_cell(b: &[u8], s: usize, e: usize) -> Option<LabelCell> {
    let (line_start, line_end) = line_at(b, s)?;
    let before = &b[line_start..s];
    let (head, label) = if b[s].is_ascii() {
        en_qualifier_start(before)
    } else {
        (before.len(), Label::Korean)
    };
    // What precedes the cell: its separator (or nothing: the first cell), after the cell's spaces and quote.
    let rest = trim_end_quoted(&before[..head]);
    let sep = match b[e - 1] {
        c @ (b'|' | b'\t' | b',') => c,
        // The label ends its line: the last cell, after the separator before it.
        _ => match rest.last() {
            Some(&c @ (b'|' | b'\t' | b',')) => c,
            _ => return None,
        },
    };
    if rest.last().is_some_and(|&c| c != sep) {
        return None;
    }
    let first = if sep == b'|' {
        // Only spaces before the row's opening `|` (which `rest` ends with).
        rest.split_last()
            .is_some_and(|(_, r)| r.iter().all(|&c| c == b' '))
    } else {
        rest.is_empty()
    };
    Some(LabelCell {
        line: (line_start, line_end),
        label,
        rest_end: line_start + rest.len(),
        sep,
        first,
    })
}

/// Whether the label at `s` may open its line: before it only a qualifier (`Full`, `First`), spaces, a double quote
/// and a Markdown row's `|`, then the line's start. Reads at most 64 bytes back (more spaces than that: no).
fn opens_line(b: &[u8], s: usize) -> bool {
    let lo = s.saturating_sub(64);
    let before = &b[lo..s];
    let head = if b[s].is_ascii() {
        en_qualifier_start(before).0
    } else {
        before.len()
    };
    let rest = trim_end_quoted(&before[..head]);
    let rest = match rest.split_last() {
        Some((b'|', r)) => r,
        _ => rest,
    };
    match rest.iter().rposition(|&c| c != b' ') {
        None => lo == 0,
        Some(i) => rest[i] == b'\n',
    }
}

/// Qualifiers of an English name column's header (`Full Name`, `customer_name`, `PatientName`), compared
/// case-insensitively.
const EN_NAME_QUALIFIERS: &[&[u8]] = &[
    b"full",
    b"customer",
    b"employee",
    b"patient",
    b"contact",
    b"client",
    b"member",
    b"student",
    b"guest",
];

/// Qualifiers of a name part's header (`First Name`, `last_name`, `Surname`, `GivenName`, `Forename`), compared
/// case-insensitively: its column may hold single words.
const EN_PART_QUALIFIERS: &[&[u8]] = &[
    b"first", b"last", b"given", b"family", b"middle", b"sur", b"fore",
];

/// Words before `Name` that make it the name of a thing, not a person (`Project Name:`, `File Name:`, `Host Name:`).
const EN_THING_QUALIFIERS: &[&[u8]] = &[
    b"app",
    b"application",
    b"branch",
    b"brand",
    b"bucket",
    b"campaign",
    b"category",
    b"channel",
    b"class",
    b"cluster",
    b"column",
    b"company",
    b"container",
    b"course",
    b"database",
    b"dataset",
    b"db",
    b"device",
    b"document",
    b"domain",
    b"event",
    b"feature",
    b"field",
    b"file",
    b"folder",
    b"function",
    b"game",
    b"group",
    b"host",
    b"image",
    b"index",
    b"item",
    b"job",
    b"key",
    b"label",
    b"method",
    b"model",
    b"module",
    b"network",
    b"node",
    b"org",
    b"organization",
    b"package",
    b"page",
    b"pipeline",
    b"plan",
    b"pod",
    b"policy",
    b"product",
    b"project",
    b"queue",
    b"region",
    b"release",
    b"report",
    b"repo",
    b"repository",
    b"resource",
    b"role",
    b"room",
    b"rule",
    b"schema",
    b"server",
    b"service",
    b"sheet",
    b"site",
    b"stack",
    b"stage",
    b"store",
    b"table",
    b"tag",
    b"task",
    b"team",
    b"template",
    b"topic",
    b"variable",
    b"venue",
    b"workspace",
    b"zone",
];

/// Whether the `Name` label at `s` follows a word of [`EN_THING_QUALIFIERS`] (`Project Name: Blue Falcon`), found
/// as [`word_before`] finds a header's qualifier. Reads at most 14 bytes back.
pub(super) fn names_a_thing(b: &[u8], s: usize) -> bool {
    b.get(s..s + 4)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"name"))
        && word_before(&b[..s], 13).is_some_and(|(_, w)| {
            EN_THING_QUALIFIERS
                .iter()
                .any(|q| w.eq_ignore_ascii_case(q))
        })
}

/// Where the cell text of an English name header starts, given its line's bytes before `Name`, and what it labels:
/// at a qualifier word glued to it or separated by one space, `_` or `-` (`Full Name`, `customer_name`,
/// `PatientName`: [`EN_NAME_QUALIFIERS`]; `First Name`, `Surname`: [`EN_PART_QUALIFIERS`]), else at `Name` itself.
/// Reads at most ten bytes back.
fn en_qualifier_start(before: &[u8]) -> (usize, Label) {
    let is = |w: &[u8], list: &[&[u8]]| list.iter().any(|q| w.eq_ignore_ascii_case(q));
    match word_before(before, 9) {
        Some((start, w)) if is(w, EN_NAME_QUALIFIERS) => (start, Label::Full),
        Some((start, w)) if is(w, EN_PART_QUALIFIERS) => (start, Label::Part),
        _ => (before.len(), Label::Full),
    }
}

/// The whole word of ASCII letters (at most `max`) that ends `before`, glued to its end or separated by one ` `, `_`
/// or `-` (`Full Name`, `customer_name`, `PatientName`): its start and its letters. `None` when more than `max`
/// letters run back (the word is not whole).
fn word_before(before: &[u8], max: usize) -> Option<(usize, &[u8])> {
    let mut end = before.len();
    if end > 0 && matches!(before[end - 1], b' ' | b'_' | b'-') {
        end -= 1;
    }
    let lo = end.saturating_sub(max);
    let start = before[lo..end]
        .iter()
        .rposition(|c| !c.is_ascii_alphabetic())
        .map_or(lo, |i| lo + i + 1);
    (start > lo || lo == 0).then_some((start, &before[start..end]))
}

/// Header cells of a product table (compared case-insensitively, `_` as a space): a bare `name` column beside one
/// of them is the products' name, not a person's ([`Engine::table_names`]).
const PRODUCT_COLUMNS: &[&str] = &[
    "barcode",
    "ean",
    "upc",
    "sku",
    "price",
    "unit price",
    "qty",
    "quantity",
    "product",
    "product id",
    "item",
    "item no",
    "category",
    "brand",
    "model",
    "stock",
    "weight",
    "바코드",
    "가격",
    "단가",
    "수량",
    "상품코드",
    "품번",
    "규격",
    "재고",
    "중량",
    "용량",
];

/// Whether a header line (cells separated by `sep`) holds a product column ([`PRODUCT_COLUMNS`]).
fn product_columns(line: &[u8], sep: u8) -> bool {
    let is_product = |cell: &[u8]| PRODUCT_COLUMNS.iter().any(|p| header_is(cell, p));
    if sep == b',' {
        CsvCells::new(line).any(|(cs, ce)| is_product(&line[cs..ce]))
    } else {
        line.split(|&c| c == sep).any(is_product)
    }
}

/// Whether a cell's text is a name part's label (`First Name`, `last_name`, `Surname`).
fn part_label(cell: &[u8]) -> bool {
    let Some(q) = cell
        .len()
        .checked_sub(4)
        .filter(|&k| cell[k..].eq_ignore_ascii_case(b"name"))
        .map(|k| &cell[..k])
    else {
        return false;
    };
    let q = match q.split_last() {
        Some((b' ' | b'_' | b'-', q)) => q,
        _ => q,
    };
    EN_PART_QUALIFIERS.iter().any(|x| q.eq_ignore_ascii_case(x))
}

/// How many cells of a header line (`sep`-separated, quotes respected for commas) are name parts' labels.
fn part_labels(line: &[u8], sep: u8) -> usize {
    let is_part = |(s, e): (usize, usize)| {
        let (s, e) = trim_cell(line, s, e);
        part_label(&line[s..e])
    };
    if sep == b',' {
        CsvCells::new(line).filter(|&c| is_part(c)).count()
    } else {
        let mut start = 0;
        let mut n = 0;
        for i in memchr::memchr_iter(sep, line).chain(std::iter::once(line.len())) {
            n += usize::from(is_part((start, i)));
            start = i + 1;
        }
        n
    }
}

/// The first cell of a `sep`-separated line (after the leading `|` of a Markdown row), trimmed ([`trim_cell`]):
/// empty when a `|` row does not start with `|`.
fn first_cell(line: &[u8], sep: u8) -> (usize, usize) {
    let from = if sep == b'|' {
        match line.iter().position(|&c| c != b' ') {
            Some(i) if line[i] == b'|' => i + 1,
            _ => return (0, 0),
        }
    } else {
        0
    };
    let body = &line[from..];
    let end = if sep == b',' {
        CsvCells::new(body).next().map_or(0, |(_, e)| e)
    } else {
        memchr::memchr(sep, body).unwrap_or(body.len())
    };
    let (s, e) = trim_cell(line, from, from + end);
    (s, e)
}

/// A Korean name on its own: a surname first, then [`person_ko_ok`].
fn ko_name(name: &str) -> bool {
    surname_first(name) && person_ko_ok(name)
}

/// Whether `s` starts with a surname, of one syllable or of two (`남궁`).
fn surname_first(s: &str) -> bool {
    s.chars().next().is_some_and(|c| SURNAMES.contains(c)) || two_syllable_surname_first(s)
}

/// Whether a cell of a name column is an English name the column's vote counts for: [`person_en_ok`],
/// [`person_en_caps_ok`], and under a name part's label a single name word ([`en_part_word`]).
fn en_cell_name(name: &str, label: Label) -> bool {
    person_en_ok(name) || person_en_caps_ok(name) || (label == Label::Part && en_part_word(name))
}

/// `b` without the spaces, one double quote and the spaces again at its end (what opens a cell before its text).
fn trim_end_quoted(b: &[u8]) -> &[u8] {
    let trim = |b: &[u8]| -> usize { b.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1) };
    let k = trim(b);
    if k > 0 && b[k - 1] == b'"' {
        &b[..trim(&b[..k - 1])]
    } else {
        &b[..k]
    }
}

/// A cell's text: `start..end` without the spaces around it and a pair of double quotes around it (then spaces
/// again).
fn trim_cell(b: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    let spaces = |start: &mut usize, end: &mut usize| {
        while *start < *end && b[*start] == b' ' {
            *start += 1;
        }
        while *end > *start && b[*end - 1] == b' ' {
            *end -= 1;
        }
    };
    spaces(&mut start, &mut end);
    if end - start >= 2 && b[start] == b'"' && b[end - 1] == b'"' {
        start += 1;
        end -= 1;
        spaces(&mut start, &mut end);
    }
    (start, end)
}

/// The cell after the `col`-th `sep` of a `|` or tab row (to the next `sep` or the line's end), if the row has one.
fn nth_cell(row: &[u8], sep: u8, col: usize) -> Option<(usize, usize)> {
    let mut cell_start = 0;
    let mut k = 0;
    for i in memchr::memchr_iter(sep, row) {
        if k == col {
            return Some((cell_start, i));
        }
        k += 1;
        cell_start = i + 1;
    }
    (k == col).then_some((cell_start, row.len()))
}

/// The cells of a comma-separated line, as byte ranges: a comma inside double quotes (`"Seoul, Korea"`) separates
/// nothing. A quote left open runs to the line's end.
struct CsvCells<'a> {
    line: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> CsvCells<'a> {
    fn new(line: &'a [u8]) -> Self {
        CsvCells {
            line,
            pos: 0,
            done: false,
        }
    }
}

impl Iterator for CsvCells<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        if self.done {
            return None;
        }
        let start = self.pos;
        let mut quoted = false;
        for (i, &c) in self.line.iter().enumerate().skip(start) {
            match c {
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    self.pos = i + 1;
                    return Some((start, i));
                }
                _ => {}
            }
        }
        self.done = true;
        Some((start, self.line.len()))
    }
}

/// The `col`-th cell of a comma-separated row, if the row has exactly `cells` cells (a CSV export is rectangular;
/// a line with another count ends the table).
fn csv_cell(row: &[u8], col: usize, cells: usize) -> Option<(usize, usize)> {
    let mut found = None;
    let mut n = 0;
    for (k, cell) in CsvCells::new(row).enumerate() {
        if k == col {
            found = Some(cell);
        }
        n += 1;
        if n > cells {
            return None;
        }
    }
    (n == cells).then_some(found).flatten()
}

/// Longest cell of a comma-separated header line, in bytes, and most words in one.
const CSV_HEADER_CELL: usize = 64;
const CSV_HEADER_WORDS: usize = 4;

/// A comma-separated header line's cell count, if the line reads as a header and not as a sentence with commas: at
/// least two cells, none longer than [`CSV_HEADER_CELL`] bytes or [`CSV_HEADER_WORDS`] words, and the line does not
/// end like a sentence (`.`, `?`, `!`, `…`, or the endings `다` and `요`: `성명, 주소, 연락처를 적어 주세요`).
fn csv_header(line: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?.trim_end_matches([' ', '"']);
    if text.ends_with(['.', '?', '!', '…', '다', '요']) {
        return None;
    }
    let mut n = 0;
    for (cs, ce) in CsvCells::new(line) {
        let (cs, ce) = trim_cell(line, cs, ce);
        let cell = &line[cs..ce];
        if cell.len() > CSV_HEADER_CELL
            || cell.split(|&c| c == b' ').filter(|w| !w.is_empty()).count() > CSV_HEADER_WORDS
        {
            return None;
        }
        n += 1;
    }
    (n >= 2).then_some(n)
}

/// Cells that say a value is missing: not counted against a name column.
pub(super) fn placeholder(cell: &str) -> bool {
    const PLACEHOLDERS: &[&str] = &[
        "",
        "-",
        "--",
        "—",
        "–",
        "?",
        "x",
        "n/a",
        "na",
        "none",
        "null",
        "nil",
        "unknown",
        "tbd",
        "tba",
        "미정",
        "없음",
        "미기재",
        "비공개",
        "해당없음",
    ];
    PLACEHOLDERS.iter().any(|p| cell.eq_ignore_ascii_case(p))
}

/// Words that make a capitalised two- or three-word cell something other than a person's name: company forms,
/// products, places, config and form words, placeholders (`Acme Corp`, `Standing Desk`, `Base Url`, `Total Amount`,
/// `Not Available`), and the words of name headers (`FULL NAME`, `First`, `Surname`: a header repeated in a column).
/// Sorted (binary search; compared case-insensitively for names in capitals and single words). Not exhaustive: a
/// `Name` column of other capitalised word pairs can still read as names, which is why such a column must be mostly
/// names to report any.
const EN_NOT_NAME_WORDS: &[&str] = &[
    "Account",
    "Address",
    "Admin",
    "Administrator",
    "Agency",
    "Agenda",
    "Air",
    "Alert",
    "All",
    "Amount",
    "Analysis",
    "Annual",
    "Anonymous",
    "Api",
    "Applicable",
    "Application",
    "Assistant",
    "Autumn",
    "Available",
    "Average",
    "Backup",
    "Bank",
    "Base",
    "Basic",
    "Blank",
    "Board",
    "Box",
    "Branch",
    "Bucket",
    "Budget",
    "Build",
    "Bureau",
    "Business",
    "Cable",
    "Cache",
    "Campaign",
    "Category",
    "Center",
    "Centre",
    "Certificate",
    "Chair",
    "Charger",
    "Chief",
    "City",
    "Client",
    "Cloud",
    "Club",
    "Cluster",
    "Co",
    "Code",
    "College",
    "Column",
    "Commander",
    "Commit",
    "Committee",
    "Company",
    "Config",
    "Container",
    "Content",
    "Controller",
    "Coordinator",
    "Corp",
    "Corporation",
    "Council",
    "Counsel",
    "Count",
    "County",
    "Cover",
    "Customer",
    "Daily",
    "Dashboard",
    "Data",
    "Database",
    "Date",
    "Debug",
    "Default",
    "Deleted",
    "Demo",
    "Department",
    "Deployment",
    "Dept",
    "Deputy",
    "Description",
    "Desk",
    "Development",
    "Device",
    "Director",
    "Directory",
    "Disable",
    "Disabled",
    "Division",
    "Docker",
    "Document",
    "Duty",
    "Edition",
    "Email",
    "Empty",
    "Enable",
    "Enabled",
    "End",
    "Endpoint",
    "Enterprise",
    "Error",
    "Example",
    "Executive",
    "False",
    "Family",
    "Feature",
    "File",
    "Firewall",
    "First",
    "Flag",
    "Folder",
    "Foreign",
    "Foundation",
    "Framework",
    "Free",
    "Full",
    "Function",
    "Gateway",
    "Given",
    "Grand",
    "Group",
    "Guest",
    "Handler",
    "Holdings",
    "Hospital",
    "Host",
    "Id",
    "Inc",
    "Index",
    "Initiative",
    "Instance",
    "Institute",
    "Interval",
    "Invoice",
    "Javascript",
    "Keyboard",
    "Kit",
    "Kubernetes",
    "Lab",
    "Labs",
    "Lamp",
    "Laptop",
    "Last",
    "Launch",
    "Lead",
    "Leave",
    "Level",
    "Library",
    "Limit",
    "Limited",
    "Linux",
    "List",
    "Log",
    "Ltd",
    "Manager",
    "Marketing",
    "Max",
    "Meeting",
    "Merge",
    "Metric",
    "Middle",
    "Migration",
    "Min",
    "Mini",
    "Minister",
    "Misc",
    "Mode",
    "Model",
    "Module",
    "Monitor",
    "Monthly",
    "Mouse",
    "Name",
    "Network",
    "None",
    "Not",
    "Null",
    "Number",
    "Office",
    "Officer",
    "Officers",
    "Operations",
    "Option",
    "Optional",
    "Options",
    "Other",
    "Out",
    "Overview",
    "Pack",
    "Package",
    "Parameter",
    "Partners",
    "Path",
    "Payment",
    "Pending",
    "Phone",
    "Pipeline",
    "Plan",
    "Platform",
    "Plugin",
    "Plus",
    "Policy",
    "Pool",
    "Port",
    "Premium",
    "President",
    "Primary",
    "Pro",
    "Product",
    "Production",
    "Program",
    "Project",
    "Proposal",
    "Provided",
    "Proxy",
    "Python",
    "Quarterly",
    "Query",
    "Queue",
    "Rate",
    "Redacted",
    "Region",
    "Release",
    "Report",
    "Repository",
    "Request",
    "Required",
    "Response",
    "Retries",
    "Retry",
    "Revenue",
    "Review",
    "Roadmap",
    "Role",
    "Router",
    "Rule",
    "Sales",
    "Sample",
    "Scheduler",
    "Schema",
    "School",
    "Secretary",
    "Section",
    "Sensor",
    "Series",
    "Server",
    "Service",
    "Services",
    "Session",
    "Set",
    "Setting",
    "Settings",
    "Shop",
    "Size",
    "Spring",
    "Sprint",
    "Staff",
    "Staging",
    "Standard",
    "Start",
    "Status",
    "Storage",
    "Store",
    "Strategy",
    "Street",
    "String",
    "Sub",
    "Subscription",
    "Subtotal",
    "Sum",
    "Summary",
    "Summer",
    "Support",
    "Surname",
    "System",
    "Systems",
    "Table",
    "Task",
    "Team",
    "Technologies",
    "Template",
    "Test",
    "Text",
    "Ticket",
    "Time",
    "Timeout",
    "Title",
    "Token",
    "Total",
    "Transaction",
    "Trial",
    "True",
    "Type",
    "Typescript",
    "Ultra",
    "Unit",
    "University",
    "Unknown",
    "Update",
    "Url",
    "User",
    "Value",
    "Version",
    "Watch",
    "Webhook",
    "Website",
    "Weekly",
    "Winter",
    "Worker",
    "Workflow",
    "Yes",
    "Zone",
];
/// Words a salutation addresses that are no given name (`Dear Sir,`, `Dear Colleagues,`, `Dear Valued Customer`):
/// the single word after `Dear` must be none of these nor on [`EN_NOT_NAME_WORDS`] (`All`, `Team`, `Customer`).
/// Sorted (binary search).
const SALUTATION_WORDS: &[&str] = &[
    "Administrator",
    "Agent",
    "Alexa",
    "Applicant",
    "Applicants",
    "Aunt",
    "Auntie",
    "Author",
    "Authors",
    "Babe",
    "Baby",
    "Beloved",
    "Bixby",
    "Boss",
    "Brethren",
    "Brother",
    "Buddy",
    "Candidate",
    "Candidates",
    "Captain",
    "Chair",
    "Chairman",
    "Chief",
    "Child",
    "Children",
    "Clients",
    "Coach",
    "Colleague",
    "Colleagues",
    "Colonel",
    "Committee",
    "Community",
    "Contributor",
    "Contributors",
    "Cortana",
    "Cousin",
    "Customers",
    "Dad",
    "Daddy",
    "Darling",
    "Daughter",
    "Dean",
    "Dearest",
    "Developer",
    "Developers",
    "Diary",
    "Director",
    "Doc",
    "Doctor",
    "Editor",
    "Editors",
    "Employee",
    "Employees",
    "Everybody",
    "Everyone",
    "Excellency",
    "Father",
    "Folks",
    "Friend",
    "Friends",
    "General",
    "Gentlemen",
    "God",
    "Governor",
    "Grandfather",
    "Grandma",
    "Grandmother",
    "Grandpa",
    "Granny",
    "Guests",
    "Guys",
    "Hello",
    "Highness",
    "Hiring",
    "Homeowner",
    "Hon",
    "Honey",
    "Honorable",
    "Hosts",
    "Husband",
    "Investor",
    "Investors",
    "Judge",
    "Kids",
    "Ladies",
    "Landlord",
    "Lieutenant",
    "Lord",
    "Love",
    "Madam",
    "Maintainer",
    "Maintainers",
    "Majesty",
    "Major",
    "Mama",
    "Mate",
    "Mayor",
    "Member",
    "Members",
    "Miss",
    "Mister",
    "Mom",
    "Mommy",
    "Mother",
    "Mrs",
    "Mum",
    "Neighbor",
    "Neighbors",
    "Neighbour",
    "Neighbours",
    "Nurse",
    "Officer",
    "Officers",
    "Organizer",
    "Organizers",
    "Owner",
    "Papa",
    "Parent",
    "Parents",
    "Parishioners",
    "Participant",
    "Participants",
    "Partner",
    "Pastor",
    "Patient",
    "Patients",
    "People",
    "President",
    "Principal",
    "Professor",
    "Reader",
    "Readers",
    "Recipient",
    "Recruiter",
    "Resident",
    "Residents",
    "Rev",
    "Reverend",
    "Reviewer",
    "Reviewers",
    "Santa",
    "Senator",
    "Sender",
    "Sergeant",
    "Shareholder",
    "Shareholders",
    "Sir",
    "Siri",
    "Sirs",
    "Sister",
    "Son",
    "Staff",
    "Student",
    "Students",
    "Subscriber",
    "Subscribers",
    "Supplier",
    "Suppliers",
    "Sweetheart",
    "Sweetie",
    "Teacher",
    "Teachers",
    "Teams",
    "Tenant",
    "Tenants",
    "There",
    "Uncle",
    "Users",
    "Valued",
    "Vendor",
    "Vendors",
    "Wife",
    "World",
];

/// The one given name of a salutation, `Dear John,`: a capitalised name word ([`en_name_word`]), not a word a
/// salutation addresses ([`SALUTATION_WORDS`]) nor one on [`EN_NOT_NAME_WORDS`], not a placeholder.
pub(super) fn salutation_name_ok(w: &str) -> bool {
    en_name_word(w) && !addressed_not_named(w) && !placeholder(w)
}

/// A word on [`SALUTATION_WORDS`] or [`EN_NOT_NAME_WORDS`]: what a salutation or a rank may precede that is no name.
pub(super) fn addressed_not_named(w: &str) -> bool {
    SALUTATION_WORDS.binary_search(&w).is_ok() || EN_NOT_NAME_WORDS.binary_search(&w).is_ok()
}

/// The name after a military rank (`Sgt. John Smith`, `Capt. Doe`): no word on [`EN_NOT_NAME_WORDS`] or
/// [`SALUTATION_WORDS`] (`Col. Total`, `Lt. Governor`), and not a generation or what `Gen.` abbreviates for
/// "general" (`Gen. Alpha`, `Gen. Notes`).
pub(super) fn rank_name_ok(name: &str) -> bool {
    const NOT_AFTER_RANK: &[&str] = &["Alpha", "Beta", "Info", "Ledger", "Notes"];
    !NOT_AFTER_RANK.contains(&name.split(' ').next().unwrap_or(""))
        && !name.split(' ').any(addressed_not_named)
}

/// Lower-case particles allowed as the middle word of a three-word name (`Vincent van Gogh`, `Ana de Armas`).
const EN_NAME_PARTICLES: &[&str] = &[
    "da", "de", "del", "der", "di", "du", "la", "le", "van", "von",
];
/// Prefixes after which a name may have a second capital (`McDonald`, `MacArthur`, `DeShawn`, `LaToya`).
const EN_INNER_CAP_PREFIXES: &[&str] = &["Da", "De", "Di", "Du", "La", "Le", "Mac", "Mc", "Van"];

/// English name sanity for a name column's cell: two or three words separated by single spaces; the first and the
/// last a capitalised Latin word ([`en_name_word`]: `O'Brien`, `Jean-Luc`, `McDonald`, `José`), the middle one of
/// three may also be an initial (`J.`) or a particle (`van`); no word on [`EN_NOT_NAME_WORDS`].
pub(super) fn person_en_ok(name: &str) -> bool {
    en_name_shape(
        name,
        |w| EN_NAME_PARTICLES.contains(&w),
        |w| en_name_word(w) && EN_NOT_NAME_WORDS.binary_search(&w).is_err(),
    )
}

/// The shape both English name checks share: at most 64 bytes, two or three words separated by single spaces, each
/// a `word`, except that the middle one of three may be an initial (`J.`) or a `particle`.
fn en_name_shape(name: &str, particle: impl Fn(&str) -> bool, word: impl Fn(&str) -> bool) -> bool {
    let n = name.split(' ').count();
    if name.len() > 64 || !(2..=3).contains(&n) {
        return false;
    }
    name.split(' ').enumerate().all(|(i, w)| {
        let middle = i > 0 && i + 1 < n;
        let initial = matches!(w.as_bytes(), [c, b'.'] if c.is_ascii_uppercase());
        (middle && (initial || particle(w))) || word(w)
    })
}

/// An English name in capitals, as forms and exports write them (`JOHN SMITH`, `MARY O'BRIEN`, `JEAN-LUC PICARD`,
/// `JOHN J. SMITH`): the shape of [`person_en_ok`] with every letter upper-case ([`en_caps_word`]), no word on
/// [`EN_NOT_NAME_WORDS`] whatever its case (`ACME CORP`, `TOTAL AMOUNT`, `FULL NAME`). Counted only in a name column,
/// by its vote: capitals alone say little (`NEW YORK`).
pub(super) fn person_en_caps_ok(name: &str) -> bool {
    en_name_shape(
        name,
        |w| EN_NAME_PARTICLES.iter().any(|p| w.eq_ignore_ascii_case(p)),
        |w| en_caps_word(w) && !en_not_name_word(w),
    )
}

/// A single word in a name part's column (`First Name`: `John`, `Li`; `Surname`: `O'Brien`, `SMITH`): a capitalised
/// Latin word ([`en_name_word`]) or one in capitals ([`en_caps_word`]), not on [`EN_NOT_NAME_WORDS`] whatever its case
/// (`Total`, `TOTAL`) and not a placeholder.
pub(super) fn en_part_word(w: &str) -> bool {
    (en_name_word(w) || en_caps_word(w)) && !en_not_name_word(w) && !placeholder(w)
}

/// A signature's first name alone, on the line after a letter's closing (`Thanks,\nBob`): one of the common given
/// names of [`EN_FIRST_NAMES`], or a romanised Korean given name with its lower-case second syllable (`Min-jun`).
/// A single capitalised word there is as often a word (`Thanks,\nBye`, `Regards,\nTeam`, `Cheers,\nMonday`), so the
/// shape alone does not do.
pub(super) fn signature_first_name(w: &str) -> bool {
    let syllable = |x: &str| {
        ROMANISED_SYLLABLES
            .binary_search_by(|r| r.bytes().cmp(x.bytes().map(|c| c.to_ascii_lowercase())))
            .is_ok()
    };
    EN_FIRST_NAMES.binary_search(&w).is_ok()
        || w.split_once('-').is_some_and(|(head, tail)| {
            tail.bytes().all(|c| c.is_ascii_lowercase())
                && en_name_word(w)
                && syllable(head)
                && syllable(tail)
        })
}

/// Romanised syllables of Korean given names (sorted, lower case), for the hyphenated names of
/// [`signature_first_name`] (`Min-jun`, `Seo-yeon`, `Hye-won`): a capitalised word, a hyphen and lower-case letters is
/// as often a compound (`Help-desk`, `Pre-sales`, `Co-op`).
const ROMANISED_SYLLABLES: &[&str] = &[
    "ae", "ah", "beom", "bin", "bo", "bum", "chae", "chan", "cheol", "chul", "da", "do", "dong",
    "eun", "gi", "gu", "gyu", "ha", "hae", "han", "hee", "ho", "hoon", "hwa", "hwan", "hye",
    "hyeon", "hyo", "hyuk", "hyun", "il", "in", "ja", "jae", "je", "jeong", "ji", "jin", "jo",
    "joo", "joon", "ju", "jun", "jung", "ki", "kyu", "kyung", "mi", "min", "mo", "na", "ra", "rin",
    "ryu", "sang", "se", "seo", "seok", "seon", "seong", "seung", "si", "sik", "so", "sol", "soo",
    "sook", "su", "suk", "sun", "sung", "tae", "won", "woo", "woong", "ye", "yeon", "yeong",
    "yong", "yoo", "yoon", "young", "yu", "yul", "yun",
];

/// Common English given names (sorted, for the binary search), for [`signature_first_name`].
const EN_FIRST_NAMES: &[&str] = &[
    "Aaron",
    "Abigail",
    "Adam",
    "Adrian",
    "Aiden",
    "Alan",
    "Albert",
    "Alex",
    "Alexander",
    "Alexandra",
    "Alice",
    "Alicia",
    "Alison",
    "Allison",
    "Amanda",
    "Amber",
    "Amelia",
    "Amy",
    "Andrea",
    "Andrew",
    "Andy",
    "Angela",
    "Anna",
    "Anne",
    "Annie",
    "Anthony",
    "Antonio",
    "Arthur",
    "Ashley",
    "Austin",
    "Ava",
    "Barbara",
    "Ben",
    "Benjamin",
    "Beth",
    "Betty",
    "Bill",
    "Billy",
    "Bob",
    "Bobby",
    "Brad",
    "Bradley",
    "Brandon",
    "Brenda",
    "Brian",
    "Brittany",
    "Bruce",
    "Bryan",
    "Caleb",
    "Cameron",
    "Carl",
    "Carlos",
    "Carol",
    "Caroline",
    "Catherine",
    "Charles",
    "Charlie",
    "Charlotte",
    "Chloe",
    "Chris",
    "Christian",
    "Christina",
    "Christine",
    "Christopher",
    "Cindy",
    "Claire",
    "Clara",
    "Cody",
    "Colin",
    "Connor",
    "Craig",
    "Cynthia",
    "Dan",
    "Daniel",
    "Danielle",
    "Danny",
    "Dave",
    "David",
    "Dean",
    "Debbie",
    "Deborah",
    "Dennis",
    "Derek",
    "Diana",
    "Diane",
    "Dominic",
    "Don",
    "Donald",
    "Donna",
    "Dorothy",
    "Doug",
    "Douglas",
    "Dylan",
    "Ed",
    "Eddie",
    "Edward",
    "Eileen",
    "Elaine",
    "Eleanor",
    "Elena",
    "Eli",
    "Elijah",
    "Elizabeth",
    "Ella",
    "Ellen",
    "Emily",
    "Emma",
    "Eric",
    "Erica",
    "Erin",
    "Ethan",
    "Eugene",
    "Eva",
    "Evan",
    "Evelyn",
    "Frank",
    "Fred",
    "Gabriel",
    "Gabriela",
    "Gary",
    "George",
    "Gerald",
    "Grace",
    "Greg",
    "Gregory",
    "Hannah",
    "Harold",
    "Harry",
    "Hayden",
    "Heather",
    "Helen",
    "Henry",
    "Holly",
    "Ian",
    "Isaac",
    "Isabel",
    "Isabella",
    "Jack",
    "Jackson",
    "Jacob",
    "Jake",
    "James",
    "Jamie",
    "Jan",
    "Jane",
    "Janet",
    "Jasmine",
    "Jason",
    "Jay",
    "Jean",
    "Jeff",
    "Jeffrey",
    "Jennifer",
    "Jenny",
    "Jeremy",
    "Jerry",
    "Jess",
    "Jesse",
    "Jessica",
    "Jill",
    "Jim",
    "Jimmy",
    "Joan",
    "Joe",
    "Joel",
    "John",
    "Johnny",
    "Jon",
    "Jonathan",
    "Jordan",
    "Jose",
    "Joseph",
    "Josh",
    "Joshua",
    "Joyce",
    "Juan",
    "Judith",
    "Judy",
    "Julia",
    "Julian",
    "Julie",
    "Justin",
    "Karen",
    "Kate",
    "Katherine",
    "Kathleen",
    "Kathryn",
    "Katie",
    "Keith",
    "Kelly",
    "Ken",
    "Kenneth",
    "Kevin",
    "Kim",
    "Kimberly",
    "Kyle",
    "Laura",
    "Lauren",
    "Lawrence",
    "Leah",
    "Lee",
    "Leo",
    "Liam",
    "Lily",
    "Linda",
    "Lisa",
    "Logan",
    "Lori",
    "Louis",
    "Lucas",
    "Lucy",
    "Luis",
    "Luke",
    "Madison",
    "Maria",
    "Marie",
    "Marilyn",
    "Mark",
    "Martha",
    "Martin",
    "Mary",
    "Matt",
    "Matthew",
    "Megan",
    "Melissa",
    "Michael",
    "Michelle",
    "Mike",
    "Monica",
    "Nancy",
    "Natalie",
    "Nathan",
    "Nicholas",
    "Nick",
    "Nicole",
    "Noah",
    "Oliver",
    "Olivia",
    "Owen",
    "Pam",
    "Pamela",
    "Patricia",
    "Patrick",
    "Paul",
    "Paula",
    "Peter",
    "Phil",
    "Philip",
    "Rachel",
    "Ralph",
    "Randy",
    "Raymond",
    "Rebecca",
    "Richard",
    "Rick",
    "Rob",
    "Robert",
    "Robin",
    "Roger",
    "Ron",
    "Ronald",
    "Rose",
    "Ruth",
    "Ryan",
    "Sam",
    "Samantha",
    "Samuel",
    "Sandra",
    "Sara",
    "Sarah",
    "Scott",
    "Sean",
    "Sharon",
    "Shirley",
    "Sophia",
    "Sophie",
    "Stephanie",
    "Stephen",
    "Steve",
    "Steven",
    "Susan",
    "Teresa",
    "Terry",
    "Theresa",
    "Thomas",
    "Tim",
    "Timothy",
    "Tina",
    "Todd",
    "Tom",
    "Tony",
    "Tyler",
    "Victoria",
    "Vincent",
    "Virginia",
    "Walter",
    "Wayne",
    "Wendy",
    "William",
    "Zach",
    "Zachary",
    "Zoe",
];

/// Whether `w` is on [`EN_NOT_NAME_WORDS`], compared ASCII-case-insensitively (the list's order is the same in lower
/// case: each word is capitalised).
fn en_not_name_word(w: &str) -> bool {
    EN_NOT_NAME_WORDS
        .binary_search_by(|x| {
            x.bytes()
                .map(|c| c.to_ascii_lowercase())
                .cmp(w.bytes().map(|c| c.to_ascii_lowercase()))
        })
        .is_ok()
}

/// A Latin word in capitals: up to three parts joined by `-` (`JEAN-LUC`), each optionally after `X'` (`O'BRIEN`),
/// of at least two upper-case letters.
fn en_caps_word(w: &str) -> bool {
    name_word_parts(w, |part| {
        let mut letters = 0;
        for (i, c) in part.char_indices() {
            if i > 0 && ('\u{300}'..='\u{36F}').contains(&c) {
                continue;
            }
            let latin =
                c.is_ascii_uppercase() || (('\u{C0}'..='\u{24F}').contains(&c) && c.is_uppercase());
            if !latin {
                return false;
            }
            letters += 1;
        }
        letters >= 2
    })
}

/// The frame both English name-word checks share: up to three parts joined by `-` (`Jean-Luc`), each passed to
/// `part_ok` after an optional `X'` or `X’` (`O'Brien`, `D’Angelo`).
fn name_word_parts(w: &str, part_ok: impl Fn(&str) -> bool) -> bool {
    let mut parts = 0;
    w.split('-').all(|part| {
        parts += 1;
        let mut cs = part.chars();
        let part = match (cs.next(), cs.next()) {
            (Some(c), Some('\'' | '’')) if c.is_ascii_uppercase() => cs.as_str(),
            _ => part,
        };
        parts <= 3 && part_ok(part)
    })
}

/// A capitalised Latin word of a name: up to three parts joined by `-` (`Jean-Luc`), each optionally after `X'`
/// (`O'Brien`, `D’Angelo`), an upper-case letter then lower-case letters (at least two letters in all), with one
/// more capital allowed right after a prefix of [`EN_INNER_CAP_PREFIXES`].
fn en_name_word(w: &str) -> bool {
    // A romanised Korean given name keeps its second syllable lower-case (`Min-jun`, `Seo-yeon`).
    if let Some((head, tail)) = w.split_once('-') {
        if (2..=5).contains(&tail.len()) && tail.bytes().all(|c| c.is_ascii_lowercase()) {
            return en_name_word(head);
        }
    }
    let latin = |c: char| {
        c.is_ascii_alphabetic() || (('\u{C0}'..='\u{24F}').contains(&c) && c.is_alphabetic())
    };
    name_word_parts(w, |part| {
        let mut inner_caps = 0;
        let mut letters = 0;
        let mut last_lower = false;
        for (i, c) in part.char_indices() {
            // A combining accent (`José` written decomposed, as macOS and NFD text have it) belongs to its letter.
            if i > 0 && ('\u{300}'..='\u{36F}').contains(&c) {
                continue;
            }
            if !latin(c) {
                return false;
            }
            letters += 1;
            last_lower = c.is_lowercase();
            if i == 0 {
                if !c.is_uppercase() {
                    return false;
                }
            } else if c.is_uppercase() {
                inner_caps += 1;
                if inner_caps > 1 || !EN_INNER_CAP_PREFIXES.contains(&&part[..i]) {
                    return false;
                }
            }
        }
        letters >= 2 && last_lower
    })
}

/// Bytes of a PEM block's body (base64, headers such as `Proc-Type: 4,ENCRYPTED`, line breaks, and the `\n` escapes of
/// a key inside a JSON string, as in a cloud service-account file).
fn pem_body(c: u8) -> bool {
    PEM_BODY[usize::from(c)]
}

/// [`pem_body`] as a table: the class walk reads it once a byte.
static PEM_BODY: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'+' | b'/'
                    | b'='
                    | b'\t'
                    | b'\r'
                    | b'\n'
                    | b' '
                    | b':'
                    | b','
                    | b'.'
                    | b'-'
                    | b'\\'
            );
        c += 1;
    }
    t
};

/// Whether `b` holds `n` base64 characters (`A-Za-z0-9+/=`) in a row: a key's body, not a placeholder or prose.
fn base64_run(b: &[u8], n: usize) -> bool {
    let mut run = 0;
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') {
            run += 1;
            if run >= n {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
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

/// Every occurrence of `finder`'s needle in `hay`, in order, by repeated `find` calls (`Finder::find_iter` copies the
/// searcher, a few hundred bytes, which a segment without a single occurrence paid for nothing).
fn finds<'a>(
    finder: &'a memchr::memmem::Finder<'static>,
    hay: &'a [u8],
) -> impl Iterator<Item = usize> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = from + finder.find(hay.get(from..)?)?;
        from = at + 1;
        Some(at)
    })
}

/// After the `(` of a basic-auth tuple at `i`: `'user', 'password'` (spaces allowed around the strings and the comma;
/// a user of 1–64 bytes, a password of 3–128, neither crossing a line nor containing its quote). The end of the
/// password's closing quote.
fn quoted_pair(b: &[u8], mut i: usize) -> Option<usize> {
    let mut strings = [(1, 64), (3, 128)].into_iter().peekable();
    while let Some((min, max)) = strings.next() {
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        let q = *b.get(i).filter(|&&q| q == b'\'' || q == b'"')?;
        let body = b.get(i + 1..)?;
        let n = body
            .iter()
            .take(max + 1)
            .position(|&c| c == q || c == b'\n' || c == b'\r')?;
        if body[n] != q || n < min || n > max {
            return None;
        }
        i += n + 2;
        if strings.peek().is_some() {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            if b.get(i) != Some(&b',') {
                return None;
            }
            i += 1;
        }
    }
    Some(i)
}

/// Single-syllable surnames.
pub(super) static SURNAMES: std::sync::LazyLock<SyllableSet> =
    std::sync::LazyLock::new(|| SyllableSet::new(SURNAME_CHARS.chars()));
/// Syllables of given names ([`GIVEN_SYLLABLES`]).
static GIVEN: std::sync::LazyLock<SyllableSet> =
    std::sync::LazyLock::new(|| SyllableSet::new(GIVEN_SYLLABLES.chars()));
/// The name stop-list ([`PERSON_STOPLIST`]) as [`word_key`]s (integers, not strings to compare byte by byte), computed
/// at compile time, where a stop word too long for a key fails the build.
const STOPLIST_KEYS: [u128; PERSON_STOPLIST.len()] = {
    let mut k = [0u128; PERSON_STOPLIST.len()];
    let mut i = 0;
    while i < k.len() {
        match word_key(PERSON_STOPLIST[i]) {
            Some(key) => k[i] = key,
            None => panic!("a stop word longer than 15 bytes has no key"),
        }
        i += 1;
    }
    k
};

/// A word of at most 15 bytes as one integer: its bytes from the top, its length in the lowest byte, so two such
/// words are equal exactly when their keys are. `None` for a longer word. The bytes are copied into place at once
/// (it runs for every name candidate; a loop shifting a `u128` per byte cost ~100 instructions).
const fn word_key(w: &str) -> Option<u128> {
    let b = w.as_bytes();
    if b.len() > 15 {
        return None;
    }
    let mut key = [0u8; 16];
    key.split_at_mut(b.len()).0.copy_from_slice(b);
    key[15] = b.len() as u8;
    Some(u128::from_be_bytes(key))
}

/// Whether `w` is on the name stop-list ([`PERSON_STOPLIST`]). A word without a key is longer than every stop word
/// (each has one: checked when [`STOPLIST_KEYS`] is built).
fn stop_word(w: &str) -> bool {
    word_key(w).is_some_and(|k| STOPLIST_SET.contains(&k))
}

/// [`STOPLIST_KEYS`] hashed: one probe where the binary search took ~9 unpredictable steps (it runs up to four times
/// for each name candidate at an honorific or label).
static STOPLIST_SET: std::sync::LazyLock<
    std::collections::HashSet<u128, foldhash::fast::FixedState>,
> = std::sync::LazyLock::new(|| STOPLIST_KEYS.iter().copied().collect());

/// First syllables of the letter closings and titles that [`Engine::person_before_suffix`] compares at an honorific.
static SUFFIX_WORD_FIRST: std::sync::LazyLock<SyllableSet> = std::sync::LazyLock::new(|| {
    SyllableSet::new(
        builtin::PERSON_CLOSINGS
            .iter()
            .chain(builtin::PERSON_TITLES)
            .chain(builtin::PERSON_TITLES_BEFORE)
            .filter_map(|w| w.chars().next()),
    )
});
/// First syllables of the name stop-list: most candidates skip the list entirely.
static STOP_FIRST: std::sync::LazyLock<SyllableSet> = std::sync::LazyLock::new(|| {
    SyllableSet::new(PERSON_STOPLIST.iter().filter_map(|w| w.chars().next()))
});

/// [`TWO_SYLLABLE_SURNAMES`] as their six bytes in a little-endian word each (all are two 3-byte syllables).
const TWO_SURNAME_WORDS: [u64; TWO_SYLLABLE_SURNAMES.len()] = {
    let mut w = [0u64; TWO_SYLLABLE_SURNAMES.len()];
    let mut i = 0;
    while i < w.len() {
        let b = TWO_SYLLABLE_SURNAMES[i].as_bytes();
        assert!(b.len() == 6);
        let mut j = 0;
        while j < 6 {
            w[i] |= (b[j] as u64) << (8 * j);
            j += 1;
        }
        i += 1;
    }
    w
};

/// Whether `s` starts with one of [`TWO_SYLLABLE_SURNAMES`]: one word comparison each, where `starts_with` called
/// `memcmp` per surname (a name candidate at every `님`/`고객` asks).
#[inline]
pub(super) fn two_syllable_surname_first(s: &str) -> bool {
    let Some(head) = s.as_bytes().first_chunk::<6>() else {
        return false;
    };
    let mut w = [0u8; 8];
    w[..6].copy_from_slice(head);
    let w = u64::from_le_bytes(w);
    TWO_SURNAME_WORDS.contains(&w)
}

/// Whether the road name's last syllable, `로` or `길`, ends right before `t` or one space before it: the first test
/// of [`road_address_span`], asked at every digit run.
#[inline]
fn road_suffix_before(b: &[u8], t: usize) -> bool {
    let i = if t > 0 && b[t - 1] == b' ' { t - 1 } else { t };
    i >= 3 && matches!(b[i - 3..i], [0xEB, 0xA1, 0x9C] | [0xEA, 0xB8, 0xB8])
}

/// The road address whose house number starts at `t` (a digit run): a road name of Hangul syllables (digits allowed
/// after the first, as in `광교중앙로`, `세종대로`, `분당로43번길`) ending in `로` or `길`, at most one space, then the
/// number (`427`, `12-3`, and a side road's `43번길 12`); before the road name, up to three of [`KR_DISTRICTS`]
/// (`성남시 분당구`), each a whole word. The number must not run into a unit (`결과로 3개`, `기준으로 10%`), and a road
/// name ending in `으로` is a particle. Whether a district leads the span decides the score ([`Check::AddressRoad`]).
pub(super) fn road_address_span(hay: &str, t: usize) -> Option<(usize, usize)> {
    let b = hay.as_bytes();
    let i = if t > 0 && b[t - 1] == b' ' { t - 1 } else { t };
    let suffix = b.get(i.checked_sub(3)?..i)?;
    if suffix != "로".as_bytes() && suffix != "길".as_bytes() {
        return None;
    }
    // The road name: syllables and digits back to the word's start, the first a syllable.
    let mut rs = i;
    let mut syllables = 0;
    while rs > 0 && i - rs < 36 {
        if b[rs - 1].is_ascii_digit() {
            rs -= 1;
        } else if let Some(c) = hay
            .get(rs.saturating_sub(3)..rs)
            .and_then(|w| w.chars().next())
        {
            if !is_hangul_syllable(c) {
                break;
            }
            rs -= 3;
            syllables += 1;
        } else {
            break;
        }
    }
    while rs < i && b[rs].is_ascii_digit() {
        rs += 1;
    }
    if syllables < 2 || hay[rs..i].ends_with("으로") || !word_starts(hay, rs) {
        return None;
    }
    // Districts before it, each a whole word of the list.
    let mut s = rs;
    for _ in 0..3 {
        let Some(we) = s.checked_sub(1).filter(|&w| b[w] == b' ') else {
            break;
        };
        let ws = hay[..we]
            .char_indices()
            .rev()
            .take(6)
            .take_while(|&(_, c)| is_hangul_syllable(c))
            .last()
            .map_or(we, |(k, _)| k);
        if ws == we
            || !word_starts(hay, ws)
            || builtin::KR_DISTRICTS.binary_search(&&hay[ws..we]).is_err()
        {
            break;
        }
        s = ws;
    }
    // The number, an optional `-N`, an optional side road (`43번길 12`).
    let number = |at: usize| -> Option<usize> {
        let n = b[at..]
            .iter()
            .take(6)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n == 0 || n > 5 {
            return None;
        }
        let mut e = at + n;
        if b.get(e) == Some(&b'-') {
            let m = b[e + 1..]
                .iter()
                .take(6)
                .take_while(|c| c.is_ascii_digit())
                .count();
            if (1..=5).contains(&m) {
                e += 1 + m;
            }
        }
        Some(e)
    };
    let mut e = number(t)?;
    for side in ["번길", "길", "가"] {
        if let Some(rest) = hay[e..].strip_prefix(side) {
            let at = e + side.len() + usize::from(rest.starts_with(' '));
            if let Some(e2) = b
                .get(at)
                .filter(|c| c.is_ascii_digit())
                .and_then(|_| number(at))
            {
                e = e2;
            }
            break;
        }
    }
    // A unit or a decimal right after the number: a quantity, not a house number.
    let next = hay[e..].chars().next();
    let unit = next.is_some_and(|c| is_hangul_syllable(c) || c.is_alphanumeric() || c == '%')
        || (matches!(next, Some('.')) && b.get(e + 1).is_some_and(u8::is_ascii_digit));
    (!unit).then_some((s, e))
}

/// Labels a phone number follows (`Phone: …`, `Tel. …`, `UK mobile …`), compared case-insensitively, as whole words:
/// not the `tel` of `hotel`.
const PHONE_LABELS_EN: &[&str] = &[
    "phone",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "cellphone",
    "fax",
    "phone number",
    "phone no",
    "telephone number",
    "mobile number",
    "mobile no",
    "cell number",
    "cell phone",
    "tel no",
    "fax no",
    "fax number",
    "call",
    "call me at",
    "call me on",
    "call us at",
    "call us on",
    "text me at",
    "reach me at",
    "contact number",
    "contact no",
    // German, Dutch, Scandinavian, Italian and French labels (`Telefon: 030 12345678`, `Handy: 0171 1234567`,
    // `Tél. : 01 42 68 53 00`).
    "telefon",
    "telefono",
    "tél",
    // The same decomposed (NFD: `e` and a combining acute accent, from macOS).
    "te\u{301}l",
    "handy",
    // Signature lines (`Office: 415-555-0199`, `Direct line: …`, `M: 415-555-0132`), from `FIRST_SIGNATURE_LABEL`
    // on: they also label amounts, builds, rooms and counts (`Office 16.0.17328.20124`, `Office: 1501-1502호`,
    // `Direct: 1523400`), so a number after them needs a phone's usual grouping (`strict_phone_shape`). A label of
    // one or two letters (`T:`, `M:`, `O:`, `Ph:`) only with its colon right after it (`SHORT_LABEL`).
    "office",
    "office phone",
    "work phone",
    "home phone",
    "direct line",
    "landline",
    "whatsapp",
    "work",
    "home",
    "direct",
    "mob",
    "ph",
    "t",
    "m",
    "o",
    "c",
    "p",
    "w",
    "h",
    "d",
    "f",
];
/// The longest of the short labels of [`PHONE_LABELS_EN`] (`t`, `m`, `ph`), which count only with a colon right after
/// them (`M: 917-362-4410`).
const SHORT_LABEL: usize = 2;
/// Index in [`PHONE_LABELS_EN`] of the first signature label.
const FIRST_SIGNATURE_LABEL: usize = {
    // The index of `office`, so that a label added before it cannot shift the line.
    let office = b"office";
    let mut i = 0;
    'labels: loop {
        let l = PHONE_LABELS_EN[i].as_bytes();
        i += 1;
        if l.len() != office.len() {
            continue;
        }
        let mut k = 0;
        while k < l.len() {
            if l[k] != office[k] {
                continue 'labels;
            }
            k += 1;
        }
        break i - 1;
    }
};
/// Per ASCII byte: the labels of [`PHONE_LABELS_EN`] that end in it (bit `i` for label `i`; they are lowercase).
const PHONE_LABELS_EN_BY_LAST: [u64; 128] = {
    assert!(PHONE_LABELS_EN.len() <= 64);
    let mut t = [0u64; 128];
    let mut i = 0;
    while i < PHONE_LABELS_EN.len() {
        let l = PHONE_LABELS_EN[i].as_bytes();
        t[(l[l.len() - 1] & 0x7F) as usize] |= 1 << i;
        i += 1;
    }
    t
};
/// The same in Korean, Japanese and Chinese. Korean numbers after `전화` are `KR_PHONE`'s: this scanner sees only the
/// digit runs no pattern took (`전화 (212) 736-4821`).
const PHONE_LABELS_CJK: &[&str] = &[
    "전화",
    "전화번호",
    "휴대폰",
    "휴대전화",
    "핸드폰",
    "팩스",
    "電話",
    "電話番号",
    "携帯",
    "携帯電話",
    "电话",
    "手机",
];

/// The last bytes of the labels a number no pattern took may follow (the phone labels' in both cases, and the `리` of
/// `뒷자리`, [`Engine::split_rrn`]): the trigger pass looks one byte up in this table before anything else, since most
/// digit runs follow no label (`2024년`, `the 3 files`).
const LABEL_LAST: [bool; 256] = {
    let mut t = [false; 256];
    t[0xAC] = true;
    let mut i = 0;
    while i < PHONE_LABELS_EN.len() {
        let l = PHONE_LABELS_EN[i].as_bytes();
        let c = l[l.len() - 1];
        // The short labels (`M:`, `Ph:`) are tested by their colon instead ([`label_may_end_before`]): `h`, `d`,
        // `f` end too many words before numbers (`with 3`, `and 2024`, `of 12%`).
        if l.len() > SHORT_LABEL {
            t[c as usize] = true;
            t[c.to_ascii_uppercase() as usize] = true;
        }
        i += 1;
    }
    let mut i = 0;
    while i < PHONE_LABELS_CJK.len() {
        let l = PHONE_LABELS_CJK[i].as_bytes();
        t[l[l.len() - 1] as usize] = true;
        i += 1;
    }
    t
};

/// The last characters of the non-ASCII labels of [`LABEL_LAST`] (the CJK phone labels' and the `리` of `뒷자리`),
/// all three bytes long.
const LABEL_LAST_CHARS: [[u8; 3]; PHONE_LABELS_CJK.len() + 1] = {
    let mut t = [[0u8; 3]; PHONE_LABELS_CJK.len() + 1];
    let mut i = 0;
    while i < PHONE_LABELS_CJK.len() {
        let l = PHONE_LABELS_CJK[i].as_bytes();
        let n = l.len();
        // A 3-byte character: its lead byte is 1110xxxx.
        assert!(n >= 3 && l[n - 3] & 0xF0 == 0xE0);
        t[i] = [l[n - 3], l[n - 2], l[n - 1]];
        i += 1;
    }
    t[i] = [0xEB, 0xA6, 0xAC]; // 리
    t
};

/// Whether the bytes before `t` (past at most four blanks, `:`, `.`, `#` or `=`) can end a label: an ASCII byte of
/// [`LABEL_LAST`], or a whole character of [`LABEL_LAST_CHARS`] (a byte test alone let every Hangul syllable sharing
/// a last byte with a label through). The cheap test before [`Engine::split_rrn`] and [`Engine::labeled_phone`], which
/// both need such a label ending at that same place.
#[inline(always)]
fn label_may_end_before(b: &[u8], t: usize) -> bool {
    let Some((j, colon)) = label_end_before(b, t) else {
        return false;
    };
    if !LABEL_LAST[usize::from(b[j - 1])] {
        // A short label with its colon right after it (`M: …`, `Ph: …`).
        return colon && b[j - 1].is_ascii_alphabetic();
    }
    b[j - 1] < 0x80 || (j >= 3 && LABEL_LAST_CHARS.contains(&[b[j - 3], b[j - 2], b[j - 1]]))
}

/// The Hangul syllables a digit run may follow that [`road_suffix_before`] or [`label_may_end_before`] reads: `로`,
/// `길` and the Hangul ones of [`LABEL_LAST_CHARS`].
static GATE_SYLLABLES: std::sync::LazyLock<SyllableSet> = std::sync::LazyLock::new(|| {
    let labels = LABEL_LAST_CHARS
        .iter()
        .filter_map(|c| std::str::from_utf8(c).ok()?.chars().next());
    SyllableSet::new(['로', '길'].into_iter().chain(labels))
});

/// Whether the digit run at `t` (a digit, not `+` or `(`) follows a Hangul syllable, right before it or one blank
/// before it (`2024년 3월`, `약 15%`: most runs in Korean prose), that can end neither a road name nor a label. Then
/// [`road_suffix_before`], [`label_may_end_before`] and [`cell_start`] are all false at `t`, and neither byte of the
/// two before the run is a character's first byte unless it is that blank: the trigger pass skips to the run's shape
/// ([`numeric_shape`](super::numeric_shape)) after one bitmap lookup instead of four tests. Asked first, so it must
/// never be true where any of those tests is not (`quiet_syllable_implies_every_test_false`).
#[inline(always)]
pub(super) fn after_plain_syllable(b: &[u8], t: usize) -> bool {
    let i = if t > 0 && b[t - 1] == b' ' { t - 1 } else { t };
    let Some(&[c0, c1, c2]) = i.checked_sub(3).and_then(|k| b.get(k..i)) else {
        return false;
    };
    if !(0xEA..=0xED).contains(&c0) || c1 & 0xC0 != 0x80 || c2 & 0xC0 != 0x80 {
        return false;
    }
    let cp = (u32::from(c0 & 0x0F) << 12) | (u32::from(c1 & 0x3F) << 6) | u32::from(c2 & 0x3F);
    char::from_u32(cp).is_some_and(|c| syllable_index(c).is_some() && !GATE_SYLLABLES.contains(c))
}

/// Whether the digit run at `t` continues a dotted number: a `.` right before it, a digit before that (the `3` and the
/// `1` of `2.3.1`, of `v1.2.3`, of `12.5`). Like [`after_plain_syllable`], then [`road_suffix_before`],
/// [`label_may_end_before`] and [`cell_start`] are all false at `t` and neither byte before the run can lead a
/// pattern (`dotted_continuation_implies_every_test_false`): only the run's own shape is left to ask.
#[inline(always)]
pub(super) fn after_digit_dot(b: &[u8], t: usize) -> bool {
    t >= 2 && b[t - 1] == b'.' && b[t - 2].is_ascii_digit()
}

/// Where a label before the number at `t` would end (`> 0`), and whether a colon follows it: past at most four bytes
/// of `:`, `.`, `#`, `=` or blanks (`Tel.: `, `Phone # `), and past a qualifier in brackets before a colon
/// ([`qualified_label_end`]). `None` at the text's start or after a bracket that is no qualifier.
#[inline(always)]
fn label_end_before(b: &[u8], t: usize) -> Option<(usize, bool)> {
    let mut j = t;
    while j > 0 && t - j < 4 && matches!(b[j - 1], b' ' | b'\t' | b':' | b'.' | b'#' | b'=') {
        j -= 1;
    }
    match j.checked_sub(1).map(|i| b[i])? {
        // Rare: a qualifier in brackets, `Phone (mobile): …` (read out of line, off the digit runs' common path).
        b')' => qualified_label_end(b, j, t)
            .filter(|&k| k > 0)
            .map(|k| (k, true)),
        _ => Some((j, j < t && b[j] == b':')),
    }
}

/// A label's qualifier in brackets between the label and its colon (`Phone (mobile): …`, `Tel (office): …`,
/// `전화(미국): …`): when the separators before the number (`j..t`) hold a colon and `(…)` of at most
/// [`MAX_QUALIFIER`] letters, blanks, `/`, `-`, `.` or non-ASCII characters ends at `j`, the end of the label before
/// it (blanks before `(` skipped). Without the colon a bracket is prose (`see (a) 3`).
/// `b[j - 1]` is the `)`.
#[inline(never)]
fn qualified_label_end(b: &[u8], j: usize, t: usize) -> Option<usize> {
    if !b[j..t].contains(&b':') {
        return None;
    }
    let inner = &b[j.saturating_sub(MAX_QUALIFIER + 2)..j - 1];
    let open = inner.iter().rposition(|&c| c == b'(')?;
    let q = &inner[open + 1..];
    if q.is_empty()
        || !q.iter().all(|&c| {
            c.is_ascii_alphabetic() || matches!(c, b' ' | b'/' | b'-' | b'.') || c >= 0x80
        })
    {
        return None;
    }
    let mut k = j - 1 - q.len() - 1;
    while k > 0 && b[k - 1] == b' ' {
        k -= 1;
    }
    Some(k)
}

/// Longest qualifier [`qualified_label_end`] reads in brackets (`(mobile)`, `(JP mobile)`, `(휴대폰)`).
const MAX_QUALIFIER: usize = 24;

/// Whether the bytes before `t` end with a phone label: at most four bytes of `:`, `.`, `#`, `=` or blanks between
/// (`Tel.: `, `Phone # `). The last byte decides first, so a digit run after an ordinary word costs a compare or two.
/// `Some(true)` for a signature label (from [`FIRST_SIGNATURE_LABEL`] on), `Some(false)` for the others.
fn phone_label_before(b: &[u8], t: usize) -> Option<bool> {
    let (j, colon) = label_end_before(b, t)?;
    let last = b[j - 1];
    if j == t && last.is_ascii() {
        // An English label must be set off from the number (`tel2024` is a token).
        return None;
    }
    if last.is_ascii_alphabetic() {
        // Only the labels that end in the text's last letter are compared (`is 3`, `in 2024` compare none), found
        // from one table lookup rather than a pass over the list.
        let mut ending = PHONE_LABELS_EN_BY_LAST[usize::from(last.to_ascii_lowercase() & 0x7F)];
        while ending != 0 {
            let i = ending.trailing_zeros() as usize;
            let l = PHONE_LABELS_EN[i];
            ending &= ending - 1;
            if j.checked_sub(l.len()).is_some_and(|ls| {
                b[ls..j].eq_ignore_ascii_case(l.as_bytes())
                    && (ls == 0 || !b[ls - 1].is_ascii_alphanumeric())
                    && (l.len() > SHORT_LABEL || colon)
            }) {
                return Some(i >= FIRST_SIGNATURE_LABEL);
            }
        }
        None
    } else {
        (last >= 0x80
            && PHONE_LABELS_CJK
                .iter()
                .any(|l| b[..j].ends_with(l.as_bytes())))
        .then_some(false)
    }
}

/// A phone number's usual grouping, asked where a number's label or column is also used for other numbers (a
/// signature label, a Markdown column): North American `415-555-0132`, `(415) 555-0132`, `415.555.0177` (and `1-` before
/// it); a Korean, British, Australian or French national number starting with `0` (`010-1234-5678`, `02-555-1234`,
/// `07700 900123`, `0412 345 678`, `06 12 34 56 78`, or unseparated, 10 or 11 digits: `01012345678`). Not an amount,
/// a count, a date, a build or a room (`1523400`, `20240315`, `2024-0315`, `14.0.1234`, `1501-1502`).
fn strict_phone_shape(d: &[u8]) -> bool {
    let mut groups = [0usize; 6];
    let mut n = 0;
    for g in d.split(|c| !c.is_ascii_digit()).filter(|g| !g.is_empty()) {
        if n == groups.len() {
            return false;
        }
        groups[n] = g.len();
        n += 1;
    }
    let first = d.iter().find(|c| c.is_ascii_digit()).copied();
    matches!(
        (&groups[..n], first),
        ([3, 3, 4], Some(b'2'..=b'9'))
            | ([1, 3, 3, 4], Some(b'1'))
            | ([2 | 3, 3 | 4, 4] | [4 | 5, 6] | [10 | 11], Some(b'0'))
            // Australian mobile `0412 345 678`, French `06 12 34 56 78`.
            | ([4, 3, 3] | [2, 2, 2, 2, 2], Some(b'0'))
    ) || match (&groups[..n], d) {
        ([10], _) => nanp_digits(d),
        ([11], [b'1', rest @ ..]) => nanp_digits(rest),
        _ => false,
    }
}

/// Ten unseparated digits that can only be a North American number (`2127364821`): an area code that is in service
/// (first digit 2–9, not a reserved `N9X` code), an exchange starting 2–9, and not a date and hour (`2024031512`
/// reads as 2024-03-15 12h, which an area code `20X` with such an exchange would also be).
fn nanp_digits(d: &[u8]) -> bool {
    let [a, b, _, x, m1, m2, d1, d2, _, _] = *d else {
        return false;
    };
    let month = (m1.wrapping_sub(b'0')) * 10 + m2.wrapping_sub(b'0');
    let day = (d1.wrapping_sub(b'0')) * 10 + d2.wrapping_sub(b'0');
    let dated = a == b'2' && b == b'0' && (1..=12).contains(&month) && (1..=31).contains(&day);
    (b'2'..=b'9').contains(&a) && b != b'9' && (b'2'..=b'9').contains(&x) && !dated
}

/// The phone number starting at `t` after a phone label (`Phone: (212) 736-4821`, `Cell: 2127364821`, `UK mobile 07700
/// 900123`, `電話 03-1234-5678`): groups of digits, the first may be bracketed, joined by one `-`, `.` or space
/// (`) ` after a bracket), 7–15 digits in all. Not a date (`2024-01-15`, `15.01.2024`), an IPv4 address, a number of
/// one repeated digit, or a code that goes on (`212-736-4821-A`).
pub(super) fn labeled_phone_span(b: &[u8], t: usize) -> Option<(usize, usize)> {
    let signature = phone_label_before(b, t)?;
    let (s, e) = phone_span(b, t)?;
    if signature && !strict_phone_shape(&b[s..e]) {
        return None;
    }
    // After `call` (`call me at`, `call us on`), prose about any number: a North American one only (ten digits, or
    // eleven after `1`), not a toll-free line (`Call 1-800-555-0199 for general inquiries`).
    let word = b[..t].trim_ascii_end();
    let last = &word[word
        .iter()
        .rposition(|c| !c.is_ascii_alphabetic())
        .map_or(0, |i| i + 1)..];
    if [&b"call"[..], b"at", b"on"]
        .iter()
        .any(|w| last.eq_ignore_ascii_case(w))
    {
        let mut d = [0u8; 16];
        let mut n = 0;
        for &c in b[s..e].iter().filter(|c| c.is_ascii_digit()).take(16) {
            d[n] = c - b'0';
            n += 1;
        }
        let nanp = match &d[..n] {
            [1, rest @ ..] | rest if rest.len() == 10 => Some([rest[0], rest[1], rest[2], rest[3]]),
            _ => None,
        };
        let ok = nanp.is_some_and(|[a, b2, c, x]| {
            let toll_free = a == 8 && b2 == c && b2 != 9 && b2 != 1;
            a >= 2 && x >= 2 && !toll_free
        });
        if !ok {
            return None;
        }
    }
    Some((s, e))
}

/// Whether `t` begins a cell of a comma- or tab-separated row (after the separator, or its opening quote).
fn cell_start(b: &[u8], t: usize) -> bool {
    match t.checked_sub(1).map(|i| b[i]) {
        Some(b',' | b'\t' | b'|') => true,
        Some(b'"') => t >= 2 && matches!(b[t - 2], b',' | b'\t'),
        // A Markdown cell, also padded (`|   212-736-4821 |`, a right-aligned column); most digit runs after a
        // blank follow a word, decided by the byte before that blank.
        Some(b' ') => {
            t >= 2
                && (b[t - 2] == b'|'
                    || b[t - 2] == b' '
                        && b[..t]
                            .iter()
                            .rev()
                            .take(MARKDOWN_CELL_PAD + 1)
                            .position(|&c| c != b' ')
                            .is_some_and(|k| b[t - k - 1] == b'|'))
        }
        _ => false,
    }
}

/// Whether a table's header cell names a phone column: a phone label of either language, `연락처`, or one with `_`
/// or `-` between its words (`phone_number`, `Mobile-No`), in any case, quotes and blanks around it allowed; a
/// bracketed qualifier or `#` may follow (`Phone (work)`, `Phone #`, `전화번호(사무실)`).
fn phone_header(cell: &[u8]) -> bool {
    let cell = cell.trim_ascii();
    let cell = cell.strip_suffix(b"#").unwrap_or(cell);
    let cell = match (cell.last(), memchr::memrchr(b'(', cell)) {
        (Some(b')'), Some(open)) if open > 0 => &cell[..open],
        _ => cell,
    };
    // Not the signature labels: an `Office` or `WhatsApp` column holds places or yes/no as often as numbers. Their
    // phones are (`Office phone`, `Work_Phone`).
    PHONE_LABELS_EN[..FIRST_SIGNATURE_LABEL]
        .iter()
        .chain(PHONE_LABELS_CJK)
        .chain(&["연락처", "office phone", "work phone", "home phone"])
        .any(|l| header_is(cell, l))
}

/// Whether a table's header cell (blanks and double quotes around it allowed) is `label`: ASCII in any case, a `_` or
/// `-` in the cell where the label has a space (`phone_number`, `Mobile-No`, `unit_price`).
fn header_is(cell: &[u8], label: &str) -> bool {
    let cell = cell.trim_ascii();
    let cell = cell
        .strip_prefix(b"\"")
        .and_then(|c| c.strip_suffix(b"\""))
        .unwrap_or(cell)
        .trim_ascii();
    label.len() == cell.len()
        && label
            .bytes()
            .zip(cell)
            .all(|(x, &y)| x.eq_ignore_ascii_case(&y) || (x == b' ' && matches!(y, b'_' | b'-')))
}

/// The phone number's shape at `t` (see [`labeled_phone_span`]), whatever is before it.
fn phone_span(b: &[u8], t: usize) -> Option<(usize, usize)> {
    if !matches!(b.get(t), Some(c) if c.is_ascii_digit() || *c == b'(') {
        return None;
    }
    let mut i = t;
    let mut digits = 0;
    let mut groups: [usize; 6] = [0; 6];
    let mut n = 0;
    let mut seps = 0u8; // bit set: 1 `-`, 2 `.`, 4 space
    loop {
        let open = b.get(i) == Some(&b'(') && n == 0;
        if open {
            i += 1;
        }
        let len = b[i.min(b.len())..]
            .iter()
            .take(16)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if len == 0 || len > 15 || n == groups.len() {
            return None;
        }
        groups[n] = len;
        n += 1;
        digits += len;
        i += len;
        if open {
            if b.get(i) != Some(&b')') {
                return None;
            }
            i += 1;
            if b.get(i) == Some(&b' ') {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            continue;
        }
        match (b.get(i), b.get(i + 1)) {
            (Some(&c @ (b'-' | b'.' | b' ')), Some(d)) if d.is_ascii_digit() => {
                seps |= match c {
                    b'-' => 1,
                    b'.' => 2,
                    _ => 4,
                };
                i += 1;
            }
            _ => break,
        }
    }
    let e = i;
    let g = &groups[..n];
    let date = matches!(g, [4, 2, 2] | [2, 2, 4] | [4, 2, 2, 2] | [2, 2, 4, 2]) && seps != 4;
    let ipv4 = seps == 2 && n == 4 && g.iter().all(|&k| k <= 3);
    let first = b[t..e].iter().find(|c| c.is_ascii_digit());
    let repeated = b[t..e]
        .iter()
        .filter(|c| c.is_ascii_digit())
        .all(|c| Some(c) == first);
    let goes_on = matches!(b.get(e), Some(b'-' | b'.' | b'/'))
        && b.get(e + 1).is_some_and(u8::is_ascii_alphanumeric);
    // The stock dummy (`123-456-7890`, `(012) 345-6789`): digits counting up.
    let counting = b[t..e]
        .iter()
        .filter(|c| c.is_ascii_digit())
        .zip(b[t..e].iter().filter(|c| c.is_ascii_digit()).skip(1))
        .all(|(&x, &y)| y == x + 1 || (x == b'9' && y == b'0'));
    let repeated = repeated || counting;
    ((7..=15).contains(&digits) && !date && !ipv4 && !repeated && !goes_on).then_some((t, e))
}

/// The end of a Korean address whose number ends at `e`, over a building's unit after it: `, 102동 1503호`,
/// ` 101동 1203호`, ` B동 301호`, `, 1503호`, `, 12층`, ` 지하 1층`, with the building's name before the unit
/// (`센텀파크 101동 1203호`). The unit is a house number's continuation only here: `102동` alone is no address. Without
/// a unit the end stays `e` (a building's name alone is not taken: `테헤란로 152 강남파이낸스센터`). The road address's
/// reference item in brackets after that (`테헤란로 152 (역삼동)`, `세종대로 209, 3층(세종로)`, `…(역삼동,
/// 강남파이낸스센터)`: the legal 동, 가, 리 or 로 the building stands in, and its name) is part of the address too
/// ([`reference_tail`]).
pub(super) fn unit_tail(hay: &str, e: usize) -> usize {
    let end = unit_end(hay, e);
    reference_tail(hay, end).unwrap_or(end)
}

/// Longest bracketed reference item read after an address ([`unit_tail`]), brackets included.
const MAX_ADDRESS_REFERENCE: usize = 64;

/// The end of the bracketed reference item right after an address ending at `e` (one space allowed before it): a
/// word of three or more Hangul syllables and digits ending in `동`, `가`, `리` or `로` (`역삼동`, `충무로1가`,
/// `세종로`; two-syllable words are mostly not places: `(변동)`, `(처리)`), then `)`, or `, ` and a building's name
/// (one word of Hangul, ASCII letters, digits — at most three in a row —, `-` or `.`) and `)`, all within
/// [`MAX_ADDRESS_REFERENCE`] bytes on the line. `None` for any other bracket (`(신규 개발 예정)`, `(2층)`), and for
/// one that holds more than a building (`(역삼동, 담당자 김민수)`, `(역삼동, 010-1234-5678)`: the finding inside is
/// reported by itself).
fn reference_tail(hay: &str, e: usize) -> Option<usize> {
    let b = hay.as_bytes();
    let open = e + usize::from(b.get(e) == Some(&b' '));
    if b.get(open) != Some(&b'(') {
        return None;
    }
    // Blanks inside the brackets (`( 역삼동 )`): at most two on each side.
    let blanks = |t: &str| t.bytes().take(3).take_while(|&c| c == b' ').count();
    let inner = hay.get(open + 1..)?;
    let pad = blanks(inner);
    if pad > 2 {
        return None;
    }
    let body = &inner[pad..];
    let word: usize = body
        .chars()
        .take(10)
        .take_while(|&c| is_hangul_syllable(c) || c.is_ascii_digit())
        .map(char::len_utf8)
        .sum();
    if !body[..word].ends_with(['동', '가', '리', '로']) || body[..word].chars().count() < 3 {
        return None;
    }
    let rest = &body[word..];
    let trail = blanks(rest);
    let close = if trail <= 2 && rest[trail..].starts_with(')') {
        word + trail
    } else {
        let name = rest.strip_prefix(", ").or_else(|| rest.strip_prefix(','))?;
        let mut digits = 0;
        let len = name
            .char_indices()
            .take_while(|&(i, c)| {
                digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
                i < MAX_ADDRESS_REFERENCE
                    && digits <= 3
                    && (is_hangul_syllable(c)
                        || c.is_ascii_alphanumeric()
                        || matches!(c, '-' | '.'))
            })
            .map(|(_, c)| c.len_utf8())
            .sum::<usize>();
        let trail = blanks(&name[len..]);
        if len == 0 || trail > 2 || !name[len + trail..].starts_with(')') {
            return None;
        }
        word + (rest.len() - name.len()) + len + trail
    };
    let end = open + 1 + (inner.len() - body.len()) + close + 1;
    (end - open <= MAX_ADDRESS_REFERENCE).then_some(end)
}

/// [`unit_tail`] without the reference item.
fn unit_end(hay: &str, e: usize) -> usize {
    let b = hay.as_bytes();
    let mut at = e;
    if b.get(at) == Some(&b',') {
        at += 1;
        if b.get(at) == Some(&b' ') {
            at += 1;
        }
    } else if b.get(at) == Some(&b' ') {
        at += 1;
    } else {
        return e;
    }
    // `102동`, `B동`, then `1503호` after at most one space; or `1503호` alone.
    let unit = |at: usize| -> Option<usize> {
        let digits = |k: usize| {
            b.get(k..)
                .unwrap_or_default()
                .iter()
                .take(6)
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let ho = |k: usize| -> Option<usize> {
            let n = digits(k);
            ((1..=5).contains(&n) && hay.get(k + n..)?.starts_with('호')).then_some(k + n + 3)
        };
        let n = match b.get(at) {
            Some(c) if c.is_ascii_uppercase() => 1,
            _ => digits(at),
        };
        if (1..=4).contains(&n) && hay.get(at + n..)?.starts_with('동') {
            let d = at + n + 3;
            let k = d + usize::from(b.get(d) == Some(&b' '));
            return Some(ho(k).unwrap_or(d));
        }
        // A floor (`12층`, `B1층`, `지하 1층`), then a room after at most one space (`12층 1203호`).
        let k = if b.get(at) == Some(&b'B') {
            at + 1
        } else if hay.get(at..)?.starts_with("지하") {
            at + 6 + usize::from(b.get(at + 6) == Some(&b' '))
        } else {
            at
        };
        let n = digits(k);
        if (1..=3).contains(&n) && hay.get(k + n..)?.starts_with('층') {
            let f = k + n + 3;
            return Some(ho(f + usize::from(b.get(f) == Some(&b' '))).unwrap_or(f));
        }
        ho(at)
    };
    if let Some(end) = unit(at) {
        return end;
    }
    // A building's name (Hangul, letters and digits, up to 10 characters), one space, then the unit.
    let name: usize = hay[at..]
        .chars()
        .take(11)
        .take_while(|&c| is_hangul_syllable(c) || c.is_ascii_alphanumeric())
        .map(char::len_utf8)
        .sum();
    if name == 0
        || b.get(at + name) != Some(&b' ')
        || b[at..at + name].iter().all(u8::is_ascii_digit)
    {
        return e;
    }
    unit(at + name + 1).unwrap_or(e)
}

/// Whether a word starts at `at`: the text's start, or after a character that is neither a letter, a digit, nor a
/// Hangul syllable.
fn word_starts(hay: &str, at: usize) -> bool {
    let before = &hay[..at];
    before
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric())
        || [r"\n", r"\t", r"\r"].iter().any(|e| before.ends_with(e))
}

/// How a Korean colon label takes its value ([`Engine::ko_label_value`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum KoLabel {
    /// A form label (`수령인`, `참석자`): a name, then more after commas.
    Strong,
    /// A label that also opens dialogue (`환자`, `고객`): one name, ending its phrase.
    Weak,
    /// A mail header (`참조`, `From`): names each ending its phrase, separated by commas or semicolons.
    List,
}

/// Korean mail header labels (`참조: 이영희, 박지훈`); English ones are [`EN_COLON_LABELS`]' [`EnLabel::Mail`]
/// labels. `발신` heads an official letter's (공문) sender line as well, which names offices (`발신: 대표이사`,
/// `발신: 인사팀 김민수`): [`mail_name`] keeps to names. (`수신` is a strong label of [`PERSON_COLON_LABELS`].)
const KO_MAIL_LABELS: &[(&str, bool)] = &[("참조", false), ("숨은참조", false), ("발신", false)];

/// How many of the commonest surnames (`SURNAME_CHARS` is ordered by frequency) [`common_surname`] admits.
const COMMON_SURNAMES: usize = 30;

/// Whether `name` starts with one of the [`COMMON_SURNAMES`] commonest surnames (김, 이, 박, … 심): what a name in a
/// mail header, or a two-syllable one after a label, must start with.
fn common_surname(name: &str) -> bool {
    static COMMON: std::sync::LazyLock<SyllableSet> =
        std::sync::LazyLock::new(|| SyllableSet::new(SURNAME_CHARS.chars().take(COMMON_SURNAMES)));
    name.chars().next().is_some_and(|c| COMMON.contains(c))
}

/// A name in a mail header's list: exactly three syllables (the whole word: `대표이사` gives no `대표`), a common
/// surname first, and a name by [`person_ko_ok`]. Headers are full of departments, roles, senders and document words
/// (`국세청`, `팀장`, `회의록`, `붙임`, `결재, 협조`) that a looser test takes for names.
fn mail_name(w: &str) -> bool {
    common_surname(w) && w.chars().count() == 3 && person_ko_ok(w)
}

/// Where the next name of a list starts after a name that ends at `i`: past `,` or `;`, a middle dot (`·`, `ㆍ`,
/// blanks around it allowed) or ` 및 ` (`김민수 및 이영희`), and the blanks after.
fn next_listed(hay: &str, i: usize) -> Option<usize> {
    let rest = hay.get(i..)?;
    let after = match rest.strip_prefix([',', ';']) {
        Some(r) => r,
        None => {
            let r = rest.trim_start_matches(' ');
            match r.strip_prefix(['·', 'ㆍ']) {
                Some(r) => r,
                None if r.len() < rest.len() => r.strip_prefix("및 ")?,
                None => return None,
            }
        }
    };
    Some(hay.len() - after.trim_start_matches(' ').len())
}

/// Longest mail header item [`address_item_end`] and [`angle_address_end`] read: a display name and an address.
const MAX_ADDRESS_ITEM: usize = 320;

/// Where a mail header's item that starts at `i` and holds an address ends (at its `,` or `;`, or the line's end):
/// `jane@acme.com`, `John Smith <john@acme.com>`, `"Park, Jane" <…>` up to its comma. `None` for an item without an
/// `@`, longer than [`MAX_ADDRESS_ITEM`], or with a `:` (another label's: so no run of items is read from more than
/// two colons, however many labels a hostile line repeats).
fn address_item_end(b: &[u8], i: usize) -> Option<usize> {
    let rest = b.get(i..(i + MAX_ADDRESS_ITEM).min(b.len()))?;
    let k = rest
        .iter()
        .position(|&c| matches!(c, b',' | b';' | b'\n' | b'\r' | b':'))
        .or_else(|| (i + rest.len() == b.len()).then_some(rest.len()))?;
    if rest.get(k) == Some(&b':') {
        return None;
    }
    memchr::memchr(b'@', &rest[..k]).map(|_| i + k)
}

/// Where a mail address in angle brackets after a name ends (`김민수 <minsu@acme.co.kr>`: after its `>`), if one
/// starts at `i` past blanks, on the same line.
fn angle_address_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while b.get(j) == Some(&b' ') && j - i < 4 {
        j += 1;
    }
    if b.get(j) != Some(&b'<') {
        return None;
    }
    let rest = &b[j..(j + MAX_ADDRESS_ITEM).min(b.len())];
    let close = rest.iter().position(|&c| matches!(c, b'>' | b'\n'))?;
    (rest[close] == b'>' && memchr::memchr(b'@', &rest[..close]).is_some()).then_some(j + close + 1)
}

/// Whether a name that ends at `i` is followed by the others it stands for (`김민수 외 2명`, `김민수 외 다수`,
/// `김민수 등 3명`): ` 외` or ` 등` as a word of its own.
fn others_after(hay: &str, i: usize) -> bool {
    let rest = hay.get(i..).unwrap_or_default();
    [" 외", " 등"].iter().any(|w| {
        rest.strip_prefix(w)
            .is_some_and(|r| r.chars().next().is_none_or(|c| !is_hangul_syllable(c)))
    })
}

/// Whether a word before a name is a department (`인사팀`, `고객지원센터`, `전략기획실`, `학생처`): a team, centre,
/// division, group, office or bureau word that is itself no name (`김민실` is one).
fn department(w: &str) -> bool {
    let n = w.chars().count();
    (2..=8).contains(&n)
        && ["팀", "센터", "본부", "그룹", "실", "처"]
            .iter()
            .any(|x| w.ends_with(x) && w.len() > x.len())
        && !ko_name(w)
}

/// Where a label's value starts after its `:` at `colon`: past at most seven blanks and quotes.
fn value_start(b: &[u8], colon: usize) -> usize {
    let mut ns = colon + 1;
    while ns < b.len() && ns - colon < 8 && matches!(b[ns], b' ' | b'"' | b'\'') {
        ns += 1;
    }
    ns
}

/// The English colon label of [`EN_COLON_LABELS`] that ends at `end` (a whole word, any case), if any.
fn en_label_before(b: &[u8], end: usize) -> Option<(&'static str, EnLabel)> {
    EN_COLON_LABELS.iter().copied().find(|(l, _)| {
        end.checked_sub(l.len()).is_some_and(|s| {
            b[s..end].eq_ignore_ascii_case(l.as_bytes())
                && (s == 0 || !(b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_'))
        })
    })
}

/// What an English colon label of [`EN_COLON_LABELS`] is followed by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EnLabel {
    /// One name.
    One,
    /// Names separated by commas.
    List,
    /// A mail header: a display name before an address in angle brackets.
    Mail,
}

/// English form labels whose value is a person's name (compared case-insensitively, as whole words before `:`).
/// `Name`, `Customer`, `Patient`, `Employee` and `Applicant` are the regex union's (trigger literals).
const EN_COLON_LABELS: &[(&str, EnLabel)] = &[
    ("account holder", EnLabel::One),
    ("account name", EnLabel::One),
    ("beneficiary", EnLabel::One),
    ("tenant", EnLabel::One),
    ("landlord", EnLabel::One),
    ("emergency contact", EnLabel::One),
    ("contact person", EnLabel::One),
    ("next of kin", EnLabel::One),
    ("candidate", EnLabel::One),
    ("interviewee", EnLabel::One),
    ("bill to", EnLabel::One),
    ("ship to", EnLabel::One),
    ("sold to", EnLabel::One),
    ("spouse", EnLabel::One),
    ("guest", EnLabel::One),
    ("passenger", EnLabel::One),
    ("traveler", EnLabel::One),
    ("traveller", EnLabel::One),
    ("cardholder", EnLabel::One),
    ("card holder", EnLabel::One),
    ("policyholder", EnLabel::One),
    ("policy holder", EnLabel::One),
    ("insured", EnLabel::One),
    ("recipient", EnLabel::One),
    ("payee", EnLabel::One),
    ("borrower", EnLabel::One),
    ("guarantor", EnLabel::One),
    ("student", EnLabel::One),
    ("author", EnLabel::One),
    ("reported by", EnLabel::One),
    ("requested by", EnLabel::One),
    ("approved by", EnLabel::One),
    ("prepared by", EnLabel::One),
    ("complainant", EnLabel::One),
    ("plaintiff", EnLabel::One),
    ("defendant", EnLabel::One),
    ("witness", EnLabel::One),
    ("reviewer", EnLabel::One),
    ("approver", EnLabel::One),
    ("manager", EnLabel::One),
    ("line manager", EnLabel::One),
    ("supervisor", EnLabel::One),
    ("assignee", EnLabel::One),
    ("reviewed by", EnLabel::One),
    ("submitted by", EnLabel::One),
    ("signed by", EnLabel::One),
    ("reviewers", EnLabel::List),
    ("approvers", EnLabel::List),
    ("attendees", EnLabel::List),
    ("participants", EnLabel::List),
    ("guests", EnLabel::List),
    ("signed-off-by", EnLabel::Mail),
    ("co-authored-by", EnLabel::Mail),
    ("from", EnLabel::Mail),
    ("to", EnLabel::Mail),
    ("cc", EnLabel::Mail),
    ("bcc", EnLabel::Mail),
    ("reply-to", EnLabel::Mail),
];

/// Whether the line holding `label_start..end` is in a mail header block: the line before or after it opens with
/// another header label and its colon (`From:`, `Sent:`, `To:`, `Cc:`, `Subject:`, `Date:`).
fn mail_header_block(b: &[u8], label_start: usize, end: usize) -> bool {
    const HEADERS: [&[u8]; 6] = [b"from:", b"sent:", b"to:", b"cc:", b"subject:", b"date:"];
    let opens = |l: &[u8]| {
        HEADERS
            .iter()
            .any(|h| l.len() >= h.len() && l[..h.len()].eq_ignore_ascii_case(h))
    };
    let next = b[end..]
        .iter()
        .position(|&c| c == b'\n')
        .map(|i| &b[end + i + 1..]);
    if next.is_some_and(opens) {
        return true;
    }
    let Some(prev_end) = b[..label_start].iter().rposition(|&c| c == b'\n') else {
        return false;
    };
    let prev_start = b[..prev_end]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    opens(&b[prev_start..prev_end])
}

/// The end of two or three capitalised words at `at` (`Maria Lopez`, `Robert J. Chen`, `Jean-Luc O'Brien`, `JOHN SMITH`), one space
/// between them; `None` when fewer than two.
fn en_name_end(b: &[u8], at: usize) -> Option<usize> {
    let mut e = at;
    let mut words = 0;
    let mut initial = false;
    while words < 3 {
        let w = if words == 0 { e } else { e + 1 };
        if words > 0 && b.get(e) != Some(&b' ') {
            break;
        }
        if !b.get(w).is_some_and(u8::is_ascii_uppercase) {
            break;
        }
        // One middle initial after the first word (`Robert J. Chen`).
        if words == 1 && !initial && b.get(w + 1) == Some(&b'.') && b.get(w + 2) == Some(&b' ') {
            initial = true;
            e = w + 2;
            continue;
        }
        let len = b[w..]
            .iter()
            .take(24)
            .take_while(|&&c| c.is_ascii_alphabetic() || c == b'\'' || c == b'-')
            .count();
        if len < 2 || b.get(w + len).is_some_and(|c| c.is_ascii_alphanumeric()) {
            break;
        }
        e = w + len;
        words += 1;
    }
    (words >= 2).then_some(e)
}

/// The end of the run of Hangul syllables at `from` (at most `max` of them); `from` when there is none.
fn hangul_run_end(hay: &str, from: usize, max: usize) -> usize {
    hay.get(from..)
        .unwrap_or("")
        .char_indices()
        .take(max)
        .take_while(|&(_, c)| is_hangul_syllable(c))
        .last()
        .map_or(from, |(k, c)| from + k + c.len_utf8())
}

/// Whether `last` is the last syllable of a label of [`PERSON_COLON_LABELS`] or [`SPACED_LABELS`] (a test keeps
/// them in step).
fn label_last_syllable(last: &str) -> bool {
    matches!(
        last,
        "인" | "자"
            | "람"
            | "분"
            | "명"
            | "사"
            | "원"
            | "생"
            | "표"
            | "객"
            | "신"
            | "름"
            | "함"
            | "주"
            | "의"
            | "처"
            | "친"
            | "지"
            | "니"
            | "조"
    )
}

/// A label of [`builtin::PERSON_LABELS`] ending at `end`, also with `명` after it (`담당자명`): its start, as a strong
/// label. The regex union reads the first name after it; the colon scanner reads it again for a department before
/// the name and a list after it (the same first name twice is one finding after overlaps are resolved).
pub(super) fn person_label(b: &[u8], end: usize) -> Option<(usize, bool)> {
    let before = &b[..end];
    let before = before.strip_suffix("명".as_bytes()).unwrap_or(before);
    builtin::PERSON_LABELS.iter().find_map(|l| {
        if b[..end].ends_with(l.as_bytes()) {
            Some((end - l.len(), true))
        } else {
            before
                .ends_with(l.as_bytes())
                .then(|| (before.len() - l.len(), true))
        }
    })
}

/// Name labels that forms align by spacing their syllables out (`성    명:`, `이  름:`, `성 명 :`); as written
/// without spaces, the regex union (`성명:`) or [`PERSON_COLON_LABELS`] read them.
const SPACED_LABELS: &[&str] = &[
    "성명",
    "이름",
    "성함",
    "예금주",
    "수신인",
    "신청인",
    "작성자",
    "담당자",
    "보호자",
];

/// A label of [`SPACED_LABELS`] or [`PERSON_COLON_LABELS`] ending at `end` with spaces between its syllables (one to
/// six at each gap, at least one gap spaced): its start, and that it is a strong label.
fn spaced_label(hay: &str, end: usize) -> Option<(usize, bool)> {
    let b = hay.as_bytes();
    // Most colons after a label syllable have no space before that syllable: done in one compare.
    if end < 4 || b[end - 4] != b' ' {
        return None;
    }
    let mut syllables = [(0usize, ' '); 4];
    let mut n = 0;
    let mut at = end;
    let mut spaced = false;
    while n < 4 {
        let c = hay[..at]
            .chars()
            .next_back()
            .filter(|&c| is_hangul_syllable(c))?;
        at -= 3;
        syllables[n] = (at, c);
        n += 1;
        let gap = b[..at]
            .iter()
            .rev()
            .take(7)
            .take_while(|&&x| x == b' ')
            .count();
        if gap == 0 || gap > 6 {
            break;
        }
        if !hay[..at - gap]
            .chars()
            .next_back()
            .is_some_and(is_hangul_syllable)
        {
            break;
        }
        spaced = true;
        at -= gap;
    }
    if !spaced {
        return None;
    }
    (2..=n).find_map(|k| {
        // The last `k` syllables in order, without the spaces (each syllable is 3 bytes of UTF-8).
        let mut word = [0u8; 12];
        for (i, &(_, c)) in syllables[..k].iter().rev().enumerate() {
            c.encode_utf8(&mut word[3 * i..3 * i + 3]);
        }
        let word = &word[..3 * k];
        let known = SPACED_LABELS.iter().any(|l| l.as_bytes() == word)
            || builtin::PERSON_COLON_LABELS
                .iter()
                .any(|&(l, strong)| strong && l.as_bytes() == word);
        known.then_some((syllables[k - 1].0, true))
    })
}

/// Whether the `@` at `at` ends a URL's userinfo: a `://` earlier in the same token with no `/` after it
/// (`ftp://kim:Ftp!4986pass@host`, a Sentry DSN `https://<key>@o1.ingest.sentry.io`), where the address rule would
/// take the password's tail for a local part.
fn in_url_authority(b: &[u8], at: usize) -> bool {
    url_scheme_before(b, at).is_some_and(|p| !b[p..at].contains(&b'/'))
}

/// The secret access key written after an AWS access key id that ends at `e`, on the same line: the first run of
/// base64 characters (`A-Za-z0-9/+`) that is exactly 40 long and mixes capitals, small letters and digits, when
/// only words, blanks, punctuation, one line break and Hangul lie between (`AKIA… secret wJalr…`, `AKIA… / wJalr…`,
/// `AKIA…, 시크릿 키: wJalr…`, a console CSV's `AKIA…,wJalr…`, the console's two lines), at most [`AWS_SECRET_GAP`]
/// bytes. Any other number or value in between (a digit in
/// a shorter run, another long run) ends the search: that value is what follows the id.
pub(super) fn aws_secret_after(b: &[u8], e: usize) -> Option<(usize, usize)> {
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
    let limit = e.saturating_add(AWS_SECRET_GAP).min(b.len());
    let mut i = e;
    let mut newline = false;
    while i < limit {
        let c = b[i];
        if b64(c) {
            let ts = i;
            while i < b.len() && b64(b[i]) {
                i += 1;
            }
            let t = &b[ts..i];
            if t.len() == 40
                && t.iter().any(u8::is_ascii_uppercase)
                && t.iter().any(u8::is_ascii_lowercase)
                && t.iter().any(u8::is_ascii_digit)
            {
                return Some((ts, i));
            }
            // A word (`secret`, `and`), or a slash between the two (`AKIA… / wJalr…`).
            let word = t.len() <= 24 && t.iter().all(u8::is_ascii_alphabetic);
            if !word && !t.iter().all(|&c| c == b'/' || c == b'+') {
                return None;
            }
            continue;
        }
        match c {
            b' ' | b'\t' | b':' | b'=' | b',' | b';' | b'|' | b'"' | b'\'' | b'-' | b'_' | b'('
            | b')' | b'[' | b']' | b'\r' => i += 1,
            // The next line (`Access key ID: AKIA…` over `Secret access key: wJalr…`), not past a blank one.
            b'\n' if !newline => {
                newline = true;
                i += 1
            }
            // A Hangul syllable (`시크릿`, `비밀 키`).
            0xEA..=0xED if b.get(i + 1).is_some_and(|&x| (0x80..0xC0).contains(&x)) => i += 3,
            _ => return None,
        }
    }
    None
}

/// How far after an AWS access key id its secret access key may begin ([`aws_secret_after`]).
const AWS_SECRET_GAP: usize = 48;

/// The offset right after the last `://` of the token that ends at `at` (the non-blank run before it, not past a
/// quote or an opening bracket, at most 300 bytes back): whether `at` lies inside a URL (`https://o1.sentry.io/4504…`).
pub(super) fn url_scheme_before(b: &[u8], at: usize) -> Option<usize> {
    let from = at.saturating_sub(300);
    let token_start = b[from..at]
        .iter()
        .rposition(|&c| c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'(' | b'['))
        .map_or(from, |i| from + i + 1);
    memchr::memmem::rfind(&b[token_start..at], b"://").map(|p| token_start + p + 3)
}

/// Whether the token that ends at the `@` at `at` has the shape of a known API token (`ghp_…`, `github_pat_…`,
/// `sk-…`, `xoxb-…`, `glpat-…`) with a random body (a digit and a run of 16 between hyphens:
/// `sk-marketing-2024@…` is an address): a secret in a URL's userinfo, not an address's local part. Walks back over
/// token bytes only (at most 300).
fn token_local(b: &[u8], at: usize) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"ghp_",
        b"gho_",
        b"ghu_",
        b"ghs_",
        b"ghr_",
        b"github_pat_",
        b"sk-",
        b"glpat-",
        b"xoxa-",
        b"xoxb-",
        b"xoxp-",
        b"xoxo-",
        b"xoxs-",
        b"xoxr-",
    ];
    let from = at.saturating_sub(300);
    let start = b[from..at]
        .iter()
        .rposition(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
        .map_or(from, |i| from + i + 1);
    let token = &b[start..at];
    PREFIXES.iter().any(|p| token.starts_with(p))
        && token.iter().any(u8::is_ascii_digit)
        && token.split(|&c| c == b'-').any(|run| run.len() >= 16)
}

/// Internationalised top-level domains an address may end in (Korea's first, then the largest others): a domain's
/// last label is otherwise ASCII letters.
const IDN_TLDS: &[&str] = &[
    "한국",
    "닷컴",
    "닷넷",
    "삼성",
    "中国",
    "中國",
    "公司",
    "网络",
    "香港",
    "台灣",
    "台湾",
    "рф",
    "みんな",
];

/// Where an address's local part starts when letters outside ASCII come before the ASCII part that starts at `s`
/// (SMTPUTF8 addresses: `müller@bücher.de`, `홍길동@회사.한국`): Latin letters (U+00C0–U+024F) carry an ASCII local
/// part on; letters of any script make one only when no ASCII stands right before the `@` (`s == at`), so Hangul
/// glued to an ASCII address (`메일은kim@naver.com`) stays out of it. At most 64 bytes, not before `floor`. Such a
/// local part of other letters is at most [`MAX_UNICODE_LOCAL`] of them, set off from what comes before by a
/// non-letter, and a Hangul one is a name ([`person_ko_ok`]): glued text (`이메일은홍길동@…`, Chinese or Japanese without
/// spaces) has no visible start, and words before a domain (`3층@대회의실.한국`) are no mailbox (letters and dots only). Else `s` (no change).
fn unicode_local_start(hay: &str, s: usize, at: usize, floor: usize) -> usize {
    let any = s == at;
    let Some(before) = hay.get(floor..s) else {
        return s;
    };
    let mut start = s;
    let mut letters = 0;
    for (i, c) in before.char_indices().rev() {
        let ok = if c.is_ascii() {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-')
        } else if any {
            c.is_alphabetic() || combining_mark(c)
        } else {
            (matches!(c, '\u{C0}'..='\u{24F}') && c.is_alphabetic()) || combining_mark(c)
        };
        if !ok || at - (floor + i) > 64 {
            break;
        }
        letters += usize::from(!c.is_ascii());
        start = floor + i;
    }
    if any {
        let local = &hay[start..at];
        let glued = hay[..start]
            .chars()
            .next_back()
            .is_some_and(char::is_alphabetic);
        let hangul_name = !local.chars().all(is_hangul_syllable) || person_ko_ok(local);
        let words = local
            .chars()
            .all(|c| c.is_alphabetic() || c == '.' || combining_mark(c));
        if letters > MAX_UNICODE_LOCAL || glued || !hangul_name || !words {
            return s;
        }
    }
    start
}

/// Most letters outside ASCII in a local part made of them ([`unicode_local_start`]).
const MAX_UNICODE_LOCAL: usize = 6;

/// A combining diacritical mark (U+0300–U+036F): part of a letter in decomposed text (`u` + U+0308 for `ü`).
fn combining_mark(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36F}')
}

fn email_domain_ok(d: &[u8]) -> bool {
    let Some(dot) = d.iter().rposition(|&c| c == b'.') else {
        return false;
    };
    let tld = &d[dot + 1..];
    // File names (`icon@2x.png`, `report@v2.pdf`) have the shape of an address; these extensions are not top-level
    // domains (`.zip`, `.mov`, `.md` and `.py` are, so they stay). Compared in lower case as one `match` (a loop of
    // case-insensitive compares over the list was half of an address's cost).
    let file_extension = |t: &[u8]| {
        let mut lower = [0u8; 4];
        (3..=4).contains(&t.len()) && {
            for (l, c) in lower.iter_mut().zip(t) {
                *l = c.to_ascii_lowercase();
            }
            matches!(
                &lower[..t.len()],
                b"png"
                    | b"jpg"
                    | b"jpeg"
                    | b"gif"
                    | b"webp"
                    | b"svg"
                    | b"bmp"
                    | b"ico"
                    | b"tif"
                    | b"tiff"
                    | b"avif"
                    | b"heic"
                    | b"pdf"
                    | b"doc"
                    | b"docx"
                    | b"xls"
                    | b"xlsx"
                    | b"ppt"
                    | b"pptx"
                    | b"txt"
                    | b"csv"
                    | b"hwp"
                    | b"hwpx"
                    | b"log"
                    | b"json"
            )
        }
    };
    // An internationalised top-level domain is ASCII letters, one of [`IDN_TLDS`], or its Punycode form
    // (`xn--3e0b707e`, which is `한국`).
    let punycode = |t: &[u8]| {
        t.len() <= 24
            && t.strip_prefix(b"xn--").is_some_and(|r| {
                !r.is_empty()
                    && r.iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    };
    ((2..=24).contains(&tld.len()) && tld.iter().all(u8::is_ascii_alphabetic)
        || IDN_TLDS.iter().any(|t| t.as_bytes() == tld)
        || punycode(tld))
        && !file_extension(tld)
        // A first label may start with a letter outside ASCII (`네이버.com`: the scanner admits only letters there).
        && d.first().is_some_and(|c| c.is_ascii_alphanumeric() || *c >= 0x80)
        && !d.windows(2).any(|w| w == b"..")
}

/// Korean name sanity: 2–4 syllables, a given name made of given-name syllables (after a one- or two-syllable
/// surname), not a role/kinship word or a common noun followed by a particle.
pub(super) fn person_ko_ok(name: &str) -> bool {
    // The syllables, decoded once (this runs for every honorific hit): 2–4 of them, nothing else.
    let mut syl = ['\0'; 4];
    let mut n = 0;
    for c in name.chars() {
        if n == syl.len() || !is_hangul_syllable(c) {
            return false;
        }
        syl[n] = c;
        n += 1;
    }
    if n < 2 {
        return false;
    }
    let (first, last) = (syl[0], syl[n - 1]);
    let given = |skip: usize| n > skip && syl[skip..n].iter().all(|&c| GIVEN.contains(c));
    let two_syllable_surname = n >= 3 && two_syllable_surname_first(name);
    if !(given(1) || (two_syllable_surname && given(2))) {
        return false;
    }
    // Every char is a 3-byte Hangul syllable (checked above).
    let syllables = |from: usize, to: usize| name.get(from * 3..to * 3).unwrap_or("");
    if n == 4 && !two_syllable_surname {
        // A three-syllable given name (유빛나리, 김마리아, 김다니엘) is rare; a noun compound before an honorific
        // (서울지점, 방문상담) or a three-syllable name plus a particle (김민수가) is not.
        if PARTICLES.contains(&last) || stop_word(syllables(0, 2)) || stop_word(syllables(2, 4)) {
            return false;
        }
    }
    // Most names share no first syllable with any stop word (this runs for every honorific hit).
    if !STOP_FIRST.contains(first) {
        return true;
    }
    if stop_word(name) {
        return false;
    }
    if n == 3 {
        // A stop word plus a particle (`이번에`, `정보를`). 은 and 이 only where they can be particles (after a
        // final consonant: `상황은`, `사항이`, never `부하은`) and not after a common surname: they end many given
        // names, and 이상은, 유지은, 최고은 are names far more often than 이상 + 은.
        if stop_word(syllables(0, 2))
            && PARTICLES.contains(&last)
            && (!matches!(last, '은' | '이')
                || (has_final_consonant(syl[1]) && !common_surname(name)))
        {
            return false;
        }
        // A role or word plus an office (`사장실`, `연구소`, `관리과`).
        if stop_word(syllables(0, 2)) && OFFICE_ENDINGS.contains(&last) {
            return false;
        }
    }
    true
}

/// A role label's colon heading a line of dialogue, not a name field (`상담원: 성함이 어떻게 되세요?`, `수신: 우선
/// 확인해 볼게요`, `신청인: 방금 보냈습니다`): the label ends at a colon between `s` (its start) and the name-shaped
/// word `ns..ne`, and on the word's line another word follows it (after a particle or ending, `서명이 필요합니다`,
/// or alone, `방금 문자 보내드렸어요.`) and the line ends as a sentence (`다`, `요`, `까`, `죠`, `네` before the
/// closing punctuation, or a `?`/`!`). A title or honorific as that next word keeps the name (`담당자: 김민수
/// 과장입니다`, `김민수님`), as does any line that does not end as a sentence (`담당자: 김민수 (내선 1234)`,
/// `예금주: 김민수 국민은행`). The name labels themselves (`성명`, `이름`, `성함`, `고객명`, `성명(한글)`) are
/// fields, never dialogue.
pub(super) fn dialogue_after_label(hay: &str, s: usize, ns: usize, ne: usize) -> bool {
    let Some(between) = hay.get(s..ns) else {
        return false;
    };
    let Some(c) = between.find([':', '：']) else {
        return false;
    };
    let label = between[..c].trim_end_matches([' ', '"', '\'']);
    let label = label
        .split('(')
        .next()
        .unwrap_or(label)
        .trim_end_matches(' ');
    if label.ends_with(['명', '름', '함']) {
        return false;
    }
    let b = hay.as_bytes();
    let line_end = memchr::memchr(b'\n', &b[ne..]).map_or(b.len(), |i| ne + i);
    let Some(line) = hay.get(ne..line_end) else {
        return false;
    };
    let line = line.trim_end_matches('\r');
    let hangul_end = |t: &str| {
        t.char_indices()
            .find(|&(_, ch)| !is_hangul_syllable(ch))
            .map_or(t.len(), |(i, _)| i)
    };
    let attached = &line[..hangul_end(line)];
    if attached.starts_with(['님', '씨']) {
        return false;
    }
    let after = &line[attached.len()..];
    let spaced = after.trim_start_matches(' ');
    if spaced.len() == after.len() {
        return false;
    }
    let word = &spaced[..hangul_end(spaced)];
    if word.is_empty()
        || (attached.is_empty()
            && (builtin::PERSON_SUFFIXES.iter().any(|t| word.starts_with(t))
                || word.starts_with("귀하")))
    {
        return false;
    }
    let tail = line.trim_end_matches([' ', '.', '!', '?', '~', '…', ')', '"', '\'']);
    line.contains(['?', '!'])
        || tail
            .chars()
            .next_back()
            .is_some_and(|ch| matches!(ch, '다' | '요' | '까' | '죠' | '네'))
}

/// Last syllables of offices and departments (`사장실`, `연구소`, `인사팀`, `총무과`, `학생처`): after a stop word
/// (`사장`, `연구`), a three-syllable word ending in one is that office, not a name.
const OFFICE_ENDINGS: &[char] = &['실', '소', '팀', '과', '처', '단', '청'];

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
        '가', '만', '예',
    ];
    let run = &t[start..];
    // A surname first (`통계청`, `토스` are no names): one test for every length tried below.
    if !surname_first(run) {
        return None;
    }
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
        // `예` (`곽도영예요`) only after three syllables: 김지예 is a name.
        let particle_end = k > 2
            && name.chars().next_back().is_some_and(|c| {
                matches!(
                    c,
                    '가' | '를' | '을' | '는' | '의' | '에' | '께' | '와' | '과'
                ) || (k == 4 && c == '예')
            });
        // A surname first; a two-syllable value (`시청`, `국회`, `당근`, `예스`: offices, brands and words far more
        // often than a one-syllable given name) only after one of the commonest. Asked last: a length whose next
        // syllable is no particle (most of them) costs no name check.
        (next_ok && !particle_end && person_ko_ok(name) && (k > 2 || common_surname(name)))
            .then_some((start, start + k * 3))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file name's extension in any case is no top-level domain; every other shape of one is unchanged.
    #[test]
    fn email_domains_and_file_extensions() {
        for (d, ok) in [
            ("example.co.kr", true),
            ("example.com", true),
            ("mail.example.comx", true),
            ("2x.png", false),
            ("2x.PNG", false),
            ("v2.JPEG", false),
            ("v2.Json", false),
            ("files.zip", true),
            ("회사.한국", true),
            ("a..com", false),
            ("nodot", false),
        ] {
            assert_eq!(email_domain_ok(d.as_bytes()), ok, "{d}");
        }
    }

    #[test]
    fn every_label_passes_the_label_gate() {
        let mut labels: Vec<String> = PHONE_LABELS_CJK.iter().map(|l| l.to_string()).collect();
        for l in PHONE_LABELS_EN {
            labels.push(l.to_string());
            labels.push(l.to_ascii_uppercase());
        }
        labels.push("뒷자리".into());
        for l in &labels {
            for sep in ["", " ", ": ", ":", " # ", "="] {
                let text = format!("앞 {l}{sep}2127364821");
                let t = text.len() - 10;
                // A label of one or two letters (`T`, `Ph`) is a label only with its colon; bare, it is any word's
                // last letters. The gate may still let it through when a longer label ends in the same letter; the
                // phone label test then refuses it.
                let short = l.len() <= SHORT_LABEL && l.is_ascii();
                if !short || sep.starts_with(':') {
                    assert!(label_may_end_before(text.as_bytes(), t), "{text}");
                } else {
                    assert_eq!(phone_label_before(text.as_bytes(), t), None, "{text}");
                }
            }
        }
        // A qualifier in brackets before the colon (`Phone (mobile): `); without the colon it is prose.
        for text in [
            "Phone (mobile): 2127364821",
            "Tel (office):2127364821",
            "Contact number (JP mobile): 2127364821",
            "전화(미국): 2127364821",
            "Ph (cell): 2127364821",
        ] {
            let t = text.len() - 10;
            assert!(label_may_end_before(text.as_bytes(), t), "{text}");
            assert!(phone_label_before(text.as_bytes(), t).is_some(), "{text}");
        }
        for not in [
            "(mobile): 2127364821",
            "Phone (mobile) 2127364821",
            "Phone (2024): 2127364821",
            "see (mobile): 2127364821",
            "Phone (this qualifier is far too long): 2127364821",
        ] {
            let t = not.len() - 10;
            assert_eq!(phone_label_before(not.as_bytes(), t), None, "{not}");
        }
        // Ordinary words before a number are refused.
        for not in ["결과 3개", "2024년 3월", "약 15%", "방법으로 3번"] {
            let t = not.find(|c: char| c.is_ascii_digit()).unwrap();
            assert!(!label_may_end_before(not.as_bytes(), t), "{not}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// What `Engine::number_after_label` can take at a digit run (a phone number after its label or in a phone
        /// column, `phone_span`; a resident number's seven-digit back part) has the shape `numeric_shape` admits, so
        /// the trigger pass asks for the labels only at runs of that shape.
        #[test]
        fn labelled_numbers_are_shaped(
            text in proptest::collection::vec(
                proptest::sample::select(&["0", "1", "7", "9", "-", ".", " ", "(", ")", "%", "/", "_", "a", "가", "\n"][..]),
                0..40,
            ),
        ) {
            let text = text.concat();
            let b = text.as_bytes();
            for t in 0..b.len() {
                if !b[t].is_ascii_digit() || (t > 0 && b[t - 1].is_ascii_digit()) {
                    continue;
                }
                let back_part = b[t..].iter().take_while(|c| c.is_ascii_digit()).count() == 7;
                if phone_span(b, t).is_some() || back_part {
                    proptest::prop_assert!(super::super::numeric_shape(b, t), "{:?} at {}", text, t);
                }
            }
        }
    }

    #[test]
    fn dotted_continuation_implies_every_test_false() {
        for before in [
            "",
            " ",
            "v",
            "Tel ",
            "Tel: ",
            "전화 ",
            "테헤란로 ",
            "|",
            ",",
            "\t",
            "ver",
            "No",
            "M",
            "GB",
        ] {
            for d in b'0'..=b'9' {
                for n in ["", "1", "12."] {
                    let text = format!("{before}{n}{}.2127364821", char::from(d));
                    let (b, t) = (text.as_bytes(), text.len() - 10);
                    assert!(after_digit_dot(b, t), "{text}");
                    assert!(
                        !road_suffix_before(b, t)
                            && !label_may_end_before(b, t)
                            && !cell_start(b, t),
                        "{text}"
                    );
                }
            }
        }
        for text in ["a.1", ".1", "1 .1", "1.", "1..1", "x1.1"] {
            let Some(t) = text.rfind(|c: char| c.is_ascii_digit()) else {
                continue;
            };
            assert_eq!(
                after_digit_dot(text.as_bytes(), t),
                text == "x1.1",
                "{text}"
            );
        }
    }

    /// [`after_plain_syllable`] is true only where the tests it lets the trigger pass skip are all false: every
    /// Hangul syllable, right before a digit run or one blank before it, after each kind of byte a label, a cell or a
    /// road name could put before it; and it is true for every syllable that is neither a road name's nor a label's
    /// last (the gate is exact for these shapes, not just safe).
    #[test]
    fn quiet_syllable_implies_every_test_false() {
        let mut quiet = 0;
        for cp in 0xAC00u32..=0xD7A3 {
            let c = char::from_u32(cp).unwrap();
            for before in ["", " ", "|", ",", ":", "전화", "Tel", "뒷자", "테헤란"] {
                for blank in ["", " "] {
                    let text = format!("{before}{c}{blank}2127364821");
                    let (b, t) = (text.as_bytes(), text.len() - 10);
                    let road = road_suffix_before(b, t);
                    let label = label_may_end_before(b, t);
                    if after_plain_syllable(b, t) {
                        quiet += 1;
                        assert!(!road && !label && !cell_start(b, t), "{text}");
                        // The two bytes before the run: a syllable's inner bytes, or its last and the blank.
                        for (p, &c) in b.iter().enumerate().take(t).skip(t - 2) {
                            assert!(!text.is_char_boundary(p) || c == b' ', "{text}");
                        }
                    } else {
                        assert!(road || label, "{text}");
                    }
                }
            }
        }
        assert!(quiet > 11_000 * 18, "{quiet}");
        // Not a syllable before the run: the gate says nothing.
        for text in [
            "ㄱ 1234",
            "a 1234",
            "電 1234",
            "| 1234",
            "1234",
            " 1234",
            "가  1234",
            r"\uAC00 1234",
        ] {
            let t = text.find(|c: char| c.is_ascii_digit()).unwrap();
            assert!(!after_plain_syllable(text.as_bytes(), t), "{text}");
        }
    }

    #[test]
    fn final_consonants_decide_the_particle() {
        for c in ['황', '항', '상', '각', '힣'] {
            assert!(has_final_consonant(c), "{c}");
        }
        for c in ['하', '가', '보', '히', 'a', '1'] {
            assert!(!has_final_consonant(c), "{c}");
        }
        // A stop word and a particle that fits it is the word; one that cannot follow it is a name.
        assert!(!person_ko_ok("상황은"));
        assert!(!person_ko_ok("사항이"));
        assert!(person_ko_ok("부하은"));
        assert!(person_ko_ok("이상은"));
    }

    #[test]
    fn stop_word_keys_equal_the_list() {
        for w in PERSON_STOPLIST {
            assert!(stop_word(w), "{w}");
            // A word one byte shorter or longer is another word.
            assert_eq!(
                stop_word(&w[..w.len() - 3]),
                PERSON_STOPLIST.contains(&&w[..w.len() - 3])
            );
            let longer = format!("{w}요");
            assert_eq!(
                stop_word(&longer),
                PERSON_STOPLIST.contains(&longer.as_str())
            );
        }
        for w in [
            "",
            "김민수",
            "홍길동님",
            "가나다라마바사아자차",
            "가나다라마",
            "가나다라마a",
        ] {
            assert_eq!(stop_word(w), PERSON_STOPLIST.contains(&w), "{w}");
        }
    }

    #[test]
    fn two_syllable_surname_words_equal_starts_with() {
        for s in [
            "남궁민수",
            "황보",
            "제갈공명님",
            "선우",
            "독고영재",
            "사공",
            "서문",
            "동방",
            "남",
            "남궁",
            "김민수",
            "남궁\u{0}",
            "",
            "ab",
            "황보a",
            "서울",
            "동생",
            "Namgung",
        ] {
            let want = TWO_SYLLABLE_SURNAMES.iter().any(|x| s.starts_with(x));
            assert_eq!(two_syllable_surname_first(s), want, "{s}");
        }
    }

    #[test]
    fn english_names_have_two_or_three_capitalised_words() {
        for name in [
            "John Smith",
            "Mary O'Brien",
            "Jean-Luc Picard",
            "Ronald McDonald",
            "John J. Smith",
            "Vincent van Gogh",
            "José García",
            "Li Wei",
            "DeShawn Jackson",
            "Anne-Marie Smith-Jones",
            "Seán O’Neill",
            "Jose\u{301} Garci\u{301}a",
        ] {
            assert!(person_en_ok(name), "{name}");
        }
        for not in [
            "Smith",
            "john smith",
            "JOHN SMITH",
            "iPhone 15 Pro",
            "Acme Corp",
            "Total Amount",
            "Not Available",
            "web-01",
            "report.pdf",
            "max_tokens",
            "J. Smith",
            "John Smith J.",
            "van Gogh",
            "John  Smith",
            "John Smith Jr Esq",
            "Test User",
            "A B",
            "John Smith2",
            "McDONALD Smith",
            "O' Brien",
            "Base Url",
            "Standing Desk",
        ] {
            assert!(!person_en_ok(not), "{not}");
        }
    }

    #[test]
    fn road_addresses_are_read_back_from_the_house_number() {
        assert!(builtin::KR_DISTRICTS.windows(2).all(|w| w[0] < w[1]));
        fn span(text: &str) -> Option<&str> {
            let t = text.find(|c: char| c.is_ascii_digit()).unwrap();
            road_address_span(text, t).map(|(s, e)| &text[s..e])
        }
        assert_eq!(span("주소: 강남구 테헤란로 427호"), None); // a unit after the number
        assert_eq!(
            span("주소: 강남구 테헤란로 427"),
            Some("강남구 테헤란로 427")
        );
        assert_eq!(
            span("성남시 분당구 판교역로 166, 판교"),
            Some("성남시 분당구 판교역로 166")
        );
        assert_eq!(span("연구 결과로 3 가지"), Some("결과로 3")); // no district: scored low, needs a keyword
        assert_eq!(
            span("서울 강남구 테헤란로 12-3"),
            Some("강남구 테헤란로 12-3")
        );
        assert_eq!(span("판교로 43번길 12"), Some("판교로 43번길 12"));
        assert_eq!(span("분당로43번길 7"), Some("분당로43번길 7"));
        assert_eq!(span("기준으로 10"), None);
        assert_eq!(span("가로 3.5"), None);
        assert_eq!(span("로 5"), None);
        assert_eq!(span("서초구테헤란로 5"), Some("서초구테헤란로 5")); // one word: no district leads
    }

    #[test]
    fn the_not_name_words_are_sorted_for_binary_search() {
        assert!(EN_NOT_NAME_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(EN_NOT_NAME_WORDS
            .windows(2)
            .all(|w| w[0].to_ascii_lowercase() < w[1].to_ascii_lowercase()));
        assert!(en_not_name_word("CORP") && en_not_name_word("corp") && !en_not_name_word("Smith"));
        assert!(SALUTATION_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(salutation_name_ok("John") && salutation_name_ok("Min-jun"));
        assert!(
            !salutation_name_ok("Sir") && !salutation_name_ok("All") && !salutation_name_ok("Team")
        );
    }

    #[test]
    fn an_english_header_cell_may_carry_a_qualifier() {
        let at = |before: &str| en_qualifier_start(before.as_bytes());
        assert_eq!(at("| Full "), (2, Label::Full));
        assert_eq!(at("id,customer_"), (3, Label::Full));
        assert_eq!(at("\"Patient"), (1, Label::Full));
        assert_eq!(at("Contact "), (0, Label::Full));
        assert_eq!(at("| "), (2, Label::Full));
        // A name part's label: its column may hold single words.
        assert_eq!(at("| Sur"), (2, Label::Part));
        assert_eq!(at("id,first_"), (3, Label::Part));
        assert_eq!(at("Last "), (0, Label::Part));
        assert_eq!(at("\"Given"), (1, Label::Part));
        // Not a qualifier: the cell keeps its other word, so `Name` does not fill it.
        assert_eq!(at("| File "), (7, Label::Full));
        assert_eq!(at("| Superfull "), (12, Label::Full));
        assert_eq!(at("| User"), (6, Label::Full));
    }

    #[test]
    fn name_part_labels_and_first_cells() {
        for l in [
            "First Name",
            "first_name",
            "LastName",
            "SURNAME",
            "Given Name",
            "family-name",
        ] {
            assert!(part_label(l.as_bytes()), "{l}");
        }
        for l in ["Name", "Full Name", "Username", "First", "Surnames"] {
            assert!(!part_label(l.as_bytes()), "{l}");
        }
        assert_eq!(part_labels(b"id,First Name,\"Last Name\",Name", b','), 2);
        assert_eq!(part_labels(b"| First Name | Email |", b'|'), 1);
        assert_eq!(part_labels(b"first_name\tlast_name", b'\t'), 2);
        let cell = |line: &str, sep: u8| {
            let (s, e) = first_cell(line.as_bytes(), sep);
            line[s..e].to_owned()
        };
        assert_eq!(cell("\"Last Name\", x", b','), "Last Name");
        assert_eq!(cell(" | Last Name | Smith |", b'|'), "Last Name");
        assert_eq!(cell("Smith | x", b'|'), "");
        assert_eq!(cell("성명\t김민수", b'\t'), "성명");
    }

    #[test]
    fn names_in_capitals_and_single_name_words() {
        for name in [
            "JOHN SMITH",
            "MARY O'BRIEN",
            "JEAN-LUC PICARD",
            "JOHN J. SMITH",
            "VINCENT VAN GOGH",
            "JOSÉ GARCÍA",
            "LI WEI",
        ] {
            assert!(person_en_caps_ok(name), "{name}");
        }
        for not in [
            "ACME CORP",
            "N/A",
            "TBD",
            "USA",
            "FULL NAME",
            "TOTAL AMOUNT",
            "John Smith",
            "JOHN",
            "JOHN SMITH2",
            "J. SMITH",
            "A B",
        ] {
            assert!(!person_en_caps_ok(not), "{not}");
        }
        for w in ["John", "Li", "O'Brien", "SMITH", "Jean-Luc", "José"] {
            assert!(en_part_word(w), "{w}");
        }
        for not in [
            "Total", "TOTAL", "N/A", "TBD", "iPhone", "john", "J.", "A", "Unknown", "Optional",
            "x1",
        ] {
            assert!(!en_part_word(not), "{not}");
        }
    }

    #[test]
    fn header_words_after_a_korean_label_are_not_names() {
        for w in [
            "연락처",
            "주소",
            "나이",
            "성별",
            "소속",
            "직급",
            "부서",
            "비고",
            "점수",
            "날짜",
            "생년월일",
            "전화번호",
            "이메일",
            "미기재",
            "비공개",
            "직위",
            "국적",
            "회사",
            "금액",
            "수량",
            "상태",
            "메모",
            "구분",
            "이름",
            "성명",
            "번호",
            "내용",
            "등급",
            "지역",
            "학과",
            "학년",
            "기간",
            "결과",
            "서명",
        ] {
            assert!(!ko_name(w), "{w}");
        }
        assert!(ko_name("김민수") && ko_name("홍길동") && ko_name("남궁민"));
    }

    #[test]
    fn csv_cells_respect_quotes() {
        let cells = |line: &str| -> Vec<String> {
            CsvCells::new(line.as_bytes())
                .map(|(s, e)| line[s..e].to_owned())
                .collect()
        };
        assert_eq!(cells("a,\"b, c\",d"), ["a", "\"b, c\"", "d"]);
        assert_eq!(cells("a,,"), ["a", "", ""]);
        assert_eq!(cells(""), [""]);
        assert_eq!(cells("\"open, quote"), ["\"open, quote"]);
        assert_eq!(csv_cell(b"1,\"Kim, M\",x", 1, 3), Some((2, 10)));
        assert_eq!(csv_cell(b"1,2", 1, 3), None);
        assert_eq!(csv_cell(b"1,2,3,4", 1, 3), None);
        assert_eq!(trim_cell(b" \" Kim \" ", 0, 9), (3, 6));
    }

    #[test]
    fn a_csv_header_is_short_cells_not_a_sentence() {
        assert_eq!(csv_header("번호,성명,연락처".as_bytes()), Some(3));
        assert_eq!(
            csv_header(b"\"id\", \"Full Name\", \"Date of Birth\""),
            Some(3)
        );
        assert_eq!(csv_header("No.,Name,Phone".as_bytes()), Some(3));
        assert_eq!(
            csv_header("성명, 주소, 연락처를 적어 주세요".as_bytes()),
            None
        );
        assert_eq!(csv_header(b"Name, address and phone number, please."), None);
        assert_eq!(
            csv_header(b"Name, the address and the phone number you gave us"),
            None
        );
        assert_eq!(csv_header("성명".as_bytes()), None);
    }

    #[test]
    fn a_cell_finds_its_columns_header_cell() {
        let t =
            "번호,주민등록번호,연락처\n1,8003131094943,010-1234-5678\n2,9402121665102,\"x, y\"\n";
        let b = t.as_bytes();
        let mut cache = None;
        let at = |n: &str, from: usize| t[from..].find(n).map(|i| (from + i, from + i + n.len()));
        type Cache = Option<(usize, usize, u8, usize)>;
        let head = |cache: &mut Cache, (s, e): (usize, usize)| {
            column_header(b, s, e, cache).map(|(hs, he)| &t[hs..he])
        };
        let first = at("8003131094943", 0).unwrap();
        assert_eq!(head(&mut cache, first), Some("주민등록번호"));
        let second = at("9402121665102", 0).unwrap();
        assert_eq!(head(&mut cache, second), Some("주민등록번호"));
        assert_eq!(
            head(&mut cache, at("010-1234-5678", 0).unwrap()),
            Some("연락처")
        );
        // Not a whole cell, or the header line itself: no header.
        assert_eq!(head(&mut cache, (first.0 + 1, first.1)), None);
        assert_eq!(head(&mut cache, at("번호", 0).unwrap()), None);
        // Prose with commas above the rows does not read as a header.
        let t2 = "성명, 주소를 적어 주세요.\n1,8003131094943\n";
        let mut c2 = None;
        let s2 = t2.find("8003").unwrap();
        assert_eq!(column_header(t2.as_bytes(), s2, s2 + 13, &mut c2), None);
        // Tabs.
        let t3 = "성명\t주민등록번호\n김민수\t8003131094943\n";
        let s3 = t3.find("8003").unwrap();
        let got = column_header(t3.as_bytes(), s3, s3 + 13, &mut None).map(|(hs, he)| &t3[hs..he]);
        assert_eq!(got, Some("주민등록번호"));
    }

    #[test]
    fn signature_phone_labels_start_at_their_index() {
        assert_eq!(PHONE_LABELS_EN[FIRST_SIGNATURE_LABEL], "office");
        assert!(PHONE_LABELS_EN[..FIRST_SIGNATURE_LABEL].iter().all(|l| ![
            "office",
            "landline",
            "whatsapp",
            "direct line"
        ]
        .contains(l)));
        assert!(strict_phone_shape(b"(415) 555-0132") && strict_phone_shape(b"010-1234-5678"));
        assert!(strict_phone_shape(b"01012345678") && strict_phone_shape(b"1-415-555-0132"));
        assert!(!strict_phone_shape(b"1523400") && !strict_phone_shape(b"2024-0315"));
        assert!(!strict_phone_shape(b"14.0.1234") && !strict_phone_shape(b"1501-1502"));
        // Ten unseparated digits: a North American number only.
        assert!(strict_phone_shape(b"2127364821") && strict_phone_shape(b"12127364821"));
        assert!(!strict_phone_shape(b"1234567890") && !strict_phone_shape(b"2024031512"));
        assert!(!strict_phone_shape(b"2121234567") && !strict_phone_shape(b"2927364821"));
    }

    #[test]
    fn every_colon_label_passes_the_last_syllable_filter() {
        for (label, _) in builtin::PERSON_COLON_LABELS.iter().chain(KO_MAIL_LABELS) {
            assert!(label_last_syllable(&label[label.len() - 3..]), "{label}");
        }
        for label in builtin::PERSON_LABELS {
            assert!(label_last_syllable(&label[label.len() - 3..]), "{label}");
        }
        for label in SPACED_LABELS {
            assert!(label_last_syllable(&label[label.len() - 3..]), "{label}");
        }
        fn at(t: &str) -> Option<&str> {
            spaced_label(t, t.len()).map(|(s, _)| &t[s..])
        }
        assert_eq!(at("성    명"), Some("성    명"));
        assert_eq!(at("\n이  름"), Some("이  름"));
        assert_eq!(at("성 명 "), None); // the colon's own spaces are skipped by the caller
        assert_eq!(at("성명"), None); // not spaced: the exact labels read it
        assert_eq!(at("구 성명"), None); // its own syllables are not spaced
        assert_eq!(at("완 성 명"), Some("성 명"));
        assert_eq!(at("예 금 주"), Some("예 금 주"));
    }

    #[test]
    fn a_signature_first_name_is_a_given_name_not_a_word() {
        assert!(EN_FIRST_NAMES.windows(2).all(|w| w[0] < w[1]));
        for name in ["Bob", "Alice", "Sarah", "Min-jun", "Seo-yeon"] {
            assert!(signature_first_name(name), "{name}");
        }
        assert!(ROMANISED_SYLLABLES.windows(2).all(|w| w[0] < w[1]));
        for word in [
            "Bye",
            "Okay",
            "Monday",
            "Team",
            "Support",
            "Love",
            "Best",
            "Done",
            "Min-",
            "A-bc",
            "Mom",
            "Help-desk",
            "Pre-sales",
            "Co-op",
            "In-house",
            "Sign-off",
            "Follow-up",
            "Mom-and",
        ] {
            assert!(!signature_first_name(word), "{word}");
        }
    }

    #[test]
    fn placeholders_do_not_count_against_a_name_column() {
        assert!(placeholder("N/A") && placeholder("") && placeholder("Unknown"));
        assert!(!placeholder("Total") && !placeholder("report.pdf"));
    }
}
