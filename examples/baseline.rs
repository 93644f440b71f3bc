//! The framework's own cost, for `bench/run.py`'s ratios: a bare axum 0.8
//! server on the same runtime configuration as `cfsign serve` (the same
//! number of runtime threads, `SCHED_BATCH`), answering the same shapes:
//!
//! - `GET /healthz` → `{"status":"ok"}`;
//! - `POST /v1/signed-urls` → parses the same request JSON into a struct
//!   and answers a JSON body of the same size as cfsign's URL answer (a
//!   URL with a 172-character signature, `expires_at`, `expires`,
//!   `key_pair_id`, `policy_type`, `hash_algorithm`).
//!
//! No authentication, grants, signing, metrics, logs or audit: what is left
//! is axum, hyper, tokio and serde_json, on cfsign's allocator.
//!
//! ```text
//! cargo run --release --example baseline -- --listen 127.0.0.1:9000 --threads 1
//! ```

use std::net::SocketAddr;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// cfsign's allocator (`src/main.rs`), so that the ratio measures cfsign's
/// request path and not the choice of malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fields cfsign's `POST /v1/signed-urls` takes in the benchmark.
#[derive(Deserialize)]
#[allow(dead_code)] // parsed, as cfsign parses them; not used
struct Asked {
    distribution: Option<String>,
    key: Option<String>,
    path: Option<String>,
    ttl_seconds: Option<u64>,
}

/// An answer of the size of cfsign's.
#[derive(Serialize)]
struct Answer {
    url: String,
    expires: i64,
    expires_at: &'static str,
    key_pair_id: &'static str,
    policy_type: &'static str,
    hash_algorithm: &'static str,
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn sign(Json(asked): Json<Asked>) -> Json<Answer> {
    let key = asked.key.or(asked.path).unwrap_or_default();
    let signature = "A".repeat(172);
    Json(Answer {
        url: format!(
            "https://img.example.com/{key}?Expires=1796165713&Signature={signature}&Key-Pair-Id=KBENCH00000003"
        ),
        expires: 1_796_165_713,
        expires_at: "2026-12-01T23:55:13Z",
        key_pair_id: "KBENCH00000003",
        policy_type: "canned",
        hash_algorithm: "SHA1",
    })
}

fn main() {
    let mut listen: SocketAddr = "127.0.0.1:9000".parse().unwrap();
    let mut threads = 1;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--listen" => listen = value.parse().expect("--listen ADDR"),
            "--threads" => threads = value.parse().expect("--threads N"),
            _ => panic!("unknown flag {flag}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .on_thread_start(batch_scheduling)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let app = Router::new()
            .route("/healthz", get(healthz))
            .route("/v1/signed-urls", post(sign));
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        println!("baseline listening on {}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}

/// As `cfsign serve`'s runtime threads (see `cli::serve`).
fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    // SAFETY: changes only the calling thread's policy; the parameter is valid.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}
