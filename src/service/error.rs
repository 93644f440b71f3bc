//! Errors of issuing a signature; `http::error` maps each code to a status.

use crate::auth::Denial;
use crate::error_code::ErrorCode;
use crate::signing::KeyError;

/// Cause of an unexpected failure, kept for the log (never answered).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a request to sign was not fulfilled.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The request is well-formed JSON but asks for something invalid (422).
    #[error("{detail}")]
    Invalid {
        /// Stable machine-readable code.
        code: ErrorCode,
        /// What is wrong, for a human.
        detail: String,
    },
    /// Authenticated, but no grant allows it (403).
    #[error(transparent)]
    Denied(#[from] Denial),
    /// The signing pool is full (503 + Retry-After).
    #[error("signing capacity is exhausted; retry shortly")]
    Overloaded,
    /// The audit trail could not record the outcome: nothing is handed
    /// out (503 + Retry-After).
    #[error(transparent)]
    AuditUnavailable(#[from] crate::audit::Unavailable),
    /// A vault-held key did not sign (503 + Retry-After; cause logged by
    /// the key's signer, not returned).
    #[error(transparent)]
    KeyUnavailable(#[from] crate::keys::RemoteKeyError),
    /// The key failed to sign (500; cause logged, not returned).
    #[error("signing failed")]
    Signing(#[source] KeyError),
    /// Anything else unexpected (500; cause logged, not returned).
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl IssueError {
    /// A 422 with `code` and `detail`.
    pub fn invalid(code: ErrorCode, detail: impl Into<String>) -> Self {
        IssueError::Invalid {
            code,
            detail: detail.into(),
        }
    }

    /// The problem code, which is also the audit reason.
    pub fn code(&self) -> ErrorCode {
        match self {
            IssueError::Invalid { code, .. } => *code,
            IssueError::Denied(Denial::Unfilled(_)) => ErrorCode::ClaimUnusable,
            IssueError::Denied(_) => ErrorCode::Forbidden,
            IssueError::Overloaded => ErrorCode::Overloaded,
            IssueError::AuditUnavailable(_) => ErrorCode::AuditUnavailable,
            IssueError::KeyUnavailable(_) => ErrorCode::KeyUnavailable,
            IssueError::Signing(_) | IssueError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// A copy, for handing a planning result to the signing pool and back.
    /// Not `Clone`: an internal cause is a boxed error, so its copy keeps
    /// the cause's text only.
    pub fn duplicate(&self) -> IssueError {
        match self {
            IssueError::Invalid { code, detail } => IssueError::invalid(*code, detail.clone()),
            IssueError::Denied(d) => IssueError::Denied(d.clone()),
            IssueError::Overloaded => IssueError::Overloaded,
            IssueError::AuditUnavailable(e) => IssueError::AuditUnavailable(*e),
            IssueError::KeyUnavailable(e) => IssueError::KeyUnavailable(e.clone()),
            IssueError::Signing(cause) => IssueError::Signing(cause.clone()),
            IssueError::Internal(cause) => IssueError::Internal(cause.to_string().into()),
        }
    }
}
