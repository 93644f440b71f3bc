//! Connection bounds on the real binary (src/http/serve.rs): no connection
//! can hold a descriptor for ever, and silent connections cannot lock real
//! callers out.
//!
//! - Silent TCP, half an HTTP/2 preface, a full preface + SETTINGS and then
//!   nothing, and half an HTTP/1 head are all closed within
//!   `header_read_timeout` (1 s here); an HTTP/1.1 keep-alive and an h2c
//!   connection idle after one answer are closed within `idle_timeout`
//!   (2 s), and an HTTP/1.1 connection trickling its second head a byte at
//!   a time within `header_read_timeout` of the first answer. Each is given
//!   the bound + 3 s before the test calls it open. The closes are counted
//!   in `cfsign_connections_closed_total{reason}`.
//! - Under RLIMIT_NOFILE = 256, 300 silent connections do not stop a real
//!   caller from being answered: `max_connections` is lowered to fit the
//!   limit (with a warning), the silent ones are dropped after
//!   `header_read_timeout`, and accept failures are not logged per failure.
//!
//! On the previous accept loop (checked by running this file on it), silent
//! TCP, both HTTP/2 cases, the idle h2c connection and the starved caller
//! all fail. The HTTP/1 cases passed there too, by hyper's own header
//! timer, which cfsign no longer runs (the watchdog bounds every head now,
//! and counts the closes). They stay as guards.

#![cfg(unix)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;

use crate::harness::binary::{Limits, Server, config_dir};
use crate::harness::fixtures::key_file;
use crate::harness::net::{metric, parse_response, post};
use crate::harness::tokens::token;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// Scheduling on a shared 2-core machine; far below "for ever".
const SLACK: Duration = Duration::from_secs(3);

/// A server with the short bounds above, optionally under an open-files limit.
fn start(open_files: Option<u64>) -> Server {
    let (dir, config) = config_dir(|c| {
        c.server.shutdown_grace = Some("2s".into());
        c.server.other.insert("header_read_timeout".into(), "1s".into());
        c.server.other.insert("idle_timeout".into(), "2s".into());
        c.add_uploads(&key_file("rsa2048.pem"));
    });
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains(r#"idle_timeout = "2s""#)
    );
    let limits = Limits {
        open_files,
        ..Limits::default()
    };
    Server::start_in_with_limits(dir, config, &[], limits)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
}

/// Reads and discards until the server closes `stream` (EOF or reset);
/// how long after `since` that was, or an error if still open at `since + within`.
fn wait_closed(stream: &mut TcpStream, since: Instant, within: Duration) -> Result<Duration, String> {
    let deadline = since + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("still open {within:?} later"));
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Ok(since.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                return Ok(since.elapsed());
            }
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}

/// Connects, sends `bytes` (maybe none), then stays silent: must be closed
/// within `header_read_timeout` of the connect.
fn silent_after(addr: SocketAddr, bytes: &[u8]) -> Result<Duration, String> {
    let opened = Instant::now();
    let mut stream = connect(addr);
    stream.write_all(bytes).map_err(|e| format!("write: {e}"))?;
    wait_closed(&mut stream, opened, HEADER_READ_TIMEOUT + SLACK)
}

/// One complete HTTP/1.1 keep-alive exchange (`GET /healthz`, answered 200);
/// the connection stays open.
fn http1_after_one_request(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut stream = connect(addr);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while parse_response(&data).is_none() {
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(format!(
                    "closed before the answer: {:?}",
                    String::from_utf8_lossy(&data)
                ));
            }
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("reading the answer: {e}")),
        }
    }
    let (status, _, _) = parse_response(&data).unwrap();
    if status != 200 {
        return Err(format!("GET /healthz answered {status}"));
    }
    Ok(stream)
}

/// One complete HTTP/1.1 keep-alive exchange, then silence: must be closed
/// within `idle_timeout` of the answer.
fn http1_idle_after_one_request(addr: SocketAddr) -> Result<Duration, String> {
    let mut stream = http1_after_one_request(addr)?;
    wait_closed(&mut stream, Instant::now(), IDLE_TIMEOUT + SLACK)
}

/// One complete HTTP/1.1 exchange, then the next head a byte every 200 ms:
/// must be cut off within `header_read_timeout` of the answer, however
/// steadily the bytes come.
fn http1_second_head_trickled(addr: SocketAddr) -> Result<Duration, String> {
    let mut stream = http1_after_one_request(addr)?;
    let answered = Instant::now();
    let mut buf = [0u8; 4096];
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for byte in head.iter().cycle() {
        if answered.elapsed() > HEADER_READ_TIMEOUT + SLACK {
            return Err(format!("still open {:?} later", HEADER_READ_TIMEOUT + SLACK));
        }
        if stream.write_all(&[*byte]).is_err() {
            return Ok(answered.elapsed());
        }
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Ok(answered.elapsed()),
            Ok(_) => return Err("answered a head that never ended".into()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Ok(answered.elapsed()),
        }
    }
    unreachable!("the head cycles for ever")
}

/// One GET over h2c (prior knowledge) with hyper's client, then silence:
/// the connection (its future) must end within `idle_timeout` of the answer.
async fn h2c_idle_after_one_request(addr: SocketAddr) -> Result<Duration, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .map_err(|e| format!("h2 handshake: {e}"))?;
    let mut connection = tokio::spawn(connection);
    let request = hyper::Request::get(format!("http://{addr}/healthz"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let exchange = async {
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        Ok::<_, hyper::Error>(status)
    };
    match tokio::time::timeout(Duration::from_secs(5), exchange).await {
        Ok(Ok(status)) if status == 200 => {}
        other => return Err(format!("GET /healthz over h2c: {other:?}")),
    }
    let answered = Instant::now();
    // `sender` stays alive: hyper's client would close the connection itself
    // once no handle to it is left.
    let ended = tokio::time::timeout(IDLE_TIMEOUT + SLACK, &mut connection).await;
    drop(sender);
    match ended {
        Ok(_) => Ok(answered.elapsed()),
        Err(_) => {
            connection.abort();
            Err(format!("still open {:?} later", IDLE_TIMEOUT + SLACK))
        }
    }
}

/// All the kinds at once, on one server: the test takes as long as the slowest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_partial_and_idle_connections_are_closed_within_their_bounds() {
    let server = start(None);
    let addr = server.addr;
    type Probe = fn(SocketAddr) -> Result<Duration, String>;
    let blocking: [(&str, Probe); 6] = [
        ("silent TCP", |a| silent_after(a, b"")),
        ("partial HTTP/2 preface", |a| silent_after(a, b"PRI * HTTP/2.0\r\n")),
        ("h2 preface + SETTINGS, no request", |a| {
            silent_after(a, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        }),
        ("partial HTTP/1 head", |a| silent_after(a, b"GET /healthz HTT")),
        ("HTTP/1.1 keep-alive idle", http1_idle_after_one_request),
        ("HTTP/1.1 second head trickled", http1_second_head_trickled),
    ];
    let handles: Vec<_> = blocking
        .into_iter()
        .map(|(name, probe)| (name, tokio::task::spawn_blocking(move || probe(addr))))
        .collect();
    let h2c = h2c_idle_after_one_request(addr).await;
    let mut results = vec![("h2c idle", h2c)];
    for (name, handle) in handles {
        results.push((name, handle.await.unwrap()));
    }
    for (name, result) in &results {
        eprintln!("{name}: {result:?}");
    }
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "not closed in time: {failed:?}\n{}",
        server.all_logs()
    );

    let text = server.metrics_text().await;
    let closed = "cfsign_connections_closed_total";
    // Silent TCP, the two HTTP/2 cases and the partial HTTP/1 head; then the
    // idle h2c and HTTP/1.1 connections and the trickled second head.
    assert!(
        metric(&text, closed, r#"reason="first_request_timeout""#) >= 4.0,
        "{text}"
    );
    assert!(metric(&text, closed, r#"reason="idle""#) >= 3.0, "{text}");
}

/// Under a 256-descriptor limit, 300 silent connections are dropped after
/// `header_read_timeout`, and a real caller arriving among them is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_cannot_starve_a_real_caller() {
    let server = start(Some(256));
    let silent: Vec<TcpStream> = (0..300).map(|_| connect(server.addr)).collect();
    let http = reqwest::Client::builder()
        // Longer than the deadline below, which gives the clearer failure.
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let token = token(json!({ "sub": "mailer" }));
    let body = json!({ "key": "uploads/report.pdf", "ttl_seconds": 600 });
    let asked = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(15),
        post(&http, &server.url("/v1/signed-urls"), &token, "starved-1", &body),
    )
    .await;
    let waited = asked.elapsed();
    drop(silent);
    let (status, _, json) = answer.unwrap_or_else(|_| panic!("no answer within 15 s:\n{}", server.all_logs()));
    eprintln!("answered {status} after {waited:?}");
    assert_eq!(status, 200, "{json}\n{}", server.all_logs());

    let messages: Vec<String> = server
        .json_lines()
        .iter()
        .filter_map(|v| v["message"].as_str().map(str::to_owned))
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("server.max_connections lowered")),
        "no warning that max_connections was lowered:\n{}",
        server.all_logs()
    );
    // Before: one line per failed accept, every 50 ms, for as long as it lasted.
    let accept_failures = messages
        .iter()
        .filter(|m| m.contains("accept") && m.contains("fail"))
        .count();
    eprintln!("{accept_failures} accept failure lines");
    assert!(
        accept_failures <= 3,
        "{accept_failures} accept failure lines:\n{}",
        server.all_logs()
    );
}
