//! The keys tokens may be signed with: HMAC secrets, PEM public keys named by
//! `kid`, and JWKS documents. Built once (or per JWKS refresh) and swapped.

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{AlgorithmFamily, DecodingKey};
use zeroize::Zeroizing;

use crate::config::AuthConfig;

/// Why a key source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// A key file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A key or JWKS could not be parsed.
    #[error("{what}: {why}")]
    Parse {
        /// Which source.
        what: String,
        /// The reason (never key bytes).
        why: String,
    },
}

/// Verification keys for tokens.
#[derive(Clone, Default)]
pub struct KeySet {
    pub(crate) hmac: Vec<DecodingKey>,
    pub(crate) by_kid: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("hmac_secrets", &self.hmac.len())
            .field("kids", &self.by_kid.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeySet {
    /// Loads the file-based sources of `auth` (HMAC secrets, PEM keys, JWKS file).
    pub fn from_files(auth: &AuthConfig) -> Result<Self, Vec<KeySetError>> {
        let mut set = KeySet::default();
        let mut errors = Vec::new();
        for path in &auth.hmac_secret_files {
            match read_secret(path) {
                Ok(secret) => set.hmac.push(DecodingKey::from_secret(&secret)),
                Err(e) => errors.push(e),
            }
        }
        for pk in &auth.public_keys {
            match read_secret(&pk.path).and_then(|pem| pem_key(&pk.path, &pem)) {
                Ok(key) => {
                    set.by_kid.insert(pk.kid.clone(), key);
                }
                Err(e) => errors.push(e),
            }
        }
        if let Some(path) = &auth.jwks_file {
            match read_secret(path).and_then(|text| KeySet::from_jwks(&text, &path.display().to_string())) {
                Ok(jwks) => set.merge(jwks),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    /// A key set with one HMAC secret (dev mode, tests).
    pub fn hmac(secret: &[u8]) -> Self {
        Self {
            hmac: vec![DecodingKey::from_secret(secret)],
            by_kid: HashMap::new(),
        }
    }

    /// Parses a JWKS document; keys without `kid` are skipped (they could
    /// never be selected unambiguously).
    pub fn from_jwks(text: &[u8], what: &str) -> Result<Self, KeySetError> {
        let parse = |why: String| KeySetError::Parse {
            what: what.to_owned(),
            why,
        };
        let jwks: JwkSet = serde_json::from_slice(text).map_err(|e| parse(format!("not a JWKS document: {e}")))?;
        let mut by_kid = HashMap::new();
        for jwk in &jwks.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| parse(format!("key {kid:?}: {e}")))?;
            if key.family() == AlgorithmFamily::Hmac {
                return Err(parse(format!(
                    "key {kid:?}: symmetric keys are not accepted from a JWKS"
                )));
            }
            by_kid.insert(kid, key);
        }
        Ok(Self {
            hmac: Vec::new(),
            by_kid,
        })
    }

    /// Adds `other`'s keys (its `kid`s win).
    pub fn merge(&mut self, other: KeySet) {
        self.hmac.extend(other.hmac);
        self.by_kid.extend(other.by_kid);
    }

    /// Whether no key at all is present.
    pub fn is_empty(&self) -> bool {
        self.hmac.is_empty() && self.by_kid.is_empty()
    }
}

fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeySetError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| KeySetError::Io {
            path: path.display().to_string(),
            source,
        })
}

fn pem_key(path: &Path, pem: &[u8]) -> Result<DecodingKey, KeySetError> {
    let parse = |why: &str| KeySetError::Parse {
        what: path.display().to_string(),
        why: why.to_owned(),
    };
    // Try each family; the PEM itself says which one it is.
    DecodingKey::from_rsa_pem(pem)
        .or_else(|_| DecodingKey::from_ec_pem(pem))
        .or_else(|_| DecodingKey::from_ed_pem(pem))
        .map_err(|_| parse("not an RSA, EC or Ed25519 public key in PEM"))
}
