//! ECS-native blue/green, linear and canary deployments (issue 15, DESIGN.md section 11),
//! through the stand-in's service deployments: success through the bake, linear steps, a
//! canary whose bake fails, pause hooks continued or rolled back, a wait that ends at a stage,
//! a deadline shorter than the plan, cancellation, a replaced deployment.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::rollout::{files, setup};
use crate::support::seed::CLUSTER;
use crate::support::standin::NativePlot;
use crate::support::{Moto, MotoOptions, Run, Seeded, StandIn};

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

fn start(plot: NativePlot, strategy: &str) -> (Moto, Seeded, StandIn) {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let ecs = StandIn::builder(&moto, &s)
        .native(&s.app_service, strategy, plot)
        .bake_time(&s.app_service, 2)
        .start();
    (moto, s, ecs)
}

#[test]
fn blue_green_succeeds_through_its_bake() {
    let (moto, s, ecs) = start(NativePlot::blue_green(3.0), "BLUE_GREEN");
    let o = app(&ecs.url(), &s).run();
    o.assert_code(0);
    let text = o.all_text();
    assert_eq!(o.output("result"), "deployed", "{text}");
    assert!(
        text.contains("dataspace-app: BLUE_GREEN: all traffic at once, bake time 2 min"),
        "{text}"
    );
    // Stages are transient: a poll may skip one (a loaded machine's polls come late), so the
    // lines seen must be in ECS's order, and the bake and the end are always seen.
    let seen: Vec<usize> = [
        "stage TEST_TRAFFIC_SHIFT",
        "stage PRODUCTION_TRAFFIC_SHIFT",
        "stage BAKE_TIME",
        "SUCCESSFUL",
    ]
    .iter()
    .filter_map(|stage| text.find(stage))
    .collect();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "stages out of order: {text}"
    );
    for stage in ["stage BAKE_TIME", "SUCCESSFUL"] {
        assert!(text.contains(stage), "{stage}: {text}");
    }
    assert!(
        text.contains("new running 2/2 (production 100%, test 100%)"),
        "{text}"
    );
    assert_eq!(ecs.calls("UpdateService"), 1);
    assert_eq!(ecs.calls("StopServiceDeployment"), 0);
    assert_eq!(live_td(&moto, &s), o.output("task-definition-arn"));
}

#[test]
fn a_linear_deployment_shifts_in_three_steps() {
    let (_moto, s, ecs) = start(NativePlot::linear(3, 1.0), "LINEAR");
    let o = app(&ecs.url(), &s).run();
    o.assert_code(0);
    let text = o.all_text();
    // One line per step seen, in order (a step can be skipped when a poll's answer comes
    // late and the stand-in's story, counted in polls, moves on twice), ending at 100%.
    let seen: Vec<usize> = ["production 33%", "production 67%", "production 100%"]
        .iter()
        .filter_map(|w| text.find(&format!("new running 2/2 ({w}")))
        .collect();
    assert!(seen.len() >= 2, "fewer than two steps seen: {text}");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "steps out of order: {text}"
    );
    assert!(text.contains("production 100%"), "{text}");
    assert_eq!(o.output("result"), "deployed");
}

#[test]
fn a_canary_whose_bake_fails_is_rolled_back_by_ecs_and_reported() {
    let (moto, s, ecs) = start(
        NativePlot::canary_fails(10.0, "CloudWatch alarm dataspace-5xx is in ALARM"),
        "CANARY",
    );
    let before = live_td(&moto, &s);
    let o = app(&ecs.url(), &s).run();
    o.assert_code(1);
    let text = o.all_text();
    assert_eq!(o.output("result"), "rolled-back", "{text}");
    // The first rollback state a poll saw (ROLLBACK_REQUESTED lasts one story step: a late
    // poll on a loaded machine sees ROLLBACK_IN_PROGRESS first), with ECS's reason.
    assert!(
        ["ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"]
            .iter()
            .any(|st| text.contains(&format!(
            "service deployment {st} (at BAKE_TIME): CloudWatch alarm dataspace-5xx is in ALARM"
        ))),
        "{text}"
    );
    // ECS was rolling back already: followed, not stopped a second time.
    assert_eq!(ecs.calls("StopServiceDeployment"), 0, "{text}");
    assert_eq!(live_td(&moto, &s), before);
}

/// `ecs-deploy continue` of the app service.
fn continue_run(url: &str, s: &Seeded) -> Run {
    Run::new(url)
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("mode", "continue")
}

#[test]
fn a_pause_hook_ends_a_wait_for_paused_and_continue_finishes_it() {
    let (moto, s, ecs) = start(NativePlot::paused("hook-approve", 1.0), "BLUE_GREEN");
    let o = app(&ecs.url(), &s).input("wait-until", "paused").run();
    o.assert_code(0);
    let text = o.all_text();
    assert_eq!(o.output("result"), "in-progress", "{text}");
    assert!(
        text.contains("paused at lifecycle hook hook-approve"),
        "{text}"
    );
    assert!(
        text.contains(
            "continue with `ecs-deploy continue --cluster dataspace-dev --service dataspace-app`"
        ),
        "{text}"
    );
    let ours = o.output("task-definition-arn").to_string();
    let c = continue_run(&ecs.url(), &s)
        .input("poll-interval-seconds", "0.2")
        .run();
    c.assert_code(0);
    assert_eq!(c.output("result"), "deployed", "{}", c.all_text());
    assert_eq!(ecs.calls("ContinueServiceDeployment"), 1);
    assert_eq!(live_td(&moto, &s), ours);
}

#[test]
fn a_continued_hook_still_shown_awaiting_is_not_taken_for_a_new_pause() {
    // ECS may show the hook AWAITING_ACTION for a moment after the continue: a `continue`
    // that waits until the next pause must not stop at the one it just continued.
    let plot = NativePlot {
        continue_lag: 2.0,
        ..NativePlot::paused("hook-approve", 1.0)
    };
    let (moto, s, ecs) = start(plot, "BLUE_GREEN");
    let o = app(&ecs.url(), &s).input("wait-until", "paused").run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "in-progress", "{}", o.all_text());
    let ours = o.output("task-definition-arn").to_string();
    let c = continue_run(&ecs.url(), &s)
        .input("wait-until", "paused")
        .input("poll-interval-seconds", "0.2")
        .run();
    c.assert_code(0);
    let text = c.all_text();
    assert_eq!(c.output("result"), "deployed", "{text}");
    assert!(!text.contains("paused at lifecycle hook"), "{text}");
    assert_eq!(ecs.calls("ContinueServiceDeployment"), 1);
    assert_eq!(live_td(&moto, &s), ours);
}

#[test]
fn a_paused_deployment_can_be_rolled_back() {
    let (moto, s, ecs) = start(NativePlot::paused("hook-approve", 1.0), "BLUE_GREEN");
    let before = live_td(&moto, &s);
    let o = app(&ecs.url(), &s).input("wait-until", "paused").run();
    o.assert_code(0);
    let c = continue_run(&ecs.url(), &s)
        .input("continue-action", "rollback")
        .input("poll-interval-seconds", "0.2")
        .run();
    c.assert_code(0);
    assert_eq!(c.output("result"), "rolled-back", "{}", c.all_text());
    let rollback = ecs
        .requests()
        .into_iter()
        .filter(|r| {
            r.header("X-Amz-Target")
                .is_some_and(|t| t.ends_with("ContinueServiceDeployment"))
        })
        .map(|r| r.json())
        .collect::<Vec<_>>();
    assert_eq!(rollback.len(), 1);
    assert_eq!(rollback[0]["action"], "ROLLBACK");
    assert_eq!(live_td(&moto, &s), before);
    assert_eq!(ecs.calls("UpdateService"), 1, "no competing UpdateService");
}

#[test]
fn continue_with_nothing_paused_is_invalid_input() {
    let (_moto, s, ecs) = start(NativePlot::blue_green(1.0), "BLUE_GREEN");
    let c = continue_run(&ecs.url(), &s).run();
    c.assert_code(2);
    assert!(
        c.all_text()
            .contains("service `dataspace-app` has no deployment paused at a lifecycle hook"),
        "{}",
        c.all_text()
    );
    assert_eq!(ecs.calls("ContinueServiceDeployment"), 0);
}

#[test]
fn a_wait_until_the_bake_ends_there_and_the_deployment_goes_on() {
    let (_moto, s, ecs) = start(NativePlot::blue_green(50.0), "BLUE_GREEN");
    let o = app(&ecs.url(), &s).input("wait-until", "BAKE_TIME").run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "in-progress", "{}", o.all_text());
    assert!(
        o.all_text().contains("at lifecycle stage BAKE_TIME"),
        "{}",
        o.all_text()
    );
    assert!(o.summary.contains("in progress"), "{}", o.summary);
    assert_eq!(ecs.calls("StopServiceDeployment"), 0);
}

#[test]
fn a_deadline_shorter_than_the_plan_is_warned_about_and_undone_with_stop() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let ecs = StandIn::builder(&moto, &s)
        .native(
            &s.app_service,
            "BLUE_GREEN",
            NativePlot::forever("BAKE_TIME"),
        )
        .bake_time(&s.app_service, 30)
        .start();
    let before = live_td(&moto, &s);
    let o = app(&ecs.url(), &s).input("wait-for-minutes", "0.05").run();
    o.assert_code(1);
    let text = o.all_text();
    let warned = text
        .find("its deployment plan takes at least 30 min, longer than the wait's")
        .expect(&text);
    let updated = text.find("updated to").expect(&text);
    assert!(warned < updated, "warned before starting: {text}");
    assert_eq!(ecs.calls("StopServiceDeployment"), 1);
    assert_eq!(
        ecs.calls("UpdateService"),
        1,
        "undone without UpdateService"
    );
    assert_eq!(o.output("result"), "rolled-back", "{text}");
    assert_eq!(live_td(&moto, &s), before);
}

#[test]
fn without_wait_for_minutes_the_deadline_covers_the_plan() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let ecs = StandIn::builder(&moto, &s)
        .native(&s.app_service, "BLUE_GREEN", NativePlot::blue_green(2.0))
        .bake_time(&s.app_service, 30)
        .start();
    // As the runner passes an input that is not given and has no default: empty.
    let o = app(&ecs.url(), &s).input("wait-for-minutes", "").run();
    o.assert_code(0);
    assert!(o.all_text().contains("up to 40 min"), "{}", o.all_text());
    assert!(!o.all_text().contains("longer than the wait's"));
}

#[test]
fn a_cancelled_run_stops_its_native_deployment_with_rollback() {
    let (_moto, s, ecs) = start(NativePlot::forever("BAKE_TIME"), "BLUE_GREEN");
    let run = app(&ecs.url(), &s);
    let mut child = run.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ecs.calls("DescribeServiceDeployments") < 2 {
        assert!(
            Instant::now() < deadline,
            "never polled the service deployment"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    let status =
        crate::support::runner::terminate(&mut child, Instant::now() + Duration::from_secs(10));
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert_eq!(ecs.calls("StopServiceDeployment"), 1);
    let stop = ecs
        .requests()
        .into_iter()
        .find(|r| {
            r.header("X-Amz-Target")
                .is_some_and(|t| t.ends_with("StopServiceDeployment"))
        })
        .map(|r| r.json())
        .unwrap();
    assert_eq!(stop["stopType"], json!("ROLLBACK"));
}

#[test]
fn a_deployment_replaced_by_someone_elses_is_superseded() {
    let (_moto, s, ecs) = start(NativePlot::replaced(3.0), "BLUE_GREEN");
    let o = app(&ecs.url(), &s).run();
    let text = o.all_text();
    assert!(text.contains("replaced this run's"), "{text}");
    assert_eq!(o.output("result"), "failed", "{text}");
    assert_eq!(
        ecs.calls("StopServiceDeployment"),
        0,
        "someone else's is left alone"
    );
}

/// Issue 15: `plan` shows an ECS-native service's strategy, bake time, hooks and the plan's
/// minimum duration; `verify` checks its blue/green resources (the alternate target group and
/// listener rules exist, ELBv2) and that each hook names a well-formed Lambda and role ARN.
/// Nothing changes.
#[test]
fn plan_shows_the_native_plan_and_verify_checks_its_resources_and_hooks() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let vpcs = moto.query(
        "ec2",
        &[("Action", "DescribeVpcs"), ("Version", "2016-11-15")],
    );
    let vpc = crate::support::xml_values(&vpcs, "vpcId").remove(0);
    let created = moto.query(
        "elasticloadbalancing",
        &[
            ("Action", "CreateTargetGroup"),
            ("Version", "2015-12-01"),
            ("Name", "dataspace-green"),
            ("Protocol", "HTTP"),
            ("Port", "8000"),
            ("VpcId", &vpc),
            ("TargetType", "ip"),
        ],
    );
    let green = crate::support::xml_values(&created, "TargetGroupArn").remove(0);
    let missing_rule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/dataspace/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
    let mut body = s.service_body(CLUSTER, "dataspace-bg", &s.app_task_definition_arn);
    body["loadBalancers"] = json!([{
        "targetGroupArn": green.replace("dataspace-green", "dataspace-blue"),
        "containerName": "dataspace",
        "containerPort": 8000,
        "advancedConfiguration": {
            "alternateTargetGroupArn": green,
            "productionListenerRule": missing_rule,
            "roleArn": "arn:aws:iam::123456789012:role/ecs-blue-green"
        }
    }]);
    body["deploymentConfiguration"] = json!({
        "strategy": "BLUE_GREEN",
        "bakeTimeInMinutes": 15,
        "lifecycleHooks": [
            {"hookTargetArn": "smoke-test", "roleArn": "arn:aws:iam::123456789012:role/hooks", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]},
            {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
        ]
    });
    moto.ecs("CreateService", body);
    let before = moto.snapshot(CLUSTER);
    let revisions = moto.task_definition_arns();
    let run = |mode: &str| {
        files(Run::new(&moto.url()), &s)
            .input("service", "dataspace-bg")
            .input("otel-service", "")
            .input("otel-task-definition", "")
            .input("mode", mode)
            .run()
    };

    let plan = run("plan");
    plan.assert_code(0);
    assert!(
        plan.all_text().contains("rolls out BLUE_GREEN: all traffic at once, bake time 15 min; hooks: AWS_LAMBDA at POST_TEST_TRAFFIC_SHIFT, PAUSE at POST_TEST_TRAFFIC_SHIFT; at least 15 min"),
        "{}",
        plan.all_text()
    );

    let verify = run("verify");
    verify.assert_code(1);
    let text = verify.all_text();
    for line in [
        format!("OK      service dataspace-bg loadBalancers[0] alternateTargetGroupArn {green}"),
        format!("FAILED  service dataspace-bg loadBalancers[0] productionListenerRule {missing_rule}: not found"),
        "OK      service dataspace-bg loadBalancers[0] roleArn arn:aws:iam::123456789012:role/ecs-blue-green".to_string(),
        "FAILED  service dataspace-bg lifecycleHooks[0] hookTargetArn smoke-test: not a Lambda function ARN".to_string(),
        "OK      service dataspace-bg lifecycleHooks[0] roleArn arn:aws:iam::123456789012:role/hooks".to_string(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in\n{text}");
    }
    assert_eq!(
        moto.snapshot(CLUSTER),
        before,
        "plan and verify change nothing"
    );
    assert_eq!(moto.task_definition_arns(), revisions);
}
