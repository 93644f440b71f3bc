//! A small, cheap HTTP/1.1 load generator for cfsign's benchmarks (`bench/run.py`).
//!
//! Closed loop (`--rate 0`): `--concurrency` workers, each on its own
//! keep-alive connection, send back to back. Open loop (`--rate N`): N
//! requests per second whatever the answers, at most `--concurrency` in
//! flight (beyond that the generator counts a "dropped" send instead of
//! queueing), on connections taken from a free-list of idle ones.
//! Keys are distinct per request (`--same-key` repeats one), so nothing is
//! cached unless asked. In `--body`, `{n}` is replaced by the request's
//! number (distinct keys with a body of one's own). With `--key-repeats R`
//! each `{n}` is asked R times instead, `--concurrency` requests apart (so
//! the repeats of one key are not in flight together): a signature-cache hit
//! ratio of about 1 - 1/R. `--save-urls FILE`
//! writes the `url` of every 200 to FILE, one a line (a 200 without a
//! readable `url` writes a line that cannot verify), for
//! `examples/verify_urls.rs`. `--get` sends `GET` without a body (for
//! `/healthz`). Prints one JSON object: counts, achieved rate,
//! latency percentiles (from the send to the answer's headers). A request
//! whose connection fails (refused, reset, cut off before a status) counts
//! an error, and the next one opens a new connection; an idle connection
//! the server closed is replaced without counting one.
//!
//! It shares the machine with the server it measures, so it is built to cost
//! as little CPU per request as it can: hyper's bare HTTP/1 connections (no
//! pool, no redirects, no proxy lookup), headers and URI built once, bodies
//! rendered from a pre-split template, one shared histogram, and a
//! single-threaded runtime by default (`--threads N` for more).

use std::io::{BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// One HTTP/1 connection's sending half (its I/O runs in a spawned task).
type Conn = SendRequest<Full<Bytes>>;

struct Opts {
    url: String,
    token: String,
    rate: u64,
    concurrency: usize,
    duration: Duration,
    same_key: bool,
    body: Option<String>,
    save_urls: Option<String>,
    threads: usize,
    get: bool,
    key_repeats: u64,
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
        threads: 1,
        get: false,
        key_repeats: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--url" => o.url = value(),
            "--token" => o.token = value(),
            "--rate" => o.rate = number(&flag, &value()),
            "--concurrency" => o.concurrency = number(&flag, &value()),
            "--duration" => o.duration = Duration::from_secs_f64(number(&flag, &value())),
            "--same-key" => o.same_key = true,
            "--body" => o.body = Some(value()),
            "--save-urls" => o.save_urls = Some(value()),
            "--threads" => o.threads = number::<usize>(&flag, &value()).max(1),
            "--get" => o.get = true,
            "--key-repeats" => o.key_repeats = number::<u64>(&flag, &value()).max(1),
            other => fail(&format!("unknown flag {other}")),
        }
    }
    o
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| fail(&format!("{flag}: not a number: {text}")))
}

fn fail(message: &str) -> ! {
    eprintln!("loadgen: {message}");
    std::process::exit(2)
}

/// The request body split around its `{n}` markers: a request then costs one
/// buffer and an integer format, not a search-and-replace over the text.
struct BodyTemplate {
    parts: Vec<Bytes>,
}

impl BodyTemplate {
    fn new(text: &str) -> Self {
        let parts = text
            .split("{n}")
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect();
        BodyTemplate { parts }
    }

    fn render(&self, n: u64) -> Bytes {
        let (first, rest) = self.parts.split_first().expect("split yields at least one part");
        if rest.is_empty() {
            return first.clone(); // no `{n}`: every request shares one buffer
        }
        let len = self.parts.iter().map(Bytes::len).sum::<usize>() + 20 * rest.len();
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(first);
        for part in rest {
            let _ = write!(buf, "{n}");
            buf.extend_from_slice(part);
        }
        buf.into()
    }
}

/// Everything about a request that does not change from one to the next.
struct Target {
    addrs: Vec<SocketAddr>,
    path: Uri,
    host: HeaderValue,
    auth: HeaderValue,
    body: BodyTemplate,
    save_urls: Option<Mutex<BufWriter<std::fs::File>>>,
    /// `GET` with no body (`--get`: `/healthz`), else `POST` of the body.
    get: bool,
    /// Requests that share one `{n}` (`--key-repeats`), and how far apart.
    key_repeats: u64,
    spacing: u64,
}

impl Target {
    fn new(o: &Opts) -> Self {
        let uri: Uri = o.url.parse().unwrap_or_else(|e| fail(&format!("--url {}: {e}", o.url)));
        if uri.scheme_str() != Some("http") {
            fail("--url: only http:// is supported");
        }
        let authority = uri.authority().unwrap_or_else(|| fail("--url: no host"));
        // Resolved once: connecting by name would look it up on every reconnect.
        let addrs: Vec<_> = (authority.host(), authority.port_u16().unwrap_or(80))
            .to_socket_addrs()
            .unwrap_or_else(|e| fail(&format!("--url: cannot resolve {authority}: {e}")))
            .collect();
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .expect("a path parses as a URI");
        let body = match &o.body {
            Some(b) => b.as_str(),
            None if o.same_key => r#"{"key":"hot/thumbnail.jpg","ttl_seconds":600}"#,
            None => r#"{"key":"bench/{n}.pdf","ttl_seconds":3600}"#,
        };
        Target {
            addrs,
            path,
            host: header(authority.as_str()),
            auth: header(&format!("Bearer {}", o.token)),
            body: BodyTemplate::new(body),
            save_urls: o.save_urls.as_deref().map(create),
            get: o.get,
            key_repeats: o.key_repeats,
            spacing: o.concurrency.max(1) as u64,
        }
    }

    /// The `{n}` of request `n`: itself, or with `--key-repeats R` the same
    /// value for R requests `spacing` apart (blocks of R x spacing requests
    /// covering `spacing` values).
    fn key_of(&self, n: u64) -> u64 {
        if self.key_repeats == 1 {
            return n;
        }
        let block = self.key_repeats * self.spacing;
        n / block * self.spacing + n % self.spacing
    }

    fn request(&self, n: u64) -> Request<Full<Bytes>> {
        if self.get {
            let mut req = Request::new(Full::new(Bytes::new()));
            *req.uri_mut() = self.path.clone();
            req.headers_mut().insert(HOST, self.host.clone());
            return req;
        }
        let mut req = Request::new(Full::new(self.body.render(self.key_of(n))));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.path.clone();
        let headers = req.headers_mut();
        // A bare connection adds no Host of its own; Content-Length comes from the body.
        headers.insert(HOST, self.host.clone());
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        req
    }
}

fn header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| fail(&format!("not valid in an HTTP header: {text:?}")))
}

fn create(path: &str) -> Mutex<BufWriter<std::fs::File>> {
    let file = std::fs::File::create(path).unwrap_or_else(|e| fail(&format!("--save-urls {path}: {e}")));
    Mutex::new(BufWriter::new(file))
}

/// A lock that survives a poisoned mutex: nothing here leaves data half-written.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one request came to, when the connection carried it to the end.
struct Answer {
    status: u16,
    micros: u64,
    /// The body was read to its end, so the connection can carry another request.
    reusable: bool,
}

/// Counts and latency histograms, shared by all requests under a std mutex
/// held for a few nanoseconds and never across an await: cheaper than a
/// histogram per worker, whose scattered counters miss the cache.
struct Tally {
    ok: u64,
    overloaded: u64,
    other: u64,
    errors: u64,
    dropped: u64,
    ok_h: Histogram<u64>,
    overloaded_h: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        let h = || Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
        Tally {
            ok: 0,
            overloaded: 0,
            other: 0,
            errors: 0,
            dropped: 0,
            ok_h: h(),
            overloaded_h: h(),
        }
    }

    /// `None` is a transport error: no status came back.
    fn record(&mut self, answer: Option<&Answer>) {
        match answer {
            None => self.errors += 1,
            Some(a) if a.status == 200 => {
                self.ok += 1;
                let _ = self.ok_h.record(a.micros);
            }
            Some(a) if a.status == 503 => {
                self.overloaded += 1;
                let _ = self.overloaded_h.record(a.micros);
            }
            Some(_) => self.other += 1,
        }
    }
}

async fn connect(t: &Target) -> Option<Conn> {
    let stream = TcpStream::connect(&t.addrs[..]).await.ok()?;
    // Without it a small request can wait on Nagle + delayed ACK (~40 ms).
    stream.set_nodelay(true).ok()?;
    let (conn, io) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    // Drives the socket; ends when `conn` is dropped or the peer closes.
    tokio::spawn(async move {
        let _ = io.await;
    });
    Some(conn)
}

/// `idle` if it can still send, else a new connection (`None` if that fails).
/// An idle connection the server closed is replaced silently: no request was lost on it.
async fn ready_conn(idle: Option<Conn>, t: &Target) -> Option<Conn> {
    if let Some(mut conn) = idle
        && conn.ready().await.is_ok()
    {
        return Some(conn);
    }
    connect(t).await
}

/// Sends request `n` on `conn` and reads the whole answer; `None` if the
/// connection broke before a status came back. Latency runs from `started`
/// to the answer's headers.
async fn exchange(conn: &mut Conn, t: &Target, n: u64, started: Instant) -> Option<Answer> {
    let resp = conn.send_request(t.request(n)).await.ok()?;
    let micros = started.elapsed().as_micros() as u64;
    let status = resp.status().as_u16();
    let reusable = match &t.save_urls {
        Some(out) if status == 200 => save_url(out, resp.into_body()).await,
        _ => drain(resp.into_body()).await,
    };
    Some(Answer {
        status,
        micros,
        reusable,
    })
}

/// Reads a body to its end without keeping it: HTTP/1 can only send the
/// next request on the connection after that. False if the body broke off.
async fn drain(mut body: Incoming) -> bool {
    loop {
        match body.frame().await {
            None => return true,
            Some(Ok(_)) => {}
            Some(Err(_)) => return false,
        }
    }
}

#[derive(serde::Deserialize)]
struct Signed {
    url: String,
}

async fn save_url(out: &Mutex<BufWriter<std::fs::File>>, body: Incoming) -> bool {
    let (url, complete) = match body.collect().await {
        Ok(b) => match serde_json::from_slice::<Signed>(&b.to_bytes()) {
            Ok(s) => (s.url, true),
            Err(_) => ("invalid:200-without-url".to_owned(), true),
        },
        Err(_) => ("invalid:200-body-unreadable".to_owned(), false),
    };
    let _ = writeln!(lock(out), "{url}");
    complete
}

/// What the requests share: the tally and, in the open loop, idle connections.
struct Shared {
    idle: Mutex<Vec<Conn>>,
    tally: Mutex<Tally>,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            idle: Mutex::new(Vec::new()),
            tally: Mutex::new(Tally::new()),
        })
    }

    fn take_tally(&self) -> Tally {
        std::mem::replace(&mut *lock(&self.tally), Tally::new())
    }
}

/// One closed-loop worker: back-to-back requests on its own connection,
/// reconnecting after a failure (each failed request counts an error).
async fn closed_worker(t: Arc<Target>, shared: Arc<Shared>, counter: Arc<AtomicU64>, deadline: Instant) {
    let mut conn = None;
    loop {
        let started = Instant::now();
        if started >= deadline {
            return;
        }
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let Some(mut c) = ready_conn(conn.take(), &t).await else {
            lock(&shared.tally).record(None);
            // Don't spin a core against a server that refuses connections:
            // that core is the one the server needs.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let answer = exchange(&mut c, &t, n, started).await;
        lock(&shared.tally).record(answer.as_ref());
        conn = answer.filter(|a| a.reusable).map(|_| c);
    }
}

async fn closed_loop(t: Arc<Target>, concurrency: usize, deadline: Instant) -> Tally {
    let shared = Shared::new();
    let counter = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(closed_worker(
                Arc::clone(&t),
                Arc::clone(&shared),
                Arc::clone(&counter),
                deadline,
            ))
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    shared.take_tally()
}

async fn open_one(t: Arc<Target>, shared: Arc<Shared>, n: u64) {
    let started = Instant::now();
    let idle = lock(&shared.idle).pop();
    let answer = match ready_conn(idle, &t).await {
        Some(mut conn) => {
            let answer = exchange(&mut conn, &t, n, started).await;
            if answer.as_ref().is_some_and(|a| a.reusable) {
                lock(&shared.idle).push(conn);
            }
            answer
        }
        None => None,
    };
    lock(&shared.tally).record(answer.as_ref());
}

async fn open_loop(t: Arc<Target>, rate: u64, concurrency: usize, started: Instant, deadline: Instant) -> Tally {
    let shared = Shared::new();
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sent, mut dropped) = (0u64, 0u64);
    while Instant::now() < deadline {
        tick.tick().await;
        // Catch up on whatever is due, so a late tick does not lower the rate.
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            sent += 1;
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                dropped += 1;
                continue;
            };
            let (t, shared) = (Arc::clone(&t), Arc::clone(&shared));
            tokio::spawn(async move {
                open_one(t, shared, sent).await;
                drop(permit);
            });
        }
    }
    // Every permit back means every request has finished.
    let _ = slots.acquire_many(u32::try_from(concurrency).unwrap_or(u32::MAX)).await;
    let mut tally = shared.take_tally();
    tally.dropped = dropped;
    tally
}

fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

fn report(tally: &Tally, elapsed: f64) {
    println!(
        "{{\"elapsed_s\":{elapsed:.2},\"ok\":{},\"overloaded_503\":{},\"other\":{},\"errors\":{},\"dropped\":{},\
         \"ok_per_s\":{:.0},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"p999_ms\":{:.2},\"overloaded_p50_ms\":{:.2},\"overloaded_p99_ms\":{:.2}}}",
        tally.ok,
        tally.overloaded,
        tally.other,
        tally.errors,
        tally.dropped,
        tally.ok as f64 / elapsed,
        pct(&tally.ok_h, 0.5),
        pct(&tally.ok_h, 0.99),
        pct(&tally.ok_h, 0.999),
        pct(&tally.overloaded_h, 0.5),
        pct(&tally.overloaded_h, 0.99),
    );
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("tokio runtime: {e}")))
}

fn main() {
    let o = parse();
    let t = Arc::new(Target::new(&o));
    let (tally, elapsed) = runtime(o.threads).block_on(async {
        let started = Instant::now();
        let deadline = started + o.duration;
        let tally = if o.rate == 0 {
            closed_loop(Arc::clone(&t), o.concurrency, deadline).await
        } else {
            open_loop(Arc::clone(&t), o.rate, o.concurrency, started, deadline).await
        };
        (tally, started.elapsed().as_secs_f64())
    });
    if let Some(out) = &t.save_urls {
        lock(out)
            .flush()
            .unwrap_or_else(|e| fail(&format!("--save-urls: flush: {e}")));
    }
    report(&tally, elapsed);
}
