//! The ECS-native way (`deploymentConfiguration.strategy` BLUE_GREEN, LINEAR or CANARY, since
//! July 2025): one `UpdateService` starts it, like rolling; the service deployment it creates
//! is followed through `DescribeServiceDeployments` (status, lifecycle stage, traffic weights,
//! pause hooks); the undo is `StopServiceDeployment(ROLLBACK)`, never a competing
//! `UpdateService`.
//!
//! The decision is pure over a plain [`View`] of the service deployment. Stages are compared by
//! position in [`STAGES`]: they are transient, and two polls may skip one.

use std::time::Duration;

use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, ServiceDeployment, ServiceDeploymentStatus,
    StopServiceDeploymentStopType,
};
use serde_json::Value;

use super::{Goal, Verdict, Watch};
use crate::aws::{aws_error_message, Aws};
use crate::services::Snapshot;

/// The lifecycle stages of a service deployment, in the order ECS goes through them.
pub(crate) const STAGES: &[&str] = &[
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];

/// How long after our UpdateService a service deployment may be dated and still be ours
/// (the runner's clock and AWS's may differ).
const CLOCK_SKEW_S: f64 = 5.0;

/// One revision of a service deployment: its counts and requested traffic weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revision {
    pub arn: String,
    pub requested: i32,
    pub running: i32,
    pub pending: i32,
    pub production_weight: Option<f64>,
    pub test_weight: Option<f64>,
}

/// One lifecycle hook's state in the deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hook {
    pub id: String,
    /// AWS_LAMBDA or PAUSE.
    pub kind: String,
    /// AWAITING_ACTION, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT.
    pub status: String,
    /// Seconds since the epoch, when given.
    pub expires_at: Option<f64>,
    pub timeout_action: Option<String>,
}

/// A service deployment as `DescribeServiceDeployments` gives it (plain data).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    pub arn: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub stage: Option<String>,
    pub target: Revision,
    pub sources: Vec<Revision>,
    pub hooks: Vec<Hook>,
    pub created_at: f64,
    /// A newer service deployment of this service (filled when ours stopped): ours was
    /// replaced.
    pub replaced_by: Option<String>,
}

fn revision(r: &aws_sdk_ecs::types::ServiceRevisionSummary) -> Revision {
    Revision {
        arn: r.arn().unwrap_or_default().to_string(),
        requested: r.requested_task_count(),
        running: r.running_task_count(),
        pending: r.pending_task_count(),
        production_weight: r.requested_production_traffic_weight(),
        test_weight: r.requested_test_traffic_weight(),
    }
}

impl View {
    fn from_sdk(d: &ServiceDeployment) -> View {
        View {
            arn: d.service_deployment_arn().unwrap_or_default().to_string(),
            status: d
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            status_reason: d.status_reason().map(str::to_string),
            stage: d.lifecycle_stage().map(|s| s.as_str().to_string()),
            target: d
                .target_service_revision()
                .map(revision)
                .unwrap_or_default(),
            sources: d.source_service_revisions().iter().map(revision).collect(),
            hooks: d
                .lifecycle_hook_details()
                .iter()
                .map(|h| Hook {
                    id: h.hook_id().unwrap_or_default().to_string(),
                    kind: h
                        .target_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    status: h
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    expires_at: h.expires_at().map(|t| t.as_secs_f64()),
                    timeout_action: h.timeout_action().map(|a| a.as_str().to_string()),
                })
                .collect(),
            created_at: d.created_at().map(|t| t.as_secs_f64()).unwrap_or_default(),
            replaced_by: None,
        }
    }

    /// The pause hook waiting for someone, if any.
    pub(crate) fn paused(&self) -> Option<&Hook> {
        self.hooks.iter().find(|h| h.status == "AWAITING_ACTION")
    }

    /// The hook awaiting action, other than the one this run just continued (hook, stage),
    /// which ECS may still show awaiting for a moment (`Watch::continued`).
    pub(crate) fn paused_anew(
        &self,
        continued: Option<&(String, Option<String>)>,
    ) -> Option<&Hook> {
        self.hooks.iter().find(|h| {
            h.status == "AWAITING_ACTION"
                && continued.is_none_or(|(id, stage)| *id != h.id || *stage != self.stage)
        })
    }

    fn why(&self) -> String {
        let reason = self
            .status_reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        let stage = self
            .stage
            .as_deref()
            .map(|s| format!(" (at {s})"))
            .unwrap_or_default();
        let hook = self
            .hooks
            .iter()
            .find(|h| matches!(h.status.as_str(), "FAILED" | "TIMED_OUT"))
            .map(|h| format!("; lifecycle hook {} {}", h.id, h.status))
            .unwrap_or_default();
        format!("service deployment {}{stage}{reason}{hook}", self.status)
    }
}

/// The position of a stage in [`STAGES`]; unknown stages come after every known one.
pub(crate) fn position(stage: &str) -> usize {
    STAGES
        .iter()
        .position(|s| *s == stage)
        .unwrap_or(STAGES.len())
}

/// Decides from one observation of our service deployment (pure).
pub(crate) fn decide(snap: &Snapshot, w: &Watch) -> Verdict {
    let Some(d) = &snap.native else {
        // Not visible yet (ListServiceDeployments is eventually consistent).
        return Verdict::Waiting;
    };
    if w.goal == Goal::RolledBack {
        return match d.status.as_str() {
            "ROLLBACK_SUCCESSFUL" => Verdict::Done,
            // Stopped by a newer deployment (someone else's): the service runs that one's
            // revision, not the one it ran before, so it is not rolled back.
            "STOPPED" if d.replaced_by.is_some() => Verdict::Superseded(format!(
                "another service deployment ({}) replaced this one before it was rolled back: the service runs that deployment's revision",
                d.replaced_by.as_deref().unwrap_or_default()
            )),
            // Stopped before any traffic moved: nothing to roll back.
            "STOPPED" => Verdict::Done,
            "ROLLBACK_FAILED" => Verdict::Failed(d.why()),
            "SUCCESSFUL" => Verdict::Failed(
                "the service deployment completed before the rollback took effect".into(),
            ),
            _ => Verdict::Waiting,
        };
    }
    match d.status.as_str() {
        "SUCCESSFUL" => Verdict::Done,
        // Being stopped: by a newer deployment (superseded) or not, which the newer one's
        // listing (eventually consistent) or the final STOPPED tells; decided then.
        "STOP_REQUESTED" if d.replaced_by.is_none() => Verdict::Waiting,
        "STOPPED"
        | "STOP_REQUESTED"
        | "ROLLBACK_REQUESTED"
        | "ROLLBACK_IN_PROGRESS"
        | "ROLLBACK_SUCCESSFUL"
        | "ROLLBACK_FAILED" => match &d.replaced_by {
            Some(newer) if d.status.starts_with("STOP") => Verdict::Superseded(format!(
                "another service deployment ({newer}) replaced this run's"
            )),
            _ => Verdict::Failed(d.why()),
        },
        _ => match &w.goal {
            Goal::Paused => match d.paused_anew(w.continued.as_ref()) {
                Some(h) => {
                    Verdict::Reached(format!("paused at lifecycle hook {}{}", h.id, expiry(h)))
                }
                None => Verdict::Waiting,
            },
            Goal::Stage(stage) => match &d.stage {
                Some(now) if position(now) >= position(stage) => {
                    Verdict::Reached(format!("at lifecycle stage {now}"))
                }
                _ => Verdict::Waiting,
            },
            Goal::Finished | Goal::RolledBack | Goal::Ready => Verdict::Waiting,
        },
    }
}

fn expiry(h: &Hook) -> String {
    let when = h
        .expires_at
        .map(|t| format!(", expires {}", utc(t)))
        .unwrap_or_default();
    let then = h
        .timeout_action
        .as_deref()
        .map(|a| format!(" (then {a})"))
        .unwrap_or_default();
    format!("{when}{then}")
}

/// A moment as `2026-12-03 14:05 UTC` (days from the epoch to a civil date: Howard
/// Hinnant's algorithm).
pub(crate) fn utc(epoch: f64) -> String {
    let secs = epoch.max(0.0) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3_600,
        rest / 60 % 60
    )
}

/// The progress line of one observation; printed when it changes.
pub(crate) fn progress_line(name: &str, d: &View) -> String {
    let weights = |r: &Revision| {
        let w = |v: Option<f64>| v.map(|v| format!("{v:.0}%")).unwrap_or_else(|| "-".into());
        format!(
            "running {}/{} (production {}, test {})",
            r.running,
            r.requested,
            w(r.production_weight),
            w(r.test_weight)
        )
    };
    let mut line = format!(
        "{name}: {} stage {}; new {}",
        d.status,
        d.stage.as_deref().unwrap_or("-"),
        weights(&d.target)
    );
    for s in &d.sources {
        line.push_str(&format!("; old {}", weights(s)));
    }
    for h in &d.hooks {
        line.push_str(&format!(
            "; hook {} {} {}{}",
            h.id,
            h.kind,
            h.status,
            expiry(h)
        ));
    }
    line
}

/// How long a native deployment takes at least to reach `goal`, from its configuration:
/// the traffic shift (linear steps, canary bake) comes before `POST_PRODUCTION_TRAFFIC_SHIFT`,
/// the bake before `CLEAN_UP`. `None` for a pause, whose moment is not in the plan.
pub(crate) fn time_to(raw: &Value, goal: &Goal) -> Option<Duration> {
    let (_, shift, bake) = parts(raw);
    let minutes = match goal {
        // A native service is waited to the end when the run waits for CodeDeploy's Ready.
        Goal::Finished | Goal::RolledBack | Goal::Ready => shift + bake,
        Goal::Stage(stage) if position(stage) >= position("CLEAN_UP") => shift + bake,
        Goal::Stage(stage) if position(stage) >= position("POST_PRODUCTION_TRAFFIC_SHIFT") => shift,
        Goal::Stage(_) => 0.0,
        Goal::Paused => return None,
    };
    Some(Duration::from_secs_f64(minutes * 60.0))
}

/// The lifecycle stages of the service's `PAUSE` hooks (which wait for `continue`).
pub(crate) fn pause_stages(raw: &Value) -> Vec<String> {
    raw["deploymentConfiguration"]["lifecycleHooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["targetType"].as_str() == Some("PAUSE"))
        .flat_map(|h| {
            h["lifecycleStages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The strategy's description, the traffic shift's minutes and the bake's minutes.
fn parts(raw: &Value) -> (String, f64, f64) {
    let c = &raw["deploymentConfiguration"];
    let minutes = |v: &Value| v.as_f64().unwrap_or(0.0);
    let bake = minutes(&c["bakeTimeInMinutes"]);
    let strategy = c["strategy"].as_str().unwrap_or("ROLLING");
    let (what, shift) = match strategy {
        "LINEAR" => {
            let step = c["linearConfiguration"]["stepPercent"]
                .as_f64()
                .unwrap_or(10.0);
            let step_bake = c["linearConfiguration"]["stepBakeTimeInMinutes"]
                .as_f64()
                .unwrap_or(6.0);
            let steps = (100.0 / step.max(0.1)).ceil();
            // No step bake after the last step.
            (
                format!("{steps:.0} steps of {step}% with {step_bake} min between"),
                (steps - 1.0).max(0.0) * step_bake,
            )
        }
        "CANARY" => {
            let pct = c["canaryConfiguration"]["canaryPercent"]
                .as_f64()
                .unwrap_or(5.0);
            let cbake = c["canaryConfiguration"]["canaryBakeTimeInMinutes"]
                .as_f64()
                .unwrap_or(10.0);
            (format!("{pct}% canary for {cbake} min, then all"), cbake)
        }
        _ => ("all traffic at once".to_string(), 0.0),
    };
    (what, shift, bake)
}

/// The plan of a service's native deployment from its `deploymentConfiguration` (as
/// DescribeServices gives it): one line, and how long it takes at least.
pub(crate) fn plan(raw: &Value) -> (String, Duration) {
    let c = &raw["deploymentConfiguration"];
    let strategy = c["strategy"].as_str().unwrap_or("ROLLING");
    let (what, shift, bake) = parts(raw);
    let hooks: Vec<String> = c["lifecycleHooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let stages: Vec<&str> = h["lifecycleStages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let kind = h["targetType"].as_str().unwrap_or("AWS_LAMBDA");
            format!("{kind} at {}", stages.join("+"))
        })
        .collect();
    let hooks = if hooks.is_empty() {
        String::new()
    } else {
        format!("; hooks: {}", hooks.join(", "))
    };
    let total = shift + bake;
    (
        format!("{strategy}: {what}, bake time {bake} min{hooks}; at least {total:.0} min"),
        Duration::from_secs_f64(total * 60.0),
    )
}

/// The service deployment of our update: created at or after `since` and targeting
/// `task_definition`. `None` while ECS does not list it yet.
pub(crate) async fn find(
    aws: &Aws,
    cluster: &str,
    service: &str,
    since: f64,
    task_definition: &str,
) -> Result<Option<String>> {
    let listed = aws
        .ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .created_at(
            aws_sdk_ecs::types::CreatedAt::builder()
                .after(aws_smithy_types::DateTime::from_secs_f64(
                    since - CLOCK_SKEW_S,
                ))
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws_error_message(&e)))
        .map_err(|e| e.context(format!("listing the service deployments of {service}")))?;
    let mut briefs = listed.service_deployments().to_vec();
    briefs.sort_by(|a, b| {
        let t = |x: &aws_sdk_ecs::types::ServiceDeploymentBrief| {
            x.created_at().map(|t| t.as_secs_f64()).unwrap_or_default()
        };
        t(b).total_cmp(&t(a))
    });
    let targets: Vec<String> = briefs
        .iter()
        .filter_map(|b| b.target_service_revision_arn().map(str::to_string))
        .take(20)
        .collect();
    if targets.is_empty() {
        return Ok(None);
    }
    let revisions = aws
        .ecs
        .describe_service_revisions()
        .set_service_revision_arns(Some(targets))
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws_error_message(&e)))
        .map_err(|e| e.context(format!("describing the service revisions of {service}")))?;
    let ours = |arn: &str| {
        revisions.service_revisions().iter().any(|r| {
            r.service_revision_arn() == Some(arn) && r.task_definition() == Some(task_definition)
        })
    };
    Ok(briefs
        .iter()
        .find(|b| b.target_service_revision_arn().is_some_and(ours))
        .and_then(|b| b.service_deployment_arn().map(str::to_string)))
}

/// Describes service deployments (twenty per call) into views; a stopped one is told whether
/// a newer deployment of its service replaced it.
pub(crate) async fn describe(aws: &Aws, arns: &[String]) -> Result<Vec<View>> {
    let mut views = Vec::new();
    for batch in arns.chunks(20) {
        let answer = aws
            .ecs
            .describe_service_deployments()
            .set_service_deployment_arns(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| anyhow!("DescribeServiceDeployments: {}", aws_error_message(&e)))?;
        views.extend(answer.service_deployments().iter().map(View::from_sdk));
    }
    Ok(views)
}

/// The newest service deployment of `service` created after `after`, if any (who replaced a
/// stopped one).
pub(crate) async fn newer(aws: &Aws, cluster: &str, service: &str, after: f64) -> Option<String> {
    let listed = aws
        .ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .created_at(
            aws_sdk_ecs::types::CreatedAt::builder()
                .after(aws_smithy_types::DateTime::from_secs_f64(after + 0.001))
                .build(),
        )
        .send()
        .await
        .ok()?;
    listed
        .service_deployments()
        .iter()
        .filter(|b| b.created_at().is_some_and(|t| t.as_secs_f64() > after))
        .find_map(|b| b.service_deployment_arn().map(str::to_string))
}

/// `StopServiceDeployment(ROLLBACK)`: the undo of a native deployment.
pub(crate) async fn stop(aws: &Aws, arn: &str) -> Result<()> {
    aws.ecs
        .stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws_error_message(&e)))
        .map_err(|e| e.context(format!("stopping service deployment {arn} with rollback")))?;
    Ok(())
}

/// `ContinueServiceDeployment` at a paused hook, with `CONTINUE` or `ROLLBACK`.
pub(crate) async fn resume(aws: &Aws, arn: &str, hook: &str, rollback: bool) -> Result<()> {
    let action = if rollback {
        DeploymentLifecycleHookAction::Rollback
    } else {
        DeploymentLifecycleHookAction::Continue
    };
    aws.ecs
        .continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(hook)
        .action(action)
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws_error_message(&e)))
        .map_err(|e| {
            e.context(format!(
                "continuing service deployment {arn} at hook {hook}"
            ))
        })?;
    Ok(())
}

/// The service's service deployments still going (PENDING, IN_PROGRESS), newest first.
pub(crate) async fn active(aws: &Aws, cluster: &str, service: &str) -> Result<Vec<View>> {
    let listed = aws
        .ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .status(ServiceDeploymentStatus::Pending)
        .status(ServiceDeploymentStatus::InProgress)
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws_error_message(&e)))
        .map_err(|e| e.context(format!("listing the service deployments of {service}")))?;
    let arns: Vec<String> = listed
        .service_deployments()
        .iter()
        .filter_map(|b| b.service_deployment_arn().map(str::to_string))
        .collect();
    let mut views = describe(aws, &arns).await?;
    views.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
    Ok(views)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Rollout;
    use serde_json::json;

    fn watch(goal: Goal) -> Watch {
        Watch {
            service_deployment: Some("arn:sd/1".into()),
            goal,
            ..Watch::new("app", Rollout::EcsNative, "ecs-svc/1")
        }
    }

    fn at(status: &str, stage: Option<&str>) -> Snapshot {
        Snapshot {
            native: Some(View {
                status: status.into(),
                stage: stage.map(str::to_string),
                ..View::default()
            }),
            ..Snapshot::default()
        }
    }

    #[test]
    fn statuses_decide_and_stages_compare_by_position() {
        let fin = watch(Goal::Finished);
        assert_eq!(decide(&at("SUCCESSFUL", None), &fin), Verdict::Done);
        assert_eq!(
            decide(&at("IN_PROGRESS", Some("BAKE_TIME")), &fin),
            Verdict::Waiting
        );
        for failed in [
            "ROLLBACK_REQUESTED",
            "ROLLBACK_IN_PROGRESS",
            "ROLLBACK_SUCCESSFUL",
            "ROLLBACK_FAILED",
            "STOPPED",
        ] {
            assert!(
                matches!(decide(&at(failed, None), &fin), Verdict::Failed(ref w) if w.contains(failed)),
                "{failed}"
            );
        }
        let bake = watch(Goal::Stage("BAKE_TIME".into()));
        assert_eq!(
            decide(&at("IN_PROGRESS", Some("PRODUCTION_TRAFFIC_SHIFT")), &bake),
            Verdict::Waiting
        );
        // Skipped between two polls: CLEAN_UP is past BAKE_TIME.
        assert!(matches!(
            decide(&at("IN_PROGRESS", Some("CLEAN_UP")), &bake),
            Verdict::Reached(_)
        ));
        // A rollback before the target is a failure, not "reached".
        assert!(matches!(
            decide(&at("ROLLBACK_IN_PROGRESS", Some("CLEAN_UP")), &bake),
            Verdict::Failed(_)
        ));
        let back = watch(Goal::RolledBack);
        assert_eq!(
            decide(&at("ROLLBACK_SUCCESSFUL", None), &back),
            Verdict::Done
        );
        assert_eq!(
            decide(&at("ROLLBACK_IN_PROGRESS", None), &back),
            Verdict::Waiting
        );
        assert_eq!(decide(&at("STOPPED", None), &back), Verdict::Done);
        // Stopped because someone else's deployment replaced it: not rolled back.
        let mut replaced = at("STOPPED", None);
        replaced.native.as_mut().unwrap().replaced_by = Some("arn:sd/9".into());
        assert!(matches!(
            decide(&replaced, &back),
            Verdict::Superseded(ref w) if w.contains("arn:sd/9")
        ));
    }

    #[test]
    fn a_paused_hook_is_reached_and_a_replaced_deployment_is_superseded() {
        let mut snap = at("IN_PROGRESS", Some("POST_TEST_TRAFFIC_SHIFT"));
        snap.native.as_mut().unwrap().hooks.push(Hook {
            id: "hook-1".into(),
            kind: "PAUSE".into(),
            status: "AWAITING_ACTION".into(),
            expires_at: None,
            timeout_action: Some("ROLLBACK".into()),
        });
        assert!(matches!(
            decide(&snap, &watch(Goal::Paused)),
            Verdict::Reached(ref w) if w.contains("hook-1") && w.contains("then ROLLBACK")
        ));
        assert_eq!(decide(&snap, &watch(Goal::Finished)), Verdict::Waiting);
        // The hook this run just continued, still shown awaiting at its stage, is not a new
        // pause; the same hook at a later stage is.
        let continued = Watch {
            continued: Some(("hook-1".into(), Some("POST_TEST_TRAFFIC_SHIFT".into()))),
            ..watch(Goal::Paused)
        };
        assert_eq!(decide(&snap, &continued), Verdict::Waiting);
        snap.native.as_mut().unwrap().stage = Some("POST_PRODUCTION_TRAFFIC_SHIFT".into());
        assert!(matches!(
            decide(&snap, &continued),
            Verdict::Reached(ref w) if w.contains("hook-1")
        ));
        let mut stopped = at("STOPPED", None);
        stopped.native.as_mut().unwrap().replaced_by = Some("arn:sd/2".into());
        assert!(matches!(
            decide(&stopped, &watch(Goal::Finished)),
            Verdict::Superseded(_)
        ));
    }

    #[test]
    fn moments_are_written_in_utc() {
        assert_eq!(utc(0.0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_796_299_157.0), "2026-12-03 11:59 UTC");
        assert_eq!(utc(951_825_600.0), "2000-02-29 12:00 UTC");
    }

    #[test]
    fn the_plan_says_how_long_it_takes_at_least() {
        let linear = json!({"deploymentConfiguration": {"strategy": "LINEAR", "bakeTimeInMinutes": 10,
            "linearConfiguration": {"stepPercent": 34.0, "stepBakeTimeInMinutes": 5}}});
        let (line, d) = plan(&linear);
        assert!(line.contains("3 steps of 34% with 5 min between"), "{line}");
        assert_eq!(d, Duration::from_secs(20 * 60));
        let canary = json!({"deploymentConfiguration": {"strategy": "CANARY", "bakeTimeInMinutes": 5,
            "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 15},
            "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]}});
        let (line, d) = plan(&canary);
        assert!(
            line.contains("hooks: PAUSE at POST_TEST_TRAFFIC_SHIFT"),
            "{line}"
        );
        assert_eq!(d, Duration::from_secs(20 * 60));
    }
}
