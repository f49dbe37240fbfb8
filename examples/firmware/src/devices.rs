//! A user's sessions (issue 16): what a login records (owner, label,
//! lifetime), the list at `GET /sessions` (HTML) and `GET /sessions.json`,
//! and revocation (`POST /sessions/revoke`, `POST /sessions/revoke-others`).

use core::fmt::{self, Display, Write as _};

use picoserve::ResponseSent;
use picoserve::extract::{Form, FromRequestParts, State};
use picoserve::io::{Read, Write};
use picoserve::request::RequestParts;
use picoserve::response::{
    Connection, Content, IntoResponse, Redirect, Response, ResponseWriter, StatusCode,
};
use rand_core::TryCryptoRng;
use serde::Deserialize;
use sesh::expiry::Lifetime;
use sesh::owner::{DisplayTag, Label, SessionInfo, SignIn, UserId};
use sesh::{Duration, Instant};
use sesh_embassy::{SessionError, WithSession};

use crate::html::escape;
use crate::{AppSession, AppSessions, CAPACITY, WALL_CLOCK};

/// Longest label the firmware gives a session (a browser summary): the
/// core allows 64 bytes, and this bound keeps a full table's snapshot in
/// one 4 KiB flash sector ([`crate::SNAPSHOT_BUF`]).
pub const LABEL_LEN: usize = 32;

/// The session's label from the request's `User-Agent`: "Firefox on
/// Linux" and the like, else the header's first [`LABEL_LEN`] bytes (the
/// client chooses them: escaped wherever shown).
pub(crate) struct DeviceLabel(pub Label);

impl<'r, S> FromRequestParts<'r, S> for DeviceLabel {
    type Rejection = core::convert::Infallible;

    async fn from_request_parts(
        _: &'r S,
        parts: &RequestParts<'r>,
    ) -> Result<Self, Self::Rejection> {
        let agent = parts
            .headers()
            .get("user-agent")
            .and_then(|value| value.as_str().ok())
            .unwrap_or("");
        Ok(DeviceLabel(label_for(agent)))
    }
}

/// A short summary of a `User-Agent`.
///
/// ```
/// # use firmware::label_for as label;
/// let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
/// assert_eq!(label(firefox).as_str(), "Firefox on Linux");
/// assert_eq!(label("curl/8.5.0").as_str(), "curl");
/// assert_eq!(label("").as_str(), "Unknown device");
/// assert_eq!(label(&"<b>".repeat(20)).as_str().len(), 32); // cut at LABEL_LEN bytes
/// assert_eq!(label(&"é".repeat(20)).as_str().len(), 32); // on a char boundary
/// ```
pub fn label_for(agent: &str) -> Label {
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iOS"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(needle, _)| agent.contains(needle))
            .map(|(_, name)| *name)
    };
    let mut text = heapless::String::<LABEL_LEN>::new();
    // A text that does not fit is cut: whole characters, as many as fit.
    let _ = match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => write!(text, "{browser} on {system}"),
        (Some(name), None) | (None, Some(name)) => write!(text, "{name}"),
        (None, None) if agent.trim().is_empty() => write!(text, "Unknown device"),
        (None, None) => agent
            .chars()
            .try_for_each(|c| text.push(c).map_err(|_| fmt::Error)),
    };
    Label::truncated(&text)
}

/// What a login records for the list: the owner `user`, the label, and the
/// lifetime (`remember`: 30 days idle and 90 absolute, a cookie with
/// `Max-Age`; otherwise a browser session, a cookie without). `None` for a
/// name over 64 bytes.
pub(crate) fn sign_in_as(user: &str, label: Label, remember: bool) -> Option<SignIn> {
    let user = UserId::new(user.as_bytes()).ok()?;
    let lifetime = if remember {
        Lifetime::REMEMBER_ME
    } else {
        Lifetime::BrowserSession
    };
    Some(SignIn::new(user).with_label(label).with_lifetime(lifetime))
}

/// What the four routes answer, before the session adds its headers.
pub(crate) enum Reply<R: 'static> {
    Page(Listing<R>),
    Json(Listing<R>),
    SeeOther(&'static str),
    Text(StatusCode, &'static str),
}

/// The page's security headers (`Cache-Control` comes with the session's,
/// through `WithSession::no_store`).
const PAGE_HEADERS: [(&str, &str); 4] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
];

impl<R> IntoResponse for Reply<R> {
    async fn write_to<IO: Read, W: ResponseWriter<Error = IO::Error>>(
        self,
        connection: Connection<'_, IO>,
        writer: W,
    ) -> Result<ResponseSent, W::Error> {
        match self {
            // The list is read here and the bodies borrow it from this
            // future: a body moves through every layer of picoserve's
            // writers, and a list by value would be copied at each (tens
            // of KiB of stack).
            Reply::Page(listing) => {
                let sessions = listing.read().await;
                let body = Body("text/html; charset=utf-8", Page(&sessions));
                let response = Response::ok(body).with_headers(PAGE_HEADERS);
                writer.write_response(connection, response).await
            }
            Reply::Json(listing) => {
                let sessions = listing.read().await;
                let body = Body("application/json", Json(&sessions));
                let response = Response::ok(body).with_header("X-Content-Type-Options", "nosniff");
                writer.write_response(connection, response).await
            }
            Reply::SeeOther(location) => Redirect::to(location).write_to(connection, writer).await,
            Reply::Text(status, text) => {
                writer
                    .write_response(connection, Response::new(status, text))
                    .await
            }
        }
    }
}

/// One listed session: what [`SessionInfo`] says, in half its size (this
/// list lives in every web worker's future, so in RAM eight times over).
struct Row {
    tag: DisplayTag,
    current: bool,
    label: heapless::String<LABEL_LEN>,
    created: Instant,
    last_seen: Instant,
    expires_at: Instant,
}

impl From<&SessionInfo> for Row {
    fn from(s: &SessionInfo) -> Row {
        let mut label = heapless::String::new();
        // Labels are made by `label_for`, so they fit; a longer one is cut.
        let _ = s.label.as_str().chars().try_for_each(|c| label.push(c));
        Row {
            tag: s.tag,
            current: s.current,
            label,
            created: s.created,
            last_seen: s.last_seen,
            expires_at: s.expires_at,
        }
    }
}

/// The listed sessions and what the page needs besides.
pub(crate) struct Sessions {
    list: heapless::Vec<Row, CAPACITY>,
    now: Instant,
    csrf: heapless::String<{ sesh::presession::PRE_CSRF_TOKEN_LEN }>,
}

/// Whose sessions a reply lists. The rows (1.2 KB) are read from the
/// table only when the body is written, in [`Reply`]'s `write_to`: a
/// reply goes by value through about ten layers of picoserve's futures,
/// each of which keeps its argument twice: a list inside it made every web
/// worker's future 6 KB larger (48 KB of `.bss` over eight workers).
pub(crate) struct Listing<R: 'static> {
    sessions: &'static AppSessions<R>,
    owner: UserId,
    current: DisplayTag,
    csrf: heapless::String<{ sesh::presession::PRE_CSRF_TOKEN_LEN }>,
}

impl<R> Listing<R> {
    /// The owner's live sessions, most recently seen first.
    async fn read(&self) -> Sessions {
        let mut inner = self.sessions.lock().await;
        let mut list = heapless::Vec::<Row, CAPACITY>::new();
        let now = self.sessions.now();
        // No list of `SessionInfo` (twice the size) on the way: one row each.
        for info in inner.table().sessions_of(&self.owner, None, now) {
            let mut row = Row::from(&info);
            row.current = row.tag == self.current;
            // The table holds CAPACITY sessions: every row fits.
            let _ = list.push(row);
        }
        drop(inner);
        list.sort_unstable_by_key(|row| core::cmp::Reverse(row.last_seen));
        Sessions {
            list,
            now: sesh_embassy::now(),
            csrf: self.csrf.clone(),
        }
    }
}

/// Whose sessions to list, or `None` when not signed in.
async fn listed<R: TryCryptoRng>(
    sessions: &'static AppSessions<R>,
    session: &AppSession<R>,
) -> Result<Option<Listing<R>>, SessionError> {
    if !session.is_protected().await {
        return Ok(None);
    }
    let token = session.csrf_token().await?;
    let Some(owner) = session.owner().await else {
        return Ok(None);
    };
    let mut current = None;
    session
        .visit_sessions(|info| {
            if info.current {
                current = Some(info.tag);
            }
        })
        .await;
    let Some(current) = current else {
        return Ok(None);
    };
    Ok(Some(Listing {
        sessions,
        owner,
        current,
        csrf: heapless::String::try_from(token.as_str()).unwrap_or_default(),
    }))
}

/// `GET /sessions`: the list, or back to the login form.
pub(crate) async fn page<R: TryCryptoRng>(
    State(sessions): State<&'static AppSessions<R>>,
    session: AppSession<R>,
) -> WithSession<Result<Reply<R>, SessionError>> {
    let reply = listed(sessions, &session)
        .await
        .map(|found| found.map_or(Reply::SeeOther("/"), Reply::Page));
    session.respond(reply).await.no_store()
}

/// `GET /sessions.json`: the list, or 401.
pub(crate) async fn json<R: TryCryptoRng>(
    State(sessions): State<&'static AppSessions<R>>,
    session: AppSession<R>,
) -> WithSession<Result<Reply<R>, SessionError>> {
    let reply = listed(sessions, &session).await.map(|found| {
        found.map_or(
            Reply::Text(StatusCode::UNAUTHORIZED, "not logged in\n"),
            Reply::Json,
        )
    });
    session.respond(reply).await.no_store()
}

/// Form fields are bounded: a longer value fails the form (400). A
/// missing field is empty, so that a form without a token answers 403.
#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    tag: heapless::String<32>,
    #[serde(default)]
    csrf: heapless::String<64>,
}

const fn bad_csrf<R>() -> Reply<R> {
    Reply::Text(StatusCode::FORBIDDEN, "bad or missing CSRF token\n")
}

/// `POST /sessions/revoke` (`tag`, `csrf`): ends one of the user's
/// sessions; 404 for another user's tag or an unknown one.
pub(crate) async fn revoke<R: TryCryptoRng>(
    session: AppSession<R>,
    Form(form): Form<RevokeForm>,
) -> WithSession<Reply<R>> {
    let reply = if !session.verify_csrf(&form.csrf).await {
        bad_csrf()
    } else {
        let revoked = match DisplayTag::parse(&form.tag) {
            Some(tag) => session.revoke(&tag).await.is_ok(),
            None => false,
        };
        if revoked {
            Reply::SeeOther("/sessions")
        } else {
            Reply::Text(StatusCode::NOT_FOUND, "no such session\n")
        }
    };
    session.respond(reply).await.no_store()
}

/// `POST /sessions/revoke-others` (`csrf`): signs the user out everywhere
/// but here.
pub(crate) async fn revoke_others<R: TryCryptoRng>(
    session: AppSession<R>,
    Form(form): Form<RevokeForm>,
) -> WithSession<Reply<R>> {
    let reply = if session.verify_csrf(&form.csrf).await && session.is_protected().await {
        session.revoke_others().await;
        Reply::SeeOther("/sessions")
    } else {
        bad_csrf()
    };
    session.respond(reply).await.no_store()
}

/// A body formatted from `T` as it is written (measured first for
/// `Content-Length`: the text is deterministic).
struct Body<T>(&'static str, T);

/// Counts what a `Display` writes.
struct Measure(usize);

impl fmt::Write for Measure {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = self.0.checked_add(s.len()).ok_or(fmt::Error)?;
        Ok(())
    }
}

impl<T: Display> Content for Body<T> {
    fn content_type(&self) -> &'static str {
        self.0
    }

    fn content_length(&self) -> usize {
        let mut measure = Measure(0);
        match write!(measure, "{}", self.1) {
            Ok(()) => measure.0,
            Err(fmt::Error) => 0,
        }
    }

    async fn write_content<W: Write>(self, mut writer: W) -> Result<(), W::Error> {
        writer.write_fmt(format_args!("{}", self.1)).await
    }
}

/// A span of time in words, to the largest whole unit: "3 min", "29 days".
struct Span(Duration);

impl Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_millis() / 1000;
        match secs {
            0..60 => write!(f, "{secs} s"),
            60..3_600 => write!(f, "{} min", secs / 60),
            3_600..86_400 => write!(f, "{} h", secs / 3_600),
            _ => write!(f, "{} days", secs / 86_400),
        }
    }
}

struct Page<'a>(&'a Sessions);

impl Display for Page<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Sessions { list, now, csrf } = self.0;
        let csrf = escape(csrf);
        f.write_str(crate::html::HEAD)?;
        f.write_str("<h2>Your sessions</h2>\n<ul class=\"sessions\">\n")?;
        for s in list {
            // Times are relative: a board may not know the date.
            write!(
                f,
                "<li data-tag=\"{tag}\"><strong>{label}</strong>{this}<br>\
                 <span class=\"muted\">last seen {seen} ago, expires in {left}</span>",
                tag = s.tag,
                label = escape(s.label.as_str()),
                this = if s.current {
                    " <em>(this device)</em>"
                } else {
                    ""
                },
                seen = Span(now.saturating_duration_since(s.last_seen)),
                left = Span(s.expires_at.saturating_duration_since(*now)),
            )?;
            writeln!(
                f,
                "<form method=\"post\" action=\"/sessions/revoke\">\
                 <input type=\"hidden\" name=\"tag\" value=\"{}\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button type=\"submit\">Revoke</button></form></li>",
                s.tag
            )?;
        }
        write!(
            f,
            "</ul>\n<form method=\"post\" action=\"/sessions/revoke-others\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Sign out everywhere else</button></form>\n\
             <p><a href=\"/\">Back</a></p>\n"
        )?;
        f.write_str(crate::html::TAIL)
    }
}

struct Json<'a>(&'a Sessions);

impl Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (n, s) in self.0.list.iter().enumerate() {
            let comma = if n == 0 { "" } else { "," };
            write!(
                f,
                "{comma}{{\"tag\":\"{}\",\"current\":{},\"label\":\"{}\",\"created_at\":\"{}\",\"last_seen\":\"{}\",\"expires_at\":\"{}\"}}",
                s.tag,
                s.current,
                JsonText(s.label.as_str()),
                WALL_CLOCK.rfc3339(s.created),
                WALL_CLOCK.rfc3339(s.last_seen),
                WALL_CLOCK.rfc3339(s.expires_at),
            )?;
        }
        f.write_str("]")
    }
}

/// A JSON string's contents: `"`, `\` and control characters escaped.
struct JsonText<'a>(&'a str);

impl Display for JsonText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                // `<` too, so the text is inert if pasted into HTML.
                c if c < ' ' || c == '<' || c == '\u{7f}' => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::{JsonText, Span};
    use sesh::Duration;

    #[test]
    fn json_text_escapes_quotes_backslashes_and_controls() {
        assert_eq!(
            JsonText("a\"b\\c\n<\u{1}é").to_string(),
            "a\\\"b\\\\c\\u000a\\u003c\\u0001é"
        );
    }

    #[test]
    fn spans_read_in_the_largest_unit() {
        assert_eq!(Span(Duration::from_secs(59)).to_string(), "59 s");
        assert_eq!(Span(Duration::from_mins(10)).to_string(), "10 min");
        assert_eq!(Span(Duration::from_hours(30 * 24)).to_string(), "30 days");
    }
}
