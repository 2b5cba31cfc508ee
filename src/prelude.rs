//! The start every command that talks to AWS shares: credentials, the account, and the
//! preflight (the cluster and every service exist and are ACTIVE, and how each rolls out).
//! Nothing changes in AWS here.

use crate::arn::last_segment;
use crate::config::Config;
use crate::context::{Clock, Ctx, Timeline};
use crate::credentials;
use crate::error::{Failure, InputProblem};
use crate::gha::{Printer, Runtime};
use crate::record::ServiceRun;
use crate::render::Definition;
use crate::services;

/// Whether the run will start rollouts: then a service whose way of rolling out this build
/// cannot drive is refused here, before anything changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rollouts {
    Started,
    NotStarted,
}

/// Credentials, account and preflight; returns the context and one record per service
/// (services without a definition must exist: `rollback` and the other commands that only
/// act on existing services).
pub(crate) async fn start<'a>(
    cfg: &'a Config,
    rt: &'a Runtime,
    out: &'a Printer,
    clock: Clock,
    rollouts: Rollouts,
) -> Result<(Ctx<'a>, Vec<ServiceRun>), Failure> {
    let ctx = connect_for_preflight(cfg, rt, out, clock).await?;
    match preflight(&ctx, rollouts, &[], false).await? {
        Found::Runs(runs) => Ok((ctx, runs)),
        Found::ClusterMissing => Err(cluster_missing(cfg, &ctx.region).into()),
    }
}

/// Credentials and the account: the context every step after it uses.
pub(crate) async fn connect<'a>(
    cfg: &'a Config,
    rt: &'a Runtime,
    out: &'a Printer,
    clock: Clock,
) -> Result<Ctx<'a>, Failure> {
    connect_looking(cfg, rt, out, clock, false).await
}

/// `connect` for a command whose next step is the preflight: the services are described
/// while the account is asked (one round trip, not two). The answer waits in the context
/// for `preflight`; when the credentials fail, that error is the one reported.
pub(crate) async fn connect_for_preflight<'a>(
    cfg: &'a Config,
    rt: &'a Runtime,
    out: &'a Printer,
    clock: Clock,
) -> Result<Ctx<'a>, Failure> {
    connect_looking(cfg, rt, out, clock, true).await
}

async fn connect_looking<'a>(
    cfg: &'a Config,
    rt: &'a Runtime,
    out: &'a Printer,
    clock: Clock,
    look: bool,
) -> Result<Ctx<'a>, Failure> {
    let region = cfg.region.clone().unwrap_or_default();
    let aws = credentials::connect(&cfg.credentials, rt, &region, out).await?;
    let names = service_names(cfg);
    let (account, looked) = tokio::join!(aws.account_id(), async {
        match look && !names.is_empty() {
            false => None,
            true => Some(services::describe_for_preflight(&aws.ecs, &cfg.cluster, &names).await),
        }
    });
    let ctx = context(aws, cfg, rt, out, account?, region, clock);
    *ctx.looked.lock().unwrap_or_else(|e| e.into_inner()) = looked;
    Ok(ctx)
}

fn context<'a>(
    aws: crate::aws::Aws,
    cfg: &'a Config,
    rt: &'a Runtime,
    out: &'a Printer,
    account: String,
    region: String,
    clock: Clock,
) -> Ctx<'a> {
    Ctx {
        aws,
        cfg,
        rt,
        out,
        account,
        region,
        clock,
        timeline: Timeline::default(),
        looked: Default::default(),
    }
}

fn service_names(cfg: &Config) -> Vec<String> {
    cfg.targets.iter().map(|t| t.service.clone()).collect()
}

/// What preflight found.
pub(crate) enum Found {
    /// One record per service (a missing service with a definition is one to create).
    Runs(Vec<ServiceRun>),
    /// The cluster does not exist (the caller decides whether the stack makes it).
    ClusterMissing,
}

/// The message for a cluster that does not exist and that no stack of this run makes.
pub(crate) fn cluster_missing(cfg: &Config, region: &str) -> InputProblem {
    let cluster = &cfg.cluster;
    InputProblem::new(format!(
        "cluster `{cluster}` was not found in {region}: check input cluster and region (and that the credentials are for the right account); a new environment's cluster can come from the stack (inputs stack-name and stack-template) with each service's definition (input service-definition)"
    ))
}

/// The input that gives a service its definition, for messages.
pub(crate) fn definition_input(t: &crate::config::Target) -> String {
    match t.role {
        crate::config::Role::App => "service-definition".into(),
        crate::config::Role::Otel => "otel-service-definition".into(),
        crate::config::Role::Extra if t.compose.is_some() => format!(
            "x-ecs.service_definition of compose service `{}` in {}",
            t.compose.as_deref().unwrap_or_default(),
            t.shown
        ),
        crate::config::Role::Extra => format!(
            "a `service-definitions` line `{}=path/to/service-definition.json`",
            last_segment(&t.service)
        ),
    }
}

/// The cluster and every service exist (or are created from their definitions), are
/// ACTIVE, and (when rollouts are started) roll out in a way this build drives. Every
/// problem is reported at once. With `all_new`, nothing is asked: the cluster does not exist
/// yet, so every service is one to create.
pub(crate) async fn preflight(
    ctx: &Ctx<'_>,
    rollouts: Rollouts,
    definitions: &[Definition],
    all_new: bool,
) -> Result<Found, Failure> {
    let (cfg, out) = (ctx.cfg, ctx.out);
    if cfg.targets.is_empty() {
        return Ok(Found::Runs(Vec::new()));
    }
    out.group("Preflight");
    let result = if all_new {
        create_all(cfg, definitions, rollouts).map(Found::Runs)
    } else {
        check(ctx, rollouts, definitions).await
    };
    if let Ok(Found::Runs(runs)) = &result {
        for r in runs {
            let s = &r.live;
            if r.creating {
                let def = r
                    .definition
                    .as_ref()
                    .map(|d| d.target.definition_shown.as_str())
                    .unwrap_or_default();
                out.line(&format!(
                    "{}: does not exist yet: created from {def}, rolls out {}",
                    s.name,
                    r.way.label()
                ));
                continue;
            }
            out.line(&format!(
                "{}: ACTIVE, {} of {} running, task definition {}, rolls out {}",
                s.name,
                s.running,
                s.desired,
                s.task_definition,
                r.way.label()
            ));
            if let Some(stack) = owning_stack(&s.raw) {
                out.warning(&format!(
                    "service {} was created by CloudFormation stack `{stack}` (its tag aws:cloudformation:stack-name): updating it here makes that stack drift, and the stack's next update may put its own task definition back; deploy it with one of the two",
                    s.name
                ));
            }
        }
    }
    let result = match (result, cfg.rollout.desired_count) {
        (Ok(Found::Runs(runs)), Some(n)) => {
            let existing: Vec<&str> = runs
                .iter()
                .filter(|r| !r.creating)
                .map(|r| r.name())
                .collect();
            crate::scaling::check(&ctx.aws, out, &cfg.cluster, &existing, n)
                .await
                .map(|()| Found::Runs(runs))
        }
        (other, _) => other,
    };
    out.end_group();
    result
}

/// The stack that created a service, from the tag CloudFormation puts on what it creates.
fn owning_stack(raw: &serde_json::Value) -> Option<String> {
    raw.get("tags")?
        .as_array()?
        .iter()
        .find(|t| t.get("key").and_then(|k| k.as_str()) == Some("aws:cloudformation:stack-name"))
        .and_then(|t| t.get("value")?.as_str())
        .map(str::to_string)
}

fn definition_of<'d>(
    definitions: &'d [Definition],
    t: &crate::config::Target,
) -> Option<&'d Definition> {
    definitions.iter().find(|d| &d.target == t)
}

/// Every service is new (its cluster does not exist yet): each needs its definition.
fn create_all(
    cfg: &Config,
    definitions: &[Definition],
    rollouts: Rollouts,
) -> Result<Vec<ServiceRun>, Failure> {
    let mut problems = Vec::new();
    let mut runs = Vec::new();
    for t in &cfg.targets {
        match definition_of(definitions, t) {
            Some(d) => {
                let run = new_service(t, d, rollouts, &mut problems);
                runs.push(run);
            }
            None => problems.push(InputProblem::new(format!(
                "service `{}` does not exist yet (cluster `{}` does not exist either): give its service definition ({}) so it is created, or create it before deploying",
                t.service,
                cfg.cluster,
                definition_input(t)
            ))),
        }
    }
    if problems.is_empty() {
        Ok(runs)
    } else {
        Err(problems.into())
    }
}

fn new_service(
    t: &crate::config::Target,
    d: &Definition,
    rollouts: Rollouts,
    problems: &mut Vec<InputProblem>,
) -> ServiceRun {
    let mut run = ServiceRun::to_create(t.clone(), &d.body);
    run.definition = Some(d.clone());
    if let (Rollouts::Started, Err(why)) = (rollouts, run.way.rollout()) {
        problems.push(InputProblem::new(format!(
            "service `{}` (to be created from {}) {why}",
            t.service, d.target.definition_shown
        )));
    } else if rollouts == Rollouts::Started && run.way == crate::rollout::Way::CodeDeploy {
        // Its first task set comes with CreateService, not through CodeDeploy, and its
        // deployment group must name it: there is nothing for this run to follow.
        problems.push(InputProblem::new(format!(
            "service `{}` (to be created from {}) uses the CODE_DEPLOY deployment controller: ecs-deploy does not create such a service; create it with the stack that makes its CodeDeploy application and deployment group, then deploy to it",
            t.service, d.target.definition_shown
        )));
    }
    run
}

async fn check(
    ctx: &Ctx<'_>,
    rollouts: Rollouts,
    definitions: &[Definition],
) -> Result<Found, Failure> {
    let (cfg, region) = (ctx.cfg, ctx.region.as_str());
    let cluster = &cfg.cluster;
    // Described already, beside the account (`connect_for_preflight`), or now.
    let early = ctx.looked.lock().map(|mut l| l.take()).unwrap_or_default();
    let looked = match early {
        Some(answer) => answer,
        None => services::describe_for_preflight(&ctx.aws.ecs, cluster, &service_names(cfg)).await,
    };
    let Some(mut found) = looked? else {
        return Ok(Found::ClusterMissing);
    };
    let mut problems = Vec::new();
    let mut runs = Vec::new();
    for t in &cfg.targets {
        let name = &t.service;
        let def = definition_of(definitions, t);
        match (found.remove(last_segment(name)), def) {
            // INACTIVE is a deleted service: a definition creates it anew.
            (None, Some(d)) => runs.push(new_service(t, d, rollouts, &mut problems)),
            (Some(s), Some(d)) if s.status == "INACTIVE" => {
                runs.push(new_service(t, d, rollouts, &mut problems))
            }
            (None, None) => problems.push(InputProblem::new(format!(
                "service `{name}` was not found in cluster `{cluster}` ({region}): check the service name, and that it belongs to this cluster; to create it, give its service definition ({})",
                definition_input(t)
            ))),
            (Some(s), _) if s.status != "ACTIVE" => problems.push(InputProblem::new(format!(
                "service `{name}` in cluster `{cluster}` is {}, not ACTIVE: give its service definition ({}) to create it anew once it is gone, or remove it from the inputs",
                s.status,
                definition_input(t)
            ))),
            (Some(s), def) => {
                let mut run = ServiceRun::new(t.clone(), s);
                run.definition = def.cloned();
                if let (Rollouts::Started, Err(why)) = (rollouts, run.way.rollout()) {
                    problems.push(InputProblem::new(format!("service `{name}` {why}")));
                }
                runs.push(run);
            }
        }
    }
    if problems.is_empty() {
        Ok(Found::Runs(runs))
    } else {
        Err(problems.into())
    }
}
