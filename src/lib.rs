//! cfsign: Amazon CloudFront signed URLs and signed cookies, as a library, a
//! CLI and a JWT-authenticated HTTP service.
//!
//! - [`cli`]: the `cfsign` command line (sign, sign-cookies, verify, keygen).
//! - [`secret_file`]: reading key and passphrase files (bounded, wiped on drop).
//! - [`signing`]: the pure signing core (policies, keys, URLs, cookies, verification).

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dev;
pub mod http;
pub mod metrics;
pub mod secret_file;
pub mod server;
pub mod service;
pub mod signing;
pub mod telemetry;
