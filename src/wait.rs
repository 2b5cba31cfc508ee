//! Waiting for rollouts: a pure decision per service snapshot, and the polling loop around it.
//!
//! Success is narrow on purpose: the deployment that our `UpdateService` returned is still
//! PRIMARY and its `rolloutState` is COMPLETED (ECS sets that once the new tasks are healthy
//! at the desired count and the old ones drained). "Running = desired" alone is only used for
//! services without a rollout state (Classic Load Balancer), with a single deployment.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::aws::Aws;
use crate::gha::Printer;
use crate::services::{self, Snapshot};
use crate::tasks::{self, Kind, StoppedTask};

/// What one service's snapshot says about the deployment we are waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done,
    Waiting,
    /// The rollout failed or cannot succeed; ECS may already be rolling back.
    Failed(String),
    /// Someone else's deployment became PRIMARY while ours had not failed.
    Superseded(String),
}

/// One service to wait for.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub service: String,
    /// The deployment id our update returned (or the one found in progress).
    pub deployment: String,
    /// The PRIMARY deployment id from before our update (to recognise an ECS rollback).
    pub before: Option<String>,
    /// The task definition the service ran before our update (same purpose: ECS's rollback
    /// may come back as a new deployment of the old revision).
    pub before_task_definition: Option<String>,
}

/// Decides from one snapshot and the stopped tasks last seen for the service (any deployment:
/// only those `startedBy` our deployment count).
pub fn assess(snap: &Snapshot, w: &Watch, stopped: &[StoppedTask]) -> Verdict {
    let ours = w.deployment.as_str();
    let primary = snap.primary();
    let ecs_rolled_back = primary.is_some_and(|p| {
        p.id != ours
            && (w.before.as_deref() == Some(p.id.as_str())
                || w.before_task_definition.as_deref() == Some(p.task_definition.as_str()))
    });
    match snap.deployments.iter().find(|d| d.id == ours) {
        Some(d) if d.rollout_state.as_deref() == Some("FAILED") => Verdict::Failed(format!(
            "rollout FAILED{}",
            d.rollout_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
        Some(d) if d.status == "PRIMARY" => {
            if d.rollout_state.as_deref() == Some("COMPLETED") {
                return Verdict::Done;
            }
            if let Some(why) = doomed(snap, ours, d.desired, stopped) {
                return Verdict::Failed(why);
            }
            match d.rollout_state.as_deref() {
                Some(_) => Verdict::Waiting,
                None if snap.deployments.len() == 1 && d.running == d.desired => Verdict::Done,
                None => Verdict::Waiting,
            }
        }
        Some(_) if ecs_rolled_back => Verdict::Failed(ECS_ROLLED_BACK.into()),
        Some(_) => Verdict::Superseded(format!(
            "deployment {} became PRIMARY while ours ({ours}) was rolling out: someone else deployed",
            primary.map(|p| p.id.as_str()).unwrap_or("?")
        )),
        None if ecs_rolled_back => Verdict::Failed(ECS_ROLLED_BACK.into()),
        None => match primary {
            Some(p) => Verdict::Superseded(format!(
                "deployment {} replaced ours ({ours}): someone else deployed",
                p.id
            )),
            None => Verdict::Waiting,
        },
    }
}

const ECS_ROLLED_BACK: &str = "ECS rolled the deployment back (deployment circuit breaker or alarm): the previous deployment is PRIMARY again";

/// Our deployment cannot succeed: a task stopped with an error no retry fixes, or as many
/// tasks failed as the circuit breaker tolerates.
fn doomed(snap: &Snapshot, ours: &str, desired: i32, stopped: &[StoppedTask]) -> Option<String> {
    let failed: Vec<&StoppedTask> = stopped
        .iter()
        .filter(|t| t.started_by == ours && tasks::classify(t) != Kind::Routine)
        .collect();
    if failed.iter().any(|t| tasks::classify(t) == Kind::Fatal) {
        return Some(
            "a task of the new revision stopped with an error that retrying cannot fix".into(),
        );
    }
    let limit = tasks::threshold(desired);
    if failed.len() >= limit {
        let breaker = match snap.circuit_breaker {
            Some(b) if b.enable && b.rollback => {
                "; the service's circuit breaker rolls back at this count too"
            }
            Some(b) if b.enable => "; the service's circuit breaker stops at this count too",
            _ => "",
        };
        return Some(format!(
            "{} tasks of the new revision failed, the circuit breaker's threshold for {desired} desired task(s) is {limit}{breaker}",
            failed.len()
        ));
    }
    None
}

/// The result of waiting for one service.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed(Duration),
    Failed(String),
    Superseded(String),
    /// The deadline passed; the text holds what the stopped tasks said, if anything.
    TimedOut(String),
    /// SIGTERM or SIGINT arrived: waiting stopped, the rollout continues in ECS.
    Interrupted(String),
}

/// A line describing the deployment counts, printed whenever it changes.
fn progress_line(snap: &Snapshot, ours: &str) -> String {
    match snap.deployments.iter().find(|d| d.id == ours) {
        Some(d) => format!(
            "{}: {} desired {} pending {} running {} failed {} rollout {}",
            snap.name,
            d.status,
            d.desired,
            d.pending,
            d.running,
            d.failed,
            d.rollout_state.as_deref().unwrap_or("-")
        ),
        None => format!(
            "{}: our deployment is gone; PRIMARY is {}",
            snap.name,
            snap.primary().map(|p| p.id.as_str()).unwrap_or("none")
        ),
    }
}

/// What the loop remembers between polls of one service.
#[derive(Default)]
struct Seen {
    line: String,
    /// failedTasks and pending+running of our deployment when the tasks were last listed.
    failed: i32,
    live: Option<i32>,
    stopped: Vec<StoppedTask>,
}

/// Polls every `poll` until every watched service has an outcome, `deadline` passes, or the
/// process is asked to stop (SIGTERM/SIGINT). Service events from `since_epoch` on are shown.
/// `wait_all` for the run's cluster, poll and deadline, inside a log group; `what` names the
/// kind of rollout ("rollout", "rollback"). A second of slack on `since_epoch` absorbs clock
/// skew between the runner and AWS.
pub async fn wait_grouped(
    aws: &Aws,
    cfg: &crate::config::Config,
    watches: &[Watch],
    what: &str,
    since_epoch: f64,
    out: &Printer,
) -> BTreeMap<String, Outcome> {
    out.group(&format!(
        "Wait for {} {what}(s), up to {} min",
        watches.len(),
        cfg.wait_for.as_secs() / 60
    ));
    let outcomes = wait_all(
        aws,
        &cfg.cluster,
        watches,
        cfg.poll,
        cfg.wait_for,
        since_epoch - 1.0,
        out,
    )
    .await;
    out.end_group();
    outcomes
}

pub async fn wait_all(
    aws: &Aws,
    cluster: &str,
    watches: &[Watch],
    poll: Duration,
    deadline: Duration,
    since_epoch: f64,
    out: &Printer,
) -> BTreeMap<String, Outcome> {
    let started = Instant::now();
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut seen_events: BTreeSet<String> = BTreeSet::new();
    let signal = interrupted();
    tokio::pin!(signal);
    loop {
        let poll_once = async {
            let pending: Vec<&Watch> = watches
                .iter()
                .filter(|w| !outcomes.contains_key(&w.service))
                .collect();
            let names: Vec<String> = pending.iter().map(|w| w.service.clone()).collect();
            let snaps = match services::describe(&aws.ecs, cluster, &names).await {
                Ok(s) => s,
                // A failed poll is not a failed rollout: the SDK already retried; try next time.
                Err(e) => {
                    out.warning(&format!("could not describe the services this time: {e}"));
                    return;
                }
            };
            for w in pending {
                let Some(snap) = snaps.get(services::short_name(&w.service)) else {
                    outcomes.insert(
                        w.service.clone(),
                        Outcome::Failed("the service disappeared while waiting".into()),
                    );
                    continue;
                };
                let s = seen.entry(w.service.clone()).or_default();
                let line = progress_line(snap, &w.deployment);
                if s.line != line {
                    out.line(&line);
                    s.line = line;
                }
                let new_events: Vec<String> = snap
                    .events
                    .iter()
                    .rev()
                    .filter(|e| e.at >= since_epoch && seen_events.insert(e.id.clone()))
                    .map(|e| format!("{}: event: {}", snap.name, e.message))
                    .collect();
                out.untrusted(&new_events);
                // Tasks are listed only when the counts say one stopped: polls stay cheap.
                if let Some(d) = snap.deployments.iter().find(|d| d.id == w.deployment) {
                    let live = d.pending + d.running;
                    let stopped_one = s.live.is_some_and(|l| live < l);
                    if (d.failed > 0 && d.failed != s.failed) || stopped_one {
                        refresh_stopped(aws, cluster, w, s, out).await;
                        s.failed = d.failed;
                    }
                    s.live = Some(live);
                }
                let outcome = match assess(snap, w, &s.stopped) {
                    Verdict::Done => Outcome::Completed(started.elapsed()),
                    Verdict::Waiting => continue,
                    Verdict::Failed(why) => {
                        if s.stopped.is_empty() {
                            refresh_stopped(aws, cluster, w, s, out).await;
                        }
                        Outcome::Failed(explain(aws, w, &why, &s.stopped, out).await)
                    }
                    Verdict::Superseded(why) => Outcome::Superseded(why),
                };
                outcomes.insert(w.service.clone(), outcome);
            }
        };
        let stop = tokio::select! {
            biased;
            name = &mut signal => Some(name),
            _ = poll_once => None,
        };
        if let Some(name) = stop {
            interrupt(watches, &mut outcomes, name, out);
            break;
        }
        if outcomes.len() == watches.len() {
            break;
        }
        if started.elapsed() + poll > deadline {
            for w in watches {
                if outcomes.contains_key(&w.service) {
                    continue;
                }
                let s = seen.entry(w.service.clone()).or_default();
                refresh_stopped(aws, cluster, w, s, out).await;
                let why = format!(
                    "the rollout did not complete within wait-for-minutes ({})",
                    minutes(deadline)
                );
                let text = explain(aws, w, &why, &s.stopped, out).await;
                outcomes.insert(w.service.clone(), Outcome::TimedOut(text));
            }
            break;
        }
        let stop = tokio::select! {
            biased;
            name = &mut signal => Some(name),
            _ = tokio::time::sleep(poll) => None,
        };
        if let Some(name) = stop {
            interrupt(watches, &mut outcomes, name, out);
            break;
        }
    }
    outcomes
}

fn minutes(d: Duration) -> String {
    let m = d.as_secs_f64() / 60.0;
    if m.fract() == 0.0 {
        format!("{m:.0} min")
    } else {
        format!("{m:.1} min")
    }
}

/// Marks every service still waiting as interrupted and says which they are.
fn interrupt(
    watches: &[Watch],
    outcomes: &mut BTreeMap<String, Outcome>,
    signal: &'static str,
    out: &Printer,
) {
    let mid: Vec<&Watch> = watches
        .iter()
        .filter(|w| !outcomes.contains_key(&w.service))
        .collect();
    let list: Vec<String> = mid
        .iter()
        .map(|w| format!("{} (deployment {})", w.service, w.deployment))
        .collect();
    out.error(
        &Default::default(),
        &format!(
            "{signal} received: stopped waiting; still mid-rollout: {} (ECS carries on with them; nothing was rolled back)",
            if list.is_empty() { "none".to_string() } else { list.join(", ") }
        ),
    );
    for w in mid {
        outcomes.insert(
            w.service.clone(),
            Outcome::Interrupted(format!(
                "waiting was interrupted by {signal} while deployment {} was rolling out; check the service in the ECS console",
                w.deployment
            )),
        );
    }
}

/// Resolves when SIGTERM or SIGINT arrives, with the signal's name. Registered on the first
/// poll, so a cancelled workflow gets its outputs and summary instead of a hard kill.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

async fn refresh_stopped(aws: &Aws, cluster: &str, w: &Watch, s: &mut Seen, out: &Printer) {
    match tasks::stopped(&aws.ecs, cluster, &w.service).await {
        Ok(t) => s.stopped = t,
        Err(e) => out.warning(&format!("{e:#}")),
    }
}

/// Prints the evidence of a failed rollout (stop reasons, exit codes, the newest failed task's
/// log lines) and returns the one-line reason for the report.
async fn explain(
    aws: &Aws,
    w: &Watch,
    why: &str,
    stopped: &[StoppedTask],
    out: &Printer,
) -> String {
    let mut failed: Vec<&StoppedTask> = stopped
        .iter()
        .filter(|t| t.started_by == w.deployment && tasks::classify(t) != Kind::Routine)
        .collect();
    // `why` may quote ECS's rolloutStateReason: text from AWS.
    if failed.is_empty() {
        out.untrusted(&[format!("{}: {why}", w.service)]);
        return why.to_string();
    }
    failed.sort_by(|a, b| a.stopped_at.total_cmp(&b.stopped_at));
    let containers = tasks::describe_containers(aws, &failed).await;
    let essential = |td: &str, name: &str| {
        containers
            .get(td)
            .and_then(|cs| cs.iter().find(|c| c.container == name))
            .is_none_or(|c| c.essential)
    };
    let lines = tasks::summary(&failed, &essential);
    out.untrusted(&[format!(
        "{}: {why}; {} stopped task(s) of deployment {}:",
        w.service,
        failed.len(),
        w.deployment
    )]);
    out.untrusted(&lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>());
    if let Some(newest) = failed.last() {
        for c in containers
            .get(&newest.task_definition)
            .into_iter()
            .flatten()
        {
            let (Some(group), Some(prefix), true) = (&c.group, &c.prefix, c.essential) else {
                continue;
            };
            let stream = format!("{prefix}/{}/{}", c.container, newest.id());
            match tasks::log_tail(aws, group, &stream).await {
                Ok(log) if log.is_empty() => {
                    out.line(&format!("{}: no log lines in {group} {stream}", w.service))
                }
                Ok(log) => {
                    out.line(&format!(
                        "{}: last {} log line(s) of container {} (log group {group}, stream {stream}):",
                        w.service,
                        log.len(),
                        c.container
                    ));
                    out.untrusted(&log);
                }
                Err(e) => out.line(&format!("{}: no logs: {e:#}", w.service)),
            }
        }
    }
    let shown: Vec<&str> = lines.iter().take(6).map(String::as_str).collect();
    format!("{why}: {}", shown.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Deployment;

    fn dep(id: &str, status: &str, rollout: Option<&str>, running: i32) -> Deployment {
        Deployment {
            id: id.into(),
            status: status.into(),
            desired: 2,
            running,
            rollout_state: rollout.map(str::to_string),
            ..Deployment::default()
        }
    }

    fn snap(deps: Vec<Deployment>) -> Snapshot {
        Snapshot {
            name: "app".into(),
            deployments: deps,
            ..Snapshot::default()
        }
    }

    fn watch() -> Watch {
        Watch {
            service: "app".into(),
            deployment: "ecs-svc/new".into(),
            before: Some("ecs-svc/old".into()),
            before_task_definition: Some("td:1".into()),
        }
    }

    fn check(deps: Vec<Deployment>, expected: &str) {
        check_with(deps, &[], expected)
    }

    fn check_with(deps: Vec<Deployment>, stopped: &[StoppedTask], expected: &str) {
        let v = assess(&snap(deps), &watch(), stopped);
        let got = match &v {
            Verdict::Done => "done".to_string(),
            Verdict::Waiting => "waiting".to_string(),
            Verdict::Failed(r) => format!("failed: {r}"),
            Verdict::Superseded(r) => format!("superseded: {r}"),
        };
        assert!(
            got.starts_with(expected),
            "{got} does not start with {expected}"
        );
    }

    #[test]
    fn verdicts() {
        check(
            vec![dep("ecs-svc/new", "PRIMARY", Some("COMPLETED"), 2)],
            "done",
        );
        check(
            vec![
                dep("ecs-svc/new", "PRIMARY", Some("IN_PROGRESS"), 1),
                dep("ecs-svc/old", "ACTIVE", Some("COMPLETED"), 2),
            ],
            "waiting",
        );
        check(
            vec![dep("ecs-svc/new", "PRIMARY", Some("FAILED"), 0)],
            "failed: rollout FAILED",
        );
        check(
            vec![dep("ecs-svc/old", "PRIMARY", Some("COMPLETED"), 2)],
            "failed: ECS rolled the deployment back",
        );
        check(
            vec![
                dep("ecs-svc/other", "PRIMARY", Some("IN_PROGRESS"), 0),
                dep("ecs-svc/new", "ACTIVE", Some("IN_PROGRESS"), 1),
            ],
            "superseded",
        );
        check(
            vec![dep("ecs-svc/other", "PRIMARY", Some("IN_PROGRESS"), 0)],
            "superseded",
        );
        // Classic Load Balancer: no rollout state.
        check(vec![dep("ecs-svc/new", "PRIMARY", None, 2)], "done");
        check(
            vec![
                dep("ecs-svc/new", "PRIMARY", None, 2),
                dep("ecs-svc/old", "ACTIVE", None, 1),
            ],
            "waiting",
        );
    }

    fn stopped(started_by: &str, code: &str, reason: &str) -> StoppedTask {
        StoppedTask {
            arn: format!("arn:aws:ecs:us-east-1:1:task/c/{started_by}-{reason}"),
            started_by: started_by.into(),
            stop_code: Some(code.into()),
            stopped_reason: Some(reason.into()),
            ..StoppedTask::default()
        }
    }

    #[test]
    fn stopped_tasks_doom_a_rollout() {
        let going = || {
            vec![
                dep("ecs-svc/new", "PRIMARY", Some("IN_PROGRESS"), 0),
                dep("ecs-svc/old", "ACTIVE", Some("COMPLETED"), 2),
            ]
        };
        let crash = stopped(
            "ecs-svc/new",
            "EssentialContainerExited",
            "Essential container in task exited",
        );
        // Two crashes of two desired tasks: below the threshold of 3.
        check_with(going(), &[crash.clone(), crash.clone()], "waiting");
        check_with(
            going(),
            &[crash.clone(), crash.clone(), crash.clone()],
            "failed: 3 tasks of the new revision failed",
        );
        // Someone else's deployment's tasks and routine stops do not count.
        let old = stopped(
            "ecs-svc/old",
            "EssentialContainerExited",
            "Essential container in task exited",
        );
        let spot = stopped(
            "ecs-svc/new",
            "SpotInterruption",
            "Your Spot Task was interrupted.",
        );
        check_with(
            going(),
            &[crash.clone(), old.clone(), old, spot.clone(), spot],
            "waiting",
        );
        let pull = stopped(
            "ecs-svc/new",
            "TaskFailedToStart",
            "CannotPullContainerError: not found",
        );
        check_with(
            going(),
            std::slice::from_ref(&pull),
            "failed: a task of the new revision stopped with an error that retrying cannot fix",
        );
        // A completed rollout is done whatever stopped on the way.
        check_with(
            vec![dep("ecs-svc/new", "PRIMARY", Some("COMPLETED"), 2)],
            &[pull],
            "done",
        );
    }

    #[test]
    fn ecs_rollback_as_a_new_deployment_of_the_old_revision_is_a_failure() {
        let mut back = dep("ecs-svc/rollback", "PRIMARY", Some("IN_PROGRESS"), 0);
        back.task_definition = "td:1".into();
        let mut ours = dep("ecs-svc/new", "ACTIVE", Some("IN_PROGRESS"), 0);
        ours.task_definition = "td:2".into();
        check(
            vec![back.clone(), ours],
            "failed: ECS rolled the deployment back",
        );
        check(vec![back], "failed: ECS rolled the deployment back");
    }

    /// A recorded sequence: the verdict of each poll, in order.
    #[test]
    fn recorded_sequence_of_a_crash_looping_rollout() {
        let crash = stopped(
            "ecs-svc/new",
            "EssentialContainerExited",
            "Essential container in task exited",
        );
        let mut verdicts = Vec::new();
        for n in 0..4 {
            let deps = vec![
                Deployment {
                    failed: n,
                    ..dep("ecs-svc/new", "PRIMARY", Some("IN_PROGRESS"), 0)
                },
                dep("ecs-svc/old", "ACTIVE", Some("COMPLETED"), 2),
            ];
            let tasks: Vec<StoppedTask> = (0..n)
                .map(|i| StoppedTask {
                    arn: format!("t{i}"),
                    ..crash.clone()
                })
                .collect();
            verdicts.push(matches!(
                assess(&snap(deps), &watch(), &tasks),
                Verdict::Failed(_)
            ));
        }
        assert_eq!(verdicts, vec![false, false, false, true]);
    }
}
