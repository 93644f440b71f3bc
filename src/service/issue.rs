//! From a caller's request to a signed answer: resolve the distribution,
//! build and check the URL or pattern, compute times from the clock, ask the
//! grants, then sign on the pool.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::distribution::Distribution;
use super::error::IssueError;
use super::paths::{check_path, encode_query, under_prefix};
use super::requests::{CookieRequest, IpRequest, UrlRequest};
use super::snapshot::Snapshot;
use crate::auth::{Ask, Caller, Denial};
use crate::config::SameSite;
use crate::signing::resource::encode_object_key;
use crate::signing::{CidrV4, HashAlgorithm, Policy, PolicyType, ResourcePattern, SignableUrl, Signer};

/// A signed URL as returned to callers.
#[derive(Debug, Clone, Serialize)]
pub struct UrlAnswer {
    /// The signed URL (a credential: never logged).
    pub url: String,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// Expiry, epoch seconds.
    pub expires: i64,
    /// The key pair id that signed.
    pub key_pair_id: String,
    /// `canned` or `custom`.
    pub policy_type: PolicyType,
    /// `SHA1` or `SHA256`.
    pub hash_algorithm: HashAlgorithm,
}

/// Signed cookies as returned to callers.
#[derive(Debug, Clone, Serialize)]
pub struct CookieAnswer {
    /// Cookie names and values, in CloudFront's order.
    pub cookies: OrderedCookies,
    /// Complete `Set-Cookie` header values with the distribution's attributes.
    pub set_cookie: Vec<String>,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// Expiry, epoch seconds.
    pub expires: i64,
    /// The key pair id that signed.
    pub key_pair_id: String,
    /// `canned` or `custom`.
    pub policy_type: PolicyType,
    /// `SHA1` or `SHA256`.
    pub hash_algorithm: HashAlgorithm,
}

/// Cookies serialised as a JSON object that keeps their order.
#[derive(Debug, Clone)]
pub struct OrderedCookies(pub Vec<(&'static str, String)>);

impl Serialize for OrderedCookies {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// What a signature is about, for the audit log (no credential in it).
#[derive(Debug, Clone, Serialize)]
pub struct Grantee {
    /// Distribution name.
    pub distribution: String,
    /// Resource or pattern granted (a URL without any signature).
    pub resource: String,
    /// Grant that allowed it.
    pub grant: String,
    /// Policy kind.
    pub policy_type: PolicyType,
    /// Expiry, epoch seconds.
    pub expires: i64,
    /// Digest.
    pub hash_algorithm: HashAlgorithm,
    /// Key pair id that signs.
    pub key_pair_id: String,
}

/// A checked request, ready to be signed on the pool.
#[derive(Debug)]
pub struct Plan {
    dist: Arc<Distribution>,
    url: Option<SignableUrl>,
    policy: Policy,
    json: String,
    hash: HashAlgorithm,
    /// Audit description of what will be signed.
    pub grantee: Grantee,
}

/// Builds plans for one caller against one snapshot at one instant.
#[derive(Debug)]
pub struct Issuer<'a> {
    snapshot: &'a Snapshot,
    caller: &'a Caller,
    now: i64,
    client_ip: Option<IpAddr>,
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
    pub fn plan_url(&self, req: &UrlRequest) -> Result<Plan, IssueError> {
        let dist = self.distribution(req.distribution.as_deref())?;
        let path = match (&req.key, &req.path) {
            (Some(key), None) => {
                encode_object_key(key).map_err(|e| IssueError::invalid("invalid_key", e.to_string()))?
            }
            (None, Some(path)) => {
                check_path(path, false)?;
                path.clone()
            }
            _ => {
                return Err(IssueError::invalid(
                    "invalid_request",
                    "give exactly one of \"key\" or \"path\"",
                ));
            }
        };
        self.check_prefix(&dist, &path)?;
        let mut url = format!("{}{}", dist.domain, path);
        if let Some(query) = encode_query(&req.query)? {
            url.push('?');
            url.push_str(&query);
        }
        let url: SignableUrl = url
            .parse()
            .map_err(|e| IssueError::invalid("invalid_path", format!("{e}")))?;
        let (resource, pattern_path) = match &req.policy_resource {
            None => (ResourcePattern::from(url.clone()), None),
            Some(pattern) => (self.pattern(&dist, pattern, Some(&url))?, Some(pattern.as_str())),
        };
        let ask_path = pattern_path.unwrap_or(&path).to_owned();
        self.finish(dist, Some(url), resource, &ask_path, false, Terms::of_url(req))
    }

    /// Checks a signed-cookies request.
    pub fn plan_cookies(&self, req: &CookieRequest) -> Result<Plan, IssueError> {
        let dist = self.distribution(req.distribution.as_deref())?;
        let path = if req.resource.starts_with('/') {
            check_path(&req.resource, true)?;
            req.resource.clone()
        } else {
            encode_object_key(&req.resource).map_err(|e| IssueError::invalid("invalid_key", e.to_string()))?
        };
        let resource = self.pattern(&dist, &path, None)?;
        self.finish(dist, None, resource, &path, true, Terms::of_cookies(req))
    }

    /// Times, IP binding and digest (common to URLs and cookies), then the
    /// grant check on exactly what will be signed.
    fn finish(
        &self,
        dist: Arc<Distribution>,
        url: Option<SignableUrl>,
        resource: ResourcePattern,
        ask_path: &str,
        cookies: bool,
        terms: Terms<'_>,
    ) -> Result<Plan, IssueError> {
        let times = self.times(terms.ttl_seconds, terms.expires_at, terms.not_before, &dist)?;
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
        let grant = self.snapshot.grants.authorize(self.caller, ask)?;
        let expires = self.quantise(&dist, &times, grant.max_ttl.as_secs());
        let policy = Policy::new(resource, expires, times.not_before, ip)
            .map_err(|e| IssueError::invalid("invalid_times", e.to_string()))?;
        let policy_type = match &url {
            Some(url) => crate::signing::signer::url_policy_type(url, &policy),
            None => policy.policy_type(),
        };
        let grantee = Grantee {
            distribution: dist.name.clone(),
            resource: policy.resource().to_string(),
            grant: grant.name.clone(),
            policy_type,
            expires,
            hash_algorithm: hash,
            key_pair_id: dist.active.id.to_string(),
        };
        let json = policy.to_json();
        Ok(Plan {
            dist,
            url,
            policy,
            json,
            hash,
            grantee,
        })
    }

    /// Rounds a relative expiry up to the distribution's granularity, unless
    /// that would exceed the grant's `max_ttl` (then the exact one is kept).
    fn quantise(&self, dist: &Distribution, times: &Times, max_ttl: u64) -> i64 {
        let Some(step) = dist.expiry_granularity.map(|g| g.as_secs() as i64).filter(|s| *s > 0) else {
            return times.expires;
        };
        if !times.relative {
            return times.expires;
        }
        // Expiries are positive, so rounding up is plain integer arithmetic.
        let rounded = (times.expires.saturating_add(step - 1) / step).saturating_mul(step);
        let fits = rounded <= LAST_EXPIRY && u64::try_from(rounded - self.now).is_ok_and(|ttl| ttl <= max_ttl);
        if fits { rounded } else { times.expires }
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
        match granted.as_slice() {
            [] => Err(Denial::NoGrant.into()),
            [one] => self
                .snapshot
                .distribution(Some(one))
                .cloned()
                .ok_or_else(|| Denial::Distribution((*one).to_owned()).into()),
            _ => Err(IssueError::invalid(
                "distribution_required",
                "several distributions are available to this caller: name one",
            )),
        }
    }

    fn check_prefix(&self, dist: &Distribution, path: &str) -> Result<(), IssueError> {
        if under_prefix(path, dist.path_prefix.as_deref()) {
            Ok(())
        } else {
            Err(Denial::Path(path.to_owned()).into())
        }
    }

    /// A policy resource from a path pattern; when `url` is given it must be
    /// covered by the pattern (otherwise the signed URL could never work).
    fn pattern(
        &self,
        dist: &Distribution,
        pattern: &str,
        url: Option<&SignableUrl>,
    ) -> Result<ResourcePattern, IssueError> {
        check_path(pattern, true)?;
        self.check_prefix(dist, pattern)?;
        let resource: ResourcePattern = format!("{}{}", dist.domain, pattern)
            .parse()
            .map_err(|e| IssueError::invalid("invalid_policy_resource", format!("{e}")))?;
        if let Some(url) = url
            && !crate::signing::wildcard::resource_matches(resource.as_str(), url.as_str())
        {
            return Err(IssueError::invalid(
                "policy_resource_mismatch",
                "policy_resource does not cover the signed URL",
            ));
        }
        Ok(resource)
    }

    fn times(
        &self,
        ttl: Option<u64>,
        expires_at: Option<&str>,
        not_before: Option<&str>,
        dist: &Distribution,
    ) -> Result<Times, IssueError> {
        let expires = match (ttl, expires_at) {
            (Some(_), Some(_)) => {
                return Err(IssueError::invalid(
                    "invalid_times",
                    "give ttl_seconds or expires_at, not both",
                ));
            }
            (Some(0), None) => return Err(IssueError::invalid("invalid_times", "ttl_seconds must be positive")),
            (Some(ttl), None) => i64::try_from(ttl)
                .ok()
                .and_then(|t| self.now.checked_add(t))
                .ok_or_else(|| IssueError::invalid("invalid_times", "ttl_seconds is too large"))?,
            (None, Some(at)) => parse_time("expires_at", at)?,
            (None, None) => {
                let ttl = self
                    .snapshot
                    .grants
                    .default_ttl(self.caller, &dist.name)
                    .map_or(3600, |d| d.as_secs());
                self.now.saturating_add(ttl as i64)
            }
        };
        if expires <= self.now {
            return Err(IssueError::invalid("invalid_times", "expiry must be in the future"));
        }
        if expires > LAST_EXPIRY {
            return Err(IssueError::invalid(
                "invalid_times",
                "expiry must be at or before 9999-12-31T23:59:59Z",
            ));
        }
        let not_before = not_before.map(|s| parse_time("not_before", s)).transpose()?;
        if not_before.is_some_and(|nb| nb >= expires) {
            return Err(IssueError::invalid(
                "invalid_times",
                "not_before must be before the expiry",
            ));
        }
        Ok(Times {
            relative: expires_at.is_none(),
            expires,
            not_before,
            ttl: (expires - self.now) as u64,
        })
    }

    fn ip(&self, ip: Option<&IpRequest>) -> Result<Option<CidrV4>, IssueError> {
        let bad = |detail: String| IssueError::invalid("invalid_ip_address", detail);
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

/// The last instant RFC 3339 can write (9999-12-31T23:59:59Z): answers give
/// the expiry as an RFC 3339 date-time, so no later expiry is signed.
const LAST_EXPIRY: i64 = 253_402_300_799;

/// The request fields URLs and cookies share.
struct Terms<'r> {
    ttl_seconds: Option<u64>,
    expires_at: Option<&'r str>,
    not_before: Option<&'r str>,
    ip_address: Option<&'r IpRequest>,
    hash_algorithm: Option<HashAlgorithm>,
}

impl<'r> Terms<'r> {
    fn of_url(req: &'r UrlRequest) -> Self {
        Self {
            ttl_seconds: req.ttl_seconds,
            expires_at: req.expires_at.as_deref(),
            not_before: req.not_before.as_deref(),
            ip_address: req.ip_address.as_ref(),
            hash_algorithm: req.hash_algorithm,
        }
    }

    fn of_cookies(req: &'r CookieRequest) -> Self {
        Self {
            ttl_seconds: req.ttl_seconds,
            expires_at: req.expires_at.as_deref(),
            not_before: req.not_before.as_deref(),
            ip_address: req.ip_address.as_ref(),
            hash_algorithm: req.hash_algorithm,
        }
    }
}

struct Times {
    expires: i64,
    not_before: Option<i64>,
    ttl: u64,
    /// The expiry came from a lifetime (not an absolute `expires_at`), so it
    /// may be rounded to the distribution's granularity.
    relative: bool,
}

fn parse_time(field: &str, text: &str) -> Result<i64, IssueError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            IssueError::invalid(
                "invalid_times",
                format!("{field} must be an RFC 3339 date-time like 2026-12-31T23:59:59Z"),
            )
        })
}

fn rfc3339(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| epoch.to_string())
}

impl Plan {
    /// The answer from the signature cache, if this policy was signed before.
    /// Cheap: call it on the reactor before going to the signing pool.
    pub fn cached_url(&self) -> Option<UrlAnswer> {
        let signature = self.dist.signatures.as_ref()?.get(self.hash, &self.json)?;
        self.url_answer(&signature).ok()
    }

    /// The cached cookies, if this policy was signed before.
    pub fn cached_cookies(&self) -> Option<CookieAnswer> {
        let signature = self.dist.signatures.as_ref()?.get(self.hash, &self.json)?;
        Some(self.cookie_answer(signature.to_string()))
    }

    /// Signs a URL plan. CPU-bound: call on the signing pool.
    pub fn sign_url(&self) -> Result<UrlAnswer, IssueError> {
        self.url_answer(&self.signature()?)
    }

    /// Signs a cookie plan. CPU-bound: call on the signing pool.
    pub fn sign_cookies(&self) -> Result<CookieAnswer, IssueError> {
        Ok(self.cookie_answer(self.signature()?.to_string()))
    }

    fn signer(&self) -> Signer<'_> {
        Signer::new(&self.dist.active.key, &self.dist.active.id)
    }

    /// Signs the policy and remembers the signature.
    fn signature(&self) -> Result<Arc<str>, IssueError> {
        let signature: Arc<str> = self
            .signer()
            .signature(&self.json, self.hash)
            .map_err(IssueError::Signing)?
            .into();
        if let Some(cache) = &self.dist.signatures {
            cache.insert(self.hash, self.json.clone(), Arc::clone(&signature));
        }
        Ok(signature)
    }

    fn url_answer(&self, signature: &str) -> Result<UrlAnswer, IssueError> {
        let url = self
            .url
            .as_ref()
            .ok_or_else(|| IssueError::Internal("not a URL plan".into()))?;
        let signed = self
            .signer()
            .assemble_url(url, &self.policy, &self.json, self.hash, signature);
        Ok(UrlAnswer {
            url: signed.url,
            expires_at: rfc3339(signed.expires),
            expires: signed.expires,
            key_pair_id: signed.key_pair_id,
            policy_type: signed.policy_type,
            hash_algorithm: signed.hash_algorithm,
        })
    }

    fn cookie_answer(&self, signature: String) -> CookieAnswer {
        let signed = self
            .signer()
            .assemble_cookies(&self.policy, &self.json, self.hash, signature);
        let attrs = cookie_attributes(&self.dist.cookies);
        let set_cookie = signed.cookies.iter().map(|(n, v)| format!("{n}={v}{attrs}")).collect();
        CookieAnswer {
            cookies: OrderedCookies(signed.cookies),
            set_cookie,
            expires_at: rfc3339(signed.expires),
            expires: signed.expires,
            key_pair_id: signed.key_pair_id,
            policy_type: signed.policy_type,
            hash_algorithm: signed.hash_algorithm,
        }
    }
}

/// `; Domain=..; Path=..; Secure; HttpOnly; SameSite=..` — no `Expires` or
/// `Max-Age`: AWS recommends session cookies; the policy carries the expiry.
fn cookie_attributes(c: &crate::config::CookieConfig) -> String {
    let mut out = String::new();
    if let Some(domain) = &c.domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    out.push_str("; Path=");
    out.push_str(&c.path);
    if c.secure {
        out.push_str("; Secure");
    }
    if c.http_only {
        out.push_str("; HttpOnly");
    }
    out.push_str(match c.same_site {
        SameSite::Lax => "; SameSite=Lax",
        SameSite::Strict => "; SameSite=Strict",
        SameSite::None => "; SameSite=None",
    });
    out
}
