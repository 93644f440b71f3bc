//! URL, pattern, object-key and CIDR parsing through cfsign's public API.
//!
//! Invariants beyond "never panics":
//! - a `SignableUrl` is http(s), has no `*`, no `#`, no CloudFront parameter,
//!   and is covered by itself as a policy resource (otherwise its canned
//!   policy could never be honoured);
//! - `encode_object_key` yields a `/`-rooted path of unreserved characters and
//!   escapes only, with no empty, `.` or `..` segment, that decodes back to
//!   the key, and that makes a `SignableUrl` under any distribution domain;
//! - a CIDR block prints in a form that parses back to itself.
#![no_main]

use cfsign::signing::resource::{RESERVED_PARAMS, encode_object_key};
use cfsign::signing::wildcard::resource_matches;
use cfsign::signing::{CidrV4, ResourcePattern, SignableUrl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    if let Ok(url) = text.parse::<SignableUrl>() {
        let s = url.as_str();
        let lower = s.to_ascii_lowercase();
        assert!(lower.starts_with("https://") || lower.starts_with("http://"), "{s:?}");
        assert!(!s.contains(['*', '#']), "{s:?}");
        if let Some((_, query)) = s.split_once('?') {
            for pair in query.split('&') {
                let name = pair.split('=').next().unwrap_or_default();
                assert!(
                    !RESERVED_PARAMS.iter().any(|r| r.eq_ignore_ascii_case(name)),
                    "{s:?} carries {name:?}"
                );
            }
        }
        assert!(s.parse::<ResourcePattern>().is_ok(), "{s:?}");
        assert!(resource_matches(s, s), "a URL must match itself as a resource: {s:?}");
        let pattern = ResourcePattern::from(url.clone());
        assert_eq!(pattern.as_str(), s);
    }

    if let Ok(pattern) = text.parse::<ResourcePattern>() {
        let _ = pattern.has_wildcard();
        let _ = resource_matches(pattern.as_str(), "https://cdn.example.com/uploads/a.pdf?x=1");
    }

    match encode_object_key(text) {
        Ok(path) => {
            assert!(path.starts_with('/'), "{text:?} -> {path:?}");
            for segment in path[1..].split('/') {
                assert!(
                    !segment.is_empty() && segment != "." && segment != "..",
                    "{text:?} -> {path:?}"
                );
            }
            assert!(
                path.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%/".contains(&b)),
                "{text:?} -> {path:?}"
            );
            let decoded = percent_encoding::percent_decode_str(&path[1..]).decode_utf8().unwrap();
            assert_eq!(decoded, text.strip_prefix('/').unwrap_or(text));
            let url = format!("https://cdn.example.com{path}");
            assert!(url.parse::<SignableUrl>().is_ok(), "{url:?}");
        }
        Err(_) => {}
    }

    if let Ok(cidr) = text.parse::<CidrV4>() {
        let printed = cidr.to_string();
        assert_eq!(printed.parse::<CidrV4>().ok(), Some(cidr), "{text:?} -> {printed:?}");
        assert!(cidr.contains(cidr.addr()));
    }

    // Any split of the input as (pattern, url): matching must not panic.
    if let Some((pattern, url)) = text.split_once('\n') {
        let _ = resource_matches(pattern, url);
    }
});
