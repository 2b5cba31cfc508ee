//! The validated configuration: the second stage of argument handling.
//!
//! Raw strings from flags and `INPUT_*` are merged (flags win), checked all at once (every
//! problem is reported, not only the first), and turned into one `Config` that the rest of the
//! program reads. Nothing below this module looks at the environment or the raw inputs.
//! Each input's kind, default and the message for a bad value come from `inputs::INPUTS`;
//! this module adds what a kind cannot say (names, ARNs, pairs of inputs). The rules for a
//! setting given in two places are listed at `build`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::cli::RawArgs;
use crate::error::InputProblem;
use crate::gha::Runtime;
use crate::inputs::{self, env_name, not_substituted_hint, Value};

/// `wait-for-minutes` when it is not given.
const DEFAULT_WAIT_MINUTES: f64 = 15.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Deploy,
    Plan,
    Render,
    Verify,
    Rollback,
    /// Only the one-off task (`oneoff::run_alone`): no deploy.
    RunTask,
    /// Continue (or roll back) an ECS-native deployment paused at a hook (`resume.rs`).
    Continue,
    /// Old revisions of input `families` (`housekeeping::run_prune`): no deploy.
    Prune,
}

impl Mode {
    const ALL: [Mode; 8] = [
        Mode::Deploy,
        Mode::Plan,
        Mode::Render,
        Mode::Verify,
        Mode::Rollback,
        Mode::RunTask,
        Mode::Continue,
        Mode::Prune,
    ];

    /// A mode by its name in the inputs table (`inputs::MODES`).
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Deploy => "deploy",
            Mode::Plan => "plan",
            Mode::Render => "render",
            Mode::Verify => "verify",
            Mode::Rollback => "rollback",
            Mode::RunTask => "run-task",
            Mode::Continue => "continue",
            Mode::Prune => "prune",
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
    /// The task-definition file; `None` for `rollback`, which needs none, and for a promotion.
    pub file: Option<PathBuf>,
    /// A registered revision to deploy as it is (promotion: an ARN or `family:revision`
    /// given where a file is expected); nothing is registered for it.
    pub revision: Option<String>,
    /// The path as the user wrote it, for messages and annotations.
    pub shown: String,
    pub role: Role,
    /// The service-definition file (the shape of CreateService): the service is created from
    /// it when missing, and its attributes are kept as it says.
    pub definition: Option<PathBuf>,
    /// The definition's path as the user wrote it.
    pub definition_shown: String,
    /// The compose service whose task this is, when `file` is a compose file (input
    /// compose-file); its service definition may then be written inline (x-ecs).
    pub compose: Option<String>,
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
    pub rollout: RolloutSettings,
    pub stack: Option<StackInputs>,
    pub image_checks: ImageChecks,
    /// Run the verify checks (secrets, log groups) before deploying.
    pub verify: bool,
    pub credentials: CredentialSettings,
    pub comment: CommentSettings,
    pub output_json: bool,
    /// The one-off task before the rollouts (`run-task-*`); `None` when no command is given.
    pub oneoff: Option<OneOffSettings>,
    /// Housekeeping after a successful deploy and the Terraform outputs (issue 17).
    pub housekeeping: HousekeepingSettings,
    /// CODE_DEPLOY services (`codedeploy-*`; issue 14).
    pub codedeploy: CodeDeploySettings,
}

/// The `codedeploy-*` inputs. Names given apply to the app service (`service`); every other
/// CODE_DEPLOY service of the run uses the defaults (`AppECS-<cluster>-<service>`,
/// `DgpECS-<cluster>-<service>`) and an AppSpec built from the service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeDeploySettings {
    /// The AppSpec file: (path, as the user wrote it).
    pub appspec: Option<(PathBuf, String)>,
    pub application: Option<String>,
    pub group: Option<String>,
    pub config: Option<String>,
    pub description: Option<String>,
    /// Lifecycle hooks for a built AppSpec: (event, Lambda function).
    pub hooks: Vec<(String, String)>,
}

/// The AppSpec lifecycle events an ECS deployment has hooks for, in order.
pub const APPSPEC_HOOKS: [&str; 5] = [
    "BeforeInstall",
    "AfterInstall",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];

/// Housekeeping after a successful deploy (`housekeeping.rs`, `schedules.rs`) and the
/// Terraform outputs read as variables (`tfstate.rs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HousekeepingSettings {
    /// `keep-revisions`: keep the newest N ACTIVE revisions of each family; `None`: off.
    pub keep_revisions: Option<usize>,
    pub delete_revisions: bool,
    /// The `prune` command's families.
    pub families: Vec<String>,
    /// `prune`: list only.
    pub dry_run: bool,
    /// EventBridge rules: (event bus, rule name); the bus is `default` unless given.
    pub rules: Vec<(String, String)>,
    /// Scheduler schedules: (group, name); the group is `default` unless given.
    pub schedules: Vec<(String, String)>,
    /// Every rule and schedule of the region whose ECS target is this cluster.
    pub cluster_schedules: bool,
    pub terraform: Option<TerraformSource>,
}

/// Where the Terraform outputs come from (`terraform-outputs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerraformSource {
    /// A local file: `terraform output -json`'s JSON, or a state file.
    File { path: PathBuf, shown: String },
    /// A state file in S3.
    S3 { bucket: String, key: String },
}

impl TerraformSource {
    /// As the user wrote it, for messages.
    pub fn shown(&self) -> String {
        match self {
            TerraformSource::File { shown, .. } => shown.clone(),
            TerraformSource::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// How services are rolled out and waited for (the deploy flow and the wait).
#[derive(Debug, Clone)]
pub struct RolloutSettings {
    pub wait: bool,
    pub wait_for: Duration,
    /// `wait-for-minutes` was given (not its default): an ECS-native plan longer than it is
    /// warned about instead of extending the deadline.
    pub wait_for_given: bool,
    /// Where the wait ends for ECS-native services (`wait-until`).
    pub wait_until: crate::rollout::Goal,
    /// `continue` rolls the paused deployment back instead (`continue-action: rollback`).
    pub continue_rollback: bool,
    pub poll: Duration,
    pub rollback_on_failure: bool,
    pub force_new_deployment: bool,
    pub desired_count: Option<i32>,
}

/// The one-off task (`oneoff.rs`): what runs, where its settings come from, how long it may
/// take. The overrides replace what the service says; the rest comes from the service.
#[derive(Debug, Clone, PartialEq)]
pub struct OneOffSettings {
    /// The command, as ECS gets it (`containerOverrides[].command`); never empty.
    pub command: Vec<String>,
    /// The service (as its target names it) whose new revision and settings are used.
    pub service: String,
    /// The container that runs the command; `None`: the task's only essential container.
    pub container: Option<String>,
    pub timeout: Duration,
    /// Run even when its service gets no new deployment in this run.
    pub always: bool,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// `ENABLED` or `DISABLED`.
    pub assign_public_ip: Option<&'static str>,
    pub launch_type: Option<&'static str>,
    /// `capacityProviderStrategy` items as ECS takes them (`capacityProvider`, `weight`, `base`).
    pub capacity_provider_strategy: Option<Vec<serde_json::Value>>,
}

impl OneOffSettings {
    /// A network override was given (refused for tasks that are not awsvpc).
    pub fn network_override(&self) -> Option<&'static str> {
        if !self.subnets.is_empty() {
            Some("run-task-subnets")
        } else if !self.security_groups.is_empty() {
            Some("run-task-security-groups")
        } else if self.assign_public_ip.is_some() {
            Some("run-task-assign-public-ip")
        } else {
            None
        }
    }
}

/// What is checked and rewritten in the images (`images.rs`).
#[derive(Debug, Clone)]
pub struct ImageChecks {
    pub verify_images: bool,
    pub pin_image_digests: bool,
    pub ecr_repository_shorthand: bool,
}

/// Which credentials the run uses (`credentials.rs`).
#[derive(Debug, Clone)]
pub struct CredentialSettings {
    pub role_to_assume: Option<String>,
    pub role_session_name: Option<String>,
    pub role_duration_seconds: i32,
}

/// The sticky pull-request comment (`github.rs`).
#[derive(Debug, Clone)]
pub struct CommentSettings {
    pub github_token: Option<String>,
    pub comment_on_pr: bool,
    pub comment_key: Option<String>,
}

/// Merges flags over `INPUT_*` and validates. `cwd` resolves relative paths.
///
/// Where one setting can come from two places, the rule is decided here, once:
/// - an input given as `--flag` and as `INPUT_*`: the flag wins (DESIGN section 1). An empty
///   value counts as not given, so `--cluster ''` leaves `INPUT_CLUSTER` in force.
/// - `INPUT_*` is read only inside GitHub Actions (`GITHUB_ACTIONS=true`); outside, a stray
///   `INPUT_MODE` in a shell never changes what a command does.
/// - the positional command and input `mode` (its flag or `INPUT_MODE`, merged as above): when
///   both are given and differ, exit 2 naming both; `deploy --mode plan` must not deploy. A bad
///   `mode` next to a command is reported too.
/// - `region` wins over `AWS_REGION`, which wins over `AWS_DEFAULT_REGION` (the input is the
///   explicit choice; the variables are the job's defaults). A cluster or service ARN whose
///   region is not the run's region is exit 2.
/// - a service ARN naming another cluster than `cluster`, or another account than a cluster
///   ARN, is exit 2; a service named twice (by name and by ARN, or in two inputs) is exit 2.
/// - `github-token` is the only token the comment uses; a `GITHUB_TOKEN` variable is never
///   read as one (it is only scrubbed).
/// - input `verify` applies to `deploy`; the `verify` command always runs its checks.
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
        flags: raw.flags.keys().copied().collect(),
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
    /// The inputs given as `--flag` (the rest came from `INPUT_*`), for messages.
    flags: BTreeSet<&'static str>,
    problems: Vec<InputProblem>,
    cwd: PathBuf,
    workspace: Option<PathBuf>,
}

/// A target as the inputs gave it, with where it was given (for messages).
struct Given {
    target: Target,
    /// `input service`, `input services, line 3`.
    origin: String,
}

impl Validator {
    /// The value given for an input, trimmed; `None` when absent or empty.
    fn get(&self, name: &str) -> Option<&str> {
        self.inputs
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    /// Where an input's value came from, for messages: `--mode` or `INPUT_MODE`.
    fn source(&self, name: &str) -> String {
        if self.flags.contains(name) {
            format!("--{name}")
        } else {
            env_name(name)
        }
    }

    fn problem(&mut self, message: String) {
        self.problems.push(InputProblem::new(message));
    }

    /// The input's value read by its kind: the given one, or (when it is not given or not
    /// valid, which is reported) the table's default.
    fn value(&mut self, name: &str) -> Option<Value> {
        let spec = inputs::spec(name);
        if let Some(text) = self.get(name).map(str::to_string) {
            match spec.parse(&text) {
                Ok(v) => return Some(v),
                Err(message) => self.problem(message),
            }
        }
        spec.binary_default().and_then(|d| spec.parse(d).ok())
    }

    fn boolean(&mut self, name: &str) -> bool {
        matches!(self.value(name), Some(Value::Bool(true)))
    }

    fn number(&mut self, name: &str) -> Option<f64> {
        match self.value(name) {
            Some(Value::Number(n)) => Some(n),
            _ => None,
        }
    }

    fn choice(&mut self, name: &str) -> Option<&'static str> {
        match self.value(name) {
            Some(Value::Choice(c)) => Some(c),
            _ => None,
        }
    }

    fn config(&mut self, raw: &RawArgs, rt: &Runtime) -> Config {
        let mode = self.mode(raw);
        let cluster = self.get("cluster").unwrap_or_default().to_string();
        // A stack-only run (no service inputs at all) needs no cluster.
        let stack_only = ["service", "otel-service", "services", "compose-file"]
            .iter()
            .all(|i| self.get(i).is_none())
            && self.get("stack-name").is_some();
        if cluster.is_empty()
            && mode != Mode::Render
            && (!stack_only || matches!(mode, Mode::Rollback | Mode::Continue))
        {
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
                "input region `{r}` is not an AWS region name (like eu-west-1){}",
                not_substituted_hint(r)
            )),
            None if mode != Mode::Render => self.problem(
                "no AWS region: set input `region`, or AWS_REGION in the job's env (aws-actions/configure-aws-credentials sets it)"
                    .into(),
            ),
            _ => {}
        }
        let cluster_arn = self.cluster(&cluster, region.as_deref());
        let targets = self.targets(mode);
        let mut targets =
            self.check_targets(targets, &cluster, cluster_arn.as_ref(), region.as_deref());
        self.definitions(&mut targets);
        let images = self.images();
        let wait = self.boolean("wait-for-service-stability");
        // No table default: the runner passes a default as if it were given, and a given
        // deadline is kept even when an ECS-native plan is longer.
        let wait_minutes = self
            .number("wait-for-minutes")
            .unwrap_or(DEFAULT_WAIT_MINUTES);
        let wait_for_given = self.get("wait-for-minutes").is_some();
        let wait_until = self.wait_until();
        let poll = self.number("poll-interval-seconds").unwrap_or_default();
        let rollback_on_failure = self.boolean("rollback-on-failure");
        let force_new_deployment = self.boolean("force-new-deployment");
        // Bounded by the table (0 to ECS's 5,000 tasks per service), so the cast is exact.
        let desired_count = self.number("desired-count").map(|n| n as i32);
        let stack = self.stack();
        // A run with a stack and no service deploys the stack alone.
        if targets.is_empty()
            && self.problems.is_empty()
            && mode != Mode::Prune
            && (stack.is_none() || matches!(mode, Mode::Rollback | Mode::Continue))
        {
            self.problem(
                "no service to deploy: give `service` and `task-definition`, `otel-service` and `otel-task-definition`, `services` lines, or `compose-file` (or `stack-name` and `stack-template` to deploy the stack alone)"
                    .into(),
            );
        }
        let verify_images = self.boolean("verify-images");
        let pin_image_digests = self.boolean("pin-image-digests");
        let comment_on_pr = self.boolean("comment-on-pr");
        let ecr_repository_shorthand = self.boolean("ecr-repository-shorthand");
        let verify = self.boolean("verify");
        let role_session_name = self.get("role-session-name").map(str::to_string);
        if let Some(name) = &role_session_name {
            let ok = (2..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
            if !ok {
                self.problem(format!(
                    "input role-session-name `{name}` is not 2 to 64 characters of letters, digits and _+=,.@-{}",
                    not_substituted_hint(name)
                ));
            }
        }
        let role_duration_seconds = self.number("role-duration-seconds").unwrap_or_default() as i32;
        let allow_prt = self.boolean("allow-pull-request-target");
        if mode == Mode::Deploy
            && rt.event_name.as_deref() == Some("pull_request_target")
            && !allow_prt
        {
            self.problem(
                "refusing to deploy on a pull_request_target event: it runs with a write token and secrets even for pull requests from forks; use `mode: plan` there, or set `allow-pull-request-target: true` if the workflow only runs trusted code"
                    .into(),
            );
        }
        // Its table default is the runner's `${{ github.token }}`: the binary has none.
        let github_token = self.get("github-token").map(str::to_string);
        let oneoff = self.oneoff(mode, &targets);
        let housekeeping = self.housekeeping(mode);
        let codedeploy = self.codedeploy();
        Config {
            mode,
            cluster,
            region,
            targets,
            images,
            rollout: RolloutSettings {
                wait,
                wait_for: Duration::from_secs_f64(wait_minutes * 60.0),
                wait_for_given,
                wait_until,
                continue_rollback: self.choice("continue-action") == Some("rollback"),
                poll: Duration::from_secs_f64(poll),
                rollback_on_failure,
                force_new_deployment,
                desired_count,
            },
            codedeploy,
            stack,
            image_checks: ImageChecks {
                verify_images,
                pin_image_digests,
                ecr_repository_shorthand,
            },
            verify,
            credentials: CredentialSettings {
                role_to_assume: self.get("role-to-assume").map(str::to_string),
                role_session_name,
                role_duration_seconds,
            },
            comment: CommentSettings {
                github_token,
                comment_on_pr,
                comment_key: self.get("comment-key").map(str::to_string),
            },
            output_json: raw.output_json,
            oneoff,
            housekeeping,
        }
    }

    /// The housekeeping inputs (`keep-revisions`, `delete-revisions`, `families`, `dry-run`,
    /// `scheduled-rules`, `schedules`, `move-cluster-schedules`) and `terraform-outputs`.
    fn housekeeping(&mut self, mode: Mode) -> HousekeepingSettings {
        let keep_revisions = self.number("keep-revisions").map(|n| n as usize);
        let delete_revisions = self.boolean("delete-revisions");
        let dry_run = self.boolean("dry-run");
        let cluster_schedules = self.boolean("move-cluster-schedules");
        let families = self.lines("families");
        for f in &families {
            if !valid_name(f) {
                self.problem(format!(
                    "input families: `{f}` is not a task-definition family (letters, digits, hyphens and underscores, up to 255){}",
                    not_substituted_hint(f)
                ));
            }
        }
        if mode == Mode::Prune {
            if families.is_empty() {
                self.problem(
                    "command prune needs input families: the task-definition families to clean up, one per line (CLI: --families dataspace-app)"
                        .into(),
                );
            }
            if keep_revisions.is_none() && self.get("keep-revisions").is_none() {
                self.problem(
                    "command prune needs input keep-revisions: how many of the newest ACTIVE revisions to keep (CLI: --keep-revisions 10)"
                        .into(),
                );
            }
        }
        if delete_revisions && keep_revisions.is_none() && self.get("keep-revisions").is_none() {
            self.problem(
                "input delete-revisions is true without keep-revisions: deleting applies to the revisions keep-revisions deregisters; add `keep-revisions:`"
                    .into(),
            );
        }
        let pair = |v: &mut Validator,
                    input: &str,
                    line: &str,
                    what: &str|
         -> Option<(String, String)> {
            let (first, name) = match line.rsplit_once('/') {
                Some((f, n)) if !line.starts_with("arn:") => (f.to_string(), n.to_string()),
                _ => ("default".to_string(), line.to_string()),
            };
            let ok = |s: &str| {
                (1..=64).contains(&s.len())
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            };
            if ok(&first) && ok(&name) {
                Some((first, name))
            } else {
                v.problem(format!(
                    "input {input}: `{line}` is not {what} (letters, digits and -_. up to 64 each){}",
                    not_substituted_hint(line)
                ));
                None
            }
        };
        let rules = self
            .lines("scheduled-rules")
            .iter()
            .filter_map(|l| {
                pair(
                    self,
                    "scheduled-rules",
                    l,
                    "a rule name or event-bus/rule-name",
                )
            })
            .collect();
        let schedules = self
            .lines("schedules")
            .iter()
            .filter_map(|l| {
                pair(
                    self,
                    "schedules",
                    l,
                    "a schedule name or group/schedule-name",
                )
            })
            .collect();
        let terraform = self.get("terraform-outputs").map(str::to_string).and_then(|t| {
            if let Some(rest) = t.strip_prefix("s3://") {
                match rest.split_once('/') {
                    Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() && !key.ends_with('/') => {
                        Some(TerraformSource::S3 {
                            bucket: bucket.to_string(),
                            key: key.to_string(),
                        })
                    }
                    _ => {
                        self.problem(format!(
                            "input terraform-outputs `{t}` names no object: give s3://BUCKET/KEY, the key of the state file (like s3://my-tf-state/env/dev/terraform.tfstate)"
                        ));
                        None
                    }
                }
            } else {
                self.path(&t, "terraform-outputs")
                    .map(|path| TerraformSource::File { path, shown: t.clone() })
            }
        });
        HousekeepingSettings {
            keep_revisions,
            delete_revisions,
            families,
            dry_run,
            rules,
            schedules,
            cluster_schedules,
            terraform,
        }
    }

    /// The `codedeploy-*` inputs.
    fn codedeploy(&mut self) -> CodeDeploySettings {
        let text = |c: &Self, n: &str| c.get(n).map(str::to_string);
        let appspec = text(self, "codedeploy-appspec")
            .and_then(|shown| self.path(&shown, "codedeploy-appspec").map(|p| (p, shown)));
        let description = text(self, "codedeploy-deployment-description");
        if let Some(d) = &description {
            if d.chars().count() > 512 {
                self.problem(format!(
                    "input codedeploy-deployment-description has {} characters: CodeDeploy takes at most 512",
                    d.chars().count()
                ));
            }
        }
        let mut hooks = Vec::new();
        for line in self.lines("codedeploy-hooks") {
            match line.split_once('=').map(|(e, f)| (e.trim(), f.trim())) {
                Some((event, function)) if APPSPEC_HOOKS.contains(&event) && !function.is_empty() => {
                    hooks.push((event.to_string(), function.to_string()))
                }
                _ => self.problem(format!(
                    "input codedeploy-hooks: `{line}` is not Event=LambdaFunction with Event one of {}",
                    APPSPEC_HOOKS.join(", ")
                )),
            }
        }
        if appspec.is_some() && !hooks.is_empty() {
            self.problem(
                "inputs codedeploy-appspec and codedeploy-hooks were both given: put the hooks in the AppSpec file's Hooks section, or drop codedeploy-appspec to have the AppSpec built from the service"
                    .into(),
            );
        }
        CodeDeploySettings {
            appspec,
            application: text(self, "codedeploy-application"),
            group: text(self, "codedeploy-deployment-group"),
            config: text(self, "codedeploy-config"),
            description,
            hooks,
        }
    }

    /// The entries of a `Lines` input: trimmed, blank lines and `#` comments skipped.
    fn lines(&self, name: &str) -> Vec<String> {
        self.get(name)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    /// The one-off task's inputs (`run-task-*`), read once; `None` without a command.
    fn oneoff(&mut self, mode: Mode, targets: &[Target]) -> Option<OneOffSettings> {
        // Those without a default: the runner passes every input's default, given or not.
        const OTHERS: [&str; 7] = [
            "run-task-service",
            "run-task-container",
            "run-task-subnets",
            "run-task-security-groups",
            "run-task-assign-public-ip",
            "run-task-launch-type",
            "run-task-capacity-provider-strategy",
        ];
        let Some(text) = self.get("run-task-command").map(str::to_string) else {
            // Bad values are reported even without a command.
            self.number("run-task-timeout-minutes");
            self.boolean("run-task-always");
            let named: Vec<&str> = OTHERS
                .into_iter()
                .filter(|n| self.get(n).is_some())
                .collect();
            if mode == Mode::RunTask {
                self.problem(
                    "command run-task needs input run-task-command: the command to run, as a JSON array or one shell-like line (CLI: --run-task-command 'python manage.py migrate')"
                        .into(),
                );
            } else if let Some(first) = named.first() {
                self.problem(format!(
                    "input {first} is given without run-task-command: add `run-task-command:` with the command to run, or remove {}",
                    named.join(", ")
                ));
            }
            return None;
        };
        let command = match crate::oneoff::parse_command(&text) {
            Ok(c) => c,
            Err(why) => {
                self.problem(format!("input run-task-command: {why}"));
                Vec::new()
            }
        };
        let timeout = self.number("run-task-timeout-minutes").unwrap_or_default();
        let always = self.boolean("run-task-always");
        let assign_public_ip = self.choice("run-task-assign-public-ip");
        let launch_type = self.choice("run-task-launch-type");
        let ids = |v: &mut Validator, name: &str, prefix: &str| -> Vec<String> {
            let list: Vec<String> = v
                .get(name)
                .unwrap_or_default()
                .split([',', '\n'])
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_string)
                .collect();
            for id in &list {
                let ok = id
                    .strip_prefix(prefix)
                    .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric()));
                if !ok {
                    v.problem(format!(
                        "input {name}: `{id}` is not a {prefix}… id{}",
                        not_substituted_hint(id)
                    ));
                }
            }
            list
        };
        let subnets = ids(self, "run-task-subnets", "subnet-");
        let security_groups = ids(self, "run-task-security-groups", "sg-");
        let capacity_provider_strategy = self
            .get("run-task-capacity-provider-strategy")
            .map(str::to_string)
            .and_then(|t| match crate::oneoff::parse_strategy(&t) {
                Ok(s) => Some(s),
                Err(why) => {
                    self.problem(format!("input run-task-capacity-provider-strategy: {why}"));
                    None
                }
            });
        if launch_type.is_some() && capacity_provider_strategy.is_some() {
            self.problem(
                "inputs run-task-launch-type and run-task-capacity-provider-strategy are both given: ECS takes one or the other; keep one"
                    .into(),
            );
        }
        let service = self.oneoff_service(targets);
        if mode == Mode::RunTask {
            if let Some(t) = targets
                .iter()
                .find(|t| Some(&t.service) == service.as_ref())
            {
                if t.file.is_some() {
                    self.problem(format!(
                        "command run-task runs a registered task definition and registers none: `{}` is a file; give no task definition (the service's current one runs) or a registered revision (ARN or family:revision)",
                        t.shown
                    ));
                }
            }
        }
        Some(OneOffSettings {
            command,
            service: service.unwrap_or_default(),
            container: self.get("run-task-container").map(str::to_string),
            timeout: Duration::from_secs_f64(timeout * 60.0),
            always,
            subnets,
            security_groups,
            assign_public_ip,
            launch_type,
            capacity_provider_strategy,
        })
    }

    /// The service the one-off task takes its revision and settings from: input
    /// `run-task-service` (one of the run's services), else the app service, else the only one.
    fn oneoff_service(&mut self, targets: &[Target]) -> Option<String> {
        let names: Vec<&str> = targets.iter().map(|t| t.service.as_str()).collect();
        let listed = || {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(given) = self.get("run-task-service").map(str::to_string) {
            let short = crate::arn::last_segment(&given);
            let found = targets
                .iter()
                .find(|t| t.service == given || crate::arn::last_segment(&t.service) == short);
            return match found {
                Some(t) => Some(t.service.clone()),
                None => {
                    if !targets.is_empty() {
                        self.problem(format!(
                            "input run-task-service: `{given}` is not a service of this run: the one-off task runs on the new revision of one of them ({}); name one of those, or add `{given}` to the services",
                            listed()
                        ));
                    }
                    None
                }
            };
        }
        if let Some(app) = targets.iter().find(|t| t.role == Role::App) {
            return Some(app.service.clone());
        }
        match targets {
            [only] => Some(only.service.clone()),
            [] => None,
            _ => {
                self.problem(format!(
                    "input run-task-command: which service's revision runs it? There is no app service (input service); set `run-task-service:` to one of {}",
                    listed()
                ));
                None
            }
        }
    }

    /// The command (positional) and input `mode` name one setting: when both are given they
    /// must agree.
    fn mode(&mut self, raw: &RawArgs) -> Mode {
        let spec = inputs::spec("mode");
        // The mode as given (flag or INPUT_MODE), apart from the table's default: only a
        // given, valid mode can disagree with the command. A bad one is reported by `choice`.
        let given = self.get("mode").and_then(|m| match spec.parse(m) {
            Ok(Value::Choice(c)) => Mode::parse(c),
            _ => None,
        });
        let mode = self.choice("mode").and_then(Mode::parse);
        match raw.command.as_deref().and_then(Mode::parse) {
            Some(c) => {
                if let Some(m) = given.filter(|m| *m != c) {
                    let source = self.source("mode");
                    self.problem(format!(
                        "command `{}` and input mode `{}` ({source}) disagree: give one of them, or the same in both",
                        c.as_str(),
                        m.as_str()
                    ));
                }
                c
            }
            // The table has a valid default, so `None` is unreachable; the run stops anyway.
            None => mode.unwrap_or(Mode::Deploy),
        }
    }

    /// Checks the form of input `cluster`; returns its parts when it is an ARN.
    fn cluster<'a>(&mut self, cluster: &'a str, region: Option<&str>) -> Option<EcsArn<'a>> {
        if cluster.is_empty() {
            return None;
        }
        if !cluster.starts_with("arn:") {
            if !valid_name(cluster) {
                self.problem(format!(
                    "input cluster `{cluster}` is not an ECS cluster name (letters, digits, hyphens and underscores, up to 255) or ARN{}",
                    not_substituted_hint(cluster)
                ));
            }
            return None;
        }
        let Some(arn) = EcsArn::parse(cluster).filter(|a| a.kind == "cluster" && a.path.len() == 1)
        else {
            self.problem(format!(
                "input cluster `{cluster}` is not an ECS cluster ARN (arn:aws:ecs:<region>:<account>:cluster/<name>){}",
                not_substituted_hint(cluster)
            ));
            return None;
        };
        if let Some(r) = region.filter(|r| *r != arn.region) {
            self.problem(format!(
                "input cluster `{cluster}` is in region {}, but this run works in {r} (input region, else AWS_REGION): set `region: {}`, or give the cluster's name",
                arn.region, arn.region
            ));
        }
        Some(arn)
    }

    fn targets(&mut self, mode: Mode) -> Vec<Given> {
        let mut targets = Vec::new();
        for (svc_input, file_input, role) in [
            ("service", "task-definition", Role::App),
            ("otel-service", "otel-task-definition", Role::Otel),
        ] {
            let svc = self.get(svc_input).map(str::to_string);
            let file = self.get(file_input).map(str::to_string);
            match (svc, file) {
                (Some(s), Some(f)) => {
                    targets.extend(self.target(&s, Some(&f), role, svc_input, file_input));
                }
                (Some(s), None) if matches!(mode, Mode::Rollback | Mode::RunTask | Mode::Continue) => {
                    targets.extend(self.target(&s, None, role, svc_input, file_input));
                }
                (Some(s), None) => self.problem(format!(
                    "input {svc_input} `{s}` is given without {file_input}: add `{file_input}:` with the path of its task-definition file"
                )),
                (None, Some(f)) if mode == Mode::Render => {
                    targets.extend(self.target("", Some(&f), role, svc_input, file_input));
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
                let label = format!("services, line {}", i + 1);
                match line.split_once('=') {
                    Some((s, f)) if !s.trim().is_empty() && !f.trim().is_empty() => {
                        targets.extend(self.target(s.trim(), Some(f.trim()), Role::Extra, &label, "services"));
                    }
                    Some((s, _)) if !s.trim().is_empty() && matches!(mode, Mode::Rollback | Mode::RunTask | Mode::Continue) => {
                        targets.extend(self.target(s.trim(), None, Role::Extra, &label, "services"));
                    }
                    _ if matches!(mode, Mode::Rollback | Mode::RunTask | Mode::Continue) && !line.contains('=') => {
                        targets.extend(self.target(line, None, Role::Extra, &label, "services"));
                    }
                    _ => self.problem(format!(
                        "input services, line {}: `{line}` is not `service-name=path/to/taskdef.json`",
                        i + 1
                    )),
                }
            }
        }
        targets.extend(self.compose_targets());
        targets
    }

    /// The tasks of input compose-file, each deploying to its ECS service; input
    /// compose-services picks the ones to deploy (default: every task whose leader has an
    /// image).
    fn compose_targets(&mut self) -> Vec<Given> {
        let Some(file) = self.get("compose-file").map(str::to_string) else {
            if let Some(s) = self.get("compose-services").map(str::to_string) {
                self.problem(format!(
                    "input compose-services `{s}` is given without compose-file: add `compose-file:` with the path of the docker-compose file"
                ));
            }
            return Vec::new();
        };
        let Some(path) = self.path(&file, "compose-file") else {
            return Vec::new();
        };
        let planned = match crate::compose::plan(&path, &file) {
            Ok(p) => p,
            Err(problems) => {
                self.problems.extend(problems);
                return Vec::new();
            }
        };
        let chosen: Vec<&crate::compose::Planned> = match self
            .get("compose-services")
            .map(str::to_string)
        {
            None => planned.iter().filter(|p| !p.build_only).collect(),
            Some(list) => {
                let mut chosen = Vec::new();
                let names = list
                    .lines()
                    .flat_map(|l| l.split(','))
                    .map(str::trim)
                    .filter(|n| !n.is_empty() && !n.starts_with('#'));
                for name in names {
                    match planned.iter().find(|p| p.leader == name) {
                        Some(p) => chosen.push(p),
                        None => self.problem(format!(
                            "input compose-services: `{name}` is not a service of {file} that leads a task: name one of {} (a sidecar deploys with the task it joins)",
                            planned.iter().map(|p| p.leader.as_str()).collect::<Vec<_>>().join(", ")
                        )),
                    }
                }
                chosen
            }
        };
        let dir = Path::new(&file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut out = Vec::new();
        for p in chosen {
            if !valid_service(&p.service) {
                self.problem(format!(
                    "{file}: service `{}`: `{}` is not an ECS service name (letters, digits, hyphens and underscores, up to 255): set x-ecs.service",
                    p.leader, p.service
                ));
                continue;
            }
            let (definition, definition_shown) = match &p.definition_file {
                Some(d) => {
                    let shown = dir.join(d).to_string_lossy().to_string();
                    match self.path(&shown, "compose-file") {
                        Some(resolved) => (Some(resolved), shown),
                        None => continue,
                    }
                }
                None if p.inline_definition => (None, file.clone()),
                None => (None, String::new()),
            };
            out.push(Given {
                target: Target {
                    service: p.service.clone(),
                    file: Some(path.clone()),
                    revision: None,
                    shown: file.clone(),
                    role: Role::Extra,
                    definition,
                    definition_shown,
                    compose: Some(p.leader.clone()),
                },
                origin: format!("input compose-file, service {}", p.leader),
            });
        }
        out
    }

    /// `wait-until`: finished, paused, or a lifecycle stage of an ECS-native deployment.
    fn wait_until(&mut self) -> crate::rollout::Goal {
        use crate::rollout::{native::STAGES, Goal};
        let given = self.get("wait-until").unwrap_or("finished").to_string();
        match given.as_str() {
            "finished" => Goal::Finished,
            "paused" => Goal::Paused,
            "ready" => Goal::Ready,
            stage if STAGES.contains(&stage) => Goal::Stage(stage.to_string()),
            other => {
                let near = STAGES
                    .iter()
                    .find(|s| {
                        s.eq_ignore_ascii_case(other)
                            || s.eq_ignore_ascii_case(&other.replace(['-', ' '], "_"))
                    })
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                self.problem(format!(
                    "input wait-until `{other}` names no stage{near}: give finished, paused, ready (CodeDeploy), or one of {}",
                    STAGES.join(", ")
                ));
                Goal::Finished
            }
        }
    }

    /// Service-definition files: `service-definition` and `otel-service-definition` for the
    /// app and the collector, `service-definitions` lines (`service-name=path`) for any
    /// service of the run.
    fn definitions(&mut self, targets: &mut [Target]) {
        let mut given: Vec<(String, String, String)> = Vec::new();
        for (input, role) in [
            ("service-definition", Role::App),
            ("otel-service-definition", Role::Otel),
        ] {
            let Some(path) = self.get(input).map(str::to_string) else {
                continue;
            };
            match targets.iter().find(|t| t.role == role) {
                Some(t) => given.push((t.service.clone(), path, format!("input {input}"))),
                None => {
                    let svc = if role == Role::App {
                        "service"
                    } else {
                        "otel-service"
                    };
                    self.problem(format!(
                        "input {input} `{path}` is given without {svc}: add `{svc}:` with the ECS service it defines"
                    ));
                }
            }
        }
        if let Some(lines) = self.get("service-definitions").map(str::to_string) {
            for (i, line) in lines.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                match line.split_once('=') {
                    Some((s, f)) if !s.trim().is_empty() && !f.trim().is_empty() => given.push((
                        s.trim().to_string(),
                        f.trim().to_string(),
                        format!("input service-definitions, line {}", i + 1),
                    )),
                    _ => self.problem(format!(
                        "input service-definitions, line {}: `{line}` is not `service-name=path/to/service-definition.json`",
                        i + 1
                    )),
                }
            }
        }
        for (service, path, origin) in given {
            let name = crate::arn::last_segment(&service).to_string();
            let Some(t) = targets
                .iter_mut()
                .find(|t| crate::arn::last_segment(&t.service) == name)
            else {
                self.problem(format!(
                    "{origin}: service `{service}` is not deployed by this run: name it in `service`, `otel-service` or `services` too, or remove its definition"
                ));
                continue;
            };
            if t.definition.is_some() {
                self.problem(format!(
                    "{origin}: service `{service}` already has a service definition ({}): give one per service",
                    t.definition_shown
                ));
                continue;
            }
            if let Some(p) = self.path(&path, &origin) {
                t.definition = Some(p);
                t.definition_shown = path;
            }
        }
    }

    /// Each service once, in the input `cluster` and the run's region.
    fn check_targets(
        &mut self,
        given: Vec<Given>,
        cluster: &str,
        cluster_arn: Option<&EcsArn>,
        region: Option<&str>,
    ) -> Vec<Target> {
        let cluster_name = cluster_arn.map_or(cluster, |a| a.path[0]);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut unique: Vec<Given> = Vec::new();
        for g in given {
            let service = g.target.service.as_str();
            if service.is_empty() {
                unique.push(g);
                continue;
            }
            if let Some(arn) = EcsArn::parse(service) {
                if !self.service_arn_fits(&g, &arn, cluster_name, cluster_arn, region) {
                    continue;
                }
            }
            let name = crate::arn::last_segment(service).to_string();
            match seen.get(&name).map(|i| &unique[*i]) {
                Some(first) if first.target.service != g.target.service => {
                    let message = format!(
                        "service `{name}` is given twice, as `{}` ({}) and as `{service}` ({}): name each service once",
                        first.target.service, first.origin, g.origin
                    );
                    self.problem(message);
                }
                Some(first) if first.target.file == g.target.file => {
                    let message = format!(
                        "service `{service}` is listed twice: remove one of the entries ({} and {})",
                        first.origin, g.origin
                    );
                    self.problem(message);
                }
                Some(first) => {
                    let message = format!(
                        "service `{service}` is listed twice with different task-definition files: a service runs one task definition, keep one entry ({} and {})",
                        first.origin, g.origin
                    );
                    self.problem(message);
                }
                None => {
                    seen.insert(name, unique.len());
                    unique.push(g);
                }
            }
        }
        unique.into_iter().map(|g| g.target).collect()
    }

    /// A service ARN must name the cluster, account and region this run works in: ECS would
    /// otherwise act on another cluster's service, or refuse it after the stack changed.
    fn service_arn_fits(
        &mut self,
        g: &Given,
        arn: &EcsArn,
        cluster_name: &str,
        cluster_arn: Option<&EcsArn>,
        region: Option<&str>,
    ) -> bool {
        let service = &g.target.service;
        let origin = &g.origin;
        let before = self.problems.len();
        // The long form is `service/<cluster>/<name>`; the old short form names no cluster.
        if let [other, _] = arn.path[..] {
            if !cluster_name.is_empty() && other != cluster_name {
                self.problem(format!(
                    "{origin}: service `{service}` was not found in cluster `{cluster_name}`: its ARN names cluster `{other}`; give a service of cluster `{cluster_name}` (input cluster), or set `cluster: {other}`"
                ));
            }
        }
        if let Some(c) = cluster_arn {
            if (c.partition, c.account) != (arn.partition, arn.account) {
                self.problem(format!(
                    "{origin}: service `{service}` is in account {}, but input cluster `{}` is in account {}: give the service of the cluster's account",
                    arn.account,
                    c.text,
                    c.account
                ));
            }
        }
        if let Some(r) = region.filter(|r| *r != arn.region) {
            self.problem(format!(
                "{origin}: service `{service}` is in region {}, but this run works in {r} (input region, else AWS_REGION): set `region: {}`, or name a service of {r}",
                arn.region, arn.region
            ));
        }
        self.problems.len() == before
    }

    fn target(
        &mut self,
        service: &str,
        file: Option<&str>,
        role: Role,
        svc_label: &str,
        file_input: &str,
    ) -> Option<Given> {
        if !service.is_empty() && !valid_service(service) {
            self.problem(format!(
                "input {svc_label}: `{service}` is not an ECS service name (letters, digits, hyphens and underscores, up to 255) or ARN{}",
                not_substituted_hint(service)
            ));
            return None;
        }
        // A registered revision is promoted as it is, unless a file of that name exists.
        let revision =
            file.filter(|f| crate::arn::is_revision_reference(f) && !self.cwd.join(f).exists());
        if let Some(f) = file
            .filter(|f| f.starts_with("arn:") && revision.is_none() && !self.cwd.join(f).exists())
        {
            self.problem(format!(
                "input {file_input}: `{f}` is not a task-definition ARN: give `arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION`, `FAMILY:REVISION`, or the path of a task-definition file"
            ));
            return None;
        }
        let file_path = match file {
            Some(_) if revision.is_some() => None,
            Some(f) => Some(self.path(f, file_input)?),
            None => None,
        };
        Some(Given {
            target: Target {
                service: service.to_string(),
                file: file_path,
                revision: revision.map(str::to_string),
                shown: file.unwrap_or_default().to_string(),
                role,
                definition: None,
                definition_shown: String::new(),
                compose: None,
            },
            origin: format!("input {svc_label}"),
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

    fn stack(&mut self) -> Option<StackInputs> {
        let name = self.get("stack-name").map(str::to_string);
        let template = self.get("stack-template").map(str::to_string);
        let deploy = match self.choice("deploy-stack") {
            Some("always") => DeployStack::Always,
            Some("never") => DeployStack::Never,
            _ => DeployStack::Auto,
        };
        let capabilities: Vec<String> = match self.value("stack-capabilities") {
            Some(Value::Choices(c)) => c.into_iter().map(str::to_string).collect(),
            _ => Vec::new(),
        };
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
            self.number("stack-timeout-minutes").unwrap_or_default() * 60.0,
        );
        if let Some(n) = &name {
            if !valid_stack_name(n) {
                self.problem(format!(
                    "input stack-name `{}` is not a CloudFormation stack name: it must start with a letter and hold only letters, digits and hyphens, 128 characters at most",
                    n.escape_debug()
                ));
            }
        }
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

/// An ECS name: letters, digits, hyphens and underscores, up to 255 characters.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_service(s: &str) -> bool {
    if s.starts_with("arn:") {
        return EcsArn::parse(s).is_some_and(|a| {
            a.kind == "service"
                && (1..=2).contains(&a.path.len())
                && a.path.iter().all(|p| valid_name(p))
        });
    }
    valid_name(s)
}

/// The parts of an ECS ARN: `arn:<partition>:ecs:<region>:<account>:<kind>/<path…>`.
#[derive(Debug, PartialEq, Eq)]
struct EcsArn<'a> {
    text: &'a str,
    partition: &'a str,
    region: &'a str,
    account: &'a str,
    kind: &'a str,
    path: Vec<&'a str>,
}

impl<'a> EcsArn<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let ["arn", partition, "ecs", region, account, resource] = parts[..] else {
            return None;
        };
        let (kind, rest) = resource.split_once('/')?;
        let ok = !partition.is_empty()
            && valid_region(region)
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| EcsArn {
            text,
            partition,
            region,
            account,
            kind,
            path: rest.split('/').collect(),
        })
    }
}

/// CloudFormation's rule for stack names: `[a-zA-Z][-a-zA-Z0-9]*`, at most 128 characters.
fn valid_stack_name(n: &str) -> bool {
    n.len() <= 128
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
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
        assert_eq!(c.rollout.wait_for, Duration::from_secs(1200));
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

    fn run(
        command: Option<&str>,
        flags: &[(&'static str, &str)],
        env: &[(&str, &str)],
    ) -> Result<Config, Vec<String>> {
        let raw = RawArgs {
            command: command.map(str::to_string),
            flags: flags.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            output_json: false,
        };
        let mut vars: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.insert("AWS_REGION".into(), "eu-west-1".into());
        let rt = Runtime {
            actions: true,
            workspace: Some(PathBuf::from("/ws")),
            env: vars,
            ..Runtime::default()
        };
        build(&raw, &rt, Path::new("/ws")).map_err(|p| p.into_iter().map(|p| p.message).collect())
    }

    const APP: [(&str, &str); 3] = [
        ("cluster", "dataspace-dev"),
        ("service", "app"),
        ("task-definition", "t.json"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v = APP.to_vec();
        v.extend_from_slice(extra);
        v
    }

    fn errors(r: Result<Config, Vec<String>>) -> String {
        match r {
            Ok(c) => panic!("expected problems, got a config in mode {:?}", c.mode),
            Err(p) => p.join("\n"),
        }
    }

    #[test]
    fn defaults_come_from_the_table() {
        let c = run(None, &APP, &[]).unwrap();
        // wait-for-minutes has no table default (the runner would pass it as given): 15.
        assert_eq!(inputs::spec("wait-for-minutes").default, None);
        assert_eq!(c.rollout.wait_for, Duration::from_secs(15 * 60));
        assert!(!c.rollout.wait_for_given);
        let poll: f64 = inputs::spec("poll-interval-seconds")
            .default
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(c.rollout.poll, Duration::from_secs_f64(poll));
        let duration: i32 = inputs::spec("role-duration-seconds")
            .default
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(c.credentials.role_duration_seconds, duration);
        assert_eq!(c.mode.as_str(), inputs::spec("mode").default.unwrap());
        assert!(
            c.rollout.wait
                && c.rollout.rollback_on_failure
                && c.image_checks.verify_images
                && c.verify
                && c.comment.comment_on_pr
        );
        assert!(
            !c.rollout.force_new_deployment
                && !c.image_checks.pin_image_digests
                && !c.image_checks.ecr_repository_shorthand
        );
        assert_eq!(c.rollout.desired_count, None);
        assert_eq!(
            c.comment.github_token, None,
            "the runner's expression is no token"
        );
        let c = run(
            None,
            &with(&[("stack-name", "s"), ("stack-template", "t.yaml")]),
            &[],
        )
        .unwrap();
        let stack = c.stack.unwrap();
        assert_eq!(
            stack.capabilities.join(","),
            inputs::spec("stack-capabilities").default.unwrap()
        );
        assert_eq!(stack.deploy, DeployStack::Auto);
        assert_eq!(stack.timeout, Duration::from_secs(30 * 60));
    }

    #[test]
    fn every_mode_and_deploy_stack_value_of_the_table_is_known() {
        assert_eq!(
            Mode::ALL.map(Mode::as_str).to_vec(),
            inputs::MODES.to_vec(),
            "Mode and inputs::MODES list the same modes in the same order"
        );
        let crate::inputs::Kind::Enum(values) = inputs::spec("deploy-stack").kind else {
            panic!("deploy-stack is an enum");
        };
        let got: Vec<DeployStack> = values
            .iter()
            .map(|v| {
                let c = run(
                    None,
                    &with(&[
                        ("stack-name", "s"),
                        ("stack-template", "t"),
                        ("deploy-stack", v),
                    ]),
                    &[],
                );
                c.unwrap().stack.unwrap().deploy
            })
            .collect();
        assert_eq!(
            got,
            [DeployStack::Auto, DeployStack::Always, DeployStack::Never]
        );
    }

    #[test]
    fn wait_for_minutes_takes_decimals() {
        let c = run(None, &with(&[("wait-for-minutes", "0.05")]), &[]).unwrap();
        assert_eq!(c.rollout.wait_for, Duration::from_secs(3));
        let e = errors(run(None, &with(&[("wait-for-minutes", "0.001")]), &[]));
        assert!(
            e.contains("input wait-for-minutes `0.001` is not a number from 0.01 to 360"),
            "{e}"
        );
    }

    #[test]
    fn desired_count_is_bounded_by_the_ecs_quota() {
        let c = run(None, &with(&[("desired-count", "5000")]), &[]).unwrap();
        assert_eq!(c.rollout.desired_count, Some(5000));
        for bad in ["5001", "2147483647", "-1", "1.5"] {
            let e = errors(run(None, &with(&[("desired-count", bad)]), &[]));
            assert!(
                e.contains(&format!(
                    "input desired-count `{bad}` is not a whole number of tasks from 0 to 5000"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn command_and_mode_must_agree() {
        // (command, --mode, INPUT_MODE) → the mode, or the message.
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Result<Mode, &'a str>,
        );
        let cases: &[Case] = &[
            (Some("plan"), None, None, Ok(Mode::Plan)),
            (None, Some("plan"), Some("deploy"), Ok(Mode::Plan)),
            (None, None, Some("verify"), Ok(Mode::Verify)),
            (Some("plan"), Some("PLAN"), None, Ok(Mode::Plan)),
            // The flag wins over INPUT_MODE, and then agrees with the command.
            (Some("plan"), Some("plan"), Some("deploy"), Ok(Mode::Plan)),
            (
                Some("deploy"),
                Some("plan"),
                None,
                Err("command `deploy` and input mode `plan` (--mode) disagree"),
            ),
            (
                Some("plan"),
                None,
                Some("deploy"),
                Err("command `plan` and input mode `deploy` (INPUT_MODE) disagree"),
            ),
            (
                Some("plan"),
                Some("destroy"),
                None,
                Err("input mode `destroy` is not one of deploy, plan"),
            ),
            (
                Some("plan"),
                None,
                Some("destroy"),
                Err("input mode `destroy` is not one of deploy, plan"),
            ),
        ];
        let only_bad = run(Some("plan"), &with(&[("mode", "destroy")]), &[]).unwrap_err();
        assert_eq!(only_bad.len(), 1, "{only_bad:?}");
        for (command, flag, env, want) in cases {
            let mut flags = APP.to_vec();
            flags.extend(flag.map(|m| ("mode", m)));
            let env: Vec<(&str, &str)> = env.map(|m| ("INPUT_MODE", m)).into_iter().collect();
            match (run(*command, &flags, &env), want) {
                (Ok(c), Ok(m)) => assert_eq!(c.mode, *m, "{command:?} {flag:?} {env:?}"),
                (Err(p), Err(frag)) => assert!(
                    p.iter().any(|m| m.contains(frag)),
                    "{command:?} {flag:?} {env:?}: {p:?} lacks {frag:?}"
                ),
                (got, _) => panic!(
                    "{command:?} {flag:?} {env:?}: got {:?}, want {want:?}",
                    got.map(|c| c.mode)
                ),
            }
        }
    }

    #[test]
    fn a_service_is_named_once_in_this_cluster_and_region() {
        let arn = |cluster: &str, name: &str| {
            format!("arn:aws:ecs:eu-west-1:123456789012:service/{cluster}/{name}")
        };
        let app_arn = arn("dataspace-dev", "app");
        let ok = run(
            None,
            &[
                ("cluster", "dataspace-dev"),
                ("service", &app_arn),
                ("task-definition", "t.json"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(ok.targets[0].service, app_arn);
        let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
            (
                vec![("services", format!("{app_arn}=t.json"))],
                "service `app` is given twice, as `app` (input service) and as `arn:aws:ecs:eu-west-1:123456789012:service/dataspace-dev/app` (input services, line 1)",
            ),
            (
                vec![("otel-service", "app".into()), ("otel-task-definition", "o.json".into())],
                "service `app` is listed twice with different task-definition files: a service runs one task definition, keep one entry (input service and input otel-service)",
            ),
            (
                vec![("services", format!("# x\n{}=t.json", arn("dataspace-prod", "worker")))],
                "input services, line 2: service `arn:aws:ecs:eu-west-1:123456789012:service/dataspace-prod/worker` was not found in cluster `dataspace-dev`: its ARN names cluster `dataspace-prod`",
            ),
            (
                vec![("services", "arn:aws:ecs:us-east-1:123456789012:service/dataspace-dev/w=t.json".into())],
                "is in region us-east-1, but this run works in eu-west-1",
            ),
            (
                vec![("cluster", "arn:aws:ecs:eu-west-1:123456789012:cluster/dataspace-dev".into()), ("services", "arn:aws:ecs:eu-west-1:210987654321:service/dataspace-dev/w=t.json".into())],
                "is in account 210987654321, but input cluster `arn:aws:ecs:eu-west-1:123456789012:cluster/dataspace-dev` is in account 123456789012",
            ),
            (
                vec![("cluster", "arn:aws:ecs:us-west-2:123456789012:cluster/dataspace-dev".into())],
                "input cluster `arn:aws:ecs:us-west-2:123456789012:cluster/dataspace-dev` is in region us-west-2, but this run works in eu-west-1",
            ),
            (vec![("cluster", "arn:aws:ecs:eu-west-1:123456789012:service/x".into())], "is not an ECS cluster ARN"),
            (vec![("cluster", "dataspace dev".into())], "input cluster `dataspace dev` is not an ECS cluster name"),
            (
                vec![("service", "${APP_SERVICE}".into())],
                "input service: `${APP_SERVICE}` is not an ECS service name (letters, digits, hyphens and underscores, up to 255) or ARN; inputs are not substituted: write `${{ env.APP_SERVICE }}`",
            ),
            (vec![("service", "arn:aws:ecs:eu-west-1:123456789012:task/dataspace-dev/abc".into())], "input service: `arn:aws:ecs:eu-west-1:123456789012:task/dataspace-dev/abc` is not an ECS service name"),
        ];
        for (extra, frag) in cases {
            let mut flags: Vec<(&'static str, &str)> = APP.to_vec();
            for (k, v) in &extra {
                flags.retain(|(f, _)| f != k);
                flags.push((k, v));
            }
            let e = errors(run(None, &flags, &[]));
            assert!(e.contains(frag), "{extra:?}:\n{e}\nlacks {frag:?}");
            if frag.contains("${APP_SERVICE}") {
                assert!(!e.contains("task-definition"), "{e}");
            }
        }
    }
}
