//! Token verification: header → algorithm allowlist → key selection by
//! family and `kid` → signature and claims.

use std::collections::HashSet;
use std::sync::Arc;

use arc_swap::ArcSwap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation, decode, decode_header};
use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::caller::{Caller, Claims};
use super::keyset::KeySet;
use crate::config::AuthConfig;

/// Longest token accepted; bigger ones are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused. Every variant is a 401; none reveals key data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Token over [`MAX_TOKEN_BYTES`].
    #[error("token too large")]
    TooLarge,
    /// Not a well-formed JWT.
    #[error("malformed token")]
    Malformed,
    /// `alg` not in the allowlist (including `none`).
    #[error("token algorithm not allowed")]
    AlgorithmNotAllowed,
    /// No key matches the token's `kid`/algorithm.
    #[error("no key for this token")]
    UnknownKey,
    /// The signature does not verify.
    #[error("invalid token signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` not accepted.
    #[error("token issuer not accepted")]
    WrongIssuer,
    /// `aud` not accepted.
    #[error("token audience not accepted")]
    WrongAudience,
    /// A required claim is missing or has the wrong type.
    #[error("token claims invalid")]
    BadClaims,
}

impl AuthError {
    /// Short label for metrics and audit events.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::TooLarge => "too_large",
            AuthError::Malformed => "malformed",
            AuthError::AlgorithmNotAllowed => "algorithm_not_allowed",
            AuthError::UnknownKey => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::BadClaims => "bad_claims",
        }
    }
}

/// Verifies bearer tokens. Cheap to share; keys can be swapped at run time
/// (JWKS refresh) without locking readers.
pub struct Authenticator {
    allowed: HashSet<Algorithm>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    group_claim: String,
    keys: Arc<ArcSwap<KeySet>>,
    verified: Option<Cache<[u8; 32], Arc<Verified>>>,
}

/// A token verified before: its caller, until `exp`, under one key set.
struct Verified {
    caller: Caller,
    /// The key set that verified it; a key change invalidates. Holding the
    /// `Arc` (not its address) rules out a new set reusing the old address.
    keys: Arc<KeySet>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("allowed", &self.allowed)
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds the verifier from validated configuration and a key set.
    pub fn new(auth: &AuthConfig, keys: KeySet) -> Self {
        super::use_openssl_for_tokens();
        let allowed = auth
            .algorithms
            .iter()
            .filter_map(|a| super::parse_algorithm(a).ok())
            .collect();
        Self {
            allowed,
            issuers: auth.issuers.clone(),
            audiences: auth.audiences.clone(),
            leeway: auth.leeway_seconds,
            group_claim: auth.group_claim.clone(),
            keys: Arc::new(ArcSwap::from_pointee(keys)),
            verified: None,
        }
    }

    /// Keeps up to `entries` verified tokens (by SHA-256 of the token) until
    /// their `exp`, so a caller reusing its token skips signature checks.
    /// Entries die with a key change (rotation, JWKS refresh). 0 disables.
    pub fn with_token_cache(mut self, entries: usize) -> Self {
        self.verified = (entries > 0).then(|| Cache::new(entries));
        self
    }

    /// The swappable key set (for the JWKS refresher).
    pub fn keys(&self) -> Arc<ArcSwap<KeySet>> {
        Arc::clone(&self.keys)
    }

    /// Whether any verification key is loaded (readiness).
    pub fn has_keys(&self) -> bool {
        !self.keys.load().is_empty()
    }

    /// The `kid` of a token if it names one that is not loaded (so the JWKS
    /// refresher can be asked to look again).
    pub fn unknown_kid(&self, token: &str) -> Option<String> {
        let kid = decode_header(token).ok()?.kid?;
        (!self.keys.load().by_kid.contains_key(&kid)).then_some(kid)
    }

    /// Verifies `token` at `now` (epoch seconds) and returns the caller.
    pub fn authenticate(&self, token: &str, now: i64) -> Result<Caller, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge);
        }
        let keys = self.keys.load_full();
        let digest: Option<[u8; 32]> = self.verified.as_ref().map(|_| Sha256::digest(token.as_bytes()).into());
        if let (Some(cache), Some(digest)) = (&self.verified, &digest)
            && let Some(hit) = cache.get(digest)
            && Arc::ptr_eq(&hit.keys, &keys)
            && hit.caller.expires_at > now
        {
            metrics::counter!("cfsign_token_cache_total", "result" => "hit").increment(1);
            return Ok(hit.caller.clone());
        }
        let caller = self.verify(token, now, &keys)?;
        if let (Some(cache), Some(digest)) = (&self.verified, digest) {
            metrics::counter!("cfsign_token_cache_total", "result" => "miss").increment(1);
            cache.insert(
                digest,
                Arc::new(Verified {
                    caller: caller.clone(),
                    keys,
                }),
            );
        }
        Ok(caller)
    }

    fn verify(&self, token: &str, now: i64, keys: &KeySet) -> Result<Caller, AuthError> {
        let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !self.allowed.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        let candidates = candidates(keys, header.alg, header.kid.as_deref());
        if candidates.is_empty() {
            return Err(AuthError::UnknownKey);
        }
        let validation = self.validation(header.alg);
        let mut last = AuthError::UnknownKey;
        for key in candidates {
            match decode::<Claims>(token, key, &validation) {
                Ok(data) => return self.finish(data.claims, now),
                Err(e) if *e.kind() == ErrorKind::InvalidSignature => last = AuthError::BadSignature,
                Err(e) => return Err(map_error(e.kind())),
            }
        }
        Err(last)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.algorithms = vec![alg];
        v.leeway = self.leeway;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_issuer(&self.issuers);
        v.set_audience(&self.audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v
    }

    /// Checks jsonwebtoken leaves to us: `iat` must not be in the future.
    fn finish(&self, claims: Claims, now: i64) -> Result<Caller, AuthError> {
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
        if claims.iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(AuthError::NotYetValid);
        }
        Ok(claims.into_caller(&self.group_claim))
    }
}

/// Keys that may have signed a token with `alg` (and `kid`): only keys of
/// the algorithm's own family, so an HS256 token can never be checked with
/// an RSA public key used as an HMAC secret (algorithm confusion).
fn candidates<'k>(keys: &'k KeySet, alg: Algorithm, kid: Option<&str>) -> Vec<&'k DecodingKey> {
    let family = alg.family();
    if family == AlgorithmFamily::Hmac {
        return keys.hmac.iter().collect();
    }
    match kid {
        Some(kid) => keys
            .by_kid
            .get(kid)
            .filter(|k| k.family() == family)
            .into_iter()
            .collect(),
        None => keys.by_kid.values().filter(|k| k.family() == family).collect(),
    }
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => AuthError::AlgorithmNotAllowed,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => AuthError::BadClaims,
        _ => AuthError::Malformed,
    }
}
