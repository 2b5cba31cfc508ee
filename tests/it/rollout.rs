//! Rollouts that succeed, fail, stall or get taken over, driven through a scripted ECS
//! stand-in (issue 3, DESIGN.md section 4).
//!
//! moto never moves a rollout forward, so `StandIn` sits in front of it: it forwards every
//! call except `DescribeServices`, `ListTasks`, `DescribeTasks` and CloudWatch Logs
//! `GetLogEvents`, which it answers from a per-test plot in the shapes real AWS uses. It
//! watches the `UpdateService` calls it forwards and gives each a fresh PRIMARY deployment id,
//! as real ECS does, so the scripted deployments carry the id the binary was handed. When the
//! plot has ECS (or another person) change a service, the stand-in makes that change in moto
//! too, so each test can assert the task definition every service ends on.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::support::seed::{self, APP_CONTAINER, APP_REPO, CLUSTER, OTEL_REPO};
use crate::support::{
    amz_target, forward, moto, push_image, seed_dataspace, HttpServer, Moto, Outcome, Request,
    Response, Run, Seeded,
};

const ECS_TARGET: &str = "AmazonEC2ContainerServiceV20141113";

/// What ECS does with the deployment the binary starts, poll by poll (a poll is one
/// DescribeServices naming the service after that update).
#[derive(Clone, Debug)]
enum Plot {
    /// IN_PROGRESS for this many polls, then COMPLETED.
    Complete(usize),
    /// Every task fails to pull its image.
    PullFails,
    /// One more task exits 1 at every poll.
    Exits,
    /// Tasks exit 1; after this many polls ECS's circuit breaker rolls back to the old
    /// deployment, which completes two polls later.
    CircuitBreaker(usize),
    /// IN_PROGRESS forever.
    Forever,
    /// After this many polls someone else deploys this task definition.
    Superseded(usize, String),
}

struct Svc {
    initial_id: String,
    initial_td: String,
    plot: Plot,
    /// (deployment id, task definition, created at) of each UpdateService the binary sent.
    updates: Vec<(String, String, f64)>,
    polls: usize,
    /// Polls before the second UpdateService (the rollback), i.e. of the deploy itself.
    deploy_polls: usize,
    events: Vec<Value>,
    tasks: Vec<Value>,
    /// The plot's own change (ECS rollback or someone else), once made in moto.
    takeover: Option<(String, String, f64)>,
}

struct Script {
    moto_url: String,
    services: BTreeMap<String, Svc>,
    /// log stream name → lines.
    logs: BTreeMap<String, Vec<String>>,
    throttle: bool,
    describe_calls: usize,
    throttled: usize,
    next: usize,
}

struct StandIn {
    server: HttpServer,
    script: Arc<Mutex<Script>>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl StandIn {
    fn start(moto: &Moto, s: &Seeded, app: Plot, otel: Plot) -> StandIn {
        let svc = |name: &str, td: &str, plot: Plot, n: usize| {
            (
                name.to_string(),
                Svc {
                    initial_id: format!("ecs-svc/100000000000000000{n}"),
                    initial_td: td.to_string(),
                    plot,
                    updates: Vec::new(),
                    polls: 0,
                    deploy_polls: 0,
                    events: Vec::new(),
                    tasks: Vec::new(),
                    takeover: None,
                },
            )
        };
        let script = Arc::new(Mutex::new(Script {
            moto_url: moto.url(),
            services: BTreeMap::from([
                svc(&s.app_service, &s.app_task_definition_arn, app, 1),
                svc(&s.otel_service, &s.otel_task_definition_arn, otel, 2),
            ]),
            logs: BTreeMap::new(),
            throttle: false,
            describe_calls: 0,
            throttled: 0,
            next: 0,
        }));
        let shared = Arc::clone(&script);
        let server = HttpServer::start(move |req| handle(&shared, req));
        StandIn { server, script }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn with<T>(&self, f: impl FnOnce(&Script) -> T) -> T {
        f(&self.script.lock().unwrap())
    }

    /// The task definitions the binary sent UpdateService for, per service, in order.
    fn updates(&self, service: &str) -> Vec<String> {
        self.with(|s| {
            s.services[service]
                .updates
                .iter()
                .map(|u| u.1.clone())
                .collect()
        })
    }

    fn deploy_polls(&self, service: &str) -> usize {
        self.with(|s| {
            let svc = &s.services[service];
            if svc.updates.len() > 1 {
                svc.deploy_polls
            } else {
                svc.polls
            }
        })
    }

    fn calls(&self, op: &str) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| amz_target(r) == Some(op))
            .count()
    }
}

fn handle(script: &Arc<Mutex<Script>>, req: &Request) -> Response {
    let mut s = script.lock().unwrap();
    match amz_target(req) {
        Some("UpdateService") => update_service(&mut s, req),
        Some("DescribeServices") => {
            s.describe_calls += 1;
            if s.throttle && s.describe_calls % 3 == 0 {
                s.throttled += 1;
                return Response::aws_error(400, "ThrottlingException", "Rate exceeded");
            }
            describe_services(&mut s, req)
        }
        Some("ListTasks") => {
            let body = req.json();
            let name = short(body["serviceName"].as_str().unwrap_or_default());
            let arns: Vec<Value> = s
                .services
                .get(name)
                .map(|svc| svc.tasks.iter().map(|t| t["taskArn"].clone()).collect())
                .unwrap_or_default();
            Response::aws_json(&json!({ "taskArns": arns }))
        }
        Some("DescribeTasks") => {
            let body = req.json();
            let wanted: Vec<&str> = body["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let tasks: Vec<Value> = s
                .services
                .values()
                .flat_map(|svc| svc.tasks.iter())
                .filter(|t| wanted.contains(&t["taskArn"].as_str().unwrap_or_default()))
                .cloned()
                .collect();
            Response::aws_json(&json!({ "tasks": tasks, "failures": [] }))
        }
        Some("GetLogEvents") => {
            let body = req.json();
            let stream = body["logStreamName"].as_str().unwrap_or_default();
            match s.logs.get(stream) {
                Some(lines) => {
                    let limit = body["limit"].as_u64().unwrap_or(10_000) as usize;
                    let t = (now() * 1000.0) as i64;
                    let events: Vec<Value> = lines[lines.len().saturating_sub(limit)..]
                        .iter()
                        .map(|m| json!({ "timestamp": t, "message": m, "ingestionTime": t }))
                        .collect();
                    Response::aws_json(&json!({
                        "events": events,
                        "nextForwardToken": "f/00000000000000000000000000000000000000000000000000000001",
                        "nextBackwardToken": "b/00000000000000000000000000000000000000000000000000000000",
                    }))
                }
                None => Response::aws_error(
                    400,
                    "ResourceNotFoundException",
                    "The specified log stream does not exist.",
                ),
            }
        }
        _ => {
            let url = s.moto_url.clone();
            drop(s);
            forward(&url, req)
        }
    }
}

fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn update_service(s: &mut Script, req: &Request) -> Response {
    let body = req.json();
    let answer = forward(&s.moto_url, req);
    if answer.status != 200 {
        return answer;
    }
    let mut json: Value = serde_json::from_slice(&answer.body).unwrap();
    s.next += 1;
    let id = format!("ecs-svc/{}", 4_000_000_000_000_000_000u64 + s.next as u64);
    for d in json["service"]["deployments"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if d["status"] == "PRIMARY" {
            d["id"] = json!(id);
        }
    }
    let name = short(body["service"].as_str().unwrap_or_default()).to_string();
    let td = json["service"]["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(svc) = s.services.get_mut(&name) {
        if svc.updates.len() == 1 {
            svc.deploy_polls = svc.polls;
        }
        svc.updates.push((id, td, now()));
        svc.polls = 0;
    }
    Response::aws_json(&json)
}

/// UpdateService sent by the stand-in itself (ECS's own rollback, someone else's deploy).
fn moto_update(moto_url: &str, service: &str, td: &str) {
    let req = Request {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![
            ("Authorization".into(), moto::authorization("ecs")),
            ("X-Amz-Target".into(), format!("{ECS_TARGET}.UpdateService")),
            ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ],
        body: json!({ "cluster": CLUSTER, "service": service, "taskDefinition": td })
            .to_string()
            .into_bytes(),
    };
    let answer = forward(moto_url, &req);
    assert_eq!(answer.status, 200, "{}", answer.body_str());
}

#[allow(clippy::too_many_arguments)]
fn deployment(
    id: &str,
    status: &str,
    td: &str,
    pending: i64,
    running: i64,
    failed: i64,
    rollout: &str,
    created: f64,
) -> Value {
    let reason = match rollout {
        "COMPLETED" => "ECS deployment completed.",
        "FAILED" => "ECS deployment circuit breaker: tasks failed to start.",
        _ => "ECS deployment in progress.",
    };
    json!({
        "id": id,
        "status": status,
        "taskDefinition": td,
        "desiredCount": 1,
        "pendingCount": pending,
        "runningCount": running,
        "failedTasks": failed,
        "createdAt": created,
        "updatedAt": now(),
        "launchType": "FARGATE",
        "rolloutState": rollout,
        "rolloutStateReason": reason,
    })
}

fn event(svc: &mut Svc, message: String) {
    let n = svc.events.len();
    svc.events.insert(
        0,
        json!({ "id": format!("{:08x}-0000-4000-8000-{:012x}", n + 1, svc.polls), "createdAt": now(), "message": message }),
    );
}

fn stopped_task(
    next: &mut usize,
    started_by: &str,
    td: &str,
    service: &str,
    stop_code: &str,
    reason: &str,
    exit: Option<i64>,
) -> Value {
    *next += 1;
    let id = format!("{:032x}", 0xabc0_0000 + *next);
    let arn = format!(
        "arn:aws:ecs:us-east-1:{}:task/{CLUSTER}/{id}",
        moto::ACCOUNT_ID
    );
    let mut container = json!({
        "containerArn": format!("arn:aws:ecs:us-east-1:{}:container/{CLUSTER}/{id}/c1", moto::ACCOUNT_ID),
        "taskArn": arn,
        "name": if service == seed::APP_SERVICE { APP_CONTAINER } else { seed::OTEL_CONTAINER },
        "lastStatus": "STOPPED",
    });
    if let Some(code) = exit {
        container["exitCode"] = json!(code);
    }
    json!({
        "taskArn": arn,
        "clusterArn": format!("arn:aws:ecs:us-east-1:{}:cluster/{CLUSTER}", moto::ACCOUNT_ID),
        "taskDefinitionArn": td,
        "group": format!("service:{service}"),
        "startedBy": started_by,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "launchType": "FARGATE",
        "stopCode": stop_code,
        "stoppedReason": reason,
        "stoppedAt": now(),
        "containers": [container],
    })
}

fn describe_services(s: &mut Script, req: &Request) -> Response {
    let answer = forward(&s.moto_url, req);
    if answer.status != 200 {
        return answer;
    }
    let mut json: Value = serde_json::from_slice(&answer.body).unwrap();
    let moto_url = s.moto_url.clone();
    for service in json["services"].as_array_mut().into_iter().flatten() {
        let name = service["serviceName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(svc) = s.services.get_mut(&name) else {
            continue;
        };
        if !svc.updates.is_empty() {
            svc.polls += 1;
        }
        let deployments = advance(svc, &name, &mut s.next, &mut s.logs, &moto_url);
        service["deployments"] = json!(deployments);
        service["events"] = json!(svc.events);
        service["deploymentConfiguration"] = json!({
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": { "enable": true, "rollback": true },
        });
        if let Some(p) = deployments.iter().find(|d| d["status"] == "PRIMARY") {
            service["runningCount"] = p["runningCount"].clone();
            service["pendingCount"] = p["pendingCount"].clone();
        }
    }
    Response::aws_json(&json)
}

/// The deployments of one service at this poll, moving the plot forward.
fn advance(
    svc: &mut Svc,
    name: &str,
    next: &mut usize,
    logs: &mut BTreeMap<String, Vec<String>>,
    moto_url: &str,
) -> Vec<Value> {
    let (old_id, old_td) = (svc.initial_id.clone(), svc.initial_td.clone());
    let old = |status: &str, running: i64| {
        deployment(
            &old_id,
            status,
            &old_td,
            0,
            running,
            0,
            "COMPLETED",
            1_767_000_000.0,
        )
    };
    let Some((id, td, created)) = svc.updates.last().cloned() else {
        return vec![old("PRIMARY", 1)];
    };
    let p = svc.polls;
    let ours = |pending, running, failed, rollout: &str, status: &str| {
        deployment(&id, status, &td, pending, running, failed, rollout, created)
    };
    if svc.updates.len() > 1 {
        // The binary's rollback: ECS completes it on the second poll.
        return if p < 2 {
            vec![ours(1, 0, 0, "IN_PROGRESS", "PRIMARY"), old("ACTIVE", 1)]
        } else {
            if p == 2 {
                event(svc, format!("(service {name}) has reached a steady state."));
            }
            vec![ours(0, 1, 0, "COMPLETED", "PRIMARY")]
        };
    }
    if p == 1 {
        event(
            svc,
            format!("(service {name}) has started 1 tasks: (task 0f5e1a2b3c4d)."),
        );
    }
    match svc.plot.clone() {
        Plot::Complete(n) if p > n => {
            if p == n + 1 {
                event(svc, format!("(service {name}) has reached a steady state."));
            }
            vec![ours(0, 1, 0, "COMPLETED", "PRIMARY")]
        }
        Plot::Complete(_) | Plot::Forever => {
            vec![ours(1, 0, 0, "IN_PROGRESS", "PRIMARY"), old("ACTIVE", 1)]
        }
        Plot::PullFails => {
            if svc.tasks.is_empty() {
                let reason = format!(
                    "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref {}:v2: {}:v2: not found",
                    seed::repo_uri(APP_REPO),
                    seed::repo_uri(APP_REPO)
                );
                let t = stopped_task(next, &id, &td, name, "TaskFailedToStart", &reason, None);
                svc.tasks.push(t);
            }
            vec![
                ours(0, 0, svc.tasks.len() as i64, "IN_PROGRESS", "PRIMARY"),
                old("ACTIVE", 1),
            ]
        }
        Plot::CircuitBreaker(n) if p > n => {
            if svc.takeover.is_none() {
                moto_update(moto_url, name, &old_td);
                svc.takeover = Some((old_id.clone(), old_td.clone(), now()));
                event(
                    svc,
                    format!("(service {name}) (deployment {id}) deployment failed: tasks failed to start."),
                );
                event(
                    svc,
                    format!("(service {name}) rolling back to deployment {old_id}."),
                );
            }
            let done = p > n + 2;
            vec![deployment(
                &old_id,
                "PRIMARY",
                &old_td,
                0,
                1,
                0,
                if done { "COMPLETED" } else { "IN_PROGRESS" },
                now(),
            )]
        }
        Plot::Exits | Plot::CircuitBreaker(_) => {
            let t = stopped_task(
                next,
                &id,
                &td,
                name,
                "EssentialContainerExited",
                "Essential container in task exited",
                Some(1),
            );
            let task_id = short(t["taskArn"].as_str().unwrap()).to_string();
            let mut lines: Vec<String> = (1..=25)
                .map(|i| format!("[{i:02}] booting dataspace worker {i}"))
                .collect();
            lines.push("::error::injected by the application log".into());
            lines.push(
                "django.core.exceptions.ImproperlyConfigured: The SECRET_KEY setting must not be empty."
                    .into(),
            );
            logs.insert(format!("app/{APP_CONTAINER}/{task_id}"), lines);
            svc.tasks.push(t);
            if p == 1 {
                // A routine stop of the old deployment: not a failure of ours.
                let routine = stopped_task(
                    next,
                    &old_id,
                    &old_td,
                    name,
                    "ServiceSchedulerInitiated",
                    &format!("Scaling activity initiated by (deployment {id})"),
                    Some(0),
                );
                svc.tasks.push(routine);
            }
            let failed = svc
                .tasks
                .iter()
                .filter(|t| t["startedBy"] == json!(id))
                .count();
            vec![
                ours(1, 0, failed as i64, "IN_PROGRESS", "PRIMARY"),
                old("ACTIVE", 1),
            ]
        }
        Plot::Superseded(n, other_td) if p > n => {
            let other_id = "ecs-svc/9999999999999999999".to_string();
            if svc.takeover.is_none() {
                moto_update(moto_url, name, &other_td);
                svc.takeover = Some((other_id.clone(), other_td.clone(), now()));
                event(
                    svc,
                    format!("(service {name}) has started 1 tasks: (task 9d8c7b6a5f4e)."),
                );
            }
            vec![
                deployment(
                    &other_id,
                    "PRIMARY",
                    &other_td,
                    1,
                    0,
                    0,
                    "IN_PROGRESS",
                    now(),
                ),
                ours(0, 1, 0, "IN_PROGRESS", "ACTIVE"),
            ]
        }
        Plot::Superseded(..) => vec![ours(1, 0, 0, "IN_PROGRESS", "PRIMARY"), old("ACTIVE", 1)],
    }
}

/// The DataSpace services with v2 images pushed and task-definition files that deploy them.
fn setup(moto: &Moto) -> Seeded {
    let s = seed_dataspace(moto);
    push_image(moto, APP_REPO, "v2");
    push_image(moto, OTEL_REPO, "v2");
    s
}

fn files(run: Run, s: &Seeded) -> Run {
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
fn final_revisions(moto: &Moto, s: &Seeded) -> (String, String) {
    let td = |svc: &str| {
        revision(
            moto.service(&s.cluster, svc)["taskDefinition"]
                .as_str()
                .unwrap(),
        )
    };
    (td(&s.app_service), td(&s.otel_service))
}

fn assert_has(o: &Outcome, text: &str) {
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
    let ecs = StandIn::start(&moto, &s, Plot::Complete(4), Plot::Complete(2));
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
    let ecs = StandIn::start(&moto, &s, Plot::PullFails, Plot::Complete(0));
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

#[test]
fn essential_container_exiting_three_times_fails_after_the_third_with_its_logs() {
    let moto = Moto::start();
    let s = setup(&moto);
    let ecs = StandIn::start(&moto, &s, Plot::Exits, Plot::Complete(1));
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
    let ecs = StandIn::start(&moto, &s, Plot::CircuitBreaker(2), Plot::Complete(0));
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
    let ecs = StandIn::start(&moto, &s, Plot::Forever, Plot::Complete(0));
    let o = files(Run::new(&ecs.url()), &s)
        .input("wait-for-minutes", "1")
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back");
    assert_has(
        &o,
        "the rollout did not complete within wait-for-minutes (1 min)",
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
        Plot::Superseded(2, other_td.clone()),
        Plot::Complete(0),
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
    let ecs = StandIn::start(&moto, &s, Plot::Complete(3), Plot::Complete(2));
    ecs.script.lock().unwrap().throttle = true;
    let o = files(Run::new(&ecs.url()), &s).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed");
    assert!(ecs.with(|s| s.throttled) >= 2);
    assert_eq!(
        final_revisions(&moto, &s),
        ("dataspace-app:2".into(), "dataspace-otel:2".into())
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
    let ecs = StandIn::start(&moto, &s, Plot::Complete(0), Plot::Complete(0));
    {
        let mut script = ecs.script.lock().unwrap();
        script.services.get_mut(&s.app_service).unwrap().initial_td = app2.clone();
        script.services.get_mut(&s.otel_service).unwrap().initial_td = otel2.clone();
    }
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
fn spawn(run: &Run, inputs: &[&str]) -> Child {
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
    let ecs = StandIn::start(&moto, &s, Plot::Forever, Plot::Complete(0));
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
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < guard,
            "ecs-deploy did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
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
