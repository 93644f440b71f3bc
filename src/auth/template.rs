//! Claim templates in a grant's `allow` patterns: a whole path segment
//! `{sub}` (the caller's subject) or `{claim:NAME}` (a top-level claim of
//! the token) is filled per caller, so one grant confines each user or
//! tenant to its own prefix (`/users/{sub}/*`).
//!
//! A value fills exactly one segment or nothing: it must be a non-empty
//! string, and a value holding `/`, `\`, `*`, `?`, `%` or a control
//! character, or that is a dot segment (`.`, `..`, `..;x`), makes the
//! pattern match nothing (default deny; the reason is audited). Arrays are
//! never expanded. A usable value is percent-encoded as a path segment by
//! the same rule as object keys, so it matches the URL that is signed.

use serde_json::Value;

use super::caller::Caller;
use crate::config::GrantPattern;
use crate::signing::resource::encode_object_key;

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Subject,
    Claim(String),
}

/// A grant's allow pattern, parsed once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a template gives no pattern for a caller.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unfilled {
    /// The placeholder, as written (`{claim:tenant_id}`).
    pub placeholder: String,
    /// What is wrong with the caller's value (never the value itself).
    pub why: &'static str,
}

impl std::fmt::Display for Unfilled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.placeholder, self.why)
    }
}

impl Template {
    /// Parses `pattern`; placeholders must be whole segments, and the
    /// pattern (with each placeholder as a plain segment) must pass the
    /// grant pattern rule.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = pattern;
        let mut sample = String::new();
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err("'}' without '{'".into());
            }
            let close = rest[open..].find('}').map(|i| open + i).ok_or("'{' without '}'")?;
            let (literal, inner, after) = (&rest[..open], &rest[open + 1..close], &rest[close + 1..]);
            let whole_segment = literal.ends_with('/') && (after.is_empty() || after.starts_with('/'));
            if !whole_segment {
                return Err(format!(
                    "{{{inner}}} must be a whole path segment, like /users/{{sub}}/*"
                ));
            }
            let part = match inner.strip_prefix("claim:") {
                None if inner == "sub" => Part::Subject,
                Some(name) if !name.is_empty() && !name.contains('{') => Part::Claim(name.to_owned()),
                _ => {
                    return Err(format!(
                        "unknown placeholder {{{inner}}}: use {{sub}} or {{claim:NAME}}"
                    ));
                }
            };
            parts.push(Part::Literal(literal.to_owned()));
            parts.push(part);
            sample.push_str(literal);
            sample.push('x');
            rest = after;
        }
        parts.push(Part::Literal(rest.to_owned()));
        sample.push_str(rest);
        GrantPattern::try_from(sample).map_err(|e| e.to_string())?;
        parts.retain(|p| !matches!(p, Part::Literal(l) if l.is_empty()));
        Ok(Self { parts })
    }

    /// Whether the pattern has no placeholder.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The pattern for `caller`, or why there is none.
    pub fn expand(&self, caller: &Caller) -> Result<String, Unfilled> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(l),
                Part::Subject => out.push_str(&segment("{sub}", caller.subject.as_deref().map(Value::from))?),
                Part::Claim(name) => {
                    let placeholder = format!("{{claim:{name}}}");
                    out.push_str(&segment(&placeholder, caller.claims.get(name).cloned())?);
                }
            }
        }
        Ok(out)
    }
}

/// One claim value as one encoded path segment.
fn segment(placeholder: &str, value: Option<Value>) -> Result<String, Unfilled> {
    let fail = |why| {
        Err(Unfilled {
            placeholder: placeholder.to_owned(),
            why,
        })
    };
    let text = match value {
        None | Some(Value::Null) => return fail("is missing from the token"),
        Some(Value::String(s)) => s,
        Some(Value::Array(_)) => return fail("is an array (arrays are never expanded)"),
        Some(_) => return fail("is not a string"),
    };
    if text.is_empty() {
        return fail("is empty");
    }
    if text.contains(['/', '\\', '*', '?', '%']) {
        return fail("holds '/', '\\', '*', '?' or '%'");
    }
    if text.chars().any(char::is_control) {
        return fail("holds a control character");
    }
    match encode_object_key(&text) {
        Ok(path) => Ok(path.trim_start_matches('/').to_owned()),
        Err(_) => fail("is a dot segment ('.' or '..')"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caller(sub: Option<&str>, claims: Value) -> Caller {
        Caller {
            subject: sub.map(str::to_owned),
            client: None,
            issuer: "i".into(),
            scopes: vec![],
            groups: vec![],
            expires_at: 0,
            claims: std::sync::Arc::new(claims.as_object().cloned().unwrap_or_default()),
        }
    }

    #[test]
    fn placeholders_must_be_whole_known_segments() {
        assert!(Template::parse("/users/{sub}/*").is_ok());
        assert!(Template::parse("/t/{claim:tenant_id}/reports/*").is_ok());
        assert!(Template::parse("/u/{sub}").is_ok());
        for bad in [
            "/users/x{sub}/*",
            "/users/{sub}x/*",
            "/{user}/*",
            "/{claim:}/*",
            "/{sub/*",
            "/a}/*",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        assert!(Template::parse("/uploads/*").unwrap().is_literal());
    }

    #[test]
    fn values_fill_one_encoded_segment() {
        let t = Template::parse("/users/{sub}/*").unwrap();
        assert_eq!(t.expand(&caller(Some("alice"), json!({}))).unwrap(), "/users/alice/*");
        assert_eq!(
            t.expand(&caller(Some("a b#é"), json!({}))).unwrap(),
            "/users/a%20b%23%C3%A9/*"
        );
    }

    #[test]
    fn hostile_values_fill_nothing() {
        let t = Template::parse("/t/{claim:tenant}/*").unwrap();
        let hostile = [
            json!("a/b"),
            json!("a\\b"),
            json!("*"),
            json!("a?"),
            json!("%2e%2e"),
            json!("a\u{0}b"),
            json!("a\nb"),
            json!("."),
            json!(".."),
            json!("..;x"),
            json!(""),
            json!(5),
            json!(["x"]),
            json!(null),
        ];
        for value in hostile {
            let c = caller(Some("s"), json!({ "tenant": value }));
            assert!(t.expand(&c).is_err(), "{value}");
        }
        assert!(t.expand(&caller(None, json!({}))).is_err(), "missing");
    }
}
