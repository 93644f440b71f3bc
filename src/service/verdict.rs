//! The one shape of a verification verdict, answered by `POST /v1/verify`
//! and printed by `cfsign verify --json`.

use serde::Serialize;

use super::times::rfc3339;
use crate::signing::{FailureCode, HashAlgorithm, PolicyType, Verification};

/// A verdict as callers read it.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Whether CloudFront would serve the request.
    pub valid: bool,
    /// Why not (`None` when valid).
    pub reason: Option<FailureCode>,
    /// The reason explained (`None` when valid).
    pub detail: Option<String>,
    /// The moment judged, RFC 3339.
    pub at: String,
    /// Canned or custom, once known.
    pub policy_type: Option<PolicyType>,
    /// The key pair id presented.
    pub key_pair_id: Option<String>,
    /// The digest named by the request.
    pub hash_algorithm: Option<HashAlgorithm>,
    /// The policy (rebuilt for canned, decoded for custom), as JSON.
    pub policy: Option<serde_json::Value>,
}

impl Verdict {
    /// The verdict on `v` at `at`; `client_ip_field` is how the caller's
    /// interface names the client address (`--client-ip`, `"client_ip"`),
    /// so a `client_ip_required` refusal says what to pass.
    pub fn new(v: Verification, at: i64, client_ip_field: &str) -> Self {
        let detail = v.failure.as_ref().map(|f| match f.code {
            FailureCode::ClientIpRequired => format!("{} ({client_ip_field})", f.detail),
            _ => f.detail.clone(),
        });
        Verdict {
            valid: v.is_valid(),
            reason: v.failure.as_ref().map(|f| f.code),
            detail,
            at: rfc3339(at),
            policy_type: v.policy_type,
            key_pair_id: v.key_pair_id,
            hash_algorithm: v.hash_algorithm,
            policy: v.policy_json.and_then(|j| serde_json::from_str(&j).ok()),
        }
    }
}
