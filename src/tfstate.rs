//! Terraform outputs as substitution variables (`terraform-outputs`, DESIGN section 14).
//!
//! The source is the JSON `terraform output -json` writes (`{name: {value, type, sensitive}}`)
//! or a state file (`{version, terraform_version, …, outputs: {name: {value, type,
//! sensitive}}}`), read from the workspace or from S3. Each output becomes `TFOUT_<name>`
//! (a hyphen in the name becomes `_`): the prefix cannot collide with Terraform's own `TF_*`
//! variables. Strings, numbers and booleans are used as they are, lists and maps as compact
//! JSON, `null` as the empty string. Sensitive outputs are registered as secrets before any
//! line is printed. A reference to an output the state does not have is listed with the
//! others, before AWS is touched for a local file (for S3: before anything changes).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use serde_json::Value;

use crate::aws::{aws_error_message, Aws};
use crate::config::{Config, TerraformSource};
use crate::error::{Failure, InputProblem};
use crate::redact;

/// The variables' prefix.
pub(crate) const PREFIX: &str = "TFOUT_";

/// A state file may be large (every resource's attributes): read at most this much.
const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// One output of the state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Output {
    pub name: String,
    pub value: String,
    pub sensitive: bool,
}

/// The variable an output is referenced by.
pub(crate) fn variable(output: &str) -> String {
    format!("{PREFIX}{}", output.replace('-', "_"))
}

/// Whether the outputs need AWS to be read (a state file in S3).
pub(crate) fn needs_aws(cfg: &Config) -> bool {
    matches!(cfg.housekeeping.terraform, Some(TerraformSource::S3 { .. }))
}

/// The outputs of a local source as variables (sensitive ones registered as secrets); an
/// empty map without `terraform-outputs`. An S3 source needs `aws` (`None`: refused with the
/// fix, for `render`, which talks to no AWS).
pub(crate) async fn variables(
    cfg: &Config,
    aws: Option<&Aws>,
) -> Result<BTreeMap<String, String>, Failure> {
    let Some(source) = &cfg.housekeeping.terraform else {
        return Ok(BTreeMap::new());
    };
    let shown = source.shown();
    let text = match source {
        TerraformSource::File { path, .. } => read_file(path).map_err(|why| problem(&shown, &why))?,
        TerraformSource::S3 { bucket, key } => match aws {
            Some(aws) => read_s3(aws, bucket, key)
                .await
                .map_err(|why| problem(&shown, &why))?,
            None => {
                return Err(problem(
                    &shown,
                    "render talks to no AWS, so it cannot read a state file in S3: download it first (aws s3 cp) and give the local path",
                ))
            }
        },
    };
    let outputs = parse(&text).map_err(|why| problem(&shown, &why))?;
    Ok(into_variables(&outputs))
}

/// The outputs' variables; sensitive values are registered as secrets (each string inside a
/// list or map too).
pub(crate) fn into_variables(outputs: &[Output]) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for o in outputs {
        let name = variable(&o.name);
        if o.sensitive {
            redact::register_named(&name, &o.value);
            if let Ok(v) = serde_json::from_str::<Value>(&o.value) {
                register_leaves(&name, &v);
            }
        }
        vars.insert(name, o.value.clone());
    }
    vars
}

fn register_leaves(name: &str, v: &Value) {
    match v {
        Value::String(s) => redact::register_named(name, s),
        Value::Array(items) => items.iter().for_each(|i| register_leaves(name, i)),
        Value::Object(m) => m.values().for_each(|i| register_leaves(name, i)),
        _ => {}
    }
}

fn problem(shown: &str, why: &str) -> Failure {
    InputProblem::new(format!("input terraform-outputs `{shown}`: {why}")).into()
}

/// A reference to an output the state does not have: the render's "not set" message for a
/// `TFOUT_*` variable says which outputs there are instead.
pub(crate) fn explain_missing(
    f: Failure,
    vars: &BTreeMap<String, String>,
    cfg: &Config,
) -> Failure {
    let (Failure::Input(problems), Some(source)) = (&f, &cfg.housekeeping.terraform) else {
        return f;
    };
    let known: Vec<&str> = vars
        .keys()
        .filter(|k| k.starts_with(PREFIX))
        .map(String::as_str)
        .collect();
    let known = if known.is_empty() {
        "it has none".to_string()
    } else {
        format!("it has {}", known.join(", "))
    };
    let problems = problems
        .iter()
        .map(|p| {
            let Some((start, name)) = crate::subst::unset_variable(&p.message) else {
                return p.clone();
            };
            if !name.starts_with(PREFIX) {
                return p.clone();
            }
            InputProblem::at(
                p.at.clone(),
                format!(
                    "{}variable {name} is not an output of the Terraform state {} ({known}): check the output's name, or add `output \"{}\"` to the Terraform configuration",
                    &p.message[..start],
                    source.shown(),
                    &name[PREFIX.len()..]
                ),
            )
        })
        .collect();
    Failure::Input(problems)
}

/// Reads a local file: a regular file, at most `MAX_STATE_BYTES`, UTF-8.
fn read_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            "file not found: check the path (it is relative to the repository root)".to_string()
        }
        _ => format!("cannot read the file: {e}"),
    })?;
    if !meta.is_file() {
        return Err("is not a regular file: give the path of the JSON `terraform output -json` writes, or of a state file".into());
    }
    if meta.len() > MAX_STATE_BYTES {
        return Err(format!(
            "file is {} bytes, over the {MAX_STATE_BYTES}-byte limit",
            meta.len()
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_STATE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot read the file as UTF-8 text: {e}"))?;
    Ok(text)
}

/// Reads `s3://bucket/key` with the run's credentials.
async fn read_s3(aws: &Aws, bucket: &str, key: &str) -> Result<String, String> {
    let answer = aws
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            let text = aws_error_message(&e);
            format!("could not read it from S3 ({text}): check the bucket, the key and s3:GetObject on it")
        })?;
    if answer.content_length().unwrap_or_default() as u64 > MAX_STATE_BYTES {
        return Err(format!(
            "the object is over the {MAX_STATE_BYTES}-byte limit"
        ));
    }
    let bytes = answer
        .body
        .collect()
        .await
        .map_err(|e| format!("reading it from S3 failed: {e}"))?
        .into_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|_| "the object is not UTF-8 text".to_string())
}

/// The outputs of either shape, in name order.
pub(crate) fn parse(text: &str) -> Result<Vec<Output>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "is not JSON (line {}, column {}: {e}): give the file `terraform output -json` writes, or a state file",
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(top) = &doc else {
        return Err(
            "is not a JSON object: give the file `terraform output -json` writes, or a state file"
                .into(),
        );
    };
    let is_state = ["terraform_version", "lineage", "serial", "version"]
        .iter()
        .any(|k| top.get(*k).is_some_and(|v| !v.is_object()));
    let outputs = if is_state {
        match top.get("outputs") {
            Some(Value::Object(o)) => o,
            _ => {
                return Err("is a state file without `outputs`: declare outputs in the Terraform configuration and apply it (a state of format version 4, Terraform 0.12 or later, keeps them at the top level)".into())
            }
        }
    } else {
        top
    };
    let mut found = Vec::new();
    for (name, o) in outputs {
        let Some(value) = o.as_object().and_then(|o| o.get("value")) else {
            return Err(format!(
                "output `{name}` has no `value`: this is neither the JSON `terraform output -json` writes ({{\"NAME\": {{\"value\": …, \"type\": …, \"sensitive\": …}}}}) nor a state file"
            ));
        };
        let sensitive = o.get("sensitive").and_then(Value::as_bool).unwrap_or(false);
        found.push(Output {
            name: name.clone(),
            value: as_text(value),
            sensitive,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// An output's value as a variable: strings as they are, numbers and booleans as written,
/// lists and maps as compact JSON, null as nothing.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_json_and_state_files_give_the_same_outputs() {
        let output_json = r#"{
          "db_host": {"sensitive": false, "type": "string", "value": "db.internal"},
          "db_port": {"sensitive": false, "type": "number", "value": 5432},
          "debug": {"sensitive": false, "type": "bool", "value": false},
          "subnets": {"sensitive": false, "type": ["list", "string"], "value": ["subnet-1", "subnet-2"]},
          "db_password": {"sensitive": true, "type": "string", "value": "hunter2-but-longer"}
        }"#;
        let state = format!(
            r#"{{"version": 4, "terraform_version": "1.9.0", "serial": 7, "lineage": "x", "outputs": {output_json}, "resources": []}}"#
        );
        let a = parse(output_json).unwrap();
        assert_eq!(a, parse(&state).unwrap());
        let vars: Vec<(String, String, bool)> = a
            .iter()
            .map(|o| (variable(&o.name), o.value.clone(), o.sensitive))
            .collect();
        assert_eq!(
            vars,
            vec![
                ("TFOUT_db_host".into(), "db.internal".into(), false),
                (
                    "TFOUT_db_password".into(),
                    "hunter2-but-longer".into(),
                    true
                ),
                ("TFOUT_db_port".into(), "5432".into(), false),
                ("TFOUT_debug".into(), "false".into(), false),
                (
                    "TFOUT_subnets".into(),
                    r#"["subnet-1","subnet-2"]"#.into(),
                    false
                ),
            ]
        );
    }

    #[test]
    fn bad_sources_say_what_is_wrong() {
        assert!(parse("{ not json")
            .unwrap_err()
            .contains("is not JSON (line 1"));
        assert!(parse("[]").unwrap_err().contains("is not a JSON object"));
        assert!(
            parse(r#"{"version": 4, "terraform_version": "1.9.0", "resources": []}"#)
                .unwrap_err()
                .contains("state file without `outputs`")
        );
        assert!(parse(r#"{"a": {"type": "string"}}"#)
            .unwrap_err()
            .contains("output `a` has no `value`"));
        assert_eq!(parse("{}").unwrap(), vec![]);
    }

    #[test]
    fn hyphens_become_underscores_and_the_prefix_is_not_tf() {
        assert_eq!(variable("db-host"), "TFOUT_db_host");
        assert!(!PREFIX.starts_with("TF_"));
    }
}
