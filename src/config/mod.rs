//! Typed, layered configuration: the file given with `--config` (TOML), then
//! `CFSIGN_*` environment variables (`CFSIGN_SERVER__LISTEN=0.0.0.0:8080`:
//! `__` separates levels). Problems are collected and reported all at once.

mod audit;
mod diagnose;
mod issuers;
mod model;
mod types;
mod validate;
mod warnings;

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};

pub use audit::{AuditConfig, AuditSink, Fsync, OnFailure};
pub use issuers::{ClaimsConfig, IssuerConfig, IssuerEntry, PER_ISSUER_EXAMPLE};
pub use model::{
    AuthConfig, Config, CookieConfig, CorsConfig, DistributionConfig, GrantConfig, PublicKeyConfig, SameSite,
    ServerConfig, SigningConfig, SigningKeyConfig,
};
pub use types::{BaseUrl, GrantPattern, JwksUrl, JwtAlgorithm, Origin, PathPrefix};
pub use validate::validate;
pub use warnings::warnings;

/// Why the configuration could not be used; one line per problem.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    /// Every problem found, each a complete sentence.
    pub problems: Vec<String>,
}

impl ConfigError {
    /// A single problem.
    pub fn one(problem: impl Into<String>) -> Self {
        Self {
            problems: vec![problem.into()],
        }
    }
}

/// Reads `path` and the `CFSIGN_*` environment, then checks the result.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    if !path.is_file() {
        return Err(ConfigError::one(format!(
            "config file {} does not exist or is not a file",
            path.display()
        )));
    }
    let figment = Figment::new()
        .merge(Toml::file_exact(path))
        // Only `SECTION__KEY` variables address the file's schema; single-level
        // ones (CFSIGN_LISTEN, CFSIGN_CONFIG, CFSIGN_DIFF_*, ...) belong to the
        // CLI or to tools and must not be mistaken for unknown config keys.
        .merge(
            Env::prefixed("CFSIGN_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
    from_file_figment(figment, path)
}

/// Parses configuration from TOML text alone (tests, `dev`).
pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
    from_figment(Figment::new().merge(Toml::string(text)))
}

/// Parses TOML without the cross-section checks: for `dev`, whose keys and
/// secrets live in memory rather than in files.
pub fn from_toml_unchecked(text: &str) -> Result<Config, ConfigError> {
    Figment::new()
        .merge(Toml::string(text))
        .extract()
        .map_err(|e| ConfigError {
            problems: e.into_iter().map(|e| format!("config: {e}")).collect(),
        })
}

fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
    let config: Config = figment.extract().map_err(|e| ConfigError {
        problems: e.into_iter().map(|e| format!("config: {e}")).collect(),
    })?;
    validate(&config)?;
    Ok(config)
}

/// As [`from_figment`] for the file at `path`: when it does not deserialise,
/// every problem the file has (each with its line), not only serde's first.
fn from_file_figment(figment: Figment, path: &Path) -> Result<Config, ConfigError> {
    from_figment(figment).map_err(|e| {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found = diagnose::problems(path, &text);
        let parse_error = e.problems.iter().any(|p| p.starts_with("config: "));
        if parse_error && !found.is_empty() {
            ConfigError { problems: found }
        } else {
            e
        }
    })
}
