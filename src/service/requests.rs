//! What callers send. Unknown fields are refused; numbers that do not fit
//! (negative, fractional, huge TTLs) fail deserialisation.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::signing::HashAlgorithm;

/// `POST /v1/signed-urls` body (also one item of a batch).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UrlRequest {
    /// Distribution name; optional when only one is configured.
    pub distribution: Option<String>,
    /// S3 object key (`uploads/report.pdf`); encoded by the service.
    pub key: Option<String>,
    /// URL path, already percent-encoded (`/uploads/report.pdf`).
    pub path: Option<String>,
    /// Lifetime in seconds from now.
    pub ttl_seconds: Option<u64>,
    /// Absolute expiry (RFC 3339).
    pub expires_at: Option<String>,
    /// Start of validity (RFC 3339).
    pub not_before: Option<String>,
    /// IPv4 address/CIDR, or `"client"` for the caller's own address.
    pub ip_address: Option<IpRequest>,
    /// Path pattern to grant instead of the URL itself (`/uploads/2024/*`).
    pub policy_resource: Option<String>,
    /// Extra query parameters, signed with the URL.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// `SHA1` or `SHA256`; defaults to the distribution's.
    pub hash_algorithm: Option<HashAlgorithm>,
}

/// `POST /v1/signed-cookies` body.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CookieRequest {
    /// Distribution name; optional when only one is configured.
    pub distribution: Option<String>,
    /// A path or path pattern (`/videos/abc/*`), or an object key.
    pub resource: String,
    /// Lifetime in seconds from now.
    pub ttl_seconds: Option<u64>,
    /// Absolute expiry (RFC 3339).
    pub expires_at: Option<String>,
    /// Start of validity (RFC 3339).
    pub not_before: Option<String>,
    /// IPv4 address/CIDR, or `"client"`.
    pub ip_address: Option<IpRequest>,
    /// `SHA1` or `SHA256`.
    pub hash_algorithm: Option<HashAlgorithm>,
}

/// The IP binding asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum IpRequest {
    /// The caller's own address (through trusted proxies).
    Client,
    /// An explicit address or CIDR, validated later.
    Range(String),
}

impl<'de> Deserialize<'de> for IpRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(if s == "client" {
            IpRequest::Client
        } else {
            IpRequest::Range(s)
        })
    }
}
