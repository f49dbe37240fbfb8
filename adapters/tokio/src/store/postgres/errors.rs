//! PostgreSQL and pool errors as [`StoreError`]s.

use super::*;

/// A store call took longer than the configured timeout.
#[derive(Debug)]
pub(super) struct TimedOut(pub(super) Duration);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgreSQL did not answer within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// The database's answer that is none of those a statement gives.
#[derive(Debug)]
pub(super) struct Unexpected(&'static str);

impl std::fmt::Display for Unexpected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Unexpected {}

pub(super) fn unexpected(what: &'static str) -> StoreError {
    StoreError::Backend(Box::new(Unexpected(what)))
}

/// Whether `e` means the database could not be reached or went away (a
/// closed connection, an I/O error, SQLSTATE class 08 or 57P: shutdown,
/// cannot connect now).
pub(super) fn unreachable_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return code.starts_with("08") || code.starts_with("57P");
    }
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

pub(super) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    if unreachable_error(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

pub(super) fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg_error(e),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::Unavailable(Box::new(e)),
        other => StoreError::Backend(Box::new(other)),
    }
}
