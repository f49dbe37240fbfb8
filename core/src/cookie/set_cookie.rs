//! Formatting `Set-Cookie` header values.

use core::fmt::{self, Write};

use super::CookieConfig;
use crate::Duration;

/// The longest `Max-Age` browsers honour: 400 days (RFC 6265bis). Longer
/// lifetimes are written as this.
///
/// ```
/// use sesh::{cookie::{write_set_cookie, CookieConfig, MAX_AGE_LIMIT}, Duration};
/// let mut out = String::new();
/// write_set_cookie(&mut out, &CookieConfig::new("sid"), "v", Duration::from_hours(24 * 1000))?;
/// assert_eq!(MAX_AGE_LIMIT.as_secs_ceil(), 34_560_000);
/// assert!(out.contains("; Max-Age=34560000;"));
/// # Ok::<(), core::fmt::Error>(())
/// ```
pub const MAX_AGE_LIMIT: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// Writes a `Set-Cookie` value that stores `value` for `max_age`.
///
/// `value` is the cookie value as the adapter encodes it (an id, or `id.tag`
/// when signed); it is written verbatim, so it must consist of cookie octets,
/// as every value sesh produces does. `Max-Age` is written in whole seconds,
/// rounded up and capped at [`MAX_AGE_LIMIT`]. Configuration is not
/// re-validated here: validate it once with [`CookieConfig::validate`].
///
/// ```
/// use sesh::cookie::{write_set_cookie, CookieConfig};
/// let mut out: heapless::String<160> = heapless::String::new();
/// write_set_cookie(&mut out, &CookieConfig::new("sid"), "v", sesh::Duration::from_secs(60)).unwrap();
/// assert_eq!(out, "sid=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax");
/// ```
pub fn write_set_cookie<W: Write + ?Sized>(
    out: &mut W,
    config: &CookieConfig<'_>,
    value: impl fmt::Display,
    max_age: Duration,
) -> fmt::Result {
    let max_age = if max_age > MAX_AGE_LIMIT {
        MAX_AGE_LIMIT
    } else {
        max_age
    };
    write!(out, "{}={}", config.name(), value)?;
    write_attributes(out, config, Some(max_age.as_secs_ceil()))
}

/// Writes a `Set-Cookie` value for a browser-session cookie: neither
/// `Max-Age` nor `Expires`, so the browser drops it when it closes (the
/// server still ends the session at its deadlines). Otherwise as
/// [`write_set_cookie`].
///
/// ```
/// use sesh::cookie::{write_session_only_cookie, CookieConfig};
/// let mut out: heapless::String<160> = heapless::String::new();
/// write_session_only_cookie(&mut out, &CookieConfig::new("sid"), "v").unwrap();
/// assert_eq!(out, "sid=v; Path=/; HttpOnly; Secure; SameSite=Lax");
/// ```
pub fn write_session_only_cookie<W: Write + ?Sized>(
    out: &mut W,
    config: &CookieConfig<'_>,
    value: impl fmt::Display,
) -> fmt::Result {
    write!(out, "{}={}", config.name(), value)?;
    write_attributes(out, config, None)
}

/// Writes a `Set-Cookie` value that deletes the session cookie.
///
/// It repeats `Path`, `Domain`, `Secure`, `HttpOnly` and `SameSite`, so the
/// browser matches and removes exactly the cookie sesh set.
///
/// ```
/// use sesh::cookie::{write_removal, CookieConfig};
/// let mut out: heapless::String<160> = heapless::String::new();
/// write_removal(&mut out, &CookieConfig::new("sid").with_domain("example.com")).unwrap();
/// assert_eq!(out, "sid=; Path=/; Domain=example.com; Max-Age=0; HttpOnly; Secure; SameSite=Lax");
/// ```
pub fn write_removal<W: Write + ?Sized>(out: &mut W, config: &CookieConfig<'_>) -> fmt::Result {
    write!(out, "{}=", config.name())?;
    write_attributes(out, config, Some(0))
}

fn write_attributes<W: Write + ?Sized>(
    out: &mut W,
    config: &CookieConfig<'_>,
    max_age_secs: Option<u64>,
) -> fmt::Result {
    write!(out, "; Path={}", config.path())?;
    if let Some(domain) = config.domain() {
        write!(out, "; Domain={domain}")?;
    }
    if let Some(secs) = max_age_secs {
        write!(out, "; Max-Age={secs}")?;
    }
    if config.http_only() {
        out.write_str("; HttpOnly")?;
    }
    if config.secure() {
        out.write_str("; Secure")?;
    }
    write!(out, "; SameSite={}", config.same_site())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::SameSite;
    use std::string::String;

    fn set(config: CookieConfig<'_>, max_age: Duration) -> String {
        let mut s = String::new();
        write_set_cookie(&mut s, &config, "v", max_age).unwrap();
        s
    }

    #[test]
    fn same_site_none_forces_secure() {
        let c = CookieConfig::new("sid")
            .with_secure(false)
            .with_same_site(SameSite::None);
        assert_eq!(
            set(c, Duration::from_secs(1)),
            "sid=v; Path=/; Max-Age=1; HttpOnly; Secure; SameSite=None"
        );
    }

    #[test]
    fn weakened_flags_are_left_out() {
        let c = CookieConfig::new("sid")
            .with_secure(false)
            .with_http_only(false)
            .with_same_site(SameSite::Strict);
        assert_eq!(
            set(c, Duration::from_millis(1500)),
            "sid=v; Path=/; Max-Age=2; SameSite=Strict"
        );
    }

    #[test]
    fn a_session_only_cookie_keeps_every_other_attribute() {
        let mut s = String::new();
        let c = CookieConfig::new("sid")
            .with_domain("example.com")
            .with_same_site(SameSite::Strict);
        write_session_only_cookie(&mut s, &c, "v").unwrap();
        assert_eq!(
            s,
            "sid=v; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=Strict"
        );
        assert!(!s.contains("Max-Age") && !s.contains("Expires"));
    }

    #[test]
    fn max_age_is_capped_at_400_days() {
        let s = set(CookieConfig::new("sid"), Duration::from_hours(24 * 1000));
        assert!(s.contains("Max-Age=34560000;"), "{s}");
    }

    #[test]
    fn small_buffer_is_an_error_not_a_panic() {
        let mut out: heapless::String<8> = heapless::String::new();
        assert!(
            write_set_cookie(
                &mut out,
                &CookieConfig::new("sid"),
                "value",
                Duration::from_secs(1)
            )
            .is_err()
        );
    }
}
