//! `cfsign audit verify` on a trail the service wrote: intact passes; an
//! edited, deleted, reordered or truncated event is named with its line;
//! with `audit.hmac_key_file`, a chain recomputed without the key fails.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::verify;
use crate::harness::app::TestApp;

/// An app that wrote six events (four issued, two denied); its audit file.
async fn trail(change: impl FnOnce(&mut crate::harness::config::TestConfig)) -> (TestApp, PathBuf) {
    let app = TestApp::with_config(change).await;
    for i in 0..6 {
        // Every third asks for more than its grant's lifetime: a denial.
        let ttl = if i % 3 == 2 { 99_999_999 } else { 600 };
        let body = json!({ "key": format!("a{i}.pdf"), "ttl_seconds": ttl });
        app.post("/v1/signed-urls", Some(&app.mailer()), body).await;
    }
    let path = app.config.audit.path.clone().unwrap();
    assert_eq!(app.audit_events().len(), 6);
    (app, path)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[tokio::test]
async fn verify_passes_an_untouched_trail_and_names_the_line_of_each_kind_of_tampering() {
    let (app, path) = trail(|_| {}).await;
    let (code, out) = verify(&[&path], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 events, seq 1..6"), "{out}");

    let dir = app.dir.path();
    let good = lines(&path);
    let mut edited = good.clone();
    edited[2] = edited[2].replace("\"sub\":\"mailer\"", "\"sub\":\"someone-else\"");
    assert_ne!(edited[2], good[2]);
    let mut deleted = good.clone();
    deleted.remove(3);
    let mut reordered = good.clone();
    reordered.swap(1, 2);
    let truncated = dir.join("truncated.jsonl");
    let text = good.join("\n") + "\n";
    std::fs::write(&truncated, &text[..text.len() - 20]).unwrap();
    let cases = [
        (write(dir, "edited.jsonl", &edited), 4, "was edited"),
        (write(dir, "deleted.jsonl", &deleted), 4, "1 event(s) missing"),
        (write(dir, "reordered.jsonl", &reordered), 2, "missing"),
        (truncated, 6, "truncated"),
    ];
    for (file, line, says) in cases {
        let (code, out) = verify(&[&file], &[]);
        assert_eq!(code, 1, "{}: {out}", file.display());
        let at = format!("{}:{line}: ", file.display());
        assert!(out.starts_with(&at) && out.contains(says), "{at} {says}: {out}");
    }
}

#[tokio::test]
async fn with_a_key_a_chain_recomputed_without_it_does_not_verify() {
    let key_dir = tempfile::tempdir().unwrap();
    let key = key_dir.path().join("audit.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let key_arg = key.display().to_string();
    let (app, path) = trail(|c| {
        c.audit.insert("hmac_key_file".into(), key_arg.clone().into());
    })
    .await;
    let (code, out) = verify(&[&path], &["--hmac-key-file", &key_arg]);
    assert_eq!(code, 0, "{out}");
    // Without the key (or with another), the keyed chain does not verify:
    // someone who edits the file cannot recompute it.
    let (code, out) = verify(&[&path], &[]);
    assert_eq!(code, 1, "{out}");
    let other = app.dir.path().join("other.key");
    std::fs::write(&other, [8u8; 32]).unwrap();
    let (code, out) = verify(&[&path], &["--hmac-key-file", &other.display().to_string()]);
    assert_eq!(code, 1, "{out}");
    // A short key is refused, as bad input.
    std::fs::write(&other, [8u8; 16]).unwrap();
    let (code, out) = verify(&[&path], &["--hmac-key-file", &other.display().to_string()]);
    assert_eq!(code, 2, "{out}");
}

#[tokio::test]
async fn verify_of_a_missing_file_is_bad_input() {
    let (code, out) = verify(&[Path::new("/nonexistent/audit.jsonl")], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/nonexistent/audit.jsonl"), "{out}");
}
