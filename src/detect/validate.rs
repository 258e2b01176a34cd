//! Validators: checksums and structural checks run only on candidate matches (never on the whole text).
//!
//! Every function takes the candidate's bytes (ASCII digits possibly mixed with separators) and must never panic on
//! any input.

/// Collect the ASCII digits of `s` into `out` (as values 0–9); returns how many were written (at most `out.len()`),
/// or `None` if `s` holds more digits than `out` can take.
pub(crate) fn digits_into(s: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    for &b in s {
        if b.is_ascii_digit() {
            let slot = out.get_mut(n)?;
            *slot = b - b'0';
            n += 1;
        }
    }
    Some(n)
}

/// Whether `y-m-d` is a real calendar date.
pub fn valid_date(year: u32, month: u32, day: u32) -> bool {
    if !(1..=12).contains(&month) || day == 0 {
        return false;
    }
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let max = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    day <= max
}

/// Classification of a 13-digit `YYMMDD-GNNNNNN` number (RRN / FRN shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RrnShape {
    /// Date and 7th digit fit a resident registration number (7th digit 1–4, or 9/0 for 1800s births).
    Resident {
        /// Whether the pre-2020 check digit matches.
        checksum_ok: bool,
    },
    /// Date and 7th digit fit a foreigner registration number (7th digit 5–8).
    Foreigner {
        /// Whether the pre-2020 check digit matches.
        checksum_ok: bool,
    },
    /// Not a valid date or gender/century digit.
    Invalid,
}

/// Validate the structure of a 13-digit RRN/FRN. The check digit is reported, not required: numbers issued since
/// October 2020 have random trailing digits.
pub fn rrn_shape(d: &[u8; 13]) -> RrnShape {
    let yy = u32::from(d[0]) * 10 + u32::from(d[1]);
    let mm = u32::from(d[2]) * 10 + u32::from(d[3]);
    let dd = u32::from(d[4]) * 10 + u32::from(d[5]);
    let (century, foreign) = match d[6] {
        1 | 2 => (1900, false),
        3 | 4 => (2000, false),
        9 | 0 => (1800, false),
        5 | 6 => (1900, true),
        7 | 8 => (2000, true),
        _ => return RrnShape::Invalid,
    };
    if !valid_date(century + yy, mm, dd) {
        return RrnShape::Invalid;
    }
    const W: [u32; 12] = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5];
    let sum: u32 = d
        .iter()
        .zip(W.iter())
        .map(|(&x, &w)| u32::from(x) * w)
        .sum();
    let rrn_check = (11 - sum % 11) % 10;
    let frn_check = (13 - sum % 11) % 10;
    let last = u32::from(d[12]);
    if foreign {
        RrnShape::Foreigner {
            checksum_ok: last == frn_check || last == rrn_check,
        }
    } else {
        RrnShape::Resident {
            checksum_ok: last == rrn_check,
        }
    }
}

/// 법인등록번호 check digit (weights 1,2,1,2…, sum of products, `(10 - sum % 10) % 10`).
pub fn crn_checksum(d: &[u8; 13]) -> bool {
    let sum: u32 = d[..12]
        .iter()
        .enumerate()
        .map(|(i, &x)| u32::from(x) * if i % 2 == 0 { 1 } else { 2 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(d[12])
}

/// 사업자등록번호 check digit (weights 1,3,7,1,3,7,1,3,5 plus the carry of the 9th digit × 5).
pub fn brn_checksum(d: &[u8; 10]) -> bool {
    const W: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];
    let mut sum: u32 = d
        .iter()
        .zip(W.iter())
        .map(|(&x, &w)| u32::from(x) * w)
        .sum();
    sum += u32::from(d[8]) * 5 / 10;
    (10 - sum % 10) % 10 == u32::from(d[9])
}

/// Luhn check over the digits of `s` (separators ignored).
pub fn luhn(s: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut n = 0usize;
    for &b in s.iter().rev() {
        if !b.is_ascii_digit() {
            continue;
        }
        let mut v = u32::from(b - b'0');
        if n % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
        n += 1;
    }
    n > 0 && sum.is_multiple_of(10)
}

/// Whether the digits `d` (12–19 of them) start with a known card issuer range and have a plausible length.
pub fn card_iin(d: &[u8]) -> bool {
    let n = d.len();
    let p = |k: usize| {
        d.iter()
            .take(k)
            .fold(0u32, |acc, &x| acc * 10 + u32::from(x))
    };
    let (p1, p2, p3, p4, p6) = (p(1), p(2), p(3), p(4), p(6));
    match p1 {
        4 => matches!(n, 13 | 16 | 19),              // Visa
        5 => (51..=55).contains(&p2) && n == 16,     // Mastercard
        2 => (2221..=2720).contains(&p4) && n == 16, // Mastercard 2-series
        3 => {
            ((p2 == 34 || p2 == 37) && n == 15)                                      // Amex
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&n))           // JCB
                || ((p2 == 36 || p2 == 38 || p2 == 39 || (300..=305).contains(&p3)) && (14..=19).contains(&n))
            // Diners
        }
        6 => {
            (p4 == 6011
                || p2 == 65
                || (644..=649).contains(&p3)
                || (622_126..=622_925).contains(&p6)
                || p2 == 62)
                && (16..=19).contains(&n) // Discover / UnionPay
        }
        9 => n == 16, // Korean domestic (BC 9-series)
        _ => false,
    }
}

/// IBAN: country length table + ISO 7064 mod-97. `s` may contain spaces.
pub fn iban(s: &[u8]) -> bool {
    let mut buf = [0u8; 34];
    let mut n = 0;
    for &b in s {
        if b == b' ' {
            continue;
        }
        if !b.is_ascii_alphanumeric() || n >= buf.len() {
            return false;
        }
        buf[n] = b.to_ascii_uppercase();
        n += 1;
    }
    let v = &buf[..n];
    if n < 15 {
        return false;
    }
    let Some(expected) = iban_length(&v[..2]) else {
        return false;
    };
    if n != expected {
        return false;
    }
    let mut rem = 0u32;
    for &c in v[4..].iter().chain(v[..4].iter()) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            let x = u32::from(c - b'A') + 10;
            rem = (rem * 100 + x) % 97;
        }
    }
    rem == 1
}

/// The countries of the SWIFT IBAN registry (2025) and their IBAN lengths, sorted by code.
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

fn iban_length(cc: &[u8]) -> Option<usize> {
    // Sorted by code (a test checks): a binary search, not a walk of ~90 entries per candidate.
    IBAN_LENGTHS
        .binary_search_by(|(c, _)| c.as_slice().cmp(cc))
        .ok()
        .map(|i| IBAN_LENGTHS[i].1)
}

/// US SSN structural rules: area not 000, 666 or 9xx; group not 00; serial not 0000.
pub fn us_ssn(d: &[u8; 9]) -> bool {
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// GitHub token checksum: the last 6 characters are the base62 CRC32 of the 30 random characters before them.
pub fn github_token(token: &[u8]) -> bool {
    let Some(us) = token.iter().position(|&b| b == b'_') else {
        return false;
    };
    let body = &token[us + 1..];
    if body.len() != 36 {
        return false;
    }
    let (random, check) = body.split_at(30);
    let mut crc = crc32fast::hash(random);
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut enc = [b'0'; 6];
    for slot in enc.iter_mut().rev() {
        *slot = ALPHABET[(crc % 62) as usize];
        crc /= 62;
    }
    enc == check
}

/// ICAO 9303 check digit of a machine-readable zone field (a passport number): weights 7, 3, 1 repeating over the
/// characters, a digit its value, `A`–`Z` 10–35, the filler `<` 0; the sum modulo 10. `None` when the field holds any
/// other byte.
pub fn mrz_check_digit(field: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (i, &c) in field.iter().enumerate() {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'<' => 0,
            _ => return None,
        };
        sum += u32::from(v) * [7, 3, 1][i % 3];
    }
    u8::try_from(sum % 10).ok()
}

/// IPv4 literal that parses (`std::net::Ipv4Addr`, no leading zeros).
pub fn ipv4(s: &[u8]) -> bool {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<std::net::Ipv4Addr>().ok())
        .is_some()
}

/// IPv6 literal that parses (`std::net::Ipv6Addr`) and is not the bare unspecified `::`.
pub fn ipv6(s: &[u8]) -> bool {
    let Some(t) = std::str::from_utf8(s).ok() else {
        return false;
    };
    let hex = t.bytes().filter(u8::is_ascii_hexdigit).count();
    hex >= 2 && t.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Whether a registry `auth` value (standard base64, at most 512 characters) decodes to printable ASCII
/// `user:password` with both parts non-empty: what Docker's `config.json` stores. Decoded on the stack.
pub fn registry_auth(v: &[u8]) -> bool {
    use base64::Engine as _;
    let mut buf = [0u8; 384];
    let Ok(n) = base64::engine::general_purpose::STANDARD.decode_slice(v, &mut buf) else {
        return false;
    };
    let d = &buf[..n];
    let colon = d.iter().position(|&c| c == b':');
    d.iter().all(|&c| c.is_ascii_graphic()) && colon.is_some_and(|k| k > 0 && d.len() - k > 3)
}

/// Whether base64 text starting with `LS0tLS1CRUdJTi` (`-----BEGIN`) encodes a private key's PEM header (`-----BEGIN
/// RSA PRIVATE KEY-----`, `-----BEGIN OPENSSH PRIVATE KEY-----`, …), not a certificate or a public key: its first
/// 64 characters are decoded on the stack.
pub fn base64_pem_private_key(v: &[u8]) -> bool {
    use base64::Engine as _;
    let mut buf = [0u8; 48];
    let take = v.len().min(64) / 4 * 4;
    let Ok(n) = base64::engine::general_purpose::STANDARD.decode_slice(&v[..take], &mut buf) else {
        return false;
    };
    let Some(rest) = buf[..n].strip_prefix(b"-----BEGIN") else {
        return false;
    };
    let header = rest
        .iter()
        .position(|&c| c == b'-')
        .map_or(rest, |k| &rest[..k]);
    memchr::memmem::find(header, b"PRIVATE KEY").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_lengths_are_sorted_for_the_binary_search() {
        assert!(IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(iban_length(b"AD"), Some(24));
        assert_eq!(iban_length(b"DE"), Some(22));
        assert_eq!(iban_length(b"XK"), Some(20));
        assert_eq!(iban_length(b"ZZ"), None);
    }

    fn d13(s: &str) -> [u8; 13] {
        let mut d = [0u8; 13];
        assert_eq!(digits_into(s.as_bytes(), &mut d), Some(13));
        d
    }

    #[test]
    fn stdnum_vectors() {
        // python-stdnum kr.rrn doctest: 971013-9019902 valid, 971013-9019903 bad checksum.
        assert_eq!(
            rrn_shape(&d13("971013-9019902")),
            RrnShape::Resident { checksum_ok: true }
        );
        assert_eq!(
            rrn_shape(&d13("971013-9019903")),
            RrnShape::Resident { checksum_ok: false }
        );
        // python-stdnum kr.brn doctest: 116-82-00276 valid, 116-82-00275 invalid.
        let mut b = [0u8; 10];
        digits_into(b"116-82-00276", &mut b);
        assert!(brn_checksum(&b));
        digits_into(b"116-82-00275", &mut b);
        assert!(!brn_checksum(&b));
    }

    #[test]
    fn dates_and_cards() {
        assert!(valid_date(2000, 2, 29));
        assert!(!valid_date(1900, 2, 29));
        assert!(!valid_date(2023, 4, 31));
        assert!(luhn(b"4111 1111 1111 1111"));
        assert!(!luhn(b"4111 1111 1111 1112"));
        assert!(iban(b"GB82 WEST 1234 5698 7654 32"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(!iban(b"DE89370400440532013001"));
        assert!(ipv4(b"192.168.0.1") && !ipv4(b"256.1.1.1") && !ipv4(b"01.2.3.4"));
        assert!(ipv6(b"2001:db8::1") && !ipv6(b"12:30:45") && !ipv6(b"::"));
        let mut s = [0u8; 9];
        digits_into(b"123-45-6789", &mut s);
        assert!(us_ssn(&s));
        digits_into(b"666-45-6789", &mut s);
        assert!(!us_ssn(&s));
    }

    #[test]
    fn registry_auth_and_base64_pem() {
        // `deploy:Dckr!Pass2024`
        assert!(registry_auth(b"ZGVwbG95OkRja3IhUGFzczIwMjQ="));
        // `deploy` (no colon), `a:b` (password too short), not base64.
        assert!(!registry_auth(b"ZGVwbG95"));
        assert!(!registry_auth(b"YTpi"));
        assert!(!registry_auth(b"not*base64"));
        assert!(base64_pem_private_key(
            b"LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVB"
        ));
        // `-----BEGIN CERTIFICATE-----`
        assert!(!base64_pem_private_key(
            b"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lC"
        ));
        assert!(!base64_pem_private_key(b"LS0tLS1CRUdJTi"));
    }

    #[test]
    fn mrz_check_digits() {
        // ICAO 9303's specimen passport: document number `L898902C<`, check digit 3.
        assert_eq!(mrz_check_digit(b"L898902C<"), Some(3));
        assert_eq!(mrz_check_digit(b"M12345678"), Some(8));
        assert_eq!(mrz_check_digit(b"S12345678"), Some(0));
        assert_eq!(mrz_check_digit(b"M123A4567"), Some(4));
        assert_eq!(mrz_check_digit(b"m12345678"), None);
    }
}
