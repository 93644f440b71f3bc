//! The authenticated caller, as established from a verified token through
//! its issuer's claim mapping.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::validator::AuthError;
use crate::config::ClaimsConfig;

/// Who is calling, from a verified JWT. Only what grants and the audit log need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The subject (`sub`, or the issuer's `claims.subject`).
    pub subject: Option<String>,
    /// The client (`azp`, else `client_id`; or the issuer's `claims.client`).
    pub client: Option<String>,
    /// `iss`: exactly one configured issuer.
    pub issuer: String,
    /// Scopes from `scope` (space-separated) and `scp` (string or array),
    /// or from the issuer's `claims.scopes`.
    pub scopes: Vec<String>,
    /// Groups from the issuer's group claim.
    pub groups: Vec<String>,
    /// `exp`, epoch seconds.
    pub expires_at: i64,
    /// Every other claim of the token, for `{claim:NAME}` templates.
    pub claims: Arc<Map<String, Value>>,
}

/// The claims every token has; all others are kept as they are.
/// `deny_unknown_fields` is not used (tokens carry many claims); duplicate
/// member names were refused before (`jose`), which closes a JSON
/// parser-differential hole.
#[derive(Debug, Deserialize)]
pub(crate) struct Claims {
    pub iss: String,
    pub exp: i64,
    pub iat: Option<i64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The claim `name`: top-level, or a JSON pointer when it starts with `/`.
fn lookup<'m>(claims: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    let Some(pointer) = name.strip_prefix('/') else {
        return claims.get(name);
    };
    let (first, rest) = pointer.split_once('/').map_or((pointer, ""), |(f, r)| (f, r));
    let first = first.replace("~1", "/").replace("~0", "~");
    let value = claims.get(&first)?;
    if rest.is_empty() {
        Some(value)
    } else {
        value.pointer(&format!("/{rest}"))
    }
}

/// A string claim; present with another type is a bad token.
fn string(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, AuthError> {
    match lookup(claims, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AuthError::BadClaims),
    }
}

/// A space-separated string or an array of strings.
fn list(claims: &Map<String, Value>, name: &str) -> Result<Vec<String>, AuthError> {
    match lookup(claims, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split_whitespace().map(str::to_owned).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(AuthError::BadClaims))
            .collect(),
        Some(_) => Err(AuthError::BadClaims),
    }
}

impl Claims {
    /// Builds the caller through `mapping`. A claim the mapping reads that
    /// has the wrong type refuses the token; groups of another type are
    /// none (groups only ever add grants).
    pub(crate) fn into_caller(self, mapping: &ClaimsConfig) -> Result<Caller, AuthError> {
        let c = &self.other;
        let subject = string(c, mapping.subject.as_deref().unwrap_or("sub"))?;
        let client = match &mapping.client {
            Some(name) => string(c, name)?,
            None => string(c, "azp")?.or(string(c, "client_id")?),
        };
        let scopes = match &mapping.scopes {
            Some(name) => list(c, name)?,
            None => {
                let mut scopes = string(c, "scope")?
                    .map(|s| s.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_else(Vec::new);
                scopes.extend(list(c, "scp")?);
                scopes
            }
        };
        let groups = match lookup(c, mapping.groups.as_deref().unwrap_or("groups")) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        Ok(Caller {
            subject,
            client,
            issuer: self.iss,
            scopes,
            groups,
            expires_at: self.exp,
            claims: Arc::new(self.other),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caller(claims: Value, mapping: ClaimsConfig) -> Result<Caller, AuthError> {
        let mut claims = claims;
        claims["iss"] = json!("i");
        claims["exp"] = json!(1);
        serde_json::from_value::<Claims>(claims).unwrap().into_caller(&mapping)
    }

    #[test]
    fn defaults_read_the_registered_claims() {
        let c = caller(
            json!({ "sub": "s", "client_id": "c", "scope": "a b", "scp": ["d"], "groups": "g" }),
            ClaimsConfig::default(),
        )
        .unwrap();
        assert_eq!((c.subject.as_deref(), c.client.as_deref()), (Some("s"), Some("c")));
        assert_eq!(c.scopes, ["a", "b", "d"]);
        assert_eq!(c.groups, ["g"]);
        assert_eq!(
            caller(json!({ "sub": 5 }), ClaimsConfig::default()),
            Err(AuthError::BadClaims)
        );
    }

    #[test]
    fn a_mapping_reads_named_and_nested_claims() {
        let mapping = ClaimsConfig {
            subject: Some("email".into()),
            client: Some("cid".into()),
            scopes: Some("permissions".into()),
            groups: Some("/realm_access/roles".into()),
        };
        let c = caller(
            json!({ "sub": "ignored", "email": "a@x", "cid": "web", "permissions": ["sign"],
                    "realm_access": { "roles": ["editors"] } }),
            mapping,
        )
        .unwrap();
        assert_eq!(c.subject.as_deref(), Some("a@x"));
        assert_eq!(c.client.as_deref(), Some("web"));
        assert_eq!(c.scopes, ["sign"]);
        assert_eq!(c.groups, ["editors"]);
    }
}
