//! JWT key rotation on the real binary. For every key source (HMAC secret
//! files, PEM `public_keys`, `jwks_file`, `jwks_url`, and all of them at
//! once) a SIGHUP reload that adds, removes or replaces a key (same file or
//! `kid`, new material) takes effect as soon as "configuration reloaded" is
//! logged: tokens of removed or replaced keys get 401, added and new keys
//! 200, untouched keys keep 200 — and with `jwks_url` set this still holds
//! after a JWKS refresh and after a later one (before the `KeyStore`, a
//! `jwks_url` froze the file keys: reload kept them and every refresh
//! re-merged the ones read at start). A reload that changes `jwks_url` drops
//! the first URL's keys. HMAC secrets shorter than the hash (RFC 7518 §3.2)
//! are refused at start and on reload, naming the file, never printing it.

#![cfg(unix)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cfsign::signing::{KeySpec, PrivateKey};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use crate::harness::binary::{Server, serve_expecting_exit};
use crate::harness::config::{PublicKey, TestConfig};
use crate::harness::fixtures::{now, write_atomic};
use crate::harness::jwks::{self, Jwks, JwksServer, JwtKey, fixture_key};
use crate::harness::net::{client, post};
use crate::harness::tokens::{AUDIENCE, ISSUER, signed};

/// A verification key as the test holds it: where it goes and a token it signed.
#[derive(Clone)]
struct Key {
    /// Unique name (`pem-a2`: the new material of slot `a` of the PEM source).
    id: String,
    /// The HMAC secret's file name, or the `kid`.
    slot: String,
    /// The HMAC secret; empty for a public key.
    secret: Vec<u8>,
    /// The public key as PEM and as JWK (public keys only).
    public: Option<(String, Jwk, Algorithm)>,
    token: String,
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let claims = json!({ "sub": "mailer", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 900, "iat": now() });
    signed(alg, kid, key, &claims)
}

fn secret_key(id: &str, slot: &str, secret: &[u8], alg: Algorithm) -> Key {
    let token = sign(alg, None, &EncodingKey::from_secret(secret));
    new_key(id, slot, secret.to_vec(), None, token)
}

fn new_key(id: &str, slot: &str, secret: Vec<u8>, public: Option<(String, Jwk, Algorithm)>, token: String) -> Key {
    let (id, slot) = (id.to_owned(), slot.to_owned());
    Key {
        id,
        slot,
        secret,
        public,
        token,
    }
}

fn public_key(id: &str, kid: &str, private: &PrivateKey) -> Key {
    let k = JwtKey::from_private(private, kid);
    let pem = private.public_key().unwrap().to_pem().unwrap();
    let token = sign(k.alg, Some(kid), &k.encoding);
    new_key(id, kid, Vec::new(), Some((pem, k.jwk, k.alg)), token)
}

fn generated(spec: KeySpec) -> PrivateKey {
    PrivateKey::generate(spec).unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    Hmac,
    Pem,
    JwksFile,
    JwksUrl,
}

#[derive(Clone, Copy, Debug)]
enum Change {
    Add,
    Remove,
    Replace,
    Keep,
}

impl Change {
    /// Which of a source's keys `[a, b, c, a2]` it holds after the change:
    /// `a`, `b` at start; `c` added, `b` removed, or `a` replaced by `a2`.
    fn after(self) -> &'static [usize] {
        match self {
            Change::Add => &[0, 1, 2],
            Change::Remove => &[0],
            Change::Replace => &[3, 1],
            Change::Keep => &[0, 1],
        }
    }
}

const START: &[usize] = &[0, 1];

/// `[a, b, c, a2]` of a source; `a2` is new material in `a`'s file or kid.
fn source_keys(src: Src) -> [Key; 4] {
    let (ids, p) = (["a", "b", "c", "a2"], format!("{src:?}").to_lowercase());
    if src == Src::Hmac {
        return ids.map(|id| {
            // 32 bytes: just what HS256 needs.
            let (slot, secret) = (format!("{p}-{}.secret", &id[..1]), format!("{id:-<32}"));
            secret_key(&format!("{p}-{id}"), &slot, secret.as_bytes(), Algorithm::HS256)
        });
    }
    let (rsa, ec) = match src {
        Src::Pem => (fixture_key("rsa2048.pem"), fixture_key("ec-p256.pem")),
        _ => (generated(KeySpec::Rsa2048), generated(KeySpec::EcdsaP256)),
    };
    let privates = [rsa, ec, generated(KeySpec::EcdsaP256), generated(KeySpec::Rsa2048)];
    std::array::from_fn(|i| {
        public_key(
            &format!("{p}-{}", ids[i]),
            &format!("{p}-{}", &ids[i][..1]),
            &privates[i],
        )
    })
}

fn pick<'k>(keys: &'k [Key; 4], which: &[usize]) -> Vec<&'k Key> {
    which.iter().map(|&i| &keys[i]).collect()
}

/// The keys of `sources`, but those of `except`.
fn flat<'k>(sources: &[(Src, Vec<&'k Key>)], except: Option<Src>) -> Vec<&'k Key> {
    let wanted = sources.iter().filter(|(s, _)| except != Some(*s));
    wanted.flat_map(|(_, k)| k.iter().copied()).collect()
}

fn jwks_doc(keys: &[&Key]) -> String {
    jwks::jwks_doc(keys.iter().filter_map(|k| Some(&k.public.as_ref()?.1)))
}

/// The whole configuration: `[auth]` with `algorithms` and no key source
/// yet, one distribution, one grant.
fn base_config(dir: &Path, algorithms: &[String]) -> TestConfig {
    let mut c = TestConfig::binary(dir);
    c.server.request_timeout = None;
    c.server.shutdown_grace = Some("1s".into());
    c.auth.algorithms = algorithms.to_vec();
    c.auth.hmac_secret_files.clear();
    c.add_reports();
    c
}

/// Writes the key files of `sources` into `dir` and `dir/config.toml` naming them.
fn write_config(dir: &Path, sources: &[(Src, Vec<&Key>)], jwks_url: Option<&str>) -> PathBuf {
    let mut c = base_config(dir, &["HS256", "RS256", "ES256"].map(String::from));
    for (src, keys) in sources {
        for k in keys {
            let (path, kid) = (dir.join(&k.slot), &k.slot);
            match (&k.public, src) {
                (None, _) => {
                    write_atomic(&path, std::str::from_utf8(&k.secret).unwrap());
                    c.auth.hmac_secret_files.push(path);
                }
                (Some((pem, _, alg)), Src::Pem) => {
                    write_atomic(&path, pem);
                    // The optional `algorithm` binds EC keys; RSA keys go without.
                    let ec = *alg == Algorithm::ES256;
                    c.auth.public_keys.push(PublicKey {
                        kid: kid.clone(),
                        path,
                        algorithm: ec.then(|| "ES256".into()),
                    });
                }
                _ => {}
            }
        }
        match src {
            Src::Hmac | Src::Pem => {}
            Src::JwksFile => {
                write_atomic(&dir.join("jwks.json"), &jwks_doc(keys));
                c.auth.jwks_file = Some(dir.join("jwks.json"));
            }
            Src::JwksUrl => {
                c.auth.jwks_url = Some(jwks_url.expect("a JWKS server").to_owned());
                c.auth.jwks_refresh = Some("1h".into());
                c.auth.jwks_min_refetch = Some("0s".into());
            }
        }
    }
    let config = dir.join("config.toml");
    c.write(&config);
    config
}

/// Starts the binary off the async workers (they serve the JWKS it fetches at start).
async fn start(dir: tempfile::TempDir, config: PathBuf) -> Server {
    let started = tokio::task::spawn_blocking(move || Server::start_in(dir, config, &[]));
    started.await.unwrap()
}

async fn status(server: &Server, token: &str) -> u16 {
    let url = server.url("/v1/signed-urls");
    let (status, _, body) = post(&client(), &url, token, "rotation", &json!({ "key": "uploads/a.pdf" })).await;
    assert!(status != 200 || body["url"].is_string(), "200 without a url: {body}");
    status
}

/// Every key of `keys` gets 200 if it is in `accepted`, else 401.
async fn expect(server: &Server, stage: &str, keys: &[&Key], accepted: &[&Key]) {
    let mut wrong = Vec::new();
    for k in keys {
        let ok = accepted.iter().any(|a| a.id == k.id);
        let want = if ok { 200 } else { 401 };
        let got = status(server, &k.token).await;
        if got != want {
            wrong.push(format!("{}: {got}, expected {want}", k.id));
        }
    }
    assert!(wrong.is_empty(), "{stage}: {wrong:?}\n{}", server.all_logs());
}

/// Polls `done` (bounded) until it holds.
async fn until<F: Future<Output = bool>>(server: &Server, what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "{what} within 10 s:\n{}", server.all_logs());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn count_logs(server: &Server, message: &str) -> usize {
    server.json_lines().iter().filter(|v| v["message"] == message).count()
}

/// SIGHUP, then waits for the next "configuration reloaded".
async fn reload(server: &Server) {
    let before = count_logs(server, "configuration reloaded");
    server.signal("HUP");
    until(server, "configuration reloaded", || async {
        assert!(!server.all_logs().contains("reload refused"), "{}", server.all_logs());
        count_logs(server, "configuration reloaded") > before
    })
    .await;
}

/// `cfsign_jwks_refresh_total` with `result` (any result: `""`).
async fn refreshes(server: &Server, result: &str) -> usize {
    let text = server.metrics_text().await;
    let lines = text
        .lines()
        .filter(|l| l.starts_with("cfsign_jwks_refresh_total{") && l.contains(result));
    lines
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as usize
}

/// Waits until a JWKS fetch that started after this call has been handled:
/// fetches run one after another, each counted once done, so the (h0+1)-th
/// is the first request the servers answered after now. A token naming an
/// unknown `kid` asks for it (`jwks_min_refetch = 0s`).
async fn jwks_refresh(server: &Server, idps: &[&JwksServer], poke: &str) {
    let h0: usize = idps.iter().map(|i| i.hits()).sum();
    until(server, "a JWKS refresh", || async {
        assert_eq!(status(server, poke).await, 401, "a token of an unknown kid");
        refreshes(server, "").await > h0
    })
    .await;
}

fn poke_token() -> String {
    public_key("poke", "never-published", &generated(KeySpec::EcdsaP256)).token
}

/// One matrix row on its own server: start with `a`, `b` in each source,
/// change each source as told, SIGHUP, check; with `jwks_url`, check again
/// after a refresh and after a later one.
async fn run_row(table: Arc<Vec<(Src, [Key; 4])>>, changes: Vec<(Src, Change)>, poke: Arc<String>) {
    let name = format!("{changes:?}");
    let keys = |src: Src| &table.iter().find(|(s, _)| *s == src).unwrap().1;
    let holds = |which: fn(Change) -> &'static [usize]| -> Vec<(Src, Vec<&Key>)> {
        changes.iter().map(|(s, c)| (*s, pick(keys(*s), which(*c)))).collect()
    };
    let (before, after, every) = (holds(|_| START), holds(Change::after), holds(|_| &[0, 1, 2, 3]));
    let (all, local) = (flat(&every, None), flat(&every, Some(Src::JwksUrl)));
    let (old, new) = (flat(&before, None), flat(&after, None));
    let url_change = changes.iter().find(|(s, _)| *s == Src::JwksUrl).map(|(_, c)| *c);
    let idp = match url_change {
        Some(_) => Some(JwksServer::serving(jwks_doc(&pick(keys(Src::JwksUrl), START))).await),
        None => None,
    };
    let url = idp.as_ref().map(|i| i.url.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &before, url.as_deref());
    let server = start(dir, config).await;
    expect(&server, &format!("{name} at start"), &all, &old).await;

    write_config(server.dir.path(), &after, url.as_deref());
    if let (Some(idp), Some(change)) = (&idp, url_change) {
        idp.set(Jwks::Good(jwks_doc(&pick(keys(Src::JwksUrl), change.after()))));
    }
    reload(&server).await;
    // File sources change with the reload itself.
    expect(&server, &format!("{name} after SIGHUP"), &local, &new).await;
    if let Some(idp) = &idp {
        for stage in ["after SIGHUP and a JWKS refresh", "after a later JWKS refresh"] {
            jwks_refresh(&server, &[idp], &poke).await;
            expect(&server, &format!("{name} {stage}"), &all, &new).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_removes_and_replaces_keys_of_every_source() {
    let (hmac, pem, jf, ju) = (Src::Hmac, Src::Pem, Src::JwksFile, Src::JwksUrl);
    let table = tokio::task::spawn_blocking(move || [hmac, pem, jf, ju].map(|s| (s, source_keys(s))).to_vec());
    let table = Arc::new(table.await.unwrap());
    let poke = Arc::new(poke_token());
    let mut rows: Vec<Vec<(Src, Change)>> = Vec::new();
    for change in [Change::Add, Change::Remove, Change::Replace] {
        rows.extend([hmac, pem, jf, ju].map(|s| vec![(s, change)]));
        rows.push([hmac, pem, jf, ju].map(|s| (s, change)).to_vec());
    }
    // The hole: jwks_url set, secret replaced, a public key removed, JWKS as before.
    let hole = [(hmac, Change::Replace), (pem, Change::Remove), (jf, Change::Add)];
    rows.push([hole.as_slice(), &[(ju, Change::Keep)]].concat());
    let mut tasks = tokio::task::JoinSet::new();
    for row in rows {
        tasks.spawn(run_row(Arc::clone(&table), row, Arc::clone(&poke)));
    }
    let mut failures = Vec::new();
    while let Some(result) = tasks.join_next().await {
        if let Err(e) = result {
            let panic = e.into_panic();
            let text = panic.downcast_ref::<String>().cloned();
            failures.push(
                text.or_else(|| Some(panic.downcast_ref::<&str>()?.to_string()))
                    .unwrap_or_default(),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_that_changes_jwks_url_drops_the_first_urls_keys() {
    let k1 = public_key("k1", "first-1", &generated(KeySpec::EcdsaP256));
    let k2 = public_key("k2", "second-1", &generated(KeySpec::EcdsaP256));
    let poke = poke_token();
    let (first, second) = (
        JwksServer::serving(jwks_doc(&[&k1])).await,
        JwksServer::serving(jwks_doc(&[&k2])).await,
    );
    // The second URL answers garbage at first: nothing can replace the first's keys.
    second.set(Jwks::Good("not a JWKS yet".into()));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[(Src::JwksUrl, vec![])], Some(&first.url));
    let server = start(dir, config).await;
    expect(&server, "at start", &[&k1, &k2], &[&k1]).await;
    // No fetch of the first URL in flight when the URL changes.
    let settled = || async { refreshes(&server, "").await == first.hits() };
    until(&server, "JWKS fetches settled", settled).await;
    let first_hits = first.hits();

    write_config(server.dir.path(), &[(Src::JwksUrl, vec![])], Some(&second.url));
    reload(&server).await;
    expect(&server, "after the reload", &[&k1, &k2], &[]).await;
    let failed = || async { refreshes(&server, r#"result="failure""#).await > 0 };
    until(&server, "the second URL's garbage refused", failed).await;
    expect(&server, "after a failed fetch of the second URL", &[&k1, &k2], &[]).await;
    second.set(Jwks::Good(jwks_doc(&[&k2])));
    let accepted = || async { status(&server, &k2.token).await == 200 };
    until(&server, "second URL's key accepted", accepted).await;
    jwks_refresh(&server, &[&first, &second], &poke).await;
    expect(&server, "after a later refresh", &[&k1, &k2], &[&k2]).await;
    assert_eq!(first.hits(), first_hits, "the first URL was fetched after the reload");
}

/// An 8-byte secret: distinctive, so the output can be searched for it.
const SHORT: &[u8] = b"Zq8#Kp2!";

fn assert_never_printed(secret: &[u8], lines: &[String], case: &str) {
    let secret = String::from_utf8_lossy(secret);
    let secret = secret.trim();
    let printed = !secret.is_empty() && lines.iter().any(|l| l.contains(secret));
    assert!(!printed, "{case}: secret printed: {lines:?}");
}

fn hmac_config(dir: &Path, secret: &[u8], algorithms: &str) -> (PathBuf, PathBuf) {
    let path = dir.join("hmac.secret");
    std::fs::write(&path, secret).unwrap();
    let config = dir.join("config.toml");
    let mut c = base_config(dir, &serde_json::from_str::<Vec<String>>(algorithms).unwrap());
    c.auth.hmac_secret_files = vec![path.clone()];
    c.write(&config);
    (path, config)
}

#[test]
fn hmac_secrets_shorter_than_the_hash_are_refused_at_start() {
    let cases: [(&str, &[u8], &str, usize); 6] = [
        ("empty", b"", r#"["HS256"]"#, 32),
        ("newline only", b"\n", r#"["HS256"]"#, 32),
        ("8 bytes", SHORT, r#"["HS256"]"#, 32),
        ("31 bytes", &[b'x'; 31], r#"["HS256"]"#, 32),
        ("40 bytes, HS512", &[b'q'; 40], r#"["HS512"]"#, 64),
        ("40 bytes, HS256+HS512", &[b'q'; 40], r#"["HS256", "HS512"]"#, 64),
    ];
    std::thread::scope(|scope| {
        for (case, secret, algorithms, need) in cases {
            scope.spawn(move || {
                let dir = tempfile::tempdir().unwrap();
                let (path, config) = hmac_config(dir.path(), secret, algorithms);
                let out = serve_expecting_exit(&config, Duration::from_secs(10));
                assert!(!out.status.success(), "{case}: started: {:?}", out.stdout);
                let named = out.stderr.iter().any(|l| {
                    l.starts_with("error:")
                        && l.contains(&path.display().to_string())
                        && l.contains(&format!("is {} bytes", secret.len()))
                        && l.contains(&format!("at least {need}"))
                });
                assert!(named, "{case}: no error naming the file: {:?}", out.stderr);
                assert_never_printed(secret, &[out.stdout, out.stderr].concat(), case);
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_secret_on_reload_is_refused_and_the_old_secret_keeps_working() {
    // HS512 needs 64 bytes: 64 are accepted at start, 40 refused on reload.
    let (old_secret, short_secret) = (format!("{:-<64}", "rotation-old-hs512-secret"), SHORT.repeat(5));
    let dir = tempfile::tempdir().unwrap();
    let (path, config) = hmac_config(dir.path(), old_secret.as_bytes(), r#"["HS512"]"#);
    let server = start(dir, config).await;
    let old = secret_key("old", "", old_secret.as_bytes(), Algorithm::HS512);
    let short = secret_key("short", "", &short_secret, Algorithm::HS512);
    expect(&server, "at start", &[&old, &short], &[&old]).await;
    std::fs::write(&path, &short_secret).unwrap();
    server.signal("HUP");
    let problem = "the HMAC secret is 40 bytes; HS512 needs at least 64";
    server.expect_reload_refused(&path, problem).await;
    expect(&server, "after the refused reload", &[&old, &short], &[&old]).await;
    assert_eq!(count_logs(&server, "configuration reloaded"), 0);
    let output = [server.stdout(), server.stderr()].concat();
    assert_never_printed(&short_secret, &output, "reload");
    assert_never_printed(old_secret.as_bytes(), &output, "reload");
}
