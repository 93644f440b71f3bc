//! The one test harness.
//!
//! - [`app::TestApp`]: the real router in-process, on a [`config::TestConfig`]
//!   a test changes with a closure (`TestApp::with_config(|c| ...)`).
//! - [`binary::Server`]: the real `cfsign serve` process on the same kind of
//!   config; [`binary::run_cfsign`] for short-lived subcommands.
//! - [`fixtures`]: the files in `tests/fixtures/`, the clock.
//! - [`tokens`]: the issuer, audience and secret every config trusts, and
//!   tokens for every kind of caller.
//! - [`jwks`]: RSA and EC JWT keys, their JWK documents, and a JWKS
//!   endpoint on loopback whose answer can be changed and whose hits counted.
//! - [`shipped`]: the files users deploy (Kubernetes manifests, the
//!   ConfigMap's configuration made runnable here, the Dockerfile).
//! - [`net`]: an HTTP client for the real server, raw requests, and checks
//!   that CloudFront would accept what it signed.
//! - [`tools`]: outside tools (found, skipped locally, required under CI).

pub mod app;
pub mod binary;
pub mod config;
pub mod fixtures;
pub mod jwks;
pub mod net;
pub mod shipped;
pub mod tokens;
pub mod tools;
