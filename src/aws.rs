//! AWS clients, built once from one `SdkConfig` with explicit retry and timeout settings, and
//! passed to the modules that need them. No wrapper traits around the SDK.
//!
//! The SDK's own credential chain and `AWS_ENDPOINT_URL` handling read the environment; that is
//! the one exception to "only gha.rs reads the environment", and it is the standard AWS one.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The clients of one run.
#[derive(Clone, Debug)]
pub struct Aws {
    pub sdk: SdkConfig,
    pub ecs: aws_sdk_ecs::Client,
    pub sts: aws_sdk_sts::Client,
    pub cfn: aws_sdk_cloudformation::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub iam: aws_sdk_iam::Client,
}

impl Aws {
    pub async fn connect(region: &str) -> Aws {
        Aws::from_sdk(Aws::loader(region).load().await)
    }

    /// The shared settings every run uses; `credentials.rs` adds assumed-role credentials.
    pub fn loader(region: &str) -> aws_config::ConfigLoader {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            // Adaptive retry backs off on throttling, which polling many services invites.
            .retry_config(RetryConfig::adaptive().with_max_attempts(6))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(120))
                    .build(),
            )
    }

    pub fn from_sdk(sdk: SdkConfig) -> Aws {
        Aws {
            ecs: aws_sdk_ecs::Client::new(&sdk),
            sts: aws_sdk_sts::Client::new(&sdk),
            cfn: aws_sdk_cloudformation::Client::new(&sdk),
            ecr: aws_sdk_ecr::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            ssm: aws_sdk_ssm::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            sdk,
        }
    }

    /// `sts:GetCallerIdentity`: proves the credentials work and gives the account id.
    pub async fn account_id(&self) -> Result<String> {
        let id = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_error_message(&e)))
            .context("checking the AWS credentials (sts:GetCallerIdentity); configure credentials with aws-actions/configure-aws-credentials or input role-to-assume")?;
        Ok(id.account().unwrap_or_default().to_string())
    }
}

/// The service's own error code and message when there is one, instead of the SDK's generic
/// "service error" text.
pub fn aws_error_message<E, R>(err: &aws_sdk_ecs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ecs::error::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            match (inner.code(), inner.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("{inner}"),
            }
        }
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        SdkError::DispatchFailure(e) => format!("could not reach AWS: {e:?}"),
        other => format!("{other}"),
    }
}
