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

/// Attempts whose fate is unknown (a timeout, a 5xx), the first included; throttled attempts
/// are not counted (`Timing::throttled_for`).
const ATTEMPTS: u32 = 6;

/// How long `call_once` waits, and for how long in all.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// The backoff bound of the first retry; it doubles with every retry, up to `cap`.
    base: Duration,
    cap: Duration,
    /// How long a throttled call keeps trying.
    throttled_for: Duration,
    /// The whole of one `call_once`, attempts, backoff and reconciling included.
    overall: Duration,
}

/// The timing of this build: the unit tests' is the same shape in milliseconds.
fn timing() -> Timing {
    #[cfg(test)]
    return tests::FAST;
    #[cfg(not(test))]
    TIMING
}

const TIMING: Timing = Timing {
    base: Duration::from_millis(200),
    cap: Duration::from_secs(4),
    // ECS's RegisterTaskDefinition bucket holds 20 calls and refills at one a second, so 50
    // new revisions at once need about 30 s.
    throttled_for: Duration::from_secs(110),
    // The bound a single AWS call has with the SDK's own retries.
    overall: Duration::from_secs(120),
};

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
fn backoff(t: &Timing, n: u32) -> Duration {
    let bound = t.base.saturating_mul(2u32.saturating_pow(n)).min(t.cap);
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
    let t = timing();
    let attempts = async move {
        let started = std::time::Instant::now();
        let mut last = String::new();
        let mut unknown = false;
        let (mut failed, mut throttled) = (0u32, 0u32);
        for n in 0.. {
            if n > 0 {
                tokio::time::sleep(backoff(&t, n)).await;
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
                // A throttle does not use up an attempt: past its burst an ECS bucket refills
                // slowly (RegisterTaskDefinition's at one call a second), so a call past the
                // burst waits its turn, bounded by time, not by a count.
                Fate::NotRun => {
                    throttled += 1;
                    if started.elapsed() + t.cap >= t.throttled_for {
                        let e = anyhow!(
                            "{last} (throttled {throttled} times in {} s: the account's request \
                             rate for {what} is used up; run again later, or ask AWS for a \
                             higher quota)",
                            started.elapsed().as_secs()
                        );
                        return Err(if unknown { e.context(MaybeRan) } else { e });
                    }
                }
                Fate::Unknown => {
                    unknown = true;
                    failed += 1;
                    match reconcile().await {
                        Ok(Some(u)) => return Ok(Done::Found(u)),
                        Ok(None) if failed < ATTEMPTS => {}
                        Ok(None) => break,
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
        Err(anyhow!("{last} (after {failed} attempts of unknown fate)").context(MaybeRan))
    };
    match tokio::time::timeout(t.overall, attempts).await {
        Ok(r) => r,
        Err(_) => Err(anyhow!(
            "no answer within {} s, retries included",
            t.overall.as_secs()
        )
        .context(MaybeRan)),
    }
}

/// An idempotent call the SDK retries itself, made patient with throttles: when the SDK's
/// attempts ran out on a throttle (or its retry quota did), the call waits its turn like
/// `call_once`'s, for up to `throttled_for`. For the reads that fan out per service, so a
/// bucket smaller than the fan-out slows a deploy instead of failing it.
pub(crate) async fn patient<T, E, R, C, CF>(mut call: C) -> std::result::Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
    C: FnMut() -> CF,
    CF: Future<Output = std::result::Result<T, SdkError<E, R>>>,
{
    let t = timing();
    let started = std::time::Instant::now();
    let mut n = 0;
    let mut last = None;
    let waiting = async {
        loop {
            match call().await {
                Err(e)
                    if fate(&e) == Fate::NotRun && started.elapsed() + t.cap < t.throttled_for =>
                {
                    last = Some(e);
                    n += 1;
                    tokio::time::sleep(backoff(&t, n)).await;
                }
                answer => return answer,
            }
        }
    };
    // A last call begun just before `throttled_for` ran out does not run past `overall`.
    match tokio::time::timeout(t.overall.saturating_sub(started.elapsed()), waiting).await {
        Ok(answer) => answer,
        Err(_) => Err(last.unwrap_or_else(|| SdkError::timeout_error("no answer in time"))),
    }
}

/// The per-call configuration that turns the SDK's retries off (`call_once` decides).
pub(crate) fn no_retries() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default()
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
}

#[cfg(test)]
// The SDK's error is what the calls answer with; boxing it here would test another shape.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    use aws_sdk_ecs::error::ErrorMetadata;
    use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionError as E;
    use std::sync::atomic::{AtomicU32, Ordering};

    type Answer = std::result::Result<(), SdkError<E, ()>>;

    fn throttled() -> Answer {
        let meta = ErrorMetadata::builder()
            .code("ThrottlingException")
            .message("Rate exceeded")
            .build();
        Err(SdkError::service_error(E::generic(meta), ()))
    }

    /// The same shape as `TIMING`, in milliseconds (`timing()` in the unit tests).
    pub(super) const FAST: Timing = Timing {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        throttled_for: Duration::from_millis(300),
        overall: Duration::from_millis(600),
    };

    /// Runs `call_once` with `FAST`: what it ended with, how many calls and reconciles it
    /// made, and the time spent.
    fn run(answer: impl Fn(u32) -> Answer) -> (Result<Done<(), ()>>, u32, u32, Duration) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let (calls, looks) = (AtomicU32::new(0), AtomicU32::new(0));
        let started = std::time::Instant::now();
        let done = rt.block_on(call_once(
            "registration",
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                std::future::ready(answer(n))
            },
            || {
                looks.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Ok(None))
            },
        ));
        (
            done,
            calls.into_inner(),
            looks.into_inner(),
            started.elapsed(),
        )
    }

    #[test]
    fn a_throttled_call_waits_its_turn_past_the_attempt_count() {
        // 30 throttles in a row (a bucket refilling at one call a second, 30 calls ahead):
        // far more than ATTEMPTS, and the call still goes through, once, nothing reconciled.
        let (done, calls, looks, _) = run(|n| if n < 30 { throttled() } else { Ok(()) });
        assert!(matches!(done, Ok(Done::Sent(()))), "{done:?}");
        assert_eq!((calls, looks), (31, 0));
    }

    #[test]
    fn a_call_throttled_throughout_gives_up_in_time_and_surely_did_not_run() {
        let (done, calls, looks, spent) = run(|_| throttled());
        let e = done.expect_err("throttled throughout");
        assert!(!maybe_ran(&e), "a throttled call did not run: {e:#}");
        let text = format!("{e:#}");
        assert!(
            text.contains("ThrottlingException: Rate exceeded"),
            "{text}"
        );
        assert!(text.contains("ask AWS for a higher quota"), "{text}");
        assert!(
            calls > ATTEMPTS && looks == 0,
            "{calls} calls, {looks} looks"
        );
        assert!(
            spent >= FAST.throttled_for - FAST.cap && spent < FAST.overall,
            "gave up after {spent:?}"
        );
    }

    #[test]
    fn a_patient_read_outlasts_throttles_and_gives_up_on_anything_else_at_once() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let calls = AtomicU32::new(0);
        let read = |fail_after: u32| {
            calls.store(0, Ordering::SeqCst);
            rt.block_on(patient(|| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                std::future::ready(match n {
                    _ if n < 25 => throttled(),
                    _ if n >= fail_after => Err(SdkError::timeout_error("attempt timeout")),
                    _ => Ok(()),
                })
            }))
        };
        assert!(read(u32::MAX).is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 26);
        // Not a throttle: returned as it is, not tried again.
        assert!(matches!(read(25), Err(SdkError::TimeoutError(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 26);
        // Throttled throughout: the throttle, within the bound.
        let started = std::time::Instant::now();
        rt.block_on(async {
            let e = patient(|| std::future::ready(throttled())).await;
            assert!(e.is_err());
        });
        assert!(started.elapsed() < FAST.overall, "{:?}", started.elapsed());
    }

    #[test]
    fn throttles_after_an_attempt_of_unknown_fate_leave_it_unknown() {
        let (done, calls, looks, _) = run(|n| match n {
            0 => Err(SdkError::timeout_error("attempt timeout")),
            _ => throttled(),
        });
        let e = done.expect_err("throttled after the first attempt");
        assert!(maybe_ran(&e), "the first attempt may have run: {e:#}");
        assert!(
            format!("{e:#}").contains("ask AWS for a higher quota"),
            "{e:#}"
        );
        assert!(
            calls > ATTEMPTS && looks == 1,
            "{calls} calls, {looks} looks"
        );
    }

    #[test]
    fn attempts_of_unknown_fate_are_counted_and_each_is_looked_for() {
        let (done, calls, looks, _) = run(|_| Err(SdkError::timeout_error("attempt timeout")));
        let e = done.expect_err("no answer ever");
        assert!(maybe_ran(&e), "{e:#}");
        assert_eq!((calls, looks), (ATTEMPTS, ATTEMPTS));
        let text = format!("{e:#}");
        assert!(text.contains("after 6 attempts of unknown fate"), "{text}");
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        for n in 0..10 {
            let b = backoff(&TIMING, n);
            assert!(b <= TIMING.cap, "{b:?}");
            assert!(b <= TIMING.base * 2u32.pow(n), "{n}: {b:?}");
        }
    }
}
