//! The exposition and the shipped alert rules as Prometheus sees them
//! (issue 15, item 3): the real binary is scraped on its metrics listener
//! before and after traffic (a signed URL, a 401, a 403, a SIGHUP reload),
//! and each scrape must pass `promtool check metrics`; the rules in
//! `deploy/prometheus/alerts.yaml` must pass `promtool check rules` and
//! their unit tests (`tests/prometheus/alerts.test.yaml`), and name only
//! families cfsign exports.
//!
//! `promtool` comes from Debian's `prometheus` package (`.ci/run` installs
//! it), or from `$CFSIGN_PROMTOOL`. Without it the promtool runs are
//! skipped, except under CI (`$CI` set), where the tests fail; the other
//! assertions run regardless.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cfsign::metrics::families::{FAMILIES, Kind};
use serde_json::json;

use crate::harness::binary::Server;
use crate::harness::net::{client, metric, post};
use crate::harness::tokens::mailer;

const INSTALL: &str = "apt-get install -y prometheus";
const RULES: &str = "deploy/prometheus/alerts.yaml";
const RULE_TESTS: &str = "tests/prometheus/alerts.test.yaml";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

use crate::harness::tools::in_ci;

/// `promtool`, or `None` after saying why the check is skipped (a panic
/// under CI).
fn promtool(what: &str) -> Option<PathBuf> {
    let found = match std::env::var_os("CFSIGN_PROMTOOL") {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("promtool"))
                .find(|p| p.is_file())
        }),
    };
    if found.is_none() {
        assert!(!in_ci(), "promtool missing; CI must install it first ({INSTALL})");
        let _ = writeln!(std::io::stderr(), "skipped: {what} (no promtool; {INSTALL})");
    }
    found
}

/// Runs promtool with `args` in the repository root, `stdin` piped in;
/// returns its combined output, panicking unless it exits 0.
fn run_promtool(promtool: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(promtool)
        .args(args)
        .current_dir(manifest_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}: {}\n{text}", out.status);
    text
}

/// `promtool check metrics` on one scrape: no lint problem at all.
fn check_metrics(scrape: &str, when: &str) {
    if let Some(promtool) = promtool("promtool check metrics") {
        let out = run_promtool(&promtool, &["check", "metrics"], scrape);
        assert!(
            out.trim().is_empty(),
            "promtool check metrics ({when}):\n{out}\n{scrape}"
        );
    }
}

/// The `# HELP` and `# TYPE` lines of `name`, as the table declares them.
fn assert_described(scrape: &str, name: &str) {
    let family = FAMILIES.iter().find(|f| f.name == name);
    let family = family.unwrap_or_else(|| panic!("{name} is not in cfsign::metrics::families::FAMILIES"));
    let help = format!("# HELP {name} {}\n", family.help);
    let kind = format!("# TYPE {name} {}\n", family.kind.as_str());
    assert!(scrape.contains(&help), "missing {help:?} in\n{scrape}");
    assert!(scrape.contains(&kind), "missing {kind:?} in\n{scrape}");
}

/// Every `cfsign_*` family in a scrape, from its `# TYPE` lines.
fn families_in(scrape: &str) -> Vec<&str> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .filter(|name| name.starts_with("cfsign_"))
        .collect()
}

async fn wait_metric(server: &Server, name: &str, label: &str, value: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = server.metrics_text().await;
        if metric(&text, name, label) == value {
            return text;
        }
        assert!(Instant::now() < deadline, "{name}{{{label}}} != {value}:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_before_and_after_traffic_pass_promtool_and_describe_every_family() {
    let server = Server::start(|c| c.add_reports());

    // Before any request or reload: build info, readiness and the counters
    // alerts rely on are there, at their start values.
    let before = server.metrics_text().await;
    check_metrics(&before, "before traffic");
    let version = env!("CARGO_PKG_VERSION");
    for line in [
        format!("cfsign_build_info{{version=\"{version}\",backend=\"openssl\"}} 1\n"),
        "cfsign_ready 1\n".to_owned(),
        "cfsign_config_reloads_total{result=\"success\"} 0\n".to_owned(),
        "cfsign_config_reloads_total{result=\"failure\"} 0\n".to_owned(),
        "cfsign_config_last_reload_successful 1\n".to_owned(),
        "cfsign_jwks_refresh_total{result=\"failure\"} 0\n".to_owned(),
        "cfsign_signing_rejected_total 0\n".to_owned(),
        "cfsign_denials_total{reason=\"forbidden\"} 0\n".to_owned(),
    ] {
        assert!(before.contains(&line), "missing {line:?} before traffic in\n{before}");
    }
    for name in families_in(&before) {
        assert_described(&before, name);
    }

    // Traffic: a signed URL, a request without a token, one outside the grant.
    let http = client();
    let url = server.url("/v1/signed-urls");
    let (status, _, body) = post(&http, &url, &mailer(), "prom-1", &json!({ "key": "uploads/a.pdf" })).await;
    assert_eq!(status, 200, "{body}");
    let anonymous = http
        .post(&url)
        .json(&json!({ "key": "uploads/a.pdf" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, _, body) = post(&http, &url, &mailer(), "prom-3", &json!({ "key": "private/a.pdf" })).await;
    assert_eq!(status, 403, "{body}");
    server.signal("HUP");
    let after = wait_metric(&server, "cfsign_config_reloads_total", r#"result="success""#, 1.0).await;

    check_metrics(&after, "after traffic");
    let present = families_in(&after);
    for f in FAMILIES {
        // The families of a JWKS URL and of a vault-held key, which this
        // configuration has none of.
        let absent = [
            "cfsign_jwks_last_success_timestamp_seconds",
            "cfsign_key_operations_total",
            "cfsign_key_operation_seconds",
        ];
        if absent.contains(&f.name) {
            continue;
        }
        assert!(
            present.contains(&f.name),
            "{} missing after traffic in\n{after}",
            f.name
        );
    }
    for name in present {
        assert_described(&after, name);
    }
    for status in ["200", "401", "403"] {
        let bucket =
            format!("cfsign_http_request_duration_seconds_bucket{{route=\"/v1/signed-urls\",status=\"{status}\",le=");
        assert!(after.contains(&bucket), "missing {bucket} in\n{after}");
    }
    assert_eq!(
        metric(&after, "cfsign_signing_duration_seconds_count", ""),
        1.0,
        "{after}"
    );
    assert_eq!(
        metric(&after, "cfsign_denials_total", r#"reason="forbidden""#),
        1.0,
        "{after}"
    );
    assert!(metric(&after, "cfsign_jwt_failures_total", "") >= 1.0, "{after}");
    // Unlimited address space is 2^64 - 1 as in Prometheus' own client, not 0.
    assert!(metric(&after, "process_virtual_memory_max_bytes", "") > 0.0, "{after}");
    assert!(after.contains("# HELP process_resident_memory_bytes "), "{after}");
}

#[test]
fn the_shipped_alert_rules_pass_promtool_and_name_only_exported_families() {
    let text = std::fs::read_to_string(manifest_dir().join(RULES)).unwrap();
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut alerts = 0;
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"].as_str().expect("only alerting rules");
            alerts += 1;
            assert!(rule["for"].as_str().is_some(), "{name}: no `for:`");
            let severity = rule["labels"]["severity"].as_str();
            assert!(
                matches!(severity, Some("warning" | "critical")),
                "{name}: severity {severity:?}"
            );
            for key in ["summary", "description"] {
                assert!(
                    rule["annotations"][key].as_str().is_some(),
                    "{name}: no annotations.{key}"
                );
            }
            let expr = rule["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("cfsign_") {
                    let f = FAMILIES.iter().find(|f| f.name == word);
                    assert!(f.is_some(), "{name}: {word} is not a family cfsign exports");
                    let counter = f.is_some_and(|f| f.kind == Kind::Counter);
                    assert!(
                        !counter || expr.contains("rate(") || expr.contains("increase("),
                        "{name}: a counter read raw"
                    );
                }
            }
        }
    }
    // One alert per thing the README says to alert on, and the scrape itself.
    assert_eq!(alerts, 8, "{text}");
    let Some(promtool) = promtool("promtool check rules / test rules") else {
        return;
    };
    let out = run_promtool(&promtool, &["check", "rules", RULES], "");
    assert!(out.contains("SUCCESS: 8 rules found"), "{out}");
    run_promtool(&promtool, &["test", "rules", RULE_TESTS], "");
}
