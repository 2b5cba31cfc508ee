//! One compose service → one container definition (the mapping table of DESIGN section 13
//! and REFERENCE Part A section 3). Task-level settings (size, network mode, dependsOn) are
//! `task.rs`'s; this file reads the service's keys, says what each became and hands each key
//! to the module that maps it (`environment`, `ports`, `health`, `deploy`, `logging`,
//! `secrets`, `settings`, `depends`).

mod depends;
mod deploy;
mod environment;
mod health;
mod logging;
mod ports;
mod secrets;
mod settings;

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{keys, Fault};

/// What the task needs to know about a service besides its container.
pub struct Env<'a> {
    pub name: &'a str,
    pub fargate: bool,
    pub network_mode: &'a str,
    /// The file's top-level `secrets`.
    pub secrets: &'a Map<String, Value>,
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The compose file's directory (`env_file` paths are relative to it).
    pub dir: &'a Path,
}

#[derive(Debug, Default)]
pub struct Mapped {
    pub container: Map<String, Value>,
    /// cpu units and MiB the container needs (limits, else reservations).
    pub cpu: u64,
    pub memory: u64,
    pub has_health: bool,
    pub replicas: Option<u64>,
    /// (the service depended on, compose condition).
    pub depends_on: Vec<(String, String)>,
    /// The service's own `network_mode`, when it gives one.
    pub network_mode: Option<String>,
    /// Variables taken from the job's env by a bare `environment` entry (name, value).
    pub host_vars: Vec<(String, String)>,
}

pub struct Out<'f> {
    pub faults: &'f mut Vec<Fault>,
    pub warnings: &'f mut Vec<String>,
}

fn at(env: &Env, rest: &[&str]) -> Vec<String> {
    let mut p = vec!["services".to_string(), env.name.to_string()];
    p.extend(rest.iter().map(|s| s.to_string()));
    p
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What kind of YAML value `v` is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A fault for each key of `map` (at `base`) outside `known`; `x-…` extension fields are the
/// user's. `what` names the mapping in the message (`healthcheck`, `logging`, …).
fn unknown_keys(
    base: &[String],
    what: &str,
    map: &Map<String, Value>,
    known: &[&str],
    out: &mut Out,
) {
    for key in map.keys() {
        if !known.contains(&key.as_str()) && !key.starts_with("x-") {
            out.faults.push(Fault::at(
                &extension_path(base, key),
                &format!(
                    "`{key}` is not a {what} key ecs-deploy maps (the keys are {}): check the spelling, or write this service's task definition as a file and deploy it with input services",
                    known.join(", ")
                ),
            ));
        }
    }
}

fn extension_path(base: &[String], key: &str) -> Vec<String> {
    super::extension::child(base, key)
}

/// Maps the service; every key not mapped is a warning or a fault.
pub fn map(env: &Env, svc: &Map<String, Value>, out: &mut Out) -> Mapped {
    let mut m = Mapped::default();
    let c = &mut m.container;
    c.insert("name".into(), json!(env.name));
    for (key, _) in svc.iter() {
        if keys::MAPPED.contains(&key.as_str()) {
            continue;
        }
        if let Some(why) = keys::warned(key) {
            out.warnings.push(format!(
                "service `{}`: key `{key}` is ignored: {why}",
                env.name
            ));
        } else if key.starts_with("x-aws-") {
            out.faults.push(Fault::at(
                &at(env, &[key]),
                &format!("key `{key}` is not deployed: {}", keys::x_aws(key)),
            ));
        } else if key.starts_with("x-") {
            // Extension fields are the user's (anchors for `<<`): nothing to deploy.
        } else {
            out.faults.push(Fault::at(
                &at(env, &[key]),
                &format!("key `{key}` cannot be mapped: {}", keys::refused(key)),
            ));
        }
    }
    match (svc.get("image").and_then(text), svc.get("build")) {
        (Some(image), build) if !image.trim().is_empty() => {
            c.insert("image".into(), json!(image));
            if build.is_some() {
                out.warnings.push(format!("service `{}`: key `build` is ignored: ecs-deploy deploys the image `{image}`; build and push it in an earlier step", env.name));
            }
        }
        _ if svc.get("image").is_some_and(|i| !i.is_null()) => out.faults.push(Fault::at(&at(env, &["image"]), "`image` must be a non-empty string naming the image ECS runs (`registry/repository:tag`)")),
        (_, Some(_)) => out.faults.push(Fault::at(&at(env, &["build"]), "has `build` but no `image`: ECS runs images from a registry; build and push the image in an earlier step (docker/build-push-action) and name it in `image`")),
        (_, None) => out.faults.push(Fault::at(&at(env, &[]), "has neither `image` nor `build`: give the `image` ECS runs")),
    }
    for (key, field) in [("command", "command"), ("entrypoint", "entryPoint")] {
        if let Some(v) = svc.get(key) {
            match words(v) {
                Ok(w) => {
                    c.insert(field.into(), json!(w));
                }
                Err(e) => out
                    .faults
                    .push(Fault::at(&at(env, &[key]), &format!("`{key}` {e}"))),
            }
        }
    }
    let host_vars = environment::environment(env, svc, c, out);
    ports::ports(env, svc, c, out);
    if let Some(h) = svc.get("healthcheck") {
        if let Some(hc) = health::healthcheck(env, h, out) {
            m.has_health = true;
            c.insert("healthCheck".into(), hc);
        }
    }
    m.host_vars = host_vars;
    deploy::deploy(env, svc, &mut m, out);
    let c = &mut m.container;
    if let Some(l) = svc.get("logging") {
        logging::logging(env, l, c, out);
    }
    secrets::secrets(env, svc, c, out);
    settings::simple(env, svc, c, out);
    if let Some(v) = svc.get("x-aws-pull_credentials") {
        match text(v) {
            Some(arn) => {
                c.insert(
                    "repositoryCredentials".into(),
                    json!({ "credentialsParameter": arn }),
                );
            }
            None => out.faults.push(Fault::at(
                &at(env, &["x-aws-pull_credentials"]),
                "must be the ARN of the Secrets Manager secret holding the registry credentials",
            )),
        }
    }
    if let Some(d) = svc.get("depends_on") {
        m.depends_on = depends::depends_on(env, d, out);
    }
    if let Some(v) = svc.get("network_mode").filter(|v| !v.is_string()) {
        out.faults.push(Fault::at(
            &at(env, &["network_mode"]),
            &format!(
                "`network_mode` must be a string, not `{}`",
                text(v).unwrap_or_default()
            ),
        ));
    }
    if let Some(n) = svc
        .get("network_mode")
        .and_then(Value::as_str)
        .map(str::to_string)
    {
        if n == "host" && env.fargate {
            out.faults.push(Fault::at(&at(env, &["network_mode"]), "`network_mode: host` is not available on Fargate (tasks run in awsvpc mode): remove it, or set x-ecs.launch_type: EC2"));
        } else if !["host", "bridge", "none", "awsvpc"].contains(&n.as_str()) {
            out.faults.push(Fault::at(&at(env, &["network_mode"]), &format!("`network_mode: {n}` has no ECS equivalent: containers of one task share the network with x-ecs.task; ECS network modes are awsvpc, bridge, host and none")));
        } else {
            m.network_mode = Some(n);
        }
    }
    m
}

/// A `command`/`entrypoint`: a list as it is; a string split like a shell (no expansion).
fn words(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| text(i).ok_or_else(|| "must be a list of strings".to_string()))
            .collect(),
        Value::String(s) => crate::oneoff::shell_words(s).map_err(|e| {
            format!("does not split into words like a shell would: {e}; give it as a list")
        }),
        Value::Null => Ok(Vec::new()),
        _ => Err("must be a string or a list of strings".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn run(svc: Value, fargate: bool) -> (Mapped, Vec<Fault>, Vec<String>) {
        let secrets = json!({"db": {"x-ecs": {"value_from": "arn:aws:ssm:us-east-1:1:parameter/db"}}, "file_only": {"file": "./x"}});
        let lookup = |n: &str| (n == "FROM_HOST").then(|| "host-value".to_string());
        let env = Env {
            name: "web",
            fargate,
            network_mode: if fargate { "awsvpc" } else { "bridge" },
            secrets: secrets.as_object().unwrap(),
            lookup: &lookup,
            dir: Path::new("/nonexistent"),
        };
        let mut faults = Vec::new();
        let mut warnings = Vec::new();
        let m = map(
            &env,
            svc.as_object().unwrap(),
            &mut Out {
                faults: &mut faults,
                warnings: &mut warnings,
            },
        );
        (m, faults, warnings)
    }

    pub(super) fn messages(f: &[Fault]) -> String {
        f.iter()
            .map(|f| format!("{}: {}", f.path.join("."), f.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Each (service, path, fragment): mapping the service gives a fault at the path whose
    /// message holds the fragment.
    pub(super) fn refuses(cases: &[(Value, &str, &str)]) {
        for (svc, path, fragment) in cases {
            let (_, faults, _) = run(svc.clone(), true);
            assert!(
                faults
                    .iter()
                    .any(|f| f.path.join(".") == *path && f.message.contains(fragment)),
                "{svc}: want {path}: {fragment}; got\n{}",
                messages(&faults)
            );
        }
    }

    #[test]
    fn each_mapped_key() {
        let (m, faults, warnings) = run(
            json!({
                "image": "nginx:1",
                "command": "gunicorn -b '0.0.0.0:80' app",
                "entrypoint": ["/bin/sh", "-c"],
                "environment": {"A": "1", "FROM_HOST": null},
                "ports": ["80", {"target": 81, "published": 81, "protocol": "udp"}],
                "expose": [9000],
                "healthcheck": {"test": "curl -f localhost", "interval": "30s", "timeout": "5s", "retries": 3, "start_period": "1m"},
                "deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "1g"}, "reservations": {"memory": "512M"}}, "replicas": 2},
                "logging": {"driver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1"}},
                "secrets": ["db", {"source": "db", "target": "DB_PASSWORD"}],
                "working_dir": "/app", "user": 1000, "read_only": true, "init": true,
                "stop_grace_period": "20s",
                "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512},
                "labels": ["team=shop"],
                "container_name": "x", "restart": "always", "networks": ["front"],
                "tty": true, "stdin_open": false, "cap_add": ["SYS_PTRACE"], "cap_drop": ["NET_RAW"],
                "x-aws-pull_credentials": "arn:aws:secretsmanager:us-east-1:1:secret:registry",
            }),
            true,
        );
        assert!(faults.is_empty(), "{}", messages(&faults));
        // Three ignored keys, and the secrets' change of meaning (files become variables).
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(
            warnings[3].contains("not files under /run/secrets"),
            "{warnings:?}"
        );
        let c = Value::Object(m.container);
        assert_eq!(c["command"], json!(["gunicorn", "-b", "0.0.0.0:80", "app"]));
        assert_eq!(c["entryPoint"], json!(["/bin/sh", "-c"]));
        assert_eq!(
            c["environment"],
            json!([{"name": "A", "value": "1"}, {"name": "FROM_HOST", "value": "host-value"}])
        );
        assert_eq!(
            c["portMappings"],
            json!([
            {"containerPort": 80, "hostPort": 80, "protocol": "tcp"},
            {"containerPort": 81, "hostPort": 81, "protocol": "udp"},
            {"containerPort": 9000, "hostPort": 9000, "protocol": "tcp"}])
        );
        assert_eq!(
            c["healthCheck"],
            json!({"command": ["CMD-SHELL", "curl -f localhost"], "interval": 30, "timeout": 5, "startPeriod": 60, "retries": 3})
        );
        assert_eq!((m.cpu, m.memory, m.replicas), (512, 1024, Some(2)));
        assert_eq!(
            c.get("cpu"),
            None,
            "Fargate: the task size, not the container's"
        );
        assert_eq!(c["memoryReservation"], json!(512));
        assert_eq!(c["logConfiguration"]["logDriver"], json!("awslogs"));
        assert_eq!(
            c["secrets"],
            json!([
            {"name": "db", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"},
            {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}])
        );
        assert_eq!(c["workingDirectory"], json!("/app"));
        assert_eq!(c["user"], json!("1000"));
        assert_eq!(c["readonlyRootFilesystem"], json!(true));
        assert_eq!(
            c["linuxParameters"],
            json!({"initProcessEnabled": true, "capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]}})
        );
        assert_eq!(
            (c["pseudoTerminal"].clone(), c["interactive"].clone()),
            (json!(true), json!(false))
        );
        assert_eq!(
            c["repositoryCredentials"],
            json!({"credentialsParameter": "arn:aws:secretsmanager:us-east-1:1:secret:registry"})
        );
        assert_eq!(c["stopTimeout"], json!(20));
        assert_eq!(
            c["ulimits"],
            json!([{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}, {"name": "nproc", "softLimit": 512, "hardLimit": 512}])
        );
        assert_eq!(c["dockerLabels"], json!({"team": "shop"}));
    }

    #[test]
    fn honest_conversions_and_warnings_for_what_ecs_cannot_carry() {
        let (m, faults, warnings) = run(
            json!({
                "image": "x",
                "ports": [{"target": 80, "published": 80, "name": "web", "app_protocol": "HTTP", "mode": "ingress"}],
                "logging": {"driver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "r", "max-buffer-size": 25}},
                "secrets": [{"source": "db", "target": "DB", "uid": "103", "gid": "103", "mode": 0o440}],
                "depends_on": {"db": {"condition": "service_started", "restart": true, "required": false}},
            }),
            true,
        );
        assert!(faults.is_empty(), "{}", messages(&faults));
        let c = Value::Object(m.container);
        assert_eq!(
            c["portMappings"],
            json!([{"containerPort": 80, "hostPort": 80, "protocol": "tcp", "name": "web", "appProtocol": "http"}])
        );
        assert_eq!(
            c["logConfiguration"]["options"]["max-buffer-size"],
            json!("25"),
            "a number is the string ECS takes"
        );
        for key in [
            "`ports.0.mode`",
            "`secrets.0.uid`",
            "`secrets.0.gid`",
            "`secrets.0.mode`",
            "`depends_on.db.restart`",
            "`depends_on.db.required`",
        ] {
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains(&format!("service `web`: key {key} is ignored"))),
                "{key}: {warnings:?}"
            );
        }
    }

    #[test]
    fn ec2_gets_container_sizes_and_bridge_ports() {
        let (m, faults, _) = run(
            json!({
                "image": "x", "privileged": true, "network_mode": "bridge",
                "ports": ["8080", "80:8080"],
                "deploy": {"resources": {"limits": {"cpus": 1, "memory": "256m"}}},
            }),
            false,
        );
        assert!(faults.is_empty(), "{}", messages(&faults));
        let c = Value::Object(m.container);
        assert_eq!(c["cpu"], json!(1024));
        assert_eq!(c["memory"], json!(256));
        assert_eq!(c["privileged"], json!(true));
        assert_eq!(
            c["portMappings"],
            json!([
            {"containerPort": 8080, "hostPort": 0, "protocol": "tcp"},
            {"containerPort": 8080, "hostPort": 80, "protocol": "tcp"}])
        );
        assert_eq!(m.network_mode.as_deref(), Some("bridge"));
    }

    #[test]
    fn container_refusals() {
        refuses(&[
            (
                json!({"build": "."}),
                "services.web.build",
                "has `build` but no `image`",
            ),
            (
                json!({"image": "x", "volumes": ["./data:/data"]}),
                "services.web.volumes",
                "host bind mount",
            ),
            (
                json!({"image": "x", "network_mode": "host"}),
                "services.web.network_mode",
                "not available on Fargate",
            ),
            (
                json!({"image": "x", "x-aws-autoscaling": {"min": 1}}),
                "services.web.x-aws-autoscaling",
                "input stack-template",
            ),
            (
                json!({"image": "x", "x-aws-role": {}}),
                "services.web.x-aws-role",
                "x-ecs.task_role",
            ),
            (
                json!({"image": "x", "command": "echo 'open"}),
                "services.web.command",
                "does not split",
            ),
            (
                json!({"image": ["nginx"]}),
                "services.web.image",
                "`image` must be a non-empty string",
            ),
            (
                json!({"image": "  ", "build": "."}),
                "services.web.image",
                "`image` must be a non-empty string",
            ),
            (
                json!({"image": "x", "bogus": 1}),
                "services.web.bogus",
                "not a compose service key",
            ),
            (
                json!({"image": "x", "network_mode": 1}),
                "services.web.network_mode",
                "must be a string",
            ),
        ]);
    }
}
