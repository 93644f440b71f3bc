//! `cfsign verify` as a script uses it: a `client_ip_required` verdict names
//! `--client-ip` (text and `--json`), and `--cookie @file` reads a Cookie
//! header or NAME=VALUE lines.

use crate::cli_dropin::{KPID, URL, assert_refused, cfsign};
use crate::harness::fixtures::key_file;

#[test]
fn verify_names_client_ip_and_reads_cookies_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file("rsa2048.pem");
    let public = format!("{KPID}={}", key_file("rsa2048.pub.pem").display());
    let bound = cfsign(&[
        "sign",
        "--url",
        URL,
        "--key-pair-id",
        KPID,
        "--private-key",
        key.to_str().unwrap(),
        "--expires-in",
        "1h",
        "--ip-address",
        "192.0.2.0/24",
    ]);
    assert_eq!(bound.code, 0, "{}", bound.stderr);
    let verdict = cfsign(&["verify", "--url", &bound.stdout, "--public-key", &public]);
    assert_eq!(verdict.code, 1);
    assert!(
        verdict.stdout.starts_with("invalid (client_ip_required)") && verdict.stdout.contains("--client-ip"),
        "{}",
        verdict.stdout
    );
    let json = cfsign(&["verify", "--json", "--url", &bound.stdout, "--public-key", &public]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["reason"], "client_ip_required");
    assert!(v["detail"].as_str().unwrap().ends_with("(--client-ip)"), "{v}");
    let ok = cfsign(&[
        "verify",
        "--url",
        &bound.stdout,
        "--public-key",
        &public,
        "--client-ip",
        "192.0.2.7",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);

    let cookies = cfsign(&[
        "sign-cookies",
        "--resource",
        "https://d111111abcdef8.cloudfront.net/hls/*",
        "--key-pair-id",
        KPID,
        "--private-key",
        key.to_str().unwrap(),
        "--expires-in",
        "1h",
    ]);
    assert_eq!(cookies.code, 0, "{}", cookies.stderr);
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&cookies.stdout).unwrap();
    let header: Vec<String> = map
        .iter()
        .map(|(n, v)| format!("{n}={}", v.as_str().unwrap()))
        .collect();
    let file = dir.path().join("cookies.txt");
    let segment = "https://d111111abcdef8.cloudfront.net/hls/a/seg-1.ts";
    // A Cookie header, NAME=VALUE lines, and the headers `curl -D` saves
    // from POST /v1/signed-cookies (status line, other headers, Set-Cookie
    // with attributes).
    let set_cookie: Vec<String> = header
        .iter()
        .map(|pair| format!("set-cookie: {pair}; Domain=example.com; Path=/; Secure; HttpOnly; SameSite=Lax"))
        .collect();
    let dump = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{}\r\n\r\n",
        set_cookie.join("\r\n")
    );
    for text in [format!("Cookie: {}\n", header.join("; ")), header.join("\n"), dump] {
        std::fs::write(&file, &text).unwrap();
        let arg = format!("@{}", file.display());
        let out = cfsign(&["verify", "--url", segment, "--public-key", &public, "--cookie", &arg]);
        assert_eq!(out.code, 0, "{text}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.starts_with("valid"), "{}", out.stdout);
    }
    let absent = cfsign(&[
        "verify",
        "--url",
        segment,
        "--public-key",
        &public,
        "--cookie",
        "@/nonexistent/cookies.txt",
    ]);
    assert_refused(&absent, &["cannot read cookie file", "/nonexistent/cookies.txt"]);
}
