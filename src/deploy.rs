//! The deploy flow, top to bottom, one named step per line of DESIGN.md sections 2 and 8:
//! validate everything → credentials → preflight → stack → render → diff → register → one-off
//! task → start the rollout → wait → undo on failure → report.
//!
//! `plan` (`Intent::Preview`) and `verify` (`Intent::ReadOnly`) share every step up to the diff
//! and return before the first call that changes anything. Steps that change AWS come after
//! every input, file and preflight check passed. Each service's run is one `ServiceRun`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::anyhow;
use serde_json::Value;

use crate::arn::{last_segment, revision_label};
use crate::config::Config;
use crate::context::{bounded, bounded_as, epoch_now, Batch, Clock, Ctx, Intent};
use crate::decide::{self, Asked};
use crate::error::Failure;
use crate::gha::{Printer, Runtime};
use crate::prelude::{self, Found, Rollouts};
use crate::record::{Action, ServiceRun, Undo};
use crate::render::{self, Definition, Rendered};
use crate::report::{Report, RunResult, ServiceReport, ServiceResult, SoFar};
use crate::rollout::codedeploy;
use crate::rollout::{Change, Goal, Rollout, Started, Watch};
use crate::services;
use crate::wait::Outcome;
use crate::{ecs_json, images, oneoff, servicedef, stack, subst, taskdef, verify};
use crate::{housekeeping, schedules, tfstate};

/// How long one call of the undo (describe, update) may take, at most: an undo must not hold
/// a failed run for minutes when AWS stops answering. A shorter `wait-for-minutes` bounds it
/// further (`undo_call_limit`).
const UNDO_CALL_LIMIT: Duration = Duration::from_secs(30);

fn undo_call_limit(ctx: &Ctx<'_>) -> Duration {
    UNDO_CALL_LIMIT.min(ctx.cfg.rollout.wait_for)
}

/// Runs `deploy`, `plan` or `verify`. The report is returned for every run that got as far as
/// knowing its services; a failed rollout is a report with a failed result, not an error.
pub(crate) async fn run(
    cfg: &Config,
    rt: &Runtime,
    out: &Printer,
    intent: Intent,
    so_far: &SoFar,
) -> Result<Report, Failure> {
    let clock = Clock::start();
    // Terraform outputs in S3 need the credentials first; a local file is read before AWS.
    let early = match tfstate::needs_aws(cfg) {
        true => Some(prelude::connect(cfg, rt, out, clock).await?),
        false => None,
    };
    let tf_vars = tfstate::variables(cfg, early.as_ref().map(|c| &c.aws)).await?;
    let stack_keys = stack::output_keys(cfg)?;
    let mut placeholders = stack_placeholders(stack_keys.as_ref());
    placeholders.extend(tf_vars.clone());
    // With a stack, this first rendering only checks the files; the one after the stack is shown.
    let first_out = stack_keys.is_none().then_some(out);
    let explain = |f| tfstate::explain_missing(f, &placeholders, cfg);
    let rendered = render_files(cfg, rt, first_out, &placeholders).map_err(explain)?;
    let definitions = render_definitions(cfg, rt, &placeholders).map_err(explain)?;
    // The AppSpec file of a CODE_DEPLOY service parses and has its TargetService.
    let appspec = codedeploy::read_appspec(&cfg.codedeploy)?;
    // The one-off task against the documents it would run on: bad input changes nothing.
    oneoff::check(cfg, rendered.iter().map(|d| (&d.target, &d.body)))?;
    let rollouts = if intent == Intent::Deploy {
        Rollouts::Started
    } else {
        Rollouts::NotStarted
    };
    let ctx = match early {
        Some(ctx) => ctx,
        None => prelude::connect_for_preflight(cfg, rt, out, clock).await?,
    };
    let (mut runs, cluster_after_stack) = preflight(&ctx, rollouts, &definitions).await?;
    attach(&mut runs, rendered);
    check_definitions(&runs)?;
    // Without a stack nothing can change between the checks and the comparison: they run
    // at once (`checks_at_once`). With one, the images that do not depend on its outputs
    // and the named rules and schedules are checked before anything changes.
    let at_once = cfg.stack.is_none();
    let (scheduled, mut reads) = match at_once {
        true => {
            let (scheduled, reads) = checks_at_once(&ctx, &mut runs, intent).await?;
            (scheduled, Some(reads))
        }
        false => {
            check_images(&ctx, &mut runs, intent).await?;
            (schedules::find(&ctx).await?, None)
        }
    };
    // CodeDeploy's application, group, configuration and AppSpec, before the stack changes
    // anything: bad input is exit 2 with nothing changed. A stack that declares CodeDeploy
    // resources may create the application or group: those are looked up after it.
    let defer_groups = stack::declares_codedeploy(cfg);
    let early = codedeploy::Stage::Early { defer_groups };
    codedeploy::prepare(&ctx, &mut runs, appspec.as_ref(), early).await?;
    ctx.timeline
        .add("checks", Duration::ZERO, ctx.clock.elapsed());
    let stack_start = ctx.clock.elapsed();
    let stack = stack::run(&ctx.aws, cfg, intent, out).await?;
    if cfg.stack.is_some() {
        ctx.timeline.add("stack", stack_start, ctx.clock.elapsed());
    }
    if stack_keys.is_some() {
        // A plan of a stack that does not exist yet has no outputs: keep the placeholders.
        let mut vars = if intent == Intent::Preview {
            placeholders.clone()
        } else {
            tf_vars.clone()
        };
        vars.extend(stack_vars(&stack.outputs));
        let again = render_files(cfg, rt, Some(out), &vars).map_err(|f| after_stack(f, &stack))?;
        let again_defs = render_definitions(cfg, rt, &vars).map_err(|f| after_stack(f, &stack))?;
        attach(&mut runs, again);
        attach_definitions(&mut runs, again_defs);
    }
    if cluster_after_stack && intent == Intent::Deploy {
        // Day one: the stack made the cluster; now its services can be looked at.
        let definitions: Vec<Definition> =
            runs.iter().filter_map(|r| r.definition.clone()).collect();
        let before = std::mem::take(&mut runs);
        runs = preflight_after_stack(&ctx, &definitions, &stack).await?;
        attach(
            &mut runs,
            before.into_iter().filter_map(|r| r.rendered).collect(),
        );
    }
    if stack_keys.is_some() || cluster_after_stack {
        check_images(&ctx, &mut runs, intent).await?;
    }
    // Secrets and log groups may be made by the stack, so they are checked after it.
    if !at_once {
        verify_if_due(&ctx, &runs, intent, cluster_after_stack).await?;
    }
    diff_services(&ctx, &mut runs, intent, reads.take())
        .await
        .map_err(|f| changed_already(f, &stack, "the services do not fit"))?;
    codedeploy::prepare(&ctx, &mut runs, appspec.as_ref(), codedeploy::Stage::Final)
        .await
        .map_err(|f| changed_already(f, &stack, "the CodeDeploy settings do not fit"))?;
    show_codedeploy(&ctx, &runs, intent);
    // Again with the promoted revisions, which are known only now (nothing changed yet).
    oneoff::check(
        cfg,
        runs.iter()
            .filter_map(|r| r.rendered.as_ref().map(|d| (&r.target, &d.body))),
    )?;
    let rows = |runs: &[ServiceRun]| {
        runs.iter()
            .map(|r| service_report(r, intent, &cfg.cluster))
            .collect::<Vec<_>>()
    };
    let mut report = Report::new(cfg.mode, &cfg.cluster, &ctx.region, &ctx.account, rt);
    report.stack_deployed = stack.deployed;
    report.stack_outputs = stack.outputs.clone();
    report.stack_summary = stack.summary.clone();
    if intent == Intent::Preview {
        report.oneoff = oneoff::preview(&ctx, rt, &runs);
        report.housekeeping = housekeeping::preview(&ctx, &runs, &scheduled).await;
    }
    if intent != Intent::Deploy {
        report.services = rows(&runs);
        report.result = if intent == Intent::ReadOnly {
            RunResult::Unchanged
        } else {
            RunResult::Planned
        };
        report.duration = ctx.clock.elapsed();
        report.phases = ctx.timeline.take();
        return Ok(report);
    }
    let register_start = ctx.clock.elapsed();
    out.group("Register and update");
    announce_plans(&ctx, &mut runs);
    // Someone else's CodeDeploy deployment is waited for before any service is registered,
    // migrated or updated: one still active at the end fails the run with nothing changed.
    wait_for_codedeploy_groups(&ctx, &mut runs).await;
    if !runs.iter().any(|r| r.held || r.error.is_some()) {
        register(&ctx, &mut runs).await;
        hold_if_any_failed(&ctx, &mut runs);
    }
    let mut update_start = register_start;
    if cfg.oneoff.is_some() {
        // The one-off task runs between the two, in a group and a bar of its own; when it
        // fails, every service is held back.
        out.end_group();
        ctx.timeline
            .add("register", register_start, ctx.clock.elapsed());
        report.oneoff = oneoff::run(&ctx, rt, &mut runs).await;
        update_start = ctx.clock.elapsed();
        out.group("Update");
    }
    if !runs.iter().any(|r| r.held) {
        start_rollouts(&ctx, &mut runs).await;
    }
    out.end_group();
    so_far.record(rows(&runs));
    let wait_start = ctx.clock.elapsed();
    let bar = if cfg.oneoff.is_some() {
        "update"
    } else {
        "register and update"
    };
    ctx.timeline.add(bar, update_start, wait_start);
    if cfg.rollout.wait {
        wait_for_rollouts(&ctx, &mut runs).await;
    }
    let wait_end = ctx.clock.elapsed();
    for r in &runs {
        if let Some(o) = &r.outcome {
            let end = match o {
                Outcome::Completed(d) => wait_start + *d,
                _ => wait_end,
            };
            ctx.timeline
                .add(&format!("rollout {}", r.name()), wait_start, end);
        }
    }
    so_far.record(rows(&runs));
    undo_on_failure(&ctx, &mut runs).await;
    if runs.iter().any(|r| r.undo.is_some()) {
        ctx.timeline.add("rollback", wait_end, ctx.clock.elapsed());
    }
    report.services = rows(&runs);
    codedeploy::final_states(&ctx.aws, &cfg.cluster, &mut report.services).await;
    let results: Vec<(ServiceResult, bool)> = report
        .services
        .iter()
        .zip(&runs)
        .map(|(s, r)| (s.result.clone(), r.maybe_changed))
        .collect();
    let oneoff_failed = report
        .oneoff
        .as_ref()
        .is_some_and(|t| matches!(t.result, crate::report::TaskResult::Failed(_)));
    report.result = match decide::conclude(&results, oneoff_failed) {
        // A stack-only run: its result is the stack's.
        RunResult::Unchanged if stack.deployed && runs.is_empty() => RunResult::Deployed,
        other => other,
    };
    // Housekeeping never changes the result: its failures are warnings in its section.
    let housekeeping_start = ctx.clock.elapsed();
    report.housekeeping = housekeeping::after_deploy(&ctx, &runs, report.result, &scheduled).await;
    if report.housekeeping.is_some() {
        ctx.timeline
            .add("housekeeping", housekeeping_start, ctx.clock.elapsed());
    }
    report.duration = ctx.clock.elapsed();
    report.phases = ctx.timeline.take();
    Ok(report)
}

/// `verify` (read-only, or `verify: true` in a deploy), on the rendered documents.
async fn verify_if_due(
    ctx: &Ctx<'_>,
    runs: &[ServiceRun],
    intent: Intent,
    cluster_after_stack: bool,
) -> Result<(), Failure> {
    if intent == Intent::ReadOnly || (intent == Intent::Deploy && ctx.cfg.verify) {
        let cluster_exists = !cluster_after_stack || intent == Intent::Deploy;
        verify::run(ctx, runs, intent == Intent::ReadOnly, cluster_exists).await?;
    }
    Ok(())
}

/// The checks before anything changes, and the comparison's reads, at once: the images,
/// the named rules and schedules, `verify`, and each service's running task definition and
/// newest revisions need nothing of each other (without a stack, nothing changes between
/// them). Each prints through a held printer, replayed in the order the steps run in one
/// after another; the first step that fails (in that order) is the run's error, and what
/// the steps after it printed is dropped, as if they had not run.
async fn checks_at_once(
    ctx: &Ctx<'_>,
    runs: &mut [ServiceRun],
    intent: Intent,
) -> Result<(Vec<schedules::Scheduled>, Vec<Reads>), Failure> {
    let held = [ctx.out.held(), ctx.out.held(), ctx.out.held()];
    let (images_ctx, schedules_ctx, verify_ctx) = (
        ctx.with_printer(&held[0]),
        ctx.with_printer(&held[1]),
        ctx.with_printer(&held[2]),
    );
    // The images step may pin digests into the documents: it works on copies, which
    // replace the documents when it is done (verify and the reads need nothing it changes).
    let mut docs: Vec<Rendered> = runs.iter().filter_map(|r| r.rendered.clone()).collect();
    let shared: &[ServiceRun] = runs;
    let (images, scheduled, verified, reads) = tokio::join!(
        async {
            let checked = check_images_of(&images_ctx, &mut docs, intent).await;
            (checked, docs)
        },
        schedules::find(&schedules_ctx),
        verify_if_due(&verify_ctx, shared, intent, false),
        read_for_diff(ctx, shared),
    );
    let (checked, docs) = images;
    held[0].replay();
    checked?;
    attach(runs, docs);
    held[1].replay();
    let scheduled = scheduled?;
    held[2].replay();
    verified?;
    Ok((scheduled, reads))
}

/// Step 3: the services, as ECS has them. A cluster that does not exist yet but that this
/// run's stack makes (its template declares an `AWS::ECS::Cluster`) is day one: every service
/// is one to create from its definition, and (for `deploy`) the services are looked at again
/// after the stack. Returns the records and whether that second look is due.
async fn preflight(
    ctx: &Ctx<'_>,
    rollouts: Rollouts,
    definitions: &[Definition],
) -> Result<(Vec<ServiceRun>, bool), Failure> {
    let cfg = ctx.cfg;
    match prelude::preflight(ctx, rollouts, definitions, false).await? {
        Found::Runs(runs) => Ok((runs, false)),
        Found::ClusterMissing if stack_makes_cluster(cfg) => {
            ctx.out.notice(&format!(
                "cluster `{}` does not exist yet and the stack declares an ECS cluster: the stack comes first, then every service is created from its definition",
                cfg.cluster
            ));
            match prelude::preflight(ctx, rollouts, definitions, true).await? {
                Found::Runs(runs) => Ok((runs, true)),
                Found::ClusterMissing => Err(prelude::cluster_missing(cfg, &ctx.region).into()),
            }
        }
        Found::ClusterMissing => {
            let mut p = prelude::cluster_missing(cfg, &ctx.region);
            if let Some(Ok(name)) = stack::cluster_name(cfg) {
                p.message.push_str(&format!(
                    "; the stack's template names its cluster `{name}`, not `{}`",
                    cfg.cluster
                ));
            }
            Err(p.into())
        }
    }
}

/// The run deploys a stack whose template declares the ECS cluster of input `cluster` (by
/// name, when the name can be read from the template and its parameters).
fn stack_makes_cluster(cfg: &Config) -> bool {
    let deploys = cfg
        .stack
        .as_ref()
        .is_some_and(|s| s.deploy != crate::config::DeployStack::Never);
    match stack::cluster_name(cfg) {
        _ if !deploys => false,
        None => false,
        Some(Ok(name)) => name == last_segment(&cfg.cluster),
        Some(Err(())) => true,
    }
}

/// Day one, after the stack: the real preflight. Its problems are a failed deploy (the stack
/// has changed), not invalid input.
async fn preflight_after_stack(
    ctx: &Ctx<'_>,
    definitions: &[Definition],
    stack: &stack::StackOutcome,
) -> Result<Vec<ServiceRun>, Failure> {
    let found = prelude::preflight(ctx, Rollouts::Started, definitions, false)
        .await
        .map_err(|f| after_stack(f, stack))?;
    match found {
        Found::Runs(runs) => Ok(runs),
        Found::ClusterMissing => Err(Failure::Other(anyhow!(
            "{}, but cluster `{}` still does not exist in {}: check that the template's AWS::ECS::Cluster is named like input cluster; no service was changed",
            if stack.deployed { "the stack was deployed" } else { "the stack is as it was" },
            ctx.cfg.cluster,
            ctx.region
        ))),
    }
}

/// The service definitions, rendered like the task definitions (same variables).
fn render_definitions(
    cfg: &Config,
    rt: &Runtime,
    extra: &BTreeMap<String, String>,
) -> Result<Vec<Definition>, Failure> {
    let lookup = lookup(rt, extra);
    render::render_definitions(&cfg.targets, &lookup)
        .map_err(|p| subst::explain_not_utf8(p.into(), &rt.not_utf8))
}

/// A variable's value: the environment, then the stack's outputs; never a credential's.
fn lookup<'a>(
    rt: &'a Runtime,
    extra: &'a BTreeMap<String, String>,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        if subst::is_forbidden(name) {
            None
        } else {
            rt.env.get(name).or_else(|| extra.get(name)).cloned()
        }
    }
}

fn attach_definitions(runs: &mut [ServiceRun], definitions: Vec<Definition>) {
    for d in definitions {
        if let Some(r) = runs.iter_mut().find(|r| r.target == d.target) {
            r.definition = Some(d);
        }
    }
}

/// Step 1: every file read, substituted and checked before AWS is contacted.
/// `extra` holds the `STACK_*` variables; the environment wins over them.
/// `out` is `None` for a rendering that only checks (nothing printed; problems are returned).
pub(crate) fn render_files(
    cfg: &Config,
    rt: &Runtime,
    out: Option<&Printer>,
    extra: &BTreeMap<String, String>,
) -> Result<Vec<Rendered>, Failure> {
    let lookup = lookup(rt, extra);
    let result = render::render_all(&cfg.targets, &cfg.images, &lookup)
        .map_err(|p| subst::explain_not_utf8(p.into(), &rt.not_utf8));
    let Some(out) = out else {
        return Ok(result?.0);
    };
    out.group("Render task definitions");
    for name in extra.keys() {
        if rt.env.contains_key(name) {
            out.warning(&format!(
                "{name} is set in the environment and is also a stack or Terraform output: the environment's value is used"
            ));
        }
    }
    if let Ok((docs, warnings)) = &result {
        for w in warnings {
            out.warning(w);
        }
        for d in docs {
            let images: Vec<String> = taskdef::images(&d.body)
                .into_iter()
                .map(|(c, i)| format!("{c}={i}"))
                .collect();
            out.line(&format!(
                "{}: family {} ({})",
                d.target.shown,
                taskdef::family(&d.body).unwrap_or("?"),
                images.join(", ")
            ));
        }
    }
    out.end_group();
    Ok(result?.0)
}

/// Gives each service its rendered document.
fn attach(runs: &mut [ServiceRun], rendered: Vec<Rendered>) {
    for doc in rendered {
        if let Some(r) = runs.iter_mut().find(|r| r.target == doc.target) {
            r.rendered = Some(doc);
        }
    }
}

/// `verify-images` and `pin-image-digests` on the rendered documents (the read-only `verify`
/// checks images with its other items instead).
async fn check_images(
    ctx: &Ctx<'_>,
    runs: &mut [ServiceRun],
    intent: Intent,
) -> Result<(), Failure> {
    let mut docs: Vec<Rendered> = runs.iter_mut().filter_map(|r| r.rendered.take()).collect();
    let checked = check_images_of(ctx, &mut docs, intent).await;
    attach(runs, docs);
    checked
}

/// `check_images` on documents taken out of their records.
async fn check_images_of(
    ctx: &Ctx<'_>,
    docs: &mut [Rendered],
    intent: Intent,
) -> Result<(), Failure> {
    if intent == Intent::ReadOnly {
        return Ok(());
    }
    images::check(&ctx.aws, &ctx.cfg.image_checks, &ctx.account, docs, ctx.out).await
}

/// Step 6: compare each rendered task definition and service definition with what its
/// service runs, and decide. An identical revision registered before (an earlier deploy's)
/// is reused instead of registering a duplicate.
async fn diff_services(
    ctx: &Ctx<'_>,
    runs: &mut [ServiceRun],
    intent: Intent,
    reads: Option<Vec<Reads>>,
) -> Result<(), Failure> {
    let (cfg, out) = (ctx.cfg, ctx.out);
    out.group("Compare with the running task definitions");
    let reads = match reads {
        Some(reads) => reads,
        None => read_for_diff(ctx, runs).await,
    };
    let (described, listed): (Vec<_>, Vec<_>) =
        reads.into_iter().map(|r| (r.live, r.listed)).unzip();
    let asked = Asked {
        force_new_deployment: cfg.rollout.force_new_deployment,
        desired_count: cfg.rollout.desired_count,
    };
    let mut problems = Vec::new();
    for (r, described) in runs.iter_mut().zip(described) {
        let (live_td, live_tags) = described?;
        if let Some(revision) = r.target.revision.clone() {
            let live = (!r.creating).then_some(&live_td);
            match promoted(ctx, r, &revision, live).await {
                Ok(doc) => r.rendered = Some(doc),
                Err(p) => {
                    problems.push(p);
                    continue;
                }
            }
        }
        let rendered = r
            .rendered
            .as_ref()
            .ok_or_else(|| anyhow!("service {} has no rendered task definition", r.name()))?;
        if let Some(def) = &r.definition {
            let found = servicedef::check_with_task(&def.body, &rendered.body, r.creating);
            problems.extend(found.iter().map(|p| def.problem(&p.field, &p.message)));
            if !r.creating {
                r.changes = servicedef::compare(&def.body, &r.live.raw, r.name());
                problems.extend(
                    r.changes
                        .immutable
                        .iter()
                        .map(|p| def.problem(&p.field, &p.message)),
                );
            }
        }
        let diff = if r.creating {
            taskdef::Diff {
                changed: true,
                unified: String::new(),
                summary: Vec::new(),
            }
        } else {
            taskdef::diff(&live_td, &rendered.body)
        };
        let tags_differ = rendered
            .tags
            .as_ref()
            .is_some_and(|t| tag_set(t) != tag_set(&live_tags));
        let promote_to = r.target.revision.as_ref().and_then(|_| {
            rendered
                .body
                .get("taskDefinitionArn")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        r.action = match promote_to {
            // A registered revision: the service moves to it when it runs another one.
            Some(arn) => match decide::decide(&r.live, arn != r.live.task_definition, asked) {
                Action::Register => Action::Promote(arn),
                other => other,
            },
            None => decide::decide(&r.live, diff.changed || tags_differ, asked),
        };
        if r.creating && r.action != Action::Register && r.action.registered().is_none() {
            r.action = Action::Register;
        }
        // Changed attributes need an UpdateService even when the task definition is the same.
        if !r.changes.fields.is_empty()
            && matches!(
                r.action,
                Action::Nothing | Action::WaitForCurrent(_) | Action::Scale
            )
        {
            r.action = Action::Reconfigure;
        }
        r.live_images = taskdef::images(&live_td);
        r.diff = Some(diff);
    }
    if !problems.is_empty() {
        out.end_group();
        return Err(problems.into());
    }
    reuse_identical(ctx, runs, listed).await;
    for r in runs.iter() {
        show_decision(ctx, r, intent);
    }
    out.end_group();
    Ok(())
}

/// What was decided for one service, in the log.
fn show_decision(ctx: &Ctx<'_>, r: &ServiceRun, intent: Intent) {
    let (cfg, out) = (ctx.cfg, ctx.out);
    let Some(diff) = &r.diff else { return };
    let new_service = |what: &str| {
        let def = r
            .definition
            .as_ref()
            .map(|d| d.target.definition_shown.as_str())
            .unwrap_or("its definition");
        let verb = if intent == Intent::Deploy {
            "is created"
        } else {
            "would be created"
        };
        format!("does not exist: {verb} from {def}, {what}")
    };
    let what = match &r.action {
        Action::Register if r.creating => new_service("on a new revision"),
        Action::Promote(arn) | Action::Reuse(arn) if r.creating => {
            new_service(&format!("on the registered revision {}", revision_label(arn)))
        }
        Action::Nothing => "unchanged".to_string(),
        Action::WaitForCurrent(id) => {
            format!("unchanged, its rollout {id} is still in progress")
        }
        Action::Redeploy => "same task definition, new deployment".to_string(),
        Action::Scale => format!(
            "same task definition, desired count {} → {}",
            r.live.desired,
            cfg.rollout.desired_count.unwrap_or_default()
        ),
        Action::Reconfigure => format!(
            "same task definition, {} service attribute(s) changed",
            r.changes.summary.len()
        ),
        Action::Promote(arn) => format!(
            "moves to the registered revision {} ({} change(s)), nothing is registered",
            revision_label(arn),
            diff.summary.len()
        ),
        Action::Reuse(arn) => format!(
            "{} change(s), identical to the registered revision {}: that one is deployed, nothing is registered",
            diff.summary.len(),
            revision_label(arn)
        ),
        Action::Register if diff.changed => format!("{} change(s)", diff.summary.len()),
        Action::Register => "tags changed".to_string(),
    };
    let way = if r.rollout.is_some() {
        String::new()
    } else {
        format!(" (rolls out {})", r.way.label())
    };
    out.line(&format!("{}: {what}{way}", r.name()));
    if intent != Intent::Deploy && r.rollout == Some(Rollout::EcsNative) {
        out.line(&format!(
            "  rolls out {}",
            crate::rollout::native::plan(&r.live.raw).0
        ));
    }
    for line in &diff.summary {
        out.line(&format!("  {line}"));
    }
    for line in &r.changes.summary {
        out.line(&format!("  service {line}"));
    }
    if intent == Intent::Preview && diff.changed && !diff.unified.is_empty() {
        out.line(&diff.unified);
    }
}

/// What the comparison reads from ECS for one service: the task definition it runs, with
/// its tags, and (for a rendered document) its family's newest revisions, which
/// `reuse_identical` looks at when a new revision is due.
pub(crate) struct Reads {
    live: anyhow::Result<(Value, Vec<Value>)>,
    listed: Option<anyhow::Result<Vec<String>>>,
}

/// The reads that fan out per service before anything changes wait out throttles.
const PATIENT: ecs_json::Patience = ecs_json::Patience::WaitOutThrottles;

/// Both reads of every service in one bounded batch: one round trip for up to 25
/// services (ECS's bucket for task-definition reads holds 50), and none of them waits for
/// the comparison. The list is asked for every rendered document, also those that turn out
/// unchanged: one read more for an unchanged service, one round trip less for every changed
/// one.
async fn read_for_diff(ctx: &Ctx<'_>, runs: &[ServiceRun]) -> Vec<Reads> {
    // Services on one task definition, or of one family, share its read.
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Ask<'r> {
        Live(&'r str),
        List(&'r str),
    }
    let wants: Vec<(Option<Ask>, Option<Ask>)> = runs
        .iter()
        .map(|r| {
            let live = (!r.creating).then_some(Ask::Live(r.live.task_definition.as_str()));
            let family = r
                .rendered
                .as_ref()
                .filter(|_| r.target.revision.is_none())
                .and_then(|d| taskdef::family(&d.body));
            (live, family.map(Ask::List))
        })
        .collect();
    let asks: Vec<Ask> = wants
        .iter()
        .flat_map(|(a, b)| [*a, *b])
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    enum Answer {
        Live(anyhow::Result<(Value, Vec<Value>)>),
        List(anyhow::Result<Vec<String>>),
    }
    let ecs = &ctx.aws.ecs;
    let answers = bounded_as(
        Batch::TaskDefinitionReads,
        asks.iter().map(|ask| async move {
            match ask {
                Ask::Live(arn) => Answer::Live(ecs_json::describe_with(ecs, arn, PATIENT).await),
                Ask::List(family) => {
                    Answer::List(ecs_json::newest_revisions(ecs, family, PATIENT).await)
                }
            }
        }),
    )
    .await;
    let answer = |ask: &Ask| answers.get(asks.binary_search(ask).ok()?);
    wants
        .iter()
        .map(|(live, list)| Reads {
            // Nothing runs yet for a service to create: everything is new.
            live: match live.as_ref().and_then(answer) {
                Some(Answer::Live(Ok(found))) => Ok(found.clone()),
                Some(Answer::Live(Err(e))) => Err(anyhow!("{e:#}")),
                _ => Ok((Value::Null, Vec::new())),
            },
            listed: match list.as_ref().and_then(answer) {
                Some(Answer::List(Ok(arns))) => Some(Ok(arns.clone())),
                Some(Answer::List(Err(e))) => Some(Err(anyhow!("{e:#}"))),
                _ => None,
            },
        })
        .collect()
}

/// For every service about to register a new revision: an identical ACTIVE revision among
/// the family's newest (`listed`, read with the comparison) is deployed instead (a revert,
/// or the deploy of an earlier commit), so revisions are not duplicated. A lookup that
/// fails only costs the reuse.
async fn reuse_identical(
    ctx: &Ctx<'_>,
    runs: &mut [ServiceRun],
    listed: Vec<Option<anyhow::Result<Vec<String>>>>,
) {
    // Every service's candidates, described in one bounded batch.
    let mut wanted: Vec<(usize, String)> = Vec::new();
    for (i, (r, listed)) in runs.iter().zip(&listed).enumerate() {
        let Some(doc) = r.rendered.as_ref().filter(|_| r.action == Action::Register) else {
            continue;
        };
        let Some(family) = taskdef::family(&doc.body) else {
            continue;
        };
        match listed {
            Some(Ok(arns)) => {
                let skip = r.live.task_definition.as_str();
                for arn in ecs_json::candidates(family, arns, skip, ecs_json::REUSE_DEPTH) {
                    wanted.push((i, arn));
                }
            }
            Some(Err(e)) => ctx.out.debug(&format!(
                "{}: listing its family's revisions failed, a new one is registered: {e:#}",
                r.name()
            )),
            None => {}
        }
    }
    let ecs = &ctx.aws.ecs;
    let described = bounded_as(
        Batch::TaskDefinitionReads,
        wanted
            .iter()
            .map(|(_, arn)| ecs_json::describe_with(ecs, arn, PATIENT)),
    )
    .await;
    let mut decided = vec![false; runs.len()];
    for ((i, arn), d) in wanted.iter().zip(described) {
        let r = &mut runs[*i];
        if decided[*i] {
            continue;
        }
        match d {
            Ok((td, live_tags)) => {
                let Some(doc) = r.rendered.as_ref() else {
                    continue;
                };
                if ecs_json::same_revision(&td, &live_tags, &doc.body, doc.tags.as_deref()) {
                    r.action = Action::Reuse(arn.clone());
                    decided[*i] = true;
                }
            }
            // As before: a lookup that fails only costs the reuse, never a wrong one.
            Err(e) => {
                ctx.out.debug(&format!(
                    "{}: looking for an identical registered revision failed, a new one is registered: {e:#}",
                    r.name()
                ));
                decided[*i] = true;
            }
        }
    }
}

/// The registered revision a service is promoted to, described, as the document it deploys.
/// A revision that does not exist or is not ACTIVE is invalid input: nothing has changed yet.
async fn promoted(
    ctx: &Ctx<'_>,
    r: &ServiceRun,
    revision: &str,
    live: Option<&Value>,
) -> Result<Rendered, crate::error::InputProblem> {
    let input = match r.target.role {
        crate::config::Role::App => "task-definition",
        crate::config::Role::Otel => "otel-task-definition",
        crate::config::Role::Extra => "services",
    };
    let (td, tags) = ecs_json::describe(&ctx.aws.ecs, revision)
        .await
        .map_err(|e| {
            crate::error::InputProblem::new(format!(
                "input {input}: the registered revision `{revision}` for service {} cannot be read: {e:#}; give an ACTIVE revision (ARN or family:revision) of this account and region, or the path of a task-definition file",
                r.name()
            ))
        })?;
    let status = td.get("status").and_then(Value::as_str).unwrap_or("ACTIVE");
    if status != "ACTIVE" {
        return Err(crate::error::InputProblem::new(format!(
            "input {input}: the revision `{revision}` is {status}: ECS deploys only ACTIVE revisions; register it again or give another one"
        )));
    }
    // Another service's revision (the collector's given for the app, say): none of the
    // containers the service runs, or its load balancers send traffic to, is in it.
    let names = |doc: &Value| -> BTreeSet<String> {
        taskdef::containers(doc)
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let theirs = names(&td);
    let wanted: BTreeSet<String> = match live {
        Some(l) => names(l),
        None => BTreeSet::new(),
    }
    .into_iter()
    .chain(
        r.live.raw["loadBalancers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|lb| {
                lb.get("containerName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }),
    )
    .collect();
    if !wanted.is_empty() && theirs.is_disjoint(&wanted) {
        return Err(crate::error::InputProblem::new(format!(
            "input {input}: the revision `{revision}` runs container(s) {}, but service {} runs {}: it looks like another service's revision; give a revision of this service's family",
            theirs.iter().cloned().collect::<Vec<_>>().join(", "),
            r.name(),
            wanted.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(Rendered {
        target: r.target.clone(),
        body: td,
        tags: Some(tags),
    })
}

/// Before the stack is deployed its outputs are unknown: each declared output gets a
/// placeholder so step 1 can check every other variable; the files are rendered again after.
pub(crate) fn stack_placeholders(keys: Option<&BTreeSet<String>>) -> BTreeMap<String, String> {
    keys.into_iter()
        .flatten()
        .map(|k| (format!("STACK_{k}"), subst::stack_placeholder(k)))
        .collect()
}

/// The stack changed already when the files fail to render with its outputs: that is a failed
/// deploy (exit 1), not invalid input that "changed nothing".
fn after_stack(f: Failure, stack: &stack::StackOutcome) -> Failure {
    let keys = stack.outputs.keys().cloned().collect::<Vec<_>>().join(", ");
    changed_already(
        f,
        stack,
        &format!("the files do not fit its outputs ({keys})"),
    )
}

/// A problem found after the stack was deployed is a failed deploy (exit 1): something has
/// changed. When the stack was left as it was, it is still invalid input that changed nothing.
fn changed_already(f: Failure, stack: &stack::StackOutcome, what: &str) -> Failure {
    let Failure::Input(problems) = f else {
        return f;
    };
    if !stack.deployed {
        return Failure::Input(problems);
    }
    let reasons: Vec<String> = problems.into_iter().map(|p| p.message).collect();
    Failure::Other(anyhow!(
        "the stack was deployed, but {what}; no service was changed: {}",
        reasons.join("; ")
    ))
}

/// The checks of the service definitions that need only the files and the live services:
/// run before the stack, so they change nothing when they fail. Values that are still stack
/// outputs' placeholders are checked after the stack, by `diff_services`.
fn check_definitions(runs: &[ServiceRun]) -> Result<(), Failure> {
    let mut problems = Vec::new();
    for r in runs {
        let (Some(def), Some(doc)) = (&r.definition, &r.rendered) else {
            continue;
        };
        let known = |field: &str| {
            !def.body
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(subst::is_stack_placeholder)
        };
        let found = servicedef::check_with_task(&def.body, &doc.body, r.creating);
        let immutable = if r.creating {
            Vec::new()
        } else {
            servicedef::compare(&def.body, &r.live.raw, r.name()).immutable
        };
        problems.extend(
            found
                .iter()
                .chain(&immutable)
                .filter(|p| known(&p.field))
                .map(|p| def.problem(&p.field, &p.message)),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

fn stack_vars(outputs: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    outputs
        .iter()
        .map(|(k, v)| (format!("STACK_{k}"), v.clone()))
        .collect()
}

fn tag_set(tags: &[Value]) -> BTreeSet<(String, String)> {
    tags.iter()
        .map(|t| {
            let s = |k| {
                t.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (s("key"), s("value"))
        })
        .collect()
}

/// Step 7a: register the changed task definitions, all at once. Every service ends with the
/// task definition it is deployed to, or an error.
async fn register(ctx: &Ctx<'_>, runs: &mut [ServiceRun]) {
    let work = runs.iter().map(|r| async move {
        if let Some(arn) = r.action.registered() {
            return Some(Ok(arn.to_string()));
        }
        if r.action != Action::Register {
            return None;
        }
        let doc = r.rendered.as_ref()?;
        let answer = ecs_json::register(&ctx.aws.ecs, &doc.body, doc.tags.as_deref()).await;
        Some(answer.and_then(|td| {
            td.get("taskDefinitionArn")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| anyhow!("RegisterTaskDefinition answered without an ARN"))
        }))
    });
    let answers = bounded_as(Batch::Registrations, work).await;
    for (r, answer) in runs.iter_mut().zip(answers) {
        match answer {
            None => r.new_task_definition = Some(r.live.task_definition.clone()),
            Some(Ok(arn)) => r.new_task_definition = Some(arn),
            Some(Err(e)) => {
                let e = format!("{e:#}");
                ctx.out
                    .error(&Default::default(), &format!("{}: {e}", r.name()));
                r.error = Some(e);
            }
        }
    }
}

/// A registration that failed fails the run: no other service is updated (and none then
/// needs undoing), and the one-off task does not run.
fn hold_if_any_failed(ctx: &Ctx<'_>, runs: &mut [ServiceRun]) {
    let failed: Vec<String> = runs
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| r.name().to_string())
        .collect();
    if failed.is_empty() {
        return;
    }
    hold_the_rest(
        ctx,
        runs,
        &format!(
            "registering the task definition of {} failed: no service is updated",
            failed.join(", ")
        ),
    );
}

/// Says why, and holds back every service that has not failed itself.
fn hold_the_rest(ctx: &Ctx<'_>, runs: &mut [ServiceRun], why: &str) {
    ctx.out.line(why);
    for r in runs.iter_mut().filter(|r| r.error.is_none()) {
        r.held = true;
    }
}

/// What a CODE_DEPLOY service's attributes (and desired count, when one is asked for) were
/// before this run: put back when its CreateDeployment fails after they were changed.
fn codedeploy_restore(
    r: &ServiceRun,
    desired_count: Option<i32>,
) -> serde_json::Map<String, Value> {
    let mut m = r.changes.previous(&r.live.raw);
    if desired_count.is_some() {
        m.insert("desiredCount".into(), Value::from(r.live.desired));
    }
    m
}

/// Whether starting this service's rollout creates a CodeDeploy deployment.
fn creates_codedeploy_deployment(r: &ServiceRun) -> bool {
    r.codedeploy.is_some()
        && !r.creating
        && !matches!(
            r.action,
            Action::Nothing | Action::WaitForCurrent(_) | Action::Scale
        )
}

/// Step 7 (first): each CodeDeploy group this run deploys to has no active deployment
/// (someone else's), waited for up to `wait-for-minutes`, all at once. One still active at
/// the end is that service's error, and every other service is held back: nothing was
/// registered or updated yet, and none will be.
async fn wait_for_codedeploy_groups(ctx: &Ctx<'_>, runs: &mut [ServiceRun]) {
    let waits = bounded(runs.iter().map(|r| async move {
        let setup = r
            .codedeploy
            .as_ref()
            .filter(|_| creates_codedeploy_deployment(r))?;
        Some(codedeploy::wait_for_group(ctx, r.name(), setup).await)
    }))
    .await;
    let mut busy = Vec::new();
    let mut waited = Vec::new();
    for (i, (r, w)) in runs.iter_mut().zip(waits).enumerate() {
        match w {
            Some(Err(e)) => {
                let e = format!("{e:#}");
                ctx.out
                    .error(&Default::default(), &format!("{}: {e}", r.name()));
                r.error = Some(e);
                busy.push(r.name().to_string());
            }
            Some(Ok(true)) => waited.push(i),
            _ => {}
        }
    }
    if busy.is_empty() {
        refresh_after_others(ctx, runs, &waited).await;
        return;
    }
    hold_the_rest(
        ctx,
        runs,
        &format!(
            "the CodeDeploy group of {} is busy with someone else's deployment: no service is registered or updated",
            busy.join(", ")
        ),
    );
}

/// After waiting for someone else's CodeDeploy deployment, the service runs what that one
/// deployed: its snapshot is read again, so the revision it ran before this run (the undo's
/// target) is theirs, not the one the preflight saw. A look that fails holds the service.
async fn refresh_after_others(ctx: &Ctx<'_>, runs: &mut [ServiceRun], waited: &[usize]) {
    if waited.is_empty() {
        return;
    }
    let names: Vec<String> = waited
        .iter()
        .map(|&i| runs[i].target.service.clone())
        .collect();
    let found = services::describe(&ctx.aws.ecs, &ctx.cfg.cluster, &names).await;
    for &i in waited {
        let r = &mut runs[i];
        match found.as_ref().ok().and_then(|f| f.get(r.name())) {
            Some(live) => {
                if live.task_definition != r.live.task_definition {
                    ctx.out.line(&format!(
                        "{}: now runs {} (someone else's deployment): this run's starts from there",
                        r.name(),
                        revision_label(&live.task_definition)
                    ));
                }
                r.live = live.clone();
            }
            None => {
                let why = "the service could not be described again after someone else's deployment: nothing is started for it".to_string();
                ctx.out
                    .error(&Default::default(), &format!("{}: {why}", r.name()));
                r.error = Some(why);
            }
        }
    }
}

/// Step 7b: start each service's rollout (its way's `start`), all at once, or create it
/// from its definition. A service that is unchanged but mid-rollout is followed, not
/// restarted.
async fn start_rollouts(ctx: &Ctx<'_>, runs: &mut [ServiceRun]) {
    let cfg = ctx.cfg;
    let started_at = crate::context::epoch_now();
    for r in runs.iter_mut() {
        r.started_at = started_at;
    }
    let work = runs.iter().map(|r| async move {
        let (Some(rollout), Some(td), None) = (r.rollout, &r.new_task_definition, &r.error) else {
            return None;
        };
        if r.creating {
            return Some(create(ctx, r, td).await.map(|deployment| Started {
                deployment,
                service_deployment: None,
            }));
        }
        let force = match &r.action {
            Action::Nothing | Action::WaitForCurrent(_) => {
                // Tags need no deployment: TagResource alone.
                if !r.changes.tags.is_empty() {
                    tag_service(ctx, r).await;
                }
                return None;
            }
            Action::Redeploy => true,
            Action::Scale
            | Action::Register
            | Action::Promote(_)
            | Action::Reuse(_)
            | Action::Reconfigure => cfg.rollout.force_new_deployment || r.changes.force,
        };
        let change = Change {
            task_definition: td.clone(),
            desired_count: cfg.rollout.desired_count,
            force,
            attributes: r.changes.fields.clone(),
            service_deployment: None,
            codedeploy: r.codedeploy.clone(),
            deployment: None,
            restore: codedeploy_restore(r, cfg.rollout.desired_count),
        };
        if r.codedeploy.is_some() && r.action == Action::Scale {
            // Only the desired count (and attributes) change: no CodeDeploy deployment.
            let scaled = codedeploy::scale(&ctx.aws, &cfg.cluster, r.name(), &change).await;
            return Some(scaled.map(|()| Started {
                deployment: String::new(),
                service_deployment: None,
            }));
        }
        let started = rollout
            .start(&ctx.aws, &cfg.cluster, r.name(), &change)
            .await;
        if started.is_ok() && !r.changes.tags.is_empty() {
            tag_service(ctx, r).await;
        }
        Some(started)
    });
    // `UpdateService` and `CreateService` share ECS's service-modify bucket; a CodeDeploy
    // deployment is CodeDeploy's call, which documents no bucket: ten at once.
    let batch = match runs.iter().any(|r| r.codedeploy.is_some()) {
        true => Batch::Other,
        false => Batch::ServiceUpdates,
    };
    let started = bounded_as(batch, work).await;
    let in_progress = current_native_deployments(ctx, runs).await;
    for ((r, s), current) in runs.iter_mut().zip(started).zip(in_progress) {
        match s {
            None => {
                if let Action::WaitForCurrent(id) = &r.action {
                    r.deployment = Some(id.clone());
                    r.service_deployment = current;
                }
            }
            Some(Ok(Started {
                deployment: id,
                service_deployment,
            })) => {
                let verb = if r.creating {
                    "created on"
                } else {
                    "updated to"
                };
                if id.is_empty() {
                    // A CODE_DEPLOY service only scaled: nothing to follow.
                    ctx.out.line(&format!(
                        "{}: desired count set to {} with UpdateService (revision unchanged: no CodeDeploy deployment)",
                        r.name(),
                        cfg.rollout.desired_count.unwrap_or_default()
                    ));
                } else {
                    ctx.out.line(&format!(
                        "{}: {verb} {} (deployment {id})",
                        r.name(),
                        r.new_task_definition.as_deref().unwrap_or_default()
                    ));
                }
                r.updated = true;
                r.maybe_changed = true;
                r.deployment = Some(id).filter(|id| !id.is_empty());
                r.service_deployment = service_deployment;
            }
            Some(Err(e)) => {
                // A CreateService whose answer was lost may have created it (its client token
                // makes a retry safe, and the undo finds it).
                r.maybe_changed = crate::once::maybe_ran(&e);
                let e = format!("{e:#}");
                ctx.out
                    .error(&Default::default(), &format!("{}: {e}", r.name()));
                r.error = Some(e);
            }
        }
    }
}

/// `CreateService` from the service's definition on its new revision, with a client token
/// derived from the workflow run: a retried call, or a rerun of the same attempt, never
/// creates a second service. `desiredCount` defaults to 1.
async fn create(ctx: &Ctx<'_>, r: &ServiceRun, task_definition: &str) -> anyhow::Result<String> {
    let cfg = ctx.cfg;
    let def = r
        .definition
        .as_ref()
        .ok_or_else(|| anyhow!("service {} has no definition to create it from", r.name()))?;
    let mut body = def.body.clone();
    let daemon = body["schedulingStrategy"] == "DAEMON";
    if let Some(o) = body.as_object_mut().filter(|_| !daemon) {
        let n = cfg
            .rollout
            .desired_count
            .map(Value::from)
            .or_else(|| o.get("desiredCount").cloned())
            .unwrap_or_else(|| Value::from(1));
        o.insert("desiredCount".into(), n);
    }
    let token = ctx.rt.idempotency_token(&format!(
        "CreateService {} {} {}",
        cfg.cluster,
        r.name(),
        task_definition
    ));
    let body = servicedef::create_body(&body, &cfg.cluster, r.name(), task_definition, &token);
    services::create(&ctx.aws.ecs, r.name(), &body).await
}

/// Adds the definition's new or changed tags to the service (`TagResource`); a refusal is a
/// warning: the deployment has started and tags do not change what runs.
async fn tag_service(ctx: &Ctx<'_>, r: &ServiceRun) {
    let Some(arn) = r.live.raw.get("serviceArn").and_then(Value::as_str) else {
        return;
    };
    if let Err(e) = services::tag(&ctx.aws.ecs, arn, &r.changes.tags).await {
        ctx.out.warning(&format!(
            "{}: the service's tags were not updated: {e:#}",
            r.name()
        ));
    }
}

/// Step 8: wait for every deployment we started or found in progress. When a service could
/// not be started the run has failed already: nothing is waited for.
async fn wait_for_rollouts(ctx: &Ctx<'_>, runs: &mut [ServiceRun]) {
    if runs.iter().any(|r| r.error.is_some()) {
        return;
    }
    let watches: Vec<Watch> = runs
        .iter()
        .filter_map(|r| {
            let rollout = r.rollout?;
            Some(Watch {
                before: r.live.primary().map(|d| d.id.clone()),
                before_task_definition: (r.updated && !r.creating).then(|| r.previous_revision()),
                service_deployment: r.service_deployment.clone(),
                // Rolling rollouts have no stages: they are waited to the end.
                goal: match (rollout, &ctx.cfg.rollout.wait_until) {
                    (Rollout::EcsNative, Goal::Ready) => Goal::Finished,
                    (Rollout::EcsNative, goal) => goal.clone(),
                    (Rollout::CodeDeploy, Goal::Ready) => Goal::Ready,
                    (Rollout::CodeDeploy | Rollout::Rolling, _) => Goal::Finished,
                },
                hooks: r
                    .codedeploy
                    .as_ref()
                    .map(codedeploy::Setup::hooks)
                    .unwrap_or_default(),
                task_definition: r.new_task_definition.clone(),
                since: r.started_at,
                ..Watch::new(r.name(), rollout, r.deployment.as_deref()?)
            })
        })
        .collect();
    if watches.is_empty() {
        return;
    }
    let mut wait = ctx.wait(deadline(ctx, runs), ctx.clock.epoch);
    // With rollback on, one failure decides the run: every service is undone at once instead
    // of after the slowest healthy rollout. With it off, each service's own outcome is shown.
    wait.stop_at_first_failure = ctx.cfg.rollout.rollback_on_failure;
    let mut outcomes = wait.grouped(&watches, "rollout").await;
    for r in runs.iter_mut() {
        r.outcome = outcomes.remove(r.name());
        let name = r.name().to_string();
        if let Some(Outcome::Reached(at)) = &mut r.outcome {
            let next = if r.rollout == Some(Rollout::CodeDeploy) {
                format!(
                    "after testing, shift production traffic with `ecs-deploy continue --cluster {} --service {}` (mode: continue), or stop it with rollback: --continue-action rollback",
                    ctx.cfg.cluster, name
                )
            } else if at.starts_with("paused") {
                format!(
                    "continue it with `ecs-deploy continue --cluster {} --service {}` (or roll it back with --continue-action rollback)",
                    ctx.cfg.cluster, name
                )
            } else {
                "it goes on in ECS; `ecs-deploy rollback` stops it with rollback".to_string()
            };
            *at = format!("{at}: {next}");
            ctx.out.line(&format!("{name}: {at}"));
        }
    }
}

/// Step 8 (failure): when anything failed, put every service this run updated back on the
/// revision it ran before (its way's `undo`), unless ECS already did: then its rollback is
/// followed instead of starting a competing one. A service someone else deployed over is
/// left alone; revisions are never deregistered; a cancelled run exits instead. The undos
/// start concurrently, each call bounded, and are waited for up to `wait-for-minutes`.
async fn undo_on_failure(ctx: &Ctx<'_>, runs: &mut [ServiceRun]) {
    let cfg = ctx.cfg;
    let failed = runs.iter().any(|r| r.failure().is_some());
    let interrupted = runs
        .iter()
        .any(|r| matches!(r.outcome, Some(Outcome::Interrupted(_))));
    if let Some(signal) = crate::cancel::requested() {
        // A cancelled job must exit within seconds: a rollback and its wait would not. An
        // ECS-native deployment is stopped with rollback (one call), and ECS does the rest.
        stop_native_on_cancel(ctx, runs, signal).await;
        if failed {
            ctx.out.warning(&format!(
                "{signal} received: nothing else is rolled back; the services stay as the summary shows"
            ));
        }
        return;
    }
    if !failed || !cfg.rollout.rollback_on_failure || interrupted {
        return;
    }
    let targets: Vec<usize> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.maybe_changed && !matches!(r.outcome, Some(Outcome::Superseded(_))))
        // A CODE_DEPLOY service only scaled runs its revision still: nothing to put back (a
        // rollback restores revisions, not a desired count).
        .filter(|(_, r)| !(r.rollout == Some(Rollout::CodeDeploy) && r.deployment.is_none()))
        .map(|(i, _)| i)
        .collect();
    if targets.is_empty() {
        return;
    }
    let out = ctx.out;
    out.group("Roll back");
    // Events already shown while waiting for the deploy are not shown again.
    let rollback_started = epoch_now();
    let names: Vec<String> = targets
        .iter()
        .map(|&i| runs[i].name().to_string())
        .collect();
    let limit = undo_call_limit(ctx);
    let now = match tokio::time::timeout(
        limit,
        services::describe(&ctx.aws.ecs, &cfg.cluster, &names),
    )
    .await
    {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            out.warning(&format!(
                "could not describe the services before rolling back: {e}"
            ));
            BTreeMap::new()
        }
        Err(_) => {
            out.warning(&format!(
                "DescribeServices did not answer within {} s before rolling back",
                limit.as_secs_f64()
            ));
            BTreeMap::new()
        }
    };
    let undos = bounded(targets.iter().map(|&i| {
        let r = &runs[i];
        let live_now = now.get(last_segment(r.name()));
        undo_one(ctx, r, live_now)
    }))
    .await;
    for (&i, undo) in targets.iter().zip(undos) {
        runs[i].undo = Some(undo);
    }
    let watches: Vec<Watch> = targets
        .iter()
        .filter_map(|&i| {
            let r = &runs[i];
            let u = r.undo.as_ref()?;
            let deployment = u.started.clone().ok()?;
            let native = deployment.starts_with("arn:");
            // Our own CodeDeploy deployment, rolling back; a new one (back to the earlier
            // revision, after ours had succeeded) is followed to its end instead.
            let codedeploy = r.rollout == Some(Rollout::CodeDeploy)
                && r.deployment.as_deref() == Some(deployment.as_str());
            Some(Watch {
                // The ECS-native undo is the same service deployment, rolling back; the
                // CodeDeploy one is the same deployment, followed to its rollback's end.
                service_deployment: native.then(|| deployment.clone()),
                goal: if native || codedeploy {
                    Goal::RolledBack
                } else {
                    Goal::Finished
                },
                // An ECS-native service put back by UpdateService (its deployment was never
                // listed): the service deployment of that update is found like any other.
                task_definition: Some(u.to.clone()),
                since: rollback_started,
                go_ahead_at_ready: r.rollout == Some(Rollout::CodeDeploy) && !codedeploy,
                ..Watch::new(r.name(), r.rollout?, &deployment)
            })
        })
        .collect();
    // A CodeDeploy deployment that puts a service back shifts all at once and is continued
    // at Ready, but CodeDeploy still holds it for the group's wait before blue goes.
    let put_back = targets
        .iter()
        .filter_map(|&i| {
            let r = &runs[i];
            let started = r.undo.as_ref()?.started.as_ref().ok()?;
            let setup = r.codedeploy.as_ref()?;
            (r.deployment.as_deref() != Some(started.as_str()))
                .then(|| setup.minimum().saturating_sub(setup.routing_time()))
        })
        .max()
        .unwrap_or_default();
    if cfg.rollout.wait && !watches.is_empty() {
        let mut done = ctx
            .wait(cfg.rollout.wait_for + put_back, rollback_started)
            .all(&watches)
            .await;
        for &i in &targets {
            let r = &mut runs[i];
            if let (Some(u), Some(o)) = (r.undo.as_mut(), done.remove(&r.live.name)) {
                u.outcome = Some(o);
            }
        }
    }
    out.end_group();
}

/// How long the wait may take: `wait-for-minutes`, or, when it was not given, long enough for
/// every ECS-native service to reach where the wait ends (`wait-until`) by its plan (its
/// traffic shift and bake time), with ten minutes to spare, up to six hours. A CodeDeploy
/// group's own waits (ready, blue termination) come on top of `wait-for-minutes`, as the
/// official action counts them, and so does its configuration's traffic shifting when
/// `wait-for-minutes` was not given (a deadline given is kept, and warned about when it is
/// shorter than the plan: `announce_plans`).
fn deadline(ctx: &Ctx<'_>, runs: &[ServiceRun]) -> Duration {
    let settings = &ctx.cfg.rollout;
    let six_hours = Duration::from_secs(6 * 3600);
    let codedeploy = runs
        .iter()
        .filter(|_| settings.wait_until != Goal::Ready)
        .filter_map(|r| {
            r.codedeploy
                .as_ref()
                .filter(|_| creates_codedeploy_deployment(r))
        })
        .map(|s| match settings.wait_for_given {
            true => s.group.waits(),
            false => s.group.waits() + s.routing_time(),
        })
        .max()
        .unwrap_or_default();
    let codedeploy = (settings.wait_for + codedeploy).min(six_hours);
    let longest = native_plans(ctx, runs)
        .filter_map(|(_, _, d)| d)
        .max()
        .unwrap_or_default();
    let native = if settings.wait_for_given || longest.is_zero() {
        settings.wait_for
    } else {
        settings
            .wait_for
            .max(longest + Duration::from_secs(600))
            .min(six_hours)
    };
    native.max(codedeploy)
}

/// The ECS-native services of this run, with their plans (`native::plan`) and how long they
/// take at least to reach where the wait ends (`None`: a pause, not in the plan).
fn native_plans<'r>(
    ctx: &'r Ctx<'_>,
    runs: &'r [ServiceRun],
) -> impl Iterator<Item = (&'r ServiceRun, String, Option<Duration>)> + 'r {
    let goal = &ctx.cfg.rollout.wait_until;
    runs.iter()
        .filter(|r| r.rollout == Some(Rollout::EcsNative))
        .map(move |r| {
            let (line, _) = crate::rollout::native::plan(&r.live.raw);
            (r, line, crate::rollout::native::time_to(&r.live.raw, goal))
        })
}

/// Before anything starts: each ECS-native and CodeDeploy service's plan, and a warning when
/// the deadline is shorter than the time to reach where the wait ends, or when a pause hook
/// will wait for someone (the deadline's undo would roll back a healthy deployment). Each
/// warning is kept on its service for the summary.
fn announce_plans(ctx: &Ctx<'_>, runs: &mut [ServiceRun]) {
    let limit = deadline(ctx, runs);
    let goal = &ctx.cfg.rollout.wait_until;
    let minutes = |d: Duration| d.as_secs_f64() / 60.0;
    let mut warnings: Vec<(String, String)> = Vec::new();
    for (r, line, d) in native_plans(ctx, runs) {
        if r.action == Action::Nothing {
            continue;
        }
        ctx.out.line(&format!("{}: {line}", r.name()));
        let target = match goal {
            Goal::Stage(stage) => format!("reaching {stage} takes"),
            _ => "its deployment plan takes".to_string(),
        };
        if let Some(d) = d.filter(|d| *d > limit) {
            warnings.push((r.name().to_string(), format!(
                "{target} at least {:.0} min, longer than the wait's {:.0} min: at the deadline this run stops it with rollback, healthy or not; raise wait-for-minutes, or set wait-until to an earlier stage (for example BAKE_TIME)",
                minutes(d),
                minutes(limit)
            )));
        }
        let pauses = crate::rollout::native::pause_stages(&r.live.raw);
        if !pauses.is_empty() && *goal != Goal::Paused {
            warnings.push((r.name().to_string(), format!(
                "a PAUSE lifecycle hook at {} waits for `ecs-deploy continue`: if nobody continues it within the wait's {:.0} min, this run stops the deployment with rollback; set wait-until: paused to end the wait there",
                pauses.join(", "),
                minutes(limit)
            )));
        }
    }
    for r in runs.iter().filter(|r| creates_codedeploy_deployment(r)) {
        let Some(s) = &r.codedeploy else { continue };
        ctx.out
            .line(&format!("{}: CodeDeploy plan: {}", r.name(), s.plan_line()));
        if *goal == Goal::Ready || s.minimum() <= limit {
            continue;
        }
        warnings.push((r.name().to_string(), format!(
            "its CodeDeploy plan ({}) takes at least {:.0} min, longer than the wait's {:.0} min: at the deadline this run stops it with rollback, healthy or not; raise wait-for-minutes, or leave it out to have the deadline cover the traffic shifting",
            s.config_in_use(),
            minutes(s.minimum()),
            minutes(limit)
        )));
    }
    for (name, w) in warnings {
        ctx.out.warning(&format!("{name}: {w}"));
        if let Some(r) = runs.iter_mut().find(|r| r.name() == name) {
            r.warnings.push(w);
        }
    }
}

/// For each unchanged ECS-native service whose deployment is still going (an earlier run
/// ended at `wait-until`): the newest service deployment in progress, which the wait follows.
async fn current_native_deployments(ctx: &Ctx<'_>, runs: &[ServiceRun]) -> Vec<Option<String>> {
    let found = bounded(runs.iter().map(|r| async move {
        let wanted =
            matches!(r.action, Action::WaitForCurrent(_)) && r.rollout == Some(Rollout::EcsNative);
        if !wanted {
            return Ok(None);
        }
        crate::rollout::native::active(&ctx.aws, &ctx.cfg.cluster, r.name())
            .await
            .map(|views| views.first().map(|v| v.arn.clone()))
    }))
    .await;
    runs.iter()
        .zip(found)
        .map(|(r, f)| {
            f.unwrap_or_else(|e| {
                ctx.out.warning(&format!(
                    "{}: its service deployment in progress could not be read ({e:#}); allow ecs:ListServiceDeployments and ecs:DescribeServiceDeployments",
                    r.name()
                ));
                None
            })
        })
        .collect()
}

/// The service deployment of an ECS-native service's update: known since the update, or
/// listed by ECS only later (ListServiceDeployments is eventually consistent), looked up now.
async fn service_deployment_of(ctx: &Ctx<'_>, r: &ServiceRun) -> Option<String> {
    if r.service_deployment.is_some() || r.rollout != Some(Rollout::EcsNative) {
        return r.service_deployment.clone();
    }
    let td = r.new_task_definition.as_deref()?;
    let found =
        crate::rollout::native::find(&ctx.aws, &ctx.cfg.cluster, r.name(), r.started_at, td).await;
    match found {
        Ok(arn) => arn,
        Err(e) => {
            ctx.out.warning(&format!(
                "{}: its service deployment could not be looked up ({e:#})",
                r.name()
            ));
            None
        }
    }
}

/// Each CODE_DEPLOY service's application, group and AppSpec: in full for `plan` and
/// `verify`, one line for `deploy`.
fn show_codedeploy(ctx: &Ctx<'_>, runs: &[ServiceRun], intent: Intent) {
    for r in runs {
        let Some(s) = &r.codedeploy else { continue };
        if intent == Intent::Deploy {
            ctx.out.line(&format!(
                "{}: CodeDeploy application {}, deployment group {}, AppSpec {}",
                r.name(),
                s.application,
                s.group_name,
                s.appspec_from
            ));
            continue;
        }
        ctx.out.group(&format!("CodeDeploy: {}", r.name()));
        for line in s.plan_lines() {
            ctx.out.line(&format!("{}: {line}", r.name()));
        }
        ctx.out.end_group();
    }
}

/// On SIGTERM/SIGINT: every ECS-native deployment this run started is stopped with rollback
/// (one call each, at once, within a second each), and every CodeDeploy deployment with
/// `StopDeployment(autoRollbackEnabled)`.
async fn stop_native_on_cancel(ctx: &Ctx<'_>, runs: &[ServiceRun], signal: &str) {
    let stops = bounded(runs.iter().filter_map(|r| {
        let id = r
            .deployment
            .as_deref()
            .filter(|_| r.updated && r.rollout == Some(Rollout::CodeDeploy))?;
        Some(async move {
            let call = codedeploy::stop(&ctx.aws, id);
            let done = tokio::time::timeout(Duration::from_secs(1), call).await;
            (r.name(), id, done)
        })
    }))
    .await;
    for (name, id, done) in stops {
        match done {
            Ok(Ok(())) => ctx.out.line(&format!(
                "{name}: {signal} received: CodeDeploy deployment {id} stopped with rollback (CodeDeploy rolls it back; not waited for)"
            )),
            Ok(Err(e)) => ctx
                .out
                .warning(&format!("{name}: stopping CodeDeploy deployment {id} failed: {e:#}")),
            Err(_) => ctx.out.warning(&format!(
                "{name}: StopDeployment for {id} did not answer within 1 s"
            )),
        }
    }
    let stops = bounded(runs.iter().filter_map(|r| {
        (r.updated && r.rollout == Some(Rollout::EcsNative)).then_some(())?;
        Some(async move {
            // Within the second each: the lookup (when ECS had not listed it) and the stop.
            let call = async {
                let arn = service_deployment_of(ctx, r)
                    .await
                    .ok_or_else(|| anyhow!("its service deployment is not listed yet"))?;
                crate::rollout::native::stop(&ctx.aws, &arn).await?;
                Ok::<String, anyhow::Error>(arn)
            };
            let done = tokio::time::timeout(Duration::from_secs(1), call).await;
            (r.name(), done)
        })
    }))
    .await;
    for (name, done) in stops {
        match done {
            Ok(Ok(arn)) => ctx.out.line(&format!(
                "{name}: {signal} received: service deployment {arn} stopped with rollback (ECS rolls it back; not waited for)"
            )),
            Ok(Err(e)) => ctx
                .out
                .warning(&format!("{name}: stopping its service deployment failed: {e:#}")),
            Err(_) => ctx.out.warning(&format!(
                "{name}: stopping its service deployment did not finish within 1 s"
            )),
        }
    }
}

/// The desired count to put back: the one the service had, when this run set another
/// (`desired-count`) and the service still has ours (auto scaling did not change it since).
fn count_to_put_back(
    ctx: &Ctx<'_>,
    r: &ServiceRun,
    live_now: Option<&services::Snapshot>,
) -> Option<i32> {
    ctx.cfg
        .rollout
        .desired_count
        .filter(|&n| n != r.live.desired && live_now.is_some_and(|s| s.desired == n))
        .map(|_| r.live.desired)
}

fn say_count_stays(ctx: &Ctx<'_>, r: &ServiceRun, was: i32, why: &str) {
    ctx.out.line(&format!(
        "{}: its desired count stays {} ({why}; it was {was} before this run)",
        r.name(),
        ctx.cfg.rollout.desired_count.unwrap_or_default()
    ));
}

/// Starts the undo of one service (or finds ECS's own rollback of it).
async fn undo_one(ctx: &Ctx<'_>, r: &ServiceRun, live_now: Option<&services::Snapshot>) -> Undo {
    let (cfg, out, name) = (ctx.cfg, ctx.out, r.name());
    let previous = r.previous_revision();
    let ours = r.new_task_definition.clone().unwrap_or_default();
    let mut undo = Undo {
        to: previous.clone(),
        by_ecs: false,
        started: Err("not started".into()),
        outcome: None,
        runs_now: live_now.map(|s| s.task_definition.clone()),
        scaled_to_zero: false,
    };
    if r.creating {
        return scale_to_zero(ctx, r, undo).await;
    }
    // A CODE_DEPLOY service's deployments[] are its task sets, not ours: never "ECS's rollback".
    let primary = live_now
        .and_then(|s| s.primary())
        .filter(|_| r.rollout != Some(Rollout::CodeDeploy));
    if let Some(d) =
        primary.filter(|d| Some(&d.id) != r.deployment.as_ref() && d.task_definition == previous)
    {
        out.line(&format!(
            "{name}: ECS is already rolling back to {previous} (deployment {}); waiting for it instead of starting another",
            d.id
        ));
        undo.by_ecs = true;
        undo.started = Ok(d.id.clone());
        if let Some(was) = count_to_put_back(ctx, r, live_now) {
            say_count_stays(
                ctx,
                r,
                was,
                "ECS's rollback restores the revision, not the count",
            );
        }
        return undo;
    }
    out.line(&format!(
        "{name}: back to {previous} ({ours} stays registered)"
    ));
    // CodeDeploy's rollback routes traffic back to blue's running tasks: nothing is pulled.
    if previous == r.live.task_definition && r.rollout != Some(Rollout::CodeDeploy) {
        for (container, image) in &r.live_images {
            if !image.contains("@sha256:") {
                out.line(&format!(
                    "{name}: container {container} names {image} by tag: the rollback pulls whatever that tag points to now (pin-image-digests: true avoids this)"
                ));
            }
        }
    }
    let Some(rollout) = r.rollout else {
        return undo;
    };
    let service_deployment = service_deployment_of(ctx, r).await;
    // Our UpdateService back puts the count back too; ECS-native's and CodeDeploy's rollbacks
    // restore revisions, not a count: said instead.
    let count_back = count_to_put_back(ctx, r, live_now);
    let by_update = service_deployment.is_none() && r.rollout != Some(Rollout::CodeDeploy);
    if let (Some(was), false) = (count_back, by_update) {
        say_count_stays(
            ctx,
            r,
            was,
            "its rollback restores the revision, not the count",
        );
    }
    let back = Change {
        task_definition: previous.clone(),
        desired_count: count_back.filter(|_| by_update),
        // Restoring a capacity-provider strategy needs a new deployment, as changing it did;
        // so does a redeploy of the same revision. Only scaling back needs none.
        force: (previous == ours && r.action != Action::Scale) || r.changes.force,
        attributes: r.changes.previous(&r.live.raw),
        service_deployment,
        // A succeeded CodeDeploy deployment is undone by a deployment back, made like ours.
        codedeploy: r.codedeploy.clone(),
        deployment: r.deployment.clone(),
        restore: serde_json::Map::new(),
    };
    let call = rollout.undo(&ctx.aws, &cfg.cluster, name, &back);
    undo.started = within_undo_limit(ctx, call).await;
    if let (Err(why), Some(setup)) = (&undo.started, r.codedeploy.as_ref()) {
        // CodeDeploy's undo is several calls (look, stop or create back): when they ran out
        // of time, whatever they started is the group's active deployment, followed instead.
        if why.contains(UNDO_TIMED_OUT) {
            if let Ok(Some(id)) =
                crate::rollout::codedeploy::active(&ctx.aws, &setup.application, &setup.group_name)
                    .await
                    .map(|ids| ids.into_iter().next())
            {
                out.line(&format!(
                    "{name}: the rollback's calls ran out of time; CodeDeploy deployment {id} is active in its group and is followed"
                ));
                undo.started = Ok(id);
            }
        }
    }
    if let Err(e) = &undo.started {
        out.error(
            &Default::default(),
            &format!(
                "{name}: rollback to {} failed: {e}",
                revision_label(&previous)
            ),
        );
    }
    undo
}

/// An undo's UpdateService, bounded by `undo_call_limit`; the error as text.
async fn within_undo_limit(
    ctx: &Ctx<'_>,
    call: impl std::future::Future<Output = anyhow::Result<String>>,
) -> Result<String, String> {
    let limit = undo_call_limit(ctx);
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("{UNDO_TIMED_OUT} {} s", limit.as_secs_f64())),
    }
}

/// What an undo whose calls ran out of time says.
const UNDO_TIMED_OUT: &str = "the rollback's calls (UpdateService, or CodeDeploy's look, stop or create) did not answer within";

/// The undo of a service created in this run: it has no earlier revision, so it is scaled to
/// 0 tasks (and stays, for its events and a fixed deploy).
async fn scale_to_zero(ctx: &Ctx<'_>, r: &ServiceRun, mut undo: Undo) -> Undo {
    let name = r.name();
    let ours = r.new_task_definition.clone().unwrap_or_default();
    undo.to = ours.clone();
    undo.scaled_to_zero = true;
    ctx.out.line(&format!(
        "{name}: created in this run, so there is no earlier revision to go back to: scaling it to 0 tasks"
    ));
    let none = serde_json::Map::new();
    let call = services::update(
        &ctx.aws.ecs,
        &ctx.cfg.cluster,
        name,
        &ours,
        Some(0),
        false,
        &none,
    );
    undo.started = within_undo_limit(ctx, call).await;
    if let Err(e) = &undo.started {
        ctx.out.error(
            &Default::default(),
            &format!("{name}: scaling to 0 failed: {e}"),
        );
    }
    undo
}

/// One service's row of the report.
fn service_report(r: &ServiceRun, intent: Intent, cluster: &str) -> ServiceReport {
    let result = match (&r.action, intent) {
        (_, Intent::Deploy) => decide::service_result(r, cluster),
        (Action::Nothing, _) => ServiceResult::Unchanged,
        _ if r.creating => ServiceResult::WouldCreate,
        _ => ServiceResult::WouldDeploy,
    };
    let images = match (&r.action, &r.rendered) {
        (Action::Nothing, _) | (_, None) => r.live_images.clone(),
        (_, Some(doc)) => taskdef::images(&doc.body),
    };
    ServiceReport {
        service: r.name().to_string(),
        role: r.target.role,
        old_task_definition: r.live.task_definition.clone(),
        new_task_definition: r
            .new_task_definition
            .clone()
            .unwrap_or_else(|| r.live.task_definition.clone()),
        images,
        diff: r.diff.clone(),
        result,
        rollout: match r.outcome {
            Some(Outcome::Completed(d)) => Some(d),
            _ => None,
        },
        updated: r.updated,
        rolls_out: r.way.label(),
        created: r.creating,
        attributes: r.changes.summary.clone(),
        codedeploy_deployment: r
            .deployment
            .clone()
            .filter(|_| r.updated && r.rollout == Some(Rollout::CodeDeploy)),
        codedeploy_state: None,
        codedeploy_back: r
            .undo
            .as_ref()
            .and_then(|u| u.started.clone().ok())
            .filter(|id| {
                r.rollout == Some(Rollout::CodeDeploy) && r.deployment.as_ref() != Some(id)
            }),
        warnings: r.warnings.clone(),
    }
}
