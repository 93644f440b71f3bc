//! cfsign: Amazon CloudFront signed URLs and signed cookies, as a library, a
//! CLI and a JWT-authenticated HTTP service.
//!
//! - [`signing`]: the pure signing core (policies, keys, URLs, cookies, verification).

pub mod auth;
pub mod config;
pub mod dev;
pub mod http;
pub mod service;
pub mod server;
pub mod signing;
pub mod telemetry;
