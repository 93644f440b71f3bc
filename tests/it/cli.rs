//! End-to-end tests of the `cfsign` binary: reference vectors reproduced from
//! the command line, verify round trips, keygen, key formats, and every kind of
//! bad input answered with one `error:` line and a non-zero exit.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::fixtures::{fixtures, key_file, now};

const KPID: &str = "K2JCJMDEHXQW5F";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cfsign(args: &[&str]) -> Out {
    let output = Command::new(env!("CARGO_BIN_EXE_cfsign"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run cfsign");
    let out = Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    assert!(
        !out.stderr.contains("panicked") && !out.stderr.contains("backtrace"),
        "cfsign {args:?} panicked:\n{}",
        out.stderr
    );
    out
}

fn key(name: &str) -> String {
    key_file(name).to_str().unwrap().to_owned()
}

fn vector(id: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("vectors.json")).unwrap();
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    all.into_iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"))
}

fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .status()
        .expect("these tests need the openssl binary on PATH");
    assert!(status.success(), "openssl {args:?}");
}

/// The command line that should reproduce a vector, with the expiry (and
/// start) written as `dlt` (and `dgt`) to exercise the date formats.
fn vector_args(case: &Value, private_key: &str, dlt: &str, dgt: Option<&str>) -> Vec<String> {
    let input = &case["input"];
    let mut args: Vec<String> = if case["kind"] == "url" {
        vec!["sign".into(), "--url".into(), input["url"].as_str().unwrap().into()]
    } else {
        vec![
            "sign-cookies".into(),
            "--resource".into(),
            input["resource"].as_str().unwrap().into(),
        ]
    };
    let mut push = |flag: &str, value: &str| {
        args.push(flag.into());
        args.push(value.into());
    };
    push("--key-pair-id", input["key_pair_id"].as_str().unwrap());
    push("--private-key", private_key);
    push("--date-less-than", dlt);
    push("--hash-algorithm", input["hash_algorithm"].as_str().unwrap());
    if let Some(start) = dgt {
        push("--date-greater-than", start);
    }
    if let Some(ip) = input["ip_address"].as_str() {
        push("--ip-address", ip);
    }
    if let Some(resource) = input["policy_resource"].as_str() {
        push("--policy-resource", resource);
    }
    args
}

fn run_strings(args: &[String]) -> Out {
    cfsign(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn assert_reproduces_url(id: &str, private_key: &str, dlt: &str, dgt: Option<&str>) {
    let case = vector(id);
    let out = run_strings(&vector_args(&case, private_key, dlt, dgt));
    assert_eq!(out.code, 0, "{id}: {}", out.stderr);
    // As the AWS CLI prints it: no line ending.
    assert_eq!(out.stdout, case["expected"]["url"].as_str().unwrap(), "{id}");
    assert_eq!(out.stderr, "", "{id}");
}

/// Only vectors that expire in 2033 or later are used: `sign` refuses an
/// expiry that the system clock has already passed.
#[test]
fn sign_reproduces_reference_urls() {
    let rsa = key("rsa2048.pem");
    let file_url = format!("file://{rsa}");
    // Canned SHA-1, with the expiry in each date format the AWS CLI accepts.
    assert_reproduces_url("public-009-url-canned-sha1", &rsa, "2033-05-18T03:33:20Z", None);
    assert_reproduces_url("public-015-url-canned-sha1", &file_url, "2000000000", None);
    assert_reproduces_url("public-022-url-canned-sha1", &rsa, "2100-01-01", None);
    assert_reproduces_url("public-030-url-canned-sha1", &rsa, "2100-01-01T00:00:00", None);
    // Canned SHA-256.
    assert_reproduces_url("public-028-url-canned-sha256", &rsa, "2033-05-18T05:33:20+02:00", None);
    assert_reproduces_url("public-039-url-canned-sha256", &file_url, "2000000000", None);
    // Custom: a wildcard --policy-resource; and IP range + start + wildcard.
    assert_reproduces_url("public-023-url-custom-sha256", &rsa, "4102444800", None);
    assert_reproduces_url(
        "public-034-url-custom-sha256",
        &rsa,
        "4102444800",
        Some("2099-12-31T23:00:00Z"),
    );
}

#[test]
fn sign_cookies_prints_the_reference_cookies_in_cloudfront_order() {
    for (id, dgt) in [
        ("public-024-cookies-canned-sha256", None),
        ("public-031-cookies-custom-sha256", Some("1999681698")),
    ] {
        let case = vector(id);
        let dlt = case["input"]["date_less_than"].to_string();
        let out = run_strings(&vector_args(&case, &key("rsa2048.pem"), &dlt, dgt));
        assert_eq!(out.code, 0, "{id}: {}", out.stderr);
        let cookies = &case["expected"]["cookies"];
        let order = [
            "CloudFront-Expires",
            "CloudFront-Policy",
            "CloudFront-Signature",
            "CloudFront-Key-Pair-Id",
            "CloudFront-Hash-Algorithm",
        ];
        let lines: Vec<String> = order
            .iter()
            .filter_map(|name| cookies[name].as_str().map(|v| format!("    \"{name}\": \"{v}\"")))
            .collect();
        assert_eq!(out.stdout, format!("{{\n{}\n}}\n", lines.join(",\n")), "{id}");
    }
}

#[test]
fn expires_in_is_relative_to_the_clock() {
    let before = now();
    let out = cfsign(&[
        "sign",
        "--url",
        "https://cdn.example.com/a.mp4",
        "--key-pair-id",
        KPID,
        "--private-key",
        &key("rsa2048.pem"),
        "--expires-in",
        "7d",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expires: i64 = query_param(out.stdout.trim_end(), "Expires").parse().unwrap();
    assert!((before + 7 * 86400..=now() + 7 * 86400).contains(&expires), "{expires}");
}

#[test]
fn verify_round_trip_and_every_verdict() {
    let case = vector("public-034-url-custom-sha256");
    let url = run_strings(&vector_args(
        &case,
        &key("rsa2048.pem"),
        "2100-01-01",
        Some("2099-12-31T23:00:00Z"),
    ))
    .stdout;
    let url = url.trim_end();
    let trusted = format!(
        "{}={}",
        case["input"]["key_pair_id"].as_str().unwrap(),
        key("rsa2048.pub.pem")
    );
    let verify = |url: &str, extra: &[&str]| {
        let mut args = vec!["verify", "--url", url, "--public-key", &trusted];
        args.extend_from_slice(extra);
        cfsign(&args)
    };
    let inside = ["--at", "2099-12-31T23:30:00Z", "--client-ip", "203.0.113.9"];

    let ok = verify(url, &inside);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.starts_with("valid"), "{}", ok.stdout);
    for fragment in [
        "custom",
        "SHA256",
        "203.0.113.0/24",
        "2100-01-01T00:00:00Z",
        case["expected"]["policy_json"].as_str().unwrap(),
    ] {
        assert!(ok.stdout.contains(fragment), "missing {fragment:?} in\n{}", ok.stdout);
    }

    let refused = |out: Out, code: &str| {
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.starts_with(&format!("invalid ({code})")),
            "want {code}:\n{}",
            out.stdout
        );
    };
    refused(verify(url, &["--at", "2099-12-31T23:30:00Z"]), "client_ip_required");
    refused(
        verify(url, &["--at", "2099-12-31T23:30:00Z", "--client-ip", "198.51.100.1"]),
        "ip_mismatch",
    );
    refused(
        verify(url, &["--at", "2099-12-31T23:30:00Z", "--client-ip", "2001:db8::1"]),
        "ip_mismatch",
    );
    refused(verify(url, &["--client-ip", "203.0.113.9"]), "not_yet_valid");
    refused(
        verify(url, &["--at", "2100-01-02", "--client-ip", "203.0.113.9"]),
        "expired",
    );
    let elsewhere = url.replace("/uploads/seg_0001.ts/", "/other/");
    refused(verify(&elsewhere, &inside), "resource_mismatch");
    let at = url.find("&Signature=").unwrap() + "&Signature=".len();
    let flipped = if &url[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &url[..at], &url[at + 1..]);
    refused(verify(&tampered, &inside), "bad_signature");
    let wrong_key = format!(
        "{}={}",
        case["input"]["key_pair_id"].as_str().unwrap(),
        key("ec-p256.pub.pem")
    );
    refused(
        cfsign(&[
            "verify",
            "--url",
            url,
            "--public-key",
            &wrong_key,
            inside[0],
            inside[1],
            inside[2],
            inside[3],
        ]),
        "bad_signature",
    );
    let other_id = format!("KOTHER={}", key("rsa2048.pub.pem"));
    refused(
        cfsign(&["verify", "--url", url, "--public-key", &other_id]),
        "unknown_key_pair_id",
    );

    let json = verify(
        url,
        &["--json", "--at", "2099-12-31T23:30:00Z", "--client-ip", "203.0.113.9"],
    );
    assert_eq!(json.code, 0);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["policy_type"], "custom");
}

#[test]
fn verify_signed_cookies() {
    let case = vector("public-031-cookies-custom-sha256");
    let signed = run_strings(&vector_args(
        &case,
        &key("rsa2048.pem"),
        "2000000000",
        Some("1999681698"),
    ));
    let cookies: serde_json::Map<String, Value> = serde_json::from_str(&signed.stdout).unwrap();
    let mut args: Vec<String> = [
        "verify",
        "--url",
        "https://cdn.example.com/dollar$/it's/v1.2.3/reports",
        "--at",
        "1999681699",
    ]
    .map(String::from)
    .to_vec();
    args.push("--public-key".into());
    args.push(format!(
        "{}={}",
        case["input"]["key_pair_id"].as_str().unwrap(),
        key("rsa2048.pub.pem")
    ));
    for (name, value) in &cookies {
        args.push("--cookie".into());
        args.push(format!("{name}={}", value.as_str().unwrap()));
    }
    let out = run_strings(&args);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("valid"));
    // The whole Cookie header in one flag works too; a different object does not.
    let header: Vec<String> = cookies
        .iter()
        .map(|(n, v)| format!("{n}={}", v.as_str().unwrap()))
        .collect();
    let mut other = args[..7].to_vec();
    other[2] = "https://cdn.example.com/dollar$/it's/v1.2.3/other".into();
    other.extend(["--cookie".to_owned(), header.join("; ")]);
    let out = run_strings(&other);
    assert_eq!(out.code, 1);
    assert!(out.stdout.starts_with("invalid (resource_mismatch)"), "{}", out.stdout);
}

#[test]
fn ecdsa_sec1_key_signs_and_verifies() {
    let out = cfsign(&[
        "sign",
        "--url",
        "https://cdn.example.com/video.mp4",
        "--key-pair-id",
        KPID,
        "--private-key",
        &key("ec-p256.pem"),
        "--expires-in",
        "1h",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // DER (r, s): 96 characters usually, fewer when r or s is short.
    let sig_len = query_param(out.stdout.trim_end(), "Signature").len();
    assert!((88..=96).contains(&sig_len), "{sig_len}");
    let trusted = format!("{KPID}={}", key("ec-p256.pub.pem"));
    let verdict = cfsign(&["verify", "--url", out.stdout.trim_end(), "--public-key", &trusted]);
    assert_eq!(verdict.code, 0, "{}", verdict.stdout);
}

#[test]
fn keygen_then_sign_then_verify() {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in ["rsa2048", "ecdsa-p256"] {
        let private = dir.path().join(format!("{algorithm}.pem"));
        let private_s = private.to_str().unwrap();
        let out = cfsign(&["keygen", "--out", private_s, "--algorithm", algorithm]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{}", out.stdout);
        assert!(!out.stdout.contains("PRIVATE") && !out.stderr.contains("PRIVATE KEY-----"));
        assert!(out.stderr.contains("key group"), "{}", out.stderr);
        let pem = std::fs::read_to_string(&private).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "PKCS#8 expected");
        assert_private_mode(&private);

        let public = dir.path().join(format!("{algorithm}.pub.pem"));
        std::fs::write(&public, &out.stdout).unwrap();
        let signed = cfsign(&[
            "sign",
            "--url",
            "https://cdn.example.com/a.mp4?v=2",
            "--key-pair-id",
            KPID,
            "--private-key",
            private_s,
            "--expires-in",
            "10m",
            "--hash-algorithm",
            "SHA256",
        ]);
        assert_eq!(signed.code, 0, "{}", signed.stderr);
        let trusted = format!("{KPID}={}", public.display());
        let verdict = cfsign(&["verify", "--url", signed.stdout.trim_end(), "--public-key", &trusted]);
        assert_eq!(verdict.code, 0, "{algorithm}: {}", verdict.stdout);

        // No silent overwrite; --force replaces atomically and keeps 0600.
        let again = cfsign(&["keygen", "--out", private_s, "--algorithm", algorithm]);
        assert_single_error(&again, "already exists");
        assert_eq!(std::fs::read_to_string(&private).unwrap(), pem);
        let forced = cfsign(&["keygen", "--out", private_s, "--algorithm", algorithm, "--force"]);
        assert_eq!(forced.code, 0, "{}", forced.stderr);
        assert_ne!(std::fs::read_to_string(&private).unwrap(), pem);
        assert_private_mode(&private);
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "temporary files left: {names:?}"
    );
}

#[cfg(unix)]
fn assert_private_mode(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}

#[cfg(not(unix))]
fn assert_private_mode(_: &Path) {}

#[test]
fn encrypted_pkcs8_key_with_passphrase_file() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass.txt");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let encrypted = dir.path().join("encrypted.pem");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        &key("rsa2048.pem"),
        "-out",
        encrypted.to_str().unwrap(),
        "-passout",
        &format!("file:{}", pass.display()),
    ]);
    assert!(
        std::fs::read_to_string(&encrypted)
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    let case = vector("public-009-url-canned-sha1");
    let mut args = vector_args(&case, encrypted.to_str().unwrap(), "2000000000", None);

    let out = run_strings(&args);
    assert_single_error(&out, "passphrase is required");

    args.extend(["--passphrase-file".to_owned(), format!("file://{}", pass.display())]);
    let out = run_strings(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, case["expected"]["url"].as_str().unwrap());

    let wrong = dir.path().join("wrong.txt");
    std::fs::write(&wrong, "tr0ub4dor&3\n").unwrap();
    *args.last_mut().unwrap() = wrong.to_str().unwrap().to_owned();
    assert_single_error(&run_strings(&args), "could not read the key");
}

#[test]
fn pkcs1_rsa_key() {
    let dir = tempfile::tempdir().unwrap();
    let pkcs1 = dir.path().join("pkcs1.pem");
    openssl(&[
        "rsa",
        "-in",
        &key("rsa2048.pem"),
        "-traditional",
        "-out",
        pkcs1.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(&pkcs1)
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    assert_reproduces_url(
        "public-028-url-canned-sha256",
        pkcs1.to_str().unwrap(),
        "2000000000",
        None,
    );
    assert_reproduces_url(
        "public-015-url-canned-sha1",
        pkcs1.to_str().unwrap(),
        "2000000000",
        None,
    );
}

/// One `error: ...` line containing `phrase`, exit 2, nothing on stdout.
fn assert_single_error(out: &Out, phrase: &str) {
    assert_eq!(out.code, 2, "want exit 2 for {phrase:?}; stderr: {}", out.stderr);
    assert_eq!(out.stdout, "", "{phrase:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "want one stderr line for {phrase:?}, got:\n{}",
        out.stderr
    );
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(lines[0].contains(phrase), "want {phrase:?} in {:?}", lines[0]);
}

#[test]
fn bad_input_gets_one_clear_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "hello\n").unwrap();
    let rsa = key("rsa2048.pem");
    let sign = |url: &str, extra: &[&str]| {
        let mut args = vec!["sign", "--url", url, "--key-pair-id", KPID, "--private-key", &rsa];
        if !extra
            .iter()
            .any(|a| a.starts_with("--date-less-than") || *a == "--expires-in")
        {
            args.extend(["--date-less-than", "2100-01-01"]);
        }
        args.extend_from_slice(extra);
        cfsign(&args)
    };
    let good = "https://cdn.example.com/a.mp4";
    let cases: Vec<(Out, &str)> = vec![
        (
            cfsign(&[
                "sign",
                "--url",
                good,
                "--key-pair-id",
                KPID,
                "--private-key",
                "/nonexistent/key.pem",
                "--expires-in",
                "1h",
            ]),
            "cannot read private key file \"/nonexistent/key.pem\"",
        ),
        (
            cfsign(&[
                "sign",
                "--url",
                good,
                "--key-pair-id",
                KPID,
                "--private-key",
                &key("rsa2048.pub.pem"),
                "--expires-in",
                "1h",
            ]),
            "expected a private key",
        ),
        (
            cfsign(&[
                "sign",
                "--url",
                good,
                "--key-pair-id",
                KPID,
                "--private-key",
                garbage.to_str().unwrap(),
                "--expires-in",
                "1h",
            ]),
            "not a PEM key",
        ),
        (sign(good, &["--date-less-than", "2020-01-01"]), "is in the past"),
        (sign(good, &["--date-less-than", "1712016000"]), "is in the past"),
        (
            sign(
                good,
                &["--date-less-than", "2100-01-01", "--date-greater-than", "2100-01-02"],
            ),
            "is not before the expiry",
        ),
        (
            sign(
                good,
                &["--date-less-than", "2100-01-01", "--date-greater-than", "2100-01-01"],
            ),
            "is not before the expiry",
        ),
        (sign("https://cdn.example.com/a.mp4#t=10", &[]), "fragment"),
        (
            sign("https://cdn.example.com/a.mp4?Expires=1", &[]),
            "already carries the CloudFront parameter \"Expires\"",
        ),
        (
            sign("https://cdn.example.com/a.mp4?a=1&Policy=x", &[]),
            "already carries the CloudFront parameter \"Policy\"",
        ),
        (
            sign("https://cdn.example.com/a.mp4?Signature=x", &[]),
            "already carries the CloudFront parameter \"Signature\"",
        ),
        (
            sign("https://cdn.example.com/a.mp4?Key-Pair-Id=K", &[]),
            "already carries the CloudFront parameter \"Key-Pair-Id\"",
        ),
        (
            sign("https://cdn.example.com/a.mp4?Hash-Algorithm=SHA256", &[]),
            "already carries the CloudFront parameter \"Hash-Algorithm\"",
        ),
        (
            sign("ftp://cdn.example.com/a.mp4", &[]),
            "must start with http:// or https://",
        ),
        (
            sign("rtmp://cdn.example.com/a.mp4", &[]),
            "must start with http:// or https://",
        ),
        (
            sign("https://cdn.example.com/My File.pdf", &[]),
            "must be percent-encoded",
        ),
        (sign("https://cdn.example.com/café.jpg", &[]), "must be percent-encoded"),
        (sign("https://cdn.example.com/videos/*", &[]), "must be concrete"),
        (
            sign(good, &["--policy-resource", "https://cdn.example.com/other/*"]),
            "does not cover --url",
        ),
        (sign(good, &["--date-less-than", "next tuesday"]), "is not a date"),
        (sign(good, &["--expires-in", "soon"]), "is not a duration"),
        (sign(good, &["--ip-address", "2001:db8::/32"]), "IPv6 is not supported"),
        (sign(good, &["--ip-address", "10.0.0.0/33"]), "not an IPv4 address"),
        (
            cfsign(&[
                "sign",
                "--url",
                good,
                "--key-pair-id",
                "K2 J",
                "--private-key",
                &rsa,
                "--expires-in",
                "1h",
            ]),
            "key pair id must be",
        ),
        (
            cfsign(&[
                "sign-cookies",
                "--resource",
                "ftp://cdn.example.com/*",
                "--key-pair-id",
                KPID,
                "--private-key",
                &rsa,
                "--expires-in",
                "1h",
            ]),
            "--resource: URL must start with http://",
        ),
        (
            cfsign(&["verify", "--url", good, "--public-key", &key("rsa2048.pub.pem")]),
            "KEY_PAIR_ID=FILE",
        ),
        (
            cfsign(&["verify", "--url", good, "--public-key", &format!("{KPID}={rsa}")]),
            "expected a public key",
        ),
        (
            cfsign(&[
                "verify",
                "--url",
                good,
                "--public-key",
                &format!("{KPID}=/nonexistent.pem"),
            ]),
            "cannot read public key file",
        ),
        (
            cfsign(&[
                "verify",
                "--url",
                good,
                "--public-key",
                &format!("{KPID}={}", key("rsa2048.pub.pem")),
                "--at",
                "soon",
            ]),
            "--at",
        ),
    ];
    for (out, phrase) in &cases {
        assert_single_error(out, phrase);
    }
}

#[test]
fn a_pasted_private_key_signs_and_a_broken_one_is_never_echoed() {
    let pem = std::fs::read_to_string(key("rsa2048.pem")).unwrap();
    let args = |private_key: &str| {
        cfsign(&[
            "sign",
            "--url",
            "https://cdn.example.com/a",
            "--key-pair-id",
            KPID,
            "--private-key",
            private_key,
            "--date-less-than",
            "2100-01-01",
        ])
    };
    let from_file = args(&key("rsa2048.pem"));
    let pasted = args(&pem);
    assert_eq!(pasted.code, 0, "{}", pasted.stderr);
    assert_eq!(pasted.stdout, from_file.stdout);
    let broken: String = pem.lines().take(5).collect::<Vec<_>>().join("\n");
    let out = args(&broken);
    assert_single_error(&out, "the PEM given to --private-key");
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!out.stderr.contains(body_line), "{}", out.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let rsa = key("rsa2048.pem");
    let base = [
        "sign",
        "--url",
        "https://cdn.example.com/a",
        "--key-pair-id",
        KPID,
        "--private-key",
        &rsa,
    ];
    let neither = cfsign(&base);
    assert_eq!(neither.code, 2);
    assert!(neither.stderr.contains("--date-less-than"), "{}", neither.stderr);
    let both = cfsign(&[&base[..], &["--expires-in", "1h", "--date-less-than", "2100-01-01"]].concat());
    assert_eq!(both.code, 2);
    assert!(both.stderr.contains("cannot be used with"), "{}", both.stderr);
    let bad_hash = cfsign(&[&base[..], &["--expires-in", "1h", "--hash-algorithm", "MD5"]].concat());
    assert_eq!(bad_hash.code, 2);
}

#[test]
fn help_reads_well() {
    let top = cfsign(&["--help"]);
    assert_eq!(top.code, 0);
    for sub in ["sign", "sign-cookies", "verify", "keygen"] {
        assert!(top.stdout.contains(sub), "{}", top.stdout);
    }
    let expectations: [(&str, &[&str]); 4] = [
        (
            "sign",
            &[
                "--url",
                "--key-pair-id",
                "--private-key",
                "--date-less-than",
                "--expires-in",
                "--date-greater-than",
                "--ip-address",
                "--policy-resource",
                "--hash-algorithm",
                "--passphrase-file",
                "--encode",
            ],
        ),
        (
            "sign-cookies",
            &[
                "--resource",
                "--key-pair-id",
                "--private-key",
                "--expires-in",
                "--hash-algorithm",
            ],
        ),
        (
            "verify",
            &[
                "--url",
                "--cookie",
                "--public-key",
                "ID=KEY",
                "@FILE",
                "--json",
                "--at",
                "--client-ip",
                "Exit status",
            ],
        ),
        (
            "keygen",
            &[
                "--out",
                "--algorithm",
                "rsa2048",
                "ecdsa-p256",
                "--force",
                "key group",
                "--format",
                "pkcs1",
                "aws cloudfront sign",
                "--public-out",
            ],
        ),
    ];
    for (sub, flags) in expectations {
        let help = cfsign(&[sub, "--help"]);
        assert_eq!(help.code, 0, "{sub}");
        for flag in flags {
            assert!(
                help.stdout.contains(flag),
                "{sub} --help lacks {flag}:\n{}",
                help.stdout
            );
        }
    }
}

fn query_param<'a>(url: &'a str, name: &str) -> &'a str {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}
