//! Validated inputs of a signature: the URL to sign, the resource a policy
//! grants, the key pair id. "Parse, don't validate": once built, the rest of
//! the core trusts them.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Query parameters CloudFront reserves for itself. A URL that already carries
/// one would be ambiguous (and could smuggle a second expiry or policy).
pub const RESERVED_PARAMS: [&str; 5] = ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"];

/// Why a URL, resource or key pair id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Scheme other than `http://` or `https://` (or `*://` for a pattern).
    #[error("URL must start with http:// or https://: {0:?}")]
    Scheme(String),
    /// No host after the scheme.
    #[error("URL has no host: {0:?}")]
    NoHost(String),
    /// A `#fragment`: browsers never send it, so CloudFront never sees it.
    #[error("URL must not contain a fragment ('#'): {0:?}")]
    Fragment(String),
    /// A character that must be percent-encoded first (space, non-ASCII, ...).
    #[error(
        "URL contains {0:?}, which must be percent-encoded (CloudFront signs the URL exactly as the viewer sends it)"
    )]
    Unencoded(char),
    /// A query parameter named like one CloudFront adds.
    #[error("URL already carries the CloudFront parameter {0:?}")]
    ReservedParam(String),
    /// A wildcard where a concrete URL is needed.
    #[error("a signed URL must be concrete; put wildcards in the policy resource instead: {0:?}")]
    Wildcard(String),
    /// Key pair id is empty or has characters CloudFront never issues.
    #[error("key pair id must be 1-128 ASCII letters or digits, e.g. K2JCJMDEHXQW5F: {0:?}")]
    KeyPairId(String),
    /// An object key that cannot name an S3 object safely.
    #[error("invalid object key: {0}")]
    ObjectKey(&'static str),
}

/// Characters allowed to appear raw in a URL (RFC 3986 unreserved + reserved
/// + `%`). Anything else must arrive percent-encoded.
fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// `url` with every character that may not appear raw percent-encoded as
/// UTF-8 (space → `%20`, `é` → `%C3%A9`, `"` → `%22`), and `*` as `%2A` (a
/// signed URL is concrete: a literal star must be encoded). Existing `%XX`
/// escapes and the URL's structure (`:/?&=#`) are kept. What the CLI's
/// `--encode` and its refusal hints give.
pub fn encode_url_chars(url: &str) -> String {
    encode_chars(url, |c| is_url_char(c) && c != '*')
}

/// [`encode_url_chars`] for a resource pattern: its `*` and `?` stay
/// wildcards.
pub fn encode_pattern_chars(pattern: &str) -> String {
    encode_chars(pattern, is_url_char)
}

fn encode_chars(text: &str, raw: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if raw(c) {
            out.push(c);
        } else {
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// A concrete http(s) URL ready to be signed verbatim.
///
/// Invariants: `http://` or `https://`, a host, only RFC 3986 characters, no
/// fragment, no wildcard `*`, and no CloudFront-reserved query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignableUrl(String);

impl SignableUrl {
    /// The URL text, exactly as it will be signed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the URL already has a query string (so parameters join with `&`).
    pub fn has_query(&self) -> bool {
        self.0.contains('?')
    }
}

impl FromStr for SignableUrl {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_chars(s)?;
        let rest = strip_scheme(s, false).ok_or_else(|| InputError::Scheme(s.to_owned()))?;
        if rest.is_empty() || rest.starts_with(['/', '?']) {
            return Err(InputError::NoHost(s.to_owned()));
        }
        if s.contains('*') {
            return Err(InputError::Wildcard(s.to_owned()));
        }
        if let Some(name) = reserved_param(s) {
            return Err(InputError::ReservedParam(name));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for SignableUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `Resource` of a policy: a URL that may hold `*` and `?` wildcards, with
/// scheme `http://`, `https://` or `*://`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourcePattern(String);

impl ResourcePattern {
    /// The pattern text, exactly as written into the policy.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern uses `*`, or `?` beyond the query separator: then
    /// only a custom policy can carry it (CloudFront rebuilds canned policies
    /// from the literal request URL).
    pub fn has_wildcard(&self) -> bool {
        let after_scheme = strip_scheme(&self.0, true).unwrap_or(&self.0);
        self.0.contains('*') || after_scheme.matches('?').count() > 1
    }
}

impl FromStr for ResourcePattern {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_chars(s)?;
        let rest = strip_scheme(s, true).ok_or_else(|| InputError::Scheme(s.to_owned()))?;
        if rest.is_empty() || rest.starts_with(['/', '?']) {
            return Err(InputError::NoHost(s.to_owned()));
        }
        if let Some(name) = reserved_param(s) {
            return Err(InputError::ReservedParam(name));
        }
        Ok(Self(s.to_owned()))
    }
}

impl From<SignableUrl> for ResourcePattern {
    fn from(url: SignableUrl) -> Self {
        Self(url.0)
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A CloudFront public key id (from the key group), e.g. `K2JCJMDEHXQW5F`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPairId(String);

impl KeyPairId {
    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyPairId {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| Self(s.to_owned()))
            .ok_or_else(|| InputError::KeyPairId(s.to_owned()))
    }
}

impl fmt::Display for KeyPairId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 3986 unreserved characters stay; everything else in a segment is
/// percent-encoded (UTF-8), so any S3 key maps to one unambiguous URL path.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Turns an S3 object key (`reports/2024 Q1/café.pdf`) into a URL path
/// (`/reports/2024%20Q1/caf%C3%A9.pdf`), encoding each `/`-separated segment.
///
/// Refuses keys a viewer's browser or CloudFront would rewrite before the
/// signature is checked: empty, `.` or `..` segments, and control characters.
pub fn encode_object_key(key: &str) -> Result<String, InputError> {
    let key = key.strip_prefix('/').unwrap_or(key);
    if key.is_empty() {
        return Err(InputError::ObjectKey("empty key"));
    }
    if key.chars().any(char::is_control) {
        return Err(InputError::ObjectKey("control characters are not allowed"));
    }
    let mut path = String::with_capacity(key.len() + 8);
    for segment in key.split('/') {
        if is_dot_segment(segment) {
            return Err(InputError::ObjectKey(
                "'.' and '..' segments are not allowed (also with ';' after them)",
            ));
        }
        if segment.is_empty() {
            return Err(InputError::ObjectKey("empty path segments ('//') are not allowed"));
        }
        path.push('/');
        path.extend(utf8_percent_encode(segment, SEGMENT));
    }
    Ok(path)
}

/// Whether a path segment is a dot segment to some origin: `.` or `..`,
/// also followed by a path parameter (`..;x`: Tomcat and Spring cut at
/// `;`) or its escape (`..%3Bx`: an origin that decodes `%3B` first sees
/// `..;x`). The one rule for request paths, patterns and object keys.
pub fn is_dot_segment(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or_default();
    // ASCII lower-casing keeps byte offsets, so the index fits `name`.
    let name = name.to_ascii_lowercase().find("%3b").map_or(name, |i| &name[..i]);
    name == "." || name == ".."
}

fn check_chars(s: &str) -> Result<(), InputError> {
    if let Some(c) = s.chars().find(|&c| !is_url_char(c)) {
        return Err(InputError::Unencoded(c));
    }
    if s.contains('#') {
        return Err(InputError::Fragment(s.to_owned()));
    }
    Ok(())
}

/// Returns what follows the scheme; `*://` is allowed only for patterns.
fn strip_scheme(s: &str, allow_star: bool) -> Option<&str> {
    let lower = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    let schemes: &[&str] = if allow_star {
        &["https://", "http://", "*://"]
    } else {
        &["https://", "http://"]
    };
    schemes.iter().find(|p| lower(p)).map(|p| &s[p.len()..])
}

/// The first query parameter whose name CloudFront reserves, compared
/// ignoring ASCII case (default deny: `expires=` is refused as well).
fn reserved_param(url: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|pair| {
        let name = pair.split('=').next().unwrap_or_default();
        RESERVED_PARAMS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
            .then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_url_chars_makes_a_signable_url() {
        let raw = "https://x/Q1 r\u{e9}port\"*.pdf?name=a b&x=%41";
        let encoded = encode_url_chars(raw);
        assert_eq!(encoded, "https://x/Q1%20r%C3%A9port%22%2A.pdf?name=a%20b&x=%41");
        assert!(encoded.parse::<SignableUrl>().is_ok());
        assert_eq!(encode_url_chars("https://x/a?b=c"), "https://x/a?b=c");
        assert_eq!(encode_pattern_chars("https://x/Q1 r*/?.ts"), "https://x/Q1%20r*/?.ts");
    }

    #[test]
    fn accepts_encoded_urls_verbatim() {
        let u: SignableUrl = "https://d111111abcdef8.cloudfront.net/My%20File.pdf?a=1&b=2"
            .parse()
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://d111111abcdef8.cloudfront.net/My%20File.pdf?a=1&b=2"
        );
        assert!(u.has_query());
    }

    #[test]
    fn refuses_bad_urls() {
        type Check = fn(&InputError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("ftp://x/a", |e| matches!(e, InputError::Scheme(_))),
            ("https:///a", |e| matches!(e, InputError::NoHost(_))),
            ("https://x/a#frag", |e| matches!(e, InputError::Fragment(_))),
            ("https://x/My File.pdf", |e| matches!(e, InputError::Unencoded(' '))),
            ("https://x/café", |e| matches!(e, InputError::Unencoded('é'))),
            ("https://x/a\"b", |e| matches!(e, InputError::Unencoded('"'))),
            ("https://x/a\\b", |e| matches!(e, InputError::Unencoded('\\'))),
            ("https://x/a?Expires=1", |e| matches!(e, InputError::ReservedParam(_))),
            ("https://x/a?b=1&signature=2", |e| {
                matches!(e, InputError::ReservedParam(_))
            }),
            ("https://x/*", |e| matches!(e, InputError::Wildcard(_))),
        ];
        for (url, want) in cases {
            let err = url.parse::<SignableUrl>().unwrap_err();
            assert!(want(&err), "{url}: {err:?}");
        }
    }

    #[test]
    fn patterns_allow_wildcards_and_star_scheme() {
        let p: ResourcePattern = "*://cdn.example.com/videos/*".parse().unwrap();
        assert!(p.has_wildcard());
        let q: ResourcePattern = "https://cdn.example.com/a?b=1".parse().unwrap();
        assert!(!q.has_wildcard());
        let r: ResourcePattern = "https://cdn.example.com/a?b=?".parse().unwrap();
        assert!(r.has_wildcard());
    }

    #[test]
    fn key_pair_ids() {
        assert!("K2JCJMDEHXQW5F".parse::<KeyPairId>().is_ok());
        for bad in ["", "K2 J", "K2&x=1", &"K".repeat(129)] {
            assert!(bad.parse::<KeyPairId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn object_keys_are_encoded_per_segment() {
        assert_eq!(
            encode_object_key("reports/2024 Q1/café.pdf").unwrap(),
            "/reports/2024%20Q1/caf%C3%A9.pdf"
        );
        assert_eq!(
            encode_object_key("/a/b?Expires=1&x=*").unwrap(),
            "/a/b%3FExpires%3D1%26x%3D%2A"
        );
        assert_eq!(encode_object_key("a~b_c-d.e").unwrap(), "/a~b_c-d.e");
        for bad in [
            "",
            "/",
            "a/../b",
            "./a",
            "a//b",
            "a\u{0}b",
            "a\nb",
            "a/..;x/b",
            "a/.%3Bx/b",
            "a/..%3b",
        ] {
            assert!(encode_object_key(bad).is_err(), "{bad:?}");
        }
    }
}
