//! Signing cost per backend, and the backend-independent work around it.
//!
//! Benchmarks are named `{backend}/{case}` (`openssl/canned_url_sha1_rsa`,
//! `rustcrypto/canned_cookies_rsa`, ...) and `core/{case}` for the policy
//! JSON and CloudFront-base64 work every signature pays. Each reports one
//! element per iteration, so criterion's throughput line is operations/s.
//!
//! Run: `cargo bench --all-features --bench signing` (add `-- --quick` for a
//! short run, or a filter such as `-- rustcrypto/`).

use std::hint::black_box;
use std::time::Duration;

use cfsign::signing::{
    Backend, CidrV4, HashAlgorithm, KeyPairId, Policy, PrivateKey, ResourcePattern, SignableUrl, Signer, base64cf,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const URL: &str = "https://d111111abcdef8.cloudfront.net/videos/2026/launch/intro.mp4?quality=1080p";
const WILDCARD: &str = "https://d111111abcdef8.cloudfront.net/videos/2026/*";
const KEY_PAIR_ID: &str = "K2JCJMDEHXQW5F";
const EXPIRES: i64 = 1_767_290_400;

fn key(backend: Backend, name: &str) -> PrivateKey {
    let path = format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    PrivateKey::from_pem_with(backend, &std::fs::read(path).unwrap(), None).unwrap()
}

fn canned_policy(url: &SignableUrl) -> Policy {
    Policy::new(url.clone().into(), EXPIRES, None, None).unwrap()
}

fn custom_policy() -> Policy {
    let resource: ResourcePattern = WILDCARD.parse().unwrap();
    let ip: CidrV4 = "203.0.113.0/24".parse().unwrap();
    Policy::new(resource, EXPIRES, Some(EXPIRES - 3600), Some(ip)).unwrap()
}

fn backends(c: &mut Criterion) {
    let url: SignableUrl = URL.parse().unwrap();
    let kpid: KeyPairId = KEY_PAIR_ID.parse().unwrap();
    let canned = canned_policy(&url);
    let custom = custom_policy();
    for backend in Backend::ALL {
        let rsa = key(*backend, "rsa2048.pem");
        let ec = key(*backend, "ec-p256.pem");
        let rsa_signer = Signer::new(&rsa, &kpid);
        let ec_signer = Signer::new(&ec, &kpid);
        let mut group = c.benchmark_group(backend.name());
        group.throughput(Throughput::Elements(1));
        group.bench_function("canned_url_sha1_rsa", |b| {
            b.iter(|| {
                rsa_signer
                    .sign_url(black_box(&url), black_box(&canned), HashAlgorithm::Sha1)
                    .unwrap()
            })
        });
        group.bench_function("canned_url_sha256_rsa", |b| {
            b.iter(|| {
                rsa_signer
                    .sign_url(black_box(&url), black_box(&canned), HashAlgorithm::Sha256)
                    .unwrap()
            })
        });
        group.bench_function("custom_url_wildcard_ip_rsa", |b| {
            b.iter(|| {
                rsa_signer
                    .sign_url(black_box(&url), black_box(&custom), HashAlgorithm::Sha1)
                    .unwrap()
            })
        });
        group.bench_function("canned_cookies_rsa", |b| {
            b.iter(|| {
                rsa_signer
                    .sign_cookies(black_box(&canned), HashAlgorithm::Sha1)
                    .unwrap()
            })
        });
        group.bench_function("canned_url_sha1_ecdsa", |b| {
            b.iter(|| {
                ec_signer
                    .sign_url(black_box(&url), black_box(&canned), HashAlgorithm::Sha1)
                    .unwrap()
            })
        });
        group.finish();
    }
}

/// What a signature costs besides the private-key operation.
fn core(c: &mut Criterion) {
    let url: SignableUrl = URL.parse().unwrap();
    let canned = canned_policy(&url);
    let custom = custom_policy();
    let custom_json = custom.to_json();
    let rsa_signature = [0xa5u8; 256];
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(1));
    group.bench_function("policy_json_canned", |b| b.iter(|| black_box(&canned).to_json()));
    group.bench_function("policy_json_custom", |b| b.iter(|| black_box(&custom).to_json()));
    group.bench_function("base64cf_policy_custom", |b| {
        b.iter(|| base64cf::encode(black_box(custom_json.as_bytes())))
    });
    group.bench_function("base64cf_signature_rsa2048", |b| {
        b.iter(|| base64cf::encode(black_box(&rsa_signature)))
    });
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
    targets = backends, core
}
criterion_main!(benches);
