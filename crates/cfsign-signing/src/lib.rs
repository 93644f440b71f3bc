//! The signing core: CloudFront policies, signatures, signed URLs and cookies,
//! and their verification. Pure: no I/O, no clock (time is a parameter), no
//! async runtime, no HTTP framework.

pub mod backend;
pub mod base64cf;
pub mod cidr;
pub mod hash;
pub mod keys;
mod pem;
pub mod policy;
pub mod resource;
pub mod signer;
pub mod verify;
pub mod wildcard;

pub use cidr::CidrV4;
pub use hash::HashAlgorithm;
pub use keys::{Backend, KeyAlgorithm, KeyError, KeySpec, PrivateKey, PublicKey};
pub use policy::{Policy, PolicyError, PolicyType};
pub use resource::{KeyPairId, ResourcePattern, SignableUrl};
pub use signer::{SignedCookies, SignedUrl, Signer};
pub use verify::{Failure, FailureCode, KeyResolver, RequestContext, Verification, verify_cookies, verify_url};
