//! `deploy`: `resources` (the container's cpu and memory, and what the task size must hold)
//! and `replicas` (the desired count at creation); the rest refused with the service-definition
//! field to use, or warned about.

use serde_json::{json, Map, Value};

use super::{at, extension_path, unknown_keys, Env, Mapped, Out};
use crate::compose::{keys, units, Fault};

/// `deploy.resources` and `deploy.replicas`; the rest of `deploy` is refused with the
/// service-definition field to use.
pub(super) fn deploy(env: &Env, svc: &Map<String, Value>, m: &mut Mapped, out: &mut Out) {
    let Some(d) = svc.get("deploy") else { return };
    let base = at(env, &["deploy"]);
    let Value::Object(d) = d else {
        out.faults
            .push(Fault::at(&base, "deploy must be a mapping"));
        return;
    };
    for (key, v) in d {
        let here = extension_path(&base, key);
        match key.as_str() {
            "resources" | "replicas" => {}
            "mode" if v.as_str() == Some("replicated") => {}
            "mode" => out.faults.push(Fault::at(&here, "deploy.mode global: set schedulingStrategy DAEMON in the x-ecs service_definition (EC2)")),
            "update_config" | "rollback_config" => out.faults.push(Fault::at(&here, &format!("deploy.{key} cannot be mapped: set deploymentConfiguration (minimumHealthyPercent, maximumPercent, deploymentCircuitBreaker) in the x-ecs service_definition"))),
            "placement" => out.faults.push(Fault::at(&here, "deploy.placement cannot be mapped: set placementConstraints / placementStrategy in the x-ecs service_definition (EC2)")),
            "restart_policy" | "endpoint_mode" | "labels" => out.warnings.push(format!("service `{}`: key `deploy.{key}` is ignored: ECS services replace stopped tasks themselves and name their endpoints through the service definition", env.name)),
            k if k.starts_with("x-aws-") => out.faults.push(Fault::at(&here, &format!("key `deploy.{key}` is not deployed: {}", keys::x_aws(key)))),
            _ => out.faults.push(Fault::at(&here, &format!("deploy.{key} is not a deploy key ecs-deploy maps (resources, replicas)"))),
        }
    }
    if let Some(r) = d.get("replicas") {
        match r
            .as_u64()
            .or_else(|| r.as_str().and_then(|s| s.parse().ok()))
        {
            Some(n) => m.replicas = Some(n),
            None => out.faults.push(Fault::at(
                &extension_path(&base, "replicas"),
                "deploy.replicas must be a whole number",
            )),
        }
    }
    let rbase = extension_path(&base, "resources");
    let res = match d.get("resources") {
        None => return,
        Some(Value::Object(res)) => res,
        Some(_) => {
            out.faults.push(Fault::at(
                &rbase,
                "deploy.resources must be a mapping (limits, reservations)",
            ));
            return;
        }
    };
    unknown_keys(
        &rbase,
        "deploy.resources",
        res,
        &["limits", "reservations"],
        out,
    );
    let mut read = |section: &str, key: &str| -> Option<u64> {
        let v = res.get(section)?.get(key)?;
        let here = extension_path(&extension_path(&rbase, section), key);
        let got = match key {
            "cpus" => units::cpu_units(v),
            _ => units::mebibytes(v),
        };
        match got {
            Ok(n) => Some(n),
            Err(e) => {
                out.faults.push(Fault::at(
                    &here,
                    &format!("deploy.resources.{section}.{key} {e}"),
                ));
                None
            }
        }
    };
    let cpu_limit = read("limits", "cpus");
    let mem_limit = read("limits", "memory");
    let cpu_res = read("reservations", "cpus");
    let mem_res = read("reservations", "memory");
    for (section, allowed) in [
        ("limits", ["cpus", "memory", "pids"]),
        ("reservations", ["cpus", "memory", "devices"]),
    ] {
        if let Some(Value::Object(s)) = res.get(section) {
            for k in s
                .keys()
                .filter(|k| !allowed.contains(&k.as_str()) || *k == "pids" || *k == "devices")
            {
                out.faults.push(Fault::at(&extension_path(&extension_path(&rbase, section), k), &format!("deploy.resources.{section}.{k} cannot be mapped: write the task definition as a file (linuxParameters, resourceRequirements)")));
            }
        }
    }
    m.cpu = cpu_limit.or(cpu_res).unwrap_or(0);
    m.memory = mem_limit.or(mem_res).unwrap_or(0);
    let c = &mut m.container;
    if !env.fargate {
        if let Some(cpu) = cpu_limit.or(cpu_res) {
            c.insert("cpu".into(), json!(cpu));
        }
        if let Some(mem) = mem_limit {
            c.insert("memory".into(), json!(mem));
        }
    }
    if let Some(mem) = mem_res {
        c.insert("memoryReservation".into(), json!(mem));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::refuses;

    #[test]
    fn deploy_refusals() {
        refuses(&[
            (
                json!({"image": "x", "deploy": {"resources": {"limits": {"memory": 512}}}}),
                "services.web.deploy.resources.limits.memory",
                "has no unit",
            ),
            (
                json!({"image": "x", "deploy": {"x-aws-autoscaling": {"min": 1}}}),
                "services.web.deploy.x-aws-autoscaling",
                "input stack-template",
            ),
            (
                json!({"image": "x", "deploy": {"update_config": {}}}),
                "services.web.deploy.update_config",
                "deploymentConfiguration",
            ),
            (
                json!({"image": "x", "deploy": {"resources": "small"}}),
                "services.web.deploy.resources",
                "must be a mapping",
            ),
            (
                json!({"image": "x", "deploy": {"resources": {"limit": {"memory": "1G"}}}}),
                "services.web.deploy.resources.limit",
                "not a deploy.resources key",
            ),
        ]);
    }
}
