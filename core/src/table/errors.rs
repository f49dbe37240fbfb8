//! One small error type per table operation.

use core::fmt;

/// Why [`Table::create`](super::Table::create) stored nothing. Each variant hands
/// the data back.
///
/// ```
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// use sesh::{table::CreateError, Instant, SessionTable};
/// let mut table = SessionTable::<&str, 1>::new();
/// let (id, _) = table.create(&mut rng, Instant::ZERO, "alice").unwrap();
/// table.set_protected(&id, Instant::ZERO, true).unwrap();
/// let err = table.create(&mut rng, Instant::ZERO, "bob").unwrap_err();
/// assert_eq!(err, CreateError::Full("bob"));
/// assert_eq!(err.to_string(), "the session table is full of protected sessions");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CreateError<D> {
    /// Every slot holds a live, protected session.
    Full(D),
    /// The RNG failed; no id was made (fail closed).
    Rng(D),
    /// The RNG returned live ids on every attempt: it is broken or not random.
    Collision(D),
}

impl<D> CreateError<D> {
    /// The data that was not stored.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<String, 0>::new();
    /// let err = table.create(&mut rng, Instant::ZERO, "kept".to_string()).unwrap_err();
    /// assert_eq!(err.into_data(), "kept");
    /// ```
    pub fn into_data(self) -> D {
        match self {
            CreateError::Full(d) | CreateError::Rng(d) | CreateError::Collision(d) => d,
        }
    }
}

impl<D> fmt::Display for CreateError<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CreateError::Full(_) => "the session table is full of protected sessions",
            CreateError::Rng(_) => "the random number generator failed",
            CreateError::Collision(_) => {
                "the random number generator keeps repeating live session ids"
            }
        })
    }
}

impl<D: fmt::Debug> core::error::Error for CreateError<D> {}

/// Why [`Table::insert`](super::Table::insert) stored nothing. Each variant hands
/// the data back.
///
/// ```
/// use sesh::{expiry::Deadlines, record::SessionRecord, table::InsertError, Instant, SessionId, SessionTable};
/// let mut table = SessionTable::<u32, 4>::new();
/// let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
/// let stale = Deadlines { idle: Instant::from_secs(5), absolute: Instant::from_secs(5) };
/// let record = SessionRecord { deadlines: stale, protected: false, data: 1 };
/// let err = table.insert(id, record, Instant::from_secs(10)).unwrap_err();
/// assert_eq!(err, InsertError::Expired(1));
/// assert_eq!(err.to_string(), "the session has already expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InsertError<D> {
    /// A live session already has this id; it was left alone.
    Exists(D),
    /// Every slot holds a live, protected session; or the record's
    /// metadata says something (an owner, a label, a lifetime) and a fixed
    /// table's metadata pool is full of protected sessions' metadata.
    Full(D),
    /// The record had already expired.
    Expired(D),
}

impl<D> fmt::Display for InsertError<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InsertError::Exists(_) => "a live session already has this id",
            InsertError::Full(_) => "the session table is full of protected sessions",
            InsertError::Expired(_) => "the session has already expired",
        })
    }
}

impl<D: fmt::Debug> core::error::Error for InsertError<D> {}

/// Why [`Table::regenerate`](super::Table::regenerate) did nothing.
///
/// ```
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// use sesh::{table::RegenerateError, Instant, SessionId, SessionTable};
/// let mut table = SessionTable::<u32, 4>::new();
/// let unknown = SessionId::generate(&mut rng).unwrap();
/// let err = table.regenerate(&unknown, &mut rng, Instant::ZERO).unwrap_err();
/// assert_eq!(err, RegenerateError::NotFound);
/// assert_eq!(err.to_string(), "no live session has this id");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RegenerateError {
    /// No live session has this id.
    NotFound,
    /// The RNG failed; the session keeps its old id.
    Rng,
    /// The RNG returned live ids on every attempt; the session keeps its old id.
    Collision,
}

impl fmt::Display for RegenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegenerateError::NotFound => "no live session has this id",
            RegenerateError::Rng => "the random number generator failed",
            RegenerateError::Collision => {
                "the random number generator keeps repeating live session ids"
            }
        })
    }
}

impl core::error::Error for RegenerateError {}

/// No live session has this id.
///
/// ```
/// use sesh::{table::NotFound, Instant, SessionId, SessionTable};
/// let mut table = SessionTable::<u32, 4>::new();
/// let unknown = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
/// assert_eq!(table.set_protected(&unknown, Instant::ZERO, true), Err(NotFound));
/// assert_eq!(NotFound.to_string(), "no live session has this id");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NotFound;

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no live session has this id")
    }
}

impl core::error::Error for NotFound {}

/// Why giving a session an owner, a label or a lifetime
/// ([`Table::set_owner`](super::Table::set_owner),
/// [`set_label`](super::Table::set_label),
/// [`set_lifetime`](super::Table::set_lifetime), and
/// [`clear_owner`](super::Table::clear_owner), which only ever answers
/// `NotFound`) did nothing.
///
/// A fixed table keeps such metadata in a pool of `OWNED` entries (the
/// third parameter of [`SessionTable`](crate::SessionTable)). When it is
/// full, the least recently used session that holds an entry and is not
/// protected is evicted for it, as a full table evicts for a new session;
/// when every holder is protected (or the table
/// [refuses](super::WhenFull::Refuse) to evict), the answer is `NoRoom` and
/// the session is left as it was: it never silently loses an owner.
///
/// ```
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// use sesh::{owner::UserId, table::MetaError, Instant, SessionTable};
/// let mut table = SessionTable::<u32, 4, 1>::new();
/// let (a, _) = table.create(&mut rng, Instant::ZERO, 1)?;
/// let (b, _) = table.create(&mut rng, Instant::ZERO, 2)?;
/// table.set_protected(&a, Instant::ZERO, true)?;
/// table.set_owner(&a, UserId::new(b"alice")?, Instant::ZERO)?;
/// let err = table.set_owner(&b, UserId::new(b"bob")?, Instant::ZERO).unwrap_err();
/// assert_eq!(err, MetaError::NoRoom);
/// assert!(table.meta(&b, Instant::ZERO).is_some_and(|m| m.owner.is_none()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MetaError {
    /// No live session has this id.
    NotFound,
    /// The table's metadata pool is full of protected sessions' metadata
    /// (or has no entries: `OWNED = 0`); nothing changed.
    NoRoom,
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetaError::NotFound => "no live session has this id",
            MetaError::NoRoom => {
                "no room for the session's owner, label or lifetime: the table's metadata pool is full"
            }
        })
    }
}

impl core::error::Error for MetaError {}

impl From<NotFound> for MetaError {
    fn from(_: NotFound) -> Self {
        MetaError::NotFound
    }
}
