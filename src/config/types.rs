//! The rule for each single configuration value, as a type whose
//! constructor is the rule: JWT algorithms, base URLs, path prefixes, grant
//! patterns, origins, JWKS URLs. `validate` runs every one of them over the
//! file's values, so a start reports every problem at once (serde would
//! stop at the first); code that needs the value builds it with the same
//! constructor.
//!
//! Why the file's model keeps strings rather than these types: a field
//! that fails to deserialise ends figment's extraction, and the loader's
//! promise is every problem in one start.

use std::fmt;
use std::str::FromStr;

use jsonwebtoken::Algorithm;

use crate::path_rule::{check_grant_pattern, check_path};

/// Implements `as_str`, `Display` and `TryFrom<String>` for a string newtype
/// whose constructor is `$check`.
macro_rules! string_type {
    ($name:ident, $check:expr) => {
        impl $name {
            /// The value as configured.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(&text).map(|()| $name(text))
            }
        }
    };
}

/// A JWT algorithm from the allowlist (`RS256`, `ES256`, ...); never `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JwtAlgorithm(pub Algorithm);

impl FromStr for JwtAlgorithm {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        let alg = match name {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "EdDSA" => Algorithm::EdDSA,
            other => return Err(format!("unsupported JWT algorithm {other:?} (none is never accepted)")),
        };
        Ok(JwtAlgorithm(alg))
    }
}

impl TryFrom<String> for JwtAlgorithm {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

/// A viewer-facing base URL, `https://cdn.example.com` (no path, no
/// trailing `/`: a trailing one is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl TryFrom<String> for BaseUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let trimmed = text.trim_end_matches('/');
        let ok = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
            && trimmed
                .split_once("://")
                .is_some_and(|(_, host)| !host.is_empty() && !host.contains(['/', '?', '#', '*']));
        if ok {
            Ok(BaseUrl(trimmed.to_owned()))
        } else {
            Err(format!(
                "must be a base URL like https://cdn.example.com (no path), got {text:?}"
            ))
        }
    }
}

impl BaseUrl {
    /// The URL, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The only paths a distribution signs: `/uploads` (leading `/`, no
/// trailing `/`, no wildcards, and the path rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPrefix(String);

string_type!(PathPrefix, |p| {
    if !p.starts_with('/') || p.ends_with('/') || p.contains(['*', '?', '#']) {
        return Err("must look like /uploads (leading /, no trailing /, no wildcards)".into());
    }
    check_path(p, false).map_err(|e| e.to_string())
});

/// A grant's URL path pattern (`*` any run, `?` one character), under the
/// same path rule as requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantPattern(String);

string_type!(GrantPattern, |p| check_grant_pattern(p)
    .map_err(|e| format!("pattern {p:?}: {e}")));

/// A browser origin, exact: `https://app.example.com` (never `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

string_type!(Origin, |o| {
    let ok = o != "*" && (o.starts_with("https://") || o.starts_with("http://")) && !o.ends_with('/');
    if ok {
        Ok(())
    } else {
        Err(format!("{o:?} must be an exact origin like https://app.example.com"))
    }
});

/// A JWKS URL: `https://`, or `http://` on a loopback address only (a JWKS
/// decides who may sign anything, so it must not travel in the clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksUrl(String);

string_type!(JwksUrl, check_jwks_url);

fn check_jwks_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e}): {url:?}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "must be an https:// URL (plain http:// is accepted for loopback addresses only): {url:?}"
        )),
        _ => Err(format!("must be an https:// URL, got {url:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<T: TryFrom<String>>(s: &str) -> Result<T, T::Error> {
        T::try_from(s.to_owned())
    }

    #[test]
    fn each_type_refuses_what_its_doc_says() {
        assert!(t::<BaseUrl>("https://cdn.example.com/").is_ok_and(|u| u.as_str() == "https://cdn.example.com"));
        for bad in [
            "cdn.example.com",
            "https://",
            "https://cdn.example.com/x",
            "https://*.example.com",
        ] {
            assert!(t::<BaseUrl>(bad).is_err(), "{bad}");
        }
        assert!(t::<PathPrefix>("/uploads").is_ok());
        for bad in ["uploads", "/uploads/", "/up*", "/a//b", "/a/../b", "/a/..%3B/b"] {
            assert!(t::<PathPrefix>(bad).is_err(), "{bad}");
        }
        assert!(t::<GrantPattern>("/uploads/r-??.pdf").is_ok());
        assert!(t::<GrantPattern>("/uploads//*").is_err());
        assert!(t::<Origin>("https://app.example.com").is_ok());
        for bad in ["*", "app.example.com", "https://app.example.com/"] {
            assert!(t::<Origin>(bad).is_err(), "{bad}");
        }
        assert!(t::<JwtAlgorithm>("RS256").is_ok_and(|a| a.0 == Algorithm::RS256));
        assert!(t::<JwtAlgorithm>("none").is_err());
        assert!(t::<JwksUrl>("http://[::1]:9/jwks").is_ok());
        assert!(t::<JwksUrl>("http://auth.example.com/jwks").is_err());
    }
}
