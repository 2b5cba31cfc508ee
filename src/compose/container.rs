//! One compose service → one container definition (the mapping table of DESIGN section 13
//! and REFERENCE Part A section 3). Task-level settings (size, network mode, dependsOn) are
//! `task.rs`'s; this file reads the service's keys and says what each became.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{keys, units, Fault};

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
    let host_vars = environment(env, svc, c, out);
    ports(env, svc, c, out);
    if let Some(h) = svc.get("healthcheck") {
        if let Some(hc) = healthcheck(env, h, out) {
            m.has_health = true;
            c.insert("healthCheck".into(), hc);
        }
    }
    m.host_vars = host_vars;
    deploy(env, svc, &mut m, out);
    let c = &mut m.container;
    if let Some(l) = svc.get("logging") {
        logging(env, l, c, out);
    }
    secrets(env, svc, c, out);
    simple(env, svc, c, out);
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
        m.depends_on = depends_on(env, d, out);
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

/// `env_file` then `environment` (which wins, as in compose), into `environment[]`.
fn environment(
    env: &Env,
    svc: &Map<String, Value>,
    c: &mut Map<String, Value>,
    out: &mut Out,
) -> Vec<(String, String)> {
    let mut taken = Vec::new();
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut put = |k: String, v: String| match vars.iter_mut().find(|(n, _)| *n == k) {
        Some(slot) => slot.1 = v,
        None => vars.push((k, v)),
    };
    if let Some(files) = svc.get("env_file") {
        let list: Vec<(Value, bool)> = match files {
            Value::String(_) => vec![(files.clone(), true)],
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(n, i)| match i {
                    Value::Object(o) => {
                        let here = at(env, &["env_file", &n.to_string()]);
                        unknown_keys(&here, "env_file", o, &["path", "required", "format"], out);
                        if let Some(f) = o.get("format").filter(|f| f.as_str() != Some("dotenv")) {
                            out.faults.push(Fault::at(&extension_path(&here, "format"), &format!("env_file format `{}` is not read: ecs-deploy reads dotenv files (NAME=value lines)", text(f).unwrap_or_default())));
                        }
                        let required = match o.get("required") {
                            None => true,
                            Some(r) => boolean(r).unwrap_or_else(|| {
                                out.faults.push(Fault::at(&extension_path(&here, "required"), "env_file `required` must be true or false"));
                                true
                            }),
                        };
                        (o.get("path").cloned().unwrap_or(Value::Null), required)
                    }
                    other => (other.clone(), true),
                })
                .collect(),
            _ => vec![(Value::Null, true)],
        };
        for (i, (path, required)) in list.into_iter().enumerate() {
            let here = at(env, &["env_file", &i.to_string()]);
            let Some(path) = path.as_str() else {
                out.faults.push(Fault::at(
                    &here,
                    "env_file must be a path or a list of paths",
                ));
                continue;
            };
            let rel = Path::new(path);
            if rel.is_absolute()
                || rel
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                out.faults.push(Fault::at(&here, &format!("env_file `{path}` is outside the compose file's directory: give a path inside it")));
                continue;
            }
            let full = env.dir.join(rel);
            if !required && !full.exists() {
                continue;
            }
            match crate::document::read(&full, crate::document::Kind::Parameters) {
                Ok(text) => match parse_env_file(&text) {
                    Ok(lines) => {
                        // Values are interpolated as the compose file is (single-quoted ones
                        // are literal), from the file's earlier lines, then the job's env.
                        let mut earlier: Vec<(String, String)> = Vec::new();
                        for l in lines {
                            let value = if l.literal {
                                l.value
                            } else {
                                let lookup = |name: &str| {
                                    earlier
                                        .iter()
                                        .rev()
                                        .find(|(n, _)| n == name)
                                        .map(|(_, v)| v.clone())
                                        .or_else(|| (env.lookup)(name))
                                };
                                let (value, used, issues) =
                                    super::interpolate::string(&l.value, &lookup);
                                for i in issues {
                                    out.faults.push(Fault::at(
                                        &here,
                                        &format!(
                                            "env_file `{path}`, line {}: {}",
                                            l.line, i.message
                                        ),
                                    ));
                                }
                                for u in used {
                                    if crate::subst::looks_secret(&u.name) {
                                        out.warnings.push(format!("variable {} looks secret and is interpolated into the plain `environment` of service `{}` (env_file `{path}`): ECS stores `environment` in plain text, readable by anyone with ecs:DescribeTaskDefinition; move it to the service's `secrets` with an SSM Parameter Store parameter or a Secrets Manager secret", u.name, env.name));
                                    }
                                    taken.push((u.name, u.value));
                                }
                                value
                            };
                            earlier.push((l.name.clone(), value.clone()));
                            put(l.name, value);
                        }
                    }
                    Err((line, e)) => out.faults.push(Fault::at(
                        &here,
                        &format!("env_file `{path}`, line {line}: {e}"),
                    )),
                },
                Err(p) => out.faults.push(Fault::at(
                    &here,
                    &format!("env_file `{path}`: {}", p.message),
                )),
            }
        }
    }
    let mut from_host = |name: &str, path: Vec<String>, out: &mut Out| -> Option<String> {
        match (env.lookup)(name) {
            Some(v) => {
                taken.push((name.to_string(), v.clone()));
                Some(v)
            }
            None => {
                out.faults.push(Fault::at(&path, &format!("environment variable `{name}` has no value here and is not set in the job's env: give it a value (`{name}=value`), or set it in the job")));
                None
            }
        }
    };
    match svc.get("environment") {
        None => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let value = match v {
                    Value::Null => from_host(k, at(env, &["environment", k]), out),
                    other => {
                        let t = text(other);
                        if t.is_none() {
                            out.faults.push(Fault::at(
                                &at(env, &["environment", k]),
                                "an environment value must be a string, a number or a boolean",
                            ));
                        }
                        t
                    }
                };
                if let Some(value) = value {
                    put(k.clone(), value);
                }
            }
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Some(s) = item.as_str() else {
                    out.faults.push(Fault::at(
                        &at(env, &["environment", &i.to_string()]),
                        "environment entries must be `NAME=value` strings",
                    ));
                    continue;
                };
                match s.split_once('=') {
                    Some((k, v)) => put(k.to_string(), v.to_string()),
                    None => {
                        if let Some(v) =
                            from_host(s, at(env, &["environment", &i.to_string()]), out)
                        {
                            put(s.to_string(), v);
                        }
                    }
                }
            }
        }
        Some(_) => out.faults.push(Fault::at(
            &at(env, &["environment"]),
            "environment must be a mapping or a list of NAME=value",
        )),
    }
    if !vars.is_empty() {
        let list: Vec<Value> = vars
            .into_iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect();
        c.insert("environment".into(), Value::Array(list));
    }
    taken
}

/// One `NAME=value` line of an env file.
struct EnvLine {
    name: String,
    value: String,
    /// Single-quoted: not interpolated.
    literal: bool,
    line: usize,
}

/// `KEY=VALUE` lines; `#` comments, blank lines, `export `, and quoted values.
fn parse_env_file(text: &str) -> Result<Vec<EnvLine>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.strip_prefix("export ").unwrap_or(t);
        let Some((k, v)) = t.split_once('=') else {
            // The line is not echoed: it may be part of a secret (a multi-line key).
            return Err((
                i + 1,
                "is not NAME=value (values that span several lines are not supported: put such a value in an SSM parameter or a Secrets Manager secret)".to_string(),
            ));
        };
        let v = v.trim();
        let literal = v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'');
        let v = if v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || literal) {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.push(EnvLine {
            name: k.trim().to_string(),
            value: v.to_string(),
            literal,
            line: i + 1,
        });
    }
    Ok(out)
}

fn port_number(s: &str) -> Option<u64> {
    s.parse::<u64>().ok().filter(|p| (1..=65535).contains(p))
}

/// `ports` (short and long syntax) and `expose` into `portMappings`.
fn ports(env: &Env, svc: &Map<String, Value>, c: &mut Map<String, Value>, out: &mut Out) {
    let mut mappings = Vec::new();
    let same_port = env.network_mode == "awsvpc" || env.network_mode == "host";
    if let Some(v) = svc.get("ports") {
        let Value::Array(items) = v else {
            out.faults
                .push(Fault::at(&at(env, &["ports"]), "ports must be a list"));
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let here = at(env, &["ports", &i.to_string()]);
            let mut extra = Map::new();
            let (host_ip, published, target, protocol) = match item {
                Value::Object(o) => {
                    unknown_keys(
                        &here,
                        "ports",
                        o,
                        &[
                            "target",
                            "published",
                            "host_ip",
                            "protocol",
                            "mode",
                            "name",
                            "app_protocol",
                        ],
                        out,
                    );
                    if let Some(mode) = o.get("mode") {
                        out.warnings.push(format!("service `{}`: key `ports.{i}.mode` is ignored: `{}` is a swarm publishing mode; ECS publishes a task's ports through its network mode and the load balancer", env.name, text(mode).unwrap_or_default()));
                    }
                    if let Some(n) = o.get("name") {
                        match n.as_str() {
                            Some(n) if !n.is_empty() => {
                                extra.insert("name".into(), json!(n));
                            }
                            _ => out.faults.push(Fault::at(
                                &extension_path(&here, "name"),
                                "a port's `name` must be a non-empty string",
                            )),
                        }
                    }
                    if let Some(a) = o.get("app_protocol") {
                        match a.as_str().map(str::to_ascii_lowercase).as_deref() {
                            Some(p @ ("http" | "http2" | "grpc")) => {
                                extra.insert("appProtocol".into(), json!(p));
                            }
                            _ => out.faults.push(Fault::at(
                                &extension_path(&here, "app_protocol"),
                                &format!(
                                    "app_protocol `{}` is not one ECS takes: http, http2 or grpc",
                                    text(a).unwrap_or_default()
                                ),
                            )),
                        }
                    }
                    (
                        o.get("host_ip").and_then(text),
                        o.get("published").and_then(text),
                        o.get("target").and_then(text).unwrap_or_default(),
                        o.get("protocol")
                            .and_then(text)
                            .unwrap_or_else(|| "tcp".into()),
                    )
                }
                other => {
                    let s = text(other).unwrap_or_default();
                    let (spec, protocol) = match s.rsplit_once('/') {
                        Some((a, p)) => (a.to_string(), p.to_string()),
                        None => (s.clone(), "tcp".to_string()),
                    };
                    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
                    match parts.as_slice() {
                        [t] => (None, None, t.to_string(), protocol),
                        [t, p] => (None, Some(p.to_string()), t.to_string(), protocol),
                        [t, p, ip] => (
                            Some(ip.to_string()),
                            Some(p.to_string()),
                            t.to_string(),
                            protocol,
                        ),
                        _ => (None, None, String::new(), protocol),
                    }
                }
            };
            if target.contains('-') || published.as_deref().is_some_and(|p| p.contains('-')) {
                out.faults.push(Fault::at(&here, &format!("port range `{}` cannot be mapped: ECS port mappings name single ports; list each port, or put the range in a task-definition file (containerPortRange)", text(item).unwrap_or_else(|| target.clone()))));
                continue;
            }
            let Some(container_port) = port_number(&target) else {
                out.faults.push(Fault::at(
                    &here,
                    &format!(
                        "port `{}` is not a port number (1-65535)",
                        text(item).unwrap_or(target)
                    ),
                ));
                continue;
            };
            if host_ip.as_deref().is_some_and(|ip| !ip.is_empty()) {
                out.faults.push(Fault::at(&here, "a host IP cannot be given on ECS: remove it (the security groups decide who can connect)"));
                continue;
            }
            if !["tcp", "udp"].contains(&protocol.as_str()) {
                out.faults.push(Fault::at(
                    &here,
                    &format!("protocol `{protocol}` is not tcp or udp"),
                ));
                continue;
            }
            let host_port = match published.as_deref().filter(|p| !p.is_empty()) {
                Some(p) => match port_number(p) {
                    Some(h) => Some(h),
                    None => {
                        out.faults.push(Fault::at(
                            &here,
                            &format!("published port `{p}` is not a port number (1-65535)"),
                        ));
                        continue;
                    }
                },
                None => None,
            };
            let mut pm = json!({"containerPort": container_port, "protocol": protocol});
            for (k, v) in extra {
                pm[k] = v;
            }
            match host_port {
                Some(h) if same_port && h != container_port => {
                    out.faults.push(Fault::at(&here, &format!("publishes container port {container_port} on port {h}: under {} the host port is the container port; publish `{container_port}:{container_port}` and let the load balancer's listener use port {h}", env.network_mode)));
                    continue;
                }
                Some(h) => pm["hostPort"] = json!(h),
                None if same_port => pm["hostPort"] = json!(container_port),
                None => pm["hostPort"] = json!(0),
            }
            mappings.push(pm);
        }
    }
    if let Some(v) = svc.get("expose").filter(|v| !v.is_array()) {
        out.faults.push(Fault::at(
            &at(env, &["expose"]),
            &format!(
                "expose must be a list of port numbers, not `{}`",
                text(v).unwrap_or_default()
            ),
        ));
    }
    if let Some(Value::Array(items)) = svc.get("expose") {
        for (i, item) in items.iter().enumerate() {
            match text(item).as_deref().and_then(port_number) {
                Some(p) if same_port => mappings.push(json!({"containerPort": p, "hostPort": p, "protocol": "tcp"})),
                Some(_) => out.warnings.push(format!("service `{}`: `expose` is ignored in {} mode: containers of a task reach each other through links or the host's ports; publish the port with `ports` if others must reach it", env.name, env.network_mode)),
                None => out.faults.push(Fault::at(&at(env, &["expose", &i.to_string()]), "expose entries must be single port numbers")),
            }
        }
    }
    if !mappings.is_empty() {
        c.insert("portMappings".into(), Value::Array(mappings));
    }
}

/// `healthcheck` → `healthCheck`; `None` when disabled.
fn healthcheck(env: &Env, h: &Value, out: &mut Out) -> Option<Value> {
    let base = at(env, &["healthcheck"]);
    let Value::Object(h) = h else {
        out.faults
            .push(Fault::at(&base, "healthcheck must be a mapping"));
        return None;
    };
    unknown_keys(
        &base,
        "healthcheck",
        h,
        &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
        out,
    );
    if h.get("disable").and_then(boolean) == Some(true) {
        return None;
    }
    let command: Vec<String> = match h.get("test") {
        Some(Value::String(s)) => vec!["CMD-SHELL".into(), s.clone()],
        Some(Value::Array(items)) if items.iter().all(|i| i.is_string()) => {
            items.iter().filter_map(text).collect()
        }
        _ => {
            out.faults.push(Fault::at(
                &base,
                "healthcheck needs `test` (a string, or [\"CMD\", ...] / [\"CMD-SHELL\", \"...\"])",
            ));
            return None;
        }
    };
    match command.first().map(String::as_str) {
        Some("NONE") => return None,
        Some("CMD") | Some("CMD-SHELL") if command.len() > 1 => {}
        _ => {
            out.faults.push(Fault::at(
                &extension_path(&base, "test"),
                "healthcheck test must start with CMD or CMD-SHELL and give the command",
            ));
            return None;
        }
    }
    let mut hc = json!({ "command": command });
    for (key, field, min, max) in [
        ("interval", "interval", 5, 300),
        ("timeout", "timeout", 2, 60),
        ("start_period", "startPeriod", 0, 300),
    ] {
        if let Some(v) = h.get(key) {
            match units::seconds(v) {
                Ok(s) if (min..=max).contains(&s) => hc[field] = json!(s),
                Ok(s) => out.faults.push(Fault::at(
                    &extension_path(&base, key),
                    &format!("healthcheck {key} is {s} s; ECS accepts {min} to {max} s"),
                )),
                Err(e) => out.faults.push(Fault::at(
                    &extension_path(&base, key),
                    &format!("healthcheck {key} {e}"),
                )),
            }
        }
    }
    if let Some(v) = h.get("retries") {
        match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        {
            Some(r) if (1..=10).contains(&r) => hc["retries"] = json!(r),
            _ => out.faults.push(Fault::at(
                &extension_path(&base, "retries"),
                &format!("healthcheck retries `{v}`: ECS accepts 1 to 10"),
            )),
        }
    }
    if h.contains_key("start_interval") {
        out.faults.push(Fault::at(
            &extension_path(&base, "start_interval"),
            "ECS health checks have no start interval: remove it (startPeriod is start_period)",
        ));
    }
    Some(hc)
}

fn extension_path(base: &[String], key: &str) -> Vec<String> {
    super::extension::child(base, key)
}

/// `deploy.resources` and `deploy.replicas`; the rest of `deploy` is refused with the
/// service-definition field to use.
fn deploy(env: &Env, svc: &Map<String, Value>, m: &mut Mapped, out: &mut Out) {
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

/// Log drivers Fargate runs (the LogConfiguration reference).
const FARGATE_LOG_DRIVERS: &[&str] = &["awslogs", "splunk", "awsfirelens"];

fn logging(env: &Env, l: &Value, c: &mut Map<String, Value>, out: &mut Out) {
    let base = at(env, &["logging"]);
    let Value::Object(lm) = l else {
        out.faults.push(Fault::at(
            &base,
            "logging must be a mapping (driver, options)",
        ));
        return;
    };
    unknown_keys(&base, "logging", lm, &["driver", "options"], out);
    let driver = l
        .get("driver")
        .and_then(text)
        .unwrap_or_else(|| "json-file".into());
    if env.fargate && !FARGATE_LOG_DRIVERS.contains(&driver.as_str()) {
        out.faults.push(Fault::at(&extension_path(&base, "driver"), &format!("log driver `{driver}` is not available on Fargate: use awslogs, splunk or awsfirelens")));
        return;
    }
    let mut options = Map::new();
    match l.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (k, v) in o {
                // The compose specification allows strings and numbers; ECS takes strings.
                match v {
                    Value::String(s) => {
                        options.insert(k.clone(), json!(s));
                    }
                    Value::Number(n) => {
                        options.insert(k.clone(), json!(n.to_string()));
                    }
                    other => out.faults.push(Fault::at(&extension_path(&extension_path(&base, "options"), k), &format!("log option `{k}` is {}: ECS log options are strings; quote the value (`\"{}\"`) or remove the option", kind(other), text(other).unwrap_or_default()))),
                }
            }
        }
        Some(_) => out.faults.push(Fault::at(
            &extension_path(&base, "options"),
            "logging.options must be a mapping of option names to values",
        )),
    }
    if driver == "awslogs" {
        for required in ["awslogs-group", "awslogs-region"] {
            if !options.contains_key(required) {
                out.faults.push(Fault::at(&base, &format!("the awslogs driver needs options.{required}: add it (e.g. awslogs-group: /ecs/{}, awslogs-region: ${{AWS_REGION}})", env.name)));
            }
        }
    }
    let mut lc = json!({ "logDriver": driver });
    if !options.is_empty() {
        lc["options"] = Value::Object(options);
    }
    c.insert("logConfiguration".into(), lc);
}

/// A service's `secrets` → ECS `secrets` (environment variables, not files).
fn secrets(env: &Env, svc: &Map<String, Value>, c: &mut Map<String, Value>, out: &mut Out) {
    let Some(v) = svc.get("secrets") else { return };
    let Value::Array(items) = v else {
        out.faults
            .push(Fault::at(&at(env, &["secrets"]), "secrets must be a list"));
        return;
    };
    let mut list = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = at(env, &["secrets", &i.to_string()]);
        let (source, target) = match item {
            Value::String(s) => (s.clone(), s.clone()),
            Value::Object(o) => {
                unknown_keys(
                    &here,
                    "secrets",
                    o,
                    &["source", "target", "uid", "gid", "mode"],
                    out,
                );
                for key in ["uid", "gid", "mode"]
                    .into_iter()
                    .filter(|k| o.contains_key(*k))
                {
                    out.warnings.push(format!("service `{}`: key `secrets.{i}.{key}` is ignored: it sets the owner or mode of the file under /run/secrets, and on ECS a secret is an environment variable, not a file", env.name));
                }
                let source = o.get("source").and_then(text).unwrap_or_default();
                let target = o
                    .get("target")
                    .and_then(text)
                    .unwrap_or_else(|| source.clone());
                (source, target)
            }
            _ => (String::new(), String::new()),
        };
        let Some(def) = env.secrets.get(&source) else {
            out.faults.push(Fault::at(&here, &format!("secret `{source}` is not defined in the top-level `secrets`: define it there with `x-ecs: {{value_from: <SSM parameter or Secrets Manager ARN>}}`")));
            continue;
        };
        let Some(value_from) = super::secret_source(def) else {
            out.faults.push(Fault::at(&["secrets".to_string(), source.clone()], &format!("secret `{source}` names no SSM parameter or Secrets Manager secret: ECS secrets are read from those; store it there and give `x-ecs: {{value_from: arn:...}}` (or `name: arn:...` with `external: true`)")));
            continue;
        };
        if target.starts_with('/')
            || !target
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            out.faults.push(Fault::at(&here, &format!("secret target `{target}` is a path: on ECS a secret is an environment variable, not a file; give `target:` a variable name")));
            continue;
        }
        list.push(json!({"name": target, "valueFrom": value_from}));
    }
    if !list.is_empty() {
        out.warnings.push(format!(
            "service `{}`: its secrets become environment variables on ECS (read from SSM or Secrets Manager at start), not files under /run/secrets: code that reads /run/secrets/<name> must read the variable instead",
            env.name
        ));
        c.insert("secrets".into(), Value::Array(list));
    }
}

/// The keys that map one to one.
fn simple(env: &Env, svc: &Map<String, Value>, c: &mut Map<String, Value>, out: &mut Out) {
    for (key, field) in [("working_dir", "workingDirectory"), ("user", "user")] {
        match svc.get(key) {
            None => {}
            Some(v) => match text(v) {
                Some(t) => {
                    c.insert(field.into(), json!(t));
                }
                None => out.faults.push(Fault::at(
                    &at(env, &[key]),
                    &format!("`{key}` must be a string"),
                )),
            },
        }
    }
    for (key, field) in [
        ("read_only", "readonlyRootFilesystem"),
        ("tty", "pseudoTerminal"),
        ("stdin_open", "interactive"),
    ] {
        if let Some(v) = svc.get(key) {
            match boolean(v) {
                Some(b) => {
                    c.insert(field.into(), json!(b));
                }
                None => out.faults.push(Fault::at(
                    &at(env, &[key]),
                    &format!("`{key}` must be true or false"),
                )),
            }
        }
    }
    if let Some(v) = svc.get("privileged") {
        match boolean(v) {
            Some(true) if env.fargate => out.faults.push(Fault::at(&at(env, &["privileged"]), "`privileged` is not available on Fargate: remove it, or set x-ecs.launch_type: EC2")),
            Some(b) => {
                c.insert("privileged".into(), json!(b));
            }
            None => out.faults.push(Fault::at(&at(env, &["privileged"]), "`privileged` must be true or false")),
        }
    }
    if let Some(v) = svc.get("stop_grace_period") {
        match units::seconds(v) {
            Ok(s) if (2..=120).contains(&s) => {
                c.insert("stopTimeout".into(), json!(s));
            }
            Ok(s) => out.faults.push(Fault::at(
                &at(env, &["stop_grace_period"]),
                &format!("stop_grace_period is {s} s; ECS accepts 2 to 120 s"),
            )),
            Err(e) => out.faults.push(Fault::at(
                &at(env, &["stop_grace_period"]),
                &format!("stop_grace_period {e}"),
            )),
        }
    }
    let mut linux = Map::new();
    if let Some(v) = svc.get("init") {
        match boolean(v) {
            Some(b) => {
                linux.insert("initProcessEnabled".into(), json!(b));
            }
            None => out.faults.push(Fault::at(
                &at(env, &["init"]),
                "`init` must be true or false",
            )),
        }
    }
    let mut caps = Map::new();
    for (key, field) in [("cap_add", "add"), ("cap_drop", "drop")] {
        let Some(v) = svc.get(key) else { continue };
        let items = match v {
            Value::Array(items) if items.iter().all(Value::is_string) => items,
            _ => {
                out.faults.push(Fault::at(&at(env, &[key]), &format!("`{key}` must be a list of capability names (`{key}: [SYS_PTRACE]`), as the compose specification writes it")));
                continue;
            }
        };
        {
            let names: Vec<String> = items
                .iter()
                .filter_map(text)
                .map(|s| s.trim_start_matches("CAP_").to_string())
                .collect();
            if env.fargate && key == "cap_add" && names.iter().any(|n| n != "SYS_PTRACE") {
                out.faults.push(Fault::at(&at(env, &[key]), "Fargate adds only the SYS_PTRACE capability: remove the others, or set x-ecs.launch_type: EC2"));
            }
            caps.insert(field.into(), json!(names));
        }
    }
    if !caps.is_empty() {
        linux.insert("capabilities".into(), Value::Object(caps));
    }
    if !linux.is_empty() {
        c.insert("linuxParameters".into(), Value::Object(linux));
    }
    match svc.get("ulimits") {
        None => {}
        Some(Value::Object(u)) => {
            let mut list = Vec::new();
            for (name, v) in u {
                let (soft, hard) = match v {
                    Value::Object(o) => (
                        o.get("soft").and_then(Value::as_i64),
                        o.get("hard").and_then(Value::as_i64),
                    ),
                    other => (other.as_i64(), other.as_i64()),
                };
                match (soft, hard) {
                    (Some(s), Some(h)) => {
                        list.push(json!({"name": name, "softLimit": s, "hardLimit": h}))
                    }
                    _ => out.faults.push(Fault::at(
                        &at(env, &["ulimits", name]),
                        "a ulimit is a number, or soft and hard numbers",
                    )),
                }
            }
            c.insert("ulimits".into(), Value::Array(list));
        }
        Some(_) => out.faults.push(Fault::at(
            &at(env, &["ulimits"]),
            "ulimits must be a mapping",
        )),
    }
    match svc.get("labels") {
        None => {}
        Some(Value::Object(l)) => {
            let labels: Map<String, Value> = l
                .iter()
                .map(|(k, v)| {
                    if matches!(v, Value::Array(_) | Value::Object(_)) {
                        out.faults.push(Fault::at(
                            &at(env, &["labels", k]),
                            "a label's value must be a string, a number or a boolean",
                        ));
                    }
                    (k.clone(), json!(text(v).unwrap_or_default()))
                })
                .collect();
            c.insert("dockerLabels".into(), Value::Object(labels));
        }
        Some(Value::Array(items)) if !items.iter().all(Value::is_string) => {
            out.faults.push(Fault::at(
                &at(env, &["labels"]),
                "labels given as a list must be `key=value` strings",
            ))
        }
        Some(Value::Array(items)) => {
            let labels: Map<String, Value> = items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), json!(v)),
                    None => (s.to_string(), json!("")),
                })
                .collect();
            c.insert("dockerLabels".into(), Value::Object(labels));
        }
        Some(_) => out.faults.push(Fault::at(
            &at(env, &["labels"]),
            "labels must be a mapping or a list of key=value",
        )),
    }
}

/// `depends_on` (list or mapping) as (service, condition).
fn depends_on(env: &Env, d: &Value, out: &mut Out) -> Vec<(String, String)> {
    match d {
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(text)
            .map(|s| (s, "service_started".to_string()))
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let here = at(env, &["depends_on", k]);
                if let Value::Object(o) = v {
                    unknown_keys(&here, "depends_on", o, &["condition", "restart", "required"], out);
                    if o.get("restart").and_then(boolean) == Some(true) {
                        out.warnings.push(format!("service `{}`: key `depends_on.{k}.restart` is ignored: ECS does not restart a container when the one it depends on restarts (an essential container's exit stops the whole task)", env.name));
                    }
                    if o.get("required").and_then(boolean) == Some(false) {
                        out.warnings.push(format!("service `{}`: key `depends_on.{k}.required` is ignored: inside one task ECS always waits for the container depended on; across tasks nothing is waited for", env.name));
                    }
                } else if !v.is_null() {
                    out.faults.push(Fault::at(&here, "a depends_on entry must be a mapping (condition, restart, required)"));
                }
                let condition = v
                    .get("condition")
                    .and_then(text)
                    .unwrap_or_else(|| "service_started".into());
                (k.clone(), condition)
            })
            .collect(),
        _ => {
            out.faults.push(Fault::at(
                &at(env, &["depends_on"]),
                "depends_on must be a list or a mapping",
            ));
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(svc: Value, fargate: bool) -> (Mapped, Vec<Fault>, Vec<String>) {
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

    fn messages(f: &[Fault]) -> String {
        f.iter()
            .map(|f| format!("{}: {}", f.path.join("."), f.message))
            .collect::<Vec<_>>()
            .join("\n")
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
    fn each_refusal_names_its_key() {
        let cases: &[(Value, &str, &str)] = &[
            (
                json!({"build": "."}),
                "services.web.build",
                "has `build` but no `image`",
            ),
            (json!({}), "services.web", "has neither `image` nor `build`"),
            (
                json!({"image": "x", "ports": ["8000-8010:8000-8010"]}),
                "services.web.ports.0",
                "port range",
            ),
            (
                json!({"image": "x", "ports": ["80:8080"]}),
                "services.web.ports.0",
                "the host port is the container port",
            ),
            (
                json!({"image": "x", "ports": ["127.0.0.1:80:80"]}),
                "services.web.ports.0",
                "host IP",
            ),
            (
                json!({"image": "x", "deploy": {"resources": {"limits": {"memory": 512}}}}),
                "services.web.deploy.resources.limits.memory",
                "has no unit",
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
                json!({"image": "x", "privileged": true}),
                "services.web.privileged",
                "not available on Fargate",
            ),
            (
                json!({"image": "x", "x-aws-autoscaling": {"min": 1}}),
                "services.web.x-aws-autoscaling",
                "input stack-template",
            ),
            (
                json!({"image": "x", "deploy": {"x-aws-autoscaling": {"min": 1}}}),
                "services.web.deploy.x-aws-autoscaling",
                "input stack-template",
            ),
            (
                json!({"image": "x", "x-aws-role": {}}),
                "services.web.x-aws-role",
                "x-ecs.task_role",
            ),
            (
                json!({"image": "x", "secrets": ["nope"]}),
                "services.web.secrets.0",
                "not defined in the top-level",
            ),
            (
                json!({"image": "x", "secrets": ["file_only"]}),
                "secrets.file_only",
                "names no SSM parameter",
            ),
            (
                json!({"image": "x", "secrets": [{"source": "db", "target": "/run/secrets/db"}]}),
                "services.web.secrets.0",
                "not a file",
            ),
            (
                json!({"image": "x", "command": "echo 'open"}),
                "services.web.command",
                "does not split",
            ),
            (
                json!({"image": "x", "environment": ["UNSET_ON_HOST"]}),
                "services.web.environment.0",
                "not set in the job's env",
            ),
            (
                json!({"image": "x", "healthcheck": {"test": "true", "interval": "1s"}}),
                "services.web.healthcheck.interval",
                "accepts 5 to 300",
            ),
            (
                json!({"image": "x", "deploy": {"update_config": {}}}),
                "services.web.deploy.update_config",
                "deploymentConfiguration",
            ),
            (
                json!({"image": "x", "logging": {"driver": "syslog"}}),
                "services.web.logging.driver",
                "not available on Fargate",
            ),
            (
                json!({"image": "x", "logging": {"driver": "awslogs", "options": {"awslogs-group": "g"}}}),
                "services.web.logging",
                "awslogs-region",
            ),
            (
                json!({"image": "x", "stop_grace_period": "10m"}),
                "services.web.stop_grace_period",
                "2 to 120",
            ),
            (
                json!({"image": "x", "bogus": 1}),
                "services.web.bogus",
                "not a compose service key",
            ),
            (
                json!({"image": "x", "cap_add": "SYS_PTRACE"}),
                "services.web.cap_add",
                "must be a list of capability names",
            ),
            (
                json!({"image": "x", "cap_drop": "NET_RAW"}),
                "services.web.cap_drop",
                "must be a list of capability names",
            ),
            (
                json!({"image": "x", "logging": {"driver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "r", "awslogs-create-group": true}}}),
                "services.web.logging.options.awslogs-create-group",
                "is a boolean: ECS log options are strings; quote the value (`\"true\"`)",
            ),
            (
                json!({"image": "x", "logging": {"driver": "awslogs", "driver_opts": {"awslogs-group": "g"}}}),
                "services.web.logging.driver_opts",
                "not a logging key",
            ),
            (
                json!({"image": "x", "healthcheck": {"test": "true", "intervall": "30s"}}),
                "services.web.healthcheck.intervall",
                "not a healthcheck key",
            ),
            (
                json!({"image": "x", "healthcheck": {"test": ["CMD", 1]}}),
                "services.web.healthcheck",
                "healthcheck needs `test`",
            ),
            (
                json!({"image": "x", "ports": [{"target": 80, "publish": 80}]}),
                "services.web.ports.0.publish",
                "not a ports key",
            ),
            (
                json!({"image": "x", "ports": [{"target": 80, "app_protocol": "tcp"}]}),
                "services.web.ports.0.app_protocol",
                "http, http2 or grpc",
            ),
            (
                json!({"image": "x", "secrets": [{"source": "db", "target": "DB", "owner": "me"}]}),
                "services.web.secrets.0.owner",
                "not a secrets key",
            ),
            (
                json!({"image": "x", "expose": "8080"}),
                "services.web.expose",
                "must be a list",
            ),
            (
                json!({"image": "x", "environment": {"A": {"nested": 1}}}),
                "services.web.environment.A",
                "must be a string, a number or a boolean",
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
            (
                json!({"image": "x", "working_dir": ["/app"]}),
                "services.web.working_dir",
                "must be a string",
            ),
            (
                json!({"image": "x", "labels": ["a=b", 3]}),
                "services.web.labels",
                "`key=value` strings",
            ),
            (
                json!({"image": "x", "depends_on": ["db", {"x": 1}]}),
                "services.web.depends_on",
                "must be a list or a mapping",
            ),
            (
                json!({"image": "x", "depends_on": {"db": {"condtion": "service_healthy"}}}),
                "services.web.depends_on.db.condtion",
                "not a depends_on key",
            ),
            (
                json!({"image": "x", "network_mode": 1}),
                "services.web.network_mode",
                "must be a string",
            ),
            (
                json!({"image": "x", "logging": "awslogs"}),
                "services.web.logging",
                "must be a mapping",
            ),
        ];
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
    fn env_file_values_are_interpolated_strictly() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ok.env"),
            "HOST=${DB_HOST}\nURL=\"http://${HOST}:5432\"\nLIT='${NOT_EXPANDED}'\nPORT=${PORT:-5432}\nCOST=$$5\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("bad.env"),
            "# comment\nA=${UNSET_ONE}\nB=$GITHUB_TOKEN\nC=${NEED:?set NEED to the queue}\n",
        )
        .unwrap();
        let secrets = Map::new();
        let lookup = |n: &str| (n == "DB_HOST").then(|| "db.internal".to_string());
        let env = Env {
            name: "web",
            fargate: true,
            network_mode: "awsvpc",
            secrets: &secrets,
            lookup: &lookup,
            dir: dir.path(),
        };
        let (mut faults, mut warnings) = (Vec::new(), Vec::new());
        let svc = json!({"image": "x", "env_file": "ok.env"});
        let m = map(
            &env,
            svc.as_object().unwrap(),
            &mut Out {
                faults: &mut faults,
                warnings: &mut warnings,
            },
        );
        assert!(faults.is_empty(), "{}", messages(&faults));
        assert_eq!(
            Value::Object(m.container)["environment"],
            json!([
                {"name": "HOST", "value": "db.internal"},
                {"name": "URL", "value": "http://db.internal:5432"},
                {"name": "LIT", "value": "${NOT_EXPANDED}"},
                {"name": "PORT", "value": "5432"},
                {"name": "COST", "value": "$5"},
            ])
        );
        assert!(
            m.host_vars
                .contains(&("DB_HOST".to_string(), "db.internal".to_string())),
            "the job's values are known, to scrub and to check for credentials: {:?}",
            m.host_vars
        );
        let svc = json!({"image": "x", "env_file": ["bad.env"]});
        map(
            &env,
            svc.as_object().unwrap(),
            &mut Out {
                faults: &mut faults,
                warnings: &mut warnings,
            },
        );
        let got = messages(&faults);
        for want in [
            "services.web.env_file.0: env_file `bad.env`, line 2: variable UNSET_ONE is not set",
            "services.web.env_file.0: env_file `bad.env`, line 3: variable GITHUB_TOKEN carries the runner's or AWS's credentials and is never substituted",
            "services.web.env_file.0: env_file `bad.env`, line 4: variable NEED is not set, and the file requires it: set NEED to the queue",
        ] {
            assert!(got.contains(want), "want {want}; got\n{got}");
        }
    }

    #[test]
    fn env_files_are_read_and_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("app.env"),
            "# c\nexport A=from-file\nB=\"quoted\"\n",
        )
        .unwrap();
        let secrets = Map::new();
        let lookup = |_: &str| None;
        let env = Env {
            name: "web",
            fargate: true,
            network_mode: "awsvpc",
            secrets: &secrets,
            lookup: &lookup,
            dir: dir.path(),
        };
        let (mut faults, mut warnings) = (Vec::new(), Vec::new());
        let svc = json!({"image": "x", "env_file": ["app.env", {"path": "missing.env", "required": false}], "environment": {"A": "from-env"}});
        let m = map(
            &env,
            svc.as_object().unwrap(),
            &mut Out {
                faults: &mut faults,
                warnings: &mut warnings,
            },
        );
        assert!(faults.is_empty(), "{}", messages(&faults));
        assert_eq!(
            Value::Object(m.container)["environment"],
            json!([{"name": "A", "value": "from-env"}, {"name": "B", "value": "quoted"}])
        );
        let svc = json!({"image": "x", "env_file": "../outside.env"});
        map(
            &env,
            svc.as_object().unwrap(),
            &mut Out {
                faults: &mut faults,
                warnings: &mut warnings,
            },
        );
        assert!(faults[0]
            .message
            .contains("outside the compose file's directory"));
    }
}
