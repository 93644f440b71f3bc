//! A bounded cache of policy → signature, per distribution. RSA PKCS#1 v1.5
//! is deterministic, so a hit is exactly what signing would produce; for
//! (randomised) ECDSA a hit is one valid signature among many. Entries are
//! tied to the distribution's active key: a reload builds a new cache.

use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::signing::HashAlgorithm;

/// Policy JSON and digest → CloudFront-base64 signature.
pub struct SignatureCache {
    cache: Cache<(HashAlgorithm, String), Arc<str>>,
}

impl std::fmt::Debug for SignatureCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureCache")
            .field("entries", &self.cache.len())
            .finish()
    }
}

impl SignatureCache {
    /// A cache holding at most `entries` signatures.
    pub fn new(entries: usize) -> Self {
        Self {
            cache: Cache::new(entries.max(1)),
        }
    }

    /// The cached signature of `policy_json` under `hash`, if any.
    pub fn get(&self, hash: HashAlgorithm, policy_json: &str) -> Option<Arc<str>> {
        let hit = self.cache.get(&Lookup(hash, policy_json));
        crate::metrics::cache_lookup("cfsign_signature_cache_total", hit.is_some());
        hit
    }

    /// Remembers a signature.
    pub fn insert(&self, hash: HashAlgorithm, policy_json: String, signature: Arc<str>) {
        self.cache.insert((hash, policy_json), signature);
    }
}

/// A borrowed key for lookups: hashes and compares as `(HashAlgorithm,
/// String)` does, so a lookup copies no policy.
#[derive(Hash)]
struct Lookup<'a>(HashAlgorithm, &'a str);

impl quick_cache::Equivalent<(HashAlgorithm, String)> for Lookup<'_> {
    fn equivalent(&self, key: &(HashAlgorithm, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}
