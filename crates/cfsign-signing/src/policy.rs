//! Policy statements, serialised byte-for-byte as CloudFront rebuilds
//! (canned) or verifies (custom) them.
//!
//! Layout: `{"Statement":[{"Resource":R,"Condition":{"DateLessThan":{"AWS:EpochTime":E}[,"IpAddress":{"AWS:SourceIp":C}][,"DateGreaterThan":{"AWS:EpochTime":S}]}}]}`.
//! The optional conditions follow botocore's order (the AWS CLI's), so custom
//! policies match `aws cloudfront sign` exactly.

use serde::Serialize;

use super::cidr::CidrV4;
use super::resource::ResourcePattern;

/// Canned (CloudFront rebuilds it from the request; only `Expires` travels)
/// or custom (the policy travels base64'd in `Policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyType {
    /// Only a resource and an expiry; shortest URL.
    Canned,
    /// Wildcards, a start time, or an IP range.
    Custom,
}

impl PolicyType {
    /// `canned` or `custom`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Canned => "canned",
            PolicyType::Custom => "custom",
        }
    }
}

/// Why a set of conditions cannot make a valid policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `DateLessThan` must be a positive epoch.
    #[error("expiry must be a positive epoch time in seconds, got {0}")]
    BadExpiry(i64),
    /// `DateGreaterThan` is not before `DateLessThan`: nothing could ever pass.
    #[error("start time {start} is not before expiry {expiry}")]
    StartNotBeforeExpiry {
        /// The `DateGreaterThan` value.
        start: i64,
        /// The `DateLessThan` value.
        expiry: i64,
    },
    /// The expiry is not after the signer's clock.
    #[error("expiry {expiry} is not in the future (now is {now})")]
    Expired {
        /// The `DateLessThan` value.
        expiry: i64,
        /// The clock the check used.
        now: i64,
    },
}

/// One CloudFront policy statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Policy {
    resource: ResourcePattern,
    date_less_than: i64,
    date_greater_than: Option<i64>,
    ip_address: Option<CidrV4>,
}

impl Policy {
    /// Builds a policy; refuses a non-positive expiry or a start that is not
    /// strictly before the expiry.
    pub fn new(
        resource: ResourcePattern,
        date_less_than: i64,
        date_greater_than: Option<i64>,
        ip_address: Option<CidrV4>,
    ) -> Result<Self, PolicyError> {
        if date_less_than <= 0 {
            return Err(PolicyError::BadExpiry(date_less_than));
        }
        if let Some(start) = date_greater_than.filter(|s| *s >= date_less_than) {
            return Err(PolicyError::StartNotBeforeExpiry {
                start,
                expiry: date_less_than,
            });
        }
        Ok(Self {
            resource,
            date_less_than,
            date_greater_than,
            ip_address,
        })
    }

    /// Refuses a policy that is already expired at `now` (epoch seconds).
    /// Kept separate from [`Policy::new`] so the core never reads a clock.
    pub fn check_not_expired(&self, now: i64) -> Result<(), PolicyError> {
        if self.date_less_than <= now {
            return Err(PolicyError::Expired {
                expiry: self.date_less_than,
                now,
            });
        }
        Ok(())
    }

    /// The granted resource.
    pub fn resource(&self) -> &ResourcePattern {
        &self.resource
    }

    /// `DateLessThan` (epoch seconds).
    pub fn date_less_than(&self) -> i64 {
        self.date_less_than
    }

    /// `DateGreaterThan` (epoch seconds), if any.
    pub fn date_greater_than(&self) -> Option<i64> {
        self.date_greater_than
    }

    /// The `IpAddress` condition, if any.
    pub fn ip_address(&self) -> Option<CidrV4> {
        self.ip_address
    }

    /// Canned when nothing but a concrete resource and an expiry is asked.
    pub fn policy_type(&self) -> PolicyType {
        let plain = self.date_greater_than.is_none() && self.ip_address.is_none();
        if plain && !self.resource.has_wildcard() {
            PolicyType::Canned
        } else {
            PolicyType::Custom
        }
    }

    /// The exact policy bytes to sign (and, for custom, to send).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(160 + self.resource.as_str().len());
        out.push_str(r#"{"Statement":[{"Resource":"#);
        push_json_string(&mut out, self.resource.as_str());
        out.push_str(r#","Condition":{"DateLessThan":{"AWS:EpochTime":"#);
        out.push_str(&self.date_less_than.to_string());
        out.push('}');
        if let Some(ip) = &self.ip_address {
            out.push_str(r#","IpAddress":{"AWS:SourceIp":"#);
            push_json_string(&mut out, &ip.to_string());
            out.push('}');
        }
        if let Some(start) = self.date_greater_than {
            out.push_str(r#","DateGreaterThan":{"AWS:EpochTime":"#);
            out.push_str(&start.to_string());
            out.push('}');
        }
        out.push_str("}}]}");
        out
    }
}

/// Appends `s` as a JSON string. serde_json escapes `"`, `\` and control
/// characters (so no input can alter the policy's structure) and leaves `/`
/// and `&` alone, which is what CloudFront's canned reconstruction expects.
fn push_json_string(out: &mut String, s: &str) {
    // Serialising a &str into a String cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> ResourcePattern {
        s.parse().unwrap()
    }

    #[test]
    fn canned_layout_matches_botocore() {
        let p = Policy::new(
            pattern("https://d111111abcdef8.cloudfront.net/image.jpg"),
            1767290400,
            None,
            None,
        )
        .unwrap();
        assert_eq!(p.policy_type(), PolicyType::Canned);
        assert_eq!(
            p.to_json(),
            r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/image.jpg","Condition":{"DateLessThan":{"AWS:EpochTime":1767290400}}}]}"#
        );
    }

    #[test]
    fn custom_condition_order_is_botocores() {
        let ip = "10.0.0.0/8".parse().ok();
        let p = Policy::new(pattern("https://x/*"), 20, Some(10), ip).unwrap();
        assert_eq!(p.policy_type(), PolicyType::Custom);
        assert_eq!(
            p.to_json(),
            r#"{"Statement":[{"Resource":"https://x/*","Condition":{"DateLessThan":{"AWS:EpochTime":20},"IpAddress":{"AWS:SourceIp":"10.0.0.0/8"},"DateGreaterThan":{"AWS:EpochTime":10}}}]}"#
        );
    }

    #[test]
    fn wildcard_resource_is_never_canned() {
        let p = Policy::new(pattern("https://x/videos/*"), 20, None, None).unwrap();
        assert_eq!(p.policy_type(), PolicyType::Custom);
    }

    #[test]
    fn refuses_impossible_windows() {
        assert_eq!(
            Policy::new(pattern("https://x/a"), 0, None, None),
            Err(PolicyError::BadExpiry(0))
        );
        assert!(matches!(
            Policy::new(pattern("https://x/a"), 10, Some(10), None),
            Err(PolicyError::StartNotBeforeExpiry { .. })
        ));
        let p = Policy::new(pattern("https://x/a"), 10, None, None).unwrap();
        assert!(p.check_not_expired(9).is_ok());
        assert!(p.check_not_expired(10).is_err());
    }

    #[test]
    fn quotes_cannot_break_out_of_the_resource() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"},{\"Resource\":\"*\\");
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, serde_json::json!("a\"},{\"Resource\":\"*\\"));
    }
}
