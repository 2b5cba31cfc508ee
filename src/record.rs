//! One record per service, carried through every phase of a run: what the service is, what
//! runs now, how it rolls out, what its file renders to, the diff, the decided action, the
//! revision registered, the deployment started, the outcome, and the undo.
//!
//! Phases read and write these records instead of keeping maps keyed by service name; the
//! pure `decide` and `conclude` (in `decide.rs`) read them to say what to do and what happened.

use crate::config::Target;
use crate::render::{Definition, Rendered};
use crate::rollout::{Rollout, Way};
use crate::servicedef::Changes;
use crate::services::Snapshot;
use crate::taskdef::Diff;
use crate::wait::Outcome;
use serde_json::Value;

/// What to do with one service, decided from the diff and its live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
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
    /// Deploy this registered revision (promotion); nothing is registered.
    Promote(String),
    /// Deploy this registered revision, identical to the rendered document (an earlier
    /// deploy's): reused instead of registering a duplicate.
    Reuse(String),
    /// Same task definition, changed service attributes (from its service definition): one
    /// UpdateService with them.
    Reconfigure,
}

impl Action {
    /// The registered revision this action deploys without registering, if any.
    pub(crate) fn registered(&self) -> Option<&str> {
        match self {
            Action::Promote(arn) | Action::Reuse(arn) => Some(arn),
            _ => None,
        }
    }
}

/// The undo of one service: where it went back to, and what ECS confirmed of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Undo {
    /// The revision it is put back on.
    pub to: String,
    /// ECS had already started this rollback itself (circuit breaker): we followed it.
    pub by_ecs: bool,
    /// The deployment of the undo, or why it could not be started (the call was refused).
    pub started: Result<String, String>,
    /// How the undo's rollout ended; `None` when it was not waited for.
    pub outcome: Option<Outcome>,
    /// The revision ECS said the service runs when the undo began.
    pub runs_now: Option<String>,
    /// The service was created in this run: it has no earlier revision, so the undo scaled
    /// it to 0 tasks instead.
    pub scaled_to_zero: bool,
}

impl Undo {
    /// ECS confirmed the service is back: the undo's rollout completed.
    pub(crate) fn completed(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Completed(_)))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ServiceRun {
    pub target: Target,
    /// What ECS said at preflight.
    pub live: Snapshot,
    pub way: Way,
    /// `None` for a way this build cannot drive (only `plan` and `verify` get that far).
    pub rollout: Option<Rollout>,
    pub rendered: Option<Rendered>,
    /// Its service definition, when one was given.
    pub definition: Option<Definition>,
    /// The service does not exist yet: it is created from its definition.
    pub creating: bool,
    /// How its definition differs from the live service (attributes UpdateService sends).
    pub changes: Changes,
    /// The containers' images of the revision it runs now.
    pub live_images: Vec<(String, String)>,
    pub diff: Option<Diff>,
    pub action: Action,
    /// The task definition it is deployed to in this run (registered now or reused).
    pub new_task_definition: Option<String>,
    /// The deployment followed: the one our update started, or one found in progress.
    pub deployment: Option<String>,
    /// The ECS-native way's service deployment of our update, when ECS listed it, and when
    /// our update was sent (seconds since the epoch).
    pub service_deployment: Option<String>,
    pub started_at: f64,
    /// This run called UpdateService on it (a new deployment started), whatever came after.
    pub updated: bool,
    /// This run may have changed it: `updated`, or an UpdateService whose answer was lost
    /// (it is undone like an updated one, and the run is not "unchanged").
    pub maybe_changed: bool,
    /// Registering or starting failed.
    pub error: Option<String>,
    pub outcome: Option<Outcome>,
    pub undo: Option<Undo>,
    /// A phase before the rollouts (the one-off task) failed: this service was not updated.
    pub held: bool,
    /// The CodeDeploy way's application, group and AppSpec (`codedeploy::prepare`).
    pub codedeploy: Option<crate::rollout::codedeploy::Setup>,
    /// Its CodeDeploy group and configuration as `prepare`'s early stage read them: its
    /// final stage uses them instead of reading them again.
    pub codedeploy_read: Option<crate::rollout::codedeploy::GroupRead>,
    /// Warnings given before its rollout started (a deadline shorter than its plan): in the
    /// log and in the summary.
    pub warnings: Vec<String>,
}

impl ServiceRun {
    pub(crate) fn new(target: Target, live: Snapshot) -> ServiceRun {
        let way = Way::of(&live);
        ServiceRun {
            rollout: way.rollout().ok(),
            way,
            target,
            live,
            rendered: None,
            definition: None,
            creating: false,
            changes: Changes::default(),
            live_images: Vec::new(),
            diff: None,
            action: Action::Nothing,
            new_task_definition: None,
            deployment: None,
            service_deployment: None,
            started_at: 0.0,
            updated: false,
            maybe_changed: false,
            error: None,
            outcome: None,
            undo: None,
            held: false,
            codedeploy: None,
            codedeploy_read: None,
            warnings: Vec::new(),
        }
    }

    /// A service that does not exist yet and is created from `definition` (the cluster may
    /// not exist yet either): its way of rolling out is the one the definition asks for.
    pub(crate) fn to_create(target: Target, definition: &Value) -> ServiceRun {
        let mut raw = definition.clone();
        if let Some(o) = raw.as_object_mut() {
            o.insert(
                "serviceName".into(),
                crate::arn::last_segment(&target.service).into(),
            );
        }
        let live = Snapshot {
            name: crate::arn::last_segment(&target.service).to_string(),
            status: "MISSING".into(),
            desired: definition
                .get("desiredCount")
                .and_then(Value::as_i64)
                .unwrap_or(1) as i32,
            controller: definition
                .pointer("/deploymentController/type")
                .and_then(Value::as_str)
                .unwrap_or("ECS")
                .to_string(),
            strategy: definition
                .pointer("/deploymentConfiguration/strategy")
                .and_then(Value::as_str)
                .map(str::to_string),
            raw,
            ..Snapshot::default()
        };
        let mut run = ServiceRun::new(target, live);
        run.creating = true;
        run
    }

    /// The service's settings as they are once this run's update applies: the live service
    /// with the attributes its definition changes (a one-off task runs with these).
    pub(crate) fn settings(&self) -> Value {
        let mut v = self.live.raw.clone();
        if let Some(o) = v.as_object_mut() {
            for (k, val) in &self.changes.fields {
                o.insert(k.clone(), val.clone());
            }
        }
        v
    }

    pub(crate) fn name(&self) -> &str {
        &self.live.name
    }

    /// Why this service failed in this run, if it did.
    pub(crate) fn failure(&self) -> Option<&str> {
        if let Some(e) = &self.error {
            return Some(e);
        }
        match &self.outcome {
            Some(Outcome::Failed(r) | Outcome::TimedOut(r) | Outcome::Interrupted(r)) => Some(r),
            _ => None,
        }
    }

    /// The revision the service is on at the end, as far as ECS confirmed it.
    pub(crate) fn final_task_definition(&self) -> &str {
        match &self.undo {
            Some(u) if u.completed() => &u.to,
            _ => self
                .new_task_definition
                .as_deref()
                .unwrap_or(&self.live.task_definition),
        }
    }

    /// The revision an undo returns to: that of the last COMPLETED deployment before the run,
    /// or what the service named when none had completed.
    pub(crate) fn previous_revision(&self) -> String {
        self.live
            .deployments
            .iter()
            .find(|d| {
                d.rollout_state == Some(aws_sdk_ecs::types::DeploymentRolloutState::Completed)
                    && !d.task_definition.is_empty()
            })
            .map(|d| d.task_definition.clone())
            .unwrap_or_else(|| self.live.task_definition.clone())
    }
}
