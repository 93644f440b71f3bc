//! One audit event: who asked for what, and what they were given or why
//! not. Never a credential: no signature, policy, signed URL, cookie value
//! or token. The writer adds the trail's own fields (schema version,
//! sequence number, time, previous hash): see [`super::chain`].

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::auth::Caller;
use crate::error_code::ErrorCode;
use crate::service::IssuanceRecord;

/// Who asked, for audit events.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// The authenticated caller, if authentication succeeded.
    pub caller: Option<&'a Caller>,
    /// The request id.
    pub request_id: &'a str,
    /// The client address.
    pub client_ip: Option<IpAddr>,
}

/// One event of the trail, in the order its fields are written.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// When the decision was made, epoch milliseconds (written as RFC 3339).
    #[serde(skip)]
    pub at_ms: i64,
    /// `issued`, `denied` or `audit_outage`.
    pub event: &'static str,
    /// `url`, `cookies` or `auth` (a refused token, before any request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The token's `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The token's `azp` (or `client_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// The token's `iss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The caller's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<IpAddr>,
    /// The distribution signed for (or asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
    /// The resource or pattern granted (or asked for), without any signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The grant that allowed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// The grant's pattern that allowed it, claim templates filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `canned` or `custom`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<&'static str>,
    /// The expiry, epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    /// `SHA1` or `SHA256`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_algorithm: Option<&'static str>,
    /// The key pair that signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_pair_id: Option<String>,
    /// `allow` or `deny` (absent on the trail's own events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<&'static str>,
    /// A denial's problem code (`forbidden`, `invalid_token`, …), as answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// Why: a denial's detail (for a refused token, which check failed),
    /// or the outage's cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `audit_outage`: requests answered 503 `audit_unavailable` meanwhile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<u64>,
    /// `audit_outage` under `best_effort`: events lost meanwhile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// `audit_outage`: when the sink stopped accepting (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

impl Event {
    fn new(event: &'static str, kind: &'static str, who: Who<'_>) -> Self {
        let caller = who.caller;
        Self {
            at_ms: now_ms(),
            event,
            kind: Some(kind),
            request_id: Some(who.request_id.to_owned()),
            sub: caller.and_then(|c| c.subject.clone()),
            azp: caller.and_then(|c| c.client.clone()),
            iss: caller.map(|c| c.issuer.clone()),
            client_ip: who.client_ip,
            distribution: None,
            resource: None,
            grant: None,
            pattern: None,
            policy_type: None,
            expires: None,
            hash_algorithm: None,
            key_pair_id: None,
            decision: None,
            code: None,
            reason: None,
            refused: None,
            dropped: None,
            since: None,
        }
    }

    /// A signature was issued.
    pub fn issued(who: Who<'_>, kind: &'static str, record: &IssuanceRecord) -> Self {
        let g = &record.granted;
        Self {
            distribution: Some(g.distribution.clone()),
            resource: Some(g.resource.clone()),
            grant: Some(g.grant.clone()),
            pattern: Some(g.pattern.clone()),
            policy_type: Some(record.policy_type.as_str()),
            expires: Some(g.expires),
            hash_algorithm: Some(g.hash_algorithm.as_str()),
            key_pair_id: Some(g.key_pair_id.clone()),
            decision: Some("allow"),
            ..Self::new("issued", kind, who)
        }
    }

    /// A request was refused (by authentication, a grant, or validation)
    /// with `code`; `asked` is the distribution and resource it named.
    pub fn denied(
        who: Who<'_>,
        kind: &'static str,
        asked: (Option<&str>, Option<&str>),
        code: ErrorCode,
        reason: &str,
    ) -> Self {
        Self {
            distribution: asked.0.map(str::to_owned),
            resource: asked.1.map(str::to_owned),
            decision: Some("deny"),
            code: Some(code.as_str()),
            reason: Some(reason.to_owned()),
            ..Self::new("denied", kind, who)
        }
    }

    /// The trail's own record of an outage, written first when the sink
    /// accepts again: since when, why, and how many requests were refused.
    pub fn outage(since_ms: i64, cause: &str, refused: u64) -> Self {
        let who = Who {
            caller: None,
            request_id: "",
            client_ip: None,
        };
        Self {
            kind: None,
            request_id: None,
            reason: Some(cause.to_owned()),
            refused: Some(refused),
            since: Some(super::chain::rfc3339_ms(since_ms)),
            ..Self::new("audit_outage", "", who)
        }
    }
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
