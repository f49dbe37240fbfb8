//! The session cookie's name and attributes.

use core::fmt;

/// The `SameSite` attribute.
///
/// ```
/// use sesh::cookie::{CookieConfig, SameSite};
/// assert_eq!(SameSite::Strict.to_string(), "Strict");
/// // `None` always brings `Secure` with it.
/// assert!(CookieConfig::new("sid").with_secure(false).with_same_site(SameSite::None).secure());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Sent on same-site requests and top-level cross-site navigations (the default).
    Lax,
    /// ⚠️ Sent on every cross-site request; forces `Secure`. Use only when a
    /// cross-site embed really needs the session, and pair it with CSRF tokens.
    None,
}

impl SameSite {
    const fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

impl fmt::Display for SameSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a [`CookieConfig`] was refused.
///
/// ```
/// use sesh::cookie::{CookieConfig, CookieConfigError};
/// let err = CookieConfig::new("sid").with_domain("a.com; evil").validate().unwrap_err();
/// assert_eq!(err, CookieConfigError::InvalidDomain);
/// assert_eq!(err.to_string(), "the cookie domain must be printable ASCII without ';' or spaces");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CookieConfigError {
    /// The name is empty or holds a character that is not an RFC 7230 token character.
    InvalidName,
    /// The path is not absolute or holds `;`, a control byte or non-ASCII.
    InvalidPath,
    /// The domain holds `;`, a space, a control byte or non-ASCII.
    InvalidDomain,
    /// A `__Host-` name needs `Secure`, `Path=/` and no `Domain`.
    HostPrefixRules,
    /// A `__Secure-` name needs `Secure`.
    SecurePrefixRules,
}

impl fmt::Display for CookieConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CookieConfigError::InvalidName => "the cookie name must be a non-empty HTTP token",
            CookieConfigError::InvalidPath => {
                "the cookie path must start with '/' and be printable ASCII without ';'"
            }
            CookieConfigError::InvalidDomain => {
                "the cookie domain must be printable ASCII without ';' or spaces"
            }
            CookieConfigError::HostPrefixRules => {
                "a __Host- cookie needs Secure, Path=/ and no Domain"
            }
            CookieConfigError::SecurePrefixRules => "a __Secure- cookie needs Secure",
        })
    }
}

impl core::error::Error for CookieConfigError {}

/// The session cookie's name and attributes.
///
/// Defaults follow the OWASP session cheat sheet: `HttpOnly`, `Secure`,
/// `SameSite=Lax`, `Path=/`, no `Domain` (host-only). Build one in a `const`
/// and check it once with [`CookieConfig::validate`]; the adapters validate
/// their configuration at start-up.
///
/// ```
/// use sesh::cookie::{CookieConfig, SameSite};
/// const COOKIE: CookieConfig<'static> = CookieConfig::new("sid").with_same_site(SameSite::Strict);
/// assert_eq!(COOKIE.validate(), Ok(()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CookieConfig<'a> {
    name: &'a str,
    path: &'a str,
    domain: Option<&'a str>,
    same_site: SameSite,
    secure: bool,
    http_only: bool,
}

impl<'a> CookieConfig<'a> {
    /// A cookie called `name` with the secure defaults.
    ///
    /// ```
    /// let c = sesh::cookie::CookieConfig::new("sid");
    /// assert!(c.secure() && c.http_only());
    /// ```
    pub const fn new(name: &'a str) -> Self {
        CookieConfig {
            name,
            path: "/",
            domain: None,
            same_site: SameSite::Lax,
            secure: true,
            http_only: true,
        }
    }

    /// Uses the `__Host-` form: the caller passes the full name, such as
    /// `"__Host-sid"`, and this sets `Secure`, `Path=/` and no `Domain`, which
    /// the browser then enforces. This is the strongest setting: no other host
    /// or path can plant a cookie of this name.
    ///
    /// ```
    /// let c = sesh::cookie::CookieConfig::new("__Host-sid").with_host_prefix();
    /// assert_eq!(c.validate(), Ok(()));
    /// assert_eq!(c.with_path("/app").validate(), Err(sesh::cookie::CookieConfigError::HostPrefixRules));
    /// ```
    pub const fn with_host_prefix(mut self) -> Self {
        self.secure = true;
        self.path = "/";
        self.domain = None;
        self
    }

    /// Renames the cookie, keeping every attribute (the pre-session cookie,
    #[cfg_attr(
        feature = "signed",
        doc = "[`PreCookieName`](crate::presession::PreCookieName), is made this way)."
    )]
    #[cfg_attr(not(feature = "signed"), doc = "`PreCookieName`, is made this way).")]
    ///
    /// ```
    /// let c = sesh::cookie::CookieConfig::new("sid").with_secure(false).with_name("sid-pre");
    /// assert_eq!((c.name(), c.secure()), ("sid-pre", false));
    /// ```
    pub const fn with_name(mut self, name: &'a str) -> Self {
        self.name = name;
        self
    }

    /// Sets `Path` (default `/`).
    ///
    /// ```
    /// let c = sesh::cookie::CookieConfig::new("sid").with_path("/admin");
    /// assert_eq!(c.path(), "/admin");
    /// ```
    pub const fn with_path(mut self, path: &'a str) -> Self {
        self.path = path;
        self
    }

    /// ⚠️ Sets `Domain`, which sends the cookie to every subdomain too, so any
    /// of them can read or overwrite the session cookie. Leave it unset
    /// (host-only) unless subdomains must share sessions.
    ///
    /// ```
    /// let c = sesh::cookie::CookieConfig::new("sid").with_domain("example.com");
    /// assert_eq!(c.domain(), Some("example.com"));
    /// ```
    pub const fn with_domain(mut self, domain: &'a str) -> Self {
        self.domain = Some(domain);
        self
    }

    /// Sets `SameSite` (default `Lax`). `SameSite::None` always writes `Secure`.
    ///
    /// ```
    /// use sesh::cookie::{CookieConfig, SameSite};
    /// let c = CookieConfig::new("sid").with_same_site(SameSite::Strict);
    /// assert_eq!(c.same_site(), SameSite::Strict);
    /// ```
    pub const fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// ⚠️ `with_secure(false)` drops `Secure`, so the browser also sends the
    /// cookie over plain HTTP, where anyone on the network can read it. Only
    /// for development on `http://localhost`, or a device UI that has no TLS
    /// at all (then say so to the user).
    ///
    /// ```
    /// let c = sesh::cookie::CookieConfig::new("sid").with_secure(false);
    /// assert!(!c.secure());
    /// ```
    pub const fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// ⚠️ `with_http_only(false)` lets page scripts read the session cookie, so
    /// one XSS bug hands the session to an attacker. sesh never needs it off.
    ///
    /// ```
    /// let c = sesh::cookie::CookieConfig::new("sid").with_http_only(false);
    /// assert!(!c.http_only());
    /// ```
    pub const fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// The cookie's name.
    ///
    /// ```
    /// assert_eq!(sesh::cookie::CookieConfig::new("__Host-sid").name(), "__Host-sid");
    /// ```
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// The `Path` attribute.
    ///
    /// ```
    /// assert_eq!(sesh::cookie::CookieConfig::new("sid").path(), "/");
    /// ```
    pub const fn path(&self) -> &'a str {
        self.path
    }

    /// The `Domain` attribute, if any.
    ///
    /// ```
    /// assert_eq!(sesh::cookie::CookieConfig::new("sid").domain(), None); // host-only
    /// ```
    pub const fn domain(&self) -> Option<&'a str> {
        self.domain
    }

    /// The `SameSite` attribute.
    ///
    /// ```
    /// use sesh::cookie::{CookieConfig, SameSite};
    /// assert_eq!(CookieConfig::new("sid").same_site(), SameSite::Lax);
    /// ```
    pub const fn same_site(&self) -> SameSite {
        self.same_site
    }

    /// Whether `Secure` is written (always with `SameSite=None`).
    ///
    /// ```
    /// use sesh::cookie::{CookieConfig, SameSite};
    /// let dev = CookieConfig::new("sid").with_secure(false);
    /// assert!(!dev.secure());
    /// assert!(dev.with_same_site(SameSite::None).secure());
    /// ```
    pub const fn secure(&self) -> bool {
        self.secure || matches!(self.same_site, SameSite::None)
    }

    /// Whether `HttpOnly` is written.
    ///
    /// ```
    /// assert!(sesh::cookie::CookieConfig::new("sid").http_only());
    /// ```
    pub const fn http_only(&self) -> bool {
        self.http_only
    }

    /// Checks the name, path, domain and the prefix rules.
    ///
    /// Path and domain are checked for `;` and control bytes, so no
    /// configuration can inject another attribute or header.
    ///
    /// ```
    /// use sesh::cookie::{CookieConfig, CookieConfigError};
    /// assert_eq!(CookieConfig::new("a b").validate(), Err(CookieConfigError::InvalidName));
    /// assert_eq!(CookieConfig::new("sid").with_path("/x;y").validate(), Err(CookieConfigError::InvalidPath));
    /// assert_eq!(CookieConfig::new("__Secure-sid").with_secure(false).validate(), Err(CookieConfigError::SecurePrefixRules));
    /// ```
    pub fn validate(&self) -> Result<(), CookieConfigError> {
        if self.name.is_empty() || !self.name.bytes().all(is_token_char) {
            return Err(CookieConfigError::InvalidName);
        }
        if !self.path.starts_with('/') || !self.path.bytes().all(is_attribute_char) {
            return Err(CookieConfigError::InvalidPath);
        }
        if let Some(domain) = self.domain
            && (domain.is_empty() || !domain.bytes().all(|b| is_attribute_char(b) && b != b' '))
        {
            return Err(CookieConfigError::InvalidDomain);
        }
        if starts_with_ignore_case(self.name, "__Host-")
            && (!self.secure() || self.path != "/" || self.domain.is_some())
        {
            return Err(CookieConfigError::HostPrefixRules);
        }
        if starts_with_ignore_case(self.name, "__Secure-") && !self.secure() {
            return Err(CookieConfigError::SecurePrefixRules);
        }
        Ok(())
    }
}

impl Default for CookieConfig<'static> {
    /// `CookieConfig::new("sid")`.
    fn default() -> Self {
        CookieConfig::new("sid")
    }
}

/// RFC 7230 `tchar`.
const fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// RFC 6265 `av-octet`: printable ASCII except `;`.
const fn is_attribute_char(b: u8) -> bool {
    matches!(b, 0x20..=0x3A | 0x3C..=0x7E)
}

/// Browsers match the prefixes case-insensitively (RFC 6265bis), so must we.
fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}
