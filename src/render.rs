//! Rendering: from task-definition files to RegisterTaskDefinition documents.
//!
//! Read and parse the file (`document.rs`: regular files only, within its limits), substitute
//! variables (`subst.rs`), unwrap and strip read-only fields (`taskdef.rs`), then apply the
//! `images` overrides. Every problem in every file is collected before anything is returned.
//! Values that must stay secret are registered with `redact.rs` here, where they are known.

use serde_json::Value;

use crate::config::Target;
use crate::document::{self, Kind};
use crate::error::InputProblem;
use crate::gha::Location;
use crate::{compose, redact, subst, taskdef};

#[derive(Debug, Clone)]
pub struct Rendered {
    pub target: Target,
    pub body: Value,
    pub tags: Option<Vec<Value>>,
}

/// Renders every target's file. `lookup` gives a variable's value (environment and stack
/// outputs). Returns the documents and the warnings, or every problem found.
pub fn render_all(
    targets: &[Target],
    images: &[(String, String)],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<Rendered>, Vec<String>), Vec<InputProblem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    for (t, task) in compose_tasks(targets, lookup, &mut problems, &mut warnings) {
        match taskdef::prepare(task.body) {
            Ok(p) => out.push(Rendered {
                target: t.clone(),
                body: p.body,
                tags: p.tags,
            }),
            Err(msg) => problems.push(InputProblem::new(format!(
                "{}: service `{}`: {msg}",
                t.shown, task.leader
            ))),
        }
    }
    for t in targets {
        let Some(path) = &t.file else { continue };
        if t.compose.is_some() {
            continue;
        }
        let file_at = |line: Option<usize>, col: Option<usize>| Location {
            file: Some(std::path::PathBuf::from(&t.shown)),
            line,
            col,
        };
        let done = match load(path, &t.shown, lookup) {
            Ok((done, _)) => done,
            Err(ps) => {
                problems.extend(ps);
                continue;
            }
        };
        // A credential of this run copied under another name would reach ECS in plain text.
        let copied: Vec<&str> = done
            .used
            .iter()
            .filter(|u| redact::is_credential(&u.value))
            .map(|u| u.name.as_str())
            .collect();
        if !copied.is_empty() {
            for name in copied {
                problems.push(InputProblem::at(
                    file_at(None, None),
                    format!(
                        "{}: variable {name} holds a credential of this run (the GitHub token or the AWS secret key or session token): it is never substituted; pass the value the task needs through `secrets` (SSM or Secrets Manager) instead",
                        t.shown
                    ),
                ));
            }
            continue;
        }
        register_secrets(&done.doc, &done.used);
        warnings.extend(done.warnings.iter().map(|w| format!("{}: {w}", t.shown)));
        match taskdef::prepare(done.doc) {
            Ok(p) => out.push(Rendered {
                target: t.clone(),
                body: p.body,
                tags: p.tags,
            }),
            Err(msg) => problems.push(InputProblem::at(
                file_at(None, None),
                format!("{}: {msg}", t.shown),
            )),
        }
    }
    for (container, image) in images {
        let mut hits = 0;
        for r in &mut out {
            if taskdef::set_image(&mut r.body, container, image) {
                hits += 1;
            }
        }
        if hits == 0 && problems.is_empty() {
            problems.push(InputProblem::new(format!(
                "input images: no task definition has a container named `{container}`: check the name against containerDefinitions[].name"
            )));
        }
    }
    if problems.is_empty() {
        Ok((out, warnings))
    } else {
        Err(problems)
    }
}

/// The tasks of every compose file among the targets, each file rendered once, with the
/// target each task deploys for.
fn compose_tasks<'t>(
    targets: &'t [Target],
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<InputProblem>,
    warnings: &mut Vec<String>,
) -> Vec<(&'t Target, compose::Task)> {
    let mut out = Vec::new();
    let mut files: Vec<&std::path::Path> = Vec::new();
    for t in targets.iter().filter(|t| t.compose.is_some()) {
        if let Some(f) = &t.file {
            if !files.contains(&f.as_path()) {
                files.push(f);
            }
        }
    }
    for file in files {
        let here: Vec<&Target> = targets
            .iter()
            .filter(|t| t.compose.is_some() && t.file.as_deref() == Some(file))
            .collect();
        let selected: Vec<String> = here.iter().filter_map(|t| t.compose.clone()).collect();
        match compose::render(file, &here[0].shown, &selected, lookup) {
            Ok(r) => {
                warnings.extend(r.warnings);
                for task in r.tasks {
                    if let Some(t) = here
                        .iter()
                        .find(|t| t.compose.as_ref() == Some(&task.leader))
                    {
                        out.push((*t, task));
                    }
                }
            }
            Err(ps) => problems.extend(ps),
        }
    }
    out
}

/// Reads, parses and substitutes one file; problems name the file, line and column.
fn load(
    path: &std::path::Path,
    shown: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(subst::Substituted, String), Vec<InputProblem>> {
    let file_at = |line: Option<usize>, col: Option<usize>| Location {
        file: Some(std::path::PathBuf::from(shown)),
        line,
        col,
    };
    let text = document::read(path, Kind::TaskDefinition).map_err(|p| {
        vec![InputProblem::at(
            file_at(None, None),
            format!("{shown}: {}", p.message),
        )]
    })?;
    let doc = document::parse(path, &text, Kind::TaskDefinition).map_err(|p| {
        vec![InputProblem::at(
            file_at(p.line, p.column),
            format!("{shown}: {}", p.message),
        )]
    })?;
    if compose::looks_like_compose(&doc) {
        return Err(vec![InputProblem::at(
            file_at(None, None),
            format!(
                "{shown} is a docker-compose file, not a task definition: give it as input compose-file (CLI: --compose-file {shown}), which deploys each of its services as a task definition; `render` shows what they become"
            ),
        )]);
    }
    let done = subst::substitute(&doc, &text, lookup).map_err(|ps| {
        ps.into_iter()
            .map(|p| InputProblem::at(file_at(p.line, p.column), format!("{shown}: {}", p.message)))
            .collect::<Vec<_>>()
    })?;
    Ok((done, text))
}

/// A service definition, substituted and checked against the CreateService shape.
#[derive(Debug, Clone)]
pub struct Definition {
    pub target: Target,
    pub body: Value,
    /// The file's text, for the line of a field named in a later problem.
    pub text: String,
}

impl Definition {
    /// A problem with one field of this definition, at the field's line.
    pub fn problem(&self, field: &str, message: &str) -> InputProblem {
        InputProblem::at(
            Location {
                file: Some(std::path::PathBuf::from(&self.target.definition_shown)),
                line: line_of(&self.text, field),
                col: None,
            },
            format!("{}: {message}", self.target.definition_shown),
        )
    }
}

/// Renders every target's service-definition file, with the same substitution as task
/// definitions; every problem in every file is returned at once.
pub fn render_definitions(
    targets: &[Target],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Definition>, Vec<InputProblem>> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    // A compose task's definition may be inline, and takes deploy.replicas at creation.
    let mut ignored = Vec::new();
    let tasks = compose_tasks(targets, lookup, &mut problems, &mut ignored);
    let composed = |t: &Target| tasks.iter().find(|(c, _)| *c == t).map(|(_, task)| task);
    for t in targets {
        let inline = composed(t).and_then(|task| task.definition.clone());
        let (body, text) = match (&t.definition, inline) {
            (Some(path), _) => match load(path, &t.definition_shown, lookup) {
                Ok((done, text)) => (done.doc, text),
                Err(ps) => {
                    problems.extend(ps);
                    continue;
                }
            },
            (None, Some(body)) => {
                let text = t
                    .file
                    .as_deref()
                    .and_then(|f| std::fs::read_to_string(f).ok())
                    .unwrap_or_default();
                (body, text)
            }
            (None, None) => continue,
        };
        let mut def = Definition {
            target: t.clone(),
            body,
            text,
        };
        if let (Some(n), Some(map)) = (
            composed(t).and_then(|task| task.replicas),
            def.body.as_object_mut(),
        ) {
            map.entry("desiredCount").or_insert(n.into());
        }
        let found = crate::servicedef::check(&mut def.body, &t.service);
        if found.is_empty() {
            out.push(def);
        } else {
            problems.extend(found.iter().map(|p| def.problem(&p.field, &p.message)));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The first line naming `field` (the last part of a dotted path) as a key, JSON or YAML.
fn line_of(text: &str, field: &str) -> Option<usize> {
    let key = field.rsplit('.').next().unwrap_or(field);
    let key = key.split('[').next().unwrap_or(key);
    if key.is_empty() {
        return None;
    }
    let quoted = format!("\"{key}\"");
    let yaml = format!("{key}:");
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            l.starts_with(&quoted) || l.starts_with(&yaml) || l.starts_with(&format!("'{key}'"))
        })
        .map(|i| i + 1)
}

/// Registers the substituted values that must never be printed: every value of a variable
/// whose name looks secret, and values that landed in `environment`, `secrets` or a log
/// driver's secret options (`is_private_pointer`) unless the
/// same text is already visible in a public field of the document (an image, a family, a
/// log group), where hiding it would only blank out ordinary words in the log, or the value
/// is a stack output. The run's region is never hidden (`redact::declare_public`).
pub(crate) fn register_secrets(doc: &Value, used: &[subst::Used]) {
    let mut public = Vec::new();
    collect_public(doc, "", &mut public);
    for u in used {
        let in_env = is_private_pointer(&u.pointer);
        let visible = public.iter().any(|p| p.contains(u.value.as_str()));
        // Stack outputs are readable by anyone with cloudformation:DescribeStacks and are
        // shown as the `stack-outputs` output: not secrets, unless named like one.
        let from_stack = u.name.starts_with("STACK_");
        if subst::looks_secret(&u.name) || (in_env && !visible && !from_stack) {
            redact::register_named(&u.name, &u.value);
        }
    }
}

/// Log-driver options that name where logs go, documented as plain settings (the `awslogs`
/// driver in the ECS `LogConfiguration` reference; the `awsfirelens` outputs' destination
/// names). Any other option may be a log service's API key or token (`splunk-token`,
/// Datadog's `apikey`) and is treated as secret.
pub(crate) const PUBLIC_LOG_OPTIONS: &[&str] = &[
    "awslogs-group",
    "awslogs-region",
    "awslogs-stream-prefix",
    "awslogs-create-group",
    "awslogs-datetime-format",
    "awslogs-multiline-pattern",
    "awslogs-endpoint",
    "mode",
    "max-buffer-size",
    "Name",
    "region",
    "log_group_name",
    "log_stream_name",
    "log_stream_prefix",
    "auto_create_group",
    "delivery_stream",
];

/// Fields whose values are secrets or references to them: containers' `environment` and
/// `secrets`, and a log configuration's `secretOptions` and options other than the public ones.
fn is_private_pointer(pointer: &str) -> bool {
    if pointer.contains("/environment/")
        || pointer.contains("/secrets/")
        || pointer.contains("/secretOptions/")
    {
        return true;
    }
    match pointer.split_once("/logConfiguration/options/") {
        Some((_, option)) => !PUBLIC_LOG_OPTIONS.contains(&option),
        None => false,
    }
}

fn collect_public<'a>(v: &'a Value, pointer: &str, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if !is_private_pointer(pointer) => out.push(s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_public(item, &format!("{pointer}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                collect_public(item, &format!("{pointer}/{k}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn used(name: &str, value: &str, pointer: &str) -> subst::Used {
        subst::Used {
            name: name.into(),
            value: value.into(),
            pointer: pointer.into(),
        }
    }

    /// Issue 18: a value substituted into a log driver's options (an API key) or its
    /// `secretOptions` is a secret; where the logs go is not.
    #[test]
    fn log_driver_options_are_secret_except_the_destination() {
        let doc = json!({"family": "f", "containerDefinitions": [{"name": "web", "logConfiguration": {
            "logDriver": "splunk",
            "options": {"splunk-token": "canary-splunk-7731", "awslogs-group": "canary-group-5521"},
            "secretOptions": [{"name": "x", "valueFrom": "canary-ref-8812"}]
        }}]});
        let at = "/containerDefinitions/0/logConfiguration";
        register_secrets(
            &doc,
            &[
                used(
                    "SPLUNK",
                    "canary-splunk-7731",
                    &format!("{at}/options/splunk-token"),
                ),
                used(
                    "GROUP",
                    "canary-group-5521",
                    &format!("{at}/options/awslogs-group"),
                ),
                used(
                    "REF",
                    "canary-ref-8812",
                    &format!("{at}/secretOptions/0/valueFrom"),
                ),
            ],
        );
        assert_eq!(redact::scrub("a canary-splunk-7731 b"), "a *** b");
        assert_eq!(redact::scrub("a canary-ref-8812 b"), "a *** b");
        assert_eq!(
            redact::scrub("a canary-group-5521 b"),
            "a canary-group-5521 b"
        );
        assert!(is_private_pointer(
            "/containerDefinitions/1/environment/0/value"
        ));
        assert!(!is_private_pointer("/containerDefinitions/1/image"));
    }

    /// The run's region, substituted into `environment`, stays readable in the log (every
    /// ARN holds it); any other value there is hidden, the commit included.
    #[test]
    fn the_runs_region_in_environment_is_not_hidden() {
        redact::declare_public("ap-southeast-7");
        let doc = json!({"family": "f", "containerDefinitions": [{"name": "web", "environment": [
            {"name": "REGION", "value": "ap-southeast-7"},
            {"name": "DB", "value": "canary-db-4411"}
        ]}]});
        let env = |i: usize| format!("/containerDefinitions/0/environment/{i}/value");
        register_secrets(
            &doc,
            &[
                used("AWS_REGION", "ap-southeast-7", &env(0)),
                used("DB_HOST", "canary-db-4411", &env(1)),
            ],
        );
        let arn = "arn:aws:ecs:ap-southeast-7:123456789012:service/c/web";
        assert_eq!(redact::scrub(arn), arn);
        assert_eq!(redact::scrub("host canary-db-4411"), "host ***");
    }
}
