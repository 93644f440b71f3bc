//! Signs distinct canned-policy CloudFront URLs with the `cloudfront_sign` crate for
//! WARMUP then SECONDS seconds, and prints one JSON line for bench/peers.py:
//! {"count", "elapsed", "first_url", "last_url"} (count and elapsed cover the timed part).
//!
//! usage: cloudfront-sign-peer PKCS1_PEM_FILE KEY_PAIR_ID EXPIRES SECONDS WARMUP
use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cloudfront_sign::{get_signed_url, SignedOptions};

fn url(i: u64) -> String {
    format!("https://d111111abcdef8.cloudfront.net/bench/{i}.pdf")
}

/// Signs URLs numbered from `start` until `secs` have passed: (next number, count, elapsed, first, last).
fn run(opts: &SignedOptions, start: u64, secs: f64) -> (u64, u64, f64, String, String) {
    let (t0, limit) = (Instant::now(), Duration::from_secs_f64(secs));
    let (mut i, mut first, mut last) = (start, String::new(), String::new());
    while t0.elapsed() < limit {
        last = black_box(get_signed_url(&url(i), opts).expect("get_signed_url failed"));
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
        panic!("usage: cloudfront-sign-peer PKCS1_PEM_FILE KEY_PAIR_ID EXPIRES SECONDS WARMUP");
    };
    let opts = SignedOptions {
        key_pair_id: Cow::from(key_pair_id.as_str()),
        private_key: Cow::from(std::fs::read_to_string(pem).expect("read key")),
        date_less_than: expires.parse().expect("EXPIRES"),
        ..Default::default()
    };
    let (next, ..) = run(&opts, 0, warmup.parse().expect("WARMUP"));
    let (_, count, elapsed, first, last) = run(&opts, next, secs.parse().expect("SECONDS"));
    println!("{{\"count\":{count},\"elapsed\":{elapsed},\"first_url\":\"{first}\",\"last_url\":\"{last}\"}}");
}
