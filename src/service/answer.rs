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
use crate::json_string;
use crate::keys::{RemoteSigner, SigningKey};
use crate::signing::{HashAlgorithm, PolicyType, Signer, base64cf, signer};

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

impl UrlAnswer {
    /// Appends the answer's JSON: byte for byte what its `Serialize` writes
    /// (the tests hold the two together), with the URL and the query (a few
    /// hundred bytes each, which need no escape) copied rather than scanned
    /// byte by byte ([`json_string`]).
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"url\":");
        json_string::push(out, &self.url)?;
        out.extend_from_slice(b",\"signed_query\":");
        json_string::push(out, &self.signed_query)?;
        out.extend_from_slice(b",\"expires_at\":");
        json_string::push(out, &self.expires_at)?;
        out.extend_from_slice(b",\"expires\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.expires).as_bytes());
        out.extend_from_slice(b",\"key_pair_id\":");
        json_string::push(out, &self.key_pair_id)?;
        out.extend_from_slice(b",\"policy_type\":");
        json_string::push(out, self.policy_type.as_str())?;
        out.extend_from_slice(b",\"hash_algorithm\":");
        json_string::push(out, self.hash_algorithm.as_str())?;
        out.push(b'}');
        Ok(())
    }
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

    /// Signs with a file key. CPU-bound: call on the signing pool.
    pub fn sign(&self) -> Result<UrlAnswer, IssueError> {
        Ok(self.answer(&self.signable.signature()?))
    }

    /// Signs with a vault-held key: an awaited call, not pool work.
    pub async fn sign_remote(&self, remote: &RemoteSigner) -> Result<UrlAnswer, IssueError> {
        Ok(self.answer(&self.signable.remote_signature(remote).await?))
    }

    /// The record of an issuance of `answer`.
    pub fn record(&self, answer: &UrlAnswer) -> IssuanceRecord {
        self.signable.record(answer.policy_type)
    }

    fn answer(&self, signature: &str) -> UrlAnswer {
        let s = &self.signable;
        let signed = signer::assemble_url(&s.dist.active.id, &self.url, &s.policy, &s.json, s.hash, signature);
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

    /// Signs with a file key. CPU-bound: call on the signing pool.
    pub fn sign(&self) -> Result<CookieAnswer, IssueError> {
        Ok(self.answer(self.signable.signature()?.to_string()))
    }

    /// Signs with a vault-held key: an awaited call, not pool work.
    pub async fn sign_remote(&self, remote: &RemoteSigner) -> Result<CookieAnswer, IssueError> {
        Ok(self.answer(self.signable.remote_signature(remote).await?.to_string()))
    }

    /// The record of an issuance of `answer`.
    pub fn record(&self, answer: &CookieAnswer) -> IssuanceRecord {
        self.signable.record(answer.policy_type)
    }

    fn answer(&self, signature: String) -> CookieAnswer {
        let s = &self.signable;
        let signed = signer::assemble_cookies(&s.dist.active.id, &s.policy, &s.json, s.hash, signature);
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
    /// The vault-held key that signs this policy, or `None` for a file key
    /// (which signs on the pool).
    pub(crate) fn remote(&self) -> Option<&RemoteSigner> {
        match &self.dist.active.key {
            SigningKey::Remote(remote) => Some(remote),
            SigningKey::File(_) => None,
        }
    }

    fn cached(&self) -> Option<Arc<str>> {
        self.dist.signatures.as_ref()?.get(self.hash, &self.json)
    }

    /// Signs the policy with the active file key and remembers the signature.
    fn signature(&self) -> Result<Arc<str>, IssueError> {
        let key = match &self.dist.active.key {
            SigningKey::File(key) => key,
            SigningKey::Remote(_) => return Err(IssueError::Internal("a vault-held key signs off the pool".into())),
        };
        let signature = Signer::new(key, &self.dist.active.id)
            .signature(&self.json, self.hash)
            .map_err(IssueError::Signing)?;
        Ok(self.remember(signature))
    }

    /// Asks the active vault-held key to sign, and remembers the signature.
    async fn remote_signature(&self, remote: &RemoteSigner) -> Result<Arc<str>, IssueError> {
        let raw = remote.sign(self.json.as_bytes().to_vec(), self.hash).await?;
        Ok(self.remember(base64cf::encode(&raw)))
    }

    fn remember(&self, signature: String) -> Arc<str> {
        let signature: Arc<str> = signature.into();
        if let Some(cache) = &self.dist.signatures {
            cache.insert(self.hash, self.json.clone(), Arc::clone(&signature));
        }
        signature
    }

    fn record(&self, policy_type: PolicyType) -> IssuanceRecord {
        IssuanceRecord {
            granted: self.granted.clone(),
            policy_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(url: &str, query: &str, key_pair_id: &str, expires: i64) -> UrlAnswer {
        UrlAnswer {
            url: url.to_owned(),
            signed_query: query.to_owned(),
            expires_at: rfc3339(expires),
            expires,
            key_pair_id: key_pair_id.to_owned(),
            policy_type: PolicyType::Custom,
            hash_algorithm: HashAlgorithm::Sha256,
        }
    }

    fn written(a: &UrlAnswer) -> String {
        let mut out = Vec::new();
        a.write_json(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_url_answer_is_written_as_serde_writes_it() {
        let query = "Expires=1767225600&Signature=Nql641NHEUkUaXQH~_-abc&Key-Pair-Id=K2JCJMDEHXQW5F";
        let canned = UrlAnswer {
            policy_type: PolicyType::Canned,
            hash_algorithm: HashAlgorithm::Sha1,
            ..answer(
                &format!("https://d111111abcdef8.cloudfront.net/a.csv?{query}"),
                query,
                "K2JCJMDEHXQW5F",
                1_767_225_600,
            )
        };
        for a in [
            canned,
            answer("https://x/\"quoted\"\\and\u{1}control", "é✓", "K\"", -1),
            answer("", "", "", i64::MAX),
            answer("", "", "", i64::MIN),
        ] {
            assert_eq!(written(&a), serde_json::to_string(&a).unwrap());
        }
    }

    proptest::proptest! {
        #[test]
        fn any_url_answer_is_written_as_serde_writes_it(
            url in "(.|[\"\\\\\n])*", query in ".*", id in "[A-Z0-9\"]*", expires in proptest::num::i64::ANY,
        ) {
            let a = answer(&url, &query, &id, expires);
            proptest::prop_assert_eq!(written(&a), serde_json::to_string(&a).unwrap());
        }
    }
}
