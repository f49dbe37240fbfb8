//! The tokio adapter's request path with arbitrary Cookie header bytes.
#![no_main]

use std::sync::OnceLock;

use axum::{Router, body::Body, routing::get};
use libfuzzer_sys::fuzz_target;
use sesh_tokio::{MemoryStore, Session, SessionConfig, SessionError, SessionLayer};
use tower::ServiceExt;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Count(u64);

async fn count(session: Session<Count>) -> Result<String, SessionError> {
    let n = session.update(|c| {
        c.0 += 1;
        c.0
    })
    .await?;
    Ok(n.to_string())
}

fn runtime() -> &'static (tokio::runtime::Runtime, Router) {
    static RT: OnceLock<(tokio::runtime::Runtime, Router)> = OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
        let config = SessionConfig::new(&[7; 32]).unwrap_or_else(|e| panic!("{e}"));
        let layer = SessionLayer::new(MemoryStore::new(1_000), config).unwrap_or_else(|e| panic!("{e}"));
        (rt, Router::new().route("/", get(count)).layer(layer))
    })
}

fuzz_target!(|data: &[u8]| {
    let (rt, app) = runtime();
    let mut request = http::Request::get("/");
    for header in data.split(|&b| b == b'\n') {
        if let Ok(value) = http::HeaderValue::from_bytes(header) {
            request = request.header(http::header::COOKIE, value);
        }
    }
    let Ok(request) = request.body(Body::empty()) else { return };
    let response = rt.block_on(app.clone().oneshot(request));
    let Ok(response) = response else { return };
    // A fuzzed cookie never selects a session: the count always starts at 1.
    assert_eq!(response.status(), http::StatusCode::OK);
    let body = rt.block_on(axum::body::to_bytes(response.into_body(), 64)).unwrap_or_default();
    assert_eq!(&body[..], b"1");
});
