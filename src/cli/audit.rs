//! `cfsign audit verify FILE...`: checks the audit trail's hash chain and
//! names the first break with its file and line. Exit 0 only when intact,
//! 1 at a break, 2 when a file or the key cannot be read.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::error::CliError;
use crate::audit::Hasher;
use crate::audit::verify::{self, Break, Intact};

/// `cfsign audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: AuditAction,
}

/// The `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check the hash chain of audit files, oldest first (rotated files in order, then the current one)
    Verify(VerifyArgs),
}

/// `cfsign audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The files, oldest first: `cfsign audit verify audit.jsonl.2 audit.jsonl.1 audit.jsonl`
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The service's `audit.hmac_key_file`, when the chain is keyed.
    #[arg(long, value_name = "FILE")]
    pub hmac_key_file: Option<PathBuf>,
    /// Accept chains that begin anew inside the trail (a stdout/stderr sink starts one at each start)
    #[arg(long)]
    pub allow_restarts: bool,
}

/// Runs `cfsign audit ...`.
pub fn audit(args: AuditArgs) -> Result<ExitCode, CliError> {
    match args.action {
        AuditAction::Verify(args) => verify_files(&args),
    }
}

fn verify_files(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let hasher = match &args.hmac_key_file {
        None => Hasher::sha256(),
        Some(path) => Hasher::keyed(crate::audit::read_key(path).map_err(|message| CliError::Malformed {
            flag: "--hmac-key-file",
            message,
        })?),
    };
    let report = verify::verify(&args.files, &hasher, args.allow_restarts).map_err(|e| CliError::Read {
        what: "audit file",
        from: format!("{:?}", e.path.display().to_string()),
        source: e.source,
    })?;
    let mut out = std::io::stdout().lock();
    let written = match report {
        Ok(intact) => print_intact(&mut out, &intact),
        Err(broken) => print_break(&mut out, &broken),
    };
    written.map_err(CliError::Stdout)
}

fn print_intact(out: &mut impl Write, intact: &Intact) -> std::io::Result<ExitCode> {
    for (path, events, first, last) in &intact.files {
        if *events == 0 {
            writeln!(out, "{}: no audit events", path.display())?;
        } else {
            writeln!(out, "{}: {events} events, seq {first}..{last}", path.display())?;
        }
    }
    for (path, line) in &intact.restarts {
        writeln!(
            out,
            "{}:{line}: a new chain starts here (a restart with a stdout/stderr sink)",
            path.display()
        )?;
    }
    match intact.last {
        Some(last) => writeln!(
            out,
            "intact: last seq {}, hash {} (compare with the next file's first event or cfsign_audit_last_sequence: a chain cannot show events cut from its end)",
            last.seq,
            hex::encode(last.hash)
        )?,
        None => writeln!(out, "intact: no audit events")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_break(out: &mut impl Write, broken: &Break) -> std::io::Result<ExitCode> {
    writeln!(out, "{}:{}: {}", broken.file.display(), broken.line, broken.problem)?;
    Ok(ExitCode::from(super::error::EXIT_FAILURE))
}
