//! `cfsign` as a drop-in for `aws cloudfront sign`, on the real binary:
//! keygen keys the AWS CLI reads (signing with one through the installed
//! AWS CLI gives the same bytes), every `--private-key` form the AWS CLI
//! takes, refusals that show the fix, and messages without Rust debug text.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::differential::{ensure_tools, find_aws, missing};
use crate::harness::fixtures::key_file;

pub(crate) const KPID: &str = "K2JCJMDEHXQW5F";
pub(crate) const URL: &str = "https://d111111abcdef8.cloudfront.net/reports/q1.pdf";

pub(crate) struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn run(program: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    let mut child = Command::new(program)
        .args(args)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let out = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

pub(crate) fn cfsign(args: &[&str]) -> Out {
    run(Path::new(env!("CARGO_BIN_EXE_cfsign")), args, None)
}

fn sign_with(private_key: &str, stdin: Option<&str>) -> Out {
    let args = [
        "sign",
        "--url",
        URL,
        "--key-pair-id",
        KPID,
        "--private-key",
        private_key,
        "--date-less-than",
        "2100-01-01",
    ];
    run(Path::new(env!("CARGO_BIN_EXE_cfsign")), &args, stdin)
}

/// One `error:` line, exit 2, naming `phrases`; nothing on stdout.
#[track_caller]
pub(crate) fn assert_refused(out: &Out, phrases: &[&str]) {
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    for phrase in phrases {
        assert!(lines[0].contains(phrase), "want {phrase:?} in {:?}", lines[0]);
    }
    for debug in ["Some(", "Nid", "Id(", "Os {", "kind:"] {
        assert!(!lines[0].contains(debug), "Rust debug text {debug:?} in {:?}", lines[0]);
    }
}

#[test]
fn keygen_pkcs1_key_signs_identically_with_the_aws_cli() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("cf.pem");
    let public = dir.path().join("cf.pub.pem");
    let (private_s, public_s) = (private.to_str().unwrap(), public.to_str().unwrap());
    let out = cfsign(&[
        "keygen",
        "--out",
        private_s,
        "--format",
        "pkcs1",
        "--public-out",
        public_s,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "", "the public key went to --public-out");
    assert!(
        out.stderr.contains("PKCS#1") && !out.stderr.contains("warning"),
        "{}",
        out.stderr
    );
    let pem = std::fs::read_to_string(&private).unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{pem}");
    assert!(
        std::fs::read_to_string(&public)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let ours = sign_with(&format!("file://{private_s}"), None);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert!(!ours.stdout.ends_with('\n'), "no line ending, as the AWS CLI");
    let verdict = cfsign(&[
        "verify",
        "--url",
        &ours.stdout,
        "--public-key",
        &format!("{KPID}={public_s}"),
    ]);
    assert_eq!(verdict.code, 0, "{}", verdict.stdout);

    ensure_tools();
    let (aws, version) = match find_aws() {
        Ok(found) => found,
        Err(why) => return missing("AWS CLI v1", &why),
    };
    let args = ["cloudfront", "sign", "--url", URL, "--key-pair-id", KPID];
    let private_arg = format!("file://{private_s}");
    let theirs = run(
        &aws,
        &[
            &args[..],
            &["--private-key", &private_arg, "--date-less-than", "2100-01-01"],
        ]
        .concat(),
        None,
    );
    assert_eq!(theirs.code, 0, "{version}: {}", theirs.stderr);
    assert_eq!(ours.stdout, theirs.stdout, "byte for byte with {version}");
}

#[test]
fn keygen_refusals_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.pem");
    let out_s = out.to_str().unwrap();
    let ec = cfsign(&[
        "keygen",
        "--out",
        out_s,
        "--algorithm",
        "ecdsa-p256",
        "--format",
        "pkcs1",
    ]);
    assert_refused(&ec, &["--format", "RSA keys only"]);
    let unwritable = cfsign(&["keygen", "--out", "/nonexistent/dir/k.pem"]);
    assert_refused(&unwritable, &["cannot write", "/nonexistent/dir/k.pem"]);
    let public_unwritable = cfsign(&["keygen", "--out", out_s, "--public-out", "/nonexistent/dir/k.pub"]);
    assert_refused(&public_unwritable, &["cannot write", "/nonexistent/dir/k.pub"]);
    let same = cfsign(&["keygen", "--out", out_s, "--public-out", out_s, "--force"]);
    assert_refused(&same, &["--public-out"]);
    // A public key file in the way: refused before the private key is written.
    let public = dir.path().join("k.pub");
    std::fs::write(&public, "old").unwrap();
    let taken = cfsign(&["keygen", "--out", out_s, "--public-out", public.to_str().unwrap()]);
    assert_refused(&taken, &["already exists", "--force"]);
    assert!(!out.exists(), "no private key without its public half");
    let fresh_public = dir.path().join("fresh.pub");
    let private_unwritable = cfsign(&[
        "keygen",
        "--out",
        "/nonexistent/dir/k.pem",
        "--public-out",
        fresh_public.to_str().unwrap(),
    ]);
    assert_refused(&private_unwritable, &["cannot write", "/nonexistent/dir/k.pem"]);
    assert!(!fresh_public.exists(), "no public key left without its private half");
}

#[test]
fn private_key_takes_contents_file_url_path_and_stdin() {
    let path = key_file("rsa2048.pem");
    let path_s = path.to_str().unwrap();
    let pem = std::fs::read_to_string(&path).unwrap();
    let expected = sign_with(path_s, None);
    assert_eq!(expected.code, 0, "{}", expected.stderr);
    // As `openssl pkcs12 -nodes` writes it: text before the PEM block.
    let exported = format!("Bag Attributes\n    localKeyID: 01 02\n{pem}");
    for (value, stdin) in [
        (pem.as_str(), None),
        (exported.as_str(), None),
        (&format!("file://{path_s}"), None),
        (&format!("fileb://{path_s}"), None),
        ("-", Some(pem.as_str())),
    ] {
        let out = sign_with(value, stdin);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stdout, expected.stdout);
    }
    let missing_file = sign_with("/nonexistent/k.pem", None);
    assert_refused(&missing_file, &["cannot read private key file", "/nonexistent/k.pem"]);
    let empty_stdin = sign_with("-", Some(""));
    assert_refused(&empty_stdin, &["private key from standard input"]);
}

#[test]
fn url_refusals_show_the_encoded_url_and_encode_does_it() {
    let key = key_file("rsa2048.pem");
    let sign = |url: &str, extra: &[&str]| {
        let args = [
            "sign",
            "--url",
            url,
            "--key-pair-id",
            KPID,
            "--private-key",
            key.to_str().unwrap(),
            "--expires-in",
            "1h",
        ];
        cfsign(&[&args[..], extra].concat())
    };
    let raw = "https://cdn.example.com/Q1 report \"final\".pdf";
    let encoded = "https://cdn.example.com/Q1%20report%20%22final%22.pdf";
    assert_refused(
        &sign(raw, &[]),
        &["must be percent-encoded", &format!("--url '{encoded}'"), "--encode"],
    );
    let fixed = sign(raw, &["--encode"]);
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    assert!(
        fixed.stdout.starts_with(&format!("{encoded}?Expires=")),
        "{}",
        fixed.stdout
    );
    let star = "https://cdn.example.com/search?q=a*";
    assert_refused(
        &sign(star, &[]),
        &["https://cdn.example.com/search?q=a%2A", "%2A", "--encode"],
    );
    let cookies = cfsign(&[
        "sign-cookies",
        "--resource",
        "https://cdn.example.com/Q1 videos/*",
        "--key-pair-id",
        KPID,
        "--private-key",
        key.to_str().unwrap(),
        "--expires-in",
        "1h",
    ]);
    assert_refused(
        &cookies,
        &["--resource 'https://cdn.example.com/Q1%20videos/*' instead"],
    );
    let unicode = sign("https://cdn.example.com/café.jpg", &["--encode"]);
    assert!(
        unicode.stdout.starts_with("https://cdn.example.com/caf%C3%A9.jpg?"),
        "{}",
        unicode.stdout
    );
}

#[test]
fn messages_name_the_fix_without_debug_text() {
    let dir = tempfile::tempdir().unwrap();
    let p384 = dir.path().join("p384.pem");
    let ed25519 = dir.path().join("ed25519.pem");
    for (path, args) in [
        (&p384, &["ecparam", "-name", "secp384r1", "-genkey", "-noout"][..]),
        (&ed25519, &["genpkey", "-algorithm", "ed25519"]),
    ] {
        let status = Command::new("openssl")
            .args(args)
            .arg("-out")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }
    assert_refused(
        &sign_with(p384.to_str().unwrap(), None),
        &["secp384r1 (P-384)", "RSA 2048 or ECDSA P-256"],
    );
    assert_refused(
        &sign_with(ed25519.to_str().unwrap(), None),
        &["key type Ed25519", "RSA 2048 or ECDSA P-256"],
    );

    let key = key_file("rsa2048.pem");
    let no_expiry = cfsign(&[
        "sign",
        "--url",
        URL,
        "--key-pair-id",
        KPID,
        "--private-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(no_expiry.code, 2);
    assert!(
        no_expiry.stderr.contains("--date-less-than") && no_expiry.stderr.contains("--expires-in"),
        "{}",
        no_expiry.stderr
    );
}
