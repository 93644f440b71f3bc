//! The path rule: what a caller-supplied path (or pattern, or a grant's
//! pattern, or a distribution's `path_prefix`) may look like. Anything a
//! browser, CloudFront or an origin could rewrite after signing (dot
//! segments, empty segments, encoded separators, control characters) is
//! refused rather than normalised. One rule for the service (requests) and
//! the configuration (grants, prefixes), so both sides agree.

use crate::signing::resource::is_dot_segment;

/// Escapes that decode to something dangerous in a path: `.`, `/`, `\`, `%`
/// (double encoding) and control characters.
fn dangerous_escape(hex: &str) -> bool {
    let lower = hex.to_ascii_lowercase();
    matches!(lower.as_str(), "2e" | "2f" | "5c" | "25" | "7f") || lower.starts_with('0') || lower.starts_with('1')
}

/// Why a path or pattern was refused; a complete sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PathError(String);

fn bad(detail: impl Into<String>) -> PathError {
    PathError(detail.into())
}

/// Checks an already percent-encoded path (`/uploads/My%20File.pdf`).
/// `allow_star` lets `*` through (for policy patterns).
pub fn check_path(path: &str, allow_star: bool) -> Result<(), PathError> {
    if !path.starts_with('/') {
        return Err(bad("path must start with '/'"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()+,;=:@%/".contains(c) || (allow_star && c == '*');
    if let Some(c) = path.chars().find(|c| !allowed(*c)) {
        let what = match c {
            '*' => "wildcards are only allowed in policy_resource (and need the wildcard grant)".to_owned(),
            '?' | '#' => "put query parameters in \"query\"; fragments are never sent".to_owned(),
            c => format!("character {c:?} must be percent-encoded (or use \"key\" to have it encoded)"),
        };
        return Err(bad(format!("invalid path: {what}")));
    }
    check_escapes(path)?;
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.into_iter().enumerate() {
        if is_dot_segment(segment) {
            return Err(bad("path must not contain '.' or '..' segments"));
        }
        // Only the last segment may be empty: `/videos/` names a folder;
        // `/a//b`, `/a//b/` and `/a/x//` are refused alike.
        if segment.is_empty() && i != last {
            return Err(bad("path must not contain empty segments ('//')"));
        }
    }
    Ok(())
}

/// Checks a grant's `allow` pattern with the rule for request paths, `*`
/// and `?` (one character) allowed. Config validation uses it, so a
/// pattern no request could ever match is refused at start.
pub fn check_grant_pattern(pattern: &str) -> Result<(), PathError> {
    check_path(&pattern.replace('?', "_"), true)
}

fn check_escapes(path: &str) -> Result<(), PathError> {
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        let hex = path
            .get(i + 1..i + 3)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(hex) = hex else {
            return Err(bad("'%' must start a valid escape like %20"));
        };
        if dangerous_escape(hex) {
            return Err(bad(format!(
                "escape %{hex} is not allowed in a path (encoded dot, slash, backslash, percent or control character)"
            )));
        }
        debug_assert!(bytes.len() >= i + 3);
    }
    Ok(())
}

/// Whether `path` lies under `prefix` (`/uploads` covers `/uploads/...`).
pub fn under_prefix(path: &str, prefix: Option<&str>) -> bool {
    prefix.is_none_or(|p| path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        for p in [
            "/uploads/report.pdf",
            "/a/My%20File.pdf",
            "/videos/",
            "/caf%C3%A9.jpg",
            "/a(b)c/it's",
            "/",
            "/a/b/",
            "/a/.hidden",
            "/a/..x",
            "/a/x%3B..",
            "/a/%3B",
            "/a/.../b",
        ] {
            assert!(check_path(p, false).is_ok(), "{p}");
        }
        assert!(check_path("/videos/abc/*", true).is_ok());
    }

    #[test]
    fn refuses_traversal_and_smuggling() {
        for p in [
            "uploads/a",
            "/uploads/../secret",
            "/uploads/./a",
            "/uploads/%2e%2e/secret",
            "/uploads/%2E./x",
            "/uploads%2Fsecret",
            "/uploads\\..\\x",
            "/uploads/%5c",
            "/a%252e",
            "/a%00",
            "/a%1f",
            "/a\u{0}",
            "/a b",
            "/a?Expires=1",
            "/a#x",
            "/a*",
            "/a//b",
            "/a//b/",
            "/uploads/a//b/",
            "/uploads/a/x//",
            "//",
            "/a/..%3Bx/b",
            "/a/..%3b/b",
            "/a/..;/b",
            "/a/.;x/b",
            "/a%zz",
            "/a%",
            "/caf\u{e9}",
            "/\u{ff0e}\u{ff0e}/x",
        ] {
            assert!(check_path(p, false).is_err(), "{p:?}");
        }
    }

    #[test]
    fn grant_patterns_follow_the_path_rule() {
        for ok in ["/uploads/*", "/a/report-??.pdf", "/*", "/videos/*/index.m3u8"] {
            assert!(check_grant_pattern(ok).is_ok(), "{ok}");
        }
        for bad in ["/uploads//*", "/a/../*", "uploads/*", "/a/x//", "/a/..;/*", "/a b/*"] {
            assert!(check_grant_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes() {
        assert!(under_prefix("/uploads/a", Some("/uploads")));
        assert!(!under_prefix("/uploadsX/a", Some("/uploads")));
        assert!(!under_prefix("/uploads", Some("/uploads")));
        assert!(under_prefix("/x", None));
    }
}
