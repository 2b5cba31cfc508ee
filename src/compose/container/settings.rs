//! The keys that map one to one: `working_dir`, `user`, `read_only`, `tty`, `stdin_open`,
//! `privileged`, `stop_grace_period`, `init`, `cap_add`/`cap_drop`, `ulimits`, `labels`.

use serde_json::{json, Map, Value};

use super::{at, boolean, text, Env, Out};
use crate::compose::{units, Fault};

/// The keys that map one to one.
pub(super) fn simple(
    env: &Env,
    svc: &Map<String, Value>,
    c: &mut Map<String, Value>,
    out: &mut Out,
) {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::refuses;

    #[test]
    fn settings_refusals() {
        refuses(&[
            (
                json!({"image": "x", "privileged": true}),
                "services.web.privileged",
                "not available on Fargate",
            ),
            (
                json!({"image": "x", "stop_grace_period": "10m"}),
                "services.web.stop_grace_period",
                "2 to 120",
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
                json!({"image": "x", "working_dir": ["/app"]}),
                "services.web.working_dir",
                "must be a string",
            ),
            (
                json!({"image": "x", "labels": ["a=b", 3]}),
                "services.web.labels",
                "`key=value` strings",
            ),
        ]);
    }
}
