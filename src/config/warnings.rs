//! Settings that load but cannot do what they seem to: each is one warning
//! line at start and on reload (the service still starts; `validate`
//! refuses what can never work). Found by trying the shipped files as an
//! operator would: a grant pattern outside its distribution's prefix (every
//! request for it is a 403 while `/v1/grants/me` lists it), a `default_ttl`
//! above `max_ttl` (capped), cookies granted for a distribution without a
//! cookie domain (host-only cookies never reach the CDN), and an
//! environment variable that looks like a setting but is not one.

use super::Config;

/// The variables of the CLI and of the test tools: not settings, not typos.
const KNOWN_VARIABLES: [&str; 4] = ["CFSIGN_CONFIG", "CFSIGN_LISTEN", "CFSIGN_LOG_FORMAT", "CFSIGN_URL"];

/// Every warning about `config`, one complete sentence each.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for g in &config.grants {
        let at = format!("grants[{}]", g.name);
        if g.default_ttl > g.max_ttl {
            out.push(format!(
                "{at}.default_ttl ({}) is above max_ttl ({}): requests without a lifetime get max_ttl",
                humantime::format_duration(g.default_ttl),
                humantime::format_duration(g.max_ttl)
            ));
        }
        for d in config
            .distributions
            .iter()
            .filter(|d| g.distributions.contains(&d.name))
        {
            if let Some(prefix) = &d.path_prefix {
                for pattern in g.allow.iter().filter(|p| !can_meet_prefix(p, prefix)) {
                    out.push(format!(
                        "{at}.allow: {pattern:?} lies outside distributions[{}].path_prefix {prefix:?}: \
                         every request for it is refused (403)",
                        d.name
                    ));
                }
            }
            if g.allow_cookies && d.cookies.domain.is_none() {
                out.push(format!(
                    "{at} allows cookies for distributions[{}], which has no cookies.domain: host-only cookies \
                     set by this service never reach the CDN's host",
                    d.name
                ));
            }
        }
    }
    out.extend(audit_warnings(config));
    out.extend(variable_warnings(std::env::vars().map(|(k, _)| k)));
    out
}

/// `[audit]` settings that cannot act: an fsync policy on a stream (a pipe
/// has no fsync), a `max_wait` no request lives to see (the request
/// timeout answers 408 first).
fn audit_warnings(config: &Config) -> Vec<String> {
    use super::{AuditSink, Fsync};
    let audit = &config.audit;
    let mut out = Vec::new();
    if audit.sink != AuditSink::File && audit.fsync == Fsync::Always {
        out.push(
            "audit.fsync = \"always\" applies to files only; with a stdout/stderr sink events are accepted once \
             written to the stream"
                .to_owned(),
        );
    }
    if audit.max_wait >= config.server.request_timeout {
        out.push(format!(
            "audit.max_wait ({}) is not below server.request_timeout ({}): a request waiting for the audit sink \
             is answered 408 before 503 audit_unavailable",
            humantime::format_duration(audit.max_wait),
            humantime::format_duration(config.server.request_timeout)
        ));
    }
    out
}

/// Whether a path matching `pattern` can lie under `prefix`: the pattern's
/// literal start (up to its first wildcard) is under the prefix, or a
/// start of it (`/*` covers `/uploads/...`).
fn can_meet_prefix(pattern: &str, prefix: &str) -> bool {
    let literal = pattern.split(['*', '?']).next().unwrap_or_default();
    let under = format!("{prefix}/");
    literal.starts_with(&under) || under.starts_with(literal)
}

/// `CFSIGN_…` variables that address no setting: one `_` where the
/// section/key separator `__` belongs (`CFSIGN_SERVER_LISTEN`).
fn variable_warnings(names: impl Iterator<Item = String>) -> Vec<String> {
    names
        .filter(|n| n.starts_with("CFSIGN_") && !n.contains("__"))
        .filter(|n| !KNOWN_VARIABLES.contains(&n.as_str()) && !n.starts_with("CFSIGN_DIFF_"))
        .map(|n| {
            let hint = n
                .strip_prefix("CFSIGN_")
                .and_then(|rest| rest.split_once('_'))
                .map(|(section, key)| format!(" (did you mean CFSIGN_{section}__{key}?)"))
                .unwrap_or_default();
            format!(
                "environment variable {n} is not a setting: settings are CFSIGN_<SECTION>__<KEY>, with two \
                 underscores{hint}"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[auth]
issuers = ["i"]
audiences = ["a"]
algorithms = ["HS256"]
hmac_secret_files = ["/s"]

[[distributions]]
name = "reports"
domain = "https://cdn.example.com"
path_prefix = "/uploads"
keys = [{ key_pair_id = "K1", private_key_file = "/k" }]
"#;

    fn with_grant(grant: &str) -> Vec<String> {
        let config = crate::config::from_toml(&format!("{BASE}\n[[grants]]\n{grant}")).unwrap();
        warnings(&config)
            .into_iter()
            .filter(|w| w.starts_with("grants"))
            .collect()
    }

    const GRANT: &str = "name = \"g\"\nsubjects = [\"s\"]\ndistributions = [\"reports\"]\nmax_ttl = \"1h\"\n";

    #[test]
    fn a_pattern_outside_the_prefix_is_named() {
        let w = with_grant(&format!(
            "{GRANT}allow = [\"/secret/*\", \"/uploads/*\", \"/*\", \"/up*\"]"
        ));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("\"/secret/*\"") && w[0].contains("path_prefix \"/uploads\""),
            "{w:?}"
        );
    }

    #[test]
    fn default_ttl_above_max_ttl_and_hostless_cookies_are_named() {
        let w = with_grant(&format!(
            "{GRANT}allow = [\"/uploads/*\"]\ndefault_ttl = \"2h\"\nallow_cookies = true"
        ));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("default_ttl (2h) is above max_ttl (1h)"), "{w:?}");
        assert!(w[1].contains("no cookies.domain"), "{w:?}");
        assert!(with_grant(&format!("{GRANT}allow = [\"/uploads/*\"]")).is_empty());
    }

    #[test]
    fn audit_settings_that_cannot_act_are_named() {
        let audit = |section: &str| {
            let config = crate::config::from_toml(&format!("{BASE}\n[audit]\n{section}")).unwrap();
            audit_warnings(&config)
        };
        let w = audit("fsync = \"always\"\nmax_wait = \"10s\"");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("files only") && w[1].contains("answered 408"), "{w:?}");
        assert!(audit("sink = \"file\"\npath = \"/a\"\nfsync = \"always\"").is_empty());
        assert!(audit("").is_empty(), "the defaults warn about nothing");
    }

    #[test]
    fn a_single_underscore_variable_gets_the_double_underscore_hint() {
        let names = [
            "CFSIGN_SERVER_LISTEN",
            "CFSIGN_SERVER__LISTEN",
            "CFSIGN_LISTEN",
            "CFSIGN_DIFF_AWS",
            "PATH",
        ];
        let w = variable_warnings(names.iter().map(|s| s.to_string()));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("did you mean CFSIGN_SERVER__LISTEN?"), "{w:?}");
    }
}
