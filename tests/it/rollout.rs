//! Rollouts that succeed, fail, stall or get taken over, driven through the scripted ECS
//! stand-in (`support::standin`, issue 3, DESIGN.md section 4).
//!
//! moto never moves a rollout forward, so the stand-in sits in front of it and answers
//! `DescribeServices`, `ListTasks`, `DescribeTasks` and CloudWatch Logs `GetLogEvents` from
//! a per-test plot, on its poll clock (time `n` is the `n`-th poll after the binary's
//! `UpdateService`). When the plot has ECS (or another person) change a service, the
//! stand-in makes that change in moto too, so each test asserts the task definition every
//! service ends on.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::seed::{self, APP_REPO, CLUSTER, OTEL_REPO};
use crate::support::standin::ECS_TARGET;
use crate::support::{
    call_json_at, push_image, seed_dataspace, At, Moto, Outcome, Plot, Run, Schedule, Seeded,
    StandIn,
};

/// One more task exits 1 at every poll.
fn exits_every_poll() -> Schedule {
    Schedule::every(1.0, 1.0)
}

fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The DataSpace services with v2 images pushed and task-definition files that deploy them.
pub(crate) fn setup(moto: &Moto) -> Seeded {
    let s = seed_dataspace(moto);
    push_image(moto, APP_REPO, "v2");
    push_image(moto, OTEL_REPO, "v2");
    s
}

pub(crate) fn files(run: Run, s: &Seeded) -> Run {
    let mut app = seed::app_task_definition(&s.app_repo_uri);
    app["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    let mut otel = seed::otel_task_definition(&s.otel_repo_uri);
    otel["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.otel_repo_uri));
    run.input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("otel-service", &s.otel_service)
        .input("otel-task-definition", "aws/otel.json")
        .input("poll-interval-seconds", "0.2")
        .file("aws/app.json", &serde_json::to_string_pretty(&app).unwrap())
        .file(
            "aws/otel.json",
            &serde_json::to_string_pretty(&otel).unwrap(),
        )
}

fn revision(arn: &str) -> String {
    short(arn).to_string()
}

/// The revision each service holds in moto, `family:n`.
pub(crate) fn final_revisions(moto: &Moto, s: &Seeded) -> (String, String) {
    let td = |svc: &str| {
        revision(
            moto.service(&s.cluster, svc)["taskDefinition"]
                .as_str()
                .unwrap(),
        )
    };
    (td(&s.app_service), td(&s.otel_service))
}

pub(crate) fn assert_has(o: &Outcome, text: &str) {
    assert!(
        o.all_text().contains(text),
        "expected {text:?} in\n{}",
        o.all_text()
    );
}

#[test]
fn rollout_in_progress_for_several_polls_then_completed_is_deployed() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(&moto, &s, Plot::Complete(4.0), Plot::Complete(2.0));
    let o = files(Run::new(&ecs.url()), &s).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed");
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:2".into(), "dataspace-otel:2".into())
    );
    assert_has(
        &o,
        "dataspace-app: PRIMARY desired 1 pending 1 running 0 failed 0 rollout IN_PROGRESS",
    );
    assert_has(
        &o,
        "dataspace-app: PRIMARY desired 1 pending 0 running 1 failed 0 rollout COMPLETED",
    );
    // One line per change, not per poll: four IN_PROGRESS polls print one line.
    assert_eq!(
        o.stdout
            .matches("dataspace-app: PRIMARY desired 1 pending 1 running 0")
            .count(),
        1,
        "{}",
        o.stdout
    );
    // Each event once, fenced.
    assert_eq!(
        o.stdout
            .matches("event: (service dataspace-app) has reached a steady state.")
            .count(),
        1
    );
    assert!(o.stdout.contains("::stop-commands::"));
    assert_eq!(ecs.deploy_polls(&s.app_service), 5);
    // Nothing failed: no tasks were listed.
    assert_eq!(ecs.calls("ListTasks"), 0);
    assert_eq!(ecs.updates(&s.app_service).len(), 1);
}

#[test]
fn image_that_cannot_be_pulled_fails_fast_and_rolls_back_both_services() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(
        &moto,
        &s,
        Plot::PullFails(Schedule::at([1.0])),
        Plot::Complete(0.0),
    );
    let o = files(Run::new(&ecs.url()), &s).run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back");
    assert_has(
        &o,
        "a task of the new revision stopped with an error that retrying cannot fix",
    );
    assert_has(
        &o,
        "CannotPullContainerError: pull image manifest has been retried 7 time(s)",
    );
    assert_has(&o, "(×1)");
    // Failed at the first poll that showed the stopped task (the second look is the one
    // before rolling back).
    assert_eq!(ecs.deploy_polls(&s.app_service), 2);
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:1".into(), "dataspace-otel:1".into())
    );
    assert_eq!(ecs.updates(&s.app_service).len(), 2);
    assert_eq!(ecs.updates(&s.otel_service).len(), 2);
    assert!(
        o.summary
            .contains("rolled back to dataspace-app:1; that rollout completed"),
        "{}",
        o.summary
    );
    assert!(
        o.summary.contains("another service of this deploy failed"),
        "{}",
        o.summary
    );
    // The old revision names its image by tag: the user is told a rollback re-resolves it.
    assert_has(
        &o,
        "by tag: the rollback pulls whatever that tag points to now",
    );
    // Revisions are kept.
    assert!(moto
        .task_definition_arns()
        .iter()
        .any(|a| a.ends_with("dataspace-app:2")));
}

/// A failed deploy that also set `desired-count` leaves the services as they were: the
/// revision and the count both go back.
#[test]
fn a_failed_deploy_that_set_the_desired_count_puts_the_count_back_too() {
    let moto = Moto::start();
    let s = setup(&moto);
    let count = |svc: &str| moto.service(&s.cluster, svc)["desiredCount"].clone();
    let before = (count(&s.app_service), count(&s.otel_service));
    assert_ne!(
        before.0,
        json!(3),
        "the seeded count differs from the one asked"
    );
    let ecs = StandIn::start(
        &moto,
        &s,
        Plot::PullFails(Schedule::at([1.0])),
        Plot::Complete(0.0),
    );
    let o = files(Run::new(&ecs.url()), &s)
        .input("desired-count", "3")
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back", "{}", o.all_text());
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:1".into(), "dataspace-otel:1".into())
    );
    assert_eq!((count(&s.app_service), count(&s.otel_service)), before);
}

/// The app's tasks exit at polls 1 and 2; at poll 3 ECS's circuit breaker rolls it back.
/// The collector completes.
fn circuit_breaker_at_poll_3(moto: &Moto, s: &Seeded) -> StandIn {
    StandIn::start(
        moto,
        s,
        Plot::CircuitBreaker {
            exits: exits_every_poll(),
            at: At::Time(3.0),
        },
        Plot::Complete(0.0),
    )
}

/// ECS's own rollback (the circuit breaker's) restores the revision, not the count: the log
/// says which count stays; the service this run puts back gets its count back.
#[test]
fn after_ecs_rolled_back_the_count_it_kept_is_named() {
    let moto = Moto::start();
    let s = setup(&moto);
    let count = |svc: &str| moto.service(&s.cluster, svc)["desiredCount"].clone();
    let before = count(&s.otel_service);
    let ecs = circuit_breaker_at_poll_3(&moto, &s);
    let o = files(Run::new(&ecs.url()), &s)
        .input("desired-count", "3")
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back", "{}", o.all_text());
    assert_has(
        &o,
        &format!(
            "{}: its desired count stays 3 (ECS's rollback restores the revision, not the count; it was {before} before this run)",
            s.app_service
        ),
    );
    assert_eq!(count(&s.app_service), json!(3));
    assert_eq!(count(&s.otel_service), before);
}

#[test]
fn essential_container_exiting_three_times_fails_after_the_third_with_its_logs() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(
        &moto,
        &s,
        Plot::Exits(exits_every_poll()),
        Plot::Complete(1.0),
    );
    let o = files(Run::new(&ecs.url()), &s).run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back");
    // Failed at the third poll (one task exits per poll); the fourth look is the rollback's.
    assert_eq!(ecs.deploy_polls(&s.app_service), 4);
    assert_has(
        &o,
        "3 tasks of the new revision failed, the circuit breaker's threshold for 1 desired task(s) is 3",
    );
    assert_has(&o, "Essential container in task exited (×3)");
    assert_has(&o, "container dataspace exited 1 (×3)");
    // The routine scale-in of the old deployment is not counted or shown.
    assert!(
        !o.stdout.contains("Scaling activity initiated"),
        "{}",
        o.stdout
    );
    assert_has(&o, "last 20 log line(s) of container dataspace (log group /ecs/dataspace, stream app/dataspace/");
    assert_has(&o, "The SECRET_KEY setting must not be empty.");
    assert!(
        !o.stdout.contains("[07] booting"),
        "only the last 20 lines: {}",
        o.stdout
    );
    assert_has(&o, "[08] booting dataspace worker 8");
    // A log line cannot issue a workflow command.
    assert!(
        !o.stdout.lines().any(|l| l.starts_with("::error::injected")),
        "{}",
        o.stdout
    );
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:1".into(), "dataspace-otel:1".into())
    );
}

#[test]
fn circuit_breaker_rollback_by_ecs_is_a_failure_and_is_not_competed_with() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = circuit_breaker_at_poll_3(&moto, &s);
    let o = files(Run::new(&ecs.url()), &s).run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back");
    assert_has(&o, "ECS rolled the deployment back");
    assert_has(&o, "ECS is already rolling back to");
    // No competing UpdateService for the app; the collector is put back by the binary.
    assert_eq!(ecs.updates(&s.app_service).len(), 1);
    assert_eq!(ecs.updates(&s.otel_service).len(), 2);
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:1".into(), "dataspace-otel:1".into())
    );
    assert!(
        o.summary.contains("that rollout completed"),
        "{}",
        o.summary
    );
}

#[test]
fn rollout_that_never_finishes_reaches_the_deadline_and_is_rolled_back() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(&moto, &s, Plot::Forever, Plot::Complete(0.0));
    let o = files(Run::new(&ecs.url()), &s)
        // 3 s: the deadline is real time, and a test never waits out a real minute.
        .input("wait-for-minutes", "0.05")
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back");
    assert_has(
        &o,
        "the rollout did not complete within wait-for-minutes (3 s)",
    );
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:1".into(), "dataspace-otel:1".into())
    );
    assert_eq!(ecs.updates(&s.app_service).len(), 2);
}

#[test]
fn someone_elses_deployment_is_reported_as_superseded_not_as_ours() {
    let moto = Moto::start();
    let s = setup(&moto);
    let mut other = seed::app_task_definition(&s.app_repo_uri);
    other["containerDefinitions"][0]["environment"][0]["value"] = json!("dataspace.hotfix");
    let other_td = seed::register(&moto, &other);
    let ecs = StandIn::start(
        &moto,
        &s,
        // After 2 polls someone else deploys.
        Plot::Superseded(At::Time(3.0), other_td.clone()),
        Plot::Complete(0.0),
    );
    let o = files(Run::new(&ecs.url()), &s).run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "failed");
    assert_has(
        &o,
        "deployment ecs-svc/9999999999999999999 became PRIMARY while ours",
    );
    assert_has(&o, "someone else deployed");
    assert!(o.summary.contains("superseded"), "{}", o.summary);
    // Nothing rolled back over someone else's deploy; the collector keeps its new revision.
    assert_eq!(ecs.updates(&s.app_service).len(), 1);
    assert_eq!(ecs.updates(&s.otel_service).len(), 1);
    assert_eq!(
        final_revisions(&moto, &s),
        (revision(&other_td), "dataspace-otel:2".into())
    );
}

#[test]
fn throttling_on_a_third_of_the_polls_still_succeeds() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::builder(&moto, &s)
        .service(&s.app_service, Plot::Complete(3.0))
        .service(&s.otel_service, Plot::Complete(2.0))
        .throttle("DescribeServices", 3)
        .start();
    let o = files(Run::new(&ecs.url()), &s).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed");
    assert!(ecs.throttled() >= 2);
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:2".into(), "dataspace-otel:2".into())
    );
}

#[test]
fn stand_in_presents_the_strategy_and_controller_a_test_chose() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::builder(&moto, &s)
        .service(&s.app_service, Plot::Complete(0.0))
        .strategy(&s.app_service, "BLUE_GREEN")
        .bake_time(&s.app_service, 30)
        .controller(&s.otel_service, "CODE_DEPLOY")
        .start();
    let call = |op: &str, body| {
        call_json_at(&ecs.url(), "ecs", &format!("{ECS_TARGET}.{op}"), &body, &[])
            .unwrap_or_else(|(status, text)| panic!("{op}: HTTP {status}: {text}"))
    };
    let described = call(
        "DescribeServices",
        json!({ "cluster": CLUSTER, "services": [&s.app_service, &s.otel_service] }),
    );
    let service = |name: &str| {
        described["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["serviceName"] == name)
            .unwrap_or_else(|| panic!("no {name} in {described}"))
            .clone()
    };
    let app = service(&s.app_service);
    assert_eq!(app["deploymentConfiguration"]["strategy"], "BLUE_GREEN");
    assert_eq!(app["deploymentConfiguration"]["bakeTimeInMinutes"], 30);
    assert_eq!(
        app["deployments"][0]["taskDefinition"],
        json!(s.app_task_definition_arn)
    );
    let otel = service(&s.otel_service);
    assert_eq!(otel["deploymentController"]["type"], "CODE_DEPLOY");
    assert!(
        otel["deploymentConfiguration"].get("strategy").is_none(),
        "{otel}"
    );
    // UpdateService answers say the same, and the update is recorded as the binary's would be.
    let updated = call(
        "UpdateService",
        json!({ "cluster": CLUSTER, "service": &s.app_service, "taskDefinition": &s.app_task_definition_arn }),
    );
    assert_eq!(
        updated["service"]["deploymentConfiguration"]["strategy"],
        "BLUE_GREEN"
    );
    assert_eq!(ecs.updates(&s.app_service).len(), 1);
    assert_eq!(ecs.calls("DescribeServices"), 1);
    // moto itself holds a plain rolling service.
    assert_ne!(
        moto.service(CLUSTER, &s.app_service)["deploymentConfiguration"]["strategy"],
        "BLUE_GREEN"
    );
}

#[test]
fn rollback_command_returns_services_to_their_previous_active_revision() {
    let moto = Moto::start();
    let s = setup(&moto);
    // Both services on revision 2 first, as after a deploy.
    let mut app2 = seed::app_task_definition(&s.app_repo_uri);
    app2["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    let app2 = seed::register(&moto, &app2);
    let otel2 = seed::register(&moto, &seed::otel_task_definition(&s.otel_repo_uri));
    for (svc, td) in [(&s.app_service, &app2), (&s.otel_service, &otel2)] {
        moto.ecs(
            "UpdateService",
            json!({ "cluster": CLUSTER, "service": svc, "taskDefinition": td }),
        );
    }
    // The stand-in presents the revision moto holds now (2) as the current deployment.
    let ecs = StandIn::start(&moto, &s, Plot::Complete(0.0), Plot::Complete(0.0));
    let o = Run::new(&ecs.url())
        .input("mode", "rollback")
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("otel-service", &s.otel_service)
        .input("poll-interval-seconds", "0.2")
        .run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "rolled-back");
    assert_eq!(o.output("task-definition-arn"), s.app_task_definition_arn);
    assert_has(&o, "dataspace-app:2 stays registered");
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:1".into(), "dataspace-otel:1".into())
    );
    assert!(o.summary.contains("rolled back"), "{}", o.summary);
}

/// Starts the binary like `Run::run` does, but returns the child so a test can signal it.
pub(crate) fn spawn(run: &Run, inputs: &[&str]) -> Child {
    let keys = [
        "PATH",
        "HOME",
        "GITHUB_ACTIONS",
        "GITHUB_WORKSPACE",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_EVENT_NAME",
        "GITHUB_EVENT_PATH",
        "GITHUB_SHA",
        "GITHUB_REPOSITORY",
        "GITHUB_RUN_ID",
        "GITHUB_SERVER_URL",
        "GITHUB_API_URL",
        "RUNNER_TEMP",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_EC2_METADATA_DISABLED",
    ];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecs-deploy"));
    cmd.env_clear()
        .current_dir(run.workspace())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for k in keys.iter().copied().chain(inputs.iter().copied()) {
        if let Some(v) = run.env_var(k) {
            cmd.env(k, v);
        }
    }
    cmd.spawn().expect("starting ecs-deploy")
}

#[test]
fn sigterm_during_the_wait_writes_outputs_and_summary_and_exits_non_zero() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(&moto, &s, Plot::Forever, Plot::Complete(0.0));
    let run = files(Run::new(&ecs.url()), &s);
    std::fs::write(run.env_var("GITHUB_OUTPUT").unwrap(), "").unwrap();
    std::fs::write(run.env_var("GITHUB_STEP_SUMMARY").unwrap(), "").unwrap();
    let inputs = [
        "INPUT_CLUSTER",
        "INPUT_SERVICE",
        "INPUT_TASK-DEFINITION",
        "INPUT_OTEL-SERVICE",
        "INPUT_OTEL-TASK-DEFINITION",
        "INPUT_POLL-INTERVAL-SECONDS",
    ];
    let mut child = spawn(&run, &inputs);
    // Hang guard, not a timing assertion.
    let guard = Instant::now() + Duration::from_secs(60);
    while ecs.deploy_polls(&s.app_service) < 3 {
        assert!(Instant::now() < guard, "the binary never started waiting");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = crate::support::runner::terminate(&mut child, guard);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("SIGTERM received: stopped waiting; still mid-rollout: dataspace-app (deployment ecs-svc/"),
        "{stdout}"
    );
    let outputs = crate::support::runner::parse_outputs(
        &std::fs::read_to_string(run.env_var("GITHUB_OUTPUT").unwrap()).unwrap(),
    );
    assert_eq!(outputs.get("result").map(String::as_str), Some("failed"));
    let summary = std::fs::read_to_string(run.env_var("GITHUB_STEP_SUMMARY").unwrap()).unwrap();
    assert!(summary.contains("interrupted by SIGTERM"), "{summary}");
    // No rollback was started: a cancelled job must end quickly.
    assert_eq!(ecs.updates(&s.app_service).len(), 1);
}
