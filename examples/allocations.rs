//! Heap allocations per request, counted: the real service (every layer,
//! production logging at `info` to stdout, the audit trail on stdout) in
//! process, driven with `tower::ServiceExt::oneshot`. Unlike a throughput
//! run this number does not depend on what else the machine is doing, so a
//! change to the request path can be judged by it on a busy machine too.
//!
//! ```text
//! cargo run --release --example allocations > /dev/null    # the report goes to stderr
//! ```
//!
//! Prints, per kind of request, allocations and bytes allocated per
//! request (the mean over 20,000 after 200 to warm caches), less what
//! building the requests costs. The hyper connection around the router is
//! not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request};
use tower::ServiceExt;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

static TRACING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    static INSIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// With `ALLOCATIONS_TRACE=1`: where one request's allocations come from
/// (the first frames of each outside the allocator and std), on stderr.
fn trace_allocation() {
    if !TRACING.load(Ordering::Relaxed) || INSIDE.with(|i| i.replace(true)) {
        return;
    }
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    let frames: Vec<&str> = trace
        .lines()
        .map(str::trim)
        .filter(|l| l.contains(": ") && !l.starts_with("at "))
        .map(|l| l.split_once(": ").map_or(l, |(_, f)| f))
        .filter(|f| {
            !(f.starts_with("std::")
                || f.starts_with("alloc::")
                || f.starts_with("<alloc::")
                || f.contains("Counting")
                || f.starts_with("core::")
                || f.starts_with("__rust"))
        })
        .take(4)
        .collect();
    eprintln!("  alloc: {}", frames.join(" < "));
    INSIDE.with(|i| i.set(false));
}

// SAFETY: forwards to the system allocator, counting on the way.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        trace_allocation();
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys");

fn config(secret: &std::path::Path) -> String {
    format!(
        r#"
[auth]
issuers = ["https://bench.invalid/"]
audiences = ["cfsign"]
algorithms = ["HS256"]
hmac_secret_files = ["{secret}"]

[[distributions]]
name = "thumbs"
domain = "https://img.example.com"
expiry_granularity = "5m"
keys = [{{ key_pair_id = "KBENCH00000003", private_key_file = "{KEYS}/rsa2048.pem" }}]

[[grants]]
name = "bench"
subjects = ["bench"]
distributions = ["thumbs"]
allow = ["/*"]
max_ttl = "7d"
"#,
        secret = secret.display()
    )
}

fn token(secret: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "https://bench.invalid/", "aud": "cfsign", "sub": "bench", "exp": now + 3600, "iat": now
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn request(kind: &str, token: &str) -> Request<Body> {
    let builder = Request::builder().header("host", "127.0.0.1");
    match kind {
        "healthz" => builder.uri("/healthz").body(Body::empty()).unwrap(),
        _ => builder
            .method(Method::POST)
            .uri("/v1/signed-urls")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(
                r#"{"distribution":"thumbs","key":"hot/thumbnail.jpg","ttl_seconds":600}"#,
            ))
            .unwrap(),
    }
}

/// CPU time of the whole process so far (every thread: the audit writer and
/// the log writer too).
fn process_cpu() -> std::time::Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    std::time::Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let secret_path = dir.path().join("secret");
    let secret = [7u8; 32];
    std::fs::write(&secret_path, secret).unwrap();
    let config = cfsign::config::from_toml(&config(&secret_path)).unwrap();
    let _logs = cfsign::telemetry::init(cfsign::telemetry::LogFormat::Json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let state = cfsign::server::build_state(&config).await.unwrap();
        let options = cfsign::server::http_options(&config);
        // The service `serve` serves, with the peer address a connection gives it.
        let router = tower::Layer::layer(
            &MockConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))),
            cfsign::http::service(state, &options),
        );
        let token = token(&secret);
        // `allocations [healthz|cache_hit]...`: the kinds to measure, in order.
        let mut kinds: Vec<&'static str> = std::env::args()
            .skip(1)
            .map(|k| if k == "healthz" { "healthz" } else { "cache_hit" })
            .collect();
        if kinds.is_empty() {
            kinds = vec!["healthz", "cache_hit"];
        }
        for kind in kinds {
            for _ in 0..200 {
                let status = router.clone().oneshot(request(kind, &token)).await.unwrap().status();
                assert_eq!(status, 200, "{kind}");
            }
            let (a0, b0) = (ALLOCATIONS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
            // `ALLOCATIONS_N` requests (20,000 unless set: instruction counts
            // under valgrind take the difference of two smaller runs).
            let n: u64 = std::env::var("ALLOCATIONS_N")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(20_000);
            const CALLERS: u64 = 32;
            let (cpu0, wall0) = (process_cpu(), std::time::Instant::now());
            // Callers at once, as over HTTP: the audit writer's round trip
            // is shared by the requests waiting on it, not paid one by one.
            let mut callers = tokio::task::JoinSet::new();
            for _ in 0..CALLERS {
                let (router, token) = (router.clone(), token.clone());
                callers.spawn(async move {
                    for _ in 0..n / CALLERS {
                        let response = router.clone().oneshot(request(kind, &token)).await.unwrap();
                        let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
                    }
                });
            }
            callers.join_all().await;
            let (cpu, wall) = (process_cpu() - cpu0, wall0.elapsed());
            let (a1, b1) = (ALLOCATIONS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
            // What building the requests alone costs, taken off.
            for _ in 0..n {
                std::hint::black_box(request(kind, &token));
            }
            let (a2, b2) = (ALLOCATIONS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
            if std::env::var_os("ALLOCATIONS_TRACE").is_some() {
                let request = request(kind, &token);
                TRACING.store(true, Ordering::Relaxed);
                let response = router.clone().oneshot(request).await.unwrap();
                let _ = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                TRACING.store(false, Ordering::Relaxed);
            }
            let per = |total: u64, building: u64| (total.saturating_sub(building)) as f64 / n as f64;
            eprintln!(
                "{kind}: {:.1} allocations, {:.0} bytes per request; {:.1} µs wall, {:.1} µs CPU (every thread)",
                per(a1 - a0, a2 - a1),
                per(b1 - b0, b2 - b1),
                wall.as_secs_f64() * 1e6 / n as f64,
                cpu.as_secs_f64() * 1e6 / n as f64,
            );
        }
    });
}
