//! The digest CloudFront applies before the signature: SHA-1 (the default,
//! implied when no `Hash-Algorithm` is sent) or SHA-256 (since April 2026).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Hash algorithm of a signed URL or cookie set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum HashAlgorithm {
    /// SHA-1: CloudFront's default; no `Hash-Algorithm` parameter is emitted.
    #[default]
    #[serde(rename = "SHA1")]
    Sha1,
    /// SHA-256: emitted with `Hash-Algorithm=SHA256`.
    #[serde(rename = "SHA256")]
    Sha256,
}

impl HashAlgorithm {
    /// The exact token CloudFront uses (`SHA1` or `SHA256`).
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "SHA1",
            HashAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Whether the signed output must carry `Hash-Algorithm` explicitly.
    /// Only SHA-256 does, as the AWS CLI and the JS SDK emit it.
    pub fn is_explicit(self) -> bool {
        self == HashAlgorithm::Sha256
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a hash algorithm name other than `SHA1` or `SHA256`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported hash algorithm {0:?}: CloudFront accepts SHA1 or SHA256")]
pub struct UnknownHashAlgorithm(pub String);

impl FromStr for HashAlgorithm {
    type Err = UnknownHashAlgorithm;

    /// Parses CloudFront's exact tokens (`SHA1`, `SHA256`); CloudFront itself
    /// is case-sensitive, so `sha256` is refused rather than silently fixed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "SHA1" => Ok(HashAlgorithm::Sha1),
            "SHA256" => Ok(HashAlgorithm::Sha256),
            other => Err(UnknownHashAlgorithm(other.to_owned())),
        }
    }
}
