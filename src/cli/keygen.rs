//! `cfsign keygen`: a new key pair for a CloudFront key group. The private
//! key goes to a file created with mode 0600; the public key to stdout.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::signing::{KeySpec, PrivateKey};

use super::error::CliError;
use super::input::emit;

/// `cfsign keygen`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  cfsign keygen --out private_key.pem > public_key.pem

Upload public_key.pem to CloudFront (Key management > Public keys), add it to a key group
trusted by the distribution's cache behavior, and sign with --key-pair-id set to its ID.")]
pub struct KeygenArgs {
    /// Where to write the private key (unencrypted PKCS#8 PEM, created with mode 0600)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Key type: both are accepted by CloudFront key groups
    #[arg(long, value_enum, default_value = "rsa2048")]
    pub algorithm: KeygenAlgorithm,

    /// Replace FILE if it already exists (atomically)
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

/// Runs `cfsign keygen`.
pub fn keygen(args: KeygenArgs) -> Result<ExitCode, CliError> {
    let spec = match args.algorithm {
        KeygenAlgorithm::Rsa2048 => KeySpec::Rsa2048,
        KeygenAlgorithm::EcdsaP256 => KeySpec::EcdsaP256,
    };
    let key = PrivateKey::generate(spec).map_err(CliError::Crypto)?;
    let public_pem = key.public_key().and_then(|p| p.to_pem()).map_err(CliError::Crypto)?;
    let private_pem = key.to_pkcs8_pem().map_err(CliError::Crypto)?;
    write_private(&args.out, private_pem.as_bytes(), args.force)?;
    emit(&public_pem)?;
    let _ = writeln!(
        io::stderr(),
        "wrote {} private key to {} (PKCS#8, mode 0600); the public key above goes in a CloudFront key group",
        key.algorithm(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` with mode 0600 and `pem` in it. Without `force` the
/// creation is exclusive (never follows or replaces an existing file); with
/// it, a sibling temporary file is written and renamed over `path`, so the
/// old key stays whole until the new one is complete.
fn write_private(path: &Path, pem: &[u8], force: bool) -> Result<(), CliError> {
    let write_err = |source| CliError::Write {
        path: path.to_owned(),
        source,
    };
    if !force {
        let file = create_private(path).map_err(|e| match e.kind() {
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
    let result = create_private(&tmp)
        .and_then(|file| fill(file, pem))
        .and_then(|()| fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        write_err(e)
    })
}

fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn fill(mut file: File, pem: &[u8]) -> io::Result<()> {
    file.write_all(pem)?;
    file.sync_all()
}
