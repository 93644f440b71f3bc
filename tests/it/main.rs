//! The integration tests, in one binary (each test binary links the whole
//! crate; one link instead of twenty). The shared harness is [`harness`];
//! every other module is one area of behaviour.
//!
//! `differential`, `browser`, `oidc` and `kms` need tools their setup scripts
//! install (`tests/differential/setup.sh`, `tests/browser/setup.sh`,
//! `tests/oidc/setup.sh`, `tests/kms/setup.sh`); without them they are
//! skipped, except under CI. `kms` is built with the `kms` feature only.

mod harness;

mod api;
mod api_contract;
mod audit_trail;
mod auth;
mod browser;
mod bypass;
mod cache;
mod cli;
mod cli_dropin;
mod cli_verify;
mod config;
mod connections;
mod cors;
mod deploy;
mod dev;
mod differential;
mod e2e;
mod faults;
mod hls;
mod issuers;
mod jwks;
mod kms;
mod lifecycle;
mod logs;
mod metrics_exposure;
mod oidc;
mod openapi;
mod operations;
mod paths;
mod pkcs11;
mod prometheus;
mod properties;
mod rotation;
mod templates;
mod tokens;
mod vectors;
