//! Checks on a compact JWS that jsonwebtoken does not make, run before any
//! signature check:
//!
//! - exactly three base64url parts (no JWE, no extra dots);
//! - no member name twice anywhere in the header or the claims (RFC 7515
//!   §4, RFC 7519 §4: a parser that keeps the last duplicate and one that
//!   keeps the first disagree on who the caller is);
//! - no `crit` header: this verifier understands no extension, and RFC 7515
//!   §4.1.11 requires refusing a token that names one it does not.

use std::collections::HashSet;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::validator::AuthError;

/// Deepest nesting accepted in a header or claims object.
const MAX_DEPTH: usize = 32;

/// Refuses what no token of ours may carry; see the module doc. Returns
/// the token's `iss` (not yet verified: it only selects whose keys may
/// verify the token) when it is a string.
pub(crate) fn check_compact(token: &str) -> Result<Option<String>, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header = decode(header)?;
    let claims = decode(claims)?;
    if signature.is_empty() || URL_SAFE_NO_PAD.decode(signature).is_err() {
        return Err(AuthError::Malformed);
    }
    let header = unique_object(&header)?;
    if header.contains("crit") {
        return Err(AuthError::CriticalExtension);
    }
    unique_object(&claims)?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<serde_json::Value>,
    }
    let iss = serde_json::from_slice::<Iss>(&claims).map_err(|_| AuthError::Malformed)?;
    Ok(iss.iss.and_then(|v| v.as_str().map(str::to_owned)))
}

fn decode(part: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| AuthError::Malformed)
}

/// Parses a JSON object, refusing duplicate member names at any depth;
/// returns the top-level member names.
fn unique_object(json: &[u8]) -> Result<HashSet<String>, AuthError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let top = Unique { depth: 0 }.deserialize(&mut de).map_err(|e| {
        if e.to_string().starts_with(DUPLICATE) {
            AuthError::DuplicateMember
        } else {
            AuthError::Malformed
        }
    })?;
    de.end().map_err(|_| AuthError::Malformed)?;
    top.ok_or(AuthError::Malformed)
}

const DUPLICATE: &str = "duplicate member";

/// A JSON value walked for duplicate names; yields an object's member names.
struct Unique {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = Option<HashSet<String>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = Option<HashSet<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let depth = self.deeper()?;
        let mut names = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !names.insert(name) {
                return Err(de::Error::custom(DUPLICATE));
            }
            map.next_value_seed(Unique { depth })?;
        }
        Ok(Some(names))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let depth = self.deeper()?;
        while seq.next_element_seed(Unique { depth })?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl Unique {
    fn deeper<E: de::Error>(&self) -> Result<usize, E> {
        (self.depth < MAX_DEPTH)
            .then_some(self.depth + 1)
            .ok_or_else(|| E::custom("nested too deeply"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode("sig")
        )
    }

    #[test]
    fn plain_tokens_pass() {
        let t = compact(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"sub":"a","groups":["x","y"],"o":{"a":1}}"#,
        );
        assert!(check_compact(&t).is_ok());
    }

    #[test]
    fn duplicates_anywhere_are_refused() {
        for (h, c) in [
            (r#"{"alg":"HS256","alg":"HS256"}"#, r#"{"sub":"a"}"#),
            (r#"{"alg":"HS256","kid":"a","kid":"b"}"#, r#"{"sub":"a"}"#),
            (r#"{"alg":"HS256"}"#, r#"{"groups":["x"],"groups":["admins"]}"#),
            (r#"{"alg":"HS256"}"#, r#"{"sub":"a","sub":"b"}"#),
            (r#"{"alg":"HS256"}"#, r#"{"tenant":"a","gr\u006fups":1,"groups":2}"#),
            (r#"{"alg":"HS256"}"#, r#"{"o":{"x":1,"x":2}}"#),
            (r#"{"alg":"HS256"}"#, r#"{"a":[{"x":1,"x":2}]}"#),
        ] {
            assert_eq!(
                check_compact(&compact(h, c)),
                Err(AuthError::DuplicateMember),
                "{h} {c}"
            );
        }
    }

    #[test]
    fn crit_is_refused_whatever_it_names() {
        for h in [
            r#"{"alg":"HS256","crit":["x-anything"],"x-anything":1}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","crit":[]}"#,
            r#"{"alg":"HS256","crit":"b64","b64":false}"#,
        ] {
            assert_eq!(
                check_compact(&compact(h, "{}")),
                Err(AuthError::CriticalExtension),
                "{h}"
            );
        }
    }

    #[test]
    fn shapes_other_than_three_parts_of_objects_are_malformed() {
        let ok = compact(r#"{"alg":"HS256"}"#, "{}");
        for t in [
            format!("{ok}.x"),
            ok.rsplit_once('.').unwrap().0.to_owned(),
            format!("{}.", ok.rsplit_once('.').unwrap().0),
            compact("[]", "{}"),
            compact(r#"{"alg":"HS256"}"#, "1"),
            compact(r#"{"alg":"HS256"} x"#, "{}"),
            compact(&format!("{}{}", "[".repeat(40), "]".repeat(40)), "{}"),
            "a+b.c.d".to_owned(),
        ] {
            assert_eq!(check_compact(&t), Err(AuthError::Malformed), "{t}");
        }
    }
}
