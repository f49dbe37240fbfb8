//! Pre-sessions: CSRF tokens for visitors who have no session yet.
//!
//! A login form (or any form an anonymous visitor fills in) needs a CSRF
//! token, but storing a session only to carry that token lets anybody fill
//! the store with requests, and evicting those sessions then breaks the
//! forms of real visitors (issue 14, finding 1). A pre-session stores
//! nothing on the server:
//!
//! - the *pre-session cookie* holds 128 random bits from the injected RNG
//!   ([`PreSession`]), under a name derived from the session cookie's
//!   ([`PreCookieName`]: `sid-pre`, `__Host-sid-pre`), `HttpOnly` and with the
//!   session cookie's `Secure`, `SameSite`, `Path` and `Domain`;
//! - the *form token* ([`PreCsrfToken`]) is `base64url(expiry ‖ tag)` with
//!   `tag = HMAC-SHA256(K', pre-session ‖ expiry)` truncated to 128 bits,
//!   where `K'` is derived from the signing key with its own label
//!   (`sesh/pre-csrf/v1`), so no other tag sesh makes is ever a form token;
//! - [`KeyRing::verify_pre_csrf`] checks the tag against every key of the
//!   ring in constant time (rotation), then the expiry against `now`. A token
//!   verifies only with the pre-session cookie it was made for.
//!
//! This is a signed double-submit token: an attacker who can plant a cookie in
//! the victim's browser (a sibling subdomain, or plain HTTP on the same host
//! when the cookie is not `Secure`) can pair their own pre-session with its
//! token. The `__Host-` prefix prevents that; use it wherever there is TLS.
//!
//! A session-bound token ([`KeyRing::csrf_token`]) has 22 characters and a
//! form token 32. Once a session exists only its token verifies
//! ([`KeyRing::verify_form_token`]): a login kills the forms served before it.
//!
//! ```
//! use sesh::presession::{PreCookieName, PreSession};
//! use sesh::signing::{Key, KeyRing};
//! use sesh::{cookie::CookieConfig, Duration, Instant};
//! # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
//! let keys = KeyRing::<2>::new(Key::new(b"a secret of at least 32 bytes!!!")?);
//! let now = Instant::from_secs(1_000);
//!
//! // GET /: a random pre-session in its own cookie, and a token in the form.
//! let pre = PreSession::generate(&mut rng)?;
//! let token = keys.pre_csrf_token(&pre, now.saturating_add(Duration::from_mins(30)));
//! let name = PreCookieName::for_session_cookie("__Host-sid")?;
//! let config = name.config(CookieConfig::new("__Host-sid").with_host_prefix());
//! let mut set_cookie = String::new();
//! sesh::cookie::write_set_cookie(&mut set_cookie, &config, pre.encode(), Duration::from_mins(30))?;
//! assert!(set_cookie.starts_with("__Host-sid-pre="));
//!
//! // POST /login: the cookie's value and the form's token.
//! let presented = PreSession::parse(pre.encode().as_str())?;
//! assert_eq!(keys.verify_pre_csrf(&presented, token.as_str(), now), Ok(()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use rand_core::TryCryptoRng;
use subtle::{Choice, ConstantTimeEq};

use crate::base64;
use crate::cookie::CookieConfig;
use crate::id::{EncodedId, ParseIdError, SessionId};
use crate::rng::RngError;
use crate::signing::KeyRing;
use crate::time::Instant;

/// Derives the form-token key from a signing key.
const PRE_CSRF_LABEL: &[u8] = b"sesh/pre-csrf/v1";

/// What [`PreCookieName`] appends to the session cookie's name.
pub const PRE_COOKIE_SUFFIX: &str = "-pre";

/// The longest pre-session cookie name, in bytes.
pub const MAX_PRE_COOKIE_NAME: usize = 64;

/// Characters in a form token.
///
/// ```
/// assert_eq!(sesh::presession::PRE_CSRF_TOKEN_LEN, 32);
/// ```
pub const PRE_CSRF_TOKEN_LEN: usize = base64::ENCODED_24_LEN;

/// The random value of a pre-session cookie: 128 bits, meaningful to nobody
/// but the form tokens made for it. Nothing about it is stored.
///
/// `Debug` does not print the value.
///
/// ```
/// use sesh::presession::PreSession;
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let pre = PreSession::generate(&mut rng)?;
/// assert_eq!(PreSession::parse(pre.encode().as_str()), Ok(pre));
/// assert_eq!(format!("{pre:?}"), "PreSession(..)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PreSession {
    value: SessionId,
}

impl PreSession {
    /// A new pre-session from the injected CSPRNG.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// let a = sesh::presession::PreSession::generate(&mut rng)?;
    /// let b = sesh::presession::PreSession::generate(&mut rng)?;
    /// assert_ne!(a, b);
    /// # Ok::<(), sesh::RngError>(())
    /// ```
    pub fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<PreSession, RngError> {
        Ok(PreSession {
            value: SessionId::generate(rng)?,
        })
    }

    /// Reads a pre-session cookie's value (22 base64url characters).
    ///
    /// ```
    /// use sesh::{presession::PreSession, ParseIdError};
    /// assert_eq!(PreSession::parse("short"), Err(ParseIdError::WrongLength));
    /// assert!(PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA").is_ok());
    /// ```
    pub fn parse(text: &str) -> Result<PreSession, ParseIdError> {
        Ok(PreSession {
            value: SessionId::parse(text)?,
        })
    }

    /// The cookie value: 22 base64url characters.
    ///
    /// ```
    /// let pre = sesh::presession::PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// assert_eq!(pre.encode().as_str(), "AAAAAAAAAAAAAAAAAAAAAA");
    /// # Ok::<(), sesh::ParseIdError>(())
    /// ```
    pub fn encode(&self) -> EncodedId {
        self.value.encode()
    }

    fn message(&self, expiry: &[u8; 8]) -> [u8; 24] {
        let mut message = [0u8; 24];
        for (m, b) in message
            .iter_mut()
            .zip(self.value.as_bytes().iter().chain(expiry.iter()))
        {
            *m = *b;
        }
        message
    }
}

impl fmt::Debug for PreSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreSession(..)")
    }
}

// Like `Debug`: the value is a secret the form tokens are bound to.
#[cfg(feature = "defmt")]
impl defmt::Format for PreSession {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "PreSession(..)")
    }
}

/// A form token for a pre-session: 32 base64url characters, valid until the
/// expiry it carries.
///
/// ```
/// use sesh::{presession::PreSession, signing::{Key, KeyRing}, Instant};
/// let keys = KeyRing::<1>::new(Key::new(&[1; 32])?);
/// let pre = PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
/// let token = keys.pre_csrf_token(&pre, Instant::from_secs(60));
/// assert_eq!(token.as_str().len(), 32);
/// assert_eq!(format!("{token:?}"), "PreCsrfToken(..)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PreCsrfToken {
    chars: [u8; PRE_CSRF_TOKEN_LEN],
}

impl PreCsrfToken {
    /// The token text, for a hidden form field or a header.
    ///
    /// ```
    /// use sesh::{presession::PreSession, signing::{Key, KeyRing}, Instant};
    /// let keys = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let pre = PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let token = keys.pre_csrf_token(&pre, Instant::from_secs(60));
    /// assert!(token.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.chars).unwrap_or("")
    }
}

impl fmt::Display for PreCsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PreCsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreCsrfToken(..)")
    }
}

/// Why a form token was refused.
///
/// ```
/// use sesh::{presession::{PreCsrfError, PreSession}, signing::{Key, KeyRing}, Instant};
/// let keys = KeyRing::<1>::new(Key::new(&[1; 32])?);
/// let pre = PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
/// let err = keys.verify_pre_csrf(&pre, "forged", Instant::ZERO).unwrap_err();
/// assert_eq!(err, PreCsrfError::Malformed);
/// assert_eq!(err.to_string(), "the form token is malformed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PreCsrfError {
    /// Not 32 base64url characters.
    Malformed,
    /// No key of the ring made this token for this pre-session: forged,
    /// changed, or made for another pre-session cookie.
    BadTag,
    /// The token was genuine but its expiry has passed.
    Expired,
}

impl fmt::Display for PreCsrfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PreCsrfError::Malformed => "the form token is malformed",
            PreCsrfError::BadTag => "the form token does not belong to this pre-session",
            PreCsrfError::Expired => "the form token has expired",
        })
    }
}

impl core::error::Error for PreCsrfError {}

impl<const K: usize> KeyRing<K> {
    /// A form token for `pre`, valid until `expires_at`, made with the
    /// current key.
    ///
    /// ```
    /// use sesh::{presession::PreSession, signing::{Key, KeyRing}, Instant};
    /// let keys = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let pre = PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let token = keys.pre_csrf_token(&pre, Instant::from_secs(60));
    /// assert_eq!(keys.verify_pre_csrf(&pre, token.as_str(), Instant::from_secs(59)), Ok(()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pre_csrf_token(&self, pre: &PreSession, expires_at: Instant) -> PreCsrfToken {
        let expiry = expires_at.as_millis().to_be_bytes();
        let tag = self.signing_key().pre_csrf_tag(&pre.message(&expiry));
        let mut raw = [0u8; 24];
        for (r, b) in raw.iter_mut().zip(expiry.iter().chain(tag.iter())) {
            *r = *b;
        }
        PreCsrfToken {
            chars: base64::encode24(&raw),
        }
    }

    /// Checks a form token against the pre-session cookie presented with it:
    /// the tag with every key of the ring, in constant time, then the expiry
    /// (a token is valid while `now` is before its expiry).
    ///
    /// ```
    /// use sesh::{presession::{PreCsrfError, PreSession}, signing::{Key, KeyRing}, Instant};
    /// let keys = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let pre = PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let other = PreSession::parse("BAAAAAAAAAAAAAAAAAAAAA")?;
    /// let token = keys.pre_csrf_token(&pre, Instant::from_secs(60));
    /// assert_eq!(keys.verify_pre_csrf(&other, token.as_str(), Instant::ZERO), Err(PreCsrfError::BadTag));
    /// assert_eq!(keys.verify_pre_csrf(&pre, token.as_str(), Instant::from_secs(60)), Err(PreCsrfError::Expired));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_pre_csrf(
        &self,
        pre: &PreSession,
        token: &str,
        now: Instant,
    ) -> Result<(), PreCsrfError> {
        let raw = base64::decode24(token.as_bytes()).map_err(|_| PreCsrfError::Malformed)?;
        let (expiry, presented) = raw.split_at(8);
        let mut expiry_bytes = [0u8; 8];
        expiry_bytes
            .iter_mut()
            .zip(expiry)
            .for_each(|(e, b)| *e = *b);
        let message = pre.message(&expiry_bytes);
        let mut found = Choice::from(0);
        for key in self.keys() {
            found |= key.pre_csrf_tag(&message).as_slice().ct_eq(presented);
        }
        if !bool::from(found) {
            return Err(PreCsrfError::BadTag);
        }
        if now < Instant::from_millis(u64::from_be_bytes(expiry_bytes)) {
            Ok(())
        } else {
            Err(PreCsrfError::Expired)
        }
    }
}

impl crate::signing::Key {
    /// HMAC-SHA256 under the derived form-token key, truncated to 128 bits.
    fn pre_csrf_tag(&self, message: &[u8; 24]) -> [u8; 16] {
        let full = self.derive(PRE_CSRF_LABEL).mac(&[message.as_slice()]);
        let mut tag = [0u8; 16];
        tag.iter_mut().zip(full.iter()).for_each(|(t, b)| *t = *b);
        tag
    }
}

/// The CSRF token a form carries: bound to the live session when there is
/// one ([`KeyRing::csrf_token`], 22 characters), else to the pre-session
/// cookie ([`KeyRing::pre_csrf_token`], 32 characters). The adapters'
/// `csrf_token()` returns it; [`KeyRing::verify_form_token`] checks it.
///
/// ```
/// use sesh::{presession::{FormToken, PreSession}, signing::{Key, KeyRing}, Instant, SessionId};
/// let keys = KeyRing::<1>::new(Key::new(&[1; 32])?);
/// let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
/// let pre = PreSession::parse("BAAAAAAAAAAAAAAAAAAAAA")?;
/// let bound = FormToken::Session(keys.csrf_token(&id));
/// let anonymous = FormToken::PreSession(keys.pre_csrf_token(&pre, Instant::from_secs(60)));
/// assert_eq!((bound.as_str().len(), anonymous.as_str().len()), (22, 32));
/// assert_eq!(format!("{anonymous:?}"), "FormToken(..)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FormToken {
    /// Bound to the live session's id.
    Session(crate::signing::CsrfToken),
    /// Bound to the pre-session cookie; expires.
    PreSession(PreCsrfToken),
}

impl FormToken {
    /// The token text, for a hidden form field or a header.
    ///
    /// ```
    /// use sesh::{presession::FormToken, signing::{Key, KeyRing}, SessionId};
    /// let keys = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let token = keys.csrf_token(&id);
    /// assert_eq!(FormToken::Session(token).as_str(), token.as_str());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            FormToken::Session(t) => t.as_str(),
            FormToken::PreSession(t) => t.as_str(),
        }
    }
}

impl fmt::Display for FormToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for FormToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FormToken(..)")
    }
}

impl<const K: usize> KeyRing<K> {
    /// Checks a form's CSRF token against the cookies the request presented.
    /// With a live session (`session`) only its token verifies, so the form
    /// tokens from before login are dead once a session exists (as a
    /// session's token dies when its id is regenerated). Without one, only a
    /// form token made for the pre-session cookie (`pre`) verifies, until its
    /// expiry (`now`). False for anything else.
    ///
    /// ```
    /// use sesh::{presession::PreSession, signing::{Key, KeyRing}, Instant, SessionId};
    /// let keys = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let pre = PreSession::parse("BAAAAAAAAAAAAAAAAAAAAA")?;
    /// let now = Instant::from_secs(1);
    /// let form = keys.pre_csrf_token(&pre, Instant::from_secs(60));
    /// assert!(keys.verify_form_token(None, Some(&pre), form.as_str(), now));
    /// assert!(!keys.verify_form_token(None, None, form.as_str(), now)); // no pre-session cookie
    /// assert!(!keys.verify_form_token(Some(&id), Some(&pre), form.as_str(), now)); // logged in since
    /// let bound = keys.csrf_token(&id);
    /// assert!(keys.verify_form_token(Some(&id), Some(&pre), bound.as_str(), now));
    /// assert!(!keys.verify_form_token(None, Some(&pre), bound.as_str(), now)); // no session
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_form_token(
        &self,
        session: Option<&SessionId>,
        pre: Option<&PreSession>,
        token: &str,
        now: Instant,
    ) -> bool {
        match (session, pre) {
            (Some(id), _) => self.verify_csrf(id, token),
            (None, Some(pre)) => self.verify_pre_csrf(pre, token, now).is_ok(),
            (None, None) => false,
        }
    }
}

/// Why no pre-session cookie name could be derived.
///
/// ```
/// use sesh::presession::{PreCookieName, PreCookieNameError};
/// let long = "x".repeat(61);
/// let err = PreCookieName::for_session_cookie(&long).unwrap_err();
/// assert_eq!(err, PreCookieNameError::TooLong);
/// assert_eq!(err.to_string(), "the pre-session cookie's name would exceed 64 bytes");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PreCookieNameError {
    /// The session cookie's name plus [`PRE_COOKIE_SUFFIX`] exceeds
    /// [`MAX_PRE_COOKIE_NAME`] bytes.
    TooLong,
}

impl fmt::Display for PreCookieNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the pre-session cookie's name would exceed 64 bytes")
    }
}

impl core::error::Error for PreCookieNameError {}

/// The pre-session cookie's name: the session cookie's name followed by
/// [`PRE_COOKIE_SUFFIX`], so a `__Host-` name keeps its prefix (and the
/// browser's rules for it).
///
/// ```
/// use sesh::presession::PreCookieName;
/// assert_eq!(PreCookieName::for_session_cookie("sid")?.as_str(), "sid-pre");
/// assert_eq!(PreCookieName::for_session_cookie("__Host-sid")?.as_str(), "__Host-sid-pre");
/// # Ok::<(), sesh::presession::PreCookieNameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreCookieName {
    name: heapless::String<MAX_PRE_COOKIE_NAME>,
}

impl PreCookieName {
    /// Derives the name from the session cookie's `name`.
    ///
    /// ```
    /// let name = sesh::presession::PreCookieName::for_session_cookie("sid")?;
    /// assert_eq!(name.as_str(), "sid-pre");
    /// # Ok::<(), sesh::presession::PreCookieNameError>(())
    /// ```
    pub fn for_session_cookie(name: &str) -> Result<PreCookieName, PreCookieNameError> {
        let mut out = heapless::String::new();
        out.push_str(name)
            .and_then(|()| out.push_str(PRE_COOKIE_SUFFIX))
            .map_err(|_| PreCookieNameError::TooLong)?;
        Ok(PreCookieName { name: out })
    }

    /// The name.
    ///
    /// ```
    /// let name = sesh::presession::PreCookieName::for_session_cookie("sid")?;
    /// assert_eq!(name.as_str(), "sid-pre");
    /// # Ok::<(), sesh::presession::PreCookieNameError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        self.name.as_str()
    }

    /// The pre-session cookie's configuration: the session cookie's
    /// attributes under this name, always `HttpOnly` (only the server reads
    /// it; the form carries the token).
    ///
    /// ```
    /// use sesh::{cookie::CookieConfig, presession::PreCookieName};
    /// let session = CookieConfig::new("__Host-sid").with_host_prefix().with_http_only(false);
    /// let name = PreCookieName::for_session_cookie(session.name())?;
    /// let pre = name.config(session);
    /// assert_eq!(pre.name(), "__Host-sid-pre");
    /// assert!(pre.http_only() && pre.secure());
    /// assert_eq!(pre.validate(), Ok(()));
    /// # Ok::<(), sesh::presession::PreCookieNameError>(())
    /// ```
    pub fn config<'a>(&'a self, session: CookieConfig<'a>) -> CookieConfig<'a> {
        session.with_name(self.as_str()).with_http_only(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Key;
    use crate::test_rng::CountingRng;
    use std::string::{String, ToString};

    fn ring() -> KeyRing<2> {
        KeyRing::new(Key::new(&[1; 32]).unwrap())
    }

    fn pre() -> PreSession {
        PreSession::generate(&mut CountingRng::default()).unwrap()
    }

    const NOW: Instant = Instant::from_secs(1_000);
    const LATER: Instant = Instant::from_secs(2_000);

    #[test]
    fn a_token_verifies_with_its_pre_session_until_it_expires() {
        let token = ring().pre_csrf_token(&pre(), LATER);
        assert_eq!(token.as_str().len(), PRE_CSRF_TOKEN_LEN);
        assert_eq!(ring().verify_pre_csrf(&pre(), token.as_str(), NOW), Ok(()));
        assert_eq!(
            ring().verify_pre_csrf(&pre(), token.as_str(), Instant::from_millis(2_000_000 - 1)),
            Ok(())
        );
        assert_eq!(
            ring().verify_pre_csrf(&pre(), token.as_str(), LATER),
            Err(PreCsrfError::Expired)
        );
        let other = PreSession {
            value: SessionId::from_bytes([9; 16]),
        };
        assert_eq!(
            ring().verify_pre_csrf(&other, token.as_str(), NOW),
            Err(PreCsrfError::BadTag)
        );
    }

    #[test]
    fn a_changed_expiry_or_a_bit_flip_is_refused() {
        let token = ring().pre_csrf_token(&pre(), NOW).to_string();
        for i in 0..token.len() {
            for bit in 0..8 {
                let mut bytes = token.clone().into_bytes();
                bytes[i] ^= 1 << bit;
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    assert!(
                        ring().verify_pre_csrf(&pre(), text, Instant::ZERO).is_err(),
                        "flip {i}:{bit} accepted"
                    );
                }
            }
        }
    }

    #[test]
    fn rotation_keeps_tokens_until_the_key_is_retired() {
        let token = ring().pre_csrf_token(&pre(), LATER);
        let mut rotated = ring();
        rotated.rotate(Key::new(&[2; 32]).unwrap());
        assert_eq!(rotated.verify_pre_csrf(&pre(), token.as_str(), NOW), Ok(()));
        rotated.retire_oldest();
        assert_eq!(
            rotated.verify_pre_csrf(&pre(), token.as_str(), NOW),
            Err(PreCsrfError::BadTag)
        );
    }

    #[test]
    fn form_tokens_and_session_tokens_never_stand_for_each_other() {
        let r = ring();
        let as_id = SessionId::from_bytes(*pre().value.as_bytes());
        let session_token = r.csrf_token(&as_id);
        assert_eq!(
            r.verify_pre_csrf(&pre(), session_token.as_str(), NOW),
            Err(PreCsrfError::Malformed)
        );
        let form_token = r.pre_csrf_token(&pre(), LATER);
        assert!(!r.verify_csrf(&as_id, form_token.as_str()));
        // Neither is a prefix of the other's tag under another label.
        assert!(!form_token.as_str().contains(session_token.as_str()));
    }

    #[test]
    fn the_pre_cookie_keeps_the_session_cookies_rules() {
        use crate::cookie::SameSite;
        let session = CookieConfig::new("sid")
            .with_secure(false)
            .with_same_site(SameSite::Strict)
            .with_http_only(false);
        let name = PreCookieName::for_session_cookie(session.name()).unwrap();
        let config = name.config(session);
        assert_eq!(config.name(), "sid-pre");
        assert!(!config.secure());
        assert!(config.http_only());
        assert_eq!(config.same_site(), SameSite::Strict);
        let mut out = String::new();
        crate::cookie::write_set_cookie(
            &mut out,
            &config,
            pre().encode(),
            crate::Duration::from_secs(60),
        )
        .unwrap();
        assert!(out.starts_with("sid-pre="), "{out}");
        assert!(out.contains("HttpOnly") && out.contains("SameSite=Strict"));
        let longest = "x".repeat(MAX_PRE_COOKIE_NAME - PRE_COOKIE_SUFFIX.len());
        assert!(PreCookieName::for_session_cookie(&longest).is_ok());
        assert_eq!(
            PreCookieName::for_session_cookie(&(longest + "x")),
            Err(PreCookieNameError::TooLong)
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_cookies_and_tokens_never_panic_and_never_verify(
            cookie: String,
            token: String,
            raw: [u8; 24],
            now: u64,
        ) {
            let r = ring();
            if let Ok(presented) = PreSession::parse(&cookie) {
                proptest::prop_assert!(r.verify_pre_csrf(&presented, &token, Instant::from_millis(now)).is_err());
                let random = base64::encode24(&raw);
                let random = core::str::from_utf8(&random).unwrap();
                proptest::prop_assert_eq!(
                    r.verify_pre_csrf(&presented, random, Instant::ZERO),
                    Err(PreCsrfError::BadTag)
                );
            }
            let _ = r.verify_pre_csrf(&pre(), &token, Instant::from_millis(now));
        }

        #[test]
        fn a_token_for_one_pre_session_never_verifies_another(
            a: [u8; 16],
            b: [u8; 16],
            expiry: u64,
        ) {
            proptest::prop_assume!(a != b);
            let r = ring();
            let a = PreSession { value: SessionId::from_bytes(a) };
            let b = PreSession { value: SessionId::from_bytes(b) };
            let token = r.pre_csrf_token(&a, Instant::from_millis(expiry));
            proptest::prop_assert_eq!(
                r.verify_pre_csrf(&b, token.as_str(), Instant::ZERO),
                Err(PreCsrfError::BadTag)
            );
        }
    }
}
