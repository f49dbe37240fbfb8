//! A firmware-style admin page on sesh-tokio: a login form protected by a
//! CSRF token, a new session id at login (session fixation defence), a
//! status page, and logout.
//!
//! | route | does |
//! |---|---|
//! | `GET /` | the login form (with the session's CSRF token), or the status page when signed in |
//! | `POST /login` | `username`, `password`, `csrf`: 403 without a valid token, 401 for wrong credentials, else a new session id and 303 to `/` |
//! | `GET /me` | 200 with the user name when signed in, else 401 |
//! | `POST /logout` | `csrf`: 403 without a valid token, else the session is destroyed and 303 to `/` |
//!
//! Every response carries a strict `Content-Security-Policy`,
//! `X-Frame-Options: DENY` and `Cache-Control: no-store`.
//!
//! Sessions live in the store `--store` names ([`store`]): by default a redb
//! file, so a restart (even a crash) keeps everyone signed in.

pub mod cli;
pub mod html;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use sesh_tokio::{Session, SessionConfig, SessionError, SessionLayer, SessionStore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

/// The one demo account.
#[derive(Clone)]
pub struct Credentials {
    user: String,
    user_digest: [u8; 32],
    password_digest: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// SHA-256 only gives both sides of a comparison the same length, so that
/// comparing them in constant time reveals neither content nor length.
/// (A real device stores a password hash such as Argon2 instead.)
fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Credentials {
    /// The account `user` with `password`.
    pub fn new(user: impl Into<String>, password: &str) -> Self {
        let user = user.into();
        Credentials {
            user_digest: digest(&user),
            password_digest: digest(password),
            user,
        }
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether `user` and `password` match, in time independent of where
    /// they differ (both are always compared).
    pub fn check(&self, user: &str, password: &str) -> bool {
        let user_ok = digest(user).ct_eq(&self.user_digest);
        let password_ok = digest(password).ct_eq(&self.password_digest);
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
            .finish()
    }
}

/// The session settings from `options` (sesh's safe defaults otherwise:
/// cookie `sid`, `HttpOnly`, `SameSite=Lax`, `Path=/`, 30 minutes idle,
/// 8 hours absolute).
pub fn session_config(options: &Options) -> io::Result<SessionConfig> {
    Ok(SessionConfig::new(&options.secret)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
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
    store::open_layer(&options.store, &options.secret, session_config(options)?).await
}

/// The application, with sessions from `layer`, admitting `credentials`.
pub fn app(layer: SessionLayer, credentials: Credentials) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .with_state(Arc::new(credentials))
        .layer(layer)
        // Outside the session layer, so that its error responses get them too.
        .layer(axum::middleware::map_response(security_headers))
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
    // The token binds the form to this browser's session (creating one).
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
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, Html(html::forbidden())).into_response()
}

async fn login(
    State(credentials): State<Arc<Credentials>>,
    session: Session<Account>,
    Form(form): Form<LoginForm>,
) -> Result<Response, SessionError> {
    // Creates no session: without one, no token is valid.
    if !session.verify_csrf(&form.csrf).await? {
        tracing::info!("login refused: missing or invalid CSRF token");
        return Ok(forbidden());
    }
    if !credentials.check(&form.username, &form.password) {
        tracing::info!("login refused: wrong user name or password");
        // Nothing is written: the token just verified, so it goes back as is.
        let page = html::login(
            &form.csrf,
            &form.username,
            Some("Wrong user name or password."),
        );
        return Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response());
    }
    // A new id: one planted in this browser before login is now useless.
    session.regenerate().await?;
    let user = credentials.user().to_owned();
    session
        .update(|a| {
            a.user = Some(user.clone());
            a.visits = 0;
        })
        .await?;
    // Never evicted to make room for anonymous sessions.
    session.set_protected(true).await?;
    tracing::info!(user = %credentials.user(), "signed in");
    Ok(Redirect::to("/").into_response())
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
/// `credentials`, on `listener`, with a sweeper purging the store of expired
/// sessions, until `shutdown` completes; then lets requests in flight finish.
pub async fn serve_layer(
    listener: tokio::net::TcpListener,
    layer: SessionLayer,
    credentials: Credentials,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Runs as long as it is alive, i.e. as long as this function.
    let _sweeper = layer.spawn_sweeper(SWEEP_PERIOD);
    axum::serve(listener, app(layer, credentials))
        .with_graceful_shutdown(shutdown)
        .await
}
