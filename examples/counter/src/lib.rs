//! express-session's classic demo on sesh-tokio: every visitor's page views
//! are counted in their own server-side session.
//!
//! The browser's cookie carries only the signed session id; the count lives
//! in the store `--store` names ([`store`]): by default a redb file, so a
//! restart (even a crash) keeps every count. A sweeper purges expired
//! sessions every minute.
//!
//! The binary (`cargo run -p counter -- --help`) is a thin wrapper over
//! [`cli`], [`open_layer`] and [`serve_layer`]; tests start the same server on
//! an ephemeral port with [`serve`].

pub mod cli;

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sesh_tokio::{Session, SessionConfig, SessionError, SessionLayer, SessionStore};

pub use sesh_example_support::store::{self, StoreSpec};

/// The address the binary listens on unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// How often the sweeper purges expired sessions.
const SWEEP_PERIOD: Duration = Duration::from_secs(60);

/// Where sessions live, and how the server signs and sends its session cookie.
pub use sesh_example_support::cli::SessionOptions as Options;

/// What each session stores.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Visits {
    count: u64,
}

/// The session settings from `options` (sesh's safe defaults otherwise:
/// cookie `sid`, `HttpOnly`, `SameSite=Lax`, `Path=/`, 30 minutes idle,
/// 8 hours absolute).
pub fn session_config(options: &Options) -> io::Result<SessionConfig> {
    Ok(SessionConfig::new(&options.secret)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
        .with_secure(options.secure_cookies))
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

/// The application: `GET /` counts the visit and says how many there were.
pub fn app(layer: SessionLayer) -> Router {
    Router::new().route("/", get(count)).layer(layer)
}

async fn count(session: Session<Visits>) -> Result<String, SessionError> {
    let n = session
        .update(|v| {
            v.count = v.count.saturating_add(1);
            v.count
        })
        .await?;
    let times = if n == 1 { "time" } else { "times" };
    Ok(format!("You have visited this page {n} {times}\n"))
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
    serve_layer(listener, layer, shutdown).await
}

/// Serves the application with sessions from `layer` on `listener`, with a
/// sweeper purging its store of expired sessions, until `shutdown`
/// completes; then lets requests in flight finish.
pub async fn serve_layer(
    listener: tokio::net::TcpListener,
    layer: SessionLayer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Runs as long as it is alive, i.e. as long as this function.
    let _sweeper = layer.spawn_sweeper(SWEEP_PERIOD);
    axum::serve(listener, app(layer))
        .with_graceful_shutdown(shutdown)
        .await
}
