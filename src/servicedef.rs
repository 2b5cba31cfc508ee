//! Service definitions: files in the shape `CreateService` takes (what `aws ecs create-service
//! --cli-input-json` reads and ecspresso calls `service_definition`), without `cluster`,
//! `serviceName` and `taskDefinition`, which come from the inputs.
//!
//! Pure: the shape every field must have ([`check`]), the comparison with the live service
//! ([`compare`], fields the file leaves out are not compared), and the request documents for
//! `CreateService` and `UpdateService` ([`create_body`], [`update_fields`]). Files are read,
//! parsed and substituted by `render.rs` like task definitions.

use serde_json::{Map, Value};

/// The type a field must have.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Str,
    Int,
    Bool,
    OneOf(&'static [&'static str]),
    StrList,
    List(&'static Shape),
    Obj(&'static [(&'static str, Shape)]),
    /// Must be given when its object is.
    Req(&'static Shape),
    /// Any object / any array: passed to ECS as it is.
    AnyObj,
    AnyList,
}

use Shape::*;

const LAUNCH_TYPES: &[&str] = &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];

/// Every field of a `CreateService` request a definition may give.
const FIELDS: &[(&str, Shape)] = &[
    (
        "capacityProviderStrategy",
        List(&Obj(&[
            ("capacityProvider", Req(&Str)),
            ("weight", Int),
            ("base", Int),
        ])),
    ),
    ("launchType", OneOf(LAUNCH_TYPES)),
    ("platformVersion", Str),
    (
        "networkConfiguration",
        Obj(&[(
            "awsvpcConfiguration",
            Req(&Obj(&[
                ("subnets", Req(&StrList)),
                ("securityGroups", StrList),
                ("assignPublicIp", OneOf(&["ENABLED", "DISABLED"])),
            ])),
        )]),
    ),
    (
        "loadBalancers",
        List(&Obj(&[
            ("targetGroupArn", Str),
            ("loadBalancerName", Str),
            ("containerName", Str),
            ("containerPort", Int),
            ("advancedConfiguration", AnyObj),
        ])),
    ),
    (
        "serviceRegistries",
        List(&Obj(&[
            ("registryArn", Str),
            ("port", Int),
            ("containerName", Str),
            ("containerPort", Int),
        ])),
    ),
    ("desiredCount", Int),
    (
        "deploymentConfiguration",
        Obj(&[
            (
                "deploymentCircuitBreaker",
                Obj(&[("enable", Req(&Bool)), ("rollback", Req(&Bool))]),
            ),
            ("maximumPercent", Int),
            ("minimumHealthyPercent", Int),
            (
                "alarms",
                Obj(&[
                    ("alarmNames", Req(&StrList)),
                    ("enable", Req(&Bool)),
                    ("rollback", Req(&Bool)),
                ]),
            ),
            (
                "strategy",
                OneOf(&["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"]),
            ),
            ("bakeTimeInMinutes", Int),
            ("lifecycleHooks", AnyList),
            ("linearConfiguration", AnyObj),
            ("canaryConfiguration", AnyObj),
        ]),
    ),
    (
        "deploymentController",
        Obj(&[("type", Req(&OneOf(&["ECS", "CODE_DEPLOY", "EXTERNAL"])))]),
    ),
    (
        "placementConstraints",
        List(&Obj(&[
            ("type", Req(&OneOf(&["distinctInstance", "memberOf"]))),
            ("expression", Str),
        ])),
    ),
    (
        "placementStrategy",
        List(&Obj(&[
            ("type", Req(&OneOf(&["random", "spread", "binpack"]))),
            ("field", Str),
        ])),
    ),
    ("healthCheckGracePeriodSeconds", Int),
    ("schedulingStrategy", OneOf(&["REPLICA", "DAEMON"])),
    ("enableECSManagedTags", Bool),
    (
        "propagateTags",
        OneOf(&["TASK_DEFINITION", "SERVICE", "NONE"]),
    ),
    ("enableExecuteCommand", Bool),
    ("tags", List(&Obj(&[("key", Req(&Str)), ("value", Str)]))),
    ("serviceConnectConfiguration", AnyObj),
    ("volumeConfigurations", AnyList),
    ("vpcLatticeConfigurations", AnyList),
    (
        "availabilityZoneRebalancing",
        OneOf(&["ENABLED", "DISABLED"]),
    ),
    ("role", Str),
];

/// Fields of a `DescribeServices` answer that a request does not take: a described service
/// saved as a definition works once they are dropped.
const READ_ONLY: &[&str] = &[
    "serviceArn",
    "clusterArn",
    "status",
    "runningCount",
    "pendingCount",
    "deployments",
    "taskSets",
    "events",
    "createdAt",
    "createdBy",
    "roleArn",
    "platformFamily",
    "currentServiceDeployment",
    "currentServiceRevisions",
    "resourceManagementType",
];

/// Fields DescribeServices shows on each deployment, not on the service.
const PER_DEPLOYMENT: &[&str] = &[
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
];

/// A field of the live service as DescribeServices gives it (`Null` when absent).
fn live_value(live: &Value, k: &str) -> Value {
    let v = match k {
        "role" => live.get("roleArn"),
        // Given per deployment: the PRIMARY one's counts.
        k if PER_DEPLOYMENT.contains(&k) => primary(live).and_then(|d| d.get(k)),
        _ => live.get(k),
    };
    v.cloned().unwrap_or(Value::Null)
}

fn primary(live: &Value) -> Option<&Value> {
    live.get("deployments")?
        .as_array()?
        .iter()
        .find(|d| d.get("status").and_then(Value::as_str) == Some("PRIMARY"))
}

/// Fields `UpdateService` cannot change on an existing service.
const IMMUTABLE: &[&str] = &["launchType", "schedulingStrategy", "role"];

/// Fields used only when the service is created (`desiredCount`, so auto-scaling is never
/// fought) or applied by other calls (`tags`).
const NOT_UPDATED: &[&str] = &["desiredCount", "tags"];

/// One thing wrong with a definition: the field (a dotted path) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub field: String,
    pub message: String,
}

/// Checks a substituted definition against the `CreateService` shape, converting numbers
/// and booleans given as strings (a placeholder always renders to a string), and drops the
/// read-only fields of a described service. `service` is the service it is for.
pub(crate) fn check(doc: &mut Value, service: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(obj) = doc.as_object_mut() else {
        return vec![Problem {
            field: String::new(),
            message: "a service definition is an object of CreateService fields (launchType, networkConfiguration, …)".into(),
        }];
    };
    // A saved `aws ecs describe-services` entry: its task definition is the inputs' to
    // give, and tags under `aws:` are AWS's own (CreateService refuses them).
    let described = obj.contains_key("serviceArn") || obj.contains_key("deployments");
    if described {
        obj.remove("taskDefinition");
        if let Some(Value::Array(tags)) = obj.get_mut("tags") {
            tags.retain(|t| !t["key"].as_str().is_some_and(|k| k.starts_with("aws:")));
        }
    }
    for k in READ_ONLY {
        obj.remove(*k);
    }
    for (k, why) in [
        ("cluster", "it is input cluster"),
        ("taskDefinition", "it is the service's task definition input (a file, or a registered revision to promote)"),
        ("clientToken", "ecs-deploy sends its own, derived from the run, so a retried call never creates two services"),
    ] {
        if obj.remove(k).is_some() {
            problems.push(Problem {
                field: k.into(),
                message: format!("field `{k}` is not given in a service definition: {why}; remove it"),
            });
        }
    }
    if let Some(name) = obj.remove("serviceName") {
        if name.as_str() != Some(crate::arn::last_segment(service)) {
            problems.push(Problem {
                field: "serviceName".into(),
                message: format!(
                    "field `serviceName` is {name} but the definition is for service `{service}`: remove the field (the service's name comes from the inputs)"
                ),
            });
        }
    }
    check_obj(obj, FIELDS, "", &mut problems);
    if obj.contains_key("launchType") && obj.contains_key("capacityProviderStrategy") {
        problems.push(Problem {
            field: "launchType".into(),
            message: "`launchType` and `capacityProviderStrategy` exclude each other: keep one (a capacity-provider strategy, or none for the cluster's default)".into(),
        });
    }
    problems
}

fn check_obj(
    obj: &mut Map<String, Value>,
    fields: &[(&str, Shape)],
    at: &str,
    problems: &mut Vec<Problem>,
) {
    for (k, v) in obj.iter_mut() {
        let path = join(at, k);
        match fields.iter().find(|(name, _)| name == k) {
            Some((_, shape)) => check_value(v, *shape, &path, problems),
            None => problems.push(Problem {
                message: format!(
                    "field `{path}` is not a CreateService field{}",
                    near(k, fields)
                ),
                field: path,
            }),
        }
    }
    for (name, shape) in fields {
        if matches!(shape, Req(_)) && !obj.contains_key(*name) {
            let path = join(at, name);
            problems.push(Problem {
                message: format!("field `{path}` is required here: add it"),
                field: path,
            });
        }
    }
}

fn check_value(v: &mut Value, shape: Shape, path: &str, problems: &mut Vec<Problem>) {
    // A stack output before the stack ran: its value is known after it (checked again then).
    if v.as_str().is_some_and(crate::subst::is_stack_placeholder) {
        return;
    }
    let mut wrong = |want: &str, v: &Value| {
        problems.push(Problem {
            field: path.to_string(),
            message: format!(
                "field `{path}` must be {want}, not {}",
                crate::taskdef::kind(v)
            ),
        })
    };
    match shape {
        Req(inner) => check_value(v, *inner, path, problems),
        Str => {
            if !v.is_string() {
                wrong("a string", v);
            }
        }
        Int => {
            if let Some(n) = v.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
                *v = Value::from(n);
            }
            if !(v.is_i64() || v.is_u64()) {
                wrong("a whole number", v);
            }
        }
        Bool => {
            match v.as_str() {
                Some("true") => *v = Value::Bool(true),
                Some("false") => *v = Value::Bool(false),
                _ => {}
            }
            if !v.is_boolean() {
                wrong("true or false", v);
            }
        }
        OneOf(values) => match v.as_str() {
            Some(s) if values.contains(&s) => {}
            Some(s) => problems.push(Problem {
                field: path.to_string(),
                message: format!(
                    "field `{path}` is `{s}`, which is not one of {}",
                    values.join(", ")
                ),
            }),
            None => wrong("a string", v),
        },
        StrList => match v.as_array() {
            Some(items) if items.iter().all(Value::is_string) => {}
            _ => wrong("a list of strings", v),
        },
        List(item) => match v.as_array_mut() {
            Some(items) => {
                for (i, it) in items.iter_mut().enumerate() {
                    check_value(it, *item, &format!("{path}[{i}]"), problems);
                }
            }
            None => wrong("a list", v),
        },
        Obj(fields) => match v.as_object_mut() {
            Some(obj) => check_obj(obj, fields, path, problems),
            None => wrong("an object", v),
        },
        AnyObj => {
            if !v.is_object() {
                wrong("an object", v);
            }
        }
        AnyList => {
            if !v.is_array() {
                wrong("a list", v);
            }
        }
    }
}

fn join(at: &str, k: &str) -> String {
    if at.is_empty() {
        k.to_string()
    } else {
        format!("{at}.{k}")
    }
}

/// "(did you mean `x`?)" for a field that differs from a known one only in case.
fn near(k: &str, fields: &[(&str, Shape)]) -> String {
    match fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)) {
        Some((n, _)) => format!(": did you mean `{n}`?"),
        None => format!(
            ": remove it, or use one of {}",
            fields
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Problems a definition has with the task definition it runs: network configuration is for
/// the awsvpc network mode only, and awsvpc needs one when the service is created.
pub(crate) fn check_with_task(def: &Value, task: &Value, creating: bool) -> Vec<Problem> {
    let mode = task
        .get("networkMode")
        .and_then(Value::as_str)
        .unwrap_or("bridge");
    let has_network = def.get("networkConfiguration").is_some();
    let mut problems = Vec::new();
    if has_network && mode != "awsvpc" {
        problems.push(Problem {
            field: "networkConfiguration".into(),
            message: format!(
                "field `networkConfiguration` is for the awsvpc network mode only, and the task definition uses `{mode}`: remove it, or set the task definition's networkMode to awsvpc"
            ),
        });
    }
    if creating && !has_network && mode == "awsvpc" {
        problems.push(Problem {
            field: "networkConfiguration".into(),
            message: "the task definition uses the awsvpc network mode, so creating the service needs `networkConfiguration.awsvpcConfiguration` (subnets and security groups): add it".into(),
        });
    }
    problems
}

/// How a definition differs from the live service.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Changes {
    /// The fields to send in `UpdateService`, as the definition has them.
    pub fields: Map<String, Value>,
    /// One line per changed field, for the log, the plan and the summary.
    pub summary: Vec<String>,
    /// A capacity-provider-strategy change: ECS applies it only with a new deployment.
    pub force: bool,
    /// Tags to add or change (`TagResource`); tags the service has beyond these stay.
    pub tags: Vec<Value>,
    /// Fields `UpdateService` cannot change, with why.
    pub immutable: Vec<Problem>,
}

impl Changes {
    /// The values the changed fields had on the live service, for the undo: a field the
    /// service did not have is left as it is now (UpdateService cannot unset most fields).
    pub(crate) fn previous(&self, live: &Value) -> Map<String, Value> {
        self.fields
            .keys()
            .filter_map(|k| {
                let v = live_value(live, k);
                (!v.is_null()).then(|| (k.clone(), v))
            })
            .collect()
    }
}

/// Compares a checked definition with the service as DescribeServices gave it. Only what the
/// file gives is compared, recursively: an ECS default the file leaves out is never a change.
pub(crate) fn compare(def: &Value, live: &Value, service: &str) -> Changes {
    let mut c = Changes::default();
    let Some(def) = def.as_object() else {
        return c;
    };
    let controller = live
        .pointer("/deploymentController/type")
        .and_then(Value::as_str)
        .unwrap_or("ECS");
    for (k, want) in def {
        if NOT_UPDATED.contains(&k.as_str()) {
            continue;
        }
        let have = live_value(live, k);
        let same = match k.as_str() {
            "role" => {
                let name = |v: &Value| {
                    v.as_str()
                        .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
                };
                name(want) == name(&have) || (have.is_null() && is_empty(want))
            }
            _ => subset(want, &have),
        };
        let on_strategy = live
            .get("capacityProviderStrategy")
            .is_some_and(|v| !is_empty(v));
        // Said once, below: a service on a capacity-provider strategy has no launch type.
        if same || (k == "launchType" && on_strategy) {
            continue;
        }
        let shown = format!("{k}: {} → {}", brief(&have), brief(want));
        if IMMUTABLE.contains(&k.as_str()) {
            c.immutable.push(Problem {
                field: k.clone(),
                message: format!(
                    "field `{k}` is {} in the definition but {} on service `{service}`, and UpdateService cannot change it: give the service's value, or recreate the service (delete it, then deploy: a missing service is created from its definition)",
                    brief(want),
                    brief(&have)
                ),
            });
            continue;
        }
        if k == "capacityProviderStrategy" {
            c.force = true;
        }
        if k == "loadBalancers" && controller == "CODE_DEPLOY" {
            c.immutable.push(Problem {
                field: k.clone(),
                message: format!(
                    "field `loadBalancers` differs from service `{service}`, which CodeDeploy deploys: UpdateService cannot change its load balancers; change them in the CodeDeploy deployment group, or recreate the service"
                ),
            });
            continue;
        }
        if k == "deploymentController" {
            c.immutable.push(Problem {
                field: k.clone(),
                message: format!(
                    "field `deploymentController` is {} in the definition but {} on service `{service}`: ecs-deploy does not switch a running service's controller (it would change how this very deploy rolls out); switch it once with `aws ecs update-service --deployment-controller`, or recreate the service",
                    brief(want),
                    brief(&have)
                ),
            });
            continue;
        }
        c.summary.push(shown);
        c.fields.insert(k.clone(), want.clone());
    }
    // Moving from a launch type to a capacity-provider strategy is allowed; back is not.
    if def.contains_key("launchType")
        && live
            .get("capacityProviderStrategy")
            .is_some_and(|v| !is_empty(v))
    {
        c.immutable.push(Problem {
            field: "launchType".into(),
            message: format!(
                "field `launchType` is given, but service `{service}` runs on a capacity-provider strategy, and UpdateService cannot move it back to a launch type: give `capacityProviderStrategy` instead, or recreate the service"
            ),
        });
    }
    if let Some(tags) = def.get("tags").and_then(Value::as_array) {
        let live_tags = live.get("tags").and_then(Value::as_array);
        for t in tags {
            let found = live_tags.is_some_and(|l| l.iter().any(|lt| subset(t, lt)));
            if !found {
                c.summary.push(format!(
                    "tag {}: {}",
                    t.get("key").and_then(Value::as_str).unwrap_or_default(),
                    brief(t.get("value").unwrap_or(&Value::Null))
                ));
                c.tags.push(t.clone());
            }
        }
    }
    c
}

/// Whether the live service already has every one of `fields` (as an UpdateService that
/// took effect leaves it).
pub(crate) fn holds(fields: &Map<String, Value>, live: &Value) -> bool {
    fields.iter().all(|(k, v)| subset(v, &live_value(live, k)))
}

/// Empty values the API treats as absent.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// `want` holds for `have`: every key `want` gives is the same in `have` (recursively),
/// lists are compared without regard to order, numbers by value.
fn subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (w, Value::Null) => is_empty(w),
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| subset(v, h.get(k).unwrap_or(&Value::Null))),
        (Value::Array(w), Value::Array(h)) => {
            if w.len() != h.len() {
                return false;
            }
            let mut used = vec![false; h.len()];
            w.iter().all(|item| {
                let hit = h
                    .iter()
                    .enumerate()
                    .find(|(i, x)| !used[*i] && subset(item, x))
                    .map(|(i, _)| i);
                if let Some(i) = hit {
                    used[i] = true;
                }
                hit.is_some()
            })
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (w, h) => w == h,
    }
}

/// A value in one short line.
fn brief(v: &Value) -> String {
    let s = match v {
        Value::Null => "(not set)".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

/// The `CreateService` request for a service created from its definition.
pub(crate) fn create_body(
    def: &Value,
    cluster: &str,
    service: &str,
    task_definition: &str,
    client_token: &str,
) -> Value {
    let mut body = def.as_object().cloned().unwrap_or_default();
    body.insert("cluster".into(), cluster.into());
    body.insert(
        "serviceName".into(),
        crate::arn::last_segment(service).into(),
    );
    body.insert("taskDefinition".into(), task_definition.into());
    body.insert("clientToken".into(), client_token.into());
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(mut doc: Value) -> Vec<String> {
        check(&mut doc, "app")
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn a_full_definition_passes_and_placeholders_become_numbers() {
        let mut doc = json!({
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": "1", "base": 1}],
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}},
            "desiredCount": "2",
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": "true", "rollback": true}},
            "enableExecuteCommand": false,
            "tags": [{"key": "team", "value": "data"}]
        });
        assert_eq!(check(&mut doc, "app"), vec![]);
        assert_eq!(doc["desiredCount"], json!(2));
        assert_eq!(doc["capacityProviderStrategy"][0]["weight"], json!(1));
        assert_eq!(
            doc["deploymentConfiguration"]["deploymentCircuitBreaker"]["enable"],
            json!(true)
        );
    }

    #[test]
    fn unknown_fields_wrong_types_and_conflicts_are_named() {
        let p = problems(json!({"launchtype": "FARGATE"}));
        assert!(
            p[0].contains("`launchtype`") && p[0].contains("did you mean `launchType`"),
            "{p:?}"
        );
        let p = problems(json!({"desiredCount": "two"}));
        assert!(
            p[0].contains("`desiredCount` must be a whole number, not a string"),
            "{p:?}"
        );
        let p = problems(
            json!({"networkConfiguration": {"awsvpcConfiguration": {"securityGroups": ["sg"]}}}),
        );
        assert!(
            p[0].contains("`networkConfiguration.awsvpcConfiguration.subnets` is required"),
            "{p:?}"
        );
        let p = problems(
            json!({"launchType": "FARGATE", "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]}),
        );
        assert!(p[0].contains("exclude each other"), "{p:?}");
        let p = problems(json!({"launchType": "SPOT"}));
        assert!(p[0].contains("not one of EC2, FARGATE"), "{p:?}");
        let p = problems(json!({"taskDefinition": "x:1", "serviceName": "other"}));
        assert_eq!(p.len(), 2, "{p:?}");
        let p = problems(json!({"loadBalancers": [{"containerPort": "http"}]}));
        assert!(
            p[0].contains("`loadBalancers[0].containerPort` must be a whole number"),
            "{p:?}"
        );
    }

    #[test]
    fn a_described_service_is_a_definition_once_its_read_only_fields_go() {
        let mut doc = json!({"serviceArn": "arn", "serviceName": "app", "status": "ACTIVE",
            "runningCount": 1, "deployments": [], "events": [], "launchType": "FARGATE",
            "taskDefinition": "arn:aws:ecs:us-east-1:1:task-definition/app:3",
            "tags": [{"key": "aws:cloudformation:stack-name", "value": "s"}, {"key": "team", "value": "data"}]});
        assert_eq!(check(&mut doc, "app"), vec![]);
        assert_eq!(
            doc,
            json!({"launchType": "FARGATE", "tags": [{"key": "team", "value": "data"}]})
        );
    }

    #[test]
    fn network_configuration_follows_the_network_mode() {
        let def = json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s"]}}});
        let bridge = json!({"networkMode": "bridge"});
        assert!(check_with_task(&def, &bridge, false)[0]
            .message
            .contains("uses `bridge`"));
        assert!(
            check_with_task(&json!({}), &json!({"networkMode": "awsvpc"}), true)[0]
                .message
                .contains("needs `networkConfiguration")
        );
        assert_eq!(
            check_with_task(&json!({}), &json!({"networkMode": "awsvpc"}), false),
            vec![]
        );
    }

    #[test]
    fn only_given_fields_are_compared_and_order_does_not_matter() {
        let live = json!({
            "launchType": "FARGATE", "platformVersion": "LATEST", "desiredCount": 4,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["b", "a"], "securityGroups": ["sg"], "assignPublicIp": "DISABLED"}},
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100, "deploymentCircuitBreaker": {"enable": true, "rollback": true}},
            "enableExecuteCommand": false,
            "tags": [{"key": "team", "value": "data"}, {"key": "aws:cloudformation:stack-name", "value": "s"}]
        });
        let def = json!({
            "launchType": "FARGATE", "desiredCount": 1,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["a", "b"], "securityGroups": ["sg"]}},
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}},
            "tags": [{"key": "team", "value": "data"}]
        });
        assert_eq!(compare(&def, &live, "app"), Changes::default());
    }

    #[test]
    fn changes_immutable_fields_and_capacity_providers() {
        let live = json!({"launchType": "FARGATE", "healthCheckGracePeriodSeconds": 0, "roleArn": "arn:aws:iam::1:role/ecs"});
        let def = json!({
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
            "healthCheckGracePeriodSeconds": 60,
            "role": "ecs",
            "tags": [{"key": "team", "value": "data"}]
        });
        let c = compare(&def, &live, "app");
        assert!(c.force);
        assert_eq!(
            c.fields.keys().collect::<Vec<_>>(),
            ["capacityProviderStrategy", "healthCheckGracePeriodSeconds"]
        );
        assert_eq!(c.tags, vec![json!({"key": "team", "value": "data"})]);
        assert!(c.immutable.is_empty(), "{:?}", c.immutable);
        let c = compare(&json!({"launchType": "EC2"}), &live, "app");
        assert!(
            c.immutable[0]
                .message
                .contains("UpdateService cannot change it"),
            "{:?}",
            c.immutable
        );
        let spot = json!({"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]});
        let c = compare(&json!({"launchType": "FARGATE"}), &spot, "app");
        assert!(
            c.immutable[0].message.contains("cannot move it back"),
            "{:?}",
            c.immutable
        );
    }
}
