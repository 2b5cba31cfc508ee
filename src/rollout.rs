//! How a service rolls out, chosen once at preflight from what ECS says about it
//! (`deploymentController.type`, then `deploymentConfiguration.strategy`), and the four
//! operations every way has: start, observe (into a plain `Snapshot`), a pure decision over
//! snapshots, and undo.
//!
//! A closed enum with one `match` per operation: adding a way to roll out (ECS-native
//! blue/green, CodeDeploy) adds a variant, and the compiler lists every place it must touch.
//! A way this build cannot drive (`EXTERNAL`, an unknown strategy) has no variant: `Way`
//! names it and `deploy` refuses the service (exit 2); `plan` and `verify` show it.

pub(crate) mod codedeploy;
pub(crate) mod native;
pub(crate) mod rolling;

use std::collections::BTreeMap;

use anyhow::Result;

use crate::aws::Aws;
use crate::services::{self, Snapshot};
use crate::tasks::StoppedTask;

/// The ways of rolling out this build can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rollout {
    /// `deploymentController.type` ECS (or absent) with strategy ROLLING (or absent).
    Rolling,
    /// ECS with strategy BLUE_GREEN, LINEAR or CANARY: followed through its service deployment.
    EcsNative,
    /// CODE_DEPLOY: a CodeDeploy deployment with an AppSpec, followed through CodeDeploy.
    CodeDeploy,
}

/// How ECS says a service rolls out, for `plan`, `verify` and the refusal message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Way {
    Rolling,
    /// ECS-native BLUE_GREEN, LINEAR or CANARY (`deploymentConfiguration.strategy`).
    EcsNative {
        strategy: String,
        bake_minutes: Option<i32>,
    },
    CodeDeploy,
    External,
    /// A controller or strategy this build does not know: never treated as rolling.
    Unknown(String),
}

impl Way {
    pub(crate) fn of(s: &Snapshot) -> Way {
        match s.controller.as_str() {
            "ECS" => match s.strategy.as_deref() {
                None | Some("ROLLING") => Way::Rolling,
                Some(st @ ("BLUE_GREEN" | "LINEAR" | "CANARY")) => Way::EcsNative {
                    strategy: st.to_string(),
                    bake_minutes: s.bake_time_minutes,
                },
                Some(other) => Way::Unknown(format!("deployment strategy {other}")),
            },
            "CODE_DEPLOY" => Way::CodeDeploy,
            "EXTERNAL" => Way::External,
            other => Way::Unknown(format!("deployment controller {other}")),
        }
    }

    /// One phrase for logs, the plan and the summary.
    pub(crate) fn label(&self) -> String {
        match self {
            Way::Rolling => "rolling".into(),
            Way::EcsNative {
                strategy,
                bake_minutes,
            } => {
                let name = match strategy.as_str() {
                    "BLUE_GREEN" => "ECS blue/green",
                    "LINEAR" => "ECS linear",
                    _ => "ECS canary",
                };
                match bake_minutes {
                    Some(m) => format!("{name} ({strategy}, bake time {m} min)"),
                    None => format!("{name} ({strategy})"),
                }
            }
            Way::CodeDeploy => "CodeDeploy blue/green (CODE_DEPLOY controller)".into(),
            Way::External => "EXTERNAL deployment controller".into(),
            Way::Unknown(what) => format!("unknown: {what}"),
        }
    }

    /// The rollout this build drives for this way, or why it cannot deploy it.
    pub(crate) fn rollout(&self) -> Result<Rollout, String> {
        match self {
            Way::Rolling => Ok(Rollout::Rolling),
            Way::EcsNative { .. } => Ok(Rollout::EcsNative),
            Way::CodeDeploy => Ok(Rollout::CodeDeploy),
            Way::External => Err(
                "uses the EXTERNAL deployment controller: its task sets are managed outside ECS's deployments, which ecs-deploy does not do".into(),
            ),
            Way::Unknown(what) => Err(format!(
                "uses an {what} that this version of ecs-deploy does not know: it is not treated as rolling; upgrade ecs-deploy"
            )),
        }
    }
}

/// One service to wait for.
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    pub service: String,
    pub rollout: Rollout,
    /// The deployment id our update returned (or the one found in progress).
    pub deployment: String,
    /// The PRIMARY deployment id from before our update (to recognise an ECS rollback).
    pub before: Option<String>,
    /// The task definition the service ran before our update (same purpose: ECS's rollback
    /// may come back as a new deployment of the old revision).
    pub before_task_definition: Option<String>,
    /// The service deployment followed (ECS-native way), once known.
    pub service_deployment: Option<String>,
    /// Where waiting ends.
    pub goal: Goal,
    /// The CodeDeploy way: the AppSpec's hooks (lifecycle event, function), to name the
    /// failed one.
    pub hooks: Vec<(String, String)>,
    /// The task definition our update deployed and when it was sent (seconds since the
    /// epoch): what finds the service deployment when ECS had not listed it at the start.
    pub task_definition: Option<String>,
    pub since: f64,
    /// The pause hook this run just continued, and the stage it paused at: ECS may show it
    /// AWAITING_ACTION for a moment after `ContinueServiceDeployment`, which is not a new
    /// pause (`Goal::Paused`). The same hook at a later stage is.
    pub continued: Option<(String, Option<String>)>,
    /// A CodeDeploy deployment that puts a service back: at Ready it is continued at once
    /// (a group that waits for a go-ahead would otherwise hold the undo until it stops).
    pub go_ahead_at_ready: bool,
}

impl Watch {
    /// A wait for `deployment` of `service` to finish.
    pub(crate) fn new(service: &str, rollout: Rollout, deployment: &str) -> Watch {
        Watch {
            service: service.to_string(),
            rollout,
            deployment: deployment.to_string(),
            before: None,
            before_task_definition: None,
            service_deployment: None,
            goal: Goal::Finished,
            hooks: Vec::new(),
            task_definition: None,
            since: 0.0,
            continued: None,
            go_ahead_at_ready: false,
        }
    }
}

/// Where a wait ends. Rolling rollouts have no stages: they are always waited to the end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Goal {
    /// The deployment finished.
    #[default]
    Finished,
    /// The ECS-native deployment reached this lifecycle stage (or one after it).
    Stage(String),
    /// A pause hook of the ECS-native deployment awaits action.
    Paused,
    /// The CodeDeploy deployment is `Ready`: green takes test traffic and the group waits
    /// for `ContinueDeployment(READY_WAIT)`.
    Ready,
    /// The undo: the deployment rolled back.
    RolledBack,
}

/// What starting a rollout gave: the deployment to follow and, for the ECS-native way, its
/// service deployment (when ECS lists it already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Started {
    pub deployment: String,
    pub service_deployment: Option<String>,
}

/// What one observation says about the deployment we are waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Done,
    Waiting,
    /// The rollout failed or cannot succeed; ECS may already be rolling back.
    Failed(String),
    /// Someone else's deployment became PRIMARY while ours had not failed.
    Superseded(String),
    /// The wait's goal short of the end (a stage, a pause): the deployment goes on in ECS.
    Reached(String),
}

/// What a service's new deployment is started with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub task_definition: String,
    pub desired_count: Option<i32>,
    pub force: bool,
    /// Service attributes sent in the same call (from its service definition; for an undo,
    /// the values the service had before).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// The service deployment to stop (the ECS-native undo).
    pub service_deployment: Option<String>,
    /// The CodeDeploy way: what the deployment is made of (start), or the deployment to stop
    /// (undo: `deployment`).
    pub codedeploy: Option<codedeploy::Setup>,
    pub deployment: Option<String>,
    /// The CodeDeploy way's start: the values `attributes` (and the desired count) had, put
    /// back when no deployment could be created after they were changed.
    pub restore: serde_json::Map<String, serde_json::Value>,
}

impl Rollout {
    /// Starts the rollout; returns the deployment to follow.
    pub(crate) async fn start(
        self,
        aws: &Aws,
        cluster: &str,
        service: &str,
        change: &Change,
    ) -> Result<Started> {
        let since = crate::context::epoch_now();
        if self == Rollout::CodeDeploy {
            let setup = change
                .codedeploy
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("service {service} has no CodeDeploy setup"))?;
            let id = codedeploy::start(aws, cluster, service, setup, change).await?;
            return Ok(Started {
                deployment: id,
                service_deployment: None,
            });
        }
        let deployment = rolling::start(aws, cluster, service, change).await?;
        let service_deployment = match self {
            Rollout::Rolling | Rollout::CodeDeploy => None,
            // Not listed yet is fine: the wait keeps looking.
            Rollout::EcsNative => {
                native::find(aws, cluster, service, since, &change.task_definition)
                    .await
                    .ok()
                    .flatten()
            }
        };
        Ok(Started {
            deployment,
            service_deployment,
        })
    }

    /// The decision for one observation (pure).
    pub(crate) fn decide(self, snap: &Snapshot, w: &Watch, stopped: &[StoppedTask]) -> Verdict {
        match self {
            Rollout::Rolling => rolling::decide(snap, w, stopped),
            Rollout::EcsNative => native::decide(snap, w),
            Rollout::CodeDeploy => codedeploy::decide(snap, w),
        }
    }

    /// Puts the service back on the revision it ran before (`back`); returns the deployment
    /// id of the undo to follow. ECS-native: `StopServiceDeployment(ROLLBACK)` of the service
    /// deployment in `back`, followed as the same deployment; without one (ECS never listed
    /// it), an UpdateService back, as for rolling.
    pub(crate) async fn undo(
        self,
        aws: &Aws,
        cluster: &str,
        service: &str,
        back: &Change,
    ) -> Result<String> {
        if let (Rollout::CodeDeploy, Some(id)) = (self, &back.deployment) {
            return codedeploy::undo(aws, cluster, service, id, back).await;
        }
        match (self, &back.service_deployment) {
            (Rollout::EcsNative, Some(arn)) => {
                // ECS rolling it back already (an alarm, a failed hook or bake): followed,
                // never stopped a second time.
                let now = native::describe(aws, std::slice::from_ref(arn)).await;
                if now
                    .as_ref()
                    .is_ok_and(|v| v.iter().any(|d| d.status.starts_with("ROLLBACK")))
                {
                    return Ok(arn.clone());
                }
                Self::stop_native(aws, arn).await
            }
            _ => rolling::start(aws, cluster, service, back).await,
        }
    }

    /// `StopServiceDeployment(ROLLBACK)`; a refusal because ECS moved on to its own rollback
    /// (or stopped it) in the meantime is followed as that.
    async fn stop_native(aws: &Aws, arn: &str) -> Result<String> {
        match native::stop(aws, arn).await {
            Ok(()) => Ok(arn.to_string()),
            Err(e) => match native::describe(aws, &[arn.to_string()]).await {
                Ok(v)
                    if v.iter()
                        .any(|d| d.status.starts_with("ROLLBACK") || d.status == "STOPPED") =>
                {
                    Ok(arn.to_string())
                }
                _ => Err(e),
            },
        }
    }
}

/// One observation of every watched service: rolling services are read with
/// `DescribeServices`, ten per call, all calls at once.
pub(crate) async fn observe(
    aws: &Aws,
    cluster: &str,
    watches: &[&Watch],
) -> Result<BTreeMap<String, Snapshot>, services::DescribeError> {
    let names: Vec<String> = watches.iter().map(|w| w.service.clone()).collect();
    let (snaps, natives, deploys) = tokio::join!(
        services::describe(&aws.ecs, cluster, &names),
        observe_native(aws, cluster, watches),
        observe_codedeploy(aws, cluster, watches)
    );
    let mut snaps = snaps?;
    // A service deployment that cannot be read is said, each poll, like a service that
    // cannot be described (a role without ecs:ListServiceDeployments, say).
    let natives = natives.map_err(services::DescribeError::Other)?;
    for (service, view) in natives {
        if let Some(s) = snaps.get_mut(crate::arn::last_segment(&service)) {
            s.native = Some(view);
        }
    }
    let deploys = deploys.map_err(services::DescribeError::Other)?;
    for (service, view) in deploys {
        if let Some(s) = snaps.get_mut(crate::arn::last_segment(&service)) {
            s.codedeploy = Some(view);
        }
    }
    Ok(snaps)
}

/// The CodeDeploy deployments of the CodeDeploy watches, all at once (a failed look is
/// skipped: the next poll tries again).
async fn observe_codedeploy(
    aws: &Aws,
    cluster: &str,
    watches: &[&Watch],
) -> Result<Vec<(String, codedeploy::View)>> {
    let ours: Vec<&&Watch> = watches
        .iter()
        .filter(|w| w.rollout == Rollout::CodeDeploy)
        .collect();
    let views = crate::context::bounded(
        ours.iter()
            .map(|w| codedeploy::observe(aws, cluster, &w.service, &w.deployment)),
    )
    .await;
    // A deployment that cannot be read is said, each poll (a role without
    // codedeploy:GetDeployment, say), like a service that cannot be described.
    let mut out = Vec::new();
    for (w, v) in ours.iter().zip(views) {
        out.push((w.service.clone(), v?));
    }
    Ok(out)
}

/// The service deployments of the ECS-native watches, in the same round trip as the
/// services (found first when ECS had not listed them at the start). A stopped one is told
/// whether a newer deployment replaced it.
async fn observe_native(
    aws: &Aws,
    cluster: &str,
    watches: &[&Watch],
) -> Result<Vec<(String, native::View)>> {
    let natives: Vec<&&Watch> = watches
        .iter()
        .filter(|w| w.rollout == Rollout::EcsNative)
        .collect();
    if natives.is_empty() {
        return Ok(Vec::new());
    }
    let found = crate::context::bounded(natives.iter().map(|w| async move {
        match &w.service_deployment {
            Some(arn) => Ok(Some(arn.clone())),
            None => match w.task_definition.as_deref() {
                Some(td) => native::find(aws, cluster, &w.service, w.since, td).await,
                None => Ok(None),
            },
        }
    }))
    .await;
    let arns: Vec<Option<String>> = found.into_iter().collect::<Result<_>>()?;
    let known: Vec<String> = arns.iter().flatten().cloned().collect();
    let views = native::describe(aws, &known).await?;
    let mut out = Vec::new();
    for (w, arn) in natives.iter().zip(arns) {
        let Some(mut view) = arn.and_then(|a| views.iter().find(|v| v.arn == a).cloned()) else {
            continue;
        };
        if view.status.starts_with("STOP") {
            view.replaced_by = native::newer(aws, cluster, &w.service, view.created_at).await;
        }
        out.push((w.service.clone(), view));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(controller: &str, strategy: Option<&str>) -> Snapshot {
        Snapshot {
            controller: controller.into(),
            strategy: strategy.map(str::to_string),
            bake_time_minutes: Some(30),
            ..Snapshot::default()
        }
    }

    #[test]
    fn the_way_comes_from_the_controller_then_the_strategy() {
        assert_eq!(Way::of(&snap("ECS", None)).rollout(), Ok(Rollout::Rolling));
        assert_eq!(
            Way::of(&snap("ECS", Some("ROLLING"))).rollout(),
            Ok(Rollout::Rolling)
        );
        for strategy in ["BLUE_GREEN", "LINEAR", "CANARY"] {
            let way = Way::of(&snap("ECS", Some(strategy)));
            assert!(way.label().contains(strategy), "{}", way.label());
            assert!(way.label().contains("bake time 30 min"));
            assert_eq!(way.rollout(), Ok(Rollout::EcsNative));
        }
        assert_eq!(
            Way::of(&snap("CODE_DEPLOY", None)).rollout(),
            Ok(Rollout::CodeDeploy)
        );
        assert!(Way::of(&snap("EXTERNAL", None))
            .rollout()
            .unwrap_err()
            .contains("EXTERNAL"));
        // A strategy ECS adds later is never mistaken for rolling.
        let future = Way::of(&snap("ECS", Some("SHADOW")));
        assert_eq!(future, Way::Unknown("deployment strategy SHADOW".into()));
        assert!(future.rollout().unwrap_err().contains("SHADOW"));
    }
}
