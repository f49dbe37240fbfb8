//! Reading the session cookie from `Cookie:` headers, deciding which
//! `Set-Cookie` and cache headers a response carries ([`CookieDecision`]),
//! and writing `Set-Cookie`.
//!
//! Nothing here allocates: the parser borrows from the header bytes, and the
//! writer formats into any [`core::fmt::Write`], such as a `heapless::String`.

mod config;
mod decision;
mod scan;
mod set_cookie;

pub use config::{CookieConfig, CookieConfigError, SameSite};
#[cfg(feature = "signed")]
pub use decision::PreSessionCookie;
pub use decision::{CookieDecision, CookieHeaders, RequestCookie, SessionCookie};
pub use scan::{CookieScan, ScanOutcome};
pub use set_cookie::{MAX_AGE_LIMIT, write_removal, write_session_only_cookie, write_set_cookie};
