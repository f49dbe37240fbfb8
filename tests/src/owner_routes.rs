//! What the probe apps' owner routes read and write (`no_std` with `alloc`,
//! feature `spec`), so that the axum probe and the sesh-embassy probe (host
//! and QEMU) answer the same text and the cases parse it in one place.
//!
//! - `POST /login` reads the fields `label` and `lifetime` ([`login_lifetime`]).
//! - `GET /sessions` answers one [`session_line`] per session of the user.

use alloc::format;
use alloc::string::String;

use sesh::expiry::Lifetime;
use sesh::owner::{DisplayTag, Label, SessionInfo};

/// The lifetime `/login` gives the session for its `lifetime` field:
/// `remember` is [`Lifetime::REMEMBER_ME`], `browser` a browser session,
/// anything else (or none) the default.
///
/// ```
/// use sesh::expiry::Lifetime;
/// use sesh_tests::owner_routes::login_lifetime;
/// assert_eq!(login_lifetime(b"user=a&lifetime=remember"), Lifetime::REMEMBER_ME);
/// assert_eq!(login_lifetime(b"lifetime=browser"), Lifetime::BrowserSession);
/// assert_eq!(login_lifetime(b"user=a"), Lifetime::Default);
/// ```
pub fn login_lifetime(fields: &[u8]) -> Lifetime {
    match crate::form::form_field(fields, "lifetime").as_deref() {
        Some("remember") => Lifetime::REMEMBER_ME,
        Some("browser") => Lifetime::BrowserSession,
        _ => Lifetime::Default,
    }
}

/// The label `/login` gives the session: its `label` field, cut to
/// [`Label`]'s 64 bytes; empty without one.
pub fn login_label(fields: &[u8]) -> Label {
    Label::truncated(&crate::form::form_field(fields, "label").unwrap_or_default())
}

/// One line of `/sessions`: tag, `1` for the current session (else `0`),
/// created, last seen and expiry in milliseconds of the server's clock, and
/// the label (last, as it may hold spaces).
pub fn session_line(info: &SessionInfo) -> String {
    format!(
        "{} {} {} {} {} {}\n",
        info.tag,
        u8::from(info.current),
        info.created.as_millis(),
        info.last_seen.as_millis(),
        info.expires_at.as_millis(),
        info.label.as_str()
    )
}

/// A [`session_line`] read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSession {
    /// The session's display tag.
    pub tag: DisplayTag,
    /// It is the asking request's session.
    pub current: bool,
    /// Created, milliseconds of the server's clock.
    pub created_ms: u64,
    /// Last seen.
    pub last_seen_ms: u64,
    /// Expires.
    pub expires_ms: u64,
    /// The label.
    pub label: String,
}

impl ListedSession {
    /// Reads one line of [`session_line`] (without its newline).
    ///
    /// ```
    /// use sesh_tests::owner_routes::ListedSession;
    /// let s = ListedSession::parse("00112233445566ff 1 5 6 7 my phone").unwrap();
    /// assert!(s.current && s.label == "my phone" && s.expires_ms == 7);
    /// assert_eq!(ListedSession::parse("00112233445566ff 1 5"), None);
    /// ```
    pub fn parse(line: &str) -> Option<ListedSession> {
        let mut parts = line.splitn(6, ' ');
        let tag = DisplayTag::parse(parts.next()?)?;
        let current = match parts.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let mut number = || parts.next()?.parse::<u64>().ok();
        let (created_ms, last_seen_ms, expires_ms) = (number()?, number()?, number()?);
        let label = String::from(parts.next()?);
        Some(ListedSession {
            tag,
            current,
            created_ms,
            last_seen_ms,
            expires_ms,
            label,
        })
    }
}
