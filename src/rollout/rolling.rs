//! The rolling way (today's ECS default): one `UpdateService` starts it, `DescribeServices`
//! observes it, and the decision below reads the deployment that `UpdateService` returned.
//!
//! Success is narrow on purpose: our deployment is still PRIMARY and its `rolloutState` is
//! COMPLETED (ECS sets that once the new tasks are healthy at the desired count and the old
//! ones drained). "Running = desired" alone is only used for services without a rollout state
//! (Classic Load Balancer), with a single deployment.

use anyhow::Result;
use aws_sdk_ecs::types::DeploymentRolloutState;

use super::{Change, Verdict, Watch};
use crate::aws::Aws;
use crate::services::{self, Snapshot, PRIMARY};
use crate::tasks::{self, Kind, StoppedTask};

/// One `UpdateService` with the task definition and every changed attribute together (two
/// calls would start two deployments). The undo is the same call back to the revision and
/// attributes the service had (forced when that revision is what we deployed: a redeploy of
/// the same revision, which only a new deployment undoes).
pub(super) async fn start(
    aws: &Aws,
    cluster: &str,
    service: &str,
    change: &Change,
) -> Result<String> {
    services::update(
        &aws.ecs,
        cluster,
        service,
        &change.task_definition,
        change.desired_count,
        change.force,
        &change.attributes,
    )
    .await
}

/// Decides from one snapshot and the stopped tasks last seen for the service (any deployment:
/// only those `startedBy` our deployment count).
pub(crate) fn decide(snap: &Snapshot, w: &Watch, stopped: &[StoppedTask]) -> Verdict {
    let ours = w.deployment.as_str();
    let primary = snap.primary();
    let ecs_rolled_back = primary.is_some_and(|p| {
        p.id != ours
            && (w.before.as_deref() == Some(p.id.as_str())
                || w.before_task_definition.as_deref() == Some(p.task_definition.as_str()))
    });
    match snap.deployments.iter().find(|d| d.id == ours) {
        Some(d) if d.rollout_state == Some(DeploymentRolloutState::Failed) => Verdict::Failed(format!(
            "rollout FAILED{}",
            d.rollout_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
        Some(d) if d.status == PRIMARY => {
            if d.rollout_state == Some(DeploymentRolloutState::Completed) {
                return Verdict::Done;
            }
            if let Some(why) = doomed(snap, ours, d.desired, stopped) {
                return Verdict::Failed(why);
            }
            match d.rollout_state {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Rollout;
    use crate::services::Deployment;
    use crate::tasks::StoppedTask;

    fn dep(id: &str, status: &str, rollout: Option<&str>, running: i32) -> Deployment {
        Deployment {
            id: id.into(),
            status: status.into(),
            desired: 2,
            running,
            rollout_state: rollout.map(DeploymentRolloutState::from),
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
            before: Some("ecs-svc/old".into()),
            before_task_definition: Some("td:1".into()),
            ..Watch::new("app", Rollout::Rolling, "ecs-svc/new")
        }
    }

    fn check(deps: Vec<Deployment>, expected: &str) {
        check_with(deps, &[], expected)
    }

    fn check_with(deps: Vec<Deployment>, stopped: &[StoppedTask], expected: &str) {
        let v = decide(&snap(deps), &watch(), stopped);
        let got = match &v {
            Verdict::Done => "done".to_string(),
            Verdict::Waiting => "waiting".to_string(),
            Verdict::Failed(r) => format!("failed: {r}"),
            Verdict::Superseded(r) => format!("superseded: {r}"),
            Verdict::Reached(r) => format!("reached: {r}"),
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
                decide(&snap(deps), &watch(), &tasks),
                Verdict::Failed(_)
            ));
        }
        assert_eq!(verdicts, vec![false, false, false, true]);
    }
}
