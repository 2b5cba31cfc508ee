//! CodeDeploy blue/green (issue 14, DESIGN.md section 12), against moto's applications and
//! deployment groups and the stand-in's CodeDeploy deployments (`CdPlot`: lifecycle events,
//! Ready, continue, stop with rollback, failed hooks, task sets): success, a failed
//! AfterAllowTestTraffic hook rolled back, the ready wait then `continue`, a deadline, a
//! concurrent deployment waited for or refused, cancellation, promotion, plan and verify, and
//! each bad input changing nothing.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rollout::{files, setup};
use crate::support::seed::CLUSTER;
use crate::support::standin::{CdPlot, CODEDEPLOY_TARGET, OTHER_CODEDEPLOY};
use crate::support::{Moto, MotoOptions, Outcome, Run, Seeded, StandIn};

const APP: &str = "AppECS-dataspace-dev-dataspace-app";
const GROUP: &str = "DgpECS-dataspace-dev-dataspace-app";

/// The app service alone, deployed with a new image.
fn app(url: &str, s: &Seeded) -> Run {
    files(Run::new(url), s)
        .input("otel-service", "")
        .input("otel-task-definition", "")
}

fn live_td(moto: &Moto, s: &Seeded) -> String {
    moto.service(CLUSTER, &s.app_service)["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A CodeDeploy application and deployment group (in moto) for `service`; with `ready`, the
/// group holds a Ready deployment that long for a go-ahead (STOP_DEPLOYMENT).
fn group(moto: &Moto, app: &str, group: &str, service: &str, ready: Option<i32>) {
    group_with(
        moto,
        app,
        group,
        service,
        ready,
        "CodeDeployDefault.ECSAllAtOnce",
    );
}

/// moto with the DataSpace services, the app's CodeDeploy application and group.
fn world() -> (Moto, Seeded) {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    group(&moto, APP, GROUP, &s.app_service, None);
    (moto, s)
}

/// [`world`] with the app service's health-check grace period set to `seconds`.
fn world_with_grace_period(seconds: i64) -> (Moto, Seeded) {
    let (moto, s) = world();
    moto.ecs(
        "UpdateService",
        json!({ "cluster": CLUSTER, "service": s.app_service, "healthCheckGracePeriodSeconds": seconds }),
    );
    (moto, s)
}

/// [`group`] with this deployment configuration.
fn group_with(
    moto: &Moto,
    app: &str,
    group: &str,
    service: &str,
    ready: Option<i32>,
    config: &str,
) {
    let cd = |op: &str, body: Value| {
        moto.call_json("codedeploy", &format!("{CODEDEPLOY_TARGET}.{op}"), body)
    };
    cd(
        "CreateApplication",
        json!({ "applicationName": app, "computePlatform": "ECS" }),
    );
    let ready = match ready {
        Some(m) => json!({ "actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": m }),
        None => json!({ "actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0 }),
    };
    cd(
        "CreateDeploymentGroup",
        json!({
            "applicationName": app,
            "deploymentGroupName": group,
            "deploymentConfigName": config,
            "serviceRoleArn": "arn:aws:iam::123456789012:role/codedeploy-ecs",
            "deploymentStyle": { "deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL" },
            "blueGreenDeploymentConfiguration": {
                "deploymentReadyOption": ready,
                "terminateBlueInstancesOnDeploymentSuccess": { "action": "TERMINATE", "terminationWaitTimeInMinutes": 0 },
            },
            "ecsServices": [{ "serviceName": service, "clusterName": CLUSTER }],
        }),
    );
}

fn start(plot: CdPlot, ready: Option<i32>) -> (Moto, Seeded, StandIn) {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    group(&moto, APP, GROUP, &s.app_service, ready);
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, plot)
        .start();
    (moto, s, ecs)
}

/// The bodies of the binary's calls of a CodeDeploy operation.
fn sent(ecs: &StandIn, op: &str) -> Vec<Value> {
    ecs.requests()
        .into_iter()
        .filter(|r| r.header("X-Amz-Target") == Some(format!("{CODEDEPLOY_TARGET}.{op}").as_str()))
        .map(|r| r.json())
        .collect()
}

/// The deployment ids the stand-in handed out for the binary's CreateDeployment calls.
fn sent_ids(ecs: &StandIn) -> Vec<String> {
    ecs.exchanges()
        .iter()
        .filter(|e| e.op.as_deref() == Some("CreateDeployment") && e.status == 200)
        .map(|e| {
            e.answer["deploymentId"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The AppSpec a CreateDeployment sent.
fn appspec(body: &Value) -> Value {
    serde_json::from_str(
        body["revision"]["appSpecContent"]["content"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn a_codedeploy_deployment_succeeds_with_an_appspec_built_from_the_service() {
    let (moto, s, ecs) = start(CdPlot::Succeeds, None);
    let o = app(&ecs.url(), &s).run();
    o.assert_code(0);
    let text = o.all_text();
    assert_eq!(o.output("result"), "deployed", "{text}");
    let ours = o.output("task-definition-arn").to_string();
    let creates = sent(&ecs, "CreateDeployment");
    assert_eq!(creates.len(), 1, "{text}");
    assert_eq!(creates[0]["applicationName"], APP);
    assert_eq!(creates[0]["deploymentGroupName"], GROUP);
    assert_eq!(creates[0]["revision"]["revisionType"], "AppSpecContent");
    assert_eq!(creates[0]["autoRollbackConfiguration"]["enabled"], true);
    let spec = appspec(&creates[0]);
    let props = &spec["Resources"][0]["TargetService"]["Properties"];
    assert_eq!(props["TaskDefinition"], json!(ours));
    assert_eq!(props["LoadBalancerInfo"]["ContainerName"], "dataspace");
    assert_eq!(props["LoadBalancerInfo"]["ContainerPort"], 8000);
    assert!(
        creates[0]["description"]
            .as_str()
            .unwrap()
            .contains("/actions/runs/"),
        "the description links the run: {}",
        creates[0]
    );
    for seen in [
        "CodeDeploy application AppECS-dataspace-dev-dataspace-app, deployment group DgpECS-dataspace-dev-dataspace-app, AppSpec built from the service",
        "AfterAllowTestTraffic InProgress",
        "blue PRIMARY 100% traffic",
        "green PRIMARY 100% traffic",
        "Succeeded",
    ] {
        assert!(text.contains(seen), "{seen}: {text}");
    }
    let id = o.output("codedeploy-deployment-id");
    assert!(!id.is_empty() && text.contains(id), "{text}");
    // The summary (and so the pull-request comment) says where it ended.
    assert!(
        o.summary.contains("### CodeDeploy deployments"),
        "{}",
        o.summary
    );
    assert!(
        o.summary.contains("AfterAllowTraffic Succeeded"),
        "{}",
        o.summary
    );
    assert_eq!(
        ecs.calls("UpdateService"),
        0,
        "no UpdateService with the revision"
    );
    assert_eq!(ecs.calls("StopDeployment"), 0);
    // The group and its configuration are read once: the check before anything changes
    // gives the deployment its setup.
    assert_eq!(
        (
            ecs.calls("GetDeploymentGroup"),
            ecs.calls("GetDeploymentConfig")
        ),
        (1, 1)
    );
    assert_eq!(live_td(&moto, &s), ours);
}

#[test]
fn a_failed_after_allow_test_traffic_hook_is_rolled_back_and_named() {
    let (moto, s, ecs) = start(CdPlot::HookFails("AfterAllowTestTraffic"), None);
    let before = live_td(&moto, &s);
    let o = app(&ecs.url(), &s)
        .input(
            "codedeploy-hooks",
            "AfterAllowTestTraffic=dataspace-smoke-test",
        )
        .run();
    o.assert_code(1);
    let text = o.all_text();
    assert_eq!(o.output("result"), "rolled-back", "{text}");
    for seen in [
        "HOOK_EXECUTION_FAILURE: The deployment failed because a specified lifecycle event hook failed: AfterAllowTestTraffic",
        "lifecycle event AfterAllowTestTraffic Failed (hook dataspace-smoke-test)",
    ] {
        assert!(text.contains(seen), "{seen}: {text}");
        assert!(o.summary.contains("AfterAllowTestTraffic"), "{}", o.summary);
    }
    // The green task set's stopped task, its exit code and its log lines.
    for seen in [
        "1 stopped task(s) of green task set ecs-svc/2222222222222222001",
        "Essential container in task exited",
        "The SECRET_KEY setting must not be empty.",
    ] {
        assert!(text.contains(seen), "{seen}: {text}");
    }
    let spec = appspec(&sent(&ecs, "CreateDeployment")[0]);
    assert_eq!(
        spec["Hooks"],
        json!([{ "AfterAllowTestTraffic": "dataspace-smoke-test" }])
    );
    // CodeDeploy was rolling back already: followed, not stopped a second time.
    assert_eq!(ecs.calls("StopDeployment"), 0, "{text}");
    assert_eq!(ecs.calls("UpdateService"), 0);
    assert_eq!(live_td(&moto, &s), before);
}

#[test]
fn a_wait_until_ready_ends_there_and_continue_finishes_it() {
    let (moto, s, ecs) = start(CdPlot::Ready, Some(120));
    let o = app(&ecs.url(), &s).input("wait-until", "ready").run();
    o.assert_code(0);
    let text = o.all_text();
    assert_eq!(o.output("result"), "in-progress", "{text}");
    let id = o.output("codedeploy-deployment-id").to_string();
    assert!(
        text.contains(&format!(
            "CodeDeploy deployment {id} is Ready: green takes test traffic"
        )),
        "{text}"
    );
    assert!(
        text.contains("ecs-deploy continue --cluster dataspace-dev --service dataspace-app"),
        "{text}"
    );
    assert!(o.summary.contains("in progress"), "{}", o.summary);
    let ours = o.output("task-definition-arn").to_string();
    assert_ne!(live_td(&moto, &s), ours, "production traffic has not moved");
    let c = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("mode", "continue")
        .input("poll-interval-seconds", "0.2")
        .run();
    c.assert_code(0);
    assert_eq!(c.output("result"), "deployed", "{}", c.all_text());
    assert_eq!(c.output("codedeploy-deployment-id"), id);
    let continues = sent(&ecs, "ContinueDeployment");
    assert_eq!(continues.len(), 1);
    assert_eq!(continues[0]["deploymentWaitType"], "READY_WAIT");
    assert_eq!(continues[0]["deploymentId"], json!(id));
    assert_eq!(live_td(&moto, &s), ours);
}

#[test]
fn continue_with_no_deployment_ready_is_invalid_input() {
    let (_moto, s, ecs) = start(CdPlot::Succeeds, Some(120));
    let c = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("mode", "continue")
        .run();
    c.assert_code(2);
    assert!(
        c.all_text().contains(
            "service `dataspace-app` has no CodeDeploy deployment in Ready (deployment group DgpECS-dataspace-dev-dataspace-app"
        ),
        "{}",
        c.all_text()
    );
    assert_eq!(ecs.calls("ContinueDeployment"), 0);
    assert_eq!(ecs.calls("CreateDeployment"), 0);
}

#[test]
fn wait_until_ready_needs_a_group_that_waits_for_a_go_ahead() {
    let (_moto, s, ecs) = start(CdPlot::Ready, None);
    let o = app(&ecs.url(), &s).input("wait-until", "ready").run();
    o.assert_code(2);
    assert!(
        o.all_text()
            .contains("does not hold a Ready deployment for a go-ahead"),
        "{}",
        o.all_text()
    );
    assert_eq!(ecs.calls("RegisterTaskDefinition"), 0);
    assert_eq!(ecs.calls("CreateDeployment"), 0);
}

#[test]
fn at_the_deadline_the_deployment_is_stopped_with_rollback() {
    let (moto, s, ecs) = start(CdPlot::Forever, None);
    let before = live_td(&moto, &s);
    let o = app(&ecs.url(), &s).input("wait-for-minutes", "0.05").run();
    o.assert_code(1);
    let text = o.all_text();
    assert_eq!(o.output("result"), "rolled-back", "{text}");
    let stops = sent(&ecs, "StopDeployment");
    assert_eq!(stops.len(), 1, "{text}");
    assert_eq!(stops[0]["autoRollbackEnabled"], true);
    let id = o.output("codedeploy-deployment-id");
    assert!(
        text.contains(&format!("rollback {id}-RB Succeeded")),
        "{text}"
    );
    assert_eq!(
        ecs.calls("UpdateService"),
        0,
        "undone without UpdateService"
    );
    assert_eq!(live_td(&moto, &s), before);
}

#[test]
fn the_deadline_covers_the_groups_ready_and_termination_waits() {
    let (_moto, s, ecs) = start(CdPlot::Succeeds, Some(60));
    let o = app(&ecs.url(), &s).run();
    o.assert_code(0);
    // wait-for-minutes (15) + the ready wait (60) + blue's termination wait (0).
    assert!(o.all_text().contains("up to 75 min"), "{}", o.all_text());
    assert_eq!(o.output("result"), "deployed");
}

#[test]
fn someone_elses_active_deployment_is_waited_for_never_raced() {
    let (moto, s) = world();
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .codedeploy_busy(3)
        .start();
    let o = app(&ecs.url(), &s).run();
    o.assert_code(0);
    let text = o.all_text();
    assert!(
        text.contains(&format!(
            "has an active deployment {OTHER_CODEDEPLOY} (not this run's): waiting for it"
        )),
        "{text}"
    );
    assert_eq!(o.output("result"), "deployed", "{text}");
    let refused = ecs
        .exchanges()
        .iter()
        .filter(|e| e.op.as_deref() == Some("CreateDeployment") && e.status != 200)
        .count();
    assert_eq!(refused, 0, "never raced: {text}");
    assert_eq!(ecs.calls("CreateDeployment"), 1);
}

#[test]
fn after_someone_elses_deployment_the_run_starts_from_what_that_one_deployed() {
    // While this run waits for the group, the other deployment moves the service to its
    // revision: the run reads the service again, so its "before" (the undo's target) is that.
    let (moto, s) = world();
    let moto = std::sync::Arc::new(moto);
    let mut td = crate::support::seed::app_task_definition(&s.app_repo_uri);
    td["containerDefinitions"][0]["environment"] = json!([{"name": "THEIRS", "value": "1"}]);
    let theirs = moto.ecs("RegisterTaskDefinition", td)["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .codedeploy_busy(3)
        .start();
    let target = ecs.url();
    let (m, service, arn) = (
        std::sync::Arc::clone(&moto),
        s.app_service.clone(),
        theirs.clone(),
    );
    let moved = std::sync::atomic::AtomicBool::new(false);
    let proxy = crate::support::HttpServer::start(move |req: &crate::support::Request| {
        if crate::support::amz_target(req) == Some("ListDeployments")
            && !moved.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            m.ecs(
                "UpdateService",
                json!({ "cluster": CLUSTER, "service": service, "taskDefinition": arn }),
            );
        }
        crate::support::forward(&target, req)
    });
    let o = app(&proxy.url(), &s).run();
    o.assert_code(0);
    let text = o.all_text();
    let label = theirs.rsplit('/').next().unwrap_or_default();
    assert!(
        text.contains(&format!("now runs {label} (someone else's deployment)")),
        "{text}"
    );
    assert_eq!(o.output("result"), "deployed", "{text}");
}

#[test]
fn an_active_deployment_that_outlasts_the_deadline_is_refused_with_its_id() {
    let (moto, s) = world();
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .codedeploy_busy(usize::MAX)
        .start();
    let before = live_td(&moto, &s);
    let o = app(&ecs.url(), &s).input("wait-for-minutes", "0.02").run();
    o.assert_code(1);
    let text = o.all_text();
    assert_eq!(o.output("result"), "failed", "{text}");
    assert!(
        text.contains(&format!(
            "still has an active deployment {OTHER_CODEDEPLOY}"
        )),
        "{text}"
    );
    assert_eq!(ecs.calls("CreateDeployment"), 0);
    assert_eq!(
        ecs.calls("StopDeployment"),
        0,
        "someone else's is left alone"
    );
    assert_eq!(live_td(&moto, &s), before);
}

#[test]
fn a_cancelled_run_stops_its_codedeploy_deployment_with_rollback() {
    let (_moto, s, ecs) = start(CdPlot::Forever, None);
    // The run keeps its workspace while the process runs.
    let run = app(&ecs.url(), &s);
    let mut child = run.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ecs.calls("GetDeployment") < 2 {
        assert!(
            Instant::now() < deadline,
            "never polled the deployment: {:?}",
            ecs.exchanges()
                .iter()
                .map(|e| e.op.clone())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent_at = Instant::now();
    let status =
        crate::support::runner::terminate(&mut child, Instant::now() + Duration::from_secs(10));
    assert!(
        sent_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent_at.elapsed()
    );
    assert_eq!(status.code(), Some(1), "{status:?}");
    let stops = sent(&ecs, "StopDeployment");
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0]["autoRollbackEnabled"], true);
}

#[test]
fn prod_promotes_the_revision_test_registered_without_registering() {
    let (moto, s, ecs) = start(CdPlot::Succeeds, None);
    // The test job's output: a revision registered there.
    let mut td = crate::support::seed::app_task_definition(&s.app_repo_uri);
    td["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    let arn = moto.ecs("RegisterTaskDefinition", td)["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let registered = ecs.calls("RegisterTaskDefinition");
    let o = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", &arn)
        .input("poll-interval-seconds", "0.2")
        .run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    assert_eq!(
        ecs.calls("RegisterTaskDefinition"),
        registered,
        "nothing registered"
    );
    let spec = appspec(&sent(&ecs, "CreateDeployment")[0]);
    assert_eq!(
        spec["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"],
        json!(arn)
    );
    assert_eq!(live_td(&moto, &s), arn);
}

#[test]
fn plan_shows_the_appspec_and_the_group_and_verify_checks_them() {
    let (moto, s, ecs) = start(CdPlot::Succeeds, Some(30));
    let before = moto.snapshot(CLUSTER);
    let revisions = moto.task_definition_arns();
    let plan = app(&ecs.url(), &s).input("mode", "plan").run();
    plan.assert_code(0);
    let text = plan.all_text();
    assert_eq!(plan.output("result"), "planned", "{text}");
    for seen in [
        "rolls out CodeDeploy blue/green (CODE_DEPLOY controller)",
        "CodeDeploy application AppECS-dataspace-dev-dataspace-app, deployment group DgpECS-dataspace-dev-dataspace-app: deployment configuration CodeDeployDefault.ECSAllAtOnce (production traffic moves all at once); at Ready it waits up to 30 min for a go-ahead",
        "AppSpec (built from the service):",
        "\"TaskDefinition\": \"<the revision this run registers>\"",
        "\"ContainerPort\": 8000",
    ] {
        assert!(text.contains(seen), "{seen}: {text}");
    }
    let verify = app(&ecs.url(), &s).input("mode", "verify").run();
    verify.assert_code(0);
    assert!(
        verify
            .all_text()
            .contains("AppSpec (built from the service)"),
        "{}",
        verify.all_text()
    );
    assert_eq!(ecs.calls("CreateDeployment"), 0);
    assert_eq!(ecs.calls("RegisterTaskDefinition"), 0);
    assert_eq!(moto.task_definition_arns(), revisions);
    assert_eq!(
        moto.snapshot(CLUSTER),
        before,
        "plan and verify changed nothing"
    );
}

type Tweak = fn(Run) -> Run;

/// The bad CodeDeploy inputs: what each changes, and what the message must say. Each is
/// exit 2 with nothing changed, with a stack and without.
fn bad_rows() -> Vec<(&'static str, Tweak, &'static str)> {
    vec![
        (
            "appspec does not parse",
            |r| {
                r.input("codedeploy-appspec", "appspec.yaml")
                    .file("appspec.yaml", "Resources: [\n  - TargetService: {")
            },
            "input codedeploy-appspec: `appspec.yaml`",
        ),
        (
            "appspec without TargetService",
            |r| {
                r.input("codedeploy-appspec", "appspec.yaml")
                    .file("appspec.yaml", "version: 0.0\nResources:\n  - Other: {}\n")
            },
            "has no `Resources` entry with a `TargetService`",
        ),
        (
            "container missing from the task definition",
            |r| {
                r.input("codedeploy-appspec", "appspec.json").file(
                    "appspec.json",
                    r#"{"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": "x", "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8000}}}}]}"#,
                )
            },
            "its LoadBalancerInfo names container `web`, which the task definition does not have",
        ),
        (
            "port missing from the task definition",
            |r| {
                r.input("codedeploy-appspec", "appspec.json").file(
                    "appspec.json",
                    r#"{"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": "x", "LoadBalancerInfo": {"ContainerName": "dataspace", "ContainerPort": 80}}}}]}"#,
                )
            },
            "names port 80 of container `dataspace`, which maps only 8000",
        ),
        (
            "missing application",
            |r| r.input("codedeploy-application", "NoSuchApp"),
            "its CodeDeploy application `NoSuchApp` does not exist",
        ),
        (
            "missing group",
            |r| r.input("codedeploy-deployment-group", "NoSuchGroup"),
            "its CodeDeploy deployment group `NoSuchGroup` does not exist",
        ),
        (
            "group of another service",
            |r| r.input("codedeploy-deployment-group", "DgpECS-other"),
            "deploys dataspace-otel in cluster dataspace-dev, not service `dataspace-app`",
        ),
        (
            "a service definition changing what CODE_DEPLOY refuses in UpdateService",
            |r| {
                r.input("service-definition", "aws/service.json")
                    .file("aws/service.json", r#"{"platformVersion": "1.3.0"}"#)
            },
            "its service definition changes `platformVersion`",
        ),
    ]
}

/// A group of the same application that deploys the collector.
fn other_group(moto: &Moto, s: &Seeded) {
    moto.call_json(
        "codedeploy",
        &format!("{CODEDEPLOY_TARGET}.CreateDeploymentGroup"),
        json!({
            "applicationName": APP, "deploymentGroupName": "DgpECS-other",
            "serviceRoleArn": "arn:aws:iam::123456789012:role/codedeploy-ecs",
            "ecsServices": [{ "serviceName": s.otel_service, "clusterName": CLUSTER }],
        }),
    );
}

/// Each bad input: exit 2, the culprit named, nothing registered, no deployment created.
#[test]
fn bad_codedeploy_inputs_change_nothing() {
    let good_spec = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: placeholder\n        LoadBalancerInfo:\n          ContainerName: dataspace\n          ContainerPort: 8000\n";
    let rows = bad_rows();
    let (moto, s, ecs) = start(CdPlot::Succeeds, None);
    other_group(&moto, &s);
    let before = moto.snapshot(CLUSTER);
    let revisions = moto.task_definition_arns();
    let _ = good_spec;
    for (name, tweak, message) in rows {
        let o = tweak(app(&ecs.url(), &s)).run();
        assert_eq!(o.code, 2, "{name}: {}", o.all_text());
        assert!(
            o.all_text().contains(message),
            "{name}: {message}: {}",
            o.all_text()
        );
        assert_eq!(ecs.calls("CreateDeployment"), 0, "{name}");
        assert_eq!(ecs.calls("RegisterTaskDefinition"), 0, "{name}");
    }
    assert_eq!(moto.task_definition_arns(), revisions);
    assert_eq!(moto.snapshot(CLUSTER), before);
    // The good AppSpec file passes the same checks.
    let o = app(&ecs.url(), &s)
        .input("mode", "plan")
        .input("codedeploy-appspec", "appspec.yaml")
        .file("appspec.yaml", good_spec)
        .run();
    o.assert_code(0);
    assert!(
        o.all_text().contains("AppSpec (the file appspec.yaml)"),
        "{}",
        o.all_text()
    );
}

/// The green task set's share of production traffic in each progress line, in order.
fn green_weights(text: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| l.contains("; green ")) {
        let w = line
            .split("; green ")
            .nth(1)
            .and_then(|g| g.split("% traffic").next())
            .and_then(|g| g.rsplit(' ').next())
            .unwrap_or_default()
            .to_string();
        if seen.last() != Some(&w) {
            seen.push(w);
        }
    }
    seen
}

#[test]
fn a_linear_configuration_shifts_in_steps_and_its_time_is_in_the_deadline() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let linear = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes";
    group_with(&moto, APP, GROUP, &s.app_service, Some(60), linear);
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .start();
    // As the runner passes an input that is not given: empty.
    let o = app(&ecs.url(), &s).input("wait-for-minutes", "").run();
    o.assert_code(0);
    let text = o.all_text();
    assert_eq!(o.output("result"), "deployed", "{text}");
    let asked = sent(&ecs, "GetDeploymentConfig");
    assert!(!asked.is_empty(), "{text}");
    assert_eq!(asked[0]["deploymentConfigName"], linear);
    for seen in [
        "linear: 10% more production traffic every 1 min (9 min in all)",
        // wait-for-minutes (15) + the ready wait (60) + the shifting (9) + blue's wait (0).
        "up to 84 min",
    ] {
        assert!(text.contains(seen), "{seen}: {text}");
    }
    assert!(!text.contains("longer than the wait's"), "{text}");
    // The stand-in shifts 10% per step; a poll may miss a step, never reorder them.
    let weights = green_weights(&text);
    assert!(weights.contains(&"10".to_string()), "{weights:?}: {text}");
    assert_eq!(
        weights.last().map(String::as_str),
        Some("100"),
        "{weights:?}"
    );
    let numbers: Vec<f64> = weights.iter().filter_map(|w| w.parse().ok()).collect();
    assert!(numbers.windows(2).all(|w| w[0] <= w[1]), "{weights:?}");
    assert!(numbers.len() >= 4, "several steps seen: {weights:?}");
}

#[test]
fn a_given_deadline_shorter_than_a_canary_plan_is_warned_about_before_the_start() {
    let (moto, s) = world();
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .start();
    // The input's configuration, not the group's, is the one read and played.
    let o = app(&ecs.url(), &s)
        .input(
            "codedeploy-config",
            "CodeDeployDefault.ECSCanary10Percent5Minutes",
        )
        .input("wait-for-minutes", "2")
        .run();
    o.assert_code(0);
    let text = o.all_text();
    let warned = text
        .find("its CodeDeploy plan (CodeDeployDefault.ECSCanary10Percent5Minutes) takes at least 5 min, longer than the wait's 2 min: at the deadline this run stops it with rollback, healthy or not")
        .expect(&text);
    let created = text.find("updated to").expect(&text);
    assert!(warned < created, "warned before the deployment: {text}");
    assert!(o.summary.contains("### Warnings"), "{}", o.summary);
    assert!(o.summary.contains("takes at least 5 min"), "{}", o.summary);
    // A given deadline is kept: no shifting time added.
    assert!(text.contains("up to 2 min"), "{text}");
    assert_eq!(
        sent(&ecs, "CreateDeployment")[0]["deploymentConfigName"],
        "CodeDeployDefault.ECSCanary10Percent5Minutes"
    );
    let weights = green_weights(&text);
    assert!(
        weights.contains(&"10".to_string()),
        "the canary: {weights:?}: {text}"
    );
    assert_eq!(
        weights.last().map(String::as_str),
        Some("100"),
        "{weights:?}"
    );
}

#[test]
fn a_custom_linear_configuration_is_read_and_an_unknown_one_is_invalid_input() {
    let (moto, s) = world();
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .codedeploy_config(
            "Linear25Every4",
            json!({ "type": "TimeBasedLinear", "timeBasedLinear": { "linearPercentage": 25, "linearInterval": 4 } }),
        )
        .start();
    let plan = app(&ecs.url(), &s)
        .input("mode", "plan")
        .input("codedeploy-config", "Linear25Every4")
        .run();
    plan.assert_code(0);
    assert!(
        plan.all_text()
            .contains("deployment configuration Linear25Every4 (linear: 25% more production traffic every 4 min (12 min in all))"),
        "{}",
        plan.all_text()
    );
    let before = moto.snapshot(CLUSTER);
    let bad = app(&ecs.url(), &s)
        .input("codedeploy-config", "NoSuchConfig")
        .run();
    bad.assert_code(2);
    assert!(
        bad.all_text()
            .contains("input codedeploy-config: CodeDeploy deployment configuration `NoSuchConfig` does not exist"),
        "{}",
        bad.all_text()
    );
    assert_eq!(ecs.calls("RegisterTaskDefinition"), 0);
    assert_eq!(ecs.calls("CreateDeployment"), 0);
    assert_eq!(moto.snapshot(CLUSTER), before);
}

const STACK: &str = "dataspace-cd-infra";
const STACK_TEMPLATE: &str = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Param:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /it/cd/greeting\n      Type: String\n      Value: hello\n";

fn stack_exists(moto: &Moto) -> bool {
    moto.try_query(
        "cloudformation",
        &[
            ("Action", "DescribeStacks"),
            ("Version", "2010-05-15"),
            ("StackName", STACK),
        ],
    )
    .is_ok()
}

/// With a stack, bad CodeDeploy input is found before the stack: exit 2, no stack, no service
/// changed, nothing registered.
#[test]
fn bad_codedeploy_input_with_a_stack_changes_nothing() {
    let (moto, s, ecs) = start(CdPlot::Succeeds, None);
    other_group(&moto, &s);
    let before = moto.snapshot(CLUSTER);
    let revisions = moto.task_definition_arns();
    let rows = bad_rows();
    for (name, tweak, message) in rows {
        let o = tweak(
            app(&ecs.url(), &s)
                .input("stack-name", STACK)
                .input("stack-template", "infra/stack.yml")
                .file("infra/stack.yml", STACK_TEMPLATE),
        )
        .run();
        assert_eq!(o.code, 2, "{name}: {}", o.all_text());
        assert!(
            o.all_text().contains(message),
            "{name}: {message}: {}",
            o.all_text()
        );
        assert!(!stack_exists(&moto), "{name}: the stack was not created");
        assert_eq!(ecs.calls("CreateDeployment"), 0, "{name}");
        assert_eq!(ecs.calls("RegisterTaskDefinition"), 0, "{name}");
    }
    assert_eq!(moto.task_definition_arns(), revisions);
    assert_eq!(moto.snapshot(CLUSTER), before);
    // The same stack with good input is deployed, and so is the service.
    let o = app(&ecs.url(), &s)
        .input("stack-name", STACK)
        .input("stack-template", "infra/stack.yml")
        .file("infra/stack.yml", STACK_TEMPLATE)
        .run();
    o.assert_code(0);
    assert!(stack_exists(&moto), "{}", o.all_text());
    assert_eq!(ecs.calls("CreateDeployment"), 1);
}

/// Someone else's active deployment is seen before any other service of the run is
/// registered or updated: the rolling collector is left as it was.
#[test]
fn someone_elses_active_deployment_holds_every_service_of_the_run() {
    let (moto, s) = world();
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .service(&s.otel_service, crate::support::Plot::Complete(0.0))
        .codedeploy_busy(usize::MAX)
        .start();
    let before = moto.snapshot(CLUSTER);
    let revisions = moto.task_definition_arns();
    let o = files(Run::new(&ecs.url()), &s)
        .input("wait-for-minutes", "0.02")
        .run();
    o.assert_code(1);
    let text = o.all_text();
    assert_eq!(o.output("result"), "failed", "{text}");
    assert!(
        text.contains(&format!(
            "still has an active deployment {OTHER_CODEDEPLOY}"
        )),
        "{text}"
    );
    assert!(
        text.contains("no service is registered or updated"),
        "{text}"
    );
    assert_eq!(ecs.calls("UpdateService"), 0, "{text}");
    assert_eq!(ecs.calls("RegisterTaskDefinition"), 0, "{text}");
    assert_eq!(ecs.calls("CreateDeployment"), 0);
    assert_eq!(moto.task_definition_arns(), revisions);
    assert_eq!(moto.snapshot(CLUSTER), before);
}

/// A stack that declares CodeDeploy resources may create the application or group: those are
/// looked up after it, so a missing one is a failed deploy (the stack changed), not exit 2.
#[test]
fn a_stack_declaring_codedeploy_resources_defers_the_group_lookup_after_it() {
    let (moto, s, ecs) = start(CdPlot::Succeeds, None);
    let before = live_td(&moto, &s);
    let template = format!(
        "{STACK_TEMPLATE}  Group:\n    Type: AWS::CodeDeploy::Application\n    Properties:\n      ApplicationName: AppECS-later\n      ComputePlatform: ECS\n"
    );
    let o = app(&ecs.url(), &s)
        .input("stack-name", STACK)
        .input("stack-template", "infra/stack.yml")
        .input("codedeploy-deployment-group", "NoSuchGroup")
        .file("infra/stack.yml", &template)
        .run();
    o.assert_code(1);
    let text = o.all_text();
    assert!(stack_exists(&moto), "{text}");
    assert!(
        text.contains("the stack was deployed, but the CodeDeploy settings do not fit"),
        "{text}"
    );
    assert!(text.contains("`NoSuchGroup` does not exist"), "{text}");
    assert_eq!(ecs.calls("CreateDeployment"), 0);
    assert_eq!(ecs.calls("RegisterTaskDefinition"), 0);
    assert_eq!(live_td(&moto, &s), before);
}

/// A CodeDeploy service whose deployment succeeded, in a run where another service fails: it
/// cannot be stopped any more, so a second CodeDeploy deployment puts the revision it ran
/// before back, and the service is rolled back when CodeDeploy says Succeeded.
#[test]
fn a_succeeded_codedeploy_service_is_put_back_when_another_service_fails() {
    let (moto, s) = world();
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .service(
            &s.otel_service,
            crate::support::Plot::RolloutFailed(crate::support::At::Time(20.0)),
        )
        .start();
    let before = live_td(&moto, &s);
    let o = files(Run::new(&ecs.url()), &s).run();
    o.assert_code(1);
    let text = o.all_text();
    assert_eq!(o.output("result"), "rolled-back", "{text}");
    let creates = sent(&ecs, "CreateDeployment");
    assert_eq!(creates.len(), 2, "ours, then the one back: {text}");
    let back = appspec(&creates[1]);
    assert_eq!(
        back["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"],
        json!(before),
        "{text}"
    );
    assert_eq!(creates[1]["autoRollbackConfiguration"]["enabled"], false);
    // Back all at once, whatever shift the forward deployment used.
    assert_eq!(
        creates[1]["deploymentConfigName"], "CodeDeployDefault.ECSAllAtOnce",
        "{}",
        creates[1]
    );
    assert!(
        creates[1]["description"]
            .as_str()
            .unwrap_or_default()
            .contains("succeeded in a run that failed"),
        "{}",
        creates[1]
    );
    assert_eq!(
        ecs.calls("StopDeployment"),
        0,
        "a finished one is not stopped"
    );
    let back_id = o.output("codedeploy-deployment-id").to_string();
    assert!(!back_id.is_empty(), "{text}");
    assert_eq!(live_td(&moto, &s), before, "{text}");
    assert!(o.summary.contains("rolled back"), "{}", o.summary);
    // The summary's CodeDeploy section says which deployment put it back, and how it ended.
    let back_id = sent_ids(&ecs)[1].clone();
    assert!(
        o.summary
            .contains(&format!("put back by CodeDeploy {back_id} Succeeded")),
        "{}",
        o.summary
    );
}

#[test]
fn a_rolled_back_codedeploy_service_gets_its_attributes_back() {
    // The attributes-only UpdateService before CreateDeployment changed the grace period;
    // CodeDeploy's rollback does not touch it, so the undo puts it back.
    let (moto, s) = world_with_grace_period(30);
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::HookFails("AfterAllowTestTraffic"))
        .start();
    let def = json!({ "healthCheckGracePeriodSeconds": 45 });
    let o = app(&ecs.url(), &s)
        .input("service-definition", "aws/app-service.json")
        .file("aws/app-service.json", &def.to_string())
        .run();
    o.assert_code(1);
    let text = o.all_text();
    assert_eq!(o.output("result"), "rolled-back", "{text}");
    let sent = updates_sent(&ecs, &s.app_service);
    assert_eq!(sent.len(), 2, "changed, then put back: {sent:#?}");
    assert_eq!(sent[0]["healthCheckGracePeriodSeconds"], 45);
    assert_eq!(sent[1]["healthCheckGracePeriodSeconds"], 30);
    assert_eq!(
        moto.service(CLUSTER, &s.app_service)["healthCheckGracePeriodSeconds"],
        30,
        "{text}"
    );
}

/// The binary's UpdateService bodies for the app service.
fn updates_sent(ecs: &StandIn, service: &str) -> Vec<Value> {
    ecs.requests()
        .into_iter()
        .filter(|r| crate::support::amz_target(r) == Some("UpdateService"))
        .map(|r| r.json())
        .filter(|b| b["service"] == service)
        .collect()
}

#[test]
fn desired_count_is_applied_to_a_codedeploy_service() {
    let (moto, s, ecs) = start(CdPlot::Succeeds, None);
    // With a new revision: the count goes in an UpdateService without the revision, before
    // the deployment (green starts with it).
    let o = app(&ecs.url(), &s).input("desired-count", "3").run();
    o.assert_code(0);
    let text = o.all_text();
    let sent = updates_sent(&ecs, &s.app_service);
    assert_eq!(sent.len(), 1, "{text}");
    assert_eq!(sent[0]["desiredCount"], 3);
    assert!(sent[0].get("taskDefinition").is_none(), "{:#}", sent[0]);
    assert_eq!(ecs.calls("CreateDeployment"), 1);
    let live = moto.service(CLUSTER, &s.app_service);
    assert_eq!(live["desiredCount"], 3, "{text}");
    // The same revision, another count: scaled, no CodeDeploy deployment.
    let ours = live_td(&moto, &s);
    let o = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", &ours)
        .input("desired-count", "2")
        .input("poll-interval-seconds", "0.2")
        .run();
    o.assert_code(0);
    let text = o.all_text();
    assert!(
        text.contains("desired count set to 2 with UpdateService (revision unchanged: no CodeDeploy deployment)"),
        "{text}"
    );
    assert_eq!(ecs.calls("CreateDeployment"), 1, "{text}");
    let sent = updates_sent(&ecs, &s.app_service);
    assert_eq!(sent.len(), 2, "{text}");
    assert_eq!(sent[1]["desiredCount"], 2);
    assert!(sent[1].get("taskDefinition").is_none(), "{:#}", sent[1]);
    assert_eq!(moto.service(CLUSTER, &s.app_service)["desiredCount"], 2);
    assert_eq!(live_td(&moto, &s), ours);
    // Outside the service's auto-scaling bounds: exit 2, nothing changed.
    moto.call_json(
        "application-autoscaling",
        "AnyScaleFrontendService.RegisterScalableTarget",
        json!({
            "ServiceNamespace": "ecs",
            "ResourceId": format!("service/{CLUSTER}/{}", s.app_service),
            "ScalableDimension": "ecs:service:DesiredCount",
            "MinCapacity": 1,
            "MaxCapacity": 4,
        }),
    );
    let o = app(&ecs.url(), &s).input("desired-count", "9").run();
    o.assert_code(2);
    assert!(
        o.all_text().contains(
            "input desired-count: 9 is above the auto-scaling maximum of service `dataspace-app`"
        ),
        "{}",
        o.all_text()
    );
    assert_eq!(ecs.calls("CreateDeployment"), 1);
    assert_eq!(updates_sent(&ecs, &s.app_service).len(), 2);
    assert_eq!(moto.service(CLUSTER, &s.app_service)["desiredCount"], 2);
}

/// Attributes changed in the UpdateService before a CreateDeployment that is refused are
/// put back: the failed deploy leaves the service as it was.
#[test]
fn attributes_changed_before_a_refused_create_deployment_are_put_back() {
    let (moto, s) = world_with_grace_period(30);
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .start();
    let target = ecs.url();
    let proxy = crate::support::HttpServer::start(move |req: &crate::support::Request| {
        if crate::support::amz_target(req) == Some("CreateDeployment") {
            return crate::support::Response::aws_error(
                400,
                "InvalidRoleException",
                "The service role cannot be assumed by CodeDeploy.",
            );
        }
        crate::support::forward(&target, req)
    });
    let before = moto.service(CLUSTER, &s.app_service);
    let def = json!({ "healthCheckGracePeriodSeconds": 45 });
    let o = app(&proxy.url(), &s)
        .input("service-definition", "aws/app-service.json")
        .file("aws/app-service.json", &def.to_string())
        .input("desired-count", "4")
        .run();
    o.assert_code(1);
    let text = o.all_text();
    assert_eq!(o.output("result"), "failed", "{text}");
    assert!(
        text.contains("The service role cannot be assumed"),
        "{text}"
    );
    assert!(
        text.contains("no deployment was created, and the service's desiredCount, healthCheckGracePeriodSeconds were put back as they were")
            || text.contains("no deployment was created, and the service's healthCheckGracePeriodSeconds, desiredCount were put back as they were"),
        "{text}"
    );
    let sent = updates_sent(&ecs, &s.app_service);
    assert_eq!(sent.len(), 2, "changed, then put back: {sent:#?}");
    assert_eq!(sent[0]["healthCheckGracePeriodSeconds"], 45);
    assert_eq!(sent[0]["desiredCount"], 4);
    let after = moto.service(CLUSTER, &s.app_service);
    assert_eq!(after["desiredCount"], before["desiredCount"], "{text}");
    assert_eq!(
        after["healthCheckGracePeriodSeconds"], before["healthCheckGracePeriodSeconds"],
        "{text}"
    );
    assert_eq!(after["taskDefinition"], before["taskDefinition"]);
}

/// `continue` after Ready: production traffic shifts now, so its routing counts in the wait.
/// A deploy stopped at Ready (the group's configuration `group_config`, the input's
/// `deploy_config`), then a `continue` without wait-for-minutes: its outcome.
fn continued_at_ready(group_config: &str, deploy_config: Option<&str>) -> Outcome {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    group_with(&moto, APP, GROUP, &s.app_service, Some(120), group_config);
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Ready)
        .start();
    let mut deploy = app(&ecs.url(), &s).input("wait-until", "ready");
    if let Some(config) = deploy_config {
        deploy = deploy.input("codedeploy-config", config);
    }
    let o = deploy.run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "in-progress", "{}", o.all_text());
    let c = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("mode", "continue")
        .input("wait-for-minutes", "")
        .input("poll-interval-seconds", "0.2")
        .run();
    c.assert_code(0);
    assert_eq!(c.output("result"), "deployed", "{}", c.all_text());
    c
}

#[test]
fn continue_counts_the_shifting_of_the_configuration_the_deployment_was_created_with() {
    // The deploy chose a canary by input; the group's own is all at once. `continue`, run
    // without that input, counts the deployment's own configuration:
    // wait-for-minutes (15) + the canary's 15 min + blue's wait (0).
    let c = continued_at_ready(
        "CodeDeployDefault.ECSAllAtOnce",
        Some("CodeDeployDefault.ECSCanary10Percent15Minutes"),
    );
    assert!(c.all_text().contains("up to 30 min"), "{}", c.all_text());
}

#[test]
fn continue_counts_the_traffic_shifting_left_in_its_deadline() {
    // wait-for-minutes (15) + the group's canary's 15 min + blue's wait (0).
    let c = continued_at_ready("CodeDeployDefault.ECSCanary10Percent15Minutes", None);
    assert!(c.all_text().contains("up to 30 min"), "{}", c.all_text());
}
