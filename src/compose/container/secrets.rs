//! A service's `secrets` → ECS `secrets`: environment variables read from SSM or Secrets
//! Manager at start, not files under /run/secrets (the change of meaning is warned about).

use serde_json::{json, Map, Value};

use super::{at, text, unknown_keys, Env, Out};
use crate::compose::Fault;

/// A service's `secrets` → ECS `secrets` (environment variables, not files).
pub(super) fn secrets(
    env: &Env,
    svc: &Map<String, Value>,
    c: &mut Map<String, Value>,
    out: &mut Out,
) {
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
        let Some(value_from) = crate::compose::secret_source(def) else {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::refuses;

    #[test]
    fn secret_refusals() {
        refuses(&[
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
                json!({"image": "x", "secrets": [{"source": "db", "target": "DB", "owner": "me"}]}),
                "services.web.secrets.0.owner",
                "not a secrets key",
            ),
        ]);
    }
}
