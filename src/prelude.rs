//! The start every command that talks to AWS shares: credentials, the account, and the
//! preflight (the cluster and every service exist and are ACTIVE, and how each rolls out).
//! Nothing changes in AWS here.

use crate::arn::last_segment;
use crate::aws::Aws;
use crate::config::Config;
use crate::context::{Clock, Ctx, Timeline};
use crate::credentials;
use crate::error::{Failure, InputProblem};
use crate::gha::{Printer, Runtime};
use crate::record::ServiceRun;
use crate::services;

/// Whether the run will start rollouts: then a service whose way of rolling out this build
/// cannot drive is refused here, before anything changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rollouts {
    Started,
    NotStarted,
}

/// Credentials, account and preflight; returns the context and one record per service.
pub(crate) async fn start<'a>(
    cfg: &'a Config,
    rt: &'a Runtime,
    out: &'a Printer,
    clock: Clock,
    rollouts: Rollouts,
) -> Result<(Ctx<'a>, Vec<ServiceRun>), Failure> {
    let region = cfg.region.clone().unwrap_or_default();
    let aws = credentials::connect(&cfg.credentials, rt, &region, out).await?;
    let account = aws.account_id().await?;
    let ctx = Ctx {
        aws,
        cfg,
        out,
        account,
        region,
        clock,
        timeline: Timeline::default(),
    };
    let runs = preflight(&ctx, rollouts).await?;
    Ok((ctx, runs))
}

/// The cluster and every service exist, are ACTIVE, and (when rollouts are started) roll out
/// in a way this build drives. Every problem is reported at once.
async fn preflight(ctx: &Ctx<'_>, rollouts: Rollouts) -> Result<Vec<ServiceRun>, Failure> {
    let (cfg, out) = (ctx.cfg, ctx.out);
    out.group("Preflight");
    let result = check(&ctx.aws, cfg, &ctx.region, rollouts).await;
    if let Ok(runs) = &result {
        for r in runs {
            let s = &r.live;
            out.line(&format!(
                "{}: ACTIVE, {} of {} running, task definition {}, rolls out {}",
                s.name,
                s.running,
                s.desired,
                s.task_definition,
                r.way.label()
            ));
        }
    }
    out.end_group();
    result
}

async fn check(
    aws: &Aws,
    cfg: &Config,
    region: &str,
    rollouts: Rollouts,
) -> Result<Vec<ServiceRun>, Failure> {
    let cluster = &cfg.cluster;
    let names: Vec<String> = cfg.targets.iter().map(|t| t.service.clone()).collect();
    let Some(mut found) = services::describe_for_preflight(&aws.ecs, cluster, &names).await? else {
        return Err(InputProblem::new(format!(
            "cluster `{cluster}` was not found in {region}: check input cluster and region (and that the credentials are for the right account)"
        ))
        .into());
    };
    let mut problems = Vec::new();
    let mut runs = Vec::new();
    for t in &cfg.targets {
        let name = &t.service;
        match found.remove(last_segment(name)) {
            None => problems.push(InputProblem::new(format!(
                "service `{name}` was not found in cluster `{cluster}` ({region}): check the service name, and that it belongs to this cluster"
            ))),
            Some(s) if s.status != "ACTIVE" => problems.push(InputProblem::new(format!(
                "service `{name}` in cluster `{cluster}` is {}, not ACTIVE: recreate it, or remove it from the inputs",
                s.status
            ))),
            Some(s) => {
                let run = ServiceRun::new(t.clone(), s);
                if let (Rollouts::Started, Err(why)) = (rollouts, run.way.rollout()) {
                    problems.push(InputProblem::new(format!("service `{name}` {why}")));
                }
                runs.push(run);
            }
        }
    }
    if problems.is_empty() {
        Ok(runs)
    } else {
        Err(problems.into())
    }
}
