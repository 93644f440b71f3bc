//! Deciding, as CloudFront would, whether a signed URL (or a request URL plus
//! signed cookies) grants access at a given time from a given address — and
//! explaining the first reason it does not.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::Value;

use super::base64cf;
use super::hash::HashAlgorithm;
use super::keys::PublicKey;
use super::policy::PolicyType;
use super::signer::cookie_names;
use super::wildcard::resource_matches;

/// Finds the public key registered under a key pair id.
pub trait KeyResolver {
    /// The key for `key_pair_id`, if known.
    fn resolve(&self, key_pair_id: &str) -> Option<&PublicKey>;
}

impl KeyResolver for HashMap<String, PublicKey> {
    fn resolve(&self, key_pair_id: &str) -> Option<&PublicKey> {
        self.get(key_pair_id)
    }
}

impl KeyResolver for (&str, &PublicKey) {
    fn resolve(&self, key_pair_id: &str) -> Option<&PublicKey> {
        (self.0 == key_pair_id).then_some(self.1)
    }
}

/// Stable machine-readable reasons a signed request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// `Signature`, `Key-Pair-Id`, or both `Expires` and `Policy` are missing.
    MissingParameter,
    /// A signing parameter appears twice, or `Expires` and `Policy` both do.
    DuplicateParameter,
    /// `Expires` is not an integer, or `Policy`/`Signature` are not CloudFront base64.
    MalformedParameter,
    /// The policy is not the JSON CloudFront accepts.
    MalformedPolicy,
    /// `Hash-Algorithm` is neither `SHA1` nor `SHA256`.
    UnsupportedHashAlgorithm,
    /// No public key is known under `Key-Pair-Id`.
    UnknownKeyPairId,
    /// The signature does not match the policy (or, canned, the URL).
    BadSignature,
    /// Now is at or after `DateLessThan`.
    Expired,
    /// Now is at or before `DateGreaterThan`.
    NotYetValid,
    /// The request URL is not covered by the policy's `Resource`.
    ResourceMismatch,
    /// The client address is outside the policy's `IpAddress` range.
    IpMismatch,
    /// The policy is bound to an address range but no client address was given.
    ClientIpRequired,
}

/// The first reason a request fails, with a human explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Stable code.
    pub code: FailureCode,
    /// What exactly was wrong.
    pub detail: String,
}

/// The outcome of a verification and what could be learned on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// `None` when CloudFront would serve the request.
    pub failure: Option<Failure>,
    /// The key pair id presented.
    pub key_pair_id: Option<String>,
    /// Canned or custom, once known.
    pub policy_type: Option<PolicyType>,
    /// The policy JSON (rebuilt for canned, decoded for custom), once known.
    pub policy_json: Option<String>,
    /// The digest named by the request (SHA-1 when absent).
    pub hash_algorithm: Option<HashAlgorithm>,
}

impl Verification {
    /// Whether CloudFront would serve the request.
    pub fn is_valid(&self) -> bool {
        self.failure.is_none()
    }
}

/// The moment and place of the request being judged.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext {
    /// Epoch seconds of the request.
    pub at: i64,
    /// The viewer's IPv4 address, when known.
    pub client_ip: Option<Ipv4Addr>,
}

/// The signing parameters, gathered from a query string or from cookies.
#[derive(Default)]
struct Params {
    expires: Option<String>,
    policy: Option<String>,
    signature: Option<String>,
    key_pair_id: Option<String>,
    hash_algorithm: Option<String>,
}

impl Params {
    /// Records one parameter by its CloudFront name; `Err` on a duplicate.
    fn set(&mut self, name: &str, value: &str, names: [&str; 5]) -> Result<bool, Failure> {
        let slot = match names.iter().position(|n| *n == name) {
            Some(0) => &mut self.expires,
            Some(1) => &mut self.policy,
            Some(2) => &mut self.signature,
            Some(3) => &mut self.key_pair_id,
            Some(4) => &mut self.hash_algorithm,
            _ => return Ok(false),
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(fail(
                FailureCode::DuplicateParameter,
                format!("{name} appears more than once"),
            ));
        }
        Ok(true)
    }
}

const URL_NAMES: [&str; 5] = ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"];
const COOKIE_NAMES: [&str; 5] = [
    cookie_names::EXPIRES,
    cookie_names::POLICY,
    cookie_names::SIGNATURE,
    cookie_names::KEY_PAIR_ID,
    cookie_names::HASH_ALGORITHM,
];

fn fail(code: FailureCode, detail: impl Into<String>) -> Failure {
    Failure {
        code,
        detail: detail.into(),
    }
}

/// Splits the signing parameters out of a URL, returning them and the URL
/// CloudFront would use as the canned resource (the other parameters kept in
/// order; `?` dropped when none remain; any `#fragment` dropped).
fn split_url(url: &str) -> Result<(Params, String), Failure> {
    let url = url.split('#').next().unwrap_or_default();
    let mut params = Params::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((params, url.to_owned()));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !params.set(name, value, URL_NAMES)? {
            kept.push(pair);
        }
    }
    let resource = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((params, resource))
}

/// Verifies a signed URL.
pub fn verify_url(url: &str, keys: &dyn KeyResolver, ctx: RequestContext) -> Verification {
    let mut out = empty();
    match split_url(url) {
        Ok((params, resource)) => out.failure = check(&params, &resource, keys, ctx, &mut out).err(),
        Err(f) => out.failure = Some(f),
    }
    out
}

/// Verifies signed cookies presented with a request for `request_url`. Signed
/// URL parameters, when present, take precedence, as in CloudFront.
pub fn verify_cookies(
    request_url: &str,
    cookies: &[(String, String)],
    keys: &dyn KeyResolver,
    ctx: RequestContext,
) -> Verification {
    let mut out = empty();
    let result = split_url(request_url).and_then(|(url_params, resource)| {
        if url_params.signature.is_some() {
            return check(&url_params, &resource, keys, ctx, &mut out);
        }
        let mut params = Params::default();
        for (name, value) in cookies {
            params.set(name, value, COOKIE_NAMES)?;
        }
        check(&params, &resource, keys, ctx, &mut out)
    });
    out.failure = result.err();
    out
}

fn empty() -> Verification {
    Verification {
        failure: None,
        key_pair_id: None,
        policy_type: None,
        policy_json: None,
        hash_algorithm: None,
    }
}

fn check(
    p: &Params,
    resource: &str,
    keys: &dyn KeyResolver,
    ctx: RequestContext,
    out: &mut Verification,
) -> Result<(), Failure> {
    let missing = |what: &str| fail(FailureCode::MissingParameter, format!("{what} is missing"));
    let signature = p.signature.as_deref().ok_or_else(|| missing("Signature"))?;
    let key_pair_id = p.key_pair_id.as_deref().ok_or_else(|| missing("Key-Pair-Id"))?;
    out.key_pair_id = Some(key_pair_id.to_owned());
    let hash = parse_hash(p.hash_algorithm.as_deref())?;
    out.hash_algorithm = Some(hash);
    let (policy_type, json) = policy_bytes(p, resource)?;
    out.policy_type = Some(policy_type);
    out.policy_json = Some(json.clone());
    let key = keys.resolve(key_pair_id).ok_or_else(|| {
        fail(
            FailureCode::UnknownKeyPairId,
            format!("no public key is registered as {key_pair_id:?}"),
        )
    })?;
    let sig = base64cf::decode(signature)
        .ok_or_else(|| fail(FailureCode::MalformedParameter, "Signature is not CloudFront base64"))?;
    if !key.verify(json.as_bytes(), &sig, hash) {
        let why = match policy_type {
            PolicyType::Canned => {
                "signature does not match the canned policy rebuilt from this URL (was the URL changed or re-encoded after signing?)"
            }
            PolicyType::Custom => "signature does not match the policy",
        };
        return Err(fail(FailureCode::BadSignature, why));
    }
    let conditions = parse_policy(&json)?;
    conditions.check(resource, ctx)
}

fn parse_hash(value: Option<&str>) -> Result<HashAlgorithm, Failure> {
    match value {
        None => Ok(HashAlgorithm::Sha1),
        Some(v) => v.parse().map_err(|_| {
            fail(
                FailureCode::UnsupportedHashAlgorithm,
                format!("Hash-Algorithm {v:?} is not SHA1 or SHA256"),
            )
        }),
    }
}

fn policy_bytes(p: &Params, resource: &str) -> Result<(PolicyType, String), Failure> {
    match (&p.expires, &p.policy) {
        (Some(_), Some(_)) => Err(fail(
            FailureCode::DuplicateParameter,
            "both Expires and Policy are present",
        )),
        (None, None) => Err(fail(
            FailureCode::MissingParameter,
            "neither Expires nor Policy is present",
        )),
        (Some(expires), None) => {
            let valid = !expires.is_empty() && expires.bytes().all(|b| b.is_ascii_digit());
            let epoch: i64 = valid.then(|| expires.parse().ok()).flatten().ok_or_else(|| {
                fail(
                    FailureCode::MalformedParameter,
                    format!("Expires {expires:?} is not an epoch time"),
                )
            })?;
            let resource = serde_json::to_string(resource).unwrap_or_default();
            Ok((
                PolicyType::Canned,
                format!(
                    r#"{{"Statement":[{{"Resource":{resource},"Condition":{{"DateLessThan":{{"AWS:EpochTime":{epoch}}}}}}}]}}"#
                ),
            ))
        }
        (None, Some(policy)) => {
            let bytes = base64cf::decode(policy)
                .ok_or_else(|| fail(FailureCode::MalformedParameter, "Policy is not CloudFront base64"))?;
            let json =
                String::from_utf8(bytes).map_err(|_| fail(FailureCode::MalformedPolicy, "Policy is not UTF-8"))?;
            Ok((PolicyType::Custom, json))
        }
    }
}

/// The conditions of a decoded policy.
struct Conditions {
    resource: Option<String>,
    date_less_than: i64,
    date_greater_than: Option<i64>,
    ip: Option<super::cidr::CidrV4>,
}

fn parse_policy(json: &str) -> Result<Conditions, Failure> {
    let bad = |why: &str| fail(FailureCode::MalformedPolicy, why.to_owned());
    let value: Value = serde_json::from_str(json).map_err(|e| bad(&format!("policy is not JSON: {e}")))?;
    let statements = value
        .get("Statement")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no Statement array"))?;
    let [statement] = statements.as_slice() else {
        return Err(bad("a policy must have exactly one statement"));
    };
    let resource = match statement.get("Resource") {
        None => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => return Err(bad("Resource must be a string")),
    };
    let condition = statement
        .get("Condition")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no Condition object"))?;
    let epoch = |name: &str| -> Result<Option<i64>, Failure> {
        match condition.get(name) {
            None => Ok(None),
            Some(v) => v
                .get("AWS:EpochTime")
                .and_then(Value::as_i64)
                .map(Some)
                .ok_or_else(|| bad(&format!("{name} must be {{\"AWS:EpochTime\": integer}}"))),
        }
    };
    let date_less_than = epoch("DateLessThan")?.ok_or_else(|| bad("DateLessThan is required"))?;
    let date_greater_than = epoch("DateGreaterThan")?;
    let ip = match condition.get("IpAddress") {
        None => None,
        Some(v) => Some(
            v.get("AWS:SourceIp")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("IpAddress must be {\"AWS:SourceIp\": \"a.b.c.d/n\"}"))?,
        ),
    };
    if let Some(unknown) = condition
        .keys()
        .find(|k| !["DateLessThan", "DateGreaterThan", "IpAddress"].contains(&k.as_str()))
    {
        return Err(bad(&format!("unknown condition {unknown:?}")));
    }
    Ok(Conditions {
        resource,
        date_less_than,
        date_greater_than,
        ip,
    })
}

impl Conditions {
    fn check(&self, url: &str, ctx: RequestContext) -> Result<(), Failure> {
        if ctx.at >= self.date_less_than {
            return Err(fail(
                FailureCode::Expired,
                format!("expired at {} (request at {})", self.date_less_than, ctx.at),
            ));
        }
        if let Some(start) = self.date_greater_than.filter(|s| ctx.at <= *s) {
            return Err(fail(
                FailureCode::NotYetValid,
                format!("valid only after {start} (request at {})", ctx.at),
            ));
        }
        // A policy without Resource grants every file the key may sign for.
        let pattern = self.resource.as_deref().unwrap_or("*");
        if !resource_matches(pattern, url) {
            return Err(fail(
                FailureCode::ResourceMismatch,
                format!("the policy grants {pattern:?}, not this URL"),
            ));
        }
        match (self.ip, ctx.client_ip) {
            (None, _) => Ok(()),
            (Some(range), None) => Err(fail(
                FailureCode::ClientIpRequired,
                format!("the policy is bound to {range}; give the client address"),
            )),
            (Some(range), Some(ip)) if !range.contains(ip) => {
                Err(fail(FailureCode::IpMismatch, format!("{ip} is outside {range}")))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_canned_resource_without_signing_params() {
        let (p, resource) = split_url("https://x/a?k=v&Expires=5&Signature=s&Key-Pair-Id=K&z=1#frag").unwrap();
        assert_eq!(resource, "https://x/a?k=v&z=1");
        assert_eq!(p.expires.as_deref(), Some("5"));
        let (_, resource) = split_url("https://x/a?Expires=5&Signature=s").unwrap();
        assert_eq!(resource, "https://x/a");
    }

    #[test]
    fn duplicate_parameters_are_refused() {
        let err = split_url("https://x/a?Expires=5&Expires=6").err().unwrap();
        assert_eq!(err.code, FailureCode::DuplicateParameter);
    }

    #[test]
    fn policy_parse_errors() {
        for (json, frag) in [
            ("nope", "not JSON"),
            (r#"{"Statement":[]}"#, "exactly one"),
            (r#"{"Statement":[{"Condition":{}}]}"#, "DateLessThan"),
            (
                r#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":"1"}}}]}"#,
                "integer",
            ),
            (
                r#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1},"Foo":{}}}]}"#,
                "unknown",
            ),
            (
                r#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1},"IpAddress":{"AWS:SourceIp":"::1"}}}]}"#,
                "IpAddress",
            ),
        ] {
            let err = parse_policy(json).err().unwrap();
            assert_eq!(err.code, FailureCode::MalformedPolicy);
            assert!(err.detail.contains(frag), "{json}: {}", err.detail);
        }
    }
}
