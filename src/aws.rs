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

/// The bound of one attempt of an AWS call, and of the call with its retries.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

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
    /// EventBridge rules and their targets (`schedules.rs`).
    pub events: aws_sdk_eventbridge::Client,
    /// EventBridge Scheduler schedules (`schedules.rs`).
    pub scheduler: aws_sdk_scheduler::Client,
    /// Terraform state files in S3 (`tfstate.rs`).
    pub s3: aws_sdk_s3::Client,
    /// The services' scalable targets, read when `desired-count` is given (`scaling.rs`).
    pub scaling: aws_sdk_applicationautoscaling::Client,
    /// ECS-native services' target groups, listener rules and listeners (`verify_native.rs`).
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// CodeDeploy blue/green deployments of CODE_DEPLOY services (`rollout/codedeploy.rs`).
    pub codedeploy: aws_sdk_codedeploy::Client,
}

/// The ECS client, without the SDK's client-side retry quota (500 tokens, 5 a retry, per
/// client): a fan-out past an ECS bucket (50 task-definition reads at once, against a
/// bucket of 20 over all ECS calls) used it up in seconds, and from then on every
/// throttled ECS call of the run failed at once, without a retry. The attempts per call
/// and the operation timeout still bound each call.
fn ecs_client(sdk: &SdkConfig) -> aws_sdk_ecs::Client {
    use aws_sdk_ecs::config::retry::{RetryPartition, TokenBucket};
    let partition = RetryPartition::custom("ecs-deploy-ecs")
        .token_bucket(TokenBucket::unlimited())
        .build();
    aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(sdk)
            .retry_partition(partition)
            .build(),
    )
}

impl Aws {
    pub async fn connect(region: &str) -> Aws {
        Aws::from_sdk(Aws::loader(region).load().await)
    }

    /// The shared settings every run uses; `credentials.rs` adds assumed-role credentials.
    pub fn loader(region: &str) -> aws_config::ConfigLoader {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            // Standard retry: exponential backoff with full jitter, per call. Not adaptive: its
            // client-side rate limiter drops to about 0.5 requests/s after a few throttles and
            // stays there, which collapsed a 50-service deploy to minutes (issue 19).
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(8)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
    }

    /// The run's settings and credentials for another region (an SSM parameter or a log
    /// group named by an ARN of another region).
    pub(crate) fn sdk_in(&self, region: &str) -> SdkConfig {
        self.sdk
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    pub fn from_sdk(sdk: SdkConfig) -> Aws {
        Aws {
            ecs: ecs_client(&sdk),
            sts: aws_sdk_sts::Client::new(&sdk),
            cfn: aws_sdk_cloudformation::Client::new(&sdk),
            ecr: aws_sdk_ecr::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            ssm: aws_sdk_ssm::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            events: aws_sdk_eventbridge::Client::new(&sdk),
            scheduler: aws_sdk_scheduler::Client::new(&sdk),
            s3: s3_client(&sdk),
            scaling: aws_sdk_applicationautoscaling::Client::new(&sdk),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
            codedeploy: aws_sdk_codedeploy::Client::new(&sdk),
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

/// S3 with path-style addressing when an endpoint is set (a local AWS such as moto answers on
/// one host, not on `BUCKET.host`); virtual-hosted style otherwise, as AWS prefers.
fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The service's own error code and message when there is one, instead of the SDK's generic
/// "service error" text.
pub(crate) fn aws_error_message<E, R>(err: &aws_sdk_ecs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
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
        SdkError::TimeoutError(_) => format!(
            "the request timed out: no answer within {} s per attempt ({} s in all, retries included)",
            ATTEMPT_TIMEOUT.as_secs(),
            OPERATION_TIMEOUT.as_secs()
        ),
        SdkError::DispatchFailure(e) => format!("could not reach AWS: {e:?}"),
        // An answer that is not AWS's (a proxy's HTML page, a captive portal): say so.
        SdkError::ResponseError(e) => format!(
            "the answer was not an AWS response (a proxy or a wrong AWS_ENDPOINT_URL?): {}",
            crate::aws::describe_raw(e.raw())
        ),
        other => format!("{other}"),
    }
}

/// The status, content type and the start of the body of an answer that could not be read
/// as AWS's.
pub(crate) fn describe_raw<R: std::fmt::Debug + 'static>(raw: &R) -> String {
    let Some(http) =
        (raw as &dyn std::any::Any).downcast_ref::<aws_sdk_ecs::config::http::HttpResponse>()
    else {
        return format!("{raw:?}").chars().take(300).collect();
    };
    let body = http
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let start: String = body.chars().take(120).collect();
    let more = if start.len() < body.len() { "…" } else { "" };
    format!(
        "HTTP {}, content type {}, body starting `{}{more}`",
        http.status().as_u16(),
        http.headers().get("content-type").unwrap_or("none"),
        start.escape_debug()
    )
}

/// `.aws_context(|| "what was being done")` on any SDK call: the service's error code and
/// message, then what we were doing, in one `anyhow::Error`.
pub(crate) trait AwsContext<T> {
    fn aws_context<C: std::fmt::Display + Send + Sync + 'static>(
        self,
        what: impl FnOnce() -> C,
    ) -> Result<T>;
}

impl<T, E, R> AwsContext<T> for std::result::Result<T, aws_sdk_ecs::error::SdkError<E, R>>
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    fn aws_context<C: std::fmt::Display + Send + Sync + 'static>(
        self,
        what: impl FnOnce() -> C,
    ) -> Result<T> {
        self.map_err(|e| anyhow::anyhow!(aws_error_message(&e)).context(what()))
    }
}
