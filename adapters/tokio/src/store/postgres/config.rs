//! How to reach PostgreSQL and the store's bounds: [`PostgresConfig`].

use super::*;

/// How to reach PostgreSQL, and the store's bounds.
///
/// ```
/// let config = sesh_tokio::store::PostgresConfig::new("postgres://app:secret@127.0.0.1:5432/app")
///     .with_table("myapp_sessions")
///     .with_pool_size(16)
///     .with_timeout(std::time::Duration::from_secs(2));
/// ```
#[derive(Clone)]
pub struct PostgresConfig {
    pub(super) url: String,
    pub(super) table: String,
    pub(super) pool_size: usize,
    pub(super) timeout: Duration,
    pub(super) max_sessions: usize,
    pub(super) max_per_user: usize,
    pub(super) write_cache: usize,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PostgresConfig")
            .field("table", &self.table)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("max_sessions", &self.max_sessions)
            .field("max_per_user", &self.max_per_user)
            .field("write_cache", &self.write_cache)
            .finish_non_exhaustive()
    }
}

impl PostgresConfig {
    /// PostgreSQL at `url` (`postgres://USER:PASS@HOST:PORT/DB`, or the
    /// `key=value` form), table `sesh_sessions`, a pool of 8 connections,
    /// 2 s timeouts, at most [`DEFAULT_MAX_SESSIONS`] sessions and
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`] per user, a write cache of 10,000
    /// sessions. Plain TCP or a Unix
    /// socket: this version does not speak TLS to the database.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            table: "sesh_sessions".into(),
            pool_size: 8,
            timeout: Duration::from_secs(2),
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            write_cache: 10_000,
        }
    }

    /// Sets how many sessions the store remembers from its own loads,
    /// creates and saves (default 10,000; 0 turns the cache off).
    ///
    /// An update ([`Session::update`](crate::Session::update)) of a session
    /// in this cache starts from the remembered copy and saves with one
    /// statement, the compare-and-swap; without it an update reads the row
    /// twice first (the update's read, and the save's read of the metadata
    /// it seals). A copy made stale by another server's write only costs a
    /// retry: the compare-and-swap answers "conflict", and the update reads
    /// the database and runs again. No update is lost, and nothing is read
    /// from the cache outside updates. Memory: about 200 bytes per session
    /// plus its data.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_write_cache(50_000);
    /// ```
    pub fn with_write_cache(mut self, sessions: usize) -> Self {
        self.write_cache = sessions;
        self
    }

    /// Sets the sessions table's name (default `sesh_sessions`): lowercase
    /// ASCII letters, digits and `_`, starting with a letter or `_`, at
    /// most 48 bytes. Its counter table is the name plus `_count`. Apps
    /// that share a database use one table each.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_table("shop_sessions");
    /// ```
    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Sets how many connections the pool keeps at most (default 8, at
    /// least 1). Requests wait for a free one up to the timeout.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_pool_size(32);
    /// ```
    pub fn with_pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// Sets the timeout of a store call (default 2 s): waiting for a
    /// connection, connecting, and the statements. While the database is
    /// down or stalled, calls fail after this long with
    /// [`StoreError::Unavailable`].
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_timeout(std::time::Duration::from_millis(500));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the most sessions the table holds, across every server that
    /// shares it (default [`DEFAULT_MAX_SESSIONS`]). A new session beyond
    /// it evicts the least recently used unprotected one, or is refused
    /// with [`StoreError::Full`] (503) when only protected sessions are
    /// left.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_max_sessions(1_000_000);
    /// ```
    pub fn with_max_sessions(mut self, max_sessions: usize) -> Self {
        self.max_sessions = max_sessions;
        self
    }

    /// Sets the most live sessions one user keeps (default
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`], at least 1): giving a user one
    /// more ends their least recently used other session, in the same
    /// transaction.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_max_sessions_per_user(8);
    /// ```
    pub fn with_max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }
}

/// The table name is not one this store accepts (see
/// [`PostgresConfig::with_table`]); it is never put into SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTableName(pub String);

impl std::fmt::Display for BadTableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not a sessions table name: use lowercase ASCII letters, digits and _ \
             (not first), at most {MAX_TABLE_LEN} bytes",
            self.0
        )
    }
}

impl std::error::Error for BadTableName {}

/// The counter row mask for a store of `max_sessions`.
pub(super) fn shard_mask(max_sessions: usize) -> u8 {
    if max_sessions >= SHARDED_FROM {
        COUNT_SHARDS.wrapping_sub(1)
    } else {
        0
    }
}

pub(super) fn valid_table(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    first_ok
        && name.len() <= MAX_TABLE_LEN
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
