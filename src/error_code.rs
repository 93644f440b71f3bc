//! The problem `code` values: part of the contract. Every refusal the
//! service answers carries exactly one of these (snake_case on the wire),
//! the same value is the `code` of its audit event, and `openapi.yaml`
//! lists them all (`Problem.code`, checked by `tests/openapi.rs`).
//! `http::error` maps each to its one HTTP status.

use serde::Serialize;

/// A stable, machine-readable reason for a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON (400).
    MalformedJson,
    /// A request the framework could not read otherwise (400).
    BadRequest,
    /// Missing, malformed or refused bearer token (401).
    InvalidToken,
    /// Authenticated, but no grant allows this (403).
    Forbidden,
    /// No grant allows this path, and a grant's claim template (`{sub}`,
    /// `{claim:NAME}`) could not be filled from the caller's token: the
    /// claim is missing, not a string, or not a safe path segment (403).
    ClaimUnusable,
    /// No such route (404).
    NotFound,
    /// The route exists, the method does not (405).
    MethodNotAllowed,
    /// The request took longer than `request_timeout` (408).
    Timeout,
    /// The body is over the limit (413).
    PayloadTooLarge,
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// Valid JSON of the wrong shape: unknown field, wrong type, both or
    /// neither of `key`/`path`, a bad `at` or `client_ip` (422).
    InvalidRequest,
    /// A batch with no items or more than 1,000 (422).
    InvalidBatch,
    /// A `path` or pattern that could be rewritten after signing: dot or
    /// empty segments, dangerous escapes, raw characters (422).
    InvalidPath,
    /// An object `key` that cannot name an S3 object safely (422).
    InvalidKey,
    /// Lifetimes and times: zero, too large, past, unparseable, not
    /// before the expiry, both `ttl_seconds` and `expires_at` (422).
    InvalidTimes,
    /// A `policy_resource` that is not a valid pattern (422).
    InvalidPolicyResource,
    /// A `policy_resource` that does not cover the signed URL (422).
    PolicyResourceMismatch,
    /// An IP binding that is not an IPv4 address or CIDR, or a client
    /// address that cannot be bound (IPv6, unknown) (422).
    InvalidIpAddress,
    /// A query parameter with an empty name (422).
    InvalidQuery,
    /// A query parameter CloudFront reserves (`Expires`, `Policy`,
    /// `Signature`, `Key-Pair-Id`, `Hash-Algorithm`, any case) (422).
    ReservedQueryParameter,
    /// Several distributions are granted to the caller: name one (422).
    DistributionRequired,
    /// An unexpected failure; nothing internal is said (500).
    Internal,
    /// The signing capacity is exhausted: retry after `Retry-After` (503).
    Overloaded,
    /// Not ready (keys not loaded) or shutting down (503).
    NotReady,
    /// Unavailable for another reason (503).
    Unavailable,
    /// The audit trail cannot record the request now (sink blocked, full
    /// or failing): nothing was signed; retry after `Retry-After` (503).
    AuditUnavailable,
    /// The signing key is held in a vault (a PKCS#11 token, AWS KMS) that
    /// did not sign in time, throttled or could not be reached: nothing
    /// was signed; retry after `Retry-After` (503).
    KeyUnavailable,
}

impl ErrorCode {
    /// Every code, in the order `openapi.yaml` lists them.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::MalformedJson,
        ErrorCode::BadRequest,
        ErrorCode::InvalidToken,
        ErrorCode::Forbidden,
        ErrorCode::ClaimUnusable,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Timeout,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidBatch,
        ErrorCode::InvalidPath,
        ErrorCode::InvalidKey,
        ErrorCode::InvalidTimes,
        ErrorCode::InvalidPolicyResource,
        ErrorCode::PolicyResourceMismatch,
        ErrorCode::InvalidIpAddress,
        ErrorCode::InvalidQuery,
        ErrorCode::ReservedQueryParameter,
        ErrorCode::DistributionRequired,
        ErrorCode::Internal,
        ErrorCode::Overloaded,
        ErrorCode::NotReady,
        ErrorCode::Unavailable,
        ErrorCode::AuditUnavailable,
        ErrorCode::KeyUnavailable,
    ];

    /// The wire form (`invalid_path`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::ClaimUnusable => "claim_unusable",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidBatch => "invalid_batch",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::InvalidTimes => "invalid_times",
            ErrorCode::InvalidPolicyResource => "invalid_policy_resource",
            ErrorCode::PolicyResourceMismatch => "policy_resource_mismatch",
            ErrorCode::InvalidIpAddress => "invalid_ip_address",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::ReservedQueryParameter => "reserved_query_parameter",
            ErrorCode::DistributionRequired => "distribution_required",
            ErrorCode::Internal => "internal",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::AuditUnavailable => "audit_unavailable",
            ErrorCode::KeyUnavailable => "key_unavailable",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_exactly_these_codes_with_their_meaning() {
        let spec: serde_yaml_ng::Value = serde_yaml_ng::from_str(include_str!("../openapi.yaml")).unwrap();
        let code = &spec["components"]["schemas"]["Problem"]["properties"]["code"];
        let listed: Vec<&str> = code["enum"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let ours: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, ours, "openapi.yaml Problem.code enum");
        let description = code["description"].as_str().unwrap();
        for c in ours {
            assert!(
                description.contains(&format!("- `{c}`: ")),
                "{c} has no meaning in openapi.yaml"
            );
        }
    }

    #[test]
    fn the_wire_form_is_serdes_and_every_code_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
    }
}
