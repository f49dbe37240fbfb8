//! One small error type per table operation.

use core::fmt;

/// Why [`Table::create`](super::Table::create) stored nothing. Each variant hands
/// the data back.
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InsertError<D> {
    /// A live session already has this id; it was left alone.
    Exists(D),
    /// Every slot holds a live, protected session.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NotFound;

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no live session has this id")
    }
}

impl core::error::Error for NotFound {}
