//! The deploy flow, top to bottom, one named step per line of DESIGN.md section 2.
//!
//! `plan` shares every step up to the diff and returns before the first call that changes
//! anything. Steps that change AWS come after every input, file and preflight check passed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};
use serde_json::Value;

use crate::aws::Aws;
use crate::config::{Config, Mode};
use crate::error::Failure;
use crate::gha::{Printer, Runtime};
use crate::render::{self, Rendered};
use crate::report::{Phase, Report, RunResult, ServiceReport, ServiceResult};
use crate::services::{self, Snapshot};
use crate::taskdef::{self, Diff};
use crate::wait::{self, Outcome, Watch};
use crate::{credentials, ecs_json, images, rollback, stack, subst, verify};

/// One service's plan: what runs now, what the file renders to, and what to do about it.
struct Plan {
    rendered: Rendered,
    live: Snapshot,
    live_images: Vec<(String, String)>,
    diff: Diff,
    action: Action,
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// Identical and settled: nothing to do.
    Nothing,
    /// Identical, but a rollout of it is still going: wait for that one, start none.
    WaitForCurrent(String),
    /// Same task definition, new deployment (force, or a failed last rollout).
    Redeploy,
    /// Same task definition, only `desired-count` differs: a scaling change, no new deployment
    /// (replacing every task to change the count would be a needless rollout).
    Scale,
    /// Register a new revision and deploy it.
    Register,
}

/// Runs `deploy`, `plan` or `verify`. The report is returned for every run that got as far as
/// knowing its services; a failed rollout is a report with a failed result, not an error.
pub async fn run(cfg: &Config, rt: &Runtime, out: &Printer) -> Result<Report, Failure> {
    let started = Instant::now();
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let stack_keys = stack::output_keys(cfg)?;
    let placeholders = stack_placeholders(stack_keys.as_ref());
    // With a stack, this first rendering only checks the files; the one after the stack is shown.
    let first_out = stack_keys.is_none().then_some(out);
    let mut rendered = render_files(cfg, rt, first_out, &placeholders)?;
    let region = cfg.region.clone().unwrap_or_default();
    let aws = credentials::connect(cfg, rt, &region, out).await?;
    let account = aws.account_id().await?;
    let live = preflight(&aws, cfg, &region, out).await?;
    if cfg.mode == Mode::Rollback {
        return rollback::run(
            &aws,
            cfg,
            rt,
            live,
            account,
            region,
            started,
            since_epoch,
            out,
        )
        .await;
    }
    // Images that do not depend on stack outputs are checked before anything changes.
    images::check(&aws, cfg, &account, &mut rendered, out).await?;
    let mut phases = vec![phase("checks", Duration::ZERO, started.elapsed())];
    let stack_start = started.elapsed();
    let stack = stack::run(&aws, cfg, out).await?;
    if cfg.stack.is_some() {
        phases.push(phase("stack", stack_start, started.elapsed()));
    }
    if stack_keys.is_some() {
        // A plan of a stack that does not exist yet has no outputs: keep the placeholders.
        let mut vars = if cfg.mode == Mode::Plan {
            placeholders.clone()
        } else {
            BTreeMap::new()
        };
        vars.extend(stack_vars(&stack.outputs));
        rendered = render_files(cfg, rt, Some(out), &vars).map_err(|f| after_stack(f, &stack))?;
        images::check(&aws, cfg, &account, &mut rendered, out).await?;
    }
    // Secrets and log groups may be made by the stack, so they are checked after it.
    if cfg.mode == Mode::Verify || (cfg.mode == Mode::Deploy && cfg.verify) {
        verify::run(&aws, cfg, &account, &rendered, out).await?;
    }
    let mut plans = diff_services(&aws, cfg, rendered, live, out).await?;
    let mut report = new_report(cfg, rt, region, account);
    report.stack_deployed = stack.deployed;
    report.stack_outputs = stack.outputs.clone();
    report.stack_summary = stack.summary.clone();
    if cfg.mode != Mode::Deploy {
        report.services = plans.iter().map(|p| plan_report(p, cfg.mode)).collect();
        report.result = if cfg.mode == Mode::Verify {
            RunResult::Unchanged
        } else {
            RunResult::Planned
        };
        report.duration = started.elapsed();
        report.phases = phases;
        return Ok(report);
    }
    let register_start = started.elapsed();
    let updates = register_and_update(&aws, cfg, &mut plans, out).await;
    let wait_start = started.elapsed();
    phases.push(phase("register and update", register_start, wait_start));
    report.services = plans.iter().map(|p| plan_report(p, cfg.mode)).collect();
    let outcomes = if cfg.wait {
        wait_for_rollouts(&aws, cfg, &plans, &updates, since_epoch, out).await
    } else {
        BTreeMap::new()
    };
    let wait_end = started.elapsed();
    for (service, o) in &outcomes {
        let end = match o {
            Outcome::Completed(d) => wait_start + *d,
            _ => wait_end,
        };
        phases.push(phase(&format!("rollout {service}"), wait_start, end));
    }
    settle(
        &aws,
        cfg,
        &plans,
        &updates,
        outcomes,
        &mut report,
        since_epoch,
        out,
    )
    .await;
    report.duration = started.elapsed();
    if report.result == RunResult::RolledBack {
        phases.push(phase("rollback", wait_end, report.duration));
    }
    report.phases = phases;
    Ok(report)
}

fn phase(name: &str, start: Duration, end: Duration) -> Phase {
    Phase {
        name: name.to_string(),
        start,
        end,
    }
}

/// The report of this run before anything is known about its services: where and what ran.
pub(crate) fn new_report(cfg: &Config, rt: &Runtime, region: String, account: String) -> Report {
    Report {
        mode: cfg.mode,
        cluster: cfg.cluster.clone(),
        region,
        account,
        commit: rt.sha.clone(),
        trigger: rt.event_name.clone(),
        run_url: rt.run_url(),
        services: Vec::new(),
        result: RunResult::Unchanged,
        stack_deployed: false,
        stack_outputs: BTreeMap::new(),
        stack_summary: Vec::new(),
        errors: Vec::new(),
        phases: Vec::new(),
        duration: Duration::ZERO,
    }
}

/// Step 1: every file read, substituted and checked before AWS is contacted.
/// `extra` holds the `STACK_*` variables; the environment wins over them.
/// `out` is `None` for a rendering that only checks (nothing printed; problems are returned).
pub fn render_files(
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

/// Step 3: the cluster and every service exist and can be deployed to.
async fn preflight(
    aws: &Aws,
    cfg: &Config,
    region: &str,
    out: &Printer,
) -> Result<BTreeMap<String, Snapshot>, Failure> {
    out.group("Preflight");
    let names: Vec<String> = cfg.targets.iter().map(|t| t.service.clone()).collect();
    let live = services::preflight(&aws.ecs, &cfg.cluster, region, &names).await;
    if let Ok(found) = &live {
        for s in found.values() {
            out.line(&format!(
                "{}: ACTIVE, {} of {} running, task definition {}",
                s.name, s.running, s.desired, s.task_definition
            ));
        }
    }
    out.end_group();
    live
}

/// Step 6: compare each rendered task definition with what its service runs.
async fn diff_services(
    aws: &Aws,
    cfg: &Config,
    rendered: Vec<Rendered>,
    mut live: BTreeMap<String, Snapshot>,
    out: &Printer,
) -> Result<Vec<Plan>, Failure> {
    out.group("Compare with the running task definitions");
    let described = futures::future::join_all(rendered.iter().map(|r| {
        let td = live
            .get(services::short_name(&r.target.service))
            .map(|s| s.task_definition.clone())
            .unwrap_or_default();
        async move { ecs_json::describe(&aws.ecs, &td).await }
    }))
    .await;
    let mut plans = Vec::new();
    for (r, described) in rendered.into_iter().zip(described) {
        let (live_td, live_tags) = described?;
        let snap = live
            .remove(services::short_name(&r.target.service))
            .ok_or_else(|| anyhow!("service {} vanished", r.target.service))?;
        let diff = taskdef::diff(&live_td, &r.body);
        let tags_differ = r
            .tags
            .as_ref()
            .is_some_and(|t| tag_set(t) != tag_set(&live_tags));
        let primary = snap.primary().cloned().unwrap_or_default();
        let settled = match primary.rollout_state.as_deref() {
            Some(state) => state == "COMPLETED",
            None => snap.deployments.len() == 1 && primary.running == primary.desired,
        };
        let count_changes = cfg.desired_count.is_some_and(|n| n != snap.desired);
        let action = if diff.changed || tags_differ {
            Action::Register
        } else if cfg.force_new_deployment {
            Action::Redeploy
        } else if count_changes {
            Action::Scale
        } else if settled {
            Action::Nothing
        } else if primary.rollout_state.as_deref() == Some("IN_PROGRESS") {
            Action::WaitForCurrent(primary.id.clone())
        } else {
            Action::Redeploy
        };
        let what = match &action {
            Action::Nothing => "unchanged".to_string(),
            Action::WaitForCurrent(id) => {
                format!("unchanged, its rollout {id} is still in progress")
            }
            Action::Redeploy => "same task definition, new deployment".to_string(),
            Action::Scale => format!(
                "same task definition, desired count {} → {}",
                snap.desired,
                cfg.desired_count.unwrap_or_default()
            ),
            Action::Register if diff.changed => format!("{} change(s)", diff.summary.len()),
            Action::Register => "tags changed".to_string(),
        };
        out.line(&format!("{}: {what}", snap.name));
        for line in &diff.summary {
            out.line(&format!("  {line}"));
        }
        if cfg.mode == Mode::Plan && diff.changed {
            out.line(&diff.unified);
        }
        plans.push(Plan {
            live_images: taskdef::images(&live_td),
            rendered: r,
            live: snap,
            diff,
            action,
        });
    }
    out.end_group();
    Ok(plans)
}

/// Before the stack is deployed its outputs are unknown: each declared output gets a
/// placeholder so step 1 can check every other variable; the files are rendered again after.
fn stack_placeholders(
    keys: Option<&std::collections::BTreeSet<String>>,
) -> BTreeMap<String, String> {
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

fn tag_set(tags: &[Value]) -> std::collections::BTreeSet<(String, String)> {
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

/// What one service got in step 7.
#[derive(Debug, Clone)]
struct Update {
    new_task_definition: String,
    /// The deployment to wait for (ours, or the one already in progress).
    deployment: Option<String>,
    /// Whether this run called UpdateService on it (so a rollback must undo it).
    updated: bool,
    error: Option<String>,
}

/// Step 7: register the changed task definitions and update their services, all at once.
async fn register_and_update(
    aws: &Aws,
    cfg: &Config,
    plans: &mut [Plan],
    out: &Printer,
) -> BTreeMap<String, Update> {
    out.group("Register and update");
    let work = plans.iter().map(|p| async move {
        let name = p.live.name.clone();
        let mut u = Update {
            new_task_definition: p.live.task_definition.clone(),
            deployment: None,
            updated: false,
            error: None,
        };
        let result: Result<()> = async {
            match &p.action {
                Action::Nothing => return Ok(()),
                Action::WaitForCurrent(id) => {
                    u.deployment = Some(id.clone());
                    return Ok(());
                }
                Action::Register => {
                    let td =
                        ecs_json::register(&aws.ecs, &p.rendered.body, p.rendered.tags.as_deref())
                            .await?;
                    u.new_task_definition = td
                        .get("taskDefinitionArn")
                        .and_then(Value::as_str)
                        .ok_or_else(|| anyhow!("RegisterTaskDefinition answered without an ARN"))?
                        .to_string();
                }
                Action::Redeploy | Action::Scale => {}
            }
            let force = cfg.force_new_deployment || p.action == Action::Redeploy;
            let id = services::update(
                &aws.ecs,
                &cfg.cluster,
                &name,
                &u.new_task_definition,
                cfg.desired_count,
                force,
            )
            .await?;
            u.updated = true;
            u.deployment = Some(id);
            Ok(())
        }
        .await;
        if let Err(e) = result {
            u.error = Some(format!("{e:#}"));
        }
        (name, u)
    });
    let updates: BTreeMap<String, Update> =
        futures::future::join_all(work).await.into_iter().collect();
    for (name, u) in &updates {
        match (&u.error, &u.deployment, u.updated) {
            (Some(e), _, _) => out.error(&Default::default(), &format!("{name}: {e}")),
            (None, Some(d), true) => out.line(&format!(
                "{name}: updated to {} (deployment {d})",
                u.new_task_definition
            )),
            _ => {}
        }
    }
    out.end_group();
    updates
}

/// Step 8: wait for every deployment we started or found in progress.
async fn wait_for_rollouts(
    aws: &Aws,
    cfg: &Config,
    plans: &[Plan],
    updates: &BTreeMap<String, Update>,
    since_epoch: f64,
    out: &Printer,
) -> BTreeMap<String, Outcome> {
    let watches: Vec<Watch> = plans
        .iter()
        .filter_map(|p| {
            let u = updates.get(&p.live.name)?;
            Some(Watch {
                service: p.live.name.clone(),
                deployment: u.deployment.clone().filter(|_| u.error.is_none())?,
                before: p.live.primary().map(|d| d.id.clone()),
                before_task_definition: u.updated.then(|| previous_revision(p)),
            })
        })
        .collect();
    if watches.is_empty() || updates.values().any(|u| u.error.is_some()) {
        return BTreeMap::new();
    }
    wait::wait_grouped(aws, cfg, &watches, "rollout", since_epoch, out).await
}

/// The revision a rollback returns to: that of the last COMPLETED deployment before the run,
/// or what the service named when none had completed.
fn previous_revision(p: &Plan) -> String {
    p.live
        .deployments
        .iter()
        .find(|d| d.rollout_state.as_deref() == Some("COMPLETED") && !d.task_definition.is_empty())
        .map(|d| d.task_definition.clone())
        .unwrap_or_else(|| p.live.task_definition.clone())
}

/// Step 8 (failure) and the report: roll back what this run changed when anything failed.
#[allow(clippy::too_many_arguments)]
async fn settle(
    aws: &Aws,
    cfg: &Config,
    plans: &[Plan],
    updates: &BTreeMap<String, Update>,
    outcomes: BTreeMap<String, Outcome>,
    report: &mut Report,
    since_epoch: f64,
    out: &Printer,
) {
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for (name, u) in updates {
        if let Some(e) = &u.error {
            failures.insert(name.clone(), e.clone());
        }
    }
    for (name, o) in &outcomes {
        if let Outcome::Failed(r) | Outcome::TimedOut(r) | Outcome::Interrupted(r) = o {
            failures.insert(name.clone(), r.clone());
        }
    }
    // A cancelled job must exit within seconds: a rollback and its wait would not.
    let interrupted = outcomes
        .values()
        .any(|o| matches!(o, Outcome::Interrupted(_)));
    let mut rolled_back: BTreeMap<String, (String, bool)> = BTreeMap::new();
    if !failures.is_empty() && cfg.rollback_on_failure && !interrupted {
        rolled_back = roll_back(aws, cfg, plans, updates, &outcomes, since_epoch, out).await;
    }
    let mut any_change = false;
    for s in &mut report.services {
        let u = updates.get(&s.service);
        if let Some(u) = u {
            s.new_task_definition = u.new_task_definition.clone();
            any_change |= u.updated;
            s.updated = u.updated;
        }
        let outcome = outcomes.get(&s.service);
        s.rollout = match outcome {
            Some(Outcome::Completed(d)) => Some(*d),
            _ => None,
        };
        let back = rolled_back.get(&s.service).map(|(to, done)| {
            let rev = to.rsplit('/').next().unwrap_or(to);
            let state = if *done {
                "that rollout completed"
            } else {
                "that rollout did not complete: check the service"
            };
            (format!("rolled back to {rev}; {state}"), *done)
        });
        s.result = if let Some(why) = failures.get(&s.service) {
            match back {
                Some((what, done)) => ServiceResult::RolledBack {
                    reason: format!("{why}; {what}"),
                    completed: done,
                },
                None => ServiceResult::Failed(why.clone()),
            }
        } else if let Some(Outcome::Superseded(why)) = outcome {
            ServiceResult::Superseded(why.clone())
        } else if let Some((what, done)) = back {
            ServiceResult::RolledBack {
                reason: format!("another service of this deploy failed; {what}"),
                completed: done,
            }
        } else if u.is_some_and(|u| u.updated) {
            if matches!(outcome, Some(Outcome::Completed(_))) {
                ServiceResult::Deployed
            } else {
                // Not waited for: `wait-for-service-stability: false`, or another service's
                // update failed and rollback is off.
                ServiceResult::Updated
            }
        } else {
            ServiceResult::Unchanged
        };
    }
    let superseded = outcomes
        .values()
        .any(|o| matches!(o, Outcome::Superseded(_)));
    report.result = if !failures.is_empty() {
        if !rolled_back.is_empty() {
            RunResult::RolledBack
        } else {
            RunResult::Failed
        }
    } else if superseded {
        RunResult::Failed
    } else if any_change {
        RunResult::Deployed
    } else {
        RunResult::Unchanged
    };
}

/// Puts every service this run updated back on the revision it ran before, unless ECS already
/// did (then it waits for ECS's rollback instead of starting a competing one), and waits for
/// those rollouts. A service someone else deployed over is left alone. Revisions are never
/// deregistered. Returns service → (revision it went back to, whether that rollout completed).
async fn roll_back(
    aws: &Aws,
    cfg: &Config,
    plans: &[Plan],
    updates: &BTreeMap<String, Update>,
    outcomes: &BTreeMap<String, Outcome>,
    since_epoch: f64,
    out: &Printer,
) -> BTreeMap<String, (String, bool)> {
    out.group("Roll back");
    // Events already shown while waiting for the deploy are not shown again.
    let rollback_started = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(since_epoch);
    let targets: Vec<&Plan> = plans
        .iter()
        .filter(|p| updates.get(&p.live.name).is_some_and(|u| u.updated))
        .filter(|p| !matches!(outcomes.get(&p.live.name), Some(Outcome::Superseded(_))))
        .collect();
    let names: Vec<String> = targets.iter().map(|p| p.live.name.clone()).collect();
    let now = match services::describe(&aws.ecs, &cfg.cluster, &names).await {
        Ok(n) => n,
        Err(e) => {
            out.warning(&format!(
                "could not describe the services before rolling back: {e}"
            ));
            BTreeMap::new()
        }
    };
    let mut watches = Vec::new();
    let mut result = BTreeMap::new();
    for p in &targets {
        let name = &p.live.name;
        let previous = previous_revision(p);
        result.insert(name.clone(), (previous.clone(), false));
        let ours = updates.get(name).and_then(|u| u.deployment.clone());
        let primary = now.get(name).and_then(|c| c.primary());
        if let Some(d) =
            primary.filter(|d| Some(&d.id) != ours.as_ref() && d.task_definition == previous)
        {
            out.line(&format!(
                "{name}: ECS is already rolling back to {previous} (deployment {}); waiting for it instead of starting another",
                d.id
            ));
            watches.push(Watch {
                service: name.clone(),
                deployment: d.id.clone(),
                ..Watch::default()
            });
            continue;
        }
        let new = updates
            .get(name)
            .map(|u| u.new_task_definition.clone())
            .unwrap_or_default();
        out.line(&format!(
            "{name}: back to {previous} ({new} stays registered)"
        ));
        if previous == p.live.task_definition {
            for (container, image) in &p.live_images {
                if !image.contains("@sha256:") {
                    out.line(&format!(
                        "{name}: container {container} names {image} by tag: the rollback pulls whatever that tag points to now (pin-image-digests: true avoids this)"
                    ));
                }
            }
        }
        let force = previous == new;
        match services::update(&aws.ecs, &cfg.cluster, name, &previous, None, force).await {
            Ok(id) => watches.push(Watch {
                service: name.clone(),
                deployment: id,
                ..Watch::default()
            }),
            Err(e) => out.error(
                &Default::default(),
                &format!("{name}: rollback failed: {e:#}"),
            ),
        }
    }
    if cfg.wait && !watches.is_empty() {
        let done = wait::wait_all(
            aws,
            &cfg.cluster,
            &watches,
            cfg.poll,
            cfg.wait_for,
            rollback_started,
            out,
        )
        .await;
        for (name, o) in done {
            if let Some(entry) = result.get_mut(&name) {
                entry.1 = matches!(o, Outcome::Completed(_));
            }
        }
    }
    out.end_group();
    result
}

fn plan_report(p: &Plan, mode: Mode) -> ServiceReport {
    let result = match (&p.action, mode) {
        (Action::Nothing, _) => ServiceResult::Unchanged,
        (_, Mode::Deploy) => ServiceResult::NotUpdated,
        _ => ServiceResult::WouldDeploy,
    };
    let images = if p.action == Action::Nothing {
        p.live_images.clone()
    } else {
        taskdef::images(&p.rendered.body)
    };
    ServiceReport {
        service: p.live.name.clone(),
        role: p.rendered.target.role,
        old_task_definition: p.live.task_definition.clone(),
        new_task_definition: p.live.task_definition.clone(),
        images,
        diff: Some(p.diff.clone()),
        result,
        rollout: None,
        updated: false,
    }
}
