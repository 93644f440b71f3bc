//! cfsign: Amazon CloudFront signed URLs and signed cookies, as a library, a
//! CLI and a JWT-authenticated HTTP service.
//!
//! # Layout
//!
//! - [`signing`]: the pure signing core (policies, CloudFront base64, keys
//!   and backends, URL and cookie building, verification). No I/O, no HTTP;
//!   time is a parameter. It is the `cfsign-signing` crate
//!   (`crates/cfsign-signing`), re-exported.
//! - [`auth`]: JWT verification (one `KeyStore` of rules and keys from every
//!   source, JWKS refresh) and grants.
//! - [`service`]: the one issuance pipeline, [`service::Signing`]: plan →
//!   signature cache → signing pool → sign → record.
//! - [`http`]: router, layers, the accept loop, extractors, problem+json and
//!   the one code → status table; routes only extract, call and answer.
//! - [`error_code`]: the problem codes, part of the contract.
//! - [`path_rule`]: the one rule for caller paths and patterns, which the
//!   configuration's grant patterns and prefixes follow too.
//! - [`audit`]: the audit events; [`metrics`]: the Prometheus series;
//!   [`telemetry`]: logging.
//! - [`config`]: the file's shape, the rule of each single value, loading
//!   and validation (every problem in one start).
//! - [`server`]: the composition root ([`server::assemble`]), serving, reload.
//! - [`dev`]: `cfsign dev` (in-memory keys and secret).
//! - [`dates`]: the one date parser of the CLI and the API.
//! - [`json_string`]: JSON strings without serde_json's escape scan when
//!   they need none (answers and log lines).
//! - [`secret_file`]: reading key and passphrase files (bounded, wiped on drop).
//! - [`cli`]: the `cfsign` command line (serve, dev, sign, sign-cookies,
//!   verify, keygen, healthcheck).

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dates;
pub mod dev;
pub mod error_code;
pub mod http;
pub mod json_string;
pub mod keys;
pub mod metrics;
pub mod path_rule;
pub mod secret_file;
pub mod server;
pub mod service;
pub use cfsign_signing as signing;
pub mod telemetry;
