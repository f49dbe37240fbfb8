//! A firmware-shaped size benchmark for sesh on a Cortex-M4F
//! (`thumbv7em-none-eabihf`).
//!
//! It links what a small device with a web UI needs from sesh: a `static`
//! table of 16 sessions of 32 bytes, an HMAC-SHA256 key ring, one session
//! created, its id signed into a cookie value, the value verified and the
//! session looked up. `scripts/footprint.sh` builds it with the `footprint`
//! profile and prints the sizes.
//!
//! On the host this is an empty program, so `cargo test --workspace` and
//! clippy on x86 build nothing firmware-specific.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod firmware {
    use core::cell::RefCell;
    use core::convert::Infallible;
    use core::fmt::Write as _;
    use core::hint::black_box;

    use cortex_m_rt::entry;
    use critical_section::Mutex;
    use panic_halt as _;
    use rand_core::{TryCryptoRng, TryRng};
    use sesh::signing::{Key, KeyRing};
    use sesh::{Instant, SessionTable};

    /// 16 sessions of 32 bytes each, no heap.
    type Table = SessionTable<[u8; 32], 16>;

    /// The session table, shared with interrupt handlers through a critical
    /// section (no `static mut`, no `unsafe`).
    static TABLE: Mutex<RefCell<Table>> = Mutex::new(RefCell::new(Table::new()));

    /// The signing secret. A real device keeps it in OTP or a secure element.
    const SECRET: [u8; 32] = *b"footprint benchmark secret key!!";

    /// xorshift64*: a few instructions, standing in for the hardware RNG.
    ///
    /// NOT a cryptographic generator. This binary is a code-size benchmark,
    /// and the claim `TryCryptoRng` below is false on purpose: a real device
    /// passes its TRNG (e.g. embassy-stm32 `Rng` through `sesh::rng::Rng09`)
    /// and its size then replaces this one.
    struct BenchRng(u64);

    impl BenchRng {
        /// Seeds from the DWT cycle counter (not enabled at reset, so often
        /// zero) mixed with a constant. That only keeps the compiler from
        /// folding the run; it is not entropy.
        fn new() -> Self {
            let cycles = u64::from(cortex_m::peripheral::DWT::cycle_count());
            BenchRng((cycles ^ 0x9E37_79B9_7F4A_7C15) | 1)
        }

        fn step(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    impl TryRng for BenchRng {
        type Error = Infallible;

        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            Ok((self.step() >> 32) as u32)
        }

        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            Ok(self.step())
        }

        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            for chunk in dst.chunks_mut(8) {
                let word = self.step().to_le_bytes();
                for (d, s) in chunk.iter_mut().zip(word.iter()) {
                    *d = *s;
                }
            }
            Ok(())
        }
    }

    // See the comment on `BenchRng`: a benchmark stand-in, not a CSPRNG.
    impl TryCryptoRng for BenchRng {}

    /// Create, sign, verify, look up. Returns whether every step worked.
    fn session_round_trip(rng: &mut BenchRng, ring: &KeyRing<2>, now: Instant) -> bool {
        critical_section::with(|cs| {
            let mut table = TABLE.borrow_ref_mut(cs);
            let Ok((id, access)) = table.create(rng, now, black_box([0x5A; 32])) else {
                return false;
            };
            black_box(access);

            // The Set-Cookie value, formatted without a heap.
            let mut cookie: heapless::String<64> = heapless::String::new();
            if write!(cookie, "{}", ring.sign(&id)).is_err() {
                return false;
            }
            let cookie = black_box(cookie);

            // The next request: verify the cookie and find the session.
            let Ok(verified) = ring.verify(cookie.as_str()) else {
                return false;
            };
            match table.get(&verified.id(), now) {
                Some((data, access)) => {
                    black_box(data);
                    black_box(access);
                    true
                }
                None => false,
            }
        })
    }

    #[entry]
    fn main() -> ! {
        let mut rng = BenchRng::new();
        let ring = match Key::new(black_box(&SECRET)) {
            Ok(key) => KeyRing::<2>::new(key),
            Err(_) => loop {
                cortex_m::asm::nop();
            },
        };
        let mut millis: u64 = 0;
        loop {
            let ok = session_round_trip(&mut rng, &ring, Instant::from_millis(black_box(millis)));
            black_box(ok);
            millis = millis.wrapping_add(1_000);
        }
    }
}
