//! The CodeDeploy way (`deploymentController.type = CODE_DEPLOY`, DESIGN.md section 12): the
//! revision is registered as for every way, then `CreateDeployment` sends an AppSpec (the
//! user's file with every `TaskDefinition` replaced by the new ARN, or one built from the
//! service) to the service's application and deployment group. The deployment is followed
//! through `GetDeployment` and `GetDeploymentTarget` (status, lifecycle events, the blue and
//! green task sets with their traffic weights); the undo is `StopDeployment` with
//! `autoRollbackEnabled`, followed to the end of the rollback deployment CodeDeploy names. A
//! group that has an active deployment (someone else's) is waited for, never raced.
//!
//! Everything checkable before a change is checked by [`prepare`] (application, group, the
//! group's ECS service, the AppSpec against the task definition), so `plan` and `verify` show
//! it and bad input changes nothing. The decision is pure over a plain [`View`].

use std::time::Duration;

use anyhow::{anyhow, Result};
use aws_sdk_codedeploy::types::{
    AppSpecContent, AutoRollbackConfiguration, AutoRollbackEvent, DeploymentStatus,
    DeploymentWaitType, RevisionLocation, RevisionLocationType,
};
use serde_json::Value;

use super::{Goal, Verdict, Watch};
use crate::aws::{aws_error_message, Aws};
use crate::config::{Config, Role};
use crate::context::{bounded, Ctx};
use crate::services::Snapshot;

mod appspec;
mod prepare;
pub(crate) mod routing;

pub(crate) use appspec::{build, check_against, hooks_of, read_appspec, with_revision};
pub(crate) use prepare::{prepare, GroupRead, Stage};
use routing::Routing;

/// The statuses of a deployment that is still going (ListDeployments' filter).
pub(crate) const ACTIVE: [&str; 5] = ["Created", "Queued", "InProgress", "Baking", "Ready"];

/// Where the new revision's ARN goes in an AppSpec until it is registered (`plan` shows it).
pub(crate) const NEW_REVISION: &str = "<the revision this run registers>";

/// The service's error code of a failed CodeDeploy call (empty when it is not the service's).
pub(crate) fn service_code<E, R>(e: &aws_sdk_codedeploy::error::SdkError<E, R>) -> String
where
    E: aws_sdk_codedeploy::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(aws_sdk_codedeploy::error::ProvideErrorMetadata::code)
        .unwrap_or_default()
        .to_string()
}

/// The deployment group's settings that matter to a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Group {
    /// `deploymentReadyOption.actionOnTimeout`: CONTINUE_DEPLOYMENT or STOP_DEPLOYMENT.
    pub ready_action: Option<String>,
    pub ready_wait_minutes: i32,
    /// `terminateBlueInstancesOnDeploymentSuccess`: TERMINATE or KEEP_ALIVE, and the wait.
    pub termination_action: Option<String>,
    pub termination_wait_minutes: i32,
    pub config: Option<String>,
    /// (cluster, service) of its `ecsServices`.
    pub services: Vec<(String, String)>,
}

impl Group {
    /// How long CodeDeploy itself may hold the deployment beyond its own work: the ready wait
    /// (with STOP_DEPLOYMENT a human decides within it) and the wait before blue goes.
    pub(crate) fn waits(&self) -> Duration {
        let m = self.ready_wait_minutes.max(0) + self.termination_wait_minutes.max(0);
        Duration::from_secs(u64::try_from(m).unwrap_or_default() * 60)
    }

    /// The group holds a Ready deployment until someone continues it.
    pub(crate) fn waits_for_go_ahead(&self) -> bool {
        self.ready_action.as_deref() == Some("STOP_DEPLOYMENT")
    }

    fn line(&self) -> String {
        let ready = match self.ready_action.as_deref() {
            Some("STOP_DEPLOYMENT") => format!(
                "at Ready it waits up to {} min for a go-ahead (`continue`), then stops",
                self.ready_wait_minutes
            ),
            Some(_) if self.ready_wait_minutes > 0 => format!(
                "production traffic starts to shift {} min after Ready",
                self.ready_wait_minutes
            ),
            _ => "production traffic starts to shift at Ready".to_string(),
        };
        let blue = match self.termination_action.as_deref() {
            Some("KEEP_ALIVE") => "blue is kept".to_string(),
            _ => format!(
                "blue is terminated {} min after success",
                self.termination_wait_minutes
            ),
        };
        format!(
            "deployment configuration {}; {ready}; {blue}",
            self.config.as_deref().unwrap_or("(the group's default)")
        )
    }
}

/// What a CODE_DEPLOY service's deployment is made of, decided before anything changes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Setup {
    pub application: String,
    pub group_name: String,
    /// `codedeploy-config`, else the group's.
    pub config: Option<String>,
    pub description: String,
    /// The AppSpec, its TaskDefinitions set to [`NEW_REVISION`].
    pub appspec: Value,
    /// "the file X" or "built from the service".
    pub appspec_from: String,
    pub group: Group,
    /// CodeDeploy rolls a failed or stopped deployment back itself (`rollback-on-failure`).
    pub rollback: bool,
    /// The traffic routing of the configuration in use (`GetDeploymentConfig`); `None` when
    /// it could not be read.
    pub routing: Option<Routing>,
}

impl Setup {
    /// The deployment configuration in use: the input, else the group's, else CodeDeploy's
    /// default for ECS.
    pub(crate) fn config_in_use(&self) -> String {
        self.config
            .clone()
            .or(self.group.config.clone())
            .unwrap_or_else(|| routing::DEFAULT_CONFIG.to_string())
    }

    /// The minutes production traffic takes to move (0 when unknown).
    pub(crate) fn routing_time(&self) -> Duration {
        let m = self.routing.as_ref().map(Routing::minutes).unwrap_or(0);
        Duration::from_secs(u64::try_from(m).unwrap_or_default() * 60)
    }

    /// How long a healthy deployment takes at least beyond its own work: the traffic
    /// shifting, a ready wait that ends by itself (CONTINUE_DEPLOYMENT; with STOP_DEPLOYMENT a
    /// person decides sooner) and the wait before blue is terminated.
    pub(crate) fn minimum(&self) -> Duration {
        let g = &self.group;
        let ready = match g.waits_for_go_ahead() {
            true => 0,
            false => g.ready_wait_minutes.max(0),
        };
        let term = match g.termination_action.as_deref() {
            Some("KEEP_ALIVE") => 0,
            _ => g.termination_wait_minutes.max(0),
        };
        let m = u64::try_from(ready + term).unwrap_or_default();
        Duration::from_secs(m * 60) + self.routing_time()
    }

    /// The plan line of a deploy: the configuration, its routing and the group's waits.
    pub(crate) fn plan_line(&self) -> String {
        let routing = match &self.routing {
            Some(r) => r.line(),
            None => "its traffic routing could not be read".to_string(),
        };
        let line = Group {
            config: Some(self.config_in_use()),
            ..self.group.clone()
        }
        .line();
        match line.split_once("; ") {
            Some((config, rest)) => format!("{config} ({routing}); {rest}"),
            None => format!("{line} ({routing})"),
        }
    }

    /// The AppSpec's hooks: (lifecycle event, Lambda function).
    pub(crate) fn hooks(&self) -> Vec<(String, String)> {
        hooks_of(&self.appspec)
    }

    /// The lines `plan` shows: application, group, the group's settings, the AppSpec.
    pub(crate) fn plan_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "CodeDeploy application {}, deployment group {}: {}",
                self.application,
                self.group_name,
                self.plan_line()
            ),
            format!("AppSpec ({}):", self.appspec_from),
        ];
        let text = serde_json::to_string_pretty(&self.appspec).unwrap_or_default();
        lines.extend(text.lines().map(|l| format!("  {l}")));
        lines
    }
}

/// The application and group names of a service: the inputs for the app service, else (and
/// by default) the names the official action uses.
pub(crate) fn names(cfg: &Config, role: Role, service: &str) -> (String, String) {
    let cluster = crate::arn::last_segment(&cfg.cluster);
    let service = crate::arn::last_segment(service);
    let given = |v: &Option<String>| v.clone().filter(|_| role == Role::App);
    let s = &cfg.codedeploy;
    (
        given(&s.application).unwrap_or_else(|| format!("AppECS-{cluster}-{service}")),
        given(&s.group).unwrap_or_else(|| format!("DgpECS-{cluster}-{service}")),
    )
}

/// `GetDeploymentGroup`: the group's settings, or the input problem (no such application or
/// group) in words.
pub(crate) async fn group(
    aws: &Aws,
    application: &str,
    group: &str,
) -> Result<Result<Group, String>> {
    let answer = aws
        .codedeploy
        .get_deployment_group()
        .application_name(application)
        .deployment_group_name(group)
        .send()
        .await;
    let info = match answer {
        Ok(a) => a,
        Err(e) => {
            return match service_code(&e).as_str() {
                "ApplicationDoesNotExistException" => Ok(Err(format!(
                    "its CodeDeploy application `{application}` does not exist"
                ))),
                "DeploymentGroupDoesNotExistException" => Ok(Err(format!(
                    "its CodeDeploy deployment group `{group}` does not exist in application `{application}`"
                ))),
                _ => Err(anyhow!("{}", aws_error_message(&e)).context(format!(
                    "reading CodeDeploy deployment group {group} of application {application}"
                ))),
            };
        }
    };
    let Some(g) = info.deployment_group_info() else {
        return Ok(Err(format!(
            "its CodeDeploy deployment group `{group}` was not described"
        )));
    };
    let bg = g.blue_green_deployment_configuration();
    let ready = bg.and_then(|b| b.deployment_ready_option());
    let term = bg.and_then(|b| b.terminate_blue_instances_on_deployment_success());
    Ok(Ok(Group {
        ready_action: ready
            .and_then(|r| r.action_on_timeout())
            .map(|a| a.as_str().to_string()),
        ready_wait_minutes: ready.map(|r| r.wait_time_in_minutes()).unwrap_or_default(),
        termination_action: term
            .and_then(|t| t.action())
            .map(|a| a.as_str().to_string()),
        termination_wait_minutes: term
            .map(|t| t.termination_wait_time_in_minutes())
            .unwrap_or_default(),
        config: g.deployment_config_name().map(str::to_string),
        services: g
            .ecs_services()
            .iter()
            .map(|s| {
                (
                    s.cluster_name().unwrap_or_default().to_string(),
                    s.service_name().unwrap_or_default().to_string(),
                )
            })
            .collect(),
    }))
}

/// The deployment's description: the one given, or the revision and a link to the run.
pub(crate) fn description(given: Option<&str>, run_url: Option<&str>) -> String {
    if let Some(d) = given {
        return d.to_string();
    }
    let mut d = "ecs-deploy".to_string();
    if let Some(url) = run_url {
        d.push_str(&format!(": {url}"));
    }
    d.chars().take(512).collect()
}

/// The deployments of the group still going, newest first as CodeDeploy lists them.
pub(crate) async fn active(aws: &Aws, application: &str, group: &str) -> Result<Vec<String>> {
    let mut call = aws
        .codedeploy
        .list_deployments()
        .application_name(application)
        .deployment_group_name(group);
    for s in ACTIVE {
        call = call.include_only_statuses(DeploymentStatus::from(s));
    }
    let answer = call
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws_error_message(&e)))
        .map_err(|e| {
            e.context(format!(
                "listing the active deployments of CodeDeploy group {group}"
            ))
        })?;
    Ok(answer.deployments().to_vec())
}

/// `CreateDeployment` with the AppSpec for `arn`; with `rollback`, CodeDeploy rolls a failed
/// or stopped deployment back itself. Returns the deployment id.
pub(crate) async fn create(aws: &Aws, setup: &Setup, arn: &str, rollback: bool) -> Result<String> {
    let content = with_revision(&setup.appspec, arn).to_string();
    let revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::AppSpecContent)
        .app_spec_content(AppSpecContent::builder().content(content).build())
        .build();
    let mut call = aws
        .codedeploy
        .create_deployment()
        .application_name(&setup.application)
        .deployment_group_name(&setup.group_name)
        .description(&setup.description)
        .revision(revision)
        .set_deployment_config_name(setup.config.clone());
    // Given per deployment, this replaces the group's own setting: alarms keep rolling back,
    // and with rollback-on-failure false CodeDeploy does not roll back either.
    call = call.auto_rollback_configuration(if rollback {
        AutoRollbackConfiguration::builder()
            .enabled(true)
            .events(AutoRollbackEvent::DeploymentFailure)
            .events(AutoRollbackEvent::DeploymentStopOnRequest)
            .events(AutoRollbackEvent::DeploymentStopOnAlarm)
            .build()
    } else {
        AutoRollbackConfiguration::builder().enabled(false).build()
    });
    // Never twice (a resend after an attempt that ran unseen would be refused as a second
    // active deployment, and the first would go on unwatched): the SDK's retries are off,
    // and after an attempt of unknown fate the group's active deployment is adopted. The
    // group had none when this run started it (`wait_for_group`).
    let no_retries = aws_sdk_codedeploy::config::Builder::default()
        .retry_config(aws_sdk_codedeploy::config::retry::RetryConfig::disabled());
    let answer = crate::once::call_once(
        "CodeDeploy deployment",
        || {
            call.clone()
                .customize()
                .config_override(no_retries.clone())
                .send()
        },
        || async {
            let ids = active(aws, &setup.application, &setup.group_name).await?;
            Ok(ids.into_iter().next())
        },
    )
    .await
    .map_err(|e| {
        e.context(format!(
            "creating a CodeDeploy deployment in group {} of application {}",
            setup.group_name, setup.application
        ))
    })?;
    match answer {
        crate::once::Done::Sent(a) => a.deployment_id().map(str::to_string).ok_or_else(|| {
            anyhow!("CreateDeployment answered without a deployment id")
                .context(crate::once::MaybeRan)
        }),
        crate::once::Done::Found(id) => Ok(id),
    }
}

/// The attributes `UpdateService` may change on a CODE_DEPLOY service, with the desired
/// count when one is asked for.
fn attributes_with_count(
    attributes: &serde_json::Map<String, Value>,
    desired_count: Option<i32>,
) -> serde_json::Map<String, Value> {
    let mut a: serde_json::Map<String, Value> = attributes
        .iter()
        .filter(|(k, _)| !crate::services::CODE_DEPLOY_REFUSES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(n) = desired_count {
        a.insert("desiredCount".into(), Value::from(n));
    }
    a
}

/// Starts a CODE_DEPLOY service's deployment: its attributes and desired count first, in an
/// `UpdateService` without the fields CODE_DEPLOY refuses there (the deployment then starts
/// from the service as it will be: green gets the new desired count), then `CreateDeployment`.
/// When no deployment could be created (a certain refusal, not an answer lost), the
/// attributes are put back as they were, so a failed start leaves the service unchanged;
/// changing them after the deployment was created instead would start it from the old ones.
pub(crate) async fn start(
    aws: &Aws,
    cluster: &str,
    service: &str,
    setup: &Setup,
    change: &super::Change,
) -> Result<String> {
    let attributes = attributes_with_count(&change.attributes, change.desired_count);
    if !attributes.is_empty() {
        crate::services::update_attributes(&aws.ecs, cluster, service, &attributes).await?;
    }
    let created = create(aws, setup, &change.task_definition, setup.rollback).await;
    match created {
        Err(e) if !attributes.is_empty() && !crate::once::maybe_ran(&e) => {
            let restore: serde_json::Map<String, Value> = change
                .restore
                .iter()
                .filter(|(k, _)| attributes.contains_key(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            // A field the service did not show before has no value to put back.
            let unset: Vec<&str> = attributes
                .keys()
                .filter(|k| !restore.contains_key(k.as_str()))
                .map(String::as_str)
                .collect();
            let unset = match unset.is_empty() {
                true => String::new(),
                false => format!(
                    "; {} had no value before to put back and stay{} as the definition sets {}",
                    unset.join(", "),
                    if unset.len() == 1 { "s" } else { "" },
                    if unset.len() == 1 { "it" } else { "them" }
                ),
            };
            if restore.is_empty() {
                return Err(anyhow!("{e:#}; no deployment was created{unset}"));
            }
            let back =
                crate::services::update_attributes(&aws.ecs, cluster, service, &restore).await;
            let names: Vec<&str> = restore.keys().map(String::as_str).collect();
            Err(match back {
                Ok(()) => anyhow!(
                    "{e:#}; no deployment was created, and the service's {} were put back as they were{unset}",
                    names.join(", ")
                ),
                Err(b) => anyhow!(
                    "{e:#}; no deployment was created, and putting the service's {} back failed ({b:#}): they stay changed{unset}",
                    names.join(", ")
                ),
            })
        }
        other => other,
    }
}

/// A CODE_DEPLOY service only scaled (`desired-count`, no new revision): one `UpdateService`
/// with the desired count and the attributes, no deployment (the PRIMARY task set scales).
pub(crate) async fn scale(
    aws: &Aws,
    cluster: &str,
    service: &str,
    change: &super::Change,
) -> Result<()> {
    let attributes = attributes_with_count(&change.attributes, change.desired_count);
    crate::services::update_attributes(&aws.ecs, cluster, service, &attributes).await
}

/// `StopDeployment` with `autoRollbackEnabled`: the undo.
pub(crate) async fn stop(aws: &Aws, id: &str) -> Result<()> {
    aws.codedeploy
        .stop_deployment()
        .deployment_id(id)
        .auto_rollback_enabled(true)
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws_error_message(&e)))
        .map_err(|e| e.context(format!("stopping CodeDeploy deployment {id} with rollback")))?;
    Ok(())
}

/// The undo of our deployment `id`: CodeDeploy rolling it back already (a failed hook with
/// auto rollback, a stop) is followed, not stopped again; one still going is stopped with
/// rollback; one that succeeded (StopDeployment is refused then) is undone by a new
/// deployment of the revision the service ran before (`back.task_definition`), created once
/// like ours and without automatic rollback (that would go back to our revision). Returns the
/// deployment to follow: `id` to its rollback's end, or the new one to `Succeeded`.
pub(crate) async fn undo(
    aws: &Aws,
    cluster: &str,
    service: &str,
    id: &str,
    back: &super::Change,
) -> Result<String> {
    // The attributes our start changed go back first: neither CodeDeploy's rollback nor a
    // deployment back touches them. A failure here leaves the undo unconfirmed.
    let attributes = put_back_attributes(aws, cluster, service, back).await;
    let started = roll_back(aws, cluster, service, id, back).await;
    match (attributes, started) {
        (Ok(()), started) => started,
        (Err(e), Ok(d)) => Err(e.context(format!(
            "the rollback was started (deployment {d}), but the service's attributes stay changed"
        ))),
        (Err(e), Err(d)) => Err(d.context(format!("{e:#}"))),
    }
}

async fn put_back_attributes(
    aws: &Aws,
    cluster: &str,
    service: &str,
    back: &super::Change,
) -> Result<()> {
    let attributes = attributes_with_count(&back.attributes, None);
    if attributes.is_empty() {
        return Ok(());
    }
    crate::services::update_attributes(&aws.ecs, cluster, service, &attributes).await
}

/// Stops our deployment with rollback, or (once it succeeded) creates one back.
async fn roll_back(
    aws: &Aws,
    cluster: &str,
    service: &str,
    id: &str,
    back: &super::Change,
) -> Result<String> {
    let ended =
        |v: &View| v.rollback.is_some() || matches!(v.status.as_str(), "Failed" | "Stopped");
    let now = observe(aws, cluster, service, id).await;
    match &now {
        Ok(v) if v.status == "Succeeded" => return redeploy(aws, id, back).await,
        Ok(v) if ended(v) => return Ok(id.to_string()),
        _ => {}
    }
    if let Err(e) = stop(aws, id).await {
        // Refused: it may have ended in the meantime.
        return match observe(aws, cluster, service, id).await {
            Ok(v) if v.status == "Succeeded" => redeploy(aws, id, back).await,
            Ok(v) if ended(&v) => Ok(id.to_string()),
            _ => Err(e),
        };
    }
    Ok(id.to_string())
}

/// A CodeDeploy deployment of the revision the service ran before our succeeded one `id`.
async fn redeploy(aws: &Aws, id: &str, back: &super::Change) -> Result<String> {
    let setup = back
        .codedeploy
        .as_ref()
        .ok_or_else(|| anyhow!("no CodeDeploy setup to put the service back with"))?;
    let setup = Setup {
        description: format!(
            "ecs-deploy: back to {} (deployment {id} succeeded in a run that failed)",
            crate::arn::last_segment(&back.task_definition)
        )
        .chars()
        .take(512)
        .collect(),
        // Back at once, whatever linear or canary shift the forward deployment used.
        config: Some(routing::DEFAULT_CONFIG.to_string()),
        ..setup.clone()
    };
    create(aws, &setup, &back.task_definition, false)
        .await
        .map_err(|e| e.context(format!("deployment {id} had succeeded")))
}

/// `ContinueDeployment(READY_WAIT)`: production traffic shifts to green.
pub(crate) async fn go_ahead(aws: &Aws, id: &str) -> Result<()> {
    aws.codedeploy
        .continue_deployment()
        .deployment_id(id)
        .deployment_wait_type(DeploymentWaitType::ReadyWait)
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws_error_message(&e)))
        .map_err(|e| e.context(format!("continuing CodeDeploy deployment {id}")))?;
    Ok(())
}

/// One task set of the deployment target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskSet {
    pub id: String,
    /// BLUE or GREEN.
    pub label: String,
    pub status: String,
    pub weight: f64,
    pub running: i64,
    pub desired: i64,
}

/// A CodeDeploy deployment as GetDeployment and GetDeploymentTarget give it (plain data).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    pub id: String,
    pub status: String,
    /// `errorInformation`: (code, message).
    pub error: Option<(String, String)>,
    /// `rollbackInfo.rollbackDeploymentId`, and that deployment's status when read.
    pub rollback: Option<String>,
    pub rollback_status: Option<String>,
    pub rollback_message: Option<String>,
    /// (lifecycle event, status), in CodeDeploy's order.
    pub events: Vec<(String, String)>,
    pub task_sets: Vec<TaskSet>,
    /// `deploymentConfigName`: the configuration this deployment was created with.
    pub config: Option<String>,
}

impl View {
    pub(crate) fn green(&self) -> Option<&TaskSet> {
        self.task_sets.iter().find(|t| t.label == "GREEN")
    }

    /// Why it failed, with the failed lifecycle event and its hook's function.
    fn why(&self, hooks: &[(String, String)]) -> String {
        let mut why = format!("CodeDeploy deployment {} {}", self.id, self.status);
        if let Some((code, message)) = &self.error {
            why.push_str(&format!(": {code}: {message}"));
        }
        if let Some((event, _)) = self.events.iter().find(|(_, s)| s == "Failed") {
            why.push_str(&format!("; lifecycle event {event} Failed"));
            if let Some((_, f)) = hooks.iter().find(|(e, _)| e == event) {
                why.push_str(&format!(" (hook {f})"));
            }
        }
        if let Some(r) = &self.rollback {
            why.push_str(&format!("; rollback deployment {r}"));
            if let Some(s) = &self.rollback_status {
                why.push_str(&format!(" {s}"));
            }
        }
        why
    }
}

/// Decides from one observation of our deployment (pure).
pub(crate) fn decide(snap: &Snapshot, w: &Watch) -> Verdict {
    let Some(d) = &snap.codedeploy else {
        return Verdict::Waiting;
    };
    if w.goal == Goal::RolledBack {
        return match (d.status.as_str(), d.rollback_status.as_deref()) {
            (_, Some("Succeeded")) => Verdict::Done,
            (_, Some("Failed" | "Stopped")) => Verdict::Failed(d.why(&w.hooks)),
            ("Succeeded", None) => Verdict::Failed(format!(
                "CodeDeploy deployment {} succeeded before the stop took effect: green serves production",
                d.id
            )),
            // Ended without a rollback deployment, and CodeDeploy said why (it cannot be
            // rolled back, or there was nothing to roll back): not waited for.
            ("Stopped" | "Failed", None) if d.rollback_message.is_some() => Verdict::Failed(format!(
                "CodeDeploy deployment {} ended {} without a rollback: {}",
                d.id,
                d.status,
                d.rollback_message.as_deref().unwrap_or_default()
            )),
            _ => Verdict::Waiting,
        };
    }
    match d.status.as_str() {
        "Succeeded" => Verdict::Done,
        "Failed" | "Stopped" => Verdict::Failed(d.why(&w.hooks)),
        "Ready" if w.goal == Goal::Ready => Verdict::Reached(format!(
            "CodeDeploy deployment {} is Ready: green takes test traffic and waits for a go-ahead",
            d.id
        )),
        _ => Verdict::Waiting,
    }
}

/// The progress line of one observation; printed when it changes.
pub(crate) fn progress_line(name: &str, d: &View) -> String {
    let mut line = format!("{name}: CodeDeploy {} {}", d.id, d.status);
    if !d.events.is_empty() {
        let events: Vec<String> = d.events.iter().map(|(e, s)| format!("{e} {s}")).collect();
        line.push_str(&format!("; events {}", events.join(", ")));
    }
    for t in &d.task_sets {
        line.push_str(&format!(
            "; {} {} {:.0}% traffic, running {}/{}",
            t.label.to_lowercase(),
            t.status,
            t.weight,
            t.running,
            t.desired
        ));
    }
    if let Some(r) = &d.rollback {
        line.push_str(&format!(
            "; rollback {r} {}",
            d.rollback_status.as_deref().unwrap_or("-")
        ));
    }
    line
}

/// GetDeployment (and the rollback deployment's, when it names one), then GetDeploymentTarget
/// (`<cluster>:<service>`; a refusal only leaves the events and task sets out).
pub(crate) async fn observe(aws: &Aws, cluster: &str, service: &str, id: &str) -> Result<View> {
    // The deployment first, then its target: the events then describe at least the state
    // the status says (a failed hook is Failed in both).
    let info = aws
        .codedeploy
        .get_deployment()
        .deployment_id(id)
        .send()
        .await;
    let target = aws
        .codedeploy
        .get_deployment_target()
        .deployment_id(id)
        .target_id(format!(
            "{}:{}",
            crate::arn::last_segment(cluster),
            crate::arn::last_segment(service)
        ))
        .send()
        .await;
    let info = info.map_err(|e| anyhow!("{}", aws_error_message(&e)))?;
    let d = info
        .deployment_info()
        .ok_or_else(|| anyhow!("GetDeployment answered without deploymentInfo"))?;
    let mut view = View {
        id: id.to_string(),
        status: d
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        error: d.error_information().map(|e| {
            (
                e.code().map(|c| c.as_str().to_string()).unwrap_or_default(),
                e.message().unwrap_or_default().to_string(),
            )
        }),
        rollback: d
            .rollback_info()
            .and_then(|r| r.rollback_deployment_id())
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        rollback_message: d
            .rollback_info()
            .and_then(|r| r.rollback_message())
            .map(str::to_string),
        config: d.deployment_config_name().map(str::to_string),
        ..View::default()
    };
    if let Some(t) = target.ok().and_then(|t| t.deployment_target().cloned()) {
        if let Some(e) = t.ecs_target() {
            view.events = e
                .lifecycle_events()
                .iter()
                .map(|l| {
                    (
                        l.lifecycle_event_name().unwrap_or_default().to_string(),
                        l.status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                    )
                })
                .collect();
            view.task_sets = e
                .task_sets_info()
                .iter()
                .map(|s| TaskSet {
                    id: s.identifer().unwrap_or_default().to_string(),
                    label: s
                        .task_set_label()
                        .map(|l| l.as_str().to_string())
                        .unwrap_or_default(),
                    status: s.status().unwrap_or_default().to_string(),
                    weight: s.traffic_weight(),
                    running: s.running_count(),
                    desired: s.desired_count(),
                })
                .collect();
        }
    }
    if let Some(r) = &view.rollback {
        if let Ok(a) = aws
            .codedeploy
            .get_deployment()
            .deployment_id(r)
            .send()
            .await
        {
            view.rollback_status = a
                .deployment_info()
                .and_then(|i| i.status())
                .map(|s| s.as_str().to_string());
        }
    }
    Ok(view)
}

/// Waits while the group has an active deployment (someone else's: this run has not created
/// its own yet), polling every `poll`, up to `limit`; then refuses with its id. Never races
/// it: CodeDeploy would refuse a second one anyway (DeploymentLimitExceededException).
/// Returns whether it waited for someone else's deployment (then the service runs what
/// that one deployed, not what the preflight saw).
pub(crate) async fn wait_for_group(ctx: &Ctx<'_>, service: &str, setup: &Setup) -> Result<bool> {
    let (poll, limit) = (ctx.cfg.rollout.poll, ctx.cfg.rollout.wait_for);
    let started = std::time::Instant::now();
    let mut announced: Option<String> = None;
    loop {
        let busy = active(&ctx.aws, &setup.application, &setup.group_name).await?;
        let Some(other) = busy.first() else {
            if let Some(id) = &announced {
                ctx.out.line(&format!(
                    "{service}: deployment {id} of group {} finished: this run's starts now",
                    setup.group_name
                ));
            }
            return Ok(announced.is_some());
        };
        if announced.as_deref() != Some(other.as_str()) {
            ctx.out.line(&format!(
                "{service}: CodeDeploy deployment group {} has an active deployment {other} (not this run's): waiting for it to finish, up to {:.0} s, never racing it",
                setup.group_name,
                limit.as_secs_f64()
            ));
            announced = Some(other.clone());
        }
        if started.elapsed() + poll > limit || crate::cancel::requested().is_some() {
            return Err(anyhow!(
                "CodeDeploy deployment group {} still has an active deployment {other} after {:.0} s (wait-for-minutes): this run created none rather than race it; wait for it or stop it, then run again",
                setup.group_name,
                started.elapsed().as_secs_f64()
            ));
        }
        tokio::time::sleep(poll).await;
    }
}

/// Where each CodeDeploy deployment of the report stands at the end (one look each, at once,
/// bounded): the summary and the pull-request comment show what the log's last line said.
pub(crate) async fn final_states(
    aws: &Aws,
    cluster: &str,
    rows: &mut [crate::report::ServiceReport],
) {
    let state = |service: &str, id: &str| {
        let (service, id) = (service.to_string(), id.to_string());
        async move {
            let look = observe(aws, cluster, &service, &id);
            let view = tokio::time::timeout(Duration::from_secs(10), look)
                .await
                .ok()?
                .ok()?;
            let line = progress_line(&service, &view);
            Some(
                line.strip_prefix(&format!("{service}: "))
                    .unwrap_or(&line)
                    .to_string(),
            )
        }
    };
    let looks = bounded(rows.iter().map(|row| async move {
        let ours = state(&row.service, row.codedeploy_deployment.as_deref()?).await;
        // The deployment that put a succeeded one back, after it.
        let back = match row.codedeploy_back.as_deref() {
            Some(id) => state(&row.service, id).await,
            None => None,
        };
        match (ours, back) {
            (Some(o), Some(b)) => Some(format!("{o}; put back by {b}")),
            (o, _) => o,
        }
    }))
    .await;
    for (row, state) in rows.iter_mut().zip(looks) {
        row.codedeploy_state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Rollout;

    fn snap(view: View) -> Snapshot {
        Snapshot {
            codedeploy: Some(view),
            ..Snapshot::default()
        }
    }

    fn watch(goal: Goal) -> Watch {
        Watch {
            goal,
            hooks: vec![("AfterAllowTestTraffic".into(), "smoke-test".into())],
            ..Watch::new("api", Rollout::CodeDeploy, "d-ABC")
        }
    }

    fn at(status: &str) -> View {
        View {
            id: "d-ABC".into(),
            status: status.into(),
            ..View::default()
        }
    }

    #[test]
    fn statuses_decide_and_a_failed_hook_is_named() {
        let fin = watch(Goal::Finished);
        assert_eq!(decide(&snap(at("Succeeded")), &fin), Verdict::Done);
        for waiting in ["Created", "Queued", "InProgress", "Baking", "Ready"] {
            assert_eq!(
                decide(&snap(at(waiting)), &fin),
                Verdict::Waiting,
                "{waiting}"
            );
        }
        let mut failed = at("Failed");
        failed.error = Some(("HOOK_EXECUTION_FAILURE".into(), "hook failed".into()));
        failed.events = vec![
            ("Install".into(), "Succeeded".into()),
            ("AfterAllowTestTraffic".into(), "Failed".into()),
        ];
        failed.rollback = Some("d-RB".into());
        let Verdict::Failed(why) = decide(&snap(failed), &fin) else {
            panic!()
        };
        assert!(why.contains("HOOK_EXECUTION_FAILURE: hook failed"), "{why}");
        assert!(
            why.contains("lifecycle event AfterAllowTestTraffic Failed (hook smoke-test)"),
            "{why}"
        );
        assert!(why.contains("rollback deployment d-RB"), "{why}");
        assert!(matches!(
            decide(&snap(at("Stopped")), &fin),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn ready_is_reached_only_when_asked_and_a_rollback_ends_with_its_deployment() {
        assert!(matches!(
            decide(&snap(at("Ready")), &watch(Goal::Ready)),
            Verdict::Reached(ref w) if w.contains("Ready")
        ));
        let back = watch(Goal::RolledBack);
        let mut stopped = at("Stopped");
        assert_eq!(decide(&snap(stopped.clone()), &back), Verdict::Waiting);
        stopped.rollback = Some("d-RB".into());
        stopped.rollback_status = Some("InProgress".into());
        assert_eq!(decide(&snap(stopped.clone()), &back), Verdict::Waiting);
        stopped.rollback_status = Some("Succeeded".into());
        assert_eq!(decide(&snap(stopped), &back), Verdict::Done);
        assert!(matches!(
            decide(&snap(at("Succeeded")), &back),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn the_plan_counts_the_routing_and_the_waits_that_end_by_themselves() {
        let setup = |ready: &str, routing: Routing| Setup {
            application: "a".into(),
            group_name: "g".into(),
            config: None,
            description: String::new(),
            appspec: Value::Null,
            appspec_from: String::new(),
            group: Group {
                ready_action: Some(ready.into()),
                ready_wait_minutes: 20,
                termination_action: Some("TERMINATE".into()),
                termination_wait_minutes: 5,
                config: Some("CodeDeployDefault.ECSLinear10PercentEvery3Minutes".into()),
                services: Vec::new(),
            },
            rollback: true,
            routing: Some(routing),
        };
        let linear = Routing::Linear {
            percent: 10,
            every: 3,
        };
        let s = setup("CONTINUE_DEPLOYMENT", linear.clone());
        assert_eq!(s.routing_time(), Duration::from_secs(27 * 60));
        // 27 min of shifting, the 20 min ready wait, blue's 5 min.
        assert_eq!(s.minimum(), Duration::from_secs(52 * 60));
        assert_eq!(
            s.config_in_use(),
            "CodeDeployDefault.ECSLinear10PercentEvery3Minutes"
        );
        assert!(
            s.plan_line()
                .contains("CodeDeployDefault.ECSLinear10PercentEvery3Minutes (linear: 10% more"),
            "{}",
            s.plan_line()
        );
        // A person ends a STOP_DEPLOYMENT ready wait: not part of the least time.
        let s = setup("STOP_DEPLOYMENT", linear);
        assert_eq!(s.minimum(), Duration::from_secs(32 * 60));
        let none = Setup {
            routing: None,
            ..setup("CONTINUE_DEPLOYMENT", Routing::AllAtOnce)
        };
        assert_eq!(none.routing_time(), Duration::ZERO);
        assert!(none.plan_line().contains("could not be read"));
    }

    #[test]
    fn the_group_waits_count_in_the_deadline() {
        let g = Group {
            ready_action: Some("STOP_DEPLOYMENT".into()),
            ready_wait_minutes: 60,
            termination_wait_minutes: 5,
            ..Group::default()
        };
        assert_eq!(g.waits(), Duration::from_secs(65 * 60));
        assert!(g.waits_for_go_ahead());
        assert!(g.line().contains("waits up to 60 min"), "{}", g.line());
    }
}
