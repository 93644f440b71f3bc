//! Where a signing key comes from: a PEM file in cfsign's memory, or a
//! vault that signs for it (a PKCS#11 token, an AWS KMS key). The
//! configuration names one source per key ([`KeySource`]); opening a source
//! gives a [`SigningKey`], the one type the pipeline signs with.

#[cfg(feature = "kms")]
pub mod kms;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod pkcs11_uri;
pub mod remote;

use std::path::PathBuf;
use std::sync::Arc;

pub use remote::{RemoteKey, RemoteKeyError, RemoteLimits, RemoteSigner, SignFuture};

use crate::signing::{KeyAlgorithm, PrivateKey, PublicKey};

/// A PKCS#11 key: an RFC 7512 URI naming the module, token and object, and
/// the file holding the user PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Source {
    /// `pkcs11:token=…;object=…?module-path=…` (no `pin-value`: the PIN is
    /// read from `pin_file`).
    pub uri: String,
    /// File holding the token's user PIN.
    pub pin_file: Option<PathBuf>,
}

/// An AWS KMS asymmetric signing key; credentials come from the standard
/// AWS chain (environment, web identity / IRSA, instance or task role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsSource {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// Region; else the key ARN's (the only region that can answer for
    /// it), else the chain's (`AWS_REGION`, profile, instance metadata).
    pub region: Option<String>,
    /// Another endpoint (a VPC endpoint, a local KMS for tests).
    pub endpoint_url: Option<String>,
}

/// One key's source, as the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A PEM file (PKCS#1, PKCS#8, SEC1, or encrypted PKCS#8 with a passphrase file).
    File {
        /// The PEM file.
        path: PathBuf,
        /// File holding the passphrase of an encrypted key.
        passphrase_file: Option<PathBuf>,
    },
    /// A key on a PKCS#11 token.
    Pkcs11(Pkcs11Source),
    /// An AWS KMS key.
    Kms(KmsSource),
}

impl KeySource {
    /// `"file"`, `"pkcs11"` or `"kms"`.
    pub fn kind(&self) -> &'static str {
        match self {
            KeySource::File { .. } => "file",
            KeySource::Pkcs11(_) => "pkcs11",
            KeySource::Kms(_) => "kms",
        }
    }

    /// Whether the key can sign with SHA-1: KMS signs SHA-256 digests only.
    pub fn signs_sha1(&self) -> bool {
        !matches!(self, KeySource::Kms(_))
    }

    /// Where the key is, without secrets: for messages.
    pub fn location(&self) -> String {
        match self {
            KeySource::File { path, .. } => path.display().to_string(),
            KeySource::Pkcs11(p) => pkcs11_uri::redact(&p.uri),
            KeySource::Kms(k) => format!("kms:{}", k.key_id),
        }
    }
}

/// A key ready to sign with: in memory, or behind a vault.
#[derive(Debug, Clone)]
pub enum SigningKey {
    /// Loaded from a file; signs on the signing pool.
    File(Arc<PrivateKey>),
    /// Signs by asking a vault, bounded and timed.
    Remote(RemoteSigner),
}

impl SigningKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            SigningKey::File(key) => key.algorithm(),
            SigningKey::Remote(remote) => remote.algorithm(),
        }
    }

    /// The file key, when this is one.
    pub fn file(&self) -> Option<&Arc<PrivateKey>> {
        match self {
            SigningKey::File(key) => Some(key),
            SigningKey::Remote(_) => None,
        }
    }
}

/// Opens a vault-held key: its session or client is created and its public
/// half read now, so an unreachable vault is a start-up (or reload) error,
/// never a surprise at the first request. Safe to call inside the async
/// runtime: an implementation that must wait on the network does so on a
/// thread of its own.
pub fn open_remote(source: &KeySource) -> Result<Arc<dyn RemoteKey>, String> {
    match source {
        KeySource::File { .. } => Err("a file key is not a remote key".into()),
        #[cfg(feature = "pkcs11")]
        KeySource::Pkcs11(p) => pkcs11::open(p),
        #[cfg(not(feature = "pkcs11"))]
        KeySource::Pkcs11(_) => Err("this cfsign was built without PKCS#11 support (cargo feature `pkcs11`)".into()),
        #[cfg(feature = "kms")]
        KeySource::Kms(k) => kms::open(k),
        #[cfg(not(feature = "kms"))]
        KeySource::Kms(_) => Err("this cfsign was built without AWS KMS support (cargo feature `kms`)".into()),
    }
}

/// Whether `expected` (an operator's `public_key_file`) is the vault key's
/// public half: compared as SPKI PEM, so any encoding of the same key matches.
pub fn same_public_key(expected: &PublicKey, actual: &PublicKey) -> bool {
    matches!((expected.to_pem(), actual.to_pem()), (Ok(a), Ok(b)) if a == b)
}
