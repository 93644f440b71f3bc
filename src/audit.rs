//! The audit log: one JSON event per issuance and per denial, on the tracing
//! target `cfsign::audit` (route it to its own stream with `RUST_LOG` or a
//! log shipper). Events name the resource and expiry, never the signature,
//! policy or URL query that would let a reader reuse the link.

use std::net::IpAddr;

use crate::auth::Caller;
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

/// A signature was issued.
pub fn issued(who: Who<'_>, kind: &'static str, record: &IssuanceRecord) {
    let caller = who.caller;
    let g = &record.granted;
    tracing::info!(
        target: "cfsign::audit",
        event = "issued",
        kind,
        request_id = who.request_id,
        sub = caller.and_then(|c| c.subject.as_deref()),
        azp = caller.and_then(|c| c.client.as_deref()),
        iss = caller.map(|c| c.issuer.as_str()),
        client_ip = who.client_ip.map(|ip| ip.to_string()),
        distribution = g.distribution.as_str(),
        resource = g.resource.as_str(),
        grant = g.grant.as_str(),
        policy_type = record.policy_type.as_str(),
        expires = g.expires,
        hash_algorithm = g.hash_algorithm.as_str(),
        key_pair_id = g.key_pair_id.as_str(),
        decision = "allow",
    );
}

/// A request to sign was refused (by authentication, a grant, or validation).
pub fn denied(who: Who<'_>, kind: &'static str, distribution: Option<&str>, resource: Option<&str>, reason: &str) {
    let caller = who.caller;
    tracing::info!(
        target: "cfsign::audit",
        event = "denied",
        kind,
        request_id = who.request_id,
        sub = caller.and_then(|c| c.subject.as_deref()),
        azp = caller.and_then(|c| c.client.as_deref()),
        iss = caller.map(|c| c.issuer.as_str()),
        client_ip = who.client_ip.map(|ip| ip.to_string()),
        distribution,
        resource,
        decision = "deny",
        reason,
    );
}
