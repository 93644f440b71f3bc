//! What a failed KMS call means for the pipeline: every SDK error becomes
//! one [`RemoteKeyError`] kind (the `result` label of
//! `cfsign_key_operations_total`) with a text naming the cause. The text
//! comes from KMS's error code and message or the SDK's error chain, none of
//! which carries credentials.

use std::error::Error;

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

use crate::keys::RemoteKeyError;

/// KMS (and AWS-wide) codes for "slow down".
const THROTTLED: [&str; 5] = [
    "ThrottlingException",
    "Throttling",
    "LimitExceededException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];
/// Codes for a KMS that cannot answer now but may soon.
const TRANSIENT: [&str; 5] = [
    "KMSInternalException",
    "KMSInternal",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "ServiceUnavailableException",
];

/// The kind and text of a failed KMS call.
pub(super) fn classify<E>(error: &SdkError<E>) -> RemoteKeyError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("an unnamed error");
            let text = match service.err().message() {
                Some(message) => format!("{code} (HTTP {status}): {message}"),
                None => format!("{code} (HTTP {status})"),
            };
            service_kind(code, status, text)
        }
        SdkError::TimeoutError(_) => RemoteKeyError::Unavailable("KMS did not answer in time".into()),
        // Credentials are resolved on the way out: none found is a dispatch
        // failure too (at start an error; later, a refresh that failed).
        SdkError::DispatchFailure(_) if causes(error).contains("no providers in chain provided credentials") => {
            RemoteKeyError::Unavailable(
                "no AWS credentials: none of the environment, profile, web identity (IRSA), container or \
                 instance metadata gave any"
                    .into(),
            )
        }
        SdkError::DispatchFailure(_) => RemoteKeyError::Unavailable(format!("cannot reach KMS: {}", causes(error))),
        SdkError::ResponseError(response) => RemoteKeyError::Unavailable(format!(
            "unreadable KMS answer (HTTP {}): {}",
            response.raw().status().as_u16(),
            causes(error)
        )),
        // Before anything was sent: a request cfsign could not build is an
        // operator's matter.
        _ => RemoteKeyError::Refused(causes(error)),
    }
}

/// `error` and its sources, each once, joined with ": " (the SDK's own
/// rendering appends a `Debug` dump).
fn causes(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// The kind of a KMS error answer with `code` and HTTP `status`.
fn service_kind(code: &str, status: u16, text: String) -> RemoteKeyError {
    if status == 429 || THROTTLED.contains(&code) {
        RemoteKeyError::Throttled(text)
    } else if status >= 500 || TRANSIENT.contains(&code) {
        RemoteKeyError::Unavailable(text)
    } else {
        // AccessDenied, DisabledException, KMSInvalidStateException,
        // InvalidKeyUsage, NotFound, bad credentials: an operator must act.
        RemoteKeyError::Refused(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_pick_the_kind() {
        let kind = |code, status| service_kind(code, status, String::new()).label();
        assert_eq!(kind("ThrottlingException", 400), "throttled");
        assert_eq!(kind("LimitExceededException", 400), "throttled");
        assert_eq!(kind("SomethingNew", 429), "throttled");
        assert_eq!(kind("KMSInternalException", 500), "unavailable");
        assert_eq!(kind("DependencyTimeoutException", 503), "unavailable");
        assert_eq!(kind("KeyUnavailableException", 500), "unavailable");
        assert_eq!(kind("InternalFailure", 502), "unavailable");
        for code in [
            "AccessDeniedException",
            "DisabledException",
            "KMSInvalidStateException",
            "InvalidKeyUsageException",
            "NotFoundException",
            "UnrecognizedClientException",
        ] {
            assert_eq!(kind(code, 400), "refused", "{code}");
        }
    }
}
