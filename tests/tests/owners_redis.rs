//! Sessions with an owner (issue 16) across two servers that share one
//! Redis: a revocation on one server signs the session out on the other
//! at its next request. Real TCP, a real redis-server.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;

use axum::extract::RawQuery;
use axum::{Router, routing::get};
use sesh::expiry::Lifetime;
use sesh::owner::{DisplayTag, Label, UserId};
use sesh_tests::http::client::Request;
use sesh_tests::http::redis_server::RedisServer;
use sesh_tokio::store::{RedisConfig, RedisStore, Revoked, StoreKey};
use sesh_tokio::{Session, SessionConfig, SessionError, SessionLayer};

type S = Session<String>;

fn param<'a>(query: &'a Option<String>, name: &str) -> &'a str {
    query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or("")
}

async fn login(session: S, RawQuery(q): RawQuery) -> Result<&'static str, SessionError> {
    let user = param(&q, "user");
    session.regenerate().await?;
    session.replace(user.to_owned()).await?;
    session.set_protected(true).await?;
    session
        .set_owner(UserId::new(user.as_bytes()).unwrap())
        .await?;
    session.set_label(Label::truncated("a device")).await?;
    if param(&q, "remember") == "on" {
        session.set_lifetime(Lifetime::REMEMBER_ME).await?;
    }
    Ok("ok")
}

async fn whoami(session: S) -> Result<String, SessionError> {
    Ok(session
        .get()
        .await?
        .unwrap_or_else(|| "anonymous".to_owned()))
}

/// The current session's tag, then the others', one a line.
async fn list(session: S) -> Result<String, SessionError> {
    let mut sessions = session.sessions().await?;
    sessions.sort_by_key(|s| !s.current);
    Ok(sessions.iter().map(|s| format!("{}\n", s.tag)).collect())
}

async fn revoke(session: S, RawQuery(q): RawQuery) -> Result<&'static str, SessionError> {
    let tag = DisplayTag::parse(param(&q, "tag")).unwrap();
    Ok(match session.revoke(&tag).await? {
        Revoked::Ended => "ended",
        Revoked::NotFound => "not found",
    })
}

async fn revoke_others(session: S) -> Result<String, SessionError> {
    Ok(session.revoke_others().await?.to_string())
}

/// A server of its own on the shared Redis.
async fn server(redis: &RedisServer) -> SocketAddr {
    let store = RedisStore::connect(
        RedisConfig::new(redis.url()),
        StoreKey::new(&[5; 32]).unwrap(),
    )
    .await
    .unwrap();
    let config = SessionConfig::new(&[7; 32]).unwrap().with_secure(false);
    let app = Router::new()
        .route("/login", get(login))
        .route("/whoami", get(whoami))
        .route("/list", get(list))
        .route("/revoke", get(revoke))
        .route("/revoke-others", get(revoke_others))
        .layer(SessionLayer::new(store, config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn get_text(addr: SocketAddr, path: &str, cookie: &str) -> String {
    let response = Request::get(path).cookie(cookie).send(addr).await.unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

async fn log_in(addr: SocketAddr, user: &str, remember: bool) -> (String, String) {
    let on = if remember { "on" } else { "off" };
    let response = Request::get(&format!("/login?user={user}&remember={on}"))
        .send(addr)
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let set = response.header("set-cookie").unwrap();
    (set.split(';').next().unwrap().to_owned(), set)
}

#[tokio::test]
async fn a_revocation_on_one_server_signs_out_on_the_other() {
    let redis = RedisServer::start().expect("redis-server starts");
    let (a, b) = (server(&redis).await, server(&redis).await);

    let (laptop, set) = log_in(a, "alice", true).await;
    assert!(set.contains("Max-Age=2592000"), "{set}");
    let (phone, set) = log_in(b, "alice", false).await;
    assert!(set.contains("Max-Age="), "the default lifetime: {set}");
    let (bob, _) = log_in(a, "bob", false).await;

    // Both servers list both of alice's sessions, the asking one first.
    let from_phone = get_text(b, "/list", &phone).await;
    let tags: Vec<&str> = from_phone.lines().collect();
    assert_eq!(tags.len(), 2, "{from_phone}");
    let from_laptop = get_text(a, "/list", &laptop).await;
    assert_eq!(from_laptop.lines().next(), Some(tags[1]));

    // Bob cannot end alice's laptop.
    let by_bob = get_text(b, &format!("/revoke?tag={}", tags[1]), &bob).await;
    assert_eq!(by_bob, "not found");
    assert_eq!(get_text(a, "/whoami", &laptop).await, "alice");

    // The phone, on server B, ends the laptop: server A signs it out.
    let ended = get_text(b, &format!("/revoke?tag={}", tags[1]), &phone).await;
    assert_eq!(ended, "ended");
    assert_eq!(get_text(a, "/whoami", &laptop).await, "anonymous");
    assert_eq!(get_text(a, "/whoami", &phone).await, "alice");

    // Sign out everywhere else, on A, ends the phone's other logins on B.
    let (tablet, _) = log_in(b, "alice", false).await;
    assert_eq!(get_text(a, "/revoke-others", &phone).await, "1");
    assert_eq!(get_text(b, "/whoami", &tablet).await, "anonymous");
    assert_eq!(get_text(b, "/list", &phone).await.lines().count(), 1);
    assert_eq!(get_text(b, "/whoami", &bob).await, "bob");
}
