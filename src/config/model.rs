//! The configuration file's shape. Every field is documented here and in
//! `config/example.toml`; unknown keys are rejected so a typo fails start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use super::issuers::IssuerEntry;
use crate::keys::{KeySource, KmsSource, Pkcs11Source, RemoteLimits};
use crate::signing::HashAlgorithm;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener, limits and proxies.
    #[serde(default)]
    pub server: ServerConfig,
    /// The signing worker pool.
    #[serde(default)]
    pub signing: SigningConfig,
    /// How callers authenticate (JWT).
    pub auth: AuthConfig,
    /// Browser origins allowed to call the API.
    #[serde(default)]
    pub cors: CorsConfig,
    /// CloudFront distributions (or behaviours) this service signs for.
    #[serde(default)]
    pub distributions: Vec<DistributionConfig>,
    /// Who may sign what. Nothing is allowed unless a grant says so.
    #[serde(default)]
    pub grants: Vec<GrantConfig>,
    /// The audit trail: sink, failure policy, durability, chain key.
    #[serde(default)]
    pub audit: super::AuditConfig,
}

/// Listener, limits and proxies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`--listen` / `CFSIGN_LISTEN` override it).
    pub listen: SocketAddr,
    /// Longest time a request may take, body included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest time to receive a request's head (request line and headers);
    /// a client trickling them is disconnected (slowloris). A new connection
    /// must have sent its first complete request head (HTTP/2: preface,
    /// SETTINGS and first request) within this time too, or it is dropped.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Longest time a keep-alive connection (HTTP/1.1 or HTTP/2) may stay
    /// open with no request in flight; then it is closed (HTTP/2: GOAWAY).
    /// HTTP/1.1 connections also obey `header_read_timeout` while they wait
    /// for their next request, so they close after the shorter of the two.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most connections open at once; more wait in the kernel's backlog.
    /// Lowered at start to fit the open-files limit (`RLIMIT_NOFILE`,
    /// whose soft limit is first raised to the hard one), less 64.
    pub max_connections: usize,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Largest accepted body on `/v1/signed-urls/batch` (1,000 items).
    pub batch_body_limit_bytes: usize,
    /// Most requests handled at once; more are answered 503 `overloaded`
    /// with `Retry-After` at once.
    pub max_concurrent_requests: usize,
    /// Threads running HTTP, authentication and signature-cache hits (the
    /// async runtime); RSA work runs on `signing.workers` instead.
    /// 0 = one per core: see [`ServerConfig::io_threads`].
    pub io_threads: usize,
    /// After SIGTERM/Ctrl-C, time during which `/readyz` is already 503 but
    /// new connections are still served, so load balancers can stop routing
    /// here first (Kubernetes: a few seconds; one machine: 0).
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    /// Time given to in-flight requests after SIGTERM/Ctrl-C (and the drain delay).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// One INFO access line per request (method, route template, status,
    /// latency in ms, request id; target `cfsign::access`).
    pub access_log: bool,
    /// Serve `/metrics` on this address (a port only the scraper reaches).
    pub metrics_listen: Option<SocketAddr>,
    /// Also serve `/metrics` on the main listener. Off by default: the
    /// exposition is unauthenticated and names every distribution and key
    /// pair id, inactive rotation keys included.
    pub public_metrics: bool,
    /// Proxies (IPv4 CIDRs) whose `X-Forwarded-For` is believed when a caller
    /// asks to bind a URL to its own address (`"ip_address": "client"`).
    pub trusted_proxies: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            body_limit_bytes: 64 * 1024,
            batch_body_limit_bytes: 1024 * 1024,
            max_concurrent_requests: 1024,
            io_threads: 0,
            drain_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(20),
            access_log: true,
            metrics_listen: None,
            public_metrics: false,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// The runtime's worker threads: as configured, or one per core.
    ///
    /// Why not fewer, although the signing workers take one per core too:
    /// the runtime threads run under `SCHED_BATCH` (`cli::serve`), so their
    /// wake-ups do not preempt a signature, and when the signers are idle
    /// (signature-cache hits, ECDSA keys) a single runtime thread was the
    /// limit with most of a core left idle (README, Performance: measured
    /// in alternating rounds on 2 vCPUs).
    pub fn io_threads(&self) -> usize {
        match self.io_threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            n => n,
        }
    }
}

/// The signing worker pool: RSA work runs here, off the async reactor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// Threads that sign; 0 means one per CPU core.
    pub workers: usize,
    /// Signing jobs allowed to wait for a worker; beyond it the answer is 503.
    pub queue_depth: usize,
    /// Signatures kept per distribution (policy → signature); 0 disables.
    /// RSA PKCS#1 v1.5 is deterministic, so a hit returns the very same URL.
    pub cache_entries: usize,
    /// Verified tokens kept (by SHA-256 of the token) until their `exp`; 0 disables.
    pub token_cache_entries: usize,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            queue_depth: 256,
            cache_entries: 10_000,
            token_cache_entries: 10_000,
        }
    }
}

/// JWT authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The trusted issuers: `["…"]` (one issuer, keys below) or one
    /// `[[auth.issuers]]` table each (keys of its own), see [`IssuerEntry`].
    pub issuers: Vec<IssuerEntry>,
    /// Accepted `aud` values; the default of issuers naming none.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Allowed algorithms, e.g. `["RS256"]`; the default of issuers naming
    /// none. `none` is never allowed.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Clock tolerance for `exp`/`nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Single-issuer form: files holding HMAC secrets (raw bytes) for HS256/384/512.
    #[serde(default)]
    pub hmac_secret_files: Vec<PathBuf>,
    /// Single-issuer form: PEM public keys, selected by the token's `kid`.
    #[serde(default)]
    pub public_keys: Vec<PublicKeyConfig>,
    /// Single-issuer form: a JWKS document on disk.
    pub jwks_file: Option<PathBuf>,
    /// Single-issuer form: a JWKS URL, fetched at start and refreshed in the background.
    pub jwks_url: Option<String>,
    /// How often every issuer's JWKS is refreshed.
    #[serde(default = "default_jwks_refresh", with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// Shortest time between two early refetches caused by an unknown `kid`.
    #[serde(default = "default_jwks_min_refetch", with = "humantime_serde")]
    pub jwks_min_refetch: Duration,
    /// Claim holding the caller's groups (string or array), for grants;
    /// the default of issuers whose `claims.groups` names none.
    #[serde(default = "default_group_claim")]
    pub group_claim: String,
}

fn default_leeway() -> u64 {
    30
}

fn default_jwks_refresh() -> Duration {
    Duration::from_secs(300)
}

fn default_jwks_min_refetch() -> Duration {
    Duration::from_secs(30)
}

fn default_group_claim() -> String {
    "groups".to_owned()
}

/// One PEM public key for verifying tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyConfig {
    /// The `kid` tokens name this key by.
    pub kid: String,
    /// Path to the PEM (`PUBLIC KEY`) file: RSA, EC P-256/P-384 or Ed25519.
    pub path: PathBuf,
    /// The one algorithm this key verifies (e.g. `"RS256"`); without it,
    /// any allowed algorithm of the key's type.
    pub algorithm: Option<String>,
}

/// CORS for browser callers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`); `*` is refused.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Request headers browsers may send besides the three the API reads
    /// (`authorization`, `content-type`, `x-request-id`, always allowed),
    /// e.g. `["traceparent"]`.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// How long browsers may cache a preflight answer.
    #[serde(default, with = "humantime_serde::option")]
    pub max_age: Option<Duration>,
}

/// A CloudFront distribution (or one restricted behaviour of it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionConfig {
    /// Name callers use (`"distribution": "reports"`).
    pub name: String,
    /// Viewer-facing base URL, e.g. `https://cdn.example.com`.
    pub domain: String,
    /// Signing keys; exactly one has `active = true` (or there is only one).
    pub keys: Vec<SigningKeyConfig>,
    /// Default digest: `SHA1` (CloudFront's default) or `SHA256`.
    #[serde(default)]
    pub hash_algorithm: HashAlgorithm,
    /// Only paths under this prefix may be signed, e.g. `/uploads`.
    pub path_prefix: Option<String>,
    /// Round relative expiries up to a multiple of this (e.g. `5m`), never
    /// past the grant's `max_ttl`: repeated requests then share one policy,
    /// hence one cached signature and one cacheable URL.
    #[serde(default, with = "humantime_serde::option")]
    pub expiry_granularity: Option<Duration>,
    /// Attributes of signed cookies.
    #[serde(default)]
    pub cookies: CookieConfig,
}

/// One CloudFront public key (in a key group) and its private half: in a
/// file, on a PKCS#11 token, or in AWS KMS. Read as [`RawSigningKey`] and
/// checked into this shape at load.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawSigningKey")]
pub struct SigningKeyConfig {
    /// The public key's id in CloudFront, e.g. `K2JCJMDEHXQW5F`.
    pub key_pair_id: String,
    /// Where the private key is.
    pub source: KeySource,
    /// The public key registered in CloudFront, compared at start with the
    /// public half a token or KMS key reports (any mismatch is a start-up error).
    pub public_key_file: Option<PathBuf>,
    /// Bounds on a vault-held key's calls (ignored for file keys).
    pub limits: RemoteLimits,
    /// Whether new signatures use this key.
    pub active: bool,
}

/// Default bounds of a PKCS#11 key: a token serves a few sessions at once.
const PKCS11_LIMITS: RemoteLimits = RemoteLimits {
    concurrency: 4,
    timeout: Duration::from_secs(2),
};
/// Default bounds of a KMS key: requests over the network, quota-limited.
const KMS_LIMITS: RemoteLimits = RemoteLimits {
    concurrency: 32,
    timeout: Duration::from_secs(2),
};

/// A `[[distributions]].keys` entry as written: exactly one of
/// `private_key_file`, `pkcs11`, `kms`, with the settings of that source only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigningKey {
    key_pair_id: String,
    /// PEM private key: PKCS#1, PKCS#8, SEC1 or encrypted PKCS#8.
    private_key_file: Option<PathBuf>,
    /// File holding the passphrase of an encrypted key.
    passphrase_file: Option<PathBuf>,
    /// RFC 7512 URI of a key on a PKCS#11 token.
    pkcs11: Option<String>,
    /// File holding the token's user PIN.
    pin_file: Option<PathBuf>,
    /// AWS KMS key id or ARN.
    kms: Option<String>,
    /// AWS region of the KMS key.
    region: Option<String>,
    /// Another KMS endpoint.
    endpoint_url: Option<String>,
    public_key_file: Option<PathBuf>,
    /// Calls at once to a vault-held key.
    max_concurrency: Option<usize>,
    /// Deadline of one call to a vault-held key.
    #[serde(default, with = "humantime_serde::option")]
    timeout: Option<Duration>,
    #[serde(default)]
    active: bool,
}

impl TryFrom<RawSigningKey> for SigningKeyConfig {
    type Error = String;

    fn try_from(raw: RawSigningKey) -> Result<Self, String> {
        let only = |source: &str, given: &[(&str, bool)]| -> Result<(), String> {
            match given.iter().find(|(_, present)| *present) {
                Some((name, _)) => Err(format!("{name} does not apply to a {source} key")),
                None => Ok(()),
            }
        };
        let (source, defaults) = match (raw.private_key_file, raw.pkcs11, raw.kms) {
            (Some(path), None, None) => {
                only(
                    "file",
                    &[
                        ("pin_file", raw.pin_file.is_some()),
                        ("region", raw.region.is_some()),
                        ("endpoint_url", raw.endpoint_url.is_some()),
                        ("max_concurrency", raw.max_concurrency.is_some()),
                        ("timeout", raw.timeout.is_some()),
                    ],
                )?;
                let passphrase_file = raw.passphrase_file;
                // Limits bound vault calls only; a file key signs on the pool.
                (KeySource::File { path, passphrase_file }, PKCS11_LIMITS)
            }
            (None, Some(uri), None) => {
                only(
                    "PKCS#11",
                    &[
                        ("passphrase_file", raw.passphrase_file.is_some()),
                        ("region", raw.region.is_some()),
                        ("endpoint_url", raw.endpoint_url.is_some()),
                    ],
                )?;
                // Parsed now, so a bad URI is a configuration error in any
                // build (and a PIN written into it is refused, not echoed).
                crate::keys::pkcs11_uri::Pkcs11Uri::parse(&uri).map_err(|e| format!("pkcs11: {e}"))?;
                let pin_file = raw.pin_file;
                (KeySource::Pkcs11(Pkcs11Source { uri, pin_file }), PKCS11_LIMITS)
            }
            (None, None, Some(key_id)) => {
                only(
                    "KMS",
                    &[
                        ("passphrase_file", raw.passphrase_file.is_some()),
                        ("pin_file", raw.pin_file.is_some()),
                    ],
                )?;
                if key_id.trim().is_empty() {
                    return Err("kms: a key id or ARN is required".into());
                }
                let source = KmsSource {
                    key_id,
                    region: raw.region,
                    endpoint_url: raw.endpoint_url,
                };
                (KeySource::Kms(source), KMS_LIMITS)
            }
            (None, None, None) => {
                return Err(
                    // "missing field": the diagnosis names missing keys itself.
                    "missing field `private_key_file` (or `pkcs11` for a key on a token, `kms` for an AWS KMS key)"
                        .into(),
                );
            }
            _ => return Err("give exactly one of private_key_file, pkcs11 and kms".into()),
        };
        if raw.max_concurrency == Some(0) {
            return Err("max_concurrency must be at least 1".into());
        }
        if raw.timeout.is_some_and(|t| t.is_zero()) {
            return Err("timeout must be more than 0s".into());
        }
        let limits = RemoteLimits {
            concurrency: raw.max_concurrency.unwrap_or(defaults.concurrency),
            timeout: raw.timeout.unwrap_or(defaults.timeout),
        };
        Ok(Self {
            key_pair_id: raw.key_pair_id,
            source,
            public_key_file: raw.public_key_file,
            limits,
            active: raw.active,
        })
    }
}

/// `SameSite` attribute of signed cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum SameSite {
    /// Sent on same-site requests and top-level navigations.
    #[default]
    Lax,
    /// Same-site requests only.
    Strict,
    /// Sent cross-site too; requires `secure`.
    None,
}

/// Attributes of the `Set-Cookie` headers for signed cookies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookieConfig {
    /// `Domain=`; e.g. `example.com` so both `api.` and `cdn.` see it.
    pub domain: Option<String>,
    /// `Path=`.
    pub path: String,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite=`.
    pub same_site: SameSite,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            domain: None,
            path: "/".to_owned(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
        }
    }
}

/// Who may sign what. A grant applies when every matcher it names matches
/// the token (any listed value within one matcher).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantConfig {
    /// Name shown in audit events and `/v1/grants/me`.
    pub name: String,
    /// Exact `iss` values (configured issuers) whose tokens this grant
    /// applies to; empty: every issuer. Required for subject, client or
    /// group matchers when several issuers are trusted.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Exact `sub` values.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Exact `azp` or `client_id` values.
    #[serde(default)]
    pub clients: Vec<String>,
    /// Scopes, any of which must be in `scope` (space-separated) or `scp`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Groups, any of which must be in the group claim.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Distributions (by name) this grant covers.
    pub distributions: Vec<String>,
    /// The distribution used when a request names none and the caller's
    /// grants cover several (one of `distributions`). Lets a second
    /// distribution be granted without breaking callers that name none.
    pub default_distribution: Option<String>,
    /// URL path patterns (`*` any run, `?` one character), e.g. `/uploads/*`;
    /// a whole segment may be `{sub}` or `{claim:NAME}`, filled per caller
    /// (`/users/{sub}/*`).
    pub allow: Vec<String>,
    /// Longest lifetime a caller may ask for.
    #[serde(with = "humantime_serde")]
    pub max_ttl: Duration,
    /// Lifetime when the request names none (capped by `max_ttl`).
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub default_ttl: Duration,
    /// May sign wildcard policies (`policy_resource`, cookie patterns).
    #[serde(default)]
    pub allow_wildcard_policy: bool,
    /// May ask for signed cookies.
    #[serde(default)]
    pub allow_cookies: bool,
    /// May bind URLs to an IP range.
    #[serde(default)]
    pub allow_ip_binding: bool,
}

fn default_ttl() -> Duration {
    Duration::from_secs(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(toml: &str) -> Result<SigningKeyConfig, String> {
        toml::from_str::<SigningKeyConfig>(&format!("key_pair_id = \"K2TEST\"\n{toml}"))
            .map_err(|e| e.message().to_owned())
    }

    #[test]
    fn each_key_names_exactly_one_source_with_only_its_settings() {
        let file = key("private_key_file = \"/k.pem\"").unwrap();
        assert_eq!(file.source.kind(), "file");
        let token = key("pkcs11 = \"pkcs11:token=cf;object=k1\"\npin_file = \"/pin\"\nmax_concurrency = 2").unwrap();
        assert_eq!(token.source.kind(), "pkcs11");
        assert_eq!(token.limits.concurrency, 2);
        assert_eq!(token.limits.timeout, Duration::from_secs(2));
        let kms = key("kms = \"arn:aws:kms:eu-west-1:111122223333:key/1\"\nregion = \"eu-west-1\"\ntimeout = \"5s\"")
            .unwrap();
        assert!(!kms.source.signs_sha1());
        assert_eq!(
            kms.limits,
            RemoteLimits {
                concurrency: 32,
                timeout: Duration::from_secs(5)
            }
        );

        for (toml, says) in [
            ("", "missing field `private_key_file`"),
            ("private_key_file = \"/k\"\nkms = \"k\"", "exactly one of"),
            ("pkcs11 = \"pkcs11:a\"\nkms = \"k\"", "exactly one of"),
            (
                "private_key_file = \"/k\"\npin_file = \"/p\"",
                "pin_file does not apply to a file key",
            ),
            ("kms = \"k\"\npin_file = \"/p\"", "pin_file does not apply to a KMS key"),
            (
                "pkcs11 = \"pkcs11:a\"\nregion = \"x\"",
                "region does not apply to a PKCS#11 key",
            ),
            ("pkcs11 = \"token=cf\"", "RFC 7512"),
            ("pkcs11 = \"pkcs11:tokn=cf\"", "pkcs11: unknown path attribute \"tokn\""),
            (
                "pkcs11 = \"pkcs11:object=k?pin-value=1234\"",
                "secret in the wrong place",
            ),
            ("kms = \" \"", "key id or ARN"),
            ("kms = \"k\"\nmax_concurrency = 0", "at least 1"),
            ("kms = \"k\"\ntimeout = \"0s\"", "more than 0s"),
            ("kms = \"k\"\npassword = \"x\"", "unknown field"),
        ] {
            let e = key(toml).unwrap_err();
            assert!(e.contains(says), "{toml:?}: {e}");
        }
    }
}
