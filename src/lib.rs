//! cfsign: Amazon CloudFront signed URLs and signed cookies, as a library, a
//! CLI and a JWT-authenticated HTTP service.
//!
//! - [`signing`]: the pure signing core (policies, keys, URLs, cookies, verification).

pub mod signing;
