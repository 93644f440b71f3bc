//! SIGTERM under ~300 concurrent callers: every answer is a complete 200
//! (whose URL verifies) or a 503, other callers are refused, exit 0.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cfsign::signing::{RequestContext, verify_url};
use serde_json::Value;

use super::{complete_response, url_body};
use crate::harness::binary::Server;
use crate::harness::config::KEY_A;
use crate::harness::fixtures::{key_file, now, public};
use crate::harness::tokens::mailer;

/// What a raw HTTP/1.1 caller saw (the texts are read through `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
enum Outcome {
    /// connect() refused (or reset during the handshake): nobody listens any more.
    Refused,
    /// Connected, then closed or reset before a single byte of answer.
    NoAnswer(String),
    /// A complete response (Content-Length satisfied).
    Complete(u16, String),
    /// Some bytes of an answer, then the connection ended.
    Truncated(String),
    /// Anything else (connect error other than refusal, timeout).
    Failed(String),
}

/// POSTs `body` on a fresh connection (`Connection: close`) and reads until
/// the server closes it.
async fn raw_post(addr: SocketAddr, token: &str, request_id: &str, body: &str) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        // A reset during the handshake (the listener closed meanwhile) is a
        // refusal too: not a byte of the request was sent.
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset) => {
            return Outcome::Refused;
        }
        Err(e) => return Outcome::Failed(format!("connect: {e}")),
    };
    let request = format!(
        "POST /v1/signed-urls HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nx-request-id: {request_id}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return Outcome::NoAnswer(format!("write: {e}"));
    }
    let mut data = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut data)).await;
    let ended = match read {
        Err(_) => return Outcome::Failed(format!("no end of answer in 20 s; got {} bytes", data.len())),
        Ok(Ok(_)) => "eof".to_owned(),
        Ok(Err(e)) => format!("read: {e}"),
    };
    if data.is_empty() {
        return Outcome::NoAnswer(ended);
    }
    match complete_response(&data) {
        Some((status, body)) => Outcome::Complete(status, body),
        None => Outcome::Truncated(format!("{ended}: {:?}", String::from_utf8_lossy(&data))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_completely_or_refuses_and_exits_0() {
    const CALLERS: usize = 300;
    // cfsign::access=debug: a "started processing request" line per request
    // that reached the service, with its request id.
    let mut server = Server::start_with(&[("RUST_LOG", "info,cfsign::access=debug")], |c| {
        c.server.shutdown_grace = Some("10s".into());
        c.add_uploads(&key_file("rsa2048.pem"));
    });
    let addr = server.addr;
    let t = Arc::new(mailer());
    let outcomes: Arc<Mutex<Vec<(String, Outcome, bool)>>> = Arc::default();
    let completed = Arc::new(AtomicUsize::new(0));
    let sigterm_sent = Arc::new(AtomicBool::new(false));
    let stop_at = Instant::now() + Duration::from_secs(15);
    let mut callers = Vec::new();
    for c in 0..CALLERS {
        let (t, outcomes, completed, sigterm_sent) = (
            Arc::clone(&t),
            Arc::clone(&outcomes),
            Arc::clone(&completed),
            Arc::clone(&sigterm_sent),
        );
        callers.push(tokio::spawn(async move {
            for n in 0.. {
                let id = format!("load-{c}-{n}");
                let body = url_body(&id).to_string();
                let after = sigterm_sent.load(Ordering::SeqCst);
                let outcome = raw_post(addr, &t, &id, &body).await;
                completed.fetch_add(1, Ordering::Relaxed);
                let refused = matches!(outcome, Outcome::Refused);
                outcomes.lock().unwrap().push((id, outcome, after));
                if refused || Instant::now() >= stop_at {
                    break;
                }
            }
        }));
    }
    // Let the load build up: every caller has had at least one answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while completed.load(Ordering::Relaxed) < 2 * CALLERS {
        assert!(
            Instant::now() < deadline,
            "the load does not progress:\n{}",
            server.all_logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sigterm_sent.store(true, Ordering::SeqCst);
    let sigterm = Instant::now();
    server.signal("TERM");
    for c in callers {
        tokio::time::timeout(Duration::from_secs(20), c)
            .await
            .expect("a caller never finished")
            .unwrap();
    }
    let exit = server
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", server.all_logs()));
    let exited_after = sigterm.elapsed();
    let logs = {
        server.stop_and_collect(Duration::from_secs(5));
        server.all_logs()
    };
    assert!(exit.success(), "exit {exit}");
    assert!(!logs.contains("grace period over"), "requests abandoned");

    let outcomes = outcomes.lock().unwrap();
    let pk = public("rsa2048.pub.pem");
    let (mut ok, mut ok_after, mut unavailable, mut refused, mut no_answer) = (0, 0, 0, 0, Vec::new());
    let mut bad = Vec::new();
    for (id, outcome, after) in outcomes.iter() {
        match outcome {
            Outcome::Complete(200, body) => {
                let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{id}: {e}: {body}"));
                let url = v["url"].as_str().unwrap_or_else(|| panic!("{id}: {body}"));
                let check = verify_url(
                    url,
                    &(KEY_A, &pk),
                    RequestContext {
                        at: now(),
                        client_ip: None,
                    },
                );
                assert!(check.failure.is_none(), "{id}: {url}: {:?}", check.failure);
                assert!(url.contains(&format!("/uploads/{id}.pdf?")), "{id}: {url}");
                ok += 1;
                ok_after += usize::from(*after);
            }
            Outcome::Complete(503, _) => unavailable += 1,
            Outcome::Refused => refused += 1,
            Outcome::NoAnswer(why) => no_answer.push((id.clone(), why.clone())),
            other => bad.push(format!("{id}: {other:?}")),
        }
    }
    eprintln!(
        "{} requests: {ok} x 200 ({ok_after} sent after SIGTERM), {unavailable} x 503, {refused} refused, \
         {} closed before any answer; {exit} {exited_after:?} after SIGTERM",
        outcomes.len(),
        no_answer.len()
    );
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for (_, why) in &no_answer {
        *reasons.entry(why.as_str()).or_default() += 1;
    }
    eprintln!("closed before any answer: {reasons:?}");
    assert!(bad.is_empty(), "truncated or unexpected answers:\n{}", bad.join("\n"));
    assert!(ok >= 100, "only {ok} x 200");
    assert!(refused >= 1, "nobody saw the listener close");
    // A connection closed before any answer is acceptable only if the
    // service never saw that request: no log line (span or audit) names it.
    let seen: std::collections::HashSet<String> = server
        .json_lines()
        .iter()
        .flat_map(|e| [e["request_id"].as_str(), e["span"]["request_id"].as_str()])
        .flatten()
        .map(str::to_owned)
        .collect();
    assert!(seen.len() >= ok + unavailable, "request ids missing from the logs");
    for (id, why) in &no_answer {
        assert!(
            !seen.contains(id),
            "{id} reached the service but its answer was lost ({why})"
        );
    }
    // And every request the service issued a URL for was answered.
    let answered: std::collections::HashSet<&str> = outcomes
        .iter()
        .filter(|(_, o, _)| matches!(o, Outcome::Complete(200, _)))
        .map(|(id, _, _)| id.as_str())
        .collect();
    for e in server.audit_events() {
        if e["event"] == "issued" {
            let id = e["request_id"].as_str().unwrap_or_default();
            assert!(answered.contains(id), "{id} issued but never answered");
        }
    }
}
