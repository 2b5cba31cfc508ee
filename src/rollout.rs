//! How a service rolls out, chosen once at preflight from what ECS says about it
//! (`deploymentController.type`, then `deploymentConfiguration.strategy`), and the four
//! operations every way has: start, observe (into a plain `Snapshot`), a pure decision over
//! snapshots, and undo.
//!
//! A closed enum with one `match` per operation: adding a way to roll out (ECS-native
//! blue/green, CodeDeploy) adds a variant, and the compiler lists every place it must touch.
//! Until a way is implemented, `choose` names it and `deploy` refuses the service (exit 2);
//! `plan` and `verify` show it.

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
            Way::EcsNative { strategy, .. } => Err(format!(
                "uses the ECS-native {strategy} deployment strategy, which this version of ecs-deploy cannot drive yet: waiting for it like a rolling deployment would misread its bake time and test-traffic stages (deploy it with the ECS console or CLI; `plan` and `verify` work)"
            )),
            Way::CodeDeploy => Err(
                "uses the CODE_DEPLOY deployment controller: its revisions go through CodeDeploy deployments, which this version of ecs-deploy cannot create yet (`plan` and `verify` work)".into(),
            ),
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
}

impl Rollout {
    /// Starts the rollout; returns the id of the deployment to follow.
    pub(crate) async fn start(
        self,
        aws: &Aws,
        cluster: &str,
        service: &str,
        change: &Change,
    ) -> Result<String> {
        match self {
            Rollout::Rolling => rolling::start(aws, cluster, service, change).await,
        }
    }

    /// The decision for one observation (pure).
    pub(crate) fn decide(self, snap: &Snapshot, w: &Watch, stopped: &[StoppedTask]) -> Verdict {
        match self {
            Rollout::Rolling => rolling::decide(snap, w, stopped),
        }
    }

    /// Puts the service back on `to` (the revision it ran before); returns the deployment id
    /// of the undo to follow. `ours` is the task definition this run deployed.
    pub(crate) async fn undo(
        self,
        aws: &Aws,
        cluster: &str,
        service: &str,
        back: &Change,
    ) -> Result<String> {
        match self {
            Rollout::Rolling => rolling::start(aws, cluster, service, back).await,
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
    let mut names: Vec<String> = Vec::new();
    for w in watches {
        match w.rollout {
            Rollout::Rolling => names.push(w.service.clone()),
        }
    }
    services::describe(&aws.ecs, cluster, &names).await
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
            assert!(way.rollout().unwrap_err().contains(strategy));
        }
        assert!(Way::of(&snap("CODE_DEPLOY", None))
            .rollout()
            .unwrap_err()
            .contains("CODE_DEPLOY"));
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
