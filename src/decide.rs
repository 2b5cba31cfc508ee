//! The run's decisions, as pure functions of the per-service records: what to do with a
//! service (`decide`), what became of it (`service_result`), and the run's result
//! (`conclude`). They read only what was observed, never what was attempted: a rollback whose
//! call was refused, or whose rollout ECS never confirmed, is not reported as rolled back.

use aws_sdk_ecs::types::DeploymentRolloutState;

use crate::arn::revision_label;
use crate::record::{Action, ServiceRun};
use crate::report::{RunResult, ServiceResult};
use crate::services::Snapshot;
use crate::wait::Outcome;

/// What the user asked for that bears on the decision.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Asked {
    pub force_new_deployment: bool,
    pub desired_count: Option<i32>,
}

/// What to do with a service whose rendered revision differs (`changed`) or not from what it
/// runs (`live`).
pub(crate) fn decide(live: &Snapshot, changed: bool, asked: Asked) -> Action {
    let primary = live.primary().cloned().unwrap_or_default();
    let settled = match &primary.rollout_state {
        Some(state) => *state == DeploymentRolloutState::Completed,
        None => live.deployments.len() == 1 && primary.running == primary.desired,
    };
    if changed {
        Action::Register
    } else if asked.force_new_deployment {
        Action::Redeploy
    } else if asked.desired_count.is_some_and(|n| n != live.desired) {
        Action::Scale
    } else if settled {
        Action::Nothing
    } else if primary.rollout_state == Some(DeploymentRolloutState::InProgress) {
        Action::WaitForCurrent(primary.id)
    } else {
        Action::Redeploy
    }
}

/// The command that finishes an undo by hand: `update-service`, which ECS refuses for a
/// CODE_DEPLOY service, whose revision moves only through a CodeDeploy deployment.
fn by_hand(run: &ServiceRun, cluster: &str, to: &str) -> String {
    let service = run.name();
    if run.rollout == Some(crate::rollout::Rollout::CodeDeploy) {
        return format!(
            "finish it by hand with a CodeDeploy deployment of the service's deployment group whose AppSpec names {} (aws deploy create-deployment …), or redeploy that revision with ecs-deploy",
            revision_label(to)
        );
    }
    format!(
        "finish it by hand: aws ecs update-service --cluster {cluster} --service {service} --task-definition {}",
        revision_label(to)
    )
}

/// What the undo did, in words, and whether ECS confirmed it.
fn undo_words(run: &ServiceRun, cluster: &str) -> Option<(String, bool)> {
    let u = run.undo.as_ref()?;
    let rev = revision_label(&u.to);
    let runs = u
        .runs_now
        .as_deref()
        .unwrap_or_else(|| run.final_task_definition());
    let hand = by_hand(run, cluster, &u.to);
    if u.scaled_to_zero {
        return Some(match (&u.started, &u.outcome) {
            (Err(e), _) => (
                format!("it was created in this run and has no earlier revision; scaling it to 0 tasks was refused: {e}; scale or delete it by hand"),
                false,
            ),
            (Ok(_), Some(Outcome::Completed(_))) => (
                "it was created in this run and has no earlier revision to go back to: it was scaled to 0 tasks".to_string(),
                true,
            ),
            (Ok(_), _) => (
                "it was created in this run and has no earlier revision: scaling it to 0 tasks was started but not confirmed".to_string(),
                false,
            ),
        });
    }
    Some(match (&u.started, &u.outcome) {
        (Err(e), _) => (
            format!(
                "the rollback to {rev} was refused: {e}; the service still runs {}; {hand}",
                revision_label(runs)
            ),
            false,
        ),
        (Ok(_), Some(Outcome::Completed(d))) => (
            format!(
                "rolled back to {rev}; that rollout completed in {:.0} s",
                d.as_secs_f64()
            ),
            true,
        ),
        // Someone else's deployment replaced the rollback: the service runs theirs, and
        // undoing by hand would undo their work too.
        (Ok(d), Some(Outcome::Superseded(why))) => (
            format!(
                "the rollback to {rev} (deployment {d}) did not complete: {why}; check the service before changing it again"
            ),
            false,
        ),
        (Ok(d), Some(o)) => {
            let why = match o {
                Outcome::Failed(r)
                | Outcome::TimedOut(r)
                | Outcome::Interrupted(r)
                | Outcome::Superseded(r)
                | Outcome::Abandoned(r)
                | Outcome::Reached(r) => r.as_str(),
                Outcome::Completed(_) => "",
            };
            (
                format!(
                    "the rollback to {rev} (deployment {d}) did not complete: {why}; check the service; {hand}"
                ),
                false,
            )
        }
        (Ok(d), None) => (
            format!(
                "the rollback to {rev} was started (deployment {d}) but not waited for, so it is not confirmed"
            ),
            false,
        ),
    })
}

/// What became of one service in a deploy, from its record.
pub(crate) fn service_result(run: &ServiceRun, cluster: &str) -> ServiceResult {
    // Held back before its turn (the one-off task failed): it would have been deployed.
    if run.held && !run.maybe_changed && run.error.is_none() {
        return match run.action {
            Action::Nothing => ServiceResult::Unchanged,
            _ => ServiceResult::NotUpdated,
        };
    }
    let undo = undo_words(run, cluster);
    if let Some(why) = run.failure() {
        return match undo {
            Some((what, true)) => ServiceResult::RolledBack {
                reason: format!("{why}; {what}"),
                completed: true,
            },
            Some((what, false)) => ServiceResult::Failed(format!("{why}; {what}")),
            None => ServiceResult::Failed(why.to_string()),
        };
    }
    if let Some(Outcome::Superseded(why)) = &run.outcome {
        return ServiceResult::Superseded(why.clone());
    }
    let because = match &run.outcome {
        Some(Outcome::Abandoned(first)) => {
            format!(
                "another service of this deploy failed ({first} first), so this service's rollout was stopped"
            )
        }
        _ => "another service of this deploy failed".to_string(),
    };
    match undo {
        Some((what, true)) => ServiceResult::RolledBack {
            reason: format!("{because}; {what}"),
            completed: true,
        },
        Some((what, false)) => ServiceResult::Failed(format!("{because}; {what}")),
        None if run.updated => match &run.outcome {
            Some(Outcome::Completed(_)) => ServiceResult::Deployed,
            Some(Outcome::Reached(at)) => ServiceResult::InProgress(at.clone()),
            // Not waited for: `wait-for-service-stability: false`, or another service's
            // update failed and rollback is off.
            _ => ServiceResult::Updated,
        },
        None => ServiceResult::Unchanged,
    }
}

/// The run's result from every service's result and whether this run changed that service
/// (called UpdateService on it), and whether a gate before the rollouts failed (the one-off
/// task: then no service was updated, and the run failed). `rolled-back` only when something
/// failed and every service this run changed is confirmed back where it was; a service that
/// failed before it was changed is where it was.
pub(crate) fn conclude(results: &[(ServiceResult, bool)], gate_failed: bool) -> RunResult {
    if gate_failed {
        return RunResult::Failed;
    }
    let any = |f: &dyn Fn(&ServiceResult, bool) -> bool| results.iter().any(|(r, c)| f(r, *c));
    let failed = |r: &ServiceResult| matches!(r, ServiceResult::Failed(_));
    let back = |r: &ServiceResult| matches!(r, ServiceResult::RolledBack { .. });
    let superseded = |r: &ServiceResult| matches!(r, ServiceResult::Superseded(_));
    // Changed by this run and not confirmed back: someone else's deployment is not "back".
    if any(&|r, changed| (failed(r) || superseded(r)) && changed) {
        RunResult::Failed
    } else if any(&|r, _| back(r)) {
        RunResult::RolledBack
    } else if any(&|r, _| failed(r) || superseded(r)) {
        RunResult::Failed
    } else if any(&|r, _| matches!(r, ServiceResult::InProgress(_))) {
        RunResult::InProgress
    } else if any(&|r, _| matches!(r, ServiceResult::Deployed | ServiceResult::Updated)) {
        RunResult::Deployed
    } else {
        RunResult::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Role, Target};
    use crate::record::Undo;
    use crate::services::Deployment;

    fn live(state: Option<&str>, deployments: usize) -> Snapshot {
        let d = Deployment {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            task_definition: "arn:aws:ecs:us-east-1:1:task-definition/app:1".into(),
            desired: 2,
            running: 2,
            rollout_state: state.map(DeploymentRolloutState::from),
            ..Deployment::default()
        };
        Snapshot {
            name: "app".into(),
            task_definition: d.task_definition.clone(),
            desired: 2,
            deployments: vec![d; deployments],
            controller: "ECS".into(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn decide_from_recorded_cases() {
        let none = Asked::default();
        let force = Asked {
            force_new_deployment: true,
            ..Asked::default()
        };
        let scale = |n| Asked {
            desired_count: Some(n),
            ..Asked::default()
        };
        let cases: &[(Snapshot, bool, Asked, Action)] = &[
            (live(Some("COMPLETED"), 1), true, none, Action::Register),
            (live(Some("COMPLETED"), 1), false, none, Action::Nothing),
            (live(Some("COMPLETED"), 1), false, force, Action::Redeploy),
            (live(Some("COMPLETED"), 1), false, scale(3), Action::Scale),
            // Asking for the count it has is no change.
            (live(Some("COMPLETED"), 1), false, scale(2), Action::Nothing),
            (
                live(Some("IN_PROGRESS"), 1),
                false,
                none,
                Action::WaitForCurrent("ecs-svc/1".into()),
            ),
            // Its last rollout failed: the same revision is deployed again.
            (live(Some("FAILED"), 1), false, none, Action::Redeploy),
            // Classic Load Balancer: no rollout state; one deployment at its count is settled.
            (live(None, 1), false, none, Action::Nothing),
            (live(None, 2), false, none, Action::Redeploy),
            // A change wins over everything.
            (
                live(Some("IN_PROGRESS"), 1),
                true,
                scale(3),
                Action::Register,
            ),
        ];
        for (i, (snap, changed, asked, want)) in cases.iter().enumerate() {
            assert_eq!(&decide(snap, *changed, *asked), want, "case {i}");
        }
    }

    fn run() -> ServiceRun {
        let mut r = ServiceRun::new(
            Target {
                service: "app".into(),
                file: None,
                revision: None,
                shown: "td.json".into(),
                role: Role::App,
                definition: None,
                definition_shown: String::new(),
                compose: None,
            },
            live(Some("COMPLETED"), 1),
        );
        r.new_task_definition = Some("arn:aws:ecs:us-east-1:1:task-definition/app:2".into());
        r
    }

    fn updated(outcome: Option<Outcome>) -> ServiceRun {
        let mut r = run();
        r.updated = true;
        r.deployment = Some("ecs-svc/2".into());
        r.outcome = outcome;
        r
    }

    fn undo(started: Result<&str, &str>, outcome: Option<Outcome>) -> Undo {
        Undo {
            to: "arn:aws:ecs:us-east-1:1:task-definition/app:1".into(),
            by_ecs: false,
            started: started.map(str::to_string).map_err(str::to_string),
            outcome,
            runs_now: Some("arn:aws:ecs:us-east-1:1:task-definition/app:2".into()),
            scaled_to_zero: false,
        }
    }

    fn done() -> Option<Outcome> {
        Some(Outcome::Completed(Duration::from_secs(3)))
    }

    fn failed() -> Option<Outcome> {
        Some(Outcome::Failed("CannotPullContainerError".into()))
    }

    fn label(r: &ServiceResult) -> String {
        match r {
            ServiceResult::Failed(w) => format!("failed: {w}"),
            ServiceResult::RolledBack { reason, completed } => {
                format!("rolled back ({completed}): {reason}")
            }
            ServiceResult::Superseded(w) => format!("superseded: {w}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn the_advice_for_an_undo_left_undone_fits_the_way_and_the_cause() {
        // CODE_DEPLOY: ECS refuses update-service --task-definition, so it is not advised.
        let mut cd = updated(failed());
        cd.rollout = Some(crate::rollout::Rollout::CodeDeploy);
        cd.undo = Some(undo(Err("DeploymentLimitExceededException"), None));
        let text = label(&service_result(&cd, "dev"));
        assert!(!text.contains("update-service"), "{text}");
        assert!(text.contains("aws deploy create-deployment"), "{text}");
        // Replaced by someone else's deployment: no command that would undo theirs.
        let mut replaced = updated(failed());
        replaced.undo = Some(undo(
            Ok("arn:sd/3"),
            Some(Outcome::Superseded(
                "another service deployment (arn:sd/9) replaced this one".into(),
            )),
        ));
        let text = label(&service_result(&replaced, "dev"));
        assert!(text.starts_with("failed: "), "{text}");
        assert!(!text.contains("update-service"), "{text}");
        assert!(text.contains("arn:sd/9"), "{text}");
    }

    #[test]
    fn service_results_say_only_what_ecs_confirmed() {
        let mut refused = updated(failed());
        refused.undo = Some(undo(Err("AccessDeniedException: not allowed"), None));
        let mut back = updated(failed());
        back.undo = Some(undo(Ok("ecs-svc/3"), done()));
        let mut unconfirmed = updated(failed());
        unconfirmed.undo = Some(undo(
            Ok("ecs-svc/3"),
            Some(Outcome::TimedOut("no answer".into())),
        ));
        let mut bystander = updated(done());
        bystander.undo = Some(undo(Ok("ecs-svc/4"), done()));
        let mut held = run();
        held.action = Action::Register;
        held.held = true;
        let mut held_unchanged = run();
        held_unchanged.held = true;
        let cases: Vec<(ServiceRun, &str)> = vec![
            // The one-off task failed before its turn: not updated, or unchanged anyway.
            (held, "NotUpdated"),
            (held_unchanged, "Unchanged"),
            (updated(done()), "Deployed"),
            (updated(None), "Updated"),
            (run(), "Unchanged"),
            (updated(failed()), "failed: CannotPullContainerError"),
            (
                refused,
                "failed: CannotPullContainerError; the rollback to app:1 was refused: AccessDeniedException: not allowed; the service still runs app:2; finish it by hand: aws ecs update-service --cluster dev --service app --task-definition app:1",
            ),
            (
                back,
                "rolled back (true): CannotPullContainerError; rolled back to app:1; that rollout completed",
            ),
            (
                unconfirmed,
                "failed: CannotPullContainerError; the rollback to app:1 (deployment ecs-svc/3) did not complete: no answer",
            ),
            (
                bystander,
                "rolled back (true): another service of this deploy failed; rolled back to app:1",
            ),
            (
                updated(Some(Outcome::Superseded("someone else deployed".into()))),
                "superseded: someone else deployed",
            ),
        ];
        for (r, want) in cases {
            let got = label(&service_result(&r, "dev"));
            assert!(
                got.starts_with(want),
                "{got}\n  does not start with\n{want}"
            );
        }
    }

    #[test]
    fn conclude_from_the_services_results() {
        use ServiceResult as S;
        let back = || S::RolledBack {
            reason: "x".into(),
            completed: true,
        };
        let f = |w: &str| S::Failed(w.into());
        let cases: Vec<(Vec<(S, bool)>, RunResult)> = vec![
            (
                vec![(S::Deployed, true), (S::Unchanged, false)],
                RunResult::Deployed,
            ),
            (vec![(S::Updated, true)], RunResult::Deployed),
            (
                vec![(S::Unchanged, false), (S::Unchanged, false)],
                RunResult::Unchanged,
            ),
            (vec![], RunResult::Unchanged),
            (vec![(back(), true), (back(), true)], RunResult::RolledBack),
            // One changed service not confirmed back: the run failed, whatever the others did.
            (
                vec![(back(), true), (f("refused"), true)],
                RunResult::Failed,
            ),
            // Failed before it was changed (registration refused), the other one is back.
            (
                vec![(f("refused"), false), (back(), true)],
                RunResult::RolledBack,
            ),
            // Rollback off: a failure is a failure.
            (
                vec![(f("x"), false), (S::Deployed, true)],
                RunResult::Failed,
            ),
            (
                vec![(S::Superseded("x".into()), true), (S::Deployed, true)],
                RunResult::Failed,
            ),
        ];
        for (results, want) in cases {
            assert_eq!(conclude(&results, false), want, "{results:?}");
        }
        // A failed one-off task: failed, whatever the services say (none was updated).
        assert_eq!(conclude(&[(S::NotUpdated, false)], true), RunResult::Failed);
        assert_eq!(conclude(&[], true), RunResult::Failed);
        assert_eq!(conclude(&[], false), RunResult::Unchanged);
    }
}
