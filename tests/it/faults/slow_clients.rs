//! Slow clients: a body trickled past `request_timeout` gets 408 and the
//! connection closed; request headers trickled past `header_read_timeout`
//! are cut off; a stalled request head does not hold a SIGTERM beyond it.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{complete_response, url_body};
use crate::harness::binary::{Server, config_dir};
use crate::harness::fixtures::key_file;
use crate::harness::tokens::mailer;

/// Starts a server whose `request_timeout` is 1 s.
fn start_with_1s_timeout() -> Server {
    start_with_timeouts("2s")
}

/// `request_timeout` and `header_read_timeout` of 1 s, and `grace`.
fn start_with_timeouts(grace: &str) -> Server {
    let (dir, config) = config_dir(|c| {
        c.server.shutdown_grace = Some(grace.into());
        c.server.request_timeout = Some("1s".into());
        c.server.other.insert("header_read_timeout".into(), "1s".into());
        c.add_uploads(&key_file("rsa2048.pem"));
    });
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains(r#"header_read_timeout = "1s""#)
    );
    Server::start_in(dir, config, &[])
}

fn request_head(addr: SocketAddr, token: &str, request_id: &str, body_len: usize) -> String {
    format!(
        "POST /v1/signed-urls HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {body_len}\r\nx-request-id: {request_id}\r\n\r\n"
    )
}

/// What is readable right now: `None` = nothing yet (still open),
/// `Some(0)` = closed by the server, `Some(n)` = n bytes of answer.
fn peek_now(stream: &TcpStream) -> Option<usize> {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let r = match stream.peek(&mut buf) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(_) => Some(0),
    };
    stream.set_nonblocking(false).unwrap();
    r
}

/// Reads until EOF (or `timeout`); returns the bytes and whether EOF came.
fn read_until_closed(stream: &mut TcpStream, timeout: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + timeout;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (data, false);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (data, true),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return (data, false),
            // A reset after the answer also frees the connection.
            Err(_) => return (data, true),
        }
    }
}

#[test]
fn slow_request_body_gets_408_after_request_timeout_and_the_connection_is_freed() {
    let server = start_with_1s_timeout();
    let body = url_body("slow-body").to_string();
    let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .write_all(request_head(server.addr, &mailer(), "slow-body-1", body.len()).as_bytes())
        .unwrap();
    let headers_sent = Instant::now();
    // The body, one byte every 200 ms (it would take ~10 s in all).
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (mut w, stop, body) = (stream.try_clone().unwrap(), Arc::clone(&stop), body.clone());
        std::thread::spawn(move || {
            let mut sent = 0;
            for b in body.as_bytes() {
                if stop.load(Ordering::SeqCst) || w.write_all(&[*b]).is_err() {
                    break;
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            sent
        })
    };
    let (data, closed) = read_until_closed(&mut stream, Duration::from_secs(5));
    let took = headers_sent.elapsed();
    stop.store(true, Ordering::SeqCst);
    let sent = writer.join().unwrap();
    let text = String::from_utf8_lossy(&data);
    let (status, problem) = complete_response(&data).unwrap_or_else(|| panic!("no complete answer: {text:?}"));
    assert_eq!(status, 408, "{text}");
    assert!(text.to_ascii_lowercase().contains("application/problem+json"), "{text}");
    let problem: Value = serde_json::from_str(&problem).unwrap();
    assert_eq!(problem["code"], "timeout", "{problem}");
    assert_eq!(problem["request_id"], "slow-body-1", "{problem}");
    assert!(
        closed,
        "the connection is still open {took:?} after the headers: {text}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "answered and closed after {took:?}"
    );
    assert!(sent < body.len(), "the whole body went through ({sent} bytes)");
}

#[test]
fn slow_request_headers_are_cut_off_after_header_read_timeout() {
    // A client trickling its request head (slowloris) is disconnected once
    // `server.header_read_timeout` (1 s here) has passed: cfsign runs hyper
    // with a timer (axum's own `serve` does not, which disables hyper's
    // header timeout: this test held such a connection open for ever then).
    let server = start_with_1s_timeout();
    let body = url_body("slow-head").to_string();
    let head = request_head(server.addr, &mailer(), "slow-head-1", body.len());
    let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    stream.set_nodelay(true).unwrap();
    let started = Instant::now();
    let mut cut_after = None;
    // Up to 20 bytes, one every 200 ms: 4 s, four times the header timeout.
    for b in &head.as_bytes()[..20] {
        if stream.write_all(&[*b]).is_err() || peek_now(&stream).is_some() {
            cut_after = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cut_after = cut_after.unwrap_or_else(|| panic!("still open {:?} into a trickled head", started.elapsed()));
    assert!(
        cut_after >= Duration::from_millis(800),
        "cut after {cut_after:?}, before the timeout"
    );
    assert!(cut_after < Duration::from_secs(3), "cut after {cut_after:?}");
    // Whatever the server sent before closing, it is not a signed URL.
    let (data, _) = read_until_closed(&mut stream, Duration::from_secs(3));
    let text = String::from_utf8_lossy(&data);
    assert!(!text.contains("Signature="), "{text}");
    eprintln!("a trickled request head was cut off after {cut_after:?} (header_read_timeout 1 s)");
}

/// Bytes the server has not read yet on its side of `client` (loopback,
/// IPv4), from /proc/net/tcp; `None` while that socket is not listed.
fn server_unread_bytes(server: SocketAddr, client: SocketAddr) -> Option<u64> {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port()),
        SocketAddr::V6(_) => unreachable!("IPv4 loopback only"),
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&local.as_str()) && f.get(2) == Some(&remote.as_str()))
            .then(|| u64::from_str_radix(f[4].split_once(':')?.1, 16).ok())?
    })
}

#[test]
fn a_stalled_request_head_does_not_hold_shutdown_beyond_the_header_timeout() {
    // A connection stopped halfway through its request head would make
    // SIGTERM wait for the whole `shutdown_grace` if nothing timed that head
    // out; with `header_read_timeout` (1 s) the drain ends about then.
    let mut server = start_with_timeouts("5s");
    let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    stream
        .write_all(b"POST /v1/signed-urls HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Wait until the service has read those bytes (accepted and parsing).
    let client_addr = stream.local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server_unread_bytes(server.addr, client_addr) != Some(0) {
        assert!(Instant::now() < deadline, "the service never read the partial head");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sigterm = Instant::now();
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(8))
        .unwrap_or_else(|| panic!("still running 8 s after SIGTERM:\n{}", server.all_logs()));
    let took = sigterm.elapsed();
    assert!(status.success(), "exit {status}");
    assert!(
        took < Duration::from_secs(3),
        "exited {took:?} after SIGTERM (grace 5 s)"
    );
    let logs = {
        server.stop_and_collect(Duration::from_secs(5));
        server.all_logs()
    };
    assert!(!logs.contains("grace period over"), "{logs}");
    eprintln!("a stalled request head delayed the shutdown by {took:?} (header timeout 1 s, grace 5 s)");
}
