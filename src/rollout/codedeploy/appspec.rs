//! The ECS AppSpec of a CodeDeploy deployment (pure): the user's file read and checked,
//! every `TaskDefinition` replaced, one built from the service, its hooks, and its check
//! against the task definition.

use serde_json::{json, Map, Value};

use super::NEW_REVISION;
use crate::config::CodeDeploySettings;
use crate::error::{Failure, InputProblem};

/// The AppSpec file (`codedeploy-appspec`), read and checked before AWS is contacted: it
/// parses (YAML or JSON) and has a `Resources` entry with a `TargetService`.
pub(crate) fn read_appspec(s: &CodeDeploySettings) -> Result<Option<Value>, Failure> {
    let Some((path, shown)) = &s.appspec else {
        return Ok(None);
    };
    let problem = |p: crate::document::Problem| {
        let at = match (p.line, p.column) {
            (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
            (Some(l), None) => format!(" (line {l})"),
            _ => String::new(),
        };
        InputProblem::new(format!(
            "input codedeploy-appspec: `{shown}`{at}: {}",
            p.message
        ))
    };
    let text = crate::document::read(path, crate::document::Kind::AppSpec).map_err(problem)?;
    let doc =
        crate::document::parse(path, &text, crate::document::Kind::AppSpec).map_err(problem)?;
    if target_services(&doc).is_empty() {
        return Err(InputProblem::new(format!(
            "input codedeploy-appspec: `{shown}` has no `Resources` entry with a `TargetService` (Type AWS::ECS::Service, Properties TaskDefinition and LoadBalancerInfo): see the ECS AppSpec reference, or drop codedeploy-appspec to have it built from the service"
        ))
        .into());
    }
    Ok(Some(doc))
}

fn target_services(appspec: &Value) -> Vec<&Value> {
    appspec
        .get("Resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("TargetService"))
        .filter(|t| t.is_object())
        .collect()
}

/// Every `TaskDefinition` (the key matched case-insensitively, as the official action does)
/// of every resource set to `arn`.
pub(crate) fn with_revision(appspec: &Value, arn: &str) -> Value {
    fn walk(v: &mut Value, arn: &str) {
        match v {
            Value::Object(m) => {
                for (k, val) in m.iter_mut() {
                    if k.eq_ignore_ascii_case("TaskDefinition") {
                        *val = Value::String(arn.to_string());
                    } else {
                        walk(val, arn);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, arn)),
            _ => {}
        }
    }
    let mut out = appspec.clone();
    if let Some(r) = out.get_mut("Resources") {
        walk(r, arn);
    }
    out
}

/// The AppSpec built from the service as DescribeServices gives it: container and port of
/// its first load balancer, platform version, awsvpc configuration, capacity-provider
/// strategy, and the hooks given.
pub(crate) fn build(service: &Value, hooks: &[(String, String)]) -> Result<Value, String> {
    let lb = service["loadBalancers"]
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| {
            "has no load balancer: a CodeDeploy blue/green deployment shifts traffic between two target groups; give the AppSpec file (codedeploy-appspec)".to_string()
        })?;
    let mut props = Map::new();
    props.insert("TaskDefinition".into(), json!(NEW_REVISION));
    props.insert(
        "LoadBalancerInfo".into(),
        json!({ "ContainerName": lb["containerName"], "ContainerPort": lb["containerPort"] }),
    );
    if let Some(p) = service["platformVersion"].as_str() {
        props.insert("PlatformVersion".into(), json!(p));
    }
    let vpc = &service["networkConfiguration"]["awsvpcConfiguration"];
    if vpc.is_object() {
        let mut a = Map::new();
        a.insert("Subnets".into(), vpc["subnets"].clone());
        if vpc["securityGroups"].is_array() {
            a.insert("SecurityGroups".into(), vpc["securityGroups"].clone());
        }
        if let Some(ip) = vpc["assignPublicIp"].as_str() {
            a.insert("AssignPublicIp".into(), json!(ip));
        }
        props.insert(
            "NetworkConfiguration".into(),
            json!({ "AwsvpcConfiguration": a }),
        );
    }
    if let Some(cps) = service["capacityProviderStrategy"]
        .as_array()
        .filter(|a| !a.is_empty())
    {
        let items: Vec<Value> = cps
            .iter()
            .map(|c| {
                json!({
                    "CapacityProvider": c["capacityProvider"],
                    "Base": c["base"].as_i64().unwrap_or(0),
                    "Weight": c["weight"].as_i64().unwrap_or(0),
                })
            })
            .collect();
        props.insert("CapacityProviderStrategy".into(), json!(items));
    }
    let mut appspec = json!({
        "version": 0.0,
        "Resources": [{ "TargetService": { "Type": "AWS::ECS::Service", "Properties": props } }],
    });
    if !hooks.is_empty() {
        let h: Vec<Value> = hooks.iter().map(|(e, f)| json!({ e.clone(): f })).collect();
        appspec["Hooks"] = json!(h);
    }
    Ok(appspec)
}

/// The hooks of an AppSpec: (lifecycle event, function).
pub(crate) fn hooks_of(appspec: &Value) -> Vec<(String, String)> {
    appspec
        .get("Hooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        })
        .collect()
}

/// What the AppSpec names that the task definition lacks: each `LoadBalancerInfo`'s container,
/// and its port among that container's port mappings (pure).
pub(crate) fn check_against(appspec: &Value, taskdef: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let containers = crate::taskdef::containers(taskdef);
    for t in target_services(appspec) {
        let info = &t["Properties"]["LoadBalancerInfo"];
        let Some(name) = info["ContainerName"].as_str() else {
            problems.push(
                "its TargetService has no Properties.LoadBalancerInfo.ContainerName".to_string(),
            );
            continue;
        };
        let Some(c) = containers.iter().find(|c| c["name"] == name) else {
            let names: Vec<&str> = containers
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            problems.push(format!(
                "its LoadBalancerInfo names container `{name}`, which the task definition does not have (it has {})",
                names.join(", ")
            ));
            continue;
        };
        let port = info["ContainerPort"]
            .as_i64()
            .or_else(|| info["ContainerPort"].as_str().and_then(|s| s.parse().ok()));
        let ports: Vec<i64> = c["portMappings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["containerPort"].as_i64())
            .collect();
        match port {
            Some(p) if ports.contains(&p) => {}
            Some(p) => problems.push(format!(
                "its LoadBalancerInfo names port {p} of container `{name}`, which maps {}",
                if ports.is_empty() {
                    "no port".to_string()
                } else {
                    format!(
                        "only {}",
                        ports
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )),
            None => problems.push(format!(
                "its LoadBalancerInfo gives no ContainerPort for container `{name}`"
            )),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_appspec_gets_the_new_revision_everywhere() {
        let spec = json!({"version": 0.0, "Resources": [
            {"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
                "taskdefinition": "old", "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8000}}}}],
            "Hooks": [{"AfterAllowTestTraffic": "smoke"}]});
        let out = with_revision(&spec, "arn:td/7");
        assert_eq!(
            out["Resources"][0]["TargetService"]["Properties"]["taskdefinition"],
            "arn:td/7"
        );
        assert_eq!(
            hooks_of(&out),
            vec![("AfterAllowTestTraffic".to_string(), "smoke".to_string())]
        );
        let td = json!({"containerDefinitions": [{"name": "web", "portMappings": [{"containerPort": 8000}]}]});
        assert!(check_against(&out, &td).is_empty());
        let td = json!({"containerDefinitions": [{"name": "web", "portMappings": [{"containerPort": 80}]}]});
        assert!(check_against(&out, &td)[0].contains("port 8000"));
        let td = json!({"containerDefinitions": [{"name": "api"}]});
        assert!(check_against(&out, &td)[0].contains("container `web`"));
    }

    #[test]
    fn an_appspec_is_built_from_the_service() {
        let service = json!({
            "loadBalancers": [{"containerName": "web", "containerPort": 8000, "targetGroupArn": "tg"}],
            "platformVersion": "1.4.0",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}},
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        });
        let hooks = vec![("AfterAllowTestTraffic".to_string(), "smoke".to_string())];
        let spec = build(&service, &hooks).unwrap();
        let p = &spec["Resources"][0]["TargetService"]["Properties"];
        assert_eq!(p["LoadBalancerInfo"]["ContainerPort"], 8000);
        assert_eq!(p["PlatformVersion"], "1.4.0");
        assert_eq!(
            p["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"][0],
            "s-1"
        );
        assert_eq!(p["CapacityProviderStrategy"][0]["Weight"], 1);
        assert_eq!(hooks_of(&spec), hooks);
        assert!(build(&json!({}), &[])
            .unwrap_err()
            .contains("no load balancer"));
    }
}
