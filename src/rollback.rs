//! `ecs-deploy rollback` (`mode: rollback`): put each named service back on the revision it
//! ran before the one it runs now, and wait for that rollout.
//!
//! It needs no task-definition files. The revision it ran before comes from what ECS records
//! of this service's own deployments: a deployment still draining an older revision, else its
//! successful service deployments (`ListServiceDeployments`, `DescribeServiceRevisions`),
//! newest first. Only when ECS has no such record (services deployed before those APIs, or
//! an account where they are denied) is it the ACTIVE revision of the family just before the
//! one it runs, with a warning: a family shared by environments may hold another
//! environment's revision there. Nothing is deregistered. The result is `rolled-back` when
//! every rollback completed (the requested action succeeded), `failed` otherwise.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};

use crate::arn::{family_revision, revision_label as rev};
use crate::config::Config;
use crate::context::Clock;
use crate::error::Failure;
use crate::gha::{Printer, Runtime};
use crate::prelude::{self, Rollouts};
use crate::report::{Report, RunResult, ServiceReport, ServiceResult};
use crate::rollout::{native, Watch};
use crate::wait::Outcome;
use crate::{ecs_json, taskdef};

/// Runs the rollback of every target service.
pub(crate) async fn run(cfg: &Config, rt: &Runtime, out: &Printer) -> Result<Report, Failure> {
    let (ctx, runs) = prelude::start(cfg, rt, out, Clock::start(), Rollouts::Started).await?;
    let aws = &ctx.aws;
    out.group("Roll back to the previous revisions");
    let mut services_report = Vec::new();
    let mut watches = Vec::new();
    for r in &runs {
        let snap = &r.live;
        let current = snap.task_definition.clone();
        let mut report = ServiceReport::of(r);
        let step: Result<String> = async {
            let rollout = r
                .rollout
                .ok_or_else(|| anyhow!("{} cannot be rolled back by ecs-deploy", r.way.label()))?;
            // Its revision goes through CodeDeploy, never UpdateService.
            if rollout == crate::rollout::Rollout::CodeDeploy {
                return Err(anyhow!(
                    "uses the CODE_DEPLOY controller: `rollback` does not move it; a deployment at Ready is stopped with rollback by `continue --continue-action rollback`, and an earlier revision is deployed through CodeDeploy with `deploy` and `task-definition: <its ARN>`"
                ));
            }
            // An ECS-native deployment still going is rolled back by ECS itself: at its pause
            // hook (ContinueServiceDeployment) or with StopServiceDeployment, never with a
            // competing UpdateService.
            if rollout == crate::rollout::Rollout::EcsNative {
                if let Some(d) = native::active(aws, &cfg.cluster, &snap.name).await?.first() {
                    match d.paused() {
                        Some(h) => native::resume(aws, &d.arn, &h.id, true).await?,
                        None => native::stop(aws, &d.arn).await?,
                    }
                    out.line(&format!(
                        "{}: service deployment {} (at {}) rolled back by ECS: {}",
                        snap.name,
                        d.arn,
                        d.stage.as_deref().unwrap_or("-"),
                        if d.paused().is_some() {
                            "ContinueServiceDeployment(ROLLBACK) at its pause hook"
                        } else {
                            "StopServiceDeployment(ROLLBACK)"
                        }
                    ));
                    report.updated = true;
                    watches.push(Watch {
                        service_deployment: Some(d.arn.clone()),
                        goal: crate::rollout::Goal::RolledBack,
                        ..Watch::new(&snap.name, rollout, &d.arn)
                    });
                    return Ok("what ran before its deployment in progress".to_string());
                }
            }
            let previous = match ran_before(&aws.ecs, &cfg.cluster, snap).await {
                Ok(Some(p)) => p,
                found => {
                    let why = match found {
                        Err(e) => format!("its deployments could not be read ({e})"),
                        _ => "ECS has no record of the revisions this service ran before (ListServiceDeployments)".to_string(),
                    };
                    out.warning(&format!(
                        "{}: {why}: going back to the previous ACTIVE revision of its family, which may be another environment's when environments share a family",
                        snap.name
                    ));
                    previous_active(&aws.ecs, &current).await?
                }
            };
            let (td, _) = ecs_json::describe(&aws.ecs, &previous).await?;
            report.images = taskdef::images(&td);
            out.line(&format!(
                "{}: {} → {previous} ({current} stays registered)",
                snap.name, current
            ));
            for (container, image) in &report.images {
                if !image.contains("@sha256:") {
                    out.line(&format!(
                        "{}: container {container} names {image} by tag: the rollback pulls whatever that tag points to now",
                        snap.name
                    ));
                }
            }
            let back = crate::rollout::Change {
                codedeploy: None,
                deployment: None,
                task_definition: previous.clone(),
                desired_count: None,
                force: previous == current,
                attributes: Default::default(),
                service_deployment: None,
                restore: Default::default(),
            };
            let id = rollout.undo(aws, &cfg.cluster, &snap.name, &back).await?;
            report.new_task_definition = previous.clone();
            report.updated = true;
            watches.push(Watch {
                before: snap.primary().map(|d| d.id.clone()),
                task_definition: Some(previous.clone()),
                since: crate::context::epoch_now() - 1.0,
                ..Watch::new(&snap.name, rollout, &id)
            });
            Ok(rev(&previous).to_string())
        }
        .await;
        report.result = match step {
            Ok(to) => ServiceResult::RolledBack {
                reason: format!("rolled back on request from {} to {to}", rev(&current)),
                completed: false,
            },
            Err(e) => {
                let why = format!("{e:#}");
                out.error(&Default::default(), &format!("{}: {why}", snap.name));
                ServiceResult::Failed(why)
            }
        };
        services_report.push(report);
    }
    out.end_group();
    let outcomes = if cfg.rollout.wait && !watches.is_empty() {
        ctx.wait(cfg.rollout.wait_for, ctx.clock.epoch)
            .grouped(&watches, "rollback")
            .await
    } else {
        BTreeMap::new()
    };
    let mut ok = true;
    for s in &mut services_report {
        let ServiceResult::RolledBack { reason, .. } = &s.result else {
            ok = false;
            continue;
        };
        s.result = match outcomes.get(&s.service) {
            Some(Outcome::Completed(d)) => {
                s.rollout = Some(*d);
                ServiceResult::RolledBack {
                    reason: reason.clone(),
                    completed: true,
                }
            }
            None if !cfg.rollout.wait => s.result.clone(),
            Some(Outcome::Failed(why))
            | Some(Outcome::Superseded(why))
            | Some(Outcome::TimedOut(why))
            | Some(Outcome::Interrupted(why))
            | Some(Outcome::Abandoned(why))
            | Some(Outcome::Reached(why)) => {
                ok = false;
                ServiceResult::Failed(format!(
                    "{reason}, but that rollout did not complete: {why}"
                ))
            }
            None => {
                ok = false;
                ServiceResult::Failed(format!("{reason}, but it was not waited for"))
            }
        };
    }
    let mut report = Report::new(cfg.mode, &cfg.cluster, &ctx.region, &ctx.account, rt);
    report.services = services_report;
    report.result = if ok && !cfg.targets.is_empty() {
        RunResult::RolledBack
    } else {
        RunResult::Failed
    };
    report.duration = ctx.clock.elapsed();
    Ok(report)
}

/// Of `arns` (any order), the highest revision of `family` below `revision`.
pub(crate) fn pick_previous(arns: &[String], family: &str, revision: u32) -> Option<String> {
    arns.iter()
        .filter_map(|a| {
            let (f, r) = family_revision(a)?;
            (f == family && r < revision).then_some((r, a))
        })
        .max_by_key(|(r, _)| *r)
        .map(|(_, a)| a.clone())
}

/// The revision this service ran before the one it runs now, from ECS's record of its own
/// deployments: `Ok(None)` when there is no record, `Err` (the reason) when it could not be
/// read.
pub(crate) async fn ran_before(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    snap: &crate::services::Snapshot,
) -> Result<Option<String>, String> {
    let current = snap.task_definition.as_str();
    // A rollout still in progress: the older deployment's revision, when that one had
    // completed (during ECS's own circuit-breaker rollback the other one is the failed one).
    if let Some(d) = snap.deployments.iter().find(|d| {
        d.status != crate::services::PRIMARY
            && d.rollout_state == Some(aws_sdk_ecs::types::DeploymentRolloutState::Completed)
            && !d.task_definition.is_empty()
            && d.task_definition != current
    }) {
        return Ok(Some(d.task_definition.clone()));
    }
    // Every page (the order of the answer is not documented), newest first.
    let mut briefs = Vec::new();
    let mut token = None;
    for _ in 0..10 {
        let page = ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(&snap.name)
            .status(aws_sdk_ecs::types::ServiceDeploymentStatus::Successful)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| crate::aws::aws_error_message(&e))?;
        briefs.extend(page.service_deployments().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    briefs.sort_by(|a, b| {
        let t = |x: &aws_sdk_ecs::types::ServiceDeploymentBrief| {
            x.created_at().map(|t| t.as_secs_f64()).unwrap_or_default()
        };
        t(b).total_cmp(&t(a))
    });
    let arns: Vec<String> = briefs
        .iter()
        .filter_map(|b| b.target_service_revision_arn().map(str::to_string))
        .collect();
    // DescribeServiceRevisions takes twenty at a time; the newest twenty hold the answer.
    let newest: Vec<String> = arns.iter().take(20).cloned().collect();
    if newest.is_empty() {
        return Ok(None);
    }
    let revisions = ecs
        .describe_service_revisions()
        .set_service_revision_arns(Some(newest.clone()))
        .send()
        .await
        .map_err(|e| crate::aws::aws_error_message(&e))?;
    let by_arn: BTreeMap<&str, &str> = revisions
        .service_revisions()
        .iter()
        .filter_map(|r| Some((r.service_revision_arn()?, r.task_definition()?)))
        .collect();
    // The first successful deployment of another revision than today's.
    Ok(newest
        .iter()
        .filter_map(|a| by_arn.get(a.as_str()))
        .find(|td| **td != current)
        .map(|td| td.to_string()))
}

/// The ACTIVE revision of the same family just before `current`.
async fn previous_active(ecs: &aws_sdk_ecs::Client, current: &str) -> Result<String> {
    let (family, revision) = family_revision(current)
        .ok_or_else(|| anyhow!("the service runs {current}, which names no revision"))?;
    let arns = crate::housekeeping::active_revisions(ecs, family)
        .await
        .map_err(|e| {
            e.context(format!(
                "listing the revisions of task-definition family {family}"
            ))
        })?;
    pick_previous(&arns, family, revision).ok_or_else(|| {
        anyhow!("family {family} has no ACTIVE revision before {revision}: there is nothing to roll back to (deregistered revisions cannot be deployed)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_is_the_highest_lower_revision_of_the_same_family() {
        let arns: Vec<String> = [
            "arn:aws:ecs:us-east-1:1:task-definition/app:1",
            "arn:aws:ecs:us-east-1:1:task-definition/app:3",
            "arn:aws:ecs:us-east-1:1:task-definition/app:5",
            "arn:aws:ecs:us-east-1:1:task-definition/app-worker:4",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            pick_previous(&arns, "app", 5).as_deref(),
            Some("arn:aws:ecs:us-east-1:1:task-definition/app:3")
        );
        assert_eq!(pick_previous(&arns, "app", 1), None);
        assert_eq!(family_revision("app:12"), Some(("app", 12)));
    }
}
