//! Cookie parsing, `Set-Cookie` writing and signing: cases with no table.

use core::fmt::Write;

use sesh::cookie::{
    CookieConfig, CookieConfigError, CookieScan, SameSite, ScanOutcome, write_removal,
    write_set_cookie,
};
use sesh::signing::{Key, KeyRing, VerifyError};
use sesh::{Duration, SessionId};

use crate::case::{Failure, Outcome};
use crate::rng::TestRng;
use crate::{check, check_eq};

fn scan<'h>(headers: &[&'h [u8]]) -> ScanOutcome<'h> {
    let mut s = CookieScan::new("sid");
    for h in headers {
        s.feed(h);
    }
    s.outcome()
}

/// The session cookie is found among others, with spaces and quotes.
pub fn scan_finds_the_cookie() -> Outcome {
    check_eq!(scan(&[b"a=1; sid=xyz; b=2"]), ScanOutcome::Found("xyz"));
    check_eq!(scan(&[b" sid = \"xyz\" "]), ScanOutcome::Found("xyz"));
    check_eq!(scan(&[b"a=1", b"sid=xyz"]), ScanOutcome::Found("xyz"));
    check_eq!(scan(&[b"SID=1; Sid=2; sidx=3"]), ScanOutcome::Absent);
    check_eq!(scan(&[]), ScanOutcome::Absent);
    Ok(())
}

/// Duplicates: equal values count once, different values select nothing.
pub fn scan_duplicates_rule() -> Outcome {
    check_eq!(scan(&[b"sid=a; sid=a"]), ScanOutcome::Found("a"));
    check_eq!(scan(&[b"sid=a; sid=b"]), ScanOutcome::Ambiguous);
    check_eq!(scan(&[b"sid=a", b"sid=b"]), ScanOutcome::Ambiguous);
    Ok(())
}

/// Control bytes, non-ASCII and over-long values are malformed; junk in other
/// cookies does not matter.
pub fn scan_rejects_bad_bytes() -> Outcome {
    check_eq!(scan(&[b"sid=a\x00b"]), ScanOutcome::Malformed);
    check_eq!(scan(&[b"sid=\xc3\xa9"]), ScanOutcome::Malformed);
    check_eq!(
        scan(&[&[b'x'; 8192], b"; sid=ok"]),
        ScanOutcome::Found("ok")
    );
    let mut long = [b'a'; 300];
    if let Some(head) = long.get_mut(..4) {
        head.copy_from_slice(b"sid=");
    }
    check_eq!(scan(&[&long]), ScanOutcome::Malformed);
    Ok(())
}

/// `Set-Cookie` carries exactly the configured attributes.
pub fn set_cookie_attributes() -> Outcome {
    let mut out: heapless::String<200> = heapless::String::new();
    let config = CookieConfig::new("sid")
        .with_path("/app")
        .with_domain("example.com")
        .with_same_site(SameSite::Strict);
    check!(write_set_cookie(&mut out, &config, "v", Duration::from_millis(90_500)).is_ok());
    check_eq!(
        out.as_str(),
        "sid=v; Path=/app; Domain=example.com; Max-Age=91; HttpOnly; Secure; SameSite=Strict"
    );
    out.clear();
    check!(write_removal(&mut out, &config).is_ok());
    check_eq!(
        out.as_str(),
        "sid=; Path=/app; Domain=example.com; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
    );
    out.clear();
    let none = CookieConfig::new("sid")
        .with_secure(false)
        .with_same_site(SameSite::None);
    check!(write!(out, "x").is_ok());
    out.clear();
    check!(write_set_cookie(&mut out, &none, "v", Duration::from_secs(1)).is_ok());
    check!(out.ends_with("; Secure; SameSite=None"));
    Ok(())
}

/// Prefix rules and header-injection attempts are refused.
pub fn cookie_config_validation() -> Outcome {
    check_eq!(
        CookieConfig::new("__Host-sid")
            .with_host_prefix()
            .validate(),
        Ok(())
    );
    check_eq!(
        CookieConfig::new("__Host-sid")
            .with_domain("example.com")
            .validate(),
        Err(CookieConfigError::HostPrefixRules)
    );
    check_eq!(
        CookieConfig::new("__host-sid")
            .with_secure(false)
            .validate(),
        Err(CookieConfigError::HostPrefixRules)
    );
    check_eq!(
        CookieConfig::new("sid").with_path("/\r\nX: y").validate(),
        Err(CookieConfigError::InvalidPath)
    );
    check_eq!(
        CookieConfig::new("sid")
            .with_domain("a.com; Secure")
            .validate(),
        Err(CookieConfigError::InvalidDomain)
    );
    check_eq!(
        CookieConfig::new("s=id").validate(),
        Err(CookieConfigError::InvalidName)
    );
    check_eq!(
        CookieConfig::new("").validate(),
        Err(CookieConfigError::InvalidName)
    );
    Ok(())
}

fn key(byte: u8) -> Result<Key, Failure> {
    Key::new(&[byte; 32]).map_err(|_| Failure {
        line: line!(),
        check: "key",
    })
}

fn id() -> Result<SessionId, Failure> {
    SessionId::generate(&mut TestRng(1)).map_err(|_| Failure {
        line: line!(),
        check: "id",
    })
}

/// Signed values verify; forged, truncated and unsigned ones do not.
pub fn signing_verifies_and_refuses() -> Outcome {
    let ring = KeyRing::<2>::new(key(1)?);
    let id = id()?;
    let mut value: heapless::String<64> = heapless::String::new();
    check!(write!(value, "{}", ring.sign(&id)).is_ok());
    check_eq!(ring.verify(&value).map(|v| v.id()), Ok(id));
    check_eq!(
        ring.verify(value.get(..44).unwrap_or_default()),
        Err(VerifyError::MalformedTag)
    );
    check_eq!(
        ring.verify(value.get(..22).unwrap_or_default()),
        Err(VerifyError::MissingTag)
    );
    let other = KeyRing::<1>::new(key(3)?);
    let mut forged: heapless::String<64> = heapless::String::new();
    check!(write!(forged, "{}", other.sign(&id)).is_ok());
    check_eq!(ring.verify(&forged), Err(VerifyError::BadSignature));
    check!(Key::new(&[0; 31]).is_err());
    Ok(())
}

/// Rotation: old cookies verify and ask for a re-signature until the old key
/// is retired; CSRF tokens follow the same keys.
pub fn key_rotation() -> Outcome {
    let id = id()?;
    let old = KeyRing::<2>::new(key(1)?);
    let mut value: heapless::String<64> = heapless::String::new();
    check!(write!(value, "{}", old.sign(&id)).is_ok());
    let token = old.csrf_token(&id);
    let mut ring = old.clone();
    ring.rotate(key(2)?);
    check_eq!(ring.verify(&value).map(|v| v.needs_resign()), Ok(true));
    check!(ring.verify_csrf(&id, token.as_str()));
    ring.retire_oldest();
    check_eq!(ring.verify(&value), Err(VerifyError::BadSignature));
    check!(!ring.verify_csrf(&id, token.as_str()));
    Ok(())
}

/// Lists the cookie and signing cases.
pub const COOKIE_CASES: [crate::case::Case; 7] = {
    use crate::case::Case;
    [
        Case {
            name: "cookie::scan_finds_the_cookie",
            run: scan_finds_the_cookie,
        },
        Case {
            name: "cookie::scan_duplicates_rule",
            run: scan_duplicates_rule,
        },
        Case {
            name: "cookie::scan_rejects_bad_bytes",
            run: scan_rejects_bad_bytes,
        },
        Case {
            name: "cookie::set_cookie_attributes",
            run: set_cookie_attributes,
        },
        Case {
            name: "cookie::cookie_config_validation",
            run: cookie_config_validation,
        },
        Case {
            name: "signing::signing_verifies_and_refuses",
            run: signing_verifies_and_refuses,
        },
        Case {
            name: "signing::key_rotation",
            run: key_rotation,
        },
    ]
};
