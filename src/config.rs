//! The validated configuration: the second stage of argument handling.
//!
//! Raw strings from flags and `INPUT_*` are merged (flags win), checked all at once (every
//! problem is reported, not only the first), and turned into one `Config` that the rest of the
//! program reads. Nothing below this module looks at the environment or the raw inputs.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::cli::RawArgs;
use crate::error::InputProblem;
use crate::gha::Runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Deploy,
    Plan,
    Render,
    Verify,
    Rollback,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Deploy => "deploy",
            Mode::Plan => "plan",
            Mode::Render => "render",
            Mode::Verify => "verify",
            Mode::Rollback => "rollback",
        }
    }
}

/// Which input named a service; decides which output carries its ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    App,
    Otel,
    Extra,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service: String,
    /// The task-definition file; `None` only for `rollback`, which needs none.
    pub file: Option<PathBuf>,
    /// The path as the user wrote it, for messages and annotations.
    pub shown: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStack {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackInputs {
    pub name: String,
    pub template: PathBuf,
    pub template_shown: String,
    pub parameters: StackParameters,
    pub capabilities: Vec<String>,
    pub deploy: DeployStack,
    /// Stack tags (`stack-tags`); CloudFormation passes them on to the resources.
    pub tags: Vec<(String, String)>,
    /// Deadline for the stack part (`stack-timeout-minutes`).
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackParameters {
    Pairs(Vec<(String, String)>),
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub cluster: String,
    pub region: Option<String>,
    pub targets: Vec<Target>,
    pub images: Vec<(String, String)>,
    pub wait: bool,
    pub wait_for: Duration,
    pub poll: Duration,
    pub rollback_on_failure: bool,
    pub force_new_deployment: bool,
    pub desired_count: Option<i32>,
    pub stack: Option<StackInputs>,
    pub verify_images: bool,
    pub pin_image_digests: bool,
    pub ecr_repository_shorthand: bool,
    /// Run the verify checks (secrets, log groups) before deploying.
    pub verify: bool,
    pub role_to_assume: Option<String>,
    pub role_session_name: Option<String>,
    pub role_duration_seconds: i32,
    pub github_token: Option<String>,
    pub comment_on_pr: bool,
    pub comment_key: Option<String>,
    pub output_json: bool,
}

/// Merges flags over `INPUT_*` and validates. `cwd` resolves relative paths.
pub fn build(raw: &RawArgs, rt: &Runtime, cwd: &Path) -> Result<Config, Vec<InputProblem>> {
    let mut inputs = if rt.actions {
        rt.inputs()
    } else {
        BTreeMap::new()
    };
    for (k, v) in &raw.flags {
        inputs.insert(k, v.clone());
    }
    let mut v = Validator {
        inputs,
        problems: Vec::new(),
        cwd: cwd.to_path_buf(),
        workspace: rt.workspace.clone(),
    };
    let cfg = v.config(raw, rt);
    if v.problems.is_empty() {
        Ok(cfg)
    } else {
        Err(v.problems)
    }
}

struct Validator {
    inputs: BTreeMap<&'static str, String>,
    problems: Vec<InputProblem>,
    cwd: PathBuf,
    workspace: Option<PathBuf>,
}

impl Validator {
    fn get(&self, name: &str) -> Option<&str> {
        self.inputs
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    fn problem(&mut self, message: String) {
        self.problems.push(InputProblem::new(message));
    }

    fn config(&mut self, raw: &RawArgs, rt: &Runtime) -> Config {
        let mode = self.mode(raw);
        let cluster = self.get("cluster").unwrap_or_default().to_string();
        if cluster.is_empty() && mode != Mode::Render {
            self.problem(
                "input cluster is required: set `cluster:` to the ECS cluster name or ARN (CLI: --cluster)"
                    .into(),
            );
        }
        let region = self
            .get("region")
            .map(str::to_string)
            .or_else(|| rt.env_region());
        match &region {
            Some(r) if !valid_region(r) => self.problem(format!(
                "input region `{r}` is not an AWS region name (like eu-west-1)"
            )),
            None if mode != Mode::Render => self.problem(
                "no AWS region: set input `region`, or AWS_REGION in the job's env (aws-actions/configure-aws-credentials sets it)"
                    .into(),
            ),
            _ => {}
        }
        let targets = self.targets(mode);
        let images = self.images();
        let wait = self.boolean("wait-for-service-stability", true);
        let wait_minutes = self.number("wait-for-minutes", 15.0, 1.0, 360.0, true);
        let poll = self.number("poll-interval-seconds", 5.0, 0.1, 300.0, false);
        let rollback_on_failure = self.boolean("rollback-on-failure", true);
        let force_new_deployment = self.boolean("force-new-deployment", false);
        let desired_count =
            self.get("desired-count")
                .map(str::to_string)
                .and_then(|s| match s.parse::<i32>() {
                    Ok(n) if n >= 0 => Some(n),
                    _ => {
                        self.problem(format!(
                            "input desired-count `{s}` is not a whole number of tasks (0 or more)"
                        ));
                        None
                    }
                });
        let stack = self.stack();
        let verify_images = self.boolean("verify-images", true);
        let pin_image_digests = self.boolean("pin-image-digests", false);
        let comment_on_pr = self.boolean("comment-on-pr", true);
        let ecr_repository_shorthand = self.boolean("ecr-repository-shorthand", false);
        let verify = self.boolean("verify", true);
        let role_session_name = self.get("role-session-name").map(str::to_string);
        if let Some(name) = &role_session_name {
            let ok = (2..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
            if !ok {
                self.problem(format!(
                    "input role-session-name `{name}` is not 2 to 64 characters of letters, digits and _+=,.@-"
                ));
            }
        }
        let role_duration_seconds =
            self.number("role-duration-seconds", 3600.0, 900.0, 43200.0, true) as i32;
        let allow_prt = self.boolean("allow-pull-request-target", false);
        if mode == Mode::Deploy
            && rt.event_name.as_deref() == Some("pull_request_target")
            && !allow_prt
        {
            self.problem(
                "refusing to deploy on a pull_request_target event: it runs with a write token and secrets even for pull requests from forks; use `mode: plan` there, or set `allow-pull-request-target: true` if the workflow only runs trusted code"
                    .into(),
            );
        }
        Config {
            mode,
            cluster,
            region,
            targets,
            images,
            wait,
            wait_for: Duration::from_secs_f64(wait_minutes * 60.0),
            poll: Duration::from_secs_f64(poll),
            rollback_on_failure,
            force_new_deployment,
            desired_count,
            stack,
            verify_images,
            pin_image_digests,
            ecr_repository_shorthand,
            verify,
            role_to_assume: self.get("role-to-assume").map(str::to_string),
            role_session_name,
            role_duration_seconds,
            github_token: self.get("github-token").map(str::to_string),
            comment_on_pr,
            comment_key: self.get("comment-key").map(str::to_string),
            output_json: raw.output_json,
        }
    }

    fn mode(&mut self, raw: &RawArgs) -> Mode {
        let text = raw
            .command
            .clone()
            .or_else(|| self.get("mode").map(str::to_string))
            .unwrap_or_else(|| "deploy".into());
        match text.to_ascii_lowercase().as_str() {
            "deploy" => Mode::Deploy,
            "plan" => Mode::Plan,
            "render" => Mode::Render,
            "verify" => Mode::Verify,
            "rollback" => Mode::Rollback,
            other => {
                self.problem(format!(
                    "input mode `{other}` is not one of deploy, plan, render, verify, rollback"
                ));
                Mode::Deploy
            }
        }
    }

    fn targets(&mut self, mode: Mode) -> Vec<Target> {
        let mut targets = Vec::new();
        for (svc_input, file_input, role) in [
            ("service", "task-definition", Role::App),
            ("otel-service", "otel-task-definition", Role::Otel),
        ] {
            let svc = self.get(svc_input).map(str::to_string);
            let file = self.get(file_input).map(str::to_string);
            match (svc, file) {
                (Some(s), Some(f)) => {
                    if let Some(t) = self.target(&s, Some(&f), role, file_input) {
                        targets.push(t);
                    }
                }
                (Some(s), None) if mode == Mode::Rollback => {
                    if let Some(t) = self.target(&s, None, role, file_input) {
                        targets.push(t);
                    }
                }
                (Some(s), None) => self.problem(format!(
                    "input {svc_input} `{s}` is given without {file_input}: add `{file_input}:` with the path of its task-definition file"
                )),
                (None, Some(f)) if mode == Mode::Render => {
                    if let Some(t) = self.target("", Some(&f), role, file_input) {
                        targets.push(t);
                    }
                }
                (None, Some(f)) => self.problem(format!(
                    "input {file_input} `{f}` is given without {svc_input}: add `{svc_input}:` with the ECS service that runs it"
                )),
                (None, None) => {}
            }
        }
        if let Some(lines) = self.get("services").map(str::to_string) {
            for (i, line) in lines.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                match line.split_once('=') {
                    Some((s, f)) if !s.trim().is_empty() && !f.trim().is_empty() => {
                        if let Some(t) = self.target(s.trim(), Some(f.trim()), Role::Extra, "services") {
                            targets.push(t);
                        }
                    }
                    Some((s, _)) if !s.trim().is_empty() && mode == Mode::Rollback => {
                        if let Some(t) = self.target(s.trim(), None, Role::Extra, "services") {
                            targets.push(t);
                        }
                    }
                    _ if mode == Mode::Rollback && !line.contains('=') => {
                        if let Some(t) = self.target(line, None, Role::Extra, "services") {
                            targets.push(t);
                        }
                    }
                    _ => self.problem(format!(
                        "input services, line {}: `{line}` is not `service-name=path/to/taskdef.json`",
                        i + 1
                    )),
                }
            }
        }
        if targets.is_empty() && self.problems.is_empty() {
            self.problem(
                "no service to deploy: give `service` and `task-definition`, `otel-service` and `otel-task-definition`, or `services` lines"
                    .into(),
            );
        }
        let mut seen: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
        let mut unique = Vec::new();
        for t in targets {
            if t.service.is_empty() {
                unique.push(t);
                continue;
            }
            match seen.get(&t.service) {
                Some(f) if *f == t.file => self.problem(format!(
                    "service `{}` is listed twice: remove one of the entries",
                    t.service
                )),
                Some(_) => self.problem(format!(
                    "service `{}` is listed twice with different task-definition files: a service runs one task definition, keep one entry",
                    t.service
                )),
                None => {
                    seen.insert(t.service.clone(), t.file.clone());
                    unique.push(t);
                }
            }
        }
        unique
    }

    fn target(
        &mut self,
        service: &str,
        file: Option<&str>,
        role: Role,
        input: &str,
    ) -> Option<Target> {
        if !service.is_empty() && !valid_service_name(service) {
            self.problem(format!(
                "input {input}: `{service}` is not an ECS service name (letters, digits, hyphens and underscores, up to 255) or ARN"
            ));
            return None;
        }
        let file_path = match file {
            Some(f) => Some(self.path(f, input)?),
            None => None,
        };
        Some(Target {
            service: service.to_string(),
            file: file_path,
            shown: file.unwrap_or_default().to_string(),
            role,
        })
    }

    /// Resolves a path against the working directory and refuses one that leaves the workspace.
    fn path(&mut self, shown: &str, input: &str) -> Option<PathBuf> {
        let joined = self.cwd.join(shown);
        let lexical = normalize_lexically(&joined);
        if let Some(ws) = &self.workspace {
            let ws = normalize_lexically(&self.cwd.join(ws));
            let real = std::fs::canonicalize(&lexical).unwrap_or_else(|_| lexical.clone());
            let real_ws = std::fs::canonicalize(&ws).unwrap_or(ws);
            if !real.starts_with(&real_ws) {
                self.problem(format!(
                    "input {input}: path `{shown}` is outside the workspace {}: use a path inside the repository",
                    real_ws.display()
                ));
                return None;
            }
        }
        Some(lexical)
    }

    fn images(&mut self) -> Vec<(String, String)> {
        let Some(lines) = self.get("images").map(str::to_string) else {
            return Vec::new();
        };
        let mut out: Vec<(String, String)> = Vec::new();
        for (i, line) in lines.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((c, img))
                    if !c.trim().is_empty()
                        && !img.trim().is_empty()
                        && !img.trim().contains(char::is_whitespace) =>
                {
                    let c = c.trim().to_string();
                    if out.iter().any(|(o, _)| *o == c) {
                        self.problem(format!(
                            "input images, line {}: container `{c}` is given twice",
                            i + 1
                        ));
                    }
                    out.push((c, img.trim().to_string()));
                }
                _ => self.problem(format!(
                    "input images, line {}: `{line}` is not `container-name=image-uri`",
                    i + 1
                )),
            }
        }
        out
    }

    fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.get(name).map(str::to_ascii_lowercase) {
            None => default,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => {
                self.problem(format!("input {name} `{v}` is not true or false"));
                default
            }
        }
    }

    fn number(&mut self, name: &str, default: f64, min: f64, max: f64, whole: bool) -> f64 {
        let Some(text) = self.get(name).map(str::to_string) else {
            return default;
        };
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() && n >= min && n <= max && (!whole || n.fract() == 0.0) => n,
            _ => {
                let kind = if whole { "a whole number" } else { "a number" };
                self.problem(format!(
                    "input {name} `{text}` is not {kind} from {min} to {max}"
                ));
                default
            }
        }
    }

    fn stack(&mut self) -> Option<StackInputs> {
        let name = self.get("stack-name").map(str::to_string);
        let template = self.get("stack-template").map(str::to_string);
        let deploy = match self
            .get("deploy-stack")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") => DeployStack::Auto,
            Some("always") => DeployStack::Always,
            Some("never") => DeployStack::Never,
            Some(other) => {
                self.problem(format!(
                    "input deploy-stack `{other}` is not one of auto, always, never"
                ));
                DeployStack::Auto
            }
        };
        let capabilities: Vec<String> = self
            .get("stack-capabilities")
            .unwrap_or("CAPABILITY_IAM,CAPABILITY_NAMED_IAM")
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        for c in &capabilities {
            if !matches!(
                c.as_str(),
                "CAPABILITY_IAM" | "CAPABILITY_NAMED_IAM" | "CAPABILITY_AUTO_EXPAND"
            ) {
                self.problem(format!(
                    "input stack-capabilities: `{c}` is not CAPABILITY_IAM, CAPABILITY_NAMED_IAM or CAPABILITY_AUTO_EXPAND"
                ));
            }
        }
        let parameters = match self.get("stack-parameters").map(str::to_string) {
            None => StackParameters::Pairs(Vec::new()),
            Some(p) if p.starts_with("file://") => {
                match self.path(p.trim_start_matches("file://"), "stack-parameters") {
                    Some(path) => StackParameters::File(path),
                    None => StackParameters::Pairs(Vec::new()),
                }
            }
            // The raw text: a value's leading or trailing spaces are part of it.
            Some(_) => {
                let raw = self
                    .inputs
                    .get("stack-parameters")
                    .cloned()
                    .unwrap_or_default();
                StackParameters::Pairs(self.key_values("stack-parameters", &raw))
            }
        };
        let tags = match self.get("stack-tags").map(str::to_string) {
            Some(t) => self.key_values("stack-tags", &t),
            None => Vec::new(),
        };
        let timeout = Duration::from_secs_f64(
            self.number("stack-timeout-minutes", 30.0, 1.0, 720.0, true) * 60.0,
        );
        match (name, template) {
            (Some(name), Some(t)) => {
                let template = self.path(&t, "stack-template")?;
                Some(StackInputs {
                    name,
                    template,
                    template_shown: t,
                    parameters,
                    capabilities,
                    deploy,
                    tags,
                    timeout,
                })
            }
            (Some(_), None) => {
                self.problem("input stack-name is given without stack-template: add the template file's path".into());
                None
            }
            (None, Some(_)) => {
                self.problem("input stack-template is given without stack-name: add the CloudFormation stack's name".into());
                None
            }
            (None, None) => None,
        }
    }
}

impl Validator {
    /// `Key=Value` lines (values may hold `=` and `,`, and keep their spaces); a message shows
    /// only the key part, since a parameter's value may be a secret. A line without `=` after a
    /// pair is most likely the rest of a multi-line value, so it is never shown.
    fn key_values(&mut self, input: &str, text: &str) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut previous: Option<(String, usize)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match raw.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    previous = Some((k.trim().to_string(), i + 1));
                    pairs.push((k.trim().to_string(), v.to_string()))
                }
                None if previous.is_some() => {
                    let (key, at) = previous.clone().unwrap_or_default();
                    self.problem(format!(
                        "input {input}, line {}: no `=`; if it continues the value of {key} from line {at}, a value cannot span lines here: {}",
                        i + 1,
                        if input == "stack-parameters" {
                            "pass multi-line values in a parameters file (file://params.json)"
                        } else {
                            "put each `Key=Value` on one line"
                        }
                    ))
                }
                _ => self.problem(format!(
                    "input {input}, line {}: `{}` is not `Key=Value`",
                    i + 1,
                    line.split('=').next().unwrap_or_default()
                )),
            }
        }
        pairs
    }
}

fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

fn valid_service_name(s: &str) -> bool {
    if s.starts_with("arn:") {
        return s.contains(":service/") && !s.contains(char::is_whitespace);
    }
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn normalize_lexically(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(flags: &[(&'static str, &str)], expect_err: Option<&str>) -> Option<Config> {
        let raw = RawArgs {
            command: None,
            flags: flags.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            output_json: false,
        };
        let rt = Runtime {
            workspace: Some(PathBuf::from("/ws")),
            env: BTreeMap::from([("AWS_REGION".into(), "eu-west-1".into())]),
            ..Runtime::default()
        };
        let r = build(&raw, &rt, Path::new("/ws"));
        match (r, expect_err) {
            (Ok(c), None) => Some(c),
            (Err(p), Some(frag)) => {
                let all: Vec<_> = p.iter().map(|p| p.message.clone()).collect();
                assert!(
                    all.iter().any(|m| m.contains(frag)),
                    "expected `{frag}` in {all:?}"
                );
                None
            }
            (Ok(_), Some(frag)) => panic!("expected an error with `{frag}`"),
            (Err(p), None) => panic!("unexpected errors: {p:?}"),
        }
    }

    #[test]
    fn a_full_dataspace_config() {
        let c = check(
            &[
                ("cluster", "dataspace-dev"),
                ("service", "app"),
                ("task-definition", "aws/task-definition.json"),
                ("otel-service", "otel"),
                ("otel-task-definition", "aws/otel.json"),
                ("services", "worker = aws/worker.json\n\n# comment\n"),
                ("images", "web=1.dkr.ecr.eu-west-1.amazonaws.com/web:abc"),
                ("wait-for-minutes", "20"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(c.targets.len(), 3);
        assert_eq!(c.targets[2].service, "worker");
        assert_eq!(
            c.targets[2].file,
            Some(PathBuf::from("/ws/aws/worker.json"))
        );
        assert_eq!(c.wait_for, Duration::from_secs(1200));
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.mode, Mode::Deploy);
    }

    #[test]
    fn bad_inputs_are_named() {
        let base = [("service", "app"), ("task-definition", "t.json")];
        let with = |extra: (&'static str, &'static str)| {
            let mut v = base.to_vec();
            v.push(("cluster", "c"));
            v.push(extra);
            v
        };
        check(&base, Some("input cluster is required"));
        check(
            &with(("wait-for-minutes", "soon")),
            Some("wait-for-minutes `soon`"),
        );
        check(&with(("wait-for-minutes", "-3")), Some("wait-for-minutes"));
        check(&with(("services", "worker")), Some("services, line 1"));
        check(&with(("mode", "destroy")), Some("input mode `destroy`"));
        check(
            &with(("force-new-deployment", "yes")),
            Some("force-new-deployment"),
        );
        check(&with(("images", "web")), Some("images, line 1"));
        check(
            &with(("services", "app=other.json")),
            Some("listed twice with different"),
        );
        check(
            &with(("services", "x=../../etc/passwd")),
            Some("outside the workspace"),
        );
        check(&with(("deploy-stack", "sometimes")), Some("deploy-stack"));
        check(&with(("region", "mars")), Some("region `mars`"));
        check(&[("cluster", "c")], Some("no service to deploy"));
        check(
            &[("cluster", "c"), ("service", "app")],
            Some("without task-definition"),
        );
    }
}
