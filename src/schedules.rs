//! Scheduled tasks that run a deployed family (DESIGN section 14, seed 002): EventBridge rule
//! targets and EventBridge Scheduler schedules whose ECS target names a revision.
//!
//! `find` (before anything changes) reads the named rules and schedules, and with
//! `move-cluster-schedules` every one in the region whose ECS target is this cluster; an
//! unknown name is invalid input. After the rollouts, `destination` (pure) says where each
//! target goes: after a successful run to the service's new revision; after a rollback the
//! ones naming the failed revision, or the family without a revision (which runs the newest,
//! the failed one), go to the revision the service went back to, and the rest stay. `apply`
//! moves them, changing only `EcsParameters.TaskDefinitionArn`: every other field of the
//! target (overrides in `Input`, network configuration, role, retry policy, dead-letter
//! queue) is sent back as it was read.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};

use crate::arn::last_segment;
use crate::aws::{aws_error_message, Aws};
use crate::context::{bounded, Ctx};
use crate::error::{Failure, InputProblem};

/// Who holds an ECS target.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// One target of an EventBridge rule.
    Rule {
        bus: String,
        rule: String,
        target: Box<aws_sdk_eventbridge::types::Target>,
    },
    /// A Scheduler schedule (its one target), as GetSchedule returned it.
    Schedule(Box<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput>),
}

/// An ECS target that runs a task definition on a schedule or an event.
#[derive(Debug, Clone)]
pub(crate) struct Scheduled {
    /// `rule default/nightly (target t1)`, `schedule default/nightly`.
    pub label: String,
    /// The task definition it runs: an ARN, with or without a revision.
    pub task_definition: String,
    /// The cluster it runs in (the target's ARN).
    pub cluster: String,
    pub owner: Owner,
}

/// A target moved (or to be moved) from one revision to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Move {
    pub what: String,
    pub from: String,
    pub to: String,
    /// Why the move failed; `None` when it was done (or is only planned).
    pub error: Option<String>,
}

/// Where the targets of one family go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dest {
    /// The service runs this revision now: every target of the family moves to it.
    Forward(String),
    /// The deploy of `failed` was rolled back to `back`: targets naming `failed`, or the
    /// family without a revision, go to `back`; the others stay.
    Back { failed: String, back: String },
}

/// The family of a task-definition ARN or `family:revision`, and whether it names a revision.
pub(crate) fn family_of(task_definition: &str) -> (&str, bool) {
    let seg = last_segment(task_definition);
    match seg.rsplit_once(':') {
        Some((family, rev)) if rev.chars().all(|c| c.is_ascii_digit()) && !rev.is_empty() => {
            (family, true)
        }
        _ => (seg, false),
    }
}

/// Where a target that runs `current` goes, if it moves.
pub(crate) fn destination(current: &str, dests: &BTreeMap<String, Dest>) -> Option<String> {
    let (family, versioned) = family_of(current);
    let same = |a: &str, b: &str| last_segment(a) == last_segment(b);
    match dests.get(family)? {
        Dest::Forward(to) if !same(current, to) => Some(to.clone()),
        Dest::Back { failed, back }
            if (!versioned || same(current, failed)) && !same(current, back) =>
        {
            Some(back.clone())
        }
        _ => None,
    }
}

/// The named rules and schedules, and (when asked) every one in the region that targets this
/// cluster. Unknown names are invalid input, all listed at once; nothing has changed yet.
pub(crate) async fn find(ctx: &Ctx<'_>) -> Result<Vec<Scheduled>, Failure> {
    let h = &ctx.cfg.housekeeping;
    if h.rules.is_empty() && h.schedules.is_empty() && !h.cluster_schedules {
        return Ok(Vec::new());
    }
    let aws = &ctx.aws;
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let rules = bounded(
        h.rules
            .iter()
            .map(|(bus, rule)| async move { rule_targets(aws, bus, rule).await }),
    )
    .await;
    for ((bus, rule), answer) in h.rules.iter().zip(rules) {
        match answer {
            Ok(Some(targets)) if targets.is_empty() => ctx.out.warning(&format!(
                "input scheduled-rules: rule `{bus}/{rule}` has no ECS target: nothing of it moves"
            )),
            Ok(Some(targets)) => found.extend(targets),
            Ok(None) => problems.push(InputProblem::new(format!(
                "input scheduled-rules: EventBridge rule `{rule}` was not found on event bus `{bus}` in {}: check the name (and give `event-bus/rule` for a bus other than default)",
                ctx.region
            ))),
            Err(e) => return Err(Failure::Other(e.context(format!("reading EventBridge rule {bus}/{rule}")))),
        }
    }
    let schedules = bounded(
        h.schedules
            .iter()
            .map(|(group, name)| async move { schedule(aws, group, name).await }),
    )
    .await;
    for ((group, name), answer) in h.schedules.iter().zip(schedules) {
        match answer {
            Ok(Some(Some(s))) => found.push(s),
            Ok(Some(None)) => ctx.out.warning(&format!(
                "input schedules: schedule `{group}/{name}` has no ECS target: it does not move"
            )),
            Ok(None) => problems.push(InputProblem::new(format!(
                "input schedules: EventBridge Scheduler schedule `{name}` was not found in group `{group}` in {}: check the name (and give `group/name` for a group other than default)",
                ctx.region
            ))),
            Err(e) => return Err(Failure::Other(e.context(format!("reading schedule {group}/{name}")))),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Input(problems));
    }
    if h.cluster_schedules {
        let cluster = last_segment(&ctx.cfg.cluster).to_string();
        let all = scan(aws).await.map_err(Failure::Other)?;
        found.extend(
            all.into_iter()
                .filter(|s| last_segment(&s.cluster) == cluster && s.cluster.contains(":ecs:")),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|s| seen.insert(s.label.clone()));
    Ok(found)
}

/// Every ECS target of every rule (on every event bus) and every schedule in the region.
pub(crate) async fn scan(aws: &Aws) -> Result<Vec<Scheduled>> {
    let mut found = Vec::new();
    let mut buses = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .events
            .list_event_buses()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| anyhow!(aws_error_message(&e)))?;
        buses.extend(
            page.event_buses()
                .iter()
                .filter_map(|b| b.name().map(str::to_string)),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    if buses.is_empty() {
        buses.push("default".to_string());
    }
    let mut rules = Vec::new();
    for bus in &buses {
        let mut token = None;
        loop {
            let page = aws
                .events
                .list_rules()
                .event_bus_name(bus)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| anyhow!(aws_error_message(&e)))?;
            rules.extend(
                page.rules()
                    .iter()
                    .filter_map(|r| r.name().map(|n| (bus.clone(), n.to_string()))),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    for answer in bounded(rules.iter().map(|(b, r)| rule_targets(aws, b, r))).await {
        found.extend(answer?.unwrap_or_default());
    }
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .scheduler
            .list_schedules()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| anyhow!(aws_error_message(&e)))?;
        for s in page.schedules() {
            if let Some(n) = s.name() {
                names.push((
                    s.group_name().unwrap_or("default").to_string(),
                    n.to_string(),
                ));
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for answer in bounded(names.iter().map(|(g, n)| schedule(aws, g, n))).await {
        if let Some(Some(s)) = answer? {
            found.push(s);
        }
    }
    Ok(found)
}

/// A rule's ECS targets; `None` when the rule does not exist.
async fn rule_targets(aws: &Aws, bus: &str, rule: &str) -> Result<Option<Vec<Scheduled>>> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let answer = aws
            .events
            .list_targets_by_rule()
            .rule(rule)
            .event_bus_name(bus)
            .set_next_token(token)
            .send()
            .await;
        let page = match answer {
            Ok(p) => p,
            Err(e) => {
                let text = aws_error_message(&e);
                if text.starts_with("ResourceNotFoundException") {
                    return Ok(None);
                }
                return Err(anyhow!(text));
            }
        };
        for t in page.targets() {
            if let Some(ecs) = t.ecs_parameters() {
                found.push(Scheduled {
                    label: format!("rule {bus}/{rule} (target {})", t.id()),
                    task_definition: ecs.task_definition_arn().to_string(),
                    cluster: t.arn().to_string(),
                    owner: Owner::Rule {
                        bus: bus.to_string(),
                        rule: rule.to_string(),
                        target: Box::new(t.clone()),
                    },
                });
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(Some(found));
        }
    }
}

/// A schedule: `None` when it does not exist, `Some(None)` when its target is not ECS.
async fn schedule(aws: &Aws, group: &str, name: &str) -> Result<Option<Option<Scheduled>>> {
    let answer = aws
        .scheduler
        .get_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await;
    let s = match answer {
        Ok(s) => s,
        Err(e) => {
            let text = aws_error_message(&e);
            if text.starts_with("ResourceNotFoundException") {
                return Ok(None);
            }
            return Err(anyhow!(text));
        }
    };
    let Some(target) = s.target() else {
        return Ok(Some(None));
    };
    let Some(ecs) = target.ecs_parameters() else {
        return Ok(Some(None));
    };
    Ok(Some(Some(Scheduled {
        label: format!("schedule {group}/{name}"),
        task_definition: ecs.task_definition_arn().to_string(),
        cluster: target.arn().to_string(),
        owner: Owner::Schedule(Box::new(s.clone())),
    })))
}

/// Moves each target that `dests` sends elsewhere; one failure does not stop the others.
pub(crate) async fn apply(
    aws: &Aws,
    scheduled: &[Scheduled],
    dests: &BTreeMap<String, Dest>,
) -> Vec<Move> {
    let work: Vec<(&Scheduled, String)> = scheduled
        .iter()
        .filter_map(|s| destination(&s.task_definition, dests).map(|to| (s, to)))
        .collect();
    let answers = bounded(work.iter().map(|(s, to)| move_one(aws, s, to))).await;
    work.into_iter()
        .zip(answers)
        .map(|((s, to), answer)| Move {
            what: s.label.clone(),
            from: s.task_definition.clone(),
            to,
            error: answer.err().map(|e| format!("{e:#}")),
        })
        .collect()
}

/// What `apply` would move, for `plan`.
pub(crate) fn preview(scheduled: &[Scheduled], dests: &BTreeMap<String, Dest>) -> Vec<Move> {
    scheduled
        .iter()
        .filter_map(|s| {
            destination(&s.task_definition, dests).map(|to| Move {
                what: s.label.clone(),
                from: s.task_definition.clone(),
                to,
                error: None,
            })
        })
        .collect()
}

/// PutTargets with the rule's target as read, or UpdateSchedule with the schedule as read,
/// with only the task definition changed.
async fn move_one(aws: &Aws, s: &Scheduled, to: &str) -> Result<()> {
    match &s.owner {
        Owner::Rule { bus, rule, target } => {
            let mut t = (**target).clone();
            if let Some(ecs) = t.ecs_parameters.as_mut() {
                ecs.task_definition_arn = to.to_string();
            }
            let answer = aws
                .events
                .put_targets()
                .rule(rule)
                .event_bus_name(bus)
                .targets(t)
                .send()
                .await
                .map_err(|e| anyhow!(aws_error_message(&e)))?;
            if answer.failed_entry_count() > 0 {
                let why: Vec<String> = answer
                    .failed_entries()
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {}",
                            f.error_code().unwrap_or_default(),
                            f.error_message().unwrap_or_default()
                        )
                    })
                    .collect();
                return Err(anyhow!("PutTargets refused it: {}", why.join("; ")));
            }
            Ok(())
        }
        Owner::Schedule(got) => {
            let mut target = got.target.clone();
            if let Some(ecs) = target.as_mut().and_then(|t| t.ecs_parameters.as_mut()) {
                ecs.task_definition_arn = to.to_string();
            }
            aws.scheduler
                .update_schedule()
                .set_name(got.name.clone())
                .set_group_name(got.group_name.clone())
                .set_schedule_expression(got.schedule_expression.clone())
                .set_schedule_expression_timezone(got.schedule_expression_timezone.clone())
                .set_start_date(got.start_date)
                .set_end_date(got.end_date)
                .set_description(got.description.clone())
                .set_state(got.state.clone())
                .set_kms_key_arn(got.kms_key_arn.clone())
                .set_target(target)
                .set_flexible_time_window(got.flexible_time_window.clone())
                .set_action_after_completion(got.action_after_completion.clone())
                .send()
                .await
                .map_err(|e| anyhow!(aws_error_message(&e)))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:1";
    const R2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:2";
    const R3: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:3";
    const BARE: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/app";

    fn dests(d: Dest) -> BTreeMap<String, Dest> {
        BTreeMap::from([("app".to_string(), d)])
    }

    #[test]
    fn families_with_and_without_revision() {
        assert_eq!(family_of(R1), ("app", true));
        assert_eq!(family_of(BARE), ("app", false));
        assert_eq!(family_of("app:7"), ("app", true));
        assert_eq!(family_of("my-app"), ("my-app", false));
    }

    #[test]
    fn a_successful_deploy_moves_every_target_of_the_family() {
        let d = dests(Dest::Forward(R3.into()));
        assert_eq!(destination(R1, &d), Some(R3.into()));
        assert_eq!(destination(BARE, &d), Some(R3.into()));
        assert_eq!(destination(R3, &d), None);
        assert_eq!(destination("app:3", &d), None);
        assert_eq!(destination("other:1", &d), None);
    }

    #[test]
    fn after_a_rollback_only_the_failed_revision_and_the_bare_family_go_back() {
        let d = dests(Dest::Back {
            failed: R3.into(),
            back: R2.into(),
        });
        assert_eq!(destination(R1, &d), None, "an older revision stays");
        assert_eq!(destination(R2, &d), None);
        assert_eq!(destination(R3, &d), Some(R2.into()));
        assert_eq!(destination(BARE, &d), Some(R2.into()));
    }
}
