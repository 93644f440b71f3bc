//! `cfsign verify`: judges a signed URL (or a request URL plus signed
//! cookies) as CloudFront would, and explains the verdict.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::service::Verdict;
use crate::signing::{FailureCode, KeyPairId, PublicKey, RequestContext, Verification, verify_cookies, verify_url};

use super::error::{CliError, EXIT_FAILURE};
use super::input::{emit, key_path, load_public_key, read_secret};
use super::time;

/// What a `client_ip_required` refusal tells the user to pass.
const CLIENT_IP_HINT: &str = "--client-ip";

/// `cfsign verify`: exit 0 when CloudFront would serve the request, 1 when it
/// would refuse it, 2 when the input itself is wrong.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cfsign verify --url \"$SIGNED_URL\" --public-key K2JCJMDEHXQW5F=public_key.pem
  cfsign verify --url https://cdn.example.com/private/a.mp4 --public-key K2JCJMDEHXQW5F=pub.pem \\
      --cookie CloudFront-Policy=... --cookie CloudFront-Signature=... --cookie CloudFront-Key-Pair-Id=K2JCJMDEHXQW5F \\
      --client-ip 192.0.2.7 --at 2026-12-01T12:00:00Z

Exit status: 0 valid, 1 refused (the reason is printed), 2 bad input.")]
pub struct VerifyArgs {
    /// The signed URL; with --cookie, the URL of the request the cookies come with
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// A signed cookie as NAME=VALUE (repeatable), a Cookie header "a=1; b=2", or @FILE holding such lines or Cookie:/Set-Cookie: headers (e.g. saved by curl -D)
    #[arg(long = "cookie", value_name = "NAME=VALUE|@FILE")]
    pub cookies: Vec<String>,

    /// A trusted public key as KEY_PAIR_ID=KEY (the PEM itself, file://path, a path, or -); repeat for a key group
    #[arg(long = "public-key", value_name = "ID=KEY", required = true)]
    pub public_keys: Vec<String>,

    /// Judge the request at this time instead of now (same formats as --date-less-than)
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,

    /// The viewer's IP address (needed when the policy has an IpAddress condition)
    #[arg(long, value_name = "IP")]
    pub client_ip: Option<String>,

    /// Print the verdict as JSON, in the shape POST /v1/verify answers
    #[arg(long)]
    pub json: bool,
}

/// Runs `cfsign verify`.
pub fn verify(args: VerifyArgs) -> Result<ExitCode, CliError> {
    let keys = load_keys(&args.public_keys)?;
    let cookies = parse_cookies(&args.cookies)?;
    let at = match &args.at {
        Some(date) => time::parse_date(date).map_err(|source| CliError::Time { flag: "--at", source })?,
        None => time::now(),
    };
    let client_ip = match args.client_ip.as_deref().map(str::trim) {
        None => None,
        Some(ip) => Some(ip.parse::<IpAddr>().map_err(|_| CliError::Malformed {
            flag: "--client-ip",
            message: format!("{ip:?} is not an IP address"),
        })?),
    };
    let ctx = RequestContext {
        at,
        client_ip: match client_ip {
            Some(IpAddr::V4(v4)) => Some(v4),
            _ => None,
        },
    };
    let mut verdict = if cookies.is_empty() {
        verify_url(&args.url, &keys, ctx)
    } else {
        verify_cookies(&args.url, &cookies, &keys, ctx)
    };
    // The core only knows IPv4 viewers; an IPv6 viewer can never match an
    // IpAddress condition, which is a refusal, not a missing address.
    if let (Some(IpAddr::V6(v6)), Some(failure)) = (client_ip, verdict.failure.as_mut())
        && failure.code == FailureCode::ClientIpRequired
    {
        failure.code = FailureCode::IpMismatch;
        failure.detail = format!("{v6} is IPv6, and CloudFront's IpAddress condition only matches IPv4 viewers");
    }
    let report = if args.json {
        json_report(&verdict, at)
    } else {
        text_report(&verdict, at)
    };
    emit(&report)?;
    Ok(if verdict.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

/// `ID=FILE` pairs into a key resolver.
fn load_keys(specs: &[String]) -> Result<HashMap<String, PublicKey>, CliError> {
    let mut keys = HashMap::new();
    for spec in specs {
        let malformed = |message: String| CliError::Malformed {
            flag: "--public-key",
            message,
        };
        let (id, file) = spec.split_once('=').ok_or_else(|| {
            malformed(format!(
                "expected KEY_PAIR_ID=FILE, e.g. K2JCJMDEHXQW5F=public_key.pem, got {spec:?}"
            ))
        })?;
        let id: KeyPairId = id.parse().map_err(|source| CliError::Input {
            flag: "--public-key",
            source,
            hint: None,
        })?;
        if keys.contains_key(id.as_str()) {
            return Err(malformed(format!("key pair id {id} is given twice")));
        }
        keys.insert(id.to_string(), load_public_key(file)?);
    }
    Ok(keys)
}

/// `NAME=VALUE`, `a=1; b=2` or `@FILE` (such lines, `Cookie:` or
/// `Set-Cookie:` headers: [`cookie_pairs`]) into cookie pairs.
fn parse_cookies(specs: &[String]) -> Result<Vec<(String, String)>, CliError> {
    let mut texts = Vec::new();
    for spec in specs {
        match spec.strip_prefix('@') {
            Some(file) => {
                let path = key_path("--cookie", file)?;
                let bytes = read_secret("cookie file", &path)?;
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| CliError::Malformed {
                    flag: "--cookie",
                    message: format!("{:?} is not UTF-8 text", path.display().to_string()),
                })?;
                texts.extend(text.lines().map(str::to_owned));
            }
            None => texts.push(spec.clone()),
        }
    }
    let mut cookies = Vec::new();
    for text in texts.iter().filter_map(|t| cookie_pairs(t)) {
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| CliError::Malformed {
                flag: "--cookie",
                message: format!("expected NAME=VALUE, got {part:?}"),
            })?;
            cookies.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Ok(cookies)
}

/// The cookie pairs one line holds: all of a bare `a=1; b=2` or of a
/// `Cookie:` header, the first pair of a `Set-Cookie:` header (the rest are
/// attributes); nothing from another header or a status line, so the
/// headers `curl -D` saved from `POST /v1/signed-cookies` are a cookie file.
fn cookie_pairs(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with("HTTP/") {
        return None;
    }
    // A cookie name holds no ':', so a ':' before any '=' ends a header name.
    match line.split_once(':').filter(|(name, _)| !name.contains('=')) {
        None => Some(line),
        Some((name, rest)) if name.trim().eq_ignore_ascii_case("cookie") => Some(rest),
        Some((name, rest)) if name.trim().eq_ignore_ascii_case("set-cookie") => rest.split(';').next(),
        Some(_) => None,
    }
}

/// The verdict, then what was learned, one `name: value` per line.
fn text_report(v: &Verification, at: i64) -> String {
    let mut out = String::new();
    match &v.failure {
        None => {
            let _ = writeln!(
                out,
                "valid: CloudFront would serve this request at {}",
                time::display(at)
            );
        }
        Some(f) if f.code == FailureCode::ClientIpRequired => {
            let _ = writeln!(out, "invalid ({}): {} ({CLIENT_IP_HINT})", code_name(f.code), f.detail);
        }
        Some(f) => {
            let _ = writeln!(out, "invalid ({}): {}", code_name(f.code), f.detail);
        }
    }
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<18} {value}");
    };
    if let Some(id) = &v.key_pair_id {
        field("key-pair-id:", id.clone());
    }
    if let Some(hash) = v.hash_algorithm {
        field("hash-algorithm:", hash.to_string());
    }
    if let Some(kind) = v.policy_type {
        field("policy-type:", kind.as_str().to_owned());
    }
    if let Some(json) = &v.policy_json {
        for (name, value) in policy_fields(json) {
            field(name, value);
        }
        field("policy:", json.clone());
    }
    out
}

/// Readable conditions of a policy (nothing if it is not JSON).
fn policy_fields(json: &str) -> Vec<(&'static str, String)> {
    let Ok(policy) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let statement = &policy["Statement"][0];
    let condition = &statement["Condition"];
    let epoch = |name: &str| {
        condition[name]["AWS:EpochTime"]
            .as_i64()
            .map(|t| format!("{} ({t})", time::display(t)))
    };
    let mut fields = Vec::new();
    if let Some(resource) = statement["Resource"].as_str() {
        fields.push(("resource:", resource.to_owned()));
    }
    if let Some(t) = epoch("DateLessThan") {
        fields.push(("date-less-than:", t));
    }
    if let Some(t) = epoch("DateGreaterThan") {
        fields.push(("date-greater-than:", t));
    }
    if let Some(ip) = condition["IpAddress"]["AWS:SourceIp"].as_str() {
        fields.push(("ip-address:", ip.to_owned()));
    }
    fields
}

fn code_name(code: FailureCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

fn json_report(v: &Verification, at: i64) -> String {
    let verdict = Verdict::new(v.clone(), at, CLIENT_IP_HINT);
    serde_json::to_string_pretty(&verdict)
        .map(|s| s + "\n")
        .unwrap_or_default()
}
