//! The one-off task before the rollouts (DESIGN.md section 10): typically `python manage.py
//! migrate` in the app container of the new revision, after `register` and before any
//! `UpdateService`. The deploy goes on only when the named container exited 0.
//!
//! Pure first: the command (`parse_command`: a JSON array, or POSIX shell words without
//! expansion), the container whose exit code decides and the checks against the task
//! definition (`check`), the RunTask document built from the service's own settings and the
//! overrides (`request`), the client token (`client_token`) and the verdict on a stopped task
//! (`ending`). Then the IO: `RunTask` once (`once::call_once`; the client token makes a resend
//! safe, ECS answers it with the first call's task), `DescribeTasks` every poll until STOPPED
//! (a fast task may never be seen RUNNING), the container's awslogs lines streamed as they
//! arrive, and `StopTask` at the deadline or on SIGTERM. `run` is the deploy's phase,
//! `preview` is `plan`'s, `run_alone` is the `run-task` command.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};

use crate::arn::{last_segment, revision_label};
use crate::aws::{aws_error_message, Aws};
use crate::config::{Config, OneOffSettings, Target};
use crate::context::{Clock, Ctx};
use crate::ecs_json::{replace_body, KeepBody};
use crate::error::{Failure, InputProblem};
use crate::gha::{Printer, Runtime};
use crate::record::{Action, ServiceRun};
use crate::report::{Report, TaskReport, TaskResult};
use crate::tasks::ContainerStop;

/// `startedBy` of every one-off task: how to find them in the console or `ListTasks`.
pub(crate) const STARTED_BY: &str = "ecs-deploy";
/// RunTask's limit for `clientToken`.
const TOKEN_MAX: usize = 64;
/// How many of the container's log lines the summary keeps.
const TAIL_LINES: usize = 20;
/// How long StopTask may take when the run is cancelled (the top level gives 3 s in all).
const STOP_ON_CANCEL: Duration = Duration::from_secs(2);
/// How long StopTask and the last look may take after the deadline.
const STOP_AFTER_DEADLINE: Duration = Duration::from_secs(10);
/// Pages of log events read per poll, at most (a chatty migration catches up over polls).
const LOG_PAGES_PER_POLL: usize = 5;

// ---------------------------------------------------------------------------------------
// The command and the capacity-provider strategy (read by config.rs)

/// The command as ECS takes it: a JSON array of strings, or one line split the way a POSIX
/// shell splits words (quotes and backslashes; no variables, globs or operators).
pub(crate) fn parse_command(text: &str) -> Result<Vec<String>, String> {
    let text = text.trim();
    let words = if text.starts_with('[') {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            format!("`{text}` starts like a JSON array but is not one ({e}); write [\"python\", \"manage.py\", \"migrate\"], or the command as one line")
        })?;
        let items = v.as_array().cloned().unwrap_or_default();
        let mut words = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(w) => words.push(w.to_string()),
                None => {
                    return Err(format!(
                        "item {} of the JSON array, {item}, is not a string: every word of the command is a string",
                        i + 1
                    ))
                }
            }
        }
        words
    } else {
        shell_words(text)?
    };
    match words.first() {
        None => Err(
            "the command is empty: give the program and its arguments, e.g. `python manage.py migrate`"
                .into(),
        ),
        Some(w) if w.trim().is_empty() => Err(
            "the command's first word (the program) is empty: give the program and its arguments"
                .into(),
        ),
        Some(_) => Ok(words),
    }
}

/// Words that a shell would read as operators: no shell runs the command, so they would reach
/// the program as arguments.
const OPERATORS: [&str; 9] = ["&&", "||", "|", ";", "&", ">", ">>", "<", "2>&1"];

/// POSIX word splitting without expansion: blanks separate words; `'…'` keeps everything;
/// `"…"` keeps everything but `\` before `$`, `` ` ``, `"`, `\` or a newline; a `\` outside
/// quotes keeps the next character.
pub(crate) fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    // Whether the current word had any quoting (a quoted operator is an argument).
    let mut quoted = false;
    let mut chars = text.char_indices().peekable();
    let unclosed = |what: &str, at: usize| {
        format!(
            "the {what} at character {} is never closed: `{text}` does not split into words; close it, or give the command as a JSON array",
            at + 1
        )
    };
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    if !quoted && OPERATORS.contains(&word.as_str()) {
                        return Err(operator(&word));
                    }
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                    quoted = false;
                }
            }
            '\'' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => word.push(c),
                        None => return Err(unclosed("single quote", i)),
                    }
                }
            }
            '"' => {
                in_word = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, c @ ('$' | '`' | '"' | '\\'))) => word.push(c),
                            Some((_, '\n')) => {}
                            Some((_, c)) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(unclosed("double quote", i)),
                        },
                        Some((_, c)) => word.push(c),
                        None => return Err(unclosed("double quote", i)),
                    }
                }
            }
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((_, c)) => {
                    in_word = true;
                    quoted = true;
                    word.push(c);
                }
                None => {
                    return Err(format!(
                        "`{text}` ends with a backslash, which escapes nothing; remove it, or give the command as a JSON array"
                    ))
                }
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        if !quoted && OPERATORS.contains(&word.as_str()) {
            return Err(operator(&word));
        }
        words.push(word);
    }
    Ok(words)
}

fn operator(word: &str) -> String {
    format!(
        "`{word}` is a shell operator, and no shell runs the command (ECS starts the program directly): give [\"sh\", \"-c\", \"…\"] as a JSON array for a shell, or quote `{word}` to pass it as an argument"
    )
}

/// How a shell would show the command (for logs and the summary).
pub(crate) fn shown(command: &[String]) -> String {
    command
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `run-task-capacity-provider-strategy`: a JSON array of `{capacityProvider, weight, base}`.
pub(crate) fn parse_strategy(text: &str) -> Result<Vec<Value>, String> {
    let example = r#"[{"capacityProvider": "FARGATE_SPOT", "weight": 1}]"#;
    let v: Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("`{text}` is not JSON ({e}); write it like {example}"))?;
    let items = v.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        format!("`{text}` is not a non-empty JSON array; write it like {example}")
    })?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let obj = item
            .as_object()
            .ok_or_else(|| format!("item {n} is not an object like {example}"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !["capacityProvider", "weight", "base"].contains(&k.as_str()))
        {
            return Err(format!(
                "item {n} has `{k}`: an item has capacityProvider, weight and base"
            ));
        }
        let provider = obj
            .get("capacityProvider")
            .and_then(Value::as_str)
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| format!("item {n} has no capacityProvider name"))?;
        let mut m = Map::new();
        m.insert("capacityProvider".into(), json!(provider));
        for (key, max) in [("weight", 1000), ("base", 100_000)] {
            if let Some(v) = obj.get(key) {
                let n_ok = v.as_i64().filter(|x| (0..=max).contains(x));
                let Some(x) = n_ok else {
                    return Err(format!(
                        "item {n}: {key} {v} is not a whole number from 0 to {max}"
                    ));
                };
                m.insert(key.into(), json!(x));
            }
        }
        out.push(Value::Object(m));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Checks against the task definition (pure; exit 2 before anything changes)

fn network_mode(td: &Value) -> &str {
    // Without one, ECS uses bridge on EC2 (Fargate requires awsvpc).
    td.get("networkMode")
        .and_then(Value::as_str)
        .unwrap_or("bridge")
}

/// The container that runs the command in `td` (shown as `shown` in messages), or what is
/// wrong: a named container it does not have, several essential ones and none named, a
/// network override for a task that is not awsvpc.
pub(crate) fn container_of(
    s: &OneOffSettings,
    td: &Value,
    shown: &str,
) -> Result<String, Vec<InputProblem>> {
    let containers = crate::tasks::containers(td);
    let names = || {
        containers
            .iter()
            .map(|c| format!("`{}`", c.container))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut problems = Vec::new();
    let container = match &s.container {
        Some(name) if containers.iter().any(|c| &c.container == name) => Some(name.clone()),
        Some(name) => {
            problems.push(InputProblem::new(format!(
                "input run-task-container: the task definition of service {} ({shown}) has no container `{name}`; it has {}",
                s.service,
                names()
            )));
            None
        }
        None => {
            let essential: Vec<&str> = containers
                .iter()
                .filter(|c| c.essential)
                .map(|c| c.container.as_str())
                .collect();
            match (&essential[..], &containers[..]) {
                ([one], _) => Some(one.to_string()),
                ([], [only]) => Some(only.container.clone()),
                ([], _) => {
                    problems.push(InputProblem::new(format!(
                        "the task definition of service {} ({shown}) has no container to run the one-off task in",
                        s.service
                    )));
                    None
                }
                (several, _) => {
                    problems.push(InputProblem::new(format!(
                        "input run-task-container is needed: the task definition of service {} ({shown}) has {} essential containers ({}); name the one that runs the command (its exit code decides)",
                        s.service,
                        several.len(),
                        several
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                    None
                }
            }
        }
    };
    let mode = network_mode(td);
    if let Some(input) = s.network_override().filter(|_| mode != "awsvpc") {
        problems.push(InputProblem::new(format!(
            "input {input}: the task definition of service {} ({shown}) uses network mode {mode}, which takes no network configuration (only awsvpc tasks have subnets, security groups and public IPs); remove {input}",
            s.service
        )));
    }
    match container {
        Some(c) if problems.is_empty() => Ok(c),
        _ => Err(problems),
    }
}

/// Checks the one-off task against the document its service deploys, among `docs`; nothing
/// to check without a one-off task or before that service has a document.
pub(crate) fn check<'a>(
    cfg: &Config,
    docs: impl IntoIterator<Item = (&'a Target, &'a Value)>,
) -> Result<(), Failure> {
    let Some(s) = &cfg.oneoff else {
        return Ok(());
    };
    for (target, td) in docs {
        if target.service == s.service {
            container_of(s, td, &target.shown)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The RunTask document (pure)

/// What the one-off task will run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prepared {
    pub service: String,
    pub task_definition: String,
    pub container: String,
    pub command: Vec<String>,
    /// The RunTask request, as sent.
    pub request: Value,
    pub logs: Option<LogStream>,
}

/// Where the container's awslogs lines go; the stream is `<prefix>/<container>/<task id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogStream {
    pub group: String,
    pub prefix: String,
    pub region: Option<String>,
}

fn non_empty(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    })
}

/// The RunTask request for `container` of `td` (registered as `td_arn`), with the settings of
/// `service` (its DescribeServices JSON) where no override is given: network configuration
/// (awsvpc only), launch type or capacity-provider strategy, platform version, execute
/// command, placement, and tags when the service propagates them.
pub(crate) fn request(
    s: &OneOffSettings,
    cluster: &str,
    td_arn: &str,
    td: &Value,
    container: &str,
    service: &Value,
    token: &str,
) -> Value {
    let mut r = Map::new();
    r.insert("cluster".into(), json!(cluster));
    r.insert("taskDefinition".into(), json!(td_arn));
    r.insert("count".into(), json!(1));
    r.insert("startedBy".into(), json!(STARTED_BY));
    r.insert("clientToken".into(), json!(token));
    r.insert(
        "overrides".into(),
        json!({ "containerOverrides": [{ "name": container, "command": s.command }] }),
    );
    if network_mode(td) == "awsvpc" {
        let mut vpc = service
            .pointer("/networkConfiguration/awsvpcConfiguration")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if !s.subnets.is_empty() {
            vpc.insert("subnets".into(), json!(s.subnets));
        }
        if !s.security_groups.is_empty() {
            vpc.insert("securityGroups".into(), json!(s.security_groups));
        }
        if let Some(ip) = s.assign_public_ip {
            vpc.insert("assignPublicIp".into(), json!(ip));
        }
        if !vpc.is_empty() {
            r.insert(
                "networkConfiguration".into(),
                json!({ "awsvpcConfiguration": vpc }),
            );
        }
    }
    let launch = if let Some(t) = s.launch_type {
        r.insert("launchType".into(), json!(t));
        Some(t.to_string())
    } else if let Some(strategy) = &s.capacity_provider_strategy {
        r.insert("capacityProviderStrategy".into(), json!(strategy));
        None
    } else if let Some(strategy) = non_empty(service.get("capacityProviderStrategy")) {
        r.insert("capacityProviderStrategy".into(), strategy.clone());
        None
    } else if let Some(t) = non_empty(service.get("launchType")).and_then(Value::as_str) {
        r.insert("launchType".into(), json!(t));
        Some(t.to_string())
    } else {
        // Neither: the cluster's default capacity-provider strategy applies.
        None
    };
    let fargate_like = launch.as_deref().is_none_or(|l| l == "FARGATE");
    if let Some(p) = non_empty(service.get("platformVersion")).filter(|_| fargate_like) {
        r.insert("platformVersion".into(), p.clone());
    }
    if service.get("enableExecuteCommand").and_then(Value::as_bool) == Some(true) {
        r.insert("enableExecuteCommand".into(), json!(true));
    }
    // Placement belongs to the service's launch type: not carried over to another one.
    if s.launch_type.is_none() && s.capacity_provider_strategy.is_none() {
        for key in ["placementConstraints", "placementStrategy"] {
            if let Some(v) = non_empty(service.get(key)) {
                r.insert(key.into(), v.clone());
            }
        }
    }
    match service.get("propagateTags").and_then(Value::as_str) {
        Some("SERVICE") => {
            // `aws:` tags are AWS's own: RunTask refuses them.
            let tags: Vec<Value> = service
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|t| {
                    t.get("key")
                        .and_then(Value::as_str)
                        .is_some_and(|k| !k.starts_with("aws:"))
                })
                .cloned()
                .collect();
            if !tags.is_empty() {
                r.insert("tags".into(), json!(tags));
            }
        }
        Some("TASK_DEFINITION") => {
            r.insert("propagateTags".into(), json!("TASK_DEFINITION"));
        }
        _ => {}
    }
    Value::Object(r)
}

/// The client token of this run's one-off task: the repository, run id and attempt, job and
/// step (so a retried call, or the same step of the same attempt sent again, never starts a
/// second task; a re-run, which is a new attempt, runs it again), and what it runs. A run outside GitHub Actions gets a
/// random one. At most 64 ASCII characters.
pub(crate) fn client_token(
    rt: &Runtime,
    cluster: &str,
    service: &str,
    td: &str,
    command: &[String],
) -> String {
    let (Some(repo), Some(run)) = (&rt.repository, &rt.run_id) else {
        return format!("ecs-deploy-{}", crate::gha::random_token());
    };
    let attempt = rt.run_attempt.as_deref().unwrap_or("1");
    // The job and the step too: two steps of one job may each run a task of their own.
    let env = |k: &str| rt.env.get(k).map(String::as_str).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        repo.as_str(),
        run,
        attempt,
        env("GITHUB_JOB"),
        env("GITHUB_ACTION"),
        cluster,
        service,
        td,
    ]
    .into_iter()
    .chain(command.iter().map(String::as_str))
    {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let safe = |s: &str| -> String { s.chars().filter(char::is_ascii_alphanumeric).collect() };
    let mut token = format!("ecs-deploy-{}-{}-{h:016x}", safe(run), safe(attempt));
    if token.len() > TOKEN_MAX {
        // Keep the hash: it is what tells two runs apart.
        let hash = format!("{h:016x}");
        let room = TOKEN_MAX - "ecs-deploy-".len() - 1 - hash.len();
        let head: String = format!("{}-{}", safe(run), safe(attempt))
            .chars()
            .take(room)
            .collect();
        token = format!("ecs-deploy-{head}-{hash}");
    }
    token
}

/// Everything the one-off task needs, from its settings, the revision and the live service.
pub(crate) fn prepare(
    s: &OneOffSettings,
    rt: &Runtime,
    cluster: &str,
    td_arn: &str,
    td: &Value,
    service: &Value,
    shown: &str,
) -> Result<Prepared, Failure> {
    let container = container_of(s, td, shown)?;
    let token = client_token(rt, cluster, &s.service, td_arn, &s.command);
    let request = request(s, cluster, td_arn, td, &container, service, &token);
    if request.get("networkConfiguration").is_none() && network_mode(td) == "awsvpc" {
        return Err(Failure::Other(anyhow!(
            "the one-off task's revision uses network mode awsvpc, but service {} has no network configuration to take it from: give run-task-subnets and run-task-security-groups",
            s.service
        )));
    }
    let logs = crate::tasks::containers(td)
        .into_iter()
        .find(|c| c.container == container)
        .and_then(|c| {
            Some(LogStream {
                group: c.group?,
                prefix: c.prefix?,
                region: awslogs_region(td, &container),
            })
        });
    Ok(Prepared {
        service: s.service.clone(),
        task_definition: td_arn.to_string(),
        container,
        command: s.command.clone(),
        request,
        logs,
    })
}

fn awslogs_region(td: &Value, container: &str) -> Option<String> {
    td.get("containerDefinitions")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))?
        .pointer("/logConfiguration/options/awslogs-region")?
        .as_str()
        .map(str::to_string)
}

/// Where it runs, in words: launch type or providers, network, platform version.
fn placement_words(request: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(l) = request.get("launchType").and_then(Value::as_str) {
        parts.push(format!("launch type {l}"));
    } else if let Some(s) = request
        .get("capacityProviderStrategy")
        .and_then(Value::as_array)
    {
        let names: Vec<&str> = s
            .iter()
            .filter_map(|i| i.get("capacityProvider").and_then(Value::as_str))
            .collect();
        parts.push(format!("capacity providers {}", names.join(", ")));
    } else {
        parts.push("the cluster's default capacity providers".into());
    }
    match request.pointer("/networkConfiguration/awsvpcConfiguration") {
        Some(vpc) => {
            let list = |k: &str| {
                vpc.get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            parts.push(format!(
                "subnets {}, security groups {}",
                list("subnets"),
                list("securityGroups")
            ));
        }
        None => parts.push("no network configuration".into()),
    }
    if let Some(p) = request.get("platformVersion").and_then(Value::as_str) {
        parts.push(format!("platform {p}"));
    }
    parts.join("; ")
}

// ---------------------------------------------------------------------------------------
// The verdict on a task (pure)

/// A one-off task as DescribeTasks shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TaskState {
    pub last_status: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<ContainerStop>,
}

/// How a stopped one-off task ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ending {
    Succeeded,
    Failed(String),
}

/// The verdict once the task is STOPPED (`None` before): success only when `container`
/// exited 0. Other containers (a sidecar listed first) do not decide.
pub(crate) fn ending(t: &TaskState, container: &str) -> Option<Ending> {
    if t.last_status != "STOPPED" {
        return None;
    }
    let reason = t.stopped_reason.as_deref().unwrap_or_default();
    if t.stop_code.as_deref() == Some("TaskFailedToStart") {
        return Some(Ending::Failed(format!(
            "the task failed to start (TaskFailedToStart): {}",
            if reason.is_empty() {
                "no reason given"
            } else {
                reason
            }
        )));
    }
    let stop = match (&t.stop_code, reason) {
        (Some(c), "") => format!("stop code {c}"),
        (Some(c), r) => format!("stop code {c}: {r}"),
        (None, "") => "no stop reason".to_string(),
        (None, r) => r.to_string(),
    };
    let Some(c) = t.containers.iter().find(|c| c.name == container) else {
        return Some(Ending::Failed(format!(
            "the stopped task has no container {container} ({stop})"
        )));
    };
    let why = c
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    Some(match c.exit_code {
        Some(0) => Ending::Succeeded,
        Some(code) => Ending::Failed(format!("container {container} exited {code}{why}; {stop}")),
        None => Ending::Failed(format!(
            "container {container} stopped without an exit code{why}; {stop}"
        )),
    })
}

// ---------------------------------------------------------------------------------------
// The deploy's phase, plan's preview, the run-task command

/// Why the one-off task does not run for this service in this run, if it does not.
fn not_due(s: &OneOffSettings, r: &ServiceRun) -> Option<String> {
    let deployed = matches!(
        r.action,
        Action::Register | Action::Promote(_) | Action::Reuse(_) | Action::Redeploy
    );
    (!deployed && !s.always).then(|| {
        format!(
            "service {} gets no new deployment in this run (run-task-always: true runs it anyway)",
            r.name()
        )
    })
}

fn row(p: &Prepared, result: TaskResult) -> TaskReport {
    TaskReport {
        service: p.service.clone(),
        task_definition: p.task_definition.clone(),
        container: p.container.clone(),
        command: shown(&p.command),
        task: None,
        result,
        exit_code: None,
        stop_code: None,
        stopped_reason: None,
        log_tail: Vec::new(),
        duration: None,
    }
}

fn not_run_row(s: &OneOffSettings, td: &str, why: String) -> TaskReport {
    TaskReport {
        service: s.service.clone(),
        task_definition: td.to_string(),
        container: s.container.clone().unwrap_or_default(),
        command: shown(&s.command),
        task: None,
        result: TaskResult::NotRun(why),
        exit_code: None,
        stop_code: None,
        stopped_reason: None,
        log_tail: Vec::new(),
        duration: None,
    }
}

/// `plan`: what the one-off task would run, with which revision, and where; no RunTask.
pub(crate) fn preview(ctx: &Ctx<'_>, rt: &Runtime, runs: &[ServiceRun]) -> Option<TaskReport> {
    let s = ctx.cfg.oneoff.as_ref()?;
    let r = runs.iter().find(|r| r.target.service == s.service)?;
    let out = ctx.out;
    out.group("One-off task (plan)");
    let changed = !matches!(r.action, Action::Nothing | Action::WaitForCurrent(_));
    let revision = match &r.action {
        Action::Register => format!(
            "the new revision of {} (registered by deploy)",
            r.rendered
                .as_ref()
                .and_then(|d| crate::taskdef::family(&d.body))
                .unwrap_or("its family")
        ),
        Action::Promote(arn) | Action::Reuse(arn) => arn.clone(),
        _ => r.live.task_definition.clone(),
    };
    let report = match (not_due(s, r), &r.rendered) {
        (Some(why), _) => {
            out.line(&format!("one-off task: would not run: {why}"));
            not_run_row(s, &revision, why)
        }
        (None, Some(doc)) => {
            let td_arn = if changed {
                revision.clone()
            } else {
                r.live.task_definition.clone()
            };
            match prepare(
                s,
                rt,
                &ctx.cfg.cluster,
                &td_arn,
                &doc.body,
                &r.settings(),
                &doc.target.shown,
            ) {
                Ok(p) => {
                    out.line(&format!(
                        "one-off task: would run `{}` in container {} of {} (service {}; {}), up to {}, before any service is updated",
                        shown(&p.command),
                        p.container,
                        revision,
                        p.service,
                        placement_words(&p.request),
                        minutes(s.timeout)
                    ));
                    row(&p, TaskResult::WouldRun)
                }
                Err(e) => {
                    let why = match e {
                        Failure::Input(p) => p
                            .into_iter()
                            .map(|p| p.message)
                            .collect::<Vec<_>>()
                            .join("; "),
                        Failure::Other(e) => format!("{e:#}"),
                    };
                    out.warning(&format!("one-off task: {why}"));
                    not_run_row(s, &revision, why)
                }
            }
        }
        (None, None) => not_run_row(s, &revision, "its service has no task definition".into()),
    };
    out.end_group();
    Some(report)
}

/// The deploy's phase, after `register` and before `start_rollouts`: runs the one-off task
/// when it is configured and due, and waits for it. When it fails, every service is held back
/// (`ServiceRun::held`): none is updated. Its time is a bar of the timeline.
pub(crate) async fn run(
    ctx: &Ctx<'_>,
    rt: &Runtime,
    runs: &mut [ServiceRun],
) -> Option<TaskReport> {
    let s = ctx.cfg.oneoff.as_ref()?;
    let r = runs.iter().find(|r| r.target.service == s.service)?;
    let td_arn = r
        .new_task_definition
        .clone()
        .unwrap_or_else(|| r.live.task_definition.clone());
    if let Some(why) = not_due(s, r) {
        ctx.out.line(&format!("one-off task: not run: {why}"));
        return Some(not_run_row(s, &td_arn, why));
    }
    if runs.iter().any(|r| r.error.is_some()) {
        // A registration failed, or a CodeDeploy group is busy with someone else's
        // deployment: the run has failed already, and nothing is updated.
        let why = match runs.iter().any(|r| r.new_task_definition.is_some()) {
            true => "a task definition could not be registered",
            false => "the run failed before any service was registered or updated",
        };
        return Some(not_run_row(s, &td_arn, why.into()));
    }
    let start = ctx.clock.elapsed();
    ctx.out.group("One-off task");
    let doc = r
        .rendered
        .as_ref()
        .map(|d| (&d.body, d.target.shown.clone()));
    let report = match doc {
        None => failed_row(s, &td_arn, "its service has no task definition".into()),
        Some((body, shown_as)) => {
            match prepare(
                s,
                rt,
                &ctx.cfg.cluster,
                &td_arn,
                body,
                &r.settings(),
                &shown_as,
            ) {
                Ok(p) => execute(&ctx.aws, ctx.cfg, ctx.out, &p, s.timeout).await,
                Err(e) => {
                    let why = match e {
                        Failure::Input(p) => p
                            .into_iter()
                            .map(|p| p.message)
                            .collect::<Vec<_>>()
                            .join("; "),
                        Failure::Other(e) => format!("{e:#}"),
                    };
                    ctx.out
                        .error(&Default::default(), &format!("one-off task: {why}"));
                    failed_row(s, &td_arn, why)
                }
            }
        }
    };
    ctx.out.end_group();
    ctx.timeline.add("one-off task", start, ctx.clock.elapsed());
    if matches!(report.result, TaskResult::Failed(_)) {
        ctx.out.line("one-off task failed: no service is updated");
        for r in runs.iter_mut() {
            r.held = true;
        }
    }
    Some(report)
}

fn failed_row(s: &OneOffSettings, td: &str, why: String) -> TaskReport {
    let mut row = not_run_row(s, td, String::new());
    row.result = TaskResult::Failed(why);
    row
}

/// The `run-task` command: the one-off task alone, on the service's current task definition
/// (or the registered revision given as its task definition), with the same inputs, wait and
/// exit code as in a deploy; nothing is registered or updated.
pub(crate) async fn run_alone(
    cfg: &Config,
    rt: &Runtime,
    out: &Printer,
) -> Result<Report, Failure> {
    let clock = Clock::start();
    let s = cfg.oneoff.as_ref().ok_or_else(|| {
        Failure::from(InputProblem::new(
            "command run-task needs input run-task-command",
        ))
    })?;
    let (ctx, runs) =
        crate::prelude::start(cfg, rt, out, clock, crate::prelude::Rollouts::NotStarted).await?;
    let r = runs
        .iter()
        .find(|r| r.target.service == s.service)
        .ok_or_else(|| anyhow!("service {} was not described", s.service))?;
    let reference = r
        .target
        .revision
        .clone()
        .unwrap_or_else(|| r.live.task_definition.clone());
    let (td, _) = crate::ecs_json::describe(&ctx.aws.ecs, &reference)
        .await
        .map_err(|e| match &r.target.revision {
            Some(rev) => Failure::from(InputProblem::new(format!(
                "input task-definition: the registered revision `{rev}` cannot be read: {e:#}; give an ACTIVE revision (ARN or family:revision) of this account and region"
            ))),
            None => Failure::Other(e),
        })?;
    let td_arn = td
        .get("taskDefinitionArn")
        .and_then(Value::as_str)
        .unwrap_or(&reference)
        .to_string();
    let label = revision_label(&td_arn).to_string();
    let p = prepare(s, rt, &cfg.cluster, &td_arn, &td, &r.live.raw, &label)?;
    let start = ctx.clock.elapsed();
    out.group("One-off task");
    let row = execute(&ctx.aws, cfg, out, &p, s.timeout).await;
    out.end_group();
    ctx.timeline.add("one-off task", start, ctx.clock.elapsed());
    let mut report = Report::new(cfg.mode, &cfg.cluster, &ctx.region, &ctx.account, rt);
    report.result = crate::decide::conclude(&[], matches!(row.result, TaskResult::Failed(_)));
    report.oneoff = Some(row);
    report.duration = ctx.clock.elapsed();
    report.phases = ctx.timeline.take();
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// RunTask, the wait for STOPPED, the logs, StopTask

fn minutes(d: Duration) -> String {
    let m = d.as_secs_f64() / 60.0;
    if m < 1.0 {
        format!("{:.0} s", d.as_secs_f64())
    } else if m.fract() == 0.0 {
        format!("{m:.0} min")
    } else {
        format!("{m:.1} min")
    }
}

/// Starts the task (once) and waits for it to stop; the row says how it ended.
async fn execute(
    aws: &Aws,
    cfg: &Config,
    out: &Printer,
    p: &Prepared,
    timeout: Duration,
) -> TaskReport {
    let started = Instant::now();
    let mut report = row(p, TaskResult::Failed(String::new()));
    out.line(&format!(
        "one-off task: running `{}` in container {} of {} (service {}; {}), up to {}",
        shown(&p.command),
        p.container,
        revision_label(&p.task_definition),
        p.service,
        placement_words(&p.request),
        minutes(timeout)
    ));
    let arn = match start(aws, &cfg.cluster, p, out).await {
        Ok(arn) => arn,
        Err(e) => {
            let why = format!("{e:#}");
            out.error(&Default::default(), &format!("one-off task: {why}"));
            report.result = TaskResult::Failed(why);
            report.duration = Some(started.elapsed());
            return report;
        }
    };
    out.line(&format!("one-off task: started {arn}"));
    report.task = Some(arn.clone());
    let mut logs = p
        .logs
        .as_ref()
        .map(|l| Follower::new(aws, l, &p.container, last_segment(&arn)));
    let (state, why) = watch(aws, cfg, out, p, &arn, timeout, started, logs.as_mut()).await;
    if let Some(f) = logs.as_mut() {
        // awslogs delivers the last lines after the task stopped: one more look.
        let more = tokio::time::timeout(Duration::from_secs(5), f.more()).await;
        if let Ok(lines) = more {
            show(out, &p.container, &lines);
        }
        report.log_tail = f.tail.iter().cloned().collect();
    }
    if let Some(t) = &state {
        report.stop_code = t.stop_code.clone();
        report.stopped_reason = t.stopped_reason.clone();
        report.exit_code = t
            .containers
            .iter()
            .find(|c| c.name == p.container)
            .and_then(|c| c.exit_code);
    }
    report.duration = Some(started.elapsed());
    report.result = match why {
        Ok(()) => {
            out.line(&format!(
                "one-off task: container {} exited 0 after {:.1} s",
                p.container,
                started.elapsed().as_secs_f64()
            ));
            TaskResult::Succeeded
        }
        Err(why) => {
            out.error(&Default::default(), &format!("one-off task: {why}"));
            if let Some(f) = &logs {
                if !f.tail.is_empty() {
                    out.line(&format!(
                        "one-off task: the last {} log line(s) of {}:",
                        f.tail.len(),
                        p.container
                    ));
                    let lines: Vec<String> = f.tail.iter().map(|l| format!("  {l}")).collect();
                    out.untrusted(&lines);
                }
            }
            TaskResult::Failed(why)
        }
    };
    report
}

/// RunTask, never twice: the SDK's retries are off, throttles are retried, and after an
/// attempt whose answer was lost the same request is sent again with the same client token,
/// which ECS answers with the task the first attempt started. A non-empty `failures[]` is
/// printed with reason, detail and ARN.
async fn start(aws: &Aws, cluster: &str, p: &Prepared, out: &Printer) -> Result<String> {
    let body = serde_json::to_vec(&p.request)?;
    let keep = KeepBody::default();
    let td = p.task_definition.clone();
    crate::once::call_once(
        "RunTask",
        || {
            aws.ecs
                .run_task()
                .cluster(cluster)
                .task_definition(&td)
                .customize()
                .config_override(crate::once::no_retries())
                .mutate_request(replace_body(body.clone()))
                .interceptor(keep.clone())
                .send()
        },
        // The client token is the look: sending it again returns the first attempt's task.
        || async { Ok::<Option<()>, anyhow::Error>(None) },
    )
    .await
    .map_err(|e| e.context("RunTask"))?;
    let answer = keep.json()?;
    let failures = failure_lines(&answer);
    if !failures.is_empty() {
        out.line(&format!("RunTask answered {} failure(s):", failures.len()));
        out.untrusted(&failures);
    }
    let arn = answer
        .pointer("/tasks/0/taskArn")
        .and_then(Value::as_str)
        .map(str::to_string);
    match arn {
        Some(a) => Ok(a),
        None if failures.is_empty() => Err(anyhow!("RunTask started no task and gave no reason")),
        None => Err(anyhow!("RunTask started no task: {}", failures.join("; "))),
    }
}

/// `failures[]` of a RunTask or DescribeTasks answer, one line each: reason, detail, ARN.
pub(crate) fn failure_lines(answer: &Value) -> Vec<String> {
    answer
        .get("failures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let s = |k: &str| f.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
            let mut line = s("reason").unwrap_or("no reason given").to_string();
            if let Some(d) = s("detail") {
                line.push_str(&format!(": {d}"));
            }
            if let Some(a) = s("arn") {
                line.push_str(&format!(" ({a})"));
            }
            line
        })
        .collect()
}

/// Polls the task until it is STOPPED, the deadline passes (StopTask) or the run is cancelled
/// (StopTask). Returns the last state seen and the verdict.
#[allow(clippy::too_many_arguments)]
async fn watch(
    aws: &Aws,
    cfg: &Config,
    out: &Printer,
    p: &Prepared,
    arn: &str,
    timeout: Duration,
    started: Instant,
    mut logs: Option<&mut Follower>,
) -> (Option<TaskState>, Result<(), String>) {
    let cluster = &cfg.cluster;
    let poll = cfg.rollout.poll;
    let signal = crate::cancel::cancelled();
    tokio::pin!(signal);
    let mut last: Option<TaskState> = None;
    let mut shown_status = String::new();
    let mut first = true;
    loop {
        if !first {
            let left = timeout.saturating_sub(started.elapsed());
            let stop = tokio::select! {
                biased;
                name = &mut signal => Some(name),
                _ = tokio::time::sleep(poll.min(left)) => None,
            };
            if let Some(name) = stop {
                return cancelled(aws, cluster, out, arn, name, last).await;
            }
        }
        first = false;
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            let why = format!(
                "still running after run-task-timeout-minutes ({}): stopped it (StopTask){}",
                minutes(timeout),
                stop_task(
                    aws,
                    cluster,
                    arn,
                    "ecs-deploy: the one-off task passed its deadline",
                    STOP_AFTER_DEADLINE
                )
                .await
            );
            // What it showed when it was stopped, for the summary.
            if let Ok(Ok(Some(t))) =
                tokio::time::timeout(STOP_AFTER_DEADLINE, describe(aws, cluster, arn)).await
            {
                last = Some(t);
            }
            return (last, Err(why));
        }
        let described = tokio::select! {
            biased;
            name = &mut signal => return cancelled(aws, cluster, out, arn, name, last).await,
            r = tokio::time::timeout(left, describe(aws, cluster, arn)) => r,
        };
        match described {
            Ok(Ok(Some(t))) => {
                if t.last_status != shown_status {
                    out.line(&format!(
                        "one-off task {}: {}",
                        last_segment(arn),
                        t.last_status
                    ));
                    shown_status = t.last_status.clone();
                }
                last = Some(t);
            }
            // Just started: DescribeTasks may not know it yet.
            Ok(Ok(None)) => {}
            Ok(Err(e)) => out.warning(&format!(
                "could not describe the one-off task this time: {e:#}"
            )),
            Err(_) => continue,
        }
        if let Some(f) = logs.as_deref_mut() {
            let left = timeout.saturating_sub(started.elapsed());
            if let Ok(lines) = tokio::time::timeout(left, f.more()).await {
                show(out, &p.container, &lines);
            }
        }
        if let Some(end) = last.as_ref().and_then(|t| ending(t, &p.container)) {
            return (
                last,
                match end {
                    Ending::Succeeded => Ok(()),
                    Ending::Failed(why) => Err(why),
                },
            );
        }
    }
}

async fn cancelled(
    aws: &Aws,
    cluster: &str,
    out: &Printer,
    arn: &str,
    signal: &str,
    last: Option<TaskState>,
) -> (Option<TaskState>, Result<(), String>) {
    out.warning(&format!(
        "{signal} received: stopping the one-off task {}",
        last_segment(arn)
    ));
    let stopped = stop_task(
        aws,
        cluster,
        arn,
        "ecs-deploy: the workflow run was cancelled",
        STOP_ON_CANCEL,
    )
    .await;
    (
        last,
        Err(format!(
            "{signal} received: the run was cancelled while the one-off task ran; it was stopped (StopTask){stopped}"
        )),
    )
}

/// StopTask; the text is empty when it worked, else says what happened.
async fn stop_task(aws: &Aws, cluster: &str, arn: &str, reason: &str, limit: Duration) -> String {
    let call = aws
        .ecs
        .stop_task()
        .cluster(cluster)
        .task(arn)
        .reason(reason)
        .send();
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(_)) => String::new(),
        Ok(Err(e)) => format!(", but StopTask failed: {}", aws_error_message(&e)),
        Err(_) => format!(
            ", but StopTask did not answer within {} s: stop task {} by hand",
            limit.as_secs(),
            last_segment(arn)
        ),
    }
}

/// The one-off task as DescribeTasks shows it; `None` while it does not know it yet.
async fn describe(aws: &Aws, cluster: &str, arn: &str) -> Result<Option<TaskState>> {
    let answer = aws
        .ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(arn)
        .send()
        .await
        .map_err(|e| anyhow!(aws_error_message(&e)))?;
    Ok(answer.tasks().first().map(|t| TaskState {
        last_status: t.last_status().unwrap_or_default().to_string(),
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        stopped_reason: t.stopped_reason().map(str::to_string),
        containers: t
            .containers()
            .iter()
            .map(|c| ContainerStop {
                name: c.name().unwrap_or_default().to_string(),
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_string),
            })
            .collect(),
    }))
}

fn show(out: &Printer, container: &str, lines: &[String]) {
    let lines: Vec<String> = lines.iter().map(|l| format!("[{container}] {l}")).collect();
    out.untrusted(&lines);
}

/// Follows one awslogs stream: each `more` returns the lines that arrived since the last.
struct Follower {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    stream: String,
    token: Option<String>,
    tail: VecDeque<String>,
}

impl Follower {
    fn new(aws: &Aws, l: &LogStream, container: &str, task_id: &str) -> Follower {
        let client = match &l.region {
            Some(r) if aws.sdk.region().map(|x| x.as_ref()) != Some(r.as_str()) => {
                aws_sdk_cloudwatchlogs::Client::new(&aws.sdk_in(r))
            }
            _ => aws.logs.clone(),
        };
        Follower {
            client,
            group: l.group.clone(),
            stream: format!("{}/{container}/{task_id}", l.prefix),
            token: None,
            tail: VecDeque::new(),
        }
    }

    /// The new lines; none while the stream does not exist yet (the task has not started).
    async fn more(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        for _ in 0..LOG_PAGES_PER_POLL {
            let answer = self
                .client
                .get_log_events()
                .log_group_name(&self.group)
                .log_stream_name(&self.stream)
                .start_from_head(true)
                .set_next_token(self.token.clone())
                .send()
                .await;
            let Ok(page) = answer else {
                break;
            };
            let got: Vec<String> = page
                .events()
                .iter()
                .filter_map(|e| e.message().map(|m| m.trim_end().to_string()))
                .collect();
            let next = page.next_forward_token().map(str::to_string);
            // The same token back means no more events for now.
            let done = got.is_empty() || next.is_none() || next == self.token;
            self.token = next.or(self.token.take());
            lines.extend(got);
            if done {
                break;
            }
        }
        for l in &lines {
            if self.tail.len() == TAIL_LINES {
                self.tail.pop_front();
            }
            self.tail.push_back(l.clone());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OneOffSettings {
        OneOffSettings {
            command: vec!["python".into(), "manage.py".into(), "migrate".into()],
            service: "dataspace-app".into(),
            container: None,
            timeout: Duration::from_secs(600),
            always: false,
            subnets: vec![],
            security_groups: vec![],
            assign_public_ip: None,
            launch_type: None,
            capacity_provider_strategy: None,
        }
    }

    #[test]
    fn commands_split_like_a_shell_without_expansion() {
        let ok: &[(&str, &[&str])] = &[
            (
                "python manage.py migrate",
                &["python", "manage.py", "migrate"],
            ),
            (
                "  python   manage.py\tmigrate  ",
                &["python", "manage.py", "migrate"],
            ),
            (
                r#"sh -c 'echo $HOME && ls'"#,
                &["sh", "-c", "echo $HOME && ls"],
            ),
            (r#"echo "a \"b\" \$c \n""#, &["echo", r#"a "b" $c \n"#]),
            (r"echo a\ b \'x", &["echo", "a b", "'x"]),
            ("echo '' x", &["echo", "", "x"]),
            ("echo $HOME *", &["echo", "$HOME", "*"]),
            ("echo '&&'", &["echo", "&&"]),
            (
                r#"["python", "manage.py", "migrate", "--noinput"]"#,
                &["python", "manage.py", "migrate", "--noinput"],
            ),
            (r#"["sh", "-c", "a && b"]"#, &["sh", "-c", "a && b"]),
        ];
        for (text, want) in ok {
            let want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
            assert_eq!(parse_command(text), Ok(want), "{text}");
        }
        let bad: &[(&str, &str)] = &[
            ("[]", "the command is empty"),
            ("''", "the command's first word (the program) is empty"),
            (
                "python -c 'print(1)",
                "the single quote at character 11 is never closed",
            ),
            (
                r#"echo "abc"#,
                "the double quote at character 6 is never closed",
            ),
            (r"echo \", "ends with a backslash"),
            (
                r#"["python", 3]"#,
                "item 2 of the JSON array, 3, is not a string",
            ),
            ("[python", "starts like a JSON array but is not one"),
            ("migrate && serve", "`&&` is a shell operator"),
            ("migrate ;", "`;` is a shell operator"),
        ];
        for (text, want) in bad {
            let got = parse_command(text).unwrap_err();
            assert!(got.contains(want), "{text}: {got}");
        }
        assert_eq!(
            shown(&["sh".into(), "-c".into(), "it's a && b".into()]),
            r"sh -c 'it'\''s a && b'"
        );
    }

    #[test]
    fn strategies_are_checked() {
        let s = parse_strategy(r#"[{"capacityProvider": "FARGATE_SPOT", "weight": 2, "base": 1}]"#)
            .unwrap();
        assert_eq!(
            s,
            vec![json!({"capacityProvider": "FARGATE_SPOT", "weight": 2, "base": 1})]
        );
        for (text, want) in [
            ("FARGATE", "is not JSON"),
            ("[]", "non-empty JSON array"),
            (r#"[{"weight": 1}]"#, "no capacityProvider"),
            (
                r#"[{"capacityProvider": "x", "weight": -1}]"#,
                "weight -1 is not a whole number",
            ),
            (
                r#"[{"capacityProvider": "x", "wieght": 1}]"#,
                "item 1 has `wieght`",
            ),
        ] {
            let got = parse_strategy(text).unwrap_err();
            assert!(got.contains(want), "{text}: {got}");
        }
    }

    fn td(mode: Option<&str>, containers: Value) -> Value {
        let mut td = json!({"family": "dataspace-app", "containerDefinitions": containers});
        if let Some(m) = mode {
            td["networkMode"] = json!(m);
        }
        td
    }

    #[test]
    fn the_container_is_named_or_the_only_essential_one() {
        let one = td(
            Some("awsvpc"),
            json!([{"name": "web"}, {"name": "log", "essential": false}]),
        );
        assert_eq!(container_of(&settings(), &one, "td.json"), Ok("web".into()));
        let two = td(
            Some("awsvpc"),
            json!([{"name": "guardduty"}, {"name": "web"}]),
        );
        let err = container_of(&settings(), &two, "td.json").unwrap_err();
        assert!(
            err[0]
                .message
                .contains("input run-task-container is needed")
                && err[0]
                    .message
                    .contains("2 essential containers (`guardduty`, `web`)"),
            "{err:?}"
        );
        let named = OneOffSettings {
            container: Some("web".into()),
            ..settings()
        };
        assert_eq!(container_of(&named, &two, "td.json"), Ok("web".into()));
        let missing = OneOffSettings {
            container: Some("worker".into()),
            ..settings()
        };
        let err = container_of(&missing, &two, "td.json").unwrap_err();
        assert!(
            err[0]
                .message
                .contains("has no container `worker`; it has `guardduty`, `web`"),
            "{err:?}"
        );
        let bridge = td(None, json!([{"name": "web"}]));
        let with_subnets = OneOffSettings {
            subnets: vec!["subnet-1".into()],
            ..settings()
        };
        let err = container_of(&with_subnets, &bridge, "td.json").unwrap_err();
        assert!(
            err[0].message.contains("input run-task-subnets")
                && err[0].message.contains("network mode bridge"),
            "{err:?}"
        );
        assert!(container_of(&settings(), &bridge, "td.json").is_ok());
    }

    fn service() -> Value {
        json!({
            "serviceName": "dataspace-app",
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "enableExecuteCommand": true,
            "propagateTags": "SERVICE",
            "tags": [{"key": "team", "value": "data"}, {"key": "aws:cloudformation:stack-name", "value": "x"}],
            "networkConfiguration": {"awsvpcConfiguration": {
                "subnets": ["subnet-a"], "securityGroups": ["sg-a"], "assignPublicIp": "DISABLED"}},
        })
    }

    #[test]
    fn the_request_takes_the_services_settings() {
        let awsvpc = td(Some("awsvpc"), json!([{"name": "web"}]));
        let r = request(
            &settings(),
            "c",
            "arn:td:2",
            &awsvpc,
            "web",
            &service(),
            "tok",
        );
        assert_eq!(
            r,
            json!({
                "cluster": "c",
                "taskDefinition": "arn:td:2",
                "count": 1,
                "startedBy": "ecs-deploy",
                "clientToken": "tok",
                "overrides": {"containerOverrides": [{"name": "web", "command": ["python", "manage.py", "migrate"]}]},
                "networkConfiguration": {"awsvpcConfiguration": {
                    "subnets": ["subnet-a"], "securityGroups": ["sg-a"], "assignPublicIp": "DISABLED"}},
                "launchType": "FARGATE",
                "platformVersion": "1.4.0",
                "enableExecuteCommand": true,
                "tags": [{"key": "team", "value": "data"}],
            })
        );
        // Overrides win; a strategy replaces the launch type.
        let over = OneOffSettings {
            subnets: vec!["subnet-b".into()],
            assign_public_ip: Some("ENABLED"),
            capacity_provider_strategy: Some(vec![json!({"capacityProvider": "FARGATE_SPOT"})]),
            ..settings()
        };
        let r = request(&over, "c", "arn:td:2", &awsvpc, "web", &service(), "tok");
        assert_eq!(
            r["networkConfiguration"]["awsvpcConfiguration"],
            json!({"subnets": ["subnet-b"], "securityGroups": ["sg-a"], "assignPublicIp": "ENABLED"})
        );
        assert_eq!(r.get("launchType"), None);
        assert_eq!(
            r["capacityProviderStrategy"],
            json!([{"capacityProvider": "FARGATE_SPOT"}])
        );
        // Bridge mode: no network configuration, whatever the service says; EC2: no platform.
        let bridge = td(Some("bridge"), json!([{"name": "web"}]));
        let mut ec2 = service();
        ec2["launchType"] = json!("EC2");
        ec2["propagateTags"] = json!("TASK_DEFINITION");
        let r = request(&settings(), "c", "arn:td:2", &bridge, "web", &ec2, "tok");
        assert_eq!(r.get("networkConfiguration"), None);
        assert_eq!(r.get("platformVersion"), None);
        assert_eq!(r["launchType"], json!("EC2"));
        assert_eq!(r["propagateTags"], json!("TASK_DEFINITION"));
        assert_eq!(r.get("tags"), None);
    }

    #[test]
    fn the_client_token_comes_from_the_run() {
        let mut env = std::collections::BTreeMap::new();
        for (k, v) in [
            ("GITHUB_REPOSITORY", "acme/dataspace"),
            ("GITHUB_RUN_ID", "4242"),
            ("GITHUB_RUN_ATTEMPT", "1"),
        ] {
            env.insert(k.to_string(), v.to_string());
        }
        let rt = Runtime::from_map(env.clone());
        let cmd = settings().command;
        let a = client_token(&rt, "c", "s", "td:2", &cmd);
        assert_eq!(a, client_token(&rt, "c", "s", "td:2", &cmd), "stable");
        assert!(
            a.starts_with("ecs-deploy-4242-1-") && a.len() <= 64 && a.is_ascii(),
            "{a}"
        );
        env.insert("GITHUB_RUN_ATTEMPT".into(), "2".into());
        let rerun = client_token(&Runtime::from_map(env.clone()), "c", "s", "td:2", &cmd);
        assert_ne!(a, rerun, "a re-run is a new attempt");
        env.insert("GITHUB_RUN_ID".into(), "9".repeat(80));
        let long = client_token(&Runtime::from_map(env), "c", "s", "td:2", &cmd);
        assert!(long.len() <= 64, "{long}");
        let cli = client_token(&Runtime::default(), "c", "s", "td:2", &cmd);
        assert_ne!(
            cli,
            client_token(&Runtime::default(), "c", "s", "td:2", &cmd)
        );
        assert!(cli.len() <= 64);
    }

    fn stopped(code: Option<&str>, reason: &str, containers: &[(&str, Option<i32>)]) -> TaskState {
        TaskState {
            last_status: "STOPPED".into(),
            stop_code: code.map(str::to_string),
            stopped_reason: Some(reason.into()),
            containers: containers
                .iter()
                .map(|(n, c)| ContainerStop {
                    name: n.to_string(),
                    exit_code: *c,
                    reason: None,
                })
                .collect(),
        }
    }

    #[test]
    fn only_the_named_container_decides() {
        let running = TaskState {
            last_status: "RUNNING".into(),
            ..TaskState::default()
        };
        assert_eq!(ending(&running, "web"), None);
        let exited = "Essential container in task exited";
        let cases = [
            (stopped(Some("EssentialContainerExited"), exited, &[("guardduty", Some(1)), ("web", Some(0))]), Ok(())),
            (stopped(Some("EssentialContainerExited"), exited, &[("guardduty", Some(0)), ("web", Some(3))]), Err("container web exited 3; stop code EssentialContainerExited: Essential container in task exited")),
            (stopped(Some("TaskFailedToStart"), "CannotPullContainerError: not found", &[("web", None)]), Err("the task failed to start (TaskFailedToStart): CannotPullContainerError: not found")),
            (stopped(Some("EssentialContainerExited"), exited, &[("web", None)]), Err("container web stopped without an exit code")),
            (stopped(None, "", &[("other", Some(0))]), Err("the stopped task has no container web")),
        ];
        for (t, want) in cases {
            let got = ending(&t, "web");
            match (got, want) {
                (Some(Ending::Succeeded), Ok(())) => {}
                (Some(Ending::Failed(why)), Err(w)) => assert!(why.starts_with(w), "{why}"),
                (got, want) => panic!("{t:?}: {got:?} ≠ {want:?}"),
            }
        }
    }

    #[test]
    fn failures_are_never_null() {
        let answer = json!({"tasks": [], "failures": [
            {"arn": "arn:aws:ecs:us-east-1:1:container-instance/x", "reason": "RESOURCE:MEMORY", "detail": "needs 2048"},
            {"reason": null},
        ]});
        assert_eq!(
            failure_lines(&answer),
            vec![
                "RESOURCE:MEMORY: needs 2048 (arn:aws:ecs:us-east-1:1:container-instance/x)",
                "no reason given"
            ]
        );
    }
}
