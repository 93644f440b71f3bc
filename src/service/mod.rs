//! The service's domain: distributions with their loaded keys, the signing
//! pool, and turning a caller's request into a checked, signed answer.
//! Knows nothing of HTTP; its errors are mapped to statuses in `http::error`.

mod clock;
mod distribution;
mod error;
mod issue;
mod paths;
mod pool;
mod requests;
mod sigcache;
mod snapshot;

pub use clock::{Clock, FixedClock, SystemClock};
pub use distribution::{ActiveKey, Distribution};
pub use error::IssueError;
pub use issue::{CookieAnswer, Grantee, Issuer, Plan, UrlAnswer};
pub use paths::{check_grant_pattern, check_path};
pub use pool::{PoolStats, SigningPool};
pub use requests::{CookieRequest, IpRequest, UrlRequest};
pub use sigcache::SignatureCache;
pub use snapshot::Snapshot;
