//! Verification of signed URLs and cookies, as `/v1/verify` and
//! `cfsign verify` do it. The first input byte picks the mode:
//! - 0: the rest is a URL (lossy UTF-8) given to `verify_url`;
//! - 1: the rest is a *policy* (arbitrary bytes, so arbitrary JSON), signed
//!   with the fixture key so that verification gets past the signature and
//!   into policy parsing, condition and resource matching;
//! - 2: like 1, but presented as signed cookies for a request URL;
//! - other: the rest is split into a request URL and cookie pairs.
//!
//! Must never panic; a verdict of "valid" requires a well-formed policy
//! whose expiry is after the request time.
#![no_main]

mod common;

use std::net::Ipv4Addr;

use cfsign::signing::{HashAlgorithm, RequestContext, Verification, base64cf, verify_cookies, verify_url};
use common::{KEY_PAIR_ID, NOW, fixture};
use libfuzzer_sys::fuzz_target;

const REQUEST: &str = "https://cdn.example.com/uploads/a.pdf?x=1";

fn ctx() -> RequestContext {
    RequestContext {
        at: NOW,
        client_ip: Some(Ipv4Addr::new(203, 0, 113, 9)),
    }
}

fn check(v: &Verification) {
    if v.is_valid() {
        let json = v.policy_json.as_deref().expect("a valid verdict has a policy");
        let doc: serde_json::Value = serde_json::from_str(json).expect("a valid policy is JSON");
        let expiry = doc["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"]
            .as_i64()
            .expect("a valid policy has DateLessThan");
        assert!(expiry > NOW, "{json}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let keys = (KEY_PAIR_ID, &f.public);
    match mode {
        0 => {
            let url = String::from_utf8_lossy(rest);
            check(&verify_url(&url, &keys, ctx()));
        }
        1 | 2 => {
            let hash = if rest.first().is_some_and(|b| b & 1 == 1) {
                HashAlgorithm::Sha256
            } else {
                HashAlgorithm::Sha1
            };
            let Ok(sig) = f.key.sign(rest, hash) else { return };
            let policy = base64cf::encode(rest);
            let signature = base64cf::encode(&sig);
            assert_eq!(base64cf::decode(&policy).as_deref(), Some(rest));
            let v = if mode == 1 {
                let url = format!(
                    "{REQUEST}&Policy={policy}&Signature={signature}&Key-Pair-Id={KEY_PAIR_ID}&Hash-Algorithm={}",
                    hash.as_str()
                );
                verify_url(&url, &keys, ctx())
            } else {
                let cookies = vec![
                    ("CloudFront-Policy".to_owned(), policy),
                    ("CloudFront-Signature".to_owned(), signature),
                    ("CloudFront-Key-Pair-Id".to_owned(), KEY_PAIR_ID.to_owned()),
                    ("CloudFront-Hash-Algorithm".to_owned(), hash.as_str().to_owned()),
                ];
                verify_cookies(REQUEST, &cookies, &keys, ctx())
            };
            // A policy that is not UTF-8 JSON with a future expiry never passes.
            check(&v);
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let mut lines = text.split('\n');
            let url = lines.next().unwrap_or_default();
            let cookies: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            check(&verify_cookies(url, &cookies, &keys, ctx()));
        }
    }
});
