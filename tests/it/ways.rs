//! Ways of rolling out (issue 11, DESIGN.md section 8), and what a run reports when its undo
//! is refused or one failure ends the wait for all (issues 20 and 22), through the scripted
//! stand-in.

use std::time::Duration;

use crate::github;
use crate::rollout::{self, assert_has, final_revisions, setup};
use crate::support::seed::CLUSTER;
use crate::support::{
    amz_target, forward, HttpServer, Moto, Plot, Request, Response, Run, Schedule, Seeded, StandIn,
};

/// Both services, v2 images, through `url` (a proxy in front of the stand-in, or the stand-in).
fn files(url: &str, s: &Seeded) -> Run {
    rollout::files(Run::new(url), s)
}

#[test]
fn a_refused_rollback_is_reported_as_failed_with_the_revision_the_service_runs() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(
        &moto,
        &s,
        Plot::PullFails(Schedule::at([1.0])),
        Plot::Complete(0.0),
    );
    let target = ecs.url();
    // The rollback of the app (back to revision 1) is refused.
    let proxy = HttpServer::start(move |req: &Request| {
        let body = req.body_str();
        if amz_target(req) == Some("UpdateService")
            && body.contains("dataspace-app")
            && body.contains("task-definition/dataspace-app:1")
        {
            return Response::aws_error(
                400,
                "AccessDeniedException",
                "User is not authorized to perform: ecs:UpdateService",
            );
        }
        forward(&target, req)
    });
    let pulls = serde_json::json!([github::pull(github::DEV_PR, "open", "dev", false)]);
    let gh = github::GitHub::start(pulls, github::Fail::Never);
    let o = files(&proxy.url(), &s)
        .env("GITHUB_API_URL", &gh.url())
        .input("github-token", github::TOKEN)
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "failed", "{}", o.all_text());
    // The pull request is told the same: failed, and how to finish the job.
    let comments = gh.ours(github::DEV_PR);
    assert_eq!(comments.len(), 1, "{}", o.all_text());
    let body = comments[0]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("## ❌ ecs-deploy: failed on `dataspace-dev`"),
        "{body}"
    );
    assert!(
        body.contains("the rollback to dataspace-app:1 was refused"),
        "{body}"
    );
    assert!(!body.contains("ecs-deploy: rolled-back"), "{body}");
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:2".into(), "dataspace-otel:1".into())
    );
    for text in [
        "the rollback to dataspace-app:1 was refused",
        "AccessDeniedException: User is not authorized to perform: ecs:UpdateService",
        "the service still runs dataspace-app:2",
        "aws ecs update-service --cluster dataspace-dev --service dataspace-app --task-definition dataspace-app:1",
    ] {
        assert!(o.summary.contains(text), "{text:?} not in\n{}", o.summary);
    }
    let app_row = o
        .summary
        .lines()
        .find(|l| l.starts_with("| `dataspace-app`"))
        .unwrap_or_default();
    assert!(app_row.ends_with("| failed | – |"), "{app_row}");
    // The other service is confirmed back, and says so.
    assert!(
        o.summary
            .contains("rolled back to dataspace-otel:1; that rollout completed"),
        "{}",
        o.summary
    );
}

#[test]
fn one_failing_service_ends_the_wait_and_every_service_is_rolled_back_at_once() {
    let moto = Moto::start();
    let s = setup(&moto);
    // The collector's rollout is healthy but slow; the app's image cannot be pulled.
    let ecs = StandIn::start(
        &moto,
        &s,
        Plot::PullFails(Schedule::at([1.0])),
        Plot::Complete(60.0),
    );
    let o = files(&ecs.url(), &s).run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back", "{}", o.all_text());
    let app = ecs.updates(&s.app_service);
    let otel = ecs.updates(&s.otel_service);
    assert_eq!(
        (app.len(), otel.len()),
        (2, 2),
        "one deploy and one rollback each"
    );
    // Both rollbacks within one poll interval (0.2 s) of each other, not after the collector's
    // 60 s rollout.
    let gap = if app[1].at > otel[1].at {
        app[1].at - otel[1].at
    } else {
        otel[1].at - app[1].at
    };
    assert!(gap < Duration::from_millis(500), "rollbacks {gap:?} apart");
    assert!(
        otel[1].at - otel[0].at < Duration::from_secs(30),
        "the collector was rolled back before its rollout could finish"
    );
    assert_has(
        &o,
        "dataspace-app failed: stopped waiting for dataspace-otel",
    );
    assert!(o.summary.contains("dataspace-app first"), "{}", o.summary);
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:1".into(), "dataspace-otel:1".into())
    );
}

#[test]
fn with_rollback_off_each_service_is_waited_for_and_nothing_is_undone() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(
        &moto,
        &s,
        Plot::PullFails(Schedule::at([1.0])),
        Plot::Complete(3.0),
    );
    let o = files(&ecs.url(), &s)
        .input("rollback-on-failure", "false")
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "failed");
    assert_eq!(ecs.updates(&s.app_service).len(), 1, "nothing undone");
    assert_eq!(ecs.updates(&s.otel_service).len(), 1, "nothing undone");
    // The collector's own outcome is shown: it finished.
    assert!(o.summary.contains("| deployed |"), "{}", o.summary);
    assert_eq!(final_revisions(&moto, &s).1, "dataspace-otel:2");
}

/// Issue 22: with all of AWS gone silent mid-wait and rollback on, the run ends within its
/// bounds (the deadline, the evidence's grace, the undo's calls and wait) and says what it
/// knows, instead of waiting out the SDK's retries for minutes.
#[test]
fn aws_gone_silent_mid_wait_ends_the_run_within_its_bounds() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(&moto, &s, Plot::Forever, Plot::Forever);
    let target = ecs.url();
    let polls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&polls);
    // After three polls every call hangs (longer than the run may take).
    let proxy = HttpServer::start(move |req: &Request| {
        let silent =
            amz_target(req) == Some("DescribeServices") && seen.fetch_add(1, Ordering::SeqCst) >= 4;
        if silent || seen.load(Ordering::SeqCst) > 4 {
            std::thread::sleep(Duration::from_secs(40));
        }
        forward(&target, req)
    });
    let started = Instant::now();
    let o = files(&proxy.url(), &s)
        .input("wait-for-minutes", "0.05")
        .run();
    let took = started.elapsed();
    o.assert_code(1);
    assert_eq!(o.output("result"), "failed", "{}", o.all_text());
    // 3 s deadline + 3 s per undo call + 3 s undo wait, and slack for a loaded machine.
    assert!(
        took < Duration::from_secs(25),
        "took {took:?}\n{}",
        o.all_text()
    );
    assert_has(&o, "AWS had not answered");
}

/// Issue 20: ten services, one fails: all ten are rolled back at once, each with its own
/// undo, not one after another and not after the slow healthy ones finished.
#[test]
fn ten_services_with_one_failure_are_all_rolled_back_at_once() {
    let moto = Moto::start();
    let s = setup(&moto);
    let workers: Vec<String> = (1..=8).map(|i| format!("dataspace-worker-{i}")).collect();
    for name in &workers {
        moto.ecs(
            "CreateService",
            s.service_body(CLUSTER, name, &s.app_task_definition_arn),
        );
    }
    let mut builder = StandIn::builder(&moto, &s)
        .service(&s.app_service, Plot::PullFails(Schedule::at([1.0])))
        .service(&s.otel_service, Plot::Complete(60.0));
    for name in &workers {
        builder = builder.service(name, Plot::Complete(60.0));
    }
    let ecs = builder.start();
    let lines: Vec<String> = workers
        .iter()
        .map(|w| format!("{w}=aws/app.json"))
        .collect();
    let o = files(&ecs.url(), &s)
        .input("services", &lines.join("\n"))
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back", "{}", o.all_text());
    let mut all = vec![s.app_service.clone(), s.otel_service.clone()];
    all.extend(workers.iter().cloned());
    let rollbacks: Vec<std::time::Instant> = all
        .iter()
        .map(|name| {
            let u = ecs.updates(name);
            assert_eq!(u.len(), 2, "{name}: one deploy and one rollback");
            u[1].at
        })
        .collect();
    let first = *rollbacks.iter().min().unwrap();
    let last = *rollbacks.iter().max().unwrap();
    assert!(
        last - first < Duration::from_millis(500),
        "the ten rollback calls spread over {:?}",
        last - first
    );
    for name in &all {
        assert!(
            o.summary.contains(&format!("`{name}`")),
            "{name} missing from the summary"
        );
    }
}

/// Issue 22: a run cancelled while it rolls back (a call that hangs) is abandoned after the
/// grace period, and its outputs still name the services it changed.
#[test]
fn a_run_abandoned_mid_rollback_still_names_what_it_changed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(
        &moto,
        &s,
        Plot::PullFails(Schedule::at([1.0])),
        Plot::Complete(0.0),
    );
    let target = ecs.url();
    let hanging = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&hanging);
    // The app's rollback UpdateService never answers in time.
    let proxy = HttpServer::start(move |req: &Request| {
        let body = req.body_str();
        if amz_target(req) == Some("UpdateService")
            && body.contains("dataspace-app")
            && body.contains("task-definition/dataspace-app:1")
        {
            flag.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(40));
        }
        forward(&target, req)
    });
    let run = files(&proxy.url(), &s);
    let inputs = [
        "INPUT_CLUSTER",
        "INPUT_SERVICE",
        "INPUT_TASK-DEFINITION",
        "INPUT_OTEL-SERVICE",
        "INPUT_OTEL-TASK-DEFINITION",
        "INPUT_POLL-INTERVAL-SECONDS",
    ];
    let mut child = rollout::spawn(&run, &inputs);
    let guard = Instant::now() + Duration::from_secs(60);
    while !hanging.load(Ordering::SeqCst) {
        assert!(Instant::now() < guard, "the rollback never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = crate::support::runner::terminate(&mut child, guard);
    assert_eq!(status.code(), Some(1));
    let written = std::fs::read_to_string(run.env_var("GITHUB_OUTPUT").unwrap()).unwrap();
    let outputs = crate::support::runner::parse_outputs(&written);
    assert_eq!(outputs.get("result").map(String::as_str), Some("failed"));
    let changed: serde_json::Value =
        serde_json::from_str(outputs.get("changed-services").unwrap()).unwrap();
    assert_eq!(
        changed,
        serde_json::json!(["dataspace-app", "dataspace-otel"]),
        "{written}"
    );
}
