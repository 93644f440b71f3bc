//! Keys on a real PKCS#11 token (SoftHSM2, Debian `softhsm2`): each test
//! makes its own token store in a temporary directory (`SOFTHSM2_CONF`),
//! imports the reference keys or generates one on the token, and drives the
//! real binary: the reference vectors reproduced from the command line,
//! `cfsign serve` end to end, start-up refusals, a token lost mid-run
//! (503 `key_unavailable`, then recovery), and `keygen --pkcs11`.
//!
//! Skipped without `softhsm2-util` (`apt-get install softhsm2`), except
//! under CI; the binary must be built with the `pkcs11` feature.
#![cfg(feature = "pkcs11")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cfsign::signing::{HashAlgorithm, PrivateKey, PublicKey, base64cf};
use serde_json::{Value, json};

use crate::harness::binary::{Exited, Server, config_dir, run_cfsign_env, wait_exit};
use crate::harness::config::{Distribution, Grant, Key};
use crate::harness::fixtures::{fixtures, key_file, public};
use crate::harness::net::{assert_url_valid, client, metric, post};
use crate::harness::tokens::token;
use crate::harness::tools;

const PIN: &str = "20261202";
const SO_PIN: &str = "so-pin-9876";
const KPID: &str = "K2PKCS11TOKEN1";

/// Where Debian (and others) put the SoftHSM2 module.
fn module() -> PathBuf {
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib64/pkcs11/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .expect("softhsm2-util is installed but libsofthsm2.so is in none of the usual places")
}

/// A SoftHSM2 token store of one test: its config, tokens and PIN file.
struct SoftHsm {
    dir: tempfile::TempDir,
    util: PathBuf,
}

impl SoftHsm {
    /// `None` (test skipped) without softhsm2-util, outside CI.
    fn new() -> Option<Self> {
        let util = tools::required("softhsm2-util", "PKCS#11 tests", "apt-get install softhsm2")?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        let pin = dir.path().join("pin");
        std::fs::write(&pin, format!("{PIN}\n")).unwrap();
        set_mode(&pin, 0o600);
        Some(Self { dir, util })
    }

    fn conf(&self) -> String {
        self.dir.path().join("softhsm2.conf").display().to_string()
    }

    fn env(&self) -> [(&'static str, String); 1] {
        [("SOFTHSM2_CONF", self.conf())]
    }

    fn pin_file(&self) -> PathBuf {
        self.dir.path().join("pin")
    }

    fn util(&self, args: &[&str]) {
        let out = Command::new(&self.util)
            .args(args)
            .env("SOFTHSM2_CONF", self.conf())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "softhsm2-util {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn init_token(&self, label: &str) {
        self.init_token_with(label, PIN);
    }

    fn init_token_with(&self, label: &str, pin: &str) {
        self.util(&[
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            pin,
            "--so-pin",
            SO_PIN,
        ]);
    }

    /// Re-initialises the token in place: every object on it is gone.
    fn wipe_token(&self, label: &str) {
        self.util(&[
            "--init-token",
            "--token",
            label,
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ]);
    }

    fn delete_token(&self, label: &str) {
        self.util(&["--delete-token", "--token", label]);
    }

    /// Imports a fixture key (converted to the PKCS#8 softhsm2-util reads).
    fn import(&self, token: &str, fixture: &str, label: &str, id: &str) {
        self.import_with(token, fixture, label, id, PIN);
    }

    fn import_with(&self, token: &str, fixture: &str, label: &str, id: &str, pin: &str) {
        let key = PrivateKey::from_pem(&std::fs::read(key_file(fixture)).unwrap(), None).unwrap();
        let pkcs8 = self.dir.path().join(format!("{label}.p8"));
        std::fs::write(&pkcs8, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        let path = pkcs8.display().to_string();
        self.util(&[
            "--import", &path, "--token", token, "--label", label, "--id", id, "--pin", pin,
        ]);
        std::fs::remove_file(pkcs8).unwrap();
    }

    /// The URI of `object` on token `token`.
    fn uri(&self, token: &str, object: &str) -> String {
        format!(
            "pkcs11:token={token};object={object}?module-path={}",
            module().display()
        )
    }

    /// `cfsign ARGS` with this store.
    fn cfsign(&self, args: &[&str]) -> Exited {
        let env = self.env();
        let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_cfsign_env(args, &envs, Duration::from_secs(30))
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn vectors() -> Vec<Value> {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("vectors.json")).unwrap()).unwrap()
}

/// `sign` / `sign-cookies` arguments reproducing `case`, signed by `key`.
fn vector_args(case: &Value, key: &str) -> Vec<String> {
    let input = &case["input"];
    let mut args: Vec<String> = if case["kind"] == "url" {
        vec!["sign".into(), "--url".into(), input["url"].as_str().unwrap().into()]
    } else {
        let resource = input["resource"].as_str().unwrap();
        vec!["sign-cookies".into(), "--resource".into(), resource.into()]
    };
    for (flag, value) in [
        ("--key-pair-id", input["key_pair_id"].as_str().map(str::to_owned)),
        ("--private-key", Some(key.to_owned())),
        ("--date-less-than", Some(input["date_less_than"].to_string())),
        ("--hash-algorithm", input["hash_algorithm"].as_str().map(str::to_owned)),
        (
            "--date-greater-than",
            input["date_greater_than"].as_i64().map(|d| d.to_string()),
        ),
        ("--ip-address", input["ip_address"].as_str().map(str::to_owned)),
        (
            "--policy-resource",
            input["policy_resource"].as_str().map(str::to_owned),
        ),
    ] {
        if let Some(value) = value {
            args.extend([flag.to_owned(), value]);
        }
    }
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `Signature` of a printed URL or cookie set.
fn signature(case: &Value, stdout: &str) -> Vec<u8> {
    let text = if case["kind"] == "url" {
        stdout
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("Signature="))
            .unwrap()
            .to_owned()
    } else {
        let cookies: Value = serde_json::from_str(stdout).unwrap();
        cookies["CloudFront-Signature"].as_str().unwrap().to_owned()
    };
    base64cf::decode(&text).unwrap()
}

/// Every reference vector `sign` accepts today (expiry in the future):
/// RSA byte for byte as the vectors and as the PEM file give it (canned and
/// custom, SHA-1 and SHA-256, URLs and cookies), ECDSA verified.
#[test]
fn token_keys_reproduce_the_reference_vectors_from_the_command_line() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token("vectors");
    hsm.import("vectors", "rsa2048.pem", "rsa", "01");
    hsm.import("vectors", "ec-p256.pem", "ecdsa", "02");
    let pin = hsm.pin_file().display().to_string();
    let now = crate::harness::fixtures::now();
    let mut checked = (0, 0);
    for case in vectors() {
        if case["input"]["date_less_than"].as_i64().unwrap() < now + 3600 {
            continue;
        }
        let id = case["id"].as_str().unwrap();
        let ecdsa = case["input"]["private_key"] == "ec-p256.pem";
        let uri = hsm.uri("vectors", if ecdsa { "ecdsa" } else { "rsa" });
        let mut args = vector_args(&case, &uri);
        args.extend(["--pin-file".to_owned(), pin.clone()]);
        let out = hsm.cfsign(&strs(&args));
        assert!(out.status.success(), "{id}: {:?}", out.stderr);
        let stdout = out.stdout.join("\n");
        let expected = &case["expected"];
        if ecdsa {
            let public = public("ec-p256.pub.pem");
            let hash: HashAlgorithm = case["input"]["hash_algorithm"].as_str().unwrap().parse().unwrap();
            let policy = expected["policy_json"].as_str().unwrap();
            assert!(
                public.verify(policy.as_bytes(), &signature(&case, &stdout), hash),
                "{id}"
            );
            checked.1 += 1;
        } else {
            let file_key = key_file("rsa2048.pem").display().to_string();
            let with_file = hsm.cfsign(&strs(&vector_args(&case, &file_key)));
            assert_eq!(
                stdout,
                with_file.stdout.join("\n"),
                "{id}: the token and the PEM differ"
            );
            assert_eq!(
                base64cf::encode(&signature(&case, &stdout)),
                expected["signature"].as_str().unwrap(),
                "{id}"
            );
            if let Some(url) = expected["url"].as_str() {
                assert_eq!(stdout, url, "{id}");
            }
            checked.0 += 1;
        }
    }
    assert!(
        checked.0 >= 8 && checked.1 >= 1,
        "too few vectors still valid: {checked:?}"
    );
}

/// `sign` with the token's ECDSA key and SHA-256 (the AWS CLI v2 default),
/// and with every refusal as one `error:` line that never holds the PIN.
#[test]
fn the_cli_signs_with_token_keys_and_refuses_clearly() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token("cli");
    hsm.import("cli", "ec-p256.pem", "ecdsa", "02");
    let pin = hsm.pin_file().display().to_string();
    let sign = |uri: &str, pin: &str| {
        hsm.cfsign(&[
            "sign",
            "--url",
            "https://d111111abcdef8.cloudfront.net/v.mp4",
            "--key-pair-id",
            KPID,
            "--private-key",
            uri,
            "--pin-file",
            pin,
            "--expires-in",
            "1h",
            "--hash-algorithm",
            "SHA256",
        ])
    };
    let out = sign(&hsm.uri("cli", "ecdsa"), &pin);
    assert!(out.status.success(), "{:?}", out.stderr);
    assert_url_valid(&out.stdout.join(""), KPID, "ec-p256.pub.pem");

    let wrong_pin = hsm.dir.path().join("wrong-pin");
    std::fs::write(&wrong_pin, "55555555").unwrap();
    set_mode(&wrong_pin, 0o600);
    let hidden = hsm.uri("cli", "ecdsa").replace("?", "?pin-value=55555555&");
    for (uri, pin, says) in [
        (
            hsm.uri("cli", "ecdsa"),
            wrong_pin.display().to_string(),
            "CKR_PIN_INCORRECT",
        ),
        (
            hsm.uri("cli", "missing"),
            pin.clone(),
            "no private key object=\"missing\"",
        ),
        (hsm.uri("nope", "ecdsa"), pin.clone(), "no token matches"),
        (hidden, pin.clone(), "secret in the wrong place"),
    ] {
        let out = sign(&uri, &pin);
        assert_eq!(out.status.code(), Some(2), "{uri}");
        let stderr = out.stderr.join("\n");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{uri}: {stderr}"
        );
        assert!(!stderr.contains("55555555") && !stderr.contains(PIN), "{stderr}");
    }
    // A PIN file others can read signs, with a warning.
    set_mode(&hsm.pin_file(), 0o644);
    let out = sign(&hsm.uri("cli", "ecdsa"), &pin);
    assert!(out.status.success(), "{:?}", out.stderr);
    assert!(
        out.stderr.join("\n").contains("readable by group or others"),
        "{:?}",
        out.stderr
    );
}

/// `keygen --pkcs11` makes a key pair on the token whose public half it
/// prints; the token key then signs URLs that public key verifies; a second
/// keygen with the same label is refused (keys are never replaced).
#[test]
fn keygen_makes_a_key_on_the_token_that_then_signs() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token("gen");
    let pin = hsm.pin_file().display().to_string();
    for (algorithm, label) in [("rsa2048", "made-rsa"), ("ecdsa-p256", "made-ec")] {
        let uri = hsm.uri("gen", label);
        let made = hsm.cfsign(&["keygen", "--algorithm", algorithm, "--pkcs11", &uri, "--pin-file", &pin]);
        assert!(made.status.success(), "{:?}", made.stderr);
        let pem = made.stdout.join("\n");
        let public = PublicKey::from_pem(pem.as_bytes()).unwrap();
        assert!(made.stderr.join("").contains("not extractable"), "{:?}", made.stderr);
        let pub_file = hsm.dir.path().join(format!("{label}.pub.pem"));
        std::fs::write(&pub_file, &pem).unwrap();

        let signed = hsm.cfsign(&[
            "sign",
            "--url",
            "https://cdn.example.com/a.pdf",
            "--key-pair-id",
            KPID,
            "--private-key",
            &uri,
            "--pin-file",
            &pin,
            "--expires-in",
            "1h",
        ]);
        assert!(signed.status.success(), "{:?}", signed.stderr);
        let url = signed.stdout.join("");
        let trusted = format!("{KPID}={}", pub_file.display());
        let verified = hsm.cfsign(&["verify", "--url", &url, "--public-key", &trusted]);
        assert!(
            verified.status.success(),
            "{url}: {:?} {:?}",
            verified.stdout,
            verified.stderr
        );
        assert!(!public.to_pem().unwrap().is_empty());

        let again = hsm.cfsign(&["keygen", "--algorithm", algorithm, "--pkcs11", &uri, "--pin-file", &pin]);
        assert_eq!(again.status.code(), Some(2));
        assert!(again.stderr.join("").contains("never replaced"), "{:?}", again.stderr);
    }
}

/// `reports` signed by `uri` (SHA-256), and the grant for `mailer`.
fn token_config(uri: &str, pin_file: &Path) -> impl FnOnce(&mut crate::harness::config::TestConfig) {
    let (uri, pin_file) = (uri.to_owned(), pin_file.to_owned());
    move |c| {
        let mut key = Key::pkcs11(KPID, &uri, pin_file);
        key.public_key_file = Some(key_file("rsa2048.pub.pem"));
        let mut reports = Distribution::reports(vec![key]);
        reports.hash_algorithm = Some("SHA256".into());
        c.distributions.push(reports);
        c.grants
            .push(Grant::subject("mailer", "mailer", "reports", "/uploads/*", "1h"));
    }
}

async fn sign_one(server: &Server, name: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let body = json!({ "distribution": "reports", "key": format!("uploads/{name}.pdf"), "ttl_seconds": 600 });
    post(
        &client(),
        &server.url("/v1/signed-urls"),
        &token(json!({ "sub": "mailer" })),
        name,
        &body,
    )
    .await
}

/// `cfsign serve` with a token key: ready, signs URLs CloudFront would
/// accept with the key's registered public key, logs that public key for
/// the key group, counts the operation, and never logs the PIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_signs_with_a_token_key_end_to_end() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token("svc");
    hsm.import("svc", "rsa2048.pem", "reports-2026", "a1");
    let env = hsm.env();
    let server = Server::start_with(
        &[(env[0].0, &env[0].1)],
        token_config(&hsm.uri("svc", "reports-2026"), &hsm.pin_file()),
    );
    let (status, _, body) = sign_one(&server, "q1").await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert_url_valid(url, KPID, "rsa2048.pub.pem");
    assert!(url.ends_with("&Hash-Algorithm=SHA256"), "{url}");
    let opened = server.wait_log(Duration::from_secs(5), |v| {
        v["message"].as_str().is_some_and(|m| m.contains("PKCS#11 key opened"))
    });
    let registered = std::fs::read_to_string(key_file("rsa2048.pub.pem")).unwrap();
    assert_eq!(
        opened["public_key"].as_str().unwrap().trim(),
        registered.trim(),
        "{opened}"
    );
    let metrics = server.metrics_text().await;
    let ok = format!("key_pair_id=\"{KPID}\",result=\"ok\"");
    assert!(metric(&metrics, "cfsign_key_operations_total", &ok) >= 1.0, "{metrics}");
    assert!(!server.all_logs().contains(PIN), "the PIN is in the logs");
}

/// Start-up refusals, each naming its cause: a `public_key_file` that is
/// not the token key's, a wrong PIN (never printed), a missing token, a
/// missing object.
#[test]
fn serve_refuses_to_start_on_a_wrong_token_key() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token("start");
    hsm.import("start", "rsa2048.pem", "rsa", "01");
    let wrong_pin = hsm.dir.path().join("wrong-pin");
    std::fs::write(&wrong_pin, "31415926\n").unwrap();
    set_mode(&wrong_pin, 0o600);
    let ec_pub = key_file("ec-p256.pub.pem");
    let in_uri = hsm.uri("start", "rsa").replace('?', "?pin-value=31415926&");
    let cases: [(String, PathBuf, Option<PathBuf>, &str); 5] = [
        (in_uri, hsm.pin_file(), None, "secret in the wrong place"),
        (
            hsm.uri("start", "rsa"),
            hsm.pin_file(),
            Some(ec_pub.clone()),
            "is not the public half of",
        ),
        (hsm.uri("start", "rsa"), wrong_pin, None, "CKR_PIN_INCORRECT"),
        (hsm.uri("elsewhere", "rsa"), hsm.pin_file(), None, "no token matches"),
        (
            hsm.uri("start", "gone"),
            hsm.pin_file(),
            None,
            "no private key object=\"gone\"",
        ),
    ];
    for (uri, pin, public_key_file, says) in cases {
        let (_dir, config) = config_dir(|c| {
            token_config(&uri, &pin)(c);
            c.distributions[0].keys[0].public_key_file = public_key_file.clone();
        });
        let exited = serve_with_env(&config, &hsm);
        assert!(!exited.status.success(), "{uri}");
        let text = format!("{}\n{}", exited.stdout.join("\n"), exited.stderr.join("\n"));
        // Key problems name the key; a URI refused at parse names its place in the file.
        assert!(
            text.contains(says) && (text.contains(KPID) || text.contains("keys[0]")),
            "{uri}: {text}"
        );
        if let Some(file) = &public_key_file {
            assert!(text.contains(&file.display().to_string()), "{text}");
        }
        assert!(!text.contains("31415926") && !text.contains(PIN), "a PIN in: {text}");
    }
}

/// `cfsign serve` on `config` with this token store, expected to exit
/// (bounded: a server that starts is killed and fails the test).
fn serve_with_env(config: &Path, hsm: &SoftHsm) -> Exited {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cfsign"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--log-format", "json"])
        .env("SOFTHSM2_CONF", hsm.conf())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let Some(status) = wait_exit(&mut child, Duration::from_secs(20)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("cfsign serve started on a configuration it should refuse");
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    Exited {
        status,
        stdout: stdout.lines().map(str::to_owned).collect(),
        stderr: stderr.lines().map(str::to_owned).collect(),
    }
}

/// Polls (each request a new object, so the signature cache never answers)
/// until `want` or the deadline; every answer meanwhile is 200 or 503.
async fn until(server: &Server, want: u16, tag: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for i in 0.. {
        let started = Instant::now();
        let answer = sign_one(server, &format!("{tag}-{i}")).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a hang: {:?}",
            started.elapsed()
        );
        assert!(answer.0 == 200 || answer.0 == 503, "{tag}: {} {}", answer.0, answer.2);
        if answer.0 == want || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    unreachable!()
}

/// The token wiped (re-initialised) and then deleted while the service
/// runs: 503 `key_unavailable` with `Retry-After`, never a hang or a 500;
/// and when the same key is back under the same label, signatures resume
/// with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_lost_mid_run_is_503_and_recovers() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token("live");
    hsm.import("live", "rsa2048.pem", "reports-2026", "a1");
    let env = hsm.env();
    let server = Server::start_with(
        &[(env[0].0, &env[0].1)],
        token_config(&hsm.uri("live", "reports-2026"), &hsm.pin_file()),
    );
    assert_eq!(sign_one(&server, "before").await.0, 200);

    for (lose, tag) in [(0, "wiped"), (1, "deleted")] {
        if lose == 0 {
            hsm.wipe_token("live");
        } else {
            hsm.delete_token("live");
        }
        let (status, headers, body) = until(&server, 503, tag).await;
        assert_eq!(status, 503, "{tag}: {body}");
        assert_eq!(body["code"], "key_unavailable", "{body}");
        assert_eq!(headers["retry-after"], "1");
        // Still unavailable while the key is missing.
        assert_eq!(sign_one(&server, &format!("{tag}-still")).await.0, 503);

        if lose == 1 {
            hsm.init_token("live");
        }
        hsm.import("live", "rsa2048.pem", "reports-2026", "a1");
        let (status, _, body) = until(&server, 200, &format!("{tag}-back")).await;
        assert_eq!(status, 200, "{tag}: not recovered: {body}\n{}", server.all_logs());
        assert_url_valid(body["url"].as_str().unwrap(), KPID, "rsa2048.pub.pem");
    }
    let metrics = server.metrics_text().await;
    let unavailable = format!("key_pair_id=\"{KPID}\",result=\"unavailable\"");
    assert!(
        metric(&metrics, "cfsign_key_operations_total", &unavailable) >= 2.0,
        "{metrics}"
    );
    assert!(!server.all_logs().contains(PIN), "the PIN is in the logs");
}

/// The token replaced by one with the same label and key but another user
/// PIN while the service runs: the login with the old PIN is refused once,
/// and then not tried again (each try would count towards locking the
/// token) until a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_the_token_refuses_mid_run_is_not_retried() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token("pin");
    hsm.import("pin", "rsa2048.pem", "reports-2026", "a1");
    let env = hsm.env();
    let server = Server::start_with(
        &[(env[0].0, &env[0].1)],
        token_config(&hsm.uri("pin", "reports-2026"), &hsm.pin_file()),
    );
    assert_eq!(sign_one(&server, "before").await.0, 200);
    hsm.delete_token("pin");
    hsm.init_token_with("pin", "77777777");
    hsm.import_with("pin", "rsa2048.pem", "reports-2026", "a1", "77777777");
    let (status, _, body) = until(&server, 503, "replaced").await;
    assert_eq!(status, 503, "{body}");
    // The next requests look for the token again (a rescan finds the new
    // one) and log in with the old PIN.
    for i in 0..50 {
        if server.all_logs().contains("CKR_PIN_INCORRECT") {
            break;
        }
        assert_eq!(sign_one(&server, &format!("looking-{i}")).await.0, 503);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..3 {
        assert_eq!(sign_one(&server, &format!("after-{i}")).await.0, 503);
    }
    let logs = server.all_logs();
    let tries = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("CKR_PIN_INCORRECT"))
        .count();
    assert_eq!(tries, 1, "one login try only:\n{logs}");
    assert!(logs.contains("not retried"), "{logs}");
    let metrics = server.metrics_text().await;
    let refused = format!("key_pair_id=\"{KPID}\",result=\"refused\"");
    assert!(
        metric(&metrics, "cfsign_key_operations_total", &refused) >= 3.0,
        "{metrics}"
    );
    assert!(!logs.contains(PIN) && !logs.contains("77777777"), "a PIN in the logs");
}
