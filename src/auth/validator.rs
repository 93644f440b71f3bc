//! Token verification: shape, duplicate names and `crit` ([`super::jose`])
//! → the one issuer its `iss` names → that issuer's algorithm allowlist →
//! candidate keys of that issuer by algorithm and `kid` → signature and
//! claims (`iss` again, now verified).

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::caller::{Caller, Claims};
use super::keyset::KeySet;
use super::store::{KeyStore, Rules, Trust};
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
    /// An `Authorization` header that is not `Bearer <token>`.
    #[error("the Authorization header must be \"Bearer <token>\" (the scheme, one space, the JWT)")]
    NotBearer,
    /// Not a well-formed JWT.
    #[error("malformed token: expected a JWT (three base64url parts separated by dots)")]
    Malformed,
    /// More than one `Authorization` header: which one names the caller
    /// would depend on who reads them (a proxy may append its own).
    #[error("more than one Authorization header")]
    AmbiguousCredentials,
    /// A member name appears twice in the header or the claims.
    #[error("token has a duplicate member name")]
    DuplicateMember,
    /// The header has `crit`: extensions this verifier does not understand.
    #[error("token uses critical header extensions")]
    CriticalExtension,
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
    /// `iss` names no configured issuer, so no key may verify the token.
    /// Said before any signature check, so its public text is the probing one.
    #[error("token issuer unknown")]
    UnknownIssuer,
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
            AuthError::NotBearer => "not_bearer",
            AuthError::Malformed => "malformed",
            AuthError::AmbiguousCredentials => "ambiguous_credentials",
            AuthError::DuplicateMember => "duplicate_member",
            AuthError::CriticalExtension => "critical_extension",
            AuthError::AlgorithmNotAllowed => "algorithm_not_allowed",
            AuthError::UnknownKey => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::UnknownIssuer => "unknown_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::BadClaims => "bad_claims",
        }
    }

    /// What an unauthenticated caller is told. Whether an issuer is trusted, a `kid` exists, an
    /// algorithm is allowed or a signature failed is a probing aid, so
    /// those share one text (RFC 6750 §3 leaves the description to us);
    /// the precise [`reason`](Self::reason) goes to logs, metrics and audit.
    pub fn public_description(&self) -> String {
        match self {
            AuthError::AlgorithmNotAllowed
            | AuthError::UnknownIssuer
            | AuthError::UnknownKey
            | AuthError::BadSignature
            | AuthError::DuplicateMember
            | AuthError::CriticalExtension => "the token could not be verified".to_owned(),
            other => other.to_string(),
        }
    }
}

/// Verifies bearer tokens. Cheap to share; rules and keys can be swapped at
/// run time (reload, JWKS refresh) without locking readers.
pub struct Authenticator {
    store: Arc<KeyStore>,
    verified: Option<Cache<[u8; 32], Arc<Verified>>>,
}

/// A token verified before: its caller, until `exp`, under one trust.
struct Verified {
    caller: Caller,
    /// The rules and keys that verified it; any change invalidates.
    /// Holding the `Arc` (not its address) rules out a new value reusing
    /// the old address.
    trust: Arc<Trust>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let trust = self.store.current();
        let issuers: Vec<&str> = trust.issuers.iter().map(|i| i.rules.issuer.as_str()).collect();
        f.debug_struct("Authenticator")
            .field("issuers", &issuers)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Builds the verifier from validated configuration and the file-based
    /// keys of each issuer (in the order of [`AuthConfig::trusted`]).
    pub fn new(auth: &AuthConfig, keys: Vec<KeySet>) -> Self {
        super::use_openssl_for_tokens();
        Self {
            store: Arc::new(KeyStore::new(pair(auth, keys))),
            verified: None,
        }
    }

    /// Keeps up to `entries` verified tokens (by SHA-256 of the token) until
    /// their `exp`, so a caller reusing its token skips signature checks.
    /// Entries die with any change of rules or keys (reload, rotation,
    /// JWKS refresh). 0 disables.
    pub fn with_token_cache(mut self, entries: usize) -> Self {
        self.verified = (entries > 0).then(|| Cache::new(entries));
        self
    }

    /// Where the rules and keys live (the JWKS refresher writes its keys there).
    pub fn store(&self) -> Arc<KeyStore> {
        Arc::clone(&self.store)
    }

    /// Replaces every issuer's token rules and file-based keys at once
    /// (reload). Keys fetched from a JWKS URL stay until the next fetch
    /// replaces them; an issuer no longer configured goes with its keys.
    pub fn reload(&self, auth: &AuthConfig, keys: Vec<KeySet>) {
        self.store.set_local(pair(auth, keys));
    }

    /// Per issuer, allowed algorithms none of its loaded keys can verify (a
    /// configuration mistake: its tokens signed with them are always refused).
    pub fn algorithms_without_keys(&self) -> Vec<(String, Vec<Algorithm>)> {
        let trust = self.store.current();
        trust
            .issuers
            .iter()
            .filter_map(|i| {
                let mut missing: Vec<Algorithm> = i
                    .rules
                    .allowed
                    .iter()
                    .copied()
                    .filter(|alg| !i.keys.keys.iter().any(|k| k.verifies(*alg)))
                    .collect();
                missing.sort_by_key(|a| format!("{a:?}"));
                (!missing.is_empty()).then(|| (i.rules.issuer.clone(), missing))
            })
            .collect()
    }

    /// Each issuer and how many verification keys it has now (readiness).
    pub fn key_counts(&self) -> Vec<(String, usize)> {
        let trust = self.store.current();
        trust
            .issuers
            .iter()
            .map(|i| (i.rules.issuer.clone(), i.keys.keys.len()))
            .collect()
    }

    /// The issuer of a token whose `kid` none of that issuer's keys has (so
    /// its JWKS refresher can be asked to look again).
    pub fn unknown_kid(&self, token: &str) -> Option<String> {
        let kid = decode_header(token).ok()?.kid?;
        let iss = super::jose::check_compact(token).ok()??;
        let trust = self.store.current();
        let issuer = trust.issuer(&iss)?;
        (!issuer.keys.has_kid(&kid)).then_some(iss)
    }

    /// Verifies `token` at `now` (epoch seconds) and returns the caller.
    pub fn authenticate(&self, token: &str, now: i64) -> Result<Caller, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge);
        }
        let trust = self.store.current();
        let digest: Option<[u8; 32]> = self.verified.as_ref().map(|_| Sha256::digest(token.as_bytes()).into());
        if let (Some(cache), Some(digest)) = (&self.verified, &digest)
            && let Some(hit) = cache.get(digest)
            && Arc::ptr_eq(&hit.trust, &trust)
            && hit.caller.expires_at > now
        {
            crate::metrics::cache_lookup("cfsign_token_cache_total", true);
            return Ok(hit.caller.clone());
        }
        let caller = verify(token, now, &trust)?;
        if let (Some(cache), Some(digest)) = (&self.verified, digest) {
            crate::metrics::cache_lookup("cfsign_token_cache_total", false);
            cache.insert(
                digest,
                Arc::new(Verified {
                    caller: caller.clone(),
                    trust,
                }),
            );
        }
        Ok(caller)
    }
}

/// Each issuer's rules with its file-based keys (missing keys: none).
fn pair(auth: &AuthConfig, keys: Vec<KeySet>) -> Vec<(Rules, KeySet)> {
    let mut keys = keys.into_iter();
    Rules::from_config(auth)
        .into_iter()
        .map(|rules| (rules, keys.next().unwrap_or_default()))
        .collect()
}

fn verify(token: &str, now: i64, trust: &Trust) -> Result<Caller, AuthError> {
    let iss = super::jose::check_compact(token)?.ok_or(AuthError::BadClaims)?;
    // The unverified `iss` only chooses whose keys may verify the token;
    // the validation below requires that same `iss` once the signature holds.
    let issuer = trust.issuer(&iss).ok_or(AuthError::UnknownIssuer)?;
    let rules = &issuer.rules;
    let header = decode_header(token).map_err(|_| AuthError::Malformed)?;
    if !rules.allowed.contains(&header.alg) {
        return Err(AuthError::AlgorithmNotAllowed);
    }
    let validation = validation(rules, header.alg);
    let mut last = AuthError::UnknownKey;
    for key in candidates(&issuer.keys, header.alg, header.kid.as_deref()) {
        match decode::<Claims>(token, key, &validation) {
            Ok(data) => return finish(rules, data.claims, now),
            Err(e) if *e.kind() == ErrorKind::InvalidSignature => last = AuthError::BadSignature,
            // The signature held; the claims did not.
            Err(e) if after_signature(e.kind()) => return Err(map_error(e.kind())),
            // This key cannot check this token (another curve, a key
            // format the algorithm cannot use): try the next one.
            Err(_) => {}
        }
    }
    Err(last)
}

fn validation(rules: &Rules, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.leeway = rules.leeway;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[&rules.issuer]);
    v.set_audience(&rules.audiences);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v
}

/// Checks jsonwebtoken leaves to us: `iat` must not be in the future.
fn finish(rules: &Rules, claims: Claims, now: i64) -> Result<Caller, AuthError> {
    let leeway = i64::try_from(rules.leeway).unwrap_or(i64::MAX);
    if claims.iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(AuthError::NotYetValid);
    }
    claims.into_caller(&rules.claims)
}

/// Keys that may have signed a token with `alg` (and `kid`), in the key
/// set's fixed order: only keys that may verify `alg` (its family, and its
/// `alg` when the key names one), so an HS256 token can never be checked
/// with an RSA public key used as an HMAC secret (algorithm confusion).
/// HMAC secrets are tried whatever the `kid`; keys with a `kid` only for a
/// token naming it, or for a token naming none.
fn candidates<'k>(keys: &'k KeySet, alg: Algorithm, kid: Option<&'k str>) -> impl Iterator<Item = &'k DecodingKey> {
    keys.keys
        .iter()
        .filter(move |k| k.verifies(alg))
        .filter(move |k| match (&k.kid, kid) {
            (None, _) => true,
            (Some(_), None) => true,
            (Some(have), Some(want)) => have == want,
        })
        .map(|k| &k.key)
}

/// Errors jsonwebtoken reports only once the signature has verified.
fn after_signature(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ExpiredSignature
            | ErrorKind::ImmatureSignature
            | ErrorKind::InvalidIssuer
            | ErrorKind::InvalidAudience
            | ErrorKind::InvalidSubject
            | ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::InvalidClaimFormat(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_)
    )
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
