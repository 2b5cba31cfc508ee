//! Compose files (DESIGN section 13): the services a docker-compose file describes, each
//! becoming one task definition that deploys through the ordinary per-service flow.
//!
//! - [`plan`] (for `config.rs`): which tasks the file holds and which ECS service each
//!   deploys to, from the file as written (no variables needed);
//! - [`render`] (for `render.rs`): interpolation (`interpolate.rs`), grouping into tasks and
//!   the task definitions (`task.rs`, `container.rs`), what every key became (`keys.rs`),
//!   the `x-ecs` extension (`extension.rs`), and each problem at its line (`lines.rs`).
//!
//! Nothing is dropped silently: every key is mapped, warned about, or refused (exit 2) with
//! the service, the key, its line and the alternative.

mod container;
mod extension;
mod interpolate;
mod keys;
mod lines;
mod task;
mod units;

use std::path::Path;

use serde_json::{Map, Value};

use crate::document::{self, Kind};
use crate::error::InputProblem;
use crate::gha::Location;
use crate::redact;

/// A problem at a path of the document (`["services", "web", "ports", "0"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub path: Vec<String>,
    pub message: String,
}

impl Fault {
    pub fn at(path: &[String], message: &str) -> Fault {
        Fault {
            path: path.to_vec(),
            message: message.to_string(),
        }
    }

    fn problem(&self, shown: &str, text: &str) -> InputProblem {
        let path: Vec<&str> = self.path.iter().map(String::as_str).collect();
        let line = lines::line_of(text, &path);
        let place = match path.as_slice() {
            ["services", name] => format!("service `{name}`: "),
            ["services", name, rest @ ..] => {
                format!("service `{name}`, key `{}`: ", rest.join("."))
            }
            [] => String::new(),
            rest => format!("key `{}`: ", rest.join(".")),
        };
        let at_line = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        InputProblem::at(
            Location {
                file: Some(shown.into()),
                line,
                col: None,
            },
            format!("{shown}{at_line}: {place}{}", self.message),
        )
    }
}

/// One task of the file, as `config.rs` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The compose service the task is named after.
    pub leader: String,
    /// The ECS service it deploys to.
    pub service: String,
    /// A service-definition file named by x-ecs.service_definition, relative to the compose
    /// file's directory.
    pub definition_file: Option<String>,
    /// Whether x-ecs.service_definition is written inline.
    pub inline_definition: bool,
    /// The leader has `build` and no `image` (not deployed unless named).
    pub build_only: bool,
}

fn read(path: &Path, shown: &str) -> Result<(String, Value), Vec<InputProblem>> {
    let at = |line, col| Location {
        file: Some(shown.into()),
        line,
        col,
    };
    let text = document::read(path, Kind::Compose).map_err(|p| {
        vec![InputProblem::at(
            at(None, None),
            format!("{shown}: {}", p.message),
        )]
    })?;
    let doc = document::parse(path, &text, Kind::Compose).map_err(|p| {
        vec![InputProblem::at(
            at(p.line, p.column),
            format!("{shown}: {}", p.message),
        )]
    })?;
    Ok((text, doc))
}

/// The top-level structure: known keys, a `services` mapping with at least one service.
fn top_level(doc: &Value) -> (Map<String, Value>, Vec<Fault>) {
    let mut faults = Vec::new();
    let Some(top) = doc.as_object() else {
        return (Map::new(), faults);
    };
    for key in top.keys() {
        let here = [key.clone()];
        if keys::TOP_LEVEL.contains(&key.as_str()) {
            continue;
        }
        if key.starts_with("x-aws-") {
            faults.push(Fault::at(
                &here,
                &format!("`{key}` is not deployed: {}", keys::x_aws(key)),
            ));
        } else if key.starts_with("x-") {
            // The user's extension fields (anchors): nothing to deploy.
        } else if let Some(why) = keys::top_level_refused(key) {
            faults.push(Fault::at(
                &here,
                &format!("`{key}` cannot be mapped: {why}"),
            ));
        } else {
            faults.push(Fault::at(&here, &format!("`{key}` is not a top-level compose key: the keys are name, services, secrets, networks, volumes and x-ecs (or x-… extension fields)")));
        }
    }
    let services = match top.get("services") {
        Some(Value::Object(s)) if !s.is_empty() => s.clone(),
        Some(Value::Object(_)) | Some(Value::Null) => {
            faults.push(Fault::at(
                &["services".into()],
                "the compose file has no services: add at least one under `services:`",
            ));
            Map::new()
        }
        None => {
            faults.push(Fault::at(&[], "the compose file has no `services:`: a compose file describes its containers under `services:`"));
            Map::new()
        }
        Some(_) => {
            faults.push(Fault::at(
                &["services".into()],
                "`services` must be a mapping of service names to their settings",
            ));
            Map::new()
        }
    };
    (services, faults)
}

fn problems(faults: &[Fault], shown: &str, text: &str) -> Vec<InputProblem> {
    faults.iter().map(|f| f.problem(shown, text)).collect()
}

/// The tasks the file holds, read as written (before variables).
pub fn plan(path: &Path, shown: &str) -> Result<Vec<Planned>, Vec<InputProblem>> {
    let (text, doc) = read(path, shown)?;
    let (services, mut faults) = top_level(&doc);
    let (top, f) = extension::read(doc.get("x-ecs"), &["x-ecs".into()], true);
    faults.extend(f);
    let (groups, f) = task::groups(&services, &top);
    faults.extend(f);
    if !faults.is_empty() {
        return Err(problems(&faults, shown, &text));
    }
    Ok(groups
        .iter()
        .map(|g| {
            let svc = &services[&g.leader];
            Planned {
                leader: g.leader.clone(),
                service: g.ecs.service.clone().unwrap_or_else(|| g.leader.clone()),
                definition_file: g
                    .ecs
                    .service_definition
                    .as_ref()
                    .and_then(Value::as_str)
                    .map(str::to_string),
                inline_definition: g
                    .ecs
                    .service_definition
                    .as_ref()
                    .is_some_and(Value::is_object),
                build_only: svc.get("image").is_none() && svc.get("build").is_some(),
            }
        })
        .collect())
}

/// One task definition made from the file.
#[derive(Debug, Clone)]
pub struct Task {
    pub leader: String,
    pub body: Value,
    /// x-ecs.service_definition written inline, interpolated; `deploy.replicas` as its
    /// `desiredCount` when it gives none.
    pub definition: Option<Value>,
    /// `deploy.replicas` of the leader (the desired count at creation).
    pub replicas: Option<u64>,
}

/// The file's task definitions for the `selected` leaders, or every problem at its line.
#[derive(Debug)]
pub struct Rendered {
    pub tasks: Vec<Task>,
    pub warnings: Vec<String>,
}

/// Interpolates the file and maps the selected tasks; registers their secrets.
pub fn render(
    path: &Path,
    shown: &str,
    selected: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Rendered, Vec<InputProblem>> {
    let (text, raw) = read(path, shown)?;
    let (raw_services, _) = top_level(&raw);
    let (raw_top, _) = extension::read(raw.get("x-ecs"), &["x-ecs".into()], true);
    let (raw_groups, _) = task::groups(&raw_services, &raw_top);
    let members: Vec<&String> = raw_groups
        .iter()
        .filter(|g| selected.contains(&g.leader))
        .flat_map(|g| g.members.iter())
        .collect();
    // Only the selected services and the file's own keys must interpolate.
    let concerns = |pointer: &str| match pointer.strip_prefix("/services/") {
        Some(rest) => members
            .iter()
            .any(|m| rest.split('/').next() == Some(m.as_str())),
        None => true,
    };
    // Every problem of a deployed service or of the file's own keys is reported; the
    // services not deployed need none of their variables (their values are not used).
    let interpolate::Interpolated { doc, used, issues } = interpolate::interpolate(&raw, lookup);
    let mut found: Vec<InputProblem> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in issues.iter().filter(|i| concerns(&i.pointer)) {
        // The lines that hold the placeholder outside a comment.
        let hits: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                l.find(&i.needle).is_some_and(|at| {
                    let before = &l[..at];
                    !before.trim_start().starts_with('#') && !before.contains(" #")
                })
            })
            .map(|(n, _)| n + 1)
            .collect();
        // The first hit inside the value's own block, else inside the service's, else the
        // first in the file.
        let service = i
            .pointer
            .strip_prefix("/services/")
            .and_then(|r| r.split('/').next());
        let segments: Vec<&str> = i.pointer.trim_start_matches('/').split('/').collect();
        let own = lines::span_of(&text, &segments);
        let block = service.and_then(|s| lines::span_of(&text, &["services", s]));
        let within = |span: Option<(usize, usize)>| {
            hits.iter()
                .find(|l| span.is_some_and(|(a, b)| (a..=b).contains(l)))
                .copied()
        };
        let line = within(own)
            .or_else(|| within(block))
            .or(hits.first().copied());
        // A placeholder reached through a YAML alias is reported once, at its line.
        if !seen.insert((line, i.message.clone())) {
            continue;
        }
        let place = service
            .map(|s| format!("service `{s}`: "))
            .unwrap_or_default();
        let problem = InputProblem::at(
            Location {
                file: Some(shown.into()),
                line,
                col: None,
            },
            format!(
                "{shown}{}: {place}{}",
                line.map(|l| format!(" (line {l})")).unwrap_or_default(),
                i.message
            ),
        );
        if !found.contains(&problem) {
            found.push(problem);
        }
    }
    if !found.is_empty() {
        return Err(found);
    }
    let mut faults = Vec::new();
    let mut warnings = Vec::new();
    let (services, f) = top_level(&doc);
    faults.extend(f);
    let (top, f) = extension::read(doc.get("x-ecs"), &["x-ecs".into()], true);
    faults.extend(f);
    let (groups, f) = task::groups(&services, &top);
    faults.extend(f);
    for (key, v) in doc.as_object().into_iter().flatten() {
        if key == "version" {
            warnings.push(format!("{shown}: top-level `version` is ignored: the compose specification made it obsolete (the file is read by the specification's current rules)"));
        }
        if (key == "networks" || key == "volumes") && v.as_object().is_some_and(|m| !m.is_empty()) {
            warnings.push(format!("{shown}: top-level `{key}` is ignored: {}", if key == "networks" { "tasks reach each other through the service definition's network (subnets, security groups, Service Connect)" } else { "volumes are not mapped (a service that mounts one is refused)" }));
        }
    }
    for g in groups.iter().filter(|g| !selected.contains(&g.leader)) {
        let svc = &services[&g.leader];
        if svc.get("image").is_none() && svc.get("build").is_some() {
            warnings.push(format!("service `{}` has `build` and no `image`, and is not deployed: build and push its image in an earlier step, give it `image`, and name it in input compose-services", g.leader));
        }
    }
    secret_definitions(&doc, &mut faults, &mut warnings);
    if let Some(n) = doc.get("name").filter(|n| !n.is_string()) {
        faults.push(Fault::at(
            &["name".into()],
            &format!("the project `name` must be a string, not `{n}`"),
        ));
    }
    let project = project_name(&doc, path);
    let secrets = doc
        .get("secrets")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tasks = Vec::new();
    for g in groups.iter().filter(|g| selected.contains(&g.leader)) {
        let mut out = container::Out {
            faults: &mut faults,
            warnings: &mut warnings,
        };
        let (built, host_vars) =
            task::build(g, &services, &project, &secrets, lookup, dir, &mut out);
        let in_task = |u: &&crate::subst::Used| {
            g.members
                .iter()
                .any(|m| u.pointer.starts_with(&format!("/services/{m}/")))
        };
        for u in used.iter().filter(in_task) {
            if u.pointer.contains("/environment/") && crate::subst::looks_secret(&u.name) {
                let service = u.pointer.split('/').nth(2).unwrap_or_default();
                warnings.push(format!("variable {} looks secret and is interpolated into the plain `environment` of service `{service}`: ECS stores `environment` in plain text, readable by anyone with ecs:DescribeTaskDefinition; move it to the service's `secrets` with an SSM Parameter Store parameter or a Secrets Manager secret", u.name));
            }
        }
        // A credential copied under another name, anywhere in what this task reads.
        let credential = used
            .iter()
            .filter(|u| in_task(u) || !u.pointer.starts_with("/services/"))
            .map(|u| (u.name.clone(), u.value.clone()))
            .chain(host_vars.iter().cloned())
            .find(|(_, v)| redact::is_credential(v));
        if let Some((name, _)) = credential {
            faults.push(Fault::at(&["services".into(), g.leader.clone()], &format!("variable {name} holds a credential of this run (the GitHub token or the AWS secret key or session token): it is never substituted; pass the value the task needs through `secrets` (SSM or Secrets Manager) instead")));
            continue;
        }
        register_secrets(&built.body, &used, &host_vars, &g.members);
        let definition = match &g.ecs.service_definition {
            Some(Value::Object(d)) => {
                let mut d = d.clone();
                if let Some(n) = built.replicas {
                    d.entry("desiredCount").or_insert(n.into());
                }
                Some(Value::Object(d))
            }
            _ => None,
        };
        tasks.push(Task {
            leader: g.leader.clone(),
            body: built.body,
            definition,
            replicas: built.replicas,
        });
    }
    if faults.is_empty() {
        Ok(Rendered {
            tasks,
            warnings: once_each(warnings)
                .into_iter()
                .map(|w| {
                    if w.starts_with(shown) {
                        w
                    } else {
                        format!("{shown}: {w}")
                    }
                })
                .collect(),
        })
    } else {
        Err(problems(&faults, shown, &text))
    }
}

/// One warning per key: `service `a`: key `restart` is ignored…` for several services
/// becomes one line naming them all.
fn once_each(warnings: Vec<String>) -> Vec<String> {
    let mut grouped: Vec<(Vec<String>, String)> = Vec::new();
    for w in warnings {
        let split = w
            .strip_prefix("service `")
            .and_then(|r| r.split_once("`: key "))
            .map(|(name, rest)| (name.to_string(), format!("key {rest}")));
        match split {
            Some((name, rest)) => match grouped.iter_mut().find(|(_, r)| *r == rest) {
                Some((names, _)) => names.push(name),
                None => grouped.push((vec![name], rest)),
            },
            None => grouped.push((Vec::new(), w)),
        }
    }
    grouped
        .into_iter()
        .map(|(names, rest)| match names.len() {
            0 => rest,
            1 => format!("service `{}`: {rest}", names[0]),
            _ => format!(
                "services {}: {rest}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect()
}

/// The project name: top-level `name`, else the compose file's directory, as compose
/// normalises it (lower case; letters, digits, `-` and `_`).
fn project_name(doc: &Value, path: &Path) -> String {
    let given = doc
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            let dir = std::fs::canonicalize(path)
                .ok()?
                .parent()?
                .file_name()?
                .to_string_lossy()
                .to_string();
            Some(dir)
        });
    given
        .unwrap_or_default()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The top-level `secrets` definitions: their keys known, and what ECS does not read said.
fn secret_definitions(doc: &Value, faults: &mut Vec<Fault>, warnings: &mut Vec<String>) {
    let Some(defs) = doc.get("secrets") else {
        return;
    };
    let Value::Object(defs) = defs else {
        faults.push(Fault::at(
            &["secrets".into()],
            "top-level `secrets` must be a mapping of secret names to their definitions",
        ));
        return;
    };
    for (name, def) in defs {
        let here = vec!["secrets".to_string(), name.clone()];
        let Value::Object(def) = def else {
            faults.push(Fault::at(&here, &format!("secret `{name}` must be a mapping (x-ecs: {{value_from: <SSM parameter or Secrets Manager ARN>}})")));
            continue;
        };
        let at = |key: &str| {
            let mut p = here.clone();
            p.push(key.to_string());
            p
        };
        let from_ecs = def.get("x-ecs").and_then(|x| x.get("value_from")).is_some();
        for (key, v) in def {
            match key.as_str() {
                "x-ecs" => match v {
                    Value::Object(x) => {
                        for k in x.keys().filter(|k| *k != "value_from") {
                            faults.push(Fault::at(&extension::child(&at("x-ecs"), k), &format!("`{k}` is not an x-ecs key of a secret: the key is value_from (the SSM parameter or Secrets Manager ARN)")));
                        }
                    }
                    _ => faults.push(Fault::at(&at("x-ecs"), "a secret's x-ecs must be a mapping: {value_from: <SSM parameter or Secrets Manager ARN>}")),
                },
                "file" | "environment" if from_ecs => warnings.push(format!("top-level secret `{name}`: `{key}` is ignored: on ECS the secret is read from x-ecs.value_from (it stays what docker compose uses locally)")),
                "file" | "environment" | "external" | "name" => {}
                "labels" | "driver" | "driver_opts" | "template_driver" => warnings.push(format!("top-level secret `{name}`: `{key}` is ignored: it configures a swarm secret store; ECS reads the secret from SSM or Secrets Manager")),
                k if k.starts_with("x-") => {}
                _ => faults.push(Fault::at(&at(key), &format!("`{key}` is not a key of a compose secret (file, environment, external, name, x-ecs)"))),
            }
        }
    }
}

/// Where a top-level secret is read from: `x-ecs.value_from`, or (the retired integration's
/// form) `name:` with `external: true`.
pub fn secret_source(def: &Value) -> Option<String> {
    if let Some(v) = def
        .get("x-ecs")
        .and_then(|x| x.get("value_from"))
        .and_then(Value::as_str)
    {
        return Some(v.to_string());
    }
    let external = def.get("external").and_then(Value::as_bool) == Some(true);
    match def.get("name").and_then(Value::as_str) {
        Some(n) if external => Some(n.to_string()),
        _ => None,
    }
}

/// The substituted values to scrub, by where they landed (`render::register_secrets`'s
/// rules, with compose's paths translated to the task definition's).
fn register_secrets(
    body: &Value,
    used: &[crate::subst::Used],
    host_vars: &[(String, String)],
    members: &[String],
) {
    let translated: Vec<crate::subst::Used> = used
        .iter()
        .filter_map(|u| {
            let rest = u.pointer.strip_prefix("/services/")?;
            let (name, field) = rest.split_once('/')?;
            if !members.iter().any(|m| m == name) {
                return None;
            }
            let pointer = if field.starts_with("environment") {
                "/containerDefinitions/0/environment/0/value".to_string()
            } else if field.starts_with("secrets") {
                "/containerDefinitions/0/secrets/0/valueFrom".to_string()
            } else if let Some(option) = field.strip_prefix("logging/options/") {
                format!("/containerDefinitions/0/logConfiguration/options/{option}")
            } else {
                format!("/containerDefinitions/0/{field}")
            };
            Some(crate::subst::Used {
                name: u.name.clone(),
                value: u.value.clone(),
                pointer,
            })
        })
        .chain(host_vars.iter().map(|(n, v)| crate::subst::Used {
            name: n.clone(),
            value: v.clone(),
            pointer: "/containerDefinitions/0/environment/0/value".into(),
        }))
        .collect();
    crate::render::register_secrets(body, &translated);
}

/// Whether a document given as a task definition is a compose file (services, no
/// task-definition fields).
pub fn looks_like_compose(doc: &Value) -> bool {
    doc.get("services").is_some_and(Value::is_object)
        && doc.get("containerDefinitions").is_none()
        && doc.get("taskDefinition").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let p = dir.join("docker-compose.yaml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn plan_names_tasks_services_and_definitions() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "name: shop\nservices:\n  web:\n    image: nginx\n    x-ecs:\n      service: shop-web\n      service_definition: web-service.json\n  router:\n    image: fluent\n    x-ecs: {task: web}\n  worker:\n    build: .\n");
        let planned = plan(&p, "docker-compose.yaml").unwrap();
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[0].service, "shop-web");
        assert_eq!(
            planned[0].definition_file.as_deref(),
            Some("web-service.json")
        );
        assert!(planned[1].build_only);
    }

    #[test]
    fn refusals_name_the_file_line_service_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "services:\n  web:\n    image: nginx\n    ports:\n      - \"8000-8010:8000-8010\"\nx-aws-cloudformation:\n  Resources: {}\n");
        let problems = plan(&p, "docker-compose.yaml").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .message
                .contains("docker-compose.yaml (line 6): key `x-aws-cloudformation`"),
            "{problems:?}"
        );
        assert!(problems[0].message.contains("input stack-template"));
        let p = write(
            dir.path(),
            "services:\n  web:\n    image: nginx\n    ports:\n      - \"8000-8010:8000-8010\"\n",
        );
        let problems = render(&p, "docker-compose.yaml", &["web".into()], &|_| None).unwrap_err();
        assert_eq!(problems[0].at.line, Some(5));
        assert!(
            problems[0]
                .message
                .contains("service `web`, key `ports.0`: port range"),
            "{problems:?}"
        );
        let p = write(dir.path(), "services: {}\n");
        assert!(plan(&p, "c.yaml").unwrap_err()[0]
            .message
            .contains("has no services"));
        let p = write(
            dir.path(),
            "services:\n  web:\n    image: nginx\nbogus: 1\n",
        );
        let problems = plan(&p, "c.yaml").unwrap_err();
        assert!(
            problems[0]
                .message
                .contains("`bogus` is not a top-level compose key"),
            "{problems:?}"
        );
        assert_eq!(problems[0].at.line, Some(4));
    }

    #[test]
    fn unset_variables_are_all_listed_with_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "services:\n  web:\n    image: nginx:${TAG}\n    environment:\n      DB: ${DB_HOST:?set DB_HOST to the database's address}\n  other:\n    image: ${UNRELATED}\n");
        let problems = render(&p, "c.yaml", &["web".into()], &|_| None).unwrap_err();
        let lines: Vec<Option<usize>> = problems.iter().map(|p| p.at.line).collect();
        assert_eq!(lines, vec![Some(3), Some(5)], "{problems:?}");
        assert!(problems[0]
            .message
            .contains("service `web`: variable TAG is not set"));
        assert!(problems[1]
            .message
            .contains("set DB_HOST to the database's address"));
        // The unselected service's variable is not needed.
        let ok = render(&p, "c.yaml", &["web".into()], &|n| {
            Some(format!("{n}-value"))
        });
        assert!(ok.is_ok());
    }

    #[test]
    fn an_unset_variable_is_placed_at_its_use_not_at_a_comment_or_another_key() {
        let dir = tempfile::tempdir().unwrap();
        // The comment (line 3) and the image (line 4) name ${TAG} too; the error is the
        // environment entry's (line 7) when that is the use that is unset.
        let p = write(dir.path(), "services:\n  web:\n    # set ${TAG} in the job\n    image: nginx:${TAG:-latest}\n    environment:\n      A: x # ${TAG}\n      B: ${TAG}\n");
        let problems = render(&p, "c.yaml", &["web".into()], &|_| None).unwrap_err();
        let lines: Vec<Option<usize>> = problems.iter().map(|p| p.at.line).collect();
        assert_eq!(lines, vec![Some(7)], "{problems:?}");
    }

    #[test]
    fn a_service_not_deployed_needs_none_of_its_variables() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "services:\n  web:\n    image: nginx:${TAG}\n  other:\n    image: x\n    environment:\n      A: ${OTHER_URL:?set OTHER_URL}\n      B: ${EMPTY:?must not be empty}\n      C: $GITHUB_TOKEN\n      D: ${NEVER_CLOSED\n");
        let lookup = |n: &str| match n {
            "TAG" => Some("v1".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let r = render(&p, "c.yaml", &["web".into()], &lookup).unwrap();
        assert_eq!(r.tasks.len(), 1);
        assert_eq!(
            r.tasks[0].body["containerDefinitions"][0]["image"],
            serde_json::json!("nginx:v1")
        );
        // Deployed, the same service fails with its own messages.
        let problems = render(&p, "c.yaml", &["other".into()], &lookup).unwrap_err();
        let text: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            text.iter().any(|m| m.contains(
                "(line 7): service `other`: variable OTHER_URL is not set, and the file requires it: set OTHER_URL"
            )),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|m| m.contains("(line 8): service `other`: variable EMPTY is empty")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .all(|m| !m.contains("carries credentials") || m.contains("GITHUB_TOKEN")),
            "{text:?}"
        );
    }

    #[test]
    fn secret_looking_variables_in_environment_are_warned_about_and_scrubbed() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "services:\n  web:\n    image: nginx\n    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n");
        let lookup = |n: &str| (n == "DB_PASSWORD").then(|| "canary-compose-pw-4417".to_string());
        let r = render(&p, "c.yaml", &["web".into()], &lookup).unwrap();
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("variable DB_PASSWORD looks secret")),
            "{:?}",
            r.warnings
        );
        assert_eq!(redact::scrub("x canary-compose-pw-4417 y"), "x *** y");
    }

    #[test]
    fn keys_that_mean_nothing_on_ecs_are_warned_about_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "version: \"3.8\"\nservices:\n  a:\n    image: x\n    restart: always\n    container_name: a\n  b:\n    image: x\n    restart: always\n");
        let r = render(&p, "c.yaml", &["a".into(), "b".into()], &|_| None).unwrap();
        let restart: Vec<&String> = r
            .warnings
            .iter()
            .filter(|w| w.contains("`restart`"))
            .collect();
        assert_eq!(restart.len(), 1, "{:?}", r.warnings);
        assert!(
            restart[0].contains("services `a`, `b`: key `restart` is ignored"),
            "{restart:?}"
        );
        assert!(r
            .warnings
            .iter()
            .any(|w| w.contains("service `a`: key `container_name` is ignored")));
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("top-level `version` is ignored")),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn top_level_secrets_and_name_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "name: 7\nservices:\n  web:\n    image: nginx\nsecrets:\n  db:\n    file: ./db.txt\n    labels: {a: b}\n    x-ecs:\n      value_from: arn:aws:ssm:us-east-1:1:parameter/db\n      valuefrom: typo\n  api:\n    extrnal: true\n");
        let problems = render(&p, "c.yaml", &["web".into()], &|_| None).unwrap_err();
        let text: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        for want in [
            "c.yaml (line 1): key `name`: the project `name` must be a string",
            "c.yaml (line 11): key `secrets.db.x-ecs.valuefrom`: `valuefrom` is not an x-ecs key of a secret",
            "c.yaml (line 13): key `secrets.api.extrnal`: `extrnal` is not a key of a compose secret",
        ] {
            assert!(text.iter().any(|m| m.contains(want)), "{want}: {text:?}");
        }
        let p = write(dir.path(), "services:\n  web:\n    image: nginx\nsecrets:\n  db:\n    file: ./db.txt\n    labels: {a: b}\n    x-ecs:\n      value_from: arn:aws:ssm:us-east-1:1:parameter/db\n");
        let r = render(&p, "c.yaml", &["web".into()], &|_| None).unwrap();
        for want in [
            "top-level secret `db`: `file` is ignored",
            "top-level secret `db`: `labels` is ignored",
        ] {
            assert!(
                r.warnings.iter().any(|w| w.contains(want)),
                "{want}: {:?}",
                r.warnings
            );
        }
    }

    #[test]
    fn a_compose_file_is_recognised() {
        assert!(looks_like_compose(
            &serde_json::json!({"services": {"web": {}}})
        ));
        assert!(!looks_like_compose(
            &serde_json::json!({"family": "f", "containerDefinitions": []})
        ));
    }
}
