//! Verifies signed URLs in bulk, in process, as CloudFront would
//! (`cfsign::signing::verify_url`): one URL per line from `--file` (or
//! stdin), keys given as `--public-key KEY_PAIR_ID=public.pem` (repeatable).
//! Used by `bench/overload.py` to check that every 200 carried a good URL.
//!
//!     cargo run --release --example verify_urls -- --public-key K2JCJMDEHXQW5F=cf.pub.pem --file urls.txt
//!
//! Prints one JSON object: total, valid, invalid, invalid by reason (with one
//! example each), distinct URLs, and blank lines skipped. Exit code 0 when
//! every URL is valid (and there is at least one, unless `--allow-empty`),
//! 1 otherwise, 2 on bad arguments.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::ExitCode;

use cfsign::signing::{PublicKey, RequestContext, verify_url};

struct Opts {
    file: Option<String>,
    keys: HashMap<String, PublicKey>,
    at: Option<i64>,
    allow_empty: bool,
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}");
    eprintln!(
        "usage: verify_urls --public-key KEY_PAIR_ID=public.pem [--public-key ...] [--file FILE] \
         [--at EPOCH_SECONDS] [--allow-empty]"
    );
    ExitCode::from(2)
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        file: None,
        keys: HashMap::new(),
        at: None,
        allow_empty: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--file" => o.file = Some(value()?),
            "--public-key" => {
                let v = value()?;
                let (id, path) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--public-key {v}: expected KEY_PAIR_ID=path.pem"))?;
                let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                let key = PublicKey::from_pem(&pem).map_err(|e| format!("{path}: {e}"))?;
                o.keys.insert(id.to_owned(), key);
            }
            "--at" => o.at = Some(value()?.parse().map_err(|e| format!("--at: {e}"))?),
            "--allow-empty" => o.allow_empty = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if o.keys.is_empty() {
        return Err("at least one --public-key is needed".into());
    }
    Ok(o)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    let input: Box<dyn BufRead> = match &o.file {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => return usage(&format!("{path}: {e}")),
        },
        None => Box::new(BufReader::new(std::io::stdin())),
    };
    let at = o.at.unwrap_or_else(now);
    let (mut total, mut valid, mut blank) = (0u64, 0u64, 0u64);
    // reason -> (count, first example)
    let mut invalid: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut distinct = HashSet::new();
    let started = std::time::Instant::now();
    for line in input.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => return usage(&format!("reading the URLs: {e}")),
        };
        let url = line.trim();
        if url.is_empty() {
            blank += 1;
            continue;
        }
        total += 1;
        distinct.insert(url.to_owned());
        let v = verify_url(url, &o.keys, RequestContext { at, client_ip: None });
        match v.failure {
            None => valid += 1,
            Some(f) => {
                let reason = serde_json::to_value(f.code)
                    .ok()
                    .and_then(|c| c.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("{:?}", f.code));
                let entry = invalid
                    .entry(reason)
                    .or_insert_with(|| (0, format!("{}: {}", truncate(url, 200), f.detail)));
                entry.0 += 1;
            }
        }
    }
    let report = serde_json::json!({
        "total": total,
        "valid": valid,
        "invalid": total - valid,
        "invalid_by_reason": invalid
            .iter()
            .map(|(k, (n, example))| (k.clone(), serde_json::json!({ "count": n, "example": example })))
            .collect::<serde_json::Map<_, _>>(),
        "distinct": distinct.len(),
        "blank_lines": blank,
        "verified_at": at,
        "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    println!("{report}");
    if valid == total && (total > 0 || o.allow_empty) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
