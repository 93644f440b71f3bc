//! `cfsign sign` and `cfsign sign-cookies`: the flags of `aws cloudfront sign`
//! / `sign-cookies`, and the same output.

use std::process::ExitCode;
use std::str::FromStr;

use clap::{ArgGroup, Args, ValueEnum};
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::ser::{PrettyFormatter, Serializer};

use crate::signing::resource::{InputError, encode_pattern_chars, encode_url_chars};
use crate::signing::wildcard::resource_matches;
use crate::signing::{
    CidrV4, HashAlgorithm, KeyPairId, Policy, PolicyError, ResourcePattern, SignableUrl, SignedCookies, signer,
};

use super::error::CliError;
use super::input::{emit, emit_line};
use super::signing_key::{CliKey, VaultFlags};
use super::time;

/// `cfsign sign`: prints a signed URL.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cfsign sign --url https://d111111abcdef8.cloudfront.net/video.mp4 \\
      --key-pair-id K2JCJMDEHXQW5F --private-key file://private_key.pem --expires-in 1h
  cfsign sign --url 'https://cdn.example.com/hls/index.m3u8' --policy-resource 'https://cdn.example.com/hls/*' \\
      --key-pair-id K2JCJMDEHXQW5F --private-key key.pem --date-less-than 2026-12-31 --ip-address 192.0.2.0/24

Without --date-greater-than, --ip-address or a different --policy-resource the URL uses a canned
policy (Expires=); otherwise a custom policy (Policy=). The signed URL is a credential until it expires.
Like the AWS CLI, the URL is printed without a line ending (with one on a terminal).")]
pub struct SignArgs {
    /// The URL to sign, percent-encoded exactly as viewers will request it (no fragment)
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Percent-encode what --url may not hold raw (space, non-ASCII, quotes..., and * as %2A) before signing
    #[arg(long)]
    pub encode: bool,

    /// Grant this resource instead of the URL itself; may hold * and ? wildcards (forces a custom policy)
    #[arg(long, value_name = "PATTERN")]
    pub policy_resource: Option<String>,

    #[command(flatten)]
    pub signing: SigningArgs,
}

/// `cfsign sign-cookies`: prints the signed cookies as JSON.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  cfsign sign-cookies --resource 'https://cdn.example.com/private/*' \\
      --key-pair-id K2JCJMDEHXQW5F --private-key key.pem --expires-in 12h

Prints {\"CloudFront-Expires\" or \"CloudFront-Policy\", \"CloudFront-Signature\", \"CloudFront-Key-Pair-Id\"
[, \"CloudFront-Hash-Algorithm\"]}. Set each as a cookie (Secure; HttpOnly; a precise Domain and Path).
A resource with wildcards always gets a custom policy (CloudFront-Policy).")]
pub struct SignCookiesArgs {
    /// The URL or URL pattern the cookies grant; may hold * and ? wildcards
    #[arg(long, value_name = "URL_OR_PATTERN")]
    pub resource: String,

    #[command(flatten)]
    pub signing: SigningArgs,
}

/// Flags shared by `sign` and `sign-cookies`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("expiry").required(true).args(["date_less_than", "expires_in"])))]
pub struct SigningArgs {
    /// ID of the public key in the CloudFront key group (e.g. K2JCJMDEHXQW5F)
    #[arg(long, value_name = "ID")]
    pub key_pair_id: String,

    /// The PEM private key itself (as the AWS CLI takes it), file://path, a path, or - for stdin: PKCS#8, PKCS#1 or SEC1 (RSA-2048 or ECDSA P-256); or a key that stays in its vault: a pkcs11: URI (RFC 7512) or kms:KEY-ID-OR-ARN
    // Hyphen values are let through: `-----BEGIN ...` contents and `-`.
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    pub private_key: String,

    /// File holding the passphrase of an encrypted PKCS#8 key (a trailing newline is ignored)
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<String>,

    /// File holding the token's user PIN, for a pkcs11: key (a trailing newline is ignored)
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<String>,

    /// AWS region of a kms: key (default: the key ARN's, else the AWS environment's)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Another AWS KMS endpoint for a kms: key (a VPC endpoint, a local KMS)
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Expiry: the URL or cookies stop working at this time
    #[arg(long, value_name = "DATE", long_help = format!("Expiry: the URL or cookies stop working at this time. Formats: {}.", crate::dates::FORMATS),
        conflicts_with = "expires_in")]
    pub date_less_than: Option<String>,

    /// Expiry relative to now, e.g. 90s, 15m, 12h, 7d, "1h 30m" (instead of --date-less-than)
    #[arg(long, value_name = "DURATION")]
    pub expires_in: Option<String>,

    /// Start: not valid on or before this time (custom policy)
    #[arg(long, value_name = "DATE", long_help = format!("Start: not valid on or before this time (makes the policy custom). Formats: {}.", crate::dates::FORMATS))]
    pub date_greater_than: Option<String>,

    /// Only viewers from this IPv4 address or CIDR range, e.g. 192.0.2.7 or 192.0.2.0/24 (custom policy)
    #[arg(long, value_name = "IP[/BITS]")]
    pub ip_address: Option<String>,

    /// Digest signed; SHA256 adds Hash-Algorithm=SHA256 to the output
    #[arg(
        long,
        value_enum,
        value_name = "ALGORITHM",
        default_value = "SHA1",
        ignore_case = true
    )]
    pub hash_algorithm: HashArg,
}

/// `--hash-algorithm` values, spelled as CloudFront spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HashArg {
    /// SHA-1, CloudFront's default (no Hash-Algorithm parameter)
    #[value(name = "SHA1")]
    Sha1,
    /// SHA-256 (CloudFront since April 2026)
    #[value(name = "SHA256")]
    Sha256,
}

impl From<HashArg> for HashAlgorithm {
    fn from(arg: HashArg) -> Self {
        match arg {
            HashArg::Sha1 => HashAlgorithm::Sha1,
            HashArg::Sha256 => HashAlgorithm::Sha256,
        }
    }
}

/// Runs `cfsign sign`.
pub fn sign(args: SignArgs) -> Result<ExitCode, CliError> {
    let url: SignableUrl = if args.encode {
        parse("--url", &encode_url_chars(&args.url))?
    } else {
        args.url.parse().map_err(|source| url_refused(&args.url, source))?
    };
    let resource = match &args.policy_resource {
        None => ResourcePattern::from(url.clone()),
        Some(pattern) => {
            let resource: ResourcePattern = pattern
                .parse()
                .map_err(|source| pattern_refused("--policy-resource", pattern, source))?;
            if !resource_matches(resource.as_str(), url.as_str()) {
                return Err(CliError::ResourceMismatch {
                    resource: resource.to_string(),
                    url: url.to_string(),
                });
            }
            resource
        }
    };
    let ready = args.signing.prepare(resource)?;
    let json = ready.policy.to_json();
    let signature = ready.key.signature(&json, ready.hash)?;
    let signed = signer::assemble_url(&ready.key_pair_id, &url, &ready.policy, &json, ready.hash, &signature);
    emit_line(&signed.url)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `cfsign sign-cookies`.
pub fn sign_cookies(args: SignCookiesArgs) -> Result<ExitCode, CliError> {
    let resource: ResourcePattern = args
        .resource
        .parse()
        .map_err(|source| pattern_refused("--resource", &args.resource, source))?;
    let ready = args.signing.prepare(resource)?;
    let json = ready.policy.to_json();
    let signature = ready.key.signature(&json, ready.hash)?;
    let signed = signer::assemble_cookies(&ready.key_pair_id, &ready.policy, &json, ready.hash, signature);
    emit(&format!("{}\n", cookies_json(&signed)))?;
    Ok(ExitCode::SUCCESS)
}

/// Everything a signature needs, validated.
struct Ready {
    key: CliKey,
    key_pair_id: KeyPairId,
    policy: Policy,
    hash: HashAlgorithm,
}

impl SigningArgs {
    /// Validates the flags (cheap checks first, the key file last) into a
    /// policy that is not already expired by the system clock.
    fn prepare(&self, resource: ResourcePattern) -> Result<Ready, CliError> {
        let key_pair_id: KeyPairId = parse("--key-pair-id", &self.key_pair_id)?;
        let now = time::now();
        let date_less_than = match (&self.date_less_than, &self.expires_in) {
            (Some(date), _) => parse_date("--date-less-than", date)?,
            (None, Some(ttl)) => {
                let secs = time::parse_duration(ttl).map_err(|source| CliError::Time {
                    flag: "--expires-in",
                    source,
                })?;
                time::after(now, secs, ttl).map_err(|source| CliError::Time {
                    flag: "--expires-in",
                    source,
                })?
            }
            // clap requires one of the two; keep a clear message anyway.
            (None, None) => {
                return Err(CliError::Malformed {
                    flag: "--date-less-than",
                    message: "an expiry is required: --date-less-than DATE or --expires-in DURATION".to_owned(),
                });
            }
        };
        let date_greater_than = self
            .date_greater_than
            .as_deref()
            .map(|d| parse_date("--date-greater-than", d))
            .transpose()?;
        let ip = self
            .ip_address
            .as_deref()
            .map(|ip| {
                CidrV4::from_str(ip.trim()).map_err(|source| CliError::Ip {
                    flag: "--ip-address",
                    source,
                })
            })
            .transpose()?;
        let policy = Policy::new(resource, date_less_than, date_greater_than, ip).map_err(|e| match e {
            PolicyError::StartNotBeforeExpiry { start, expiry } => CliError::StartNotBeforeExpiry {
                start: time::display(start),
                expiry: time::display(expiry),
            },
            PolicyError::Expired { expiry, now } => CliError::Expired {
                expiry: time::display(expiry),
                now: time::display(now),
            },
            PolicyError::BadExpiry(_) => CliError::BadExpiry,
        })?;
        policy.check_not_expired(now).map_err(|_| CliError::Expired {
            expiry: time::display(date_less_than),
            now: time::display(now),
        })?;
        let vault = VaultFlags {
            pin_file: self.pin_file.as_deref(),
            region: self.region.as_deref(),
            endpoint_url: self.endpoint_url.as_deref(),
        };
        let key = CliKey::open(&self.private_key, self.passphrase_file.as_deref(), &vault)?;
        key.check_hash(self.hash_algorithm.into())?;
        Ok(Ready {
            key,
            key_pair_id,
            policy,
            hash: self.hash_algorithm.into(),
        })
    }
}

fn parse<T>(flag: &'static str, value: &str) -> Result<T, CliError>
where
    T: FromStr<Err = InputError>,
{
    value.parse().map_err(|source| CliError::Input {
        flag,
        source,
        hint: None,
    })
}

/// A refused resource pattern, with the encoded one to use instead when
/// raw characters are the problem (wildcards stay wildcards).
fn pattern_refused(flag: &'static str, pattern: &str, source: InputError) -> CliError {
    let encoded = encode_pattern_chars(pattern);
    let hint = (matches!(source, InputError::Unencoded(_)) && encoded.parse::<ResourcePattern>().is_ok())
        .then(|| format!("use {flag} '{}' instead", encoded.replace('\'', r"'\''")));
    CliError::Input { flag, source, hint }
}

/// A refused `--url`, with the URL to use instead when encoding fixes it
/// (raw characters, a literal `*`): scripts that worked with the AWS CLI
/// see what to change.
fn url_refused(url: &str, source: InputError) -> CliError {
    let fixable = matches!(source, InputError::Unencoded(_) | InputError::Wildcard(_));
    let encoded = encode_url_chars(url);
    let hint = (fixable && encoded.parse::<SignableUrl>().is_ok()).then(|| {
        let star = if url.contains('*') { " (a literal * is %2A)" } else { "" };
        let quoted = encoded.replace('\'', r"'\''");
        format!("sign --url '{quoted}' instead{star}, or pass --encode")
    });
    CliError::Input {
        flag: "--url",
        source,
        hint,
    }
}

fn parse_date(flag: &'static str, value: &str) -> Result<i64, CliError> {
    time::parse_date(value).map_err(|source| CliError::Time { flag, source })
}

/// The cookies as a JSON object in CloudFront's order, indented like the AWS
/// CLI's JSON output (4 spaces).
fn cookies_json(signed: &SignedCookies) -> String {
    struct Ordered<'a>(&'a [(&'static str, String)]);
    impl Serialize for Ordered<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for (name, value) in self.0 {
                map.serialize_entry(name, value)?;
            }
            map.end()
        }
    }
    let mut out = Vec::new();
    let mut serializer = Serializer::with_formatter(&mut out, PrettyFormatter::with_indent(b"    "));
    // Strings into a Vec: serialisation cannot fail, and the bytes are UTF-8.
    let _ = Ordered(&signed.cookies).serialize(&mut serializer);
    String::from_utf8(out).unwrap_or_default()
}
