//! The pages: small, self-contained HTML with inline CSS and no external
//! assets. Every piece of text that comes from outside goes through
//! [`escape`].

use std::time::{Duration, UNIX_EPOCH};

use sesh::owner::SessionInfo;
use sesh_tokio::store::Occupancy;

/// Escapes `text` for HTML element content and quoted attribute values.
///
/// ```
/// assert_eq!(login::html::escape(r#"<a href="x">'&'</a>"#),
///            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root{color-scheme:light dark;--fg:#1d2330;--muted:#5b6475;--bg:#eef1f5;--card:#fff;--line:#d5dae3;--accent:#0b63ce;--bad:#b3261e}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--muted:#9aa3b2;--bg:#11151c;--card:#1a2029;--line:#2c3440;--accent:#5aa2ff;--bad:#ff8a80}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{background:#1d2330;color:#fff;padding:.7rem 1.25rem;display:flex;align-items:center;gap:.6rem}
header i{width:.6rem;height:.6rem;border-radius:50%;background:#3ccf6e}
header b{font-weight:600;letter-spacing:.03em}
header small{color:#9aa3b2;margin-left:auto}
main{max-width:27rem;margin:3rem auto;padding:0 1rem}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1.5rem}
h1{font-size:1.15rem;margin:0 0 1rem}
label{display:block;font-size:.85rem;color:var(--muted);margin:.8rem 0 .25rem}
input{width:100%;padding:.5rem .6rem;border:1px solid var(--line);border-radius:5px;font:inherit;color:inherit;background:var(--bg)}
button{margin-top:1.25rem;width:100%;padding:.55rem;border:0;border-radius:5px;background:var(--accent);color:#fff;font:inherit;font-weight:600;cursor:pointer}
button.quiet{background:transparent;color:var(--accent);border:1px solid var(--line)}
.error{color:var(--bad);border-left:3px solid var(--bad);padding:.3rem .7rem;margin:0 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.45rem 1rem;margin:0}
dt{color:var(--muted)}
dd{margin:0;font-variant-numeric:tabular-nums}
a{color:var(--accent)}
footer{text-align:center;color:var(--muted);font-size:.8rem;margin-top:1rem}
</style>
"#;

/// A whole page around `body` (already HTML).
fn page(title: &str, body: &str) -> String {
    let mut html = String::with_capacity(HEAD.len().saturating_add(body.len()).saturating_add(512));
    html.push_str(HEAD);
    html.push_str("<title>");
    html.push_str(&escape(title));
    html.push_str(" · sesh-device</title>\n</head>\n<body>\n");
    html.push_str("<header><i></i><b>sesh-device</b><small>admin console</small></header>\n<main>\n<section>\n");
    html.push_str(body);
    html.push_str("</section>\n<footer>Demo of server-side sessions with sesh</footer>\n</main>\n</body>\n</html>\n");
    html
}

/// The login form, with the CSRF token in the hidden field `csrf`, the
/// user name to prefill, and an error to show.
pub fn login(csrf: &str, username: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Sign in</h1>
{error}<form method="post" action="/login">
<input type="hidden" name="csrf" value="{csrf}">
<label for="username">User name</label>
<input id="username" name="username" value="{username}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<label><input type="checkbox" name="remember" value="on" style="width:auto"> Remember me for 30 days</label>
<button type="submit">Sign in</button>
</form>
"#,
        csrf = escape(csrf),
        username = escape(username),
    );
    page("Sign in", &body)
}

/// What the dashboard shows.
#[derive(Debug, Clone)]
pub struct Status<'a> {
    /// The signed-in user.
    pub user: &'a str,
    /// Page views in this session.
    pub visits: u64,
    /// When the session expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
    /// Now, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// How full the session store is, from the store's own counts; `None`
    /// when it keeps none (the page then says so: it never scans the store).
    pub occupancy: Option<Occupancy>,
    /// The CSRF token for the logout form.
    pub csrf: &'a str,
}

/// The store line: "1 session in use", "3 of 100 sessions in use", or
/// "not counted" for a store that keeps no count.
fn store_line(occupancy: Option<Occupancy>) -> String {
    let Some(occupancy) = occupancy else {
        return "not counted".into();
    };
    let capacity = occupancy
        .capacity
        .map(|c| format!(" of {c}"))
        .unwrap_or_default();
    // "1 session", but "1 of 100 sessions".
    let noun = if occupancy.sessions == 1 && occupancy.capacity.is_none() {
        "session"
    } else {
        "sessions"
    };
    format!("{}{capacity} {noun} in use", occupancy.sessions)
}

/// The page of a signed-in user.
pub fn dashboard(status: &Status<'_>) -> String {
    let expires = status
        .expires_at_ms
        .map(|at| expiry(at, status.now_ms))
        .unwrap_or_else(|| "unknown".into());
    let body = format!(
        r#"<h1>Device status</h1>
<dl>
<dt>Signed in as</dt><dd>{user}</dd>
<dt>Page views</dt><dd>{visits} in this session</dd>
<dt>Session expires</dt><dd>{expires}</dd>
<dt>Session store</dt><dd>{store}</dd>
</dl>
<p><a href="/sessions">Your sessions</a></p>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="quiet">Sign out</button>
</form>
"#,
        user = escape(status.user),
        visits = status.visits,
        expires = escape(&expires),
        store = escape(&store_line(status.occupancy)),
        csrf = escape(status.csrf),
    );
    page("Status", &body)
}

/// The user's sessions (the current one first): label, last use and
/// expiry, "this device" on the current one, a revoke button on each, and
/// "Sign out everywhere else"; both forms carry the CSRF token.
pub fn sessions(sessions: &[SessionInfo], now_ms: u64, csrf: &str) -> String {
    let csrf = escape(csrf);
    let mut rows = String::new();
    for s in sessions {
        let label = match s.label.as_str() {
            "" => "unknown device".to_owned(),
            label => escape(label),
        };
        let this = if s.current {
            " <b>(this device)</b>"
        } else {
            ""
        };
        rows.push_str(&format!(
            r#"<li><p>{label}{this}<br><small>last seen {seen}<br>expires {expires}</small></p>
<form method="post" action="/sessions/revoke">
<input type="hidden" name="tag" value="{tag}">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="quiet">Sign out this session</button>
</form></li>
"#,
            seen = escape(&http_date(s.last_seen.as_millis())),
            expires = escape(&expiry(s.expires_at.as_millis(), now_ms)),
            tag = escape(&s.tag.to_string()),
        ));
    }
    let body = format!(
        r#"<h1>Your sessions</h1>
<ul>
{rows}</ul>
<form method="post" action="/sessions/revoke-others">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit">Sign out everywhere else</button>
</form>
<p><a href="/">Back to the status page</a></p>
"#
    );
    page("Sessions", &body)
}

/// The sessions as a JSON array of `{"tag","current","label","created_at",
/// "last_seen","expires_at"}`, times in RFC 3339 (UTC).
///
/// ```
/// use sesh::owner::{DisplayTag, Label, SessionInfo};
/// use sesh::{expiry::Lifetime, Instant, SessionId};
/// let info = SessionInfo {
///     tag: DisplayTag::of(&SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?),
///     created: Instant::ZERO,
///     last_seen: Instant::from_secs(90),
///     expires_at: Instant::from_millis(1_767_225_600_000),
///     label: Label::new("a \"quoted\" label")?,
///     lifetime: Lifetime::Default,
///     current: true,
/// };
/// let json = login::html::sessions_json(&[info.clone()]);
/// assert_eq!(json, format!(concat!(
///     r#"[{{"tag":"{}","current":true,"label":"a \"quoted\" label","#,
///     r#""created_at":"1970-01-01T00:00:00Z","last_seen":"1970-01-01T00:01:30Z","#,
///     r#""expires_at":"2026-01-01T00:00:00Z"}}]"#), info.tag));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sessions_json(sessions: &[SessionInfo]) -> String {
    let items: Vec<String> = sessions
        .iter()
        .map(|s| {
            format!(
                r#"{{"tag":"{}","current":{},"label":{},"created_at":"{}","last_seen":"{}","expires_at":"{}"}}"#,
                s.tag,
                s.current,
                json_string(s.label.as_str()),
                rfc3339(s.created.as_millis()),
                rfc3339(s.last_seen.as_millis()),
                rfc3339(s.expires_at.as_millis()),
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// `text` as a JSON string, quoted and escaped.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len().saturating_add(2));
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // Control characters, and < > & so the JSON is safe inside HTML too.
            c if c.is_control() || matches!(c, '<' | '>' | '&') => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `ms` since the Unix epoch as an HTTP date (`Thu, 01 Jan 1970 00:00:00 GMT`).
fn http_date(ms: u64) -> String {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .map(httpdate::fmt_http_date)
        .unwrap_or_else(|| format!("{ms} ms after the Unix epoch"))
}

/// `ms` since the Unix epoch in RFC 3339, to the second, in UTC
/// (`1970-01-01T00:00:00Z`), rearranged from the HTTP date, whose fields
/// have fixed places.
///
/// ```
/// assert_eq!(login::html::rfc3339(1_767_225_600_999), "2026-01-01T00:00:00Z");
/// assert_eq!(login::html::rfc3339(951_827_696_000), "2000-02-29T12:34:56Z");
/// ```
pub fn rfc3339(ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let date = http_date(ms);
    // "Thu, 01 Jan 1970 00:00:00 GMT"
    let fields: Vec<&str> = date.split(' ').collect();
    let (Some(day), Some(month), Some(year), Some(time)) =
        (fields.get(1), fields.get(2), fields.get(3), fields.get(4))
    else {
        return date;
    };
    let Some(month) = MONTHS.iter().position(|m| m == month) else {
        return date;
    };
    format!("{year}-{:02}-{day}T{time}Z", month.saturating_add(1))
}

/// The page for an unknown session (404).
pub fn not_found() -> String {
    page(
        "Not found",
        "<h1>Not found</h1>\n<p class=\"error\">No such session of yours.</p>\n\
         <p><a href=\"/sessions\">Back to your sessions</a></p>\n",
    )
}

/// The page for a refused form (403).
pub fn forbidden() -> String {
    page(
        "Forbidden",
        "<h1>Forbidden</h1>\n<p class=\"error\">This form has expired or did not come from this \
         site.</p>\n<p><a href=\"/\">Back to the start page</a></p>\n",
    )
}

/// `expires_ms` as UTC time and as a countdown from `now_ms`, e.g.
/// `Thu, 01 Jan 1970 00:30:00 GMT (in 30 minutes)`.
///
/// ```
/// assert_eq!(login::html::expiry(1_800_000, 0), "Thu, 01 Jan 1970 00:30:00 GMT (in 30 minutes)");
/// assert_eq!(login::html::expiry(90_000, 60_000), "Thu, 01 Jan 1970 00:01:30 GMT (in 1 minute)");
/// assert_eq!(login::html::expiry(0, 60_000), "Thu, 01 Jan 1970 00:00:00 GMT (now)");
/// ```
pub fn expiry(expires_ms: u64, now_ms: u64) -> String {
    let utc = http_date(expires_ms);
    let minutes = expires_ms.saturating_sub(now_ms).div_ceil(60_000);
    match minutes {
        0 => format!("{utc} (now)"),
        1 => format!("{utc} (in 1 minute)"),
        n => format!("{utc} (in {n} minutes)"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Occupancy, Status, dashboard};

    fn page(occupancy: Option<Occupancy>) -> String {
        dashboard(&Status {
            user: "admin",
            visits: 1,
            expires_at_ms: None,
            now_ms: 0,
            occupancy,
            csrf: "t",
        })
    }

    fn counted(sessions: usize, capacity: Option<usize>) -> String {
        page(Some(Occupancy { sessions, capacity }))
    }

    #[test]
    fn the_store_line_counts_in_good_english() {
        assert!(counted(1, None).contains("<dd>1 session in use</dd>"));
        assert!(counted(2, None).contains("<dd>2 sessions in use</dd>"));
        assert!(counted(1, Some(100)).contains("<dd>1 of 100 sessions in use</dd>"));
    }

    #[test]
    fn a_store_without_counts_says_so() {
        assert!(page(None).contains("<dd>not counted</dd>"));
    }
}
