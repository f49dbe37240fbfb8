//! Who may sign in ([`Credentials`]: a user name and a PBKDF2-HMAC-SHA256
//! hash of the password, never the password), and how often anyone may try
//! ([`Login`]: sesh's attempt limiter per user name and for the whole
//! device).
//!
//! **Throttling.** picoserve's handlers do not see the client's address, so
//! the firmware counts attempts per *user name* (3 free, then 1 s, 2 s, 4 s,
//! … up to 15 minutes) and for the *whole device* (10 free, then 1 s
//! doubling up to 30 s), which also bounds the time the device spends
//! hashing passwords. There is one account, and no other name can ever sign
//! in, so the account's name has a count of its own and every other name
//! shares one: a flood of made-up names can neither fill a table (and hold
//! the account back that way) nor push the account's count out. An attempt is counted before its
//! password is checked; a refused one is answered 429 with `Retry-After`
//! and its password is not checked, even a right one. A right password
//! forgets the user's count and the device's.
//!
//! **Credentials on a board.** A board image must never carry a fixed
//! password: it calls [`Login::provision`] on [`LOGIN`](crate::LOGIN) at
//! boot with credentials from a required build-time value, a PHC string
//! made off the device (`firmware-host --hash-password`):
//!
//! ```
//! const ADMIN: firmware::Credentials = match firmware::Credentials::from_phc(
//!     "admin",
//!     // On the board: env!("SESH_ADMIN_PASSWORD_HASH").
//!     "$pbkdf2-sha256$i=1000$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
//! ) {
//!     Ok(credentials) => credentials,
//!     // A bad value fails the build.
//!     Err(e) => panic!("{}", e.as_str()),
//! };
//! firmware::LOGIN.provision(ADMIN);
//! ```
//!
//! The emulator, the host server and the tests keep the demo account
//! [`Credentials::DEMO`] (`admin`/`admin`), which `LOGIN` starts with.

use core::cell::RefCell;
use core::fmt::Write as _;
use core::future::poll_fn;
use core::task::Poll;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use hmac::block_api::HmacCore;
use hmac::digest::block_api::{Buffer, CoreProxy};
use hmac::{Hmac, KeyInit, Mac};
use sesh::throttle::{AttemptError, AttemptKey, AttemptLimiter, ThrottlePolicy};
use sesh::{Duration, Instant};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The longest salt a PHC string may carry, in bytes.
pub const MAX_SALT_LEN: usize = 64;

/// The per-user policy: 3 free attempts, then 1 s doubling up to 15
/// minutes; forgotten after 15 quiet minutes.
pub const USER_POLICY: ThrottlePolicy = ThrottlePolicy::new();

/// The whole device's policy: 10 free attempts, then 1 s doubling up to
/// 30 s; forgotten after 5 quiet minutes.
pub const DEVICE_POLICY: ThrottlePolicy = ThrottlePolicy::new()
    .with_free_failures(10)
    .with_max_delay(Duration::from_secs(30))
    .with_forget_after(Duration::from_mins(5));

/// PBKDF2-HMAC-SHA256 iterations checked between two yields to the
/// executor, so that the other workers go on while a password is checked.
const ITERATIONS_PER_YIELD: u32 = 256;

/// Why a PHC string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsError {
    /// Not `$pbkdf2-sha256$i=N[,l=32]$SALT$HASH`.
    Format,
    /// The iteration count is not a number from 1 to `u32::MAX`.
    Iterations,
    /// The salt is not base64 (standard alphabet, no padding) of 8 to
    /// [`MAX_SALT_LEN`] bytes.
    Salt,
    /// The hash is not base64 (standard alphabet, no padding) of 32 bytes.
    Hash,
}

impl CredentialsError {
    /// What is wrong, for a `panic!` in a `const` (which fails the build).
    pub const fn as_str(&self) -> &'static str {
        match self {
            CredentialsError::Format => {
                "the password hash is not a PHC string `$pbkdf2-sha256$i=N$SALT$HASH`"
            }
            CredentialsError::Iterations => "the password hash's iteration count is not 1 or more",
            CredentialsError::Salt => {
                "the password hash's salt is not base64 (no padding) of 8 to 64 bytes"
            }
            CredentialsError::Hash => {
                "the password hash's hash is not base64 (no padding) of 32 bytes"
            }
        }
    }
}

impl core::fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for CredentialsError {}

/// The one account: a user name and a PBKDF2-HMAC-SHA256 hash of its
/// password. `Debug` shows the user name only.
#[derive(Clone, Copy)]
pub struct Credentials {
    user: &'static str,
    iterations: u32,
    salt: [u8; MAX_SALT_LEN],
    salt_len: usize,
    hash: [u8; 32],
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The demo account's PHC string: `admin`, 1,000 iterations (the password
/// is public anyway; few iterations keep the emulator's tests quick).
const DEMO_PHC: &str =
    "$pbkdf2-sha256$i=1000$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM";

impl Credentials {
    /// ⚠️ The demo account `admin`/`admin`: for the emulator, the host
    /// server and tests only. A board image provisions its own
    /// ([`Login::provision`]).
    #[allow(clippy::panic)] // Evaluated at compile time: a bad string fails the build.
    pub const DEMO: Credentials = match Credentials::from_phc("admin", DEMO_PHC) {
        Ok(c) => c,
        Err(e) => panic!("{}", e.as_str()),
    };

    /// The account `user` whose password hash is `phc`, a PHC string
    /// `$pbkdf2-sha256$i=ITERATIONS$SALT$HASH` (base64 without padding, as
    /// `firmware-host --hash-password`, Python's passlib-free
    /// `hashlib.pbkdf2_hmac` or RustCrypto's `pbkdf2` make it; an `,l=32`
    /// after the count is accepted). A `const fn`: in a `const`, a bad
    /// string fails the build.
    pub const fn from_phc(user: &'static str, phc: &str) -> Result<Credentials, CredentialsError> {
        let Some(rest) = strip_prefix(phc.as_bytes(), b"$pbkdf2-sha256$i=") else {
            return Err(CredentialsError::Format);
        };
        let (count, rest) = split_at_byte(rest, b'$');
        let Some(rest) = rest else {
            return Err(CredentialsError::Format);
        };
        let count = match split_at_byte(count, b',') {
            (count, None) => count,
            (count, Some(b"l=32")) => count,
            _ => return Err(CredentialsError::Format),
        };
        let Some(iterations) = parse_u32(count) else {
            return Err(CredentialsError::Iterations);
        };
        let (salt_text, hash_text) = split_at_byte(rest, b'$');
        let Some(hash_text) = hash_text else {
            return Err(CredentialsError::Format);
        };
        let Some((salt, salt_len)) = decode_b64::<MAX_SALT_LEN>(salt_text) else {
            return Err(CredentialsError::Salt);
        };
        if salt_len < 8 {
            return Err(CredentialsError::Salt);
        }
        let Some((hash, 32)) = decode_b64::<32>(hash_text) else {
            return Err(CredentialsError::Hash);
        };
        Ok(Credentials {
            user,
            iterations,
            salt,
            salt_len,
            hash,
        })
    }

    /// The user name.
    pub fn user(&self) -> &'static str {
        self.user
    }

    fn salt(&self) -> &[u8] {
        self.salt.get(..self.salt_len).unwrap_or(&self.salt)
    }

    /// Whether `user` and `password` match. The password is always hashed,
    /// whatever the user name, and both are compared in constant time. It
    /// yields to the executor every few hundred iterations, so the other
    /// workers go on meanwhile.
    pub async fn check(&self, user: &str, password: &str) -> bool {
        let user_ok = Sha256::digest(user.as_bytes()).ct_eq(&Sha256::digest(self.user.as_bytes()));
        let Some(mut pbkdf2) = Pbkdf2::new(password.as_bytes(), self.salt(), self.iterations)
        else {
            return false;
        };
        while !pbkdf2.run(ITERATIONS_PER_YIELD) {
            yield_now().await;
        }
        bool::from(user_ok & pbkdf2.output().ct_eq(&self.hash))
    }

    /// The PHC string of `password` with `salt` (8 to [`MAX_SALT_LEN`]
    /// random bytes) and `iterations`, for [`from_phc`](Self::from_phc).
    /// Takes as long as a check; run it off the device.
    pub fn hash_phc(
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<heapless::String<160>, CredentialsError> {
        if !(8..=MAX_SALT_LEN).contains(&salt.len()) {
            return Err(CredentialsError::Salt);
        }
        if iterations == 0 {
            return Err(CredentialsError::Iterations);
        }
        let hash = pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt, iterations);
        let mut phc = heapless::String::new();
        write!(phc, "$pbkdf2-sha256$i={iterations}$").map_err(|_| CredentialsError::Format)?;
        encode_b64(&mut phc, salt).map_err(|_| CredentialsError::Format)?;
        phc.push('$').map_err(|_| CredentialsError::Format)?;
        encode_b64(&mut phc, &hash).map_err(|_| CredentialsError::Format)?;
        Ok(phc)
    }
}

/// PBKDF2-HMAC-SHA256 (RFC 8018) with a 32-byte output (one block), run a
/// number of iterations at a time: the `pbkdf2` crate has no way to stop
/// and resume, and `check` yields between steps. The PRF is the `hmac`
/// crate's keyed state, cloned per iteration. `hash_phc`, which need not
/// yield, uses the `pbkdf2` crate, and the tests check both agree.
struct Pbkdf2 {
    prf: HmacCore<Sha256>,
    /// The last U.
    u: [u8; 32],
    /// The XOR of every U so far.
    t: [u8; 32],
    left: u32,
}

impl Pbkdf2 {
    /// `None` only if HMAC refused the password as a key, which it never
    /// does (it takes keys of any length).
    fn new(password: &[u8], salt: &[u8], iterations: u32) -> Option<Self> {
        let prf = HmacCore::new_from_slice(password).ok()?;
        let u = mac(&prf, &[salt, &1u32.to_be_bytes()]);
        Some(Pbkdf2 {
            prf,
            u,
            t: u,
            left: iterations.saturating_sub(1),
        })
    }

    /// Runs up to `most` iterations; whether the output is ready.
    fn run(&mut self, most: u32) -> bool {
        let now = self.left.min(most);
        for _ in 0..now {
            self.u = mac(&self.prf, &[&self.u]);
            self.t.iter_mut().zip(self.u).for_each(|(t, u)| *t ^= u);
        }
        self.left = self.left.saturating_sub(now);
        self.left == 0
    }

    fn output(&self) -> [u8; 32] {
        self.t
    }
}

/// HMAC-SHA256 of the concatenated `parts` under the keyed state `key`.
fn mac(key: &HmacCore<Sha256>, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::compose(key.clone(), Buffer::<HmacCore<Sha256>>::default());
    parts.iter().for_each(|part| mac.update(part));
    mac.finalize().into_bytes().into()
}

/// Completes the second time it is polled: lets the executor run the
/// other tasks once.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

const fn strip_prefix<'a>(text: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (mut text, mut prefix) = (text, prefix);
    loop {
        match (text, prefix) {
            (_, []) => return Some(text),
            ([t, text_rest @ ..], [p, prefix_rest @ ..]) if *t == *p => {
                text = text_rest;
                prefix = prefix_rest;
            }
            _ => return None,
        }
    }
}

/// `text` before the first `byte`, and after it (`None` without one).
const fn split_at_byte(text: &[u8], byte: u8) -> (&[u8], Option<&[u8]>) {
    let mut rest = text;
    let mut at = 0usize;
    while let [b, after @ ..] = rest {
        if *b == byte {
            let (before, _) = text.split_at(at);
            return (before, Some(after));
        }
        rest = after;
        at = at.saturating_add(1);
    }
    (text, None)
}

/// A decimal number from 1 to `u32::MAX`, digits only.
const fn parse_u32(mut digits: &[u8]) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u32 = 0;
    while let [d, rest @ ..] = digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = match value.checked_mul(10) {
            Some(v) => match v.checked_add(d.wrapping_sub(b'0') as u32) {
                Some(v) => v,
                None => return None,
            },
            None => return None,
        };
        digits = rest;
    }
    if value == 0 { None } else { Some(value) }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const fn b64_value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(c.wrapping_sub(b'A') as u32),
        b'a'..=b'z' => Some((c.wrapping_sub(b'a') as u32).wrapping_add(26)),
        b'0'..=b'9' => Some((c.wrapping_sub(b'0') as u32).wrapping_add(52)),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Standard base64 without padding into at most `N` bytes: the bytes and
/// how many. `None` for a bad character, a length no encoding has, bits
/// left over, or more than `N` bytes.
/// Not the `base64` crate's: this is a `const fn`, so that a bad PHC string
/// fails a board's build.
const fn decode_b64<const N: usize>(mut text: &[u8]) -> Option<([u8; N], usize)> {
    let mut out = [0u8; N];
    let mut len = 0usize;
    let mut bits: u32 = 0;
    let mut count = 0u32;
    while let [c, rest @ ..] = text {
        let Some(v) = b64_value(*c) else {
            return None;
        };
        // Fewer than 8 bits wait in `bits`: the shifts never overflow.
        bits = bits.wrapping_shl(6) | v;
        count = count.wrapping_add(6);
        if count >= 8 {
            count = count.wrapping_sub(8);
            let byte = (bits.wrapping_shr(count) & 0xff) as u8;
            let Some((_, tail)) = out.split_at_mut_checked(len) else {
                return None;
            };
            let Some(slot) = tail.first_mut() else {
                return None;
            };
            *slot = byte;
            len = len.wrapping_add(1);
        }
        bits &= 1u32.wrapping_shl(count).wrapping_sub(1);
        text = rest;
    }
    // A lone character (6 bits) encodes nothing; unused bits must be zero.
    if count >= 6 || bits != 0 {
        return None;
    }
    Some((out, len))
}

fn encode_b64<const N: usize>(out: &mut heapless::String<N>, bytes: &[u8]) -> Result<(), ()> {
    let symbol = |v: u32| char::from(B64.get((v & 63) as usize).copied().unwrap_or(b'A'));
    for chunk in bytes.chunks(3) {
        let mut word = [0u8; 4];
        word.iter_mut()
            .skip(1)
            .zip(chunk)
            .for_each(|(w, b)| *w = *b);
        let word = u32::from_be_bytes(word);
        // n bytes make n + 1 symbols (no padding).
        for shift in [18u32, 12, 6, 0]
            .into_iter()
            .take(chunk.len().saturating_add(1))
        {
            out.push(symbol(word.wrapping_shr(shift))).map_err(|_| ())?;
        }
    }
    Ok(())
}

struct LoginState {
    credentials: Credentials,
    /// [`ACCOUNT`] and [`OTHER_NAMES`].
    users: AttemptLimiter<2>,
    /// [`DEVICE`].
    device: AttemptLimiter<1>,
}

/// The count of the account's user name.
const ACCOUNT: AttemptKey = AttemptKey::from_bytes([1; 16]);
/// The count every other user name shares.
const OTHER_NAMES: AttemptKey = AttemptKey::from_bytes([2; 16]);
/// The device's count.
const DEVICE: AttemptKey = AttemptKey::from_bytes([0; 16]);

/// The account and the attempt counts: one `static` that every worker
/// shares ([`LOGIN`](crate::LOGIN) for [`router`](crate::router)).
pub struct Login {
    state: Mutex<CriticalSectionRawMutex, RefCell<LoginState>>,
}

/// A counted attempt: hand it back to [`Login::succeeded`] if the password
/// was right.
pub(crate) struct Attempt {
    user: AttemptKey,
    credentials: Credentials,
}

impl Attempt {
    /// The credentials to check the password against.
    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }
}

impl Login {
    /// `credentials`, with [`USER_POLICY`] and [`DEVICE_POLICY`], and no
    /// attempt counted.
    pub const fn new(credentials: Credentials) -> Self {
        Login::with_policies(credentials, USER_POLICY, DEVICE_POLICY)
    }

    /// `credentials` with other policies (tests use short waits).
    pub const fn with_policies(
        credentials: Credentials,
        users: ThrottlePolicy,
        device: ThrottlePolicy,
    ) -> Self {
        Login {
            state: Mutex::new(RefCell::new(LoginState {
                credentials,
                users: AttemptLimiter::new().with_policy(users),
                device: AttemptLimiter::new().with_policy(device),
            })),
        }
    }

    /// Replaces the account (at boot, from provisioning) and forgets every
    /// count.
    pub fn provision(&self, credentials: Credentials) {
        self.state.lock(|state| {
            let mut state = state.borrow_mut();
            let users = *state.users.policy();
            let device = *state.device.policy();
            *state = LoginState {
                credentials,
                users: AttemptLimiter::new().with_policy(users),
                device: AttemptLimiter::new().with_policy(device),
            };
        });
    }

    /// Whether the account is the demo account (the login form then says
    /// so).
    pub fn is_demo(&self) -> bool {
        self.state.lock(|state| {
            let credentials = state.borrow().credentials;
            credentials.user == Credentials::DEMO.user && credentials.hash == Credentials::DEMO.hash
        })
    }

    /// The account's user name.
    pub fn user(&self) -> &'static str {
        self.state.lock(|state| state.borrow().credentials.user)
    }

    /// Counts an attempt as `user` at `now` before its password is checked,
    /// or refuses it (the longer of the two waits).
    pub(crate) fn begin(&self, user: &str, now: Instant) -> Result<Attempt, AttemptError> {
        self.state.lock(|state| {
            let mut state = state.borrow_mut();
            let state = &mut *state;
            let credentials = state.credentials;
            // Compared as digests, in constant time, as the check does.
            let is_account =
                Sha256::digest(user.as_bytes()).ct_eq(&Sha256::digest(credentials.user.as_bytes()));
            let key = if bool::from(is_account) {
                ACCOUNT
            } else {
                OTHER_NAMES
            };
            let wait_user = state.users.retry_after(&key, now);
            let wait_device = state.device.retry_after(&DEVICE, now);
            if wait_user > Duration::ZERO || wait_device > Duration::ZERO {
                return Err(AttemptError::BackingOff {
                    retry_after: wait_user.max(wait_device),
                });
            }
            state.device.attempt(&DEVICE, now)?;
            state.users.attempt(&key, now)?;
            Ok(Attempt {
                user: key,
                credentials,
            })
        })
    }

    /// The password of `attempt` was right: forgets its user's count and
    /// the device's.
    pub(crate) fn succeeded(&self, attempt: Attempt) {
        self.state.lock(|state| {
            let mut state = state.borrow_mut();
            state.users.succeeded(&attempt.user);
            state.device.succeeded(&DEVICE);
        });
    }
}

/// The router's state: the session table and the login counts.
pub(crate) struct AppState<R: 'static> {
    pub(crate) sessions: &'static crate::AppSessions<R>,
    pub(crate) login: &'static Login,
}

impl<R> picoserve::extract::FromRef<AppState<R>> for &'static crate::AppSessions<R> {
    fn from_ref(state: &AppState<R>) -> Self {
        state.sessions
    }
}

impl<R> picoserve::extract::FromRef<AppState<R>> for &'static Login {
    fn from_ref(state: &AppState<R>) -> Self {
        state.login
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    extern crate std;
    use std::string::String;

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| std::format!("{b:02x}")).collect()
    }

    fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
        let mut p = Pbkdf2::new(password, salt, iterations).unwrap();
        while !p.run(7) {}
        p.output()
    }

    #[test]
    fn pbkdf2_matches_rfc_7914_and_python() {
        // RFC 7914 §11, the first 32 bytes of each.
        assert_eq!(
            hex(&pbkdf2(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            hex(&pbkdf2(b"Password", b"NaCl", 80_000)),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
        // A password longer than a block (hashed first), a long salt:
        // Python's hashlib.pbkdf2_hmac("sha256", b"p" * 100, b"s" * 70, 3).
        assert_eq!(
            hex(&pbkdf2(&[b'p'; 100], &[b's'; 70], 3)),
            "3584195e1fd8367d0db04e5d443515cfb23a463bd6d3e2db6a1b2b277f2de0c7"
        );
    }

    /// Polls the check to the end (it only ever yields).
    fn check(credentials: &Credentials, user: &str, password: &str) -> bool {
        let mut check = core::pin::pin!(credentials.check(user, password));
        let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
        loop {
            if let Poll::Ready(ok) = check.as_mut().poll(&mut cx) {
                return ok;
            }
        }
    }

    #[test]
    fn the_demo_account_is_admin_admin() {
        assert_eq!(Credentials::DEMO.user(), "admin");
        assert!(check(&Credentials::DEMO, "admin", "admin"));
        for (user, password) in [
            ("admin", "Admin"),
            ("Admin", "admin"),
            ("", ""),
            ("admin", ""),
        ] {
            assert!(
                !check(&Credentials::DEMO, user, password),
                "{user}/{password}"
            );
        }
        let shown = std::format!("{:?}", Credentials::DEMO);
        assert!(
            shown.contains("admin") && !shown.contains("Cz2S"),
            "{shown}"
        );
    }

    #[test]
    fn a_phc_string_round_trips() {
        let phc = Credentials::hash_phc("hunter2", b"0123456789abcdef", 50).unwrap();
        assert!(
            phc.starts_with("$pbkdf2-sha256$i=50$MDEyMzQ1Njc4OWFiY2RlZg$"),
            "{phc}"
        );
        let credentials = Credentials::from_phc("root", &phc).unwrap();
        assert!(check(&credentials, "root", "hunter2"));
        assert!(!check(&credentials, "root", "hunter3"));
        // RustCrypto's form, with the output length.
        let with_len = phc.replacen("$i=50$", "$i=50,l=32$", 1);
        assert!(check(
            &Credentials::from_phc("root", &with_len).unwrap(),
            "root",
            "hunter2"
        ));
        assert_eq!(
            Credentials::hash_phc("x", b"short", 1),
            Err(CredentialsError::Salt)
        );
        assert_eq!(
            Credentials::hash_phc("x", b"long enough", 0),
            Err(CredentialsError::Iterations)
        );
    }

    #[test]
    fn bad_phc_strings_are_refused() {
        let good = "$pbkdf2-sha256$i=1000$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM";
        assert!(Credentials::from_phc("admin", good).is_ok());
        for (bad, why) in [
            ("", CredentialsError::Format),
            ("admin", CredentialsError::Format),
            (
                "$pbkdf2-sha512$i=1000$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
                CredentialsError::Format,
            ),
            (
                "$pbkdf2-sha256$i=1000$c2VzaC1kZW1vLXNhbHQhIQ",
                CredentialsError::Format,
            ),
            (
                "$pbkdf2-sha256$i=1000,l=64$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
                CredentialsError::Format,
            ),
            (
                "$pbkdf2-sha256$i=0$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
                CredentialsError::Iterations,
            ),
            (
                "$pbkdf2-sha256$i=$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
                CredentialsError::Iterations,
            ),
            (
                "$pbkdf2-sha256$i=4294967296$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
                CredentialsError::Iterations,
            ),
            (
                "$pbkdf2-sha256$i=1e3$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
                CredentialsError::Iterations,
            ),
            (
                "$pbkdf2-sha256$i=1000$c2Vz$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
                CredentialsError::Salt,
            ),
            (
                "$pbkdf2-sha256$i=1000$c2VzaC1kZW1vLXNhbHQhIQ==$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
                CredentialsError::Salt,
            ),
            (
                "$pbkdf2-sha256$i=1000$c2VzaC1kZW1vLXNhbHQhIR$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxM",
                CredentialsError::Salt,
            ),
            (
                "$pbkdf2-sha256$i=1000$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXx",
                CredentialsError::Hash,
            ),
            (
                "$pbkdf2-sha256$i=1000$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa+5pRw6AKE/JG5ZlUsMwXxMA",
                CredentialsError::Hash,
            ),
            (
                "$pbkdf2-sha256$i=1000$c2VzaC1kZW1vLXNhbHQhIQ$Cz2SnEUxUz676kLcOafJa-5pRw6AKE_JG5ZlUsMwXxM",
                CredentialsError::Hash,
            ),
        ] {
            assert_eq!(
                Credentials::from_phc("admin", bad).err(),
                Some(why),
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn base64_round_trips_and_never_panics(bytes in proptest::collection::vec(0u8.., 0..64), text in "[A-Za-z0-9+/=$,.]{0,100}") {
            let mut encoded = heapless::String::<100>::new();
            encode_b64(&mut encoded, &bytes).unwrap();
            let (decoded, len) = decode_b64::<64>(encoded.as_bytes()).unwrap();
            proptest::prop_assert_eq!(&decoded[..len], &bytes[..]);
            let _ = decode_b64::<64>(text.as_bytes());
            let _ = Credentials::from_phc("x", &text);
        }

        /// The hand-written codec is the `base64` crate's STANDARD_NO_PAD,
        /// strictness included (trailing bits, lengths, padding).
        #[test]
        fn base64_agrees_with_the_base64_crate(
            bytes in proptest::collection::vec(0u8.., 0..64),
            text in "[A-Za-z0-9+/=_-]{0,90}",
        ) {
            use base64::Engine as _;
            let crate_ = base64::engine::general_purpose::STANDARD_NO_PAD;
            let mut encoded = heapless::String::<100>::new();
            encode_b64(&mut encoded, &bytes).unwrap();
            let mut expected = [0u8; 100];
            let n = crate_.encode_slice(&bytes, &mut expected).unwrap();
            proptest::prop_assert_eq!(encoded.as_bytes(), &expected[..n]);
            let mut out = [0u8; 90];
            let theirs = crate_.decode_slice(text.as_bytes(), &mut out).ok().filter(|&n| n <= 64);
            let ours = decode_b64::<64>(text.as_bytes());
            proptest::prop_assert_eq!(ours.map(|(_, len)| len), theirs);
            if let (Some((decoded, len)), Some(n)) = (ours, theirs) {
                proptest::prop_assert_eq!(&decoded[..len], &out[..n]);
            }
        }

        #[test]
        fn pbkdf2_matches_the_pbkdf2_crate(
            password in proptest::collection::vec(0u8.., 0..100),
            salt in proptest::collection::vec(0u8.., 0..80),
            iterations in 1u32..40,
        ) {
            let mut expected = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(&password, &salt, iterations, &mut expected);
            proptest::prop_assert_eq!(pbkdf2(&password, &salt, iterations), expected);
        }
    }

    #[test]
    fn a_user_backs_off_and_the_device_too() {
        let login = Login::new(Credentials::DEMO);
        let t0 = Instant::from_secs(10);
        for _ in 0..3 {
            assert!(login.begin("admin", t0).is_ok());
        }
        let refused = login.begin("admin", t0).err().unwrap();
        assert_eq!(refused.retry_after(), Duration::from_secs(1));
        // Other names share one count of their own.
        for n in 0..3 {
            assert!(login.begin(&std::format!("user{n}"), t0).is_ok());
        }
        assert!(login.begin("someone", t0).is_err());
        // After the wait, the right password forgets the account's count
        // and the device's.
        let t1 = t0 + Duration::from_secs(1);
        let attempt = login.begin("admin", t1).unwrap();
        assert!(check(attempt.credentials(), "admin", "admin"));
        login.succeeded(attempt);
        for _ in 0..3 {
            assert!(login.begin("admin", t1).is_ok());
        }
        // Provisioning forgets every count.
        login.provision(Credentials::DEMO);
        assert!(login.begin("admin", t1).is_ok());
    }

    #[test]
    fn the_device_waits_once_its_free_attempts_are_used() {
        let login = Login::with_policies(
            Credentials::DEMO,
            USER_POLICY,
            DEVICE_POLICY.with_free_failures(5),
        );
        let t0 = Instant::from_secs(10);
        for name in ["admin", "admin", "admin", "user0", "user1"] {
            assert!(login.begin(name, t0).is_ok());
        }
        // Neither name's count waits for "user2", the device's does.
        assert_eq!(
            login.begin("user2", t0).err().map(|e| e.retry_after()),
            Some(Duration::from_secs(1))
        );
        let t1 = t0 + Duration::from_secs(1);
        assert!(login.begin("user2", t1).is_ok());
        assert_eq!(
            login.begin("user3", t1).err().map(|e| e.retry_after()),
            Some(Duration::from_secs(2))
        );
        assert_eq!(DEVICE_POLICY.delay_after(100), Duration::from_secs(30));
    }

    #[test]
    fn a_flood_of_names_never_frees_or_holds_the_account() {
        // No device limit here: only the names.
        let login = Login::with_policies(
            Credentials::DEMO,
            USER_POLICY,
            ThrottlePolicy::new().with_free_failures(u32::MAX),
        );
        let t0 = Instant::from_secs(10);
        for _ in 0..3 {
            assert!(login.begin("admin", t0).is_ok());
        }
        let mut flood = 0;
        for n in 0..1000 {
            flood += usize::from(login.begin(&std::format!("flood{n}"), t0).is_ok());
        }
        assert_eq!(flood, 3, "made-up names share one count");
        assert!(login.begin("admin", t0).is_err(), "still held back");
        let t1 = t0 + Duration::from_secs(1);
        assert!(login.begin("admin", t1).is_ok());
        assert_eq!(
            login.begin("admin", t1).err().map(|e| e.retry_after()),
            Some(Duration::from_secs(2))
        );
        // And a fresh account is not held back by a flood of other names.
        let fresh = Login::with_policies(
            Credentials::DEMO,
            USER_POLICY,
            ThrottlePolicy::new().with_free_failures(u32::MAX),
        );
        for n in 0..1000 {
            let _ = fresh.begin(&std::format!("flood{n}"), t0);
        }
        assert!(fresh.begin("admin", t0).is_ok());
    }
}
