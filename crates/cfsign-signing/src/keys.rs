//! Signing and verification keys: RSA (PKCS#1 v1.5) and ECDSA P-256, loaded
//! from PEM once, never printed. The cryptography itself lives in a
//! [`Backend`]; this module holds the policy on what CloudFront accepts.

use std::fmt;

use zeroize::Zeroizing;

use super::backend::{self, PrivateKeyOps, PublicKeyOps};
use super::hash::HashAlgorithm;
use super::pem;

pub use super::backend::Backend;

/// The kind of key, as CloudFront's key groups know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with its modulus size in bits; signatures are PKCS#1 v1.5.
    Rsa {
        /// Modulus size.
        bits: u32,
    },
    /// ECDSA on NIST P-256; signatures are DER-encoded (r, s).
    EcdsaP256,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA-P256"),
        }
    }
}

/// What to generate with [`PrivateKey::generate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeySpec {
    /// RSA-2048: accepted by every CloudFront feature.
    #[default]
    Rsa2048,
    /// ECDSA P-256: shorter signatures (96 characters), accepted since 2025.
    EcdsaP256,
}

/// Why a key could not be loaded, generated or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not PEM at all.
    #[error("not a PEM key (expected a -----BEGIN ... KEY----- block)")]
    NotPem,
    /// A PEM of the wrong kind (a certificate, a public key where a private one is needed, ...).
    #[error("expected a {expected} key, found a PEM block labelled {found:?}")]
    WrongPem {
        /// What was needed.
        expected: &'static str,
        /// The PEM label found.
        found: String,
    },
    /// An encrypted PKCS#8 key was given without a passphrase.
    #[error("the private key is encrypted: a passphrase is required")]
    PassphraseRequired,
    /// The key (or its passphrase) could not be parsed or decrypted.
    #[error("could not read the key: {0}")]
    Invalid(String),
    /// A key type or curve CloudFront does not accept.
    #[error("unsupported key: {0} (CloudFront accepts RSA 2048 or ECDSA P-256)")]
    Unsupported(String),
    /// The backend failed to sign.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The backend returned no signature bytes (seen in SDKs on hosts that forbid SHA-1).
    #[error("signing produced an empty signature (is SHA-1 disabled by the system crypto policy?)")]
    EmptySignature,
}

/// A private signing key. Its `Debug` shows only the algorithm; its secret is
/// freed with zeroisation by the backend (OpenSSL clears key memory on free;
/// RustCrypto keys are `ZeroizeOnDrop`).
pub struct PrivateKey {
    inner: Box<dyn PrivateKeyOps>,
    warning: Option<String>,
}

impl PrivateKey {
    /// Loads a PEM private key with the default backend: PKCS#1
    /// (`RSA PRIVATE KEY`), PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), or
    /// encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`) with `passphrase`.
    pub fn from_pem(pem: &[u8], passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        Self::from_pem_with(Backend::default(), pem, passphrase)
    }

    /// As [`PrivateKey::from_pem`], with an explicit backend.
    pub fn from_pem_with(backend: Backend, pem: &[u8], passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        let label = pem::key_label(pem).ok_or(KeyError::NotPem)?;
        match label {
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" if passphrase.is_none() => return Err(KeyError::PassphraseRequired),
            "ENCRYPTED PRIVATE KEY" => {}
            _ => {
                return Err(KeyError::WrongPem {
                    expected: "private",
                    found: label.to_owned(),
                });
            }
        }
        let inner = backend::load_private(backend, pem, passphrase)?;
        let warning = check_algorithm(inner.algorithm())?;
        Ok(Self { inner, warning })
    }

    /// Generates a new key pair with the default backend.
    pub fn generate(spec: KeySpec) -> Result<Self, KeyError> {
        Self::generate_with(Backend::default(), spec)
    }

    /// Generates a new key pair with an explicit backend.
    pub fn generate_with(backend: Backend, spec: KeySpec) -> Result<Self, KeyError> {
        Ok(Self {
            inner: backend::generate(backend, spec)?,
            warning: None,
        })
    }

    /// The key's algorithm and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm()
    }

    /// A caution about the key (e.g. RSA-1024), for the caller to log once.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Signs `message` (the policy bytes) with `hash`: PKCS#1 v1.5 for RSA,
    /// DER (r, s) for ECDSA. Never returns an empty signature.
    pub fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, KeyError> {
        let signature = self.inner.sign(message, hash)?;
        if signature.is_empty() {
            return Err(KeyError::EmptySignature);
        }
        Ok(signature)
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        Ok(PublicKey {
            inner: self.inner.public_key()?,
        })
    }

    /// The private key as unencrypted PKCS#8 PEM (for `keygen` only).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.inner.to_pkcs8_pem()
    }

    /// The private key as unencrypted PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`,
    /// what `aws cloudfront sign` reads); RSA keys only.
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.inner.to_pkcs1_pem()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// A public key, for verification and for registering in a key group.
pub struct PublicKey {
    inner: Box<dyn PublicKeyOps>,
}

impl PublicKey {
    /// Loads an SPKI PEM (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) public key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        Self::from_pem_with(Backend::default(), pem)
    }

    /// As [`PublicKey::from_pem`], with an explicit backend.
    pub fn from_pem_with(backend: Backend, pem: &[u8]) -> Result<Self, KeyError> {
        let label = pem::key_label(pem).ok_or(KeyError::NotPem)?;
        if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
            return Err(KeyError::WrongPem {
                expected: "public",
                found: label.to_owned(),
            });
        }
        let inner = backend::load_public(backend, pem)?;
        check_algorithm(inner.algorithm())?;
        Ok(Self { inner })
    }

    /// The key's algorithm and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm()
    }

    /// Whether `signature` is valid for `message` under `hash`.
    pub fn verify(&self, message: &[u8], signature: &[u8], hash: HashAlgorithm) -> bool {
        self.inner.verify(message, signature, hash)
    }

    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`), as CloudFront's `EncodedKey` wants.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.inner.to_spki_pem()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// CloudFront's rule on key sizes: RSA 2048 is the documented size; 1024 to
/// 4096 still load (older key pairs) with a warning; anything else is refused.
fn check_algorithm(algorithm: KeyAlgorithm) -> Result<Option<String>, KeyError> {
    match algorithm {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Rsa { bits: 2048 } => Ok(None),
        KeyAlgorithm::Rsa { bits } if (1024..=4096).contains(&bits) => Ok(Some(format!(
            "RSA-{bits} key: CloudFront key groups document RSA-2048; use a 2048-bit key for new key pairs"
        ))),
        KeyAlgorithm::Rsa { bits } => Err(KeyError::Unsupported(format!("RSA-{bits}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_policy() {
        assert_eq!(check_algorithm(KeyAlgorithm::Rsa { bits: 2048 }), Ok(None));
        assert!(check_algorithm(KeyAlgorithm::Rsa { bits: 1024 }).unwrap().is_some());
        assert!(check_algorithm(KeyAlgorithm::Rsa { bits: 512 }).is_err());
        assert!(check_algorithm(KeyAlgorithm::Rsa { bits: 8192 }).is_err());
    }

    #[test]
    fn refuses_wrong_pem_kinds_before_parsing() {
        let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            PrivateKey::from_pem(cert, None),
            Err(KeyError::WrongPem { .. })
        ));
        let enc = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            PrivateKey::from_pem(enc, None).unwrap_err(),
            KeyError::PassphraseRequired
        );
        assert_eq!(PrivateKey::from_pem(b"nope", None).unwrap_err(), KeyError::NotPem);
    }
}
