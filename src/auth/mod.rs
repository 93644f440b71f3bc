//! Caller authentication (JWT bearer tokens) and authorisation (grants).
//!
//! Tokens are checked against an explicit algorithm allowlist, required
//! `exp`/`iss`/`aud`, a small leeway, and keys from files or a JWKS URL
//! (merged in one [`KeyStore`], each source replaced whole on reload or
//! refresh).
//! Grants decide what an authenticated caller may sign; nothing is allowed
//! unless a grant says so.

mod caller;
mod grants;
mod jose;
mod jwks;
mod keyset;
#[cfg(feature = "openssl-backend")]
mod openssl_jwt;
mod store;
mod validator;

pub use caller::Caller;
pub use grants::{Ask, Denial, Grant, GrantSet};
pub use jwks::{JwksFetcher, JwksSettings};
pub use keyset::{KeySet, KeySetError, min_hmac_secret_bytes};
pub use store::{KeyStore, Trust};
pub use validator::{AuthError, Authenticator};

/// Checks RSA and ECDSA token signatures with OpenSSL (about 10x faster than
/// jsonwebtoken's pure-Rust provider) from now on, if the OpenSSL backend is
/// built in and no token was handled before. True when OpenSSL does it.
/// Called by [`Authenticator::new`].
pub fn use_openssl_for_tokens() -> bool {
    #[cfg(feature = "openssl-backend")]
    return openssl_jwt::install();
    #[cfg(not(feature = "openssl-backend"))]
    false
}
