//! The CloudFormation infrastructure stack: deployed through a change set when it changed,
//! its outputs turned into `STACK_<OutputKey>` substitution variables.

use std::collections::{BTreeMap, BTreeSet};

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Failure, InputProblem};
use crate::gha::Printer;

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
pub fn output_keys(cfg: &Config) -> Result<Option<BTreeSet<String>>, Failure> {
    match &cfg.stack {
        None => Ok(None),
        Some(_) => Err(not_available()),
    }
}

/// Deploys the stack when `deploy-stack` says so (plan mode: previews the change set).
pub async fn run(_aws: &Aws, cfg: &Config, _out: &Printer) -> Result<StackOutcome, Failure> {
    match &cfg.stack {
        None => Ok(StackOutcome::default()),
        Some(_) => Err(not_available()),
    }
}

fn not_available() -> Failure {
    InputProblem::new(
        "inputs stack-name/stack-template: deploying a CloudFormation stack is not available in this version; deploy the stack in an earlier step and remove these inputs",
    )
    .into()
}
