//! The keys tokens may be signed with: HMAC secrets, PEM public keys named by
//! `kid`, and JWKS documents. Built once per source (at start, on reload, per
//! JWKS refresh) and merged per issuer by [`KeyStore`](super::KeyStore).

use std::path::Path;

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use zeroize::Zeroizing;

use crate::config::{IssuerConfig, JwtAlgorithm};

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

/// One verification key with what it may verify.
#[derive(Clone)]
pub(crate) struct TokenKey {
    /// The `kid` tokens select it by (`None` for HMAC secrets from files).
    pub kid: Option<String>,
    /// The key itself.
    pub key: DecodingKey,
    /// The one algorithm this key may verify, when its source says
    /// (JWK `alg`, `algorithm` of a PEM key); else any of its family.
    pub alg: Option<Algorithm>,
}

impl TokenKey {
    /// Whether this key may check a token signed with `alg` (RFC 8725 §3.1:
    /// a key is used with one algorithm; families never mix, so an RSA
    /// public key can never serve as an HMAC secret).
    pub fn verifies(&self, alg: Algorithm) -> bool {
        self.key.family() == alg.family() && self.alg.is_none_or(|a| a == alg)
    }
}

/// Verification keys for tokens, in a fixed order: HMAC secrets in the
/// order configured, then keys with a `kid` sorted by `kid` (so a kid-less
/// token meets its candidates in the same order in every process).
#[derive(Clone, Default)]
pub struct KeySet {
    pub(crate) keys: Vec<TokenKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        f.debug_struct("KeySet")
            .field("hmac_secrets", &self.hmac_count())
            .field("kids", &kids)
            .finish()
    }
}

/// Shortest HMAC secret for an algorithm: the size of its hash (RFC 7518 §3.2).
pub fn min_hmac_secret_bytes(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::HS256 => Some(32),
        Algorithm::HS384 => Some(48),
        Algorithm::HS512 => Some(64),
        _ => None,
    }
}

impl KeySet {
    /// Loads the file-based sources of one issuer (HMAC secrets, PEM keys,
    /// JWKS file). Every problem is reported, none with key bytes.
    pub fn from_files(auth: &IssuerConfig) -> Result<Self, Vec<KeySetError>> {
        let mut set = KeySet::default();
        let mut errors = Vec::new();
        let (need, need_alg) = hmac_requirement(auth);
        for path in &auth.hmac_secret_files {
            match read_secret(path) {
                Ok(secret) if secret.len() < need => errors.push(KeySetError::Parse {
                    what: path.display().to_string(),
                    why: format!(
                        "the HMAC secret is {} bytes; {need_alg} needs at least {need} (RFC 7518 §3.2). \
                         Make one with: openssl rand -out FILE {need}",
                        secret.len()
                    ),
                }),
                Ok(secret) => set.keys.push(TokenKey {
                    kid: None,
                    key: DecodingKey::from_secret(&secret),
                    alg: None,
                }),
                Err(e) => errors.push(e),
            }
        }
        let mut named = Vec::new();
        for pk in &auth.public_keys {
            let alg = match pk.algorithm.as_deref().map(str::parse::<JwtAlgorithm>).transpose() {
                Ok(alg) => alg.map(|a| a.0),
                Err(why) => {
                    errors.push(KeySetError::Parse {
                        what: format!("public_keys[{}]", pk.kid),
                        why,
                    });
                    continue;
                }
            };
            match read_secret(&pk.path).and_then(|pem| pem_key(&pk.path, &pem, alg)) {
                Ok(key) => named.push(TokenKey {
                    kid: Some(pk.kid.clone()),
                    key,
                    alg,
                }),
                Err(e) => errors.push(e),
            }
        }
        set.add_named(named);
        if let Some(path) = &auth.jwks_file {
            match read_secret(path).and_then(|text| KeySet::from_jwks(&text, &path.display().to_string())) {
                Ok(jwks) => set.merge(&jwks),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    /// A key set with one HMAC secret (dev mode, tests).
    pub fn hmac(secret: &[u8]) -> Self {
        Self {
            keys: vec![TokenKey {
                kid: None,
                key: DecodingKey::from_secret(secret),
                alg: None,
            }],
        }
    }

    /// Parses a JWKS document. Keys that cannot sign tokens are left out:
    /// no `kid` (never selectable unambiguously), `use` other than `sig`,
    /// `key_ops` without `verify`, an `alg` that is not a JWS signature
    /// algorithm, or a key type jsonwebtoken cannot use (RFC 7517 §4.2-4.4).
    /// Symmetric keys refuse the whole document: a published secret is no secret.
    pub fn from_jwks(text: &[u8], what: &str) -> Result<Self, KeySetError> {
        let parse = |why: String| KeySetError::Parse {
            what: what.to_owned(),
            why,
        };
        let jwks: JwkSet = serde_json::from_slice(text).map_err(|e| parse(format!("not a JWKS document: {e}")))?;
        let mut named = Vec::new();
        for jwk in &jwks.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            if !for_signatures(jwk) {
                continue;
            }
            let Some(alg) = jws_algorithm(jwk.common.key_algorithm) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
            if key.family() == AlgorithmFamily::Hmac {
                return Err(parse(format!(
                    "key {kid:?}: symmetric keys are not accepted from a JWKS"
                )));
            }
            if alg.is_some_and(|a| a.family() != key.family()) {
                continue;
            }
            named.push(TokenKey {
                kid: Some(kid),
                key,
                alg,
            });
        }
        let mut set = KeySet::default();
        set.add_named(named);
        Ok(set)
    }

    /// Adds `other`'s keys after this set's own.
    pub fn merge(&mut self, other: &KeySet) {
        let (hmac, named): (Vec<TokenKey>, Vec<TokenKey>) = other.keys.iter().cloned().partition(|k| k.kid.is_none());
        let at = self.hmac_count();
        self.keys.splice(at..at, hmac);
        self.add_named(named);
    }

    /// Whether no key at all is present.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys that have a `kid`.
    pub fn named_count(&self) -> usize {
        self.keys.len() - self.hmac_count()
    }

    /// Whether a key named `kid` is loaded.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    fn hmac_count(&self) -> usize {
        self.keys.iter().filter(|k| k.kid.is_none()).count()
    }

    /// Inserts keys with a `kid`, keeping them sorted by `kid` (stable: keys
    /// sharing a `kid` keep their source order, all are tried).
    fn add_named(&mut self, named: Vec<TokenKey>) {
        self.keys.extend(named);
        let at = self.hmac_count();
        self.keys[at..].sort_by(|a, b| a.kid.cmp(&b.kid));
    }
}

/// The length every HMAC secret needs: the largest hash among the allowed
/// HS algorithms (a secret serves all of them), 32 bytes when none is allowed.
fn hmac_requirement(auth: &IssuerConfig) -> (usize, String) {
    auth.algorithms
        .iter()
        .filter_map(|a| a.parse::<JwtAlgorithm>().ok())
        .filter_map(|a| Some((min_hmac_secret_bytes(a.0)?, a.0)))
        .max_by_key(|(n, _)| *n)
        .map_or((32, "HS256".to_owned()), |(n, a)| (n, format!("{a:?}")))
}

/// `use` and `key_ops`, when present, must allow verifying signatures.
fn for_signatures(jwk: &Jwk) -> bool {
    let use_ok = match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => true,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_)) => false,
    };
    let ops_ok = jwk
        .common
        .key_operations
        .as_ref()
        .is_none_or(|ops| ops.iter().any(|op| matches!(op, KeyOperations::Verify)));
    use_ok && ops_ok
}

/// The JWS algorithm a JWK's `alg` binds it to: `Some(None)` when it names
/// none, `None` when it names something that is not a signature algorithm.
fn jws_algorithm(alg: Option<KeyAlgorithm>) -> Option<Option<Algorithm>> {
    let Some(alg) = alg else { return Some(None) };
    let name = match alg {
        KeyAlgorithm::RSA1_5 | KeyAlgorithm::RSA_OAEP | KeyAlgorithm::RSA_OAEP_256 => return None,
        KeyAlgorithm::UNKNOWN_ALGORITHM => return None,
        other => format!("{other:?}"),
    };
    name.parse::<JwtAlgorithm>().ok().map(|a| Some(a.0))
}

/// Reads a key, secret or JWKS file (at most 1 MiB) into memory that is
/// wiped on drop.
fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeySetError> {
    crate::secret_file::read(path).map_err(|source| KeySetError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn pem_key(path: &Path, pem: &[u8], alg: Option<Algorithm>) -> Result<DecodingKey, KeySetError> {
    let parse = |why: &str| KeySetError::Parse {
        what: path.display().to_string(),
        why: why.to_owned(),
    };
    // Try each family; the PEM itself says which one it is.
    let key = DecodingKey::from_rsa_pem(pem)
        .or_else(|_| DecodingKey::from_ec_pem(pem))
        .or_else(|_| DecodingKey::from_ed_pem(pem))
        .map_err(|_| parse("not an RSA, EC or Ed25519 public key in PEM"))?;
    match alg {
        Some(a) if a.family() != key.family() => Err(parse(&format!("algorithm {a:?} does not fit this key's type"))),
        _ => Ok(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec_jwk(kid: &str, extra: serde_json::Value) -> serde_json::Value {
        // The P-256 public key of RFC 7515 appendix A.3.
        let mut jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        });
        for (k, v) in extra.as_object().unwrap() {
            jwk[k] = v.clone();
        }
        jwk
    }

    fn kids(doc: serde_json::Value) -> Vec<String> {
        let set = KeySet::from_jwks(doc.to_string().as_bytes(), "test").unwrap();
        set.keys.iter().filter_map(|k| k.kid.clone()).collect()
    }

    #[test]
    fn jwks_keys_not_for_signatures_are_left_out() {
        let doc = json!({ "keys": [
            ec_jwk("enc", json!({ "use": "enc" })),
            ec_jwk("other-use", json!({ "use": "x-custom" })),
            ec_jwk("ops-encrypt", json!({ "key_ops": ["encrypt"] })),
            ec_jwk("oaep", json!({ "alg": "RSA-OAEP" })),
            ec_jwk("unknown-alg", json!({ "alg": "XS999" })),
            ec_jwk("wrong-family", json!({ "alg": "RS256" })),
            ec_jwk("sig", json!({ "use": "sig", "alg": "ES256", "key_ops": ["verify"] })),
            ec_jwk("plain", json!({})),
        ]});
        assert_eq!(kids(doc), ["plain", "sig"]);
    }

    #[test]
    fn jwk_alg_binds_the_key_to_one_algorithm() {
        let doc = json!({ "keys": [ec_jwk("a", json!({ "alg": "ES256" })), ec_jwk("b", json!({}))] });
        let set = KeySet::from_jwks(doc.to_string().as_bytes(), "test").unwrap();
        assert!(set.keys[0].verifies(Algorithm::ES256));
        assert!(!set.keys[0].verifies(Algorithm::ES384));
        assert!(set.keys[1].verifies(Algorithm::ES384), "no alg: the family decides");
        assert!(!set.keys[1].verifies(Algorithm::HS256));
    }

    #[test]
    fn named_keys_are_in_kid_order_whatever_the_source_order() {
        let doc = json!({ "keys": [ec_jwk("z", json!({})), ec_jwk("a", json!({})), ec_jwk("m", json!({}))] });
        assert_eq!(kids(doc), ["a", "m", "z"]);
    }

    #[test]
    fn hmac_minimum_is_the_hash_size() {
        assert_eq!(min_hmac_secret_bytes(Algorithm::HS256), Some(32));
        assert_eq!(min_hmac_secret_bytes(Algorithm::HS384), Some(48));
        assert_eq!(min_hmac_secret_bytes(Algorithm::HS512), Some(64));
        assert_eq!(min_hmac_secret_bytes(Algorithm::RS256), None);
    }
}
