//! The CloudFormation infrastructure stack: deployed through a change set when it changed,
//! its outputs turned into `STACK_<OutputKey>` substitution variables.
//!
//! `auto` skips the stack when it is settled and both its original template and its
//! parameters equal the local ones (two calls: DescribeStacks and GetTemplate). Otherwise a
//! change set is created, shown, executed and followed through the stack's events until the
//! stack settles. The stack's leftover states are handled first: a failed first create is
//! deleted and created again, a running operation is waited for, `REVIEW_IN_PROGRESS` gets a
//! CREATE change set, and `*_FAILED` states that need a person stop the run with the link.
//! The local template lives in `template.rs`.

pub mod template;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    Capability, Change, ChangeSetStatus, ChangeSetType, Parameter, Stack, StackEvent, StackStatus,
    Tag, TemplateStage,
};

use crate::aws::{aws_error_message, Aws, AwsContext};
use crate::config::{Config, DeployStack, StackInputs};
use crate::context::Intent;
use crate::error::Failure;
use crate::gha::Printer;
use template::Local;

/// How long the stack part may take (change set, execution, and any operation waited for).
/// CloudFormation is polled at most this often; `poll-interval-seconds` can make it faster.
const MAX_POLL: Duration = Duration::from_secs(2);

/// What the stack step did.
#[derive(Debug, Clone, Default)]
pub struct StackOutcome {
    /// A change set was executed in this run.
    pub deployed: bool,
    /// OutputKey → OutputValue.
    pub outputs: BTreeMap<String, String>,
    /// Lines for the summary: the result and the changes.
    pub summary: Vec<String>,
}

/// The `Outputs` keys of the local template, read before anything in AWS is touched, so that
/// `STACK_*` references in task definitions are checked in step 1. `None` without a stack.
/// The template and the parameters are validated here too, so bad input stops the run early.
pub fn output_keys(cfg: &Config) -> Result<Option<BTreeSet<String>>, Failure> {
    match &cfg.stack {
        None => Ok(None),
        Some(inputs) => Ok(Some(template::load(inputs)?.output_keys())),
    }
}

/// The name of the ECS cluster the local template declares: `Some(Ok(name))` when it can be
/// read from the template and the parameters given (a literal, `Ref` or `Fn::Sub` of
/// parameters), `Some(Err(()))` when it cannot (a generated name, pseudo parameters),
/// `None` when the template declares no cluster.
pub fn cluster_name(cfg: &Config) -> Option<Result<String, ()>> {
    let inputs = cfg.stack.as_ref()?;
    let local = template::load(inputs).ok()?;
    let resources = local.doc.get("Resources")?.as_object()?;
    let cluster = resources
        .values()
        .find(|v| v.get("Type").and_then(serde_json::Value::as_str) == Some("AWS::ECS::Cluster"))?;
    let param = |name: &str| -> Option<String> {
        local
            .parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                local.doc["Parameters"][name]["Default"]
                    .as_str()
                    .map(str::to_string)
            })
    };
    let name = &cluster["Properties"]["ClusterName"];
    let resolved = match name {
        serde_json::Value::String(s) => Some(s.clone()),
        v if v.get("Ref").is_some() => v["Ref"].as_str().and_then(param),
        v if v.get("Fn::Sub").is_some() => v["Fn::Sub"].as_str().and_then(|text| {
            let mut out = String::new();
            let mut rest = text;
            while let Some(i) = rest.find("${") {
                out.push_str(&rest[..i]);
                let end = rest[i..].find('}')? + i;
                out.push_str(&param(&rest[i + 2..end])?);
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            Some(out)
        }),
        _ => None,
    };
    Some(resolved.ok_or(()))
}

/// The run may deploy a stack whose template declares CodeDeploy resources (an application,
/// a deployment group, a deployment configuration): what CodeDeploy needs may exist only after
/// the stack, so it is looked up then.
pub fn declares_codedeploy(cfg: &Config) -> bool {
    let Some(inputs) = cfg
        .stack
        .as_ref()
        .filter(|s| s.deploy != crate::config::DeployStack::Never)
    else {
        return false;
    };
    let Ok(local) = template::load(inputs) else {
        return false;
    };
    local
        .doc
        .get("Resources")
        .and_then(serde_json::Value::as_object)
        .is_some_and(|r| {
            r.values().any(|v| {
                v.get("Type")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|t| t.starts_with("AWS::CodeDeploy::"))
            })
        })
}

/// Deploys the stack when `deploy-stack` says so; `Preview` previews the change set and
/// `ReadOnly` only reads the stack's outputs.
pub(crate) async fn run(
    aws: &Aws,
    cfg: &Config,
    intent: Intent,
    out: &Printer,
) -> Result<StackOutcome, Failure> {
    let Some(inputs) = &cfg.stack else {
        return Ok(StackOutcome::default());
    };
    // A read-only run changes nothing: it only reads the stack's outputs, like `deploy-stack: never`.
    let read_only;
    let inputs = if intent == Intent::ReadOnly {
        read_only = StackInputs {
            deploy: DeployStack::Never,
            ..inputs.clone()
        };
        &read_only
    } else {
        inputs
    };
    let local = template::load(inputs)?;
    // AWS error messages may quote a parameter's value.
    for secret in local.secret_values() {
        crate::redact::register(secret);
    }
    out.group(&format!("Stack {}", inputs.name));
    let mut job = Job {
        aws,
        inputs,
        local: &local,
        out,
        region: cfg.region.clone().unwrap_or_default(),
        poll: cfg
            .rollout
            .poll
            .min(MAX_POLL)
            .max(Duration::from_millis(50)),
        deadline: Instant::now() + inputs.timeout,
        plan: intent == Intent::Preview,
        summary: Vec::new(),
    };
    let result = job.run().await;
    out.end_group();
    let (deployed, outputs) = result.map_err(Failure::Other)?;
    Ok(StackOutcome {
        deployed,
        outputs,
        summary: job.summary,
    })
}

struct Job<'a> {
    aws: &'a Aws,
    inputs: &'a StackInputs,
    local: &'a Local,
    out: &'a Printer,
    region: String,
    poll: Duration,
    deadline: Instant,
    plan: bool,
    summary: Vec<String>,
}

/// What to do with the stack as found.
enum Next {
    Create,
    Update(Box<Stack>),
}

impl Job<'_> {
    fn name(&self) -> &str {
        &self.inputs.name
    }

    fn say(&mut self, line: String) {
        self.out.line(&line);
        self.summary.push(line);
    }

    /// Returns (a change set was executed, the stack's outputs).
    async fn run(&mut self) -> Result<(bool, BTreeMap<String, String>)> {
        if self.inputs.deploy == DeployStack::Never {
            let stack = self.describe().await?;
            let line = match &stack {
                Some(s) => format!(
                    "stack {} not deployed (deploy-stack: never); it is {}",
                    self.name(),
                    status(s)
                ),
                None => format!(
                    "stack {} not deployed (deploy-stack: never); it does not exist",
                    self.name()
                ),
            };
            self.say(line);
            return Ok((false, stack.as_ref().map(outputs).unwrap_or_default()));
        }
        let next = self.settle().await?;
        let Some(next) = next else {
            // Plan on a stack that a deploy would first delete: nothing more to preview.
            return Ok((false, BTreeMap::new()));
        };
        if let Next::Update(stack) = &next {
            if self.inputs.deploy == DeployStack::Auto {
                if let Some(reason) = self.unchanged(stack).await? {
                    let line = format!("stack {} unchanged ({reason}): not deployed", self.name());
                    self.say(line);
                    return Ok((false, outputs(stack)));
                }
            }
        }
        self.change_set(next).await
    }

    /// Brings the stack to a state a change set can start from: `None` means plan stops here.
    async fn settle(&mut self) -> Result<Option<Next>> {
        loop {
            let Some(stack) = self.describe().await? else {
                return Ok(Some(Next::Create));
            };
            let st = status(&stack);
            match state(&stack) {
                StackStatus::ReviewInProgress => return Ok(Some(Next::Create)),
                StackStatus::RollbackComplete | StackStatus::CreateFailed => {
                    if self.plan {
                        let line = format!(
                            "stack {} is {st} (its first create failed): a deploy deletes it and creates it again",
                            self.name()
                        );
                        self.say(line);
                        return Ok(None);
                    }
                    let line = format!(
                        "stack {} is {st} (its first create failed): deleting it and creating it again",
                        self.name()
                    );
                    self.say(line);
                    self.delete_stack(&stack).await?;
                    return Ok(Some(Next::Create));
                }
                s @ (StackStatus::UpdateRollbackFailed
                | StackStatus::RollbackFailed
                | StackStatus::DeleteFailed
                | StackStatus::ImportRollbackFailed) => {
                    let hint = if s == StackStatus::UpdateRollbackFailed {
                        "fix the resources that failed and use \"Continue update rollback\" in the CloudFormation console"
                    } else {
                        "fix or delete the stack in the CloudFormation console"
                    };
                    return Err(anyhow!(
                        "stack {} is {st}: CloudFormation cannot deploy it until a person fixes it; {hint}, then run again: {}",
                        self.name(),
                        self.console(&stack)
                    ));
                }
                s if in_progress(&s) => {
                    self.out.line(&format!(
                        "stack {} is {st} (another operation is running): waiting for it to finish",
                        self.name()
                    ));
                    self.wait_settled().await?;
                    continue;
                }
                _ => return Ok(Some(Next::Update(Box::new(stack)))),
            }
        }
    }

    /// `Some(why)` when `auto` can skip: the stack is settled and template and parameters
    /// equal the local ones. Costs one GetTemplate.
    async fn unchanged(&mut self, stack: &Stack) -> Result<Option<String>> {
        let st = status(stack);
        if !st.ends_with("_COMPLETE") {
            return Ok(None);
        }
        if !self.local.opaque.is_empty() {
            self.out.line(&format!(
                "deploying stack {} to let CloudFormation compare it: {}",
                self.name(),
                self.local.opaque.join("; ")
            ));
            return Ok(None);
        }
        let deployed: BTreeMap<String, String> = stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.parameter_value().unwrap_or_default().to_string(),
                ))
            })
            .collect();
        let changed = template::changed_parameters(&self.local.parameters, &deployed);
        let deployed_tags: BTreeSet<(String, String)> = stack
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let wanted_tags: BTreeSet<(String, String)> = self.inputs.tags.iter().cloned().collect();
        if !self.inputs.tags.is_empty() && wanted_tags != deployed_tags {
            self.out
                .line(&format!("stack {}: the tags changed", self.name()));
            return Ok(None);
        }
        let body = self
            .aws
            .cfn
            .get_template()
            .stack_name(self.name())
            .template_stage(TemplateStage::Original)
            .send()
            .await
            .aws_context(|| format!("reading the deployed template of stack {}", self.name()))?
            .template_body
            .unwrap_or_default();
        let same_template = template::parse(&self.inputs.template, &body)
            .is_ok_and(|deployed| deployed == self.local.doc);
        match (same_template, changed.is_empty()) {
            (true, true) => Ok(Some(format!("{st}, same template and parameters"))),
            (true, false) => {
                self.out.line(&format!(
                    "stack {}: parameters changed: {}",
                    self.name(),
                    changed.join(", ")
                ));
                Ok(None)
            }
            (false, _) => {
                self.out
                    .line(&format!("stack {}: the template changed", self.name()));
                Ok(None)
            }
        }
    }

    async fn change_set(&mut self, next: Next) -> Result<(bool, BTreeMap<String, String>)> {
        let (kind, deployed_params) = match &next {
            Next::Create => (ChangeSetType::Create, BTreeSet::new()),
            Next::Update(s) => (
                ChangeSetType::Update,
                s.parameters()
                    .iter()
                    .filter_map(|p| p.parameter_key().map(str::to_string))
                    .collect(),
            ),
        };
        let existed_before = matches!(next, Next::Update(_)) || self.describe().await?.is_some();
        let given: BTreeMap<&str, &str> = self
            .local
            .parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut params = Vec::new();
        for name in self.local.declared() {
            if let Some(v) = given.get(name.as_str()) {
                params.push(
                    Parameter::builder()
                        .parameter_key(&name)
                        .parameter_value(*v)
                        .build(),
                );
            } else if deployed_params.contains(&name) {
                // Like `aws cloudformation deploy`: a parameter not given keeps its value.
                params.push(
                    Parameter::builder()
                        .parameter_key(&name)
                        .use_previous_value(true)
                        .build(),
                );
            }
        }
        let cs_name = format!(
            "ecs-deploy-{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default()
        );
        let created = self
            .aws
            .cfn
            .create_change_set()
            .stack_name(self.name())
            .change_set_name(&cs_name)
            .change_set_type(kind.clone())
            .template_body(&self.local.body)
            .set_parameters(Some(params))
            .set_capabilities(Some(
                self.inputs
                    .capabilities
                    .iter()
                    .map(|c| Capability::from(c.as_str()))
                    .collect(),
            ))
            .set_tags((!self.inputs.tags.is_empty()).then(|| {
                self.inputs
                    .tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect()
            }))
            .description("ecs-deploy")
            .send()
            .await;
        let created = match created {
            Ok(c) => c,
            Err(e) if is_no_updates(e.message().unwrap_or_default()) => {
                let line = format!(
                    "stack {} unchanged: CloudFormation found no changes to make",
                    self.name()
                );
                self.say(line);
                let stack = self.describe().await?;
                return Ok((false, stack.as_ref().map(outputs).unwrap_or_default()));
            }
            Err(e) => {
                return Err(anyhow!(aws_error_message(&e)))
                    .with_context(|| format!("creating a change set for stack {}", self.name()))
            }
        };
        let cs_id = created.id().unwrap_or(&cs_name).to_string();
        let (cs_status, reason, changes) = self.wait_change_set(&cs_id).await?;
        if cs_status == ChangeSetStatus::Failed {
            self.delete_change_set(&cs_id).await;
            if !existed_before {
                self.delete_review_stack().await;
            }
            if is_no_updates(&reason) {
                let line = format!(
                    "stack {} unchanged: CloudFormation found no changes to make",
                    self.name()
                );
                self.say(line);
                let stack = self.describe().await?;
                return Ok((false, stack.as_ref().map(outputs).unwrap_or_default()));
            }
            return Err(anyhow!(
                "the change set for stack {} failed: {reason}",
                self.name()
            ));
        }
        let verb = if self.plan { "would make" } else { "makes" };
        let head = format!(
            "change set {cs_name} ({}) {verb} {} change(s) to stack {}",
            kind.as_str().to_lowercase(),
            changes.len(),
            self.name()
        );
        self.say(head);
        let lines: Vec<String> = changes.iter().map(change_line).collect();
        self.out.untrusted(&lines);
        self.summary.extend(lines);
        if self.plan {
            self.delete_change_set(&cs_id).await;
            if !existed_before {
                self.delete_review_stack().await;
            }
            let stack = self.describe().await?;
            return Ok((false, stack.as_ref().map(outputs).unwrap_or_default()));
        }
        // The events that exist now belong to earlier operations.
        let mut seen = self.event_ids().await?;
        self.aws
            .cfn
            .execute_change_set()
            .change_set_name(&cs_id)
            .stack_name(self.name())
            .send()
            .await
            .aws_context(|| format!("executing change set {cs_name} on stack {}", self.name()))?;
        self.out.line(&format!(
            "executing change set {cs_name} on stack {}",
            self.name()
        ));
        let mut events = Vec::new();
        let stack = loop {
            tokio::time::sleep(self.poll).await;
            let stack = self
                .describe()
                .await?
                .ok_or_else(|| anyhow!("stack {} disappeared while it deployed", self.name()))?;
            events.extend(self.new_events(&mut seen).await?);
            if !in_progress(&state(&stack)) {
                break stack;
            }
            if Instant::now() > self.deadline {
                return Err(self.still_running(&stack));
            }
        };
        let st = status(&stack);
        if matches!(
            state(&stack),
            StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::ImportComplete
        ) {
            let line = format!("stack {} deployed: {st}", self.name());
            self.say(line);
            return Ok((true, outputs(&stack)));
        }
        let cause = first_failure(&events, self.name())
            .map(|e| {
                format!(
                    "resource {} ({}) failed: {}",
                    e.logical_resource_id().unwrap_or("?"),
                    e.resource_type().unwrap_or("?"),
                    e.resource_status_reason().unwrap_or("no reason given")
                )
            })
            .unwrap_or_else(|| "no failed resource was reported".to_string());
        let line = format!("stack {} failed: {cause}; the stack is {st}", self.name());
        self.summary.push(line);
        Err(anyhow!(
            "stack {} failed: {cause}; the stack is now {st}, and no ECS service was changed. Details: {}",
            self.name(),
            self.console(&stack)
        ))
    }

    /// Waits for the change set to be computed; returns its status, reason and every change.
    async fn wait_change_set(&self, id: &str) -> Result<(ChangeSetStatus, String, Vec<Change>)> {
        loop {
            let mut changes = Vec::new();
            let mut token: Option<String> = None;
            let mut first = None;
            loop {
                let page = self
                    .aws
                    .cfn
                    .describe_change_set()
                    .change_set_name(id)
                    .stack_name(self.name())
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .aws_context(|| format!("reading change set {id}"))?;
                changes.extend(page.changes().iter().cloned());
                token = page.next_token().map(str::to_string);
                if first.is_none() {
                    first = Some((
                        page.status().cloned(),
                        page.status_reason().unwrap_or_default().to_string(),
                    ));
                }
                if token.is_none() {
                    break;
                }
            }
            let (st, reason) = first.unwrap_or((None, String::new()));
            match st {
                Some(ChangeSetStatus::CreateComplete) => {
                    return Ok((ChangeSetStatus::CreateComplete, reason, changes))
                }
                Some(ChangeSetStatus::Failed) => return Ok((ChangeSetStatus::Failed, reason, changes)),
                _ if Instant::now() > self.deadline => {
                    return Err(anyhow!(
                        "the change set for stack {} was still being computed after {} minutes: see the CloudFormation console",
                        self.name(),
                        self.inputs.timeout.as_secs() / 60
                    ))
                }
                _ => tokio::time::sleep(self.poll).await,
            }
        }
    }

    async fn delete_change_set(&self, id: &str) {
        if let Err(e) = self
            .aws
            .cfn
            .delete_change_set()
            .change_set_name(id)
            .stack_name(self.name())
            .send()
            .await
        {
            self.out.warning(&format!(
                "could not delete change set {id} of stack {}: {}",
                self.name(),
                aws_error_message(&e)
            ));
        }
    }

    /// A CREATE change set leaves a `REVIEW_IN_PROGRESS` stack behind; one that was only a
    /// preview (or found nothing) is removed again.
    async fn delete_review_stack(&self) {
        match self.describe().await {
            Ok(Some(s)) if state(&s) == StackStatus::ReviewInProgress => {
                if let Err(e) = self
                    .aws
                    .cfn
                    .delete_stack()
                    .stack_name(self.name())
                    .send()
                    .await
                {
                    self.out.warning(&format!(
                        "could not delete the empty stack {} the preview left: {}",
                        self.name(),
                        aws_error_message(&e)
                    ));
                }
            }
            _ => {}
        }
    }

    async fn delete_stack(&self, stack: &Stack) -> Result<()> {
        let id = stack.stack_id().unwrap_or(self.name()).to_string();
        self.aws
            .cfn
            .delete_stack()
            .stack_name(&id)
            .send()
            .await
            .aws_context(|| format!("deleting stack {}", self.name()))?;
        loop {
            match self.describe().await? {
                None => return Ok(()),
                Some(s) if s.stack_id() != stack.stack_id() => return Ok(()),
                Some(s) if state(&s) == StackStatus::DeleteComplete => return Ok(()),
                Some(s) if state(&s) == StackStatus::DeleteFailed => {
                    return Err(anyhow!(
                        "deleting stack {} failed (DELETE_FAILED): {}; delete it in the CloudFormation console, then run again",
                        self.name(),
                        s.stack_status_reason().unwrap_or("no reason given")
                    ))
                }
                Some(s) if Instant::now() > self.deadline => return Err(self.still_running(&s)),
                Some(_) => tokio::time::sleep(self.poll).await,
            }
        }
    }

    /// Waits until an operation someone else started settles, streaming its events.
    async fn wait_settled(&self) -> Result<()> {
        let mut seen = HashSet::new();
        loop {
            self.new_events(&mut seen).await?;
            match self.describe().await? {
                Some(s) if in_progress(&state(&s)) => {
                    if Instant::now() > self.deadline {
                        return Err(self.still_running(&s));
                    }
                }
                _ => return Ok(()),
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn describe(&self) -> Result<Option<Stack>> {
        match self
            .aws
            .cfn
            .describe_stacks()
            .stack_name(self.name())
            .send()
            .await
        {
            Ok(r) => Ok(r.stacks().first().cloned()),
            Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => Ok(None),
            Err(e) => Err(anyhow!(aws_error_message(&e)))
                .with_context(|| format!("describing stack {}", self.name())),
        }
    }

    async fn event_ids(&self) -> Result<HashSet<String>> {
        let mut seen = HashSet::new();
        self.new_events(&mut seen).await?;
        Ok(seen)
    }

    /// Events not seen before, oldest first; printed as they arrive. Reads pages (newest
    /// first) only until it reaches an event already seen.
    async fn new_events(&self, seen: &mut HashSet<String>) -> Result<Vec<StackEvent>> {
        let initial = seen.is_empty();
        let mut fresh = Vec::new();
        let mut token: Option<String> = None;
        'pages: loop {
            let page = self
                .aws
                .cfn
                .describe_stack_events()
                .stack_name(self.name())
                .set_next_token(token.clone())
                .send()
                .await
                .aws_context(|| format!("reading the events of stack {}", self.name()))?;
            for e in page.stack_events() {
                let id = e.event_id().unwrap_or_default().to_string();
                if seen.contains(&id) {
                    break 'pages;
                }
                fresh.push(e.clone());
            }
            token = page.next_token().map(str::to_string);
            // A first read only needs the newest page: it marks where this operation starts.
            if token.is_none() || initial {
                break;
            }
        }
        for e in &fresh {
            seen.insert(e.event_id().unwrap_or_default().to_string());
        }
        fresh.reverse();
        if !initial {
            self.print_events(&fresh);
        }
        Ok(fresh)
    }

    fn print_events(&self, events: &[StackEvent]) {
        let lines: Vec<String> = events.iter().map(event_line).collect();
        self.out.untrusted(&lines);
    }

    fn console(&self, stack: &Stack) -> String {
        let id = stack.stack_id().unwrap_or(self.name());
        crate::arn::stack_url(&self.region, id)
            .unwrap_or_else(|| "the CloudFormation console".to_string())
    }

    fn still_running(&self, stack: &Stack) -> anyhow::Error {
        anyhow!(
            "stack {} is still {} after {} minutes: CloudFormation keeps going without us; no ECS service was changed. Watch it at {} and run again once it settled",
            self.name(),
            status(stack),
            self.inputs.timeout.as_secs() / 60,
            self.console(stack)
        )
    }
}

/// The stack's status as the SDK's enum; a status the SDK does not know is `Unknown`.
fn state(stack: &Stack) -> StackStatus {
    stack
        .stack_status()
        .cloned()
        .unwrap_or_else(|| StackStatus::from(""))
}

/// CloudFormation names every running operation's status `…_IN_PROGRESS`.
fn in_progress(s: &StackStatus) -> bool {
    s.as_str().ends_with("_IN_PROGRESS")
}

fn status(stack: &Stack) -> String {
    stack
        .stack_status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

fn outputs(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .outputs()
        .iter()
        .filter_map(|o| {
            Some((
                o.output_key()?.to_string(),
                o.output_value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The empty change set, in each of the ways CloudFormation (and moto) say it.
fn is_no_updates(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

fn change_line(c: &Change) -> String {
    let Some(r) = c.resource_change() else {
        return format!("{:?}", c.r#type());
    };
    let replacement = match r.replacement().map(|x| x.as_str()) {
        Some("True") => " (replacement)",
        Some("Conditional") => " (may need replacement)",
        _ => "",
    };
    format!(
        "{} {} {}{replacement}",
        r.action().map(|a| a.as_str()).unwrap_or("?"),
        r.logical_resource_id().unwrap_or("?"),
        r.resource_type().unwrap_or("?"),
    )
}

fn event_line(e: &StackEvent) -> String {
    let time = e
        .timestamp()
        .and_then(|t| {
            t.fmt(aws_smithy_types::date_time::Format::DateTime)
                .ok()
                .map(|s| s.get(11..19).unwrap_or(&s).to_string())
        })
        .unwrap_or_default();
    let reason = e
        .resource_status_reason()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    format!(
        "{time} {} {} {}{reason}",
        e.resource_status().map(|s| s.as_str()).unwrap_or("?"),
        e.resource_type().unwrap_or("?"),
        e.logical_resource_id().unwrap_or("?"),
    )
}

/// The first resource that failed in this operation: the cause, not the resources that were
/// cancelled because of it or the stack's own summary event.
fn first_failure<'a>(events: &'a [StackEvent], stack: &str) -> Option<&'a StackEvent> {
    let failed: Vec<&StackEvent> = events
        .iter()
        .filter(|e| {
            e.resource_status()
                .is_some_and(|s| s.as_str().ends_with("_FAILED"))
        })
        .collect();
    let is_stack = |e: &&StackEvent| {
        e.resource_type() == Some("AWS::CloudFormation::Stack")
            && e.logical_resource_id() == Some(stack)
    };
    let cancelled = |e: &&StackEvent| {
        e.resource_status_reason()
            .is_some_and(|r| r.contains("cancelled"))
    };
    failed
        .iter()
        .find(|e| !is_stack(e) && !cancelled(e))
        .or_else(|| failed.iter().find(|e| !is_stack(e)))
        .or_else(|| failed.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::{
        ChangeAction, Replacement, ResourceChange, ResourceStatus,
    };

    fn event(id: &str, logical: &str, ty: &str, status: &str, reason: &str) -> StackEvent {
        StackEvent::builder()
            .event_id(id)
            .stack_id("s")
            .stack_name("infra")
            .logical_resource_id(logical)
            .resource_type(ty)
            .resource_status(ResourceStatus::from(status))
            .resource_status_reason(reason)
            .timestamp(aws_smithy_types::DateTime::from_secs(0))
            .build()
    }

    #[test]
    fn the_cause_is_the_first_failure_not_the_cancelled_ones() {
        let events = vec![
            event(
                "1",
                "infra",
                "AWS::CloudFormation::Stack",
                "CREATE_IN_PROGRESS",
                "User Initiated",
            ),
            event(
                "2",
                "Cache",
                "AWS::ElastiCache::CacheCluster",
                "CREATE_FAILED",
                "Resource creation cancelled",
            ),
            event(
                "3",
                "Db",
                "AWS::RDS::DBInstance",
                "CREATE_FAILED",
                "DB instance class db.x1 is not supported",
            ),
            event(
                "4",
                "infra",
                "AWS::CloudFormation::Stack",
                "ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to create: [Db]",
            ),
        ];
        let e = first_failure(&events, "infra").unwrap();
        assert_eq!(e.logical_resource_id(), Some("Db"));
    }

    #[test]
    fn empty_change_set_reasons() {
        assert!(is_no_updates("The submitted information didn't contain changes. Submit different information to create a change set."));
        assert!(is_no_updates("No updates are to be performed."));
        assert!(!is_no_updates(
            "Template format error: Unresolved resource dependencies"
        ));
    }

    #[test]
    fn change_lines_name_action_resource_type_and_replacement() {
        let c = Change::builder()
            .resource_change(
                ResourceChange::builder()
                    .action(ChangeAction::Modify)
                    .logical_resource_id("Db")
                    .resource_type("AWS::RDS::DBInstance")
                    .replacement(Replacement::True)
                    .build(),
            )
            .build();
        assert_eq!(
            change_line(&c),
            "Modify Db AWS::RDS::DBInstance (replacement)"
        );
    }
}
