//! Stopped tasks of a deployment: finding them (`ListTasks` + `DescribeTasks`), telling a
//! failure from a routine stop, and the evidence shown when a rollout fails (distinct stop
//! reasons, essential containers' exit codes, the last lines of their CloudWatch logs).
//!
//! Classification and the summary are pure functions of `StoppedTask` values, so they are
//! tested with recorded tasks; only `stopped` and `log_tail` talk to AWS.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use crate::aws::{Aws, AwsContext};
use crate::ecs_json;

/// `DescribeTasks` takes at most this many tasks per call.
const DESCRIBE_BATCH: usize = 100;
/// How many log lines the failure message shows per container.
pub const LOG_LINES: i32 = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStop {
    pub name: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoppedTask {
    pub arn: String,
    /// For service tasks, the id of the deployment that started them.
    pub started_by: String,
    pub task_definition: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Seconds since the epoch; 0 when ECS did not say.
    pub stopped_at: f64,
    pub containers: Vec<ContainerStop>,
}

impl StoppedTask {
    /// The last segment of the task ARN: what awslogs puts in the stream name.
    pub fn id(&self) -> &str {
        crate::arn::last_segment(&self.arn)
    }

    fn reason(&self) -> &str {
        self.stopped_reason.as_deref().unwrap_or("")
    }
}

/// What a stopped task says about the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Spot interruption, scale-in, AZ rebalancing, a person stopping it: not the revision's fault.
    Routine,
    /// Failed; another attempt might work (a crash, a failed health check).
    Failure,
    /// Failed in a way no retry can fix (image missing, secret missing, wrong platform).
    Fatal,
}

pub fn classify(t: &StoppedTask) -> Kind {
    let reason = t.reason();
    let lower = reason.to_ascii_lowercase();
    match t.stop_code.as_deref() {
        Some("SpotInterruption") | Some("TerminationNotice") | Some("UserInitiated") => {
            return Kind::Routine
        }
        Some("ServiceSchedulerInitiated")
            if ["scale-in", "scaling activity", "rebalanc"]
                .iter()
                .any(|w| lower.contains(w)) =>
        {
            return Kind::Routine
        }
        _ => {}
    }
    let cannot_heal = reason.contains("CannotPullContainerError")
        || (reason.contains("ResourceInitializationError")
            && [
                "secret",
                "log group",
                "loggroup",
                "parameter",
                "does not exist",
            ]
            .iter()
            .any(|w| lower.contains(w)))
        || lower.contains("platform");
    if cannot_heal {
        Kind::Fatal
    } else {
        Kind::Failure
    }
}

/// The circuit breaker's failed-task threshold for a deployment of `desired` tasks.
pub fn threshold(desired: i32) -> usize {
    let half = (desired.max(0) as usize).div_ceil(2);
    half.clamp(3, 200)
}

/// The distinct stop reasons with counts and the essential containers' exit codes, one line
/// each, most frequent first. `essential` says whether a container (by name) is essential.
pub fn summary(tasks: &[&StoppedTask], essential: &dyn Fn(&str, &str) -> bool) -> Vec<String> {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut exits: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        let r = match (t.stop_code.as_deref(), t.reason()) {
            (_, r) if !r.is_empty() => r.to_string(),
            (Some(c), _) => c.to_string(),
            _ => "stopped without a reason".to_string(),
        };
        *reasons.entry(r).or_default() += 1;
        for c in &t.containers {
            if !essential(&t.task_definition, &c.name) {
                continue;
            }
            let what = match (c.exit_code, c.reason.as_deref()) {
                (Some(code), Some(r)) => format!("container {} exited {code} ({r})", c.name),
                (Some(code), None) => format!("container {} exited {code}", c.name),
                (None, Some(r)) => format!("container {}: {r}", c.name),
                (None, None) => continue,
            };
            *exits.entry(what).or_default() += 1;
        }
    }
    let mut lines: Vec<(usize, String)> = reasons
        .into_iter()
        .chain(exits)
        .map(|(text, n)| (n, format!("{text} (×{n})")))
        .collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    lines.into_iter().map(|(_, l)| l).collect()
}

/// The stopped tasks of `service` (all deployments: the caller filters by `started_by`).
pub async fn stopped(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Vec<StoppedTask>> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
            .set_next_token(token)
            .send()
            .await
            .aws_context(|| format!("listing the stopped tasks of service {service}"))?;
        arns.extend(page.task_arns().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for batch in arns.chunks(DESCRIBE_BATCH) {
        let answer = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()))
            .send()
            .await
            .aws_context(|| format!("describing the stopped tasks of service {service}"))?;
        out.extend(answer.tasks().iter().map(|t| {
            StoppedTask {
                arn: t.task_arn().unwrap_or_default().to_string(),
                started_by: t.started_by().unwrap_or_default().to_string(),
                task_definition: t.task_definition_arn().unwrap_or_default().to_string(),
                stop_code: t.stop_code().map(|c| c.as_str().to_string()),
                stopped_reason: t.stopped_reason().map(str::to_string),
                stopped_at: t.stopped_at().map(|d| d.as_secs_f64()).unwrap_or_default(),
                containers: t
                    .containers()
                    .iter()
                    .map(|c| ContainerStop {
                        name: c.name().unwrap_or_default().to_string(),
                        exit_code: c.exit_code(),
                        reason: c.reason().map(str::to_string),
                    })
                    .collect(),
            }
        }));
    }
    Ok(out)
}

/// A container's awslogs settings, from its task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLogs {
    pub container: String,
    pub essential: bool,
    pub group: Option<String>,
    pub prefix: Option<String>,
}

/// Every container of a task definition (JSON as ECS returns it) with its awslogs settings.
pub fn containers(td: &Value) -> Vec<AwsLogs> {
    td.get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let log = c.get("logConfiguration");
            let awslogs =
                log.and_then(|l| l.get("logDriver")).and_then(Value::as_str) == Some("awslogs");
            let opt = |k: &str| {
                log.and_then(|l| l.get("options"))
                    .and_then(|o| o.get(k))
                    .and_then(Value::as_str)
                    .filter(|_| awslogs)
                    .map(str::to_string)
            };
            AwsLogs {
                container: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                essential: c.get("essential").and_then(Value::as_bool).unwrap_or(true),
                group: opt("awslogs-group"),
                prefix: opt("awslogs-stream-prefix"),
            }
        })
        .collect()
}

/// The containers of each task definition named by `tasks`; a revision that cannot be
/// described is left out (its containers then count as essential, without logs).
pub async fn describe_containers(
    aws: &Aws,
    tasks: &[&StoppedTask],
) -> BTreeMap<String, Vec<AwsLogs>> {
    let mut out = BTreeMap::new();
    for t in tasks {
        if t.task_definition.is_empty() || out.contains_key(&t.task_definition) {
            continue;
        }
        if let Ok((td, _)) = ecs_json::describe(&aws.ecs, &t.task_definition).await {
            out.insert(t.task_definition.clone(), containers(&td));
        }
    }
    out
}

/// The last `LOG_LINES` lines of one awslogs stream, oldest first.
pub async fn log_tail(aws: &Aws, group: &str, stream: &str) -> Result<Vec<String>> {
    let answer = aws
        .logs
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .limit(LOG_LINES)
        .start_from_head(false)
        .send()
        .await
        .aws_context(|| format!("reading log stream {group} {stream}"))?;
    Ok(answer
        .events()
        .iter()
        .filter_map(|e| e.message().map(|m| m.trim_end().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(code: Option<&str>, reason: &str) -> StoppedTask {
        StoppedTask {
            arn: "arn:aws:ecs:us-east-1:1:task/c/0123abcd".into(),
            started_by: "ecs-svc/1".into(),
            task_definition: "td:2".into(),
            stop_code: code.map(str::to_string),
            stopped_reason: Some(reason.into()),
            stopped_at: 0.0,
            containers: vec![ContainerStop {
                name: "app".into(),
                exit_code: Some(1),
                reason: None,
            }],
        }
    }

    #[test]
    fn classification() {
        let cases = [
            (Some("SpotInterruption"), "Your Spot Task was interrupted.", Kind::Routine),
            (
                Some("ServiceSchedulerInitiated"),
                "Scaling activity initiated by (deployment ecs-svc/1)",
                Kind::Routine,
            ),
            (Some("ServiceSchedulerInitiated"), "AZ Rebalancing", Kind::Routine),
            (
                Some("TaskFailedToStart"),
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found",
                Kind::Fatal,
            ),
            (
                Some("TaskFailedToStart"),
                "ResourceInitializationError: unable to pull secrets or registry auth: secret arn:x does not exist",
                Kind::Fatal,
            ),
            (
                Some("TaskFailedToStart"),
                "ResourceInitializationError: failed to validate logger args: The specified log group does not exist.",
                Kind::Fatal,
            ),
            (
                Some("TaskFailedToStart"),
                "ResourceInitializationError: unable to pull registry auth: dial tcp: i/o timeout",
                Kind::Failure,
            ),
            (
                Some("EssentialContainerExited"),
                "Essential container in task exited",
                Kind::Failure,
            ),
            (
                Some("ServiceSchedulerInitiated"),
                "Task failed ELB health checks in (target-group arn:x)",
                Kind::Failure,
            ),
        ];
        for (code, reason, kind) in cases {
            assert_eq!(classify(&task(code, reason)), kind, "{reason}");
        }
    }

    #[test]
    fn thresholds_follow_the_circuit_breaker() {
        assert_eq!(threshold(1), 3);
        assert_eq!(threshold(7), 4);
        assert_eq!(threshold(10), 5);
        assert_eq!(threshold(1000), 200);
    }

    #[test]
    fn summary_counts_distinct_reasons_and_exit_codes() {
        let a = task(
            Some("EssentialContainerExited"),
            "Essential container in task exited",
        );
        let mut b = a.clone();
        b.containers.push(ContainerStop {
            name: "sidecar".into(),
            exit_code: Some(137),
            reason: None,
        });
        let lines = summary(&[&a, &b, &a], &|_, c| c == "app");
        assert_eq!(
            lines,
            vec![
                "Essential container in task exited (×3)",
                "container app exited 1 (×3)"
            ]
        );
    }

    #[test]
    fn awslogs_settings_are_read_per_container() {
        let td = serde_json::json!({"containerDefinitions": [
            {"name": "app", "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/app", "awslogs-stream-prefix": "web"}}},
            {"name": "side", "essential": false}
        ]});
        let c = containers(&td);
        assert_eq!(c[0].group.as_deref(), Some("/ecs/app"));
        assert_eq!(c[0].prefix.as_deref(), Some("web"));
        assert!(c[0].essential && !c[1].essential);
        assert_eq!(c[1].group, None);
    }
}
