//! Compose services grouped into tasks (a leader and its sidecars, `x-ecs.task`), and each
//! task's definition: network mode, launch type, size, roles, family and container
//! `dependsOn`. `depends_on` across tasks orders nothing on ECS: a warning says so.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::container::{self, Env, Mapped, Out};
use super::extension::{self, Ecs};
use super::{units, Fault};

/// One task: its leader (the compose service it is named after) and its sidecars.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub leader: String,
    pub members: Vec<String>,
    /// The leader's x-ecs over the file's.
    pub ecs: Ecs,
}

fn svc_path(name: &str, rest: &[&str]) -> Vec<String> {
    let mut p = vec!["services".to_string(), name.to_string()];
    p.extend(rest.iter().map(|s| s.to_string()));
    p
}

/// The tasks of the file, in file order, with every structural fault: x-ecs keys, sidecars
/// of unknown or sidecar services, `depends_on` naming unknown services or making a cycle.
pub fn groups(services: &Map<String, Value>, top: &Ecs) -> (Vec<Group>, Vec<Fault>) {
    let mut faults = Vec::new();
    let mut own: BTreeMap<&str, Ecs> = BTreeMap::new();
    for (name, svc) in services {
        let at = svc_path(name, &["x-ecs"]);
        let (e, f) = extension::read(svc.get("x-ecs"), &at, false);
        faults.extend(f);
        for (key, v) in [
            ("task", &e.task),
            ("service", &e.service),
            ("family", &e.family),
        ] {
            if v.as_deref().is_some_and(|s| s.contains('$')) {
                faults.push(Fault::at(&extension::child(&at, key), &format!("x-ecs.{key} must be written out: it decides which service is deployed before variables are known")));
            }
        }
        own.insert(name, e);
    }
    let mut groups: Vec<Group> = Vec::new();
    for (name, _) in services {
        let e = &own[name.as_str()];
        if e.task.is_none() {
            groups.push(Group {
                leader: name.clone(),
                members: vec![name.clone()],
                ecs: extension::over(e, top),
            });
        }
    }
    for (name, _) in services {
        let Some(leader) = own[name.as_str()].task.clone() else {
            continue;
        };
        let at = svc_path(name, &["x-ecs", "task"]);
        match own.get(leader.as_str()) {
            None => faults.push(Fault::at(&at, &format!("x-ecs.task `{leader}` is not a service of this file: name the service whose task this container joins"))),
            Some(l) if l.task.is_some() => faults.push(Fault::at(&at, &format!("x-ecs.task `{leader}` is itself a sidecar (of `{}`): name the task's leader", l.task.as_deref().unwrap_or_default()))),
            Some(_) => {
                let mine = &own[name.as_str()];
                for key in [
                    "family",
                    "service",
                    "service_definition",
                    "launch_type",
                    "network_mode",
                    "cpu",
                    "memory",
                    "execution_role",
                    "task_role",
                ] {
                    let given = match key {
                        "family" => mine.family.is_some(),
                        "service" => mine.service.is_some(),
                        "service_definition" => mine.service_definition.is_some(),
                        "launch_type" => mine.launch_type.is_some(),
                        "network_mode" => mine.network_mode.is_some(),
                        "cpu" => mine.cpu.is_some(),
                        "memory" => mine.memory.is_some(),
                        "execution_role" => mine.execution_role.is_some(),
                        _ => mine.task_role.is_some(),
                    };
                    if given {
                        faults.push(Fault::at(&svc_path(name, &["x-ecs", key]), &format!("x-ecs.{key} is the task's: set it on `{leader}`, whose task this sidecar joins")));
                    }
                }
                if let Some(g) = groups.iter_mut().find(|g| g.leader == leader) {
                    g.members.push(name.clone());
                }
            }
        }
    }
    faults.extend(cycles(services));
    (groups, faults)
}

fn dependencies(svc: &Value) -> Vec<String> {
    match svc.get("depends_on") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Unknown services in `depends_on`, and each cycle once, named from its first service.
fn cycles(services: &Map<String, Value>) -> Vec<Fault> {
    let mut faults = Vec::new();
    for (name, svc) in services {
        for d in dependencies(svc) {
            if !services.contains_key(&d) {
                faults.push(Fault::at(
                    &svc_path(name, &["depends_on"]),
                    &format!("depends_on names `{d}`, which is not a service of this file"),
                ));
            }
        }
    }
    let mut reported: Vec<Vec<String>> = Vec::new();
    for start in services.keys() {
        // Depth-first from `start`, looking for a way back to it.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for d in services.get(&at).map(dependencies).unwrap_or_default() {
                if d == *start {
                    let mut cycle = path.clone();
                    cycle.sort();
                    if !reported.contains(&cycle) {
                        reported.push(cycle);
                        let shown = path
                            .iter()
                            .chain([start])
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" → ");
                        faults.push(Fault::at(&svc_path(start, &["depends_on"]), &format!("depends_on makes a cycle ({shown}): nothing could start first; remove one of the dependencies")));
                    }
                } else if !path.contains(&d) && services.contains_key(&d) {
                    let mut p = path.clone();
                    p.push(d.clone());
                    stack.push((d, p));
                }
            }
        }
    }
    faults
}

/// What a task became.
pub struct Built {
    pub body: Value,
    pub replicas: Option<u64>,
}

/// The task definition of one group; `project` names the family by default.
pub fn build(
    g: &Group,
    services: &Map<String, Value>,
    project: &str,
    secrets: &Map<String, Value>,
    lookup: &dyn Fn(&str) -> Option<String>,
    dir: &std::path::Path,
    out: &mut Out,
) -> (Built, Vec<(String, String)>) {
    let fargate = g.ecs.launch_type.as_deref().unwrap_or("FARGATE") == "FARGATE";
    let declared: Vec<(String, String)> = g
        .members
        .iter()
        .filter_map(|m| {
            services[m]
                .get("network_mode")
                .and_then(Value::as_str)
                .map(|n| (m.clone(), n.to_string()))
        })
        .collect();
    let network_mode = g
        .ecs
        .network_mode
        .clone()
        .or_else(|| declared.first().map(|(_, n)| n.clone()))
        .unwrap_or_else(|| "awsvpc".into());
    for (m, n) in &declared {
        if *n != network_mode && ["host", "bridge", "none", "awsvpc"].contains(&n.as_str()) {
            out.faults.push(Fault::at(&svc_path(m, &["network_mode"]), &format!("network_mode `{n}` differs from the task's `{network_mode}`: the containers of one task share one network mode")));
        }
    }
    if fargate && network_mode != "awsvpc" {
        let at = if g.ecs.network_mode.is_some() {
            svc_path(&g.leader, &["x-ecs", "network_mode"])
        } else {
            svc_path(&g.leader, &[])
        };
        if network_mode != "host" || g.ecs.network_mode.is_some() {
            out.faults.push(Fault::at(&at, &format!("network mode `{network_mode}` is not available on Fargate, which runs awsvpc only: remove it, or set x-ecs.launch_type: EC2")));
        }
    }
    let mut mapped: Vec<(String, Mapped, bool)> = Vec::new();
    let mut host_vars = Vec::new();
    for m in &g.members {
        let Some(Value::Object(svc)) = services.get(m) else {
            out.faults.push(Fault::at(
                &svc_path(m, &[]),
                "a service must be a mapping of compose keys",
            ));
            continue;
        };
        let env = Env {
            name: m,
            fargate,
            network_mode: &network_mode,
            secrets,
            lookup,
            dir,
        };
        let mut one = container::map(&env, svc, out);
        host_vars.append(&mut one.host_vars);
        let essential = extension::read(svc.get("x-ecs"), &[], false)
            .0
            .essential
            .unwrap_or(true);
        one.container.insert("essential".into(), json!(essential));
        mapped.push((m.clone(), one, essential));
    }
    if !mapped.is_empty() && !mapped.iter().any(|(_, _, e)| *e) {
        out.faults.push(Fault::at(
            &svc_path(&g.leader, &["x-ecs", "essential"]),
            "no container of this task is essential: ECS needs at least one",
        ));
    }
    // depends_on inside the task → dependsOn; across tasks → a warning.
    let facts: BTreeMap<String, (bool, bool)> = mapped
        .iter()
        .map(|(n, m, e)| (n.clone(), (m.has_health, *e)))
        .collect();
    for (name, m, _) in mapped.iter_mut() {
        let mut list = Vec::new();
        for (dep, condition) in &m.depends_on {
            let at = svc_path(name, &["depends_on"]);
            let Some((health, essential)) = facts.get(dep) else {
                if services.contains_key(dep) {
                    out.warnings.push(format!("service `{name}`: depends_on `{dep}` is another task: ECS starts services independently, so it orders nothing at deploy time; make `{name}` retry until `{dep}` answers, or put both in one task (x-ecs.task)"));
                }
                continue;
            };
            let ecs_condition = match condition.as_str() {
                "service_started" => "START",
                "service_healthy" if !health => {
                    out.faults.push(Fault::at(&at, &format!("depends_on `{dep}` with condition service_healthy, but `{dep}` has no healthcheck: give it one, or use service_started")));
                    continue;
                }
                "service_healthy" => "HEALTHY",
                "service_completed_successfully" if *essential => {
                    out.faults.push(Fault::at(&at, &format!("depends_on `{dep}` with condition service_completed_successfully, but `{dep}` is essential (a task stops when an essential container exits): set `x-ecs: {{essential: false}}` on `{dep}`")));
                    continue;
                }
                "service_completed_successfully" => "SUCCESS",
                other => {
                    out.faults.push(Fault::at(&at, &format!("depends_on condition `{other}` is not service_started, service_healthy or service_completed_successfully")));
                    continue;
                }
            };
            list.push(json!({"containerName": dep, "condition": ecs_condition}));
        }
        if !list.is_empty() {
            m.container.insert("dependsOn".into(), Value::Array(list));
        }
    }
    let family = g
        .ecs
        .family
        .clone()
        .unwrap_or_else(|| format!("{project}-{}", g.leader));
    if family.is_empty()
        || family.len() > 255
        || !family
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        out.faults.push(Fault::at(&svc_path(&g.leader, &["x-ecs", "family"]), &format!("family `{family}` is not a task-definition family (letters, digits, hyphens and underscores, up to 255): set x-ecs.family")));
    }
    let mut body = Map::new();
    body.insert("family".into(), json!(family));
    body.insert("networkMode".into(), json!(network_mode));
    body.insert(
        "requiresCompatibilities".into(),
        json!([if fargate { "FARGATE" } else { "EC2" }]),
    );
    let size = |v: &Option<Value>| {
        v.as_ref().map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let (cpu, memory) = (size(&g.ecs.cpu), size(&g.ecs.memory));
    let need_cpu: u64 = mapped.iter().map(|(_, m, _)| m.cpu).sum();
    let need_mem: u64 = mapped.iter().map(|(_, m, _)| m.memory).sum();
    if fargate {
        let (c, m) = match (cpu, memory) {
            (Some(c), Some(m)) => (c, m),
            (c, m) => match units::fargate_size(need_cpu, need_mem) {
                Some((fc, fm)) => (c.unwrap_or(fc.to_string()), m.unwrap_or(fm.to_string())),
                None => {
                    out.faults.push(Fault::at(&svc_path(&g.leader, &["deploy", "resources"]), &format!("the task's containers need {need_cpu} cpu units and {need_mem} MiB, more than any Fargate size (16 vCPU, 120 GiB)")));
                    (String::new(), String::new())
                }
            },
        };
        body.insert("cpu".into(), json!(c));
        body.insert("memory".into(), json!(m));
    } else {
        if let Some(c) = cpu {
            body.insert("cpu".into(), json!(c));
        }
        if let Some(m) = &memory {
            body.insert("memory".into(), json!(m));
        }
        if memory.is_none() {
            for (name, m, _) in &mapped {
                if !m.container.contains_key("memory")
                    && !m.container.contains_key("memoryReservation")
                {
                    out.faults.push(Fault::at(&svc_path(name, &[]), "on EC2 every container needs memory: set deploy.resources.limits.memory (or reservations.memory), or the task's x-ecs.memory"));
                }
            }
        }
    }
    let needs_execution_role = mapped.iter().any(|(_, m, _)| {
        m.container.contains_key("secrets")
            || m.container.contains_key("repositoryCredentials")
            || m.container
                .get("logConfiguration")
                .and_then(|l| l.get("logDriver"))
                .and_then(Value::as_str)
                == Some("awslogs")
    });
    match &g.ecs.execution_role {
        Some(r) => {
            body.insert("executionRoleArn".into(), json!(r));
        }
        None if needs_execution_role => out.faults.push(Fault::at(&svc_path(&g.leader, &[]), "this task reads secrets, registry credentials or sends awslogs, which ECS does with the task execution role: set x-ecs.execution_role (per service or at the top level) to the role's ARN")),
        None => {}
    }
    if let Some(r) = &g.ecs.task_role {
        body.insert("taskRoleArn".into(), json!(r));
    }
    let replicas = mapped.first().and_then(|(_, m, _)| m.replicas);
    for (name, m, _) in mapped.iter().skip(1) {
        if m.replicas.is_some() {
            out.faults.push(Fault::at(&svc_path(name, &["deploy", "replicas"]), &format!("deploy.replicas is the task's desired count, and `{}` leads this task (a sidecar runs once in each of its tasks): set it on `{}`", g.leader, g.leader)));
        }
    }
    let containers: Vec<Value> = mapped
        .into_iter()
        .map(|(_, m, _)| Value::Object(m.container))
        .collect();
    body.insert("containerDefinitions".into(), Value::Array(containers));
    (
        Built {
            body: Value::Object(body),
            replicas,
        },
        host_vars,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn build_one(svcs: &Map<String, Value>, top: &Ecs) -> (Value, Vec<Fault>, Vec<String>) {
        let (gs, mut faults) = groups(svcs, top);
        let lookup = |_: &str| None;
        let mut warnings = Vec::new();
        let (b, _) = build(
            &gs[0],
            svcs,
            "shop",
            &Map::new(),
            &lookup,
            std::path::Path::new("."),
            &mut Out {
                faults: &mut faults,
                warnings: &mut warnings,
            },
        );
        (b.body, faults, warnings)
    }

    #[test]
    fn a_sidecar_joins_its_leaders_task_with_depends_on() {
        let svcs = services(json!({
            "app": {"image": "app", "depends_on": {"log_router": {"condition": "service_healthy"}, "db": {"condition": "service_started"}},
                    "deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "1G"}}}},
            "log_router": {"image": "fluent-bit", "x-ecs": {"task": "app", "essential": false},
                           "healthcheck": {"test": ["CMD", "true"]},
                           "deploy": {"resources": {"limits": {"cpus": "0.25", "memory": "256M"}}}},
            "db": {"image": "postgres"},
        }));
        let (gs, faults) = groups(&svcs, &Ecs::default());
        assert!(faults.is_empty(), "{faults:?}");
        assert_eq!(gs.len(), 2);
        assert_eq!(gs[0].members, vec!["app", "log_router"]);
        let (body, faults, warnings) = build_one(&svcs, &Ecs::default());
        assert!(faults.is_empty(), "{faults:?}");
        assert_eq!(body["family"], json!("shop-app"));
        assert_eq!(body["networkMode"], json!("awsvpc"));
        assert_eq!(body["requiresCompatibilities"], json!(["FARGATE"]));
        // 768 cpu units and 1280 MiB: the smallest Fargate size holding both.
        assert_eq!(
            (body["cpu"].clone(), body["memory"].clone()),
            (json!("1024"), json!("2048"))
        );
        let c = &body["containerDefinitions"];
        assert_eq!(
            c[0]["dependsOn"],
            json!([{"containerName": "log_router", "condition": "HEALTHY"}])
        );
        assert_eq!(c[1]["essential"], json!(false));
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("depends_on `db` is another task")),
            "{warnings:?}"
        );
    }

    #[test]
    fn task_level_refusals() {
        let cases: &[(Value, &str, &str)] = &[
            (
                json!({"a": {"image": "x", "depends_on": ["b"]}, "b": {"image": "x", "depends_on": ["a"]}}),
                "services.a.depends_on",
                "makes a cycle (a → b → a)",
            ),
            (
                json!({"a": {"image": "x", "depends_on": ["nope"]}}),
                "services.a.depends_on",
                "not a service of this file",
            ),
            (
                json!({"a": {"image": "x", "x-ecs": {"task": "nope"}}}),
                "services.a.x-ecs.task",
                "not a service of this file",
            ),
            (
                json!({"a": {"image": "x"}, "b": {"image": "x", "x-ecs": {"task": "a"}}, "c": {"image": "x", "x-ecs": {"task": "b"}}}),
                "services.c.x-ecs.task",
                "is itself a sidecar",
            ),
            (
                json!({"a": {"image": "x", "x-ecs": {"service": "${SVC}"}}}),
                "services.a.x-ecs.service",
                "must be written out",
            ),
            (
                json!({"a": {"image": "x"}, "b": {"image": "x", "x-ecs": {"task": "a", "task_role": "arn:aws:iam::1:role/r"}}}),
                "services.b.x-ecs.task_role",
                "is the task's: set it on `a`",
            ),
            (
                json!({"a": {"image": "x"}, "b": {"image": "x", "x-ecs": {"task": "a", "launch_type": "EC2", "cpu": 256, "memory": 512, "network_mode": "bridge", "execution_role": "arn:e"}}}),
                "services.b.x-ecs.launch_type",
                "is the task's: set it on `a`",
            ),
        ];
        for (svcs, path, fragment) in cases {
            let (_, faults) = groups(&services(svcs.clone()), &Ecs::default());
            assert!(
                faults
                    .iter()
                    .any(|f| f.path.join(".") == *path && f.message.contains(fragment)),
                "{svcs}: {faults:?}"
            );
        }
        let builds: &[(Value, &str, &str)] = &[
            (
                json!({"a": {"image": "x", "depends_on": {"b": {"condition": "service_healthy"}}}, "b": {"image": "x", "x-ecs": {"task": "a"}}}),
                "services.a.depends_on",
                "has no healthcheck",
            ),
            (
                json!({"a": {"image": "x", "depends_on": {"b": {"condition": "service_completed_successfully"}}}, "b": {"image": "x", "x-ecs": {"task": "a"}}}),
                "services.a.depends_on",
                "is essential",
            ),
            (
                json!({"a": {"image": "x", "x-ecs": {"launch_type": "EC2"}}}),
                "services.a",
                "on EC2 every container needs memory",
            ),
            (
                json!({"a": {"image": "x", "secrets": []}, "x": {"image": "y", "x-ecs": {"task": "a"}, "logging": {"driver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "r"}}}}),
                "services.a",
                "x-ecs.execution_role",
            ),
            (
                json!({"a": {"image": "x", "x-ecs": {"network_mode": "bridge"}}}),
                "services.a.x-ecs.network_mode",
                "not available on Fargate",
            ),
            (
                json!({"a": {"image": "x", "deploy": {"replicas": 2}}, "b": {"image": "x", "x-ecs": {"task": "a"}, "deploy": {"replicas": 3}}}),
                "services.b.deploy.replicas",
                "set it on `a`",
            ),
        ];
        for (svcs, path, fragment) in builds {
            let (_, faults, _) = build_one(&services(svcs.clone()), &Ecs::default());
            assert!(
                faults
                    .iter()
                    .any(|f| f.path.join(".") == *path && f.message.contains(fragment)),
                "{svcs}: {faults:?}"
            );
        }
    }

    #[test]
    fn ec2_tasks_keep_container_sizes() {
        let top = Ecs {
            launch_type: Some("EC2".into()),
            network_mode: Some("bridge".into()),
            execution_role: Some("arn:aws:iam::1:role/exec".into()),
            ..Ecs::default()
        };
        let svcs = services(
            json!({"a": {"image": "x", "deploy": {"resources": {"limits": {"memory": "512M"}}}}}),
        );
        let (body, faults, _) = build_one(&svcs, &top);
        assert!(faults.is_empty(), "{faults:?}");
        assert_eq!(body["requiresCompatibilities"], json!(["EC2"]));
        assert_eq!(body.get("cpu"), None);
        assert_eq!(body["containerDefinitions"][0]["memory"], json!(512));
        assert_eq!(body["executionRoleArn"], json!("arn:aws:iam::1:role/exec"));
    }
}
