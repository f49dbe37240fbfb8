//! `application/x-www-form-urlencoded` fields, for the probe apps (`no_std`
//! with `alloc`, feature `spec`).

use alloc::string::String;
use alloc::vec::Vec;

/// The value of field `name` in `application/x-www-form-urlencoded` text (a
/// query string or a form body), percent-decoded, `+` read as a space.
/// `None` when absent or not UTF-8 after decoding.
///
/// ```
/// use sesh_tests::form::form_field;
/// assert_eq!(form_field(b"a=1&user=Zo%C3%AB+B", "user").as_deref(), Some("Zoë B"));
/// assert_eq!(form_field(b"a=1", "user"), None);
/// ```
pub fn form_field(input: &[u8], name: &str) -> Option<String> {
    input
        .split(|&b| b == b'&')
        .filter_map(|pair| {
            let eq = pair.iter().position(|&b| b == b'=');
            let (k, v) = match eq {
                Some(at) => (
                    pair.get(..at).unwrap_or_default(),
                    pair.get(at.saturating_add(1)..).unwrap_or_default(),
                ),
                None => (pair, &[][..]),
            };
            (percent_decode(k)? == name.as_bytes()).then(|| percent_decode(v))?
        })
        .next()
        .and_then(|v| String::from_utf8(v).ok())
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_digit(bytes.next()?)?;
                let lo = hex_digit(bytes.next()?)?;
                out.push(hi.wrapping_mul(16).wrapping_add(lo));
            }
            other => out.push(other),
        }
    }
    Some(out)
}

pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}
