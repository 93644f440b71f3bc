//! cfsign as one of the peers in `bench/peers.py`: signs distinct
//! canned-policy URLs (SHA-1, the OpenSSL backend, the key loaded once, as
//! the service does) for WARMUP then SECONDS seconds, on whatever core it is
//! pinned to, and prints the same JSON line as the other peers:
//! {"count", "elapsed", "first_url", "last_url", "version"}.
//!
//!     cargo run --release --example peer_loop -- KEY.pem KEY_PAIR_ID EXPIRES SECONDS WARMUP

use std::hint::black_box;
use std::time::{Duration, Instant};

use cfsign::signing::{HashAlgorithm, KeyPairId, Policy, PrivateKey, SignableUrl, Signer};

/// Signs URLs numbered from `start` until `secs` have passed: (next number, count, elapsed, first, last).
fn run(signer: &Signer, expires: i64, start: u64, secs: f64) -> (u64, u64, f64, String, String) {
    let (t0, limit) = (Instant::now(), Duration::from_secs_f64(secs));
    let (mut i, mut first, mut last) = (start, String::new(), String::new());
    while t0.elapsed() < limit {
        let url: SignableUrl = format!("https://d111111abcdef8.cloudfront.net/bench/{i}.pdf")
            .parse()
            .expect("a valid URL");
        let policy = Policy::new(url.clone().into(), expires, None, None).expect("a canned policy");
        last = black_box(
            signer
                .sign_url(&url, &policy, HashAlgorithm::Sha1)
                .expect("signing")
                .url,
        );
        if i == start {
            first = last.clone();
        }
        i += 1;
    }
    (i, i - start, t0.elapsed().as_secs_f64(), first, last)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [pem, key_pair_id, expires, secs, warmup] = &args[..] else {
        eprintln!("usage: peer_loop KEY.pem KEY_PAIR_ID EXPIRES SECONDS WARMUP");
        std::process::exit(2);
    };
    let key = PrivateKey::from_pem(&std::fs::read(pem).expect("read key"), None).expect("load key");
    let id: KeyPairId = key_pair_id.parse().expect("KEY_PAIR_ID");
    let signer = Signer::new(&key, &id);
    let expires: i64 = expires.parse().expect("EXPIRES");
    let (next, ..) = run(&signer, expires, 0, warmup.parse().expect("WARMUP"));
    let (_, count, elapsed, first, last) = run(&signer, expires, next, secs.parse().expect("SECONDS"));
    println!(
        "{{\"count\":{count},\"elapsed\":{elapsed},\"first_url\":\"{first}\",\"last_url\":\"{last}\",\
         \"version\":{{\"cfsign\":\"{}\",\"openssl\":\"{}\"}}}}",
        env!("CARGO_PKG_VERSION"),
        openssl::version::version()
    );
}
