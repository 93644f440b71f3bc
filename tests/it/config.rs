//! The configuration loader: layered sources, unknown keys refused, every
//! problem reported at once, key files checked at start.

use cfsign::config;
use cfsign::service::Snapshot;

use crate::harness::config::{Grant, TestConfig};
use crate::harness::fixtures::key_file;

#[test]
fn the_example_file_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
    let c = config::load(std::path::Path::new(path)).unwrap();
    assert_eq!(c.distributions[0].name, "reports");
    assert_eq!(c.grants[0].max_ttl.as_secs(), 7 * 86400);
    assert_eq!(c.server.body_limit_bytes, 65536);
}

/// The example's commented PKCS#11 key, uncommented, is a key the loader
/// takes: its URI parses and its settings apply.
#[test]
fn the_examples_token_key_parses_once_uncommented() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml")).unwrap();
    let start = text
        .find("  # { key_pair_id = \"K4TOKENKEY0000\"")
        .expect("the example shows a pkcs11 key");
    let end = start + text[start..].find("\n]").unwrap();
    let block: Vec<String> = text[start..end].lines().map(|l| l.replacen("# ", "", 1)).collect();
    let uncommented = format!("{}{}{}", &text[..start], block.join("\n"), &text[end..]);
    let c = config::from_toml(&uncommented).unwrap();
    let key = c.distributions[0]
        .keys
        .iter()
        .find(|k| k.key_pair_id == "K4TOKENKEY0000")
        .unwrap();
    assert_eq!(key.source.kind(), "pkcs11");
    assert_eq!(key.limits.concurrency, 4);
    assert!(key.public_key_file.is_some());
}

#[test]
fn the_example_files_commented_kms_key_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let commented = "  # { key_pair_id = \"K3KMSEXAMPLE01\"";
    let line = text
        .lines()
        .find(|l| l.starts_with(commented))
        .expect("the example has a commented KMS key");
    let uncommented = text.replacen(line, &line.replacen("# ", "", 1), 1);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("example.toml");
    std::fs::write(&copy, uncommented).unwrap();
    let c = config::load(&copy).unwrap();
    let key = c.distributions[0]
        .keys
        .iter()
        .find(|k| k.key_pair_id == "K3KMSEXAMPLE01")
        .unwrap();
    match &key.source {
        cfsign::keys::KeySource::Kms(kms) => {
            assert!(kms.key_id.starts_with("arn:aws:kms:eu-west-1:"), "{kms:?}");
            assert_eq!(kms.region, None);
        }
        other => panic!("not a KMS key: {other:?}"),
    }
    assert_eq!(key.limits.concurrency, 32);
    assert!(key.public_key_file.is_some());
}

#[test]
fn io_threads_default_to_one_per_core_and_can_be_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestConfig::in_process(dir.path());
    let auto = c.load().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(auto.server.io_threads, 0);
    assert_eq!(auto.server.io_threads(), cores);
    c.server.other.insert("io_threads".into(), 3.into());
    assert_eq!(c.load().unwrap().server.io_threads(), 3);
}

#[test]
fn unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestConfig::in_process(dir.path());
    c.server.other.insert("listen_port".into(), 80.into());
    let err = c.load().unwrap_err().to_string();
    assert!(err.contains("listen_port"), "{err}");
}

#[test]
fn cross_section_problems_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestConfig::in_process(dir.path());
    c.grants.push(Grant::new("broken", "nope", "uploads/*", "0s"));
    c.auth.issuers = vec![];
    c.auth.algorithms = vec!["HS256".into(), "none".into()];
    let err = c.load().unwrap_err();
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
    let mut c = TestConfig::in_process(dir.path());
    c.distribution("reports").keys[0].private_key_file = Some("/nonexistent/key.pem".into());
    c.distribution("videos").keys[1].private_key_file = Some(key_file("ec-p256.pub.pem"));
    let config = c.load().unwrap();
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
    std::fs::write(&path, TestConfig::in_process(dir.path()).render()).unwrap();
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

/// The `[[auth.issuers]]` form the example shows (commented out) loads as
/// written once uncommented in place of `[auth]`'s `issuers` and key source.
#[test]
fn the_examples_per_issuer_form_parses_when_uncommented() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml")).unwrap();
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.starts_with("# [[auth.issuers]]") {
            in_block = true;
        }
        if in_block && !line.starts_with('#') {
            in_block = false;
        }
        if line.starts_with("jwks_url = ") || line.starts_with("issuers = ") {
            continue; // the single-issuer form's issuer and key source
        }
        // The grant's `issuers`, which the form requires, is shown commented too.
        let grant_issuers = line.starts_with("# issuers = [");
        out.push(match (in_block || grant_issuers, line.strip_prefix("# ")) {
            (true, Some(uncommented)) => uncommented,
            _ => line,
        });
    }
    let c = config::from_toml(&out.join("\n")).unwrap();
    let trusted = c.auth.trusted();
    assert_eq!(trusted.len(), 2);
    assert!(trusted[0].discovery && trusted[0].claims.groups.as_deref() == Some("/realm_access/roles"));
    assert!(trusted[1].jwks_url.is_some());
    assert_eq!(
        trusted[1].audiences, c.auth.audiences,
        "[auth]'s audiences are the default"
    );
}
