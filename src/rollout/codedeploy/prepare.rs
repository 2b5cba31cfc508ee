//! The checks of every CODE_DEPLOY service before anything changes, and the [`Setup`] each
//! deployment is made of: application, group, deployment configuration, AppSpec.

use serde_json::Value;

use super::{build, check_against, description, group, names, routing, with_revision};
use super::{Group, Setup, NEW_REVISION};
use crate::config::Role;
use crate::context::{bounded, Ctx};
use crate::error::{Failure, InputProblem};
use crate::record::ServiceRun;
use crate::rollout::{Goal, Way};

/// A CODE_DEPLOY service's deployment group, the configuration it deploys with and that
/// configuration's traffic routing, as read by `prepare`'s early stage.
#[derive(Debug, Clone)]
pub(crate) struct GroupRead {
    group: Group,
    config: String,
    routing: super::routing::Routing,
}

/// When [`prepare`] runs: before anything changes (the stack included), or after the stack
/// with the services' final documents and changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before the stack. With `defer_groups` (the stack's template declares CodeDeploy
    /// resources: it may create the application, group or configuration) the group is not
    /// looked up yet; the AppSpec is still checked.
    Early { defer_groups: bool },
    /// After the stack and the diff: the setup each deployment is made of.
    Final,
}

/// For each CODE_DEPLOY service: its application and deployment group exist, the group
/// deploys this service of this cluster, its deployment configuration exists (its traffic
/// routing read for the deadline), the service definition changes no field CODE_DEPLOY
/// refuses in UpdateService, and the AppSpec (the file, or one built from the service) names
/// a container and port the task definition has. Every problem is reported at once; `plan`
/// shows the AppSpec and the group. `Stage::Early` runs before the stack, so bad input is
/// exit 2 with nothing changed; `Stage::Final` sets each service's [`Setup`].
pub(crate) async fn prepare(
    ctx: &Ctx<'_>,
    runs: &mut [ServiceRun],
    file: Option<&Value>,
    stage: Stage,
) -> Result<(), Failure> {
    let cfg = ctx.cfg;
    let cluster = crate::arn::last_segment(&cfg.cluster).to_string();
    let ours: Vec<usize> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.way == Way::CodeDeploy && !r.creating)
        .map(|(i, _)| i)
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    let deferred = stage == Stage::Early { defer_groups: true };
    let groups = bounded(ours.iter().map(|&i| {
        let r = &runs[i];
        let (app, name) = names(cfg, r.target.role, r.name());
        let given = cfg
            .codedeploy
            .config
            .clone()
            .filter(|_| r.target.role == Role::App);
        // Read in the early stage already, with no stack between that could change it.
        let read = r.codedeploy_read.clone();
        async move {
            if deferred {
                return (app, name, Ok(Ok(Group::default())), None);
            }
            if let Some(read) = read {
                let routing = Some((read.config, Ok(Ok(read.routing))));
                return (app, name, Ok(Ok(read.group)), routing);
            }
            let g = group(&ctx.aws, &app, &name).await;
            let config = match (&given, &g) {
                (Some(c), _) => c.clone(),
                (None, Ok(Ok(g))) => g
                    .config
                    .clone()
                    .unwrap_or_else(|| routing::DEFAULT_CONFIG.to_string()),
                _ => return (app, name, g, None),
            };
            let r = routing::get(&ctx.aws, &config).await;
            (app, name, g, Some((config, r)))
        }
    }))
    .await;
    let mut problems = Vec::new();
    for (&i, (app, group_name, g, config)) in ours.iter().zip(groups) {
        let r = &mut runs[i];
        let name = r.name().to_string();
        let app_role = r.target.role == Role::App;
        let hint = "give inputs codedeploy-application and codedeploy-deployment-group (the defaults are AppECS-<cluster>-<service> and DgpECS-<cluster>-<service>, as the official action uses)";
        let group = match g? {
            Ok(g) => g,
            Err(why) => {
                problems.push(InputProblem::new(format!(
                    "service `{name}` uses the CODE_DEPLOY deployment controller, but {why}: {hint}"
                )));
                continue;
            }
        };
        let targets_us = group.services.iter().any(|(c, s)| {
            crate::arn::last_segment(c) == cluster && crate::arn::last_segment(s) == name
        });
        if !targets_us && !deferred {
            let theirs: Vec<String> = group
                .services
                .iter()
                .map(|(c, s)| format!("{s} in cluster {c}"))
                .collect();
            problems.push(InputProblem::new(format!(
                "CodeDeploy deployment group `{group_name}` (application `{app}`) deploys {}, not service `{name}` in cluster `{cluster}`: {hint}",
                if theirs.is_empty() { "no ECS service".to_string() } else { theirs.join(", ") }
            )));
            continue;
        }
        let given_config = cfg.codedeploy.config.is_some() && app_role;
        let mut read_config = None;
        let routing = match config {
            None => None,
            Some((c, Ok(Ok(routing)))) => {
                read_config = Some(c);
                Some(routing)
            }
            Some((_, Ok(Err(why)))) if given_config => {
                problems.push(InputProblem::new(format!(
                    "input codedeploy-config: {why}; give one of the CodeDeployDefault.ECS* configurations or a custom one of compute platform ECS"
                )));
                continue;
            }
            Some((config, answer)) => {
                if stage == Stage::Final {
                    let why = match answer {
                        Ok(Err(why)) => why,
                        Err(e) => format!("{e:#}"),
                        Ok(Ok(_)) => String::new(),
                    };
                    ctx.out.warning(&format!(
                        "{name}: the traffic routing of deployment configuration {config} could not be read ({why}): the deadline does not count its traffic shifting; allow codedeploy:GetDeploymentConfig"
                    ));
                }
                None
            }
        };
        // Kept for the final stage only without a stack: a stack may change the group in
        // ways its template does not show (a nested stack, a macro).
        let keep = cfg.stack.is_none() && matches!(stage, Stage::Early { .. }) && !deferred;
        if let (true, Some(config), Some(routing)) = (keep, read_config, &routing) {
            r.codedeploy_read = Some(GroupRead {
                group: group.clone(),
                config,
                routing: routing.clone(),
            });
        }
        // Before the stack the comparison has not run yet: the definition is compared here,
        // so a refused field is bad input with nothing changed.
        let early_changes = match (&r.definition, stage == Stage::Final || r.creating) {
            (Some(def), false) => Some(crate::servicedef::compare(&def.body, &r.live.raw, &name)),
            _ => None,
        };
        let fields = early_changes.as_ref().unwrap_or(&r.changes).fields.keys();
        for field in fields {
            if crate::services::CODE_DEPLOY_REFUSES.contains(&field.as_str()) {
                problems.push(InputProblem::new(format!(
                    "service `{name}`: its service definition changes `{field}`, which a CODE_DEPLOY service does not take in UpdateService: put it in the AppSpec (codedeploy-appspec) or the deployment group, and leave it out of the definition"
                )));
            }
        }
        let (appspec, from, input) = match file.filter(|_| app_role) {
            Some(doc) => (
                with_revision(doc, NEW_REVISION),
                format!(
                    "the file {}",
                    cfg.codedeploy
                        .appspec
                        .as_ref()
                        .map(|a| a.1.as_str())
                        .unwrap_or_default()
                ),
                "input codedeploy-appspec",
            ),
            None => {
                let hooks = if app_role {
                    cfg.codedeploy.hooks.clone()
                } else {
                    Vec::new()
                };
                match build(&r.live.raw, &hooks) {
                    Ok(a) => (
                        a,
                        "built from the service".to_string(),
                        "the AppSpec built from the service",
                    ),
                    Err(why) => {
                        problems.push(InputProblem::new(format!("service `{name}` {why}")));
                        continue;
                    }
                }
            }
        };
        // Before the stack, a document still holding a stack output's placeholder is checked
        // only after it (its container names may be outputs).
        let placeholders = |doc: &crate::render::Rendered| {
            stage != Stage::Final && doc.body.to_string().contains("(stack output ")
        };
        if let Some(doc) = r.rendered.as_ref().filter(|d| !placeholders(d)) {
            for p in check_against(&appspec, &doc.body) {
                problems.push(InputProblem::new(format!(
                    "{input} for service `{name}`: {p}; fix the AppSpec or the task definition"
                )));
            }
        }
        if cfg.rollout.wait_until == Goal::Ready && !group.waits_for_go_ahead() && !deferred {
            problems.push(InputProblem::new(format!(
                "input wait-until `ready`: deployment group `{group_name}` (service `{name}`) does not hold a Ready deployment for a go-ahead (its deploymentReadyOption.actionOnTimeout is {}): production traffic would shift without one; set it to STOP_DEPLOYMENT with a waitTimeInMinutes, or wait until finished",
                group.ready_action.as_deref().unwrap_or("CONTINUE_DEPLOYMENT")
            )));
        }
        if stage != Stage::Final {
            continue;
        }
        let given = cfg.codedeploy.description.as_deref().filter(|_| app_role);
        r.codedeploy = Some(Setup {
            application: app,
            group_name,
            config: cfg.codedeploy.config.clone().filter(|_| app_role),
            description: description(given, ctx.rt.run_url().as_deref()),
            appspec,
            appspec_from: from,
            group,
            rollback: cfg.rollout.rollback_on_failure,
            routing,
        });
    }
    if !problems.is_empty() {
        return Err(problems.into());
    }
    Ok(())
}
