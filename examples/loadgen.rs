//! A small HTTP load generator for cfsign's benchmarks (`bench/run.py`).
//!
//! Closed loop (`--rate 0`): `--concurrency` workers send back to back.
//! Open loop (`--rate N`): N requests per second whatever the answers, at
//! most `--concurrency` in flight (beyond that the generator counts a
//! "dropped" send instead of queueing). Keys are distinct per request
//! (`--same-key` repeats one), so nothing is cached unless asked.
//! Prints one JSON object: counts, achieved rate, latency percentiles.
//! In `--body`, `{n}` is replaced by the request's number (distinct keys
//! with a body of one's own). `--save-urls FILE` writes the `url` of every
//! 200 to FILE, one a line (a 200 without a readable `url` writes a line
//! that cannot verify), for `examples/verify_urls.rs`.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{Mutex, Semaphore};

#[derive(Clone)]
struct Opts {
    url: String,
    token: String,
    rate: u64,
    concurrency: usize,
    duration: Duration,
    same_key: bool,
    body: Option<String>,
    save_urls: Option<Arc<std::sync::Mutex<std::io::BufWriter<std::fs::File>>>>,
}

fn parse() -> Opts {
    let mut o = Opts {
        url: "http://127.0.0.1:8080/v1/signed-urls".into(),
        token: String::new(),
        rate: 0,
        concurrency: 32,
        duration: Duration::from_secs(10),
        same_key: false,
        body: None,
        save_urls: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => o.url = value(),
            "--token" => o.token = value(),
            "--rate" => o.rate = value().parse().expect("--rate"),
            "--concurrency" => o.concurrency = value().parse().expect("--concurrency"),
            "--duration" => o.duration = Duration::from_secs_f64(value().parse().expect("--duration")),
            "--same-key" => o.same_key = true,
            "--body" => o.body = Some(value()),
            "--save-urls" => {
                let path = value();
                let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("--save-urls {path}: {e}"));
                o.save_urls = Some(Arc::new(std::sync::Mutex::new(std::io::BufWriter::new(file))));
            }
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

#[derive(Default)]
struct Stats {
    ok: AtomicU64,
    overloaded: AtomicU64,
    other: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
}

struct Hists {
    ok: Histogram<u64>,
    overloaded: Histogram<u64>,
}

async fn one(client: &reqwest::Client, o: &Opts, n: u64, stats: &Stats, hists: &Mutex<Hists>) {
    let body = match &o.body {
        Some(b) => b.replace("{n}", &n.to_string()),
        None if o.same_key => r#"{"key":"hot/thumbnail.jpg","ttl_seconds":600}"#.to_owned(),
        None => format!(r#"{{"key":"bench/{n}.pdf","ttl_seconds":3600}}"#),
    };
    let started = Instant::now();
    let result = client
        .post(&o.url)
        .bearer_auth(&o.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let micros = started.elapsed().as_micros() as u64;
    match result {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.bytes().await;
            if let (200, Some(out)) = (status, &o.save_urls) {
                let url = match &body {
                    Ok(b) => serde_json::from_slice::<serde_json::Value>(b)
                        .ok()
                        .and_then(|v| v["url"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| "invalid:200-without-url".to_owned()),
                    Err(_) => "invalid:200-body-unreadable".to_owned(),
                };
                let _ = writeln!(out.lock().unwrap(), "{url}");
            }
            let mut h = hists.lock().await;
            match status {
                200 => {
                    stats.ok.fetch_add(1, Ordering::Relaxed);
                    let _ = h.ok.record(micros);
                }
                503 => {
                    stats.overloaded.fetch_add(1, Ordering::Relaxed);
                    let _ = h.overloaded.record(micros);
                }
                _ => {
                    stats.other.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Err(_) => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

#[tokio::main]
async fn main() {
    let o = parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.concurrency)
        .build()
        .unwrap();
    let stats = Arc::new(Stats::default());
    let hists = Arc::new(Mutex::new(Hists {
        ok: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
        overloaded: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
    }));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + o.duration;
    if o.rate == 0 {
        let mut workers = Vec::new();
        for _ in 0..o.concurrency {
            let (client, o, stats, hists, counter) = (
                client.clone(),
                o.clone(),
                Arc::clone(&stats),
                Arc::clone(&hists),
                Arc::clone(&counter),
            );
            workers.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    one(&client, &o, n, &stats, &hists).await;
                }
            }));
        }
        for w in workers {
            let _ = w.await;
        }
    } else {
        let slots = Arc::new(Semaphore::new(o.concurrency));
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sent = 0u64;
        let mut tasks = tokio::task::JoinSet::new();
        while Instant::now() < deadline {
            tick.tick().await;
            let due = (started.elapsed().as_secs_f64() * o.rate as f64) as u64;
            while sent < due {
                sent += 1;
                let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let (client, o, stats, hists) = (client.clone(), o.clone(), Arc::clone(&stats), Arc::clone(&hists));
                tasks.spawn(async move {
                    let _permit = permit;
                    one(&client, &o, sent, &stats, &hists).await;
                });
            }
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(out) = &o.save_urls {
        out.lock().unwrap().flush().expect("--save-urls: flush");
    }
    let h = hists.lock().await;
    let ok = stats.ok.load(Ordering::Relaxed);
    println!(
        "{{\"elapsed_s\":{elapsed:.2},\"ok\":{ok},\"overloaded_503\":{},\"other\":{},\"errors\":{},\"dropped\":{},\
         \"ok_per_s\":{:.0},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"p999_ms\":{:.2},\"overloaded_p50_ms\":{:.2},\"overloaded_p99_ms\":{:.2}}}",
        stats.overloaded.load(Ordering::Relaxed),
        stats.other.load(Ordering::Relaxed),
        stats.errors.load(Ordering::Relaxed),
        stats.dropped.load(Ordering::Relaxed),
        ok as f64 / elapsed,
        pct(&h.ok, 0.5),
        pct(&h.ok, 0.99),
        pct(&h.ok, 0.999),
        pct(&h.overloaded, 0.5),
        pct(&h.overloaded, 0.99),
    );
}
