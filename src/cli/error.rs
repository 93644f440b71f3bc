//! The CLI's error type: every failure a user can cause, worded as one line
//! for stderr, with the exit code it maps to.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::signing::KeyError;
use crate::signing::cidr::CidrError;
use crate::signing::resource::InputError;

use super::time::TimeError;

/// Exit code for bad input (as clap uses for bad usage).
pub const EXIT_INPUT: u8 = 2;
/// Exit code for failures that are not the input's fault.
pub const EXIT_FAILURE: u8 = 1;

/// Why a subcommand could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A URL, resource pattern or key pair id the signing core refused.
    #[error("{flag}: {source}{}", hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    Input {
        /// The flag that carried the value.
        flag: &'static str,
        /// What is wrong with it.
        source: InputError,
        /// How to fix it, when the fix can be shown (the encoded URL).
        hint: Option<String>,
    },
    /// A date or duration that could not be read.
    #[error("{flag}: {source}")]
    Time {
        /// The flag that carried the value.
        flag: &'static str,
        /// What is wrong with it.
        source: TimeError,
    },
    /// An `--ip-address` or `--client-ip` that is not IPv4.
    #[error("{flag}: {source}")]
    Ip {
        /// The flag that carried the value.
        flag: &'static str,
        /// What is wrong with it.
        source: CidrError,
    },
    /// The expiry is not in the future.
    #[error("the expiry {expiry} is in the past (now is {now}): the URL or cookies would be refused at once")]
    Expired {
        /// `DateLessThan`, RFC 3339.
        expiry: String,
        /// The system clock, RFC 3339.
        now: String,
    },
    /// `--date-greater-than` is not before the expiry.
    #[error("--date-greater-than {start} is not before the expiry {expiry}: no request could ever be valid")]
    StartNotBeforeExpiry {
        /// `DateGreaterThan`, RFC 3339.
        start: String,
        /// `DateLessThan`, RFC 3339.
        expiry: String,
    },
    /// The expiry is not a positive epoch.
    #[error("the expiry must be after 1970-01-01T00:00:00Z")]
    BadExpiry,
    /// `--policy-resource` does not grant the URL being signed.
    #[error("--policy-resource {resource:?} does not cover --url {url:?}: CloudFront would refuse the signed URL")]
    ResourceMismatch {
        /// The pattern.
        resource: String,
        /// The URL.
        url: String,
    },
    /// A file (or standard input) that could not be read.
    #[error("cannot read {what} {from}: {source}")]
    Read {
        /// What the file should hold.
        what: &'static str,
        /// Where it was looked for: a quoted path, or `standard input`.
        from: String,
        /// Why it failed.
        source: io::Error,
    },
    /// A key that is not usable (the key's text is never part of it).
    #[error("{what} from {from}: {source}")]
    Key {
        /// `private key`, `public key`, ...
        what: &'static str,
        /// Where it came from: a quoted path, `standard input`, or the flag.
        from: String,
        /// Why the key was refused.
        source: KeyError,
    },
    /// A flag value that does not have the required shape.
    #[error("{flag}: {message}")]
    Malformed {
        /// The flag.
        flag: &'static str,
        /// What was expected.
        message: String,
    },
    /// `keygen` would overwrite a file.
    #[error("{0:?} already exists; pass --force to replace it")]
    Exists(PathBuf),
    /// A file that could not be written.
    #[error("cannot write {path:?}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// The key could not sign, or a new key could not be made or exported.
    #[error("{0}")]
    Crypto(KeyError),
    /// The service configuration or its keys are invalid (one line per problem).
    #[error("{0}")]
    Config(crate::config::ConfigError),
    /// The service failed to start or stopped abnormally.
    #[error("{0}")]
    Service(String),
    /// `healthcheck`: the service is not ready.
    #[error("not ready: {0}")]
    Unhealthy(String),
    /// Standard output could not be written (closed pipe, full disk).
    #[error("cannot write to standard output: {0}")]
    Stdout(io::Error),
}

impl CliError {
    /// The process exit code: 2 for bad input and for files that cannot be
    /// read or written (a wrong path is the input's fault), 1 for anything else.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Crypto(_) | CliError::Stdout(_) | CliError::Service(_) | CliError::Unhealthy(_) => {
                ExitCode::from(EXIT_FAILURE)
            }
            _ => ExitCode::from(EXIT_INPUT),
        }
    }

    /// The message as one line (library errors may carry newlines).
    pub fn one_line(&self) -> String {
        let text = self.to_string();
        text.split(['\r', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }
}
