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
use crate::aws::AwsContext;
use crate::config::Config;
use crate::context::Clock;
use crate::error::Failure;
use crate::gha::{Printer, Runtime};
use crate::prelude::{self, Rollouts};
use crate::report::{Report, RunResult, ServiceReport, ServiceResult};
use crate::rollout::Watch;
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
        let mut report = ServiceReport {
            service: snap.name.clone(),
            role: r.target.role,
            old_task_definition: current.clone(),
            new_task_definition: current.clone(),
            images: Vec::new(),
            diff: None,
            result: ServiceResult::NotUpdated,
            rollout: None,
            updated: false,
            rolls_out: r.way.label(),
            created: false,
            attributes: Vec::new(),
        };
        let step: Result<String> = async {
            let rollout = r
                .rollout
                .ok_or_else(|| anyhow!("{} cannot be rolled back by ecs-deploy", r.way.label()))?;
            let previous = match ran_before(&aws.ecs, &cfg.cluster, snap).await {
                Some(p) => p,
                None => {
                    out.warning(&format!(
                        "{}: ECS has no record of the revisions this service ran before (ListServiceDeployments): going back to the previous ACTIVE revision of its family, which may be another environment's when environments share a family",
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
                task_definition: previous.clone(),
                desired_count: None,
                force: previous == current,
                attributes: Default::default(),
            };
            let id = rollout.undo(aws, &cfg.cluster, &snap.name, &back).await?;
            report.new_task_definition = previous.clone();
            report.updated = true;
            watches.push(Watch {
                service: snap.name.clone(),
                rollout,
                deployment: id,
                before: snap.primary().map(|d| d.id.clone()),
                before_task_definition: None,
            });
            Ok(previous)
        }
        .await;
        report.result = match step {
            Ok(previous) => ServiceResult::RolledBack {
                reason: format!(
                    "rolled back on request from {} to {}",
                    rev(&current),
                    rev(&previous)
                ),
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
            | Some(Outcome::Abandoned(why)) => {
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
/// deployments; `None` when there is no such record.
async fn ran_before(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    snap: &crate::services::Snapshot,
) -> Option<String> {
    let current = snap.task_definition.as_str();
    // A rollout still in progress: the older deployment's revision.
    if let Some(d) = snap.deployments.iter().find(|d| {
        d.status != crate::services::PRIMARY
            && !d.task_definition.is_empty()
            && d.task_definition != current
    }) {
        return Some(d.task_definition.clone());
    }
    let listed = ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(&snap.name)
        .status(aws_sdk_ecs::types::ServiceDeploymentStatus::Successful)
        .max_results(20)
        .send()
        .await
        .ok()?;
    let mut briefs: Vec<_> = listed.service_deployments().to_vec();
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
    if arns.is_empty() {
        return None;
    }
    let revisions = ecs
        .describe_service_revisions()
        .set_service_revision_arns(Some(arns.clone()))
        .send()
        .await
        .ok()?;
    let by_arn: BTreeMap<&str, &str> = revisions
        .service_revisions()
        .iter()
        .filter_map(|r| Some((r.service_revision_arn()?, r.task_definition()?)))
        .collect();
    // Newest first: the first successful deployment of another revision than today's.
    arns.iter()
        .filter_map(|a| by_arn.get(a.as_str()))
        .find(|td| **td != current)
        .map(|td| td.to_string())
}

/// The ACTIVE revision of the same family just before `current`.
async fn previous_active(ecs: &aws_sdk_ecs::Client, current: &str) -> Result<String> {
    let (family, revision) = family_revision(current)
        .ok_or_else(|| anyhow!("the service runs {current}, which names no revision"))?;
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .set_next_token(token)
            .send()
            .await
            .aws_context(|| format!("listing the revisions of task-definition family {family}"))?;
        arns.extend(page.task_definition_arns().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
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
