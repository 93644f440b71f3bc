//! Logs a person can use (issue 15, item 4): one INFO access line per
//! request with the route template, the status and the latency as a number
//! (never the query), which `server.access_log = false` switches off; what a
//! start loaded, once (version, distributions with their keys, token rules,
//! sizes); a configuration that stops the start reports every mistake at
//! once, with file and line, on stderr and as JSON log events. (Colour only
//! on a terminal, `NO_COLOR` honoured: unit test in `src/telemetry.rs`.)

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::binary::Server;
use crate::harness::net::{client, post};
use crate::harness::tokens::token;

fn access_lines(server: &Server) -> Vec<Value> {
    server
        .json_lines()
        .into_iter()
        .filter(|v| v["target"] == "cfsign::access")
        .collect()
}

#[tokio::test]
async fn each_request_has_one_access_line_with_a_numeric_latency_and_no_query() {
    let server = Server::start(|c| c.add_reports());
    let http = client();
    let body = json!({ "key": "uploads/a.pdf", "query": { "response-content-type": "secret-looking" } });
    let (status, _, answer) = post(
        &http,
        &server.url("/v1/signed-urls"),
        &token(json!({ "sub": "mailer" })),
        "access-1",
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let verify = http
        .get(server.url("/v1/grants/me?x=should-not-appear"))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 401);
    let line = server.wait_log(Duration::from_secs(5), |v| {
        v["target"] == "cfsign::access" && v["span"]["request_id"] == "access-1"
    });
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["latency_ms"].is_f64(), "latency is a number: {line}");
    assert_eq!(line["span"]["route"], "/v1/signed-urls", "{line}");
    assert_eq!(line["span"]["method"], "POST", "{line}");
    server.wait_log(Duration::from_secs(5), |v| {
        v["target"] == "cfsign::access" && v["status"] == 401
    });
    let lines = access_lines(&server);
    assert_eq!(lines.len(), 2, "one line per request");
    for line in &lines {
        let text = line.to_string();
        assert!(
            !text.contains("should-not-appear") && !text.contains("secret-looking"),
            "{text}"
        );
    }
    assert!(!server.all_logs().contains("Signature="), "no signed URL in the logs");
}

/// The access line of one request, without its time and latency.
async fn access_line_of(server: &Server, id: &str) -> Value {
    let http = client();
    let (status, _, answer) = post(
        &http,
        &server.url("/v1/signed-urls"),
        &token(json!({ "sub": "mailer" })),
        id,
        &json!({ "key": "uploads/a.pdf" }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let mut line = server.wait_log(Duration::from_secs(5), |v| {
        v["target"] == "cfsign::access" && v["span"]["request_id"] == id
    });
    let members = line.as_object_mut().unwrap();
    assert!(members.remove("timestamp").unwrap().is_string());
    assert!(members.remove("latency_ms").unwrap().is_f64());
    line
}

/// A filter on spans (`[request]`) keeps the request's `tracing` span;
/// the default logs without one (`telemetry::direct`): the lines are the
/// same.
#[tokio::test]
async fn the_access_line_is_the_same_with_and_without_a_span_filter() {
    let default = Server::start(|c| c.add_reports());
    let spans = Server::start_with(&[("RUST_LOG", "info,[request]=info")], |c| c.add_reports());
    let expected = json!({
        "level": "INFO",
        "message": "request",
        "status": 200,
        "target": "cfsign::access",
        "span": { "method": "POST", "route": "/v1/signed-urls", "request_id": "same-1", "name": "request" },
    });
    assert_eq!(access_line_of(&default, "same-1").await, expected);
    assert_eq!(access_line_of(&spans, "same-1").await, expected);
}

/// Access lines asked for where the request's span is filtered out: each
/// answer still has its line, naming no request (as with a disabled span).
#[tokio::test]
async fn access_lines_outlive_a_filter_that_drops_the_span() {
    let server = Server::start_with(&[("RUST_LOG", "warn,cfsign::access=info,cfsign::server=info")], |c| {
        c.add_reports()
    });
    let (status, _, answer) = post(
        &client(),
        &server.url("/v1/signed-urls"),
        &token(json!({ "sub": "mailer" })),
        "unnamed-1",
        &json!({ "key": "uploads/a.pdf" }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let line = server.wait_log(Duration::from_secs(5), |v| {
        v["target"] == "cfsign::access" && v["status"] == 200
    });
    assert_eq!(line["message"], "request", "{line}");
    assert!(line.get("span").is_none(), "{line}");
}

#[tokio::test]
async fn access_log_false_switches_it_off() {
    let server = Server::start(|c| {
        c.add_reports();
        c.server.other.insert("access_log".into(), false.into());
    });
    let r = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The audit event of a refused token is the marker that the request was handled.
    let _ = client()
        .post(server.url("/v1/signed-urls"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    server.wait_log(Duration::from_secs(5), |v| v.get("audit").is_some());
    assert!(access_lines(&server).is_empty(), "{}", server.all_logs());
}

#[test]
fn a_start_says_what_it_loaded_once() {
    let server = Server::start(|c| c.add_reports());
    let lines = server.json_lines();
    let loaded: Vec<&Value> = lines
        .iter()
        .filter(|v| v["message"] == "configuration loaded")
        .collect();
    assert_eq!(loaded.len(), 1, "{lines:?}");
    assert_eq!(loaded[0]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        loaded[0]["issuers"].as_str().is_some_and(|s| !s.is_empty()),
        "{}",
        loaded[0]
    );
    assert_eq!(loaded[0]["grants"], 1);
    let dist = lines
        .iter()
        .find(|v| v["message"] == "distribution loaded")
        .expect("a line per distribution");
    assert_eq!(dist["distribution"], "reports");
    assert_eq!(dist["active_key"], "K2JCJMDEHXQW5F");
    assert!(
        dist["keys"].as_str().unwrap().contains("K2JCJMDEHXQW5F (RSA-2048)"),
        "{dist}"
    );
    let listening = lines.iter().find(|v| v["message"] == "cfsign listening").unwrap();
    assert_eq!(listening["version"], env!("CARGO_PKG_VERSION"));
}

/// A config with a mistake in every section (issue 15, item 5).
const MISTAKES: &str = r#"[server]
request_timeout = 10

[auth]
issuers = ["https://auth.example.com/"]
hmac_secret_files = ["/nonexistent"]

[[distributions]]
name = "reports"
keys = [{ key_pair_id = "K1" }]

[[grants]]
name = "g"
subjects = ["s"]
distributions = ["reports"]
allow = ["/*"]
max_ttl = 3600
"#;

#[test]
fn every_mistake_of_a_config_is_reported_in_one_start_with_its_line_also_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, MISTAKES).unwrap();
    let out = crate::harness::binary::serve_expecting_exit(&config, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "{:?}", out.stderr);
    let file = config.display().to_string();
    for needle in [
        format!("{file}:1: [server]: invalid type: integer `10`, expected a duration"),
        format!("{file}:4: [auth]: missing required key \"audiences\""),
        format!("{file}:4: [auth]: missing required key \"algorithms\""),
        format!("{file}:8: distributions[0]: missing required key \"domain\""),
        format!("{file}:10: distributions[0].keys[0]: missing required key \"private_key_file\""),
        format!("{file}:12: grants[0]: invalid type: integer `3600`, expected a duration"),
    ] {
        assert!(
            out.stderr
                .iter()
                .any(|l| l.starts_with("error: ") && l.contains(&needle)),
            "missing {needle:?} in {:?}",
            out.stderr
        );
    }
    assert!(
        out.stderr.iter().any(|l| l.contains("\"1h 30m\"")),
        "the accepted duration forms"
    );
    // With JSON logs (the harness's --log-format json), each is an ERROR event too.
    let events: Vec<Value> = out
        .stdout
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["level"] == "ERROR" && v["message"] == "configuration refused; not starting")
        .collect();
    assert_eq!(events.len(), 6, "{:?}", out.stdout);
    assert!(
        events[1]["problem"].as_str().unwrap().contains("audiences"),
        "{}",
        events[1]
    );
}

#[test]
fn settings_that_cannot_work_are_one_warning_each_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("loose.pem");
    std::fs::copy(crate::harness::fixtures::key_file("rsa2048.pem"), &key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let server = Server::start_with(&[("CFSIGN_SERVER_LISTEN", "0.0.0.0:1")], |c| {
        c.add_uploads(&key);
        c.auth.algorithms.push("ES256".into());
        c.grants[0].allow.push("/elsewhere/*".into());
    });
    let warnings: Vec<String> = server
        .json_lines()
        .into_iter()
        .filter(|v| v["level"] == "WARN")
        .filter_map(|v| v["message"].as_str().map(str::to_owned))
        .collect();
    for needle in [
        "\"/elsewhere/*\" lies outside distributions[reports].path_prefix \"/uploads\"",
        "did you mean CFSIGN_SERVER__LISTEN?",
        "is readable by group or others (mode 644)",
        "no loaded key can verify [ES256]",
    ] {
        assert_eq!(
            warnings.iter().filter(|w| w.contains(needle)).count(),
            1,
            "one warning with {needle:?} in {warnings:#?}"
        );
    }
}

#[tokio::test]
async fn a_reload_says_which_changed_settings_wait_for_a_restart() {
    let server = Server::start(|c| c.add_reports());
    let text = std::fs::read_to_string(&server.config).unwrap();
    let changed = text.replacen("[server]\n", "[server]\nidle_timeout = \"61s\"\n", 1);
    assert_ne!(changed, text, "the rendered config has a [server] table");
    crate::harness::fixtures::write_atomic(&server.config, &changed);
    server.signal("HUP");
    let reloaded = server
        .wait_log_async(Duration::from_secs(10), |v| v["message"] == "configuration reloaded")
        .await;
    assert_eq!(reloaded["restart_required"], true, "{reloaded}");
    let waiting: Vec<Value> = server
        .json_lines()
        .into_iter()
        .filter(|v| v["level"] == "WARN" && v["section"].is_string())
        .collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["section"], "server");
    assert!(waiting[0]["message"].as_str().unwrap().contains("next restart"));
}
