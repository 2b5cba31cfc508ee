//! ECS services: describing them (preflight and every poll) and updating them.
//!
//! Snapshots are plain data copied out of the SDK's types, so the waiting decisions in
//! `wait.rs` are pure functions tested with recorded sequences.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::{DeploymentRolloutState, Service, ServiceField};

use crate::aws::aws_error_message;
use crate::ecs_json::{replace_body, KeepBody};
use crate::once::Done;
use serde_json::{Map, Value};

/// `DescribeServices` takes at most this many names per call.
const DESCRIBE_BATCH: usize = 10;

/// `deployments[].status` of the deployment that ECS is rolling out to.
pub(crate) const PRIMARY: &str = "PRIMARY";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub pending: i32,
    pub running: i32,
    pub failed: i32,
    /// IN_PROGRESS, COMPLETED or FAILED; absent for services behind a Classic Load Balancer.
    pub rollout_state: Option<DeploymentRolloutState>,
    pub rollout_reason: Option<String>,
    /// Seconds since the epoch.
    pub created_at: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub id: String,
    /// Seconds since the epoch.
    pub at: f64,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub name: String,
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub deployments: Vec<Deployment>,
    /// Newest first, as ECS returns them.
    pub events: Vec<Event>,
    /// ECS, CODE_DEPLOY or EXTERNAL.
    pub controller: String,
    /// `deploymentConfiguration.deploymentCircuitBreaker`, when DescribeServices gives it.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// `deploymentConfiguration.strategy` (ROLLING, BLUE_GREEN, LINEAR, CANARY), when given.
    pub strategy: Option<String>,
    /// `deploymentConfiguration.bakeTimeInMinutes`, when given.
    pub bake_time_minutes: Option<i32>,
    /// The service as DescribeServices returned it, tags included (`Null` when the answer
    /// came from another call): the attributes a service definition is compared with, and
    /// the settings a one-off task takes from its service.
    pub raw: serde_json::Value,
    /// The service deployment followed, for the ECS-native way (`rollout::observe`).
    pub native: Option<crate::rollout::native::View>,
    /// The CodeDeploy deployment followed, for the CodeDeploy way (`rollout::observe`).
    pub codedeploy: Option<crate::rollout::codedeploy::View>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

impl Snapshot {
    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.status == PRIMARY)
    }

    fn from_sdk(s: &Service) -> Snapshot {
        Snapshot {
            name: s.service_name().unwrap_or_default().to_string(),
            status: s.status().unwrap_or_default().to_string(),
            task_definition: s.task_definition().unwrap_or_default().to_string(),
            desired: s.desired_count(),
            running: s.running_count(),
            deployments: s
                .deployments()
                .iter()
                .map(|d| Deployment {
                    id: d.id().unwrap_or_default().to_string(),
                    status: d.status().unwrap_or_default().to_string(),
                    task_definition: d.task_definition().unwrap_or_default().to_string(),
                    desired: d.desired_count(),
                    pending: d.pending_count(),
                    running: d.running_count(),
                    failed: d.failed_tasks(),
                    rollout_state: d.rollout_state().cloned(),
                    rollout_reason: d.rollout_state_reason().map(str::to_string),
                    created_at: d.created_at().map(|t| t.as_secs_f64()).unwrap_or_default(),
                })
                .collect(),
            events: s
                .events()
                .iter()
                .map(|e| Event {
                    id: e.id().unwrap_or_default().to_string(),
                    at: e.created_at().map(|t| t.as_secs_f64()).unwrap_or_default(),
                    message: e.message().unwrap_or_default().to_string(),
                })
                .collect(),
            controller: s
                .deployment_controller()
                .map(|c| c.r#type().as_str().to_string())
                .unwrap_or_else(|| "ECS".into()),
            circuit_breaker: s
                .deployment_configuration()
                .and_then(|c| c.deployment_circuit_breaker())
                .map(|b| CircuitBreaker {
                    enable: b.enable(),
                    rollback: b.rollback(),
                }),
            strategy: s
                .deployment_configuration()
                .and_then(|c| c.strategy())
                .map(|v| v.as_str().to_string()),
            bake_time_minutes: s
                .deployment_configuration()
                .and_then(|c| c.bake_time_in_minutes()),
            raw: serde_json::Value::Null,
            native: None,
            codedeploy: None,
        }
    }
}

/// Describes `names` in `cluster`, ten per call, all calls at once. Missing services are
/// absent from the map.
pub async fn describe(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    names: &[String],
) -> Result<BTreeMap<String, Snapshot>, DescribeError> {
    let calls = names.chunks(DESCRIBE_BATCH).map(|batch| async move {
        let keep = KeepBody::default();
        let answer = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(batch.to_vec()))
            .include(ServiceField::Tags)
            .customize()
            .interceptor(keep.clone())
            .send()
            .await;
        answer.map(|a| (a, keep.json().unwrap_or_default()))
    });
    let mut out = BTreeMap::new();
    for answer in crate::context::bounded(calls).await {
        let (answer, raw) = answer.map_err(|e| {
            let text = aws_error_message(&e);
            if text.starts_with("ClusterNotFoundException") {
                DescribeError::ClusterNotFound
            } else {
                DescribeError::Other(anyhow!(text))
            }
        })?;
        let raw_services = raw.get("services").and_then(|v| v.as_array());
        for s in answer.services() {
            let mut snap = Snapshot::from_sdk(s);
            snap.raw = raw_services
                .and_then(|all| {
                    all.iter()
                        .find(|v| v.get("serviceName").and_then(|n| n.as_str()) == s.service_name())
                })
                .cloned()
                .unwrap_or_default();
            out.insert(snap.name.clone(), snap);
        }
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    #[error("cluster not found")]
    ClusterNotFound,
    #[error(transparent)]
    Other(anyhow::Error),
}

/// Describes the services for preflight: `ClusterNotFound` is told apart from other errors,
/// which name the cluster.
pub(crate) async fn describe_for_preflight(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    names: &[String],
) -> Result<Option<BTreeMap<String, Snapshot>>> {
    match describe(ecs, cluster, names).await {
        Ok(found) => Ok(Some(found)),
        Err(DescribeError::ClusterNotFound) => Ok(None),
        Err(DescribeError::Other(e)) => {
            Err(e.context(format!("describing the services of cluster {cluster}")))
        }
    }
}

/// One `UpdateService` call carrying the task definition and any changed attribute (two calls
/// would start two deployments). Returns the id of the PRIMARY deployment it answers with.
/// The fields a CODE_DEPLOY service refuses in UpdateService: they go in the AppSpec (or the
/// deployment group) instead.
pub(crate) const CODE_DEPLOY_REFUSES: [&str; 7] = [
    "taskDefinition",
    "networkConfiguration",
    "platformVersion",
    "loadBalancers",
    "serviceRegistries",
    "capacityProviderStrategy",
    "forceNewDeployment",
];

/// `UpdateService` with service attributes only (a CODE_DEPLOY service, whose revision goes
/// through CodeDeploy): the fields it refuses are never sent (`codedeploy::prepare` refuses
/// a definition that changes them).
pub(crate) async fn update_attributes(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    attributes: &Map<String, Value>,
) -> Result<()> {
    let mut b: Map<String, Value> = attributes
        .iter()
        .filter(|(k, _)| !CODE_DEPLOY_REFUSES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if b.is_empty() {
        return Ok(());
    }
    b.insert("cluster".into(), cluster.into());
    b.insert("service".into(), service.into());
    let body = serde_json::to_vec(&Value::Object(b)).unwrap_or_default();
    ecs.update_service()
        .cluster(cluster)
        .service(service)
        .customize()
        .mutate_request(replace_body(body))
        .send()
        .await
        .map_err(|e| anyhow!("{}", crate::aws::aws_error_message(&e)))
        .map_err(|e| e.context(format!("updating the attributes of service {service}")))?;
    Ok(())
}

pub(crate) async fn update(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
    desired_count: Option<i32>,
    force: bool,
    attributes: &Map<String, Value>,
) -> Result<String> {
    let started = crate::context::epoch_now();
    // Attributes go as the definition has them: the request is sent as JSON, like task
    // definitions (no lossy copy into the SDK's types).
    let body = (!attributes.is_empty()).then(|| {
        let mut b = attributes.clone();
        b.insert("cluster".into(), cluster.into());
        b.insert("service".into(), service.into());
        b.insert("taskDefinition".into(), task_definition.into());
        b.insert("forceNewDeployment".into(), force.into());
        if let Some(n) = desired_count {
            b.insert("desiredCount".into(), n.into());
        }
        serde_json::to_vec(&Value::Object(b)).unwrap_or_default()
    });
    // Never twice: an attempt that started a deployment unseen is found, not repeated.
    let answer = crate::once::call_once(
        "update",
        || {
            let call = ecs
                .update_service()
                .cluster(cluster)
                .service(service)
                .task_definition(task_definition)
                .set_desired_count(desired_count)
                .force_new_deployment(force)
                .customize()
                .config_override(crate::once::no_retries());
            match &body {
                Some(b) => call.mutate_request(replace_body(b.clone())).send(),
                None => call.send(),
            }
        },
        || async {
            let now = describe(ecs, cluster, &[service.to_string()])
                .await
                .map_err(|e| anyhow!("{e}"))?;
            let Some(snap) = now.into_values().next() else {
                return Ok(None);
            };
            let took = snap.task_definition == task_definition
                && desired_count.is_none_or(|n| snap.desired == n)
                && crate::servicedef::holds(attributes, &snap.raw)
                && snap
                    .primary()
                    .is_some_and(|p| !force || p.created_at >= started - CLOCK_SKEW_S);
            Ok(took.then_some(snap))
        },
    )
    .await;
    let snap = match answer {
        // The call ran: an answer we cannot read still changed the service.
        Ok(Done::Sent(a)) => a.service().map(Snapshot::from_sdk).ok_or_else(|| {
            anyhow!("UpdateService for {service} answered without the service")
                .context(crate::once::MaybeRan)
        })?,
        Ok(Done::Found(s)) => s,
        Err(e) => return Err(e.context(format!("updating service {service} to {task_definition}"))),
    };
    snap.primary().map(|d| d.id.clone()).ok_or_else(|| {
        anyhow!("UpdateService for {service} answered without a PRIMARY deployment")
            .context(crate::once::MaybeRan)
    })
}

/// How far the runner's clock may be from AWS's when a deployment's `createdAt` is compared.
const CLOCK_SKEW_S: f64 = 5.0;

/// Creates a service from `body` (a CreateService request: its definition with cluster,
/// name, task definition and client token). The client token makes a retried call return
/// the service the first call created instead of a second one, so the SDK's retries are
/// safe here. Returns the id of its first deployment.
pub(crate) async fn create(
    ecs: &aws_sdk_ecs::Client,
    service: &str,
    body: &Value,
) -> Result<String> {
    let bytes = serde_json::to_vec(body)?;
    let answer = ecs
        .create_service()
        .service_name(service)
        .customize()
        .mutate_request(replace_body(bytes))
        .send()
        .await
        .map_err(|e| {
            // Refused by ECS: nothing was created. Otherwise (a timeout, a lost answer) it
            // may have been, and the undo must look.
            let refused = crate::once::fate(&e) == crate::once::Fate::Refused;
            let err = anyhow!(aws_error_message(&e)).context(format!("creating service {service}"));
            if refused {
                err
            } else {
                err.context(crate::once::MaybeRan)
            }
        })?;
    let snap = answer
        .service()
        .map(Snapshot::from_sdk)
        .ok_or_else(|| anyhow!("CreateService for {service} answered without the service"))?;
    // CODE_DEPLOY and EXTERNAL services start without an ECS deployment.
    Ok(snap.primary().map(|d| d.id.clone()).unwrap_or_default())
}

/// Adds or changes tags of a service (`TagResource`); other tags stay.
pub(crate) async fn tag(ecs: &aws_sdk_ecs::Client, arn: &str, tags: &[Value]) -> Result<()> {
    let tags: Vec<aws_sdk_ecs::types::Tag> = tags
        .iter()
        .map(|t| {
            let s = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
            aws_sdk_ecs::types::Tag::builder()
                .set_key(s("key"))
                .set_value(s("value"))
                .build()
        })
        .collect();
    ecs.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| anyhow!(aws_error_message(&e)))
        .map_err(|e| e.context(format!("tagging {arn}")))?;
    Ok(())
}
