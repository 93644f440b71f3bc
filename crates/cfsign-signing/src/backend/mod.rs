//! Cryptographic backends behind one small interface. OpenSSL is the default
//! (constant-time, ~1x `openssl speed`); RustCrypto (`rsa` 0.10, `p256`) is a
//! pure-Rust alternative behind the `rustcrypto-backend` feature.

#[cfg(feature = "openssl-backend")]
mod openssl;
#[cfg(feature = "rustcrypto-backend")]
mod rustcrypto;

#[cfg(not(any(feature = "openssl-backend", feature = "rustcrypto-backend")))]
compile_error!("enable at least one of the features `openssl-backend` or `rustcrypto-backend`");

use zeroize::Zeroizing;

use super::hash::HashAlgorithm;
use super::keys::{KeyAlgorithm, KeyError, KeySpec};

/// Which implementation does the cryptography.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The `openssl` crate (vendored OpenSSL 3).
    #[cfg(feature = "openssl-backend")]
    OpenSsl,
    /// RustCrypto: `rsa` 0.10, `p256`, `sha1`, `sha2`.
    #[cfg(feature = "rustcrypto-backend")]
    RustCrypto,
}

impl Backend {
    /// Every backend compiled into this build (tests run the vectors on each).
    pub const ALL: &'static [Backend] = &[
        #[cfg(feature = "openssl-backend")]
        Backend::OpenSsl,
        #[cfg(feature = "rustcrypto-backend")]
        Backend::RustCrypto,
    ];

    /// A short name for logs and benchmarks.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "openssl-backend")]
            Backend::OpenSsl => "openssl",
            #[cfg(feature = "rustcrypto-backend")]
            Backend::RustCrypto => "rustcrypto",
        }
    }
}

impl Default for Backend {
    /// OpenSSL when compiled in, else RustCrypto.
    fn default() -> Self {
        Backend::ALL[0]
    }
}

/// A loaded private key inside one backend.
pub(crate) trait PrivateKeyOps: Send + Sync {
    fn algorithm(&self) -> KeyAlgorithm;
    fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, KeyError>;
    fn public_key(&self) -> Result<Box<dyn PublicKeyOps>, KeyError>;
    fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError>;
    /// `BEGIN RSA PRIVATE KEY` (PKCS#1); RSA keys only.
    fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>, KeyError>;
}

/// A loaded public key inside one backend.
pub(crate) trait PublicKeyOps: Send + Sync {
    fn algorithm(&self) -> KeyAlgorithm;
    fn verify(&self, message: &[u8], signature: &[u8], hash: HashAlgorithm) -> bool;
    fn to_spki_pem(&self) -> Result<String, KeyError>;
}

pub(crate) fn load_private(
    backend: Backend,
    pem: &[u8],
    passphrase: Option<&[u8]>,
) -> Result<Box<dyn PrivateKeyOps>, KeyError> {
    match backend {
        #[cfg(feature = "openssl-backend")]
        Backend::OpenSsl => openssl::load_private(pem, passphrase),
        #[cfg(feature = "rustcrypto-backend")]
        Backend::RustCrypto => rustcrypto::load_private(pem, passphrase),
    }
}

pub(crate) fn load_public(backend: Backend, pem: &[u8]) -> Result<Box<dyn PublicKeyOps>, KeyError> {
    match backend {
        #[cfg(feature = "openssl-backend")]
        Backend::OpenSsl => openssl::load_public(pem),
        #[cfg(feature = "rustcrypto-backend")]
        Backend::RustCrypto => rustcrypto::load_public(pem),
    }
}

pub(crate) fn generate(backend: Backend, spec: KeySpec) -> Result<Box<dyn PrivateKeyOps>, KeyError> {
    match backend {
        #[cfg(feature = "openssl-backend")]
        Backend::OpenSsl => openssl::generate(spec),
        #[cfg(feature = "rustcrypto-backend")]
        Backend::RustCrypto => rustcrypto::generate(spec),
    }
}
