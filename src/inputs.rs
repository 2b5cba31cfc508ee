//! The one table of inputs: their names, defaults and descriptions.
//!
//! `action.yml`, the CLI flags, the README's input table and the drift test are all checked
//! against this list, so an input exists in all of them or in none. Values are strings here;
//! `config.rs` turns them into a validated `Config`.

/// One input of the action, which is also a `--flag` of the CLI.
#[derive(Debug, Clone, Copy)]
pub struct InputSpec {
    pub name: &'static str,
    /// Default as action.yml states it; `None` when the input has no default.
    pub default: Option<&'static str>,
    pub description: &'static str,
}

const fn input(
    name: &'static str,
    default: Option<&'static str>,
    description: &'static str,
) -> InputSpec {
    InputSpec {
        name,
        default,
        description,
    }
}

pub const INPUTS: &[InputSpec] = &[
    input("cluster", None, "ECS cluster name or ARN. Required."),
    input(
        "region",
        None,
        "AWS region. Defaults to AWS_REGION, then AWS_DEFAULT_REGION.",
    ),
    input("service", None, "The app service's name."),
    input(
        "task-definition",
        None,
        "Path of the app service's task-definition file (JSON or YAML).",
    ),
    input("otel-service", None, "The OpenTelemetry-collector service's name."),
    input(
        "otel-task-definition",
        None,
        "Path of the collector's task-definition file.",
    ),
    input(
        "services",
        None,
        "More services, one per line: service-name=path/to/taskdef.json",
    ),
    input(
        "images",
        None,
        "Image overrides, one per line: container-name=image-uri, applied after substitution to every task definition that has that container.",
    ),
    input(
        "mode",
        Some("deploy"),
        "What to do: deploy, plan (show what would change, change nothing), verify, rollback or render.",
    ),
    input(
        "wait-for-service-stability",
        Some("true"),
        "Wait until every updated service finished its rollout.",
    ),
    input(
        "wait-for-minutes",
        Some("15"),
        "Deadline, in minutes, for the whole wait.",
    ),
    input(
        "poll-interval-seconds",
        Some("5"),
        "Seconds between two looks at the services while waiting.",
    ),
    input(
        "rollback-on-failure",
        Some("true"),
        "On a failed or timed-out rollout, put every service updated in this run back on its previous task definition.",
    ),
    input(
        "force-new-deployment",
        Some("false"),
        "Redeploy even when the rendered task definition equals the live one.",
    ),
    input(
        "desired-count",
        None,
        "Set the services' desired count (otherwise untouched, so auto-scaling is never fought).",
    ),
    input("stack-name", None, "CloudFormation stack name."),
    input(
        "stack-template",
        None,
        "CloudFormation template file (JSON or YAML).",
    ),
    input(
        "stack-parameters",
        None,
        "Stack parameters: Key=Value per line, or file://params.json ([{ParameterKey,ParameterValue}]).",
    ),
    input(
        "stack-capabilities",
        Some("CAPABILITY_IAM,CAPABILITY_NAMED_IAM"),
        "Comma-separated capabilities; add CAPABILITY_AUTO_EXPAND for templates with transforms.",
    ),
    input(
        "stack-tags",
        None,
        "Stack tags, Key=Value per line; CloudFormation passes them on to the resources that support tags.",
    ),
    input(
        "stack-timeout-minutes",
        Some("30"),
        "Deadline for the stack part (change set, execution, waiting for a running operation), in minutes.",
    ),
    input(
        "deploy-stack",
        Some("auto"),
        "auto (only when template or parameters differ from the deployed stack), always, or never.",
    ),
    input(
        "verify-images",
        Some("true"),
        "Check that every ECR image in the rendered task definitions exists before anything changes.",
    ),
    input(
        "pin-image-digests",
        Some("false"),
        "Replace ECR image tags by their digests in the registered task definitions.",
    ),
    input(
        "ecr-repository-shorthand",
        Some("false"),
        "Treat a bare `repo:tag` image as an ECR repository of the caller's account and region.",
    ),
    input(
        "verify",
        Some("true"),
        "Before deploying, also check that secrets (SSM, Secrets Manager) and awslogs log groups exist, like the verify command.",
    ),
    input(
        "role-to-assume",
        None,
        "IAM role to assume with the GitHub OIDC token (no long-lived keys).",
    ),
    input(
        "role-session-name",
        None,
        "Session name for role-to-assume. Default: ecs-deploy-<GITHUB_RUN_ID>.",
    ),
    input(
        "role-duration-seconds",
        Some("3600"),
        "Lifetime of the assumed-role credentials (900-43200; at most 3600 when chaining roles).",
    ),
    input(
        "github-token",
        Some("${{ github.token }}"),
        "Token for the pull-request comment.",
    ),
    input(
        "comment-on-pr",
        Some("true"),
        "Post or update one sticky comment on the pull request(s) of this commit.",
    ),
    input(
        "comment-key",
        None,
        "Extra key for the sticky PR comment, for several environments on one cluster and stack (e.g. dev).",
    ),
    input(
        "allow-pull-request-target",
        Some("false"),
        "Allow deploy on pull_request_target events, which run with a write token and secrets even for forks.",
    ),
];

/// Outputs, with their descriptions, in the order they are written.
pub const OUTPUTS: &[(&str, &str)] = &[
    (
        "task-definition-arn",
        "The app service's new (or unchanged) task-definition ARN.",
    ),
    (
        "otel-task-definition-arn",
        "The collector's task-definition ARN.",
    ),
    (
        "task-definition-arns",
        "JSON object, service name to task-definition ARN, for every service.",
    ),
    (
        "changed-services",
        "JSON array of the services that got a new deployment.",
    ),
    (
        "stack-deployed",
        "true when a change set was executed in this run.",
    ),
    ("stack-outputs", "JSON object of the stack's outputs."),
    (
        "result",
        "deployed, unchanged, planned, rolled-back or failed.",
    ),
];

/// The environment-variable name a GitHub runner gives an input of a container action:
/// upper-cased, spaces to underscores, hyphens kept.
pub fn env_name(input: &str) -> String {
    format!("INPUT_{}", input.replace(' ', "_").to_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_keep_hyphens() {
        assert_eq!(env_name("task-definition"), "INPUT_TASK-DEFINITION");
        assert_eq!(env_name("cluster"), "INPUT_CLUSTER");
    }

    #[test]
    fn input_names_are_unique() {
        let mut names: Vec<_> = INPUTS.iter().map(|i| i.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
