//! `healthcheck` → `healthCheck`, within ECS's limits.

use serde_json::{json, Value};

use super::{boolean, extension_path, text, unknown_keys, Env, Out};
use crate::compose::{units, Fault};

/// `healthcheck` → `healthCheck`; `None` when disabled.
pub(super) fn healthcheck(env: &Env, h: &Value, out: &mut Out) -> Option<Value> {
    let base = super::at(env, &["healthcheck"]);
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::refuses;

    #[test]
    fn healthcheck_refusals() {
        refuses(&[
            (
                json!({"image": "x", "healthcheck": {"test": "true", "interval": "1s"}}),
                "services.web.healthcheck.interval",
                "accepts 5 to 300",
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
        ]);
    }
}
