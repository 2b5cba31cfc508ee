//! Housekeeping after the rollouts (DESIGN section 14): scheduled tasks follow the services
//! (`schedules.rs`), and old revisions of each deployed family are deregistered
//! (`keep-revisions`), optionally deleted (`delete-revisions`).
//!
//! What is kept: the newest N ACTIVE revisions of the family, plus every revision in use: a
//! deployment (or task set) of any service in the cluster, a running or pending task of the
//! family in the cluster, the target of any EventBridge rule or Scheduler schedule in the
//! region, and this run's rollback target (`ServiceRun::previous_revision`). When what is in
//! use cannot be read, nothing is deregistered.
//!
//! Housekeeping never changes a run's result: a deploy that succeeded stays a success when a
//! deregistration or a move fails. Each failure is a warning and a line of the summary's
//! "Housekeeping" section. It runs only after a successful (or unchanged) run; after a
//! rollback only the scheduled targets are put back on the revision the service went back to.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{anyhow, Result};

use crate::arn::last_segment;
use crate::aws::{aws_error_message, Aws};
use crate::config::Config;
use crate::context::{bounded, Clock, Ctx};
use crate::error::{Failure, InputProblem};
use crate::gha::{Printer, Runtime};
use crate::record::{Action, ServiceRun};
use crate::report::{code, md, Report, RunResult};
use crate::schedules::{self, Dest, Move, Scheduled};

/// DeleteTaskDefinitions takes at most ten revisions per call.
const DELETE_BATCH: usize = 10;

/// What housekeeping did (or, for `plan` and `prune` with `dry-run`, would do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub preview: bool,
    /// Revisions deregistered (or that would be), as `family:revision`.
    pub deregistered: Vec<String>,
    /// Revisions deleted (or that would be).
    pub deleted: Vec<String>,
    /// Revisions past the newest N kept because they are in use.
    pub kept_in_use: Vec<String>,
    pub moved: Vec<Move>,
    pub warnings: Vec<String>,
}

/// The revisions of one family to deregister: those beyond the newest `keep` that are not in
/// use; and those beyond it that are kept because they are. `active` in any order.
pub(crate) fn choose(
    active: &[String],
    keep: usize,
    in_use: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>) {
    let mut sorted: Vec<(u64, &String)> = active.iter().map(|a| (revision_number(a), a)).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.0));
    let (mut drop, mut kept) = (Vec::new(), Vec::new());
    for (_, arn) in sorted.into_iter().skip(keep) {
        if in_use.contains(last_segment(arn)) {
            kept.push(last_segment(arn).to_string());
        } else {
            drop.push(arn.clone());
        }
    }
    (drop, kept)
}

fn revision_number(arn: &str) -> u64 {
    last_segment(arn)
        .rsplit_once(':')
        .and_then(|(_, r)| r.parse().ok())
        .unwrap_or(0)
}

/// The families the run deploys, with the revision each service runs after it.
fn families(runs: &[ServiceRun]) -> Vec<String> {
    let mut f: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            r.new_task_definition
                .as_deref()
                .or(Some(r.live.task_definition.as_str()))
                .filter(|t| !t.is_empty())
                .map(|t| schedules::family_of(t).0.to_string())
        })
        .collect();
    f.sort();
    f.dedup();
    f
}

/// After the wait and the undo: scheduled targets follow the services, then old revisions
/// go. `None` when nothing of it was asked for.
pub(crate) async fn after_deploy(
    ctx: &Ctx<'_>,
    runs: &[ServiceRun],
    result: RunResult,
    scheduled: &[Scheduled],
) -> Option<Summary> {
    let h = &ctx.cfg.housekeeping;
    if h.keep_revisions.is_none() && scheduled.is_empty() {
        return None;
    }
    let out = ctx.out;
    out.group("Housekeeping");
    let mut summary = Summary::default();
    let succeeded = matches!(result, RunResult::Deployed | RunResult::Unchanged);
    let mut dests = BTreeMap::new();
    for r in runs {
        let Some(new) = r.new_task_definition.clone().filter(|t| !t.is_empty()) else {
            continue;
        };
        let family = schedules::family_of(&new).0.to_string();
        match (&r.undo, succeeded) {
            (None, true) if r.error.is_none() => {
                dests.entry(family).or_insert(Dest::Forward(new));
            }
            (Some(u), false) if u.to != new => {
                dests.entry(family).or_insert(Dest::Back {
                    failed: new,
                    back: u.to.clone(),
                });
            }
            _ => {}
        }
    }
    if !scheduled.is_empty() {
        summary.moved = schedules::apply(&ctx.aws, scheduled, &dests).await;
        for m in summary.moved.clone() {
            match &m.error {
                None => out.line(&format!(
                    "{}: {} → {}",
                    m.what,
                    short(&m.from),
                    short(&m.to)
                )),
                Some(e) => warn(
                    out,
                    &mut summary,
                    format!("{} was not moved to {}: {e}", m.what, short(&m.to)),
                ),
            }
        }
        for s in scheduled
            .iter()
            .filter(|s| !summary.moved.iter().any(|m| m.what == s.label))
        {
            out.line(&format!(
                "{}: stays on {}",
                s.label,
                short(&s.task_definition)
            ));
        }
    }
    if let (Some(keep), true) = (h.keep_revisions, succeeded) {
        // The rollback target, and what ECS said the service ran before this run.
        let protect: BTreeSet<String> = runs
            .iter()
            .filter(|r| !r.creating)
            .flat_map(|r| [r.previous_revision(), r.live.task_definition.clone()])
            .map(|t| last_segment(&t).to_string())
            .collect();
        let families = families(runs);
        prune(ctx, &families, keep, protect, false, &mut summary).await;
        rollback_images(ctx, runs, &mut summary).await;
    }
    out.end_group();
    Some(summary)
}

/// What housekeeping would do after this plan's deploy: the moves and the revisions that
/// would go (a revision the deploy registers counts among the newest N).
pub(crate) async fn preview(
    ctx: &Ctx<'_>,
    runs: &[ServiceRun],
    scheduled: &[Scheduled],
) -> Option<Summary> {
    let h = &ctx.cfg.housekeeping;
    if h.keep_revisions.is_none() && scheduled.is_empty() {
        return None;
    }
    let mut summary = Summary {
        preview: true,
        ..Summary::default()
    };
    let mut dests = BTreeMap::new();
    let mut registers = BTreeSet::new();
    for r in runs {
        let (family, to) = match &r.action {
            Action::Register => {
                let family = r
                    .rendered
                    .as_ref()
                    .and_then(|d| crate::taskdef::family(&d.body))
                    .unwrap_or_else(|| schedules::family_of(&r.live.task_definition).0)
                    .to_string();
                registers.insert(family.clone());
                let to = format!("{family}:(new revision)");
                (family, to)
            }
            a => {
                let to = a
                    .registered()
                    .map(str::to_string)
                    .unwrap_or_else(|| r.live.task_definition.clone());
                (schedules::family_of(&to).0.to_string(), to)
            }
        };
        if !family.is_empty() {
            dests.entry(family).or_insert(Dest::Forward(to));
        }
    }
    summary.moved = schedules::preview(scheduled, &dests);
    if let Some(keep) = h.keep_revisions {
        let protect: BTreeSet<String> = runs
            .iter()
            .map(|r| last_segment(&r.live.task_definition).to_string())
            .collect();
        let mut families: Vec<String> = dests.keys().cloned().collect();
        families.retain(|f| !f.is_empty());
        for family in families {
            let n = if registers.contains(&family) {
                keep.saturating_sub(1)
            } else {
                keep
            };
            prune(ctx, &[family], n, protect.clone(), true, &mut summary).await;
        }
    }
    Some(summary)
}

fn short(t: &str) -> String {
    last_segment(t).to_string()
}

fn warn(out: &Printer, summary: &mut Summary, text: String) {
    out.warning(&text);
    summary.warnings.push(text);
}

/// Deregisters (and with `delete-revisions` deletes) the ACTIVE revisions of `families`
/// beyond the newest `keep`, never one in use or in `protect`. `dry_run`: only lists them.
async fn prune(
    ctx: &Ctx<'_>,
    families: &[String],
    keep: usize,
    mut protect: BTreeSet<String>,
    dry_run: bool,
    summary: &mut Summary,
) {
    let out = ctx.out;
    if families.is_empty() {
        return;
    }
    match in_use(&ctx.aws, &ctx.cfg.cluster, families).await {
        Ok(used) => protect.extend(used),
        Err(e) => {
            warn(out, summary, format!(
                "old revisions were left as they are: what is in use could not be read ({e:#}); keep-revisions needs ecs:ListServices, ecs:DescribeServices, ecs:ListTasks, ecs:DescribeTasks, events:ListRules, events:ListTargetsByRule, scheduler:ListSchedules and scheduler:GetSchedule"
            ));
            return;
        }
    }
    let mut drop = Vec::new();
    for family in families {
        match active_revisions(&ctx.aws.ecs, family).await {
            Ok(active) => {
                let (d, kept) = choose(&active, keep, &protect);
                drop.extend(d);
                summary.kept_in_use.extend(kept);
            }
            Err(e) => warn(
                out,
                summary,
                format!("family {family}: its revisions could not be listed: {e:#}"),
            ),
        }
    }
    if dry_run {
        summary.deregistered = drop.iter().map(|a| short(a)).collect();
        if ctx.cfg.housekeeping.delete_revisions {
            summary.deleted = summary.deregistered.clone();
        }
        return;
    }
    let ecs = &ctx.aws.ecs;
    let answers = bounded(drop.iter().map(|arn| async move {
        ecs.deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| aws_error_message(&e))
    }))
    .await;
    let mut gone = Vec::new();
    for (arn, answer) in drop.iter().zip(answers) {
        match answer {
            Ok(_) => gone.push(arn.clone()),
            Err(e) => warn(
                out,
                summary,
                format!("{} was not deregistered: {e}", short(arn)),
            ),
        }
    }
    if !gone.is_empty() {
        out.line(&format!(
            "deregistered {} old revision(s): {}",
            gone.len(),
            gone.iter().map(|a| short(a)).collect::<Vec<_>>().join(", ")
        ));
    }
    summary.deregistered.extend(gone.iter().map(|a| short(a)));
    if !ctx.cfg.housekeeping.delete_revisions || gone.is_empty() {
        return;
    }
    for chunk in gone.chunks(DELETE_BATCH) {
        let answer = ecs
            .delete_task_definitions()
            .set_task_definitions(Some(chunk.to_vec()))
            .send()
            .await;
        match answer {
            Ok(a) => {
                let failed: Vec<String> = a
                    .failures()
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {}",
                            short(f.arn().unwrap_or_default()),
                            f.reason().unwrap_or_default()
                        )
                    })
                    .collect();
                if !failed.is_empty() {
                    warn(out, summary, format!("not deleted: {}", failed.join("; ")));
                }
                summary.deleted.extend(
                    chunk
                        .iter()
                        .filter(|arn| !a.failures().iter().any(|f| f.arn() == Some(arn.as_str())))
                        .map(|a| short(a)),
                );
            }
            Err(e) => warn(
                out,
                summary,
                format!(
                    "deregistered revisions were not deleted: {}",
                    aws_error_message(&e)
                ),
            ),
        }
    }
    if !summary.deleted.is_empty() {
        out.line(&format!("deleted {} revision(s)", summary.deleted.len()));
    }
}

/// The family's ACTIVE revisions (ARNs). `familyPrefix` of ListTaskDefinitions is an exact
/// family name.
pub(crate) async fn active_revisions(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| anyhow!(aws_error_message(&e)))?;
        arns.extend(
            page.task_definition_arns()
                .iter()
                .filter(|a| schedules::family_of(a).0 == family)
                .cloned(),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(arns);
        }
    }
}

/// Revisions in use (`family:revision`): every deployment and task set of every service of
/// the cluster, the running and pending tasks of the families, and every rule's and
/// schedule's ECS target in the region.
async fn in_use(aws: &Aws, cluster: &str, families: &[String]) -> Result<BTreeSet<String>> {
    let mut used = BTreeSet::new();
    let mut services = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .ecs
            .list_services()
            .cluster(cluster)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| anyhow!(aws_error_message(&e)))?;
        services.extend(page.service_arns().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let described = crate::services::describe(&aws.ecs, cluster, &services)
        .await
        .map_err(|e| anyhow!("{e:#}"))?;
    // Each service's rollback target (what `ecs-deploy rollback` would put back) stays
    // registered too, for the services that run one of these families.
    let family_of = |t: &str| short(t).split(':').next().unwrap_or_default().to_string();
    let ours: Vec<&crate::services::Snapshot> = described
        .values()
        .filter(|s| families.contains(&family_of(&s.task_definition)))
        .collect();
    let targets = crate::context::bounded(
        ours.iter()
            .map(|s| crate::rollback::ran_before(&aws.ecs, cluster, s)),
    )
    .await;
    for (s, target) in ours.iter().zip(targets) {
        match target {
            Ok(Some(t)) => {
                used.insert(short(&t));
            }
            Ok(None) => {}
            // Its deployments cannot be read (no ecs:ListServiceDeployments): the revision
            // numbered just below its current one is kept, as `rollback` would fall back to.
            Err(_) => {
                let current = short(&s.task_definition);
                if let Some((family, n)) = current.rsplit_once(':') {
                    if let Ok(n) = n.parse::<u32>() {
                        used.insert(format!("{family}:{}", n.saturating_sub(1)));
                    }
                }
            }
        }
    }
    for s in described.values() {
        used.insert(short(&s.task_definition));
        used.extend(s.deployments.iter().map(|d| short(&d.task_definition)));
        for ts in s
            .raw
            .get("taskSets")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(t) = ts.get("taskDefinition").and_then(|v| v.as_str()) {
                used.insert(short(t));
            }
        }
    }
    for family in families {
        let mut tasks = Vec::new();
        let mut token = None;
        loop {
            let page = aws
                .ecs
                .list_tasks()
                .cluster(cluster)
                .family(family)
                .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| anyhow!(aws_error_message(&e)))?;
            tasks.extend(page.task_arns().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        for chunk in tasks.chunks(100) {
            let answer = aws
                .ecs
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| anyhow!(aws_error_message(&e)))?;
            used.extend(
                answer
                    .tasks()
                    .iter()
                    .filter_map(|t| t.task_definition_arn())
                    .map(short),
            );
        }
    }
    for s in schedules::scan(aws).await? {
        used.insert(short(&s.task_definition));
    }
    Ok(used)
}

/// A rollback target whose ECR image is gone (an ECR lifecycle policy removes images while
/// their revisions stay ACTIVE) cannot be rolled back to: a warning says so.
async fn rollback_images(ctx: &Ctx<'_>, runs: &[ServiceRun], summary: &mut Summary) {
    for r in runs.iter().filter(|r| r.updated && !r.creating) {
        let previous = r.previous_revision();
        let Ok((doc, _)) = crate::ecs_json::describe(&ctx.aws.ecs, &previous).await else {
            continue;
        };
        let account = ctx.account.as_str();
        let region = ctx.region.as_str();
        let ecr: Vec<crate::images::EcrImage> = crate::taskdef::images(&doc)
            .into_iter()
            .filter_map(|(_, i)| crate::images::parse(&i, Some((account, region))))
            .collect();
        if ecr.is_empty() {
            continue;
        }
        if let Ok(found) = crate::images::lookup(&ctx.aws, &ecr).await {
            for (image, _) in found.missing {
                warn(ctx.out, summary, format!(
                    "{}: the rollback target {} names {image}, which is no longer in ECR (a lifecycle policy?): rolling back to it would fail to pull; keep the image, or roll forward",
                    r.name(),
                    short(&previous)
                ));
            }
        }
    }
}

/// The `prune` command: old revisions of input `families`, outside a deploy.
pub(crate) async fn run_prune(
    cfg: &Config,
    rt: &Runtime,
    out: &Printer,
) -> Result<Report, Failure> {
    let clock = Clock::start();
    let ctx = crate::prelude::connect(cfg, rt, out, clock).await?;
    let h = &cfg.housekeeping;
    let keep = h.keep_revisions.unwrap_or(usize::MAX);
    // A family with no ACTIVE revision is a typo: stop before anything changes.
    let mut problems = Vec::new();
    for family in &h.families {
        match active_revisions(&ctx.aws.ecs, family).await {
            Ok(a) if a.is_empty() => problems.push(InputProblem::new(format!(
                "input families: `{family}` has no ACTIVE revision in {}: check the family's name",
                ctx.region
            ))),
            Ok(_) => {}
            Err(e) => return Err(Failure::Other(e)),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Input(problems));
    }
    out.group("Prune");
    let mut summary = Summary {
        preview: h.dry_run,
        ..Summary::default()
    };
    prune(
        &ctx,
        &h.families,
        keep,
        BTreeSet::new(),
        h.dry_run,
        &mut summary,
    )
    .await;
    if h.dry_run {
        for r in &summary.deregistered {
            out.line(&format!("would deregister {r}"));
        }
    }
    for k in &summary.kept_in_use {
        out.line(&format!("kept, in use: {k}"));
    }
    out.end_group();
    let mut report = Report::new(cfg.mode, &cfg.cluster, &ctx.region, &ctx.account, rt);
    report.result = if h.dry_run {
        RunResult::Planned
    } else if summary.deregistered.is_empty() {
        RunResult::Unchanged
    } else {
        RunResult::Deployed
    };
    report.duration = ctx.clock.elapsed();
    report.housekeeping = Some(summary);
    Ok(report)
}

/// The summary's "Housekeeping" section.
pub(crate) fn markdown(out: &mut String, h: &Summary) {
    let would = |done: &str, planned: &str| {
        if h.preview {
            planned.to_string()
        } else {
            done.to_string()
        }
    };
    let _ = writeln!(out, "\n### Housekeeping\n");
    let list = |v: &[String]| v.iter().map(|r| code(r)).collect::<Vec<_>>().join(", ");
    for m in &h.moved {
        let state = match &m.error {
            None if h.preview => "would move".to_string(),
            None => "moved".to_string(),
            Some(e) => format!("not moved: {}", md(e)),
        };
        let _ = writeln!(
            out,
            "- {}: {} → {} ({state})",
            md(&m.what),
            code(&short(&m.from)),
            code(&short(&m.to))
        );
    }
    if !h.deregistered.is_empty() {
        let _ = writeln!(
            out,
            "- {} {} old revision(s): {}",
            would("deregistered", "would deregister"),
            h.deregistered.len(),
            list(&h.deregistered)
        );
    }
    if !h.deleted.is_empty() {
        let _ = writeln!(
            out,
            "- {} {} revision(s): {}",
            would("deleted", "would delete"),
            h.deleted.len(),
            list(&h.deleted)
        );
    }
    if !h.kept_in_use.is_empty() {
        let _ = writeln!(out, "- kept because in use: {}", list(&h.kept_in_use));
    }
    if h.moved.is_empty() && h.deregistered.is_empty() && h.warnings.is_empty() {
        let _ = writeln!(out, "- nothing to do");
    }
    for w in &h.warnings {
        let _ = writeln!(out, "- ⚠️ {}", md(w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arns(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
        range
            .map(|n| format!("arn:aws:ecs:us-east-1:123456789012:task-definition/app:{n}"))
            .collect()
    }

    #[test]
    fn the_newest_n_stay_and_revisions_in_use_are_never_chosen() {
        let active = arns(1..=30);
        let in_use: BTreeSet<String> = ["app:3".to_string(), "app:29".to_string()].into();
        let (drop, kept) = choose(&active, 5, &in_use);
        assert_eq!(drop.len(), 24);
        assert_eq!(kept, vec!["app:3".to_string()]);
        assert!(!drop.iter().any(|a| a.ends_with(":3") || a.ends_with(":26")));
        assert!(drop.iter().any(|a| a.ends_with(":25")));
        assert!(drop.iter().any(|a| a.ends_with(":1")));
    }

    #[test]
    fn fewer_than_n_leaves_everything() {
        let (drop, kept) = choose(&arns(1..=3), 5, &BTreeSet::new());
        assert!(drop.is_empty() && kept.is_empty());
    }

    #[test]
    fn revision_numbers_sort_as_numbers() {
        let mut active = arns(8..=11);
        active.reverse();
        let (drop, _) = choose(&active, 2, &BTreeSet::new());
        assert_eq!(
            drop.iter().map(|a| short(a)).collect::<Vec<_>>(),
            ["app:9", "app:8"]
        );
    }
}
