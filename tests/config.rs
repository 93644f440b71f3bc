//! The configuration loader: layered sources, unknown keys refused, every
//! problem reported at once, key files checked at start.

mod common;

use cfsign::config;
use cfsign::service::Snapshot;

#[test]
fn the_example_file_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
    let c = config::load(std::path::Path::new(path)).unwrap();
    assert_eq!(c.distributions[0].name, "reports");
    assert_eq!(c.grants[0].max_ttl.as_secs(), 7 * 86400);
    assert_eq!(c.server.body_limit_bytes, 65536);
}

#[test]
fn io_threads_default_to_half_the_cores_and_can_be_set() {
    let dir = tempfile::tempdir().unwrap();
    let auto = config::from_toml(&common::config_text(dir.path(), "")).unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(auto.server.io_threads, 0);
    assert_eq!(auto.server.io_threads(), cores.div_ceil(2));
    let text = common::config_text(dir.path(), "").replace("[server]", "[server]\nio_threads = 3");
    assert_eq!(config::from_toml(&text).unwrap().server.io_threads(), 3);
}

#[test]
fn unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::config_text(dir.path(), "").replace("[server]", "[server]\nlisten_port = 80");
    let err = config::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("listen_port"), "{err}");
}

#[test]
fn cross_section_problems_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::config_text(
        dir.path(),
        r#"
[[grants]]
name = "broken"
distributions = ["nope"]
allow = ["uploads/*"]
max_ttl = "0s"
"#,
    )
    .replace(r#"issuers = ["https://auth.test/"]"#, "issuers = []")
    .replace(
        r#"algorithms = ["HS256", "RS256"]"#,
        r#"algorithms = ["HS256", "none"]"#,
    );
    let err = config::from_toml(&text).unwrap_err();
    let all = err.problems.join("\n");
    for phrase in [
        "issuers",
        "\"none\"",
        "unknown distribution \"nope\"",
        "must start with '/'",
        "at least one matcher",
        "max_ttl",
    ] {
        assert!(all.contains(phrase), "missing {phrase:?} in:\n{all}");
    }
}

#[test]
fn missing_and_wrong_key_files_fail_at_start_with_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let keys = common::fixtures().join("keys");
    let text = common::config_text(dir.path(), "")
        .replace(
            &keys.join("ec-p256.pem").display().to_string(),
            &keys.join("ec-p256.pub.pem").display().to_string(),
        )
        .replace(
            &format!("\"{}\" }}]", keys.join("rsa2048.pem").display()),
            "\"/nonexistent/key.pem\" }]",
        );
    let config = config::from_toml(&text).unwrap();
    let err = Snapshot::load(&config).unwrap_err();
    assert_eq!(err.problems.len(), 2, "{:?}", err.problems);
    assert!(err.problems[0].contains("/nonexistent/key.pem"), "{}", err.problems[0]);
    assert!(
        err.problems[1].contains("expected a private key"),
        "{}",
        err.problems[1]
    );
    assert!(err.problems.iter().all(|p| !p.contains('\n')));
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, common::config_text(dir.path(), "")).unwrap();
    figment::Jail::expect_with(|jail| {
        jail.set_env("CFSIGN_SERVER__LISTEN", "0.0.0.0:9999");
        jail.set_env("CFSIGN_AUTH__LEEWAY_SECONDS", "5");
        jail.set_env("CFSIGN_LISTEN", "ignored-by-the-file-loader");
        jail.set_env("CFSIGN_DIFF_NO_SETUP", "1");
        let c = config::load(&path).map_err(|e| e.to_string())?;
        assert_eq!(c.server.listen.port(), 9999);
        assert_eq!(c.auth.leeway_seconds, 5);
        Ok(())
    });
}
