//! `verify`: every pre-flight check against AWS, without changing anything, printed as
//! OK / FAILED per item.
//!
//! The cluster and services were checked by preflight before this runs (a missing one stops
//! the run there); this adds images, the `secrets` a task reads at start (SSM parameters and
//! Secrets Manager secrets, by name: a value is never requested), and `awslogs` log groups.
//! Execution and task roles are read with `iam:GetRole`; ECS-native services' blue/green
//! resources and hooks are checked by `verify_native.rs`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::anyhow;
use serde_json::Value;

use aws_sdk_iam::error::ProvideErrorMetadata;

use crate::aws::{aws_error_message, Aws};
use crate::config::Config;
use crate::context::Ctx;
use crate::error::Failure;
use crate::images;
use crate::record::ServiceRun;
use crate::render::Rendered;

/// DescribeParameters accepts at most this many names in one filter.
const MAX_NAMES_PER_FILTER: usize = 50;

/// A `valueFrom` reference and where it is used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// Region (None: the run's) and parameter name with its leading `/` as written.
    Ssm {
        region: Option<String>,
        name: String,
    },
    /// Region and SecretId (the ARN without its JSON key / version suffix).
    Secret { region: String, id: String },
}

/// Runs the checks beyond preflight (images when `with_images`, secrets, log groups, roles)
/// and says how each service rolls out. An error lists every failed item.
pub(crate) async fn run(
    ctx: &Ctx<'_>,
    runs: &[ServiceRun],
    with_images: bool,
    cluster_exists: bool,
) -> Result<(), Failure> {
    let (aws, cfg, account, out) = (&ctx.aws, ctx.cfg, ctx.account.as_str(), ctx.out);
    let docs: Vec<Rendered> = runs.iter().filter_map(|r| r.rendered.clone()).collect();
    let docs = &docs[..];
    out.group("Verify");
    let mut head = Tally::default();
    if cluster_exists {
        head.ok(&format!("cluster {}: ACTIVE", cfg.cluster));
    } else {
        head.ok(&format!(
            "cluster {}: does not exist yet: the stack makes it",
            cfg.cluster
        ));
    }
    for r in runs {
        let state = if r.creating {
            format!(
                "does not exist yet: created from {}",
                r.target.definition_shown
            )
        } else {
            "ACTIVE".to_string()
        };
        head.ok(&format!(
            "service {}: {state}, rolls out {}",
            r.target.service,
            r.way.label()
        ));
    }
    // The checks need nothing of each other: they run at once (one round trip, not four),
    // and print in this order whatever order they finish in.
    let (mut images, mut secrets, mut logs, mut roles, mut native) = Default::default();
    tokio::join!(
        async {
            // In deploy mode `images::check` has already checked (and maybe pinned) them.
            if with_images {
                check_images(aws, cfg, docs, &mut images).await;
            }
        },
        check_secrets(aws, docs, &mut secrets),
        check_log_groups(aws, docs, &mut logs),
        check_roles(aws, account, docs, &mut roles),
        crate::verify_native::check(aws, runs, &mut native),
    );
    let mut failed = Vec::new();
    for t in [head, images, secrets, logs, roles, native] {
        for l in &t.lines {
            out.line(l);
        }
        failed.extend(t.failed);
    }
    out.end_group();
    if failed.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "verify: {} check(s) failed: {}",
        failed.len(),
        failed.join("; ")
    )
    .into())
}

/// The lines of one group of checks, and the failed items for the final error.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    lines: Vec<String>,
    failed: Vec<String>,
}

impl Tally {
    pub(crate) fn line(&mut self, text: &str) {
        self.lines.push(text.to_string());
    }

    pub(crate) fn ok(&mut self, item: &str) {
        self.lines.push(format!("OK      {item}"));
    }

    pub(crate) fn failed(&mut self, item: &str) {
        self.lines.push(format!("FAILED  {item}"));
        self.failed.push(item.to_string());
    }
}

async fn check_images(aws: &Aws, cfg: &Config, docs: &[Rendered], report: &mut Tally) {
    let region = aws.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    // Only bare `repo:tag` names need the account; verify is not handed it.
    let account = if cfg.image_checks.ecr_repository_shorthand {
        aws.account_id().await.unwrap_or_default()
    } else {
        String::new()
    };
    let shorthand = images::shorthand(&cfg.image_checks, &account, &region);
    let (ecr, other) = images::collect(docs, shorthand);
    for image in BTreeSet::from_iter(other) {
        report.line(&format!("SKIPPED image {image}: not in ECR"));
    }
    let unique: Vec<images::EcrImage> = ecr.into_iter().map(|(_, i)| i).collect();
    if unique.is_empty() {
        return;
    }
    match images::lookup(aws, &unique).await {
        Ok(found) => {
            let uris: BTreeSet<&String> = unique.iter().map(|i| &i.uri).collect();
            for uri in uris {
                match (found.found.get(uri), found.missing.get(uri)) {
                    (Some(digest), _) => report.ok(&format!("image {uri} ({digest})")),
                    (None, Some(why)) => report.failed(&format!(
                        "image {uri}: {why} (push it first: the build-and-push step must run before ecs-deploy)"
                    )),
                    (None, None) => report.failed(&format!("image {uri}: no answer from ECR")),
                }
            }
        }
        Err(e) => report.failed(&format!("images: {e:#}")),
    }
}

/// Every `valueFrom` of `secrets`, `logConfiguration.secretOptions` and
/// `repositoryCredentials`, with the container it belongs to.
fn secret_refs(docs: &[Rendered]) -> BTreeMap<String, Vec<String>> {
    let mut refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in docs {
        for c in crate::taskdef::containers(&d.body) {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
            let lists = [
                c.get("secrets"),
                c.pointer("/logConfiguration/secretOptions"),
            ];
            for item in lists
                .into_iter()
                .flatten()
                .filter_map(Value::as_array)
                .flatten()
            {
                if let Some(from) = item.get("valueFrom").and_then(Value::as_str) {
                    let var = item.get("name").and_then(Value::as_str).unwrap_or("?");
                    refs.entry(from.to_string())
                        .or_default()
                        .push(format!("{name}/{var}"));
                }
            }
            if let Some(from) = c
                .pointer("/repositoryCredentials/credentialsParameter")
                .and_then(Value::as_str)
            {
                refs.entry(from.to_string())
                    .or_default()
                    .push(format!("{name}/repositoryCredentials"));
            }
        }
    }
    refs
}

/// Where a `valueFrom` points: an SSM parameter (name or ARN) or a Secrets Manager secret (ARN).
fn classify(value_from: &str) -> Source {
    let parts: Vec<&str> = value_from.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" {
        let region = parts[3].to_string();
        if parts[2] == "secretsmanager" {
            // arn:aws:secretsmanager:region:account:secret:name[:json-key:stage:version]
            let id: Vec<&str> = value_from.split(':').take(7).collect();
            return Source::Secret {
                region,
                id: id.join(":"),
            };
        }
        if parts[2] == "ssm" {
            if let Some(rest) = parts[5].strip_prefix("parameter/") {
                // A hierarchical name loses its leading `/` in the ARN.
                let name = if rest.contains('/') {
                    format!("/{rest}")
                } else {
                    rest.to_string()
                };
                return Source::Ssm {
                    region: Some(region),
                    name,
                };
            }
        }
    }
    Source::Ssm {
        region: None,
        name: value_from.to_string(),
    }
}

async fn check_secrets(aws: &Aws, docs: &[Rendered], report: &mut Tally) {
    let refs = secret_refs(docs);
    let mut ssm: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
    let mut secrets: BTreeSet<(String, String)> = BTreeSet::new();
    for from in refs.keys() {
        match classify(from) {
            Source::Ssm { region, name } => {
                ssm.entry(region).or_default().insert(name);
            }
            Source::Secret { region, id } => {
                secrets.insert((region, id));
            }
        }
    }
    let mut existing: BTreeMap<Option<String>, Result<BTreeSet<String>, String>> = BTreeMap::new();
    for (region, names) in &ssm {
        let client = ssm_client(aws, region.as_deref());
        existing.insert(region.clone(), ssm_existing(&client, names).await);
    }
    let described = futures::future::join_all(secrets.iter().map(|(region, id)| {
        let client = secrets_client(aws, region);
        async move {
            match client.describe_secret().secret_id(id).send().await {
                Ok(_) => Ok(()),
                Err(e) => Err(
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception())
                    {
                        "not found".to_string()
                    } else {
                        format!(
                            "cannot check it (secretsmanager:DescribeSecret): {}",
                            aws_error_message(&e)
                        )
                    },
                ),
            }
        }
    }))
    .await;
    let secret_results: BTreeMap<(String, String), Result<(), String>> =
        secrets.into_iter().zip(described).collect();
    for (from, users) in &refs {
        let used_by = users.join(", ");
        match classify(from) {
            Source::Ssm { region, name } => {
                let item = format!("ssm parameter {from} (used by {used_by})");
                match existing.get(&region) {
                    Some(Ok(found)) if found.contains(name.trim_start_matches('/')) => {
                        report.ok(&item)
                    }
                    Some(Ok(_)) => {
                        report.failed(&format!("{item}: not found: create it, or fix valueFrom"))
                    }
                    Some(Err(why)) => report.failed(&format!("{item}: {why}")),
                    None => report.failed(&format!("{item}: not checked")),
                }
            }
            Source::Secret { region, id } => {
                let item = format!("secret {from} (used by {used_by})");
                match secret_results.get(&(region, id)) {
                    Some(Ok(())) => report.ok(&item),
                    Some(Err(why)) => report.failed(&format!("{item}: {why}")),
                    None => report.failed(&format!("{item}: not checked")),
                }
            }
        }
    }
}

/// The names (without leading `/`) among `names` that exist. DescribeParameters returns
/// metadata only, so no parameter value is ever fetched.
async fn ssm_existing(
    ssm: &aws_sdk_ssm::Client,
    names: &BTreeSet<String>,
) -> Result<BTreeSet<String>, String> {
    use aws_sdk_ssm::types::ParameterStringFilter;
    let mut found = BTreeSet::new();
    let names: Vec<&String> = names.iter().collect();
    for chunk in names.chunks(MAX_NAMES_PER_FILTER) {
        let mut filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals");
        for n in chunk {
            filter = filter.values(n.as_str());
        }
        let filter = filter.build().map_err(|e| e.to_string())?;
        let mut token: Option<String> = None;
        loop {
            let page = ssm
                .describe_parameters()
                .parameter_filters(filter.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "cannot check it (ssm:DescribeParameters): {}",
                        aws_error_message(&e)
                    )
                })?;
            for p in page.parameters() {
                if let Some(n) = p.name() {
                    found.insert(n.trim_start_matches('/').to_string());
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    Ok(found)
}

async fn check_log_groups(aws: &Aws, docs: &[Rendered], report: &mut Tally) {
    // group → (region, created by ECS when missing)
    let mut groups: BTreeMap<String, (Option<String>, bool)> = BTreeMap::new();
    for d in docs {
        for c in crate::taskdef::containers(&d.body) {
            let Some(conf) = c.get("logConfiguration") else {
                continue;
            };
            if conf.get("logDriver").and_then(Value::as_str) != Some("awslogs") {
                continue;
            }
            let opt = |k: &str| {
                conf.pointer(&format!("/options/{k}"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            if let Some(group) = opt("awslogs-group") {
                let create = opt("awslogs-create-group").is_some_and(|v| v == "true");
                let entry = groups
                    .entry(group)
                    .or_insert((opt("awslogs-region"), create));
                entry.1 |= create;
            }
        }
    }
    let answers = futures::future::join_all(groups.iter().map(|(group, (region, _))| {
        let client = logs_client(aws, region.as_deref());
        async move { log_group_exists(&client, group).await }
    }))
    .await;
    for ((group, (_, create)), exists) in groups.iter().zip(answers) {
        let item = format!("log group {group}");
        match exists {
            Ok(true) => report.ok(&item),
            Ok(false) if *create => report.ok(&format!(
                "{item}: missing, ECS creates it (awslogs-create-group; the execution role needs logs:CreateLogGroup)"
            )),
            Ok(false) => report.failed(&format!(
                "{item}: not found: create it, or set awslogs-create-group: \"true\""
            )),
            Err(why) => report.failed(&format!("{item}: {why}")),
        }
    }
}

async fn log_group_exists(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
) -> Result<bool, String> {
    let mut token: Option<String> = None;
    loop {
        let page = logs
            .describe_log_groups()
            .log_group_name_prefix(group)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot check it (logs:DescribeLogGroups): {}",
                    aws_error_message(&e)
                )
            })?;
        if page
            .log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(group))
        {
            return Ok(true);
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(false),
        }
    }
}

/// (kind, ARN) of every execution and task role, once each.
/// The execution and task roles exist (`iam:GetRole`, names only). A role the credentials may
/// not read (another account, no permission) is reported as not checked rather than failed.
async fn check_roles(aws: &Aws, account: &str, docs: &[Rendered], report: &mut Tally) {
    // Every role at once (one round trip), reported in the roles' order.
    let roles: Vec<(&str, String)> = roles(docs).into_iter().collect();
    let answers = crate::context::bounded(roles.iter().map(|(_, arn)| async move {
        let role_account = arn.split(':').nth(4).unwrap_or_default();
        if !account.is_empty() && role_account != account {
            return None;
        }
        let name = crate::arn::last_segment(arn);
        Some(aws.iam.get_role().role_name(name).send().await)
    }))
    .await;
    for ((kind, arn), answer) in roles.iter().zip(answers) {
        match answer {
            None => report.line(&format!(
                "SKIPPED {kind} {arn}: in account {}, not {account}: iam:GetRole cannot read it",
                arn.split(':').nth(4).unwrap_or_default()
            )),
            Some(Ok(_)) => report.ok(&format!("{kind} {arn}")),
            Some(Err(e)) if e.code() == Some("NoSuchEntity") => report.failed(&format!(
                "{kind} {arn}: not found: create the role, or fix the ARN in the task definition"
            )),
            Some(Err(e)) => report.line(&format!(
                "SKIPPED {kind} {arn}: not checked ({}; iam:GetRole on the role allows it)",
                aws_error_message(&e)
            )),
        }
    }
}

fn roles(docs: &[Rendered]) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    for d in docs {
        for (field, kind) in [
            ("executionRoleArn", "execution role"),
            ("taskRoleArn", "task role"),
        ] {
            if let Some(arn) = d.body.get(field).and_then(Value::as_str) {
                out.insert((kind, arn.to_string()));
            }
        }
    }
    out
}

/// The run's configuration for `region` when it is not the run's own region.
fn in_region(aws: &Aws, region: Option<&str>) -> Option<aws_config::SdkConfig> {
    region
        .filter(|r| aws.sdk.region().is_none_or(|own| own.as_ref() != *r))
        .map(|r| aws.sdk_in(r))
}

fn ssm_client(aws: &Aws, region: Option<&str>) -> aws_sdk_ssm::Client {
    in_region(aws, region).map_or_else(|| aws.ssm.clone(), |c| aws_sdk_ssm::Client::new(&c))
}

fn secrets_client(aws: &Aws, region: &str) -> aws_sdk_secretsmanager::Client {
    in_region(aws, Some(region)).map_or_else(
        || aws.secrets.clone(),
        |c| aws_sdk_secretsmanager::Client::new(&c),
    )
}

fn logs_client(aws: &Aws, region: Option<&str>) -> aws_sdk_cloudwatchlogs::Client {
    in_region(aws, region).map_or_else(
        || aws.logs.clone(),
        |c| aws_sdk_cloudwatchlogs::Client::new(&c),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_from_forms() {
        let ssm = |region: Option<&str>, name: &str| Source::Ssm {
            region: region.map(str::to_string),
            name: name.to_string(),
        };
        assert_eq!(
            classify("/dataspace/db-url"),
            ssm(None, "/dataspace/db-url")
        );
        assert_eq!(classify("plain"), ssm(None, "plain"));
        assert_eq!(
            classify("arn:aws:ssm:eu-west-1:123456789012:parameter/dataspace/db-url"),
            ssm(Some("eu-west-1"), "/dataspace/db-url")
        );
        assert_eq!(
            classify("arn:aws:ssm:us-east-1:123456789012:parameter/plain"),
            ssm(Some("us-east-1"), "plain")
        );
        assert_eq!(
            classify("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password::"),
            Source::Secret {
                region: "us-east-1".into(),
                id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf".into()
            }
        );
    }
}
