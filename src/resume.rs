//! `ecs-deploy continue` (`mode: continue`): an ECS-native deployment paused at a lifecycle
//! hook (a `PAUSE` hook awaiting action) is continued, or rolled back with
//! `continue-action: rollback` (`ContinueServiceDeployment`), and waited for to the end (or to
//! `wait-until`). The paused deployment is found by the command itself: the service's
//! service deployments in progress, the one with a hook in `AWAITING_ACTION`. A service with
//! nothing paused is invalid input (exit 2) and nothing changes.
//!
//! A CODE_DEPLOY service's deployment waiting at `Ready` (a wait that ended at
//! `wait-until: ready`) is continued with `ContinueDeployment(READY_WAIT)`, or stopped with
//! rollback, and waited for likewise; a group with no deployment at `Ready` is invalid input.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Config;
use crate::context::{bounded, Clock};
use crate::error::{Failure, InputProblem};
use crate::gha::{Printer, Runtime};
use crate::prelude::{self, Rollouts};
use crate::record::ServiceRun;
use crate::report::{Report, RunResult, ServiceReport, ServiceResult};
use crate::rollout::{codedeploy, native, Goal, Rollout, Watch};
use crate::wait::Outcome;

/// Continues (or rolls back) the paused deployment of every target service.
pub(crate) async fn run(cfg: &Config, rt: &Runtime, out: &Printer) -> Result<Report, Failure> {
    let (ctx, runs) = prelude::start(cfg, rt, out, Clock::start(), Rollouts::NotStarted).await?;
    let rollback = cfg.rollout.continue_rollback;
    let aws = &ctx.aws;
    let (deploys, runs): (Vec<_>, Vec<_>) = runs
        .into_iter()
        .partition(|r| r.rollout == Some(Rollout::CodeDeploy));
    let found = bounded(runs.iter().map(|r| async move {
        if r.rollout != Some(Rollout::EcsNative) {
            return Ok(None);
        }
        native::active(aws, &cfg.cluster, r.name()).await.map(Some)
    }))
    .await;
    let mut problems = Vec::new();
    let ready = find_ready(&ctx, &deploys, &mut problems).await?;
    let mut paused = Vec::new();
    for (r, f) in runs.iter().zip(found) {
        let Some(views) = f? else {
            problems.push(InputProblem::new(format!(
                "service `{}` rolls out {}, which has no lifecycle hooks to continue: `continue` is for ECS-native (BLUE_GREEN, LINEAR, CANARY) deployments paused at a hook",
                r.name(),
                r.way.label()
            )));
            continue;
        };
        match views
            .iter()
            .find_map(|v| v.paused().map(|h| (v.arn.clone(), (h.id.clone(), v.stage.clone()))))
        {
            Some(p) => paused.push((r, p)),
            None => problems.push(InputProblem::new(format!(
                "service `{}` has no deployment paused at a lifecycle hook ({}): nothing to continue; `ecs-deploy rollback` rolls back one in progress",
                r.name(),
                if views.is_empty() {
                    "no service deployment is in progress".to_string()
                } else {
                    format!("{} in progress, none awaiting action", views.len())
                }
            ))),
        }
    }
    if !problems.is_empty() {
        return Err(problems.into());
    }
    let verb = if rollback { "rolled back" } else { "continued" };
    out.group(if rollback {
        "Roll back the paused deployments"
    } else {
        "Continue the paused deployments"
    });
    let mut rows = Vec::new();
    let mut watches = Vec::new();
    // Without wait-for-minutes, the wait covers what is left of each plan (at most all of it).
    let mut extra = Duration::ZERO;
    for (r, (arn, (hook, stage))) in &paused {
        if !rollback && !cfg.rollout.wait_for_given {
            let left = native::time_to(&r.live.raw, &cfg.rollout.wait_until).unwrap_or_default();
            extra = extra.max(left);
        }
        let mut row = ServiceReport::of(r);
        match native::resume(&ctx.aws, arn, hook, rollback).await {
            Ok(()) => {
                out.line(&format!(
                    "{}: service deployment {arn} {verb} at lifecycle hook {hook}",
                    r.name()
                ));
                row.updated = true;
                watches.push(Watch {
                    service_deployment: Some(arn.clone()),
                    goal: if rollback {
                        Goal::RolledBack
                    } else {
                        cfg.rollout.wait_until.clone()
                    },
                    continued: Some((hook.clone(), stage.clone())),
                    ..Watch::new(r.name(), Rollout::EcsNative, arn)
                });
            }
            Err(e) => {
                let why = format!("{e:#}");
                out.error(&Default::default(), &format!("{}: {why}", r.name()));
                row.result = ServiceResult::Failed(why);
            }
        }
        rows.push(row);
    }
    for (r, id, group, own_config) in &ready {
        let mut row = ServiceReport::of(r);
        row.codedeploy_deployment = Some(id.clone());
        let call = if rollback {
            codedeploy::stop(&ctx.aws, id).await
        } else {
            codedeploy::go_ahead(&ctx.aws, id).await
        };
        match call {
            Ok(()) => {
                out.line(&format!(
                    "{}: CodeDeploy deployment {id} {}",
                    r.name(),
                    if rollback {
                        "stopped with rollback at Ready"
                    } else {
                        "continued (ContinueDeployment READY_WAIT): production traffic shifts to green"
                    }
                ));
                row.updated = true;
                let mut left = Duration::from_secs(
                    u64::try_from(group.termination_wait_minutes.max(0)).unwrap_or_default() * 60,
                );
                if !rollback && !cfg.rollout.wait_for_given {
                    // Production traffic shifts after Ready: its routing is what is left.
                    left += shifting(&ctx, r, group, own_config.as_deref()).await;
                }
                extra = extra.max(left);
                watches.push(Watch {
                    goal: if rollback {
                        Goal::RolledBack
                    } else {
                        Goal::Finished
                    },
                    ..Watch::new(r.name(), Rollout::CodeDeploy, id)
                });
            }
            Err(e) => {
                let why = format!("{e:#}");
                out.error(&Default::default(), &format!("{}: {why}", r.name()));
                row.result = ServiceResult::Failed(why);
            }
        }
        rows.push(row);
    }
    out.end_group();
    let outcomes = if cfg.rollout.wait && !watches.is_empty() {
        ctx.wait(
            (cfg.rollout.wait_for + extra).min(Duration::from_secs(6 * 3600)),
            ctx.clock.epoch,
        )
        .grouped(&watches, if rollback { "rollback" } else { "deployment" })
        .await
    } else {
        BTreeMap::new()
    };
    for row in rows.iter_mut().filter(|row| row.updated) {
        row.result = match outcomes.get(&row.service) {
            Some(Outcome::Completed(d)) => {
                row.rollout = Some(*d);
                if rollback {
                    ServiceResult::RolledBack {
                        reason: if row.codedeploy_deployment.is_some() {
                            "stopped at Ready and rolled back, on request".into()
                        } else {
                            "rolled back at its pause hook, on request".into()
                        },
                        completed: true,
                    }
                } else {
                    ServiceResult::Deployed
                }
            }
            Some(Outcome::Reached(at)) => ServiceResult::InProgress(at.clone()),
            Some(
                Outcome::Failed(why)
                | Outcome::TimedOut(why)
                | Outcome::Interrupted(why)
                | Outcome::Superseded(why)
                | Outcome::Abandoned(why),
            ) => ServiceResult::Failed(format!("{verb}, but: {why}")),
            None => ServiceResult::Updated,
        };
    }
    let mut report = Report::new(cfg.mode, &cfg.cluster, &ctx.region, &ctx.account, rt);
    let results: Vec<_> = rows.iter().map(|r| (r.result.clone(), r.updated)).collect();
    report.result = crate::decide::conclude(&results, false);
    if rollback && report.result == RunResult::Deployed {
        report.result = RunResult::Failed;
    }
    report.services = rows;
    codedeploy::final_states(&ctx.aws, &cfg.cluster, &mut report.services).await;
    report.duration = ctx.clock.elapsed();
    Ok(report)
}

/// The CodeDeploy deployment of each CODE_DEPLOY service's group waiting at Ready, with the
/// group's settings; a service with none is a problem (nothing changes).
/// A CodeDeploy deployment in Ready: its service, id, group, and the configuration it was
/// created with.
type Ready<'r> = (&'r ServiceRun, String, codedeploy::Group, Option<String>);

async fn find_ready<'r>(
    ctx: &crate::context::Ctx<'_>,
    runs: &'r [ServiceRun],
    problems: &mut Vec<InputProblem>,
) -> Result<Vec<Ready<'r>>, Failure> {
    let cfg = ctx.cfg;
    let looks = bounded(runs.iter().map(|r| async move {
        let (app, group) = codedeploy::names(cfg, r.target.role, r.name());
        let settings = codedeploy::group(&ctx.aws, &app, &group).await?;
        let settings = match settings {
            Ok(g) => g,
            Err(why) => return Ok::<_, anyhow::Error>((app, group, Err(why), Vec::new())),
        };
        let ids = codedeploy::active(&ctx.aws, &app, &group).await?;
        let views = bounded(
            ids.iter()
                .map(|id| codedeploy::observe(&ctx.aws, &cfg.cluster, r.name(), id)),
        )
        .await;
        let views: Vec<codedeploy::View> = views.into_iter().filter_map(Result::ok).collect();
        Ok((app, group, Ok(settings), views))
    }))
    .await;
    let mut ready = Vec::new();
    for (r, look) in runs.iter().zip(looks) {
        let (app, group, settings, views) = look?;
        let settings = match settings {
            Ok(s) => s,
            Err(why) => {
                problems.push(InputProblem::new(format!(
                    "service `{}` uses the CODE_DEPLOY deployment controller, but {why}: give inputs codedeploy-application and codedeploy-deployment-group",
                    r.name()
                )));
                continue;
            }
        };
        match views.iter().find(|v| v.status == "Ready") {
            Some(v) => ready.push((r, v.id.clone(), settings, v.config.clone())),
            None => problems.push(InputProblem::new(format!(
                "service `{}` has no CodeDeploy deployment in Ready (deployment group {group} of application {app}: {}): nothing to continue; a deploy with wait-until: ready stops there",
                r.name(),
                if views.is_empty() {
                    "no deployment is active".to_string()
                } else {
                    views
                        .iter()
                        .map(|v| format!("{} is {}", v.id, v.status))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))),
        }
    }
    Ok(ready)
}

/// How long the traffic shifting of the continued deployment takes: the configuration it
/// was created with (GetDeployment), else the group's, else CodeDeploy's default. Unreadable
/// is zero, with a warning: the deadline does not count it.
async fn shifting(
    ctx: &crate::context::Ctx<'_>,
    r: &ServiceRun,
    group: &codedeploy::Group,
    own: Option<&str>,
) -> Duration {
    let config = own
        .map(str::to_string)
        .or(group.config.clone())
        .unwrap_or_else(|| codedeploy::routing::DEFAULT_CONFIG.to_string());
    match codedeploy::routing::get(&ctx.aws, &config).await {
        Ok(Ok(routing)) => {
            Duration::from_secs(u64::try_from(routing.minutes()).unwrap_or_default() * 60)
        }
        Ok(Err(why)) => {
            ctx.out.warning(&format!(
                "{}: the traffic routing of deployment configuration {config} could not be read ({why}): the deadline does not count its traffic shifting",
                r.name()
            ));
            Duration::ZERO
        }
        Err(e) => {
            ctx.out.warning(&format!(
                "{}: the traffic routing of deployment configuration {config} could not be read ({e:#}): the deadline does not count its traffic shifting; allow codedeploy:GetDeploymentConfig",
                r.name()
            ));
            Duration::ZERO
        }
    }
}
