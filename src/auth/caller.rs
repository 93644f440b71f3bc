//! The authenticated caller, as established from a verified token.

use serde::Deserialize;
use serde_json::Value;

/// Who is calling, from a verified JWT. Only what grants and the audit log need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `sub`.
    pub subject: Option<String>,
    /// `azp`, else `client_id`.
    pub client: Option<String>,
    /// `iss`.
    pub issuer: String,
    /// Scopes from `scope` (space-separated) and `scp` (string or array).
    pub scopes: Vec<String>,
    /// Groups from the configured group claim.
    pub groups: Vec<String>,
    /// `exp`, epoch seconds.
    pub expires_at: i64,
}

/// Registered and common claims. Unknown claims are kept for the group claim.
/// `deny_unknown_fields` is not used (tokens carry many claims), but derived
/// structs do refuse duplicate keys, which closes a JSON parser-differential hole.
#[derive(Debug, Deserialize)]
pub(crate) struct Claims {
    pub sub: Option<String>,
    pub iss: String,
    pub exp: i64,
    pub iat: Option<i64>,
    pub azp: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub scp: Option<StringOrList>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// A claim that is either one string or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => s.split_whitespace().map(str::to_owned).collect(),
            StringOrList::Many(v) => v,
        }
    }
}

impl Claims {
    /// Builds the caller, reading groups from `group_claim`.
    pub(crate) fn into_caller(mut self, group_claim: &str) -> Caller {
        let mut scopes: Vec<String> = self
            .scope
            .take()
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        scopes.extend(self.scp.take().map(StringOrList::into_vec).unwrap_or_default());
        let groups = match self.other.remove(group_claim) {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Caller {
            subject: self.sub,
            client: self.azp.or(self.client_id),
            issuer: self.iss,
            scopes,
            groups,
            expires_at: self.exp,
        }
    }
}
