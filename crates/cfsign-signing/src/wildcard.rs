//! CloudFront's resource matching for custom policies: `*` (any run) and `?`
//! (one character; the first `?` of a pattern still starts its query) match only inside their own section of the URL —
//! protocol, domain, path, query — with the documented implications: a
//! trailing `*` in the path also matches any query, a trailing `*` in the
//! domain matches any path and query, a pattern without a protocol matches
//! any protocol, and `*` alone matches everything.

use wildmatch::WildMatch;

struct Sections<'a> {
    scheme: &'a str,
    host: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

fn split(url: &str) -> Sections<'_> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("*", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (host, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    Sections {
        scheme,
        host,
        path,
        query,
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    WildMatch::new(pattern).matches(text)
}

/// Whether the request URL `url` is covered by the policy resource `pattern`.
pub fn resource_matches(pattern: &str, url: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p = split(pattern);
    let u = split(url);
    let (path_pattern, query_pattern) = implied(&p);
    glob(&p.scheme.to_ascii_lowercase(), &u.scheme.to_ascii_lowercase())
        && glob(&p.host.to_ascii_lowercase(), &u.host.to_ascii_lowercase())
        && glob(path_pattern, if u.path.is_empty() { "/" } else { u.path })
        && match (query_pattern, u.query) {
            (Some(q), actual) => glob(q, actual.unwrap_or("")),
            (None, None) => true,
            (None, Some(_)) => false,
        }
}

/// The effective path and query patterns after CloudFront's implications.
fn implied<'a>(p: &Sections<'a>) -> (&'a str, Option<&'a str>) {
    if p.path.is_empty() && p.query.is_none() && p.host.ends_with('*') {
        return ("/*", Some("*"));
    }
    let path = if p.path.is_empty() { "/" } else { p.path };
    let query = p.query.or_else(|| path.ends_with('*').then_some("*"));
    (path, query)
}

#[cfg(test)]
mod tests {
    use super::resource_matches as m;

    #[test]
    fn exact_and_star() {
        assert!(m("https://x.net/a.jpg", "https://x.net/a.jpg"));
        assert!(!m("https://x.net/a.jpg", "https://x.net/a.jpg?v=1"));
        assert!(m("*", "http://anything/at/all?x"));
    }

    #[test]
    fn trailing_path_star_implies_any_query() {
        assert!(m("https://x.net/videos/*", "https://x.net/videos/a/b.ts?token=1"));
        assert!(m("https://x.net/videos/*", "https://x.net/videos/"));
        assert!(!m("https://x.net/videos/*", "https://x.net/other/a.ts"));
    }

    #[test]
    fn wildcards_stay_in_their_section() {
        // A `*` in the path must not swallow a query string unless trailing.
        assert!(!m("https://x.net/*.jpg", "https://x.net/a.jpg?x=.jpg"));
        assert!(m("https://x.net/*.jpg", "https://x.net/dir/a.jpg"));
        // A `*` in the domain must not reach into the path.
        assert!(!m("https://*.net/a", "https://x.net/b/a"));
        assert!(m("https://*.example.com/a", "https://cdn.example.com/a"));
    }

    #[test]
    fn question_mark_is_one_character() {
        // The first `?` of a pattern starts its query, as in a URL.
        assert!(m("https://x.net/a.jpg?v=?", "https://x.net/a.jpg?v=1"));
        assert!(!m("https://x.net/a.jpg?v=?", "https://x.net/a.jpg?v=12"));
    }

    #[test]
    fn scheme_rules() {
        assert!(m("*://x.net/a", "http://x.net/a"));
        assert!(!m("https://x.net/a", "http://x.net/a"));
        assert!(m("x.net/*", "https://x.net/a"));
        assert!(m("https://d111*", "https://d111111abcdef8.cloudfront.net/any/path?q"));
        assert!(m("HTTPS://X.NET/a", "https://x.net/a"));
    }
}
