//! Grants: which callers (of which issuers) may sign which paths of which
//! distributions, for how long, and with which features. Default deny.

use std::time::Duration;

use wildmatch::WildMatch;

use super::caller::Caller;
use super::template::{Template, Unfilled};
use crate::config::GrantConfig;

/// One compiled grant.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Name, for audit events and `/v1/grants/me`.
    pub name: String,
    issuers: Vec<String>,
    subjects: Vec<String>,
    clients: Vec<String>,
    scopes: Vec<String>,
    groups: Vec<String>,
    /// Distribution names covered.
    pub distributions: Vec<String>,
    /// The one used when a request names none and several are granted.
    pub default_distribution: Option<String>,
    /// Path patterns as configured (templates unfilled).
    pub allow: Vec<String>,
    templates: Vec<Template>,
    /// Per pattern, its matcher when it has no placeholder (compiled once;
    /// a template's is compiled per caller).
    compiled: Vec<Option<WildMatch>>,
    /// Longest lifetime.
    pub max_ttl: Duration,
    /// Lifetime when none is asked.
    pub default_ttl: Duration,
    /// May sign wildcard policies.
    pub allow_wildcard_policy: bool,
    /// May ask for cookies.
    pub allow_cookies: bool,
    /// May bind to an IP range.
    pub allow_ip_binding: bool,
}

impl From<&GrantConfig> for Grant {
    fn from(g: &GrantConfig) -> Self {
        // Validation parsed every pattern; one that does not parse is
        // dropped with its text (it matches nothing).
        let (allow, templates): (Vec<String>, Vec<Template>) = g
            .allow
            .iter()
            .filter_map(|p| Some((p.clone(), Template::parse(p).ok()?)))
            .unzip();
        let compiled = templates
            .iter()
            .zip(&allow)
            .map(|(t, p)| t.is_literal().then(|| WildMatch::new(p)))
            .collect();
        Self {
            name: g.name.clone(),
            issuers: g.issuers.clone(),
            subjects: g.subjects.clone(),
            clients: g.clients.clone(),
            scopes: g.scopes.clone(),
            groups: g.groups.clone(),
            distributions: g.distributions.clone(),
            default_distribution: g.default_distribution.clone(),
            allow,
            templates,
            compiled,
            max_ttl: g.max_ttl,
            default_ttl: g.default_ttl.min(g.max_ttl),
            allow_wildcard_policy: g.allow_wildcard_policy,
            allow_cookies: g.allow_cookies,
            allow_ip_binding: g.allow_ip_binding,
        }
    }
}

/// What a caller asks to sign.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// Distribution name.
    pub distribution: &'a str,
    /// URL path (percent-encoded) or, when `wildcard`, a path pattern.
    pub path: &'a str,
    /// Lifetime asked, in seconds (from now to expiry).
    pub ttl_seconds: u64,
    /// The policy resource holds wildcards.
    pub wildcard: bool,
    /// Signed cookies rather than a URL.
    pub cookies: bool,
    /// The policy binds an IP range.
    pub ip_binding: bool,
}

/// Why a caller may not sign what it asked, in increasing specificity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum Denial {
    /// No grant matches the caller at all.
    #[error("no grant applies to this caller")]
    NoGrant,
    /// The caller has grants, but none for this distribution.
    #[error("not granted for distribution {0:?}")]
    Distribution(String),
    /// No grant allows this path.
    #[error("path {0:?} is outside the caller's allowed patterns")]
    Path(String),
    /// No grant allows this path, and a claim template of a grant that
    /// might have could not be filled from the caller's token.
    #[error("{0}")]
    Unfilled(Box<UnfilledPattern>),
    /// Wildcard policies are not granted.
    #[error("wildcard policies are not granted to this caller")]
    Wildcard,
    /// Cookies are not granted.
    #[error("signed cookies are not granted to this caller")]
    Cookies,
    /// IP binding is not granted.
    #[error("IP-bound policies are not granted to this caller")]
    IpBinding,
    /// The lifetime exceeds `max_ttl`.
    #[error("lifetime of {asked}s exceeds the granted maximum of {max}s")]
    Ttl {
        /// Seconds asked.
        asked: u64,
        /// Seconds allowed.
        max: u64,
    },
}

/// A path no pattern allowed, where one grant's template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[error(
    "path {path:?} is outside the caller's allowed patterns; pattern {pattern:?} of grant {grant:?} matches nothing for this caller: {why}"
)]
pub struct UnfilledPattern {
    /// The path asked.
    pub path: String,
    /// The grant.
    pub grant: String,
    /// Its pattern as configured.
    pub pattern: String,
    /// Which placeholder, and what is wrong with its value.
    pub why: Unfilled,
}

impl Grant {
    /// Whether the grant's matchers all match `caller`.
    pub fn applies_to(&self, caller: &Caller) -> bool {
        let any = |list: &[String], value: Option<&String>| list.is_empty() || value.is_some_and(|v| list.contains(v));
        let overlap = |list: &[String], values: &[String]| list.is_empty() || values.iter().any(|v| list.contains(v));
        (self.issuers.is_empty() || self.issuers.contains(&caller.issuer))
            && any(&self.subjects, caller.subject.as_ref())
            && any(&self.clients, caller.client.as_ref())
            && overlap(&self.scopes, &caller.scopes)
            && overlap(&self.groups, &caller.groups)
    }

    /// The allow patterns for `caller`: each filled, or why it cannot be.
    pub fn patterns(&self, caller: &Caller) -> Vec<(&str, Result<String, Unfilled>)> {
        self.allow
            .iter()
            .zip(&self.templates)
            .map(|(raw, t)| (raw.as_str(), t.expand(caller)))
            .collect()
    }

    /// Whether this grant allows `ask` (and by which filled pattern), or the
    /// first reason it does not.
    fn check(&self, caller: &Caller, ask: &Ask<'_>) -> Result<String, Denial> {
        if !self.distributions.iter().any(|d| d == ask.distribution) {
            return Err(Denial::Distribution(ask.distribution.to_owned()));
        }
        let pattern = self.path_allowed(caller, ask)?;
        if ask.wildcard && !self.allow_wildcard_policy {
            return Err(Denial::Wildcard);
        }
        if ask.cookies && !self.allow_cookies {
            return Err(Denial::Cookies);
        }
        if ask.ip_binding && !self.allow_ip_binding {
            return Err(Denial::IpBinding);
        }
        if ask.ttl_seconds > self.max_ttl.as_secs() {
            return Err(Denial::Ttl {
                asked: ask.ttl_seconds,
                max: self.max_ttl.as_secs(),
            });
        }
        Ok(pattern)
    }

    /// The first filled pattern allowing the path. A concrete path must
    /// match it. A wildcard pattern must stay inside a prefix-style pattern
    /// (`/uploads/*`): its part before the first wildcard must start with
    /// that prefix, so it can never grant more than the pattern does. When
    /// none allows it and a template could not be filled, that is the reason.
    fn path_allowed(&self, caller: &Caller, ask: &Ask<'_>) -> Result<String, Denial> {
        let literal = ask.path.split(['*', '?']).next().unwrap_or_default();
        let mut unfilled = None;
        for ((raw, filled), compiled) in self.patterns(caller).into_iter().zip(&self.compiled) {
            let pattern = match filled {
                Ok(p) => p,
                Err(why) => {
                    unfilled.get_or_insert((raw.to_owned(), why));
                    continue;
                }
            };
            let allowed = if ask.wildcard {
                pattern
                    .strip_suffix('*')
                    .filter(|prefix| !prefix.contains(['*', '?']))
                    .is_some_and(|prefix| literal.starts_with(prefix))
            } else {
                match compiled {
                    Some(m) => m.matches(ask.path),
                    None => WildMatch::new(&pattern).matches(ask.path),
                }
            };
            if allowed {
                return Ok(pattern);
            }
        }
        Err(match unfilled {
            Some((pattern, why)) => Denial::Unfilled(Box::new(UnfilledPattern {
                path: ask.path.to_owned(),
                grant: self.name.clone(),
                pattern,
                why,
            })),
            None => Denial::Path(ask.path.to_owned()),
        })
    }
}

/// The configured grants.
#[derive(Debug, Clone, Default)]
pub struct GrantSet {
    grants: Vec<Grant>,
}

impl GrantSet {
    /// Compiles the configured grants.
    pub fn new(configs: &[GrantConfig]) -> Self {
        Self {
            grants: configs.iter().map(Grant::from).collect(),
        }
    }

    /// Grants that apply to `caller`.
    pub fn for_caller<'a>(&'a self, caller: &'a Caller) -> impl Iterator<Item = &'a Grant> + 'a {
        self.grants.iter().filter(move |g| g.applies_to(caller))
    }

    /// The first grant allowing `ask` with the filled pattern that
    /// allowed it, or the most specific denial.
    pub fn authorize<'s>(&'s self, caller: &'s Caller, ask: &Ask<'_>) -> Result<(&'s Grant, String), Denial> {
        let mut best = Denial::NoGrant;
        for grant in self.for_caller(caller) {
            match grant.check(caller, ask) {
                Ok(pattern) => return Ok((grant, pattern)),
                Err(denial) => best = best.max(denial),
            }
        }
        Err(best)
    }

    /// The default lifetime for `caller` on `distribution`: the shortest
    /// `default_ttl` among grants that could apply.
    pub fn default_ttl(&self, caller: &Caller, distribution: &str) -> Option<Duration> {
        self.for_caller(caller)
            .filter(|g| g.distributions.iter().any(|d| d == distribution))
            .map(|g| g.default_ttl)
            .min()
    }
}

#[cfg(test)]
mod tests;
