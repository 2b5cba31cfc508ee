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
use crate::context::{bounded, epoch_now, Clock, Ctx, Intent};
use crate::decide::{self, Asked};
use crate::error::Failure;
use crate::gha::{Printer, Runtime};
use crate::prelude::{self, Rollouts};
use crate::record::{Action, ServiceRun, Undo};
use crate::render::{self, Rendered};
use crate::report::{Report, RunResult, ServiceReport, ServiceResult, SoFar};
use crate::rollout::{Change, Watch};
use crate::services;
use crate::wait::Outcome;
use crate::{ecs_json, images, oneoff, stack, subst, taskdef, verify};

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
    let stack_keys = stack::output_keys(cfg)?;
    let placeholders = stack_placeholders(stack_keys.as_ref());
    // With a stack, this first rendering only checks the files; the one after the stack is shown.
    let first_out = stack_keys.is_none().then_some(out);
    let rendered = render_files(cfg, rt, first_out, &placeholders)?;
    // The one-off task against the documents it would run on: bad input changes nothing.
    oneoff::check(cfg, rendered.iter().map(|d| (&d.target, &d.body)))?;
    let rollouts = if intent == Intent::Deploy {
        Rollouts::Started
    } else {
        Rollouts::NotStarted
    };
    let (ctx, mut runs) = prelude::start(cfg, rt, out, clock, rollouts).await?;
    attach(&mut runs, rendered);
    // Images that do not depend on stack outputs are checked before anything changes.
    check_images(&ctx, &mut runs, intent).await?;
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
            BTreeMap::new()
        };
        vars.extend(stack_vars(&stack.outputs));
        let again = render_files(cfg, rt, Some(out), &vars).map_err(|f| after_stack(f, &stack))?;
        attach(&mut runs, again);
        check_images(&ctx, &mut runs, intent).await?;
    }
    // Secrets and log groups may be made by the stack, so they are checked after it.
    if intent == Intent::ReadOnly || (intent == Intent::Deploy && cfg.verify) {
        verify::run(
            &ctx.aws,
            cfg,
            &ctx.account,
            &runs,
            intent == Intent::ReadOnly,
            out,
        )
        .await?;
    }
    diff_services(&ctx, &mut runs, intent).await?;
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
    register(&ctx, &mut runs).await;
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
    report.result = decide::conclude(&results, oneoff_failed);
    report.duration = ctx.clock.elapsed();
    report.phases = ctx.timeline.take();
    Ok(report)
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
    let lookup = |name: &str| {
        if subst::is_forbidden(name) {
            None
        } else {
            rt.env.get(name).or_else(|| extra.get(name)).cloned()
        }
    };
    let result = render::render_all(&cfg.targets, &cfg.images, &lookup);
    let Some(out) = out else {
        return Ok(result?.0);
    };
    out.group("Render task definitions");
    for name in extra.keys() {
        if rt.env.contains_key(name) {
            out.warning(&format!(
                "{name} is set in the environment and is also a stack output: the environment's value is used"
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
    if intent == Intent::ReadOnly {
        return Ok(());
    }
    let mut docs: Vec<Rendered> = runs.iter_mut().filter_map(|r| r.rendered.take()).collect();
    let checked = images::check(
        &ctx.aws,
        &ctx.cfg.image_checks,
        &ctx.account,
        &mut docs,
        ctx.out,
    )
    .await;
    attach(runs, docs);
    checked
}

/// Step 6: compare each rendered task definition with what its service runs, and decide.
async fn diff_services(
    ctx: &Ctx<'_>,
    runs: &mut [ServiceRun],
    intent: Intent,
) -> Result<(), Failure> {
    let (cfg, out) = (ctx.cfg, ctx.out);
    out.group("Compare with the running task definitions");
    let described = bounded(
        runs.iter()
            .map(|r| ecs_json::describe(&ctx.aws.ecs, &r.live.task_definition)),
    )
    .await;
    let asked = Asked {
        force_new_deployment: cfg.rollout.force_new_deployment,
        desired_count: cfg.rollout.desired_count,
    };
    let mut problems = Vec::new();
    for (r, described) in runs.iter_mut().zip(described) {
        let (live_td, live_tags) = described?;
        if let Some(revision) = r.target.revision.clone() {
            match promoted(ctx, r, &revision).await {
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
        let diff = taskdef::diff(&live_td, &rendered.body);
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
        let what = match &r.action {
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
            Action::Promote(arn) => format!(
                "moves to the registered revision {} ({} change(s)), nothing is registered",
                revision_label(arn),
                diff.summary.len()
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
        for line in &diff.summary {
            out.line(&format!("  {line}"));
        }
        if intent == Intent::Preview && diff.changed {
            out.line(&diff.unified);
        }
        r.live_images = taskdef::images(&live_td);
        r.diff = Some(diff);
    }
    out.end_group();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

/// The registered revision a service is promoted to, described, as the document it deploys.
/// A revision that does not exist or is not ACTIVE is invalid input: nothing has changed yet.
async fn promoted(
    ctx: &Ctx<'_>,
    r: &ServiceRun,
    revision: &str,
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
    Ok(Rendered {
        target: r.target.clone(),
        body: td,
        tags: Some(tags),
    })
}

/// Before the stack is deployed its outputs are unknown: each declared output gets a
/// placeholder so step 1 can check every other variable; the files are rendered again after.
fn stack_placeholders(keys: Option<&BTreeSet<String>>) -> BTreeMap<String, String> {
    keys.into_iter()
        .flatten()
        .map(|k| (format!("STACK_{k}"), format!("(stack output {k})")))
        .collect()
}

/// The stack changed already when the files fail to render with its outputs: that is a failed
/// deploy (exit 1), not invalid input that "changed nothing".
fn after_stack(f: Failure, stack: &stack::StackOutcome) -> Failure {
    let Failure::Input(problems) = f else {
        return f;
    };
    let what = if stack.deployed {
        "the stack was deployed"
    } else {
        "the stack is as it was"
    };
    let reasons: Vec<String> = problems.into_iter().map(|p| p.message).collect();
    Failure::Other(anyhow!(
        "{what}, but the task definitions do not render with its outputs ({}); no service was changed: {}",
        stack.outputs.keys().cloned().collect::<Vec<_>>().join(", "),
        reasons.join("; ")
    ))
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
        if let Action::Promote(arn) = &r.action {
            return Some(Ok(arn.clone()));
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
    let answers = bounded(work).await;
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

/// Step 7b: start each service's rollout (its way's `start`), all at once. A service that is
/// unchanged but mid-rollout is followed, not restarted.
async fn start_rollouts(ctx: &Ctx<'_>, runs: &mut [ServiceRun]) {
    let cfg = ctx.cfg;
    let work = runs.iter().map(|r| async move {
        let (Some(rollout), Some(td), None) = (r.rollout, &r.new_task_definition, &r.error) else {
            return None;
        };
        let force = match &r.action {
            Action::Nothing | Action::WaitForCurrent(_) => return None,
            Action::Redeploy => true,
            Action::Scale | Action::Register | Action::Promote(_) => {
                cfg.rollout.force_new_deployment
            }
        };
        let change = Change {
            task_definition: td.clone(),
            desired_count: cfg.rollout.desired_count,
            force,
        };
        Some(
            rollout
                .start(&ctx.aws, &cfg.cluster, r.name(), &change)
                .await,
        )
    });
    let started = bounded(work).await;
    for (r, s) in runs.iter_mut().zip(started) {
        match s {
            None => {
                if let Action::WaitForCurrent(id) = &r.action {
                    r.deployment = Some(id.clone());
                }
            }
            Some(Ok(id)) => {
                ctx.out.line(&format!(
                    "{}: updated to {} (deployment {id})",
                    r.name(),
                    r.new_task_definition.as_deref().unwrap_or_default()
                ));
                r.updated = true;
                r.maybe_changed = true;
                r.deployment = Some(id);
            }
            Some(Err(e)) => {
                r.maybe_changed = crate::once::maybe_ran(&e);
                let e = format!("{e:#}");
                ctx.out
                    .error(&Default::default(), &format!("{}: {e}", r.name()));
                r.error = Some(e);
            }
        }
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
            Some(Watch {
                service: r.name().to_string(),
                rollout: r.rollout?,
                deployment: r.deployment.clone()?,
                before: r.live.primary().map(|d| d.id.clone()),
                before_task_definition: r.updated.then(|| r.previous_revision()),
            })
        })
        .collect();
    if watches.is_empty() {
        return;
    }
    let mut wait = ctx.wait(ctx.cfg.rollout.wait_for, ctx.clock.epoch);
    // With rollback on, one failure decides the run: every service is undone at once instead
    // of after the slowest healthy rollout. With it off, each service's own outcome is shown.
    wait.stop_at_first_failure = ctx.cfg.rollout.rollback_on_failure;
    let mut outcomes = wait.grouped(&watches, "rollout").await;
    for r in runs.iter_mut() {
        r.outcome = outcomes.remove(r.name());
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
        // A cancelled job must exit within seconds: a rollback and its wait would not.
        if failed {
            ctx.out.warning(&format!(
                "{signal} received: nothing is rolled back; the services stay as the summary shows"
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
            Some(Watch {
                service: r.name().to_string(),
                rollout: r.rollout?,
                deployment: u.started.clone().ok()?,
                before: None,
                before_task_definition: None,
            })
        })
        .collect();
    if cfg.rollout.wait && !watches.is_empty() {
        let mut done = ctx
            .wait(cfg.rollout.wait_for, rollback_started)
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
    };
    let primary = live_now.and_then(|s| s.primary());
    if let Some(d) =
        primary.filter(|d| Some(&d.id) != r.deployment.as_ref() && d.task_definition == previous)
    {
        out.line(&format!(
            "{name}: ECS is already rolling back to {previous} (deployment {}); waiting for it instead of starting another",
            d.id
        ));
        undo.by_ecs = true;
        undo.started = Ok(d.id.clone());
        return undo;
    }
    out.line(&format!(
        "{name}: back to {previous} ({ours} stays registered)"
    ));
    if previous == r.live.task_definition {
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
    let call = rollout.undo(&ctx.aws, &cfg.cluster, name, &previous, &ours);
    let limit = undo_call_limit(ctx);
    undo.started = match tokio::time::timeout(limit, call).await {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!(
            "UpdateService did not answer within {} s",
            limit.as_secs_f64()
        )),
    };
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

/// One service's row of the report.
fn service_report(r: &ServiceRun, intent: Intent, cluster: &str) -> ServiceReport {
    let result = match (&r.action, intent) {
        (_, Intent::Deploy) => decide::service_result(r, cluster),
        (Action::Nothing, _) => ServiceResult::Unchanged,
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
    }
}
