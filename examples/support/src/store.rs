//! Where sessions live (`--store`), and the signing secret that goes with it.
//!
//! | `--store` | sessions | secret without `--secret`/`SESH_SECRET` |
//! |---|---|---|
//! | `redb:PATH` (default `redb:./sesh-sessions.redb`) | one crash-safe file (made with mode 0600): they survive a restart, even `SIGKILL` | made once, kept in `PATH.secret` (mode 0600) and reused; refused if another user owns it or others may read or write it |
//! | `memory` | this process only | a fresh random one per start |
//! | `redis://HOST:PORT/DB` | a Redis database that several servers share | none: refuses to start, since every server must sign with the same one |
//! | `rediss://HOST:PORT/DB` | the same over TLS, trusting the system's roots, or only the CA in `--redis-ca FILE` | none, as with `redis://` |
//! | `postgres://USER:PASS@HOST:PORT/DB` | a PostgreSQL table (`sesh_sessions`, made at start) that several servers share | none: refuses to start, as with Redis |
//!
//! The store's key ([`StoreKey`], a keyed hash of the ids at rest) comes
//! from the same secret; `StoreKey` separates the two uses internally.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sesh_tokio::store::{
    PostgresConfig, PostgresStore, RedbStore, RedisConfig, RedisStore, StoreKey,
};
use sesh_tokio::{MemoryStore, SessionConfig, SessionLayer, StoreError};

/// The database file unless `--store` says otherwise.
pub const DEFAULT_REDB_PATH: &str = "./sesh-sessions.redb";

/// `--store`'s default: the redb file [`DEFAULT_REDB_PATH`].
pub const DEFAULT_STORE: &str = "redb:./sesh-sessions.redb";

/// How many random bytes a generated secret has.
pub const GENERATED_SECRET_LEN: usize = 32;

/// The store `--store` names.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// `memory`: a [`MemoryStore`] in this process.
    Memory,
    /// `redb:PATH`: a [`RedbStore`] file.
    Redb(PathBuf),
    /// `redis://…` or `rediss://…` (TLS, trusting the system's roots): a
    /// [`RedisStore`] at this URL.
    Redis(String),
    /// `rediss://…` with `--redis-ca FILE`: a [`RedisStore`] over TLS that
    /// trusts only the CA (PEM) in that file.
    RedisTls(String, PathBuf),
    /// `postgres://…` (or `postgresql://…`): a [`PostgresStore`] at this URL.
    Postgres(String),
}

impl Default for StoreSpec {
    /// `redb:./sesh-sessions.redb`.
    fn default() -> Self {
        StoreSpec::Redb(PathBuf::from(DEFAULT_REDB_PATH))
    }
}

impl FromStr for StoreSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "memory" {
            return Ok(StoreSpec::Memory);
        }
        if let Some(path) = s.strip_prefix("redb:") {
            if path.is_empty() {
                return Err(
                    "--store redb:PATH needs a file path, e.g. redb:./sessions.redb".into(),
                );
            }
            return Ok(StoreSpec::Redb(PathBuf::from(path)));
        }
        if let Some(rest) = s
            .strip_prefix("redis://")
            .or_else(|| s.strip_prefix("rediss://"))
        {
            if rest.is_empty() {
                return Err(
                    "--store redis://HOST:PORT/DB needs a host, e.g. redis://127.0.0.1:6379/0"
                        .into(),
                );
            }
            return Ok(StoreSpec::Redis(s.to_owned()));
        }
        let postgres = s
            .strip_prefix("postgres://")
            .or_else(|| s.strip_prefix("postgresql://"));
        if let Some(rest) = postgres {
            if rest.is_empty() {
                return Err("--store postgres://USER:PASS@HOST:PORT/DB needs a host, \
                     e.g. postgres://app@127.0.0.1:5432/app"
                    .into());
            }
            return Ok(StoreSpec::Postgres(s.to_owned()));
        }
        Err(format!(
            "--store `{s}` is not a store: use redb:PATH, memory, redis://HOST:PORT/DB or \
             postgres://USER:PASS@HOST:PORT/DB"
        ))
    }
}

/// The URL without a password (`redis://user:secret@host` shows `redis://user:***@host`).
fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Memory => f.write_str("memory"),
            StoreSpec::RedisTls(url, _) => f.write_str(&redacted_url(url)),
            StoreSpec::Redb(path) => write!(f, "redb:{}", path.display()),
            StoreSpec::Redis(url) | StoreSpec::Postgres(url) => f.write_str(&redacted_url(url)),
        }
    }
}

impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreSpec({self})")
    }
}

/// Where a generated secret for the database at `db` is kept: `<db>.secret`.
pub fn secret_path(db: &Path) -> PathBuf {
    let mut name = OsString::from(db.as_os_str());
    name.push(".secret");
    PathBuf::from(name)
}

/// The signing secret when neither `--secret` nor `SESH_SECRET` gave one.
pub fn default_secret(store: &StoreSpec, env_name: &str) -> Result<Vec<u8>, String> {
    match store {
        StoreSpec::Memory => {
            tracing::info!(
                "no --secret or {env_name}: signing with a random secret \
                 (memory sessions end with the process anyway)"
            );
            random_secret()
        }
        StoreSpec::Redb(db) => {
            let path = secret_path(db);
            load_or_create_secret(&path).map_err(|e| {
                format!(
                    "no --secret or {env_name}, and the signing secret kept for {} \
                     cannot be read or made at {}: {e}",
                    db.display(),
                    path.display()
                )
            })
        }
        StoreSpec::Redis(_) | StoreSpec::RedisTls(..) => Err(format!(
            "--store {store} needs a signing secret shared by every server on that \
             Redis database: pass --secret or set {env_name} (at least 32 random bytes, \
             e.g. `openssl rand -base64 32`)"
        )),
        StoreSpec::Postgres(_) => Err(format!(
            "--store {store} needs a signing secret shared by every server on that \
             PostgreSQL database: pass --secret or set {env_name} (at least 32 random bytes, \
             e.g. `openssl rand -base64 32`)"
        )),
    }
}

fn random_secret() -> Result<Vec<u8>, String> {
    let mut secret = vec![0u8; GENERATED_SECRET_LEN];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for a signing secret: {e}"))?;
    Ok(secret)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

/// Reads the secret kept at `path` (hex), or makes one and keeps it there.
///
/// A new file is written whole under a temporary name with mode 0600, synced,
/// then linked into place, which fails if the name exists: a crash leaves no
/// half-written secret, and of two servers starting at once, one wins and the
/// other reads the winner's.
///
/// On Unix an existing file is used only if this process's user owns it and
/// group and others have no permission on it; otherwise it is an error
/// (`PermissionDenied`), and the file is left as it is.
pub fn load_or_create_secret(path: &Path) -> io::Result<Vec<u8>> {
    match read_secret(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let secret = random_secret().map_err(io::Error::other)?;
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    // A leftover of this very process id: never another server's.
    let _ = fs::remove_file(&tmp);
    let written = write_new_file(&tmp, format!("{}\n", hex(&secret)).as_bytes()).and_then(|()| {
        match fs::hard_link(&tmp, path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists && !path.exists() => {
                // A file system without hard links: a rename, which a server
                // starting at the same instant could race.
                tracing::debug!(error = %e, "no hard link: renaming the secret file into place");
                fs::rename(&tmp, path)
            }
            linked => linked,
        }
    });
    let _ = fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            sync_parent(path);
            tracing::warn!(
                path = %path.display(),
                "no --secret or SESH_SECRET: made a random signing secret and kept it in this \
                 file, so that sessions survive a restart (keep it private; delete it to sign \
                 every existing cookie out)"
            );
            Ok(secret)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_secret(path),
        Err(e) => Err(e),
    }
}

fn read_secret(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = fs::File::open(path)?;
    // The file opened, not the name: checked and read through one handle.
    check_private(&file.metadata()?)?;
    let mut text = String::new();
    io::Read::read_to_string(&mut file, &mut text)?;
    let secret = unhex(text.trim())
        .filter(|s| s.len() >= GENERATED_SECRET_LEN)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "does not hold a secret (at least 64 hex digits); delete it to make a new one \
                 (existing sessions are then lost), or pass --secret",
            )
        })?;
    tracing::info!(path = %path.display(), "signing with the secret kept in this file");
    Ok(secret)
}

#[cfg(unix)]
fn write_new_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_new_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Makes a new name in the directory durable (best effort).
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Refuses a secret file that another user owns (they chose the secret,
/// and can read it) or that group or others may read or write (they can
/// forge every cookie): on Unix, only a file of this process's user with
/// mode 0600 (or stricter) is used.
#[cfg(unix)]
fn check_private(meta: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "belongs to user {} rather than to this server's user ({me}): whoever owns \
                 it chose the secret and can forge every cookie. Delete it (a new one is made), \
                 or pass --secret",
                meta.uid()
            ),
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "has mode {mode:04o}: other users can read (or change) the secret and forge \
                 every cookie. `chmod 600` it if nobody else has read it, else delete it (a \
                 new one is made, and every session signs out)"
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_meta: &fs::Metadata) -> io::Result<()> {
    Ok(())
}

fn invalid_input(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

/// The memory store, holding at most `max_sessions` sessions (else
/// [`DEFAULT_MAX_SESSIONS`](sesh_tokio::store::DEFAULT_MAX_SESSIONS)).
pub fn memory_store(max_sessions: Option<NonZeroUsize>) -> MemoryStore {
    max_sessions.map_or_else(MemoryStore::default, |n| MemoryStore::new(n.get()))
}

/// Opens the redb file at `path`, holding at most `max_sessions` sessions
/// (else the store's default).
pub async fn open_redb(
    path: &Path,
    max_sessions: Option<NonZeroUsize>,
    key: StoreKey,
) -> io::Result<RedbStore> {
    let store = RedbStore::open(path, key)
        .await
        .map_err(|e| io::Error::other(format!("cannot open {}: {e}", path.display())))?;
    Ok(match max_sessions {
        Some(n) => store.with_max_sessions(n.get()),
        None => store,
    })
}

/// The Redis settings for `url` (trusting only `ca` over TLS, if given),
/// holding at most `max_sessions` sessions (else the store's default).
pub fn redis_config(
    url: &str,
    ca: Option<&Path>,
    max_sessions: Option<NonZeroUsize>,
) -> RedisConfig {
    let mut redis = RedisConfig::new(url);
    if let Some(ca) = ca {
        redis = redis.with_ca_file(ca);
    }
    match max_sessions {
        Some(n) => redis.with_max_sessions(n.get()),
        None => redis,
    }
}

/// The PostgreSQL settings for `url`, holding at most `max_sessions`
/// sessions (else the store's default).
pub fn postgres_config(url: &str, max_sessions: Option<NonZeroUsize>) -> PostgresConfig {
    let postgres = PostgresConfig::new(url);
    match max_sessions {
        Some(n) => postgres.with_max_sessions(n.get()),
        None => postgres,
    }
}

/// Opens the store `spec` names, holding at most `max_sessions` sessions
/// (`--max-sessions`; else each store's default), and puts a session layer
/// with `config` over it; the store key comes from `secret`.
pub async fn open_layer(
    spec: &StoreSpec,
    max_sessions: Option<NonZeroUsize>,
    secret: &[u8],
    config: SessionConfig,
) -> io::Result<SessionLayer> {
    match spec {
        StoreSpec::Memory => {
            let store = memory_store(max_sessions);
            tracing::info!(
                max_sessions = store.max_sessions(),
                "sessions in memory: a restart loses them"
            );
            SessionLayer::new(store, config).map_err(invalid_input)
        }
        StoreSpec::Redb(path) => {
            let key = StoreKey::new(secret).map_err(invalid_input)?;
            let store = open_redb(path, max_sessions, key).await?;
            tracing::info!(path = %path.display(), max_sessions = store.max_sessions(), "sessions in a redb file");
            SessionLayer::new(store, config).map_err(invalid_input)
        }
        StoreSpec::Redis(url) | StoreSpec::RedisTls(url, _) => {
            let key = StoreKey::new(secret).map_err(invalid_input)?;
            let ca = match spec {
                StoreSpec::RedisTls(_, ca) => Some(ca.as_path()),
                _ => None,
            };
            let redis = redis_config(url, ca, max_sessions);
            // Connect now, so that a Redis whose eviction policy could drop
            // logged-in sessions stops the server at start; one that is
            // down is connected to on first use.
            let store = match RedisStore::connect(redis.clone(), key.clone()).await {
                Ok(store) => {
                    tracing::info!(url = %spec, max_sessions = store.max_sessions(), "sessions in Redis");
                    store
                }
                Err(StoreError::Unavailable(e)) => {
                    tracing::warn!(url = %spec, error = %e, "Redis is not reachable yet: connecting on first use");
                    RedisStore::new(redis, key)
                        .map_err(|e| invalid_input(format!("--store {spec}: {e}")))?
                }
                Err(e) => return Err(invalid_input(format!("--store {spec}: {e}"))),
            };
            SessionLayer::new(store, config).map_err(invalid_input)
        }
        StoreSpec::Postgres(url) => {
            let key = StoreKey::new(secret).map_err(invalid_input)?;
            // Connects and makes the table now (idempotent): a database
            // that cannot be reached at start stops the server.
            let store = PostgresStore::connect(postgres_config(url, max_sessions), key)
                .await
                .map_err(|e| io::Error::other(format!("--store {spec}: {e}")))?;
            tracing::info!(url = %spec, table = store.table(), max_sessions = store.max_sessions(), "sessions in PostgreSQL");
            SessionLayer::new(store, config).map_err(invalid_input)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_memory_store_takes_the_bound() {
        assert_eq!(
            memory_store(None).max_sessions(),
            sesh_tokio::store::DEFAULT_MAX_SESSIONS
        );
        let n = NonZeroUsize::new(10_000_000).unwrap();
        assert_eq!(memory_store(Some(n)).max_sessions(), 10_000_000);
    }

    #[tokio::test]
    async fn every_bounded_store_takes_the_bound() {
        use sesh_tokio::SessionStore;
        use sesh_tokio::store::DEFAULT_MAX_SESSIONS;
        let key = StoreKey::new(&[5; 32]).unwrap();
        let n = NonZeroUsize::new(1_234).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (file, max, want) in [
            ("a.redb", None, DEFAULT_MAX_SESSIONS),
            ("b.redb", Some(n), 1_234),
        ] {
            let store = open_redb(&dir.path().join(file), max, key.clone())
                .await
                .unwrap();
            assert_eq!(store.max_sessions(), want);
            let occupancy = store.occupancy().await.unwrap().unwrap();
            assert_eq!(occupancy.capacity, Some(want));
        }
        // Neither connects before its first use: no server needed.
        for (max, want) in [(None, DEFAULT_MAX_SESSIONS), (Some(n), 1_234)] {
            let url = "redis://127.0.0.1:1/0";
            let redis = RedisStore::new(redis_config(url, None, max), key.clone()).unwrap();
            assert_eq!(redis.max_sessions(), want);
            let url = "postgres://app@127.0.0.1:1/app";
            let postgres = PostgresStore::new(postgres_config(url, max), key.clone()).unwrap();
            assert_eq!(postgres.max_sessions(), want);
        }
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            "redb:/tmp/s.redb".parse::<StoreSpec>(),
            Ok(StoreSpec::Redb("/tmp/s.redb".into()))
        );
        assert_eq!("memory".parse::<StoreSpec>(), Ok(StoreSpec::Memory));
        assert_eq!(
            "redis://127.0.0.1:6379/0".parse::<StoreSpec>(),
            Ok(StoreSpec::Redis("redis://127.0.0.1:6379/0".into()))
        );
        for bad in [
            "",
            "redb:",
            "redis://",
            "Memory",
            "postgres://",
            "mysql://x",
            "sessions.redb",
        ] {
            assert!(bad.parse::<StoreSpec>().is_err(), "{bad}");
        }
        assert_eq!(
            StoreSpec::default(),
            StoreSpec::Redb("./sesh-sessions.redb".into())
        );
    }

    #[test]
    fn parses_postgres_urls_and_hides_their_password() {
        let spec: StoreSpec = "postgres://app:hunter2@db.example:5432/app"
            .parse()
            .unwrap();
        assert_eq!(
            spec,
            StoreSpec::Postgres("postgres://app:hunter2@db.example:5432/app".into())
        );
        assert_eq!(spec.to_string(), "postgres://app:***@db.example:5432/app");
        assert!(matches!(
            "postgresql://app@h/db".parse::<StoreSpec>(),
            Ok(StoreSpec::Postgres(_))
        ));
        assert!("postgres://".parse::<StoreSpec>().is_err());
        let err = default_secret(&spec, "SESH_SECRET").unwrap_err();
        assert!(
            err.contains("--secret") && err.contains("PostgreSQL"),
            "{err}"
        );
    }

    #[test]
    fn parses_rediss_urls_and_hides_their_password() {
        let url = "rediss://app:hunter2@redis.example:6380/0";
        let spec: StoreSpec = url.parse().unwrap();
        assert_eq!(spec, StoreSpec::Redis(url.into()));
        assert!("rediss://".parse::<StoreSpec>().is_err());
        let tls = StoreSpec::RedisTls(url.into(), "/etc/redis/ca.pem".into());
        assert_eq!(tls.to_string(), "rediss://app:***@redis.example:6380/0");
        assert!(!format!("{tls:?}").contains("hunter2"));
        let err = default_secret(&tls, "SESH_SECRET").unwrap_err();
        assert!(err.contains("--secret"), "{err}");
    }

    #[test]
    fn display_hides_a_redis_password() {
        let spec: StoreSpec = "redis://app:hunter2@db.example:6379/1".parse().unwrap();
        assert_eq!(spec.to_string(), "redis://app:***@db.example:6379/1");
        assert!(!format!("{spec:?}").contains("hunter2"));
        let spec: StoreSpec = "redis://127.0.0.1:6379/0".parse().unwrap();
        assert_eq!(spec.to_string(), "redis://127.0.0.1:6379/0");
        assert_eq!(StoreSpec::Memory.to_string(), "memory");
    }

    #[test]
    fn the_secret_file_sits_next_to_the_database() {
        assert_eq!(
            secret_path(Path::new("./sesh-sessions.redb")),
            Path::new("./sesh-sessions.redb.secret")
        );
    }

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("é1"), None);
    }

    #[test]
    fn a_generated_secret_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb.secret");
        let first = load_or_create_secret(&path).unwrap();
        assert_eq!(first.len(), GENERATED_SECRET_LEN);
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", hex(&first)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_others_can_read_or_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb.secret");
        let secret = load_or_create_secret(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = load_or_create_secret(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{mode:o}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
            // Left as it is: never replaced by a new secret.
            assert_eq!(
                fs::read_to_string(&path).unwrap(),
                format!("{}\n", hex(&secret))
            );
        }
        for mode in [0o600, 0o400] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(load_or_create_secret(&path).unwrap(), secret, "{mode:o}");
        }
    }

    /// Needs root to give the file away; as another user it checks only
    /// that the file of this user is accepted.
    #[cfg(unix)]
    #[test]
    fn a_secret_file_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb.secret");
        let secret = load_or_create_secret(&path).unwrap();
        assert_eq!(load_or_create_secret(&path).unwrap(), secret);
        if rustix::process::geteuid().is_root() {
            // `nobody`, say: anyone but us.
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            let err = load_or_create_secret(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
            assert!(err.to_string().contains("belongs to user 65534"), "{err}");
            let err = default_secret(&StoreSpec::Redb(dir.path().join("s.redb")), "SESH_SECRET")
                .unwrap_err();
            assert!(err.contains("belongs to user 65534"), "{err}");
        }
    }

    #[test]
    fn a_bad_secret_file_is_an_error_not_a_new_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb.secret");
        for bad in ["", "not hex", "abcd"] {
            fs::write(&path, bad).unwrap();
            assert!(load_or_create_secret(&path).is_err(), "{bad:?}");
            assert_eq!(fs::read_to_string(&path).unwrap(), bad, "left untouched");
        }
    }

    #[test]
    fn only_redis_refuses_to_make_a_secret() {
        assert_eq!(
            default_secret(&StoreSpec::Memory, "SESH_SECRET")
                .unwrap()
                .len(),
            GENERATED_SECRET_LEN
        );
        let err = default_secret(
            &StoreSpec::Redis("redis://127.0.0.1:6379/0".into()),
            "SESH_SECRET",
        )
        .unwrap_err();
        assert!(
            err.contains("--secret") && err.contains("SESH_SECRET"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.redb");
        let secret = default_secret(&StoreSpec::Redb(db.clone()), "SESH_SECRET").unwrap();
        assert_eq!(
            default_secret(&StoreSpec::Redb(db.clone()), "SESH_SECRET").unwrap(),
            secret
        );
        assert!(secret_path(&db).exists());
    }
}
