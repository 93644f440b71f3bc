//! The service's domain: distributions with their loaded keys, the signing
//! pool, and the one issuance pipeline ([`Signing`]) that turns a caller's
//! request into a checked, signed, recorded answer. Speaks in domain types
//! and [`ErrorCode`](crate::error_code::ErrorCode)s; `http` maps them to
//! statuses, headers and bodies.
//!
//! - `plan`: request → exactly what will be signed (pure);
//! - `times`: lifetimes, expiries and their rounding;
//! - `paths`: the rule for caller paths, patterns and query parameters;
//! - `answer`: answers and how a plan becomes one (cache or key);
//! - `signing`: the pipeline (plan → cache → pool → sign → record);
//! - `record`: audit events and metrics of every outcome;
//! - `verdict`: the one shape of a verification verdict;
//! - `snapshot`, `distribution`, `sigcache`, `pool`, `clock`: what it runs on.

mod answer;
mod clock;
mod distribution;
mod error;
mod paths;
mod plan;
mod pool;
mod record;
mod requests;
mod sigcache;
mod signing;
mod snapshot;
mod times;
mod verdict;

pub use answer::{CookieAnswer, IssuanceRecord, OrderedCookies, UrlAnswer};
pub use clock::{Clock, FixedClock, SystemClock};
pub use distribution::{ActiveKey, Distribution};
pub use error::{Cause, IssueError};
pub use paths::{check_grant_pattern, check_path};
pub use plan::{CookiePlan, Granted, Issuer, UrlPlan};
pub use pool::{PoolStats, SigningPool};
pub use record::Kind;
pub use requests::{CookieRequest, IpRequest, UrlRequest};
pub use sigcache::SignatureCache;
pub use signing::{Context, MAX_BATCH, Signing};
pub use snapshot::Snapshot;
pub use times::{LAST_EXPIRY, MAX_TTL_SECONDS, rfc3339};
pub use verdict::Verdict;
