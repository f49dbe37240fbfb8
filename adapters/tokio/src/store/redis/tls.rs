//! `rediss://`: the certificate authority a [`RedisStore`](super::RedisStore)
//! trusts, and the rustls crypto provider.

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::StoreError;

/// Where the CA of a `rediss://` server comes from.
#[derive(Clone)]
pub(super) enum CaSource {
    /// A PEM file, read when the store is made.
    File(PathBuf),
    /// PEM bytes.
    Pem(Vec<u8>),
}

impl std::fmt::Debug for CaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaSource::File(path) => f.debug_tuple("File").field(path).finish(),
            CaSource::Pem(pem) => write!(f, "Pem({} bytes)", pem.len()),
        }
    }
}

impl CaSource {
    /// The PEM bytes, checked to hold at least one certificate that rustls
    /// takes as a trust anchor: a bad file fails here, when the store is
    /// made, not at every connection.
    pub(super) fn load(&self) -> Result<Vec<u8>, StoreError> {
        let (pem, origin) = match self {
            CaSource::File(path) => (
                std::fs::read(path).map_err(|e| bad(path, format!("cannot be read: {e}")))?,
                Some(path.as_path()),
            ),
            CaSource::Pem(pem) => (pem.clone(), None),
        };
        let fail = |what: String| match origin {
            Some(path) => bad(path, what),
            None => StoreError::Backend(format!("the Redis CA certificate (PEM) {what}").into()),
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| fail(format!("is not valid PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| fail(format!("holds a certificate rustls cannot use: {e}")))?;
        }
        if roots.is_empty() {
            return Err(fail(
                "holds no certificate (no `-----BEGIN CERTIFICATE-----` block)".into(),
            ));
        }
        Ok(pem)
    }
}

fn bad(path: &Path, what: String) -> StoreError {
    StoreError::Backend(format!("the Redis CA file {} {what}", path.display()).into())
}

/// Makes ring rustls's process-wide crypto provider unless one is
/// installed: the redis client builds its TLS settings with the default
/// provider, which rustls cannot pick by itself when the application's
/// dependencies enable more than one (ring and aws-lc-rs).
// rustls 0.23.48 deprecates ring's provider for its lack of post-quantum key
// exchange; ring is kept as it builds without aws-lc's C library and cmake.
// An application that installs aws-lc-rs before making the store gets it.
#[allow(deprecated)]
pub(super) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err: another thread installed one first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Whether `e` is a TLS handshake that failed on the server's certificate
/// (an unknown CA, another name, expired): a configuration fault that
/// waiting does not mend, unlike a server that is down.
pub(super) fn certificate_refused(e: &redis::RedisError) -> bool {
    use std::error::Error;
    use std::sync::Arc;
    // The redis client keeps the handshake's io::Error in an Arc; rustls's
    // error is inside the io::Error.
    let Some(source) = e.source() else {
        return false;
    };
    let io = source
        .downcast_ref::<Arc<dyn Error + Send + Sync>>()
        .and_then(|inner| (**inner).downcast_ref::<std::io::Error>())
        .or_else(|| source.downcast_ref::<std::io::Error>());
    let tls = io
        .and_then(std::io::Error::get_ref)
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    matches!(
        tls,
        Some(
            rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::UnsupportedNameType
        )
    )
}
