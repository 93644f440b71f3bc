//! Checks that need no file system: names, references between sections,
//! ranges. Key files are read (and checked) when the service state is built.

use std::collections::HashSet;

use super::{Config, ConfigError};
use crate::auth::parse_algorithm;
use crate::signing::{CidrV4, KeyPairId};

/// Every problem in `config`, or `Ok`.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    check_auth(config, &mut problems);
    check_distributions(config, &mut problems);
    check_grants(config, &mut problems);
    check_server(config, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { problems })
    }
}

fn check_auth(config: &Config, problems: &mut Vec<String>) {
    let auth = &config.auth;
    if auth.issuers.is_empty() {
        problems.push("auth.issuers: at least one issuer is required".into());
    }
    if auth.audiences.is_empty() {
        problems.push("auth.audiences: at least one audience is required".into());
    }
    if auth.algorithms.is_empty() {
        problems.push("auth.algorithms: list the JWT algorithms to accept, e.g. [\"RS256\"]".into());
    }
    for alg in &auth.algorithms {
        if let Err(e) = parse_algorithm(alg) {
            problems.push(format!("auth.algorithms: {e}"));
        }
    }
    let sources = auth.hmac_secret_files.len() + auth.public_keys.len();
    if sources == 0 && auth.jwks_file.is_none() && auth.jwks_url.is_none() {
        problems.push("auth: no JWT key source (hmac_secret_files, public_keys, jwks_file or jwks_url)".into());
    }
    if let Some(url) = &auth.jwks_url
        && let Err(why) = check_jwks_url(url)
    {
        problems.push(format!("auth.jwks_url: {why}"));
    }
    for pk in &auth.public_keys {
        if let Some(Err(e)) = pk.algorithm.as_deref().map(parse_algorithm) {
            problems.push(format!("auth.public_keys[{}].algorithm: {e}", pk.kid));
        }
    }
}

/// A JWKS decides who may sign anything, so it must come over HTTPS; plain
/// HTTP only from this machine (a provider on loopback, tests).
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

fn check_distributions(config: &Config, problems: &mut Vec<String>) {
    if config.distributions.is_empty() {
        problems.push("distributions: at least one [[distributions]] entry is required".into());
    }
    let mut names = HashSet::new();
    for d in &config.distributions {
        let at = format!("distributions[{}]", d.name);
        if d.name.is_empty() || !names.insert(d.name.as_str()) {
            problems.push(format!("{at}: name must be non-empty and unique"));
        }
        let domain_ok = (d.domain.starts_with("https://") || d.domain.starts_with("http://"))
            && d.domain
                .split_once("://")
                .is_some_and(|(_, host)| !host.is_empty() && !host.contains(['/', '?', '#', '*']));
        if !domain_ok {
            problems.push(format!(
                "{at}.domain: must be a base URL like https://cdn.example.com (no path), got {:?}",
                d.domain
            ));
        }
        if let Some(prefix) = &d.path_prefix
            && (!prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains(['*', '?', '#']))
        {
            problems.push(format!(
                "{at}.path_prefix: must look like /uploads (leading /, no trailing /, no wildcards)"
            ));
        } else if let Some(Err(e)) = d.path_prefix.as_deref().map(|p| crate::service::check_path(p, false)) {
            problems.push(format!("{at}.path_prefix: {e}"));
        }
        check_keys(&at, d, problems);
        if d.cookies.same_site == super::SameSite::None && !d.cookies.secure {
            problems.push(format!("{at}.cookies: same_site = \"None\" requires secure = true"));
        }
    }
}

fn check_keys(at: &str, d: &super::DistributionConfig, problems: &mut Vec<String>) {
    if d.keys.is_empty() {
        problems.push(format!("{at}.keys: at least one signing key is required"));
    }
    for k in &d.keys {
        if let Err(e) = k.key_pair_id.parse::<KeyPairId>() {
            problems.push(format!("{at}.keys: {e}"));
        }
    }
    let active = d.keys.iter().filter(|k| k.active).count();
    if d.keys.len() > 1 && active != 1 {
        problems.push(format!(
            "{at}.keys: exactly one key must have active = true (found {active})"
        ));
    }
    if d.keys.len() == 1 && active > 1 {
        problems.push(format!("{at}.keys: only one key may be active"));
    }
}

fn check_grants(config: &Config, problems: &mut Vec<String>) {
    let known: HashSet<&str> = config.distributions.iter().map(|d| d.name.as_str()).collect();
    for g in &config.grants {
        let at = format!("grants[{}]", g.name);
        if g.subjects.is_empty() && g.clients.is_empty() && g.scopes.is_empty() && g.groups.is_empty() {
            problems.push(format!(
                "{at}: name at least one matcher (subjects, clients, scopes or groups)"
            ));
        }
        if g.distributions.is_empty() {
            problems.push(format!("{at}.distributions: list at least one distribution"));
        }
        for name in g.distributions.iter().filter(|n| !known.contains(n.as_str())) {
            problems.push(format!("{at}.distributions: unknown distribution {name:?}"));
        }
        if g.allow.is_empty() {
            problems.push(format!(
                "{at}.allow: list at least one path pattern, e.g. \"/uploads/*\""
            ));
        }
        for p in &g.allow {
            if let Err(e) = crate::service::check_grant_pattern(p) {
                problems.push(format!("{at}.allow: pattern {p:?}: {e}"));
            }
        }
        if g.max_ttl.is_zero() {
            problems.push(format!("{at}.max_ttl: must be positive"));
        }
        if g.default_ttl.is_zero() {
            problems.push(format!("{at}.default_ttl: must be positive"));
        }
    }
}

fn check_server(config: &Config, problems: &mut Vec<String>) {
    for p in &config.server.trusted_proxies {
        if let Err(e) = p.parse::<CidrV4>() {
            problems.push(format!("server.trusted_proxies: {e}"));
        }
    }
    if config.server.batch_body_limit_bytes == 0 {
        problems.push("server.batch_body_limit_bytes: must be positive".into());
    }
    if config.server.body_limit_bytes == 0 {
        problems.push("server.body_limit_bytes: must be positive".into());
    }
    if config.server.max_connections == 0 {
        problems.push("server.max_connections: must be positive".into());
    }
    if config.server.header_read_timeout.is_zero() || config.server.idle_timeout.is_zero() {
        problems.push("server.header_read_timeout and server.idle_timeout: must be positive".into());
    }
    if config.signing.queue_depth == 0 {
        problems.push("signing.queue_depth: must be positive".into());
    }
    for origin in &config.cors.allowed_origins {
        if origin == "*" || !(origin.starts_with("https://") || origin.starts_with("http://")) || origin.ends_with('/')
        {
            problems.push(format!(
                "cors.allowed_origins: {origin:?} must be an exact origin like https://app.example.com"
            ));
        }
    }
}
