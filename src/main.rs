//! The `cfsign` binary: everything lives in the library (`cfsign::cli`).

use std::process::ExitCode;

use cfsign::cli::{Cli, run};
use clap::Parser;

fn main() -> ExitCode {
    run(Cli::parse())
}
