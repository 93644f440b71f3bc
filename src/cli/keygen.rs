//! `cfsign keygen`: a new key pair for a CloudFront key group. The private
//! key goes to a file created with mode 0600 (PKCS#8, or PKCS#1 for the AWS
//! CLI), or with `--pkcs11` is made on a token and never leaves it; the
//! public key goes to stdout or `--public-out`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::signing::{KeySpec, PrivateKey};

use super::error::CliError;
use super::input::{emit, warn};

/// `cfsign keygen`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  cfsign keygen --out private_key.pem --public-out public_key.pem
  cfsign keygen --out private_key.pem --format pkcs1 > public_key.pem   # also for `aws cloudfront sign`
  cfsign keygen --pkcs11 'pkcs11:token=cf;object=reports-2027?module-path=/usr/lib/softhsm/libsofthsm2.so' \
      --pin-file /run/secrets/token-pin > public_key.pem                   # on a token (cargo feature pkcs11)

Upload public_key.pem to CloudFront (Key management > Public keys), add it to a key group
trusted by the distribution's cache behavior, and sign with --key-pair-id set to its ID.")]
pub struct KeygenArgs {
    /// Where to write the private key (unencrypted PEM, created with mode 0600)
    #[arg(long, value_name = "FILE", required_unless_present = "pkcs11")]
    pub out: Option<PathBuf>,

    /// Make the key pair on a PKCS#11 token instead (RFC 7512 URI with object= for its label, optional id=, and
    /// module-path=): the private key is sensitive and not extractable
    #[arg(long, value_name = "URI", conflicts_with_all = ["out", "format", "force"], requires = "pin_file")]
    pub pkcs11: Option<String>,

    /// File holding the token's user PIN, for --pkcs11 (a trailing newline is ignored)
    #[arg(long, value_name = "FILE", requires = "pkcs11")]
    pub pin_file: Option<PathBuf>,

    /// Private key encoding: pkcs8 (BEGIN PRIVATE KEY), or pkcs1 (BEGIN RSA PRIVATE KEY, RSA only), the one `aws cloudfront sign` (AWS CLI v1) reads
    #[arg(long, value_enum, default_value = "pkcs8")]
    pub format: KeyFormat,

    /// Write the public key to FILE (mode 0644) instead of standard output
    #[arg(long, value_name = "FILE")]
    pub public_out: Option<PathBuf>,

    /// Key type: both are accepted by CloudFront key groups
    #[arg(long, value_enum, default_value = "rsa2048")]
    pub algorithm: KeygenAlgorithm,

    /// Replace the files if they already exist (atomically)
    #[arg(long)]
    pub force: bool,
}

/// `--algorithm` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeygenAlgorithm {
    /// RSA 2048-bit: accepted everywhere in CloudFront
    Rsa2048,
    /// ECDSA P-256: shorter signatures (CloudFront since September 2025)
    EcdsaP256,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyFormat {
    /// PKCS#8 (`BEGIN PRIVATE KEY`): every tool but the AWS CLI v1
    Pkcs8,
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`): what `aws cloudfront sign` reads; RSA only
    Pkcs1,
}

/// Runs `cfsign keygen`.
pub fn keygen(args: KeygenArgs) -> Result<ExitCode, CliError> {
    let spec = match args.algorithm {
        KeygenAlgorithm::Rsa2048 => KeySpec::Rsa2048,
        KeygenAlgorithm::EcdsaP256 => KeySpec::EcdsaP256,
    };
    let out = match (&args.out, &args.pkcs11) {
        (_, Some(uri)) => return on_token(uri, args.pin_file.clone(), spec, args.public_out.as_deref()),
        (Some(out), None) => out.clone(),
        (None, None) => {
            return Err(CliError::Malformed {
                flag: "--out",
                message: "give --out FILE (or --pkcs11 URI to make the key on a token)".to_owned(),
            });
        }
    };
    if args.format == KeyFormat::Pkcs1 && spec != KeySpec::Rsa2048 {
        return Err(CliError::Malformed {
            flag: "--format",
            message: "pkcs1 holds RSA keys only; an ECDSA key is written as pkcs8".to_owned(),
        });
    }
    if args.public_out.as_deref() == Some(out.as_path()) {
        return Err(CliError::Malformed {
            flag: "--public-out",
            message: "must name another file than --out".to_owned(),
        });
    }
    // Refuse before writing anything: a private key whose public half could
    // not be written is of no use. (`create_new` still guards each file.)
    if !args.force
        && let Some(taken) = [Some(&out), args.public_out.as_ref()]
            .into_iter()
            .flatten()
            .find(|p| p.exists())
    {
        return Err(CliError::Exists(taken.clone()));
    }
    let key = PrivateKey::generate(spec).map_err(CliError::Crypto)?;
    let public_pem = key.public_key().and_then(|p| p.to_pem()).map_err(CliError::Crypto)?;
    let (private_pem, label) = match args.format {
        KeyFormat::Pkcs8 => (key.to_pkcs8_pem(), "PKCS#8"),
        KeyFormat::Pkcs1 => (key.to_pkcs1_pem(), "PKCS#1"),
    };
    let private_pem = private_pem.map_err(CliError::Crypto)?;
    // The public key first: when its file cannot be written, no private key
    // is left behind without it (if the private one then fails, the fresh
    // public file is removed again).
    if let Some(path) = &args.public_out {
        write_new(path, public_pem.as_bytes(), args.force, 0o644)?;
    }
    if let Err(e) = write_new(&out, private_pem.as_bytes(), args.force, 0o600) {
        if let (Some(path), false) = (&args.public_out, args.force) {
            let _ = fs::remove_file(path);
        }
        return Err(e);
    }
    // Created 0600, but a filesystem may ignore modes (some network, FUSE
    // and Windows mounts): say so when the key ended up readable.
    if let Some(warning) = crate::secret_file::readable_by_others(&out) {
        warn(&warning);
    }
    let public_to = match &args.public_out {
        Some(path) => format!("to {}", path.display()),
        None => {
            emit(&public_pem)?;
            "above".to_owned()
        }
    };
    let _ = writeln!(
        io::stderr(),
        "wrote {} private key to {} ({label}, mode 0600); the public key {public_to} goes in a CloudFront key group",
        key.algorithm(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `--pkcs11`: the key pair made on the token; its public key printed (or
/// written to `public_out`).
fn on_token(
    uri: &str,
    pin_file: Option<PathBuf>,
    spec: KeySpec,
    public_out: Option<&Path>,
) -> Result<ExitCode, CliError> {
    let failed = |message: String| CliError::Malformed {
        flag: "--pkcs11",
        message: format!("{}: {message}", crate::keys::pkcs11_uri::redact(uri)),
    };
    #[cfg(feature = "pkcs11")]
    {
        let source = crate::keys::Pkcs11Source {
            uri: uri.to_owned(),
            pin_file,
        };
        if let Some(path) = public_out
            && path.exists()
        {
            return Err(CliError::Exists(path.to_owned()));
        }
        let made = crate::keys::pkcs11::generate(&source, spec).map_err(failed)?;
        let public_to = match public_out {
            Some(path) => {
                write_new(path, made.public_key_pem.as_bytes(), false, 0o644)?;
                format!("to {}", path.display())
            }
            None => {
                emit(&made.public_key_pem)?;
                "above".to_owned()
            }
        };
        let kind = match spec {
            KeySpec::Rsa2048 => "RSA-2048",
            KeySpec::EcdsaP256 => "ECDSA-P256",
        };
        let _ = writeln!(
            io::stderr(),
            "made an {kind} key pair on the token (id {}; the private key is sensitive and not extractable); \
             the public key {public_to} goes in a CloudFront key group",
            made.id_hex
        );
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "pkcs11"))]
    {
        let _ = (pin_file, spec, public_out);
        Err(failed(
            "this cfsign was built without PKCS#11 support (cargo feature `pkcs11`)".to_owned(),
        ))
    }
}

/// Creates `path` with `mode` and `pem` in it. Without `force` the
/// creation is exclusive (never follows or replaces an existing file); with
/// it, a sibling temporary file is written and renamed over `path`, so the
/// old key stays whole until the new one is complete.
fn write_new(path: &Path, pem: &[u8], force: bool, mode: u32) -> Result<(), CliError> {
    let write_err = |source| CliError::Write {
        path: path.to_owned(),
        source,
    };
    if !force {
        let file = create(path, mode).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => CliError::Exists(path.to_owned()),
            _ => write_err(e),
        })?;
        return fill(file, pem).map_err(|e| {
            let _ = fs::remove_file(path);
            write_err(e)
        });
    }
    let name = path
        .file_name()
        .ok_or_else(|| write_err(io::Error::new(io::ErrorKind::InvalidInput, "not a file name")))?;
    let tmp = path.with_file_name(format!(
        ".{}.{:016x}.tmp",
        name.to_string_lossy(),
        rand::random::<u64>()
    ));
    let result = create(&tmp, mode)
        .and_then(|file| fill(file, pem))
        .and_then(|()| fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        write_err(e)
    })
}

fn create(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

fn fill(mut file: File, pem: &[u8]) -> io::Result<()> {
    file.write_all(pem)?;
    file.sync_all()
}
