//! The result of a run, and its renderings: action outputs, the CLI's JSON, the job summary.
//!
//! Pure: a `Report` goes in, strings come out. Text from AWS or inputs that lands in Markdown
//! is escaped so it cannot add markup, links or HTML.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::{Mode, Role};
use crate::taskdef::Diff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    Deployed,
    Unchanged,
    Planned,
    RolledBack,
    Failed,
}

impl RunResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Deployed => "deployed",
            RunResult::Unchanged => "unchanged",
            RunResult::Planned => "planned",
            RunResult::RolledBack => "rolled-back",
            RunResult::Failed => "failed",
        }
    }

    fn icon(self) -> &'static str {
        match self {
            RunResult::Deployed => "✅",
            RunResult::Unchanged => "⏸️",
            RunResult::Planned => "📝",
            RunResult::RolledBack => "↩️",
            RunResult::Failed => "❌",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceResult {
    Unchanged,
    /// Plan mode: would get a new revision.
    WouldDeploy,
    Deployed,
    /// Registered and updated, but not waited for.
    Updated,
    Failed(String),
    RolledBack {
        reason: String,
        completed: bool,
    },
    Superseded(String),
    /// Not updated because the run failed before its turn.
    NotUpdated,
}

impl ServiceResult {
    fn label(&self) -> String {
        match self {
            ServiceResult::Unchanged => "unchanged".into(),
            ServiceResult::WouldDeploy => "would deploy".into(),
            ServiceResult::Deployed => "deployed".into(),
            ServiceResult::Updated => "updated (not waited for)".into(),
            ServiceResult::Failed(_) => "failed".into(),
            ServiceResult::RolledBack {
                completed: true, ..
            } => "rolled back".into(),
            ServiceResult::RolledBack {
                completed: false, ..
            } => "rollback started, not confirmed".into(),
            ServiceResult::Superseded(_) => "superseded".into(),
            ServiceResult::NotUpdated => "not updated".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceReport {
    pub service: String,
    pub role: Role,
    pub old_task_definition: String,
    pub new_task_definition: String,
    pub images: Vec<(String, String)>,
    pub diff: Option<Diff>,
    pub result: ServiceResult,
    pub rollout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub mode: Mode,
    pub cluster: String,
    pub region: String,
    pub account: String,
    pub commit: Option<String>,
    pub trigger: Option<String>,
    pub run_url: Option<String>,
    pub services: Vec<ServiceReport>,
    pub result: RunResult,
    pub stack_deployed: bool,
    pub stack_outputs: BTreeMap<String, String>,
    /// The stack step's lines: its result and the changes of its change set.
    pub stack_summary: Vec<String>,
    pub errors: Vec<String>,
    pub duration: Duration,
}

impl Report {
    fn arn_of(&self, role: Role) -> String {
        self.services
            .iter()
            .find(|s| s.role == role)
            .map(|s| s.new_task_definition.clone())
            .unwrap_or_default()
    }
}

/// The action outputs, in the order of `inputs::OUTPUTS`.
pub fn outputs(r: &Report) -> Vec<(String, String)> {
    let arns: serde_json::Map<String, Value> = r
        .services
        .iter()
        .map(|s| {
            (
                s.service.clone(),
                Value::String(s.new_task_definition.clone()),
            )
        })
        .collect();
    let changed: Vec<&str> = r
        .services
        .iter()
        .filter(|s| {
            matches!(
                s.result,
                ServiceResult::Deployed
                    | ServiceResult::Updated
                    | ServiceResult::Failed(_)
                    | ServiceResult::RolledBack { .. }
                    | ServiceResult::Superseded(_)
            )
        })
        .map(|s| s.service.as_str())
        .collect();
    vec![
        ("task-definition-arn".into(), r.arn_of(Role::App)),
        ("otel-task-definition-arn".into(), r.arn_of(Role::Otel)),
        (
            "task-definition-arns".into(),
            Value::Object(arns).to_string(),
        ),
        ("changed-services".into(), json!(changed).to_string()),
        ("stack-deployed".into(), r.stack_deployed.to_string()),
        ("stack-outputs".into(), json!(r.stack_outputs).to_string()),
        ("result".into(), r.result.as_str().into()),
    ]
}

/// The outputs as one JSON object (`--output json`); JSON-valued outputs are nested as JSON.
pub fn outputs_json(r: &Report) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in outputs(r) {
        let value = match serde_json::from_str::<Value>(&v) {
            Ok(j) if j.is_object() || j.is_array() => j,
            _ => Value::String(v),
        };
        m.insert(k, value);
    }
    Value::Object(m)
}

/// Escapes text for a Markdown table cell or line: no HTML, no links, no table breaks.
pub fn md(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '&' => s.push_str("&amp;"),
            '|' => s.push_str("\\|"),
            '[' | ']' | '(' | ')' | '*' | '_' | '`' | '!' | '#' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '\n' | '\r' => s.push(' '),
            _ => s.push(c),
        }
    }
    s
}

fn revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// The job summary (and, later, the PR comment body).
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let title = match r.mode {
        Mode::Plan => "ecs-deploy plan",
        Mode::Rollback => "ecs-deploy rollback",
        _ => "ecs-deploy",
    };
    let _ = writeln!(
        out,
        "## {} {title}: {} on `{}`\n",
        r.result.icon(),
        r.result.as_str(),
        md(&r.cluster)
    );
    let mut facts = vec![
        format!("region `{}`", md(&r.region)),
        format!("duration {}", secs(r.duration)),
    ];
    if !r.account.is_empty() {
        facts.push(format!("account `{}`", md(&r.account)));
    }
    if let Some(c) = &r.commit {
        facts.push(format!(
            "commit `{}`",
            md(&c.chars().take(12).collect::<String>())
        ));
    }
    if let Some(t) = &r.trigger {
        facts.push(format!("trigger `{}`", md(t)));
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    let _ = writeln!(
        out,
        "| service | task definition | images | result | rollout |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for s in &r.services {
        let td =
            if s.old_task_definition == s.new_task_definition || s.new_task_definition.is_empty() {
                format!("`{}`", md(revision(&s.old_task_definition)))
            } else {
                format!(
                    "`{}` → `{}`",
                    md(revision(&s.old_task_definition)),
                    md(revision(&s.new_task_definition))
                )
            };
        let images = s
            .images
            .iter()
            .map(|(c, i)| format!("{}: `{}`", md(c), md(i)))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            out,
            "| `{}` | {td} | {images} | {} | {} |",
            md(&s.service),
            s.result.label(),
            s.rollout.map(secs).unwrap_or_else(|| "–".into())
        );
    }
    let reasons: Vec<String> = r
        .services
        .iter()
        .filter_map(|s| match &s.result {
            ServiceResult::Failed(why)
            | ServiceResult::RolledBack { reason: why, .. }
            | ServiceResult::Superseded(why) => {
                Some(format!("- `{}`: {}", md(&s.service), md(why)))
            }
            _ => None,
        })
        .chain(r.errors.iter().map(|e| format!("- {}", md(e))))
        .collect();
    if !reasons.is_empty() {
        let _ = writeln!(out, "\n### What went wrong\n\n{}", reasons.join("\n"));
    }
    if !r.stack_summary.is_empty() {
        let _ = writeln!(out, "\n### Stack\n");
        for l in &r.stack_summary {
            let _ = writeln!(out, "- {}", md(l));
        }
    }
    if !r.stack_outputs.is_empty() {
        let names: Vec<String> = r
            .stack_outputs
            .keys()
            .map(|k| format!("`STACK_{}`", md(k)))
            .collect();
        let _ = writeln!(
            out,
            "\nStack outputs available to task definitions: {}",
            names.join(", ")
        );
    }
    if r.mode == Mode::Plan {
        for s in &r.services {
            if let Some(d) = s.diff.as_ref().filter(|d| d.changed) {
                let _ = writeln!(
                    out,
                    "\n<details><summary>{} task-definition diff ({} change(s))</summary>\n\n```diff\n{}```\n</details>",
                    md(&s.service),
                    d.summary.len(),
                    d.unified.replace("```", "`\u{200b}``")
                );
            }
        }
    }
    if let Some(u) = &r.run_url {
        let _ = writeln!(out, "\n[workflow run]({u})");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            mode: Mode::Deploy,
            cluster: "dataspace-dev".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            commit: Some("0123456789abcdef".into()),
            trigger: Some("push".into()),
            run_url: None,
            services: vec![ServiceReport {
                service: "dataspace-app".into(),
                role: Role::App,
                old_task_definition: "arn:aws:ecs:us-east-1:1:task-definition/app:1".into(),
                new_task_definition: "arn:aws:ecs:us-east-1:1:task-definition/app:2".into(),
                images: vec![("web".into(), "repo:abc".into())],
                diff: None,
                result: ServiceResult::Failed("<img src=x onerror=alert(1)> | x".into()),
                rollout: Some(Duration::from_secs(75)),
            }],
            result: RunResult::Failed,
            stack_deployed: false,
            stack_outputs: BTreeMap::new(),
            stack_summary: vec![],
            errors: vec![],
            duration: Duration::from_secs(80),
        }
    }

    #[test]
    fn outputs_name_the_app_arn_and_changed_services() {
        let o: BTreeMap<_, _> = outputs(&report()).into_iter().collect();
        assert_eq!(
            o["task-definition-arn"],
            "arn:aws:ecs:us-east-1:1:task-definition/app:2"
        );
        assert_eq!(o["otel-task-definition-arn"], "");
        assert_eq!(o["changed-services"], r#"["dataspace-app"]"#);
        assert_eq!(o["result"], "failed");
        assert_eq!(
            outputs_json(&report())["changed-services"][0],
            "dataspace-app"
        );
    }

    #[test]
    fn markdown_escapes_text_from_outside() {
        let m = markdown(&report());
        assert!(m.contains("`app:1` → `app:2`"), "{m}");
        assert!(m.contains("1m 15s"));
        assert!(!m.contains("<img"), "{m}");
        assert!(m.contains("&lt;img"));
        assert!(md("](javascript:alert(1))").starts_with("\\]\\("));
    }
}
