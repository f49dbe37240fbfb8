//! Rows to sessions and back: times, versions, the sealed value and its
//! checks.

use super::*;

/// A time or version as PostgreSQL's `bigint`: times saturate (beyond
/// year 292 million), so that their order is kept.
pub(super) fn millis(at: Instant) -> i64 {
    i64::try_from(at.as_millis()).unwrap_or(i64::MAX)
}

/// A version as `bigint`, bit for bit (only compared for equality).
pub(super) fn version_sql(version: u64) -> i64 {
    i64::from_be_bytes(version.to_be_bytes())
}

/// The value column: version and deadline (8 bytes each, big-endian), the
/// core's record with its metadata, and the tag that binds all of it to
/// the store key ([`StoreKey::seal`]). The columns beside it repeat what
/// the statements compare, and a read checks they agree.
pub(super) fn encode(
    keys: &StoreKey,
    hash: &[u8; 16],
    version: u64,
    record: &SessionRecord<Vec<u8>>,
    meta: &SessionMeta,
) -> Result<Vec<u8>, StoreError> {
    let body = record
        .to_vec_with_meta(meta)
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    let mut out = Vec::with_capacity(
        16usize
            .saturating_add(body.len())
            .saturating_add(super::super::TAG_LEN),
    );
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&record.deadlines.expires_at().as_millis().to_be_bytes());
    out.extend_from_slice(&body);
    keys.seal(hash, &mut out);
    Ok(out)
}

/// Why a row is not a session of this store (never a panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bad {
    /// The tag does not bind the value to its key: moved from another
    /// key, edited, or written without the secret.
    Unbound,
    /// Bound, but not a record this build reads, or the columns beside it
    /// disagree with it (edited).
    Undecodable,
}

impl Bad {
    pub(super) fn log(self, deleted: bool) {
        let what = match self {
            Bad::Unbound => "session record not bound to its key (moved or edited)",
            Bad::Undecodable => "undecodable session record",
        };
        if deleted {
            tracing::warn!("{what} deleted");
        } else {
            tracing::warn!("{what} seen; rewritten since, kept");
        }
    }
}

/// The columns of a row that a read checks against its value.
pub(super) struct Columns<'r> {
    pub(super) version: i64,
    pub(super) deadline: i64,
    pub(super) protected: bool,
    pub(super) owner: Option<&'r [u8]>,
    pub(super) value: &'r [u8],
}

pub(super) fn columns<'r>(row: &'r Row, first: usize) -> Result<Columns<'r>, StoreError> {
    let get = |e: tokio_postgres::Error| StoreError::Backend(Box::new(e));
    Ok(Columns {
        version: row.try_get(first).map_err(get)?,
        deadline: row.try_get(first.saturating_add(1)).map_err(get)?,
        protected: row.try_get(first.saturating_add(2)).map_err(get)?,
        owner: row.try_get(first.saturating_add(3)).map_err(get)?,
        value: row.try_get(first.saturating_add(4)).map_err(get)?,
    })
}

pub(super) fn decode(
    keys: &StoreKey,
    hash: &[u8; 16],
    row: &Columns<'_>,
) -> Result<StoredSession, Bad> {
    let bytes = keys.open(hash, row.value).ok_or(Bad::Unbound)?;
    let (version, rest) = bytes.split_first_chunk::<8>().ok_or(Bad::Undecodable)?;
    let (deadline, body) = rest.split_first_chunk::<8>().ok_or(Bad::Undecodable)?;
    let (record, meta) =
        SessionRecord::<Vec<u8>>::decode_with_meta(body).map_err(|_| Bad::Undecodable)?;
    let meta = meta.unwrap_or_default();
    let version = u64::from_be_bytes(*version);
    let expires_at = record.deadlines.expires_at();
    let owner = meta.owner.as_ref().map(|user| keys.hash_user(user));
    let agrees = u64::from_be_bytes(*deadline) == expires_at.as_millis()
        && row.version == version_sql(version)
        && row.deadline == millis(expires_at)
        && row.protected == record.protected
        && row.owner == owner.as_ref().map(<[u8; 16]>::as_slice);
    if !agrees {
        return Err(Bad::Undecodable);
    }
    Ok(StoredSession {
        record,
        version,
        meta,
    })
}

/// A display tag as the `tag` column keeps it (its 8 bytes).
pub(super) fn stored_tag(bytes: &[u8]) -> Option<DisplayTag> {
    use std::fmt::Write;
    if bytes.len() != 8 {
        return None;
    }
    let mut text = String::with_capacity(16);
    for b in bytes {
        write!(text, "{b:02x}").ok()?;
    }
    DisplayTag::parse(&text)
}
