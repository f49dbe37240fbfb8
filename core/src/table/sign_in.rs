//! Login as one step of the table: [`Table::sign_in`].

use rand_core::TryCryptoRng;

use super::{CreateError, Slots, Table};
use crate::owner::{SignIn, SignedIn};
use crate::record::SessionRecord;
use crate::{Instant, SessionId};

impl<S: Slots> Table<S> {
    /// Signs a visitor in, in one step: the session `current` (if live)
    /// ends, and a new one under a fresh id holds `data`, is protected from
    /// eviction, belongs to `sign_in.owner`, carries its label, and has
    /// deadlines started now by its lifetime. If the user would pass the
    /// per-user cap, their least recently used other session ends
    /// ([`SignedIn::ended`]).
    ///
    /// On an error nothing changed: `current` is as it was and `data` comes
    /// back. [`CreateError::Full`] when no slot or metadata entry can be
    /// freed (every one holds a protected session, or the table refuses to
    /// evict); a sign-in over a live `current` reuses its slot, so it fails
    /// only for want of metadata room.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{expiry::Lifetime, owner::{SignIn, UserId}, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new();
    /// let (anonymous, _) = table.create(&mut rng, Instant::ZERO, 0)?;
    /// let alice = UserId::new(b"alice")?;
    /// let sign_in = SignIn::new(alice.clone()).with_lifetime(Lifetime::REMEMBER_ME);
    /// let signed_in = table.sign_in(Some(&anonymous), &sign_in, 7, &mut rng, Instant::ZERO)?;
    /// assert!(!table.contains(&anonymous, Instant::ZERO)); // a planted id is dead now
    /// assert_eq!(table.peek(&signed_in.id, Instant::ZERO), Some(&7));
    /// assert_eq!(table.protected_len(), 1);
    /// assert_eq!(table.sessions_of(&alice, None, Instant::ZERO).count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_in<R: TryCryptoRng + ?Sized>(
        &mut self,
        current: Option<&SessionId>,
        sign_in: &SignIn,
        data: S::Data,
        rng: &mut R,
        now: Instant,
    ) -> Result<SignedIn, CreateError<S::Data>> {
        let id = match self.fresh_id(rng) {
            Ok(id) => id,
            Err(e) => return Err(e.refusing(data)),
        };
        let meta = sign_in.meta(now);
        let record = SessionRecord {
            deadlines: self.policy.for_lifetime(sign_in.lifetime).start(now),
            protected: true,
            data,
        };
        let current = current.copied().filter(|old| self.live(old, now));
        // The old session goes only once the new one is sure to fit: its
        // slot is reused, and metadata room (which never evicts it) is made
        // first.
        let replaced = match current {
            Some(old) => {
                if self
                    .meta_room_for(&old, now, |m| m.clone_from(&meta))
                    .is_err()
                {
                    return Err(CreateError::Full(record.data));
                }
                self.slots.remove(&old)
            }
            None => None,
        };
        let access = match self.insert_entry(id, record, meta, now) {
            Ok(access) => access,
            Err(record) => {
                // Not reached after the checks above; if it were, the old
                // session comes back (its slot is free) rather than being lost.
                if let Some(entry) = replaced {
                    let _ = self.slots.insert(entry);
                }
                return Err(CreateError::Full(record.data));
            }
        };
        let ended = self.end_over_cap(&sign_in.owner, &id, now);
        Ok(SignedIn { id, access, ended })
    }
}
