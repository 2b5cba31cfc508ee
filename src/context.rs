//! What every step of a run shares: the AWS clients, the configuration, the runtime, the
//! printer, who and where the run is, its clock and its timeline. Steps take `&Ctx` instead
//! of six arguments.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::aws::Aws;
use crate::config::Config;
use crate::gha::{Printer, Runtime};
use crate::report::Phase;
use crate::wait::Wait;

/// What a batch of calls is, for how many of them run at once. ECS throttles every account
/// and region with one token bucket per category of action (the ECS API reference's
/// "Request throttling"); a batch of ECS calls of one category never has more in flight
/// than that bucket holds. Past a bucket's burst its refill paces the rest, through
/// throttles that are retried (the SDK's standard retry; `once` for calls that must not run
/// twice), so a run with many services finishes instead of hammering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batch {
    /// Anything else: other services' APIs (CodeDeploy, ECR, SSM, IAM, ...), mixed calls,
    /// a few calls per run.
    Other,
    /// `DescribeTaskDefinition`, `ListTaskDefinitions`: a bucket of 50, refilled at 20 a
    /// second.
    TaskDefinitionReads,
    /// `RegisterTaskDefinition`: a bucket of 20, refilled at one a second.
    Registrations,
    /// `CreateService`, `UpdateService`: a bucket of 50, refilled at 5 a second.
    ServiceUpdates,
}

impl Batch {
    pub(crate) const fn at_once(self) -> usize {
        match self {
            Batch::Other => 10,
            Batch::TaskDefinitionReads | Batch::ServiceUpdates => 50,
            Batch::Registrations => 20,
        }
    }
}

/// Runs `work` with at most ten at once (`Batch::Other`); the answers come back in order.
pub(crate) async fn bounded<F: std::future::Future>(
    work: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    bounded_as(Batch::Other, work).await
}

/// Runs `work` with at most `batch.at_once()` at once, started in order; the answers come
/// back in order. A call that waits out throttles does not hold up the ones after it: as
/// soon as any call is answered, the next one starts.
pub(crate) async fn bounded_as<F: std::future::Future>(
    batch: Batch,
    work: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    use futures::StreamExt;
    // Collected first: a lazy iterator of closures held across the awaits below trips the
    // compiler's Send check for the spawned run.
    let work: Vec<F> = work.into_iter().collect();
    let numbered = work
        .into_iter()
        .enumerate()
        .map(|(i, f)| async move { (i, f.await) });
    let mut answers: Vec<(usize, F::Output)> = futures::stream::iter(numbered)
        .buffer_unordered(batch.at_once())
        .collect()
        .await;
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, a)| a).collect()
}

/// What a step is allowed to do: the modes differ only in this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intent {
    /// `deploy`: change what needs changing.
    Deploy,
    /// `plan`: show what would change; a stack change set may be created and is deleted again.
    Preview,
    /// `verify`: read only.
    ReadOnly,
}

/// When the run started, on both clocks: `Instant` for durations, the epoch for comparing
/// with AWS's timestamps (service events).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub started: Instant,
    pub epoch: f64,
}

pub(crate) fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock {
            started: Instant::now(),
            epoch: epoch_now(),
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The bars of the summary's timeline, added by the phases as they end.
#[derive(Debug, Default)]
pub(crate) struct Timeline(Mutex<Vec<Phase>>);

impl Timeline {
    pub(crate) fn add(&self, name: &str, start: Duration, end: Duration) {
        if let Ok(mut phases) = self.0.lock() {
            phases.push(Phase {
                name: name.to_string(),
                start,
                end,
            });
        }
    }

    pub(crate) fn take(&self) -> Vec<Phase> {
        self.0
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

pub(crate) struct Ctx<'a> {
    pub aws: Aws,
    pub cfg: &'a Config,
    pub rt: &'a Runtime,
    pub out: &'a Printer,
    pub account: String,
    pub region: String,
    pub clock: Clock,
    pub timeline: Timeline,
    /// The preflight's describe of the services, made beside the account's lookup
    /// (`prelude::connect_for_preflight`) and taken by the preflight.
    pub looked: Mutex<Option<Looked>>,
}

/// What the preflight's describe of the services answered: `None` when the cluster is missing.
pub(crate) type Looked =
    anyhow::Result<Option<std::collections::BTreeMap<String, crate::services::Snapshot>>>;

impl Ctx<'_> {
    /// The same run seen through another printer (a held one, for a step that runs beside
    /// others, see `Printer::held`). Its timeline and preflight answer are its own: steps
    /// that add bars to the timeline do not run this way.
    pub(crate) fn with_printer<'b>(&'b self, out: &'b Printer) -> Ctx<'b> {
        Ctx {
            aws: self.aws.clone(),
            cfg: self.cfg,
            rt: self.rt,
            out,
            account: self.account.clone(),
            region: self.region.clone(),
            clock: self.clock,
            timeline: Timeline::default(),
            looked: Default::default(),
        }
    }

    /// A wait in the run's cluster with the run's poll interval, up to `deadline`, showing
    /// service events from `since_epoch` on.
    pub(crate) fn wait(&self, deadline: Duration, since_epoch: f64) -> Wait<'_> {
        Wait {
            aws: &self.aws,
            cluster: &self.cfg.cluster,
            poll: self.cfg.rollout.poll,
            deadline,
            since_epoch,
            out: self.out,
            stop_at_first_failure: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_slow_call_does_not_hold_up_the_next_and_answers_keep_their_order() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let finished = Mutex::new(Vec::new());
        // Ten at once (Batch::Other), twelve calls, the first slow.
        let work = (0..12u64).map(|i| {
            let finished = &finished;
            async move {
                let ms = if i == 0 { 300 } else { 10 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                finished.lock().unwrap().push(i);
                i * 10
            }
        });
        let answers = rt.block_on(bounded_as(Batch::Other, work));
        assert_eq!(answers, (0..12u64).map(|i| i * 10).collect::<Vec<_>>());
        // The eleventh and twelfth started while the first was still waiting.
        let finished = finished.into_inner().unwrap();
        assert_eq!(finished.last(), Some(&0), "{finished:?}");
    }
}
