//! The KMS client of one key: its region (the `region` setting, else the
//! key ARN's, else the standard chain's), the standard credential chain, an
//! HTTPS client of rustls with ring and the system's root certificates, and
//! timeouts and retries sized for a call the pipeline waits for.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kms::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::keys::KmsSource;

/// TCP (and TLS) connection set-up to KMS.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The SDK's own bound on one operation, retries included: a backstop only,
/// the key's `timeout` (2 s by default) ends a signature first.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The client for `source`: region from the setting, else the key ARN's,
/// else the standard chain's; credentials from the standard chain.
pub(super) async fn client(source: &KmsSource) -> Result<Client, String> {
    if let Some(url) = &source.endpoint_url {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(format!("endpoint_url {url:?} is not an http:// or https:// URL")),
        }
    }
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        // One quick retry (a pooled connection the server had closed); a
        // throttled or failing KMS is answered 503 and the caller retries.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_millis(200)),
        );
    // The ARN's region before the chain's: a key ARN names the only region
    // that can answer for it, whatever AWS_REGION says. Without either, the
    // loader asks the standard chain (environment, profile, instance metadata).
    if let Some(region) = source.region.clone().or_else(|| arn_region(&source.key_id)) {
        loader = loader.region(aws_config::Region::new(region));
    }
    if let Some(url) = &source.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(format!(
            "no AWS region for {}: set `region` (or --region), AWS_REGION, or name the key by its ARN",
            source.key_id
        ));
    }
    Ok(Client::new(&config))
}

/// The region of a KMS key or alias ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
fn arn_region(key_id: &str) -> Option<String> {
    let mut parts = key_id.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_partition), Some("kms"), Some(region)) if !region.is_empty() => Some(region.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_of_a_key_or_alias_arn() {
        let key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(arn_region(key).as_deref(), Some("eu-west-1"));
        assert_eq!(
            arn_region("arn:aws-cn:kms:cn-north-1:111122223333:alias/cf").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(arn_region("1234abcd-12ab-34cd-56ef-1234567890ab"), None);
        assert_eq!(arn_region("alias/cf"), None);
        assert_eq!(arn_region("arn:aws:kms::111122223333:key/1"), None);
        assert_eq!(arn_region("arn:aws:s3:eu-west-1:111122223333:key/1"), None);
    }

    #[tokio::test]
    async fn an_endpoint_that_is_not_an_http_url_is_refused_before_any_call() {
        for endpoint in ["ftp://kms.local", "kms.eu-west-1.amazonaws.com", "http://"] {
            let source = KmsSource {
                key_id: "arn:aws:kms:eu-west-1:111122223333:key/1".into(),
                region: None,
                endpoint_url: Some(endpoint.into()),
            };
            let refused = client(&source).await.unwrap_err();
            assert!(
                refused.contains("endpoint_url") && refused.contains(endpoint),
                "{refused}"
            );
        }
    }
}
