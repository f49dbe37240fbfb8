//! Finding one cookie among the pairs of one or more `Cookie:` headers.

/// What a scan of the request's `Cookie:` headers found for the session cookie.
///
/// ```
/// use sesh::cookie::{CookieScan, ScanOutcome};
/// let mut scan = CookieScan::new("sid");
/// scan.feed(b"theme=dark");
/// assert_eq!(scan.outcome(), ScanOutcome::Absent);
/// scan.feed(b"sid=abc");
/// assert_eq!(scan.outcome(), ScanOutcome::Found("abc"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ScanOutcome<'h> {
    /// No pair carries the cookie's name.
    Absent,
    /// Exactly one distinct value (repeats of the same value count once).
    Found(&'h str),
    /// Two or more different values. No session is selected: see [`CookieScan`].
    Ambiguous,
    /// The value holds bytes a cookie value may not (RFC 6265 `cookie-octet`).
    Malformed,
}

/// Scans `Cookie:` header values for the session cookie.
///
/// The parser never panics and never allocates. It tolerates several headers
/// (HTTP/2 sends one per cookie), empty pairs, spaces and tabs, values in
/// double quotes, and arbitrary bytes in *other* cookies. Names match exactly
/// (cookie names are case-sensitive).
///
/// **Duplicates rule.** When the session cookie appears more than once with
/// *different* values the outcome is [`ScanOutcome::Ambiguous`] and no session
/// is selected. A browser sends duplicates when another host or path has
/// planted a cookie of the same name ("cookie tossing"); picking either one
/// could hand the user a session an attacker chose. Repeats of the same value
/// are harmless and count once. The `__Host-` prefix
/// ([`CookieConfig::with_host_prefix`](super::CookieConfig::with_host_prefix))
/// stops tossing at the browser.
///
/// A value longer than [`CookieScan::MAX_VALUE_LEN`] is `Malformed`: sesh never
/// issues one, and bounding it keeps later work (HMAC, lookups) small.
///
/// ```
/// use sesh::cookie::{CookieScan, ScanOutcome};
/// let mut scan = CookieScan::new("sid");
/// scan.feed(b"theme=dark; sid=\"abc\"; lang=en");
/// scan.feed(b"sid=abc");
/// assert_eq!(scan.outcome(), ScanOutcome::Found("abc"));
///
/// scan.feed(b"sid=evil");
/// assert_eq!(scan.outcome(), ScanOutcome::Ambiguous);
/// ```
#[derive(Debug, Clone)]
pub struct CookieScan<'n, 'h> {
    name: &'n str,
    outcome: ScanOutcome<'h>,
}

impl<'n, 'h> CookieScan<'n, 'h> {
    /// The longest value considered (bytes, after removing quotes).
    ///
    /// ```
    /// use sesh::cookie::{CookieScan, ScanOutcome};
    /// let header = format!("sid={}", "a".repeat(CookieScan::MAX_VALUE_LEN + 1));
    /// let mut scan = CookieScan::new("sid");
    /// scan.feed(header.as_bytes());
    /// assert_eq!(scan.outcome(), ScanOutcome::Malformed);
    /// ```
    pub const MAX_VALUE_LEN: usize = 256;

    /// Starts a scan for the cookie called `name`.
    ///
    /// ```
    /// let scan = sesh::cookie::CookieScan::new("sid");
    /// assert_eq!(scan.outcome(), sesh::cookie::ScanOutcome::Absent);
    /// ```
    pub const fn new(name: &'n str) -> Self {
        CookieScan {
            name,
            outcome: ScanOutcome::Absent,
        }
    }

    /// Adds the pairs of one `Cookie:` header value.
    ///
    /// ```
    /// let mut scan = sesh::cookie::CookieScan::new("sid");
    /// scan.feed(b"a=1;;  sid=x ;b");
    /// assert_eq!(scan.outcome(), sesh::cookie::ScanOutcome::Found("x"));
    /// ```
    pub fn feed(&mut self, header: &'h [u8]) {
        for (name, value) in pairs(header) {
            if name == self.name.as_bytes() {
                self.add(cookie_value(value));
            }
        }
    }

    /// Adds the pairs of one `Cookie:` header value to this scan and to
    /// `other` (another cookie's) in a single pass over the header: the same
    /// outcomes as `self.feed(header); other.feed(header)`, read once.
    ///
    /// ```
    /// use sesh::cookie::{CookieScan, ScanOutcome};
    /// let (mut sid, mut pre) = (CookieScan::new("sid"), CookieScan::new("sid-pre"));
    /// sid.feed_with(&mut pre, b"sid-pre=p; theme=dark; sid=s");
    /// assert_eq!(sid.outcome(), ScanOutcome::Found("s"));
    /// assert_eq!(pre.outcome(), ScanOutcome::Found("p"));
    /// ```
    pub fn feed_with(&mut self, other: &mut CookieScan<'_, 'h>, header: &'h [u8]) {
        for (name, value) in pairs(header) {
            if name == self.name.as_bytes() {
                self.add(cookie_value(value));
            }
            if name == other.name.as_bytes() {
                other.add(cookie_value(value));
            }
        }
    }

    fn add(&mut self, value: Option<&'h str>) {
        self.outcome = match (self.outcome, value) {
            (ScanOutcome::Ambiguous, _) => ScanOutcome::Ambiguous,
            (_, None) | (ScanOutcome::Malformed, _) => ScanOutcome::Malformed,
            (ScanOutcome::Absent, Some(v)) => ScanOutcome::Found(v),
            (ScanOutcome::Found(old), Some(v)) if old == v => ScanOutcome::Found(old),
            (ScanOutcome::Found(_), Some(_)) => ScanOutcome::Ambiguous,
        };
    }

    /// The result so far.
    ///
    /// ```
    /// let mut scan = sesh::cookie::CookieScan::new("sid");
    /// scan.feed(b"sid=a b");
    /// assert_eq!(scan.outcome(), sesh::cookie::ScanOutcome::Malformed);
    /// ```
    pub fn outcome(&self) -> ScanOutcome<'h> {
        self.outcome
    }
}

/// The `(name, raw value)` of every pair that has an `=`, both trimmed:
/// the pairs of `header.split(|&b| b == b';')`, with the `;` found eight
/// bytes at a time (a session cookie's value is 45 bytes long).
fn pairs(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = Some(header);
    core::iter::from_fn(move || {
        loop {
            let current = rest?;
            let (pair, next) = match find(current, b';') {
                Some(at) => current.split_at_checked(at)?,
                None => (current, &[][..]),
            };
            // `next` starts at the `;`, if there was one.
            rest = next.get(1..);
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (name, value) = pair.split_at(eq);
            return Some((trim(name), value.get(1..).map(trim).unwrap_or_default()));
        }
    })
}

/// The index of the first `byte` in `haystack`, eight bytes per step: a
/// word's bytes equal to `byte` become zero bytes, and the lowest zero byte
/// of a word is exactly the lowest one the borrow trick flags.
fn find(haystack: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES.wrapping_mul(u64::from(byte));
    let (words, tail) = haystack.as_chunks::<8>();
    for (n, word) in words.iter().enumerate() {
        let x = u64::from_le_bytes(*word) ^ pattern;
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            let within = usize::try_from(zeros.trailing_zeros() >> 3).unwrap_or(0);
            return Some(n.wrapping_mul(8).wrapping_add(within));
        }
    }
    let base = words.len().wrapping_mul(8);
    tail.iter()
        .position(|&b| b == byte)
        .map(|i| base.wrapping_add(i))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The value without its optional double quotes, if every byte is a `cookie-octet`.
fn cookie_value(raw: &[u8]) -> Option<&str> {
    let inner = match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => raw,
    };
    // Every byte checked, no early exit: a loop the compiler can vectorise.
    let ok = inner.len() <= CookieScan::MAX_VALUE_LEN
        && inner.iter().fold(true, |ok, &b| ok & is_cookie_octet(b));
    if ok {
        core::str::from_utf8(inner).ok()
    } else {
        None
    }
}

/// RFC 6265 §4.1.1: `%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`, that is
/// `0x21..=0x7e` less `"`, `,`, `;` and `\`. By comparisons rather than a
/// table, so that a loop over a value tests many bytes at once.
pub(crate) const fn is_cookie_octet(b: u8) -> bool {
    (b.wrapping_sub(0x21) < 0x5e) & (b != b'"') & (b != b',') & (b != b';') & (b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(headers: &[&[u8]]) -> ScanOutcome<'static> {
        let mut s = CookieScan::new("sid");
        for h in headers {
            // Leak to get 'static test data without lifetimes in the helper.
            s.feed(std::boxed::Box::leak(h.to_vec().into_boxed_slice()));
        }
        s.outcome()
    }

    #[test]
    fn cookie_octets_are_rfc_6265s() {
        for b in 0..=u8::MAX {
            let rfc = matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E);
            assert_eq!(is_cookie_octet(b), rfc, "{b:#x}");
        }
    }

    #[test]
    fn finds_the_cookie_among_others() {
        assert_eq!(scan(&[b"a=1; sid=xyz; b=2"]), ScanOutcome::Found("xyz"));
        assert_eq!(scan(&[b"sid=xyz"]), ScanOutcome::Found("xyz"));
        assert_eq!(scan(&[b"  sid = xyz  "]), ScanOutcome::Found("xyz"));
        assert_eq!(scan(&[b"sid=\"xyz\""]), ScanOutcome::Found("xyz"));
        assert_eq!(scan(&[b"a=1", b"sid=xyz"]), ScanOutcome::Found("xyz"));
    }

    #[test]
    fn absent_cases() {
        assert_eq!(scan(&[]), ScanOutcome::Absent);
        assert_eq!(scan(&[b""]), ScanOutcome::Absent);
        assert_eq!(scan(&[b";;;"]), ScanOutcome::Absent);
        assert_eq!(scan(&[b"SID=xyz; Sid=abc; s id=q"]), ScanOutcome::Absent);
        assert_eq!(scan(&[b"sidx=1; xsid=2; sid"]), ScanOutcome::Absent);
    }

    #[test]
    fn duplicates_follow_the_rule() {
        assert_eq!(scan(&[b"sid=a; sid=a"]), ScanOutcome::Found("a"));
        assert_eq!(scan(&[b"sid=a; sid=b"]), ScanOutcome::Ambiguous);
        assert_eq!(scan(&[b"sid=a", b"sid=b"]), ScanOutcome::Ambiguous);
        assert_eq!(scan(&[b"sid=a; sid=b; sid=a"]), ScanOutcome::Ambiguous);
    }

    #[test]
    fn bad_values_are_malformed() {
        assert_eq!(scan(&[b"sid="]), ScanOutcome::Found(""));
        assert_eq!(scan(&[b"sid=a\x00b"]), ScanOutcome::Malformed);
        assert_eq!(scan(&[b"sid=\xff\xfe"]), ScanOutcome::Malformed);
        assert_eq!(scan(&[b"sid=a,b"]), ScanOutcome::Malformed);
        assert_eq!(scan(&[b"sid=\"abc"]), ScanOutcome::Malformed);
        let long = [b'a'; 300];
        let mut h = b"sid=".to_vec();
        h.extend_from_slice(&long);
        assert_eq!(scan(&[&h]), ScanOutcome::Malformed);
    }

    #[test]
    fn junk_in_other_cookies_is_ignored() {
        let mut h = std::vec![0xffu8; 8192];
        h.extend_from_slice(b"; sid=ok; \x00\x01=\x02");
        assert_eq!(scan(&[&h]), ScanOutcome::Found("ok"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_found_values_are_cookie_octets(headers: Vec<Vec<u8>>) {
            let mut s = CookieScan::new("sid");
            for h in &headers {
                s.feed(h);
            }
            if let ScanOutcome::Found(v) = s.outcome() {
                proptest::prop_assert!(v.bytes().all(is_cookie_octet));
                proptest::prop_assert!(v.len() <= CookieScan::MAX_VALUE_LEN);
            }
        }

        #[test]
        fn find_is_position(haystack: Vec<u8>, byte in proptest::sample::select(&[b';', 0, 1, 0x80, 0xff][..])) {
            proptest::prop_assert_eq!(find(&haystack, byte), haystack.iter().position(|&b| b == byte));
        }

        #[test]
        fn pairs_are_those_of_split(header in proptest::collection::vec(proptest::sample::select(&[b';', b'=', b' ', b'\t', b'a', b'b', 0, 1, 0xff][..]), 0..80)) {
            let split: Vec<_> = header
                .split(|&b| b == b';')
                .filter_map(|pair| {
                    let eq = pair.iter().position(|&b| b == b'=')?;
                    let (name, rest) = pair.split_at(eq);
                    Some((trim(name), rest.get(1..).map(trim).unwrap_or_default()))
                })
                .collect();
            proptest::prop_assert_eq!(pairs(&header).collect::<Vec<_>>(), split);
        }

        #[test]
        fn one_pass_for_two_names_finds_what_two_scans_find(headers: Vec<Vec<u8>>, names in proptest::sample::select(&[("sid", "sid-pre"), ("a", "b"), ("sid", "sid")][..])) {
            let (mut one, mut two) = (CookieScan::new(names.0), CookieScan::new(names.1));
            let (mut first, mut second) = (CookieScan::new(names.0), CookieScan::new(names.1));
            for h in &headers {
                one.feed_with(&mut two, h);
                first.feed(h);
                second.feed(h);
            }
            proptest::prop_assert_eq!(one.outcome(), first.outcome());
            proptest::prop_assert_eq!(two.outcome(), second.outcome());
        }

        #[test]
        fn a_planted_value_is_found(prefix in "[a-z]{1,8}=[a-z0-9]{0,8}", value in "[A-Za-z0-9_-]{1,45}") {
            let header = std::format!("{prefix}; sid={value}");
            let mut s = CookieScan::new("sid");
            s.feed(header.as_bytes());
            let expected = if prefix.starts_with("sid=") && prefix != std::format!("sid={value}") {
                ScanOutcome::Ambiguous
            } else {
                ScanOutcome::Found(value.as_str())
            };
            proptest::prop_assert_eq!(s.outcome(), expected);
        }
    }
}
