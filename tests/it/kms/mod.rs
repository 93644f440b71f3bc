//! AWS KMS keys (cargo feature `kms`) against a real local KMS: moto's
//! server on loopback ([`moto`]), with a proxy in between where a test
//! needs a throttling or stalled KMS ([`proxy`]). Skipped without moto
//! (`tests/kms/setup.sh`), except under CI.

#![cfg(feature = "kms")]

mod moto;
mod proxy;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use cfsign::signing::{PublicKey, RequestContext, verify_url};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::binary::{Server, config_dir, run_cfsign_env, serve_expecting_exit_with};
use crate::harness::config::{Distribution, Grant, Key, TestConfig};
use crate::harness::fixtures::{key_file, now};
use crate::harness::net::{client, metric, post};
use crate::harness::tokens::token;
use moto::{AWS_ENV, Moto, MotoKey, REGION};
use proxy::{Mode, Proxy};

const RSA_KPID: &str = "KKMSRSA0000001";
const EC_KPID: &str = "KKMSECDSA00001";

/// `reports` (SHA-256) signed by `rsa` and `videos` (SHA-256) by `ec`, both
/// KMS keys at `endpoint`; `mailer` may sign `/uploads/*` and `/videos/*`.
fn kms_distributions(c: &mut TestConfig, endpoint: &str, rsa: &MotoKey, ec: Option<&MotoKey>) {
    let mut reports = Distribution::reports(vec![Key::kms(RSA_KPID, &rsa.arn, REGION, endpoint)]);
    reports.hash_algorithm = Some("SHA256".into());
    c.distributions.push(reports);
    c.grants
        .push(Grant::subject("mailer", "mailer", "reports", "/uploads/*", "1h"));
    if let Some(ec) = ec {
        let mut videos = Distribution::new(
            "videos",
            "https://d111111abcdef8.cloudfront.net",
            vec![Key::kms(EC_KPID, &ec.arn, REGION, endpoint)],
        );
        videos.hash_algorithm = Some("SHA256".into());
        c.distributions.push(videos);
        c.grants
            .push(Grant::subject("mailer-videos", "mailer", "videos", "/videos/*", "1h"));
    }
}

/// A query parameter of a signed URL.
fn param<'a>(url: &'a str, name: &str) -> &'a str {
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// The canned policy a canned signed URL's signature covers, and the
/// signature's bytes (CloudFront base64 decoded: `-`→`+`, `_`→`=`, `~`→`/`).
fn canned_policy_and_signature(url: &str) -> (String, Vec<u8>) {
    let resource = url.split_once("?Expires=").expect("a canned URL").0;
    let policy = format!(
        r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{}}}}}}}]}}"#,
        param(url, "Expires")
    );
    let standard: String = param(url, "Signature")
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            c => c,
        })
        .collect();
    let signature = base64::engine::general_purpose::STANDARD.decode(standard).unwrap();
    (policy, signature)
}

/// Whether `openssl dgst -sha256 -verify` accepts `signature` over `policy`.
fn openssl_verifies(dir: &Path, public_key_pem: &str, policy: &str, signature: &[u8]) -> bool {
    std::fs::write(dir.join("pub.pem"), public_key_pem).unwrap();
    std::fs::write(dir.join("policy.json"), policy).unwrap();
    std::fs::write(dir.join("sig.der"), signature).unwrap();
    Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig.der",
            "policy.json",
        ])
        .current_dir(dir)
        .output()
        .expect("these tests need the openssl binary on PATH")
        .status
        .success()
}

/// Whether cfsign's verifier (CloudFront's checks) accepts `url` now.
fn cfsign_verifies(url: &str, key_pair_id: &str, public_key_pem: &str) -> bool {
    let public = PublicKey::from_pem(public_key_pem.as_bytes()).unwrap();
    let verdict = verify_url(
        url,
        &(key_pair_id, &public),
        RequestContext {
            at: now(),
            client_ip: None,
        },
    );
    verdict.failure.is_none()
}

/// POSTs a signed-URL request for `body`; status, headers, JSON.
async fn sign(server: &Server, body: serde_json::Value) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    post(
        &client(),
        &server.url("/v1/signed-urls"),
        &token(json!({ "sub": "mailer" })),
        "kms-test",
        &body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_rsa_and_ecdsa_keys_sign_urls_that_cfsign_and_openssl_verify() {
    let Some(moto) = Moto::start("KMS end to end") else {
        return;
    };
    let rsa = moto.create_key("RSA_2048");
    let ec = moto.create_key("ECC_NIST_P256");
    let server = Server::start_with(&AWS_ENV, |c| kms_distributions(c, &moto.url, &rsa, Some(&ec)));
    let dir = tempfile::tempdir().unwrap();

    // The public half is logged at open, as GetPublicKey gave it, for the key group.
    for key in [&rsa, &ec] {
        let opened = server.wait_log(Duration::from_secs(1), |v| {
            v["message"] == "KMS key opened" && v["key"] == key.arn.as_str()
        });
        assert_eq!(opened["public_key"], key.public_key_pem.as_str(), "{opened}");
    }

    let cases = [
        (
            json!({ "distribution": "reports", "key": "uploads/q1.pdf" }),
            RSA_KPID,
            &rsa,
        ),
        (
            json!({ "distribution": "videos", "path": "/videos/a.mp4" }),
            EC_KPID,
            &ec,
        ),
    ];
    for (body, kpid, key) in cases {
        let (status, _, answer) = sign(&server, body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["hash_algorithm"], "SHA256", "{answer}");
        assert_eq!(answer["key_pair_id"], kpid, "{answer}");
        let url = answer["url"].as_str().unwrap();
        assert_eq!(param(url, "Hash-Algorithm"), "SHA256");
        assert!(cfsign_verifies(url, kpid, &key.public_key_pem), "{url}");
        let (policy, signature) = canned_policy_and_signature(url);
        assert!(
            openssl_verifies(dir.path(), &key.public_key_pem, &policy, &signature),
            "{url}"
        );
        // The same check refuses another policy: it can fail.
        let other = policy.replace("AWS:EpochTime\":", "AWS:EpochTime\":1");
        assert!(!openssl_verifies(dir.path(), &key.public_key_pem, &other, &signature));
        if kpid == EC_KPID {
            // DER SEQUENCE (r, s), as CloudFront wants.
            assert_eq!(signature[0], 0x30, "{signature:02x?}");
            assert!((70..=72).contains(&signature.len()), "{} bytes", signature.len());
        } else {
            // The exact PKCS#1 v1.5 bytes a file key would give: the signature
            // opens to the SHA-256 DigestInfo of the policy, nothing else.
            assert_eq!(signature.len(), 256);
            let recovered = Command::new("openssl")
                .args([
                    "pkeyutl",
                    "-verifyrecover",
                    "-pubin",
                    "-inkey",
                    "pub.pem",
                    "-in",
                    "sig.der",
                ])
                .args(["-pkeyopt", "rsa_padding_mode:pkcs1"])
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(
                recovered.status.success(),
                "{}",
                String::from_utf8_lossy(&recovered.stderr)
            );
            let mut digest_info = hex::decode("3031300d060960864801650304020105000420").unwrap();
            digest_info.extend_from_slice(&Sha256::digest(policy.as_bytes()));
            assert_eq!(recovered.stdout, digest_info);
        }
    }

    let metrics = server.metrics_text().await;
    for kpid in [RSA_KPID, EC_KPID] {
        let label = format!("key_pair_id=\"{kpid}\",result=\"ok\"");
        let alt = format!("result=\"ok\",key_pair_id=\"{kpid}\"");
        let ok = metric(&metrics, "cfsign_key_operations_total", &label)
            + metric(&metrics, "cfsign_key_operations_total", &alt);
        assert_eq!(ok, 1.0, "{kpid}:\n{metrics}");
    }
    assert!(
        !server.all_logs().contains("testing\""),
        "credentials never logged:\n{}",
        server.all_logs()
    );
}

/// Starts `cfsign serve` on `change`, expects it to refuse to start, and
/// returns its one error line (also checking it names `key_pair_id`).
fn refused_start(change: impl FnOnce(&mut TestConfig), key_pair_id: &str, within: Duration) -> String {
    refused_start_with(change, key_pair_id, within, &[])
}

/// As [`refused_start`], with `overrides` over [`AWS_ENV`].
fn refused_start_with(
    change: impl FnOnce(&mut TestConfig),
    key_pair_id: &str,
    within: Duration,
    overrides: &[(&str, &str)],
) -> String {
    let (_dir, config) = config_dir(change);
    let env: Vec<(&str, &str)> = AWS_ENV.iter().chain(overrides).copied().collect();
    let started = Instant::now();
    let out = serve_expecting_exit_with(&config, &env, within + Duration::from_secs(5));
    assert!(started.elapsed() < within, "took {:?}", started.elapsed());
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    assert_eq!(out.stderr.len(), 1, "{:#?}", out.stderr);
    let line = out.stderr[0].clone();
    assert!(line.starts_with("error: ") && line.contains(key_pair_id), "{line}");
    assert!(
        !out.stdout.iter().any(|l| l.contains("cfsign listening")),
        "{:#?}",
        out.stdout
    );
    line
}

#[test]
fn a_kms_key_cfsign_cannot_use_stops_the_start_saying_why() {
    let Some(moto) = Moto::start("KMS start-up refusals") else {
        return;
    };
    let rsa = moto.create_key("RSA_2048");
    let quick = Duration::from_secs(10);
    let url = moto.url.clone();

    // SHA-1 distribution: KMS has no SHA-1 signing.
    let line = refused_start(
        |c| {
            kms_distributions(c, &url, &rsa, None);
            c.distribution("reports").hash_algorithm = None;
        },
        RSA_KPID,
        quick,
    );
    assert!(line.contains("SHA-256") && line.contains("hash_algorithm"), "{line}");

    // The public key CloudFront has is another key's.
    let line = refused_start(
        |c| {
            kms_distributions(c, &url, &rsa, None);
            c.distribution("reports").keys[0].public_key_file = Some(key_file("rsa2048.pub.pem"));
        },
        RSA_KPID,
        quick,
    );
    assert!(line.contains("not the public half"), "{line}");

    // ... while the right one is accepted.
    let dir = tempfile::tempdir().unwrap();
    let right = dir.path().join("kms.pub.pem");
    std::fs::write(&right, &rsa.public_key_pem).unwrap();
    let server = Server::start_with(&AWS_ENV, |c| {
        kms_distributions(c, &url, &rsa, None);
        c.distribution("reports").keys[0].public_key_file = Some(right.clone());
    });
    drop(server);

    // Key specs and usages CloudFront cannot use.
    let big = moto.create_key("RSA_4096");
    let line = refused_start(|c| kms_distributions(c, &url, &big, None), RSA_KPID, quick);
    assert!(
        line.contains("RSA_4096") && line.contains("RSA 2048 and ECDSA P-256"),
        "{line}"
    );
    let encrypting = moto.create_key_for("RSA_2048", "ENCRYPT_DECRYPT");
    let line = refused_start(|c| kms_distributions(c, &url, &encrypting, None), RSA_KPID, quick);
    assert!(line.contains("not a signing key"), "{line}");
    let missing = MotoKey {
        arn: rsa.arn.replace(
            rsa.arn.rsplit('/').next().unwrap(),
            "00000000-0000-0000-0000-000000000000",
        ),
        public_key_pem: String::new(),
    };
    let line = refused_start(|c| kms_distributions(c, &url, &missing, None), RSA_KPID, quick);
    assert!(line.contains("NotFoundException"), "{line}");

    // No credentials anywhere in the chain.
    let line = refused_start_with(
        |c| kms_distributions(c, &url, &rsa, None),
        RSA_KPID,
        quick,
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_SESSION_TOKEN", ""),
        ],
    );
    assert!(line.contains("no AWS credentials"), "{line}");

    // Nothing listening at the endpoint.
    let closed = format!("http://127.0.0.1:{}", moto::free_port());
    let line = refused_start(|c| kms_distributions(c, &closed, &rsa, None), RSA_KPID, quick);
    assert!(line.contains("cannot reach KMS"), "{line}");

    // A KMS that never answers: refused after the open timeout, not a hang.
    let proxy = Proxy::start(&moto.url);
    proxy.set(Mode::Stall);
    let line = refused_start(
        |c| kms_distributions(c, &proxy.url, &rsa, None),
        RSA_KPID,
        Duration::from_secs(16),
    );
    assert!(line.contains("no answer from KMS within 10s"), "{line}");
    assert!(proxy.seen(Mode::Stall) >= 1);
}

/// The `cfsign_key_operations_total` count of `result` for the RSA key.
fn operations(metrics: &str, result: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("cfsign_key_operations_total{")
                && l.contains(&format!("key_pair_id=\"{RSA_KPID}\""))
                && l.contains(&format!("result=\"{result}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_stalled_or_refusing_kms_is_503_within_the_timeout_and_200_once_it_answers() {
    let Some(moto) = Moto::start("KMS throttling and timeouts") else {
        return;
    };
    let rsa = moto.create_key("RSA_2048");
    let proxy = Proxy::start(&moto.url);
    let timeout = Duration::from_secs(1);
    let server = Server::start_with(&AWS_ENV, |c| {
        kms_distributions(c, &proxy.url, &rsa, None);
        c.distribution("reports").keys[0].timeout = Some("1s".into());
        c.distribution("reports").keys[0].max_concurrency = Some(2);
    });
    // Each request a new object: a new policy, never a cached signature.
    let mut n = 0;
    let mut next = || {
        n += 1;
        json!({ "key": format!("uploads/{n}.pdf") })
    };

    let (status, _, body) = sign(&server, next()).await;
    assert_eq!(status, 200, "{body}");

    for (mode, result) in [(Mode::Throttle, "throttled"), (Mode::Stall, "timeout")] {
        proxy.set(mode);
        let started = Instant::now();
        let (status, headers, body) = sign(&server, next()).await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{mode:?}: {body}");
        assert_eq!(body["code"], "key_unavailable", "{body}");
        assert!(headers.contains_key("retry-after"), "{headers:?}");
        assert!(took < timeout + Duration::from_secs(2), "{mode:?} took {took:?}");
        if mode == Mode::Stall {
            assert!(
                took >= timeout - Duration::from_millis(50),
                "answered before the timeout: {took:?}"
            );
        }
        assert!(proxy.seen(mode) >= 1, "{mode:?} reached the proxy");
        let metrics = server.metrics_text().await;
        assert!(operations(&metrics, result) >= 1.0, "{result}:\n{metrics}");
        assert!(
            !body.to_string().contains("Rate exceeded"),
            "no KMS detail in the answer: {body}"
        );
    }

    // Five at once against a stalled KMS: two calls reach it
    // (max_concurrency) while the others wait for a slot; all five are 503
    // within the timeout. (A waiter that gets a slot as a holder times out
    // may still start a call just before its own deadline.)
    let started = Instant::now();
    let bodies: Vec<_> = (0..5).map(|_| next()).collect();
    let answers = futures_util::future::join_all(bodies.into_iter().map(|b| sign(&server, b))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [503; 5]);
    assert!(
        started.elapsed() < timeout + Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let at_once = proxy.arrived(Mode::Stall, started, timeout * 9 / 10);
    assert_eq!(at_once, 2, "calls in flight at once");

    proxy.set(Mode::Pass);
    let (status, _, body) = sign(&server, next()).await;
    assert_eq!(status, 200, "passes again: {body}");

    // KMS refuses (the role lacks kms:Sign: an operator must act): still a
    // 503, counted apart, the cause logged.
    proxy.set(Mode::Deny);
    let (status, _, body) = sign(&server, next()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "key_unavailable", "{body}");
    assert!(proxy.seen(Mode::Deny) >= 1);
    let metrics = server.metrics_text().await;
    assert!(operations(&metrics, "refused") >= 1.0, "{metrics}");
    assert_eq!(operations(&metrics, "ok"), 2.0, "{metrics}");
    let logs = server.all_logs();
    assert!(logs.contains("AccessDeniedException"), "the cause is logged:\n{logs}");
    assert!(
        !body.to_string().contains("AccessDenied"),
        "no KMS detail in the answer: {body}"
    );
}

#[test]
fn cfsign_sign_with_a_kms_key_prints_a_url_that_verifies_and_refuses_sha1() {
    let Some(moto) = Moto::start("cfsign sign with a KMS key") else {
        return;
    };
    let ec = moto.create_key("ECC_NIST_P256");
    let key = format!("kms:{}", ec.arn);
    let args = |hash: &'static str| -> Vec<String> {
        [
            "sign",
            "--url",
            "https://d111111abcdef8.cloudfront.net/videos/a.mp4",
            "--key-pair-id",
            EC_KPID,
            "--private-key",
            &key,
            "--expires-in",
            "1h",
            "--hash-algorithm",
            hash,
            "--endpoint-url",
            &moto.url,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    // No --region, and another region in the environment: the key ARN's wins.
    let mut env: Vec<(&str, &str)> = AWS_ENV.to_vec();
    env.push(("AWS_REGION", "eu-west-3"));
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cfsign_env(&args, &env, Duration::from_secs(30))
    };

    let out = run(args("SHA256"));
    assert!(out.status.success(), "{:?}", out.stderr);
    assert_eq!(out.stdout.len(), 1, "{:?}", out.stdout);
    let url = &out.stdout[0];
    assert_eq!(param(url, "Hash-Algorithm"), "SHA256");
    assert!(cfsign_verifies(url, EC_KPID, &ec.public_key_pem), "{url}");
    let (policy, signature) = canned_policy_and_signature(url);
    let dir = tempfile::tempdir().unwrap();
    assert!(openssl_verifies(dir.path(), &ec.public_key_pem, &policy, &signature));

    let out = run(args("SHA1"));
    assert_eq!(out.status.code(), Some(2), "{:?}", out.stderr);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert_eq!(out.stderr.len(), 1, "{:?}", out.stderr);
    assert!(
        out.stderr[0].starts_with("error: ") && out.stderr[0].contains("SHA256"),
        "{:?}",
        out.stderr
    );
}

/// SIGHUP, then waits (bounded) for one more log line starting with `message`.
async fn reload_and_wait(server: &Server, message: &str) {
    let count = || {
        server
            .json_lines()
            .iter()
            .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with(message)))
            .count()
    };
    let before = count();
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(15);
    while count() == before {
        assert!(
            Instant::now() < deadline,
            "no {message:?} after SIGHUP:\n{}",
            server.all_logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rotates_to_a_new_kms_key_and_a_broken_one_keeps_the_old() {
    let Some(moto) = Moto::start("KMS key rotation") else {
        return;
    };
    let old = moto.create_key("RSA_2048");
    let new = moto.create_key("ECC_NIST_P256");
    let server = Server::start_with(&AWS_ENV, |c| kms_distributions(c, &moto.url, &old, None));
    let rewrite = |change: &dyn Fn(&mut TestConfig)| {
        let mut c = TestConfig::binary(server.dir.path());
        kms_distributions(&mut c, &moto.url, &old, None);
        change(&mut c);
        c.write(&server.config);
    };
    let body = |n: u32| json!({ "key": format!("uploads/rotation-{n}.pdf") });

    let (status, _, answer) = sign(&server, body(1)).await;
    assert_eq!(
        (status, answer["key_pair_id"].as_str()),
        (200, Some(RSA_KPID)),
        "{answer}"
    );

    // The new key joins, active; the old one stays for /v1/verify.
    rewrite(&|c| {
        let keys = &mut c.distribution("reports").keys;
        keys[0].active = Some(false);
        keys.push(Key::kms(EC_KPID, &new.arn, REGION, &moto.url).active(true));
    });
    reload_and_wait(&server, "configuration reloaded").await;
    let (status, _, answer) = sign(&server, body(2)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["key_pair_id"], EC_KPID, "{answer}");
    assert!(cfsign_verifies(
        answer["url"].as_str().unwrap(),
        EC_KPID,
        &new.public_key_pem
    ));

    // A reload naming a key KMS does not have is refused; the keys in use stay.
    rewrite(&|c| {
        let keys = &mut c.distribution("reports").keys;
        keys[0].kms = Some(old.arn.replace(
            old.arn.rsplit('/').next().unwrap(),
            "00000000-0000-0000-0000-000000000000",
        ));
    });
    reload_and_wait(&server, "reload refused").await;
    let (status, _, answer) = sign(&server, body(3)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["key_pair_id"], EC_KPID, "{answer}");
}

/// The first fenced block of `lang` after `heading` in the README.
fn readme_block(heading: &str, after: &str, lang: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in the README"))..];
    let section = &section[section
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} under {heading:?}"))..];
    let fence = format!("```{lang}\n");
    let start = section
        .find(&fence)
        .unwrap_or_else(|| panic!("no {lang} block after {after:?}"))
        + fence.len();
    let end = start + section[start..].find("```").unwrap();
    // Indented blocks (inside a list item) lose their indentation.
    section[start..end]
        .lines()
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readmes_kms_configuration_and_iam_policy_are_what_cfsign_reads() {
    let block = readme_block("### AWS KMS", "signs for one key pair id", "toml");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hmac.secret"), crate::harness::tokens::HMAC_SECRET).unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, format!("{}\n{block}\n", TestConfig::binary(dir.path()).render())).unwrap();
    let c = cfsign::config::load(&path).unwrap();
    let reports = &c.distributions[0];
    assert_eq!(reports.hash_algorithm.as_str(), "SHA256");
    let key = &reports.keys[0];
    match &key.source {
        cfsign::keys::KeySource::Kms(kms) => {
            assert!(kms.key_id.starts_with("arn:aws:kms:eu-west-1:"), "{kms:?}");
            assert_eq!((kms.region.as_deref(), kms.endpoint_url.as_deref()), (None, None));
        }
        other => panic!("not a KMS key: {other:?}"),
    }
    assert_eq!(
        (key.limits.concurrency, key.limits.timeout),
        (32, Duration::from_secs(2))
    );
    assert!(key.active && key.public_key_file.is_some());

    let policy: serde_json::Value =
        serde_json::from_str(&readme_block("### AWS KMS", "The role needs exactly this", "json")).unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Action"], json!(["kms:Sign", "kms:GetPublicKey"]));
    assert_eq!(statement["Resource"].as_str(), Some(key_id_of(key)));
}

fn key_id_of(key: &cfsign::config::SigningKeyConfig) -> &str {
    match &key.source {
        cfsign::keys::KeySource::Kms(kms) => &kms.key_id,
        _ => "",
    }
}
