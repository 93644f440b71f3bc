//! Token verification cost per call of `Authenticator::authenticate`, with and
//! without the verified-token cache.
//!
//! Benchmarks are named `auth/{alg}_{uncached|cached}`: `auth/hs256_uncached`,
//! `auth/hs256_cached`, `auth/rs256_uncached`, `auth/rs256_cached`,
//! `auth/es256_uncached`, `auth/es256_cached`. Uncached runs use
//! `with_token_cache(0)` (every call checks the signature and claims); cached
//! runs use `with_token_cache(1000)` and repeat one token, so every timed call
//! is a hit (SHA-256 of the token and a cache lookup). Each reports one element
//! per iteration, so criterion's throughput line is operations/s.
//!
//! The key set is built as the service builds it: an HMAC secret merged with a
//! JWKS document whose RSA-2048 and P-256 keys are selected by `kid` (the test
//! keys in `tests/fixtures/keys/`), and the Prometheus recorder is installed
//! first, so cache hits pay their counter as in production.
//!
//! Run: `cargo bench --all-features --bench auth` (add `-- --quick` for a
//! short run, or a filter such as `-- rs256`).

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cfsign::auth::{Authenticator, KeySet};
use cfsign::config::AuthConfig;
use cfsign::signing::PrivateKey;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

const ISSUER: &str = "https://auth.test/";
const AUDIENCE: &str = "cfsign";
const HMAC_SECRET: &[u8] = b"test-secret-with-enough-entropy-0123456789";
const RSA_KID: &str = "rsa-1";
const EC_KID: &str = "ec-1";
/// Token lifetime: far beyond any run (jsonwebtoken checks `exp` against the
/// system clock, the cache against the `now` passed in).
const LIFETIME: i64 = 10 * 365 * 24 * 3600;

/// A fixture private key as PKCS#8 PEM (jsonwebtoken wants PKCS#8 for EC).
fn pkcs8(name: &str) -> String {
    let path = format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    let key = PrivateKey::from_pem(&std::fs::read(path).unwrap(), None).unwrap();
    key.to_pkcs8_pem().unwrap().to_string()
}

fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn auth_config() -> AuthConfig {
    serde_json::from_value(json!({
        "issuers": [ISSUER],
        "audiences": [AUDIENCE],
        "algorithms": ["HS256", "RS256", "ES256"],
    }))
    .unwrap()
}

fn token(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, now: i64) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "mailer", "scope": "openid video:read",
        "iat": now, "exp": now + LIFETIME,
    });
    encode(&header, &claims, key).unwrap()
}

fn auth(c: &mut Criterion) {
    // As the service does, before jsonwebtoken is used at all (it fixes its
    // crypto provider on first use): RSA/ECDSA checks then run on OpenSSL.
    let openssl = cfsign::auth::use_openssl_for_tokens();
    assert_eq!(openssl, cfg!(feature = "openssl-backend"), "token crypto provider");
    // As `build_state`: the metrics recorder before anything counts.
    let _ = cfsign::metrics::handle();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;

    let hmac = EncodingKey::from_secret(HMAC_SECRET);
    let rsa = EncodingKey::from_rsa_pem(pkcs8("rsa2048.pem").as_bytes()).unwrap();
    let ec = EncodingKey::from_ec_pem(pkcs8("ec-p256.pem").as_bytes()).unwrap();
    let jwks = serde_json::to_vec(&JwkSet {
        keys: vec![jwk(&rsa, Algorithm::RS256, RSA_KID), jwk(&ec, Algorithm::ES256, EC_KID)],
    })
    .unwrap();
    let mut keys = KeySet::hmac(HMAC_SECRET);
    keys.merge(&KeySet::from_jwks(&jwks, "bench JWKS").unwrap());

    let config = auth_config();
    let uncached = Authenticator::new(&config, vec![keys.clone()]).with_token_cache(0);
    let cached = Authenticator::new(&config, vec![keys]).with_token_cache(1000);

    let cases = [
        ("hs256", token(Algorithm::HS256, None, &hmac, now)),
        ("rs256", token(Algorithm::RS256, Some(RSA_KID), &rsa, now)),
        ("es256", token(Algorithm::ES256, Some(EC_KID), &ec, now)),
    ];

    let mut group = c.benchmark_group("auth");
    group.throughput(Throughput::Elements(1));
    for (alg, token) in &cases {
        for (mode, authenticator) in [("uncached", &uncached), ("cached", &cached)] {
            // Fail loudly rather than time an error path; for the cached
            // authenticator this also fills the cache, so timed calls hit.
            let caller = authenticator
                .authenticate(token, now)
                .unwrap_or_else(|e| panic!("{alg} token refused ({mode}): {e}"));
            assert_eq!(caller.subject.as_deref(), Some("mailer"));
            group.bench_function(format!("{alg}_{mode}"), |b| {
                b.iter(|| authenticator.authenticate(black_box(token), black_box(now)).unwrap())
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    // Short by default: 2 shared cores; pass `--measurement-time` to override.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = auth
}
criterion_main!(benches);
