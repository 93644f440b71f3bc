//! The audit trail on the real binary: nothing answered without its event
//! (a stalled stdout, a full disk, a crash), tamper evidence checked by
//! `cfsign audit verify`, rotation and restart without a lost or repeated
//! event.
//!
//! Load comes from [`Load`]: a few client tasks posting signed-URL
//! requests, each with its own request id, recording what each got. The
//! assertions then join the answers with the trail by request id.

mod crash;
mod failures;
mod rotation;
mod tamper;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::binary::run_cfsign;
use crate::harness::tokens::mailer;

/// One answer the load saw.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    /// 0 when the request failed without an answer (connection lost).
    pub status: u16,
    pub code: Option<String>,
    pub retry_after: Option<String>,
    pub at: Instant,
}

/// Client tasks posting signed-URL requests until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Answer>>>,
}

impl Load {
    /// `tasks` clients asking `url` for one of 20 keys under `/uploads/`
    /// (the `add_reports` grant), request ids `<tag>-<n>`.
    pub fn start(url: &str, tasks: usize, tag: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let tasks = (0..tasks)
            .map(|_| {
                let (stop, next, client) = (Arc::clone(&stop), Arc::clone(&next), client.clone());
                let (url, tag, token) = (url.to_owned(), tag.to_owned(), mailer());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let id = format!("{tag}-{n}");
                        let body = json!({ "key": format!("uploads/r{}.pdf", n % 20), "ttl_seconds": 600 });
                        answers.push(ask(&client, &url, &token, id, &body).await);
                    }
                    answers
                })
            })
            .collect();
        Self { stop, tasks }
    }

    /// Stops the clients and returns every answer.
    pub async fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.unwrap());
        }
        all
    }
}

async fn ask(client: &reqwest::Client, url: &str, token: &str, id: String, body: &Value) -> Answer {
    let sent = client
        .post(url)
        .bearer_auth(token)
        .header("x-request-id", &id)
        .json(body)
        .send()
        .await;
    let at = Instant::now();
    let Ok(response) = sent else {
        return Answer {
            id,
            status: 0,
            code: None,
            retry_after: None,
            at,
        };
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json: Value = response.json().await.unwrap_or(Value::Null);
    Answer {
        id,
        status,
        code: json["code"].as_str().map(str::to_owned),
        retry_after,
        at,
    }
}

/// `issued` events by request id.
pub fn issued_by_id(events: &[Value]) -> HashMap<String, usize> {
    let mut by_id = HashMap::new();
    for e in events.iter().filter(|e| e["event"] == "issued") {
        *by_id
            .entry(e["request_id"].as_str().unwrap_or_default().to_owned())
            .or_insert(0) += 1;
    }
    by_id
}

/// Asserts that every 200 of `answers` has exactly one `issued` event.
pub fn every_200_has_one_event(answers: &[Answer], events: &[Value], what: &str) {
    let by_id = issued_by_id(events);
    let ok: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert!(!ok.is_empty(), "{what}: no request succeeded");
    for a in &ok {
        assert_eq!(
            by_id.get(&a.id).copied().unwrap_or(0),
            1,
            "{what}: request {} was answered 200 but has {} issued events",
            a.id,
            by_id.get(&a.id).copied().unwrap_or(0)
        );
    }
}

/// The audit events of a file, whole lines only (a crash may leave a
/// partial last line).
pub fn events_in(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("audit").is_some())
        .collect()
}

/// `cfsign audit verify` on `files` (plus `extra` arguments): exit code and stdout.
pub fn verify(files: &[&Path], extra: &[&str]) -> (i32, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let out = run_cfsign(&args, Duration::from_secs(20));
    (
        out.status.code().unwrap_or(-1),
        out.stdout.join("\n") + &out.stderr.join("\n"),
    )
}

/// Polls `url` (`/readyz`) until its status is `want` or `within` passes.
pub async fn wait_ready_status(url: &str, want: u16, within: Duration) -> u16 {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + within;
    loop {
        let status = match client.get(url).timeout(Duration::from_secs(2)).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        if status == want || Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
