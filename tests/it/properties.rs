//! Property tests of the signing core, on every compiled backend, with both
//! key types and both digests:
//!
//! - sign → verify is valid inside the policy's window and address range;
//! - changing any single character of the URL's path or query, of the policy
//!   (decoded, changed, re-encoded; for canned policies, of `Expires`) or of
//!   the signature makes verification fail — for signed URLs and for cookies;
//! - CloudFront base64 round-trips; `encode_object_key` always yields a path
//!   `SignableUrl` accepts; `CidrV4` display/parse round-trips.
//!
//! Case counts are modest: RustCrypto RSA signing is slow in debug builds.

use std::net::Ipv4Addr;

use cfsign::signing::resource::encode_object_key;
use cfsign::signing::{
    Backend, CidrV4, HashAlgorithm, KeyPairId, Policy, PolicyType, PrivateKey, PublicKey, RequestContext,
    ResourcePattern, SignableUrl, Signer, Verification, base64cf, verify_cookies, verify_url,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

const HOST: &str = "d111111abcdef8.cloudfront.net";
const KEY_PAIR_ID: &str = "K2JCJMDEHXQW5F";
const HASHES: [HashAlgorithm; 2] = [HashAlgorithm::Sha1, HashAlgorithm::Sha256];
/// Cases per (backend, key, hash) combination; 8 combinations with both backends.
const CASES_PER_COMBINATION: u32 = 32;

/// Characters a single-character change may write into a URL path or query.
const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
/// CloudFront's base64 alphabet.
const CF_BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~_";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A signing key and its public half, loaded in one backend.
struct Keys {
    label: String,
    private: PrivateKey,
    public: PublicKey,
    hash: HashAlgorithm,
}

/// Every (backend, key, hash) combination compiled into this build.
fn combinations() -> Vec<Keys> {
    let mut out = Vec::new();
    for backend in Backend::ALL {
        for name in ["rsa2048", "ec-p256"] {
            for hash in HASHES {
                out.push(Keys {
                    label: format!("{}/{name}/{hash}", backend.name()),
                    private: PrivateKey::from_pem_with(*backend, &fixture(&format!("{name}.pem")), None).unwrap(),
                    public: PublicKey::from_pem_with(*backend, &fixture(&format!("{name}.pub.pem"))).unwrap(),
                    hash,
                });
            }
        }
    }
    out
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        failure_persistence: None,
        ..Config::with_cases(cases)
    })
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// A path segment: unreserved characters and percent-escapes.
fn segment() -> impl Strategy<Value = String> {
    "([A-Za-z0-9._~-]|%[0-9A-F]{2}){1,10}"
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..4).prop_map(|segments| format!("/{}", segments.join("/")))
}

/// A query string; names start with `q` so none is a CloudFront parameter.
fn query() -> impl Strategy<Value = Option<String>> {
    let pair = ("q[a-z0-9]{0,5}", "([A-Za-z0-9._~-]|%[0-9A-F]{2}){0,8}").prop_map(|(k, v)| format!("{k}={v}"));
    prop::option::of(prop::collection::vec(pair, 1..3).prop_map(|pairs| pairs.join("&")))
}

/// What the policy grants: exactly the URL, or a wildcard after a prefix of
/// its path (`https://host/<prefix>*`).
#[derive(Debug, Clone)]
enum Grant {
    Exact,
    Wildcard(Index),
}

fn grant() -> impl Strategy<Value = Grant> {
    prop_oneof![2 => Just(Grant::Exact), 1 => any::<Index>().prop_map(Grant::Wildcard)]
}

#[derive(Debug, Clone)]
struct Case {
    path: String,
    query: Option<String>,
    grant: Grant,
    /// The moment of the request, strictly inside the window.
    at: i64,
    /// `DateLessThan - at`.
    ttl: i64,
    /// `at - DateGreaterThan`, when there is a start.
    since_start: Option<i64>,
    /// An IPv4 range, and host bits for the client inside it.
    ip: Option<(u32, u8)>,
    client_bits: u32,
    /// Which character to change, and into what.
    at_char: Index,
    into_char: Index,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (path(), query(), grant()),
        (
            1_000_000_000i64..4_000_000_000,
            1i64..10_000_000,
            prop::option::of(1i64..10_000_000),
        ),
        (
            prop::option::of((any::<u32>(), 0u8..=32)),
            any::<u32>(),
            any::<Index>(),
            any::<Index>(),
        ),
    )
        .prop_map(
            |((path, query, grant), (at, ttl, since_start), (ip, client_bits, at_char, into_char))| Case {
                path,
                query,
                grant,
                at,
                ttl,
                since_start,
                ip,
                client_bits,
                at_char,
                into_char,
            },
        )
}

impl Case {
    fn url(&self) -> String {
        match &self.query {
            Some(q) => format!("https://{HOST}{}?{q}", self.path),
            None => format!("https://{HOST}{}", self.path),
        }
    }

    /// Length of the part of the path the policy grants literally (all of
    /// path and query for an exact grant).
    fn literal_len(&self) -> usize {
        match &self.grant {
            Grant::Exact => self.url().len() - self.prefix_len(),
            Grant::Wildcard(i) => 1 + i.index(self.path.len()),
        }
    }

    /// Length of `https://host`.
    fn prefix_len(&self) -> usize {
        "https://".len() + HOST.len()
    }

    fn resource(&self) -> ResourcePattern {
        let url = self.url();
        match &self.grant {
            Grant::Exact => url.parse().unwrap(),
            Grant::Wildcard(_) => format!("{}*", &url[..self.prefix_len() + self.literal_len()])
                .parse()
                .unwrap(),
        }
    }

    fn cidr(&self) -> Option<CidrV4> {
        self.ip
            .map(|(addr, prefix)| CidrV4::new(Ipv4Addr::from(addr), prefix).unwrap())
    }

    fn policy(&self) -> Policy {
        let start = self.since_start.map(|s| self.at - s);
        Policy::new(self.resource(), self.at + self.ttl, start, self.cidr()).unwrap()
    }

    /// An address inside the range (any address when there is none).
    fn client(&self) -> Ipv4Addr {
        match self.ip {
            None => Ipv4Addr::from(self.client_bits),
            Some((addr, prefix)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                Ipv4Addr::from((addr & mask) | (self.client_bits & !mask))
            }
        }
    }

    fn context(&self) -> RequestContext {
        RequestContext {
            at: self.at,
            client_ip: Some(self.client()),
        }
    }

    /// `text` with the character at `at_char` (among `range`) replaced by a
    /// different one from `alphabet`.
    fn change_char(&self, text: &str, range: std::ops::Range<usize>, alphabet: &[u8]) -> String {
        let pos = range.start + self.at_char.index(range.len());
        let old = text.as_bytes()[pos];
        let choices: Vec<u8> = alphabet.iter().copied().filter(|c| *c != old).collect();
        let new = choices[self.into_char.index(choices.len())];
        let mut bytes = text.as_bytes().to_vec();
        bytes[pos] = new;
        String::from_utf8(bytes).unwrap()
    }
}

fn assert_valid(verdict: &Verification, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(verdict.is_valid(), "{what} should verify: {:?}", verdict.failure);
    Ok(())
}

fn assert_refused(verdict: &Verification, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(!verdict.is_valid(), "{what} should be refused, but verified");
    Ok(())
}

/// Byte range of the value of query parameter `name` in `url`.
fn param_range(url: &str, name: &str) -> std::ops::Range<usize> {
    let key = format!("{name}=");
    let start = url
        .match_indices(&key)
        .find(|(i, _)| matches!(url.as_bytes()[i - 1], b'?' | b'&'))
        .map(|(i, _)| i + key.len())
        .unwrap();
    let end = url[start..].find('&').map_or(url.len(), |e| start + e);
    start..end
}

// ---------------------------------------------------------------------------
// Signed URLs
// ---------------------------------------------------------------------------

fn check_url(keys: &Keys, kpid: &KeyPairId, case: &Case) -> Result<(), TestCaseError> {
    let resolver = (kpid.as_str(), &keys.public);
    let verify = |url: &str| verify_url(url, &resolver, case.context());
    let url: SignableUrl = case.url().parse().unwrap();
    let policy = case.policy();
    let signed = Signer::new(&keys.private, kpid)
        .sign_url(&url, &policy, keys.hash)
        .unwrap();
    let s = signed.url.as_str();

    let verdict = verify(s);
    assert_valid(&verdict, "signed URL")?;
    prop_assert_eq!(verdict.policy_json, Some(policy.to_json()));

    // Outside the window or the range, refused.
    let late = verify_url(
        s,
        &resolver,
        RequestContext {
            at: policy.date_less_than(),
            ..case.context()
        },
    );
    assert_refused(&late, "signed URL at its expiry")?;

    // One character of the granted path/query changed.
    let literal = case.prefix_len()..case.prefix_len() + case.literal_len();
    assert_refused(
        &verify(&case.change_char(s, literal, URL_SAFE)),
        "URL with a changed path/query",
    )?;

    // One character of the signature changed.
    let changed = case.change_char(s, param_range(s, "Signature"), CF_BASE64);
    assert_refused(&verify(&changed), "URL with a changed signature")?;

    // One character of the policy changed: the decoded JSON (custom) or the
    // expiry it is rebuilt from (canned).
    let changed = match signed.policy_type {
        PolicyType::Custom => {
            let range = param_range(s, "Policy");
            let json = String::from_utf8(base64cf::decode(&s[range.clone()]).unwrap()).unwrap();
            let printable: Vec<u8> = (b' '..=b'~').collect();
            let json = case.change_char(&json, 0..json.len(), &printable);
            format!(
                "{}{}{}",
                &s[..range.start],
                base64cf::encode(json.as_bytes()),
                &s[range.end..]
            )
        }
        PolicyType::Canned => case.change_char(s, param_range(s, "Expires"), b"0123456789"),
    };
    assert_refused(&verify(&changed), "URL with a changed policy")?;
    Ok(())
}

#[test]
fn signed_urls_verify_and_any_single_change_is_refused() {
    let kpid: KeyPairId = KEY_PAIR_ID.parse().unwrap();
    for keys in combinations() {
        runner(CASES_PER_COMBINATION)
            .run(&case(), |case| check_url(&keys, &kpid, &case))
            .unwrap_or_else(|e| panic!("{}: {e}", keys.label));
    }
}

// ---------------------------------------------------------------------------
// Signed cookies
// ---------------------------------------------------------------------------

fn check_cookies(keys: &Keys, kpid: &KeyPairId, case: &Case) -> Result<(), TestCaseError> {
    let resolver = (kpid.as_str(), &keys.public);
    let request = case.url();
    let policy = case.policy();
    let signed = Signer::new(&keys.private, kpid)
        .sign_cookies(&policy, keys.hash)
        .unwrap();
    let cookies: Vec<(String, String)> = signed.cookies.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
    let verify = |url: &str, cookies: &[(String, String)]| verify_cookies(url, cookies, &resolver, case.context());

    let verdict = verify(&request, &cookies);
    assert_valid(&verdict, "signed cookies")?;
    prop_assert_eq!(verdict.policy_json, Some(policy.to_json()));

    // A request for a URL with one granted character changed.
    let literal = case.prefix_len()..case.prefix_len() + case.literal_len();
    assert_refused(
        &verify(&case.change_char(&request, literal, URL_SAFE), &cookies),
        "changed request URL",
    )?;

    // One character of a cookie changed.
    let with_changed = |name: &str, change: &dyn Fn(&str) -> String| -> Vec<(String, String)> {
        cookies
            .iter()
            .map(|(n, v)| (n.clone(), if n == name { change(v) } else { v.clone() }))
            .collect()
    };
    let changed = with_changed("CloudFront-Signature", &|v| case.change_char(v, 0..v.len(), CF_BASE64));
    assert_refused(&verify(&request, &changed), "changed CloudFront-Signature")?;
    let changed = match signed.policy_type {
        PolicyType::Custom => with_changed("CloudFront-Policy", &|v| {
            let json = String::from_utf8(base64cf::decode(v).unwrap()).unwrap();
            let printable: Vec<u8> = (b' '..=b'~').collect();
            base64cf::encode(case.change_char(&json, 0..json.len(), &printable).as_bytes())
        }),
        PolicyType::Canned => with_changed("CloudFront-Expires", &|v| {
            case.change_char(v, 0..v.len(), b"0123456789")
        }),
    };
    assert_refused(&verify(&request, &changed), "changed policy cookie")?;
    Ok(())
}

#[test]
fn signed_cookies_verify_and_any_single_change_is_refused() {
    let kpid: KeyPairId = KEY_PAIR_ID.parse().unwrap();
    for keys in combinations() {
        runner(CASES_PER_COMBINATION)
            .run(&case(), |case| check_cookies(&keys, &kpid, &case))
            .unwrap_or_else(|e| panic!("{}: {e}", keys.label));
    }
}

// ---------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(Config { failure_persistence: None, ..Config::with_cases(256) })]

    #[test]
    fn base64cf_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = base64cf::encode(&bytes);
        prop_assert!(text.bytes().all(|b| CF_BASE64.contains(&b)), "{text}");
        prop_assert_eq!(text.len() % 4, 0);
        prop_assert_eq!(base64cf::decode(&text), Some(bytes));
    }

    #[test]
    fn base64cf_decode_never_panics(text in "[A-Za-z0-9+/=_~-]{0,40}") {
        if let Some(bytes) = base64cf::decode(&text) {
            prop_assert_eq!(base64cf::encode(&bytes), text);
        }
    }

    #[test]
    fn encoded_object_keys_are_signable(key in "[^\\p{Cc}]{1,40}", slashes in prop::collection::vec(any::<Index>(), 0..3)) {
        // Sprinkle '/' into arbitrary Unicode text.
        let mut key: Vec<char> = key.chars().collect();
        for at in slashes {
            let i = at.index(key.len() + 1);
            key.insert(i, '/');
        }
        let key: String = key.into_iter().collect();
        // One leading '/' is ignored; then every segment must be a real name:
        // not empty, and not a dot segment by the one rule (`.`/`..`, also
        // with a `;` or `%3B` path parameter after them).
        let relative = key.strip_prefix('/').unwrap_or(&key);
        let sane = relative
            .split('/')
            .all(|s| !s.is_empty() && !cfsign::signing::resource::is_dot_segment(s));
        match encode_object_key(&key) {
            Ok(path) => {
                prop_assert!(sane, "{key:?} was accepted");
                let url = format!("https://{HOST}{path}");
                prop_assert!(url.parse::<SignableUrl>().is_ok(), "{url} refused");
                prop_assert!(!path.contains(['?', '#', '*', '&']), "{path}");
                // Each segment decodes back to the key's segment.
                let decoded: Vec<String> = path[1..]
                    .split('/')
                    .map(|s| percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned())
                    .collect();
                prop_assert_eq!(decoded.join("/"), relative.to_owned());
            }
            Err(_) => prop_assert!(!sane, "{key:?} was refused"),
        }
    }

    #[test]
    fn cidr_display_parse_round_trips(addr in any::<u32>(), prefix in 0u8..=32) {
        let cidr = CidrV4::new(Ipv4Addr::from(addr), prefix).unwrap();
        let text = cidr.to_string();
        prop_assert_eq!(text.parse::<CidrV4>(), Ok(cidr));
        prop_assert_eq!(text, format!("{}/{prefix}", Ipv4Addr::from(addr)));
        // A bare address is a /32.
        prop_assert_eq!(Ipv4Addr::from(addr).to_string().parse::<CidrV4>(), Ok(CidrV4::new(Ipv4Addr::from(addr), 32).unwrap()));
        prop_assert!(cidr.contains(Ipv4Addr::from(addr)));
    }

    #[test]
    fn cidr_parse_accepts_only_what_it_displays(text in "[0-9./:]{0,20}") {
        if let Ok(cidr) = text.parse::<CidrV4>() {
            let shown = cidr.to_string();
            prop_assert!(shown == text || shown == format!("{text}/32"), "{text} shown as {shown}");
        }
    }
}
