//! Planning: from a caller's request to exactly what will be signed.
//! Resolve the distribution, build and check the URL or pattern (each check
//! once), compute the times, ask the grants. Pure: no signing, no I/O; the
//! clock and the client address come in as values.

use std::net::IpAddr;
use std::sync::Arc;

use super::distribution::Distribution;
use super::error::IssueError;
use super::paths::{check_path, encode_query, under_prefix};
use super::requests::{CookieRequest, IpRequest, UrlRequest};
use super::snapshot::Snapshot;
use super::times::{Terms, Times};
use crate::auth::{Ask, Caller, Denial};
use crate::error_code::ErrorCode;
use crate::signing::resource::{InputError, encode_object_key};
use crate::signing::{CidrV4, HashAlgorithm, Policy, ResourcePattern, SignableUrl};

/// Lifetime when no grant of the caller names one for the distribution.
const FALLBACK_TTL: u64 = 3600;

/// What a plan grants, before any signature: for checks and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// Distribution name.
    pub distribution: String,
    /// Resource or pattern granted (a URL without any signature).
    pub resource: String,
    /// Grant that allowed it.
    pub grant: String,
    /// The grant's pattern that allowed it, claim templates filled.
    pub pattern: String,
    /// Expiry, epoch seconds.
    pub expires: i64,
    /// Digest.
    pub hash_algorithm: HashAlgorithm,
    /// Key pair id that signs.
    pub key_pair_id: String,
}

/// A checked policy on one distribution, ready to sign.
#[derive(Debug)]
pub(crate) struct Signable {
    pub dist: Arc<Distribution>,
    pub policy: Policy,
    pub json: String,
    pub hash: HashAlgorithm,
    pub granted: Granted,
}

/// A checked signed-URL request.
#[derive(Debug)]
pub struct UrlPlan {
    pub(crate) signable: Signable,
    pub(crate) url: SignableUrl,
}

/// A checked signed-cookies request.
#[derive(Debug)]
pub struct CookiePlan {
    pub(crate) signable: Signable,
}

impl UrlPlan {
    /// What this plan grants.
    pub fn granted(&self) -> &Granted {
        &self.signable.granted
    }
}

impl CookiePlan {
    /// What this plan grants.
    pub fn granted(&self) -> &Granted {
        &self.signable.granted
    }
}

/// Builds plans for one caller against one snapshot at one instant.
#[derive(Debug)]
pub struct Issuer<'a> {
    snapshot: &'a Snapshot,
    caller: &'a Caller,
    now: i64,
    client_ip: Option<IpAddr>,
}

fn invalid(code: ErrorCode, e: impl std::fmt::Display) -> IssueError {
    IssueError::invalid(code, e.to_string())
}

impl<'a> Issuer<'a> {
    /// An issuer for `caller`; `client_ip` is the caller's address as seen
    /// through trusted proxies (for `"ip_address": "client"`).
    pub fn new(snapshot: &'a Snapshot, caller: &'a Caller, now: i64, client_ip: Option<IpAddr>) -> Self {
        Self {
            snapshot,
            caller,
            now,
            client_ip,
        }
    }

    /// Checks a signed-URL request.
    pub fn plan_url(&self, req: &UrlRequest) -> Result<UrlPlan, IssueError> {
        let dist = self.distribution(req.distribution.as_deref())?;
        let path = match (&req.key, &req.path) {
            (Some(key), None) => encode_object_key(key).map_err(|e| invalid(ErrorCode::InvalidKey, e))?,
            (None, Some(path)) => {
                check_path(path, false)?;
                path.clone()
            }
            _ => {
                return Err(IssueError::invalid(
                    ErrorCode::InvalidRequest,
                    "give exactly one of \"key\" or \"path\"",
                ));
            }
        };
        self.check_prefix(&dist, &path)?;
        let mut url = String::with_capacity(dist.domain.len() + path.len() + 1);
        url.push_str(&dist.domain);
        url.push_str(&path);
        if let Some(query) = encode_query(&req.query)? {
            url.push('?');
            url.push_str(&query);
        }
        let url: SignableUrl = url.parse().map_err(|e: InputError| match e {
            InputError::ReservedParam(_) => invalid(ErrorCode::ReservedQueryParameter, e),
            e => invalid(ErrorCode::InvalidPath, e),
        })?;
        let (resource, ask_path) = match &req.policy_resource {
            None => (ResourcePattern::from(url.clone()), path.as_str()),
            Some(pattern) => {
                check_path(pattern, true)?;
                (self.pattern(&dist, pattern, Some(&url))?, pattern.as_str())
            }
        };
        let signable = self.signable(dist, resource, ask_path, false, Terms::of_url(req))?;
        Ok(UrlPlan { signable, url })
    }

    /// Checks a signed-cookies request.
    pub fn plan_cookies(&self, req: &CookieRequest) -> Result<CookiePlan, IssueError> {
        let dist = self.distribution(req.distribution.as_deref())?;
        let path = if req.resource.starts_with('/') {
            check_path(&req.resource, true)?;
            req.resource.clone()
        } else if req.resource.contains(['*', '?']) {
            // As an object key, `videos/abc/*` would be signed for one object
            // literally named `*` (`%2A`): never the folder that was meant.
            return Err(IssueError::invalid(
                ErrorCode::InvalidKey,
                format!(
                    "resource {:?} has no leading '/', so it is an object key and * or ? would be a literal \
                     character of one object's name; for a path pattern use {:?}",
                    req.resource,
                    format!("/{}", req.resource)
                ),
            ));
        } else {
            encode_object_key(&req.resource).map_err(|e| invalid(ErrorCode::InvalidKey, e))?
        };
        let resource = self.pattern(&dist, &path, None)?;
        let signable = self.signable(dist, resource, &path, true, Terms::of_cookies(req))?;
        Ok(CookiePlan { signable })
    }

    /// Times, IP binding and digest (common to URLs and cookies), then the
    /// grant check on exactly what will be signed.
    fn signable(
        &self,
        dist: Arc<Distribution>,
        resource: ResourcePattern,
        ask_path: &str,
        cookies: bool,
        terms: Terms<'_>,
    ) -> Result<Signable, IssueError> {
        let default_ttl = self
            .snapshot
            .grants
            .default_ttl(self.caller, &dist.name)
            .map_or(FALLBACK_TTL, |d| d.as_secs());
        let times = Times::of(&terms, self.now, default_ttl)?;
        let ip = self.ip(terms.ip_address)?;
        let hash = terms.hash_algorithm.unwrap_or(dist.hash_algorithm);
        let ask = &Ask {
            distribution: &dist.name,
            path: ask_path,
            ttl_seconds: times.ttl,
            wildcard: resource.has_wildcard(),
            cookies,
            ip_binding: ip.is_some(),
        };
        let (grant, pattern) = self.snapshot.grants.authorize(self.caller, ask)?;
        let step = dist.expiry_granularity.map(|g| g.as_secs());
        let expires = times.quantised(self.now, step, grant.max_ttl.as_secs());
        let policy =
            Policy::new(resource, expires, times.not_before, ip).map_err(|e| invalid(ErrorCode::InvalidTimes, e))?;
        let granted = Granted {
            distribution: dist.name.clone(),
            resource: policy.resource().as_str().to_owned(),
            grant: grant.name.clone(),
            pattern,
            expires,
            hash_algorithm: hash,
            key_pair_id: dist.active.id.as_str().to_owned(),
        };
        let json = policy.to_json();
        Ok(Signable {
            dist,
            policy,
            json,
            hash,
            granted,
        })
    }

    /// An unknown distribution is a 403, not a 404: callers learn nothing
    /// about distributions they are not granted. Without a name, the only
    /// distribution configured (or the only one granted to the caller) is used.
    fn distribution(&self, name: Option<&str>) -> Result<Arc<Distribution>, IssueError> {
        if let Some(name) = name {
            return self
                .snapshot
                .distribution(Some(name))
                .cloned()
                .ok_or_else(|| Denial::Distribution(name.to_owned()).into());
        }
        if let Some(only) = self.snapshot.distribution(None) {
            return Ok(Arc::clone(only));
        }
        let mut granted: Vec<&str> = self
            .snapshot
            .grants
            .for_caller(self.caller)
            .flat_map(|g| g.distributions.iter().map(String::as_str))
            .collect();
        granted.sort_unstable();
        granted.dedup();
        let chosen = match granted.as_slice() {
            [] => return Err(Denial::NoGrant.into()),
            [one] => *one,
            several => self.default_distribution().ok_or_else(|| {
                let names: Vec<String> = several.iter().map(|n| format!("{n:?}")).collect();
                IssueError::invalid(
                    ErrorCode::DistributionRequired,
                    format!(
                        "several distributions are available to this caller: name one of {} in \"distribution\"",
                        names.join(", ")
                    ),
                )
            })?,
        };
        self.snapshot
            .distribution(Some(chosen))
            .cloned()
            .ok_or_else(|| Denial::Distribution(chosen.to_owned()).into())
    }

    /// The `default_distribution` the caller's grants agree on, if any (grants
    /// naming different defaults name none: the caller must choose).
    fn default_distribution(&self) -> Option<&'a str> {
        let mut defaults = self
            .snapshot
            .grants
            .for_caller(self.caller)
            .filter_map(|g| g.default_distribution.as_deref());
        let first = defaults.next()?;
        defaults.all(|d| d == first).then_some(first)
    }

    fn check_prefix(&self, dist: &Distribution, path: &str) -> Result<(), IssueError> {
        if under_prefix(path, dist.path_prefix.as_deref()) {
            Ok(())
        } else {
            Err(Denial::Path(path.to_owned()).into())
        }
    }

    /// A policy resource from an already checked path pattern; when `url`
    /// is given it must be covered by the pattern (otherwise the signed URL
    /// could never work).
    fn pattern(
        &self,
        dist: &Distribution,
        pattern: &str,
        url: Option<&SignableUrl>,
    ) -> Result<ResourcePattern, IssueError> {
        self.check_prefix(dist, pattern)?;
        let resource: ResourcePattern = format!("{}{}", dist.domain, pattern)
            .parse()
            .map_err(|e| invalid(ErrorCode::InvalidPolicyResource, e))?;
        if let Some(url) = url
            && !crate::signing::wildcard::resource_matches(resource.as_str(), url.as_str())
        {
            return Err(IssueError::invalid(
                ErrorCode::PolicyResourceMismatch,
                "policy_resource does not cover the signed URL",
            ));
        }
        Ok(resource)
    }

    fn ip(&self, ip: Option<&IpRequest>) -> Result<Option<CidrV4>, IssueError> {
        let bad = |detail: String| IssueError::invalid(ErrorCode::InvalidIpAddress, detail);
        match ip {
            None => Ok(None),
            Some(IpRequest::Range(s)) => s.parse().map(Some).map_err(|e| bad(format!("{e}"))),
            Some(IpRequest::Client) => match self.client_ip {
                Some(IpAddr::V4(v4)) => Ok(CidrV4::new(v4, 32)),
                Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                    Some(v4) => Ok(CidrV4::new(v4, 32)),
                    None => Err(bad(
                        "the client address is IPv6, which CloudFront's IpAddress condition cannot express".into(),
                    )),
                },
                None => Err(bad("the client address is unknown".into())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::signing::{KeySpec, PrivateKey};

    const NOW: i64 = 1_800_000_000;

    const CONFIG: &str = r#"
[auth]
issuers = ["i"]
audiences = ["a"]
algorithms = ["HS256"]

[[distributions]]
name = "reports"
domain = "https://cdn.example.com"
path_prefix = "/uploads"
keys = [{ key_pair_id = "KREPORTS", private_key_file = "-" }]

[[distributions]]
name = "videos"
domain = "https://v.example.com"
keys = [{ key_pair_id = "KVIDEOS", private_key_file = "-" }]

[[grants]]
name = "mailer"
subjects = ["mailer"]
distributions = ["reports"]
allow = ["/uploads/*"]
max_ttl = "7d"

[[grants]]
name = "both"
subjects = ["both"]
distributions = ["reports", "videos"]
allow = ["/*"]
max_ttl = "1h"
allow_wildcard_policy = true
allow_cookies = true

[[grants]]
name = "rolled-out"
subjects = ["rolled-out"]
distributions = ["reports", "videos"]
default_distribution = "reports"
allow = ["/*"]
max_ttl = "1h"
"#;

    fn snapshot() -> Snapshot {
        let config = crate::config::from_toml_unchecked(CONFIG).unwrap();
        let dists = config
            .distributions
            .iter()
            .map(|d| {
                let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
                let id = d.keys[0].key_pair_id.parse().unwrap();
                Distribution::from_keys(d, vec![(id, true, key)]).unwrap()
            })
            .collect();
        Snapshot::from_parts(dists, &config)
    }

    fn caller(sub: &str) -> Caller {
        Caller {
            subject: Some(sub.into()),
            client: None,
            issuer: "i".into(),
            scopes: vec![],
            groups: vec![],
            expires_at: i64::MAX,
            claims: Default::default(),
        }
    }

    fn url(snapshot: &Snapshot, sub: &str, req: UrlRequest) -> Result<UrlPlan, IssueError> {
        Issuer::new(snapshot, &caller(sub), NOW, None).plan_url(&req)
    }

    fn key(k: &str) -> UrlRequest {
        UrlRequest {
            distribution: Some("reports".into()),
            key: Some(k.into()),
            ..UrlRequest::default()
        }
    }

    #[test]
    fn a_key_is_encoded_under_the_domain_and_granted_for_the_default_lifetime() {
        let s = snapshot();
        let plan = url(&s, "mailer", key("uploads/Q1 report.pdf")).unwrap();
        assert_eq!(plan.url.as_str(), "https://cdn.example.com/uploads/Q1%20report.pdf");
        let g = plan.granted();
        assert_eq!((g.grant.as_str(), g.expires), ("mailer", NOW + 3600));
        assert_eq!(g.resource, plan.url.as_str());
        assert_eq!(g.key_pair_id, "KREPORTS");
    }

    #[test]
    fn each_refusal_has_its_code() {
        let s = snapshot();
        let code = |sub: &str, req: UrlRequest| url(&s, sub, req).unwrap_err().code();
        let both = UrlRequest {
            path: Some("/uploads/a".into()),
            ..key("uploads/a")
        };
        assert_eq!(code("mailer", both), ErrorCode::InvalidRequest);
        assert_eq!(
            code("mailer", key("secret/a.pdf")),
            ErrorCode::Forbidden,
            "outside the prefix"
        );
        assert_eq!(code("mailer", key("uploads/../a")), ErrorCode::InvalidKey);
        let mut query = BTreeMap::new();
        query.insert("expires".to_owned(), "1".to_owned());
        let smuggled = UrlRequest {
            query,
            ..key("uploads/a")
        };
        assert_eq!(code("mailer", smuggled), ErrorCode::ReservedQueryParameter);
        let nameless = UrlRequest {
            distribution: None,
            ..key("uploads/a")
        };
        let e = url(&s, "both", nameless.clone()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::DistributionRequired);
        assert!(e.to_string().contains(r#"name one of "reports", "videos""#), "{e}");
        let defaulted = url(&s, "rolled-out", nameless).unwrap();
        assert_eq!(
            defaulted.granted().distribution,
            "reports",
            "the grant's default_distribution"
        );
        let elsewhere = UrlRequest {
            policy_resource: Some("/uploads/b/*".into()),
            ..key("uploads/a")
        };
        assert_eq!(code("both", elsewhere), ErrorCode::PolicyResourceMismatch);
    }

    #[test]
    fn a_cookie_pattern_is_checked_once_and_granted_as_asked() {
        let s = snapshot();
        let both = caller("both");
        let issuer = Issuer::new(&s, &both, NOW, None);
        let req = |resource: &str| CookieRequest {
            distribution: Some("videos".into()),
            resource: resource.into(),
            ttl_seconds: Some(600),
            ..CookieRequest::default()
        };
        let plan = issuer.plan_cookies(&req("/hls/abc/*")).unwrap();
        assert_eq!(plan.granted().resource, "https://v.example.com/hls/abc/*");
        assert_eq!(plan.granted().expires, NOW + 600);
        let refused = issuer.plan_cookies(&req("/hls//*")).unwrap_err();
        assert_eq!(refused.code(), ErrorCode::InvalidPath);
        let key_folder = issuer.plan_cookies(&req("hls/abc/*")).unwrap_err();
        assert_eq!(key_folder.code(), ErrorCode::InvalidKey);
        assert!(key_folder.to_string().contains(r#"use "/hls/abc/*""#), "{key_folder}");
    }
}
