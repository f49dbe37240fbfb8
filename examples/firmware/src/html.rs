//! The one HTML page, written straight to the socket (no buffer, no heap).

use core::fmt::{self, Display, Write as _};

use picoserve::io::Write;
use picoserve::response::Content;

/// `text` with `& < > " '` escaped, for HTML text and quoted attributes.
///
/// ```
/// assert_eq!(
///     firmware::escape("<a href=\"x\">&'").to_string(),
///     "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
/// );
/// ```
pub fn escape(text: &str) -> Escaped<'_> {
    Escaped(text)
}

/// See [`escape`].
pub struct Escaped<'a>(&'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            let (plain, special) = rest.split_at(at);
            f.write_str(plain)?;
            let mut chars = special.chars();
            f.write_str(match chars.next() {
                Some('&') => "&amp;",
                Some('<') => "&lt;",
                Some('>') => "&gt;",
                Some('"') => "&quot;",
                _ => "&#39;",
            })?;
            rest = chars.as_str();
        }
        f.write_str(rest)
    }
}

/// The page at `/` (and the 401 after a failed login).
pub(crate) struct Page {
    /// The logged-in user; `None` shows the login form.
    pub user: Option<heapless::String<{ crate::USER_LEN }>>,
    /// Page views of the signed-in session; 0 for an anonymous visitor
    /// (nothing is stored for them).
    pub visits: u32,
    /// For the login form (bound to the pre-session cookie: nothing is
    /// stored for it) or the logout form (bound to the session).
    pub csrf: heapless::String<{ sesh::presession::PRE_CSRF_TOKEN_LEN }>,
    /// Shown above the login form.
    pub error: Option<Notice>,
    /// Whether the demo account is the one that signs in (the form then
    /// says so).
    pub demo: bool,
    /// Sessions in the table, and its capacity.
    pub occupancy: (usize, usize),
    /// Seconds until the session expires, if there is one.
    pub expires_in_secs: Option<u64>,
}

pub(crate) const HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Device admin</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2026;margin:0}
main{max-width:24rem;margin:3rem auto;background:#fff;border:1px solid #dde0e5;border-radius:10px;padding:1.5rem 1.75rem}
h1{font-size:1.25rem;margin:0 0 1rem}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.45rem .6rem;border:1px solid #b8bec8;border-radius:6px;font:inherit}
button{margin-top:1.1rem;padding:.45rem 1.3rem;border:0;border-radius:6px;background:#2456c8;color:#fff;font:inherit;cursor:pointer}
.error{background:#fdecee;color:#9b1c2c;border-radius:6px;padding:.5rem .7rem}
.muted{color:#687080;font-size:.875rem}
.count{font-size:2rem;font-weight:700}
</style></head><body><main>
<h1>Device admin</h1>
"#;

pub(crate) const TAIL: &str = "</main></body></html>\n";

impl Display for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HEAD)?;
        if let Some(user) = &self.user {
            writeln!(f, "<p>Signed in as <strong>{}</strong>.</p>", escape(user))?;
        }
        writeln!(
            f,
            "<p class=\"muted\">Visits this session</p><p class=\"count\">{}</p>",
            self.visits
        )?;
        if let Some(secs) = self.expires_in_secs {
            // The exact seconds ride along for scripts (and the restart tests).
            let mins = secs.div_ceil(60);
            writeln!(
                f,
                "<p class=\"muted\" data-expires-in=\"{secs}\">Session expires in {mins} min without use</p>"
            )?;
        }
        let (used, capacity) = self.occupancy;
        writeln!(
            f,
            "<p class=\"muted\">Sessions in use: {used} of {capacity}</p>"
        )?;
        let csrf = escape(self.csrf.as_str());
        if self.user.is_some() {
            f.write_str("<p><a href=\"/sessions\">Your sessions</a></p>\n")?;
            writeln!(
                f,
                "<form method=\"post\" action=\"/logout\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button type=\"submit\">Log out</button></form>"
            )?;
        } else {
            if let Some(error) = self.error {
                // Fixed text and a number: nothing to escape.
                writeln!(f, "<p class=\"error\" role=\"alert\">{error}</p>")?;
            }
            writeln!(
                f,
                "<form method=\"post\" action=\"/login\">\
                 <label for=\"username\">User name</label>\
                 <input id=\"username\" type=\"text\" name=\"username\" autocomplete=\"username\" maxlength=\"{max}\" required autofocus>\
                 <label for=\"password\">Password</label>\
                 <input id=\"password\" type=\"password\" name=\"password\" autocomplete=\"current-password\" maxlength=\"{max}\" required>\
                 <label><input type=\"checkbox\" name=\"remember\" value=\"on\"> Remember me for 30 days</label>\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button type=\"submit\">Log in</button></form>",
                max = crate::USER_LEN,
            )?;
            if self.demo {
                f.write_str("<p class=\"muted\">Demo account: admin / admin</p>\n")?;
            }
        }
        f.write_str(TAIL)
    }
}

/// What the login form says above itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// The user name or the password was wrong.
    WrongCredentials,
    /// Throttled: try again in this many seconds.
    TryAgainIn(u64),
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::WrongCredentials => f.write_str("Wrong user name or password."),
            Notice::TryAgainIn(secs) => {
                write!(f, "Too many failed attempts. Try again in {secs} s.")
            }
        }
    }
}

/// A `text/html` body formatted from `T` as it is written.
pub(crate) struct Html<T>(pub T);

/// Counts what a `Display` writes, for `Content-Length`.
struct Measure(usize);

impl fmt::Write for Measure {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = self.0.checked_add(s.len()).ok_or(fmt::Error)?;
        Ok(())
    }
}

impl<T: Display> Content for Html<T> {
    fn content_type(&self) -> &'static str {
        "text/html; charset=utf-8"
    }

    fn content_length(&self) -> usize {
        let mut measure = Measure(0);
        // The page is deterministic, so the length matches what is written.
        match write!(measure, "{}", self.0) {
            Ok(()) => measure.0,
            Err(fmt::Error) => 0,
        }
    }

    async fn write_content<W: Write>(self, mut writer: W) -> Result<(), W::Error> {
        writer.write_fmt(format_args!("{}", self.0)).await
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("plain").to_string(), "plain");
        assert_eq!(escape("").to_string(), "");
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\"").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("ünï<").to_string(), "ünï&lt;");
    }
}
