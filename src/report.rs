//! The result of a run, and its renderings: action outputs, the CLI's JSON, the job summary.
//!
//! Pure: a `Report` goes in, strings come out. Text from AWS or inputs that lands in Markdown
//! is escaped so it cannot add markup, links or HTML.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use crate::arn::{ecs_cluster_url, revision_label as revision};
use crate::config::{Mode, Role};
use crate::error::Failure;
use crate::gha::Runtime;
use crate::taskdef::Diff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    Deployed,
    Unchanged,
    Planned,
    RolledBack,
    Failed,
    /// The wait's goal short of the end was reached (an ECS-native stage or pause hook): the
    /// deployment goes on in ECS.
    InProgress,
}

impl RunResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Deployed => "deployed",
            RunResult::Unchanged => "unchanged",
            RunResult::Planned => "planned",
            RunResult::RolledBack => "rolled-back",
            RunResult::Failed => "failed",
            RunResult::InProgress => "in-progress",
        }
    }

    fn icon(self) -> &'static str {
        match self {
            RunResult::Deployed => "✅",
            RunResult::Unchanged => "⏸️",
            RunResult::Planned => "📝",
            RunResult::RolledBack => "↩️",
            RunResult::Failed => "❌",
            RunResult::InProgress => "⏳",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceResult {
    Unchanged,
    /// Plan mode: would get a new revision.
    WouldDeploy,
    /// Plan mode: does not exist, would be created from its definition.
    WouldCreate,
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
    /// Its ECS-native deployment reached the wait's goal short of the end: where it stands.
    InProgress(String),
}

impl ServiceResult {
    fn label(&self) -> String {
        match self {
            ServiceResult::Unchanged => "unchanged".into(),
            ServiceResult::WouldDeploy => "would deploy".into(),
            ServiceResult::WouldCreate => "would create".into(),
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
            ServiceResult::InProgress(_) => "in progress".into(),
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
    /// This run called UpdateService on it (a new deployment started), whatever came after.
    pub updated: bool,
    /// How it rolls out (`rollout::Way::label`): shown by `plan` when it is not rolling.
    pub rolls_out: String,
    /// It did not exist: created (or, in a plan, to be created) from its definition.
    pub created: bool,
    /// One line per changed service attribute (from its service definition).
    pub attributes: Vec<String>,
    /// The CodeDeploy deployment this run created or continued (CODE_DEPLOY services).
    pub codedeploy_deployment: Option<String>,
    /// Where that deployment stood at the end: status, lifecycle events, task sets (the
    /// progress line's words).
    pub codedeploy_state: Option<String>,
    /// The CodeDeploy deployment that put the service back after this run's had succeeded.
    pub codedeploy_back: Option<String>,
    /// Warnings given before its rollout (a deadline shorter than its plan).
    pub warnings: Vec<String>,
}

/// The one-off task's row (`oneoff.rs`): what ran (or would run), and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReport {
    pub service: String,
    /// The revision it runs; in a plan, the one it would run (`new revision of <family>`).
    pub task_definition: String,
    pub container: String,
    /// The command as a shell would show it.
    pub command: String,
    pub task: Option<String>,
    pub result: TaskResult,
    pub exit_code: Option<i32>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// The container's last log lines (from AWS: shown fenced and escaped).
    pub log_tail: Vec<String>,
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TaskResult {
    /// `plan`: it would run.
    WouldRun,
    /// It did not run, and why (its service is not deployed in this run).
    NotRun(String),
    /// The container exited 0.
    Succeeded,
    /// Why it failed (exit code, failed to start, deadline, cancelled); no service was updated.
    Failed(String),
}

impl TaskResult {
    fn label(&self) -> String {
        match self {
            TaskResult::WouldRun => "would run".into(),
            TaskResult::NotRun(why) => format!("not run: {}", md(why)),
            TaskResult::Succeeded => "exited 0".into(),
            TaskResult::Failed(_) => "failed".into(),
        }
    }
}

impl ServiceReport {
    /// The row of a service that this command has not changed (yet): it runs what ECS said.
    pub(crate) fn of(r: &crate::record::ServiceRun) -> ServiceReport {
        let current = r.live.task_definition.clone();
        ServiceReport {
            service: r.live.name.clone(),
            role: r.target.role,
            old_task_definition: current.clone(),
            new_task_definition: current,
            images: Vec::new(),
            diff: None,
            result: ServiceResult::NotUpdated,
            rollout: None,
            updated: false,
            rolls_out: r.way.label(),
            created: false,
            attributes: Vec::new(),
            codedeploy_deployment: None,
            codedeploy_state: None,
            codedeploy_back: None,
            warnings: Vec::new(),
        }
    }
}

/// The services' rows as far as a run got, kept where the top level can read them when it
/// abandons a cancelled run: its report still names the services it changed.
#[derive(Debug, Default)]
pub(crate) struct SoFar(std::sync::Mutex<Vec<ServiceReport>>);

impl SoFar {
    pub(crate) fn record(&self, rows: Vec<ServiceReport>) {
        if let Ok(mut r) = self.0.lock() {
            *r = rows;
        }
    }

    pub(crate) fn take(&self) -> Vec<ServiceReport> {
        self.0
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

/// One bar of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    pub start: Duration,
    pub end: Duration,
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
    /// Why the run stopped when that is not one service's failure (bad input, AWS refused).
    pub errors: Vec<String>,
    /// The errors are problems with the inputs: nothing in AWS was changed (exit 2).
    pub invalid_input: bool,
    pub duration: Duration,
    /// What happened when, for the timeline (offsets from the start of the run).
    pub phases: Vec<Phase>,
    /// The one-off task before the rollouts, when one is configured.
    pub oneoff: Option<TaskReport>,
    /// Housekeeping after the deploy, or what it would do (`housekeeping.rs`).
    pub housekeeping: Option<crate::housekeeping::Summary>,
}

impl Report {
    /// The report of a run before anything is known about its services: where and what ran.
    pub(crate) fn new(
        mode: Mode,
        cluster: &str,
        region: &str,
        account: &str,
        rt: &Runtime,
    ) -> Report {
        Report {
            mode,
            cluster: cluster.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            commit: rt.sha.clone(),
            trigger: rt.event_name.clone(),
            run_url: rt.run_url(),
            services: Vec::new(),
            result: RunResult::Unchanged,
            stack_deployed: false,
            stack_outputs: BTreeMap::new(),
            stack_summary: Vec::new(),
            errors: Vec::new(),
            invalid_input: false,
            duration: Duration::ZERO,
            phases: Vec::new(),
            oneoff: None,
            housekeeping: None,
        }
    }

    /// A run that stopped with `failure` before it had a result of its own: `failed`, with
    /// every problem, rendered like every other report. `base` is what was known by then.
    pub(crate) fn stopped(mut base: Report, failure: &Failure) -> Report {
        match failure {
            Failure::Input(problems) => {
                base.invalid_input = true;
                base.errors = problems.iter().map(|p| p.message.clone()).collect();
            }
            Failure::Other(e) => base.errors = vec![format!("{e:#}")],
        }
        base.result = RunResult::Failed;
        base
    }

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
        .filter(|s| s.updated)
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
        ("services-revisions".into(), revision_lines(r)),
        ("stack-deployed".into(), r.stack_deployed.to_string()),
        ("stack-outputs".into(), json!(r.stack_outputs).to_string()),
        (
            "codedeploy-deployment-id".into(),
            r.services
                .iter()
                .filter(|s| s.role == Role::App)
                .find_map(|s| s.codedeploy_deployment.clone())
                .unwrap_or_default(),
        ),
        ("result".into(), r.result.as_str().into()),
    ]
}

/// One `service-name=task-definition-arn` line per service: a later job's `services` input,
/// which promotes exactly these revisions (test → prod).
fn revision_lines(r: &Report) -> String {
    r.services
        .iter()
        .map(|s| format!("{}={}", s.service, s.new_task_definition))
        .collect::<Vec<_>>()
        .join("\n")
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
    m.insert("errors".into(), json!(r.errors));
    Value::Object(m)
}

/// The job summary's limit is 1 MiB per step; stay under it with room for the cut note.
pub const SUMMARY_LIMIT_BYTES: usize = 1_000_000;
/// One diff may take this much, so a single huge task definition cannot push out the others.
const DIFF_LIMIT_CHARS: usize = 20_000;

/// Escapes text for a Markdown table cell or line: no HTML, no links, no table breaks, no
/// @-mentions (AWS text must not notify people).
pub fn md(text: &str) -> String {
    // Scrub before escaping: escaping would change a secret's text so it no longer matches.
    let text = crate::redact::scrub(text);
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '&' => s.push_str("&amp;"),
            '|' => s.push_str("\\|"),
            '[' | ']' | '(' | ')' | '*' | '_' | '`' | '!' | '#' | '\\' | '~' => {
                s.push('\\');
                s.push(c);
            }
            '@' => s.push_str("@\u{2060}"),
            '\n' | '\r' => s.push(' '),
            _ => s.push(c),
        }
    }
    s
}

/// A code span for a table cell: code spans do not process backslash escapes or HTML, so only
/// the backtick (which would end the span) and the pipe (which would end the cell) matter.
pub(crate) fn code(text: &str) -> String {
    let inner: String = crate::redact::scrub(text)
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", inner.replace('|', "\\|"))
}

/// `123.dkr.ecr.us-east-1.amazonaws.com/dataspace:v2` → `dataspace:v2`; digests shortened to
/// 12 hex digits, which is what a person compares.
fn short_image(image: &str) -> String {
    let (name, suffix) = match image.split_once('@') {
        Some((n, d)) => {
            let hex = d.strip_prefix("sha256:").unwrap_or(d);
            (n, format!("@{}", hex.chars().take(12).collect::<String>()))
        }
        None => (image, String::new()),
    };
    format!("{}{suffix}", crate::arn::last_segment(name))
}

/// The image each container ran before, read from the diff's summary line
/// `containerDefinitions[<name>].image: <old> → <new>`.
fn old_image<'a>(s: &'a ServiceReport, container: &str) -> Option<&'a str> {
    let prefix = format!("containerDefinitions[{container}].image: ");
    s.diff.as_ref()?.summary.iter().find_map(|l| {
        let (old, _) = l.strip_prefix(&prefix)?.split_once(" → ")?;
        Some(old)
    })
}

fn images_cell(s: &ServiceReport) -> String {
    s.images
        .iter()
        .map(|(c, i)| match old_image(s, c) {
            Some(old) if old != i => format!(
                "{}: {} → {}",
                md(c),
                code(&short_image(old)),
                code(&short_image(i))
            ),
            _ => format!("{}: {}", md(c), code(&short_image(i))),
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// A link target we are willing to render: http(s) and none of the characters that could end
/// the link or start markup. Anything else is shown as code instead.
fn safe_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && !u
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "()[]<>\"'`\\".contains(c))
}

/// The job summary and the pull-request comment body: one renderer for both.
/// Cut to `SUMMARY_LIMIT_BYTES`; `fit` cuts further for a comment.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let title = match r.mode {
        Mode::Plan => "ecs-deploy plan",
        Mode::Rollback => "ecs-deploy rollback",
        Mode::Continue => "ecs-deploy continue",
        Mode::RunTask => "ecs-deploy run-task",
        _ => "ecs-deploy",
    };
    if r.invalid_input {
        let _ = writeln!(
            out,
            "## {} {title}: invalid input, nothing was changed\n",
            r.result.icon()
        );
    } else {
        let _ = writeln!(
            out,
            "## {} {title}: {} on {}\n",
            r.result.icon(),
            r.result.as_str(),
            code(&r.cluster)
        );
    }
    let mut facts = vec![format!("region {}", code(&r.region))];
    if !r.account.is_empty() {
        facts.push(format!("account {}", code(&r.account)));
    }
    if let Some(c) = &r.commit {
        facts.push(format!(
            "commit {}",
            code(&c.chars().take(12).collect::<String>())
        ));
    }
    if let Some(t) = &r.trigger {
        facts.push(format!("trigger {}", code(t)));
    }
    facts.push(format!("duration {}", secs(r.duration)));
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    // Links come before the long parts, so a cut never loses them.
    let mut links = Vec::new();
    if let Some(u) = r.run_url.as_deref().filter(|u| safe_url(u)) {
        links.push(format!("[workflow run]({u})"));
    }
    if let Some(u) = ecs_cluster_url(&r.region, &r.cluster) {
        links.push(format!("[ECS console]({u})"));
    }
    if !links.is_empty() {
        let _ = writeln!(out, "{}\n", links.join(" · "));
    }
    if !r.services.is_empty() {
        let _ = writeln!(
            out,
            "| service | task definition | images | result | rollout |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
    }
    for s in &r.services {
        let td = if s.created {
            let new = if s.new_task_definition.is_empty() || r.mode == Mode::Plan {
                "new revision".to_string()
            } else {
                code(revision(&s.new_task_definition))
            };
            format!("new service → {new}")
        } else if s.result == ServiceResult::WouldDeploy {
            format!("{} → new revision", code(revision(&s.old_task_definition)))
        } else if s.old_task_definition == s.new_task_definition || s.new_task_definition.is_empty()
        {
            code(revision(&s.old_task_definition))
        } else {
            format!(
                "{} → {}",
                code(revision(&s.old_task_definition)),
                code(revision(&s.new_task_definition))
            )
        };
        let mut result = s.result.label();
        if r.mode == Mode::Plan && !s.rolls_out.is_empty() && s.rolls_out != "rolling" {
            result = format!("{result} ({})", md(&s.rolls_out));
        }
        let _ = writeln!(
            out,
            "| {} | {td} | {} | {result} | {} |",
            code(&s.service),
            images_cell(s),
            s.rollout.map(secs).unwrap_or_else(|| "–".into())
        );
    }
    if let Some(t) = &r.oneoff {
        task_table(&mut out, t);
    }
    let reasons: Vec<String> = r
        .services
        .iter()
        .filter_map(|s| match &s.result {
            ServiceResult::Failed(why)
            | ServiceResult::RolledBack { reason: why, .. }
            | ServiceResult::Superseded(why) => {
                Some(format!("- {}: {}", code(&s.service), md(why)))
            }
            _ => None,
        })
        .chain(r.oneoff.iter().filter_map(|t| match &t.result {
            TaskResult::Failed(why) => Some(format!("- one-off task: {}", md(why))),
            _ => None,
        }))
        .chain(r.errors.iter().map(|e| format!("- {}", md(e))))
        .collect();
    if !reasons.is_empty() {
        let _ = writeln!(out, "\n### What went wrong\n\n{}", reasons.join("\n"));
    }
    let warnings: Vec<String> = r
        .services
        .iter()
        .flat_map(|s| {
            s.warnings
                .iter()
                .map(move |w| format!("- {}: {}", code(&s.service), md(w)))
        })
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "\n### Warnings\n\n{}", warnings.join("\n"));
    }
    let standing: Vec<String> = r
        .services
        .iter()
        .filter_map(|s| match &s.result {
            ServiceResult::InProgress(at) => Some(format!("- {}: {}", code(&s.service), md(at))),
            _ => None,
        })
        .collect();
    if !standing.is_empty() {
        let _ = writeln!(
            out,
            "\n### Where the deployments stand\n\nThe wait ended at `wait-until`; the deployments go on in ECS.\n\n{}",
            standing.join("\n")
        );
    }
    let codedeploy: Vec<String> = r
        .services
        .iter()
        .filter_map(|s| {
            let state = s.codedeploy_state.as_deref()?;
            Some(format!("- {}: {}", code(&s.service), md(state)))
        })
        .collect();
    if !codedeploy.is_empty() {
        let _ = writeln!(
            out,
            "\n### CodeDeploy deployments\n\n{}",
            codedeploy.join("\n")
        );
    }
    if let Some(t) = r
        .oneoff
        .as_ref()
        .filter(|t| matches!(t.result, TaskResult::Failed(_)) && !t.log_tail.is_empty())
    {
        let _ = writeln!(
            out,
            "\n<details open><summary>one-off task: the last {} log line(s) of {}</summary>\n\n```text\n{}\n```\n</details>",
            t.log_tail.len(),
            md(&t.container),
            fence_safe(&crate::redact::scrub(&t.log_tail.join("\n")))
        );
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
            .map(|k| code(&format!("STACK_{k}")))
            .collect();
        let _ = writeln!(
            out,
            "\nStack outputs available to task definitions: {}",
            names.join(", ")
        );
    }
    if let Some(h) = &r.housekeeping {
        crate::housekeeping::markdown(&mut out, h);
    }
    if !r.phases.is_empty() {
        let _ = writeln!(out, "\n{}", gantt(&r.phases));
    }
    for s in r.services.iter().filter(|s| !s.attributes.is_empty()) {
        let _ = writeln!(out, "\n{} service attributes:", code(&s.service));
        for a in &s.attributes {
            let _ = writeln!(out, "- {}", md(a));
        }
    }
    if r.mode == Mode::Plan {
        for s in &r.services {
            if let Some(d) = s
                .diff
                .as_ref()
                .filter(|d| d.changed && !d.unified.is_empty())
            {
                let _ = writeln!(
                    out,
                    "\n<details><summary>{} task-definition diff ({} change(s))</summary>\n\n```diff\n{}```\n</details>",
                    md(&s.service),
                    d.summary.len(),
                    fence_safe(&cut_diff(&d.unified))
                );
            }
        }
    }
    fit(
        &out,
        SUMMARY_LIMIT_BYTES,
        str::len,
        "the job summary is limited to 1 MiB",
    )
}

/// The one-off task's row: command, revision, container, result, duration, and when it
/// stopped, its exit code and stop reason.
fn task_table(out: &mut String, t: &TaskReport) {
    let _ = writeln!(
        out,
        "\n| one-off task | task definition | container | result | duration |\n|---|---|---|---|---|"
    );
    let mut result = t.result.label();
    let mut facts = Vec::new();
    if let Some(c) = t
        .exit_code
        .filter(|_| !matches!(t.result, TaskResult::Succeeded))
    {
        facts.push(format!("exit code {c}"));
    }
    if let Some(c) = &t.stop_code {
        facts.push(format!("stop code {}", md(c)));
    }
    if let Some(why) = t.stopped_reason.as_deref().filter(|w| !w.is_empty()) {
        facts.push(md(why));
    }
    if !facts.is_empty() && !matches!(t.result, TaskResult::Succeeded) {
        result = format!("{result}: {}", facts.join(", "));
    }
    let _ = writeln!(
        out,
        "| {} | {} | {} | {result} | {} |",
        code(&t.command),
        code(revision(&t.task_definition)),
        code(&t.container),
        t.duration.map(secs).unwrap_or_else(|| "–".into())
    );
}

/// A Mermaid `gantt` timeline of the phases, which GitHub renders in summaries and comments.
/// Times are offsets from the start of the run, written as clock times from 00:00:00; a phase
/// shorter than a second is drawn one second long so it stays visible.
fn gantt(phases: &[Phase]) -> String {
    let clock = |d: Duration| {
        let s = d.as_secs();
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    let mut out = String::from(
        "```mermaid\ngantt\n    title Timeline (min:s from the start)\n    dateFormat HH:mm:ss\n    axisFormat %M:%S\n",
    );
    for (i, p) in phases.iter().enumerate() {
        // Mermaid task names end at `:`; `#` and `;` start comments and statements.
        let name: String = p
            .name
            .chars()
            .map(|c| {
                if matches!(c, ':' | '#' | ';' | '\n' | '`') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let end = p.end.max(p.start + Duration::from_secs(1));
        let _ = writeln!(out, "    {name} :p{i}, {}, {}", clock(p.start), clock(end));
    }
    out.push_str("```");
    out
}

/// Diff text that cannot close its code fence: a line of backticks would end the block and
/// turn the rest into Markdown.
fn fence_safe(diff: &str) -> String {
    diff.replace("```", "`\u{200b}``")
        .replace("~~~", "~\u{200b}~~")
}

fn cut_diff(unified: &str) -> String {
    if unified.chars().count() <= DIFF_LIMIT_CHARS {
        return unified.to_string();
    }
    let mut kept = String::new();
    let mut lines = unified.lines();
    for l in lines.by_ref() {
        if kept.chars().count() + l.chars().count() + 1 > DIFF_LIMIT_CHARS {
            break;
        }
        kept.push_str(l);
        kept.push('\n');
    }
    let rest = lines.count() + 1;
    let _ = writeln!(kept, "… {rest} more line(s) of this diff cut");
    kept
}

/// Cuts Markdown to at most `max` (as measured by `len`: bytes for the summary, characters for
/// a comment) at a line boundary, closes a code block or `<details>` left open by the cut, and
/// ends with a note saying why. Text within the limit is returned unchanged.
pub fn fit(text: &str, max: usize, len: fn(&str) -> usize, why: &str) -> String {
    if len(text) <= max {
        return text.to_string();
    }
    let note = format!(
        "\n> ✂️ The rest of this report was cut: {why}. The workflow run's log has every step.\n"
    );
    let closing_room = len("```\n") + 8 * len("</details>\n");
    let budget = max.saturating_sub(len(&note) + closing_room);
    let mut out = String::new();
    let mut used = 0;
    let mut in_fence = false;
    let mut open_details = 0usize;
    for line in text.split_inclusive('\n') {
        let n = len(line);
        if used + n > budget {
            break;
        }
        out.push_str(line);
        used += n;
        let t = line.trim_start();
        if t.starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            open_details += t.matches("<details>").count();
            open_details = open_details.saturating_sub(t.matches("</details>").count());
        }
    }
    if !out.ends_with('\n') && !out.is_empty() {
        out.push('\n');
    }
    if in_fence {
        out.push_str("```\n");
    }
    for _ in 0..open_details.min(8) {
        out.push_str("</details>\n");
    }
    out.push_str(&note);
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
                updated: true,
                rolls_out: "rolling".into(),
                created: false,
                attributes: vec![],
                codedeploy_deployment: None,
                codedeploy_state: None,
                codedeploy_back: None,
                warnings: Vec::new(),
            }],
            result: RunResult::Failed,
            stack_deployed: false,
            stack_outputs: BTreeMap::new(),
            stack_summary: vec![],
            errors: vec![],
            invalid_input: false,
            phases: vec![],
            oneoff: None,
            housekeeping: None,
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
    fn the_timeline_is_a_mermaid_gantt_with_a_bar_per_phase() {
        let g = gantt(&[
            Phase {
                name: "stack".into(),
                start: Duration::ZERO,
                end: Duration::from_secs(75),
            },
            Phase {
                name: "rollout dataspace-app: x".into(),
                start: Duration::from_secs(80),
                end: Duration::from_millis(80_200),
            },
        ]);
        assert!(g.starts_with("```mermaid\ngantt\n"), "{g}");
        assert!(g.contains("    stack :p0, 00:00:00, 00:01:15\n"), "{g}");
        assert!(
            g.contains("    rollout dataspace-app  x :p1, 00:01:20, 00:01:21\n"),
            "{g}"
        );
        assert!(g.ends_with("```"));
    }

    #[test]
    fn secrets_are_scrubbed_before_escaping() {
        crate::redact::register("db_pass!word*x");
        assert!(!md("reason: db_pass!word*x failed").contains("pass"));
        assert!(!code("db_pass!word*x").contains("pass"));
    }

    #[test]
    fn markdown_escapes_text_from_outside() {
        let mut r = report();
        r.errors =
            vec!["see [docs](javascript:alert(1)) and ![x](https://evil/x.png) @octocat".into()];
        r.stack_summary = vec!["UPDATE_FAILED <script>alert(1)</script> | `x`".into()];
        let m = markdown(&r);
        assert!(m.contains("`app:1` → `app:2`"), "{m}");
        assert!(m.contains("1m 15s"));
        assert!(!m.contains("<img"), "{m}");
        assert!(!m.contains("<script"), "{m}");
        assert!(
            m.contains("&lt;img src=x onerror=alert\\(1\\)&gt; \\| x"),
            "{m}"
        );
        assert!(!m.contains("](javascript:"), "{m}");
        assert!(!m.contains("![x]("), "{m}");
        assert!(
            !m.contains("@octocat"),
            "an AWS text must not mention people: {m}"
        );
        assert!(md("](javascript:alert(1))").starts_with("\\]\\("));
        assert_eq!(code("a`b|c"), "`a'b\\|c`");
    }

    #[test]
    fn markdown_names_cluster_commit_trigger_and_links() {
        let mut r = report();
        r.run_url = Some("https://github.com/acme/dataspace/actions/runs/4242".into());
        let m = markdown(&r);
        assert!(
            m.starts_with("## ❌ ecs-deploy: failed on `dataspace-dev`\n"),
            "{m}"
        );
        assert!(m.contains("commit `0123456789ab`"), "{m}");
        assert!(m.contains("trigger `push`"), "{m}");
        assert!(m.contains("[workflow run](https://github.com/acme/dataspace/actions/runs/4242)"));
        assert!(m.contains(
            "[ECS console](https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/dataspace-dev/services?region=us-east-1)"
        ));
        r.run_url = Some("https://x/a) [y](javascript:alert(1)".into());
        r.cluster = "arn:aws:ecs:us-east-1:1:cluster/dataspace-dev".into();
        let m = markdown(&r);
        assert!(!m.contains("workflow run]"), "{m}");
        assert!(m.contains("clusters/dataspace-dev/services"), "{m}");
        assert_eq!(
            ecs_cluster_url("cn-north-1", "c").unwrap(),
            "https://cn-north-1.console.amazonaws.cn/ecs/v2/clusters/c/services?region=cn-north-1"
        );
        assert_eq!(ecs_cluster_url("us-east-1", "a/b"), None);
    }

    #[test]
    fn images_show_old_and_new_tag_or_digest() {
        let mut r = report();
        let repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dataspace";
        r.services[0].images = vec![
            ("web".into(), format!("{repo}:v2")),
            (
                "sidecar".into(),
                format!("{repo}@sha256:{}", "ab".repeat(32)),
            ),
        ];
        r.services[0].diff = Some(Diff {
            changed: true,
            unified: String::new(),
            summary: vec![format!(
                "containerDefinitions[web].image: {repo}:v1 → {repo}:v2"
            )],
        });
        let m = markdown(&r);
        assert!(
            m.contains("web: `dataspace:v1` → `dataspace:v2`<br>sidecar: `dataspace@abababababab`"),
            "{m}"
        );
    }

    fn plan_with_diffs(services: usize, lines: usize) -> Report {
        let mut r = report();
        r.mode = Mode::Plan;
        r.result = RunResult::Planned;
        let unified: String = std::iter::once("--- live\n+++ rendered\n".to_string())
            .chain((0..lines).map(|i| format!("+  \"line {i}\": \"```x\",\n")))
            .collect();
        let template = r.services[0].clone();
        r.services = (0..services)
            .map(|i| ServiceReport {
                service: format!("svc-{i}"),
                result: ServiceResult::WouldDeploy,
                diff: Some(Diff {
                    changed: true,
                    unified: unified.clone(),
                    summary: vec!["cpu: 1 → 2".into()],
                }),
                ..template.clone()
            })
            .collect();
        r
    }

    #[test]
    fn plan_diffs_are_collapsible_and_fenced() {
        let m = markdown(&plan_with_diffs(1, 3));
        assert!(m.contains("<details><summary>svc-0 task-definition diff (1 change(s))</summary>\n\n```diff\n--- live\n"), "{m}");
        assert!(
            !m.contains("\"```x\""),
            "a diff line must not close the fence: {m}"
        );
        assert!(m.trim_end().ends_with("```\n</details>"), "{m}");
    }

    #[test]
    fn long_reports_are_cut_with_a_note_and_stay_well_formed() {
        let m = markdown(&plan_with_diffs(12, 2000));
        assert!(
            m.contains("more line(s) of this diff cut"),
            "each diff is capped"
        );
        let c = fit(
            &m,
            65_536,
            |s| s.chars().count(),
            "a comment is limited to 65,536 characters",
        );
        assert!(c.chars().count() <= 65_536);
        assert!(c.contains(
            "> ✂️ The rest of this report was cut: a comment is limited to 65,536 characters."
        ));
        assert!(c.starts_with("## 📝 ecs-deploy plan: planned on `dataspace-dev`"));
        assert!(c.contains("[ECS console]("), "links come before the cut");
        assert_eq!(
            c.matches("<details>").count(),
            c.matches("</details>").count(),
            "{c}"
        );
        let fences = c.lines().filter(|l| l.starts_with("```")).count();
        assert_eq!(fences % 2, 0, "every code block is closed");
        assert_eq!(fit("short", 10, str::len, "x"), "short");

        let mut huge = report();
        huge.errors = (0..30_000)
            .map(|i| format!("error number {i} with some words"))
            .collect();
        let s = markdown(&huge);
        assert!(s.len() <= SUMMARY_LIMIT_BYTES, "{}", s.len());
        assert!(s.contains("the job summary is limited to 1 MiB"));
    }
}
