//! Errors of issuing a signature; `http::error` maps each to a status.

use crate::auth::Denial;
use crate::signing::KeyError;

/// Why a request to sign (or verify) was not fulfilled.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The request is well-formed JSON but asks for something invalid (422).
    #[error("{detail}")]
    Invalid {
        /// Stable machine-readable code.
        code: &'static str,
        /// What is wrong, for a human.
        detail: String,
    },
    /// Authenticated, but no grant allows it (403).
    #[error(transparent)]
    Denied(#[from] Denial),
    /// The signing pool is full (503 + Retry-After).
    #[error("signing capacity is exhausted; retry shortly")]
    Overloaded,
    /// The key failed to sign (500; cause logged, not returned).
    #[error("signing failed")]
    Signing(#[source] KeyError),
    /// Anything else unexpected (500).
    #[error("internal error")]
    Internal(String),
}

impl IssueError {
    /// A 422 with `code` and `detail`.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        IssueError::Invalid {
            code,
            detail: detail.into(),
        }
    }
}
