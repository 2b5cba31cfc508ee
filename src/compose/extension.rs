//! The `x-ecs` extension: what a compose file cannot say about ECS. At the top level it gives
//! every task's defaults; under a service it gives that service's own settings and overrides
//! the defaults for the task the service leads. On a sidecar (`task`), only `task` and
//! `essential` are its own: the task's keys are refused there, naming the leader (`task.rs`).
//!
//! | key | where | meaning |
//! |---|---|---|
//! | `family` | service | the task-definition family (default `<project>-<service>`) |
//! | `service` | service | the ECS service it deploys to (default: the compose service's name) |
//! | `service_definition` | service | a service definition (section 9): a mapping, or the path of a file, relative to the compose file |
//! | `task` | service | run this container in the task of that compose service (a sidecar) |
//! | `essential` | service | the container's `essential` (default true) |
//! | `launch_type` | both | `FARGATE` (default) or `EC2`: `requiresCompatibilities` and the mapping's rules |
//! | `network_mode` | both | the task's `networkMode` (default `awsvpc`) |
//! | `cpu`, `memory` | both | the task size, as ECS takes it (`1024`, `"1 vCPU"`, `"2 GB"`); default: from deploy.resources |
//! | `execution_role`, `task_role` | both | `executionRoleArn`, `taskRoleArn` |

use serde_json::Value;

use super::Fault;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ecs {
    pub family: Option<String>,
    pub service: Option<String>,
    pub service_definition: Option<Value>,
    pub task: Option<String>,
    pub essential: Option<bool>,
    pub launch_type: Option<String>,
    pub network_mode: Option<String>,
    pub cpu: Option<Value>,
    pub memory: Option<Value>,
    pub execution_role: Option<String>,
    pub task_role: Option<String>,
}

const SERVICE_ONLY: &[&str] = &[
    "family",
    "service",
    "service_definition",
    "task",
    "essential",
];
const BOTH: &[&str] = &[
    "launch_type",
    "network_mode",
    "cpu",
    "memory",
    "execution_role",
    "task_role",
];

/// Reads an `x-ecs` mapping found at `at` (its path in the document); `top` for the file's.
pub fn read(v: Option<&Value>, at: &[String], top: bool) -> (Ecs, Vec<Fault>) {
    let mut faults = Vec::new();
    let mut e = Ecs::default();
    let Some(v) = v else { return (e, faults) };
    let Value::Object(map) = v else {
        faults.push(Fault::at(
            at,
            "x-ecs must be a mapping (family, service, task_role, ...)",
        ));
        return (e, faults);
    };
    for key in map.keys() {
        let known = BOTH.contains(&key.as_str()) || (!top && SERVICE_ONLY.contains(&key.as_str()));
        if !known {
            let hint = if top && SERVICE_ONLY.contains(&key.as_str()) {
                " is set per service: move it under the service's x-ecs".to_string()
            } else {
                format!(
                    " is not an x-ecs key: the keys are {}",
                    if top {
                        BOTH.join(", ")
                    } else {
                        [SERVICE_ONLY, BOTH].concat().join(", ")
                    }
                )
            };
            faults.push(Fault::at(&child(at, key), &format!("`{key}`{hint}")));
        }
    }
    let mut text = |key: &str| -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(_) => {
                faults.push(Fault::at(
                    &child(at, key),
                    &format!("x-ecs.{key} must be a non-empty string"),
                ));
                None
            }
        }
    };
    e.family = text("family");
    e.service = text("service");
    e.task = text("task");
    e.launch_type = text("launch_type");
    e.network_mode = text("network_mode");
    e.execution_role = text("execution_role");
    e.task_role = text("task_role");
    e.service_definition = map.get("service_definition").cloned();
    e.cpu = map.get("cpu").cloned();
    e.memory = map.get("memory").cloned();
    match map.get("essential") {
        None => {}
        Some(Value::Bool(b)) => e.essential = Some(*b),
        Some(_) => faults.push(Fault::at(
            &child(at, "essential"),
            "x-ecs.essential must be true or false",
        )),
    }
    if let Some(l) = &e.launch_type {
        if l != "FARGATE" && l != "EC2" {
            faults.push(Fault::at(
                &child(at, "launch_type"),
                &format!("x-ecs.launch_type `{l}` is not FARGATE or EC2"),
            ));
        }
    }
    if let Some(m) = &e.network_mode {
        if !["awsvpc", "bridge", "host", "none"].contains(&m.as_str()) {
            faults.push(Fault::at(
                &child(at, "network_mode"),
                &format!("x-ecs.network_mode `{m}` is not awsvpc, bridge, host or none"),
            ));
        }
    }
    if let Some(d) = &e.service_definition {
        if !matches!(d, Value::Object(_) | Value::String(_)) {
            faults.push(Fault::at(&child(at, "service_definition"), "x-ecs.service_definition must be a mapping (the shape of CreateService) or the path of a service-definition file"));
        }
    }
    (e, faults)
}

/// The service's settings over the file's defaults.
pub fn over(service: &Ecs, top: &Ecs) -> Ecs {
    fn pick<T: Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
        a.clone().or_else(|| b.clone())
    }
    Ecs {
        launch_type: pick(&service.launch_type, &top.launch_type),
        network_mode: pick(&service.network_mode, &top.network_mode),
        cpu: pick(&service.cpu, &top.cpu),
        memory: pick(&service.memory, &top.memory),
        execution_role: pick(&service.execution_role, &top.execution_role),
        task_role: pick(&service.task_role, &top.task_role),
        ..service.clone()
    }
}

pub fn child(at: &[String], key: &str) -> Vec<String> {
    let mut p = at.to_vec();
    p.push(key.to_string());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_checked_and_the_service_overrides_the_file() {
        let at = vec!["x-ecs".to_string()];
        let (top, faults) = read(
            Some(&json!({"launch_type": "FARGATE", "task_role": "arn:t", "family": "x"})),
            &at,
            true,
        );
        assert_eq!(faults.len(), 1);
        assert!(
            faults[0].message.contains("is set per service"),
            "{faults:?}"
        );
        let (svc, faults) = read(
            Some(&json!({"task_role": "arn:s", "service": "web-svc", "essential": false})),
            &at,
            false,
        );
        assert!(faults.is_empty());
        let e = over(&svc, &top);
        assert_eq!(e.task_role.as_deref(), Some("arn:s"));
        assert_eq!(e.launch_type.as_deref(), Some("FARGATE"));
        assert_eq!(e.essential, Some(false));
        let (_, faults) = read(
            Some(&json!({"launch_type": "LAMBDA", "bogus": 1})),
            &at,
            false,
        );
        assert_eq!(faults.len(), 2, "{faults:?}");
    }
}
