//! Every reference vector in `tests/fixtures/vectors.json` (made with botocore,
//! the AWS CLI's code path, and cross-checked with `@aws-sdk/cloudfront-signer`)
//! reproduced byte for byte (RSA) or verified (randomised ECDSA), on every
//! compiled backend.

use std::path::Path;

use cfsign::signing::{
    Backend, CidrV4, HashAlgorithm, KeyPairId, Policy, PolicyType, PrivateKey, PublicKey, RequestContext,
    ResourcePattern, SignableUrl, Signer, base64cf, verify_cookies, verify_url,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    id: String,
    kind: String,
    input: Input,
    expected: Expected,
}

#[derive(Deserialize)]
struct Input {
    url: Option<String>,
    resource: Option<String>,
    key_pair_id: String,
    private_key: String,
    date_less_than: i64,
    hash_algorithm: String,
    policy_resource: Option<String>,
    date_greater_than: Option<i64>,
    ip_address: Option<String>,
}

#[derive(Deserialize)]
struct Expected {
    policy_type: String,
    policy_json: String,
    verify_only: bool,
    url: Option<String>,
    signature: Option<String>,
    cookies: Option<serde_json::Map<String, serde_json::Value>>,
    param_order: Option<Vec<String>>,
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read_key(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("keys").join(name)).unwrap()
}

fn public_key_for(backend: Backend, private: &str) -> PublicKey {
    let name = private.replace(".pem", ".pub.pem");
    PublicKey::from_pem_with(backend, &read_key(&name)).unwrap()
}

fn policy_for(case: &Case) -> Policy {
    let i = &case.input;
    let target = i.url.as_ref().or(i.resource.as_ref()).unwrap();
    let resource: ResourcePattern = i.policy_resource.as_ref().unwrap_or(target).parse().unwrap();
    let ip: Option<CidrV4> = i.ip_address.as_ref().map(|s| s.parse().unwrap());
    Policy::new(resource, i.date_less_than, i.date_greater_than, ip).unwrap()
}

/// The time at which every vector is valid: one second after its start (or
/// one second before its expiry when there is no start).
fn valid_moment(case: &Case) -> i64 {
    case.input
        .date_greater_than
        .map_or(case.input.date_less_than - 1, |s| s + 1)
}

fn context(case: &Case) -> RequestContext {
    let ip = case
        .input
        .ip_address
        .as_ref()
        .map(|s| s.parse::<CidrV4>().unwrap().addr());
    RequestContext {
        at: valid_moment(case),
        client_ip: ip,
    }
}

#[test]
fn there_are_forty_vectors_of_every_kind() {
    let cases = cases();
    assert_eq!(cases.len(), 40);
    for kind in ["url", "cookies"] {
        assert!(cases.iter().any(|c| c.kind == kind));
    }
    assert!(cases.iter().any(|c| c.expected.verify_only));
    assert!(cases.iter().any(|c| c.input.hash_algorithm == "SHA256"));
}

#[test]
fn policy_bytes_match_every_vector() {
    for case in cases() {
        let policy = policy_for(&case);
        assert_eq!(policy.to_json(), case.expected.policy_json, "{}", case.id);
    }
}

#[test]
fn url_vectors() {
    for backend in Backend::ALL {
        for case in cases().into_iter().filter(|c| c.kind == "url") {
            check_url_case(*backend, &case);
        }
    }
}

#[test]
fn cookie_vectors() {
    for backend in Backend::ALL {
        for case in cases().into_iter().filter(|c| c.kind == "cookies") {
            check_cookie_case(*backend, &case);
        }
    }
}

fn check_url_case(backend: Backend, case: &Case) {
    let id = format!("{} [{}]", case.id, backend.name());
    let key = PrivateKey::from_pem_with(backend, &read_key(&case.input.private_key), None).unwrap();
    let kpid: KeyPairId = case.input.key_pair_id.parse().unwrap();
    let url: SignableUrl = case.input.url.as_ref().unwrap().parse().unwrap();
    let hash: HashAlgorithm = case.input.hash_algorithm.parse().unwrap();
    let signed = Signer::new(&key, &kpid)
        .sign_url(&url, &policy_for(case), hash)
        .unwrap();
    assert_eq!(signed.policy_type.as_str(), case.expected.policy_type, "{id}");
    assert_eq!(
        param_names(&signed.url),
        *case.expected.param_order.as_ref().unwrap(),
        "{id}"
    );
    if case.expected.verify_only {
        assert_ecdsa_der(query_value(&signed.url, "Signature"), &id);
    } else {
        assert_eq!(Some(&signed.url), case.expected.url.as_ref(), "{id}");
        assert_eq!(
            Some(query_value(&signed.url, "Signature")),
            case.expected.signature.as_deref(),
            "{id}"
        );
    }
    let public = public_key_for(backend, &case.input.private_key);
    let verdict = verify_url(&signed.url, &(kpid.as_str(), &public), context(case));
    assert!(verdict.is_valid(), "{id}: {:?}", verdict.failure);
    assert_eq!(
        verdict.policy_json.as_deref(),
        Some(case.expected.policy_json.as_str()),
        "{id}"
    );
    // The reference URL itself must verify too (for ECDSA there is none).
    if let Some(expected) = &case.expected.url {
        assert!(
            verify_url(expected, &(kpid.as_str(), &public), context(case)).is_valid(),
            "{id}"
        );
    }
}

fn check_cookie_case(backend: Backend, case: &Case) {
    let id = format!("{} [{}]", case.id, backend.name());
    let key = PrivateKey::from_pem_with(backend, &read_key(&case.input.private_key), None).unwrap();
    let kpid: KeyPairId = case.input.key_pair_id.parse().unwrap();
    let hash: HashAlgorithm = case.input.hash_algorithm.parse().unwrap();
    let signed = Signer::new(&key, &kpid).sign_cookies(&policy_for(case), hash).unwrap();
    assert_eq!(signed.policy_type.as_str(), case.expected.policy_type, "{id}");
    let policy_cookie = signed.cookies.iter().find(|(n, _)| *n == "CloudFront-Policy");
    if let Some((_, value)) = policy_cookie {
        assert_eq!(
            base64cf::decode(value).unwrap(),
            case.expected.policy_json.as_bytes(),
            "{id}"
        );
    }
    if case.expected.verify_only {
        let (_, sig) = signed
            .cookies
            .iter()
            .find(|(n, _)| *n == "CloudFront-Signature")
            .unwrap();
        assert_ecdsa_der(sig, &id);
    } else {
        let expected = case.expected.cookies.as_ref().unwrap();
        // A JSON object has no order: compare the sets of (name, value).
        let mut got: Vec<(String, String)> = signed.cookies.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
        let mut want: Vec<(String, String)> = expected
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{id}: names and values");
    }
    // Cookies authorise a request for the concrete resource (or, for a
    // wildcard, a URL under it).
    let request_url = case.input.resource.as_ref().unwrap().replace('*', "any/file.ts");
    let cookies: Vec<(String, String)> = signed.cookies.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
    let public = public_key_for(backend, &case.input.private_key);
    let verdict = verify_cookies(&request_url, &cookies, &(kpid.as_str(), &public), context(case));
    assert!(verdict.is_valid(), "{id}: {:?}", verdict.failure);
    let expected_type = if case.expected.policy_type == "canned" {
        PolicyType::Canned
    } else {
        PolicyType::Custom
    };
    assert_eq!(verdict.policy_type, Some(expected_type), "{id}");
}

fn param_names(url: &str) -> Vec<String> {
    let reserved = ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"];
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .map(|p| p.split('=').next().unwrap().to_owned())
        .filter(|n| reserved.contains(&n.as_str()))
        .collect()
}

fn query_value<'a>(url: &'a str, name: &str) -> &'a str {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap()
}

/// An ECDSA P-256 signature in CloudFront base64: a DER SEQUENCE of two
/// INTEGERs. Usually 70-72 bytes (96 characters), but shorter when r or s has
/// leading zero bytes (about 1 signature in 500 with random nonces), so the
/// length alone must not be asserted.
fn assert_ecdsa_der(signature: &str, id: &str) {
    let der = base64cf::decode(signature).unwrap_or_else(|| panic!("{id}: not CloudFront base64"));
    assert!((8..=72).contains(&der.len()), "{id}: {} bytes", der.len());
    assert_eq!(der[0], 0x30, "{id}: not a DER SEQUENCE");
    assert_eq!(der[1] as usize, der.len() - 2, "{id}: DER length");
    let r_len = der[3] as usize;
    assert_eq!(der[2], 0x02, "{id}: r is not an INTEGER");
    assert_eq!(der[4 + r_len], 0x02, "{id}: s is not an INTEGER");
    assert_eq!(
        4 + r_len + 2 + der[5 + r_len] as usize,
        der.len(),
        "{id}: trailing bytes"
    );
}

#[test]
fn openssl_ecparam_genkey_output_loads_on_every_backend() {
    // `openssl ecparam -genkey` writes an EC PARAMETERS block before the key.
    let out = std::process::Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey"])
        .output()
        .expect("openssl on PATH");
    let pem = out.stdout;
    assert!(String::from_utf8_lossy(&pem).starts_with("-----BEGIN EC PARAMETERS-----"));
    for backend in Backend::ALL {
        let key = PrivateKey::from_pem_with(*backend, &pem, None).unwrap();
        let sig = key.sign(b"policy", HashAlgorithm::Sha256).unwrap();
        assert!(key.public_key().unwrap().verify(b"policy", &sig, HashAlgorithm::Sha256));
    }
}
