//! `environment` and `env_file` → the container's `environment`: env files read from the
//! compose file's directory and interpolated by the compose file's strict rules, bare names
//! taken from the job's env, `environment` winning.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{at, boolean, extension_path, text, unknown_keys, Env, Out};
use crate::compose::Fault;

/// `env_file` then `environment` (which wins, as in compose), into `environment[]`.
pub(super) fn environment(
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
                                    crate::compose::interpolate::string(&l.value, &lookup);
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
        let (value, literal) = env_value(v).map_err(|why| (i + 1, why))?;
        out.push(EnvLine {
            name: k.trim().to_string(),
            value,
            literal,
            line: i + 1,
        });
    }
    Ok(out)
}

/// One env-file value as Compose reads it: unquoted, up to an inline ` #` comment;
/// single-quoted, literal; double-quoted, with `\n`, `\t`, `\r`, `\"` and `\\` escapes; a
/// comment may follow a closing quote. Returns the value and whether it is literal.
fn env_value(raw: &str) -> Result<(String, bool), String> {
    let v = raw.trim();
    let unclosed = || {
        "opens a quote it does not close (values that span several lines are not supported: put such a value in an SSM parameter or a Secrets Manager secret)".to_string()
    };
    let after_quote = |rest: &str| {
        let rest = rest.trim_start();
        match rest.is_empty() || rest.starts_with('#') {
            true => Ok(()),
            false => Err("has text after its closing quote: quote the whole value".to_string()),
        }
    };
    if let Some(body) = v.strip_prefix('\'') {
        let end = body.find('\'').ok_or_else(unclosed)?;
        after_quote(&body[end + 1..])?;
        return Ok((body[..end].to_string(), true));
    }
    if let Some(body) = v.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    after_quote(&body[i + 1..])?;
                    return Ok((value, false));
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some('r') => value.push('\r'),
                    Some(e @ ('"' | '\\')) => value.push(e),
                    Some(e) => {
                        value.push('\\');
                        value.push(e);
                    }
                    None => return Err(unclosed()),
                },
                c => value.push(c),
            }
        }
        return Err(unclosed());
    }
    // Unquoted: an inline comment starts at a `#` after whitespace.
    let cut = v
        .char_indices()
        .find(|&(i, c)| c == '#' && i > 0 && v[..i].ends_with(char::is_whitespace))
        .map_or(v.len(), |(i, _)| i);
    Ok((v[..cut].trim_end().to_string(), false))
}

#[cfg(test)]
mod tests {
    use super::super::map;

    #[test]
    fn env_file_values_are_read_as_compose_reads_them() {
        use super::env_value;
        let ok = |raw: &str| env_value(raw).unwrap();
        assert_eq!(ok("plain"), ("plain".into(), false));
        assert_eq!(ok("value # a comment"), ("value".into(), false));
        assert_eq!(ok("a#b"), ("a#b".into(), false));
        assert_eq!(ok("'lit ${X}' # c"), ("lit ${X}".into(), true));
        assert_eq!(ok("\"quoted\" # c"), ("quoted".into(), false));
        assert_eq!(ok("\"a\\nb \\\"c\\\"\""), ("a\nb \"c\"".into(), false));
        assert_eq!(ok("\"has # inside\""), ("has # inside".into(), false));
        assert!(env_value("\"unclosed")
            .unwrap_err()
            .contains("does not close"));
        assert!(env_value("'x' y")
            .unwrap_err()
            .contains("after its closing quote"));
    }
    use super::super::tests::{messages, refuses};
    use super::*;

    #[test]
    fn environment_refusals() {
        refuses(&[
            (
                json!({"image": "x", "environment": ["UNSET_ON_HOST"]}),
                "services.web.environment.0",
                "not set in the job's env",
            ),
            (
                json!({"image": "x", "environment": {"A": {"nested": 1}}}),
                "services.web.environment.A",
                "must be a string, a number or a boolean",
            ),
        ]);
    }

    /// `map` of one service, its faults and warnings added to these.
    fn map_into(
        env: &Env,
        svc: &Value,
        faults: &mut Vec<crate::compose::Fault>,
        warnings: &mut Vec<String>,
    ) -> super::super::Mapped {
        map(env, svc.as_object().unwrap(), &mut Out { faults, warnings })
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
        let m = map_into(&env, &svc, &mut faults, &mut warnings);
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
        map_into(&env, &svc, &mut faults, &mut warnings);
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
        let m = map_into(&env, &svc, &mut faults, &mut warnings);
        assert!(faults.is_empty(), "{}", messages(&faults));
        assert_eq!(
            Value::Object(m.container)["environment"],
            json!([{"name": "A", "value": "from-env"}, {"name": "B", "value": "quoted"}])
        );
        let svc = json!({"image": "x", "env_file": "../outside.env"});
        map_into(&env, &svc, &mut faults, &mut warnings);
        assert!(faults[0]
            .message
            .contains("outside the compose file's directory"));
    }
}
