//! `ports` (short and long syntax) and `expose` → `portMappings`, by the network mode's rules.

use serde_json::{json, Map, Value};

use super::{at, extension_path, text, unknown_keys, Env, Out};
use crate::compose::Fault;

fn port_number(s: &str) -> Option<u64> {
    s.parse::<u64>().ok().filter(|p| (1..=65535).contains(p))
}

/// `ports` (short and long syntax) and `expose` into `portMappings`.
pub(super) fn ports(
    env: &Env,
    svc: &Map<String, Value>,
    c: &mut Map<String, Value>,
    out: &mut Out,
) {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::refuses;

    #[test]
    fn port_refusals() {
        refuses(&[
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
                json!({"image": "x", "expose": "8080"}),
                "services.web.expose",
                "must be a list",
            ),
        ]);
    }
}
