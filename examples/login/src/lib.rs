//! A firmware-style admin page on sesh-tokio: a login form protected by a
//! CSRF token, a new session id at login (session fixation defence), a
//! status page, and logout.
//!
//! | route | does |
//! |---|---|
//! | `GET /` | the login form (with the session's CSRF token), or the status page when signed in |
//! | `POST /login` | `username`, `password`, `csrf`: 403 without a valid token, 429 with `Retry-After` while the client address or the user name is backing off (the password is not even checked), 401 for wrong credentials, else a new session id and 303 to `/` |
//! | `GET /me` | 200 with the user name when signed in, else 401 |
//! | `POST /logout` | `csrf`: 403 without a valid token, else the session is destroyed and 303 to `/` |
//! | `GET /sessions` | signed in: the user's sessions (label, last seen, expiry, "this device"), each with a revoke button, and "Sign out everywhere else"; else 303 to `/` |
//! | `GET /sessions.json` | signed in: a JSON array of `{"tag","current","label","created_at","last_seen","expires_at"}` (RFC 3339 times, UTC); else 401 |
//! | `POST /sessions/revoke` | `tag`, `csrf`: 403 without a valid token, 404 for an unknown tag or another user's session, else that session ends and 303 to `/sessions` |
//! | `POST /sessions/revoke-others` | `csrf`: 403 without a valid token, else every other session of the user ends and 303 to `/sessions` |
//!
//! A login with `remember=on` gets a persistent session (30 days idle, 90
//! at most: [`Lifetime::REMEMBER_ME`], a cookie with `Max-Age`), else a
//! browser session (a cookie without `Max-Age`, dropped when the browser
//! closes; the server still ends it at the idle timeout). Each session is
//! the user's, signed in in one step ([`Session::sign_in`]), and labelled with a short summary of
//! the `User-Agent` ([`device_label`]).
//!
//! Every response carries a strict `Content-Security-Policy`,
//! `X-Frame-Options: DENY` and `Cache-Control: no-store`.
//!
//! Sessions live in the store `--store` names ([`store`]): by default a redb
//! file, so a restart (even a crash) keeps everyone signed in.
//!
//! **Login throttling.** Every login attempt with a valid CSRF token is
//! counted, before the password is checked, per client address (the TCP
//! peer: serve with [`axum::Router::into_make_service_with_connect_info`],
//! as [`serve_layer`] does) and per user name ([`LoginThrottle`]): 3
//! attempts are free, then each waits 1 s, 2 s, 4 s, … up to 15 minutes, and
//! a refused attempt is answered 429 with `Retry-After`, whatever the
//! password. A right password forgets both counts. Behind a reverse proxy
//! every client has the proxy's address, so the per-address count is shared
//! (the per-user count still holds); `X-Forwarded-For` is not trusted.
//!
//! **The password** is kept only as an Argon2id hash (RustCrypto `argon2`,
//! OWASP's parameters: 19 MiB, 2 passes) with a random salt; checking it
//! runs on the blocking pool, at most as many at once as the machine has
//! cores.

pub mod cli;
pub mod html;

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, RETRY_AFTER,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::USER_AGENT};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use sesh::expiry::Lifetime;
use sesh::owner::{DisplayTag, Label, SessionInfo, SignIn, UserId};
use sesh_tokio::store::Revoked;
use sesh_tokio::throttle::LoginThrottle;
use sesh_tokio::{Session, SessionConfig, SessionError, SessionLayer, SessionStore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

pub use sesh_example_support::store::{self, StoreSpec};

/// The address the binary listens on unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3001";

/// The `Content-Security-Policy` of every response.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'";

/// How often the sweeper purges expired sessions.
const SWEEP_PERIOD: Duration = Duration::from_secs(60);

/// What each session stores.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// The signed-in user; `None` for an anonymous session (one that only
    /// carries the login form's CSRF token).
    pub user: Option<String>,
    /// Status page views since sign-in.
    pub visits: u64,
}

/// The one account: its user name, and an Argon2id hash of its password
/// under a random salt. The password itself is not kept.
#[derive(Clone)]
pub struct Credentials {
    user: String,
    user_digest: [u8; 32],
    salt: [u8; SALT_LEN],
    password_hash: [u8; HASH_LEN],
}

/// Bytes of the random salt.
const SALT_LEN: usize = 16;
/// Bytes of the Argon2id output.
const HASH_LEN: usize = 32;

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Why [`Credentials::new`] made none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    /// The operating system gave no randomness for the salt.
    NoRandomness,
    /// Argon2 refused (the password is longer than it takes, or no memory).
    Hash(String),
}

impl std::fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialsError::NoRandomness => f.write_str("no randomness for the password's salt"),
            CredentialsError::Hash(e) => write!(f, "cannot hash the password: {e}"),
        }
    }
}

impl std::error::Error for CredentialsError {}

/// Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): the
/// `argon2` crate's defaults.
fn argon2id(password: &str, salt: &[u8; SALT_LEN]) -> Result<[u8; HASH_LEN], CredentialsError> {
    let mut out = [0u8; HASH_LEN];
    argon2::Argon2::default()
        .hash_password_into(password.as_bytes(), salt, &mut out)
        .map_err(|e| CredentialsError::Hash(e.to_string()))?;
    Ok(out)
}

/// SHA-256 only gives both user names of a comparison the same length, so
/// that comparing them in constant time reveals neither content nor length.
fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Credentials {
    /// The account `user` with `password`, of which only a salted Argon2id
    /// hash is kept (this takes a few tens of milliseconds).
    pub fn new(user: impl Into<String>, password: &str) -> Result<Self, CredentialsError> {
        let user = user.into();
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|_| CredentialsError::NoRandomness)?;
        Ok(Credentials {
            user_digest: digest(&user),
            password_hash: argon2id(password, &salt)?,
            salt,
            user,
        })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether `user` and `password` match. The password is always hashed,
    /// whatever the user name, and both are compared in constant time, so
    /// the answer's timing tells neither which was wrong nor where. Slow
    /// (Argon2id): call it off the async threads.
    pub fn check(&self, user: &str, password: &str) -> bool {
        let user_ok = digest(user).ct_eq(&self.user_digest);
        let password_ok = match argon2id(password, &self.salt) {
            Ok(hash) => hash.ct_eq(&self.password_hash),
            Err(_) => subtle::Choice::from(0),
        };
        bool::from(user_ok & password_ok)
    }
}

/// Where sessions live, how the server signs and sends its session cookie,
/// and whom it admits.
#[derive(Clone)]
pub struct Options {
    /// The signing secret: at least 32 random bytes. The store key (the
    /// keyed hash of ids at rest) comes from it too.
    pub secret: Vec<u8>,
    /// Whether the cookie carries `Secure`. ⚠️ Turn it off only for plain
    /// `http://` on localhost: without it the browser sends the session
    /// cookie over unencrypted connections.
    pub secure_cookies: bool,
    /// The demo account.
    pub credentials: Credentials,
    /// The session store.
    pub store: StoreSpec,
    /// The most sessions the store holds, if not its default.
    pub max_sessions: Option<std::num::NonZeroUsize>,
    /// The idle timeout, if not the default 30 minutes.
    pub idle_timeout: Option<sesh::Duration>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("secret", &"<redacted>")
            .field("secure_cookies", &self.secure_cookies)
            .field("credentials", &self.credentials)
            .field("store", &self.store)
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

/// The session cookie's name: `__Host-sid` when it carries `Secure` (the
/// browser then refuses it from plain HTTP, from a subdomain, or with a
/// `Domain` or another `Path`, so nobody can plant or overwrite it), else
/// `sid` (a `__Host-` cookie must be `Secure`).
pub fn cookie_name(secure_cookies: bool) -> &'static str {
    if secure_cookies { "__Host-sid" } else { "sid" }
}

/// The session settings from `options` (sesh's safe defaults otherwise:
/// `HttpOnly`, `SameSite=Lax`, `Path=/`, 30 minutes idle, 8 hours
/// absolute), with the cookie [`cookie_name`] gives.
pub fn session_config(options: &Options) -> io::Result<SessionConfig> {
    Ok(SessionConfig::new(&options.secret)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
        .with_cookie_name(cookie_name(options.secure_cookies))
        .with_secure(options.secure_cookies))
    .map(|config| match options.idle_timeout {
        Some(idle) => config.with_idle_timeout(idle),
        None => config,
    })
}

/// The session layer over `store` (ignoring `options.store`), configured by
/// `options`.
pub fn layer(store: impl SessionStore, options: &Options) -> io::Result<SessionLayer> {
    SessionLayer::new(store, session_config(options)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// The session layer over the store `options.store` names, opened (a redb
/// file) or set up (a Redis pool, which connects on first use).
pub async fn open_layer(options: &Options) -> io::Result<SessionLayer> {
    store::open_layer(
        &options.store,
        options.max_sessions,
        &options.secret,
        session_config(options)?,
    )
    .await
}

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    credentials: Arc<Credentials>,
    throttle: LoginThrottle,
    /// Password checks running at once: each takes 19 MiB for a moment.
    hashing: Arc<Semaphore>,
}

/// The application, with sessions from `layer`, admitting `credentials`,
/// counting login attempts in `throttle`. Serve it with connect info
/// ([`axum::Router::into_make_service_with_connect_info`]`::<SocketAddr>`),
/// or every client shares one per-address count.
pub fn app(layer: SessionLayer, credentials: Credentials, throttle: LoginThrottle) -> Router {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let state = AppState {
        credentials: Arc::new(credentials),
        throttle,
        hashing: Arc::new(Semaphore::new(cores)),
    };
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/sessions", get(sessions_page))
        .route("/sessions.json", get(sessions_json))
        .route("/sessions/revoke", post(revoke))
        .route("/sessions/revoke-others", post(revoke_others))
        .with_state(state)
        .layer(layer)
        // Outside the session layer, so that its error responses get them too.
        .layer(axum::middleware::map_response(security_headers))
}

/// The TCP peer's address, from axum's connect info; without it (a server
/// not started with connect info), the unspecified address, which every
/// such client then shares.
struct ClientAddr(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
                Some(ConnectInfo(addr)) => addr.ip(),
                None => {
                    tracing::warn!(
                        "no client address (serve with connect info): one login count for all"
                    );
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                }
            },
        ))
    }
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Pages carry CSRF tokens and account data: never cache them.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The status page when signed in, else the login form.
async fn index(session: Session<Account>) -> Result<Response, SessionError> {
    let signed_in = session
        .get()
        .await?
        .is_some_and(|account| account.user.is_some());
    if signed_in {
        let account = session
            .update(|a| {
                if a.user.is_some() {
                    a.visits = a.visits.saturating_add(1);
                }
                a.clone()
            })
            .await?;
        // Still signed in: a logout in between would have left a fresh,
        // anonymous session here.
        if let Some(user) = &account.user {
            let csrf = session.csrf_token().await?;
            let status = html::Status {
                user,
                visits: account.visits,
                expires_at_ms: session.expires_at().await?.map(|at| at.as_millis()),
                now_ms: now_ms(),
                occupancy: session.occupancy().await?,
                csrf: csrf.as_str(),
            };
            return Ok(Html(html::dashboard(&status)).into_response());
        }
    }
    // Anonymous: the token binds the form to this browser's pre-session
    // cookie, and nothing is stored (issue 14, finding 1).
    let csrf = session.csrf_token().await?;
    Ok(Html(html::login(csrf.as_str(), "", None)).into_response())
}

/// The login form's fields; a missing one reads as empty (and fails).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct LoginForm {
    username: String,
    password: String,
    csrf: String,
    /// `on` for a persistent session ("remember me").
    remember: String,
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, Html(html::forbidden())).into_response()
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    session: Session<Account>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, SessionError> {
    // Creates no session: the token must be the form's, bound to this
    // browser's pre-session cookie (or its session). Checked first, so
    // that posts without the form's token never count against a user.
    if !session.verify_csrf(&form.csrf).await? {
        tracing::info!("login refused: missing or invalid CSRF token");
        return Ok(forbidden());
    }
    // Counted before the password is checked; refused, the password is
    // not even looked at.
    let attempt = match state.throttle.begin(client, &form.username) {
        Ok(attempt) => attempt,
        Err(throttled) => {
            tracing::warn!(%client, by = ?throttled.by(), "login refused: backing off");
            let message = format!(
                "Too many failed attempts. Try again in {} s.",
                throttled.retry_after_secs()
            );
            let page = html::login(&form.csrf, &form.username, Some(&message));
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Html(page)).into_response();
            response
                .headers_mut()
                .insert(RETRY_AFTER, throttled.retry_after_header());
            return Ok(response);
        }
    };
    if !check_password(&state, &form).await {
        tracing::info!(%client, "login refused: wrong user name or password");
        // Nothing is written: the token just verified, so it goes back as is.
        let page = html::login(
            &form.csrf,
            &form.username,
            Some("Wrong user name or password."),
        );
        return Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response());
    }
    attempt.succeeded();
    let credentials = &state.credentials;
    let agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let lifetime = if form.remember == "on" {
        Lifetime::REMEMBER_ME
    } else {
        Lifetime::BrowserSession
    };
    // One step: a new id (one planted in this browser before login is now
    // useless), the account, protection from eviction, and the owner that
    // puts it in the user's list for "sign out everywhere"; or nothing.
    let sign_in = SignIn::new(user_id(credentials.user()))
        .with_label(device_label(agent))
        .with_lifetime(lifetime);
    let account = |_: Option<&Account>| Account {
        user: Some(credentials.user().to_owned()),
        visits: 0,
    };
    session.sign_in(&sign_in, account).await?;
    tracing::info!(user = %credentials.user(), "signed in");
    Ok(Redirect::to("/").into_response())
}

/// The owner id of `user`: the name itself, or for a name longer than a
/// [`UserId`] holds (64 bytes), its SHA-256.
fn user_id(user: &str) -> UserId {
    UserId::new(user.as_bytes())
        .or_else(|_| UserId::new(&digest(user)))
        .unwrap_or_default()
}

/// A short summary of a `User-Agent`, such as `Firefox on Linux`, or the
/// header itself when it names no known browser; at most 64 bytes. It
/// comes from the client: escape it wherever it is shown.
///
/// ```
/// let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
/// assert_eq!(login::device_label(firefox).as_str(), "Firefox on Linux");
/// assert_eq!(login::device_label("curl/8.5.0").as_str(), "curl/8.5.0");
/// assert_eq!(login::device_label(&"x".repeat(100)).as_str().len(), 64);
/// assert_eq!(login::device_label("").as_str(), "unknown device");
/// ```
pub fn device_label(user_agent: &str) -> Label {
    // Order matters: Edge and Opera say Chrome, Chrome says Safari.
    const BROWSERS: [(&str, &str); 6] = [
        ("Firefox/", "Firefox"),
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(needle, _)| user_agent.contains(needle))
        .map(|(_, name)| *name);
    let system = SYSTEMS
        .iter()
        .find(|(needle, _)| user_agent.contains(needle))
        .map(|(_, name)| *name);
    match (browser, system) {
        (Some("curl"), _) | (None, _) if !user_agent.trim().is_empty() => {
            Label::truncated(user_agent.trim())
        }
        (Some(browser), Some(system)) => Label::truncated(&format!("{browser} on {system}")),
        (Some(browser), None) => Label::truncated(browser),
        _ => Label::truncated("unknown device"),
    }
}

/// The signed-in user's name, if any.
async fn signed_in(session: &Session<Account>) -> Result<Option<String>, SessionError> {
    Ok(session.get().await?.and_then(|a| a.user))
}

/// The user's sessions, this one first, then the most recently used.
async fn listed(session: &Session<Account>) -> Result<Vec<SessionInfo>, SessionError> {
    let mut sessions = session.sessions().await?;
    sessions.sort_by_key(|s| (!s.current, std::cmp::Reverse(s.last_seen)));
    Ok(sessions)
}

async fn sessions_page(session: Session<Account>) -> Result<Response, SessionError> {
    if signed_in(&session).await?.is_none() {
        return Ok(Redirect::to("/").into_response());
    }
    let sessions = listed(&session).await?;
    let csrf = session.csrf_token().await?;
    Ok(Html(html::sessions(&sessions, now_ms(), csrf.as_str())).into_response())
}

async fn sessions_json(session: Session<Account>) -> Result<Response, SessionError> {
    if signed_in(&session).await?.is_none() {
        return Ok((StatusCode::UNAUTHORIZED, "not signed in\n").into_response());
    }
    let body = html::sessions_json(&listed(&session).await?);
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// The revoke form's fields.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct RevokeForm {
    tag: String,
    csrf: String,
}

async fn revoke(
    session: Session<Account>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, SessionError> {
    if !session.verify_csrf(&form.csrf).await? {
        tracing::info!("revoke refused: missing or invalid CSRF token");
        return Ok(forbidden());
    }
    let revoked = match DisplayTag::parse(&form.tag) {
        Some(tag) => session.revoke(&tag).await?,
        None => Revoked::NotFound,
    };
    Ok(match revoked {
        Revoked::Ended => Redirect::to("/sessions").into_response(),
        // An unknown tag, or another user's session: both look the same.
        Revoked::NotFound => (StatusCode::NOT_FOUND, Html(html::not_found())).into_response(),
    })
}

async fn revoke_others(
    session: Session<Account>,
    Form(form): Form<LogoutForm>,
) -> Result<Response, SessionError> {
    if !session.verify_csrf(&form.csrf).await? {
        tracing::info!("revoke-others refused: missing or invalid CSRF token");
        return Ok(forbidden());
    }
    let ended = session.revoke_others().await?;
    tracing::info!(ended, "signed out everywhere else");
    Ok(Redirect::to("/sessions").into_response())
}

/// [`Credentials::check`] on the blocking pool, a few at a time. A failure
/// to run it (no permit, a panic) counts as a wrong password.
async fn check_password(state: &AppState, form: &LoginForm) -> bool {
    let Ok(_permit) = state.hashing.acquire().await else {
        return false;
    };
    let credentials = Arc::clone(&state.credentials);
    let (user, password) = (form.username.clone(), form.password.clone());
    tokio::task::spawn_blocking(move || credentials.check(&user, &password))
        .await
        .unwrap_or(false)
}

/// The user name, or 401.
async fn me(session: Session<Account>) -> Result<Response, SessionError> {
    Ok(match session.get().await?.and_then(|a| a.user) {
        Some(user) => format!("{user}\n").into_response(),
        None => (StatusCode::UNAUTHORIZED, "not signed in\n").into_response(),
    })
}

/// The logout form's field.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct LogoutForm {
    csrf: String,
}

async fn logout(
    session: Session<Account>,
    Form(form): Form<LogoutForm>,
) -> Result<Response, SessionError> {
    if !session.verify_csrf(&form.csrf).await? {
        tracing::info!("logout refused: missing or invalid CSRF token");
        return Ok(forbidden());
    }
    session.destroy().await?;
    tracing::info!("signed out");
    Ok(Redirect::to("/").into_response())
}

/// Serves the application on `listener` until an I/O error.
pub async fn serve(listener: tokio::net::TcpListener, options: Options) -> io::Result<()> {
    serve_with_shutdown(listener, options, std::future::pending()).await
}

/// Opens the store and serves the application on `listener` until
/// `shutdown` completes, then lets requests in flight finish.
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let layer = open_layer(&options).await?;
    serve_layer(listener, layer, options.credentials, shutdown).await
}

/// Serves the application with sessions from `layer`, admitting
/// `credentials`, on `listener` with connect info (for the login
/// throttle's per-address count), with a sweeper purging the store of
/// expired sessions, until `shutdown` completes; then lets requests in
/// flight finish.
pub async fn serve_layer(
    listener: tokio::net::TcpListener,
    layer: SessionLayer,
    credentials: Credentials,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let throttle = LoginThrottle::new().map_err(io::Error::other)?;
    // Runs as long as it is alive, i.e. as long as this function.
    let _sweeper = layer.spawn_sweeper(SWEEP_PERIOD);
    let app = app(layer, credentials, throttle);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use axum::body::Body;
    use axum::http::header::{COOKIE, SET_COOKIE};
    use axum::http::{Request, header::CONTENT_TYPE};
    use sesh::throttle::ThrottlePolicy;
    use sesh_tokio::{HostClock, MemoryStore};
    use tower::ServiceExt;

    use super::*;

    const PASSWORD: &str = "correct horse battery staple";

    fn options(secure_cookies: bool) -> Options {
        Options {
            secret: b"a test secret that is 32 bytes!!".to_vec(),
            secure_cookies,
            credentials: Credentials::new("admin", PASSWORD).unwrap(),
            store: StoreSpec::Memory,
            max_sessions: None,
            idle_timeout: None,
        }
    }

    /// The app with waits of 1 s, 2 s, … on the (paused) tokio clock.
    fn test_app(options: &Options) -> Router {
        let throttle = LoginThrottle::new()
            .unwrap()
            .with_policy(ThrottlePolicy::new(), HostClock::new());
        app(
            layer(MemoryStore::default(), options).unwrap(),
            options.credentials.clone(),
            throttle,
        )
    }

    async fn send(app: &Router, request: Request<Body>) -> Response {
        app.clone().oneshot(request).await.unwrap()
    }

    /// The form's cookie pair and CSRF token.
    async fn form(app: &Router) -> (String, String) {
        let response = send(app, Request::get("/").body(Body::empty()).unwrap()).await;
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let (_, rest) = body.split_once(r#"name="csrf" value=""#).unwrap();
        (cookie, rest.split('"').next().unwrap().to_owned())
    }

    fn post_login(
        from: Option<SocketAddr>,
        cookie: &str,
        csrf: &str,
        password: &str,
    ) -> Request<Body> {
        let mut request = Request::post("/login")
            .header(COOKIE, cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "username=admin&password={}&csrf={csrf}",
                password.replace(' ', "+")
            )))
            .unwrap();
        if let Some(addr) = from {
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        request
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_runs_on_the_clock_and_a_right_password_waits_too() {
        let options = options(false);
        let app = test_app(&options);
        let (cookie, csrf) = form(&app).await;
        let client: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        for _ in 0..3 {
            let r = send(&app, post_login(Some(client), &cookie, &csrf, "guess")).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let r = send(&app, post_login(Some(client), &cookie, &csrf, PASSWORD)).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[RETRY_AFTER], "1");
        assert_eq!(r.headers()[CONTENT_SECURITY_POLICY], CSP);
        assert!(!r.headers().contains_key(SET_COOKIE));

        tokio::time::advance(Duration::from_millis(999)).await;
        let r = send(&app, post_login(Some(client), &cookie, &csrf, PASSWORD)).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        tokio::time::advance(Duration::from_millis(1)).await;
        let r = send(&app, post_login(Some(client), &cookie, &csrf, PASSWORD)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }

    #[tokio::test(start_paused = true)]
    async fn without_connect_info_every_client_shares_one_count() {
        let options = options(false);
        let app = test_app(&options);
        let (cookie, csrf) = form(&app).await;
        // Three different users from "nowhere": the shared address count.
        for _ in 0..3 {
            let r = send(&app, post_login(None, &cookie, &csrf, "guess")).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let r = send(&app, post_login(None, &cookie, &csrf, PASSWORD)).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn secure_cookies_are_host_prefixed() {
        // The login form sets the pre-session cookie, named after the session's.
        for (secure, prefix) in [(true, "__Host-sid-pre="), (false, "sid-pre=")] {
            let app = test_app(&options(secure));
            let response = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
            assert_eq!(response.headers().get_all(SET_COOKIE).iter().count(), 1);
            let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
            assert!(cookie.starts_with(prefix), "{cookie}");
            assert_eq!(cookie.contains("; Secure"), secure, "{cookie}");
            assert!(
                cookie.contains("; Path=/") && !cookie.contains("Domain"),
                "{cookie}"
            );
        }
        assert_eq!(cookie_name(true), "__Host-sid");
        let config = session_config(&options(true)).unwrap();
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn only_a_salted_hash_of_the_password_is_kept() {
        let a = Credentials::new("admin", PASSWORD).unwrap();
        let b = Credentials::new("admin", PASSWORD).unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.password_hash, b.password_hash, "salted");
        assert_ne!(&a.password_hash[..], &Sha256::digest(PASSWORD)[..]);
        assert!(a.check("admin", PASSWORD) && b.check("admin", PASSWORD));
        for (user, password) in [
            ("admin", "Correct horse battery staple"),
            ("Admin", PASSWORD),
            ("", ""),
        ] {
            assert!(!a.check(user, password), "{user}/{password}");
        }
        let shown = format!("{a:?}");
        assert!(
            !shown.contains(PASSWORD) && shown.contains("admin"),
            "{shown}"
        );
    }
}
