//! Turning a policy into a signed URL or a set of signed cookies.

use serde::Serialize;

use super::base64cf;
use super::hash::HashAlgorithm;
use super::keys::{KeyError, PrivateKey};
use super::policy::{Policy, PolicyType};
use super::resource::{KeyPairId, SignableUrl};

/// Cookie names CloudFront reads, in the order the AWS CLI prints them.
pub mod cookie_names {
    /// Canned policies: the expiry.
    pub const EXPIRES: &str = "CloudFront-Expires";
    /// Custom policies: the policy, CloudFront base64.
    pub const POLICY: &str = "CloudFront-Policy";
    /// The signature, CloudFront base64.
    pub const SIGNATURE: &str = "CloudFront-Signature";
    /// The public key id.
    pub const KEY_PAIR_ID: &str = "CloudFront-Key-Pair-Id";
    /// `SHA256` when SHA-256 was used; absent means SHA-1.
    pub const HASH_ALGORITHM: &str = "CloudFront-Hash-Algorithm";
}

/// A signed URL and what went into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedUrl {
    /// The URL to hand to the viewer. A credential until it expires.
    pub url: String,
    /// The signing parameters alone (`Expires=`/`Policy=`, `Signature=`,
    /// `Key-Pair-Id=`[, `Hash-Algorithm=`]): the query [`Self::url`] ends
    /// with. Under a wildcard policy it makes any URL the resource covers
    /// valid (HLS segments). A credential too.
    pub signed_query: String,
    /// Canned or custom.
    pub policy_type: PolicyType,
    /// `DateLessThan`, epoch seconds.
    pub expires: i64,
    /// The key pair id that signed.
    pub key_pair_id: String,
    /// The digest used.
    pub hash_algorithm: HashAlgorithm,
}

/// A set of signed cookies (`name`, `value`) in CloudFront's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedCookies {
    /// Cookie names and values: `CloudFront-Expires` or `CloudFront-Policy`,
    /// `CloudFront-Signature`, `CloudFront-Key-Pair-Id`, and for SHA-256
    /// `CloudFront-Hash-Algorithm`.
    pub cookies: Vec<(&'static str, String)>,
    /// Canned or custom.
    pub policy_type: PolicyType,
    /// `DateLessThan`, epoch seconds.
    pub expires: i64,
    /// The key pair id that signed.
    pub key_pair_id: String,
    /// The digest used.
    pub hash_algorithm: HashAlgorithm,
}

/// Signs policies with one key under one CloudFront key pair id.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    key: &'a PrivateKey,
    key_pair_id: &'a KeyPairId,
}

impl<'a> Signer<'a> {
    /// A signer for `key`, registered in CloudFront as `key_pair_id`.
    pub fn new(key: &'a PrivateKey, key_pair_id: &'a KeyPairId) -> Self {
        Self { key, key_pair_id }
    }

    /// CloudFront-base64 signature of `policy_json`.
    pub fn signature(&self, policy_json: &str, hash: HashAlgorithm) -> Result<String, KeyError> {
        Ok(base64cf::encode(&self.key.sign(policy_json.as_bytes(), hash)?))
    }

    /// Signs `url` under `policy`. The policy is canned only when it is canned
    /// in shape *and* grants exactly `url` (CloudFront rebuilds canned
    /// policies from the request URL); otherwise it travels as `Policy=`.
    pub fn sign_url(&self, url: &SignableUrl, policy: &Policy, hash: HashAlgorithm) -> Result<SignedUrl, KeyError> {
        let json = policy.to_json();
        let signature = self.signature(&json, hash)?;
        Ok(assemble_url(self.key_pair_id, url, policy, &json, hash, &signature))
    }

    /// Signs `policy` as cookies. Canned cookies only for a canned-shaped
    /// policy; a wildcard resource always gets `CloudFront-Policy`.
    pub fn sign_cookies(&self, policy: &Policy, hash: HashAlgorithm) -> Result<SignedCookies, KeyError> {
        let json = policy.to_json();
        let signature = self.signature(&json, hash)?;
        Ok(assemble_cookies(self.key_pair_id, policy, &json, hash, signature))
    }
}

/// Builds the signed URL from a signature already made over `json` (which
/// must be `policy.to_json()`) by the key registered as `key_pair_id`: lets
/// callers cache signatures (RSA PKCS#1 v1.5 is deterministic) and sign
/// with keys held outside the process (an HSM, a KMS).
pub fn assemble_url(
    key_pair_id: &KeyPairId,
    url: &SignableUrl,
    policy: &Policy,
    json: &str,
    hash: HashAlgorithm,
    signature: &str,
) -> SignedUrl {
    let policy_type = url_policy_type(url, policy);
    // Pushed piece by piece rather than through `format!`: the URL is built
    // on every signature-cache hit, where formatting was a measurable share.
    let mut query = String::with_capacity(signature.len() + 64);
    match policy_type {
        PolicyType::Canned => {
            query.push_str("Expires=");
            query.push_str(&policy.date_less_than().to_string());
        }
        PolicyType::Custom => {
            query.push_str("Policy=");
            query.push_str(&base64cf::encode(json.as_bytes()));
        }
    }
    query.push_str("&Signature=");
    query.push_str(signature);
    query.push_str("&Key-Pair-Id=");
    query.push_str(key_pair_id.as_str());
    if hash.is_explicit() {
        query.push_str("&Hash-Algorithm=");
        query.push_str(hash.as_str());
    }
    let mut full = String::with_capacity(url.as_str().len() + 1 + query.len());
    full.push_str(url.as_str());
    full.push(if url.has_query() { '&' } else { '?' });
    full.push_str(&query);
    SignedUrl {
        url: full,
        signed_query: query,
        policy_type,
        expires: policy.date_less_than(),
        key_pair_id: key_pair_id.as_str().to_owned(),
        hash_algorithm: hash,
    }
}

/// Builds the cookies from a signature already made over `json` by the key
/// registered as `key_pair_id`. Canned cookies only for a canned-shaped
/// policy; a wildcard resource always gets `CloudFront-Policy`.
pub fn assemble_cookies(
    key_pair_id: &KeyPairId,
    policy: &Policy,
    json: &str,
    hash: HashAlgorithm,
    signature: String,
) -> SignedCookies {
    use cookie_names::*;
    let policy_type = policy.policy_type();
    let mut cookies = Vec::with_capacity(4);
    cookies.push(match policy_type {
        PolicyType::Canned => (EXPIRES, policy.date_less_than().to_string()),
        PolicyType::Custom => (POLICY, base64cf::encode(json.as_bytes())),
    });
    cookies.push((SIGNATURE, signature));
    cookies.push((KEY_PAIR_ID, key_pair_id.to_string()));
    if hash.is_explicit() {
        cookies.push((HASH_ALGORITHM, hash.as_str().to_owned()));
    }
    SignedCookies {
        cookies,
        policy_type,
        expires: policy.date_less_than(),
        key_pair_id: key_pair_id.to_string(),
        hash_algorithm: hash,
    }
}

/// Canned only when the policy is plain and its resource is the URL itself.
pub fn url_policy_type(url: &SignableUrl, policy: &Policy) -> PolicyType {
    match policy.policy_type() {
        PolicyType::Canned if policy.resource().as_str() == url.as_str() => PolicyType::Canned,
        _ => PolicyType::Custom,
    }
}
