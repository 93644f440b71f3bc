//! Differential test: `cfsign` against AWS's own signers, on 50 generated
//! cases where the spec says they must agree.
//!
//! - AWS CLI v1 (`aws cloudfront sign`, botocore's `CloudFrontSigner`): RSA
//!   with a PKCS#1 key, SHA-1, canned and custom (`--date-greater-than`,
//!   `--ip-address`) signed URLs. Compared byte for byte, with the same date
//!   text given to both tools (epoch, `YYYY-MM-DD`, naive, `Z`, offsets).
//! - `@aws-sdk/cloudfront-signer` (JS SDK v3): `getSignedUrl` and
//!   `getSignedCookies` with SHA1 and SHA256. It orders URL parameters
//!   differently, so parameters are compared as a set and the signature
//!   exactly. It writes custom-policy conditions in another order
//!   (DateGreaterThan before IpAddress), so when both are present the bytes
//!   cannot agree; there `cfsign verify` must accept the SDK's output instead.
//!
//! The tools come from `tests/differential/setup.sh` (into
//! `target/differential/`, or `$CFSIGN_DIFF_DIR`), or from `$CFSIGN_DIFF_AWS`,
//! `$CFSIGN_DIFF_NODE`, `$CFSIGN_DIFF_NODE_MODULES`, or PATH (`aws` v1,
//! `node`). Without them the test is skipped, except under CI (`$CI` set),
//! where it fails so that a missing install cannot pass silently.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset};

const CASES: usize = 50;
const SEED: u64 = 0x0c10_0df2_0e75_1a2d;
const SETUP: &str = "tests/differential/setup.sh";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_key(name: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures/keys").join(name)
}

// ---------------------------------------------------------------- tools ----

use crate::harness::tools::in_ci;

/// Skips (locally) or fails (under CI) when a reference tool is missing.
/// Written to stderr directly so the message shows even though libtest
/// captures the output of passing tests.
pub(crate) fn missing(tool: &str, why: &str) {
    if in_ci() {
        panic!("{tool} not found ({why}); CI must run `bash {SETUP}` first");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {tool} not found ({why}): run {SETUP}");
}

/// Runs the setup script once per test process when the pinned tools are
/// not installed yet, so `cargo test` alone works on a fresh machine
/// (set `CFSIGN_DIFF_NO_SETUP=1` to forbid the download).
pub(crate) fn ensure_tools() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let installed = tools_dir().join("venv/bin/aws").is_file()
            && tools_dir()
                .join("node/node_modules/@aws-sdk/cloudfront-signer/package.json")
                .is_file();
        if installed || std::env::var_os("CFSIGN_DIFF_NO_SETUP").is_some() {
            return;
        }
        let status = Command::new("bash").arg(manifest_dir().join(SETUP)).status();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            let _ = writeln!(std::io::stderr(), "differential setup failed: {status:?}");
        }
    });
}

fn tools_dir() -> PathBuf {
    std::env::var_os("CFSIGN_DIFF_DIR").map_or_else(|| manifest_dir().join("target/differential"), PathBuf::from)
}

/// The first program in PATH with this name.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn version_of(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .trim()
    .to_owned();
    out.status.success().then_some(text)
}

/// AWS CLI v1: `$CFSIGN_DIFF_AWS`, then the setup venv, then `aws` on PATH.
pub(crate) fn find_aws() -> Result<(PathBuf, String), String> {
    if let Some(explicit) = std::env::var_os("CFSIGN_DIFF_AWS") {
        let path = PathBuf::from(explicit);
        return version_of(&path)
            .map(|v| (path.clone(), v))
            .ok_or(format!("CFSIGN_DIFF_AWS={} does not run", path.display()));
    }
    let candidates = [Some(tools_dir().join("venv/bin/aws")), on_path("aws")];
    for path in candidates.into_iter().flatten() {
        // v2 signs ECDSA differently and reads dates with another parser: v1 only.
        if let Some(version) = version_of(&path).filter(|v| v.starts_with("aws-cli/1.")) {
            return Ok((path, version));
        }
    }
    Err(format!(
        "no AWS CLI v1 in {}/venv, $CFSIGN_DIFF_AWS or PATH",
        tools_dir().display()
    ))
}

/// Node and the SDK's node_modules folder.
fn find_js() -> Result<(PathBuf, PathBuf), String> {
    let node = std::env::var_os("CFSIGN_DIFF_NODE")
        .map(PathBuf::from)
        .or_else(|| on_path("node"))
        .ok_or("no node on PATH")?;
    let modules = std::env::var_os("CFSIGN_DIFF_NODE_MODULES")
        .map_or_else(|| tools_dir().join("node/node_modules"), PathBuf::from);
    if !modules.join("@aws-sdk/cloudfront-signer/package.json").is_file() {
        return Err(format!("no @aws-sdk/cloudfront-signer in {}", modules.display()));
    }
    Ok((node, modules))
}

fn find_openssl() -> Result<PathBuf, String> {
    on_path("openssl").ok_or_else(|| "no openssl on PATH (needed to make a PKCS#1 key)".to_owned())
}

// ---------------------------------------------------------------- cases ----

/// SplitMix64: tiny, deterministic, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn word(&mut self, alphabet: &[u8], min: u64, max: u64) -> String {
        let len = min + self.below(max - min + 1);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

/// RFC 3986 unreserved characters: every signer leaves them alone.
const SAFE: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const RESERVED: [&str; 5] = ["expires", "policy", "signature", "key-pair-id", "hash-algorithm"];

#[derive(Debug, Clone)]
struct When {
    epoch: i64,
    /// How the date is written on the command line (the same for both tools).
    text: String,
}

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    cookies: bool,
    /// The URL (signed URLs) or resource (cookies; may end in `*`).
    url: String,
    key_pair_id: String,
    hash: &'static str,
    expires: When,
    starts: Option<When>,
    ip: Option<String>,
}

impl Case {
    fn is_custom(&self) -> bool {
        self.starts.is_some() || self.ip.is_some() || self.url.contains('*')
    }
}

/// Writes `epoch` in one of the formats the AWS CLI documents; the date-only
/// format moves the time to midnight, so the epoch is returned too.
fn when(rng: &mut Rng, epoch: i64) -> When {
    let t = OffsetDateTime::from_unix_timestamp(epoch).unwrap();
    let ymd = |t: OffsetDateTime| format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day());
    let hms = |t: OffsetDateTime| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    match rng.below(5) {
        0 => When {
            epoch,
            text: epoch.to_string(),
        },
        1 => {
            let midnight = t.replace_time(time::Time::MIDNIGHT);
            When {
                epoch: midnight.unix_timestamp(),
                text: ymd(midnight),
            }
        }
        2 => When {
            epoch,
            text: format!("{}T{}", ymd(t), hms(t)),
        },
        3 => When {
            epoch,
            text: format!("{}T{}Z", ymd(t), hms(t)),
        },
        _ => {
            let (h, m) = [(5, 30), (-8, 0), (9, 0), (-3, -30)][rng.below(4) as usize];
            let local = t.to_offset(UtcOffset::from_hms(h, m, 0).unwrap());
            let sign = if h < 0 || m < 0 { '-' } else { '+' };
            When {
                epoch,
                text: format!("{}T{}{sign}{:02}:{:02}", ymd(local), hms(local), h.abs(), m.abs()),
            }
        }
    }
}

fn generate() -> Vec<Case> {
    let mut rng = Rng(SEED);
    (0..CASES)
        .map(|n| {
            let cookies = n % 4 == 3;
            let scheme = if rng.chance(80) { "https" } else { "http" };
            let host = rng.pick(&[
                "d111111abcdef8.cloudfront.net",
                "d2owqjwir1q8d8.cloudfront.net",
                "cdn.example.com",
            ]);
            let mut segments: Vec<String> = (0..1 + rng.below(4))
                .map(|_| {
                    let s = rng.word(SAFE, 1, 10);
                    if s.bytes().all(|b| b == b'.') {
                        format!("x{s}")
                    } else {
                        s
                    }
                })
                .collect();
            let ext = rng.pick(&["", ".mp4", ".m3u8", ".jpg", ".ts"]);
            segments.last_mut().unwrap().push_str(ext);
            let key_pair_id = format!("K{}", rng.word(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 13, 13));
            let hash = if rng.chance(40) { "SHA256" } else { "SHA1" };
            let expiry = 2_000_000_000 + rng.below(1_000_000_000) as i64;
            let expires = when(&mut rng, expiry);
            let starts = rng.chance(35).then(|| {
                let start = expires.epoch - 1 - rng.below(30 * 86400) as i64;
                when(&mut rng, start)
            });
            let ip = rng.chance(35).then(|| {
                let addr = format!(
                    "{}.{}.{}.{}",
                    1 + rng.below(223),
                    rng.below(256),
                    rng.below(256),
                    rng.below(256)
                );
                if rng.chance(50) {
                    format!("{addr}/{}", 8 + rng.below(25))
                } else {
                    addr
                }
            });
            // Wildcards only in custom cookie policies: a canned policy cannot
            // carry them (and the JS SDK would wrongly sign one canned).
            let wildcard = cookies && (starts.is_some() || ip.is_some()) && rng.chance(40);
            if wildcard {
                *segments.last_mut().unwrap() = "*".to_owned();
            }
            let mut url = format!("{scheme}://{host}/{}", segments.join("/"));
            if !wildcard && rng.chance(40) {
                let pairs: Vec<String> = (0..1 + rng.below(3))
                    .map(|_| {
                        let mut name = rng.word(LOWER, 1, 6);
                        if RESERVED.contains(&name.as_str()) {
                            name.push('x');
                        }
                        format!("{name}={}", rng.word(ALNUM, 0, 8))
                    })
                    .collect();
                url = format!("{url}?{}", pairs.join("&"));
            }
            Case {
                n,
                cookies,
                url,
                key_pair_id,
                hash,
                expires,
                starts,
                ip,
            }
        })
        .collect()
}

#[test]
fn generated_cases_cover_the_space() {
    let cases = generate();
    assert_eq!(cases.len(), CASES);
    let count = |f: &dyn Fn(&Case) -> bool| cases.iter().filter(|c| f(c)).count();
    assert!(
        count(&|c| !c.cookies && c.hash == "SHA1" && !c.is_custom()) >= 8,
        "canned SHA-1 URLs"
    );
    assert!(
        count(&|c| !c.cookies && c.hash == "SHA1" && c.is_custom()) >= 8,
        "custom SHA-1 URLs"
    );
    assert!(count(&|c| c.hash == "SHA256") >= 12);
    assert!(count(&|c| c.cookies) >= 10);
    assert!(count(&|c| c.url.contains('?')) >= 10);
    assert!(count(&|c| c.url.contains('*')) >= 1);
    assert!(count(&|c| c.starts.is_some() && c.ip.is_some()) >= 2);
    for format in ["-", ":", "Z", "+", "T"] {
        assert!(count(&|c| c.expires.text.contains(format)) >= 1, "{format}");
    }
    assert!(count(&|c| !c.expires.text.contains('-')) >= 1, "epoch");
}

// --------------------------------------------------------------- cfsign ----

fn cfsign_args(case: &Case, private_key: &Path) -> Vec<String> {
    let mut args: Vec<String> = if case.cookies {
        vec!["sign-cookies".into(), "--resource".into(), case.url.clone()]
    } else {
        vec!["sign".into(), "--url".into(), case.url.clone()]
    };
    args.extend([
        "--key-pair-id".into(),
        case.key_pair_id.clone(),
        "--private-key".into(),
        path_str(private_key),
    ]);
    args.extend([
        "--date-less-than".into(),
        case.expires.text.clone(),
        "--hash-algorithm".into(),
        case.hash.into(),
    ]);
    if let Some(start) = &case.starts {
        args.extend(["--date-greater-than".into(), start.text.clone()]);
    }
    if let Some(ip) = &case.ip {
        args.extend(["--ip-address".into(), ip.clone()]);
    }
    args
}

fn run_cfsign(args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cfsign")).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "cfsign {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

// -------------------------------------------------------------- AWS CLI ----

#[test]
fn aws_cli_v1_agrees_byte_for_byte() {
    ensure_tools();
    let found = find_aws().and_then(|aws| find_openssl().map(|ssl| (aws, ssl)));
    let ((aws, version), openssl) = match found {
        Ok(found) => found,
        Err(why) => return missing("AWS CLI v1", &why),
    };
    // The AWS CLI v1 loads PKCS#1 only (`rsa.PrivateKey.load_pkcs1`).
    let dir = tempfile::tempdir().unwrap();
    let pkcs1 = dir.path().join("pkcs1.pem");
    let pkcs8 = fixture_key("rsa2048.pem");
    let status = Command::new(openssl)
        .args([
            "rsa",
            "-traditional",
            "-in",
            &path_str(&pkcs8),
            "-out",
            &path_str(&pkcs1),
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl rsa -traditional");

    // v1 has no --hash-algorithm and no cookies: SHA-1 signed URLs only.
    let cases: Vec<Case> = generate()
        .into_iter()
        .filter(|c| !c.cookies && c.hash == "SHA1")
        .collect();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    // Each `aws` start costs ~0.7 s of Python: use both cores.
    let halves = cases.split_at(cases.len() / 2);
    let results: Vec<(Case, String)> = std::thread::scope(|s| {
        let workers: Vec<_> = [halves.0, halves.1]
            .into_iter()
            .map(|part| {
                s.spawn(|| {
                    part.iter()
                        .map(|c| (c.clone(), run_aws(&aws, c, &pkcs1, dir.path())))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let mut custom = 0;
    for (case, theirs) in &results {
        let ours = run_cfsign(&cfsign_args(case, &pkcs8));
        // Byte for byte: neither ends the line when stdout is a pipe.
        assert_eq!(ours, *theirs, "case {} ({}): {case:?}", case.n, version);
        custom += usize::from(theirs.contains("Policy="));
    }
    assert!(
        custom >= 8 && custom + 8 <= results.len(),
        "{custom} custom of {}",
        results.len()
    );
    let _ = writeln!(
        std::io::stderr(),
        "differential: {} signed URLs identical to {version}",
        results.len()
    );
}

fn run_aws(aws: &Path, case: &Case, pkcs1: &Path, scratch: &Path) -> String {
    let mut args = vec!["cloudfront".to_owned(), "sign".to_owned()];
    args.extend([
        "--url".into(),
        case.url.clone(),
        "--key-pair-id".into(),
        case.key_pair_id.clone(),
    ]);
    args.extend(["--private-key".into(), format!("file://{}", pkcs1.display())]);
    args.extend(["--date-less-than".into(), case.expires.text.clone()]);
    if let Some(start) = &case.starts {
        args.extend(["--date-greater-than".into(), start.text.clone()]);
    }
    if let Some(ip) = &case.ip {
        args.extend(["--ip-address".into(), ip.clone()]);
    }
    // No user configuration: `sign` needs neither credentials nor a region.
    let out = Command::new(aws)
        .args(&args)
        .env("AWS_CONFIG_FILE", scratch.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", scratch.join("no-credentials"))
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// ----------------------------------------------------------- JS SDK v3 ----

#[test]
fn js_sdk_v3_agrees_on_parameters_and_signatures() {
    ensure_tools();
    let (node, modules) = match find_js() {
        Ok(found) => found,
        Err(why) => return missing("@aws-sdk/cloudfront-signer", &why),
    };
    let key = fixture_key("rsa2048.pem");
    let cases = generate();
    let batch: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "kind": if c.cookies { "cookies" } else { "url" },
                "url": c.url,
                "keyPairId": c.key_pair_id,
                // ISO 8601 UTC, whole seconds: Math.round(ms / 1000) is exact.
                "dateLessThan": iso(c.expires.epoch),
                "dateGreaterThan": c.starts.as_ref().map(|s| iso(s.epoch)),
                "ipAddress": c.ip,
                "algorithm": c.hash,
            })
        })
        .collect();
    let mut child = Command::new(&node)
        .arg(manifest_dir().join("tests/differential/js_signer.cjs"))
        .arg(&key)
        .env("CFSIGN_DIFF_NODE_MODULES", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&batch).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = reply["version"].as_str().unwrap_or("?").to_owned();
    let results = reply["results"].as_array().unwrap();
    assert_eq!(results.len(), cases.len());

    let (mut exact, mut verified) = (0, 0);
    for (case, theirs) in cases.iter().zip(results) {
        let what = format!(
            "case {} (@aws-sdk/cloudfront-signer {version}): {case:?}\nJS: {theirs}",
            case.n
        );
        assert!(theirs.get("error").is_none(), "{what}");
        let ours = run_cfsign(&cfsign_args(case, &key));
        if case.starts.is_some() && case.ip.is_some() {
            // Condition order differs (JS: DateGreaterThan, IpAddress): the
            // bytes differ, but CloudFront (and cfsign verify) accept both.
            assert_verifies(case, theirs, &what);
            verified += 1;
        } else if case.cookies {
            let ours: BTreeMap<String, String> = serde_json::from_str(&ours).unwrap();
            let theirs: BTreeMap<String, String> = serde_json::from_value(theirs["cookies"].clone()).unwrap();
            assert_eq!(ours, theirs, "{what}");
            exact += 1;
        } else {
            compare_urls(ours.trim_end(), theirs["url"].as_str().unwrap(), &what);
            exact += 1;
        }
    }
    assert!(verified >= 2 && exact >= 40, "{exact} compared, {verified} verified");
    let _ = writeln!(
        std::io::stderr(),
        "differential: {exact} cases identical to @aws-sdk/cloudfront-signer {version}, {verified} cross-verified"
    );
}

/// Same base URL, same user query in the same order, same set of CloudFront
/// parameters with the same values (the signature byte for byte).
fn compare_urls(ours: &str, theirs: &str, what: &str) {
    let split = |url: &str| -> (String, Vec<String>, BTreeMap<String, String>) {
        let (base, query) = url.split_once('?').unwrap();
        let mut user = Vec::new();
        let mut signing = BTreeMap::new();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"].contains(&name) {
                assert!(
                    signing.insert(name.to_owned(), value.to_owned()).is_none(),
                    "{what}: {name} twice"
                );
            } else {
                user.push(pair.to_owned());
            }
        }
        (base.to_owned(), user, signing)
    };
    let (our_base, our_user, our_signing) = split(ours);
    let (their_base, their_user, their_signing) = split(theirs);
    assert_eq!(our_base, their_base, "{what}");
    assert_eq!(our_user, their_user, "{what}");
    assert_eq!(
        our_signing.get("Signature"),
        their_signing.get("Signature"),
        "{what}: signature"
    );
    assert_eq!(our_signing, their_signing, "{what}");
}

/// `cfsign verify` accepts what the JS SDK signed, at a moment and from an
/// address the policy allows.
fn assert_verifies(case: &Case, theirs: &Value, what: &str) {
    let start = case.starts.as_ref().unwrap().epoch;
    let ip = case.ip.as_deref().unwrap().split('/').next().unwrap().to_owned();
    let mut args = vec![
        "verify".to_owned(),
        "--at".into(),
        (start + 1).to_string(),
        "--client-ip".into(),
        ip,
    ];
    args.extend([
        "--public-key".into(),
        format!("{}={}", case.key_pair_id, path_str(&fixture_key("rsa2048.pub.pem"))),
    ]);
    if case.cookies {
        args.extend(["--url".into(), case.url.replace('*', "any/file.ts")]);
        for (name, value) in theirs["cookies"].as_object().unwrap() {
            args.extend(["--cookie".into(), format!("{name}={}", value.as_str().unwrap())]);
        }
    } else {
        args.extend(["--url".into(), theirs["url"].as_str().unwrap().to_owned()]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cfsign")).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{what}\ncfsign verify: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn iso(epoch: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(epoch).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
