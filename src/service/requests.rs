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
    /// Lifetime in seconds from now (an integral number: `600` or `600.0`).
    #[serde(default, deserialize_with = "whole_seconds")]
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
    /// Lifetime in seconds from now (an integral number: `600` or `600.0`).
    #[serde(default, deserialize_with = "whole_seconds")]
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

/// Seconds as a JSON integer, or a float with no fractional part (JSON
/// Schema's `integer` admits `600.0`). Negative, fractional, out-of-range
/// and non-numeric values are refused with one message that says what to
/// send (the JSON extractor puts the field's name before it).
fn whole_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let refuse =
        |got: &str| serde::de::Error::custom(format!("must be a whole number of seconds, e.g. 600 (got {got})"));
    let value = Option::<serde_json::Value>::deserialize(d)?;
    let number = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => n,
        Some(serde_json::Value::String(_)) => return Err(refuse("a string")),
        Some(other) => return Err(refuse(&other.to_string())),
    };
    if let Some(n) = number.as_u64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        // 2^64 is exactly representable: anything below it fits in a u64.
        Some(f) if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) => Ok(Some(f as u64)),
        _ => Err(refuse(&number.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl(json: &str) -> Result<Option<u64>, serde_json::Error> {
        serde_json::from_str::<UrlRequest>(&format!(r#"{{"ttl_seconds": {json}}}"#)).map(|r| r.ttl_seconds)
    }

    #[test]
    fn ttl_accepts_whole_numbers_only() {
        assert_eq!(ttl("600").unwrap(), Some(600));
        assert_eq!(ttl("600.0").unwrap(), Some(600));
        assert_eq!(ttl("null").unwrap(), None);
        for bad in ["1.5", "-5", "-1.0", "\"60\"", "1e300", "true"] {
            let error = ttl(bad).unwrap_err().to_string();
            assert!(error.starts_with("must be a whole number of seconds"), "{bad}: {error}");
        }
    }
}
