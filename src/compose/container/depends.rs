//! `depends_on` (list or mapping) → (service, condition); `task.rs` makes the task's
//! container `dependsOn` of them.

use serde_json::Value;

use super::{at, boolean, text, unknown_keys, Env, Out};
use crate::compose::Fault;

/// `depends_on` (list or mapping) as (service, condition).
pub(super) fn depends_on(env: &Env, d: &Value, out: &mut Out) -> Vec<(String, String)> {
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
    use serde_json::json;

    use super::super::tests::refuses;

    #[test]
    fn depends_on_refusals() {
        refuses(&[
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
        ]);
    }
}
