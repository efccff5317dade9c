//! The S3 client: a custom endpoint with path-style addressing, checksums only where S3
//! requires them (so S3-compatible servers accept the requests), static keys or AWS's
//! default credential chain, timeouts, and the SDK's retries with backoff
//! (`s3.part.retries`, `s3.retry.backoff.ms`) on throttling, 5xx and dropped connections.
//!
//! A file up to `s3.part.size` goes up in one `PutObject`; a larger one as a multipart
//! upload, one part in memory at a time, aborted when a part fails. Either way the object
//! appears whole or not at all.

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use weir_connect_api::{ConnectorError, Result};

use crate::config::Settings;
use crate::spool::Parts;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One attempt of one request (a part of up to `s3.part.size` bytes included).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// The bucket of a task.
pub struct Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    endpoint: String,
    part_size: usize,
}

impl Store {
    /// A client for `settings`; the default credential chain is read here when no keys
    /// are configured.
    pub async fn connect(settings: &Settings) -> Self {
        let retry = RetryConfig::standard()
            .with_max_attempts(settings.part_retries.saturating_add(1))
            .with_initial_backoff(settings.retry_backoff.max(Duration::from_millis(1)))
            .with_max_backoff(Duration::from_secs(20));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build();
        let mut builder = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .force_path_style(settings.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .retry_config(retry)
            .timeout_config(timeouts);
        builder = match &settings.credentials {
            Some((id, secret)) => builder.credentials_provider(Credentials::new(
                id,
                secret.expose(),
                None,
                None,
                "weir-config",
            )),
            None => {
                let chain =
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .region(Region::new(settings.region.clone()))
                        .build()
                        .await;
                builder.credentials_provider(chain)
            }
        };
        if let Some(url) = &settings.endpoint {
            builder = builder.endpoint_url(url);
        }
        Self {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: settings.bucket.clone(),
            endpoint: settings.endpoint_name(),
            part_size: settings.part_size,
        }
    }

    /// Fails (for good) when the bucket is missing or the credentials are refused; a server
    /// that cannot be reached is a retriable failure.
    pub async fn check_bucket(&self) -> Result<()> {
        let (bucket, endpoint) = (&self.bucket, &self.endpoint);
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let detail = DisplayErrorContext(&e).to_string();
                if no_credentials(&e) {
                    return Err(self.no_credentials(&detail));
                }
                match status {
                    Some(404) => Err(ConnectorError::fatal(format!(
                        "Non-existent S3 bucket: {bucket} (at {endpoint})"
                    ))),
                    Some(401 | 403) => Err(ConnectorError::fatal(format!(
                        "Access to S3 bucket {bucket} at {endpoint} was denied (HTTP {}): check aws.access.key.id and aws.secret.access.key or the credentials of the default chain",
                        status.unwrap_or(403)
                    ))),
                    Some(code) if code < 500 && code != 429 => Err(ConnectorError::fatal(format!(
                        "Cannot use S3 bucket {bucket} at {endpoint}: HTTP {code}: {detail}"
                    ))),
                    _ => Err(ConnectorError::retriable(format!(
                        "Cannot reach S3 bucket {bucket} at {endpoint}: {detail}"
                    ))),
                }
            }
        }
    }

    /// The part size files are cut into.
    pub fn part_size(&self) -> usize {
        self.part_size
    }

    /// Uploads a finished file (from [`Spool::into_parts`] with [`Store::part_size`]) as
    /// `key`; it can be uploaded again after a failure.
    pub async fn upload(&self, key: &str, parts: &mut Parts) -> Result<()> {
        parts.rewind();
        if parts.len() <= self.part_size as u64 {
            let body = parts
                .next_part()
                .map_err(|e| spool_error(key, e))?
                .unwrap_or_default();
            return self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.failure("upload", key, e));
        }
        self.multipart(key, parts).await
    }

    async fn multipart(&self, key: &str, parts: &mut Parts) -> Result<()> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.failure("start a multipart upload of", key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = self.upload_parts(key, &upload_id, parts).await;
        if result.is_err() {
            // Best effort: a leftover upload costs storage until the bucket's lifecycle
            // rule removes it, never correctness (the object does not appear).
            if let Err(e) = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await
            {
                tracing::warn!(bucket = %self.bucket, key, error = %DisplayErrorContext(&e), "cannot abort a failed multipart upload");
            }
        }
        result
    }

    async fn upload_parts(&self, key: &str, upload_id: &str, parts: &mut Parts) -> Result<()> {
        let mut done = Vec::new();
        let mut number = 1;
        while let Some(body) = parts.next_part().map_err(|e| spool_error(key, e))? {
            let sent = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| self.failure("upload a part of", key, e))?;
            done.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(sent.e_tag().map(str::to_string))
                    .build(),
            );
            number += 1;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.failure("complete the multipart upload of", key, e))
    }

    fn no_credentials(&self, detail: &str) -> ConnectorError {
        ConnectorError::fatal(format!(
            "No AWS credentials for S3 bucket {} at {}: set aws.access.key.id and aws.secret.access.key, or give AWS's default chain its credentials (environment, profile, web identity, container or instance metadata): {detail}",
            self.bucket, self.endpoint
        ))
    }

    /// A failed request after the SDK's retries: denied access, a missing bucket and missing
    /// credentials fail the task; anything else (server down, throttling, timeouts) is
    /// retried.
    fn failure<E, R>(&self, what: &str, key: &str, e: SdkError<E, R>) -> ConnectorError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
        SdkError<E, R>: std::error::Error,
    {
        let code = e
            .as_service_error()
            .and_then(|s| s.code())
            .unwrap_or_default()
            .to_string();
        let message = format!(
            "cannot {what} s3://{}/{key} at {}: {}",
            self.bucket,
            self.endpoint,
            DisplayErrorContext(&e)
        );
        match code.as_str() {
            "NoSuchBucket" | "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" => {
                ConnectorError::fatal(message)
            }
            _ => ConnectorError::retriable(message),
        }
    }
}

/// Whether a request failed before it was sent because no credentials could be found.
fn no_credentials<E, R>(e: &SdkError<E, R>) -> bool
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    matches!(e, SdkError::DispatchFailure(d) if d.is_other())
        && DisplayErrorContext(e)
            .to_string()
            .contains("no credentials")
}

fn spool_error(key: &str, e: std::io::Error) -> ConnectorError {
    ConnectorError::fatal(format!("cannot read the spooled file for {key}")).caused_by(e)
}
