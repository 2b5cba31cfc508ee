//! `logging` → `logConfiguration`: the drivers Fargate runs, awslogs' required options, and
//! options as the strings ECS takes.

use serde_json::{json, Map, Value};

use super::{at, extension_path, kind, text, unknown_keys, Env, Out};
use crate::compose::Fault;

/// Log drivers Fargate runs (the LogConfiguration reference).
const FARGATE_LOG_DRIVERS: &[&str] = &["awslogs", "splunk", "awsfirelens"];

pub(super) fn logging(env: &Env, l: &Value, c: &mut Map<String, Value>, out: &mut Out) {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::refuses;

    #[test]
    fn logging_refusals() {
        refuses(&[
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
                json!({"image": "x", "logging": "awslogs"}),
                "services.web.logging",
                "must be a mapping",
            ),
        ]);
    }
}
