//! Calls that must not happen twice: `RegisterTaskDefinition` (a retry after an attempt that
//! succeeded unseen registers a second revision) and `UpdateService` (a second deployment).
//!
//! The SDK's own retries are turned off for them (`no_retries`). `call_once` retries only
//! what surely did not run (throttling, an explicit refusal to serve): with exponential
//! backoff and full jitter. After an attempt whose fate is unknown (a timeout, a dropped
//! connection, a 5xx) it first looks whether the call took effect (`reconcile`), and adopts
//! that result instead of calling again.

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Result};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};

use crate::aws::aws_error_message;

/// Attempts in all, the first included.
const ATTEMPTS: u32 = 6;
const BASE: Duration = Duration::from_millis(200);
const CAP: Duration = Duration::from_secs(10);

/// What an error says about whether the call ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// It did not run and may be sent again (throttled).
    NotRun,
    /// It was refused for a reason a retry does not change.
    Refused,
    /// It may or may not have run.
    Unknown,
}

pub(crate) fn fate<E, R>(err: &SdkError<E, R>) -> Fate
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or_default();
            if matches!(
                code,
                "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
                    | "ServiceUnavailable"
                    | "ServiceUnavailableException"
            ) {
                Fate::NotRun
            } else if code == "ServerException" || code.is_empty() {
                Fate::Unknown
            } else {
                Fate::Refused
            }
        }
        SdkError::ConstructionFailure(_) => Fate::Refused,
        _ => Fate::Unknown,
    }
}

/// Full jitter: a random wait between zero and the exponential bound of attempt `n`.
fn backoff(n: u32) -> Duration {
    let bound = BASE.saturating_mul(2u32.saturating_pow(n)).min(CAP);
    let mut bytes = [0u8; 4];
    let r = getrandom::fill(&mut bytes)
        .map(|_| u32::from_le_bytes(bytes))
        .unwrap_or(u32::MAX / 2);
    bound.mul_f64(f64::from(r) / f64::from(u32::MAX))
}

/// The error of a call that may have taken effect even though it failed: its caller must
/// treat the service as changed (and undo it) rather than as untouched.
#[derive(Debug)]
pub(crate) struct MaybeRan;

impl std::fmt::Display for MaybeRan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("it may have taken effect")
    }
}

/// Whether `e` says its call may have taken effect.
pub(crate) fn maybe_ran(e: &anyhow::Error) -> bool {
    e.downcast_ref::<MaybeRan>().is_some()
}

/// The whole of one `call_once`, attempts, backoff and reconciling included (the bound a
/// single AWS call has with the SDK's own retries).
const OVERALL: Duration = Duration::from_secs(120);

/// How a call that must not run twice ended: its own answer, or what `reconcile` found of an
/// attempt whose answer was lost.
#[derive(Debug)]
pub(crate) enum Done<T, U> {
    Sent(T),
    Found(U),
}

/// Runs `call` until it succeeds, is refused, or `reconcile` finds that an attempt of unknown
/// fate took effect. `what` names the call in errors.
pub(crate) async fn call_once<T, U, E, R, C, CF, K, KF>(
    what: &str,
    mut call: C,
    mut reconcile: K,
) -> Result<Done<T, U>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
    C: FnMut() -> CF,
    CF: Future<Output = std::result::Result<T, SdkError<E, R>>>,
    K: FnMut() -> KF,
    KF: Future<Output = Result<Option<U>>>,
{
    let attempts = async move {
        let mut last = String::new();
        let mut unknown = false;
        for n in 0..ATTEMPTS {
            if n > 0 {
                tokio::time::sleep(backoff(n)).await;
            }
            let err = match call().await {
                Ok(t) => return Ok(Done::Sent(t)),
                Err(e) => e,
            };
            last = aws_error_message(&err);
            match fate(&err) {
                // A refusal after an unknown attempt still leaves that attempt unknown.
                Fate::Refused if unknown => return Err(anyhow!(last).context(MaybeRan)),
                Fate::Refused => return Err(anyhow!(last)),
                Fate::NotRun => continue,
                Fate::Unknown => {
                    unknown = true;
                    match reconcile().await {
                        Ok(Some(u)) => return Ok(Done::Found(u)),
                        Ok(None) => continue,
                        Err(e) => {
                            return Err(anyhow!(
                                "{last}; and looking whether the {what} took effect failed: {e:#}"
                            )
                            .context(MaybeRan))
                        }
                    }
                }
            }
        }
        let e = anyhow!("{last} (after {ATTEMPTS} attempts)");
        Err(if unknown { e.context(MaybeRan) } else { e })
    };
    match tokio::time::timeout(OVERALL, attempts).await {
        Ok(r) => r,
        Err(_) => Err(
            anyhow!("no answer within {} s, retries included", OVERALL.as_secs()).context(MaybeRan),
        ),
    }
}

/// The per-call configuration that turns the SDK's retries off (`call_once` decides).
pub(crate) fn no_retries() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default()
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_grows() {
        for n in 0..10 {
            let b = backoff(n);
            assert!(b <= CAP, "{b:?}");
            assert!(b <= BASE * 2u32.pow(n), "{n}: {b:?}");
        }
    }
}
