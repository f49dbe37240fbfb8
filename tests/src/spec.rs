//! The session settings a case asks a probe server for ([`ServerSpec`]),
//! `no_std` with `alloc` (feature `spec`), so that a probe image on an
//! emulated microcontroller builds its server from the same settings. A spec
//! crosses to such an image as text ([`ServerSpec::to_hex`] on the host,
//! [`ServerSpec::from_hex`] in the image): postcard bytes in hex.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use sesh::Duration;
use sesh::ExpiryPolicy;
use sesh::cookie::{CookieConfig, SameSite};
use sesh::signing::{Key, KeyError, KeyRing};

/// The header `/csrf-check` reads.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The largest `N` a probe app accepts in `/big?bytes=N`.
pub const MAX_BIG_BYTES: usize = 1 << 20;

/// The session settings a case asks the server for. Adapters translate it
/// into their own configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSpec {
    /// Cookie name.
    pub cookie_name: String,
    /// `Path`.
    pub path: String,
    /// `Domain`, if any.
    pub domain: Option<String>,
    /// `SameSite`.
    #[serde(with = "same_site_code")]
    pub same_site: SameSite,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Absolute lifetime.
    pub absolute_lifetime: Duration,
    /// Refresh share of the idle timeout, in percent.
    pub refresh_percent: u8,
    /// Largest encoded session data, in bytes.
    pub max_data_len: usize,
    /// The signing secret.
    pub key: [u8; 32],
    /// Older secrets that still verify, newest first.
    pub previous_keys: Vec<[u8; 32]>,
    /// The most sessions the server's store holds; `None`: the store's
    /// default. A table whose size is fixed at build time (sesh-embassy's
    /// probe: `embassy_app::CAPACITY`, 16) serves only a spec that asks for
    /// that size or none.
    pub max_sessions: Option<usize>,
}

impl Default for ServerSpec {
    /// The safe defaults: `sid`, `Path=/`, `Secure`, `HttpOnly`,
    /// `SameSite=Lax`, 30 minutes idle, 8 hours absolute, refresh after 25 %,
    /// 4 KiB of data, a fixed test key, and the store's default bound.
    fn default() -> Self {
        ServerSpec {
            cookie_name: "sid".to_owned(),
            path: "/".to_owned(),
            domain: None,
            same_site: SameSite::Lax,
            secure: true,
            http_only: true,
            idle_timeout: Duration::from_mins(30),
            absolute_lifetime: Duration::from_hours(8),
            refresh_percent: 25,
            max_data_len: 4096,
            key: [0x42; 32],
            previous_keys: Vec::new(),
            max_sessions: None,
        }
    }
}

impl ServerSpec {
    /// The key ring the server must use: `key` signs, every key verifies.
    /// Cases use it to sign ids the server never issued.
    pub fn key_ring<const K: usize>(&self) -> Result<KeyRing<K>, KeyError> {
        self.previous_keys
            .iter()
            .try_fold(KeyRing::new(Key::new(&self.key)?), |ring, k| {
                ring.with_previous(Key::new(k)?)
            })
    }

    /// Whether the cookie carries `Secure` (`SameSite=None` forces it).
    pub fn effective_secure(&self) -> bool {
        self.secure || self.same_site == SameSite::None
    }

    /// The cookie settings of this spec, with its strings leaked for the
    /// `'static` that sesh-embassy's `Sessions` wants (a few bytes per server).
    pub fn cookie_config(&self) -> CookieConfig<'static> {
        fn leak(s: &str) -> &'static str {
            alloc::boxed::Box::leak(s.to_owned().into_boxed_str())
        }
        let config = CookieConfig::new(leak(&self.cookie_name))
            .with_path(leak(&self.path))
            .with_same_site(self.same_site)
            .with_secure(self.secure)
            .with_http_only(self.http_only);
        match &self.domain {
            Some(domain) => config.with_domain(leak(domain)),
            None => config,
        }
    }

    /// The expiry policy of this spec.
    pub fn policy(&self) -> ExpiryPolicy {
        ExpiryPolicy::new()
            .with_idle_timeout(self.idle_timeout)
            .with_absolute_lifetime(self.absolute_lifetime)
            .with_refresh_percent(self.refresh_percent)
    }

    /// This spec as text for a command line: its postcard bytes in lower-case hex.
    pub fn to_hex(&self) -> String {
        let bytes = postcard::to_allocvec(self).unwrap_or_default();
        bytes
            .iter()
            .fold(String::with_capacity(bytes.len() * 2), |mut hex, b| {
                hex.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
                hex.push(char::from(HEX_DIGITS[usize::from(b & 0x0f)]));
                hex
            })
    }

    /// The spec [`ServerSpec::to_hex`] wrote; `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<ServerSpec> {
        let digits = hex.as_bytes();
        if !digits.len().is_multiple_of(2) {
            return None;
        }
        let bytes = digits
            .chunks_exact(2)
            .map(|pair| {
                Some(crate::form::hex_digit(pair[0])? * 16 + crate::form::hex_digit(pair[1])?)
            })
            .collect::<Option<Vec<u8>>>()?;
        postcard::from_bytes(&bytes).ok()
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `SameSite` as one byte on the wire (the core type has no serde support).
mod same_site_code {
    use serde::{Deserialize, Deserializer, Serializer};
    use sesh::cookie::SameSite;

    pub fn serialize<S: Serializer>(value: &SameSite, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_u8(match value {
            SameSite::Strict => 0,
            SameSite::Lax => 1,
            SameSite::None => 2,
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<SameSite, D::Error> {
        match u8::deserialize(input)? {
            0 => Ok(SameSite::Strict),
            1 => Ok(SameSite::Lax),
            2 => Ok(SameSite::None),
            _ => Err(serde::de::Error::custom("unknown SameSite code")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_crosses_as_hex_unchanged() {
        let spec = ServerSpec {
            cookie_name: "__Host-x".to_owned(),
            domain: Some("example.test".to_owned()),
            same_site: SameSite::None,
            previous_keys: alloc::vec![[7; 32], [8; 32]],
            max_sessions: Some(16),
            ..ServerSpec::default()
        };
        let hex = spec.to_hex();
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(ServerSpec::from_hex(&hex), Some(spec));
    }

    #[test]
    fn text_that_is_no_spec_is_refused() {
        for bad in ["", "0", "zz", "00ff", &ServerSpec::default().to_hex()[2..]] {
            assert_eq!(ServerSpec::from_hex(bad), None, "{bad:?}");
        }
    }
}
