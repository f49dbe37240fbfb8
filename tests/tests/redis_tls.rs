//! `RedisStore` over TLS (`rediss://`, sesh-tokio's `redis-tls` feature)
//! against a real redis-server that speaks TLS only, with a CA and a server
//! certificate made at start: the store contract, and what happens when
//! the server's certificate cannot be trusted. The HTTP suite over TLS is
//! in `http_redis.rs`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sesh::Instant;
use sesh_tests::http::redis_server::RedisServer;
use sesh_tokio::StoreError;
use sesh_tokio::store::testing::{new_id as id, record};
use sesh_tokio::store::{RedisConfig, RedisStore, SessionStore, StoreKey};

fn key() -> StoreKey {
    StoreKey::new(&[5; 32]).unwrap()
}

/// A store on a TLS redis-server of its own, trusting the server's CA.
async fn make(max_sessions: usize) -> (RedisStore, RedisServer) {
    let server = RedisServer::start_tls().expect("a TLS redis-server starts");
    let ca = server.ca_file().expect("a TLS server has a CA file");
    let config = RedisConfig::new(server.url())
        .with_ca_file(ca)
        .with_max_sessions(max_sessions);
    let store = RedisStore::connect(config, key())
        .await
        .expect("a TLS connection with the server's CA");
    (store, server)
}

mod contract {
    use super::make;

    sesh_tokio::store_contract_tests!(make);
}

#[tokio::test]
async fn the_url_is_rediss_and_a_session_round_trips() {
    let (store, server) = make(100).await;
    assert!(server.url().starts_with("rediss://"), "{}", server.url());
    let now = Instant::from_secs(1_000);
    let session = id();
    store
        .create(&session, &record(b"over tls", now), now)
        .await
        .unwrap();
    let loaded = store.load(&session, now).await.unwrap().expect("stored");
    assert_eq!(loaded.record.data, b"over tls");
}

/// The error of connecting with `config`, which must fail.
async fn refused(config: RedisConfig) -> StoreError {
    match RedisStore::connect(config, key()).await {
        Ok(_) => panic!("connected, and should not have"),
        Err(e) => e,
    }
}

/// Without the server's CA (the system roots do not hold it), the TLS
/// handshake fails and the error says the certificate is not trusted. It
/// is a backend error (500), not "unavailable" (503): waiting does not
/// mend it, and `connect` fails at once.
#[tokio::test]
async fn a_certificate_of_an_unknown_ca_is_refused_with_a_clear_error() {
    let server = RedisServer::start_tls().unwrap();
    let err = refused(RedisConfig::new(server.url())).await;
    let text = err.to_string();
    assert!(matches!(err, StoreError::Backend(_)), "{text}");
    assert!(
        text.contains("certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
}

/// Another server's CA does not make this server's certificate trusted:
/// the CA given replaces the system roots, it is not a bypass.
#[tokio::test]
async fn another_servers_ca_is_no_trust_for_this_one() {
    let server = RedisServer::start_tls().unwrap();
    let other = RedisServer::start_tls().unwrap();
    let config = RedisConfig::new(server.url()).with_ca_file(other.ca_file().unwrap());
    let err = refused(config).await;
    let text = err.to_string();
    assert!(matches!(err, StoreError::Backend(_)), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
}

/// A TLS server that is down is still "unavailable" (503), as a plain one.
#[tokio::test]
async fn a_tls_server_that_is_down_is_unavailable() {
    let mut server = RedisServer::start_tls().unwrap();
    let config = RedisConfig::new(server.url()).with_ca_file(server.ca_file().unwrap());
    server.kill();
    let err = refused(config).await;
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

/// The certificate names 127.0.0.1 and localhost: the same server reached
/// as 127.0.0.2 fails the name check, even with the right CA.
#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let server = RedisServer::start_tls().unwrap();
    let url = server.url().replace("127.0.0.1", "127.0.0.2");
    let config = RedisConfig::new(url).with_ca_file(server.ca_file().unwrap());
    let err = refused(config).await;
    let text = err.to_string();
    assert!(matches!(err, StoreError::Backend(_)), "{text}");
    assert!(text.contains("certificate not valid for name"), "{text}");
}

/// A CA with a `redis://` URL is a configuration error, not silently
/// plain text.
#[tokio::test]
async fn a_ca_with_a_plain_url_is_refused() {
    let server = RedisServer::start_tls().unwrap();
    let url = server.url().replace("rediss://", "redis://");
    let err = RedisStore::new(
        RedisConfig::new(url).with_ca_file(server.ca_file().unwrap()),
        key(),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err}");
    assert!(err.to_string().contains("rediss://"), "{err}");
}

/// A bad CA file fails when the store is made, naming the file.
#[tokio::test]
async fn a_bad_ca_file_is_refused_when_the_store_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n!!!\n").unwrap();
    for (file, says) in [
        (&missing, "cannot be read"),
        (&empty, "holds no certificate"),
        (&garbage, "rustls cannot use"),
        (&broken, "is not valid PEM"),
    ] {
        let config = RedisConfig::new("rediss://127.0.0.1:9/0").with_ca_file(file);
        let err = RedisStore::new(config, key()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Backend(_)), "{text}");
        assert!(
            text.contains(says) && text.contains(&file.display().to_string()),
            "{}: {text}",
            file.display()
        );
    }
}
