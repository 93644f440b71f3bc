//! What an issuance gives back, and how a plan becomes it: the signature
//! from the distribution's cache or from the key, assembled by the signing
//! core. Credentials live only in the answers; the [`IssuanceRecord`] that
//! goes to the audit log holds none.

use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::error::IssueError;
use super::plan::{CookiePlan, Granted, Signable, UrlPlan};
use super::times::rfc3339;
use crate::config::CookieConfig;
use crate::signing::{HashAlgorithm, PolicyType, Signer};

/// A signed URL as returned to callers.
#[derive(Debug, Clone, Serialize)]
pub struct UrlAnswer {
    /// The signed URL (a credential: never logged).
    pub url: String,
    /// The signing query alone (`Policy=...&Signature=...&Key-Pair-Id=...`),
    /// to append to other URLs the policy covers (HLS segments under a
    /// wildcard `policy_resource`). A credential too.
    pub signed_query: String,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// Expiry, epoch seconds.
    pub expires: i64,
    /// The key pair id that signed.
    pub key_pair_id: String,
    /// `canned` or `custom`.
    pub policy_type: PolicyType,
    /// `SHA1` or `SHA256`.
    pub hash_algorithm: HashAlgorithm,
}

/// Signed cookies as returned to callers.
#[derive(Debug, Clone, Serialize)]
pub struct CookieAnswer {
    /// Cookie names and values, in CloudFront's order.
    pub cookies: OrderedCookies,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// Expiry, epoch seconds.
    pub expires: i64,
    /// The key pair id that signed.
    pub key_pair_id: String,
    /// `canned` or `custom`.
    pub policy_type: PolicyType,
    /// `SHA1` or `SHA256`.
    pub hash_algorithm: HashAlgorithm,
    /// The distribution's cookie attributes, for whoever sets the cookies
    /// (the HTTP layer writes them into `Set-Cookie`).
    #[serde(skip)]
    pub attributes: CookieConfig,
}

/// Cookies serialised as a JSON object that keeps their order.
#[derive(Debug, Clone)]
pub struct OrderedCookies(pub Vec<(&'static str, String)>);

impl Serialize for OrderedCookies {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// One issuance, for the audit log and metrics: what was granted and how
/// it was signed. No credential in it (no signature, policy or URL query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceRecord {
    /// What the plan granted.
    pub granted: Granted,
    /// Canned or custom, as signed.
    pub policy_type: PolicyType,
}

impl UrlPlan {
    /// The answer from the signature cache, if this policy was signed before.
    /// Cheap: call it on the reactor before going to the signing pool.
    pub fn cached(&self) -> Option<UrlAnswer> {
        self.signable.cached().map(|signature| self.answer(&signature))
    }

    /// Signs. CPU-bound: call on the signing pool.
    pub fn sign(&self) -> Result<UrlAnswer, IssueError> {
        Ok(self.answer(&self.signable.signature()?))
    }

    /// The record of an issuance of `answer`.
    pub fn record(&self, answer: &UrlAnswer) -> IssuanceRecord {
        self.signable.record(answer.policy_type)
    }

    fn answer(&self, signature: &str) -> UrlAnswer {
        let s = &self.signable;
        let signed = s
            .signer()
            .assemble_url(&self.url, &s.policy, &s.json, s.hash, signature);
        UrlAnswer {
            url: signed.url,
            signed_query: signed.signed_query,
            expires_at: rfc3339(signed.expires),
            expires: signed.expires,
            key_pair_id: signed.key_pair_id,
            policy_type: signed.policy_type,
            hash_algorithm: signed.hash_algorithm,
        }
    }
}

impl CookiePlan {
    /// The cached cookies, if this policy was signed before.
    pub fn cached(&self) -> Option<CookieAnswer> {
        self.signable
            .cached()
            .map(|signature| self.answer(signature.to_string()))
    }

    /// Signs. CPU-bound: call on the signing pool.
    pub fn sign(&self) -> Result<CookieAnswer, IssueError> {
        Ok(self.answer(self.signable.signature()?.to_string()))
    }

    /// The record of an issuance of `answer`.
    pub fn record(&self, answer: &CookieAnswer) -> IssuanceRecord {
        self.signable.record(answer.policy_type)
    }

    fn answer(&self, signature: String) -> CookieAnswer {
        let s = &self.signable;
        let signed = s.signer().assemble_cookies(&s.policy, &s.json, s.hash, signature);
        CookieAnswer {
            cookies: OrderedCookies(signed.cookies),
            expires_at: rfc3339(signed.expires),
            expires: signed.expires,
            key_pair_id: signed.key_pair_id,
            policy_type: signed.policy_type,
            hash_algorithm: signed.hash_algorithm,
            attributes: s.dist.cookies.clone(),
        }
    }
}

impl Signable {
    fn signer(&self) -> Signer<'_> {
        Signer::new(&self.dist.active.key, &self.dist.active.id)
    }

    fn cached(&self) -> Option<Arc<str>> {
        self.dist.signatures.as_ref()?.get(self.hash, &self.json)
    }

    /// Signs the policy with the active key and remembers the signature.
    fn signature(&self) -> Result<Arc<str>, IssueError> {
        let signature: Arc<str> = self
            .signer()
            .signature(&self.json, self.hash)
            .map_err(IssueError::Signing)?
            .into();
        if let Some(cache) = &self.dist.signatures {
            cache.insert(self.hash, self.json.clone(), Arc::clone(&signature));
        }
        Ok(signature)
    }

    fn record(&self, policy_type: PolicyType) -> IssuanceRecord {
        IssuanceRecord {
            granted: self.granted.clone(),
            policy_type,
        }
    }
}
