//! A type-erased store, so that `Session<D>` does not name the store type.

use std::future::Future;
use std::pin::Pin;

use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};

use crate::store::{
    Created, InPlaceEdit, Occupancy, Removed, Saved, SessionStore, StoreError, StoredSession,
};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

pub(crate) trait DynStore: Send + Sync + 'static {
    fn load<'a>(&'a self, id: &'a SessionId, now: Instant) -> BoxFuture<'a, Option<StoredSession>>;
    fn load_for_update<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> BoxFuture<'a, Option<StoredSession>>;
    fn edit_in_place(
        &self,
        id: &SessionId,
        now: Instant,
        edit: InPlaceEdit<'_>,
    ) -> Option<Result<Option<StoredSession>, StoreError>>;
    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> BoxFuture<'a, Created>;
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> BoxFuture<'a, Saved>;
    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, ()>;
    fn delete_version<'a>(
        &'a self,
        id: &'a SessionId,
        expected_version: u64,
        now: Instant,
    ) -> BoxFuture<'a, Removed>;
    fn purge_expired(&self, now: Instant) -> BoxFuture<'_, usize>;
    fn occupancy(&self) -> BoxFuture<'_, Option<Occupancy>>;
}

impl<T: SessionStore> DynStore for T {
    fn load<'a>(&'a self, id: &'a SessionId, now: Instant) -> BoxFuture<'a, Option<StoredSession>> {
        Box::pin(SessionStore::load(self, id, now))
    }

    fn load_for_update<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> BoxFuture<'a, Option<StoredSession>> {
        Box::pin(SessionStore::load_for_update(self, id, now))
    }

    fn edit_in_place(
        &self,
        id: &SessionId,
        now: Instant,
        edit: InPlaceEdit<'_>,
    ) -> Option<Result<Option<StoredSession>, StoreError>> {
        SessionStore::edit_in_place(self, id, now, edit)
    }

    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> BoxFuture<'a, Created> {
        Box::pin(SessionStore::create(self, id, record, now))
    }

    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> BoxFuture<'a, Saved> {
        Box::pin(SessionStore::save(self, id, record, expected_version, now))
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, ()> {
        Box::pin(SessionStore::delete(self, id))
    }

    fn delete_version<'a>(
        &'a self,
        id: &'a SessionId,
        expected_version: u64,
        now: Instant,
    ) -> BoxFuture<'a, Removed> {
        Box::pin(SessionStore::delete_version(
            self,
            id,
            expected_version,
            now,
        ))
    }

    fn purge_expired(&self, now: Instant) -> BoxFuture<'_, usize> {
        Box::pin(SessionStore::purge_expired(self, now))
    }

    fn occupancy(&self) -> BoxFuture<'_, Option<Occupancy>> {
        Box::pin(SessionStore::occupancy(self))
    }
}
