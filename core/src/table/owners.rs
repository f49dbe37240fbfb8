//! Owners, labels and lifetimes of sessions: the table side of
//! [`crate::owner`].

use super::slots::says_nothing;
use super::{Access, MetaError, NotFound, Slots, Table};
use crate::expiry::Lifetime;
use crate::owner::{DisplayTag, Label, OwnerSet, SessionInfo, SessionMeta, UserId};
use crate::record::SessionRecord;
use crate::{Instant, SessionId};

impl<S: Slots> Table<S> {
    /// A live session's metadata (owner, label, times, lifetime), without
    /// counting a use. An adapter reads [`Lifetime::cookie_has_max_age`]
    /// here before it writes the cookie. Neither table keeps times for a
    /// session without an owner, label or lifetime of its own: they read
    /// as zero (see [`SessionMeta`]), and start when metadata does.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{owner::Label, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 1>::new();
    /// let (id, _) = table.create(&mut rng, Instant::from_secs(3), 1)?;
    /// assert_eq!(table.meta(&id, Instant::from_secs(4)).map(|m| m.created), Some(Instant::ZERO));
    /// table.set_label(&id, Label::new("phone")?, Instant::from_secs(5))?;
    /// assert_eq!(table.meta(&id, Instant::from_secs(6)).map(|m| m.created), Some(Instant::from_secs(5)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn meta(&self, id: &SessionId, now: Instant) -> Option<&SessionMeta> {
        self.slots
            .get(id)
            .filter(|e| !e.deadlines.is_expired(now))
            .map(|e| e.meta)
    }

    /// Makes room for the metadata of the live session `id` if `edit`
    /// makes it say something and it keeps none yet (see [`MetaError`]).
    /// A missing session passes: the caller's own lookup answers it.
    pub(super) fn meta_room_for(
        &mut self,
        id: &SessionId,
        now: Instant,
        edit: impl FnOnce(&mut SessionMeta),
    ) -> Result<(), MetaError> {
        let keeps_none = self
            .slots
            .get(id)
            .filter(|e| !e.deadlines.is_expired(now))
            .is_some_and(|e| says_nothing(e.meta));
        if !keeps_none {
            return Ok(());
        }
        let mut after = SessionMeta::new(now);
        edit(&mut after);
        if says_nothing(&after) || self.make_meta_room(now, Some(id)) {
            Ok(())
        } else {
            Err(MetaError::NoRoom)
        }
    }

    /// [`Slots::edit_meta`], answering why nothing changed.
    fn edit_meta_or(
        &mut self,
        id: &SessionId,
        now: Instant,
        edit: impl FnOnce(&mut SessionMeta),
    ) -> Result<(), MetaError> {
        if self.slots.edit_meta(id, now, edit) {
            Ok(())
        } else if self.slots.get(id).is_some() {
            // Not after `meta_room_for`; never a silent loss either way.
            Err(MetaError::NoRoom)
        } else {
            Err(MetaError::NotFound)
        }
    }

    /// Marks a live session as `user`'s (at login), counting a use. If the
    /// user then has more sessions than the per-user cap
    /// ([`Table::with_max_sessions_per_user`]), their least recently used
    /// other session ends, and [`OwnerSet::ended`] names it so a store can
    /// delete it too. The user's expired sessions go first and count for
    /// nothing. A fixed table without room in its metadata pool answers
    /// [`MetaError::NoRoom`] and changes nothing (not even the use).
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{owner::UserId, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1)?;
    /// let alice = UserId::new(b"alice")?;
    /// assert_eq!(table.set_owner(&id, alice.clone(), Instant::ZERO)?.ended, None);
    /// assert_eq!(table.sessions_of(&alice, Some(&id), Instant::ZERO).filter(|s| s.current).count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_owner(
        &mut self,
        id: &SessionId,
        user: UserId,
        now: Instant,
    ) -> Result<OwnerSet, MetaError> {
        self.meta_room_for(id, now, |meta| meta.owner = Some(user.clone()))?;
        let (_, access, _) = self.touch(id, now, |_| ()).ok_or(NotFound)?;
        // Metadata starts here (at `now`) if the session had none kept.
        let owner = Some(user.clone());
        self.edit_meta_or(id, now, |meta| meta.owner = owner)?;
        let ended = self.end_over_cap(&user, id, now);
        Ok(OwnerSet { access, ended })
    }

    /// Holds `user` to the per-user cap once `keep` is theirs: drops their
    /// expired sessions, then ends their least recently used other session
    /// if they still have too many, and names it.
    pub(super) fn end_over_cap(
        &mut self,
        user: &UserId,
        keep: &SessionId,
        now: Instant,
    ) -> Option<SessionId> {
        self.slots
            .remove_owned(user, |e| e.deadlines.is_expired(now));
        if self.slots.owned_by(user).count() <= self.max_per_user {
            return None;
        }
        let uses = self.uses;
        let oldest = self
            .slots
            .owned_by(user)
            .filter(|e| e.id != *keep)
            .max_by_key(|e| uses.wrapping_sub(e.last_access))
            .map(|e| e.id);
        oldest.and_then(|old| self.slots.remove(&old)).map(|e| e.id)
    }

    /// Takes a live session's owner away, counting a use. Needs no room:
    /// its only error is [`MetaError::NotFound`].
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{owner::UserId, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1)?;
    /// let alice = UserId::new(b"alice")?;
    /// table.set_owner(&id, alice.clone(), Instant::ZERO)?;
    /// table.clear_owner(&id, Instant::ZERO)?;
    /// assert_eq!(table.sessions_of(&alice, None, Instant::ZERO).count(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear_owner(&mut self, id: &SessionId, now: Instant) -> Result<Access, MetaError> {
        let (_, access, _) = self.touch(id, now, |_| ()).ok_or(NotFound)?;
        self.edit_meta_or(id, now, |meta| meta.owner = None)?;
        Ok(access)
    }

    /// Sets a live session's label (a browser summary, say), counting a use.
    /// A fixed table without room in its metadata pool answers
    /// [`MetaError::NoRoom`] and changes nothing.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{owner::Label, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1)?;
    /// table.set_label(&id, Label::new("Firefox on Linux")?, Instant::ZERO)?;
    /// assert_eq!(table.meta(&id, Instant::ZERO).map(|m| m.label.as_str()), Some("Firefox on Linux"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_label(
        &mut self,
        id: &SessionId,
        label: Label,
        now: Instant,
    ) -> Result<Access, MetaError> {
        self.meta_room_for(id, now, |meta| meta.label = label.clone())?;
        let (changed, access, _) = self
            .touch(id, now, |entry| entry.meta.label != label)
            .ok_or(NotFound)?;
        // Only a change starts metadata (kept aside in either table).
        if changed {
            self.edit_meta_or(id, now, |meta| meta.label = label)?;
        }
        Ok(access)
    }

    /// Gives a live session the lifetime `lifetime` (at login: remember me,
    /// or a browser session) and starts its deadlines again from `now` under
    /// it, as a regeneration does. The answer is refreshed: send the cookie
    /// again (without `Max-Age` for a browser session). A lifetime other
    /// than the default is metadata: a fixed table without room in its
    /// pool answers [`MetaError::NoRoom`] and changes nothing.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{expiry::Lifetime, Duration, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1)?;
    /// let access = table.set_lifetime(&id, Lifetime::REMEMBER_ME, Instant::ZERO)?;
    /// assert_eq!(access.expires_at, Instant::ZERO + Duration::from_hours(24 * 30));
    /// assert!(access.refreshed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_lifetime(
        &mut self,
        id: &SessionId,
        lifetime: Lifetime,
        now: Instant,
    ) -> Result<Access, MetaError> {
        self.meta_room_for(id, now, |meta| meta.lifetime = lifetime)?;
        let policy = self.policy.for_lifetime(lifetime);
        let (changed, _, _) = self
            .touch(id, now, |entry| entry.meta.lifetime != lifetime)
            .ok_or(NotFound)?;
        if changed {
            self.edit_meta_or(id, now, |meta| meta.lifetime = lifetime)?;
        }
        let deadlines = policy.start(now);
        let (protected, _) = self
            .slots
            .change(
                id,
                |_| false,
                None,
                |entry| {
                    entry.deadlines = deadlines;
                    entry.protected
                },
            )
            .ok_or(NotFound)?;
        let access = Access::of(&deadlines, true, protected);
        self.note_deadline(&deadlines);
        Ok(access)
    }

    /// `user`'s live sessions, in no particular order; `current` (the
    /// request's session) is marked. Nothing is counted as a use.
    ///
    /// A fixed table finds them by scanning its `N` slots; an
    /// `AllocSessionTable` by its owner index, at a cost that grows with
    /// the user's sessions, not the table's.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{owner::UserId, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new();
    /// let alice = UserId::new(b"alice")?;
    /// let (a, _) = table.create(&mut rng, Instant::ZERO, 1)?;
    /// let (b, _) = table.create(&mut rng, Instant::ZERO, 2)?;
    /// table.create(&mut rng, Instant::ZERO, 3)?; // nobody's
    /// table.set_owner(&a, alice.clone(), Instant::ZERO)?;
    /// table.set_owner(&b, alice.clone(), Instant::ZERO)?;
    /// let listed: Vec<_> = table.sessions_of(&alice, Some(&b), Instant::ZERO).collect();
    /// assert_eq!(listed.len(), 2);
    /// assert_eq!(listed.iter().filter(|s| s.current).count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sessions_of<'a>(
        &'a self,
        user: &'a UserId,
        current: Option<&'a SessionId>,
        now: Instant,
    ) -> impl Iterator<Item = SessionInfo> + 'a {
        self.slots
            .owned_by(user)
            .filter(move |e| !e.deadlines.is_expired(now))
            .map(move |e| {
                let meta = e.meta;
                SessionInfo {
                    tag: DisplayTag::of(&e.id),
                    created: meta.created,
                    last_seen: meta.last_seen,
                    expires_at: e.deadlines.expires_at(),
                    label: meta.label.clone(),
                    lifetime: meta.lifetime,
                    current: current.is_some_and(|c| *c == e.id),
                }
            })
    }

    /// Ends `user`'s live session with the display tag `tag`; answers its
    /// id (for a store to delete). A tag of another user's session, of an
    /// expired one, or an unknown tag ends nothing: [`NotFound`].
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{owner::{DisplayTag, UserId}, table::NotFound, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new();
    /// let (alices, _) = table.create(&mut rng, Instant::ZERO, 1)?;
    /// let (bobs, _) = table.create(&mut rng, Instant::ZERO, 2)?;
    /// let (alice, bob) = (UserId::new(b"alice")?, UserId::new(b"bob")?);
    /// table.set_owner(&alices, alice.clone(), Instant::ZERO)?;
    /// table.set_owner(&bobs, bob, Instant::ZERO)?;
    /// // Alice cannot end Bob's session, even with its tag.
    /// assert_eq!(table.revoke(&alice, &DisplayTag::of(&bobs), Instant::ZERO), Err(NotFound));
    /// assert_eq!(table.revoke(&alice, &DisplayTag::of(&alices), Instant::ZERO), Ok(alices));
    /// assert!(table.contains(&bobs, Instant::ZERO) && !table.contains(&alices, Instant::ZERO));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn revoke(
        &mut self,
        user: &UserId,
        tag: &DisplayTag,
        now: Instant,
    ) -> Result<SessionId, NotFound> {
        let (id, expired) = self
            .slots
            .owned_by(user)
            .find(|e| DisplayTag::of(&e.id) == *tag)
            .map(|e| (e.id, e.deadlines.is_expired(now)))
            .ok_or(NotFound)?;
        self.slots.remove(&id);
        if expired { Err(NotFound) } else { Ok(id) }
    }

    /// Ends every session of `user` except `except` (the current one, if
    /// given); answers how many live sessions ended. Its cost grows with
    /// the user's sessions (a fixed table scans its `N` slots).
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{owner::UserId, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new();
    /// let alice = UserId::new(b"alice")?;
    /// let mut ids = Vec::new();
    /// for n in 0..3 {
    ///     let (id, _) = table.create(&mut rng, Instant::ZERO, n)?;
    ///     table.set_owner(&id, alice.clone(), Instant::ZERO)?;
    ///     ids.push(id);
    /// }
    /// assert_eq!(table.revoke_all(&alice, Some(&ids[0]), Instant::ZERO), 2);
    /// assert_eq!(table.sessions_of(&alice, None, Instant::ZERO).count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn revoke_all(&mut self, user: &UserId, except: Option<&SessionId>, now: Instant) -> usize {
        let mut live = 0usize;
        self.slots.remove_owned(user, |e| {
            if except.is_some_and(|keep| *keep == e.id) {
                return false;
            }
            if !e.deadlines.is_expired(now) {
                live = live.saturating_add(1);
            }
            true
        });
        live
    }

    /// Every stored session (live or not yet purged) with its metadata, in
    /// no particular order: what a store persists.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// assert!(table.iter_with_meta().all(|(_, _, meta)| meta.owner.is_none()));
    /// ```
    pub fn iter_with_meta(
        &self,
    ) -> impl Iterator<Item = (SessionId, SessionRecord<&S::Data>, &SessionMeta)> {
        self.slots.entries().map(|e| {
            (
                e.id,
                SessionRecord {
                    deadlines: e.deadlines,
                    protected: e.protected,
                    data: e.data,
                },
                e.meta,
            )
        })
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use crate::owner::{DisplayTag, UserId};
    use crate::test_rng::CountingRng;
    use crate::{AllocSessionTable, Duration, Instant, SessionId};

    fn user(n: u8) -> UserId {
        UserId::new(&[n]).unwrap()
    }

    proptest::proptest! {
        /// Whatever happens, the alloc table's owner index lists exactly
        /// the owned entries.
        #[test]
        fn the_index_stays_exact(ops in proptest::collection::vec((0u8..9, 0usize..8, 0u8..3), 1..80)) {
            let mut rng = CountingRng(1);
            let mut t = AllocSessionTable::<u8>::with_max_sessions(5).with_max_sessions_per_user(2);
            let mut ids: std::vec::Vec<SessionId> = std::vec::Vec::new();
            let mut now = Instant::ZERO;
            for (op, pick, who) in ops {
                let id = ids.get(pick % ids.len().max(1)).copied();
                match (op, id) {
                    (0, _) => if let Ok((id, _)) = t.create(&mut rng, now, 0) { ids.push(id) },
                    (1, Some(id)) => { let _ = t.set_owner(&id, user(who), now); }
                    (2, Some(id)) => { t.destroy(&id); }
                    (3, Some(id)) => if let Ok((new, _)) = t.regenerate(&id, &mut rng, now) { ids.push(new) },
                    (4, Some(id)) => { let _ = t.revoke(&user(who), &DisplayTag::of(&id), now); }
                    (5, id) => { t.revoke_all(&user(who), id.as_ref(), now); }
                    (6, _) => now = now.saturating_add(Duration::from_mins(20)),
                    (7, _) => { t.purge_expired(now); }
                    (8, Some(id)) => { let _ = t.clear_owner(&id, now); }
                    _ => {}
                }
                proptest::prop_assert!(t.slots.index_is_exact());
            }
            t.clear();
            proptest::prop_assert!(t.slots.index_is_exact());
        }
    }
}
