//! Caller authentication (JWT bearer tokens) and authorisation (grants).
//!
//! A token's `iss` selects exactly one trusted issuer; it is checked against
//! that issuer's algorithm allowlist, audiences and keys only (files, a
//! JWKS URL or OIDC discovery, merged per issuer in one [`KeyStore`], each
//! source replaced whole on reload or refresh), with required
//! `exp`/`iss`/`aud` and a small leeway.
//! Grants decide what an authenticated caller may sign; nothing is allowed
//! unless a grant says so.

mod caller;
mod fetch;
mod grants;
mod jose;
mod jwks;
mod keyset;
#[cfg(feature = "openssl-backend")]
mod openssl_jwt;
mod remote;
mod store;
mod template;
mod validator;

pub use caller::Caller;
pub use fetch::{RemoteKeys, discovery_url};
pub use grants::{Ask, Denial, Grant, GrantSet};
pub use jwks::{JwksFetcher, JwksSettings, MAX_BACKOFF, backoff};
pub use keyset::{KeySet, KeySetError, min_hmac_secret_bytes};
pub use remote::{IssuerStatus, JwksFetchers};
pub use store::{IssuerTrust, KeyStore, Trust};
pub use template::{Template, Unfilled};
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
