//! The `cfsign` command line: a drop-in for `aws cloudfront sign` and
//! `sign-cookies`, plus `verify` and `keygen`. One file per subcommand; `run`
//! only dispatches and turns errors into one `error: ...` line and an exit code.

pub mod audit;
pub mod error;
pub mod healthcheck;
pub mod input;
pub mod keygen;
pub mod serve;
pub mod sign;
pub mod signing_key;
pub mod time;
pub mod verify;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use self::error::CliError;

/// Amazon CloudFront signed URLs and signed cookies.
#[derive(Debug, Parser)]
#[command(name = "cfsign", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign a URL (same flags and output as `aws cloudfront sign`)
    Sign(sign::SignArgs),
    /// Sign cookies for a URL or URL pattern; prints them as JSON
    SignCookies(sign::SignCookiesArgs),
    /// Check a signed URL or signed cookies as CloudFront would (exit 0 valid, 1 refused, 2 bad input)
    Verify(verify::VerifyArgs),
    /// Generate a key pair: private key to a 0600 file, public key (for the key group) to stdout
    Keygen(keygen::KeygenArgs),
    /// Run the signing service with a configuration file
    Serve(serve::ServeArgs),
    /// Run the service with generated keys and a printed token (no AWS account needed)
    Dev(serve::DevArgs),
    /// Check the audit trail: `cfsign audit verify FILE...` (exit 0 intact, 1 at the first break, 2 unreadable)
    Audit(audit::AuditArgs),
    /// Exit 0 when the service is ready (container health checks): --url, or where `serve` listens
    Healthcheck(healthcheck::HealthcheckArgs),
}

/// Runs the parsed command line; errors become one `error: ...` line on stderr.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Sign(args) => sign::sign(args),
        Command::SignCookies(args) => sign::sign_cookies(args),
        Command::Verify(args) => verify::verify(args),
        Command::Keygen(args) => keygen::keygen(args),
        Command::Serve(args) => serve::serve(args).map(|()| ExitCode::SUCCESS),
        Command::Dev(args) => serve::dev(args).map(|()| ExitCode::SUCCESS),
        Command::Audit(args) => audit::audit(args),
        Command::Healthcheck(args) => healthcheck::healthcheck(args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(report)
}

/// Prints `error: ...` (one line; a configuration gets one line per
/// problem) and returns the error's exit code.
fn report(error: CliError) -> ExitCode {
    let mut stderr = std::io::stderr();
    match &error {
        CliError::Config(config) => {
            for problem in &config.problems {
                let _ = writeln!(stderr, "error: {}", problem.replace(['\r', '\n'], " "));
            }
        }
        _ => {
            let _ = writeln!(stderr, "error: {}", error.one_line());
        }
    }
    error.exit_code()
}
