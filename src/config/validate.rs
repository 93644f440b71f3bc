//! Checks that need no file system: every value against its type's rule
//! (`config::types`, the one place each rule lives), then names,
//! references between sections, ranges. Every problem is collected, so one
//! start reports them all. Key files are read (and checked) when the
//! service state is built.

use std::collections::HashSet;

use super::types::{BaseUrl, JwksUrl, JwtAlgorithm, Origin, PathPrefix};
use super::{Config, ConfigError, IssuerConfig, IssuerEntry, PER_ISSUER_EXAMPLE};
use crate::signing::{CidrV4, KeyPairId};

/// Every problem in `config`, or `Ok`.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    check_auth(config, &mut problems);
    check_distributions(config, &mut problems);
    check_grants(config, &mut problems);
    check_server(config, &mut problems);
    super::audit::check(&config.audit, &mut problems);
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
    if auth.per_issuer_form() {
        if auth.issuers.iter().any(|e| matches!(e, IssuerEntry::Name(_))) {
            problems.push("auth.issuers: either a list of issuer URLs or [[auth.issuers]] tables, not both".into());
        }
        if auth.has_shared_keys() {
            problems.push(
                "auth: with [[auth.issuers]], key sources (hmac_secret_files, public_keys, jwks_file, jwks_url) \
                 belong to the issuer they verify, not to [auth]"
                    .into(),
            );
        }
    } else if auth.issuers.len() > 1 {
        problems.push(format!(
            "auth.issuers: {} issuers would share [auth]'s keys, so one provider's key would verify tokens \
             claiming to come from another (RFC 8725 §3.8). Give each issuer its keys:\n{PER_ISSUER_EXAMPLE}",
            auth.issuers.len()
        ));
    }
    for alg in &auth.algorithms {
        if let Err(e) = alg.parse::<JwtAlgorithm>() {
            problems.push(format!("auth.algorithms: {e}"));
        }
    }
    let tables = auth.per_issuer_form();
    if !tables && auth.audiences.is_empty() {
        problems.push("auth.audiences: at least one audience is required".into());
    }
    if !tables && auth.algorithms.is_empty() {
        problems.push("auth.algorithms: list the JWT algorithms to accept, e.g. [\"RS256\"]".into());
    }
    let mut seen = HashSet::new();
    for issuer in auth.trusted() {
        if !seen.insert(issuer.issuer.clone()) {
            problems.push(format!("auth.issuers: {:?} is listed twice", issuer.issuer));
        }
        // Problems of the single-issuer form name the [auth] keys they are in.
        let at = if tables {
            format!("auth.issuers[{}]", issuer.issuer)
        } else {
            "auth".to_owned()
        };
        check_issuer(&at, &issuer, tables, problems);
    }
}

/// One issuer's own settings. `own_lists`: its audiences and algorithms
/// may be its own (the `[[auth.issuers]]` form); else they are `[auth]`'s,
/// checked once above.
fn check_issuer(at: &str, issuer: &IssuerConfig, own_lists: bool, problems: &mut Vec<String>) {
    if issuer.issuer.is_empty() {
        problems.push("auth.issuers: an issuer must not be empty".into());
    }
    if own_lists && issuer.audiences.is_empty() {
        problems.push(format!(
            "{at}.audiences: at least one audience is required (here or in [auth])"
        ));
    }
    if own_lists && issuer.algorithms.is_empty() {
        problems.push(format!(
            "{at}.algorithms: list the JWT algorithms to accept, e.g. [\"RS256\"] (here or in [auth])"
        ));
    }
    for alg in issuer.algorithms.iter().filter(|_| own_lists) {
        if let Err(e) = alg.parse::<JwtAlgorithm>() {
            problems.push(format!("{at}.algorithms: {e}"));
        }
    }
    if !issuer.has_key_source() {
        problems.push(format!(
            "{at}: no JWT key source (discovery, jwks_url, jwks_file, public_keys or hmac_secret_files)"
        ));
    }
    if issuer.discovery && issuer.jwks_url.is_some() {
        problems.push(format!(
            "{at}: discovery = true finds the JWKS URL itself; remove jwks_url or discovery"
        ));
    }
    if issuer.discovery
        && let Err(why) = JwksUrl::try_from(issuer.issuer.clone())
    {
        problems.push(format!(
            "{at}.discovery: the issuer is where discovery looks, so it {why}"
        ));
    }
    if let Some(url) = &issuer.jwks_url
        && let Err(why) = JwksUrl::try_from(url.clone())
    {
        problems.push(format!("{at}.jwks_url: {why}"));
    }
    for pk in &issuer.public_keys {
        if let Some(Err(e)) = pk.algorithm.as_deref().map(str::parse::<JwtAlgorithm>) {
            problems.push(format!("{at}.public_keys[{}].algorithm: {e}", pk.kid));
        }
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
        if let Err(e) = BaseUrl::try_from(d.domain.clone()) {
            problems.push(format!("{at}.domain: {e}"));
        }
        if let Some(Err(e)) = d.path_prefix.clone().map(PathPrefix::try_from) {
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
    let issuers = config.auth.issuer_names();
    for g in &config.grants {
        let at = format!("grants[{}]", g.name);
        for name in g.issuers.iter().filter(|n| !issuers.contains(n)) {
            problems.push(format!("{at}.issuers: {name:?} is not one of auth.issuers"));
        }
        // Who a caller is, and a claim naming its folder, mean something
        // only at the issuer that said it: the same value can exist at each.
        let names_someone = !(g.subjects.is_empty() && g.clients.is_empty() && g.groups.is_empty());
        let templated = g.allow.iter().any(|p| p.contains('{'));
        if issuers.len() > 1 && (names_someone || templated) && g.issuers.is_empty() {
            problems.push(format!(
                "{at}.issuers: several issuers are trusted, so a grant matching subjects, clients or groups, or \
                 with a claim template in allow, must name the issuers whose tokens it means (the same sub or \
                 claim value can exist at each), e.g. issuers = [{:?}]",
                issuers[0]
            ));
        }
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
        if let Some(default) = &g.default_distribution
            && !g.distributions.contains(default)
        {
            problems.push(format!(
                "{at}.default_distribution: {default:?} is not one of this grant's distributions"
            ));
        }
        if g.allow.is_empty() {
            problems.push(format!(
                "{at}.allow: list at least one path pattern, e.g. \"/uploads/*\""
            ));
        }
        for p in &g.allow {
            if let Err(e) = crate::auth::Template::parse(p) {
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
        if let Err(e) = Origin::try_from(origin.clone()) {
            problems.push(format!("cors.allowed_origins: {e}"));
        }
    }
    for name in &config.cors.allowed_headers {
        if axum::http::HeaderName::from_bytes(name.trim().as_bytes()).is_err() {
            problems.push(format!(
                "cors.allowed_headers: {name:?} is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"
            ));
        }
    }
}
