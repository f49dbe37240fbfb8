//! Key rings of any size behind one `SessionConfig`: rotation keeps old
//! cookies working while their key is in the ring, and re-signs them.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use std::sync::Arc;

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode, header};
use sesh::signing::{Key, KeyError, KeyRing};
use sesh_tokio::{MemoryStore, Session, SessionConfig, SessionError, SessionLayer};
use tower::ServiceExt;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Visits {
    count: u64,
}

async fn count(session: Session<Visits>) -> Result<String, SessionError> {
    let n = session
        .update(|v| {
            v.count += 1;
            v.count
        })
        .await?;
    Ok(n.to_string())
}

async fn peek(session: Session<Visits>) -> Result<String, SessionError> {
    Ok(session
        .get()
        .await?
        .map(|v| v.count)
        .unwrap_or(0)
        .to_string())
}

fn key(n: u8) -> Key {
    Key::new(&[n; 32]).unwrap()
}

/// A server on `store` signing with `ring`: one store across "restarts"
/// with a rotated ring, as a deployment that rotates its secret.
fn app<const K: usize>(store: &Arc<MemoryStore>, ring: KeyRing<K>) -> Router {
    let config = SessionConfig::with_key_ring(ring).with_secure(false);
    Router::new()
        .route("/", get(count))
        .route("/peek", get(peek))
        .layer(SessionLayer::new(Arc::clone(store), config).unwrap())
}

/// Status, the `name=value` of a `Set-Cookie` for `sid` if any, and the body.
async fn send(
    app: &Router,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let set_cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("sid="))
        .map(|v| v.split(';').next().unwrap().to_owned());
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        set_cookie,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn id_part(pair: &str) -> &str {
    pair.trim_start_matches("sid=").split('.').next().unwrap()
}

#[tokio::test]
async fn a_ring_of_one_signs_and_its_rotation_ends_old_cookies() {
    let store = Arc::new(MemoryStore::default());
    let mut ring = KeyRing::<1>::new(key(1));
    assert!(matches!(
        ring.clone().with_previous(key(0)),
        Err(KeyError::RingFull)
    ));
    let first = app(&store, ring.clone());
    let (status, set, body) = send(&first, "/", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
    let old = set.expect("a new session sets its cookie");
    let (_, set, body) = send(&first, "/", Some(&old)).await;
    assert_eq!((body.as_str(), set), ("2", None));

    // No room for the old key: rotating a ring of one logs everyone out.
    assert!(ring.rotate(key(2)).is_some());
    let rotated = app(&store, ring);
    let (_, _, body) = send(&rotated, "/peek", Some(&old)).await;
    assert_eq!(body, "0", "the old cookie selects nothing");
}

#[tokio::test]
async fn a_ring_of_six_verifies_its_oldest_key_and_resigns() {
    let store = Arc::new(MemoryStore::default());
    let first = app(&store, KeyRing::<6>::new(key(1)));
    let (_, set, body) = send(&first, "/", None).await;
    assert_eq!(body, "1");
    let old = set.expect("a new session sets its cookie");

    // Five rotations: key 1 is the oldest of six and still verifies.
    let mut ring = KeyRing::<6>::new(key(1));
    for n in 2..=6 {
        assert!(ring.rotate(key(n)).is_none(), "room for key {n}");
    }
    assert_eq!(ring.len(), 6);
    let rotated = app(&store, ring.clone());
    let (status, set, body) = send(&rotated, "/", Some(&old)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "2"));
    let resigned = set.expect("an old key's cookie is re-signed");
    assert_eq!(id_part(&resigned), id_part(&old), "same session id");
    assert_ne!(resigned, old);
    let value = resigned.trim_start_matches("sid=");
    let current = KeyRing::<1>::new(key(6)).verify(value).unwrap();
    assert!(!current.needs_resign(), "signed by the current key");

    let (_, set, body) = send(&rotated, "/", Some(&resigned)).await;
    assert_eq!((body.as_str(), set), ("3", None), "nothing to re-sign");

    // A seventh key pushes key 1 out: its cookie stops working, the
    // re-signed one does not.
    assert!(ring.rotate(key(7)).is_some());
    let retired = app(&store, ring);
    let (_, _, body) = send(&retired, "/peek", Some(&old)).await;
    assert_eq!(body, "0", "key 1 left the ring");
    let (_, _, body) = send(&retired, "/peek", Some(&resigned)).await;
    assert_eq!(body, "3");
}
