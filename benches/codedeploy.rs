//! CodeDeploy benchmark (issue 14): how long after the CodeDeploy deployment turned
//! `Succeeded` the real `ecs-deploy` binary exits, side by side with the official action's
//! `DeploymentSuccessful` waiter on the same script. ecs-deploy reads the deployment once per
//! `poll-interval-seconds`; the waiter polls every 15 s (its first look at once), so it sees
//! `Succeeded` at the first multiple of 15 s after it.
//!
//! Each run starts a private moto (the application and the deployment group are moto's),
//! seeds the DataSpace services and puts the scripted stand-in of the integration tests in
//! front of it, on its real-seconds clock: a deployment whose lifecycle events take one second
//! each, so `Succeeded` comes 10 s after the stand-in answered CreateDeployment: the figure
//! is from that moment to the process exit (the binary's detection included).
//!
//! `cargo bench --bench codedeploy` (cargo builds the binary first). It needs moto_server,
//! found like the integration tests find it: `ECS_DEPLOY_MOTO_SERVER`, else
//! `~/.cache/ecs-deploy/venv/bin/moto_server`.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use support::seed::{self, APP_REPO, CLUSTER};
use support::standin::{CdPlot, CODEDEPLOY_TARGET};
use support::{push_image, seed_dataspace, Clock, Moto, Run, StandIn};

/// The binary's `poll-interval-seconds` in this benchmark.
const POLLS: [f64; 2] = [1.0, 5.0];
/// The official action's waiter delay.
const WAITER: f64 = 15.0;
/// Story seconds from CreateDeployment to Succeeded (`CdPlot::Succeeds` on the seconds clock).
const SUCCEEDED_AT: f64 = 10.0;

fn run_once(poll: f64) -> Duration {
    let moto = Moto::start();
    let s = seed_dataspace(&moto);
    push_image(&moto, APP_REPO, "v2");
    let cd = |op: &str, body: serde_json::Value| {
        moto.call_json("codedeploy", &format!("{CODEDEPLOY_TARGET}.{op}"), body)
    };
    let app = format!("AppECS-{CLUSTER}-{}", s.app_service);
    cd(
        "CreateApplication",
        json!({ "applicationName": app, "computePlatform": "ECS" }),
    );
    cd(
        "CreateDeploymentGroup",
        json!({
            "applicationName": app,
            "deploymentGroupName": format!("DgpECS-{CLUSTER}-{}", s.app_service),
            "deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce",
            "serviceRoleArn": "arn:aws:iam::123456789012:role/codedeploy-ecs",
            "ecsServices": [{ "serviceName": s.app_service, "clusterName": CLUSTER }],
        }),
    );
    let ecs = StandIn::builder(&moto, &s)
        .codedeploy(&s.app_service, CdPlot::Succeeds)
        .clock(Clock::Seconds)
        .start();
    let mut td = seed::app_task_definition(&s.app_repo_uri);
    td["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    let o = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("poll-interval-seconds", &poll.to_string())
        .file("aws/app.json", &serde_json::to_string_pretty(&td).unwrap())
        .run();
    let exited = Instant::now();
    assert_eq!(o.code, 0, "{}", o.all_text());
    let created = ecs
        .exchanges()
        .into_iter()
        .find(|e| e.op.as_deref() == Some("CreateDeployment") && e.status == 200)
        .map(|e| e.answered)
        .expect("no deployment was created");
    let succeeded = created + Duration::from_secs_f64(SUCCEEDED_AT);
    exited.saturating_duration_since(succeeded)
}

fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_ecs-deploy"));
    assert!(bin.exists(), "{} is missing", bin.display());
    let started = Instant::now();
    println!("CodeDeploy benchmark (issue 14), binary {}", bin.display());
    println!(
        "from the deployment's Succeeded (in the stand-in's real-seconds story) to the process exit; the official action's DeploymentSuccessful waiter (15 s polls, first at once) on the same script sees Succeeded (at +{SUCCEEDED_AT} s) at +{} s\n",
        (SUCCEEDED_AT / WAITER).ceil() * WAITER
    );
    println!("| poll-interval-seconds | ecs-deploy: Succeeded to exit | official waiter: Succeeded to seen |");
    println!("|---|---|---|");
    for poll in POLLS {
        let d = run_once(poll);
        let waiter = (SUCCEEDED_AT / WAITER).ceil() * WAITER - SUCCEEDED_AT;
        println!(
            "| {poll} | {} ms | {:.0} ms (before its own exit) |",
            d.as_millis(),
            waiter * 1000.0
        );
    }
    println!(
        "\nwhole benchmark: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
