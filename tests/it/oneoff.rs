//! One-off tasks before the rollout (issue 13, DESIGN.md section 10): a migration that gates
//! the deploy, run through the scripted stand-in (`TaskPlot`: PROVISIONING, PENDING, RUNNING,
//! STOPPED, exit codes, `TaskFailedToStart`, log lines), which also records every RunTask the
//! binary sent. moto holds the services: each test asserts which revision they end on.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rollout::{assert_has, files, final_revisions, setup};
use crate::support::seed::{self, CLUSTER};
use crate::support::{Moto, Plot, Run, Seeded, StandIn, TaskPlot};

const MIGRATE: &str = "python manage.py migrate --noinput";

fn migration_log() -> Vec<&'static str> {
    vec![
        "Operations to perform:",
        "  Apply all migrations: admin, auth, datasets",
        "Running migrations:",
        "  Applying datasets.0042_add_license... OK",
    ]
}

/// Both DataSpace services complete their rollout quickly; the one-off task follows `plot`.
fn standin(moto: &Moto, s: &Seeded, plot: TaskPlot) -> StandIn {
    StandIn::builder(moto, s)
        .service(&s.app_service, Plot::Complete(1.0))
        .service(&s.otel_service, Plot::Complete(1.0))
        .task(plot)
        .start()
}

fn deploy(ecs: &StandIn, s: &Seeded) -> Run {
    files(Run::new(&ecs.url()), s)
        .input("run-task-command", MIGRATE)
        .input("poll-interval-seconds", "0.1")
}

fn the_run_task(ecs: &StandIn) -> Value {
    let calls = ecs.run_task_calls();
    assert_eq!(calls.len(), 1, "one RunTask: {calls:#?}");
    calls[0].clone()
}

fn no_service_updated(moto: &Moto, ecs: &StandIn, s: &Seeded) {
    assert!(ecs.updates(&s.app_service).is_empty(), "app updated");
    assert!(ecs.updates(&s.otel_service).is_empty(), "otel updated");
    assert_eq!(
        final_revisions(moto, s),
        ("dataspace-app:1".into(), "dataspace-otel:1".into())
    );
}

#[test]
fn a_migration_that_exits_0_runs_on_the_new_revision_then_the_deploy() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = standin(&moto, &s, TaskPlot::exits(0, 0.5).logs(&migration_log()));
    let o = deploy(&ecs, &s).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    let rt = the_run_task(&ecs);
    // The new revision, the app container, the service's network and launch type.
    assert!(
        rt["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with("task-definition/dataspace-app:2"),
        "{rt:#}"
    );
    assert_eq!(
        rt["overrides"]["containerOverrides"],
        json!([{ "name": seed::APP_CONTAINER, "command": ["python", "manage.py", "migrate", "--noinput"] }])
    );
    assert_eq!(
        rt["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        json!([s.subnet_id])
    );
    assert_eq!(
        rt["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"],
        json!([s.security_group_id])
    );
    assert_eq!(rt["launchType"], json!("FARGATE"));
    assert_eq!(rt["startedBy"], json!("ecs-deploy"));
    let token = rt["clientToken"].as_str().unwrap();
    assert!(
        token.starts_with("ecs-deploy-4242-1-") && token.len() <= 64,
        "{token}"
    );
    // Every service was updated after the task stopped, never before.
    let stopped = ecs.one_off_stopped_at()[0].expect("the task stopped");
    for svc in [&s.app_service, &s.otel_service] {
        let u = &ecs.updates(svc)[0];
        assert!(
            u.epoch >= stopped,
            "{svc} updated before the migration ended"
        );
    }
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:2".into(), "dataspace-otel:2".into())
    );
    // The log lines were streamed, and the task was followed to STOPPED.
    assert_has(&o, "[dataspace]   Applying datasets.0042_add_license... OK");
    assert_has(&o, ": STOPPED");
    assert_has(&o, "one-off task: container dataspace exited 0");
    assert!(o.summary.contains("| one-off task |"), "{}", o.summary);
    assert!(
        o.summary.contains(
            "| `python manage.py migrate --noinput` | `dataspace-app:2` | `dataspace` | exited 0 |"
        ),
        "{}",
        o.summary
    );
    assert!(o.summary.contains("one-off task :p"), "{}", o.summary);
}

#[test]
fn a_migration_that_exits_1_updates_no_service_and_shows_its_log_tail() {
    let moto = Moto::start();
    let s = setup(&moto);
    let mut log = migration_log();
    log.push("django.db.utils.OperationalError: could not connect to server");
    let ecs = standin(&moto, &s, TaskPlot::exits(1, 0.4).logs(&log));
    let o = deploy(&ecs, &s).run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "failed");
    no_service_updated(&moto, &ecs, &s);
    assert_has(
        &o,
        "one-off task: container dataspace exited 1; stop code EssentialContainerExited: Essential container in task exited",
    );
    assert_has(&o, "one-off task failed: no service is updated");
    assert_has(
        &o,
        "django.db.utils.OperationalError: could not connect to server",
    );
    for text in [
        "exit code 1",
        "stop code EssentialContainerExited",
        "the last 5 log line(s) of dataspace",
        "django.db.utils.OperationalError: could not connect to server",
        "| `dataspace-app` |",
        "not updated",
    ] {
        assert!(o.summary.contains(text), "{text:?} not in\n{}", o.summary);
    }
    // Registered, but never deployed: the rollback has nothing to undo.
    assert!(moto
        .task_definition_arns()
        .iter()
        .any(|a| a.ends_with("dataspace-app:2")));
}

#[test]
fn a_task_that_fails_to_start_is_reported_with_its_reason() {
    let moto = Moto::start();
    let s = setup(&moto);
    let reason = "ResourceInitializationError: unable to pull secrets or registry auth: secret arn:aws:ssm:us-east-1:123456789012:parameter/dataspace/db does not exist";
    let ecs = standin(&moto, &s, TaskPlot::fails_to_start(0.2, reason));
    let o = deploy(&ecs, &s).run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "failed");
    no_service_updated(&moto, &ecs, &s);
    assert_has(
        &o,
        &format!("one-off task: the task failed to start (TaskFailedToStart): {reason}"),
    );
    assert!(
        o.summary.contains("stop code TaskFailedToStart"),
        "{}",
        o.summary
    );
}

#[test]
fn a_task_still_running_at_the_deadline_is_stopped_and_reported() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = standin(
        &moto,
        &s,
        TaskPlot::never_stops(0.1).logs(&["waiting for a lock"]),
    );
    let o = deploy(&ecs, &s)
        .input("run-task-timeout-minutes", "0.02")
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "failed");
    no_service_updated(&moto, &ecs, &s);
    let stops = ecs.stop_task_calls();
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0].0, ecs.one_off_tasks()[0]);
    assert_has(
        &o,
        "one-off task: still running after run-task-timeout-minutes (1 s): stopped it (StopTask)",
    );
    assert!(
        o.summary.contains("stop code UserInitiated"),
        "{}",
        o.summary
    );
    assert!(o.summary.contains("waiting for a lock"), "{}", o.summary);
}

#[test]
fn a_dropped_run_task_answer_starts_one_task_not_two() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::builder(&moto, &s)
        .service(&s.app_service, Plot::Complete(1.0))
        .service(&s.otel_service, Plot::Complete(1.0))
        .task(TaskPlot::exits(0, 0.3))
        .drop_run_task_answers(1)
        .start();
    let o = deploy(&ecs, &s).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    let tokens = ecs.client_tokens();
    assert_eq!(
        tokens.len(),
        2,
        "the lost answer was asked again: {tokens:?}"
    );
    assert_eq!(tokens[0], tokens[1], "with the same client token");
    assert_eq!(ecs.one_off_tasks().len(), 1, "one task started, not two");
}

#[test]
fn a_sidecar_listed_first_is_not_the_watched_container() {
    let moto = Moto::start();
    let s = setup(&moto);
    // GuardDuty's agent, injected by Fargate, listed first and failing: not ours to judge.
    let plot = TaskPlot::exits(0, 0.3).sidecar("aws-guardduty-agent-nNTVQ", Some(1));
    let ecs = standin(&moto, &s, plot);
    let o = deploy(&ecs, &s).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    assert_has(&o, "one-off task: container dataspace exited 0");
}

#[test]
fn run_task_failures_are_printed_with_reason_detail_and_arn() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = standin(
        &moto,
        &s,
        TaskPlot::refused("RESOURCE:MEMORY", "no container instance has 2048 MiB free"),
    );
    let o = deploy(&ecs, &s).run();
    o.assert_code(1);
    no_service_updated(&moto, &ecs, &s);
    assert_has(&o, "RESOURCE:MEMORY: no container instance has 2048 MiB free (arn:aws:ecs:us-east-1:123456789012:task-definition/dataspace-app:2)");
    assert!(!o.all_text().contains("[null]"), "{}", o.all_text());
}

/// A service on EC2 in bridge mode: its task definition, the service, and the deploy inputs.
fn bridge_worker(moto: &Moto, s: &Seeded) -> (String, Value) {
    let mut td = seed::app_task_definition(&s.app_repo_uri);
    td["family"] = json!("dataspace-worker");
    td["networkMode"] = json!("bridge");
    td["requiresCompatibilities"] = json!(["EC2"]);
    td["containerDefinitions"][0]["memory"] = json!(512);
    let arn = seed::register(moto, &td);
    moto.ecs(
        "CreateService",
        json!({
            "cluster": CLUSTER,
            "serviceName": "dataspace-worker",
            "taskDefinition": arn,
            "desiredCount": 1,
            "launchType": "EC2",
        }),
    );
    td["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    (arn, td)
}

#[test]
fn a_bridge_mode_task_gets_no_network_configuration() {
    let moto = Moto::start();
    let s = setup(&moto);
    let (_, td) = bridge_worker(&moto, &s);
    let ecs = StandIn::builder(&moto, &s)
        .service("dataspace-worker", Plot::Complete(1.0))
        .task(TaskPlot::exits(0, 0.2))
        .start();
    let o = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("services", "dataspace-worker=aws/worker.json")
        .input("run-task-command", MIGRATE)
        .input("poll-interval-seconds", "0.1")
        .file("aws/worker.json", &td.to_string())
        .run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    let rt = the_run_task(&ecs);
    assert_eq!(rt.get("networkConfiguration"), None, "{rt:#}");
    assert_eq!(rt["launchType"], json!("EC2"));
    assert_eq!(rt.get("platformVersion"), None);
    assert!(rt["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with("dataspace-worker:2"));
}

#[test]
fn plan_says_what_it_would_run_and_runs_nothing() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = standin(&moto, &s, TaskPlot::exits(0, 0.2));
    let o = deploy(&ecs, &s).input("mode", "plan").run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "planned");
    assert!(ecs.run_task_calls().is_empty());
    assert_eq!(ecs.calls("RegisterTaskDefinition"), 0);
    assert_has(
        &o,
        "one-off task: would run `python manage.py migrate --noinput` in container dataspace of the new revision of dataspace-app (registered by deploy)",
    );
    assert!(o.summary.contains("| would run |"), "{}", o.summary);
}

#[test]
fn an_unchanged_service_runs_no_migration_unless_asked_to_always() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = standin(&moto, &s, TaskPlot::exits(0, 0.2));
    // The files the services run now: nothing to deploy.
    let same = |run: Run| {
        run.file(
            "aws/app.json",
            &seed::app_task_definition(&s.app_repo_uri).to_string(),
        )
        .file(
            "aws/otel.json",
            &seed::otel_task_definition(&s.otel_repo_uri).to_string(),
        )
    };
    let o = same(deploy(&ecs, &s)).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "unchanged");
    assert!(ecs.run_task_calls().is_empty());
    assert_has(
        &o,
        "one-off task: not run: service dataspace-app gets no new deployment in this run",
    );
    let o = same(deploy(&ecs, &s))
        .input("run-task-always", "true")
        .run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "unchanged", "{}", o.all_text());
    assert_eq!(
        the_run_task(&ecs)["taskDefinition"],
        json!(s.app_task_definition_arn)
    );
}

#[test]
fn run_task_alone_runs_on_the_current_revision_and_deploys_nothing() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::builder(&moto, &s)
        .task(TaskPlot::exits(0, 0.2).logs(&["No migrations to apply."]))
        .task(TaskPlot::exits(3, 0.2))
        .start();
    let alone = || {
        Run::new(&ecs.url())
            .arg("run-task")
            .input("cluster", CLUSTER)
            .input("service", &s.app_service)
            .input("run-task-command", r#"["python", "manage.py", "migrate"]"#)
            .input("poll-interval-seconds", "0.1")
    };
    let o = alone().run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "unchanged", "{}", o.all_text());
    assert_has(&o, "[dataspace] No migrations to apply.");
    let calls = ecs.run_task_calls();
    assert_eq!(calls[0]["taskDefinition"], json!(s.app_task_definition_arn));
    assert_eq!(ecs.calls("RegisterTaskDefinition"), 0);
    assert_eq!(ecs.calls("UpdateService"), 0);
    assert!(o.summary.contains("ecs-deploy run-task"), "{}", o.summary);
    // The same step of the same attempt again: ECS answers its client token with the first
    // task, which exited 0, and starts none.
    let o = alone().run();
    o.assert_code(0);
    assert_eq!(ecs.one_off_tasks().len(), 1);
    // A re-run (a new attempt) runs it again; it fails: the same exit code as in a deploy.
    let o = alone().env("GITHUB_RUN_ATTEMPT", "2").run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "failed");
    assert_has(&o, "container dataspace exited 3");
    assert_eq!(ecs.one_off_tasks().len(), 2);
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:1".into(), "dataspace-otel:1".into())
    );
}

#[test]
fn sigterm_while_the_task_runs_stops_it_and_says_so() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = standin(&moto, &s, TaskPlot::never_stops(0.1));
    let run = deploy(&ecs, &s);
    let mut child = run.spawn();
    // Hang guard, not a timing assertion.
    let guard = Instant::now() + Duration::from_secs(60);
    while ecs.calls("DescribeTasks") < 3 {
        assert!(Instant::now() < guard, "the binary never watched the task");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = crate::support::runner::terminate(&mut child, guard);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("SIGTERM received: the run was cancelled while the one-off task ran; it was stopped (StopTask)"),
        "{stdout}"
    );
    assert_eq!(ecs.stop_task_calls().len(), 1);
    no_service_updated(&moto, &ecs, &s);
}
